/* SPDX-License-Identifier: MIT */
/* The container-terminal view: an interactive shell in a container over the Engine exec API. */
#include "api/hub-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/site.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"
#include "docker/client.h"

/* The output stream is a close-delimited body of frames [u8 kind][u32 length, big-endian]
 * [bytes]. */
enum term_frame {
    TERM_FRAME_HELLO = 0,  /* the session id, for input and resize */
    TERM_FRAME_OUTPUT = 1, /* bytes of the terminal */
    TERM_FRAME_EXIT = 2,   /* JSON {"code": n|null, "noShell": bool} */
};

#define TERM_FRAME_HEAD 5
#define TERM_MAX_INPUT (64 * 1024)

/* bash where there is one, else sh: what a user of Docker Desktop's Exec tab gets. The
 * shell first tells its pid (in the container) in an OSC sequence: the engine leaves an
 * exec running when its client goes, so dext ends the shell itself when the page
 * leaves. */
#define PID_MARK "\033]dext-pid;"
#define TERM_MARK_SCAN (64 * 1024)
static const char exec_body[] =
    "{\"AttachStdin\":true,\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":true,"
    "\"Env\":[\"TERM=xterm\"],"
    "\"Cmd\":[\"/bin/sh\",\"-c\",\"printf '\\\\033]dext-pid;%s\\\\007' $$; "
    "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh\"]}";

struct term {
    struct dext_hub *hub;
    struct term *next;
    struct dext_http_conn *conn;   /* the page's output stream; NULL once the page left */
    struct dext_docker_call *call; /* the hijacked exec start while it runs */
    char id[TOKEN_LEN + 1];        /* names the session in input and resize calls */
    char view_token[TOKEN_LEN + 1];
    char view_secret[TOKEN_LEN + 1];
    char *container;
    char *exec_id;
    unsigned rows, cols;
    size_t mark_len;   /* bytes of PID_MARK matched so far */
    unsigned mark_pid; /* digits after it so far */
    size_t n_scanned;
    unsigned pid;       /* the shell's, in the container; 0 until told */
    bool has_mark_done; /* TERM_MARK_SCAN bytes went by without a mark */
    bool is_requesting; /* an exec create or inspect is in flight: its callback frees */
    bool is_streaming;  /* the page has the 200 head */
    bool has_input;
    bool is_paused;
};

static void term_free(struct term *t)
{
    for (struct term **pp = &t->hub->terms; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            t->hub->n_terms--;
            break;
        }
    }
    free(t->container);
    free(t->exec_id);
    free(t);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A negative errno means the page's connection is gone, and @t with it. */
static int send_frame(struct term *t, enum term_frame kind, const char *p, size_t n)
{
    unsigned char head[TERM_FRAME_HEAD];
    uv_buf_t bufs[2];

    head[0] = (unsigned char)kind;
    put_u32(head + 1, (uint32_t)n);
    bufs[0] = uv_buf_init((char *)head, TERM_FRAME_HEAD);
    bufs[1] = uv_buf_init((char *)p, (unsigned)n);
    return dext_http_conn_writev(t->conn, bufs, n ? 2 : 1);
}

/* Before the stream started: the open call fails with @status. Frees @t. */
static void term_fail(struct term *t, int status, const char *msg)
{
    struct dext_http_conn *c = t->conn;

    t->conn = NULL;
    if (c) {
        dext_http_conn_detach(c);
        dext_http_respond_error(c, status, msg);
    }
    if (t->call) {
        dext_docker_call_cancel(t->call);
        t->call = NULL;
    }
    if (!t->is_requesting)
        term_free(t);
}

static void on_noop(void *data, int status, const char *body, size_t len, int err, const char *msg)
{
}

static void send_resize(struct term *t)
{
    _cleanup_free_ char *path = NULL;

    if (!t->exec_id || !t->hub->docker)
        return;
    path = xasprintf("/exec/%s/resize?h=%u&w=%u", t->exec_id, t->rows, t->cols);
    dext_docker_request(t->hub->docker, "POST", path, NULL, 0, on_noop, NULL);
}

/* ---- ending a shell the page left ---- */

static void on_reaper_done(void *data, int status, const char *body, size_t len, int err,
                           const char *msg)
{
    if (err == 0 && (status < 200 || status >= 300))
        log_debug("term: the engine refused to start the hang-up: %d", status);
}

