/* SPDX-License-Identifier: MIT */
/* Growable byte buffer with a hard capacity fixed at creation. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include "macro.h"

struct dext_buf {
    char *data;
    size_t len;
    size_t size; /* allocated */
    size_t max;  /* hard cap; appends past it fail with -EMSGSIZE */
};

/* Embeds: starts empty with cap @max; nothing allocated until the first append. */
void dext_buf_init(struct dext_buf *b, size_t max);
/* Frees the storage; the buffer can be used again after dext_buf_init. */
void dext_buf_done(struct dext_buf *b);
/* Appends; -EMSGSIZE (and nothing appended) if the result would pass the cap. */
int dext_buf_append(struct dext_buf *b, const void *p, size_t n);
int dext_buf_puts(struct dext_buf *b, const char *s);
int dext_buf_printf(struct dext_buf *b, const char *fmt, ...) _printf_(2, 3);
/* Removes the first @n bytes. */
void dext_buf_consume(struct dext_buf *b, size_t n);
/* Keeps a NUL after the data (not counted in len); -EMSGSIZE past the cap. */
int dext_buf_terminate(struct dext_buf *b);
/* Hands the storage to the caller (NUL-terminated) and empties the buffer. */
char *dext_buf_take(struct dext_buf *b, size_t *ret_len);
