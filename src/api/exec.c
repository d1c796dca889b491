/* SPDX-License-Identifier: MIT */
/* Blocking exec for the page: vm, host, docker and container scopes. */
#include "api/exec.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/body.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/xalloc.h"
#include "engine/engine.h"
#include "ext/store.h"
#include "proc/spawn.h"
#include "proc/words.h"

extern char **environ;

struct exec_call {
    struct dext_exec_ctx *ctx;
    struct dext_http_conn *conn; /* NULL once the caller left */
    struct dext_proc *proc;
    struct dext_buf out[2];
    char *cmdline;
    bool vm;
    bool overflow;
    bool killed; /* dext ended it (the caller left, or too much output) */
};

static void call_free(struct exec_call *x)
{
    dext_proc_free(x->proc);
    if (x->proc)
        x->ctx->n_procs--;
    dext_buf_done(&x->out[0]);
    dext_buf_done(&x->out[1]);
    free(x->cmdline);
    free(x);
}

static void on_abort(void *data)
{
    struct exec_call *x = data;

    /* The page left: nothing will read the answer, so the command ends. */
    x->conn = NULL;
    call_free(x);
}

static const struct dext_http_body_ops call_ops = {
    .on_abort = on_abort,
};

static void on_output(void *data, int fd, const char *p, size_t n)
{
    struct exec_call *x = data;

    if (x->overflow)
        return;
    if (dext_buf_append(&x->out[fd - 1], p, n) < 0) {
        x->overflow = true;
        x->killed = true;
        dext_proc_kill(x->proc);
    }
}

static json_t *json_text(const struct dext_buf *b)
{
    struct dext_buf fixed;
    json_t *s;

    dext_buf_init(&fixed, (size_t)DEXT_EXEC_MAX_OUTPUT * 2);
    (void)dext_utf8_repair(b->data ? b->data : "", b->len, &fixed);
    s = json_stringn(fixed.data ? fixed.data : "", fixed.len);
    dext_buf_done(&fixed);
    return s ? s : json_string("");
}

static void answer_json(struct dext_http_conn *c, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);

    dext_http_respond(c, 200, "application/json", "Cache-Control: no-store\r\n", text,
                      strlen(text));
    free(text);
}

static void on_call_exit(void *data, int64_t status, int sig)
{
    struct exec_call *x = data;
    struct dext_http_conn *c = x->conn;
    char msg[600];
    json_t *o;

    x->conn = NULL;
    if (!c) {
        call_free(x);
        return;
    }
    dext_http_conn_detach(c);
    if (x->overflow) {
        (void)snprintf(msg, sizeof(msg),
                       "exec: output of '%.200s' is larger than %d MiB; use the stream option",
                       x->cmdline, DEXT_EXEC_MAX_OUTPUT >> 20);
        dext_http_respond_error(c, 413, msg);
        call_free(x);
        return;
    }
    /* The __guest-exec helper reports a command it could not start this way. */
    if (x->vm && status == 127 && x->out[1].len > 16 &&
        strncmp(x->out[1].data, "dext: cannot run", 16) == 0) {
        const char *nl = memchr(x->out[1].data, '\n', x->out[1].len);
        int len = nl ? (int)(nl - x->out[1].data) : (int)x->out[1].len;
        (void)snprintf(msg, sizeof(msg), "exec: %.*s", len - 6, x->out[1].data + 6);
        dext_http_respond_error(c, 404, msg);
        call_free(x);
        return;
    }
    o = json_object();
    json_object_set_new(o, "cmd", json_string(x->cmdline));
    json_object_set_new(o, "code", sig ? json_null() : json_integer(status));
    if (sig) {
        const char *abbrev = sigabbrev_np(sig);
        char name[32];
        (void)snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
        json_object_set_new(o, "signal", json_string(name));
    } else {
        json_object_set_new(o, "signal", json_null());
    }
    json_object_set_new(o, "killed", json_boolean(x->killed));
    json_object_set_new(o, "stdout", json_text(&x->out[0]));
    json_object_set_new(o, "stderr", json_text(&x->out[1]));
    answer_json(c, o);
    json_decref(o);
    call_free(x);
}

