/* SPDX-License-Identifier: MIT */
/* Unit tests for ext/metadata.c: parsing and validating metadata.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/path.h"
#include "ext/metadata.h"
#include "tap.h"

/* Never dereferenced: shows that a failed parse leaves @ret_meta alone. */
#define SENTINEL ((struct dext_ext_meta *)&sentinel_storage)
static char sentinel_storage;

static int parse(const char *json, struct dext_ext_meta **ret, struct dext_meta_problems *p)
{
    return dext_ext_meta_parse(json, strlen(json), ret, p);
}

/* Parses @json, which must be valid; the caller frees the result. */
static struct dext_ext_meta *parse_ok(const char *json)
{
    struct dext_meta_problems p = {0};
    struct dext_ext_meta *m = NULL;
    int r = parse(json, &m, &p);

    ASSERT_EQ(r, 0);
    ASSERT_EQ(p.n, 0);
    for (size_t i = 0; i < p.n; i++)
        printf("#   unexpected problem: %s\n", p.items[i]);
    dext_meta_problems_done(&p);
    return m;
}

/* Checks that @json is refused with exactly the problems @want, in order. */
static void check_problems(int line, const char *json, const char *const *want, size_t n_want)
{
    struct dext_meta_problems p = {0};
    struct dext_ext_meta *m = SENTINEL;
    int r = parse(json, &m, &p);
    size_t n = p.n < n_want ? p.n : n_want;

    if (r != -EBADMSG || m != SENTINEL || p.n != n_want || p.truncated)
        ASSERT_FAIL_("line %d: r=%d n=%zu (want %zu) truncated=%d", line, r, p.n, n_want,
                     p.truncated);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p.items[i], want[i]) != 0)
            ASSERT_FAIL_("line %d: problem %zu: '%s' != '%s'", line, i, p.items[i], want[i]);
    }
    for (size_t i = n; i < p.n; i++)
        printf("#   line %d: extra problem: %s\n", line, p.items[i]);
    for (size_t i = n; i < n_want; i++)
        printf("#   line %d: missing problem: %s\n", line, want[i]);
    dext_meta_problems_done(&p);

    /* The verdict does not depend on whether problems are collected. */
    m = SENTINEL;
    ASSERT_EQ(parse(json, &m, NULL), -EBADMSG);
    ASSERT_TRUE(m == SENTINEL);
}

#define EXPECT_PROBLEMS(json, ...)                                                                 \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        check_problems(__LINE__, json, want_, sizeof(want_) / sizeof(want_[0]));                   \
    } while (0)

