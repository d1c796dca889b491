/* SPDX-License-Identifier: MIT */
/* metadata.json -> struct dext_ext_meta, validated field by field. Pure. */
#include "ext/metadata.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/macro.h"
#include "base/path.h"
#include "base/xalloc.h"

/* Field paths are built from fixed keys and array indexes, and the input is
 * capped at DEXT_METADATA_MAX, so the longest one ("host.binaries[N].windows[M].path")
 * is far below this. */
#define FIELD_MAX 128

/* Validation state. Problems are counted even when the caller passed no list,
 * so the result never depends on whether anyone is listening. */
struct check {
    struct dext_meta_problems *out;
    size_t n_problems;
};

static const char *const os_keys[] = {"darwin", "windows", "linux"};

_printf_(3, 4) static void problem(struct check *c, const char *field, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;

    c->n_problems++;
    if (!c->out)
        return;
    if (c->out->n >= DEXT_METADATA_MAX_PROBLEMS) {
        c->out->truncated = true;
        return;
    }
    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    c->out->items[c->out->n++] = xasprintf("%s: %s", field, msg);
}

/* jansson quotes the offending token in its message; control bytes in it are
 * escaped so the problem can go to a terminal or a log as it is. */
static void syntax_problem(struct check *c, const json_error_t *e)
{
    _cleanup_free_ char *msg = NULL;
    char field[FIELD_MAX];
    struct dext_buf b;

    dext_buf_init(&b, 4 * sizeof(e->text));
    for (size_t i = 0; i < sizeof(e->text) && e->text[i]; i++) {
        unsigned char ch = (unsigned char)e->text[i];

        if (ch < 0x20 || ch == 0x7f)
            (void)dext_buf_printf(&b, "\\x%02x", ch);
        else
            (void)dext_buf_append(&b, &e->text[i], 1);
    }
    msg = dext_buf_take(&b, NULL);
    if (e->line > 0)
        (void)snprintf(field, sizeof(field), "metadata.json:%d:%d", e->line, e->column);
    else
        (void)snprintf(field, sizeof(field), "metadata.json");
    problem(c, field, "%s", msg[0] ? msg : "invalid JSON");
}

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    default:
        return "a string";
    }
}

/* Reports a value of the wrong type; true when @v has type @t. */
static bool expect(struct check *c, const json_t *v, json_type t, const char *field)
{
    if (json_typeof(v) == t)
        return true;
    problem(c, field, "expected %s", type_name(t));
    return false;
}

/* Field paths never come near FIELD_MAX (see above); were one cut short, only
 * the text of a problem would suffer. */
static const char *join(char field[static FIELD_MAX], const char *prefix, const char *key)
{
    if (snprintf(field, FIELD_MAX, "%s.%s", prefix, key) < 0)
        field[0] = '\0';
    return field;
}

static const char *join_index(char field[static FIELD_MAX], const char *prefix, size_t i)
{
    if (snprintf(field, FIELD_MAX, "%s[%zu]", prefix, i) < 0)
        field[0] = '\0';
    return field;
}

/* Normalises the path [s, s+len) of @field into a new string. An empty result
 * (the extension's top directory) is refused unless @allow_top. */
static char *normalize(struct check *c, const char *s, size_t len, const char *field,
                       bool allow_top)
{
    char out[DEXT_PATH_MAX + 1];
    int r;

    r = dext_path_normalize(s, len, false, out, sizeof(out));
    switch (r) {
    case -EACCES:
        problem(c, field, "'..' is not allowed");
        return NULL;
    case -EMSGSIZE:
        problem(c, field, "longer than %d bytes", DEXT_PATH_MAX);
        return NULL;
    case -EBADMSG:
        problem(c, field, "contains a control byte");
        return NULL;
    default:
        if (r < 0) {
            problem(c, field, "invalid path");
            return NULL;
        }
    }
    if (r == 0 && !allow_top) {
        if (len == 0)
            problem(c, field, "must not be empty");
        else
            problem(c, field, "must not name the top directory");
        return NULL;
    }
    return xstrdup(out);
}

/* A path-valued string; @ret_is_dir (optional) tells whether it ended in '/'. */
static char *path_value(struct check *c, const json_t *v, const char *field, bool allow_top,
                        bool *ret_is_dir)
{
    const char *s;
    size_t len;

    if (!expect(c, v, JSON_STRING, field))
        return NULL;
    s = json_string_value(v);
    len = json_string_length(v);
    if (ret_is_dir)
        *ret_is_dir = len > 0 && s[len - 1] == '/';
    return normalize(c, s, len, field, allow_top);
}

static char *string_value(struct check *c, const json_t *v, const char *field)
{
    if (!expect(c, v, JSON_STRING, field))
        return NULL;
    return xstrdup(json_string_value(v));
}

/* A socket file name: one safe path segment, created inside the guest-services directory. */
static char *socket_value(struct check *c, const json_t *v, const char *field)
{
    if (!expect(c, v, JSON_STRING, field))
        return NULL;
    if (!dext_path_is_safe_name(json_string_value(v))) {
        problem(c, field, "must be a plain file name");
        return NULL;
    }
    return xstrdup(json_string_value(v));
}

