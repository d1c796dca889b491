/* SPDX-License-Identifier: MIT */
/* The process runtime: spawn, supervise, restart with backoff, stop. */
#include "runtime/process.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"

struct dext_proc_rt {
    uv_loop_t *loop;
    char *name, *ext_dir, *guest_dir, *log_path, *self_exe, *image;
    char **argv;
    uint64_t grace_ms;
    enum dext_rt_state state;
    uv_process_t *proc; /* while a process runs; closed on exit */
    pid_t pid;
    uv_timer_t timer; /* backoff, then stop grace */
    uint64_t started_ms;
    uint64_t backoff_ms;
    uint64_t restart_at_ms;
    int last_status;
    int last_signal;
    unsigned n_starts;
    bool freeing;
    dext_proc_rt_cb on_stopped;
    void *stopped_data;
    dext_proc_rt_cb on_restart;
    void *restart_data;
};

static void spawn_now(struct dext_proc_rt *rt);

static void log_line(struct dext_proc_rt *rt, const char *fmt, ...) _printf_(2, 3);
static void log_line(struct dext_proc_rt *rt, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int fd, n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    fd = open(rt->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    (void)!write(fd, line, (size_t)n);
    (void)close(fd);
}

static void on_proc_closed(uv_handle_t *h)
{
    free(h);
}

static void kill_group(struct dext_proc_rt *rt, int sig)
{
    if (rt->pid > 0)
        (void)kill(-rt->pid, sig);
}

static void on_timer(uv_timer_t *t)
{
    struct dext_proc_rt *rt = t->data;

    if (rt->state == DEXT_RT_BACKOFF) {
        spawn_now(rt);
    } else if (rt->state == DEXT_RT_STOPPING) {
        log_warn("backend %s: still running %llu ms after SIGTERM, sending SIGKILL", rt->name,
                 (unsigned long long)rt->grace_ms);
        log_line(rt, "dext: backend did not stop in time; SIGKILL");
        kill_group(rt, SIGKILL);
    }
}

static void stopped(struct dext_proc_rt *rt)
{
    dext_proc_rt_cb cb = rt->on_stopped;

    rt->state = DEXT_RT_STOPPED;
    rt->on_stopped = NULL;
    if (cb)
        cb(rt->stopped_data);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    struct dext_proc_rt *rt = p->data;
    uint64_t ran = uv_now(rt->loop) - rt->started_ms;

    uv_close((uv_handle_t *)p, on_proc_closed);
    rt->proc = NULL;
    /* Whatever the leader left behind goes with it. */
    kill_group(rt, SIGKILL);
    rt->pid = 0;
    rt->last_status = (int)status;
    rt->last_signal = sig;
    (void)uv_timer_stop(&rt->timer);
    if (rt->state == DEXT_RT_STOPPING) {
        log_line(rt, "dext: backend stopped");
        stopped(rt);
        return;
    }
    if (ran >= DEXT_RT_STABLE_MS)
        rt->backoff_ms = DEXT_RT_BACKOFF_MIN_MS;
    if (sig)
        log_warn("backend %s: killed by signal %d; restarting in %llu ms", rt->name, sig,
                 (unsigned long long)rt->backoff_ms);
    else
        log_warn("backend %s: exited with status %lld; restarting in %llu ms", rt->name,
                 (long long)status, (unsigned long long)rt->backoff_ms);
    log_line(rt, "dext: backend %s %d; restarting in %llu ms",
             sig ? "killed by signal" : "exited with status", sig ? sig : (int)status,
             (unsigned long long)rt->backoff_ms);
    rt->state = DEXT_RT_BACKOFF;
    rt->restart_at_ms = uv_now(rt->loop) + rt->backoff_ms;
    (void)uv_timer_start(&rt->timer, on_timer, rt->backoff_ms, 0);
    rt->backoff_ms = MIN(rt->backoff_ms * 2, DEXT_RT_BACKOFF_MAX_MS);
}

static void spawn_now(struct dext_proc_rt *rt)
{
    size_t n_argv = 0;
    char **args;
    uv_process_options_t opts = {0};
    uv_stdio_container_t stdio[3];
    struct stat st;
    int log_fd, r;

    extern char **environ;
    size_t n_env = 0, e = 0;
    char **env;
    char *image_var = xasprintf("DESKTOP_PLUGIN_IMAGE=%s", rt->image);

    while (rt->argv[n_argv])
        n_argv++;
    while (environ[n_env])
        n_env++;
    env = xcalloc(n_env + 2, sizeof(char *));
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "DESKTOP_PLUGIN_IMAGE=", 21) != 0)
            env[e++] = environ[i];
    env[e++] = image_var;
    args = xcalloc(n_argv + 6, sizeof(char *));
    args[0] = rt->self_exe;
    args[1] = (char *)"__guest-exec";
    args[2] = rt->guest_dir;
    args[3] = rt->ext_dir;
    args[4] = (char *)"--";
    for (size_t i = 0; i < n_argv; i++)
        args[5 + i] = rt->argv[i];

    /* A log past its cap starts again rather than filling the disk. */
    if (stat(rt->log_path, &st) == 0 && st.st_size > DEXT_RT_LOG_MAX)
        (void)truncate(rt->log_path, 0);
    log_fd = open(rt->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = log_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE;
    stdio[1].data.fd = log_fd;
    stdio[2] = stdio[1];

    rt->proc = xcalloc(1, sizeof(*rt->proc));
    rt->proc->data = rt;
    opts.file = rt->self_exe;
    opts.args = args;
    opts.env = env;
    opts.exit_cb = on_proc_exit;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.flags = UV_PROCESS_DETACHED;
    rt->started_ms = uv_now(rt->loop);
    rt->n_starts++;
    r = uv_spawn(rt->loop, rt->proc, &opts);
    if (log_fd >= 0)
        (void)close(log_fd);
    free(args);
    free(env);
    free(image_var);
    if (r < 0) {
        log_error("backend %s: cannot start: %s", rt->name, uv_strerror(r));
        log_line(rt, "dext: cannot start the backend: %s", uv_strerror(r));
        uv_close((uv_handle_t *)rt->proc, on_proc_closed);
        rt->proc = NULL;
        rt->state = DEXT_RT_BACKOFF;
        rt->restart_at_ms = uv_now(rt->loop) + rt->backoff_ms;
        (void)uv_timer_start(&rt->timer, on_timer, rt->backoff_ms, 0);
        rt->backoff_ms = MIN(rt->backoff_ms * 2, DEXT_RT_BACKOFF_MAX_MS);
        return;
    }
    rt->pid = rt->proc->pid;
    rt->state = DEXT_RT_RUNNING;
    log_info("backend %s: started pid %d", rt->name, (int)rt->pid);
    log_line(rt, "dext: started backend '%s' (pid %d)", rt->argv[0], (int)rt->pid);
    if (rt->on_restart)
        rt->on_restart(rt->restart_data);
}

