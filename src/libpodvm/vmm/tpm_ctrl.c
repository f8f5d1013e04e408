#include "tpm_ctrl.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void pv_tpm_ctrl_encode_get(uint32_t type, uint8_t out[PV_TPM_REQUEST_LEN])
{
	pv_put_be32(out, PV_TPM_CMD_GET_STATEBLOB);
	pv_put_be32(out + 4, PV_TPM_STATE_FLAG_DECRYPTED);
	pv_put_be32(out + 8, type);
	pv_put_be32(out + 12, 0);  /* offset */
}

int pv_tpm_ctrl_decode_header(const uint8_t in[PV_TPM_ANSWER_HEADER_LEN], uint32_t *flags, size_t *len,
			      pv_error *err)
{
	uint32_t result = pv_get_be32(in), total = pv_get_be32(in + 8), sent = pv_get_be32(in + 12);
	if (result != 0)
		return pv_error_set_plain(err, EIO, "TPM state blob: TPM result 0x%x", result);
	if (total > PV_TPM_BLOB_MAX)
		return pv_error_set_plain(err, EMSGSIZE, "TPM state blob: %u bytes (at most %u)", total, PV_TPM_BLOB_MAX);
	/* A socket answer carries the whole blob (a part comes only over CUSE). */
	if (sent != total)
		return pv_error_set_plain(err, EPROTO, "TPM state blob: %u of %u bytes sent", sent, total);
	*flags = pv_get_be32(in + 4);
	*len = total;
	return 0;
}

/* Reads len bytes, waiting at most until deadline (swtpm might hang: it is another process). */
static int read_all(int fd, uint8_t *buf, size_t len, long long deadline, pv_error *err)
{
	size_t got = 0;
	while (got < len) {
		long long left = deadline - pv_now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return pv_error_set(err, r == 0 ? ETIMEDOUT : errno, "TPM control channel");
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pv_error_set(err, n == 0 ? ECONNRESET : errno, "TPM control channel");
		got += (size_t)n;
	}
	return 0;
}

int pv_tpm_ctrl_get_blob(int fd, uint32_t type, int timeout_ms, struct pv_tpm_blob *blob, pv_error *err)
{
	long long deadline = pv_now_ms() + timeout_ms;
	uint8_t req[PV_TPM_REQUEST_LEN], head[PV_TPM_ANSWER_HEADER_LEN];
	memset(blob, 0, sizeof(*blob));
	pv_tpm_ctrl_encode_get(type, req);
	/* No SIGPIPE for an swtpm that is gone: an error. */
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return pv_error_set(err, errno, "TPM control channel");
	if (read_all(fd, head, sizeof(head), deadline, err) < 0 ||
	    pv_tpm_ctrl_decode_header(head, &blob->flags, &blob->len, err) < 0)
		return -1;
	_cleanup_free_ uint8_t *data = malloc(blob->len ? blob->len : 1);
	if (data == NULL)
		return pv_error_set(err, ENOMEM, "TPM state blob");
	if (read_all(fd, data, blob->len, deadline, err) < 0)
		return -1;
	blob->data = steal_pointer(&data);
	return 0;
}

void pv_tpm_blob_clear(struct pv_tpm_blob *blob)
{
	free(blob->data);
	memset(blob, 0, sizeof(*blob));
}

int pv_tpm_ctrl_simple(int fd, uint32_t cmd, int timeout_ms, pv_error *err)
{
	uint8_t req[4], res[4];
	pv_put_be32(req, cmd);
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return pv_error_set(err, errno, "TPM control channel");
	if (read_all(fd, res, sizeof(res), pv_now_ms() + timeout_ms, err) < 0)
		return -1;
	if (pv_get_be32(res) != 0)
		return pv_error_set_plain(err, EIO, "TPM control command %u: TPM result 0x%x", cmd, pv_get_be32(res));
	return 0;
}