/* ---- arguments and environment ---- */

static char *join_words(const char *cmd, json_t *args)
{
    struct dext_buf b;
    size_t i;
    json_t *a;

    dext_buf_init(&b, DEXT_WORDS_MAX_LEN);
    (void)dext_buf_puts(&b, cmd);
    json_array_foreach(args, i, a)
    {
        (void)dext_buf_append(&b, " ", 1);
        (void)dext_buf_puts(&b, json_string_value(a));
    }
    return dext_buf_take(&b, NULL);
}

/* The environment: dext's own, with the caller's env merged over it. */
static char **make_env(json_t *env, const char *path_prefix, const char *image, const char *guest)
{
    size_t n = 0, o = 0;
    char **v;
    const char *key;
    json_t *val;

    while (environ[n])
        n++;
    v = xcalloc(n + json_object_size(env) + 5, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        _cleanup_free_ char *name = eq ? xstrndup(environ[i], (size_t)(eq - environ[i])) : NULL;
        if (!name || json_object_get(env, name))
            continue;
        if (path_prefix && strcmp(name, "PATH") == 0) {
            v[o++] = xasprintf("PATH=%s:%s", path_prefix, eq + 1);
            path_prefix = NULL;
            continue;
        }
        if ((image && strcmp(name, "DESKTOP_PLUGIN_IMAGE") == 0) ||
            (guest && strcmp(name, "DEXT_GUEST_SERVICES") == 0))
            continue;
        v[o++] = xstrdup(environ[i]);
    }
    if (path_prefix)
        v[o++] = xasprintf("PATH=%s:/usr/local/bin:/usr/bin:/bin", path_prefix);
    if (image)
        v[o++] = xasprintf("DESKTOP_PLUGIN_IMAGE=%s", image);
    if (guest)
        v[o++] = xasprintf("DEXT_GUEST_SERVICES=%s", guest);
    json_object_foreach(env, key, val)
    {
        if (json_is_string(val) && !strchr(key, '=') && *key)
            v[o++] = xasprintf("%s=%s", key, json_string_value(val));
    }
    v[o] = NULL;
    return v;
}

int dext_exec_resolve_host(const char *root, const struct dext_ext_meta *meta, const char *name,
                           char **ret_path, char **ret_dir)
{
    _cleanup_free_ char *candidate = NULL, *real = NULL, *real_root = NULL;
    struct stat st;

    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EACCES;
    for (size_t i = 0; i < meta->n_host_binaries && !candidate; i++) {
        const char *path = meta->host_binaries[i].path;
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (meta->host_binaries[i].is_dir) {
            _cleanup_free_ char *inside = xasprintf("%s/%s/%s", root, path, name);
            if (lstat(inside, &st) == 0)
                candidate = TAKE_PTR(inside);
        } else if (strcmp(base, name) == 0) {
            candidate = xasprintf("%s/%s", root, path);
        }
    }
    if (!candidate)
        return -ENOENT;
    real = realpath(candidate, NULL);
    real_root = realpath(root, NULL);
    if (!real || !real_root)
        return -ENOENT;
    /* Symlinks are followed, but the file must still be inside the extension. */
    if (strncmp(real, real_root, strlen(real_root)) != 0 || real[strlen(real_root)] != '/')
        return -EACCES;
    if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
        return -ENOENT;
    *ret_dir = xstrndup(real, (size_t)(strrchr(real, '/') - real));
    *ret_path = TAKE_PTR(real);
    return 0;
}

/* The caller's env only, as "K=V": for commands in containers, which have their own. */
static char **caller_env(json_t *env)
{
    char **v = xcalloc(json_object_size(env) + 1, sizeof(char *));
    const char *key;
    json_t *val;
    size_t n = 0;

    json_object_foreach(env, key, val)
    {
        if (json_is_string(val) && !strchr(key, '=') && *key)
            v[n++] = xasprintf("%s=%s", key, json_string_value(val));
    }
    return v;
}

