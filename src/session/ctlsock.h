/* The control socket: a process has one ptrace tracer, so while
 * `memtrace attach PID` runs, `memtrace histo PID` and `memtrace snapshot
 * PID -o FILE` cannot attach and ask that session instead.
 *
 *   memtrace histo 1234 --json          memtrace attach 1234 (the session)
 *   ---------------------------          ------------------------------------
 *   mt_ctl_client_run()                   mt_ctl_server_new()  at attach
 *     connect DIR/memtrace-UID/1234.sock    poll mt_ctl_server_fd() with the stops
 *     send argv, cwd, stdout (SCM_RIGHTS)   mt_ctl_server_accept() -> request
 *                                           write the report to req.out_fd
 *     print the message line, exit  <----   mt_ctl_server_reply(status, message)
 *                                         mt_ctl_server_destroy()  at detach
 *
 * DIR is $XDG_RUNTIME_DIR when it is set and usable, else /tmp.  The
 * directory memtrace-UID is ours alone (mode 0700), so only our user (and
 * root) can reach the socket; the server also checks each peer's uid.
 * The wire protocol is described at the top of ctlsock.c.
 */
#ifndef MT_CTLSOCK_H
#define MT_CTLSOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Limits of the protocol (a request or reply beyond them is refused). */
#define MT_CTL_MAX_ARGC    256    /* arguments in a request */
#define MT_CTL_MAX_ARG     4096   /* bytes in one argument */
#define MT_CTL_MAX_MESSAGE 4096   /* bytes in the reply's message line */
#define MT_CTL_TIMEOUT_MS  1000   /* a client must send its whole request within this */

/* ---- server, in the tracing session ------------------------------------ */

struct mt_ctl_server;

/* Listen for requests about TARGET on DIR/memtrace-UID/TARGET.sock (UID:
 * our effective uid).  The memtrace-UID directory is created with mode 0700,
 * or, when it exists, must be a real directory (lstat: not a symlink), owned
 * by us, with mode 0700: otherwise it is refused, since someone else may have
 * planted it in /tmp.  A socket left by a dead session is replaced; one a
 * live session listens on is not.  NULL with a one-line reason in ERR on
 * failure (the session then runs without a control socket). */
struct mt_ctl_server *mt_ctl_server_new(pid_t target, char *err, size_t errlen);

/* Poll it for POLLIN with the session's other descriptors; when it is
 * readable, call mt_ctl_server_accept().  It is an epoll descriptor over the
 * listening socket, the connections still sending their request and a timer
 * that drops slow clients, so the session never waits for a client. */
int mt_ctl_server_fd(const struct mt_ctl_server *s);

struct mt_ctl_request {
	int argc;           /* >= 1 */
	char **argv;        /* the client's command line after "memtrace", e.g.
			     * "histo" "1234" "--json"; argv[argc] is NULL */
	int out_fd;         /* the client's standard output (SCM_RIGHTS) */
	char cwd[4096];     /* the client's working directory, absolute: relative
			     * paths in argv (-o FILE) are relative to it */
	int conn;           /* internal: the connection to reply on */
};

/* Take one complete request, without blocking: 0 and *REQ filled (answer it
 * with mt_ctl_server_reply), -EAGAIN when none is complete yet.  Other
 * negative errno values say a client was turned away and its connection
 * closed; nothing else to do, call again (or wait for the next POLLIN):
 *   -EPERM      the peer's uid is neither ours nor root's (SO_PEERCRED)
 *   -EPROTO     a malformed request (wrong magic, sizes beyond the limits,
 *               no descriptor, ...)
 *   -ETIMEDOUT  the client did not send its whole request within
 *               MT_CTL_TIMEOUT_MS
 *   -ECONNRESET the client hung up before its request was complete
 *   -EBUSY      too many clients at once
 *   -EMFILE...  accept(2) failed; the listening socket rests for a second */
int mt_ctl_server_accept(struct mt_ctl_server *s, struct mt_ctl_request *req);

/* Send the client its exit status (0..255; others are sent as 1) and
 * MESSAGE (NULL or "" for none; cut at the first newline and at
 * MT_CTL_MAX_MESSAGE bytes), which the client prints on its stderr.  Closes
 * out_fd first, then the connection, and frees argv.  Never blocks: a client
 * that went away simply misses the reply. */
void mt_ctl_server_reply(struct mt_ctl_request *req, int exit_status, const char *message);

/* Close every connection and unlink the socket (if it is still ours). */
void mt_ctl_server_destroy(struct mt_ctl_server *s);

/* ---- client, in `memtrace histo|snapshot PID` -------------------------- */

/* Ask the session tracing TARGET to run ARGV (ARGC words after "memtrace")
 * with OUT_FD as its standard output and our working directory.  Waits at
 * most TIMEOUT_MS in all (< 0: no limit) for the reply, prints its message
 * line (if any) on stderr and returns 0 with its exit status (0..255) in
 * *EXIT_STATUS.  Otherwise, *EXIT_STATUS untouched:
 *   -ENOENT     no live session for TARGET (no socket, or a stale one)
 *   -ETIMEDOUT  no reply in time
 *   -ECONNRESET the session closed the connection without replying (it
 *               ended, or refused the request)
 *   -EPROTO     a malformed reply
 *   -EPERM      the socket is served by another user
 *   -E2BIG      ARGV (or our working directory) beyond the protocol's limits
 *   -ESTALE     our working directory was removed (getcwd fails)
 *   other -errno from getcwd, socket, connect, send, recv.
 * Where it looks: for our euid, $XDG_RUNTIME_DIR, /run/user/UID and /tmp;
 * as root, also the directories of the user whose process traces TARGET
 * (TracerPid), so `sudo memtrace histo PID` reaches a user's session.  A
 * directory failing the checks of mt_ctl_server_new is skipped. */
int mt_ctl_client_run(pid_t target, int argc, char **argv, int out_fd, int timeout_ms,
		      int *exit_status);

#endif
