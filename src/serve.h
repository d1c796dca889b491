/* SPDX-License-Identifier: MIT */
/* `dext serve`: every installed extension on a listener of its own, plus the
 * dashboard (dext's own origin) that lists them.
 *
 * Each extension keeps its port from one run to the next (DATA/extensions/NAME/
 * origin.json), so its origin, and the localStorage the browser keeps for it,
 * survive a restart; `dext rm` deletes that file with the record, and the install id
 * kept beside the port wipes whatever an earlier install left in the browser.
 * Installs and removals are picked up while serving. */
#pragma once

struct dext_serve_opts {
    const char *listen_host; /* default 127.0.0.1 */
    int port;                /* the dashboard's; 0: any */
    const char *self_exe;
};

/* Runs until SIGINT/SIGTERM. Prints the dashboard's URL as the first line of
 * standard output. Returns 0 after a clean stop, or a negative errno (after a
 * one-line error) when it cannot start. */
int dext_serve_run(const struct dext_serve_opts *opts);
