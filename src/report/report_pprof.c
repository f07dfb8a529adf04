/* --format pprof: snapshots as pprof profiles; what goes where is in
 * pprof.h.  The profile is built as protobuf-c messages (profile.proto)
 * kept in growing arrays; pointers between them are set only when packing,
 * as the arrays move while they grow. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report/gzip.h"
#include "report/pprof.h"
#include "report/profile.pb-c.h"
#include "util/u64map.h"

/* A location and its one line: Location.line points at LINEP when packed. */
struct loc {
	Perftools__Profiles__Location msg;
	Perftools__Profiles__Line line;
	Perftools__Profiles__Line *linep;
};

struct mt_pprof {
	char **strs; /* the string table; strs[0] is "" */
	size_t nstrs, capstrs;
	struct mt_u64map str_ix;	      /* hash (probed on collision) -> index */
	Perftools__Profiles__Function *funcs; /* id i + 1 */
	size_t nfuncs, capfuncs;
	struct mt_u64map func_ix;    /* hash of (name, file) -> index */
	struct mt_u64map pseudo_loc; /* census pseudo-frames: function id -> location id */
	Perftools__Profiles__Mapping *maps;
	size_t nmaps, capmaps;
	struct loc *locs; /* id i + 1 */
	size_t nlocs, caplocs;
	Perftools__Profiles__Sample *samples;
	size_t nsamples, capsamples;
	int64_t *comments;
	size_t ncomments, capcomments;
	bool started; /* the first snapshot's header is taken */
	int64_t time_nanos, duration_nanos, period;
};

/* The sample types, Go's heap profile's, in its order (pprof.h). */
enum { V_ALLOC_OBJECTS, V_ALLOC_SPACE, V_INUSE_OBJECTS, V_INUSE_SPACE, NVALUES };
/* Interned first, so that their indexes are fixed: 1 to 7. */
static const char *const fixed_strings[] = {
	"alloc_objects", "count", "alloc_space", "bytes", "inuse_objects", "inuse_space", "space",
};
enum {
	S_ALLOC_OBJECTS = 1,
	S_COUNT,
	S_ALLOC_SPACE,
	S_BYTES,
	S_INUSE_OBJECTS,
	S_INUSE_SPACE,
	S_SPACE
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	if (c > SIZE_MAX / size)
		return -ENOMEM;
	void *nv = realloc(*v, c * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}
#define GROW(arr, n, cap) grow((void **)&(arr), &(cap), (n), sizeof *(arr))

/* FNV-1a of S, then of SALT's bytes. */
static uint64_t hash(const char *s, uint64_t salt)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	for (int i = 0; i < 8; i++)
		h = (h ^ ((salt >> (8 * i)) & 0xff)) * 0x100000001b3ull;
	return h;
}

/* The key after H, skipping UINT64_MAX (never a key: u64map.h). */
static uint64_t next_key(uint64_t h)
{
	return h + 1 == UINT64_MAX ? 0 : h + 1;
}

/* S's index in the string table, added if new; -1 when out of memory. */
static int64_t intern(struct mt_pprof *p, const char *s)
{
	if (!s || !*s)
		return 0;
	uint64_t h = next_key(hash(s, 0) - 1);
	uint32_t v;
	/* a collision probes the next key: nothing is ever removed */
	for (; mt_u64map_get(&p->str_ix, h, &v); h = next_key(h))
		if (strcmp(p->strs[v], s) == 0)
			return v;
	if (p->nstrs >= UINT32_MAX || GROW(p->strs, p->nstrs, p->capstrs) < 0)
		return -1;
	char *copy = strdup(s);
	if (!copy || mt_u64map_put(&p->str_ix, h, (uint32_t)p->nstrs) < 0) {
		free(copy);
		return -1;
	}
	p->strs[p->nstrs] = copy;
	return (int64_t)p->nstrs++;
}

/* The id of the function NAME in FILE, added if new; 0 when out of memory. */
static uint64_t function_id(struct mt_pprof *p, const char *name, const char *file)
{
	int64_t n = intern(p, name), fl = intern(p, file);
	if (n < 0 || fl < 0)
		return 0;
	uint64_t h = next_key(hash(name, (uint64_t)fl) - 1);
	uint32_t v;
	for (; mt_u64map_get(&p->func_ix, h, &v); h = next_key(h))
		if (p->funcs[v].name == n && p->funcs[v].filename == fl)
			return v + 1;
	if (GROW(p->funcs, p->nfuncs, p->capfuncs) < 0 ||
	    mt_u64map_put(&p->func_ix, h, (uint32_t)p->nfuncs) < 0)
		return 0;
	Perftools__Profiles__Function *f = &p->funcs[p->nfuncs];
	perftools__profiles__function__init(f);
	f->id = ++p->nfuncs;
	f->name = n;
	f->system_name = n;
	f->filename = fl;
	return f->id;
}

