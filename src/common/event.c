#include "event.h"

#include <errno.h>
#include <time.h>

void pv_event_init(struct pv_event *e)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&e->lock, NULL);
	e->set = false;
}

void pv_event_destroy(struct pv_event *e)
{
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
}

void pv_event_set(struct pv_event *e)
{
	pthread_mutex_lock(&e->lock);
	e->set = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

bool pv_event_wait(struct pv_event *e, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->lock);
	int r = 0;
	while (!e->set && r != ETIMEDOUT)
		r = ms < 0 ? pthread_cond_wait(&e->cond, &e->lock) : pthread_cond_timedwait(&e->cond, &e->lock, &until);
	bool set = e->set;
	pthread_mutex_unlock(&e->lock);
	return set;
}
