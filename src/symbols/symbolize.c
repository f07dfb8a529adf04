/* Unwinding and symbolization of a live process with libdwfl, without
 * attaching.
 *
 * Modules come from dwfl_linux_proc_report (it reads /proc/PID/maps and
 * /proc/PID/auxv; the vDSO is read from /proc/PID/mem).  ELF files are
 * found by find_elf() below, which tries the paths that see the target's
 * files first -- /proc/PID/map_files/START-END (exact, even when deleted;
 * needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN), /proc/PID/exe for the
 * executable, then /proc/PID/root/PATH (other mount namespaces) -- and
 * otherwise leaves the work to dwfl_linux_proc_find_elf, which opens PATH
 * as we see it (and reads the vDSO).  Separate debug info is searched by
 * dwfl_standard_find_debuginfo along debug_path (build-id, .gnu_debuglink).
 *
 * Unwinding: the Dwfl gets a process state once (dwfl_attach_state) whose
 * callbacks serve the one thread being unwound, from the registers and the
 * memory reader the current mt_unwind call was given (struct unwind_call).
 * libdwfl unwinds with .eh_frame, then .debug_frame, then the backend's
 * frame-pointer walk.  It costs about 1 us a frame, so a fast path first
 * walks the stack with the same .eh_frame rules, reduced once per address
 * to a few offsets (struct rule), and leaves the stacks it cannot do alone
 * to libdwfl (see unwind_fast).
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_abi.h"
#include "symbols/fdetab.h"
#include "target/maps.h"
#include "target/procfs.h"
#include "util/clock.h"
#include "symbols/perfmap.h"
#include "symbols/symbolize.h"

/* libstdc++'s demangler, named by the Itanium C++ ABI (extern "C").
 * Returns a malloc'd string, or NULL with *STATUS < 0. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

#define DELETED_SUFFIX " (deleted)"
/* dwfl_standard_find_debuginfo's search path: "+" checks the CRC of a
 * .gnu_debuglink match; "" is the module's directory, ".debug" its .debug/
 * subdirectory; every absolute directory is also searched by build-id
 * (DIR/.build-id/xx/yyyy.debug). */
#define DEBUG_PATH "+:.debug:/usr/lib/debug"

#define NS_PER_MS 1000000ull
/* How soon the maps are read again for a pc in no module, by where the pc
 * was in the maps read last: nowhere (something was mapped since: a
 * dlopen, likely still running, whose frames need its CFI) ... */
#define REPORT_INTERVAL_UNMAPPED_NS (10 * NS_PER_MS)
/* ... in a file mapping that is no module ... */
#define REPORT_INTERVAL_NS (100 * NS_PER_MS)
/* ... or in anonymous memory: JIT code, not a new library, almost
 * always.  And never more often than 20 times what reading them took:
 * a JIT's maps can be long. */
#define REPORT_INTERVAL_ANON_NS (1000 * NS_PER_MS)
#define REPORT_COST_FACTOR 20
/* How soon the perf map's size is looked at again. */
#define PERFMAP_INTERVAL_NS (100 * NS_PER_MS)
#define PERFMAP_COST_FACTOR 20
/* How long an address that maps read at once could not explain (a pc
 * from a broken unwind, most likely) is not looked for again. */
#define UNEXPLAINED_TTL_NS (1000 * NS_PER_MS)
#define UNEXPLAINED_SLOTS 256
/* Frames at one pc: the real function and the functions inlined in it. */
#define MAX_CHAIN 64

/* An ELF header alone tells dwfl_attach_state the architecture, so the
 * unwinder never depends on a module (which a later report may remove). */
static void arch_ehdr(Elf64_Ehdr *eh)
{
	memset(eh, 0, sizeof *eh);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof *eh;
}

/* --- state --------------------------------------------------------------- */

struct slot {
	uint64_t key;
	void *val;                    /* malloc'd; NULL: empty slot */
};

/* Open addressing, linear probing, load <= 1/2. */
struct cache {
	struct slot *slots;
	size_t cap;                   /* a power of two, or 0 */
	size_t used;
};

/* A cached mt_symbolize_pc answer. */
struct chain {
	int n;
	struct mt_frame f[];
};

/* The mt_unwind call in progress, for the libdwfl callbacks. */
struct unwind_call {
	pid_t tid;
	const mt_regs *regs;
	mt_read_fn read;
	void *ctx;
	uint64_t *pcs;
	int max, n;
};

/* How to find the caller's frame from code at one address, when the CFI
 * is as simple as compilers make it:
 *
 *   CFA = rsp + cfa_off  or  rbp + cfa_off      (DW_CFA_def_cfa 7/6, N)
 *   return address at CFA + ra_off              (DW_CFA_offset 16, N)
 *   rbp: unchanged, lost, at CFA + bp_off, or = CFA + bp_off
 *   rsp: = CFA                                  (the x86_64 ABI)
 *
 * Nothing else is needed to find the next frame, since such a CFA depends
 * on rsp and rbp only.  Anything else (CFA expressions, signal frames, no
 * CFI, no module) is SLOW: the whole stack is left to libdwfl. */
enum rule_kind { RULE_SLOW, RULE_STEP, RULE_LAST /* return address undefined */ };
enum bp_rule { BP_SAME, BP_LOST, BP_AT, BP_IS };

struct rule {
	uint64_t addr;                /* the looked-up pc; 0: empty slot */
	int64_t cfa_off, ra_off, bp_off;
	uint8_t kind, cfa_reg, bp;
};

/* Open addressing, linear probing, load <= 1/2; emptied by every report
 * (an address may now be another module's). */
struct rules {
	struct rule *v;
	size_t cap, used;             /* cap: a power of two, or 0 */
};

