/* containerd.task.v2.Task over ttrpc: decoding, state checks, replies. */
#include "shim.h"
#include "agent_client.h"
#include "attest.h"
#include "cleanup.h"
#include "events.h"
#include "pod.h"
#include "agent.pb-c.h"
#include "rootfs.h"
#include "task.h"
#include "ttrpc.h"
#include "util.h"
#include "containerd_containerd_runtime_v2_task_shim.pb-c.h"
#include "containerd_containerd_api_events_task.pb-c.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERVICE "containerd.task.v2.Task"

/* The pod lives from serve until its last task is deleted. Every call runs inside a "use"
 * of it (the methods table wraps each handler: GUARDED), and a pod let go (pod_gone) is
 * destroyed by the last call out, so a handler's `pod` never goes away under it. */
static struct pod *pod;
static bool pod_gone;
static int pod_uses;
static const char *pod_id;
static struct ttrpc_server *server;

static void pod_enter(void)
{
	tasks_lock();
	pod_uses++;
	tasks_unlock();
}

static void pod_leave(void)
{
	tasks_lock();
	struct pod *last = --pod_uses == 0 && pod_gone ? pod : NULL;
	if (last)
		pod = NULL;
	tasks_unlock();
	pod_destroy(last);
}

#define GUARDED(fn) \
	static int fn##_guarded(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err) \
	{ \
		pod_enter(); \
		int r = fn(ctx, msg, reply, err); \
		pod_leave(); \
		return r; \
	}

static int reply_empty(struct ttrpc_reply *reply)
{
	Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
	return ttrpc_reply_set(reply, &e.base);
}

/* Finds the process; *err says which is missing. Call with the lock held. */
static struct proc *find_locked(const char *id, const char *exec_id, struct task **t, pv_error *err)
{
	*t = tasks_find_locked(id);
	if (*t == NULL) {
		pv_error_set_plain(err, ENOENT, "container %s: not found", id);
		return NULL;
	}
	struct proc *p = task_proc_locked(*t, exec_id);
	if (p == NULL)
		pv_error_set_plain(err, ENOENT, "exec %s in container %s: not found", exec_id, id);
	return p;
}

static int agent_failed(pv_error *err)
{
	(void)pod_explain_failure(pod, err);
	return -1;
}

/* ---- Create ---- */

static char *netns_path_of(json_t *spec)
{
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(json_object_get(spec, "linux"), "namespaces"), i, n) {
		const char *type = json_string_value(json_object_get(n, "type"));
		const char *path = json_string_value(json_object_get(n, "path"));
		if (type && path && *path && strcmp(type, "network") == 0)
			return strdup(path);
	}
	return NULL;
}

static const char *annotation(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(json_object_get(spec, "annotations"), key));
}

/* A whole, non-negative decimal annotation; 0 when absent or not one. */
static unsigned long long annotation_u64(json_t *spec, const char *key)
{
	const char *v = annotation(spec, key);
	unsigned long long n = 0;
	return v && pv_parse_u64(v, &n) == 0 ? n : 0;
}

/* containerd's CRI puts the pod's resources on the sandbox as annotations. */
static struct pod_resources pod_resources_of(json_t *spec)
{
	unsigned long long quota = annotation_u64(spec, "io.kubernetes.cri.sandbox-cpu-quota");
	unsigned long long period = annotation_u64(spec, "io.kubernetes.cri.sandbox-cpu-period");
	struct pod_resources r = { .memory = annotation_u64(spec, "io.kubernetes.cri.sandbox-memory") };
	if (quota > 0 && period > 0)
		r.cpus = (double)quota / (double)period;  /* bounded by pv_vm_size */
	return r;
}

static struct task *task_new(const Containerd__Task__V2__CreateTaskRequest *req)
{
	struct task *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->id = strdup(req->id);
	t->bundle = strdup(req->bundle);
	t->init.exec_id = strdup("");
	t->init.stdin_path = strdup(req->stdin);
	t->init.stdout_path = strdup(req->stdout);
	t->init.stderr_path = strdup(req->stderr);
	t->init.terminal = req->terminal;
	t->init.state = PROC_CREATED;
	t->init.io.in_fd = t->init.io.out_fd = t->init.io.err_fd = -1;
	if (!t->id || !t->bundle || !t->init.exec_id || !t->init.stdin_path || !t->init.stdout_path || !t->init.stderr_path) {
		task_free(t);
		return NULL;
	}
	return t;
}

