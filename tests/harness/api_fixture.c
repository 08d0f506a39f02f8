/*
 * api_fixture.c — a deployment plus psw-api for the API's black-box tests
 * (see api_fixture.h). Owns nothing beyond the psw-api process: the cluster
 * is the caller's, replies go to the harness's keep list.
 */
#include "tests/harness/api_fixture.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tests/harness/openapi.h"

#define READY_MS 10000

static int api_up(void *arg)
{
    const struct api_fixture *f = arg;
    struct api_reply r;
    int ok = api_do(f->base, "GET", "/readyz", NULL, NULL, &r) == 0 && r.status == 200;
    api_reply_free(&r);
    return ok;
}

void api_fixture_start(struct api_fixture *f, const char *const *extra)
{
    int port = api_free_port();
    assert_true(port > 0);
    const char *lines[16];
    size_t n = 0;
    char listen[64];
    snprintf(listen, sizeof(listen), "api.listen: 127.0.0.1:%d", port);
    lines[n++] = listen;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        lines[n++] = extra[i];
    lines[n] = NULL;
    assert_int_equal(cluster_start(f->c, lines, 1, 1), 0);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", port);
    snprintf(f->log, sizeof(f->log), "%s/api.log", f->c->dir);
    f->record[0] = '\0';
    const char *argv[] = { "--config", f->c->config_path, NULL };
    f->pid = proc_spawn("psw-api", argv, f->log);
    assert_true(f->pid > 0);
    if (wait_until(api_up, f, READY_MS, 20) < 0) {
        file_tail(f->log, 30);
        fail_msg("psw-api did not become ready");
    }
    assert_int_equal(api_fixture_token(f, "admin", NULL, f->admin, sizeof(f->admin)), 0);
}

void api_fixture_record(struct api_fixture *f)
{
    snprintf(f->record, sizeof(f->record), "%s/record.jsonl", f->c->dir);
    setenv("PSW_API_RECORD", f->record, 1);
}

void api_fixture_stop(struct api_fixture *f)
{
    unsetenv("PSW_API_RECORD");
    if (f->pid > 0) {
        int st = proc_stop(f->pid, SIGTERM, 10000);
        if (!f->ok || !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            file_tail(f->log, 40);
        f->pid = -1;
    }
    cluster_stop(f->c, !f->ok);
    f->ok = 0;
    harness_kept_free();
}

int api_fixture_teardown(void **state)
{
    api_fixture_stop(*state);
    return 0;
}

void api_fixture_check_openapi(struct api_fixture *f, int coverage)
{
    unsetenv("PSW_API_RECORD");
    char *out = NULL;
    const char *files[] = { f->record, NULL };
    int rc = harness_openapi_check(NULL, files, coverage, &out);
    if (rc != 0) {
        harness_keep(out ? out : strdup(""));
        fail_msg("openapi-check: exit %d\n%s", rc, out ? out : "");
    }
    print_message("%s", out ? out : "");
    free(out);
}

void api_fixture_problem(const struct api_reply *r, const char *field)
{
    assert_string_equal(r->content_type, "application/problem+json");
    assert_non_null(api_json_str(r, "title"));
    assert_non_null(api_json_str(r, "detail"));
    if (field)
        assert_string_equal(api_json_str(r, "field"), field);
}

int api_fixture_token(struct api_fixture *f, const char *name, const char *account, char *out,
                      size_t n)
{
    const char *argv[10];
    int a = 0;
    argv[a++] = "--config";
    argv[a++] = f->c->config_path;
    argv[a++] = "--json";
    argv[a++] = "token";
    argv[a++] = "create";
    argv[a++] = "--name";
    argv[a++] = name;
    if (account) {
        argv[a++] = "--account";
        argv[a++] = account;
    }
    argv[a] = NULL;
    char *o = NULL, *e = NULL;
    int rc = proc_run("psw", argv, NULL, &o, &e, 20000);
    struct json_object *j = o ? json_tokener_parse(o) : NULL, *v;
    int ok = rc == 0 && j && json_object_object_get_ex(j, "token", &v);
    if (ok)
        snprintf(out, n, "%s", json_object_get_string(v));
    else
        fprintf(stderr, "psw token create: %d %s %s\n", rc, o ? o : "", e ? e : "");
    json_object_put(j);
    free(o);
    free(e);
    return ok ? 0 : -1;
}

struct api_reply *api_fixture_req(struct api_fixture *f, int want, const char *method,
                                  const char *path, const char *token, const char *body)
{
    struct api_reply *r = harness_keep(calloc(1, sizeof(*r)));
    api_do(f->base, method, path, token, body, r);
    /* the kept copies own body and JSON until harness_kept_free() */
    if (r->json)
        harness_keep_json(r->json);
    if (r->body)
        harness_keep(r->body);
    if (r->status != want)
        fail_msg("%s %s %s: want %d, got %d: %s", method, path, body ? body : "", want,
                 r->status, r->body ? r->body : "");
    return r;
}
