/* memtrace detach PID: puts back what a memtrace killed with SIGKILL left
 * at the entry points of a process (the inject engine's jumps, the
 * breakpoint engine's int3s), after checking every byte against the
 * module's file.
 *
 *   1. refuse when a live memtrace traces PID (TracerPid, or an agent's
 *      reader that is a live memtrace): it restores its own;
 *   2. the entries to look at: every hook record of every agent in the
 *      process (agent_abi.h), every allocator entry point of every module
 *      with code (discover.h), and ld.so's _dl_debug_state (rtld.h); the
 *      modules' symbols are read while the process runs;
 *   3. attach: every thread stopped while memtrace looks and writes; the
 *      maps, the agents and their records read again;
 *   4. per entry: memory's bytes, the file's at the entry's file offset,
 *      and the agent's record: leftover.h says clean, a breakpoint,
 *      memtrace's jump, or someone else's change (left alone, said);
 *   5. a breakpoint or a jump gets the file's bytes back, unless a thread
 *      is stopped inside them, and is read back;
 *   5b. CPython's allocator tables whose entries hold an agent's
 *      trampolines (inj_pytab.c) get their functions back;
 *   6. each agent's records say not live and its rings have no reader;
 *      the agent and the trampolines stay mapped (a thread may still run
 *      in them), as after a clean detach.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/allocfn.h"
#include "cli/cmd_detach.h"
#include "session/diagnose.h"
#include "util/clock.h"
#include "symbols/discover.h"
#include "util/errors.h"
#include "engine/inj_engine.h"
#include "engine/leftover.h"
#include "target/maps.h"
#include "target/memio.h"
#include "util/msg.h"
#include "symbols/rtld.h"
#include "target/target.h"

#define MAX_ENTRIES 256

struct entry {
	uint64_t addr;
	char name[64];
};

struct detach {
	pid_t pid;
	bool verbose;
	struct mt_target *t;
	struct mt_maps maps;
	struct mt_inj_leftover lo;
	struct entry v[MAX_ENTRIES];
	int n;
	int jumps, int3s, left;
	struct mt_alloc_set py;    /* CPython's entry points found (step 5b) */
	int tables;                /* table entries put back */
};

static void add_entry(struct detach *d, uint64_t addr, const char *name)
{
	for (int i = 0; i < d->n; i++)
		if (d->v[i].addr == addr)
			return;
	if (!addr || d->n == MAX_ENTRIES)
		return;
	d->v[d->n].addr = addr;
	snprintf(d->v[d->n].name, sizeof d->v[d->n].name, "%s", name);
	d->n++;
}

static void add_set(struct detach *d, const struct mt_alloc_set *set)
{
	for (int i = 0; i < set->n; i++) {
		add_entry(d, set->hooks[i].addr, set->hooks[i].symbol);
		bool known = false;
		for (int k = 0; k < d->py.n; k++)
			known |= d->py.hooks[k].addr == set->hooks[i].addr;
		if (!known && d->py.n < MT_MAX_HOOKS &&
		    mt_fn_family(set->hooks[i].fn) == MT_FAM_PY)
			d->py.hooks[d->py.n++] = set->hooks[i];
	}
}

/* The function a record's trampoline serves (its struct mt_agent_hook). */
static const char *record_name(struct detach *d, const struct mt_agent_hook_rec *r, int slot)
{
	struct mt_agent_hook hk;
	if (slot == MT_AGENT_MAX_HOOKS)
		return "_dl_debug_state";
	if (mt_mem_read(d->pid, r->tramp + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk) == 0 &&
	    hk.addr == r->addr && hk.fn < MT_FN__COUNT)
		return mt_fn_name((enum mt_fn)hk.fn);
	return "a hooked entry";
}

