#include "channel.h"
#include "cleanup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

static int find_port(char *dev, size_t len, pv_error *err)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (d == NULL)
		return pv_error_set(err, errno, "open /sys/class/virtio-ports");
	struct dirent *de;
	int r = pv_error_set_plain(err, ENOENT, "virtio-serial port %s not found", AGENT_PORT_NAME);
	while ((de = readdir(d)) != NULL) {
		char path[512];
		_cleanup_free_ char *name = NULL;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
		if (pv_read_file(path, 256, &name, NULL, NULL) < 0)
			continue;
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, AGENT_PORT_NAME) == 0) {
			snprintf(dev, len, "/dev/%s", de->d_name);
			pv_error_release(err);
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

/* The port reads EOF while no host end is connected; wait for one, then serve it. */
static int serve_serial(struct ttrpc_server *srv, pv_error *err)
{
	char dev[300];
	if (find_port(dev, sizeof(dev), err) < 0)
		return -1;
	_cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "open %s", dev);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return pv_error_set(err, errno, "poll %s", dev);
		if (!(p.revents & POLLIN)) {
			/* POLLHUP: no host end yet. Short: a VM restored from a template waits
			 * here for its new host, and every ms is start latency. */
			usleep(2 * 1000);
			continue;
		}
		if (ttrpc_server_serve_fd(srv, fd, err) < 0)
			return -1;
	}
}

static int serve_vsock(struct ttrpc_server *srv, unsigned port, pv_error *err)
{
	_cleanup_close_ int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return pv_error_set(err, errno, "vsock socket");
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY };
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 16) < 0)
		return pv_error_set(err, errno, "vsock listen on port %u", port);
	return ttrpc_server_serve_listener(srv, s, err);
}

int channel_serve(struct ttrpc_server *srv, const char *spec, pv_error *err)
{
	if (spec == NULL || strcmp(spec, "serial") == 0)
		return serve_serial(srv, err);
	unsigned long long port;
	if (pv_str_has_prefix(spec, "vsock:") && pv_parse_u64(spec + 6, &port) == 0 && port < 0xffffffffULL)
		return serve_vsock(srv, (unsigned)port, err);
	return pv_error_set_plain(err, EINVAL, "podvm.channel=%s: unknown channel", spec);
}
