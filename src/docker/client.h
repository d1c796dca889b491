/* SPDX-License-Identifier: MIT */
/* A Docker Engine API client: HTTP/1.1 over the engine's unix socket (or TCP), with
 * API version negotiation. One connection per request; bodies are collected
 * (bounded) and handed to the callback.
 *
 * The client owns its in-flight requests; dext_docker_free aborts them (their
 * callbacks are called with -ECANCELED). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#define DEXT_DOCKER_MIN_API "1.41"
#define DEXT_DOCKER_MAX_BODY (64 * 1024 * 1024)
#define DEXT_DOCKER_TIMEOUT_MS 30000

struct dext_docker;

/* @status is the HTTP status (0 on a transport failure, then @err is a negative
 * errno and @msg says what failed, naming the endpoint). @body is borrowed for the
 * call. */
typedef void (*dext_docker_cb)(void *data, int status, const char *body, size_t len, int err,
                               const char *msg);

/* @host is a DOCKER_HOST value ("unix:///var/run/docker.sock", "tcp://127.0.0.1:2375");
 * NULL means $DOCKER_HOST, else unix:///var/run/docker.sock. -EINVAL for a form
 * that is not supported. */
int dext_docker_new(uv_loop_t *loop, const char *host, struct dext_docker **ret);
const char *dext_docker_endpoint(const struct dext_docker *d);
/* Sends METHOD /vX.Y@path (@path starts with '/', query included) with an optional
 * JSON body. The API version is negotiated before the first call. */
void dext_docker_request(struct dext_docker *d, const char *method, const char *path,
                         const char *body, size_t body_len, dext_docker_cb cb, void *data);

/* A streaming call: a 2xx answer's body is handed over as it comes (no size
 * limit, no timeout once the head is in); any other answer is collected as for
 * dext_docker_request and given to on_end. on_end is called once, unless the call
 * is cancelled. */
struct dext_docker_call;
struct dext_docker_stream_ops {
    void (*on_head)(void *data, int status); /* optional */
    void (*on_data)(void *data, const char *p, size_t n);
    void (*on_end)(void *data, int status, const char *body, size_t len, int err, const char *msg);
};
struct dext_docker_call *dext_docker_stream(struct dext_docker *d, const char *method,
                                            const char *path, const char *body, size_t body_len,
                                            const struct dext_docker_stream_ops *ops, void *data);
/* A hijacked call (POST /exec/{id}/start with stdin): asks for an upgrade to a raw
 * stream. When the engine answers 101, on_head(101) is called, every byte after
 * the head goes to on_data, and on_end(101, ..., 0, NULL) comes at the engine's
 * end of stream (a negative err on a broken connection). Any other answer is
 * collected and given to on_end, as for dext_docker_stream. Pause, resume and
 * cancel work as for a streaming call. */
struct dext_docker_call *dext_docker_upgrade(struct dext_docker *d, const char *method,
                                             const char *path, const char *body, size_t body_len,
                                             const struct dext_docker_stream_ops *ops, void *data);
#define DEXT_DOCKER_MAX_WRITE_QUEUE (1024 * 1024)
/* Writes @n bytes (copied) to a hijacked call's stream. -ENOTCONN before the
 * upgrade or after the end; -ENOBUFS past DEXT_DOCKER_MAX_WRITE_QUEUE of bytes
 * the engine has not taken yet. Never calls back. */
int dext_docker_call_write(struct dext_docker_call *call, const char *p, size_t n);
/* Flow control of a streaming call's body. */
void dext_docker_call_pause(struct dext_docker_call *call);
void dext_docker_call_resume(struct dext_docker_call *call);
/* Ends the call without calling on_end; the handle is gone after this. */
void dext_docker_call_cancel(struct dext_docker_call *call);

void dext_docker_free(struct dext_docker *d);

/* The multiplexed output of a container without a terminal (exec start, logs):
 * frames of an 8-byte header (stream: 1 stdout, 2 stderr; 3 bytes zero; a
 * big-endian 32-bit length) and the payload. Pure; fed any split of the bytes. */
struct dext_docker_demux {
    unsigned char head[8];
    size_t head_len;
    size_t left; /* payload bytes still to come in the current frame */
    int fd;      /* 1 or 2 */
};
void dext_docker_demux_feed(struct dext_docker_demux *m, const char *p, size_t n,
                            void (*out)(void *data, int fd, const char *p, size_t n), void *data);

/* Of a /containers/json list, the container of an extension's first service: the
 * one running @image, else the first by compose service name. Borrowed from
 * @list; NULL when it is empty. Pure. */
json_t *dext_docker_first_service(json_t *list, const char *image);
