/* Configure-time probe: can clang build a libFuzzer target here (clang
 * and its fuzzer runtime, Debian's libclang-rt-*-dev)? */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