static void test_full(void)
{
    struct dext_ext_meta *m = parse_ok(
        "{\n"
        "  \"name\": \"obsolete\", \"provider\": \"obsolete too\",\n"
        "  \"icon\": \"/docker.svg\",\n"
        "  \"ui\": {\"dashboard-tab\": {\"title\": \"My Ext\", \"root\": \"/ui\",\n"
        "          \"src\": \"index.html?v0.4.0\", \"backend\": {\"socket\": \"legacy.sock\",\n"
        "          \"tcp\": 8080}, \"unknown\": {}}, \"other-point\": 1},\n"
        "  \"vm\": {\"image\": \"${DESKTOP_PLUGIN_IMAGE}\",\n"
        "          \"exposes\": {\"socket\": \"backend.sock\"},\n"
        "          \"x-dext-command\": [\"./bin/server\", \"--socket\",\n"
        "                               \"/run/guest-services/backend.sock\"]},\n"
        "  \"host\": {\"binaries\": [\n"
        "     {\"darwin\": [{\"path\": \"/darwin/tool\"}],\n"
        "      \"windows\": [{\"path\": \"/windows/tool.exe\"}],\n"
        "      \"linux\": [{\"path\": \"/linux/tool\"}, {\"path\": \"/linux/runtime/\"}]},\n"
        "     {\"linux\": [{\"path\": \"tools//run-drone\", \"mode\": 493}], \"plan9\": 1}],\n"
        "     \"other\": true},\n"
        "  \"x-unknown\": [1, 2, 3]\n"
        "}\n");

    if (!m)
        return;
    ASSERT_STR_EQ(m->icon, "docker.svg");
    ASSERT_TRUE(m->has_ui);
    ASSERT_STR_EQ(m->ui_title, "My Ext");
    ASSERT_STR_EQ(m->ui_root, "ui");
    ASSERT_STR_EQ(m->ui_src, "index.html");
    ASSERT_STR_EQ(m->ui_src_query, "v0.4.0");
    ASSERT_STR_EQ(m->ui_backend_socket, "legacy.sock");
    ASSERT_TRUE(m->has_vm);
    ASSERT_STR_EQ(m->vm_image, "${DESKTOP_PLUGIN_IMAGE}");
    ASSERT_NULL(m->vm_composefile);
    ASSERT_STR_EQ(m->vm_exposes_socket, "backend.sock");
    ASSERT_TRUE(m->vm_command != NULL);
    if (m->vm_command) {
        ASSERT_STR_EQ(m->vm_command[0], "./bin/server");
        ASSERT_STR_EQ(m->vm_command[1], "--socket");
        ASSERT_STR_EQ(m->vm_command[2], "/run/guest-services/backend.sock");
        ASSERT_NULL(m->vm_command[3]);
    }
    ASSERT_EQ(m->n_host_binaries, 3);
    if (m->n_host_binaries == 3) {
        ASSERT_STR_EQ(m->host_binaries[0].path, "linux/tool");
        ASSERT_TRUE(!m->host_binaries[0].is_dir);
        ASSERT_STR_EQ(m->host_binaries[1].path, "linux/runtime");
        ASSERT_TRUE(m->host_binaries[1].is_dir);
        ASSERT_STR_EQ(m->host_binaries[2].path, "tools/run-drone");
        ASSERT_TRUE(!m->host_binaries[2].is_dir);
    }
    /* vm.exposes.socket wins over the legacy field. */
    ASSERT_STR_EQ(dext_ext_meta_socket(m), "backend.sock");
    dext_ext_meta_free(m);
}

static void test_minimal_ui_only(void)
{
    struct dext_ext_meta *m =
        parse_ok("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"index.html\"}}}");

    if (!m)
        return;
    ASSERT_NULL(m->icon);
    ASSERT_TRUE(m->has_ui);
    ASSERT_NULL(m->ui_title);
    ASSERT_STR_EQ(m->ui_root, "ui");
    ASSERT_STR_EQ(m->ui_src, "index.html");
    ASSERT_NULL(m->ui_src_query);
    ASSERT_NULL(m->ui_backend_socket);
    ASSERT_TRUE(!m->has_vm);
    ASSERT_NULL(m->vm_image);
    ASSERT_NULL(m->vm_command);
    ASSERT_EQ(m->n_host_binaries, 0);
    ASSERT_NULL(m->host_binaries);
    ASSERT_NULL(dext_ext_meta_socket(m));
    dext_ext_meta_free(m);

    /* The UI may live at the top of the extension. */
    m = parse_ok("{\"ui\": {\"dashboard-tab\": {\"root\": \"/\", \"src\": \"/index.html\"}}}");
    if (m) {
        ASSERT_STR_EQ(m->ui_root, "");
        ASSERT_STR_EQ(m->ui_src, "index.html");
    }
    dext_ext_meta_free(m);
    m = parse_ok("{\"ui\": {\"dashboard-tab\": {\"root\": \"\", \"src\": \"a/b.html\"}}}");
    if (m)
        ASSERT_STR_EQ(m->ui_root, "");
    dext_ext_meta_free(m);

    /* A ui section without dashboard-tab shows no tab. */
    m = parse_ok("{\"ui\": {}}");
    if (m)
        ASSERT_TRUE(!m->has_ui);
    dext_ext_meta_free(m);
}

static void test_minimal_vm_image(void)
{
    struct dext_ext_meta *m = parse_ok("{\"vm\": {\"image\": \"alpine:3.19\"}}");

    if (!m)
        return;
    ASSERT_NULL(m->icon);
    ASSERT_TRUE(!m->has_ui);
    ASSERT_NULL(m->ui_root);
    ASSERT_NULL(m->ui_src);
    ASSERT_TRUE(m->has_vm);
    ASSERT_STR_EQ(m->vm_image, "alpine:3.19");
    ASSERT_NULL(m->vm_composefile);
    ASSERT_NULL(m->vm_exposes_socket);
    ASSERT_NULL(m->vm_command);
    ASSERT_NULL(dext_ext_meta_socket(m));
    dext_ext_meta_free(m);
}

