/* memtrace diff: join two snapshots' sites on restart-proof keys (diff.h).
 *
 * Keys are arrays of 64-bit tokens, so a 128-frame stack costs 2 KiB while
 * the diff runs, not 128 build-id strings.  Module identities and function
 * names are first numbered over both snapshots together (equal identities,
 * equal numbers), then a frame is two tokens:
 *
 *   in a known module      (module number >= 1, module_offset)
 *   unknown module, named  (0, function number)
 *   unknown module, no name (UINT64_MAX, runtime address)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/diff.h"
#include "report/diff_priv.h"

#define NO_STACK UINT32_MAX

const char *mt_diff_status_name(enum mt_diff_status s)
{
	switch (s) {
	case MT_DIFF_CHANGED:
		return "changed";
	case MT_DIFF_SAME:
		return "same";
	case MT_DIFF_NEW:
		return "new";
	case MT_DIFF_GONE:
		return "gone";
	}
	return "?";
}

/* ---- numbering identities over both snapshots --------------------------- */

struct ident {
	const struct mt_snap_module *mod;  /* modules */
	const char *name;                  /* function names */
	uint32_t *out;
};

static int cmp_module_ident(const void *x, const void *y)
{
	const struct mt_snap_module *a = ((const struct ident *)x)->mod;
	const struct mt_snap_module *b = ((const struct ident *)y)->mod;
	bool ha = a->build_id_len > 0, hb = b->build_id_len > 0;
	if (ha != hb)
		return ha ? -1 : 1;
	if (ha) {
		uint32_t la = a->build_id_len < 64 ? a->build_id_len : 64;
		uint32_t lb = b->build_id_len < 64 ? b->build_id_len : 64;
		if (la != lb)
			return la < lb ? -1 : 1;
		return memcmp(a->build_id, b->build_id, la);
	}
	return strcmp(base_name(a->path), base_name(b->path));
}

static int cmp_name_ident(const void *x, const void *y)
{
	return strcmp(((const struct ident *)x)->name, ((const struct ident *)y)->name);
}

/* Give each of V's N entries a number >= 1, equal for equal entries. */
static void number(struct ident *v, size_t n, int (*cmp)(const void *, const void *))
{
	if (!n)
		return;
	qsort(v, n, sizeof *v, cmp);
	uint32_t id = 1;
	*v[0].out = id;
	for (size_t i = 1; i < n; i++) {
		if (cmp(&v[i - 1], &v[i]) != 0)
			id++;
		*v[i].out = id;
	}
}

/* Per snapshot: its modules' and frames' function names' numbers. */
struct side {
	const struct mt_snapshot *s;
	uint32_t *mod_id;    /* [nmodules] */
	uint32_t *name_id;   /* [nframes]; 0: unnamed */
};

static int number_both(struct side *sd)
{
	size_t nm = (size_t)sd[0].s->nmodules + sd[1].s->nmodules;
	size_t nf = (size_t)sd[0].s->nframes + sd[1].s->nframes;
	struct ident *v = malloc((nm > nf ? nm : nf) * sizeof *v + 1);
	if (!v)
		return -ENOMEM;
	for (int k = 0; k < 2; k++) {
		sd[k].mod_id = calloc((size_t)sd[k].s->nmodules + 1, sizeof *sd[k].mod_id);
		sd[k].name_id = calloc((size_t)sd[k].s->nframes + 1, sizeof *sd[k].name_id);
		if (!sd[k].mod_id || !sd[k].name_id) {
			free(v);
			return -ENOMEM;
		}
	}
	size_t n = 0;
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < sd[k].s->nmodules; i++)
			v[n++] = (struct ident){ .mod = &sd[k].s->modules[i], .out = &sd[k].mod_id[i] };
	number(v, n, cmp_module_ident);
	n = 0;
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < sd[k].s->nframes; i++)
			if (S(sd[k].s->frames[i].function)[0])
				v[n++] = (struct ident){ .name = sd[k].s->frames[i].function,
							 .out = &sd[k].name_id[i] };
	number(v, n, cmp_name_ident);
	free(v);
	return 0;
}

