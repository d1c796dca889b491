/* SPDX-License-Identifier: MIT */
/* Static UI files: confined open, async reads, HTML injection. */
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "http/mime.h"

struct static_send {
    uv_fs_t fs;
    uv_loop_t *loop;
    struct dext_http_conn *conn; /* NULL once the connection went away */
    int fd;
    bool reading; /* a uv_fs_read is in flight */
    bool busy;    /* our own code is running: do not free yet */
    bool waiting; /* paused for the client's write queue */
    bool is_head;
    bool is_html;
    uint64_t left; /* bytes still to send */
    struct dext_buf html;
    char *inject_script; /* owned copy */
    char *extra_headers; /* owned copy */
    char *ctype;
    char buf[DEXT_STATIC_CHUNK];
};

static int open_beneath(int root_fd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, root_fd, rel[0] ? rel : ".", &how, sizeof(how));

    if (fd >= 0)
        return (int)fd;
    if (errno == EXDEV)
        return -EACCES; /* the path tried to leave the root */
    return -errno;
}

int dext_static_open(int root_fd, const char *rel, char *ret_path, size_t path_size)
{
    struct stat st;
    int fd = open_beneath(root_fd, rel, O_RDONLY);

    if (fd < 0)
        return fd;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        (void)close(fd);
        return r;
    }
    if (S_ISDIR(st.st_mode)) {
        int dfd = fd;
        fd = open_beneath(dfd, "index.html", O_RDONLY);
        (void)close(dfd);
        if (fd < 0)
            return fd == -ENOENT ? -EISDIR : fd;
        (void)snprintf(ret_path, path_size, "%s%sindex.html", rel, rel[0] ? "/" : "");
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            (void)close(fd);
            return -EISDIR;
        }
        return fd;
    }
    if (!S_ISREG(st.st_mode)) {
        (void)close(fd);
        return -EACCES;
    }
    (void)snprintf(ret_path, path_size, "%s", rel);
    return fd;
}

static bool tag_at(const char *p, size_t left, const char *tag)
{
    size_t n = strlen(tag);

    if (left < n + 1 || strncasecmp(p, tag, n) != 0)
        return false;
    return p[n] == '>' || p[n] == ' ' || p[n] == '\t' || p[n] == '\n' || p[n] == '\r' ||
           p[n] == '/';
}

static size_t after_tag(const char *html, size_t len, size_t at)
{
    const char *gt = memchr(html + at, '>', len - at);
    return gt ? (size_t)(gt - html) + 1 : len;
}

size_t dext_static_inject_offset(const char *html, size_t len)
{
    size_t html_at = SIZE_MAX, doctype_end = 0;

    for (size_t i = 0; i < len; i++) {
        if (html[i] != '<')
            continue;
        if (tag_at(html + i, len - i, "<head"))
            return after_tag(html, len, i);
        if (html_at == SIZE_MAX && tag_at(html + i, len - i, "<html"))
            html_at = i;
        else if (doctype_end == 0 && i + 9 <= len && strncasecmp(html + i, "<!doctype", 9) == 0)
            doctype_end = after_tag(html, len, i);
        /* <body> or a script before any <head>: the head is implied, inject here. */
        if (tag_at(html + i, len - i, "<body") || tag_at(html + i, len - i, "<script"))
            break;
    }
    if (html_at != SIZE_MAX)
        return after_tag(html, len, html_at);
    return doctype_end;
}

static void send_free(struct static_send *s)
{
    if (s->fd >= 0)
        (void)close(s->fd);
    dext_buf_done(&s->html);
    free(s->inject_script);
    free(s->extra_headers);
    free(s->ctype);
    free(s);
}

/* The one place the object goes away: once the connection is gone (or done)
 * and neither a read nor our own code is still using it. */
static void maybe_free(struct static_send *s)
{
    if (!s->conn && !s->reading && !s->busy)
        send_free(s);
}

static void on_abort(void *data)
{
    struct static_send *s = data;

    s->conn = NULL;
    maybe_free(s);
}

static void read_next(struct static_send *s);

static void on_drain(void *data)
{
    struct static_send *s = data;

    if (s->waiting && s->conn) {
        s->waiting = false;
        s->busy = true;
        read_next(s);
        s->busy = false;
        maybe_free(s);
    }
}

static const struct dext_http_body_ops send_ops = {
    .on_abort = on_abort,
    .on_drain = on_drain,
};

static void write_head(struct static_send *s, uint64_t length)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %llu\r\n"
                     "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n",
                     s->ctype, (unsigned long long)length);
    uv_buf_t bufs[3] = {uv_buf_init(head, (unsigned)n)};
    unsigned nb = 1;

    if (s->extra_headers)
        bufs[nb++] = uv_buf_init(s->extra_headers, (unsigned)strlen(s->extra_headers));
    bufs[nb++] = uv_buf_init((char *)"\r\n", 2);
    (void)dext_http_conn_writev(s->conn, bufs, nb);
}