static void test_vm_composefile(void)
{
    struct dext_ext_meta *m = parse_ok(
        "{\"vm\": {\"composefile\": \"/compose/./docker-compose.yaml\", \"exposes\": {}}}");

    if (!m)
        return;
    ASSERT_NULL(m->vm_image);
    ASSERT_STR_EQ(m->vm_composefile, "compose/docker-compose.yaml");
    ASSERT_NULL(m->vm_exposes_socket);
    dext_ext_meta_free(m);

    m = parse_ok("{\"vm\": {\"composefile\": \"docker-compose.yaml\"}}");
    if (m)
        ASSERT_STR_EQ(m->vm_composefile, "docker-compose.yaml");
    dext_ext_meta_free(m);
}

static void test_empty_object(void)
{
    struct dext_ext_meta *m = parse_ok("{}");

    if (!m)
        return;
    ASSERT_NULL(m->icon);
    ASSERT_TRUE(!m->has_ui);
    ASSERT_TRUE(!m->has_vm);
    ASSERT_EQ(m->n_host_binaries, 0);
    dext_ext_meta_free(m);

    /* Obsolete keys alone are fine. */
    m = parse_ok("{\"name\": \"trivy\", \"provider\": \"Aqua\"}");
    dext_ext_meta_free(m);
}

static void test_many_problems_at_once(void)
{
    EXPECT_PROBLEMS(
        "{\"icon\": 5,\n"
        " \"ui\": {\"dashboard-tab\": {\"root\": \"../ui\", \"src\": 3, \"title\": [],\n"
        "                            \"backend\": {\"socket\": \"a/b\"}}},\n"
        " \"vm\": {\"image\": \"x\", \"composefile\": \"c.yaml\", \"exposes\": {\"socket\": "
        "\"..\"},\n"
        "        \"x-dext-command\": [\"a\", 1, \"\"]},\n"
        " \"host\": {\"binaries\": [{\"linux\": [{\"path\": \"ok\"}]},\n"
        "                         {\"linux\": [{\"path\": \"../x\"}], \"darwin\": {}},\n"
        "                         7,\n"
        "                         {\"windows\": [{}, \"s\", {\"path\": null}]}]}}",
        "icon: expected a string", "ui.dashboard-tab.title: expected a string",
        "ui.dashboard-tab.root: '..' is not allowed", "ui.dashboard-tab.src: expected a string",
        "ui.dashboard-tab.backend.socket: must be a plain file name",
        "vm: expected exactly one of image or composefile",
        "vm.exposes.socket: must be a plain file name", "vm.x-dext-command[1]: expected a string",
        "vm.x-dext-command[2]: must not be empty", "host.binaries[1].darwin: expected an array",
        "host.binaries[1].linux[0].path: '..' is not allowed",
        "host.binaries[2]: expected an object", "host.binaries[3].windows[0].path: is required",
        "host.binaries[3].windows[1]: expected an object",
        "host.binaries[3].windows[2].path: expected a string");
}

static void test_wrong_types(void)
{
    EXPECT_PROBLEMS("[]", "(top level): expected an object");
    EXPECT_PROBLEMS("[{\"icon\": \"x\"}]", "(top level): expected an object");
    EXPECT_PROBLEMS("1", "(top level): expected an object");
    EXPECT_PROBLEMS("\"metadata\"", "(top level): expected an object");
    EXPECT_PROBLEMS("null", "(top level): expected an object");
    EXPECT_PROBLEMS("{\"ui\": [], \"vm\": \"alpine\", \"host\": 1}", "ui: expected an object",
                    "vm: expected an object", "host: expected an object");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": true}}", "ui.dashboard-tab: expected an object");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"i.html\", "
                    "\"backend\": \"x.sock\"}}}",
                    "ui.dashboard-tab.backend: expected an object");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": 1, \"src\": \"i.html\", "
                    "\"backend\": {\"socket\": 2}}}}",
                    "ui.dashboard-tab.root: expected a string",
                    "ui.dashboard-tab.backend.socket: expected a string");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": 1, \"exposes\": []}}", "vm.image: expected a string",
                    "vm.exposes: expected an object");
    EXPECT_PROBLEMS("{\"vm\": {\"composefile\": {}, \"exposes\": {\"socket\": null}}}",
                    "vm.composefile: expected a string", "vm.exposes.socket: expected a string");
    EXPECT_PROBLEMS("{\"host\": {\"binaries\": {}}}", "host.binaries: expected an array");
    EXPECT_PROBLEMS("{\"host\": {\"binaries\": [{\"linux\": [[]]}]}}",
                    "host.binaries[0].linux[0]: expected an object");
}

