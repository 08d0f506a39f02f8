/*
 * cluster.h — a whole PostStack Webhooks deployment for one black-box test:
 * a throwaway redis-server, a config file written for the test (time scaled
 * down: ms retry schedules, short heartbeats), real psw-scheduler and
 * psw-worker processes, a recording HTTP receiver, and a library context
 * (psw_ctx) plus a raw hiredis connection for assertions.
 *
 * Config: every "key: value" line given in overrides wins; the test defaults
 * below fill in the rest (dotted keys, which the config loader accepts).
 */
#ifndef PSW_TEST_CLUSTER_H
#define PSW_TEST_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "common/config.h"
#include "common/ctx.h"
#include "common/ids.h"
#include "tests/harness/harness.h"

#define CLUSTER_MAX_PROCS 8

struct cluster {
    struct redis_srv redis;  /* unused (zero) when ha is set */
    struct ha *ha;           /* "test.sentinel: yes": primary, replica, 3 sentinels */
    struct rcl *rcl;         /* "test.redis_cluster: N": a Redis Cluster of N primaries
                                (redis_cluster.h), each with a replica when
                                "test.redis_cluster_replicas: yes" is given too,
                                redis.cluster: true, url = node 0;
                                rc is a raw connection to node 0 */
    struct rx *rx;
    char *dir;
    char config_path[512];
    char url[1024];          /* what the programs use: redis.url, or the ACL user's URL */
    pid_t sched[CLUSTER_MAX_PROCS];
    char  sched_log[CLUSTER_MAX_PROCS][600];
    int   nsched;
    pid_t work[CLUSTER_MAX_PROCS];
    char  work_log[CLUSTER_MAX_PROCS][600];
    int   nwork;
    struct psw_config cfg; /* what the processes load, for the library calls */
    struct psw_ctx ctx;
    redisContext *rc;        /* default user; with ha, to the primary (cluster_follow_primary) */
};

/* Starts redis (AOF off unless an override line "test.aof: yes" — not a real
 * key, consumed here; "test.acl: <rules>" makes every project process and the
 * library context connect as ACL user "psw" with exactly those rules, while
 * the raw connection c->rc stays the unrestricted default user (with
 * "test.redis_cluster" the user is created on every node); "test.sentinel: yes"
 * starts a Sentinel set instead of one server (redis_sentinel.h) and points the
 * config at it with redis.sentinels, the programs connecting as its ACL user
 * "psw"), writes the config, starts nsched schedulers and nwork
 * worker masters. overrides: NULL-terminated "key: value" lines, may be NULL;
 * "{rx}" in a line stands for the receiver's base URL "http://127.0.0.1:PORT"
 * (e.g. "alerts.webhook_url: {rx}/alerts"), "{rxport}" for its port alone.
 * Returns 0; on failure prints why and returns -1 (call cluster_stop). */
int cluster_start(struct cluster *c, const char *const *overrides, int nsched, int nwork);

/* Stops every process (SIGTERM, bounded wait, then SIGKILL), the receiver
 * and redis, and removes the directory. Prints the log tails first when
 * dump is nonzero (use it when the test failed). Idempotent. */
void cluster_stop(struct cluster *c, int dump);

/* Starts one more scheduler / worker master; returns its pid or -1. */
pid_t cluster_add_scheduler(struct cluster *c);
pid_t cluster_add_worker(struct cluster *c);

/* Creates an endpoint of account on the receiver's path (domain NULL = account
 * level, events NULL = "*", secret NULL = generated). Writes its id into id
 * and, if secret_out, the secret. Returns 0 or fails the test. */
int cluster_endpoint(struct cluster *c, const char *account, const char *path,
                     const char *domain, const char *events, const char *secret,
                     char id[PSW_ID_SIZE], char *secret_out, size_t secret_n);

/* Publishes one event; writes the event id and the number of deliveries.
 * Returns the psw_publish status. */
int cluster_publish(struct cluster *c, const char *json, char *evt_out, size_t evt_n,
                    int *deliveries);

/* HGET key field as a malloc'd string (NULL if absent). key is built with
 * the prefix: cluster_hget(c, "delivery:dlv_…", "state"). */
char *cluster_hget(struct cluster *c, const char *key_suffix, const char *field);
long long cluster_hget_ll(struct cluster *c, const char *key_suffix, const char *field,
                          long long def);

/* Waits until HGET prefix+key_suffix field equals want. 0, or -1 on timeout
 * (after printing what it saw). */
int cluster_wait_field(struct cluster *c, const char *key_suffix, const char *field,
                       const char *want, int timeout_ms);

/* Waits until the psw:stats counter reaches at least want. */
int cluster_wait_stat(struct cluster *c, const char *field, long long want, int timeout_ms);

/* The delivery ids of an endpoint (from its index), oldest first; caller
 * frees with cluster_ids_free. */
size_t cluster_deliveries(struct cluster *c, const char *ep_id, char ***ids);
void cluster_ids_free(char **ids, size_t n);

/* The pid of the worker child sending delivery dlv_id right now, from its
 * worker field "<host>:<pid>:<random>"; -1 when it is not in flight. */
pid_t cluster_holder_pid(struct cluster *c, const char *dlv_id);

/* With ha: points c->rc at the node the sentinels name as primary now (after
 * a failover). 0, or -1 when they name none. */
int cluster_follow_primary(struct cluster *c);

/* A raw command on the test's own connection (fails the test on I/O error). */
redisReply *cluster_cmd(struct cluster *c, const char *fmt, ...);

#endif
