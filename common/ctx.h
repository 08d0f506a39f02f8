/*
 * ctx.h — what every library operation needs: the effective configuration
 * and a Redis connection. The CLI, the daemons and (later) the HTTP API each
 * open one per process (per child after fork) and pass it to the operations
 * in endpoint.h, publish.h, delivery.h …
 *
 * Return codes shared by all operations: 0 success, and the negative values
 * below; the message goes to the caller's err buffer. The CLI maps them onto
 * its exit status: PSW_EINVAL → 2 (usage or input error), others → 1.
 */
#ifndef PSW_CTX_H
#define PSW_CTX_H

#include <signal.h>
#include <stddef.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/redis.h"

enum {
    PSW_OK = 0,
    PSW_EFAIL = -1,     /* the operation failed (Redis unreachable, …) */
    PSW_EINVAL = -2,    /* bad input: the message names what is wrong */
    PSW_ENOTFOUND = -3, /* no such endpoint / delivery / event */
    PSW_ECONFLICT = -4, /* refused in the current state (e.g. endpoint disabled) */
};

struct psw_ctx {
    const struct psw_config *cfg; /* borrowed (cluster mode: own_cfg) */
    struct psw_redis *redis;      /* owned */
    /* Redis Cluster (docs/redis.md "Redis Cluster"): a ctx serves one
     * logical shard. Its cfg is then own_cfg, a copy of the configuration
     * whose redis_prefix is the shard's ("psw:{3}:"), so that every
     * operation builds that shard's key names; the copy borrows everything
     * else from the configuration it was made from. Without cluster,
     * shard is 0 and cfg the configuration itself. */
    unsigned shard;
    struct psw_config *own_cfg;
    /* The ctx opened by psw_ctx_open (shard 0) opens the others on demand:
     * psw_ctx_shard(). */
    struct psw_ctx *others;       /* nshards entries; [0] unused */
    int retry;
    volatile sig_atomic_t *stop;
};

/* retry: keep reconnecting (daemons) instead of failing fast (CLI).
 * stop: retry loops give up when it is set (may be NULL). Connects now; with
 * retry off, an unreachable Redis is an error here. */
int psw_ctx_open(struct psw_ctx *ctx, const struct psw_config *cfg, int retry,
                 volatile sig_atomic_t *stop, char *err, size_t errlen);
void psw_ctx_close(struct psw_ctx *ctx);

/* The number of logical shards: redis.shards with redis.cluster, else 1. */
unsigned psw_ctx_nshards(const struct psw_config *cfg);

/* The shard an account's endpoints, events and deliveries live in. */
unsigned psw_ctx_account_shard(const struct psw_config *cfg, const char *account_id);

/* Cluster mode: a copy of cfg (of the base configuration) for shard i,
 * whose redis_prefix is the shard's; it borrows everything else from cfg.
 * Free with psw_ctx_shard_config_free. NULL when out of memory. */
struct psw_config *psw_ctx_shard_config(const struct psw_config *cfg, unsigned shard);
void psw_ctx_shard_config_free(struct psw_config *c);

/* psw_ctx_open for one shard (shard < psw_ctx_nshards(cfg)). With retry
 * PSW_REDIS_RETRY_POLLED an unreachable Redis is not an error: the
 * connection is made by a later call. */
int psw_ctx_open_shard(struct psw_ctx *ctx, const struct psw_config *cfg, unsigned shard,
                       int retry, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* The ctx of shard i, opened on first use with ctx's retry mode; ctx itself
 * for its own shard. NULL + err when it cannot be opened. */
struct psw_ctx *psw_ctx_shard(struct psw_ctx *ctx, unsigned shard, char *err, size_t errlen);

/* Cluster mode: the ctx of the shard holding key(id) (EXISTS on each shard
 * in turn), or ctx itself when no shard holds it or without cluster, so
 * that the caller goes on and reports "not found" as it always did. NULL +
 * err when a shard could not be asked. */
struct psw_ctx *psw_ctx_locate(struct psw_ctx *ctx, enum psw_key key, const char *id, char *err,
                               size_t errlen);

/* The ctx of an account's shard (ctx itself without cluster). NULL + err. */
struct psw_ctx *psw_ctx_for_account(struct psw_ctx *ctx, const char *account_id, char *err,
                                    size_t errlen);

/* The first statement of an operation on one endpoint, delivery or
 * account: in cluster mode ctx becomes the ctx of the shard holding it. */
#define PSW_CTX_ROUTE(ctx, key, id, err, errlen)                                              \
    do {                                                                                   \
        struct psw_ctx *routed_ = psw_ctx_locate((ctx), (key), (id), (err), (errlen));     \
        if (!routed_)                                                                      \
            return PSW_EFAIL;                                                              \
        (ctx) = routed_;                                                                   \
    } while (0)
#define PSW_CTX_ROUTE_ACCOUNT(ctx, account, err, errlen)                                      \
    do {                                                                                   \
        struct psw_ctx *routed_ = psw_ctx_for_account((ctx), (account), (err), (errlen));  \
        if (!routed_)                                                                      \
            return PSW_EFAIL;                                                              \
        (ctx) = routed_;                                                                   \
    } while (0)

/* Points ctx (and the shard ctxs it opened) at a reloaded configuration;
 * the Redis connection settings stay those it was opened with. */
void psw_ctx_set_config(struct psw_ctx *ctx, const struct psw_config *cfg);

/* The connection options cfg describes (URL, timeouts, sentinels), over
 * PSW_REDIS_OPTIONS_INIT; the caller sets retry and the rest. Pointers in
 * *opt borrow from cfg. */
void psw_ctx_redis_options(const struct psw_config *cfg, struct psw_redis_options *opt);

/* psw_key() with the configured prefix. */
char *psw_ctx_key(const struct psw_ctx *ctx, char *out, size_t n, enum psw_key key,
                  const char *id);

/* The message for a failed Redis call — no reply (the connection failed:
 * the redis module's error) or an error/unexpected reply — written to err,
 * naming what was being done. Returns PSW_EFAIL, so callers can
 * `return psw_ctx_redis_failure(…)`. */
int psw_ctx_redis_failure(struct psw_ctx *ctx, const redisReply *rep, const char *what,
                          char *err, size_t errlen);

/* Retention in ms (retention.days), the TTL of event, delivery and attempt keys. */
long long psw_ctx_retention_ms(const struct psw_ctx *ctx);

#endif
