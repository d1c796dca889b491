/* SPDX-License-Identifier: MIT */
/* Line logger on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum dext_log_level dext_log_max_level = DEXT_LOG_WARN;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int dext_log_set_level_name(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            dext_log_max_level = (enum dext_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int dext_log_write(enum dext_log_level level, int err, const char *fmt, ...)
{
    char line[2048];
    size_t n = 0;
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int e = err < 0 ? -err : err;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
                          level_names[level]);

    /* glibc's %m reads errno: make it show the error being reported. */
    errno = e;
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (w > 0)
        n += (size_t)w;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    (void)!fwrite(line, 1, n, stderr);
    return -e;
}

const char *dext_log_quote(char *out, size_t out_size, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (out_size < 8) {
        if (out_size)
            out[0] = '\0';
        return out;
    }
    out[o++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= out_size) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}
