/* SPDX-License-Identifier: MIT */
/* Child processes with piped output, process groups and kill escalation. */
#include "proc/spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"

struct dext_proc {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t out[2]; /* stdout, stderr */
    uv_timer_t timer; /* kill escalation */
    pid_t pid;
    bool exited;
    bool open[2];
    bool paused;
    bool freed;
    bool reported;
    int n_handles;
    int64_t status;
    int term_signal;
    uint64_t grace_ms;
    dext_proc_output_cb on_output;
    dext_proc_exit_cb on_exit;
    void *data;
};

/* Output is handed over synchronously, so one read buffer serves every process. */
static char read_buf[64 * 1024];

static void on_closed(uv_handle_t *h)
{
    struct dext_proc *p = h->data;

    if (--p->n_handles == 0)
        free(p);
}

static void close_handles(struct dext_proc *p)
{
    for (int i = 0; i < 2; i++)
        if (!uv_is_closing((uv_handle_t *)&p->out[i]))
            uv_close((uv_handle_t *)&p->out[i], on_closed);
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, on_closed);
    /* The process handle stays open until the exit is reaped: closing it
     * earlier would leave a zombie behind. */
    if (p->exited && !uv_is_closing((uv_handle_t *)&p->proc))
        uv_close((uv_handle_t *)&p->proc, on_closed);
}

static void kill_group(struct dext_proc *p, int sig)
{
    if (p->pid > 0)
        (void)kill(-p->pid, sig);
}

static void maybe_report(struct dext_proc *p)
{
    if (p->reported || !p->exited || p->open[0] || p->open[1])
        return;
    p->reported = true;
    (void)uv_timer_stop(&p->timer);
    if (!p->freed && p->on_exit)
        p->on_exit(p->data, p->status, p->term_signal);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct dext_proc *p = st->data;
    int fd = st == (uv_stream_t *)&p->out[0] ? 1 : 2;

    if (n > 0) {
        if (!p->freed && p->on_output)
            p->on_output(p->data, fd, buf->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    /* EOF or error: this pipe is done. */
    (void)uv_read_stop(st);
    p->open[fd - 1] = false;
    maybe_report(p);
}

static void on_timer(uv_timer_t *t)
{
    struct dext_proc *p = t->data;

    if (!p->exited) {
        log_debug("proc %d: still running after SIGTERM, SIGKILL", (int)p->pid);
        kill_group(p, SIGKILL);
        return;
    }
    /* Exited, but something keeps the pipes open: stop waiting for it. */
    kill_group(p, SIGKILL);
    for (int i = 0; i < 2; i++) {
        if (p->open[i]) {
            (void)uv_read_stop((uv_stream_t *)&p->out[i]);
            p->open[i] = false;
        }
    }
    maybe_report(p);
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
    struct dext_proc *p = proc->data;

    p->exited = true;
    p->status = status;
    p->term_signal = sig;
    /* Helpers it left behind go with it, so the pipes reach EOF. */
    kill_group(p, SIGKILL);
    p->pid = 0;
    if (p->freed) {
        uv_close((uv_handle_t *)&p->proc, on_closed);
        return;
    }
    (void)uv_timer_start(&p->timer, on_timer, 1000, 0);
    maybe_report(p);
}

int dext_proc_spawn(uv_loop_t *loop, const struct dext_proc_opts *o, struct dext_proc **ret)
{
    struct dext_proc *p = xcalloc(1, sizeof(*p));
    uv_process_options_t opts = {0};
    uv_stdio_container_t stdio[3];
    int r;

    p->loop = loop;
    p->on_output = o->on_output;
    p->on_exit = o->on_exit;
    p->data = o->data;
    p->grace_ms = o->grace_ms ? o->grace_ms : DEXT_PROC_GRACE_MS;
    for (int i = 0; i < 2; i++) {
        (void)uv_pipe_init(loop, &p->out[i], 0);
        p->out[i].data = p;
    }
    (void)uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->proc.data = p;
    p->n_handles = 4;

    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out[0];
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->out[1];
    opts.file = o->file;
    opts.args = (char **)o->argv;
    opts.env = (char **)o->env;
    opts.cwd = o->cwd;
    opts.exit_cb = on_exit_cb;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.flags = UV_PROCESS_DETACHED;
    r = uv_spawn(loop, &p->proc, &opts);
    if (r < 0) {
        p->freed = true;
        p->exited = true;
        close_handles(p);
        return r;
    }
    p->pid = p->proc.pid;
    for (int i = 0; i < 2; i++) {
        p->open[i] = true;
        (void)uv_read_start((uv_stream_t *)&p->out[i], on_alloc, on_read);
    }
    *ret = p;
    return 0;
}

pid_t dext_proc_pid(const struct dext_proc *p)
{
    return p->pid;
}

bool dext_proc_exited(const struct dext_proc *p)
{
    return p->exited;
}

void dext_proc_pause(struct dext_proc *p)
{
    if (p->paused)
        return;
    p->paused = true;
    for (int i = 0; i < 2; i++)
        if (p->open[i])
            (void)uv_read_stop((uv_stream_t *)&p->out[i]);
}

void dext_proc_resume(struct dext_proc *p)
{
    if (!p->paused)
        return;
    p->paused = false;
    for (int i = 0; i < 2; i++)
        if (p->open[i])
            (void)uv_read_start((uv_stream_t *)&p->out[i], on_alloc, on_read);
}

void dext_proc_kill(struct dext_proc *p)
{
    if (p->exited)
        return;
    kill_group(p, SIGTERM);
    (void)uv_timer_start(&p->timer, on_timer, p->grace_ms, 0);
}

void dext_proc_free(struct dext_proc *p)
{
    if (!p || p->freed)
        return;
    p->freed = true;
    if (!p->exited)
        kill_group(p, SIGKILL);
    close_handles(p);
}
