/* SPDX-License-Identifier: MIT */
/* Unit tests for base/path.c: normalisation of untrusted paths. */
#include <errno.h>
#include <string.h>

#include "base/path.h"
#include "tap.h"

static char out[DEXT_PATH_MAX + 16];

/* Normalises a C string; the result is in `out`. */
static int norm(const char *in, bool decode)
{
    memset(out, 'Z', sizeof(out));
    return dext_path_normalize(in, strlen(in), decode, out, sizeof(out));
}

#define ASSERT_NORM(in, decode, want)                                                              \
    do {                                                                                           \
        ASSERT_EQ(norm(in, decode), (int)strlen(want));                                            \
        ASSERT_STR_EQ(out, want);                                                                  \
    } while (0)

static void test_plain(void)
{
    ASSERT_NORM("index.html", false, "index.html");
    ASSERT_NORM("ui/index.html", false, "ui/index.html");
    ASSERT_NORM("/ui/index.html", false, "ui/index.html");
    ASSERT_NORM("//ui///index.html", false, "ui/index.html");
    ASSERT_NORM("./ui/./index.html", false, "ui/index.html");
    ASSERT_NORM("ui/", false, "ui");
    ASSERT_NORM("/ui/.", false, "ui");
    ASSERT_NORM("/ui/./", false, "ui");
    ASSERT_NORM("a/b/c/", false, "a/b/c");
}

static void test_root(void)
{
    ASSERT_NORM("", false, "");
    ASSERT_NORM("/", false, "");
    ASSERT_NORM("///", false, "");
    ASSERT_NORM(".", false, "");
    ASSERT_NORM("./", false, "");
    ASSERT_NORM("/././/./", false, "");
    ASSERT_NORM("/", true, "");
    ASSERT_NORM("/?x", true, "");
}

static void test_dotdot_refused(void)
{
    ASSERT_EQ(norm("..", false), -EACCES);
    ASSERT_EQ(norm("../x", false), -EACCES);
    ASSERT_EQ(norm("/..", false), -EACCES);
    ASSERT_EQ(norm("a/..", false), -EACCES);
    ASSERT_EQ(norm("a/../b", false), -EACCES);
    ASSERT_EQ(norm("a/b/../../..", false), -EACCES);
    ASSERT_EQ(norm("a/../", false), -EACCES);
    ASSERT_EQ(norm("%2e%2e/x", true), -EACCES);
    ASSERT_EQ(norm("%2E./x", true), -EACCES);
    ASSERT_EQ(norm("a%2F..%2Fb", true), -EACCES);
    /* Names that only look like "..". */
    ASSERT_NORM("...", false, "...");
    ASSERT_NORM("..a/b..", false, "..a/b..");
    ASSERT_NORM(".hidden/.x", false, ".hidden/.x");
    /* Without decoding an escape is just bytes. */
    ASSERT_NORM("%2e%2e/x", false, "%2e%2e/x");
}

static void test_percent_decode(void)
{
    ASSERT_NORM("a%20b", true, "a b");
    ASSERT_NORM("%41%62%7E", true, "Ab~");
    ASSERT_NORM("a%2Fb", true, "a/b");
    ASSERT_NORM("a%2f%2fb", true, "a/b");
    ASSERT_NORM("%2e/x", true, "x");
    ASSERT_NORM("%3F", true, "?");
    ASSERT_NORM("%23", true, "#");
    ASSERT_NORM("%25", true, "%");
    ASSERT_NORM("caf%C3%A9", true, "caf\xc3\xa9");
    ASSERT_NORM("a%20b", false, "a%20b");
}

