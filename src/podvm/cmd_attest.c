/* podvm attest ID: attests a running sandbox's VM now (attest/verifier.h), through the
 * process that owns it (`podvm run`, the shim), which serves <state>/attest.sock.
 * podvm ca init: makes the node's CA (done at install), which certifies each vTPM's EK. */
#include "commands.h"
#include "agent.pb-c.h"
#include "cleanup.h"
#include "paths.h"
#include "sandbox.h"
#include "attest/crypto.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ATTEST_CALL_TIMEOUT_MS 60000

static int attest_usage(FILE *f)
{
	fprintf(f, "Usage: podvm attest ID\n"
		   "Attests the VM of sandbox ID (a `podvm run` container or a pod): its vTPM's quote over\n"
		   "a fresh nonce, the measured boot, IMA's and the agent's logs, each measurement\n"
		   "checked against the references. Prints pass, or the first unexpected measurement.\n"
		   "Exit status: 0 pass, 1 fail, 125 attestation could not be carried out.\n");
	return f == stdout ? 0 : 125;
}

static int call_owner(const char *state_root, const char *id, Podvm__Agent__V1__AttestResult **res, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (!pv_str_has_prefix(id, ".") && strchr(id, '/') == NULL &&
	    asprintf(&path, "%s/%s/%s", state_root, id, PV_ATTEST_SOCKET) < 0)
		return pv_error_set(err, ENOMEM, "attest");
	if (path == NULL)
		return pv_error_set_plain(err, EINVAL, "sandbox id \"%s\": not an id", id);
	int fd = pv_unix_connect(path, err);
	if (fd < 0)
		return pv_error_prefix(err, "sandbox %s: not running, or not attested (attestation = off)", id);
	struct ttrpc_client *c = NULL;
	if (ttrpc_client_new(fd, &c, err) < 0)
		return -1;
	Podvm__Agent__V1__Empty req = PODVM__AGENT__V1__EMPTY__INIT;
	ProtobufCMessage *m = NULL;
	int r = ttrpc_client_call(c, PV_ATTEST_SERVICE, "Attest", &req.base, &podvm__agent__v1__attest_result__descriptor,
				  &m, ATTEST_CALL_TIMEOUT_MS, err);
	ttrpc_client_free(c);
	*res = (void *)m;
	return r < 0 ? pv_error_prefix(err, "sandbox %s", id) : 0;
}

int cmd_attest(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		return attest_usage(stdout);
	if (argc != 2)
		return attest_usage(stderr);
	struct pv_paths paths;
	pv_error err = NULL;
	Podvm__Agent__V1__AttestResult *res = NULL;
	if (pv_paths_init(&paths, &err) < 0 || call_owner(paths.state_root, argv[1], &res, &err) < 0) {
		pv_error_print("podvm", &err);
		pv_paths_clear(&paths);
		return 125;
	}
	pv_paths_clear(&paths);
	char finding[1024];
	pv_one_line(res->finding, finding, sizeof(finding));
	if (res->pass)
		printf("pass: %u measurements checked (%llu ms)\n", res->measurements, (unsigned long long)res->ms);
	else
		printf("fail: %s\n", finding);
	int code = res->pass ? 0 : 1;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return code;
}

int cmd_ca(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "init") != 0) {
		fprintf(stderr, "Usage: podvm ca init\n"
				"Makes the node's podvm CA (<data dir>/ca), which certifies each vTPM's endorsement\n"
				"key; nothing when it exists. `make install` runs it.\n");
		return 125;
	}
	struct pv_paths paths;
	pv_error err = NULL;
	_cleanup_free_ char *dir = NULL;
	int r = pv_paths_init(&paths, &err);
	if (r == 0 && asprintf(&dir, "%s/ca", paths.data_root) < 0)
		r = pv_error_set(&err, ENOMEM, "ca");
	if (r == 0)
		r = pv_attest_ca_create(dir, &err);
	pv_paths_clear(&paths);
	if (r < 0) {
		pv_error_print("podvm", &err);
		return 1;
	}
	printf("node CA: %s/ca.pem\n", dir);
	return 0;
}
