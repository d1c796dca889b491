/* SPDX-License-Identifier: MIT */
/* Socket writes gathered over one turn of the loop, sent in one io_uring_enter. */
#include "http/wbatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
#define RB_MAX 32                        /* sockets read in one io_uring_enter */
#define RB_ROUNDS 4                      /* read rounds per call: a full read is read again */
#define RB_SIZE (64 * 1024)              /* bytes per read */
#define RQ_TAG ((uint64_t)1)             /* user_data of a read: round << 32 | slot << 1 | RQ_TAG */
#define RB_WAIT_NS (5 * 1000 * 1000)     /* reads not back by then are cancelled */
#define RB_GIVE_UP_NS (50 * 1000 * 1000) /* and not waited for after this */
#define GATHER_MIN_HOT 16                /* sockets read lately before turns are gathered */
#define GATHER_US 20                     /* default DEXT_GATHER_US */

struct rq_watch {
    uv_poll_t poll;
    struct dext_rq *r; /* NULL once the reader is done */
    int fd;            /* the duplicate */
};

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
    bool direct_single; /* a round's only send (or read) goes by send(2) (recv(2)) */
    bool batch_reads;   /* off: readers fall back to uv_read_start */
    int n_open_handles;
    bool flushing;
    /* Reading: the readers that became readable, and the round being handed over
     * (a slot is cleared when its reader is done meanwhile). */
    struct dext_rq *rhead, *rtail;
    struct dext_rq *rslot[RB_MAX];
    char *rheld[RB_MAX]; /* the slot hands over held bytes, not a read */
    size_t rheld_len[RB_MAX];
    ssize_t rres[RB_MAX];
    bool rhas[RB_MAX]; /* rres is known */
    char *rbuf[RB_MAX];
    unsigned n_rslots;
    unsigned r_in_flight;
    uint32_t rround; /* in the reads' user_data: a late completion is ignored */
    bool reading;
    bool collecting; /* sends reaped meanwhile wait in stash (no callbacks) */
    struct stashed {
        struct wq_op *op;
        int res;
    } * stash;
    unsigned n_stash, cap_stash;
    char **orphans; /* buffers of reads given up on, freed with the ring */
    unsigned n_orphans;
    uv_idle_t pending; /* keeps the loop from sleeping while readers are listed */
    /* Gathering: the sockets read in this millisecond of the loop's clock and in
     * the one before, and the sockets read this turn. */
    uint64_t hot_ms;
    unsigned hot_now, hot_before;
    unsigned turn_reads;
    unsigned gather_us;
    unsigned long n_gathers;
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
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&b->ring, cqe);
        if (ud & RQ_TAG) {
            unsigned i = (unsigned)((ud & 0xffffffffu) >> 1);
            if ((uint32_t)(ud >> 32) == b->rround && i < RB_MAX && !b->rhas[i]) {
                b->rres[i] = res;
                b->rhas[i] = true;
                b->r_in_flight--;
            }
            continue;
        }
        if (b->collecting) {
            if (b->n_stash == b->cap_stash) {
                b->cap_stash = b->cap_stash ? b->cap_stash * 2 : 16;
                b->stash = xrealloc(b->stash, b->cap_stash * sizeof(*b->stash));
            }
            b->stash[b->n_stash++] = (struct stashed){(struct wq_op *)(uintptr_t)ud, res};
            continue;
        }
        b->in_flight--;
        complete(b, (struct wq_op *)(uintptr_t)ud, res);
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

/* ---- reading ---- */

static void rlist_add(struct dext_wbatch *b, struct dext_rq *r)
{
    if (r->listed)
        return;
    r->listed = true;
    r->nextq = NULL;
    r->prev = b->rtail;
    if (b->rtail)
        b->rtail->nextq = r;
    else
        b->rhead = r;
    b->rtail = r;
}

static void rlist_del(struct dext_wbatch *b, struct dext_rq *r)
{
    if (!r->listed)
        return;
    r->listed = false;
    if (r->prev)
        r->prev->nextq = r->nextq;
    else
        b->rhead = r->nextq;
    if (r->nextq)
        r->nextq->prev = r->prev;
    else
        b->rtail = r->prev;
    r->prev = r->nextq = NULL;
}

static void rq_unwatch(struct dext_rq *r)
{
    r->reading = false;
    if (r->watch)
        (void)uv_poll_stop(&r->watch->poll);
    if (r->batch)
        rlist_del(r->batch, r);
}

