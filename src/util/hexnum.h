/* Hexadecimal numbers in text the kernel or a runtime wrote (/proc/PID/maps,
 * /tmp/perf-PID.map).  Pure. */
#ifndef MT_HEXNUM_H
#define MT_HEXNUM_H

#include <stdbool.h>
#include <stdint.h>

/* At most 16 hex digits at *P, before END (NULL: the text ends at its NUL);
 * at least one is required.  On success *P moves past them. */
bool mt_parse_hex(const char **p, const char *end, uint64_t *out);

#endif