static int create_in_guest(struct task *t, const Containerd__Task__V2__CreateTaskRequest *req, json_t *spec,
			   pv_error *err)
{
	if (attest_add_secrets_mount(pod, t->cri_sandbox, spec, err) < 0)
		return -1;
	_cleanup_free_ char *json = json_dumps(spec, JSON_COMPACT);
	if (json == NULL)
		return pv_error_set(err, ENOMEM, "config.json");
	if (attest_record_container(pod, t->id, req->rootfs, req->n_rootfs, t->bundle, json, err) < 0)
		return -1;
	struct pv_agent_share share = { POD_SHARE_TAG, "9p", false };
	if (pv_agent_create(pod_agent(pod), t->id, json, &share, 1, t->init.stdin_path[0] != '\0',
			    &t->init.pid, err) < 0)
		return agent_failed(err);
	return 0;
}

static void publish_create(struct task *t, const Containerd__Task__V2__CreateTaskRequest *req)
{
	Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	io.stdin = req->stdin;
	io.stdout = req->stdout;
	io.stderr = req->stderr;
	io.terminal = req->terminal;
	ev.container_id = t->id;
	ev.bundle = t->bundle;
	ev.n_rootfs = req->n_rootfs;
	ev.rootfs = req->rootfs;
	ev.io = &io;
	ev.pid = (uint32_t)t->init.pid;
	events_publish("/tasks/create", "containerd.events.TaskCreate", &ev.base);
}

/* From the pod's monitor thread, which may outlive the global `pod` (pod_leave): all it
 * needs comes in the arguments. */
static void attestation_failed(const char *id, const char *mode, const char *finding, bool stopping)
{
	attest_publish_failure(id, NULL, mode, finding, stopping ? "stopped the pod's VM" : "reported");
}

static const struct pod_hooks pod_hooks = { .oom = task_publish_oom, .attestation_failed = attestation_failed };

static int create_task(const Containerd__Task__V2__CreateTaskRequest *req, struct task *t, pv_error *err)
{
	json_t *spec = shim_read_spec(req->bundle, err);
	if (spec == NULL)
		return -1;
	/* The sandbox brings the pod's network namespace (CNI's): it becomes the VM's NIC; and
	 * its cgroup (where runc would put the pause process): the VMM joins it. */
	bool sandbox = strcmp(t->id, pod_id) == 0;
	_cleanup_free_ char *netns = sandbox ? netns_path_of(spec) : NULL;
	const char *cgroup = sandbox ? shim_spec_cgroups_path(spec) : NULL;
	struct pod_resources res = pod_resources_of(spec);
	const char *type = annotation(spec, ANNOTATION_CONTAINER_TYPE);
	t->cri_sandbox = type && strcmp(type, "sandbox") == 0;
	int r = shim_spec_check(spec, type != NULL, sandbox, err);
	if (r == 0)
		r = pod_boot(pod, netns, cgroup, &res, &pod_hooks, err);
	if (r == 0)
		r = container_fs_setup(t->id, t->bundle, req->rootfs, req->n_rootfs, pod_shared_dir(pod),
				       pod_id, spec, &t->fs, err);
	if (r == 0)
		r = create_in_guest(t, req, spec, err);
	json_decref(spec);
	if (r == 0)
		r = proc_open_io(&t->init, pod_agent(pod), t->id, err);
	if (r == 0)
		r = proc_start_waiter(&t->init, t, err);
	return r;
}

