/* Allocator discovery: find the definitions of malloc & co that the target
 * really calls, the way the dynamic linker binds them.
 *
 * ld.so resolves a symbol by searching the global scope in order -- the
 * main executable, then LD_PRELOAD objects, then the DT_NEEDED tree
 * breadth first -- and takes the first object whose .dynsym DEFINES it
 * (st_shndx != SHN_UNDEF) as STT_FUNC/STT_GNU_IFUNC, GLOBAL or WEAK.  That
 * order is the link map, which we read from the target:
 *
 *   main executable's PT_DYNAMIC (runtime) --DT_DEBUG--> struct r_debug
 *     r_map --> link_map { l_addr, l_name, l_ld, l_next } --> ...
 *
 * l_addr is the load bias (0 for ET_EXEC), so an entry runs at
 * l_addr + st_value.  Each object's file is found through the mapping that
 * holds its l_ld (the path as /proc/PID/maps prints it, symlinks resolved),
 * and opened through /proc/PID/map_files, which works for deleted files and
 * other mount namespaces, or else /proc/PID/root/PATH.
 *
 * Special cases:
 *  - DT_DEBUG still 0 or r_map == 0 (a process stopped at its first
 *    instruction, before ld.so ran): the modules of /proc/PID/maps in map
 *    order, main executable first, biases from the mappings.  Only the
 *    executable and ld.so are mapped then, so this finds no allocator
 *    unless the executable has one; map order is not load order otherwise.
 *  - No PT_INTERP (static binary, static-pie): the executable alone,
 *    .dynsym and .symtab; stripped, it yields MT_E_NO_ALLOCATOR.
 *  - /proc/PID/exe is ld.so itself ("ld-linux-x86-64.so.2 ./prog"): it has
 *    no DT_DEBUG but exports _r_debug, which gives the same link map.
 *  - STT_GNU_IFUNC: st_value is the resolver, which runs once.  The entry
 *    that runs is read back from a GOT slot ld.so filled for that name
 *    (GLOB_DAT/JUMP_SLOT in any object, IRELATIVE in the defining one).
 *    An IFUNC whose GOT slots are not filled yet cannot be hooked.
 *
 * Several names at one address (glibc 2.36: memalign == aligned_alloc,
 * both (align, size)) become one hook; its fn is the first of them in
 * fn_pref[] below.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols/discover.h"
#include "util/clock.h"
#include "util/errors.h"
#include "target/maps.h"
#include "target/memio.h"

#define MAX_LINK_MAP 4096       /* guard against a corrupt l_next cycle */
#define MAX_DYNAMIC  (1u << 20) /* bytes of PT_DYNAMIC we are willing to read */

/* Which convention a hook with several names uses: the first name here
 * that it carries, else the first in enum order (C++ operators, then the
 * allocators' own names).  Aliased names must share argument conventions
 * for the alias to be valid C; where one reads a subset of another's
 * arguments (free vs free_sized) the simpler one comes first. */
static const enum mt_fn fn_pref[] = {
	MT_FN_MALLOC, MT_FN_FREE, MT_FN_CALLOC, MT_FN_REALLOC,
	MT_FN_REALLOCARRAY, MT_FN_MEMALIGN, MT_FN_ALIGNED_ALLOC,
	MT_FN_POSIX_MEMALIGN, MT_FN_VALLOC, MT_FN_PVALLOC, MT_FN_FREE_SIZED,
	MT_FN_FREE_ALIGNED_SIZED,
};

/* Allocation entries memtrace has no handler for, which a program may
 * bind to (fnmatch patterns, checked against the names the allocator's
 * module defines): the header names the ones it binds to (mimalloc's
 * mi_heap_malloc, jemalloc's xallocx, reallocf).  Size lookups allocate
 * nothing.  The C library's names are not matched: its strdup and the
 * like allocate through its malloc, which is hooked. */
static const char *const unhooked_like[] = {
	"_Zn[wa]*", "_Zd[la]*", "mi_*alloc*", "mi_*new*", "mi_*dup*", "mi_*realpath",
	"mi_*expand", "tc_*alloc*", "tc_*new*", "tc_*delete*", "tc_*free*", "*allocx",
	"smallocx*", "reallocf", "reallocarr",
};
static const char *const not_alloc[] = {
	"*usable_size*", "*good_size*", "*malloc_size", "*nallocx", "sallocx",
	"*malloc_stats*", "mi_heap_new*",
};

/* libstdc++'s and libc++'s operator new and delete call malloc and free,
 * which are hooked: hooking them too would only cost a second trampoline
 * per call.  An allocator library's or the program's own are hooked. */
static bool forwards_to_malloc(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "libstdc++.so", 12) == 0 || strncmp(base, "libc++.so", 9) == 0 ||
	       strncmp(base, "libc++abi.so", 12) == 0;
}

/* One object to search, in lookup order. */
struct module {
	const struct mt_map *map;  /* a mapping of its file: path, map_files */
	uint64_t bias;             /* l_addr */
	bool bias_known;           /* else computed from map and PT_LOADs */
	bool symtab;               /* a static executable: .symtab too */
};

struct found {
	bool defined;              /* a definition was seen; later ones lose */
	bool hookable;             /* addr, file_offset, orig are valid */
	bool ifunc;
	size_t module;
	uint64_t vaddr;            /* st_value: the resolver for an IFUNC */
	uint64_t addr;
	uint64_t file_offset;
	unsigned char orig[MT_MAX_ORIG];
};

