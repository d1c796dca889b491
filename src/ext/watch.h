/* SPDX-License-Identifier: MIT */
/* Watches a directory (and, recursively, the directories under it) for changes and
 * calls back once things have been quiet for a moment: the UI reload of `dext run`
 * and the record watch behind `dext dev ui-source`.
 *
 * The watch owns its inotify handles (one per directory, at most
 * DEXT_WATCH_MAX_DIRS) and its timer; dext_watch_free closes them and frees the
 * watch once they are closed. The callback is never made after dext_watch_free. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define DEXT_WATCH_MAX_DIRS 256
#define DEXT_WATCH_DEBOUNCE_MS 150

struct dext_watch;

typedef void (*dext_watch_cb)(void *data);

/* Starts watching @dir (its subdirectories too when @recursive, except hidden ones
 * and node_modules). Returns 0 or a negative errno from the first watch. */
int dext_watch_new(uv_loop_t *loop, const char *dir, bool recursive, dext_watch_cb on_change,
                   void *data, struct dext_watch **ret);
void dext_watch_free(struct dext_watch *w);
