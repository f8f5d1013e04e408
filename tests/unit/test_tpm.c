/* The vTPM's host side: the control-channel encoding of CMD_GET_STATEBLOB
 * (src/libpodvm/vmm/tpm_ctrl.c), against a fake swtpm on a socketpair and, when swtpm is
 * installed, a real one started by pv_swtpm_start (unjailed); and the rewriting of a
 * migration stream's tpm-emulator section (tpm_stream.c). */
#include "tap.h"
#include "cleanup.h"
#include "hostcaps.h"
#include "util.h"
#include "vmm/swtpm.h"
#include "vmm/tpm_ctrl.h"
#include "vmm/tpm_stream.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t want_req[] = { 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0 };

static void test_encode(void)
{
	uint8_t req[PV_TPM_REQUEST_LEN];
	pv_tpm_ctrl_encode_get(PV_TPM_BLOB_VOLATILE, req);
	ok(memcmp(req, want_req, sizeof(req)) == 0, "request: command 12, decrypted, type, offset 0");
}

static void header(uint8_t *h, uint32_t result, uint32_t flags, uint32_t total, uint32_t sent)
{
	uint32_t v[4] = { result, flags, total, sent };
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 4; b++)
			h[4 * i + b] = (uint8_t)(v[i] >> (24 - 8 * b));
}

static void test_decode(void)
{
	uint8_t h[16];
	uint32_t flags = 0;
	size_t len = 0;
	pv_error err = NULL;
	header(h, 0, 1, 1321, 1321);
	ok(pv_tpm_ctrl_decode_header(h, &flags, &len, &err) == 0 && flags == 1 && len == 1321, "header: flags, length");
	header(h, 9, 0, 0, 0);
	ok(pv_tpm_ctrl_decode_header(h, &flags, &len, &err) < 0 && strstr(err->msg, "0x9"), "header: a TPM error");
	pv_error_release(&err);
	header(h, 0, 0, 2u << 20, 2u << 20);
	ok(pv_tpm_ctrl_decode_header(h, &flags, &len, &err) == -EMSGSIZE, "header: a blob too large");
	pv_error_release(&err);
	header(h, 0, 0, 100, 50);
	ok(pv_tpm_ctrl_decode_header(h, &flags, &len, &err) == -EPROTO, "header: part of a blob");
	pv_error_release(&err);
}

/* A fake swtpm's answer, written before the question (the socket buffers both). */
static void test_get_fake(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	uint8_t answer[16 + 5];
	header(answer, 0, 1, 5, 5);
	memcpy(answer + 16, "hello", 5);
	(void)!write(sv[1], answer, sizeof(answer));
	struct pv_tpm_blob b;
	pv_error err = NULL;
	int r = pv_tpm_ctrl_get_blob(sv[0], PV_TPM_BLOB_VOLATILE, 1000, &b, &err);
	uint8_t req[16] = { 0 };
	(void)!read(sv[1], req, sizeof(req));
	ok(r == 0 && b.len == 5 && b.flags == 1 && memcmp(b.data, "hello", 5) == 0, "get: the blob of the answer");
	ok(memcmp(req, want_req, sizeof(req)) == 0, "get: sent the request");
	pv_tpm_blob_clear(&b);
	r = pv_tpm_ctrl_get_blob(sv[0], PV_TPM_BLOB_PERMANENT, 100, &b, &err);
	ok(r < 0 && err && err->errnum == ETIMEDOUT, "get: no answer ends at the timeout (%s)", err ? err->msg : "");
	pv_error_release(&err);
	close(sv[1]);
	r = pv_tpm_ctrl_get_blob(sv[0], PV_TPM_BLOB_PERMANENT, 1000, &b, &err);
	ok(r < 0, "get: a closed channel is an error (%s)", err ? err->msg : "");
	pv_error_release(&err);
	close(sv[0]);
}

/* A real swtpm: its fresh permanent and volatile blobs; two swtpms, two identities. */
static void get_real(const char *swtpm, const char *dir, struct pv_tpm_blob *perm, struct pv_tpm_blob *vol)
{
	struct pv_swtpm t;
	struct pv_swtpm_config c = { .swtpm = swtpm, .state_dir = dir };
	pv_error err = NULL;
	mkdir(dir, 0700);
	int r = pv_swtpm_start(&c, &t, &err);
	if (r == 0)
		r = pv_tpm_ctrl_get_blob(t.qemu_fd, PV_TPM_BLOB_PERMANENT, 5000, perm, &err);
	if (r == 0)
		r = pv_tpm_ctrl_get_blob(t.qemu_fd, PV_TPM_BLOB_VOLATILE, 5000, vol, &err);
	ok(r == 0 && perm->len > 100 && vol->len > 100, "swtpm %s: blobs of %zu and %zu bytes (%s)", dir, perm->len,
	   vol->len, err ? err->msg : "");
	pv_error_release(&err);
	pid_t pid = t.pid;
	pv_swtpm_reap(&t, 0);
	ok(t.pid == 0 && kill(pid, 0) < 0, "swtpm %s: reaped", dir);
}

