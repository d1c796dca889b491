/* SPDX-License-Identifier: MIT */
/* dext's exec API as the page uses it: blocking round trips, or one streaming exec. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-stats.h"

#define EC_HEAD_MAX (16 * 1024)
#define EC_BODY_MAX (64 * 1024)
#define EC_STREAM_READ (256 * 1024)
#define EC_FRAME_HEAD 9
#define EC_SMALL_MAX 4096

static const char usage[] =
    "Usage: exec-client --url URL (--blocking N [--warmup N] [--cmd PROGRAM] | --stream BYTES)\n"
    "\n"
    "URL is the line dext prints first (http://127.0.0.1:PORT/...?dext-secret=SECRET).\n"
    "  --blocking N    N sequential POST /__dext/exec {scope vm, cmd PROGRAM (/bin/true)} on\n"
    "                  one keep-alive connection after a warm-up (default 50); prints one\n"
    "                  JSON line: iterations, mean_ms, p50_ms, p99_ms, max_ms\n"
    "  --stream BYTES  opens /__dext/events, starts `head -c BYTES /dev/zero` as stream 1,\n"
    "                  counts its stdout bytes up to the exit frame; prints one JSON line:\n"
    "                  bytes, seconds, gbps (10^9 bytes/s), exit\n";

struct target {
    struct sockaddr_in addr;
    char host[64]; /* for the Host header */
    char secret[128];
};

/* One blocking connection with a small read buffer for heads and bodies. */
struct conn {
    int fd;
    char buf[EC_HEAD_MAX + EC_BODY_MAX];
    size_t start, end;
};

static int parse_url(const char *url, struct target *t)
{
    const char *p = url, *colon, *slash, *sec;
    unsigned port;
    size_t len;

    if (strncmp(p, "http://", 7) != 0)
        return -EINVAL;
    p += 7;
    colon = strchr(p, ':');
    slash = strchr(p, '/');
    sec = strstr(p, "dext-secret=");
    if (!colon || !slash || colon > slash || !sec)
        return -EINVAL;
    len = (size_t)(colon - p);
    if (len == 0 || len >= 32)
        return -EINVAL;
    char ip[32];
    memcpy(ip, p, len);
    ip[len] = '\0';
    if (sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535)
        return -EINVAL;
    t->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &t->addr.sin_addr) != 1)
        return -EINVAL;
    (void)snprintf(t->host, sizeof(t->host), "%s:%u", ip, port);
    sec += strlen("dext-secret=");
    len = strcspn(sec, "&# \r\n");
    if (len == 0 || len >= sizeof(t->secret))
        return -EINVAL;
    memcpy(t->secret, sec, len);
    t->secret[len] = '\0';
    return 0;
}

static int conn_open(const struct target *t, struct conn *c)
{
    int one = 1;

    c->start = c->end = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) < 0) {
        int r = -errno;
        (void)close(c->fd);
        c->fd = -1;
        return r;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more into the buffer; -EPIPE at end of stream. */
static int conn_fill(struct conn *c)
{
    ssize_t n;

    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof(c->buf))
        return -EMSGSIZE;
    do
        n = read(c->fd, c->buf + c->end, sizeof(c->buf) - c->end);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EPIPE;
    c->end += (size_t)n;
    return 0;
}

/* Reads a response head: its status and Content-Length (-1 when absent). */
static int read_head(struct conn *c, int *ret_status, long *ret_length)
{
    char *head, *eoh, *line;
    long length = -1;
    int r;

    for (;;) {
        head = c->buf + c->start;
        eoh = memmem(head, c->end - c->start, "\r\n\r\n", 4);
        if (eoh)
            break;
        if (c->end - c->start > EC_HEAD_MAX)
            return -EMSGSIZE;
        r = conn_fill(c);
        if (r < 0)
            return r;
    }
    if (c->end - c->start < 12 || strncmp(head, "HTTP/1.1 ", 9) != 0)
        return -EPROTO;
    *ret_status = (int)strtol(head + 9, NULL, 10);
    for (line = memchr(head, '\n', (size_t)(eoh - head)); line && line < eoh;
         line = memchr(line, '\n', (size_t)(eoh + 2 - line))) {
        line++;
        if (strncasecmp(line, "content-length:", 15) == 0)
            length = strtol(line + 15, NULL, 10);
    }
    c->start = (size_t)(eoh + 4 - c->buf);
    *ret_length = length;
    return 0;
}

/* Reads a body of @len bytes; *ret_body points into the buffer until the next read. */
static int read_body(struct conn *c, long len, const char **ret_body)
{
    int r;

    if (len < 0 || len > EC_BODY_MAX)
        return -EMSGSIZE;
    while (c->end - c->start < (size_t)len) {
        r = conn_fill(c);
        if (r < 0)
            return r;
    }
    *ret_body = c->buf + c->start;
    c->start += (size_t)len;
    return 0;
}

