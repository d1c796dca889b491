/* SPDX-License-Identifier: MIT */
/* Relay of HTTP requests to an extension backend's unix socket, with a
 * keep-alive connection pool and backpressure both ways.
 *
 * struct dext_backend owns its idle connections and its in-flight relays. A
 * relay is owned by the backend and ends when the answer has been relayed, or
 * when either side goes away (the other side is then closed: a half-relayed
 * exchange is never reused). */
#pragma once

#include <stdbool.h>
#include <uv.h>

#include "http/server.h"

#define DEXT_BACKEND_MAX_IDLE 64
#define DEXT_BACKEND_MAX_RESP_HEAD (64 * 1024)
#define DEXT_BACKEND_PENDING_MAX (256 * 1024)
#define DEXT_BACKEND_WAIT_MS 10000 /* how long a call waits for a starting backend */
#define DEXT_BACKEND_RETRY_MS 50

enum dext_backend_status {
    DEXT_BACKEND_UP,       /* running: a refused connection is an error */
    DEXT_BACKEND_STARTING, /* (re)starting: wait for the socket */
    DEXT_BACKEND_DOWN,     /* not running and not about to */
};

/* Tells the relay what the runtime knows; writes a short description of the
 * backend's state into @msg (e.g. "exited with status 3"). */
typedef enum dext_backend_status (*dext_backend_status_cb)(void *data, char *msg, size_t size);

struct dext_backend;

/* Creates a relay target for the unix socket at @socket_path (copied). */
struct dext_backend *dext_backend_new(uv_loop_t *loop, const char *socket_path);
void dext_backend_set_status_cb(struct dext_backend *b, dext_backend_status_cb cb, void *data);
/* Closes idle connections (e.g. after the backend restarted). */
void dext_backend_drop_idle(struct dext_backend *b);
/* Aborts every relay, closes every connection, frees @b once handles closed. */
void dext_backend_free(struct dext_backend *b);

/* Relays the request @req on @c as METHOD @target (a path with its query, starting
 * with '/', copied). Takes the request over (dext_http_conn_attach). On any
 * failure before the backend answered, answers with an X-Dext-Error. */
void dext_backend_relay(struct dext_backend *b, struct dext_http_conn *c,
                        const struct dext_http_req *req, const char *target, size_t target_len);
/* Request bodies past @max bytes are refused with 413 (default DEXT_HTTP_MAX_BODY). */
void dext_backend_set_max_body(struct dext_backend *b, uint64_t max);
