/* SPDX-License-Identifier: MIT */
/* libFuzzer target: path normalisation, with the normal form's invariants. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* No leading, trailing or repeated '/', no "." or ".." segment, no control byte. */
static void check_normal_form(const char *p, size_t len)
{
    size_t seg = 0;

    CHECK(strlen(p) == len && len <= DEXT_PATH_MAX);
    for (size_t i = 0; i <= len; i++) {
        if (i < len) {
            unsigned char c = (unsigned char)p[i];

            CHECK(c >= 0x20 && c != 0x7f);
            if (c != '/')
                continue;
        }
        if (len > 0)
            CHECK(i > seg);
        CHECK(!(i - seg == 1 && p[seg] == '.'));
        CHECK(!(i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.'));
        seg = i + 1;
    }
}

static void check_mode(const char *in, size_t size, bool decode)
{
    char out[DEXT_PATH_MAX + 1], again[DEXT_PATH_MAX + 1], small[17];
    size_t small_size = 1 + (size ? (unsigned char)in[0] % 16 : 0);
    int r, r2;

    r = dext_path_normalize(in, size, decode, out, sizeof(out));
    CHECK(r >= 0 || r == -EBADMSG || r == -EACCES || r == -EMSGSIZE);
    if (r >= 0) {
        check_normal_form(out, (size_t)r);
        if (!decode)
            CHECK((size_t)r <= size);
        /* Normalising the normal form changes nothing. */
        r2 = dext_path_normalize(out, (size_t)r, false, again, sizeof(again));
        CHECK(r2 == r && memcmp(again, out, (size_t)r + 1) == 0);
    }
    /* A smaller output buffer only ever adds -EMSGSIZE. */
    r2 = dext_path_normalize(in, size, decode, small, small_size);
    if (r2 >= 0)
        CHECK(r2 == r && memcmp(small, out, (size_t)r + 1) == 0);
    else if (r >= 0)
        CHECK(r2 == -EMSGSIZE && (size_t)r >= small_size);
    else if (r2 != -EMSGSIZE)
        CHECK(r2 == r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *name;

    check_mode(in, size, false);
    check_mode(in, size, true);

    /* The NUL-terminated helpers, on a copy. */
    name = calloc(1, size + 1);
    if (!name)
        abort();
    memcpy(name, data, size);
    if (dext_path_is_safe_name(name)) {
        CHECK(name[0] && !strchr(name, '/') && strlen(name) <= 255);
        CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
    }
    const char *ext = dext_path_extension(name);
    /* Either "" (a literal) or the tail of the last segment of @name. */
    CHECK(ext[0] == '\0' || (ext > name && ext < name + strlen(name) && ext[-1] == '.'));
    CHECK(!strchr(ext, '/'));
    free(name);
    return 0;
}
