/*
 * delivery.c — the delivery log (list, show) and replay, on top of three
 * scripts: delivery_list.lua (one bounded page of an endpoint's index,
 * filtered by state inside Redis), delivery_get.lua (hash, attempts and
 * event body read together) and replay.lua (requeue by id, or over a
 * created-at range of one endpoint).
 *
 * Invariants: no call does one round trip per delivery. Listing and range
 * replay walk the index newest to oldest with a cursor (a score and how many
 * entries at that score were seen), each script call looking at a bounded
 * number of entries, so Redis is never blocked for long and entries created
 * meanwhile (newer, above the cursor) do not shift the walk. A range replay
 * starts from a fixed upper bound (until, or Redis's clock when the call
 * began), so it ends even while new deliveries keep arriving, and meets no
 * delivery twice. Replayed deliveries are pushed so that the oldest goes out
 * first (see replay.lua); an ordered endpoint's range is walked oldest to
 * newest instead, so that its whole range goes out in creation order.
 *
 * Ownership: every string in a struct psw_delivery is malloc'd here ("" when
 * the field is unset) and released by psw_delivery_list_free /
 * psw_delivery_detail_free. Attempt records are json-c objects with one
 * reference each, owned by the detail struct. The *_to_json functions return
 * a new object the caller json_object_put()s.
 */
#include "common/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/endpoint.h"
#include "common/event.h"
#include "common/jsonout.h"
#include "common/reply.h"
#include "common/timeutil.h"

#define LIST_DEFAULT 50
#define LIST_MAX 10000
#define LIST_SCAN 1000      /* index entries one delivery_list call looks at */
#define REPLAY_SCAN 1000    /* index entries one range replay call looks at */
#define REPLAY_CHUNK 50     /* ids per replay.lua call (argument limit 64) */
#define REPLAY_PIPELINE 20  /* replay.lua calls per round trip */

static const char *const known_states[] = {
    "pending", "in_flight", "scheduled", "delivered", "failed", "skipped", "batched",
};

/* ---- small helpers ------------------------------------------------------ */

/* At most 60 bytes of s, for quoting user input in a message. */
static const char *shown(const char *s, char *out, size_t n)
{
    snprintf(out, n, "%.60s%s", s, strlen(s) > 60 ? "…" : "");
    return out;
}

static int check_delivery_id(const char *id, char *err, size_t errlen)
{
    char q[80];
    if (!id || !*id) {
        snprintf(err, errlen, "delivery id: required (dlv_ followed by 26 characters)");
        return PSW_EINVAL;
    }
    /* a batch (bat_…) is read and replayed like a delivery (docs/redis.md) */
    if (!psw_id_valid("dlv_", id) && !psw_id_valid("bat_", id)) {
        snprintf(err, errlen, "delivery id \"%s\" is not valid (dlv_ or bat_ followed by 26 characters)",
                 shown(id, q, sizeof(q)));
        return PSW_EINVAL;
    }
    return PSW_OK;
}

static int check_endpoint_id(const char *id, char *err, size_t errlen)
{
    char q[80];
    if (!id || !*id) {
        snprintf(err, errlen, "endpoint id: required (ep_ followed by 26 characters)");
        return PSW_EINVAL;
    }
    if (!psw_id_valid("ep_", id)) {
        snprintf(err, errlen, "endpoint id \"%s\" is not valid (ep_ followed by 26 characters)",
                 shown(id, q, sizeof(q)));
        return PSW_EINVAL;
    }
    return PSW_OK;
}

/* The index of the state name s[0..len) in known_states, or -1. */
static int state_index(const char *s, size_t len)
{
    for (size_t k = 0; k < sizeof(known_states) / sizeof(known_states[0]); k++)
        if (strlen(known_states[k]) == len && memcmp(known_states[k], s, len) == 0)
            return (int)k;
    return -1;
}

/* Turns "failed, skipped" into ",failed,skipped," (out[n], each state once,
 * at most 64 bytes), checking each name. NULL or "" gives def (NULL def:
 * "" = every state). */
