/* SPDX-License-Identifier: MIT */
/* Relay to a backend's unix socket: pool, framing, backpressure, errors. */
#include "proxy/backend.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/parse-util.h"
#include "base/xalloc.h"
#include "http/wbatch.h"

#define RELAY_MAX_IOV 64
#define RELAY_MAX_RESP_HEADERS 128

struct relay;

struct bconn {
    uv_pipe_t pipe;
    uv_connect_t connect_req;
    struct dext_backend *b;
    struct relay *r; /* the exchange using it; NULL when idle or connecting alone */
    struct bconn *prev, *next;
    llhttp_t parser;
    bool idle;
    bool closing;
    bool connected;
    bool reading;
    bool above_high;
    struct dext_wq wq; /* batched writes, when the loop has a batch */
    struct dext_rq rq; /* batched reads, likewise */
};

struct resp_hdr {
    uint32_t name_off, name_len, value_off, value_len;
};

struct relay {
    /* Everything up to `pending` is zeroed when a relay is reused. */
    struct dext_backend *b;
    struct relay *prev, *next;
    struct dext_http_conn *client;
    struct bconn *bc;
    bool can_retry;
    bool retried;
    bool reused;
    bool waiting;
    bool req_done;
    bool req_chunked;
    bool is_head;
    bool client_http11;
    bool client_keep;
    bool client_paused;
    bool resp_started;
    bool resp_chunked;
    bool resp_close;
    bool resp_done;
    bool busy; /* inside a backend read: the client side may not free us */
    bool dead; /* the client went away while busy */
    bool in_name, in_value;
    bool head_too_big;
    bool awaiting; /* the request is out, no answer byte yet */
    uint64_t sent_ns;
    uint64_t deadline_ms;
    uint64_t body_seen;
    int last_error;
    uint32_t reason_off, reason_len;
    size_t n_hdr;
    unsigned n_iov;
    size_t scratch_len;

    /* From here on, kept (emptied) across reuse, so a relay costs no allocation. */
    struct dext_buf pending;  /* bytes for the backend not yet handed to a connection */
    struct dext_buf retry;    /* the whole request, while it can still be sent again */
    struct dext_buf rhead;    /* the backend's response head */
    struct dext_buf out_head; /* the head sent to the client */
    struct resp_hdr hdr[RELAY_MAX_RESP_HEADERS];
    uv_buf_t iov[RELAY_MAX_IOV]; /* what goes to the client from one backend read */
    char scratch[RELAY_MAX_IOV * 12];
    struct relay *next_free;
};

struct dext_backend {
    uv_loop_t *loop;
    char *path;
    struct bconn *conns; /* every connection */
    size_t n_idle;
    struct relay *relays;
    struct relay *free_relays; /* finished relays kept for reuse */
    size_t n_free_relays;
    uv_timer_t retry_timer;
    bool freeing;
    int n_handles; /* open handles: connections + the timer */
    uint64_t max_body;
    dext_backend_status_cb status_cb;
    void *status_data;
    llhttp_settings_t settings;
    struct dext_wbatch *batch; /* NULL: writes go one by one */
    /* Polling for answers: see answer_poll_update. */
    uv_prepare_t poll_check;
    uv_idle_t poll;
    uint64_t poll_ns;   /* longest wait polled for; 0: never poll */
    uint64_t answer_ns; /* moving average of the time to an answer's first byte */
    uint64_t last_sent_ns;
    uint64_t last_done_ns; /* the last answer ended with no request out; 0: not since */
    uint64_t think_ns;     /* moving average of the time from there to the next request */
    unsigned n_awaiting;
    unsigned depth_avg; /* moving average of n_awaiting at each send, x256 */
    char rbuf[DEXT_HTTP_READ_SIZE];
};

static void relay_free(struct relay *r);
static void relay_fail(struct relay *r, int status, const char *fmt, ...) _printf_(3, 4);
static void relay_connect(struct relay *r);
static void on_retry_timer(uv_timer_t *t);
static void bconn_close(struct bconn *bc);
static void flush_client(struct relay *r);

/* ---- helpers ---- */

static bool name_is(const char *name, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(name, lit, n) == 0;
}

/* Response headers that stay between the backend and dext (and cookies, which
 * would land on dext's origin). */
static bool resp_private(const char *name, size_t len)
{
    switch (len) {
    case 2:
        return name_is(name, len, "te");
    case 7:
        return name_is(name, len, "trailer") || name_is(name, len, "upgrade");
    case 10:
        return name_is(name, len, "connection") || name_is(name, len, "keep-alive") ||
               name_is(name, len, "set-cookie");
    case 16:
        return name_is(name, len, "proxy-connection");
    case 17:
        return name_is(name, len, "transfer-encoding");
    default:
        return false;
    }
}

