/* SPDX-License-Identifier: MIT */
/* One extension served on one listener: security checks, routing to UI files
 * and to the backend relay. The extension's origin is http://127.0.0.1:PORT. */
#pragma once

#include <stdbool.h>
#include <uv.h>

#include "api/hub.h"
#include "ext/metadata.h"
#include "proxy/backend.h"

#define DEXT_SECRET_LEN 32

struct dext_site_config {
    const char *name;
    const char *root;                 /* the extension's files */
    const char *image;                /* extension.image */
    const struct dext_ext_meta *meta; /* borrowed for the site's life */
    const char *socket_path;          /* the backend socket, or NULL when none is declared */
    const char *guest_dir;            /* the socket directory (vm exec maps it) */
    const char *self_exe;             /* this program, for the __guest-exec helper */
    const char *listen_host;          /* "127.0.0.1" */
    int port;                         /* 0: any */
    bool engine;                      /* the backend runs on the container engine */
    struct dext_hub *hub;             /* dext's own origin (chooser, views), or NULL */
    const char *dev_url;              /* dev ui-source URL, or NULL for the files */
    const char *install_id;           /* this install's id (page storage), or NULL */
    bool reload;                      /* pages reload when dext_site_reload_pages says */
    const char *secret;               /* keep this secret (a restart in one process), or NULL */
};

struct dext_site;

/* Opens the UI root and starts listening. -ENOENT when the UI root is missing,
 * or a negative errno from bind. */
int dext_site_new(uv_loop_t *loop, const struct dext_site_config *cfg, struct dext_site **ret);
int dext_site_port(const struct dext_site *s);
/* Applies timeouts and the body limit (0 fields keep the defaults). */
void dext_site_set_limits(struct dext_site *s, const struct dext_http_limits *l);
/* The URL to open, with the secret (new string). */
char *dext_site_url(const struct dext_site *s);
/* The site's secret, for a restart that keeps open pages working; borrowed. */
const char *dext_site_secret(const struct dext_site *s);
/* The relay target (NULL without a socket); borrowed. */
struct dext_backend *dext_site_backend(struct dext_site *s);
/* Every open page of the extension reloads (on its event connection). */
void dext_site_reload_pages(struct dext_site *s);
/* The UI comes from @url (a dev server) from the next request on, or from the
 * files again when NULL. Returns true when that changed anything. */
bool dext_site_set_dev_url(struct dext_site *s, const char *url);
/* Stops listening, closes every connection and relay, frees @s. */
void dext_site_free(struct dext_site *s);

/* Pure helpers, exposed for tests. */
/* Copies @url without the query parameter @key (other parameters kept, in order) into
 * @out (NUL-terminated, cut at @size); returns its length. */
size_t dext_url_without_param(const char *url, size_t url_len, const char *key, char *out,
                              size_t size);
/* Finds @key in the query of @url; returns its value's start and length, or NULL. */
const char *dext_url_query_param(const char *url, size_t url_len, const char *key, size_t *ret_len);
/* Finds cookie @name in a Cookie header value; NULL if absent. */
const char *dext_cookie_value(const char *header, size_t len, const char *name, size_t *ret_len);
/* Constant-time comparison of a candidate with the secret. */
bool dext_secret_equal(const char *secret, const char *candidate, size_t len);
