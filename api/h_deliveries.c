/*
 * h_deliveries.c — the delivery log and replay (docs/api.md "Deliveries"):
 * GET /v1/endpoints/{id}/deliveries, GET /v1/deliveries/{id},
 * POST /v1/deliveries/{id}/replay, POST /v1/endpoints/{id}/replay, on
 * common/delivery.h like `psw deliveries`, `psw delivery show`, `psw replay`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/delivery.h"
#include "common/jsonout.h"
#include "common/timeutil.h"

#define ERRLEN 1024

int api_h_endpoint_deliveries(struct api_call *c)
{
    char state[160], type[400], cursor[PSW_DELIVERY_CURSOR_SIZE], next[PSW_DELIVERY_CURSOR_SIZE];
    char err[ERRLEN];
    struct psw_endpoint ep;
    struct psw_delivery *list = NULL;
    size_t n = 0;
    long long since, until;

    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    psw_endpoint_free(&ep);
    int limit = api_query_limit(c);
    if (limit < 0 || api_query_time(c, "since", &since) < 0 ||
        api_query_time(c, "until", &until) < 0)
        return 0;
    struct psw_delivery_query q = { 0 };
    q.endpoint_id = c->param;
    q.states = api_query(c, "state", state, sizeof(state));
    q.types = api_query(c, "type", type, sizeof(type));
    q.cursor = api_query(c, "cursor", cursor, sizeof(cursor));
    q.since = since;
    q.until = until;
    q.limit = (size_t)limit;
    int rc = psw_delivery_page(c->ctx, &q, &list, &n, next, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail_as(c, rc, err, strncmp(err, "state", 5) == 0 ? "state" : "since");
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_object_array_add(arr, psw_delivery_to_json(&list[i])) < 0) {
            json_object_put(arr);
            arr = NULL;
        }
    psw_delivery_list_free(list, n);
    return api_list(c, arr, next[0] ? next : NULL);
}

/* Loads the delivery when the caller may see it; else 404 like a missing id. */
static int delivery_visible(struct api_call *c, struct psw_delivery_detail *dd)
{
    char err[ERRLEN];
    memset(dd, 0, sizeof(*dd));
    /* a batch (bat_…) is read and replayed like a delivery (docs/api.md) */
    if (!c->param || (!psw_id_valid("dlv_", c->param) && !psw_id_valid("bat_", c->param))) {
        api_problem(c, 404, NULL, "no such object");
        return -1;
    }
    int rc = psw_delivery_get(c->ctx, c->param, dd, err, sizeof(err));
    if (rc == PSW_OK && !c->auth.admin) {
        const char *acct = dd->d.account_id;
        struct psw_endpoint ep = { 0 };
        if ((!acct || !*acct) && dd->d.endpoint_id &&
            psw_endpoint_get(c->ctx, dd->d.endpoint_id, &ep, err, sizeof(err)) == PSW_OK)
            acct = ep.account_id;
        if (!acct || strcmp(acct, c->auth.account) != 0)
            rc = PSW_ENOTFOUND;
        psw_endpoint_free(&ep);
    }
    if (rc != PSW_OK) {
        psw_delivery_detail_free(dd);
        api_fail(c, rc, err);
        return -1;
    }
    return 0;
}

int api_h_delivery_get(struct api_call *c)
{
    struct psw_delivery_detail dd;
    if (delivery_visible(c, &dd) < 0)
        return 0;
    api_json(c, 200, psw_delivery_detail_to_json(&dd));
    psw_delivery_detail_free(&dd);
    return 0;
}

