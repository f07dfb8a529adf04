/* See pyframes.h.  Offsets from CPython's own headers for each version
 * (Include/internal/pycore_frame.h, pycore_runtime.h, cpython/code.h,
 * cpython/unicodeobject.h), x86_64. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/discover.h"
#include "symbols/pyframes.h"
#include "target/memio.h"

/* How a code object maps its instructions to lines. */
enum py_lines { LINES_LNOTAB, LINES_310, LINES_311 };

struct mt_pyver {
	int major, minor;
	uint8_t kind;            /* MT_AGENT_PY_* (agent_abi.h) */
	uint8_t lines;           /* enum py_lines */
	uint8_t lasti_shift;     /* f_lasti in bytes (3.9): 1 */
	uint16_t rt_tstate;      /* _PyRuntime: gilstate.tstate_current (up
	                            to 3.11), interpreters.main (3.12+) */
	uint16_t ts_deref[2];    /* 3.12+: interp->ceval.gil, ->last_holder */
	uint16_t gil_locked;     /* 3.12+: the GIL's locked */
	uint16_t ts_thread, ts_frame, cf_frame, cf_prev;
	uint16_t fr_code, fr_prev, fr_instr, fr_entry;
	/* co_name where there is no co_qualname (up to 3.10); co_lnotab
	 * (3.9) or co_linetable */
	uint16_t co_firstlineno, co_filename, co_qualname, co_linetable, co_code;
	/* str: a compact ASCII one's data; a compact one's UTF-8 length,
	 * UTF-8 and data (3.12 dropped wstr: these move) */
	uint16_t str_ascii_data, str_utf8_len, str_utf8, str_compact_data;
};

/* Offsets from each version's headers (offsetof with Py_BUILD_CORE on
 * pyenv's builds, x86_64), the same for a static and a shared
 * interpreter.  The current thread state: _PyRuntime's up to 3.11; 3.12
 * keeps it in a thread-local variable only (_Py_tss_tstate), so from there
 * on the agent takes the main interpreter's GIL holder, while the GIL is
 * taken (a thread that runs Python code holds it). */
static const struct mt_pyver versions[] = {
	{ .major = 3, .minor = 9, .kind = MT_AGENT_PY_FRAMEOBJ, .lines = LINES_LNOTAB,
	  .lasti_shift = 1, .rt_tstate = 568,
	  .ts_thread = 176, .ts_frame = 24, .fr_code = 32, .fr_prev = 24, .fr_instr = 104,
	  .co_firstlineno = 40, .co_filename = 104, .co_qualname = 112, .co_linetable = 120,
	  .co_code = 0, .str_ascii_data = 48, .str_utf8_len = 48, .str_utf8 = 56,
	  .str_compact_data = 72 },
	{ .major = 3, .minor = 10, .kind = MT_AGENT_PY_FRAMEOBJ, .lines = LINES_310,
	  .rt_tstate = 568,
	  .ts_thread = 176, .ts_frame = 24, .fr_code = 32, .fr_prev = 24, .fr_instr = 96,
	  .co_firstlineno = 40, .co_filename = 104, .co_qualname = 112, .co_linetable = 120,
	  .co_code = 0, .str_ascii_data = 48, .str_utf8_len = 48, .str_utf8 = 56,
	  .str_compact_data = 72 },
	{ .major = 3, .minor = 11, .kind = MT_AGENT_PY_CFRAME, .lines = LINES_311,
	  .rt_tstate = 576,
	  .ts_thread = 152, .ts_frame = 56, .cf_frame = 8, .cf_prev = 16,
	  .fr_code = 32, .fr_prev = 48, .fr_instr = 56, .fr_entry = 68,
	  .co_firstlineno = 72, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	  .co_code = 184, .str_ascii_data = 48, .str_utf8_len = 48, .str_utf8 = 56,
	  .str_compact_data = 72 },
	{ .major = 3, .minor = 12, .kind = MT_AGENT_PY_ENTRY_CF, .lines = LINES_311,
	  .rt_tstate = 48, .ts_deref = { 384, 8 }, .gil_locked = 16,
	  .ts_thread = 136, .ts_frame = 56, .cf_frame = 0, .cf_prev = 8,
	  .fr_code = 0, .fr_prev = 8, .fr_instr = 56, .fr_entry = 70,
	  .co_firstlineno = 68, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	  .co_code = 192, .str_ascii_data = 40, .str_utf8_len = 40, .str_utf8 = 48,
	  .str_compact_data = 56 },
	{ .major = 3, .minor = 13, .kind = MT_AGENT_PY_ENTRY, .lines = LINES_311,
	  .rt_tstate = 640, .ts_deref = { 16, 8 }, .gil_locked = 16,
	  .ts_thread = 152, .ts_frame = 72,
	  .fr_code = 0, .fr_prev = 8, .fr_instr = 56, .fr_entry = 70,
	  .co_firstlineno = 68, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	  .co_code = 200, .str_ascii_data = 40, .str_utf8_len = 40, .str_utf8 = 48,
	  .str_compact_data = 56 },
};