struct perfmap_file {
	char path[96];                /* /proc/PID/root/tmp/perf-NSPID.map */
	off_t size;                   /* at the last read; -1: never read */
	uint64_t checked_ns;          /* when its size was last looked at */
	uint64_t read_ns, read_cost_ns;   /* when it was last read, how long that took */
	struct mt_perfmap map;
};

struct mt_symbolizer {
	pid_t pid;
	Dwfl *dwfl;
	Dwfl_Callbacks callbacks;     /* libdwfl keeps a pointer to it */
	char *debug_path;             /* callbacks.debuginfo_path points here */
	struct mt_maps maps;          /* as of the last report */
	uint64_t reported_ns;         /* when the modules were last reported */
	uint64_t report_cost_ns;      /* and how long that took */
	struct range {
		uint64_t start, end;
	} *gone;                      /* modules kept after they were unmapped */
	size_t ngone;

	Elf64_Ehdr ehdr;              /* arch_elf's image */
	Elf *arch_elf;
	bool unwinder;                /* dwfl_attach_state succeeded */
	struct unwind_call call;
	struct rules rules;           /* the fast path's CFI, by address */

	struct cache syms;            /* mt_symbolize: addr -> mt_symbol */
	struct cache chains;          /* mt_symbolize_pc: pc*2+is_return -> chain */
	struct mt_frame scratch[MAX_CHAIN];
	struct perfmap_file jit;
	bool downloading;             /* mt_symbolizer_downloads(s, true) */
	uint64_t download_ns;         /* spent in searches that found nothing */
	struct unexplained {
		uint64_t addr, checked_ns;
	} unexplained[UNEXPLAINED_SLOTS]; /* see code_map */
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
static void cache_drop(struct cache *c, int shift, uint64_t start, uint64_t end)
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

static void cache_clear(struct cache *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slots[i].val);
	free(c->slots);
	*c = (struct cache){ 0 };
}

static size_t rule_slot(const struct rules *t, uint64_t addr)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) & (t->cap - 1);
}

/* Adds a copy of R (not there yet); NULL when out of memory. */
static const struct rule *rules_put(struct rules *t, const struct rule *r)
{
	if (2 * (t->used + 1) > t->cap) {
		struct rules n = { .cap = t->cap ? 2 * t->cap : 1024 };
		n.v = calloc(n.cap, sizeof *n.v);
		if (!n.v)
			return NULL;
		for (size_t i = 0; i < t->cap; i++)
			if (t->v[i].addr)
				rules_put(&n, &t->v[i]);
		free(t->v);
		*t = n;
	}
	size_t i = rule_slot(t, r->addr);
	while (t->v[i].addr)
		i = (i + 1) & (t->cap - 1);
	t->v[i] = *r;
	t->used++;
	return &t->v[i];
}

/* --- finding the ELF files ------------------------------------------- */

/* Opens PATH if it is a regular file (a device mapping must not be
 * opened: that can have side effects). */
static int open_regular(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	struct mt_symbolizer *s = *userdata;
	if (!s || name[0] != '/')
		goto standard;

	/* NAME is the maps path, with " (deleted)" if the file is gone. */
	char path[PATH_MAX];
	size_t len = strlen(name), sl = strlen(DELETED_SUFFIX);
	bool deleted = len > sl && strcmp(name + len - sl, DELETED_SUFFIX) == 0;
	if (deleted)
		len -= sl;
	if (len >= sizeof path)
		goto standard;
	memcpy(path, name, len);
	path[len] = '\0';

	char proc[PATH_MAX + 64];
	int fd = -1;
	const struct mt_map *m = mt_maps_find(&s->maps, base);
	if (m && m->path && strcmp(m->path, path) == 0) {
		snprintf(proc, sizeof proc, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
			 (int)s->pid, m->start, m->end);
		fd = open_regular(proc);
	}
	if (fd < 0) {
		/* /proc/PID/exe needs no capability and survives deletion. */
		char exe[PATH_MAX];
		snprintf(proc, sizeof proc, "/proc/%d/exe", (int)s->pid);
		ssize_t n = readlink(proc, exe, sizeof exe - 1);
		if (n > 0) {
			exe[n] = '\0';
			if (strcmp(exe, name) == 0)
				fd = open_regular(proc);
		}
	}
	if (fd < 0 && !deleted) {
		/* A replaced file would be the wrong one: not for deleted. */
		snprintf(proc, sizeof proc, "/proc/%d/root%s", (int)s->pid, path);
		fd = open_regular(proc);
	}
	if (fd < 0)
		goto standard;
	/* The file name libdwfl reports and searches debug info beside. */
	*file_name = strdup(path);
	if (!*file_name) {
		close(fd);
		return -1;
	}
	return fd;

standard:
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/* --- reporting modules ----------------------------------------------- */

/* Give every module a pointer back to us, for find_elf. */
static int set_userdata(Dwfl_Module *mod, void **userdata, const char *name,
			Dwarf_Addr start, void *arg)
{
	*userdata = arg;
	return DWARF_CB_OK;
}

struct known {
	struct known_module {
		char *name;
		Dwarf_Addr start, end;
	} *v;
	size_t n, cap;
	bool nomem;
};

static int collect_module(Dwfl_Module *mod, void **userdata, const char *name,
			  Dwarf_Addr start, void *arg)
{
	struct known *k = arg;
	Dwarf_Addr end = 0;
	dwfl_module_info(mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
	if (k->n == k->cap) {
		size_t ncap = k->cap ? 2 * k->cap : 64;
		struct known_module *nv = realloc(k->v, ncap * sizeof *nv);
		if (!nv) {
			k->nomem = true;
			return DWARF_CB_ABORT;
		}
		k->v = nv;
		k->cap = ncap;
	}
	char *copy = strdup(name);
	if (!copy) {
		k->nomem = true;
		return DWARF_CB_ABORT;
	}
	k->v[k->n++] = (struct known_module){ copy, start, end };
	return DWARF_CB_OK;
}

/* Whether anything that could be code now lies in [START, END): a file
 * mapping or executable memory.  A module that is no longer mapped keeps its
 * place unless something did replace it. */
static bool replaced(const struct mt_maps *maps, Dwarf_Addr start, Dwarf_Addr end)
{
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (m->end <= start || m->start >= end)
			continue;
		if (m->x || (m->path && m->path[0] == '/'))
			return true;
	}
	return false;
}

static bool in_gone(const struct mt_symbolizer *s, uint64_t addr)
{
	for (size_t i = 0; i < s->ngone; i++)
		if (addr >= s->gone[i].start && addr < s->gone[i].end)
			return true;
	return false;
}

static void add_gone(struct mt_symbolizer *s, uint64_t start, uint64_t end)
{
	struct range *v = realloc(s->gone, (s->ngone + 1) * sizeof *v);
	if (!v)
		return;               /* it just will not be told apart */
	s->gone = v;
	s->gone[s->ngone++] = (struct range){ start, end };
}

/* Whether the module OLD is still reported, the same. */
static bool still_there(struct mt_symbolizer *s, const struct known_module *old)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, old->start);
	Dwarf_Addr start = 0, end = 0;
	const char *name = mod ? dwfl_module_info(mod, NULL, &start, &end, NULL, NULL,
						  NULL, NULL) : NULL;
	return name && start == old->start && end == old->end && strcmp(name, old->name) == 0;
}

