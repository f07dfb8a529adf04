/* memtrace top's screen, with ncurses (see top_curses.h).
 *
 *   memtrace top  pid 4242 (server)  engine inject  12.0 s  interval 6  sorted by growth
 *   traced: live 1.2 MiB in 3400 blocks, 12 sites, 90210 events, 0 lost events, ...
 *   heap at attach: mapped 2.0 MiB, live 1.0 MiB, free 1.0 MiB (trimmable 0 B), verdict normal
 *   rank  live bytes    interval ...  live over time  verdict     site          <- reverse
 *      1   101.0 KiB  +10.0 KiB  ...  ▁▂▃▄▅▆▇█        growing     leak+0x17 ... <- selected
 *            -> leak+0x17 (server) grow.c:64                                    <- expanded
 *   ...
 *   snapshot written to memtrace-4242-1.snap                                    <- status
 *   q quit  o sort  g l r c i by ...  p pause  up/down select  enter stack  s snapshot
 *
 * Keys are read without waiting (nodelay) whenever the session's loop
 * wakes; SIGWINCH is blocked and read from a signalfd in the view's epoll
 * set, so no signal handler runs inside the session. */
#include <curses.h>
#include <term.h>

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/top_curses.h"
#include "report/report_build.h"
#include "report/report_top.h"

struct mt_top_ui {
	struct mt_view view;
	SCREEN *screen; /* the screen is curses' (NULL: not yet) */
	bool color, ascii;
	struct mt_report r; /* the rows on the screen */
	bool have;
	enum mt_top_sort sort;
	bool paused;
	size_t sel;	  /* the selected row */
	uint64_t sel_key; /* ... the site it is, kept across refreshes */
	bool chosen;	  /* the user moved the selection: it follows
	                          its site; else it stays on the first row */
	bool expanded;	  /* the selected row's stack shown under it */
	char status[512];
	int epfd, winchfd;
};

enum { PAIR_ALERT = 1, PAIR_WARN, PAIR_GOOD };

static const char keys_line[] =
	"q quit  o next sort  g l r c i sort by growth/live/rate/churn/interval  "
	"p pause  up/down select  enter stack  s snapshot";

int mt_top_ui_check(char *err, size_t len)
{
	int rc = 0;
	if (setupterm(NULL, STDOUT_FILENO, &rc) != OK) {
		const char *term = getenv("TERM");
		snprintf(err, len, "cannot draw on the terminal (TERM=%s): %s", term ? term : "",
			 rc == 0 ? "no terminfo entry for it" : "no terminfo database");
		return -1;
	}
	del_curterm(cur_term);
	return 0;
}

/* ---- drawing ----------------------------------------------------------- */

static void line_at(int y, const char *text, attr_t attr)
{
	move(y, 0);
	clrtoeol();
	attron(attr);
	addstr(text);
	attroff(attr);
}

static attr_t tone_attr(const struct mt_top_ui *ui, enum mt_top_tone t)
{
	if (!ui->color)
		return t == MT_TOP_TONE_ALERT ? A_BOLD : 0;
	switch (t) {
	case MT_TOP_TONE_ALERT:
		return COLOR_PAIR(PAIR_ALERT) | A_BOLD;
	case MT_TOP_TONE_WARN:
		return COLOR_PAIR(PAIR_WARN);
	case MT_TOP_TONE_GOOD:
		return COLOR_PAIR(PAIR_GOOD);
	case MT_TOP_TONE_PLAIN:
		break;
	}
	return 0;
}

/* Lines under the selected row when it is expanded. */
static int stack_lines(const struct mt_top_ui *ui)
{
	if (!ui->expanded || ui->sel >= ui->r.nsites)
		return 0;
	const struct mt_report_site *s = &ui->r.sites[ui->sel];
	return s->nframes > 0 && s->frames ? s->nframes : 1;
}

/* The rows from FIRST on, with the selected row's stack under it, in the
 * lines TOP..BOTTOM-1. */
static void draw_rows(struct mt_top_ui *ui, int top, int bottom, size_t first)
{
	char buf[2048];
	int y = top;
	for (size_t i = first; i < ui->r.nsites && y < bottom; i++) {
		const struct mt_report_site *s = &ui->r.sites[i];
		mt_top_row(buf, sizeof buf, COLS, (int)i + 1, s, ui->ascii);
		attr_t a = tone_attr(ui, mt_top_tone(s));
		line_at(y++, buf, i == ui->sel ? a | A_REVERSE : a);
		if (i != ui->sel || !ui->expanded)
			continue;
		for (int k = 0; y < bottom && mt_top_stack_line(buf, sizeof buf, COLS, s, k); k++)
			line_at(y++, buf, A_DIM);
	}
	for (; y < bottom; y++)
		line_at(y, "", 0);
}

