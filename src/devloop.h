/* SPDX-License-Identifier: MIT */
/* The dev loop of one served extension: its open pages reload when a file under
 * the UI root changes, and a `dext dev ui-source` / `dext dev reset` takes effect
 * at once (the pages reload from the dev server, or from the files again).
 *
 * The devloop owns its two watches. @site_ref points at the daemon's pointer to
 * the site, which the daemon may clear (NULL) when it stops serving first. */
#pragma once

#include <stdbool.h>
#include <uv.h>

#include "api/site.h"
#include "ext/store.h"

struct dext_devloop;

/* Watches @ui_dir (recursively, when @watch_ui) and the record of @name in @store
 * (borrowed for the devloop's life). */
int dext_devloop_new(uv_loop_t *loop, const struct dext_store *store, const char *name,
                     const char *ui_dir, bool watch_ui, struct dext_site **site_ref,
                     struct dext_devloop **ret);
void dext_devloop_free(struct dext_devloop *dl);
