/* leaks_heap: a heap for the leak check's benchmark (bench/leaks.py).
 *
 *   leaks_heap MIB lost|list|array
 *
 * fills MIB MiB of glibc's heap with 64-byte chunks (malloc(56)), each
 * written so that its page is resident, and keeps them as MODE says:
 *   lost    no pointer to any: every block definitely lost (each is a
 *           clique of its own: the check reads every block once)
 *   list    each block points to the next, the first from a global: every
 *           block reachable, one chain as long as the heap
 *   array   a malloc'd array (itself a block) of pointers to every block,
 *           from a global: every block reachable, two links deep
 * then prints "ready PID blocks=N bytes=N" and waits until its stdin ends
 * or says "exit".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t *volatile g_head;    /* list: the first block (volatile: kept in memory) */
uint64_t **volatile g_array;  /* array: every block */

int main(int argc, char **argv)
{
	long mib = argc > 2 ? atol(argv[1]) : 0;
	const char *mode = argc > 2 ? argv[2] : "";
	int list = strcmp(mode, "list") == 0, array = strcmp(mode, "array") == 0;
	if (mib <= 0 || mib > 1L << 20 || (!list && !array && strcmp(mode, "lost") != 0)) {
		fprintf(stderr, "usage: leaks_heap MIB lost|list|array\n");
		return 2;
	}
	unsigned long long n = (unsigned long long)mib * (1 << 20) / 64;
	if (array) {
		n -= n / 8;   /* the array takes 8 bytes per block of the MIB */
		g_array = malloc(n * sizeof *g_array);
		if (!g_array)
			return 1;
	}
	uint64_t *prev = NULL;
	for (unsigned long long i = 0; i < n; i++) {
		uint64_t *p = malloc(56);
		if (!p) {
			fprintf(stderr, "leaks_heap: malloc failed after %llu blocks\n", i);
			return 1;
		}
		memset(p, 0, 56);
		p[1] = i + 1;
		if (list) {
			if (prev)
				prev[0] = (uint64_t)(uintptr_t)p;
			else
				g_head = p;
			prev = p;
		} else if (array) {
			g_array[i] = p;
		}
		p = NULL;
	}
	prev = NULL;
	printf("ready %d blocks=%llu bytes=%llu\n", (int)getpid(), n, n * 56);
	fflush(stdout);
	char line[64];
	while (fgets(line, sizeof line, stdin))
		if (strncmp(line, "exit", 4) == 0)
			break;
	return 0;
}
