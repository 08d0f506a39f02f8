/*
 * publish.c — parse and validate in C, then publish.lua for up to
 * PUBLISH_PER_CALL events per call (fewer for wide fan-outs, see there), the
 * calls of a chunk pipelined in one
 * round trip. Owns nothing beyond each call.
 *
 * Several events per script call cost Redis much less than one call each
 * (see publish.lua); the per-call bound keeps one call short, since a wide
 * fan-out makes each event many deliveries and Redis runs nothing else
 * while a script runs.
 *
 * redis.min_replicas_acked: after each chunk, WAIT until that many replicas
 * hold its writes (docs/operations.md). Until then nothing is confirmed: a
 * chunk the replicas did not acknowledge in time is reported as failed —
 * the events are stored on the primary, and publishing them again is safe
 * (idempotent by id) — and the rest of the call is not sent.
 */
#include "common/publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/reply.h"
#include "common/timeutil.h"

#define PUBLISH_CHUNK PSW_PUBLISH_CHUNK
/* Events per publish.lua call: PUBLISH_PER_CALL (the array's capacity) when
 * the events fan out to few deliveries, fewer as the fan-out grows, so that
 * a call makes about PUBLISH_CALL_DELIVERIES deliveries (Redis runs nothing
 * else meanwhile), but never fewer than PUBLISH_PER_CALL_MIN: a call reads
 * each account's endpoints once, which wide fan-outs need amortized. The
 * first chunk of a psw_publish_many uses the minimum; its replies say how
 * many deliveries an event made. 64 events per call instead of 16 saved
 * Redis 4.5% of its instructions per delivery (docs/performance.md). */
#define PUBLISH_PER_CALL 64
#define PUBLISH_PER_CALL_MIN 16
#define PUBLISH_CALL_DELIVERIES 1024
#define PUBLISH_FIELDS 7    /* script arguments per event */
#define PUBLISH_CALLS ((PUBLISH_CHUNK + PUBLISH_PER_CALL_MIN - 1) / PUBLISH_PER_CALL_MIN)

_Static_assert(sizeof(((struct psw_publish_result *)0)->event_id) ==
                   sizeof(((struct psw_event *)0)->id),
               "prepare copies the event id whole");

/* One parsed event; the script arguments point into ev and these buffers. */
struct prepared {
    struct psw_event ev;
    char created[PSW_I64_SIZE];
    char dlv_id[PSW_ID_SIZE];
};

static int prepare(struct psw_ctx *ctx, const char *json, size_t len, struct json_object *tree,
                   struct prepared *p, struct psw_publish_result *res)
{
    struct psw_event_limits lim = PSW_EVENT_LIMITS_INIT;
    lim.max_bytes = (size_t)ctx->cfg->limits_max_event_bytes;
    lim.max_depth = ctx->cfg->limits_max_json_depth;

    memset(res, 0, sizeof(*res));
    if (psw_event_parse_tree(json, len, tree, &lim, psw_now_ms(), &p->ev, res->err,
                             sizeof(res->err)) < 0)
        return res->status = PSW_EINVAL;
    memcpy(res->event_id, p->ev.id, sizeof(res->event_id)); /* same size, NUL-terminated */
    if (psw_id_new("dlv_", p->dlv_id) < 0) {
        snprintf(res->err, sizeof(res->err), "random generator failed");
        psw_event_free(&p->ev);
        return res->status = PSW_EFAIL;
    }
    psw_fmt_i64(p->created, (long long)p->ev.created_at_ms);
    return PSW_OK;
}

/* Appends the event's 7 script arguments at argv/lens. */
static void event_args(const struct prepared *p, const char **argv, size_t *lens)
{
    const char *v[PUBLISH_FIELDS] = {
        p->ev.id, psw_event_type_names[p->ev.type], p->ev.account_id, p->ev.domain,
        p->created, p->ev.body, p->dlv_id,
    };
    for (int i = 0; i < PUBLISH_FIELDS; i++) {
        argv[i] = v[i];
        lens[i] = i == 5 ? p->ev.body_len : strlen(v[i]);
    }
}

/* WAIT for redis.min_replicas_acked replicas. 0, or -1 with the reason in
 * why (a lost connection included).
 *
 * WAIT waits for this connection's last write. A duplicate writes nothing,
 * and the event it found may have been written by an earlier connection
 * (a publish that was not confirmed, sent again after a reconnect) and not
 * be on any replica yet: without a write of its own, WAIT would confirm it
 * at once. So a chunk with duplicates first counts them in the stats hash
 * (events_republished), a write that follows the event's. */
