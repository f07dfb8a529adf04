/* calloc and free for target_oddprologue, in front of glibc's: each begins
 * with a branch target inside its first 5 bytes (the `jmp` at the end,
 * never executed, goes back into them), so the inject engine cannot put
 * its 5-byte jump there (tramp_plan.h) and the function stays unhooked
 * (the breakpoint engine, when asked for, hooks it).  calloc calls malloc
 * through the PLT, a call nested in a traced one: memtrace must count it
 * once, as the calloc. */
	.text

	.globl	calloc
	.type	calloc, @function
calloc:
	.cfi_startproc
	xorl	%eax, %eax
.Lcalloc_in:
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbx, -16
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbp, -24
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_offset %r12, -32
	movq	%rdi, %rax
	mulq	%rsi
	jo	.Lcalloc_fail
	movq	%rax, %rbx
	movq	%rax, %rdi
	call	malloc@PLT
	movq	%rax, %rbp
	testq	%rax, %rax
	je	.Lcalloc_out
	movq	%rax, %rdi
	xorl	%esi, %esi
	movq	%rbx, %rdx
	call	memset@PLT
.Lcalloc_out:
	movq	%rbp, %rax
.Lcalloc_ret:
	.cfi_remember_state
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_restore_state
.Lcalloc_fail:
	xorl	%eax, %eax
	jmp	.Lcalloc_ret
	jmp	.Lcalloc_in
	.cfi_endproc
	.size	calloc, .-calloc

	.globl	free
	.type	free, @function
free:
	.cfi_startproc
	xorl	%eax, %eax
.Lfree_in:
	jmp	__libc_free@PLT
	jmp	.Lfree_in
	.cfi_endproc
	.size	free, .-free

	.section .note.GNU-stack, "", @progbits
