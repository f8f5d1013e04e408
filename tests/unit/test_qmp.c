/* The QMP client (src/libpodvm/vmm/qmp.c) against a fake QEMU on a unix socket, in a thread:
 * greeting and capabilities, commands with an fd attached (SCM_RIGHTS on the command's own
 * bytes, as QEMU's getfd wants it) and without, events skipped while an answer is awaited,
 * QMP errors, and a VMM gone (an error, not a SIGPIPE). */
#include "tap.h"
#include "cleanup.h"
#include "util.h"
#include "vmm/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char root[] = "/tmp/podvm-test-qmp.XXXXXX";

/* What the fake QEMU got with each command: its JSON and the fds that came with it. */
struct received {
	char command[64];
	json_t *args;
	int fds[4];
	int n_fds;
};

static struct {
	int listen_fd;
	pthread_mutex_t lock;
	struct received got[8];
	int n_got;
} fake = { .listen_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static void keep_fds(struct msghdr *mh, struct received *r)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && r->n_fds < 4; i++)
			memcpy(&r->fds[r->n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
}

/* Reads one command line into r, with every fd that arrived while reading it. */
static int receive_command(int sock, struct received *r)
{
	char line[4096];
	size_t used = 0;
	*r = (struct received){ .n_fds = 0 };
	while (memchr(line, '\n', used) == NULL) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = line + used, .iov_len = sizeof(line) - used - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		keep_fds(&mh, r);
		used += (size_t)n;
	}
	json_t *cmd = json_loadb(line, used, JSON_DISABLE_EOF_CHECK, NULL);
	snprintf(r->command, sizeof(r->command), "%s", json_string_value(json_object_get(cmd, "execute")));
	r->args = json_incref(json_object_get(cmd, "arguments"));
	json_decref(cmd);
	return 0;
}

static void say(int sock, const char *text)
{
	(void)!send(sock, text, strlen(text), MSG_NOSIGNAL);
}

/* Answers as QEMU would: an event ahead of getfd's answer, an error for "no-such-command",
 * and hangs up at "quit" without an answer. */
static void answer(int sock, const char *command)
{
	if (strcmp(command, "getfd") == 0)
		say(sock, "{\"event\":\"STOP\",\"timestamp\":{\"seconds\":1,\"microseconds\":0}}\n");
	if (strcmp(command, "no-such-command") == 0)
		say(sock, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command no-such-command "
			  "has not been found\"}}\n");
	else if (strcmp(command, "query-status") == 0)
		say(sock, "{\"return\":{\"status\":\"paused\",\"running\":false}}\n");
	else
		say(sock, "{\"return\":{}}\n");
}