static int wait_replicas(struct psw_ctx *ctx, int dups, char *why, size_t n)
{
    int want = ctx->cfg->redis_min_replicas_acked;
    redisReply *rep = NULL;
    int rc = -1;
    if (dups > 0) {
        char key[PSW_KEY_SIZE];
        psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_STATS, NULL);
        rep = psw_redis_command(ctx->redis, "HINCRBY %s events_republished %d", key, dups);
        if (!rep || rep->type != REDIS_REPLY_INTEGER) {
            snprintf(why, n, "%s", rep ? "redis: HINCRBY: unexpected reply" : psw_redis_errstr(ctx->redis));
            if (rep && rep->type == REDIS_REPLY_ERROR)
                snprintf(why, n, "redis: HINCRBY: %s", rep->str);
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    rep = psw_redis_command(ctx->redis, "WAIT %d %lld", want,
                            (long long)ctx->cfg->redis_min_replicas_timeout_ms);
    if (!rep)
        snprintf(why, n, "%s", psw_redis_errstr(ctx->redis));
    else if (rep->type != REDIS_REPLY_INTEGER)
        snprintf(why, n, "redis: WAIT: %s", rep->type == REDIS_REPLY_ERROR ? rep->str
                                                                         : "unexpected reply");
    else if (rep->integer < want)
        snprintf(why, n, "stored on the primary, but %lld of %d replicas acknowledged it within "
                 "%lld ms (redis.min_replicas_acked)", rep->integer, want,
                 (long long)ctx->cfg->redis_min_replicas_timeout_ms);
    else
        rc = 0;
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* Reads one event's part of a publish.lua reply into res. */
static void take_reply(const redisReply *rep, struct psw_publish_result *res)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(res->err, sizeof(res->err), "redis: %s", rep->str);
        res->status = PSW_EFAIL;
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(res->err, sizeof(res->err), "redis: unexpected reply to publish");
        res->status = PSW_EFAIL;
        return;
    }
    res->duplicate = strcmp(rep->element[0]->str, "duplicate") == 0;
    res->deliveries = (int)rep->element[1]->integer;
    res->skipped = !res->duplicate && rep->elements > 2 ? (int)rep->element[2]->integer : 0;
    res->status = PSW_OK;
}

static int publish_many(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                        const size_t *lens, struct json_object *const *trees,
                        struct psw_publish_result *res);

int psw_publish(struct psw_ctx *ctx, const char *json, size_t len,
                struct psw_publish_result *res)
{
    return psw_publish_many(ctx, 1, &json, &len, res) == 0 ? PSW_OK : res->status;
}

int psw_publish_many(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                     const size_t *lens, struct psw_publish_result *res)
{
    return publish_many(ctx, n, jsons, lens, NULL, res);
}

int psw_publish_many_parsed(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                            const size_t *lens, struct json_object *const *trees,
                            struct psw_publish_result *res)
{
    return publish_many(ctx, n, jsons, lens, trees, res);
}

/* Cluster mode (docs/redis.md "Redis Cluster"): the shard of each event's
 * account; an event that does not parse goes to ctx's own shard, where the
 * normal path reports what is wrong with it. */
static unsigned event_shard(struct psw_ctx *ctx, const char *json, size_t len,
                            struct json_object *tree)
{
    struct psw_event_limits lim = PSW_EVENT_LIMITS_INIT;
    struct psw_event ev;
    char why[256];
    unsigned shard = ctx->shard;
    lim.max_bytes = (size_t)ctx->cfg->limits_max_event_bytes;
    lim.max_depth = ctx->cfg->limits_max_json_depth;
    if (psw_event_parse_tree(json, len, tree, &lim, psw_now_ms(), &ev, why, sizeof(why)) == 0) {
        shard = psw_ctx_account_shard(ctx->cfg, ev.account_id);
        psw_event_free(&ev);
    }
    return shard;
}

/* Publishes each shard's events with that shard's ctx, and sets *rc to
 * what psw_publish_many returns. Returns 0 when all events belong to ctx's
 * own shard (the caller publishes them itself), else 1. */
