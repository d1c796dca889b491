/* SPDX-License-Identifier: MIT */
/* The UI from a dev server: fetch, inject, answer. */
#include "api/devsrc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <llhttp.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/parse-util.h"
#include "base/xalloc.h"
#include "http/static.h"

struct fetch {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    llhttp_t parser;
    llhttp_settings_t settings;
    struct dext_http_conn *conn; /* NULL once the page left or was answered */
    char *request;
    char *inject;
    char *extra;
    struct dext_buf body;
    char field[64];
    size_t field_len;
    bool field_done;
    struct dext_buf value;
    char *ctype;
    char *location;
    size_t head_bytes;
    bool complete;
    int n_open; /* handles not closed yet */
    bool closing;
};

int dext_devsrc_parse_url(const char *url, char *ret_ip, int *ret_port, const char **ret_path,
                          char *why)
{
    const char *h, *end, *colon = NULL;
    char host[64];
    unsigned port = 80;
    size_t n;

    if (!url || strlen(url) > DEXT_DEVSRC_URL_MAX || strncmp(url, "http://", 7) != 0) {
        (void)snprintf(why, 160, "the dev server URL must start with http://");
        return -EINVAL;
    }
    h = url + 7;
    end = h + strcspn(h, "/?#");
    if (h[0] == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) {
            (void)snprintf(why, 160, "bad IPv6 address in the dev server URL");
            return -EINVAL;
        }
        n = (size_t)(rb - h - 1);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        h++;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        n = (size_t)((colon ? colon : end) - h);
    }
    if (n == 0 || n >= sizeof(host)) {
        (void)snprintf(why, 160, "no host in the dev server URL");
        return -EINVAL;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    if (colon) {
        char p[8];
        size_t pn = (size_t)(end - colon - 1);
        if (pn == 0 || pn >= sizeof(p)) {
            (void)snprintf(why, 160, "bad port in the dev server URL");
            return -EINVAL;
        }
        memcpy(p, colon + 1, pn);
        p[pn] = '\0';
        if (safe_atou(p, &port) < 0 || port == 0 || port > 65535) {
            (void)snprintf(why, 160, "bad port in the dev server URL");
            return -EINVAL;
        }
    }
    if (strcasecmp(host, "localhost") == 0) {
        (void)snprintf(ret_ip, 48, "127.0.0.1");
    } else if (strcmp(host, "::1") == 0) {
        (void)snprintf(ret_ip, 48, "::1");
    } else {
        struct sockaddr_in a;
        if (strncmp(host, "127.", 4) != 0 || uv_ip4_addr(host, 0, &a) != 0) {
            (void)snprintf(why, 160,
                           "the dev server must run on this machine (localhost, 127.0.0.1 or "
                           "[::1]), not '%.60s'",
                           host);
            return -EINVAL;
        }
        (void)snprintf(ret_ip, 48, "%.47s", host);
    }
    if (strpbrk(end, "?#")) {
        (void)snprintf(why, 160, "the dev server URL takes no query or fragment");
        return -EINVAL;
    }
    *ret_port = (int)port;
    *ret_path = *end ? end : "/";
    return 0;
}

/* ---- one fetch ---- */

static void on_closed(uv_handle_t *h)
{
    struct fetch *f = h->data;

    if (--f->n_open > 0)
        return;
    dext_buf_done(&f->body);
    dext_buf_done(&f->value);
    free(f->request);
    free(f->inject);
    free(f->extra);
    free(f->ctype);
    free(f->location);
    free(f);
}

static void fetch_close(struct fetch *f)
{
    if (f->closing)
        return;
    f->closing = true;
    if (f->conn)
        dext_http_conn_detach(f->conn);
    f->conn = NULL;
    uv_close((uv_handle_t *)&f->tcp, on_closed);
    uv_close((uv_handle_t *)&f->timer, on_closed);
}

static void fail(struct fetch *f, int status, const char *fmt, ...) _printf_(3, 4);
static void fail(struct fetch *f, int status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (f->conn) {
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        dext_http_conn_detach(f->conn);
        dext_http_respond_error(f->conn, status, msg);
        f->conn = NULL;
    }
    fetch_close(f);
}

