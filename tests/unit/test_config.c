/* The attestation settings of src/libpodvm/config.c (attestation, attestation_period,
 * secrets_dir and their variables, pv_config_check's combinations) and the secrets they
 * release (src/libpodvm/secrets.c: a secrets_dir read, the OCI mount). */
#include "tap.h"
#include "tmp_path.h"
#include "cleanup.h"
#include "config.h"
#include "secrets.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_text(const char *rel, const char *text)
{
	(void)pv_write_file(at(rel), text, strlen(text), 0600, NULL);
}

static void test_attestation(void)
{
	struct pv_config c = { 0 };
	pv_error err = NULL;
	ok(pv_config_parse(&c, "attestation = Enforce\nattestation_period = 2\n", "f", &err) == 0 &&
		   c.attestation == PV_ATTEST_ENFORCE && c.attestation_period == 2,
	   "attestation = enforce, attestation_period = 2");
	ok(pv_config_parse(&c, "attestation = verify\n", "f", &err) == 0 && c.attestation == PV_ATTEST_VERIFY &&
		   strcmp(pv_attestation_mode_name(c.attestation), "verify") == 0, "attestation = verify");
	ok(pv_config_parse(&c, "attestation = strict\n", "f", &err) < 0 && err &&
		   strcmp(err->msg, "f:1: attestation = \"strict\": not off, verify or enforce") == 0,
	   "a bad attestation names the choices: %s", err ? err->msg : "");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "attestation_period = 86401\n", "f", &err) < 0 && err &&
		   strstr(err->msg, "not a number of seconds from 0 to 86400"),
	   "attestation_period above a day: %s", err ? err->msg : "");
	pv_error_release(&err);
}

static void test_secrets_dir(void)
{
	struct pv_config c = { 0 };
	pv_error err = NULL;
	ok(pv_config_parse(&c, "secrets_dir = /etc/podvm/secrets/attested\n", "f", &err) == 0 &&
		   strcmp(c.secrets_dir, "/etc/podvm/secrets/attested") == 0, "secrets_dir = PATH");
	ok(pv_config_parse(&c, "\nsecrets_dir = secrets\n", "f", &err) < 0 && err &&
		   strcmp(err->msg, "f:2: secrets_dir = \"secrets\": not an absolute path of at most 255 bytes") == 0,
	   "a relative secrets_dir is refused: %s", err ? err->msg : "");
	pv_error_release(&err);
	char long_dir[300];
	snprintf(long_dir, sizeof(long_dir), "secrets_dir = /%0280d\n", 0);
	ok(pv_config_parse(&c, long_dir, "f", &err) < 0 && err && strstr(err->msg, "at most 255 bytes"),
	   "a secrets_dir too long is refused, not cut");
	pv_error_release(&err);

	c = (struct pv_config){ .attestation = PV_ATTEST_OFF };
	snprintf(c.secrets_dir, sizeof(c.secrets_dir), "/s");
	ok(pv_config_check(&c, "/etc/podvm/attest.conf", &err) < 0 && err &&
		   strcmp(err->msg, "/etc/podvm/attest.conf: secrets_dir = /s: needs attestation = verify or enforce") == 0,
	   "check: secrets_dir without attestation, named: %s", err ? err->msg : "");
	pv_error_release(&err);
	c.attestation = PV_ATTEST_VERIFY;
	ok(pv_config_check(&c, "f", &err) == 0, "check: secrets_dir with attestation = verify");
	c.secrets_dir[0] = '\0';
	c.attestation = PV_ATTEST_OFF;
	ok(pv_config_check(&c, "f", &err) == 0, "check: neither");
}

