/*
 * ctx.c — opens the Redis connection described by a config.
 */
#include "common/ctx.h"

#include <stdio.h>
#include <string.h>

void psw_ctx_redis_options(const struct psw_config *cfg, struct psw_redis_options *opt)
{
    struct psw_redis_options init = PSW_REDIS_OPTIONS_INIT;
    *opt = init;
    opt->url = cfg->redis_url;
    opt->connect_timeout_ms = cfg->redis_connect_timeout_ms;
    opt->command_timeout_ms = cfg->redis_command_timeout_ms;
    if (cfg->redis_sentinels_n > 0) {
        opt->sentinels = (const char *const *)cfg->redis_sentinels;
        opt->nsentinels = cfg->redis_sentinels_n;
        opt->sentinel_master = cfg->redis_sentinel_master;
        opt->sentinel_password = cfg->redis_sentinel_password;
    }
}

int psw_ctx_open(struct psw_ctx *ctx, const struct psw_config *cfg, int retry,
                 volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct psw_redis_options opt;
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = cfg;
    psw_ctx_redis_options(cfg, &opt);
    opt.retry = retry;
    opt.stop = stop;
    ctx->redis = psw_redis_new(&opt, err, errlen);
    if (!ctx->redis)
        return PSW_EINVAL;
    if (psw_redis_ensure(ctx->redis) < 0) {
        snprintf(err, errlen, "%s", psw_redis_errstr(ctx->redis));
        psw_redis_free(ctx->redis);
        ctx->redis = NULL;
        return PSW_EFAIL;
    }
    return PSW_OK;
}

void psw_ctx_close(struct psw_ctx *ctx)
{
    psw_redis_free(ctx->redis);
    ctx->redis = NULL;
}

char *psw_ctx_key(const struct psw_ctx *ctx, char *out, size_t n, enum psw_key key,
                  const char *id)
{
    return psw_key(out, n, ctx->cfg->redis_prefix, key, id);
}

long long psw_ctx_retention_ms(const struct psw_ctx *ctx)
{
    return (long long)ctx->cfg->retention_days * 86400000LL;
}

int psw_ctx_redis_failure(struct psw_ctx *ctx, const redisReply *rep, const char *what,
                          char *err, size_t errlen)
{
    if (!rep)
        snprintf(err, errlen, "%s", psw_redis_errstr(ctx->redis));
    else if (rep->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "redis: %s: %s", what, rep->str);
    else
        snprintf(err, errlen, "redis: %s: unexpected reply", what);
    return PSW_EFAIL;
}
