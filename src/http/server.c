/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 server: accept, per-connection state machine, limits and timeouts. */
#include "http/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"
#include "http/wbatch.h"

enum conn_state {
    CONN_IDLE, /* between requests */
    CONN_HEAD, /* reading a request head */
    CONN_BODY, /* head done, reading the body */
    CONN_DONE, /* request read, answer not finished */
};

struct hdr_off {
    uint32_t name_off, name_len, value_off, value_len;
};

struct dext_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    struct dext_http_server *server;
    struct dext_http_conn *prev, *next;
    llhttp_t parser;
    enum conn_state state;
    int n_pending_close;
    bool closing;
    bool lingering;
    bool close_after_flush;
    bool shutting_down;
    bool paused;       /* reads stopped by the handler */
    bool parse_paused; /* parser paused after a message: waiting for the answer */
    bool read_stopped; /* reading stopped: too many pipelined bytes held */
    bool in_execute;   /* inside llhttp_execute: no re-entrant parsing */
    bool req_complete; /* the current request's body is all read */
    bool answered;     /* the current answer has ended */
    bool discard;      /* answer sent early: draining the rest of the body */
    bool above_high;   /* write queue went past the high mark */
    bool resp_begun;   /* bytes of the current answer have been written */
    bool in_name, in_value;
    bool tunnel;          /* the handler took an upgrade request over as a byte stream */
    bool tunnel_raw;      /* and the head is behind: every byte read goes to ops->on_body */
    uint64_t deadline_ms; /* 0: none */
    uint64_t discarded;
    int err_status;      /* answer to a head that broke a limit */
    const char *err_msg; /* and its message */
    struct dext_buf head;
    uint32_t url_off, url_len;
    struct hdr_off hoff[DEXT_HTTP_MAX_HEADERS];
    size_t n_hdr;
    struct dext_http_req req;
    const struct dext_http_body_ops *ops;
    void *ops_data;
    char *pending; /* bytes after a paused message (pipelining) */
    size_t pending_len;
    struct dext_wq wq; /* batched writes, when the server has a batch */
    struct dext_rq rq; /* batched reads, likewise */
};

struct dext_http_server {
    uv_tcp_t tcp;
    uv_loop_t *loop;
    dext_http_request_cb on_request;
    void *userdata;
    struct dext_http_conn *conns;
    size_t n_conns;
    bool closing;
    bool listener_closed;
    int port;
    struct dext_http_limits limits;
    llhttp_settings_t settings;
    struct dext_wbatch *batch; /* NULL: writes go one by one */
    char rbuf[DEXT_HTTP_READ_SIZE];
};

struct write_req {
    uv_write_t req;
    struct dext_http_conn *conn;
    char data[];
};

static void conn_close(struct dext_http_conn *c);
static void conn_feed(struct dext_http_conn *c, const char *p, size_t n);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void conn_read_start(struct dext_http_conn *c);
static void conn_read_stop(struct dext_http_conn *c);
static void conn_flush_then_close(struct dext_http_conn *c);

const char *dext_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 418:
        return "I'm a teapot";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
    struct dext_http_conn *c = container_of(t, struct dext_http_conn, timer);
    uint64_t now = uv_now(c->server->loop);

    /* The timer is moved lazily: it may fire before the current deadline (or
     * after the deadline was cleared), and then only re-arms. */
    if (c->deadline_ms == 0)
        return;
    if (now < c->deadline_ms) {
        (void)uv_timer_start(&c->timer, on_timer, c->deadline_ms - now, 0);
        return;
    }
    c->deadline_ms = 0;

    if (c->lingering || c->state == CONN_IDLE) {
        conn_close(c);
        return;
    }
    if (c->state == CONN_HEAD) {
        log_debug("http: slow request head, closing");
        dext_http_respond_error(c, 408, "request head not received in time");
        conn_flush_then_close(c);
        return;
    }
    /* A body that stopped arriving. */
    log_debug("http: request body stalled, closing");
    if (c->ops || c->answered) {
        conn_close(c);
        return;
    }
    dext_http_respond_error(c, 408, "request body not received in time");
    conn_flush_then_close(c);
}

