// census_heap: a heap built BEFORE memtrace attaches, for the census tests
// (tests/e2e/test_census.py), with the counts a census must find.
//
// After "ready PID" and "go" (which also creates stdin's stdio buffer) and
// before "armed", the target makes:
//   - objects of three classes with virtual functions: cen::Alpha and
//     cen::Beta from the main thread, cen::Gamma from two threads of their
//     own (so two non-main arenas hold them; the threads stay alive,
//     waiting, until "exit"), and deletes a share of each;
//   - untyped buffers of three sizes (usable 88: fastbin-sized, 472:
//     small-bin, 1736: large-bin; each request is its own usable size) and
//     frees a share of each, so that tcache, fastbins and bins hold chunks;
//   - MMAP_BLOCKS blocks of 1 MiB (mmapped chunks), and two adjacent
//     blocks of usable 600 (for "corrupt");
//   - two churn threads that keep allocating and freeing blocks of usable
//     CHURN_SIZE, a size nothing else uses, until "park" (then they hold
//     nothing) or "exit".
// It then prints what a census must find, one line each:
//   census type=NAME blocks=N bytes=N     (bytes: chunk sizes, header included)
//   census size=USABLE blocks=N bytes=N   (untyped blocks, by malloc_usable_size)
//   churn size=USABLE
//   glibc=0|1                             (is malloc glibc's? else bytes are 0)
// and "armed".  Commands, one per stdin line (each answered by one line):
//   park           churn threads hold nothing and wait; then
//                  "mallinfo arena=N ordblks=N smblks=N hblks=N hblkhd=N
//                   fsmblks=N uordblks=N fordblks=N keepcost=N", "parked"
//   unpark         "unparked"
//   rounds         "rounds N": batches the churn threads made so far
//   grow N         N more cen::Beta objects: "grown type=cen::Beta blocks=N bytes=N"
//   free N         deletes N of the pre-attach cen::Alpha objects:
//                  "freed type=cen::Alpha blocks=N bytes=N"
//   corrupt        overwrites the size field of a live chunk the target
//                  never touches again (the neighbour of one of its own
//                  blocks, as an 8-byte overflow would):
//                  "corrupted chunk=0xADDR block=0xADDR"
//   restore        puts that size field back: "restored"
//   exit           frees everything, checks every block's contents, exits 0
// Nothing here allocates between commands except grow; printing and
// reading use stdio buffers made before "armed".
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

extern "C" {
#include "protocol.h"
}

namespace cen {

struct Alpha {
	virtual ~Alpha() = default;
	virtual long value() const { return a[0]; }
	long a[3] = { 0, 0, 0 };
};

struct Beta {
	virtual ~Beta() = default;
	virtual long value() const { return tag; }
	long tag = 0;
	char name[96] = { 0 };
};

struct Gamma {
	virtual ~Gamma() = default;
	virtual long value() const { return v[0]; }
	long v[30] = { 0 };
};

} // namespace cen

