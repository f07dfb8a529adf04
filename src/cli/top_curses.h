/* memtrace top's screen: the live view (session.h, struct mt_view) drawn
 * with ncurses.  The only file that includes curses.h is top_curses.c; what
 * the rows say and in what order is report/report_top.c's.
 *
 * The screen is taken at the first report (an attach that fails leaves the
 * terminal alone) and given back by mt_top_ui_destroy. */
#ifndef MT_TOP_CURSES_H
#define MT_TOP_CURSES_H

#include <stdbool.h>
#include <stddef.h>

#include "session/session.h"

struct mt_top_ui;

/* Whether the terminal (TERM) can be drawn on: 0, or -1 with the reason
 * in ERR.  Changes nothing on the screen. */
int mt_top_ui_check(char *err, size_t len);
/* COLOR: verdicts in color (no NO_COLOR).  NULL when out of memory or
 * the view's fd cannot be made (ERR says why). */
struct mt_top_ui *mt_top_ui_new(bool color, char *err, size_t len);
/* The interface the session calls; valid while UI lives. */
const struct mt_view *mt_top_ui_view(struct mt_top_ui *ui);
/* The terminal as it was, and everything freed. */
void mt_top_ui_destroy(struct mt_top_ui *ui);

#endif
