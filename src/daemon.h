/* SPDX-License-Identifier: MIT */
/* struct dext_daemon: owns the loop, the sites and runtimes; start-up and
 * shutdown order for `dext run`. */
#pragma once

#include <stdbool.h>

struct dext_run_opts {
    const char *source;      /* extension directory */
    const char *listen_host; /* default 127.0.0.1 */
    int port;                /* 0: any */
    char **backend_argv;     /* --backend-cmd, or NULL for x-dext-command */
    const char *self_exe;    /* absolute path of this program */
    /* An installed image extension (the engine runtime): its name and image; the
     * source is then its installed files. */
    const char *name;
    const char *image;
    bool engine;
};

/* Runs `dext run` until SIGINT/SIGTERM. Prints the URL as the first line of
 * standard output. Returns 0 after a clean stop, or a negative errno (after
 * printing a one-line error) when it cannot start. */
int dext_daemon_run(const struct dext_run_opts *opts);
