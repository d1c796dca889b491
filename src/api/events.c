/* SPDX-License-Identifier: MIT */
/* Streaming exec sessions: one event connection per page, many processes. */
#include "api/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/body.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "proc/spawn.h"

struct session;

struct stream {
    struct session *s;
    struct stream *next;
    uint32_t id;
    struct dext_proc *proc;
    bool vm;
    bool held; /* a vm command's first stderr is held: it may say "cannot run" */
    char *held_stderr;
    size_t held_len;
};

struct session {
    struct dext_events *ev;
    struct session *next;
    struct dext_http_conn *conn; /* the event connection; NULL once the page left */
    struct stream *streams;
    char id[33];
    bool paused;
};

struct dext_events {
    struct dext_exec_ctx *ctx;
    struct session *sessions;
};

/* ---- frames ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void pause_all(struct session *s, bool pause)
{
    s->paused = pause;
    for (struct stream *st = s->streams; st; st = st->next) {
        if (!st->proc)
            continue;
        if (pause)
            dext_proc_pause(st->proc);
        else
            dext_proc_resume(st->proc);
    }
}

static void send_frame(struct session *s, uint32_t id, enum dext_frame_kind kind, const char *p,
                       size_t n)
{
    unsigned char head[DEXT_FRAME_HEAD];
    uv_buf_t bufs[2];

    if (!s->conn)
        return;
    put_u32(head, id);
    head[4] = (unsigned char)kind;
    put_u32(head + 5, (uint32_t)n);
    bufs[0] = uv_buf_init((char *)head, DEXT_FRAME_HEAD);
    bufs[1] = uv_buf_init((char *)p, (unsigned)n);
    if (dext_http_conn_writev(s->conn, bufs, n ? 2 : 1) < 0)
        return;
    if (s->conn && !s->paused && dext_http_conn_queued(s->conn) > DEXT_HTTP_HIGH_WATER)
        pause_all(s, true);
}

/* ---- lifetimes ---- */

static void session_maybe_free(struct session *s)
{
    struct session **pp;

    if (s->conn || s->streams)
        return;
    for (pp = &s->ev->sessions; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    free(s);
}

static void stream_remove(struct stream *st)
{
    struct session *s = st->s;
    struct stream **pp;

    for (pp = &s->streams; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    }
    if (st->proc) {
        dext_proc_free(st->proc);
        s->ev->ctx->n_procs--;
    }
    free(st->held_stderr);
    free(st);
}

static void flush_held(struct stream *st)
{
    if (!st->held)
        return;
    st->held = false;
    if (st->held_len)
        send_frame(st->s, st->id, DEXT_FRAME_STDERR, st->held_stderr, st->held_len);
    free(st->held_stderr);
    st->held_stderr = NULL;
    st->held_len = 0;
}

static void on_output(void *data, int fd, const char *p, size_t n)
{
    struct stream *st = data;

    if (st->held && fd == 2 && st->held_len < 4096) {
        st->held_stderr = xrealloc(st->held_stderr, st->held_len + n);
        memcpy(st->held_stderr + st->held_len, p, n);
        st->held_len += n;
        if (st->held_len < 16 || strncmp(st->held_stderr, "dext: cannot run", 16) == 0)
            return;
    }
    flush_held(st);
    send_frame(st->s, st->id, fd == 1 ? DEXT_FRAME_STDOUT : DEXT_FRAME_STDERR, p, n);
}

static void on_exit_stream(void *data, int64_t status, int sig)
{
    struct stream *st = data;
    struct session *s = st->s;
    char payload[96];
    int n;

    if (st->vm && status == 127 && st->held && st->held_len > 16 &&
        strncmp(st->held_stderr, "dext: cannot run", 16) == 0) {
        const char *nl = memchr(st->held_stderr, '\n', st->held_len);
        size_t len = nl ? (size_t)(nl - st->held_stderr) : st->held_len;
        send_frame(s, st->id, DEXT_FRAME_ERROR, st->held_stderr + 6, len - 6);
    } else {
        flush_held(st);
        if (sig)
            n = snprintf(payload, sizeof(payload), "{\"code\":null,\"signal\":\"SIG%s\"}",
                         sigabbrev_np(sig) ? sigabbrev_np(sig) : "UNKNOWN");
        else
            n = snprintf(payload, sizeof(payload), "{\"code\":%lld,\"signal\":null}",
                         (long long)status);
        send_frame(s, st->id, DEXT_FRAME_EXIT, payload, (size_t)n);
    }
    stream_remove(st);
    session_maybe_free(s);
}

static void on_session_abort(void *data)
{
    struct session *s = data;

    /* The page left: everything it started ends. */
    s->conn = NULL;
    for (struct stream *st = s->streams; st; st = st->next) {
        if (st->proc) {
            dext_proc_resume(st->proc);
            dext_proc_kill(st->proc);
        }
    }
    session_maybe_free(s);
}

static void on_session_drain(void *data)
{
    struct session *s = data;

    if (s->paused && s->conn && dext_http_conn_queued(s->conn) < DEXT_HTTP_LOW_WATER)
        pause_all(s, false);
}

static const struct dext_http_body_ops session_ops = {
    .on_abort = on_session_abort,
    .on_drain = on_session_drain,
};

/* ---- routes ---- */

struct dext_events *dext_events_new(struct dext_exec_ctx *ctx)
{
    struct dext_events *ev = xcalloc(1, sizeof(*ev));
    ev->ctx = ctx;
    return ev;
}

void dext_events_free(struct dext_events *ev)
{
    if (!ev)
        return;
    while (ev->sessions) {
        struct session *s = ev->sessions;
        ev->sessions = s->next;
        if (s->conn)
            dext_http_conn_abort(s->conn);
        while (s->streams)
            stream_remove(s->streams);
        free(s);
    }
    free(ev);
}

void dext_events_open(struct dext_events *ev, struct dext_http_conn *c,
                      const struct dext_http_req *req)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Cache-Control: no-store\r\n"
                               "X-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\n\r\n";
    unsigned char raw[16];
    struct session *s;

    if (req->method_id != HTTP_GET) {
        dext_http_respond_error(c, 405, "use GET for the event connection");
        return;
    }
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        dext_http_respond_error(c, 500, "no randomness for a session id");
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->ev = ev;
    for (size_t i = 0; i < sizeof(raw); i++)
        (void)snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
    s->conn = c;
    s->next = ev->sessions;
    ev->sessions = s;
    dext_http_conn_attach(c, &session_ops, s);
    if (dext_http_conn_write(c, head, sizeof(head) - 1) < 0)
        return;
    send_frame(s, 0, DEXT_FRAME_HELLO, s->id, strlen(s->id));
}

