/* SPDX-License-Identifier: MIT */
/* dext's own origin: the listener, its checks, the dashboard and the entry points. */
#include "api/hub.h"
#include "api/hub-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/body.h"
#include "api/site.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "docker/client.h"
#include "http/static.h"

#define SWEEP_MS 30000
#define CONFIG_MARK "<!--dext-config-->"

int dext_hub_random_hex(char *out)
{
    unsigned char raw[TOKEN_LEN / 2];
    static const char hex[] = "0123456789abcdef";

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[TOKEN_LEN] = '\0';
    return 0;
}

void dext_hub_respond_json(struct dext_http_conn *c, int status, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    dext_http_respond(c, status, "application/json", "Cache-Control: no-store\r\n", text,
                      strlen(text));
    free(text);
    json_decref(o);
}

/* ---- pages ---- */

/* Sends one of the embedded pages with @config (taken) in place of its marker.
 * @ext_port > 0: only that extension's pages may frame it; else only dext's own. */
void dext_hub_send_page(struct dext_http_conn *c, const char *page, size_t len, json_t *config,
                        int ext_port, const char *extra)
{
    _cleanup_free_ char *cfg = json_dumps(config, JSON_COMPACT | JSON_ESCAPE_SLASH);
    const char *mark = memmem(page, len, CONFIG_MARK, STRLEN(CONFIG_MARK));
    size_t head = mark ? (size_t)(mark - page) : 0;
    size_t skip = mark ? STRLEN(CONFIG_MARK) : 0;
    char ancestors[200] = "'self'";
    struct dext_buf out, hdr;

    json_decref(config);
    if (ext_port > 0)
        (void)snprintf(ancestors, sizeof(ancestors),
                       "http://127.0.0.1:%d http://localhost:%d http://[::1]:%d", ext_port,
                       ext_port, ext_port);
    dext_buf_init(&out, len + strlen(cfg) + 64);
    (void)dext_buf_append(&out, page, head);
    (void)dext_buf_printf(&out, "<script>window.__dextHub=%s;</script>", cfg);
    (void)dext_buf_append(&out, page + head + skip, len - head - skip);
    dext_buf_init(&hdr, 4096);
    (void)dext_buf_printf(&hdr,
                          "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                          "Referrer-Policy: no-referrer\r\n"
                          "Content-Security-Policy: default-src 'self'; script-src "
                          "'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; "
                          "frame-ancestors %s\r\n%s",
                          ancestors, extra ? extra : "");
    (void)dext_buf_terminate(&hdr);
    dext_http_respond(c, 200, "text/html; charset=utf-8", hdr.data, out.data, out.len);
    dext_buf_done(&out);
    dext_buf_done(&hdr);
}

/* ---- checks ---- */

static bool header_is(const struct dext_http_header *h, const char *v)
{
    return h && h->value_len == strlen(v) && strncasecmp(h->value, v, h->value_len) == 0;
}

static bool check_host(struct dext_hub *h, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    const struct dext_http_header *host = dext_http_req_known(req, DEXT_H_HOST);
    const struct dext_http_header *origin = dext_http_req_known(req, DEXT_H_ORIGIN);
    bool ok = false;

    if (!host) {
        dext_http_respond_error(c, 400, "missing Host header");
        return false;
    }
    for (size_t i = 0; i < ELEMENTSOF(h->hosts); i++)
        ok = ok || header_is(host, h->hosts[i]);
    if (!ok) {
        dext_http_respond_error(c, 403, "request for another host refused");
        return false;
    }
    /* Only dext's own pages call in (as 127.0.0.1, the address dext gives out). */
    if (origin && !header_is(origin, h->origin)) {
        dext_http_respond_error(c, 403, "cross-origin request refused");
        return false;
    }
    return true;
}

/* An API call: same-origin, X-Dext-Secret equal to @secret. */
bool dext_hub_api_secret_ok(const struct dext_http_req *req, const char *secret)
{
    const struct dext_http_header *h = dext_http_req_known(req, DEXT_H_SECRET);
    const struct dext_http_header *site = dext_http_req_known(req, DEXT_H_FETCH_SITE);

    if (site && !header_is(site, "same-origin"))
        return false;
    return h && dext_secret_equal(secret, h->value, h->value_len);
}

