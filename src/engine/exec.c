/* SPDX-License-Identifier: MIT */
/* Commands in the backend container through the Engine exec API. */
#include "engine/exec.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"

#define PROJECT_LABEL "com.docker.compose.project"

struct eexec {
    struct dext_engine_target *t;
    struct dext_proc *proc;
    json_t *create; /* the exec create body */
    char *cmd0;
    char *container; /* where it runs, once known */
    bool fixed;      /* a container the caller named: never looked up */
    char id[128];    /* the exec instance */
    struct dext_docker_call *stream;
    dext_proc_output_cb on_output;
    dext_proc_exit_cb on_exit;
    void *data;
    struct dext_docker_demux demux;
    unsigned pending; /* requests in flight: each holds a reference */
    bool retried;     /* the container was looked up again once */
    bool exited, freed, paused, kill_asked;
};

static void eexec_maybe_free(struct eexec *x)
{
    if (!x->freed || x->pending || x->stream)
        return;
    json_decref(x->create);
    free(x->cmd0);
    free(x->container);
    free(x);
}

/* Ends the job once. */
static void finish(struct eexec *x, int64_t status, int sig)
{
    if (x->exited)
        return;
    x->exited = true;
    if (!x->freed)
        x->on_exit(x->data, status, sig);
}

static void fail(struct eexec *x, const char *why)
{
    char line[700];
    int n = snprintf(line, sizeof(line), "dext: cannot run '%.200s': %s\n", x->cmd0, why);

    if (!x->freed && !x->exited && n > 0)
        x->on_output(x->data, 2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    finish(x, 127, 0);
}

/* A request's callback runs only while the job is wanted. */
static bool returned(struct eexec *x)
{
    x->pending--;
    if (x->freed) {
        eexec_maybe_free(x);
        return false;
    }
    return true;
}

static const char *engine_msg(const char *body, size_t len, char *out, size_t size)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *m = json_string_value(json_object_get(o, "message"));

    (void)snprintf(out, size, "%s", m ? m : "the engine refused the call");
    json_decref(o);
    return out;
}

static void find_container(struct eexec *x);

static void on_inspect(void *data, int status, const char *body, size_t len, int err,
                       const char *msg)
{
    struct eexec *x = data;
    json_t *o;
    json_t *code;

    if (!returned(x))
        return;
    o = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    code = json_object_get(o, "ExitCode");
    if (json_is_integer(code)) {
        int64_t c = json_integer_value(code);
        /* A command that dext ended reports the signal as the shell would (128+n). */
        if (x->kill_asked && (c == 128 + SIGTERM || c == 128 + SIGKILL))
            finish(x, 0, (int)c - 128);
        else
            finish(x, c, 0);
    } else {
        finish(x, 1, 0);
    }
    json_decref(o);
}

static void frame_out(void *data, int fd, const char *p, size_t n)
{
    struct eexec *x = data;

    if (!x->freed)
        x->on_output(x->data, fd, p, n);
}

static void on_frame_data(void *data, const char *p, size_t n)
{
    struct eexec *x = data;
    dext_docker_demux_feed(&x->demux, p, n, frame_out, x);
}

static void on_stream_end(void *data, int status, const char *body, size_t len, int err,
                          const char *msg)
{
    struct eexec *x = data;
    _cleanup_free_ char *path = NULL;
    char why[512];

    x->stream = NULL;
    if (x->freed) {
        eexec_maybe_free(x);
        return;
    }
    if (err < 0) {
        fail(x, msg);
        return;
    }
    if (status >= 300) {
        fail(x, engine_msg(body, len, why, sizeof(why)));
        return;
    }
    path = xasprintf("/exec/%s/json", x->id);
    x->pending++;
    dext_docker_request(x->t->docker, "GET", path, NULL, 0, on_inspect, x);
}

static const struct dext_docker_stream_ops stream_ops = {
    .on_data = on_frame_data,
    .on_end = on_stream_end,
};

