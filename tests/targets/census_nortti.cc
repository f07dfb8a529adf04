// census_nortti: objects of classes built without RTTI (-fno-rtti: their
// vtables have no typeinfo), allocated before memtrace attaches, for
// tests/e2e/test_census_nortti.py.  The census names them by their
// vtable's symbol ("vtable for ns::Deep").
//
// After "ready PID" and "go" it prints what the census must find, one line
// per class ("census type=NAME blocks=N bytes=N", bytes being chunk sizes:
// malloc_usable_size + the 8-byte header), then "armed", and waits for
// "exit".
#include <malloc.h>

extern "C" {
#include "protocol.h"
}

struct Plain {
	virtual ~Plain() {}
	virtual int f() { return 1; }
	long x[5];
};

namespace ns {
struct Deep : Plain {
	int f() override { return 2; }
	long y[3];
};
}

enum { PLAINS = 1000, DEEPS = 300 };
static Plain *plains[PLAINS];
static ns::Deep *deeps[DEEPS];

int main()
{
	unsigned long long plain_bytes = 0, deep_bytes = 0;
	for (int i = 0; i < PLAINS; i++) {
		plains[i] = new Plain;
		plain_bytes += malloc_usable_size(plains[i]) + 8;
	}
	for (int i = 0; i < DEEPS; i++) {
		deeps[i] = new ns::Deep;
		deep_bytes += malloc_usable_size(deeps[i]) + 8;
	}
	proto_ready();
	proto_line("census type=Plain blocks=%d bytes=%llu", PLAINS, plain_bytes);
	proto_line("census type=ns::Deep blocks=%d bytes=%llu", DEEPS, deep_bytes);
	proto_line("armed");
	char line[64];
	while (proto_wait(line, sizeof line))
		if (line[0] == 'e')
			break;
	int sum = 0;
	for (int i = 0; i < PLAINS; i++) {
		sum += plains[i]->f();
		delete plains[i];
	}
	for (int i = 0; i < DEEPS; i++) {
		sum += deeps[i]->f();
		delete deeps[i];
	}
	return sum == PLAINS + 2 * DEEPS ? 0 : 1;
}
