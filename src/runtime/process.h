/* SPDX-License-Identifier: MIT */
/* The process runtime: runs an extension's backend as a supervised local process.
 *
 * The backend runs through `dext __guest-exec`, which maps the extension's socket
 * directory at /run/guest-services in a private mount namespace (or, where that
 * is not possible, names it in DEXT_GUEST_SERVICES), sets the working directory
 * to the extension directory and execs the command. Output goes to a log file.
 * The runtime restarts the backend with backoff whenever it exits, and stops it
 * with SIGTERM to its process group, then SIGKILL after a grace period. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "proxy/backend.h"

#define DEXT_RT_BACKOFF_MIN_MS 200
#define DEXT_RT_BACKOFF_MAX_MS 10000
#define DEXT_RT_STABLE_MS 10000   /* a run this long resets the backoff */
#define DEXT_RT_STARTING_MS 10000 /* refused connections are waited on this long */
#define DEXT_RT_STOP_GRACE_MS 3000
#define DEXT_RT_LOG_MAX (8 * 1024 * 1024) /* the log is truncated at start past this */

enum dext_rt_state {
    DEXT_RT_IDLE,     /* never started */
    DEXT_RT_RUNNING,  /* process alive */
    DEXT_RT_BACKOFF,  /* exited; restart timer running */
    DEXT_RT_STOPPING, /* SIGTERM sent */
    DEXT_RT_STOPPED,
};

struct dext_proc_rt_config {
    const char *name;       /* extension name, for logs */
    const char *ext_dir;    /* working directory; relative argv[0] resolves here */
    const char *guest_dir;  /* the socket directory mapped at /run/guest-services */
    const char *log_path;   /* backend output */
    const char *self_exe;   /* this program, for the __guest-exec helper */
    const char *image;      /* DESKTOP_PLUGIN_IMAGE */
    char *const *argv;      /* the backend command (copied) */
    uint64_t stop_grace_ms; /* 0: DEXT_RT_STOP_GRACE_MS */
};

struct dext_proc_rt;

typedef void (*dext_proc_rt_cb)(void *data);

int dext_proc_rt_new(uv_loop_t *loop, const struct dext_proc_rt_config *cfg,
                     struct dext_proc_rt **ret);
/* Starts the backend (and keeps restarting it). */
int dext_proc_rt_start(struct dext_proc_rt *rt);
/* Called after each (re)start, e.g. to drop pooled connections to the old process. */
void dext_proc_rt_set_restart_cb(struct dext_proc_rt *rt, dext_proc_rt_cb cb, void *data);
/* Stops it: SIGTERM to the group, SIGKILL after the grace period; @on_stopped runs
 * once the process has exited (at once if none runs). */
void dext_proc_rt_stop(struct dext_proc_rt *rt, dext_proc_rt_cb on_stopped, void *data);
/* A dext_backend_status_cb over @data = struct dext_proc_rt. */
enum dext_backend_status dext_proc_rt_status(void *data, char *msg, size_t size);
enum dext_rt_state dext_proc_rt_state(const struct dext_proc_rt *rt);
pid_t dext_proc_rt_pid(const struct dext_proc_rt *rt);
/* Frees a stopped runtime (kills the group if still running). */
void dext_proc_rt_free(struct dext_proc_rt *rt);

/* Makes a mount namespace in which @guest_dir is bind-mounted at
 * /run/guest-services, and returns an fd for it (setns(2) into it to see the
 * backend's view). Blocking; for start-up. -EPERM (or another -errno) where
 * namespaces are not available: callers then name the directory in
 * DEXT_GUEST_SERVICES instead. */
int dext_guest_ns_open(const char *guest_dir);

/* The __guest-exec helper, run in the child: maps @guest_dir, enters @ext_dir and
 * execs @argv. Returns only on failure (a negative errno), after printing why. */
int dext_guest_exec(const char *guest_dir, const char *ext_dir, char **argv);
