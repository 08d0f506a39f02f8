/*
 * stats.c — counters (psw:stats, psw:endpoint:<id>:stats), the queues with
 * the live workers and schedulers (queue_info.lua, one consistent snapshot
 * on Redis's clock) and the alerts stream, each as a JSON value for
 * psw stats / psw queue / psw alerts and the HTTP API.
 *
 * Invariants: every documented counter is present in the output, as an
 * integer (0 when Redis has none yet), so a consumer never needs to test
 * for a missing key; times are ISO 8601 strings or null.
 *
 * Ownership: each function hands back one new json-c object in *out that
 * the caller json_object_put()s; *out is NULL whenever it fails.
 */
#include "common/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/endpoint.h"
#include "common/ids.h"
#include "common/jsonout.h"
#include "common/reply.h"
#include "common/timeutil.h"
#include "psw_scripts.h"

#define ALERTS_DEFAULT 100
/* the dashboard's window (docs/dashboard.md): the last 24 h, states read from
 * the newest WINDOW_LOOK deliveries of it */
#define WINDOW_MS (24LL * 3600 * 1000)
#define WINDOW_LOOK 1000
#define ALERTS_MAX 100000

/* docs/redis.md, in its order, plus what replay counts. */
static const char *const global_counters[] = {
    "events_published", "deliveries_created", "attempts", "delivered", "failed_attempts",
    "retries_scheduled", "failed", "skipped", "endpoints_disabled", "recovered", "replayed",
};

static const char *const endpoint_counters[] = {
    "attempts", "delivered", "failed_attempts", "failed", "skipped",
};

/* ---- psw stats ---------------------------------------------------------- */

/* Adds deliveries_24h (created in the last 24 h, exact), and over the newest
 * of those (at most WINDOW_LOOK, counted in sampled_24h) delivered_24h,
 * failed_24h, skipped_24h and success_rate_24h = delivered / (delivered +
 * failed + skipped), null while none of them has finished. A skipped delivery
 * (endpoint disabled) is an event the receiver never got, so it counts
 * against the rate; deliveries still on their way count on neither side. */
static int add_window(struct psw_ctx *ctx, const char *endpoint_id, struct json_object *o,
                      char *err, size_t errlen)
{
    char lower[32], look[16];
    int bad = 0;

    snprintf(lower, sizeof(lower), "%lld", (long long)psw_now_ms() - WINDOW_MS);
    snprintf(look, sizeof(look), "%d", WINDOW_LOOK);
    const char *argv[] = { ctx->cfg->redis_prefix, endpoint_id, lower, look };
    redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_ENDPOINT_WINDOW, 4, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 5) {
        int rc = psw_ctx_redis_failure(ctx, rep, "endpoint_window", err, errlen);
        freeReplyObject(rep);
        return rc;
    }
    long long delivered = psw_reply_int(rep, 2, 0), failed = psw_reply_int(rep, 3, 0);
    long long finished = delivered + failed + psw_reply_int(rep, 4, 0);
    bad |= psw_json_add_int(o, "deliveries_24h", psw_reply_int(rep, 0, 0));
    bad |= psw_json_add_int(o, "sampled_24h", psw_reply_int(rep, 1, 0));
    bad |= psw_json_add_int(o, "delivered_24h", delivered);
    bad |= psw_json_add_int(o, "failed_24h", failed);
    bad |= psw_json_add_int(o, "skipped_24h", psw_reply_int(rep, 4, 0));
    bad |= psw_json_add(o, "success_rate_24h",
                        finished > 0 ? json_object_new_double((double)delivered / (double)finished)
                                     : NULL);
    freeReplyObject(rep);
    if (bad) {
        snprintf(err, errlen, "out of memory");
        return PSW_EFAIL;
    }
    return PSW_OK;
}

static int is_listed(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return 1;
    return 0;
}

static int is_int(const char *s)
{
    /* psw_parse_ll falls back to def only when s is not a number */
    return psw_parse_ll(s, -1) == psw_parse_ll(s, 0);
}

/* ---- cluster mode: one document over all shards (docs/redis.md) ---- */

/* Set while the shards' documents are fetched one by one, so that those
 * calls do not merge again. Per thread: psw-api serves requests in threads. */
static _Thread_local int merging;

static int has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const char *obj_id(struct json_object *o)
{
    struct json_object *id;
    return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "id", &id)
               ? json_object_get_string(id)
               : NULL;
}

/* Adds from into into: counters summed, a lag the largest, a time until
 * something is due the smallest, lists joined (an entry with an id already
 * listed, such as a worker that heartbeats in several shards, once). */
