/* SPDX-License-Identifier: MIT */
/* The hello extension's backend: a tiny HTTP/1.1 server on a unix socket.
 *
 * Listens on /run/guest-services/hello.sock (or the socket name given as its one
 * argument; the react example uses react.sock), as a backend does under Docker
 * Desktop (dext maps the extension's socket directory there; where it cannot,
 * it names the directory in DEXT_GUEST_SERVICES). Routes:
 *   GET  /hello  -> {"message":"Hello from the hello backend"}
 *   POST /greet  {"name":"..."} -> {"greeting":"Hello, ...!"}
 * One thread, poll(), keep-alive, Content-Length bodies up to 64 KiB. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define BUF_SIZE (64 * 1024 + 8192)

struct client {
    int fd;
    size_t len;
    char buf[BUF_SIZE];
};

static struct client clients[MAX_CLIENTS];
static char sock_path[108];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void reply(int fd, int status, const char *reason, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     status, reason, strlen(body));
    (void)!write(fd, head, (size_t)n);
    (void)!write(fd, body, strlen(body));
}

/* Copies the JSON string value of "name" into @out, keeping only safe characters. */
static void json_name(const char *body, size_t len, char *out, size_t size)
{
    const char *p = memmem(body, len, "\"name\"", 6);
    size_t o = 0;

    out[0] = '\0';
    if (!p)
        return;
    p = memchr(p + 6, '"', len - (size_t)(p + 6 - body));
    if (!p)
        return;
    for (p++; p < body + len && *p != '"' && o + 1 < size; p++)
        if (*p == ' ' || *p == '-' || *p == '.' || (*p >= '0' && *p <= '9') ||
            (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            out[o++] = *p;
    out[o] = '\0';
}

/* Handles every complete request in the buffer; returns -1 to close. */
static int handle(struct client *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        char method[8], path[256], name[64], body_out[160];
        size_t head_len, body_len = 0;
        char *cl;

        if (!end)
            return c->len >= BUF_SIZE ? -1 : 0;
        head_len = (size_t)(end - c->buf) + 4;
        *end = '\0';
        if (sscanf(c->buf, "%7s %255s", method, path) != 2)
            return -1;
        cl = strcasestr(c->buf, "\r\ncontent-length:");
        if (cl)
            body_len = strtoul(cl + 17, NULL, 10);
        if (strcasestr(c->buf, "\r\ntransfer-encoding:")) {
            reply(c->fd, 411, "Length Required", "{\"error\":\"send a Content-Length\"}");
            return -1;
        }
        if (head_len + body_len > BUF_SIZE) {
            reply(c->fd, 413, "Content Too Large", "{\"error\":\"body too large\"}");
            return -1;
        }
        if (c->len < head_len + body_len) {
            *end = '\r';
            return 0; /* wait for the rest of the body */
        }
        if (strcmp(path, "/hello") == 0 && strcmp(method, "GET") == 0) {
            reply(c->fd, 200, "OK", "{\"message\":\"Hello from the hello backend\"}");
        } else if (strcmp(path, "/greet") == 0 && strcmp(method, "POST") == 0) {
            json_name(c->buf + head_len, body_len, name, sizeof(name));
            (void)snprintf(body_out, sizeof(body_out), "{\"greeting\":\"Hello, %s!\"}",
                           name[0] ? name : "stranger");
            reply(c->fd, 200, "OK", body_out);
        } else {
            reply(c->fd, 404, "Not Found", "{\"error\":\"no such route\"}");
        }
        memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
        c->len -= head_len + body_len;
    }
}

static int listen_on(const char *dir, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    (void)mkdir(dir, 0755);
    if (snprintf(sock_path, sizeof(sock_path), "%s/%s", dir, name) >= (int)sizeof(sock_path))
        return -1;
    (void)unlink(sock_path);
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        perror(sock_path);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("DEXT_GUEST_SERVICES");
    const char *name = argc > 1 ? argv[1] : "hello.sock";
    struct pollfd pfd[MAX_CLIENTS + 1];
    int lfd;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (strchr(name, '/') != NULL) {
        fprintf(stderr, "hello-backend: %s: a socket name, not a path, is expected\n", name);
        return 2;
    }
    lfd = listen_on(dir && *dir ? dir : "/run/guest-services", name);
    if (lfd < 0)
        return 1;
    fprintf(stderr, "hello-backend: listening on %s\n", sock_path);
    for (int i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    while (!stop) {
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++)
            pfd[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n, -1) < 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            for (int i = 0; cfd >= 0 && i < MAX_CLIENTS; i++) {
                if (clients[i].fd < 0) {
                    clients[i].fd = cfd;
                    clients[i].len = 0;
                    cfd = -1;
                }
            }
            if (cfd >= 0)
                close(cfd); /* full */
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &clients[i];
            ssize_t r;
            if (c->fd < 0 || !(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);
            if (r <= 0 || (c->len += (size_t)r, handle(c) < 0)) {
                close(c->fd);
                c->fd = -1;
            }
        }
    }
    (void)unlink(sock_path);
    return 0;
}
