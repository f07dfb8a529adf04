/* The control socket (see ctlsock.h for who calls what).
 *
 * Wire protocol, version 1.  A Unix stream socket; one request, one reply,
 * then the server closes the connection.  Integers are uint32 little-endian.
 * Every frame is a 12-byte header and a body:
 *
 *   offset  size  field
 *   0       4     magic: "MTRQ" (request) or "MTRP" (reply)
 *   4       4     version of the sender (1; 0 is invalid)
 *   8       4     N: length of the body, 8 <= N <= 65536
 *   12      N     body
 *
 * Request body (client -> server):
 *   u32 argc                        1 .. 256
 *   u32 C, then C bytes: the cwd    1 .. 4095 bytes, starts with '/', no NUL
 *   argc times: u32 L, then L bytes 0 .. 4096 bytes, no NUL
 * and, as ancillary data (SCM_RIGHTS) on the first byte of the frame,
 * exactly one descriptor: the client's standard output.
 *
 * Reply body (server -> client):
 *   u32 exit status                 0 .. 255
 *   u32 M, then M bytes: a message  0 .. 4096 bytes, no NUL, no newline
 *                                   (printed on the client's stderr)
 *
 * Versions: a later version only appends fields to a body (raising its
 * version and N).  A reader takes the fields it knows and ignores the rest
 * when the sender's version is higher than its own; from a sender of its
 * own version, bytes past the known fields are an error.  So an older
 * client and a newer session (or the reverse) still understand each other.
 *
 * Anything else (wrong magic, version 0, N or a count beyond its limit, a
 * length running past the body, a NUL in a string, no descriptor or more
 * than one) makes the server close the connection without a reply.  Sizes
 * are checked before anything is allocated, the server reads only
 * non-blocking, and a client has MT_CTL_TIMEOUT_MS to send its whole
 * request: a hostile or stuck peer can neither crash nor stall the session.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "session/ctlsock.h"
#include "target/procfs.h"
#include "util/clock.h"

#define VERSION        1u
#define REQUEST_MAGIC  "MTRQ"
#define REPLY_MAGIC    "MTRP"
#define HDR_LEN        12u
#define MIN_BODY       8u
#define MAX_BODY       65536u
#define MAX_CWD        4095u
#define MAX_PENDING    8          /* clients sending their request at once */
#define ACCEPT_REST_MS 1000       /* pause after accept(2) fails (EMFILE...) */

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
/* What DIR is followed by: DIR/memtrace-UID/TARGET.sock must fit sun_path. */
#define SOCK_SUFFIX_MAX sizeof("/memtrace-4294967295/4294967295.sock")

#define ERR(...) snprintf(err, errlen, __VA_ARGS__)

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The u32 at *P (moved past it), if it lies before END. */
static bool take_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
	if (end - *p < 4)
		return false;
	*v = get_u32(*p);
	*p += 4;
	return true;
}

/* LEN bytes at *P (moved past them): before END and without a NUL. */
static bool take_str(const unsigned char **p, const unsigned char *end, uint32_t len,
		     const unsigned char **s)
{
	if ((uint64_t)(end - *p) < len || memchr(*p, '\0', len))
		return false;
	*s = *p;
	*p += len;
	return true;
}

/* The 12-byte header: N, or 0 when it is not a valid one. */
static uint32_t check_header(const unsigned char *h, const char *magic, uint32_t *version)
{
	*version = get_u32(h + 4);
	uint32_t n = get_u32(h + 8);
	if (memcmp(h, magic, 4) || *version == 0 || n < MIN_BODY || n > MAX_BODY)
		return 0;
	return n;
}

/* ---- where the socket lives --------------------------------------------- */

/* A directory others cannot rename our entries in: theirs to write in only
 * with the sticky bit (as /tmp), owned by root or us. */
static bool base_safe(const char *dir, uid_t uid)
{
	struct stat st;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       (st.st_uid == 0 || st.st_uid == uid) &&
	       (!(st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_mode & S_ISVTX));
}

/* $XDG_RUNTIME_DIR, when it is set and usable: an absolute path to a safe
 * directory of ours we may write in, short enough for sun_path.  Else NULL. */
static const char *xdg_dir(void)
{
	const char *d = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	if (!d || d[0] != '/' || strlen(d) + SOCK_SUFFIX_MAX > SUN_PATH_MAX ||
	    stat(d, &st) < 0 || st.st_uid != geteuid() || !base_safe(d, geteuid()) ||
	    faccessat(AT_FDCWD, d, W_OK | X_OK, AT_EACCESS) < 0)
		return NULL;
	return d;
}

