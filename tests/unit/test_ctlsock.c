/* Unit tests for src/session/ctlsock.c: the control socket through which `memtrace
 * histo PID` asks the `memtrace attach PID` session.  Server and client run
 * in one test: the client in a forked child, the server in the test.  Each
 * test points $XDG_RUNTIME_DIR at a fresh private directory and names its
 * own pid as the target, so tests never meet each other or a real session.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session/ctlsock.h"

static char base[64];          /* $XDG_RUNTIME_DIR for the test */
static char dir[128];          /* base/memtrace-UID */
static char path[160];         /* dir/PID.sock */
static pid_t target;

static void setup(void)
{
	strcpy(base, "/tmp/mt-ctlsock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	setenv("XDG_RUNTIME_DIR", base, 1);
	target = getpid();
	snprintf(dir, sizeof dir, "%s/memtrace-%u", base, (unsigned)geteuid());
	snprintf(path, sizeof path, "%s/%d.sock", dir, (int)target);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(p);
	return 0;
}

static void teardown(void)
{
	if (chdir("/") < 0)
		perror("chdir /");
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static struct mt_ctl_server *server(void)
{
	char err[512] = "";
	struct mt_ctl_server *s = mt_ctl_server_new(target, err, sizeof err);
	ck_assert_msg(s != NULL, "mt_ctl_server_new: %s", err);
	return s;
}

/* mt_ctl_server_new must fail, saying something containing WHY. */
static void server_refused(const char *why)
{
	char err[512] = "";
	struct mt_ctl_server *s = mt_ctl_server_new(target, err, sizeof err);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, why), "\"%s\" does not say \"%s\"", err, why);
}

/* Wait for the server fd, then accept, until something other than -EAGAIN
 * comes or TIMEOUT_MS passes (then -EAGAIN). */
static int accept_within(struct mt_ctl_server *s, struct mt_ctl_request *req, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int r = mt_ctl_server_accept(s, req);
		if (r != -EAGAIN)
			return r;
		uint64_t now = now_ms();
		if (now >= end)
			return -EAGAIN;
		struct pollfd p = { .fd = mt_ctl_server_fd(s), .events = POLLIN };
		poll(&p, 1, (int)(end - now));
	}
}

/* Where the refusals below would put an exit status: they must not. */
static int no_status = -1;

/* A client in a child process: mt_ctl_client_run's result comes back
 * through a pipe (the exit status it got, or its -errno), its stderr
 * through another. */
struct client {
	pid_t pid;
	int result_fd, stderr_fd;
};

static struct client client_start(char **argv, int out_fd, int timeout_ms)
{
	int res[2], err[2];
	ck_assert_int_eq(pipe(res), 0);
	ck_assert_int_eq(pipe(err), 0);
	int argc = 0;
	while (argv[argc])
		argc++;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(err[1], 2);
		int status = -1;
		int r = mt_ctl_client_run(target, argc, argv, out_fd, timeout_ms, &status);
		if (r == 0 ? status < 0 || status > 255 : r > 0 || status != -1)
			_exit(2);   /* not one space: 0 and a status, or -errno */
		if (r == 0)
			r = status;
		if (write(res[1], &r, sizeof r) != sizeof r)
			_exit(1);
		_exit(0);
	}
	close(res[1]);
	close(err[1]);
	return (struct client){ .pid = pid, .result_fd = res[0], .stderr_fd = err[0] };
}

static ssize_t read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return (ssize_t)got;
}

