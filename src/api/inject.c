/* SPDX-License-Identifier: MIT */
/* The script injected into every page: config + the embedded ddclient.js. */
#include "api/inject.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/macro.h"
#include "base/xalloc.h"

extern const char dext_ddclient_js[];
extern const size_t dext_ddclient_js_len;

const char *dext_host_arch(void)
{
    static const struct {
        const char *machine, *node;
    } map[] = {
        {"x86_64", "x64"},      {"amd64", "x64"},       {"aarch64", "arm64"},
        {"arm64", "arm64"},     {"i386", "ia32"},       {"i686", "ia32"},
        {"armv7l", "arm"},      {"armv6l", "arm"},      {"ppc64le", "ppc64"},
        {"s390x", "s390x"},     {"riscv64", "riscv64"}, {"loongarch64", "loong64"},
        {"mips64", "mips64el"},
    };
    static char other[65];
    struct utsname u;

    if (uname(&u) < 0)
        return "unknown";
    for (size_t i = 0; i < ELEMENTSOF(map); i++)
        if (strcmp(u.machine, map[i].machine) == 0)
            return map[i].node;
    memcpy(other, u.machine, sizeof(other) - 1);
    return other;
}

char *dext_inject_script(const struct dext_inject_info *info)
{
    char hostname[256] = "localhost";
    _cleanup_free_ char *config = NULL;
    json_t *o;

    if (gethostname(hostname, sizeof(hostname) - 1) < 0)
        (void)snprintf(hostname, sizeof(hostname), "localhost");
    o = json_pack("{s:s, s:{s:s, s:s, s:b, s:b, s:b}, s:{s:s, s:s, s:s}, s:s}", "secret",
                  info->secret, "extension", "name", info->name, "image",
                  info->image ? info->image : "", "hasVm", info->has_vm, "hasService",
                  info->has_service, "hasHost", info->has_host, "host", "platform", "linux", "arch",
                  dext_host_arch(), "hostname", hostname, "apiVersion", "0.4.2");
    json_object_set_new(o, "reload", json_boolean(info->reload));
    if (info->install_id)
        json_object_set_new(o, "installId", json_string(info->install_id));
    if (info->hub_origin)
        json_object_set_new(o, "hubOrigin", json_string(info->hub_origin));
    /* Escaped slashes keep "</script>" out of the inline script. */
    config = json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH);
    json_decref(o);
    return xasprintf("<script>window.__dextConfig=%s;\n%.*s</script>", config,
                     (int)dext_ddclient_js_len, dext_ddclient_js);
}
