/*
 * redis.h — the one place that talks to Redis (hiredis).
 *
 * A struct psw_redis is one connection plus what it takes to keep it: the
 * parsed URL, timeouts, the SHA1 of every embedded Lua script, and the
 * reconnect state. Long-running programs set .retry so a lost connection is
 * re-established with capped exponential backoff; the outage is logged once
 * when it starts and once when it ends, never once per try. The CLI leaves
 * .retry off and fails fast with a clear message.
 *
 * Reply ownership: every redisReply * returned here belongs to the caller,
 * who frees it with freeReplyObject(). NULL means the connection failed (the
 * reason is in psw_redis_errstr()); a Redis error comes back as a reply of
 * type REDIS_REPLY_ERROR. After NULL the connection is dropped and the next
 * call reconnects first; nothing is resent automatically, because only the
 * caller knows whether a command is safe to repeat.
 *
 * With Sentinel (.sentinels) the address is not fixed: each connect asks the
 * sentinels for the primary and checks ROLE there; a server that answers
 * READONLY, LOADING or MASTERDOWN is dropped like a failed connection (NULL,
 * and the next call asks the sentinels again), so callers handle a failover
 * exactly as they handle an outage. Scripts are loaded at every connect, so
 * a new primary gets them (and NOSCRIPT reloads them if it lost them).
 */
#ifndef PSW_REDIS_H
#define PSW_REDIS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "psw_scripts.h"

struct psw_redis_url {
    int  is_unix;
    char host[256];
    int  port;
    char path[512];      /* unix socket path */
    char user[128];      /* ACL user, "" for the default user */
    char password[256];  /* "" for none */
    int  db;
};

/* redis://[[user]:password@]host[:port][/db]  (host may be [v6addr])
 * unix://[[user]:password@]/path/to.sock[?db=N]
 * Percent-escapes in user and password are decoded. Returns 0 or -1 + err. */
int psw_redis_url_parse(const char *url, struct psw_redis_url *u, char *err, size_t errlen);

/* Copies url into out with the password replaced by "****". */
void psw_redis_url_redact(const char *url, char *out, size_t n);

struct psw_redis_options {
    const char *url;
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;   /* 0 = none (blocking commands need it longer than their own timeout) */
    int     retry;                /* PSW_REDIS_FAIL_FAST, _RETRY_BLOCKING or _RETRY_POLLED */
    int64_t backoff_initial_ms;
    int64_t backoff_max_ms;
    volatile sig_atomic_t *stop;  /* retry loops give up once *stop is set */
    int     load_scripts;         /* SCRIPT LOAD every embedded script on connect */
    int     quiet;                /* log outages at debug only: a second connection of a
                                     process whose first connection reports them */
    /* Sentinel (common/sentinel.h): with nsentinels > 0 the server is the
     * primary these sentinels name sentinel_master; url then supplies only
     * the user, password and database (it must be redis://). Every connect
     * asks the sentinels again and checks ROLE, and a reply saying the server
     * is no longer a writable primary (READONLY, LOADING, MASTERDOWN) is
     * treated like a lost connection. */
    const char *const *sentinels; /* "host:port" each */
    size_t  nsentinels;
    const char *sentinel_master;
    const char *sentinel_password; /* the sentinels' own (requirepass); NULL = none */
    /* Redis Cluster (common/cluster.h, docs/redis.md): with cluster set, the
     * connection serves the slot of cluster_key (a shard's prefix) and goes
     * to whichever primary owns that slot: url names a seed node, CLUSTER
     * SLOTS says who owns it, MOVED moves the connection, ASK sends the one
     * command to the importing node, TRYAGAIN waits a little and resends.
     * Scripts get cluster_key as KEYS[1] (EVALSHA sha 1 key argv…), so the
     * server checks the slot before anything runs. */
    int cluster;
    const char *cluster_key;
};
#define PSW_REDIS_OPTIONS_INIT                                                                 \
    { NULL, 2000, 10000, PSW_REDIS_FAIL_FAST, 100, 5000, NULL, 1, 0, NULL, 0, NULL, NULL, 0, NULL }

