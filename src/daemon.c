/* SPDX-License-Identifier: MIT */
/* `dext run`: load, install in place, serve, supervise, stop. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "api/hub.h"
#include "api/site.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/parse-util.h"
#include "base/xalloc.h"
#include "docker/client.h"
#include "engine/exec.h"
#include "devloop.h"
#include "ext/load.h"
#include "ext/origin.h"
#include "ext/store.h"
#include "runtime/process.h"

/* What the engine says of the backend containers, kept current from its event
 * stream, for the relay's "is it running" question. */
struct engine_watch {
    struct dext_docker *docker;
    struct dext_docker_call *events;
    struct dext_buf line;
    char *filters; /* escaped query value */
    int running;   /* containers running; -1 unknown */
    char last_exit[16];
    bool listing, stale, closing;
    /* dext without root: the root backend's socket is opened to us from inside its
     * container (dext-sockperm) each time the backend (re)starts. */
    struct dext_engine_target *target;
    uv_timer_t timer;
    struct dext_proc *fix;
    char *sock, *sock_name, *helper, *helper_copy;
    uint64_t deadline;
    bool warned;
};

struct dext_daemon {
    uv_loop_t loop;
    struct engine_watch *watch;
    uv_signal_t sigint, sigterm;
    struct dext_store store;
    struct dext_site *site;
    struct dext_proc_rt *rt;
    struct dext_hub *hub;         /* dext's own origin: file chooser and views */
    struct dext_devloop *devloop; /* UI reloads, ui-source changes */
    char name[DEXT_STORE_NAME_MAX + 1];
    bool stopping;
};

static enum dext_backend_status no_backend_status(void *data, char *msg, size_t size)
{
    (void)snprintf(msg, size, "no backend command: set vm.x-dext-command or --backend-cmd");
    return DEXT_BACKEND_DOWN;
}

static void on_restart(void *data)
{
    struct dext_daemon *d = data;
    struct dext_backend *b = d->site ? dext_site_backend(d->site) : NULL;

    if (b)
        dext_backend_drop_idle(b);
    (void)dext_store_set_state(&d->store, d->name, getpid(), dext_proc_rt_pid(d->rt), NULL);
}

static void watch_list(struct engine_watch *w);
static void watch_arm(struct engine_watch *w);

static void on_watch_list(void *data, int status, const char *body, size_t len, int err,
                          const char *msg)
{
    struct engine_watch *w = data;
    json_t *list = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *c;
    size_t i;

    w->listing = false;
    log_debug("engine: backend containers listed (%d): %d", status, (int)json_array_size(list));
    if (w->closing) {
        json_decref(list);
        return;
    }
    if (json_is_array(list)) {
        w->running = 0;
        json_array_foreach(list, i, c) w->running += json_is_string(json_object_get(c, "Id"));
    }
    json_decref(list);
    if (w->stale) {
        w->stale = false;
        watch_list(w);
    }
}

static void watch_list(struct engine_watch *w)
{
    _cleanup_free_ char *path = NULL;

    if (w->listing) {
        w->stale = true;
        return;
    }
    w->listing = true;
    path = xasprintf("/containers/json?filters=%s", w->filters);
    dext_docker_request(w->docker, "GET", path, NULL, 0, on_watch_list, w);
}

static void on_watch_event(void *data, const char *p, size_t n)
{
    struct engine_watch *w = data;

    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            (void)dext_buf_append(&w->line, p + i, 1);
            continue;
        }
        json_t *o = json_loadb(w->line.data ? w->line.data : "", w->line.len, 0, NULL);
        const char *action = json_string_value(json_object_get(o, "Action"));
        const char *code = json_string_value(json_object_get(
            json_object_get(json_object_get(o, "Actor"), "Attributes"), "exitCode"));
        log_debug("engine event: %s", action ? action : "?");
        if (action && strcmp(action, "die") == 0 && code)
            (void)snprintf(w->last_exit, sizeof(w->last_exit), "%s", code);
        if (action && strcmp(action, "die") == 0 && w->running > 0)
            w->running--; /* at once: the list call confirms */
        /* The list can lag an event by a moment; the next event lists again. */
        if (action)
            watch_list(w);
        if (action && strcmp(action, "start") == 0)
            watch_arm(w);
        json_decref(o);
        w->line.len = 0;
    }
}

