/* Replacing a file atomically: a crash, a kill or a full disk leaves either
 * the old file or the whole new one, never a mix or a truncated file.
 *
 *   1. mkstemp("PATH.tmp-XXXXXX") in PATH's directory (rename(2) is atomic
 *      only within one file system), mode 0600
 *   2. write everything, fsync(2) the temporary: its data is on disk
 *      before its name is
 *   3. rename(2) it over PATH: readers see the old or the new file
 *   4. fsync(2) the directory: the rename itself is on disk
 *
 * On any failure before the rename the temporary is unlinked and PATH is
 * untouched.  If PATH is a symbolic link, the link is replaced, not its
 * target.
 */
#ifndef MT_ATOMICFILE_H
#define MT_ATOMICFILE_H

#include <stddef.h>

/* Write LEN bytes of DATA to PATH as above.  0, or -errno with a one-line
 * reason in ERR (ERRLEN bytes) that does not repeat PATH, e.g. "cannot
 * create a temporary file in /var/snap: Permission denied". */
int mt_atomic_write(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
