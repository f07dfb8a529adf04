/* The in-process engine.  See inj_engine.h, agent_abi.h and ring.h.
 *
 * install (all threads stopped):
 *   1. find the agent an earlier memtrace left in the target (its header
 *      in an anonymous r-x mapping), or map a new one: injected mmap r-x of
 *      code + state, the image written, mprotect rw of the state (never
 *      writable and executable at once), MADV_WIPEONFORK on
 *      the configuration page; an injected memfd_create + ftruncate +
 *      F_ADD_SEALS + mmap MAP_SHARED + MADV_DONTFORK for the shared
 *      region.  The target keeps the memfd open (records.region_fd1):
 *      memtrace takes it with pidfd_getfd(2), which any user who may
 *      ptrace the target may call, where /proc/PID/map_files needs
 *      CAP_SYS_ADMIN (issue 16).  An agent whose configuration is wiped
 *      (a forked child's, see agent_abi.h) or whose region cannot be
 *      reached any more is given a new region;
 *   2. configure the state page (thread-id offset, depth, sampling, where
 *      the region is), then mark memtrace as the reader;
 *   3. per hook: plan the patch (tramp_plan.h), write the trampoline into
 *      a page within +-2 GiB of the entry (an earlier one is reused when
 *      its bytes are still right), check that no thread's pc is inside
 *      the bytes to patch, and write the jump.
 *
 * While tracing, poll() drains the rings into the sink (ringdec.c), turns
 * the agent's stack hashes into interned stacks, and a rule server thread
 * (rulesrv.c) answers the agent's requests for unwind rules.
 *
 * remove (all threads stopped): drain, restore every patched entry, and
 * tell the agent no reader is attached.  The agent, its state and the
 * trampolines stay mapped: a thread may still be inside them, or return
 * into them, and a later attach reuses them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/agent_abi.h"
#include "agent/agent_image.h"
#include "util/errors.h"
#include "engine/inj_engine.h"
#include "target/maps.h"
#include "target/memio.h"
#include "target/remote.h"
#include "agent/ring.h"
#include "engine/ringdec.h"
#include "engine/rulesrv.h"
#include "arch/tramp_plan.h"

#define REACH (1ULL << 30)       /* how far a trampoline page may sit from its hooks */
#define MAX_PAGES MT_AGENT_MAX_HOOKS
#define SLOTS_PER_PAGE (MT_REMOTE_PAGE / MT_AGENT_TRAMP_SIZE)
#define CODE_READ 256            /* bytes of a function read to plan its patch */
#define RING_CAPACITY 32768u     /* records per ring: 2 MiB */
#define RULES_CAP 65536u
#define STACKS_CAP 32768u
#define DL_SLOT MT_AGENT_MAX_HOOKS /* state.hooks[] index of ld.so's hook */

struct hook {
	const struct mt_hook_spec *spec;   /* NULL for ld.so's notification */
	uint64_t addr, tramp;
	unsigned patch_len;
	uint8_t orig[MT_TRAMP_MAX_PATCH], patch[MT_TRAMP_MAX_PATCH];
	bool live;
};

struct page {
	uint64_t addr;
	unsigned used;
};

struct scache_ent {
	uint64_t hash;
	uint32_t id;
};

struct inj_engine {
	struct mt_engine base;
	struct mt_target *t;
	pid_t pid;
	const struct mt_alloc_set *set;
	mt_event_sink sink;
	void *sink_ctx;
	struct mt_inj_config cfg;
	uint64_t syscall_pc;

	struct mt_agent_header hdr;
	uint64_t agent;            /* the agent's mapping in the target, 0: none */
	uint64_t state;            /* its state page */
	uint64_t shm_target;       /* the memfd mapping in the target */
	void *shm;                 /* and in memtrace */
	size_t shm_len, rings_len;
	struct mt_agent_shared *sh; /* memtrace's view: untrusted */
	uint32_t stack_max, stack_slot, stacks_cap;
	uint64_t stacks_off;
	struct mt_ringdec *dec;
	struct mt_rulesrv *rs;
	bool reader;               /* we told the agent we read */

	struct page pages[MAX_PAGES];
	int npages;
	struct hook hooks[MT_MAX_HOOKS];
	int nhooks;
	struct hook dl;
	void (*dl_cb)(void *ctx, pid_t tid);
	void *dl_ctx;
	uint32_t dl_seen;

	char why[256];             /* why the agent cannot be used */
	uint32_t foreign_agent;    /* the version of another memtrace's agent found, 0: none */

	struct scache_ent *scache; /* agent stack hash -> interned id */
	size_t scap, sn;

	struct mt_engine_stats st;
	uint64_t emitted;
	struct mt_ringdec_stats at_start;  /* the agent's counts when we started */
	uint64_t base_truncated, base_lost, base_refusals, base_timeouts;
};

static int peek(struct inj_engine *e, uint64_t addr, void *buf, size_t len)
{
	return mt_mem_read(e->pid, addr, buf, len);
}

static int poke(struct inj_engine *e, uint64_t addr, const void *buf, size_t len)
{
	return mt_mem_write(e->pid, addr, buf, len);
}

static long rsys(struct inj_engine *e, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3, uint64_t a4, uint64_t a5)
{
	uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
	long ret;
	int err = mt_remote_syscall(e->t, e->syscall_pc, nr, args, &ret);
	return err ? err : ret;
}

static void put_state(struct inj_engine *e, size_t off, const void *v, size_t len)
{
	poke(e, e->state + off, v, len);
}

/* ---- the agent's stacks ----------------------------------------------- */

/* The agent unwinds at most --depth return addresses, as stackcap.c does. */
_Static_assert(MT_AGENT_MAX_DEPTH == MT_STACKS_MAX_DEPTH, "--depth has one maximum");

/* The interned stack of the agent's stack HASH: read from the shared
 * table once, validated, cached.  0 when it is not there or not right. */