static int parse_states(const char *list, const char *def, char *out, size_t n, char *err,
                        size_t errlen)
{
    int seen[sizeof(known_states) / sizeof(known_states[0])] = { 0 };
    size_t o = 0;

    if (!list || !*list)
        list = def;
    out[0] = '\0';
    if (!list)
        return PSW_OK;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        p += len;
        if (*p == ',')
            p++;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == s)
            continue;
        int k = state_index(s, (size_t)(e - s));
        if (k < 0) {
            snprintf(err, errlen, "state \"%.*s\" is not one of " PSW_DELIVERY_STATES,
                     (int)(e - s > 40 ? 40 : e - s), s);
            return PSW_EINVAL;
        }
        if (seen[k]++)
            continue;
        /* n >= 64 holds every state once: ",pending,in_flight,…,skipped," */
        o += (size_t)snprintf(out + o, n - o, "%s%s,", o ? "" : ",", known_states[k]);
    }
    if (o == 0) {
        snprintf(err, errlen, "state: empty list (use one or more of " PSW_DELIVERY_STATES ")");
        return PSW_EINVAL;
    }
    return PSW_OK;
}

static int check_range(long long since, long long until, char *err, size_t errlen)
{
    if (since < 0 || until < 0) {
        snprintf(err, errlen, "since/until: times before 1970 are not valid");
        return PSW_EINVAL;
    }
    if (since && until && since > until) {
        char a[PSW_ISO_SIZE], b[PSW_ISO_SIZE];
        psw_time_format(since, a);
        psw_time_format(until, b);
        snprintf(err, errlen, "since (%s) is later than until (%s)", a, b);
        return PSW_EINVAL;
    }
    return PSW_OK;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static void delivery_free(struct psw_delivery *d)
{
    free(d->event_id);
    free(d->endpoint_id);
    free(d->event_type);
    free(d->account_id);
    free(d->state);
    free(d->last_error);
    free(d->failed_reason);
    free(d->trigger);
    free(d->batch_id);
    memset(d, 0, sizeof(*d));
}

/* Fills d from an HGETALL reply; -1 when out of memory (d is then freed). */
static int from_hash(const redisReply *h, struct psw_delivery *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->id, sizeof(d->id), "%s", psw_reply_hget(h, "id") ? psw_reply_hget(h, "id") : "");
    d->event_id = dup_or_empty(psw_reply_hget(h, "event_id"));
    d->endpoint_id = dup_or_empty(psw_reply_hget(h, "endpoint_id"));
    d->event_type = dup_or_empty(psw_reply_hget(h, "event_type"));
    d->account_id = dup_or_empty(psw_reply_hget(h, "account_id"));
    d->state = dup_or_empty(psw_reply_hget(h, "state"));
    d->last_error = dup_or_empty(psw_reply_hget(h, "last_error"));
    d->failed_reason = dup_or_empty(psw_reply_hget(h, "failed_reason"));
    d->trigger = dup_or_empty(psw_reply_hget(h, "trigger"));
    d->batch_id = dup_or_empty(psw_reply_hget(h, "batch_id"));
    d->batch_count = psw_parse_ll(psw_reply_hget(h, "count"), 0);
    d->attempts = psw_parse_ll(psw_reply_hget(h, "attempts"), 0);
    d->created_at = psw_parse_ll(psw_reply_hget(h, "created_at"), 0);
    d->first_attempt_at = psw_parse_ll(psw_reply_hget(h, "first_attempt_at"), 0);
    d->last_attempt_at = psw_parse_ll(psw_reply_hget(h, "last_attempt_at"), 0);
    d->next_attempt_at = psw_parse_ll(psw_reply_hget(h, "next_attempt_at"), 0);
    d->delivered_at = psw_parse_ll(psw_reply_hget(h, "delivered_at"), 0);
    /* an absent trigger is "first" (docs/redis.md, "Delivery hash fields") */
    if (d->trigger && !d->trigger[0]) {
        free(d->trigger);
        d->trigger = strdup("first");
    }
    d->last_status = psw_parse_ll(psw_reply_hget(h, "last_status"), 0);
    d->last_latency_ms = psw_parse_ll(psw_reply_hget(h, "last_latency_ms"), 0);
    if (!d->event_id || !d->endpoint_id || !d->event_type || !d->account_id || !d->state ||
        !d->last_error || !d->failed_reason || !d->trigger || !d->batch_id) {
        delivery_free(d);
        return -1;
    }
    return 0;
}

/* ---- list --------------------------------------------------------------- */

void psw_delivery_list_free(struct psw_delivery *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        delivery_free(&d[i]);
    free(d);
}

