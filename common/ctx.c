/*
 * ctx.c — opens the Redis connection described by a config.
 */
#include "common/ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cluster.h"

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
    opt->cluster = cfg->redis_cluster;
    opt->cluster_key = cfg->redis_prefix; /* a shard's prefix: the slot it serves */
}

unsigned psw_ctx_nshards(const struct psw_config *cfg)
{
    return cfg->redis_cluster && cfg->redis_shards > 0 ? (unsigned)cfg->redis_shards : 1;
}

unsigned psw_ctx_account_shard(const struct psw_config *cfg, const char *account_id)
{
    return psw_shard_of_account(account_id ? account_id : "", psw_ctx_nshards(cfg));
}

/* The shard's copy of cfg (cluster mode), with the shard's prefix. */
static struct psw_config *shard_config(const struct psw_config *cfg, unsigned shard,
                                       const char *base_prefix);

struct psw_config *psw_ctx_shard_config(const struct psw_config *cfg, unsigned shard)
{
    return shard_config(cfg, shard, cfg->redis_prefix);
}

void psw_ctx_shard_config_free(struct psw_config *c);

static struct psw_config *shard_config(const struct psw_config *cfg, unsigned shard,
                                       const char *base_prefix)
{
    char prefix[160];
    struct psw_config *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *cfg;
    psw_shard_prefix(base_prefix, shard, prefix, sizeof(prefix));
    c->redis_prefix = strdup(prefix);
    if (!c->redis_prefix) {
        free(c);
        return NULL;
    }
    return c;
}

void psw_ctx_shard_config_free(struct psw_config *c)
{
    if (c) {
        free(c->redis_prefix);
        free(c);
    }
}

static void free_shard_config(struct psw_config *c)
{
    if (c) {
        free(c->redis_prefix);
        free(c);
    }
}

int psw_ctx_open_shard(struct psw_ctx *ctx, const struct psw_config *cfg, unsigned shard,
                       int retry, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct psw_redis_options opt;
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = cfg;
    ctx->shard = shard;
    ctx->retry = retry;
    ctx->stop = stop;
    if (cfg->redis_cluster) {
        if (!(ctx->own_cfg = shard_config(cfg, shard, cfg->redis_prefix))) {
            snprintf(err, errlen, "out of memory");
            return PSW_EFAIL;
        }
        ctx->cfg = ctx->own_cfg;
    }
    psw_ctx_redis_options(ctx->cfg, &opt);
    opt.retry = retry;
    opt.stop = stop;
    ctx->redis = psw_redis_new(&opt, err, errlen);
    if (!ctx->redis) {
        if (ctx->cfg == ctx->own_cfg) /* psw_ctx_close reads cfg */
            ctx->cfg = NULL;
        free_shard_config(ctx->own_cfg);
        ctx->own_cfg = NULL;
        return PSW_EINVAL;
    }
    /* POLLED: the connection is made later, when Redis can be reached */
    if (psw_redis_ensure(ctx->redis) < 0 && retry != PSW_REDIS_RETRY_POLLED) {
        snprintf(err, errlen, "%s", psw_redis_errstr(ctx->redis));
        psw_redis_free(ctx->redis);
        ctx->redis = NULL;
        if (ctx->cfg == ctx->own_cfg)
            ctx->cfg = NULL;
        free_shard_config(ctx->own_cfg);
        ctx->own_cfg = NULL;
        return PSW_EFAIL;
    }
    return PSW_OK;
}

/* The configuration a shard ctx was made from: its copy's, with the base prefix. */
static const char *base_prefix(const struct psw_ctx *ctx, char *out, size_t n)
{
    /* own_cfg->redis_prefix is base + "{i}:" */
    const char *p = ctx->cfg->redis_prefix;
    const char *brace = ctx->own_cfg ? strrchr(p, '{') : NULL;
    size_t len = brace ? (size_t)(brace - p) : strlen(p);
    snprintf(out, n, "%.*s", (int)len, p);
    return out;
}

