/* SPDX-License-Identifier: MIT */
/* listContainers / listImages options mapped to Engine API query parameters. */
#include <stdlib.h>
#include <string.h>

#include "api/docker.h"
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

int main(void)
{
    TAP_RUN(test_containers);
    TAP_RUN(test_filters_object_and_unknown_keys);
    TAP_RUN(test_images);
    TAP_EXIT();
}
