/* SPDX-License-Identifier: MIT */
/* ddClient.docker.listContainers / listImages: the Engine API's JSON passed through,
 * the page's options mapped to query parameters. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "http/server.h"

struct dext_docker_api;

struct dext_docker_api *dext_docker_api_new(uv_loop_t *loop);
void dext_docker_api_free(struct dext_docker_api *a);

/* POST /__dext/docker/containers and /__dext/docker/images with the options as the
 * JSON body ({all, limit, size, filters} / {all, filters, digests}). */
void dext_docker_api_list(struct dext_docker_api *a, struct dext_http_conn *c,
                          const struct dext_http_req *req, bool images);

/* Pure: builds "?all=1&filters=..." from @options for @images or containers
 * (a new string; "" when nothing applies). */
char *dext_docker_list_query(json_t *options, bool images);
