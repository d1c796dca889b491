/* SPDX-License-Identifier: MIT */
/* Closed-loop HTTP/1.1 load generator: keep-alive connections, one request in flight each. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>
#include <uv.h>

#define LG_MAX_CONNS 10000
#define LG_REQUEST_MAX 16384
#define LG_READ_SIZE (64 * 1024)
#define LG_RETRY_MS 50
/* Log-linear histogram: values below 2 * LG_SUB are exact; above, each power of two is
 * split into LG_SUB buckets (under 1.6% error). Values are capped at 2^LG_MAX_LOG µs. */
#define LG_SUB_BITS 6
#define LG_SUB (1u << LG_SUB_BITS)
#define LG_MAX_LOG 40
#define LG_BUCKETS (2 * LG_SUB + (LG_MAX_LOG - LG_SUB_BITS) * LG_SUB)

static const char usage[] =
    "Usage: loadgen (--url http://HOST:PORT/PATH | --unix SOCKET [--path PATH])\n"
    "               [-c CONNS] [-d SECONDS] [--warmup SECONDS] [-H 'Name: value']...\n"
    "\n"
    "Keeps CONNS keep-alive connections busy with one GET each, for SECONDS after a\n"
    "warm-up, and prints one JSON line: requests, errors, seconds, rps, p50_us, p90_us,\n"
    "p99_us, max_us, non2xx, warmup_requests.\n";

enum lg_phase {
    LG_WARMUP,
    LG_MEASURE,
    LG_DONE,
};

union lg_stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct lg_conn {
    union lg_stream h;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_timer_t retry_timer;
    llhttp_t parser;
    struct loadgen *lg;
    uint64_t start_ns;
    bool is_open; /* h is initialised and not yet closed */
    bool is_in_flight;
    bool is_eof; /* the server closed its side: send nothing more */
};

struct loadgen {
    uv_loop_t *loop;
    const char *unix_path;
    struct sockaddr_storage addr;
    char request[LG_REQUEST_MAX];
    size_t request_len;
    unsigned n_conns;
    double seconds;
    double warmup;
    struct lg_conn *conns;
    uv_timer_t phase_timer;
    enum lg_phase phase;
    uint64_t measure_start_ns;
    uint64_t n_requests;
    uint64_t n_warmup_requests;
    uint64_t n_errors;
    uint64_t n_non2xx;
    uint64_t max_us;
    uint64_t hist[LG_BUCKETS];
    char read_buf[LG_READ_SIZE]; /* shared: each read is parsed before the next */
};

