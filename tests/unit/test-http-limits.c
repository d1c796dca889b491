/* SPDX-License-Identifier: MIT */
/* The HTTP server's limits at their boundaries, through a real socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "http/server.h"
#include "tap.h"

static uv_loop_t loop;
static uv_async_t stop_async;
static struct dext_http_server *server;
static int port;
static int n_requests;

struct client_job {
    const char *data;
    size_t len;
    char *reply;
    size_t reply_len;
};

/* An upgrade to /echo becomes a tunnel that sends back what it gets, and ends at "bye". */
static int echo_body(void *data, const char *p, size_t n)
{
    struct dext_http_conn *c = data;

    if (dext_http_conn_write(c, p, n) < 0)
        return -EIO;
    if (n >= 3 && memcmp(p + n - 3, "bye", 3) == 0)
        dext_http_conn_end_response(c, false);
    return 0;
}

static void echo_abort(void *data)
{
    (void)data;
}

static const struct dext_http_body_ops echo_ops = {.on_body = echo_body, .on_abort = echo_abort};

static void on_request(void *userdata, struct dext_http_conn *c, struct dext_http_req *req)
{
    static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                                    "Connection: Upgrade\r\n\r\n";
    char body[64];

    if (req->upgrade && strcmp(req->url, "/echo") == 0) {
        dext_http_conn_tunnel(c, &echo_ops, c);
        (void)dext_http_conn_write(c, switching, sizeof(switching) - 1);
        return;
    }
    int n = snprintf(body, sizeof(body), "ok %zu headers", req->n_headers);

    n_requests++;
    dext_http_respond(c, 200, "text/plain", NULL, body, (size_t)n);
}

static void on_stop(uv_async_t *a)
{
    uv_stop(&loop);
}

/* Sends the request bytes and reads until the server closes (or 3 s pass). */
static void *client_main(void *arg)
{
    struct client_job *job = arg;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 3};
    struct dext_buf out;
    char buf[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t off = 0;

    dext_buf_init(&out, 1 << 20);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        while (off < job->len) {
            ssize_t w = write(fd, job->data + off, job->len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        shutdown(fd, SHUT_WR);
        for (;;) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0)
                break;
            (void)dext_buf_append(&out, buf, (size_t)r);
        }
    }
    close(fd);
    job->reply = dext_buf_take(&out, &job->reply_len);
    uv_async_send(&stop_async);
    return NULL;
}

static char *exchange(const char *data, size_t len)
{
    struct client_job job = {.data = data, .len = len};
    pthread_t t;

    pthread_create(&t, NULL, client_main, &job);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    return job.reply;
}

static char *xvalue(size_t n)
{
    char *v = malloc(n + 1);
    memset(v, 'v', n);
    v[n] = '\0';
    return v;
}