/* ---- keys ----------------------------------------------------------------- */

static size_t key_len(const struct side *sd, uint32_t stack, enum mt_report_group g)
{
	switch (g) {
	case MT_REPORT_BY_STACK: {
		const struct mt_snap_stack *st = stack_of(sd->s, stack);
		return st ? 2 * (size_t)st->nframes : 0;
	}
	case MT_REPORT_BY_FUNCTION:
		return 3;
	case MT_REPORT_BY_MODULE:
		return 1;
	case MT_REPORT_BY_SITE:
		break;
	}
	return 2;
}

static uint64_t module_token(const struct side *sd, const struct mt_snap_frame *fr)
{
	if (!fr || !module_of(sd->s, fr->module))
		return 0;
	return sd->mod_id[fr->module - 1];
}

/* The two tokens of FR (NULL: a missing frame, all zero). */
static void frame_tokens(const struct side *sd, const struct mt_snap_frame *fr, uint64_t *t)
{
	uint64_t m = module_token(sd, fr);
	if (!fr) {
		t[0] = t[1] = 0;
	} else if (m) {
		t[0] = m;
		t[1] = fr->module_offset;
	} else if (sd->name_id[fr - sd->s->frames]) {
		t[0] = 0;
		t[1] = sd->name_id[fr - sd->s->frames];
	} else {
		t[0] = UINT64_MAX;
		t[1] = fr->address;
	}
}

static void make_key(const struct side *sd, uint32_t stack, enum mt_report_group g, uint64_t *t)
{
	const struct mt_snap_frame *fr = site_frame(sd->s, stack);
	switch (g) {
	case MT_REPORT_BY_STACK: {
		const struct mt_snap_stack *st = stack_of(sd->s, stack);
		for (uint32_t i = 0; st && i < st->nframes; i++)
			frame_tokens(sd, frame_at(sd->s, st, i), &t[2 * i]);
		break;
	}
	case MT_REPORT_BY_FUNCTION: {
		uint32_t name = fr ? sd->name_id[fr - sd->s->frames] : 0;
		t[0] = module_token(sd, fr);
		t[1] = name ? 1 : 2;
		t[2] = name ? name : !fr ? 0 : t[0] ? fr->module_offset : fr->address;
		break;
	}
	case MT_REPORT_BY_MODULE:
		t[0] = module_token(sd, fr);
		break;
	case MT_REPORT_BY_SITE:
		frame_tokens(sd, fr, t);
		break;
	}
}

static int cmp_keys(const uint64_t *a, size_t la, const uint64_t *b, size_t lb)
{
	size_t n = la < lb ? la : lb;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return la < lb ? -1 : (la > lb);
}

/* ---- grouping one side ---------------------------------------------------- */

struct member {
	const uint64_t *key;
	size_t len;
	uint32_t site;
};

struct group {
	const uint64_t *key;
	size_t len;
	uint64_t blocks, bytes;
	uint32_t rep;         /* the largest member's site */
};

static int cmp_members(const void *x, const void *y)
{
	const struct member *a = x, *b = y;
	int c = cmp_keys(a->key, a->len, b->key, b->len);
	if (c)
		return c;
	return a->site < b->site ? -1 : (a->site > b->site);
}

/* SD's sites summed per key, sorted by key, in *OUT (N in *N).  The keys
 * live in *POOL (free it). */