/* Ends the answer (or the connection, when !ok); the object is freed by the
 * caller's maybe_free. */
static void finish(struct static_send *s, bool ok)
{
    struct dext_http_conn *c = s->conn;

    s->conn = NULL;
    if (c) {
        if (ok)
            dext_http_conn_end_response(c, true);
        else
            dext_http_conn_abort(c);
    }
}

static void send_html(struct static_send *s)
{
    const char *script = s->inject_script ? s->inject_script : "";
    size_t at = dext_static_inject_offset(s->html.data ? s->html.data : "", s->html.len);
    size_t slen = strlen(script);

    write_head(s, s->html.len + slen);
    if (!s->is_head && s->conn) {
        uv_buf_t bufs[3] = {
            uv_buf_init(s->html.data, (unsigned)at),
            uv_buf_init((char *)script, (unsigned)slen),
            uv_buf_init(s->html.data + at, (unsigned)(s->html.len - at)),
        };
        (void)dext_http_conn_writev(s->conn, bufs, 3);
    }
    finish(s, true);
}

static void got_data(struct static_send *s, ssize_t n)
{
    if (n < 0 || (n == 0 && s->left > 0)) {
        /* The file shrank or failed under us: the promised length cannot be met. */
        log_warn("static: read failed: %s", n < 0 ? uv_strerror((int)n) : "file shrank");
        finish(s, false);
        return;
    }
    if ((uint64_t)n > s->left)
        n = (ssize_t)s->left;
    s->left -= (uint64_t)n;
    if (s->is_html) {
        if (dext_buf_append(&s->html, s->buf, (size_t)n) < 0)
            finish(s, false);
        else if (s->left == 0)
            send_html(s);
        else
            read_next(s);
        return;
    }
    if (dext_http_conn_write(s->conn, s->buf, (size_t)n) < 0 || !s->conn)
        return;
    if (s->left == 0)
        finish(s, true);
    else if (dext_http_conn_queued(s->conn) > DEXT_HTTP_HIGH_WATER)
        s->waiting = true;
    else
        read_next(s);
}

static void on_read(uv_fs_t *req)
{
    struct static_send *s = req->data;
    ssize_t n = req->result;

    uv_fs_req_cleanup(req);
    s->reading = false;
    if (s->conn) {
        s->busy = true;
        got_data(s, n);
        s->busy = false;
    }
    maybe_free(s);
}

static void read_next(struct static_send *s)
{
    size_t want = s->left < sizeof(s->buf) ? (size_t)s->left : sizeof(s->buf);
    uv_buf_t b = uv_buf_init(s->buf, (unsigned)want);

    s->fs.data = s;
    s->reading = true;
    if (uv_fs_read(s->loop, &s->fs, s->fd, &b, 1, -1, on_read) < 0) {
        s->reading = false;
        finish(s, false);
    }
}

static void start(struct static_send *s)
{
    if (s->is_html) {
        if (s->left == 0)
            send_html(s);
        else
            read_next(s);
        return;
    }
    write_head(s, s->left);
    if (!s->conn)
        return;
    if (s->is_head || s->left == 0)
        finish(s, true);
    else
        read_next(s);
}

void dext_static_send(struct dext_http_conn *c, const struct dext_http_req *req, int fd,
                      const char *path, const struct dext_static_opts *opts, uv_loop_t *loop)
{
    struct static_send *s;
    struct stat st;
    const char *ctype = dext_mime_type(path);

    if (fstat(fd, &st) < 0) {
        (void)close(fd);
        dext_http_respond_error(c, 500, "cannot read file");
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->conn = c;
    s->fd = fd;
    s->is_head = req->method_id == HTTP_HEAD;
    s->is_html = strncmp(ctype, "text/html", 9) == 0 && opts && opts->html_inject;
    s->left = (uint64_t)st.st_size;
    s->ctype = xstrdup(ctype);
    if (opts && opts->extra_headers)
        s->extra_headers = xstrdup(opts->extra_headers);
    if (s->is_html) {
        if ((uint64_t)st.st_size > DEXT_STATIC_MAX_HTML) {
            s->conn = NULL;
            send_free(s);
            dext_http_respond_error(c, 413, "HTML file too large to serve");
            return;
        }
        s->inject_script = xstrdup(opts->html_inject);
        dext_buf_init(&s->html, DEXT_STATIC_MAX_HTML);
    }
    s->busy = true;
    dext_http_conn_attach(c, &send_ops, s);
    if (s->conn)
        start(s);
    s->busy = false;
    maybe_free(s);
}
