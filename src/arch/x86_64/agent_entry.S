/* The agent's entry stubs (see agent_abi.h).  A trampoline jumps here with
 * the allocator's arguments untouched, the caller's return address at
 * (%rsp) and %r11 = the hook.  Each stub passes the hook, %rsp and %rbp as
 * the next three arguments and tail-jumps to the C handler, which returns
 * to the allocator's caller.  %rsp is as at the allocator's first
 * instruction (8 mod 16), as a C function expects at its entry. */
	.text
	.hidden mt_stub_alloc1, mt_stub_alloc2, mt_stub_alloc3, mt_stub_realloc, mt_stub_reallocarray
	.hidden mt_stub_free1, mt_stub_free2, mt_stub_free3, mt_stub_posix_memalign
	.hidden mt_stub_new1, mt_stub_new2, mt_stub_dl_notify
	.hidden mt_stub_realloc_ctx, mt_stub_free_ctx

/* one argument: malloc(size), valloc, pvalloc, operator new, free(p) */
#define STUB1(name, handler) \
	.globl name; .type name, @function; name: \
	movq %r11, %rsi; movq %rsp, %rdx; movq %rbp, %rcx; jmp handler; \
	.size name, . - name

/* two: calloc, memalign, aligned_alloc, realloc, free_sized, mallocx,
 * new(size, nothrow), new(size, align), sized delete, dallocx */
#define STUB2(name, handler) \
	.globl name; .type name, @function; name: \
	movq %r11, %rdx; movq %rsp, %rcx; movq %rbp, %r8; jmp handler; \
	.size name, . - name

/* three: reallocarray, posix_memalign, free_aligned_sized, rallocx,
 * sdallocx, new(size, align, nothrow), delete(p, size, align) */
#define STUB3(name, handler) \
	.globl name; .type name, @function; name: \
	movq %r11, %rcx; movq %rsp, %r8; movq %rbp, %r9; jmp handler; \
	.size name, . - name

STUB1(mt_stub_alloc1, mt_h_alloc1)
STUB2(mt_stub_alloc2, mt_h_alloc2)
STUB3(mt_stub_alloc3, mt_h_alloc3)
STUB2(mt_stub_realloc, mt_h_realloc)
STUB3(mt_stub_reallocarray, mt_h_reallocarray)
STUB1(mt_stub_free1, mt_h_free1)
STUB2(mt_stub_free2, mt_h_free2)
STUB3(mt_stub_free3, mt_h_free3)
STUB3(mt_stub_posix_memalign, mt_h_posix_memalign)
/* CPython's table functions, context first: realloc(ctx, p, n), free(ctx, p) */
STUB3(mt_stub_realloc_ctx, mt_h_realloc_ctx)
STUB2(mt_stub_free_ctx, mt_h_free_ctx)

/* operator new(size[, align]), which may throw: the handler is called,
 * not jumped to, so that when it returns 0 the original can run from here
 * with the arguments and the stack as at the entry and no frame of ours
 * above the caller's (see mt_h_new1 in agent.c).  rdi, rsi and the hook
 * (r11) are kept on the stack; three pushes and the call leave %rsp at
 * 8 mod 16 at the handler's entry, as at the allocator's.  The hook's
 * first field is the original's entry (struct mt_agent_hook.orig). */
#define STUBNEW(name, handler) \
	.globl name; .type name, @function; name: \
	pushq %rdi; pushq %rsi; pushq %r11; \
	movq %r11, %rdx; leaq 24(%rsp), %rcx; movq %rbp, %r8; \
	call handler; \
	popq %r11; popq %rsi; popq %rdi; \
	testq %rax, %rax; jz 1f; ret; \
1:	jmp *(%r11); \
	.size name, . - name

STUBNEW(mt_stub_new1, mt_h_new1)
STUBNEW(mt_stub_new2, mt_h_new2)

/* _dl_debug_state(): no arguments, nothing to run but its `ret`. */
	.globl mt_stub_dl_notify; .type mt_stub_dl_notify, @function
mt_stub_dl_notify:
	jmp mt_h_dl_notify
	.size mt_stub_dl_notify, . - mt_stub_dl_notify

	.section .note.GNU-stack, "", @progbits