/* PATH (lstat: a symlink is refused, not followed) must be a directory
 * owned by UID with mode 0700: nobody else can have put a socket there or
 * connect to ours.  0, or -errno with a reason in ERR. */
static int check_private_dir(const char *path, uid_t uid, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		int e = errno;
		ERR("%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		ERR("%s is not a directory (%s): remove it", path,
		    S_ISLNK(st.st_mode) ? "a symbolic link" : "something else");
		return -ENOTDIR;
	}
	if (st.st_uid != uid) {
		ERR("%s belongs to uid %u, not %u: remove it", path,
		    (unsigned)st.st_uid, (unsigned)uid);
		return -EPERM;
	}
	if ((st.st_mode & 07777) != 0700) {
		ERR("%s has mode %04o, not 0700: remove it or chmod 700 it", path,
		    (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int socket_path(struct sockaddr_un *sa, const char *base, uid_t uid, pid_t target)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/memtrace-%u/%d.sock",
			 base, (unsigned)uid, (int)target);
	return n > 0 && (size_t)n < sizeof sa->sun_path ? 0 : -ENAMETOOLONG;
}

/* ---- server ------------------------------------------------------------- */

/* A client still sending its request. */
struct conn {
	int fd;
	int passed_fd;           /* the descriptor it sent, or -1 */
	bool bad_fds;            /* more than one descriptor, or truncated */
	uint64_t deadline;       /* mt_clock_ms() by which the request must be whole */
	unsigned char hdr[HDR_LEN];
	uint32_t version, body_len;
	unsigned char *body;     /* body_len bytes, once the header is read */
	size_t got;              /* bytes of the frame read so far */
};

struct mt_ctl_server {
	int listen_fd, epoll_fd, timer_fd;
	uid_t uid;
	struct sockaddr_un addr;
	dev_t dev;               /* the socket file we bound, to unlink only it */
	ino_t ino;
	uint64_t listen_resume;  /* when accept(2) failed: mt_clock_ms() to retry */
	struct conn pending[MAX_PENDING];
	size_t npending;
};

/* A socket at SA's path that bind(2) found: 1 when it was stale (nobody
 * listens: connect says ECONNREFUSED) and is removed, else -errno. */
static int remove_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0) {
		if (errno == ENOENT)   /* gone meanwhile */
			return 1;
		int e = errno;
		ERR("%s: %s", sa->sun_path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		ERR("%s exists and is not a socket: remove it", sa->sun_path);
		return -EEXIST;
	}
	/* Non-blocking: a live session with a full backlog answers EAGAIN
	 * instead of making us wait. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		ERR("socket: %s", strerror(e));
		return -e;
	}
	int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	int e = r < 0 ? errno : 0;
	close(fd);
	if (e == ECONNREFUSED) {
		if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
			e = errno;
			ERR("cannot remove the stale socket %s: %s", sa->sun_path, strerror(e));
			return -e;
		}
		return 1;
	}
	if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
		ERR("another memtrace session listens on %s", sa->sun_path);
		return -EADDRINUSE;
	}
	ERR("%s: %s", sa->sun_path, strerror(e));
	return -e;
}

static int listen_at(struct mt_ctl_server *s, char *err, size_t errlen)
{
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		int e = errno;
		ERR("socket: %s", strerror(e));
		return -e;
	}
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
	while (bind(s->listen_fd, sa, sizeof s->addr) < 0) {
		int e = errno;
		if (e != EADDRINUSE) {
			ERR("cannot bind %s: %s", s->addr.sun_path, strerror(e));
			return -e;
		}
		int r = remove_stale(&s->addr, err, errlen);
		if (r < 0)
			return r;
	}
	struct stat st;
	/* The directory already keeps others out; this is for the day it
	 * does not. */
	if (chmod(s->addr.sun_path, 0600) < 0 || lstat(s->addr.sun_path, &st) < 0 ||
	    listen(s->listen_fd, MAX_PENDING) < 0) {
		int e = errno;
		ERR("%s: %s", s->addr.sun_path, strerror(e));
		unlink(s->addr.sun_path);
		return -e;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

struct mt_ctl_server *mt_ctl_server_new(pid_t target, char *err, size_t errlen)
{
	uid_t uid = geteuid();
	const char *base = xdg_dir();
	if (!base) {
		base = "/tmp";
		if (!base_safe(base, uid)) {
			ERR("/tmp is not a directory, or others may write in it without "
			    "the sticky bit");
			return NULL;
		}
	}
	struct mt_ctl_server *s = calloc(1, sizeof *s);
	if (!s) {
		ERR("out of memory");
		return NULL;
	}
	s->listen_fd = s->epoll_fd = s->timer_fd = -1;
	s->uid = uid;
	if (socket_path(&s->addr, base, uid, target) < 0) {
		ERR("%s: path too long for a socket", base);
		goto fail;
	}

	/* DIR/memtrace-UID: the socket's directory, cut from its path. */
	char dir[SUN_PATH_MAX];
	memcpy(dir, s->addr.sun_path, sizeof dir);
	*strrchr(dir, '/') = '\0';
	if (mkdir(dir, 0700) == 0) {
		/* A umask like 0277 would have taken bits from 0700.  The
		 * directory cannot have been swapped since: ours in a sticky
		 * or private DIR. */
		if (chmod(dir, 0700) < 0) {
			ERR("%s: %s", dir, strerror(errno));
			goto fail;
		}
	} else if (errno != EEXIST) {
		ERR("cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (check_private_dir(dir, uid, err, errlen) < 0)
		goto fail;
	if (listen_at(s, err, errlen) < 0)
		goto fail;

	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	if (s->epoll_fd < 0 || s->timer_fd < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->timer_fd, &ev) < 0) {
		ERR("epoll: %s", strerror(errno));
		mt_ctl_server_destroy(s);
		return NULL;
	}
	return s;

fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s);
	return NULL;
}

int mt_ctl_server_fd(const struct mt_ctl_server *s)
{
	return s->epoll_fd;
}

static void conn_close(struct conn *c)
{
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	if (c->fd >= 0)
		close(c->fd);   /* also leaves the epoll set */
	free(c->body);
}

/* Take pending[I] out of the set (the last one takes its place). */
static struct conn take_conn(struct mt_ctl_server *s, size_t i)
{
	struct conn c = s->pending[i];
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c.fd, NULL);
	s->pending[i] = s->pending[--s->npending];
	return c;
}

static void drop_conn(struct mt_ctl_server *s, size_t i)
{
	struct conn c = take_conn(s, i);
	conn_close(&c);
}

/* The timer wakes the session when the first slow client is due to be
 * dropped, or when the listening socket may be tried again. */
static void arm_timer(struct mt_ctl_server *s)
{
	uint64_t first = s->listen_resume;
	for (size_t i = 0; i < s->npending; i++)
		if (!first || s->pending[i].deadline < first)
			first = s->pending[i].deadline;
	struct itimerspec its = { 0 };
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000);
		its.it_value.tv_nsec = (long)(first % 1000) * 1000000;
	}
	timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Read into C what is there, up to its whole frame: 1 when the frame is
 * whole, 0 when more is to come, -errno when the client is to be dropped. */