static int handle_create(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__CreateTaskRequest *req = (const void *)msg;
	tasks_lock();
	bool exists = tasks_find_locked(req->id) != NULL;
	tasks_unlock();
	if (exists)
		return pv_error_set_plain(err, EEXIST, "container %s: already exists", req->id);
	if (req->checkpoint && *req->checkpoint)
		return pv_error_set_plain(err, ENOSYS, "container %s: checkpoint/restore is not supported", req->id);
	tasks_lock();
	bool gone = pod_gone;
	tasks_unlock();
	if (gone)
		return pv_error_set_plain(err, ENOENT, "pod %s: gone with its last container", pod_id);
	struct task *t = task_new(req);
	if (t == NULL)
		return pv_error_set(err, ENOMEM, "container %s", req->id);
	if (create_task(req, t, err) < 0) {
		if (t->init.pid > 0)
			(void)pv_agent_remove(pod_agent(pod), t->id, NULL);
		/* The removal ends the process and its streams: let the threads see it. */
		if (t->init.waiter_started)
			proc_wait_stopped(&t->init);
		else if (t->init.io_started)
			pv_io_finish(&t->init.io);
		container_fs_teardown(&t->fs);
		task_free(t);
		return pv_error_prefix(err, "create %s", req->id);
	}
	tasks_lock();
	tasks_add_locked(t);
	tasks_unlock();
	publish_create(t, req);
	Containerd__Task__V2__CreateTaskResponse resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	resp.pid = (uint32_t)t->init.pid;
	return ttrpc_reply_set(reply, &resp.base);
}

/* ---- Start ---- */

/* The agent runs the process at once; its output waits in the guest's pipes until the
 * copying threads attach (they need the process to exist in the agent). */
static int start_exec(struct task *t, struct proc *p, pv_error *err)
{
	if (pv_agent_exec(pod_agent(pod), t->id, p->exec_id, p->process_json, p->stdin_path[0] != '\0',
			  &p->pid, err) < 0)
		return agent_failed(err);
	if (proc_open_io(p, pod_agent(pod), t->id, err) < 0) {
		(void)pv_agent_signal(pod_agent(pod), t->id, p->exec_id, SIGKILL, false, NULL);
		p->io.agent = pod_agent(pod);  /* the waiter still reaps it */
	}
	return proc_start_waiter(p, t, err) < 0 || *err ? -1 : 0;
}

/* Nothing of a container runs before its VM's attestation (when on) has had its say. */
static int start_init(struct task *t, struct proc *p, pv_error *err)
{
	if (attest_before_start(pod, t->id, t->cri_sandbox, err) < 0)
		return agent_failed(err);  /* says so when the VM is gone */
	if (pv_agent_start(pod_agent(pod), t->id, &p->pid, err) < 0)
		return agent_failed(err);
	return 0;
}

/* The status a shell gives a command it could not run: 127 not found, 126 not runnable. */
static int exec_failure_status(pv_error err)
{
	int e = err ? err->errnum : 0;
	return e == ENOENT ? 127 : e == EACCES || e == EPERM || e == ENOEXEC ? 126 : 255;
}

static int handle_start(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__StartRequest *req = (const void *)msg;
	struct task *t;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);
	bool startable = p && p->state == PROC_CREATED;
	tasks_unlock();
	if (p == NULL)
		return -1;
	if (!startable)
		return pv_error_set_plain(err, EBUSY, "%s %s: already started", *req->exec_id ? "exec" : "container",
					  *req->exec_id ? req->exec_id : req->id);
	int r = p == &t->init ? start_init(t, p, err) : start_exec(t, p, err);
	if (r < 0 && p != &t->init && !p->waiter_started) {
		/* An exec that never ran ends now: containerd waits for it before it deletes. */
		tasks_lock();
		proc_set_stopped_locked(p, exec_failure_status(*err));
		tasks_unlock();
	}
	if (r < 0)
		return -1;
	tasks_lock();
	if (p->state == PROC_CREATED)
		p->state = PROC_RUNNING;
	tasks_unlock();
	if (p == &t->init) {
		if (!t->cri_sandbox)
			pod_started(pod);
		Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
		ev.container_id = t->id;
		ev.pid = (uint32_t)p->pid;
		events_publish("/tasks/start", "containerd.events.TaskStart", &ev.base);
	} else {
		Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
		ev.container_id = t->id;
		ev.exec_id = p->exec_id;
		ev.pid = (uint32_t)p->pid;
		events_publish("/tasks/exec-started", "containerd.events.TaskExecStarted", &ev.base);
	}
	Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	resp.pid = (uint32_t)p->pid;
	return ttrpc_reply_set(reply, &resp.base);
}