/* Step 2, the agents' records (and again in step 3). */
static void collect_records(struct detach *d)
{
	for (int a = 0; a < d->lo.n; a++)
		for (int k = 0; d->lo.v[a].state && k <= MT_AGENT_MAX_HOOKS; k++)
			if (d->lo.v[a].hooks[k].addr)
				add_entry(d, d->lo.v[a].hooks[k].addr,
					  record_name(d, &d->lo.v[a].hooks[k], k));
}

/* Step 2: what any memtrace may have patched. */
static void collect(struct detach *d)
{
	collect_records(d);
	struct mt_alloc_set set;
	if (mt_discover_allocators(d->pid, &set) == MT_E_OK)
		add_set(d, &set);
	for (size_t i = 0; i < d->maps.n; i++) {
		const struct mt_map *m = &d->maps.v[i];
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = d->maps.v[j].x && d->maps.v[j].path && m->path &&
			       strcmp(d->maps.v[j].path, m->path) == 0;
		if (!seen && m->x && m->path && m->path[0] == '/' &&
		    mt_discover_module_allocators(d->pid, m->path, &set) == MT_E_OK)
			add_set(d, &set);
	}
	uint64_t dl = 0;
	if (mt_rtld_debug_state_addr(d->pid, &dl) == 0)
		add_entry(d, dl, "_dl_debug_state");
}

/* The N bytes of M's file behind ADDR: through map_files (the very file
 * mapped, even deleted), else through the process's root when that path
 * still names the mapped file (same inode).  0 or -errno. */
static int read_file(struct detach *d, const struct mt_map *m, uint64_t addr, uint8_t *buf,
		     unsigned n)
{
	char path[4200];
	snprintf(path, sizeof path, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)d->pid,
		 m->start, m->end);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(path, sizeof path, "/proc/%d/root%s", (int)d->pid, m->path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_ino != m->inode)) {
			close(fd);
			return -ESTALE;   /* replaced on disk since it was mapped */
		}
	}
	if (fd < 0)
		return -errno;
	ssize_t r = pread(fd, buf, n, (off_t)(m->offset + (addr - m->start)));
	int err = r < 0 ? -errno : r != (ssize_t)n ? -EIO : 0;
	close(fd);
	return err;
}

/* The live record of ADDR in any agent, as leftover.h wants it. */
static bool find_record(const struct detach *d, uint64_t addr, struct mt_leftover_rec *rec)
{
	for (int a = 0; a < d->lo.n; a++)
		for (int k = 0; d->lo.v[a].state && k <= MT_AGENT_MAX_HOOKS; k++) {
			const struct mt_agent_hook_rec *r = &d->lo.v[a].hooks[k];
			if (r->addr != addr || !r->live)
				continue;
			rec->patch_len = r->patch_len;
			memcpy(rec->orig, r->orig, sizeof rec->orig);
			memcpy(rec->patch, r->patch, sizeof rec->patch);
			return true;
		}
	return false;
}

/* MEM jumps onto a trampoline of one of the agents found. */
static bool onto_tramp(const struct detach *d, uint64_t addr, const uint8_t *mem)
{
	uint64_t t = mt_leftover_jump_target(addr, mem);
	uint8_t head[64];
	if (!t || mt_mem_read(d->pid, t, head, sizeof head) < 0)
		return false;
	for (int a = 0; a < d->lo.n; a++)
		if (mt_leftover_tramp_ok(addr, t, head, d->lo.v[a].code, d->lo.v[a].code_end))
			return true;
	return false;
}

struct pc_check {
	struct detach *d;
	uint64_t lo, hi;
	bool inside;
};

/* A thread stopped after the first byte and before the end of the bytes
 * to write would resume in the middle of an instruction. */
static void check_pc(void *ctx, pid_t tid)
{
	struct pc_check *c = ctx;
	mt_regs r;
	if (mt_target_get_regs(c->d->t, tid, &r) == 0 && mt_regs_pc(&r) > c->lo &&
	    mt_regs_pc(&r) < c->hi)
		c->inside = true;
}

/* Step 5 for entry E, mapped by M: FILE's first LEN bytes back.  True
 * when memory holds them now. */
