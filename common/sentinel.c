/*
 * sentinel.c — asking Redis Sentinel where the primary is (see sentinel.h).
 *
 * Each question opens a short hiredis connection to one sentinel, sends
 * SENTINEL get-master-addr-by-name and closes it. A sentinel that cannot be
 * reached, answers too late, does not know the name (nil reply) or answers
 * with an error is skipped; what each said is collected into the error text,
 * so an operator sees "127.0.0.1:26379: Connection refused; …" rather than a
 * bare "no primary".
 */
#include "common/sentinel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

static int parse_port(const char *s, size_t len, int *port)
{
    char tmp[8];
    char *end;
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    long v = strtol(tmp, &end, 10);
    if (errno || *end || end == tmp || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int psw_sentinel_addr_parse(const char *s, struct psw_sentinel_addr *a, char *err,
                            size_t errlen)
{
    const char *host = s, *host_end, *port = NULL;
    memset(a, 0, sizeof(*a));
    a->port = PSW_SENTINEL_PORT;
    if (!s || !*s) {
        snprintf(err, errlen, "empty sentinel address (expected host:port)");
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '@') {
            snprintf(err, errlen, "\"%.100s\": expected host:port (no scheme, user or spaces)", s);
            return -1;
        }
    }
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb == s + 1) {
            snprintf(err, errlen, "\"%.100s\": expected [IPv6 address]:port", s);
            return -1;
        }
        host = s + 1;
        host_end = rb;
        if (rb[1] == ':')
            port = rb + 2;
        else if (rb[1]) {
            snprintf(err, errlen, "\"%.100s\": expected [IPv6 address]:port", s);
            return -1;
        }
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            snprintf(err, errlen, "\"%.100s\": write an IPv6 address in brackets: [addr]:port", s);
            return -1;
        }
        host_end = colon ? colon : s + strlen(s);
        if (colon)
            port = colon + 1;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(a->host)) {
        snprintf(err, errlen, "\"%.100s\": %s host", s, hl ? "too long a" : "no");
        return -1;
    }
    if (port && parse_port(port, strlen(port), &a->port) < 0) {
        snprintf(err, errlen, "\"%.100s\": port must be 1-65535", s);
        return -1;
    }
    memcpy(a->host, host, hl);
    a->host[hl] = '\0';
    return 0;
}

int psw_sentinels_init(struct psw_sentinels *s, const char *const *addrs, size_t n,
                       const char *master, const char *password, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (n == 0 || n > PSW_SENTINELS_MAX) {
        snprintf(err, errlen, "sentinels: between 1 and %d addresses needed, got %zu",
                 PSW_SENTINELS_MAX, n);
        return -1;
    }
    if (!master || !*master || strlen(master) >= sizeof(s->master)) {
        snprintf(err, errlen, "sentinels: the primary's name must be 1-%zu bytes",
                 sizeof(s->master) - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (psw_sentinel_addr_parse(addrs[i], &s->addr[i], err, errlen) < 0)
            return -1;
    if (password && strlen(password) >= sizeof(s->password)) {
        snprintf(err, errlen, "sentinels: the password must be at most %zu bytes",
                 sizeof(s->password) - 1);
        return -1;
    }
    s->n = n;
    snprintf(s->master, sizeof(s->master), "%s", master);
    snprintf(s->password, sizeof(s->password), "%s", password ? password : "");
    return 0;
}

/* Appends "; " (unless first) and the formatted text to err. */
static void add_reason(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_reason(char *err, size_t errlen, const char *fmt, ...)
{
    size_t o = strnlen(err, errlen);
    va_list ap;
    if (o + 3 >= errlen)
        return;
    if (o > 0) {
        memcpy(err + o, "; ", 3);
        o += 2;
    }
    va_start(ap, fmt);
    vsnprintf(err + o, errlen - o, fmt, ap);
    va_end(ap);
}

/* One sentinel. 0 with host/port, or -1 with the reason appended to err. */
static int ask_one(const struct psw_sentinels *s, const struct psw_sentinel_addr *a,
                   int64_t timeout_ms, char *host, size_t hostlen, int *port, char *err,
                   size_t errlen)
{
    struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(a->host, a->port, tv);
    redisReply *rep = NULL;
    int rc = -1;

    if (!c || c->err) {
        add_reason(err, errlen, "%s:%d: %s", a->host, a->port, c ? c->errstr : "out of memory");
        goto cleanup;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        add_reason(err, errlen, "%s:%d: %s", a->host, a->port, c->errstr);
        goto cleanup;
    }
    if (s->password[0]) {
        rep = redisCommand(c, "AUTH %s", s->password);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            add_reason(err, errlen, "%s:%d: AUTH with redis.sentinel_password failed: %s",
                       a->host, a->port, rep ? rep->str : c->errstr[0] ? c->errstr : "connection lost");
            goto cleanup;
        }
        freeReplyObject(rep);
    }
    rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", s->master);
    if (!rep) {
        add_reason(err, errlen, "%s:%d: %s", a->host, a->port,
                   c->err == REDIS_ERR_IO && c->errstr[0] ? c->errstr : "connection lost");
        goto cleanup;
    }
    if (rep->type == REDIS_REPLY_NIL) {
        add_reason(err, errlen, "%s:%d: does not know a primary named \"%s\"", a->host, a->port,
                   s->master);
        goto cleanup;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        add_reason(err, errlen, "%s:%d: %s", a->host, a->port, rep->str);
        goto cleanup;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING || rep->element[0]->len == 0 ||
        rep->element[0]->len >= hostlen ||
        parse_port(rep->element[1]->str, rep->element[1]->len, port) < 0) {
        add_reason(err, errlen, "%s:%d: unexpected answer to SENTINEL get-master-addr-by-name",
                   a->host, a->port);
        goto cleanup;
    }
    memcpy(host, rep->element[0]->str, rep->element[0]->len);
    host[rep->element[0]->len] = '\0';
    rc = 0;
cleanup:
    if (rep)
        freeReplyObject(rep);
    if (c)
        redisFree(c);
    return rc;
}

int psw_sentinels_ask(struct psw_sentinels *s, int64_t timeout_ms, char *host, size_t hostlen,
                      int *port, char *err, size_t errlen)
{
    char why[1024] = "";
    for (size_t k = 0; k < s->n; k++) {
        size_t i = (s->first + k) % s->n;
        if (ask_one(s, &s->addr[i], timeout_ms, host, hostlen, port, why, sizeof(why)) == 0) {
            s->first = i;
            return 0;
        }
    }
    snprintf(err, errlen, "no sentinel named the primary \"%s\" (%s)", s->master, why);
    return -1;
}