static void on_watch_end(void *data, int status, const char *body, size_t len, int err,
                         const char *msg)
{
    struct engine_watch *w = data;

    w->events = NULL;
    w->running = -1;
    log_warn("lost the engine's event stream: %s", msg ? msg : "closed");
}

static const struct dext_docker_stream_ops watch_ops = {
    .on_data = on_watch_event,
    .on_end = on_watch_end,
};

#define SOCK_FIX_POLL_MS 100
#define SOCK_FIX_WAIT_MS 30000

static bool sock_needs_fix(const struct engine_watch *w)
{
    return w->sock && access(w->sock, F_OK) == 0 && access(w->sock, W_OK) < 0;
}

static void on_fix_output(void *data, int fd, const char *p, size_t n)
{
    struct engine_watch *w = data;

    if (!w->warned)
        log_warn("opening the backend socket to dext: %.*s", (int)(n > 300 ? 300 : n), p);
    w->warned = true;
}

static void on_fix_exit(void *data, int64_t status, int sig)
{
    struct engine_watch *w = data;

    dext_proc_free(w->fix);
    w->fix = NULL;
    (void)unlink(w->helper_copy);
    if (status != 0 && !w->warned) {
        log_warn("cannot open the backend socket %s to dext (status %lld)", w->sock,
                 (long long)status);
        w->warned = true;
    }
}

/* Copies the static helper into the socket directory, where the container sees it. */
static int place_helper(struct engine_watch *w)
{
    _cleanup_free_ char *bin = NULL;
    size_t len;
    int r = dext_read_file_at(AT_FDCWD, w->helper, 16 * 1024 * 1024, &bin, &len);

    if (r < 0)
        return r;
    (void)unlink(w->helper_copy);
    return dext_write_file_atomic(w->helper_copy, bin, len, 0755);
}

static void on_fix_timer(uv_timer_t *t)
{
    struct engine_watch *w = t->data;
    _cleanup_free_ char *inside = NULL;
    char *argv[3];
    int r;

    if (w->fix)
        return;
    if ((access(w->sock, F_OK) == 0 && !sock_needs_fix(w)) || uv_now(t->loop) > w->deadline) {
        (void)uv_timer_stop(t);
        return;
    }
    if (!sock_needs_fix(w))
        return;
    r = place_helper(w);
    if (r < 0) {
        if (!w->warned)
            log_warn("cannot place %s in %s: %s", w->helper, w->helper_copy, strerror(-r));
        w->warned = true;
        (void)uv_timer_stop(t);
        return;
    }
    inside = xasprintf("/run/guest-services/%s", w->sock_name);
    argv[0] = (char *)"/run/guest-services/.dext-sockperm";
    argv[1] = inside;
    argv[2] = NULL;
    (void)dext_engine_exec_as(w->target, "0", argv, NULL, NULL, on_fix_output, on_fix_exit, w,
                              &w->fix);
}

/* Watches for the backend's socket after a (re)start, when dext is not root. */
static void watch_arm(struct engine_watch *w)
{
    if (!w->target)
        return;
    w->deadline = uv_now(w->timer.loop) + SOCK_FIX_WAIT_MS;
    (void)uv_timer_start(&w->timer, on_fix_timer, 0, SOCK_FIX_POLL_MS);
}

static enum dext_backend_status engine_status(void *data, char *msg, size_t size)
{
    struct engine_watch *w = data;

    if (w->running != 0 && sock_needs_fix(w)) {
        (void)snprintf(msg, size, "the backend's socket is being opened to dext");
        return DEXT_BACKEND_STARTING;
    }
    if (w->running != 0)
        return DEXT_BACKEND_UP;
    if (w->last_exit[0])
        (void)snprintf(msg, size, "the backend container exited with status %s", w->last_exit);
    else
        (void)snprintf(msg, size, "no backend container runs");
    return DEXT_BACKEND_DOWN;
}

