/* SPDX-License-Identifier: MIT */
/* POSIX-style word splitting without any expansion, for blocking exec calls. Pure. */
#pragma once

#include <stddef.h>

#define DEXT_WORDS_MAX 4096          /* words in one command line */
#define DEXT_WORDS_MAX_LEN (1 << 20) /* bytes in one command line */

/* Splits @line (length @len) into words: blanks separate words; '...' groups
 * literally; "..." groups with backslash escaping only \" \\ \$ \` and a
 * newline; a backslash outside quotes takes the next byte literally. Nothing
 * is expanded: $, `, globs, |, ;, && and the like are plain bytes. An empty
 * quoted string is an empty word. Returns the number of words and a new
 * NULL-terminated vector in @ret (free with dext_strv_free), or -EBADMSG for an
 * unterminated quote or a trailing backslash, -EMSGSIZE past the limits. */
int dext_words_split(const char *line, size_t len, char ***ret);
