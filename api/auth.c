/*
 * auth.c — who is asking and what they may see (docs/api.md
 * "Authentication"): a bearer token, or the dashboard's session cookie with
 * its CSRF token on changes; the per-token rate limit (counted in Redis by
 * api_auth.lua, so every psw-api instance shares it); and the account
 * scoping rule — an account token meets another account's objects as 404,
 * exactly like ids that do not exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "common/audit.h"
#include "common/reply.h"

#define COOKIE_NAME "psw_session"

static int too_many(struct api_call *c, long long retry_ms)
{
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld", retry_ms <= 0 ? 1 : (retry_ms + 999) / 1000);
    api_problem(c, 429, NULL, "over api.rate_limit (%d requests per second)",
                c->env->cfg->api_rate_limit);
    api_header(c->rs, "Retry-After", secs);
    return -1;
}

/* The value of cookie name in a Cookie header, into out. */
static const char *cookie_value(const char *hdr, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = hdr; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            if (l - nl - 1 >= n)
                return NULL;
            memcpy(out, p + nl + 1, l - nl - 1);
            out[l - nl - 1] = '\0';
            return out;
        }
        p = end;
    }
    return NULL;
}

static int by_token(struct api_call *c, const char *secret)
{
    struct psw_token t;
    long long retry = 0;
    char err[256];
    int rc = psw_token_auth(c->ctx, secret, c->env->cfg->api_rate_limit, &t, &retry, err,
                            sizeof(err));
    if (rc == PSW_ELIMITED)
        return too_many(c, retry);
    if (rc == PSW_ENOTFOUND) {
        api_problem(c, 401, NULL, "unknown, revoked or expired token");
        return -1;
    }
    if (rc != PSW_OK) {
        api_problem(c, 503, NULL, "%s", err);
        return -1;
    }
    c->auth.admin = t.admin;
    snprintf(c->auth.account, sizeof(c->auth.account), "%s", t.account_id);
    snprintf(c->auth.actor, sizeof(c->auth.actor), "%s", t.name);
    snprintf(c->auth.token_id, sizeof(c->auth.token_id), "%s", t.id);
    return 0;
}

static int by_cookie(struct api_call *c, const char *sid)
{
    char hash[PSW_SHA256_HEX], lim[16], err[256];
    psw_sha256_hex(sid, strlen(sid), hash);
    snprintf(lim, sizeof(lim), "%d", c->env->cfg->api_rate_limit);
    const char *argv[] = { c->env->cfg->redis_prefix, "session", hash, lim };
    redisReply *rep = psw_redis_eval(c->ctx->redis, PSW_SCRIPT_API_AUTH, 4, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
        psw_ctx_redis_failure(c->ctx, rep, "api_auth", err, sizeof(err));
        freeReplyObject(rep);
        api_problem(c, 503, NULL, "%s", err);
        return -1;
    }
    long long st = psw_reply_int(rep, 0, 0);
    if (st != 1) {
        long long retry = psw_reply_int(rep, 1, 1000);
        freeReplyObject(rep);
        if (st == 2)
            return too_many(c, retry);
        api_problem(c, 401, NULL, "the session has ended; log in again");
        return -1;
    }
    redisReply view = *rep;
    view.element = rep->element + 2;
    view.elements = rep->elements - 2;
    const char *acct = psw_reply_hget(&view, "account_id");
    const char *csrf = psw_reply_hget(&view, "csrf");
    const char *actor = psw_reply_hget(&view, "actor");
    const char *tid = psw_reply_hget(&view, "token_id");
    c->auth.admin = !acct || !*acct;
    c->auth.via_cookie = 1;
    snprintf(c->auth.account, sizeof(c->auth.account), "%s", acct ? acct : "");
    snprintf(c->auth.actor, sizeof(c->auth.actor), "%s", actor ? actor : "session");
    snprintf(c->auth.token_id, sizeof(c->auth.token_id), "%s", tid ? tid : "");
    const char *m = c->rq->method;
    int changes = strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
    int csrf_ok = csrf && *csrf && c->rq->csrf && strlen(c->rq->csrf) == strlen(csrf) &&
                  CRYPTO_memcmp(c->rq->csrf, csrf, strlen(csrf)) == 0;
    freeReplyObject(rep);
    if (changes && !csrf_ok) {
        api_problem(c, 403, NULL, "a change made with the session cookie needs X-CSRF-Token");
        return -1;
    }
    return 0;
}

int api_authenticate(struct api_call *c)
{
    const char *h = c->rq->authorization;
    char sid[128];

    memset(&c->auth, 0, sizeof(c->auth));
    if (h && *h) {
        if (strncasecmp(h, "Bearer ", 7) != 0) {
            api_problem(c, 401, NULL, "Authorization must be \"Bearer <token>\"");
            return -1;
        }
        h += 7;
        while (*h == ' ')
            h++;
        return by_token(c, h);
    }
    if (c->rq->cookie && cookie_value(c->rq->cookie, COOKIE_NAME, sid, sizeof(sid)) && *sid)
        return by_cookie(c, sid);
    api_problem(c, 401, NULL, "no token: send Authorization: Bearer <token>");
    return -1;
}

int api_require_admin(struct api_call *c)
{
    if (c->auth.admin)
        return 0;
    api_problem(c, 403, NULL, "this operation needs an admin token");
    return -1;
}

const char *api_account(const struct api_call *c, const char *given)
{
    if (!c->auth.admin)
        return c->auth.account;
    return given && *given ? given : NULL;
}

int api_endpoint_visible(struct api_call *c, const char *id, struct psw_endpoint *ep)
{
    char err[512];
    memset(ep, 0, sizeof(*ep));
    if (!id || !psw_id_valid("ep_", id)) {
        api_problem(c, 404, NULL, "no such object");
        return -1;
    }
    int rc = psw_endpoint_get(c->ctx, id, ep, err, sizeof(err));
    if (rc == PSW_OK && !c->auth.admin && strcmp(ep->account_id, c->auth.account) != 0)
        rc = PSW_ENOTFOUND;
    if (rc != PSW_OK) {
        psw_endpoint_free(ep);
        api_fail(c, rc, err);
        return -1;
    }
    return 0;
}

void api_audit(struct api_call *c, const char *action, const char *target, const char *account)
{
    char err[256];
    psw_audit_append(c->ctx, c->auth.actor, action, target, account, err, sizeof(err));
}
