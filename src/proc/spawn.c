/* SPDX-License-Identifier: MIT */
/* Child processes with piped output, process groups and kill escalation. */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"

#define CHILD_STACK (64 * 1024)

struct dext_proc {
    uv_loop_t *loop;
    uv_poll_t exit_poll; /* on the pidfd */
    uv_pipe_t out[2];    /* stdout, stderr */
    uv_timer_t timer;    /* kill escalation */
    int pidfd;
    pid_t pid;   /* the child, until reaped */
    pid_t group; /* its process group (= pid), for kills after the reap */
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
    const struct dext_proc_ops *ops; /* a job run elsewhere (dext_proc_custom) */
    void *impl;
};

/* Output is handed over synchronously, so one read buffer serves every process.
 * 256 KiB per read halves the wake-ups of a fast stream against 64 KiB (measured:
 * about +8 % throughput on a 1 GiB stream). */
static char read_buf[256 * 1024];

struct child_args {
    const char *file;
    char *const *argv;
    char *const *env;
    const char *cwd;
    int mntns_fd;
    int out_fd, err_fd, null_fd;
    int report_fd; /* close-on-exec: written only when exec fails */
};

static void on_closed(uv_handle_t *h)
{
    struct dext_proc *p = h->data;

    if (--p->n_handles > 0)
        return;
    if (p->pidfd >= 0)
        (void)close(p->pidfd);
    free(p);
}

static void close_handles(struct dext_proc *p)
{
    for (int i = 0; i < 2; i++)
        if (!uv_is_closing((uv_handle_t *)&p->out[i]))
            uv_close((uv_handle_t *)&p->out[i], on_closed);
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, on_closed);
    /* The exit watch stays until the child is reaped: no zombie is left. */
    if (p->exited && !uv_is_closing((uv_handle_t *)&p->exit_poll))
        uv_close((uv_handle_t *)&p->exit_poll, on_closed);
}

static void kill_group(struct dext_proc *p, int sig)
{
    if (p->group > 0)
        (void)kill(-p->group, sig);
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

    kill_group(p, SIGKILL);
    if (!p->exited) {
        log_debug("proc %d: still running after SIGTERM, SIGKILL", (int)p->pid);
        return;
    }
    /* Exited, but something keeps the pipes open: stop waiting for it. */
    for (int i = 0; i < 2; i++) {
        if (p->open[i]) {
            (void)uv_read_stop((uv_stream_t *)&p->out[i]);
            p->open[i] = false;
        }
    }
    maybe_report(p);
}

static void on_exit_ready(uv_poll_t *h, int status, int events)
{
    struct dext_proc *p = h->data;
    siginfo_t info = {0};

    int r;

    if (p->exited)
        return;
    r = waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED | WNOHANG);
    if (r < 0 && errno != ECHILD)
        return;
    if (r == 0 && info.si_pid == 0)
        return; /* not yet */
    if (r < 0)
        log_warn("proc %d: reaped elsewhere; its exit status is lost", (int)p->pid);
    (void)uv_poll_stop(h);
    p->exited = true;
    p->pid = 0;
    if (info.si_code == CLD_EXITED) {
        p->status = info.si_status;
    } else if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
        p->term_signal = info.si_status;
    }
    /* Helpers it left behind go with it, so the pipes reach EOF. */
    kill_group(p, SIGKILL);
    if (p->freed) {
        uv_close((uv_handle_t *)&p->exit_poll, on_closed);
        return;
    }
    (void)uv_timer_start(&p->timer, on_timer, 1000, 0);
    maybe_report(p);
}

/* Runs in the child, on the parent's memory (CLONE_VM) until execve: only
 * system calls, nothing that allocates or takes locks. */
static int child_main(void *arg)
{
    const struct child_args *a = arg;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t none;
    int err;

    /* No handler of the parent's may run here, and nothing ignored stays ignored. */
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL);
    if (a->mntns_fd >= 0 && setns(a->mntns_fd, CLONE_NEWNS) < 0)
        goto fail;
    if (setsid() < 0)
        goto fail;
    if (dup2(a->null_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 || dup2(a->err_fd, 2) < 0)
        goto fail;
    if (a->cwd && chdir(a->cwd) < 0)
        goto fail;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    if (a->env)
        execvpe(a->file, a->argv, a->env);
    else
        execvp(a->file, a->argv);
fail:
    err = errno;
    (void)!write(a->report_fd, &err, sizeof(err));
    _exit(127);
}