static uint32_t stack_of(void *ctx, uint64_t hash)
{
	struct inj_engine *e = ctx;
	if (!e->cfg.stacks || !e->scap)
		return 0;
	size_t mask = e->scap - 1;
	for (size_t i = hash & mask; e->scache[i].hash; i = (i + 1) & mask)
		if (e->scache[i].hash == hash)
			return e->scache[i].id;

	uint64_t pcs[MT_AGENT_MAX_DEPTH + 1];
	uint32_t n = 0;
	const char *base = (const char *)e->sh + e->stacks_off;
	uint64_t j = hash & (e->stacks_cap - 1);
	for (int probe = 0; probe < 32 && !n; probe++, j = (j + 1) & (e->stacks_cap - 1)) {
		const struct mt_agent_stack *s =
			(const struct mt_agent_stack *)(base + j * e->stack_slot);
		if (__atomic_load_n(&s->hash, __ATOMIC_ACQUIRE) != hash)
			continue;
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != MT_AGENT_STACK_READY)
			break;
		uint32_t k = __atomic_load_n(&s->n, __ATOMIC_RELAXED);
		if (k == 0 || k > e->stack_max || k > MT_AGENT_MAX_DEPTH + 1)
			break;
		for (uint32_t q = 0; q < k; q++)
			pcs[q] = __atomic_load_n(&s->pcs[q], __ATOMIC_RELAXED);
		if (mt_agent_stack_hash(pcs, k) == hash)
			n = k;
		break;
	}
	if (!n)
		return 0;
	uint32_t id = mt_stacks_intern(e->cfg.stacks, pcs, (int)n);
	if (!id)
		return 0;
	if (2 * (e->sn + 1) > e->scap) {
		size_t cap = e->scap * 2;
		struct scache_ent *v = calloc(cap, sizeof *v);
		if (!v)
			return id;
		for (size_t i = 0; i < e->scap; i++) {
			if (!e->scache[i].hash)
				continue;
			size_t k = e->scache[i].hash & (cap - 1);
			while (v[k].hash)
				k = (k + 1) & (cap - 1);
			v[k] = e->scache[i];
		}
		free(e->scache);
		e->scache = v;
		e->scap = cap;
		mask = cap - 1;
	}
	size_t i = hash & mask;
	while (e->scache[i].hash)
		i = (i + 1) & mask;
	e->scache[i] = (struct scache_ent){ hash, id };
	e->sn++;
	return id;
}

/* ---- finding or mapping the agent ------------------------------------- */

static bool header_ok(const struct mt_agent_header *h)
{
	return h->magic == MT_AGENT_MAGIC && h->version == MT_AGENT_VERSION &&
	       h->header_size == sizeof *h && h->state_off >= h->code_size &&
	       h->state_end > h->state_off && h->state_end - h->state_off >= sizeof(struct mt_agent_state);
}

/* The target's file descriptor TFD, duplicated into memtrace: -errno when
 * memtrace may not (pidfd_getfd(2) asks what ptrace asks) or it is closed. */
static int borrow_fd(pid_t pid, int tfd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	int err = errno;
	close(pidfd);
	return fd < 0 ? -err : fd;
}

/* Whether FD is the file mapped at ADDR in MAPS, LEN bytes and shared: the
 * target's fd number may have been closed and reused by the program. */
static bool fd_is_mapping(int fd, const struct mt_maps *maps, uint64_t addr, uint64_t len)
{
	const struct mt_map *m = mt_maps_find(maps, addr);
	struct stat sb;
	return m && m->start == addr && m->end - m->start == len && !m->p && fstat(fd, &sb) == 0 &&
	       (uint64_t)sb.st_ino == m->inode && major(sb.st_dev) == m->dev_major &&
	       minor(sb.st_dev) == m->dev_minor && (uint64_t)sb.st_size >= len;
}

/* Maps the shared region the target has at ADDR (LEN bytes) into memtrace,
 * and checks its geometry: through the target's fd TFD of its memfd (-1:
 * unknown) when it is still that file, else through /proc/PID/map_files
 * (which needs CAP_SYS_ADMIN).  MAPS: the target's, NULL when TFD is known
 * to be right (just made). */
static int map_shared(struct inj_engine *e, uint64_t addr, uint64_t len, int tfd,
		      const struct mt_maps *maps)
{
	int fd = tfd >= 0 ? borrow_fd(e->pid, tfd) : -EBADF;
	if (fd >= 0 && maps && !fd_is_mapping(fd, maps, addr, len)) {
		close(fd);
		fd = -EBADF;
	}
	if (fd < 0) {
		char path[128];
		snprintf(path, sizeof path, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)e->pid,
			 addr, addr + len);
		int fd2 = open(path, O_RDWR | O_CLOEXEC);
		if (fd2 < 0)
			return fd == -EBADF ? -errno : fd;
		fd = fd2;
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED)
		return -err;
	e->shm = p;
	e->shm_len = len;
	e->shm_target = addr;
	return 0;
}

static void unmap_shared(struct inj_engine *e)
{
	if (e->shm)
		munmap(e->shm, e->shm_len);
	e->shm = NULL;
	e->sh = NULL;
	e->shm_len = e->rings_len = 0;
	e->shm_target = 0;
}

/* The geometry of the shared part, read once: memtrace's own copies. */
static int adopt_shared(struct inj_engine *e, size_t rings_len)
{
	if (rings_len % 4096 || rings_len + sizeof(struct mt_agent_shared) > e->shm_len)
		return -EINVAL;
	e->rings_len = rings_len;
	e->sh = (struct mt_agent_shared *)((char *)e->shm + rings_len);
	struct mt_agent_shared *sh = e->sh;
	uint64_t avail = e->shm_len - rings_len;
	uint64_t magic = __atomic_load_n(&sh->magic, __ATOMIC_RELAXED);
	uint32_t rcap = __atomic_load_n(&sh->rules_cap, __ATOMIC_RELAXED);
	uint64_t roff = __atomic_load_n(&sh->rules_off, __ATOMIC_RELAXED);
	e->stack_max = __atomic_load_n(&sh->stack_max, __ATOMIC_RELAXED);
	e->stack_slot = __atomic_load_n(&sh->stack_slot, __ATOMIC_RELAXED);
	e->stacks_cap = __atomic_load_n(&sh->stacks_cap, __ATOMIC_RELAXED);
	e->stacks_off = __atomic_load_n(&sh->stacks_off, __ATOMIC_RELAXED);
	if (magic != MT_AGENT_SHARED_MAGIC || !rcap || (rcap & (rcap - 1)) || rcap > (1u << 22) ||
	    roff < sizeof *sh || roff > avail || (uint64_t)rcap * sizeof(struct mt_agent_rule) > avail - roff ||
	    e->stack_max < 2 || e->stack_max > MT_AGENT_MAX_DEPTH + 1 ||
	    e->stack_slot != 16 + 8 * e->stack_max || !e->stacks_cap ||
	    (e->stacks_cap & (e->stacks_cap - 1)) || e->stacks_cap > (1u << 22) ||
	    e->stacks_off < sizeof *sh || e->stacks_off > avail ||
	    (uint64_t)e->stacks_cap * e->stack_slot > avail - e->stacks_off)
		return -EINVAL;
	return 0;
}

static int map_region(struct inj_engine *e, int nthreads);

/* Whether an agent's configuration names a region: written whole by a
 * memtrace (rings last), not wiped by a fork. */
static bool configured(const struct mt_agent_state *st)
{
	return st->magic == MT_AGENT_STATE_MAGIC && st->rings && st->shared > st->rings &&
	       st->shared - st->rings < st->shared_len;
}

/* A forked child holds its parent's memfd open at the fd number the
 * records name (agent_abi.h): closed, so that the child keeps nothing of
 * its parent's region.  Only a descriptor that still is such a memfd. */
static void close_inherited_fd(struct inj_engine *e, const struct mt_agent_state *st)
{
	if (st->region_fd1 <= 0)
		return;
	char path[64], link[128];
	snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)e->pid, st->region_fd1 - 1);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n <= 0)
		return;
	link[n] = '\0';
	if (strncmp(link, "/memfd:" MT_AGENT_REGION_NAME " ", 7 + sizeof MT_AGENT_REGION_NAME) == 0)
		rsys(e, SYS_close, (uint64_t)(st->region_fd1 - 1), 0, 0, 0, 0, 0);
}