/* An object member that must be present. */
static const json_t *required(struct check *c, const json_t *obj, const char *key,
                              const char *field)
{
    const json_t *v = json_object_get(obj, key);

    if (!v)
        problem(c, field, "is required");
    return v;
}

/* "index.html?v0.4.0" -> ui_src "index.html", ui_src_query "v0.4.0". */
static void check_src(struct check *c, const json_t *v, const char *field, struct dext_ext_meta *m)
{
    const char *s, *q;
    size_t len, path_len;

    if (!expect(c, v, JSON_STRING, field))
        return;
    s = json_string_value(v);
    len = json_string_length(v);
    q = memchr(s, '?', len);
    path_len = q ? (size_t)(q - s) : len;
    m->ui_src = normalize(c, s, path_len, field, false);
    if (!q)
        return;
    for (const char *p = q + 1; p < s + len; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            problem(c, field, "contains a control byte");
            return;
        }
    }
    m->ui_src_query = xstrndup(q + 1, len - path_len - 1);
}

static void check_ui(struct check *c, const json_t *ui, struct dext_ext_meta *m)
{
    const char *prefix = "ui.dashboard-tab";
    const json_t *tab, *v, *backend;
    char field[FIELD_MAX];

    if (!expect(c, ui, JSON_OBJECT, "ui"))
        return;
    tab = json_object_get(ui, "dashboard-tab");
    if (!tab)
        return;
    if (!expect(c, tab, JSON_OBJECT, prefix))
        return;
    m->has_ui = true;

    v = json_object_get(tab, "title");
    if (v)
        m->ui_title = string_value(c, v, join(field, prefix, "title"));
    v = required(c, tab, "root", join(field, prefix, "root"));
    if (v)
        m->ui_root = path_value(c, v, field, true, NULL);
    v = required(c, tab, "src", join(field, prefix, "src"));
    if (v)
        check_src(c, v, field, m);

    backend = json_object_get(tab, "backend");
    if (!backend || !expect(c, backend, JSON_OBJECT, join(field, prefix, "backend")))
        return;
    v = json_object_get(backend, "socket");
    if (v)
        m->ui_backend_socket = socket_value(c, v, "ui.dashboard-tab.backend.socket");
}

static void strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* vm["x-dext-command"]: the argv of a process-runtime backend. */
static void check_command(struct check *c, const json_t *v, struct dext_ext_meta *m)
{
    const char *prefix = "vm.x-dext-command";
    char field[FIELD_MAX];
    size_t n, before = c->n_problems;
    char **argv;

    if (!json_is_array(v) || json_array_size(v) == 0) {
        problem(c, prefix, "expected a non-empty array of strings");
        return;
    }
    n = json_array_size(v);
    if (n > DEXT_METADATA_MAX_ARGV) {
        problem(c, prefix, "more than %d arguments", DEXT_METADATA_MAX_ARGV);
        return;
    }
    argv = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(v, i);

        join_index(field, prefix, i);
        if (!expect(c, a, JSON_STRING, field))
            continue;
        if (json_string_length(a) == 0) {
            problem(c, field, "must not be empty");
            continue;
        }
        argv[i] = xstrdup(json_string_value(a));
    }
    /* A hole would cut the NULL-terminated vector short, so it is all or nothing. */
    if (c->n_problems > before) {
        strv_free_n(argv, n);
        return;
    }
    m->vm_command = argv;
}

static void check_vm(struct check *c, const json_t *vm, struct dext_ext_meta *m)
{
    const json_t *image, *compose, *exposes, *v;

    if (!expect(c, vm, JSON_OBJECT, "vm"))
        return;
    m->has_vm = true;

    image = json_object_get(vm, "image");
    compose = json_object_get(vm, "composefile");
    if (!image == !compose)
        problem(c, "vm", "expected exactly one of image or composefile");
    if (image && expect(c, image, JSON_STRING, "vm.image")) {
        if (json_string_length(image) == 0)
            problem(c, "vm.image", "must not be empty");
        else
            m->vm_image = xstrdup(json_string_value(image));
    }
    if (compose)
        m->vm_composefile = path_value(c, compose, "vm.composefile", false, NULL);

    exposes = json_object_get(vm, "exposes");
    if (exposes && expect(c, exposes, JSON_OBJECT, "vm.exposes")) {
        v = json_object_get(exposes, "socket");
        if (v)
            m->vm_exposes_socket = socket_value(c, v, "vm.exposes.socket");
    }

    v = json_object_get(vm, "x-dext-command");
    if (v)
        check_command(c, v, m);
}

/* Growth state of m->host_binaries while host.binaries is walked. */
struct bins {
    size_t size;
    bool is_over; /* the cap was passed (reported once) */
};