static int json_merge(struct json_object *into, struct json_object *from)
{
    json_object_object_foreach(from, key, v) {
        struct json_object *have;
        if (!json_object_object_get_ex(into, key, &have) || json_object_is_type(have, json_type_null)) {
            if (json_object_object_add(into, key, json_object_get(v)) != 0)
                return -1;
        } else if (json_object_is_type(have, json_type_int) && json_object_is_type(v, json_type_int)) {
            int64_t x = json_object_get_int64(have), y = json_object_get_int64(v);
            int64_t r = has_suffix(key, "_lag_ms") ? (x > y ? x : y)
                        : has_suffix(key, "_in_ms") ? (x < y ? x : y)
                                                    : x + y;
            json_object_set_int64(have, r);
        } else if (json_object_is_type(have, json_type_array) &&
                   json_object_is_type(v, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                struct json_object *e = json_object_array_get_idx(v, i);
                const char *id = obj_id(e);
                int dup = 0;
                for (size_t k = 0; id && !dup && k < json_object_array_length(have); k++) {
                    const char *other = obj_id(json_object_array_get_idx(have, k));
                    dup = other && strcmp(id, other) == 0;
                }
                if (!dup && json_object_array_add(have, json_object_get(e)) != 0)
                    return -1;
            }
        } else if (json_object_is_type(have, json_type_object) &&
                   json_object_is_type(v, json_type_object)) {
            if (json_merge(have, v) < 0)
                return -1;
        }
    }
    return 0;
}

/* Calls get on every shard and merges the documents. Returns 1 when it did
 * (the result in *rc), 0 when there is one shard or a merge is under way. */
int psw_stats_merge_shards(struct psw_ctx *ctx,
                           int (*get)(struct psw_ctx *, struct json_object **, char *, size_t),
                           struct json_object **out, char *err, size_t errlen, int *rc)
{
    unsigned n = psw_ctx_nshards(ctx->cfg);
    if (n <= 1 || merging)
        return 0;
    *out = NULL;
    *rc = PSW_OK;
    merging = 1;
    for (unsigned i = 0; i < n && *rc == PSW_OK; i++) {
        struct json_object *one = NULL;
        struct psw_ctx *sc = psw_ctx_shard(ctx, i, err, errlen);
        *rc = sc ? get(sc, &one, err, errlen) : PSW_EFAIL;
        if (*rc == PSW_OK && !*out) {
            *out = one;
        } else if (*rc == PSW_OK) {
            if (json_merge(*out, one) < 0) {
                snprintf(err, errlen, "out of memory");
                *rc = PSW_EFAIL;
            }
            json_object_put(one);
        }
    }
    merging = 0;
    if (*rc != PSW_OK) {
        json_object_put(*out);
        *out = NULL;
    }
    return 1;
}

static int global_stats(struct psw_ctx *ctx, struct json_object **out, char *err, size_t errlen)
{
    return psw_stats_get(ctx, NULL, out, err, errlen);
}