static struct engine_watch *watch_new(uv_loop_t *loop, const char *name, const char *image,
                                      const char *guest, const char *sock_name,
                                      const char *self_exe)
{
    struct engine_watch *w = xcalloc(1, sizeof(*w));
    _cleanup_free_ char *events = NULL;

    if (dext_docker_new(loop, NULL, &w->docker) < 0) {
        free(w);
        return NULL;
    }
    (void)uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    if (getuid() != 0 && sock_name) {
        const char *slash = strrchr(self_exe, '/');
        w->target = dext_engine_target_new(loop, name, image);
        w->sock = xasprintf("%s/%s", guest, sock_name);
        w->sock_name = xstrdup(sock_name);
        w->helper = xasprintf("%.*s/dext-sockperm", slash ? (int)(slash - self_exe) : 1,
                              slash ? self_exe : ".");
        w->helper_copy = xasprintf("%s/.dext-sockperm", guest);
    }
    dext_buf_init(&w->line, 64 * 1024);
    w->running = -1;
    w->filters = xasprintf("%%7B%%22label%%22%%3A%%5B%%22com.docker.compose.project%%3D%s-"
                           "desktop-extension%%22%%5D%%7D",
                           name);
    events = xasprintf("/events?filters=%s", w->filters);
    w->events = dext_docker_stream(w->docker, "GET", events, NULL, 0, &watch_ops, w);
    watch_list(w);
    watch_arm(w);
    return w;
}

static void on_watch_closed(uv_handle_t *h)
{
    struct engine_watch *w = h->data;

    free(w->sock);
    free(w->sock_name);
    free(w->helper);
    free(w->helper_copy);
    free(w);
}

static void watch_free(struct engine_watch *w)
{
    if (!w)
        return;
    w->closing = true;
    if (w->events)
        dext_docker_call_cancel(w->events);
    if (w->fix) {
        dext_proc_free(w->fix);
        (void)unlink(w->helper_copy);
    }
    dext_engine_target_free(w->target);
    dext_docker_free(w->docker);
    dext_buf_done(&w->line);
    free(w->filters);
    uv_close((uv_handle_t *)&w->timer, on_watch_closed);
}

static void close_all(struct dext_daemon *d)
{
    watch_free(d->watch);
    d->watch = NULL;
    dext_devloop_free(d->devloop);
    d->devloop = NULL;
    dext_site_free(d->site);
    d->site = NULL;
    dext_hub_free(d->hub);
    d->hub = NULL;
    dext_proc_rt_free(d->rt);
    d->rt = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
}

static void on_backend_stopped(void *data)
{
    close_all(data);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct dext_daemon *d = h->data;

    if (d->stopping) {
        /* A second signal: stop waiting for the backend. */
        log_warn("second signal: killing the backend now");
        close_all(d);
        return;
    }
    d->stopping = true;
    log_info("signal %d: stopping", sig);
    /* Stop taking requests at once; the backend gets its grace period. */
    dext_devloop_free(d->devloop);
    d->devloop = NULL;
    dext_site_free(d->site);
    d->site = NULL;
    dext_hub_free(d->hub);
    d->hub = NULL;
    if (d->rt)
        dext_proc_rt_stop(d->rt, on_backend_stopped, d);
    else
        close_all(d);
}

static uint64_t env_u64(const char *name)
{
    const char *v = getenv(name);
    uint64_t x = 0;

    if (v && safe_atou64(v, &x) < 0) {
        log_warn("ignoring %s='%s': not a number", name, v);
        x = 0;
    }
    return x;
}

static char *image_for(const struct dext_ext_meta *m, const char *name)
{
    if (m->vm_image && !strstr(m->vm_image, "${"))
        return xstrdup(m->vm_image);
    return xasprintf("local/%s:dev", name);
}

