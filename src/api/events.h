/* SPDX-License-Identifier: MIT */
/* Streaming exec for a page: one long-lived event connection per page carries the
 * output of every stream it runs, so 20+ streams fit in the browser's 6
 * connections per origin.
 *
 *   GET  /__dext/events          -> the session: a close-delimited binary body of
 *                                   frames [u32 stream id][u8 kind][u32 length][bytes]
 *                                   (big-endian); the first frame (id 0, kind HELLO)
 *                                   carries the session id
 *   POST /__dext/exec/stream     {session, id, scope, cmd, args, cwd, env} -> {id}
 *   POST /__dext/exec/close      {session, id} -> {}
 *
 * Leaving or reloading the page closes its event connection, which ends every
 * process the session started (SIGTERM to each process group, then SIGKILL). When
 * the page reads slowly, every stream of the session is paused past
 * DEXT_HTTP_HIGH_WATER of queued output and resumed below DEXT_HTTP_LOW_WATER:
 * output is never dropped and never piles up. */
#pragma once

#include "api/exec.h"
#include "http/server.h"

enum dext_frame_kind {
    DEXT_FRAME_HELLO = 0,
    DEXT_FRAME_STDOUT = 1,
    DEXT_FRAME_STDERR = 2,
    DEXT_FRAME_EXIT = 3,   /* JSON {"code": n|null, "signal": "SIGTERM"|null} */
    DEXT_FRAME_ERROR = 4,  /* UTF-8 message: the command could not start */
    DEXT_FRAME_RELOAD = 5, /* stream 0, empty: the UI changed, the page reloads */
};

#define DEXT_FRAME_HEAD 9

struct dext_events;

struct dext_events *dext_events_new(struct dext_exec_ctx *ctx);
/* Ends every session and process; frees @ev. */
void dext_events_free(struct dext_events *ev);

void dext_events_open(struct dext_events *ev, struct dext_http_conn *c,
                      const struct dext_http_req *req);
void dext_events_start(struct dext_events *ev, struct dext_http_conn *c,
                       const struct dext_http_req *req);
void dext_events_close(struct dext_events *ev, struct dext_http_conn *c,
                       const struct dext_http_req *req);
/* Sends an empty frame of @kind on stream 0 to every open page. */
void dext_events_broadcast(struct dext_events *ev, enum dext_frame_kind kind);
