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
#include "engine/watch.h"
#include "devloop.h"
#include "ext/load.h"
#include "ext/origin.h"
#include "ext/store.h"
#include "runtime/process.h"

struct dext_daemon {
    uv_loop_t loop;
    struct dext_engine_watch *watch;
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

static void close_all(struct dext_daemon *d)
{
    dext_engine_watch_free(d->watch);
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
        goto out_hub;
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
        d.watch = meta->has_vm ? dext_engine_watch_new(&d.loop, d.name, image, guest, socket_name,
                                                       o->self_exe)
                               : NULL;
        if (d.watch && dext_site_backend(d.site))
            dext_backend_set_status_cb(dext_site_backend(d.site), dext_engine_watch_status,
                                       d.watch);
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
out_hub:
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
