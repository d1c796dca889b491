/* SPDX-License-Identifier: MIT */
/* The hello extension's host binary: greets and echoes its arguments, one per line. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char host[256] = "";

    (void)gethostname(host, sizeof(host) - 1);
    printf("hello from %s\n", host);
    for (int i = 1; i < argc; i++)
        printf("%s\n", argv[i]);
    return 0;
}