struct ctx {
	pid_t pid;
	struct mt_maps maps;
	const struct mt_map *exe_map;  /* mapping holding AT_ENTRY */
	struct module *mods;
	size_t nmods, capmods;
	struct found found[MT_FN__COUNT];
	/* an undefined dynamic symbol of some module names it: the program
	 * binds to it (an allocator's own API is hooked only then) */
	bool bound[MT_FN__COUNT];
	bool all_ext;              /* hook every allocator API defined */
	/* names the unhooked_like patterns match that some module binds to */
	char (*wanted)[64];
	size_t nwanted;
};

struct elf_file {
	int fd;
	Elf *elf;
};

static void elf_file_close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

/* Open PATH as a regular 64-bit ELF file.  0 or -errno. */
static int elf_file_open(const char *path, struct elf_file *f)
{
	struct stat st;
	f->fd = -1;
	f->elf = NULL;
	/* stat first: a device mapping must not be opened (side effects). */
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	f->elf = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF ||
	    gelf_getclass(f->elf) != ELFCLASS64) {
		elf_file_close(f);
		return -ENOEXEC;
	}
	return 0;
}

/* Open the file behind MAP: /proc/PID/map_files/START-END is exactly the
 * mapped file, even deleted or in another mount namespace, but opening it
 * needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN.  /proc/PID/exe is exact
 * for the executable.  /proc/PID/root/PATH is right unless the file was
 * replaced, so it is not used for deleted files. */
static int open_mapped(const struct ctx *c, const struct mt_map *map,
		       struct elf_file *f)
{
	char path[PATH_MAX + 64];
	int err;

	snprintf(path, sizeof path, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 (int)c->pid, map->start, map->end);
	err = elf_file_open(path, f);
	if (err == 0)
		return 0;
	if (c->exe_map && map->path && c->exe_map->path &&
	    strcmp(map->path, c->exe_map->path) == 0) {
		snprintf(path, sizeof path, "/proc/%d/exe", (int)c->pid);
		err = elf_file_open(path, f);
		if (err == 0)
			return 0;
	}
	if (map->deleted || !map->path || map->path[0] != '/')
		return err;
	snprintf(path, sizeof path, "/proc/%d/root%s", (int)c->pid, map->path);
	return elf_file_open(path, f);
}

static bool get_phdr(Elf *elf, size_t i, GElf_Phdr *ph)
{
	return gelf_getphdr(elf, (int)i, ph) != NULL;
}

static size_t phnum(Elf *elf)
{
	size_t n = 0;
	if (elf_getphdrnum(elf, &n) != 0)
		return 0;
	return n;
}

static bool find_phdr(Elf *elf, Elf64_Word type, GElf_Phdr *out)
{
	for (size_t i = 0, n = phnum(elf); i < n; i++)
		if (get_phdr(elf, i, out) && out->p_type == type)
			return true;
	return false;
}

/* File offset of VADDR through the PT_LOAD headers. */
static bool vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	GElf_Phdr ph;
	for (size_t i = 0, n = phnum(elf); i < n; i++) {
		if (!get_phdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz) {
			*off = ph.p_offset + (vaddr - ph.p_vaddr);
			return true;
		}
	}
	return false;
}

/* Load bias from one mapping of the file: the mapping at file offset
 * trunc(p_offset) starts at bias + trunc(p_vaddr). */
static bool bias_from_map(Elf *elf, const struct mt_map *map, uint64_t *bias)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	GElf_Phdr ph;
	for (size_t i = 0, n = phnum(elf); i < n; i++) {
		if (!get_phdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if ((ph.p_offset & ~(pg - 1)) == map->offset) {
			*bias = map->start - (ph.p_vaddr & ~(pg - 1));
			return true;
		}
	}
	return false;
}

/* Calls FN(ctx, name, sym, versym_hidden) for every symbol of every
 * section of TYPE (SHT_DYNSYM or SHT_SYMTAB). */
typedef void sym_cb(void *arg, const char *name, const GElf_Sym *sym,
		    bool hidden_version);

static void for_each_symbol(Elf *elf, Elf64_Word type, sym_cb *fn, void *arg)
{
	Elf_Scn *scn = NULL, *versym_scn = NULL;
	GElf_Shdr sh;

	/* .gnu.version is parallel to .dynsym; a hidden (non-default)
	 * version only binds references that ask for it by name. */
	if (type == SHT_DYNSYM)
		while ((scn = elf_nextscn(elf, scn)) != NULL)
			if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym)
				versym_scn = scn;

	scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type ||
		    sh.sh_entsize == 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		Elf_Data *vdata = NULL;
		if (versym_scn) {
			GElf_Shdr vsh;
			if (gelf_getshdr(versym_scn, &vsh) &&
			    vsh.sh_link == elf_ndxscn(scn))
				vdata = elf_getdata(versym_scn, NULL);
		}
		size_t n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 1; i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym))
				break;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			GElf_Versym vs = 0;
			if (vdata && !gelf_getversym(vdata, (int)i, &vs))
				vs = 0;
			fn(arg, name, &sym, (vs & 0x8000) != 0);
		}
	}
}

