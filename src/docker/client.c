/* SPDX-License-Identifier: MIT */
/* Docker Engine API client over a unix socket or TCP. */
#include "docker/client.h"

#include <errno.h>
#include <llhttp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/parse-util.h"
#include "base/xalloc.h"

struct call {
    struct dext_docker *d;
    struct call *next;
    union {
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_timer_t timer;
    llhttp_t parser;
    struct dext_buf out;  /* the request */
    struct dext_buf body; /* the answer */
    char *method, *path;
    char *req_body;
    size_t req_body_len;
    dext_docker_cb cb;
    const struct dext_docker_stream_ops *ops; /* a streaming call */
    void *data;
    int n_handles;
    bool streaming; /* a 2xx answer's body goes to ops->on_data */
    bool upgrade;   /* asks the engine to hijack the connection (exec start with stdin) */
    bool upgraded;  /* the engine answered 101: what follows the head is raw */
    bool raw;       /* the head is parsed: reads go to ops->on_data unparsed */
    bool done;
    bool is_ping;
    bool in_version_header;
    bool complete;
    int status;
    char api_version[16];
};

struct dext_docker {
    uv_loop_t *loop;
    char *endpoint;  /* as given, for messages */
    char *unix_path; /* or NULL */
    struct sockaddr_storage tcp_addr;
    char api_version[16]; /* "" until negotiated */
    char too_old[256];
    bool negotiating;
    struct call *calls;
    struct call *waiting; /* calls queued behind the negotiation */
    llhttp_settings_t settings;
};

static void call_start(struct call *c);

static void on_call_closed(uv_handle_t *h)
{
    struct call *c = h->data;

    if (--c->n_handles > 0)
        return;
    dext_buf_done(&c->out);
    dext_buf_done(&c->body);
    free(c->method);
    free(c->path);
    free(c->req_body);
    free(c);
}

static void call_unlink(struct call *c)
{
    for (struct call **pp = &c->d->calls; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            return;
        }
    }
}

static void negotiated(struct dext_docker *d, int err, const char *msg);

/* "1.41" < "1.45", numerically per part. */
static bool version_less(const char *a, const char *b)
{
    unsigned long a1 = strtoul(a, (char **)&a, 10), b1 = strtoul(b, (char **)&b, 10);
    unsigned long a2 = *a == '.' ? strtoul(a + 1, NULL, 10) : 0;
    unsigned long b2 = *b == '.' ? strtoul(b + 1, NULL, 10) : 0;
    return a1 < b1 || (a1 == b1 && a2 < b2);
}

/* Ends the call once: callback, then close. */
static void call_finish(struct call *c, int status, int err, const char *msg)
{
    if (c->done)
        return;
    c->done = true;
    call_unlink(c);
    (void)uv_timer_stop(&c->timer);
    if (c->is_ping) {
        if (err == 0 && status != 200) {
            err = -EPROTO;
            msg = "the engine refused the version check";
        }
        if (err == 0 && c->api_version[0] && version_less(c->api_version, DEXT_DOCKER_MIN_API)) {
            (void)snprintf(c->d->too_old, sizeof(c->d->too_old),
                           "the Docker engine at %s speaks API %s; dext needs %s or newer",
                           c->d->endpoint, c->api_version, DEXT_DOCKER_MIN_API);
            err = -EPROTO;
            msg = c->d->too_old;
        } else if (err == 0 && c->api_version[0]) {
            memcpy(c->d->api_version, c->api_version, sizeof(c->api_version));
        } else if (err == 0) {
            memcpy(c->d->api_version, DEXT_DOCKER_MIN_API, sizeof(DEXT_DOCKER_MIN_API));
        }
        negotiated(c->d, err, msg);
    } else if (c->cb) {
        c->cb(c->data, status, c->body.data ? c->body.data : "", c->body.len, err, msg);
    } else if (c->ops && err != -ECANCELED) {
        c->ops->on_end(c->data, status, c->body.data ? c->body.data : "", c->body.len, err, msg);
    }
    uv_close((uv_handle_t *)&c->h, on_call_closed);
    uv_close((uv_handle_t *)&c->timer, on_call_closed);
}

static void fail_errno(struct call *c, const char *what, int err)
{
    char msg[512];

    (void)snprintf(msg, sizeof(msg), "cannot reach the Docker engine at %s: %s: %s", c->d->endpoint,
                   what, uv_strerror(err));
    call_finish(c, 0, err, msg);
}

