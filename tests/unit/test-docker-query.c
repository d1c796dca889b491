/* SPDX-License-Identifier: MIT */
/* listContainers / listImages options mapped to Engine API query parameters; the
 * output demultiplexer and the choice of an extension's first service. */
#include <stdlib.h>
#include <string.h>

#include "api/docker.h"
#include "docker/client.h"
#include "tap.h"

static char *query(const char *options, bool images)
{
    json_t *o = json_loads(options, 0, NULL);
    char *q = dext_docker_list_query(o, images);
    json_decref(o);
    return q;
}

static void test_containers(void)
{
    char *q = query("{\"all\":true,\"limit\":5,\"size\":false,"
                    "\"filters\":\"{\\\"status\\\":[\\\"exited\\\"]}\"}",
                    false);
    ASSERT_STR_EQ(q, "?all=1&limit=5&size=0&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D");
    free(q);
    q = query("{}", false);
    ASSERT_STR_EQ(q, "");
    free(q);
}

static void test_filters_object_and_unknown_keys(void)
{
    char *q = query("{\"filters\":{\"label\":[\"a=b\"]},\"bogus\":1,\"digests\":true}", false);
    ASSERT_STR_EQ(q, "?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
    free(q);
}

static void test_images(void)
{
    char *q = query("{\"all\":false,\"digests\":true,\"limit\":3}", true);
    ASSERT_STR_EQ(q, "?all=0&digests=1");
    free(q);
}

struct collected {
    char out[2][64];
    size_t len[2];
};

static void collect(void *data, int fd, const char *p, size_t n)
{
    struct collected *c = data;
    memcpy(c->out[fd - 1] + c->len[fd - 1], p, n);
    c->len[fd - 1] += n;
}

static void test_demux_any_split(void)
{
    /* "hello" on stdout, "oops" on stderr, an empty frame, "!" on stdout. */
    static const char frames[] = "\1\0\0\0\0\0\0\5hello"
                                 "\2\0\0\0\0\0\0\4oops"
                                 "\1\0\0\0\0\0\0\0"
                                 "\1\0\0\0\0\0\0\1!";
    size_t total = sizeof(frames) - 1;

    for (size_t step = 1; step <= total; step++) {
        struct dext_docker_demux m = {0};
        struct collected c = {0};
        for (size_t off = 0; off < total; off += step)
            dext_docker_demux_feed(&m, frames + off, off + step > total ? total - off : step,
                                   collect, &c);
        ASSERT_EQ(c.len[0], 6);
        ASSERT_EQ(c.len[1], 4);
        ASSERT_TRUE(memcmp(c.out[0], "hello!", 6) == 0);
        ASSERT_TRUE(memcmp(c.out[1], "oops", 4) == 0);
    }
}

static void test_first_service(void)
{
    json_t *list = json_loads("[{\"Id\":\"b\",\"Image\":\"other\",\"Labels\":"
                              "{\"com.docker.compose.service\":\"web\"}},"
                              "{\"Id\":\"a\",\"Image\":\"other\",\"Labels\":"
                              "{\"com.docker.compose.service\":\"api\"}},"
                              "{\"Id\":\"c\",\"Image\":\"org/ext:1\",\"Labels\":"
                              "{\"com.docker.compose.service\":\"zz\"}}]",
                              0, NULL);
    json_t *empty = json_array();

    ASSERT_STR_EQ(
        json_string_value(json_object_get(dext_docker_first_service(list, "org/ext:1"), "Id")),
        "c");
    ASSERT_STR_EQ(json_string_value(json_object_get(dext_docker_first_service(list, "x:1"), "Id")),
                  "a");
    ASSERT_NULL(dext_docker_first_service(empty, "x:1"));
    json_decref(list);
    json_decref(empty);
}

int main(void)
{
    TAP_RUN(test_containers);
    TAP_RUN(test_filters_object_and_unknown_keys);
    TAP_RUN(test_images);
    TAP_RUN(test_demux_any_split);
    TAP_RUN(test_first_service);
    TAP_EXIT();
}