struct search_arg {
	struct ctx *c;
	size_t module;
	bool found_any;
	bool count_locals;
	/* STB_LOCAL definitions per name, when count_locals */
	int nlocal[MT_FN__COUNT];
	GElf_Sym local[MT_FN__COUNT];
};

static bool matches_any(const char *name, const char *const *pat, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(pat[i], name, 0) == 0)
			return true;
	return false;
}

#define MAX_WANTED 64

/* NAME, undefined in some module, may be an allocation entry memtrace has
 * no handler for: kept to be looked up in the allocator's module. */
static void want_unhooked(struct ctx *c, const char *name)
{
	if (!matches_any(name, unhooked_like, sizeof unhooked_like / sizeof unhooked_like[0]) ||
	    matches_any(name, not_alloc, sizeof not_alloc / sizeof not_alloc[0]) ||
	    strlen(name) >= sizeof c->wanted[0])
		return;
	for (size_t i = 0; i < c->nwanted; i++)
		if (strcmp(c->wanted[i], name) == 0)
			return;
	if (!c->wanted)
		c->wanted = calloc(MAX_WANTED, sizeof *c->wanted);
	if (!c->wanted || c->nwanted == MAX_WANTED)
		return;   /* bounded: the header names the first ones */
	snprintf(c->wanted[c->nwanted++], sizeof c->wanted[0], "%s", name);
}

static void define(struct search_arg *a, enum mt_fn fn, const GElf_Sym *sym)
{
	struct found *f = &a->c->found[fn];
	if (f->defined)
		return;
	f->defined = true;
	f->ifunc = GELF_ST_TYPE(sym->st_info) == STT_GNU_IFUNC;
	f->module = a->module;
	f->vaddr = sym->st_value;
	a->found_any = true;
}

static void collect_definition(void *arg, const char *name,
			       const GElf_Sym *sym, bool hidden_version)
{
	struct search_arg *a = arg;
	enum mt_fn fn = mt_fn_from_name(name);
	if (sym->st_shndx == SHN_UNDEF) {
		if (fn != MT_FN__COUNT)
			a->c->bound[fn] = true;
		else
			want_unhooked(a->c, name);
		return;
	}
	if (fn == MT_FN__COUNT || hidden_version)
		return;
	int type = GELF_ST_TYPE(sym->st_info);
	int bind = GELF_ST_BIND(sym->st_info);
	if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0 ||
	    (type != STT_FUNC && type != STT_GNU_IFUNC))
		return;
	if (bind == STB_GLOBAL || bind == STB_WEAK) {
		define(a, fn, sym);
	} else if (bind == STB_LOCAL && a->count_locals) {
		a->nlocal[fn]++;
		a->local[fn] = *sym;
	}
}

/* A static executable's .symtab: GLOBAL/WEAK definitions first.  glibc's
 * libc.a defines malloc GLOBAL HIDDEN, and a static-pie link turns hidden
 * globals into LOCALs ("t malloc" in nm), so a name with no global
 * definition takes its LOCAL one -- if there is exactly one. */
static void search_static_symtab(Elf *elf, struct search_arg *a)
{
	a->count_locals = true;
	for_each_symbol(elf, SHT_SYMTAB, collect_definition, a);
	for (int fn = 0; fn < MT_FN__COUNT; fn++)
		if (a->nlocal[fn] == 1)
			define(a, (enum mt_fn)fn, &a->local[fn]);
}

/* Where VADDR's entry is in the file, and its first bytes. */
static int fill_code(const struct elf_file *ef, uint64_t vaddr,
		     struct found *f)
{
	uint64_t off;
	if (!vaddr_to_offset(ef->elf, vaddr, &off))
		return -ENOEXEC;
	ssize_t n = pread(ef->fd, f->orig, sizeof f->orig, (off_t)off);
	if (n != (ssize_t)sizeof f->orig)
		return n < 0 ? -errno : -EIO;
	f->file_offset = off;
	return 0;
}

/* Open module I (computing its bias if the link map did not give one). */
static int open_module(struct ctx *c, size_t i, struct elf_file *ef)
{
	struct module *m = &c->mods[i];
	int err = open_mapped(c, m->map, ef);
	if (err < 0)
		return err;
	if (!m->bias_known) {
		if (!bias_from_map(ef->elf, m->map, &m->bias)) {
			elf_file_close(ef);
			return -ENOEXEC;
		}
		m->bias_known = true;
	}
	return 0;
}

/* Search module I for definitions not yet found. */
static int search_module(struct ctx *c, size_t i)
{
	struct elf_file ef;
	int err = open_module(c, i, &ef);
	if (err < 0)
		return err;

	struct search_arg a = { .c = c, .module = i };
	for_each_symbol(ef.elf, SHT_DYNSYM, collect_definition, &a);
	if (c->mods[i].symtab)
		search_static_symtab(ef.elf, &a);

	bool forwards = forwards_to_malloc(c->mods[i].map->path);
	for (int fn = 0; a.found_any && fn < MT_FN__COUNT; fn++) {
		struct found *f = &c->found[fn];
		if (!f->defined || f->module != i || f->ifunc)
			continue;
		if (c->mods[i].symtab)
			c->bound[fn] = true;   /* a static program calls it directly */
		if (forwards && mt_fn_family((enum mt_fn)fn) == MT_FAM_CXX)
			continue;   /* defined here, so bound here: not hooked */
		if (fill_code(&ef, f->vaddr, f) == 0) {
			f->addr = c->mods[i].bias + f->vaddr;
			f->hookable = true;
		}
	}
	elf_file_close(&ef);
	return 0;
}

