#include "identity.h"
#include "cleanup.h"
#include "network.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/random.h>

#define MAX_SEED 512

/* Credits the host's bytes to the input pool, then forces a CRNG reseed from it: mixing
 * alone would leave the CRNG key cloned from the template until its next scheduled reseed. */
static int reseed_rng(const uint8_t *seed, size_t len, pv_error *err)
{
	if (len == 0)
		return 0;
	if (len > MAX_SEED)
		return pv_error_set_plain(err, EINVAL, "random seed of %zu bytes: at most %d", len, MAX_SEED);
	_cleanup_free_ struct rand_pool_info *info = malloc(sizeof(*info) + len);
	if (info == NULL)
		return pv_error_set(err, ENOMEM, "random seed");
	info->entropy_count = (int)(len * 8);
	info->buf_size = (int)len;
	memcpy(info->buf, seed, len);
	_cleanup_close_ int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "open /dev/urandom");
	if (ioctl(fd, RNDADDENTROPY, info) < 0)
		return pv_error_set(err, errno, "credit random seed");
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		return pv_error_set(err, errno, "reseed the CRNG");
	return 0;
}

static int set_clock(int64_t realtime_ns, pv_error *err)
{
	if (realtime_ns <= 0)
		return 0;
	struct timespec ts = { .tv_sec = realtime_ns / 1000000000, .tv_nsec = realtime_ns % 1000000000 };
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return pv_error_set(err, errno, "set the clock");
	return 0;
}

/* Each NIC from its from_mac to its to_mac, or (back) the other way. */
static int set_macs(const Podvm__Agent__V1__IdentityRequest *req, bool back, pv_error *err)
{
	for (size_t i = 0; i < req->n_nics; i++) {
		const char *from = req->nics[i]->from_mac, *to = req->nics[i]->to_mac;
		if (strcmp(from, to) != 0 && network_set_mac(back ? to : from, back ? from : to, err) < 0)
			return -1;
	}
	return 0;
}

/* The MACs and the network as the request gives them; for a rehearsal, undone after. */
static int apply_network(const Podvm__Agent__V1__IdentityRequest *req, pv_error *err)
{
	if (set_macs(req, false, err) < 0)
		return -1;
	if (req->network && network_configure(req->network, err) < 0)
		return pv_error_prefix(err, "network");
	if (!req->rehearse_network)
		return 0;
	if (req->network && network_unconfigure(req->network, err) < 0)
		return pv_error_prefix(err, "network rehearsal");
	return set_macs(req, true, err);
}

int identity_adopt(const Podvm__Agent__V1__IdentityRequest *req, pv_error *err)
{
	if (reseed_rng(req->random_seed.data, req->random_seed.len, err) < 0 ||
	    set_clock(req->realtime_ns, err) < 0)
		return -1;
	if (req->hostname[0] && sethostname(req->hostname, strlen(req->hostname)) < 0)
		return pv_error_set(err, errno, "hostname %s", req->hostname);
	return apply_network(req, err);
}