/* Keeps what was read for a reader that stopped before it could be handed over. */
static void rq_hold(struct dext_rq *r, ssize_t res, const char *p)
{
    if (res > 0) {
        r->held = xrealloc(r->held, r->held_len + (size_t)res);
        memcpy(r->held + r->held_len, p, (size_t)res);
        r->held_len += (size_t)res;
    } else if (!r->held_res) {
        r->held_res = res;
    }
    r->has_held = true;
}

/* Hands slot @i's outcome to its reader: the bytes, then an end (EOF, error). */
static void hand_over(struct dext_wbatch *b, unsigned i)
{
    struct dext_rq *r = b->rslot[i];
    char *p = b->rheld[i] ? b->rheld[i] : b->rbuf[i];
    size_t n = b->rheld[i] ? b->rheld_len[i] : 0;
    ssize_t end = b->rres[i];
    uv_buf_t buf;

    if (!b->rheld[i]) {
        if (end == -EAGAIN || end == -EWOULDBLOCK || end == -EINTR || end == -ECANCELED) {
            if (r && r->reading && end != -EAGAIN && end != -EWOULDBLOCK)
                rlist_add(b, r); /* not read after all: try again */
            return;
        }
        if (end > 0) {
            n = (size_t)end;
            end = 0;
        } else if (end == 0) {
            end = UV_EOF;
        }
    }
    if (!r)
        return;
    if (n) {
        if (!r->reading) {
            rq_hold(r, (ssize_t)n, p);
            n = 0;
        } else {
            buf = uv_buf_init(p, (unsigned)n);
            r->cb(r->data, (ssize_t)n, &buf);
            if (b->rslot[i] != r)
                return; /* done meanwhile */
        }
    }
    if (end < 0) {
        if (!r->reading) {
            rq_hold(r, end, NULL);
            return;
        }
        rq_unwatch(r); /* as libuv stops reading at the end */
        buf = uv_buf_init(NULL, 0);
        r->cb(r->data, end, &buf);
        return;
    }
    if (!b->rheld[i] && n == RB_SIZE && r->reading)
        rlist_add(b, r); /* a full read: more is likely waiting */
}

static uint64_t read_ud(struct dext_wbatch *b, unsigned i)
{
    return (uint64_t)b->rround << 32 | (uint64_t)i << 1 | RQ_TAG;
}

/* Reads still out are given up on: their readers are listed again, and their
 * buffers are never used again (a late completion is told apart by the round). */
static void give_up_reads(struct dext_wbatch *b)
{
    log_warn("io_uring: %u reads did not finish; they are tried again", b->r_in_flight);
    for (unsigned i = 0; i < b->n_rslots; i++) {
        if (b->rhas[i])
            continue;
        b->rres[i] = -EINTR;
        b->rhas[i] = true;
        b->orphans = xrealloc(b->orphans, (b->n_orphans + 1) * sizeof(*b->orphans));
        b->orphans[b->n_orphans++] = b->rbuf[i];
        b->rbuf[i] = NULL;
    }
    b->r_in_flight = 0;
}

/* Waits for the round's reads, which MSG_DONTWAIT should have finished inside the
 * io_uring_enter that submitted them; any that did not are cancelled after
 * RB_WAIT_NS and given up on after RB_GIVE_UP_NS. */
static void wait_reads(struct dext_wbatch *b)
{
    uint64_t start = uv_hrtime();
    bool cancelled = false;

    while (b->r_in_flight) {
        struct __kernel_timespec ts = {.tv_nsec = 1000 * 1000};
        struct io_uring_cqe *cqe;
        uint64_t waited = uv_hrtime() - start;

        if (waited > RB_GIVE_UP_NS) {
            give_up_reads(b);
            return;
        }
        if (waited > RB_WAIT_NS && !cancelled) {
            for (unsigned i = 0; i < b->n_rslots; i++) {
                struct io_uring_sqe *sqe;
                if (b->rhas[i] || !(sqe = io_uring_get_sqe(&b->ring)))
                    continue;
                io_uring_prep_cancel64(sqe, read_ud(b, i), 0);
                io_uring_sqe_set_data64(sqe, read_ud(b, RB_MAX));
            }
            cancelled = true;
        }
        /* Submits what is still in the queue too (a failed submit left it there). */
        (void)io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, &ts, NULL);
        reap(b);
    }
}

/* Counts the distinct sockets read in each millisecond of the loop's clock. */
static void note_hot(struct dext_wbatch *b, struct dext_rq *r)
{
    uint64_t now = uv_now(b->loop);

    if (now != b->hot_ms) {
        b->hot_before = now == b->hot_ms + 1 ? b->hot_now : 0;
        b->hot_now = 0;
        b->hot_ms = now;
    }
    if (r->hot_ms != now || !r->hot_seen) {
        r->hot_ms = now;
        r->hot_seen = true;
        b->hot_now++;
    }
}

