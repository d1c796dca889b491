/* SPDX-License-Identifier: MIT */
/* Engine lifecycle for the CLI verbs: pull, archive copy, compose project. */
#include "engine/engine.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "ext/load.h"
#include "ext/semver.h"
#include "proc/spawn.h"

extern char **environ;

#define API_VERSION_LABEL "com.docker.desktop.extension.api.version"
#define TITLE_LABEL "org.opencontainers.image.title"
#define PROJECT_LABEL "com.docker.compose.project"
#define MAX_LAYERS 256
#define ARCHIVE_CHUNK_MAX (1024 * 1024) /* read-ahead of the archive stream */

static void set_err(struct dext_engine *e, const char *fmt, ...) _printf_(2, 3);
static void set_err(struct dext_engine *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(e->err, sizeof(e->err), fmt, ap);
    va_end(ap);
}

int dext_engine_open(struct dext_engine *e)
{
    int r;

    *e = (struct dext_engine){0};
    r = uv_loop_init(&e->loop);
    if (r < 0) {
        set_err(e, "cannot start an event loop: %s", uv_strerror(r));
        return r;
    }
    r = dext_docker_new(&e->loop, NULL, &e->docker);
    if (r < 0) {
        set_err(e, "DOCKER_HOST='%s' is not a unix:// or tcp:// address", getenv("DOCKER_HOST"));
        (void)uv_loop_close(&e->loop);
        return r;
    }
    e->endpoint = dext_docker_endpoint(e->docker);
    e->progress = isatty(STDERR_FILENO);
    return 0;
}

void dext_engine_close(struct dext_engine *e)
{
    if (!e->docker)
        return;
    dext_docker_free(e->docker);
    e->docker = NULL;
    (void)uv_run(&e->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&e->loop);
}

/* ---- calls, one at a time ---- */

struct sync_call {
    bool done;
    int status, err;
    char *body;
    size_t len;
    char msg[512];
};

static void on_sync_done(void *data, int status, const char *body, size_t len, int err,
                         const char *msg)
{
    struct sync_call *c = data;

    c->done = true;
    c->status = status;
    c->err = err;
    c->body = xmemdup(body, len + 1);
    c->body[len] = '\0';
    c->len = len;
    if (msg)
        (void)snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

/* The engine's {"message": ...}, else the body itself. */
static void engine_message(struct dext_engine *e, int status, const char *body, size_t len)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *m = json_string_value(json_object_get(o, "message"));

    if (m)
        set_err(e, "%s", m);
    else
        set_err(e, "the engine answered %d: %.*s", status, (int)(len > 300 ? 300 : len), body);
    json_decref(o);
}

int dext_engine_call(struct dext_engine *e, const char *method, const char *path, json_t *body,
                     json_t **ret)
{
    struct sync_call c = {0};
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    if (ret)
        *ret = NULL;
    dext_docker_request(e->docker, method, path, text, text ? strlen(text) : 0, on_sync_done, &c);
    while (!c.done)
        (void)uv_run(&e->loop, UV_RUN_ONCE);
    if (c.err < 0) {
        set_err(e, "%s", c.msg);
        free(c.body);
        return c.err;
    }
    if (c.status >= 400)
        engine_message(e, c.status, c.body, c.len);
    else if (ret && c.len)
        *ret = json_loadb(c.body, c.len, 0, NULL);
    free(c.body);
    return c.status;
}

int dext_engine_ping(struct dext_engine *e)
{
    int r = dext_engine_call(e, "GET", "/_ping", NULL, NULL);

    if (r < 0)
        return r;
    if (r != 200) {
        set_err(e, "the Docker engine at %s answered /_ping with %d", e->endpoint, r);
        return -EPROTO;
    }
    return 0;
}

/* Percent-encodes @s for a query value. */
static char *qescape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = xmalloc(strlen(s) * 3 + 1), *p = o;

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch)) {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return o;
}

char *dext_engine_project(const char *name)
{
    return xasprintf("%s-desktop-extension", name);
}

/* GET /containers/json?all=1 filtered by the project label. */
static int list_project(struct dext_engine *e, const char *name, json_t **ret)
{
    _cleanup_free_ char *project = dext_engine_project(name);
    _cleanup_free_ char *filters = xasprintf("{\"label\":[\"%s=%s\"]}", PROJECT_LABEL, project);
    _cleanup_free_ char *q = qescape(filters);
    _cleanup_free_ char *path = xasprintf("/containers/json?all=1&filters=%s", q);
    int r = dext_engine_call(e, "GET", path, NULL, ret);

    if (r < 0)
        return r;
    if (r != 200 || !json_is_array(*ret)) {
        json_decref(*ret);
        *ret = NULL;
        return -EPROTO;
    }
    return 0;
}

int dext_engine_state(struct dext_engine *e, const char *name, int *ret_running, int *ret_total)
{
    json_t *list = NULL, *c;
    size_t i;
    int r = list_project(e, name, &list);

    if (r < 0)
        return r;
    *ret_running = 0;
    *ret_total = (int)json_array_size(list);
    json_array_foreach(list, i, c)
    {
        const char *state = json_string_value(json_object_get(c, "State"));
        if (state && strcmp(state, "running") == 0)
            (*ret_running)++;
    }
    json_decref(list);
    return 0;
}

int dext_engine_first_container(struct dext_engine *e, const char *name, const char *image,
                                char **ret_id)
{
    json_t *list = NULL, *best;
    int r = list_project(e, name, &list);

    if (r < 0)
        return r;
    best = dext_docker_first_service(list, image);
    r = -ENOENT;
    if (best && json_string_value(json_object_get(best, "Id"))) {
        *ret_id = xstrdup(json_string_value(json_object_get(best, "Id")));
        r = 0;
    }
    json_decref(list);
    return r;
}

/* ---- pull ---- */

struct layer {
    char id[80];
    uint64_t current, total;
    bool done;
};

struct pull {
    struct dext_engine *e;
    const char *ref;
    struct dext_buf line;
    struct layer layers[MAX_LAYERS];
    size_t n_layers;
    bool done;
    int status, err;
    char error[512];
    bool shown;
};

static struct layer *pull_layer(struct pull *p, const char *id)
{
    for (size_t i = 0; i < p->n_layers; i++)
        if (strcmp(p->layers[i].id, id) == 0)
            return &p->layers[i];
    if (p->n_layers == MAX_LAYERS)
        return NULL;
    (void)snprintf(p->layers[p->n_layers].id, sizeof(p->layers[0].id), "%s", id);
    return &p->layers[p->n_layers++];
}

