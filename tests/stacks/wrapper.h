/* stk_wrapper: the program's own allocator wrappers (wrapper_lib.c) and
 * their callers (wrapper_callers.c), each in its own translation unit. */
#ifndef STK_WRAPPER_H
#define STK_WRAPPER_H

#include <stddef.h>

#include "stk.h"

void *my_xmalloc(size_t size);
char *my_xstrdup(const char *s);

void *a(size_t size);
void *b(size_t size);
char *c(const char *s);

extern int line_xmalloc, line_xstrdup, line_a, line_b, line_c;

#endif