/* A page of the dashboard: the secret in the query (then a cookie is set), in the
 * cookie or in the header. */
bool dext_hub_page_secret_ok(struct dext_hub *h, const struct dext_http_req *req, char *cookie,
                             size_t cookie_size)
{
    const struct dext_http_header *ch = dext_http_req_known(req, DEXT_H_COOKIE);
    const char *v;
    size_t n;

    if (dext_hub_api_secret_ok(req, h->secret))
        return true;
    v = dext_url_query_param(req->url, req->url_len, "dext-secret", &n);
    if (v && dext_secret_equal(h->secret, v, n)) {
        (void)snprintf(cookie, cookie_size,
                       "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict\r\n", h->cookie_name,
                       h->secret);
        return true;
    }
    v = ch ? dext_cookie_value(ch->value, ch->value_len, h->cookie_name, &n) : NULL;
    return v && dext_secret_equal(h->secret, v, n);
}

static bool path_is(const struct dext_http_req *req, const char *p)
{
    size_t n = strlen(p);
    return req->url_len >= n && memcmp(req->url, p, n) == 0 &&
           (req->url_len == n || req->url[n] == '?');
}

/* The 32-hex value of query parameter @key, copied into @out. */
bool dext_hub_query_token(const struct dext_http_req *req, const char *key, char *out)
{
    size_t n;
    const char *v = dext_url_query_param(req->url, req->url_len, key, &n);

    if (!v || n != TOKEN_LEN)
        return false;
    memcpy(out, v, TOKEN_LEN);
    out[TOKEN_LEN] = '\0';
    return true;
}

/* ---- dashboard ---- */

static void on_extensions(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    dext_hub_respond_json(c, 200, h->list(h->data));
}

static void serve_icon(struct dext_hub *h, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    const char *name = req->url + STRLEN("/__dext/hub/icon/");
    const char *q = memchr(name, '?', req->url_len - STRLEN("/__dext/hub/icon/"));
    _cleanup_free_ char *n = xstrndup(name, q ? (size_t)(q - name) : strlen(name));
    const char *root, *icon;
    char opened[DEXT_PATH_MAX + 32];
    int dfd, fd;

    if (!h->icon || h->icon(h->data, n, &root, &icon) < 0) {
        dext_http_respond_error(c, 404, "no icon");
        return;
    }
    dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        dext_http_respond_error(c, 404, "no icon");
        return;
    }
    fd = dext_static_open(dfd, icon, opened, sizeof(opened));
    (void)close(dfd);
    if (fd < 0) {
        dext_http_respond_error(c, 404, "no icon");
        return;
    }
    dext_static_send(c, req, fd, opened,
                     &(struct dext_static_opts){.extra_headers =
                                                    "Content-Security-Policy: default-src 'none'; "
                                                    "style-src 'unsafe-inline'\r\n"
                                                    "X-Content-Type-Options: nosniff\r\n"},
                     h->loop);
}

static void serve_dashboard(struct dext_hub *h, struct dext_http_conn *c,
                            const struct dext_http_req *req)
{
    char cookie[160] = "";

    if (!h->list) {
        dext_http_respond_error(c, 404, "dext run has no dashboard: use dext serve");
        return;
    }
    if (!dext_hub_page_secret_ok(h, req, cookie, sizeof(cookie))) {
        static const char page[] =
            "<!doctype html><meta charset=utf-8><title>dext</title>"
            "<p>This page needs the address that <code>dext serve</code> printed when it "
            "started (it carries a one-time secret).</p>";
        dext_http_respond(c, 401, "text/html; charset=utf-8", "Cache-Control: no-store\r\n", page,
                          sizeof(page) - 1);
        return;
    }
    dext_hub_send_page(c, dext_dashboard_html, dext_dashboard_html_len,
                       json_pack("{s:s}", "secret", h->secret), 0, cookie);
}

