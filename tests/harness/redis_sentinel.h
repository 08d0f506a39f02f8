/*
 * redis_sentinel.h — a throwaway Redis Sentinel set for one test: a primary,
 * one replica and three redis-sentinel processes, all on free ports of
 * 127.0.0.1, each in its own private directory (redis_server.h for the data
 * nodes). Failure detection is scaled down through the options, so a
 * SIGKILLed primary is replaced within a few seconds.
 *
 * The data nodes have a password for the default user (the replica and the
 * sentinels use it) and an ACL user "psw" (password "psw-pw") for the
 * programs under test, with exactly the rules docs/operations.md gives the
 * service's user plus its Sentinel additions, so the test covers AUTH with a
 * user name and the documented ACL. The sentinels have a password of their
 * own (HA_SENTINEL_PASSWORD), which the programs give as
 * redis.sentinel_password. ha_start returns once every sentinel knows the replica and the other
 * two sentinels, and the replica is in sync: a failover can happen from then
 * on. ha_stop stops everything and may be called any number of times, also
 * after a failed start; what a test forgets is stopped at exit (proc.h).
 * Start it from the test's main thread.
 */
#ifndef PSW_TEST_HARNESS_REDIS_SENTINEL_H
#define PSW_TEST_HARNESS_REDIS_SENTINEL_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "tests/harness/redis_server.h"

#define HA_SENTINELS 3
#define HA_MASTER "mymaster"
#define HA_PASSWORD "ha-pw"    /* the default user's, on both data nodes */
#define HA_PSW_USER "psw"
#define HA_PSW_PASSWORD "psw-pw"
#define HA_SENTINEL_PASSWORD "sentinel-pw" /* the sentinels' requirepass */

struct ha_opts {
    int down_after_ms;       /* sentinel down-after-milliseconds; 0 = 1000 */
    int failover_timeout_ms; /* sentinel failover-timeout; 0 = 3000 */
};

struct ha_sentinel {
    pid_t pid;                     /* 0 when not running */
    int port;
    char dir[REDIS_SRV_PATH];      /* "" once removed */
    char conf[REDIS_SRV_PATH + 16];
    char log[REDIS_SRV_PATH + 16];
};

struct ha {
    struct redis_srv node[2];      /* node[0] starts as the primary, node[1] as its replica */
    struct ha_sentinel sentinel[HA_SENTINELS];
    char sentinels[256];           /* "127.0.0.1:P1, 127.0.0.1:P2, 127.0.0.1:P3" (redis.sentinels) */
};

/* 0, or -1 with the reason on stderr (call ha_stop then). o NULL = defaults. */
int ha_start(struct ha *h, const struct ha_opts *o);
void ha_stop(struct ha *h);

/* Which node the sentinels name as primary: asks each live sentinel, returns
 * 0 or 1 when a majority agree, -1 otherwise. */
int ha_primary(struct ha *h);

/* Waits until the sentinels name node idx and that node says ROLE master.
 * 0, or -1 after timeout_ms. */
int ha_wait_primary(struct ha *h, int idx, int timeout_ms);

/* A raw connection to node idx as the default user (redis_srv_connect). */
redisContext *ha_connect(struct ha *h, int idx);

/* Prints the sentinels' and nodes' log tails to stderr (after a failure). */
void ha_dump_logs(const struct ha *h);

#endif