/* The object header, str's length and state, and bytes' data (3.9-3.13
 * alike). */
#define OB_TYPE 8
#define OB_SIZE 16
#define STR_STATE 32
#define STR_HEADER_MAX 96
#define BYTES_DATA 32
#define MAX_LINETABLE (1u << 20)
#define MAX_NAME 4096

enum { W_RUNTIME, W_VERSION, W_EVAL, W_CODE, W_STR, W_BYTES, W__N };

/* The minor version from a path's "python3.X" (libpython3.X.so). */
static int minor_from_path(const char *path)
{
	const char *p = strstr(path, "python3.");
	return p && p[8] >= '0' && p[8] <= '9' ? atoi(p + 8) : 0;
}

/* Whether a path's "python3.X" is a free-threaded build's ("python3.13t"). */
static bool free_threaded(const char *path)
{
	const char *base = strrchr(path, '/');
	const char *p = strstr(base ? base + 1 : path, "python3.");
	if (!p)
		return false;
	p += 8;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == 't';
}

void mt_pyframes_detect(pid_t pid, struct mt_pyinfo *out)
{
	memset(out, 0, sizeof *out);
	struct mt_sym_want w[W__N] = {
		[W_RUNTIME] = { .name = "_PyRuntime" }, [W_VERSION] = { .name = "Py_Version" },
		[W_EVAL] = { .name = "_PyEval_EvalFrameDefault" },
		[W_CODE] = { .name = "PyCode_Type" }, [W_STR] = { .name = "PyUnicode_Type" },
		[W_BYTES] = { .name = "PyBytes_Type" },
	};
	/* the interpreter (python3.11) or libpython3.11.so: .dynsym keeps
	 * its C API even stripped; no other module is opened */
	if (!mt_discover_symbols(pid, "python", w, W__N) || !w[W_RUNTIME].addr)
		return;
	uint32_t hex = 0;
	if (w[W_VERSION].addr && mt_mem_read(pid, w[W_VERSION].addr, &hex, 4) == 0 &&
	    hex >> 24 == 3) {
		out->major = 3;
		out->minor = (int)(hex >> 16 & 0xff);
	} else if ((out->minor = minor_from_path(w[W_RUNTIME].module)) != 0) {
		out->major = 3;
	}
	/* a free-threaded build (python3.13t) lays its objects out otherwise */
	bool nogil = free_threaded(w[W_RUNTIME].module);
	for (size_t i = 0; i < sizeof versions / sizeof versions[0] && !nogil; i++)
		if (versions[i].major == out->major && versions[i].minor == out->minor)
			out->ver = &versions[i];
	bool have = w[W_EVAL].addr && w[W_EVAL].size && w[W_CODE].addr && w[W_STR].addr &&
		    w[W_BYTES].addr;
	if (!out->ver || !have) {
		out->status = MT_PY_UNSUPPORTED;
		if (out->major)
			snprintf(out->note, sizeof out->note,
				 "Python frames: not supported for CPython %d.%d%s", out->major,
				 out->minor, nogil ? " (free-threaded)" : "");
		else
			snprintf(out->note, sizeof out->note,
				 "Python frames: not supported for this CPython (version unknown)");
		return;
	}
	out->status = MT_PY_OK;
	out->tstate = w[W_RUNTIME].addr + out->ver->rt_tstate;
	out->eval_lo = w[W_EVAL].addr;
	out->eval_hi = w[W_EVAL].addr + w[W_EVAL].size;
	out->code_type = w[W_CODE].addr;
	out->str_type = w[W_STR].addr;
	out->bytes_type = w[W_BYTES].addr;
	snprintf(out->note, sizeof out->note, "CPython %d.%d: Python frames named", out->major,
		 out->minor);
}

