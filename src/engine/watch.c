/* SPDX-License-Identifier: MIT */
/* Following an extension's backend containers while it is served. */
#include "engine/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "docker/client.h"
#include "engine/exec.h"

/* What the engine says of the backend containers, kept current from its event
 * stream, for the relay's "is it running" question. */
struct dext_engine_watch {
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

static void watch_list(struct dext_engine_watch *w);
static void watch_arm(struct dext_engine_watch *w);

static void on_watch_list(void *data, int status, const char *body, size_t len, int err,
                          const char *msg)
{
    struct dext_engine_watch *w = data;
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

static void watch_list(struct dext_engine_watch *w)
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
    struct dext_engine_watch *w = data;

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
    struct dext_engine_watch *w = data;

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

static bool sock_needs_fix(const struct dext_engine_watch *w)
{
    return w->sock && access(w->sock, F_OK) == 0 && access(w->sock, W_OK) < 0;
}

static void on_fix_output(void *data, int fd, const char *p, size_t n)
{
    struct dext_engine_watch *w = data;

    if (!w->warned)
        log_warn("opening the backend socket to dext: %.*s", (int)(n > 300 ? 300 : n), p);
    w->warned = true;
}

static void on_fix_exit(void *data, int64_t status, int sig)
{
    struct dext_engine_watch *w = data;

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
static int place_helper(struct dext_engine_watch *w)
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
    struct dext_engine_watch *w = t->data;
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
static void watch_arm(struct dext_engine_watch *w)
{
    if (!w->target)
        return;
    w->deadline = uv_now(w->timer.loop) + SOCK_FIX_WAIT_MS;
    (void)uv_timer_start(&w->timer, on_fix_timer, 0, SOCK_FIX_POLL_MS);
}

enum dext_backend_status dext_engine_watch_status(void *data, char *msg, size_t size)
{
    struct dext_engine_watch *w = data;

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

struct dext_engine_watch *dext_engine_watch_new(uv_loop_t *loop, const char *name,
                                                const char *image, const char *guest,
                                                const char *sock_name, const char *self_exe)
{
    struct dext_engine_watch *w = xcalloc(1, sizeof(*w));
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
    struct dext_engine_watch *w = h->data;

    free(w->sock);
    free(w->sock_name);
    free(w->helper);
    free(w->helper_copy);
    free(w);
}

void dext_engine_watch_free(struct dext_engine_watch *w)
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