static char *request_with_headers(size_t n_headers, size_t value_len)
{
    struct dext_buf b;
    char *value = xvalue(value_len);
    dext_buf_init(&b, 1 << 22);
    (void)dext_buf_puts(&b, "GET /x HTTP/1.1\r\nHost: t\r\n");
    for (size_t i = 1; i < n_headers; i++)
        (void)dext_buf_printf(&b, "X-H%zu: %s\r\n", i, value);
    (void)dext_buf_puts(&b, "Connection: close\r\n\r\n");
    free(value);
    return dext_buf_take(&b, NULL);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_ok_request(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char *r = exchange(req, sizeof(req) - 1);
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_TRUE(strstr(r, "ok 2 headers") != NULL);
    free(r);
}

static void test_100_headers_ok_101_refused(void)
{
    char *req = request_with_headers(99, 4); /* + Connection = 100 */
    char *r = exchange(req, strlen(req));
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 200", 12) == 0);
    ASSERT_TRUE(strstr(r, "ok 100 headers") != NULL);
    free(req);
    free(r);
    req = request_with_headers(100, 4);
    r = exchange(req, strlen(req));
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 431", 12) == 0);
    ASSERT_TRUE(strstr(r, "more than 100 request headers") != NULL);
    ASSERT_TRUE(strstr(r, "X-Dext-Error: 1") != NULL);
    free(req);
    free(r);
}

static void test_head_size_limit(void)
{
    /* Just under 16 KiB of head passes; just over is refused. */
    char *req = request_with_headers(2, DEXT_HTTP_MAX_HEAD - 200);
    char *r = exchange(req, strlen(req));
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 200", 12) == 0);
    free(req);
    free(r);
    req = request_with_headers(2, DEXT_HTTP_MAX_HEAD + 10);
    r = exchange(req, strlen(req));
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 431", 12) == 0);
    free(req);
    free(r);
}

static void test_malformed(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost t\r\n\r\n";
    char *r = exchange(req, sizeof(req) - 1);
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 400 Bad Request", 24) == 0);
    ASSERT_TRUE(strstr(r, "malformed request") != NULL);
    ASSERT_TRUE(strstr(r, "Connection: close") != NULL);
    free(r);
    static const char junk[] = "\x01\x02\x03 garbage\r\n\r\n";
    r = exchange(junk, sizeof(junk) - 1);
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 400", 12) == 0);
    free(r);
}

static void test_long_url(void)
{
    size_t n = DEXT_HTTP_MAX_HEAD / 2 + 100;
    char *req = malloc(n + 64);
    int len;
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', n);
    len = 5 + (int)n;
    len += snprintf(req + len, 64, " HTTP/1.1\r\nHost: t\r\n\r\n");
    char *r = exchange(req, (size_t)len);
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 414", 12) == 0);
    free(req);
    free(r);
}

static void test_pipelining_and_keepalive(void)
{
    static const char req[] = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int before = n_requests;
    char *r = exchange(req, sizeof(req) - 1);
    ASSERT_EQ(count(r, "HTTP/1.1 200 OK"), 3);
    ASSERT_EQ(n_requests - before, 3);
    free(r);
}

static void test_small_body_drained(void)
{
    /* A body nobody reads is drained, and the next request still works. */
    static const char req[] = "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char *r = exchange(req, sizeof(req) - 1);
    ASSERT_EQ(count(r, "HTTP/1.1 200 OK"), 2);
    free(r);
}

static void test_upgrade_answered_plain(void)
{
    /* A handler that does not take the upgrade answers it; then the connection ends. */
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                              "Upgrade: websocket\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n";
    char *r = exchange(req, sizeof(req) - 1);
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 200", 12) == 0);
    ASSERT_EQ(count(r, "HTTP/1.1 200 OK"), 1);
    ASSERT_TRUE(strstr(r, "Connection: close") != NULL);
    free(r);
}

static void test_upgrade_tunnel(void)
{
    /* Bytes that came with the head, and later ones, reach the tunnel in order. */
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                              "Upgrade: echo\r\n\r\nhello GET / HTTP/1.1\r\n\r\n bye";
    char *r = exchange(req, sizeof(req) - 1);
    const char *body = strstr(r, "\r\n\r\n");
    ASSERT_TRUE(strncmp(r, "HTTP/1.1 101 Switching Protocols", 32) == 0);
    ASSERT_TRUE(body != NULL);
    ASSERT_TRUE(strcmp(body + 4, "hello GET / HTTP/1.1\r\n\r\n bye") == 0);
    free(r);
}

int main(void)
{
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop_async, on_stop);
    if (dext_http_server_new(&loop, "127.0.0.1", 0, on_request, NULL, &server) < 0)
        return 1;
    port = dext_http_server_port(server);

    TAP_RUN(test_ok_request);
    TAP_RUN(test_100_headers_ok_101_refused);
    TAP_RUN(test_head_size_limit);
    TAP_RUN(test_malformed);
    TAP_RUN(test_long_url);
    TAP_RUN(test_pipelining_and_keepalive);
    TAP_RUN(test_small_body_drained);
    TAP_RUN(test_upgrade_answered_plain);
    TAP_RUN(test_upgrade_tunnel);

    dext_http_server_close(server);
    uv_close((uv_handle_t *)&stop_async, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    TAP_EXIT();
}
