/* Naming addresses of a live process with libdwfl, without attaching: a pc
 * -> function (ELF symbol, else DWARF, else the .eh_frame FDE of a stripped
 * module), module, file:line and the functions inlined there, C++ names
 * demangled; JIT code named from the perf map.
 *
 * The symbolizer is three files sharing struct mt_symbolizer
 * (symbolize_priv.h): this one names addresses, modules.c keeps the table
 * of loaded modules and their ELF and DWARF handles, unwind.c walks stacks.
 *
 * Results are cached per address: a site is symbolized once however many
 * times it is reported.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols/fdetab.h"
#include "symbols/perfmap.h"
#include "symbols/symbolize.h"
#include "symbols/symbolize_priv.h"

/* libstdc++'s demangler, named by the Itanium C++ ABI (extern "C").
 * Returns a malloc'd string, or NULL with *STATUS < 0. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* How soon the perf map's size is looked at again. */
#define PERFMAP_INTERVAL_NS (100 * NS_PER_MS)
#define PERFMAP_COST_FACTOR 20

/* A cached mt_symbolize_pc answer. */
struct chain {
	int n;
	struct mt_frame f[];
};

/* SRC (NULL: "") into DST, cut to SIZE - 1 bytes. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int mt_demangle(const char *mangled, char *out, size_t len)
{
	int status = -1;
	char *d = __cxa_demangle(mangled, NULL, NULL, &status);
	if (!d || status != 0) {
		free(d);
		return -1;
	}
	copy_str(out, len, d);
	free(d);
	return 0;
}

/* NAME demangled when it is a mangled C++ name, else as it is. */
static void set_function(char *dst, size_t size, const char *name)
{
	if (name && name[0] == '_' && name[1] == 'Z') {
		int status = -1;
		char *d = __cxa_demangle(name, NULL, NULL, &status);
		if (d && status == 0) {
			copy_str(dst, size, d);
			free(d);
			return;
		}
		free(d);
	}
	copy_str(dst, size, name);
}

/* An ELF symbol's NAME, as set_function, without the version that a
 * .symtab gives versioned definitions: "__libc_start_main@@GLIBC_2.34",
 * "memcpy@GLIBC_2.2.5". */
static void set_symbol(char *dst, size_t size, const char *name)
{
	char plain[1024];
	const char *at = name && name[0] ? strchr(name + 1, '@') : NULL;
	if (at && (size_t)(at - name) < sizeof plain) {
		memcpy(plain, name, (size_t)(at - name));
		plain[at - name] = '\0';
		name = plain;
	}
	set_function(dst, size, name);
}

/* --- cache ----------------------------------------------------------- */

static size_t slot_of(const struct cache *c, uint64_t key)
{
	/* Fibonacci hashing: code addresses differ mostly in low bits. */
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (c->cap - 1);
}

static void *cache_get(const struct cache *c, uint64_t key)
{
	if (c->cap == 0)
		return NULL;
	for (size_t i = slot_of(c, key); c->slots[i].val; i = (i + 1) & (c->cap - 1))
		if (c->slots[i].key == key)
			return c->slots[i].val;
	return NULL;
}

static void cache_put_slot(struct cache *c, uint64_t key, void *val)
{
	size_t i = slot_of(c, key);
	while (c->slots[i].val)
		i = (i + 1) & (c->cap - 1);
	c->slots[i] = (struct slot){ key, val };
	c->used++;
}

/* Takes VAL; best effort: when memory is short VAL is freed, not cached. */
static void cache_put(struct cache *c, uint64_t key, void *val)
{
	if (2 * (c->used + 1) > c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 256;
		struct slot *old = c->slots, *nv = calloc(ncap, sizeof *nv);
		if (!nv) {
			free(val);
			return;
		}
		size_t ocap = c->cap;
		c->slots = nv;
		c->cap = ncap;
		c->used = 0;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].val)
				cache_put_slot(c, old[i].key, old[i].val);
		free(old);
	}
	cache_put_slot(c, key, val);
}