static int group_side(const struct side *sd, enum mt_report_group g, uint64_t **pool,
		      struct group **out, size_t *n)
{
	const struct mt_snapshot *s = sd->s;
	size_t total = 0;
	for (uint32_t i = 0; i < s->nsites; i++)
		total += key_len(sd, s->sites[i].stack, g);
	*pool = malloc(total * sizeof **pool + 1);
	struct member *m = malloc((size_t)s->nsites * sizeof *m + 1);
	*out = malloc((size_t)s->nsites * sizeof **out + 1);
	if (!*pool || !m || !*out) {
		free(m);
		return -ENOMEM;
	}
	size_t at = 0;
	for (uint32_t i = 0; i < s->nsites; i++) {
		size_t len = key_len(sd, s->sites[i].stack, g);
		make_key(sd, s->sites[i].stack, g, *pool + at);
		m[i] = (struct member){ .key = *pool + at, .len = len, .site = i };
		at += len;
	}
	if (s->nsites)
		qsort(m, s->nsites, sizeof *m, cmp_members);
	size_t k = 0;
	for (uint32_t i = 0; i < s->nsites; i++) {
		const struct mt_snap_site *site = &s->sites[m[i].site];
		struct group *gr = k ? &(*out)[k - 1] : NULL;
		if (!gr || cmp_keys(gr->key, gr->len, m[i].key, m[i].len) != 0) {
			gr = &(*out)[k++];
			*gr = (struct group){ .key = m[i].key, .len = m[i].len, .rep = m[i].site };
		} else {
			/* Members come in site order: on a tie the first one stays. */
			const struct mt_snap_site *rep = &s->sites[gr->rep];
			if (site->live_bytes > rep->live_bytes ||
			    (site->live_bytes == rep->live_bytes && site->live_blocks > rep->live_blocks))
				gr->rep = m[i].site;
		}
		gr->blocks += site->live_blocks;
		gr->bytes += site->live_bytes;
	}
	free(m);
	*n = k;
	return 0;
}

/* ---- the join ------------------------------------------------------------- */

struct keyed_row {
	struct mt_diff_row row;
	const uint64_t *key;
	size_t len;
};

/* delta bytes, largest growth first; then bytes in B; rows with nothing
 * live on either side last; then delta blocks; then the key, for a
 * deterministic order. */
static int cmp_rows(const void *x, const void *y)
{
	const struct keyed_row *a = x, *b = y;
	bool ea = empty_row(&a->row), eb = empty_row(&b->row);
	if (ea != eb)
		return ea ? 1 : -1;
	if (a->row.delta_bytes != b->row.delta_bytes)
		return a->row.delta_bytes > b->row.delta_bytes ? -1 : 1;
	if (a->row.bytes_b != b->row.bytes_b)
		return a->row.bytes_b > b->row.bytes_b ? -1 : 1;
	if (a->row.delta_blocks != b->row.delta_blocks)
		return a->row.delta_blocks > b->row.delta_blocks ? -1 : 1;
	return cmp_keys(a->key, a->len, b->key, b->len);
}

static void fill_row(struct mt_diff_row *r, const struct mt_snapshot *s, uint32_t stack)
{
	const struct mt_snap_frame *fr = site_frame(s, stack);
	const struct mt_snap_module *mod = fr ? module_of(s, fr->module) : NULL;
	r->snap = s;
	r->stack = stack_of(s, stack) ? stack : NO_STACK;
	r->function = fr ? S(fr->function) : "";
	r->module = mod ? S(mod->path) : "";
	r->file = fr ? S(fr->file) : "";
	r->line = fr ? fr->line : 0;
	r->module_offset = fr ? fr->module_offset : 0;
	r->offset = fr ? fr->offset : 0;
}

static void join(const struct side *sd, const struct group *ga, size_t na,
		 const struct group *gb, size_t nb, struct keyed_row *out, size_t *n)
{
	size_t i = 0, j = 0, k = 0;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : cmp_keys(ga[i].key, ga[i].len, gb[j].key, gb[j].len);
		struct keyed_row *kr = &out[k++];
		memset(kr, 0, sizeof *kr);
		struct mt_diff_row *r = &kr->row;
		if (c <= 0) {
			r->blocks_a = ga[i].blocks;
			r->bytes_a = ga[i].bytes;
		}
		if (c >= 0) {
			r->blocks_b = gb[j].blocks;
			r->bytes_b = gb[j].bytes;
		}
		if (c < 0) {
			fill_row(r, sd[0].s, sd[0].s->sites[ga[i].rep].stack);
			kr->key = ga[i].key;
			kr->len = ga[i].len;
		} else {
			fill_row(r, sd[1].s, sd[1].s->sites[gb[j].rep].stack);
			kr->key = gb[j].key;
			kr->len = gb[j].len;
		}
		r->delta_blocks = (int64_t)(r->blocks_b - r->blocks_a);
		r->delta_bytes = (int64_t)(r->bytes_b - r->bytes_a);
		if (empty_row(r) || (c == 0 && !r->delta_blocks && !r->delta_bytes))
			r->status = MT_DIFF_SAME;
		else if (c == 0)
			r->status = MT_DIFF_CHANGED;
		else
			r->status = c > 0 ? MT_DIFF_NEW : MT_DIFF_GONE;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	*n = k;
}