int psw_delivery_list(struct psw_ctx *ctx, const struct psw_delivery_query *q,
                      struct psw_delivery **out, size_t *n, char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, q->endpoint_id, err, errlen);
    char next[PSW_DELIVERY_CURSOR_SIZE];
    return psw_delivery_page(ctx, q, out, n, next, err, errlen);
}

/* ",t1,t2," from a comma list of event types ("" = all). */
static int parse_types(const char *list, char *out, size_t n, char *err, size_t errlen)
{
    size_t o = 0;
    out[0] = '\0';
    if (!list || !*list)
        return PSW_OK;
    out[o++] = ',';
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        if (l == 0 || l >= sizeof(name)) {
            snprintf(err, errlen, "type: not an event type list");
            return PSW_EINVAL;
        }
        memcpy(name, p, l);
        name[l] = '\0';
        if (psw_event_type_parse(name) < 0) {
            snprintf(err, errlen, "type: unknown event type \"%s\"", name);
            return PSW_EINVAL;
        }
        if (o + l + 2 > n) {
            snprintf(err, errlen, "type: too many types");
            return PSW_EINVAL;
        }
        memcpy(out + o, name, l);
        o += l;
        out[o++] = ',';
        out[o] = '\0';
        p = e ? e + 1 : p + l;
    }
    return PSW_OK;
}

/* A cursor is "<upper score>.<entries at that score already seen>". */
static int parse_cursor(const char *c, char *upper, size_t un, char *skip, size_t sn, char *err,
                        size_t errlen)
{
    const char *dot = c ? strchr(c, '.') : NULL;
    size_t ul = dot ? (size_t)(dot - c) : 0;
    int ok = dot && ul > 0 && ul < un && dot[1] && strlen(dot + 1) < sn;
    for (size_t i = 0; ok && c[i]; i++)
        if (i != ul && (c[i] < '0' || c[i] > '9'))
            ok = 0;
    if (!ok) {
        snprintf(err, errlen, "cursor: not a cursor this list gave out");
        return PSW_EINVAL;
    }
    snprintf(upper, un, "%.*s", (int)ul, c);
    snprintf(skip, sn, "%s", dot + 1);
    return PSW_OK;
}

int psw_delivery_page(struct psw_ctx *ctx, const struct psw_delivery_query *q,
                      struct psw_delivery **out, size_t *n,
                      char next_cursor[PSW_DELIVERY_CURSOR_SIZE], char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, q->endpoint_id, err, errlen);
    char states[128], types[320], upper[32], lower[32], skip[24], want[24], scan[24];
    int done = 0;
    struct psw_delivery *list = NULL;
    size_t got = 0, limit;
    redisReply *rep = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    if ((rc = check_endpoint_id(q->endpoint_id, err, errlen)) != PSW_OK)
        return rc;
    if ((rc = parse_states(q->states, NULL, states, sizeof(states), err, errlen)) != PSW_OK)
        return rc;
    if ((rc = parse_types(q->types, types, sizeof(types), err, errlen)) != PSW_OK)
        return rc;
    if ((rc = check_range(q->since, q->until, err, errlen)) != PSW_OK)
        return rc;
    limit = q->limit ? q->limit : LIST_DEFAULT;
    if (limit > LIST_MAX) {
        snprintf(err, errlen, "limit: at most %d", LIST_MAX);
        return PSW_EINVAL;
    }
    list = calloc(limit, sizeof(*list));
    if (!list) {
        snprintf(err, errlen, "out of memory");
        return PSW_EFAIL;
    }
    if (q->until > 0)
        snprintf(upper, sizeof(upper), "%lld", q->until);
    else
        snprintf(upper, sizeof(upper), "+inf");
    if (q->since > 0)
        snprintf(lower, sizeof(lower), "%lld", q->since);
    else
        snprintf(lower, sizeof(lower), "-inf");
    snprintf(skip, sizeof(skip), "0");
    if (q->cursor && *q->cursor &&
        (rc = parse_cursor(q->cursor, upper, sizeof(upper), skip, sizeof(skip), err, errlen)) !=
            PSW_OK) {
        free(list);
        return rc;
    }
    snprintf(scan, sizeof(scan), "%d", LIST_SCAN);

    for (;;) {
        snprintf(want, sizeof(want), "%zu", limit - got);
        const char *argv[] = { ctx->cfg->redis_prefix, q->endpoint_id, upper, lower, skip,
                               states, want, scan, types };
        rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_DELIVERY_LIST, 9, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 4 ||
            !psw_reply_str(rep, 2)) {
            rc = psw_ctx_redis_failure(ctx, rep, "delivery_list", err, errlen);
            goto cleanup;
        }
        if (psw_reply_int(rep, 0, 0) == 0) {
            snprintf(err, errlen, "no endpoint %s", q->endpoint_id);
            rc = PSW_ENOTFOUND;
            goto cleanup;
        }
        for (size_t i = 4; i < rep->elements && got < limit; i++) {
            if (from_hash(rep->element[i], &list[got]) < 0) {
                snprintf(err, errlen, "out of memory");
                rc = PSW_EFAIL;
                goto cleanup;
            }
            got++;
        }
        done = psw_reply_int(rep, 1, 1) != 0;
        snprintf(upper, sizeof(upper), "%s", psw_reply_str(rep, 2));
        snprintf(skip, sizeof(skip), "%lld", psw_reply_int(rep, 3, 0));
        freeReplyObject(rep);
        rep = NULL;
        if (done || got >= limit)
            break;
    }
    if (!done && strcmp(upper, "+inf") != 0)
        snprintf(next_cursor, PSW_DELIVERY_CURSOR_SIZE, "%s.%s", upper, skip);
    if (got == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *n = got;
    list = NULL;
    rc = PSW_OK;
cleanup:
    freeReplyObject(rep);
    psw_delivery_list_free(list, got);
    return rc;
}