static void test_bad_escapes(void)
{
    ASSERT_EQ(norm("%", true), -EBADMSG);
    ASSERT_EQ(norm("a%", true), -EBADMSG);
    ASSERT_EQ(norm("a%4", true), -EBADMSG);
    ASSERT_EQ(norm("%zz", true), -EBADMSG);
    ASSERT_EQ(norm("%4g", true), -EBADMSG);
    ASSERT_EQ(norm("%g4", true), -EBADMSG);
    ASSERT_EQ(norm("% 1", true), -EBADMSG);
    /* Escapes are only looked at when decoding. */
    ASSERT_NORM("%zz", false, "%zz");
    ASSERT_NORM("%", false, "%");
    /* A bad escape after the query is never seen. */
    ASSERT_NORM("a?%zz", true, "a");
}

static void test_control_bytes(void)
{
    ASSERT_EQ(dext_path_normalize("a\0b", 3, false, out, sizeof(out)), -EBADMSG);
    ASSERT_EQ(dext_path_normalize("\0", 1, true, out, sizeof(out)), -EBADMSG);
    ASSERT_EQ(norm("%00", true), -EBADMSG);
    ASSERT_EQ(norm("a\x01", false), -EBADMSG);
    ASSERT_EQ(norm("a\nb", false), -EBADMSG);
    ASSERT_EQ(norm("a\tb", false), -EBADMSG);
    ASSERT_EQ(norm("\x1f", false), -EBADMSG);
    ASSERT_EQ(norm("\x7f", false), -EBADMSG);
    ASSERT_EQ(norm("%0a", true), -EBADMSG);
    ASSERT_EQ(norm("%7F", true), -EBADMSG);
    ASSERT_EQ(norm("%1f", true), -EBADMSG);
    /* Bytes above 0x7f are UTF-8, not control bytes. */
    ASSERT_NORM("\xc3\xa9\xff", false, "\xc3\xa9\xff");
    ASSERT_NORM(" ~!", false, " ~!");
}

static void test_query_cut(void)
{
    ASSERT_NORM("a/b?x=1", true, "a/b");
    ASSERT_NORM("a/b#frag", true, "a/b");
    ASSERT_NORM("/index.html?v0.4.0", true, "index.html");
    ASSERT_NORM("?only", true, "");
    ASSERT_NORM("a?../..", true, "a");
    ASSERT_NORM("a%3Fb?c", true, "a?b");
    /* Without decoding '?' and '#' are ordinary bytes. */
    ASSERT_NORM("a?b#c", false, "a?b#c");
}

static void test_length_cap(void)
{
    char in[3 * DEXT_PATH_MAX];

    /* Exactly DEXT_PATH_MAX bytes fit; one more does not. */
    memset(in, 'a', DEXT_PATH_MAX);
    in[DEXT_PATH_MAX] = '\0';
    ASSERT_EQ(norm(in, false), DEXT_PATH_MAX);
    ASSERT_EQ(strlen(out), DEXT_PATH_MAX);
    in[DEXT_PATH_MAX] = 'a';
    in[DEXT_PATH_MAX + 1] = '\0';
    ASSERT_EQ(norm(in, false), -EMSGSIZE);

    /* Dropped bytes do not count: leading slashes, a trailing '/' or "/.". */
    memset(in, '/', DEXT_PATH_MAX);
    memset(in + DEXT_PATH_MAX, 'b', DEXT_PATH_MAX);
    in[2 * DEXT_PATH_MAX] = '\0';
    ASSERT_EQ(norm(in, false), DEXT_PATH_MAX);
    memset(in, 'a', DEXT_PATH_MAX);
    memcpy(in + DEXT_PATH_MAX, "/", sizeof("/"));
    ASSERT_EQ(norm(in, false), DEXT_PATH_MAX);
    memcpy(in + DEXT_PATH_MAX, "/./", sizeof("/./"));
    ASSERT_EQ(norm(in, false), DEXT_PATH_MAX);
    memcpy(in + DEXT_PATH_MAX, "//.", sizeof("//."));
    ASSERT_EQ(norm(in, false), DEXT_PATH_MAX);
    memcpy(in + DEXT_PATH_MAX, "/b", sizeof("/b"));
    ASSERT_EQ(norm(in, false), -EMSGSIZE);
    /* Decoded length is what counts: 1024 escapes are 1024 bytes. */
    for (size_t i = 0; i < DEXT_PATH_MAX; i++)
        memcpy(in + 3 * i, "%41", 3);
    ASSERT_EQ(dext_path_normalize(in, 3 * DEXT_PATH_MAX, true, out, sizeof(out)), DEXT_PATH_MAX);
    ASSERT_EQ(dext_path_normalize(in, 3 * DEXT_PATH_MAX - 3, true, out, sizeof(out)),
              DEXT_PATH_MAX - 1);
}