static int publish_sharded(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                           const size_t *lens, struct json_object *const *trees,
                           struct psw_publish_result *res, int *rc)
{
    int down = 0;
    unsigned *shard = calloc(n ? n : 1, sizeof(*shard));
    const char **sub = calloc(n ? n : 1, sizeof(*sub));
    size_t *sublen = calloc(n ? n : 1, sizeof(*sublen));
    struct json_object **subtree = calloc(n ? n : 1, sizeof(*subtree));
    size_t *at = calloc(n ? n : 1, sizeof(*at));
    struct psw_publish_result *subres = calloc(n ? n : 1, sizeof(*subres));
    int foreign = 0, failed = 0;
    if (!shard || !sub || !sublen || !subtree || !at || !subres) {
        free(shard), free(sub), free(sublen), free(subtree), free(at), free(subres);
        return 0; /* the caller's own path reports the lack of memory */
    }
    for (size_t i = 0; i < n; i++) {
        shard[i] = event_shard(ctx, jsons[i], lens[i], trees ? trees[i] : NULL);
        foreign |= shard[i] != ctx->shard;
    }
    if (!foreign) {
        free(shard), free(sub), free(sublen), free(subtree), free(at), free(subres);
        return 0;
    }
    for (unsigned s = 0; s < psw_ctx_nshards(ctx->cfg); s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (shard[i] == s) {
                sub[m] = jsons[i];
                sublen[m] = lens[i];
                subtree[m] = trees ? trees[i] : NULL;
                at[m++] = i;
            }
        if (m == 0)
            continue;
        char err[512];
        struct psw_ctx *sc = psw_ctx_shard(ctx, s, err, sizeof(err));
        for (size_t k = 0; k < m; k++) {
            if (!sc) {
                memset(&res[at[k]], 0, sizeof(res[at[k]]));
                res[at[k]].status = PSW_EFAIL;
                snprintf(res[at[k]].err, sizeof(res[at[k]].err), "%s", err);
                failed++;
            }
        }
        if (!sc)
            continue;
        int f = publish_many(sc, m, sub, sublen, subtree, subres);
        if (f == PSW_EFAIL)
            down = 1;
        for (size_t k = 0; k < m; k++)
            failed += f == PSW_EFAIL && subres[k].status != PSW_OK;
        if (f > 0)
            failed += f;
        for (size_t k = 0; k < m; k++)
            res[at[k]] = subres[k];
    }
    free(shard), free(sub), free(sublen), free(subtree), free(at), free(subres);
    *rc = down ? PSW_EFAIL : failed;
    return 1;
}

static int publish_many(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                        const size_t *lens, struct json_object *const *trees,
                        struct psw_publish_result *res)
{
    char retention[24];
    int sharded_rc = 0;
    if (psw_ctx_nshards(ctx->cfg) > 1 &&
        publish_sharded(ctx, n, jsons, lens, trees, res, &sharded_rc))
        return sharded_rc;
    struct prepared *prep = calloc(PUBLISH_CHUNK, sizeof(*prep));
    /* per call: prefix, retention, then PUBLISH_FIELDS per event */
    const char **av = calloc(PUBLISH_CALLS * (2 + PUBLISH_PER_CALL * PUBLISH_FIELDS),
                             sizeof(*av));
    size_t *al = calloc(PUBLISH_CALLS * (2 + PUBLISH_PER_CALL * PUBLISH_FIELDS), sizeof(*al));
    int failed = 0, redis_down = 0;
    char down_why[400] = ""; /* why, once redis_down */
    size_t per_call = PUBLISH_PER_CALL_MIN;
    long long made = 0, published = 0; /* deliveries and events so far */

    if (!prep || !av || !al) {
        for (size_t i = 0; i < n; i++) {
            memset(&res[i], 0, sizeof(res[i]));
            res[i].status = PSW_EFAIL;
            snprintf(res[i].err, sizeof(res[i].err), "out of memory");
        }
        free(prep);
        free(av);
        free(al);
        return (int)n;
    }
    snprintf(retention, sizeof(retention), "%lld", psw_ctx_retention_ms(ctx));