static enum mt_err add_module(struct ctx *c, const struct mt_map *map, uint64_t bias,
			      bool bias_known, bool symtab)
{
	for (size_t i = 0; i < c->nmods; i++)
		if (strcmp(c->mods[i].map->path, map->path) == 0)
			return 0;     /* the same file twice: first one counts */
	if (c->nmods == c->capmods) {
		size_t ncap = c->capmods ? 2 * c->capmods : 32;
		struct module *v = realloc(c->mods, ncap * sizeof *v);
		if (!v)
			return MT_E_INTERNAL;
		c->mods = v;
		c->capmods = ncap;
	}
	c->mods[c->nmods] = (struct module){
		.map = map, .bias = bias, .bias_known = bias_known,
		.symtab = symtab,
	};
	c->nmods++;
	return 0;
}

/* First mapping of PATH (the lowest address). */
static const struct mt_map *map_of_path(const struct ctx *c, const char *path)
{
	for (size_t i = 0; i < c->maps.n; i++)
		if (c->maps.v[i].path && strcmp(c->maps.v[i].path, path) == 0)
			return &c->maps.v[i];
	return NULL;
}

static bool is_file_map(const struct mt_map *m)
{
	return m && m->path && m->path[0] == '/';
}

/* Read a NUL-terminated string without crossing into an unmapped page. */
static int read_string(pid_t pid, uint64_t addr, char *buf, size_t size)
{
	size_t len = 0;
	while (len + 1 < size) {
		size_t chunk = 4096 - (size_t)((addr + len) & 4095);
		if (chunk > size - 1 - len)
			chunk = size - 1 - len;
		int err = mt_mem_read(pid, addr + len, buf + len, chunk);
		if (err < 0)
			return err;
		void *nul = memchr(buf + len, '\0', chunk);
		if (nul)
			return 0;
		len += chunk;
	}
	buf[len] = '\0';
	return 0;
}

/* Modules from the link map.  MT_E_OK with *LINKED false when the link map
 * is not set up yet, or the error. */
static enum mt_err modules_from_link_map(struct ctx *c, uint64_t r_debug_addr, bool *linked)
{
	struct r_debug rd;
	*linked = false;
	int err = mt_mem_read(c->pid, r_debug_addr, &rd, sizeof rd);
	if (err < 0)
		return err == -EFAULT || err == -EIO ? MT_E_OK : mt_err_from_errno(err);
	if (rd.r_version == 0 || rd.r_map == NULL)
		return MT_E_OK;

	uint64_t lm_addr = (uint64_t)(uintptr_t)rd.r_map;
	for (int n = 0; lm_addr && n < MAX_LINK_MAP; n++) {
		struct link_map lm;
		err = mt_mem_read(c->pid, lm_addr, &lm, sizeof lm);
		if (err < 0) {
			*linked = c->nmods != 0;
			return err == -EFAULT || err == -EIO ? MT_E_OK : mt_err_from_errno(err);
		}
		/* l_ld lies in the object's own data mapping; the vdso's lies
		 * in [vdso], which has no file and defines no allocator. */
		const struct mt_map *map =
			mt_maps_find(&c->maps, (uint64_t)(uintptr_t)lm.l_ld);
		if (!is_file_map(map) && lm.l_name) {
			char name[PATH_MAX];
			if (read_string(c->pid, (uint64_t)(uintptr_t)lm.l_name,
					name, sizeof name) == 0 && name[0] == '/')
				map = map_of_path(c, name);
		}
		if (is_file_map(map)) {
			enum mt_err e = add_module(c, map, (uint64_t)lm.l_addr, true, false);
			if (e != MT_E_OK)
				return e;
		}
		lm_addr = (uint64_t)(uintptr_t)lm.l_next;
	}
	*linked = true;
	return MT_E_OK;
}

/* Before ld.so has run: every executable file mapping, in map order, main
 * executable first.  The biases come from the mappings. */
static enum mt_err modules_from_maps(struct ctx *c, uint64_t exe_bias)
{
	enum mt_err err = add_module(c, map_of_path(c, c->exe_map->path), exe_bias, true,
			     false);
	for (size_t i = 0; err == MT_E_OK && i < c->maps.n; i++) {
		const struct mt_map *m = &c->maps.v[i];
		if (m->x && is_file_map(m))
			err = add_module(c, map_of_path(c, m->path), 0, false, false);
	}
	return err;
}

/* Every file mapped executable, in map order, biases from the mappings. */
static enum mt_err modules_from_maps_all(struct ctx *c)
{
	enum mt_err err = MT_E_OK;
	for (size_t i = 0; err == MT_E_OK && i < c->maps.n; i++) {
		const struct mt_map *m = &c->maps.v[i];
		if (m->x && is_file_map(m))
			err = add_module(c, map_of_path(c, m->path), 0, false, false);
	}
	return err;
}

struct rdebug_sym_arg {
	uint64_t value;
};

