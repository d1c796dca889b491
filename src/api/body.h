/* SPDX-License-Identifier: MIT */
/* Collects a small JSON request body, then calls back with the parsed value. */
#pragma once

#include <jansson.h>

#include "http/server.h"

#define DEXT_API_MAX_BODY (1024 * 1024)

/* Called with the parsed body (borrowed for the call) once the request is
 * complete. The callback answers on @c. A body that is too large or not JSON is
 * answered with 413 or 400 and the callback is not made. */
typedef void (*dext_json_body_cb)(void *data, struct dext_http_conn *c, json_t *body);

void dext_api_read_json(struct dext_http_conn *c, const struct dext_http_req *req,
                        dext_json_body_cb cb, void *data);