namespace {

constexpr int ALPHA_N = 3000, ALPHA_DELETED = 600;
constexpr int BETA_N = 500, BETA_DELETED = 100, BETA_GROW_MAX = 5000;
constexpr int GAMMA_THREADS = 2, GAMMA_N = 700, GAMMA_DELETED = 200;
constexpr int MMAP_BLOCKS = 6;
constexpr size_t MMAP_SIZE = 1 << 20;
constexpr size_t CHURN_SIZE = 136;
constexpr int CHURN_THREADS = 2, CHURN_BATCH = 64;

struct Untyped {
	size_t size;     // requested, also its usable size under glibc
	int n, freed;    // made; freed again before "armed"
	void **blocks;
};

Untyped untyped[] = {
	{ 88, 800, 300, nullptr },
	{ 472, 400, 150, nullptr },
	{ 1736, 300, 100, nullptr },
};

cen::Alpha *alphas[ALPHA_N];
int alpha_freed_after;            // deleted by "free N", from the front
cen::Beta *betas[BETA_N + BETA_GROW_MAX];
int betas_n;
cen::Gamma *gammas[GAMMA_THREADS][GAMMA_N];
void *mmapped[MMAP_BLOCKS];
void *untyped_blocks[3][800];

bool glibc;                       // malloc is glibc's: chunk headers readable

// The corruption: block A (ours, kept) and B right after it in memory.
// B's size field is the 8 bytes just past A's usable end.
void *victim_a, *victim_b;
size_t victim_saved;
bool corrupted;

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
bool gamma_release;               // "exit": the gamma threads may end
int gamma_made;                   // gamma threads done making
bool churn_park, churn_stop;
int churn_parked;
std::atomic<long> churn_rounds;

// The chunk size glibc keeps in the header before P (flags masked).
size_t chunk_size(const void *p)
{
	return ((const size_t *)p)[-1] & ~(size_t)7;
}

bool chunk_mmapped(const void *p)
{
	return (((const size_t *)p)[-1] & 2) != 0;
}

// What a census counts for block P: its chunk size (0 if not glibc's).
size_t census_bytes(const void *p)
{
	return glibc ? chunk_size(p) : 0;
}

void *gamma_thread(void *arg)
{
	long t = (long)arg;

	for (int i = 0; i < GAMMA_N; i++) {
		gammas[t][i] = new cen::Gamma();
		gammas[t][i]->v[0] = t * 100000 + i;
	}
	// Every other one of the first 2 * GAMMA_DELETED: 7 stay in this
	// thread's tcache, the rest go to its arena's bins.
	for (int i = 0; i < 2 * GAMMA_DELETED; i += 2) {
		delete gammas[t][i];
		gammas[t][i] = nullptr;
	}
	pthread_mutex_lock(&lock);
	gamma_made++;
	pthread_cond_broadcast(&cond);
	while (!gamma_release)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return nullptr;
}

void *churn_thread(void *arg)
{
	uint64_t rng = 0xc0ffee00 + (uint64_t)(long)arg;
	void *held[CHURN_BATCH];

	for (;;) {
		pthread_mutex_lock(&lock);
		if (churn_park && !churn_stop) {
			churn_parked++;
			pthread_cond_broadcast(&cond);
			while (churn_park && !churn_stop)
				pthread_cond_wait(&cond, &lock);
			churn_parked--;
		}
		bool stop = churn_stop;
		pthread_mutex_unlock(&lock);
		if (stop)
			return nullptr;
		for (int i = 0; i < CHURN_BATCH; i++) {
			held[i] = proto_checked(malloc(CHURN_SIZE), "malloc");
			block_fill(held[i], CHURN_SIZE, &rng);
		}
		for (int i = CHURN_BATCH - 1; i >= 0; i--)
			free(held[i]);
		// A pause every 8 batches keeps the 2-core machine usable while
		// the threads are still inside the allocator a good share of
		// the time (the census must stop them outside it).
		if (++churn_rounds % 8 == 0)
			usleep(200);
	}
}

pthread_t gamma_tids[GAMMA_THREADS], churn_tids[CHURN_THREADS];

bool malloc_is_glibc()
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *own = libc ? dlsym(libc, "malloc") : nullptr;
	void *bound = dlsym(RTLD_DEFAULT, "malloc");

	return own && own == bound;
}

void free_some(Untyped &u)
{
	for (int i = 0, k = 0; k < u.freed; i += 2, k++) {
		free(u.blocks[i]);
		u.blocks[i] = nullptr;
	}
}

