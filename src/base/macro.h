/* SPDX-License-Identifier: MIT */
/* Small macros shared by every module. */
#pragma once

#include <stddef.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#undef MIN
#undef MAX
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED(x) ((void)(x))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

/* Pointer to the struct that embeds @ptr as @member. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define STRLEN(s) (sizeof(s) - 1)