int api_h_delivery_replay(struct api_call *c)
{
    struct psw_delivery_detail dd;
    struct psw_replay_result res;
    struct psw_replay_options opt = { 0 };
    char err[ERRLEN], account[PSW_ACCOUNT_ID_MAX + 1];

    if (json_object_object_length(c->body) > 0)
        return api_problem(c, 400, "body", "body: this operation takes no fields");
    if (delivery_visible(c, &dd) < 0)
        return 0;
    snprintf(account, sizeof(account), "%s", dd.d.account_id ? dd.d.account_id : "");
    psw_delivery_detail_free(&dd);
    const char *ids[] = { c->param };
    int rc = psw_replay_ids(c->ctx, ids, 1, &opt, &res, err, sizeof(err));
    if (rc < 0)
        return api_fail(c, rc, err);
    api_audit(c, "delivery.replay", c->param, account);
    struct json_object *o = json_object_new_object();
    if (o && (psw_json_add_str(o, "id", res.id) < 0 || psw_json_add_str(o, "result", res.result) < 0)) {
        json_object_put(o);
        o = NULL;
    }
    return api_json(c, 202, o);
}

/* "states": a list of state names → "a,b" in buf. NULL when absent. */
static const char *states_field(struct api_call *c, char *buf, size_t n, int *bad)
{
    struct json_object *v;
    if (!json_object_object_get_ex(c->body, "states", &v) || !v)
        return NULL;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
        api_problem(c, 400, "states", "states: a non-empty list of delivery states");
        *bad = 1;
        return NULL;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
        size_t l = s ? strlen(s) : 0;
        if (!s || l == 0 || strchr(s, ',') || o + l + 2 > n) {
            api_problem(c, 400, "states", "states: a non-empty list of delivery states");
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

static int body_time(struct api_call *c, const char *name, int required, long long *ms)
{
    int bad = 0;
    int64_t v;
    const char *s = api_body_str(c, name, &bad);
    *ms = 0;
    if (bad)
        return -1;
    if (!s) {
        if (required)
            api_problem(c, 400, name, "%s: required (ISO 8601, or an age like 2h)", name);
        return required ? -1 : 0;
    }
    if (psw_time_parse_arg(s, psw_now_ms(), &v) < 0) {
        api_problem(c, 400, name, "%s: not a time (ISO 8601, or an age like 2h)", name);
        return -1;
    }
    *ms = v;
    return 0;
}

int api_h_endpoint_replay(struct api_call *c)
{
    struct psw_endpoint ep;
    struct psw_replay_options opt = { 0 };
    char states[160], err[ERRLEN];
    long long since, until;
    int bad = 0;
    size_t matched = 0;

    if (api_endpoint_visible(c, c->param, &ep) < 0)
        return 0;
    json_object_object_foreach(c->body, key, val) {
        (void)val;
        if (strcmp(key, "since") && strcmp(key, "until") && strcmp(key, "states") &&
            strcmp(key, "dry_run")) {
            psw_endpoint_free(&ep);
            return api_problem(c, 400, key, "%s: unknown field", key);
        }
    }
    struct json_object *dr;
    if (json_object_object_get_ex(c->body, "dry_run", &dr) && dr) {
        if (!json_object_is_type(dr, json_type_boolean)) {
            psw_endpoint_free(&ep);
            return api_problem(c, 400, "dry_run", "dry_run: true or false");
        }
        opt.dry_run = json_object_get_boolean(dr);
    }
    const char *st = states_field(c, states, sizeof(states), &bad);
    if (bad || body_time(c, "since", 1, &since) < 0 || body_time(c, "until", 0, &until) < 0) {
        psw_endpoint_free(&ep);
        return 0;
    }
    int rc = psw_replay_range(c->ctx, c->param, since, until, st, &opt, &matched, err,
                              sizeof(err));
    if (rc < 0) {
        psw_endpoint_free(&ep);
        return api_fail_as(c, rc, err, strncmp(err, "state", 5) == 0 ? "states" : "since");
    }
    if (!opt.dry_run)
        api_audit(c, "endpoint.replay", ep.id, ep.account_id);
    psw_endpoint_free(&ep);
    struct json_object *o = json_object_new_object();
    if (o && (psw_json_add_int(o, "matched", (long long)matched) < 0 ||
              psw_json_add_int(o, "queued", opt.dry_run ? 0 : rc) < 0)) {
        json_object_put(o);
        o = NULL;
    }
    return api_json(c, 200, o);
}