/* Is @name in the comma-separated list @list? */
static bool in_list(const char *list, size_t list_len, const char *name, size_t len)
{
    size_t i = 0;

    while (i < list_len) {
        while (i < list_len && (list[i] == ' ' || list[i] == ','))
            i++;
        size_t start = i;
        while (i < list_len && list[i] != ',')
            i++;
        size_t end = i;
        while (end > start && list[end - 1] == ' ')
            end--;
        if (end - start == len && strncasecmp(list + start, name, len) == 0)
            return true;
    }
    return false;
}

/* ---- polling for answers ----
 *
 * A backend on the same machine usually answers within tens of microseconds. Going
 * to sleep in epoll_wait and being woken for the answer costs more than that on a
 * VM (two context switches and an inter-processor interrupt, about 15 µs of CPU
 * and of latency here), so while a request is out and this backend's answers have
 * lately come within poll_ns, the loop polls (a uv_idle makes its wait 0) instead
 * of sleeping. Polling stops when the answer is in, or poll_ns after the last
 * request went out. The same holds after an answer, for the next request, when
 * requests have lately followed answers within poll_ns (think_ns): a client that
 * sends back to back. Only for requests that come one at a time: when several are
 * usually out together (depth_avg at 1.5 or more), the loop has other work on the
 * way and polling would only take CPU from the backend and the clients.
 * DEXT_POLL_US sets poll_ns (0 turns polling off). */

#define DEXT_BACKEND_POLL_US 50

static void on_poll(uv_idle_t *h)
{
}

static void answer_poll_update(struct dext_backend *b)
{
    uint64_t now = uv_hrtime();
    bool lone = b->poll_ns && b->depth_avg < 384;
    bool answer =
        b->n_awaiting == 1 && b->answer_ns < b->poll_ns && now - b->last_sent_ns < b->poll_ns;
    bool next = b->n_awaiting == 0 && b->last_done_ns && b->think_ns < b->poll_ns &&
                now - b->last_done_ns < b->poll_ns;
    bool want = lone && (answer || next);

    if (want && !uv_is_active((uv_handle_t *)&b->poll))
        (void)uv_idle_start(&b->poll, on_poll);
    else if (!want && uv_is_active((uv_handle_t *)&b->poll))
        (void)uv_idle_stop(&b->poll);
}

static void on_poll_check(uv_prepare_t *h)
{
    answer_poll_update(h->data);
}

static void awaiting_start(struct relay *r)
{
    struct dext_backend *b = r->b;

    if (r->awaiting)
        return;
    r->awaiting = true;
    r->sent_ns = b->last_sent_ns = uv_hrtime();
    if (b->n_awaiting == 0 && b->last_done_ns)
        b->think_ns = (b->think_ns * 7 + (r->sent_ns - b->last_done_ns)) / 8;
    b->last_done_ns = 0;
    b->n_awaiting++;
    b->depth_avg = (b->depth_avg * 7 + b->n_awaiting * 256) / 8;
}

static void awaiting_end(struct relay *r, bool answered)
{
    struct dext_backend *b = r->b;

    if (!r->awaiting)
        return;
    r->awaiting = false;
    b->n_awaiting--;
    if (answered)
        b->answer_ns = (b->answer_ns * 7 + (uv_hrtime() - r->sent_ns)) / 8;
}

/* ---- backend-side connections ---- */

static void maybe_free_backend(struct dext_backend *b)
{
    if (b->freeing && b->n_handles == 0) {
        dext_wbatch_release(b->batch);
        free(b->path);
        free(b);
    }
}

static void on_bconn_closed(uv_handle_t *h)
{
    struct bconn *bc = h->data;
    struct dext_backend *b = bc->b;

    free(bc);
    b->n_handles--;
    maybe_free_backend(b);
}

static void idle_remove(struct bconn *bc)
{
    if (!bc->idle)
        return;
    bc->idle = false;
    bc->b->n_idle--;
}