static int conn_read(struct conn *c)
{
	for (;;) {
		unsigned char *dst;
		size_t want;
		if (c->got < HDR_LEN) {
			dst = c->hdr + c->got;
			want = HDR_LEN - c->got;
		} else {
			dst = c->body + (c->got - HDR_LEN);
			want = HDR_LEN + c->body_len - c->got;
		}
		/* Room for a few descriptors, to see (and close) extra ones. */
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} ctl;
		struct iovec iov = { .iov_base = dst, .iov_len = want };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf,
		};
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t k = 0; k < nfd; k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof fd);
				if (c->passed_fd < 0 && !c->bad_fds) {
					c->passed_fd = fd;
				} else {
					close(fd);
					c->bad_fds = true;
				}
			}
		}
		if ((mh.msg_flags & MSG_CTRUNC) || c->bad_fds)
			return -EPROTO;
		if (n == 0)
			return -ECONNRESET;
		c->got += (size_t)n;
		if (c->got == HDR_LEN) {
			c->body_len = check_header(c->hdr, REQUEST_MAGIC, &c->version);
			if (!c->body_len)
				return -EPROTO;
			c->body = malloc(c->body_len);
			if (!c->body)
				return -ENOMEM;
		}
		if (c->got == HDR_LEN + c->body_len)
			return 1;
	}
}

/* The whole frame of C, checked, into REQ (which then owns C's
 * descriptors).  0 or -EPROTO / -ENOMEM. */