/* Drop the rules made without a module (there may be one now) and those
 * for addresses in the DROPPED ranges. */
static void rules_filter(struct rules *t, const struct known *old, const bool *dropped)
{
	struct rule *v = t->v;
	size_t cap = t->cap;
	*t = (struct rules){ 0 };
	for (size_t i = 0; i < cap; i++) {
		if (!v[i].addr || v[i].kind == RULE_SLOW)
			continue;
		bool keep = true;
		for (size_t k = 0; k < old->n && keep; k++)
			keep = !dropped[k] || v[i].addr < old->v[k].start || v[i].addr >= old->v[k].end;
		if (keep)
			rules_put(t, &v[i]);
	}
	free(v);
}

/* Report the modules in the maps.  Modules reported before and now
 * unmapped (dlclose) are reported again, so that their addresses keep
 * their names, unless something else now occupies them; what the caches
 * knew about the addresses of a module that is no longer reported is
 * forgotten. */
static void report(struct mt_symbolizer *s)
{
	uint64_t t0 = mt_clock_ns();
	struct known old = { 0 };
	dwfl_getmodules(s->dwfl, collect_module, &old, 0);

	mt_maps_free(&s->maps);
	bool have_maps = mt_maps_read(s->pid, &s->maps) == 0;
	if (!have_maps)
		s->maps = (struct mt_maps){ NULL, 0 };

	dwfl_report_begin(s->dwfl);
	bool ok = dwfl_linux_proc_report(s->dwfl, s->pid) == 0 && have_maps;
	/* Reporting a module again that was just reported is harmless:
	 * libdwfl keeps one module per name and range. */
	s->ngone = 0;
	for (size_t i = 0; i < old.n; i++) {
		if (ok && replaced(&s->maps, old.v[i].start, old.v[i].end))
			continue;     /* still there, or something else is */
		dwfl_report_module(s->dwfl, old.v[i].name, old.v[i].start, old.v[i].end);
		add_gone(s, old.v[i].start, old.v[i].end);
	}
	dwfl_report_end(s->dwfl, NULL, NULL);
	dwfl_getmodules(s->dwfl, set_userdata, s, 0);

	bool *dropped = calloc(old.n + 1, sizeof *dropped);
	for (size_t i = 0; i < old.n; i++) {
		if (!dropped || still_there(s, &old.v[i]))
			continue;
		dropped[i] = true;
		cache_drop(&s->syms, 0, old.v[i].start, old.v[i].end);
		cache_drop(&s->chains, 1, old.v[i].start, old.v[i].end);
	}
	if (dropped) {
		rules_filter(&s->rules, &old, dropped);
	} else {
		free(s->rules.v);
		s->rules = (struct rules){ 0 };
	}
	free(dropped);
	for (size_t i = 0; i < old.n; i++)
		free(old.v[i].name);
	free(old.v);
	s->reported_ns = mt_clock_ns();
	s->report_cost_ns = s->reported_ns - t0;
}

/* Whether ADDR is in a module that is mapped, as far as we know. */
static bool known_code(const struct mt_symbolizer *s, uint64_t addr)
{
	return dwfl_addrmodule(s->dwfl, addr) && !in_gone(s, addr);
}

/* ADDR is in no mapped module: read the maps again if that is due.
 * Whether ADDR is in one now. */
static bool report_for(struct mt_symbolizer *s, uint64_t addr)
{
	const struct mt_map *m = mt_maps_find(&s->maps, addr);
	uint64_t wait = !m ? REPORT_INTERVAL_UNMAPPED_NS
		: m->path && m->path[0] == '/' ? REPORT_INTERVAL_NS
		: REPORT_INTERVAL_ANON_NS;
	if (wait < REPORT_COST_FACTOR * s->report_cost_ns)
		wait = REPORT_COST_FACTOR * s->report_cost_ns;
	if (mt_clock_ns() - s->reported_ns < wait)
		return false;
	report(s);
	return known_code(s, addr);
}

/* --- JIT code -------------------------------------------------------- */

/* The pid of PID in its own pid namespace: the last field of
 *   NSpid:	31337	7
 * in /proc/PID/status (PID itself on kernels before 4.1). */