static void pull_show(struct pull *p, bool final)
{
    uint64_t cur = 0, total = 0;
    size_t done = 0;

    if (!p->e->progress)
        return;
    for (size_t i = 0; i < p->n_layers; i++) {
        cur += p->layers[i].done ? p->layers[i].total : p->layers[i].current;
        total += p->layers[i].total;
        done += p->layers[i].done;
    }
    fprintf(stderr, "\r\033[KPulling %s: %zu/%zu layers, %.1f/%.1f MB%s", p->ref, done, p->n_layers,
            (double)cur / 1e6, (double)total / 1e6, final ? "\n" : "");
    p->shown = true;
}

/* One JSON progress message of POST /images/create. */
static void pull_message(struct pull *p, const char *text, size_t len)
{
    json_t *o = json_loadb(text, len, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *error = json_string_value(json_object_get(o, "error"));
    json_t *detail = json_object_get(o, "progressDetail");
    struct layer *l;

    if (error && !p->error[0])
        (void)snprintf(p->error, sizeof(p->error), "%s", error);
    /* Layer messages: "Pulling fs layer", "Downloading", "Pull complete", ...; the
     * "Pulling from REPO" line carries the tag as its id. */
    if (id && status && strncmp(status, "Pulling from", 12) != 0 && (l = pull_layer(p, id))) {
        json_int_t cur = json_integer_value(json_object_get(detail, "current"));
        json_int_t total = json_integer_value(json_object_get(detail, "total"));
        if (strncmp(status, "Downloading", 11) == 0) {
            l->current = (uint64_t)cur;
            if (total > 0)
                l->total = (uint64_t)total;
        } else if (strcmp(status, "Pull complete") == 0 || strcmp(status, "Already exists") == 0) {
            l->done = true;
        }
        pull_show(p, false);
    }
    json_decref(o);
}

static void on_pull_data(void *data, const char *at, size_t n)
{
    struct pull *p = data;

    for (size_t i = 0; i < n; i++) {
        if (at[i] == '\n') {
            pull_message(p, p->line.data ? p->line.data : "", p->line.len);
            p->line.len = 0;
        } else {
            (void)dext_buf_append(&p->line, at + i, 1);
        }
    }
}

static void on_pull_end(void *data, int status, const char *body, size_t len, int err,
                        const char *msg)
{
    struct pull *p = data;

    p->done = true;
    p->status = status;
    p->err = err;
    if (err < 0)
        (void)snprintf(p->error, sizeof(p->error), "%s", msg);
    else if (status >= 400)
        engine_message(p->e, status, body, len);
}

static const struct dext_docker_stream_ops pull_ops = {
    .on_data = on_pull_data,
    .on_end = on_pull_end,
};

/* Splits "repo[:tag][@digest]" into the fromImage and tag query values. */
static void split_ref(const char *ref, char **ret_repo, char **ret_tag)
{
    const char *slash = strrchr(ref, '/'), *at = strchr(ref, '@');
    const char *colon = strrchr(ref, ':');

    if (at) {
        *ret_repo = xstrdup(ref);
        *ret_tag = NULL;
    } else if (colon && (!slash || colon > slash)) {
        *ret_repo = xstrndup(ref, (size_t)(colon - ref));
        *ret_tag = xstrdup(colon + 1);
    } else {
        *ret_repo = xstrdup(ref);
        *ret_tag = xstrdup("latest");
    }
}

static int pull(struct dext_engine *e, const char *ref)
{
    _cleanup_free_ char *repo = NULL, *tag = NULL, *qr = NULL, *qt = NULL, *path = NULL;
    struct pull *p = xcalloc(1, sizeof(*p));
    int r = 0;

    split_ref(ref, &repo, &tag);
    qr = qescape(repo);
    qt = tag ? qescape(tag) : NULL;
    path = xasprintf("/images/create?fromImage=%s%s%s", qr, qt ? "&tag=" : "", qt ? qt : "");
    p->e = e;
    p->ref = ref;
    dext_buf_init(&p->line, 64 * 1024);
    if (e->progress)
        fprintf(stderr, "Pulling %s...", ref);
    (void)dext_docker_stream(e->docker, "POST", path, NULL, 0, &pull_ops, p);
    while (!p->done)
        (void)uv_run(&e->loop, UV_RUN_ONCE);
    if (p->line.len)
        pull_message(p, p->line.data, p->line.len);
    if (e->progress)
        pull_show(p, true);
    if (p->err < 0) {
        set_err(e, "%s", p->error);
        r = p->err;
    } else if (p->status >= 400) {
        r = -ENOENT;
    } else if (p->error[0]) {
        set_err(e, "pulling %s: %s", ref, p->error);
        r = -ENOENT;
    }
    dext_buf_done(&p->line);
    free(p);
    return r;
}

/* ---- the archive copy ---- */

/* What to keep of the image's files, known once metadata.json has gone by. */
struct wanted {
    char **paths; /* relative; a directory keeps everything under it */
    size_t n;
    bool all;
};

struct copy {
    struct dext_engine *e;
    struct dext_docker_call *call;
    struct dext_buf pending, current;
    bool ended, paused;
    int status, err;
    char msg[512];
};

static void on_archive_data(void *data, const char *at, size_t n)
{
    struct copy *c = data;

    if (dext_buf_append(&c->pending, at, n) < 0) {
        c->err = -ENOBUFS;
        return;
    }
    if (c->pending.len >= ARCHIVE_CHUNK_MAX && !c->paused) {
        c->paused = true;
        dext_docker_call_pause(c->call);
    }
}

static void on_archive_end(void *data, int status, const char *body, size_t len, int err,
                           const char *msg)
{
    struct copy *c = data;

    c->ended = true;
    c->call = NULL;
    c->status = status;
    if (err < 0) {
        c->err = err;
        (void)snprintf(c->msg, sizeof(c->msg), "%s", msg);
    } else if (status >= 300) {
        struct dext_engine *e = c->e;
        engine_message(e, status, body, len);
        (void)snprintf(c->msg, sizeof(c->msg), "%.500s", e->err);
    }
}

static const struct dext_docker_stream_ops archive_ops = {
    .on_data = on_archive_data,
    .on_end = on_archive_end,
};

/* libarchive pulls; the loop runs until the stream has pushed something. */
static la_ssize_t archive_read_cb(struct archive *a, void *data, const void **buf)
{
    struct copy *c = data;
    struct dext_buf t;

    c->current.len = 0;
    while (!c->pending.len && !c->ended && c->err == 0) {
        if (c->paused) {
            c->paused = false;
            dext_docker_call_resume(c->call);
        }
        (void)uv_run(&c->e->loop, UV_RUN_ONCE);
    }
    if (c->err < 0 || (c->ended && c->status >= 300)) {
        archive_set_error(a, EIO, "%s", c->msg[0] ? c->msg : "the archive stream failed");
        return -1;
    }
    t = c->current;
    c->current = c->pending;
    c->pending = t;
    if (c->paused && c->call) {
        c->paused = false;
        dext_docker_call_resume(c->call);
    }
    *buf = c->current.data;
    return (la_ssize_t)c->current.len;
}

/* "./ui/x" or "/ui/x" -> "ui/x"; "" for the top. */
static const char *entry_name(const char *name)
{
    for (;;) {
        if (name[0] == '/')
            name++;
        else if (name[0] == '.' && name[1] == '/')
            name += 2;
        else if (name[0] == '.' && name[1] == '\0')
            name++;
        else
            return name;
    }
}

static bool is_wanted(const struct wanted *w, const char *name)
{
    if (w->all)
        return true;
    for (size_t i = 0; i < w->n; i++) {
        size_t n = strlen(w->paths[i]);
        if (strncmp(name, w->paths[i], n) == 0 && (name[n] == '\0' || name[n] == '/'))
            return true;
    }
    return false;
}

static void wanted_add(struct wanted *w, const char *path)
{
    size_t n;

    if (!path)
        return;
    n = strlen(path);
    while (n && path[n - 1] == '/')
        n--;
    if (n == 0) {
        w->all = true;
        return;
    }
    w->paths = xrealloc(w->paths, (w->n + 1) * sizeof(char *));
    w->paths[w->n++] = xstrndup(path, n);
}

static void wanted_done(struct wanted *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->paths[i]);
    free(w->paths);
    *w = (struct wanted){0};
}