static int decode_request(struct conn *c, struct mt_ctl_request *req)
{
	const unsigned char *p = c->body, *end = c->body + c->body_len, *cwd;
	uint32_t argc, cwd_len, len;
	if (!take_u32(&p, end, &argc) || argc == 0 || argc > MT_CTL_MAX_ARGC ||
	    !take_u32(&p, end, &cwd_len) || cwd_len == 0 || cwd_len > MAX_CWD ||
	    !take_str(&p, end, cwd_len, &cwd) || cwd[0] != '/')
		return -EPROTO;
	/* Check every argument before allocating for them. */
	const unsigned char *args = p, *s;
	size_t total = 0;
	for (uint32_t i = 0; i < argc; i++) {
		if (!take_u32(&p, end, &len) || len > MT_CTL_MAX_ARG || !take_str(&p, end, len, &s))
			return -EPROTO;
		total += len + 1;
	}
	if ((p != end && c->version <= VERSION) || c->passed_fd < 0)
		return -EPROTO;

	char **argv = malloc((argc + 1) * sizeof *argv + total);
	if (!argv)
		return -ENOMEM;
	char *strs = (char *)(argv + argc + 1);
	p = args;
	for (uint32_t i = 0; i < argc; i++) {
		take_u32(&p, end, &len);
		take_str(&p, end, len, &s);
		memcpy(strs, s, len);
		strs[len] = '\0';
		argv[i] = strs;
		strs += len + 1;
	}
	argv[argc] = NULL;

	req->argc = (int)argc;
	req->argv = argv;
	memcpy(req->cwd, cwd, cwd_len);
	req->cwd[cwd_len] = '\0';
	req->out_fd = c->passed_fd;
	req->conn = c->fd;
	c->passed_fd = c->fd = -1;
	return 0;
}

int mt_ctl_server_accept(struct mt_ctl_server *s, struct mt_ctl_request *req)
{
	int err = 0;
	uint64_t expirations;
	if (read(s->timer_fd, &expirations, sizeof expirations) < 0) {
		/* EAGAIN: it had not fired */
	}
	uint64_t now = mt_clock_ms();

	for (size_t i = 0; i < s->npending;) {
		if (now >= s->pending[i].deadline) {
			drop_conn(s, i);
			err = err ? err : -ETIMEDOUT;
		} else {
			i++;
		}
	}

	if (s->listen_resume && now >= s->listen_resume) {
		struct epoll_event ev = { .events = EPOLLIN };
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) == 0)
			s->listen_resume = 0;
	}
	while (!s->listen_resume) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* EMFILE and the like: the socket would stay readable
			 * and spin the session.  Rest it a while. */
			err = err ? err : -errno;
			epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->listen_fd, NULL);
			s->listen_resume = now + ACCEPT_REST_MS;
			break;
		}
		struct ucred cred;
		socklen_t len = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != s->uid && cred.uid != 0)) {
			close(fd);
			err = err ? err : -EPERM;
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN };
		if (s->npending == MAX_PENDING ||
		    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			err = err ? err : -EBUSY;
			continue;
		}
		s->pending[s->npending++] = (struct conn){
			.fd = fd, .passed_fd = -1, .deadline = now + MT_CTL_TIMEOUT_MS,
		};
	}

	/* One request per call: the others stay readable for the next. */
	for (size_t i = 0; i < s->npending;) {
		int r = conn_read(&s->pending[i]);
		if (r == 0) {
			i++;
			continue;
		}
		struct conn c = take_conn(s, i);
		if (r > 0)
			r = decode_request(&c, req);
		conn_close(&c);
		if (r == 0) {
			arm_timer(s);
			return 0;
		}
		err = err ? err : r;
	}
	arm_timer(s);
	return err ? err : -EAGAIN;
}