static void test_required_fields(void)
{
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"title\": \"t\"}}}",
                    "ui.dashboard-tab.root: is required", "ui.dashboard-tab.src: is required");
    EXPECT_PROBLEMS("{\"vm\": {}}", "vm: expected exactly one of image or composefile");
    EXPECT_PROBLEMS("{\"vm\": {\"exposes\": {\"socket\": \"b.sock\"}}}",
                    "vm: expected exactly one of image or composefile");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"\"}}", "vm.image: must not be empty");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"exposes\": {\"socket\": \"\"}}}",
                    "vm.exposes.socket: must be a plain file name");
}

static void test_command(void)
{
    char json[8192];
    struct dext_ext_meta *m;
    size_t o;

    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"x-dext-command\": []}}",
                    "vm.x-dext-command: expected a non-empty array of strings");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"x-dext-command\": \"./server --x\"}}",
                    "vm.x-dext-command: expected a non-empty array of strings");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"x-dext-command\": {}}}",
                    "vm.x-dext-command: expected a non-empty array of strings");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"x-dext-command\": [\"\"]}}",
                    "vm.x-dext-command[0]: must not be empty");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"x-dext-command\": [\"x\", [\"y\"], \"z\"]}}",
                    "vm.x-dext-command[1]: expected a string");

    /* DEXT_METADATA_MAX_ARGV arguments are accepted, one more is not. */
    o = (size_t)snprintf(json, sizeof(json), "{\"vm\": {\"image\": \"a\", \"x-dext-command\": [");
    for (int i = 0; i < DEXT_METADATA_MAX_ARGV; i++)
        o += (size_t)snprintf(json + o, sizeof(json) - o, "%s\"a%d\"", i ? "," : "", i);
    (void)snprintf(json + o, sizeof(json) - o, "]}}");
    m = parse_ok(json);
    if (m && m->vm_command) {
        ASSERT_STR_EQ(m->vm_command[DEXT_METADATA_MAX_ARGV - 1], "a255");
        ASSERT_NULL(m->vm_command[DEXT_METADATA_MAX_ARGV]);
    }
    dext_ext_meta_free(m);
    (void)snprintf(json + o, sizeof(json) - o, ",\"one-more\"]}}");
    EXPECT_PROBLEMS(json, "vm.x-dext-command: more than 256 arguments");
}

static void test_size_limit(void)
{
    struct dext_meta_problems p = {0};
    struct dext_ext_meta *m = SENTINEL;
    char *big = calloc(1, DEXT_METADATA_MAX + 2);

    if (!big)
        abort();
    /* Exactly at the limit: valid JSON padded with spaces. */
    memset(big, ' ', DEXT_METADATA_MAX);
    memcpy(big, "{\"icon\": \"a.svg\"}", 17);
    m = NULL;
    ASSERT_EQ(dext_ext_meta_parse(big, DEXT_METADATA_MAX, &m, &p), 0);
    ASSERT_EQ(p.n, 0);
    dext_ext_meta_free(m);

    /* One byte more is refused before parsing. */
    big[DEXT_METADATA_MAX] = ' ';
    m = SENTINEL;
    ASSERT_EQ(dext_ext_meta_parse(big, DEXT_METADATA_MAX + 1, &m, &p), -EMSGSIZE);
    ASSERT_TRUE(m == SENTINEL);
    ASSERT_EQ(p.n, 1);
    if (p.n == 1)
        ASSERT_STR_EQ(p.items[0], "metadata.json: larger than 262144 bytes");
    dext_meta_problems_done(&p);
    ASSERT_EQ(dext_ext_meta_parse(big, DEXT_METADATA_MAX + 1, &m, NULL), -EMSGSIZE);
    /* The size is checked first: even bytes that are not JSON give -EMSGSIZE. */
    memset(big, 0xff, DEXT_METADATA_MAX + 1);
    ASSERT_EQ(dext_ext_meta_parse(big, DEXT_METADATA_MAX + 1, &m, &p), -EMSGSIZE);
    dext_meta_problems_done(&p);
    free(big);
}

