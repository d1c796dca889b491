/* SPDX-License-Identifier: MIT */
/* The engine runtime's lifecycle operations for the CLI verbs (install, update, rm,
 * ls, and `run IMAGE` before it serves): Engine API calls made one after another
 * on a private loop, so each reads like a blocking call.
 *
 * An extension image's backend runs the way Docker Desktop runs it: a compose
 * project named <extdir>-desktop-extension; vm.image becomes one container made
 * through the Engine API, vm.composefile goes through the compose CLI that is
 * present. Every container gets the extension labels, the socket directory at
 * /run/guest-services and restart policy "always". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "docker/client.h"
#include "ext/metadata.h"
#include "ext/store.h"

/* The label dext puts on every container of an extension: its backend containers,
 * and those the extension makes itself with docker.cli.exec run or create, so that
 * `dext rm` removes them all. Its value is the extension's name. */
#define DEXT_ENGINE_EXT_LABEL "io.dext.extension"

struct dext_engine {
    uv_loop_t loop;
    struct dext_docker *docker;
    const char *endpoint;
    char err[1024];                      /* why the last call failed */
    bool progress;                       /* show pull progress (a terminal) */
    struct dext_meta_problems *problems; /* when set: every metadata.json problem */
};

/* Sets up the client for $DOCKER_HOST; -EINVAL (with @e->err) for a bad value. */
int dext_engine_open(struct dext_engine *e);
void dext_engine_close(struct dext_engine *e);

/* METHOD path with an optional JSON body (borrowed). Returns the HTTP status and,
 * for a 2xx JSON answer, the parsed body in @ret (may be NULL); a negative errno
 * when the engine cannot be reached. For a status >= 400, @e->err holds the
 * engine's message. */
int dext_engine_call(struct dext_engine *e, const char *method, const char *path, json_t *body,
                     json_t **ret);

/* The engine answers /_ping; else a negative errno and @e->err naming the endpoint. */
int dext_engine_ping(struct dext_engine *e);

/* "repo[:tag]" -> the project name "<extdir>-desktop-extension". */
char *dext_engine_project(const char *name);

/* Installs image @ref: pulls it when missing, checks its api.version label,
 * copies metadata.json, the UI, the icon, the compose file and the linux host
 * binaries out of it (one archive request), validates them, records it and
 * starts its backend. With @update, an installed record is replaced and the
 * project's volumes are kept. On failure nothing is left behind, and @e->err
 * says why. Writes the extension's name to @ret_name. */
int dext_engine_install(struct dext_engine *e, const struct dext_store *s, const char *ref,
                        bool update, char *ret_name, size_t size);

/* Validates image @ref without installing it: pulls it when missing, checks its
 * api.version label, copies its files out into a private directory and checks
 * them, then removes that directory (and an image it pulled). Returns 0 when
 * valid; else a negative errno with @e->err, and @problems filled when the
 * files themselves are at fault. */
int dext_engine_validate(struct dext_engine *e, const struct dext_store *s, const char *ref,
                         struct dext_meta_problems *problems);

/* Creates (when missing) and starts the backend containers of an installed image
 * extension. */
int dext_engine_up(struct dext_engine *e, const struct dext_store *s,
                   const struct dext_store_entry *entry, const struct dext_ext_meta *meta);

/* Removes every container of the project (and, with @volumes, its volumes and
 * networks, and every container labelled DEXT_ENGINE_EXT_LABEL=@name: those the
 * extension started itself). */
int dext_engine_down(struct dext_engine *e, const char *name, bool volumes);

/* Removes the containers labelled DEXT_ENGINE_EXT_LABEL=@name (force, with their
 * anonymous volumes). */
int dext_engine_remove_started(struct dext_engine *e, const char *name);

/* How many of the project's containers run, and how many exist; -errno when the
 * engine cannot say. */
int dext_engine_state(struct dext_engine *e, const char *name, int *ret_running, int *ret_total);

/* The value of @label on image @ref (new string), or NULL. */
char *dext_engine_image_label(struct dext_engine *e, const char *ref, const char *label);

/* Writes the first backend container's output to stdout and stderr. */
int dext_engine_logs(struct dext_engine *e, const char *name, const char *image);

/* The id of the container vm.cli.exec and the socket reach: the project's first
 * service (the one running the extension image, else the first by service name).
 * -ENOENT when none runs. */
int dext_engine_first_container(struct dext_engine *e, const char *name, const char *image,
                                char **ret_id);