/* A new location: FUNCTION_ID 0 gives it no line.  Its id, or 0. */
static uint64_t add_location(struct mt_pprof *p, uint64_t mapping_id, uint64_t address,
			     uint64_t function_id, int line)
{
	if (GROW(p->locs, p->nlocs, p->caplocs) < 0)
		return 0;
	struct loc *l = &p->locs[p->nlocs];
	perftools__profiles__location__init(&l->msg);
	perftools__profiles__line__init(&l->line);
	l->msg.id = ++p->nlocs;
	l->msg.mapping_id = mapping_id;
	l->msg.address = address;
	l->line.function_id = function_id;
	l->line.line = line;
	l->msg.n_line = function_id ? 1 : 0;
	return l->msg.id;
}

static int64_t clamp(uint64_t v, int sign)
{
	int64_t x = v > INT64_MAX ? INT64_MAX : (int64_t)v;
	return sign < 0 ? -x : x;
}

/* A sample of LOCS (NLOCS ids, innermost first) with the values V. */
static int add_sample(struct mt_pprof *p, const uint64_t *locs, size_t nlocs,
		      const int64_t v[NVALUES])
{
	if (GROW(p->samples, p->nsamples, p->capsamples) < 0)
		return -ENOMEM;
	Perftools__Profiles__Sample *s = &p->samples[p->nsamples];
	perftools__profiles__sample__init(s);
	s->location_id = malloc((nlocs ? nlocs : 1) * sizeof *s->location_id);
	s->value = malloc(NVALUES * sizeof *s->value);
	if (!s->location_id || !s->value) {
		free(s->location_id);
		free(s->value);
		return -ENOMEM;
	}
	memcpy(s->location_id, locs, nlocs * sizeof *locs);
	s->n_location_id = nlocs;
	memcpy(s->value, v, NVALUES * sizeof *v);
	s->n_value = NVALUES;
	p->nsamples++;
	return 0;
}

int mt_pprof_comment(struct mt_pprof *p, const char *text)
{
	int64_t ix = intern(p, text);
	if (ix < 0 || GROW(p->comments, p->ncomments, p->capcomments) < 0)
		return -ENOMEM;
	p->comments[p->ncomments++] = ix;
	return 0;
}

struct mt_pprof *mt_pprof_new(void)
{
	struct mt_pprof *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	if (GROW(p->strs, 0, p->capstrs) < 0 || !(p->strs[0] = strdup(""))) {
		mt_pprof_free(p);
		return NULL;
	}
	p->nstrs = 1;
	for (size_t i = 0; i < sizeof fixed_strings / sizeof fixed_strings[0]; i++) {
		if (intern(p, fixed_strings[i]) != (int64_t)i + 1) {
			mt_pprof_free(p);
			return NULL;
		}
	}
	return p;
}

/* ---- one snapshot ------------------------------------------------------- */

/* What the frames of one module say about it. */
struct modinfo {
	bool used;
	uint64_t bias, limit;
	bool functions, filenames, lines;
};

static void scan_modules(const struct mt_snapshot *s, struct modinfo *mi)
{
	for (uint32_t i = 0; i < s->nframes; i++) {
		const struct mt_snap_frame *fr = &s->frames[i];
		if (!fr->module || fr->module > s->nmodules)
			continue;
		struct modinfo *m = &mi[fr->module - 1];
		if (!m->used) {
			*m = (struct modinfo){
				.used = true, .functions = true, .filenames = true, .lines = true
			};
			m->bias = fr->address >= fr->module_offset ? fr->address - fr->module_offset
								   : 0;
		}
		if (fr->address >= m->limit)
			m->limit = fr->address + 1;
		m->functions &= fr->function && fr->function[0];
		m->filenames &= fr->file && fr->file[0];
		m->lines &= fr->line > 0;
	}
}

static void hex(char *buf, const uint8_t *b, uint32_t n)
{
	for (uint32_t i = 0; i < n && i < 64; i++)
		sprintf(buf + 2 * i, "%02x", b[i]);
	buf[2 * (n < 64 ? n : 64)] = 0;
}