int psw_stats_get(struct psw_ctx *ctx, const char *endpoint_id, struct json_object **out,
                  char *err, size_t errlen)
{
    int merged_rc;
    if (!endpoint_id && psw_stats_merge_shards(ctx, global_stats, out, err, errlen, &merged_rc))
        return merged_rc;
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, endpoint_id, err, errlen);
    char key[PSW_KEY_SIZE];
    redisReply *rep = NULL;
    struct json_object *o = NULL;
    int rc, bad = 0;

    *out = NULL;
    if (endpoint_id) {
        if (!psw_id_valid("ep_", endpoint_id)) {
            snprintf(err, errlen,
                     "endpoint id \"%.60s\" is not valid (ep_ followed by 26 characters)",
                     endpoint_id);
            return PSW_EINVAL;
        }
        psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_ENDPOINT, endpoint_id);
        rep = psw_redis_command(ctx->redis, "EXISTS %s", key);
        if (!rep || rep->type != REDIS_REPLY_INTEGER) {
            rc = psw_ctx_redis_failure(ctx, rep, "EXISTS", err, errlen);
            goto cleanup;
        }
        if (rep->integer == 0) {
            snprintf(err, errlen, "no endpoint %s", endpoint_id);
            rc = PSW_ENOTFOUND;
            goto cleanup;
        }
        freeReplyObject(rep);
        psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_ENDPOINT_STATS, endpoint_id);
    } else {
        psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_STATS, NULL);
    }
    rep = psw_redis_command(ctx->redis, "HGETALL %s", key);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, rep, "HGETALL", err, errlen);
        goto cleanup;
    }
    if (!(o = json_object_new_object()))
        goto oom;
    if (endpoint_id) {
        size_t n = sizeof(endpoint_counters) / sizeof(endpoint_counters[0]);
        for (size_t i = 0; i < n; i++)
            bad |= psw_json_add_int(o, endpoint_counters[i],
                           psw_parse_ll(psw_reply_hget(rep, endpoint_counters[i]), 0));
        long long st = psw_parse_ll(psw_reply_hget(rep, "last_status"), -1);
        /* 0 is a real last status: the last attempt got no HTTP answer */
        bad |= st >= 0 ? psw_json_add_int(o, "last_status", st) : psw_json_add(o, "last_status", NULL);
        bad |= psw_json_add_time(o, "last_success_at",
                        psw_parse_ll(psw_reply_hget(rep, "last_success_at"), 0));
        bad |= psw_json_add_time(o, "last_failure_at",
                        psw_parse_ll(psw_reply_hget(rep, "last_failure_at"), 0));
        if (!bad && (rc = add_window(ctx, endpoint_id, o, err, errlen)) != PSW_OK)
            goto cleanup;
    } else {
        size_t n = sizeof(global_counters) / sizeof(global_counters[0]);
        for (size_t i = 0; i < n; i++)
            bad |= psw_json_add_int(o, global_counters[i],
                           psw_parse_ll(psw_reply_hget(rep, global_counters[i]), 0));
        /* a counter added later by a newer version shows up too */
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            const char *k = psw_reply_str(rep, i), *v = psw_reply_str(rep, i + 1);
            if (k && v && !is_listed(global_counters, n, k) && is_int(v))
                bad |= psw_json_add_int(o, k, psw_parse_ll(v, 0));
        }
    }
    if (bad)
        goto oom;
    *out = o;
    o = NULL;
    rc = PSW_OK;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
    rc = PSW_EFAIL;
cleanup:
    freeReplyObject(rep);
    json_object_put(o);
    return rc;
}

/* ---- psw queue ---------------------------------------------------------- */

/* One worker entry from queue_info.lua: {id, last heartbeat, in-flight
 * list length, HGETALL of psw:worker:<id>}. The info hash may have expired
 * between heartbeats' view and now: its fields are null then. */
static struct json_object *worker_json(const redisReply *w, long long now)
{
    struct json_object *o = json_object_new_object();
    const redisReply *h = w->elements > 3 ? w->element[3] : NULL;
    const char *pid = psw_reply_hget(h, "pid"), *conc = psw_reply_hget(h, "concurrency");
    long long seen = psw_reply_int(w, 1, now);
    int bad = 0;