/* Forget the entries whose address (KEY >> SHIFT) is in [START, END). */
void mt_sym_cache_drop(struct cache *c, int shift, uint64_t start, uint64_t end)
{
	struct cache kept = { 0 };
	for (size_t i = 0; i < c->cap; i++) {
		uint64_t addr = c->slots[i].key >> shift;
		if (!c->slots[i].val)
			continue;
		if (addr >= start && addr < end)
			free(c->slots[i].val);
		else
			cache_put(&kept, c->slots[i].key, c->slots[i].val);
	}
	free(c->slots);
	*c = kept;
}

void mt_sym_cache_clear(struct cache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i].val);
	free(c->slots);
	*c = (struct cache){ 0 };
}

/* --- JIT code -------------------------------------------------------- */

static char *read_file(const char *path, size_t *len, off_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	/* The JIT may be appending: read what is there, up to the size seen. */
	size_t want = (size_t)st.st_size, got = 0;
	buf = malloc(want + 1);
	if (!buf)
		goto out;
	while (got < want) {
		ssize_t n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	*size = st.st_size;
out:
	close(fd);
	return buf;
}

/* Read the perf map again if it changed, looking at most every
 * PERFMAP_INTERVAL_NS, or at once when FORCE (a miss in JIT memory: the JIT
 * writes a code's line before the code runs, so the line of a pc seen is
 * there by now), then never sooner than PERFMAP_COST_FACTOR times what the
 * last read took. */
static void perfmap_update(struct mt_symbolizer *s, bool force)
{
	struct perfmap_file *j = &s->jit;
	uint64_t now = mt_clock_ns();
	if (force ? now - j->read_ns < PERFMAP_COST_FACTOR * j->read_cost_ns
		  : j->checked_ns && now - j->checked_ns < PERFMAP_INTERVAL_NS)
		return;
	j->checked_ns = now;
	struct stat st;
	/* A map that disappeared keeps naming the code it named. */
	if (stat(j->path, &st) < 0 || st.st_size == j->size)
		return;
	size_t len = 0;
	off_t size = -1;
	char *text = read_file(j->path, &len, &size);
	if (!text)
		return;
	struct mt_perfmap map;
	if (mt_perfmap_parse(text, len, &map) == 0) {
		mt_perfmap_free(&j->map);
		j->map = map;
		j->size = size;
	}
	free(text);
	j->read_ns = mt_clock_ns();
	j->read_cost_ns = j->read_ns - now;
}

void mt_symbolizer_perfmap_changed(struct mt_symbolizer *s)
{
	s->jit.size = -1;
	s->jit.checked_ns = 0;
	s->jit.read_ns = 0;
}

/* ADDR in JIT code: in mt_sym_jit_memory (M, its mapping), or named by the perf
 * map (code unmapped since, M NULL, keeps its name). */
static bool resolve_jit(struct mt_symbolizer *s, uint64_t addr, const struct mt_map *m,
			struct mt_symbol *out)
{
	perfmap_update(s, false);
	const struct mt_perfmap_sym *sym = mt_perfmap_find(&s->jit.map, addr);
	if (!sym && mt_sym_jit_memory(m)) {
		perfmap_update(s, true);
		sym = mt_perfmap_find(&s->jit.map, addr);
	}
	if (!sym && !mt_sym_jit_memory(m))
		return false;
	copy_str(out->module, sizeof out->module, "[jit]");
	out->module_offset = m ? addr - m->start : 0;
	if (sym) {
		set_function(out->function, sizeof out->function, sym->name);
		out->offset = addr - sym->start;
	}
	return true;
}

/* --- lookup ---------------------------------------------------------- */

/* The ELF symbol and line-table answer for ADDR.  Returns the module (NULL
 * for JIT code and unknown addresses); *CACHEABLE is false for those.  *AT:
 * where the module has ADDR's code (ADDR but for text mapped twice), the
 * address to look up in its DWARF. */
static Dwfl_Module *resolve(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out,
			    bool *cacheable, uint64_t *at)
{
	memset(out, 0, sizeof *out);
	*cacheable = false;
	const struct mt_map *m = mt_sym_code_map(s, addr);
	Dwfl_Module *mod = mt_sym_code_module(s, m, addr, at);
	if (!mod && resolve_jit(s, addr, m, out))
		return NULL;
	if (!mod)
		return NULL;
	addr = *at;
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	*cacheable = true;

	Dwarf_Addr start = 0;
	const char *name = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL,
					    NULL, NULL);
	if (name && strncmp(name, "[vdso", 5) == 0)
		name = "[vdso]";       /* libdwfl names it "[vdso: PID]" */
	copy_str(out->module, sizeof out->module, name);
	size_t len = strlen(out->module), sl = strlen(DELETED_SUFFIX);
	if (len > sl && strcmp(out->module + len - sl, DELETED_SUFFIX) == 0)
		out->module[len - sl] = '\0';

	/* The load bias maps ELF addresses to runtime ones; without the
	 * file, the offset from the module's first mapping is all we have. */
	out->module_offset = elf ? addr - bias : addr - start;

	GElf_Off off = 0;
	GElf_Sym sym;
	const char *fn = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL,
					      NULL);
	if (fn) {
		set_symbol(out->function, sizeof out->function, fn);
		out->offset = off;
	}

	Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
	int lineno = 0;
	const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL,
						NULL) : NULL;
	if (file) {
		const char *dir = dwfl_line_comp_dir(line);
		if (file[0] != '/' && dir && dir[0])
			snprintf(out->file, sizeof out->file, "%s/%s", dir, file);
		else
			copy_str(out->file, sizeof out->file, file);
		out->line = lineno;
	}
	return mod;
}

