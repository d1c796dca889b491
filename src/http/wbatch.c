/* SPDX-License-Identifier: MIT */
/* Socket writes gathered over one turn of the loop, sent in one io_uring_enter. */
#include "http/wbatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"

size_t dext_iov_len(const uv_buf_t *bufs, unsigned n)
{
    size_t total = 0;

    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    return total;
}

size_t dext_iov_copy(char *dst, const uv_buf_t *bufs, unsigned n, size_t skip)
{
    size_t off = 0;

    for (unsigned i = 0; i < n; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        memcpy(dst + off, bufs[i].base + skip, bufs[i].len - skip);
        off += bufs[i].len - skip;
        skip = 0;
    }
    return off;
}

#ifdef DEXT_HAVE_URING
#include <liburing.h>

#define WBATCH_ENTRIES 256
#define WBATCH_ROUNDS 8 /* flush rounds per call: callbacks may queue more */
#define WQ_MAX ((size_t)SIZE_MAX / 2)

struct wq_op {
    struct dext_wq *q; /* NULL once the queue is gone: the op frees itself */
    struct dext_buf buf;
    bool busy;
};

struct dext_wbatch {
    uv_loop_t *loop;
    struct io_uring ring;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t late; /* reaps a send the kernel did not finish inline */
    struct dext_wq *head, *tail;
    struct dext_wbatch *next_batch;
    unsigned in_flight;
    int refs;
    bool direct_single; /* a round's only send goes by send(2) */
    int n_open_handles;
    bool flushing;
};

static struct dext_wbatch *batches; /* one per loop that has writers */

static void on_late(uv_timer_t *t);

static void list_add(struct dext_wbatch *b, struct dext_wq *q)
{
    if (q->listed)
        return;
    q->listed = true;
    q->nextq = NULL;
    q->prev = b->tail;
    if (b->tail)
        b->tail->nextq = q;
    else
        b->head = q;
    b->tail = q;
}

static void list_del(struct dext_wbatch *b, struct dext_wq *q)
{
    if (!q->listed)
        return;
    q->listed = false;
    if (q->prev)
        q->prev->nextq = q->nextq;
    else
        b->head = q->nextq;
    if (q->nextq)
        q->nextq->prev = q->prev;
    else
        b->tail = q->prev;
    q->prev = q->nextq = NULL;
}

/* A send came back: the rest (if any) and whatever queued meanwhile spill to the
 * writer's own queue; callbacks come last, as they may free @q. */
static void complete(struct dext_wbatch *b, struct wq_op *op, int res)
{
    struct dext_wq *q = op->q;
    size_t len = op->buf.len;
    int r = 0;

    op->busy = false;
    if (!q) {
        dext_buf_done(&op->buf);
        free(op);
        return;
    }
    if (res == -EAGAIN || res == -EWOULDBLOCK || res == -EINTR)
        res = 0;
    if (res < 0) {
        op->buf.len = 0;
        q->next.len = 0;
        list_del(b, q);
        q->ops->on_error(q->data, res);
        return;
    }
    if ((size_t)res < len) {
        r = q->ops->spill(q->data, op->buf.data + res, len - (size_t)res);
        op->buf.len = 0;
        if (r == 0 && q->next.len)
            r = q->ops->spill(q->data, q->next.data, q->next.len);
        q->next.len = 0;
        list_del(b, q);
        if (r < 0)
            q->ops->on_error(q->data, r);
        return;
    }
    op->buf.len = 0;
    if (q->next.len) {
        list_add(b, q); /* queued while this one was out */
        return;
    }
    q->ops->on_flushed(q->data);
}

static void reap(struct dext_wbatch *b)
{
    struct io_uring_cqe *cqe;

    while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
        struct wq_op *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&b->ring, cqe);
        b->in_flight--;
        complete(b, op, res);
    }
}

static int submit(struct dext_wbatch *b)
{
    int r;

    do
        r = io_uring_submit(&b->ring);
    while (r == -EINTR);
    if (r == -EBUSY || r == -EAGAIN) {
        reap(b);
        r = io_uring_submit(&b->ring);
    }
    return r;
}

