/* /proc/PID/status numbers.  See procfs.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/procfs.h"

struct field {
	const char *key;   /* with its colon */
	int idx;
	unsigned long v;
	bool found;
};

/* The line KEY's field IDX: numbers separated by blanks, a unit after the
 * last ("83412 kB") ignored. */
static bool field_number(const char *rest, int idx, unsigned long *v)
{
	const char *p = rest;
	char *e;
	for (int i = 0; i <= idx; i++, p = e) {
		*v = strtoul(p, &e, 10);
		if (e == p)
			return false;
	}
	return true;
}

/* Fills the fields of F[0..N) found in /proc/PID/status; false when the
 * file cannot be read. */
static bool read_status(pid_t pid, struct field *f, int n)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *fp = fopen(path, "re");
	if (!fp)
		return false;
	int left = n;
	while (left > 0 && fgets(line, sizeof line, fp)) {
		for (int i = 0; i < n; i++) {
			size_t klen = strlen(f[i].key);
			if (f[i].found || strncmp(line, f[i].key, klen) != 0)
				continue;
			f[i].found = field_number(line + klen, f[i].idx, &f[i].v);
			left--;
			break;
		}
	}
	fclose(fp);
	return true;
}

bool mt_procfs_status_number(pid_t pid, const char *key, int idx, unsigned long *v)
{
	struct field f = { .key = key, .idx = idx };
	if (!read_status(pid, &f, 1) || !f.found)
		return false;
	*v = f.v;
	return true;
}

bool mt_procfs_rss(pid_t pid, struct mt_procfs_rss *out)
{
	struct field f[2] = { { .key = "VmRSS:" }, { .key = "RssAnon:" } };
	if (!read_status(pid, f, 2) || !f[0].found)
		return false;
	out->rss = (uint64_t)f[0].v * 1024;
	out->has_anon = f[1].found;
	out->anon = f[1].found ? (uint64_t)f[1].v * 1024 : 0;
	return true;
}