/* An agent an earlier memtrace of this version left: 1 found and adopted
 * (with the region it had, or a new one), 0 none, or -errno. */
static int find_agent(struct inj_engine *e, const struct mt_maps *maps)
{
	for (size_t i = 0; i < maps->n; i++) {
		const struct mt_map *m = &maps->v[i];
		if (m->path || !m->x || m->w || m->end - m->start < sizeof(struct mt_agent_header))
			continue;
		struct mt_agent_header h;
		if (peek(e, m->start, &h, sizeof h) < 0 || h.magic != MT_AGENT_MAGIC)
			continue;
		if (!header_ok(&h) || memcmp(&h, mt_agent_image, sizeof h) != 0) {
			/* Another memtrace version's, left by an earlier trace:
			 * inert unless its jumps are still in place (its memtrace
			 * was killed), which install_hook then names.  This
			 * memtrace maps its own beside it. */
			e->foreign_agent = h.version;
			continue;
		}
		struct mt_agent_state st;
		if (peek(e, m->start + h.state_off, &st, sizeof st) < 0)
			return -EFAULT;
		e->hdr = h;
		e->agent = m->start;
		e->state = m->start + h.state_off;
		/* What it had installed: reusable trampolines, and hooks still
		 * live if that memtrace was killed (or the fork copied them). */
		for (int k = 0; k < MAX_PAGES; k++)
			if (st.tramp_pages[k] && e->npages < MAX_PAGES)
				e->pages[e->npages++] = (struct page){ st.tramp_pages[k], SLOTS_PER_PAGE };
		e->st.reused_agent = true;
		if (configured(&st)) {
			int err = map_shared(e, st.rings, st.shared_len, st.region_fd1 - 1, maps);
			if (err == 0)
				err = adopt_shared(e, st.shared - st.rings);
			if (err == 0)
				return 1;
			/* Out of reach (its fd closed by the program, and no
			 * CAP_SYS_ADMIN for map_files), or damaged: a new one.
			 * A call in flight in the old region is not seen, as
			 * any call in flight at attach. */
			unmap_shared(e);
			e->st.agent_new_region = MT_AGENT_REGION_UNREACHABLE;
		} else {
			/* Wiped by a fork: the parent's region is not mapped
			 * here (MADV_DONTFORK), only its fd is left. */
			close_inherited_fd(e, &st);
			e->st.agent_new_region = MT_AGENT_REGION_FORKED;
		}
		int err = map_region(e, mt_target_thread_count(e->t));
		return err < 0 ? err : 1;
	}
	return 0;
}

static int map_agent(struct inj_engine *e)
{
	memcpy(&e->hdr, mt_agent_image, sizeof e->hdr);
	if (!header_ok(&e->hdr) || e->hdr.code_size < mt_agent_image_len)
		return -EINVAL;
	/* Mapped executable from the start and written through ptrace, then
	 * the state made writable: no mapping is ever writable and executable
	 * nor becomes executable, so memory-deny-write-execute (systemd's
	 * MemoryDenyWriteExecute=, prctl PR_SET_MDWE) lets the agent in. */
	int err;
	uint64_t a = mt_remote_mmap(e->t, e->syscall_pc, 0, e->hdr.state_end, PROT_READ | PROT_EXEC,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, &err);
	if (!a) {
		snprintf(e->why, sizeof e->why, "the process may not map executable memory "
			 "(mmap: %s)", strerror(-err));
		return err;
	}
	long r = poke(e, a, mt_agent_image, mt_agent_image_len) < 0 ? -EFAULT : 0;
	if (r == 0)
		r = rsys(e, SYS_mprotect, a + e->hdr.state_off, e->hdr.state_end - e->hdr.state_off,
			 PROT_READ | PROT_WRITE, 0, 0, 0);
	if (r < 0)
		snprintf(e->why, sizeof e->why, "the agent could not be written into the process "
			 "(%s)", strerror((int)-r));
	/* A forked child sees the configuration zeroed: its agent stays off
	 * (the records stay: agent_abi.h).  A child must never see a live
	 * configuration: without this, no agent. */
	if (r == 0)
		r = rsys(e, SYS_madvise, a + e->hdr.state_off, MT_AGENT_RECORDS_OFF,
			 MADV_WIPEONFORK, 0, 0, 0);
	if (r < 0) {
		if (!e->why[0])
			snprintf(e->why, sizeof e->why, "the kernel cannot wipe the agent's state "
				 "in a forked child (MADV_WIPEONFORK: %s)", strerror((int)-r));
		rsys(e, SYS_munmap, a, e->hdr.state_end, 0, 0, 0, 0);
		return (int)r;
	}
	e->agent = a;
	e->state = a + e->hdr.state_off;
	return 0;
}

static int map_region(struct inj_engine *e, int nthreads)
{
	uint32_t nrings = 64;
	while (nrings < 2u * (uint32_t)nthreads + 16 && nrings < MT_RING_MAX_RINGS)
		nrings *= 2;
	size_t rings_len = (mt_ring_region_bytes(nrings, RING_CAPACITY) + 4095) & ~(size_t)4095;
	uint32_t stack_max = MT_AGENT_MAX_DEPTH + 1, slot = 16 + 8 * stack_max;
	uint64_t rules_off = (sizeof(struct mt_agent_shared) + 63) & ~63ULL;
	uint64_t stacks_off = rules_off + (uint64_t)RULES_CAP * sizeof(struct mt_agent_rule);
	uint64_t len = rings_len + ((stacks_off + (uint64_t)STACKS_CAP * slot + 4095) & ~4095ULL);

	/* The name memfd_create needs, in the target: the state page (rw). */
	static const char name[] = MT_AGENT_REGION_NAME;
	uint64_t name_at = e->state + offsetof(struct mt_agent_state, reserved);
	poke(e, name_at, name, sizeof name);
	long fd = rsys(e, SYS_memfd_create, name_at, MFD_CLOEXEC | MFD_ALLOW_SEALING, 0, 0, 0, 0);
	uint64_t zero[4] = { 0 };
	poke(e, name_at, zero, sizeof zero);
	if (fd < 0) {
		snprintf(e->why, sizeof e->why, "memfd_create in the process failed: %s",
			 strerror((int)-fd));
		return (int)fd;
	}
	long r = rsys(e, SYS_ftruncate, (uint64_t)fd, len, 0, 0, 0, 0);
	/* A region that cannot shrink: memtrace's reads never fault. */
	if (r == 0)
		r = rsys(e, SYS_fcntl, (uint64_t)fd, F_ADD_SEALS,
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 0, 0, 0);
	int err = 0;
	uint64_t a = 0;
	if (r == 0)
		a = mt_remote_mmap(e->t, e->syscall_pc, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				   (int)fd, &err);
	/* A forked child must not share it (agent_abi.h). */
	if (a)
		r = rsys(e, SYS_madvise, a, len, MADV_DONTFORK, 0, 0, 0);
	if (r == 0 && a)
		err = map_shared(e, a, len, (int)fd, NULL);
	if (r < 0 || !a || err < 0) {
		if (a)
			rsys(e, SYS_munmap, a, len, 0, 0, 0, 0);
		rsys(e, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);
		int code = r < 0 ? (int)r : err < 0 ? err : -ENOMEM;
		bool taking = r == 0 && a;
		snprintf(e->why, sizeof e->why, "%s: %s%s",
			 taking ? "memtrace could not take the agent's shared memory from the process"
				: "the agent's shared memory could not be set up in the process",
			 strerror(-code),
			 !taking ? ""
			 : code == -ENOSYS ? " (pidfd_getfd needs Linux 5.6, /proc/PID/map_files "
					     "CAP_SYS_ADMIN)"
					   : " (pidfd_getfd needs the right to ptrace the process, "
					     "/proc/PID/map_files CAP_SYS_ADMIN)");
		return code;
	}
	/* The program keeps the fd (close-on-exec): a later memtrace takes it. */
	int32_t fd1 = (int32_t)fd + 1;
	put_state(e, offsetof(struct mt_agent_state, region_fd1), &fd1, sizeof fd1);
	if (mt_ring_region_init(e->shm, rings_len, nrings, RING_CAPACITY) < 0)
		return -EINVAL;
	struct mt_agent_shared *sh = (struct mt_agent_shared *)((char *)e->shm + rings_len);
	*sh = (struct mt_agent_shared){
		.magic = MT_AGENT_SHARED_MAGIC, .version = MT_AGENT_VERSION, .size = sizeof *sh,
		.rules_off = rules_off, .rules_cap = RULES_CAP, .stack_max = stack_max,
		.stacks_off = stacks_off, .stacks_cap = STACKS_CAP, .stack_slot = slot,
	};
	return adopt_shared(e, rings_len);
}

