/* The TPM 2.0 client's transport, command framing, keys, PCRs and quotes (see tpm2.h);
 * NV indexes are in tpm2_nv.c, credential activation in tpm2_credential.c. */
#include "tpm2.h"
#include "tpm2_internal.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESPONSE_TIMEOUT_MS 60000  /* a TPM is slow, but one that hangs must not hang us */
#define HEADER_LEN 10
#define RETRIES 20
#define RETRY_DELAY_US 10000

int pv_tpm2_open(struct pv_tpm2 *t, const char *device, pv_error *err)
{
	struct stat st;
	/* swtpm's data channel on the host is a unix socket; the guest's TPM a device. */
	if (stat(device, &st) == 0 && S_ISSOCK(st.st_mode))
		t->fd = pv_unix_connect(device, err);
	else if ((t->fd = open(device, O_RDWR | O_CLOEXEC)) < 0)
		return pv_error_set(err, errno, "open %s", device);
	return t->fd < 0 ? t->fd : 0;
}

void pv_tpm2_close(struct pv_tpm2 *t)
{
	pv_closep(&t->fd);
	t->fd = -1;
}

static int wait_readable(int fd, long long deadline, pv_error *err)
{
	for (;;) {
		long long left = deadline - pv_now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r > 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return pv_error_set(err, r == 0 ? ETIMEDOUT : errno, "TPM response");
	}
}

/* The response's size from its header, once there. */
static size_t wanted(const uint8_t *rsp, size_t got, size_t cap)
{
	return got < HEADER_LEN ? cap : pv_get_be32(rsp + 2);
}