/* The files an extension needs from its image, from its metadata.json. */
static int wanted_from_metadata(struct dext_engine *e, const char *staging, struct wanted *w)
{
    _cleanup_free_ char *text = NULL, *path = xasprintf("%s/metadata.json", staging);
    struct dext_meta_problems problems = {0};
    struct dext_ext_meta *m = NULL;
    size_t len;
    int r = dext_read_file_at(AT_FDCWD, path, DEXT_METADATA_MAX, &text, &len);

    if (r < 0) {
        set_err(e, "cannot read metadata.json from the image: %s", strerror(-r));
        return r;
    }
    r = dext_ext_meta_parse(text, len, &m, &problems);
    if (r < 0) {
        set_err(e, "the image's metadata.json is not valid: %s%s",
                problems.n ? problems.items[0] : "too large",
                problems.n > 1 ? " (and more; see dext validate)" : "");
        if (e->problems && !e->problems->n) {
            *e->problems = problems; /* validate prints them all */
            return r;
        }
        dext_meta_problems_done(&problems);
        return r;
    }
    wanted_add(w, "metadata.json");
    wanted_add(w, m->icon);
    if (m->has_ui)
        wanted_add(w, m->ui_root);
    wanted_add(w, m->vm_composefile);
    for (size_t i = 0; i < m->n_host_binaries; i++)
        wanted_add(w, m->host_binaries[i].path);
    dext_ext_meta_free(m);
    return 0;
}

/* Moves the wanted paths from @staging into @root. */
static int keep_wanted(struct dext_engine *e, const char *staging, const char *root,
                       const struct wanted *w)
{
    int r;

    if (w->all) {
        if (rename(staging, root) < 0) {
            set_err(e, "cannot move %s to %s: %s", staging, root, strerror(errno));
            return -errno;
        }
        return 0;
    }
    r = dext_mkdir_p(root, 0755);
    if (r < 0)
        return r;
    for (size_t i = 0; i < w->n; i++) {
        _cleanup_free_ char *from = xasprintf("%s/%s", staging, w->paths[i]);
        _cleanup_free_ char *to = xasprintf("%s/%s", root, w->paths[i]);
        _cleanup_free_ char *parent = xstrdup(to);
        struct stat st;

        if (lstat(from, &st) < 0)
            continue; /* missing: validation names it */
        if (lstat(to, &st) == 0)
            continue; /* inside a path already moved */
        *strrchr(parent, '/') = '\0';
        r = dext_mkdir_p(parent, 0755);
        if (r < 0 || rename(from, to) < 0) {
            set_err(e, "cannot move %s into %s: %s", w->paths[i], root,
                    strerror(r < 0 ? -r : errno));
            return r < 0 ? r : -errno;
        }
    }
    return 0;
}

static int extract_entries(struct dext_engine *e, struct archive *in, const char *staging,
                           struct wanted *w, bool *ret_have_meta)
{
    struct archive *out = archive_write_disk_new();
    struct archive_entry *entry;
    int r = 0, ar;

    (void)archive_write_disk_set_options(
        out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
    /* Paths are made absolute here, under the staging directory, from names
     * stripped of leading slashes; ".." and symlinked parents stay refused. */
    while ((ar = archive_read_next_header(in, &entry)) == ARCHIVE_OK) {
        _cleanup_free_ char *name_copy = xstrdup(entry_name(archive_entry_pathname(entry)));
        const char *name = name_copy;
        const char *link = archive_entry_hardlink(entry);
        mode_t type = archive_entry_filetype(entry);
        _cleanup_free_ char *dest = NULL, *link_dest = NULL;
        const void *buf;
        size_t size;
        la_int64_t off;
        bool meta = strcmp(name, "metadata.json") == 0 && type == AE_IFREG;

        if (!*name || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) ||
            (*ret_have_meta && !is_wanted(w, name)) ||
            (link && *ret_have_meta && !is_wanted(w, entry_name(link))))
            continue;
        dest = xasprintf("%s/%s", staging, name);
        archive_entry_set_pathname(entry, dest);
        if (link) {
            link_dest = xasprintf("%s/%s", staging, entry_name(link));
            archive_entry_set_hardlink(entry, link_dest);
        }
        if (archive_write_header(out, entry) != ARCHIVE_OK) {
            log_warn("image file %s not copied: %s", name, archive_error_string(out));
            continue;
        }
        while ((ar = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(out, buf, size, off) != ARCHIVE_OK) {
                set_err(e, "cannot write %s: %s", dest, archive_error_string(out));
                r = -EIO;
                goto out;
            }
        }
        if (ar != ARCHIVE_EOF) {
            set_err(e, "reading the image archive: %s", archive_error_string(in));
            r = -EIO;
            goto out;
        }
        if (archive_write_finish_entry(out) != ARCHIVE_OK) {
            set_err(e, "cannot write %s: %s", dest, archive_error_string(out));
            r = -EIO;
            goto out;
        }
        if (meta) {
            r = wanted_from_metadata(e, staging, w);
            if (r < 0)
                goto out;
            *ret_have_meta = true;
        }
    }
    if (ar != ARCHIVE_EOF) {
        set_err(e, "reading the image archive: %s", archive_error_string(in));
        r = -EIO;
    }
out:
    (void)archive_write_free(out);
    return r;
}

