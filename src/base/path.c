/* SPDX-License-Identifier: MIT */
/* Normalisation of untrusted paths. */
#include "path.h"

#include <errno.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends one finished segment [seg, seg+seg_len) of @out, already written at
 * @out[*o - seg_len]; drops "." and refuses "..". */
static int end_segment(char *out, size_t *o, size_t seg_start)
{
    size_t seg_len = *o - seg_start;

    if (seg_len == 0)
        return 0;
    if (seg_len == 1 && out[seg_start] == '.') {
        *o = seg_start;
        return 0;
    }
    if (seg_len == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.')
        return -EACCES;
    return 1;
}

int dext_path_normalize(const char *in, size_t len, bool percent_decode, char *out, size_t out_size)
{
    /* The path is built in a scratch buffer with room for two bytes more than
     * the limit: a separator and a "." segment are written before they are
     * known to be dropped, and must not make a path that fits fail. */
    char tmp[DEXT_PATH_MAX + 3];
    size_t o = 0, seg_start = 0, limit, cap;
    int r;

    if (out_size == 0)
        return -EMSGSIZE;
    limit = out_size - 1 < DEXT_PATH_MAX ? out_size - 1 : DEXT_PATH_MAX;
    cap = limit + 3;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (percent_decode && (c == '?' || c == '#'))
            break;
        if (percent_decode && c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -EBADMSG;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -EBADMSG;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == 0 || c < 0x20 || c == 0x7f)
            return -EBADMSG;
        if (c == '/') {
            r = end_segment(tmp, &o, seg_start);
            if (r < 0)
                return r;
            if (r > 0) {
                if (o + 1 >= cap)
                    return -EMSGSIZE;
                tmp[o++] = '/';
            }
            seg_start = o;
            continue;
        }
        if (o + 1 >= cap)
            return -EMSGSIZE;
        tmp[o++] = (char)c;
    }
    r = end_segment(tmp, &o, seg_start);
    if (r < 0)
        return r;
    /* A trailing '/' left by the last separator is dropped. */
    if (o > 0 && tmp[o - 1] == '/')
        o--;
    if (o > limit)
        return -EMSGSIZE;
    memcpy(out, tmp, o);
    out[o] = '\0';
    return (int)o;
}

const char *dext_path_extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');

    return dot && dot != base ? dot + 1 : "";
}

bool dext_path_is_safe_name(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}