/* ---- show --------------------------------------------------------------- */

void psw_delivery_detail_free(struct psw_delivery_detail *dd)
{
    if (!dd)
        return;
    delivery_free(&dd->d);
    free(dd->event_body);
    for (size_t i = 0; i < dd->n_attempts; i++)
        json_object_put(dd->attempts[i]);
    free(dd->attempts);
    memset(dd, 0, sizeof(*dd));
}

/* A stored attempt record as JSON; one that does not parse (written by
 * something else) is kept as a string rather than dropped. */
static struct json_object *parse_record(const redisReply *r)
{
    struct json_object *o = NULL;
    if (r->type != REDIS_REPLY_STRING)
        return json_object_new_string("");
    struct json_tokener *tok = json_tokener_new();
    if (tok) {
        o = json_tokener_parse_ex(tok, r->str, (int)r->len);
        if (o && tok->char_offset != (int)r->len) {
            json_object_put(o);
            o = NULL;
        }
        json_tokener_free(tok);
    }
    return o ? o : json_object_new_string_len(r->str, (int)r->len);
}

int psw_delivery_get(struct psw_ctx *ctx, const char *id, struct psw_delivery_detail *out,
                     char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_DELIVERY, id, err, errlen);
    redisReply *rep = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_delivery_id(id, err, errlen)) != PSW_OK)
        return rc;
    const char *argv[] = { ctx->cfg->redis_prefix, id };
    rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_DELIVERY_GET, 2, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || !psw_reply_str(rep, 0)) {
        rc = psw_ctx_redis_failure(ctx, rep, "delivery_get", err, errlen);
        goto cleanup;
    }
    if (strcmp(psw_reply_str(rep, 0), "notfound") == 0) {
        snprintf(err, errlen, "no delivery %s", id);
        rc = PSW_ENOTFOUND;
        goto cleanup;
    }
    if (rep->elements < 4 || rep->element[2]->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, rep, "delivery_get", err, errlen);
        goto cleanup;
    }
    if (from_hash(rep->element[1], &out->d) < 0)
        goto oom;
    if (!out->d.id[0])
        snprintf(out->d.id, sizeof(out->d.id), "%s", id);
    if (rep->element[3]->type == REDIS_REPLY_STRING) {
        out->event_body = malloc(rep->element[3]->len + 1);
        if (!out->event_body)
            goto oom;
        memcpy(out->event_body, rep->element[3]->str, rep->element[3]->len);
        out->event_body[rep->element[3]->len] = '\0';
    }
    const redisReply *al = rep->element[2];
    if (al->elements > 0) {
        out->attempts = calloc(al->elements, sizeof(*out->attempts));
        if (!out->attempts)
            goto oom;
        for (size_t i = 0; i < al->elements; i++) {
            if (!(out->attempts[i] = parse_record(al->element[i])))
                goto oom;
            out->n_attempts++;
        }
    }
    rc = PSW_OK;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
    rc = PSW_EFAIL;
