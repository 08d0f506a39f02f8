/*
 * publish.c — parse and validate in C, then one publish.lua call per event,
 * pipelined. Owns nothing beyond each call.
 */
#include "common/publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/timeutil.h"

#define PUBLISH_CHUNK 256
#define PUBLISH_ARGC 9

/* The script's arguments for one parsed event; strings point into ev and
 * into the caller's buffers, which must outlive the call. */
struct prepared {
    struct psw_event ev;
    char type_num[8];
    char created[24];
    char dlv_id[PSW_ID_SIZE];
    const char *argv[PUBLISH_ARGC];
    size_t lens[PUBLISH_ARGC];
};

static int prepare(struct psw_ctx *ctx, const char *json, size_t len, const char *retention,
                   struct prepared *p, struct psw_publish_result *res)
{
    struct psw_event_limits lim = PSW_EVENT_LIMITS_INIT;
    lim.max_bytes = (size_t)ctx->cfg->limits_max_event_bytes;
    lim.max_depth = ctx->cfg->limits_max_json_depth;

    memset(res, 0, sizeof(*res));
    if (psw_event_parse(json, len, &lim, psw_now_ms(), &p->ev, res->err, sizeof(res->err)) < 0)
        return res->status = PSW_EINVAL;
    snprintf(res->event_id, sizeof(res->event_id), "%s", p->ev.id);
    if (psw_id_new("dlv_", p->dlv_id) < 0) {
        snprintf(res->err, sizeof(res->err), "random generator failed");
        psw_event_free(&p->ev);
        return res->status = PSW_EFAIL;
    }
    snprintf(p->created, sizeof(p->created), "%lld", (long long)p->ev.created_at_ms);
    const char *argv[PUBLISH_ARGC] = {
        ctx->cfg->redis_prefix, p->ev.id, psw_event_type_names[p->ev.type], p->ev.account_id,
        p->ev.domain, p->created, p->ev.body, p->dlv_id, retention,
    };
    for (int i = 0; i < PUBLISH_ARGC; i++) {
        p->argv[i] = argv[i];
        p->lens[i] = i == 6 ? p->ev.body_len : strlen(argv[i]);
    }
    return PSW_OK;
}

/* Reads one publish.lua reply into res. */
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

int psw_publish(struct psw_ctx *ctx, const char *json, size_t len,
                struct psw_publish_result *res)
{
    return psw_publish_many(ctx, 1, &json, &len, res) == 0 ? PSW_OK : res->status;
}

int psw_publish_many(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                     const size_t *lens, struct psw_publish_result *res)
{
    char retention[24];
    struct prepared *prep = calloc(PUBLISH_CHUNK, sizeof(*prep));
    int failed = 0, redis_down = 0;

    if (!prep) {
        for (size_t i = 0; i < n; i++) {
            memset(&res[i], 0, sizeof(res[i]));
            res[i].status = PSW_EFAIL;
            snprintf(res[i].err, sizeof(res[i].err), "out of memory");
        }
        return (int)n;
    }
    snprintf(retention, sizeof(retention), "%lld", psw_ctx_retention_ms(ctx));

    for (size_t base = 0; base < n; base += PUBLISH_CHUNK) {
        size_t m = n - base < PUBLISH_CHUNK ? n - base : PUBLISH_CHUNK;
        int argcs[PUBLISH_CHUNK];
        const char *const *argvs[PUBLISH_CHUNK];
        const size_t *lensv[PUBLISH_CHUNK];
        redisReply *replies[PUBLISH_CHUNK];
        size_t slot[PUBLISH_CHUNK]; /* which event each pipelined call is */
        size_t k = 0;

        for (size_t i = 0; i < m; i++) {
            struct psw_publish_result *r = &res[base + i];
            if (prepare(ctx, jsons[base + i], lens[base + i], retention, &prep[k], r) != PSW_OK) {
                failed++;
                continue;
            }
            if (redis_down) {
                r->status = PSW_EFAIL;
                snprintf(r->err, sizeof(r->err), "not published: %s", psw_redis_errstr(ctx->redis));
                psw_event_free(&prep[k].ev);
                failed++;
                continue;
            }
            argcs[k] = PUBLISH_ARGC;
            argvs[k] = prep[k].argv;
            lensv[k] = prep[k].lens;
            slot[k] = base + i;
            k++;
        }
        if (k > 0 && psw_redis_eval_many(ctx->redis, PSW_SCRIPT_PUBLISH, k, argcs, argvs, lensv,
                                         replies) < 0) {
            redis_down = 1;
            for (size_t j = 0; j < k; j++) {
                struct psw_publish_result *r = &res[slot[j]];
                r->status = PSW_EFAIL;
                snprintf(r->err, sizeof(r->err), "not confirmed: %s",
                         psw_redis_errstr(ctx->redis));
                failed++;
                if (replies[j])
                    freeReplyObject(replies[j]);
                psw_event_free(&prep[j].ev);
            }
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            take_reply(replies[j], &res[slot[j]]);
            if (res[slot[j]].status != PSW_OK)
                failed++;
            freeReplyObject(replies[j]);
            psw_event_free(&prep[j].ev);
        }
    }
    free(prep);
    return redis_down ? PSW_EFAIL : failed;
}
