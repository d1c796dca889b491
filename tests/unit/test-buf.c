/* SPDX-License-Identifier: MIT */
/* Unit tests for base/buf.c: the bounded buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "tap.h"

static void test_init_empty(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 16);
    ASSERT_NULL(b.data);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.max, 16);
    dext_buf_done(&b);
    /* done on a never-used buffer, twice, is harmless. */
    dext_buf_done(&b);
}

static void test_append_to_cap(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 8);
    ASSERT_EQ(dext_buf_append(&b, "abcd", 4), 0);
    ASSERT_EQ(dext_buf_append(&b, "efgh", 4), 0);
    ASSERT_EQ(b.len, 8);
    ASSERT_STR_EQ(b.data, "abcdefgh");
    /* At the cap: one more byte fails and changes nothing. */
    ASSERT_EQ(dext_buf_append(&b, "i", 1), -EMSGSIZE);
    ASSERT_EQ(b.len, 8);
    ASSERT_STR_EQ(b.data, "abcdefgh");
    /* An empty append at the cap is fine. */
    ASSERT_EQ(dext_buf_append(&b, "", 0), 0);
    ASSERT_EQ(b.len, 8);
    dext_buf_done(&b);
}

static void test_append_over_cap_at_once(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 8);
    ASSERT_EQ(dext_buf_append(&b, "123456789", 9), -EMSGSIZE);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(dext_buf_append(&b, "12345", 5), 0);
    ASSERT_EQ(dext_buf_append(&b, "6789", 4), -EMSGSIZE);
    ASSERT_EQ(b.len, 5);
    ASSERT_STR_EQ(b.data, "12345");
    ASSERT_EQ(dext_buf_append(&b, "678", 3), 0);
    ASSERT_STR_EQ(b.data, "12345678");
    /* A huge length must not wrap the size check. */
    ASSERT_EQ(dext_buf_append(&b, "x", (size_t)-1), -EMSGSIZE);
    ASSERT_EQ(b.len, 8);
    dext_buf_done(&b);
}

static void test_zero_cap(void)
{
    struct dext_buf b;
    char *p;
    size_t len = 99;

    dext_buf_init(&b, 0);
    ASSERT_EQ(dext_buf_append(&b, "a", 1), -EMSGSIZE);
    ASSERT_EQ(dext_buf_terminate(&b), 0);
    ASSERT_STR_EQ(b.data, "");
    p = dext_buf_take(&b, &len);
    ASSERT_STR_EQ(p, "");
    ASSERT_EQ(len, 0);
    free(p);
}

static void test_puts(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 10);
    ASSERT_EQ(dext_buf_puts(&b, "hello"), 0);
    ASSERT_EQ(dext_buf_puts(&b, ""), 0);
    ASSERT_EQ(dext_buf_puts(&b, "world"), 0);
    ASSERT_EQ(dext_buf_puts(&b, "!"), -EMSGSIZE);
    ASSERT_STR_EQ(b.data, "helloworld");
    dext_buf_done(&b);
}

static void test_printf(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 12);
    ASSERT_EQ(dext_buf_printf(&b, "%d-%s", 42, "ab"), 0);
    ASSERT_EQ(b.len, 5);
    ASSERT_STR_EQ(b.data, "42-ab");
    /* 7 more bytes would reach the cap exactly; 8 would pass it. */
    ASSERT_EQ(dext_buf_printf(&b, "%08d", 1), -EMSGSIZE);
    ASSERT_EQ(b.len, 5);
    ASSERT_STR_EQ(b.data, "42-ab");
    ASSERT_EQ(dext_buf_printf(&b, "%07d", 1), 0);
    ASSERT_EQ(b.len, 12);
    ASSERT_STR_EQ(b.data, "42-ab0000001");
    ASSERT_EQ(dext_buf_printf(&b, "%s", ""), 0);
    ASSERT_EQ(dext_buf_printf(&b, "x"), -EMSGSIZE);
    ASSERT_EQ(b.len, 12);
    dext_buf_done(&b);

    /* An empty printf on a fresh buffer still leaves a terminated string. */
    dext_buf_init(&b, 4);
    ASSERT_EQ(dext_buf_printf(&b, "%s", ""), 0);
    ASSERT_STR_EQ(b.data, "");
    dext_buf_done(&b);
}

