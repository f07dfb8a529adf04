/* A JVM's JIT frames in the report (--jvm-perfmap; jvm.h): ask the JVM for
 * its perf map before attaching and again after detaching, never with its
 * threads stopped, and say in the report's "java:" line what was used. */
#include <stdio.h>
#include <string.h>

#include "session/jvm.h"
#include "session/session_priv.h"
#include "util/msg.h"

#define ASK_HOW "the JVM's perf map (jcmd Compiler.perfmap)"

/* A module of the trace is libjvm.so (memtrace run: the JVM started
 * under memtrace and may be gone by the end). */
static bool jvm_module_seen(const struct session *s)
{
	for (size_t i = 0; i < s->nmodules; i++) {
		const char *slash = strrchr(s->modules[i], '/');
		if (strcmp(slash ? slash + 1 : s->modules[i], "libjvm.so") == 0)
			return true;
	}
	return false;
}

static void say_unasked(struct session *s)
{
	if (mt_jvm_perfmap_exists(s->pid))
		snprintf(s->java, sizeof s->java,
			 "JIT frames named from an existing /tmp/perf-%d.map, as old as it is "
			 "(--jvm-perfmap asks the JVM for a fresh one)", (int)s->pid);
	else
		snprintf(s->java, sizeof s->java,
			 "JIT frames not named: --jvm-perfmap names them (jcmd Compiler.perfmap)");
}

static void say_failed(struct session *s, enum mt_jvm_ask r, const char *why)
{
	snprintf(s->java, sizeof s->java, "JIT frames not named: %s%s",
		 r == MT_JVM_ASK_NOT_ALLOWED ? "not allowed: " : "", why);
}

static enum mt_jvm_ask ask(struct session *s, char *why, size_t len)
{
	mt_say("java: asking pid %d for its perf map (jcmd %d Compiler.perfmap)", (int)s->pid,
	       (int)s->pid);
	enum mt_jvm_ask r = mt_jvm_ask_perfmap(s->pid, s->sigfd, why, len);
	if (r != MT_JVM_ASK_OK)
		mt_say("java: %s", why);
	return r;
}

/* A libjvm.so that is not HotSpot's: jcmd's attach (a SIGQUIT) is not
 * for it. */
static void say_other(struct session *s)
{
	snprintf(s->java, sizeof s->java,
		 "JIT frames not named: its libjvm.so is not HotSpot's (--jvm-perfmap "
		 "asks HotSpot JVMs only)");
	s->jvm_refused = true;
}

void mt_session_jvm_begin(struct session *s)
{
	enum mt_jvm_kind kind = mt_jvm_kind(s->pid);
	s->jvm = kind != MT_JVM_NONE;
	if (kind == MT_JVM_OTHER)
		say_other(s);
	if (!s->jvm || kind == MT_JVM_OTHER)
		return;
	if (!s->o->jvm_perfmap) {
		say_unasked(s);
		return;
	}
	char why[200];
	enum mt_jvm_ask r = ask(s, why, sizeof why);
	s->jvm_named = r == MT_JVM_ASK_OK;
	s->jvm_refused = r == MT_JVM_ASK_NO_JCMD || r == MT_JVM_ASK_NOT_ALLOWED;
	if (s->jvm_named)
		snprintf(s->java, sizeof s->java, "frames named from " ASK_HOW);
	else
		say_failed(s, r, why);
}

void mt_session_jvm_end(struct session *s)
{
	bool alive = s->end != END_EXITED && s->end != END_EXEC;
	if (!s->jvm) {
		enum mt_jvm_kind kind = alive ? mt_jvm_kind(s->pid) : MT_JVM_NONE;
		s->jvm = kind != MT_JVM_NONE || jvm_module_seen(s);
		if (kind == MT_JVM_OTHER)
			say_other(s);
	}
	if (!s->jvm || s->jvm_refused)
		return;                /* the java line says why already */
	if (!s->o->jvm_perfmap) {
		if (alive)
			say_unasked(s);
		else
			snprintf(s->java, sizeof s->java, "JIT frames not named: --jvm-perfmap "
				 "names them (jcmd Compiler.perfmap) while the JVM runs");
		return;
	}
	if (!alive) {
		if (!s->jvm_named)
			snprintf(s->java, sizeof s->java, "JIT frames not named: the JVM ended before "
				 "memtrace could ask it");
		else
			snprintf(s->java, sizeof s->java, "frames named from " ASK_HOW
				 " as at attach: the JVM ended before memtrace could ask again");
		return;
	}
	char why[200];
	enum mt_jvm_ask r = ask(s, why, sizeof why);
	if (r == MT_JVM_ASK_OK)
		snprintf(s->java, sizeof s->java, "frames named from " ASK_HOW);
	else if (s->jvm_named)
		snprintf(s->java, sizeof s->java,
			 "frames named from " ASK_HOW " as at attach; asked again: %s", why);
	else
		say_failed(s, r, why);
	s->jvm_named = s->jvm_named || r == MT_JVM_ASK_OK;
	/* the JVM rewrote the map: read it again, name what it did not name */
	if (s->sym)
		mt_symbolizer_perfmap_changed(s->sym);
	mt_framecache_forget_unnamed_jit(s->frames);
}