/* The client's result; its stderr into ERRBUF (if not NULL). */
static int client_finish(struct client c, char *errbuf, size_t errsize)
{
	int r = -9999, st;
	ck_assert_int_eq(read(c.result_fd, &r, sizeof r), sizeof r);
	char tmp[8192];
	read_all(c.stderr_fd, errbuf ? errbuf : tmp, errbuf ? errsize : sizeof tmp);
	ck_assert_int_eq(waitpid(c.pid, &st, 0), c.pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(c.result_fd);
	close(c.stderr_fd);
	return r;
}

/* One whole exchange: "histo PID" answered with STATUS and MESSAGE.
 * Returns the client's result; its stderr into ERRBUF. */
static int exchange(struct mt_ctl_server *s, int status, const char *message,
		    char *errbuf, size_t errsize)
{
	char *argv[] = { "histo", "1", NULL };
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct client c = client_start(argv, devnull, 5000);
	close(devnull);
	struct mt_ctl_request req;
	ck_assert_int_eq(accept_within(s, &req, 5000), 0);
	mt_ctl_server_reply(&req, status, message);
	return client_finish(c, errbuf, errsize);
}

/* A raw connection to the socket, to play a broken or hostile client. */
static int raw_connect(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, p);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Send LEN bytes with NFDS descriptors on the first byte. */
static void raw_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* The server closed FD without a reply, within a second: end of file, or
 * ECONNRESET when it left some of what we sent unread. */
static void assert_hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 1000), 1);
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	ck_assert(n == 0 || (n < 0 && errno == ECONNRESET));
}

/* ---- frames built by hand ---------------------------------------------- */

struct frame {
	unsigned char b[8192];
	size_t len;
};

static void put32(struct frame *f, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		f->b[f->len++] = (unsigned char)(v >> (8 * i));
}