    for (size_t base = 0; base < n; base += PUBLISH_CHUNK) {
        size_t m = n - base < PUBLISH_CHUNK ? n - base : PUBLISH_CHUNK;
        int argcs[PUBLISH_CALLS];
        const char *const *argvs[PUBLISH_CALLS];
        const size_t *lensv[PUBLISH_CALLS];
        redisReply *replies[PUBLISH_CALLS];
        size_t slot[PUBLISH_CHUNK]; /* which event each prepared one is */
        size_t k = 0, ncalls = 0;

        for (size_t i = 0; i < m; i++) {
            struct psw_publish_result *r = &res[base + i];
            if (prepare(ctx, jsons[base + i], lens[base + i], trees ? trees[base + i] : NULL,
                        &prep[k], r) != PSW_OK) {
                failed++;
                continue;
            }
            if (redis_down) {
                r->status = PSW_EFAIL;
                snprintf(r->err, sizeof(r->err), "not published: %s", down_why);
                psw_event_free(&prep[k].ev);
                failed++;
                continue;
            }
            slot[k] = base + i;
            k++;
        }
        /* k events into calls of up to per_call */
        for (size_t first = 0; first < k; first += per_call) {
            size_t cnt = k - first < per_call ? k - first : per_call;
            size_t off = ncalls * (2 + PUBLISH_PER_CALL * PUBLISH_FIELDS);
            av[off] = ctx->cfg->redis_prefix;
            al[off] = strlen(ctx->cfg->redis_prefix);
            av[off + 1] = retention;
            al[off + 1] = strlen(retention);
            for (size_t j = 0; j < cnt; j++)
                event_args(&prep[first + j], av + off + 2 + j * PUBLISH_FIELDS,
                           al + off + 2 + j * PUBLISH_FIELDS);
            argcs[ncalls] = (int)(2 + cnt * PUBLISH_FIELDS);
            argvs[ncalls] = av + off;
            lensv[ncalls] = al + off;
            ncalls++;
        }
        if (ncalls > 0 && psw_redis_eval_many(ctx->redis, PSW_SCRIPT_PUBLISH, ncalls, argcs,
                                              argvs, lensv, replies) < 0) {
            redis_down = 1;
            snprintf(down_why, sizeof(down_why), "%s", psw_redis_errstr(ctx->redis));
            for (size_t j = 0; j < k; j++) {
                struct psw_publish_result *r = &res[slot[j]];
                r->status = PSW_EFAIL;
                snprintf(r->err, sizeof(r->err), "not confirmed: %s",
                         psw_redis_errstr(ctx->redis));
                failed++;
                psw_event_free(&prep[j].ev);
            }
            for (size_t c = 0; c < ncalls; c++)
                if (replies[c])
                    freeReplyObject(replies[c]);
            continue;
        }
        int dups = 0;
        for (size_t j = 0; j < k; j++) {
            const redisReply *rep = replies[j / per_call];
            size_t at = j % per_call;
            if (rep->type == REDIS_REPLY_ARRAY && at < rep->elements)
                take_reply(rep->element[at], &res[slot[j]]);
            else
                take_reply(rep, &res[slot[j]]); /* an error answers for the whole call */
            dups += res[slot[j]].status == PSW_OK && res[slot[j]].duplicate;
            if (res[slot[j]].status == PSW_OK && !res[slot[j]].duplicate) {
                made += res[slot[j]].deliveries;
                published++;
            }
        }
        if (published > 0) {
            long long fan = (made + published - 1) / published;
            long long want = PUBLISH_CALL_DELIVERIES / (fan > 0 ? fan : 1);
            per_call = want > PUBLISH_PER_CALL       ? PUBLISH_PER_CALL
                       : want < PUBLISH_PER_CALL_MIN ? PUBLISH_PER_CALL_MIN
                                                     : (size_t)want;
        }
        char unacked[400] = "";
        if (ncalls > 0 && ctx->cfg->redis_min_replicas_acked > 0 &&
            wait_replicas(ctx, dups, unacked, sizeof(unacked)) < 0) {
            redis_down = 1; /* what follows would wait as long: not sent */
            snprintf(down_why, sizeof(down_why), "%s", unacked);
        }
        for (size_t j = 0; j < k; j++) {
            if (res[slot[j]].status == PSW_OK && unacked[0]) {
                res[slot[j]].status = PSW_EFAIL;
                snprintf(res[slot[j]].err, sizeof(res[slot[j]].err), "not confirmed: %s", unacked);
            }
            if (res[slot[j]].status != PSW_OK)
                failed++;
            psw_event_free(&prep[j].ev);
        }
        for (size_t c = 0; c < ncalls; c++)
            freeReplyObject(replies[c]);
    }
    free(prep);
    free(av);
    free(al);
    return redis_down ? PSW_EFAIL : failed;
}
