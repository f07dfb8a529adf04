#include <errno.h>
#include <sys/syscall.h>

#include "arch/arch.h"

/* Kernel-internal restart codes (include/linux/errno.h); a syscall
 * interrupted by a ptrace stop reports one of them in rax. */
#define MT_ERESTARTSYS 512
#define MT_ERESTARTNOINTR 513
#define MT_ERESTARTNOHAND 514
#define MT_ERESTART_RESTARTBLOCK 516

void mt_arch_setup_syscall(mt_regs *r, uint64_t pc, long nr, const uint64_t args[6])
{
	r->rip = pc;
	r->rax = (uint64_t)nr;
	/* orig_rax = -1: the stop we interrupted may sit in a syscall; with -1
	 * the kernel applies no restart logic to our registers on resume. */
	r->orig_rax = (uint64_t)-1;
	r->rdi = args[0];
	r->rsi = args[1];
	r->rdx = args[2];
	r->r10 = args[3];
	r->r8 = args[4];
	r->r9 = args[5];
}

/* A thread stopped by PTRACE_INTERRUPT while blocked in a syscall (futex,
 * nanosleep, read...) has rax = -ERESTART* and orig_rax = the syscall number.
 * Had it resumed from that stop, arch_do_signal_or_restart() would set
 * rax = orig_rax and back rip up over the 2-byte syscall instruction.  We
 * resume it from a different stop (the exit of our injected syscall), where
 * that logic does not run, so we apply it here; orig_rax = -1 keeps the
 * kernel from applying it a second time.  The blocked syscall then simply
 * starts again, as it would after any ignored signal.  (A non-SA_RESTART
 * handler arriving at that very moment sees a restart instead of EINTR.) */
void mt_arch_regs_for_resume(mt_regs *r)
{
	long nr = (long)r->orig_rax;
	long ret = (long)r->rax;
	if (nr < 0)
		return;
	switch (-ret) {
	case MT_ERESTARTSYS:
	case MT_ERESTARTNOINTR:
	case MT_ERESTARTNOHAND:
		r->rax = r->orig_rax;
		r->rip -= 2;
		break;
	case MT_ERESTART_RESTARTBLOCK:
		r->rax = SYS_restart_syscall;
		r->rip -= 2;
		break;
	default:
		return;
	}
	r->orig_rax = (uint64_t)-1;
}
