/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 server on libuv + llhttp: connections, limits, timeouts, keep-alive.
 *
 * The server owns its connections. For each request it calls the request
 * callback once the head is complete; the callback either answers at once
 * (dext_http_respond) or takes the body and the answer over by attaching
 * dext_http_body_ops, writing with dext_http_conn_write and finishing with
 * dext_http_conn_end_response. A connection is freed only from its close
 * callback, so a handler may use it until on_abort is called. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <llhttp.h>

#include "base/buf.h"

#define DEXT_HTTP_MAX_HEAD (16 * 1024)
#define DEXT_HTTP_MAX_HEADERS 100
#define DEXT_HTTP_MAX_DISCARD (1024 * 1024) /* unread body we drain after an early answer */
#define DEXT_HTTP_MAX_CONNS 1024
#define DEXT_HTTP_MAX_PIPELINE (64 * 1024) /* bytes held while an answer is pending */
#define DEXT_HTTP_READ_SIZE (64 * 1024)
#define DEXT_HTTP_HIGH_WATER (1024 * 1024)
#define DEXT_HTTP_LOW_WATER (256 * 1024)
#define DEXT_HTTP_HEAD_TIMEOUT_MS 10000
#define DEXT_HTTP_IDLE_TIMEOUT_MS 60000
#define DEXT_HTTP_BODY_TIMEOUT_MS 60000
#define DEXT_HTTP_LINGER_MS 1000
#define DEXT_HTTP_MAX_BODY (1024ULL * 1024 * 1024) /* relayed request bodies */

struct dext_http_conn;
struct dext_http_server;

/* Headers the server recognises while parsing, so handlers need not search. */
enum dext_http_known {
    DEXT_H_HOST,
    DEXT_H_ORIGIN,
    DEXT_H_COOKIE,
    DEXT_H_SECRET,       /* X-Dext-Secret */
    DEXT_H_FETCH_SITE,   /* Sec-Fetch-Site */
    DEXT_H_DEXT_HEADERS, /* X-Dext-Headers */
    DEXT_H_EXPECT,
    DEXT_H_CONTENT_TYPE,
    DEXT_H__MAX,
};

struct dext_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    bool is_private; /* hop-by-hop, framing, browser or dext header: never relayed */
};

/* One request head. Valid from the request callback until the response ends. */
struct dext_http_req {
    const char *method; /* "GET", ... */
    uint8_t method_id;  /* enum llhttp_method */
    const char *url;    /* NUL-terminated target as sent */
    size_t url_len;
    struct dext_http_header headers[DEXT_HTTP_MAX_HEADERS];
    size_t n_headers;
    int16_t known[DEXT_H__MAX]; /* index in headers of the first one, or -1 */
    uint64_t content_length;    /* when has_length */
    bool has_length;
    bool is_chunked;
    bool has_body; /* has_length && content_length > 0, or chunked */
    bool keep_alive;
    bool upgrade; /* Connection: upgrade with Upgrade (or CONNECT): see dext_http_conn_tunnel */
    uint8_t http_minor;
};

/* What a handler that took a request over gets told. All may be NULL but on_abort.
 * on_body returns 0 or a negative errno, which ends the connection. on_end: the
 * request body is complete. on_abort: the connection is going away (client left,
 * timeout, error); the handler must drop every reference to it and must not call
 * into it again. on_drain: the write queue fell below DEXT_HTTP_LOW_WATER. */
struct dext_http_body_ops {
    int (*on_body)(void *data, const char *p, size_t n);
    void (*on_end)(void *data);
    void (*on_abort)(void *data);
    void (*on_drain)(void *data);
};

typedef void (*dext_http_request_cb)(void *userdata, struct dext_http_conn *conn,
                                     struct dext_http_req *req);

struct dext_http_limits {
    uint64_t head_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t max_body; /* largest request body a handler accepts (read by handlers) */
};

/* Creates a server listening on @host:@port (port 0: the kernel picks one) on
 * @loop. @on_request is called for every request head, with @userdata.
 * Returns 0 or a negative errno from bind/listen. */