static void bconn_close(struct bconn *bc)
{
    struct dext_backend *b = bc->b;

    if (bc->closing)
        return;
    bc->closing = true;
    idle_remove(bc);
    if (bc->prev)
        bc->prev->next = bc->next;
    else
        b->conns = bc->next;
    if (bc->next)
        bc->next->prev = bc->prev;
    if (bc->r) {
        bc->r->bc = NULL;
        bc->r = NULL;
    }
    dext_wq_done(&bc->wq);
    dext_rq_done(&bc->rq);
    uv_close((uv_handle_t *)&bc->pipe, on_bconn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct bconn *bc = h->data;
    *buf = uv_buf_init(bc->b->rbuf, sizeof(bc->b->rbuf));
}

static void on_bconn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void bconn_on_read(void *data, ssize_t nread, const uv_buf_t *buf);

static void bconn_read_start(struct bconn *bc)
{
    if (bc->reading)
        return;
    bc->reading = true;
    if (bc->rq.batch)
        dext_rq_start(&bc->rq);
    else
        (void)uv_read_start((uv_stream_t *)&bc->pipe, on_alloc, on_bconn_read);
}

static void bconn_read_stop(struct bconn *bc)
{
    bc->reading = false;
    if (bc->rq.batch)
        dext_rq_stop(&bc->rq);
    else
        (void)uv_read_stop((uv_stream_t *)&bc->pipe);
}

static struct bconn *idle_take(struct dext_backend *b)
{
    for (struct bconn *bc = b->conns; bc; bc = bc->next) {
        if (bc->idle && !bc->closing) {
            idle_remove(bc);
            return bc;
        }
    }
    return NULL;
}

static void bconn_release(struct bconn *bc)
{
    struct dext_backend *b = bc->b;

    bc->r = NULL;
    if (b->freeing || b->n_idle >= DEXT_BACKEND_MAX_IDLE) {
        bconn_close(bc);
        return;
    }
    llhttp_init(&bc->parser, HTTP_RESPONSE, &b->settings);
    bc->parser.data = bc;
    bc->idle = true;
    b->n_idle++;
    /* Move to the front so the warmest connection is used next. */
    if (b->conns != bc) {
        bc->prev->next = bc->next;
        if (bc->next)
            bc->next->prev = bc->prev;
        bc->prev = NULL;
        bc->next = b->conns;
        b->conns->prev = bc;
        b->conns = bc;
    }
    /* Keep reading so a backend that closes an idle connection is noticed. */
    bconn_read_start(bc);
}

/* ---- writing to the backend ---- */

struct bwrite {
    uv_write_t req;
    struct bconn *bc;
    char data[];
};

static size_t bconn_queued(struct bconn *bc)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&bc->pipe) +
           (bc->wq.batch ? dext_wq_pending(&bc->wq) : 0);
}

/* A write to the backend finished (libuv's or the batch's). */
static void bconn_written(struct bconn *bc, int status)
{
    struct relay *r;

    if (bc->closing)
        return;
    r = bc->r;
    if (status < 0) {
        /* The backend stopped reading (it may still answer, e.g. 413): keep
         * reading its side; the exchange ends when it answers or closes. */
        log_debug("proxy: write to backend failed: %s", uv_strerror(status));
        if (r && r->client && !r->resp_started)
            return;
        bconn_close(bc);
        return;
    }
    if (r && r->client_paused && r->client && bconn_queued(bc) < DEXT_HTTP_LOW_WATER) {
        r->client_paused = false;
        dext_http_conn_resume(r->client);
    }
}

static void on_bconn_write(uv_write_t *req, int status)
{
    struct bwrite *w = container_of(req, struct bwrite, req);
    struct bconn *bc = w->bc;

    free(w);
    bconn_written(bc, status);
}

/* Copies @bufs, less their first @skip bytes, into libuv's write queue. */
static int bconn_queue_copy(struct bconn *bc, const uv_buf_t *bufs, unsigned n, size_t skip)
{
    struct bwrite *w = xmalloc(sizeof(*w) + (dext_iov_len(bufs, n) - skip));
    uv_buf_t b = uv_buf_init(w->data, (unsigned)dext_iov_copy(w->data, bufs, n, skip));
    int r;

    w->bc = bc;
    r = uv_write(&w->req, (uv_stream_t *)&bc->pipe, &b, 1, on_bconn_write);
    if (r < 0)
        free(w);
    return r;
}

static int bconn_spill(void *data, const char *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return bconn_queue_copy(data, &b, 1, 0);
}

static void bconn_flushed(void *data)
{
    bconn_written(data, 0);
}

static void bconn_wq_error(void *data, int err)
{
    bconn_written(data, err);
}

static const struct dext_wq_ops bconn_wq_ops = {
    .spill = bconn_spill,
    .on_flushed = bconn_flushed,
    .on_error = bconn_wq_error,
};

static int bconn_writev(struct bconn *bc, const uv_buf_t *bufs, unsigned n)
{
    uv_stream_t *st = (uv_stream_t *)&bc->pipe;
    size_t total = dext_iov_len(bufs, n), skip = 0;
    int r;

    if (total == 0)
        return 0;
    if (bc->wq.batch && uv_stream_get_write_queue_size(st) == 0)
        return dext_wq_writev(&bc->wq, bufs, n);
    if (uv_stream_get_write_queue_size(st) == 0) {
        r = uv_try_write(st, bufs, n);
        if (r >= 0 && (size_t)r == total)
            return 0;
        if (r < 0 && r != UV_EAGAIN)
            return r;
        skip = r > 0 ? (size_t)r : 0;
    }
    return bconn_queue_copy(bc, bufs, n, skip);
}

