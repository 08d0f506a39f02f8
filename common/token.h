/*
 * token.h — API tokens (docs/api.md "Tokens"): create, list, revoke, and
 * the per-request check psw-api makes (verify + last use + rate limit in one
 * round trip). `psw token …` and /v1/tokens both call these.
 *
 * A token is "psw_" + 43 base64url characters (32 random bytes). Only its
 * SHA-256 (hex) is stored: <prefix>token_hash:<sha> holds the token id, and
 * <prefix>token:<id> the metadata (id, name, account_id, created_at,
 * expires_at, last_used_at, hash). The secret text exists only in the answer
 * to psw_token_create. An account token has an account_id; an admin token
 * has none.
 *
 * Return codes (common/ctx.h): PSW_EINVAL names the bad field,
 * PSW_ENOTFOUND for an unknown id (or, from psw_token_auth, a token that is
 * unknown, revoked or expired), PSW_EFAIL for Redis. psw_token_auth also
 * returns PSW_ELIMITED when the token is over its rate.
 */
#ifndef PSW_TOKEN_H
#define PSW_TOKEN_H

#include <stddef.h>

#include "common/ctx.h"
#include "common/endpoint.h" /* PSW_ACCOUNT_ID_MAX */
#include "common/ids.h"

struct json_object;

#define PSW_ELIMITED (-5)         /* psw_token_auth: over api.rate_limit */
#define PSW_TOKEN_NAME_MAX 128
#define PSW_TOKEN_SECRET_SIZE 64  /* "psw_" + 43 + NUL, with room */
#define PSW_SHA256_HEX 65

struct psw_token {
    char id[PSW_ID_SIZE];
    char name[PSW_TOKEN_NAME_MAX + 1];
    char account_id[PSW_ACCOUNT_ID_MAX + 1]; /* "" = admin token */
    int admin;
    long long created_at, expires_at, last_used_at; /* unix ms; 0 = none/never */
};

/* SHA-256 of s as 64 lower-case hex characters. */
void psw_sha256_hex(const char *s, size_t len, char out[PSW_SHA256_HEX]);

/* A random "psw_…" string (tokens, session ids, link codes). 0 or -1. */
int psw_token_random(char out[PSW_TOKEN_SECRET_SIZE]);

/* Creates a token: name 1..128 printable characters, account NULL/"" = admin,
 * ttl_ms 0 = never expires. *out receives it and secret the text to show once. */
int psw_token_create(struct psw_ctx *ctx, const char *name, const char *account, long long ttl_ms,
                     struct psw_token *out, char secret[PSW_TOKEN_SECRET_SIZE], char *err,
                     size_t errlen);

/* Every token, oldest first. *out is NULL when *n is 0; the caller free()s it. */
int psw_token_list(struct psw_ctx *ctx, struct psw_token **out, size_t *n, char *err,
                   size_t errlen);

/* One token by id. */
int psw_token_get(struct psw_ctx *ctx, const char *id, struct psw_token *out, char *err,
                  size_t errlen);

/* Deletes the token (it stops working at once). out (may be NULL) receives
 * what it was. */
int psw_token_revoke(struct psw_ctx *ctx, const char *id, struct psw_token *out, char *err,
                     size_t errlen);

/* The check of one request: secret is the presented token. On success *out
 * is the token and its last use is now. rate_limit > 0 counts the request
 * against rate_limit per second for this token (in Redis, so every psw-api
 * shares the count); over it PSW_ELIMITED with *retry_after_ms. */
int psw_token_auth(struct psw_ctx *ctx, const char *secret, int rate_limit, struct psw_token *out,
                   long long *retry_after_ms, char *err, size_t errlen);

/* {"id","name","account_id" (null for admin),"admin","created_at","expires_at",
 * "last_used_at"}; the caller json_object_put()s it. NULL when out of memory. */
struct json_object *psw_token_to_json(const struct psw_token *t);

#endif
