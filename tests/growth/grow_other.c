/* grow_other: a program unrelated to grow_steps (another executable, so
 * another build-id), for diffs memtrace must refuse.  It answers grow_steps'
 * "step" lines so the tests drive both alike:
 *
 *   "step"  other_hold() keeps OTHER_N blocks of OTHER_SIZE; answers
 *           "stepped n=N other_blocks=N other_bytes=N"
 *   "exit"  frees everything and exits 0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define NOINLINE __attribute__((noinline))

#define OTHER_N 3
#define OTHER_SIZE 777
#define OTHER_MAX 3000

static void *held[OTHER_MAX];
static long held_n;

NOINLINE static void other_hold(void)
{
	if (held_n + OTHER_N > OTHER_MAX)
		proto_die("held[] is full");
	for (int i = 0; i < OTHER_N; i++) {
		held[held_n] = malloc(OTHER_SIZE);
		if (!held[held_n])
			proto_die("malloc returned NULL");
		held_n++;
	}
}

int main(void)
{
	char line[64];
	long n = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	proto_ready();
	while (proto_wait(line, sizeof(line))) {
		if (strcmp(line, "exit") == 0)
			break;
		if (strcmp(line, "step") != 0)
			proto_die("expected 'step' or 'exit', got '%s'", line);
		other_hold();
		n++;
		proto_line("stepped n=%ld other_blocks=%ld other_bytes=%ld", n, held_n,
			   held_n * OTHER_SIZE);
	}
	for (long i = 0; i < held_n; i++)
		free(held[i]);
	return 0;
}