static void on_reaper_created(void *data, int status, const char *body, size_t len, int err,
                              const char *msg)
{
    static const char start_body[] = "{\"Detach\":true,\"Tty\":false}";
    struct dext_docker *d = data;
    json_t *j;
    const char *id;
    _cleanup_free_ char *path = NULL;

    if (err < 0 || status != 201)
        return; /* the container is gone, or dext is stopping */
    j = json_loadb(body, len, 0, NULL);
    id = json_string_value(json_object_get(j, "Id"));
    if (id && *id && strspn(id, "0123456789abcdef") == strlen(id)) {
        path = xasprintf("/exec/%s/start", id);
        dext_docker_request(d, "POST", path, start_body, sizeof(start_body) - 1, on_reaper_done,
                            NULL);
    }
    json_decref(j);
}

/* Hangs the shell up as closing a terminal window would: SIGHUP, then SIGKILL. Its end
 * hangs up the foreground job too (it leads the terminal's session). Fire and forget. */
static void reap_shell(struct term *t)
{
    _cleanup_free_ char *path = NULL, *body = NULL;

    if (!t->pid || !t->hub->docker) {
        log_debug("term: the shell in '%s' never told its pid; it is left to the engine",
                  t->container);
        return;
    }
    /* As the shell's user (the container's), who may end the shell and nothing more. */
    body = xasprintf("{\"AttachStdout\":false,\"AttachStderr\":false,"
                     "\"Cmd\":[\"/bin/sh\",\"-c\",\"kill -HUP $1 || exit 0; sleep 1; "
                     "kill -KILL $1 2>/dev/null; exit 0\",\"sh\",\"%u\"]}",
                     t->pid);
    path = xasprintf("/containers/%s/exec", t->container);
    dext_docker_request(t->hub->docker, "POST", path, body, strlen(body), on_reaper_created,
                        t->hub->docker);
}

/* ---- the page's connection ---- */

static void on_page_abort(void *data)
{
    struct term *t = data;

    /* The page left. Closing the hijacked connection closes the shell's stdin, which
     * a shell on a terminal does not notice: it is ended for good. */
    t->conn = NULL;
    if (t->call) {
        dext_docker_call_cancel(t->call);
        t->call = NULL;
        reap_shell(t);
    }
    if (!t->is_requesting)
        term_free(t);
}

static void on_page_drain(void *data)
{
    struct term *t = data;

    if (t->is_paused && t->call && dext_http_conn_queued(t->conn) < DEXT_HTTP_LOW_WATER) {
        t->is_paused = false;
        dext_docker_call_resume(t->call);
    }
}

static const struct dext_http_body_ops page_ops = {
    .on_abort = on_page_abort,
    .on_drain = on_page_drain,
};

/* ---- the exec ---- */

static void on_inspected(void *data, int status, const char *body, size_t len, int err,
                         const char *msg)
{
    struct term *t = data;
    json_t *j = err == 0 && status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *code = json_object_get(j, "ExitCode");
    struct dext_http_conn *c = t->conn;
    char payload[64];
    int n;

    t->is_requesting = false;
    if (!c) {
        json_decref(j);
        term_free(t);
        return;
    }
    /* 126 and 127 before any keystroke: the shell itself could not run. */
    if (json_is_integer(code))
        n = snprintf(payload, sizeof(payload), "{\"code\":%lld,\"noShell\":%s}",
                     (long long)json_integer_value(code),
                     !t->has_input &&
                             (json_integer_value(code) == 126 || json_integer_value(code) == 127)
                         ? "true"
                         : "false");
    else
        n = snprintf(payload, sizeof(payload), "{\"code\":null,\"noShell\":false}");
    json_decref(j);
    if (send_frame(t, TERM_FRAME_EXIT, payload, (size_t)n) < 0)
        return;
    t->conn = NULL;
    dext_http_conn_end_response(c, false);
    term_free(t);
}

static void on_stream_head(void *data, int status)
{
    struct term *t = data;
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Cache-Control: no-store\r\n"
                               "X-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\n\r\n";

    if (!t->conn)
        return;
    t->is_streaming = true;
    if (dext_http_conn_write(t->conn, head, sizeof(head) - 1) < 0 ||
        send_frame(t, TERM_FRAME_HELLO, t->id, TOKEN_LEN) < 0)
        return;
    send_resize(t);
}

/* Looks for the pid mark in the output. It is not taken out (a terminal drops an OSC
 * sequence it does not know), and it need not come first: the terminal echoes what
 * the page typed before the shell ran. Only the first mark counts. */