cleanup:
    freeReplyObject(rep);
    if (rc != PSW_OK)
        psw_delivery_detail_free(out);
    return rc;
}

/* ---- replay ------------------------------------------------------------- */

/* Runs replay.lua in 'ids' mode over ids[idx[0..m)] in chunks, pipelined,
 * and writes each result into res[idx[k]] (and the endpoint met into
 * eps[idx[k]]). Adds to *queued. The last chunk goes first: each call puts
 * its ids in front of ready, so the first id given ends up taken first. */
static int replay_batch(struct psw_ctx *ctx, const char *const *ids, const size_t *idx, size_t m,
                        struct psw_replay_result *res, char (*eps)[PSW_ID_SIZE], int *queued,
                        char *err, size_t errlen)
{
    char retention[24];
    const char *argv[REPLAY_PIPELINE][REPLAY_CHUNK + 3];
    const char *const *argvs[REPLAY_PIPELINE];
    int argcs[REPLAY_PIPELINE];
    size_t first[REPLAY_PIPELINE];
    redisReply *reps[REPLAY_PIPELINE];
    size_t chunks = (m + REPLAY_CHUNK - 1) / REPLAY_CHUNK, left = chunks;
    int rc = PSW_OK;

    snprintf(retention, sizeof(retention), "%lld", psw_ctx_retention_ms(ctx));
    while (left > 0) {
        size_t calls = 0;
        for (; calls < REPLAY_PIPELINE && left > 0; calls++) {
            size_t c = --left, k = 0;
            first[calls] = c * REPLAY_CHUNK;
            argv[calls][0] = ctx->cfg->redis_prefix;
            argv[calls][1] = retention;
            argv[calls][2] = "ids";
            for (size_t j = first[calls]; j < m && k < REPLAY_CHUNK; j++)
                argv[calls][3 + k++] = ids[idx[j]];
            argcs[calls] = (int)(k + 3);
            argvs[calls] = argv[calls];
        }
        if (psw_redis_eval_many(ctx->redis, PSW_SCRIPT_REPLAY, calls, argcs, argvs, NULL,
                                reps) < 0)
            return psw_ctx_redis_failure(ctx, NULL, "replay", err, errlen);
        for (size_t c = 0; c < calls; c++) {
            size_t k = (size_t)argcs[c] - 3;
            const redisReply *r = reps[c];
            if (rc == PSW_OK &&
                (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1 + 2 * k)) {
                rc = psw_ctx_redis_failure(ctx, r, "replay", err, errlen);
            } else if (rc == PSW_OK) {
                *queued += (int)psw_reply_int(r, 0, 0);
                for (size_t j = 0; j < k; j++) {
                    const char *word = psw_reply_str(r, 1 + 2 * j);
                    const char *ep = psw_reply_str(r, 2 + 2 * j);
                    size_t at = idx[first[c] + j];
                    snprintf(res[at].result, sizeof(res[at].result), "%s", word ? word : "");
                    snprintf(eps[at], PSW_ID_SIZE, "%s", ep ? ep : "");
                }
            }
            freeReplyObject(reps[c]);
        }
        if (rc != PSW_OK)
            return rc;
    }
    return PSW_OK;
}

/* A string and where it was, sorted by the string and then by position,
 * so the first occurrence of a string comes first. */
struct ref {
    const char *s;
    size_t pos;
};

