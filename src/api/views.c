/* SPDX-License-Identifier: MIT */
/* The engine views behind navigate: tickets, existence checks, data passed through. */
#include "api/hub-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/body.h"
#include "api/site.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/xalloc.h"
#include "docker/client.h"

/* ---- engine views ---- */

static const char *const list_kinds[] = {"containers", "images", "volumes", NULL};
static const char *const id_kinds[] = {"container",
                                       "container-logs",
                                       "container-inspect",
                                       "container-stats",
                                       "container-terminal",
                                       "image",
                                       "volume",
                                       NULL};

static bool in_list(const char *const *l, const char *v)
{
    for (; *l; l++)
        if (strcmp(*l, v) == 0)
            return true;
    return false;
}

/* Container, image and volume names and ids: a conservative character set. */
bool dext_hub_engine_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > 256 || strstr(id, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char x = id[i];
        if (!((x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || (x >= '0' && x <= '9') ||
              strchr("_.-:@/+", x)))
            return false;
    }
    return id[0] != '/' && id[0] != '.';
}

static const char *family(const char *kind)
{
    if (strncmp(kind, "container", 9) == 0)
        return "container";
    if (strncmp(kind, "image", 5) == 0)
        return "image";
    return "volume";
}

static struct view *view_add(struct dext_hub *h, const char *kind, const char *id, int ext_port)
{
    struct view *v = &h->views[h->next_view++ % DEXT_HUB_MAX_VIEWS];

    free(v->id);
    *v = (struct view){.ext_port = ext_port};
    if (dext_hub_random_hex(v->token) < 0 || dext_hub_random_hex(v->secret) < 0) {
        v->token[0] = '\0';
        return NULL;
    }
    (void)snprintf(v->kind, sizeof(v->kind), "%s", kind);
    v->id = id ? xstrdup(id) : NULL;
    return v;
}

struct view *dext_hub_view_find(struct dext_hub *h, const char *token)
{
    for (size_t i = 0; i < DEXT_HUB_MAX_VIEWS; i++)
        if (token && h->views[i].token[0] && strlen(token) == TOKEN_LEN &&
            dext_secret_equal(h->views[i].token, token, TOKEN_LEN))
            return &h->views[i];
    return NULL;
}

static void call_unlink(struct engine_call *ec)
{
    for (struct engine_call **pp = &ec->hub->calls; *pp; pp = &(*pp)->next) {
        if (*pp == ec) {
            *pp = ec->next;
            return;
        }
    }
}

static void call_abort(void *data)
{
    struct engine_call *ec = data;
    ec->conn = NULL;
}

static const struct dext_http_body_ops call_ops = {.on_abort = call_abort};

static void call_free(struct engine_call *ec)
{
    free(ec->id);
    free(ec->tag);
    free(ec);
}

static void on_engine(void *data, int status, const char *body, size_t len, int err,
                      const char *msg)
{
    struct engine_call *ec = data;
    struct dext_http_conn *c = ec->conn;
    char text[512];

    call_unlink(ec);
    if (c)
        dext_http_conn_detach(c);
    if (!c) {
        call_free(ec);
        return;
    }
    if (err < 0) {
        dext_http_respond_error(c, 502, msg);
    } else if (status < 200 || status >= 300) {
        json_t *e = json_loadb(body, len, 0, NULL);
        const char *m = json_string_value(json_object_get(e, "message"));
        (void)snprintf(text, sizeof(text), "%s", m ? m : "the Docker engine refused the call");
        json_decref(e);
        dext_http_respond_error(c, status == 404 ? 404 : 502, text);
    } else if (ec->is_check) {
        struct view *v = view_add(ec->hub, ec->kind, ec->id, ec->ext_port);
        if (!v) {
            dext_http_respond_error(c, 500, "no randomness for a view ticket");
        } else {
            (void)snprintf(text, sizeof(text), "http://%s:%d/__dext/view?t=%s", ec->hub->url_host,
                           ec->hub->port, v->token);
            dext_hub_respond_json(c, 200, json_pack("{s:s}", "url", text));
        }
    } else {
        dext_http_respond(c, 200, ec->is_raw ? "application/octet-stream" : "application/json",
                          "Cache-Control: no-store\r\n", body, len);
    }
    call_free(ec);
}

struct dext_docker *dext_hub_docker(struct dext_hub *h, struct dext_http_conn *c)
{
    if (!h->docker && dext_docker_new(h->loop, NULL, &h->docker) < 0) {
        dext_http_respond_error(c, 502, "DOCKER_HOST is not a unix:// or tcp:// address");
        return NULL;
    }
    return h->docker;
}

static int engine_get(struct dext_hub *h, struct dext_http_conn *c, struct engine_call *ec,
                      const char *path)
{
    if (!dext_hub_docker(h, c)) {
        call_free(ec);
        return -EINVAL;
    }
    ec->hub = h;
    ec->conn = c;
    ec->next = h->calls;
    h->calls = ec;
    dext_http_conn_attach(c, &call_ops, ec);
    dext_docker_request(h->docker, "GET", path, NULL, 0, on_engine, ec);
    return 0;
}

