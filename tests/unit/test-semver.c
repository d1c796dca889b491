/* SPDX-License-Identifier: MIT */
/* api.version label constraints against the API version dext implements. */
#include <errno.h>
#include <stdio.h>

#include "ext/semver.h"
#include "tap.h"

static void test_labels_seen_in_the_wild(void)
{
    ASSERT_EQ(dext_semver_satisfies(">= 0.2.3", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies(">=0.3.3", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies(">= 0.4.2", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies(">= 1.4.7, < 2.0", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies(">= 1.4.7, < 2.0", "1.5.0"), 1);
    ASSERT_EQ(dext_semver_satisfies(">= 1.4.7, < 2.0", "2.0.0"), 0);
    ASSERT_EQ(dext_semver_satisfies(">= 0.3.0 < 0.5", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies(">= 9.1.0", "0.4.2"), 0);
}

static void test_bare_and_partial(void)
{
    /* A bare version is exact: "0.3.0" does not admit 0.4.2. */
    ASSERT_EQ(dext_semver_satisfies("0.3.0", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies("0.4.2", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("v0.4.2", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("0.4", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("0.4.x", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("0.3.x", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies("*", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("<= 0.4", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("> 0.4", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies("!= 0.4.2", "0.4.2"), 0);
}

static void test_caret_tilde_or(void)
{
    ASSERT_EQ(dext_semver_satisfies("^0.4.0", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("^0.3.0", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies("^0.4.3", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies("~0.4.1", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("~0.3", "0.4.2"), 0);
    ASSERT_EQ(dext_semver_satisfies("^1.0 || >= 0.4", "0.4.2"), 1);
    ASSERT_EQ(dext_semver_satisfies("^1.0 || 0.3", "0.4.2"), 0);
}

static void test_malformed(void)
{
    ASSERT_EQ(dext_semver_satisfies("", "0.4.2"), -EINVAL);
    ASSERT_EQ(dext_semver_satisfies("latest", "0.4.2"), -EINVAL);
    ASSERT_EQ(dext_semver_satisfies(">= ", "0.4.2"), -EINVAL);
    ASSERT_EQ(dext_semver_satisfies("1.2.3.4", "0.4.2"), -EINVAL);
    ASSERT_EQ(dext_semver_satisfies(">= 0.4 ||", "0.4.2"), -EINVAL);
    ASSERT_EQ(dext_semver_satisfies("=> 0.4", "0.4.2"), -EINVAL);
}

int main(void)
{
    TAP_RUN(test_labels_seen_in_the_wild);
    TAP_RUN(test_bare_and_partial);
    TAP_RUN(test_caret_tilde_or);
    TAP_RUN(test_malformed);
    TAP_EXIT();
}