static void draw(struct mt_top_ui *ui)
{
	if (!ui->screen)
		return;
	char buf[2048];
	int y = 0;
	erase();
	if (!ui->have) {
		line_at(y, "memtrace top: waiting for the first report", A_BOLD);
	} else {
		for (int k = 0; k < MT_TOP_HEADER_LINES && y < LINES; k++) {
			mt_top_header(buf, sizeof buf, k, COLS, &ui->r, ui->sort, ui->paused);
			line_at(y++, buf, k == 0 ? A_BOLD : 0);
		}
		mt_top_columns(buf, sizeof buf, COLS);
		line_at(y++, buf, A_REVERSE);
		/* keep the selected row and its stack in sight */
		int rows = LINES - y - 2;
		size_t first = 0;
		int need = 1 + stack_lines(ui);
		if (rows > 0 && ui->sel + (size_t)need > (size_t)rows)
			first = ui->sel + (size_t)need - (size_t)rows;
		if (first > ui->sel)
			first = ui->sel;
		draw_rows(ui, y, LINES - 2, first);
	}
	snprintf(buf, sizeof buf, "%s", ui->status);
	buf[COLS < (int)sizeof buf ? COLS : (int)sizeof buf - 1] = 0;
	line_at(LINES - 2, buf, A_BOLD);
	snprintf(buf, sizeof buf, "%s", keys_line);
	buf[COLS < (int)sizeof buf ? COLS : (int)sizeof buf - 1] = 0;
	line_at(LINES - 1, buf, A_DIM);
	refresh();
}

/* ---- the screen -------------------------------------------------------- */

static void start(struct mt_top_ui *ui)
{
	if (ui->screen)
		return;
	/* checked before attach (mt_top_ui_check): not expected to fail */
	ui->screen = newterm(NULL, stdout, stdin);
	if (!ui->screen)
		return;
	cbreak(); /* Ctrl-C stays SIGINT: the session stops on it */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (ui->color && has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_ALERT, COLOR_RED, -1);
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
		init_pair(PAIR_GOOD, COLOR_GREEN, -1);
	} else {
		ui->color = false;
	}
}