/* The offset from the thread pointer where glibc (or another libc) keeps
 * each thread's id: the first one that holds the id of every stopped
 * thread.  0 when none does (the agent then asks the kernel). */
#define TID_PROBE_WORDS 256   /* offsets 0 to 1 KiB past the thread pointer */

struct tid_probe {
	struct inj_engine *e;
	uint32_t ok[TID_PROBE_WORDS];   /* candidate offsets / 4 still possible */
	int threads;
	bool failed;
};

/* Reads the first TID_PROBE_WORDS words at a thread's pointer; a thread's
 * struct pthread may end its stack's mapping (glibc puts it at the top),
 * so what lies past the thread pointer's page may be unmapped: then only
 * that page is read.  How many words were read, 0 on failure. */
static int read_tp_words(struct inj_engine *e, uint64_t tp, uint32_t *words)
{
	if (peek(e, tp, words, TID_PROBE_WORDS * 4) == 0)
		return TID_PROBE_WORDS;
	uint64_t in_page = 4096 - (tp & 4095);
	int n = (int)(in_page / 4);
	if (n > TID_PROBE_WORDS)
		n = TID_PROBE_WORDS;
	return n > 0 && peek(e, tp, words, (size_t)n * 4) == 0 ? n : 0;
}

static void probe_tid(void *ctx, pid_t tid)
{
	struct tid_probe *p = ctx;
	mt_regs r;
	uint32_t words[TID_PROBE_WORDS];
	int n = 0;
	if (mt_target_get_regs(p->e->t, tid, &r) < 0 || !mt_regs_tp(&r) ||
	    (n = read_tp_words(p->e, mt_regs_tp(&r), words)) == 0) {
		p->failed = true;
		return;
	}
	for (int i = 0; i < TID_PROBE_WORDS; i++)
		if (i >= n || words[i] != (uint32_t)tid)
			p->ok[i] = 0;
	p->threads++;
}

static uint32_t find_tid_offset(struct inj_engine *e)
{
	struct tid_probe p = { .e = e };
	for (int i = 0; i < TID_PROBE_WORDS; i++)
		p.ok[i] = 1;
	mt_target_for_each_task(e->t, probe_tid, &p);
	if (p.failed || !p.threads)
		return 0;
	/* glibc 2.36 x86_64: struct pthread's tid at 0x2d0; prefer it when
	 * it fits, else the first candidate past the TCB header. */
	if (p.ok[0x2d0 / 4])
		return 0x2d0;
	for (int i = 0x40 / 4; i < TID_PROBE_WORDS; i++)
		if (p.ok[i] && p.threads > 1)
			return (uint32_t)i * 4;
	return 0;
}

/* ---- trampolines ------------------------------------------------------ */

/* A hole for a trampoline page near NEAR.  MAPS was read before any page
 * of this install was mapped: once one was, the hole MAPS shows may be the
 * one it took (past 16 hooks: a C++ allocator has 30), so the maps are
 * read again. */
static uint64_t find_page_hole(struct inj_engine *e, const struct mt_maps *maps, uint64_t near)
{
	struct mt_maps fresh;
	if (e->npages == 0 || mt_maps_read(e->pid, &fresh) < 0)
		return mt_remote_find_hole(maps, near, MT_REMOTE_PAGE, REACH);
	uint64_t hole = mt_remote_find_hole(&fresh, near, MT_REMOTE_PAGE, REACH);
	mt_maps_free(&fresh);
	return hole;
}

static bool map_tramp_page(struct inj_engine *e, uint64_t addr)
{
	return mt_remote_mmap(e->t, e->syscall_pc, addr, MT_REMOTE_PAGE, PROT_READ | PROT_EXEC,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, NULL) != 0;
}

static uint64_t tramp_slot(struct inj_engine *e, const struct mt_maps *maps, uint64_t near)
{
	for (int i = 0; i < e->npages; i++) {
		struct page *pg = &e->pages[i];
		uint64_t d = pg->addr > near ? pg->addr - near : near - pg->addr;
		if (d < REACH && pg->used < SLOTS_PER_PAGE)
			return pg->addr + (uint64_t)pg->used++ * MT_AGENT_TRAMP_SIZE;
	}
	if (e->npages == MAX_PAGES)
		return 0;
	uint64_t hole = find_page_hole(e, maps, near);
	if (!hole || !map_tramp_page(e, hole))
		return 0;
	int k = e->npages++;
	e->pages[k] = (struct page){ hole, 1 };
	put_state(e, offsetof(struct mt_agent_state, tramp_pages) + (size_t)k * 8, &hole, 8);
	return hole;
}

struct pc_check {
	struct inj_engine *e;
	uint64_t lo, hi;
	bool inside;
};

/* A thread stopped inside the bytes about to be patched (after the first
 * instruction, before the first one the patch leaves) is stepped out of
 * them: the covered instructions never branch back into them
 * (tramp_plan.h), so a few steps do.  Testcase: tests/e2e/test_cycles.py
 * (8 threads in malloc, 100 attaches). */