int dext_proc_rt_new(uv_loop_t *loop, const struct dext_proc_rt_config *cfg,
                     struct dext_proc_rt **ret)
{
    struct dext_proc_rt *rt;
    size_t n = 0;

    if (!cfg->argv || !cfg->argv[0])
        return -EINVAL;
    rt = xcalloc(1, sizeof(*rt));
    rt->loop = loop;
    rt->name = xstrdup(cfg->name);
    rt->ext_dir = xstrdup(cfg->ext_dir);
    rt->guest_dir = xstrdup(cfg->guest_dir);
    rt->log_path = xstrdup(cfg->log_path);
    rt->self_exe = xstrdup(cfg->self_exe);
    rt->image = xstrdup(cfg->image ? cfg->image : "");
    while (cfg->argv[n])
        n++;
    rt->argv = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        rt->argv[i] = xstrdup(cfg->argv[i]);
    rt->grace_ms = cfg->stop_grace_ms ? cfg->stop_grace_ms : DEXT_RT_STOP_GRACE_MS;
    rt->backoff_ms = DEXT_RT_BACKOFF_MIN_MS;
    (void)uv_timer_init(loop, &rt->timer);
    rt->timer.data = rt;
    *ret = rt;
    return 0;
}

int dext_proc_rt_start(struct dext_proc_rt *rt)
{
    if (rt->state == DEXT_RT_RUNNING || rt->state == DEXT_RT_BACKOFF)
        return 0;
    spawn_now(rt);
    return 0;
}

void dext_proc_rt_set_restart_cb(struct dext_proc_rt *rt, dext_proc_rt_cb cb, void *data)
{
    rt->on_restart = cb;
    rt->restart_data = data;
}

void dext_proc_rt_stop(struct dext_proc_rt *rt, dext_proc_rt_cb on_stopped, void *data)
{
    rt->on_stopped = on_stopped;
    rt->stopped_data = data;
    (void)uv_timer_stop(&rt->timer);
    if (!rt->proc) {
        stopped(rt);
        return;
    }
    if (rt->state == DEXT_RT_STOPPING)
        return;
    rt->state = DEXT_RT_STOPPING;
    kill_group(rt, SIGTERM);
    (void)uv_timer_start(&rt->timer, on_timer, rt->grace_ms, 0);
}

enum dext_backend_status dext_proc_rt_status(void *data, char *msg, size_t size)
{
    struct dext_proc_rt *rt = data;
    uint64_t now = uv_now(rt->loop);

