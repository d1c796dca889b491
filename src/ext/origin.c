/* SPDX-License-Identifier: MIT */
/* An installed extension's kept port and install id. */
#include "ext/origin.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/random.h>

#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/xalloc.h"

void dext_origin_load(const char *ext_dir, int *ret_port, char *ret_id)
{
    _cleanup_free_ char *path = xasprintf("%s/origin.json", ext_dir);
    _cleanup_free_ char *text = NULL;
    json_t *o;
    json_int_t port;
    const char *id;

    *ret_port = 0;
    ret_id[0] = '\0';
    if (dext_read_file_at(AT_FDCWD, path, 4096, &text, NULL) < 0)
        return;
    o = json_loads(text, 0, NULL);
    port = json_integer_value(json_object_get(o, "port"));
    id = json_string_value(json_object_get(o, "install_id"));
    if (port > 0 && port < 65536)
        *ret_port = (int)port;
    if (id && strlen(id) == DEXT_INSTALL_ID_LEN &&
        strspn(id, "0123456789abcdef") == DEXT_INSTALL_ID_LEN)
        memcpy(ret_id, id, DEXT_INSTALL_ID_LEN + 1);
    json_decref(o);
}

int dext_origin_save(const char *ext_dir, int port, const char *id)
{
    _cleanup_free_ char *path = xasprintf("%s/origin.json", ext_dir);
    _cleanup_free_ char *text = NULL;
    json_t *o = json_pack("{s:i, s:s}", "port", port, "install_id", id);

    text = json_dumps(o, 0);
    json_decref(o);
    return dext_write_file_atomic(path, text, strlen(text), 0600);
}

int dext_origin_new_id(char *ret)
{
    unsigned char raw[DEXT_INSTALL_ID_LEN / 2];
    static const char hex[] = "0123456789abcdef";

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    for (size_t i = 0; i < sizeof(raw); i++) {
        ret[2 * i] = hex[raw[i] >> 4];
        ret[2 * i + 1] = hex[raw[i] & 15];
    }
    ret[DEXT_INSTALL_ID_LEN] = '\0';
    return 0;
}