static void check_pc(void *ctx, pid_t tid)
{
	struct pc_check *c = ctx;
	mt_regs r;
	for (int step = 0; step <= MT_TRAMP_MAX_PATCH; step++) {
		if (mt_target_get_regs(c->e->t, tid, &r) < 0)
			return;
		uint64_t pc = mt_regs_pc(&r);
		if (pc <= c->lo || pc >= c->hi)
			return;
		if (step == MT_TRAMP_MAX_PATCH || mt_target_singlestep(c->e->t, tid) < 0)
			break;
	}
	c->inside = true;
}

static void record_hook(struct inj_engine *e, int slot, const struct hook *h)
{
	struct mt_agent_hook_rec rec = { .addr = h->addr, .tramp = h->tramp,
					 .patch_len = h->patch_len, .live = h->live };
	memcpy(rec.orig, h->orig, sizeof rec.orig);
	memcpy(rec.patch, h->patch, sizeof rec.patch);
	put_state(e, offsetof(struct mt_agent_state, hooks) + (size_t)slot * sizeof rec, &rec,
		  sizeof rec);
}

/* Writes H's patch, all threads stopped: NULL, or why not. */
static const char *patch_in(struct inj_engine *e, struct hook *h)
{
	struct pc_check c = { e, h->addr, h->addr + h->patch_len, false };
	mt_target_for_each_task(e->t, check_pc, &c);
	if (c.inside)
		return "a thread was stopped inside its first instructions";
	uint8_t now[MT_TRAMP_MAX_PATCH];
	if (peek(e, h->addr, now, h->patch_len) < 0 || memcmp(now, h->orig, h->patch_len) != 0)
		return "its code changed during install";
	if (poke(e, h->addr, h->patch, h->patch_len) < 0)
		return "its code cannot be written";
	h->live = true;
	return NULL;
}

/* The trampoline of an earlier memtrace for ADDR, if it is intact and its
 * patch fits what the file has. */
static bool reuse_tramp(struct inj_engine *e, struct hook *h, const struct mt_agent_state *st,
			int slot)
{
	const struct mt_agent_hook_rec *rec = &st->hooks[slot];
	if (rec->addr != h->addr || !rec->tramp || rec->patch_len < MT_TRAMP_JMP_LEN ||
	    rec->patch_len > MT_TRAMP_MAX_PATCH || memcmp(rec->orig, h->orig, rec->patch_len) != 0)
		return false;
	struct mt_agent_hook hk;
	if (peek(e, rec->tramp + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk) < 0 || hk.addr != h->addr ||
	    hk.orig != rec->tramp + MT_AGENT_TRAMP_CODE_OFF)
		return false;
	h->tramp = rec->tramp;
	h->patch_len = rec->patch_len;
	memcpy(h->patch, rec->patch, sizeof h->patch);
	return true;
}

/* Plans and installs hook H at slot SLOT: NULL, or why not.  ST: the
 * state as found (an earlier memtrace's records), or NULL. */
static const char *install_hook(struct inj_engine *e, struct hook *h, int slot, enum mt_fn fn,
				const struct mt_maps *maps, const struct mt_agent_state *st)
{
	uint8_t code[CODE_READ];
	if (peek(e, h->addr, code, sizeof code) < 0)
		return "its code cannot be read";
	/* Still patched by a memtrace that was killed: take it over. */
	if (st && st->hooks[slot].addr == h->addr && st->hooks[slot].live &&
	    reuse_tramp(e, h, st, slot) && memcmp(code, h->patch, h->patch_len) == 0) {
		h->live = true;
		e->st.hooks_adopted++;
		return NULL;
	}
	if (memcmp(code, h->orig, MT_MAX_ORIG) != 0)
		return code[0] != 0xe9 ? "its code in memory differs from the file"
		       : e->foreign_agent ? "it still jumps to the agent of another memtrace version "
					    "(killed while tracing): trace with that version, or "
					    "restart the process"
					  : "it already jumps elsewhere (another tool's hook?)";
	if (st && reuse_tramp(e, h, st, slot))
		return patch_in(e, h);

	uint64_t t = tramp_slot(e, maps, h->addr);
	if (!t)
		return "memtrace could not map a trampoline page within reach of it";
	struct mt_tramp_plan plan;
	mt_tramp_plan_make(code, sizeof code, h->addr, t, t + MT_AGENT_TRAMP_CODE_OFF, &plan);
	if (!plan.ok)
		return plan.why;
	uint8_t tr[MT_AGENT_TRAMP_SIZE];
	memset(tr, MT_BP_BYTE, sizeof tr);
	mt_arch_tramp_head(tr, t + MT_AGENT_TRAMP_HOOK_OFF, e->agent + e->hdr.entry[mt_fn_abi(fn)]);
	struct mt_agent_hook hk = { .orig = t + MT_AGENT_TRAMP_CODE_OFF, .addr = h->addr,
				    .fn = (uint32_t)fn, .index = (uint32_t)slot,
				    .alt = h->spec->nothrow_addr };
	memcpy(tr + MT_AGENT_TRAMP_HOOK_OFF, &hk, sizeof hk);
	if (plan.tramp_len > sizeof tr - MT_AGENT_TRAMP_CODE_OFF)
		return "its relocated prologue is too long";
	memcpy(tr + MT_AGENT_TRAMP_CODE_OFF, plan.tramp, plan.tramp_len);
	if (poke(e, t, tr, sizeof tr) < 0)
		return "memtrace's trampoline page cannot be written";
	h->tramp = t;
	h->patch_len = plan.patch_len;
	memcpy(h->patch, plan.patch, sizeof h->patch);
	return patch_in(e, h);
}

/* ---- engine ops ------------------------------------------------------- */

static int setup(struct inj_engine *e, const struct mt_maps *maps)
{
	int found = find_agent(e, maps);
	if (found < 0)
		return found;
	if (!found) {
		int err = map_agent(e);
		if (err == 0) {
			err = map_region(e, mt_target_thread_count(e->t));
			/* nothing refers to an agent just mapped: leave nothing */
			if (err < 0 && rsys(e, SYS_munmap, e->agent, e->hdr.state_end, 0, 0, 0, 0) == 0)
				e->agent = e->state = 0;
		}
		if (err < 0)
			return err;
	}
	return 0;
}

static void route_emit(void *ctx, const struct mt_event *ev)
{
	struct inj_engine *e = ctx;
	e->sink(e->sink_ctx, ev);
	/* A beat every 1024 events: an agent waiting for room in a full ring
	 * sees memtrace at work however long one drain takes. */
	if ((++e->emitted & 1023) == 0)
		__atomic_fetch_add(&((struct mt_ring_region *)e->shm)->reader_heartbeat, 1,
				   __ATOMIC_RELAXED);
}