/* Copies what the extension needs out of image @ref into @root through one
 * archive request of the image's whole filesystem, read as it streams. Files that
 * stream by before metadata.json says what is needed are staged, then dropped. */
static int copy_out(struct dext_engine *e, const char *ref, const char *staging, const char *root)
{
    json_t *body = json_pack("{s:s, s:[s], s:{s:s}, s:b}", "Image", ref, "Cmd", "/dext-copy",
                             "Labels", "io.dext.copy", "1", "NetworkDisabled", 1);
    json_t *created = NULL;
    _cleanup_free_ char *id = NULL, *path = NULL, *del = NULL;
    struct wanted w = {0};
    struct copy c = {.e = e};
    struct archive *in = NULL;
    bool have_meta = false;
    int r;

    r = dext_engine_call(e, "POST", "/containers/create", body, &created);
    json_decref(body);
    if (r != 201) {
        json_decref(created);
        if (r >= 0) {
            char why[sizeof(e->err)];
            memcpy(why, e->err, sizeof(why));
            set_err(e, "cannot create a container of %s to copy its files: %s", ref, why);
        }
        return r < 0 ? r : -EIO;
    }
    id = xstrdup(json_string_value(json_object_get(created, "Id")) ?: "");
    json_decref(created);

    dext_buf_init(&c.pending, ARCHIVE_CHUNK_MAX + 256 * 1024);
    dext_buf_init(&c.current, ARCHIVE_CHUNK_MAX + 256 * 1024);
    path = xasprintf("/containers/%s/archive?path=%%2F", id);
    c.call = dext_docker_stream(e->docker, "GET", path, NULL, 0, &archive_ops, &c);
    in = archive_read_new();
    (void)archive_read_support_format_tar(in);
    if (archive_read_open(in, &c, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
        set_err(e, "reading the image archive of %s: %s", ref,
                c.msg[0] ? c.msg : archive_error_string(in));
        r = -EIO;
    } else {
        r = extract_entries(e, in, staging, &w, &have_meta);
    }
    (void)archive_read_free(in);
    if (c.call)
        dext_docker_call_cancel(c.call);
    dext_buf_done(&c.pending);
    dext_buf_done(&c.current);
    del = xasprintf("/containers/%s?force=1&v=1", id);
    {
        char keep[sizeof(e->err)];
        memcpy(keep, e->err, sizeof(keep));
        (void)dext_engine_call(e, "DELETE", del, NULL, NULL);
        memcpy(e->err, keep, sizeof(keep));
    }
    if (r == 0 && !have_meta) {
        set_err(e, "image %s has no /metadata.json: it is not a Docker extension", ref);
        r = -ENOENT;
    }
    if (r == 0)
        r = keep_wanted(e, staging, root, &w);
    wanted_done(&w);
    return r;
}

/* ---- the compose project ---- */

struct run_out {
    bool exited;
    int64_t status;
    struct dext_buf out;
};

static void on_run_output(void *data, int fd, const char *p, size_t n)
{
    struct run_out *o = data;
    (void)dext_buf_append(&o->out, p, n);
}

static void on_run_exit(void *data, int64_t status, int sig)
{
    struct run_out *o = data;
    o->exited = true;
    o->status = sig ? 128 + sig : status;
}

/* Runs @argv (PATH searched) on the private loop, output collected. Returns the
 * exit status, or a negative errno when it does not start. */
static int run_tool(struct dext_engine *e, char *const *argv, char *const *env, const char *cwd,
                    char **ret_out)
{
    struct run_out o = {0};
    struct dext_proc *p = NULL;
    int r;

    dext_buf_init(&o.out, 4 * 1024 * 1024);
    r = dext_proc_spawn(&e->loop,
                        &(struct dext_proc_opts){.file = argv[0],
                                                 .argv = argv,
                                                 .env = env,
                                                 .cwd = cwd,
                                                 .on_output = on_run_output,
                                                 .on_exit = on_run_exit,
                                                 .data = &o,
                                                 .mntns_fd = -1},
                        &p);
    if (r < 0) {
        dext_buf_done(&o.out);
        return r;
    }
    while (!o.exited)
        (void)uv_run(&e->loop, UV_RUN_ONCE);
    dext_proc_free(p);
    (void)dext_buf_terminate(&o.out);
    if (ret_out)
        *ret_out = dext_buf_take(&o.out, NULL);
    dext_buf_done(&o.out);
    return (int)o.status;
}

/* The compose CLI that is present: "docker compose", else "docker-compose". */
static int compose_argv(struct dext_engine *e, char **argv, size_t *n)
{
    char *probe[] = {(char *)"docker", (char *)"compose", (char *)"version", NULL};
    char *probe1[] = {(char *)"docker-compose", (char *)"version", NULL};

    if (run_tool(e, probe, NULL, NULL, NULL) == 0) {
        argv[(*n)++] = xstrdup("docker");
        argv[(*n)++] = xstrdup("compose");
        return 0;
    }
    if (run_tool(e, probe1, NULL, NULL, NULL) == 0) {
        argv[(*n)++] = xstrdup("docker-compose");
        return 0;
    }
    set_err(e, "vm.composefile needs a compose CLI: neither 'docker compose' nor "
               "'docker-compose' runs");
    return -ENOENT;
}

/* The environment for compose: ours plus DESKTOP_PLUGIN_IMAGE. */
static char **compose_env(const char *image)
{
    size_t n = 0, o = 0;
    char **v;

    while (environ[n])
        n++;
    v = xcalloc(n + 2, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "DESKTOP_PLUGIN_IMAGE=", 21) != 0)
            v[o++] = xstrdup(environ[i]);
    v[o++] = xasprintf("DESKTOP_PLUGIN_IMAGE=%s", image);
    return v;
}