static bool restore(struct detach *d, const struct entry *e, const struct mt_map *m,
		    const struct mt_leftover *what, const uint8_t *file)
{
	const char *kind = what->kind == MT_LEFTOVER_JUMP ? "a jump" : "a breakpoint";
	struct pc_check c = { d, e->addr, e->addr + what->len, false };
	mt_target_for_each_task(d->t, check_pc, &c);
	uint8_t now[MT_LEFTOVER_MAX];
	if (c.inside) {
		mt_say("warning: %s at %#" PRIx64 " in %s keeps %s: a thread is stopped inside it; "
		       "run memtrace detach again", e->name, e->addr, m->path, kind);
		d->left++;
		return false;
	}
	if (mt_mem_write(d->pid, e->addr, file, what->len) < 0 ||
	    mt_mem_read(d->pid, e->addr, now, what->len) < 0 || memcmp(now, file, what->len) != 0) {
		mt_say("warning: %s at %#" PRIx64 " in %s keeps %s: its code cannot be written",
		       e->name, e->addr, m->path, kind);
		d->left++;
		return false;
	}
	*(what->kind == MT_LEFTOVER_JUMP ? &d->jumps : &d->int3s) += 1;
	mt_say("restored %s at %#" PRIx64 " in %s: %s, %u byte%s put back as the file has them",
	       e->name, e->addr, m->path, kind, what->len, what->len == 1 ? "" : "s");
	return true;
}

/* Step 4 for entry E. */
static void check_entry(struct detach *d, const struct entry *e)
{
	const struct mt_map *m = mt_maps_find(&d->maps, e->addr);
	if (!m || !m->path || !m->x)
		return;   /* unmapped since (dlclose): nothing left there */
	uint64_t room = m->end - e->addr;
	unsigned n = room < MT_LEFTOVER_MAX ? (unsigned)room : MT_LEFTOVER_MAX;
	uint8_t mem[MT_LEFTOVER_MAX], file[MT_LEFTOVER_MAX];
	int err = mt_mem_read(d->pid, e->addr, mem, n);
	if (err == 0)
		err = read_file(d, m, e->addr, file, n);
	if (err < 0) {
		mt_say("warning: %s at %#" PRIx64 " in %s is not checked: %s", e->name, e->addr,
		       m->path, err == -ESTALE ? "its file was replaced on disk" : strerror(-err));
		d->left++;
		return;
	}
	struct mt_leftover_rec rec;
	bool have_rec = find_record(d, e->addr, &rec);
	struct mt_leftover what = mt_leftover_classify(mem, file, n, have_rec ? &rec : NULL,
						       onto_tramp(d, e->addr, mem));
	if (what.kind == MT_LEFTOVER_FOREIGN) {
		mt_say("warning: %s at %#" PRIx64 " in %s is left as it is: %s", e->name, e->addr,
		       m->path, what.why);
		d->left++;
		return;
	}
	if (what.kind == MT_LEFTOVER_CLEAN && d->verbose)
		mt_say("%s at %#" PRIx64 " in %s: as in the file", e->name, e->addr, m->path);
	if (what.kind == MT_LEFTOVER_CLEAN || restore(d, e, m, &what, file))
		for (int a = 0; a < d->lo.n; a++)
			mt_inj_leftover_unhooked(d->pid, &d->lo.v[a], e->addr);
}

/* Step 1, for the agents' readers: a memtrace that is still draining. */
static pid_t live_reader(const struct detach *d)
{
	for (int a = 0; a < d->lo.n; a++)
		if (mt_diagnose_live_memtrace(d->lo.v[a].reader_pid))
			return d->lo.v[a].reader_pid;
	return 0;
}

/* The process's maps and agents as they are now: 0, or -1 when it is gone. */
static int look(struct detach *d)
{
	mt_maps_free(&d->maps);
	if (mt_maps_read(d->pid, &d->maps) < 0)
		return -1;
	mt_inj_leftover_find(d->pid, &d->maps, &d->lo);
	return 0;
}

