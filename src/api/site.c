/* SPDX-License-Identifier: MIT */
/* One extension on one listener: Host/Origin/secret checks and routing. */
#include "api/site.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/devsrc.h"
#include "api/docker.h"
#include "api/events.h"
#include "api/exec.h"
#include "api/inject.h"
#include "runtime/process.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "http/server.h"
#include "http/static.h"

#define API_PREFIX "/__dext/"
#define SERVICE_PREFIX "/__dext/vm/service"

struct dext_site {
    uv_loop_t *loop;
    struct dext_exec_ctx exec;
    struct dext_events *events;
    struct dext_docker_api *docker;
    char *root, *guest_dir, *self_exe, *image;
    struct dext_http_server *server;
    struct dext_backend *backend;
    int ui_fd;
    int port;
    char *name;
    char *entry;       /* ui src path, normalised */
    char *entry_query; /* ui src query or NULL */
    char *inject;
    char *dev_url; /* dev ui-source, or NULL */
    struct dext_hub_client hub;
    char secret[DEXT_SECRET_LEN + 1];
    char cookie_name[32];
    char hosts[3][48];
    char origins[3][64];
};

static const char unauthorized_page[] =
    "<!doctype html><meta charset=utf-8><title>dext</title>"
    "<p>This page needs the address that <code>dext</code> printed when it started "
    "(it carries a one-time secret).</p>";

const char *dext_url_query_param(const char *url, size_t url_len, const char *key, size_t *ret_len)
{
    const char *q = memchr(url, '?', url_len);
    const char *end = url + url_len;
    size_t klen = strlen(key);

    if (!q)
        return NULL;
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            *ret_len = (size_t)(stop - p) - klen - 1;
            return p + klen + 1;
        }
        p = stop + 1;
    }
    return NULL;
}

size_t dext_url_without_param(const char *url, size_t url_len, const char *key, char *out,
                              size_t size)
{
    const char *q = memchr(url, '?', url_len), *p, *end = url + url_len;
    size_t klen = strlen(key), n;
    bool first = true;

    n = q ? (size_t)(q - url) : url_len;
    if (n >= size)
        n = size - 1;
    memcpy(out, url, n);
    if (!q) {
        out[n] = '\0';
        return n;
    }
    /* Each "name[=value]" of the query, but @key's, in order. */
    for (p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
        size_t plen = (size_t)(stop - p);
        bool is_key = plen >= klen && memcmp(p, key, klen) == 0 && (plen == klen || p[klen] == '=');
        if (plen && !is_key && n + plen + 1 < size) {
            out[n++] = first ? '?' : '&';
            memcpy(out + n, p, plen);
            n += plen;
            first = false;
        }
        p = stop + (amp ? 1 : 0);
    }
    out[n] = '\0';
    return n;
}

