/*
 * redis.c — connection management, embedded scripts and reconnects.
 *
 * Invariants: r->c is either NULL (disconnected) or a context with no error
 * that has passed AUTH/SELECT and, when load_scripts is set, whose server
 * holds every script (one SCRIPT EXISTS at connect; only missing ones are
 * loaded). The SHAs are computed at build time (scripts/embed-lua.sh). Any I/O failure frees the
 * context at once, so a half-broken connection is never reused.
 *
 * Outage logging: the first failure of an outage logs a warning with the
 * reason; the following failed tries log at debug; the first success after an
 * outage logs how long it lasted and how many tries it took. A .quiet
 * connection logs all of it at debug (a process's second connection, whose
 * outage its first one reports: one outage, one warning per process).
 *
 * Sentinel: r->sentinels is NULL for a plain URL, which then behaves exactly
 * as without Sentinel support. Otherwise r->u's host and port are those of
 * the last primary the sentinels named (asked again at every connect) and
 * r->url_safe names the primary for messages ("mymaster at host:port").
 */
#include "common/redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/cluster.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/sentinel.h"
#include "common/timeutil.h"

struct psw_redis {
    struct psw_redis_options opt;
    char *url;
    char  url_safe[256];
    struct psw_redis_url u;
    redisContext *c;
    char  sha[PSW_SCRIPT__COUNT][41];
    char  err[1024];
    uint64_t generation;
    int64_t outage_since; /* 0 = no outage */
    unsigned outage_tries;
    int64_t backoff_ms;   /* current delay between tries */
    int64_t next_try;     /* RETRY_POLLED: no try before this (monotonic ms) */
    unsigned jitter_seed; /* rand_r state, different in every process */
    struct psw_sentinels *sentinels; /* NULL: connect to the URL's address */
    /* cluster mode (see redis.h): the slot served, the seed from the URL,
     * and whether the next connect must ask the cluster who owns the slot */
    int      cluster;
    unsigned slot;
    char     seed_host[256];
    int      seed_port;
    int      refresh;
    char     cluster_key[128];
    /* every node the last CLUSTER SLOTS named: asked when the seed is down */
    struct { char host[256]; int port; } known[16];
    int      nknown;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- URL ------------------------------------------------------------ */

/* Decodes s[0..len) with %XX escapes into out (size n). */
static int pct_decode(const char *s, size_t len, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = psw_hex_digit(s[i + 1]), lo = psw_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= n)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_db(const char *s, int *db)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 100000)
        return -1;
    *db = (int)v;
    return 0;
}

/* Parses "[[user]:password@]" at the front of *p, advancing *p past '@'. */
static int parse_userinfo(const char **p, const char *stop, struct psw_redis_url *u,
                          char *err, size_t errlen)
{
    const char *at = memchr(*p, '@', (size_t)(stop - *p));
    if (!at)
        return 0;
    const char *colon = memchr(*p, ':', (size_t)(at - *p));
    const char *user_end = colon ? colon : at;
    if (pct_decode(*p, (size_t)(user_end - *p), u->user, sizeof(u->user)) < 0) {
        set_err(err, errlen, "redis url: bad user name");
        return -1;
    }
    if (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), u->password,
                            sizeof(u->password)) < 0) {
        set_err(err, errlen, "redis url: bad password (too long or bad %%-escape)");
        return -1;
    }
    if (!colon) {
        /* "redis://secret@host" is how many clients spell a password alone. */
        snprintf(u->password, sizeof(u->password), "%s", u->user);
        u->user[0] = '\0';
    }
    *p = at + 1;
    return 0;
}

int psw_redis_url_parse(const char *url, struct psw_redis_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->port = 6379;
    if (!url || !*url) {
        set_err(err, errlen, "redis url: empty");
        return -1;
    }
    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7;
        const char *q = strchr(p, '?');
        const char *end = q ? q : p + strlen(p);
        u->is_unix = 1;
        if (parse_userinfo(&p, end, u, err, errlen) < 0)
            return -1;
        if (p >= end || *p != '/') {
            set_err(err, errlen, "redis url \"%s\": unix:// needs an absolute socket path", url);
            return -1;
        }
        if ((size_t)(end - p) >= sizeof(u->path)) {
            set_err(err, errlen, "redis url: socket path too long");
            return -1;
        }
        memcpy(u->path, p, (size_t)(end - p));
        u->path[end - p] = '\0';
        if (q) {
            if (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, &u->db) < 0) {
                set_err(err, errlen, "redis url \"%s\": expected ?db=N after the socket path", url);
                return -1;
            }
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        set_err(err, errlen, "redis url \"%s\": must start with redis:// or unix://", url);
        return -1;
    }
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    if (parse_userinfo(&p, end, u, err, errlen) < 0)
        return -1;
    const char *host_end, *port_start = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) {
            set_err(err, errlen, "redis url \"%s\": unterminated [IPv6] host", url);
            return -1;
        }
        p++;
        host_end = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':') {
                set_err(err, errlen, "redis url \"%s\": junk after ]", url);
                return -1;
            }
            port_start = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
        if (colon)
            port_start = colon + 1;
    }
    size_t hl = (size_t)(host_end - p);
    if (hl == 0) {
        set_err(err, errlen, "redis url \"%s\": no host", url);
        return -1;
    }
    if (hl >= sizeof(u->host)) {
        set_err(err, errlen, "redis url: host too long");
        return -1;
    }
    memcpy(u->host, p, hl);
    u->host[hl] = '\0';
    if (port_start) {
        char tmp[16];
        size_t pl = (size_t)(end - port_start);
        char *e;
        if (pl == 0 || pl >= sizeof(tmp)) {
            set_err(err, errlen, "redis url \"%s\": bad port", url);
            return -1;
        }
        memcpy(tmp, port_start, pl);
        tmp[pl] = '\0';
        errno = 0;
        long port = strtol(tmp, &e, 10);
        if (errno || *e || port < 1 || port > 65535) {
            set_err(err, errlen, "redis url \"%s\": port must be 1-65535", url);
            return -1;
        }
        u->port = (int)port;
    }
    if (slash && slash[1] && parse_db(slash + 1, &u->db) < 0) {
        set_err(err, errlen, "redis url \"%s\": database must be a number after /", url);
        return -1;
    }
    return 0;
}