static void put_bytes(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void put_str(struct frame *f, const char *s)
{
	put32(f, (uint32_t)strlen(s));
	put_bytes(f, s, strlen(s));
}

/* Header for a body that starts right after it; fix_len() sets N. */
static void put_header(struct frame *f, const char *magic, uint32_t version)
{
	f->len = 0;
	put_bytes(f, magic, 4);
	put32(f, version);
	put32(f, 0);
}

static void fix_len(struct frame *f)
{
	uint32_t n = (uint32_t)(f->len - 12);
	for (int i = 0; i < 4; i++)
		f->b[8 + i] = (unsigned char)(n >> (8 * i));
}

/* A good request "histo 1" from "/", of VERSION, with EXTRA bytes after. */
static void good_request(struct frame *f, uint32_t version, size_t extra)
{
	put_header(f, "MTRQ", version);
	put32(f, 2);
	put_str(f, "/");
	put_str(f, "histo");
	put_str(f, "1");
	for (size_t i = 0; i < extra; i++)
		f->b[f->len++] = 0xAB;
	fix_len(f);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_round_trip)
{
	struct mt_ctl_server *s = server();
	struct stat st;
	ck_assert_int_eq(lstat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600);

	/* The client runs from a directory of its own: relative -o FILE. */
	char sub[256], cwd[4096];
	snprintf(sub, sizeof sub, "%s/work dir", base);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(chdir(sub), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));

	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	char *argv[] = { "snapshot", "1234", "-o", "snap file.mts", "", "--json", NULL };
	struct client c = client_start(argv, out[1], 5000);
	close(out[1]);

	struct mt_ctl_request req;
	ck_assert_int_eq(accept_within(s, &req, 5000), 0);
	ck_assert_int_eq(req.argc, 6);
	for (int i = 0; i < 6; i++)
		ck_assert_str_eq(req.argv[i], argv[i]);
	ck_assert_ptr_null(req.argv[6]);
	ck_assert_str_eq(req.cwd, cwd);
	/* The descriptor is the client's stdout, the pipe: what the session
	 * writes there reaches the reader. */
	ck_assert_int_eq(write(req.out_fd, "report line\n", 12), 12);
	mt_ctl_server_reply(&req, 3, "memtrace: done\nthis second line is not sent");
	ck_assert_ptr_null(req.argv);
	ck_assert_int_eq(req.out_fd, -1);

	char buf[256], errbuf[256];
	ck_assert_int_eq(client_finish(c, errbuf, sizeof errbuf), 3);
	ck_assert_str_eq(errbuf, "memtrace: done\n");
	read_all(out[0], buf, sizeof buf);
	ck_assert_str_eq(buf, "report line\n");
	close(out[0]);

	/* Its working directory gone, the client says so (not "no session"). */
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_int_eq(mt_ctl_client_run(target, 2, argv, 1, 1000, &no_status), -ESTALE);
	ck_assert_int_eq(chdir("/"), 0);

	/* Nothing is waiting any more. */
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	mt_ctl_server_destroy(s);
	ck_assert_int_eq(lstat(path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_status_and_message)
{
	struct mt_ctl_server *s = server();
	char errbuf[8192];
	ck_assert_int_eq(exchange(s, 0, NULL, errbuf, sizeof errbuf), 0);
	ck_assert_str_eq(errbuf, "");
	ck_assert_int_eq(exchange(s, 0, "", errbuf, sizeof errbuf), 0);
	ck_assert_str_eq(errbuf, "");
	ck_assert_int_eq(exchange(s, 255, "\nhidden", errbuf, sizeof errbuf), 255);
	ck_assert_str_eq(errbuf, "");
	/* No exit status beyond 0..255: sent as 1. */
	ck_assert_int_eq(exchange(s, 300, "x", errbuf, sizeof errbuf), 1);
	ck_assert_int_eq(exchange(s, -2, "x", errbuf, sizeof errbuf), 1);
	ck_assert_str_eq(errbuf, "x\n");
	/* A long message is cut at MT_CTL_MAX_MESSAGE bytes. */
	char *long_msg = malloc(6000);
	memset(long_msg, 'm', 5999);
	long_msg[5999] = '\0';
	ck_assert_int_eq(exchange(s, 12, long_msg, errbuf, sizeof errbuf), 12);
	ck_assert_uint_eq(strlen(errbuf), MT_CTL_MAX_MESSAGE + 1);
	free(long_msg);
	mt_ctl_server_destroy(s);
}
END_TEST

START_TEST(test_no_server)
{
	char *argv[] = { "histo", "1", NULL };
	ck_assert_int_eq(mt_ctl_client_run(target, 2, argv, 1, 1000, &no_status), -ENOENT);

	/* Gone with its session. */
	struct mt_ctl_server *s = server();
	mt_ctl_server_destroy(s);
	ck_assert_int_eq(mt_ctl_client_run(target, 2, argv, 1, 1000, &no_status), -ENOENT);

	/* A socket nobody listens on any more (its session was killed). */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	ck_assert_int_eq(mt_ctl_client_run(target, 2, argv, 1, 1000, &no_status), -ENOENT);
}
END_TEST

START_TEST(test_client_argument_limits)
{
	char *none[] = { NULL };
	ck_assert_int_eq(mt_ctl_client_run(target, 0, none, 1, 1000, &no_status), -EINVAL);
	char *big = malloc(MT_CTL_MAX_ARG + 2);
	memset(big, 'a', MT_CTL_MAX_ARG + 1);
	big[MT_CTL_MAX_ARG + 1] = '\0';
	char *argv[] = { "histo", big, NULL };
	ck_assert_int_eq(mt_ctl_client_run(target, 2, argv, 1, 1000, &no_status), -E2BIG);
	free(big);
	char *ok[] = { "histo", "1", NULL };
	ck_assert_int_eq(mt_ctl_client_run(target, 2, ok, 999, 1000, &no_status), -EBADF);
	ck_assert_int_eq(no_status, -1);
}
END_TEST

START_TEST(test_stale_socket_replaced)
{
	/* What a killed session leaves: the socket file, nobody listening. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);

	struct mt_ctl_server *s = server();
	char errbuf[256];
	ck_assert_int_eq(exchange(s, 7, "ok", errbuf, sizeof errbuf), 7);

	/* A live session's socket is not taken over, and keeps working.  The
	 * probe that found it alive was a connection, seen to hang up. */
	server_refused("another memtrace session listens");
	struct mt_ctl_request req;
	ck_assert_int_eq(accept_within(s, &req, 1000), -ECONNRESET);
	ck_assert_int_eq(exchange(s, 0, NULL, errbuf, sizeof errbuf), 0);
	mt_ctl_server_destroy(s);

	/* Something that is not a socket is left alone. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	server_refused("is not a socket");
	struct stat st;
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
}
END_TEST

START_TEST(test_directory_checks)
{
	struct stat st;

	/* Readable by others. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	server_refused("mode 0755");
	ck_assert_int_eq(rmdir(dir), 0);

	/* A symlink to a perfectly good directory (a hijack in /tmp would
	 * point to the attacker's): refused, nothing created behind it. */
	char real[160];
	snprintf(real, sizeof real, "%s/elsewhere", base);
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink(real, dir), 0);
	server_refused("symbolic link");
	char behind[200];
	snprintf(behind, sizeof behind, "%s/%d.sock", real, (int)target);
	ck_assert_int_eq(lstat(behind, &st), -1);
	ck_assert_int_eq(unlink(dir), 0);

	/* A file. */
	int fd = open(dir, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	server_refused("not a directory");
	ck_assert_int_eq(unlink(dir), 0);

	/* Someone else's (only root can make one here). */
	if (geteuid() == 0) {
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		ck_assert_int_eq(chown(dir, 65534, 65534), 0);
		server_refused("belongs to uid 65534");
		ck_assert_int_eq(rmdir(dir), 0);
	}

	/* A umask that takes bits from 0700 does not make us refuse our own
	 * new directory. */
	mode_t old = umask(0277);
	struct mt_ctl_server *s = server();
	umask(old);
	ck_assert_int_eq(lstat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);

	/* The client checks too: it does not talk through a directory that
	 * others may have been able to write in. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	char *argv[] = { "histo", "1", NULL };
	ck_assert_int_eq(mt_ctl_client_run(target, 2, argv, 1, 1000, &no_status), -ENOENT);
	struct mt_ctl_request req;
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	mt_ctl_server_destroy(s);
}
END_TEST

START_TEST(test_silent_client_never_blocks)
{
	struct mt_ctl_server *s = server();
	struct mt_ctl_request req;
	int fds_before = count_fds();

	/* One connects and says nothing; one sends half a header. */
	uint64_t t0 = now_ms();
	int silent = raw_connect(path);
	int half = raw_connect(path);
	raw_send(half, "MTRQ\1\0", 6, NULL, 0);
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	ck_assert_uint_lt(now_ms() - t0, 200);

	/* A real client is served meanwhile. */
	char errbuf[256];
	ck_assert_int_eq(exchange(s, 5, NULL, errbuf, sizeof errbuf), 5);
	ck_assert_uint_lt(now_ms() - t0, 900);

	/* The server's fd wakes the session when the two are due, about a
	 * second after they came: it drops them. */
	ck_assert_int_eq(accept_within(s, &req, 5000), -ETIMEDOUT);
	uint64_t waited = now_ms() - t0;
	ck_assert_uint_ge(waited, MT_CTL_TIMEOUT_MS - 10);
	ck_assert_uint_lt(waited, MT_CTL_TIMEOUT_MS + 1000);
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	assert_hung_up(silent);
	assert_hung_up(half);
	close(silent);
	close(half);

	/* And then rests: not readable, so the session does not spin. */
	struct pollfd p = { .fd = mt_ctl_server_fd(s), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 100), 0);
	ck_assert_int_eq(count_fds(), fds_before);
	mt_ctl_server_destroy(s);
}
END_TEST

START_TEST(test_too_many_clients)
{
	struct mt_ctl_server *s = server();
	struct mt_ctl_request req;
	int fds[9];
	for (int i = 0; i < 9; i++)
		fds[i] = raw_connect(path);
	/* Eight wait for their second; the ninth is turned away at once. */
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EBUSY);
	assert_hung_up(fds[8]);
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	for (int i = 0; i < 9; i++)
		close(fds[i]);
	/* Their hang-ups are noticed. */
	ck_assert_int_eq(accept_within(s, &req, 1000), -ECONNRESET);
	mt_ctl_server_destroy(s);
}
END_TEST

