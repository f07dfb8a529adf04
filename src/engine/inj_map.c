/* The inject engine's agent in the target (step 1 in inj_engine.c, and
 * the thread-id probe of step 2): the agent an earlier memtrace left, or a
 * new one mapped with its shared region; and, for memtrace detach, what a
 * killed memtrace left.  See inj_priv.h.
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
#include "engine/inj_engine.h"
#include "engine/inj_priv.h"
#include "target/maps.h"
#include "target/memio.h"
#include "target/remote.h"
#include "agent/ring.h"
#include "agent/sset.h"
#include "agent/ltab.h"

#define RING_CAPACITY 32768u     /* records per ring: 2 MiB */
#define RULES_CAP 65536u
#define STACKS_CAP 32768u
/* The agent's live table (ltab.h): a million blocks, 16 MiB, of which
 * only the pages used are ever touched; its granules cover 64 MiB of
 * address space before two blocks far apart share a bucket. */
#define LTAB_BUCKETS (1u << 18)
#define COUNTS_PER_RING 512u     /* stacks a thread counts on its own */

/* Buckets of the set of sampled live blocks (sset.h), from the mean of
 * --sample-bytes N at the region's making: about one recorded live block
 * per bucket of 7 for 8 GiB of live heap, 1 to 16 MiB (pages are only
 * touched as the set is used).  A block the set has no room for costs
 * speed, never a free (sset.h); a later memtrace with another mean uses
 * the set the region has, as made (its granules too). */
