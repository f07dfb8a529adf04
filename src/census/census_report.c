/* See census_report.h.  Pure: shared by the census (which fills a report),
 * the snapshot reader (which rebuilds one) and the report backends. */
#include <stdlib.h>
#include <string.h>

#include "census/census_report.h"

/* Frees what R points to (each row's type name, both row arrays, every
 * warning and their array) and clears R, so that freeing twice is
 * harmless.  R itself is the caller's: it may be embedded in another
 * struct or on the stack; heap.verdict is a string constant, not freed.
 * R may be NULL. */
void mt_census_report_free(struct mt_census_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->types && i < r->ntypes; i++)
		free(r->types[i].type);
	for (size_t i = 0; r->sizes && i < r->nsizes; i++)
		free(r->sizes[i].type);
	for (size_t i = 0; r->warnings && i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->types);
	free(r->sizes);
	free(r->warnings);
	memset(r, 0, sizeof *r);
}