/* Sends body bytes, chunk-framed when the request is chunked. */
static int relay_send_body(struct relay *r, const char *p, size_t n)
{
    char size_line[24];
    uv_buf_t bufs[3];
    unsigned nb = 0;

    if (r->req_chunked) {
        size_t len = dext_fmt_hex(size_line, n);
        size_line[len++] = '\r';
        size_line[len++] = '\n';
        bufs[nb++] = uv_buf_init(size_line, (unsigned)len);
    }
    bufs[nb++] = uv_buf_init((char *)p, (unsigned)n);
    if (r->req_chunked)
        bufs[nb++] = uv_buf_init((char *)"\r\n", 2);
    if (r->bc && r->bc->connected)
        return bconn_writev(r->bc, bufs, nb);
    for (unsigned i = 0; i < nb; i++)
        if (dext_buf_append(&r->pending, bufs[i].base, bufs[i].len) < 0)
            return -EMSGSIZE;
    return 0;
}

static void relay_check_backpressure(struct relay *r)
{
    size_t q;

    if (!r->client || r->client_paused)
        return;
    if (r->bc && r->bc->connected)
        q = bconn_queued(r->bc);
    else
        q = r->pending.len > 64 * 1024 ? DEXT_HTTP_HIGH_WATER + 1 : 0;
    if (q > DEXT_HTTP_HIGH_WATER) {
        r->client_paused = true;
        dext_http_conn_pause(r->client);
    }
}

/* ---- client-side events ---- */

static int on_client_body(void *data, const char *p, size_t n)
{
    struct relay *r = data;
    int e;

    r->can_retry = false;
    dext_buf_done(&r->retry);
    r->body_seen += n;
    if (r->body_seen > r->b->max_body) {
        relay_fail(r, 413, "request body larger than %llu bytes",
                   (unsigned long long)r->b->max_body);
        return 0;
    }
    e = relay_send_body(r, p, n);
    if (e < 0) {
        log_debug("proxy: cannot send body to backend: %s", uv_strerror(e));
        return 0; /* the backend's answer (or its closing) ends the exchange */
    }
    relay_check_backpressure(r);
    return 0;
}

static void on_client_end(void *data)
{
    struct relay *r = data;

    r->req_done = true;
    if (r->req_chunked)
        (void)relay_send_body(r, "", 0); /* "0\r\n\r\n" is the last chunk */
}

static void on_client_abort(void *data)
{
    struct relay *r = data;

    r->client = NULL;
    if (r->busy) {
        r->dead = true;
        return;
    }
    if (r->bc)
        bconn_close(r->bc); /* half-relayed: never reused */
    relay_free(r);
}

static void on_client_drain(void *data)
{
    struct relay *r = data;
    struct bconn *bc = r->bc;

    if (bc && !bc->closing)
        bconn_read_start(bc);
}

static const struct dext_http_body_ops relay_ops = {
    .on_body = on_client_body,
    .on_end = on_client_end,
    .on_abort = on_client_abort,
    .on_drain = on_client_drain,
};

/* ---- relay lifecycle ---- */

static void relay_destroy(struct relay *r)
{
    dext_buf_done(&r->pending);
    dext_buf_done(&r->retry);
    dext_buf_done(&r->rhead);
    dext_buf_done(&r->out_head);
    free(r);
}

static struct relay *relay_alloc(struct dext_backend *b)
{
    struct relay *r = b->free_relays;

    if (!r) {
        r = xcalloc(1, sizeof(*r));
        dext_buf_init(&r->pending, DEXT_BACKEND_PENDING_MAX);
        dext_buf_init(&r->retry, DEXT_HTTP_MAX_HEAD + 1024);
        dext_buf_init(&r->rhead, DEXT_BACKEND_MAX_RESP_HEAD);
        dext_buf_init(&r->out_head, DEXT_BACKEND_MAX_RESP_HEAD + 1024);
        return r;
    }
    b->free_relays = r->next_free;
    b->n_free_relays--;
    memset(r, 0, offsetof(struct relay, pending));
    return r;
}

static void relay_free(struct relay *r)
{
    struct dext_backend *b = r->b;

    awaiting_end(r, false);
    if (r->prev)
        r->prev->next = r->next;
    else
        b->relays = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->bc)
        r->bc->r = NULL;
    if (!b->freeing && b->n_free_relays < DEXT_BACKEND_MAX_IDLE) {
        /* Keep it, with small buffers, for the next call. */
        struct dext_buf *bufs[] = {&r->pending, &r->retry, &r->rhead, &r->out_head};
        for (size_t i = 0; i < ELEMENTSOF(bufs); i++) {
            if (bufs[i]->size > 8192)
                dext_buf_done(bufs[i]);
            bufs[i]->len = 0;
        }
        r->next_free = b->free_relays;
        b->free_relays = r;
        b->n_free_relays++;
        return;
    }
    relay_destroy(r);
}

static void relay_fail(struct relay *r, int status, const char *fmt, ...)
{
    struct dext_http_conn *c = r->client;
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_debug("proxy: %s", msg);
    r->client = NULL;
    if (r->bc)
        bconn_close(r->bc);
    if (c) {
        dext_http_conn_detach(c);
        if (r->resp_started) {
            dext_http_conn_abort(c);
        } else {
            dext_http_conn_resume(c);
            dext_http_respond_error(c, status, msg);
        }
    }
    relay_free(r);
}

