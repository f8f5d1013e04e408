/* What the agent checks of a request before any handler runs (src/agent/request.c, over
 * network.c's network_check): container ids that must name one file, signal numbers, the
 * MACs, addresses and routes of AdoptIdentity. */
#include "tap.h"
#include "agent.pb-c.h"
#include "identity_fixture.h"
#include "request.h"

#include <errno.h>
#include <string.h>

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

/* request_check's verdict on m: 0, or the errno it refused with (message in *why). */
static int check(const ProtobufCMessage *m, char *why, size_t size)
{
	pv_error err = NULL;
	int r = request_check(m, &err);
	snprintf(why, size, "%s", msg_of(err));
	r = r < 0 ? (err ? err->errnum : -1) : 0;
	pv_error_release(&err);
	return r;
}

static void test_container_ids(void)
{
	static const char *const good[] = {
		"c1", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"my-pod_1.sandbox", "..x", "x..",
	};
	/* Printed as the test's names: control characters as their names, to keep TAP lines whole. */
	static const char *const bad[] = { "", ".", "..", "a/b", "../../..", "/", "a b", "a\nb", "a\x7f" };
	static const char *const bad_names[] = { "", ".", "..", "a/b", "../../..", "/", "a b", "a<LF>b", "a<DEL>" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		ok(request_container_id_valid(good[i]), "container id \"%s\" taken", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(!request_container_id_valid(bad[i]), "container id \"%s\" refused", bad_names[i]);
	char longest[256];
	memset(longest, 'a', sizeof(longest));
	longest[255] = '\0';
	ok(request_container_id_valid(longest), "a container id of 255 bytes taken");
	char too_long[257];
	memset(too_long, 'a', sizeof(too_long));
	too_long[256] = '\0';
	ok(!request_container_id_valid(too_long), "one of 256 bytes refused");
}

/* Every request type with a container_id is checked, whatever its other fields. */
static void test_requests_with_ids(void)
{
	char why[256];
	Podvm__Agent__V1__ContainerRequest c = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	Podvm__Agent__V1__ExecProcessRequest e = PODVM__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	Podvm__Agent__V1__SignalRequest s = PODVM__AGENT__V1__SIGNAL_REQUEST__INIT;
	Podvm__Agent__V1__PortRequest p = PODVM__AGENT__V1__PORT_REQUEST__INIT;
	c.container_id = "c1";
	ok(check(&c.base, why, sizeof(why)) == 0, "ContainerRequest c1: taken (%s)", why);
	c.container_id = "..";
	ok(check(&c.base, why, sizeof(why)) == EINVAL && strstr(why, "container id \"..\""),
	   "ContainerRequest \"..\": EINVAL (%s)", why);
	e.container_id = "a/../b";
	ok(check(&e.base, why, sizeof(why)) == EINVAL, "ExecProcessRequest \"a/../b\": EINVAL (%s)", why);
	s.container_id = "";
	s.signal = 9;
	ok(check(&s.base, why, sizeof(why)) == EINVAL, "SignalRequest without an id: EINVAL (%s)", why);
	ok(check(&p.base, why, sizeof(why)) == 0, "a request without a container id: taken");
}

static void test_signals(void)
{
	char why[256];
	Podvm__Agent__V1__SignalRequest s = PODVM__AGENT__V1__SIGNAL_REQUEST__INIT;
	s.container_id = "c1";
	const unsigned good[] = { 1, 9, 15, 64 }, bad[] = { 0, 65, 4294967295u };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		s.signal = good[i];
		ok(check(&s.base, why, sizeof(why)) == 0, "signal %u taken (%s)", good[i], why);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		s.signal = bad[i];
		ok(check(&s.base, why, sizeof(why)) == EINVAL, "signal %u refused (%s)", bad[i], why);
	}
}

/* The fixture's AdoptIdentity, each field spoiled in turn. */
static void test_identity(void)
{
	char why[256];
	struct identity_fixture f;
	identity_fixture_init(&f);
	ok(check(&f.req.base, why, sizeof(why)) == 0, "identity: a NIC, its addresses and two routes (%s)", why);
	f.nic.to_mac = "52:54:00:ab:cd";
	ok(check(&f.req.base, why, sizeof(why)) == EINVAL, "identity: a short MAC refused (%s)", why);
	f.nic.to_mac = "52:54:00:ab:cd:ef";
	f.ifc.name = "a-name-of-16-chr";
	ok(check(&f.req.base, why, sizeof(why)) == EINVAL, "identity: an interface name too long (%s)", why);
	f.ifc.name = "eth0";
	f.addresses[1] = "fd00::5";
	ok(check(&f.req.base, why, sizeof(why)) == EINVAL && strstr(why, "fd00::5"),
	   "identity: an address without prefix length (%s)", why);
	f.addresses[1] = "fd00::5/64";
	f.deflt.destination = "fd00::/64";
	ok(check(&f.req.base, why, sizeof(why)) == EINVAL, "identity: an IPv4 gateway of an IPv6 route (%s)", why);
	f.deflt.destination = "";
	f.link.scope = 256;
	ok(check(&f.req.base, why, sizeof(why)) == EINVAL, "identity: a scope out of range (%s)", why);
	f.link.scope = 253;
	f.link.interface_mac = "eth0";
	ok(check(&f.req.base, why, sizeof(why)) == EINVAL, "identity: a route by interface name, not MAC (%s)", why);
	f.req.network = NULL;
	ok(check(&f.req.base, why, sizeof(why)) == 0, "identity: no network, nothing to check of it");
}

int main(void)
{
	test_container_ids();
	test_requests_with_ids();
	test_signals();
	test_identity();
	return done_testing();
}