static pid_t innermost_pid(pid_t pid)
{
	struct mt_procfs_status st;
	if (mt_procfs_status(pid, &st) < 0 || st.nspid <= 0 || st.nspid > INT_MAX)
		return pid;
	return (pid_t)st.nspid;
}

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

/* Executable memory that is no file: anonymous ("[anon:NAME]" when the
 * program named it) or a memfd. */
static bool jit_memory(const struct mt_map *m)
{
	return m && m->x && (!m->path || strncmp(m->path, "[anon:", 6) == 0 ||
			     strncmp(m->path, "/memfd:", 7) == 0);
}

/* ADDR in JIT code: in jit_memory (M, its mapping), or named by the perf
 * map (code unmapped since, M NULL, keeps its name). */
static bool resolve_jit(struct mt_symbolizer *s, uint64_t addr, const struct mt_map *m,
			struct mt_symbol *out)
{
	perfmap_update(s, false);
	const struct mt_perfmap_sym *sym = mt_perfmap_find(&s->jit.map, addr);
	if (!sym && jit_memory(m)) {
		perfmap_update(s, true);
		sym = mt_perfmap_find(&s->jit.map, addr);
	}
	if (!sym && !jit_memory(m))
		return false;
	copy_str(out->module, sizeof out->module, "[jit]");
	out->module_offset = m ? addr - m->start : 0;
	if (sym) {
		set_function(out->function, sizeof out->function, sym->name);
		out->offset = addr - sym->start;
	}
	return true;
}

/* --- where code is: fresh maps, text mapped twice ----------------------
 *
 * libdwfl's modules are not enough to tell what code is at an address:
 * dwfl_linux_proc_report makes one module of every run of mappings of a
 * file, the anonymous mappings in between included, so node's module runs
 * from its ELF image up to V8's copy of its builtins (node's own file,
 * mapped again next to the JIT code, offset 0x14c4000 here):
 *
 *   00400000-00b6f000 r--p 00000000 fe:00 247823   /usr/bin/node
 *   ...
 *   7f51e1fc3000-7f51e1fff000 rwxp 00000000 00:00 0   (JIT code)
 *   7f51e1fff000-7f5201e00000 ---p 00000000 00:00 0   (reserved for more)
 *   7f5201e00000-7f5201f92000 r-xp 014c4000 fe:00 247823   /usr/bin/node
 *
 * So an address is named from the mapping that holds it in maps read after
 * its code was mapped, and from a module only when that mapping is of the
 * module's file, or anonymous memory inside the module's executable
 * segments (text copied to huge pages in place); text mapped a second time
 * is named where the module's own image has the same file bytes. */

static bool file_mapping(const struct mt_map *m)
{
	return m && m->path && m->path[0] == '/' && !jit_memory(m);
}

/* Whether libdwfl's NAME (" (deleted)" maybe appended) is PATH. */
static bool same_file_name(const char *name, const char *path)
{
	size_t len = strlen(path);
	return name && strncmp(name, path, len) == 0 &&
	       (name[len] == '\0' || strcmp(name + len, DELETED_SUFFIX) == 0);
}

static bool same_file(const struct mt_map *a, const struct mt_map *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && strcmp(a->path, b->path) == 0;
}

/* The module whose image holds the file of M: the one at the file's mapping
 * of offset 0 (the ELF header, where ld.so or the kernel put the file),
 * the nearest below M when there are several; else the module at M. */
static Dwfl_Module *image_of(struct mt_symbolizer *s, const struct mt_map *m)
{
	const struct mt_map *head = NULL;
	for (size_t i = 0; i < s->maps.n; i++) {
		const struct mt_map *c = &s->maps.v[i];
		if (c->offset != 0 || !file_mapping(c) || !same_file(c, m))
			continue;
		if (!head || (c->start <= m->start && c->start > head->start) ||
		    (head->start > m->start && c->start < head->start))
			head = c;
	}
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, head ? head->start : m->start);
	const char *name = mod ? dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL,
						  NULL, NULL) : NULL;
	return same_file_name(name, m->path) ? mod : NULL;
}

/* Where MOD's image has the file bytes that M maps at ADDR: ADDR itself
 * when M is where ld.so put them, else through the file offset and the
 * program header that loads it.  False when no PT_LOAD holds that offset.
 * Without the ELF file, the module's start plus the file offset, so that
 * the module offset printed is the file offset (the same as ADDR where the
 * loader mapped text at its file offset, as linkers lay it out). */
static bool image_address(Dwfl_Module *mod, const struct mt_map *m, uint64_t addr,
			  uint64_t *at)
{
	uint64_t off = m->offset + (addr - m->start);
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t phnum;
	if (!elf || elf_getphdrnum(elf, &phnum) != 0) {
		Dwarf_Addr start = addr - off;
		dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
		*at = start + off;
		return true;
	}
	*at = addr;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);
		if (!ph || ph->p_type != PT_LOAD || off < ph->p_offset ||
		    off - ph->p_offset >= ph->p_filesz)
			continue;
		*at = ph->p_vaddr + (off - ph->p_offset) + bias;
		return true;
	}
	return false;
}

/* Whether ADDR is in MOD's executable PT_LOAD, where ld.so put it: a
 * program that copies its text to anonymous huge pages over the same
 * addresses (node --use-largepages, libhugetlbfs) runs its own code from
 * anonymous memory there, which is no JIT code. */
static bool in_image_text(Dwfl_Module *mod, uint64_t addr)
{
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t phnum;
	if (!elf || elf_getphdrnum(elf, &phnum) != 0)
		return false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);
		if (ph && ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    addr - bias >= ph->p_vaddr && addr - bias - ph->p_vaddr < ph->p_memsz)
			return true;
	}
	return false;
}

