/* SPDX-License-Identifier: MIT */
/* A child process with its stdout and stderr read through pipes, run in its own
 * process group, never through a shell.
 *
 * The object owns its pid and its pipes. on_output delivers output as it comes
 * (the bytes are borrowed for the call). on_exit is called once, after the
 * process has exited AND both pipes are drained, so no output is lost; after
 * it the object must be freed with dext_proc_free. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define DEXT_PROC_GRACE_MS 3000 /* SIGTERM, then SIGKILL after this */

struct dext_proc;

typedef void (*dext_proc_output_cb)(void *data, int fd, const char *p, size_t n);
typedef void (*dext_proc_exit_cb)(void *data, int64_t status, int term_signal);

struct dext_proc_opts {
    const char *file;  /* program (PATH is searched when it has no '/') */
    char *const *argv; /* argv[0] included */
    char *const *env;  /* full environment, or NULL to inherit */
    const char *cwd;   /* or NULL */
    dext_proc_output_cb on_output;
    dext_proc_exit_cb on_exit;
    void *data;
    uint64_t grace_ms; /* 0: DEXT_PROC_GRACE_MS */
    int mntns_fd;      /* >= 0: enter this mount namespace first; -1: stay */
};

/* Starts the process with clone(CLONE_VM|CLONE_VFORK) (no page-table copy, unlike
 * fork), in a new session (its own process group), stdin on /dev/null, all signal
 * handlers reset; its exit is watched through a pidfd. Returns 0, or a negative
 * errno when it cannot start (-ENOENT: no such program, -EACCES: not executable),
 * reported by the child before exec; nothing is left then. */
/* A job that runs elsewhere (a command in a container) behind the same calls:
 * the ops carry them out on @impl; dext_proc_free calls ops->free and frees the
 * wrapper. The job calls its own output and exit callbacks. */
struct dext_proc_ops {
    bool (*exited)(void *impl);
    void (*pause)(void *impl);
    void (*resume)(void *impl);
    void (*kill)(void *impl);
    void (*free)(void *impl);
};
struct dext_proc *dext_proc_custom(const struct dext_proc_ops *ops, void *impl);

int dext_proc_spawn(uv_loop_t *loop, const struct dext_proc_opts *o, struct dext_proc **ret);
pid_t dext_proc_pid(const struct dext_proc *p);
bool dext_proc_exited(const struct dext_proc *p);
/* Backpressure: stop and resume reading the pipes. */
void dext_proc_pause(struct dext_proc *p);
void dext_proc_resume(struct dext_proc *p);
/* Ends the whole process group: SIGTERM, then SIGKILL after the grace period.
 * on_exit still follows. */
void dext_proc_kill(struct dext_proc *p);
/* Frees the object; a process still running gets SIGKILL (group). No callback
 * is made after this. Accepts NULL. */
void dext_proc_free(struct dext_proc *p);
