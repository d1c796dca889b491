/* SPDX-License-Identifier: MIT */
/* What dext's process layer costs without HTTP and without the vm helper: uv_spawn with
 * stdout and stderr piped, in its own process group, N times in a row. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "bench-stats.h"

static const char usage[] =
    "Usage: uv-spawn-true [-n ITERATIONS] [--warmup ITERATIONS] [-- PROGRAM [ARG...]]\n"
    "\n"
    "Runs PROGRAM (default /bin/true) with uv_spawn the way dext's src/proc/spawn.c does\n"
    "(UV_CREATE_PIPE for stdout and stderr, both read; UV_PROCESS_DETACHED) and waits for\n"
    "its exit and both pipes' EOF, ITERATIONS times (default 2000) after a warm-up\n"
    "(default 100). Prints one JSON line: iterations, mean_ms, p50_ms, p99_ms.\n";

struct run {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t out[2];
    char *const *argv;
    char buf[64 * 1024];
    double *ms;
    unsigned n, warmup, i;
    unsigned n_open;    /* pipes before EOF, plus the process before its exit */
    unsigned n_handles; /* handles not yet closed */
    uint64_t t0;
    int error;
};

static int start(struct run *r);

static void on_closed(uv_handle_t *h)
{
    struct run *r = h->data;

    if (--r->n_handles > 0)
        return;
    if (++r->i < r->warmup + r->n && !r->error)
        r->error = start(r);
}

static void maybe_done(struct run *r)
{
    if (r->n_open > 0)
        return;
    if (r->i >= r->warmup)
        r->ms[r->i - r->warmup] = (double)(bench_now_ns() - r->t0) / 1e6;
    r->n_handles = 3;
    uv_close((uv_handle_t *)&r->proc, on_closed);
    uv_close((uv_handle_t *)&r->out[0], on_closed);
    uv_close((uv_handle_t *)&r->out[1], on_closed);
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
    struct run *r = proc->data;

    if (status != 0 || sig != 0)
        r->error = -ECHILD;
    r->n_open--;
    maybe_done(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct run *r = h->data;

    *buf = uv_buf_init(r->buf, sizeof(r->buf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct run *r = st->data;

    if (n >= 0)
        return;
    (void)uv_read_stop(st);
    r->n_open--;
    maybe_done(r);
}

static int start(struct run *r)
{
    uv_process_options_t opts = {0};
    uv_stdio_container_t stdio[3];
    int e;

    for (int i = 0; i < 2; i++) {
        (void)uv_pipe_init(r->loop, &r->out[i], 0);
        r->out[i].data = r;
    }
    r->proc.data = r;
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < 2; i++) {
        stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[i + 1].data.stream = (uv_stream_t *)&r->out[i];
    }
    opts.file = r->argv[0];
    opts.args = (char **)r->argv;
    opts.exit_cb = on_exit_cb;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.flags = UV_PROCESS_DETACHED;
    r->t0 = bench_now_ns();
    e = uv_spawn(r->loop, &r->proc, &opts);
    if (e < 0)
        return e;
    r->n_open = 3;
    for (int i = 0; i < 2; i++)
        (void)uv_read_start((uv_stream_t *)&r->out[i], on_alloc, on_read);
    return 0;
}

int main(int argc, char **argv)
{
    static char *default_argv[] = {(char *)"/bin/true", NULL};
    struct run *r = bench_xcalloc(1, sizeof(*r));
    struct bench_stats st;

    r->argv = default_argv;
    r->n = 2000;
    r->warmup = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0 && i + 1 < argc) {
            r->argv = argv + i + 1;
            break;
        }
        if ((strcmp(a, "-n") == 0 || strcmp(a, "--warmup") == 0) && i + 1 < argc) {
            if (bench_parse_uint(argv[++i], a[1] == 'n' ? &r->n : &r->warmup) < 0)
                goto bad;
            continue;
        }
        fputs(usage, strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ? stdout : stderr);
        return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ? 0 : 2;
    }
    if (r->n == 0)
        goto bad;
    r->ms = bench_xcalloc(r->n, sizeof(*r->ms));
    r->loop = uv_default_loop();
    r->error = start(r);
    if (!r->error)
        (void)uv_run(r->loop, UV_RUN_DEFAULT);
    if (r->error) {
        fprintf(stderr, "uv-spawn-true: %s: %s\n", r->argv[0], strerror(-r->error));
        return 1;
    }
    bench_stats_compute(r->ms, r->n, &st);
    printf("{\"iterations\":%u,\"mean_ms\":%.4f,\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n", r->n, st.mean,
           st.p50, st.p99);
    (void)uv_loop_close(r->loop);
    free(r->ms);
    free(r);
    return 0;
bad:
    fputs(usage, stderr);
    return 2;
}
