/*
 * metrics.c — see metrics.h. What each metric counts is in docs/metrics.md; the
 * Redis side is docs/redis.md (psw:stats, psw:stats:attempts).
 *
 * The attempt counters by outcome and the latency histogram are written by
 * complete.lua into stats:attempts: one field per outcome
 * ("outcome_<class>") and, per bucket, the attempts whose latency the bucket
 * is the smallest to hold ("duration_le_<ms>", "duration_le_inf"); the
 * cumulative counts Prometheus wants are summed here. The bucket bounds
 * below must be complete.lua's.
 *
 * Ownership: the text is built in an open_memstream buffer that goes to the
 * caller; the Redis reply is freed here.
 */
#include "common/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/reply.h"

static const long long bounds_ms[] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000 };
#define NBOUNDS (sizeof(bounds_ms) / sizeof(bounds_ms[0]))

static const char *const outcomes[] = {
    "delivered", "http_4xx", "http_5xx", "timeout", "connect", "dns", "tls", "blocked", "other",
};

/* Counters of psw:stats shown as they are: field, metric, help. */
static const struct {
    const char *field, *name, *help;
} counters[] = {
    { "events_published", "psw_events_published_total", "Events published (duplicates not counted)." },
    { "deliveries_created", "psw_deliveries_created_total", "Deliveries created by fan-out." },
    { "delivered", "psw_deliveries_delivered_total", "Deliveries that got a 2xx answer." },
    { "failed", "psw_deliveries_failed_total", "Deliveries that failed for good (retries exhausted or expired, crashed)." },
    { "skipped", "psw_deliveries_skipped_total", "Deliveries recorded skipped: their endpoint was disabled or deleted." },
    { "retries_scheduled", "psw_retries_scheduled_total", "Failed attempts followed by a scheduled retry." },
    { "recovered", "psw_deliveries_recovered_total", "Deliveries requeued after their worker died." },
    { "replayed", "psw_deliveries_replayed_total", "Deliveries queued again by a replay." },
    { "endpoints_disabled", "psw_endpoints_disabled_total", "Endpoints disabled automatically (consecutive failures or 410 Gone)." },
};

/* ms as seconds without floating point (and so without the locale's
 * decimal comma): 5 -> "0.005", 2500 -> "2.5", 1000 -> "1". */
static void seconds(char *out, size_t n, long long ms)
{
    int len = snprintf(out, n, "%lld.%03lld", ms / 1000, ms % 1000);
    while (len > 0 && out[len - 1] == '0')
        out[--len] = '\0';
    if (len > 0 && out[len - 1] == '.')
        out[--len] = '\0';
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static long long field(const redisReply *hash, const char *name)
{
    return psw_parse_ll(psw_reply_hget(hash, name), 0);
}

#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))
#define NOUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))
#define NQUEUES 5

/* Every number /metrics shows, summed over the logical shards in cluster
 * mode (docs/metrics.md): each shard keeps its own counters and queues. */
struct totals {
    long long counters[NCOUNTERS], outcomes[NOUTCOMES], buckets[NBOUNDS + 1];
    long long sum_ms, count, enabled, disabled, queues[NQUEUES], workers, schedulers;
};

/* Adds one shard's snapshot (metrics.lua) to t. */
static int add_shard(struct psw_ctx *ctx, struct totals *t, char *err, size_t errlen)
{
    char window[24], name[64];

    snprintf(window, sizeof(window), "%lld", (long long)ctx->cfg->scheduler_worker_timeout_ms);
    const char *argv[] = { ctx->cfg->redis_prefix, window };
    redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_METRICS, 2, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 10 ||
        rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[1]->type != REDIS_REPLY_ARRAY ||
        rep->element[9]->type != REDIS_REPLY_ARRAY) {
        int rc = psw_ctx_redis_failure(ctx, rep, "metrics", err, errlen);
        freeReplyObject(rep);
        return rc;
    }
    const redisReply *stats = rep->element[0], *att = rep->element[1], *eps = rep->element[9];
    for (size_t i = 0; i < NCOUNTERS; i++)
        t->counters[i] += field(stats, counters[i].field);
    for (size_t i = 0; i < NOUTCOMES; i++) {
        snprintf(name, sizeof(name), "outcome_%s", outcomes[i]);
        t->outcomes[i] += field(att, name);
    }
    for (size_t i = 0; i < NBOUNDS; i++) {
        snprintf(name, sizeof(name), "duration_le_%lld", bounds_ms[i]);
        t->buckets[i] += field(att, name);
    }
    t->buckets[NBOUNDS] += field(att, "duration_le_inf");
    t->sum_ms += field(att, "duration_ms_sum");
    t->count += field(att, "duration_count");
    for (size_t i = 0; i + 1 < eps->elements; i += 2) {
        const char *st = psw_reply_str(eps, i);
        long long n = psw_reply_int(eps, i + 1, 0);
        if (st && strcmp(st, "enabled") == 0)
            t->enabled += n;
        else if (st && strcmp(st, "disabled") == 0)
            t->disabled += n;
    }
    for (size_t i = 0; i < NQUEUES; i++)
        t->queues[i] += psw_reply_int(rep, 2 + i, 0);
    /* a worker child or scheduler heartbeats into every shard it serves:
     * the live ones are the most any shard counts, not the sum */
    if (psw_reply_int(rep, 7, 0) > t->workers)
        t->workers = psw_reply_int(rep, 7, 0);
    if (psw_reply_int(rep, 8, 0) > t->schedulers)
        t->schedulers = psw_reply_int(rep, 8, 0);
    freeReplyObject(rep);
    return PSW_OK;
}

