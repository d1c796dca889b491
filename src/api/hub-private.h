/* SPDX-License-Identifier: MIT */
/* The hub's insides, shared by hub.c (listener, checks, dashboard), chooser.c (the
 * file chooser) and views.c (engine views). Not for other modules. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/hub.h"
#include "http/server.h"

#define TOKEN_LEN 32

extern const char dext_dashboard_html[], dext_chooser_html[], dext_view_html[];
extern const size_t dext_dashboard_html_len, dext_chooser_html_len, dext_view_html_len;

struct chooser {
    struct dext_hub *hub;
    struct chooser *next;
    char id[TOKEN_LEN + 1];     /* the ticket: in the frame's address, known to the extension */
    char secret[TOKEN_LEN + 1]; /* the chooser page's own: never leaves dext's origin */
    int ext_port;
    json_t *props;
    json_t *result; /* {canceled, filePaths} once chosen */
    struct dext_http_conn *waiter;
    uint64_t created_ms;
};

/* A ticket that reads one view: a list (and the items in it) or one object. */
struct view {
    char token[TOKEN_LEN + 1];
    char secret[TOKEN_LEN + 1]; /* the view page's own: never leaves dext's origin */
    char kind[24];
    char *id; /* NULL for a list */
    int ext_port;
};

/* An Engine API call on behalf of a request; the caller may leave meanwhile. */
struct engine_call {
    struct dext_hub *hub;
    struct engine_call *next;
    struct dext_http_conn *conn; /* NULL once the caller left */
    int ext_port;
    char kind[24];
    char *id;
    char *tag;
    bool is_check; /* navigate's existence check, else view data passed through */
    bool is_raw;   /* logs: bytes, not JSON */
};

struct dext_hub {
    uv_loop_t *loop;
    struct dext_http_server *server;
    uv_timer_t sweep;
    int port;
    char secret[TOKEN_LEN + 1];
    char cookie_name[32];
    char hosts[3][64];
    char origin[80];
    char url_host[48]; /* the address in the URLs dext gives out */
    dext_hub_list_cb list;
    dext_hub_icon_cb icon;
    void *data;
    struct chooser *choosers;
    size_t n_choosers;
    struct view views[DEXT_HUB_MAX_VIEWS];
    size_t next_view;
    struct dext_docker *docker;
    struct engine_call *calls;
    struct term *terms;
    size_t n_terms;
};

/* hub.c */
/* 32 random hex digits into @out (33 bytes); -EIO without randomness. */
int dext_hub_random_hex(char *out);
/* Answers @o (taken) as JSON, no-store. */
void dext_hub_respond_json(struct dext_http_conn *c, int status, json_t *o);
/* Sends an embedded page with @config (taken) in place of its marker. @ext_port > 0:
 * only that extension's pages may frame it; else only dext's own. @extra: header
 * lines or NULL. */
void dext_hub_send_page(struct dext_http_conn *c, const char *page, size_t len, json_t *config,
                        int ext_port, const char *extra);
/* X-Dext-Secret equals @secret (and the call is same-origin). */
bool dext_hub_api_secret_ok(const struct dext_http_req *req, const char *secret);
/* The dashboard secret in the header, the query (then @cookie gets a Set-Cookie line)
 * or the cookie. */
bool dext_hub_page_secret_ok(struct dext_hub *h, const struct dext_http_req *req, char *cookie,
                             size_t cookie_size);
/* The 32-hex value of query parameter @key, copied into @out (33 bytes). */
bool dext_hub_query_token(const struct dext_http_req *req, const char *key, char *out);

/* chooser.c: JSON body callbacks (@data: the hub, or the site's dext_hub_client). */
void dext_hub_on_dialog_open(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_dialog_wait(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_chooser_list(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_chooser_done(void *data, struct dext_http_conn *c, json_t *body);
/* A new folder, made by the person in a chooser whose dialog allows createDirectory. */
void dext_hub_on_chooser_mkdir(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_serve_chooser(struct dext_hub *h, struct dext_http_conn *c,
                            const struct dext_http_req *req);
/* Unlinks and frees @ch (detaching its waiter, which gets no answer). */
void dext_hub_chooser_free(struct chooser *ch);

/* views.c */
/* @id is a container, image or volume name or id of a conservative character set. */
bool dext_hub_engine_id_ok(const char *id);
/* The view of ticket @token, or NULL. */
struct view *dext_hub_view_find(struct dext_hub *h, const char *token);
/* The hub's Engine client, made on first use; NULL (and @c answered 502) when
 * DOCKER_HOST is not usable. */
struct dext_docker *dext_hub_docker(struct dext_hub *h, struct dext_http_conn *c);
void dext_hub_on_navigate(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_view_data(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_serve_view(struct dext_hub *h, struct dext_http_conn *c,
                         const struct dext_http_req *req);

/* term.c: the container-terminal view's shell sessions. Each is owned by the hub
 * and lives as long as its output stream (the page's POST /__dext/view/term/open
 * answer); the page leaving, the shell ending or the hub stopping frees it. */
#define DEXT_HUB_MAX_TERMS 32
struct term;
void dext_hub_on_term_open(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_term_input(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_term_resize(void *data, struct dext_http_conn *c, json_t *body);
void dext_hub_on_term_close(void *data, struct dext_http_conn *c, json_t *body);