/* Garbage: each case is turned away with -EPROTO and no reply, and every
 * descriptor that came with it is closed. */
START_TEST(test_garbage_rejected)
{
	struct mt_ctl_server *s = server();
	struct mt_ctl_request req;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int fds_before = count_fds();
	struct frame f;
	static const char http[] = "GET / HTTP/1.0\r\n\r\n";

	for (int k = 0;; k++) {
		int nfds = 1;
		switch (k) {
		case 0:   /* not our protocol at all */
			f.len = 0;
			put_bytes(&f, http, sizeof http - 1);
			break;
		case 1:   /* a reply's magic */
			good_request(&f, 1, 0);
			memcpy(f.b, "MTRP", 4);
			break;
		case 2:   /* version 0 */
			good_request(&f, 0, 0);
			break;
		case 3:   /* 4 GiB body: refused before allocating anything */
			good_request(&f, 1, 0);
			memset(f.b + 8, 0xff, 4);
			break;
		case 4:   /* body just past the limit */
			put_header(&f, "MTRQ", 1);
			f.b[8] = 1, f.b[9] = 0, f.b[10] = 1, f.b[11] = 0;  /* 65537 */
			break;
		case 5:   /* body too short to hold anything */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			fix_len(&f);
			break;
		case 6:   /* no arguments */
			put_header(&f, "MTRQ", 1);
			put32(&f, 0);
			put_str(&f, "/");
			fix_len(&f);
			break;
		case 7:   /* too many arguments */
			put_header(&f, "MTRQ", 1);
			put32(&f, MT_CTL_MAX_ARGC + 1);
			put_str(&f, "/");
			for (int i = 0; i <= MT_CTL_MAX_ARGC; i++)
				put_str(&f, "");
			fix_len(&f);
			break;
		case 8:   /* a relative working directory */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put_str(&f, "tmp");
			put_str(&f, "histo");
			fix_len(&f);
			break;
		case 9:   /* an empty one */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put_str(&f, "");
			put_str(&f, "histo");
			fix_len(&f);
			break;
		case 10:  /* one longer than PATH_MAX - 1 */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put32(&f, 4096);
			f.b[f.len++] = '/';
			memset(f.b + f.len, 'd', 4095);
			f.len += 4095;
			put_str(&f, "histo");
			fix_len(&f);
			break;
		case 11:  /* an argument running past the body */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put_str(&f, "/");
			put32(&f, 100);
			put_bytes(&f, "histo", 5);
			fix_len(&f);
			break;
		case 12:  /* a length that wraps a 32-bit sum */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put_str(&f, "/");
			put32(&f, 0xfffffffc);
			put_bytes(&f, "histo", 5);
			fix_len(&f);
			break;
		case 13:  /* a NUL inside an argument */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put_str(&f, "/");
			put32(&f, 3);
			put_bytes(&f, "a\0b", 3);
			fix_len(&f);
			break;
		case 14:  /* a NUL inside the working directory */
			put_header(&f, "MTRQ", 1);
			put32(&f, 1);
			put32(&f, 3);
			put_bytes(&f, "/\0x", 3);
			put_str(&f, "histo");
			fix_len(&f);
			break;
		case 15:  /* version 1 with bytes past its fields */
			good_request(&f, 1, 1);
			break;
		case 16:  /* no descriptor */
			good_request(&f, 1, 0);
			nfds = 0;
			break;
		case 17:  /* two descriptors */
			good_request(&f, 1, 0);
			nfds = 2;
			break;
		case 18:  /* four, more than the server looks for in one go */
			good_request(&f, 1, 0);
			nfds = 4;
			break;
		default:
			goto done;
		}
		int c = raw_connect(path);
		int pass[4] = { devnull, devnull, devnull, devnull };
		raw_send(c, f.b, f.len, pass, nfds);
		ck_assert_msg(accept_within(s, &req, 2000) == -EPROTO, "case %d accepted", k);
		assert_hung_up(c);
		close(c);
	}
done:
	ck_assert_int_eq(count_fds(), fds_before);

	/* A newer client's request: the fields we know are taken, the rest
	 * ignored. */
	good_request(&f, 2, 16);
	int c = raw_connect(path);
	raw_send(c, f.b, f.len, &devnull, 1);
	ck_assert_int_eq(accept_within(s, &req, 2000), 0);
	ck_assert_int_eq(req.argc, 2);
	ck_assert_str_eq(req.argv[0], "histo");
	ck_assert_str_eq(req.argv[1], "1");
	ck_assert_str_eq(req.cwd, "/");
	mt_ctl_server_reply(&req, 4, "ok");
	unsigned char reply[64];
	ck_assert_int_eq(recv(c, reply, sizeof reply, MSG_WAITALL), 12 + 8 + 2);
	ck_assert_int_eq(memcmp(reply, "MTRP\1\0\0\0\12\0\0\0\4\0\0\0\2\0\0\0ok", 22), 0);
	close(c);

	/* Sent in pieces, with pauses: put together. */
	good_request(&f, 1, 0);
	c = raw_connect(path);
	raw_send(c, f.b, 5, &devnull, 1);
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	raw_send(c, f.b + 5, 10, NULL, 0);
	ck_assert_int_eq(mt_ctl_server_accept(s, &req), -EAGAIN);
	raw_send(c, f.b + 15, f.len - 15, NULL, 0);
	ck_assert_int_eq(accept_within(s, &req, 2000), 0);
	ck_assert_str_eq(req.argv[0], "histo");
	mt_ctl_server_reply(&req, 0, NULL);
	close(c);

	/* A hang-up halfway through. */
	c = raw_connect(path);
	raw_send(c, f.b, f.len - 1, &devnull, 1);
	close(c);
	ck_assert_int_eq(accept_within(s, &req, 2000), -ECONNRESET);

	ck_assert_int_eq(count_fds(), fds_before);
	close(devnull);
	mt_ctl_server_destroy(s);
}
END_TEST