static void expect_syntax_error(int line, const char *text, size_t len, const char *prefix)
{
    struct dext_meta_problems p = {0};
    struct dext_ext_meta *m = SENTINEL;
    int r = dext_ext_meta_parse(text, len, &m, &p);

    if (r != -EBADMSG || m != SENTINEL || p.n != 1)
        ASSERT_FAIL_("line %d: r=%d n=%zu", line, r, p.n);
    if (p.n == 1) {
        if (strncmp(p.items[0], prefix, strlen(prefix)) != 0)
            ASSERT_FAIL_("line %d: '%s' does not start with '%s'", line, p.items[0], prefix);
        for (const char *s = p.items[0]; *s; s++) {
            if ((unsigned char)*s < 0x20 || *s == 0x7f) {
                ASSERT_FAIL_("line %d: control byte in '%s'", line, p.items[0]);
                break;
            }
        }
    }
    dext_meta_problems_done(&p);
}

#define EXPECT_SYNTAX_ERROR(text, prefix)                                                          \
    expect_syntax_error(__LINE__, text, sizeof(text) - 1, prefix)

static void test_invalid_json(void)
{
    EXPECT_SYNTAX_ERROR("{", "metadata.json:1:");
    EXPECT_SYNTAX_ERROR("", "metadata.json:");
    EXPECT_SYNTAX_ERROR("{\"icon\": \"a\",}", "metadata.json:1:");
    EXPECT_SYNTAX_ERROR("{}\n{}", "metadata.json:2:");
    EXPECT_SYNTAX_ERROR("{\n\n  \"icon\": 'a'\n}", "metadata.json:3:");
    EXPECT_SYNTAX_ERROR("{\"icon\": \x01}", "metadata.json:1:10: invalid token near '\\x01'");
    EXPECT_SYNTAX_ERROR("{\"icon\": \"a\nb\"}", "metadata.json:1:");
    EXPECT_SYNTAX_ERROR("{\"icon\": \"\xff\"}", "metadata.json:1:");
    EXPECT_SYNTAX_ERROR("{\"icon\": \"a\\u0000b\"}", "metadata.json:1:");
    EXPECT_SYNTAX_ERROR("{\"icon\": \"a\"}\0{}", "metadata.json:1:");
    /* NULL with no bytes is an empty document. */
    expect_syntax_error(__LINE__, NULL, 0, "metadata.json:");
}

static void test_duplicate_keys(void)
{
    EXPECT_SYNTAX_ERROR("{\"icon\": \"a.svg\", \"icon\": \"b.svg\"}",
                        "metadata.json:1:24: duplicate object key near '\"icon\"'");
    EXPECT_SYNTAX_ERROR("{\"vm\": {\"image\": \"a\",\n \"image\": \"b\"}}",
                        "metadata.json:2:8: duplicate object key");
    EXPECT_SYNTAX_ERROR(
        "{\"host\": {\"binaries\": [{\"linux\": [{\"path\": \"a\", \"path\": \"b\"}]}]}}",
        "metadata.json:1:");
}