/* ---- Delete ---- */

/* containerd's Delete of an exec ends it here and in the agent: a pod's probes exec into it
 * every few seconds for days. */
static int delete_exec(struct task *t, struct proc *p, Containerd__Task__V2__DeleteResponse *resp, pv_error *err)
{
	tasks_lock();
	if (p->state == PROC_RUNNING) {
		tasks_unlock();
		return pv_error_set_plain(err, EBUSY, "exec %s: still running", p->exec_id);
	}
	for (struct proc **pp = &t->execs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (p->state == PROC_CREATED)
		proc_set_stopped_locked(p, 255);
	resp->pid = (uint32_t)p->pid;
	resp->exit_status = p->exit_status;
	proc_drain_waits_locked(p);  /* a Wait that found it has its answer: then it goes */
	tasks_unlock();
	if (p->pid > 0 && pod_booted(pod))
		(void)pv_agent_remove_process(pod_agent(pod), t->id, p->exec_id, NULL);
	proc_free_fields(p);
	free(p);
	return 0;
}

/* Concurrent Deletes (containerd handles a dead VM's exits in parallel) must not both
 * let the pod go: the one that finds it empty does, under the lock; the last call out
 * destroys it (pod_leave). */
static void stop_pod_if_empty(void)
{
	tasks_lock();
	if (tasks_empty_locked())
		pod_gone = true;
	tasks_unlock();
}

static int delete_task(struct task *t, Containerd__Task__V2__DeleteResponse *resp, pv_error *err)
{
	tasks_lock();
	bool running = t->init.state == PROC_RUNNING || t->init.state == PROC_PAUSED;
	tasks_unlock();
	if (running)
		return pv_error_set_plain(err, EBUSY, "container %s: still running", t->id);
	if (pod_booted(pod))
		(void)pv_agent_remove(pod_agent(pod), t->id, NULL);  /* kills a created, unstarted init */
	proc_wait_stopped(&t->init);
	tasks_lock();
	tasks_remove_locked(t);
	task_end_waits_locked(t);
	tasks_unlock();
	container_fs_teardown(&t->fs);
	resp->pid = (uint32_t)t->init.pid;
	resp->exit_status = t->init.exit_status;
	Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	Google__Protobuf__Timestamp ts;
	shim_timestamp(&t->init.exited_at, &ts);
	ev.container_id = t->id;
	ev.id = t->id;
	ev.pid = resp->pid;
	ev.exit_status = resp->exit_status;
	ev.exited_at = &ts;
	events_publish("/tasks/delete", "containerd.events.TaskDelete", &ev.base);
	task_free(t);
	stop_pod_if_empty();
	return 0;
}

static int handle_delete(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__DeleteRequest *req = (const void *)msg;
	struct task *t;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);
	struct timespec exited = p ? p->exited_at : (struct timespec){ 0, 0 };
	tasks_unlock();
	if (p == NULL)
		return -1;
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts;
	shim_timestamp(&exited, &ts);
	resp.exited_at = &ts;
	int r = p == &t->init ? delete_task(t, &resp, err) : delete_exec(t, p, &resp, err);
	return r < 0 ? -1 : ttrpc_reply_set(reply, &resp.base);
}

/* ---- Exec ---- */

static int handle_exec(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__ExecProcessRequest *req = (const void *)msg;
	if (req->spec == NULL || req->spec->value.len == 0)
		return pv_error_set_plain(err, EINVAL, "exec %s: no process spec", req->exec_id);
	struct proc *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return pv_error_set(err, ENOMEM, "exec");
	p->exec_id = strdup(req->exec_id);
	p->stdin_path = strdup(req->stdin);
	p->stdout_path = strdup(req->stdout);
	p->stderr_path = strdup(req->stderr);
	p->terminal = req->terminal;
	p->state = PROC_CREATED;
	p->io.in_fd = p->io.out_fd = p->io.err_fd = -1;
	p->process_json = strndup((const char *)req->spec->value.data, req->spec->value.len);
	struct task *t;
	tasks_lock();
	struct proc *dup = find_locked(req->id, req->exec_id, &t, NULL);
	int r = 0;
	if (t == NULL)
		r = pv_error_set_plain(err, ENOENT, "container %s: not found", req->id);
	else if (dup)
		r = pv_error_set_plain(err, EEXIST, "exec %s: already exists", req->exec_id);
	else if (!p->exec_id || !p->stdin_path || !p->stdout_path || !p->stderr_path || !p->process_json)
		r = pv_error_set(err, ENOMEM, "exec");
	if (r == 0) {
		p->next = t->execs;
		t->execs = p;
	}
	tasks_unlock();
	if (r < 0) {
		proc_free_fields(p);
		free(p);
		return -1;
	}
	Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
	ev.container_id = t->id;
	ev.exec_id = p->exec_id;
	events_publish("/tasks/exec-added", "containerd.events.TaskExecAdded", &ev.base);
	return reply_empty(reply);
}

