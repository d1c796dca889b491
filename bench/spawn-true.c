/* SPDX-License-Identifier: MIT */
/* The limit for a blocking exec: posix_spawn("/bin/true") + waitpid, N times in a row. */
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench-stats.h"

extern char **environ;

static const char usage[] =
    "Usage: spawn-true [-n ITERATIONS] [--warmup ITERATIONS] [-- PROGRAM [ARG...]]\n"
    "\n"
    "Runs PROGRAM (default /bin/true) with posix_spawn and waits for it with\n"
    "waitpid, ITERATIONS times (default 2000) after a warm-up (default 100),\n"
    "and prints one JSON line: iterations, mean_ms, p50_ms, p99_ms.\n";

static int run_once(char *const *argv, double *ret_ms)
{
    uint64_t t0 = bench_now_ns();
    int status;
    pid_t pid;
    int r;

    r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (r != 0)
        return -r;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -ECHILD;
    *ret_ms = (double)(bench_now_ns() - t0) / 1e6;
    return 0;
}

int main(int argc, char **argv)
{
    static char *default_argv[] = {(char *)"/bin/true", NULL};
    char *const *cmd = default_argv;
    unsigned n = 2000, warmup = 100;
    struct bench_stats st;
    double *ms;
    int r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0 && i + 1 < argc) {
            cmd = argv + i + 1;
            break;
        }
        if ((strcmp(a, "-n") == 0 || strcmp(a, "--warmup") == 0) && i + 1 < argc) {
            if (bench_parse_uint(argv[++i], a[1] == 'n' ? &n : &warmup) < 0)
                goto bad;
            continue;
        }
        fputs(usage, strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ? stdout : stderr);
        return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ? 0 : 2;
    }
    if (n == 0)
        goto bad;
    ms = bench_xcalloc(n, sizeof(*ms));
    for (unsigned i = 0; i < warmup + n; i++) {
        double t = 0;
        r = run_once(cmd, &t);
        if (r < 0) {
            fprintf(stderr, "spawn-true: %s: %s\n", cmd[0], strerror(-r));
            return 1;
        }
        if (i >= warmup)
            ms[i - warmup] = t;
    }
    bench_stats_compute(ms, n, &st);
    printf("{\"iterations\":%u,\"mean_ms\":%.4f,\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n", n, st.mean,
           st.p50, st.p99);
    free(ms);
    return 0;
bad:
    fputs(usage, stderr);
    return 2;
}
