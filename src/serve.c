/* SPDX-License-Identifier: MIT */
/* `dext serve`: the dashboard and every installed extension. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>

#include "api/hub.h"
#include "api/site.h"
#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/xalloc.h"
#include "devloop.h"
#include "engine/watch.h"
#include "ext/load.h"
#include "ext/origin.h"
#include "ext/store.h"
#include "ext/watch.h"
#include "runtime/process.h"

struct served;

struct serve {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    struct dext_store store;
    struct dext_hub *hub;
    struct dext_watch *installs; /* DATA/extensions: installs and removals */
    uv_timer_t later;            /* a rescan after an extension stopped */
    struct served *list;
    struct kept_secret *kept; /* secrets of extensions restarted by an update */
    const struct dext_serve_opts *opts;
    bool stopping;
    bool closed;
};

/* The secret of an extension being restarted, for its next site: open pages go on. */
struct kept_secret {
    struct kept_secret *next;
    char *name;
    char secret[DEXT_SECRET_LEN + 1];
};

/* One installed extension. */
struct served {
    struct serve *sv;
    struct served *next;
    char *name;
    char *root;
    char *image;
    char *guest;
    char *sock;
    char *error; /* why it is not served, or NULL */
    struct dext_ext_meta *meta;
    struct dext_site *site;
    struct dext_proc_rt *rt;
    struct dext_engine_watch *watch; /* an image's backend containers */
    bool engine;
    struct dext_devloop *devloop;
    struct dext_watch *fix;    /* not served: its directory, for a fixed metadata.json */
    struct dext_watch *record; /* DATA/extensions/NAME: an update replaces root and record */
    dev_t root_dev;            /* the root directory served, to tell a replaced one */
    ino_t root_ino;
    bool stopping;
};

static uint64_t env_u64(const char *name)
{
    const char *v = getenv(name);
    uint64_t x = 0;

    if (v && safe_atou64(v, &x) < 0)
        x = 0;
    return x;
}

/* ---- one extension ---- */