static int sites_compute(const struct mt_snapshot *a, const struct mt_snapshot *b,
			 enum mt_report_group g, struct mt_diff *out)
{
	out->group = g;
	struct side sd[2] = { { .s = a }, { .s = b } };
	uint64_t *pool[2] = { NULL, NULL };
	struct group *gr[2] = { NULL, NULL };
	size_t ng[2] = { 0, 0 };
	struct keyed_row *kr = NULL;
	int ret = number_both(sd);
	if (ret)
		goto out;
	for (int k = 0; k < 2; k++) {
		ret = group_side(&sd[k], g, &pool[k], &gr[k], &ng[k]);
		if (ret)
			goto out;
	}
	kr = malloc((ng[0] + ng[1]) * sizeof *kr + 1);
	if (!kr) {
		ret = -ENOMEM;
		goto out;
	}
	size_t n;
	join(sd, gr[0], ng[0], gr[1], ng[1], kr, &n);
	if (n)
		qsort(kr, n, sizeof *kr, cmp_rows);
	out->rows = malloc(n * sizeof *out->rows + 1);
	if (!out->rows) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		out->rows[i] = kr[i].row;
	out->nrows = n;
out:
	free(kr);
	for (int k = 0; k < 2; k++) {
		free(pool[k]);
		free(gr[k]);
		free(sd[k].mod_id);
		free(sd[k].name_id);
	}
	return ret;
}


/* ---- the censuses ----------------------------------------------------------
 * Each census's rows are keyed by type name or size; both sides' rows are
 * sorted together by key and summed per key and side (a well-formed census
 * has each key once, a hostile file may repeat one). */

struct census_entry {
	const struct mt_census_row *row;
	int side;
};

static int cmp_census_key(const struct mt_census_row *a, const struct mt_census_row *b)
{
	if (a->type || b->type)
		return strcmp(S(a->type), S(b->type));
	return a->size < b->size ? -1 : (a->size > b->size);
}

static int cmp_census_entries(const void *x, const void *y)
{
	const struct census_entry *a = x, *b = y;
	int c = cmp_census_key(a->row, b->row);
	return c ? c : a->side - b->side;
}