static bool is_function(Dwarf_Die *die)
{
	int tag = dwarf_tag(die);
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

/* A function DIE's name: the linkage name (demangled) if it has one, else
 * DW_AT_name; either may sit on the abstract origin or specification. */
static void die_function(Dwarf_Die *die, char *dst, size_t size)
{
	Dwarf_Attribute a;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
	set_function(dst, size, name);
}

/* Where the inlined function DIE was called from: DW_AT_call_file (an
 * index into its CU's file table) and DW_AT_call_line.  FILE = "" and
 * *LINE = 0 when unknown. */
static void call_site(Dwarf_Die *die, char *file, size_t size, int *line)
{
	Dwarf_Attribute a;
	Dwarf_Word idx = 0, lineno = 0;
	file[0] = '\0';
	*line = 0;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &lineno) == 0)
		*line = (int)lineno;
	Dwarf_Die cu;
	Dwarf_Files *files;
	size_t nfiles;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &a), &idx) != 0 ||
	    !dwarf_diecu(die, &cu, NULL, NULL) ||
	    dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 || idx >= nfiles)
		return;
	const char *name = dwarf_filesrc(files, idx, NULL, NULL);
	if (!name)
		return;
	const char *dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &a));
	if (name[0] != '/' && dir && dir[0])
		snprintf(file, size, "%s/%s", dir, name);
	else
		copy_str(file, size, name);
}

/* The frames at ADDR into OUT (MAX_CHAIN of them): BASE (resolve's answer)
 * split by DWARF into the functions inlined at ADDR and the real one.
 * Offsets are from each function's entry pc. */