void make_heap()
{
	for (int i = 0; i < ALPHA_N; i++) {
		alphas[i] = new cen::Alpha();
		alphas[i]->a[0] = i;
	}
	for (int i = 0; i < BETA_N; i++) {
		betas[i] = new cen::Beta();
		betas[i]->tag = i;
	}
	betas_n = BETA_N;
	for (int u = 0; u < 3; u++) {
		untyped[u].blocks = untyped_blocks[u];
		for (int i = 0; i < untyped[u].n; i++) {
			void *p = proto_checked(malloc(untyped[u].size), "malloc");
			// Small words first: nothing that could point to a vtable.
			memset(p, 0, untyped[u].size);
			((uint64_t *)p)[0] = (uint64_t)i;
			untyped[u].blocks[i] = p;
		}
	}
	for (int i = 0; i < MMAP_BLOCKS; i++) {
		mmapped[i] = proto_checked(malloc(MMAP_SIZE), "malloc");
		memset(mmapped[i], 0, 64);
		((uint64_t *)mmapped[i])[0] = 0x100 + (uint64_t)i;
	}
	for (long t = 0; t < GAMMA_THREADS; t++)
		if (pthread_create(&gamma_tids[t], nullptr, gamma_thread, (void *)t) != 0)
			proto_die("pthread_create failed");
	pthread_mutex_lock(&lock);
	while (gamma_made < GAMMA_THREADS)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	// The batch of frees, every other or third block from the front (live
	// neighbours, so the chunks stay apart).  First the bin-sized ones
	// (usable 472 and 1736: after 7 in the main thread's tcache, to the
	// unsorted bin), then a large request, which sorts the unsorted chunks
	// into small and large bins, and only then the fastbin-sized ones (the
	// large request would have consolidated them): after 7 per size in the
	// tcache, fastbins hold cen::Alpha, cen::Beta and usable 88.
	for (int u = 1; u < 3; u++)
		free_some(untyped[u]);
	void *sorter = proto_checked(malloc(5000), "malloc");
	free(sorter);
	for (int i = 0, k = 0; k < ALPHA_DELETED; i += 3, k++) {
		delete alphas[i];
		alphas[i] = nullptr;
	}
	for (int i = 0, k = 0; k < BETA_DELETED; i += 3, k++) {
		delete betas[i];
		betas[i] = nullptr;
	}
	free_some(untyped[0]);
}

struct Row {
	uint64_t blocks, bytes;
};

template <typename T> Row count_objects(T *const *v, int n)
{
	Row r = { 0, 0 };

	for (int i = 0; i < n; i++)
		if (v[i]) {
			r.blocks++;
			r.bytes += census_bytes(v[i]);
		}
	return r;
}

void print_row(const char *key, const char *value, Row r)
{
	proto_line("census %s=%s blocks=%llu bytes=%llu", key, value,
		   (unsigned long long)r.blocks, (unsigned long long)r.bytes);
}

// The expectations: per class, and per usable size of the untyped blocks
// (grouped by what malloc_usable_size says, whatever was asked).
void print_expectations()
{
	Row gamma = { 0, 0 };
	size_t sizes[8];
	Row rows[8] = {};
	int nsizes = 0;
	char buf[32];

	print_row("type", "cen::Alpha", count_objects(alphas, ALPHA_N));
	print_row("type", "cen::Beta", count_objects(betas, betas_n));
	for (int t = 0; t < GAMMA_THREADS; t++) {
		Row r = count_objects(gammas[t], GAMMA_N);
		gamma.blocks += r.blocks;
		gamma.bytes += r.bytes;
	}
	print_row("type", "cen::Gamma", gamma);

	auto add = [&](void *p) {
		size_t us = malloc_usable_size(p);
		int k = 0;
		while (k < nsizes && sizes[k] != us)
			k++;
		if (k == nsizes) {
			if (nsizes == 8)
				proto_die("too many usable sizes");
			sizes[nsizes++] = us;
		}
		rows[k].blocks++;
		rows[k].bytes += census_bytes(p);
	};
	for (int u = 0; u < 3; u++)
		for (int i = 0; i < untyped[u].n; i++)
			if (untyped[u].blocks[i])
				add(untyped[u].blocks[i]);
	for (int i = 0; i < MMAP_BLOCKS; i++)
		add(mmapped[i]);
	if (victim_a) {
		add(victim_a);
		add(victim_b);
	}
	for (int k = 0; k < nsizes; k++) {
		snprintf(buf, sizeof(buf), "%zu", sizes[k]);
		print_row("size", buf, rows[k]);
	}
	proto_line("churn size=%zu", CHURN_SIZE);
	proto_line("glibc=%d", glibc ? 1 : 0);
}

