#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/hints.h"

struct pair {
	const char *function;
	uint64_t caller;
	size_t index;             /* in the rows: ties go to the first */
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->function, y->function);
	if (c)
		return c;
	if (x->caller != y->caller)
		return x->caller < y->caller ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

long mt_hint_fanout(const struct mt_fanout_row *rows, size_t n, size_t min_callers,
		    size_t *callers)
{
	struct pair *v = n ? malloc(n * sizeof *v) : NULL;
	size_t m = 0;
	for (size_t i = 0; v && i < n; i++)
		if (rows[i].function && rows[i].function[0] && rows[i].caller)
			v[m++] = (struct pair){ rows[i].function, rows[i].caller, i };
	if (!v)
		return -1;
	qsort(v, m, sizeof *v, cmp_pair);
	long best = -1;
	size_t best_count = 0;
	for (size_t i = 0; i < m;) {
		/* One function's pairs: count the distinct callers. */
		size_t j = i, count = 0, first = v[i].index;
		for (; j < m && strcmp(v[j].function, v[i].function) == 0; j++) {
			if (j == i || v[j].caller != v[j - 1].caller)
				count++;
			if (v[j].index < first)
				first = v[j].index;
		}
		if (count > best_count || (count == best_count && best >= 0 &&
					    first < (size_t)best)) {
			best_count = count;
			best = (long)first;
		}
		i = j;
	}
	free(v);
	if (best < 0 || best_count < min_callers)
		return -1;
	*callers = best_count;
	return best;
}

void mt_hint_fanout_line(char *buf, size_t size, const char *function, size_t callers)
{
	bool plain = function[strspn(function, "abcdefghijklmnopqrstuvwxyz"
				     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.+/-")] == '\0';
	bool quotable = !strchr(function, '\'');
	snprintf(buf, size, "%s is called from %zu places; try --wrapper %s%s%s", function,
		 callers, plain || !quotable ? "" : "'", function, plain || !quotable ? "" : "'");
}

bool mt_hint_is_fde_name(const char *function, const char *module)
{
	if (!function || !module)
		return false;
	const char *slash = strrchr(module, '/');
	const char *file = slash ? slash + 1 : module;
	size_t n = strlen(file);
	if (n == 0 || strncmp(function, file, n) != 0 || strncmp(function + n, "+0x", 3) != 0)
		return false;
	const char *hex = function + n + 3;
	return hex[0] && !hex[strspn(hex, "0123456789abcdef")];
}

bool mt_hint_dpkg_package(const char *out, size_t len, char *pkg, size_t size)
{
	/* The first line: "PKG[:ARCH][, PKG[:ARCH]]...: PATH". */
	const char *end = memchr(out, '\n', len);
	size_t n = end ? (size_t)(end - out) : len;
	const char *sep = NULL;
	for (size_t i = 0; i + 1 < n; i++) {
		if (out[i] == ':' && out[i + 1] == ' ') {
			sep = out + i;
			break;
		}
	}
	if (!sep || sep == out || sep + 2 >= out + n || sep[2] != '/')
		return false;
	/* "diversion by foo from: /path" and the like are no package list:
	 * a list has spaces only after its commas. */
	for (const char *p = out + 1; p < sep; p++)
		if (*p == ' ' && p[-1] != ',')
			return false;
	/* The first package: up to ',' or ':' (its architecture). */
	size_t k = strcspn(out, ",:\n");
	if (k == 0 || k >= size || out + k > sep)
		return false;
	for (size_t i = 0; i < k; i++) {
		char c = out[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
			  c == '-' || c == '.';
		if (!ok)
			return false;
	}
	memcpy(pkg, out, k);
	pkg[k] = '\0';
	return true;
}

void mt_hint_no_symbols(char *buf, size_t size, const char *module, const uint8_t *build_id,
			size_t id_len, const char *pkg, bool debuginfod)
{
	char hex[2 * 64 + 1] = "";
	if (id_len > 64)
		id_len = 64;
	for (size_t i = 0; i < id_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", build_id[i]);
	char where[2 * 64 + 64] = "a directory of debug files";
	if (id_len > 1)
		snprintf(where, sizeof where, "DIR holding .build-id/%.2s/%s.debug", hex, hex + 2);
	char id[2 * 64 + 16] = "";
	if (id_len)
		snprintf(id, sizeof id, " (build-id %s)", hex);
	char install[300] = "";
	if (pkg && strcmp(pkg, "libc6") == 0)   /* glibc ships its own, in main */
		snprintf(install, sizeof install, "install libc6-dbg, ");
	else if (pkg && pkg[0])
		snprintf(install, sizeof install, "install %s-dbgsym (Debian's debug archive), ",
			 pkg);
	snprintf(buf, size, "%s has no symbols%s: its functions are named FILE+0xSTART; %s"
		 "%s, or give --debug-dir %s", module, id, install,
		 debuginfod ? "check DEBUGINFOD_URLS (its servers had none)" : "set DEBUGINFOD_URLS",
		 id_len > 1 ? where : "DIR");
}