/* The exchange is over: hand the connection back and end the client's answer. */
static void relay_done(struct relay *r)
{
    struct bconn *bc = r->bc;
    struct dext_http_conn *c = r->client;
    bool backend_keep = bc && llhttp_should_keep_alive(&bc->parser) && r->req_done;

    r->client = NULL;
    if (r->b->n_awaiting == 0 && c)
        r->b->last_done_ns = uv_hrtime();
    if (bc) {
        r->bc = NULL;
        if (backend_keep)
            bconn_release(bc);
        else
            bconn_close(bc);
    }
    if (c) {
        if (r->client_paused)
            dext_http_conn_resume(c);
        dext_http_conn_end_response(c, r->client_keep && !r->resp_close);
    }
    relay_free(r);
}

static void bind_conn(struct relay *r, struct bconn *bc)
{
    uv_buf_t b;

    r->bc = bc;
    bc->r = r;
    bconn_read_start(bc);
    b = uv_buf_init(r->pending.data, (unsigned)r->pending.len);
    if (r->pending.len)
        awaiting_start(r);
    if (r->pending.len && bconn_writev(bc, &b, 1) < 0) {
        bconn_close(bc);
        relay_fail(r, 502, "cannot write to the backend at %s", r->b->path);
        return;
    }
    r->pending.len = 0;
    if (r->client_paused && r->client && bconn_queued(bc) < DEXT_HTTP_LOW_WATER) {
        r->client_paused = false;
        dext_http_conn_resume(r->client);
    }
}

static void wait_start(struct relay *r)
{
    struct dext_backend *b = r->b;

    r->waiting = true;
    if (!uv_is_active((uv_handle_t *)&b->retry_timer))
        (void)uv_timer_start(&b->retry_timer, on_retry_timer, DEXT_BACKEND_RETRY_MS, 0);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct bconn *bc = req->data;
    struct relay *r = bc->r;
    struct dext_backend *b = bc->b;
    char desc[160] = "";
    enum dext_backend_status st;

    if (bc->closing)
        return;
    if (status == 0) {
        uv_os_fd_t fd;
        bc->connected = true;
        if (b->batch && uv_fileno((uv_handle_t *)&bc->pipe, &fd) == 0) {
            dext_wq_init(&bc->wq, b->batch, fd, &bconn_wq_ops, bc);
            if (dext_rq_init(&bc->rq, b->batch, fd, bconn_on_read, bc) < 0)
                log_debug("backend: reads go one by one on this connection");
        }
        if (r)
            bind_conn(r, bc);
        else
            bconn_release(bc);
        return;
    }
    bconn_close(bc);
    if (!r)
        return;
    r->bc = NULL;
    r->last_error = status;
    st = b->status_cb ? b->status_cb(b->status_data, desc, sizeof(desc)) : DEXT_BACKEND_UP;
    if ((status == UV_ENOENT || status == UV_ECONNREFUSED || status == UV_EAGAIN ||
         (status == UV_EACCES && st == DEXT_BACKEND_STARTING)) &&
        st != DEXT_BACKEND_DOWN && uv_now(b->loop) < r->deadline_ms) {
        wait_start(r);
        return;
    }
    if (st == DEXT_BACKEND_DOWN)
        relay_fail(r, 503, "backend not running%s%s%s: connect to %s: %s", desc[0] ? " (" : "",
                   desc, desc[0] ? ")" : "", b->path, uv_strerror(status));
    else if (uv_now(b->loop) >= r->deadline_ms)
        relay_fail(r, 504, "backend did not accept connections on %s within %d s: %s", b->path,
                   DEXT_BACKEND_WAIT_MS / 1000, uv_strerror(status));
    else
        relay_fail(r, 502, "connect to backend socket %s: %s", b->path, uv_strerror(status));
}

static void relay_connect(struct relay *r)
{
    struct dext_backend *b = r->b;
    struct bconn *bc = idle_take(b);

    if (bc) {
        r->reused = true;
        bind_conn(r, bc);
        return;
    }
    r->reused = false;
    bc = xcalloc(1, sizeof(*bc));
    bc->b = b;
    (void)uv_pipe_init(b->loop, &bc->pipe, 0);
    bc->pipe.data = bc;
    b->n_handles++;
    bc->next = b->conns;
    if (b->conns)
        b->conns->prev = bc;
    b->conns = bc;
    llhttp_init(&bc->parser, HTTP_RESPONSE, &b->settings);
    bc->parser.data = bc;
    bc->r = r;
    r->bc = bc;
    bc->connect_req.data = bc;
    uv_pipe_connect(&bc->connect_req, &bc->pipe, b->path, on_connect);
}

