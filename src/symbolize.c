/* Symbolization of a live process with libdwfl, without attaching.
 *
 * Modules come from dwfl_linux_proc_report (it reads /proc/PID/maps and
 * /proc/PID/auxv; the vDSO is read from /proc/PID/mem).  ELF files are
 * found by find_elf() below, which tries the paths that see the target's
 * files first -- /proc/PID/map_files/START-END (exact, even when deleted;
 * needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN), /proc/PID/exe for the
 * executable, then /proc/PID/root/PATH (other mount namespaces) -- and
 * otherwise leaves the work to dwfl_linux_proc_find_elf, which opens PATH
 * as we see it (and reads the vDSO).  Debug info is searched the standard
 * way (build-id, .gnu_debuglink, /usr/lib/debug).
 *
 * Results are cached per address: a site is symbolized once however many
 * times it is reported.
 */
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maps.h"
#include "symbolize.h"

#define DELETED_SUFFIX " (deleted)"

struct slot {
	uint64_t addr;
	struct mt_symbol *sym;        /* NULL: empty slot */
};

struct mt_symbolizer {
	pid_t pid;
	Dwfl *dwfl;
	Dwfl_Callbacks callbacks;     /* libdwfl keeps a pointer to it */
	struct mt_maps maps;          /* for find_elf's map_files names */
	struct slot *slots;           /* open addressing, linear probing */
	size_t cap;                   /* a power of two, or 0 */
	size_t used;
};

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

/* Give every module a pointer back to us, for find_elf. */
static int set_userdata(Dwfl_Module *mod, void **userdata, const char *name,
			Dwarf_Addr start, void *arg)
{
	*userdata = arg;
	return DWARF_CB_OK;
}

static void report(struct mt_symbolizer *s)
{
	mt_maps_free(&s->maps);
	if (mt_maps_read(s->pid, &s->maps) < 0)
		s->maps = (struct mt_maps){ NULL, 0 };
	dwfl_report_begin(s->dwfl);
	/* On failure (the process is gone) whatever was reported stays. */
	dwfl_linux_proc_report(s->dwfl, s->pid);
	dwfl_report_end(s->dwfl, NULL, NULL);
	dwfl_getmodules(s->dwfl, set_userdata, s, 0);
}

/* --- cache ----------------------------------------------------------- */

static size_t slot_of(const struct mt_symbolizer *s, uint64_t addr)
{
	/* Fibonacci hashing: code addresses differ mostly in low bits. */
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) & (s->cap - 1);
}

static const struct mt_symbol *cache_get(const struct mt_symbolizer *s,
					 uint64_t addr)
{
	if (s->cap == 0)
		return NULL;
	for (size_t i = slot_of(s, addr); s->slots[i].sym; i = (i + 1) & (s->cap - 1))
		if (s->slots[i].addr == addr)
			return s->slots[i].sym;
	return NULL;
}

static void cache_put_slot(struct mt_symbolizer *s, uint64_t addr,
			   struct mt_symbol *sym)
{
	size_t i = slot_of(s, addr);
	while (s->slots[i].sym)
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = (struct slot){ addr, sym };
	s->used++;
}

/* Best effort: when memory is short the result is simply not cached. */
static void cache_put(struct mt_symbolizer *s, uint64_t addr,
		      const struct mt_symbol *sym)
{
	if (2 * (s->used + 1) > s->cap) {          /* keep load <= 1/2 */
		size_t ncap = s->cap ? 2 * s->cap : 256;
		struct slot *old = s->slots, *nv = calloc(ncap, sizeof *nv);
		if (!nv)
			return;
		size_t ocap = s->cap;
		s->slots = nv;
		s->cap = ncap;
		s->used = 0;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].sym)
				cache_put_slot(s, old[i].addr, old[i].sym);
		free(old);
	}
	struct mt_symbol *copy = malloc(sizeof *copy);
	if (!copy)
		return;
	*copy = *sym;
	cache_put_slot(s, addr, copy);
}

static void cache_clear(struct mt_symbolizer *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i].sym);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->used = 0;
}

/* --- lookup ---------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void resolve(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	if (!mod)
		return;

	Dwarf_Addr start = 0;
	const char *name = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL,
					    NULL, NULL);
	if (name && strncmp(name, "[vdso", 5) == 0) {
		name = "[vdso]";       /* libdwfl names it "[vdso: PID]" */
	}
	copy_str(out->module, sizeof out->module, name);
	size_t len = strlen(out->module), sl = strlen(DELETED_SUFFIX);
	if (len > sl && strcmp(out->module + len - sl, DELETED_SUFFIX) == 0)
		out->module[len - sl] = '\0';

	/* The load bias maps ELF addresses to runtime ones; without the
	 * file, the offset from the module's first mapping is all we have. */
	GElf_Addr bias = 0;
	out->module_offset = dwfl_module_getelf(mod, &bias) ? addr - bias
							    : addr - start;

	GElf_Off off = 0;
	GElf_Sym sym;
	const char *fn = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL,
					      NULL);
	if (fn) {
		copy_str(out->function, sizeof out->function, fn);
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
}

/* --- public ---------------------------------------------------------- */

struct mt_symbolizer *mt_symbolizer_new(pid_t pid)
{
	struct mt_symbolizer *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->pid = pid;
	s->callbacks = (Dwfl_Callbacks){
		.find_elf = find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.debuginfo_path = NULL,     /* the default search path */
	};
	s->dwfl = dwfl_begin(&s->callbacks);
	if (!s->dwfl) {
		free(s);
		return NULL;
	}
	report(s);
	return s;
}

void mt_symbolizer_destroy(struct mt_symbolizer *s)
{
	if (!s)
		return;
	dwfl_end(s->dwfl);
	cache_clear(s);
	mt_maps_free(&s->maps);
	free(s);
}

void mt_symbolizer_refresh(struct mt_symbolizer *s)
{
	if (!s)
		return;
	/* An address may now belong to another module (dlclose + dlopen). */
	cache_clear(s);
	report(s);
}

void mt_symbolize(struct mt_symbolizer *s, uint64_t addr, struct mt_symbol *out)
{
	memset(out, 0, sizeof *out);
	if (!s)
		return;
	const struct mt_symbol *hit = cache_get(s, addr);
	if (hit) {
		*out = *hit;
		return;
	}
	resolve(s, addr, out);
	cache_put(s, addr, out);
}