int dext_proc_spawn(uv_loop_t *loop, const struct dext_proc_opts *o, struct dext_proc **ret)
{
    struct dext_proc *p;
    struct child_args a = {
        .file = o->file, .argv = o->argv, .env = o->env, .cwd = o->cwd, .mntns_fd = o->mntns_fd};
    int out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
    sigset_t all, old;
    char *stack = NULL;
    pid_t pid;
    int r = 0, child_errno = 0;

    a.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a.null_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
        pipe2(report, O_CLOEXEC) < 0) {
        r = -errno;
        goto out;
    }
    a.out_fd = out[1];
    a.err_fd = err[1];
    a.report_fd = report[1];
    stack = xmalloc(CHILD_STACK);
    sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    /* The parent sleeps until the child has called execve or exited. */
    pid = clone(child_main, stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    if (pid < 0)
        r = -errno;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r < 0)
        goto out;
    (void)close(report[1]);
    report[1] = -1;
    if (read(report[0], &child_errno, sizeof(child_errno)) == (ssize_t)sizeof(child_errno)) {
        (void)waitpid(pid, NULL, 0);
        r = -child_errno;
        goto out;
    }

    p = xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->pid = p->group = pid;
    p->on_output = o->on_output;
    p->on_exit = o->on_exit;
    p->data = o->data;
    p->grace_ms = o->grace_ms ? o->grace_ms : DEXT_PROC_GRACE_MS;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0) {
        r = -errno;
        (void)kill(-pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        free(p);
        goto out;
    }
    (void)uv_poll_init(loop, &p->exit_poll, p->pidfd);
    p->exit_poll.data = p;
    (void)uv_poll_start(&p->exit_poll, UV_READABLE, on_exit_ready);
    (void)uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    for (int i = 0; i < 2; i++) {
        int fd = i == 0 ? out[0] : err[0];
        (void)uv_pipe_init(loop, &p->out[i], 0);
        p->out[i].data = p;
        (void)uv_pipe_open(&p->out[i], fd);
        p->open[i] = true;
        (void)uv_read_start((uv_stream_t *)&p->out[i], on_alloc, on_read);
    }
    out[0] = err[0] = -1; /* owned by the pipes now */
    p->n_handles = 4;
    *ret = p;
out:
    free(stack);
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            (void)close(out[i]);
        if (err[i] >= 0)
            (void)close(err[i]);
        if (report[i] >= 0)
            (void)close(report[i]);
    }
    if (a.null_fd >= 0)
        (void)close(a.null_fd);
    return r;
}

struct dext_proc *dext_proc_custom(const struct dext_proc_ops *ops, void *impl)
{
    struct dext_proc *p = xcalloc(1, sizeof(*p));

    p->ops = ops;
    p->impl = impl;
    return p;
}

pid_t dext_proc_pid(const struct dext_proc *p)
{
    return p->pid;
}

bool dext_proc_exited(const struct dext_proc *p)
{
    return p->ops ? p->ops->exited(p->impl) : p->exited;
}

void dext_proc_pause(struct dext_proc *p)
{
    if (p->ops) {
        p->ops->pause(p->impl);
        return;
    }
    if (p->paused)
        return;
    p->paused = true;
    for (int i = 0; i < 2; i++)
        if (p->open[i])
            (void)uv_read_stop((uv_stream_t *)&p->out[i]);
}

void dext_proc_resume(struct dext_proc *p)
{
    if (p->ops) {
        p->ops->resume(p->impl);
        return;
    }
    if (!p->paused)
        return;
    p->paused = false;
    for (int i = 0; i < 2; i++)
        if (p->open[i])
            (void)uv_read_start((uv_stream_t *)&p->out[i], on_alloc, on_read);
}

void dext_proc_kill(struct dext_proc *p)
{
    if (p->ops) {
        p->ops->kill(p->impl);
        return;
    }
    if (p->exited)
        return;
    kill_group(p, SIGTERM);
    (void)uv_timer_start(&p->timer, on_timer, p->grace_ms, 0);
}

void dext_proc_free(struct dext_proc *p)
{
    if (!p || p->freed)
        return;
    if (p->ops) {
        p->ops->free(p->impl);
        free(p);
        return;
    }
    p->freed = true;
    if (!p->exited)
        kill_group(p, SIGKILL);
    close_handles(p);
}