/* A fake session that reads the request's header and answers with REPLY
 * (LEN bytes; LEN 0: hang up without a word; REPLY NULL: never answer).
 * Returns the client's result and the time it took. */
static int fake_session(const void *reply, size_t len, int timeout_ms, uint64_t *elapsed)
{
	ck_assert_int_eq(mkdir(dir, 0700) == 0 || errno == EEXIST, 1);
	unlink(path);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(l, 1), 0);

	char *argv[] = { "histo", "1", NULL };
	uint64_t t0 = now_ms();
	struct client c = client_start(argv, 1, timeout_ms);
	struct pollfd p = { .fd = l, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	int conn = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(conn, 0);
	unsigned char req[12];
	ck_assert_int_eq(recv(conn, req, sizeof req, MSG_WAITALL), 12);
	ck_assert_int_eq(memcmp(req, "MTRQ\1\0\0\0", 8), 0);
	if (reply && len)
		ck_assert_int_eq(send(conn, reply, len, MSG_NOSIGNAL), (ssize_t)len);
	if (reply)
		close(conn);
	int r = client_finish(c, NULL, 0);
	*elapsed = now_ms() - t0;
	if (!reply)
		close(conn);
	close(l);
	return r;
}

START_TEST(test_client_bad_replies)
{
	uint64_t ms;
	struct frame f;

	put_header(&f, "MTRP", 1);
	put32(&f, 9);
	put_str(&f, "");
	fix_len(&f);
	ck_assert_int_eq(fake_session(f.b, f.len, 5000, &ms), 9);

	/* A newer session's reply, with a field we do not know. */
	put_header(&f, "MTRP", 3);
	put32(&f, 0);
	put_str(&f, "");
	put32(&f, 77);
	fix_len(&f);
	ck_assert_int_eq(fake_session(f.b, f.len, 5000, &ms), 0);

	ck_assert_int_eq(fake_session("HTTP/1.0 200 OK\r\n\r\n", 19, 5000, &ms), -EPROTO);
	/* Version 1 with bytes past its fields. */
	put_header(&f, "MTRP", 1);
	put32(&f, 0);
	put_str(&f, "");
	put32(&f, 77);
	fix_len(&f);
	ck_assert_int_eq(fake_session(f.b, f.len, 5000, &ms), -EPROTO);
	/* An exit status no process can have. */
	put_header(&f, "MTRP", 1);
	put32(&f, 256);
	put_str(&f, "");
	fix_len(&f);
	ck_assert_int_eq(fake_session(f.b, f.len, 5000, &ms), -EPROTO);
	/* A message longer than allowed, or with two lines. */
	put_header(&f, "MTRP", 1);
	put32(&f, 1);
	put32(&f, MT_CTL_MAX_MESSAGE + 1);
	memset(f.b + f.len, 'x', MT_CTL_MAX_MESSAGE + 1);
	f.len += MT_CTL_MAX_MESSAGE + 1;
	fix_len(&f);
	ck_assert_int_eq(fake_session(f.b, f.len, 5000, &ms), -EPROTO);
	put_header(&f, "MTRP", 1);
	put32(&f, 1);
	put_str(&f, "a\nb");
	fix_len(&f);
	ck_assert_int_eq(fake_session(f.b, f.len, 5000, &ms), -EPROTO);
	/* A reply cut short. */
	ck_assert_int_eq(fake_session(f.b, f.len - 1, 5000, &ms), -EPROTO);

	/* Hang-up without a reply: the session ended or refused us. */
	ck_assert_int_eq(fake_session(f.b, 0, 5000, &ms), -ECONNRESET);
	/* No reply at all: the client gives up on time. */
	ck_assert_int_eq(fake_session(NULL, 0, 300, &ms), -ETIMEDOUT);
	ck_assert_uint_ge(ms, 290);
	ck_assert_uint_lt(ms, 2000);
}
END_TEST