/* ---- State, Wait, Kill, Pids, ResizePty, CloseIO ---- */

static Containerd__V1__Types__Status status_of(enum proc_state s)
{
	switch (s) {
	case PROC_CREATED: return CONTAINERD__V1__TYPES__STATUS__CREATED;
	case PROC_RUNNING: return CONTAINERD__V1__TYPES__STATUS__RUNNING;
	case PROC_STOPPED: return CONTAINERD__V1__TYPES__STATUS__STOPPED;
	case PROC_PAUSED: return CONTAINERD__V1__TYPES__STATUS__PAUSED;
	}
	return CONTAINERD__V1__TYPES__STATUS__UNKNOWN;
}

static int handle_state(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__StateRequest *req = (const void *)msg;
	struct task *t;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);
	int r = -1;
	if (p) {
		Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
		Google__Protobuf__Timestamp ts;
		shim_timestamp(&p->exited_at, &ts);
		resp.id = t->id;
		resp.bundle = t->bundle;
		resp.pid = (uint32_t)p->pid;
		resp.status = status_of(p->state);
		resp.stdin = p->stdin_path;
		resp.stdout = p->stdout_path;
		resp.stderr = p->stderr_path;
		resp.terminal = p->terminal;
		resp.exit_status = p->exit_status;
		resp.exited_at = p->state == PROC_STOPPED ? &ts : NULL;
		resp.exec_id = p->exec_id;
		r = ttrpc_reply_set(reply, &resp.base);
	}
	tasks_unlock();
	return r;
}

static int handle_wait(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__WaitRequest *req = (const void *)msg;
	struct task *t;
	uint32_t status = 0;
	struct timespec exited_at;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);
	/* containerd waits before it starts a process (so as not to miss its exit). */
	if (p)
		proc_wait_exit_locked(p, &status, &exited_at);
	tasks_unlock();
	if (p == NULL)
		return -1;
	Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts;
	shim_timestamp(&exited_at, &ts);
	resp.exit_status = status;
	resp.exited_at = &ts;
	return ttrpc_reply_set(reply, &resp.base);
}

static int handle_kill(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__KillRequest *req = (const void *)msg;
	struct task *t;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);
	bool stopped = p && p->state == PROC_STOPPED;
	bool unstarted_exec = p && p != &t->init && p->state == PROC_CREATED;
	tasks_unlock();
	if (p == NULL)
		return -1;
	if (stopped)
		return pv_error_set_plain(err, ENOENT, "process %s: already finished", *req->exec_id ? req->exec_id : req->id);
	if (unstarted_exec)  /* as runc's shim: a failed precondition */
		return pv_error_set_plain(err, EBUSY, "exec %s: not started", req->exec_id);
	/* `all` is the container's processes: for an exec it means the exec's (runc's shim too). */
	bool all = req->all && *req->exec_id == '\0';
	if (pv_agent_signal(pod_agent(pod), req->id, req->exec_id, (int)req->signal, all, err) < 0)
		return agent_failed(err);
	return reply_empty(reply);
}

