/* The table of `memtrace leaks` (leaks_report.h).  A real one:
 *
 *   leaks: pid 4242 (target_leaky), glibc 2.36, threads paused 1.9 ms, took 12.0 ms
 *
 *   LEAK SUMMARY (bytes are usable sizes)
 *      definitely lost: 1,048 bytes in 15 blocks
 *      indirectly lost: 928 bytes in 12 blocks
 *        possibly lost: 0 bytes in 0 blocks
 *      still reachable: 76,344 bytes in 31 blocks
 *
 *   definitely lost
 *          bytes     direct   indirect   blocks  type or size
 *            632         56        576        1  size 56
 *            400        400          0       10  size 40
 *   ...
 *   still reachable (the 5 largest; --show-reachable: all), held by
 *          bytes     blocks  type or size
 *          1,664         16  size 104
 *              g_list (target_leaky) -> 16 x size 104 (1.6 KiB, a list)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report/leaks_report.h"

static const char *const keys[] = { "definitely_lost", "indirectly_lost", "possibly_lost",
				    "reachable" };
static const char *const words[] = { "definitely lost", "indirectly lost", "possibly lost",
				     "still reachable" };

const char *mt_leaks_class_key(enum mt_leaks_class k)
{
	return k < MT_LEAKS__CLASSES ? keys[k] : "?";
}

const char *mt_leaks_class_words(enum mt_leaks_class k)
{
	return k < MT_LEAKS__CLASSES ? words[k] : "?";
}

/* 1234567 -> "1,234,567", as memcheck writes its figures. */
static const char *commas(char *buf, size_t len, uint64_t v)
{
	char d[32];
	int n = snprintf(d, sizeof d, "%" PRIu64, v);
	size_t o = 0;
	for (int i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = d[i];
	}
	buf[o] = 0;
	return buf;
}

/* "app::Session", "size 40", and the site when traced: "leak_plain: size 40". */
static void row_name(char *buf, size_t len, const char *type, const char *site, uint64_t size)
{
	int n = site ? snprintf(buf, len, "%s: ", site) : 0;
	if (n < 0 || (size_t)n >= len)
		return;
	if (type)
		snprintf(buf + n, len - (size_t)n, "%s", type);
	else
		snprintf(buf + n, len - (size_t)n, "size %" PRIu64, size);
}

/* "g_list (app) -> 16 x size 104 (1.6 KiB, a list)": each link's blocks
 * and bytes; the last says when only some of the group's blocks hang
 * from this chain. */
static void print_chain(FILE *f, const struct mt_leaks_report_link *c, size_t n)
{
	fprintf(f, "%12s", "");
	for (size_t i = 0; i < n; i++) {
		char name[600], num[32], bytes[32], way[64] = "";
		if (c[i].root) {
			fprintf(f, "%s", c[i].root);
			continue;
		}
		row_name(name, sizeof name, c[i].type, c[i].site, c[i].size);
		mt_format_bytes(bytes, sizeof bytes, (double)c[i].bytes);
		if (i + 1 == n && c[i].chain_blocks < c[i].blocks)
			snprintf(way, sizeof way, "; %s of them by this way",
				 commas(num, sizeof num, c[i].chain_blocks));
		fprintf(f, " -> %s x %s (%s%s%s)", commas(num, sizeof num, c[i].blocks), name,
			bytes, c[i].run ? ", a list" : "", way);
	}
	fputc('\n', f);
}

static void print_stack(FILE *f, const struct mt_leaks_row *r)
{
	for (int i = 0; i < r->nframes; i++) {
		char name[1024];
		mt_report_frame_name(name, sizeof name, &r->frames[i]);
		fprintf(f, "%12s%s%s\n", "", name, r->frames[i].inlined ? " [inlined]" : "");
	}
}

