#include "qmp.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000

struct pv_qmp {
	int fd;
	char buf[65536];
	size_t used;
};

/* Reads one newline-terminated JSON message. */
static json_t *read_message(struct pv_qmp *q, pv_error *err)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->used);
		if (nl) {
			json_error_t je;
			json_t *msg = json_loadb(q->buf, (size_t)(nl - q->buf), 0, &je);
			q->used -= (size_t)(nl + 1 - q->buf);
			memmove(q->buf, nl + 1, q->used);
			if (msg == NULL)
				pv_error_set_plain(err, EPROTO, "QMP: invalid JSON: %s", je.text);
			return msg;
		}
		if (q->used == sizeof(q->buf)) {
			pv_error_set_plain(err, EMSGSIZE, "QMP: message too long");
			return NULL;
		}
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int n = poll(&p, 1, QMP_TIMEOUT_MS);
		if (n == 0) {
			pv_error_set_plain(err, ETIMEDOUT, "QMP: no answer from the VMM");
			return NULL;
		}
		ssize_t r = n < 0 ? -1 : read(q->fd, q->buf + q->used, sizeof(q->buf) - q->used);
		if (r <= 0) {
			pv_error_set(err, r == 0 ? ECONNRESET : errno, "QMP: read");
			return NULL;
		}
		q->used += (size_t)r;
	}
}

/* Points mh at one SCM_RIGHTS message in control that carries fd. */
static void attach_fd(struct msghdr *mh, char *control, size_t size, int fd)
{
	memset(control, 0, size);
	mh->msg_control = control;
	mh->msg_controllen = size;
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

/* sendmsg(MSG_NOSIGNAL): a VMM that died is an EPIPE error, never a SIGPIPE. fd (if >= 0)
 * rides on the first bytes sent, so it reaches QEMU with the command that claims it. */
static int send_all(int sock, const char *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	while (len > 0) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (fd >= 0)
			attach_fd(&mh, control.buf, sizeof(control.buf), fd);
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		fd = -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_command(struct pv_qmp *q, const char *command, json_t *args, int fd, pv_error *err)
{
	json_t *cmd = json_pack("{s:s}", "execute", command);
	if (cmd == NULL)
		return pv_error_set(err, ENOMEM, "QMP");
	if (args)
		json_object_set(cmd, "arguments", args);
	_cleanup_free_ char *text = json_dumps(cmd, JSON_COMPACT), *line = NULL;
	json_decref(cmd);
	if (text == NULL || asprintf(&line, "%s\n", text) < 0)
		return pv_error_set(err, ENOMEM, "QMP");
	if (send_all(q->fd, line, strlen(line), fd) < 0)
		return pv_error_set(err, errno, "QMP: send %s", command);
	return 0;
}

int pv_qmp_execute_fd(struct pv_qmp *q, const char *command, json_t *args, int fd, json_t **ret, pv_error *err)
{
	if (send_command(q, command, args, fd, err) < 0)
		return -1;
	for (;;) {
		json_t *msg = read_message(q, err);
		if (msg == NULL)
			return pv_error_prefix(err, "QMP %s", command);
		json_t *error = json_object_get(msg, "error");
		json_t *value = json_object_get(msg, "return");
		if (error) {
			const char *desc = json_string_value(json_object_get(error, "desc"));
			pv_error_set_plain(err, EIO, "QMP %s: %s", command, desc ? desc : "failed");
			json_decref(msg);
			return -EIO;
		}
		if (value) {
			if (ret)
				*ret = json_incref(value);
			json_decref(msg);
			return 0;
		}
		json_decref(msg);  /* an asynchronous event */
	}
}

int pv_qmp_execute(struct pv_qmp *q, const char *command, json_t *args, json_t **ret, pv_error *err)
{
	return pv_qmp_execute_fd(q, command, args, -1, ret, err);
}

int pv_qmp_connect(const char *path, int timeout_ms, struct pv_qmp **out, pv_error *err)
{
	(void)timeout_ms;
	struct pv_qmp *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return pv_error_set(err, ENOMEM, "QMP");
	q->fd = pv_unix_connect(path, err);
	if (q->fd < 0) {
		free(q);
		return pv_error_prefix(err, "QMP");
	}
	json_t *greeting = read_message(q, err);
	int r = greeting && json_object_get(greeting, "QMP") ? 0 : -EPROTO;
	json_decref(greeting);
	if (r < 0)
		pv_error_set_plain(err, EPROTO, "QMP %s: no greeting", path);
	if (r == 0)
		r = pv_qmp_execute(q, "qmp_capabilities", NULL, NULL, err);
	if (r < 0) {
		pv_qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

static bool has_message(const struct pv_qmp *q)
{
	return memchr(q->buf, '\n', q->used) != NULL;
}

int pv_qmp_wait_event(struct pv_qmp *q, int stop_fd, json_t **event, pv_error *err)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = stop_fd, .events = POLLIN }, { .fd = q->fd, .events = POLLIN } };
		if (!has_message(q)) {
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				return pv_error_set(err, errno, "QMP: poll");
			if (p[0].revents)
				return 0;
			if (!p[1].revents)
				continue;
		}
		json_t *msg = read_message(q, err);
		if (msg == NULL)
			return -1;
		if (json_object_get(msg, "event")) {
			*event = msg;
			return 1;
		}
		json_decref(msg);  /* a late answer */
	}
}

void pv_qmp_close(struct pv_qmp *q)
{
	if (q == NULL)
		return;
	close(q->fd);
	free(q);
}
