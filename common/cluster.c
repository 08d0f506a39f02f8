/*
 * cluster.c — slot function, redirection and slot map parsing, shards.
 */
#include "common/cluster.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), bit by bit: a
 * key name is short and a table buys nothing measurable here. */
static unsigned crc16(const char *buf, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

unsigned psw_cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (PSW_CLUSTER_SLOTS - 1);
    }
    return crc16(key, len) & (PSW_CLUSTER_SLOTS - 1);
}

/* "host:port" with the port after the last colon (IPv6 hosts have colons). */
static int split_addr(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    if (!colon || colon == s || (size_t)(colon - s) >= hostlen)
        return -1;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 1 || p > 65535)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (int)p;
    return 0;
}

int psw_cluster_redirect(const redisReply *rep, int *ask, int *slot, char *host, size_t hostlen,
                         int *port)
{
    char addr[300];
    long s;
    char *end;
    if (!rep || rep->type != REDIS_REPLY_ERROR)
        return 0;
    if (strncmp(rep->str, "MOVED ", 6) == 0)
        *ask = 0;
    else if (strncmp(rep->str, "ASK ", 4) == 0)
        *ask = 1;
    else
        return 0;
    const char *p = rep->str + (*ask ? 4 : 6);
    errno = 0;
    s = strtol(p, &end, 10);
    if (errno || end == p || *end != ' ' || s < 0 || s >= PSW_CLUSTER_SLOTS)
        return 0;
    snprintf(addr, sizeof(addr), "%s", end + 1);
    if (split_addr(addr, host, hostlen, port) < 0)
        return 0;
    *slot = (int)s;
    return 1;
}

int psw_cluster_slot_owner(const redisReply *slots, unsigned slot, const char *asked_host,
                           char *host, size_t hostlen, int *port)
{
    if (!slots || slots->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < slots->elements; i++) {
        const redisReply *r = slots->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
            r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        if ((long long)slot < r->element[0]->integer || (long long)slot > r->element[1]->integer)
            continue;
        const redisReply *n = r->element[2];
        if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
            n->element[0]->type != REDIS_REPLY_STRING || n->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        const char *h = n->element[0]->str[0] && strcmp(n->element[0]->str, "?") != 0
                            ? n->element[0]->str
                            : asked_host;
        if (strlen(h) >= hostlen || n->element[1]->integer < 1 || n->element[1]->integer > 65535)
            return -1;
        snprintf(host, hostlen, "%s", h);
        *port = (int)n->element[1]->integer;
        return 0;
    }
    return -1;
}

unsigned psw_shard_of_account(const char *account, unsigned nshards)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)account; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return nshards > 1 ? h % nshards : 0;
}

void psw_shard_prefix(const char *base, unsigned shard, char *out, size_t n)
{
    snprintf(out, n, "%s{%u}:", base, shard);
}
