/* SPDX-License-Identifier: MIT */
/* UTF-8 repair for bytes that must become JSON strings. Pure. */
#pragma once

#include <stddef.h>

#include "base/buf.h"

/* Appends @len bytes of @in to @out with every invalid UTF-8 sequence replaced
 * by U+FFFD. Returns 0 or -EMSGSIZE (out's cap). */
int dext_utf8_repair(const char *in, size_t len, struct dext_buf *out);
/* Length of the longest prefix of @in that does not end inside a UTF-8
 * sequence which might still be completed by more bytes. */
size_t dext_utf8_complete_prefix(const char *in, size_t len);