/* A call that drives something (a terminal) comes only from a page of dext's own
 * origin: a browser names the origin of every POST, and check_host has compared it. */
static bool view_call_ok(const struct dext_http_req *req, struct dext_http_conn *c)
{
    const struct dext_http_header *site = dext_http_req_known(req, DEXT_H_FETCH_SITE);

    if (!dext_http_req_known(req, DEXT_H_ORIGIN) || (site && !header_is(site, "same-origin"))) {
        dext_http_respond_error(c, 403, "cross-origin request refused");
        return false;
    }
    return true;
}

static void on_request(void *userdata, struct dext_http_conn *c, struct dext_http_req *req)
{
    struct dext_hub *h = userdata;
    bool get = req->method_id == HTTP_GET || req->method_id == HTTP_HEAD;
    bool post = req->method_id == HTTP_POST;

    if (!check_host(h, c, req))
        return;
    if (get && (path_is(req, "/") || path_is(req, "/index.html"))) {
        serve_dashboard(h, c, req);
    } else if (get && path_is(req, "/__dext/chooser")) {
        dext_hub_serve_chooser(h, c, req);
    } else if (get && path_is(req, "/__dext/view")) {
        dext_hub_serve_view(h, c, req);
    } else if (get && req->url_len > STRLEN("/__dext/hub/icon/") &&
               strncmp(req->url, "/__dext/hub/icon/", STRLEN("/__dext/hub/icon/")) == 0) {
        char cookie[160];
        if (!dext_hub_page_secret_ok(h, req, cookie, sizeof(cookie)))
            dext_http_respond_error(c, 401, "missing or wrong dashboard secret");
        else
            serve_icon(h, c, req);
    } else if (post && path_is(req, "/__dext/chooser/list")) {
        dext_api_read_json(c, req, dext_hub_on_chooser_list, h);
    } else if (post && path_is(req, "/__dext/chooser/done")) {
        dext_api_read_json(c, req, dext_hub_on_chooser_done, h);
    } else if (post && path_is(req, "/__dext/chooser/mkdir")) {
        dext_api_read_json(c, req, dext_hub_on_chooser_mkdir, h);
    } else if (post && path_is(req, "/__dext/view/data")) {
        dext_api_read_json(c, req, dext_hub_on_view_data, h);
    } else if (post && path_is(req, "/__dext/view/term/open")) {
        if (view_call_ok(req, c))
            dext_api_read_json(c, req, dext_hub_on_term_open, h);
    } else if (post && path_is(req, "/__dext/view/term/input")) {
        if (view_call_ok(req, c))
            dext_api_read_json(c, req, dext_hub_on_term_input, h);
    } else if (post && path_is(req, "/__dext/view/term/resize")) {
        if (view_call_ok(req, c))
            dext_api_read_json(c, req, dext_hub_on_term_resize, h);
    } else if (post && path_is(req, "/__dext/view/term/close")) {
        if (view_call_ok(req, c))
            dext_api_read_json(c, req, dext_hub_on_term_close, h);
    } else if (post && path_is(req, "/__dext/hub/extensions") && h->list) {
        if (!dext_hub_api_secret_ok(req, h->secret))
            dext_http_respond_error(c, 401, "missing or wrong X-Dext-Secret");
        else
            dext_api_read_json(c, req, on_extensions, h);
    } else {
        dext_http_respond_error(c, 404, "no such page");
    }
}

/* ---- the extension-facing entry points ---- */

static void read_for_site(struct dext_hub_client *cl, struct dext_http_conn *c,
                          const struct dext_http_req *req, dext_json_body_cb cb)
{
    if (req->method_id != HTTP_POST) {
        dext_http_respond_error(c, 405, "use POST with a JSON body");
        return;
    }
    dext_api_read_json(c, req, cb, cl);
}

void dext_hub_dialog_open(struct dext_hub_client *cl, struct dext_http_conn *c,
                          const struct dext_http_req *req)
{
    read_for_site(cl, c, req, dext_hub_on_dialog_open);
}