static void find_mark(struct term *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !t->pid; i++) {
        char b = p[i];
        if (t->mark_len < STRLEN(PID_MARK)) {
            t->mark_len = b == PID_MARK[t->mark_len] ? t->mark_len + 1 : b == PID_MARK[0];
        } else if (b >= '0' && b <= '9' && t->mark_pid < 10000000) {
            t->mark_pid = t->mark_pid * 10 + (unsigned)(b - '0');
        } else if (b == '\a' && t->mark_pid) {
            t->pid = t->mark_pid;
        } else {
            t->mark_len = b == PID_MARK[0];
            t->mark_pid = 0;
        }
    }
    t->n_scanned += n;
    if (t->n_scanned > TERM_MARK_SCAN)
        t->has_mark_done = true;
}

static void on_stream_data(void *data, const char *p, size_t n)
{
    struct term *t = data;

    if (!t->conn)
        return;
    if (!t->pid && !t->has_mark_done)
        find_mark(t, p, n);
    if (send_frame(t, TERM_FRAME_OUTPUT, p, n) < 0)
        return;
    if (!t->is_paused && dext_http_conn_queued(t->conn) > DEXT_HTTP_HIGH_WATER) {
        t->is_paused = true;
        dext_docker_call_pause(t->call);
    }
}

static void on_stream_end(void *data, int status, const char *body, size_t len, int err,
                          const char *msg)
{
    struct term *t = data;
    _cleanup_free_ char *path = NULL;

    t->call = NULL; /* the client is done with it */
    if (!t->is_streaming) {
        if (err < 0)
            term_fail(t, 502, msg);
        else if (status == 409)
            term_fail(t, 409, "the container is not running");
        else
            term_fail(t, status == 404 ? 404 : 502, "the Docker engine refused to start the shell");
        return;
    }
    /* The shell ended (exit, or the container stopped): its exit code, then the end. */
    t->is_requesting = true;
    path = xasprintf("/exec/%s/json", t->exec_id);
    dext_docker_request(t->hub->docker, "GET", path, NULL, 0, on_inspected, t);
}

static const struct dext_docker_stream_ops stream_ops = {
    .on_head = on_stream_head,
    .on_data = on_stream_data,
    .on_end = on_stream_end,
};

static void on_created(void *data, int status, const char *body, size_t len, int err,
                       const char *msg)
{
    static const char start_body[] = "{\"Detach\":false,\"Tty\":true}";
    struct term *t = data;
    json_t *j;
    const char *id;
    _cleanup_free_ char *path = NULL;

    t->is_requesting = false;
    if (!t->conn) {
        term_free(t);
        return;
    }
    if (err < 0) {
        term_fail(t, 502, msg);
        return;
    }
    if (status == 409) {
        term_fail(t, 409, "the container is not running");
        return;
    }
    if (status == 404) {
        term_fail(t, 404, "no such container");
        return;
    }
    j = json_loadb(body, len, 0, NULL);
    id = json_string_value(json_object_get(j, "Id"));
    if (status != 201 || !id || strspn(id, "0123456789abcdef") != strlen(id) || !*id) {
        json_decref(j);
        term_fail(t, 502, "the Docker engine refused to create the shell");
        return;
    }
    t->exec_id = xstrdup(id);
    json_decref(j);
    path = xasprintf("/exec/%s/start", t->exec_id);
    t->call = dext_docker_upgrade(t->hub->docker, "POST", path, start_body, sizeof(start_body) - 1,
                                  &stream_ops, t);
}

/* ---- the page's calls ---- */

static unsigned clamp_size(json_t *v, unsigned dflt)
{
    json_int_t n = json_integer_value(v);
    return json_is_integer(v) && n >= 1 && n <= 1000 ? (unsigned)n : dflt;
}

