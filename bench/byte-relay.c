/* SPDX-License-Identifier: MIT */
/* The floor for a proxy: bytes copied between loopback TCP clients and a unix socket,
 * with no HTTP at all. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char usage[] =
    "Usage: byte-relay --socket PATH [--port N]\n"
    "\n"
    "Listens on 127.0.0.1:N (default: any free port, printed as a URL on stdout) and\n"
    "pairs every accepted connection with a connection of its own to the unix socket\n"
    "PATH. One epoll loop copies whatever is readable on one side to the other, with\n"
    "one read(2) and one write(2), as it arrives. It parses nothing, so it is the\n"
    "least any HTTP proxy can cost on this machine. Writes that would block wait for\n"
    "the socket (poll), which small request/answer exchanges never need.\n";

#define RELAY_BUF (64 * 1024)
#define RELAY_EVENTS 256

struct side {
    int fd;
    struct side *peer;
};

static void fail(const char *what)
{
    fprintf(stderr, "byte-relay: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int connect_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        close(fd);
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            (void)poll(&pfd, 1, -1);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Pairs closed during a batch of events, freed once the batch is done (a later event
 * of the same batch may name either side). */
static struct side **dead;
static size_t n_dead, cap_dead;

static void close_pair(int ep, struct side *s)
{
    struct side *peer = s->peer;

    (void)epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, peer->fd, NULL);
    close(s->fd);
    close(peer->fd);
    s->fd = peer->fd = -1;
    if (n_dead == cap_dead) {
        cap_dead = cap_dead ? cap_dead * 2 : 16;
        dead = realloc(dead, cap_dead * sizeof(*dead));
        if (!dead)
            fail("realloc");
    }
    /* The two sides were allocated together; the client's comes first. */
    dead[n_dead++] = s < peer ? s : peer;
}

static void accept_one(int ep, int lfd, const char *path)
{
    int one = 1, cfd, bfd;
    struct side *pair;
    struct epoll_event ev = {.events = EPOLLIN};

    cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    bfd = connect_unix(path);
    if (bfd < 0) {
        fprintf(stderr, "byte-relay: connect %s: %s\n", path, strerror(errno));
        close(cfd);
        return;
    }
    (void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pair = calloc(2, sizeof(*pair));
    if (!pair)
        fail("calloc");
    pair[0] = (struct side){.fd = cfd, .peer = &pair[1]};
    pair[1] = (struct side){.fd = bfd, .peer = &pair[0]};
    ev.data.ptr = &pair[0];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0)
        fail("epoll_ctl");
    ev.data.ptr = &pair[1];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, bfd, &ev) < 0)
        fail("epoll_ctl");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int port = 0, one = 1, lfd, ep;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t alen = sizeof(addr);
    struct epoll_event ev = {.events = EPOLLIN}, events[RELAY_EVENTS];
    static char buf[RELAY_BUF];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fputs(usage, strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        fail("socket");
    (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 512) < 0)
        fail("listen");
    if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0)
        fail("getsockname");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1");
    ev.data.ptr = NULL; /* the listener */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        fail("epoll_ctl");
    printf("http://127.0.0.1:%u/\n", ntohs(addr.sin_port));
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(ep, events, RELAY_EVENTS, -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct side *s = events[i].data.ptr;
            ssize_t r;

            if (!s) {
                accept_one(ep, lfd, path);
                continue;
            }
            if (s->fd < 0)
                continue; /* closed earlier in this batch */
            r = read(s->fd, buf, sizeof(buf));
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0 || !write_all(s->peer->fd, buf, (size_t)r))
                close_pair(ep, s);
        }
        for (size_t i = 0; i < n_dead; i++)
            free(dead[i]);
        n_dead = 0;
    }
}
