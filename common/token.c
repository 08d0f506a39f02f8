/*
 * token.c — API tokens (common/token.h, docs/api.md "Tokens"). The secret
 * text is made here and handed back once; Redis only ever sees its SHA-256.
 * Writes are one Lua script each (token.lua), the per-request check another
 * (api_auth.lua), so creating, revoking and checking never race into a token
 * that is half there.
 */
#include "common/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/jsonout.h"
#include "common/reply.h"

void psw_sha256_hex(const char *s, size_t len, char out[PSW_SHA256_HEX])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        /* Cannot happen with a working libcrypto; never match anything then. */
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hexd[md[i] >> 4];
        out[2 * i + 1] = hexd[md[i] & 15];
    }
    out[64] = '\0';
}

int psw_token_random(char out[PSW_TOKEN_SECRET_SIZE])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33]; /* 32 random bytes, one zero byte of padding */
    size_t o = 0;

    if (RAND_bytes(raw, 32) != 1)
        return -1;
    raw[32] = 0;
    memcpy(out, "psw_", 4);
    o = 4;
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)(i + 1 < 33 ? raw[i + 1] : 0) << 8 |
                     (i + 2 < 33 ? raw[i + 2] : 0);
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    out[4 + 43] = '\0'; /* 256 bits = 43 characters; the rest came from padding */
    return 0;
}

static int check_name(const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > PSW_TOKEN_NAME_MAX) {
        snprintf(err, errlen, "name: 1 to %d characters", PSW_TOKEN_NAME_MAX);
        return PSW_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
            snprintf(err, errlen, "name: control characters are not allowed");
            return PSW_EINVAL;
        }
    return PSW_OK;
}

static void from_hash(const redisReply *h, struct psw_token *t)
{
    const char *v;
    memset(t, 0, sizeof(*t));
    if ((v = psw_reply_hget(h, "id")))
        snprintf(t->id, sizeof(t->id), "%s", v);
    if ((v = psw_reply_hget(h, "name")))
        snprintf(t->name, sizeof(t->name), "%s", v);
    if ((v = psw_reply_hget(h, "account_id")))
        snprintf(t->account_id, sizeof(t->account_id), "%s", v);
    t->admin = t->account_id[0] == '\0';
    t->created_at = psw_parse_ll(psw_reply_hget(h, "created_at"), 0);
    t->expires_at = psw_parse_ll(psw_reply_hget(h, "expires_at"), 0);
    t->last_used_at = psw_parse_ll(psw_reply_hget(h, "last_used_at"), 0);
}

int psw_token_create(struct psw_ctx *ctx, const char *name, const char *account, long long ttl_ms,
                     struct psw_token *out, char secret[PSW_TOKEN_SECRET_SIZE], char *err,
                     size_t errlen)
{
    char hash[PSW_SHA256_HEX], exp[24];
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_name(name, err, errlen)) != PSW_OK)
        return rc;
    if (!account)
        account = "";
    if (*account && !psw_token_valid(account, PSW_ACCOUNT_ID_MAX)) {
        snprintf(err, errlen, "account_id: 1 to %d characters of A-Z a-z 0-9 _ - . :",
                 PSW_ACCOUNT_ID_MAX);
        return PSW_EINVAL;
    }
    if (ttl_ms < 0) {
        snprintf(err, errlen, "ttl: must not be negative");
        return PSW_EINVAL;
    }
    if (psw_id_new("tok_", out->id) < 0 || psw_token_random(secret) < 0) {
        snprintf(err, errlen, "cannot generate random bytes");
        return PSW_EFAIL;
    }
    psw_sha256_hex(secret, strlen(secret), hash);
    long long now = psw_id_time_ms("tok_", out->id);
    snprintf(exp, sizeof(exp), "%lld", ttl_ms > 0 ? now + ttl_ms : 0);
    const char *argv[] = { ctx->cfg->redis_prefix, "create", out->id, hash, name, account, exp };
    redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_TOKEN, 7, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        rc = psw_ctx_redis_failure(ctx, rep, "token create", err, errlen);
        freeReplyObject(rep);
        memset(secret, 0, PSW_TOKEN_SECRET_SIZE);
        return rc;
    }
    snprintf(out->name, sizeof(out->name), "%s", name);
    snprintf(out->account_id, sizeof(out->account_id), "%s", account);
    out->admin = *account == '\0';
    out->created_at = rep->integer;
    out->expires_at = ttl_ms > 0 ? rep->integer + ttl_ms : 0;
    freeReplyObject(rep);
    return PSW_OK;
}

static int cmp_token(const void *a, const void *b)
{
    const struct psw_token *x = a, *y = b;
    return strcmp(x->id, y->id); /* ids sort by creation time */
}

