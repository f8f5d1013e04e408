/* The host's calls of the guest agent (src/libpodvm/agent_client.c) against a fake agent
 * (fake_peer.h) that answers with given bytes: what each call makes of an answer, and of
 * answers a hostile guest could send. Inputs that tests/fuzz/fuzz_agent_response found are
 * kept here as regressions. */
#include "tap.h"
#include "agent_client.h"
#include "agent.pb-c.h"
#include "fake_peer.h"

#include <errno.h>
#include <string.h>

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

/* The packed m, in a static buffer. */
static const uint8_t *packed(const ProtobufCMessage *m, size_t *len)
{
	static uint8_t buf[1024];
	*len = protobuf_c_message_pack(m, buf);
	return buf;
}

static void test_ping(void)
{
	Podvm__Agent__V1__PingResponse resp = PODVM__AGENT__V1__PING_RESPONSE__INIT;
	resp.kernel_release = "6.12.0-test";
	size_t len;
	const uint8_t *bytes = packed(&resp.base, &len);
	struct fake_peer p;
	struct ttrpc_client *c = fake_peer_start(&p, false, bytes, len);
	char release[16] = "";
	pv_error err = NULL;
	int r = pv_agent_ping(c, 0, release, sizeof(release), &err);
	ok(r == 0 && strcmp(release, "6.12.0-test") == 0, "ping: the agent's kernel release (%s)", msg_of(err));
	pv_error_release(&err);
	fake_peer_stop(&p, c);
}

static void test_remote_error(void)
{
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	status.code = TTRPC_NOT_FOUND;
	status.message = "container c1: not found";
	resp.status = &status;
	size_t len;
	const uint8_t *bytes = packed(&resp.base, &len);
	struct fake_peer p;
	struct ttrpc_client *c = fake_peer_start(&p, true, bytes, len);
	pv_error err = NULL;
	int r = pv_agent_remove(c, "c1", &err);
	ok(r < 0 && err && err->errnum == ENOENT && strcmp(msg_of(err), "container c1: not found") == 0,
	   "an error answer: its errno and message (%s)", msg_of(err));
	pv_error_release(&err);
	fake_peer_stop(&p, c);
}

static void test_malformed(void)
{
	struct fake_peer p;
	struct ttrpc_client *c = fake_peer_start(&p, false, "\xff\xff", 2);
	pv_error err = NULL;
	pid_t pid = 0;
	int r = pv_agent_start(c, "c1", &pid, &err);
	ok(r < 0 && err && err->errnum == EBADMSG && strstr(msg_of(err), "malformed"),
	   "a malformed answer: EBADMSG (%s)", msg_of(err));
	pv_error_release(&err);
	fake_peer_stop(&p, c);
}

/* fuzz_agent_response: a StatsResponse without metrics has NULL data, which was passed
 * to memcpy (regressions/agent_response/stats-empty-metrics). */
static void test_stats_without_metrics(void)
{
	struct fake_peer p;
	struct ttrpc_client *c = fake_peer_start(&p, true, "", 0);
	uint8_t *metrics = NULL;
	size_t len = 1;
	pv_error err = NULL;
	int r = pv_agent_stats(c, "c1", &metrics, &len, &err);
	ok(r == 0 && metrics != NULL && len == 0, "stats without metrics: an empty buffer (%s)", msg_of(err));
	free(metrics);
	pv_error_release(&err);
	fake_peer_stop(&p, c);
}

int main(void)
{
	test_ping();
	test_remote_error();
	test_malformed();
	test_stats_without_metrics();
	return done_testing();
}
