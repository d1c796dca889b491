/* SPDX-License-Identifier: MIT */
/* Static files below a directory, read on the thread pool and sent with backpressure. */
#pragma once

#include "http/server.h"

#define DEXT_STATIC_CHUNK (64 * 1024)
#define DEXT_STATIC_MAX_HTML (8 * 1024 * 1024)

struct dext_static_opts {
    /* Inserted first inside <head> of every text/html file (may be NULL). */
    const char *html_inject;
    /* Extra header lines, each ending "\r\n" (may be NULL). */
    const char *extra_headers;
};

/* Opens @rel (a normalised relative path, "" for the root) below @root_fd,
 * refusing any resolution that leaves the directory (symlinks included). A
 * directory resolves to its index.html. Returns an fd, -ENOENT, -EACCES (would
 * leave the root), -EISDIR (directory without index.html) or another -errno.
 * Writes the opened file's path into @ret_path (size DEXT_PATH_MAX + 16). */
int dext_static_open(int root_fd, const char *rel, char *ret_path, size_t path_size);

/* Answers @req on @c with the file @fd (taken over, closed when done), whose
 * name @path picks the content type. GET and HEAD only (the caller checks). */
void dext_static_send(struct dext_http_conn *c, const struct dext_http_req *req, int fd,
                      const char *path, const struct dext_static_opts *opts, uv_loop_t *loop);

/* Pure: inserts @script into @html after the opening <head ...> tag, else after
 * <html ...>, else after a leading <!doctype ...>, else at the very start.
 * Returns the offset at which to insert. */
size_t dext_static_inject_offset(const char *html, size_t len);
