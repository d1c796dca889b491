/* SPDX-License-Identifier: MIT */
/* A dev server's WebSocket (live reload, hot updates) through the extension's origin:
 * the upgrade request goes to the dev server, and from then on bytes go both ways. */
#include "api/devsrc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"

struct tunnel {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct dext_http_conn *conn; /* NULL once the page's side is gone or ended */
    struct dext_buf early;       /* the page's bytes before the dev server answered */
    char *head;                  /* the request sent to the dev server */
    size_t up_queued;            /* bytes written to the dev server, not yet taken */
    bool connected;
    bool page_paused; /* reading from the page stopped: the dev server is slow */
    bool up_paused;   /* reading from the dev server stopped: the page is slow */
    bool closing;
};

struct up_write {
    uv_write_t req;
    struct tunnel *t;
    size_t len;
    char data[];
};

static void on_closed(uv_handle_t *h)
{
    struct tunnel *t = h->data;

    dext_buf_done(&t->early);
    free(t->head);
    free(t);
}

/* Ends both sides: the page's connection closes once what was written reached it. */
static void tunnel_close(struct tunnel *t)
{
    struct dext_http_conn *c = t->conn;

    if (t->closing)
        return;
    t->closing = true;
    t->conn = NULL;
    if (c)
        dext_http_conn_end_response(c, false);
    uv_close((uv_handle_t *)&t->tcp, on_closed);
}

