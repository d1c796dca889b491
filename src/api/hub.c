/* SPDX-License-Identifier: MIT */
/* dext's own origin: dashboard, file chooser, engine views. */
#include "api/hub.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
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

#define TOKEN_LEN 32
#define SWEEP_MS 30000
#define CONFIG_MARK "<!--dext-config-->"

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
    char hosts[3][48];
    char origin[64];
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
};

static int random_hex(char *out)
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

static void respond_json(struct dext_http_conn *c, int status, json_t *o)
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
static void send_page(struct dext_http_conn *c, const char *page, size_t len, json_t *config,
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
static bool api_secret_ok(const struct dext_http_req *req, const char *secret)
{
    const struct dext_http_header *h = dext_http_req_known(req, DEXT_H_SECRET);
    const struct dext_http_header *site = dext_http_req_known(req, DEXT_H_FETCH_SITE);

    if (site && !header_is(site, "same-origin"))
        return false;
    return h && dext_secret_equal(secret, h->value, h->value_len);
}

/* A page of the dashboard: the secret in the query (then a cookie is set), in the
 * cookie or in the header. */
static bool page_secret_ok(struct dext_hub *h, const struct dext_http_req *req, char *cookie,
                           size_t cookie_size)
{
    const struct dext_http_header *ch = dext_http_req_known(req, DEXT_H_COOKIE);
    const char *v;
    size_t n;

    if (api_secret_ok(req, h->secret))
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
static bool query_token(const struct dext_http_req *req, const char *key, char *out)
{
    size_t n;
    const char *v = dext_url_query_param(req->url, req->url_len, key, &n);

    if (!v || n != TOKEN_LEN)
        return false;
    memcpy(out, v, TOKEN_LEN);
    out[TOKEN_LEN] = '\0';
    return true;
}

/* ---- file chooser ---- */

static struct chooser *chooser_find(struct dext_hub *h, const char *id)
{
    for (struct chooser *ch = h->choosers; ch; ch = ch->next)
        if (id && strlen(id) == TOKEN_LEN && dext_secret_equal(ch->id, id, TOKEN_LEN))
            return ch;
    return NULL;
}

static void chooser_free(struct chooser *ch)
{
    struct dext_hub *h = ch->hub;

    for (struct chooser **pp = &h->choosers; *pp; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            h->n_choosers--;
            break;
        }
    }
    if (ch->waiter)
        dext_http_conn_detach(ch->waiter);
    json_decref(ch->props);
    json_decref(ch->result);
    free(ch);
}

static void on_waiter_abort(void *data)
{
    struct chooser *ch = data;

    /* The extension's page left: its frame is gone with it. */
    ch->waiter = NULL;
    chooser_free(ch);
}

static const struct dext_http_body_ops waiter_ops = {.on_abort = on_waiter_abort};

static bool prop_has(json_t *props, const char *name)
{
    json_t *list = json_object_get(props, "properties"), *v;
    size_t i;

    json_array_foreach(list, i, v) if (json_is_string(v) &&
                                       strcmp(json_string_value(v), name) == 0) return true;
    return false;
}

bool dext_hub_filter_match(json_t *filters, const char *name)
{
    const char *dot = strrchr(name, '.');
    json_t *f, *ext;
    size_t i, j;

    if (!json_is_array(filters) || json_array_size(filters) == 0)
        return true;
    json_array_foreach(filters, i, f)
    {
        json_array_foreach(json_object_get(f, "extensions"), j, ext)
        {
            const char *e = json_string_value(ext);
            if (!e)
                continue;
            if (e[0] == '.')
                e++;
            if (strcmp(e, "*") == 0 || (dot && dot != name && strcasecmp(dot + 1, e) == 0))
                return true;
        }
    }
    return false;
}

static void on_dialog_open(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub_client *hr = data;
    struct dext_hub *h = hr->hub;
    struct chooser *ch;
    json_t *filters = json_object_get(body, "filters");
    json_t *props = json_object_get(body, "properties");
    json_t *dp = json_object_get(body, "defaultPath");
    char url[128];

    if ((props && !json_is_array(props)) || (filters && !json_is_array(filters)) ||
        (dp && !json_is_string(dp) && !json_is_null(dp))) {
        dext_http_respond_error(c, 400,
                                "showOpenDialog: properties and filters must be arrays, "
                                "defaultPath a string");
        return;
    }
    if (h->n_choosers >= DEXT_HUB_MAX_CHOOSERS) {
        /* Drop the oldest chooser nobody waits for; else refuse. */
        struct chooser *old = NULL;
        for (struct chooser *x = h->choosers; x; x = x->next)
            if (!x->waiter)
                old = x;
        if (!old) {
            dext_http_respond_error(c, 429, "too many file choosers open at once");
            return;
        }
        chooser_free(old);
    }
    ch = xcalloc(1, sizeof(*ch));
    ch->hub = h;
    ch->ext_port = hr->ext_port;
    ch->created_ms = uv_now(h->loop);
    if (random_hex(ch->id) < 0 || random_hex(ch->secret) < 0) {
        free(ch);
        dext_http_respond_error(c, 500, "no randomness for a chooser ticket");
        return;
    }
    ch->props = json_deep_copy(body);
    ch->next = h->choosers;
    h->choosers = ch;
    h->n_choosers++;
    (void)snprintf(url, sizeof(url), "http://%s:%d/__dext/chooser?t=%s", h->url_host, h->port,
                   ch->id);
    respond_json(c, 200, json_pack("{s:s, s:s}", "id", ch->id, "url", url));
}

static void on_dialog_wait(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub_client *hr = data;
    struct chooser *ch = chooser_find(hr->hub, json_string_value(json_object_get(body, "id")));

    if (!ch || ch->ext_port != hr->ext_port) {
        dext_http_respond_error(c, 404, "no such file chooser");
        return;
    }
    if (ch->waiter) {
        dext_http_respond_error(c, 409, "someone already waits for this chooser");
        return;
    }
    if (ch->result) {
        respond_json(c, 200, json_incref(ch->result));
        chooser_free(ch);
        return;
    }
    ch->waiter = c;
    dext_http_conn_attach(c, &waiter_ops, ch);
}

/* The person chose (or cancelled): the extension's waiting call gets the paths. */
static void chooser_finish(struct chooser *ch, json_t *result)
{
    ch->result = result;
    if (ch->waiter) {
        struct dext_http_conn *c = ch->waiter;
        dext_http_conn_detach(c);
        ch->waiter = NULL;
        respond_json(c, 200, json_incref(result));
        chooser_free(ch);
    }
}

struct listing {
    uv_work_t work;
    struct dext_hub *hub;
    struct dext_http_conn *conn; /* NULL once the chooser page left */
    char *path;
    json_t *filters;
    bool show_hidden, want_files, want_dirs;
    json_t *result; /* built on the pool */
    int status;
    char err[256];
};

static int cmp_entry(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int dx = json_is_true(json_object_get(x, "dir")), dy = json_is_true(json_object_get(y, "dir"));

    if (dx != dy)
        return dy - dx;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

/* On the thread pool: resolve the directory to show and list it. */
static void listing_work(uv_work_t *w)
{
    struct listing *l = container_of(w, struct listing, work);
    _cleanup_free_ char *dir = NULL;
    const char *selected = NULL;
    json_t **items;
    size_t n = 0;
    struct stat st;
    struct dirent *de;
    DIR *d;
    int dfd;

    dir = realpath(l->path, NULL);
    if (dir && stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        /* A file: show its directory with the file selected. */
        char *slash = strrchr(dir, '/');
        selected = strrchr(l->path, '/') ? strrchr(l->path, '/') + 1 : NULL;
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
    }
    if (!dir) {
        l->status = 404;
        (void)snprintf(l->err, sizeof(l->err), "%s: %s", l->path, strerror(errno));
        return;
    }
    d = opendir(dir);
    if (!d) {
        l->status = errno == EACCES ? 403 : 404;
        (void)snprintf(l->err, sizeof(l->err), "%s: %s", dir, strerror(errno));
        return;
    }
    dfd = dirfd(d);
    items = xcalloc(DEXT_HUB_MAX_DIR_ENTRIES, sizeof(*items));
    while ((de = readdir(d)) && n < DEXT_HUB_MAX_DIR_ENTRIES) {
        bool is_dir;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_name[0] == '.' && !l->show_hidden)
            continue;
        is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN)
            is_dir = fstatat(dfd, de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        if (!is_dir && (!l->want_files || !dext_hub_filter_match(l->filters, de->d_name)))
            continue;
        items[n++] = json_pack("{s:s, s:b}", "name", de->d_name, "dir", is_dir);
    }
    (void)closedir(d);
    qsort(items, n, sizeof(*items), cmp_entry);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
    l->result = json_pack("{s:s, s:o, s:o}", "path", dir, "entries", arr, "selected",
                          selected ? json_string(selected) : json_null());
    if (strcmp(dir, "/") != 0) {
        char *slash = strrchr(dir, '/');
        json_object_set_new(l->result, "parent",
                            json_stringn(dir, slash == dir ? 1 : (size_t)(slash - dir)));
    } else {
        json_object_set_new(l->result, "parent", json_null());
    }
    l->status = 200;
}

static void listing_abort(void *data)
{
    struct listing *l = data;
    l->conn = NULL;
}

static const struct dext_http_body_ops listing_ops = {.on_abort = listing_abort};

static void listing_done(uv_work_t *w, int status)
{
    struct listing *l = container_of(w, struct listing, work);

    if (l->conn) {
        dext_http_conn_detach(l->conn);
        if (l->result)
            respond_json(l->conn, 200, l->result);
        else
            dext_http_respond_error(l->conn, l->status ? l->status : 500,
                                    l->err[0] ? l->err : "listing failed");
        l->result = NULL;
    }
    json_decref(l->result);
    json_decref(l->filters);
    free(l->path);
    free(l);
}

/* The chooser page's calls carry its ticket and its secret. */
static struct chooser *chooser_auth(struct dext_hub *h, struct dext_http_conn *c, json_t *body)
{
    struct chooser *ch = chooser_find(h, json_string_value(json_object_get(body, "t")));
    const char *sec = json_string_value(json_object_get(body, "secret"));

    if (!ch || !sec || !dext_secret_equal(ch->secret, sec, strlen(sec))) {
        dext_http_respond_error(c, 403, "this chooser is closed");
        return NULL;
    }
    if (ch->result) {
        dext_http_respond_error(c, 409, "this chooser has already been answered");
        return NULL;
    }
    return ch;
}

static void on_chooser_list(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    struct chooser *ch = chooser_auth(h, c, body);
    json_t *jp = json_object_get(body, "path");
    const char *p = json_string_value(jp);
    const char *home = getenv("HOME");
    struct listing *l;

    if (!ch)
        return;
    if ((jp && !json_is_string(jp) && !json_is_null(jp)) ||
        (p && (strlen(p) != json_string_length(jp) || strlen(p) >= PATH_MAX))) {
        dext_http_respond_error(c, 400, "path: expected a path");
        return;
    }
    if (!p || !*p)
        p = home && *home ? home : "/";
    l = xcalloc(1, sizeof(*l));
    l->hub = h;
    l->conn = c;
    l->path = p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", home ? home : "", p);
    l->filters = json_incref(json_object_get(ch->props, "filters"));
    l->show_hidden = prop_has(ch->props, "showHiddenFiles");
    l->want_dirs = prop_has(ch->props, "openDirectory");
    l->want_files = prop_has(ch->props, "openFile") || !l->want_dirs;
    dext_http_conn_attach(c, &listing_ops, l);
    if (uv_queue_work(h->loop, &l->work, listing_work, listing_done) < 0) {
        dext_http_conn_detach(c);
        dext_http_respond_error(c, 500, "cannot list the directory now");
        json_decref(l->filters);
        free(l->path);
        free(l);
    }
}

/* Checks a chosen path: absolute, existing, of a kind the dialog allows. */
static const char *check_pick(json_t *v, bool want_files, bool want_dirs)
{
    const char *p = json_string_value(v);
    struct stat st;

    if (!p || p[0] != '/' || strlen(p) != json_string_length(v) || strlen(p) >= PATH_MAX)
        return "a chosen path is not an absolute path";
    if (stat(p, &st) < 0)
        return "a chosen path does not exist";
    if (S_ISDIR(st.st_mode) ? !want_dirs : !want_files)
        return want_dirs ? "choose a folder" : "choose a file";
    return NULL;
}

static void on_chooser_done(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    struct chooser *ch = chooser_auth(h, c, body);
    json_t *paths = json_object_get(body, "paths"), *v;
    bool want_dirs, want_files;
    size_t i;

    if (!ch)
        return;
    if (json_is_true(json_object_get(body, "canceled"))) {
        chooser_finish(ch, json_pack("{s:b, s:[]}", "canceled", 1, "filePaths"));
        respond_json(c, 200, json_object());
        return;
    }
    want_dirs = prop_has(ch->props, "openDirectory");
    want_files = prop_has(ch->props, "openFile") || !want_dirs;
    if (!json_is_array(paths) || json_array_size(paths) == 0 ||
        json_array_size(paths) > DEXT_HUB_MAX_PICKS ||
        (json_array_size(paths) > 1 && !prop_has(ch->props, "multiSelections"))) {
        dext_http_respond_error(c, 400, "choose one path (or several with multiSelections)");
        return;
    }
    json_array_foreach(paths, i, v)
    {
        const char *why = check_pick(v, want_files, want_dirs);
        if (why) {
            dext_http_respond_error(c, 400, why);
            return;
        }
    }
    chooser_finish(ch, json_pack("{s:b, s:O}", "canceled", 0, "filePaths", paths));
    respond_json(c, 200, json_object());
}

static void serve_chooser(struct dext_hub *h, struct dext_http_conn *c,
                          const struct dext_http_req *req)
{
    char id[TOKEN_LEN + 1];
    struct chooser *ch = query_token(req, "t", id) ? chooser_find(h, id) : NULL;
    const char *home = getenv("HOME");

    if (!ch || ch->result) {
        dext_http_respond_error(c, 404, "this chooser is closed");
        return;
    }
    send_page(c, dext_chooser_html, dext_chooser_html_len,
              json_pack("{s:s, s:s, s:O, s:s}", "t", ch->id, "secret", ch->secret, "props",
                        ch->props, "home", home ? home : "/"),
              ch->ext_port, NULL);
}

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
static bool engine_id_ok(const char *id)
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
    if (random_hex(v->token) < 0)
        return NULL;
    (void)snprintf(v->kind, sizeof(v->kind), "%s", kind);
    v->id = id ? xstrdup(id) : NULL;
    return v;
}