    if (!o)
        return NULL;
    bad |= psw_json_add_str_or_null(o, "id", psw_reply_str(w, 0));
    bad |= psw_json_add_str_or_null(o, "host", psw_reply_hget(h, "host"));
    bad |= pid ? psw_json_add_int(o, "pid", psw_parse_ll(pid, 0)) : psw_json_add(o, "pid", NULL);
    bad |= psw_json_add_int(o, "in_flight", psw_reply_int(w, 2, 0));
    bad |= conc ? psw_json_add_int(o, "concurrency", psw_parse_ll(conc, 0)) : psw_json_add(o, "concurrency", NULL);
    bad |= psw_json_add_int(o, "last_heartbeat_ms_ago", now > seen ? now - seen : 0);
    bad |= psw_json_add_time(o, "started_at", psw_parse_ll(psw_reply_hget(h, "started_at"), 0));
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int psw_queue_get(struct psw_ctx *ctx, struct json_object **out, char *err, size_t errlen)
{
    int merged_rc;
    if (psw_stats_merge_shards(ctx, psw_queue_get, out, err, errlen, &merged_rc))
        return merged_rc;
    char window[24];
    redisReply *rep = NULL;
    struct json_object *o = NULL, *arr = NULL;
    int rc, bad = 0;

    *out = NULL;
    snprintf(window, sizeof(window), "%lld", (long long)ctx->cfg->scheduler_worker_timeout_ms);
    const char *argv[] = { ctx->cfg->redis_prefix, window };
    rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_QUEUE_INFO, 2, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 10 ||
        rep->element[8]->type != REDIS_REPLY_ARRAY || rep->element[9]->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, rep, "queue_info", err, errlen);
        goto cleanup;
    }
    long long now = psw_reply_int(rep, 0, 0);
    long long head = psw_reply_int(rep, 6, -1), due = psw_reply_int(rep, 7, -1);

    if (!(o = json_object_new_object()))
        goto oom;
    bad |= psw_json_add_int(o, "ready", psw_reply_int(rep, 1, 0));
    bad |= psw_json_add_int(o, "scheduled", psw_reply_int(rep, 2, 0));
    bad |= psw_json_add_int(o, "failed", psw_reply_int(rep, 3, 0));
    bad |= psw_json_add_int(o, "waiting", psw_reply_int(rep, 4, 0));
    bad |= psw_json_add_int(o, "in_flight", psw_reply_int(rep, 5, 0));
    /* how long the next delivery to be taken has been due */
    bad |= head > 0 ? psw_json_add_int(o, "oldest_ready_lag_ms", now > head ? now - head : 0)
                    : psw_json_add(o, "oldest_ready_lag_ms", NULL);
    /* 0 when a retry is overdue (the scheduler has not moved it yet) */
    bad |= due > 0 ? psw_json_add_int(o, "next_due_in_ms", due > now ? due - now : 0)
                   : psw_json_add(o, "next_due_in_ms", NULL);
    if (bad)
        goto oom;

    if (!(arr = json_object_new_array()))
        goto oom;
    for (size_t i = 0; i < rep->element[8]->elements; i++) {
        const redisReply *w = rep->element[8]->element[i];
        struct json_object *wj = w->type == REDIS_REPLY_ARRAY ? worker_json(w, now) : NULL;
        if (!wj || json_object_array_add(arr, wj) != 0) {
            json_object_put(wj);
            goto oom;
        }
    }
    bad |= psw_json_add(o, "workers", arr);
    arr = NULL;

    if (!(arr = json_object_new_array()))
        goto oom;
    for (size_t i = 0; i < rep->element[9]->elements; i++) {
        const redisReply *s = rep->element[9]->element[i];
        struct json_object *sj = json_object_new_object();
        long long tick = psw_reply_int(s, 1, now);
        if (!sj || psw_json_add_str_or_null(sj, "id", psw_reply_str(s, 0)) ||
            psw_json_add_int(sj, "last_tick_ms_ago", now > tick ? now - tick : 0) ||
            json_object_array_add(arr, sj) != 0) {
            json_object_put(sj);
            goto oom;
        }
    }
    bad |= psw_json_add(o, "schedulers", arr);
    arr = NULL;
    if (bad)
        goto oom;
    *out = o;
    o = NULL;
    rc = PSW_OK;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
    rc = PSW_EFAIL;
cleanup:
    freeReplyObject(rep);
    json_object_put(arr);
    json_object_put(o);
    return rc;
}

/* ---- psw alerts --------------------------------------------------------- */

/* One stream entry: [id, [field, value, ...]]; a missing field is null. */
static struct json_object *alert_json(const redisReply *e)
{
    const redisReply *f = e->element[1];
    struct json_object *o = json_object_new_object();
    int bad = 0;

    if (!o)
        return NULL;
    bad |= psw_json_add_str_or_null(o, "id", psw_reply_str(e, 0));
    bad |= psw_json_add_str_or_null(o, "type", psw_reply_hget(f, "type"));
    bad |= psw_json_add_str_or_null(o, "endpoint_id", psw_reply_hget(f, "endpoint_id"));
    bad |= psw_json_add_str_or_null(o, "account_id", psw_reply_hget(f, "account_id"));
    bad |= psw_json_add_str_or_null(o, "reason", psw_reply_hget(f, "reason"));
    bad |= psw_json_add_time(o, "at", psw_parse_ll(psw_reply_hget(f, "at"), 0));
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Appends one shard's alerts from start on (at most limit) to arr. */
static int alerts_one(struct psw_ctx *ctx, const char *start, size_t limit, struct json_object *arr,
                      char *err, size_t errlen)
{
    char key[PSW_KEY_SIZE];
    int rc = PSW_OK;

    psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_ALERTS, NULL);
    redisReply *rep = psw_redis_command(ctx->redis, "XRANGE %s %s + COUNT %lld", key, start,
                                        (long long)limit);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, rep, "XRANGE", err, errlen);
        freeReplyObject(rep);
        return rc;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !psw_reply_str(e, 0))
            continue; /* not an entry: nothing to show */
        struct json_object *a = alert_json(e);
        if (!a || json_object_array_add(arr, a) != 0) {
            json_object_put(a);
            snprintf(err, errlen, "out of memory");
            rc = PSW_EFAIL;
            break;
        }
    }
    freeReplyObject(rep);
    return rc;
}