void mt_pyframes_configure(const struct mt_pyinfo *py, struct mt_agent_state *st)
{
	st->py_tstate = st->py_eval_lo = st->py_eval_hi = 0;
	st->py_ts_thread = st->py_ts_frame = st->py_cf_frame = st->py_cf_prev = 0;
	st->py_fr_code = st->py_fr_prev = st->py_fr_instr = st->py_fr_entry = st->py_co_code = 0;
	st->py_kind = st->py_lasti_shift = 0;
	st->py_ts_deref[0] = st->py_ts_deref[1] = st->py_gil_locked = 0;
	if (!py || py->status != MT_PY_OK)
		return;
	const struct mt_pyver *v = py->ver;
	st->py_eval_lo = py->eval_lo;
	st->py_eval_hi = py->eval_hi;
	st->py_kind = v->kind;
	st->py_lasti_shift = v->lasti_shift;
	st->py_ts_deref[0] = v->ts_deref[0];
	st->py_ts_deref[1] = v->ts_deref[1];
	st->py_gil_locked = v->gil_locked;
	st->py_ts_thread = v->ts_thread;
	st->py_ts_frame = v->ts_frame;
	st->py_cf_frame = v->cf_frame;
	st->py_cf_prev = v->cf_prev;
	st->py_fr_code = v->fr_code;
	st->py_fr_prev = v->fr_prev;
	st->py_fr_instr = v->fr_instr;
	st->py_fr_entry = v->fr_entry;
	st->py_co_code = v->co_code;
	st->py_tstate = py->tstate;   /* last: the agent looks at it first */
}

/* ---- naming ------------------------------------------------------------ */

/* Names given, by tagged pc: a frame keeps the name it had when first
 * named (while the process ran), after its code object is freed or the
 * process ended.  Bounded: past MAX_NAMED, pcs are read each time. */
#define MAX_NAMED 32768u

struct named {
	uint64_t pc;           /* 0: empty slot (a tagged pc never is 0) */
	char *func, *file;
	int line;
};

struct mt_pyframes {
	pid_t pid;
	bool detected;
	struct mt_pyinfo info;
	struct named *named;   /* open addressing, a power of two */
	size_t nnamed, capnamed;
};

struct mt_pyframes *mt_pyframes_new(pid_t pid)
{
	struct mt_pyframes *p = calloc(1, sizeof *p);
	if (p)
		p->pid = pid;
	return p;
}

void mt_pyframes_destroy(struct mt_pyframes *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->capnamed; i++) {
		free(p->named[i].func);
		free(p->named[i].file);
	}
	free(p->named);
	free(p);
}

