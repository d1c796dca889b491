/* SPDX-License-Identifier: MIT */
/* The file chooser behind showOpenDialog: tickets, listings, the person's pick. */
#include "api/hub-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* ---- file chooser ---- */

static struct chooser *chooser_find(struct dext_hub *h, const char *id)
{
    for (struct chooser *ch = h->choosers; ch; ch = ch->next)
        if (id && strlen(id) == TOKEN_LEN && dext_secret_equal(ch->id, id, TOKEN_LEN))
            return ch;
    return NULL;
}

void dext_hub_chooser_free(struct chooser *ch)
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
    dext_hub_chooser_free(ch);
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

void dext_hub_on_dialog_open(void *data, struct dext_http_conn *c, json_t *body)
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
        dext_hub_chooser_free(old);
    }
    ch = xcalloc(1, sizeof(*ch));
    ch->hub = h;
    ch->ext_port = hr->ext_port;
    ch->created_ms = uv_now(h->loop);
    if (dext_hub_random_hex(ch->id) < 0 || dext_hub_random_hex(ch->secret) < 0) {
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
    dext_hub_respond_json(c, 200, json_pack("{s:s, s:s}", "id", ch->id, "url", url));
}

void dext_hub_on_dialog_wait(void *data, struct dext_http_conn *c, json_t *body)
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
        dext_hub_respond_json(c, 200, json_incref(ch->result));
        dext_hub_chooser_free(ch);
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
        dext_hub_respond_json(c, 200, json_incref(result));
        dext_hub_chooser_free(ch);
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
            dext_hub_respond_json(l->conn, 200, l->result);
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

void dext_hub_on_chooser_list(void *data, struct dext_http_conn *c, json_t *body)
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

void dext_hub_on_chooser_done(void *data, struct dext_http_conn *c, json_t *body)
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
        dext_hub_respond_json(c, 200, json_object());
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
    dext_hub_respond_json(c, 200, json_object());
}

void dext_hub_on_chooser_mkdir(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_hub *h = data;
    struct chooser *ch = chooser_auth(h, c, body);
    json_t *jd = json_object_get(body, "dir"), *jn = json_object_get(body, "name");
    const char *dir = json_string_value(jd), *name = json_string_value(jn);
    _cleanup_close_ int dfd = -1;
    _cleanup_free_ char *made = NULL;
    char msg[PATH_MAX + 64];

    if (!ch)
        return;
    if (!prop_has(ch->props, "createDirectory")) {
        dext_http_respond_error(c, 403, "this dialog does not make new folders");
        return;
    }
    if (!dir || dir[0] != '/' || strlen(dir) != json_string_length(jd) || strlen(dir) >= PATH_MAX) {
        dext_http_respond_error(c, 400, "dir: expected an absolute path");
        return;
    }
    if (!name || !*name || strlen(name) != json_string_length(jn) || strlen(name) > NAME_MAX ||
        strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        dext_http_respond_error(c, 400, "name: a folder name, without '/'");
        return;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || mkdirat(dfd, name, 0777) < 0) {
        int err = errno;
        if (err == EEXIST)
            (void)snprintf(msg, sizeof(msg), "%s already exists in %s", name, dir);
        else
            (void)snprintf(msg, sizeof(msg), "cannot make %s in %s: %s", name, dir, strerror(err));
        dext_http_respond_error(c,
                                err == EEXIST                   ? 409
                                : err == EACCES || err == EPERM ? 403
                                                                : 400,
                                msg);
        return;
    }
    made = strcmp(dir, "/") == 0 ? xasprintf("/%s", name) : xasprintf("%s/%s", dir, name);
    dext_hub_respond_json(c, 201, json_pack("{s:s}", "path", made));
}

void dext_hub_serve_chooser(struct dext_hub *h, struct dext_http_conn *c,
                            const struct dext_http_req *req)
{
    char id[TOKEN_LEN + 1];
    struct chooser *ch = dext_hub_query_token(req, "t", id) ? chooser_find(h, id) : NULL;
    const char *home = getenv("HOME");

    if (!ch || ch->result) {
        dext_http_respond_error(c, 404, "this chooser is closed");
        return;
    }
    dext_hub_send_page(c, dext_chooser_html, dext_chooser_html_len,
                       json_pack("{s:s, s:s, s:O, s:s}", "t", ch->id, "secret", ch->secret, "props",
                                 ch->props, "home", home ? home : "/"),
                       ch->ext_port, NULL);
}
