#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#include "session/diagnose.h"
#include "target/procfs.h"
#include "symbols/discover.h"

#define PF_KTHREAD 0x00200000

struct proc_status {
	char state;
	char name[64];
	pid_t tracer;
	unsigned uid;   /* effective */
};

static int read_status(pid_t pid, struct proc_status *st)
{
	struct mt_procfs_status ps;
	int err = mt_procfs_status(pid, &ps);
	if (err < 0)
		return err;
	st->state = ps.state;
	memcpy(st->name, ps.name, sizeof st->name);
	st->tracer = ps.tracer_pid > 0 && ps.tracer_pid <= INT_MAX ? (pid_t)ps.tracer_pid : 0;
	st->uid = ps.euid >= 0 && ps.euid <= UINT_MAX ? (unsigned)ps.euid : 0;
	return 0;
}

/* /proc/PID/stat field 9, the kernel's task flags. */
static bool is_kernel_thread(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may hold spaces and parens */
	if (!p)
		return false;
	unsigned long flags = 0;
	/* after ")": state ppid pgrp session tty_nr tpgid flags */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & PF_KTHREAD;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

enum mt_err mt_diagnose_target(pid_t pid, char *msg, size_t len)
{
	struct proc_status st;
	if (read_status(pid, &st) < 0) {
		snprintf(msg, len, "no process with PID %d: check the PID with ps or pidof", (int)pid);
		return MT_E_NO_PROCESS;
	}
	if (pid == getpid()) {
		snprintf(msg, len, "PID %d is memtrace itself: give the PID of the program to trace",
			 (int)pid);
		return MT_E_NOT_TRACEABLE;
	}
	if (st.state == 'Z' || st.state == 'X') {
		snprintf(msg, len, "PID %d (%s) is a zombie: it has exited and holds no memory; its "
			 "parent has not reaped it yet", (int)pid, st.name);
		return MT_E_NOT_TRACEABLE;
	}
	if (st.state == 'T') {
		/* Hooks need a running thread to map memtrace's code page. */
		snprintf(msg, len, "PID %d (%s) is stopped (SIGSTOP or job control): continue it "
			 "with 'kill -CONT %d' and attach again", (int)pid, st.name, (int)pid);
		return MT_E_NOT_TRACEABLE;
	}
	if (is_kernel_thread(pid)) {
		snprintf(msg, len, "PID %d (%s) is a kernel thread: it has no user-space heap to trace",
			 (int)pid, st.name);
		return MT_E_NOT_TRACEABLE;
	}
	if (st.tracer) {
		char tc[64];
		comm_of(st.tracer, tc, sizeof tc);
		snprintf(msg, len, "PID %d (%s) is already traced by PID %d (%s): stop that tracer "
			 "(debugger, strace, another memtrace) first", (int)pid, st.name,
			 (int)st.tracer, tc[0] ? tc : "?");
		return MT_E_ALREADY_TRACED;
	}
	if (mt_discover_check_arch(pid) == MT_E_UNSUPPORTED_ARCH) {
		snprintf(msg, len, "PID %d (%s) is not a 64-bit x86_64 program: memtrace traces "
			 "x86_64 processes only", (int)pid, st.name);
		return MT_E_UNSUPPORTED_ARCH;
	}
	return MT_E_OK;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

static int read_int_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int v = -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

enum mt_err mt_diagnose_attach_error(pid_t pid, int rc, char *msg, size_t len)
{
	int err = -rc;
	struct proc_status st;
	if (err == ESRCH || read_status(pid, &st) < 0) {
		snprintf(msg, len, "PID %d exited while memtrace attached to it", (int)pid);
		return MT_E_TARGET_LOST;
	}
	if (err != EPERM && err != EACCES) {
		snprintf(msg, len, "cannot attach to PID %d (%s): %s", (int)pid, st.name, strerror(err));
		return MT_E_INTERNAL;
	}
	if (st.tracer) {
		char tc[64];
		comm_of(st.tracer, tc, sizeof tc);
		snprintf(msg, len, "PID %d (%s) is already traced by PID %d (%s): stop that tracer "
			 "first", (int)pid, st.name, (int)st.tracer, tc[0] ? tc : "?");
		return MT_E_ALREADY_TRACED;
	}
	bool cap = have_cap(CAP_SYS_PTRACE);
	int scope = read_int_file("/proc/sys/kernel/yama/ptrace_scope");
	if (scope == 3) {
		snprintf(msg, len, "permission denied: YAMA ptrace_scope is 3 (no attaching at all); "
			 "it can only be lowered by rebooting");
		return MT_E_PERMISSION;
	}
	if (scope == 2 && !cap) {
		snprintf(msg, len, "permission denied: YAMA ptrace_scope is 2 (admin only): run "
			 "memtrace as root or with CAP_SYS_PTRACE");
		return MT_E_PERMISSION;
	}
	if (st.uid != geteuid() && !cap) {
		snprintf(msg, len, "permission denied: PID %d (%s) belongs to uid %u, memtrace runs "
			 "as uid %u: run memtrace as that user or as root", (int)pid, st.name, st.uid,
			 (unsigned)geteuid());
		return MT_E_PERMISSION;
	}
	if (scope == 1 && !cap) {
		snprintf(msg, len, "permission denied: YAMA ptrace_scope is 1 (only a parent may "
			 "trace): run memtrace as root, with CAP_SYS_PTRACE, or set "
			 "kernel.yama.ptrace_scope=0");
		return MT_E_PERMISSION;
	}
	if (!cap) {
		snprintf(msg, len, "permission denied: memtrace lacks CAP_SYS_PTRACE and PID %d (%s) "
			 "has privileges memtrace does not (capabilities, setuid, or not dumpable): "
			 "run memtrace as root with CAP_SYS_PTRACE", (int)pid, st.name);
		return MT_E_PERMISSION;
	}
	snprintf(msg, len, "permission denied attaching to PID %d (%s) although memtrace has "
		 "CAP_SYS_PTRACE: a security module (SELinux, AppArmor) or a container forbids it",
		 (int)pid, st.name);
	return MT_E_PERMISSION;
}

bool mt_diagnose_live_memtrace(pid_t pid)
{
	char comm[64];
	if (pid <= 0 || pid == getpid())
		return false;
	comm_of(pid, comm, sizeof comm);
	return strcmp(comm, "memtrace") == 0;
}

enum mt_err mt_diagnose_detach(pid_t pid, char *msg, size_t len)
{
	enum mt_err e = mt_diagnose_target(pid, msg, len);
	struct proc_status st;
	if (e != MT_E_ALREADY_TRACED || read_status(pid, &st) < 0 ||
	    !mt_diagnose_live_memtrace(st.tracer))
		return e;
	snprintf(msg, len, "PID %d (%s) is traced by a live memtrace (PID %d): stop it with "
		 "Ctrl-C or 'kill %d' and it restores what it patched itself; memtrace detach is "
		 "for what a memtrace killed with SIGKILL left", (int)pid, st.name, (int)st.tracer,
		 (int)st.tracer);
	return e;
}
