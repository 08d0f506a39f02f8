/*
 * h_info.c — the read-only views (docs/api.md "Stats, queue, alerts,
 * audit"): GET /v1/stats, /v1/queue, /v1/alerts, /v1/audit, and the
 * probes and documents anyone may fetch: /healthz, /readyz,
 * /v1/openapi.json, /metrics (common/metrics.c renders it, docs/metrics.md).
 * Account tokens see their account's part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "api/api.h"
#include "common/audit.h"
#include "common/jsonout.h"
#include "common/metrics.h"
#include "common/metrics.h"
#include "common/stats.h"

#define ERRLEN 1024

int api_h_stats(struct api_call *c)
{
    char acct[PSW_ACCOUNT_ID_MAX + 1], err[ERRLEN];
    struct json_object *o = NULL;
    const char *account = api_account(c, api_query(c, "account", acct, sizeof(acct)));
    int rc = account ? psw_stats_account(c->ctx, account, &o, err, sizeof(err))
                     : psw_stats_get(c->ctx, NULL, &o, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail_as(c, rc, err, "account");
    return api_json(c, 200, o);
}

int api_h_queue(struct api_call *c)
{
    char err[ERRLEN];
    struct json_object *o = NULL;
    int rc = psw_queue_get(c->ctx, &o, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    return api_json(c, 200, o);
}

int api_h_alerts(struct api_call *c)
{
    char acct[PSW_ACCOUNT_ID_MAX + 1], err[ERRLEN];
    struct json_object *all = NULL, *v;
    long long since;
    int limit = api_query_limit(c);
    if (limit < 0 || api_query_time(c, "since", &since) < 0)
        return 0;
    const char *account = api_account(c, api_query(c, "account", acct, sizeof(acct)));
    /* Read a generous window, keep the caller's account's part. */
    int rc = psw_alerts_get(c->ctx, since, 10000, &all, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail_as(c, rc, err, "since");
    struct json_object *arr = json_object_new_array();
    size_t n = json_object_array_length(all);
    /* newest first, at most limit */
    for (size_t i = n; arr && i-- > 0 && json_object_array_length(arr) < (size_t)limit;) {
        struct json_object *a = json_object_array_get_idx(all, i);
        if (account && (!json_object_object_get_ex(a, "account_id", &v) || !v ||
                        strcmp(json_object_get_string(v), account) != 0))
            continue;
        json_object_array_add(arr, json_object_get(a));
    }
    json_object_put(all);
    return api_list(c, arr, NULL);
}

int api_h_audit(struct api_call *c)
{
    char acct[PSW_ACCOUNT_ID_MAX + 1], cursor[PSW_AUDIT_CURSOR_SIZE], next[PSW_AUDIT_CURSOR_SIZE];
    char err[ERRLEN];
    struct json_object *arr = NULL;
    int limit = api_query_limit(c);
    if (limit < 0)
        return 0;
    const char *account = api_account(c, api_query(c, "account", acct, sizeof(acct)));
    const char *cur = api_query(c, "cursor", cursor, sizeof(cursor));
    int rc = psw_audit_list(c->ctx, account, cur, (size_t)limit, &arr, next, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail_as(c, rc, err, "cursor");
    return api_list(c, arr, next[0] ? next : NULL);
}

static struct json_object *status_obj(const char *word)
{
    struct json_object *o = json_object_new_object();
    if (o && psw_json_add_str(o, "status", word) < 0) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

int api_h_healthz(struct api_call *c)
{
    return api_json(c, 200, status_obj("ok"));
}

int api_h_readyz(struct api_call *c)
{
    /* Reachable, and the scripts are there (a restarted Redis loses them;
     * the connection reloads them on reconnect). */
    const char *sha = psw_redis_script_sha(c->ctx->redis, PSW_SCRIPT_API_AUTH);
    redisReply *rep = sha ? psw_redis_command(c->ctx->redis, "SCRIPT EXISTS %s", sha) : NULL;
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
             rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer == 1;
    freeReplyObject(rep);
    if (!ok)
        return api_problem(c, 503, NULL, "Redis is not reachable or the scripts are not loaded");
    return api_json(c, 200, status_obj("ready"));
}

int api_h_openapi(struct api_call *c)
{
    free(c->rs->body);
    c->rs->body = malloc(c->env->openapi_len + 1);
    if (!c->rs->body)
        return api_problem(c, 500, NULL, "out of memory");
    memcpy(c->rs->body, c->env->openapi, c->env->openapi_len);
    c->rs->body[c->env->openapi_len] = '\0';
    c->rs->body_len = c->env->openapi_len;
    c->rs->status = 200;
    c->rs->content_type = "application/json";
    return 0;
}

int api_h_metrics(struct api_call *c)
{
    const char *want = c->env->cfg->api_metrics_token;
    if (want && *want) {
        const char *h = c->rq->authorization;
        size_t wl = strlen(want);
        if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != wl ||
            CRYPTO_memcmp(h + 7, want, wl) != 0)
            return api_problem(c, 401, NULL, "/metrics needs api.metrics_token as a bearer token");
    }
    char err[ERRLEN], *text = NULL;
    size_t len = 0;
    if (psw_metrics_render(c->ctx, &text, &len, err, sizeof(err)) != PSW_OK)
        return api_problem(c, 503, NULL, "%s", err);
    free(c->rs->body);
    c->rs->body = text;
    c->rs->body_len = len;
    c->rs->status = 200;
    c->rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