void psw_redis_url_redact(const char *url, char *out, size_t n)
{
    const char *scheme = url ? strstr(url, "://") : NULL;
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!at) {
        snprintf(out, n, "%s", url ? url : "");
        return;
    }
    if (!colon) { /* "redis://secret@host": all of it is the password */
        snprintf(out, n, "%.*s****%s", (int)(scheme + 3 - url), url, at);
        return;
    }
    snprintf(out, n, "%.*s:****%s", (int)(colon - url), url, at);
}

/* ---- connection ----------------------------------------------------- */

static struct timeval tv_ms(int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

struct psw_redis *psw_redis_new(const struct psw_redis_options *opt, char *err, size_t errlen)
{
    struct psw_redis *r = calloc(1, sizeof(*r));
    if (!r) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    r->opt = *opt;
    r->url = strdup(opt->url ? opt->url : "");
    if (!r->url || psw_redis_url_parse(r->url, &r->u, err, errlen) < 0) {
        if (!r->url)
            set_err(err, errlen, "out of memory");
        psw_redis_free(r);
        return NULL;
    }
    r->opt.url = r->url;
    for (int i = 0; i < PSW_SCRIPT__COUNT; i++)
        memcpy(r->sha[i], psw_script_sources[i].sha1, 41);
    psw_redis_url_redact(r->url, r->url_safe, sizeof(r->url_safe));
    if (opt->nsentinels > 0) {
        if (r->u.is_unix) {
            set_err(err, errlen, "redis url: with sentinels it must be redis:// (only its user, "
                                 "password and database are used)");
            psw_redis_free(r);
            return NULL;
        }
        r->sentinels = malloc(sizeof(*r->sentinels));
        if (!r->sentinels || psw_sentinels_init(r->sentinels, opt->sentinels, opt->nsentinels,
                                                opt->sentinel_master, opt->sentinel_password, err,
                                                errlen) < 0) {
            if (!r->sentinels)
                set_err(err, errlen, "out of memory");
            psw_redis_free(r);
            return NULL;
        }
        /* The URL's host is not used: the sentinels name the primary. */
        r->u.host[0] = '\0';
        r->u.port = 0;
        snprintf(r->url_safe, sizeof(r->url_safe), "%.200s (via sentinels)", r->sentinels->master);
    }
    if (opt->cluster) {
        if (r->u.is_unix || r->sentinels) {
            set_err(err, errlen, "redis url: a cluster needs a redis:// url naming a node");
            psw_redis_free(r);
            return NULL;
        }
        r->cluster = 1;
        snprintf(r->cluster_key, sizeof(r->cluster_key), "%s",
                 opt->cluster_key ? opt->cluster_key : "");
        r->slot = psw_cluster_slot(r->cluster_key, strlen(r->cluster_key));
        snprintf(r->seed_host, sizeof(r->seed_host), "%s", r->u.host);
        r->seed_port = r->u.port;
        r->refresh = 1;
    }
    r->opt.cluster_key = NULL;
    r->opt.sentinels = NULL; /* borrowed from the caller: not kept */
    /* Seeded per connection from the pid and the clock: rand() is never
     * seeded, so every process (forked worker children above all) would draw
     * the same jitter and a fleet would reconnect in step after all. */
    r->jitter_seed = (unsigned)getpid() * 2654435761u ^ (unsigned)psw_mono_ms() ^
                     (unsigned)(uintptr_t)r;
    return r;
}

void psw_redis_disconnect(struct psw_redis *r)
{
    if (r && r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
}

void psw_redis_free(struct psw_redis *r)
{
    if (!r)
        return;
    psw_redis_disconnect(r);
    free(r->url);
    free(r->sentinels);
    free(r);
}

int psw_redis_connected(const struct psw_redis *r)
{
    return r->c != NULL;
}

const char *psw_redis_errstr(const struct psw_redis *r)
{
    return r->err;
}

uint64_t psw_redis_generation(const struct psw_redis *r)
{
    return r->generation;
}

const char *psw_redis_script_sha(const struct psw_redis *r, enum psw_script_id script)
{
    return r->sha[script];
}

int psw_redis_reply_is_error(const redisReply *reply, const char *prefix)
{
    return reply && reply->type == REDIS_REPLY_ERROR &&
           strncmp(reply->str, prefix, strlen(prefix)) == 0;
}

/* What went wrong on c, for a message. hiredis reports a command timeout
 * (SO_RCVTIMEO/SO_SNDTIMEO running out) as the bare strerror(EAGAIN),
 * "Resource temporarily unavailable", which does not say that Redis did not
 * answer in time: that case is named here. */
static const char *io_errstr(const struct psw_redis *r, const redisContext *c, char *buf,
                             size_t n)
{
    if (!c || !c->errstr[0])
        return "connection lost";
    if (c->err == REDIS_ERR_IO &&
        (strcmp(c->errstr, strerror(EAGAIN)) == 0 || strcmp(c->errstr, strerror(EWOULDBLOCK)) == 0)) {
        snprintf(buf, n, "no answer within %lld ms (redis.command_timeout)",
                 (long long)r->opt.command_timeout_ms);
        return buf;
    }
    return c->errstr;
}

/* Logs an outage event: at debug for a quiet connection (see .quiet). */
#define outage_log(r, lvl, ...)                                                                \
    do {                                                                                       \
        if ((r)->opt.quiet)                                                                    \
            log_debug(__VA_ARGS__);                                                            \
        else                                                                                   \
            lvl(__VA_ARGS__);                                                                  \
    } while (0)

/* Drops the connection (r->err says why): the start of an outage. */
static void outage_begins(struct psw_redis *r)
{
    if (r->opt.retry != PSW_REDIS_FAIL_FAST && r->outage_since == 0) {
        r->outage_since = psw_mono_ms();
        r->outage_tries = 0;
        outage_log(r, log_warn, "%s; reconnecting", r->err);
    }
    psw_redis_disconnect(r);
}

/* Marks the connection broken after an I/O error on it. */
static void connection_failed(struct psw_redis *r)
{
    char why[128];
    if (r->cluster) /* the node may be gone: ask who serves the slot now */
        r->refresh = 1;
    snprintf(r->err, sizeof(r->err), "redis %s: %s", r->url_safe,
             io_errstr(r, r->c, why, sizeof(why)));
    outage_begins(r);
}

/* Replies by which a server says it is no longer the writable primary: a
 * demoted primary (READONLY), one still loading its data (LOADING), a
 * replica cut off from its primary (MASTERDOWN). */
static int role_error(const redisReply *rep)
{
    return psw_redis_reply_is_error(rep, "READONLY") ||
           psw_redis_reply_is_error(rep, "LOADING") ||
           psw_redis_reply_is_error(rep, "MASTERDOWN");
}

/* With sentinels, a role error means the primary moved: drop the connection
 * so the next call asks the sentinels again. Returns 1 when it did. */
static int lost_primary(struct psw_redis *r, const redisReply *rep)
{
    if (r->cluster && (role_error(rep) || psw_redis_reply_is_error(rep, "CLUSTERDOWN"))) {
        snprintf(r->err, sizeof(r->err), "redis %s: %.300s; asking the cluster who owns slot %u",
                 r->url_safe, rep->str, r->slot);
        r->refresh = 1;
        outage_begins(r);
        return 1;
    }
    if (!r->sentinels || !role_error(rep))
        return 0;
    snprintf(r->err, sizeof(r->err), "redis %s: %.300s; asking the sentinels for the primary",
             r->url_safe, rep->str);
    outage_begins(r);
    return 1;
}

static int load_script(struct psw_redis *r, redisContext *c, enum psw_script_id id)
{
    const char *src = psw_script_sources[id].source;
    redisReply *rep = redisCommand(c, "SCRIPT LOAD %s", src);
    if (!rep) {
        char why[128];
        snprintf(r->err, sizeof(r->err), "redis %s: %s", r->url_safe,
                 io_errstr(r, c, why, sizeof(why)));
        return -1;
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING && rep->len == 40) {
        memcpy(r->sha[id], rep->str, 41);
    } else {
        snprintf(r->err, sizeof(r->err), "redis %s: loading script %s: %s", r->url_safe,
                 psw_script_sources[id].name,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

/* Sends one setup command; fails on I/O or error replies. */
/* Loads the scripts the server does not hold yet: one SCRIPT EXISTS for all,
 * then SCRIPT LOAD for each missing one. Loading all of them at every connect
 * made Redis hash and compile ~0.5 MB of Lua per connection: 13k
 * instructions per delivery in bench/profile.sh, where the publisher
 * connects once per 3000 events (docs/performance.md). */
static int load_missing_scripts(struct psw_redis *r, redisContext *c)
{
    const char *argv[PSW_SCRIPT__COUNT + 2] = { "SCRIPT", "EXISTS" };
    for (int i = 0; i < PSW_SCRIPT__COUNT; i++)
        argv[i + 2] = r->sha[i];
    redisReply *rep = redisCommandArgv(c, PSW_SCRIPT__COUNT + 2, argv, NULL);
    if (!rep) {
        char why[128];
        snprintf(r->err, sizeof(r->err), "redis %s: SCRIPT EXISTS: %s", r->url_safe,
                 io_errstr(r, c, why, sizeof(why)));
        return -1;
    }
    int rc = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != PSW_SCRIPT__COUNT) {
        snprintf(r->err, sizeof(r->err), "redis %s: SCRIPT EXISTS failed: %s", r->url_safe,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < PSW_SCRIPT__COUNT; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer != 1)
            rc = load_script(r, c, (enum psw_script_id)i);
    freeReplyObject(rep);
    return rc;
}

static int setup_cmd(struct psw_redis *r, redisContext *c, const char *what, int argc,
                     const char **argv)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (!rep) {
        char why[128];
        snprintf(r->err, sizeof(r->err), "redis %s: %s: %s", r->url_safe, what,
                 io_errstr(r, c, why, sizeof(why)));
        return -1;
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->err, sizeof(r->err), "redis %s: %s failed: %s", r->url_safe, what, rep->str);
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

/* Sets r->u's address to the primary the sentinels name. */
static int find_primary(struct psw_redis *r)
{
    char host[sizeof(r->u.host)], why[700];
    int port = 0;
    if (psw_sentinels_ask(r->sentinels, r->opt.connect_timeout_ms, host, sizeof(host), &port, why,
                          sizeof(why)) < 0) {
        snprintf(r->err, sizeof(r->err), "redis %s: %s", r->url_safe, why);
        return -1;
    }
    if (strcmp(host, r->u.host) == 0 && port == r->u.port)
        return 0;
    if (r->u.host[0])
        outage_log(r, log_info, "redis: the sentinels name %s:%d as primary \"%s\" (was %s:%d)",
                   host, port, r->sentinels->master, r->u.host, r->u.port);
    else
        log_debug("redis: the sentinels name %s:%d as primary \"%s\"", host, port,
                  r->sentinels->master);
    snprintf(r->u.host, sizeof(r->u.host), "%s", host);
    r->u.port = port;
    snprintf(r->url_safe, sizeof(r->url_safe), "%.200s at %.40s:%d", r->sentinels->master, host,
             port);
    return 0;
}

/* A sentinel may still name the old primary during a failover (or a
 * demoted one): ROLE on the server itself decides. */
static int check_role(struct psw_redis *r, redisContext *c)
{
    redisReply *rep = redisCommand(c, "ROLE");
    int rc = -1;
    if (!rep) {
        char why[128];
        snprintf(r->err, sizeof(r->err), "redis %s: ROLE: %s", r->url_safe,
                 io_errstr(r, c, why, sizeof(why)));
        return -1;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "master") == 0)
        rc = 0;
    else if (rep->type == REDIS_REPLY_ERROR)
        snprintf(r->err, sizeof(r->err), "redis %s: ROLE failed: %.300s", r->url_safe, rep->str);
    else
        snprintf(r->err, sizeof(r->err), "redis %s: not the primary (ROLE says %.40s); asking the "
                 "sentinels again", r->url_safe,
                 rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                         rep->element[0]->type == REDIS_REPLY_STRING
                     ? rep->element[0]->str
                     : "something else");
    freeReplyObject(rep);
    return rc;
}

static int find_slot_owner(struct psw_redis *r);

static int connect_once(struct psw_redis *r)
{
    if (r->sentinels && find_primary(r) < 0)
        return -1;
    if (r->cluster && r->refresh && find_slot_owner(r) < 0)
        return -1;
    struct timeval ct = tv_ms(r->opt.connect_timeout_ms);
    redisContext *c = r->u.is_unix ? redisConnectUnixWithTimeout(r->u.path, ct)
                                   : redisConnectWithTimeout(r->u.host, r->u.port, ct);
    if (!c) {
        snprintf(r->err, sizeof(r->err), "redis %s: out of memory", r->url_safe);
        return -1;
    }
    if (c->err) {
        snprintf(r->err, sizeof(r->err), "redis %s: %s", r->url_safe, c->errstr);
        goto fail;
    }
    if (r->opt.command_timeout_ms > 0 && redisSetTimeout(c, tv_ms(r->opt.command_timeout_ms)) != REDIS_OK) {
        snprintf(r->err, sizeof(r->err), "redis %s: setting timeout: %s", r->url_safe, c->errstr);
        goto fail;
    }
    if (!r->u.is_unix)
        redisEnableKeepAlive(c);
    if (r->u.password[0]) {
        const char *auth_user[] = { "AUTH", r->u.user, r->u.password };
        const char *auth_pass[] = { "AUTH", r->u.password };
        int rc = r->u.user[0] ? setup_cmd(r, c, "AUTH", 3, auth_user)
                              : setup_cmd(r, c, "AUTH", 2, auth_pass);
        if (rc < 0)
            goto fail;
    }
    if (r->sentinels && check_role(r, c) < 0)
        goto fail;
    if (r->u.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->u.db);
        const char *sel[] = { "SELECT", db };
        if (setup_cmd(r, c, "SELECT", 2, sel) < 0)
            goto fail;
    }
    if (r->opt.load_scripts) {
        /* A PING first: Redis refuses a bulk string over 16 KiB from an
         * unauthenticated client with a protocol error, and a script is
         * that big, so a missing password would be reported as "Protocol
         * error: unauthenticated bulk length" instead of NOAUTH. */
        const char *ping[] = { "PING" };
        if (setup_cmd(r, c, "PING", 1, ping) < 0)
            goto fail;
        if (load_missing_scripts(r, c) < 0)
            goto fail;
    }
    r->c = c;
    r->generation++;
    return 0;
fail:
    if (r->cluster)
        r->refresh = 1;
    redisFree(c);
    return -1;
}

/* Sleeps ms in slices so that a stop request is noticed within 50 ms. */
static void backoff_sleep(const struct psw_redis *r, int64_t ms)
{
    int64_t until = psw_mono_ms() + ms;
    while (!(r->opt.stop && *r->opt.stop)) {
        int64_t left = until - psw_mono_ms();
        if (left <= 0)
            break;
        if (left > 50)
            left = 50;
        struct timespec ts = { 0, (long)left * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* One failed try of an outage: logged at its start, then only at debug. */
static void note_failed_try(struct psw_redis *r)
{
    if (r->outage_since == 0) {
        r->outage_since = psw_mono_ms();
        r->outage_tries = 0;
        outage_log(r, log_warn, "%s; retrying", r->err);
    } else {
        log_debug("%s; still retrying (try %u)", r->err, r->outage_tries + 1);
    }
    r->outage_tries++;
}

/* The next delay: doubled up to the cap, with ±25% jitter so a fleet of
 * workers does not reconnect in step. */
static int64_t next_delay(struct psw_redis *r)
{
    if (r->backoff_ms <= 0)
        r->backoff_ms = r->opt.backoff_initial_ms > 0 ? r->opt.backoff_initial_ms : 100;
    int64_t d = r->backoff_ms, j = d / 4;
    r->backoff_ms = d * 2 > r->opt.backoff_max_ms ? r->opt.backoff_max_ms : d * 2;
    return d - j + (j > 0 ? (int64_t)(rand_r(&r->jitter_seed) % (int)(2 * j + 1)) : 0);
}

static void connected(struct psw_redis *r)
{
    if (r->outage_since) {
        outage_log(r, log_info, "redis %s reachable again after %.1fs (%u tries)", r->url_safe,
                   (double)(psw_mono_ms() - r->outage_since) / 1000.0, r->outage_tries + 1);
        r->outage_since = 0;
    }
    r->backoff_ms = 0;
    r->next_try = 0;
}

int psw_redis_ensure(struct psw_redis *r)
{
    if (r->c)
        return 0;
    switch (r->opt.retry) {
    case PSW_REDIS_RETRY_POLLED:
        if (r->next_try && psw_mono_ms() < r->next_try)
            return -1;
        if (connect_once(r) == 0) {
            connected(r);
            return 0;
        }
        note_failed_try(r);
        r->next_try = psw_mono_ms() + next_delay(r);
        return -1;
    case PSW_REDIS_RETRY_BLOCKING:
        for (;;) {
            if (connect_once(r) == 0) {
                connected(r);
                return 0;
            }
            note_failed_try(r);
            if (r->opt.stop && *r->opt.stop)
                return -1;
            backoff_sleep(r, next_delay(r));
            if (r->opt.stop && *r->opt.stop)
                return -1;
        }
    default:
        return connect_once(r);
    }
}

/* ---- cluster (redis.h, docs/redis.md "Redis Cluster") ---------------- */

static redisReply *checked(struct psw_redis *r, redisReply *rep);

/* A connection to one node, authenticated, or NULL with r->err set. */
static redisContext *open_node(struct psw_redis *r, const char *host, int port)
{
    struct timeval ct = tv_ms(r->opt.connect_timeout_ms);
    redisContext *c = redisConnectWithTimeout(host, port, ct);
    if (!c) {
        snprintf(r->err, sizeof(r->err), "redis %s:%d: out of memory", host, port);
        return NULL;
    }
    if (c->err) {
        snprintf(r->err, sizeof(r->err), "redis %.200s:%d: %s", host, port, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (r->opt.command_timeout_ms > 0)
        redisSetTimeout(c, tv_ms(r->opt.command_timeout_ms));
    if (r->u.password[0]) {
        const char *auth_user[] = { "AUTH", r->u.user, r->u.password };
        const char *auth_pass[] = { "AUTH", r->u.password };
        if ((r->u.user[0] ? setup_cmd(r, c, "AUTH", 3, auth_user)
                          : setup_cmd(r, c, "AUTH", 2, auth_pass)) < 0) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static void set_cluster_address(struct psw_redis *r, const char *host, int port)
{
    snprintf(r->u.host, sizeof(r->u.host), "%s", host);
    r->u.port = port;
    snprintf(r->url_safe, sizeof(r->url_safe), "%.200s:%d (cluster slot %u)", host, port, r->slot);
}

/* Remembers every node a CLUSTER SLOTS reply names (primaries and replicas). */
static void learn_nodes(struct psw_redis *r, const redisReply *slots, const char *asked)
{
    r->nknown = 0;
    for (size_t i = 0; slots->type == REDIS_REPLY_ARRAY && i < slots->elements; i++) {
        const redisReply *e = slots->element[i];
        for (size_t k = 2; e->type == REDIS_REPLY_ARRAY && k < e->elements; k++) {
            const redisReply *n = e->element[k];
            if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
                n->element[0]->type != REDIS_REPLY_STRING ||
                n->element[1]->type != REDIS_REPLY_INTEGER)
                continue;
            const char *h = n->element[0]->str[0] ? n->element[0]->str : asked;
            int port = (int)n->element[1]->integer, dup = 0;
            for (int j = 0; j < r->nknown && !dup; j++)
                dup = r->known[j].port == port && strcmp(r->known[j].host, h) == 0;
            if (dup || strlen(h) >= sizeof(r->known[0].host) || r->nknown >= 16)
                continue;
            snprintf(r->known[r->nknown].host, sizeof(r->known[0].host), "%s", h);
            r->known[r->nknown++].port = port;
        }
    }
}

/* Asks the node last used, then the seed, then the other nodes it knows of,
 * who owns r->slot (CLUSTER SLOTS). */
static int find_slot_owner(struct psw_redis *r)
{
    char host[256];
    int port = 0;
    const char *ask_host[2 + 16] = { r->u.host, r->seed_host };
    int ask_port[2 + 16] = { r->u.port, r->seed_port };
    int nask = 2;
    for (int k = 0; k < r->nknown; k++) {
        ask_host[nask] = r->known[k].host;
        ask_port[nask++] = r->known[k].port;
    }
    for (int i = 0; i < nask; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = ask_port[j] == ask_port[i] && strcmp(ask_host[j], ask_host[i]) == 0;
        if (!ask_host[i][0] || seen)
            continue;
        char asked[256];
        snprintf(asked, sizeof(asked), "%s", ask_host[i]);
        int asked_port = ask_port[i];
        redisContext *c = open_node(r, asked, asked_port);
        if (!c)
            continue;
        redisReply *slots = redisCommand(c, "CLUSTER SLOTS");
        int ok = slots && psw_cluster_slot_owner(slots, r->slot, asked, host, sizeof(host),
                                                 &port) == 0;
        if (ok)
            learn_nodes(r, slots, asked);
        if (!slots)
            snprintf(r->err, sizeof(r->err), "redis %.200s:%d: CLUSTER SLOTS: connection lost",
                     asked, asked_port);
        else if (!ok)
            snprintf(r->err, sizeof(r->err), "redis %.200s:%d: CLUSTER SLOTS names no node for "
                     "slot %u%s%.200s", asked, asked_port, r->slot,
                     slots->type == REDIS_REPLY_ERROR ? ": " : "",
                     slots->type == REDIS_REPLY_ERROR ? slots->str : "");
        freeReplyObject(slots);
        redisFree(c);
        if (ok) {
            if (strcmp(host, r->u.host) != 0 || port != r->u.port)
                log_debug("redis: cluster slot %u is served by %s:%d", r->slot, host, port);
            set_cluster_address(r, host, port);
            r->refresh = 0;
            return 0;
        }
    }
    return -1;
}

/* Sends a formatted command on the connection (connecting first). */
static redisReply *send_formatted(struct psw_redis *r, const char *cmd, size_t len)
{
    void *rep = NULL;
    if (!r->c && connect_once(r) < 0) {
        r->refresh = 1;
        outage_begins(r);
        return NULL;
    }
    if (redisAppendFormattedCommand(r->c, cmd, len) != REDIS_OK ||
        redisGetReply(r->c, &rep) != REDIS_OK) {
        r->refresh = 1;
        connection_failed(r);
        return NULL;
    }
    return checked(r, rep);
}

/* One command on a one-off connection to host:port, after ASKING for an
 * ASK redirection. A script missing there is loaded and the call repeated. */
static redisReply *oneshot(struct psw_redis *r, const char *host, int port, int asking,
                           const char *cmd, size_t len, int script)
{
    redisContext *c = open_node(r, host, port);
    redisReply *rep = NULL;
    if (!c)
        return NULL;
    for (int tries = 0; tries < 2; tries++) {
        void *a = NULL;
        if (asking && (redisAppendCommand(c, "ASKING") != REDIS_OK ||
                       redisAppendFormattedCommand(c, cmd, len) != REDIS_OK ||
                       redisGetReply(c, &a) != REDIS_OK))
            goto io;
        freeReplyObject(a);
        if (!asking && redisAppendFormattedCommand(c, cmd, len) != REDIS_OK)
            goto io;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK)
            goto io;
        if (script >= 0 && tries == 0 && psw_redis_reply_is_error(rep, "NOSCRIPT")) {
            freeReplyObject(rep);
            rep = NULL;
            if (load_script(r, c, (enum psw_script_id)script) < 0)
                break;
            continue;
        }
        break;
    }
    redisFree(c);
    return rep;
io:
    snprintf(r->err, sizeof(r->err), "redis %.200s:%d: %s", host, port,
             c->errstr[0] ? c->errstr : "connection lost");
    redisFree(c);
    return NULL;
}

/* Follows MOVED, ASK and TRYAGAIN answers to a command until it gets a
 * real answer. None of them ran the command, so sending it again is safe.
 * MOVED for our slot moves the connection (and loads the scripts there);
 * ASK goes to the importing node for this one command.
 *
 * Except for a script: its declared key (the shard prefix) never exists, so
 * while the shard's slot is being migrated the source answers ASK, and the
 * script must run neither there nor on the target, since each holds only a
 * part of the shard's keys. It is sent again to the source, with a short
 * backoff, until the migration is over (MOVED) — at most
 * redis.command_timeout, after which the call fails like a lost
 * connection (docs/redis.md "Redis Cluster"). */
static redisReply *cluster_follow(struct psw_redis *r, redisReply *rep, const char *cmd,
                                  size_t len, int script)
{
    int64_t ask_since = 0;
    for (int hops = 0; rep && hops < 32; hops++) {
        int ask = 0, slot = 0, port = 0;
        char host[256];
        if (script >= 0 && psw_cluster_redirect(rep, &ask, &slot, host, sizeof(host), &port) &&
            ask) {
            freeReplyObject(rep);
            int64_t now = psw_mono_ms();
            if (!ask_since)
                ask_since = now;
            if (r->opt.command_timeout_ms > 0 && now - ask_since > r->opt.command_timeout_ms) {
                snprintf(r->err, sizeof(r->err), "redis %s: slot %u still being migrated after "
                         "%lld ms", r->url_safe, r->slot, (long long)r->opt.command_timeout_ms);
                outage_begins(r);
                return NULL;
            }
            struct timespec ts = { 0, 20000000L };
            nanosleep(&ts, NULL);
            hops = 0; /* bounded by the time above */
            rep = send_formatted(r, cmd, len);
            continue;
        }
        if (psw_cluster_redirect(rep, &ask, &slot, host, sizeof(host), &port)) {
            freeReplyObject(rep);
            if (ask || (unsigned)slot != r->slot) {
                rep = oneshot(r, host, port, ask, cmd, len, script);
                if (!rep) {
                    r->refresh = 1;
                    outage_begins(r);
                }
                continue;
            }
            log_debug("redis: cluster slot %u moved to %s:%d", r->slot, host, port);
            psw_redis_disconnect(r);
            set_cluster_address(r, host, port);
            rep = send_formatted(r, cmd, len);
            continue;
        }
        if (psw_redis_reply_is_error(rep, "TRYAGAIN")) {
            /* a multi-key command during a slot migration: soon over */
            freeReplyObject(rep);
            struct timespec ts = { 0, (long)(hops < 10 ? hops + 1 : 10) * 10000000L };
            nanosleep(&ts, NULL);
            rep = send_formatted(r, cmd, len);
            continue;
        }
        return rep;
    }
    return rep;
}

/* A whole command in cluster mode: formatted once, sent, redirections followed. */
static redisReply *cluster_command(struct psw_redis *r, char *cmd, int len, int script)
{
    if (len < 0) {
        snprintf(r->err, sizeof(r->err), "redis: cannot format the command");
        return NULL;
    }
    redisReply *rep = cluster_follow(r, send_formatted(r, cmd, (size_t)len), cmd, (size_t)len,
                                     script);
    redisFreeCommand(cmd);
    return rep;
}

int psw_redis_slot(const struct psw_redis *r)
{
    return r->cluster ? (int)r->slot : -1;
}

/* A reply that redo_cluster() must send again one by one (eval_many). */
static int needs_follow(const redisReply *rep)
{
    int ask, slot, port;
    char host[256];
    return psw_cluster_redirect(rep, &ask, &slot, host, sizeof(host), &port) ||
           psw_redis_reply_is_error(rep, "TRYAGAIN");
}

/* ---- commands ------------------------------------------------------- */

static redisReply *checked(struct psw_redis *r, redisReply *rep)
{
    if (!rep) {
        connection_failed(r);
    } else if (lost_primary(r, rep)) {
        freeReplyObject(rep);
        rep = NULL;
    }
    return rep;
}

/* lost_primary for a pipeline's replies: frees them all when one says the
 * server is not the primary. Returns 1 then. */
static int pipeline_lost_primary(struct psw_redis *r, redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lost_primary(r, replies[i])) {
            for (size_t k = 0; k < n; k++) {
                freeReplyObject(replies[k]);
                replies[k] = NULL;
            }
            return 1;
        }
    }
    return 0;
}

redisReply *psw_redis_command(struct psw_redis *r, const char *fmt, ...)
{
    va_list ap;
    if (psw_redis_ensure(r) < 0)
        return NULL;
    va_start(ap, fmt);
    if (r->cluster) {
        char *cmd = NULL;
        int len = redisvFormatCommand(&cmd, fmt, ap);
        va_end(ap);
        return cluster_command(r, cmd, len, -1);
    }
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    return checked(r, rep);
}

redisReply *psw_redis_commandv(struct psw_redis *r, int argc, const char **argv,
                               const size_t *lens)
{
    if (psw_redis_ensure(r) < 0)
        return NULL;
    if (r->cluster) {
        char *cmd = NULL;
        int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
        return cluster_command(r, cmd, len, -1);
    }
    return checked(r, redisCommandArgv(r->c, argc, argv, lens));
}

/* Builds "EVALSHA sha 0 argv..." into the caller's arrays (size argc + 4)
 * and returns its length; in cluster mode "EVALSHA sha 1 <shard key> argv…"
 * (the scripts read only ARGV, see redis.h). */
static int evalsha_args(struct psw_redis *r, enum psw_script_id script, int argc,
                        const char **argv, const size_t *lens, const char **av, size_t *al)
{
    int k = 3;
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = r->sha[script];
    al[1] = 40;
    av[2] = r->cluster ? "1" : "0";
    al[2] = 1;
    if (r->cluster) {
        av[3] = r->cluster_key;
        al[3] = strlen(r->cluster_key);
        k = 4;
    }
    for (int i = 0; i < argc; i++) {
        av[i + k] = argv[i];
        al[i + k] = lens ? lens[i] : strlen(argv[i]);
    }
    return argc + k;
}

/* Batched completions send 5 + 11 per attempt (complete.lua): 64 attempts fit. */
#define MAX_EVAL_ARGS 1024

static redisReply *eval_once(struct psw_redis *r, enum psw_script_id script, int argc,
                             const char **argv, const size_t *lens)
{
    const char *av[MAX_EVAL_ARGS + 4];
    size_t al[MAX_EVAL_ARGS + 4];
    if (argc > MAX_EVAL_ARGS) {
        snprintf(r->err, sizeof(r->err), "too many script arguments (%d)", argc);
        return NULL;
    }
    int n = evalsha_args(r, script, argc, argv, lens, av, al);
    if (r->cluster) {
        char *cmd = NULL;
        int len = redisFormatCommandArgv(&cmd, n, av, al);
        return cluster_command(r, cmd, len, (int)script);
    }
    return checked(r, redisCommandArgv(r->c, n, av, al));
}

static int reload_script(struct psw_redis *r, enum psw_script_id script)
{
    log_info("redis: script %s missing (NOSCRIPT), loading it again",
             psw_script_sources[script].name);
    if (load_script(r, r->c, script) < 0) {
        log_warn("%s", r->err);
        connection_failed(r);
        return -1;
    }
    return 0;
}

redisReply *psw_redis_eval(struct psw_redis *r, enum psw_script_id script, int argc,
                           const char **argv, const size_t *lens)
{
    if (psw_redis_ensure(r) < 0)
        return NULL;
    if (!r->sha[script][0] && reload_script(r, script) < 0)
        return NULL;
    redisReply *rep = eval_once(r, script, argc, argv, lens);
    if (psw_redis_reply_is_error(rep, "NOSCRIPT")) {
        freeReplyObject(rep);
        if (reload_script(r, script) < 0)
            return NULL;
        rep = eval_once(r, script, argc, argv, lens);
    }
    return rep;
}

int psw_redis_eval_many(struct psw_redis *r, enum psw_script_id script, size_t n,
                        const int *argcs, const char *const *const *argvs,
                        const size_t *const *lens, redisReply **replies)
{
    const char *av[MAX_EVAL_ARGS + 4];
    size_t al[MAX_EVAL_ARGS + 4];
    size_t i;

    for (i = 0; i < n; i++)
        replies[i] = NULL;
    /* Every call is checked before the first is queued: a refusal half-way
     * would leave the calls before it in hiredis's output buffer, sent ahead
     * of the connection's next command, whose caller would then read their
     * replies as its own. */
    for (i = 0; i < n; i++) {
        if (argcs[i] > MAX_EVAL_ARGS) {
            snprintf(r->err, sizeof(r->err), "too many script arguments (%d)", argcs[i]);
            return -1;
        }
    }
    if (psw_redis_ensure(r) < 0)
        return -1;
    if (!r->sha[script][0] && reload_script(r, script) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        int ac = evalsha_args(r, script, argcs[i], (const char **)argvs[i], lens ? lens[i] : NULL,
                              av, al);
        if (redisAppendCommandArgv(r->c, ac, av, al) != REDIS_OK) {
            connection_failed(r);
            return -1;
        }
    }
    for (i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r->c, &rep) != REDIS_OK) {
            for (size_t k = 0; k < i; k++) {
                freeReplyObject(replies[k]);
                replies[k] = NULL;
            }
            connection_failed(r);
            return -1;
        }
        replies[i] = rep;
    }
    if (pipeline_lost_primary(r, replies, n))
        return -1;
    /* A flushed script cache fails every call in the batch with NOSCRIPT and
     * runs none of them: redo exactly those. */
    for (i = 0; i < n; i++) {
        if (!psw_redis_reply_is_error(replies[i], "NOSCRIPT") &&
            !(r->cluster && needs_follow(replies[i])))
            continue;
        freeReplyObject(replies[i]);
        replies[i] = psw_redis_eval(r, script, argcs[i], (const char **)argvs[i],
                                    lens ? lens[i] : NULL);
        if (!replies[i])
            return -1;
    }
    return 0;
}

/* ---- non-blocking single command ------------------------------------ */

int psw_redis_send(struct psw_redis *r, int argc, const char **argv, const size_t *lens)
{
    int done = 0;
    if (psw_redis_ensure(r) < 0)
        return -1;
    if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
        connection_failed(r);
        return -1;
    }
    while (!done) {
        if (redisBufferWrite(r->c, &done) != REDIS_OK) {
            connection_failed(r);
            return -1;
        }
    }
    return 0;
}

int psw_redis_fd(const struct psw_redis *r)
{
    return r->c ? r->c->fd : -1;
}

int psw_redis_try_read(struct psw_redis *r, redisReply **reply)
{
    void *rep = NULL;
    *reply = NULL;
    if (!r->c)
        return -1;
    /* Anything already buffered first; only then one read(2), which the
     * caller's poll() said will not block. */
    if (redisGetReplyFromReader(r->c, &rep) != REDIS_OK) {
        connection_failed(r);
        return -1;
    }
    if (!rep) {
        if (redisBufferRead(r->c) != REDIS_OK) {
            connection_failed(r);
            return -1;
        }
        if (redisGetReplyFromReader(r->c, &rep) != REDIS_OK) {
            connection_failed(r);
            return -1;
        }
    }
    if (!rep)
        return 0;
    if (lost_primary(r, rep)) {
        freeReplyObject(rep);
        return -1;
    }
    if (r->cluster && needs_follow(rep)) {
        /* Nothing moved: the caller asks again, on the slot's new node after
         * MOVED (a parked command is not worth a one-off connection). */
        int ask = 0, slot = 0, port = 0;
        char host[256];
        if (psw_cluster_redirect(rep, &ask, &slot, host, sizeof(host), &port) && !ask &&
            (unsigned)slot == r->slot)
            set_cluster_address(r, host, port);
        freeReplyObject(rep);
        psw_redis_disconnect(r);
        return -1;
    }
    *reply = rep;
    return 1;
}
