/* SPDX-License-Identifier: MIT */
/* dext's command line: arguments, verbs, exit codes. The only place that exits. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/devsrc.h"
#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/parse-util.h"
#include "base/xalloc.h"
#include "daemon.h"
#include "ext/load.h"
#include "ext/store.h"
#include "runtime/process.h"
#include "serve.h"

#define EXIT_USAGE 2

static const char main_usage[] =
    "Usage: dext COMMAND [ARGS]\n"
    "\n"
    "Runs Docker Desktop extensions without Docker Desktop: serves an extension's UI\n"
    "to any browser with window.ddClient injected, and runs its backend.\n"
    "\n"
    "Commands:\n"
    "  run DIR [--port N] [--backend-cmd CMD [ARG...]]\n"
    "                      serve the extension in DIR and run its backend\n"
    "  serve [--port N]    serve every installed extension and a dashboard listing them\n"
    "  validate DIR        check DIR/metadata.json and the files it names\n"
    "  install DIR         record the extension in DIR (used in place)\n"
    "  ls [--json]         list installed extensions\n"
    "  rm NAME             remove an installed extension (stops it if running)\n"
    "  logs NAME           print the backend's log\n"
    "  dev ui-source NAME URL\n"
    "                      load NAME's UI from a dev server (ddClient still injected)\n"
    "  dev reset NAME      load NAME's UI from its files again\n"
    "  cli-plugin          install dext as the docker CLI plugin (docker extension ...)\n"
    "\n"
    "Options:\n"
    "  -h, --help          show help (also: dext COMMAND --help)\n"
    "  --version           print the version\n"
    "\n"
    "Environment: DEXT_LOG_LEVEL (error, warn, info, debug); state lives under\n"
    "$XDG_DATA_HOME/dext and $XDG_RUNTIME_DIR/dext.\n";

static const char run_usage[] =
    "Usage: dext run DIR [--port N] [--host ADDR] [--backend-cmd CMD [ARG...]]\n"
    "\n"
    "Serves the extension in DIR (used in place) on 127.0.0.1 and runs its backend\n"
    "(vm[\"x-dext-command\"] in metadata.json, or CMD). Prints the UI's URL, with its\n"
    "secret, as the first line of standard output. Stops the backend and exits on\n"
    "SIGINT or SIGTERM.\n"
    "\n"
    "  --port N            listen on port N (default: any free port)\n"
    "  --host ADDR         listen on loopback address ADDR (default 127.0.0.1)\n"
    "  --backend-cmd CMD…  run CMD (all remaining arguments) as the backend\n";

static const char validate_usage[] =
    "Usage: dext validate DIR\n"
    "\n"
    "Checks DIR/metadata.json and the files it names; prints every problem with its\n"
    "field path. Exit status 0 when valid, 1 otherwise.\n";
static const char install_usage[] =
    "Usage: dext install DIR\n\nValidates the extension in DIR and records it as installed\n"
    "(the directory is used in place).\n";
static const char ls_usage[] =
    "Usage: dext ls [--json]\n\nLists installed extensions: ID, PROVIDER, VERSION, UI, VM, HOST.\n";
static const char rm_usage[] =
    "Usage: dext rm NAME\n\nStops the extension if a dext serves it, then removes its record,\n"
    "logs and socket directory (a directory extension's own files are kept).\n";
static const char serve_usage[] =
    "Usage: dext serve [--port N] [--host ADDR]\n"
    "\n"
    "Serves every installed extension, each on a port of its own that it keeps from one\n"
    "run to the next, runs their backends, and serves a dashboard listing them. Prints\n"
    "the dashboard's URL, with its secret, as the first line of standard output.\n"
    "Installs and removals show up while it runs. Stops on SIGINT or SIGTERM.\n"
    "\n"
    "  --port N            the dashboard's port (default: any free port)\n"
    "  --host ADDR         listen on loopback address ADDR (default 127.0.0.1)\n";
static const char dev_usage[] =
    "Usage: dext dev ui-source NAME URL\n"
    "       dext dev reset NAME\n"
    "\n"
    "ui-source: NAME's UI comes from the dev server at URL (http://localhost:PORT, on\n"
    "this machine), with window.ddClient still injected into its pages; open pages\n"
    "reload. reset: the UI comes from the extension's files again.\n";
static const char logs_usage[] = "Usage: dext logs NAME\n\nPrints the backend's log.\n";

static int usage_error(const char *usage, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "dext: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return EXIT_USAGE;
}

static bool is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

static char *self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return xstrdup(buf);
}

static int cmd_run(int argc, char **argv)
{
    struct dext_run_opts o = {0};
    _cleanup_free_ char *exe = self_exe();
    char **backend = NULL;
    int r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(run_usage, stdout);
            return 0;
        }
        if (strcmp(a, "--port") == 0 || strcmp(a, "--host") == 0) {
            if (i + 1 >= argc)
                return usage_error(run_usage, "%s needs a value", a);
            if (a[2] == 'h') {
                o.listen_host = argv[++i];
                continue;
            }
            unsigned port;
            if (safe_atou(argv[++i], &port) < 0 || port > 65535)
                return usage_error(run_usage, "bad port '%s'", argv[i]);
            o.port = (int)port;
        } else if (strcmp(a, "--backend-cmd") == 0) {
            if (i + 1 >= argc)
                return usage_error(run_usage, "%s needs a command", a);
            backend = argv + i + 1;
            break;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(run_usage, "unknown option '%s'", a);
        } else if (!o.source) {
            o.source = a;
        } else {
            return usage_error(run_usage, "unexpected argument '%s'", a);
        }
    }
    if (!o.source)
        return usage_error(run_usage, "%s", "run needs an extension directory");
    if (o.listen_host && strcmp(o.listen_host, "127.0.0.1") != 0 &&
        strcmp(o.listen_host, "::1") != 0 && strncmp(o.listen_host, "127.", 4) != 0)
        return usage_error(run_usage, "--host must be a loopback address, not '%s'", o.listen_host);
    if (!exe) {
        fprintf(stderr, "dext: cannot find my own executable\n");
        return 1;
    }
    o.self_exe = exe;
    if (backend) {
        /* A relative command given on the command line is relative to here. */
        size_t n = 0;
        while (backend[n])
            n++;
        o.backend_argv = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            o.backend_argv[i] = xstrdup(backend[i]);
        if (strchr(backend[0], '/') && backend[0][0] != '/') {
            char *abs = realpath(backend[0], NULL);
            if (!abs) {
                fprintf(stderr, "dext: backend command %s: %s\n", backend[0], strerror(errno));
                dext_strv_free(o.backend_argv);
                return 1;
            }
            free(o.backend_argv[0]);
            o.backend_argv[0] = abs;
        }
    }
    r = dext_daemon_run(&o);
    dext_strv_free(o.backend_argv);
    return r < 0 ? 1 : 0;
}