static int by_string(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

int psw_replay_ids(struct psw_ctx *ctx, const char *const *ids, size_t n,
                   const struct psw_replay_options *opt, struct psw_replay_result *res,
                   char *err, size_t errlen)
{
    if (psw_ctx_nshards(ctx->cfg) > 1 && n > 1) {
        /* cluster mode: each id in its own shard (docs/redis.md) */
        int queued = 0;
        for (size_t i = 0; i < n; i++) {
            int rc = psw_replay_ids(ctx, &ids[i], 1, opt, &res[i], err, errlen);
            if (rc < 0)
                return rc;
            queued += rc;
        }
        return queued;
    }
    PSW_CTX_ROUTE(ctx, PSW_KEY_DELIVERY, n > 0 ? ids[0] : NULL, err, errlen);
    char (*eps)[PSW_ID_SIZE] = NULL;
    size_t *idx = NULL, *first = NULL, m = 0;
    struct ref *refs = NULL;
    int queued = 0, rc;

    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof(res[i]));
        if ((rc = check_delivery_id(ids[i], err, errlen)) != PSW_OK)
            return rc;
        snprintf(res[i].id, sizeof(res[i].id), "%s", ids[i]);
    }
    if (n == 0)
        return 0;
    eps = calloc(n, sizeof(*eps));
    idx = calloc(n, sizeof(*idx));
    first = calloc(n, sizeof(*first));
    refs = calloc(n, sizeof(*refs));
    if (!eps || !idx || !first || !refs) {
        snprintf(err, errlen, "out of memory");
        rc = PSW_EFAIL;
        goto cleanup;
    }

    /* idx: positions to send, ascending. An id given twice is replayed once; the repeat reports the same
     * result. first[i] = where ids[i] occurs first. */
    for (size_t i = 0; i < n; i++)
        refs[i] = (struct ref){ ids[i], i };
    qsort(refs, n, sizeof(*refs), by_string);
    for (size_t k = 0; k < n; k++)
        first[refs[k].pos] = k > 0 && strcmp(refs[k].s, refs[k - 1].s) == 0
                                 ? first[refs[k - 1].pos]
                                 : refs[k].pos;
    for (size_t i = 0; i < n; i++)
        if (first[i] == i)
            idx[m++] = i;
    if ((rc = replay_batch(ctx, ids, idx, m, res, eps, &queued, err, errlen)) != PSW_OK)
        goto cleanup;

    if (opt && opt->enable) {
        /* Enable each disabled endpoint met, once, then try its deliveries
         * again, in the order given. One that cannot be enabled (deleted
         * meanwhile) leaves its deliveries with the result they had. */
        size_t k = 0;
        for (size_t j = 0; j < m; j++)
            if (strcmp(res[idx[j]].result, "endpoint_disabled") == 0) {
                refs[k] = (struct ref){ eps[idx[j]], idx[j] };
                idx[k++] = idx[j];
            }
        m = k;
        qsort(refs, m, sizeof(*refs), by_string);
        for (size_t j = 0; j < m; j++) {
            if (j > 0 && strcmp(refs[j].s, refs[j - 1].s) == 0)
                continue;
            char e2[256];
            if (psw_endpoint_enable(ctx, refs[j].s, NULL, e2, sizeof(e2)) == PSW_EFAIL) {
                snprintf(err, errlen, "%s", e2);
                rc = PSW_EFAIL;
                goto cleanup;
            }
        }
        if (m > 0 &&
            (rc = replay_batch(ctx, ids, idx, m, res, eps, &queued, err, errlen)) != PSW_OK)
            goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        if (first[i] != i)
            snprintf(res[i].result, sizeof(res[i].result), "%s", res[first[i]].result);
    rc = queued;
cleanup:
    free(eps);
    free(idx);
    free(first);
    free(refs);
    return rc;
}

/* Redis's clock in ms, or -1. */
static long long redis_now(struct psw_ctx *ctx)
{
    redisReply *t = psw_redis_command(ctx->redis, "TIME");
    long long ms = -1;
    if (t && t->type == REDIS_REPLY_ARRAY && t->elements == 2)
        ms = psw_reply_int(t, 0, -1) * 1000 + psw_reply_int(t, 1, 0) / 1000;
    freeReplyObject(t);
    return ms;
}

/* A dry run: how many deliveries a range replay would pick, read page by
 * page through the same listing as psw_delivery_page. st is ",s1,s2,". */
static int count_range(struct psw_ctx *ctx, const char *endpoint_id, long long since,
                       long long until, const char *st, size_t *matched, char *err,
                       size_t errlen)
{
    char states[128], cursor[PSW_DELIVERY_CURSOR_SIZE] = "";
    size_t o = 0;
    /* ",failed,skipped," back to "failed,skipped" */
    for (const char *p = st; *p && o + 1 < sizeof(states); p++)
        if (!(*p == ',' && (o == 0 || p[1] == '\0')))
            states[o++] = *p;
    states[o] = '\0';
    for (;;) {
        struct psw_delivery_query q = { endpoint_id, states, since, until, LIST_MAX, NULL,
                                        cursor[0] ? cursor : NULL };
        struct psw_delivery *list = NULL;
        size_t n = 0;
        char next[PSW_DELIVERY_CURSOR_SIZE];
        int rc = psw_delivery_page(ctx, &q, &list, &n, next, err, errlen);
        if (rc != PSW_OK)
            return rc;
        psw_delivery_list_free(list, n);
        if (matched)
            *matched += n;
        if (!next[0] || n == 0)
            return 0;
        snprintf(cursor, sizeof(cursor), "%s", next);
    }
}