/* Whether M (ADDR's mapping in the maps last read) says what ADDR is: code
 * runs from executable memory only, so a pc in none was mapped, or made
 * executable (a JIT committing part of a reserved range), since the read;
 * and a file's code needs its module.  A module kept after dlclose
 * explains its addresses until something replaces it (see report). */
static bool explains(struct mt_symbolizer *s, const struct mt_map *m, uint64_t addr)
{
	if (in_gone(s, addr) && dwfl_addrmodule(s->dwfl, addr) && (!m || !m->x))
		return true;
	if (!m || !m->x)
		return false;
	return !file_mapping(m) || image_of(s, m);
}

static void reread_maps(struct mt_symbolizer *s)
{
	struct mt_maps fresh;
	if (mt_maps_read(s->pid, &fresh) != 0)
		return;
	mt_maps_free(&s->maps);
	s->maps = fresh;
}

/* ADDR's mapping, in maps that explain it if any can: when those last read
 * do not, they are read again at once (waiting would name code mapped
 * since the last read as nothing, or as the module around it), and a new
 * file is reported to libdwfl (dlopen).  An address that fresh maps did not
 * explain either (a pc from a broken unwind) is not looked for again for
 * UNEXPLAINED_TTL_NS while it keeps its slot (one per hash): that bounds
 * the reads to about one per such address and second. */
static const struct mt_map *code_map(struct mt_symbolizer *s, uint64_t addr)
{
	const struct mt_map *m = mt_maps_find(&s->maps, addr);
	if (explains(s, m, addr))
		return m;
	struct unexplained *u =
		&s->unexplained[((addr >> 4) * 0x9e3779b97f4a7c15ull >> 32) % UNEXPLAINED_SLOTS];
	uint64_t now = mt_clock_ns();
	if (u->addr == addr && now - u->checked_ns < UNEXPLAINED_TTL_NS)
		return m;
	reread_maps(s);
	m = mt_maps_find(&s->maps, addr);
	if (m && m->x && file_mapping(m) && !image_of(s, m)) {
		report(s);
		m = mt_maps_find(&s->maps, addr);
	}
	if (!explains(s, m, addr))
		*u = (struct unexplained){ addr, now };
	return m;
}

/* The module with ADDR's code (M: ADDR's mapping, from code_map) and *AT,
 * where that module has it (see image_address); NULL when ADDR is in no
 * module's file (anonymous memory, the stack, a pc in nothing). */