static void find_r_debug_sym(void *arg, const char *name, const GElf_Sym *sym,
			     bool hidden_version)
{
	struct rdebug_sym_arg *a = arg;
	if (sym->st_shndx != SHN_UNDEF && strcmp(name, "_r_debug") == 0)
		a->value = sym->st_value;
}

/* The r_debug address: DT_DEBUG of the running executable, read from
 * memory since ld.so fills it in at startup (0 until then); or, when the
 * executable is ld.so itself (*IS_RTLD), its exported _r_debug. */
static enum mt_err find_r_debug(struct ctx *c, Elf *exe, uint64_t bias,
				uint64_t *r_debug_addr, bool *is_rtld)
{
	struct rdebug_sym_arg a = { 0 };
	GElf_Phdr dyn;

	*r_debug_addr = 0;
	for_each_symbol(exe, SHT_DYNSYM, find_r_debug_sym, &a);
	*is_rtld = a.value != 0;
	if (*is_rtld) {
		*r_debug_addr = bias + a.value;
		return 0;
	}
	if (!find_phdr(exe, PT_DYNAMIC, &dyn) || dyn.p_memsz == 0)
		return 0;
	size_t len = dyn.p_memsz < MAX_DYNAMIC ? dyn.p_memsz : MAX_DYNAMIC;
	Elf64_Dyn *d = malloc(len);
	if (!d)
		return MT_E_INTERNAL;
	int err = mt_mem_read(c->pid, bias + dyn.p_vaddr, d, len);
	if (err < 0) {
		free(d);
		return mt_err_from_errno(err);
	}
	for (size_t i = 0; i < len / sizeof *d && d[i].d_tag != DT_NULL; i++)
		if (d[i].d_tag == DT_DEBUG)
			*r_debug_addr = d[i].d_un.d_ptr;
	free(d);
	return 0;
}

/* AT_ENTRY from /proc/PID/auxv. */
static enum mt_err read_entry(pid_t pid, uint64_t *entry)
{
	char path[64];
	Elf64_auxv_t av[128];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mt_err_from_errno(-errno);
	ssize_t n = read(fd, av, sizeof av);
	int e = errno;
	close(fd);
	if (n < 0)
		return mt_err_from_errno(-e);
	for (size_t i = 0; i < (size_t)n / sizeof av[0] && av[i].a_type != AT_NULL; i++)
		if (av[i].a_type == AT_ENTRY) {
			*entry = av[i].a_un.a_val;
			return 0;
		}
	return MT_E_NOT_TRACEABLE;   /* no auxv: a kernel thread */
}

/* Is V a plausible IFUNC target in module I: executable code of the same
 * file, not the resolver, not a PLT stub (an unresolved lazy slot points
 * back into the PLT). */
static bool ifunc_target_ok(const struct ctx *c, Elf *elf, size_t i,
			    uint64_t v, uint64_t resolver)
{
	const struct mt_map *m = mt_maps_find(&c->maps, v);
	if (!m || !m->x || !m->path ||
	    strcmp(m->path, c->mods[i].map->path) != 0 || v == resolver)
		return false;
	uint64_t vaddr = v - c->mods[i].bias;
	size_t shstrndx;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return true;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && strncmp(name, ".plt", 4) == 0 &&
		    vaddr >= sh.sh_addr && vaddr - sh.sh_addr < sh.sh_size)
			return false;
	}
	return true;
}

/* Scan module J's RELA sections for a GOT slot ld.so filled for FN's
 * IFUNC (defined in module F->module, opened as DEF). */
static bool ifunc_from_relocs(const struct ctx *c, Elf *elf, size_t j,
			      enum mt_fn fn, const struct found *f, Elf *def,
			      uint64_t *target)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	uint64_t resolver = c->mods[f->module].bias + f->vaddr;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA ||
		    sh.sh_entsize == 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		Elf_Scn *symscn = elf_getscn(elf, sh.sh_link);
		GElf_Shdr symsh;
		Elf_Data *syms = NULL;
		if (symscn && gelf_getshdr(symscn, &symsh) &&
		    (symsh.sh_type == SHT_DYNSYM || symsh.sh_type == SHT_SYMTAB))
			syms = elf_getdata(symscn, NULL);
		for (size_t k = 0; data && k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Rela r;
			if (!gelf_getrela(data, (int)k, &r))
				break;
			unsigned type = (unsigned)GELF_R_TYPE(r.r_info);
			size_t symi = GELF_R_SYM(r.r_info);
			bool match = false;
			if (type == R_X86_64_IRELATIVE)
				match = j == f->module && (uint64_t)r.r_addend == f->vaddr;
			else if ((type == R_X86_64_GLOB_DAT ||
				  type == R_X86_64_JUMP_SLOT ||
				  (type == R_X86_64_64 && r.r_addend == 0)) &&
				 symi != 0 && syms) {
				GElf_Sym s;
				const char *name = gelf_getsym(syms, (int)symi, &s)
					? elf_strptr(elf, symsh.sh_link, s.st_name) : NULL;
				match = name && strcmp(name, mt_fn_name(fn)) == 0;
			}
			if (!match)
				continue;
			uint64_t v;
			if (mt_mem_read(c->pid, c->mods[j].bias + r.r_offset,
					&v, sizeof v) == 0 &&
			    ifunc_target_ok(c, def, f->module, v, resolver)) {
				*target = v;
				return true;
			}
		}
	}
	return false;
}