/* Prepares one send per listed queue, submits them together, reaps what is done. */
static void flush(struct dext_wbatch *b)
{
    if (b->flushing)
        return;
    b->flushing = true;
    for (int round = 0; round < WBATCH_ROUNDS && b->head; round++) {
        unsigned n = 0;
        struct dext_wq *q;
        bool single;

        while ((q = b->head)) {
            struct io_uring_sqe *sqe;
            struct dext_buf t;

            if (!q->next.len || (q->op && q->op->busy)) {
                list_del(b, q); /* nothing to send, or completion relists it */
                continue;
            }
            single = n == 0 && q == b->tail && b->direct_single;
            sqe = single ? NULL : io_uring_get_sqe(&b->ring);
            if (!sqe && !single) {
                if (n && submit(b) < 0)
                    break;
                n = 0;
                reap(b);
                sqe = io_uring_get_sqe(&b->ring);
                if (!sqe)
                    break;
                if (!q->listed || !q->next.len || (q->op && q->op->busy))
                    continue; /* the reap changed it; look again */
            }
            list_del(b, q);
            if (!q->op) {
                q->op = xcalloc(1, sizeof(*q->op));
                dext_buf_init(&q->op->buf, WQ_MAX);
                q->op->q = q;
            }
            t = q->op->buf;
            q->op->buf = q->next;
            q->next = t;
            q->op->busy = true;
            if (single) {
                /* The only send of this round: a plain send(2) costs less than a
                 * trip through the ring. */
                ssize_t w;

                do
                    w = send(q->fd, q->op->buf.data, q->op->buf.len, MSG_DONTWAIT | MSG_NOSIGNAL);
                while (w < 0 && errno == EINTR);
                complete(b, q->op, w < 0 ? -errno : (int)w);
                continue;
            }
            io_uring_prep_send(sqe, q->fd, q->op->buf.data, q->op->buf.len,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
            io_uring_sqe_set_data(sqe, q->op);
            b->in_flight++;
            n++;
        }
        if (n && submit(b) < 0)
            log_warn("io_uring submit failed: sends wait for the next turn");
        reap(b);
    }
    if (b->in_flight && !uv_is_active((uv_handle_t *)&b->late))
        (void)uv_timer_start(&b->late, on_late, 1, 0);
    b->flushing = false;
}

static void on_prepare(uv_prepare_t *h)
{
    flush(h->data);
}

static void on_check(uv_check_t *h)
{
    flush(h->data);
}

static void on_late(uv_timer_t *t)
{
    struct dext_wbatch *b = t->data;

    reap(b);
    flush(b);
    if (b->in_flight)
        (void)uv_timer_start(&b->late, on_late, 1, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct dext_wbatch *b = h->data;

    if (--b->n_open_handles > 0)
        return;
    io_uring_queue_exit(&b->ring);
    free(b);
}

static int ring_init(struct io_uring *ring)
{
    unsigned flags = 0;
    int r;

#ifdef IORING_SETUP_SUBMIT_ALL
    flags |= IORING_SETUP_SUBMIT_ALL;
#endif
#ifdef IORING_SETUP_COOP_TASKRUN
    flags |= IORING_SETUP_COOP_TASKRUN;
#endif
#ifdef IORING_SETUP_SINGLE_ISSUER
    flags |= IORING_SETUP_SINGLE_ISSUER;
#endif
    r = io_uring_queue_init(WBATCH_ENTRIES, ring, flags);
    if (r == -EINVAL)
        r = io_uring_queue_init(WBATCH_ENTRIES, ring, 0);
    return r;
}

struct dext_wbatch *dext_wbatch_acquire(uv_loop_t *loop)
{
    const char *env = getenv("DEXT_IO_URING");
    struct dext_wbatch *b;
    int r;

    if (env && strcmp(env, "0") == 0)
        return NULL;
    for (b = batches; b; b = b->next_batch) {
        if (b->loop == loop) {
            b->refs++;
            return b;
        }
    }
    b = xcalloc(1, sizeof(*b));
    r = ring_init(&b->ring);
    if (r < 0) {
        log_debug("io_uring unavailable (%s): writes go one by one", strerror(-r));
        free(b);
        return NULL;
    }
    b->loop = loop;
    b->refs = 1;
    b->direct_single = !(env && strcmp(env, "ring") == 0);
    (void)uv_prepare_init(loop, &b->prepare);
    (void)uv_check_init(loop, &b->check);
    (void)uv_timer_init(loop, &b->late);
    b->prepare.data = b->check.data = b->late.data = b;
    b->n_open_handles = 3;
    (void)uv_prepare_start(&b->prepare, on_prepare);
    (void)uv_check_start(&b->check, on_check);
    /* Writers keep the loop alive; the batch itself does not. */
    uv_unref((uv_handle_t *)&b->prepare);
    uv_unref((uv_handle_t *)&b->check);
    b->next_batch = batches;
    batches = b;
    return b;
}

void dext_wbatch_release(struct dext_wbatch *b)
{
    struct dext_wbatch **pp;

    if (!b || --b->refs > 0)
        return;
    for (pp = &batches; *pp; pp = &(*pp)->next_batch) {
        if (*pp == b) {
            *pp = b->next_batch;
            break;
        }
    }
    flush(b);
    reap(b);
    uv_close((uv_handle_t *)&b->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&b->check, on_handle_closed);
    uv_close((uv_handle_t *)&b->late, on_handle_closed);
}

void dext_wq_init(struct dext_wq *q, struct dext_wbatch *b, int fd, const struct dext_wq_ops *ops,
                  void *data)
{
    *q = (struct dext_wq){.batch = b, .ops = ops, .data = data, .fd = fd};
    dext_buf_init(&q->next, WQ_MAX);
}

int dext_wq_writev(struct dext_wq *q, const uv_buf_t *bufs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int r = dext_buf_append(&q->next, bufs[i].base, bufs[i].len);
        if (r < 0)
            return r;
    }
    if (q->next.len && !(q->op && q->op->busy))
        list_add(q->batch, q);
    return 0;
}

size_t dext_wq_pending(const struct dext_wq *q)
{
    return q->next.len + (q->op && q->op->busy ? q->op->buf.len : 0);
}

void dext_wq_done(struct dext_wq *q)
{
    if (!q->batch)
        return;
    list_del(q->batch, q);
    if (q->op) {
        if (q->op->busy) {
            q->op->q = NULL;
        } else {
            dext_buf_done(&q->op->buf);
            free(q->op);
        }
        q->op = NULL;
    }
    dext_buf_done(&q->next);
    q->batch = NULL;
}

#else /* !DEXT_HAVE_URING */

struct dext_wbatch *dext_wbatch_acquire(uv_loop_t *loop)
{
    return NULL;
}

void dext_wbatch_release(struct dext_wbatch *b)
{
}

void dext_wq_init(struct dext_wq *q, struct dext_wbatch *b, int fd, const struct dext_wq_ops *ops,
                  void *data)
{
    *q = (struct dext_wq){.ops = ops, .data = data, .fd = fd};
}

int dext_wq_writev(struct dext_wq *q, const uv_buf_t *bufs, unsigned n)
{
    return -ENOSYS;
}

size_t dext_wq_pending(const struct dext_wq *q)
{
    return 0;
}

void dext_wq_done(struct dext_wq *q)
{
}

#endif
