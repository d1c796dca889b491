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
#include <sys/stat.h>
#include <unistd.h>

#include "api/devsrc.h"
#include "base/cleanup.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/parse-util.h"
#include "base/xalloc.h"
#include "daemon.h"
#include "engine/engine.h"
#include "ext/semver.h"
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
    "  run SOURCE [--port N] [--backend-cmd CMD [ARG...]]\n"
    "                      serve an extension (a directory or an image) and run\n"
    "                      its backend\n"
    "  serve [--port N]    serve every installed extension and a dashboard listing them\n"
    "  validate SOURCE     check an extension directory (or its metadata.json) or image\n"
    "  install SOURCE      install an extension image, or record a directory\n"
    "  update NAME|IMAGE   re-install an extension image, keeping its volumes\n"
    "  ls [--json]         list installed extensions\n"
    "  rm NAME|IMAGE       remove an installed extension (stops it if running)\n"
    "  logs NAME|IMAGE     print the backend's log\n"
    "  dev ui-source NAME URL\n"
    "                      load NAME's UI from a dev server (ddClient still injected)\n"
    "  dev reset NAME      load NAME's UI from its files again\n"
    "  cli-plugin          install dext as the docker CLI plugin (docker extension ...)\n"
    "  version             the client version and the extension API version served\n"
    "\n"
    "Options:\n"
    "  -h, --help          show help (also: dext COMMAND --help)\n"
    "  --version           print the version\n"
    "\n"
    "Environment: DEXT_LOG_LEVEL (error, warn, info, debug); state lives under\n"
    "$XDG_DATA_HOME/dext and $XDG_RUNTIME_DIR/dext.\n";

static const char run_usage[] =
    "Usage: dext run SOURCE [--port N] [--host ADDR] [--backend-cmd CMD [ARG...]]\n"
    "\n"
    "SOURCE is an extension directory or an extension image. A directory is served\n"
    "in place on 127.0.0.1 and its backend runs as a local process\n"
    "(vm[\"x-dext-command\"] in metadata.json, or CMD). An image is installed first\n"
    "when it is not (pulled when missing), and its backend runs on the container\n"
    "engine at $DOCKER_HOST. Prints the UI's URL, with its\n"
    "secret, as the first line of standard output. Stops the backend and exits on\n"
    "SIGINT or SIGTERM.\n"
    "\n"
    "  --port N            listen on port N (default: any free port)\n"
    "  --host ADDR         listen on loopback address ADDR (default 127.0.0.1)\n"
    "  --backend-cmd CMD…  run CMD (all remaining arguments) as the backend\n";

static const char validate_usage[] =
    "Usage: dext validate DIR|DIR/metadata.json|IMAGE\n"
    "\n"
    "Checks DIR/metadata.json and the files it names; prints every problem with its\n"
    "field path. An image (pulled when missing, and removed again then) is checked\n"
    "the way install checks it: its api.version label, then its files, copied into a\n"
    "directory that is removed afterwards. Nothing is installed. Exit status 0 when\n"
    "valid, 1 otherwise.\n";
static const char install_usage[] =
    "Usage: dext install SOURCE\n\n"
    "SOURCE is an extension image or directory. An image is pulled when missing (with\n"
    "progress on a terminal), its com.docker.desktop.extension.api.version label is\n"
    "checked against the API dext implements (" DEXT_EXTENSION_API_VERSION
    "), its metadata.json, UI,\n"
    "icon and linux host binaries are copied out, and its backend is started on the\n"
    "container engine at $DOCKER_HOST. A directory is validated and recorded (used in\n"
    "place).\n";
static const char update_usage[] =
    "Usage: dext update NAME|IMAGE\n\n"
    "Re-installs an extension image (pulling it when the registry has it), replacing\n"
    "its files and backend containers; the backend's volumes are kept. A failed\n"
    "update leaves the installed version in place.\n";
