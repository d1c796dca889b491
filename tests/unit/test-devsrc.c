/* SPDX-License-Identifier: MIT */
/* Unit tests for the pure parts of dext's own origin and the dev server relay:
 * dev server URLs (api/devsrc.c) and the file chooser's filters (api/hub.c). */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/devsrc.h"
#include "api/hub.h"
#include "tap.h"

static char ip[48], why[160];
static int port;
static const char *path;

static int parse(const char *url)
{
    ip[0] = why[0] = '\0';
    port = -1;
    path = NULL;
    return dext_devsrc_parse_url(url, ip, &port, &path, why);
}

static void test_urls_accepted(void)
{
    ASSERT_EQ(parse("http://localhost:3000"), 0);
    ASSERT_STR_EQ(ip, "127.0.0.1");
    ASSERT_EQ(port, 3000);
    ASSERT_STR_EQ(path, "/");
    ASSERT_EQ(parse("http://LOCALHOST"), 0);
    ASSERT_EQ(port, 80);
    ASSERT_EQ(parse("http://127.0.0.2:8080/app/index.html"), 0);
    ASSERT_STR_EQ(ip, "127.0.0.2");
    ASSERT_STR_EQ(path, "/app/index.html");
    ASSERT_EQ(parse("http://[::1]:5173/x"), 0);
    ASSERT_STR_EQ(ip, "::1");
    ASSERT_EQ(port, 5173);
    ASSERT_STR_EQ(path, "/x");
    ASSERT_EQ(parse("http://127.0.0.1:65535"), 0);
}

static void test_urls_refused(void)
{
    static const char *const bad[] = {
        "https://localhost:3000",
        "ftp://localhost/",
        "localhost:3000",
        "http://",
        "http://:3000",
        "http://example.com:3000",
        "http://10.0.0.1:3000",
        "http://127.0.0.1:0",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:12ab",
        "http://127.0.0.1:/x",
        "http://[::1",
        "http://[fe80::1]:3000",
        "http://127.1.2.3.4:80",
        "http://localhost:3000/?a=1",
        "http://localhost/#frag",
        "http://127.0.0.1.evil.example:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_EQ(parse(bad[i]), -EINVAL);
        ASSERT_TRUE(why[0] != '\0');
    }
    ASSERT_EQ(parse(NULL), -EINVAL);
    char longer[DEXT_DEVSRC_URL_MAX + 32] = "http://localhost/";
    memset(longer + strlen(longer), 'a', DEXT_DEVSRC_URL_MAX);
    longer[DEXT_DEVSRC_URL_MAX + 16] = '\0';
    ASSERT_EQ(parse(longer), -EINVAL);
}

static void test_filters(void)
{
    json_t *f = json_loads("[{\"name\":\"Text\",\"extensions\":[\"txt\",\".md\"]},"
                           "{\"name\":\"Images\",\"extensions\":[\"PNG\"]}]",
                           0, NULL);
    json_t *any = json_loads("[{\"name\":\"All\",\"extensions\":[\"*\"]}]", 0, NULL);
    json_t *empty = json_array();

    ASSERT_TRUE(dext_hub_filter_match(f, "a.txt"));
    ASSERT_TRUE(dext_hub_filter_match(f, "A.TXT"));
    ASSERT_TRUE(dext_hub_filter_match(f, "notes.md"));
    ASSERT_TRUE(dext_hub_filter_match(f, "x.png"));
    ASSERT_TRUE(!dext_hub_filter_match(f, "a.log"));
    ASSERT_TRUE(!dext_hub_filter_match(f, "txt"));
    ASSERT_TRUE(!dext_hub_filter_match(f, ".txt"));
    ASSERT_TRUE(!dext_hub_filter_match(f, "a.txt.gz"));
    ASSERT_TRUE(dext_hub_filter_match(any, "whatever"));
    ASSERT_TRUE(dext_hub_filter_match(empty, "whatever"));
    ASSERT_TRUE(dext_hub_filter_match(NULL, "whatever"));
    json_decref(f);
    json_decref(any);
    json_decref(empty);
}

int main(void)
{
    TAP_RUN(test_urls_accepted);
    TAP_RUN(test_urls_refused);
    TAP_RUN(test_filters);
    TAP_EXIT();
}
