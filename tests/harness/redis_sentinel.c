/*
 * redis_sentinel.c — a primary, a replica and three sentinels for one test
 * (see redis_sentinel.h).
 *
 * The data nodes are ordinary redis_srv instances (redis_server.c) with the
 * replication lines added. Each sentinel gets its own directory, because a
 * sentinel rewrites its config file as it learns the topology. Sentinels are
 * started only once the replica is in sync, so their first look at the
 * primary already lists the replica; ha_start then waits until every
 * sentinel also knows the other two (they find each other through hello
 * messages every 2 s), which is what a quorum needs to elect a leader.
 * Every wait is bounded.
 */
#include "tests/harness/redis_sentinel.h"

#include "tests/harness/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000

static redisContext *sentinel_connect(const struct ha_sentinel *s)
{
    struct timeval tv = { 0, 500000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "AUTH %s", HA_SENTINEL_PASSWORD);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* The number of entries of "SENTINEL <what> mymaster", -1 on failure. */
static long long sentinel_count(const struct ha_sentinel *s, const char *what)
{
    redisContext *c = sentinel_connect(s);
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "SENTINEL %s %s", what, HA_MASTER);
    long long n = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* The port the sentinel names as the primary, -1 when it does not answer. */
static int sentinel_primary_port(const struct ha_sentinel *s)
{
    redisContext *c = sentinel_connect(s);
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", HA_MASTER);
    int port = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        port = (int)strtol(r->element[1]->str, NULL, 10);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return port;
}

static int write_sentinel_conf(const struct ha_sentinel *s, int primary_port,
                               const struct ha_opts *o)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf,
                     "port %d\nbind 127.0.0.1\ndaemonize no\ndir \"%s\"\nlogfile \"%s\"\n"
                     "sentinel monitor %s 127.0.0.1 %d 2\n"
                     "sentinel auth-pass %s %s\n"
                     "requirepass %s\nsentinel sentinel-pass %s\n"
                     "sentinel down-after-milliseconds %s %d\n"
                     "sentinel failover-timeout %s %d\n",
                     s->port, s->dir, s->log, HA_MASTER, primary_port, HA_MASTER, HA_PASSWORD,
                     HA_SENTINEL_PASSWORD, HA_SENTINEL_PASSWORD, HA_MASTER,
                     o->down_after_ms ? o->down_after_ms : 1000, HA_MASTER,
                     o->failover_timeout_ms ? o->failover_timeout_ms : 3000);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    return write_file(s->conf, buf);
}

static int start_sentinel(struct ha_sentinel *s, int primary_port, const struct ha_opts *o)
{
    char exe[1024];
    memset(s, 0, sizeof *s);
    if (redis_srv_find_exe("redis-sentinel", exe, sizeof exe) != 0)
        return -1;
    char *dir = tmpdir_new();
    if (!dir)
        return -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->conf, sizeof s->conf, "%s/sentinel.conf", dir);
    snprintf(s->log, sizeof s->log, "%s/sentinel.log", dir);
    free(dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = redis_srv_free_port();
        if (s->port <= 0 || write_sentinel_conf(s, primary_port, o) != 0)
            return -1;
        char *argv[] = { exe, s->conf, NULL };
        char out[REDIS_SRV_PATH + 16];
        snprintf(out, sizeof out, "%s/sentinel.out", s->dir);
        s->pid = harness_spawn(exe, argv, out, SIGKILL);
        if (s->pid < 0) {
            s->pid = 0;
            return -1;
        }
        long long until = harness_mono_ms() + 5000;
        while (harness_mono_ms() < until) {
            if (proc_wait(s->pid, 0, NULL) == 0) {
                s->pid = 0;
                break; /* exited: the port was taken, most likely */
            }
            if (sentinel_count(s, "sentinels") >= 0)
                return 0;
            harness_nap(20);
        }
        if (s->pid > 0) {
            proc_stop(s->pid, SIGKILL, STOP_TIMEOUT_MS);
            s->pid = 0;
        }
    }
    fprintf(stderr, "ha: redis-sentinel did not start\n");
    file_tail(s->log, 20);
    return -1;
}

/* The replica reports master_link_status:up. */
static int replica_in_sync(struct ha *h)
{
    redisContext *c = redis_srv_connect(&h->node[1]);
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "INFO replication");
    int up = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up");
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return up;
}

/* Every sentinel knows the replica and the two other sentinels. */
static int sentinels_ready(struct ha *h)
{
    for (int i = 0; i < HA_SENTINELS; i++)
        if (sentinel_count(&h->sentinel[i], "replicas") < 1 ||
            sentinel_count(&h->sentinel[i], "sentinels") < HA_SENTINELS - 1)
            return 0;
    return 1;
}

