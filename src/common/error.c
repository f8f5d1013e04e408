#include "error.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int code_for(int errnum)
{
	return errnum > 0 ? -errnum : -1;
}

static char *format_message(int errnum, int with_strerror, const char *fmt, va_list ap)
{
	char *msg = NULL, *full = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return NULL;
	if (!with_strerror || errnum <= 0)
		return msg;
	if (asprintf(&full, "%s: %s", msg, strerror(errnum)) < 0)
		full = NULL;
	free(msg);
	return full;
}

static int error_setv(pv_error *err, int errnum, int with_strerror, const char *fmt, va_list ap)
{
	if (err == NULL || *err != NULL)
		return code_for(errnum);
	struct pv_error_s *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return code_for(errnum);
	e->errnum = errnum;
	e->msg = format_message(errnum, with_strerror, fmt, ap);
	*err = e;
	return code_for(errnum);
}

int pv_error_set(pv_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_setv(err, errnum, 1, fmt, ap);
	va_end(ap);
	return r;
}

int pv_error_set_plain(pv_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_setv(err, errnum, 0, fmt, ap);
	va_end(ap);
	return r;
}

int pv_error_prefix(pv_error *err, const char *fmt, ...)
{
	if (err == NULL || *err == NULL)
		return -1;
	char *prefix = NULL, *full = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&prefix, fmt, ap);
	va_end(ap);
	if (n >= 0 && asprintf(&full, "%s: %s", prefix, (*err)->msg ? (*err)->msg : "error") >= 0) {
		free((*err)->msg);
		(*err)->msg = full;
	}
	if (n >= 0)
		free(prefix);
	return pv_error_code(*err);
}

int pv_error_code(pv_error err)
{
	return err ? code_for(err->errnum) : 0;
}

void pv_error_release(pv_error *err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}

void pv_error_print(const char *prog, pv_error *err)
{
	if (err && *err)
		fprintf(stderr, "%s: %s\n", prog, (*err)->msg ? (*err)->msg : "unknown error");
	else
		fprintf(stderr, "%s: unknown error\n", prog);
	pv_error_release(err);
}

static void warn_to_stderr(const char *msg)
{
	fprintf(stderr, "podvm: warning: %s\n", msg);
}

static void (*warning_handler)(const char *msg) = warn_to_stderr;

void pv_set_warning_handler(void (*handler)(const char *msg))
{
	warning_handler = handler ? handler : warn_to_stderr;
}

void pv_warning(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warning_handler(msg);
}