static void on_retry_timer(uv_timer_t *t)
{
    struct dext_backend *b = container_of(t, struct dext_backend, retry_timer);

    for (struct relay *r = b->relays, *next; r; r = next) {
        next = r->next;
        if (!r->waiting)
            continue;
        r->waiting = false;
        relay_connect(r);
    }
}

/* ---- the backend's answer ---- */

static struct relay *relay_of(llhttp_t *p)
{
    struct bconn *bc = p->data;
    return bc->r;
}

static int rhead_append(struct relay *r, const char *at, size_t n)
{
    if (dext_buf_append(&r->rhead, at, n) < 0) {
        r->head_too_big = true;
        return HPE_USER;
    }
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    struct relay *r = relay_of(p);

    if (!r)
        return HPE_USER;
    if (r->reason_len == 0)
        r->reason_off = (uint32_t)r->rhead.len;
    r->reason_len += (uint32_t)n;
    return rhead_append(r, at, n);
}

static int on_rheader_field(llhttp_t *p, const char *at, size_t n)
{
    struct relay *r = relay_of(p);

    if (!r)
        return HPE_USER;
    if (r->in_value) {
        r->hdr[r->n_hdr].value_len = (uint32_t)(r->rhead.len - r->hdr[r->n_hdr].value_off);
        r->n_hdr++;
        r->in_value = false;
    }
    if (!r->in_name) {
        if (r->n_hdr >= RELAY_MAX_RESP_HEADERS) {
            r->head_too_big = true;
            return HPE_USER;
        }
        r->in_name = true;
        r->hdr[r->n_hdr].name_off = (uint32_t)r->rhead.len;
    }
    return rhead_append(r, at, n);
}

static int on_rheader_value(llhttp_t *p, const char *at, size_t n)
{
    struct relay *r = relay_of(p);

    if (!r)
        return HPE_USER;
    if (r->in_name) {
        r->hdr[r->n_hdr].name_len = (uint32_t)(r->rhead.len - r->hdr[r->n_hdr].name_off);
        r->hdr[r->n_hdr].value_off = (uint32_t)r->rhead.len;
        r->in_name = false;
        r->in_value = true;
    }
    return rhead_append(r, at, n);
}

static void iov_add(struct relay *r, const char *p, size_t n)
{
    if (r->n_iov == RELAY_MAX_IOV)
        flush_client(r);
    r->iov[r->n_iov++] = uv_buf_init((char *)p, (unsigned)n);
}

static void flush_client(struct relay *r)
{
    if (r->n_iov && r->client)
        (void)dext_http_conn_writev(r->client, r->iov, r->n_iov);
    r->n_iov = 0;
    r->scratch_len = 0;
}

static int on_rheaders_complete(llhttp_t *p)
{
    struct relay *r = relay_of(p);
    struct dext_buf *o;
    int status = p->status_code;
    bool no_body;
    bool has_length = (p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED);

    if (!r)
        return HPE_USER;
    if (r->in_name)
        return HPE_USER;
    if (r->in_value) {
        r->hdr[r->n_hdr].value_len = (uint32_t)(r->rhead.len - r->hdr[r->n_hdr].value_off);
        r->n_hdr++;
        r->in_value = false;
    }
    if (status < 200) {
        /* An interim answer: forget it and wait for the real one. */
        r->rhead.len = 0;
        r->n_hdr = 0;
        r->reason_len = 0;
        return 0;
    }
    no_body = r->is_head || status == 204 || status == 304;
    o = &r->out_head;
    o->len = 0;
    char line[32] = "HTTP/1.1 ";
    size_t ll = 9 + dext_fmt_u64(line + 9, (uint64_t)status);
    line[ll++] = ' ';
    (void)dext_buf_append(o, line, ll);
    if (r->reason_len)
        (void)dext_buf_append(o, r->rhead.data + r->reason_off, r->reason_len);
    else
        (void)dext_buf_puts(o, dext_http_reason(status));
    (void)dext_buf_append(o, "\r\n", 2);
    for (size_t i = 0; i < r->n_hdr; i++) {
        const char *name = r->rhead.data + r->hdr[i].name_off;
        size_t nl = r->hdr[i].name_len;
        if (resp_private(name, nl))
            continue;
        (void)dext_buf_append(o, name, nl);
        (void)dext_buf_append(o, ": ", 2);
        (void)dext_buf_append(o, r->rhead.data + r->hdr[i].value_off, r->hdr[i].value_len);
        (void)dext_buf_append(o, "\r\n", 2);
    }
    if (!no_body && !has_length) {
        if (r->client_http11)
            r->resp_chunked = true;
        else
            r->resp_close = true;
    }
    if (r->resp_chunked)
        (void)dext_buf_puts(o, "Transfer-Encoding: chunked\r\n");
    (void)dext_buf_puts(o, r->client_keep && !r->resp_close ? "Connection: keep-alive\r\n\r\n"
                                                            : "Connection: close\r\n\r\n");
    r->resp_started = true;
    r->can_retry = false;
    iov_add(r, o->data, o->len);
    return r->is_head ? 1 : 0;
}

