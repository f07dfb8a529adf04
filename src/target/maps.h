/* /proc/PID/maps, parsed.  A real line:
 *
 *   7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 1705523   /usr/lib/x86_64-linux-gnu/libc.so.6
 *   start        end          perm offset   dev   inode     path (may be absent, "[heap]",
 *                                                           or end in " (deleted)")
 */
#ifndef MT_MAPS_H
#define MT_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mt_map {
	uint64_t start, end;
	bool r, w, x, p;      /* p: private (else shared) */
	uint64_t offset;
	unsigned dev_major, dev_minor;
	uint64_t inode;
	char *path;           /* NULL when absent; " (deleted)" stripped */
	bool deleted;
};

struct mt_maps {
	struct mt_map *v;
	size_t n;
};

/* Parse one line (a single trailing newline is allowed, not needed).
 * 0, -EINVAL for a line the kernel would not print (bad field, end <= start,
 * junk after the inode), or -ENOMEM.  out->path is malloc'd; OUT is left
 * untouched on error. */
int mt_map_parse_line(const char *line, struct mt_map *out);
/* Parse a whole maps text; blank lines are skipped.  Entries come out sorted
 * by start address (the kernel's order).  0, or -EINVAL if any line is
 * malformed (nothing is kept then), or -ENOMEM. */
int mt_maps_parse(const char *text, struct mt_maps *out);
/* Read /proc/PID/maps. 0, or -errno (-ENOENT: no such process). */
int mt_maps_read(pid_t pid, struct mt_maps *out);
/* Frees the entries and empties M; safe on an empty or already freed M. */
void mt_maps_free(struct mt_maps *m);
/* The mapping containing ADDR (start <= ADDR < end), or NULL.  O(log n). */
const struct mt_map *mt_maps_find(const struct mt_maps *m, uint64_t addr);

#endif