/* Sets the connection's one deadline. A request costs no timer heap operation
 * unless the new deadline is earlier than the armed one. */
static void timer_arm(struct dext_http_conn *c, uint64_t ms)
{
    uint64_t due;

    if (c->closing)
        return;
    due = uv_now(c->server->loop) + ms;
    c->deadline_ms = due;
    if (!uv_is_active((uv_handle_t *)&c->timer) || uv_timer_get_due_in(&c->timer) > ms)
        (void)uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void timer_clear(struct dext_http_conn *c)
{
    c->deadline_ms = 0;
}

/* ---- close path ---- */

static void maybe_free_server(struct dext_http_server *s)
{
    if (s->closing && s->listener_closed && s->n_conns == 0) {
        dext_wbatch_release(s->batch);
        free(s);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct dext_http_conn *c = h->data;
    struct dext_http_server *s = c->server;

    if (--c->n_pending_close > 0)
        return;
    dext_buf_done(&c->head);
    free(c->pending);
    free(c);
    s->n_conns--;
    maybe_free_server(s);
}

static void conn_close(struct dext_http_conn *c)
{
    const struct dext_http_body_ops *ops = c->ops;

    if (c->closing)
        return;
    c->closing = true;
    c->ops = NULL;
    if (ops && ops->on_abort)
        ops->on_abort(c->ops_data);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->server->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->n_pending_close = 2;
    dext_wq_done(&c->wq);
    dext_rq_done(&c->rq);
    (void)uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

void dext_http_conn_abort(struct dext_http_conn *c)
{
    c->ops = NULL;
    conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct dext_http_conn *c = req->data;

    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    /* Keep reading for a moment so unread request bytes do not turn into a
     * reset that destroys the answer on its way to the client. */
    c->lingering = true;
    c->paused = c->parse_paused = c->read_stopped = false;
    conn_read_start(c);
    timer_arm(c, DEXT_HTTP_LINGER_MS);
}

static void conn_start_shutdown(struct dext_http_conn *c)
{
    if (c->closing || c->shutting_down)
        return;
    c->shutting_down = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        conn_close(c);
}

static void conn_flush_then_close(struct dext_http_conn *c)
{
    c->close_after_flush = true;
    c->ops = NULL;
    if (dext_http_conn_queued(c) == 0)
        conn_start_shutdown(c);
}

/* ---- writing ---- */

/* Some queued bytes went out (libuv's queue or the batch's): shut down once all
 * did, or tell the handler the queue has drained. */
static void conn_written(struct dext_http_conn *c)
{
    size_t queued;

    if (c->closing)
        return;
    queued = dext_http_conn_queued(c);
    if (c->close_after_flush) {
        if (queued == 0)
            conn_start_shutdown(c);
        return;
    }
    if (c->above_high && queued < DEXT_HTTP_LOW_WATER) {
        c->above_high = false;
        if (c->ops && c->ops->on_drain)
            c->ops->on_drain(c->ops_data);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = container_of(req, struct write_req, req);
    struct dext_http_conn *c = w->conn;

    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        log_debug("http: write failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_written(c);
}

/* Copies @bufs, less their first @skip bytes, into libuv's write queue. */
static int queue_copy(struct dext_http_conn *c, const uv_buf_t *bufs, unsigned n, size_t skip)
{
    struct write_req *w = xmalloc(sizeof(*w) + (dext_iov_len(bufs, n) - skip));
    uv_buf_t b = uv_buf_init(w->data, (unsigned)dext_iov_copy(w->data, bufs, n, skip));
    int r;

    w->conn = c;
    r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0)
        free(w);
    return r;
}

/* The batch's callbacks: what the socket did not take joins libuv's queue. */
static int wq_spill(void *data, const char *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return queue_copy(data, &b, 1, 0);
}

static void wq_flushed(void *data)
{
    conn_written(data);
}

static void wq_error(void *data, int err)
{
    struct dext_http_conn *c = data;

    log_debug("http: write failed: %s", strerror(-err));
    conn_close(c);
}

static const struct dext_wq_ops conn_wq_ops = {
    .spill = wq_spill,
    .on_flushed = wq_flushed,
    .on_error = wq_error,
};

int dext_http_conn_writev(struct dext_http_conn *c, const uv_buf_t *bufs, unsigned n_bufs)
{
    uv_stream_t *st = (uv_stream_t *)&c->tcp;
    size_t total = dext_iov_len(bufs, n_bufs), skip = 0;
    int r;

    if (c->closing || c->shutting_down)
        return -ECANCELED;
    if (total == 0)
        return 0;
    c->resp_begun = true;
    if (c->wq.batch && uv_stream_get_write_queue_size(st) == 0) {
        r = dext_wq_writev(&c->wq, bufs, n_bufs);
    } else {
        if (uv_stream_get_write_queue_size(st) == 0) {
            r = uv_try_write(st, bufs, n_bufs);
            if (r >= 0 && (size_t)r == total)
                return 0;
            if (r < 0 && r != UV_EAGAIN) {
                conn_close(c);
                return r;
            }
            skip = r > 0 ? (size_t)r : 0;
        }
        r = queue_copy(c, bufs, n_bufs, skip);
    }
    if (r < 0) {
        conn_close(c);
        return r;
    }
    if (dext_http_conn_queued(c) >= DEXT_HTTP_HIGH_WATER)
        c->above_high = true;
    return 0;
}

int dext_http_conn_write(struct dext_http_conn *c, const char *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return dext_http_conn_writev(c, &b, 1);
}

size_t dext_http_conn_queued(const struct dext_http_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) +
           (c->wq.batch ? dext_wq_pending(&c->wq) : 0);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct dext_http_conn *c = h->data;

    /* One buffer for the whole server: a read is parsed completely before
     * the next one, and whatever must outlive it is copied. */
    *buf = uv_buf_init(c->server->rbuf, sizeof(c->server->rbuf));
}

static void process_pending(struct dext_http_conn *c)
{
    char *p = c->pending;
    size_t n = c->pending_len;

    c->pending = NULL;
    c->pending_len = 0;
    llhttp_resume(&c->parser);
    c->parse_paused = false;
    if (p) {
        conn_feed(c, p, n);
        free(p);
    }
    if (c->read_stopped && !c->closing && !c->parse_paused && !c->paused && !c->lingering) {
        c->read_stopped = false;
        conn_read_start(c);
    }
}

/* Keeps bytes that arrive while the parser waits for an answer; reading stops
 * once DEXT_HTTP_MAX_PIPELINE of them are held. */
static void keep_pending(struct dext_http_conn *c, const char *p, size_t n)
{
    c->pending = xrealloc(c->pending, c->pending_len + n);
    memcpy(c->pending + c->pending_len, p, n);
    c->pending_len += n;
    if (c->pending_len >= DEXT_HTTP_MAX_PIPELINE && !c->read_stopped) {
        c->read_stopped = true;
        conn_read_stop(c);
    }
}

static void conn_on_read(void *data, ssize_t nread, const uv_buf_t *buf)
{
    struct dext_http_conn *c = data;

    if (c->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug("http: read failed: %s", uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (nread == 0 || c->lingering)
        return;
    if (c->tunnel_raw) {
        if (!c->ops || !c->ops->on_body ||
            c->ops->on_body(c->ops_data, buf->base, (size_t)nread) < 0)
            conn_close(c);
        return;
    }
    if (c->parse_paused) {
        keep_pending(c, buf->base, (size_t)nread);
        return;
    }
    if (c->state == CONN_BODY)
        timer_arm(c, c->server->limits.body_timeout_ms);
    conn_feed(c, buf->base, (size_t)nread);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn_on_read(st->data, nread, buf);
}

static void conn_read_start(struct dext_http_conn *c)
{
    if (c->rq.batch)
        dext_rq_start(&c->rq);
    else
        (void)uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void conn_read_stop(struct dext_http_conn *c)
{
    if (c->rq.batch)
        dext_rq_stop(&c->rq);
    else
        (void)uv_read_stop((uv_stream_t *)&c->tcp);
}

static void conn_feed(struct dext_http_conn *c, const char *p, size_t n)
{
    enum llhttp_errno e;

    c->in_execute = true;
    e = llhttp_execute(&c->parser, p, n);
    c->in_execute = false;
    if (c->closing || c->lingering || c->shutting_down)
        return;
    if (e == HPE_OK)
        goto check_resume;
    if (e == HPE_PAUSED && c->tunnel) {
        /* An upgrade the handler took: what follows the head is the new protocol's. */
        const char *at = llhttp_get_error_pos(&c->parser);
        c->tunnel_raw = true;
        if (at < p + n && (!c->ops || !c->ops->on_body ||
                           c->ops->on_body(c->ops_data, at, (size_t)(p + n - at)) < 0))
            conn_close(c);
        return;
    }
    if (e == HPE_PAUSED_UPGRADE) {
        /* An upgrade answered as a plain request: the connection closes after it. */
        c->parse_paused = true;
        return;
    }
    if (e == HPE_PAUSED) {
        const char *at = llhttp_get_error_pos(&c->parser);
        size_t used = (size_t)(at - p);

        /* Pipelined bytes wait until this answer has ended. Reading goes on
         * (stopping and restarting it costs two epoll_ctl calls a request). */
        c->parse_paused = true;
        if (used < n)
            keep_pending(c, at, n - used);
        goto check_resume;
    }
    if (c->err_status) {
        c->answered = false;
        dext_http_respond_error(c, c->err_status, c->err_msg);
    } else if (c->state == CONN_HEAD || c->state == CONN_IDLE) {
        char msg[160];
        c->answered = false;
        (void)snprintf(msg, sizeof(msg), "malformed request: %s",
                       llhttp_get_error_reason(&c->parser));
        dext_http_respond_error(c, 400, msg);
    } else if (c->ops || !c->answered) {
        /* Broken body framing after the handler took over: the handler lets go,
         * and the client hears why unless part of an answer is already out. */
        const struct dext_http_body_ops *ops = c->ops;
        char msg[160];

        c->ops = NULL;
        if (ops && ops->on_abort)
            ops->on_abort(c->ops_data);
        if (c->closing || c->resp_begun) {
            conn_close(c);
            return;
        }
        c->answered = false;
        (void)snprintf(msg, sizeof(msg), "malformed request body: %s",
                       llhttp_get_error_reason(&c->parser));
        dext_http_respond_error(c, 400, msg);
    }
    conn_flush_then_close(c);
    return;

check_resume:
    /* An answer that ended inside the parser callbacks left the parser paused. */
    if (c->parse_paused && c->answered && c->req_complete && !c->closing)
        process_pending(c);
}

/* ---- llhttp callbacks ---- */

static struct dext_http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int head_append(struct dext_http_conn *c, const char *at, size_t n)
{
    if (dext_buf_append(&c->head, at, n) < 0) {
        c->err_status = 431;
        c->err_msg = "request head larger than 16384 bytes";
        return HPE_USER;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct dext_http_conn *c = conn_of(p);

    if (c->close_after_flush || c->shutting_down)
        return HPE_USER; /* no new request on a connection that is ending */
    c->state = CONN_HEAD;
    c->head.len = 0;
    c->n_hdr = 0;
    c->url_len = 0;
    c->in_name = c->in_value = false;
    c->req_complete = c->answered = c->discard = c->resp_begun = false;
    c->discarded = 0;
    c->err_status = 0;
    timer_arm(c, c->server->limits.head_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct dext_http_conn *c = conn_of(p);

    if (c->url_len == 0)
        c->url_off = (uint32_t)c->head.len;
    c->url_len += (uint32_t)n;
    if (c->url_len > DEXT_HTTP_MAX_HEAD / 2) {
        c->err_status = 414;
        c->err_msg = "request target too long";
        return HPE_USER;
    }
    return head_append(c, at, n);
}

static int on_url_complete(llhttp_t *p)
{
    struct dext_http_conn *c = conn_of(p);
    if (c->url_len == 0)
        c->url_off = (uint32_t)c->head.len;
    return head_append(c, "", 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct dext_http_conn *c = conn_of(p);

    if (!c->in_name) {
        if (c->n_hdr >= DEXT_HTTP_MAX_HEADERS) {
            c->err_status = 431;
            c->err_msg = "more than 100 request headers";
            return HPE_USER;
        }
        c->in_name = true;
        c->hoff[c->n_hdr].name_off = (uint32_t)c->head.len;
    }
    return head_append(c, at, n);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct dext_http_conn *c = conn_of(p);
    struct hdr_off *h = &c->hoff[c->n_hdr];

    if (!c->in_name) {
        if (c->n_hdr >= DEXT_HTTP_MAX_HEADERS) {
            c->err_status = 431;
            c->err_msg = "more than 100 request headers";
            return HPE_USER;
        }
        h->name_off = (uint32_t)c->head.len;
    }
    c->in_name = false;
    h->name_len = (uint32_t)(c->head.len - h->name_off);
    return head_append(c, "", 1);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct dext_http_conn *c = conn_of(p);

    if (!c->in_value) {
        c->in_value = true;
        c->hoff[c->n_hdr].value_off = (uint32_t)c->head.len;
    }
    return head_append(c, at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct dext_http_conn *c = conn_of(p);
    struct hdr_off *h = &c->hoff[c->n_hdr];

    if (!c->in_value)
        h->value_off = (uint32_t)c->head.len;
    c->in_value = false;
    h->value_len = (uint32_t)(c->head.len - h->value_off);
    c->n_hdr++;
    return head_append(c, "", 1);
}

static bool name_eq(const char *name, size_t len, const char *lit, size_t lit_len)
{
    return len == lit_len && strncasecmp(name, lit, len) == 0;
}
#define IS(lit) name_eq(name, len, lit, sizeof(lit) - 1)

/* Sorts a header into a known kind (or -1) and says whether it is private. */
static int classify(const char *name, size_t len, bool *is_private)
{
    *is_private = false;
    if (len >= 4 && strncasecmp(name, "sec-", 4) == 0) {
        *is_private = true;
        return IS("sec-fetch-site") ? DEXT_H_FETCH_SITE : -1;
    }
    if (len >= 7 && strncasecmp(name, "x-dext-", 7) == 0) {
        *is_private = true;
        if (IS("x-dext-secret"))
            return DEXT_H_SECRET;
        return IS("x-dext-headers") ? DEXT_H_DEXT_HEADERS : -1;
    }
    switch (len) {
    case 2:
        *is_private = IS("te");
        return -1;
    case 4:
        if (IS("host")) {
            *is_private = true;
            return DEXT_H_HOST;
        }
        return -1;
    case 6:
        if (IS("origin")) {
            *is_private = true;
            return DEXT_H_ORIGIN;
        }
        if (IS("cookie")) {
            *is_private = true;
            return DEXT_H_COOKIE;
        }
        if (IS("expect")) {
            *is_private = true;
            return DEXT_H_EXPECT;
        }
        return -1;
    case 7:
        *is_private = IS("referer") || IS("trailer") || IS("upgrade");
        return -1;
    case 10:
        *is_private = IS("connection") || IS("keep-alive");
        return -1;
    case 12:
        return IS("content-type") ? DEXT_H_CONTENT_TYPE : -1;
    case 14:
        *is_private = IS("content-length");
        return -1;
    case 16:
        *is_private = IS("proxy-connection");
        return -1;
    case 17:
        *is_private = IS("transfer-encoding");
        return -1;
    default:
        return -1;
    }
}
#undef IS

static int on_headers_complete(llhttp_t *p)
{
    struct dext_http_conn *c = conn_of(p);
    struct dext_http_req *r = &c->req;
    const char *base = c->head.data;

    r->upgrade = p->upgrade != 0;
    r->method_id = p->method;
    r->method = llhttp_method_name((llhttp_method_t)p->method);
    r->url = base + c->url_off;
    r->url_len = c->url_len;
    r->n_headers = c->n_hdr;
    for (size_t k = 0; k < DEXT_H__MAX; k++)
        r->known[k] = -1;
    for (size_t i = 0; i < c->n_hdr; i++) {
        struct dext_http_header *h = &r->headers[i];
        h->name = base + c->hoff[i].name_off;
        h->name_len = c->hoff[i].name_len;
        h->value = base + c->hoff[i].value_off;
        h->value_len = c->hoff[i].value_len;
        int k = classify(h->name, h->name_len, &h->is_private);
        if (k >= 0 && r->known[k] < 0)
            r->known[k] = (int16_t)i;
    }
    r->has_length = (p->flags & F_CONTENT_LENGTH) != 0;
    r->content_length = r->has_length ? p->content_length : 0;
    r->is_chunked = (p->flags & F_CHUNKED) != 0;
    r->has_body = r->is_chunked || (r->has_length && r->content_length > 0);
    /* An upgrade the handler does not take over is answered, then the connection ends. */
    r->keep_alive = !r->upgrade && llhttp_should_keep_alive(p) != 0;
    r->http_minor = p->http_minor;
    c->state = CONN_BODY;
    if (r->has_body)
        timer_arm(c, c->server->limits.body_timeout_ms);
    else
        timer_clear(c);
    c->server->on_request(c->server->userdata, c, r);
    if (c->closing)
        return -1;
    if (c->tunnel)
        return HPE_PAUSED; /* conn_feed hands the rest of the bytes over */
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct dext_http_conn *c = conn_of(p);

    if (c->ops && c->ops->on_body) {
        int r = c->ops->on_body(c->ops_data, at, n);
        if (r < 0) {
            conn_close(c);
            return HPE_USER;
        }
        return 0;
    }
    c->discarded += n;
    if (c->discarded > DEXT_HTTP_MAX_DISCARD) {
        conn_flush_then_close(c);
        return HPE_USER;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct dext_http_conn *c = conn_of(p);

    c->req_complete = true;
    c->state = CONN_DONE;
    timer_clear(c);
    if (c->ops && c->ops->on_end)
        c->ops->on_end(c->ops_data);
    if (c->closing)
        return HPE_USER;
    if (c->answered) {
        c->state = CONN_IDLE;
        if (!c->close_after_flush)
            timer_arm(c, c->server->limits.idle_timeout_ms);
        return 0;
    }
    /* Wait for the answer before parsing a pipelined request. */
    return HPE_PAUSED;
}

/* ---- handler-facing calls ---- */

void dext_http_conn_attach(struct dext_http_conn *c, const struct dext_http_body_ops *ops,
                           void *data)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    c->ops = ops;
    c->ops_data = data;
    const struct dext_http_header *expect = dext_http_req_known(&c->req, DEXT_H_EXPECT);

    if (c->req.has_body && c->req.http_minor >= 1 && expect && expect->value_len == 12 &&
        strncasecmp(expect->value, "100-continue", 12) == 0)
        (void)dext_http_conn_write(c, cont, sizeof(cont) - 1);
}

void dext_http_conn_tunnel(struct dext_http_conn *c, const struct dext_http_body_ops *ops,
                           void *data)
{
    c->ops = ops;
    c->ops_data = data;
    c->tunnel = true;
    c->req.keep_alive = false;
    timer_clear(c);
}

void dext_http_conn_detach(struct dext_http_conn *c)
{
    c->ops = NULL;
    c->ops_data = NULL;
}

void dext_http_conn_end_response(struct dext_http_conn *c, bool keep_alive)
{
    if (c->closing)
        return;
    c->ops = NULL;
    c->answered = true;
    if (!keep_alive || !c->req.keep_alive) {
        conn_flush_then_close(c);
        return;
    }
    if (!c->req_complete) {
        /* Answered before the body ended: drain a bounded remainder, else close. */
        uint64_t remaining = c->parser.content_length;
        if (c->req.is_chunked || (c->req.has_length && remaining > DEXT_HTTP_MAX_DISCARD)) {
            conn_flush_then_close(c);
            return;
        }
        c->discard = true;
        return;
    }
    c->state = CONN_IDLE;
    timer_arm(c, c->server->limits.idle_timeout_ms);
    if (c->parse_paused && !c->in_execute)
        process_pending(c);
}

void dext_http_conn_pause(struct dext_http_conn *c)
{
    if (c->closing || c->paused)
        return;
    c->paused = true;
    conn_read_stop(c);
}

void dext_http_conn_resume(struct dext_http_conn *c)
{
    if (c->closing || !c->paused)
        return;
    c->paused = false;
    if (!c->read_stopped)
        conn_read_start(c);
}

const struct dext_http_header *dext_http_req_header(const struct dext_http_req *req,
                                                    const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < req->n_headers; i++) {
        const struct dext_http_header *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(h->name, name, n) == 0)
            return h;
    }
    return NULL;
}

bool dext_http_req_header_is(const struct dext_http_req *req, const char *name, const char *value)
{
    const struct dext_http_header *h = dext_http_req_header(req, name);
    return h && h->value_len == strlen(value) && strncasecmp(h->value, value, h->value_len) == 0;
}

void dext_http_respond(struct dext_http_conn *c, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t body_len)
{
    char head[1024];
    bool keep = c->req.keep_alive && !c->close_after_flush && c->state != CONN_HEAD &&
                status != 400 && status != 408 && status != 413 && status != 414 && status != 431;
    bool no_body = c->req.method_id == HTTP_HEAD || status == 204 || status == 304;
    static char crlf[] = "\r\n";
    uv_buf_t bufs[3];
    unsigned n = 0;
    int len;

    if (c->closing || c->answered)
        return;
    /* An unread body we will not drain makes the connection unusable. */
    if (!c->req_complete && c->state == CONN_BODY && !c->ops &&
        (c->req.is_chunked || c->req.content_length > DEXT_HTTP_MAX_DISCARD))
        keep = false;
    len = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\nConnection: %s\r\n", status,
                   dext_http_reason(status), content_type ? "Content-Type: " : "",
                   content_type ? content_type : "", content_type ? "\r\n" : "", body_len,
                   keep ? "keep-alive" : "close");
    if (len < 0 || (size_t)len >= sizeof(head))
        len = 0;
    bufs[n++] = uv_buf_init(head, (unsigned)len);
    if (extra_headers && *extra_headers)
        bufs[n++] = uv_buf_init((char *)extra_headers, (unsigned)strlen(extra_headers));
    bufs[n++] = uv_buf_init(crlf, 2);
    if (dext_http_conn_writev(c, bufs, n) < 0)
        return;
    if (!no_body && body_len && dext_http_conn_write(c, body, body_len) < 0)
        return;
    dext_http_conn_end_response(c, keep);
}

void dext_http_respond_error(struct dext_http_conn *c, int status, const char *message)
{
    char body[1024];
    size_t o = 0;

    /* A tiny JSON encoder for one string: escapes quotes, backslashes, controls. */
    o += (size_t)snprintf(body, sizeof(body), "{\"error\":\"");
    for (const char *s = message; *s && o < sizeof(body) - 16; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            body[o++] = '\\';
            body[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(body + o, sizeof(body) - o, "\\u%04x", ch);
        } else {
            body[o++] = (char)ch;
        }
    }
    o += (size_t)snprintf(body + o, sizeof(body) - o, "\"}");
    dext_http_respond(c, status, "application/json",
                      "X-Dext-Error: 1\r\nCache-Control: no-store\r\n", body, o);
}

/* ---- accept ---- */

/* A new connection's handles, in the server's list (closed by conn_close). */
static struct dext_http_conn *conn_new(struct dext_http_server *s)
{
    struct dext_http_conn *c = xcalloc(1, sizeof(*c));

    c->server = s;
    (void)uv_tcp_init(s->loop, &c->tcp);
    (void)uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    s->n_conns++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}

/* The connection's socket is open: read its first request. */
static void conn_start(struct dext_http_conn *c)
{
    struct dext_http_server *s = c->server;

    (void)uv_tcp_nodelay(&c->tcp, 1);
    if (s->batch) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
            dext_wq_init(&c->wq, s->batch, fd, &conn_wq_ops, c);
            if (dext_rq_init(&c->rq, s->batch, fd, conn_on_read, c) < 0)
                log_debug("http: reads go one by one on this connection");
        }
    }
    dext_buf_init(&c->head, DEXT_HTTP_MAX_HEAD);
    llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
    c->parser.data = c;
    c->state = CONN_IDLE;
    c->answered = true;
    c->req_complete = true;
    timer_arm(c, s->limits.head_timeout_ms);
    if (c->rq.batch)
        dext_rq_start(&c->rq);
    else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct dext_http_server *s = listener->data;
    struct dext_http_conn *c;

    if (status < 0) {
        log_warn("http: accept failed: %s", uv_strerror(status));
        return;
    }
    c = conn_new(s);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 || s->n_conns > DEXT_HTTP_MAX_CONNS) {
        conn_close(c);
        return;
    }
    conn_start(c);
}

int dext_http_server_adopt(struct dext_http_server *s, int fd)
{
    struct dext_http_conn *c;
    int r;

    if (s->closing)
        return -ECANCELED;
    if (s->n_conns >= DEXT_HTTP_MAX_CONNS)
        return -EMFILE;
    c = conn_new(s);
    r = uv_tcp_open(&c->tcp, fd);
    if (r < 0) {
        conn_close(c); /* the handle never held @fd */
        return r;
    }
    conn_start(c);
    return 0;
}

int dext_http_server_new(uv_loop_t *loop, const char *host, int port,
                         dext_http_request_cb on_request, void *userdata,
                         struct dext_http_server **ret)
{
    struct dext_http_server *s = xcalloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    int namelen = sizeof(ss);
    int r;

    s->loop = loop;
    s->on_request = on_request;
    s->userdata = userdata;
    s->limits = (struct dext_http_limits){
        .head_timeout_ms = DEXT_HTTP_HEAD_TIMEOUT_MS,
        .idle_timeout_ms = DEXT_HTTP_IDLE_TIMEOUT_MS,
        .body_timeout_ms = DEXT_HTTP_BODY_TIMEOUT_MS,
        .max_body = DEXT_HTTP_MAX_BODY,
    };
    llhttp_settings_init(&s->settings);
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_url_complete = on_url_complete;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_field_complete = on_header_field_complete;
    s->settings.on_header_value = on_header_value;
    s->settings.on_header_value_complete = on_header_value_complete;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;

    if (strchr(host, ':'))
        r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (r < 0) {
        free(s);
        return r;
    }
    (void)uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection);
    if (r < 0) {
        s->closing = true;
        uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
        return r;
    }
    (void)uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &namelen);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    s->batch = dext_wbatch_acquire(loop);
    *ret = s;
    return 0;
}

int dext_http_server_port(const struct dext_http_server *s)
{
    return s->port;
}

void dext_http_server_set_limits(struct dext_http_server *s, const struct dext_http_limits *l)
{
    if (l->head_timeout_ms)
        s->limits.head_timeout_ms = l->head_timeout_ms;
    if (l->idle_timeout_ms)
        s->limits.idle_timeout_ms = l->idle_timeout_ms;
    if (l->body_timeout_ms)
        s->limits.body_timeout_ms = l->body_timeout_ms;
    if (l->max_body)
        s->limits.max_body = l->max_body;
}

const struct dext_http_limits *dext_http_server_limits(const struct dext_http_server *s)
{
    return &s->limits;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct dext_http_server *s = h->data;
    s->listener_closed = true;
    maybe_free_server(s);
}

void dext_http_server_close(struct dext_http_server *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
}