static int on_rbody(llhttp_t *p, const char *at, size_t n)
{
    struct relay *r = relay_of(p);

    if (!r)
        return HPE_USER;
    if (r->resp_chunked) {
        if (r->n_iov + 3 > RELAY_MAX_IOV || r->scratch_len + 12 > sizeof(r->scratch))
            flush_client(r);
        char *line = r->scratch + r->scratch_len;
        size_t len = dext_fmt_hex(line, n);
        line[len++] = '\r';
        line[len++] = '\n';
        r->scratch_len += len;
        iov_add(r, line, len);
        iov_add(r, at, n);
        iov_add(r, "\r\n", 2);
    } else {
        iov_add(r, at, n);
    }
    return 0;
}

static int on_rmessage_complete(llhttp_t *p)
{
    struct relay *r = relay_of(p);

    if (!r)
        return HPE_USER;
    if (r->resp_chunked)
        iov_add(r, "0\r\n\r\n", 5);
    r->resp_done = true;
    return HPE_PAUSED;
}

static void relay_retry(struct relay *r)
{
    /* The backend closed a reused connection before answering: send the
     * whole request again on a new connection, once. */
    r->retried = true;
    r->bc = NULL;
    r->rhead.len = 0;
    r->n_hdr = 0;
    r->reason_len = 0;
    r->in_name = r->in_value = false;
    r->pending.len = 0;
    (void)dext_buf_append(&r->pending, r->retry.data, r->retry.len);
    relay_connect(r);
}

static void backend_gone(struct bconn *bc, int err)
{
    struct relay *r = bc->r;

    if (!r) {
        bconn_close(bc);
        return;
    }
    if (!r->resp_started && r->reused && r->can_retry && !r->retried) {
        bc->r = NULL;
        bconn_close(bc);
        relay_retry(r);
        return;
    }
    bconn_close(bc);
    if (r->resp_started) {
        relay_fail(r, 502, "backend closed the connection in the middle of its answer");
    } else {
        relay_fail(r, 502, "backend closed the connection without answering (%s)",
                   err == UV_EOF ? "end of stream" : uv_strerror(err));
    }
}

static void on_bconn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    bconn_on_read(st->data, nread, buf);
}

static void bconn_on_read(void *data, ssize_t nread, const uv_buf_t *buf)
{
    struct bconn *bc = data;
    struct relay *r = bc->r;
    enum llhttp_errno e = HPE_OK;

    if (bc->closing || nread == 0)
        return;
    if (!r) {
        /* Idle: the backend closed it or sent bytes nobody asked for. */
        bconn_close(bc);
        return;
    }
    r->busy = true;
    r->n_iov = 0;
    r->scratch_len = 0;
    awaiting_end(r, nread > 0);
    if (nread > 0) {
        e = llhttp_execute(&bc->parser, buf->base, (size_t)nread);
    } else if (nread == UV_EOF && r->resp_started && !r->resp_done) {
        /* A body delimited by the close is complete now. */
        if (llhttp_message_needs_eof(&bc->parser))
            (void)llhttp_finish(&bc->parser);
    }
    if (!r->dead)
        flush_client(r);
    r->busy = false;
    if (r->dead) {
        bconn_close(bc);
        relay_free(r);
        return;
    }
    if (r->resp_done) {
        relay_done(r);
        return;
    }
    if (nread < 0) {
        backend_gone(bc, (int)nread);
        return;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        bool big = r->head_too_big;
        bconn_close(bc);
        relay_fail(r, 502, "backend sent a malformed answer: %s",
                   big ? "head too large" : llhttp_get_error_reason(&bc->parser));
        return;
    }
    if (r->client && dext_http_conn_queued(r->client) > DEXT_HTTP_HIGH_WATER)
        bconn_read_stop(bc);
}

/* ---- public ---- */

struct dext_backend *dext_backend_new(uv_loop_t *loop, const char *socket_path)
{
    struct dext_backend *b = xcalloc(1, sizeof(*b));

    b->loop = loop;
    b->path = xstrdup(socket_path);
    llhttp_settings_init(&b->settings);
    b->settings.on_status = on_status;
    b->settings.on_header_field = on_rheader_field;
    b->settings.on_header_value = on_rheader_value;
    b->settings.on_headers_complete = on_rheaders_complete;
    b->settings.on_body = on_rbody;
    b->settings.on_message_complete = on_rmessage_complete;
    (void)uv_timer_init(loop, &b->retry_timer);
    (void)uv_prepare_init(loop, &b->poll_check);
    (void)uv_idle_init(loop, &b->poll);
    b->poll_check.data = b->poll.data = b;
    (void)uv_prepare_start(&b->poll_check, on_poll_check);
    uv_unref((uv_handle_t *)&b->poll_check);
    uv_unref((uv_handle_t *)&b->poll);
    b->n_handles = 3;
    {
        const char *env = getenv("DEXT_POLL_US");
        b->poll_ns = (env ? strtoull(env, NULL, 10) : DEXT_BACKEND_POLL_US) * 1000;
        b->think_ns = UINT64_C(1000000000); /* until clients show they come back fast */
    }
    b->batch = dext_wbatch_acquire(loop);
    b->max_body = DEXT_HTTP_MAX_BODY;
    return b;
}

