/*
 * audit.c — the audit trail in the stream <prefix>audit (common/audit.h).
 * Entries are stream entries whose id gives the order and the time; the
 * fields are actor, action, target, account_id, at (unix ms).
 */
#include "common/audit.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/jsonout.h"
#include "common/log.h"
#include "common/reply.h"
#include "common/timeutil.h"

int psw_audit_append(struct psw_ctx *ctx, const char *actor, const char *action,
                     const char *target, const char *account, char *err, size_t errlen)
{
    char key[PSW_KEY_SIZE], at[24], cap[24];
    snprintf(at, sizeof(at), "%lld", (long long)psw_now_ms());
    snprintf(cap, sizeof(cap), "%d", PSW_AUDIT_MAX);
    const char *argv[] = { "XADD", psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_AUDIT, NULL),
                           "MAXLEN", "~", cap, "*",
                           "actor", actor && *actor ? actor : "unknown",
                           "action", action, "target", target ? target : "",
                           "account_id", account ? account : "", "at", at };
    redisReply *rep = psw_redis_commandv(ctx->redis, 16, argv, NULL);
    int rc = PSW_OK;
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        rc = psw_ctx_redis_failure(ctx, rep, "audit", err, errlen);
        log_warn("audit: %s %s by %s not recorded: %s", action, target ? target : "",
                     actor ? actor : "", err);
    }
    freeReplyObject(rep);
    return rc;
}

/* A stream id "ms-seq": digits, one dash, digits. */
static int cursor_valid(const char *c)
{
    size_t i = 0, dash = 0;
    if (!*c || strlen(c) >= PSW_AUDIT_CURSOR_SIZE - 1)
        return 0;
    for (; c[i]; i++) {
        if (c[i] == '-')
            dash++;
        else if (!isdigit((unsigned char)c[i]))
            return 0;
    }
    return dash == 1 && c[0] != '-' && c[i - 1] != '-';
}

#define SCAN 500 /* entries read per round trip while filtering by account */
#define MAX_SCANNED 20000 /* bound on the entries one page may look at */

int psw_audit_list(struct psw_ctx *ctx, const char *account, const char *cursor, size_t limit,
                   struct json_object **out, char next_cursor[PSW_AUDIT_CURSOR_SIZE], char *err,
                   size_t errlen)
{
    char key[PSW_KEY_SIZE], upper[PSW_AUDIT_CURSOR_SIZE + 1], count[16];
    struct json_object *arr = NULL;
    size_t scanned = 0;
    int rc = PSW_OK;

    *out = NULL;
    next_cursor[0] = '\0';
    if (cursor && *cursor) {
        if (!cursor_valid(cursor)) {
            snprintf(err, errlen, "cursor: not a cursor this list gave out");
            return PSW_EINVAL;
        }
        snprintf(upper, sizeof(upper), "(%s", cursor);
    } else {
        snprintf(upper, sizeof(upper), "+");
    }
    if (limit == 0)
        limit = 50;
    if (!(arr = json_object_new_array())) {
        snprintf(err, errlen, "out of memory");
        return PSW_EFAIL;
    }
    psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_AUDIT, NULL);
    for (;;) {
        snprintf(count, sizeof(count), "%d", SCAN);
        const char *argv[] = { "XREVRANGE", key, upper, "-", "COUNT", count };
        redisReply *rep = psw_redis_commandv(ctx->redis, 6, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            rc = psw_ctx_redis_failure(ctx, rep, "audit list", err, errlen);
            freeReplyObject(rep);
            goto cleanup;
        }
        size_t i;
        const char *last = NULL;
        for (i = 0; i < rep->elements && json_object_array_length(arr) < limit; i++) {
            const redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !psw_reply_str(e, 0))
                continue;
            last = e->element[0]->str;
            scanned++;
            const redisReply *f = e->element[1];
            const char *acct = psw_reply_hget(f, "account_id");
            if (account && (!acct || strcmp(acct, account) != 0))
                continue;
            struct json_object *o = json_object_new_object();
            if (!o || psw_json_add_str(o, "id", last) < 0 ||
                psw_json_add_time(o, "at", psw_parse_ll(psw_reply_hget(f, "at"), 0)) < 0 ||
                psw_json_add_str(o, "actor", psw_reply_hget(f, "actor")) < 0 ||
                psw_json_add_str(o, "action", psw_reply_hget(f, "action")) < 0 ||
                psw_json_add_str_or_null(o, "target", psw_reply_hget(f, "target")) < 0 ||
                psw_json_add_str_or_null(o, "account_id", acct) < 0 ||
                json_object_array_add(arr, o) < 0) {
                json_object_put(o);
                freeReplyObject(rep);
                snprintf(err, errlen, "out of memory");
                rc = PSW_EFAIL;
                goto cleanup;
            }
        }
        int more = i < rep->elements || rep->elements == SCAN;
        if (last)
            snprintf(upper, sizeof(upper), "(%s", last);
        if (json_object_array_length(arr) >= limit || scanned >= MAX_SCANNED) {
            if (more && last)
                snprintf(next_cursor, PSW_AUDIT_CURSOR_SIZE, "%s", last);
            freeReplyObject(rep);
            break;
        }
        freeReplyObject(rep);
        if (!more)
            break;
    }
    *out = arr;
    arr = NULL;
cleanup:
    json_object_put(arr);
    return rc;
}