void dext_hub_dialog_wait(struct dext_hub_client *cl, struct dext_http_conn *c,
                          const struct dext_http_req *req)
{
    read_for_site(cl, c, req, dext_hub_on_dialog_wait);
}

void dext_hub_navigate(struct dext_hub_client *cl, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    read_for_site(cl, c, req, dext_hub_on_navigate);
}

/* ---- lifetime ---- */

static void on_sweep(uv_timer_t *t)
{
    struct dext_hub *h = t->data;
    uint64_t now = uv_now(h->loop);
    struct chooser *ch = h->choosers, *next;

    for (; ch; ch = next) {
        next = ch->next;
        if (!ch->waiter && now - ch->created_ms > DEXT_HUB_CHOOSER_TTL_MS)
            dext_hub_chooser_free(ch);
    }
}

int dext_hub_new(uv_loop_t *loop, const struct dext_hub_config *cfg, struct dext_hub **ret)
{
    struct dext_hub *h = xcalloc(1, sizeof(*h));
    const char *host;
    int r;

    h->loop = loop;
    h->list = cfg->list;
    h->icon = cfg->icon;
    h->data = cfg->data;
    r = dext_hub_random_hex(h->secret);
    if (r == 0)
        r = dext_http_server_new(loop, cfg->listen_host ? cfg->listen_host : "127.0.0.1", cfg->port,
                                 on_request, h, &h->server);
    if (r < 0) {
        free(h);
        return r;
    }
    h->port = dext_http_server_port(h->server);
    /* URLs name the address listened on (127.0.0.1 unless told otherwise). */
    host = cfg->listen_host ? cfg->listen_host : "127.0.0.1";
    if (strchr(host, ':'))
        (void)snprintf(h->url_host, sizeof(h->url_host), "[%s]", host);
    else
        (void)snprintf(h->url_host, sizeof(h->url_host), "%s", host);
    (void)snprintf(h->cookie_name, sizeof(h->cookie_name), "dext-%d", h->port);
    (void)snprintf(h->hosts[0], sizeof(h->hosts[0]), "%s:%d", h->url_host, h->port);
    (void)snprintf(h->hosts[1], sizeof(h->hosts[1]), "localhost:%d", h->port);
    (void)snprintf(h->hosts[2], sizeof(h->hosts[2]), "%s:%d",
                   strcmp(h->url_host, "[::1]") == 0 ? "127.0.0.1" : "[::1]", h->port);
    (void)snprintf(h->origin, sizeof(h->origin), "http://%s:%d", h->url_host, h->port);
    (void)uv_timer_init(loop, &h->sweep);
    h->sweep.data = h;
    (void)uv_timer_start(&h->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&h->sweep);
    *ret = h;
    return 0;
}

int dext_hub_port(const struct dext_hub *h)
{
    return h->port;
}

char *dext_hub_url(const struct dext_hub *h)
{
    return xasprintf("http://%s:%d/?dext-secret=%s", h->url_host, h->port, h->secret);
}

static void on_sweep_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void dext_hub_free(struct dext_hub *h)
{
    if (!h)
        return;
    dext_http_server_close(h->server);
    while (h->choosers) {
        struct chooser *ch = h->choosers;
        if (ch->waiter) {
            struct dext_http_conn *c = ch->waiter;
            dext_http_conn_detach(c);
            ch->waiter = NULL;
            dext_http_respond_error(c, 503, "dext is stopping");
        }
        dext_hub_chooser_free(ch);
    }
    for (struct engine_call *ec = h->calls; ec; ec = ec->next) {
        if (ec->conn) {
            dext_http_conn_detach(ec->conn);
            dext_http_respond_error(ec->conn, 503, "dext is stopping");
            ec->conn = NULL;
        }
    }
    dext_docker_free(h->docker); /* each pending call ends here, synchronously */
    for (size_t i = 0; i < DEXT_HUB_MAX_VIEWS; i++)
        free(h->views[i].id);
    (void)uv_timer_stop(&h->sweep);
    uv_close((uv_handle_t *)&h->sweep, on_sweep_closed);
}