static Dwfl_Module *code_module(struct mt_symbolizer *s, const struct mt_map *m,
				uint64_t addr, uint64_t *at)
{
	*at = addr;
	if (in_gone(s, addr) && (!m || !m->x))
		return dwfl_addrmodule(s->dwfl, addr);
	if (m && m->path && strcmp(m->path, "[vdso]") == 0)
		return dwfl_addrmodule(s->dwfl, addr);
	if (m && m->x && !file_mapping(m)) {
		Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
		return mod && in_image_text(mod, addr) ? mod : NULL;
	}
	if (!file_mapping(m))
		return NULL;
	Dwfl_Module *mod = image_of(s, m);
	return mod && image_address(mod, m, addr, at) ? mod : NULL;
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
	const struct mt_map *m = code_map(s, addr);
	Dwfl_Module *mod = code_module(s, m, addr, at);
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

/* --- unwinding ------------------------------------------------------- */

/* libdwfl allocates and interprets the CFI afresh for every frame of every
 * unwind (about 1 us a frame).  The fast path below walks the stack with
 * rules derived from the same CFI once per address (struct rule), and
 * hands the whole stack to libdwfl when a frame needs more (RULE_SLOW, a
 * failed read). */

/* A libdw location [DW_OP_call_frame_cfa (, DW_OP_plus_uconst N)
 * (, DW_OP_stack_value)]: *OFF = N, *VALUE = whether it is the value
 * CFA + N rather than the memory there. */
static bool cfa_relative(const Dwarf_Op *ops, size_t nops, int64_t *off, bool *value)
{
	*off = 0;
	*value = false;
	if (nops == 0 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	size_t i = 1;
	if (i < nops && ops[i].atom == DW_OP_plus_uconst)
		*off = (int64_t)ops[i++].number;    /* wraps: may be negative */
	if (i < nops && ops[i].atom == DW_OP_stack_value) {
		*value = true;
		i++;
	}
	return i == nops;
}

/* The rule for code at ADDR, from the module's .eh_frame. */
static void make_rule(struct mt_symbolizer *s, uint64_t addr, struct rule *r)
{
	*r = (struct rule){ .addr = addr, .kind = RULE_SLOW };
	Dwfl_Module *mod = known_code(s, addr) ? dwfl_addrmodule(s->dwfl, addr) : NULL;
	Dwarf_Addr bias;
	Dwarf_CFI *cfi = mod ? dwfl_module_eh_cfi(mod, &bias) : NULL;
	Dwarf_Frame *frame = NULL;
	if (!cfi || dwarf_cfi_addrframe(cfi, addr - bias, &frame) != 0)
		return;

	bool signal = false;
	int ra = dwarf_frame_info(frame, NULL, NULL, &signal);
	Dwarf_Op *ops, mem[3];
	size_t nops;
	int64_t off;
	bool value;
	if (ra != MT_DWARF_REG_RA || signal)
		goto out;
	/* CFA: one DW_OP_bregx (or DW_OP_bregN) from libdw. */
	if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1)
		goto out;
	if (ops[0].atom == DW_OP_bregx) {
		r->cfa_reg = (uint8_t)(ops[0].number < 256 ? ops[0].number : 255);
		r->cfa_off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		r->cfa_reg = (uint8_t)(ops[0].atom - DW_OP_breg0);
		r->cfa_off = (int64_t)ops[0].number;
	} else {
		goto out;
	}
	if (r->cfa_reg != MT_DWARF_REG_FP && r->cfa_reg != MT_DWARF_REG_SP)
		goto out;

	/* rsp: the CFA, by the ABI rule libdw adds to every CIE. */
	if (dwarf_frame_register(frame, MT_DWARF_REG_SP, mem, &ops, &nops) != 0 ||
	    !cfa_relative(ops, nops, &off, &value) || !value || off != 0)
		goto out;

	if (dwarf_frame_register(frame, MT_DWARF_REG_FP, mem, &ops, &nops) != 0)
		goto out;
	if (nops == 0)
		r->bp = ops ? BP_LOST : BP_SAME;   /* ops == mem: undefined */
	else if (cfa_relative(ops, nops, &r->bp_off, &value))
		r->bp = value ? BP_IS : BP_AT;
	else
		goto out;

	if (dwarf_frame_register(frame, MT_DWARF_REG_RA, mem, &ops, &nops) != 0)
		goto out;
	if (nops == 0 && ops) {
		r->kind = RULE_LAST;          /* the outermost frame (_start) */
	} else if (cfa_relative(ops, nops, &r->ra_off, &value) && !value) {
		r->kind = RULE_STEP;
	}
out:
	free(frame);
}

/* The rule for ADDR, made on first use; NULL only when out of memory. */
static const struct rule *rule_for(struct mt_symbolizer *s, uint64_t addr)
{
	struct rules *t = &s->rules;
	if (t->cap) {
		for (size_t i = rule_slot(t, addr); t->v[i].addr; i = (i + 1) & (t->cap - 1))
			if (t->v[i].addr == addr)
				return &t->v[i];
	}
	struct rule r;
	make_rule(s, addr, &r);
	return rules_put(t, &r);
}

/* The stack by the rules alone: the count, or -1 when libdwfl must do it
 * (same answer, slower).  Stops where libdwfl would: at an undefined return
 * address, a zero one, or MAX. */
static int unwind_fast(struct mt_symbolizer *s)
{
	struct unwind_call *c = &s->call;
	uint64_t pc = mt_regs_pc(c->regs), sp = mt_regs_sp(c->regs), bp = mt_regs_fp(c->regs);
	bool bp_known = true;
	int n = 0;
	c->pcs[n++] = pc;
	/* The first pc is where the thread is; the others are return
	 * addresses, whose call is the byte before. */
	for (uint64_t addr = pc; n < c->max; addr = pc - 1) {
		const struct rule *r = addr ? rule_for(s, addr) : NULL;
		if (!r || r->kind == RULE_SLOW)
			return -1;
		if (r->kind == RULE_LAST)
			break;
		if (r->cfa_reg == MT_DWARF_REG_FP && !bp_known)
			return -1;
		uint64_t cfa = (r->cfa_reg == MT_DWARF_REG_SP ? sp : bp) + (uint64_t)r->cfa_off;
		uint64_t ra;
		if (c->read(c->ctx, cfa + (uint64_t)r->ra_off, &ra, sizeof ra) != 0)
			return -1;
		switch (r->bp) {
		case BP_SAME:
			break;
		case BP_LOST:
			bp_known = false;
			break;
		case BP_AT:
			if (c->read(c->ctx, cfa + (uint64_t)r->bp_off, &bp, sizeof bp) != 0)
				return -1;
			bp_known = true;
			break;
		case BP_IS:
			bp = cfa + (uint64_t)r->bp_off;
			bp_known = true;
			break;
		}
		sp = cfa;
		if (ra == 0)
			break;
		pc = ra;
		c->pcs[n++] = pc;
	}
	return n;
}

/* Only the thread being unwound exists, as far as libdwfl is told. */
static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct mt_symbolizer *s = arg;
	if (*thread_argp)
		return 0;
	*thread_argp = s;
	return s->call.tid;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	*thread_argp = arg;
	return true;
}

/* Failing leaves dwfl_errno unset (libdwfl has no public setter): the
 * stack just ends. */
static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct mt_symbolizer *s = arg;
	return s->call.read(s->call.ctx, addr, result, sizeof *result) == 0;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct mt_symbolizer *s = arg;
	Dwarf_Word w[MT_DWARF_NREGS];
	mt_arch_regs_to_dwarf(s->call.regs, w);
	return dwfl_thread_state_registers(thread, 0, MT_DWARF_NREGS, w);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

