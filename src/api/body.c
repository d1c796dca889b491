/* SPDX-License-Identifier: MIT */
/* Small JSON request bodies for dext's API routes. */
#include "api/body.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/xalloc.h"

struct body_reader {
    struct dext_http_conn *conn;
    struct dext_buf buf;
    dext_json_body_cb cb;
    void *data;
    bool too_big;
};

static void reader_free(struct body_reader *r)
{
    dext_buf_done(&r->buf);
    free(r);
}

static int on_body(void *data, const char *p, size_t n)
{
    struct body_reader *r = data;

    if (!r->too_big && dext_buf_append(&r->buf, p, n) < 0)
        r->too_big = true;
    return 0;
}

static void on_end(void *data)
{
    struct body_reader *r = data;
    struct dext_http_conn *c = r->conn;
    json_error_t err;
    json_t *v;

    dext_http_conn_detach(c);
    if (r->too_big) {
        dext_http_respond_error(c, 413, "request body larger than 1 MiB");
        reader_free(r);
        return;
    }
    v = json_loadb(r->buf.data ? r->buf.data : "", r->buf.len, JSON_REJECT_DUPLICATES, &err);
    if (!v || !json_is_object(v)) {
        dext_http_respond_error(c, 400, v ? "expected a JSON object" : "malformed JSON body");
        json_decref(v);
        reader_free(r);
        return;
    }
    r->cb(r->data, c, v);
    json_decref(v);
    reader_free(r);
}

static void on_abort(void *data)
{
    reader_free(data);
}

static const struct dext_http_body_ops reader_ops = {
    .on_body = on_body,
    .on_end = on_end,
    .on_abort = on_abort,
};

void dext_api_read_json(struct dext_http_conn *c, const struct dext_http_req *req,
                        dext_json_body_cb cb, void *data)
{
    struct body_reader *r;

    if (req->has_length && req->content_length > DEXT_API_MAX_BODY) {
        dext_http_respond_error(c, 413, "request body larger than 1 MiB");
        return;
    }
    r = xcalloc(1, sizeof(*r));
    r->conn = c;
    r->cb = cb;
    r->data = data;
    dext_buf_init(&r->buf, DEXT_API_MAX_BODY);
    dext_http_conn_attach(c, &reader_ops, r);
}