static void served_free(struct served *x)
{
    struct serve *sv = x->sv;

    for (struct served **pp = &sv->list; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    if (x->sock && !x->engine)
        (void)unlink(x->sock); /* a container backend keeps its socket */
    dext_engine_watch_free(x->watch);
    dext_watch_free(x->fix);
    dext_watch_free(x->record);
    dext_ext_meta_free(x->meta);
    free(x->name);
    free(x->root);
    free(x->image);
    free(x->guest);
    free(x->sock);
    free(x->error);
    free(x);
}

static void rescan(void *data);
static void maybe_finish(struct serve *sv);

static void on_later(uv_timer_t *t)
{
    rescan(t->data);
}

static void on_backend_stopped(void *data)
{
    struct served *x = data;
    struct serve *sv = x->sv;

    dext_proc_rt_free(x->rt);
    x->rt = NULL;
    dext_store_clear_state(&sv->store, x->name);
    log_info("%s: stopped", x->name);
    served_free(x);
    if (sv->stopping)
        maybe_finish(sv);
    else /* a re-install may be waiting for this one to go; not from inside a rescan */
        (void)uv_timer_start(&sv->later, on_later, 0, 0);
}

static void served_stop(struct served *x)
{
    if (x->stopping)
        return;
    x->stopping = true;
    dext_devloop_free(x->devloop);
    x->devloop = NULL;
    dext_site_free(x->site);
    x->site = NULL;
    if (x->rt)
        dext_proc_rt_stop(x->rt, on_backend_stopped, x);
    else
        on_backend_stopped(x);
}

static void on_restart(void *data)
{
    struct served *x = data;
    struct dext_backend *b = x->site ? dext_site_backend(x->site) : NULL;

    if (b)
        dext_backend_drop_idle(b);
}

static enum dext_backend_status no_backend_status(void *data, char *msg, size_t size)
{
    (void)snprintf(msg, size, "no backend command: set vm.x-dext-command in metadata.json");
    return DEXT_BACKEND_DOWN;
}

/* Takes the kept secret of @name out of the list; NULL when none (free the result). */
static struct kept_secret *take_kept(struct serve *sv, const char *name)
{
    for (struct kept_secret **pp = &sv->kept; *pp; pp = &(*pp)->next) {
        struct kept_secret *k = *pp;
        if (strcmp(k->name, name) == 0) {
            *pp = k->next;
            return k;
        }
    }
    return NULL;
}

static void kept_free(struct kept_secret *k)
{
    if (!k)
        return;
    explicit_bzero(k->secret, sizeof(k->secret));
    free(k->name);
    free(k);
}

static void kept_freep(struct kept_secret **k)
{
    kept_free(*k);
}

static int served_site(struct served *x, const struct dext_store_entry *e)
{
    struct serve *sv = x->sv;
    _cleanup_(kept_freep) struct kept_secret *kept = take_kept(sv, x->name);
    char install_id[DEXT_INSTALL_ID_LEN + 1];
    _cleanup_free_ char *ext_dir = dext_store_ext_path(&sv->store, x->name);
    int saved_port, r;
    struct dext_site_config cfg = {
        .name = x->name,
        .root = x->root,
        .image = x->image,
        .meta = x->meta,
        .socket_path = x->sock,
        .guest_dir = x->guest,
        .self_exe = sv->opts->self_exe,
        .listen_host = sv->opts->listen_host ? sv->opts->listen_host : "127.0.0.1",
        .hub = sv->hub,
        .dev_url = e->ui_source,
        .install_id = install_id,
        /* No reload connection per page here: a person may keep many tabs of one
         * extension open, and each would hold one of the browser's 6 connections. */
        .reload = false,
        .engine = x->engine,
        .secret = kept ? kept->secret : NULL,
    };

    bool fresh;

    dext_origin_load(ext_dir, &saved_port, install_id);
    fresh = !install_id[0];
    if (fresh && dext_origin_new_id(install_id) < 0)
        return -EIO;
    cfg.port = saved_port;
    r = dext_site_new(&sv->loop, &cfg, &x->site);
    if (r == UV_EADDRINUSE && saved_port) {
        /* Someone else has the port now: a new origin (its storage starts empty). */
        log_warn("%s: port %d is taken; serving on another port (its pages start with empty "
                 "storage)",
                 x->name, saved_port);
        cfg.port = 0;
        r = dext_site_new(&sv->loop, &cfg, &x->site);
    }
    if (r < 0)
        return r;
    if (fresh || dext_site_port(x->site) != saved_port)
        (void)dext_origin_save(ext_dir, dext_site_port(x->site), install_id);
    dext_site_set_limits(x->site, &(struct dext_http_limits){
                                      .head_timeout_ms = env_u64("DEXT_HEAD_TIMEOUT_MS"),
                                      .idle_timeout_ms = env_u64("DEXT_IDLE_TIMEOUT_MS"),
                                      .body_timeout_ms = env_u64("DEXT_BODY_TIMEOUT_MS"),
                                      .max_body = env_u64("DEXT_MAX_BODY"),
                                  });
    return 0;
}

static void served_start(struct serve *sv, const char *name);

/* True when what is installed under x's name is no longer what x serves: another
 * image, or a root directory replaced by `dext update`. */
static bool served_outdated(struct served *x)
{
    struct dext_store_entry e = {0};
    struct stat st;
    bool outdated;

    if (dext_store_get(&x->sv->store, x->name, &e) < 0)
        return false; /* removed or being rewritten: the installs watch sees to it */
    outdated = strcmp(e.root, x->root) != 0 || strcmp(e.image ? e.image : "", x->image) != 0 ||
               stat(e.root, &st) < 0 || st.st_dev != x->root_dev || st.st_ino != x->root_ino;
    dext_store_entry_done(&e);
    return outdated;
}

/* The extension's record directory changed: an update is served as a restart of the
 * extension on the same port (its pages keep their origin and storage). */
static void on_record_changed(void *data)
{
    struct served *x = data;

    if (x->stopping || x->sv->stopping || !served_outdated(x))
        return;
    log_info("%s: updated; serving the new version", x->name);
    if (x->site) {
        struct kept_secret *k = xcalloc(1, sizeof(*k));
        k->name = xstrdup(x->name);
        memcpy(k->secret, dext_site_secret(x->site), DEXT_SECRET_LEN + 1);
        k->next = x->sv->kept;
        x->sv->kept = k;
    }
    served_stop(x); /* started again by the rescan that follows its stop */
}

static void on_fixed(void *data)
{
    struct served *x = data;
    struct serve *sv = x->sv;
    char *name;

    if (x->stopping || sv->stopping)
        return;
    name = xstrdup(x->name);
    log_info("%s: its directory changed; trying again", name);
    served_free(x);
    served_start(sv, name);
    free(name);
}

static void served_start(struct serve *sv, const char *name)
{
    struct served *x = xcalloc(1, sizeof(*x));
    struct dext_store_entry e = {0};
    struct dext_meta_problems problems = {0};
    _cleanup_free_ char *log = NULL, *url = NULL, *ui_dir = NULL;
    const char *socket_name;
    int r;

    x->sv = sv;
    x->name = xstrdup(name);
    x->next = sv->list;
    sv->list = x;
    if (dext_store_get(&sv->store, name, &e) < 0) {
        x->error = xstrdup("its record is unreadable; remove and install it again");
        return;
    }
    x->root = xstrdup(e.root);
    x->image = xstrdup(e.image ? e.image : "");
    x->engine = e.kind && strcmp(e.kind, "image") == 0;
    {
        struct stat st;
        _cleanup_free_ char *ext_dir = dext_store_ext_path(&sv->store, name);
        if (stat(x->root, &st) == 0) {
            x->root_dev = st.st_dev;
            x->root_ino = st.st_ino;
        }
        (void)dext_watch_new(&sv->loop, ext_dir, false, on_record_changed, x, &x->record);
    }
    r = dext_ext_load_dir(x->root, &x->meta, &problems);
    if (r < 0) {
        x->error = problems.n ? xasprintf("not a valid extension: %s", problems.items[0])
                              : xasprintf("cannot load %s: %s", x->root, strerror(-r));
        dext_meta_problems_done(&problems);
        goto out;
    }
    x->guest = dext_store_guest_dir(&sv->store, name);
    if (dext_mkdir_p(x->guest, 0700) < 0) {
        x->error = xasprintf("cannot create %s", x->guest);
        goto out;
    }
    socket_name = dext_ext_meta_socket(x->meta);
    if (socket_name) {
        x->sock = xasprintf("%s/%s", x->guest, socket_name);
        if (strlen(x->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            x->error = xasprintf("socket path too long for a unix socket: %s", x->sock);
            free(x->sock);
            x->sock = NULL;
            goto out;
        }
        if (!x->engine)
            (void)unlink(x->sock);
    }
    r = served_site(x, &e);
    if (r < 0) {
        x->error = xasprintf("cannot serve it: %s", uv_strerror(r));
        goto out;
    }
    log = dext_store_log_path(&sv->store, name);
    if (x->engine) {
        /* An image: its backend containers run as long as it is installed. */
        x->watch = x->meta->has_vm ? dext_engine_watch_new(&sv->loop, name, x->image, x->guest,
                                                           socket_name, sv->opts->self_exe)
                                   : NULL;
        if (x->watch && dext_site_backend(x->site))
            dext_backend_set_status_cb(dext_site_backend(x->site), dext_engine_watch_status,
                                       x->watch);
    } else if (x->meta->vm_command) {
        r = dext_proc_rt_new(&sv->loop,
                             &(struct dext_proc_rt_config){
                                 .name = name,
                                 .ext_dir = x->root,
                                 .guest_dir = x->guest,
                                 .log_path = log,
                                 .self_exe = sv->opts->self_exe,
                                 .image = x->image,
                                 .argv = x->meta->vm_command,
                                 .stop_grace_ms = env_u64("DEXT_STOP_GRACE_MS"),
                             },
                             &x->rt);
        if (r == 0) {
            if (dext_site_backend(x->site))
                dext_backend_set_status_cb(dext_site_backend(x->site), dext_proc_rt_status, x->rt);
            dext_proc_rt_set_restart_cb(x->rt, on_restart, x);
            (void)dext_proc_rt_start(x->rt);
        }
    } else if (dext_site_backend(x->site)) {
        dext_backend_set_status_cb(dext_site_backend(x->site), no_backend_status, NULL);
    }
    ui_dir = xasprintf("%s/%s", x->root, x->meta->has_ui ? x->meta->ui_root : "");
    (void)dext_devloop_new(&sv->loop, &sv->store, name, ui_dir, false, &x->site, &x->devloop);
    url = dext_site_url(x->site);
    (void)dext_store_set_state_shared(&sv->store, name, getpid(),
                                      x->rt ? dext_proc_rt_pid(x->rt) : 0, url);
    log_info("serving %s on port %d", name, dext_site_port(x->site));
out:
    if (x->error) {
        log_warn("%s: %s", name, x->error);
        /* Tried again when something in its directory changes (a fixed metadata.json). */
        if (x->root && !x->site)
            (void)dext_watch_new(&sv->loop, x->root, false, on_fixed, x, &x->fix);
    }
    dext_store_entry_done(&e);
}

/* ---- the set of extensions ---- */

static struct served *find(struct serve *sv, const char *name)
{
    for (struct served *x = sv->list; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x;
    return NULL;
}

/* Starts what was installed, stops what was removed. */
static void rescan(void *data)
{
    struct serve *sv = data;
    char **names = NULL;
    struct served *x, *next;

    if (sv->stopping || dext_store_list(&sv->store, &names) < 0)
        return;
    for (x = sv->list; x; x = next) {
        bool present = false;
        next = x->next;
        for (char **n = names; *n; n++)
            present = present || strcmp(*n, x->name) == 0;
        if (!present && !x->stopping) {
            log_info("%s: removed; stopping it", x->name);
            served_stop(x); /* may free x at once; next was taken before */
        }
    }
    for (char **n = names; *n; n++)
        if (!find(sv, *n))
            served_start(sv, *n);
    dext_strv_free(names);
}

/* ---- the dashboard's callbacks ---- */

static json_t *list_extensions(void *data)
{
    struct serve *sv = data;
    json_t *arr = json_array();

    for (struct served *x = sv->list; x; x = x->next) {
        char *url;
        json_t *o;
        if (x->stopping)
            continue;
        url = x->site ? dext_site_url(x->site) : NULL;
        o = json_pack("{s:s, s:s, s:s?, s:i, s:b, s:s?}", "name", x->name, "title",
                      x->meta && x->meta->ui_title ? x->meta->ui_title : x->name, "url", url,
                      "port", x->site ? dext_site_port(x->site) : 0, "icon",
                      x->meta && x->meta->icon, "error", x->error);
        free(url);
        json_array_append_new(arr, o);
    }
    return arr;
}

static int icon_of(void *data, const char *name, const char **ret_root, const char **ret_icon)
{
    struct served *x = find(data, name);

    if (!x || x->stopping || !x->meta || !x->meta->icon)
        return -ENOENT;
    *ret_root = x->root;
    *ret_icon = x->meta->icon;
    return 0;
}

/* ---- start and stop ---- */

static void maybe_finish(struct serve *sv)
{
    if (sv->list || sv->closed)
        return;
    sv->closed = true;
    while (sv->kept) {
        struct kept_secret *k = sv->kept;
        sv->kept = k->next;
        kept_free(k);
    }
    dext_watch_free(sv->installs);
    sv->installs = NULL;
    dext_hub_free(sv->hub);
    sv->hub = NULL;
    uv_close((uv_handle_t *)&sv->later, NULL);
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct serve *sv = h->data;
    struct served *x, *next;

    if (sv->stopping) {
        log_warn("second signal: not waiting for the backends any more");
        for (x = sv->list; x; x = x->next)
            if (x->rt)
                dext_proc_rt_free(x->rt), x->rt = NULL;
        while (sv->list) {
            dext_store_clear_state(&sv->store, sv->list->name);
            served_free(sv->list);
        }
        maybe_finish(sv);
        return;
    }
    sv->stopping = true;
    log_info("signal %d: stopping", sig);
    for (x = sv->list; x; x = next) {
        next = x->next;
        if (!x->stopping)
            served_stop(x);
    }
    maybe_finish(sv);
}

int dext_serve_run(const struct dext_serve_opts *o)
{
    struct serve sv = {.opts = o};
    _cleanup_free_ char *url = NULL, *installs = NULL;
    int r;

    r = dext_store_open(&sv.store);
    if (r < 0) {
        fprintf(stderr, "dext: cannot create the state directories: %s\n", strerror(-r));
        return r;
    }
    r = uv_loop_init(&sv.loop);
    if (r < 0)
        goto out;
    r = dext_hub_new(&sv.loop,
                     &(struct dext_hub_config){.listen_host = o->listen_host,
                                               .port = o->port,
                                               .list = list_extensions,
                                               .icon = icon_of,
                                               .data = &sv},
                     &sv.hub);
    if (r < 0) {
        fprintf(stderr, "dext: cannot serve the dashboard on port %d: %s\n", o->port,
                uv_strerror(r));
        goto out_loop;
    }
    (void)uv_timer_init(&sv.loop, &sv.later);
    sv.later.data = &sv;
    installs = xasprintf("%s/extensions", sv.store.data_dir);
    r = dext_watch_new(&sv.loop, installs, false, rescan, &sv, &sv.installs);
    if (r < 0)
        log_warn("cannot watch %s: installs show up after a restart only", installs);
    rescan(&sv);

    (void)uv_signal_init(&sv.loop, &sv.sigint);
    (void)uv_signal_init(&sv.loop, &sv.sigterm);
    sv.sigint.data = sv.sigterm.data = &sv;
    (void)uv_signal_start(&sv.sigint, on_signal, SIGINT);
    (void)uv_signal_start(&sv.sigterm, on_signal, SIGTERM);

    url = dext_hub_url(sv.hub);
    printf("%s\n", url);
    fflush(stdout);
    log_info("dashboard at port %d", dext_hub_port(sv.hub));
    (void)uv_run(&sv.loop, UV_RUN_DEFAULT);
    r = 0;
out_loop:
    if (r < 0 && sv.hub)
        dext_hub_free(sv.hub);
    (void)uv_run(&sv.loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&sv.loop);
out:
    dext_store_done(&sv.store);
    return r;
}