static void resolve_ifunc(struct ctx *c, enum mt_fn fn)
{
	struct found *f = &c->found[fn];
	struct elf_file def;
	if (open_module(c, f->module, &def) < 0)
		return;
	for (size_t j = 0; j < c->nmods && !f->hookable; j++) {
		struct elf_file ef;
		bool same = j == f->module;
		if (!same && open_module(c, j, &ef) < 0)
			continue;
		uint64_t v;
		if (ifunc_from_relocs(c, same ? def.elf : ef.elf, j, fn, f,
				      def.elf, &v) &&
		    fill_code(&def, v - c->mods[f->module].bias, f) == 0) {
			f->addr = v;
			f->hookable = true;
		}
		if (!same)
			elf_file_close(&ef);
	}
	elf_file_close(&def);
}

static int cmp_hook(const void *a, const void *b)
{
	const struct mt_hook_spec *x = a, *y = b;
	return (int)x->fn - (int)y->fn;
}

static int pref_rank(enum mt_fn fn)
{
	for (size_t p = 0; p < sizeof fn_pref / sizeof fn_pref[0]; p++)
		if (fn_pref[p] == fn)
			return (int)p;
	return (int)(sizeof fn_pref / sizeof fn_pref[0]) + (int)fn;
}

static struct mt_hook_spec *hook_at(struct mt_alloc_set *out, uint64_t addr)
{
	for (int k = 0; k < out->n; k++)
		if (out->hooks[k].addr == addr)
			return &out->hooks[k];
	return NULL;
}

/* Add NAME to OUT's comma-separated list of entries the program binds to
 * unhooked, once.  A name that does not fit is left out. */
static void note_unhooked(struct mt_alloc_set *out, const char *name)
{
	size_t n = strlen(out->unhooked), len = strlen(name);
	for (const char *p = out->unhooked; *p; p += strcspn(p, ","), p += *p == ',')
		if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == 0))
			return;
	if (n + (n ? 1 : 0) + len < sizeof out->unhooked)
		snprintf(out->unhooked + n, sizeof out->unhooked - n, "%s%s", n ? "," : "", name);
}

/* The entry of throwing operator new FN's nothrow form, defined in the
 * same module; 0 if there is none.  Traced calls go through it (allocfn.h
 * MT_ABI_NEW1), so it must make the same allocation: the module's own
 * does (libstdc++'s calls the throwing one inside a try block, which is
 * hooked then nested, and its exception is caught there); another
 * module's is another allocator's. */
static uint64_t nothrow_of(const struct ctx *c, enum mt_fn fn)
{
	enum mt_fn alt = mt_fn_nothrow(fn);
	if (alt == MT_FN__COUNT || !c->found[alt].hookable ||
	    c->found[alt].module != c->found[fn].module)
		return 0;
	return c->found[alt].addr;
}

/* Whether found FN is hooked: the C names and CPython's (PyObject_Malloc
 * & co: where defined, the program is a Python) always; a throwing operator new
 * where its nothrow form is beside it; an allocator's own API where bound,
 * or at an address hooked already (an alias costs nothing). */
static bool wanted_fn(const struct ctx *c, struct mt_alloc_set *out, enum mt_fn fn)
{
	const struct found *f = &c->found[fn];
	if (mt_fn_family(fn) == MT_FAM_PYTAB)
		return false;   /* reached through CPython's tables (inj_pytab.c) */
	if (mt_fn_nothrow(fn) != MT_FN__COUNT && !nothrow_of(c, fn))
		return false;
	if (mt_fn_family(fn) != MT_FAM_EXT)
		return true;
	return c->all_ext || c->bound[fn] || hook_at(out, f->addr) != NULL;
}

/* Add the hookable definitions found to OUT, one hook per address: the C
 * names, the C++ operators, then the allocators' own names (aliases of the
 * first ones join their hooks). */
static enum mt_err append_found(struct ctx *c, struct mt_alloc_set *out)
{
	for (int pass = 0; pass < 2; pass++)
	for (int fn = 0; fn < MT_FN__COUNT; fn++) {
		const struct found *f = &c->found[fn];
		if (!f->hookable || (mt_fn_family((enum mt_fn)fn) == MT_FAM_EXT) != (pass == 1))
			continue;
		if (!wanted_fn(c, out, (enum mt_fn)fn)) {
			/* An allocator's throwing new without its nothrow form:
			 * its blocks are not seen.  (The program's own operator
			 * new may well call malloc: not said.) */
			if (mt_fn_nothrow((enum mt_fn)fn) != MT_FN__COUNT &&
			    c->found[MT_FN_MALLOC].defined &&
			    c->found[MT_FN_MALLOC].module == f->module)
				note_unhooked(out, mt_fn_name((enum mt_fn)fn));
			continue;
		}
		struct mt_hook_spec *h = hook_at(out, f->addr);
		if (!h) {
			if (out->n == MT_MAX_HOOKS) {
				note_unhooked(out, mt_fn_name((enum mt_fn)fn));
				continue;
			}
			h = &out->hooks[out->n++];
			h->addr = f->addr;
			h->file_offset = f->file_offset;
			memcpy(h->orig, f->orig, sizeof h->orig);
			snprintf(h->module, sizeof h->module, "%s",
				 c->mods[f->module].map->path);
		}
		mt_fn_set_add(&h->fn_mask, (enum mt_fn)fn);
		if (!h->nothrow_addr)
			h->nothrow_addr = nothrow_of(c, (enum mt_fn)fn);
	}
	for (int k = 0; k < out->n; k++) {
		struct mt_hook_spec *h = &out->hooks[k];
		int best = -1;
		for (int fn = 0; fn < MT_FN__COUNT; fn++)
			if (mt_fn_set_has(&h->fn_mask, (enum mt_fn)fn) &&
			    (best < 0 || pref_rank((enum mt_fn)fn) < pref_rank((enum mt_fn)best)))
				best = fn;
		h->fn = (enum mt_fn)best;
		snprintf(h->symbol, sizeof h->symbol, "%s", mt_fn_name(h->fn));
	}
	qsort(out->hooks, (size_t)out->n, sizeof out->hooks[0], cmp_hook);
	return 0;
}

