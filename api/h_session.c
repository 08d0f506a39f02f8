/*
 * h_session.c — dashboard logins (docs/api.md "Dashboard sessions"):
 * single-use links (POST /v1/accounts/{account}/dashboard-links) and the
 * session cookie (POST/GET/DELETE /v1/session). Sessions, like tokens,
 * are stored under the SHA-256 of their id, so Redis never holds a value a
 * reader could replay; token.lua keeps each step atomic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/jsonout.h"
#include "common/reply.h"

#define ERRLEN 512
#define LINK_TTL_MS (10 * 60 * 1000)

int api_h_dashboard_link(struct api_call *c)
{
    char code[PSW_TOKEN_SECRET_SIZE], hash[PSW_SHA256_HEX], ttl[24], err[ERRLEN];
    if (json_object_object_length(c->body) > 0)
        return api_problem(c, 400, "body", "body: this operation takes no fields");
    if (!psw_token_valid(c->param, PSW_ACCOUNT_ID_MAX))
        return api_problem(c, 400, "account", "account: 1 to %d characters of A-Z a-z 0-9 _ - . :",
                           PSW_ACCOUNT_ID_MAX);
    if (psw_token_random(code) < 0)
        return api_problem(c, 500, NULL, "cannot generate random bytes");
    psw_sha256_hex(code, strlen(code), hash);
    snprintf(ttl, sizeof(ttl), "%d", LINK_TTL_MS);
    const char *argv[] = { c->env->cfg->redis_prefix, "link", hash, c->param, ttl };
    redisReply *rep = psw_redis_eval(c->ctx->redis, PSW_SCRIPT_TOKEN, 5, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        psw_ctx_redis_failure(c->ctx, rep, "dashboard link", err, sizeof(err));
        freeReplyObject(rep);
        return api_problem(c, 503, NULL, "%s", err);
    }
    long long exp = rep->integer;
    freeReplyObject(rep);
    api_audit(c, "dashboard_link.create", c->param, c->param);
    /* The code travels in the fragment: browsers never send it to a server. */
    char url[2200];
    snprintf(url, sizeof(url), "%s/#login=%s", c->env->cfg->api_public_url, code);
    struct json_object *o = json_object_new_object();
    if (o && (psw_json_add_str(o, "url", url) < 0 || psw_json_add_time(o, "expires_at", exp) < 0)) {
        json_object_put(o);
        o = NULL;
    }
    return api_json(c, 201, o);
}

