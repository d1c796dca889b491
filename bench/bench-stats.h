/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the exec benchmark programs: clock, latency summary, arguments. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct bench_stats {
    double mean;
    double p50;
    double p99;
    double max;
};

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Allocates or aborts, like the daemon's xcalloc. */
static inline void *bench_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (!p)
        abort();
    return p;
}

/* Parses a whole decimal number into @ret; -EINVAL when @s is not one. */
static inline int bench_parse_uint(const char *s, unsigned *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 0xffffffffUL)
        return -EINVAL;
    *ret = (unsigned)v;
    return 0;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted @v. */
static inline double bench_percentile(const double *v, size_t n, double pct)
{
    size_t rank = (size_t)((pct / 100.0) * (double)n + 0.999999);

    if (rank < 1)
        rank = 1;
    return v[(rank > n ? n : rank) - 1];
}

/* Sorts @v (n > 0) and fills @ret. */
static inline void bench_stats_compute(double *v, size_t n, struct bench_stats *ret)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += v[i];
    qsort(v, n, sizeof(*v), bench_cmp_double);
    ret->mean = sum / (double)n;
    ret->p50 = bench_percentile(v, n, 50);
    ret->p99 = bench_percentile(v, n, 99);
    ret->max = v[n - 1];
}
