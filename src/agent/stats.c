#include "stats.h"
#include "cgroup.h"
#include "cleanup.h"
#include "util.h"
#include "containerd_cgroups_v2_stats_metrics.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads "key value" lines of a cgroup file into the matching fields. */
struct keyed {
	const char *key;
	uint64_t *dst;
};

static char *read_cgroup_file(const char *id, const char *file)
{
	char path[512];
	char *text = NULL;
	snprintf(path, sizeof(path), CGROUP_ROOT "/podvm/%s/%s", id, file);
	if (pv_read_file(path, 1 << 20, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}

static void read_keyed(const char *id, const char *file, const struct keyed *k, size_t n)
{
	_cleanup_free_ char *text = read_cgroup_file(id, file);
	char *save = NULL;
	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		for (size_t i = 0; i < n; i++)
			if (strcmp(line, k[i].key) == 0)
				*k[i].dst = strtoull(sp + 1, NULL, 10);
	}
}

/* A single number, or "max" (as the limit of an unlimited resource: 0 here). */
static uint64_t read_value(const char *id, const char *file)
{
	_cleanup_free_ char *text = read_cgroup_file(id, file);
	return text && strncmp(text, "max", 3) != 0 ? strtoull(text, NULL, 10) : 0;
}

static void collect_cpu(const char *id, Io__Containerd__Cgroups__V2__CPUStat *c)
{
	const struct keyed k[] = {
		{ "usage_usec", &c->usage_usec }, { "user_usec", &c->user_usec },
		{ "system_usec", &c->system_usec }, { "nr_periods", &c->nr_periods },
		{ "nr_throttled", &c->nr_throttled }, { "throttled_usec", &c->throttled_usec },
	};
	read_keyed(id, "cpu.stat", k, sizeof(k) / sizeof(*k));
}

static void collect_memory(const char *id, Io__Containerd__Cgroups__V2__MemoryStat *m)
{
	const struct keyed k[] = {
		{ "anon", &m->anon }, { "file", &m->file }, { "kernel_stack", &m->kernel_stack },
		{ "slab", &m->slab }, { "sock", &m->sock }, { "shmem", &m->shmem },
		{ "file_mapped", &m->file_mapped }, { "file_dirty", &m->file_dirty },
		{ "inactive_anon", &m->inactive_anon }, { "active_anon", &m->active_anon },
		{ "inactive_file", &m->inactive_file }, { "active_file", &m->active_file },
		{ "unevictable", &m->unevictable }, { "pgfault", &m->pgfault },
		{ "pgmajfault", &m->pgmajfault },
	};
	read_keyed(id, "memory.stat", k, sizeof(k) / sizeof(*k));
	m->usage = read_value(id, "memory.current");
	m->usage_limit = read_value(id, "memory.max");
	m->swap_usage = read_value(id, "memory.swap.current");
	m->swap_limit = read_value(id, "memory.swap.max");
}

static void collect_events(const char *id, Io__Containerd__Cgroups__V2__MemoryEvents *e)
{
	const struct keyed k[] = {
		{ "low", &e->low }, { "high", &e->high }, { "max", &e->max },
		{ "oom", &e->oom }, { "oom_kill", &e->oom_kill },
	};
	read_keyed(id, "memory.events", k, sizeof(k) / sizeof(*k));
}

int stats_collect(const char *id, uint8_t **buf, size_t *len, pv_error *err)
{
	char path[512];
	snprintf(path, sizeof(path), CGROUP_ROOT "/podvm/%s", id);
	if (access(path, F_OK) < 0)
		return pv_error_set(err, errno, "container %s: cgroup", id);
	Io__Containerd__Cgroups__V2__Metrics m = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
	Io__Containerd__Cgroups__V2__PidsStat pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
	Io__Containerd__Cgroups__V2__CPUStat cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
	Io__Containerd__Cgroups__V2__MemoryStat mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
	Io__Containerd__Cgroups__V2__MemoryEvents ev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
	pids.current = read_value(id, "pids.current");
	pids.limit = read_value(id, "pids.max");
	collect_cpu(id, &cpu);
	collect_memory(id, &mem);
	collect_events(id, &ev);
	m.pids = &pids;
	m.cpu = &cpu;
	m.memory = &mem;
	m.memory_events = &ev;
	*len = io__containerd__cgroups__v2__metrics__get_packed_size(&m);
	*buf = malloc(*len ? *len : 1);
	if (*buf == NULL)
		return pv_error_set(err, ENOMEM, "stats");
	io__containerd__cgroups__v2__metrics__pack(&m, *buf);
	return 0;
}

uint64_t stats_oom_kills(const char *id)
{
	Io__Containerd__Cgroups__V2__MemoryEvents ev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
	collect_events(id, &ev);
	return ev.oom_kill;
}

/* ---- OOM kills ---- */

#define OOM_POLL_MS 200
#define OOM_SEEN_MAX 256

struct oom_seen {
	char id[256 + 1];
	uint64_t kills;
};

static pthread_mutex_t oom_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t oom_cond = PTHREAD_COND_INITIALIZER;
static char *oom_queue[64];
static size_t oom_head, oom_tail;

static void oom_push(const char *id)
{
	pthread_mutex_lock(&oom_lock);
	if (oom_tail - oom_head < sizeof(oom_queue) / sizeof(*oom_queue)) {
		oom_queue[oom_tail % 64] = strdup(id);
		oom_tail++;
		pthread_cond_broadcast(&oom_cond);
	}
	pthread_mutex_unlock(&oom_lock);
}

char *oom_wait_event(void)
{
	pthread_mutex_lock(&oom_lock);
	while (oom_head == oom_tail)
		pthread_cond_wait(&oom_cond, &oom_lock);
	char *id = oom_queue[oom_head % 64];
	oom_head++;
	pthread_mutex_unlock(&oom_lock);
	return id;
}

static struct oom_seen *seen_slot(struct oom_seen *seen, size_t *n, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(seen[i].id, id) == 0)
			return &seen[i];
	if (*n == OOM_SEEN_MAX)
		*n = 0;  /* forget the oldest generation rather than grow */
	struct oom_seen *s = &seen[(*n)++];
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->kills = 0;
	return s;
}

/* memory.events could be watched with inotify; a poll keeps this simple and cheap. */
static void *oom_main(void *arg)
{
	(void)arg;
	static struct oom_seen seen[OOM_SEEN_MAX];
	size_t n = 0;
	for (;;) {
		usleep(OOM_POLL_MS * 1000);
		DIR *d = opendir(CGROUP_ROOT "/podvm");
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || de->d_type != DT_DIR)
				continue;
			Io__Containerd__Cgroups__V2__MemoryEvents ev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
			collect_events(de->d_name, &ev);
			struct oom_seen *s = seen_slot(seen, &n, de->d_name);
			if (ev.oom_kill > s->kills)
				oom_push(de->d_name);
			s->kills = ev.oom_kill;
		}
		if (d)
			closedir(d);
	}
	return NULL;
}

int oom_watch_start(pv_error *err)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, oom_main, NULL);
	if (r != 0)
		return pv_error_set(err, r, "OOM watcher");
	pthread_detach(t);
	return 0;
}