static void on_timeout(uv_timer_t *t)
{
    fail_errno(t->data, "no answer in time", UV_ETIMEDOUT);
}

/* ---- response parsing ---- */

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct call *c = p->data;
    c->in_version_header = n == 11 && strncasecmp(at, "Api-Version", 11) == 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct call *c = p->data;

    if (c->in_version_header && n < sizeof(c->api_version)) {
        memcpy(c->api_version, at, n);
        c->api_version[n] = '\0';
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct call *c = p->data;

    c->status = p->status_code;
    if (c->upgrade && c->status == 101) {
        /* Hijacked: the stream lasts as long as the session does. */
        c->upgraded = true;
        c->streaming = true;
        (void)uv_timer_stop(&c->timer);
        if (c->ops->on_head)
            c->ops->on_head(c->data, c->status);
        return 0;
    }
    if (c->ops && !c->upgrade && c->status >= 200 && c->status < 300) {
        /* The head is in: a stream may now be silent for as long as it likes. */
        c->streaming = true;
        (void)uv_timer_stop(&c->timer);
        if (c->ops->on_head)
            c->ops->on_head(c->data, c->status);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct call *c = p->data;

    if (c->streaming) {
        c->ops->on_data(c->data, at, n);
        return c->done ? HPE_USER : 0;
    }
    return dext_buf_append(&c->body, at, n) < 0 ? HPE_USER : 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct call *c = p->data;
    c->status = p->status_code;
    if (c->upgraded)
        return 0; /* llhttp stops with HPE_PAUSED_UPGRADE right after the head */
    c->complete = true;
    return HPE_PAUSED;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char rbuf[64 * 1024];
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct call *c = st->data;
    enum llhttp_errno e;

    if (c->done || n == 0)
        return;
    if (c->raw) {
        if (n < 0)
            call_finish(c, c->status, n == UV_EOF ? 0 : (int)n,
                        n == UV_EOF ? NULL : "the engine connection failed");
        else
            c->ops->on_data(c->data, buf->base, (size_t)n);
        return;
    }
    if (n < 0) {
        if (n == UV_EOF && llhttp_finish(&c->parser) == HPE_OK && c->complete) {
            call_finish(c, c->status, 0, NULL);
            return;
        }
        if (!c->complete) {
            fail_errno(c, "the engine closed the connection", (int)n);
            return;
        }
        call_finish(c, c->status, 0, NULL);
        return;
    }
    e = llhttp_execute(&c->parser, buf->base, (size_t)n);
    if (c->done)
        return; /* cancelled from a callback */
    if (c->upgraded && e == HPE_PAUSED_UPGRADE) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        c->raw = true;
        if (pos && pos >= buf->base && pos < buf->base + n)
            c->ops->on_data(c->data, pos, (size_t)(buf->base + n - pos));
        return;
    }
    if (c->complete) {
        call_finish(c, c->status, 0, NULL);
        return;
    }
    if (e != HPE_OK) {
        char msg[256];
        (void)snprintf(msg, sizeof(msg), "the Docker engine at %s sent a bad answer: %s",
                       c->d->endpoint,
                       c->body.len >= DEXT_DOCKER_MAX_BODY ? "larger than 64 MiB"
                                                           : llhttp_get_error_reason(&c->parser));
        call_finish(c, 0, -EPROTO, msg);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct call *c = req->data;

    if (status < 0 && !c->done)
        fail_errno(c, "sending the request", status);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct call *c = req->data;
    uv_buf_t b;

    if (c->done)
        return;
    if (status < 0) {
        fail_errno(c, "connect", status);
        return;
    }
    b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->h, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) < 0)
        fail_errno(c, "sending the request", UV_EIO);
}

static void call_start(struct call *c)
{
    struct dext_docker *d = c->d;
    const char *version = c->is_ping ? NULL : d->api_version;

    c->out.len = 0;
    (void)dext_buf_printf(&c->out, "%s %s%s%s HTTP/1.1\r\nHost: docker\r\nUser-Agent: dext\r\n",
                          c->method, version ? "/v" : "", version ? version : "", c->path);
    if (c->req_body)
        (void)dext_buf_printf(&c->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                              c->req_body_len);
    (void)dext_buf_puts(&c->out, c->upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                                            : "Connection: close\r\n\r\n");
    if (c->req_body)
        (void)dext_buf_append(&c->out, c->req_body, c->req_body_len);
    c->connect_req.data = c;
    (void)uv_timer_start(&c->timer, on_timeout, DEXT_DOCKER_TIMEOUT_MS, 0);
    if (d->unix_path) {
        uv_pipe_connect(&c->connect_req, &c->h.pipe, d->unix_path, on_connect);
    } else {
        int r =
            uv_tcp_connect(&c->connect_req, &c->h.tcp, (struct sockaddr *)&d->tcp_addr, on_connect);
        if (r < 0)
            fail_errno(c, "connect", r);
    }
}

