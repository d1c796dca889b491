/* SPDX-License-Identifier: MIT */
/* Number parsing without atoi's silent failures. Pure. */
#pragma once

#include <stdint.h>

/* Parses a whole decimal string into @ret (written only on success).
 * -EINVAL for empty, signs, spaces or trailing bytes; -ERANGE past the type. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou(const char *s, unsigned *ret);