static void add_binary(struct check *c, struct dext_ext_meta *m, struct bins *b, char *path,
                       bool is_dir)
{
    if (m->n_host_binaries >= DEXT_METADATA_MAX_BINARIES) {
        if (!b->is_over)
            problem(c, "host.binaries", "more than %d linux entries", DEXT_METADATA_MAX_BINARIES);
        b->is_over = true;
        free(path);
        return;
    }
    if (m->n_host_binaries == b->size) {
        b->size = b->size ? 2 * b->size : 8;
        m->host_binaries = xrealloc(m->host_binaries, b->size * sizeof(*m->host_binaries));
    }
    m->host_binaries[m->n_host_binaries++] = (struct dext_host_binary){
        .path = path,
        .is_dir = is_dir,
    };
}

/* One OS list of host.binaries[i]: an array of {path}. Only linux entries are kept. */
static void check_os_list(struct check *c, const json_t *list, const char *prefix, bool keep,
                          struct dext_ext_meta *m, struct bins *b)
{
    char item[FIELD_MAX], field[FIELD_MAX];

    if (!expect(c, list, JSON_ARRAY, prefix))
        return;
    for (size_t j = 0; j < json_array_size(list); j++) {
        const json_t *e = json_array_get(list, j), *p;
        bool is_dir;
        char *path;

        join_index(item, prefix, j);
        if (!expect(c, e, JSON_OBJECT, item))
            continue;
        p = required(c, e, "path", join(field, item, "path"));
        if (!p)
            continue;
        path = path_value(c, p, field, false, &is_dir);
        if (!path)
            continue;
        if (keep)
            add_binary(c, m, b, path, is_dir);
        else
            free(path);
    }
}

static void check_host(struct check *c, const json_t *host, struct dext_ext_meta *m)
{
    const json_t *bins;
    char item[FIELD_MAX], field[FIELD_MAX];
    struct bins b = {0};

    if (!expect(c, host, JSON_OBJECT, "host"))
        return;
    bins = json_object_get(host, "binaries");
    if (!bins || !expect(c, bins, JSON_ARRAY, "host.binaries"))
        return;
    for (size_t i = 0; i < json_array_size(bins); i++) {
        const json_t *entry = json_array_get(bins, i);

        join_index(item, "host.binaries", i);
        if (!expect(c, entry, JSON_OBJECT, item))
            continue;
        for (size_t k = 0; k < ELEMENTSOF(os_keys); k++) {
            const json_t *list = json_object_get(entry, os_keys[k]);

            if (list)
                check_os_list(c, list, join(field, item, os_keys[k]),
                              strcmp(os_keys[k], "linux") == 0, m, &b);
        }
    }
}

/* Obsolete top-level keys ("name", "provider") and unknown keys are ignored. */
static void check_top(struct check *c, const json_t *root, struct dext_ext_meta *m)
{
    const json_t *v;

    if (!json_is_object(root)) {
        problem(c, "(top level)", "expected an object");
        return;
    }
    v = json_object_get(root, "icon");
    if (v)
        m->icon = path_value(c, v, "icon", false, NULL);
    v = json_object_get(root, "ui");
    if (v)
        check_ui(c, v, m);
    v = json_object_get(root, "vm");
    if (v)
        check_vm(c, v, m);
    v = json_object_get(root, "host");
    if (v)
        check_host(c, v, m);
}

int dext_ext_meta_parse(const char *text, size_t len, struct dext_ext_meta **ret_meta,
                        struct dext_meta_problems *problems)
{
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
    _cleanup_(json_decrefp) json_t *root = NULL;
    struct check c = {.out = problems};
    json_error_t err;

    /* The cap comes first: nothing past it is even parsed. */
    if (len > DEXT_METADATA_MAX) {
        problem(&c, "metadata.json", "larger than %d bytes", DEXT_METADATA_MAX);
        return -EMSGSIZE;
    }
    /* JSON_DECODE_ANY lets a scalar document through to be reported as "(top level)". */
    root = json_loadb(text ? text : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        syntax_problem(&c, &err);
        return -EBADMSG;
    }
    m = xcalloc(1, sizeof(*m));
    check_top(&c, root, m);
    if (c.n_problems > 0)
        return -EBADMSG;
    *ret_meta = TAKE_PTR(m);
    return 0;
}

const char *dext_ext_meta_socket(const struct dext_ext_meta *meta)
{
    if (!meta)
        return NULL;
    if (meta->vm_exposes_socket)
        return meta->vm_exposes_socket;
    return meta->ui_backend_socket;
}

void dext_ext_meta_free(struct dext_ext_meta *meta)
{
    if (!meta)
        return;
    free(meta->icon);
    free(meta->ui_title);
    free(meta->ui_root);
    free(meta->ui_src);
    free(meta->ui_src_query);
    free(meta->ui_backend_socket);
    free(meta->vm_image);
    free(meta->vm_composefile);
    free(meta->vm_exposes_socket);
    if (meta->vm_command) {
        for (char **a = meta->vm_command; *a; a++)
            free(*a);
        free(meta->vm_command);
    }
    for (size_t i = 0; i < meta->n_host_binaries; i++)
        free(meta->host_binaries[i].path);
    free(meta->host_binaries);
    free(meta);
}

void dext_meta_problems_done(struct dext_meta_problems *problems)
{
    if (!problems)
        return;
    for (size_t i = 0; i < problems->n; i++)
        free(problems->items[i]);
    *problems = (struct dext_meta_problems){0};
}
