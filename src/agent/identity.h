/* The AdoptIdentity RPC: what makes a VM restored from a template its own. Every sibling
 * restored from one template resumes with the same RNG state, a clock stopped at the moment
 * the template was saved, and the template's NIC addresses. */
#pragma once
#include "agent.pb-c.h"
#include "error.h"

int identity_adopt(const Podvm__Agent__V1__IdentityRequest *req, pv_error *err);
