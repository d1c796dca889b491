/* SPDX-License-Identifier: MIT */
/* Scope-bound cleanup (gcc/clang cleanup attribute) and ownership hand-off. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void dext_freep(void *p)
{
    free(*(void **)p);
}

static inline void dext_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
    }
}

static inline void dext_fclosep(FILE **f)
{
    if (*f)
        (void)fclose(*f);
}

#define _cleanup_free_ _cleanup_(dext_freep)
#define _cleanup_close_ _cleanup_(dext_closep)
#define _cleanup_fclose_ _cleanup_(dext_fclosep)

/* Defines fnp(type **) calling fn(type *) when non-NULL, for _cleanup_(fnp). */
#define DEFINE_CLEANUP_FUNC(type, fn)                                                              \
    static inline void fn##p(type **p)                                                             \
    {                                                                                              \
        if (*p)                                                                                    \
            fn(*p);                                                                                \
    }

/* Hand a pointer or fd out of a cleanup scope. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tf = (fd);                                                                            \
        (fd) = -1;                                                                                 \
        _tf;                                                                                       \
    })