static void test_real_swtpm(void)
{
	char swtpm[256], dir[] = "/tmp/podvm-test-tpm.XXXXXX";
	if (pv_find_executable("swtpm", swtpm, sizeof(swtpm)) < 0 || mkdtemp(dir) == NULL) {
		diag("swtpm not installed: the real swtpm's tests skipped");
		return;
	}
	struct pv_tpm_blob p1, v1, p2, v2;
	_cleanup_free_ char *a = NULL, *b = NULL;
	(void)!asprintf(&a, "%s/a", dir);
	(void)!asprintf(&b, "%s/b", dir);
	get_real(swtpm, a, &p1, &v1);
	get_real(swtpm, b, &p2, &v2);
	ok(p1.len && p2.len && (p1.len != p2.len || memcmp(p1.data, p2.data, p1.len) != 0),
	   "two swtpms: two permanent states (own seeds)");
	pv_tpm_blob_clear(&p1);
	pv_tpm_blob_clear(&v1);
	pv_tpm_blob_clear(&p2);
	pv_tpm_blob_clear(&v2);
	(void)pv_rm_rf(dir, NULL);
}

/* Appends a be32. */
static size_t put32(uint8_t *p, size_t at, uint32_t v)
{
	for (int b = 0; b < 4; b++)
		p[at + b] = (uint8_t)(v >> (24 - 8 * b));
	return at + 4;
}

static size_t put_bytes(uint8_t *p, size_t at, const void *s, size_t n)
{
	memcpy(p + at, s, n);
	return at + n;
}

/* A stream: a decoy name, then the section (id 7) with blobs "PERM", "VOLATILE", "SAVE". */
static size_t make_stream(uint8_t *s, bool footer)
{
	size_t n = put_bytes(s, 0, "QEVM\0\0\0\3", 8);
	n = put_bytes(s, n, "\x04\0\0\0\x06\x0ctpm-emulator\0\0\0\0\0\0\0\0garbage", 30);
	n = put_bytes(s, n, "\x04\0\0\0\x07\x0ctpm-emulator", 18);
	n = put32(s, n, 0);
	n = put32(s, n, 0);
	const char *blobs[] = { "PERM", "VOLATILE", "SAVE" };
	for (int i = 0; i < 3; i++) {
		n = put32(s, n, 0);
		n = put32(s, n, (uint32_t)strlen(blobs[i]));
		n = put_bytes(s, n, blobs[i], strlen(blobs[i]));
	}
	if (footer) {
		s[n++] = 0x7e;
		n = put32(s, n, 7);
	}
	return put_bytes(s, n, "\x02rest", 5);
}

static void test_stream(void)
{
	uint8_t in[256], want[256], *out = NULL;
	size_t n = make_stream(in, true), out_len = 0;
	struct pv_tpm_blob perm = { .flags = 1, .data = (uint8_t *)"permanent-1", .len = 11 };
	struct pv_tpm_blob vol = { .flags = 1, .data = (uint8_t *)"vol", .len = 3 };
	pv_error err = NULL;
	int r = pv_tpm_stream_swap(in, n, &perm, &vol, &out, &out_len, &err);
	/* What it should be, built by hand. */
	size_t w = put_bytes(want, 0, in, 8 + 30 + 18 + 8);
	w = put32(want, w, 1);
	w = put32(want, w, 11);
	w = put_bytes(want, w, "permanent-1", 11);
	w = put32(want, w, 1);
	w = put32(want, w, 3);
	w = put_bytes(want, w, "vol", 3);
	w = put32(want, w, 0);
	w = put32(want, w, 4);
	w = put_bytes(want, w, "SAVE\x7e\0\0\0\x07\x02rest", 14);
	ok(r == 0 && out_len == w && memcmp(out, want, w) == 0, "stream: both blobs replaced, the rest kept (%zu bytes)",
	   out_len);
	free(out);
	n = make_stream(in, false);
	ok(pv_tpm_stream_swap(in, n, &perm, &vol, &out, &out_len, &err) == -EINVAL, "stream: no footer, no section");
	pv_error_release(&err);
	n = make_stream(in, true);
	ok(pv_tpm_stream_swap(in, n - 20, &perm, &vol, &out, &out_len, &err) == -EINVAL, "stream: truncated");
	pv_error_release(&err);
	ok(pv_tpm_stream_swap(in, 40, &perm, &vol, &out, &out_len, &err) == -EINVAL && strstr(err->msg, "tpm-emulator"),
	   "stream: none (%s)", err ? err->msg : "");
	pv_error_release(&err);
}

int main(void)
{
	test_encode();
	test_decode();
	test_get_fake();
	test_stream();
	test_real_swtpm();
	return done_testing();
}