struct psw_ctx *psw_ctx_shard(struct psw_ctx *ctx, unsigned shard, char *err, size_t errlen)
{
    unsigned n = psw_ctx_nshards(ctx->cfg);
    if (shard == ctx->shard || n <= 1)
        return ctx;
    if (shard >= n) {
        snprintf(err, errlen, "no shard %u (redis.shards is %u)", shard, n);
        return NULL;
    }
    if (!ctx->others && !(ctx->others = calloc(n, sizeof(*ctx->others)))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct psw_ctx *o = &ctx->others[shard];
    if (o->redis)
        return o;
    char base[160];
    struct psw_config *cfg = shard_config(ctx->cfg, shard, base_prefix(ctx, base, sizeof(base)));
    if (!cfg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* opened from the base configuration: psw_ctx_open_shard makes its own copy */
    struct psw_config tmp = *cfg;
    tmp.redis_prefix = base;
    int rc = psw_ctx_open_shard(o, &tmp, shard, ctx->retry, ctx->stop, err, errlen);
    free_shard_config(cfg);
    if (rc != PSW_OK)
        return NULL;
    return o;
}

struct psw_ctx *psw_ctx_locate(struct psw_ctx *ctx, enum psw_key key, const char *id, char *err,
                               size_t errlen)
{
    unsigned n = psw_ctx_nshards(ctx->cfg);
    if (n <= 1 || !id)
        return ctx;
    for (unsigned i = 0; i < n; i++) {
        char k[PSW_KEY_SIZE];
        struct psw_ctx *sc = psw_ctx_shard(ctx, (ctx->shard + i) % n, err, errlen);
        if (!sc)
            return NULL;
        psw_ctx_key(sc, k, sizeof(k), key, id);
        redisReply *rep = psw_redis_command(sc->redis, "EXISTS %s", k);
        if (!rep || rep->type != REDIS_REPLY_INTEGER) {
            psw_ctx_redis_failure(sc, rep, "EXISTS", err, errlen);
            freeReplyObject(rep);
            return NULL;
        }
        long long found = rep->integer;
        freeReplyObject(rep);
        if (found)
            return sc;
    }
    return ctx;
}

struct psw_ctx *psw_ctx_for_account(struct psw_ctx *ctx, const char *account_id, char *err,
                                    size_t errlen)
{
    return psw_ctx_shard(ctx, psw_ctx_account_shard(ctx->cfg, account_id), err, errlen);
}

void psw_ctx_set_config(struct psw_ctx *ctx, const struct psw_config *cfg)
{
    unsigned n = psw_ctx_nshards(ctx->cfg);
    if (!ctx->own_cfg) {
        ctx->cfg = cfg;
        return;
    }
    char *prefix = ctx->own_cfg->redis_prefix;
    *ctx->own_cfg = *cfg;
    ctx->own_cfg->redis_prefix = prefix;
    for (unsigned i = 0; ctx->others && i < n; i++)
        if (ctx->others[i].own_cfg)
            psw_ctx_set_config(&ctx->others[i], cfg);
}

int psw_ctx_open(struct psw_ctx *ctx, const struct psw_config *cfg, int retry,
                 volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    return psw_ctx_open_shard(ctx, cfg, 0, retry, stop, err, errlen);
}

void psw_ctx_close(struct psw_ctx *ctx)
{
    unsigned n = ctx->cfg ? psw_ctx_nshards(ctx->cfg) : 0;
    for (unsigned i = 0; ctx->others && i < n; i++)
        if (ctx->others[i].redis)
            psw_ctx_close(&ctx->others[i]);
    free(ctx->others);
    ctx->others = NULL;
    psw_redis_free(ctx->redis);
    ctx->redis = NULL;
    free_shard_config(ctx->own_cfg);
    ctx->own_cfg = NULL;
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
