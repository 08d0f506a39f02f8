/*
 * h_endpoints.c — /v1/endpoints and /v1/endpoints/{id}[/secret|enable|
 * disable|rotate-secret|test|stats] (docs/api.md "Endpoints"), on
 * common/endpoint.h like `psw endpoint …`. Every change is audited.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/jsonout.h"
#include "common/publish.h"
#include "common/sample.h"
#include "common/stats.h"
#include "common/timeutil.h"

#define ERRLEN 1024

/* 400 for a body member not in allowed (NULL-terminated). -1 after answering. */
static int only_fields(struct api_call *c, const char *const *allowed)
{
    json_object_object_foreach(c->body, key, val) {
        (void)val;
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            api_problem(c, 400, key, "%s: unknown field", key);
            return -1;
        }
    }
    return 0;
}

/* "events": "*", a comma list, or an array of type names → a comma list in
 * buf. NULL when absent; *bad after answering 400. */
static const char *events_field(struct api_call *c, char *buf, size_t n, int *bad)
{
    struct json_object *v;
    if (!json_object_object_get_ex(c->body, "events", &v) || !v)
        return NULL;
    if (json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    if (!json_object_is_type(v, json_type_array)) {
        api_problem(c, 400, "events", "events: \"*\" or a list of event types");
        *bad = 1;
        return NULL;
    }
    size_t o = 0, len = json_object_array_length(v);
    buf[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
        size_t l = s ? strlen(s) : 0;
        if (!s || o + l + 2 > n) {
            api_problem(c, 400, "events", "events: \"*\" or a list of event types");
            *bad = 1;
            return NULL;
        }
        if (o)
            buf[o++] = ',';
        memcpy(buf + o, s, l + 1);
        o += l;
    }
    return buf;
}

/* "rate_limit": an integer (the library checks its range). Leaves
 * spec->rate_limit at -1 (not given) when absent. -1 after answering 400. */
static int rate_limit_field(struct api_call *c, struct psw_endpoint_spec *spec)
{
    struct json_object *v;
    if (!json_object_object_get_ex(c->body, "rate_limit", &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_int)) {
        api_problem(c, 400, "rate_limit", "rate_limit: must be an integer");
        return -1;
    }
    long long n = (long long)json_object_get_int64(v);
    /* -1 means "not given" in the spec: any negative value goes on as one
     * the library refuses with its own message. */
    spec->rate_limit = n < 0 ? LLONG_MIN : n;
    return 0;
}

/* "ordered": true or false. Leaves spec->ordered at -1 (not given) when
 * absent. -1 after answering 400. */
static int ordered_field(struct api_call *c, struct psw_endpoint_spec *spec)
{
    struct json_object *v;
    if (!json_object_object_get_ex(c->body, "ordered", &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean)) {
        api_problem(c, 400, "ordered", "ordered: must be true or false");
        return -1;
    }
    spec->ordered = json_object_get_boolean(v) ? 1 : 0;
    return 0;
}

/* "headers": an array of "Name: value" strings replacing the whole set ([]
 * clears it); the library checks each line (common/headers.h). *lines
 * (malloc'd, the caller frees it) points into c->body. -1 after answering. */
static int headers_field(struct api_call *c, struct psw_endpoint_spec *spec,
                         const char ***lines)
{
    struct json_object *v;
    *lines = NULL;
    if (!json_object_object_get_ex(c->body, "headers", &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_array)) {
        api_problem(c, 400, "headers", "headers: must be an array of \"Name: value\" strings");
        return -1;
    }
    size_t n = json_object_array_length(v);
    if (n > 0 && !(*lines = malloc(n * sizeof(**lines)))) {
        api_problem(c, 500, NULL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string)) {
            api_problem(c, 400, "headers", "headers: must be an array of \"Name: value\" strings");
            return -1;
        }
        (*lines)[i] = json_object_get_string(e);
    }
    spec->set_headers = 1;
    spec->headers = *lines;
    spec->nheaders = n;
    return 0;
}

