/* SPDX-License-Identifier: MIT */
/* dext's own origin: the dashboard of `dext serve`, the file chooser behind
 * ddClient.desktopUI.dialog.showOpenDialog and the views behind
 * ddClient.desktopUI.navigate. It listens on a port of its own, so no extension's
 * script can read or drive what it shows (docs/design/http-api.md, "dext's origin").
 *
 * Access: the dashboard secret (printed by `dext serve`) opens everything. An
 * extension never sees it: a chooser is opened with a one-time ticket whose page
 * carries a secret of its own, and a view with a ticket that reads one view only.
 *
 * The hub owns its listener, its pending choosers and its Engine API client. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "http/server.h"

#define DEXT_HUB_MAX_CHOOSERS 16 /* pending file choosers */
#define DEXT_HUB_MAX_VIEWS 64    /* live view tickets (oldest dropped) */
#define DEXT_HUB_MAX_PICKS 1024  /* paths one chooser may return */
#define DEXT_HUB_MAX_DIR_ENTRIES 10000
#define DEXT_HUB_CHOOSER_TTL_MS (10 * 60 * 1000) /* a chooser nobody waits for */

struct dext_hub;

/* What the dashboard lists: a JSON array of
 * {name, title, url|null, port, icon: bool, error|null} (a new reference). */
typedef json_t *(*dext_hub_list_cb)(void *data);
/* The icon of extension @name: its directory (absolute) and the icon's path in it
 * (borrowed), or -ENOENT. */
typedef int (*dext_hub_icon_cb)(void *data, const char *name, const char **ret_root,
                                const char **ret_icon);

struct dext_hub_config {
    const char *listen_host; /* 127.0.0.1 */
    int port;                /* 0: any */
    dext_hub_list_cb list;   /* NULL: no dashboard (dext run) */
    dext_hub_icon_cb icon;
    void *data;
};

/* Starts listening. Returns 0 or a negative errno from bind. */
int dext_hub_new(uv_loop_t *loop, const struct dext_hub_config *cfg, struct dext_hub **ret);
int dext_hub_port(const struct dext_hub *h);
/* The dashboard's address with the secret (a new string). */
char *dext_hub_url(const struct dext_hub *h);
/* Stops listening, answers every waiting extension with a cancel, frees @h. */
void dext_hub_free(struct dext_hub *h);

/* Extension-facing calls, made by the extension's site (served on port
 * @cl->ext_port; @cl lives as long as the site's connections) after its own checks. Each reads the
 * JSON body of @req and answers on @c.
 *
 * POST /__dext/dialog/open  {Electron OpenDialogOptions} -> {id, url}: a chooser
 *      to show in a frame; only a page of @ext_port may frame it.
 * POST /__dext/dialog/wait  {id} -> {canceled, filePaths} once the person chose.
 * POST /__dext/navigate     {view, id?, tag?} -> {url}: a view to show; 404 when
 *      the container, image or volume does not exist. */
struct dext_hub_client {
    struct dext_hub *hub;
    int ext_port;
};
void dext_hub_dialog_open(struct dext_hub_client *cl, struct dext_http_conn *c,
                          const struct dext_http_req *req);
void dext_hub_dialog_wait(struct dext_hub_client *cl, struct dext_http_conn *c,
                          const struct dext_http_req *req);
void dext_hub_navigate(struct dext_hub_client *cl, struct dext_http_conn *c,
                       const struct dext_http_req *req);

/* Pure, for tests: does file name @name pass the Electron @filters array
 * ([{name, extensions: ["txt", "*"]}]; NULL or empty: every file)? */
bool dext_hub_filter_match(json_t *filters, const char *name);