void mt_ctl_server_reply(struct mt_ctl_request *req, int exit_status, const char *message)
{
	unsigned char buf[HDR_LEN + MIN_BODY + MT_CTL_MAX_MESSAGE];
	size_t mlen = message ? strcspn(message, "\n") : 0;
	if (mlen > MT_CTL_MAX_MESSAGE)
		mlen = MT_CTL_MAX_MESSAGE;
	if (exit_status < 0 || exit_status > 255)
		exit_status = 1;
	memcpy(buf, REPLY_MAGIC, 4);
	put_u32(buf + 4, VERSION);
	put_u32(buf + 8, (uint32_t)(MIN_BODY + mlen));
	put_u32(buf + 12, (uint32_t)exit_status);
	put_u32(buf + 16, (uint32_t)mlen);
	if (mlen)
		memcpy(buf + HDR_LEN + MIN_BODY, message, mlen);

	/* Let go of the client's stdout before it hears the reply. */
	if (req->out_fd >= 0)
		close(req->out_fd);
	/* A fresh connection's buffer holds far more than one reply; a client
	 * that is gone gets EPIPE, not SIGPIPE. */
	if (req->conn >= 0) {
		if (send(req->conn, buf, HDR_LEN + MIN_BODY + mlen,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* nobody left to tell */
		}
		close(req->conn);
	}
	free(req->argv);
	req->argv = NULL;
	req->argc = 0;
	req->out_fd = req->conn = -1;
}

void mt_ctl_server_destroy(struct mt_ctl_server *s)
{
	if (!s)
		return;
	while (s->npending)
		drop_conn(s, s->npending - 1);
	/* Unlink only the socket we bound, not one a later session put there. */
	struct stat st;
	if (s->listen_fd >= 0 && lstat(s->addr.sun_path, &st) == 0 &&
	    st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->addr.sun_path);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	free(s);
}

/* ---- client ------------------------------------------------------------- */

/* The effective uid of the process tracing TARGET. */
static bool tracer_uid(pid_t target, uid_t *uid)
{
	struct mt_procfs_status st;
	if (mt_procfs_status(target, &st) < 0 || st.tracer_pid <= 0 || st.tracer_pid > INT_MAX ||
	    mt_procfs_status((pid_t)st.tracer_pid, &st) < 0 || st.euid < 0)
		return false;
	*uid = (uid_t)st.euid;
	return true;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		int timeout = -1;
		if (deadline != UINT64_MAX) {
			uint64_t now = mt_clock_ms();
			if (now >= deadline)
				return -ETIMEDOUT;
			timeout = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
		}
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, timeout);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Connect to BASE/memtrace-UID/TARGET.sock: the descriptor, -ENOENT when
 * no live session is there (no directory, a directory failing the checks,
 * no socket, a stale one), or -errno. */
static int try_connect(const char *base, uid_t uid, pid_t target)
{
	struct sockaddr_un sa;
	char dir[SUN_PATH_MAX], why[256];
	if (socket_path(&sa, base, uid, target) < 0)
		return -ENOENT;
	memcpy(dir, sa.sun_path, sizeof dir);
	*strrchr(dir, '/') = '\0';
	if (check_private_dir(dir, uid, why, sizeof why) < 0)
		return -ENOENT;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTSOCK)
			return -ENOENT;
		return -e;   /* EAGAIN: the session's backlog is full */
	}
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != uid && cred.uid != 0)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

static int client_connect(pid_t target)
{
	uid_t uids[2] = { geteuid(), 0 };
	int nuids = 1, err = -ENOENT;
	if (uids[0] == 0 && tracer_uid(target, &uids[1]) && uids[1] != 0)
		nuids++;
	for (int u = 0; u < nuids; u++) {
		char run[64];
		const char *bases[3];
		int nbases = 0;
		const char *xdg = u == 0 ? xdg_dir() : NULL;
		if (xdg)
			bases[nbases++] = xdg;
		snprintf(run, sizeof run, "/run/user/%u", (unsigned)uids[u]);
		if (!xdg || strcmp(xdg, run))
			bases[nbases++] = run;
		bases[nbases++] = "/tmp";
		for (int b = 0; b < nbases; b++) {
			int fd = try_connect(bases[b], uids[u], target);
			if (fd >= 0)
				return fd;
			if (fd != -ENOENT && err == -ENOENT)
				err = fd;
		}
	}
	return err;
}