// Under glibc: every 1 MiB block is an mmapped chunk, and every untyped
// block's usable size is its request (what the size rows rely on).
void check_own_layout()
{
	if (!glibc)
		return;
	for (int i = 0; i < MMAP_BLOCKS; i++)
		if (!chunk_mmapped(mmapped[i]))
			proto_die("1 MiB block %d is not an mmapped chunk", i);
	for (int u = 0; u < 3; u++)
		for (int i = 0; i < untyped[u].n; i++)
			if (untyped[u].blocks[i] &&
			    malloc_usable_size(untyped[u].blocks[i]) != untyped[u].size)
				proto_die("block of %zu: usable %zu", untyped[u].size,
					  malloc_usable_size(untyped[u].blocks[i]));
}

void park(bool on)
{
	pthread_mutex_lock(&lock);
	churn_park = on;
	pthread_cond_broadcast(&cond);
	while (on && churn_parked < CHURN_THREADS)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

void print_mallinfo()
{
	struct mallinfo2 mi = mallinfo2();
	uint64_t hblkhd = 0;

	proto_line("mallinfo arena=%zu ordblks=%zu smblks=%zu hblks=%zu hblkhd=%zu fsmblks=%zu "
		   "uordblks=%zu fordblks=%zu keepcost=%zu",
		   mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd, mi.fsmblks,
		   mi.uordblks, mi.fordblks, mi.keepcost);
	// The target's own check: its mmapped blocks are all there are.
	for (int i = 0; i < MMAP_BLOCKS; i++)
		hblkhd += census_bytes(mmapped[i]);
	if (glibc && (mi.hblks != MMAP_BLOCKS || mi.hblkhd != hblkhd))
		proto_die("mallinfo2: %zu mmapped chunks of %zu bytes, expected %d of %llu",
			  mi.hblks, mi.hblkhd, MMAP_BLOCKS, (unsigned long long)hblkhd);
}

void grow(long n)
{
	Row r = { 0, 0 };

	if (n < 0 || n > BETA_GROW_MAX - (betas_n - BETA_N))
		proto_die("grow %ld: at most %d in all", n, BETA_GROW_MAX);
	for (long i = 0; i < n; i++) {
		cen::Beta *b = new cen::Beta();
		b->tag = betas_n;
		betas[betas_n++] = b;
		r.blocks++;
		r.bytes += census_bytes(b);
	}
	proto_line("grown type=cen::Beta blocks=%llu bytes=%llu", (unsigned long long)r.blocks,
		   (unsigned long long)r.bytes);
}

// Deletes N of the pre-attach Alphas still live, from the front.
void free_alphas(long n)
{
	Row r = { 0, 0 };

	for (int i = alpha_freed_after; i < ALPHA_N && (long)r.blocks < n; i++, alpha_freed_after++) {
		if (!alphas[i])
			continue;
		if (alphas[i]->value() != i)
			proto_die("cen::Alpha %d holds %ld", i, alphas[i]->value());
		r.blocks++;
		r.bytes += census_bytes(alphas[i]);
		delete alphas[i];
		alphas[i] = nullptr;
	}
	if ((long)r.blocks != n)
		proto_die("free %ld: only %llu left", n, (unsigned long long)r.blocks);
	proto_line("freed type=cen::Alpha blocks=%llu bytes=%llu", (unsigned long long)r.blocks,
		   (unsigned long long)r.bytes);
}


void make_victims()
{
	void *spare[16];
	int nspare = 0;

	if (!glibc)
		return;
	// Two blocks of a size nothing else uses, adjacent in memory (the
	// second is the first's next chunk); retry with the next pair if a
	// free chunk split otherwise.
	for (;;) {
		void *a = proto_checked(malloc(600), "malloc");
		void *b = proto_checked(malloc(600), "malloc");
		if ((char *)a + chunk_size(a) == (char *)b) {
			victim_a = a;
			victim_b = b;
			break;
		}
		if (nspare + 2 > 16)
			proto_die("no two adjacent blocks of 600 bytes");
		spare[nspare++] = a;
		spare[nspare++] = b;
	}
	memset(victim_a, 0xa5, 600);
	memset(victim_b, 0x5a, 600);
	for (int i = 0; i < nspare; i++)
		free(spare[i]);
}

void corrupt()
{
	if (!glibc)
		proto_die("corrupt: malloc is not glibc's");
	size_t *field = (size_t *)((char *)victim_a + malloc_usable_size(victim_a));
	victim_saved = *field;
	*field = 0x00ff00ff00ff00f1ULL;   // far beyond any heap, PREV_INUSE set
	corrupted = true;
	proto_line("corrupted chunk=%p block=%p", (void *)((char *)victim_b - 16), victim_b);
}

void restore()
{
	if (!corrupted)
		proto_die("restore: nothing was corrupted");
	size_t *field = (size_t *)((char *)victim_a + malloc_usable_size(victim_a));
	*field = victim_saved;
	corrupted = false;
	proto_line("restored");
}

// Everything the target holds still says what it was given.
void check_contents()
{
	for (int i = 0; i < ALPHA_N; i++)
		if (alphas[i] && alphas[i]->value() != i)
			proto_die("cen::Alpha %d holds %ld", i, alphas[i]->value());
	for (int i = 0; i < betas_n; i++)
		if (betas[i] && betas[i]->value() != i)
			proto_die("cen::Beta %d holds %ld", i, betas[i]->value());
	for (int t = 0; t < GAMMA_THREADS; t++)
		for (int i = 0; i < GAMMA_N; i++)
			if (gammas[t][i] && gammas[t][i]->value() != t * 100000 + i)
				proto_die("cen::Gamma %d/%d holds %ld", t, i, gammas[t][i]->value());
	for (int u = 0; u < 3; u++)
		for (int i = 0; i < untyped[u].n; i++)
			if (untyped[u].blocks[i] && ((uint64_t *)untyped[u].blocks[i])[0] != (uint64_t)i)
				proto_die("block %d of %zu changed", i, untyped[u].size);
	for (int i = 0; i < MMAP_BLOCKS; i++)
		if (((uint64_t *)mmapped[i])[0] != 0x100 + (uint64_t)i)
			proto_die("1 MiB block %d changed", i);
	if (victim_a) {
		for (int i = 0; i < 600; i++)
			if (((unsigned char *)victim_a)[i] != 0xa5 ||
			    ((unsigned char *)victim_b)[i] != 0x5a)
				proto_die("the corruption's blocks changed");
	}
}

void finish()
{
	check_contents();
	pthread_mutex_lock(&lock);
	churn_stop = true;
	gamma_release = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int t = 0; t < CHURN_THREADS; t++)
		pthread_join(churn_tids[t], nullptr);
	for (int t = 0; t < GAMMA_THREADS; t++)
		pthread_join(gamma_tids[t], nullptr);
	for (auto *a : alphas)
		delete a;
	for (int i = 0; i < betas_n; i++)
		delete betas[i];
	for (auto &row : gammas)
		for (auto *g : row)
			delete g;
	for (auto &u : untyped)
		for (int i = 0; i < u.n; i++)
			free(u.blocks[i]);
	for (auto *m : mmapped)
		free(m);
	free(victim_a);
	free(victim_b);
}

} // namespace

