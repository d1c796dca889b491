/* SPDX-License-Identifier: MIT */
/* POSIX-style word splitting, no expansion. */
#include "proc/words.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

static void free_words(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int dext_words_split(const char *line, size_t len, char ***ret)
{
    struct dext_buf word;
    char **v = NULL;
    size_t n = 0, cap = 0;
    bool in_word = false;
    int r = 0;

    if (len > DEXT_WORDS_MAX_LEN)
        return -EMSGSIZE;
    dext_buf_init(&word, DEXT_WORDS_MAX_LEN);
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? line[i] : ' ';

        if (i == len || c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                if (n + 1 >= DEXT_WORDS_MAX) {
                    r = -EMSGSIZE;
                    break;
                }
                if (n + 2 > cap) {
                    cap = cap ? cap * 2 : 8;
                    v = xrealloc(v, cap * sizeof(char *));
                }
                v[n++] = dext_buf_take(&word, NULL);
                dext_buf_init(&word, DEXT_WORDS_MAX_LEN);
                in_word = false;
            }
            continue;
        }
        in_word = true;
        if (c == '\\') {
            if (++i >= len) {
                r = -EBADMSG;
                break;
            }
            (void)dext_buf_append(&word, &line[i], 1);
        } else if (c == '\'') {
            const char *end = memchr(line + i + 1, '\'', len - i - 1);
            if (!end) {
                r = -EBADMSG;
                break;
            }
            (void)dext_buf_append(&word, line + i + 1, (size_t)(end - line - i - 1));
            i = (size_t)(end - line);
        } else if (c == '"') {
            for (i++;; i++) {
                if (i >= len) {
                    r = -EBADMSG;
                    break;
                }
                if (line[i] == '"')
                    break;
                if (line[i] == '\\' && i + 1 < len && strchr("\"\\$`\n", line[i + 1]) != NULL)
                    i++;
                (void)dext_buf_append(&word, &line[i], 1);
            }
            if (r < 0)
                break;
        } else {
            (void)dext_buf_append(&word, &c, 1);
        }
    }
    dext_buf_done(&word);
    if (r < 0) {
        free_words(v, n);
        return r;
    }
    if (!v)
        v = xcalloc(1, sizeof(char *));
    v[n] = NULL;
    *ret = v;
    return (int)n;
}
