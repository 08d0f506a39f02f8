/*
 * router.c — the route table of psw-api (docs/api.md) and the dispatch:
 * match method and path, authenticate as the route asks, parse the JSON
 * body of routes that take one, call the handler. Everything here works on
 * struct api_request alone, without a socket (tests/fuzz/fuzz_api.c).
 *
 * A path is "<prefix>{}<suffix>" with at most one parameter, which matches
 * one non-empty segment. A known path with another method is 405.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "api/assets.h"

enum who {
    ANYONE,   /* no token */
    ANY_TOKEN, /* admin or account token, or a session */
    ADMIN,    /* admin token (or admin session) */
};

struct route {
    const char *method;
    const char *path;
    enum who who;
    int body;      /* 1: a JSON object body is required; 2: optional (empty = {}) */
    int (*handler)(struct api_call *c);
};

static const struct route routes[] = {
    { "POST", "/v1/events", ADMIN, 1, api_h_events },
    { "GET", "/v1/endpoints", ANY_TOKEN, 0, api_h_endpoints_list },
    { "POST", "/v1/endpoints", ANY_TOKEN, 1, api_h_endpoints_create },
    { "GET", "/v1/endpoints/{}", ANY_TOKEN, 0, api_h_endpoint_get },
    { "PATCH", "/v1/endpoints/{}", ANY_TOKEN, 1, api_h_endpoint_update },
    { "DELETE", "/v1/endpoints/{}", ANY_TOKEN, 0, api_h_endpoint_delete },
    { "GET", "/v1/endpoints/{}/secret", ANY_TOKEN, 0, api_h_endpoint_secret },
    { "POST", "/v1/endpoints/{}/enable", ANY_TOKEN, 2, api_h_endpoint_enable },
    { "POST", "/v1/endpoints/{}/disable", ANY_TOKEN, 2, api_h_endpoint_disable },
    { "POST", "/v1/endpoints/{}/rotate-secret", ANY_TOKEN, 2, api_h_endpoint_rotate },
    { "POST", "/v1/endpoints/{}/test", ANY_TOKEN, 1, api_h_endpoint_test },
    { "GET", "/v1/endpoints/{}/deliveries", ANY_TOKEN, 0, api_h_endpoint_deliveries },
    { "POST", "/v1/endpoints/{}/replay", ANY_TOKEN, 1, api_h_endpoint_replay },
    { "GET", "/v1/endpoints/{}/stats", ANY_TOKEN, 0, api_h_endpoint_stats },
    { "GET", "/v1/deliveries/{}", ANY_TOKEN, 0, api_h_delivery_get },
    { "POST", "/v1/deliveries/{}/replay", ANY_TOKEN, 2, api_h_delivery_replay },
    { "GET", "/v1/tokens", ADMIN, 0, api_h_tokens_list },
    { "POST", "/v1/tokens", ADMIN, 1, api_h_tokens_create },
    { "DELETE", "/v1/tokens/{}", ADMIN, 0, api_h_token_delete },
    { "GET", "/v1/stats", ANY_TOKEN, 0, api_h_stats },
    { "GET", "/v1/queue", ADMIN, 0, api_h_queue },
    { "GET", "/v1/alerts", ANY_TOKEN, 0, api_h_alerts },
    { "GET", "/v1/audit", ANY_TOKEN, 0, api_h_audit },
    { "POST", "/v1/accounts/{}/dashboard-links", ADMIN, 2, api_h_dashboard_link },
    { "POST", "/v1/session", ANYONE, 1, api_h_session_create },
    { "GET", "/v1/session", ANY_TOKEN, 0, api_h_session_get },
    { "DELETE", "/v1/session", ANYONE, 0, api_h_session_delete },
    { "GET", "/v1/openapi.json", ANYONE, 0, api_h_openapi },
    { "GET", "/healthz", ANYONE, 0, api_h_healthz },
    { "GET", "/readyz", ANYONE, 0, api_h_readyz },
    { "GET", "/metrics", ANYONE, 0, api_h_metrics },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* 1 when path matches pattern; param receives the {} segment. */
static int match(const char *pattern, const char *path, char *param, size_t n)
{
    const char *slot = strstr(pattern, "{}");
    if (!slot)
        return strcmp(pattern, path) == 0;
    size_t pre = (size_t)(slot - pattern);
    const char *suffix = slot + 2;
    size_t sl = strlen(suffix), l = strlen(path);
    if (l < pre + sl + 1 || strncmp(path, pattern, pre) != 0 ||
        strcmp(path + l - sl, suffix) != 0)
        return 0;
    size_t pl = l - pre - sl;
    if (pl >= n || memchr(path + pre, '/', pl))
        return 0;
    memcpy(param, path + pre, pl);
    param[pl] = '\0';
    return 1;
}

int api_route_match(const char *method, const char *path, char *param, size_t n)
{
    int known_path = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!match(routes[i].path, path, param, n))
            continue;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            return (int)i;
        known_path = 1;
    }
    return known_path ? -2 : -1;
}

