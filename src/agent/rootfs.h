/* Building the container's filesystem view inside its new mount namespace. */
#pragma once
#include <stddef.h>
#include "spec.h"

/* Makes mounts private, binds the rootfs, applies the spec's mounts (paths resolved inside
 * the rootfs, symlinks followed without escaping it), fills a tmpfs /dev, pivots into the
 * rootfs, then applies sysctls, masked and read-only paths. On failure returns -errno and
 * writes a message into msg. Runs in the cloned child: syscalls and stack buffers only. */
int rootfs_setup(const struct spec *s, char *msg, size_t msglen);
/* After the pivot: binds the terminal at pts_path over /dev/console. */
int rootfs_bind_console(const char *pts_path);
