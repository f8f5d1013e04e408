/* A sandbox's attestation (attest/verifier.h): once, and periodically in a thread of its
 * own for as long as the sandbox runs. */
#include "sandbox-internal.h"
#include "attest/reference.h"
#include "cleanup.h"
#include "guest_image.h"
#include "util.h"
#include "agent.pb-c.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ATTEST_TIMEOUT_MS 30000

const char *pv_sandbox_vm_dir(struct pv_sandbox *sb)
{
	return sb->vm.state_dir ? sb->vm.state_dir : sb->state_dir;
}

/* The last result, for whoever looks into the VM's state: <vm dir>/attest/last. */
static void note_result(struct pv_sandbox *sb, const struct pv_attest_result *res)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	if (asprintf(&path, "%s/attest/last", pv_sandbox_vm_dir(sb)) < 0 ||
	    asprintf(&text, "%s %zu measurements %lld ms%s%s\n", res->pass ? "pass" : "fail", res->measurements,
		     res->ms, res->pass ? "" : ": ", res->pass ? "" : res->finding) < 0)
		return;
	(void)pv_write_file(path, text, strlen(text), 0600, NULL);
}

int pv_sandbox_attest(struct pv_sandbox *sb, struct pv_attest_result *res, pv_error *err)
{
	_cleanup_free_ char *ca = NULL, *reference = NULL;
	struct pv_guest_image img = { 0 };
	if (sb->agent == NULL)
		return pv_error_set_plain(err, ENOTCONN, "attestation: sandbox %s has no VM", sb->id);
	if (sandbox_ca_dir(sb->paths, &ca, err) < 0 || pv_guest_image_open(sb->paths->guest_dir, &img, err) < 0)
		return -1;
	int r = pv_guest_reference_file(img.initrd, &reference, err);
	pv_guest_image_clear(&img);
	if (r < 0)
		return -1;
	struct pv_attest_request req = { .agent = sb->agent, .state_dir = pv_sandbox_vm_dir(sb), .ca_dir = ca,
					 .reference = reference, .timeout_ms = ATTEST_TIMEOUT_MS };
	if (pv_attest_verify(&req, res, err) < 0)
		return -1;
	note_result(sb, res);
	return 0;
}

struct pv_attest_monitor {
	struct pv_sandbox *sb;
	unsigned period_s;
	pv_attest_failed_fn on_fail;
	void *data;
	int stop_fd;
	pthread_t thread;
	char last[sizeof(((struct pv_attest_result *)0)->finding)];
	/* <state>/attest.sock, for `podvm attest` */
	struct ttrpc_server *server;
	int listen_fd;
	pthread_t server_thread;
	char *socket_path;
};

static int handle_attest(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)msg;
	struct pv_attest_monitor *m = ctx;
	struct pv_attest_result res;
	if (pv_sandbox_attest(m->sb, &res, err) < 0)
		return -1;
	Podvm__Agent__V1__AttestResult r = PODVM__AGENT__V1__ATTEST_RESULT__INIT;
	r.pass = res.pass;
	r.finding = res.pass ? "" : res.finding;
	r.measurements = (uint32_t)res.measurements;
	r.ms = (uint64_t)res.ms;
	return ttrpc_reply_set(reply, &r.base);
}

static const struct ttrpc_method attest_methods[] = {
	{ PV_ATTEST_SERVICE, "Attest", &podvm__agent__v1__empty__descriptor, handle_attest },
};

static void *serve_main(void *arg)
{
	struct pv_attest_monitor *m = arg;
	pv_error err = NULL;
	(void)ttrpc_server_serve_listener(m->server, m->listen_fd, &err);
	pv_error_release(&err);
	return NULL;
}

static int start_server(struct pv_attest_monitor *m, pv_error *err)
{
	if (asprintf(&m->socket_path, "%s/%s", m->sb->state_dir, PV_ATTEST_SOCKET) < 0)
		return pv_error_set(err, ENOMEM, "attestation socket");
	if ((m->listen_fd = pv_unix_listen(m->socket_path, 8, true, err)) < 0)
		return -1;
	if (chmod(m->socket_path, 0600) < 0)  /* its owner's alone */
		return pv_error_set(err, errno, "attestation socket %s", m->socket_path);
	if (ttrpc_server_new(attest_methods, 1, m, &m->server, err) < 0)
		return -1;
	int r = pthread_create(&m->server_thread, NULL, serve_main, m);
	if (r != 0) {
		ttrpc_server_free(m->server);
		m->server = NULL;
		return pv_error_set(err, r, "attestation socket");
	}
	return 0;
}

static void stop_server(struct pv_attest_monitor *m)
{
	if (m->server) {
		ttrpc_server_shutdown(m->server);
		pthread_join(m->server_thread, NULL);
		ttrpc_server_free(m->server);
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->socket_path)
		unlink(m->socket_path);
	free(m->socket_path);
}

/* False once stopped. Without a period it only waits for that. */
static bool wait_period(struct pv_attest_monitor *m)
{
	struct pollfd p = { .fd = m->stop_fd, .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, m->period_s ? (int)m->period_s * 1000 : -1)) < 0 && errno == EINTR)
		;
	return r == 0;
}

static void *monitor_main(void *arg)
{
	struct pv_attest_monitor *m = arg;
	while (wait_period(m)) {
		struct pv_attest_result res;
		pv_error err = NULL;
		if (pv_sandbox_attest(m->sb, &res, &err) < 0) {
			snprintf(res.finding, sizeof(res.finding), "%s", err->msg);
			pv_error_release(&err);
		}
		if (res.pass) {
			m->last[0] = '\0';
			continue;
		}
		/* The same finding once, not every period. */
		if (strcmp(m->last, res.finding) != 0 && m->on_fail(res.finding, m->data))
			break;
		snprintf(m->last, sizeof(m->last), "%s", res.finding);
	}
	return NULL;
}

int pv_attest_monitor_start(struct pv_sandbox *sb, unsigned period_s, pv_attest_failed_fn on_fail, void *data,
			    struct pv_attest_monitor **out, pv_error *err)
{
	*out = NULL;
	struct pv_attest_monitor *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return pv_error_set(err, ENOMEM, "attestation monitor");
	*m = (struct pv_attest_monitor){ .sb = sb, .period_s = period_s, .on_fail = on_fail, .data = data,
					 .listen_fd = -1 };
	if (start_server(m, err) < 0) {
		stop_server(m);
		free(m);
		return -1;
	}
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	int r = m->stop_fd < 0 ? errno : pthread_create(&m->thread, NULL, monitor_main, m);
	if (r != 0) {
		if (m->stop_fd >= 0)
			close(m->stop_fd);
		stop_server(m);
		free(m);
		return pv_error_set(err, r, "attestation monitor");
	}
	*out = m;
	return 0;
}

void pv_attest_monitor_stop(struct pv_attest_monitor *m)
{
	if (m == NULL)
		return;
	uint64_t one = 1;
	(void)!write(m->stop_fd, &one, sizeof(one));
	pthread_join(m->thread, NULL);
	close(m->stop_fd);
	stop_server(m);
	free(m);
}
