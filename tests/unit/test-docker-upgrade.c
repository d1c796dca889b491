/* SPDX-License-Identifier: MIT */
/* The Engine client's hijacked calls against a fake engine on a unix socket: the 101
 * head and the first raw bytes in one packet, writes both ways, the end of stream, a
 * refusal, and a write before the upgrade. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "docker/client.h"
#include "tap.h"

/* ---- the fake engine: one request per connection ---- */

struct peer {
    uv_pipe_t pipe;
    char req[4096];
    size_t len;
    bool upgraded;
};

static const char *answer_start = "HTTP/1.1 101 UPGRADED\r\n"
                                  "Content-Type: application/vnd.docker.raw-stream\r\n"
                                  "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello ";
static char seen_start[4096];

static void on_peer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_written(uv_write_t *w, int status)
{
    free(w);
}

static void peer_send(struct peer *p, const char *text)
{
    uv_write_t *w = xcalloc(1, sizeof(*w) + strlen(text) + 1);
    char *copy = (char *)(w + 1);
    uv_buf_t b;

    memcpy(copy, text, strlen(text));
    b = uv_buf_init(copy, (unsigned)strlen(text));
    (void)uv_write(w, (uv_stream_t *)&p->pipe, &b, 1, on_written);
}

static void on_shut(uv_shutdown_t *req, int status)
{
    uv_close((uv_handle_t *)req->handle, on_peer_closed);
    free(req);
}

/* Sends @text, then closes once it is out. */
static void peer_send_last(struct peer *p, const char *text)
{
    uv_shutdown_t *req = xcalloc(1, sizeof(*req));

    peer_send(p, text);
    (void)uv_read_stop((uv_stream_t *)&p->pipe);
    (void)uv_shutdown(req, (uv_stream_t *)&p->pipe, on_shut);
}

static void on_peer_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    struct peer *p = h->data;
    *buf = uv_buf_init(p->req + p->len, (unsigned)(sizeof(p->req) - 1 - p->len));
}

static void on_peer_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct peer *p = st->data;

    if (n < 0) {
        uv_close((uv_handle_t *)st, on_peer_closed);
        return;
    }
    if (p->upgraded) {
        /* Echo what the client wrote, then end the stream as a shell that exits. */
        char out[256];
        (void)snprintf(out, sizeof(out), "echo:%.*s", (int)n, buf->base);
        p->len = 0;
        peer_send_last(p, out);
        return;
    }
    p->len += (size_t)n;
    p->req[p->len] = '\0';
    if (!strstr(p->req, "\r\n\r\n"))
        return;
    if (strncmp(p->req, "GET /_ping", 10) == 0) {
        peer_send_last(p, "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK");
    } else if (strstr(p->req, "/exec/gone/start")) {
        peer_send_last(p, "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n"
                          "Content-Length: 25\r\n\r\n{\"message\":\"not running\"}");
    } else if (strstr(p->req, "}")) {
        (void)snprintf(seen_start, sizeof(seen_start), "%s", p->req);
        p->upgraded = true;
        p->len = 0;
        peer_send(p, answer_start);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct peer *p = xcalloc(1, sizeof(*p));

    (void)uv_pipe_init(server->loop, &p->pipe, 0);
    p->pipe.data = p;
    if (status < 0 || uv_accept(server, (uv_stream_t *)&p->pipe) < 0) {
        uv_close((uv_handle_t *)&p->pipe, on_peer_closed);
        return;
    }
    (void)uv_read_start((uv_stream_t *)&p->pipe, on_peer_alloc, on_peer_read);
}

/* ---- the client side ---- */

struct result {
    struct dext_docker_call *call;
    struct dext_buf data;
    int head_status;
    int end_status;
    int end_err;
    char end_body[256];
    int n_end;
    int write_before;
    int write_after;
};

static void on_head(void *data, int status)
{
    struct result *r = data;
    r->head_status = status;
}

static void on_data(void *data, const char *p, size_t n)
{
    struct result *r = data;

    (void)dext_buf_append(&r->data, p, n);
    if (r->data.len >= 6 && r->write_after == 1)
        r->write_after = dext_docker_call_write(r->call, "keys\r", 5);
}

static void on_end(void *data, int status, const char *body, size_t len, int err, const char *msg)
{
    struct result *r = data;

    r->n_end++;
    r->end_status = status;
    r->end_err = err;
    (void)snprintf(r->end_body, sizeof(r->end_body), "%.*s", (int)len, body);
}

static const struct dext_docker_stream_ops ops = {
    .on_head = on_head, .on_data = on_data, .on_end = on_end};

static void run_call(const char *sock, const char *path, struct result *r)
{
    uv_loop_t loop;
    uv_pipe_t server;
    struct dext_docker *d;
    char host[300];
    static const char body[] = "{\"Detach\":false,\"Tty\":true}";

    ASSERT_EQ(uv_loop_init(&loop), 0);
    (void)unlink(sock);
    ASSERT_EQ(uv_pipe_init(&loop, &server, 0), 0);
    ASSERT_EQ(uv_pipe_bind(&server, sock), 0);
    ASSERT_EQ(uv_listen((uv_stream_t *)&server, 8, on_connection), 0);
    (void)snprintf(host, sizeof(host), "unix://%s", sock);
    ASSERT_EQ(dext_docker_new(&loop, host, &d), 0);
    dext_buf_init(&r->data, 4096);
    r->write_after = 1;
    r->call = dext_docker_upgrade(d, "POST", path, body, sizeof(body) - 1, &ops, r);
    r->write_before = dext_docker_call_write(r->call, "x", 1);
    while (r->n_end == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    uv_close((uv_handle_t *)&server, NULL);
    dext_docker_free(d);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    (void)unlink(sock);
}

static char sock_path[256];

static void test_upgrade_both_ways(void)
{
    struct result r = {0};

    run_call(sock_path, "/exec/abc/start", &r);
    ASSERT_EQ(r.write_before, -ENOTCONN);
    ASSERT_TRUE(strstr(seen_start, "POST /v1.41/exec/abc/start HTTP/1.1\r\n") == seen_start);
    ASSERT_TRUE(strstr(seen_start, "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n") != NULL);
    ASSERT_EQ(r.head_status, 101);
    ASSERT_EQ(r.write_after, 0);
    (void)dext_buf_terminate(&r.data);
    /* The bytes that came with the head, then the echo of the client's write. */
    ASSERT_STR_EQ(r.data.data, "hello echo:keys\r");
    ASSERT_EQ(r.n_end, 1);
    ASSERT_EQ(r.end_status, 101);
    ASSERT_EQ(r.end_err, 0);
    dext_buf_done(&r.data);
}

static void test_refused(void)
{
    struct result r = {0};

    run_call(sock_path, "/exec/gone/start", &r);
    ASSERT_EQ(r.head_status, 0);
    ASSERT_EQ(r.data.len, 0);
    ASSERT_EQ(r.n_end, 1);
    ASSERT_EQ(r.end_status, 409);
    ASSERT_EQ(r.end_err, 0);
    ASSERT_STR_EQ(r.end_body, "{\"message\":\"not running\"}");
    dext_buf_done(&r.data);
}

int main(void)
{
    char dir[] = "/tmp/dext-upgrade-XXXXXX";

    if (!mkdtemp(dir))
        return 1;
    (void)snprintf(sock_path, sizeof(sock_path), "%s/engine.sock", dir);
    TAP_RUN(test_upgrade_both_ways);
    TAP_RUN(test_refused);
    (void)rmdir(dir);
    TAP_EXIT();
}