static void test_small_output(void)
{
    char small[4];

    ASSERT_EQ(dext_path_normalize("abc", 3, false, small, sizeof(small)), 3);
    ASSERT_STR_EQ(small, "abc");
    ASSERT_EQ(dext_path_normalize("abcd", 4, false, small, sizeof(small)), -EMSGSIZE);
    ASSERT_EQ(dext_path_normalize("a/bc", 4, false, small, sizeof(small)), -EMSGSIZE);
    ASSERT_EQ(dext_path_normalize("/abc/", 5, false, small, sizeof(small)), 3);
    ASSERT_STR_EQ(small, "abc");
    ASSERT_EQ(dext_path_normalize("x/./", 4, false, small, 2), 1);
    ASSERT_EQ(dext_path_normalize("", 0, false, small, 1), 0);
    ASSERT_STR_EQ(small, "");
    ASSERT_EQ(dext_path_normalize("a", 1, false, small, 1), -EMSGSIZE);
    ASSERT_EQ(dext_path_normalize("", 0, false, small, 0), -EMSGSIZE);
}

static void test_extension(void)
{
    ASSERT_STR_EQ(dext_path_extension("index.html"), "html");
    ASSERT_STR_EQ(dext_path_extension("a/b.c/d.tar.gz"), "gz");
    ASSERT_STR_EQ(dext_path_extension("a.d/file"), "");
    ASSERT_STR_EQ(dext_path_extension(".hidden"), "");
    ASSERT_STR_EQ(dext_path_extension("dir/.hidden"), "");
    ASSERT_STR_EQ(dext_path_extension("x."), "");
    ASSERT_STR_EQ(dext_path_extension(""), "");
}

static void test_safe_name(void)
{
    char longname[300];

    ASSERT_TRUE(dext_path_is_safe_name("backend.sock"));
    ASSERT_TRUE(dext_path_is_safe_name("..."));
    ASSERT_TRUE(dext_path_is_safe_name(".sock"));
    ASSERT_TRUE(!dext_path_is_safe_name(""));
    ASSERT_TRUE(!dext_path_is_safe_name("."));
    ASSERT_TRUE(!dext_path_is_safe_name(".."));
    ASSERT_TRUE(!dext_path_is_safe_name("a/b"));
    ASSERT_TRUE(!dext_path_is_safe_name("/a"));
    ASSERT_TRUE(!dext_path_is_safe_name("a\nb"));
    ASSERT_TRUE(!dext_path_is_safe_name("a\x7f"));
    memset(longname, 'a', 255);
    longname[255] = '\0';
    ASSERT_TRUE(dext_path_is_safe_name(longname));
    longname[255] = 'a';
    longname[256] = '\0';
    ASSERT_TRUE(!dext_path_is_safe_name(longname));
}

int main(void)
{
    TAP_RUN(test_plain);
    TAP_RUN(test_root);
    TAP_RUN(test_dotdot_refused);
    TAP_RUN(test_percent_decode);
    TAP_RUN(test_bad_escapes);
    TAP_RUN(test_control_bytes);
    TAP_RUN(test_query_cut);
    TAP_RUN(test_length_cap);
    TAP_RUN(test_small_output);
    TAP_RUN(test_extension);
    TAP_RUN(test_safe_name);
    TAP_EXIT();
}
