/* SPDX-License-Identifier: MIT */
/* Path normalisation for untrusted paths (URL paths, metadata paths). Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define DEXT_PATH_MAX 1024

/* Normalises @in (length @len) into a relative path in @out (size @out_size):
 * leading and repeated '/' and '.' segments are dropped; with @percent_decode,
 * %XX escapes are decoded first and a query ('?...') is cut off.
 * Returns the output length ("" for the root), -EBADMSG for a malformed escape,
 * a NUL byte or a control byte, -EACCES for any '..' segment (never resolved:
 * a path that tries to leave the root is refused), -EMSGSIZE past @out_size or
 * DEXT_PATH_MAX. */
int dext_path_normalize(const char *in, size_t len, bool percent_decode, char *out,
                        size_t out_size);

/* Returns the file name extension of @path after the last '.' of the last
 * segment, or "" if none. Borrowed from @path. */
const char *dext_path_extension(const char *path);

/* Returns true when @name is a safe single path segment: non-empty, no '/',
 * not "." or "..", no control bytes, at most 255 bytes. */
bool dext_path_is_safe_name(const char *name);
