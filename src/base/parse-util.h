/* SPDX-License-Identifier: MIT */
/* Number parsing without atoi's silent failures. Pure. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Parses a whole decimal string into @ret (written only on success).
 * -EINVAL for empty, signs, spaces or trailing bytes; -ERANGE past the type. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou(const char *s, unsigned *ret);

/* Writes @v in decimal (or lower-case hex) at @out, which has room for 20 bytes;
 * returns the length written (no NUL). For hot paths where printf costs too much. */
size_t dext_fmt_u64(char *out, uint64_t v);
size_t dext_fmt_hex(char *out, uint64_t v);