struct unhooked_arg {
	const struct ctx *c;
	struct mt_alloc_set *out;
	uint64_t bias;
};

static void check_unhooked(void *arg, const char *name, const GElf_Sym *sym,
			   bool hidden_version)
{
	struct unhooked_arg *a = arg;
	int type = GELF_ST_TYPE(sym->st_info);
	if (sym->st_shndx == SHN_UNDEF || hidden_version || sym->st_value == 0 ||
	    (type != STT_FUNC && type != STT_GNU_IFUNC))
		return;
	for (size_t i = 0; i < a->c->nwanted; i++)
		if (strcmp(a->c->wanted[i], name) == 0 &&
		    !hook_at(a->out, a->bias + sym->st_value))
			note_unhooked(a->out, name);
}

/* The names some module binds to that the allocator's module (MOD)
 * defines as allocation entries memtrace has no handler for, at an
 * address no hook serves (an alias of a hooked entry is seen). */
static void find_unhooked(struct ctx *c, size_t mod, struct mt_alloc_set *out)
{
	struct elf_file ef;
	if (!c->nwanted || open_module(c, mod, &ef) < 0)
		return;
	struct unhooked_arg a = { .c = c, .out = out, .bias = c->mods[mod].bias };
	for_each_symbol(ef.elf, SHT_DYNSYM, check_unhooked, &a);
	elf_file_close(&ef);
}

static enum mt_err build_result(struct ctx *c, struct mt_alloc_set *out)
{
	if (!c->found[MT_FN_MALLOC].hookable || !c->found[MT_FN_FREE].hookable)
		return MT_E_NO_ALLOCATOR;
	enum mt_err err = append_found(c, out);
	if (err != MT_E_OK)
		return err;
	find_unhooked(c, c->found[MT_FN_MALLOC].module, out);
	snprintf(out->allocator, sizeof out->allocator, "%s",
		 c->mods[c->found[MT_FN_MALLOC].module].map->path);
	return 0;
}

enum mt_err mt_discover_module_allocators(pid_t pid, const char *path,
					  struct mt_alloc_set *out)
{
	/* dlsym() may reach an allocator's own API here: all of it */
	struct ctx c = { .pid = pid, .all_ext = true };
	memset(out, 0, sizeof *out);
	int rc = mt_maps_read(pid, &c.maps);
	if (rc < 0)
		return rc == -ENOENT || rc == -ESRCH ? MT_E_NO_PROCESS : mt_err_from_errno(rc);
	const struct mt_map *map = map_of_path(&c, path);
	enum mt_err err = map ? add_module(&c, map, 0, false, false) : MT_E_NO_ALLOCATOR;
	if (err == MT_E_OK)
		err = search_module(&c, 0) < 0 ? MT_E_NO_ALLOCATOR : MT_E_OK;
	if (err == MT_E_OK) {
		for (int fn = 0; fn < MT_FN__COUNT; fn++)
			if (c.found[fn].defined && c.found[fn].ifunc)
				resolve_ifunc(&c, (enum mt_fn)fn);
		err = append_found(&c, out);
	}
	if (err != MT_E_OK)
		memset(out, 0, sizeof *out);
	free(c.mods);
	free(c.wanted);
	mt_maps_free(&c.maps);
	return err;
}

enum mt_err mt_discover_check_arch(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	elf_version(EV_CURRENT);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(path, sizeof path, "/proc/%d", (int)pid);
		if (e == ENOENT)   /* no exe: a kernel thread or a zombie */
			return access(path, F_OK) == 0 ? MT_E_NOT_TRACEABLE
						       : MT_E_NO_PROCESS;
		return e == EACCES || e == EPERM ? MT_E_PERMISSION : MT_E_IO;
	}
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	enum mt_err ret = MT_E_OK;
	GElf_Ehdr eh;
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		ret = MT_E_UNSUPPORTED_ARCH;
	else if (gelf_getclass(elf) != ELFCLASS64 || eh.e_machine != EM_X86_64)
		ret = MT_E_UNSUPPORTED_ARCH;   /* i386, x32, or a foreign binary */
	if (elf)
		elf_end(elf);
	close(fd);
	return ret;
}

enum mt_err mt_discover_allocators(pid_t pid, struct mt_alloc_set *out)
{
	return mt_discover_allocators_progress(pid, out, NULL);
}

