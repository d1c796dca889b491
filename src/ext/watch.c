/* SPDX-License-Identifier: MIT */
/* Directory watches with a quiet period. */
#include "ext/watch.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"

struct dir_watch {
    uv_fs_event_t ev;
    struct dext_watch *w;
    char *path;
    dev_t dev; /* the directory watched: a new one at the same path needs a new watch */
    ino_t ino;
};

struct dext_watch {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct dir_watch *dirs[DEXT_WATCH_MAX_DIRS];
    size_t n_dirs;
    bool recursive;
    bool closing;
    int n_open;
    dext_watch_cb on_change;
    void *data;
};

static void on_closed(uv_handle_t *h)
{
    struct dext_watch *w = h->data;

    if (h->type == UV_FS_EVENT) {
        struct dir_watch *d = container_of((uv_fs_event_t *)h, struct dir_watch, ev);
        free(d->path);
        free(d);
    }
    if (--w->n_open == 0)
        free(w);
}

static void on_quiet(uv_timer_t *t)
{
    struct dext_watch *w = t->data;

    if (!w->closing)
        w->on_change(w->data);
}

static struct dir_watch *watched(struct dext_watch *w, const char *path)
{
    for (size_t i = 0; i < w->n_dirs; i++)
        if (strcmp(w->dirs[i]->path, path) == 0)
            return w->dirs[i];
    return NULL;
}

/* Drops the watches of @path and the directories under it (they were removed or
 * replaced), so their slots come back. */
static void drop_tree(struct dext_watch *w, const char *path)
{
    size_t n = strlen(path), o = 0;

    for (size_t i = 0; i < w->n_dirs; i++) {
        struct dir_watch *d = w->dirs[i];
        if (strncmp(d->path, path, n) == 0 && (d->path[n] == '\0' || d->path[n] == '/'))
            uv_close((uv_handle_t *)&d->ev, on_closed);
        else
            w->dirs[o++] = d;
    }
    w->n_dirs = o;
}

static void add_tree(struct dext_watch *w, const char *path);

static void on_event(uv_fs_event_t *ev, const char *name, int events, int status)
{
    struct dir_watch *d = container_of(ev, struct dir_watch, ev);
    struct dext_watch *w = d->w;

    if (w->closing)
        return;
    if (w->recursive && name && (events & UV_RENAME)) {
        /* A directory made (or moved) here gets its own watch; one removed (or
         * replaced by another of the same name, as a rebuild does) loses its old one. */
        char *p = xasprintf("%s/%s", d->path, name);
        struct dir_watch *old = watched(w, p);
        struct stat st;
        bool is_dir = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
        if (old && (!is_dir || old->dev != st.st_dev || old->ino != st.st_ino))
            drop_tree(w, p);
        if (is_dir && !watched(w, p))
            add_tree(w, p);
        free(p);
    }
    (void)uv_timer_start(&w->timer, on_quiet, DEXT_WATCH_DEBOUNCE_MS, 0);
}

static int add_one(struct dext_watch *w, const char *path)
{
    struct dir_watch *d;
    struct stat st;
    int r;

    if (w->n_dirs >= DEXT_WATCH_MAX_DIRS) {
        log_warn("watch: more than %d directories under the UI root; '%s' is not watched",
                 DEXT_WATCH_MAX_DIRS, path);
        return -EMSGSIZE;
    }
    d = xcalloc(1, sizeof(*d));
    d->w = w;
    d->path = xstrdup(path);
    if (stat(path, &st) == 0) {
        d->dev = st.st_dev;
        d->ino = st.st_ino;
    }
    r = uv_fs_event_init(w->loop, &d->ev);
    if (r < 0) {
        free(d->path);
        free(d);
        return r;
    }
    d->ev.data = w;
    w->n_open++;
    r = uv_fs_event_start(&d->ev, on_event, path, 0);
    w->dirs[w->n_dirs++] = d;
    if (r < 0)
        log_warn("watch: cannot watch '%s': %s", path, uv_strerror(r));
    return r;
}

static void add_children(struct dext_watch *w, const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *de;

    while (dir && (de = readdir(dir))) {
        char *p;
        struct stat st;
        if (de->d_name[0] == '.' || strcmp(de->d_name, "node_modules") == 0)
            continue;
        p = xasprintf("%s/%s", path, de->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && !watched(w, p))
            add_tree(w, p);
        free(p);
    }
    if (dir)
        (void)closedir(dir);
}

static void add_tree(struct dext_watch *w, const char *path)
{
    if (add_one(w, path) == 0 && w->recursive)
        add_children(w, path);
}

int dext_watch_new(uv_loop_t *loop, const char *dir, bool recursive, dext_watch_cb on_change,
                   void *data, struct dext_watch **ret)
{
    struct dext_watch *w = xcalloc(1, sizeof(*w));
    int r;

    w->loop = loop;
    w->recursive = recursive;
    w->on_change = on_change;
    w->data = data;
    (void)uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->n_open = 1;
    r = add_one(w, dir);
    if (r < 0) {
        dext_watch_free(w);
        return r;
    }
    if (recursive)
        add_children(w, dir);
    *ret = w;
    return 0;
}

void dext_watch_free(struct dext_watch *w)
{
    if (!w || w->closing)
        return;
    w->closing = true;
    for (size_t i = 0; i < w->n_dirs; i++)
        uv_close((uv_handle_t *)&w->dirs[i]->ev, on_closed);
    w->n_dirs = 0;
    uv_close((uv_handle_t *)&w->timer, on_closed);
}