static void answer(struct fetch *f)
{
    int status = llhttp_get_status_code(&f->parser);
    bool html = f->ctype && strncasecmp(f->ctype, "text/html", 9) == 0;
    struct dext_buf hdr, out;
    struct dext_http_conn *c = f->conn;

    if (!c) {
        fetch_close(f);
        return;
    }
    dext_http_conn_detach(c);
    f->conn = NULL;
    dext_buf_init(&hdr, 8192);
    (void)dext_buf_puts(&hdr, "Cache-Control: no-store\r\n");
    if (f->location)
        (void)dext_buf_printf(&hdr, "Location: %s\r\n", f->location);
    if (f->extra)
        (void)dext_buf_puts(&hdr, f->extra);
    (void)dext_buf_terminate(&hdr);
    if (html && f->inject) {
        const char *b = f->body.data ? f->body.data : "";
        size_t at = dext_static_inject_offset(b, f->body.len);
        dext_buf_init(&out, f->body.len + strlen(f->inject) + 1);
        (void)dext_buf_append(&out, b, at);
        (void)dext_buf_puts(&out, f->inject);
        (void)dext_buf_append(&out, b + at, f->body.len - at);
        dext_http_respond(c, status, f->ctype, hdr.data, out.data ? out.data : "", out.len);
        dext_buf_done(&out);
    } else {
        dext_http_respond(c, status, f->ctype ? f->ctype : "application/octet-stream", hdr.data,
                          f->body.data ? f->body.data : "", f->body.len);
    }
    dext_buf_done(&hdr);
    fetch_close(f);
}

static struct fetch *fetch_of(llhttp_t *p)
{
    return container_of(p, struct fetch, parser);
}

static int on_hfield(llhttp_t *p, const char *at, size_t n)
{
    struct fetch *f = fetch_of(p);

    if (f->field_done) {
        f->field_len = 0;
        f->field_done = false;
        dext_buf_consume(&f->value, f->value.len);
    }
    f->head_bytes += n;
    if (f->field_len + n < sizeof(f->field)) {
        memcpy(f->field + f->field_len, at, n);
        f->field_len += n;
    }
    return f->head_bytes > DEXT_DEVSRC_MAX_HEAD ? -1 : 0;
}

static int on_hvalue(llhttp_t *p, const char *at, size_t n)
{
    struct fetch *f = fetch_of(p);

    f->field_done = true;
    f->head_bytes += n;
    if (f->head_bytes > DEXT_DEVSRC_MAX_HEAD)
        return -1;
    return dext_buf_append(&f->value, at, n) < 0 ? -1 : 0;
}

