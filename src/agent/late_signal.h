/* A signal to a container's init that the init cannot take yet. The init is PID 1 of its
 * PID namespace: the kernel drops a signal it has no handler for (SIGKILL aside). Right
 * after its exec it has had no time to install one; under runc that moment is a fraction
 * of a millisecond, under TCG emulation it is tens, and kubelet's StopContainer lands in
 * it when a pod is deleted while it starts. So a signal the init neither catches nor
 * ignores, sent within LATE_SIGNAL_WINDOW_MS of its exec, is sent again as soon as the init
 * catches it (or until the window ends: then it is dropped, as it would be under runc). */
#pragma once
#include <sys/types.h>

#define LATE_SIGNAL_WINDOW_MS 2000

/* After sig was sent to pid, an init that exec'd at exec_ms (pv_now_ms()): resends it once
 * the process catches it, from a thread of its own, if it did not catch it now. */
void late_signal_watch(pid_t pid, int sig, long long exec_ms);