static int cb_frame(Dwfl_Frame *frame, void *arg)
{
	struct unwind_call *c = arg;
	Dwarf_Addr pc;
	/* No isactivation: it would unwind one more frame to answer. */
	if (!dwfl_frame_pc(frame, &pc, NULL) || (pc == 0 && c->n > 0))
		return DWARF_CB_ABORT;
	c->pcs[c->n++] = pc;
	return c->n < c->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

static int unwind_once(struct mt_symbolizer *s)
{
	s->call.n = 0;
	/* -1 at the end of most stacks: outermost frame's CFI has no return
	 * address, or a read failed.  The frames seen are the answer. */
	dwfl_getthread_frames(s->dwfl, s->call.tid, cb_frame, &s->call);
	if (s->call.n == 0)
		s->call.pcs[s->call.n++] = mt_regs_pc(s->call.regs);
	return s->call.n;
}

/* --- debuginfod ---------------------------------------------------------
 * libdw's dwfl_standard_find_debuginfo asks the debuginfod servers in
 * DEBUGINFOD_URLS (through libdebuginfod, which it dlopens) for a module
 * whose debug file is nowhere local.  That can take seconds, and a debug
 * file is searched for wherever a module is first looked at closely: in
 * the rule server's thread while the agent waits for a rule, in memtrace's
 * loop while the target is held at an ld.so notification.  So memtrace
 * takes DEBUGINFOD_URLS out of its environment at its first symbolizer
 * (still single-threaded) and puts it back only while a report or a
 * snapshot names its stacks (mt_symbolizer_downloads); libdebuginfod reads
 * it at each query.  The variable stays in the environment, its value
 * emptied or not by one byte, so that a reader in another thread never
 * sees the environment array move.  A download is bounded by
 * DEBUGINFOD_TIMEOUT (no progress for that many seconds; memtrace's
 * default 5) and DEBUGINFOD_MAXTIME (memtrace's default 60), unless the
 * user set them, and all downloads of one symbolizer by DOWNLOAD_BUDGET_NS:
 * after that much time spent in searches that found nothing, it asks no
 * more.  The rule server's lookups that happen while a report downloads
 * may download too. */

#define DEBUGINFOD_URLS "DEBUGINFOD_URLS"
#define DOWNLOAD_BUDGET_NS (30ull * 1000 * NS_PER_MS)

static struct {
	bool done;
	char *env;                    /* "DEBUGINFOD_URLS=URLS", given to putenv */
	char first;                   /* URLS[0], while env holds "" */
	int users;                    /* symbolizers downloading now */
} debuginfod;

static void debuginfod_init(void)
{
	if (debuginfod.done)
		return;
	debuginfod.done = true;
	const char *urls = getenv(DEBUGINFOD_URLS);
	if (!urls || !urls[0])
		return;
	size_t n = strlen(DEBUGINFOD_URLS) + 1 + strlen(urls) + 1;
	char *env = malloc(n);
	if (!env) {
		unsetenv(DEBUGINFOD_URLS);     /* better none than unbounded */
		return;
	}
	snprintf(env, n, "%s=%s", DEBUGINFOD_URLS, urls);
	setenv("DEBUGINFOD_TIMEOUT", "5", 0);
	setenv("DEBUGINFOD_MAXTIME", "60", 0);
	char *value = env + strlen(DEBUGINFOD_URLS) + 1;
	debuginfod.first = value[0];
	value[0] = '\0';
	if (putenv(env) != 0) {
		free(env);
		unsetenv(DEBUGINFOD_URLS);
		return;
	}
	debuginfod.env = env;
}

static void debuginfod_allow(bool on)
{
	if (!debuginfod.env)
		return;
	debuginfod.users += on ? 1 : -1;
	char *value = debuginfod.env + strlen(DEBUGINFOD_URLS) + 1;
	__atomic_store_n(value, debuginfod.users > 0 ? debuginfod.first : '\0', __ATOMIC_SEQ_CST);
}

/* dwfl_standard_find_debuginfo, with the time it spent in vain while
 * downloads were allowed counted against the budget. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct mt_symbolizer *s = userdata ? *userdata : NULL;
	bool counted = s && s->downloading;
	uint64_t t0 = counted ? mt_clock_ns() : 0;
	int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
					      debuglink_file, debuglink_crc,
					      debuginfo_file_name);
	if (counted && fd < 0) {
		s->download_ns += mt_clock_ns() - t0;
		if (s->download_ns > DOWNLOAD_BUDGET_NS)
			mt_symbolizer_downloads(s, false);
	}
	return fd;
}

void mt_symbolizer_downloads(struct mt_symbolizer *s, bool on)
{
	if (!s || on == s->downloading || (on && s->download_ns > DOWNLOAD_BUDGET_NS))
		return;
	s->downloading = on;
	debuginfod_allow(on);
}

bool mt_symbolizer_can_download(void)
{
	return debuginfod.env != NULL;
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

/* The target's own /usr/lib/debug, when it lives in another mount
 * namespace (a container): "" when its root is ours. */
static void foreign_debug_dir(pid_t pid, char *dir, size_t size)
{
	struct stat ours, theirs;
	snprintf(dir, size, "/proc/%d/root", (int)pid);
	if (stat("/", &ours) == 0 && stat(dir, &theirs) == 0 &&
	    (ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino))
		snprintf(dir, size, "/proc/%d/root/usr/lib/debug", (int)pid);
	else
		dir[0] = '\0';
}

struct mt_symbolizer *mt_symbolizer_new(pid_t pid)
{
	debuginfod_init();
	struct mt_symbolizer *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->pid = pid;
	char dir[64];
	foreign_debug_dir(pid, dir, sizeof dir);
	s->debug_path = malloc(sizeof DEBUG_PATH + 1 + strlen(dir));
	if (!s->debug_path) {
		free(s);
		return NULL;
	}
	sprintf(s->debug_path, "%s%s%s", DEBUG_PATH, dir[0] ? ":" : "", dir);
	s->callbacks = (Dwfl_Callbacks){
		.find_elf = find_elf,
		.find_debuginfo = find_debuginfo,
		.debuginfo_path = &s->debug_path,
	};
	s->dwfl = dwfl_begin(&s->callbacks);
	if (!s->dwfl) {
		free(s->debug_path);
		free(s);
		return NULL;
	}
	report(s);

	elf_version(EV_CURRENT);
	arch_ehdr(&s->ehdr);
	s->arch_elf = elf_memory((char *)&s->ehdr, sizeof s->ehdr);
	s->unwinder = s->arch_elf &&
		dwfl_attach_state(s->dwfl, s->arch_elf, pid, &thread_callbacks, s);

	snprintf(s->jit.path, sizeof s->jit.path, "/proc/%d/root/tmp/perf-%d.map",
		 (int)pid, (int)innermost_pid(pid));
	s->jit.size = -1;
	return s;
}

void mt_symbolizer_destroy(struct mt_symbolizer *s)
{
	if (!s)
		return;
	mt_symbolizer_downloads(s, false);
	dwfl_end(s->dwfl);            /* before the Elf its unwinder uses */
	if (s->arch_elf)
		elf_end(s->arch_elf);
	cache_clear(&s->syms);
	cache_clear(&s->chains);
	free(s->rules.v);
	free(s->gone);
	mt_perfmap_free(&s->jit.map);
	mt_maps_free(&s->maps);
	free(s->debug_path);
	free(s);
}

void mt_symbolizer_add_debug_dir(struct mt_symbolizer *s, const char *dir)
{
	if (!s || !dir || !dir[0])
		return;
	size_t len = strlen(s->debug_path);
	char *p = realloc(s->debug_path, len + 1 + strlen(dir) + 1);
	if (!p)
		return;
	sprintf(p + len, ":%s", dir);
	s->debug_path = p;
}

void mt_symbolizer_refresh(struct mt_symbolizer *s)
{
	if (s)
		report(s);
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

int mt_unwind(struct mt_symbolizer *s, pid_t tid, const mt_regs *regs, mt_read_fn read,
	      void *ctx, uint64_t *pcs, int max)
{
	if (max < 1)
		return 0;
	pcs[0] = mt_regs_pc(regs);
	if (!s || !s->unwinder || !read)
		return 1;
	s->call = (struct unwind_call){ .tid = tid, .regs = regs, .read = read,
					.ctx = ctx, .pcs = pcs, .max = max };
	int n = unwind_fast(s);
	/* The fast path found a module for every pc it stepped from: only
	 * the last pc, where MAX stopped it, may be in none. */
	int from = n > 0 ? n - 1 : 0;
	if (n < 0)
		n = unwind_once(s);

	/* A pc in no module may be in a library loaded since the last report
	 * (dlopen): libdwfl had no CFI for it and guessed with the frame
	 * pointer.  Once the module is known, unwind again. */
	for (int i = from; i < n; i++) {
		uint64_t addr = i ? pcs[i] - 1 : pcs[i];
		if (!known_code(s, addr)) {
			if (report_for(s, addr) && (n = unwind_fast(s)) < 0)
				n = unwind_once(s);
			break;
		}
	}
	return n;
}

static bool fits_i32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* Whether no module's CFI covers ADDR (.eh_frame nor .debug_frame). */
static bool no_cfi(struct mt_symbolizer *s, uint64_t addr)
{
	Dwfl_Module *mod = known_code(s, addr) ? dwfl_addrmodule(s->dwfl, addr) : NULL;
	if (!mod)
		return true;
	Dwarf_Addr bias;
	Dwarf_Frame *frame = NULL;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
	if (cfi && dwarf_cfi_addrframe(cfi, addr - bias, &frame) == 0) {
		free(frame);
		return false;
	}
	cfi = dwfl_module_dwarf_cfi(mod, &bias);
	if (cfi && dwarf_cfi_addrframe(cfi, addr - bias, &frame) == 0) {
		free(frame);
		return false;
	}
	return true;
}

int mt_symbolizer_agent_rule(struct mt_symbolizer *s, uint64_t addr, struct mt_agent_rule *out)
{
	*out = (struct mt_agent_rule){ .addr = addr, .kind = MT_AGENT_RULE_SLOW };
	if (!s)
		return 0;
	/* A module loaded since the last report (dlopen) has CFI for ADDR:
	 * the agent keeps the answer for good, so look before saying SLOW. */
	if (!known_code(s, addr))
		report_for(s, addr);
	struct rule made;
	const struct rule *r = rule_for(s, addr);
	if (!r) {                     /* out of memory for the cache only */
		make_rule(s, addr, &made);
		r = &made;
	}
	if (r->kind == RULE_SLOW && no_cfi(s, addr)) {
		/* Code without CFI (JIT, hand-written assembly): the frame
		 * pointer chain, as libdwfl falls back to for such code:
		 * CFA = rbp + 16, return address at CFA - 8, rbp at CFA - 16. */
		*out = (struct mt_agent_rule){ .addr = addr, .kind = MT_AGENT_RULE_STEP,
					       .cfa_reg = MT_DWARF_REG_FP, .cfa_off = 16, .ra_off = -8,
					       .bp_off = -16, .bp = MT_AGENT_BP_AT };
		return 0;
	}
	if (r->kind == RULE_SLOW || !fits_i32(r->cfa_off) || !fits_i32(r->ra_off) ||
	    !fits_i32(r->bp_off))
		return 0;
	/* The ABI's numbers are the DWARF ones, but say so rather than
	 * rely on it. */
	out->cfa_reg = r->cfa_reg == MT_DWARF_REG_SP ? MT_DWARF_REG_SP : MT_DWARF_REG_FP;
	out->cfa_off = (int32_t)r->cfa_off;
	out->ra_off = (int32_t)r->ra_off;
	out->bp_off = (int32_t)r->bp_off;
	switch (r->bp) {
	case BP_SAME: out->bp = MT_AGENT_BP_SAME; break;
	case BP_LOST: out->bp = MT_AGENT_BP_LOST; break;
	case BP_AT: out->bp = MT_AGENT_BP_AT; break;
	default: out->bp = MT_AGENT_BP_IS; break;
	}
	out->kind = r->kind == RULE_LAST ? MT_AGENT_RULE_LAST : MT_AGENT_RULE_STEP;
	return 0;
}

int mt_symbolizer_build_id(struct mt_symbolizer *s, uint64_t addr, uint8_t *buf, size_t len)
{
	uint64_t at;
	Dwfl_Module *mod = code_module(s, code_map(s, addr), addr, &at);
	if (!mod)
		return 0;
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (n <= 0)
		return 0;
	if ((size_t)n > len)
		n = (int)len;
	memcpy(buf, bits, (size_t)n);
	return n;
}