static int handle_pids(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__PidsRequest *req = (const void *)msg;
	Containerd__V1__Types__ProcessInfo infos[64], *ptrs[64];
	size_t n = 0;
	tasks_lock();
	struct task *t = tasks_find_locked(req->id);
	for (struct proc *p = t ? &t->init : NULL; p && n < 64; p = p == &t->init ? t->execs : p->next) {
		if (p->pid <= 0 || p->state == PROC_STOPPED)
			continue;
		containerd__v1__types__process_info__init(&infos[n]);
		infos[n].pid = (uint32_t)p->pid;
		ptrs[n] = &infos[n];
		n++;
	}
	tasks_unlock();
	if (t == NULL)
		return pv_error_set_plain(err, ENOENT, "container %s: not found", req->id);
	Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	resp.n_processes = n;
	resp.processes = ptrs;
	return ttrpc_reply_set(reply, &resp.base);
}

static int handle_resize(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__ResizePtyRequest *req = (const void *)msg;
	struct task *t;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);  /* a task: the VM runs */
	tasks_unlock();
	if (p == NULL)
		return -1;
	if (pv_agent_resize(pod_agent(pod), req->id, req->exec_id, req->height, req->width, err) < 0)
		return agent_failed(err);
	return reply_empty(reply);
}

static int handle_close_io(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__CloseIORequest *req = (const void *)msg;
	struct task *t;
	tasks_lock();
	struct proc *p = find_locked(req->id, req->exec_id, &t, err);
	if (p && req->stdin)
		pv_io_close_stdin(&p->io);
	tasks_unlock();
	return p ? reply_empty(reply) : -1;
}

/* ---- Update, Pause, Resume, Stats, OOM ---- */

static bool task_exists(const char *id, pv_error *err)
{
	tasks_lock();
	bool found = tasks_find_locked(id) != NULL;
	tasks_unlock();
	if (!found)
		pv_error_set_plain(err, ENOENT, "container %s: not found", id);
	return found;
}

static int handle_update(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__UpdateTaskRequest *req = (const void *)msg;
	if (!task_exists(req->id, err))
		return -1;
	if (req->resources == NULL || req->resources->value.len == 0)
		return reply_empty(reply);
	/* containerd sends the OCI LinuxResources as JSON inside the Any. */
	_cleanup_free_ char *json = strndup((const char *)req->resources->value.data, req->resources->value.len);
	if (json == NULL)
		return pv_error_set(err, ENOMEM, "update");
	if (pv_agent_update(pod_agent(pod), req->id, json, err) < 0)
		return agent_failed(err);
	return reply_empty(reply);
}

static int pause_or_resume(const char *id, bool pause, struct ttrpc_reply *reply, pv_error *err)
{
	if (!task_exists(id, err))
		return -1;
	if (pv_agent_pause(pod_agent(pod), id, pause, err) < 0)
		return agent_failed(err);
	tasks_lock();
	struct task *t = tasks_find_locked(id);
	if (t && t->init.state != PROC_STOPPED)
		t->init.state = pause ? PROC_PAUSED : PROC_RUNNING;
	tasks_unlock();
	Containerd__Events__TaskPaused paused = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
	Containerd__Events__TaskResumed resumed = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
	paused.container_id = resumed.container_id = (char *)id;
	if (pause)
		events_publish("/tasks/paused", "containerd.events.TaskPaused", &paused.base);
	else
		events_publish("/tasks/resumed", "containerd.events.TaskResumed", &resumed.base);
	return reply_empty(reply);
}

static int handle_pause(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	return pause_or_resume(((const Containerd__Task__V2__PauseRequest *)msg)->id, true, reply, err);
}

static int handle_resume(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	return pause_or_resume(((const Containerd__Task__V2__ResumeRequest *)msg)->id, false, reply, err);
}

static int handle_stats(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__StatsRequest *req = (const void *)msg;
	if (!task_exists(req->id, err))
		return -1;
	_cleanup_free_ uint8_t *metrics = NULL;
	size_t len = 0;
	if (pv_agent_stats(pod_agent(pod), req->id, &metrics, &len, err) < 0)
		return agent_failed(err);
	/* The guest runs cgroup v2: containerd (and CRI) decode this type by its URL. */
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)"io.containerd.cgroups.v2.Metrics";
	any.value.data = metrics;
	any.value.len = len;
	Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	resp.stats = &any;
	return ttrpc_reply_set(reply, &resp.base);
}

/* ---- Connect, Shutdown, and what podvm cannot do yet ---- */

