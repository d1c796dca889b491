/* SPDX-License-Identifier: MIT */
/* The write batch on a real socket pair: order across turns of the loop, a socket
 * that takes only part (the rest spills, in order), a peer that is gone (the error
 * reaches the writer), bytes dropped with their queue, one batch per loop, and the
 * switch that turns it off. Reads: several sockets read in one turn, the end of a
 * stream, a reset, bytes held for a reader stopped meanwhile and handed over in
 * order when it starts again (before the loop waits, even when a write's completion
 * starts it), a reader done by another's callback, a stream larger than one read;
 * the loop gathers after a small turn under load, and never with a few sockets. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "http/wbatch.h"
#include "tap.h"

struct writer {
    struct dext_buf spilled;
    int n_flushed;
    int n_spills;
    int err;
};

static int w_spill(void *data, const char *p, size_t n)
{
    struct writer *w = data;
    w->n_spills++;
    return dext_buf_append(&w->spilled, p, n);
}

static void w_flushed(void *data)
{
    struct writer *w = data;
    w->n_flushed++;
}

static void w_error(void *data, int err)
{
    struct writer *w = data;
    w->err = err;
}

static const struct dext_wq_ops ops = {
    .spill = w_spill, .on_flushed = w_flushed, .on_error = w_error};

static bool have_uring;

static void pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(1);
    }
}

static size_t drain(int fd, char *out, size_t max)
{
    size_t got = 0;
    ssize_t n;

    while (got < max && (n = read(fd, out + got, max - got)) > 0)
        got += (size_t)n;
    return got;
}

static uv_timer_t keep;

static void on_keep(uv_timer_t *t)
{
}

/* An active handle, as a socket's would be: a loop with none does not turn. */
static void keep_alive(uv_loop_t *loop)
{
    uv_timer_init(loop, &keep);
    uv_timer_start(&keep, on_keep, 60000, 0);
}