int psw_replay_range(struct psw_ctx *ctx, const char *endpoint_id, long long since,
                     long long until, const char *states, const struct psw_replay_options *opt,
                     size_t *matched, char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, endpoint_id, err, errlen);
    char st[128], lower[32], upper[32], skip[24], scan[24], retention[24];
    int rc, queued = 0, enabled = 0;
    size_t found = 0;

    if (matched)
        *matched = 0;
    if ((rc = check_endpoint_id(endpoint_id, err, errlen)) != PSW_OK)
        return rc;
    if ((rc = parse_states(states, "failed,skipped", st, sizeof(st), err, errlen)) != PSW_OK)
        return rc;
    if ((rc = check_range(since, until, err, errlen)) != PSW_OK)
        return rc;
    if (opt && opt->dry_run)
        return count_range(ctx, endpoint_id, since, until, st, matched, err, errlen);
    if (until == 0) {
        /* a fixed end, so the walk finishes while new deliveries arrive */
        if ((until = redis_now(ctx)) < 0)
            return psw_ctx_redis_failure(ctx, NULL, "TIME", err, errlen);
    }
    snprintf(retention, sizeof(retention), "%lld", psw_ctx_retention_ms(ctx));
    snprintf(upper, sizeof(upper), "%lld", until);
    if (since > 0)
        snprintf(lower, sizeof(lower), "%lld", since);
    else
        snprintf(lower, sizeof(lower), "-inf");
    snprintf(skip, sizeof(skip), "0");
    snprintf(scan, sizeof(scan), "%d", REPLAY_SCAN);

    for (;;) {
        const char *argv[] = { ctx->cfg->redis_prefix, retention, "range", endpoint_id,
                               upper, skip, lower, st, scan };
        redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_REPLAY, 9, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 6 ||
            !psw_reply_str(rep, 0) || !psw_reply_str(rep, 4)) {
            rc = psw_ctx_redis_failure(ctx, rep, "replay", err, errlen);
            freeReplyObject(rep);
            break;
        }
        const char *word = psw_reply_str(rep, 0);
        if (strcmp(word, "endpoint_disabled") == 0 && opt && opt->enable && !enabled) {
            /* once: an endpoint that is disabled again during the walk
             * (by its failures) stops the replay instead of flapping */
            freeReplyObject(rep);
            enabled = 1;
            if ((rc = psw_endpoint_enable(ctx, endpoint_id, NULL, err, errlen)) != PSW_OK)
                break;
            continue;
        }
        if (strcmp(word, "ok") != 0) {
            if (strcmp(word, "notfound") == 0) {
                snprintf(err, errlen, "no endpoint %s", endpoint_id);
                rc = PSW_ENOTFOUND;
            } else if (strcmp(word, "endpoint_deleted") == 0) {
                snprintf(err, errlen, "endpoint %s was deleted: its deliveries cannot be sent",
                         endpoint_id);
                rc = PSW_ENOTFOUND;
            } else if (strcmp(word, "endpoint_disabled") == 0) {
                if (queued > 0 || found > 0)
                    snprintf(err, errlen,
                             "endpoint %s was disabled during the replay, after %d of the "
                             "matching deliveries were queued",
                             endpoint_id, queued);
                else
                    snprintf(err, errlen,
                             "endpoint %s is disabled: enable it first (or replay with enable)",
                             endpoint_id);
                rc = PSW_ECONFLICT;
            } else {
                snprintf(err, errlen, "redis: replay: unexpected answer \"%s\"", word);
                rc = PSW_EFAIL;
            }
            freeReplyObject(rep);
            break;
        }
        queued += (int)psw_reply_int(rep, 1, 0);
        found += (size_t)psw_reply_int(rep, 2, 0);
        int done = psw_reply_int(rep, 3, 1) != 0;
        snprintf(upper, sizeof(upper), "%s", psw_reply_str(rep, 4));
        snprintf(skip, sizeof(skip), "%lld", psw_reply_int(rep, 5, 0));
        /* an ordered endpoint's range is walked upwards: the lower end moves */
        if (rep->elements > 6 && psw_reply_str(rep, 6))
            snprintf(lower, sizeof(lower), "%s", psw_reply_str(rep, 6));
        freeReplyObject(rep);
        if (done) {
            rc = queued;
            break;
        }
    }
    if (matched)
        *matched = found;
    return rc;
}