int dext_http_server_new(uv_loop_t *loop, const char *host, int port,
                         dext_http_request_cb on_request, void *userdata,
                         struct dext_http_server **ret);
/* Serves a connected stream socket @fd (one end of a socket pair in the fuzz
 * target) as if it had been accepted. On success the connection owns @fd; on
 * failure (a negative errno) the caller still does. */
int dext_http_server_adopt(struct dext_http_server *s, int fd);
/* The port actually bound. */
int dext_http_server_port(const struct dext_http_server *s);
/* Overrides the timeouts (0 keeps the default). */
void dext_http_server_set_limits(struct dext_http_server *s, const struct dext_http_limits *l);
/* The limits in force. */
const struct dext_http_limits *dext_http_server_limits(const struct dext_http_server *s);
/* Stops listening and closes every connection; frees @s once all handles closed. */
void dext_http_server_close(struct dext_http_server *s);

/* The first header of kind @k, or NULL. */
static inline const struct dext_http_header *dext_http_req_known(const struct dext_http_req *req,
                                                                 enum dext_http_known k)
{
    return req->known[k] >= 0 ? &req->headers[req->known[k]] : NULL;
}

/* Looks up a request header (case-insensitive); NULL if absent. */
const struct dext_http_header *dext_http_req_header(const struct dext_http_req *req,
                                                    const char *name);
/* True when header @name is present and its value equals @value (case-insensitive). */
bool dext_http_req_header_is(const struct dext_http_req *req, const char *name, const char *value);

/* Sends a complete answer to the current request: status line, Content-Length,
 * Connection, @extra_headers (each line ending "\r\n", may be NULL), and @body
 * (not for HEAD). If the request body was not taken over it is drained (up to
 * DEXT_HTTP_MAX_DISCARD) or the connection closes after the answer. */
void dext_http_respond(struct dext_http_conn *c, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t body_len);
/* The same with a JSON body {"error": @message} and the header X-Dext-Error: 1. */
void dext_http_respond_error(struct dext_http_conn *c, int status, const char *message);

/* Takes the request over: @ops get the body and the connection's events. */
void dext_http_conn_attach(struct dext_http_conn *c, const struct dext_http_body_ops *ops,
                           void *data);
/* Takes an upgrade request (req->upgrade) over as a byte stream both ways, from the
 * request callback only: every byte after the head goes to @ops->on_body, with no
 * timeout; what the handler writes goes out as is (the 101 head too). on_abort
 * when the client leaves; dext_http_conn_end_response(c, false) ends it. A handler
 * that does not call this answers the request as any other, and the connection
 * closes after that answer. */
void dext_http_conn_tunnel(struct dext_http_conn *c, const struct dext_http_body_ops *ops,
                           void *data);
/* Drops the attached ops without ending anything: no callbacks after this. */
void dext_http_conn_detach(struct dext_http_conn *c);
/* Writes raw bytes of the response (head and body, already framed by the
 * caller). Copies what the socket does not take at once. Returns 0 or a negative
 * errno (the connection is then closing). */
int dext_http_conn_write(struct dext_http_conn *c, const char *p, size_t n);
int dext_http_conn_writev(struct dext_http_conn *c, const uv_buf_t *bufs, unsigned n_bufs);
/* Bytes queued and not yet written to the socket. */
size_t dext_http_conn_queued(const struct dext_http_conn *c);
/* The response is complete; @keep_alive false closes the connection after the
 * last byte. Detaches the ops (no callbacks after this). */
void dext_http_conn_end_response(struct dext_http_conn *c, bool keep_alive);
/* Stop and resume reading the request body (backpressure). */
void dext_http_conn_pause(struct dext_http_conn *c);
void dext_http_conn_resume(struct dext_http_conn *c);
/* Ends the connection at once (an aborted response). on_abort is not called. */
void dext_http_conn_abort(struct dext_http_conn *c);
/* The reason phrase of @status ("Not Found"). */
const char *dext_http_reason(int status);