static int on_hvalue_complete(llhttp_t *p)
{
    struct fetch *f = fetch_of(p);
    char **slot = NULL;

    f->field_done = true;
    if (f->field_len == 12 && strncasecmp(f->field, "content-type", 12) == 0)
        slot = &f->ctype;
    else if (f->field_len == 8 && strncasecmp(f->field, "location", 8) == 0)
        slot = &f->location;
    if (slot && !*slot) {
        /* A header line we pass on must not be able to end the head early. */
        for (size_t i = 0; i < f->value.len; i++)
            if (f->value.data[i] == '\r' || f->value.data[i] == '\n')
                return 0;
        *slot = xstrndup(f->value.data ? f->value.data : "", f->value.len);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    return dext_buf_append(&fetch_of(p)->body, at, n) < 0 ? -1 : 0;
}

static int on_complete(llhttp_t *p)
{
    fetch_of(p)->complete = true;
    return HPE_PAUSED;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[64 * 1024];
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct fetch *f = s->data;
    enum llhttp_errno e = HPE_OK;

    if (nread == 0 || f->closing)
        return;
    if (nread > 0)
        e = llhttp_execute(&f->parser, buf->base, (size_t)nread);
    else if (nread == UV_EOF)
        e = llhttp_finish(&f->parser);
    if (f->complete) {
        answer(f);
        return;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        fail(f, f->body.len >= DEXT_DEVSRC_MAX_BODY ? 413 : 502, "the dev server's answer: %s",
             f->body.len >= DEXT_DEVSRC_MAX_BODY ? "larger than 64 MiB"
                                                 : llhttp_get_error_reason(&f->parser));
        return;
    }
    if (nread < 0)
        fail(f, 502, "the dev server closed the connection early (%s)", uv_strerror((int)nread));
}

static void on_write(uv_write_t *w, int status)
{
    struct fetch *f = w->data;

    if (status < 0 && !f->closing)
        fail(f, 502, "cannot send to the dev server: %s", uv_strerror(status));
}

static void on_connect(uv_connect_t *req, int status)
{
    struct fetch *f = req->data;
    uv_buf_t b;

    if (f->closing)
        return;
    if (status < 0) {
        fail(f, 502, "the dev server is not answering: %s", uv_strerror(status));
        return;
    }
    b = uv_buf_init(f->request, (unsigned)strlen(f->request));
    f->write.data = f;
    if (uv_write(&f->write, (uv_stream_t *)&f->tcp, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&f->tcp, on_alloc, on_read) < 0)
        fail(f, 502, "cannot talk to the dev server%s", "");
}

static void on_timeout(uv_timer_t *t)
{
    fail(t->data, 504, "the dev server did not answer in time%s", "");
}

static void on_page_abort(void *data)
{
    struct fetch *f = data;
    f->conn = NULL;
    fetch_close(f);
}

static const struct dext_http_body_ops fetch_ops = {.on_abort = on_page_abort};

void dext_devsrc_fetch(uv_loop_t *loop, const char *dev_url, struct dext_http_conn *c,
                       const struct dext_http_req *req, const char *target, size_t target_len,
                       const char *inject, const char *extra_headers)
{
    char ip[48], why[160];
    const char *base;
    int port, r;
    struct sockaddr_storage addr;
    struct fetch *f;

    if (dext_devsrc_parse_url(dev_url, ip, &port, &base, why) < 0) {
        dext_http_respond_error(c, 502, why);
        return;
    }
    if (strchr(ip, ':'))
        r = uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(ip, port, (struct sockaddr_in *)&addr);
    if (r < 0) {
        dext_http_respond_error(c, 502, "bad dev server address");
        return;
    }
    f = xcalloc(1, sizeof(*f));
    f->conn = c;
    f->inject = inject ? xstrdup(inject) : NULL;
    f->extra = extra_headers ? xstrdup(extra_headers) : NULL;
    dext_buf_init(&f->body, DEXT_DEVSRC_MAX_BODY);
    dext_buf_init(&f->value, 16 * 1024);
    f->request = xasprintf("GET %.*s HTTP/1.1\r\nHost: %s%s%s:%d\r\nConnection: close\r\n"
                           "Accept-Encoding: identity\r\nAccept: */*\r\nUser-Agent: dext\r\n\r\n",
                           (int)target_len, target, strchr(ip, ':') ? "[" : "", ip,
                           strchr(ip, ':') ? "]" : "", port);
    llhttp_settings_init(&f->settings);
    f->settings.on_header_field = on_hfield;
    f->settings.on_header_value = on_hvalue;
    f->settings.on_header_value_complete = on_hvalue_complete;
    f->settings.on_body = on_body;
    f->settings.on_message_complete = on_complete;
    llhttp_init(&f->parser, HTTP_RESPONSE, &f->settings);
    (void)uv_tcp_init(loop, &f->tcp);
    (void)uv_timer_init(loop, &f->timer);
    f->tcp.data = f->timer.data = f->connect.data = f;
    f->n_open = 2;
    dext_http_conn_attach(c, &fetch_ops, f);
    (void)uv_timer_start(&f->timer, on_timeout, DEXT_DEVSRC_TIMEOUT_MS, 0);
    r = uv_tcp_connect(&f->connect, &f->tcp, (struct sockaddr *)&addr, on_connect);
    if (r < 0)
        fail(f, 502, "cannot connect to the dev server: %s", uv_strerror(r));
    (void)req;
}