void dext_hub_on_term_open(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    struct view *v = dext_hub_view_find(h, json_string_value(json_object_get(body, "t")));
    const char *secret = json_string_value(json_object_get(body, "secret"));
    const char *container;
    _cleanup_free_ char *path = NULL;
    struct term *t;

    if (!v || !secret || strlen(secret) != TOKEN_LEN ||
        !dext_secret_equal(v->secret, secret, TOKEN_LEN)) {
        dext_http_respond_error(c, 403, "this view has expired: open it again");
        return;
    }
    /* A container's view: that container; the containers list: any container in it. */
    if (v->id ? strncmp(v->kind, "container", 9) != 0 : strcmp(v->kind, "containers") != 0) {
        dext_http_respond_error(c, 403, "this view has no terminal");
        return;
    }
    container = v->id ? v->id : json_string_value(json_object_get(body, "id"));
    if (!dext_hub_engine_id_ok(container)) {
        dext_http_respond_error(c, 400, "the id must be a container id or name");
        return;
    }
    if (h->n_terms >= DEXT_HUB_MAX_TERMS) {
        dext_http_respond_error(c, 503, "too many terminals are open");
        return;
    }
    if (!dext_hub_docker(h, c))
        return;
    t = xcalloc(1, sizeof(*t));
    if (dext_hub_random_hex(t->id) < 0) {
        free(t);
        dext_http_respond_error(c, 500, "no randomness for a session id");
        return;
    }
    t->hub = h;
    t->conn = c;
    memcpy(t->view_token, v->token, sizeof(t->view_token));
    memcpy(t->view_secret, v->secret, sizeof(t->view_secret));
    t->container = xstrdup(container);
    t->rows = clamp_size(json_object_get(body, "rows"), 24);
    t->cols = clamp_size(json_object_get(body, "cols"), 80);
    t->next = h->terms;
    h->terms = t;
    h->n_terms++;
    dext_http_conn_attach(c, &page_ops, t);
    t->is_requesting = true;
    path = xasprintf("/containers/%s/exec", t->container);
    dext_docker_request(h->docker, "POST", path, exec_body, sizeof(exec_body) - 1, on_created, t);
}

/* The session named in @body, if the body also carries its view's ticket and secret. */
static struct term *term_find(struct dext_hub *h, json_t *body)
{
    const char *id = json_string_value(json_object_get(body, "session"));
    const char *tok = json_string_value(json_object_get(body, "t"));
    const char *secret = json_string_value(json_object_get(body, "secret"));

    if (!id || !tok || !secret || strlen(id) != TOKEN_LEN || strlen(tok) != TOKEN_LEN ||
        strlen(secret) != TOKEN_LEN)
        return NULL;
    for (struct term *t = h->terms; t; t = t->next)
        if (t->conn && dext_secret_equal(t->id, id, TOKEN_LEN) &&
            dext_secret_equal(t->view_token, tok, TOKEN_LEN) &&
            dext_secret_equal(t->view_secret, secret, TOKEN_LEN))
            return t;
    return NULL;
}

void dext_hub_on_term_input(void *data, struct dext_http_conn *c, json_t *body)
{
    struct term *t = term_find(data, body);
    json_t *in = json_object_get(body, "data");
    int r;

    if (!t) {
        dext_http_respond_error(c, 404, "no such terminal session");
        return;
    }
    if (!json_is_string(in) || json_string_length(in) > TERM_MAX_INPUT) {
        dext_http_respond_error(c, 400, "data: a string of at most 64 KiB");
        return;
    }
    if (!t->call) {
        dext_http_respond_error(c, 409, "the session has ended");
        return;
    }
    r = dext_docker_call_write(t->call, json_string_value(in), json_string_length(in));
    if (r == -ENOBUFS) {
        dext_http_respond_error(c, 503, "the shell is not reading its input");
        return;
    }
    if (r < 0) {
        dext_http_respond_error(c, 409, "the session has ended");
        return;
    }
    t->has_input = true;
    dext_hub_respond_json(c, 200, json_object());
}

void dext_hub_on_term_resize(void *data, struct dext_http_conn *c, json_t *body)
{
    struct term *t = term_find(data, body);

    if (!t) {
        dext_http_respond_error(c, 404, "no such terminal session");
        return;
    }
    t->rows = clamp_size(json_object_get(body, "rows"), t->rows);
    t->cols = clamp_size(json_object_get(body, "cols"), t->cols);
    if (t->call && t->is_streaming)
        send_resize(t);
    dext_hub_respond_json(c, 200, json_object());
}

void dext_hub_on_term_close(void *data, struct dext_http_conn *c, json_t *body)
{
    struct term *t = term_find(data, body);
    struct dext_http_conn *out;

    /* The page says it is done (its tab switched, or it is going away): the same as
     * its output stream closing, without waiting for the browser to close it. */
    if (t) {
        out = t->conn;
        dext_http_conn_detach(out);
        on_page_abort(t);
        dext_http_conn_abort(out);
    }
    dext_hub_respond_json(c, 200, json_object());
}