static void test_legacy_socket(void)
{
    struct dext_ext_meta *m =
        parse_ok("{\"ui\": {\"dashboard-tab\": {\"root\": \"/ui\", \"src\": \"index.html\",\n"
                 "                          \"backend\": {\"socket\": \"portainer.sock\"}}},\n"
                 " \"vm\": {\"image\": \"portainer/portainer-docker-extension:0.4.0\"}}");

    if (!m)
        return;
    ASSERT_STR_EQ(m->ui_backend_socket, "portainer.sock");
    ASSERT_NULL(m->vm_exposes_socket);
    ASSERT_STR_EQ(dext_ext_meta_socket(m), "portainer.sock");
    dext_ext_meta_free(m);

    /* backend without socket (legacy tcp) is accepted. */
    m = parse_ok("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"i.html\",\n"
                 "                          \"backend\": {\"tcp\": 9000}}}}");
    if (m) {
        ASSERT_NULL(m->ui_backend_socket);
        ASSERT_NULL(dext_ext_meta_socket(m));
    }
    dext_ext_meta_free(m);
    ASSERT_NULL(dext_ext_meta_socket(NULL));
}

static void test_src_query(void)
{
    struct dext_ext_meta *m = parse_ok(
        "{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"index.html?v0.4.0\"}}}");

    if (m) {
        ASSERT_STR_EQ(m->ui_src, "index.html");
        ASSERT_STR_EQ(m->ui_src_query, "v0.4.0");
    }
    dext_ext_meta_free(m);
    m = parse_ok(
        "{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"/app/p.html?a=1&b=../x?y\"}}}");
    if (m) {
        ASSERT_STR_EQ(m->ui_src, "app/p.html");
        ASSERT_STR_EQ(m->ui_src_query, "a=1&b=../x?y");
    }
    dext_ext_meta_free(m);
    m = parse_ok("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"index.html?\"}}}");
    if (m) {
        ASSERT_STR_EQ(m->ui_src, "index.html");
        ASSERT_STR_EQ(m->ui_src_query, "");
    }
    dext_ext_meta_free(m);

    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"\"}}}",
                    "ui.dashboard-tab.src: must not be empty");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"?v1\"}}}",
                    "ui.dashboard-tab.src: must not be empty");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"/\"}}}",
                    "ui.dashboard-tab.src: must not name the top directory");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"../i.html?x\"}}}",
                    "ui.dashboard-tab.src: '..' is not allowed");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"i.html?a\\nb\"}}}",
                    "ui.dashboard-tab.src: contains a control byte");
}

static void test_host_binary_dirs(void)
{
    struct dext_ext_meta *m =
        parse_ok("{\"host\": {\"binaries\": [\n"
                 "  {\"linux\": [{\"path\": \"/gefyra/\"}, {\"path\": \"/gefyra/bin/gefyra\"},\n"
                 "             {\"path\": \"bin//\"}, {\"path\": \"/tools/./data/\"}],\n"
                 "   \"darwin\": [{\"path\": \"/darwin/\"}]},\n"
                 "  {\"windows\": [{\"path\": \"/tools/run-drone\"}],\n"
                 "   \"linux\": [{\"path\": \"/tools/run-drone\"}]}]}}");

    if (!m)
        return;
    ASSERT_EQ(m->n_host_binaries, 5);
    if (m->n_host_binaries == 5) {
        ASSERT_STR_EQ(m->host_binaries[0].path, "gefyra");
        ASSERT_TRUE(m->host_binaries[0].is_dir);
        ASSERT_STR_EQ(m->host_binaries[1].path, "gefyra/bin/gefyra");
        ASSERT_TRUE(!m->host_binaries[1].is_dir);
        ASSERT_STR_EQ(m->host_binaries[2].path, "bin");
        ASSERT_TRUE(m->host_binaries[2].is_dir);
        ASSERT_STR_EQ(m->host_binaries[3].path, "tools/data");
        ASSERT_TRUE(m->host_binaries[3].is_dir);
        ASSERT_STR_EQ(m->host_binaries[4].path, "tools/run-drone");
        ASSERT_TRUE(!m->host_binaries[4].is_dir);
    }
    dext_ext_meta_free(m);

    /* Only linux entries are collected; an empty host section is fine. */
    m = parse_ok("{\"host\": {\"binaries\": [{\"darwin\": [{\"path\": \"d\"}]}, {}]}}");
    if (m) {
        ASSERT_EQ(m->n_host_binaries, 0);
        ASSERT_NULL(m->host_binaries);
    }
    dext_ext_meta_free(m);
    m = parse_ok("{\"host\": {}}");
    dext_ext_meta_free(m);

    EXPECT_PROBLEMS(
        "{\"host\": {\"binaries\": [{\"linux\": [{\"path\": \"/\"}, {\"path\": \"\"}]}]}}",
        "host.binaries[0].linux[0].path: must not name the top directory",
        "host.binaries[0].linux[1].path: must not be empty");
}

