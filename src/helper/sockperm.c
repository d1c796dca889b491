/* SPDX-License-Identifier: MIT */
/* dext-sockperm SOCKET...: run by dext as root inside an extension's backend
 * container, through the Engine exec API, when dext itself is not root. Backends
 * usually run as root and bind their socket with the container's umask (0755), so
 * an unprivileged dext could not connect. This opens each named socket in
 * /run/guest-services to every user that can reach the directory (which dext made,
 * 0700, for itself). Statically linked: extension images are often FROM scratch.
 * It touches nothing but sockets directly inside /run/guest-services. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define GUEST "/run/guest-services/"

int main(int argc, char **argv)
{
    int status = 0;

    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        struct stat st;

        if (strncmp(p, GUEST, strlen(GUEST)) != 0 || strchr(p + strlen(GUEST), '/') ||
            strcmp(p + strlen(GUEST), "..") == 0 || lstat(p, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            chmod(p, 0666) < 0) {
            fprintf(stderr, "dext-sockperm: %s: not a socket in " GUEST " that can be opened\n", p);
            status = 1;
        }
    }
    return status;
}