static struct view *view_find(struct dext_hub *h, const char *token)
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
            respond_json(c, 200, json_pack("{s:s}", "url", text));
        }
    } else {
        dext_http_respond(c, 200, ec->is_raw ? "application/octet-stream" : "application/json",
                          "Cache-Control: no-store\r\n", body, len);
    }
    call_free(ec);
}

static int engine_get(struct dext_hub *h, struct dext_http_conn *c, struct engine_call *ec,
                      const char *path)
{
    if (!h->docker && dext_docker_new(h->loop, NULL, &h->docker) < 0) {
        dext_http_respond_error(c, 502, "DOCKER_HOST is not a unix:// or tcp:// address");
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

static void on_navigate(void *data, struct dext_http_conn *c, json_t *body)
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
        respond_json(c, 200, json_pack("{s:s}", "url", url));
        return;
    }
    if (!kind || !in_list(id_kinds, kind)) {
        dext_http_respond_error(c, 400, "unknown view");
        return;
    }
    if (!engine_id_ok(id)) {
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

static void serve_view(struct dext_hub *h, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    char token[TOKEN_LEN + 1], cookie[160] = "";
    struct view *v = query_token(req, "t", token) ? view_find(h, token) : NULL;
    size_t n;
    const char *kind = dext_url_query_param(req->url, req->url_len, "view", &n);

    if (!v && kind && page_secret_ok(h, req, cookie, sizeof(cookie))) {
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
    send_page(c, dext_view_html, dext_view_html_len,
              json_pack("{s:s, s:s, s:s?}", "t", v->token, "view", v->kind, "id", v->id),
              v->ext_port, cookie[0] ? cookie : NULL);
}

static void on_view_data(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    struct view *v = view_find(h, json_string_value(json_object_get(body, "t")));
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
        else if (!engine_id_ok(id)) {
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

/* ---- dashboard ---- */

static void on_extensions(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    respond_json(c, 200, h->list(h->data));
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
    if (!page_secret_ok(h, req, cookie, sizeof(cookie))) {
        static const char page[] =
            "<!doctype html><meta charset=utf-8><title>dext</title>"
            "<p>This page needs the address that <code>dext serve</code> printed when it "
            "started (it carries a one-time secret).</p>";
        dext_http_respond(c, 401, "text/html; charset=utf-8", "Cache-Control: no-store\r\n", page,
                          sizeof(page) - 1);
        return;
    }
    send_page(c, dext_dashboard_html, dext_dashboard_html_len,
              json_pack("{s:s}", "secret", h->secret), 0, cookie);
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
        serve_chooser(h, c, req);
    } else if (get && path_is(req, "/__dext/view")) {
        serve_view(h, c, req);
    } else if (get && req->url_len > STRLEN("/__dext/hub/icon/") &&
               strncmp(req->url, "/__dext/hub/icon/", STRLEN("/__dext/hub/icon/")) == 0) {
        char cookie[160];
        if (!page_secret_ok(h, req, cookie, sizeof(cookie)))
            dext_http_respond_error(c, 401, "missing or wrong dashboard secret");
        else
            serve_icon(h, c, req);
    } else if (post && path_is(req, "/__dext/chooser/list")) {
        dext_api_read_json(c, req, on_chooser_list, h);
    } else if (post && path_is(req, "/__dext/chooser/done")) {
        dext_api_read_json(c, req, on_chooser_done, h);
    } else if (post && path_is(req, "/__dext/view/data")) {
        dext_api_read_json(c, req, on_view_data, h);
    } else if (post && path_is(req, "/__dext/hub/extensions") && h->list) {
        if (!api_secret_ok(req, h->secret))
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
    read_for_site(cl, c, req, on_dialog_open);
}

void dext_hub_dialog_wait(struct dext_hub_client *cl, struct dext_http_conn *c,
                          const struct dext_http_req *req)
{
    read_for_site(cl, c, req, on_dialog_wait);
}

void dext_hub_navigate(struct dext_hub_client *cl, struct dext_http_conn *c,
                       const struct dext_http_req *req)
{
    read_for_site(cl, c, req, on_navigate);
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
            chooser_free(ch);
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
    r = random_hex(h->secret);
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
        chooser_free(ch);
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
