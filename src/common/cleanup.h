/* Scope-bound cleanup (systemd style) so early returns cannot leak fds or memory. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

static inline void pv_freep(void *p)
{
	free(*(void **)p);
}
static inline void pv_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void pv_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
/* Frees a NULL-terminated array of strings and the array. */
void pv_strv_free(char **v);
static inline void pv_strv_freep(char ***v)
{
	pv_strv_free(*v);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(pv_freep)
#define _cleanup_close_ _cleanup_(pv_closep)
#define _cleanup_fclose_ _cleanup_(pv_fclosep)
#define _cleanup_strv_ _cleanup_(pv_strv_freep)

/* Hands ownership out of a cleanup-scoped variable. */
#define steal_pointer(pp) ({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(pfd) ({ int _fd = *(pfd); *(pfd) = -1; _fd; })