static int start_reading(struct inj_engine *e)
{
	struct mt_ringdec_ops ops = { .emit = route_emit, .stack = stack_of, .ctx = e };
	int err = mt_ringdec_new(e->shm, e->rings_len, &ops, &e->dec);
	if (err < 0)
		return err;
	mt_ringdec_set_evict(e->dec, !e->cfg.lossless);
	/* The agent's counters run since it was loaded: ours start now. */
	mt_ringdec_stats(e->dec, &e->at_start);
	e->base_truncated = __atomic_load_n(&e->sh->stacks_truncated, __ATOMIC_RELAXED);
	e->base_lost = __atomic_load_n(&e->sh->stacks_lost, __ATOMIC_RELAXED);
	e->base_refusals = __atomic_load_n(&e->sh->rule_refusals, __ATOMIC_RELAXED);
	e->base_timeouts = __atomic_load_n(&e->sh->rule_timeouts, __ATOMIC_RELAXED);
	e->rs = mt_rulesrv_new(e->pid, e->sh, e->shm_len - e->rings_len, e->cfg.debug_dirs,
			       e->cfg.ndebug_dirs);
	if (!e->rs)
		return -ENOMEM;
	uint32_t tid_off = find_tid_offset(e);
	uint32_t depth = (uint32_t)(e->cfg.stacks ? e->cfg.depth : 1);
	struct mt_agent_state st;
	if (peek(e, e->state, &st, sizeof st) < 0)
		return -EFAULT;
	st.magic = MT_AGENT_STATE_MAGIC;
	st.shared = e->shm_target + e->rings_len;
	st.shared_len = e->shm_len;
	st.tid_off = tid_off;
	e->st.tid_offset = tid_off;
	st.depth = depth < 1 ? 1 : depth;
	st.sample_bytes = e->cfg.sample_bytes;
	st.flags = e->cfg.lossless ? MT_AGENT_F_WAIT : 0;
	/* where each thread's ring starts its search (ring.h): the agent
	 * finds its ring without reading the region's geometry */
	uint64_t ring0_off, stride;
	uint32_t nrings;
	mt_ringdec_geometry(e->dec, &ring0_off, &stride, &nrings);
	bool pow2 = (nrings & (nrings - 1)) == 0;
	st.ring0 = pow2 ? e->shm_target + ring0_off : 0;
	st.ring_stride = stride;
	st.ring_mask = pow2 ? nrings - 1 : 0;
	st.rings = 0;   /* written last */
	poke(e, e->state, &st, offsetof(struct mt_agent_state, tramp_pages));
	__atomic_store_n(&e->sh->reader_stale, 0, __ATOMIC_RELAXED);
	e->dl_seen = __atomic_load_n(&e->sh->dl_gen, __ATOMIC_RELAXED);
	__atomic_store_n(&e->sh->dl_ack, e->dl_seen, __ATOMIC_RELEASE);
	mt_ringdec_set_reader(e->dec, getpid());
	put_state(e, offsetof(struct mt_agent_state, rings), &e->shm_target, 8);
	e->reader = true;
	return 0;
}

static enum mt_err inj_install(struct mt_engine *base, bool *installed, const char **why_not)
{
	struct inj_engine *e = (struct inj_engine *)base;
	struct mt_maps maps;
	if (mt_maps_read(e->pid, &maps) < 0)
		return MT_E_TARGET_LOST;
	if (!e->syscall_pc)
		e->syscall_pc = mt_remote_syscall_insn(e->pid, &maps);
	int err = 0;
	if (!e->agent) {
		err = setup(e, &maps);
		if (err == 0)
			err = start_reading(e);
		/* the agent and the region took room the trampolines may not */
		mt_maps_free(&maps);
		if (mt_maps_read(e->pid, &maps) < 0)
			return MT_E_TARGET_LOST;
	}
	if (err < 0) {
		mt_maps_free(&maps);
		for (int i = 0; i < e->set->n; i++) {
			installed[i] = false;
			why_not[i] = e->why[0] ? e->why : "memtrace's agent could not be loaded";
		}
		return MT_E_NOT_TRACEABLE;
	}
	struct mt_agent_state st;
	bool have_st = peek(e, e->state, &st, sizeof st) == 0;

	for (int i = 0; i < e->set->n; i++) {
		const struct mt_hook_spec *spec = &e->set->hooks[i];
		installed[i] = false;
		why_not[i] = NULL;
		bool live = false;
		for (int k = 0; k < e->nhooks; k++)
			live |= e->hooks[k].spec == spec || e->hooks[k].addr == spec->addr;
		if (live) {
			installed[i] = true;
			continue;
		}
		if (e->nhooks == MT_MAX_HOOKS || e->nhooks == MT_AGENT_MAX_HOOKS) {
			why_not[i] = "memtrace hooks at most 64 entry points";
			continue;
		}
		if (mt_fn_abi(spec->fn) >= MT_ABI__COUNT || !e->hdr.entry[mt_fn_abi(spec->fn)]) {
			why_not[i] = "the agent has no handler for it";
			continue;
		}
		/* the slot an earlier memtrace used for this address, else a free one */
		int slot = -1;
		for (int k = 0; have_st && k < MT_AGENT_MAX_HOOKS && slot < 0; k++)
			if (st.hooks[k].addr == spec->addr)
				slot = k;
		for (int k = 0; have_st && k < MT_AGENT_MAX_HOOKS && slot < 0; k++)
			if (st.hooks[k].addr == 0)
				slot = k;
		if (slot < 0) {
			why_not[i] = "no room left in the agent's records";
			continue;
		}
		struct hook *h = &e->hooks[e->nhooks];
		*h = (struct hook){ .spec = spec, .addr = spec->addr };
		memcpy(h->orig, spec->orig, MT_MAX_ORIG);
		why_not[i] = install_hook(e, h, slot, spec->fn, &maps, have_st ? &st : NULL);
		if (why_not[i])
			continue;
		record_hook(e, slot, h);
		if (have_st)
			st.hooks[slot].addr = h->addr;   /* taken */
		installed[i] = true;
		e->nhooks++;
	}
	mt_maps_free(&maps);
	bool have_malloc = false;
	for (int k = 0; k < e->nhooks; k++)
		have_malloc |= mt_fn_set_has(&e->hooks[k].spec->fn_mask, MT_FN_MALLOC);
	e->st.hooks_installed = e->nhooks;
	e->st.hooks_skipped = e->set->n - e->nhooks;
	return have_malloc ? MT_E_OK : MT_E_NO_ALLOCATOR;
}

/* ld.so's _dl_debug_state is a lone `ret` followed by padding: the jump
 * covers the ret and four bytes of padding nothing executes, and the agent
 * returns to the caller itself. */
