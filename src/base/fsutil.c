/* SPDX-License-Identifier: MIT */
/* Blocking file helpers for start-up and CLI verbs. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "xalloc.h"

int dext_read_file_at(int dir_fd, const char *name, size_t max, char **ret_data, size_t *ret_len)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *data = NULL;
    struct stat st;
    size_t len = 0, size;

    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    if ((uint64_t)st.st_size > max)
        return -EMSGSIZE;
    size = (size_t)st.st_size + 1;
    data = xmalloc(size + 1);
    for (;;) {
        ssize_t n = read(fd, data + len, size - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return -EMSGSIZE;
        if (len == size) {
            size *= 2;
            data = xrealloc(data, size + 1);
        }
    }
    data[len] = '\0';
    *ret_data = TAKE_PTR(data);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int dext_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd, r = 0;
    const char *p = data;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
    return r;
}

int dext_mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = xstrdup(path);

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int rm_rf_at(int dir_fd, const char *name)
{
    int fd, r = 0;
    DIR *d;
    struct dirent *de;

    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int q = rm_rf_at(dirfd(d), de->d_name);
        if (q < 0 && r == 0)
            r = q;
    }
    (void)closedir(d);
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

int dext_rm_rf(const char *path)
{
    return rm_rf_at(AT_FDCWD, path);
}

int dext_dir_data(char **ret)
{
    const char *x = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");

    if (x && x[0] == '/')
        *ret = xasprintf("%s/dext", x);
    else if (home && home[0] == '/')
        *ret = xasprintf("%s/.local/share/dext", home);
    else
        return -ENOENT;
    return 0;
}

static int dir_is_ours(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
        return -EPERM;
    return 0;
}

int dext_dir_runtime(char **ret)
{
    const char *x = getenv("XDG_RUNTIME_DIR");
    char base[64];

    if (x && x[0] == '/') {
        *ret = xasprintf("%s/dext", x);
        return 0;
    }
    (void)snprintf(base, sizeof(base), "/run/user/%u", (unsigned)getuid());
    if (dir_is_ours(base) == 0) {
        *ret = xasprintf("%s/dext", base);
        return 0;
    }
    (void)snprintf(base, sizeof(base), "/tmp/dext-%u", (unsigned)getuid());
    if (mkdir(base, 0700) < 0 && errno != EEXIST)
        return -errno;
    int r = dir_is_ours(base);
    if (r < 0)
        return r;
    *ret = xstrdup(base);
    return 0;
}