static void on_created(void *data, int status, const char *body, size_t len, int err,
                       const char *msg)
{
    struct eexec *x = data;
    _cleanup_free_ char *path = NULL;
    json_t *o;
    const char *id;
    char why[512];

    if (!returned(x))
        return;
    if (err < 0) {
        fail(x, msg);
        return;
    }
    if ((status == 404 || status == 409) && !x->retried && !x->fixed) {
        /* The container went away or stopped: look for the current one. */
        x->retried = true;
        free(x->t->container);
        x->t->container = NULL;
        find_container(x);
        return;
    }
    if (status != 201) {
        fail(x, engine_msg(body, len, why, sizeof(why)));
        return;
    }
    o = json_loadb(body, len, 0, NULL);
    id = json_string_value(json_object_get(o, "Id"));
    if (!id || strlen(id) >= sizeof(x->id)) {
        json_decref(o);
        fail(x, "the engine gave no exec id");
        return;
    }
    memcpy(x->id, id, strlen(id) + 1);
    json_decref(o);
    if (x->kill_asked) {
        finish(x, 0, SIGTERM);
        return;
    }
    path = xasprintf("/exec/%s/start", x->id);
    x->stream = dext_docker_stream(x->t->docker, "POST", path, "{\"Detach\":false,\"Tty\":false}",
                                   29, &stream_ops, x);
    if (x->paused)
        dext_docker_call_pause(x->stream);
}