static size_t named_slot(uint64_t pc, size_t cap)
{
	return (size_t)((pc * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

static const struct named *named_get(const struct mt_pyframes *p, uint64_t pc)
{
	if (!p->capnamed)
		return NULL;
	for (size_t i = named_slot(pc, p->capnamed);; i = (i + 1) & (p->capnamed - 1)) {
		if (p->named[i].pc == pc)
			return &p->named[i];
		if (!p->named[i].pc)
			return NULL;
	}
}

/* Twice the room (kept at most half full); false when out of memory. */
static bool named_grow(struct mt_pyframes *p)
{
	size_t cap = p->capnamed ? p->capnamed * 2 : 256;
	struct named *v = calloc(cap, sizeof *v);
	if (!v)
		return false;
	for (size_t i = 0; i < p->capnamed; i++) {
		if (!p->named[i].pc)
			continue;
		size_t j = named_slot(p->named[i].pc, cap);
		while (v[j].pc)
			j = (j + 1) & (cap - 1);
		v[j] = p->named[i];
	}
	free(p->named);
	p->named = v;
	p->capnamed = cap;
	return true;
}

/* Keep PC's name; nothing when full or out of memory. */
static void named_put(struct mt_pyframes *p, uint64_t pc, const char *func, const char *file,
		      int line)
{
	if (p->nnamed >= MAX_NAMED || (p->nnamed + 1) * 2 > p->capnamed) {
		if (p->nnamed >= MAX_NAMED || !named_grow(p))
			return;
	}
	char *f = strdup(func), *fl = strdup(file);
	if (!f || !fl) {
		free(f);
		free(fl);
		return;
	}
	size_t i = named_slot(pc, p->capnamed);
	while (p->named[i].pc)
		i = (i + 1) & (p->capnamed - 1);
	p->named[i] = (struct named){ .pc = pc, .func = f, .file = fl, .line = line };
	p->nnamed++;
}

static bool read_u64(const struct mt_pyframes *p, uint64_t addr, uint64_t *v)
{
	return addr && !(addr & 7) && mt_mem_read(p->pid, addr, v, 8) == 0;
}

/* One UTF-8 byte sequence for code point C into OUT[*N..LEN-1). */
static void put_utf8(char *out, size_t len, size_t *n, uint32_t c)
{
	char b[4];
	size_t k;
	if (c < 0x80) {
		b[0] = (char)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3f));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		k = 3;
	} else {
		b[0] = (char)(0xf0 | (c >> 18 & 7));
		b[1] = (char)(0x80 | (c >> 12 & 0x3f));
		b[2] = (char)(0x80 | (c >> 6 & 0x3f));
		b[3] = (char)(0x80 | (c & 0x3f));
		k = 4;
	}
	if (*n + k >= len)
		return;
	memcpy(out + *n, b, k);
	*n += k;
}

/* The str object at ADDR as UTF-8 into OUT (truncated): compact strings
 * (every identifier and file name CPython makes), else its cached UTF-8.
 * False when it is no str or cannot be read. */
static bool read_str(const struct mt_pyframes *p, uint64_t addr, char *out, size_t len)
{
	const struct mt_pyver *v = p->info.ver;
	uint8_t h[STR_HEADER_MAX] = { 0 };
	out[0] = 0;
	/* the ASCII header first: a short string may end its mapping */
	if (!addr || (addr & 7) || len < 2 || v->str_compact_data > sizeof h ||
	    v->str_utf8 + 8u > sizeof h || v->str_utf8_len + 8u > sizeof h ||
	    v->str_ascii_data < STR_STATE + 4 ||
	    mt_mem_read(p->pid, addr, h, v->str_ascii_data) < 0)
		return false;
	uint64_t type, slen, utf8, utf8_len;
	uint32_t state;
	memcpy(&type, h + OB_TYPE, 8);
	memcpy(&slen, h + OB_SIZE, 8);
	memcpy(&state, h + STR_STATE, 4);
	if (type != p->info.str_type || slen > MAX_NAME)
		return false;
	unsigned kind = state >> 2 & 7, compact = state >> 5 & 1, ascii = state >> 6 & 1;
	if (!(compact && ascii) &&
	    mt_mem_read(p->pid, addr + v->str_ascii_data, h + v->str_ascii_data,
			v->str_compact_data - v->str_ascii_data) < 0)
		return false;
	memcpy(&utf8_len, h + v->str_utf8_len, 8);
	memcpy(&utf8, h + v->str_utf8, 8);
	uint8_t buf[MAX_NAME * 4];
	size_t n = 0;
	if (compact && ascii) {
		size_t k = slen < len - 1 ? slen : len - 1;
		if (mt_mem_read(p->pid, addr + v->str_ascii_data, out, k) < 0)
			return false;
		out[k] = 0;
		return true;
	}
	if (compact && (kind == 1 || kind == 2 || kind == 4)) {
		if (mt_mem_read(p->pid, addr + v->str_compact_data, buf, slen * kind) < 0)
			return false;
		for (size_t i = 0; i < slen; i++) {
			uint32_t c = 0;
			memcpy(&c, buf + i * kind, kind);
			put_utf8(out, len, &n, c > 0x10ffff ? '?' : c);
		}
		out[n] = 0;
		return true;
	}
	if (utf8 && utf8_len <= MAX_NAME) {
		size_t k = utf8_len < len - 1 ? utf8_len : len - 1;
		if (mt_mem_read(p->pid, utf8, out, k) < 0)
			return false;
		out[k] = 0;
		return true;
	}
	return false;
}

/* An unsigned varint of the 3.11 location table at TAB[*I..LEN). */
static uint32_t varint(const uint8_t *tab, size_t len, size_t *i)
{
	uint32_t v = 0;
	for (unsigned shift = 0; *i < len && shift < 30; shift += 6) {
		uint8_t b = tab[(*i)++];
		v |= (uint32_t)(b & 63) << shift;
		if (!(b & 64))
			break;
	}
	return v;
}

static int svarint(const uint8_t *tab, size_t len, size_t *i)
{
	uint32_t v = varint(tab, len, i);
	return v & 1 ? -(int)(v >> 1) : (int)(v >> 1);
}

/* Entries: a first byte 1CCCCLLL (code C, L + 1 code units), then
 * varints: C 15 no location, 14 long form (line delta first), 13 no
 * column (line delta), 10-12 one line (delta C - 10), 0-9 the same line. */
int mt_pyframes_line311(const uint8_t *tab, size_t len, int firstline, uint64_t addr_bytes)
{
	int line = firstline;
	uint64_t end = 0;
	size_t i = 0;
	while (i < len) {
		uint8_t b = tab[i++];
		if (!(b & 128))
			return 0;   /* not an entry's first byte: a broken table */
		unsigned code = b >> 3 & 15;
		uint64_t start = end;
		end += ((b & 7) + 1) * 2u;
		if (code == 14 || code == 13)
			line += svarint(tab, len, &i);
		else if (code >= 10 && code <= 12)
			line += (int)code - 10;
		while (i < len && !(tab[i] & 128))
			i++;
		if (addr_bytes >= start && addr_bytes < end)
			return code == 15 || line < 0 ? 0 : line;
	}
	return 0;
}

/* 3.9's co_lnotab: pairs (byte offset delta, signed line delta); an
 * instruction's line is the one reached before the offsets pass it. */
int mt_pyframes_line39(const uint8_t *tab, size_t len, int firstline, uint64_t addr_bytes)
{
	int line = firstline;
	uint64_t addr = 0;
	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += tab[i];
		if (addr > addr_bytes)
			break;
		line += (int8_t)tab[i + 1];
	}
	return line < 0 ? 0 : line;
}