static int inj_watch(struct mt_engine *base, uint64_t addr, void (*cb)(void *ctx, pid_t tid),
		     void *ctx)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (e->dl.live || !e->agent)
		return -EBUSY;
	uint8_t code[MT_TRAMP_MAX_PATCH];
	if (peek(e, addr, code, sizeof code) < 0)
		return -EFAULT;
	struct mt_agent_state st;
	bool have_st = peek(e, e->state, &st, sizeof st) == 0;
	struct hook *h = &e->dl;
	*h = (struct hook){ .addr = addr, .patch_len = MT_TRAMP_JMP_LEN };
	const struct mt_agent_hook_rec *rec = have_st ? &st.hooks[DL_SLOT] : NULL;
	if (rec && rec->addr == addr && rec->tramp && rec->patch_len == MT_TRAMP_JMP_LEN) {
		memcpy(h->orig, rec->orig, sizeof h->orig);
		memcpy(h->patch, rec->patch, sizeof h->patch);
		h->tramp = rec->tramp;
		if (rec->live && memcmp(code, h->patch, h->patch_len) == 0)
			h->live = true;
	}
	if (!h->live) {
		/* ret, then multi-byte nop padding (66/0f/2e/90 prefixes) */
		if (code[0] != 0xc3)
			return -EINVAL;
		for (int i = 1; i < MT_TRAMP_JMP_LEN; i++)
			if (code[i] != 0x66 && code[i] != 0x0f && code[i] != 0x2e && code[i] != 0x90 &&
			    code[i] != 0x1f && code[i] != 0x84 && code[i] != 0x00 && code[i] != 0x44 &&
			    code[i] != 0x40 && code[i] != 0x80)
				return -EINVAL;
		if (!h->tramp) {
			struct mt_maps maps;
			if (mt_maps_read(e->pid, &maps) < 0)
				return -ESRCH;
			h->tramp = tramp_slot(e, &maps, addr);
			mt_maps_free(&maps);
			if (!h->tramp)
				return -ENOSPC;
			uint8_t tr[MT_AGENT_TRAMP_SIZE];
			memset(tr, MT_BP_BYTE, sizeof tr);
			mt_arch_tramp_head(tr, 0, e->agent + e->hdr.entry[MT_AGENT_ENTRY_DL_NOTIFY]);
			if (poke(e, h->tramp, tr, sizeof tr) < 0)
				return -EFAULT;
		}
		memcpy(h->orig, code, sizeof h->orig);
		int32_t d = (int32_t)(h->tramp - (addr + MT_TRAMP_JMP_LEN));
		if ((int64_t)d != (int64_t)(h->tramp - (addr + MT_TRAMP_JMP_LEN)))
			return -ERANGE;
		memcpy(h->patch, code, sizeof h->patch);
		h->patch[0] = 0xe9;
		memcpy(h->patch + 1, &d, 4);
		if (patch_in(e, h))
			return -EFAULT;
	}
	record_hook(e, DL_SLOT, h);
	put_state(e, offsetof(struct mt_agent_state, dl_hook), &addr, 8);
	e->dl_cb = cb;
	e->dl_ctx = ctx;
	return 0;
}

static size_t drain(struct inj_engine *e, size_t budget)
{
	size_t total = 0;
	while (e->dec && total < budget) {
		size_t n = mt_ringdec_drain(e->dec, 65536);
		total += n;
		if (n < 65536)
			break;
	}
	return total;
}

static int inj_poll(struct mt_engine *base, bool *notify)
{
	struct inj_engine *e = (struct inj_engine *)base;
	*notify = false;
	if (!e->dec)
		return 1000;
	/* A batch at a time, so that timers, signals and requests are seen
	 * between batches. */
	size_t n = drain(e, 65536);
	__atomic_store_n(&e->sh->reader_stale, 0, __ATOMIC_RELAXED);
	uint32_t gen = __atomic_load_n(&e->sh->dl_gen, __ATOMIC_ACQUIRE);
	if (gen != e->dl_seen)
		*notify = true;
	/* Busy: come back at once (the agent may be waiting for room). */
	return n >= 65536 ? 0 : n > 4096 ? 1 : 10;
}

static void inj_notify(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (!e->dec)
		return;
	drain(e, SIZE_MAX);
	uint32_t gen = __atomic_load_n(&e->sh->dl_gen, __ATOMIC_ACQUIRE);
	if (e->dl_cb)
		e->dl_cb(e->dl_ctx, 0);
	if (e->rs)
		mt_rulesrv_refresh(e->rs);
	e->dl_seen = gen;
	__atomic_store_n(&e->sh->dl_ack, gen, __ATOMIC_RELEASE);
	syscall(SYS_futex, &e->sh->dl_ack, 1 /* FUTEX_WAKE */, 0x7fffffff, NULL, NULL, 0);
}

static int inj_wake_fd(const struct mt_engine *base)
{
	const struct inj_engine *e = (const struct inj_engine *)base;
	return mt_rulesrv_wake_fd(e->rs);
}

static bool inj_on_trap(struct mt_engine *base, const struct mt_stop *st, bool parking)
{
	(void)base; (void)st; (void)parking;
	return false;
}

static bool inj_past_int3(struct mt_engine *base, pid_t tid)
{
	(void)base; (void)tid;
	return false;
}

static void inj_on_task_exit(struct mt_engine *base, pid_t tid)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (e->dec) {
		drain(e, SIZE_MAX);
		mt_ringdec_retire(e->dec, (uint32_t)tid);
	}
}

/* Puts H's original bytes back in PID (the target, or a forked child). */
static int restore(pid_t pid, const struct hook *h)
{
	uint8_t now[MT_TRAMP_MAX_PATCH];
	if (mt_mem_read(pid, h->addr, now, h->patch_len) < 0)
		return -1;
	if (memcmp(now, h->patch, h->patch_len) != 0)
		return memcmp(now, h->orig, h->patch_len) == 0 ? 0 : -1;
	if (mt_mem_write(pid, h->addr, h->orig, h->patch_len) < 0 ||
	    mt_mem_read(pid, h->addr, now, h->patch_len) < 0 ||
	    memcmp(now, h->orig, h->patch_len) != 0)
		return -1;
	return 0;
}

/* The child's copy of the records says so too: a memtrace attaching to it
 * later finds the jumps gone, as they are. */
static void record_restored(struct inj_engine *e, pid_t child, uint64_t addr)
{
	for (int k = 0; k < MT_AGENT_MAX_HOOKS + 1; k++) {
		size_t off = offsetof(struct mt_agent_state, hooks) +
			     (size_t)k * sizeof(struct mt_agent_hook_rec);
		uint64_t a;
		uint32_t zero = 0;
		if (mt_mem_read(child, e->state + off, &a, 8) == 0 && a == addr)
			mt_mem_write(child, e->state + off + offsetof(struct mt_agent_hook_rec, live),
				     &zero, 4);
	}
}

static int inj_clean_child(struct mt_engine *base, pid_t child)
{
	struct inj_engine *e = (struct inj_engine *)base;
	int bad = 0;
	for (int i = 0; i < e->nhooks + 1; i++) {
		const struct hook *h = i < e->nhooks ? &e->hooks[i] : &e->dl;
		if (!h->live)
			continue;
		if (restore(child, h) < 0)
			bad++;
		else
			record_restored(e, child, h->addr);
	}
	return bad ? -EIO : 0;
}

static void inj_abandon(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	if (e->dec)
		drain(e, SIZE_MAX);
	for (int i = 0; i < e->nhooks; i++)
		e->hooks[i].live = false;
	e->dl.live = false;
	e->reader = false;
}

