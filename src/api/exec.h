/* SPDX-License-Identifier: MIT */
/* POST /__dext/exec: blocking exec of a command in the extension's backend view
 * (vm), of a shipped host binary (host), of the host's docker CLI (docker) or in
 * a container (container), with the argument rules of spec 5.2. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "ext/metadata.h"
#include "http/server.h"
#include "engine/exec.h"
#include "proc/spawn.h"

#define DEXT_EXEC_MAX_OUTPUT (32 * 1024 * 1024) /* per stream, for a blocking call */
#define DEXT_EXEC_MAX_PROCS 32                  /* per extension */

/* What exec needs to know about the extension; borrowed for the site's life. */
struct dext_exec_ctx {
    uv_loop_t *loop;
    const char *name;      /* the extension's name: the label on containers it makes */
    const char *root;      /* the extension's files */
    const char *guest_dir; /* mapped at /run/guest-services for vm commands */
    const char *self_exe;  /* for the __guest-exec helper */
    const char *image;
    const struct dext_ext_meta *meta;
    int mntns_fd;                      /* the backend's view (/run/guest-services mapped), or -1 */
    struct dext_engine_target *engine; /* vm commands go to the backend container */
    struct dext_engine_target *containers; /* execInContainer's engine, made on first use */
    unsigned n_procs;                      /* running now */
};

/* A command ready to spawn, built from an exec request's JSON. */
struct dext_exec_cmd {
    char *file;
    char **argv;
    char **env;
    char *cwd;       /* or NULL */
    char *cmdline;   /* for results and logs */
    bool is_vm;      /* through __guest-exec: exit 127 + "dext: cannot run" = not started */
    int mntns_fd;    /* enter this mount namespace first, or -1 */
    bool engine;     /* in the backend container (env: the caller's only) */
    char *container; /* or in this container (v0 execInContainer) */
    int status;      /* on failure: the HTTP status */
    char error[512];
};

/* Builds the command of @body ({scope, cmd, args, cwd, env, container}): with
 * @split the words are joined and split again (blocking calls), else args are
 * used verbatim (streaming calls). Returns 0, or -EINVAL with cmd->status and
 * cmd->error set (and nothing else to free). */
int dext_exec_build(const struct dext_exec_ctx *ctx, json_t *body, bool split,
                    struct dext_exec_cmd *cmd);
void dext_exec_cmd_done(struct dext_exec_cmd *cmd);

/* Spawns @cmd with the given callbacks and counts it against the extension's
 * process limit. When it cannot start, answers @c with a 404 naming the program
 * and the errno, and returns the negative errno. */
int dext_exec_spawn(struct dext_exec_ctx *ctx, const struct dext_exec_cmd *cmd,
                    dext_proc_output_cb on_out, dext_proc_exit_cb on_done, void *data,
                    struct dext_proc **ret, struct dext_http_conn *c);

/* Handles the request (reads its JSON body, runs the command, answers). */
void dext_exec_handle(struct dext_exec_ctx *ctx, struct dext_http_conn *c,
                      const struct dext_http_req *req);

/* Resolves a host binary by base name among the extension's linux host binaries.
 * Returns 0 with the absolute path and its directory (new strings), -EACCES for a
 * name that is not a plain base name or a file that resolves outside the
 * extension, -ENOENT when no shipped binary has that name. */
int dext_exec_resolve_host(const char *root, const struct dext_ext_meta *meta, const char *name,
                           char **ret_path, char **ret_dir);
