#include <stdio.h>

#include "stk.h"

void stk_expect(const struct stk_path *p)
{
	char lines[STK_MAX_FRAMES * 12 + 16] = "";
	size_t n = 0;

	for (int i = 0; i < STK_MAX_FRAMES && p->lines[i] > 0; i++)
		n += (size_t)snprintf(lines + n, sizeof(lines) - n, "%s%d",
				      i ? "," : " lines=", p->lines[i]);
	proto_line("expect stack=%s blocks=%lld bytes=%lld allocs=%lld frees=%lld%s%s%s%s%s%s%s",
		   p->stack, p->blocks, p->bytes, p->allocs, p->frees, lines,
		   p->files ? " files=" : "", p->files ? p->files : "",
		   p->inlined ? " inlined=" : "", p->inlined ? p->inlined : "",
		   p->module ? " module=" : "", p->module ? p->module : "");
}