/* "batch": {"max_events": N, "max_wait": "500ms" (or ms as an integer)},
 * or null to turn batching off (docs/api.md); the library checks the
 * ranges. Leaves the spec's batch fields at -1 when absent. -1 after
 * answering 400. */
static int batch_field(struct api_call *c, struct psw_endpoint_spec *spec)
{
    struct json_object *v, *f;
    if (!json_object_object_get_ex(c->body, "batch", &v))
        return 0;
    if (!v) {
        spec->batch_max_events = 0;
        return 0;
    }
    if (!json_object_is_type(v, json_type_object)) {
        api_problem(c, 400, "batch",
                    "batch: must be an object {\"max_events\": N, \"max_wait\": \"500ms\"} or null");
        return -1;
    }
    json_object_object_foreach(v, key, val) {
        (void)val;
        if (strcmp(key, "max_events") != 0 && strcmp(key, "max_wait") != 0) {
            api_problem(c, 400, "batch", "batch: unknown field \"%.40s\" (max_events, max_wait)",
                        key);
            return -1;
        }
    }
    if (json_object_object_get_ex(v, "max_events", &f)) {
        if (!f || !json_object_is_type(f, json_type_int)) {
            api_problem(c, 400, "batch.max_events", "batch.max_events: must be an integer");
            return -1;
        }
        long long n = (long long)json_object_get_int64(f);
        spec->batch_max_events = n < 0 ? LLONG_MIN : n; /* refused by the library */
    }
    if (json_object_object_get_ex(v, "max_wait", &f)) {
        int64_t ms = 0;
        if (f && json_object_is_type(f, json_type_int)) {
            long long n = (long long)json_object_get_int64(f);
            ms = n < 0 ? LLONG_MIN : n;
        } else if (!f || !json_object_is_type(f, json_type_string) ||
                   psw_duration_parse(json_object_get_string(f), &ms) < 0) {
            api_problem(c, 400, "batch.max_wait",
                        "batch.max_wait: must be a duration like \"500ms\" or \"2s\", or "
                        "milliseconds as an integer");
            return -1;
        }
        spec->batch_max_wait_ms = ms;
    }
    return 0;
}

/* Fills spec from the body; *lines as headers_field (free it, also after a
 * failure). -1 after answering 400. */
static int spec_from_body(struct api_call *c, struct psw_endpoint_spec *spec, char *evbuf,
                          size_t evn, const char ***lines)
{
    int bad = 0;
    *lines = NULL;
    spec->account_id = api_body_str(c, "account_id", &bad);
    spec->url = api_body_str(c, "url", &bad);
    spec->domain = api_body_str(c, "domain", &bad);
    spec->description = api_body_str(c, "description", &bad);
    spec->secret = api_body_str(c, "secret", &bad);
    spec->signing = api_body_str(c, "signing", &bad);
    if (!bad)
        spec->events = events_field(c, evbuf, evn, &bad);
    if (!bad && (rate_limit_field(c, spec) < 0 || headers_field(c, spec, lines) < 0 ||
                 batch_field(c, spec) < 0))
        bad = 1;
    if (!bad && ordered_field(c, spec) < 0)
        bad = 1;
    return bad ? -1 : 0;
}

