/*
 * keys.c — the key table: name pattern and Lua twin per key. A pattern is
 * "<before>%s<after>" where %s is the id, or a plain name.
 */
#include "common/keys.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *before;
    const char *after; /* NULL: the key takes no id */
    const char *lua;
} table[PSW_KEY__COUNT] = {
    [PSW_KEY_ENDPOINTS]           = { "endpoints", NULL, "endpoints" },
    [PSW_KEY_STATS]               = { "stats", NULL, "stats" },
    [PSW_KEY_ATTEMPT_STATS]       = { "stats:attempts", NULL, "attempt_stats" },
    [PSW_KEY_READY]               = { "queue:ready", NULL, "ready" },
    [PSW_KEY_SCHEDULED]           = { "queue:scheduled", NULL, "scheduled" },
    [PSW_KEY_FAILED]              = { "queue:failed", NULL, "failed" },
    [PSW_KEY_WAITING]             = { "queue:waiting", NULL, "waiting" },
    [PSW_KEY_WORKERS]             = { "workers", NULL, "workers" },
    [PSW_KEY_SCHEDULERS]          = { "schedulers", NULL, "schedulers" },
    [PSW_KEY_ALERTS]              = { "alerts", NULL, "alerts" },
    [PSW_KEY_ENDPOINT]            = { "endpoint:", "", "endpoint" },
    [PSW_KEY_ENDPOINT_DELIVERIES] = { "endpoint:", ":deliveries", "endpoint_deliveries" },
    [PSW_KEY_ENDPOINT_STATS]      = { "endpoint:", ":stats", "endpoint_stats" },
    [PSW_KEY_ENDPOINT_INFLIGHT]   = { "endpoint:", ":inflight", "endpoint_inflight" },
    [PSW_KEY_ENDPOINT_WAITING]    = { "endpoint:", ":waiting", "endpoint_waiting" },
    [PSW_KEY_ACCOUNT_ENDPOINTS]   = { "account:", ":endpoints", "account_endpoints" },
    [PSW_KEY_EVENT]               = { "event:", "", "event" },
    [PSW_KEY_DELIVERY]            = { "delivery:", "", "delivery" },
    [PSW_KEY_DELIVERY_ATTEMPTS]   = { "delivery:", ":attempts", "delivery_attempts" },
    [PSW_KEY_INFLIGHT]            = { "queue:inflight:", "", "inflight" },
    [PSW_KEY_WORKER]              = { "worker:", "", "worker" },
    [PSW_KEY_TOKENS]              = { "tokens", NULL, "tokens" },
    [PSW_KEY_TOKEN]               = { "token:", "", "token" },
    [PSW_KEY_TOKEN_HASH]          = { "token_hash:", "", "token_hash" },
    [PSW_KEY_AUDIT]               = { "audit", NULL, "audit" },
    [PSW_KEY_SESSION]             = { "session:", "", "session" },
    [PSW_KEY_LOGIN_LINK]          = { "login_link:", "", "login_link" },
    [PSW_KEY_RATE]                = { "rate:", "", "rate" },
    [PSW_KEY_ENDPOINT_RATE]       = { "endpoint:", ":rate", "endpoint_rate" },
    [PSW_KEY_ENDPOINT_BATCH]      = { "endpoint:", ":batch", "endpoint_batch" },
    [PSW_KEY_BATCH_EVENTS]        = { "delivery:", ":events", "batch_events" },
};

char *psw_key(char *out, size_t n, const char *prefix, enum psw_key key, const char *id)
{
    if (table[key].after)
        snprintf(out, n, "%s%s%s%s", prefix, table[key].before, id ? id : "", table[key].after);
    else
        snprintf(out, n, "%s%s", prefix, table[key].before);
    return out;
}

const char *psw_key_lua_name(enum psw_key key)
{
    return table[key].lua;
}