/* Sends that completed while reads were out get their callbacks now. */
static void finish_collecting(struct dext_wbatch *b)
{
    b->collecting = false;
    for (unsigned k = 0; k < b->n_stash; k++) {
        b->in_flight--;
        complete(b, b->stash[k].op, b->stash[k].res);
    }
    b->n_stash = 0;
}

/* Reads every listed reader, a round of up to RB_MAX at a time, and hands the
 * bytes over in the order the readers were listed. */
static void read_rounds(struct dext_wbatch *b)
{
    if (b->reading)
        return;
    b->reading = true;
    for (int round = 0; round < RB_ROUNDS && b->rhead; round++) {
        unsigned n = 0, n_reads = 0, last = 0;
        struct dext_rq *r;

        while (n < RB_MAX && (r = b->rhead)) {
            rlist_del(b, r);
            if (!r->reading)
                continue;
            b->rslot[n] = r;
            b->rheld[n] = NULL;
            b->rhas[n] = false;
            b->rres[n] = 0;
            if (r->has_held) {
                b->rheld[n] = r->held;
                b->rheld_len[n] = r->held_len;
                b->rres[n] = r->held_res;
                b->rhas[n] = true;
                r->held = NULL;
                r->held_len = 0;
                r->held_res = 0;
                r->has_held = false;
            } else {
                note_hot(b, r);
                if (!b->rbuf[n])
                    b->rbuf[n] = xmalloc(RB_SIZE);
                n_reads++;
                last = n;
            }
            n++;
        }
        b->n_rslots = n;
        b->turn_reads += n_reads;
        if (n_reads == 1 && b->direct_single) {
            ssize_t got;

            do
                got = recv(b->rslot[last]->fd, b->rbuf[last], RB_SIZE, MSG_DONTWAIT);
            while (got < 0 && errno == EINTR);
            b->rres[last] = got < 0 ? -errno : got;
            b->rhas[last] = true;
        } else if (n_reads) {
            for (unsigned i = 0; i < n; i++) {
                struct io_uring_sqe *sqe;

                if (b->rhas[i])
                    continue;
                sqe = io_uring_get_sqe(&b->ring);
                if (!sqe && submit(b) >= 0)
                    sqe = io_uring_get_sqe(&b->ring);
                if (!sqe) {
                    b->rres[i] = -EINTR; /* listed again */
                    b->rhas[i] = true;
                    continue;
                }
                io_uring_prep_recv(sqe, b->rslot[i]->fd, b->rbuf[i], RB_SIZE, MSG_DONTWAIT);
                io_uring_sqe_set_data64(sqe, read_ud(b, i));
                b->r_in_flight++;
            }
            (void)submit(b);
            reap(b);
            wait_reads(b);
        }
        finish_collecting(b);
        for (unsigned i = 0; i < n; i++) {
            hand_over(b, i);
            free(b->rheld[i]);
            b->rheld[i] = NULL;
        }
        for (unsigned i = 0; i < n; i++)
            b->rslot[i] = NULL;
        b->n_rslots = 0;
    }
    b->reading = false;
}

static void on_watch(uv_poll_t *h, int status, int events)
{
    struct rq_watch *w = h->data;

    if (!w->r || !w->r->reading || !w->r->batch)
        return;
    /* An error condition on the socket (libuv stops watching then): keep watching
     * until a read has handed the error or the end over. */
    if (status < 0)
        (void)uv_poll_start(h, UV_READABLE, on_watch);
    rlist_add(w->r->batch, w->r);
}

static void on_watch_closed(uv_handle_t *h)
{
    struct rq_watch *w = h->data;

    (void)close(w->fd);
    free(w);
}

int dext_rq_init(struct dext_rq *r, struct dext_wbatch *b, int fd, dext_rq_cb cb, void *data)
{
    struct rq_watch *w;
    int dup_fd, e;

    *r = (struct dext_rq){.cb = cb, .data = data, .fd = fd};
    if (!b->batch_reads)
        return -ENOSYS;
    dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return -errno;
    w = xcalloc(1, sizeof(*w));
    w->fd = dup_fd;
    e = uv_poll_init_socket(b->loop, &w->poll, dup_fd);
    if (e < 0) {
        (void)close(dup_fd);
        free(w);
        return e;
    }
    w->poll.data = w;
    w->r = r;
    r->watch = w;
    r->batch = b;
    return 0;
}

