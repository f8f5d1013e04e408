#include "run.h"
#include "agent_client.h"
#include "attest/digest_set.h"
#include "cleanup.h"
#include "image.h"
#include "image_cache.h"
#include "io.h"
#include "owner.h"
#include "run_shares.h"
#include "secrets.h"
#include "net/container_net.h"
#include "sandbox.h"
#include "sizing.h"
#include "spec_build.h"
#include "user.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct pv_run {
	const struct pv_paths *paths;
	char id[33];
	char *data_dir;
	char *rootfs;
	bool rootfs_kept;  /* a kept image copy (image_cache.h): the run gets an overlay of it */
	struct pv_image_config img;
	struct run_shares shares;
	char *spec_json;
	bool interactive, tty;
	double cpus;
	unsigned long long memory;
	int boot_timeout_ms;
	struct pv_sandbox *sb;
	struct pv_container_net *net;  /* NULL: loopback only */
	struct pv_io io;
	bool io_started;
	atomic_bool started;
	atomic_bool aborted;
	struct pv_config config;        /* attestation mode and period */
	char *image;
	struct pv_secrets secrets;
	struct pv_attest_monitor *monitor;
	char *attest_failure;           /* why enforce stopped the VM; set once, by the monitor */
};

/* Read at create: a missing file fails before anything runs. */
static int load_secrets(struct pv_run *r, const struct pv_run_options *o, pv_error *err)
{
	if (o->n_secrets == 0)
		return 0;
	if (r->config.attestation == PV_ATTEST_OFF)
		return pv_error_set_plain(err, EINVAL, "secrets are released only to an attested VM: attestation is off");
	for (size_t i = 0; i < o->n_secrets; i++)
		if (pv_secrets_add_file(&r->secrets, o->secrets[i].name, o->secrets[i].path, err) < 0)
			return -1;
	return 0;
}

/* Before the container starts: attested, then its secrets. Under verify a failure is only
 * reported, and secrets (never released without a pass) fail the run. */
static int attest_before_start(struct pv_run *r, pv_error *err)
{
	struct pv_attest_result res;
	if (pv_sandbox_attest(r->sb, &res, err) < 0)
		return -1;
	if (!res.pass && (r->config.attestation == PV_ATTEST_ENFORCE || r->secrets.n > 0))
		return pv_error_set_plain(err, EACCES, "attestation of VM %s failed: %s", r->id, res.finding);
	if (!res.pass)
		pv_warning("attestation of VM %s failed: %s", r->id, res.finding);
	if (pv_secrets_put(&r->secrets, pv_sandbox_agent(r->sb), r->id, err) < 0)
		return -1;
	pv_secrets_clear(&r->secrets);
	return 0;
}

