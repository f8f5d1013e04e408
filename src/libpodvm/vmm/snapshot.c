#include "snapshot.h"
#include "qmp.h"
#include "tpm_stream.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void qmp_closep(struct pv_qmp **q)
{
	pv_qmp_close(*q);
}
#define _cleanup_qmp_ _cleanup_(qmp_closep)

/* The state file travels as an fd that QEMU files under this name (getfd): a jailed QEMU
 * cannot open our paths, and exec: migration forks /bin/sh, which -sandbox spawn=deny forbids. */
#define MIGRATION_FD "migration"
#define MIGRATION_URI "fd:" MIGRATION_FD

static int connect_qmp(struct pv_vm *vm, long long deadline, struct pv_qmp **q, pv_error *err)
{
	for (;;) {
		if (pv_qmp_connect(vm->qmp_path, 1000, q, err) == 0)
			return 0;
		if (!pv_vm_alive(vm) || pv_now_ms() > deadline)
			return -1;
		pv_error_release(err);
		usleep(2000);
	}
}

static int ignore_shared_ram(struct pv_qmp *q, pv_error *err)
{
	json_t *args = json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability", "x-ignore-shared",
				 "state", 1);
	if (args == NULL)
		return pv_error_set(err, ENOMEM, "QMP");
	int r = pv_qmp_execute(q, "migrate-set-capabilities", args, NULL, err);
	json_decref(args);
	return r;
}

/* Runs a command whose one argument is {"uri": uri}. */
static int execute_with_uri(struct pv_qmp *q, const char *command, const char *uri, pv_error *err)
{
	json_t *args = json_pack("{s:s}", "uri", uri);
	if (args == NULL)
		return pv_error_set(err, ENOMEM, "QMP");
	int r = pv_qmp_execute(q, command, args, NULL, err);
	json_decref(args);
	return r;
}

/* Hands *fd to QEMU as MIGRATION_FD and closes our copy: QEMU's is the one migration uses
 * and closes. */
static int give_fd(struct pv_qmp *q, int *fd, pv_error *err)
{
	json_t *args = json_pack("{s:s}", "fdname", MIGRATION_FD);
	if (args == NULL)
		return pv_error_set(err, ENOMEM, "QMP");
	int r = pv_qmp_execute_fd(q, "getfd", args, *fd, NULL, err);
	json_decref(args);
	close(steal_fd(fd));
	return r;
}

/* The value of key in the object a query command returns ("" if absent); *out is malloc'd. */
static int query_string(struct pv_qmp *q, const char *command, const char *key, char **out, pv_error *err)
{
	json_t *ret = NULL;
	if (pv_qmp_execute(q, command, NULL, &ret, err) < 0)
		return -1;
	const char *v = json_string_value(json_object_get(ret, key));
	*out = strdup(v ? v : "");
	json_decref(ret);
	return *out ? 0 : pv_error_set(err, ENOMEM, "QMP");
}

static int wait_migration_done(struct pv_qmp *q, pv_error *err)
{
	for (;;) {
		_cleanup_free_ char *status = NULL;
		if (query_string(q, "query-migrate", "status", &status, err) < 0)
			return -1;
		if (strcmp(status, "completed") == 0)
			return 0;
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
			return pv_error_set_plain(err, EIO, "migration %s", status);
		usleep(5000);
	}
}

int pv_vm_save(struct pv_vm *vm, const char *state_path, pv_error *err)
{
	_cleanup_qmp_ struct pv_qmp *q = NULL;
	_cleanup_close_ int fd = open(state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return pv_error_set(err, errno, "save VM to %s", state_path);
	if (connect_qmp(vm, pv_now_ms() + 5000, &q, err) < 0 || pv_qmp_execute(q, "stop", NULL, NULL, err) < 0 ||
	    ignore_shared_ram(q, err) < 0 || give_fd(q, &fd, err) < 0 ||
	    execute_with_uri(q, "migrate", MIGRATION_URI, err) < 0 || wait_migration_done(q, err) < 0)
		return pv_error_prefix(err, "save VM to %s", state_path);
	return 0;
}

/* An incoming VM reports "inmigrate" until the stream is loaded, then "paused"; a stream it
 * cannot load makes QEMU exit. */
static int wait_incoming_done(struct pv_vm *vm, struct pv_qmp *q, long long deadline, pv_error *err)
{
	for (;;) {
		_cleanup_free_ char *status = NULL;
		if (query_string(q, "query-status", "status", &status, err) < 0)
			return -1;
		if (strcmp(status, "inmigrate") != 0)
			return 0;
		if (!pv_vm_alive(vm))
			return pv_error_set_plain(err, EIO, "VMM exited while loading");
		if (pv_now_ms() > deadline)
			return pv_error_set_plain(err, ETIMEDOUT, "loading took too long");
		usleep(2000);
	}
}

#define STATE_MAX (256 << 20)  /* device state only: guest RAM is a file of its own */

/* The state file with the VM's own TPM state in place of the template's (tpm_stream.h), in a
 * memfd: the stream is small (~50 KB), and the template's file stays as it is. */
static int open_with_own_tpm(struct pv_vm *vm, const char *state_path, pv_error *err)
{
	_cleanup_free_ char *in = NULL;
	_cleanup_free_ uint8_t *out = NULL;
	size_t n = 0, out_len = 0;
	if (pv_read_file(state_path, STATE_MAX, &in, &n, err) < 0 ||
	    pv_tpm_stream_swap((const uint8_t *)in, n, &vm->tpm_permanent, &vm->tpm_volatile, &out, &out_len, err) < 0)
		return -1;
	_cleanup_close_ int fd = memfd_create("podvm-vm-state", MFD_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "memfd");
	if (pv_write_all(fd, out, out_len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return pv_error_set(err, errno, "memfd");
	pv_tpm_blob_clear(&vm->tpm_permanent);
	pv_tpm_blob_clear(&vm->tpm_volatile);
	return steal_fd(&fd);
}

static int open_state(struct pv_vm *vm, const char *state_path, pv_error *err)
{
	int fd = vm->tpm_permanent.data ? open_with_own_tpm(vm, state_path, err) : open(state_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && vm->tpm_permanent.data)
		return pv_error_prefix(err, "restore VM from %s", state_path);
	return fd < 0 ? pv_error_set(err, errno, "restore VM from %s", state_path) : fd;
}

int pv_vm_restore(struct pv_vm *vm, const char *state_path, int timeout_ms, pv_error *err)
{
	long long deadline = pv_now_ms() + timeout_ms;
	_cleanup_qmp_ struct pv_qmp *q = NULL;
	_cleanup_close_ int fd = open_state(vm, state_path, err);
	if (fd < 0)
		return -1;
	if (connect_qmp(vm, deadline, &q, err) < 0 || ignore_shared_ram(q, err) < 0 || give_fd(q, &fd, err) < 0 ||
	    execute_with_uri(q, "migrate-incoming", MIGRATION_URI, err) < 0 ||
	    wait_incoming_done(vm, q, deadline, err) < 0 || pv_qmp_execute(q, "cont", NULL, NULL, err) < 0)
		return pv_error_prefix(err, "restore VM from %s", state_path);
	return 0;
}
