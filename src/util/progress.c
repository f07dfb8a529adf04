/* See progress.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/progress.h"

/* Back to column 0; erase to the end of the line (ECMA-48 EL). */
#define ERASE "\r\033[K"

struct mt_progress {
	int fd;
	int width;
	bool shown;          /* a line is on screen */
	bool drawn;          /* drawn since the step began: LAST is valid */
	double last;         /* when it was drawn last */
	char what[128];      /* the step drawn last */
};

/* The one progress whose line is on screen, for mt_progress_erase_shown. */
static struct mt_progress *on_screen;

bool mt_progress_wanted(bool stderr_tty, bool table_format, const char *term)
{
	return stderr_tty && table_format && !(term && strcmp(term, "dumb") == 0);
}

/* V with a comma every three digits: "1,234,567". */
static void grouped(uint64_t v, char *out, size_t len)
{
	char digits[32];
	int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
	size_t o = 0;
	for (int i = 0; i < n && o + 1 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0 && o + 2 < len)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

size_t mt_progress_format(char *buf, size_t len, const char *what, uint64_t done, uint64_t total,
			  const char *unit, int width)
{
	if (len == 0)
		return 0;
	char d[32], t[32] = "";
	grouped(done, d, sizeof d);
	if (total)
		grouped(total, t, sizeof t);
	bool has_unit = unit && unit[0];
	int n = snprintf(buf, len, "memtrace: %s: %s%s%s%s%s", what, d, total ? "/" : "", t,
			 has_unit ? " " : "", has_unit ? unit : "");
	size_t out = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
	/* the text is ASCII but for WHAT, which memtrace writes: bytes are
	 * columns */
	if (width > 0 && out > (size_t)width - 1)
		out = (size_t)width - 1;
	buf[out] = '\0';
	return out;
}

struct mt_progress *mt_progress_new(int fd, int width)
{
	struct mt_progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->fd = fd;
	p->width = width;
	return p;
}

static void put(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;   /* a progress line is worth no error */
		s += w;
		n -= (size_t)w;
	}
}

static void erase(struct mt_progress *p)
{
	if (!p->shown)
		return;
	put(p->fd, ERASE, strlen(ERASE));
	p->shown = false;
	if (on_screen == p)
		on_screen = NULL;
}

void mt_progress_destroy(struct mt_progress *p)
{
	if (!p)
		return;
	erase(p);
	free(p);
}

bool mt_progress_update(struct mt_progress *p, double now, const char *what, uint64_t done,
			uint64_t total, const char *unit)
{
	if (!p)
		return false;
	bool same = p->drawn && strncmp(p->what, what, sizeof p->what - 1) == 0;
	if (same && now - p->last < MT_PROGRESS_INTERVAL_S && now >= p->last)
		return false;
	char text[400], line[512];
	mt_progress_format(text, sizeof text, what, done, total, unit, p->width);
	/* drawn over the line shown: to column 0, the text, the rest erased */
	int n = snprintf(line, sizeof line, "\r%s\033[K", text);
	if (on_screen && on_screen != p)
		erase(on_screen);
	put(p->fd, line, (size_t)n);
	p->shown = true;
	p->drawn = true;
	p->last = now;
	snprintf(p->what, sizeof p->what, "%s", what);
	on_screen = p;
	return true;
}

void mt_progress_end(struct mt_progress *p)
{
	if (!p)
		return;
	erase(p);
	p->drawn = false;
}

void mt_progress_erase_shown(void)
{
	if (on_screen)
		erase(on_screen);
}
