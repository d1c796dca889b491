/* SPDX-License-Identifier: MIT */
/* Number parsing. */
#include "parse-util.h"

#include <errno.h>
#include <limits.h>

int safe_atou64(const char *s, uint64_t *ret)
{
    uint64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
    uint64_t v;
    int r = safe_atou64(s, &v);

    if (r < 0)
        return r;
    if (v > UINT_MAX)
        return -ERANGE;
    *ret = (unsigned)v;
    return 0;
}