/* The labels every backend container gets. */
static json_t *ext_labels(const char *name, const char *title, const char *project)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "com.docker.desktop.extension", "true",
                     "com.docker.desktop.extension.name", title ? title : name, PROJECT_LABEL,
                     project, DEXT_ENGINE_EXT_LABEL, name);
}

/* Replaces every "/var/run/docker.sock.raw" in @text with the engine's socket. */
static char *map_raw_socket(const char *text, const char *engine_sock)
{
    static const char raw[] = "/var/run/docker.sock.raw";
    struct dext_buf b;
    const char *p = text, *hit;

    dext_buf_init(&b, 16 * 1024 * 1024);
    while ((hit = strstr(p, raw))) {
        (void)dext_buf_append(&b, p, (size_t)(hit - p));
        (void)dext_buf_puts(&b, engine_sock);
        p = hit + sizeof(raw) - 1;
    }
    (void)dext_buf_puts(&b, p);
    return dext_buf_take(&b, NULL);
}

static const char *engine_socket_path(const struct dext_engine *e)
{
    return strncmp(e->endpoint, "unix://", 7) == 0 ? e->endpoint + 7 : "/var/run/docker.sock";
}

static int up_composefile(struct dext_engine *e, const struct dext_store *s,
                          const struct dext_store_entry *entry, const struct dext_ext_meta *meta,
                          const char *title, const char *guest)
{
    _cleanup_free_ char *ext_dir = dext_store_ext_path(s, entry->name);
    _cleanup_free_ char *vm_dir = xasprintf("%s/vm", ext_dir);
    _cleanup_free_ char *src = xasprintf("%s/%s", entry->root, meta->vm_composefile);
    _cleanup_free_ char *file = xasprintf("%s/docker-compose.yaml", vm_dir);
    _cleanup_free_ char *override = xasprintf("%s/dext-override.json", vm_dir);
    _cleanup_free_ char *project = dext_engine_project(entry->name);
    _cleanup_free_ char *text = NULL, *mapped = NULL, *out = NULL, *ov_text = NULL;
    _cleanup_free_ char *mount = xasprintf("%s:/run/guest-services", guest);
    _cleanup_free_ char *image_env = xasprintf("DESKTOP_PLUGIN_IMAGE=%s", entry->image);
    char *argv[24] = {0};
    char **env = compose_env(entry->image);
    size_t base = 0, n;
    json_t *ov = NULL, *services;
    const char *version;
    int r;

    r = dext_read_file_at(AT_FDCWD, src, 4 * 1024 * 1024, &text, NULL);
    if (r < 0) {
        set_err(e, "cannot read %s: %s", src, strerror(-r));
        goto out;
    }
    r = dext_mkdir_p(vm_dir, 0700);
    if (r < 0) {
        set_err(e, "cannot create %s: %s", vm_dir, strerror(-r));
        goto out;
    }
    /* The backend may bind the VM-side engine socket; here that is the engine's own. */
    mapped = map_raw_socket(text, engine_socket_path(e));
    r = dext_write_file_atomic(file, mapped, strlen(mapped), 0600);
    if (r < 0) {
        set_err(e, "cannot write %s: %s", file, strerror(-r));
        goto out;
    }
    r = compose_argv(e, argv, &base);
    if (r < 0)
        goto out;
    n = base;
    argv[n++] = xstrdup("-p");
    argv[n++] = xstrdup(project);
    argv[n++] = xstrdup("-f");
    argv[n++] = xstrdup(file);
    argv[n++] = xstrdup("config");
    r = run_tool(e, argv, env, vm_dir, &out);
    if (r != 0) {
        set_err(e, "compose rejects %s: %.700s", meta->vm_composefile, out ? out : "");
        r = -EINVAL;
        goto out;
    }
    /* The labels, the socket directory and the restart policy go on every service
     * through an override file (JSON is YAML); it must state the same format
     * version as the author's file for compose v1. */
    ov = json_object();
    version = strstr(out, "\nversion: ");
    if (version || strncmp(out, "version: ", 9) == 0) {
        const char *v = (version ? version + 1 : out) + 9;
        size_t len = strcspn(v, "\n");
        _cleanup_free_ char *val = xstrndup(v, len);
        char *q = val;
        if (*q == '\'' || *q == '"')
            q++;
        q[strcspn(q, "'\"")] = '\0';
        json_object_set_new(ov, "version", json_string(q));
    }
    argv[n++] = xstrdup("--services");
    free(out);
    out = NULL;
    r = run_tool(e, argv, env, vm_dir, &out);
    if (r != 0) {
        set_err(e, "compose cannot list the services of %s: %.500s", meta->vm_composefile,
                out ? out : "");
        r = -EINVAL;
        goto out;
    }
    services = json_object();
    for (char *line = out, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!*line)
            continue;
        json_object_set_new(services, line,
                            json_pack("{s:o, s:[s], s:s, s:[s]}", "labels",
                                      ext_labels(entry->name, title, project), "volumes", mount,
                                      "restart", "always", "environment", image_env));
    }
    json_object_set_new(ov, "services", services);
    ov_text = json_dumps(ov, JSON_INDENT(2));
    r = dext_write_file_atomic(override, ov_text, strlen(ov_text), 0600);
    if (r < 0) {
        set_err(e, "cannot write %s: %s", override, strerror(-r));
        goto out;
    }
    n -= 2;
    free(argv[n]);
    free(argv[n + 1]);
    argv[n + 1] = NULL;
    argv[n++] = xstrdup("-f");
    argv[n++] = xstrdup(override);
    argv[n++] = xstrdup("up");
    argv[n++] = xstrdup("-d");
    argv[n++] = xstrdup("--remove-orphans");
    free(out);
    out = NULL;
    r = run_tool(e, argv, env, vm_dir, &out);
    if (r != 0) {
        size_t len = out ? strlen(out) : 0;
        set_err(e, "compose up failed for %s: %s", project,
                out ? out + (len > 700 ? len - 700 : 0) : "");
        r = -EIO;
        goto out;
    }
    r = 0;