/* ---- JSON --------------------------------------------------------------- */

/* Keys, always all present: id, event_id, endpoint_id, account_id,
 * event_type, state, trigger, attempts, created_at, first_attempt_at,
 * last_attempt_at, next_attempt_at, delivered_at (ISO 8601 or null),
 * last_status (null before any answer), last_error, failed_reason (null
 * when empty), last_latency_ms (null before the first attempt), batch_id
 * (the batch that carried it, null when none); a batch (bat_…) also has
 * batch_count. */
struct json_object *psw_delivery_to_json(const struct psw_delivery *d)
{
    struct json_object *o = json_object_new_object();
    int bad = 0;

    if (!o)
        return NULL;
    bad |= psw_json_add_str(o, "id", d->id);
    bad |= psw_json_add_str(o, "event_id", d->event_id);
    bad |= psw_json_add_str(o, "endpoint_id", d->endpoint_id);
    bad |= psw_json_add_str(o, "account_id", d->account_id);
    bad |= psw_json_add_str(o, "event_type", d->event_type);
    bad |= psw_json_add_str(o, "state", d->state);
    bad |= psw_json_add_str_or_null(o, "trigger", d->trigger);
    bad |= psw_json_add_int(o, "attempts", d->attempts);
    bad |= psw_json_add_time(o, "created_at", d->created_at);
    bad |= psw_json_add_time(o, "first_attempt_at", d->first_attempt_at);
    bad |= psw_json_add_time(o, "last_attempt_at", d->last_attempt_at);
    bad |= psw_json_add_time(o, "next_attempt_at", d->next_attempt_at);
    bad |= psw_json_add_time(o, "delivered_at", d->delivered_at);
    bad |= d->last_status > 0 ? psw_json_add_int(o, "last_status", d->last_status)
                              : psw_json_add(o, "last_status", NULL);
    bad |= psw_json_add_str_or_null(o, "last_error", d->last_error);
    bad |= d->attempts > 0 ? psw_json_add_int(o, "last_latency_ms", d->last_latency_ms)
                           : psw_json_add(o, "last_latency_ms", NULL);
    bad |= psw_json_add_str_or_null(o, "failed_reason", d->failed_reason);
    bad |= psw_json_add_str_or_null(o, "batch_id", d->batch_id);
    if (strncmp(d->id, "bat_", 4) == 0) /* a batch: how many events it carries */
        bad |= psw_json_add_int(o, "batch_count", d->batch_count);
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* {"delivery": psw_delivery_to_json, "event": the event body parsed (null
 * when the event expired; a string if it is somehow not JSON), "attempts":
 * [the stored attempt records, oldest first]}. */
struct json_object *psw_delivery_detail_to_json(const struct psw_delivery_detail *dd)
{
    struct json_object *o = json_object_new_object();
    struct json_object *d = NULL, *ev = NULL, *arr = NULL;
    int bad = 0;

    if (!o)
        return NULL;
    d = psw_delivery_to_json(&dd->d);
    bad |= d ? psw_json_add(o, "delivery", d) : -1;
    if (dd->event_body) {
        ev = json_tokener_parse(dd->event_body);
        if (!ev)
            ev = json_object_new_string(dd->event_body);
        bad |= ev ? psw_json_add(o, "event", ev) : -1;
    } else {
        bad |= psw_json_add(o, "event", NULL);
    }
    arr = json_object_new_array();
    if (arr) {
        for (size_t i = 0; i < dd->n_attempts && !bad; i++) {
            struct json_object *a = json_object_get(dd->attempts[i]);
            if (json_object_array_add(arr, a) != 0) {
                json_object_put(a);
                bad = -1;
            }
        }
        bad |= psw_json_add(o, "attempts", arr);
    } else {
        bad = -1;
    }
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