static void test_max_binaries(void)
{
    size_t size = 20 * (DEXT_METADATA_MAX_BINARIES + 2) + 64;
    char *json = calloc(1, size);
    struct dext_ext_meta *m;
    size_t o;

    if (!json)
        abort();
    o = (size_t)snprintf(json, size, "{\"host\": {\"binaries\": [{\"linux\": [");
    for (int i = 0; i < DEXT_METADATA_MAX_BINARIES; i++)
        o += (size_t)snprintf(json + o, size - o, "%s{\"path\": \"b%d\"}", i ? "," : "", i);
    (void)snprintf(json + o, size - o, "]}]}}");
    m = parse_ok(json);
    if (m) {
        ASSERT_EQ(m->n_host_binaries, DEXT_METADATA_MAX_BINARIES);
        ASSERT_STR_EQ(m->host_binaries[DEXT_METADATA_MAX_BINARIES - 1].path, "b1023");
    }
    dext_ext_meta_free(m);
    /* Two more, in a second object: reported once. */
    (void)snprintf(json + o, size - o,
                   "]}, {\"linux\": [{\"path\": \"x\"}, {\"path\": \"y\"}]}]}}");
    EXPECT_PROBLEMS(json, "host.binaries: more than 1024 linux entries");
    free(json);
}

static void test_dotdot_in_paths(void)
{
    EXPECT_PROBLEMS("{\"icon\": \"../icon.svg\"}", "icon: '..' is not allowed");
    EXPECT_PROBLEMS("{\"icon\": \"/a/../icon.svg\"}", "icon: '..' is not allowed");
    EXPECT_PROBLEMS("{\"vm\": {\"composefile\": \"a/../../compose.yaml\"}}",
                    "vm.composefile: '..' is not allowed");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"/ui/..\", \"src\": \"../x.html\"}}}",
                    "ui.dashboard-tab.root: '..' is not allowed",
                    "ui.dashboard-tab.src: '..' is not allowed");
    EXPECT_PROBLEMS("{\"host\": {\"binaries\": [{\"darwin\": [{\"path\": \"/../tool\"}],\n"
                    "  \"windows\": [{\"path\": \"..\"}], \"linux\": [{\"path\": \"x/../\"}]}]}}",
                    "host.binaries[0].darwin[0].path: '..' is not allowed",
                    "host.binaries[0].windows[0].path: '..' is not allowed",
                    "host.binaries[0].linux[0].path: '..' is not allowed");
    EXPECT_PROBLEMS("{\"vm\": {\"image\": \"a\", \"exposes\": {\"socket\": \"../b.sock\"}}}",
                    "vm.exposes.socket: must be a plain file name");
    /* Percent escapes are not decoded in metadata paths: "%2e%2e" is a name. */
    struct dext_ext_meta *m = parse_ok("{\"icon\": \"%2e%2e/icon.svg\"}");
    if (m)
        ASSERT_STR_EQ(m->icon, "%2e%2e/icon.svg");
    dext_ext_meta_free(m);
}

static void test_bad_path_bytes(void)
{
    char json[DEXT_PATH_MAX + 64];
    int o;

    EXPECT_PROBLEMS("{\"icon\": \"a\\u0001b\"}", "icon: contains a control byte");
    EXPECT_PROBLEMS("{\"icon\": \"a\\u007fb\"}", "icon: contains a control byte");
    EXPECT_PROBLEMS("{\"ui\": {\"dashboard-tab\": {\"root\": \"ui\", \"src\": \"a.html\",\n"
                    "  \"backend\": {\"socket\": \"b\\n.sock\"}}}}",
                    "ui.dashboard-tab.backend.socket: must be a plain file name");
    EXPECT_PROBLEMS("{\"icon\": \"\"}", "icon: must not be empty");
    EXPECT_PROBLEMS("{\"icon\": \"/./\"}", "icon: must not name the top directory");

    o = snprintf(json, sizeof(json), "{\"icon\": \"");
    memset(json + o, 'a', DEXT_PATH_MAX);
    (void)snprintf(json + o + DEXT_PATH_MAX, sizeof(json) - (size_t)o - DEXT_PATH_MAX, "\"}");
    struct dext_ext_meta *m = parse_ok(json);
    if (m)
        ASSERT_EQ(strlen(m->icon), DEXT_PATH_MAX);
    dext_ext_meta_free(m);
    (void)snprintf(json + o + DEXT_PATH_MAX, sizeof(json) - (size_t)o - DEXT_PATH_MAX, "b\"}");
    EXPECT_PROBLEMS(json, "icon: longer than 1024 bytes");
}