static int fail(struct dext_exec_cmd *cmd, int status, const char *fmt, ...) _printf_(3, 4);
static int fail(struct dext_exec_cmd *cmd, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(cmd->error, sizeof(cmd->error), fmt, ap);
    va_end(ap);
    cmd->status = status;
    return -EINVAL;
}

void dext_exec_cmd_done(struct dext_exec_cmd *cmd)
{
    dext_strv_free(cmd->argv);
    dext_strv_free(cmd->env);
    free(cmd->file);
    free(cmd->cwd);
    free(cmd->cmdline);
    free(cmd->container);
    *cmd = (struct dext_exec_cmd){0};
}

/* Where a `docker run` or `docker create` (also `docker container run|create`) has
 * its options: the index after the subcommand, or 0 for any other command. */
static size_t docker_create_at(char **words, size_t n)
{
    size_t at = n > 1 && strcmp(words[0], "container") == 0 ? 1 : 0;

    if (at < n && (strcmp(words[at], "run") == 0 || strcmp(words[at], "create") == 0))
        return at + 1;
    return 0;
}

int dext_exec_build(const struct dext_exec_ctx *ctx, json_t *body, bool split,
                    struct dext_exec_cmd *out)
{
    const char *scope = json_string_value(json_object_get(body, "scope"));
    const char *cmd = json_string_value(json_object_get(body, "cmd"));
    const char *cwd = json_string_value(json_object_get(body, "cwd"));
    const char *container = json_string_value(json_object_get(body, "container"));
    json_t *args = json_object_get(body, "args");
    json_t *env = json_object_get(body, "env");
    _cleanup_free_ char *line = NULL, *bin = NULL, *bin_dir = NULL;
    char **words = NULL;
    size_t n_words, k = 0, i;
    json_t *a;
    int n, r = -EINVAL;

