/*
 * redis_cluster.h — a throwaway Redis Cluster for one test: n primaries
 * (redis-server --cluster-enabled yes, each a redis_srv on a free loopback
 * port in its own directory), joined with `redis-cli --cluster create …
 * --cluster-replicas 0 --cluster-yes` (or 1, rcl_start_replicated), and waited for until every node says
 * cluster_state:ok. Also the reshard of slots between nodes
 * (`redis-cli --cluster reshard`). Stopped by rcl_stop (idempotent); a test
 * that aborts leaves nothing behind (see redis_server.h).
 */
#ifndef PSW_TEST_HARNESS_REDIS_CLUSTER_H
#define PSW_TEST_HARNESS_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>

#include "tests/harness/redis_server.h"

#define RCL_MAX 6

struct rcl {
    struct redis_srv node[RCL_MAX];
    int n;
    char dir[512]; /* for redis-cli's output */
};

/* 0, or -1 with the reason on stderr (call rcl_stop). */
int rcl_start(struct rcl *c, int n);

/* n primaries (3 at least, RCL_MAX / 2 at most), each with a replica:
 * `redis-cli --cluster create … --cluster-replicas 1` over 2n nodes, which
 * makes nodes 0..n-1 the primaries; cluster-node-timeout 1000 ms, so that
 * when a primary dies its replica takes over within a few seconds. Returns
 * once every replica is in sync. 0, or -1 as rcl_start. */
int rcl_start_replicated(struct rcl *c, int n);
void rcl_stop(struct rcl *c);

/* A raw connection to node i (no redirections followed). */
redisContext *rcl_connect(struct rcl *c, int i);

/* The node index serving slot (CLUSTER SLOTS on node 0), or -1. */
int rcl_slot_node(struct rcl *c, unsigned slot);

/* The node id (CLUSTER MYID) of node i into id[41]. 0 or -1. */
int rcl_node_id(struct rcl *c, int i, char id[41]);

/* Moves count slots from node `from` to node `to` with redis-cli --cluster
 * reshard (it moves the keys with MIGRATE while the programs run). 0 or -1. */
int rcl_reshard(struct rcl *c, int from, int to, int count);

/* Moves exactly one slot from its node to node `to` the way redis-cli does
 * it, one step at a time: SETSLOT IMPORTING/MIGRATING, MIGRATE of its keys
 * in batches of batch keys (calling between(arg) after the first batch, while
 * the slot is split between the two nodes), SETSLOT NODE on both. 0 or -1. */
int rcl_move_slot(struct rcl *c, unsigned slot, int to, int batch, void (*between)(void *),
                  void *arg);

#endif