static void test_growth(void)
{
    struct dext_buf b;
    char chunk[100];
    int ok = 1;

    dext_buf_init(&b, 100000);
    for (int i = 0; i < 1000; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        if (dext_buf_append(&b, chunk, sizeof(chunk)) < 0)
            ok = 0;
    }
    ASSERT_TRUE(ok);
    ASSERT_EQ(b.len, 100000);
    ASSERT_TRUE(b.size <= b.max + 1);
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] != 'a' + (char)((i / 100) % 26)) {
            ok = 0;
            break;
        }
    }
    ASSERT_TRUE(ok);
    ASSERT_EQ(b.data[b.len], '\0');
    ASSERT_EQ(dext_buf_append(&b, "x", 1), -EMSGSIZE);
    dext_buf_done(&b);
}

static void test_consume(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 8);
    dext_buf_consume(&b, 3); /* nothing allocated yet */
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(dext_buf_puts(&b, "abcdefgh"), 0);
    dext_buf_consume(&b, 0);
    ASSERT_STR_EQ(b.data, "abcdefgh");
    dext_buf_consume(&b, 3);
    ASSERT_EQ(b.len, 5);
    ASSERT_STR_EQ(b.data, "defgh");
    /* Consuming frees room under the cap. */
    ASSERT_EQ(dext_buf_puts(&b, "ijk"), 0);
    ASSERT_STR_EQ(b.data, "defghijk");
    ASSERT_EQ(dext_buf_puts(&b, "l"), -EMSGSIZE);
    dext_buf_consume(&b, 8);
    ASSERT_EQ(b.len, 0);
    ASSERT_STR_EQ(b.data, "");
    ASSERT_EQ(dext_buf_puts(&b, "xy"), 0);
    dext_buf_consume(&b, 100);
    ASSERT_EQ(b.len, 0);
    ASSERT_STR_EQ(b.data, "");
    dext_buf_done(&b);
}

static void test_terminate(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 4);
    ASSERT_EQ(dext_buf_terminate(&b), 0);
    ASSERT_STR_EQ(b.data, "");
    ASSERT_EQ(dext_buf_append(&b, "abcd", 4), 0);
    ASSERT_EQ(dext_buf_terminate(&b), 0);
    ASSERT_EQ(b.data[4], '\0');
    ASSERT_EQ(b.len, 4);
    dext_buf_done(&b);
}

static void test_take(void)
{
    struct dext_buf b;
    size_t len = 0;
    char *p;

    dext_buf_init(&b, 64);
    ASSERT_EQ(dext_buf_printf(&b, "n=%d", 7), 0);
    p = dext_buf_take(&b, &len);
    ASSERT_STR_EQ(p, "n=7");
    ASSERT_EQ(len, 3);
    ASSERT_NULL(b.data);
    ASSERT_EQ(b.len, 0);
    free(p);

    /* The buffer is reusable after take, with the same cap. */
    ASSERT_EQ(dext_buf_puts(&b, "again"), 0);
    p = dext_buf_take(&b, NULL);
    ASSERT_STR_EQ(p, "again");
    free(p);

    /* take on an empty buffer gives an allocated empty string. */
    len = 99;
    p = dext_buf_take(&b, &len);
    ASSERT_TRUE(p != NULL);
    ASSERT_STR_EQ(p, "");
    ASSERT_EQ(len, 0);
    free(p);
    dext_buf_done(&b);
}

static void test_binary_data(void)
{
    struct dext_buf b;

    dext_buf_init(&b, 8);
    ASSERT_EQ(dext_buf_append(&b, "a\0b\0", 4), 0);
    ASSERT_EQ(b.len, 4);
    ASSERT_TRUE(memcmp(b.data, "a\0b\0", 5) == 0);
    dext_buf_consume(&b, 1);
    ASSERT_TRUE(memcmp(b.data, "\0b\0", 4) == 0);
    ASSERT_EQ(b.len, 3);
    dext_buf_done(&b);
}

int main(void)
{
    TAP_RUN(test_init_empty);
    TAP_RUN(test_append_to_cap);
    TAP_RUN(test_append_over_cap_at_once);
    TAP_RUN(test_zero_cap);
    TAP_RUN(test_puts);
    TAP_RUN(test_printf);
    TAP_RUN(test_growth);
    TAP_RUN(test_consume);
    TAP_RUN(test_terminate);
    TAP_RUN(test_take);
    TAP_RUN(test_binary_data);
    TAP_EXIT();
}