static bool attestation_failed(const char *finding, void *data)
{
	struct pv_run *r = data;
	if (r->config.attestation != PV_ATTEST_ENFORCE) {
		pv_warning("attestation of VM %s failed: %s", r->id, finding);
		return false;
	}
	/* Under enforce the run's error says it, once (pv_run_wait). */
	char *why = strdup(finding);
	if (why && !__atomic_compare_exchange_n(&r->attest_failure, &(char *){ NULL }, why, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
		free(why);
	pv_sandbox_kill(r->sb);
	return true;
}

static char **build_args(const struct pv_run_options *o, const struct pv_image_config *img)
{
	char **args = pv_strv_dup(img->entrypoint);
	char *const *tail = o->command && o->command[0] ? o->command : img->cmd;
	for (size_t i = 0; args && tail && tail[i]; i++)
		if (pv_strv_push(&args, tail[i]) < 0) {
			pv_strv_free(args);
			return NULL;
		}
	return args;
}

static int add_user_env(char ***env, char *const *user_env, pv_error *err)
{
	for (size_t i = 0; user_env && user_env[i]; i++) {
		const char *kv = user_env[i];
		_cleanup_free_ char *copy = NULL;
		if (strchr(kv, '=') == NULL) {
			const char *v = getenv(kv);
			if (v == NULL)
				continue;  /* as docker: an unset variable is not passed */
			if (asprintf(&copy, "%s=%s", kv, v) < 0)
				return pv_error_set(err, ENOMEM, "env");
			kv = copy;
		}
		if (pv_env_set(env, kv) < 0)
			return pv_error_set(err, ENOMEM, "env");
	}
	return 0;
}

static char **build_env(const struct pv_run_options *o, const struct pv_image_config *img,
			const struct pv_user *user, pv_error *err)
{
	_cleanup_strv_ char **env = NULL;
	_cleanup_free_ char *host = NULL, *home = NULL;
	if (pv_env_set(&env, DEFAULT_PATH) < 0 ||
	    asprintf(&host, "HOSTNAME=%s", o->hostname ? o->hostname : "podvm") < 0 ||
	    pv_env_set(&env, host) < 0)
		goto nomem;
	for (size_t i = 0; img->env && img->env[i]; i++)
		if (pv_env_set(&env, img->env[i]) < 0)
			goto nomem;
	if (o->tty && pv_env_set(&env, "TERM=xterm") < 0)
		goto nomem;
	if (add_user_env(&env, o->env, err) < 0)
		return NULL;
	if (pv_env_get(env, "HOME") == NULL &&
	    (asprintf(&home, "HOME=%s", user->home) < 0 || pv_env_set(&env, home) < 0))
		goto nomem;
	return steal_pointer(&env);
nomem:
	pv_error_set(err, ENOMEM, "env");
	return NULL;
}

static int build_spec(struct pv_run *r, const struct pv_run_options *o, pv_error *err)
{
	struct pv_user user;
	const char *uspec = o->user ? o->user : r->img.user;
	if (pv_user_resolve(r->rootfs, uspec, &user, err) < 0)
		return pv_error_prefix(err, "image %s", o->image);
	_cleanup_strv_ char **args = build_args(o, &r->img);
	_cleanup_strv_ char **env = build_env(o, &r->img, &user, err);
	int rc = 0;
	if (env == NULL)
		rc = -1;
	else if (pv_strv_len(args) == 0)
		rc = pv_error_set_plain(err, EINVAL, "image %s: no command given and the image has no Entrypoint or Cmd", o->image);
	const char *cwd = o->workdir ? o->workdir : (r->img.working_dir && *r->img.working_dir ? r->img.working_dir : "/");
	if (rc == 0 && cwd[0] != '/')
		rc = pv_error_set_plain(err, EINVAL, "workdir %s: must be an absolute path", cwd);
	const struct run_shares *sh = &r->shares;
	struct pv_spec_mount *mounts = calloc(sh->n_vols + 1, sizeof(*mounts));
	if (rc == 0 && mounts == NULL)
		rc = pv_error_set(err, ENOMEM, "spec");
	for (size_t i = 0; rc == 0 && i < sh->n_vols; i++)
		mounts[i] = (struct pv_spec_mount){ sh->vols[i].guest_source, sh->vols[i].destination, sh->vols[i].readonly };
	struct pv_spec_input in = {
		.args = args, .env = env, .cwd = cwd, .user = &user, .terminal = o->tty,
		.rows = o->rows, .cols = o->cols, .hostname = o->hostname,
		.root_path = run_shares_guest_root(sh), .cpus = o->cpus, .memory = o->memory,
		.mounts = mounts, .n_mounts = sh->n_vols, .secrets = o->n_secrets > 0,
	};
	if (rc == 0 && (r->spec_json = pv_spec_build(&in, err)) == NULL)
		rc = -1;
	free(mounts);
	pv_user_clear(&user);
	return rc;
}

/* Where the run can mount (root), the image is unpacked once and kept; else each run
 * unpacks its own copy into its data dir. */
static int prepare_rootfs(struct pv_run *r, const char *image, pv_error *err)
{
	_cleanup_free_ char *dest = NULL, *scratch = NULL, *cache = NULL;
	if (asprintf(&dest, "%s/rootfs", r->data_dir) < 0 || asprintf(&scratch, "%s/scratch", r->data_dir) < 0 ||
	    asprintf(&cache, "%s/images", r->paths->data_root) < 0)
		return pv_error_set(err, ENOMEM, "run");
	if (pv_mkdir_p(r->data_dir, 0700, err) < 0 || pv_owner_write(r->data_dir, err) < 0)
		return -1;
	if (r->shares.attach)
		return pv_image_cache_get(cache, image, &r->rootfs, &r->img, &r->rootfs_kept, err);
	return pv_image_prepare(image, dest, scratch, &r->rootfs, &r->img, err);
}

static int create_sandbox(struct pv_run *r, pv_error *err)
{
	if (pv_sandbox_new(r->paths, r->id, &r->sb, err) < 0)
		return -1;
	return run_shares_add(&r->shares, r->sb, r->rootfs, err);
}

/* Only the config is read here, so that a wrong network name fails before any unpacking. */
static int prepare_network(struct pv_run *r, const struct pv_run_options *o, pv_error *err)
{
	struct pv_container_net_options no = { o->network, o->cni_conf_dir, o->ports, o->n_ports };
	return pv_container_net_new(&no, r->id, &r->net, err);
}

int pv_run_create(const struct pv_paths *paths, const struct pv_run_options *o,
		  struct pv_run **out, pv_error *err)
{
	struct pv_run *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return pv_error_set(err, ENOMEM, "run");
	r->paths = paths;
	r->interactive = o->interactive;
	r->tty = o->tty;
	r->cpus = o->cpus;
	r->memory = o->memory;
	r->boot_timeout_ms = o->boot_timeout_ms;
	pv_sandbox_gc(paths);
	int rc = pv_random_hex(r->id, 16);
	if (rc < 0)
		rc = pv_error_set(err, -rc, "random id");
	if (rc == 0 && asprintf(&r->data_dir, "%s/%s", paths->data_root, r->id) < 0) {
		r->data_dir = NULL;
		rc = pv_error_set(err, ENOMEM, "run");
	}
	if (rc == 0)
		rc = prepare_network(r, o, err);
	if (rc == 0)
		rc = run_shares_init(&r->shares, r->data_dir, o->volumes, o->n_volumes, err);
	if (rc == 0)
		rc = (r->image = strdup(o->image)) ? 0 : pv_error_set(err, ENOMEM, "image");
	if (rc == 0)
		rc = pv_config_load(&r->config, err);
	if (rc == 0)
		rc = load_secrets(r, o, err);
	if (rc == 0)
		rc = prepare_rootfs(r, o->image, err);
	if (rc == 0)
		rc = build_spec(r, o, err);
	if (rc == 0)
		rc = create_sandbox(r, err);
	if (rc < 0) {
		pv_run_destroy(r);
		return -1;
	}
	*out = r;
	return 0;
}

/* The digest set of the container's image files, for the verifier: a kept image's, or one
 * made now of a run's own unpacked copy. */
static int image_reference(struct pv_run *r, char **path, pv_error *err)
{
	_cleanup_free_ char *cache = NULL;
	if (r->rootfs_kept) {
		if (asprintf(&cache, "%s/images", r->paths->data_root) < 0)
			return pv_error_set(err, ENOMEM, "image reference");
		return pv_image_reference_path(cache, r->image, path, err);
	}
	struct pv_digest_set *set = NULL;
	if (asprintf(path, "%s/digests", r->data_dir) < 0)
		return pv_error_set(err, ENOMEM, "image reference");
	int rc = pv_digest_set_new(&set, err);
	if (rc == 0)
		rc = pv_digest_set_add_tree(set, r->rootfs, err);
	if (rc == 0)
		rc = pv_digest_set_save(set, *path, err);
	pv_digest_set_free(set);
	return rc;
}

static int record_for_attestation(struct pv_run *r, pv_error *err)
{
	_cleanup_free_ char *set = NULL;
	if (image_reference(r, &set, err) < 0)
		return pv_error_prefix(err, "image %s: reference values", r->image);
	return pv_attest_record_container(pv_sandbox_vm_dir(r->sb), r->id, r->spec_json, set, err);
}

static int create_container(struct pv_run *r, pv_error *err)
{
	struct pv_agent_share *sh;
	size_t n;
	if (r->config.attestation != PV_ATTEST_OFF && record_for_attestation(r, err) < 0)
		return -1;
	if (run_shares_for_agent(&r->shares, &sh, &n, err) < 0)
		return -1;
	int rc = pv_agent_create(pv_sandbox_agent(r->sb), r->id, r->spec_json, sh, n, r->interactive, NULL, err);
	free(sh);
	return rc;
}

/* An agent call failed: when the VM is at fault (it died, hung, or its agent broke the
 * protocol), say so and name it. */
static int agent_failed(struct pv_run *r, pv_error *err)
{
	(void)pv_sandbox_explain_failure(r->sb, err);
	return -1;
}

/* The VM with its NIC on the network, the guest's eth0 configured, the container created. */
static int boot(struct pv_run *r, pv_error *err)
{
	struct pv_sandbox_config cfg = { .boot_timeout_ms = r->boot_timeout_ms };
	pv_vm_size(r->cpus, r->memory, &cfg.vcpus, &cfg.mem_mib);
	if (r->net) {
		if (pv_container_net_up(r->net, pv_sandbox_state_dir(r->sb), err) < 0)
			return -1;
		cfg.net = pv_container_net_pod(r->net);
	}
	if (pv_sandbox_boot(r->sb, &cfg, err) < 0 || run_shares_attach(&r->shares, r->rootfs, r->rootfs_kept, err) < 0)
		return -1;
	return create_container(r, err) < 0 ? agent_failed(r, err) : 0;
}

int pv_run_start(struct pv_run *r, int in_fd, int out_fd, int err_fd, pv_error *err)
{
	if (atomic_load(&r->aborted))
		return pv_error_set_plain(err, ECANCELED, "interrupted");
	if (boot(r, err) < 0)
		return atomic_load(&r->aborted) ? (pv_error_release(err), pv_error_set_plain(err, ECANCELED, "interrupted")) : -1;
	r->io = (struct pv_io){ .agent = pv_sandbox_agent(r->sb), .container_id = r->id, .exec_id = "",
				.in_fd = r->interactive ? in_fd : -1, .out_fd = out_fd,
				.err_fd = r->tty ? -1 : err_fd, .kill_on_closed_output = true };
	if (r->config.attestation != PV_ATTEST_OFF && attest_before_start(r, err) < 0)
		return -1;
	if (pv_io_start(&r->io, err) < 0)
		return -1;
	r->io_started = true;
	pid_t pid;
	if (pv_agent_start(pv_sandbox_agent(r->sb), r->id, &pid, err) < 0)
		return agent_failed(r, err);
	atomic_store(&r->started, true);
	pv_sandbox_refill_pool(r->sb);  /* the start is over: a refill no longer slows it */
	if (r->config.attestation != PV_ATTEST_OFF &&
	    pv_attest_monitor_start(r->sb, r->config.attestation_period, attestation_failed, r, &r->monitor, err) < 0)
		return -1;
	return 0;
}

int pv_run_wait(struct pv_run *r, int *status, pv_error *err)
{
	if (pv_agent_wait(pv_sandbox_agent(r->sb), r->id, "", status, NULL, err) < 0) {
		char *why = __atomic_load_n(&r->attest_failure, __ATOMIC_ACQUIRE);
		if (why) {
			pv_error_release(err);
			return pv_error_set_plain(err, EACCES, "VM %s stopped: attestation failed: %s", r->id, why);
		}
		if (pv_sandbox_explain_failure(r->sb, err) < 0)
			return -1;
		return pv_error_prefix(err, "container %s", r->id);
	}
	pv_io_finish(&r->io);
	r->io_started = false;
	if (__atomic_load_n(&r->io.output_closed, __ATOMIC_ACQUIRE))
		*status = 128 + SIGPIPE;  /* what a shell shows for a writer whose reader left */
	return 0;
}

int pv_run_signal(struct pv_run *r, int sig, pv_error *err)
{
	if (!atomic_load(&r->started))
		return pv_error_set_plain(err, EAGAIN, "container not started");
	return pv_agent_signal(pv_sandbox_agent(r->sb), r->id, "", sig, false, err);
}

int pv_run_resize(struct pv_run *r, unsigned rows, unsigned cols, pv_error *err)
{
	if (!atomic_load(&r->started) || !r->tty)
		return 0;
	return pv_agent_resize(pv_sandbox_agent(r->sb), r->id, "", rows, cols, err);
}

void pv_run_abort(struct pv_run *r)
{
	atomic_store(&r->aborted, true);
	if (r->sb)
		pv_sandbox_kill(r->sb);
}

void pv_run_destroy(struct pv_run *r)
{
	if (r == NULL)
		return;
	pv_attest_monitor_stop(r->monitor);
	pv_secrets_clear(&r->secrets);
	free(r->attest_failure);
	free(r->image);
	if (r->sb)
		pv_sandbox_stop(r->sb);  /* ends the agent connection, so the I/O threads finish */
	if (r->io_started)
		pv_io_finish(&r->io);
	/* The network's namespace is mounted in the state dir: it goes first. */
	pv_container_net_free(r->net);
	pv_sandbox_destroy(r->sb);
	run_shares_clear(&r->shares);  /* unmounts before the removal */
	if (r->data_dir)
		(void)pv_rm_rf(r->data_dir, NULL);
	pv_image_config_clear(&r->img);
	free(r->spec_json);
	free(r->rootfs);
	free(r->data_dir);
	free(r);
}

int pv_run_error_exit_code(pv_error err)
{
	if (err && err->errnum == ENOENT && strstr(err->msg ? err->msg : "", "exec: "))
		return 127;
	if (err && (err->errnum == EACCES || err->errnum == EPERM) && strstr(err->msg ? err->msg : "", "exec: "))
		return 126;
	return 125;
}
