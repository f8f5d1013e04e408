/* One error type for all of podvm: an errno plus a one-line message naming the thing at
 * fault. Functions fill it and return a negative value; callers add context with
 * pv_error_prefix(); only the top level prints it (see ../shared/STYLE.md). */
#pragma once
#include <stdarg.h>

struct pv_error_s {
	int errnum;   /* errno value; 0 when the failure has no errno */
	char *msg;
};
typedef struct pv_error_s *pv_error;

/* Sets *err (if still unset) to "fmt...[: strerror(errnum)]". Returns -errnum, or -1 when
 * errnum is 0, so that `return pv_error_set(err, errno, "open %s", p);` reads naturally. */
int pv_error_set(pv_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like pv_error_set but without appending strerror(errnum) to the message. */
int pv_error_set_plain(pv_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepends "fmt...: " to the message of *err and returns its negative code. */
int pv_error_prefix(pv_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The negative return value an error stands for. */
int pv_error_code(pv_error err);
void pv_error_release(pv_error *err);
/* Writes "prog: message\n" to stderr and releases the error. */
void pv_error_print(const char *prog, pv_error *err);

/* Something the user should know that is not a failure (a broken VM template replaced by a
 * cold boot): goes to the warning handler, by default "podvm: warning: ..." on stderr. */
void pv_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pv_set_warning_handler(void (*handler)(const char *msg));