static uint32_t sset_buckets(uint64_t mean)
{
	uint64_t want = mean ? (1ULL << 33) / mean : 0;
	uint32_t b = 1u << 14;
	while (b < want && b < (1u << 18))
		b <<= 1;
	return b;
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
	e->sset_off = __atomic_load_n(&sh->sset_off, __ATOMIC_RELAXED);
	e->sset_buckets = __atomic_load_n(&sh->sset_buckets, __ATOMIC_RELAXED);
	e->sset_shift = __atomic_load_n(&sh->sset_shift, __ATOMIC_RELAXED);
	e->ltab_off = __atomic_load_n(&sh->ltab_off, __ATOMIC_RELAXED);
	e->ltab_buckets = __atomic_load_n(&sh->ltab_buckets, __ATOMIC_RELAXED);
	e->counts_off = __atomic_load_n(&sh->counts_off, __ATOMIC_RELAXED);
	e->counts_per_ring = __atomic_load_n(&sh->counts_per_ring, __ATOMIC_RELAXED);
	e->gcounts_off = __atomic_load_n(&sh->gcounts_off, __ATOMIC_RELAXED);
	e->counts_nrings = ((const struct mt_ring_region *)e->shm)->nrings;
	uint32_t lb = e->ltab_buckets, cpr = e->counts_per_ring;
	/* accounting whose tables are not right is not used: every call then
	 * goes through the rings */
	if (lb && ((lb & (lb - 1)) || lb > MT_LTAB_MAX_BUCKETS || e->ltab_off % 64 ||
		   e->ltab_off < sizeof *sh || e->ltab_off > avail ||
		   (uint64_t)lb * sizeof(struct mt_ltab_bucket) > avail - e->ltab_off ||
		   !cpr || (cpr & (cpr - 1)) || cpr > MT_LTAB_MAX_COUNTS || e->counts_off % 64 ||
		   e->counts_off < sizeof *sh || e->counts_off > avail ||
		   !e->counts_nrings || e->counts_nrings > MT_RING_MAX_RINGS ||
		   (uint64_t)e->counts_nrings * mt_ltab_area_bytes(cpr) > avail - e->counts_off ||
		   e->gcounts_off % 64 || e->gcounts_off < sizeof *sh || e->gcounts_off > avail))
		e->ltab_buckets = 0;
	uint32_t sb = e->sset_buckets;
	/* a set that is not right is not used: every free is then recorded */
	if (sb && ((sb & (sb - 1)) || sb > MT_SSET_MAX_BUCKETS || e->sset_off % 64 ||
		   e->sset_shift < MT_SSET_MIN_SHIFT || e->sset_shift > MT_SSET_MAX_SHIFT ||
		   e->sset_off < sizeof *sh || e->sset_off > avail ||
		   (uint64_t)sb * sizeof(struct mt_sset_bucket) > avail - e->sset_off))
		e->sset_buckets = 0;
	if (magic != MT_AGENT_SHARED_MAGIC || !rcap || (rcap & (rcap - 1)) || rcap > (1u << 22) ||
	    roff < sizeof *sh || roff > avail || (uint64_t)rcap * sizeof(struct mt_agent_rule) > avail - roff ||
	    e->stack_max < 2 || e->stack_max > MT_STACKS_MAX_PCS ||
	    e->stack_slot != 16 + 8 * e->stack_max || !e->stacks_cap ||
	    (e->stacks_cap & (e->stacks_cap - 1)) || e->stacks_cap > (1u << 22) ||
	    e->stacks_off < sizeof *sh || e->stacks_off > avail ||
	    (uint64_t)e->stacks_cap * e->stack_slot > avail - e->stacks_off)
		return -EINVAL;
	if (e->ltab_buckets &&
	    (uint64_t)e->stacks_cap * sizeof(struct mt_ltab_count) > avail - e->gcounts_off)
		e->ltab_buckets = 0;
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
		mt_inj_rsys(e, SYS_close, (uint64_t)(st->region_fd1 - 1), 0, 0, 0, 0, 0);
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
		if (mt_inj_peek(e, m->start, &h, sizeof h) < 0 || h.magic != MT_AGENT_MAGIC)
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
		if (mt_inj_peek(e, m->start + h.state_off, &st, sizeof st) < 0)
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
	long r = mt_inj_poke(e, a, mt_agent_image, mt_agent_image_len) < 0 ? -EFAULT : 0;
	if (r == 0)
		r = mt_inj_rsys(e, SYS_mprotect, a + e->hdr.state_off, e->hdr.state_end - e->hdr.state_off,
			 PROT_READ | PROT_WRITE, 0, 0, 0);
	if (r < 0)
		snprintf(e->why, sizeof e->why, "the agent could not be written into the process "
			 "(%s)", strerror((int)-r));
	/* A forked child sees the configuration zeroed: its agent stays off
	 * (the records stay: agent_abi.h).  A child must never see a live
	 * configuration: without this, no agent. */
	if (r == 0)
		r = mt_inj_rsys(e, SYS_madvise, a + e->hdr.state_off, MT_AGENT_RECORDS_OFF,
			 MADV_WIPEONFORK, 0, 0, 0);
	if (r < 0) {
		if (!e->why[0])
			snprintf(e->why, sizeof e->why, "the kernel cannot wipe the agent's state "
				 "in a forked child (MADV_WIPEONFORK: %s)", strerror((int)-r));
		mt_inj_rsys(e, SYS_munmap, a, e->hdr.state_end, 0, 0, 0, 0);
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
	uint32_t stack_max = MT_STACKS_MAX_PCS, slot = 16 + 8 * stack_max;
	uint64_t rules_off = (sizeof(struct mt_agent_shared) + 63) & ~63ULL;
	uint64_t stacks_off = rules_off + (uint64_t)RULES_CAP * sizeof(struct mt_agent_rule);
	uint64_t sset_off = (stacks_off + (uint64_t)STACKS_CAP * slot + 63) & ~63ULL;
	uint32_t nsset = sset_buckets(e->cfg.sample_bytes);
	uint64_t ltab_off = (sset_off + (uint64_t)nsset * sizeof(struct mt_sset_bucket) + 4095) &
			    ~4095ULL;
	uint64_t counts_off = ltab_off + (uint64_t)LTAB_BUCKETS * sizeof(struct mt_ltab_bucket);
	uint64_t gcounts_off = counts_off + (uint64_t)nrings * mt_ltab_area_bytes(COUNTS_PER_RING);
	uint64_t len = rings_len + ((gcounts_off + (uint64_t)STACKS_CAP *
						  sizeof(struct mt_ltab_count) + 4095) & ~4095ULL);

	/* The name memfd_create needs, in the target: the state page (rw). */
	static const char name[] = MT_AGENT_REGION_NAME;
	uint64_t name_at = e->state + offsetof(struct mt_agent_state, reserved);
	mt_inj_poke(e, name_at, name, sizeof name);
	long fd = mt_inj_rsys(e, SYS_memfd_create, name_at, MFD_CLOEXEC | MFD_ALLOW_SEALING, 0, 0, 0, 0);
	uint64_t zero[4] = { 0 };
	mt_inj_poke(e, name_at, zero, sizeof zero);
	if (fd < 0) {
		snprintf(e->why, sizeof e->why, "memfd_create in the process failed: %s",
			 strerror((int)-fd));
		return (int)fd;
	}
	long r = mt_inj_rsys(e, SYS_ftruncate, (uint64_t)fd, len, 0, 0, 0, 0);
	/* A region that cannot shrink: memtrace's reads never fault. */
	if (r == 0)
		r = mt_inj_rsys(e, SYS_fcntl, (uint64_t)fd, F_ADD_SEALS,
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 0, 0, 0);
	int err = 0;
	uint64_t a = 0;
	if (r == 0)
		a = mt_remote_mmap(e->t, e->syscall_pc, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				   (int)fd, &err);
	/* A forked child must not share it (agent_abi.h). */
	if (a)
		r = mt_inj_rsys(e, SYS_madvise, a, len, MADV_DONTFORK, 0, 0, 0);
	if (r == 0 && a)
		err = map_shared(e, a, len, (int)fd, NULL);
	if (r < 0 || !a || err < 0) {
		if (a)
			mt_inj_rsys(e, SYS_munmap, a, len, 0, 0, 0, 0);
		mt_inj_rsys(e, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);
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
	mt_inj_put_state(e, offsetof(struct mt_agent_state, region_fd1), &fd1, sizeof fd1);
	if (mt_ring_region_init(e->shm, rings_len, nrings, RING_CAPACITY) < 0)
		return -EINVAL;
	struct mt_agent_shared *sh = (struct mt_agent_shared *)((char *)e->shm + rings_len);
	*sh = (struct mt_agent_shared){
		.magic = MT_AGENT_SHARED_MAGIC, .version = MT_AGENT_VERSION, .size = sizeof *sh,
		.rules_off = rules_off, .rules_cap = RULES_CAP, .stack_max = stack_max,
		.stacks_off = stacks_off, .stacks_cap = STACKS_CAP, .stack_slot = slot,
		.sset_off = sset_off, .sset_buckets = nsset,
		.sset_shift = mt_sset_shift_for(e->cfg.sample_bytes),
		.ltab_off = ltab_off, .ltab_buckets = LTAB_BUCKETS,
		.counts_per_ring = COUNTS_PER_RING, .counts_off = counts_off,
		.gcounts_off = gcounts_off,
	};
	return adopt_shared(e, rings_len);
}

/* Zeroes the words of [SET, SET + WORDS) that are not zero, reading only
 * the pages the target has used (mincore), so that an unused table stays
 * unallocated; a page mincore cannot tell is read all the same. */
static void zero_used(uint64_t *set, size_t words)
{
	uintptr_t page0 = (uintptr_t)set & ~(uintptr_t)4095;
	size_t pages = ((uintptr_t)(set + words) - page0 + 4095) / 4096;
	unsigned char vec[256];
	for (size_t p = 0; p < pages; p += sizeof vec) {
		size_t n = pages - p < sizeof vec ? pages - p : sizeof vec;
		if (mincore((void *)(page0 + p * 4096), n * 4096, vec) < 0)
			memset(vec, 1, n);
		for (size_t i = 0; i < n; i++) {
			if (!(vec[i] & 1))
				continue;
			uint64_t *w = (uint64_t *)(page0 + (p + i) * 4096);
			for (size_t k = 0; k < 512; k++)
				if (w + k >= set && w + k < set + words &&
				    __atomic_load_n(&w[k], __ATOMIC_RELAXED))
					__atomic_store_n(&w[k], 0, __ATOMIC_RELAXED);
		}
	}
}

/* Empties the set of sampled live blocks (sset.h) and the agent's live
 * table (ltab.h), all threads stopped.  The blocks in them were recorded
 * for an earlier memtrace: this one reads the rings from where they are
 * now (ringdec.c), so it knows none of them; their frees need not be sent
 * (the set), or must be (the table: this memtrace's census has them).  A
 * block whose record it will read is put in the set after that record,
 * so after this.  A thread stopped half-way through an insert was
 * inserting such an older block: a flag it set and this clears can only
 * hide that block's free; a table entry it claims after this only holds
 * a block whose free is then counted without its allocation (one block,
 * and only when this memtrace found the agent's region already in use). */
void mt_inj_sset_clear(struct inj_engine *e)
{
	if (!e->sh)
		return;
	if (e->sset_buckets)
		zero_used((uint64_t *)((char *)e->sh + e->sset_off),
			  (size_t)e->sset_buckets * sizeof(struct mt_sset_bucket) / 8);
	if (e->ltab_buckets)
		zero_used((uint64_t *)((char *)e->sh + e->ltab_off),
			  (size_t)e->ltab_buckets * sizeof(struct mt_ltab_bucket) / 8);
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
	if (mt_inj_peek(e, tp, words, TID_PROBE_WORDS * 4) == 0)
		return TID_PROBE_WORDS;
	uint64_t in_page = 4096 - (tp & 4095);
	int n = (int)(in_page / 4);
	if (n > TID_PROBE_WORDS)
		n = TID_PROBE_WORDS;
	return n > 0 && mt_inj_peek(e, tp, words, (size_t)n * 4) == 0 ? n : 0;
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

uint32_t mt_inj_find_tid_offset(struct inj_engine *e)
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

int mt_inj_setup(struct inj_engine *e, const struct mt_maps *maps)
{
	int found = find_agent(e, maps);
	if (found < 0)
		return found;
	if (!found) {
		int err = map_agent(e);
		if (err == 0) {
			err = map_region(e, mt_target_thread_count(e->t));
			/* nothing refers to an agent just mapped: leave nothing */
			if (err < 0 && mt_inj_rsys(e, SYS_munmap, e->agent, e->hdr.state_end, 0, 0, 0, 0) == 0)
				e->agent = e->state = 0;
		}
		if (err < 0)
			return err;
	}
	return 0;
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
