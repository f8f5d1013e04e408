/* The host's decoding of the guest agent's answers (src/libpodvm/agent_client.c), the way a
 * hostile guest would send them: the first byte picks one of the pv_agent_* calls, which runs
 * against a fake agent that answers its request with the rest of the input. Bit 0 of the
 * second byte: the rest is the whole ttrpc.Response envelope; else it is the payload of an
 * OK envelope (the call's response message). */
#include "fuzz.h"
#include "agent_client.h"
#include "fake_peer.h"

static int call_data(struct ttrpc_client *c, bool port, pv_error *err)
{
	char *data = NULL;
	size_t len = 0;
	bool eof = false;
	int r = port ? pv_agent_port_read(c, 1, &data, &len, &eof, err)
		     : pv_agent_read_output(c, "c1", "", 1, &data, &len, &eof, err);
	if (r == 0 && len > 0 && data == NULL)
		abort();
	free(data);
	return r;
}

static int call_status(struct ttrpc_client *c, pv_error *err)
{
	ProtobufCMessage *m = NULL;
	int r = pv_agent_status(c, 0, &m, err);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

static int call_stats(struct ttrpc_client *c, pv_error *err)
{
	uint8_t *metrics = NULL;
	size_t len = 0;
	int r = pv_agent_stats(c, "c1", &metrics, &len, err);
	free(metrics);
	return r;
}

static int call_wait_oom(struct ttrpc_client *c, pv_error *err)
{
	char *id = NULL;
	int r = pv_agent_wait_oom(c, &id, err);
	free(id);
	return r;
}

static int call_identity(struct ttrpc_client *c, pv_error *err)
{
	const uint8_t seed[4] = { 1, 2, 3, 4 };
	struct pv_identity id = { .seed = seed, .seed_len = sizeof(seed), .hostname = "pod" };
	return pv_agent_adopt_identity(c, &id, 0, err);
}

/* Each call the host makes of the agent, with what it does with the answer. */
static int call(struct ttrpc_client *c, unsigned which, pv_error *err)
{
	const struct pv_agent_share share = { "s0", "9p", false };
	char release[65];
	pid_t pid;
	int status;
	uint64_t oom;
	uint32_t id;
	switch (which) {
	case 0: return pv_agent_ping(c, 0, release, sizeof(release), err);
	case 1: return call_status(c, err);
	case 2: return pv_agent_create(c, "c1", "{}", &share, 1, true, &pid, err);
	case 3: return pv_agent_start(c, "c1", &pid, err);
	case 4: return pv_agent_exec(c, "c1", "e1", "{}", false, &pid, err);
	case 5: return pv_agent_wait(c, "c1", "", &status, &oom, err);
	case 6: return pv_agent_signal(c, "c1", "", 15, false, err);
	case 7: return pv_agent_write_stdin(c, "c1", "", "x", 1, err);
	case 8: return pv_agent_close_stdin(c, "c1", "", err);
	case 9: return call_data(c, false, err);
	case 10: return pv_agent_resize(c, "c1", "", 24, 80, err);
	case 11: return pv_agent_remove(c, "c1", err);
	case 12: return pv_agent_remove_process(c, "c1", "e1", err);
	case 13: return pv_agent_update(c, "c1", "{}", err);
	case 14: return pv_agent_pause(c, "c1", true, err);
	case 15: return call_stats(c, err);
	case 16: return call_wait_oom(c, err);
	case 17: return call_identity(c, err);
	case 18: return pv_agent_port_connect(c, 80, false, &id, err);
	case 19: return pv_agent_port_write(c, 1, "x", 1, err);
	case 20: return call_data(c, true, err);
	case 21: return pv_agent_port_shutdown(c, 1, err);
	default: return pv_agent_port_close(c, 1, err);
	}
}
#define N_CALLS 23

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct fake_peer peer;
	struct ttrpc_client *c = fake_peer_start(&peer, data[1] & 1, data + 2, size - 2);
	pv_error err = NULL;
	if (call(c, data[0] % N_CALLS, &err) < 0 && (err == NULL || err->msg == NULL))
		abort();  /* a failure says why */
	pv_error_release(&err);
	fake_peer_stop(&peer, c);
	return 0;
}