static void create_exec(struct eexec *x)
{
    _cleanup_free_ char *q = NULL, *path = NULL;

    /* A caller's name goes into the path: only the characters names and ids have. */
    q = xstrdup(x->container);
    for (char *p = q; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '_';
    path = xasprintf("/containers/%s/exec", q);
    _cleanup_free_ char *text = json_dumps(x->create, JSON_COMPACT);

    x->pending++;
    dext_docker_request(x->t->docker, "POST", path, text, strlen(text), on_created, x);
}

static void on_listed(void *data, int status, const char *body, size_t len, int err,
                      const char *msg)
{
    struct eexec *x = data;
    json_t *list, *best;

    if (!returned(x))
        return;
    if (err < 0) {
        fail(x, msg);
        return;
    }
    list = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    best = dext_docker_first_service(list, x->t->image);
    if (!best) {
        json_decref(list);
        fail(x, "the extension's backend container is not running");
        return;
    }
    free(x->t->container);
    x->t->container = xstrdup(json_string_value(json_object_get(best, "Id")) ?: "");
    free(x->container);
    x->container = xstrdup(x->t->container);
    json_decref(list);
    create_exec(x);
}

static void find_container(struct eexec *x)
{
    _cleanup_free_ char *filters = xasprintf(
        "%%7B%%22label%%22%%3A%%5B%%22%s%%3D%s-desktop-extension%%22%%5D%%2C%%22status%%22%%3A%%"
        "5B%%22running%%22%%5D%%7D",
        PROJECT_LABEL, x->t->name);
    _cleanup_free_ char *path = xasprintf("/containers/json?filters=%s", filters);

    x->pending++;
    dext_docker_request(x->t->docker, "GET", path, NULL, 0, on_listed, x);
}

/* ---- the dext_proc calls ---- */

static bool op_exited(void *impl)
{
    return ((struct eexec *)impl)->exited;
}

static void op_pause(void *impl)
{
    struct eexec *x = impl;

    x->paused = true;
    if (x->stream)
        dext_docker_call_pause(x->stream);
}

static void op_resume(void *impl)
{
    struct eexec *x = impl;

    x->paused = false;
    if (x->stream)
        dext_docker_call_resume(x->stream);
}

static void on_kill_inspect(void *data, int status, const char *body, size_t len, int err,
                            const char *msg)
{
    struct eexec *x = data;
    json_t *o;
    json_int_t pid;
    bool gone = x->freed;

    x->pending--;
    o = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    pid = json_integer_value(json_object_get(o, "Pid"));
    json_decref(o);
    /* The exec API has no kill: signal the process by the pid the engine reports.
     * A page that left gets no grace. */
    if (pid > 1 && !x->exited && kill((pid_t)pid, gone ? SIGKILL : SIGTERM) < 0)
        log_warn("cannot signal '%s' (pid %lld) in the backend container: %s", x->cmd0,
                 (long long)pid, strerror(errno));
    eexec_maybe_free(x);
}

static void op_kill(void *impl)
{
    struct eexec *x = impl;
    _cleanup_free_ char *path = NULL;

    if (x->exited)
        return;
    x->kill_asked = true;
    if (!x->id[0] || !x->stream)
        return; /* not started yet: on_created ends it */
    path = xasprintf("/exec/%s/json", x->id);
    x->pending++;
    dext_docker_request(x->t->docker, "GET", path, NULL, 0, on_kill_inspect, x);
}

static void op_free(void *impl)
{
    struct eexec *x = impl;
    bool running = !x->exited && x->stream;

    if (running) {
        /* Nobody reads it any more: the command ends. */
        op_kill(x);
    }
    x->freed = true;
    if (x->stream) {
        dext_docker_call_cancel(x->stream);
        x->stream = NULL;
    }
    eexec_maybe_free(x);
}

static const struct dext_proc_ops eexec_ops = {
    .exited = op_exited,
    .pause = op_pause,
    .resume = op_resume,
    .kill = op_kill,
    .free = op_free,
};

int dext_engine_exec(struct dext_engine_target *t, char *const *argv, char *const *env,
                     const char *cwd, dext_proc_output_cb on_output, dext_proc_exit_cb on_exit,
                     void *data, struct dext_proc **ret)
{
    return dext_engine_exec_as(t, NULL, argv, env, cwd, on_output, on_exit, data, ret);
}

static int exec_start(struct dext_engine_target *t, const char *container, const char *user,
                      char *const *argv, char *const *env, const char *cwd,
                      dext_proc_output_cb on_output, dext_proc_exit_cb on_exit, void *data,
                      struct dext_proc **ret)
{
    struct eexec *x = xcalloc(1, sizeof(*x));
    json_t *cmd = json_array(), *envs = json_array();

    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    for (size_t i = 0; env && env[i]; i++)
        json_array_append_new(envs, json_string(env[i]));
    x->t = t;
    x->cmd0 = xstrdup(argv[0]);
    x->on_output = on_output;
    x->on_exit = on_exit;
    x->data = data;
    x->create = json_pack("{s:b, s:b, s:b, s:o, s:o}", "AttachStdin", 0, "AttachStdout", 1,
                          "AttachStderr", 1, "Cmd", cmd, "Env", envs);
    if (cwd)
        json_object_set_new(x->create, "WorkingDir", json_string(cwd));
    if (user)
        json_object_set_new(x->create, "User", json_string(user));
    x->proc = dext_proc_custom(&eexec_ops, x);
    *ret = x->proc;
    if (container) {
        x->fixed = true;
        x->container = xstrdup(container);
        create_exec(x);
    } else if (t->container) {
        x->container = xstrdup(t->container);
        create_exec(x);
    } else {
        find_container(x);
    }
    return 0;
}

int dext_engine_exec_as(struct dext_engine_target *t, const char *user, char *const *argv,
                        char *const *env, const char *cwd, dext_proc_output_cb on_output,
                        dext_proc_exit_cb on_exit, void *data, struct dext_proc **ret)
{
    return exec_start(t, NULL, user, argv, env, cwd, on_output, on_exit, data, ret);
}

int dext_engine_exec_in(struct dext_engine_target *t, const char *container, char *const *argv,
                        char *const *env, const char *cwd, dext_proc_output_cb on_output,
                        dext_proc_exit_cb on_exit, void *data, struct dext_proc **ret)
{
    return exec_start(t, container, NULL, argv, env, cwd, on_output, on_exit, data, ret);
}

struct dext_engine_target *dext_engine_target_new(uv_loop_t *loop, const char *name,
                                                  const char *image)
{
    struct dext_engine_target *t = xcalloc(1, sizeof(*t));

    if (dext_docker_new(loop, NULL, &t->docker) < 0) {
        free(t);
        return NULL;
    }
    t->name = xstrdup(name);
    t->image = xstrdup(image);
    return t;
}

void dext_engine_target_free(struct dext_engine_target *t)
{
    if (!t)
        return;
    dext_docker_free(t->docker);
    free(t->name);
    free(t->image);
    free(t->container);
    free(t);
}