static void summary(FILE *f, const struct mt_leaks_report *r)
{
	char a[32], b[32], took[64] = "";
	if (r->traced_s > 0)
		snprintf(took, sizeof took, ", traced %.1f s first", r->traced_s);
	fprintf(f, "leaks: pid %d (%s), %s, threads paused %.1f ms, took %.1f ms%s\n", r->pid,
		r->comm, r->allocator, r->paused_ms, r->took_ms, took);
	for (size_t i = 0; i < r->nwarnings; i++)
		fprintf(f, "warning: %s\n", r->warnings[i]);
	fprintf(f, "\nLEAK SUMMARY (bytes are usable sizes)\n");
	for (int k = 0; k < MT_LEAKS__CLASSES; k++)
		fprintf(f, "   %15s: %s bytes in %s blocks\n", words[k],
			commas(a, sizeof a, r->bytes[k]), commas(b, sizeof b, r->blocks[k]));
}

static void rows_of(FILE *f, const struct mt_leaks_report *r, enum mt_leaks_class k, size_t max)
{
	size_t total = 0, shown = 0;
	for (size_t i = 0; i < r->nrows; i++)
		total += r->rows[i].kind == k;
	if (!total)
		return;
	if (k == MT_LEAKS_REACHABLE && max < total)
		fprintf(f, "\n%s (the %zu largest of %zu groups; --show-reachable: all), held by\n",
			words[k], max, total);
	else if (k == MT_LEAKS_REACHABLE)
		fprintf(f, "\n%s, held by\n", words[k]);
	else
		fprintf(f, "\n%s\n", words[k]);
	if (k == MT_LEAKS_DEFINITE)
		fprintf(f, "%14s %10s %10s %8s  %s\n", "bytes", "direct", "indirect", "blocks",
			"type, size or site");
	else
		fprintf(f, "%14s %8s  %s\n", "bytes", "blocks", "type, size or site");
	for (size_t i = 0; i < r->nrows && shown < max; i++) {
		const struct mt_leaks_row *x = &r->rows[i];
		if (x->kind != k)
			continue;
		shown++;
		char name[600], t[32], d[32], in[32], bl[32];
		row_name(name, sizeof name, x->type, x->site, x->size);
		if (k == MT_LEAKS_DEFINITE)
			fprintf(f, "%14s %10s %10s %8s  %s\n",
				commas(t, sizeof t, x->bytes + x->indirect_bytes),
				commas(d, sizeof d, x->bytes),
				commas(in, sizeof in, x->indirect_bytes),
				commas(bl, sizeof bl, x->blocks), name);
		else
			fprintf(f, "%14s %8s  %s\n", commas(t, sizeof t, x->bytes),
				commas(bl, sizeof bl, x->blocks), name);
		print_stack(f, x);
		if (x->nchain)
			print_chain(f, x->chain, x->nchain);
	}
	if (shown < total && k != MT_LEAKS_REACHABLE)
		fprintf(f, "(%zu more; --top 0 shows all)\n", total - shown);
}

static void why(FILE *f, const struct mt_leaks_report *r)
{
	fprintf(f, "\nwhy %s:\n", r->why_query);
	if (!r->nwhy)
		fprintf(f, "%12sno live block's type, size or site matches '%s'\n", "",
			r->why_query);
	for (size_t i = 0; i < r->nwhy; i++) {
		const struct mt_leaks_why *y = &r->why[i];
		char b[32], n[32];
		fprintf(f, "%6s%s: %s blocks, %s bytes, %s", "", y->match,
			commas(n, sizeof n, y->blocks), commas(b, sizeof b, y->bytes),
			words[y->kind]);
		if (y->nchain) {
			fprintf(f, ", held by\n");
			print_chain(f, y->chain, y->nchain);
		} else {
			fprintf(f, "%s\n",
				y->kind == MT_LEAKS_REACHABLE ? "" : ": nothing holds them");
		}
	}
}

int mt_report_leaks_table(FILE *f, const struct mt_leaks_report *r, int top)
{
	if (!r->available) {
		fprintf(f, "leaks: not available: %s\n", r->reason);
		return ferror(f) ? -1 : 0;
	}
	summary(f, r);
	size_t max = top > 0 ? (size_t)top : SIZE_MAX;
	for (int k = 0; k < MT_LEAKS__CLASSES; k++)
		rows_of(f, r, (enum mt_leaks_class)k,
			k == MT_LEAKS_REACHABLE
				? (r->reachable_shown < max ? r->reachable_shown : max)
				: max);
	if (r->why_query)
		why(f, r);
	return ferror(f) ? -1 : 0;
}
