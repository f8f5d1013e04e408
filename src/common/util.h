/* Small helpers shared by every component: whole-buffer I/O, files, string vectors. */
#pragma once
#include <dirent.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"

/* write()/read() until done, retrying on EINTR and short counts. read_full returns the
 * number of bytes read (less than len only at EOF). Both return -errno on failure. */
ssize_t pv_write_all(int fd, const void *buf, size_t len);
ssize_t pv_read_full(int fd, void *buf, size_t len);

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
int pv_read_file(const char *path, size_t max, char **out, size_t *len, pv_error *err);
/* Reads a whole fd (at most max bytes) into a NUL-terminated buffer. */
int pv_read_fd(int fd, size_t max, char **out, size_t *len, pv_error *err);
/* Creates or truncates path with mode and writes data. */
int pv_write_file(const char *path, const void *data, size_t len, mode_t mode, pv_error *err);
/* The same, atomically: a reader sees the old file or all of the new one, never a part (a
 * temporary file beside path, synced, renamed over it). */
int pv_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, pv_error *err);

/* Connects a stream socket (close-on-exec) to a unix socket path. Returns the fd, or a
 * negative value with *err set ("connect PATH: ..."; errnum is connect's errno). */
int pv_unix_connect(const char *path, pv_error *err);
/* A listening unix stream socket at path (a stale one there is removed first); the fd, or
 * a negative value with *err set ("listen on PATH: ..."). */
int pv_unix_listen(const char *path, int backlog, bool cloexec, pv_error *err);

/* mkdir -p with mode for the created components. */
int pv_mkdir_p(const char *path, mode_t mode, pv_error *err);
/* rm -rf without crossing mount points (bind mounts included: EBUSY) or following symlinks.
 * Missing path is success. */
int pv_rm_rf(const char *path, pv_error *err);
/* Same, relative to a directory fd. */
int pv_rm_rf_at(int dirfd, const char *name, pv_error *err);
/* A directory stream over a copy of dirfd (which stays open and the caller's): NULL with
 * errno set on failure. */
DIR *pv_opendir_dup(int dirfd);

/* String vectors (NULL-terminated arrays of malloc'd strings). */
size_t pv_strv_len(char *const *v);
int pv_strv_push(char ***v, const char *s);      /* copies s; -ENOMEM on failure */
char **pv_strv_dup(char *const *v);
/* For KEY=VALUE vectors: replaces the entry with the same KEY, or appends. */
int pv_env_set(char ***env, const char *kv);
const char *pv_env_get(char *const *env, const char *key);

bool pv_str_has_prefix(const char *s, const char *prefix);
/* Whether path is dir or lies below it, component-wise ("/a/bc" is not below "/a/b"). */
bool pv_path_within(const char *path, const char *dir);
/* Copies in to out (size >= 4) as one line: tabs and line breaks become spaces, other
 * control characters (a terminal escape) '?', and what does not fit "...". For text from
 * an untrusted source (a guest) on its way to a log or a terminal. */
void pv_one_line(const char *in, char *out, size_t size);
/* Parses a base-10 unsigned integer that must span the whole string. */
int pv_parse_u64(const char *s, unsigned long long *out);
/* Opens (creating) dir/name and takes an exclusive flock on it, waiting for it: the fd to
 * close. `what` names the lock in errors. */
int pv_lock_file(const char *dir, const char *name, const char *what, pv_error *err);
/* "what=PATH:SIZE:MTIME:INODE": changes when the file is replaced or rewritten (for cache
 * keys: templates, the accelerator verdict). */
int pv_file_identity(const char *what, const char *path, char **out, pv_error *err);
/* 16 hex digits naming s (FNV-1a 64): for file names of cache entries whose full key is
 * kept inside them to settle collisions. */
void pv_hash_hex(const char *s, char out[17]);
/* In a child between fork and exec: no signal blocked, SIGPIPE back to its default (podvm
 * ignores it; that would be inherited across exec). Async-signal-safe. */
void pv_child_reset_signals(void);
/* A process's start time (/proc/PID/stat field 22, clock ticks after boot); -ESRCH when it
 * is gone or a zombie. */
int pv_process_starttime(pid_t pid, unsigned long long *ticks);
/* Like pv_lock_file, but does not wait: -EWOULDBLOCK (no error set) when another holds it. */
int pv_try_lock_file(const char *dir, const char *name, const char *what, pv_error *err);
/* Monotonic clock in milliseconds. */
long long pv_now_ms(void);
/* Big-endian 32-bit integers in wire formats (ttrpc frames, swtpm's control channel,
 * QEMU's migration stream). */
void pv_put_be32(uint8_t *p, uint32_t v);
uint32_t pv_get_be32(const uint8_t *p);
/* Random lower-case hex id of 2*bytes characters, from getrandom(). */
int pv_random_hex(char *out, size_t bytes);
/* Lower-case hex: encode writes 2*len digits and a NUL; decode takes exactly 2*out_len
 * lower-case digits (-EINVAL otherwise). */
void pv_hex_encode(const uint8_t *in, size_t len, char *out);
int pv_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);
