/* SPDX-License-Identifier: MIT */
/* Semantic version constraints, as image labels state them
 * (com.docker.desktop.extension.api.version: ">= 0.3.3", ">= 1.4.7, < 2.0", "^0.4",
 * "0.3.0"). Pure. */
#pragma once

#include <stdbool.h>

/* The extension API version dext implements. */
#define DEXT_EXTENSION_API_VERSION "0.4.2"

/* Whether @version ("0.4.2") satisfies @constraint. Constraints: comparisons
 * joined by ',' or spaces (all must hold), alternatives joined by "||"; operators
 * = != > >= < <= ~ ^ (none means =); versions may be partial ("1.2", "1") and
 * carry a leading 'v'; a partial = matches every version it prefixes, and x or *
 * stands for any number. Returns 1 (satisfied), 0 (not), or -EINVAL for a
 * constraint that does not parse. */
int dext_semver_satisfies(const char *constraint, const char *version);
