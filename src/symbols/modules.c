/* The symbolizer's table of modules (symbolize_priv.h): the modules mapped
 * in a live process as libdwfl reports them, their ELF files and debug
 * info, which module holds the code at an address; and the making and
 * destroying of a symbolizer.
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
 */
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
#include <unistd.h>

#include "target/maps.h"
#include "target/procfs.h"
#include "symbols/perfmap.h"
#include "symbols/symbolize.h"
#include "symbols/symbolize_priv.h"

/* dwfl_standard_find_debuginfo's search path: "+" checks the CRC of a
 * .gnu_debuglink match; "" is the module's directory, ".debug" its .debug/
 * subdirectory; every absolute directory is also searched by build-id
 * (DIR/.build-id/xx/yyyy.debug). */
#define DEBUG_PATH "+:.debug:/usr/lib/debug"

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
/* How long an address that maps read at once could not explain (a pc
 * from a broken unwind, most likely) is not looked for again. */
#define UNEXPLAINED_TTL_NS (1000 * NS_PER_MS)

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
		mt_sym_cache_drop(&s->syms, 0, old.v[i].start, old.v[i].end);
		mt_sym_cache_drop(&s->chains, 1, old.v[i].start, old.v[i].end);
	}
	if (dropped) {
		mt_sym_rules_filter(&s->rules, &old, dropped);
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
bool mt_sym_known_code(const struct mt_symbolizer *s, uint64_t addr)
{
	return dwfl_addrmodule(s->dwfl, addr) && !in_gone(s, addr);
}

/* ADDR is in no mapped module: read the maps again if that is due.
 * Whether ADDR is in one now. */
bool mt_sym_report_for(struct mt_symbolizer *s, uint64_t addr)
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
	return mt_sym_known_code(s, addr);
}

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

/* Executable memory that is no file: anonymous ("[anon:NAME]" when the
 * program named it) or a memfd. */
bool mt_sym_jit_memory(const struct mt_map *m)
{
	return m && m->x && (!m->path || strncmp(m->path, "[anon:", 6) == 0 ||
			     strncmp(m->path, "/memfd:", 7) == 0);
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
	return m && m->path && m->path[0] == '/' && !mt_sym_jit_memory(m);
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
const struct mt_map *mt_sym_code_map(struct mt_symbolizer *s, uint64_t addr)
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

/* The module with ADDR's code (M: ADDR's mapping, from mt_sym_code_map) and *AT,
 * where that module has it (see image_address); NULL when ADDR is in no
 * module's file (anonymous memory, the stack, a pc in nothing). */
Dwfl_Module *mt_sym_code_module(struct mt_symbolizer *s, const struct mt_map *m,
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
	mt_sym_arch_ehdr(&s->ehdr);
	s->arch_elf = elf_memory((char *)&s->ehdr, sizeof s->ehdr);
	s->unwinder = s->arch_elf &&
		dwfl_attach_state(s->dwfl, s->arch_elf, pid, &mt_sym_thread_callbacks, s);

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
	mt_sym_cache_clear(&s->syms);
	mt_sym_cache_clear(&s->chains);
	free(s->rules.v);
	free(s->gone);
	mt_perfmap_free(&s->jit.map);
	mt_pyframes_destroy(s->py);
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

int mt_symbolizer_build_id(struct mt_symbolizer *s, uint64_t addr, uint8_t *buf, size_t len)
{
	uint64_t at;
	Dwfl_Module *mod = mt_sym_code_module(s, mt_sym_code_map(s, addr), addr, &at);
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