static void close_loop(uv_loop_t *loop)
{
    if (keep.loop == loop && !uv_is_closing((uv_handle_t *)&keep))
        uv_close((uv_handle_t *)&keep, NULL);
    (void)uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

static void test_order_across_turns(void)
{
    uv_loop_t loop;
    struct writer w = {0};
    struct dext_wq q;
    struct dext_wbatch *b;
    char got[64] = "";
    int sv[2];

    if (!have_uring)
        return;
    uv_loop_init(&loop);
    pair(sv);
    keep_alive(&loop);
    dext_buf_init(&w.spilled, 1 << 20);
    b = dext_wbatch_acquire(&loop);
    ASSERT_TRUE(b != NULL);
    dext_wq_init(&q, b, sv[0], &ops, &w);
    uv_buf_t two[2] = {uv_buf_init((char *)"one ", 4), uv_buf_init((char *)"two ", 4)};
    ASSERT_EQ(dext_wq_writev(&q, two, 2), 0);
    ASSERT_EQ(dext_wq_pending(&q), 8);
    ASSERT_EQ(drain(sv[1], got, sizeof(got) - 1), 0); /* nothing before the loop turns */
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(dext_wq_pending(&q), 0);
    ASSERT_EQ(w.n_flushed, 1);
    uv_buf_t three = uv_buf_init((char *)"three", 5);
    ASSERT_EQ(dext_wq_writev(&q, &three, 1), 0);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(drain(sv[1], got, sizeof(got) - 1), 13);
    ASSERT_STR_EQ(got, "one two three");
    ASSERT_EQ(w.n_spills, 0);
    ASSERT_EQ(w.err, 0);
    dext_wq_done(&q);
    dext_wbatch_release(b);
    close_loop(&loop);
    dext_buf_done(&w.spilled);
    close(sv[0]);
    close(sv[1]);
}

static void test_partial_send_spills_in_order(void)
{
    enum { N = 4 << 20 };
    uv_loop_t loop;
    struct writer w = {0};
    struct dext_wq q;
    struct dext_wbatch *b;
    char *data = malloc(N), *got = malloc(N);
    size_t sent;
    int sv[2], small = 4096;

    if (!have_uring)
        goto out;
    for (size_t i = 0; i < N; i++)
        data[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    uv_loop_init(&loop);
    pair(sv);
    keep_alive(&loop);
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    dext_buf_init(&w.spilled, N);
    b = dext_wbatch_acquire(&loop);
    dext_wq_init(&q, b, sv[0], &ops, &w);
    uv_buf_t first = uv_buf_init(data, N / 2), second = uv_buf_init(data + N / 2, N / 2);
    ASSERT_EQ(dext_wq_writev(&q, &first, 1), 0);
    ASSERT_EQ(dext_wq_writev(&q, &second, 1), 0);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    sent = drain(sv[1], got, N);
    ASSERT_TRUE(sent < N);     /* the socket could not take it all */
    ASSERT_EQ(w.n_spills, 1);  /* the rest went to the writer, once */
    ASSERT_EQ(w.n_flushed, 0); /* not everything was written */
    ASSERT_EQ(dext_wq_pending(&q), 0);
    ASSERT_EQ(sent + w.spilled.len, N);
    ASSERT_TRUE(memcmp(got, data, sent) == 0);
    if (sent < N && w.spilled.len == N - sent)
        ASSERT_TRUE(memcmp(w.spilled.data, data + sent, N - sent) == 0);
    dext_wq_done(&q);
    dext_wbatch_release(b);
    close_loop(&loop);
    dext_buf_done(&w.spilled);
    close(sv[0]);
    close(sv[1]);
out:
    free(data);
    free(got);
}

static void test_peer_gone(void)
{
    uv_loop_t loop;
    struct writer w = {0};
    struct dext_wq q;
    struct dext_wbatch *b;
    int sv[2];

    if (!have_uring)
        return;
    uv_loop_init(&loop);
    pair(sv);
    keep_alive(&loop);
    close(sv[1]);
    dext_buf_init(&w.spilled, 1024);
    b = dext_wbatch_acquire(&loop);
    dext_wq_init(&q, b, sv[0], &ops, &w);
    uv_buf_t x = uv_buf_init((char *)"lost", 4);
    ASSERT_EQ(dext_wq_writev(&q, &x, 1), 0);
    (void)uv_run(&loop, UV_RUN_NOWAIT); /* no SIGPIPE: the test would die */
    ASSERT_EQ(w.err, -EPIPE);
    ASSERT_EQ(w.n_flushed, 0);
    ASSERT_EQ(dext_wq_pending(&q), 0);
    dext_wq_done(&q);
    dext_wbatch_release(b);
    close_loop(&loop);
    dext_buf_done(&w.spilled);
    close(sv[0]);
}

static void test_done_drops_queued(void)
{
    uv_loop_t loop;
    struct writer w = {0};
    struct dext_wq q1, q2;
    struct dext_wbatch *b;
    char got[16] = "";
    int sv[2];

    if (!have_uring)
        return;
    uv_loop_init(&loop);
    pair(sv);
    keep_alive(&loop);
    b = dext_wbatch_acquire(&loop);
    dext_wq_init(&q1, b, sv[0], &ops, &w);
    dext_wq_init(&q2, b, sv[0], &ops, &w);
    uv_buf_t x = uv_buf_init((char *)"dropped", 7), y = uv_buf_init((char *)"kept", 4);
    ASSERT_EQ(dext_wq_writev(&q1, &x, 1), 0);
    ASSERT_EQ(dext_wq_writev(&q2, &y, 1), 0);
    dext_wq_done(&q1); /* listed, then gone: the batch must not touch it */
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(drain(sv[1], got, sizeof(got) - 1), 4);
    ASSERT_STR_EQ(got, "kept");
    ASSERT_EQ(w.n_flushed, 1);
    dext_wq_done(&q2);
    dext_wbatch_release(b);
    close_loop(&loop);
    close(sv[0]);
    close(sv[1]);
}

static void test_one_batch_per_loop(void)
{
    uv_loop_t a, c;
    struct dext_wbatch *b1, *b2, *b3;

    if (!have_uring)
        return;
    uv_loop_init(&a);
    uv_loop_init(&c);
    b1 = dext_wbatch_acquire(&a);
    b2 = dext_wbatch_acquire(&a);
    b3 = dext_wbatch_acquire(&c);
    ASSERT_TRUE(b1 == b2);
    ASSERT_TRUE(b1 != b3);
    dext_wbatch_release(b1);
    dext_wbatch_release(b2);
    dext_wbatch_release(b3);
    /* The batch never keeps a loop running: both end at once. */
    close_loop(&a);
    close_loop(&c);
}

/* ---- reading ---- */

struct reader {
    struct dext_buf got;
    int n_calls;
    ssize_t end;
    int order; /* when it was called first, among all readers */
    struct dext_rq *stop_other, *done_other;
};

static int call_seq;
static uv_loop_t *cb_loop; /* when set, r_cb notes the loop's time of each call */
static uint64_t cb_at;

static void r_cb(void *data, ssize_t nread, const uv_buf_t *buf)
{
    struct reader *rd = data;

    if (!rd->n_calls++)
        rd->order = ++call_seq;
    if (cb_loop)
        cb_at = uv_now(cb_loop);
    if (nread > 0)
        ASSERT_EQ(dext_buf_append(&rd->got, buf->base, (size_t)nread), 0);
    else
        rd->end = nread;
    if (rd->stop_other) {
        dext_rq_stop(rd->stop_other);
        rd->stop_other = NULL;
    }
    if (rd->done_other) {
        dext_rq_done(rd->done_other);
        rd->done_other = NULL;
    }
}

static void put(int fd, const char *s)
{
    ASSERT_EQ(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* @n readers (up to 20) on as many socket pairs, all started, on a loop of their own. */
struct readers {
    uv_loop_t loop;
    struct dext_wbatch *b;
    int n;
    struct dext_rq q[20];
    struct reader rd[20];
    int sv[20][2];
};

static void readers_open(struct readers *d, int n)
{
    memset(d, 0, sizeof(*d));
    d->n = n;
    uv_loop_init(&d->loop);
    d->b = dext_wbatch_acquire(&d->loop);
    for (int i = 0; i < n; i++) {
        pair(d->sv[i]);
        dext_buf_init(&d->rd[i].got, 1 << 16);
        ASSERT_EQ(dext_rq_init(&d->q[i], d->b, d->sv[i][0], r_cb, &d->rd[i]), 0);
        dext_rq_start(&d->q[i]);
    }
    (void)uv_run(&d->loop, UV_RUN_NOWAIT);
}

static void readers_close(struct readers *d)
{
    for (int i = 0; i < d->n; i++) {
        dext_rq_done(&d->q[i]);
        dext_buf_done(&d->rd[i].got);
    }
    dext_wbatch_release(d->b);
    close_loop(&d->loop);
    for (int i = 0; i < d->n; i++) {
        close(d->sv[i][0]);
        close(d->sv[i][1]);
    }
}

/* Readers 0 and 1 get bytes in one turn; whichever is called first stops (or ends)
 * the other. Returns the index of the other. */
static int readers_race(struct readers *d, bool end)
{
    for (int i = 0; i < 2; i++) {
        if (end)
            d->rd[i].done_other = &d->q[1 - i];
        else
            d->rd[i].stop_other = &d->q[1 - i];
    }
    put(d->sv[0][1], "a1");
    put(d->sv[1][1], "b1");
    (void)uv_run(&d->loop, UV_RUN_NOWAIT);
    ASSERT_EQ(d->rd[0].n_calls + d->rd[1].n_calls, 1);
    return d->rd[0].n_calls ? 1 : 0;
}

static void test_reads_in_one_turn(void)
{
    struct readers d;
    char msg[32];

    if (!have_uring)
        return;
    readers_open(&d, 3);
    keep_alive(&d.loop);
    for (int i = 0; i < d.n; i++)
        ASSERT_EQ(d.rd[i].n_calls, 0); /* nothing to read yet */
    for (int i = 0; i < d.n; i++) {
        (void)snprintf(msg, sizeof(msg), "hello %d", i);
        put(d.sv[i][1], msg);
    }
    (void)uv_run(&d.loop, UV_RUN_NOWAIT); /* one turn reads them all */
    for (int i = 0; i < d.n; i++) {
        (void)snprintf(msg, sizeof(msg), "hello %d", i);
        ASSERT_EQ(d.rd[i].n_calls, 1);
        ASSERT_EQ(d.rd[i].got.len, strlen(msg));
        ASSERT_TRUE(memcmp(d.rd[i].got.data, msg, strlen(msg)) == 0);
        ASSERT_EQ(d.rd[i].end, 0);
    }
    readers_close(&d);
}

static void test_read_end(void)
{
    uv_loop_t loop;
    struct dext_wbatch *b;
    struct dext_rq q;
    struct reader rd = {0};
    int sv[2];

    if (!have_uring)
        return;
    uv_loop_init(&loop);
    keep_alive(&loop);
    pair(sv);
    dext_buf_init(&rd.got, 1024);
    b = dext_wbatch_acquire(&loop);
    ASSERT_EQ(dext_rq_init(&q, b, sv[0], r_cb, &rd), 0);
    dext_rq_start(&q);
    put(sv[1], "last words");
    close(sv[1]);
    for (int i = 0; i < 4; i++)
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(rd.got.len, 10);
    ASSERT_EQ(rd.end, UV_EOF);
    ASSERT_EQ(rd.n_calls, 2); /* the bytes, the end; then reading has stopped */
    ASSERT_TRUE(!q.reading);
    dext_rq_done(&q);
    dext_buf_done(&rd.got);
    dext_wbatch_release(b);
    close_loop(&loop);
    close(sv[0]);
}

/* The peer resets the connection: the reader hears the error, then stops. */
static void test_read_reset(void)
{
    uv_loop_t loop;
    struct dext_wbatch *b;
    struct dext_rq q;
    struct reader rd = {0};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int lfd, cfd, sfd;

    if (!have_uring)
        return;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ASSERT_EQ(listen(lfd, 1), 0);
    ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(cfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_TRUE(sfd >= 0);
    uv_loop_init(&loop);
    keep_alive(&loop);
    dext_buf_init(&rd.got, 1024);
    b = dext_wbatch_acquire(&loop);
    ASSERT_EQ(dext_rq_init(&q, b, sfd, r_cb, &rd), 0);
    dext_rq_start(&q);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(cfd); /* a reset, not an end */
    for (int i = 0; i < 20 && !rd.end; i++)
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(rd.end, UV_ECONNRESET);
    ASSERT_EQ(rd.n_calls, 1);
    ASSERT_TRUE(!q.reading);
    for (int i = 0; i < 3; i++)
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(rd.n_calls, 1); /* nothing after the error */
    dext_rq_done(&q);
    dext_buf_done(&rd.got);
    dext_wbatch_release(b);
    close_loop(&loop);
    close(sfd);
    close(lfd);
}

/* A's callback stops B in the turn that read both: B's bytes wait for its start. */
static void test_stopped_reader_keeps_bytes(void)
{
    struct readers d;
    int o;

    if (!have_uring)
        return;
    readers_open(&d, 2);
    keep_alive(&d.loop);
    o = readers_race(&d, false);
    ASSERT_TRUE(d.q[o].has_held);
    put(d.sv[o][1], "+2");
    (void)uv_run(&d.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(d.rd[o].n_calls, 0); /* still stopped */
    dext_rq_start(&d.q[o]);
    for (int i = 0; i < 4 && d.rd[o].got.len < 4; i++)
        (void)uv_run(&d.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(d.rd[o].got.len, 4);
    ASSERT_TRUE(memcmp(d.rd[o].got.data, o ? "b1+2" : "a1+2", 4) == 0);
    readers_close(&d);
}

/* A reader with held bytes started by a write's completion, in the flush before the
 * loop waits: the bytes come before the wait, not after it. */
struct starter {
    struct dext_rq *rq;
};

static int s_spill(void *data, const char *p, size_t n)
{
    return 0;
}

static void s_flushed(void *data)
{
    struct starter *st = data;
    dext_rq_start(st->rq);
}

static void s_error(void *data, int err)
{
}

static const struct dext_wq_ops starter_ops = {
    .spill = s_spill, .on_flushed = s_flushed, .on_error = s_error};

static void on_wake(uv_timer_t *t)
{
}

static void test_held_bytes_before_the_wait(void)
{
    struct readers d;
    struct dext_wq wq;
    struct starter st;
    uv_timer_t wake;
    uint64_t t0;
    int w[2], o;
    char sink[16];

    if (!have_uring)
        return;
    readers_open(&d, 2);
    pair(w);
    dext_wq_init(&wq, d.b, w[0], &starter_ops, &st);
    uv_timer_init(&d.loop, &wake);
    uv_timer_start(&wake, on_wake, 60000, 0);
    o = readers_race(&d, false);
    st.rq = &d.q[o];
    /* The write goes out before the next wait; its completion starts the reader. */
    uv_buf_t x = uv_buf_init((char *)"go", 2);
    ASSERT_EQ(dext_wq_writev(&wq, &x, 1), 0);
    uv_timer_start(&wake, on_wake, 300, 0);
    uv_update_time(&d.loop);
    t0 = uv_now(&d.loop);
    cb_loop = &d.loop;
    (void)uv_run(&d.loop, UV_RUN_ONCE); /* waits for the timer: 300 ms */
    cb_loop = NULL;
    ASSERT_EQ(d.rd[o].got.len, 2);
    ASSERT_TRUE(cb_at - t0 < 200); /* handed over before the wait, not after it */
    ASSERT_EQ(drain(w[1], sink, sizeof(sink)), 2);
    dext_wq_done(&wq);
    uv_close((uv_handle_t *)&wake, NULL);
    readers_close(&d);
    close(w[0]);
    close(w[1]);
}

/* A's callback ends B in the turn that read both: B hears nothing more. */
static void test_reader_done_by_another(void)
{
    struct readers d;
    int o;

    if (!have_uring)
        return;
    readers_open(&d, 2);
    keep_alive(&d.loop);
    o = readers_race(&d, true);
    put(d.sv[0][1], "more");
    put(d.sv[1][1], "more");
    (void)uv_run(&d.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(d.rd[o].n_calls, 0);
    ASSERT_EQ(d.rd[1 - o].got.len, 6); /* "a1" or "b1", then "more" */
    dext_rq_done(&d.q[o]);             /* a second done is harmless */
    readers_close(&d);
}

/* More than one read's worth, written before the loop turns: all of it, in order. */
static void test_large_stream(void)
{
    enum { N = 300 * 1024 };
    uv_loop_t loop;
    struct dext_wbatch *b;
    struct dext_rq q;
    struct reader rd = {0};
    char *data = malloc(N);
    size_t off = 0;
    int sv[2], big = N * 2;

    if (!have_uring)
        goto out;
    for (size_t i = 0; i < N; i++)
        data[i] = (char)('a' + (i * 13 + i / 1000) % 26);
    uv_loop_init(&loop);
    keep_alive(&loop);
    pair(sv);
    (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    dext_buf_init(&rd.got, N);
    b = dext_wbatch_acquire(&loop);
    ASSERT_EQ(dext_rq_init(&q, b, sv[0], r_cb, &rd), 0);
    dext_rq_start(&q);
    for (int i = 0; i < 1000 && rd.got.len < N; i++) {
        ssize_t w = off < N ? write(sv[1], data + off, N - off) : 0;
        if (w > 0)
            off += (size_t)w;
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    }
    ASSERT_EQ(rd.got.len, N);
    ASSERT_TRUE(rd.got.len == N && memcmp(rd.got.data, data, N) == 0);
    dext_rq_done(&q);
    dext_buf_done(&rd.got);
    dext_wbatch_release(b);
    close_loop(&loop);
    close(sv[0]);
    close(sv[1]);
out:
    free(data);
}

/* A turn of the loop in which the first @n readers got a byte. */
static void poke(struct readers *d, int n)
{
    for (int i = 0; i < n; i++)
        put(d->sv[i][1], "x");
    (void)uv_run(&d->loop, UV_RUN_NOWAIT);
}

/* 20 sockets read in one turn, then a turn that read one: the next wait is
 * preceded by a sleep. With 2 sockets, never. */
static void test_gather(void)
{
    struct readers d;
    unsigned long before;

    if (!have_uring)
        return;
    readers_open(&d, 20);
    keep_alive(&d.loop);
    /* A few sockets: however small the turns, no sleep. */
    for (int t = 0; t < 50; t++)
        poke(&d, 2);
    (void)uv_run(&d.loop, UV_RUN_NOWAIT);
    ASSERT_EQ(dext_wbatch_gathers(d.b), 0);
    /* Many, then one: a sleep before the next wait (tried again should the loop's
     * clock have moved on by more than a millisecond in between). */
    before = dext_wbatch_gathers(d.b);
    for (int t = 0; t < 20 && dext_wbatch_gathers(d.b) == before; t++) {
        poke(&d, d.n);
        poke(&d, 1);
        (void)uv_run(&d.loop, UV_RUN_NOWAIT);
    }
    ASSERT_TRUE(dext_wbatch_gathers(d.b) > before);
    /* Many in every turn: no sleep. */
    before = dext_wbatch_gathers(d.b);
    for (int t = 0; t < 5; t++)
        poke(&d, d.n);
    ASSERT_EQ(dext_wbatch_gathers(d.b), before);
    readers_close(&d);
}

static void test_switched_off(void)
{
    uv_loop_t loop;

    uv_loop_init(&loop);
    setenv("DEXT_IO_URING", "0", 1);
    ASSERT_NULL(dext_wbatch_acquire(&loop));
    unsetenv("DEXT_IO_URING");
    close_loop(&loop);
}

int main(void)
{
    uv_loop_t probe;
    struct dext_wbatch *b;

    uv_loop_init(&probe);
    b = dext_wbatch_acquire(&probe);
    have_uring = b != NULL;
    dext_wbatch_release(b);
    (void)uv_run(&probe, UV_RUN_DEFAULT);
    (void)uv_loop_close(&probe);
    if (!have_uring)
        printf("# io_uring is not available here: only the switch is tested\n");

    /* A round's only send goes by send(2); "ring" sends it through the ring too. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            setenv("DEXT_IO_URING", "ring", 1);
        TAP_RUN(test_order_across_turns);
        TAP_RUN(test_partial_send_spills_in_order);
        TAP_RUN(test_peer_gone);
        TAP_RUN(test_done_drops_queued);
        TAP_RUN(test_one_batch_per_loop);
        TAP_RUN(test_reads_in_one_turn);
        TAP_RUN(test_read_end);
        TAP_RUN(test_read_reset);
        TAP_RUN(test_stopped_reader_keeps_bytes);
        TAP_RUN(test_held_bytes_before_the_wait);
        TAP_RUN(test_reader_done_by_another);
        TAP_RUN(test_large_stream);
        TAP_RUN(test_gather);
        unsetenv("DEXT_IO_URING");
    }
    TAP_RUN(test_switched_off);
    TAP_EXIT();
}