static void test_problems_truncated(void)
{
    struct dext_meta_problems p = {0};
    struct dext_ext_meta *m = SENTINEL;
    char json[4096];
    size_t o;

    o = (size_t)snprintf(json, sizeof(json), "{\"host\": {\"binaries\": [");
    for (int i = 0; i < DEXT_METADATA_MAX_PROBLEMS + 10; i++)
        o += (size_t)snprintf(json + o, sizeof(json) - o, "%s1", i ? "," : "");
    (void)snprintf(json + o, sizeof(json) - o, "]}}");
    ASSERT_EQ(parse(json, &m, &p), -EBADMSG);
    ASSERT_TRUE(m == SENTINEL);
    ASSERT_EQ(p.n, DEXT_METADATA_MAX_PROBLEMS);
    ASSERT_TRUE(p.truncated);
    ASSERT_STR_EQ(p.items[0], "host.binaries[0]: expected an object");
    ASSERT_STR_EQ(p.items[DEXT_METADATA_MAX_PROBLEMS - 1], "host.binaries[63]: expected an object");
    dext_meta_problems_done(&p);
    ASSERT_EQ(p.n, 0);
    ASSERT_TRUE(!p.truncated);
}

static void test_problems_appended(void)
{
    struct dext_meta_problems p = {0};
    struct dext_ext_meta *m = NULL;

    /* Problems already in the list (from the caller) are kept. */
    p.items[p.n++] = strdup("earlier: problem");
    ASSERT_EQ(parse("{\"icon\": 1}", &m, &p), -EBADMSG);
    ASSERT_EQ(p.n, 2);
    ASSERT_STR_EQ(p.items[0], "earlier: problem");
    ASSERT_STR_EQ(p.items[1], "icon: expected a string");
    dext_meta_problems_done(&p);

    /* A valid document adds nothing. */
    p.items[p.n++] = strdup("earlier: problem");
    ASSERT_EQ(parse("{}", &m, &p), 0);
    ASSERT_EQ(p.n, 1);
    dext_ext_meta_free(m);
    dext_meta_problems_done(&p);
}

static void test_free_null(void)
{
    dext_ext_meta_free(NULL);
    dext_meta_problems_done(NULL);
    struct dext_meta_problems p = {0};
    dext_meta_problems_done(&p);
    ASSERT_EQ(p.n, 0);
}

int main(void)
{
    TAP_RUN(test_full);
    TAP_RUN(test_minimal_ui_only);
    TAP_RUN(test_minimal_vm_image);
    TAP_RUN(test_vm_composefile);
    TAP_RUN(test_empty_object);
    TAP_RUN(test_many_problems_at_once);
    TAP_RUN(test_wrong_types);
    TAP_RUN(test_required_fields);
    TAP_RUN(test_command);
    TAP_RUN(test_size_limit);
    TAP_RUN(test_invalid_json);
    TAP_RUN(test_duplicate_keys);
    TAP_RUN(test_legacy_socket);
    TAP_RUN(test_src_query);
    TAP_RUN(test_host_binary_dirs);
    TAP_RUN(test_max_binaries);
    TAP_RUN(test_dotdot_in_paths);
    TAP_RUN(test_bad_path_bytes);
    TAP_RUN(test_problems_truncated);
    TAP_RUN(test_problems_appended);
    TAP_RUN(test_free_null);
    TAP_EXIT();
}