/* The request frame: 0, or -E2BIG / -EINVAL / -ENOMEM. */
static int encode_request(int argc, char **argv, const char *cwd,
			  unsigned char **out, size_t *outlen)
{
	size_t cwd_len = strlen(cwd);
	if (argc < 1 || !argv)
		return -EINVAL;
	if (argc > MT_CTL_MAX_ARGC || cwd_len == 0 || cwd_len > MAX_CWD)
		return -E2BIG;
	size_t body = 4 + 4 + cwd_len;
	for (int i = 0; i < argc; i++) {
		if (!argv[i])
			return -EINVAL;
		size_t len = strlen(argv[i]);
		if (len > MT_CTL_MAX_ARG)
			return -E2BIG;
		body += 4 + len;
	}
	if (body > MAX_BODY)
		return -E2BIG;
	unsigned char *buf = malloc(HDR_LEN + body), *p = buf;
	if (!buf)
		return -ENOMEM;
	memcpy(p, REQUEST_MAGIC, 4);
	put_u32(p + 4, VERSION);
	put_u32(p + 8, (uint32_t)body);
	put_u32(p + 12, (uint32_t)argc);
	put_u32(p + 16, (uint32_t)cwd_len);
	memcpy(p + 20, cwd, cwd_len);
	p += 20 + cwd_len;
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);
		put_u32(p, (uint32_t)len);
		memcpy(p + 4, argv[i], len);
		p += 4 + len;
	}
	*out = buf;
	*outlen = HDR_LEN + body;
	return 0;
}

/* Send the frame, OUT_FD riding on its first byte. */
static int send_request(int fd, const unsigned char *buf, size_t len, int out_fd,
			uint64_t deadline)
{
	size_t sent = 0;
	while (sent < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { .iov_base = (void *)(buf + sent), .iov_len = len - sent };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (sent == 0) {
			memset(&ctl, 0, sizeof ctl);
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof ctl.buf;
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &out_fd, sizeof out_fd);
		}
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		sent += (size_t)n;
	}
	return 0;
}

/* LEN bytes into BUF by DEADLINE: 0, or -ECONNRESET when the server hung
 * up before the FIRST byte of a frame, -EPROTO when it hung up within one,
 * -ETIMEDOUT, -errno. */
static int recv_all(int fd, unsigned char *buf, size_t len, uint64_t deadline, bool first)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		/* ECONNRESET: it hung up with some of our request unread. */
		if (n == 0 || errno == ECONNRESET)
			return first && got == 0 ? -ECONNRESET : -EPROTO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The reply: 0 with its exit status (0..255) in *STATUS and its message in
 * MSG (MT_CTL_MAX_MESSAGE + 1 bytes, NUL-terminated), or -errno. */
static int read_reply(int fd, uint64_t deadline, char *msg, int *status)
{
	unsigned char hdr[HDR_LEN];
	int r = recv_all(fd, hdr, sizeof hdr, deadline, true);
	if (r < 0)
		return r;
	uint32_t version, n = check_header(hdr, REPLY_MAGIC, &version);
	if (!n)
		return -EPROTO;
	unsigned char *body = malloc(n);
	if (!body)
		return -ENOMEM;
	r = recv_all(fd, body, n, deadline, false);
	if (r == 0) {
		const unsigned char *p = body, *end = body + n, *s;
		uint32_t st, mlen;
		if (!take_u32(&p, end, &st) || st > 255 ||
		    !take_u32(&p, end, &mlen) || mlen > MT_CTL_MAX_MESSAGE ||
		    !take_str(&p, end, mlen, &s) || memchr(s, '\n', mlen) ||
		    (p != end && version <= VERSION)) {
			r = -EPROTO;
		} else {
			memcpy(msg, s, mlen);
			msg[mlen] = '\0';
			*status = (int)st;
		}
	}
	free(body);
	return r;
}

int mt_ctl_client_run(pid_t target, int argc, char **argv, int out_fd, int timeout_ms,
		      int *exit_status)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : mt_clock_ms() + (uint64_t)timeout_ms;
	char cwd[MAX_CWD + 1];
	/* ENOENT here (our directory was removed) must not read as "no
	 * session". */
	if (!getcwd(cwd, sizeof cwd))
		return errno == ERANGE ? -E2BIG : errno == ENOENT ? -ESTALE : -errno;
	if (fcntl(out_fd, F_GETFD) < 0)
		return -EBADF;
	unsigned char *frame;
	size_t len;
	int r = encode_request(argc, argv, cwd, &frame, &len);
	if (r < 0)
		return r;
	int fd = client_connect(target);
	if (fd < 0) {
		free(frame);
		return fd;
	}
	r = send_request(fd, frame, len, out_fd, deadline);
	free(frame);
	char msg[MT_CTL_MAX_MESSAGE + 1] = "";
	if (r == 0)
		r = read_reply(fd, deadline, msg, exit_status);
	close(fd);
	if (r == 0 && msg[0])
		fprintf(stderr, "%s\n", msg);
	return r;
}
