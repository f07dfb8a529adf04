/* libunit_stripped.so, built without symbols (objcopy --strip-all; its
 * .dynsym stays): hidden_work is static, so only its .eh_frame entry can
 * name it.  test_symbolize_stripped.c dlopens it. */
__attribute__((noinline)) static int hidden_work(int x)
{
	int y = x * 3;

	for (int i = 0; i < x; i++)
		y ^= i << 2;
	return y;
}

void *stripped_hidden_addr(void);
int stripped_call(int x);

void *stripped_hidden_addr(void)
{
	return (void *)hidden_work;
}

int stripped_call(int x)
{
	return hidden_work(x) + 1;
}