int pv_tpm2_transact(struct pv_tpm2 *t, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap, size_t *rsp_len,
		     pv_error *err)
{
	long long deadline = pv_now_ms() + RESPONSE_TIMEOUT_MS;
	ssize_t w = pv_write_all(t->fd, cmd, len);
	if (w < 0)
		return pv_error_set(err, (int)-w, "TPM command");
	/* The first read asks for all of cap: /dev/tpm* hands the whole response to one read
	 * (older kernels drop what a short read leaves). A socket may need more reads: up to
	 * the size in the header, never beyond (the next response is not ours). */
	size_t got = 0;
	while (got < HEADER_LEN || got < wanted(rsp, got, cap)) {
		size_t want = wanted(rsp, got, cap);
		if (want < HEADER_LEN || want > cap)
			return pv_error_set_plain(err, EPROTO, "TPM response: size %zu (%d to %zu)", want, HEADER_LEN, cap);
		if (wait_readable(t->fd, deadline, err) < 0)
			return -1;
		ssize_t n = read(t->fd, rsp + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pv_error_set(err, n == 0 ? ECONNRESET : errno, "TPM response");
		got += (size_t)n;
	}
	if (got != wanted(rsp, got, cap))
		return pv_error_set_plain(err, EPROTO, "TPM response: %zu bytes, header says %zu", got, wanted(rsp, got, cap));
	*rsp_len = got;
	return 0;
}

void pv_tpm2_cmd_begin(struct pv_tpm2_cmd *c, const char *name, uint16_t cc, bool sessions)
{
	c->name = name;
	c->sessions = sessions;
	c->ok_rc = PV_TPM_RC_SUCCESS;
	c->rc = PV_TPM_RC_SUCCESS;
	c->w.len = 0;
	c->w.over = false;
	pv_tpm2_w_u16(&c->w, sessions ? PV_TPM_ST_SESSIONS : PV_TPM_ST_NO_SESSIONS);
	pv_tpm2_w_u32(&c->w, 0);  /* size, set by run */
	pv_tpm2_w_u32(&c->w, cc);
}

void pv_tpm2_w_session(struct pv_tpm2_w *w, uint32_t handle)
{
	pv_tpm2_w_u32(w, handle);
	pv_tpm2_w_u16(w, 0);  /* nonceCaller */
	pv_tpm2_w_u8(w, 0);   /* attributes: not continued (a policy session ends with the command) */
	pv_tpm2_w_u16(w, 0);  /* hmac: empty auth, or a policy session without PolicyAuthValue */
}

void pv_tpm2_cmd_password(struct pv_tpm2_cmd *c)
{
	pv_tpm2_w_u32(&c->w, 9);
	pv_tpm2_w_session(&c->w, PV_TPM_RS_PW);
}

void pv_tpm2_cmd_begin_pw(struct pv_tpm2_cmd *c, const char *name, uint16_t cc, int nhandles, uint32_t h1, uint32_t h2)
{
	pv_tpm2_cmd_begin(c, name, cc, true);
	pv_tpm2_w_u32(&c->w, h1);
	if (nhandles > 1)
		pv_tpm2_w_u32(&c->w, h2);
	pv_tpm2_cmd_password(c);
}

static int malformed(struct pv_tpm2_cmd *c, pv_error *err)
{
	return pv_error_set_plain(err, EPROTO, "%s: malformed response", c->name);
}

/* Narrows r to the parameters that parameterSize announces (the sessions follow). */
static void params_only(struct pv_tpm2_r *r)
{
	uint32_t size = pv_tpm2_r_u32(r);
	if (!r->bad && size <= r->len - r->at)
		r->len = r->at + size;
	else
		r->bad = true;
}

/* The warnings after which a command is sent again, unchanged (TPM 2.0 Part 2 §6.6.3):
 * TPM_RC_RETRY (swtpm answers some first ActivateCredentials so), YIELDED, TESTING. */
static bool try_again(uint32_t rc)
{
	return rc == PV_TPM_RC_RETRY || rc == PV_TPM_RC_YIELDED || rc == PV_TPM_RC_TESTING;
}

/* Sends the command and reads the response up to its code into c->r and c->rc. */
static int send_until_done(struct pv_tpm2 *t, struct pv_tpm2_cmd *c, pv_error *err)
{
	for (int tries = 1;; tries++) {
		size_t n;
		if (pv_tpm2_transact(t, c->w.buf, c->w.len, c->rsp, sizeof(c->rsp), &n, err) < 0)
			return -1;
		pv_tpm2_r_init(&c->r, c->rsp, n);
		(void)pv_tpm2_r_bytes(&c->r, 6);  /* tag and size, checked by transact */
		c->rc = pv_tpm2_r_u32(&c->r);
		if (!try_again(c->rc) || tries == RETRIES)
			return 0;
		usleep(RETRY_DELAY_US);
	}
}

int pv_tpm2_cmd_run(struct pv_tpm2 *t, struct pv_tpm2_cmd *c, uint32_t *out_handle, pv_error *err)
{
	if (c->w.over)
		return pv_error_set_plain(err, EMSGSIZE, "%s: command too large", c->name);
	pv_tpm2_w_put32(&c->w, 2, (uint32_t)c->w.len);
	if (send_until_done(t, c, err) < 0)
		return pv_error_prefix(err, "%s", c->name);
	if (c->rc != PV_TPM_RC_SUCCESS && c->rc == c->ok_rc)
		return 1;
	if (c->rc != PV_TPM_RC_SUCCESS)
		return pv_error_set_plain(err, EIO, "%s: TPM error 0x%08x", c->name, c->rc);
	uint32_t handle = out_handle ? pv_tpm2_r_u32(&c->r) : 0;
	if (c->sessions)
		params_only(&c->r);
	if (c->r.bad)
		return malformed(c, err);
	if (out_handle)
		*out_handle = handle;
	return 0;
}

int pv_tpm2_cmd_end(struct pv_tpm2_cmd *c, pv_error *err)
{
	return pv_tpm2_r_done(&c->r) ? 0 : malformed(c, err);
}

int pv_tpm2_startup_clear(struct pv_tpm2 *t, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin(&c, "TPM2_Startup", PV_TPM_CC_STARTUP, false);
	pv_tpm2_w_u16(&c.w, 0);  /* TPM_SU_CLEAR */
	c.ok_rc = PV_TPM_RC_INITIALIZE;
	int r = pv_tpm2_cmd_run(t, &c, NULL, err);
	return r != 0 ? (r > 0 ? 0 : r) : pv_tpm2_cmd_end(&c, err);
}

int pv_tpm2_flush(struct pv_tpm2 *t, uint32_t handle, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin(&c, "TPM2_FlushContext", PV_TPM_CC_FLUSH_CONTEXT, false);
	pv_tpm2_w_u32(&c.w, handle);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return pv_error_prefix(err, "handle 0x%08x", handle);
	return pv_tpm2_cmd_end(&c, err);
}
