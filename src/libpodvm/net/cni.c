#include "cni.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLUGIN_OUTPUT_MAX (4 << 20)

extern char **environ;

struct plugin_output {
	int status;      /* exit status, or 128+N for a signal */
	char *out;
	char *errout;
};

static void plugin_output_clear(struct plugin_output *o)
{
	free(o->out);
	free(o->errout);
}

static const char *search_path(void)
{
	const char *p = getenv("CNI_PATH");
	return p && *p ? p : PV_CNI_DEFAULT_PATH;
}

static char *find_plugin(const char *type)
{
	_cleanup_free_ char *dirs = strdup(search_path());
	char *save = NULL;
	for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
		char *bin = NULL;
		if (asprintf(&bin, "%s/%s", d, type) < 0)
			return NULL;
		if (access(bin, X_OK) == 0)
			return bin;
		free(bin);
	}
	return NULL;
}

/* podvm's environment (PATH for the plugins' own tools) with the CNI variables set. */
static char **plugin_env(const struct pv_cni_call *c, const char *command)
{
	const char *keys[] = { "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS" };
	const char *vals[] = { command, c->container_id, c->netns, c->ifname, search_path(), "" };
	_cleanup_strv_ char **env = pv_strv_dup(environ);
	for (size_t i = 0; env && i < sizeof(keys) / sizeof(*keys); i++) {
		_cleanup_free_ char *kv = NULL;
		if (asprintf(&kv, "%s=%s", keys[i], vals[i]) < 0 || pv_env_set(&env, kv) < 0)
			return NULL;
	}
	return steal_pointer(&env);
}

static int memfd_with(const char *name, const char *text)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = text ? strlen(text) : 0;
	if (pv_write_all(fd, text, n) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void exec_child(const char *bin, char **env, int in, int out, int errout)
{
	pv_child_reset_signals();  /* podvm blocks the signals it forwards, ignores SIGPIPE */
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errout, 2) < 0)
		_exit(127);
	char *argv[] = { (char *)bin, NULL };
	execve(bin, argv, env);
	_exit(127);
}

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int read_back(int fd, char **text, pv_error *err)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return pv_error_set(err, errno, "plugin output");
	return pv_read_fd(fd, PLUGIN_OUTPUT_MAX, text, NULL, err);
}

/* Runs bin with stdin `in`; its stdout and stderr go to memory files (no pipes to drain). */
static int run_plugin(const char *bin, char **env, const char *in, struct plugin_output *o, pv_error *err)
{
	_cleanup_close_ int fin = memfd_with("cni-stdin", in);
	_cleanup_close_ int fout = memfd_with("cni-stdout", NULL);
	_cleanup_close_ int ferr = memfd_with("cni-stderr", NULL);
	if (fin < 0 || fout < 0 || ferr < 0)
		return pv_error_set(err, -(fin < 0 ? fin : fout < 0 ? fout : ferr), "memfd");
	pid_t pid = fork();
	if (pid < 0)
		return pv_error_set(err, errno, "fork");
	if (pid == 0)
		exec_child(bin, env, fin, fout, ferr);
	o->status = wait_child(pid);
	if (o->status < 0)
		return pv_error_set(err, errno, "wait");
	if (read_back(fout, &o->out, err) < 0 || read_back(ferr, &o->errout, err) < 0)
		return -1;
	return 0;
}

/* Runs plugin i with command; *result (may be NULL) takes its parsed stdout. */
static int call_plugin(const struct pv_cni_call *c, size_t i, const char *command, json_t *prev,
		       json_t **result, pv_error *err)
{
	const char *type = pv_cni_plugin_type(c->list, i);
	_cleanup_free_ char *bin = find_plugin(type);
	if (bin == NULL)
		return pv_error_set_plain(err, ENOENT, "plugin %s: not found in %s (CNI_PATH)", type, search_path());
	_cleanup_strv_ char **env = plugin_env(c, command);
	_cleanup_free_ char *in = pv_cni_plugin_stdin(c->list, i, prev, c->runtime, err);
	if (env == NULL || in == NULL)
		return pv_error_set(err, ENOMEM, "plugin %s", type);
	struct plugin_output o = { 0 };
	int r = run_plugin(bin, env, in, &o, err);
	if (r == 0)
		r = pv_cni_plugin_result(type, command, o.status, o.out, o.errout, result, err);
	else
		pv_error_prefix(err, "plugin %s", type);
	plugin_output_clear(&o);
	return r;
}

int pv_cni_plugin_result(const char *type, const char *command, int status, const char *out,
			 const char *errout, json_t **result, pv_error *err)
{
	if (status != 0) {
		_cleanup_free_ char *why = pv_cni_failure_message(out, errout, status);
		return pv_error_set_plain(err, EIO, "plugin %s: %s%s", type, strcmp(command, "DEL") ? "" : "DEL: ",
					  why ? why : "failed");
	}
	if (result == NULL)
		return 0;
	json_error_t je;
	if ((*result = json_loads(out, 0, &je)) == NULL)
		return pv_error_set_plain(err, EPROTO, "plugin %s: result is not JSON: %s", type, je.text);
	return 0;
}

int pv_cni_add(const struct pv_cni_call *c, json_t **result, pv_error *err)
{
	json_t *prev = NULL;
	for (size_t i = 0; i < pv_cni_plugin_count(c->list); i++) {
		json_t *next = NULL;
		if (call_plugin(c, i, "ADD", prev, &next, err) < 0) {
			json_decref(prev);
			(void)pv_cni_del(c, NULL, NULL);  /* what the plugins before it made */
			return -1;
		}
		json_decref(prev);
		prev = next;
	}
	*result = prev;
	return 0;
}

int pv_cni_del(const struct pv_cni_call *c, json_t *result, pv_error *err)
{
	json_t *prev = pv_cni_del_takes_prev_result(c->list) ? result : NULL;
	int r = 0;
	for (size_t i = pv_cni_plugin_count(c->list); i-- > 0;) {
		pv_error e = NULL;
		if (call_plugin(c, i, "DEL", prev, NULL, &e) < 0) {
			if (r == 0 && err && *err == NULL)
				*err = steal_pointer(&e);
			r = -1;
		}
		pv_error_release(&e);
	}
	return r;
}