static unsigned hist_index(uint64_t v)
{
    unsigned msb, shift;

    if (v >= (UINT64_C(1) << LG_MAX_LOG))
        v = (UINT64_C(1) << LG_MAX_LOG) - 1;
    if (v < 2 * LG_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - LG_SUB_BITS;
    return 2 * LG_SUB + (shift - 1) * LG_SUB + (unsigned)((v >> shift) - LG_SUB);
}

/* The middle of a bucket's range. */
static uint64_t hist_value(unsigned i)
{
    unsigned shift;
    uint64_t low;

    if (i < 2 * LG_SUB)
        return i;
    shift = (i - 2 * LG_SUB) / LG_SUB + 1;
    low = (uint64_t)((i - 2 * LG_SUB) % LG_SUB + LG_SUB) << shift;
    return low + ((UINT64_C(1) << shift) - 1) / 2;
}

static uint64_t hist_percentile(const struct loadgen *lg, double pct)
{
    uint64_t total = 0, seen = 0, target;

    for (unsigned i = 0; i < LG_BUCKETS; i++)
        total += lg->hist[i];
    if (total == 0)
        return 0;
    target = (uint64_t)ceil(pct / 100.0 * (double)total);
    if (target == 0)
        target = 1;
    for (unsigned i = 0; i < LG_BUCKETS; i++) {
        seen += lg->hist[i];
        if (seen >= target)
            return hist_value(i) < lg->max_us ? hist_value(i) : lg->max_us;
    }
    return lg->max_us;
}

static void conn_start(struct lg_conn *c);

static void on_conn_closed(uv_handle_t *handle)
{
    struct lg_conn *c = handle->data;

    if (c->lg->phase != LG_DONE)
        conn_start(c);
}

/* Drops the connection; a new one replaces it while the run lasts. */
static void conn_fail(struct lg_conn *c, bool is_error)
{
    if (!c->is_open)
        return;
    if (is_error || c->is_in_flight)
        c->lg->n_errors++;
    c->is_open = false;
    c->is_in_flight = false;
    uv_close(&c->h.handle, on_conn_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct lg_conn *c = req->data;

    if (status < 0 && status != UV_ECANCELED)
        conn_fail(c, true);
}

static void conn_send(struct lg_conn *c)
{
    struct loadgen *lg = c->lg;
    uv_buf_t b = uv_buf_init(lg->request, (unsigned)lg->request_len);
    int r;

    c->is_in_flight = true;
    c->start_ns = uv_hrtime();
    r = uv_try_write(&c->h.stream, &b, 1);
    if (r >= 0 && (size_t)r == lg->request_len)
        return;
    if (r < 0 && r != UV_EAGAIN) {
        conn_fail(c, true);
        return;
    }
    if (r > 0)
        b = uv_buf_init(lg->request + r, (unsigned)(lg->request_len - (size_t)r));
    c->write_req.data = c;
    if (uv_write(&c->write_req, &c->h.stream, &b, 1, on_write) < 0)
        conn_fail(c, true);
}

static int on_message_complete(llhttp_t *p)
{
    struct lg_conn *c = p->data;
    struct loadgen *lg = c->lg;
    uint64_t us;

    if (!c->is_in_flight)
        return HPE_USER; /* a response nobody asked for */
    c->is_in_flight = false;
    if (lg->phase == LG_WARMUP) {
        lg->n_warmup_requests++;
    } else if (lg->phase == LG_MEASURE) {
        us = (uv_hrtime() - c->start_ns + 500) / 1000;
        lg->n_requests++;
        lg->hist[hist_index(us)]++;
        if (us > lg->max_us)
            lg->max_us = us;
        if (p->status_code < 200 || p->status_code > 299)
            lg->n_non2xx++;
    }
    if (!llhttp_should_keep_alive(p))
        return HPE_PAUSED; /* the caller reconnects */
    if (lg->phase != LG_DONE && !c->is_eof)
        conn_send(c);
    return 0;
}

static const llhttp_settings_t parser_settings = {
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf)
{
    struct lg_conn *c = handle->data;

    *buf = uv_buf_init(c->lg->read_buf, sizeof(c->lg->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct lg_conn *c = stream->data;
    enum llhttp_errno err;

    if (nread == 0)
        return;
    if (nread < 0) {
        /* A response delimited by the end of the connection completes here. */
        c->is_eof = true;
        if (nread == UV_EOF && c->is_in_flight)
            (void)llhttp_finish(&c->parser);
        conn_fail(c, nread != UV_EOF);
        return;
    }
    err = llhttp_execute(&c->parser, buf->base, (size_t)nread);
    if (err == HPE_OK)
        return;
    conn_fail(c, err != HPE_PAUSED);
}

static void on_retry_timer(uv_timer_t *timer)
{
    conn_start(timer->data);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct lg_conn *c = req->data;

    if (!c->is_open || status == UV_ECANCELED || c->lg->phase == LG_DONE)
        return;
    if (status < 0) {
        /* Count the failure and retry a little later rather than spin. */
        c->lg->n_errors++;
        c->is_open = false;
        uv_close(&c->h.handle, NULL);
        if (c->lg->phase != LG_DONE)
            (void)uv_timer_start(&c->retry_timer, on_retry_timer, LG_RETRY_MS, 0);
        return;
    }
    if (uv_read_start(&c->h.stream, on_alloc, on_read) < 0) {
        conn_fail(c, true);
        return;
    }
    conn_send(c);
}

static void conn_start(struct lg_conn *c)
{
    struct loadgen *lg = c->lg;
    int r;

    if (c->is_open || lg->phase == LG_DONE)
        return;
    if (lg->unix_path)
        r = uv_pipe_init(lg->loop, &c->h.pipe, 0);
    else
        r = uv_tcp_init(lg->loop, &c->h.tcp);
    if (r < 0) {
        fprintf(stderr, "loadgen: %s\n", uv_strerror(r));
        abort();
    }
    c->h.handle.data = c;
    c->is_open = true;
    c->is_in_flight = false;
    c->is_eof = false;
    llhttp_init(&c->parser, HTTP_RESPONSE, &parser_settings);
    c->parser.data = c;
    c->connect_req.data = c;
    if (lg->unix_path) {
        uv_pipe_connect(&c->connect_req, &c->h.pipe, lg->unix_path, on_connect);
        return;
    }
    (void)uv_tcp_nodelay(&c->h.tcp, 1);
    r = uv_tcp_connect(&c->connect_req, &c->h.tcp, (struct sockaddr *)&lg->addr, on_connect);
    if (r < 0)
        on_connect(&c->connect_req, r);
}

static void on_phase_timer(uv_timer_t *timer)
{
    struct loadgen *lg = timer->data;

    if (lg->phase == LG_WARMUP) {
        lg->phase = LG_MEASURE;
        lg->measure_start_ns = uv_hrtime();
        (void)uv_timer_start(timer, on_phase_timer, (uint64_t)(lg->seconds * 1000.0), 0);
        return;
    }
    lg->phase = LG_DONE;
    uv_stop(lg->loop);
}

static void print_result(const struct loadgen *lg, double seconds)
{
    printf("{\"requests\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"rps\":%.1f,"
           "\"p50_us\":%" PRIu64 ",\"p90_us\":%" PRIu64 ",\"p99_us\":%" PRIu64
           ",\"max_us\":%" PRIu64 ",\"non2xx\":%" PRIu64 ",\"warmup_requests\":%" PRIu64 "}\n",
           lg->n_requests, lg->n_errors, seconds,
           seconds > 0 ? (double)lg->n_requests / seconds : 0, hist_percentile(lg, 50),
           hist_percentile(lg, 90), hist_percentile(lg, 99), lg->max_us, lg->n_non2xx,
           lg->n_warmup_requests);
    fflush(stdout);
}

static void close_walk_cb(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Splits http://HOST[:PORT]/PATH; HOST is an IP literal, [v6] or a name to resolve. */
static int parse_url(struct loadgen *lg, const char *url, char *host_header, size_t host_size,
                     const char **ret_path)
{
    char host[256];
    char port[8] = "80";
    const char *authority, *slash, *colon;
    size_t host_len;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    uv_getaddrinfo_t req;

    if (strncmp(url, "http://", 7) != 0)
        return -EINVAL;
    authority = url + 7;
    slash = strchr(authority, '/');
    if (!slash)
        slash = authority + strlen(authority);
    if ((size_t)(slash - authority) >= host_size)
        return -EINVAL;
    memcpy(host_header, authority, (size_t)(slash - authority));
    host_header[slash - authority] = '\0';
    colon = strrchr(host_header, ':');
    if (colon && strchr(colon, ']'))
        colon = NULL;
    host_len = colon ? (size_t)(colon - host_header) : strlen(host_header);
    if (colon) {
        if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
            return -EINVAL;
        memcpy(port, colon + 1, strlen(colon + 1) + 1);
    }
    if (host_len >= 2 && host_header[0] == '[') {
        memcpy(host, host_header + 1, host_len - 2);
        host[host_len - 2] = '\0';
    } else if (host_len > 0 && host_len < sizeof(host)) {
        memcpy(host, host_header, host_len);
        host[host_len] = '\0';
    } else {
        return -EINVAL;
    }
    *ret_path = *slash ? slash : "/";
    if (uv_getaddrinfo(lg->loop, &req, NULL, host, port, &hints) < 0)
        return -EHOSTUNREACH;
    memcpy(&lg->addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

static int build_request(struct loadgen *lg, const char *path, const char *host,
                         const char **headers, size_t n_headers)
{
    bool has_host = false;
    size_t len;
    int n;

    for (size_t i = 0; i < n_headers; i++)
        has_host |= strncasecmp(headers[i], "host:", 5) == 0;
    n = snprintf(lg->request, sizeof(lg->request), "GET %s HTTP/1.1\r\n", path);
    len = (size_t)n;
    if (!has_host && len < sizeof(lg->request))
        len += (size_t)snprintf(lg->request + len, sizeof(lg->request) - len, "Host: %s\r\n", host);
    for (size_t i = 0; i < n_headers && len < sizeof(lg->request); i++)
        len += (size_t)snprintf(lg->request + len, sizeof(lg->request) - len, "%s\r\n", headers[i]);
    if (len < sizeof(lg->request))
        len += (size_t)snprintf(lg->request + len, sizeof(lg->request) - len, "\r\n");
    if (len >= sizeof(lg->request))
        return -EMSGSIZE;
    lg->request_len = len;
    return 0;
}

static int parse_seconds(const char *s, double *ret)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || v > 86400)
        return -EINVAL;
    *ret = v;
    return 0;
}

int main(int argc, char **argv)
{
    static struct loadgen lg = {.n_conns = 32, .seconds = 5};
    const char *url = NULL, *path = "/";
    const char *headers[64];
    size_t n_headers = 0;
    char host[256] = "localhost";
    double seconds;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v)
            goto bad_usage;
        i++;
        if (strcmp(a, "--url") == 0) {
            url = v;
        } else if (strcmp(a, "--unix") == 0) {
            lg.unix_path = v;
        } else if (strcmp(a, "--path") == 0) {
            path = v;
        } else if (strcmp(a, "-c") == 0) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);

            if (*end || n == 0 || n > LG_MAX_CONNS)
                goto bad_usage;
            lg.n_conns = (unsigned)n;
        } else if (strcmp(a, "-d") == 0) {
            if (parse_seconds(v, &lg.seconds) < 0 || lg.seconds == 0)
                goto bad_usage;
        } else if (strcmp(a, "--warmup") == 0) {
            if (parse_seconds(v, &lg.warmup) < 0)
                goto bad_usage;
        } else if (strcmp(a, "-H") == 0) {
            if (n_headers == sizeof(headers) / sizeof(headers[0]) || !strchr(v, ':'))
                goto bad_usage;
            headers[n_headers++] = v;
        } else {
            goto bad_usage;
        }
    }
    if (!url == !lg.unix_path)
        goto bad_usage;

    signal(SIGPIPE, SIG_IGN);
    lg.loop = uv_default_loop();
    if (url && parse_url(&lg, url, host, sizeof(host), &path) < 0) {
        fprintf(stderr, "loadgen: cannot use URL '%s'\n", url);
        return 2;
    }
    if (build_request(&lg, path, host, headers, n_headers) < 0) {
        fprintf(stderr, "loadgen: request too large\n");
        return 2;
    }
    lg.conns = calloc(lg.n_conns, sizeof(*lg.conns));
    if (!lg.conns)
        abort();
    for (unsigned i = 0; i < lg.n_conns; i++) {
        struct lg_conn *c = &lg.conns[i];

        c->lg = &lg;
        (void)uv_timer_init(lg.loop, &c->retry_timer);
        c->retry_timer.data = c;
        conn_start(c);
    }
    (void)uv_timer_init(lg.loop, &lg.phase_timer);
    lg.phase_timer.data = &lg;
    lg.phase = lg.warmup > 0 ? LG_WARMUP : LG_MEASURE;
    lg.measure_start_ns = uv_hrtime();
    (void)uv_timer_start(&lg.phase_timer, on_phase_timer,
                         (uint64_t)((lg.phase == LG_WARMUP ? lg.warmup : lg.seconds) * 1000.0), 0);
    uv_run(lg.loop, UV_RUN_DEFAULT);
    seconds = (double)(uv_hrtime() - lg.measure_start_ns) / 1e9;
    print_result(&lg, seconds);

    uv_walk(lg.loop, close_walk_cb, NULL);
    uv_run(lg.loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(lg.loop);
    free(lg.conns);
    return 0;

bad_usage:
    fprintf(stderr, "%s", usage);
    return 2;
}