int api_h_endpoints_list(struct api_call *c)
{
    char acct[PSW_ACCOUNT_ID_MAX + 1], cursor[PSW_ID_SIZE + 8], err[ERRLEN];
    struct psw_endpoint *eps = NULL;
    size_t n = 0;
    int limit = api_query_limit(c);
    if (limit < 0)
        return 0;
    const char *account = api_account(c, api_query(c, "account", acct, sizeof(acct)));
    const char *cur = api_query(c, "cursor", cursor, sizeof(cursor));
    int rc = psw_endpoint_list(c->ctx, account, &eps, &n, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    /* The list is sorted by created_at then id; the cursor is the last id
     * of the previous page. */
    size_t start = 0;
    if (cur && *cur) {
        if (!psw_id_valid("ep_", cur)) {
            psw_endpoint_list_free(eps, n);
            return api_problem(c, 400, "cursor", "cursor: not a cursor this list gave out");
        }
        while (start < n && strcmp(eps[start].id, cur) != 0)
            start++;
        if (start < n)
            start++;
        else /* the endpoint of the cursor is gone: continue after its id */
            for (start = 0; start < n && strcmp(eps[start].id, cur) <= 0; start++)
                ;
    }
    struct json_object *arr = json_object_new_array();
    size_t i;
    for (i = start; arr && i < n && i < start + (size_t)limit; i++)
        if (json_object_array_add(arr, psw_endpoint_to_json(&eps[i], 0)) < 0) {
            json_object_put(arr);
            arr = NULL;
        }
    const char *next = i < n && i > 0 ? eps[i - 1].id : NULL;
    char next_buf[PSW_ID_SIZE];
    snprintf(next_buf, sizeof(next_buf), "%s", next ? next : "");
    psw_endpoint_list_free(eps, n);
    return api_list(c, arr, next ? next_buf : NULL);
}

int api_h_endpoints_create(struct api_call *c)
{
    static const char *const allowed[] = { "account_id", "url", "domain", "events", "secret",
                                           "description", "signing", "rate_limit",
                                           "headers", "batch", "ordered", NULL };
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 };
    char evbuf[512], err[ERRLEN];
    const char **lines = NULL;

    if (only_fields(c, allowed) < 0 ||
        spec_from_body(c, &spec, evbuf, sizeof(evbuf), &lines) < 0)
        goto done;
    if (!c->auth.admin) {
        if (spec.account_id && strcmp(spec.account_id, c->auth.account) != 0) {
            api_problem(c, 400, "account_id",
                        "account_id: an account token creates endpoints only in its "
                        "own account");
            goto done;
        }
        spec.account_id = c->auth.account;
    } else if (!spec.account_id) {
        api_problem(c, 400, "account_id", "account_id: required");
        goto done;
    }
    if (!spec.url) {
        api_problem(c, 400, "url", "url: required");
        goto done;
    }
    int rc = psw_endpoint_create(c->ctx, &spec, &ep, err, sizeof(err));
    if (rc != PSW_OK) {
        api_fail(c, rc, err);
        goto done;
    }
    api_audit(c, "endpoint.create", ep.id, ep.account_id);
    api_json(c, 201, psw_endpoint_to_json(&ep, 1));
    psw_endpoint_free(&ep);
done:
    free(lines);
    return 0;
}