static struct session *find_session(struct dext_events *ev, json_t *body)
{
    const char *id = json_string_value(json_object_get(body, "session"));

    for (struct session *s = ev->sessions; id && s; s = s->next)
        if (s->conn && strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static struct stream *find_stream(struct session *s, uint32_t id)
{
    for (struct stream *st = s->streams; st; st = st->next)
        if (st->id == id)
            return st;
    return NULL;
}

static void answer_id(struct dext_http_conn *c, uint32_t id)
{
    char body[48];
    int n = snprintf(body, sizeof(body), "{\"id\":%u}", id);
    dext_http_respond(c, 200, "application/json", "Cache-Control: no-store\r\n", body, (size_t)n);
}

static void on_start_body(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_events *ev = data;
    struct session *s = find_session(ev, body);
    json_int_t id = json_integer_value(json_object_get(body, "id"));
    struct dext_exec_cmd cmd;
    struct stream *st;
    int r;

    if (!s) {
        dext_http_respond_error(c, 404, "exec: no such event session (open /__dext/events first)");
        return;
    }
    if (id <= 0 || id > UINT32_MAX || find_stream(s, (uint32_t)id)) {
        dext_http_respond_error(c, 400, "exec: a new positive stream id is required");
        return;
    }
    if (ev->ctx->n_procs >= DEXT_EXEC_MAX_PROCS) {
        char msg[96];
        (void)snprintf(msg, sizeof(msg), "exec: this extension already runs %d processes",
                       DEXT_EXEC_MAX_PROCS);
        dext_http_respond_error(c, 429, msg);
        return;
    }
    if (dext_exec_build(ev->ctx, body, false, &cmd) < 0) {
        dext_http_respond_error(c, cmd.status, cmd.error);
        return;
    }
    st = xcalloc(1, sizeof(*st));
    st->s = s;
    st->id = (uint32_t)id;
    st->vm = cmd.is_vm;
    st->held = cmd.is_vm;
    r = dext_exec_spawn(ev->ctx, &cmd, on_output, on_exit_stream, st, &st->proc, c);
    dext_exec_cmd_done(&cmd);
    if (r < 0) {
        free(st);
        return;
    }
    st->next = s->streams;
    s->streams = st;
    if (s->paused)
        dext_proc_pause(st->proc);
    answer_id(c, st->id);
}

static void on_close_body(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_events *ev = data;
    struct session *s = find_session(ev, body);
    json_int_t id = json_integer_value(json_object_get(body, "id"));
    struct stream *st = s && id > 0 && id <= UINT32_MAX ? find_stream(s, (uint32_t)id) : NULL;

    if (st && st->proc) {
        dext_proc_resume(st->proc);
        dext_proc_kill(st->proc);
    }
    /* Closing a stream that already ended is not an error. */
    dext_http_respond(c, 200, "application/json", "Cache-Control: no-store\r\n", "{}", 2);
}

void dext_events_start(struct dext_events *ev, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    if (req->method_id != HTTP_POST) {
        dext_http_respond_error(c, 405, "use POST");
        return;
    }
    dext_api_read_json(c, req, on_start_body, ev);
}

void dext_events_close(struct dext_events *ev, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    if (req->method_id != HTTP_POST) {
        dext_http_respond_error(c, 405, "use POST");
        return;
    }
    dext_api_read_json(c, req, on_close_body, ev);
}

void dext_events_broadcast(struct dext_events *ev, enum dext_frame_kind kind)
{
    for (struct session *s = ev->sessions; s; s = s->next)
        send_frame(s, 0, kind, "", 0);
}
