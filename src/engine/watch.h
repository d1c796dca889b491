/* SPDX-License-Identifier: MIT */
/* The backend containers of an extension being served, followed through the
 * engine's event stream: whether one runs (for the relay's "is it running"
 * question), and, when dext is not root, opening a root backend's socket to dext
 * after each (re)start (dext-sockperm run in the container). */
#pragma once

#include <uv.h>

#include "proxy/backend.h"

struct dext_engine_watch;

/* @sock_name is the backend's socket in @guest (or NULL); @self_exe locates
 * dext-sockperm beside dext. NULL when DOCKER_HOST is unusable. */
struct dext_engine_watch *dext_engine_watch_new(uv_loop_t *loop, const char *name,
                                                const char *image, const char *guest,
                                                const char *sock_name, const char *self_exe);
/* A dext_backend_status_cb over @data = the watch. */
enum dext_backend_status dext_engine_watch_status(void *data, char *msg, size_t size);
void dext_engine_watch_free(struct dext_engine_watch *w);
