/* /tmp/perf-PID.map parser (see perfmap.h for the format).  Pure.
 *
 * Lookups must cope with overlapping symbols: a JIT that frees code and
 * reuses the memory appends a line for the new code and never removes the
 * old one.  Symbols are sorted by start; reach[i], the largest end among the
 * first i+1 symbols, tells a backward scan from the last start <= ADDR when
 * no earlier symbol can contain ADDR any more.  Without overlaps the scan
 * looks at one symbol.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/hexnum.h"
#include "symbols/perfmap.h"

/* Hex digits at *P (an optional 0x first), at most 16; at least one.  */
static bool parse_hex(const char **p, const char *end, uint64_t *out)
{
	if (end - *p > 2 && (*p)[0] == '0' && ((*p)[1] == 'x' || (*p)[1] == 'X'))
		*p += 2;
	return mt_parse_hex(p, end, out);
}

/* One line, without its newline: "START SIZE NAME".  The name is copied to
 * *NAMES (NUL-terminated) only when the line is good. */
static bool parse_line(const char *s, const char *end, struct mt_perfmap_sym *sym,
		       char **names)
{
	uint64_t start, size;
	if (!parse_hex(&s, end, &start) || s == end || *s != ' ')
		return false;
	while (s < end && *s == ' ')
		s++;
	if (!parse_hex(&s, end, &size) || s == end || *s != ' ')
		return false;
	while (s < end && *s == ' ')
		s++;
	if (end > s && end[-1] == '\r')    /* written on or for Windows */
		end--;
	if (s == end || size == 0 || start + size < start)
		return false;
	size_t len = (size_t)(end - s);
	memcpy(*names, s, len);
	(*names)[len] = '\0';
	sym->start = start;
	sym->end = start + size;
	sym->name = *names;
	*names += len + 1;
	return true;
}

static int by_start(const void *a, const void *b)
{
	const struct mt_perfmap_sym *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int mt_perfmap_parse(const char *text, size_t len, struct mt_perfmap *out)
{
	*out = (struct mt_perfmap){ 0 };
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (lines == 0)
		return 0;

	/* Every name is shorter than its line: LEN bytes hold them all. */
	out->names = malloc(len + 1);
	out->v = malloc(lines * sizeof *out->v);
	out->reach = malloc(lines * sizeof *out->reach);
	if (!out->names || !out->v || !out->reach) {
		mt_perfmap_free(out);
		return -ENOMEM;
	}

	char *names = out->names;
	const char *s = text, *end = text + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl) {                   /* still being written */
			out->skipped++;
			break;
		}
		struct mt_perfmap_sym *sym = &out->v[out->n];
		if (parse_line(s, nl, sym, &names)) {
			sym->seq = out->n++;
		} else if (nl > s) {
			out->skipped++;
		}
		s = nl + 1;
	}

	qsort(out->v, out->n, sizeof *out->v, by_start);
	uint64_t reach = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (out->v[i].end > reach)
			reach = out->v[i].end;
		out->reach[i] = reach;
	}
	return 0;
}

const struct mt_perfmap_sym *mt_perfmap_find(const struct mt_perfmap *m, uint64_t addr)
{
	/* The number of symbols with start <= ADDR. */
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct mt_perfmap_sym *best = NULL;
	for (size_t i = lo; i-- > 0 && m->reach[i] > addr;) {
		const struct mt_perfmap_sym *sym = &m->v[i];
		if (addr < sym->end && (!best || sym->seq > best->seq))
			best = sym;
	}
	return best;
}

void mt_perfmap_free(struct mt_perfmap *m)
{
	free(m->v);
	free(m->reach);
	free(m->names);
	*m = (struct mt_perfmap){ 0 };
}