static int add_mapping(struct mt_pprof *p, const struct mt_snap_module *mod,
		       const struct modinfo *m, uint64_t *id)
{
	char bid[129];
	hex(bid, mod->build_id, mod->build_id_len);
	int64_t fn = intern(p, mod->path), b = intern(p, bid);
	if (fn < 0 || b < 0 || GROW(p->maps, p->nmaps, p->capmaps) < 0)
		return -ENOMEM;
	Perftools__Profiles__Mapping *mp = &p->maps[p->nmaps];
	perftools__profiles__mapping__init(mp);
	mp->id = *id = ++p->nmaps;
	mp->memory_start = m->bias;
	mp->memory_limit = m->limit > m->bias ? m->limit : m->bias + 1;
	mp->file_offset = 0;
	mp->filename = fn;
	mp->build_id = b;
	mp->has_functions = m->functions;
	mp->has_filenames = m->filenames;
	mp->has_line_numbers = m->lines;
	return 0;
}

/* MAP_IDS[i]: module i's mapping id, 0 when no frame is in it; the main
 * executable's first. */
static int add_mappings(struct mt_pprof *p, const struct mt_snapshot *s, uint64_t *map_ids)
{
	struct modinfo *mi = calloc(s->nmodules ? s->nmodules : 1, sizeof *mi);
	if (!mi)
		return -ENOMEM;
	scan_modules(s, mi);
	int err = 0;
	uint32_t exe = s->exe_module && s->exe_module <= s->nmodules ? s->exe_module - 1
								     : UINT32_MAX;
	if (exe != UINT32_MAX && mi[exe].used)
		err = add_mapping(p, &s->modules[exe], &mi[exe], &map_ids[exe]);
	for (uint32_t i = 0; i < s->nmodules && !err; i++)
		if (i != exe && mi[i].used)
			err = add_mapping(p, &s->modules[i], &mi[i], &map_ids[i]);
	free(mi);
	return err;
}

/* The location of frame I of S, made on first use. */
static uint64_t frame_location(struct mt_pprof *p, const struct mt_snapshot *s, uint32_t i,
			       const uint64_t *map_ids, uint64_t *frame_locs)
{
	if (frame_locs[i])
		return frame_locs[i];
	const struct mt_snap_frame *fr = &s->frames[i];
	uint64_t fid = 0;
	if (fr->function && fr->function[0]) {
		fid = function_id(p, fr->function, fr->file);
		if (!fid)
			return 0;
	}
	uint64_t map = fr->module && fr->module <= s->nmodules ? map_ids[fr->module - 1] : 0;
	return frame_locs[i] = add_location(p, map, fr->address, fid, fr->line);
}

static int add_sites(struct mt_pprof *p, const struct mt_snapshot *s, int sign,
		     const uint64_t *map_ids, uint64_t *frame_locs)
{
	uint64_t *locs = NULL;
	size_t cap = 0;
	int err = 0;
	for (uint32_t i = 0; i < s->nsites && !err; i++) {
		const struct mt_snap_site *site = &s->sites[i];
		if (!site->allocs && !site->live_blocks)
			continue;
		const struct mt_snap_stack *st = &s->stacks[site->stack];
		if (st->nframes > cap) {
			free(locs);
			cap = st->nframes;
			locs = malloc(cap * sizeof *locs);
			if (!locs)
				return -ENOMEM;
		}
		/* from the site frame out: the allocator's frames are left out */
		uint32_t n = 0;
		for (uint32_t k = st->site_frame; k < st->nframes && !err; k++) {
			locs[n] = frame_location(p, s, st->frames[k], map_ids, frame_locs);
			if (!locs[n++])
				err = -ENOMEM;
		}
		const int64_t v[NVALUES] = {
			[V_ALLOC_OBJECTS] = clamp(site->allocs, sign),
			[V_ALLOC_SPACE] = clamp(site->alloc_bytes, sign),
			[V_INUSE_OBJECTS] = clamp(site->live_blocks, sign),
			[V_INUSE_SPACE] = clamp(site->live_bytes, sign),
		};
		if (!err)
			err = add_sample(p, locs, n, v);
	}
	free(locs);
	return err;
}

/* The location of the pseudo-frame NAME (no mapping, address 0). */
static uint64_t pseudo_location(struct mt_pprof *p, const char *name)
{
	uint64_t fid = function_id(p, name, "");
	uint32_t v;
	if (!fid)
		return 0;
	if (mt_u64map_get(&p->pseudo_loc, fid, &v))
		return v;
	uint64_t id = add_location(p, 0, 0, fid, 0);
	if (!id || mt_u64map_put(&p->pseudo_loc, fid, (uint32_t)id) < 0)
		return 0;
	return id;
}