int psw_token_list(struct psw_ctx *ctx, struct psw_token **out, size_t *n, char *err,
                   size_t errlen)
{
    char key[PSW_KEY_SIZE];
    struct psw_token *list = NULL;
    size_t got = 0;
    int rc = PSW_OK;

    *out = NULL;
    *n = 0;
    redisReply *ids = psw_redis_command(ctx->redis, "SMEMBERS %s",
                                        psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_TOKENS, NULL));
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, ids, "token list", err, errlen);
        freeReplyObject(ids);
        return rc;
    }
    if (ids->elements > 0 && !(list = calloc(ids->elements, sizeof(*list)))) {
        freeReplyObject(ids);
        snprintf(err, errlen, "out of memory");
        return PSW_EFAIL;
    }
    for (size_t i = 0; i < ids->elements; i++) {
        const char *id = psw_reply_str(ids, i);
        if (!id)
            continue;
        rc = psw_token_get(ctx, id, &list[got], err, errlen);
        if (rc == PSW_ENOTFOUND) { /* revoked while we listed */
            rc = PSW_OK;
            continue;
        }
        if (rc != PSW_OK)
            break;
        got++;
    }
    freeReplyObject(ids);
    if (rc != PSW_OK || got == 0) {
        free(list);
        return rc;
    }
    qsort(list, got, sizeof(*list), cmp_token);
    *out = list;
    *n = got;
    return PSW_OK;
}

int psw_token_get(struct psw_ctx *ctx, const char *id, struct psw_token *out, char *err,
                  size_t errlen)
{
    char key[PSW_KEY_SIZE];
    memset(out, 0, sizeof(*out));
    if (!id || !psw_id_valid("tok_", id)) {
        snprintf(err, errlen, "no token %s", id ? id : "");
        return PSW_ENOTFOUND;
    }
    redisReply *h = psw_redis_command(ctx->redis, "HGETALL %s",
                                      psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_TOKEN, id));
    if (!h || h->type != REDIS_REPLY_ARRAY) {
        int rc = psw_ctx_redis_failure(ctx, h, "token get", err, errlen);
        freeReplyObject(h);
        return rc;
    }
    if (h->elements == 0) {
        freeReplyObject(h);
        snprintf(err, errlen, "no token %s", id);
        return PSW_ENOTFOUND;
    }
    from_hash(h, out);
    freeReplyObject(h);
    return PSW_OK;
}

int psw_token_revoke(struct psw_ctx *ctx, const char *id, struct psw_token *out, char *err,
                     size_t errlen)
{
    struct psw_token scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof(*out));
    if (!id || !psw_id_valid("tok_", id)) {
        snprintf(err, errlen, "no token %s", id ? id : "");
        return PSW_ENOTFOUND;
    }
    const char *argv[] = { ctx->cfg->redis_prefix, "revoke", id };
    redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_TOKEN, 3, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        int rc = psw_ctx_redis_failure(ctx, rep, "token revoke", err, errlen);
        freeReplyObject(rep);
        return rc;
    }
    if (rep->elements == 0) {
        freeReplyObject(rep);
        snprintf(err, errlen, "no token %s", id);
        return PSW_ENOTFOUND;
    }
    from_hash(rep, out);
    freeReplyObject(rep);
    return PSW_OK;
}

int psw_token_auth(struct psw_ctx *ctx, const char *secret, int rate_limit, struct psw_token *out,
                   long long *retry_after_ms, char *err, size_t errlen)
{
    char hash[PSW_SHA256_HEX], lim[16];
    int rc;

    memset(out, 0, sizeof(*out));
    *retry_after_ms = 0;
    if (!secret || strncmp(secret, "psw_", 4) != 0 || strlen(secret) >= PSW_TOKEN_SECRET_SIZE) {
        snprintf(err, errlen, "unknown token");
        return PSW_ENOTFOUND;
    }
    psw_sha256_hex(secret, strlen(secret), hash);
    snprintf(lim, sizeof(lim), "%d", rate_limit > 0 ? rate_limit : 0);
    const char *argv[] = { ctx->cfg->redis_prefix, "token", hash, lim };
    redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_API_AUTH, 4, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
        rc = psw_ctx_redis_failure(ctx, rep, "api_auth", err, errlen);
        freeReplyObject(rep);
        return rc;
    }
    long long st = psw_reply_int(rep, 0, 0);
    if (st == 0) {
        snprintf(err, errlen, "unknown, revoked or expired token");
        rc = PSW_ENOTFOUND;
    } else if (st == 2) {
        *retry_after_ms = psw_reply_int(rep, 1, 1000);
        snprintf(err, errlen, "over api.rate_limit");
        rc = PSW_ELIMITED;
    } else {
        /* The hash starts at element 2: view it as its own array. */
        redisReply view = *rep;
        view.element = rep->element + 2;
        view.elements = rep->elements - 2;
        from_hash(&view, out);
        rc = PSW_OK;
    }
    freeReplyObject(rep);
    return rc;
}

struct json_object *psw_token_to_json(const struct psw_token *t)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    if (psw_json_add_str(o, "id", t->id) < 0 || psw_json_add_str(o, "name", t->name) < 0 ||
        psw_json_add_str_or_null(o, "account_id", t->account_id) < 0 ||
        psw_json_add(o, "admin", json_object_new_boolean(t->admin)) < 0 ||
        psw_json_add_time(o, "created_at", t->created_at) < 0 ||
        psw_json_add_time(o, "expires_at", t->expires_at) < 0 ||
        psw_json_add_time(o, "last_used_at", t->last_used_at) < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
