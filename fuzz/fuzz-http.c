/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the HTTP server's request side (llhttp with dext's header
 * bookkeeping, limits, pipelining, bodies taken over, early answers) on one end of a
 * socket pair, the input written to the other end, which then half-closes. The
 * server must answer with well-formed status lines only, close the connection within
 * the time limit, and leave nothing behind. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "check failed: %s\n", #x);                                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define OUT_KEEP 4096
#define TIME_LIMIT_NS (3ULL * 1000 * 1000 * 1000)

static uv_loop_t loop;
static struct dext_http_server *server;

/* A body taken over: counted, answered at its end. */
struct taker {
    struct dext_http_conn *conn;
    uint64_t seen;
};

static int on_body(void *data, const char *p, size_t n)
{
    struct taker *t = data;
    t->seen += n;
    return 0;
}

static void on_end(void *data)
{
    struct taker *t = data;
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n%020llu",
                     (unsigned long long)t->seen);

    (void)dext_http_conn_write(t->conn, msg, (size_t)n);
    dext_http_conn_end_response(t->conn, true);
    free(t);
}

static void on_abort(void *data)
{
    free(data);
}

static const struct dext_http_body_ops taker_ops = {
    .on_body = on_body,
    .on_end = on_end,
    .on_abort = on_abort,
};

static void on_request(void *userdata, struct dext_http_conn *c, struct dext_http_req *req)
{
    if (req->has_body && strncmp(req->url, "/take", 5) == 0) {
        struct taker *t = calloc(1, sizeof(*t));
        CHECK(t);
        t->conn = c;
        dext_http_conn_attach(c, &taker_ops, t);
        return;
    }
    if (strncmp(req->url, "/missing", 8) == 0) {
        dext_http_respond_error(c, 404, "no such thing");
        return;
    }
    /* Everything else: an early answer (a body, if any, is drained or the
     * connection closes), echoing what the parser found. */
    char body[160];
    const struct dext_http_header *host = dext_http_req_known(req, DEXT_H_HOST);
    int n = snprintf(body, sizeof(body), "%s %zu headers, host %.*s, http/1.%u", req->method,
                     req->n_headers, host ? (int)(host->value_len > 40 ? 40 : host->value_len) : 0,
                     host ? host->value : "", req->http_minor);
    dext_http_respond(c, 200, "text/plain", NULL, body, (size_t)n);
}

static void setup(void)
{
    CHECK(uv_loop_init(&loop) == 0);
    CHECK(dext_http_server_new(&loop, "127.0.0.1", 0, on_request, NULL, &server) == 0);
    dext_http_server_set_limits(server, &(struct dext_http_limits){
                                            .head_timeout_ms = 200,
                                            .idle_timeout_ms = 200,
                                            .body_timeout_ms = 200,
                                            .max_body = 1 << 20,
                                        });
}

struct capture {
    char keep[OUT_KEEP];
    size_t len;
    size_t total;
    bool eof;
};

static void drain(int fd, struct capture *cap)
{
    char buf[16384];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        size_t room = OUT_KEEP - cap->len;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(cap->keep + cap->len, buf, k);
        cap->len += k;
        cap->total += (size_t)n;
    }
    if (n == 0)
        cap->eof = true;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
        cap->eof = true; /* reset by the server: also an end */
}

/* The first status line, when the capture holds it whole, is "HTTP/1.1 NNN ". */
static void check_answers(const struct capture *cap)
{
    const char *p = cap->keep;

    if (cap->len == 0)
        return;
    CHECK(cap->len >= 13 || cap->len == cap->total);
    if (cap->len < 13)
        return;
    CHECK(memcmp(p, "HTTP/1.1 ", 9) == 0);
    for (int i = 9; i < 12; i++)
        CHECK(p[i] >= '0' && p[i] <= '9');
    CHECK(p[12] == ' ');
    CHECK(p[9] >= '1' && p[9] <= '5');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct capture cap = {0};
    size_t off = 0;
    uint64_t start;
    int sv[2];

    if (!server)
        setup();
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    if (dext_http_server_adopt(server, sv[0]) < 0) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    start = uv_hrtime();
    while (off < size && !cap.eof) {
        ssize_t n = write(sv[1], data + off, size - off);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            break; /* the server closed: the rest is not read */
        (void)uv_run(&loop, UV_RUN_NOWAIT);
        drain(sv[1], &cap);
        CHECK(uv_hrtime() - start < TIME_LIMIT_NS);
    }
    (void)shutdown(sv[1], SHUT_WR);
    while (!cap.eof) {
        (void)uv_run(&loop, UV_RUN_NOWAIT);
        drain(sv[1], &cap);
        CHECK(uv_hrtime() - start < TIME_LIMIT_NS); /* the server must let go */
        if (!cap.eof)
            usleep(100);
    }
    close(sv[1]);
    /* Let the connection's close callbacks run. */
    for (int i = 0; i < 4; i++)
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    check_answers(&cap);
    return 0;
}