out:
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        free(argv[i]);
    dext_strv_free(env);
    json_decref(ov);
    return r;
}

static int start_container(struct dext_engine *e, const char *id)
{
    _cleanup_free_ char *path = xasprintf("/containers/%s/start", id);
    int r = dext_engine_call(e, "POST", path, NULL, NULL);

    if (r < 0)
        return r;
    return r == 204 || r == 304 ? 0 : -EIO;
}

static int up_image(struct dext_engine *e, const struct dext_store *s,
                    const struct dext_store_entry *entry, const struct dext_ext_meta *meta,
                    const char *title, const char *guest)
{
    _cleanup_free_ char *project = dext_engine_project(entry->name);
    _cleanup_free_ char *cname = xasprintf("%s-service", project);
    _cleanup_free_ char *path = NULL, *image = NULL, *mount = NULL, *envv = NULL;
    _cleanup_free_ char *ext_dir = dext_store_ext_path(s, entry->name);
    json_t *body, *labels, *created = NULL;
    const char *var = strstr(meta->vm_image, "${DESKTOP_PLUGIN_IMAGE}");
    int r;

    if (var)
        image = xasprintf("%.*s%s%s", (int)(var - meta->vm_image), meta->vm_image, entry->image,
                          var + strlen("${DESKTOP_PLUGIN_IMAGE}"));
    else
        image = xstrdup(meta->vm_image);
    labels = ext_labels(entry->name, title, project);
    json_object_set_new(labels, "com.docker.compose.service", json_string("backend"));
    json_object_set_new(labels, "com.docker.compose.oneoff", json_string("False"));
    json_object_set_new(labels, "com.docker.compose.container-number", json_string("1"));
    json_object_set_new(labels, "com.docker.compose.project.working_dir", json_string(ext_dir));
    mount = xasprintf("%s:/run/guest-services", guest);
    envv = xasprintf("DESKTOP_PLUGIN_IMAGE=%s", entry->image);
    body = json_pack("{s:s, s:[s], s:o, s:{s:[s], s:{s:s}}}", "Image", image, "Env", envv, "Labels",
                     labels, "HostConfig", "Binds", mount, "RestartPolicy", "Name", "always");
    path = xasprintf("/containers/create?name=%s", cname);
    r = dext_engine_call(e, "POST", path, body, &created);
    if (r == 404 && strcmp(image, entry->image) != 0 && pull(e, image) == 0) {
        /* vm.image names another image, not here yet. */
        json_decref(created);
        created = NULL;
        r = dext_engine_call(e, "POST", path, body, &created);
    }
    json_decref(body);
    if (r != 201) {
        json_decref(created);
        if (r >= 0) {
            char why[sizeof(e->err)];
            memcpy(why, e->err, sizeof(why));
            set_err(e, "cannot create the backend container %s: %s", cname, why);
        }
        return r < 0 ? r : -EIO;
    }
    r = start_container(e, json_string_value(json_object_get(created, "Id")) ?: cname);
    json_decref(created);
    if (r < 0 && r != -EIO)
        return r;
    if (r < 0) {
        char why[sizeof(e->err)];
        memcpy(why, e->err, sizeof(why));
        set_err(e, "cannot start the backend container %s: %s", cname, why);
    }
    return r;
}

int dext_engine_up(struct dext_engine *e, const struct dext_store *s,
                   const struct dext_store_entry *entry, const struct dext_ext_meta *meta)
{
    _cleanup_free_ char *guest = dext_store_guest_dir(s, entry->name);
    _cleanup_free_ char *ipath = NULL, *qimg = NULL;
    json_t *img = NULL;
    const char *title;
    int running = 0, total = 0, r;

    if (!meta->has_vm || (!meta->vm_image && !meta->vm_composefile))
        return 0;
    r = dext_engine_state(e, entry->name, &running, &total);
    if (r < 0)
        return r;
    if (total > 0) {
        /* Made before: start what is not running. */
        json_t *list = NULL, *c;
        size_t i;
        if (running == total || list_project(e, entry->name, &list) < 0)
            return 0;
        json_array_foreach(list, i, c)
        {
            const char *state = json_string_value(json_object_get(c, "State"));
            const char *id = json_string_value(json_object_get(c, "Id"));
            if (id && state && strcmp(state, "running") != 0)
                (void)start_container(e, id);
        }
        json_decref(list);
        return 0;
    }
    /* The socket directory exists before any container mounts it. */
    r = dext_mkdir_p(guest, 0700);
    if (r < 0) {
        set_err(e, "cannot create %s: %s", guest, strerror(-r));
        return r;
    }
    qimg = qescape(entry->image);
    ipath = xasprintf("/images/%s/json", qimg);
    (void)dext_engine_call(e, "GET", ipath, NULL, &img);
    title = json_string_value(
        json_object_get(json_object_get(json_object_get(img, "Config"), "Labels"), TITLE_LABEL));
    if (meta->vm_composefile)
        r = up_composefile(e, s, entry, meta, title, guest);
    else
        r = up_image(e, s, entry, meta, title, guest);
    json_decref(img);
    return r;
}

/* Removes the @what ("containers", "volumes", "networks") labelled @label=@value. */
static int remove_labelled(struct dext_engine *e, const char *what, const char *label,
                           const char *value)
{
    _cleanup_free_ char *filters = xasprintf("{\"label\":[\"%s=%s\"]}", label, value);
    _cleanup_free_ char *q = qescape(filters);
    _cleanup_free_ char *path =
        xasprintf("/%s%s?filters=%s", what, strcmp(what, "containers") == 0 ? "/json" : "", q);
    json_t *list = NULL, *arr, *it;
    size_t i;
    int r = dext_engine_call(e, "GET", path, NULL, &list), failed = 0;

    if (r < 0)
        return r;
    if (strcmp(what, "containers") == 0) {
        /* all=1 too */
        json_decref(list);
        free(path);
        path = xasprintf("/containers/json?all=1&filters=%s", q);
        r = dext_engine_call(e, "GET", path, NULL, &list);
        if (r < 0)
            return r;
    }
    arr = strcmp(what, "volumes") == 0 ? json_object_get(list, "Volumes") : list;
    json_array_foreach(arr, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "Id"));
        _cleanup_free_ char *del = NULL, *qid = NULL;
        if (!id)
            id = json_string_value(json_object_get(it, "Name"));
        if (!id)
            continue;
        qid = qescape(id);
        del = strcmp(what, "containers") == 0 ? xasprintf("/containers/%s?force=1&v=1", qid)
                                              : xasprintf("/%s/%s", what, qid);
        r = dext_engine_call(e, "DELETE", del, NULL, NULL);
        if (r < 0 || (r >= 300 && r != 404))
            failed = r < 0 ? r : -EIO;
    }
    json_decref(list);
    return failed;
}

