// target_sessions: 10,000 objects of a polymorphic class kept in a global
// hash map, the cache that never evicts, for `memtrace leaks --why`
// (tests/e2e/test_leaks_why.py).
//
// Before "ready PID" it fills g_sessions (a global
// std::unordered_map<int, app::Session *>) with SESSIONS_N objects of
// app::Session, each made by new, and prints
//   sessions type=app::Session blocks=N bytes=N root=g_sessions
// (bytes: the sum of the objects' usable sizes).  The only path to an
// app::Session goes from g_sessions through the map's hash nodes (and its
// bucket array), so --why app::Session must name g_sessions as the root and
// end at the class.  On "exit" it checks every object, deletes them all and
// exits 0.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <unistd.h>
#include <unordered_map>

extern "C" {
#include "protocol.h"
}

namespace app {

class Session {
public:
	explicit Session(int id) : id_(id), created_(1700000000L + id), score_(id * 0.5)
	{
		std::snprintf(user_, sizeof(user_), "user%05d", id);
	}
	virtual ~Session() = default;
	virtual bool intact(int id) const
	{
		char want[sizeof(user_)];

		std::snprintf(want, sizeof(want), "user%05d", id);
		return id_ == id && created_ == 1700000000L + id && score_ == id * 0.5 &&
		       std::strcmp(user_, want) == 0;
	}

private:
	int id_;
	long created_;
	double score_;
	char user_[32];
};

} // namespace app

// The root the chain must start from: external linkage, so its symbol is
// in the executable's symbol table under this name.
std::unordered_map<int, app::Session *> g_sessions;

namespace {

constexpr int SESSIONS_N = 10000;

__attribute__((noinline)) long fill_sessions()
{
	long bytes = 0;

	g_sessions.reserve(SESSIONS_N);
	for (int i = 0; i < SESSIONS_N; i++) {
		app::Session *s = new app::Session(i);

		g_sessions.emplace(i, s);
		bytes += (long)malloc_usable_size(s);
	}
	return bytes;
}

__attribute__((noinline)) int drop_sessions()
{
	int bad = 0;

	for (auto &kv : g_sessions) {
		if (!kv.second->intact(kv.first))
			bad++;
		delete kv.second;
	}
	g_sessions.clear();
	return bad;
}

} // namespace

int main()
{
	char line[64];
	long bytes = fill_sessions();

	proto_line("sessions type=app::Session blocks=%zu bytes=%ld root=g_sessions",
		   g_sessions.size(), bytes);
	proto_line("ready %d", (int)getpid());
	if (!proto_wait(line, sizeof(line)))
		proto_die("end of input while waiting for 'exit'");
	if (std::strcmp(line, "exit") != 0)
		proto_die("expected 'exit', got '%s'", line);
	int bad = drop_sessions();
	if (bad)
		proto_die("%d sessions were changed", bad);
	return 0;
}
