/* SPDX-License-Identifier: MIT */
/* vm.cli.exec on the engine runtime: a command in the extension's first backend
 * container through the Engine exec API (create, start with the output stream
 * demultiplexed into stdout and stderr, inspect for the exit code), behind the
 * struct dext_proc calls the exec and events code already use. */
#pragma once

#include "docker/client.h"
#include "proc/spawn.h"

/* Which containers an extension's commands go to; owned by the site. */
struct dext_engine_target {
    struct dext_docker *docker;
    char *name;      /* the extension: its project is <name>-desktop-extension */
    char *image;     /* the extension image (its service is the first one) */
    char *container; /* the id last found, or NULL */
};

struct dext_engine_target *dext_engine_target_new(uv_loop_t *loop, const char *name,
                                                  const char *image);
void dext_engine_target_free(struct dext_engine_target *t);

/* Runs @argv in the target's first container with @env ("K=V", added to the
 * container's) in @cwd (or the container's WorkingDir). Output and the exit
 * come through the callbacks, as for dext_proc_spawn. A command that cannot be
 * started (no running backend container, an engine error) ends with status 127
 * and a "dext: cannot run ..." line on stderr. */
int dext_engine_exec(struct dext_engine_target *t, char *const *argv, char *const *env,
                     const char *cwd, dext_proc_output_cb on_output, dext_proc_exit_cb on_exit,
                     void *data, struct dext_proc **ret);
/* In the container @container (a name or id the caller gives; not looked up again). */
int dext_engine_exec_in(struct dext_engine_target *t, const char *container, char *const *argv,
                        char *const *env, const char *cwd, dext_proc_output_cb on_output,
                        dext_proc_exit_cb on_exit, void *data, struct dext_proc **ret);
/* The same as user @user ("0": root) rather than the container's user. */
int dext_engine_exec_as(struct dext_engine_target *t, const char *user, char *const *argv,
                        char *const *env, const char *cwd, dext_proc_output_cb on_output,
                        dext_proc_exit_cb on_exit, void *data, struct dext_proc **ret);