static void test_load(void)
{
	struct pv_config c;
	pv_error err = NULL;
	setenv("PODVM_CONFIG", at("podvm.conf"), 1);
	unsetenv("PODVM_ATTESTATION");
	unsetenv("PODVM_SECRETS_DIR");
	write_text("podvm.conf", "secrets_dir = /s\n");
	ok(pv_config_load(&c, &err) < 0 && err && strstr(err->msg, "podvm.conf: secrets_dir = /s: needs attestation"),
	   "load: a file with secrets_dir, without attestation: %s", err ? err->msg : "");
	pv_error_release(&err);
	write_text("podvm.conf", "secrets_dir = /s\nattestation = enforce\n");
	ok(pv_config_load(&c, &err) == 0 && c.tpm && c.attestation == PV_ATTEST_ENFORCE &&
		   c.attestation_period == PV_DEFAULT_ATTESTATION_PERIOD, "load: secrets_dir after attestation; tpm on");
	setenv("PODVM_ATTESTATION", "off", 1);
	ok(pv_config_load(&c, &err) < 0 && err, "load: PODVM_ATTESTATION=off under a secrets_dir is an error too");
	pv_error_release(&err);
	unsetenv("PODVM_ATTESTATION");
	write_text("podvm.conf", "attestation = verify\n");
	setenv("PODVM_SECRETS_DIR", "/run/s", 1);
	ok(pv_config_load(&c, &err) == 0 && strcmp(c.secrets_dir, "/run/s") == 0, "load: PODVM_SECRETS_DIR");
	unsetenv("PODVM_SECRETS_DIR");
	ok(pv_config_load(&c, &err) == 0 && c.secrets_dir[0] == '\0', "load: no secrets_dir by default");
	unsetenv("PODVM_CONFIG");
}

static void test_secrets_read(void)
{
	pv_error err = NULL;
	char dir[256];
	snprintf(dir, sizeof(dir), "%s", at("secrets"));
	mkdir(dir, 0700);
	mkdir(at("secrets/..data"), 0700);
	write_text("secrets/token", "s3cret");
	write_text("secrets/a-key", "");
	write_text("secrets/..data/hidden", "no");
	write_text("secrets/.hidden", "no");
	(void)!symlink("..data/hidden", at("secrets/linked"));
	struct pv_secrets s = { 0 };
	ok(pv_secrets_add_dir(&s, dir, &err) == 0 && s.n == 3, "dir: its regular files, links followed, dot files left out (%zu)", s.n);
	ok(s.n == 3 && strcmp(s.v[0].name, "a-key") == 0 && s.v[0].len == 0 && strcmp(s.v[1].name, "linked") == 0 &&
		   strcmp(s.v[2].name, "token") == 0 && s.v[2].len == 6 && memcmp(s.v[2].data, "s3cret", 6) == 0,
	   "dir: names in order, with their bytes");
	pv_secrets_clear(&s);
	ok(s.n == 0 && s.v == NULL, "clear: empty");
	char missing[256];
	snprintf(missing, sizeof(missing), "%s", at("nope"));
	ok(pv_secrets_add_dir(&s, missing, &err) < 0 && err && strstr(err->msg, "secrets_dir ") && strstr(err->msg, "/nope"),
	   "a missing dir is named: %s", err ? err->msg : "");
	pv_error_release(&err);
	ok(pv_secrets_add_file(&s, "../x", missing, &err) < 0 && err && strcmp(err->msg, "secret \"../x\": not a file name") == 0,
	   "a name with a slash is refused");
	pv_error_release(&err);
	ok(pv_secrets_add_file(&s, "x", missing, &err) < 0 && err && strstr(err->msg, "secret x: "), "a missing file is named");
	pv_error_release(&err);
	pv_secrets_clear(&s);
	json_t *m = pv_spec_secrets_mount();
	_cleanup_free_ char *text = json_dumps(m, JSON_COMPACT);
	ok(text && strcmp(text, "{\"destination\":\"/run/secrets\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
				"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=0755\",\"size=1m\"]}") == 0,
	   "the mount: %s", text ? text : "");
	json_decref(m);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/podvm-test-config.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return 1;
	test_attestation();
	test_secrets_dir();
	test_load();
	test_secrets_read();
	(void)pv_rm_rf(tmp, NULL);
	return done_testing();
}