static void *fake_qemu(void *arg)
{
	(void)arg;
	_cleanup_close_ int sock = accept4(fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return NULL;
	say(sock, "{\"QMP\":{\"version\":{\"qemu\":{\"major\":7,\"minor\":2,\"micro\":0}},\"capabilities\":[]}}\n");
	for (;;) {
		struct received r;
		if (receive_command(sock, &r) < 0 || strcmp(r.command, "quit") == 0)
			return NULL;
		pthread_mutex_lock(&fake.lock);
		if (fake.n_got < 8)
			fake.got[fake.n_got++] = r;
		pthread_mutex_unlock(&fake.lock);
		answer(sock, r.command);
	}
}

static struct received *got(int i)
{
	pthread_mutex_lock(&fake.lock);
	struct received *r = i < fake.n_got ? &fake.got[i] : NULL;
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		return -1;
	return fd;
}

/* The string member key of a JSON object, "" if none. */
static const char *member(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "";
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void test_connect(struct pv_qmp *q)
{
	struct received *r = got(0);
	ok(q != NULL && r && strcmp(r->command, "qmp_capabilities") == 0, "connect: capabilities negotiated");
	ok(r && r->n_fds == 0, "connect: no fd sent along");
}

/* The fd reaches the fake QEMU with the getfd command, is the same open file, and ours stays
 * open; an event before the answer is skipped. */
static void test_getfd(struct pv_qmp *q, const char *state)
{
	_cleanup_close_ int fd = open(state, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	json_t *args = json_pack("{s:s}", "fdname", "migration");
	pv_error err = NULL;
	int rc = pv_qmp_execute_fd(q, "getfd", args, fd, NULL, &err);
	json_decref(args);
	ok(rc == 0, "getfd: answered despite an event first: %s", rc ? msg_of(err) : "ok");
	pv_error_release(&err);
	struct received *r = got(1);
	ok(r && strcmp(r->command, "getfd") == 0, "getfd: the command arrived");
	ok(r && strcmp(member(r->args, "fdname"), "migration") == 0,
	   "getfd: with its fdname");
	ok(r && r->n_fds == 1, "getfd: exactly one fd came with it (%d)", r ? r->n_fds : -1);
	ok(r && r->n_fds == 1 && same_file(r->fds[0], fd), "getfd: it is the state file");
	char back[4] = "";
	ok(r && r->n_fds == 1 && write(r->fds[0], "dev", 3) == 3 && pread(fd, back, 3, 0) == 3 &&
	   strcmp(back, "dev") == 0, "getfd: what the VMM writes to it lands in the file");
	ok(fcntl(fd, F_GETFD) >= 0, "getfd: the caller's fd is still open");
}

static void test_plain_and_error(struct pv_qmp *q)
{
	json_t *ret = NULL;
	pv_error err = NULL;
	int rc = pv_qmp_execute(q, "query-status", NULL, &ret, &err);
	ok(rc == 0 && strcmp(member(ret, "status"), "paused") == 0,
	   "query-status: the return value");
	json_decref(ret);
	struct received *r = got(2);
	ok(r && r->n_fds == 0, "query-status: no fd sent along");
	rc = pv_qmp_execute_fd(q, "no-such-command", NULL, STDIN_FILENO, NULL, &err);
	ok(rc == -EIO && err && strcmp(err->msg, "QMP no-such-command: The command no-such-command has not been found") == 0,
	   "an error answer: one line naming the command: %s", msg_of(err));
	pv_error_release(&err);
}

/* The fake QEMU hangs up at "quit": the next command fails (EPIPE or a reset), no SIGPIPE. */
static void test_gone(struct pv_qmp *q, pthread_t server)
{
	pv_error err = NULL;
	(void)pv_qmp_execute(q, "quit", NULL, NULL, &err);
	pv_error_release(&err);
	pthread_join(server, NULL);
	int rc = pv_qmp_execute_fd(q, "getfd", NULL, STDIN_FILENO, NULL, &err);
	ok(rc < 0 && err && strstr(err->msg, "getfd") != NULL, "a VMM gone: an error, not a SIGPIPE: %s",
	   msg_of(err));
	pv_error_release(&err);
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		return 1;
	_cleanup_free_ char *sock = NULL, *state = NULL;
	if (asprintf(&sock, "%s/qmp.sock", root) < 0 || asprintf(&state, "%s/state", root) < 0)
		return 1;
	fake.listen_fd = listen_at(sock);
	pthread_t server;
	if (fake.listen_fd < 0 || pthread_create(&server, NULL, fake_qemu, NULL) != 0)
		return 1;
	struct pv_qmp *q = NULL;
	pv_error err = NULL;
	int rc = pv_qmp_connect(sock, 1000, &q, &err);
	if (!ok(rc == 0, "connect: %s", rc ? msg_of(err) : "ok"))
		return done_testing();
	test_connect(q);
	test_getfd(q, state);
	test_plain_and_error(q);
	test_gone(q, server);
	pv_qmp_close(q);
	close(fake.listen_fd);
	for (int i = 0; i < fake.n_got; i++) {
		json_decref(fake.got[i].args);
		for (int j = 0; j < fake.got[i].n_fds; j++)
			close(fake.got[i].fds[j]);
	}
	(void)pv_rm_rf(root, NULL);
	return done_testing();
}