/* What psw_redis_ensure() does while Redis is unreachable:
 * FAIL_FAST        one try, no logging (the CLI reports the error itself);
 * RETRY_BLOCKING   tries with backoff until connected or *stop (scheduler);
 * RETRY_POLLED     at most one try per call, and none before the backoff
 *                  delay has passed: the caller keeps doing other work (a
 *                  worker child keeps its HTTP requests going) and calls
 *                  again. Both retry modes log an outage once at its start
 *                  and once at its end. */
enum { PSW_REDIS_FAIL_FAST = 0, PSW_REDIS_RETRY_BLOCKING = 1, PSW_REDIS_RETRY_POLLED = 2 };

struct psw_redis;

/* Parses the URL and prepares; does not connect. Returns NULL + err. */
struct psw_redis *psw_redis_new(const struct psw_redis_options *opt, char *err, size_t errlen);
void psw_redis_free(struct psw_redis *r);

/* Connects if not connected (AUTH, SELECT, SCRIPT LOAD), per the retry
 * mode above. Returns 0 when connected, else -1. */
int psw_redis_ensure(struct psw_redis *r);

/* Drops the connection (the next call reconnects). */
void psw_redis_disconnect(struct psw_redis *r);

int psw_redis_connected(const struct psw_redis *r);
const char *psw_redis_errstr(const struct psw_redis *r);

/* Increases by one on every successful (re)connect: callers that keep state
 * in Redis across calls compare it to notice that a reconnect happened. */
uint64_t psw_redis_generation(const struct psw_redis *r);

redisReply *psw_redis_command(struct psw_redis *r, const char *fmt, ...);
redisReply *psw_redis_commandv(struct psw_redis *r, int argc, const char **argv,
                               const size_t *lens);

/* EVALSHA of an embedded script with no KEYS (the scripts take the key
 * prefix as ARGV[1] and build key names with the shared prelude). On NOSCRIPT
 * (Redis restarted or SCRIPT FLUSH) the script is loaded again and the call
 * repeated once — safe because NOSCRIPT means nothing ran. lens may be NULL
 * for NUL-terminated arguments. */
redisReply *psw_redis_eval(struct psw_redis *r, enum psw_script_id script, int argc,
                           const char **argv, const size_t *lens);

/* Pipelined: n calls of the same script in one round trip. replies[i] gets
 * each reply (caller frees each); NOSCRIPT replies are redone one by one.
 * Returns 0, or -1 when the connection failed (replies all NULL then; some
 * calls may have run). */
int psw_redis_eval_many(struct psw_redis *r, enum psw_script_id script, size_t n,
                        const int *argcs, const char *const *const *argvs,
                        const size_t *const *lens, redisReply **replies);

/* Non-blocking use of a connection for one outstanding blocking command
 * (the worker parks BLMOVE this way while it waits on HTTP):
 * send writes the command; fd is polled by the caller; try_read returns 1
 * with *reply once it is complete, 0 if not yet, -1 on connection failure. */
int psw_redis_send(struct psw_redis *r, int argc, const char **argv, const size_t *lens);
int psw_redis_fd(const struct psw_redis *r);
int psw_redis_try_read(struct psw_redis *r, redisReply **reply);

/* The SHA1 Redis knows an embedded script by (for tests and diagnostics). */
const char *psw_redis_script_sha(const struct psw_redis *r, enum psw_script_id script);

/* Cluster mode: the slot this connection serves (-1 without cluster). */
int psw_redis_slot(const struct psw_redis *r);

/* 1 if reply is an error reply starting with prefix (e.g. "NOSCRIPT"). */
int psw_redis_reply_is_error(const redisReply *reply, const char *prefix);

#endif
