/*
 * keys.h — every Redis key name, built from the configurable prefix.
 *
 * This table and the K table in common/lua/_prelude.lua are the only places
 * key names are spelled; docs/redis.md documents them and
 * tests/unit/test_keys.c checks the C and Lua sides agree.
 */
#ifndef PSW_KEYS_H
#define PSW_KEYS_H

#include <stddef.h>

#define PSW_KEY_SIZE 320

enum psw_key {
    PSW_KEY_ENDPOINTS,            /* set: all endpoint ids */
    PSW_KEY_STATS,                /* hash: global counters */
    PSW_KEY_ATTEMPT_STATS,        /* hash: attempts by outcome, latency histogram */
    PSW_KEY_READY,                /* list: delivery ids due now */
    PSW_KEY_SCHEDULED,            /* zset: delivery ids by due time */
    PSW_KEY_FAILED,               /* zset: failed delivery ids by failure time */
    PSW_KEY_WAITING,              /* set: endpoints with held-back deliveries */
    PSW_KEY_WORKERS,              /* zset: worker ids by last heartbeat */
    PSW_KEY_SCHEDULERS,           /* zset: scheduler ids by last tick */
    PSW_KEY_ALERTS,               /* stream */
    PSW_KEY_ENDPOINT,             /* hash, id = endpoint id */
    PSW_KEY_ENDPOINT_DELIVERIES,  /* zset, id = endpoint id */
    PSW_KEY_ENDPOINT_STATS,       /* hash, id = endpoint id */
    PSW_KEY_ENDPOINT_INFLIGHT,    /* set, id = endpoint id */
    PSW_KEY_ENDPOINT_WAITING,     /* list, id = endpoint id */
    PSW_KEY_ACCOUNT_ENDPOINTS,    /* set, id = account id */
    PSW_KEY_EVENT,                /* hash, id = "<account_id>/<event id>" (docs/redis.md) */
    PSW_KEY_DELIVERY,             /* hash, id = delivery id */
    PSW_KEY_DELIVERY_ATTEMPTS,    /* list, id = delivery id */
    PSW_KEY_INFLIGHT,             /* list, id = worker id */
    PSW_KEY_WORKER,               /* hash, id = worker id */
    /* psw-api (docs/api.md) */
    PSW_KEY_TOKENS,               /* set: all API token ids */
    PSW_KEY_TOKEN,                /* hash, id = token id */
    PSW_KEY_TOKEN_HASH,           /* string: token id, id = SHA-256 hex of the token */
    PSW_KEY_AUDIT,                /* stream: the audit trail */
    PSW_KEY_SESSION,              /* hash, id = SHA-256 hex of the session cookie */
    PSW_KEY_LOGIN_LINK,           /* hash, id = SHA-256 hex of a dashboard link code */
    PSW_KEY_RATE,                 /* string counter, id = "<token id>:<unix second>" */
    PSW_KEY_ENDPOINT_RATE,        /* list, id = endpoint id: recent request starts */
    PSW_KEY_ENDPOINT_BATCH,       /* string, id = endpoint id: its open batch */
    PSW_KEY_BATCH_EVENTS,         /* list, id = batch id: its events */
    PSW_KEY__COUNT
};

/* Writes prefix + the key's name (with id where the key takes one) into
 * out[n] and returns out. An id is ignored by keys that take none. */
char *psw_key(char *out, size_t n, const char *prefix, enum psw_key key, const char *id);

/* The Lua name of a key in the prelude's K table ("endpoint_deliveries"). */
const char *psw_key_lua_name(enum psw_key key);

#endif
