/* SPDX-License-Identifier: MIT */
/* UTF-8 validation and repair. */
#include "base/utf8.h"

#include <stdint.h>

/* Length of the valid sequence at @p (1..4), or 0 if invalid or truncated. */
static size_t seq_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

int dext_utf8_repair(const char *in, size_t len, struct dext_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, run = 0;
    int r;

    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        if (n) {
            i += n;
            run += n;
            continue;
        }
        r = dext_buf_append(out, in + i - run, run);
        if (r == 0)
            r = dext_buf_append(out, "\xef\xbf\xbd", 3);
        if (r < 0)
            return r;
        run = 0;
        i++;
    }
    return dext_buf_append(out, in + i - run, run);
}

size_t dext_utf8_complete_prefix(const char *in, size_t len)
{
    const unsigned char *p = (const unsigned char *)in;

    /* Look back at most 3 bytes for the start of an unfinished sequence. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = p[len - back];
        if ((c & 0xc0) == 0x80)
            continue;
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back ? len - back : len;
    }
    return len;
}