    *out = (struct dext_exec_cmd){.mntns_fd = -1};
    if (!scope || !cmd)
        return fail(out, 400, "exec: scope and cmd are required");
    if (args && !json_is_array(args))
        return fail(out, 400, "exec: args must be an array of strings");
    json_array_foreach(args, i, a) if (!json_is_string(a)) return fail(
        out, 400, "exec: args must be an array of strings");
    if (env && !json_is_object(env) && !json_is_null(env))
        return fail(out, 400, "exec: env must be an object");
    line = join_words(cmd, args);
    if (split) {
        /* A blocking call joins cmd and args and splits them again like a shell
         * would, without expanding anything (spec 5.2). */
        n = dext_words_split(line, strlen(line), &words);
        if (n <= 0) {
            dext_strv_free(words);
            return n == 0 ? fail(out, 400, "exec: empty command")
                          : fail(out, 400, "exec: unbalanced quotes in '%.200s'", line);
        }
    } else {
        /* A streaming call passes args verbatim. */
        n = (int)json_array_size(args) + 1;
        words = xcalloc((size_t)n + 1, sizeof(char *));
        words[0] = xstrdup(cmd);
        json_array_foreach(args, i, a) words[i + 1] = xstrdup(json_string_value(a));
    }
    if (!words[0][0]) {
        dext_strv_free(words);
        return fail(out, 400, "exec: empty command");
    }
    n_words = (size_t)n;
    out->argv = xcalloc(n_words + 8, sizeof(char *));
    if (strcmp(scope, "host") == 0) {
        if (!ctx->meta->n_host_binaries) {
            fail(out, 404, "exec: this extension ships no host binaries");
            goto out;
        }
        r = dext_exec_resolve_host(ctx->root, ctx->meta, words[0], &bin, &bin_dir);
        if (r == -EACCES) {
            fail(out, 403,
                 "exec: '%.200s' is refused: host binaries are called by base name and "
                 "must stay inside the extension",
                 words[0]);
            goto out;
        }
        if (r < 0) {
            fail(out, 404,
                 "exec: host binary '%.200s' not found among the extension's host "
                 "binaries (ENOENT)",
                 words[0]);
            goto out;
        }
        out->file = xstrdup(bin);
        for (size_t w = 0; w < n_words; w++)
            out->argv[k++] = xstrdup(words[w]);
        out->env = make_env(env, bin_dir, NULL, NULL);
        out->cwd = xstrdup(cwd ? cwd : bin_dir);
    } else if (strcmp(scope, "vm") == 0) {
        if (!ctx->meta->has_vm) {
            fail(out, 404, "exec: this extension has no vm section");
            goto out;
        }
        if (ctx->engine) {
            /* In the backend container: its environment plus the caller's. */
            out->env = caller_env(env);
            for (size_t w = 0; w < n_words; w++)
                out->argv[k++] = xstrdup(words[w]);
            out->file = xstrdup(words[0]);
            out->cwd = cwd ? xstrdup(cwd) : NULL;
            out->engine = true;
            out->is_vm = true;
            goto built;
        }
        out->cwd = !cwd            ? xstrdup(ctx->root)
                   : cwd[0] == '/' ? xstrdup(cwd)
                                   : xasprintf("%s/%s", ctx->root, cwd);
        if (ctx->mntns_fd >= 0) {
            /* Straight into the backend's view: no helper process in between. */
            out->file = xstrdup(words[0]);
            for (size_t w = 0; w < n_words; w++)
                out->argv[k++] = xstrdup(words[w]);
            out->mntns_fd = ctx->mntns_fd;
            out->env = make_env(env, NULL, ctx->image, "/run/guest-services");
        } else {
            out->file = xstrdup(ctx->self_exe);
            out->argv[k++] = xstrdup(ctx->self_exe);
            out->argv[k++] = xstrdup("__guest-exec");
            out->argv[k++] = xstrdup(ctx->guest_dir);
            out->argv[k++] = xstrdup(out->cwd);
            out->argv[k++] = xstrdup("--");
            for (size_t w = 0; w < n_words; w++)
                out->argv[k++] = xstrdup(words[w]);
            out->env = make_env(env, NULL, ctx->image, NULL);
            out->is_vm = true;
            free(out->cwd);
            out->cwd = NULL;
        }
    } else if (strcmp(scope, "container") == 0) {
        /* v0 execInContainer: through the Engine exec API, like vm commands. */
        if (!container || !*container) {
            fail(out, 400, "exec: container is required");
            goto out;
        }
        for (size_t w = 0; w < n_words; w++)
            out->argv[k++] = xstrdup(words[w]);
        out->file = xstrdup(words[0]);
        out->env = caller_env(env);
        out->cwd = cwd ? xstrdup(cwd) : NULL;
        out->container = xstrdup(container);
        out->engine = true;
        out->is_vm = true;
    } else if (strcmp(scope, "docker") == 0) {
        /* A container the extension makes carries its label, so `dext rm` can
         * remove it with the extension's own (peers leave them behind). */
        size_t at = ctx->name ? docker_create_at(words, n_words) : 0;
        out->file = xstrdup("docker");
        out->argv[k++] = xstrdup("docker");
        for (size_t w = 0; w < n_words; w++) {
            out->argv[k++] = xstrdup(words[w]);
            if (w + 1 == at) {
                out->argv[k++] = xstrdup("--label");
                out->argv[k++] = xasprintf("%s=%s", DEXT_ENGINE_EXT_LABEL, ctx->name);
            }
        }
        out->env = make_env(env, NULL, NULL, NULL);
        if (cwd)
            out->cwd = xstrdup(cwd);
    } else {
        fail(out, 400, "exec: unknown scope '%.40s'", scope);
        goto out;
    }
built:
    out->cmdline = scope[0] == 'd'   ? xasprintf("docker %s", line)
                   : scope[0] == 'c' ? xasprintf("docker exec %s %s", container, line)
                                     : xstrdup(line);
    r = 0;
out:
    dext_strv_free(words);
    if (r < 0) {
        char error[sizeof(out->error)];
        int status = out->status;
        memcpy(error, out->error, sizeof(error));
        dext_exec_cmd_done(out);
        memcpy(out->error, error, sizeof(error));
        out->status = status;
        return -EINVAL;
    }
    return 0;
}

