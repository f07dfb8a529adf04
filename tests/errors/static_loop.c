/* static_loop: a process in which memtrace can find no allocator.
 *
 * Built with -static -s (see meson.build): glibc's malloc is linked in, but
 * there is no .dynsym, no .symtab and no shared libc.so mapped, so nothing
 * names it.  memtrace must attach, find no allocator, leave the process
 * exactly as it was and exit 7.
 *
 * Prints "ready PID" and then sleeps in pause() until killed.
 */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