void dext_backend_set_status_cb(struct dext_backend *b, dext_backend_status_cb cb, void *data)
{
    b->status_cb = cb;
    b->status_data = data;
}

void dext_backend_set_max_body(struct dext_backend *b, uint64_t max)
{
    b->max_body = max;
}

void dext_backend_drop_idle(struct dext_backend *b)
{
    for (struct bconn *bc = b->conns, *next; bc; bc = next) {
        next = bc->next;
        if (bc->idle)
            bconn_close(bc);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct dext_backend *b = container_of((uv_timer_t *)h, struct dext_backend, retry_timer);
    b->n_handles--;
    maybe_free_backend(b);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct dext_backend *b = h->data;
    b->n_handles--;
    maybe_free_backend(b);
}

void dext_backend_free(struct dext_backend *b)
{
    if (!b || b->freeing)
        return;
    b->freeing = true;
    while (b->relays) {
        struct relay *r = b->relays;
        if (r->client) {
            struct dext_http_conn *c = r->client;
            r->client = NULL;
            dext_http_conn_abort(c);
        }
        if (r->bc)
            bconn_close(r->bc);
        relay_free(r);
    }
    while (b->conns)
        bconn_close(b->conns);
    while (b->free_relays) {
        struct relay *r = b->free_relays;
        b->free_relays = r->next_free;
        relay_destroy(r);
    }
    uv_close((uv_handle_t *)&b->retry_timer, on_timer_closed);
    uv_close((uv_handle_t *)&b->poll_check, on_poll_closed);
    uv_close((uv_handle_t *)&b->poll, on_poll_closed);
}

void dext_backend_relay(struct dext_backend *b, struct dext_http_conn *c,
                        const struct dext_http_req *req, const char *target, size_t target_len)
{
    struct relay *r;
    const struct dext_http_header *allow = dext_http_req_known(req, DEXT_H_DEXT_HEADERS);
    struct dext_buf *h;

    if (req->has_length && req->content_length > b->max_body) {
        char msg[96];
        (void)snprintf(msg, sizeof(msg), "request body larger than %llu bytes",
                       (unsigned long long)b->max_body);
        dext_http_respond_error(c, 413, msg);
        return;
    }
    r = relay_alloc(b);
    h = &r->pending;

    r->b = b;
    r->client = c;
    r->is_head = req->method_id == HTTP_HEAD;
    r->client_http11 = req->http_minor >= 1;
    r->client_keep = req->keep_alive;
    r->req_chunked = req->is_chunked;
    r->deadline_ms = uv_now(b->loop) + DEXT_BACKEND_WAIT_MS;
    r->next = b->relays;
    if (b->relays)
        b->relays->prev = r;
    b->relays = r;

    (void)dext_buf_append(h, req->method, strlen(req->method));
    (void)dext_buf_append(h, " ", 1);
    (void)dext_buf_append(h, target, target_len);
    (void)dext_buf_puts(h, " HTTP/1.1\r\nHost: localhost\r\n");
    const struct dext_http_header *ctype = dext_http_req_known(req, DEXT_H_CONTENT_TYPE);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct dext_http_header *hd = &req->headers[i];
        if (hd->is_private)
            continue;
        if (allow && hd != ctype &&
            !in_list(allow->value, allow->value_len, hd->name, hd->name_len))
            continue;
        (void)dext_buf_append(h, hd->name, hd->name_len);
        (void)dext_buf_append(h, ": ", 2);
        (void)dext_buf_append(h, hd->value, hd->value_len);
        (void)dext_buf_append(h, "\r\n", 2);
    }
    if (req->is_chunked) {
        (void)dext_buf_puts(h, "Transfer-Encoding: chunked\r\n");
    } else if (req->has_length) {
        char cl[48] = "Content-Length: ";
        size_t n = 16 + dext_fmt_u64(cl + 16, req->content_length);
        cl[n++] = '\r';
        cl[n++] = '\n';
        (void)dext_buf_append(h, cl, n);
    }
    if (dext_buf_append(h, "\r\n", 2) < 0) {
        relay_free(r);
        dext_http_respond_error(c, 431, "request head too large to relay");
        return;
    }
    r->req_done = !req->has_body;
    r->can_retry = !req->has_body && dext_buf_append(&r->retry, h->data, h->len) == 0;
    dext_http_conn_attach(c, &relay_ops, r);
    relay_connect(r);
}
