/* SPDX-License-Identifier: MIT */
/* Installed extensions on disk. */
#include "ext/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/xalloc.h"

int dext_store_open(struct dext_store *s)
{
    _cleanup_free_ char *ext = NULL, *run_ext = NULL;
    int r;

    *s = (struct dext_store){0};
    r = dext_dir_data(&s->data_dir);
    if (r < 0)
        return r;
    r = dext_dir_runtime(&s->run_dir);
    if (r < 0) {
        dext_store_done(s);
        return r;
    }
    ext = xasprintf("%s/extensions", s->data_dir);
    run_ext = xasprintf("%s/ext", s->run_dir);
    r = dext_mkdir_p(ext, 0700);
    if (r == 0)
        r = dext_mkdir_p(run_ext, 0700);
    if (r < 0)
        dext_store_done(s);
    return r;
}

void dext_store_done(struct dext_store *s)
{
    free(s->data_dir);
    free(s->run_dir);
    s->data_dir = s->run_dir = NULL;
}

char *dext_store_ext_path(const struct dext_store *s, const char *name)
{
    return xasprintf("%s/extensions/%s", s->data_dir, name);
}

char *dext_store_log_path(const struct dext_store *s, const char *name)
{
    return xasprintf("%s/extensions/%s/backend.log", s->data_dir, name);
}

char *dext_store_guest_dir(const struct dext_store *s, const char *name)
{
    return xasprintf("%s/ext/%s", s->run_dir, name);
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool dext_store_name_is_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > DEXT_STORE_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(name[i]))
            return false;
    return true;
}

int dext_store_name_from_dir(const char *dir, char *ret, size_t size)
{
    size_t len = strlen(dir), o = 0;
    const char *base;

    while (len > 1 && dir[len - 1] == '/')
        len--;
    base = dir + len;
    while (base > dir && base[-1] != '/')
        base--;
    for (const char *p = base; p < dir + len && o + 1 < size; p++)
        ret[o++] = name_char(*p) ? *p : '_';
    ret[o] = '\0';
    while (ret[0] == '.')
        memmove(ret, ret + 1, strlen(ret));
    return dext_store_name_is_valid(ret) ? 0 : -EINVAL;
}

int dext_store_name_from_image(const char *image, char *ret, size_t size)
{
    const char *end = image + strlen(image);
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');
    const char *at = strchr(image, '@');
    size_t o = 0;

    if (at)
        end = at;
    else if (colon && (!slash || colon > slash))
        end = colon;
    for (const char *p = image; p < end && o + 1 < size; p++)
        ret[o++] = *p == '/' ? '_' : (name_char(*p) ? *p : '_');
    ret[o] = '\0';
    return dext_store_name_is_valid(ret) ? 0 : -EINVAL;
}

int dext_store_add(const struct dext_store *s, const struct dext_store_entry *e)
{
    _cleanup_free_ char *dir = dext_store_ext_path(s, e->name);
    _cleanup_free_ char *path = NULL, *text = NULL;
    json_t *o;
    int r;

    if (!dext_store_name_is_valid(e->name))
        return -EINVAL;
    r = dext_mkdir_p(dir, 0700);
    if (r < 0)
        return r;
    o = json_pack("{s:s, s:s, s:s, s:s}", "name", e->name, "kind", e->kind, "root", e->root,
                  "image", e->image ? e->image : "");
    if (e->ui_source)
        json_object_set_new(o, "ui_source", json_string(e->ui_source));
    text = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    path = xasprintf("%s/ext.json", dir);
    return dext_write_file_atomic(path, text, strlen(text), 0600);
}

static char *get_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && *v ? xstrdup(v) : NULL;
}

int dext_store_get(const struct dext_store *s, const char *name, struct dext_store_entry *ret)
{
    _cleanup_free_ char *path = NULL, *text = NULL;
    json_t *o;
    int r;

    if (!dext_store_name_is_valid(name))
        return -ENOENT;
    path = xasprintf("%s/extensions/%s/ext.json", s->data_dir, name);
    r = dext_read_file_at(AT_FDCWD, path, 64 * 1024, &text, NULL);
    if (r < 0)
        return r;
    o = json_loads(text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -EBADMSG;
    }
    *ret = (struct dext_store_entry){
        .name = xstrdup(name),
        .kind = get_str(o, "kind"),
        .root = get_str(o, "root"),
        .image = get_str(o, "image"),
        .ui_source = get_str(o, "ui_source"),
    };
    json_decref(o);
    if (!ret->kind || !ret->root) {
        dext_store_entry_done(ret);
        return -EBADMSG;
    }
    return 0;
}