/* Sends a POST with a JSON body and reads the whole answer. */
static int post_json(const struct target *t, struct conn *c, const char *path, const char *json,
                     int *ret_status, const char **ret_body, long *ret_len)
{
    char req[2048];
    int n, r;

    n = snprintf(req, sizeof(req),
                 "POST %s HTTP/1.1\r\nHost: %s\r\nX-Dext-Secret: %s\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 path, t->host, t->secret, strlen(json), json);
    if (n < 0 || (size_t)n >= sizeof(req))
        return -EMSGSIZE;
    r = write_all(c->fd, req, (size_t)n);
    if (r < 0)
        return r;
    r = read_head(c, ret_status, ret_len);
    if (r < 0)
        return r;
    return read_body(c, *ret_len, ret_body);
}

static int run_blocking(const struct target *t, unsigned n, unsigned warmup, const char *cmd)
{
    struct conn *c = bench_xcalloc(1, sizeof(*c));
    double *ms = bench_xcalloc(n, sizeof(*ms));
    char json[512];
    struct bench_stats st;
    int r;

    if (strpbrk(cmd, "\"\\")) {
        fprintf(stderr, "exec-client: --cmd must not need JSON escapes\n");
        return 2;
    }
    (void)snprintf(json, sizeof(json), "{\"scope\":\"vm\",\"cmd\":\"%s\",\"args\":[]}", cmd);
    r = conn_open(t, c);
    if (r < 0) {
        fprintf(stderr, "exec-client: connect: %s\n", strerror(-r));
        return 1;
    }
    for (unsigned i = 0; i < warmup + n; i++) {
        uint64_t t0 = bench_now_ns();
        const char *body;
        long len;
        int status;

        r = post_json(t, c, "/__dext/exec", json, &status, &body, &len);
        if (r < 0) {
            fprintf(stderr, "exec-client: POST /__dext/exec: %s\n", strerror(-r));
            return 1;
        }
        if (status != 200 || !memmem(body, (size_t)len, "\"code\":0", 8)) {
            fprintf(stderr, "exec-client: POST /__dext/exec: %d %.*s\n", status, (int)len, body);
            return 1;
        }
        if (i >= warmup)
            ms[i - warmup] = (double)(bench_now_ns() - t0) / 1e6;
    }
    bench_stats_compute(ms, n, &st);
    printf("{\"iterations\":%u,\"mean_ms\":%.4f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f}\n",
           n, st.mean, st.p50, st.p99, st.max);
    (void)close(c->fd);
    free(ms);
    free(c);
    return 0;
}

/* ---- streaming ---- */

/* The event connection's frame parser: counts stream 1's stdout, keeps small frames. */
struct frames {
    unsigned char head[EC_FRAME_HEAD];
    size_t head_len;
    uint32_t id;
    unsigned kind;
    uint32_t left; /* payload bytes still to come */
    char small[EC_SMALL_MAX + 1];
    size_t small_len;
    uint64_t stdout_bytes;
    char session[64];
    bool has_exit;
    bool has_error;
};

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void frame_end(struct frames *f)
{
    f->small[f->small_len] = '\0';
    if (f->id == 0 && f->kind == 0)
        (void)snprintf(f->session, sizeof(f->session), "%.63s", f->small);
    else if (f->id == 1 && f->kind == 3)
        f->has_exit = true;
    else if (f->id == 1 && f->kind == 4)
        f->has_error = true;
}

static void frames_feed(struct frames *f, const char *p, size_t n)
{
    const char *e = p + n;

    while (p < e) {
        if (f->head_len < EC_FRAME_HEAD) {
            size_t take = EC_FRAME_HEAD - f->head_len;
            if (take > (size_t)(e - p))
                take = (size_t)(e - p);
            memcpy(f->head + f->head_len, p, take);
            f->head_len += take;
            p += take;
            if (f->head_len < EC_FRAME_HEAD)
                break;
            f->id = get_u32(f->head);
            f->kind = f->head[4];
            f->left = get_u32(f->head + 5);
            f->small_len = 0;
            if (f->left == 0) {
                frame_end(f);
                f->head_len = 0;
            }
            continue;
        }
        size_t take = f->left < (size_t)(e - p) ? f->left : (size_t)(e - p);
        if (f->kind == 1 && f->id == 1) {
            f->stdout_bytes += take;
        } else if (f->kind != 1 && f->kind != 2) {
            size_t keep = EC_SMALL_MAX - f->small_len < take ? EC_SMALL_MAX - f->small_len : take;
            memcpy(f->small + f->small_len, p, keep);
            f->small_len += keep;
        }
        p += take;
        f->left -= (uint32_t)take;
        if (f->left == 0) {
            frame_end(f);
            f->head_len = 0;
        }
    }
}

/* Reads the event connection into the parser until @done says so. */
static int pump(struct conn *ev, struct frames *f, char *buf, bool (*done)(const struct frames *))
{
    while (!done(f)) {
        ssize_t n = read(ev->fd, buf, EC_STREAM_READ);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EPIPE;
        frames_feed(f, buf, (size_t)n);
    }
    return 0;
}

static bool has_session(const struct frames *f)
{
    return f->session[0] != '\0';
}

static bool has_ended(const struct frames *f)
{
    return f->has_exit || f->has_error;
}

static int run_stream(const struct target *t, unsigned long long bytes)
{
    struct conn *ev = bench_xcalloc(1, sizeof(*ev)), *ctl = bench_xcalloc(1, sizeof(*ctl));
    struct frames *f = bench_xcalloc(1, sizeof(*f));
    char *buf = bench_xcalloc(1, EC_STREAM_READ);
    char req[1024], json[512];
    const char *body;
    uint64_t t0, t1;
    double secs;
    long len;
    int status, n, r;

    if (conn_open(t, ev) < 0 || conn_open(t, ctl) < 0) {
        fprintf(stderr, "exec-client: connect: %s\n", strerror(errno));
        return 1;
    }
    n = snprintf(req, sizeof(req),
                 "GET /__dext/events HTTP/1.1\r\nHost: %s\r\nX-Dext-Secret: %s\r\n\r\n", t->host,
                 t->secret);
    r = write_all(ev->fd, req, (size_t)n);
    if (r == 0)
        r = read_head(ev, &status, &len);
    if (r < 0 || status != 200) {
        fprintf(stderr, "exec-client: GET /__dext/events: %s\n", r < 0 ? strerror(-r) : "not 200");
        return 1;
    }
    frames_feed(f, ev->buf + ev->start, ev->end - ev->start);
    r = pump(ev, f, buf, has_session);
    if (r < 0) {
        fprintf(stderr, "exec-client: no session id: %s\n", strerror(-r));
        return 1;
    }
    (void)snprintf(json, sizeof(json),
                   "{\"session\":\"%s\",\"id\":1,\"scope\":\"vm\",\"cmd\":\"head\","
                   "\"args\":[\"-c\",\"%llu\",\"/dev/zero\"]}",
                   f->session, bytes);
    t0 = bench_now_ns();
    r = post_json(t, ctl, "/__dext/exec/stream", json, &status, &body, &len);
    if (r < 0 || status != 200) {
        fprintf(stderr, "exec-client: POST /__dext/exec/stream: %s %.*s\n",
                r < 0 ? strerror(-r) : "", r < 0 ? 0 : (int)len, r < 0 ? "" : body);
        return 1;
    }
    r = pump(ev, f, buf, has_ended);
    t1 = bench_now_ns();
    if (r < 0 || f->has_error) {
        fprintf(stderr, "exec-client: stream: %s %s\n", r < 0 ? strerror(-r) : "error frame",
                f->small);
        return 1;
    }
    secs = (double)(t1 - t0) / 1e9;
    printf("{\"bytes\":%llu,\"seconds\":%.4f,\"gbps\":%.4f,\"exit\":%s}\n",
           (unsigned long long)f->stdout_bytes, secs, (double)f->stdout_bytes / secs / 1e9,
           f->small_len ? f->small : "null");
    r = f->stdout_bytes == bytes ? 0 : 1;
    (void)close(ctl->fd);
    (void)close(ev->fd);
    free(buf);
    free(f);
    free(ctl);
    free(ev);
    return r;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *cmd = "/bin/true";
    unsigned n = 0, warmup = 50;
    unsigned long long stream = 0;
    struct target t;
    char *end;

    (void)signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v)
            goto bad;
        i++;
        if (strcmp(a, "--url") == 0) {
            url = v;
        } else if (strcmp(a, "--cmd") == 0) {
            cmd = v;
        } else if (strcmp(a, "--blocking") == 0) {
            if (bench_parse_uint(v, &n) < 0 || n == 0)
                goto bad;
        } else if (strcmp(a, "--warmup") == 0) {
            if (bench_parse_uint(v, &warmup) < 0)
                goto bad;
        } else if (strcmp(a, "--stream") == 0) {
            errno = 0;
            stream = strtoull(v, &end, 10);
            if (errno || *end || stream == 0)
                goto bad;
        } else {
            goto bad;
        }
    }
    if (!url || (n == 0) == (stream == 0))
        goto bad;
    if (parse_url(url, &t) < 0) {
        fprintf(stderr, "exec-client: cannot read URL '%s'\n", url);
        return 2;
    }
    return n ? run_blocking(&t, n, warmup, cmd) : run_stream(&t, stream);
bad:
    fputs(usage, stderr);
    return 2;
}