static int frames_at(Dwfl_Module *mod, uint64_t addr, const struct mt_symbol *base,
		     struct mt_frame *out)
{
	out[0] = (struct mt_frame){ .sym = *base };
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, addr, &bias) : NULL;
	Dwarf_Die *scopes = NULL, *chain = NULL;
	int n = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
	int k = 0;
	while (k < n && !is_function(&scopes[k]))
		k++;
	if (k >= n || dwarf_tag(&scopes[k]) != DW_TAG_inlined_subroutine) {
		/* Nothing inlined here: BASE says it all, but for the name of
		 * a function the symbol table lacks. */
		if (k < n && !base->function[0]) {
			die_function(&scopes[k], out[0].sym.function,
				     sizeof out[0].sym.function);
			Dwarf_Addr entry;
			if (dwarf_entrypc(&scopes[k], &entry) == 0)
				out[0].sym.offset = addr - bias - entry;
		}
		free(scopes);
		return 1;
	}
	/* dwarf_getscopes stops at the innermost function: past an inlined
	 * one it lists the scopes of its abstract definition, not its caller.
	 * dwarf_getscopes_die lists the scopes that physically contain it. */
	int nc = dwarf_getscopes_die(&scopes[k], &chain);
	free(scopes);

	int count = 0;
	Dwarf_Die *callee = NULL;     /* the last inlined function seen */
	bool real = false;
	for (int i = 0; i < nc && count < MAX_CHAIN - 1 && !real; i++) {
		Dwarf_Die *die = &chain[i];
		if (!is_function(die))
			continue;
		struct mt_frame *f = &out[count++];
		f->sym = *base;       /* module; the innermost frame's file:line */
		if (callee)
			call_site(callee, f->sym.file, sizeof f->sym.file, &f->sym.line);
		real = dwarf_tag(die) == DW_TAG_subprogram;
		f->inlined = !real;
		/* The real function keeps its ELF symbol's name and offset. */
		if (!real || !base->function[0]) {
			die_function(die, f->sym.function, sizeof f->sym.function);
			Dwarf_Addr entry;
			f->sym.offset = dwarf_entrypc(die, &entry) == 0 ? addr - bias - entry : 0;
		}
		callee = die;
	}
	if (!real && count > 0) {
		/* No subprogram above the inlined functions (or too many of
		 * them): the real function is the ELF symbol's, its line the
		 * outermost call site seen. */
		struct mt_frame *f = &out[count++];
		f->sym = *base;
		f->inlined = false;
		call_site(callee, f->sym.file, sizeof f->sym.file, &f->sym.line);
	}
	free(chain);
	return count > 0 ? count : 1;
}

/* --- functions without a symbol (stripped modules) -------------------- */

/* A stripped module keeps its .eh_frame and the .eh_frame_hdr table that
 * finds an FDE by address (unwinders need them), and every compiled
 * function has an FDE whose range starts at the function's entry (a GCC
 * ".cold" part has one of its own).  So a frame that no symbol names is
 * named after the start of the FDE covering ADDR:
 *
 *     postgres+0x5c7800     the module's file name, '+', the function's
 *                           ELF address (its module_offset) in hex
 *
 * with OFFSET = ADDR's distance from it, as for a symbol.  Every address
 * of the function gets the same name: --group-by function groups by it,
 * and --wrapper matches it (wrappers.h).  libdw says whether an FDE covers
 * ADDR (its frame state's range is a row of the FDE, not the FDE), the
 * table which FDE starts last before it (fdetab.h).  Both are in the
 * module itself: no debug file is searched for, nor downloaded. */
static bool fde_start(Elf *elf, uint64_t vaddr, uint64_t *start)
{
	size_t n = 0;
	if (elf_getphdrnum(elf, &n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_GNU_EH_FRAME)
			continue;
		Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
						   ELF_T_BYTE);
		return d && mt_fdetab_find(d->d_buf, d->d_size, ph.p_vaddr, vaddr, start) == 0;
	}
	return false;
}

static void name_from_cfi(Dwfl_Module *mod, uint64_t addr, struct mt_symbol *sym)
{
	if (!mod || sym->function[0] || sym->module[0] != '/')
		return;
	Dwarf_Addr bias, elf_bias;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
	Elf *elf = dwfl_module_getelf(mod, &elf_bias);
	Dwarf_Frame *frame = NULL;
	if (!cfi || !elf || bias != elf_bias || dwarf_cfi_addrframe(cfi, addr - bias, &frame) != 0)
		return;
	free(frame);
	uint64_t start;
	if (!fde_start(elf, addr - bias, &start))
		return;
	const char *base = strrchr(sym->module, '/');
	snprintf(sym->function, sizeof sym->function, "%s+0x%" PRIx64, base + 1, start);
	sym->offset = addr - bias - start;
}

/* --- public ---------------------------------------------------------- */

bool mt_symbolize_data(struct mt_symbolizer *s, uint64_t addr, struct mt_data_symbol *out)
{
	memset(out, 0, sizeof *out);
	if (!s || !s->dwfl)
		return false;
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	if (!mod)
		return false;
	Dwarf_Addr lo = 0, hi = 0;
	const char *mname = dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
	const char *base = mname ? strrchr(mname, '/') : NULL;
	copy_str(out->module, sizeof out->module, base ? base + 1 : mname ? mname : "");
	size_t len = strlen(out->module), sl = strlen(DELETED_SUFFIX);
	if (len > sl && strcmp(out->module + len - sl, DELETED_SUFFIX) == 0)
		out->module[len - sl] = '\0';
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	if (name && GELF_ST_TYPE(sym.st_info) == STT_OBJECT && off < sym.st_size) {
		set_symbol(out->name, sizeof out->name, name);
		out->lo = addr - off;
		out->hi = out->lo + sym.st_size;
		return true;
	}
	return out->module[0] != 0;
}

