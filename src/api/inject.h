/* SPDX-License-Identifier: MIT */
/* The script injected first into every page of an extension's UI. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct dext_inject_info {
    const char *secret;
    const char *name;
    const char *image;
    bool has_vm;
    bool has_service;
    bool has_host;
    bool reload;            /* the page reloads when dext says its UI changed */
    const char *install_id; /* this install's id, or NULL (see ddclient.js) */
    const char *hub_origin; /* dext's own origin (chooser, views), or NULL */
};

/* Returns a new string "<script>window.__dextConfig=...;ddclient.js</script>". */
char *dext_inject_script(const struct dext_inject_info *info);

/* Node's os.arch() spelling of this machine's architecture ("x64", "arm64"). */
const char *dext_host_arch(void);