static void resize(struct mt_top_ui *ui)
{
	struct signalfd_siginfo si;
	while (read(ui->winchfd, &si, sizeof si) == sizeof si)
		;
	struct winsize ws;
	if (ui->screen && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		resizeterm(ws.ws_row, ws.ws_col);
	draw(ui);
}

/* ---- the session's calls (struct mt_view) ------------------------------ */

static void select_key(struct mt_top_ui *ui)
{
	ui->sel_key = ui->sel < ui->r.nsites ? ui->r.sites[ui->sel].key : 0;
}

/* After the rows changed order or content: the same site selected. */
static void find_selected(struct mt_top_ui *ui)
{
	if (!ui->chosen)
		ui->sel = 0;
	for (size_t i = 0; ui->chosen && i < ui->r.nsites; i++) {
		if (ui->r.sites[i].key == ui->sel_key) {
			ui->sel = i;
			return;
		}
	}
	if (ui->sel >= ui->r.nsites)
		ui->sel = ui->r.nsites ? ui->r.nsites - 1 : 0;
	select_key(ui);
}

static void ui_show(void *ctx, struct mt_report *r)
{
	struct mt_top_ui *ui = ctx;
	start(ui);
	if (ui->paused && ui->have) {
		mt_report_free(r);
		draw(ui); /* the status line may have changed */
		return;
	}
	if (ui->have)
		mt_report_free(&ui->r);
	ui->r = *r;
	ui->have = true;
	mt_top_sort(&ui->r, ui->sort);
	find_selected(ui);
	draw(ui);
}

static void ui_status(void *ctx, const char *line)
{
	struct mt_top_ui *ui = ctx;
	snprintf(ui->status, sizeof ui->status, "%s", line);
	draw(ui);
}

static void resort(struct mt_top_ui *ui, enum mt_top_sort k)
{
	ui->sort = k;
	if (ui->have) {
		mt_top_sort(&ui->r, k);
		find_selected(ui);
	}
}

static void move_sel(struct mt_top_ui *ui, long by)
{
	if (!ui->r.nsites)
		return;
	ui->chosen = true;
	long to = (long)ui->sel + by;
	ui->sel = to < 0 ? 0 : (size_t)to >= ui->r.nsites ? ui->r.nsites - 1 : (size_t)to;
	select_key(ui);
}

/* One key: what the session must do. */
static enum mt_view_action key(struct mt_top_ui *ui, int ch)
{
	switch (ch) {
	case 'q':
	case 'Q':
		return MT_VIEW_QUIT;
	case 's':
	case 'S':
		snprintf(ui->status, sizeof ui->status, "writing a snapshot...");
		return MT_VIEW_SNAPSHOT;
	case 'o':
		resort(ui, mt_top_sort_next(ui->sort));
		break;
	case 'g':
		resort(ui, MT_TOP_BY_GROWTH);
		break;
	case 'l':
		resort(ui, MT_TOP_BY_LIVE);
		break;
	case 'r':
		resort(ui, MT_TOP_BY_RATE);
		break;
	case 'c':
		resort(ui, MT_TOP_BY_CHURN);
		break;
	case 'i':
		resort(ui, MT_TOP_BY_INTERVAL);
		break;
	case 'p':
	case ' ':
		ui->paused = !ui->paused;
		/* also here: a narrow terminal cuts the header's "[paused]" */
		snprintf(ui->status, sizeof ui->status, "%s",
			 ui->paused ? "paused: the rows stay "
				      "as they are (still sampled); p resumes"
				    : "resumed");
		break;
	case KEY_UP:
	case 'k':
		move_sel(ui, -1);
		break;
	case KEY_DOWN:
	case 'j':
		move_sel(ui, 1);
		break;
	case KEY_PPAGE:
		move_sel(ui, -(LINES / 2));
		break;
	case KEY_NPAGE:
		move_sel(ui, LINES / 2);
		break;
	case KEY_HOME:
		move_sel(ui, -(long)ui->r.nsites);
		break;
	case KEY_END:
		move_sel(ui, (long)ui->r.nsites);
		break;
	case '\r':
	case '\n':
	case KEY_ENTER:
	case 'e':
		ui->expanded = !ui->expanded;
		break;
	case KEY_RESIZE:
		break;
	default:
		return MT_VIEW_NONE;
	}
	draw(ui);
	return MT_VIEW_NONE;
}

static enum mt_view_action ui_input(void *ctx)
{
	struct mt_top_ui *ui = ctx;
	struct epoll_event ev[2];
	int n = epoll_wait(ui->epfd, ev, 2, 0);
	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == ui->winchfd)
			resize(ui);
		/* A hung-up terminal is readable for ever (end of file), and
		 * SIGHUP goes to its session leader only: a shell that traps
		 * it (or nohup) leaves memtrace to find out here. */
		else if (ev[i].events & (EPOLLHUP | EPOLLERR))
			return MT_VIEW_HANGUP;
	}
	if (!ui->screen)
		return MT_VIEW_NONE; /* keys wait in the terminal's buffer */
	/* Every key there is, so that the level-triggered epoll rests; a
	 * bounded number, so that a flood of input cannot hold the loop. */
	for (int k = 0; k < 256; k++) {
		int ch = getch();
		if (ch == ERR)
			break;
		enum mt_view_action a = key(ui, ch);
		if (a != MT_VIEW_NONE) {
			draw(ui);
			return a;
		}
	}
	return MT_VIEW_NONE;
}

/* ---- life -------------------------------------------------------------- */

struct mt_top_ui *mt_top_ui_new(bool color, char *err, size_t len)
{
	struct mt_top_ui *ui = calloc(1, sizeof *ui);
	if (!ui) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	setlocale(LC_CTYPE, "");
	ui->ascii = strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
	ui->color = color;
	ui->epfd = epoll_create1(EPOLL_CLOEXEC);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	ui->winchfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	ev.data.fd = ui->winchfd;
	bool ok = ui->epfd >= 0 && ui->winchfd >= 0 &&
		  epoll_ctl(ui->epfd, EPOLL_CTL_ADD, ui->winchfd, &ev) == 0;
	ev.data.fd = STDIN_FILENO;
	if (!ok || epoll_ctl(ui->epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0) {
		snprintf(err, len, "cannot wait for keys: %s", strerror(errno));
		mt_top_ui_destroy(ui);
		return NULL;
	}
	ui->view = (struct mt_view){
		.ctx = ui, .fd = ui->epfd, .show = ui_show, .input = ui_input, .status = ui_status
	};
	snprintf(ui->status, sizeof ui->status,
		 "tracing: the rows refresh every interval; Enter shows the "
		 "selected row's stack");
	return ui;
}

const struct mt_view *mt_top_ui_view(struct mt_top_ui *ui)
{
	return &ui->view;
}

void mt_top_ui_destroy(struct mt_top_ui *ui)
{
	if (!ui)
		return;
	if (ui->screen) {
		endwin();
		delscreen(ui->screen);
	}
	if (ui->have)
		mt_report_free(&ui->r);
	if (ui->winchfd >= 0)
		close(ui->winchfd);
	if (ui->epfd >= 0)
		close(ui->epfd);
	free(ui);
}