static struct call *call_new(struct dext_docker *d, const char *method, const char *path)
{
    struct call *c = xcalloc(1, sizeof(*c));

    c->d = d;
    c->method = xstrdup(method);
    c->path = xstrdup(path);
    if (d->unix_path)
        (void)uv_pipe_init(d->loop, &c->h.pipe, 0);
    else
        (void)uv_tcp_init(d->loop, &c->h.tcp);
    c->h.pipe.data = c;
    (void)uv_timer_init(d->loop, &c->timer);
    c->timer.data = c;
    c->n_handles = 2;
    dext_buf_init(&c->out, 1024 * 1024 + 4096);
    dext_buf_init(&c->body, DEXT_DOCKER_MAX_BODY);
    llhttp_init(&c->parser, HTTP_RESPONSE, &d->settings);
    c->parser.data = c;
    c->next = d->calls;
    d->calls = c;
    return c;
}

static void negotiated(struct dext_docker *d, int err, const char *msg)
{
    struct call *w = d->waiting;

    d->negotiating = false;
    d->waiting = NULL;
    while (w) {
        struct call *next = w->next;
        w->next = d->calls;
        d->calls = w;
        if (err < 0)
            call_finish(w, 0, err, msg);
        else
            call_start(w);
        w = next;
    }
    if (err < 0)
        d->api_version[0] = '\0'; /* try again next time */
}

/* Starts @c now, or parks it until the engine has told its API version. */
static void call_submit(struct call *c, const char *body, size_t body_len)
{
    struct dext_docker *d = c->d;

    if (body) {
        c->req_body = xmemdup(body, body_len);
        c->req_body_len = body_len;
    }
    if (d->api_version[0]) {
        call_start(c);
        return;
    }
    call_unlink(c);
    c->next = d->waiting;
    d->waiting = c;
    if (!d->negotiating) {
        struct call *ping = call_new(d, "GET", "/_ping");
        d->negotiating = true;
        ping->is_ping = true;
        call_start(ping);
    }
}

void dext_docker_request(struct dext_docker *d, const char *method, const char *path,
                         const char *body, size_t body_len, dext_docker_cb cb, void *data)
{
    struct call *c = call_new(d, method, path);

    c->cb = cb;
    c->data = data;
    call_submit(c, body, body_len);
}

struct dext_docker_call *dext_docker_stream(struct dext_docker *d, const char *method,
                                            const char *path, const char *body, size_t body_len,
                                            const struct dext_docker_stream_ops *ops, void *data)
{
    struct call *c = call_new(d, method, path);

    c->ops = ops;
    c->data = data;
    call_submit(c, body, body_len);
    return (struct dext_docker_call *)c;
}

struct dext_docker_call *dext_docker_upgrade(struct dext_docker *d, const char *method,
                                             const char *path, const char *body, size_t body_len,
                                             const struct dext_docker_stream_ops *ops, void *data)
{
    struct call *c = call_new(d, method, path);

    c->ops = ops;
    c->data = data;
    c->upgrade = true;
    call_submit(c, body, body_len);
    return (struct dext_docker_call *)c;
}

struct write_req {
    uv_write_t req;
    char data[];
};

static void on_raw_written(uv_write_t *req, int status)
{
    free(container_of(req, struct write_req, req));
}

int dext_docker_call_write(struct dext_docker_call *call, const char *p, size_t n)
{
    struct call *c = (struct call *)call;
    struct write_req *w;
    uv_buf_t b;
    int r;

    if (c->done || !c->raw)
        return -ENOTCONN;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->h) > DEXT_DOCKER_MAX_WRITE_QUEUE)
        return -ENOBUFS;
    if (n == 0)
        return 0;
    w = xmalloc(sizeof(*w) + n);
    memcpy(w->data, p, n);
    b = uv_buf_init(w->data, (unsigned)n);
    r = uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, on_raw_written);
    if (r < 0)
        free(w);
    return r;
}