/* This install's id (made and kept on first use), so the page can tell its storage
 * from what another extension left on the same port. */
static void origin_id(const struct dext_store *st, const char *name, char *id)
{
    _cleanup_free_ char *dir = dext_store_ext_path(st, name);
    int port;

    dext_origin_load(dir, &port, id);
    if (!id[0] && (dext_origin_new_id(id) < 0 || dext_origin_save(dir, port, id) < 0))
        id[0] = '\0';
}

int dext_daemon_run(const struct dext_run_opts *o)
{
    struct dext_daemon d = {0};
    struct dext_store_entry old = {0};
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *meta = NULL;
    _cleanup_free_ char *root = NULL, *image = NULL, *guest = NULL, *sock = NULL, *log = NULL,
                        *url = NULL, *ui_dir = NULL;
    struct dext_meta_problems problems = {0};
    char install_id[DEXT_INSTALL_ID_LEN + 1];
    const char *socket_name;
    char **argv;
    int r;

    if (o->engine) {
        root = xstrdup(o->source);
        image = xstrdup(o->image);
        (void)snprintf(d.name, sizeof(d.name), "%s", o->name);
    } else {
        root = realpath(o->source, NULL);
    }
    if (!root) {
        r = -errno;
        fprintf(stderr, "dext: %s: %s\n", o->source, strerror(errno));
        return r;
    }
    r = dext_ext_load_dir(root, &meta, &problems);
    if (r < 0) {
        fprintf(stderr, "dext: %s is not a valid extension:\n", o->source);
        for (size_t i = 0; i < problems.n; i++)
            fprintf(stderr, "  %s\n", problems.items[i]);
        dext_meta_problems_done(&problems);
        return r;
    }
    r = o->engine ? 0 : dext_store_name_from_dir(root, d.name, sizeof(d.name));
    if (r < 0) {
        fprintf(stderr, "dext: cannot make an extension name from '%s'\n", root);
        return r;
    }
    r = dext_store_open(&d.store);
    if (r < 0) {
        fprintf(stderr, "dext: cannot create the state directories: %s\n", strerror(-r));
        return r;
    }
    if (dext_store_get(&d.store, d.name, &old) < 0)
        old = (struct dext_store_entry){0};
    if (!o->engine) {
        image = image_for(meta, d.name);
        r = dext_store_add(&d.store, &(struct dext_store_entry){.name = d.name,
                                                                .kind = (char *)"dir",
                                                                .root = root,
                                                                .image = image,
                                                                .ui_source = old.ui_source});
    }
    if (r < 0) {
        fprintf(stderr, "dext: cannot record extension %s: %s\n", d.name, strerror(-r));
        goto out;
    }
    guest = dext_store_guest_dir(&d.store, d.name);
    r = dext_mkdir_p(guest, 0700);
    if (r < 0) {
        fprintf(stderr, "dext: cannot create %s: %s\n", guest, strerror(-r));
        goto out;
    }
    socket_name = dext_ext_meta_socket(meta);
    if (socket_name) {
        sock = xasprintf("%s/%s", guest, socket_name);
        if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            fprintf(stderr, "dext: socket path too long for a unix socket: %s\n", sock);
            r = -ENAMETOOLONG;
            goto out;
        }
        if (!o->engine)
            (void)unlink(sock); /* a stale socket from an earlier run */
    }
    log = dext_store_log_path(&d.store, d.name);
    origin_id(&d.store, d.name, install_id);

    r = uv_loop_init(&d.loop);
    if (r < 0)
        goto out;
    r = dext_hub_new(&d.loop, &(struct dext_hub_config){0}, &d.hub);
    if (r < 0) {
        fprintf(stderr, "dext: cannot listen for dext's own pages: %s\n", uv_strerror(r));
        goto out_loop;
    }
    r = dext_site_new(&d.loop,
                      &(struct dext_site_config){
                          .name = d.name,
                          .root = root,
                          .image = image,
                          .meta = meta,
                          .socket_path = sock,
                          .guest_dir = guest,
                          .self_exe = o->self_exe,
                          .listen_host = o->listen_host ? o->listen_host : "127.0.0.1",
                          .port = o->port,
                          .engine = o->engine,
                          .hub = d.hub,
                          .dev_url = old.ui_source,
                          .install_id = install_id[0] ? install_id : NULL,
                          .reload = true,
                      },
                      &d.site);
    if (r < 0) {
        fprintf(stderr, "dext: cannot serve %s on port %d: %s\n", d.name, o->port, uv_strerror(r));
        goto out_loop;
    }
    /* Limits and timeouts can be tightened from the environment (tests use this). */
    dext_site_set_limits(d.site, &(struct dext_http_limits){
                                     .head_timeout_ms = env_u64("DEXT_HEAD_TIMEOUT_MS"),
                                     .idle_timeout_ms = env_u64("DEXT_IDLE_TIMEOUT_MS"),
                                     .body_timeout_ms = env_u64("DEXT_BODY_TIMEOUT_MS"),
                                     .max_body = env_u64("DEXT_MAX_BODY"),
                                 });
    argv = o->backend_argv ? o->backend_argv : meta->vm_command;
    if (o->engine) {
        d.watch = meta->has_vm ? watch_new(&d.loop, d.name, image, guest, socket_name, o->self_exe)
                               : NULL;
        if (d.watch && dext_site_backend(d.site))
            dext_backend_set_status_cb(dext_site_backend(d.site), engine_status, d.watch);
    } else if (argv) {
        r = dext_proc_rt_new(&d.loop,
                             &(struct dext_proc_rt_config){
                                 .name = d.name,
                                 .ext_dir = root,
                                 .guest_dir = guest,
                                 .log_path = log,
                                 .self_exe = o->self_exe,
                                 .image = image,
                                 .argv = argv,
                                 .stop_grace_ms = env_u64("DEXT_STOP_GRACE_MS"),
                             },
                             &d.rt);
        if (r < 0) {
            fprintf(stderr, "dext: bad backend command\n");
            goto out_site;
        }
        if (dext_site_backend(d.site))
            dext_backend_set_status_cb(dext_site_backend(d.site), dext_proc_rt_status, d.rt);
        dext_proc_rt_set_restart_cb(d.rt, on_restart, &d);
        (void)dext_proc_rt_start(d.rt);
    } else if (dext_site_backend(d.site)) {
        dext_backend_set_status_cb(dext_site_backend(d.site), no_backend_status, NULL);
    }

    ui_dir = xasprintf("%s/%s", root, meta->has_ui ? meta->ui_root : "");
    if (dext_devloop_new(&d.loop, &d.store, d.name, ui_dir, true, &d.site, &d.devloop) < 0)
        log_warn("cannot watch %s for changes: pages will not reload by themselves", ui_dir);
    (void)uv_signal_init(&d.loop, &d.sigint);
    (void)uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    (void)uv_signal_start(&d.sigint, on_signal, SIGINT);
    (void)uv_signal_start(&d.sigterm, on_signal, SIGTERM);

    url = dext_site_url(d.site);
    printf("%s\n", url);
    fflush(stdout);
    (void)dext_store_set_state(&d.store, d.name, getpid(), d.rt ? dext_proc_rt_pid(d.rt) : 0, url);
    log_info("serving %s from %s", d.name, root);

    (void)uv_run(&d.loop, UV_RUN_DEFAULT);
    dext_store_clear_state(&d.store, d.name);
    r = 0;
    goto out_loop;

out_site:
    dext_site_free(d.site);
    d.site = NULL;
    dext_hub_free(d.hub);
    d.hub = NULL;
out_loop:
    /* Let every close callback run before the loop goes. */
    (void)uv_run(&d.loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&d.loop);
out:
    dext_store_entry_done(&old);
    if (sock && !o->engine)
        (void)unlink(sock); /* a container backend keeps running, with its socket */
    dext_store_done(&d.store);
    return r;
}
