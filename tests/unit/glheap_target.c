/* The target of tests/unit/glheap_releases.py: allocates a known set in
 * two threads (so a non-main arena exists), frees some into tcache and
 * fastbins, prints each block with the kind glibc must have given it, the
 * thread pointers and mallinfo's in-use bytes, then "ready", and waits on
 * stdin.  It uses only symbols of version GLIBC_2.2.5, so that one binary
 * runs under the loaders of glibc 2.31 and 2.41 (it is linked against
 * 2.31's crt files and libc). */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__asm__(".symver pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver pthread_join,pthread_join@GLIBC_2.2.5");
static int go[2], park[2];
static void *thr(void *a) {
	char c = 0; void *p[20];
	for (int i = 0; i < 20; i++) p[i] = malloc(64);
	for (int i = 0; i < 10; i++) printf("live %p\n", p[i]);
	for (int i = 10; i < 20; i++) free(p[i]);
	for (int i = 10; i < 20; i++) printf("%s %p\n", i < 17 ? "tcache" : "fast", p[i]);
	printf("tp %lx\n", (unsigned long)pthread_self());
	write(go[1], &c, 1); read(park[0], &c, 1); return a;
}
int main(void) {
	pthread_t t; char c; void *p[100];
	pipe(go); pipe(park);
	pthread_create(&t, NULL, thr, NULL); read(go[0], &c, 1);
	for (int i = 0; i < 100; i++) p[i] = malloc(i * 10 + 1);
	void *m = malloc(1 << 20);
	for (int i = 0; i < 100; i++) printf("live %p\n", p[i]);
	printf("live %p\n", m);
	for (int i = 0; i < 10; i++) p[i] = malloc(40);
	for (int i = 0; i < 10; i++) free(p[i]);
	for (int i = 0; i < 10; i++) printf("%s %p\n", i >= 7 ? "fast" : "tcache", p[i]);
	printf("tp %lx\n", (unsigned long)pthread_self());
	struct mallinfo mi = mallinfo();
	printf("inuse %d\n", mi.uordblks + mi.hblkhd);
	printf("ready\n"); fflush(stdout);
	read(0, &c, 1); write(park[1], &c, 1); pthread_join(t, NULL); return 0;
}
