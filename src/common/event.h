/* A flag that one thread sets once and others wait for, with a timeout on the monotonic
 * clock: "start now, or in a few seconds anyway", "stop". */
#pragma once
#include <pthread.h>
#include <stdbool.h>

struct pv_event {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool set;
};

void pv_event_init(struct pv_event *e);
void pv_event_destroy(struct pv_event *e);
void pv_event_set(struct pv_event *e);
/* Waits until the event is set or ms have passed (ms < 0: no limit); whether it is set. */
bool pv_event_wait(struct pv_event *e, int ms);
