/* The hints memtrace prints under a report, one line each, when a user can
 * make the report more useful:
 *
 *   memtrace: hint: zmalloc is called from 214 places; try --wrapper zmalloc
 *   memtrace: hint: /usr/lib/postgresql/15/bin/postgres has no symbols
 *       (build-id 3b5c...): install postgresql-15-dbgsym, set
 *       DEBUGINFOD_URLS, or give --debug-dir DIR holding .build-id/3b/5c....debug
 *
 * (each one line on the terminal).  This file decides and words them; the
 * session gathers what they need (the rows' stacks, the build-id, dpkg's
 * answer).  Pure: no I/O. */
#ifndef MT_HINTS_H
#define MT_HINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A site fans out when its function is called from at least this many
 * distinct places (return addresses) across the rows' stacks: it is most
 * likely the program's own allocator wrapper. */
#define MT_HINT_FANOUT_MIN 10

/* One row's site function and the return address into its caller (0 when
 * the stack ends at the site). */
struct mt_fanout_row {
	const char *function;     /* "" or NULL: unknown, never counted */
	uint64_t caller;
};

/* The function of ROWS[0..N) called from the most distinct places (ties:
 * the first in ROWS), when that is at least MIN_CALLERS: its index in ROWS
 * and the count in *CALLERS.  -1 when none is (or out of memory). */
long mt_hint_fanout(const struct mt_fanout_row *rows, size_t n, size_t min_callers,
		    size_t *callers);

/* The fan-out hint line (without "memtrace: hint: ") for FUNCTION called
 * from CALLERS places; the --wrapper argument is quoted for a shell when
 * the name needs it ("Pool::get(unsigned long)"). */
void mt_hint_fanout_line(char *buf, size_t size, const char *function, size_t callers);

/* Whether FUNCTION is a name the symbolizer made from an .eh_frame FDE
 * for a function without a symbol in MODULE: "FILE+0xHEX", FILE MODULE's
 * file name (symbolize.h). */
bool mt_hint_is_fde_name(const char *function, const char *module);

/* The Debian package named by dpkg-query -S's first line in OUT (LEN
 * bytes), e.g. "postgresql-15: /usr/lib/postgresql/15/bin/postgres" or
 * "libfoo1:amd64, libfoo1:i386: /usr/lib/libfoo.so.1": its first package
 * without the architecture, into PKG.  false when OUT names none (an
 * error, a diversion line, an empty answer). */
bool mt_hint_dpkg_package(const char *out, size_t len, char *pkg, size_t size);

/* The hint line (without "memtrace: hint: ") for MODULE without symbols,
 * its build-id BUILD_ID[0..ID_LEN) (ID_LEN 0: unknown), the package PKG
 * that holds it ("" or NULL: none), and whether debuginfod was asked
 * (DEBUGINFOD_URLS set) already. */
void mt_hint_no_symbols(char *buf, size_t size, const char *module, const uint8_t *build_id,
			size_t id_len, const char *pkg, bool debuginfod);

#endif