void dext_docker_call_pause(struct dext_docker_call *call)
{
    struct call *c = (struct call *)call;

    if (!c->done && c->streaming)
        (void)uv_read_stop((uv_stream_t *)&c->h);
}

void dext_docker_call_resume(struct dext_docker_call *call)
{
    struct call *c = (struct call *)call;

    if (!c->done && c->streaming)
        (void)uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
}

void dext_docker_call_cancel(struct dext_docker_call *call)
{
    struct call *c = (struct call *)call;

    if (c->done)
        return;
    for (struct call **pp = &c->d->waiting; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            c->next = c->d->calls;
            c->d->calls = c;
            break;
        }
    }
    call_finish(c, 0, -ECANCELED, "cancelled");
}

int dext_docker_new(uv_loop_t *loop, const char *host, struct dext_docker **ret)
{
    struct dext_docker *d;
    const char *h = host ? host : getenv("DOCKER_HOST");

    if (!h || !*h)
        h = "unix:///var/run/docker.sock";
    d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    d->endpoint = xstrdup(h);
    if (strncmp(h, "unix://", 7) == 0) {
        d->unix_path = xstrdup(h + 7);
    } else if (strncmp(h, "tcp://", 6) == 0) {
        char hostpart[256];
        const char *colon = strrchr(h + 6, ':');
        unsigned port = 2375;
        size_t n = colon ? (size_t)(colon - h - 6) : strlen(h + 6);
        if (n >= sizeof(hostpart) || (colon && safe_atou(colon + 1, &port) < 0) || port > 65535) {
            free(d->endpoint);
            free(d);
            return -EINVAL;
        }
        memcpy(hostpart, h + 6, n);
        hostpart[n] = '\0';
        if (uv_ip4_addr(hostpart, (int)port, (struct sockaddr_in *)&d->tcp_addr) < 0 &&
            uv_ip6_addr(hostpart, (int)port, (struct sockaddr_in6 *)&d->tcp_addr) < 0) {
            free(d->endpoint);
            free(d);
            return -EINVAL;
        }
    } else {
        free(d->endpoint);
        free(d);
        return -EINVAL;
    }
    llhttp_settings_init(&d->settings);
    d->settings.on_header_field = on_header_field;
    d->settings.on_header_value = on_header_value;
    d->settings.on_headers_complete = on_headers_complete;
    d->settings.on_body = on_body;
    d->settings.on_message_complete = on_message_complete;
    *ret = d;
    return 0;
}

const char *dext_docker_endpoint(const struct dext_docker *d)
{
    return d->endpoint;
}

void dext_docker_free(struct dext_docker *d)
{
    if (!d)
        return;
    while (d->waiting) {
        struct call *w = d->waiting;
        d->waiting = w->next;
        w->next = d->calls;
        d->calls = w;
    }
    while (d->calls)
        call_finish(d->calls, 0, -ECANCELED, "dext is stopping");
    free(d->endpoint);
    free(d->unix_path);
    free(d);
}

void dext_docker_demux_feed(struct dext_docker_demux *m, const char *p, size_t n,
                            void (*out)(void *data, int fd, const char *p, size_t n), void *data)
{
    while (n) {
        if (m->left == 0) {
            size_t take = 8 - m->head_len < n ? 8 - m->head_len : n;
            memcpy(m->head + m->head_len, p, take);
            m->head_len += take;
            p += take;
            n -= take;
            if (m->head_len < 8)
                return;
            m->head_len = 0;
            m->fd = m->head[0] == 2 ? 2 : 1;
            m->left = (size_t)m->head[4] << 24 | (size_t)m->head[5] << 16 |
                      (size_t)m->head[6] << 8 | m->head[7];
            continue;
        }
        size_t take = m->left < n ? m->left : n;
        out(data, m->fd, p, take);
        m->left -= take;
        p += take;
        n -= take;
    }
}

static const char *service_of(json_t *c)
{
    return json_string_value(
        json_object_get(json_object_get(c, "Labels"), "com.docker.compose.service"));
}

json_t *dext_docker_first_service(json_t *list, const char *image)
{
    json_t *c, *best = NULL;
    size_t i;

    json_array_foreach(list, i, c)
    {
        const char *img = json_string_value(json_object_get(c, "Image"));
        const char *svc = service_of(c), *best_svc = best ? service_of(best) : NULL;
        if (image && img && strcmp(img, image) == 0)
            return c;
        if (!best || (svc && best_svc && strcmp(svc, best_svc) < 0))
            best = c;
    }
    return best;
}
