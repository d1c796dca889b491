/* SPDX-License-Identifier: MIT */
/* One line per event on stderr: time, level, component, message. */
#pragma once

#include <errno.h>
#include "macro.h"

enum dext_log_level {
    DEXT_LOG_ERROR,
    DEXT_LOG_WARN,
    DEXT_LOG_INFO,
    DEXT_LOG_DEBUG,
};

extern enum dext_log_level dext_log_max_level;

/* Sets the level from a name ("error", "warn", "info", "debug"); -EINVAL if unknown. */
int dext_log_set_level_name(const char *name);

/* Writes one line.  Returns -abs(err) so callers can `return log_error_errno(r, ...)`.
 * "%m" in @fmt prints strerror(abs(err)). */
int dext_log_write(enum dext_log_level level, int err, const char *fmt, ...) _printf_(3, 4);

/* Writes @s (length @len) into @out (size @out_size) single-quoted, with control
 * bytes, quotes and backslashes escaped; truncates with "..." past @out_size. */
const char *dext_log_quote(char *out, size_t out_size, const char *s, size_t len);

#define dext_log_full(level, err, ...)                                                             \
    ((level) <= dext_log_max_level ? dext_log_write((level), (err), __VA_ARGS__)                   \
                                   : -((err) < 0 ? -(err) : (err)))

#define log_error(...) ((void)dext_log_full(DEXT_LOG_ERROR, 0, __VA_ARGS__))
#define log_warn(...) ((void)dext_log_full(DEXT_LOG_WARN, 0, __VA_ARGS__))
#define log_info(...) ((void)dext_log_full(DEXT_LOG_INFO, 0, __VA_ARGS__))
#define log_debug(...) ((void)dext_log_full(DEXT_LOG_DEBUG, 0, __VA_ARGS__))
#define log_error_errno(err, ...) dext_log_full(DEXT_LOG_ERROR, (err), __VA_ARGS__)
#define log_warn_errno(err, ...) dext_log_full(DEXT_LOG_WARN, (err), __VA_ARGS__)
#define log_debug_errno(err, ...) dext_log_full(DEXT_LOG_DEBUG, (err), __VA_ARGS__)
