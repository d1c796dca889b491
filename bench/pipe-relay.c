/* SPDX-License-Identifier: MIT */
/* The limit for any relay: a child's stdout pipe copied to a loopback TCP client. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-stats.h"

#define PR_CLIENT_READ (256 * 1024) /* what exec-client reads with */

extern char **environ;

static const char usage[] =
    "Usage: pipe-relay [--bytes BYTES] [--buf SIZE] [--socketpair] [--thread]\n"
    "\n"
    "Spawns `head -c BYTES /dev/zero` (default 1 GiB) and copies its stdout pipe with\n"
    "read/write through a SIZE-byte buffer (default 65536, dext's read buffer) to a TCP\n"
    "client on 127.0.0.1: a separate process that reads and counts, as a page's client\n"
    "is (--thread: a thread of this process instead). With --socketpair, head's stdout\n"
    "is an AF_UNIX stream socketpair instead of a pipe, which is what libuv's\n"
    "UV_CREATE_PIPE gives a child. Prints one JSON line: bytes, seconds, gbps (10^9\n"
    "bytes/s), buf, stdout (\"pipe\" or \"socketpair\"), client (\"process\" or\n"
    "\"thread\"), relay_cpu_s (the relay's user+system CPU time).\n";

struct client {
    struct sockaddr_in addr;
    uint64_t bytes;
    int error;
};

static void *client_main(void *data)
{
    struct client *cl = data;
    char *buf = bench_xcalloc(1, PR_CLIENT_READ);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    if (fd < 0 || connect(fd, (struct sockaddr *)&cl->addr, sizeof(cl->addr)) < 0) {
        cl->error = errno;
        goto out;
    }
    while ((n = read(fd, buf, PR_CLIENT_READ)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cl->error = errno;
            break;
        }
        cl->bytes += (uint64_t)n;
    }
out:
    if (fd >= 0)
        (void)close(fd);
    free(buf);
    return NULL;
}

/* Runs the client in a child process; it reports its struct client on @ret_fd. */
static int start_client_process(struct client *cl, pid_t *ret_pid, int *ret_fd)
{
    int p[2];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        int r = -errno;
        (void)close(p[0]);
        (void)close(p[1]);
        return r;
    }
    if (pid == 0) {
        (void)close(p[0]);
        (void)client_main(cl);
        _exit(write(p[1], cl, sizeof(*cl)) == (ssize_t)sizeof(*cl) ? 0 : 1);
    }
    (void)close(p[1]);
    *ret_pid = pid;
    *ret_fd = p[0];
    return 0;
}

/* Waits for the client process's report. */
static int join_client_process(struct client *cl, pid_t pid, int fd)
{
    ssize_t n;
    int status;

    do
        n = read(fd, cl, sizeof(*cl));
    while (n < 0 && errno == EINTR);
    (void)close(fd);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof(*cl) ? 0 : -EPROTO;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Starts head with its stdout on a new pipe (or socketpair); returns the read end. */
static int spawn_head(unsigned long long bytes, bool is_socketpair, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    char count[32];
    char *argv[] = {(char *)"head", (char *)"-c", count, (char *)"/dev/zero", NULL};
    int p[2], r;

    (void)snprintf(count, sizeof(count), "%llu", bytes);
    if (is_socketpair ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0
                      : pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    (void)posix_spawn_file_actions_init(&fa);
    (void)posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    r = posix_spawnp(ret_pid, "head", &fa, NULL, argv, environ);
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)close(p[1]);
    if (r != 0) {
        (void)close(p[0]);
        return -r;
    }
    return p[0];
}

int main(int argc, char **argv)
{
    unsigned long long bytes = 1ULL << 30;
    unsigned buf_size = 65536;
    bool is_socketpair = false, is_thread = false;
    struct client cl = {0};
    socklen_t alen = sizeof(cl.addr);
    pthread_t thread;
    uint64_t t0, t1, relayed = 0;
    struct rusage ru;
    double secs, cpu;
    char *buf, *end;
    int lfd, sfd, pfd, rfd = -1, status, r;
    pid_t pid, client_pid = -1;
    ssize_t n;

    (void)signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--bytes") == 0 && i + 1 < argc) {
            errno = 0;
            bytes = strtoull(argv[++i], &end, 10);
            if (errno || *end || bytes == 0)
                goto bad;
        } else if (strcmp(a, "--buf") == 0 && i + 1 < argc) {
            if (bench_parse_uint(argv[++i], &buf_size) < 0 || buf_size == 0)
                goto bad;
        } else if (strcmp(a, "--socketpair") == 0) {
            is_socketpair = true;
        } else if (strcmp(a, "--thread") == 0) {
            is_thread = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            goto bad;
        }
    }
    buf = bench_xcalloc(1, buf_size);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cl.addr =
        (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&cl.addr, sizeof(cl.addr)) < 0 ||
        listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&cl.addr, &alen) < 0) {
        fprintf(stderr, "pipe-relay: listen: %s\n", strerror(errno));
        return 1;
    }
    r = is_thread ? -pthread_create(&thread, NULL, client_main, &cl)
                  : start_client_process(&cl, &client_pid, &rfd);
    if (r < 0) {
        fprintf(stderr, "pipe-relay: cannot start the client: %s\n", strerror(-r));
        return 1;
    }
    sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "pipe-relay: accept: %s\n", strerror(errno));
        return 1;
    }
    /* Timed like exec-client --stream: from asking for the process to the last byte read. */
    t0 = bench_now_ns();
    pfd = spawn_head(bytes, is_socketpair, &pid);
    if (pfd < 0) {
        fprintf(stderr, "pipe-relay: spawn head: %s\n", strerror(-pfd));
        return 1;
    }
    while ((n = read(pfd, buf, buf_size)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "pipe-relay: read: %s\n", strerror(errno));
            return 1;
        }
        r = write_all(sfd, buf, (size_t)n);
        if (r < 0) {
            fprintf(stderr, "pipe-relay: write: %s\n", strerror(-r));
            return 1;
        }
        relayed += (uint64_t)n;
    }
    (void)close(sfd);
    if (is_thread)
        (void)pthread_join(thread, NULL);
    else if (join_client_process(&cl, client_pid, rfd) < 0)
        cl.error = EPROTO;
    t1 = bench_now_ns();
    (void)close(pfd);
    (void)close(lfd);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (cl.error || cl.bytes != relayed || relayed != bytes) {
        fprintf(stderr, "pipe-relay: client read %llu of %llu bytes (%s)\n",
                (unsigned long long)cl.bytes, (unsigned long long)relayed, strerror(cl.error));
        return 1;
    }
    secs = (double)(t1 - t0) / 1e9;
    /* The relay's own CPU (the client's too with --thread), to set against dext's. */
    (void)getrusage(RUSAGE_SELF, &ru);
    cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("{\"bytes\":%llu,\"seconds\":%.4f,\"gbps\":%.4f,\"buf\":%u,\"stdout\":\"%s\","
           "\"client\":\"%s\",\"relay_cpu_s\":%.3f}\n",
           (unsigned long long)cl.bytes, secs, (double)cl.bytes / secs / 1e9, buf_size,
           is_socketpair ? "socketpair" : "pipe", is_thread ? "thread" : "process", cpu);
    free(buf);
    return 0;
bad:
    fputs(usage, stderr);
    return 2;
}