static int add_census_row(struct mt_pprof *p, const struct mt_census_row *row, uint64_t root,
			  int sign)
{
	char name[64];
	if (!row->type)
		snprintf(name, sizeof name, "[%" PRIu64 "-byte blocks]", row->size);
	uint64_t locs[2] = { pseudo_location(p, row->type ? row->type : name), root };
	if (!locs[0])
		return -ENOMEM;
	const int64_t v[NVALUES] = { clamp(row->blocks, sign), clamp(row->bytes, sign),
				     clamp(row->blocks, sign), clamp(row->bytes, sign) };
	return add_sample(p, locs, 2, v);
}

/* The census's blocks freed since attach, by no row in particular (the
 * census counts them in all): taken off the in-use values, so that
 * "[census]" holds what is still live; they were allocated, so the alloc
 * values stay. */
static int add_census_freed(struct mt_pprof *p, const struct mt_census_report *c, uint64_t root,
			    int sign)
{
	if (!c->freed_blocks && !c->freed_bytes)
		return 0;
	uint64_t locs[2] = { pseudo_location(p, MT_PPROF_FREED), root };
	if (!locs[0])
		return -ENOMEM;
	const int64_t v[NVALUES] = { 0, 0, clamp(c->freed_blocks, -sign),
				     clamp(c->freed_bytes, -sign) };
	return add_sample(p, locs, 2, v);
}

static int add_census(struct mt_pprof *p, const struct mt_census_report *c, int sign)
{
	if (!c || !c->available || (!c->ntypes && !c->nsizes))
		return 0;
	uint64_t root = pseudo_location(p, MT_PPROF_CENSUS);
	int err = root ? 0 : -ENOMEM;
	for (size_t i = 0; i < c->ntypes && !err; i++)
		err = add_census_row(p, &c->types[i], root, sign);
	for (size_t i = 0; i < c->nsizes && !err; i++)
		err = add_census_row(p, &c->sizes[i], root, sign);
	if (!err)
		err = add_census_freed(p, c, root, sign);
	return err;
}

/* S's header as comments: whose profile it is, and what its numbers are. */
static int add_comments(struct mt_pprof *p, const struct mt_snapshot *s, int sign)
{
	char text[600];
	snprintf(text, sizeof text, "%smemtrace %s: pid %d (%s), engine %s, traced %.1f s",
		 sign < 0 ? "subtracted: " : "", s->memtrace_version ? s->memtrace_version : "",
		 (int)s->pid, s->comm ? s->comm : "", s->engine ? s->engine : "", s->duration_s);
	int err = mt_pprof_comment(p, text);
	if (!err && s->sample_bytes) {
		snprintf(text, sizeof text,
			 "sampled: one allocation per ~%" PRIu64 " bytes "
			 "recorded; the values are estimates",
			 s->sample_bytes);
		err = mt_pprof_comment(p, text);
	}
	if (!err && s->lost_events) {
		snprintf(text, sizeof text,
			 "%" PRIu64 " allocator calls lost: their blocks "
			 "are not counted",
			 s->lost_events);
		err = mt_pprof_comment(p, text);
	}
	const struct mt_census_report *c = s->census;
	if (!err && c && c->available) {
		snprintf(
			text, sizeof text,
			MT_PPROF_CENSUS
			": %" PRIu64 " blocks, %" PRIu64
			" bytes (chunks, headers included) live at attach, by class and size; %" PRIu64
			" blocks (%" PRIu64 " bytes) of them freed since%s, in-use values "
			"under " MT_PPROF_FREED,
			c->blocks, c->bytes, c->freed_blocks, c->freed_bytes,
			c->frees_unseen ? " (at least)" : "");
		err = mt_pprof_comment(p, text);
	}
	return err;
}

int mt_pprof_add(struct mt_pprof *p, const struct mt_snapshot *s, int sign)
{
	if (!p->started) {
		p->started = true;
		p->time_nanos = clamp(s->time_unix_ns, 1);
		double ns = s->duration_s * 1e9;
		p->duration_nanos = ns > 0 && ns < 9e18 ? (int64_t)ns : 0;
		p->period = clamp(s->sample_bytes, 1);
	}
	uint64_t *map_ids = calloc(s->nmodules ? s->nmodules : 1, sizeof *map_ids);
	uint64_t *frame_locs = calloc(s->nframes ? s->nframes : 1, sizeof *frame_locs);
	int err = map_ids && frame_locs ? 0 : -ENOMEM;
	if (!err)
		err = add_comments(p, s, sign);
	if (!err)
		err = add_mappings(p, s, map_ids);
	if (!err)
		err = add_sites(p, s, sign, map_ids, frame_locs);
	if (!err)
		err = add_census(p, s->census, sign);
	free(map_ids);
	free(frame_locs);
	return err;
}

/* ---- packing ------------------------------------------------------------ */

