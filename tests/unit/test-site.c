/* SPDX-License-Identifier: MIT */
/* The site's pure URL helpers: finding and dropping dext's query parameter. */
#include <string.h>

#include "api/site.h"
#include "tap.h"

static const char *without(const char *url, char *out, size_t size)
{
    (void)dext_url_without_param(url, strlen(url), "dext-secret", out, size);
    return out;
}

static void test_query_param(void)
{
    size_t n = 0;
    const char *u = "/index.html?a=1&dext-secret=abc&b";
    const char *v = dext_url_query_param(u, strlen(u), "dext-secret", &n);

    ASSERT_TRUE(v != NULL);
    ASSERT_EQ(n, 3);
    ASSERT_TRUE(strncmp(v, "abc", 3) == 0);
    ASSERT_TRUE(dext_url_query_param("/x?dext-secretx=1", 17, "dext-secret", &n) == NULL);
    ASSERT_TRUE(dext_url_query_param("/x", 2, "dext-secret", &n) == NULL);
}

static void test_without_param(void)
{
    char out[128];

    ASSERT_STR_EQ(without("/hmr?token=abc&dext-secret=s3cret", out, sizeof(out)), "/hmr?token=abc");
    ASSERT_STR_EQ(without("/?dext-secret=s&token=abc", out, sizeof(out)), "/?token=abc");
    ASSERT_STR_EQ(without("/a?x=1&dext-secret=s&y=2", out, sizeof(out)), "/a?x=1&y=2");
    ASSERT_STR_EQ(without("/a?dext-secret=s", out, sizeof(out)), "/a");
    ASSERT_STR_EQ(without("/a?dext-secret", out, sizeof(out)), "/a");
    ASSERT_STR_EQ(without("/a?dext-secretive=1", out, sizeof(out)), "/a?dext-secretive=1");
    ASSERT_STR_EQ(without("/a", out, sizeof(out)), "/a");
    ASSERT_STR_EQ(without("/a?&&x=1", out, sizeof(out)), "/a?x=1");
    /* Cut at the buffer, never past it. */
    ASSERT_STR_EQ(without("/abcdefgh?x=1", out, 5), "/abc");
}

int main(void)
{
    TAP_RUN(test_query_param);
    TAP_RUN(test_without_param);
    TAP_EXIT();
}
