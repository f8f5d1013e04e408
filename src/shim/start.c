/* `containerd-shim-podvm-v2 ... start`, run by containerd in the bundle directory: prints
 * the ttrpc address of the pod's shim, starting the shim if this is the pod's first
 * container. Containers of the same pod (io.kubernetes.cri.sandbox-id) share it. */
#include "shim.h"
#include "cleanup.h"
#include "config.h"
#include "paths.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int shim_socket_path(const char *ns, const char *pod_id, char **path, pv_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	_cleanup_free_ char *key = NULL;
	if (asprintf(&key, "%s/%s", ns, pod_id) < 0)
		return pv_error_set(err, ENOMEM, "socket path");
	EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL);
	char hex[33];
	pv_hex_encode(md, 16, hex);
	struct pv_paths paths;
	if (pv_paths_init(&paths, err) < 0)
		return -1;
	/* Short and fixed-length: unix socket paths are limited to 108 bytes. */
	int r = asprintf(path, "%s/shim/%s.sock", paths.state_root, hex) < 0 ? pv_error_set(err, ENOMEM, "socket path") : 0;
	if (r == 0) {
		_cleanup_free_ char *dir = NULL;
		r = asprintf(&dir, "%s/shim", paths.state_root) < 0 ? -ENOMEM : pv_mkdir_p(dir, 0711, err);
	}
	pv_paths_clear(&paths);
	return r;
}

bool shim_listening(const char *path)
{
	_cleanup_close_ int fd = pv_unix_connect(path, NULL);
	return fd >= 0;
}

/* No CLOEXEC: the daemon inherits it. */
static int listen_on(const char *path, pv_error *err)
{
	return pv_unix_listen(path, 64, false, err);
}

/* Re-executes this binary without "start" as the daemon, detached from containerd. */
static int spawn_daemon(const struct shim_opts *o, const char *pod_id, const char *config_path,
			int listen_fd, pv_error *err)
{
	char fdbuf[16];
	snprintf(fdbuf, sizeof(fdbuf), "%d", listen_fd);
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return pv_error_set(err, errno, "readlink /proc/self/exe");
	self[len] = '\0';
	const char *argv[16];
	int n = 0;
	argv[n++] = "containerd-shim-podvm-v2";
	argv[n++] = "-namespace";
	argv[n++] = o->namespace;
	argv[n++] = "-id";
	argv[n++] = o->id;
	if (o->address) {
		argv[n++] = "-address";
		argv[n++] = o->address;
	}
	if (o->debug)
		argv[n++] = "-debug";
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return pv_error_set(err, errno, "fork shim");
	if (pid == 0) {
		setsid();
		setenv(SHIM_SOCKET_FD_ENV, fdbuf, 1);
		setenv(SHIM_POD_ID_ENV, pod_id, 1);
		if (config_path)
			setenv("PODVM_CONFIG", config_path, 1);  /* read by libpodvm (config.h) */
		int null = open("/dev/null", O_RDWR);
		/* containerd's shim log FIFO in the bundle, else nowhere. */
		int log = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		dup2(null, 0);
		dup2(null, 1);
		dup2(log >= 0 ? log : null, 2);
		if (log >= 0)
			fcntl(2, F_SETFL, fcntl(2, F_GETFL) & ~O_NONBLOCK);
		execv(self, (char *const *)argv);
		_exit(127);
	}
	return 0;
}

/* The daemon reads the pod's config (pod_new); a wrong one fails here, in `start`, whose
 * error containerd passes on to whoever made the pod (RunPodSandbox's caller). */
static int check_config(const char *config_path, pv_error *err)
{
	struct pv_config c;
	if (config_path)
		setenv("PODVM_CONFIG", config_path, 1);
	return pv_config_load(&c, err);
}

static int write_address(const char *address, pv_error *err)
{
	return pv_write_file("address", address, strlen(address), 0644, err);
}

int shim_start(const struct shim_opts *o, pv_error *err)
{
	_cleanup_free_ char *pod_id = NULL, *path = NULL, *address = NULL, *config_path = NULL;
	bool is_sandbox;
	if (shim_runtime_config_path(&config_path, err) < 0 ||
	    shim_pod_of_bundle(".", o->id, &pod_id, &is_sandbox, err) < 0 ||
	    shim_socket_path(o->namespace, pod_id, &path, err) < 0)
		return -1;
	if (asprintf(&address, "unix://%s", path) < 0)
		return pv_error_set(err, ENOMEM, "address");
	if (!is_sandbox) {
		if (!shim_listening(path))
			return pv_error_set_plain(err, ENOENT, "container %s: the shim of pod %s is not running", o->id, pod_id);
	} else {
		if (check_config(config_path, err) < 0)
			return -1;
		_cleanup_close_ int fd = listen_on(path, err);
		if (fd < 0 || spawn_daemon(o, pod_id, config_path, fd, err) < 0)
			return -1;
	}
	if (write_address(address, err) < 0)
		return -1;
	printf("%s", address);
	fflush(stdout);
	return 0;
}