void mt_symbolize(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out)
{
	memset(out, 0, sizeof *out);
	if (!s)
		return;
	const struct mt_symbol *hit = cache_get(&s->syms, addr);
	if (hit) {
		*out = *hit;
		return;
	}
	bool cacheable;
	uint64_t at;
	Dwfl_Module *mod = resolve(s, addr, out, &cacheable, &at);
	name_from_cfi(mod, at, out);
	if (!cacheable)
		return;
	struct mt_symbol *copy = malloc(sizeof *copy);
	if (copy) {
		*copy = *out;
		cache_put(&s->syms, addr, copy);
	}
}

/* At most MAX of the N frames in SRC: the innermost MAX - 1 and the real
 * function, the last. */
static int copy_frames(const struct mt_frame *src, int n, struct mt_frame *out, int max)
{
	if (n <= max) {
		memcpy(out, src, (size_t)n * sizeof *out);
		return n;
	}
	memcpy(out, src, (size_t)(max - 1) * sizeof *out);
	out[max - 1] = src[n - 1];
	return max;
}

/* A Python frame (agent_abi.h's tagged pc): named from its code object in
 * the process (pyframes.c), module MT_PY_MODULE; pyframes.c keeps the
 * name it had when first named. */
static int python_frame(struct mt_symbolizer *s, uint64_t pc, struct mt_frame *out)
{
	memset(out, 0, sizeof *out);
	out->address = pc;
	snprintf(out->sym.module, sizeof out->sym.module, "%s", MT_PY_MODULE);
	out->sym.module_offset = pc >> 48 & MT_AGENT_PY_NOUNIT;
	if (!s->py)
		s->py = mt_pyframes_new(s->pid);
	if (!s->py)
		snprintf(out->sym.function, sizeof out->sym.function, "[python]");
	else
		mt_pyframes_name(s->py, pc, out->sym.function, sizeof out->sym.function,
				 out->sym.file, sizeof out->sym.file, &out->sym.line);
	return 1;
}

int mt_symbolizer_learn_python(struct mt_symbolizer *s, uint64_t pc)
{
	if (!s->py)
		s->py = mt_pyframes_new(s->pid);
	return s->py ? mt_pyframes_learn(s->py, pc) : -1;
}

int mt_symbolize_pc(struct mt_symbolizer *s, uint64_t pc, bool is_return,
		    struct mt_frame *out, int max)
{
	if (max < 1)
		return 0;
	if (!s) {
		memset(out, 0, sizeof *out);
		out->address = pc;
		return 1;
	}
	if (mt_pyframes_is_tagged(pc))
		return python_frame(s, pc, out);
	/* User-space pcs are below 2^63: room for the flag. */
	uint64_t key = pc << 1 | is_return;
	const struct chain *hit = cache_get(&s->chains, key);
	if (hit)
		return copy_frames(hit->f, hit->n, out, max);

	uint64_t addr = is_return ? pc - 1 : pc;
	struct mt_symbol base;
	bool cacheable;
	uint64_t at;
	Dwfl_Module *mod = resolve(s, addr, &base, &cacheable, &at);
	int n = frames_at(mod, at, &base, s->scratch);
	name_from_cfi(mod, at, &s->scratch[n - 1].sym);
	for (int i = 0; i < n; i++)
		s->scratch[i].address = pc;

	if (cacheable) {
		struct chain *c = malloc(sizeof *c + (size_t)n * sizeof c->f[0]);
		if (c) {
			c->n = n;
			memcpy(c->f, s->scratch, (size_t)n * sizeof c->f[0]);
			cache_put(&s->chains, key, c);
		}
	}
	return copy_frames(s->scratch, n, out, max);
}
