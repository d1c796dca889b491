/* SPDX-License-Identifier: MIT */
/* Installed extensions on disk.
 *
 * Layout: DATA/extensions/NAME/ext.json (the record), DATA/extensions/NAME/backend.log,
 * DATA/extensions/NAME/root/ (files copied out of an image; directory extensions
 * are used in place), RUN/ext/NAME/ (the socket directory seen by the backend at
 * /run/guest-services) and RUN/serving/NAME.json (the dext process serving it; outside the
 * directory the backend can write).
 * Blocking calls: start-up and CLI verbs only. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define DEXT_STORE_MAX_EXTENSIONS 256
#define DEXT_STORE_NAME_MAX 128

struct dext_store {
    char *data_dir; /* DATA */
    char *run_dir;  /* RUN */
};

struct dext_store_entry {
    char *name;
    char *kind;      /* "dir" or "image" */
    char *root;      /* the extension's files (absolute) */
    char *image;     /* the extension image reference */
    char *ui_source; /* dev ui-source URL, or NULL */
};

/* Resolves and creates the state directories. */
int dext_store_open(struct dext_store *s);
void dext_store_done(struct dext_store *s);

/* New strings: DATA/extensions/NAME, its backend.log, RUN/ext/NAME. */
char *dext_store_ext_path(const struct dext_store *s, const char *name);
char *dext_store_log_path(const struct dext_store *s, const char *name);
char *dext_store_guest_dir(const struct dext_store *s, const char *name);

/* An extension name from a directory path: its base name with every byte
 * outside [A-Za-z0-9._-] replaced by '_'. -EINVAL if nothing usable remains. */
int dext_store_name_from_dir(const char *dir, char *ret, size_t size);
/* An extension name from an image reference: the repository with '/' -> '_'. */
int dext_store_name_from_image(const char *image, char *ret, size_t size);
bool dext_store_name_is_valid(const char *name);

/* Records the directory extension @name at absolute @root, image @image. */
int dext_store_add(const struct dext_store *s, const struct dext_store_entry *e);
/* Reads the record of @name; -ENOENT if not installed. */
int dext_store_get(const struct dext_store *s, const char *name, struct dext_store_entry *ret);
void dext_store_entry_done(struct dext_store_entry *e);
/* The installed names, sorted, NULL-terminated (free with dext_strv_free). */
int dext_store_list(const struct dext_store *s, char ***ret);
void dext_strv_free(char **v);
/* Removes the record, logs and socket directory of @name. */
int dext_store_remove(const struct dext_store *s, const char *name);

/* The serving process: written by `dext run`, removed at exit. */
int dext_store_set_state(const struct dext_store *s, const char *name, pid_t pid, pid_t backend_pid,
                         const char *url);
/* The same for `dext serve`, whose one process serves many extensions: `dext rm`
 * removes the record and waits for that process to let go, it does not stop it. */
int dext_store_set_state_shared(const struct dext_store *s, const char *name, pid_t pid,
                                pid_t backend_pid, const char *url);
bool dext_store_state_is_shared(const struct dext_store *s, const char *name);
void dext_store_clear_state(const struct dext_store *s, const char *name);
/* The pid of a live dext serving @name (0 if none) and its backend pid. */
int dext_store_get_state(const struct dext_store *s, const char *name, pid_t *ret_pid,
                         pid_t *ret_backend_pid);
