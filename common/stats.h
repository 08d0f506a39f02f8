/*
 * stats.h — counters, queue depths, live workers and alerts (psw stats,
 * psw queue, psw alerts).
 */
#ifndef PSW_STATS_H
#define PSW_STATS_H

#include <stddef.h>

#include "common/ctx.h"

struct json_object;

/* psw:stats, or psw:endpoint:<id>:stats when endpoint_id is given, as a JSON
 * object of integer counters (every documented counter present, 0 when
 * unset; last_* times as ISO strings or null). PSW_ENOTFOUND for an unknown
 * endpoint. */
int psw_stats_get(struct psw_ctx *ctx, const char *endpoint_id, struct json_object **out,
                  char *err, size_t errlen);

/* The counters of one account: the sum of its endpoints' counters, as
 * {"account_id", "endpoints": N, <each endpoint counter>: N}. */
int psw_stats_account(struct psw_ctx *ctx, const char *account, struct json_object **out,
                      char *err, size_t errlen);

/* The queues: {"ready": N, "scheduled": N, "failed": N, "waiting": N,
 * "in_flight": N, "oldest_ready_lag_ms": N or null, "next_due_in_ms": N or
 * null, "workers": [{"id", "host", "pid", "in_flight", "concurrency",
 * "last_heartbeat_ms_ago", "started_at"}…] (live = heartbeat within
 * scheduler.worker_timeout), "schedulers": [{"id", "last_tick_ms_ago"}…]}. */
int psw_queue_get(struct psw_ctx *ctx, struct json_object **out, char *err, size_t errlen);

/* Alerts since (ms, 0 = all), oldest first, at most limit (0 = 100):
 * a JSON array of {"id", "type", "endpoint_id", "account_id", "reason", "at"}. */
int psw_alerts_get(struct psw_ctx *ctx, long long since, size_t limit, struct json_object **out,
                   char *err, size_t errlen);

/* Cluster mode (docs/redis.md "Redis Cluster"): calls get on every shard and
 * merges the documents (counters summed, a *_lag_ms the largest, a *_in_ms
 * the smallest, lists joined with an entry of the same "id" once). Returns 1
 * when it did (the status in *rc, the document in *out), 0 when there is one
 * shard or the call is one of the merge's own (the caller then does its
 * usual work). */
int psw_stats_merge_shards(struct psw_ctx *ctx,
                           int (*get)(struct psw_ctx *, struct json_object **, char *, size_t),
                           struct json_object **out, char *err, size_t errlen, int *rc);

#endif