int main()
{
	char line[64];

	glibc = malloc_is_glibc();
	proto_ready();
	make_heap();
	make_victims();
	check_own_layout();
	for (long t = 0; t < CHURN_THREADS; t++)
		if (pthread_create(&churn_tids[t], nullptr, churn_thread, (void *)t) != 0)
			proto_die("pthread_create failed");
	print_expectations();
	proto_line("armed");
	while (proto_wait(line, sizeof(line))) {
		long n = 0;

		if (strcmp(line, "park") == 0) {
			park(true);
			print_mallinfo();
			proto_line("parked");
		} else if (strcmp(line, "rounds") == 0) {
			proto_line("rounds %ld", churn_rounds.load());
		} else if (strcmp(line, "unpark") == 0) {
			park(false);
			proto_line("unparked");
		} else if (sscanf(line, "grow %ld", &n) == 1) {
			grow(n);
		} else if (sscanf(line, "free %ld", &n) == 1) {
			free_alphas(n);
		} else if (strcmp(line, "corrupt") == 0) {
			corrupt();
		} else if (strcmp(line, "restore") == 0) {
			restore();
		} else if (strcmp(line, "exit") == 0) {
			if (corrupted)
				proto_die("exit while a chunk header is corrupted");
			finish();
			return 0;
		} else {
			proto_die("unknown command '%s'", line);
		}
	}
	proto_die("end of input before 'exit'");
}