int dext_engine_down(struct dext_engine *e, const char *name, bool volumes)
{
    _cleanup_free_ char *project = dext_engine_project(name);
    int r = remove_labelled(e, "containers", PROJECT_LABEL, project);

    if (r == 0 && volumes) {
        r = dext_engine_remove_started(e, name);
        if (r == 0)
            r = remove_labelled(e, "volumes", PROJECT_LABEL, project);
        if (r == 0)
            r = remove_labelled(e, "networks", PROJECT_LABEL, project);
    }
    return r;
}

int dext_engine_remove_started(struct dext_engine *e, const char *name)
{
    return remove_labelled(e, "containers", DEXT_ENGINE_EXT_LABEL, name);
}

char *dext_engine_image_label(struct dext_engine *e, const char *ref, const char *label)
{
    _cleanup_free_ char *q = qescape(ref);
    _cleanup_free_ char *path = xasprintf("/images/%s/json", q);
    json_t *img = NULL;
    const char *v;
    char *r = NULL;

    if (dext_engine_call(e, "GET", path, NULL, &img) == 200) {
        v = json_string_value(
            json_object_get(json_object_get(json_object_get(img, "Config"), "Labels"), label));
        r = v ? xstrdup(v) : NULL;
    }
    json_decref(img);
    return r;
}

/* ---- logs ---- */

struct logs {
    struct dext_docker_demux demux;
    bool done;
    int status, err;
};

static void logs_out(void *data, int fd, const char *p, size_t n)
{
    fwrite(p, 1, n, fd == 2 ? stderr : stdout);
}

static void on_logs_data(void *data, const char *p, size_t n)
{
    struct logs *l = data;
    dext_docker_demux_feed(&l->demux, p, n, logs_out, l);
}

static void on_logs_end(void *data, int status, const char *body, size_t len, int err,
                        const char *msg)
{
    struct logs *l = data;

    l->done = true;
    l->status = status;
    l->err = err;
}

static const struct dext_docker_stream_ops logs_ops = {
    .on_data = on_logs_data,
    .on_end = on_logs_end,
};

int dext_engine_logs(struct dext_engine *e, const char *name, const char *image)
{
    _cleanup_free_ char *id = NULL, *path = NULL;
    struct logs l = {0};
    int r = dext_engine_first_container(e, name, image, &id);

    if (r == -ENOENT) {
        set_err(e, "extension %s has no backend container", name);
        return r;
    }
    if (r < 0)
        return r;
    path = xasprintf("/containers/%s/logs?stdout=1&stderr=1", id);
    (void)dext_docker_stream(e->docker, "GET", path, NULL, 0, &logs_ops, &l);
    while (!l.done)
        (void)uv_run(&e->loop, UV_RUN_ONCE);
    fflush(stdout);
    if (l.err < 0 || l.status >= 300) {
        set_err(e, "cannot read the logs of the backend container %.12s", id);
        return l.err < 0 ? l.err : -EIO;
    }
    return 0;
}

/* ---- install ---- */

static int check_labels(struct dext_engine *e, const char *ref, json_t *img)
{
    json_t *labels = json_object_get(json_object_get(img, "Config"), "Labels");
    const char *want = json_string_value(json_object_get(labels, API_VERSION_LABEL));
    int r;

    if (!want) {
        set_err(e, "image %s has no %s label: it is not a Docker extension", ref,
                API_VERSION_LABEL);
        return -EINVAL;
    }
    r = dext_semver_satisfies(want, DEXT_EXTENSION_API_VERSION);
    if (r < 0) {
        set_err(e, "image %s: label %s='%s' is not a version constraint", ref, API_VERSION_LABEL,
                want);
        return -EINVAL;
    }
    if (r == 0) {
        set_err(e, "image %s needs extension API '%s'; dext implements %s (label %s)", ref, want,
                DEXT_EXTENSION_API_VERSION, API_VERSION_LABEL);
        return -EINVAL;
    }
    return 0;
}

/* Inspects image @ref, pulling it first when it is missing (or always, with
 * @pull_always, where a failed pull of an image that is there is not an error),
 * and checks its labels. @ret_img gets the inspect JSON (the caller frees it, on
 * failure too); @ret_pulled tells whether this call brought the image. */
static int image_to_check(struct dext_engine *e, const char *ref, bool pull_always,
                          json_t **ret_img, bool *ret_pulled)
{
    _cleanup_free_ char *qref = qescape(ref), *ipath = xasprintf("/images/%s/json", qref);
    int r = dext_engine_call(e, "GET", ipath, NULL, ret_img);

    *ret_pulled = false;
    if (r == 404 || pull_always) {
        int p = pull(e, ref);
        if (p < 0 && r == 404)
            return p;
        *ret_pulled = p == 0 && r == 404;
        json_decref(*ret_img);
        *ret_img = NULL;
        r = dext_engine_call(e, "GET", ipath, NULL, ret_img);
    }
    if (r < 0)
        return r;
    if (r != 200) {
        char why[sizeof(e->err)];
        memcpy(why, e->err, sizeof(why));
        set_err(e, "cannot inspect image %s: %s", ref, why);
        return -ENOENT;
    }
    return check_labels(e, ref, *ret_img);
}

