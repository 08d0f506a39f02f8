/*
 * reply.c — see reply.h.
 */
#include "common/reply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *psw_reply_hget(const redisReply *hash, const char *field)
{
    if (!hash || hash->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < hash->elements; i += 2) {
        const redisReply *k = hash->element[i];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, field) == 0) {
            const redisReply *v = hash->element[i + 1];
            return v->type == REDIS_REPLY_STRING ? v->str : NULL;
        }
    }
    return NULL;
}

const char *psw_reply_str(const redisReply *arr, size_t i)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY || i >= arr->elements)
        return NULL;
    const redisReply *e = arr->element[i];
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? e->str : NULL;
}

long long psw_parse_ll(const char *s, long long def)
{
    char *end;
    if (!s || !*s)
        return def;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || *end ? def : v;
}

size_t psw_fmt_i64(char *out, long long v)
{
    char tmp[PSW_I64_SIZE];
    size_t i = sizeof(tmp);
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    size_t n = sizeof(tmp) - i;
    memcpy(out, tmp + i, n);
    out[n] = '\0';
    return n;
}

long long psw_reply_int(const redisReply *arr, size_t i, long long def)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY || i >= arr->elements)
        return def;
    const redisReply *e = arr->element[i];
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return psw_parse_ll(e->str, def);
    return def;
}
