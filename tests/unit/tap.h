/* A minimal TAP (Test Anything Protocol) producer for the unit tests, read by
 * `meson test` (protocol: 'tap'). Include it from one .c file per test program and call
 * ok() from one thread at a time.
 *
 *	int main(void) {
 *		plan(2);                  // optional: done_testing() prints the plan otherwise
 *		ok(1 + 1 == 2, "adds");
 *		ok(f() == 0, "f: %s", why);
 *		return done_testing();
 *	}
 */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tap_run, tap_failed, tap_planned = -1;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* Prints "# ..." lines, which TAP readers show but do not count. */
static inline __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static inline __attribute__((format(printf, 2, 3))) bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", cond ? "" : "not ", ++tap_run);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);  /* keep order with anything the code under test writes to stderr */
	va_end(ap);
	if (!cond)
		tap_failed++;
	return cond;
}

/* ok() that shows a pv_error's message (read once cond has set it), then releases the
 * error: ok_err(f(&err) == 0, err, "f"). */
#define ok_err(cond, err, fmt, ...)                                                               \
	do {                                                                                      \
		bool cond_ = (cond);                                                              \
		ok(cond_, fmt " (%s)", ##__VA_ARGS__, (err) ? (err)->msg : "no error");           \
		pv_error_release(&(err));                                                         \
	} while (0)

/* Returns the exit status for main: 0 only if every test ran and passed. */
static inline int done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_run != tap_planned)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	if (tap_failed)
		diag("%d of %d tests failed", tap_failed, tap_run);
	fflush(stdout);
	return tap_failed || (tap_planned >= 0 && tap_run != tap_planned) ? 1 : 0;
}
