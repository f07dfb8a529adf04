/* The JSON pieces the report layer's printers share (jansson values).
 * Private to report/: the rest of memtrace calls the printers. */
#ifndef MT_REPORT_JSON_H
#define MT_REPORT_JSON_H

#include <jansson.h>

#include "report/report.h"

/* One stack frame, the same in histo's and diff's stacks:
 *   {function, offset, module, module_offset, file, line,
 *    address ("0x..."), inlined}
 * A new reference (NULL when out of memory). */
json_t *mt_report_json_frame(const struct mt_report_frame *fr);

/* A JSON string from bytes that may not be UTF-8 (the target's names):
 * invalid bytes read as '?'.  A new reference. */
json_t *mt_report_json_text(const char *s);

/* census, census_unavailable and heap, as histo --json has them, into O;
 * nothing when C is NULL. */
void mt_report_json_add_census(json_t *o, const struct mt_census_report *c);

#endif
