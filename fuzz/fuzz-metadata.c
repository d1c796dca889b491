/* SPDX-License-Identifier: MIT */
/* libFuzzer target: metadata.json parsing and validation, with the result's invariants. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/path.h"
#include "ext/metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* A stored path must already be in normal form: normalising it again changes nothing. */
static void check_path(const char *p, bool allow_top)
{
    char out[DEXT_PATH_MAX + 1];
    size_t len;
    int r;

    CHECK(p);
    len = strlen(p);
    r = dext_path_normalize(p, len, false, out, sizeof(out));
    CHECK(r >= 0 && (size_t)r == len && memcmp(out, p, len) == 0);
    CHECK(allow_top || len > 0);
}

static void check_meta(const struct dext_ext_meta *m)
{
    const char *sock;

    if (m->icon)
        check_path(m->icon, false);
    if (m->has_ui) {
        check_path(m->ui_root, true);
        check_path(m->ui_src, false);
    } else {
        CHECK(!m->ui_title && !m->ui_root && !m->ui_src && !m->ui_src_query &&
              !m->ui_backend_socket);
    }
    if (m->has_vm) {
        CHECK(!m->vm_image != !m->vm_composefile);
        if (m->vm_image)
            CHECK(m->vm_image[0] != '\0');
        if (m->vm_composefile)
            check_path(m->vm_composefile, false);
    } else {
        CHECK(!m->vm_image && !m->vm_composefile && !m->vm_exposes_socket && !m->vm_command);
    }
    if (m->vm_exposes_socket)
        CHECK(dext_path_is_safe_name(m->vm_exposes_socket));
    if (m->ui_backend_socket)
        CHECK(dext_path_is_safe_name(m->ui_backend_socket));
    sock = dext_ext_meta_socket(m);
    CHECK(!sock || sock == m->vm_exposes_socket || sock == m->ui_backend_socket);
    if (m->vm_command) {
        size_t n = 0;

        for (; m->vm_command[n]; n++)
            CHECK(m->vm_command[n][0] != '\0');
        CHECK(n >= 1 && n <= DEXT_METADATA_MAX_ARGV);
    }
    CHECK(m->n_host_binaries <= DEXT_METADATA_MAX_BINARIES);
    CHECK((m->n_host_binaries == 0) == (m->host_binaries == NULL));
    for (size_t i = 0; i < m->n_host_binaries; i++)
        check_path(m->host_binaries[i].path, false);
}

static void check_problems(const struct dext_meta_problems *p)
{
    CHECK(p->n >= 1 && p->n <= DEXT_METADATA_MAX_PROBLEMS);
    CHECK(!p->truncated || p->n == DEXT_METADATA_MAX_PROBLEMS);
    for (size_t i = 0; i < p->n; i++) {
        /* Every problem names where it is ("field: message") and is safe to print. */
        CHECK(strstr(p->items[i], ": ") != NULL);
        for (const char *s = p->items[i]; *s; s++)
            CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dext_meta_problems problems = {0};
    struct dext_ext_meta *m = NULL, *m2 = NULL;
    int r, r2;

    r = dext_ext_meta_parse((const char *)data, size, &m, &problems);
    CHECK(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
    if (r == 0) {
        CHECK(m && problems.n == 0);
        check_meta(m);
    } else {
        CHECK(!m);
        check_problems(&problems);
    }
    /* The verdict does not depend on whether problems are collected. */
    r2 = dext_ext_meta_parse((const char *)data, size, &m2, NULL);
    CHECK(r2 == r);
    dext_ext_meta_free(m2);
    dext_ext_meta_free(m);
    dext_meta_problems_done(&problems);
    return 0;
}
