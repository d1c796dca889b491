/* SPDX-License-Identifier: MIT */
/* Bounded growable buffer. */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void dext_buf_init(struct dext_buf *b, size_t max)
{
    *b = (struct dext_buf){.max = max};
}

void dext_buf_done(struct dext_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->size = 0;
}

static int reserve(struct dext_buf *b, size_t extra)
{
    size_t need;

    if (extra > b->max || b->len > b->max - extra)
        return -EMSGSIZE;
    need = b->len + extra + 1; /* room for a terminating NUL */
    if (need <= b->size)
        return 0;
    size_t n = b->size ? b->size : 256;
    while (n < need)
        n *= 2;
    if (n > b->max + 1)
        n = b->max + 1;
    b->data = xrealloc(b->data, n);
    b->size = n;
    return 0;
}

int dext_buf_append(struct dext_buf *b, const void *p, size_t n)
{
    int r = reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dext_buf_puts(struct dext_buf *b, const char *s)
{
    return dext_buf_append(b, s, strlen(s));
}

int dext_buf_printf(struct dext_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int r = reserve(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void dext_buf_consume(struct dext_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

int dext_buf_terminate(struct dext_buf *b)
{
    int r = reserve(b, 0);
    if (r < 0)
        return r;
    /* The first reserve of a fresh buffer allocates without writing anything. */
    b->data[b->len] = '\0';
    return 0;
}

char *dext_buf_take(struct dext_buf *b, size_t *ret_len)
{
    char *p;

    if (!b->data)
        (void)dext_buf_terminate(b);
    p = b->data;
    if (ret_len)
        *ret_len = b->len;
    b->data = NULL;
    b->len = b->size = 0;
    return p;
}
