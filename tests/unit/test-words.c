/* SPDX-License-Identifier: MIT */
/* Word splitting for blocking exec: the quoting rules of spec 5.2. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ext/store.h"
#include "proc/words.h"
#include "tap.h"

/* Splits @line and compares with the expected words (NULL-terminated). */
static int split_is(const char *line, const char *const *want)
{
    char **v = NULL;
    int n = dext_words_split(line, strlen(line), &v);
    int ok = n >= 0;

    for (int i = 0; ok && i < n; i++)
        ok = want[i] && strcmp(v[i], want[i]) == 0;
    if (ok)
        ok = want[n] == NULL;
    if (!ok) {
        printf("#   split '%s' gave %d words:", line, n);
        for (int i = 0; n > 0 && i < n; i++)
            printf(" [%s]", v[i]);
        printf("\n");
    }
    dext_strv_free(v);
    return ok;
}

#define SPLIT(line, ...)                                                                           \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                           \
        ASSERT_TRUE(split_is(line, want_));                                                        \
    } while (0)

static void test_docs_examples(void)
{
    /* exec("info", ["--format", '"{{ json . }}"']) joined with spaces */
    SPLIT("info --format \"{{ json . }}\"", "info", "--format", "{{ json . }}");
    SPLIT("ps --all --format \"{{json .}}\"", "ps", "--all", "--format", "{{json .}}");
    SPLIT("kubectl get pods -o jsonpath='{.contexts}'", "kubectl", "get", "pods", "-o",
          "jsonpath={.contexts}");
    SPLIT("get -o custom-columns=\":metadata.name\"", "get", "-o", "custom-columns=:metadata.name");
    SPLIT("--label com.volumes-backup-extension.trigger-ui-refresh=true", "--label",
          "com.volumes-backup-extension.trigger-ui-refresh=true");
    SPLIT("--mount type=bind,source=\"/a b\",target=/c", "--mount",
          "type=bind,source=/a b,target=/c");
    SPLIT("sh -c '\"cat file\"'", "sh", "-c", "\"cat file\"");
}

static void test_no_expansion(void)
{
    SPLIT("echo $(id) `id` $HOME *.c a|b c;d e&&f", "echo", "$(id)", "`id`", "$HOME", "*.c", "a|b",
          "c;d", "e&&f");
    SPLIT("echo \"$HOME\" '$HOME'", "echo", "$HOME", "$HOME");
}

static void test_escapes_and_blanks(void)
{
    SPLIT("  a\t b  \n c ", "a", "b", "c");
    SPLIT("a\\ b c\\\\d", "a b", "c\\d");
    SPLIT("\"a\\\"b\" \"c\\d\"", "a\"b", "c\\d");
    SPLIT("x '' \"\"", "x", "", "");
    SPLIT("a'b'\"c\"d", "abcd");
}

static void test_empty(void)
{
    char **v = NULL;
    ASSERT_EQ(dext_words_split("   ", 3, &v), 0);
    ASSERT_NULL(v[0]);
    dext_strv_free(v);
}

static void test_errors(void)
{
    char **v = NULL;
    ASSERT_EQ(dext_words_split("a 'b", 4, &v), -EBADMSG);
    ASSERT_EQ(dext_words_split("a \"b", 4, &v), -EBADMSG);
    ASSERT_EQ(dext_words_split("a\\", 2, &v), -EBADMSG);
}

int main(void)
{
    TAP_RUN(test_docs_examples);
    TAP_RUN(test_no_expansion);
    TAP_RUN(test_escapes_and_blanks);
    TAP_RUN(test_empty);
    TAP_RUN(test_errors);
    TAP_EXIT();
}
