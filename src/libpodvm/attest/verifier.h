/* The verifier of a VM's attestation (issue: attested pods), on the host, trusting only the
 * node's CA, the references computed at install and unpack, and what podvm itself recorded
 * when it made the VM's TPM and sent its containers' configs:
 *  1. the VM's EK certificate, read from its TPM through the agent, must be the one made
 *     for this VM (<state>/attest/ek.der) and chain to the node CA;
 *  2. the attestation key must be a restricted signing key of the same TPM: proven once
 *     per VM by credential activation (a secret only that EK's TPM can recover for a key
 *     of that name), then pinned (<state>/attest/ak.pub), and steps 1-2 are not repeated;
 *  3. a quote over PCRs 9, 10 and 11 with a fresh nonce, signed by that AK;
 *  4. the logs (the host's boot events, IMA's list, the agent's config events) replayed to
 *     the quoted PCR values: a forged, truncated or reordered log cannot;
 *  5. every quoted measurement is a reference: boot items of the installed guest image,
 *     IMA's boot_aggregate of the replayed boot PCRs, files of the initramfs or of the
 *     containers' images, the configs podvm sent.
 * The result is pass, or the first unexpected measurement, named. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "ttrpc.h"

#define PV_ATTEST_PCR_MASK ((1u << 9) | (1u << 10) | (1u << 11))

struct pv_attest_request {
	struct ttrpc_client *agent;
	const char *state_dir;     /* the VM's: attest/ek.der, boot_events, containers */
	const char *ca_dir;        /* the node CA */
	const char *reference;     /* the guest image's reference.json */
	int timeout_ms;
};

struct pv_attest_result {
	bool pass;
	char finding[1024];        /* when !pass: what was unexpected, one line */
	size_t measurements;       /* how many the quote covered and were checked */
	long long ms;              /* how long it took */
};

/* 0 with res filled (pass or a finding), or -1 with *err when attestation could not be
 * carried out at all (no agent, no TPM, a malformed answer: those are findings too, but a
 * caller may want to tell them apart). */
int pv_attest_verify(const struct pv_attest_request *req, struct pv_attest_result *res, pv_error *err);

/* What podvm records, on the host, of each container it creates in a VM with a TPM: the
 * digest of the OCI config it sends and the digest set file of the container's image (or
 * NULL: none; its files must then be the guest's own), in <state>/attest/containers.
 * Nothing when the VM has no TPM (no <state>/attest). */
int pv_attest_record_container(const char *state_dir, const char *id, const char *spec_json,
			       const char *reference_set, pv_error *err);