int ha_start(struct ha *h, const struct ha_opts *o)
{
    static const struct ha_opts defaults = { 0, 0 };
    char replicaof[64], user[4096];
    /* The service's user exactly as docs/operations.md writes it (its line
     * includes what Sentinel and redis.min_replicas_acked need). */
    char *rules = harness_doc_line("docs/operations.md", "ACL SETUSER psw-service on >PASSWORD ");
    if (!rules) {
        fprintf(stderr, "ha: docs/operations.md lacks the service's ACL line\n");
        return -1;
    }
    snprintf(user, sizeof user, "user %s on >%s %s", HA_PSW_USER, HA_PSW_PASSWORD, rules);
    free(rules);
    const char *extra_primary[] = {
        user,
        "masterauth " HA_PASSWORD,
        "repl-diskless-sync-delay 0",
        NULL,
    };
    const char *extra_replica[] = {
        extra_primary[0], extra_primary[1], extra_primary[2], replicaof, NULL,
    };
    struct redis_srv_opts ro = { 0, NULL, HA_PASSWORD, extra_primary };

    memset(h, 0, sizeof *h);
    if (!o)
        o = &defaults;
    if (redis_srv_start(&h->node[0], &ro) != 0)
        return -1;
    snprintf(replicaof, sizeof replicaof, "replicaof 127.0.0.1 %d", h->node[0].port);
    ro.extra = extra_replica;
    if (redis_srv_start(&h->node[1], &ro) != 0)
        return -1;
    long long until = harness_mono_ms() + READY_TIMEOUT_MS;
    while (!replica_in_sync(h)) {
        if (harness_mono_ms() >= until) {
            fprintf(stderr, "ha: the replica did not sync within %d ms\n", READY_TIMEOUT_MS);
            ha_dump_logs(h);
            return -1;
        }
        harness_nap(20);
    }
    size_t len = 0;
    for (int i = 0; i < HA_SENTINELS; i++) {
        if (start_sentinel(&h->sentinel[i], h->node[0].port, o) != 0)
            return -1;
        len += (size_t)snprintf(h->sentinels + len, sizeof h->sentinels - len, "%s127.0.0.1:%d",
                                i ? ", " : "", h->sentinel[i].port);
    }
    while (!sentinels_ready(h)) {
        if (harness_mono_ms() >= until) {
            fprintf(stderr, "ha: the sentinels did not find each other and the replica "
                            "within %d ms\n", READY_TIMEOUT_MS);
            ha_dump_logs(h);
            return -1;
        }
        harness_nap(50);
    }
    return 0;
}

void ha_stop(struct ha *h)
{
    for (int i = 0; i < HA_SENTINELS; i++) {
        struct ha_sentinel *s = &h->sentinel[i];
        if (s->pid > 0)
            proc_stop(s->pid, SIGTERM, STOP_TIMEOUT_MS);
        s->pid = 0;
        if (s->dir[0]) {
            tmpdir_remove(s->dir);
            s->dir[0] = '\0';
        }
    }
    redis_srv_stop(&h->node[0]);
    redis_srv_stop(&h->node[1]);
}

int ha_primary(struct ha *h)
{
    int votes[2] = { 0, 0 };
    for (int i = 0; i < HA_SENTINELS; i++) {
        if (h->sentinel[i].pid <= 0)
            continue;
        int port = sentinel_primary_port(&h->sentinel[i]);
        for (int k = 0; k < 2; k++)
            if (port > 0 && port == h->node[k].port)
                votes[k]++;
    }
    for (int k = 0; k < 2; k++)
        if (votes[k] > HA_SENTINELS / 2)
            return k;
    return -1;
}

static int says_master(struct ha *h, int idx)
{
    if (h->node[idx].pid <= 0)
        return 0;
    redisContext *c = redis_srv_connect(&h->node[idx]);
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "ROLE");
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

int ha_wait_primary(struct ha *h, int idx, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    for (;;) {
        if (ha_primary(h) == idx && says_master(h, idx))
            return 0;
        if (harness_mono_ms() >= until)
            return -1;
        harness_nap(50);
    }
}

redisContext *ha_connect(struct ha *h, int idx)
{
    return redis_srv_connect(&h->node[idx]);
}

void ha_dump_logs(const struct ha *h)
{
    for (int i = 0; i < HA_SENTINELS; i++)
        if (h->sentinel[i].dir[0])
            file_tail(h->sentinel[i].log, 25);
    for (int k = 0; k < 2; k++)
        if (h->node[k].dir[0])
            file_tail(h->node[k].log, 15);
}