/* Steps 1 (the agents' readers), 4, 5 and 6, every thread stopped. */
static int run(struct detach *d)
{
	if (look(d) < 0)
		return mt_fail(MT_E_TARGET_LOST, "PID %d exited while memtrace looked at it",
			       (int)d->pid);
	pid_t reader = live_reader(d);
	if (reader)
		return mt_fail(MT_E_ALREADY_TRACED, "memtrace PID %d still reads the agent in PID %d: "
			       "let it finish (it restores what it patched itself)", (int)reader,
			       (int)d->pid);
	if (d->verbose)
		mt_say("pid %d: %d memtrace agent%s found", (int)d->pid, d->lo.n,
		       d->lo.n == 1 ? "" : "s");
	collect_records(d);
	for (int i = 0; i < d->n; i++)
		check_entry(d, &d->v[i]);
	d->tables = mt_inj_leftover_pytab(d->pid, &d->maps, &d->py, &d->lo);
	if (d->tables)
		mt_say("pid %d: restored %d CPython allocator table entr%s (their functions, in "
		       "place of memtrace's trampolines)", (int)d->pid, d->tables,
		       d->tables == 1 ? "y" : "ies");
	for (int a = 0; a < d->lo.n; a++)
		mt_inj_leftover_readerless(d->pid, &d->lo.v[a]);
	return 0;
}

static int report(const struct detach *d)
{
	int fixed = d->jumps + d->int3s;
	if (d->left)
		return mt_fail(MT_E_NOT_RESTORED, "PID %d: %d entr%s left as found, %d restored: "
			       "see the warnings above", (int)d->pid, d->left,
			       d->left == 1 ? "y" : "ies", fixed);
	if (!fixed && !d->tables)   /* the tables' entries: said in run() */
		mt_say("pid %d: nothing to restore", (int)d->pid);
	if (fixed)
		mt_say("pid %d: restored %d entry point%s (%d jump%s, %d breakpoint%s)%s", (int)d->pid,
		       fixed, fixed == 1 ? "" : "s", d->jumps, d->jumps == 1 ? "" : "s", d->int3s,
		       d->int3s == 1 ? "" : "s",
		       d->lo.n ? "; the agent stays mapped, unused" : "");
	return 0;
}

int mt_cmd_detach(const struct mt_options *o)
{
	char msg[512];
	enum mt_err e = mt_diagnose_detach(o->pid, msg, sizeof msg);
	if (e != MT_E_OK)
		return mt_fail(e, "%s", msg);
	static struct detach d;   /* large: not on the stack */
	d = (struct detach){ .pid = o->pid, .verbose = o->verbose };
	if (look(&d) < 0)
		return mt_fail(MT_E_NO_PROCESS, "no process with PID %d: check the PID with ps or "
			       "pidof", (int)d.pid);
	pid_t reader = live_reader(&d);
	if (reader) {
		mt_maps_free(&d.maps);
		return mt_fail(MT_E_ALREADY_TRACED, "memtrace PID %d still reads the agent in PID "
			       "%d: let it finish (it restores what it patched itself)", (int)reader,
			       (int)d.pid);
	}
	collect(&d);

	double t0 = 1e3 * mt_clock_s();
	struct mt_attach_diag diag;
	int err = mt_target_attach(d.pid, &d.t, &diag);
	if (err < 0) {
		mt_maps_free(&d.maps);
		e = mt_diagnose_attach_error(d.pid, err, msg, sizeof msg);
		return mt_fail(e, "%s", msg);
	}
	int rc = run(&d);
	mt_target_detach_all(d.t);
	mt_target_free(d.t);
	mt_maps_free(&d.maps);
	if (d.verbose)
		mt_say("threads were stopped %.1f ms", 1e3 * mt_clock_s() - t0);
	return rc ? rc : report(&d);
}