static void print_problems(const char *dir, struct dext_meta_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        fprintf(stderr, "dext: %s: %s\n", dir, p->items[i]);
    if (p->truncated)
        fprintf(stderr, "dext: %s: (more problems not shown)\n", dir);
}

static int cmd_validate(int argc, char **argv)
{
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
    struct dext_meta_problems p = {0};
    int r;

    if (argc >= 2 && is_help(argv[1])) {
        fputs(validate_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(validate_usage, "%s", "validate needs exactly one directory");
    r = dext_ext_load_dir(argv[1], &m, &p);
    if (r < 0) {
        print_problems(argv[1], &p);
        dext_meta_problems_done(&p);
        return 1;
    }
    printf("The extension in %s is valid\n", argv[1]);
    return 0;
}

static int open_store(struct dext_store *s)
{
    int r = dext_store_open(s);
    if (r < 0)
        fprintf(stderr, "dext: cannot open the state directories: %s\n", strerror(-r));
    return r;
}

static int cmd_install(int argc, char **argv)
{
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
    _cleanup_free_ char *root = NULL;
    struct dext_meta_problems p = {0};
    struct dext_store s;
    char name[DEXT_STORE_NAME_MAX + 1];
    int r;

    if (argc >= 2 && is_help(argv[1])) {
        fputs(install_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(install_usage, "%s", "install needs exactly one directory");
    root = realpath(argv[1], NULL);
    if (!root) {
        fprintf(stderr, "dext: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    r = dext_ext_load_dir(root, &m, &p);
    if (r < 0) {
        print_problems(argv[1], &p);
        dext_meta_problems_done(&p);
        return 1;
    }
    if (dext_store_name_from_dir(root, name, sizeof(name)) < 0) {
        fprintf(stderr, "dext: cannot make an extension name from '%s'\n", root);
        return 1;
    }
    if (open_store(&s) < 0)
        return 1;
    _cleanup_free_ char *image = m->vm_image && !strstr(m->vm_image, "${")
                                     ? xstrdup(m->vm_image)
                                     : xasprintf("local/%s:dev", name);
    r = dext_store_add(&s, &(struct dext_store_entry){
                               .name = name, .kind = (char *)"dir", .root = root, .image = image});
    dext_store_done(&s);
    if (r < 0) {
        fprintf(stderr, "dext: cannot record %s: %s\n", name, strerror(-r));
        return 1;
    }
    printf("Installed extension %s from %s\n", name, root);
    return 0;
}

struct ls_row {
    char *ui, *vm, *host, *version;
    int n_running;
    json_t *json;
};

static void ls_describe(const struct dext_store *s, const char *name, struct ls_row *row)
{
    struct dext_store_entry e = {0};
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
    struct dext_meta_problems p = {0};
    pid_t pid = 0, bpid = 0;
    const char *tag;
    json_t *o = json_object();

    json_object_set_new(o, "name", json_string(name));
    if (dext_store_get(s, name, &e) < 0) {
        row->ui = xstrdup("-");
        row->vm = xstrdup("(broken record)");
        row->host = xstrdup("-");
        row->version = xstrdup("-");
        json_object_set_new(o, "error", json_string("broken record"));
        row->json = o;
        return;
    }
    (void)dext_ext_load_dir(e.root, &m, &p);
    dext_meta_problems_done(&p);
    (void)dext_store_get_state(s, name, &pid, &bpid);
    tag = e.image ? strrchr(e.image, ':') : NULL;
    row->version = xstrdup(tag && !strchr(tag, '/') ? tag + 1 : "latest");
    if (m && m->has_ui)
        row->ui = xasprintf("1 tab(%s)", m->ui_title ? m->ui_title : "");
    else
        row->ui = xstrdup(m ? "-" : "(invalid metadata)");
    if (!m || !m->has_vm)
        row->vm = xstrdup("-");
    else if (bpid > 0)
        row->vm = xstrdup("Running(1)");
    else
        row->vm = xstrdup("Stopped");
    if (m && m->n_host_binaries)
        row->host = xasprintf("%zu binarie(s)", m->n_host_binaries);
    else
        row->host = xstrdup("-");
    json_object_set_new(o, "kind", json_string(e.kind));
    json_object_set_new(o, "root", json_string(e.root));
    json_object_set_new(o, "image", json_string(e.image ? e.image : ""));
    json_object_set_new(o, "version", json_string(row->version));
    json_object_set_new(o, "ui",
                        m && m->has_ui ? json_pack("{s:s}", "title", m->ui_title ? m->ui_title : "")
                                       : json_null());
    json_object_set_new(o, "vm",
                        m && m->has_vm
                            ? json_pack("{s:s, s:i}", "state", bpid > 0 ? "running" : "stopped",
                                        "running", bpid > 0 ? 1 : 0)
                            : json_null());
    json_object_set_new(o, "host", json_pack("{s:i}", "binaries", m ? (int)m->n_host_binaries : 0));
    json_object_set_new(o, "serving", pid > 0 ? json_pack("{s:i}", "pid", (int)pid) : json_null());
    json_object_set_new(o, "valid", json_boolean(m != NULL));
    row->json = o;
    dext_store_entry_done(&e);
}

static int cmd_ls(int argc, char **argv)
{
    struct dext_store s;
    char **names = NULL;
    bool as_json = false;
    json_t *arr;
    int r;

    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(ls_usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else
            return usage_error(ls_usage, "unexpected argument '%s'", argv[i]);
    }
    if (open_store(&s) < 0)
        return 1;
    r = dext_store_list(&s, &names);
    if (r < 0) {
        fprintf(stderr, "dext: cannot list extensions: %s\n", strerror(-r));
        dext_store_done(&s);
        return 1;
    }
    arr = json_array();
    if (!as_json)
        printf("%-32s %-10s %-10s %-24s %-12s %s\n", "ID", "PROVIDER", "VERSION", "UI", "VM",
               "HOST");
    for (char **n = names; *n; n++) {
        struct ls_row row = {0};
        ls_describe(&s, *n, &row);
        if (!as_json)
            printf("%-32s %-10s %-10s %-24s %-12s %s\n", *n, "-", row.version, row.ui, row.vm,
                   row.host);
        json_array_append_new(arr, row.json);
        free(row.ui);
        free(row.vm);
        free(row.host);
        free(row.version);
    }
    if (as_json) {
        char *text = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    }
    json_decref(arr);
    dext_strv_free(names);
    dext_store_done(&s);
    return 0;
}

/* A `dext serve` serves @name among others: remove the record, then wait for it to
 * stop the extension (it watches the records). */
static int rm_served(struct dext_store *s, const char *name, pid_t pid)
{
    int r = dext_store_remove(s, name);

    for (int i = 0; r == 0 && i < 300; i++) {
        pid_t now = 0;
        (void)dext_store_get_state(s, name, &now, NULL);
        if (now != pid)
            break;
        struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};
        (void)nanosleep(&ts, NULL);
    }
    dext_store_clear_state(s, name);
    dext_store_done(s);
    if (r < 0) {
        fprintf(stderr, "dext: cannot remove %s: %s\n", name, strerror(-r));
        return 1;
    }
    printf("Removed extension %s\n", name);
    return 0;
}

static int cmd_rm(int argc, char **argv)
{
    struct dext_store s;
    struct dext_store_entry e;
    pid_t pid = 0;
    int r;

    if (argc >= 2 && is_help(argv[1])) {
        fputs(rm_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(rm_usage, "%s", "rm needs exactly one extension name");
    if (open_store(&s) < 0)
        return 1;
    if (dext_store_get(&s, argv[1], &e) < 0) {
        fprintf(stderr, "dext: no installed extension named '%s'\n", argv[1]);
        dext_store_done(&s);
        return 1;
    }
    dext_store_entry_done(&e);
    (void)dext_store_get_state(&s, argv[1], &pid, NULL);
    if (pid > 0 && dext_store_state_is_shared(&s, argv[1]))
        return rm_served(&s, argv[1], pid);
    if (pid > 0 && pid != getpid()) {
        /* Stop the dext serving it; it stops the backend on the way out. */
        (void)kill(pid, SIGTERM);
        for (int i = 0; i < 200 && kill(pid, 0) == 0; i++) {
            struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};
            (void)nanosleep(&ts, NULL);
        }
        if (kill(pid, 0) == 0) {
            fprintf(stderr, "dext: the dext serving %s (pid %d) did not stop\n", argv[1], (int)pid);
            dext_store_done(&s);
            return 1;
        }
    }
    r = dext_store_remove(&s, argv[1]);
    dext_store_clear_state(&s, argv[1]);
    dext_store_done(&s);
    if (r < 0) {
        fprintf(stderr, "dext: cannot remove %s: %s\n", argv[1], strerror(-r));
        return 1;
    }
    printf("Removed extension %s\n", argv[1]);
    return 0;
}

static int cmd_logs(int argc, char **argv)
{
    struct dext_store s;
    struct dext_store_entry e;
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    char buf[65536];
    ssize_t n;

    if (argc >= 2 && is_help(argv[1])) {
        fputs(logs_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(logs_usage, "%s", "logs needs exactly one extension name");
    if (open_store(&s) < 0)
        return 1;
    if (dext_store_get(&s, argv[1], &e) < 0) {
        fprintf(stderr, "dext: no installed extension named '%s'\n", argv[1]);
        dext_store_done(&s);
        return 1;
    }
    dext_store_entry_done(&e);
    path = dext_store_log_path(&s, argv[1]);
    dext_store_done(&s);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* nothing logged yet */
        fprintf(stderr, "dext: %s: %s\n", path, strerror(errno));
        return 1;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            return 1;
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    struct dext_serve_opts o = {0};
    _cleanup_free_ char *exe = self_exe();

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        unsigned port;
        if (is_help(a)) {
            fputs(serve_usage, stdout);
            return 0;
        }
        if (strcmp(a, "--port") != 0 && strcmp(a, "--host") != 0)
            return usage_error(serve_usage, "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return usage_error(serve_usage, "%s needs a value", a);
        if (a[2] == 'h') {
            o.listen_host = argv[++i];
            continue;
        }
        if (safe_atou(argv[++i], &port) < 0 || port > 65535)
            return usage_error(serve_usage, "bad port '%s'", argv[i]);
        o.port = (int)port;
    }
    if (o.listen_host && strcmp(o.listen_host, "::1") != 0 &&
        strncmp(o.listen_host, "127.", 4) != 0)
        return usage_error(serve_usage, "--host must be a loopback address, not '%s'",
                           o.listen_host);
    if (!exe) {
        fprintf(stderr, "dext: cannot find my own executable\n");
        return 1;
    }
    o.self_exe = exe;
    return dext_serve_run(&o) < 0 ? 1 : 0;
}

static int cmd_dev(int argc, char **argv)
{
    struct dext_store s;
    struct dext_store_entry e;
    bool reset;
    char ip[48], why[160];
    const char *path;
    int port, r;

    if (argc >= 2 && is_help(argv[1])) {
        fputs(dev_usage, stdout);
        return 0;
    }
    if (argc < 2)
        return usage_error(dev_usage, "%s", "dev needs ui-source or reset");
    reset = strcmp(argv[1], "reset") == 0;
    if (!reset && strcmp(argv[1], "ui-source") != 0)
        return usage_error(dev_usage, "unknown dev command '%s'", argv[1]);
    if (argc >= 3 && is_help(argv[2])) {
        fputs(dev_usage, stdout);
        return 0;
    }
    if (argc != (reset ? 3 : 4))
        return usage_error(dev_usage, "dev %s needs %s", argv[1], reset ? "NAME" : "NAME URL");
    if (!reset && dext_devsrc_parse_url(argv[3], ip, &port, &path, why) < 0)
        return usage_error(dev_usage, "%s", why);
    if (open_store(&s) < 0)
        return 1;
    if (dext_store_get(&s, argv[2], &e) < 0) {
        fprintf(stderr, "dext: no installed extension named '%s'\n", argv[2]);
        dext_store_done(&s);
        return 1;
    }
    free(e.ui_source);
    e.ui_source = reset ? NULL : xstrdup(argv[3]);
    r = dext_store_add(&s, &e);
    dext_store_entry_done(&e);
    dext_store_done(&s);
    if (r < 0) {
        fprintf(stderr, "dext: cannot record the change: %s\n", strerror(-r));
        return 1;
    }
    if (reset)
        printf("%s: the UI comes from its files again\n", argv[2]);
    else
        printf("%s: the UI comes from %s\n", argv[2], argv[3]);
    return 0;
}

static int cmd_guest_exec(int argc, char **argv)
{
    /* __guest-exec GUEST_DIR EXT_DIR -- CMD ARGS... (internal) */
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "dext: __guest-exec is internal\n");
        return EXIT_USAGE;
    }
    (void)dext_guest_exec(argv[1], argv[2], argv + 4);
    return 127;
}

static const char plugin_metadata[] =
    "{\"SchemaVersion\":\"0.1.0\",\"Vendor\":\"dext\",\"Version\":\"" DEXT_VERSION "\","
    "\"ShortDescription\":\"Docker extensions without Docker Desktop (dext)\","
    "\"URL\":\"https://github.com/dext\"}\n";

/* `dext cli-plugin`: makes this binary the docker CLI's `extension` command. */
static int cmd_cli_plugin(int argc, char **argv)
{
    const char *cfg = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    _cleanup_free_ char *exe = self_exe(), *dir = NULL, *link = NULL;
    int r;

    if (argc >= 2 && is_help(argv[1])) {
        printf("Usage: dext cli-plugin\n\nInstalls dext as the docker CLI plugin "
               "$DOCKER_CONFIG/cli-plugins/docker-extension\n(default ~/.docker), so "
               "`docker extension ls` and friends run dext.\n");
        return 0;
    }
    if (argc != 1)
        return usage_error(main_usage, "%s", "cli-plugin takes no arguments");
    if (!exe || (!cfg && !home)) {
        fprintf(stderr, "dext: cannot find my executable or the docker config directory\n");
        return 1;
    }
    dir = cfg ? xasprintf("%s/cli-plugins", cfg) : xasprintf("%s/.docker/cli-plugins", home);
    link = xasprintf("%s/docker-extension", dir);
    r = dext_mkdir_p(dir, 0755);
    if (r == 0 && unlink(link) < 0 && errno != ENOENT)
        r = -errno;
    if (r == 0 && symlink(exe, link) < 0)
        r = -errno;
    if (r < 0) {
        fprintf(stderr, "dext: cannot install %s: %s\n", link, strerror(-r));
        return 1;
    }
    printf("Installed %s -> %s\n", link, exe);
    return 0;
}

int main(int argc, char **argv)
{
    const char *level = getenv("DEXT_LOG_LEVEL");
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

    (void)signal(SIGPIPE, SIG_IGN);
    /* As the docker CLI plugin docker-extension: `docker extension VERB ...` runs
     * `docker-extension extension VERB ...`, and the CLI asks for metadata first. */
    if (strcmp(base, "docker-extension") == 0 && argc >= 2) {
        if (strcmp(argv[1], "docker-cli-plugin-metadata") == 0) {
            fputs(plugin_metadata, stdout);
            return 0;
        }
        if (strcmp(argv[1], "extension") == 0) {
            argv++;
            argc--;
        }
    }
    if (level && dext_log_set_level_name(level) < 0)
        fprintf(stderr, "dext: unknown DEXT_LOG_LEVEL '%s', using warn\n", level);
    if (argc < 2) {
        fputs(main_usage, stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (is_help(verb) || strcmp(verb, "help") == 0) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
        printf("dext %s (extension API 0.4.2)\n", DEXT_VERSION);
        return 0;
    }
    if (strcmp(verb, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(verb, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(verb, "install") == 0)
        return cmd_install(argc - 1, argv + 1);
    if (strcmp(verb, "ls") == 0 || strcmp(verb, "list") == 0)
        return cmd_ls(argc - 1, argv + 1);
    if (strcmp(verb, "rm") == 0 || strcmp(verb, "remove") == 0 || strcmp(verb, "uninstall") == 0)
        return cmd_rm(argc - 1, argv + 1);
    if (strcmp(verb, "logs") == 0)
        return cmd_logs(argc - 1, argv + 1);
    if (strcmp(verb, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(verb, "dev") == 0)
        return cmd_dev(argc - 1, argv + 1);
    if (strcmp(verb, "cli-plugin") == 0)
        return cmd_cli_plugin(argc - 1, argv + 1);
    if (strcmp(verb, "__guest-exec") == 0)
        return cmd_guest_exec(argc - 1, argv + 1);
    fprintf(stderr, "dext: unknown command '%s'\n%s", verb, main_usage);
    return EXIT_USAGE;
}
