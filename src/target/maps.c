/* /proc/PID/maps parser.  Pure: mt_maps_read is the only function that
 * touches /proc, and only to read the text.
 *
 * The kernel prints each line as (fs/proc/task_mmu.c, show_map_vma)
 *
 *   "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then pads with spaces
 *   to a fixed column and prints the path, if any:
 *
 *   55d0c1a00000-55d0c1a02000 r--p 00000000 fe:01 1310786    /usr/bin/sleep
 *   7ffd6a5f1000-7ffd6a612000 rw-p 00000000 00:00 0          [stack]
 *   7f3a1c1f6000-7f3a1c1f8000 rw-p 00000000 00:00 0
 *   ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
 *
 * The path runs to the end of the line and may contain spaces.  The kernel
 * escapes only a newline in it (as "\012"); we keep the text as printed.  A
 * file unlinked after it was mapped gets " (deleted)" appended, which we
 * strip and record in mt_map.deleted (a file really named "x (deleted)"
 * cannot be told apart; the kernel gives no other hint).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/hexnum.h"
#include "target/maps.h"

#define DELETED_SUFFIX " (deleted)"

static bool parse_dec(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* One permission letter: LETTER when set, '-' when not. */
static bool parse_perm(const char **p, char letter, bool *out)
{
	if (**p == letter)
		*out = true;
	else if (**p == '-')
		*out = false;
	else
		return false;
	(*p)++;
	return true;
}

int mt_map_parse_line(const char *line, struct mt_map *out)
{
	const char *p = line;
	struct mt_map m = { 0 };
	uint64_t major, minor;

	if (!mt_parse_hex(&p, NULL, &m.start) || !expect(&p, '-') ||
	    !mt_parse_hex(&p, NULL, &m.end) || !expect(&p, ' '))
		return -EINVAL;
	if (m.end <= m.start)
		return -EINVAL;
	if (!parse_perm(&p, 'r', &m.r) || !parse_perm(&p, 'w', &m.w) ||
	    !parse_perm(&p, 'x', &m.x))
		return -EINVAL;
	if (*p == 'p')
		m.p = true;
	else if (*p != 's')
		return -EINVAL;
	p++;
	if (!expect(&p, ' ') || !mt_parse_hex(&p, NULL, &m.offset) || !expect(&p, ' '))
		return -EINVAL;
	if (!mt_parse_hex(&p, NULL, &major) || !expect(&p, ':') ||
	    !mt_parse_hex(&p, NULL, &minor) || !expect(&p, ' '))
		return -EINVAL;
	if (major > 0xfff || minor > 0xfffff)   /* the kernel's dev_t limits */
		return -EINVAL;
	m.dev_major = (unsigned)major;
	m.dev_minor = (unsigned)minor;
	if (!parse_dec(&p, &m.inode))
		return -EINVAL;

	/* After the inode: nothing, or padding and a path to the end of line. */
	size_t len = strcspn(p, "\n");
	if (p[len] == '\n' && p[len + 1] != '\0')
		return -EINVAL;                 /* more than one line */
	if (len > 0 && *p != ' ')
		return -EINVAL;                 /* "123abc": junk after inode */
	while (len > 0 && *p == ' ') {
		p++;
		len--;
	}
	if (len > 0) {
		size_t sl = strlen(DELETED_SUFFIX);
		if (len > sl && memcmp(p + len - sl, DELETED_SUFFIX, sl) == 0) {
			m.deleted = true;
			len -= sl;
		}
		m.path = strndup(p, len);
		if (!m.path)
			return -ENOMEM;
	}
	*out = m;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct mt_map *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

int mt_maps_parse(const char *text, struct mt_maps *out)
{
	struct mt_maps m = { NULL, 0 };
	size_t cap = 0;
	bool sorted = true;
	int err = 0;

	for (const char *line = text; *line; ) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *next = nl ? nl + 1 : line + len;

		if (len == 0) {                 /* tolerate blank lines */
			line = next;
			continue;
		}
		char *copy = strndup(line, len);
		if (!copy) {
			err = -ENOMEM;
			goto fail;
		}
		if (m.n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct mt_map *v = realloc(m.v, ncap * sizeof *v);
			if (!v) {
				free(copy);
				err = -ENOMEM;
				goto fail;
			}
			m.v = v;
			cap = ncap;
		}
		err = mt_map_parse_line(copy, &m.v[m.n]);
		free(copy);
		if (err < 0)
			goto fail;
		if (m.n > 0 && m.v[m.n].start < m.v[m.n - 1].start)
			sorted = false;
		m.n++;
		line = next;
	}
	/* The kernel prints mappings in address order; keep that order
	 * guaranteed so mt_maps_find can bisect. */
	if (!sorted)
		qsort(m.v, m.n, sizeof *m.v, cmp_start);
	*out = m;
	return 0;

fail:
	mt_maps_free(&m);
	out->v = NULL;
	out->n = 0;
	return err;
}

int mt_maps_read(pid_t pid, struct mt_maps *out)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	/* The file has no size: read until EOF.  Each read(2) returns whole
	 * lines, and the kernel keeps the text consistent per read. */
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	int err = 0;
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				err = -ENOMEM;
				break;
			}
			buf = nbuf;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err == 0) {
		buf[len] = '\0';
		err = mt_maps_parse(buf, out);
	}
	free(buf);
	return err;
}

void mt_maps_free(struct mt_maps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

const struct mt_map *mt_maps_find(const struct mt_maps *m, uint64_t addr)
{
	/* Last mapping whose start <= addr; it holds addr if addr < end. */
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct mt_map *r = &m->v[lo - 1];
	return addr < r->end ? r : NULL;
}
