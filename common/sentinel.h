/*
 * sentinel.h — finding the Redis primary through Redis Sentinel
 * (docs/operations.md, "Redis replica + Sentinel").
 *
 * A struct psw_sentinels is the configured list of sentinels and the name of
 * the primary they watch. psw_sentinels_ask() asks them in turn — SENTINEL
 * get-master-addr-by-name — until one names an address, and remembers which
 * one answered so the next question goes to it first (the order Redis's
 * guidelines for Sentinel clients suggest). It only reports what a sentinel
 * believes: the caller connects there and checks with ROLE that the server
 * really is the primary (common/redis.c does), because a sentinel can still
 * name the old primary during a failover.
 *
 * No state besides the list and the rotation index; no connection is kept
 * (one short connection per question: questions come only when connecting).
 */
#ifndef PSW_SENTINEL_H
#define PSW_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#define PSW_SENTINELS_MAX 16
#define PSW_SENTINEL_PORT 26379

struct psw_sentinel_addr {
    char host[256];
    int  port;
};

/* "host:port", "host" (port 26379), "[v6addr]:port" or "[v6addr]".
 * Returns 0, or -1 with the reason in err. */
int psw_sentinel_addr_parse(const char *s, struct psw_sentinel_addr *a, char *err,
                            size_t errlen);

struct psw_sentinels {
    struct psw_sentinel_addr addr[PSW_SENTINELS_MAX];
    size_t n;
    char   master[256];  /* the name the sentinels monitor the primary by */
    char   password[256]; /* AUTH to each sentinel first; "" = none */
    size_t first;        /* asked first next time: the last one that answered */
};

/* Fills s from n "host:port" strings, the primary's name and the
 * sentinels' own password (requirepass on the sentinels; NULL or "" =
 * none). 0, or -1 + err. */
int psw_sentinels_init(struct psw_sentinels *s, const char *const *addrs, size_t n,
                       const char *master, const char *password, char *err, size_t errlen);

/* Asks the sentinels where the primary is, each with timeout_ms to connect
 * and to answer. On success writes host (size hostlen) and *port and
 * returns 0. Returns -1 when none answered with an address; err then lists
 * what each sentinel said. */
int psw_sentinels_ask(struct psw_sentinels *s, int64_t timeout_ms, char *host, size_t hostlen,
                      int *port, char *err, size_t errlen);

#endif