int dext_exec_spawn(struct dext_exec_ctx *ctx, const struct dext_exec_cmd *cmd,
                    dext_proc_output_cb on_out, dext_proc_exit_cb on_done, void *data,
                    struct dext_proc **ret, struct dext_http_conn *c)
{
    char msg[512];
    int r;

    if (cmd->container && !ctx->containers)
        ctx->containers = dext_engine_target_new(ctx->loop, "", "");
    if (cmd->container && !ctx->containers) {
        dext_http_respond_error(c, 502, "exec: DOCKER_HOST is not a unix:// or tcp:// address");
        return -EINVAL;
    }
    r = cmd->container ? dext_engine_exec_in(ctx->containers, cmd->container, cmd->argv, cmd->env,
                                             cmd->cwd, on_out, on_done, data, ret)
        : cmd->engine  ? dext_engine_exec(ctx->engine, cmd->argv, cmd->env, cmd->cwd, on_out,
                                          on_done, data, ret)
                       : dext_proc_spawn(ctx->loop,
                                         &(struct dext_proc_opts){
                                             .file = cmd->file,
                                             .argv = cmd->argv,
                                             .env = cmd->env,
                                             .cwd = cmd->cwd,
                                             .on_output = on_out,
                                             .on_exit = on_done,
                                             .data = data,
                                             .mntns_fd = cmd->mntns_fd,
                                        },
                                         ret);

    if (r == 0) {
        ctx->n_procs++;
        return 0;
    }
    (void)snprintf(msg, sizeof(msg), "exec: cannot run '%.200s': %s (%s)", cmd->argv[0],
                   strerror(-r), strerrorname_np(-r) ? strerrorname_np(-r) : "?");
    dext_http_respond_error(c, 404, msg);
    return r;
}

static void on_request_body(void *data, struct dext_http_conn *c, json_t *body)
{
    struct dext_exec_ctx *ctx = data;
    struct dext_exec_cmd cmd;
    struct exec_call *x;
    int r;

    if (ctx->n_procs >= DEXT_EXEC_MAX_PROCS) {
        char msg[96];
        (void)snprintf(msg, sizeof(msg), "exec: this extension already runs %d processes",
                       DEXT_EXEC_MAX_PROCS);
        dext_http_respond_error(c, 429, msg);
        return;
    }
    if (dext_exec_build(ctx, body, true, &cmd) < 0) {
        dext_http_respond_error(c, cmd.status, cmd.error);
        return;
    }
    x = xcalloc(1, sizeof(*x));
    x->ctx = ctx;
    x->conn = c;
    x->vm = cmd.is_vm;
    x->cmdline = TAKE_PTR(cmd.cmdline);
    dext_buf_init(&x->out[0], DEXT_EXEC_MAX_OUTPUT);
    dext_buf_init(&x->out[1], DEXT_EXEC_MAX_OUTPUT);
    r = dext_exec_spawn(ctx, &cmd, on_output, on_call_exit, x, &x->proc, c);
    if (r < 0) {
        x->proc = NULL;
        call_free(x);
    } else {
        dext_http_conn_attach(c, &call_ops, x);
    }
    dext_exec_cmd_done(&cmd);
}

void dext_exec_handle(struct dext_exec_ctx *ctx, struct dext_http_conn *c,
                      const struct dext_http_req *req)
{
    if (req->method_id != HTTP_POST) {
        dext_http_respond(c, 405, "text/plain; charset=utf-8", "Allow: POST\r\n",
                          "method not allowed\n", 19);
        return;
    }
    dext_api_read_json(c, req, on_request_body, ctx);
}