static struct json_object *session_json(const char *account, const char *csrf, long long exp)
{
    struct json_object *o = json_object_new_object();
    if (o && (psw_json_add_str_or_null(o, "account_id", account) < 0 ||
              psw_json_add(o, "admin", json_object_new_boolean(!account || !*account)) < 0 ||
              psw_json_add_str(o, "csrf_token", csrf) < 0 ||
              psw_json_add_time(o, "expires_at", exp) < 0)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static int secure_request(const struct api_call *c)
{
    return c->rq->tls ||
           (c->rq->forwarded_proto && strcasecmp(c->rq->forwarded_proto, "https") == 0);
}

int api_h_session_create(struct api_call *c)
{
    char sid[PSW_TOKEN_SECRET_SIZE], csrf[PSW_TOKEN_SECRET_SIZE], hash[PSW_SHA256_HEX];
    char ttl[24], err[ERRLEN], account[PSW_ACCOUNT_ID_MAX + 1] = "", actor[PSW_TOKEN_NAME_MAX + 32];
    char token_id[PSW_ID_SIZE] = "";
    int bad = 0;

    json_object_object_foreach(c->body, key, val) {
        (void)val;
        if (strcmp(key, "token") && strcmp(key, "link"))
            return api_problem(c, 400, key, "%s: unknown field", key);
    }
    const char *token = api_body_str(c, "token", &bad);
    const char *link = api_body_str(c, "link", &bad);
    if (bad)
        return 0;
    if (!token == !link)
        return api_problem(c, 400, "token", "token: give either \"token\" or \"link\"");
    if (token) {
        struct psw_token t;
        long long retry;
        int rc = psw_token_auth(c->ctx, token, c->env->cfg->api_rate_limit, &t, &retry, err,
                                sizeof(err));
        if (rc == PSW_ELIMITED) {
            char secs[24];
            snprintf(secs, sizeof(secs), "%lld", (retry + 999) / 1000);
            api_problem(c, 429, NULL, "over api.rate_limit");
            api_header(c->rs, "Retry-After", secs);
            return 0;
        }
        if (rc == PSW_ENOTFOUND)
            return api_problem(c, 401, NULL, "unknown, revoked or expired token");
        if (rc != PSW_OK)
            return api_problem(c, 503, NULL, "%s", err);
        snprintf(account, sizeof(account), "%s", t.account_id);
        snprintf(actor, sizeof(actor), "%s", t.name);
        snprintf(token_id, sizeof(token_id), "%s", t.id);
    } else {
        psw_sha256_hex(link, strlen(link), hash);
        const char *argv[] = { c->env->cfg->redis_prefix, "take", hash };
        redisReply *rep = psw_redis_eval(c->ctx->redis, PSW_SCRIPT_TOKEN, 3, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            psw_ctx_redis_failure(c->ctx, rep, "session", err, sizeof(err));
            freeReplyObject(rep);
            return api_problem(c, 503, NULL, "%s", err);
        }
        const char *a = psw_reply_hget(rep, "account_id");
        long long exp = psw_parse_ll(psw_reply_hget(rep, "expires_at"), 0);
        int ok = a && *a && exp > 0;
        if (ok)
            snprintf(account, sizeof(account), "%s", a);
        freeReplyObject(rep);
        if (!ok)
            return api_problem(c, 401, NULL, "the link is unknown, used or expired");
        snprintf(actor, sizeof(actor), "link:%s", account);
    }
    if (psw_token_random(sid) < 0 || psw_token_random(csrf) < 0)
        return api_problem(c, 500, NULL, "cannot generate random bytes");
    psw_sha256_hex(sid, strlen(sid), hash);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)c->env->cfg->api_session_ttl_ms);
    const char *argv[] = { c->env->cfg->redis_prefix, "session", hash, account, actor, token_id,
                           csrf, ttl };
    redisReply *rep = psw_redis_eval(c->ctx->redis, PSW_SCRIPT_TOKEN, 8, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        psw_ctx_redis_failure(c->ctx, rep, "session", err, sizeof(err));
        freeReplyObject(rep);
        return api_problem(c, 503, NULL, "%s", err);
    }
    long long exp = rep->integer;
    freeReplyObject(rep);
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "psw_session=%s; HttpOnly; SameSite=Strict; Path=/%s", sid,
             secure_request(c) ? "; Secure" : "");
    api_json(c, 200, session_json(account, csrf, exp));
    api_header(c->rs, "Set-Cookie", cookie);
    return 0;
}

/* The session id from the cookie, hashed; -1 when there is none. */
static int session_hash(const struct api_call *c, char hash[PSW_SHA256_HEX])
{
    const char *p = c->rq->cookie ? strstr(c->rq->cookie, "psw_session=") : NULL;
    if (!p)
        return -1;
    p += strlen("psw_session=");
    size_t l = strcspn(p, "; ");
    if (l == 0 || l >= PSW_TOKEN_SECRET_SIZE)
        return -1;
    psw_sha256_hex(p, l, hash);
    return 0;
}

int api_h_session_get(struct api_call *c)
{
    char hash[PSW_SHA256_HEX], key[PSW_KEY_SIZE];
    if (!c->auth.via_cookie || session_hash(c, hash) < 0)
        return api_problem(c, 401, NULL, "no session");
    redisReply *rep = psw_redis_command(c->ctx->redis, "HGETALL %s",
                                        psw_ctx_key(c->ctx, key, sizeof(key), PSW_KEY_SESSION, hash));
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        freeReplyObject(rep);
        return api_problem(c, 401, NULL, "no session");
    }
    struct json_object *o = session_json(psw_reply_hget(rep, "account_id"),
                                         psw_reply_hget(rep, "csrf"),
                                         psw_parse_ll(psw_reply_hget(rep, "expires_at"), 0));
    freeReplyObject(rep);
    return api_json(c, 200, o);
}

int api_h_session_delete(struct api_call *c)
{
    char hash[PSW_SHA256_HEX];
    if (session_hash(c, hash) < 0)
        return api_problem(c, 401, NULL, "no session");
    /* Ending a session is a change made with the cookie: it needs the CSRF
     * token too, so another site cannot log the user out. */
    if (api_authenticate(c) < 0)
        return 0;
    const char *argv[] = { c->env->cfg->redis_prefix, "end", hash };
    redisReply *rep = psw_redis_eval(c->ctx->redis, PSW_SCRIPT_TOKEN, 3, argv, NULL);
    freeReplyObject(rep);
    api_no_content(c);
    api_header(c->rs, "Set-Cookie",
               "psw_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    return 0;
}
