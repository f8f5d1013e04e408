/* A sandbox's life outside its boot: state directory, shares, stop and removal. How its
 * VM starts is sandbox_boot.c's (see sandbox-internal.h). */
#include "sandbox.h"
#include "sandbox-internal.h"
#include "cleanup.h"
#include "mounts.h"
#include "net/net_record.h"
#include "owner.h"
#include "util.h"
#include "vmm/qemu.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A sandbox's state dir whose owner is gone: it and its data dir go. */
static void gc_state(const struct pv_paths *paths, const char *name)
{
	_cleanup_free_ char *state = NULL, *data = NULL;
	if (asprintf(&state, "%s/%s", paths->state_root, name) < 0 || pv_owner_alive(state) ||
	    asprintf(&data, "%s/%s", paths->data_root, name) < 0)
		return;
	pv_unmount_below(data);  /* what its share carried in */
	(void)pv_rm_rf(data, NULL);
	pv_net_record_take_down(state);  /* a `podvm run --network`'s: CNI DEL, its namespace */
	(void)pv_rm_rf(state, NULL);
}

/* A data dir without a state dir (its owner died before making it, or after removing it)
 * whose owner is gone. */
static void gc_data(const struct pv_paths *paths, const char *name)
{
	_cleanup_free_ char *state = NULL, *data = NULL;
	if (asprintf(&state, "%s/%s", paths->state_root, name) < 0 || access(state, F_OK) == 0 ||
	    asprintf(&data, "%s/%s", paths->data_root, name) < 0 || pv_owner_alive(data))
		return;
	pv_unmount_below(data);
	(void)pv_rm_rf(data, NULL);
}

static void gc_dir(const struct pv_paths *paths, const char *root,
		   void (*fn)(const struct pv_paths *, const char *))
{
	DIR *d = opendir(root);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			fn(paths, de->d_name);
	closedir(d);
}

void pv_sandbox_gc(const struct pv_paths *paths)
{
	gc_dir(paths, paths->state_root, gc_state);
	gc_dir(paths, paths->data_root, gc_data);
}

int pv_sandbox_new(const struct pv_paths *paths, const char *id, struct pv_sandbox **out, pv_error *err)
{
	struct pv_sandbox *sb = calloc(1, sizeof(*sb));
	if (sb == NULL || (sb->id = strdup(id)) == NULL ||
	    asprintf(&sb->state_dir, "%s/%s", paths->state_root, id) < 0) {
		if (sb)
			free(sb->id);
		free(sb);
		return pv_error_set(err, ENOMEM, "sandbox %s", id);
	}
	sb->paths = paths;
	sb->debug = getenv("PODVM_DEBUG") != NULL;
	if (pv_vm_check_state_dir(sb->state_dir, err) < 0 || pv_mkdir_p(paths->state_root, 0711, err) < 0 ||
	    mkdir(sb->state_dir, 0700) < 0) {
		if (*err == NULL)
			pv_error_set(err, errno, "state directory %s", sb->state_dir);
		free(sb->state_dir);
		free(sb->id);
		free(sb);
		return -1;
	}
	if (pv_owner_write(sb->state_dir, err) < 0) {
		pv_sandbox_destroy(sb);
		return -1;
	}
	*out = sb;
	return 0;
}

int pv_sandbox_add_share(struct pv_sandbox *sb, const char *tag, const char *host_path,
			 bool readonly, pv_error *err)
{
	struct share *ns = realloc(sb->shares, (sb->n_shares + 1) * sizeof(*ns));
	if (ns == NULL)
		return pv_error_set(err, ENOMEM, "share %s", tag);
	sb->shares = ns;
	struct share *s = &ns[sb->n_shares];
	s->tag = strdup(tag);
	s->host_path = strdup(host_path);
	s->readonly = readonly;
	if (s->tag == NULL || s->host_path == NULL) {
		free(s->tag);
		free(s->host_path);
		return pv_error_set(err, ENOMEM, "share %s", tag);
	}
	sb->n_shares++;
	return 0;
}

bool pv_sandbox_restored(struct pv_sandbox *sb)
{
	return sb->restored;
}

bool pv_sandbox_pooled(struct pv_sandbox *sb)
{
	return sb->pooled;
}

struct ttrpc_client *pv_sandbox_agent(struct pv_sandbox *sb)
{
	return sb->agent;
}

int pv_sandbox_explain_failure(struct pv_sandbox *sb, pv_error *err)
{
	if (atomic_load(&sb->hung)) {
		pv_error_release(err);
		return pv_error_set_plain(err, ECHILD, "sandbox %s: the guest stopped answering (no answer from its agent "
					  "for %d s); its VM was killed", sb->id, sb->agent_timeout_s);
	}
	/* A dying VMM closes its sockets a moment before it can be reaped: a lost connection
	 * gets that moment; an error the agent answered needs none. */
	int e = *err ? (*err)->errnum : 0;
	bool lost = e == ECONNRESET || e == EPIPE || e == ETIMEDOUT;
	/* Its VM runs on, but its agent hung up, went silent or broke the protocol (the
	 * ttrpc client gave up on it, or an answer did not decode): the guest is at fault. */
	if (!pv_vm_wait_exit(&sb->vm, lost ? 1000 : 0))
		return lost || e == EPROTO || e == EBADMSG ? pv_error_prefix(err, "sandbox %s: guest agent", sb->id) : 0;
	char how[64], line[300];
	pv_vm_describe_exit(&sb->vm, how, sizeof(how));
	pv_vm_last_line(sb->vm.log_path, line, sizeof(line));
	pv_error_release(err);
	return pv_error_set_plain(err, ECHILD, "sandbox %s: VMM exited (%s)%s%s", sb->id, how,
				  line[0] ? ": " : "", line);
}

const char *pv_sandbox_state_dir(struct pv_sandbox *sb)
{
	return sb->state_dir;
}

void pv_sandbox_kill(struct pv_sandbox *sb)
{
	pv_vm_kill(&sb->vm);
}

static void dump_console(struct pv_sandbox *sb)
{
	_cleanup_free_ char *text = NULL;
	if (sb->vm.console_path && pv_read_file(sb->vm.console_path, 1 << 20, &text, NULL, NULL) == 0)
		fprintf(stderr, "---- guest console (%s) ----\n%s---- end of guest console ----\n", sb->id, text);
}

void pv_sandbox_stop(struct pv_sandbox *sb)
{
	sandbox_watchdog_stop(sb);
	pv_vm_stop(&sb->vm);
	sandbox_leave_cgroup(sb);
}

void sandbox_release(struct pv_sandbox *sb)
{
	if (sb == NULL)
		return;
	sandbox_watchdog_stop(sb);
	sandbox_finish_pool_refill(sb);
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	pv_vm_clear(&sb->vm);
	for (size_t i = 0; i < sb->n_shares; i++) {
		free(sb->shares[i].tag);
		free(sb->shares[i].host_path);
	}
	free(sb->shares);
	free(sb->cgroup);
	free(sb->state_dir);
	free(sb->id);
	free(sb);
}

void pv_sandbox_destroy(struct pv_sandbox *sb)
{
	if (sb == NULL)
		return;
	sandbox_watchdog_stop(sb);  /* it uses the agent connection freed below */
	pv_vm_stop(&sb->vm);
	sandbox_leave_cgroup(sb);
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	if (sb->debug)
		dump_console(sb);
	(void)pv_rm_rf(sb->state_dir, NULL);
	sandbox_release(sb);
}