const char *dext_cookie_value(const char *header, size_t len, const char *name, size_t *ret_len)
{
    const char *end = header + len;
    size_t nlen = strlen(name);

    for (const char *p = header; p < end;) {
        while (p < end && (*p == ' ' || *p == ';'))
            p++;
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        if ((size_t)(stop - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            *ret_len = (size_t)(stop - p) - nlen - 1;
            return p + nlen + 1;
        }
        p = stop;
    }
    return NULL;
}

bool dext_secret_equal(const char *secret, const char *candidate, size_t len)
{
    size_t n = strlen(secret);
    unsigned char diff = (unsigned char)(len != n);

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(secret[i] ^ (i < len ? candidate[i] : 0));
    return diff == 0;
}

static bool value_in(const struct dext_http_header *h, char list[][64], size_t n_list, size_t width)
{
    for (size_t i = 0; i < n_list; i++) {
        const char *v = (const char *)list + i * width;
        if (h->value_len == strlen(v) && strncasecmp(h->value, v, h->value_len) == 0)
            return true;
    }
    return false;
}

static bool host_ok(const struct dext_site *s, const struct dext_http_header *h)
{
    for (size_t i = 0; i < ELEMENTSOF(s->hosts); i++)
        if (h->value_len == strlen(s->hosts[i]) &&
            strncasecmp(h->value, s->hosts[i], h->value_len) == 0)
            return true;
    return false;
}

/* Host, Origin: the request must come to this site, from this site. */
static bool check_origin(struct dext_site *s, struct dext_http_conn *c,
                         const struct dext_http_req *req)
{
    const struct dext_http_header *host = dext_http_req_known(req, DEXT_H_HOST);
    const struct dext_http_header *origin = dext_http_req_known(req, DEXT_H_ORIGIN);

    if (!host) {
        dext_http_respond_error(c, 400, "missing Host header");
        return false;
    }
    if (!host_ok(s, host)) {
        dext_http_respond_error(c, 403, "request for another host refused");
        return false;
    }
    if (origin && !value_in(origin, s->origins, ELEMENTSOF(s->origins), sizeof(s->origins[0]))) {
        dext_http_respond_error(c, 403, "cross-origin request refused");
        return false;
    }
    return true;
}

static bool header_secret_ok(const struct dext_site *s, const struct dext_http_req *req)
{
    const struct dext_http_header *h = dext_http_req_known(req, DEXT_H_SECRET);
    return h && dext_secret_equal(s->secret, h->value, h->value_len);
}

static bool route_is(const struct dext_http_req *req, const char *route)
{
    size_t n = strlen(route);
    return req->url_len == n && memcmp(req->url, route, n) == 0;
}

static void handle_api(struct dext_site *s, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    const struct dext_http_header *site = dext_http_req_known(req, DEXT_H_FETCH_SITE);
    size_t plen = STRLEN(SERVICE_PREFIX);

    if (!header_secret_ok(s, req)) {
        dext_http_respond_error(c, 401, "missing or wrong X-Dext-Secret");
        return;
    }
    if (site && !(site->value_len == 11 && strncasecmp(site->value, "same-origin", 11) == 0)) {
        dext_http_respond_error(c, 403, "cross-site request refused");
        return;
    }
    if (req->url_len >= plen && strncmp(req->url, SERVICE_PREFIX, plen) == 0 &&
        (req->url[plen] == '/' || req->url[plen] == '?' || req->url[plen] == '\0')) {
        const char *target = req->url + plen;
        size_t tlen = req->url_len - plen;
        char with_slash[DEXT_HTTP_MAX_HEAD];

        if (!s->backend) {
            dext_http_respond_error(c, 502,
                                    "this extension declares no backend socket "
                                    "(vm.exposes.socket in metadata.json)");
            return;
        }
        if (tlen == 0 || target[0] == '?') {
            /* "/__dext/vm/service?x" means "/?x" on the backend. */
            int n = snprintf(with_slash, sizeof(with_slash), "/%.*s", (int)tlen, target);
            dext_backend_relay(s->backend, c, req, with_slash, (size_t)n);
            return;
        }
        dext_backend_relay(s->backend, c, req, target, tlen);
        return;
    }
    if (route_is(req, "/__dext/exec")) {
        dext_exec_handle(&s->exec, c, req);
        return;
    }
    if (route_is(req, "/__dext/docker/containers")) {
        dext_docker_api_list(s->docker, c, req, false);
        return;
    }
    if (route_is(req, "/__dext/docker/images")) {
        dext_docker_api_list(s->docker, c, req, true);
        return;
    }
    if (route_is(req, "/__dext/events")) {
        dext_events_open(s->events, c, req);
        return;
    }
    if (route_is(req, "/__dext/exec/stream")) {
        dext_events_start(s->events, c, req);
        return;
    }
    if (route_is(req, "/__dext/exec/close")) {
        dext_events_close(s->events, c, req);
        return;
    }
    if (route_is(req, "/__dext/dialog/open") || route_is(req, "/__dext/dialog/wait") ||
        route_is(req, "/__dext/navigate")) {
        if (!s->hub.hub)
            dext_http_respond_error(c, 503, "dext's own origin is not running");
        else if (route_is(req, "/__dext/navigate"))
            dext_hub_navigate(&s->hub, c, req);
        else if (route_is(req, "/__dext/dialog/open"))
            dext_hub_dialog_open(&s->hub, c, req);
        else
            dext_hub_dialog_wait(&s->hub, c, req);
        return;
    }
    dext_http_respond_error(c, 404, "no such dext API route");
}

static void redirect_to_entry(struct dext_site *s, struct dext_http_conn *c,
                              const struct dext_http_req *req)
{
    const char *q = memchr(req->url, '?', req->url_len);
    char headers[DEXT_HTTP_MAX_HEAD + 64];

    /* Keep the caller's query (deep links, the secret) and add the src's own. */
    (void)snprintf(headers, sizeof(headers), "Location: /%s%s%s%s%.*s\r\n", s->entry,
                   s->entry_query || q ? "?" : "", s->entry_query ? s->entry_query : "",
                   s->entry_query && q ? "&" : "",
                   q ? (int)(req->url_len - (size_t)(q - req->url) - 1) : 0, q ? q + 1 : "");
    dext_http_respond(c, 302, "text/plain; charset=utf-8", headers, "", 0);
}

static void handle_ui(struct dext_site *s, struct dext_http_conn *c,
                      const struct dext_http_req *req)
{
    char rel[DEXT_PATH_MAX + 1], opened[DEXT_PATH_MAX + 32], cookie[160] = "";
    const struct dext_http_header *ch = dext_http_req_known(req, DEXT_H_COOKIE);
    const char *v;
    size_t vlen;
    bool ok = header_secret_ok(s, req);
    struct dext_static_opts opts;
    int fd, n;

    if (req->method_id != HTTP_GET && req->method_id != HTTP_HEAD) {
        dext_http_respond(c, 405, "text/plain; charset=utf-8", "Allow: GET, HEAD\r\n",
                          "method not allowed\n", 19);
        return;
    }
    if (!ok && (v = dext_url_query_param(req->url, req->url_len, "dext-secret", &vlen)) &&
        dext_secret_equal(s->secret, v, vlen)) {
        ok = true;
        (void)snprintf(cookie, sizeof(cookie),
                       "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict\r\n", s->cookie_name,
                       s->secret);
    }
    if (!ok && ch && (v = dext_cookie_value(ch->value, ch->value_len, s->cookie_name, &vlen)))
        ok = dext_secret_equal(s->secret, v, vlen);
    if (!ok) {
        dext_http_respond(c, 401, "text/html; charset=utf-8", "Cache-Control: no-store\r\n",
                          unauthorized_page, sizeof(unauthorized_page) - 1);
        return;
    }
    if (s->dev_url) {
        /* The dev server gets the path and query, without dext's secret. */
        char target[DEXT_HTTP_MAX_HEAD];
        size_t tlen =
            dext_url_without_param(req->url, req->url_len, "dext-secret", target, sizeof(target));
        if (req->upgrade)
            dext_devsrc_tunnel(s->loop, s->dev_url, c, req, target, tlen);
        else
            dext_devsrc_fetch(s->loop, s->dev_url, c, req, target, tlen, s->inject,
                              cookie[0] ? cookie : NULL);
        return;
    }
    n = dext_path_normalize(req->url, req->url_len, true, rel, sizeof(rel));
    if (n == -EACCES) {
        dext_http_respond_error(c, 403, "path leaves the UI directory");
        return;
    }
    if (n < 0) {
        dext_http_respond_error(c, n == -EMSGSIZE ? 414 : 400, "malformed path");
        return;
    }
    if (n == 0) {
        redirect_to_entry(s, c, req);
        return;
    }
    fd = dext_static_open(s->ui_fd, rel, opened, sizeof(opened));
    if (fd == -EACCES) {
        dext_http_respond_error(c, 403, "path leaves the UI directory");
        return;
    }
    if (fd < 0) {
        dext_http_respond_error(c, 404, "no such file in the extension's UI");
        return;
    }
    opts = (struct dext_static_opts){
        .html_inject = s->inject,
        .extra_headers = cookie[0] ? cookie : NULL,
    };
    dext_static_send(c, req, fd, opened, &opts, s->loop);
}

static void on_request(void *userdata, struct dext_http_conn *c, struct dext_http_req *req)
{
    struct dext_site *s = userdata;

    if (!check_origin(s, c, req))
        return;
    if (req->upgrade && (!s->dev_url || (req->url_len >= STRLEN(API_PREFIX) &&
                                         strncmp(req->url, API_PREFIX, STRLEN(API_PREFIX)) == 0))) {
        /* Only a dev server's own WebSocket is carried (dext dev ui-source). */
        dext_http_respond_error(c, 400, "protocol upgrade is not supported here");
        return;
    }
    if (req->url_len >= STRLEN(API_PREFIX) &&
        strncmp(req->url, API_PREFIX, STRLEN(API_PREFIX)) == 0) {
        handle_api(s, c, req);
        return;
    }
    handle_ui(s, c, req);
}

static int make_secret(char *out)
{
    unsigned char raw[DEXT_SECRET_LEN / 2];
    static const char hex[] = "0123456789abcdef";

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[DEXT_SECRET_LEN] = '\0';
    return 0;
}

int dext_site_new(uv_loop_t *loop, const struct dext_site_config *cfg, struct dext_site **ret)
{
    struct dext_site *s = xcalloc(1, sizeof(*s));
    const struct dext_ext_meta *m = cfg->meta;
    char *ui_dir;
    int r;

    s->loop = loop;
    s->ui_fd = -1;
    s->exec.mntns_fd = -1;
    s->name = xstrdup(cfg->name);
    if (cfg->secret && strlen(cfg->secret) == DEXT_SECRET_LEN) {
        memcpy(s->secret, cfg->secret, DEXT_SECRET_LEN + 1);
        r = 0;
    } else {
        r = make_secret(s->secret);
    }
    if (r < 0)
        goto fail;
    ui_dir = xasprintf("%s/%s", cfg->root, m->has_ui ? m->ui_root : "");
    s->ui_fd = open(ui_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r = s->ui_fd < 0 ? -errno : 0;
    free(ui_dir);
    if (r < 0)
        goto fail;
    s->entry = xstrdup(m->has_ui && m->ui_src ? m->ui_src : "index.html");
    s->root = xstrdup(cfg->root);
    s->guest_dir = xstrdup(cfg->guest_dir ? cfg->guest_dir : "");
    s->self_exe = xstrdup(cfg->self_exe ? cfg->self_exe : "/proc/self/exe");
    s->image = xstrdup(cfg->image ? cfg->image : "");
    s->exec = (struct dext_exec_ctx){
        .loop = loop,
        .name = s->name,
        .root = s->root,
        .guest_dir = s->guest_dir,
        .self_exe = s->self_exe,
        .image = s->image,
        .meta = m,
        .mntns_fd = -1,
    };
    if (cfg->engine && m->has_vm) {
        s->exec.engine = dext_engine_target_new(loop, cfg->name, s->image);
    } else if (cfg->guest_dir && m->has_vm) {
        int ns = dext_guest_ns_open(cfg->guest_dir);
        s->exec.mntns_fd = ns >= 0 ? ns : -1;
    }
    s->events = dext_events_new(&s->exec);
    s->docker = dext_docker_api_new(loop);
    s->entry_query = m->ui_src_query ? xstrdup(m->ui_src_query) : NULL;
    s->inject = dext_inject_script(&(struct dext_inject_info){
        .secret = s->secret,
        .name = cfg->name,
        .image = cfg->image,
        .has_vm = m->has_vm,
        .has_service = cfg->socket_path != NULL,
        .has_host = m->n_host_binaries > 0,
        .reload = cfg->reload,
        .install_id = cfg->install_id,
    });
    s->dev_url = cfg->dev_url ? xstrdup(cfg->dev_url) : NULL;
    if (cfg->socket_path)
        s->backend = dext_backend_new(loop, cfg->socket_path);
    r = dext_http_server_new(loop, cfg->listen_host, cfg->port, on_request, s, &s->server);
    if (r < 0)
        goto fail;
    s->port = dext_http_server_port(s->server);
    s->hub = (struct dext_hub_client){.hub = cfg->hub, .ext_port = s->port};
    (void)snprintf(s->cookie_name, sizeof(s->cookie_name), "dext-%d", s->port);
    (void)snprintf(s->hosts[0], sizeof(s->hosts[0]), "127.0.0.1:%d", s->port);
    (void)snprintf(s->hosts[1], sizeof(s->hosts[1]), "localhost:%d", s->port);
    (void)snprintf(s->hosts[2], sizeof(s->hosts[2]), "[::1]:%d", s->port);
    for (size_t i = 0; i < 3; i++)
        (void)snprintf(s->origins[i], sizeof(s->origins[i]), "http://%s", s->hosts[i]);
    *ret = s;
    return 0;
fail:
    dext_site_free(s);
    return r;
}

int dext_site_port(const struct dext_site *s)
{
    return s->port;
}

char *dext_site_url(const struct dext_site *s)
{
    const char *path;
    char ip[48], why[160];
    int port;

    if (s->dev_url && dext_devsrc_parse_url(s->dev_url, ip, &port, &path, why) == 0)
        return xasprintf("http://127.0.0.1:%d%s%sdext-secret=%s", s->port, path,
                         strchr(path, '?') ? "&" : "?", s->secret);
    return xasprintf("http://127.0.0.1:%d/%s?%s%sdext-secret=%s", s->port, s->entry,
                     s->entry_query ? s->entry_query : "", s->entry_query ? "&" : "", s->secret);
}

void dext_site_set_limits(struct dext_site *s, const struct dext_http_limits *l)
{
    dext_http_server_set_limits(s->server, l);
    if (s->backend && l->max_body)
        dext_backend_set_max_body(s->backend, l->max_body);
}

const char *dext_site_secret(const struct dext_site *s)
{
    return s->secret;
}

struct dext_backend *dext_site_backend(struct dext_site *s)
{
    return s->backend;
}

void dext_site_reload_pages(struct dext_site *s)
{
    dext_events_broadcast(s->events, DEXT_FRAME_RELOAD);
}

bool dext_site_set_dev_url(struct dext_site *s, const char *url)
{
    if ((!url && !s->dev_url) || (url && s->dev_url && strcmp(url, s->dev_url) == 0))
        return false;
    free(s->dev_url);
    s->dev_url = url ? xstrdup(url) : NULL;
    return true;
}

void dext_site_free(struct dext_site *s)
{
    if (!s)
        return;
    dext_http_server_close(s->server);
    dext_events_free(s->events);
    if (s->exec.mntns_fd >= 0)
        (void)close(s->exec.mntns_fd);
    dext_docker_api_free(s->docker);
    dext_engine_target_free(s->exec.engine);
    dext_engine_target_free(s->exec.containers);
    dext_backend_free(s->backend);
    if (s->ui_fd >= 0)
        (void)close(s->ui_fd);
    free(s->name);
    free(s->root);
    free(s->guest_dir);
    free(s->self_exe);
    free(s->image);
    free(s->entry);
    free(s->entry_query);
    free(s->inject);
    free(s->dev_url);
    free(s);
}
