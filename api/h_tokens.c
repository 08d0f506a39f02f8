/*
 * h_tokens.c — /v1/tokens (admin; docs/api.md "Tokens") on common/token.h
 * like `psw token …`. The token text is in the 201 answer only.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/jsonout.h"
#include "common/timeutil.h"

#define ERRLEN 512

int api_h_tokens_list(struct api_call *c)
{
    struct psw_token *list = NULL;
    size_t n = 0;
    char err[ERRLEN];
    int rc = psw_token_list(c->ctx, &list, &n, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_object_array_add(arr, psw_token_to_json(&list[i])) < 0) {
            json_object_put(arr);
            arr = NULL;
        }
    free(list);
    return api_list(c, arr, NULL);
}

int api_h_tokens_create(struct api_call *c)
{
    struct psw_token t;
    char secret[PSW_TOKEN_SECRET_SIZE], err[ERRLEN];
    int bad = 0;
    int64_t ttl = 0;

    json_object_object_foreach(c->body, key, val) {
        (void)val;
        if (strcmp(key, "name") && strcmp(key, "account_id") && strcmp(key, "ttl"))
            return api_problem(c, 400, key, "%s: unknown field", key);
    }
    const char *name = api_body_str(c, "name", &bad);
    const char *account = api_body_str(c, "account_id", &bad);
    const char *t_ttl = api_body_str(c, "ttl", &bad);
    if (bad)
        return 0;
    if (!name)
        return api_problem(c, 400, "name", "name: required");
    if (t_ttl && (psw_duration_parse(t_ttl, &ttl) < 0 || ttl <= 0))
        return api_problem(c, 400, "ttl", "ttl: a duration like 30d or 12h");
    int rc = psw_token_create(c->ctx, name, account, ttl, &t, secret, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    api_audit(c, "token.create", t.id, t.account_id);
    struct json_object *o = psw_token_to_json(&t);
    if (o && psw_json_add_str(o, "token", secret) < 0) {
        json_object_put(o);
        o = NULL;
    }
    memset(secret, 0, sizeof(secret));
    return api_json(c, 201, o);
}

int api_h_token_delete(struct api_call *c)
{
    struct psw_token t;
    char err[ERRLEN];
    int rc = psw_token_revoke(c->ctx, c->param, &t, err, sizeof(err));
    if (rc != PSW_OK)
        return api_fail(c, rc, err);
    api_audit(c, "token.revoke", t.id, t.account_id);
    return api_no_content(c);
}