/* Before the switch: an answer of dext's own, then the end. */
static void tunnel_fail(struct tunnel *t, const char *why)
{
    char msg[320], head[160];
    int n = snprintf(msg, sizeof(msg), "{\"error\":\"%s\"}", why);
    int h = snprintf(head, sizeof(head),
                     "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
                     "X-Dext-Error: 1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                     n);

    if (t->conn) {
        (void)dext_http_conn_write(t->conn, head, (size_t)h);
        (void)dext_http_conn_write(t->conn, msg, (size_t)n);
    }
    tunnel_close(t);
}

static void on_up_written(uv_write_t *req, int status)
{
    struct up_write *w = container_of(req, struct up_write, req);
    struct tunnel *t = w->t;

    t->up_queued -= w->len;
    free(w);
    if (t->closing)
        return;
    if (status < 0) {
        log_debug("dev tunnel: write to the dev server failed: %s", uv_strerror(status));
        tunnel_close(t);
        return;
    }
    if (t->page_paused && t->up_queued < DEXT_HTTP_LOW_WATER && t->conn) {
        t->page_paused = false;
        dext_http_conn_resume(t->conn);
    }
}

static int up_write(struct tunnel *t, const char *p, size_t n)
{
    struct up_write *w = xmalloc(sizeof(*w) + n);
    uv_buf_t b;
    int r;

    w->t = t;
    w->len = n;
    memcpy(w->data, p, n);
    b = uv_buf_init(w->data, (unsigned)n);
    r = uv_write(&w->req, (uv_stream_t *)&t->tcp, &b, 1, on_up_written);
    if (r < 0) {
        free(w);
        return r;
    }
    t->up_queued += n;
    if (t->up_queued >= DEXT_HTTP_HIGH_WATER && !t->page_paused && t->conn) {
        t->page_paused = true;
        dext_http_conn_pause(t->conn);
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[64 * 1024];
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tunnel *t = s->data;

    if (t->closing || nread == 0)
        return;
    if (nread < 0 || !t->conn) {
        tunnel_close(t); /* the dev server ended it: so does the page's side */
        return;
    }
    if (dext_http_conn_write(t->conn, buf->base, (size_t)nread) < 0) {
        tunnel_close(t);
        return;
    }
    if (dext_http_conn_queued(t->conn) >= DEXT_HTTP_HIGH_WATER && !t->up_paused) {
        t->up_paused = true;
        (void)uv_read_stop(s);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tunnel *t = req->data;

    if (t->closing)
        return;
    if (status < 0) {
        char why[160];
        (void)snprintf(why, sizeof(why), "the dev server is not answering: %s",
                       uv_strerror(status));
        tunnel_fail(t, why);
        return;
    }
    t->connected = true;
    if (up_write(t, t->head, strlen(t->head)) < 0 ||
        (t->early.len && up_write(t, t->early.data, t->early.len) < 0) ||
        uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_up_read) < 0) {
        tunnel_fail(t, "cannot talk to the dev server");
        return;
    }
    dext_buf_done(&t->early);
}

/* ---- the page's side ---- */

static int on_page_bytes(void *data, const char *p, size_t n)
{
    struct tunnel *t = data;

    if (t->closing)
        return -ECONNRESET;
    if (!t->connected)
        return dext_buf_append(&t->early, p, n) < 0 ? -ENOBUFS : 0;
    return up_write(t, p, n) < 0 ? -EIO : 0;
}

static void on_page_gone(void *data)
{
    struct tunnel *t = data;

    t->conn = NULL;
    tunnel_close(t);
}

static void on_page_drain(void *data)
{
    struct tunnel *t = data;

    if (t->up_paused && !t->closing) {
        t->up_paused = false;
        (void)uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_up_read);
    }
}

static const struct dext_http_body_ops tunnel_ops = {
    .on_body = on_page_bytes,
    .on_abort = on_page_gone,
    .on_drain = on_page_drain,
};

/* Headers that stay here: dext's own, the page's cookies (dext's secret among them)
 * and the ones rewritten for the dev server. */
static bool header_stays(const struct dext_http_header *h)
{
    static const char *const names[] = {
        "host",           "cookie",           "origin", "keep-alive", "proxy-connection",
        "content-length", "transfer-encoding"};

    if (h->name_len >= 7 && strncasecmp(h->name, "x-dext-", 7) == 0)
        return true;
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (h->name_len == strlen(names[i]) && strncasecmp(h->name, names[i], h->name_len) == 0)
            return true;
    return false;
}

void dext_devsrc_tunnel(uv_loop_t *loop, const char *dev_url, struct dext_http_conn *c,
                        const struct dext_http_req *req, const char *target, size_t target_len)
{
    char ip[48], why[160], authority[64];
    const char *base;
    int port, r;
    struct sockaddr_storage addr;
    struct dext_buf head;
    struct tunnel *t;

    if (dext_devsrc_parse_url(dev_url, ip, &port, &base, why) < 0) {
        dext_http_respond_error(c, 502, why);
        return;
    }
    r = strchr(ip, ':') ? uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&addr)
                        : uv_ip4_addr(ip, port, (struct sockaddr_in *)&addr);
    if (r < 0) {
        dext_http_respond_error(c, 502, "bad dev server address");
        return;
    }
    (void)snprintf(authority, sizeof(authority), "%s%s%s:%d", strchr(ip, ':') ? "[" : "", ip,
                   strchr(ip, ':') ? "]" : "", port);
    /* The request as the dev server expects it from its own page: its Host, and its
     * Origin when the page sent one (dext has checked the page's). */
    dext_buf_init(&head, DEXT_DEVSRC_MAX_HEAD);
    (void)dext_buf_printf(&head, "%s %.*s HTTP/1.1\r\nHost: %s\r\n", req->method, (int)target_len,
                          target, authority);
    if (dext_http_req_known(req, DEXT_H_ORIGIN))
        (void)dext_buf_printf(&head, "Origin: http://%s\r\n", authority);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct dext_http_header *h = &req->headers[i];
        if (!header_stays(h))
            (void)dext_buf_printf(&head, "%.*s: %.*s\r\n", (int)h->name_len, h->name,
                                  (int)h->value_len, h->value);
    }
    if (dext_buf_puts(&head, "\r\n") < 0 || dext_buf_terminate(&head) < 0) {
        dext_buf_done(&head);
        dext_http_respond_error(c, 431, "request head too large for the dev server");
        return;
    }
    t = xcalloc(1, sizeof(*t));
    t->conn = c;
    t->head = dext_buf_take(&head, NULL);
    dext_buf_init(&t->early, 1024 * 1024);
    (void)uv_tcp_init(loop, &t->tcp);
    t->tcp.data = t->connect.data = t;
    dext_http_conn_tunnel(c, &tunnel_ops, t);
    r = uv_tcp_connect(&t->connect, &t->tcp, (struct sockaddr *)&addr, on_connect);
    if (r < 0) {
        (void)snprintf(why, sizeof(why), "cannot connect to the dev server: %s", uv_strerror(r));
        tunnel_fail(t, why);
    }
}