    switch (rt->state) {
    case DEXT_RT_RUNNING:
        (void)snprintf(msg, size, "pid %d", (int)rt->pid);
        return now - rt->started_ms < DEXT_RT_STARTING_MS ? DEXT_BACKEND_STARTING : DEXT_BACKEND_UP;
    case DEXT_RT_BACKOFF:
        if (rt->last_signal)
            (void)snprintf(msg, size, "killed by signal %d, restarting in %llu ms", rt->last_signal,
                           (unsigned long long)(rt->restart_at_ms - now));
        else
            (void)snprintf(msg, size, "exited with status %d, restarting in %llu ms",
                           rt->last_status, (unsigned long long)(rt->restart_at_ms - now));
        return rt->restart_at_ms - now < DEXT_BACKEND_WAIT_MS / 2 ? DEXT_BACKEND_STARTING
                                                                  : DEXT_BACKEND_DOWN;
    case DEXT_RT_STOPPING:
        (void)snprintf(msg, size, "stopping");
        return DEXT_BACKEND_DOWN;
    case DEXT_RT_IDLE:
    case DEXT_RT_STOPPED:
    default:
        (void)snprintf(msg, size, "stopped");
        return DEXT_BACKEND_DOWN;
    }
}

enum dext_rt_state dext_proc_rt_state(const struct dext_proc_rt *rt)
{
    return rt->state;
}

pid_t dext_proc_rt_pid(const struct dext_proc_rt *rt)
{
    return rt->pid;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct dext_proc_rt *rt = h->data;

    free(rt->name);
    free(rt->ext_dir);
    free(rt->guest_dir);
    free(rt->log_path);
    free(rt->self_exe);
    free(rt->image);
    for (char **a = rt->argv; a && *a; a++)
        free(*a);
    free(rt->argv);
    free(rt);
}

void dext_proc_rt_free(struct dext_proc_rt *rt)
{
    if (!rt || rt->freeing)
        return;
    rt->freeing = true;
    if (rt->proc) {
        kill_group(rt, SIGKILL);
        rt->proc->data = NULL;
        uv_close((uv_handle_t *)rt->proc, on_proc_closed);
        rt->proc = NULL;
    }
    uv_close((uv_handle_t *)&rt->timer, on_timer_closed);
}

/* ---- the child side ---- */

static bool map_guest_dir(const char *guest_dir)
{
    if (unshare(CLONE_NEWNS) < 0)
        return false;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return false;
    if (mkdir("/run/guest-services", 0755) < 0 && errno != EEXIST)
        return false;
    return mount(guest_dir, "/run/guest-services", NULL, MS_BIND, NULL) == 0;
}

int dext_guest_ns_open(const char *guest_dir)
{
    int report[2], fd = -1, r = 0;
    char path[64], ok = 0;
    pid_t pid;

    if (geteuid() != 0)
        return -EPERM;
    if (pipe2(report, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        r = -errno;
        (void)close(report[0]);
        (void)close(report[1]);
        return r;
    }
    if (pid == 0) {
        /* The namespace outlives this child: dext keeps an fd to it. */
        char one = map_guest_dir(guest_dir) ? 1 : 0;
        (void)!write(report[1], &one, 1);
        pause();
        _exit(0);
    }
    (void)close(report[1]);
    if (read(report[0], &ok, 1) == 1 && ok) {
        (void)snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            r = -errno;
    } else {
        r = -EPERM;
    }
    (void)close(report[0]);
    (void)kill(pid, SIGKILL);
    (void)waitpid(pid, NULL, 0);
    return r < 0 ? r : fd;
}

int dext_guest_exec(const char *guest_dir, const char *ext_dir, char **argv)
{
    char path[4096];
    const char *file = argv[0];
    int r;

    /* The backend must not outlive dext, even if dext is killed outright. */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return -ESRCH;
    if (map_guest_dir(guest_dir))
        (void)setenv("DEXT_GUEST_SERVICES", "/run/guest-services", 1);
    else
        (void)setenv("DEXT_GUEST_SERVICES", guest_dir, 1);
    if (chdir(ext_dir) < 0) {
        r = -errno;
        fprintf(stderr, "dext: cannot enter %s: %s\n", ext_dir, strerror(errno));
        return r;
    }
    /* A bare name shipped in the extension directory wins over PATH. */
    if (!strchr(file, '/') && access(file, X_OK) == 0) {
        (void)snprintf(path, sizeof(path), "./%s", file);
        file = path;
    }
    execvp(file, argv);
    r = -errno;
    /* exec callers recognise this line (with exit status 127) as "could not start". */
    fprintf(stderr, "dext: cannot run '%s': %s (%s)\n", argv[0], strerror(errno),
            strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    return r;
}