static int handle_connect(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Containerd__Task__V2__ConnectRequest *req = (const void *)msg;
	tasks_lock();
	struct task *t = tasks_find_locked(req->id);
	pid_t pid = t ? t->init.pid : 0;
	tasks_unlock();
	if (t == NULL)
		return pv_error_set_plain(err, ENOENT, "container %s: not found", req->id);
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = (uint32_t)pid;
	resp.version = (char *)PODVM_VERSION;
	return ttrpc_reply_set(reply, &resp.base);
}

static int handle_shutdown(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)msg, (void)err;
	tasks_lock();
	bool empty = tasks_empty_locked();
	tasks_unlock();
	if (empty)
		ttrpc_server_shutdown(server);  /* the reply still goes out before serve returns */
	return reply_empty(reply);
}

static int handle_unsupported(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)reply;
	return pv_error_set_plain(err, ENOSYS, "%s: not supported by podvm yet", msg->descriptor->short_name);
}

/* ---- podvm's own diagnostics (agent.proto service Diagnostics) ---- */

static int handle_agent_status(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)msg;
	if (!pod || !pod_booted(pod))
		return pv_error_set_plain(err, ENOENT, "pod %s: no VM", pod_id);
	ProtobufCMessage *status = NULL;
	if (pv_agent_status(pod_agent(pod), 10000, &status, err) < 0)
		return agent_failed(err);
	int r = ttrpc_reply_set(reply, status);
	protobuf_c_message_free_unpacked(status, NULL);
	return r;
}

GUARDED(handle_agent_status)
GUARDED(handle_state)
GUARDED(handle_create)
GUARDED(handle_start)
GUARDED(handle_delete)
GUARDED(handle_pids)
GUARDED(handle_pause)
GUARDED(handle_resume)
GUARDED(handle_unsupported)
GUARDED(handle_kill)
GUARDED(handle_exec)
GUARDED(handle_resize)
GUARDED(handle_close_io)
GUARDED(handle_update)
GUARDED(handle_wait)
GUARDED(handle_stats)
GUARDED(handle_connect)
GUARDED(handle_shutdown)

#define M(name, desc, fn) { SERVICE, name, &containerd__task__v2__##desc##__descriptor, fn##_guarded }

static const struct ttrpc_method methods[] = {
	M("State", state_request, handle_state),
	M("Create", create_task_request, handle_create),
	M("Start", start_request, handle_start),
	M("Delete", delete_request, handle_delete),
	M("Pids", pids_request, handle_pids),
	M("Pause", pause_request, handle_pause),
	M("Resume", resume_request, handle_resume),
	M("Checkpoint", checkpoint_task_request, handle_unsupported),
	M("Kill", kill_request, handle_kill),
	M("Exec", exec_process_request, handle_exec),
	M("ResizePty", resize_pty_request, handle_resize),
	M("CloseIO", close_iorequest, handle_close_io),
	M("Update", update_task_request, handle_update),
	M("Wait", wait_request, handle_wait),
	M("Stats", stats_request, handle_stats),
	M("Connect", connect_request, handle_connect),
	M("Shutdown", shutdown_request, handle_shutdown),
	{ "podvm.agent.v1.Diagnostics", "AgentStatus", &podvm__agent__v1__empty__descriptor, handle_agent_status_guarded },
};

int shim_serve(const struct shim_opts *o, int listen_fd, pv_error *err)
{
	const char *id = getenv(SHIM_POD_ID_ENV);
	if (id == NULL || *id == '\0')
		return pv_error_set_plain(err, EINVAL, "%s is not set (run by `start`)", SHIM_POD_ID_ENV);
	pod_id = id;
	events_init(o->namespace);
	if (pod_new(id, &pod, err) < 0)
		return -1;
	int r = ttrpc_server_new(methods, sizeof(methods) / sizeof(*methods), NULL, &server, err);
	if (r == 0)
		r = ttrpc_server_serve_listener(server, listen_fd, err);
	_cleanup_free_ char *path = NULL;
	if (shim_socket_path(o->namespace, id, &path, NULL) == 0)
		unlink(path);
	ttrpc_server_free(server);
	if (pod)
		pod_destroy(pod);
	return r;
}