/* ---- pages outside /v1 -------------------------------------------------
 * The dashboard (docs/dashboard.md) is served from here: GET / and
 * GET /assets/..., the files of api/web/ embedded at build time (api/assets.h),
 * each with the Content-Security-Policy of psw_asset_headers. */
static int serve_site(struct api_call *c)
{
    const struct psw_asset *a = psw_asset_find(c->rq->path);
    if (!a)
        return api_problem(c, 404, NULL, "no such page: %s", c->rq->path);
    c->rs->body = malloc(a->len + 1);
    if (!c->rs->body)
        return api_problem(c, 500, NULL, "out of memory");
    memcpy(c->rs->body, a->data, a->len + 1);
    c->rs->body_len = a->len;
    c->rs->status = 200;
    c->rs->content_type = a->content_type;
    for (const struct psw_asset_header *hd = psw_asset_headers; hd->name; hd++)
        api_header(c->rs, hd->name, hd->value);
    return 0;
}

void api_handle(const struct api_env *env, const struct api_request *rq, struct api_response *rs)
{
    struct api_call c;
    memset(&c, 0, sizeof(c));
    memset(rs, 0, sizeof(*rs));
    c.env = env;
    c.rq = rq;
    c.rs = rs;

    int r = api_route_match(rq->method, rq->path, c.param_buf, sizeof(c.param_buf));
    if (r == -1) {
        if ((strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0) &&
            strncmp(rq->path, "/v1/", 4) != 0)
            serve_site(&c);
        else
            api_problem(&c, 404, NULL, "no such route: %s %s", rq->method, rq->path);
        goto done;
    }
    if (r == -2) {
        api_problem(&c, 405, NULL, "%s is not allowed on %s", rq->method, rq->path);
        goto done;
    }
    const struct route *rt = &routes[r];
    c.param = strstr(rt->path, "{}") ? c.param_buf : NULL;
    /* Size before anything else: an oversized body is refused unread. */
    if (rq->body_too_large) {
        api_problem(&c, 413, "body", "the body is larger than api.max_body_bytes (%d bytes)",
                    env->cfg->api_max_body_bytes);
        goto done;
    }
    /* /healthz and /openapi.json answer without Redis; the rest need it. */
    if (rt->handler != api_h_healthz && rt->handler != api_h_openapi) {
        c.ctx = env->ctx ? env->ctx(env->ctx_arg) : NULL;
        if (!c.ctx) {
            api_problem(&c, 503, NULL, "Redis is not reachable");
            goto done;
        }
    }
    if (rt->who != ANYONE && api_authenticate(&c) < 0)
        goto done;
    if (rt->who == ADMIN && api_require_admin(&c) < 0)
        goto done;
    if (rt->body && api_body_object(&c, rt->body == 2) < 0)
        goto done;
    rt->handler(&c);
done:
    json_object_put(c.body);
    if (rs->status == 0)
        api_problem(&c, 500, NULL, "no answer");
}