int psw_metrics_render(struct psw_ctx *ctx, char **out, size_t *len, char *err, size_t errlen)
{
    struct totals t;
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = NULL;
    int rc = PSW_EFAIL;
    unsigned nshards = psw_ctx_nshards(ctx->cfg);

    *out = NULL;
    *len = 0;
    memset(&t, 0, sizeof(t));
    for (unsigned i = 0; i < nshards; i++) {
        struct psw_ctx *sc = nshards > 1 ? psw_ctx_shard(ctx, i, err, errlen) : ctx;
        if (!sc)
            return PSW_EFAIL;
        if ((rc = add_shard(sc, &t, err, errlen)) != PSW_OK)
            return rc;
    }

    if (!(f = open_memstream(&buf, &blen)))
        goto oom;
    for (size_t i = 0; i < NCOUNTERS; i++) {
        head(f, counters[i].name, "counter", counters[i].help);
        fprintf(f, "%s %lld\n", counters[i].name, t.counters[i]);
    }

    head(f, "psw_attempts_total", "counter",
         "Delivery attempts by outcome: delivered (2xx), http_4xx, http_5xx, timeout, connect, dns, "
         "tls, blocked (SSRF guard), other (redirects, malformed answers, the worker's own failures).");
    for (size_t i = 0; i < NOUTCOMES; i++)
        fprintf(f, "psw_attempts_total{outcome=\"%s\"} %lld\n", outcomes[i], t.outcomes[i]);

    head(f, "psw_attempt_duration_seconds", "histogram",
         "Time from the start of a delivery attempt to its answer or error.");
    long long cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += t.buckets[i];
        char le[32];
        seconds(le, sizeof(le), bounds_ms[i]);
        fprintf(f, "psw_attempt_duration_seconds_bucket{le=\"%s\"} %lld\n", le, cum);
    }
    cum += t.buckets[NBOUNDS];
    fprintf(f, "psw_attempt_duration_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
    fprintf(f, "psw_attempt_duration_seconds_sum %lld.%03lld\n", t.sum_ms / 1000, t.sum_ms % 1000);
    fprintf(f, "psw_attempt_duration_seconds_count %lld\n", t.count);

    head(f, "psw_endpoints", "gauge", "Endpoints by status.");
    fprintf(f, "psw_endpoints{status=\"enabled\"} %lld\n", t.enabled);
    fprintf(f, "psw_endpoints{status=\"disabled\"} %lld\n", t.disabled);

    static const char *const queues[NQUEUES] = { "ready", "scheduled", "failed", "waiting", "in_flight" };
    head(f, "psw_queue_length", "gauge",
         "Deliveries per queue: ready (due now), scheduled (waiting for a retry), failed, waiting "
         "(held back by endpoint.max_in_flight), in_flight (held by live workers).");
    for (size_t i = 0; i < NQUEUES; i++)
        fprintf(f, "psw_queue_length{queue=\"%s\"} %lld\n", queues[i], t.queues[i]);

    head(f, "psw_workers", "gauge", "Live worker children (heartbeat within scheduler.worker_timeout).");
    fprintf(f, "psw_workers %lld\n", t.workers);
    head(f, "psw_schedulers", "gauge", "Live schedulers (tick within scheduler.worker_timeout).");
    fprintf(f, "psw_schedulers %lld\n", t.schedulers);

    if (ferror(f))
        goto oom;
    if (fclose(f) != 0) {
        f = NULL;
        goto oom;
    }
    f = NULL;
    *out = buf;
    *len = blen;
    buf = NULL;
    rc = PSW_OK;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
    rc = PSW_EFAIL;
cleanup:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}
