/* SPDX-License-Identifier: MIT */
/* `dext dev ui-source NAME URL`: the extension's UI comes from a dev server on this
 * machine. Each UI request is fetched from the dev server and answered as it came,
 * with ddclient.js injected into HTML pages as for files on disk.
 *
 * One connection per request (Connection: close); the answer is collected (bounded)
 * before it is sent on. A request whose page leaves is dropped at once. */
#pragma once

#include <stddef.h>
#include <uv.h>

#include "http/server.h"

#define DEXT_DEVSRC_MAX_BODY (64 * 1024 * 1024)
#define DEXT_DEVSRC_MAX_HEAD (64 * 1024)
#define DEXT_DEVSRC_TIMEOUT_MS 30000
#define DEXT_DEVSRC_URL_MAX 1024

/* Pure: checks a dev server URL, http://HOST[:PORT][/PATH], where HOST is
 * localhost, 127.x.y.z or [::1]. Writes the address to connect to (an IP literal)
 * into @ret_ip (size 48), the port and a pointer to the path ("/" when none) into
 * @ret_path. -EINVAL with a reason in @why (size 160) otherwise. */
int dext_devsrc_parse_url(const char *url, char *ret_ip, int *ret_port, const char **ret_path,
                          char *why);

/* Takes the upgrade request @req (a WebSocket: live reload, hot updates) over and
 * carries it to @dev_url with @target: the dev server's Host and Origin, the page's
 * other headers but its cookies and dext's own; then bytes both ways, with
 * backpressure, until either side ends (src/api/devtunnel.c). */
void dext_devsrc_tunnel(uv_loop_t *loop, const char *dev_url, struct dext_http_conn *c,
                        const struct dext_http_req *req, const char *target, size_t target_len);

/* Answers @req on @c with @target (path and query) fetched from @dev_url. HTML
 * answers get @inject first in <head>; @extra_headers (may be NULL) are added. */
void dext_devsrc_fetch(uv_loop_t *loop, const char *dev_url, struct dext_http_conn *c,
                       const struct dext_http_req *req, const char *target, size_t target_len,
                       const char *inject, const char *extra_headers);