/* Stream ids "<ms>-<seq>" in time order (ids of different shards' streams
 * may tie; their order is then the shards'). */
static int alert_cmp(const void *a, const void *b)
{
    struct json_object *x, *y;
    const char *ia = json_object_object_get_ex(*(struct json_object *const *)a, "id", &x)
                         ? json_object_get_string(x) : "";
    const char *ib = json_object_object_get_ex(*(struct json_object *const *)b, "id", &y)
                         ? json_object_get_string(y) : "";
    char *end;
    unsigned long long ma = strtoull(ia, &end, 10), sa = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    unsigned long long mb = strtoull(ib, &end, 10), sb = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    if (ma != mb)
        return ma < mb ? -1 : 1;
    return sa < sb ? -1 : sa > sb;
}

/* In cluster mode every shard has its own alerts stream (docs/redis.md):
 * each gives its first `limit` alerts from `since` on, and the oldest
 * `limit` of them all, in time order, are the answer, as one stream's
 * would be. */
int psw_alerts_get(struct psw_ctx *ctx, long long since, size_t limit, struct json_object **out,
                   char *err, size_t errlen)
{
    char start[32];
    struct json_object *arr = NULL;
    unsigned n = psw_ctx_nshards(ctx->cfg);
    int rc = PSW_OK;

    *out = NULL;
    if (since < 0) {
        snprintf(err, errlen, "since: times before 1970 are not valid");
        return PSW_EINVAL;
    }
    if (limit == 0)
        limit = ALERTS_DEFAULT;
    if (limit > ALERTS_MAX) {
        snprintf(err, errlen, "limit: at most %d", ALERTS_MAX);
        return PSW_EINVAL;
    }
    if (since > 0)
        snprintf(start, sizeof(start), "%lld", since);
    else
        snprintf(start, sizeof(start), "-");
    if (!(arr = json_object_new_array())) {
        snprintf(err, errlen, "out of memory");
        return PSW_EFAIL;
    }
    for (unsigned i = 0; i < n && rc == PSW_OK; i++) {
        struct psw_ctx *sc = n > 1 ? psw_ctx_shard(ctx, i, err, errlen) : ctx;
        rc = sc ? alerts_one(sc, start, limit, arr, err, errlen) : PSW_EFAIL;
    }
    if (rc == PSW_OK && n > 1) {
        json_object_array_sort(arr, alert_cmp);
        size_t len = json_object_array_length(arr);
        if (len > limit && json_object_array_del_idx(arr, limit, len - limit) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = PSW_EFAIL;
        }
    }
    if (rc != PSW_OK) {
        json_object_put(arr);
        return rc;
    }
    *out = arr;
    return PSW_OK;
}

/* An account's part of the counters: the sum of its endpoints' counters
 * (docs/api.md: an account token's GET /v1/stats). */
int psw_stats_account(struct psw_ctx *ctx, const char *account, struct json_object **out,
                      char *err, size_t errlen)
{
    PSW_CTX_ROUTE_ACCOUNT(ctx, account, err, errlen);
    struct psw_endpoint *eps = NULL;
    size_t n = 0;
    long long sums[sizeof(endpoint_counters) / sizeof(endpoint_counters[0])] = { 0 };
    size_t nc = sizeof(endpoint_counters) / sizeof(endpoint_counters[0]);
    int rc;

    *out = NULL;
    if ((rc = psw_endpoint_list(ctx, account, &eps, &n, err, errlen)) != PSW_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct json_object *one = NULL, *v;
        if ((rc = psw_stats_get(ctx, eps[i].id, &one, err, errlen)) == PSW_ENOTFOUND)
            continue; /* deleted meanwhile */
        if (rc != PSW_OK)
            goto cleanup;
        for (size_t k = 0; k < nc; k++)
            if (json_object_object_get_ex(one, endpoint_counters[k], &v))
                sums[k] += json_object_get_int64(v);
        json_object_put(one);
    }
    struct json_object *o = json_object_new_object();
    int bad = !o;
    bad |= o && psw_json_add_str(o, "account_id", account) < 0;
    bad |= o && psw_json_add_int(o, "endpoints", (long long)n) < 0;
    for (size_t k = 0; o && k < nc; k++)
        bad |= psw_json_add_int(o, endpoint_counters[k], sums[k]) < 0;
    if (bad) {
        json_object_put(o);
        snprintf(err, errlen, "out of memory");
        rc = PSW_EFAIL;
        goto cleanup;
    }
    *out = o;
    rc = PSW_OK;
cleanup:
    psw_endpoint_list_free(eps, n);
    return rc;
}