/* 3.10's co_linetable: pairs (byte length of a range, signed line delta
 * from the previous range's line, -128: the range has no line). */
int mt_pyframes_line310(const uint8_t *tab, size_t len, int firstline, uint64_t addr_bytes)
{
	int line = firstline;
	uint64_t end = 0;
	for (size_t i = 0; i + 1 < len; i += 2) {
		uint64_t start = end;
		end += tab[i];
		int8_t d = (int8_t)tab[i + 1];
		if (d != -128)
			line += d;
		if (addr_bytes >= start && addr_bytes < end)
			return d == -128 || line < 0 ? 0 : line;
	}
	return 0;
}

static void detect_once(struct mt_pyframes *p)
{
	if (!p->detected) {
		mt_pyframes_detect(p->pid, &p->info);
		p->detected = true;
	}
}

/* PC named from its code object in the process: 0, or -1 (FUNC then
 * "[python]"). */
static int name_now(struct mt_pyframes *p, uint64_t pc, char *func, size_t funclen, char *file,
		    size_t filelen, int *line)
{
	detect_once(p);
	if (p->info.status != MT_PY_OK)
		return -1;
	const struct mt_pyver *v = p->info.ver;
	uint64_t code = pc & MT_AGENT_PY_ADDR_MASK;
	uint64_t unit = pc >> 48 & MT_AGENT_PY_NOUNIT;
	uint8_t co[256];
	size_t need = v->co_linetable + 8u;   /* the last field read */
	if (need > sizeof co || (code & 7) || mt_mem_read(p->pid, code, co, need) < 0)
		return -1;
	uint64_t type, fname, qname, ltab;
	int32_t first;
	memcpy(&type, co + OB_TYPE, 8);
	memcpy(&first, co + v->co_firstlineno, 4);
	memcpy(&fname, co + v->co_filename, 8);
	memcpy(&qname, co + v->co_qualname, 8);
	memcpy(&ltab, co + v->co_linetable, 8);
	if (type != p->info.code_type)
		return -1;
	if (!read_str(p, qname, func, funclen))
		snprintf(func, funclen, "[python]");
	read_str(p, fname, file, filelen);
	*line = first > 0 ? first : 0;
	uint64_t btype, blen;
	if (unit == MT_AGENT_PY_NOUNIT || !read_u64(p, ltab + OB_TYPE, &btype) ||
	    btype != p->info.bytes_type || !read_u64(p, ltab + OB_SIZE, &blen) ||
	    blen > MAX_LINETABLE)
		return 0;
	uint8_t *tab = malloc(blen ? blen : 1);
	if (!tab)
		return 0;
	if (mt_mem_read(p->pid, ltab + BYTES_DATA, tab, blen) == 0) {
		int l = v->lines == LINES_LNOTAB ? mt_pyframes_line39(tab, blen, first, unit * 2)
			: v->lines == LINES_310	 ? mt_pyframes_line310(tab, blen, first, unit * 2)
						 : mt_pyframes_line311(tab, blen, first, unit * 2);
		if (l > 0)
			*line = l;
	}
	free(tab);
	return 0;
}

int mt_pyframes_name(struct mt_pyframes *p, uint64_t pc, char *func, size_t funclen,
		     char *file, size_t filelen, int *line)
{
	const struct named *n = named_get(p, pc);
	if (n) {
		snprintf(func, funclen, "%s", n->func);
		snprintf(file, filelen, "%s", n->file);
		*line = n->line;
		return 0;
	}
	snprintf(func, funclen, "[python]");
	file[0] = 0;
	*line = 0;
	if (name_now(p, pc, func, funclen, file, filelen, line) < 0)
		return -1;
	named_put(p, pc, func, file, *line);
	return 0;
}

int mt_pyframes_learn(struct mt_pyframes *p, uint64_t pc)
{
	if (named_get(p, pc))
		return 0;
	char func[256], file[512];
	int line;
	return mt_pyframes_name(p, pc, func, sizeof func, file, sizeof file, &line) < 0 ? -1 : 1;
}