static uint64_t abs64(int64_t v)
{
	return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static int cmp_census_rows(const void *x, const void *y)
{
	const struct mt_diff_census_row *a = x, *b = y;
	if (abs64(a->delta_bytes) != abs64(b->delta_bytes))
		return abs64(a->delta_bytes) > abs64(b->delta_bytes) ? -1 : 1;
	if (abs64(a->delta_blocks) != abs64(b->delta_blocks))
		return abs64(a->delta_blocks) > abs64(b->delta_blocks) ? -1 : 1;
	if (a->bytes_b != b->bytes_b)
		return a->bytes_b > b->bytes_b ? -1 : 1;
	struct mt_census_row ka = { .type = (char *)(uintptr_t)a->type, .size = a->size };
	struct mt_census_row kb = { .type = (char *)(uintptr_t)b->type, .size = b->size };
	return cmp_census_key(&ka, &kb);
}

/* The rows of A's and B's tables (RA[NA], RB[NB]) joined into *OUT, *N. */
static int census_join(const struct mt_census_row *ra, size_t na,
		       const struct mt_census_row *rb, size_t nb,
		       struct mt_diff_census_row **out, size_t *n)
{
	*n = 0;
	struct census_entry *e = malloc((na + nb) * sizeof *e + 1);
	*out = malloc((na + nb) * sizeof **out + 1);
	if (!e || !*out) {
		free(e);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	size_t m = 0;
	for (size_t i = 0; ra && i < na; i++)
		e[m++] = (struct census_entry){ &ra[i], 0 };
	for (size_t i = 0; rb && i < nb; i++)
		e[m++] = (struct census_entry){ &rb[i], 1 };
	if (m)
		qsort(e, m, sizeof *e, cmp_census_entries);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		struct mt_diff_census_row *r = k ? &(*out)[k - 1] : NULL;
		if (!r || cmp_census_key(e[i - 1].row, e[i].row) != 0) {
			r = &(*out)[k++];
			*r = (struct mt_diff_census_row){ .type = e[i].row->type,
							  .size = e[i].row->type ? 0 : e[i].row->size };
		}
		if (e[i].side) {
			r->blocks_b += e[i].row->blocks;
			r->bytes_b += e[i].row->bytes;
		} else {
			r->blocks_a += e[i].row->blocks;
			r->bytes_a += e[i].row->bytes;
		}
	}
	free(e);
	for (size_t i = 0; i < k; i++) {
		struct mt_diff_census_row *r = &(*out)[i];
		r->delta_blocks = (int64_t)(r->blocks_b - r->blocks_a);
		r->delta_bytes = (int64_t)(r->bytes_b - r->bytes_a);
	}
	if (k)
		qsort(*out, k, sizeof **out, cmp_census_rows);
	*n = k;
	return 0;
}

static int census_compute(const struct mt_snapshot *a, const struct mt_snapshot *b,
			  struct mt_diff *out)
{
	if (!census_usable(a) || !census_usable(b))
		return 0;
	const struct mt_census_report *ca = a->census, *cb = b->census;
	int ret = census_join(ca->types, ca->ntypes, cb->types, cb->ntypes, &out->types,
			      &out->ntypes);
	if (!ret)
		ret = census_join(ca->sizes, ca->nsizes, cb->sizes, cb->nsizes, &out->sizes,
				  &out->nsizes);
	out->census = ret == 0;
	return ret;
}

int mt_diff_compute(const struct mt_snapshot *a, const struct mt_snapshot *b,
		    enum mt_report_group g, struct mt_diff *out)
{
	memset(out, 0, sizeof *out);
	int ret = sites_compute(a, b, g, out);
	if (!ret)
		ret = census_compute(a, b, out);
	if (ret)
		mt_diff_free(out);
	out->group = g;
	return ret;
}

void mt_diff_free(struct mt_diff *d)
{
	free(d->rows);
	d->rows = NULL;
	d->nrows = 0;
	free(d->types);
	free(d->sizes);
	d->types = d->sizes = NULL;
	d->ntypes = d->nsizes = 0;
	d->census = false;
}

/* ---- same program? -------------------------------------------------------- */

bool mt_diff_same_program(const struct mt_snapshot *a, const struct mt_snapshot *b,
			  char *why, size_t len)
{
	const struct mt_snap_module *ma = exe_module(a), *mb = exe_module(b);
	const char *pa = exe_path(a), *pb = exe_path(b);
	if (ma && mb && ma->build_id_len && mb->build_id_len) {
		struct ident x = { .mod = ma }, y = { .mod = mb };
		if (cmp_module_ident(&x, &y) == 0)
			return true;
		if (why && strcmp(base_name(pa), base_name(pb)) == 0) {
			char ha[130], hb[130];
			hex_id(ha, sizeof ha, ma);
			hex_id(hb, sizeof hb, mb);
			snprintf(why, len, "PID %d ran %s (build-id %s), PID %d ran %s (build-id %s)",
				 a->pid, pa, ha, b->pid, pb, hb);
		} else if (why) {
			snprintf(why, len, "PID %d ran %s, PID %d ran %s", a->pid, pa, b->pid, pb);
		}
		return false;
	}
	/* Without build-ids, the file name: the same program may have been
	 * started from another directory; nothing to compare when a side does
	 * not know its executable. */
	if (!pa[0] || !pb[0] || strcmp(base_name(pa), base_name(pb)) == 0)
		return true;
	if (why)
		snprintf(why, len, "PID %d ran %s, PID %d ran %s", a->pid, pa, b->pid, pb);
	return false;
}
