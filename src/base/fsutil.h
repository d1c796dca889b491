/* SPDX-License-Identifier: MIT */
/* Small blocking file helpers, used at start-up and by the CLI verbs only. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads the whole file @name (relative to @dir_fd, or AT_FDCWD) into a new
 * NUL-terminated buffer. -EMSGSIZE if larger than @max; -errno otherwise. */
int dext_read_file_at(int dir_fd, const char *name, size_t max, char **ret_data, size_t *ret_len);

/* Writes @len bytes to @path atomically (temporary file + rename), mode @mode. */
int dext_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Creates @path and its missing parents with @mode. 0 if it exists already. */
int dext_mkdir_p(const char *path, mode_t mode);

/* Removes @path recursively (does not follow symlinks). 0 if missing. */
int dext_rm_rf(const char *path);

/* The state directories (new strings): $XDG_DATA_HOME/dext or ~/.local/share/dext;
 * $XDG_RUNTIME_DIR/dext, else /run/user/<uid>/dext when that directory is ours,
 * else /tmp/dext-<uid> (created 0700 and checked to be ours). */
int dext_dir_data(char **ret);
int dext_dir_runtime(char **ret);
