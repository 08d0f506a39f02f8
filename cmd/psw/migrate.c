/*
 * migrate.c — psw migrate endpoints --from URL: copies every endpoint of a
 * single-Redis deployment into this configuration's Redis (a Redis Cluster:
 * each into its account's shard), keeping its id, secrets, signing key,
 * headers and options exactly as stored, so receivers and the platform see
 * no change (docs/operations.md, "Moving from one Redis to a cluster").
 *
 * The values are copied as stored: sealed secrets stay sealed, so the new
 * deployment needs the same secrets.key_file. Only the endpoint hash and its
 * two set memberships are written; deliveries stay where they are and the
 * old deployment finishes them. Running it again copies what is missing and
 * leaves what is there (an endpoint already present is not overwritten).
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/ids.h"
#include "common/keys.h"
#include "common/reply.h"

/* One endpoint hash from src (HGETALL reply h) into dst. 1 copied, 0 already
 * there, -1 on an error (message in err). */
static int copy_endpoint(struct psw_ctx *dst_base, const char *id, const redisReply *h,
                         char *err, size_t errlen)
{
    const char *acct = psw_reply_hget(h, "account_id");
    if (!acct || !*acct) {
        snprintf(err, errlen, "%s: no account_id in the source hash", id);
        return -1;
    }
    struct psw_ctx *dst = psw_ctx_for_account(dst_base, acct, err, errlen);
    if (!dst)
        return -1;
    const char *p = dst->cfg->redis_prefix;
    char key[PSW_KEY_SIZE];
    snprintf(key, sizeof(key), "%sendpoint:%s", p, id);
    redisReply *r = psw_redis_command(dst->redis, "EXISTS %s", key);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        snprintf(err, errlen, "%s: EXISTS: %s", id, r && r->str ? r->str
                                                  : psw_redis_errstr(dst->redis));
        if (r)
            freeReplyObject(r);
        return -1;
    }
    int there = r->integer == 1;
    freeReplyObject(r);
    if (!there) {
        /* HSET key f v f v …, the fields as stored; an ordered endpoint's turn
         * starts over in the new keyspace (its waiting line is not copied) */
        size_t n = 2 + h->elements;
        const char **argv = calloc(n, sizeof(*argv));
        size_t *lens = calloc(n, sizeof(*lens));
        if (!argv || !lens) {
            free(argv);
            free(lens);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        argv[0] = "HSET";
        argv[1] = key;
        lens[0] = 4;
        lens[1] = strlen(key);
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const redisReply *f = h->element[i], *v = h->element[i + 1];
            int reset = f->len == 12 && memcmp(f->str, "ordered_head", 12) == 0;
            argv[2 + i] = f->str;
            lens[2 + i] = f->len;
            argv[3 + i] = reset ? "" : v->str;
            lens[3 + i] = reset ? 0 : v->len;
        }
        r = psw_redis_commandv(dst->redis, (int)n, argv, lens);
        free(argv);
        free(lens);
        int ok = r && r->type == REDIS_REPLY_INTEGER;
        if (!ok)
            snprintf(err, errlen, "%s: HSET: %s", id, r && r->str ? r->str
                                                      : psw_redis_errstr(dst->redis));
        if (r)
            freeReplyObject(r);
        if (!ok)
            return -1;
    }
    /* the memberships are written either way: a run cut short between the
     * hash and the sets is completed by the next one */
    redisReply *a = psw_redis_command(dst->redis, "SADD %sendpoints %s", p, id);
    redisReply *b = psw_redis_command(dst->redis, "SADD %saccount:%s:endpoints %s", p, acct, id);
    int ok = a && a->type == REDIS_REPLY_INTEGER && b && b->type == REDIS_REPLY_INTEGER;
    if (!ok)
        snprintf(err, errlen, "%s: SADD: %s", id, psw_redis_errstr(dst->redis));
    if (a)
        freeReplyObject(a);
    if (b)
        freeReplyObject(b);
    return ok ? !there : -1;
}

