/* Building the container's filesystem view inside its new mount namespace. */
#pragma once
#include <stddef.h>
#include "spec.h"

/* Makes mounts private, binds the rootfs, applies the spec's mounts (paths resolved inside
 * the rootfs, symlinks followed without escaping it), fills a tmpfs /dev, pivots into the
 * rootfs, then applies sysctls, masked and read-only paths. console_path, if set, is bound
 * over /dev/console. On failure returns -errno and writes a message into msg. Runs in the
 * cloned child: syscalls and stack buffers only. */
int rootfs_setup(const struct spec *s, const char *console_path, char *msg, size_t msglen);