/* The session serves only its own user and root, whatever the file
 * permissions say.  Needs root, to be another user. */
START_TEST(test_other_user_refused)
{
	if (geteuid() != 0)
		return;
	struct mt_ctl_server *s = server();
	/* Open the way for uid 65534, to meet the peer check itself. */
	ck_assert_int_eq(chmod(base, 0711), 0);
	ck_assert_int_eq(chmod(dir, 0711), 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		struct frame f;
		good_request(&f, 1, 0);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		strcpy(sa.sun_path, path);
		if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
			_exit(3);
		/* The server may hang up before this arrives. */
		if (send(c, f.b, f.len, MSG_NOSIGNAL) < 0 && errno != EPIPE)
			_exit(4);
		char b;
		ssize_t n = recv(c, &b, 1, 0);
		_exit(n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : 5);
	}
	struct mt_ctl_request req;
	ck_assert_int_eq(accept_within(s, &req, 5000), -EPERM);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	mt_ctl_server_destroy(s);
}
END_TEST

static Suite *ctlsock_suite(void)
{
	Suite *s = suite_create("ctlsock");
	TCase *tc = tcase_create("ctlsock");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_status_and_message);
	tcase_add_test(tc, test_no_server);
	tcase_add_test(tc, test_client_argument_limits);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_directory_checks);
	tcase_add_test(tc, test_silent_client_never_blocks);
	tcase_add_test(tc, test_too_many_clients);
	tcase_add_test(tc, test_garbage_rejected);
	tcase_add_test(tc, test_client_bad_replies);
	tcase_add_test(tc, test_other_user_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctlsock_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
