/*
 * cluster.h — what running on a Redis Cluster needs beside hiredis
 * (docs/redis.md, "Redis Cluster"): the key slot function, the parsing of
 * MOVED/ASK redirections and of CLUSTER SLOTS, and the logical shards an
 * account is hashed to.
 *
 * The connection handling itself (following redirections, finding a slot's
 * node, reconnecting after a topology change) lives in common/redis.c: a
 * struct psw_redis in cluster mode serves one slot, the slot of its shard.
 */
#ifndef PSW_CLUSTER_H
#define PSW_CLUSTER_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define PSW_CLUSTER_SLOTS 16384

/* The slot Redis Cluster assigns key[0..len): CRC16 (XMODEM) mod 16384 of
 * the hash tag — the part between the first '{' and the next '}' when that
 * part is not empty — or of the whole key. */
unsigned psw_cluster_slot(const char *key, size_t len);

/* A MOVED or ASK error reply: fills *ask (1 for ASK), *slot, host and *port
 * and returns 1. Returns 0 for any other reply. */
int psw_cluster_redirect(const redisReply *rep, int *ask, int *slot, char *host, size_t hostlen,
                         int *port);

/* The primary serving slot in a CLUSTER SLOTS reply. A node announced with
 * an empty host is the node asked (asked_host). Returns 0, or -1 when the
 * reply names no node for the slot. */
int psw_cluster_slot_owner(const redisReply *slots, unsigned slot, const char *asked_host,
                           char *host, size_t hostlen, int *port);

/* The logical shard of an account: a stable hash (FNV-1a, 32 bits) of the
 * account id mod nshards. The same id always gives the same shard for a
 * given nshards; "" is a valid account (shard of the empty string). */
unsigned psw_shard_of_account(const char *account, unsigned nshards);

/* The key prefix of shard i: base + "{i}:" (e.g. "psw:{3}:"), so that every
 * key of the shard carries the hash tag {i} and lands in one slot. */
void psw_shard_prefix(const char *base, unsigned shard, char *out, size_t n);

#endif
