/* SPDX-License-Identifier: MIT */
/* Container and image lists straight from the Engine API. */
#include "api/docker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "docker/client.h"

struct list_req {
    struct dext_docker_api *api;
    bool images;
};

struct dext_docker_api {
    uv_loop_t *loop;
    struct dext_docker *client; /* made on first use */
    struct pending *pending;
    struct list_req lists[2]; /* containers, images */
};

/* A list call waiting for the engine; the page may leave meanwhile. */
struct pending {
    struct dext_docker_api *api;
    struct pending *next;
    struct dext_http_conn *conn; /* NULL once the page left */
    bool images;
};

static void pending_unlink(struct pending *p)
{
    for (struct pending **pp = &p->api->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void on_abort(void *data)
{
    struct pending *p = data;
    p->conn = NULL; /* the engine's answer is dropped when it comes */
}

static const struct dext_http_body_ops pending_ops = {
    .on_abort = on_abort,
};

static void on_engine(void *data, int status, const char *body, size_t len, int err,
                      const char *msg)
{
    struct pending *p = data;
    struct dext_http_conn *c = p->conn;

    pending_unlink(p);
    free(p);
    if (!c)
        return;
    dext_http_conn_detach(c);
    if (err < 0) {
        dext_http_respond_error(c, 502, msg);
        return;
    }
    if (status != 200) {
        json_t *e = json_loadb(body, len, 0, NULL);
        const char *m = json_string_value(json_object_get(e, "message"));
        char text[512];
        (void)snprintf(text, sizeof(text), "the Docker engine refused the list: %s",
                       m ? m : "no reason given");
        json_decref(e);
        dext_http_respond_error(c, status >= 400 && status < 600 ? status : 502, text);
        return;
    }
    dext_http_respond(c, 200, "application/json", "Cache-Control: no-store\r\n", body, len);
}

static void append_param(struct dext_buf *q, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";

    (void)dext_buf_append(q, q->len ? "&" : "?", 1);
    (void)dext_buf_puts(q, key);
    (void)dext_buf_append(q, "=", 1);
    for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
        if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
            *v == '-' || *v == '_' || *v == '.' || *v == '~') {
            (void)dext_buf_append(q, v, 1);
        } else {
            char esc[3] = {'%', hex[*v >> 4], hex[*v & 15]};
            (void)dext_buf_append(q, esc, 3);
        }
    }
}

char *dext_docker_list_query(json_t *options, bool images)
{
    static const char *const container_keys[] = {"all", "limit", "size", "filters", NULL};
    static const char *const image_keys[] = {"all", "filters", "digests", "shared-size", NULL};
    const char *const *keys = images ? image_keys : container_keys;
    struct dext_buf q;

    dext_buf_init(&q, 64 * 1024);
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(options, keys[i]);
        char num[32];
        if (!v || json_is_null(v))
            continue;
        if (json_is_boolean(v)) {
            append_param(&q, keys[i], json_is_true(v) ? "1" : "0");
        } else if (json_is_integer(v)) {
            (void)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            append_param(&q, keys[i], num);
        } else if (json_is_string(v)) {
            append_param(&q, keys[i], json_string_value(v));
        } else if (json_is_object(v) && strcmp(keys[i], "filters") == 0) {
            /* The Engine wants filters as a JSON string; accept the object too. */
            char *text = json_dumps(v, JSON_COMPACT);
            append_param(&q, keys[i], text);
            free(text);
        }
    }
    (void)dext_buf_terminate(&q);
    return dext_buf_take(&q, NULL);
}

static void on_options(void *data, struct dext_http_conn *c, json_t *body)
{
    struct list_req *lr = data;
    struct dext_docker_api *a = lr->api;
    struct pending *p;
    char *query, *path;

    if (!a->client) {
        int r = dext_docker_new(a->loop, NULL, &a->client);
        if (r < 0) {
            dext_http_respond_error(c, 502, "DOCKER_HOST is not a unix:// or tcp:// address");
            return;
        }
    }
    query = dext_docker_list_query(body, lr->images);
    path = xasprintf("%s%s", lr->images ? "/images/json" : "/containers/json", query);
    free(query);
    p = xcalloc(1, sizeof(*p));
    p->api = a;
    p->conn = c;
    p->images = lr->images;
    p->next = a->pending;
    a->pending = p;
    dext_http_conn_attach(c, &pending_ops, p);
    dext_docker_request(a->client, "GET", path, NULL, 0, on_engine, p);
    free(path);
}

void dext_docker_api_list(struct dext_docker_api *a, struct dext_http_conn *c,
                          const struct dext_http_req *req, bool images)
{
    if (req->method_id != HTTP_POST) {
        dext_http_respond_error(c, 405, "use POST with the options as JSON");
        return;
    }
    dext_api_read_json(c, req, on_options, &a->lists[images]);
}

struct dext_docker_api *dext_docker_api_new(uv_loop_t *loop)
{
    struct dext_docker_api *a = xcalloc(1, sizeof(*a));
    a->loop = loop;
    a->lists[0] = (struct list_req){.api = a, .images = false};
    a->lists[1] = (struct list_req){.api = a, .images = true};
    return a;
}

void dext_docker_api_free(struct dext_docker_api *a)
{
    if (!a)
        return;
    /* Pending calls end with -ECANCELED; their pages were closed already. */
    for (struct pending *p = a->pending; p; p = p->next)
        p->conn = NULL;
    dext_docker_free(a->client);
    free(a);
}
