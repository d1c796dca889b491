/* SPDX-License-Identifier: MIT */
/* Socket writes gathered over one turn of the loop and handed to the kernel in one
 * system call (io_uring), instead of one write(2) per socket.
 *
 * A writer (an HTTP connection, a backend connection) owns a struct dext_wq and
 * hands it bytes with dext_wq_writev; they are copied. Before the loop waits for
 * I/O, and again after it has run the I/O callbacks, every queue with bytes is sent
 * with MSG_DONTWAIT in one io_uring_enter (a round with one queue only uses a plain
 * send(2), which costs less; DEXT_IO_URING=ring sends it through the ring as well).
 * What a socket does not take at once goes back to the writer through ops->spill,
 * which queues it the writer's usual way (libuv's write queue); the writer sends
 * later bytes that way too until that queue is empty, so the order on the wire is
 * the order of the calls.
 *
 * Reads go the same way. A reader (struct dext_rq) has the loop watch a duplicate
 * of its socket for readability; after the loop's I/O callbacks, every socket that
 * became readable in that turn is read in one io_uring_enter (a turn with one such
 * socket uses a plain recv(2)), and the bytes go to the reader's callback. Data
 * read for a reader stopped meanwhile is held and handed over when it starts again.
 *
 * Under load the loop gathers: each wake-up costs a context switch and, when the
 * CPU had gone idle, an inter-processor interrupt (several microseconds of CPU,
 * more on a VM), and a loop that is woken for nearly every request pays it per
 * request. When at least 16 sockets were read in the current or the previous
 * millisecond and the last turn read an eighth of that or fewer, the loop sleeps
 * DEXT_GATHER_US (20; 0: never) before it polls, so that the next turn reads what
 * arrived meanwhile in one go (as a network card's interrupt moderation does).
 * A loop serving a few connections never waits.
 *
 * Without io_uring (an old kernel, a sandbox that refuses it, DEXT_IO_URING=0)
 * dext_wbatch_acquire returns NULL, writers write directly and readers read with
 * uv_read_start; DEXT_IO_URING=writes batches writes only (dext_rq_init fails). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"

struct dext_wbatch;
struct wq_op;
struct rq_watch;

struct dext_wq_ops {
    /* Bytes the socket did not take: queue them behind nothing else, return 0 or
     * a negative errno (then on_error follows). */
    int (*spill)(void *data, const char *p, size_t n);
    /* Everything handed over so far has been written. */
    void (*on_flushed)(void *data);
    /* The send failed with @err; the writer closes the socket. */
    void (*on_error)(void *data, int err);
};

struct dext_wq {
    struct dext_wbatch *batch;
    const struct dext_wq_ops *ops;
    void *data;
    int fd;
    struct dext_buf next; /* handed over, not yet submitted */
    struct wq_op *op;     /* the send in flight (kept for reuse) */
    struct dext_wq *prev, *nextq;
    bool listed;
};

/* Writers' helpers: the bytes in @bufs, and a copy of them less the first @skip
 * into @dst (which holds at least their total less @skip); returns bytes copied. */
size_t dext_iov_len(const uv_buf_t *bufs, unsigned n);
size_t dext_iov_copy(char *dst, const uv_buf_t *bufs, unsigned n, size_t skip);

/* The batch of @loop, made on first use and counted: every acquire that returned
 * non-NULL is matched by one release. NULL when io_uring cannot be used. */
struct dext_wbatch *dext_wbatch_acquire(uv_loop_t *loop);
void dext_wbatch_release(struct dext_wbatch *b);
/* How many times the loop has slept to gather. */
unsigned long dext_wbatch_gathers(const struct dext_wbatch *b);

/* @fd must stay open until dext_wq_done. */
void dext_wq_init(struct dext_wq *q, struct dext_wbatch *b, int fd, const struct dext_wq_ops *ops,
                  void *data);
/* Copies @bufs into the queue; they go out at the end of this turn of the loop. */
int dext_wq_writev(struct dext_wq *q, const uv_buf_t *bufs, unsigned n);
/* Bytes handed over and not yet written or spilled. */
size_t dext_wq_pending(const struct dext_wq *q);
/* Drops unsent bytes; a send in flight finishes on its own. */
void dext_wq_done(struct dext_wq *q);

/* libuv's read callback, less the stream: @nread > 0 bytes in @buf (valid during
 * the call only), UV_EOF, or a negative error; after either of the last two the
 * reader has stopped. */
typedef void (*dext_rq_cb)(void *data, ssize_t nread, const uv_buf_t *buf);

struct dext_rq {
    struct dext_wbatch *batch;
    struct rq_watch *watch; /* the duplicate and its poll handle; closes on its own */
    dext_rq_cb cb;
    void *data;
    int fd;
    char *held; /* read while stopped, handed over at the next start */
    size_t held_len;
    ssize_t held_res;
    uint64_t hot_ms; /* the loop's millisecond of its last read */
    struct dext_rq *prev, *nextq;
    bool has_held;
    bool hot_seen;
    bool listed;
    bool reading;
};

/* Duplicates @fd to watch it (the socket's own handle keeps @fd for its writes);
 * returns 0 or a negative errno (then the caller reads with uv_read_start); the
 * reader is not started yet. @fd must stay open
 * until dext_rq_done. */
int dext_rq_init(struct dext_rq *r, struct dext_wbatch *b, int fd, dext_rq_cb cb, void *data);
void dext_rq_start(struct dext_rq *r);
void dext_rq_stop(struct dext_rq *r);
/* Drops held bytes and stops watching; no callback follows. */
void dext_rq_done(struct dext_rq *r);