static const char ls_usage[] =
    "Usage: dext ls [--json]\n\nLists installed extensions: ID, PROVIDER, VERSION, UI, VM, HOST.\n";
static const char rm_usage[] =
    "Usage: dext rm NAME|IMAGE\n\nStops the extension if a dext serves it, then removes its "
    "record,\n"
    "logs and socket directory (a directory extension's own files are kept). For an\n"
    "image, its compose project goes too: containers, volumes and networks.\n";
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
static const char logs_usage[] = "Usage: dext logs NAME|IMAGE\n\nPrints the backend's log (for an "
                                 "image, its backend container's "
                                 "output).\n";

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

static void print_problems(const char *dir, struct dext_meta_problems *p);

/* `docker extension install|update|rm -f`: dext asks no confirmation, so --force
 * changes nothing; it is accepted and dropped. */
static int drop_force(int argc, char **argv)
{
    int o = 1;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-f") != 0 && strcmp(argv[i], "--force") != 0)
            argv[o++] = argv[i];
    return o;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int open_store(struct dext_store *s);

/* An image reference never starts with '/' or '.'; such a source is a path, and a
 * path that exists is one too. */
static bool is_path(const char *source)
{
    return source[0] == '/' || source[0] == '.' || access(source, F_OK) == 0;
}

/* Installs image @ref (or, with @update, re-installs it). */
static int install_image(const char *ref, bool update, char *name, size_t size)
{
    struct dext_store s;
    struct dext_engine e;
    int r;

    if (open_store(&s) < 0)
        return -EIO;
    r = dext_engine_open(&e);
    if (r == 0) {
        r = dext_engine_install(&e, &s, ref, update, name, size);
        dext_engine_close(&e);
    }
    if (r < 0)
        fprintf(stderr, "dext: %s\n", e.err);
    dext_store_done(&s);
    return r;
}

/* `dext run IMAGE`: install when needed, make sure the backend runs, serve. */
static int run_image(struct dext_run_opts *o)
{
    char name[DEXT_STORE_NAME_MAX + 1];
    struct dext_store s;
    struct dext_store_entry entry = {0};
    int r;

    if (dext_store_name_from_image(o->source, name, sizeof(name)) < 0) {
        fprintf(stderr, "dext: %s: not a directory, and not an image reference\n", o->source);
        return 1;
    }
    if (open_store(&s) < 0)
        return 1;
    r = dext_store_get(&s, name, &entry);
    if (r == 0 && strcmp(entry.kind, "image") != 0) {
        fprintf(stderr, "dext: %s: not a directory, and extension %s is installed from %s\n",
                o->source, name, entry.root);
        r = -EEXIST;
        goto out;
    }
    if (r < 0) {
        r = install_image(o->source, false, name, sizeof(name));
        if (r < 0)
            goto out;
        r = dext_store_get(&s, name, &entry);
        if (r < 0)
            goto out;
    } else {
        _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
        struct dext_meta_problems p = {0};
        struct dext_engine e;
        r = dext_ext_load_dir(entry.root, &m, &p);
        if (r < 0) {
            print_problems(entry.root, &p);
            dext_meta_problems_done(&p);
            goto out;
        }
        r = dext_engine_open(&e);
        if (r == 0) {
            r = dext_engine_up(&e, &s, &entry, m);
            if (r < 0)
                fprintf(stderr, "dext: cannot start the backend of %s: %s\n", name, e.err);
            dext_engine_close(&e);
        } else {
            fprintf(stderr, "dext: %s\n", e.err);
        }
        if (r < 0)
            goto out;
    }
    o->engine = true;
    o->name = name;
    o->image = entry.image;
    o->source = entry.root;
    r = dext_daemon_run(o);
out:
    dext_store_entry_done(&entry);
    dext_store_done(&s);
    return r < 0 ? 1 : 0;
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
        return usage_error(run_usage, "%s", "run needs an extension directory or image");
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
    if (!is_dir(o.source) && is_path(o.source)) {
        fprintf(stderr, "dext: %s: %s\n", o.source,
                access(o.source, F_OK) == 0 ? "not a directory" : strerror(errno));
        dext_strv_free(o.backend_argv);
        return 1;
    }
    if (!is_dir(o.source)) {
        if (backend) {
            fprintf(stderr, "dext: --backend-cmd is for extension directories; an image's "
                            "backend runs from the image\n");
            dext_strv_free(o.backend_argv);
            return EXIT_USAGE;
        }
        return run_image(&o);
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

/* `validate IMAGE`: the image's files, checked without installing anything. */
static int validate_image(const char *ref)
{
    struct dext_meta_problems p = {0};
    struct dext_engine en;
    struct dext_store s;
    int r;

    if (open_store(&s) < 0)
        return 1;
    r = dext_engine_open(&en);
    if (r == 0) {
        en.progress = isatty(STDERR_FILENO);
        r = dext_engine_validate(&en, &s, ref, &p);
        if (r < 0 && p.n)
            print_problems(ref, &p);
        else if (r < 0)
            fprintf(stderr, "dext: %s\n", en.err);
        dext_engine_close(&en);
    } else {
        fprintf(stderr, "dext: %s\n", en.err);
    }
    dext_meta_problems_done(&p);
    dext_store_done(&s);
    if (r < 0)
        return 1;
    printf("The extension image \"%s\" is valid\n", ref);
    return 0;
}

static int cmd_validate(int argc, char **argv)
{
    _cleanup_(dext_ext_meta_freep) struct dext_ext_meta *m = NULL;
    _cleanup_free_ char *dir = NULL;
    struct dext_meta_problems p = {0};
    const char *what, *base;
    struct stat st;
    int r;

    if (argc >= 2 && is_help(argv[1])) {
        fputs(validate_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(validate_usage, "%s",
                           "validate needs exactly one directory, metadata.json or image");
    what = argv[1];
    base = strrchr(what, '/') ? strrchr(what, '/') + 1 : what;
    if (stat(what, &st) == 0 && !S_ISDIR(st.st_mode)) {
        if (strcmp(base, "metadata.json") != 0) {
            fprintf(stderr, "dext: %s: not a directory, nor a metadata.json\n", what);
            return 1;
        }
        dir = base == what       ? xstrdup(".")
              : base == what + 1 ? xstrdup("/")
                                 : xstrndup(what, (size_t)(base - what - 1));
    } else if (!is_path(what)) {
        return validate_image(what); /* as run and install tell them apart */
    } else {
        dir = xstrdup(what);
    }
    r = dext_ext_load_dir(dir, &m, &p);
    if (r < 0) {
        print_problems(dir, &p);
        dext_meta_problems_done(&p);
        return 1;
    }
    printf("The extension in %s is valid\n", dir);
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

    argc = drop_force(argc, argv);

    if (argc >= 2 && is_help(argv[1])) {
        fputs(install_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(install_usage, "%s", "install needs exactly one directory or image");
    if (!is_dir(argv[1]) && is_path(argv[1])) {
        fprintf(stderr, "dext: %s: %s\n", argv[1],
                access(argv[1], F_OK) == 0 ? "not a directory" : strerror(errno));
        return 1;
    }
    if (!is_dir(argv[1])) {
        if (install_image(argv[1], false, name, sizeof(name)) < 0)
            return 1;
        printf("Installed extension %s from %s\n", name, argv[1]);
        return 0;
    }
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

static int cmd_update(int argc, char **argv)
{
    char name[DEXT_STORE_NAME_MAX + 1];
    struct dext_store s;
    struct dext_store_entry e = {0};
    _cleanup_free_ char *ref = NULL;
    int r;

    argc = drop_force(argc, argv);

    if (argc >= 2 && is_help(argv[1])) {
        fputs(update_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(update_usage, "%s", "update needs exactly one extension name or image");
    if (open_store(&s) < 0)
        return 1;
    /* An installed name stands for its image; else the argument is the new image. */
    if (dext_store_get(&s, argv[1], &e) == 0 ||
        (dext_store_name_from_image(argv[1], name, sizeof(name)) == 0 &&
         dext_store_get(&s, name, &e) == 0)) {
        bool is_name = strcmp(e.name, argv[1]) == 0;
        if (strcmp(e.kind, "image") != 0) {
            printf("Extension %s is the directory %s, used in place: nothing to update\n", e.name,
                   e.root);
            dext_store_entry_done(&e);
            dext_store_done(&s);
            return 0;
        }
        ref = xstrdup(is_name ? e.image : argv[1]);
        dext_store_entry_done(&e);
    } else {
        fprintf(stderr, "dext: no installed extension named '%s'\n", argv[1]);
        dext_store_done(&s);
        return 1;
    }
    dext_store_done(&s);
    r = install_image(ref, true, name, sizeof(name));
    if (r < 0)
        return 1;
    printf("Updated extension %s to %s\n", name, ref);
    return 0;
}

struct ls_row {
    char *ui, *vm, *host, *version, *provider;
    int n_running;
    json_t *json;
};

/* The engine, opened on first use by ls; NULL when it cannot be. */
static struct dext_engine *ls_engine(void)
{
    static struct dext_engine e;
    static int state; /* 0 untried, 1 open, -1 failed */

    if (state == 0)
        state = dext_engine_open(&e) == 0 ? 1 : -1;
    return state > 0 ? &e : NULL;
}

static void ls_engine_close(void)
{
    struct dext_engine *e = ls_engine();
    if (e)
        dext_engine_close(e);
}

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
    int running = bpid > 0 ? 1 : 0, total = 0;
    bool image = strcmp(e.kind, "image") == 0, known = true;
    if (m && m->has_vm && image) {
        struct dext_engine *en = ls_engine();
        known = en && dext_engine_state(en, name, &running, &total) == 0;
    }
    if (image && e.image) {
        /* PROVIDER: the image's vendor label, as docker extension ls shows it. */
        struct dext_engine *en = ls_engine();
        row->provider =
            en ? dext_engine_image_label(en, e.image, "org.opencontainers.image.vendor") : NULL;
    }
    json_object_set_new(o, "provider", row->provider ? json_string(row->provider) : json_null());
    if (!m || !m->has_vm)
        row->vm = xstrdup("-");
    else if (!known)
        row->vm = xstrdup("Unknown");
    else if (running > 0)
        row->vm = xasprintf("Running(%d)", running);
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
                        m && m->has_vm ? json_pack("{s:s, s:i}", "state",
                                                   !known        ? "unknown"
                                                   : running > 0 ? "running"
                                                                 : "stopped",
                                                   "running", running)
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
            printf("%-32s %-10s %-10s %-24s %-12s %s\n", *n, row.provider ? row.provider : "-",
                   row.version, row.ui, row.vm, row.host);
        json_array_append_new(arr, row.json);
        free(row.ui);
        free(row.vm);
        free(row.host);
        free(row.version);
        free(row.provider);
    }
    if (as_json) {
        char *text = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    }
    json_decref(arr);
    dext_strv_free(names);
    dext_store_done(&s);
    ls_engine_close();
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

/* NAME, or an image reference as docker extension takes it ("repo:tag" names the
 * extension installed from repo): the installed record in @e, its name in @argv[1]. */
static int get_installed(struct dext_store *s, char **argv, char *name, size_t size,
                         struct dext_store_entry *e)
{
    if (dext_store_get(s, argv[1], e) == 0)
        return 0;
    if (dext_store_name_from_image(argv[1], name, size) < 0 || dext_store_get(s, name, e) < 0)
        return -ENOENT;
    argv[1] = name;
    return 0;
}

static int cmd_rm(int argc, char **argv)
{
    char name[DEXT_STORE_NAME_MAX + 1];
    struct dext_store s;
    struct dext_store_entry e;
    pid_t pid = 0;
    bool shared;
    int r;

    argc = drop_force(argc, argv);

    if (argc >= 2 && is_help(argv[1])) {
        fputs(rm_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(rm_usage, "%s", "rm needs exactly one extension name");
    if (open_store(&s) < 0)
        return 1;
    if (get_installed(&s, argv, name, sizeof(name), &e) < 0) {
        fprintf(stderr, "dext: no installed extension named '%s'\n", argv[1]);
        dext_store_done(&s);
        return 1;
    }
    (void)dext_store_get_state(&s, argv[1], &pid, NULL);
    shared = pid > 0 && dext_store_state_is_shared(&s, argv[1]);
    if (pid > 0 && !shared && pid != getpid()) {
        /* Stop the dext serving it; it stops the backend on the way out. */
        (void)kill(pid, SIGTERM);
        for (int i = 0; i < 200 && kill(pid, 0) == 0; i++) {
            struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};
            (void)nanosleep(&ts, NULL);
        }
        if (kill(pid, 0) == 0) {
            fprintf(stderr, "dext: the dext serving %s (pid %d) did not stop\n", argv[1], (int)pid);
            dext_store_entry_done(&e);
            dext_store_done(&s);
            return 1;
        }
    }
    if (strcmp(e.kind, "image") == 0) {
        /* The compose project goes first: containers, volumes, networks. */
        struct dext_engine en;
        r = dext_engine_open(&en);
        if (r == 0) {
            r = dext_engine_down(&en, argv[1], true);
            if (r < 0)
                fprintf(stderr, "dext: cannot remove the backend of %s: %s\n", argv[1], en.err);
            dext_engine_close(&en);
        } else {
            fprintf(stderr, "dext: %s\n", en.err);
        }
        if (r < 0) {
            dext_store_entry_done(&e);
            dext_store_done(&s);
            return 1;
        }
    } else {
        /* No container of its own, but those it made with docker.cli.exec go with it
         * when an engine answers. */
        struct dext_engine en;
        if (dext_engine_open(&en) == 0) {
            if (dext_engine_ping(&en) == 0 && dext_engine_remove_started(&en, argv[1]) < 0)
                fprintf(stderr, "dext: warning: cannot remove the containers %s made: %s\n",
                        argv[1], en.err);
            dext_engine_close(&en);
        }
    }
    dext_store_entry_done(&e);
    if (shared)
        return rm_served(&s, argv[1], pid); /* dext serve lets it go */
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
    char name[DEXT_STORE_NAME_MAX + 1];
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
    if (get_installed(&s, argv, name, sizeof(name), &e) < 0) {
        fprintf(stderr, "dext: no installed extension named '%s'\n", argv[1]);
        dext_store_done(&s);
        return 1;
    }
    if (strcmp(e.kind, "image") == 0) {
        struct dext_engine en;
        int r = dext_engine_open(&en);
        if (r == 0) {
            r = dext_engine_logs(&en, e.name, e.image);
            dext_engine_close(&en);
        }
        if (r < 0)
            fprintf(stderr, "dext: %s\n", en.err);
        dext_store_entry_done(&e);
        dext_store_done(&s);
        return r < 0 ? 1 : 0;
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
    if (strcmp(verb, "version") == 0) {
        /* As `docker extension version` prints it: scripts read the API version. */
        printf("Client Version: v%s\nServer API Version: %s\n", DEXT_VERSION,
               DEXT_EXTENSION_API_VERSION);
        return 0;
    }
    if (strcmp(verb, "--version") == 0) {
        printf("dext %s (extension API %s)\n", DEXT_VERSION, DEXT_EXTENSION_API_VERSION);
        return 0;
    }
    if (strcmp(verb, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(verb, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(verb, "update") == 0)
        return cmd_update(argc - 1, argv + 1);
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
