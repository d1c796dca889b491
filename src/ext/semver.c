/* SPDX-License-Identifier: MIT */
#include "ext/semver.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ver {
    long part[3];
    int n; /* parts given; a wildcard ends them */
};

/* Parses "v1.2.3" (or a prefix of it; "x" or "*" ends it) at *p. */
static int parse_ver(const char **p, struct ver *v)
{
    const char *s = *p;

    *v = (struct ver){0};
    if (*s == 'v' || *s == 'V')
        s++;
    for (;;) {
        if (*s == 'x' || *s == 'X' || *s == '*') {
            s++;
            break;
        }
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        if (v->n == 3)
            return -EINVAL;
        errno = 0;
        v->part[v->n] = strtol(s, (char **)&s, 10);
        if (errno)
            return -EINVAL;
        v->n++;
        if (*s != '.')
            break;
        s++;
    }
    /* A pre-release or build suffix does not change the comparison here. */
    if (*s == '-' || *s == '+')
        while (*s && !isspace((unsigned char)*s) && *s != ',' && *s != '|')
            s++;
    *p = s;
    return 0;
}

static int cmp(const struct ver *a, const struct ver *b)
{
    for (int i = 0; i < 3; i++) {
        long x = i < a->n ? a->part[i] : 0, y = i < b->n ? b->part[i] : 0;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

/* Whether @v starts with the parts @c gives. */
static bool prefix_eq(const struct ver *c, const struct ver *v)
{
    for (int i = 0; i < c->n; i++)
        if (c->part[i] != v->part[i])
            return false;
    return true;
}

/* The smallest version above every version @c covers when its first @keep parts
 * are held: bump part @keep-1, zero the rest. */
static struct ver bump(const struct ver *c, int keep)
{
    struct ver u = {{0, 0, 0}, 3};

    for (int i = 0; i < keep - 1; i++)
        u.part[i] = c->part[i];
    u.part[keep - 1] = (keep - 1 < c->n ? c->part[keep - 1] : 0) + 1;
    return u;
}

static int check_one(const char **p, const struct ver *v)
{
    const char *s = *p;
    char op[3] = "=";
    struct ver c, u;
    int r, keep;

    if (*s == '>' || *s == '<' || *s == '=' || *s == '!' || *s == '~' || *s == '^') {
        size_t n = (s[1] == '=') ? 2 : 1;
        memcpy(op, s, n);
        op[n] = '\0';
        s += n;
        if (strcmp(op, "!") == 0)
            return -EINVAL;
        while (isspace((unsigned char)*s))
            s++;
    }
    r = parse_ver(&s, &c);
    if (r < 0)
        return r;
    *p = s;
    if (strcmp(op, "=") == 0 || strcmp(op, "==") == 0)
        return c.n == 3 ? cmp(v, &c) == 0 : prefix_eq(&c, v);
    if (strcmp(op, "!=") == 0)
        return c.n == 3 ? cmp(v, &c) != 0 : !prefix_eq(&c, v);
    if (strcmp(op, ">=") == 0)
        return cmp(v, &c) >= 0;
    if (strcmp(op, "<=") == 0)
        return c.n == 3 ? cmp(v, &c) <= 0 : (c.n == 0 || cmp(v, (u = bump(&c, c.n), &u)) < 0);
    if (strcmp(op, ">") == 0)
        return c.n == 3 ? cmp(v, &c) > 0 : (c.n > 0 && cmp(v, (u = bump(&c, c.n), &u)) >= 0);
    if (strcmp(op, "<") == 0)
        return cmp(v, &c) < 0;
    if (cmp(v, &c) < 0)
        return 0;
    if (strcmp(op, "~") == 0) {
        /* ~1.2.3 and ~1.2: same minor; ~1: same major. */
        keep = c.n >= 2 ? 2 : 1;
    } else {
        /* ^: the left-most non-zero part given is held. */
        keep = 1;
        while (keep < c.n && c.part[keep - 1] == 0)
            keep++;
    }
    if (c.n == 0)
        return 1;
    u = bump(&c, keep);
    return cmp(v, &u) < 0;
}

int dext_semver_satisfies(const char *constraint, const char *version)
{
    const char *s = constraint, *vp = version;
    struct ver v;
    bool any = false, group = true, seen = false;

    if (parse_ver(&vp, &v) < 0 || v.n != 3)
        return -EINVAL;
    for (;;) {
        while (isspace((unsigned char)*s) || *s == ',')
            s++;
        if (!*s || (s[0] == '|' && s[1] == '|')) {
            if (!seen)
                return -EINVAL;
            any = any || group;
            if (!*s)
                return any;
            s += 2;
            group = true;
            seen = false;
            continue;
        }
        int r = check_one(&s, &v);
        if (r < 0)
            return r;
        if (*s && !isspace((unsigned char)*s) && *s != ',' && *s != '|')
            return -EINVAL;
        group = group && r;
        seen = true;
    }
}
