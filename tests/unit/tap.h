/* SPDX-License-Identifier: MIT */
/* A minimal TAP producer with assertions that print both values. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_case_failed;

#define TAP_PLAN_END() printf("1..%d\n", tap_n)

#define ASSERT_FAIL_(fmt, ...)                                                                     \
    do {                                                                                           \
        printf("#   %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);                           \
        tap_case_failed = 1;                                                                       \
    } while (0)

#define ASSERT_TRUE(x)                                                                             \
    do {                                                                                           \
        if (!(x))                                                                                  \
            ASSERT_FAIL_("expected true: %s", #x);                                                 \
    } while (0)
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            ASSERT_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            ASSERT_FAIL_("%s == %s: '%s' != '%s'", #a, #b, a_ ? a_ : "(null)",                     \
                         b_ ? b_ : "(null)");                                                      \
    } while (0)
#define ASSERT_NULL(a)                                                                             \
    do {                                                                                           \
        if ((a) != NULL)                                                                           \
            ASSERT_FAIL_("expected NULL: %s", #a);                                                 \
    } while (0)

/* Runs one test function as one TAP line. */
#define TAP_RUN(fn)                                                                                \
    do {                                                                                           \
        tap_case_failed = 0;                                                                       \
        fn();                                                                                      \
        tap_n++;                                                                                   \
        printf("%s %d - %s\n", tap_case_failed ? "not ok" : "ok", tap_n, #fn);                     \
        if (tap_case_failed)                                                                       \
            tap_failed++;                                                                          \
    } while (0)

#define TAP_EXIT()                                                                                 \
    do {                                                                                           \
        TAP_PLAN_END();                                                                            \
        return tap_failed ? 1 : 0;                                                                 \
    } while (0)