int dext_engine_install(struct dext_engine *e, const struct dext_store *s, const char *ref,
                        bool update, char *name, size_t size)
{
    _cleanup_free_ char *qref = qescape(ref), *ext_dir = NULL, *staging = NULL, *root = NULL,
                        *old = NULL, *rmi = NULL;
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *meta = NULL;
    struct dext_meta_problems problems = {0};
    struct dext_store_entry prev = {0};
    json_t *img = NULL;
    bool pulled = false, had = false, recorded = false, moved_old = false;
    int r;

    if (dext_store_name_from_image(ref, name, size) < 0) {
        set_err(e, "'%s' is not an image reference dext can name an extension after", ref);
        return -EINVAL;
    }
    had = dext_store_get(s, name, &prev) == 0;
    if (had && !update) {
        set_err(e, "extension %s is already installed (from %s); use dext update", name,
                prev.image ? prev.image : prev.root);
        dext_store_entry_done(&prev);
        return -EEXIST;
    }
    if (!had && update) {
        set_err(e, "no installed extension named '%s'", name);
        return -ENOENT;
    }
    r = dext_engine_ping(e);
    if (r < 0)
        goto out;
    r = image_to_check(e, ref, update, &img, &pulled);
    if (r < 0)
        goto out;

    ext_dir = dext_store_ext_path(s, name);
    staging = xasprintf("%s/extensions/.staging-%s", s->data_dir, name);
    root = xasprintf("%s/root.new", ext_dir);
    (void)dext_rm_rf(staging);
    (void)dext_rm_rf(root);
    r = dext_mkdir_p(staging, 0700);
    if (r == 0)
        r = dext_mkdir_p(ext_dir, 0700);
    if (r < 0) {
        set_err(e, "cannot create %s: %s", staging, strerror(-r));
        goto out;
    }
    r = copy_out(e, ref, staging, root);
    if (r < 0)
        goto out;
    r = dext_ext_load_dir(root, &meta, &problems);
    if (r < 0) {
        set_err(e, "the extension in %s is not valid: %s%s", ref,
                problems.n ? problems.items[0] : strerror(-r), problems.n > 1 ? " (and more)" : "");
        goto out;
    }
    if (had) {
        /* Update: the old containers go, the project's volumes stay. */
        r = dext_engine_down(e, name, false);
        if (r < 0)
            goto out;
        old = xasprintf("%s/root.old", ext_dir);
        (void)dext_rm_rf(old);
        if (rename(prev.root, old) < 0) {
            r = -errno;
            set_err(e, "cannot move %s aside: %s", prev.root, strerror(errno));
            goto out;
        }
        moved_old = true;
    }
    {
        _cleanup_free_ char *final = xasprintf("%s/root", ext_dir);
        if (rename(root, final) < 0) {
            r = -errno;
            set_err(e, "cannot move the extension into %s: %s", final, strerror(errno));
            goto out;
        }
        free(root);
        root = TAKE_PTR(final);
        r = dext_store_add(s, &(struct dext_store_entry){.name = name,
                                                         .kind = (char *)"image",
                                                         .root = root,
                                                         .image = (char *)ref,
                                                         .ui_source = prev.ui_source});
        if (r < 0) {
            set_err(e, "cannot record extension %s: %s", name, strerror(-r));
            goto out;
        }
        recorded = true;
        r = dext_engine_up(
            e, s, &(struct dext_store_entry){.name = name, .root = root, .image = (char *)ref},
            meta);
    }
out:
    if (r < 0 && !had) {
        /* Nothing is left of a failed install. */
        char keep[sizeof(e->err)];
        memcpy(keep, e->err, sizeof(keep));
        if (recorded || meta)
            (void)dext_engine_down(e, name, true);
        if (ext_dir)
            (void)dext_store_remove(s, name);
        if (pulled) {
            rmi = xasprintf("/images/%s", qref);
            (void)dext_engine_call(e, "DELETE", rmi, NULL, NULL);
        }
        memcpy(e->err, keep, sizeof(keep));
    }
    if (r < 0 && moved_old) {
        /* A failed update puts the installed version back. */
        char keep[sizeof(e->err)];
        _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *prev_meta = NULL;
        memcpy(keep, e->err, sizeof(keep));
        (void)dext_engine_down(e, name, false);
        (void)dext_rm_rf(prev.root);
        if (rename(old, prev.root) == 0) {
            free(old);
            old = NULL;
            (void)dext_store_add(s, &prev);
            if (dext_ext_load_dir(prev.root, &prev_meta, &problems) == 0)
                (void)dext_engine_up(e, s, &prev, prev_meta);
        }
        memcpy(e->err, keep, sizeof(keep));
    }
    if (staging)
        (void)dext_rm_rf(staging);
    if (root && r < 0 && !recorded)
        (void)dext_rm_rf(root);
    if (old)
        (void)dext_rm_rf(old);
    dext_meta_problems_done(&problems);
    dext_store_entry_done(&prev);
    json_decref(img);
    return r < 0 ? r : 0;
}

int dext_engine_validate(struct dext_engine *e, const struct dext_store *s, const char *ref,
                         struct dext_meta_problems *problems)
{
    _cleanup_free_ char *qref = qescape(ref);
    _cleanup_free_ char *parent = xasprintf("%s/extensions", s->data_dir), *tmp = NULL;
    _cleanup_free_ char *staging = NULL, *root = NULL;
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *meta = NULL;
    json_t *img = NULL;
    bool pulled = false;
    int r = dext_engine_ping(e);

    if (r < 0)
        return r;
    r = image_to_check(e, ref, false, &img, &pulled);
    if (r < 0)
        goto out;
    /* The files go to a private directory that is removed again, whatever happens. */
    r = dext_mkdir_p(parent, 0700);
    tmp = xasprintf("%s/.validate-XXXXXX", parent);
    if (r == 0 && !mkdtemp(tmp))
        r = -errno;
    if (r < 0) {
        set_err(e, "cannot create a directory under %s: %s", parent, strerror(-r));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    staging = xasprintf("%s/staging", tmp);
    root = xasprintf("%s/root", tmp);
    r = dext_mkdir_p(staging, 0700);
    if (r < 0) {
        set_err(e, "cannot create %s: %s", staging, strerror(-r));
        goto out;
    }
    e->problems = problems;
    r = copy_out(e, ref, staging, root);
    e->problems = NULL;
    if (r < 0)
        goto out;
    r = dext_ext_load_dir(root, &meta, problems);
    if (r < 0)
        set_err(e, "the extension in %s is not valid", ref);
out:
    if (tmp)
        (void)dext_rm_rf(tmp);
    if (pulled) {
        /* Validation installs nothing: an image pulled for it goes again. */
        char keep[sizeof(e->err)];
        _cleanup_free_ char *rmi = xasprintf("/images/%s", qref);
        memcpy(keep, e->err, sizeof(keep));
        (void)dext_engine_call(e, "DELETE", rmi, NULL, NULL);
        memcpy(e->err, keep, sizeof(keep));
    }
    json_decref(img);
    return r < 0 ? r : 0;
}
