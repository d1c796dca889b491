/* SPDX-License-Identifier: MIT */
/* Content types by file name extension. Pure. */
#pragma once

/* The Content-Type for @path, by its extension; "application/octet-stream" if unknown. */
const char *dext_mime_type(const char *path);