enum mt_err mt_discover_allocators_progress(pid_t pid, struct mt_alloc_set *out,
					    struct mt_progress *progress)
{
	struct ctx c = { .pid = pid };
	struct elf_file exe = { -1, NULL };
	uint64_t entry = 0, exe_bias = 0, r_debug_addr = 0;
	GElf_Ehdr eh;
	GElf_Phdr ph;

	memset(out, 0, sizeof *out);
	enum mt_err err = mt_discover_check_arch(pid);
	if (err != MT_E_OK)
		return err;
	int rc = mt_maps_read(pid, &c.maps);
	if (rc < 0)
		return rc == -ENOENT || rc == -ESRCH ? MT_E_NO_PROCESS
						     : mt_err_from_errno(rc);
	err = read_entry(pid, &entry);
	if (err != MT_E_OK)
		goto out;

	/* The mapping holding AT_ENTRY is the executable the kernel loaded
	 * (ld.so itself when it was run as a program). */
	c.exe_map = mt_maps_find(&c.maps, entry);
	if (!is_file_map(c.exe_map)) {
		err = MT_E_NOT_TRACEABLE;
		goto out;
	}
	rc = open_mapped(&c, c.exe_map, &exe);
	if (rc < 0) {
		err = rc == -ENOEXEC ? MT_E_UNSUPPORTED_ARCH : mt_err_from_errno(rc);
		goto out;
	}
	if (!gelf_getehdr(exe.elf, &eh)) {
		err = MT_E_IO;
		goto out;
	}
	exe_bias = entry - eh.e_entry;
	bool is_rtld;
	err = find_r_debug(&c, exe.elf, exe_bias, &r_debug_addr, &is_rtld);
	if (err != MT_E_OK)
		goto out;

	if (!find_phdr(exe.elf, PT_INTERP, &ph) && !is_rtld) {
		/* Static (static-pie too, even if it has DT_DEBUG): nothing
		 * else is bound at load time; the executable alone. */
		err = add_module(&c, c.exe_map, exe_bias, true, true);
	} else {
		bool linked = false;
		err = r_debug_addr ? modules_from_link_map(&c, r_debug_addr, &linked) : MT_E_OK;
		if (err == MT_E_OK && !linked) {
			c.nmods = 0;
			err = modules_from_maps(&c, exe_bias);
		}
	}
	if (err != MT_E_OK)
		goto out;

	/* A library we cannot open is skipped; the executable must open. */
	for (size_t i = 0; i < c.nmods; i++) {
		mt_progress_update(progress, mt_clock_s(), "reading modules", i + 1, c.nmods, NULL);
		rc = search_module(&c, i);
		if (rc < 0 && i == 0) {
			err = rc == -ENOEXEC ? MT_E_NO_ALLOCATOR : mt_err_from_errno(rc);
			goto out;
		}
	}
	for (int fn = 0; fn < MT_FN__COUNT; fn++)
		if (c.found[fn].defined && c.found[fn].ifunc)
			resolve_ifunc(&c, (enum mt_fn)fn);
	err = build_result(&c, out);

out:
	mt_progress_end(progress);
	if (err != MT_E_OK)
		memset(out, 0, sizeof *out);
	elf_file_close(&exe);
	free(c.mods);
	free(c.wanted);
	mt_maps_free(&c.maps);
	return err;
}

/* ---- named symbols of any module (Python frames, pyframes.c) ----------- */

struct want_arg {
	struct mt_sym_want *want;
	int n;
	uint64_t bias;
	const char *path;
};

static void collect_wanted(void *arg, const char *name, const GElf_Sym *sym, bool hidden)
{
	(void)hidden;
	struct want_arg *a = arg;
	if (sym->st_shndx == SHN_UNDEF || !sym->st_value)
		return;
	for (int i = 0; i < a->n; i++) {
		struct mt_sym_want *w = &a->want[i];
		if (w->addr || strcmp(w->name, name) != 0)
			continue;
		w->addr = a->bias + sym->st_value;
		w->size = sym->st_size;
		snprintf(w->module, sizeof w->module, "%s", a->path);
	}
}

int mt_discover_symbols(pid_t pid, const char *path_part, struct mt_sym_want *want, int n)
{
	struct ctx c = { .pid = pid };
	for (int i = 0; i < n; i++) {
		want[i].addr = want[i].size = 0;
		want[i].module[0] = 0;
	}
	elf_version(EV_CURRENT);
	if (mt_maps_read(pid, &c.maps) < 0)
		return 0;
	int found = 0;
	if (modules_from_maps_all(&c) == MT_E_OK) {
		for (size_t i = 0; i < c.nmods && found < n; i++) {
			const char *base = strrchr(c.mods[i].map->path, '/');
			if (path_part && !strstr(base ? base + 1 : c.mods[i].map->path, path_part))
				continue;
			struct elf_file ef;
			if (open_module(&c, i, &ef) < 0)
				continue;
			struct want_arg a = { want, n, c.mods[i].bias, c.mods[i].map->path };
			for_each_symbol(ef.elf, SHT_DYNSYM, collect_wanted, &a);
			elf_file_close(&ef);
			found = 0;
			for (int k = 0; k < n; k++)
				found += want[k].addr != 0;
		}
	}
	free(c.mods);
	mt_maps_free(&c.maps);
	return found;
}