static void collect_stats(struct inj_engine *e)
{
	if (!e->dec)
		return;
	struct mt_ringdec_stats ds;
	mt_ringdec_stats(e->dec, &ds);
#define SINCE(now, then) ((now) > (then) ? (now) - (then) : 0)
	const struct mt_ringdec_stats *b = &e->at_start;
	/* Calls, as the breakpoint engine counts them: a realloc of a block
	 * sends two records. */
	e->st.calls = SINCE(ds.events, ds.realloc_begins);
	e->st.dropped = SINCE(ds.dropped_full, b->dropped_full) +
			SINCE(ds.dropped_noring, b->dropped_noring) +
			SINCE(ds.dropped_reentered, b->dropped_reentered);
	e->st.rejected = ds.rejected;
	e->st.order_forced = ds.order_forced;
	e->st.stacks_truncated = SINCE(__atomic_load_n(&e->sh->stacks_truncated, __ATOMIC_RELAXED),
				       e->base_truncated);
	e->st.stacks_lost = SINCE(__atomic_load_n(&e->sh->stacks_lost, __ATOMIC_RELAXED),
				  e->base_lost);
	e->st.rule_refusals = SINCE(__atomic_load_n(&e->sh->rule_refusals, __ATOMIC_RELAXED),
				    e->base_refusals);
	e->st.rule_timeouts = SINCE(__atomic_load_n(&e->sh->rule_timeouts, __ATOMIC_RELAXED),
				    e->base_timeouts);
#undef SINCE
	e->st.lost_calls = e->st.dropped + e->st.rejected;
}

static int inj_remove(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	int bad = 0;
	for (int i = 0; i < e->nhooks; i++) {
		struct hook *h = &e->hooks[i];
		if (!h->live)
			continue;
		bad += restore(e->pid, h) < 0;
		h->live = false;
		for (int k = 0; k < MT_AGENT_MAX_HOOKS; k++) {
			uint64_t a;
			size_t off = offsetof(struct mt_agent_state, hooks) + (size_t)k * sizeof(struct mt_agent_hook_rec);
			if (peek(e, e->state + off, &a, 8) == 0 && a == h->addr) {
				uint32_t zero = 0;
				put_state(e, off + offsetof(struct mt_agent_hook_rec, live), &zero, 4);
			}
		}
	}
	if (e->dl.live) {
		bad += restore(e->pid, &e->dl) < 0;
		e->dl.live = false;
		record_hook(e, DL_SLOT, &e->dl);
	}
	/* What the rings hold is drained once the threads run again (poll),
	 * not while they are stopped: the reader stays attached until
	 * destroy, and a thread still inside a handler records its call. */
	e->st.restore_mismatches = bad;
	return bad ? -EIO : 0;
}

static void inj_stats(const struct mt_engine *base, struct mt_engine_stats *out)
{
	struct inj_engine *e = (struct inj_engine *)base;
	collect_stats(e);
	*out = e->st;
}

static void inj_destroy(struct mt_engine *base)
{
	struct inj_engine *e = (struct inj_engine *)base;
	/* No reader from now on: the agent drops and counts, and asks no
	 * more rules; then the rule server can go. */
	if (e->dec && e->reader)
		mt_ringdec_set_reader(e->dec, 0);
	if (e->rs)
		mt_rulesrv_destroy(e->rs);
	if (e->dec)
		mt_ringdec_destroy(e->dec);
	if (e->shm)
		munmap(e->shm, e->shm_len);
	free(e->scache);
	free(e);
}

static const struct mt_engine_ops inj_ops = {
	.name = "inject",
	.install = inj_install,
	.on_trap = inj_on_trap,
	.on_task_exit = inj_on_task_exit,
	.past_int3 = inj_past_int3,
	.watch = inj_watch,
	.clean_child = inj_clean_child,
	.abandon = inj_abandon,
	.remove = inj_remove,
	.poll = inj_poll,
	.notify = inj_notify,
	.wake_fd = inj_wake_fd,
	.stats = inj_stats,
	.destroy = inj_destroy,
};

struct mt_engine *mt_inj_engine_new(struct mt_target *t, const struct mt_alloc_set *set,
				    mt_event_sink sink, void *sink_ctx,
				    const struct mt_inj_config *cfg)
{
	struct inj_engine *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->base.ops = &inj_ops;
	e->t = t;
	e->pid = mt_target_pid(t);
	e->set = set;
	e->sink = sink;
	e->sink_ctx = sink_ctx;
	e->cfg = *cfg;
	e->scap = 1024;
	e->scache = calloc(e->scap, sizeof *e->scache);
	if (!e->scache) {
		free(e);
		return NULL;
	}
	return &e->base;
}

/* ---- what a killed memtrace left (memtrace detach) --------------------- */

/* One agent's records and rings, when it is of this version. */
static void leftover_state(pid_t pid, const struct mt_agent_header *h, struct mt_inj_agent *a)
{
	struct mt_agent_state st;
	if (!header_ok(h) || h->state_off > (1u << 30) ||
	    mt_mem_read(pid, a->code + h->state_off, &st, sizeof st) < 0 ||
	    st.magic != MT_AGENT_STATE_MAGIC)
		return;   /* another version, or a wiped (forked) state */
	a->state = a->code + h->state_off;
	memcpy(a->hooks, st.hooks, sizeof a->hooks);
	struct mt_ring_region rg;
	if (st.rings && mt_mem_read(pid, st.rings, &rg, sizeof rg) == 0 && rg.magic == MT_RING_MAGIC) {
		a->rings = st.rings;
		a->reader_pid = rg.reader_pid;
	}
}

void mt_inj_leftover_find(pid_t pid, const struct mt_maps *maps, struct mt_inj_leftover *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < maps->n && out->n < MT_INJ_MAX_AGENTS; i++) {
		const struct mt_map *m = &maps->v[i];
		struct mt_agent_header h;
		if (m->path || !m->x || m->w || m->end - m->start < sizeof h ||
		    mt_mem_read(pid, m->start, &h, sizeof h) < 0 || h.magic != MT_AGENT_MAGIC)
			continue;
		struct mt_inj_agent *a = &out->v[out->n++];
		a->code = m->start;
		a->code_end = m->end;
		if (h.version == MT_AGENT_VERSION)
			leftover_state(pid, &h, a);
	}
}

void mt_inj_leftover_unhooked(pid_t pid, const struct mt_inj_agent *a, uint64_t addr)
{
	uint32_t zero = 0;
	for (int k = 0; a->state && k <= MT_AGENT_MAX_HOOKS; k++)
		if (a->hooks[k].addr == addr && a->hooks[k].live)
			mt_mem_write(pid, a->state + offsetof(struct mt_agent_state, hooks) +
					  (size_t)k * sizeof(struct mt_agent_hook_rec) +
					  offsetof(struct mt_agent_hook_rec, live), &zero, sizeof zero);
}

void mt_inj_leftover_readerless(pid_t pid, const struct mt_inj_agent *a)
{
	int32_t zero = 0;
	if (a->rings && a->reader_pid)
		mt_mem_write(pid, a->rings + offsetof(struct mt_ring_region, reader_pid), &zero,
			     sizeof zero);
}