/* An array of pointers to N elements of SIZE bytes from BASE. */
static void **pointers(void *base, size_t n, size_t size)
{
	void **v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		v[i] = (char *)base + i * size;
	return v;
}

int mt_pprof_pack(struct mt_pprof *p, uint8_t **buf, size_t *len)
{
	Perftools__Profiles__ValueType vt[NVALUES + 1];
	Perftools__Profiles__ValueType *vtp[NVALUES];
	static const int64_t types[NVALUES][2] = {
		{ S_ALLOC_OBJECTS, S_COUNT },
		{ S_ALLOC_SPACE, S_BYTES },
		{ S_INUSE_OBJECTS, S_COUNT },
		{ S_INUSE_SPACE, S_BYTES },
	};
	for (int i = 0; i <= NVALUES; i++) {
		perftools__profiles__value_type__init(&vt[i]);
		vt[i].type = i < NVALUES ? types[i][0] : S_SPACE;
		vt[i].unit = i < NVALUES ? types[i][1] : S_BYTES;
		if (i < NVALUES)
			vtp[i] = &vt[i];
	}
	for (size_t i = 0; i < p->nlocs; i++) {
		p->locs[i].linep = &p->locs[i].line;
		p->locs[i].msg.line = &p->locs[i].linep;
	}
	Perftools__Profiles__Profile pr = PERFTOOLS__PROFILES__PROFILE__INIT;
	pr.n_sample_type = NVALUES;
	pr.sample_type = vtp;
	pr.period_type = &vt[NVALUES];
	pr.period = p->period;
	pr.time_nanos = p->time_nanos;
	pr.duration_nanos = p->duration_nanos;
	pr.default_sample_type = S_INUSE_SPACE;
	pr.n_sample = p->nsamples;
	pr.sample = (Perftools__Profiles__Sample **)pointers(p->samples, p->nsamples,
							     sizeof *p->samples);
	pr.n_mapping = p->nmaps;
	pr.mapping = (Perftools__Profiles__Mapping **)pointers(p->maps, p->nmaps, sizeof *p->maps);
	pr.n_location = p->nlocs;
	pr.location =
		(Perftools__Profiles__Location **)pointers(p->locs, p->nlocs, sizeof *p->locs);
	pr.n_function = p->nfuncs;
	pr.function =
		(Perftools__Profiles__Function **)pointers(p->funcs, p->nfuncs, sizeof *p->funcs);
	pr.n_string_table = p->nstrs;
	pr.string_table = p->strs;
	pr.n_comment = p->ncomments;
	pr.comment = p->comments;
	int err = -ENOMEM;
	if (pr.sample && pr.mapping && pr.location && pr.function) {
		*len = perftools__profiles__profile__get_packed_size(&pr);
		*buf = malloc(*len ? *len : 1);
		if (*buf) {
			perftools__profiles__profile__pack(&pr, *buf);
			err = 0;
		}
	}
	free(pr.sample);
	free(pr.mapping);
	free(pr.location);
	free(pr.function);
	return err;
}

void mt_pprof_free(struct mt_pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	free(p->strs);
	for (size_t i = 0; i < p->nsamples; i++) {
		free(p->samples[i].location_id);
		free(p->samples[i].value);
	}
	free(p->samples);
	free(p->funcs);
	free(p->maps);
	free(p->locs);
	free(p->comments);
	mt_u64map_free(&p->str_ix);
	mt_u64map_free(&p->func_ix);
	mt_u64map_free(&p->pseudo_loc);
	free(p);
}

/* ---- the writers ---------------------------------------------------------- */

static int write_gzipped(FILE *f, struct mt_pprof *p)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = mt_pprof_pack(p, &buf, &len) == 0 ? mt_gzip_write(f, buf, len) : -1;
	free(buf);
	return rc;
}

int mt_report_pprof(FILE *f, const struct mt_snapshot *s)
{
	struct mt_pprof *p = mt_pprof_new();
	int rc = p && mt_pprof_add(p, s, 1) == 0 ? write_gzipped(f, p) : -1;
	mt_pprof_free(p);
	return rc;
}

int mt_report_pprof_diff(FILE *f, const struct mt_snapshot *a, const struct mt_snapshot *b)
{
	struct mt_pprof *p = mt_pprof_new();
	int rc = p && mt_pprof_add(p, b, 1) == 0 && mt_pprof_add(p, a, -1) == 0 &&
				 mt_pprof_comment(
					 p, "diff: the second snapshot's samples, then the "
					    "first's negated; pprof sums them into the change") == 0
			 ? write_gzipped(f, p)
			 : -1;
	mt_pprof_free(p);
	return rc;
}
