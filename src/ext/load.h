/* SPDX-License-Identifier: MIT */
/* An extension directory: metadata.json plus the files it names. Blocking. */
#pragma once

#include "ext/metadata.h"

/* Reads DIR/metadata.json, validates it and checks that the files it names exist
 * (UI root and entry, icon, linux host binaries, compose file, a relative
 * x-dext-command). Returns 0 and the metadata, or a negative errno with every
 * problem appended to @problems (which the caller frees). -ENOENT when
 * metadata.json is missing. */
int dext_ext_load_dir(const char *dir, struct dext_ext_meta **ret_meta,
                      struct dext_meta_problems *problems);

/* Appends a formatted problem (no-op past DEXT_METADATA_MAX_PROBLEMS). */
void dext_meta_problem_add(struct dext_meta_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