/* The Engine API path for @what about @id in the family of @kind. */
static char *engine_path(const char *kind, const char *what, const char *id)
{
    const char *fam = family(kind);

    if (!id) {
        if (strcmp(kind, "containers") == 0)
            return xstrdup("/containers/json?all=1");
        if (strcmp(kind, "images") == 0)
            return xstrdup("/images/json");
        return xstrdup("/volumes");
    }
    if (strcmp(fam, "container") == 0) {
        if (strcmp(what, "logs") == 0)
            return xasprintf("/containers/%s/logs?stdout=1&stderr=1&tail=2000&timestamps=1", id);
        if (strcmp(what, "stats") == 0)
            return xasprintf("/containers/%s/stats?stream=false", id);
        return xasprintf("/containers/%s/json", id);
    }
    if (strcmp(fam, "image") == 0)
        return xasprintf("/images/%s/json", id);
    return xasprintf("/volumes/%s", id);
}

void dext_hub_on_navigate(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub_client *hr = data;
    const char *kind = json_string_value(json_object_get(body, "view"));
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *tag = json_string_value(json_object_get(body, "tag"));
    struct engine_call *ec;
    char url[128];
    _cleanup_free_ char *path = NULL;

    if (kind && in_list(list_kinds, kind)) {
        struct view *v = view_add(hr->hub, kind, NULL, hr->ext_port);
        if (!v) {
            dext_http_respond_error(c, 500, "no randomness for a view ticket");
            return;
        }
        (void)snprintf(url, sizeof(url), "http://%s:%d/__dext/view?t=%s", hr->hub->url_host,
                       hr->hub->port, v->token);
        dext_hub_respond_json(c, 200, json_pack("{s:s}", "url", url));
        return;
    }
    if (!kind || !in_list(id_kinds, kind)) {
        dext_http_respond_error(c, 400, "unknown view");
        return;
    }
    if (!dext_hub_engine_id_ok(id)) {
        dext_http_respond_error(c, 400, "the id must be a container, image or volume id or name");
        return;
    }
    ec = xcalloc(1, sizeof(*ec));
    ec->is_check = true;
    ec->ext_port = hr->ext_port;
    (void)snprintf(ec->kind, sizeof(ec->kind), "%s", kind);
    ec->id = xstrdup(id);
    ec->tag = tag ? xstrdup(tag) : NULL;
    path = engine_path(kind, "inspect", id);
    (void)engine_get(hr->hub, c, ec, path);
}

void dext_hub_serve_view(struct dext_hub *h, struct dext_http_conn *c,
                         const struct dext_http_req *req)
{
    char token[TOKEN_LEN + 1], cookie[160] = "";
    struct view *v = dext_hub_query_token(req, "t", token) ? dext_hub_view_find(h, token) : NULL;
    size_t n;
    const char *kind = dext_url_query_param(req->url, req->url_len, "view", &n);

    if (!v && kind && dext_hub_page_secret_ok(h, req, cookie, sizeof(cookie))) {
        /* From the dashboard: a list view of its own. */
        char k[24];
        (void)snprintf(k, sizeof(k), "%.*s", (int)MIN(n, sizeof(k) - 1), kind);
        if (!in_list(list_kinds, k)) {
            dext_http_respond_error(c, 404, "unknown view");
            return;
        }
        v = view_add(h, k, NULL, 0);
    }
    if (!v) {
        dext_http_respond_error(c, 404, "this view has expired: open it again");
        return;
    }
    dext_hub_send_page(c, dext_view_html, dext_view_html_len,
                       json_pack("{s:s, s:s, s:s?, s:s}", "t", v->token, "view", v->kind, "id",
                                 v->id, "secret", v->secret),
                       v->ext_port, cookie[0] ? cookie : NULL);
}

void dext_hub_on_view_data(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    struct view *v = dext_hub_view_find(h, json_string_value(json_object_get(body, "t")));
    const char *what = json_string_value(json_object_get(body, "what"));
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *kind = json_string_value(json_object_get(body, "kind"));
    struct engine_call *ec;
    _cleanup_free_ char *path = NULL;

    if (!v) {
        dext_http_respond_error(c, 403, "this view has expired: open it again");
        return;
    }
    if (!what || !(strcmp(what, "list") == 0 || strcmp(what, "inspect") == 0 ||
                   strcmp(what, "logs") == 0 || strcmp(what, "stats") == 0)) {
        dext_http_respond_error(c, 400, "what: list, inspect, logs or stats");
        return;
    }
    /* A list ticket reads the list and any item of it; an item ticket, that item. */
    if (v->id) {
        if (id && strcmp(id, v->id) != 0) {
            dext_http_respond_error(c, 403, "this view shows another object");
            return;
        }
        id = v->id;
        kind = v->kind;
    } else {
        kind = strcmp(v->kind, "containers") == 0 ? "container"
               : strcmp(v->kind, "images") == 0   ? "image"
                                                  : "volume";
        if (strcmp(what, "list") == 0)
            id = NULL, kind = v->kind;
        else if (!dext_hub_engine_id_ok(id)) {
            dext_http_respond_error(c, 400, "bad id");
            return;
        }
    }
    if ((strcmp(what, "logs") == 0 || strcmp(what, "stats") == 0) &&
        strcmp(family(kind), "container") != 0) {
        dext_http_respond_error(c, 400, "logs and stats are for containers");
        return;
    }
    ec = xcalloc(1, sizeof(*ec));
    ec->is_raw = strcmp(what, "logs") == 0;
    path = engine_path(kind, what, id);
    (void)engine_get(h, c, ec, path);
}