static int run_migrate_endpoints(struct cli *cli)
{
    struct psw_config src_cfg = cli->cfg; /* shallow: borrows every string */
    struct psw_ctx src;
    char err[1024];
    const char *prefix = cli_str(cli, "from-prefix");

    src_cfg.redis_url = (char *)cli_str(cli, "from");
    src_cfg.redis_prefix = (char *)(prefix ? prefix : cli->cfg.redis_prefix);
    src_cfg.redis_cluster = false;
    src_cfg.redis_sentinels_n = 0;
    if (psw_ctx_open(&src, &src_cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)) != PSW_OK)
        return cli_fail(cli, PSW_EFAIL, err);
    redisReply *ids = psw_redis_command(src.redis, "SMEMBERS %sendpoints", src_cfg.redis_prefix);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        snprintf(err, sizeof(err), "--from: SMEMBERS %sendpoints: %s", src_cfg.redis_prefix,
                 ids && ids->str ? ids->str : psw_redis_errstr(src.redis));
        if (ids)
            freeReplyObject(ids);
        psw_ctx_close(&src);
        return cli_fail(cli, PSW_EFAIL, err);
    }
    long long copied = 0, present = 0;
    int rc = PSW_OK;
    for (size_t i = 0; i < ids->elements && rc == PSW_OK; i++) {
        const char *id = ids->element[i]->str;
        redisReply *h = psw_redis_command(src.redis, "HGETALL %sendpoint:%s",
                                          src_cfg.redis_prefix, id);
        if (!h || h->type != REDIS_REPLY_ARRAY) {
            snprintf(err, sizeof(err), "--from: HGETALL of %s: %s", id,
                     psw_redis_errstr(src.redis));
            rc = PSW_EFAIL;
        } else if (h->elements > 0) {
            int got = copy_endpoint(&cli->ctx, id, h, err, sizeof(err));
            if (got < 0)
                rc = PSW_EFAIL;
            else if (got)
                copied++;
            else
                present++;
        }
        if (h)
            freeReplyObject(h);
    }
    size_t total = ids->elements;
    freeReplyObject(ids);
    psw_ctx_close(&src);
    if (rc != PSW_OK) {
        fprintf(stderr, "%s: %s (%lld copied before it; run it again to go on)\n", cli->name,
                err, copied);
        return PSW_EXIT_FAIL;
    }
    struct json_object *o = json_object_new_object();
    if (!o)
        return cli_fail(cli, PSW_EFAIL, "out of memory");
    json_object_object_add(o, "endpoints", json_object_new_int64((int64_t)total));
    json_object_object_add(o, "copied", json_object_new_int64(copied));
    json_object_object_add(o, "already_there", json_object_new_int64(present));
    if (cli->json)
        return cli_print_json(cli, o);
    cli_print_human(o);
    json_object_put(o);
    return PSW_EXIT_OK;
}

static const struct cli_option migrate_opts[] = {
    { "from", CLI_STR, "URL", 1, 0, 0, NULL,
      "the old deployment's Redis (redis://…; its user needs to read the endpoint keys)" },
    { "from-prefix", CLI_STR, "P", 0, 0, 0, NULL,
      "the old deployment's redis.prefix (default: this configuration's)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_migrate_endpoints = {
    "migrate", "endpoints", "", 0, 0, 1,
    "Copies every endpoint of another Redis here, ids, secrets and keys unchanged.",
    "Used to move a single-Redis deployment to a Redis Cluster (docs/operations.md):\n"
    "endpoints keep their ids, secrets, Ed25519 keys, headers and options, stored\n"
    "as they were (sealed values need the same secrets.key_file). Deliveries are not\n"
    "copied: the old deployment keeps running until it has delivered everything.\n"
    "An endpoint already present here is left as it is; running it again is safe.",
    migrate_opts, run_migrate_endpoints,
};
