/* --format folded: collapsed stacks, the input of flamegraph.pl, inferno
 * and speedscope.  One line per stack, its frames outermost first joined by
 * ';', a space, then its weight (live bytes):
 *
 *   main;run_server;handle_request;xstrdup;malloc 4096
 *   main;target_basic+0x11d9;leak_small_[i] 1600
 *
 * A frame is named by its function, "module+0xOFFSET" (module base name,
 * module_offset) when unnamed, "0xADDRESS" when outside any known module;
 * a Python frame (pyframes.h) "function (file:line)", as py-spy names it.
 * An inlined frame ends in "_[i]", the suffix flamegraph.pl and async-profiler
 * use for inlined frames.  The allocator's and wrappers' frames stay: they
 * are the tips of the flames.  ';' or a control character in a name (there
 * is no escaping in the format) becomes '_'.
 *
 * Rows without live bytes are left out.  Rows that fold to the same line
 * (grouped rows drawn on their largest member's stack, or two stacks that
 * differ only in addresses) are summed, and lines come sorted, as the
 * stackcollapse scripts print them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "symbols/pyframes.h"

struct folded_line {
	char *stack;
	uint64_t weight;
};

static void put_name(FILE *m, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' || (unsigned char)*s < 0x20 || *s == 0x7f ? '_' : *s, m);
}

static void put_frame(FILE *m, const char *function, const char *module,
		      uint64_t module_offset, uint64_t address, bool inlined)
{
	if (function[0]) {
		put_name(m, function);
	} else if (module[0]) {
		const char *base = strrchr(module, '/');
		put_name(m, base ? base + 1 : module);
		fprintf(m, "+0x%" PRIx64, module_offset);
	} else {
		fprintf(m, "0x%" PRIx64, address);
	}
	if (inlined)
		fputs("_[i]", m);
}

/* A Python frame (pyframes.h) as py-spy folds it: "handle (service.py:10)". */
static bool put_python(FILE *m, const struct mt_report_frame *fr)
{
	if (strcmp(fr->module, MT_PY_MODULE) != 0)
		return false;
	const char *base = strrchr(fr->file, '/');
	put_name(m, fr->function);
	fputs(" (", m);
	put_name(m, base ? base + 1 : fr->file);
	fprintf(m, ":%d)", fr->line);
	return true;
}

/* The folded stack of S, or NULL when out of memory. */
static char *fold(const struct mt_report_site *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	if (s->nframes <= 0 || !s->frames) {
		put_frame(m, s->function, s->module, s->module_offset, s->address, false);
	} else {
		for (int i = s->nframes - 1; i >= 0; i--) {
			const struct mt_report_frame *fr = &s->frames[i];
			if (!put_python(m, fr))
				put_frame(m, fr->function, fr->module, fr->module_offset,
					  fr->address, fr->inlined);
			if (i > 0)
				fputc(';', m);
		}
	}
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int cmp_lines(const void *a, const void *b)
{
	const struct folded_line *x = a, *y = b;
	return strcmp(x->stack, y->stack);
}

int mt_report_folded(FILE *f, const struct mt_report *r)
{
	struct folded_line *lines = r->nsites ? calloc(r->nsites, sizeof *lines) : NULL;
	if (r->nsites && !lines)
		return -1;
	size_t n = 0;
	int ret = 0;
	for (size_t i = 0; i < r->nsites; i++) {
		if (!r->sites[i].live_bytes)
			continue;
		lines[n].stack = fold(&r->sites[i]);
		if (!lines[n].stack) {
			ret = -1;
			goto out;
		}
		lines[n++].weight = r->sites[i].live_bytes;
	}
	if (n)
		qsort(lines, n, sizeof *lines, cmp_lines);
	for (size_t i = 0; i < n;) {
		uint64_t w = lines[i].weight;
		size_t j = i + 1;
		for (; j < n && strcmp(lines[j].stack, lines[i].stack) == 0; j++)
			w += lines[j].weight;
		fprintf(f, "%s %" PRIu64 "\n", lines[i].stack, w);
		i = j;
	}
	fflush(f);
	if (ferror(f))
		ret = -1;
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i].stack);
	free(lines);
	return ret;
}