void dext_store_entry_done(struct dext_store_entry *e)
{
    free(e->name);
    free(e->kind);
    free(e->root);
    free(e->image);
    free(e->ui_source);
    *e = (struct dext_store_entry){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dext_store_list(const struct dext_store *s, char ***ret)
{
    _cleanup_free_ char *dir = xasprintf("%s/extensions", s->data_dir);
    size_t n = 0;
    char **v = xcalloc(DEXT_STORE_MAX_EXTENSIONS + 1, sizeof(char *));
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d) {
        int r = -errno;
        free(v);
        if (r != -ENOENT)
            return r;
        *ret = xcalloc(1, sizeof(char *));
        return 0;
    }
    while ((de = readdir(d)) && n < DEXT_STORE_MAX_EXTENSIONS) {
        _cleanup_free_ char *rec = NULL;
        struct stat st;
        if (!dext_store_name_is_valid(de->d_name))
            continue;
        rec = xasprintf("%s/%s/ext.json", dir, de->d_name);
        if (stat(rec, &st) < 0)
            continue;
        v[n++] = xstrdup(de->d_name);
    }
    (void)closedir(d);
    qsort(v, n, sizeof(char *), cmp_str);
    *ret = v;
    return 0;
}

void dext_strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

int dext_store_remove(const struct dext_store *s, const char *name)
{
    _cleanup_free_ char *dir = NULL, *guest = NULL;
    int r;

    if (!dext_store_name_is_valid(name))
        return -ENOENT;
    dir = dext_store_ext_path(s, name);
    guest = dext_store_guest_dir(s, name);
    if (access(dir, F_OK) < 0)
        return -ENOENT;
    r = dext_rm_rf(dir);
    (void)dext_rm_rf(guest);
    return r;
}

static int write_state(const struct dext_store *s, const char *name, pid_t pid, pid_t backend_pid,
                       const char *url, bool shared)
{
    _cleanup_free_ char *dir = xasprintf("%s/serving", s->run_dir);
    _cleanup_free_ char *path = xasprintf("%s/%s.json", dir, name);
    _cleanup_free_ char *text = NULL;
    json_t *o = json_pack("{s:i, s:i, s:s}", "pid", (int)pid, "backend_pid", (int)backend_pid,
                          "url", url ? url : "");
    int r;

    if (shared)
        json_object_set_new(o, "shared", json_true());
    text = json_dumps(o, 0);
    json_decref(o);
    r = dext_mkdir_p(dir, 0700);
    if (r < 0)
        return r;
    return dext_write_file_atomic(path, text, strlen(text), 0600);
}

int dext_store_set_state(const struct dext_store *s, const char *name, pid_t pid, pid_t backend_pid,
                         const char *url)
{
    return write_state(s, name, pid, backend_pid, url, false);
}

int dext_store_set_state_shared(const struct dext_store *s, const char *name, pid_t pid,
                                pid_t backend_pid, const char *url)
{
    return write_state(s, name, pid, backend_pid, url, true);
}

bool dext_store_state_is_shared(const struct dext_store *s, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/serving/%s.json", s->run_dir, name);
    _cleanup_free_ char *text = NULL;
    json_t *o;
    bool shared;

    if (dext_read_file_at(AT_FDCWD, path, 4096, &text, NULL) < 0)
        return false;
    o = json_loads(text, 0, NULL);
    shared = json_is_true(json_object_get(o, "shared"));
    json_decref(o);
    return shared;
}

void dext_store_clear_state(const struct dext_store *s, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/serving/%s.json", s->run_dir, name);
    (void)unlink(path);
}

int dext_store_get_state(const struct dext_store *s, const char *name, pid_t *ret_pid,
                         pid_t *ret_backend_pid)
{
    _cleanup_free_ char *path = xasprintf("%s/serving/%s.json", s->run_dir, name);
    _cleanup_free_ char *text = NULL;
    json_t *o;
    int pid = 0, bpid = 0;

    *ret_pid = 0;
    if (ret_backend_pid)
        *ret_backend_pid = 0;
    if (dext_read_file_at(AT_FDCWD, path, 4096, &text, NULL) < 0)
        return 0;
    o = json_loads(text, 0, NULL);
    if (o) {
        pid = (int)json_integer_value(json_object_get(o, "pid"));
        bpid = (int)json_integer_value(json_object_get(o, "backend_pid"));
        json_decref(o);
    }
    if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)) {
        *ret_pid = pid;
        if (ret_backend_pid && bpid > 0 && kill(bpid, 0) == 0)
            *ret_backend_pid = bpid;
    }
    return 0;
}
