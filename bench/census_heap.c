/* census_heap: a heap for the census benchmark (bench/census.py).
 *
 *   census_heap MIB
 *
 * fills MIB MiB of glibc's heap with 64-byte chunks (malloc(56): 56 usable
 * bytes and the 8-byte size field), each written so that its page is
 * resident, keeps them all, prints "ready PID blocks=N bytes=N" and waits
 * until its stdin ends or says "exit".  The pointers are not kept in the
 * heap (nor anywhere): the census finds the blocks, nothing frees them.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 0;
	unsigned long long n, i, bytes = 0;
	char line[64];

	if (mib <= 0 || mib > 1L << 20) {
		fprintf(stderr, "usage: census_heap MIB\n");
		return 2;
	}
	n = (unsigned long long)mib * (1 << 20) / 64;
	for (i = 0; i < n; i++) {
		uint64_t *p = malloc(56);

		if (!p) {
			fprintf(stderr, "census_heap: malloc failed after %llu blocks\n", i);
			return 1;
		}
		p[0] = i + 1;   /* small numbers: nothing a vtable could be */
		bytes += malloc_usable_size(p) + 8;
	}
	printf("ready %d blocks=%llu bytes=%llu\n", (int)getpid(), n, bytes);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		if (strncmp(line, "exit", 4) == 0)
			break;
	return 0;
}