int api_h_endpoint_get(struct api_call *c)
{
    struct psw_endpoint ep;
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    api_json(c, 200, psw_endpoint_to_json(&ep, 0));
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_update(struct api_call *c)
{
    static const char *const allowed[] = { "account_id", "url", "domain", "events",
                                           "description", "signing", "rate_limit",
                                           "headers", "batch", "ordered", NULL };
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    char evbuf[512], err[ERRLEN];

    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    psw_endpoint_free(&ep);
    const char **lines = NULL;
    if (only_fields(c, allowed) < 0 ||
        spec_from_body(c, &spec, evbuf, sizeof(evbuf), &lines) < 0) {
        free(lines);
        return 0;
    }
    int rc = psw_endpoint_update(c->ctx, c->param, &spec, &ep, err, sizeof(err));
    free(lines);
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    api_audit(c, "endpoint.update", ep.id, ep.account_id);
    api_json(c, 200, psw_endpoint_to_json(&ep, 0));
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_delete(struct api_call *c)
{
    struct psw_endpoint ep;
    char err[ERRLEN];
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    int rc = psw_endpoint_delete(c->ctx, c->param, err, sizeof(err));
    if (rc == PSW_OK) {
        api_audit(c, "endpoint.delete", ep.id, ep.account_id);
        api_no_content(c);
    } else {
        api_fail(c, rc, err);
    }
    psw_endpoint_free(&ep);
    return 0;
}

static struct json_object *secrets_json(const struct psw_endpoint *ep)
{
    struct json_object *o = json_object_new_object();
    if (o && (psw_json_add_str_or_null(o, "secret", ep->secret) < 0 ||
              psw_json_add_str_or_null(o, "secret_prev", ep->secret_prev) < 0 ||
              psw_json_add_time(o, "secret_prev_until",
                                ep->secret_prev && *ep->secret_prev ? ep->secret_prev_until
                                                                    : 0) < 0)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

int api_h_endpoint_secret(struct api_call *c)
{
    struct psw_endpoint ep;
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    if (strcmp(ep.status, "deleted") == 0)
        api_problem(c, 404, NULL, "no such object");
    else if (ep.secret_error[0])
        api_problem(c, 500, NULL, "%s", ep.secret_error);
    else
        api_json(c, 200, secrets_json(&ep));
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_enable(struct api_call *c)
{
    struct psw_endpoint ep;
    char err[ERRLEN];
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    psw_endpoint_free(&ep);
    int rc = psw_endpoint_enable(c->ctx, c->param, &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    api_audit(c, "endpoint.enable", ep.id, ep.account_id);
    api_json(c, 200, psw_endpoint_to_json(&ep, 0));
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_disable(struct api_call *c)
{
    static const char *const allowed[] = { "reason", NULL };
    struct psw_endpoint ep;
    char err[ERRLEN], who[PSW_TOKEN_NAME_MAX + 40];
    int bad = 0;
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    psw_endpoint_free(&ep);
    if (only_fields(c, allowed) < 0)
        return 0;
    const char *reason = api_body_str(c, "reason", &bad);
    if (bad)
        return 0;
    snprintf(who, sizeof(who), "api:%s", c->auth.actor);
    int rc = psw_endpoint_disable(c->ctx, c->param, reason, who, &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    api_audit(c, "endpoint.disable", ep.id, ep.account_id);
    api_json(c, 200, psw_endpoint_to_json(&ep, 0));
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_rotate(struct api_call *c)
{
    static const char *const allowed[] = { "secret", "grace", NULL };
    struct psw_endpoint ep;
    char err[ERRLEN];
    int bad = 0;
    int64_t grace = -1;
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    psw_endpoint_free(&ep);
    if (only_fields(c, allowed) < 0)
        return 0;
    const char *secret = api_body_str(c, "secret", &bad);
    const char *g = api_body_str(c, "grace", &bad);
    if (bad)
        return 0;
    if (g && psw_duration_parse(g, &grace) < 0)
        return api_problem(c, 400, "grace", "grace: a duration like 24h, 30m or 0");
    int rc = psw_endpoint_rotate_secret(c->ctx, c->param, secret, grace, &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    api_audit(c, "endpoint.rotate_secret", ep.id, ep.account_id);
    api_json(c, 200, secrets_json(&ep));
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_test(struct api_call *c)
{
    static const char *const allowed[] = { "type", NULL };
    struct psw_endpoint ep;
    struct psw_publish_result res;
    char err[ERRLEN];
    int bad = 0;
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    if (only_fields(c, allowed) < 0) {
        psw_endpoint_free(&ep);
        return 0;
    }
    const char *type = api_body_str(c, "type", &bad);
    if (bad || !type) {
        psw_endpoint_free(&ep);
        return bad ? 0 : api_problem(c, 400, "type", "type: required (an event type)");
    }
    int rc = psw_sample_test(c->ctx, &ep, type, &res, err, sizeof(err));
    if (rc == PSW_OK) {
        api_audit(c, "endpoint.test", ep.id, ep.account_id);
        struct json_object *o = json_object_new_object();
        if (o && (psw_json_add_str(o, "event_id", res.event_id) < 0 ||
                  psw_json_add_int(o, "deliveries", res.deliveries) < 0)) {
            json_object_put(o);
            o = NULL;
        }
        api_json(c, 202, o);
    } else {
        api_fail(c, rc, err);
    }
    psw_endpoint_free(&ep);
    return 0;
}

int api_h_endpoint_stats(struct api_call *c)
{
    struct psw_endpoint ep;
    struct json_object *o = NULL;
    char err[ERRLEN];
    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    psw_endpoint_free(&ep);
    int rc = psw_stats_get(c->ctx, c->param, &o, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    return api_json(c, 200, o);
}
