/* SPDX-License-Identifier: MIT */
/* metadata.json -> struct dext_ext_meta, with every problem reported by field path. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define DEXT_METADATA_MAX (256 * 1024)
#define DEXT_METADATA_MAX_PROBLEMS 64
#define DEXT_METADATA_MAX_ARGV 256
#define DEXT_METADATA_MAX_BINARIES 1024

/* One linux entry of host.binaries. */
struct dext_host_binary {
    char *path;  /* normalised relative path inside the extension ("bin/tool") */
    bool is_dir; /* the metadata path ended in '/' */
};

/* Everything dext uses from metadata.json. Paths are normalised relative paths
 * (no leading '/', no '.' or '..' segments); absent optional fields are NULL. */
struct dext_ext_meta {
    char *icon;

    bool has_ui;             /* ui.dashboard-tab present */
    char *ui_title;          /* ui.dashboard-tab.title */
    char *ui_root;           /* ui.dashboard-tab.root ("" for the top) */
    char *ui_src;            /* ui.dashboard-tab.src without its query */
    char *ui_src_query;      /* the part after '?' in src, or NULL */
    char *ui_backend_socket; /* ui.dashboard-tab.backend.socket (legacy) */

    bool has_vm;             /* vm present */
    char *vm_image;          /* vm.image, verbatim */
    char *vm_composefile;    /* vm.composefile, normalised */
    char *vm_exposes_socket; /* vm.exposes.socket */
    char **vm_command;       /* vm["x-dext-command"], NULL-terminated argv, or NULL */

    size_t n_host_binaries; /* host.binaries[*].linux[*] in order */
    struct dext_host_binary *host_binaries;
};

/* The problems found while validating, each "field.path: message". */
struct dext_meta_problems {
    size_t n;
    char *items[DEXT_METADATA_MAX_PROBLEMS];
    bool truncated; /* more problems than items */
};

/* Parses and validates @len bytes of JSON at @text.
 * On success returns 0 and stores a new object in @ret_meta (free with
 * dext_ext_meta_free). On failure returns -EBADMSG (invalid JSON or any
 * validation problem) or -EMSGSIZE (@len > DEXT_METADATA_MAX), writes nothing to
 * @ret_meta, and, when @problems is not NULL, appends every problem found to it
 * (the caller frees them with dext_meta_problems_done). Unknown keys are ignored.
 * Field paths look like "ui.dashboard-tab.src", "host.binaries[1].linux[0].path",
 * "vm.x-dext-command[2]"; JSON syntax errors are reported as
 * "metadata.json:LINE:COL: message". */
int dext_ext_meta_parse(const char *text, size_t len, struct dext_ext_meta **ret_meta,
                        struct dext_meta_problems *problems);

/* The socket file name the backend listens on: vm.exposes.socket, else
 * ui.dashboard-tab.backend.socket, else NULL. Borrowed from @meta. */
const char *dext_ext_meta_socket(const struct dext_ext_meta *meta);

void dext_ext_meta_free(struct dext_ext_meta *meta);
void dext_meta_problems_done(struct dext_meta_problems *problems);

static inline void dext_ext_meta_freep(struct dext_ext_meta **p)
{
    if (*p)
        dext_ext_meta_free(*p);
}
