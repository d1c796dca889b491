/* SPDX-License-Identifier: MIT */
/* Loading and checking an extension directory. */
#include "ext/load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/xalloc.h"

void dext_meta_problem_add(struct dext_meta_problems *p, const char *fmt, ...)
{
    va_list ap;

    if (!p)
        return;
    if (p->n >= DEXT_METADATA_MAX_PROBLEMS) {
        p->truncated = true;
        return;
    }
    va_start(ap, fmt);
    p->items[p->n++] = xvasprintf(fmt, ap);
    va_end(ap);
}

static int check_path(int dir_fd, const char *rel, mode_t want, struct dext_meta_problems *p,
                      const char *field)
{
    struct stat st;

    if (fstatat(dir_fd, rel[0] ? rel : ".", &st, 0) < 0) {
        dext_meta_problem_add(p, "%s: '%s' does not exist in the extension", field, rel);
        return -ENOENT;
    }
    if (want && (st.st_mode & S_IFMT) != want) {
        dext_meta_problem_add(p, "%s: '%s' is not a %s", field, rel,
                              want == S_IFDIR ? "directory" : "regular file");
        return -EINVAL;
    }
    return 0;
}

int dext_ext_load_dir(const char *dir, struct dext_ext_meta **ret_meta,
                      struct dext_meta_problems *problems)
{
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = -1;
    size_t len;
    int bad = 0;
    int r;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        dext_meta_problem_add(problems, "%s: %s", dir, strerror(errno));
        return r;
    }
    r = dext_read_file_at(fd, "metadata.json", DEXT_METADATA_MAX, &text, &len);
    if (r == -EMSGSIZE) {
        dext_meta_problem_add(problems, "metadata.json: larger than %d bytes", DEXT_METADATA_MAX);
        return r;
    }
    if (r < 0) {
        dext_meta_problem_add(problems, "metadata.json: %s", strerror(-r));
        return r;
    }
    r = dext_ext_meta_parse(text, len, &m, problems);
    if (r < 0)
        return r;

    if (m->icon)
        bad |= check_path(fd, m->icon, S_IFREG, problems, "icon");
    if (m->has_ui) {
        int q = check_path(fd, m->ui_root, S_IFDIR, problems, "ui.dashboard-tab.root");
        bad |= q;
        if (q == 0) {
            _cleanup_free_ char *entry =
                xasprintf("%s%s%s", m->ui_root, m->ui_root[0] ? "/" : "", m->ui_src);
            bad |= check_path(fd, entry, S_IFREG, problems, "ui.dashboard-tab.src");
        }
    }
    if (m->vm_composefile)
        bad |= check_path(fd, m->vm_composefile, S_IFREG, problems, "vm.composefile");
    for (size_t i = 0; i < m->n_host_binaries; i++)
        bad |=
            check_path(fd, m->host_binaries[i].path, m->host_binaries[i].is_dir ? S_IFDIR : S_IFREG,
                       problems, "host.binaries (linux)");
    if (m->vm_command && strchr(m->vm_command[0], '/') && m->vm_command[0][0] != '/') {
        int q = check_path(fd, m->vm_command[0], S_IFREG, problems, "vm.x-dext-command[0]");
        bad |= q;
        if (q == 0 && faccessat(fd, m->vm_command[0], X_OK, 0) < 0) {
            dext_meta_problem_add(problems, "vm.x-dext-command[0]: '%s' is not executable",
                                  m->vm_command[0]);
            bad = -1;
        }
    }
    if (bad)
        return -EBADMSG;
    *ret_meta = TAKE_PTR(m);
    return 0;
}
