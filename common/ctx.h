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
    const struct psw_config *cfg; /* borrowed */
    struct psw_redis *redis;      /* owned */
};

/* retry: keep reconnecting (daemons) instead of failing fast (CLI).
 * stop: retry loops give up when it is set (may be NULL). Connects now; with
 * retry off, an unreachable Redis is an error here. */
int psw_ctx_open(struct psw_ctx *ctx, const struct psw_config *cfg, int retry,
                 volatile sig_atomic_t *stop, char *err, size_t errlen);
void psw_ctx_close(struct psw_ctx *ctx);

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