unsigned long dext_wbatch_gathers(const struct dext_wbatch *b)
{
    return b->n_gathers;
}

void dext_rq_start(struct dext_rq *r)
{
    if (!r->batch || r->reading)
        return;
    r->reading = true;
    if (r->has_held)
        rlist_add(r->batch, r); /* no event will come for those bytes */
    if (!r->has_held || !r->held_res)
        (void)uv_poll_start(&r->watch->poll, UV_READABLE, on_watch);
}

void dext_rq_stop(struct dext_rq *r)
{
    if (r->batch && r->reading)
        rq_unwatch(r);
}

void dext_rq_done(struct dext_rq *r)
{
    struct dext_wbatch *b = r->batch;

    if (!b)
        return;
    rq_unwatch(r);
    for (unsigned i = 0; i < b->n_rslots; i++) {
        if (b->rslot[i] == r)
            b->rslot[i] = NULL;
    }
    if (r->watch) {
        r->watch->r = NULL;
        uv_close((uv_handle_t *)&r->watch->poll, on_watch_closed);
        r->watch = NULL;
    }
    free(r->held);
    r->held = NULL;
    r->held_len = 0;
    r->has_held = false;
    r->batch = NULL;
}

/* The loop is about to wait: under load, after a turn that read only a few of the
 * sockets lately busy, a short sleep first (see wbatch.h). */
static void gather(struct dext_wbatch *b)
{
    unsigned reads = b->turn_reads;
    unsigned hot = b->hot_now > b->hot_before ? b->hot_now : b->hot_before;

    b->turn_reads = 0;
    if (b->rhead || !b->gather_us || hot < GATHER_MIN_HOT || reads == 0 || reads * 8 > hot)
        return;
    struct timespec ts = {.tv_nsec = (long)b->gather_us * 1000};
    b->n_gathers++;
    (void)nanosleep(&ts, NULL);
}

static void on_pending(uv_idle_t *h)
{
}

/* Reads and writes until neither has work left (callbacks of one may give work to
 * the other), within bounds; a reader still listed then keeps the loop's next wait
 * from sleeping. */
static void run_turn(struct dext_wbatch *b)
{
    for (int k = 0; k < 4; k++) {
        read_rounds(b);
        flush(b);
        if (!b->rhead)
            break;
    }
    if (b->rhead && !uv_is_active((uv_handle_t *)&b->pending))
        (void)uv_idle_start(&b->pending, on_pending);
    else if (!b->rhead && uv_is_active((uv_handle_t *)&b->pending))
        (void)uv_idle_stop(&b->pending);
}

static void on_prepare(uv_prepare_t *h)
{
    run_turn(h->data);
    gather(h->data);
}

static void on_check(uv_check_t *h)
{
    run_turn(h->data);
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
    for (unsigned i = 0; i < RB_MAX; i++)
        free(b->rbuf[i]);
    for (unsigned i = 0; i < b->n_orphans; i++)
        free(b->orphans[i]);
    free(b->orphans);
    free(b->stash);
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
    b->batch_reads = !(env && strcmp(env, "writes") == 0);
    env = getenv("DEXT_GATHER_US");
    b->gather_us = env ? (unsigned)strtoul(env, NULL, 10) : GATHER_US;
    if (b->gather_us > 1000)
        b->gather_us = 1000;
    (void)uv_prepare_init(loop, &b->prepare);
    (void)uv_check_init(loop, &b->check);
    (void)uv_timer_init(loop, &b->late);
    (void)uv_idle_init(loop, &b->pending);
    b->prepare.data = b->check.data = b->late.data = b->pending.data = b;
    b->n_open_handles = 4;
    (void)uv_prepare_start(&b->prepare, on_prepare);
    (void)uv_check_start(&b->check, on_check);
    /* Writers keep the loop alive; the batch itself does not. */
    uv_unref((uv_handle_t *)&b->prepare);
    uv_unref((uv_handle_t *)&b->check);
    uv_unref((uv_handle_t *)&b->pending);
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
    uv_close((uv_handle_t *)&b->pending, on_handle_closed);
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

int dext_rq_init(struct dext_rq *r, struct dext_wbatch *b, int fd, dext_rq_cb cb, void *data)
{
    *r = (struct dext_rq){.cb = cb, .data = data, .fd = fd};
    return -ENOSYS;
}

unsigned long dext_wbatch_gathers(const struct dext_wbatch *b)
{
    return 0;
}

void dext_rq_start(struct dext_rq *r)
{
}

void dext_rq_stop(struct dext_rq *r)
{
}

void dext_rq_done(struct dext_rq *r)
{
}

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
