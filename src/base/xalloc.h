/* SPDX-License-Identifier: MIT */
/* Allocation that aborts on failure: every size untrusted input controls is capped. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include "macro.h"

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* Formats into a new string owned by the caller. */
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
