/*
 * cluster.c — see cluster.h. Everything bounded; every process started here
 * is stopped by cluster_stop (and by the harness at exit if a test aborts).
 */
#include "tests/harness/cluster.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/endpoint.h"
#include "common/publish.h"
#include "common/reply.h"
#include "tests/harness/redis_cluster.h"

static const char *const test_defaults[] = {
    "log.level: info",
    "worker.processes: 2",
    "worker.concurrency: 16",
    "worker.heartbeat: 200ms",
    "worker.shutdown_grace: 3s",
    "scheduler.tick: 20ms",
    "scheduler.worker_timeout: 2s",
    "retry.schedule: 100ms, 200ms, 300ms",
    "retry.max_age: 30s",
    "http.connect_timeout: 1s",
    "http.timeout: 2s",
    "http.allow_private_networks: true",
    /* The fixed cap of 32 most e2e tests were written around (every slot of
     * both children busy at once, hanging endpoints holding 32); the adaptive
     * limit, the product default, is tested in tests/e2e/test_adaptive.c. */
    "endpoint.adaptive_in_flight: false",
    "endpoint.max_in_flight: 32",
    NULL,
};

static int overridden(const char *const *overrides, const char *line)
{
    size_t klen = strcspn(line, ":");
    for (size_t i = 0; overrides && overrides[i]; i++)
        if (strncmp(overrides[i], line, klen) == 0 && overrides[i][klen] == ':')
            return 1;
    return 0;
}

/* Writes line + "\n" into out with every "{rx}" replaced by the receiver's
 * base URL ("http://127.0.0.1:PORT"), so a config value can point at it
 * (e.g. "alerts.webhook_url: {rx}/alerts"), and every "{rxport}" by its port
 * alone (for a URL that names it otherwise: "http://localhost:{rxport}/").
 * Returns what snprintf would. */
static size_t expand_line(const struct cluster *c, const char *line, char *out, size_t n)
{
    char base[64], port[16];
    size_t len = 0;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", rx_port(c->rx));
    snprintf(port, sizeof(port), "%d", rx_port(c->rx));
    for (const char *p = line; *p;) {
        const char *hit = strstr(p, "{rx}"), *hp = strstr(p, "{rxport}");
        int is_port = hp && (!hit || hp < hit);
        if (is_port)
            hit = hp;
        size_t lit = hit ? (size_t)(hit - p) : strlen(p);
        len += (size_t)snprintf(out + (len < n ? len : n), len < n ? n - len : 0, "%.*s",
                                (int)lit, p);
        if (!hit)
            break;
        len += (size_t)snprintf(out + (len < n ? len : n), len < n ? n - len : 0, "%s",
                                is_port ? port : base);
        p = hit + (is_port ? 8 : 4);
    }
    len += (size_t)snprintf(out + (len < n ? len : n), len < n ? n - len : 0, "\n");
    return len;
}

static int write_config(struct cluster *c, const char *const *overrides)
{
    char buf[8192];
    size_t len = 0;
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "redis.url: %s\n", c->url);
    if (c->ha)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                "redis.sentinels: [%s]\nredis.sentinel_master: %s\n"
                                "redis.sentinel_password: %s\n",
                                c->ha->sentinels, HA_MASTER, HA_SENTINEL_PASSWORD);
    if (c->rcl)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "redis.cluster: true\n");
    for (size_t i = 0; test_defaults[i]; i++)
        if (!overridden(overrides, test_defaults[i]))
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s\n", test_defaults[i]);
    for (size_t i = 0; overrides && overrides[i]; i++)
        if (strncmp(overrides[i], "test.", 5) != 0 && len < sizeof(buf))
            len += expand_line(c, overrides[i], buf + len, sizeof(buf) - len);
    if (len >= sizeof(buf))
        return -1;
    snprintf(c->config_path, sizeof(c->config_path), "%s/psw.yaml", c->dir);
    return write_file(c->config_path, buf);
}

static pid_t start_prog(struct cluster *c, const char *prog, char *log, size_t logn, int idx)
{
    const char *argv[] = { "--config", c->config_path, NULL };
    snprintf(log, logn, "%s/%s-%d.log", c->dir, prog, idx);
    return proc_spawn(prog, argv, log);
}

pid_t cluster_add_scheduler(struct cluster *c)
{
    if (c->nsched >= CLUSTER_MAX_PROCS)
        return -1;
    int i = c->nsched;
    pid_t pid = start_prog(c, "psw-scheduler", c->sched_log[i], sizeof(c->sched_log[i]), i);
    if (pid > 0)
        c->sched[c->nsched++] = pid;
    return pid;
}

pid_t cluster_add_worker(struct cluster *c)
{
    if (c->nwork >= CLUSTER_MAX_PROCS)
        return -1;
    int i = c->nwork;
    pid_t pid = start_prog(c, "psw-worker", c->work_log[i], sizeof(c->work_log[i]), i);
    if (pid > 0)
        c->work[c->nwork++] = pid;
    return pid;
}

/* "test.acl" on a Redis Cluster: ACL SETUSER on every node (line is "psw on
 * >psw-acl-pw <rules>", split at spaces), and the programs use that user. */
static int rcl_acl_user(struct cluster *c, const char *line)
{
    char buf[2048], *save = NULL;
    const char *argv[256];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    argv[argc++] = "ACL";
    argv[argc++] = "SETUSER";
    for (char *t = strtok_r(buf, " ", &save); t && argc < 256; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    for (int i = 0; i < c->rcl->n; i++) {
        redisContext *rc = rcl_connect(c->rcl, i);
        redisReply *r = rc ? redisCommandArgv(rc, argc, argv, NULL) : NULL;
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (!ok)
            fprintf(stderr, "cluster: ACL SETUSER on node %d: %s\n", i,
                    r && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
        freeReplyObject(r);
        if (rc)
            redisFree(rc);
        if (!ok)
            return -1;
    }
    snprintf(c->url, sizeof(c->url), "redis://psw:psw-acl-pw@127.0.0.1:%d/0", c->rcl->node[0].port);
    return 0;
}

int cluster_start(struct cluster *c, const char *const *overrides, int nsched, int nwork)
{
    struct redis_srv_opts ro = { 0 };
    char err[1024];

    char acl_line[2048] = "";
    const char *extra[2] = { NULL, NULL };
    int ha = 0, rcl = 0, rcl_replicas = 0;

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; overrides && overrides[i]; i++) {
        if (strcmp(overrides[i], "test.aof: yes") == 0) {
            ro.aof = 1;
            ro.appendfsync = "always";
        } else if (strncmp(overrides[i], "test.acl: ", 10) == 0) {
            snprintf(acl_line, sizeof(acl_line), "user psw on >psw-acl-pw %s", overrides[i] + 10);
            extra[0] = acl_line;
            ro.extra = extra;
        } else if (strcmp(overrides[i], "test.sentinel: yes") == 0) {
            ha = 1;
        } else if (strncmp(overrides[i], "test.redis_cluster: ", 20) == 0) {
            rcl = atoi(overrides[i] + 20);
        } else if (strcmp(overrides[i], "test.redis_cluster_replicas: yes") == 0) {
            rcl_replicas = 1;
        }
    }
    if (!(c->dir = tmpdir_new())) {
        fprintf(stderr, "cluster: mkdtemp failed\n");
        return -1;
    }
    if (ha) {
        if (!(c->ha = calloc(1, sizeof(*c->ha))) || ha_start(c->ha, NULL) < 0) {
            fprintf(stderr, "cluster: the Sentinel set did not start\n");
            return -1;
        }
        /* The host is not used: the sentinels name the primary. */
        snprintf(c->url, sizeof(c->url), "redis://%s:%s@sentinel-named-primary/0", HA_PSW_USER,
                 HA_PSW_PASSWORD);
    } else if (rcl) {
        if (!(c->rcl = calloc(1, sizeof(*c->rcl))) ||
            (rcl_replicas ? rcl_start_replicated(c->rcl, rcl) : rcl_start(c->rcl, rcl)) < 0) {
            fprintf(stderr, "cluster: the Redis Cluster did not start\n");
            return -1;
        }
        snprintf(c->url, sizeof(c->url), "%s", c->rcl->node[0].url);
        if (acl_line[0] && rcl_acl_user(c, acl_line + 5) < 0)
            return -1;
    } else if (redis_srv_start(&c->redis, &ro) < 0) {
        fprintf(stderr, "cluster: redis-server did not start\n");
        return -1;
    }
    if (ha || rcl)
        ; /* c->url is set */
    else if (acl_line[0])
        snprintf(c->url, sizeof(c->url), "redis://psw:psw-acl-pw@127.0.0.1:%d/0", c->redis.port);
    else
        snprintf(c->url, sizeof(c->url), "%s", c->redis.url);
    if (!(c->rx = rx_start())) {
        fprintf(stderr, "cluster: receiver did not start\n");
        return -1;
    }
    if (write_config(c, overrides) < 0) {
        fprintf(stderr, "cluster: could not write the config\n");
        return -1;
    }
    if (psw_config_load(&c->cfg, c->config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "cluster: config: %s\n", err);
        return -1;
    }
    if (psw_ctx_open(&c->ctx, &c->cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)) != PSW_OK) {
        fprintf(stderr, "cluster: %s\n", err);
        return -1;
    }
    if (!(c->rc = c->ha    ? ha_connect(c->ha, 0)
                  : c->rcl ? rcl_connect(c->rcl, 0)
                           : redis_srv_connect(&c->redis))) {
        fprintf(stderr, "cluster: raw connection failed\n");
        return -1;
    }
    for (int i = 0; i < nsched; i++)
        if (cluster_add_scheduler(c) < 0)
            return -1;
    for (int i = 0; i < nwork; i++)
        if (cluster_add_worker(c) < 0)
            return -1;
    return 0;
}

void cluster_stop(struct cluster *c, int dump)
{
    if (dump) {
        for (int i = 0; i < c->nsched; i++) {
            fprintf(stderr, "--- %s\n", c->sched_log[i]);
            file_tail(c->sched_log[i], 30);
        }
        for (int i = 0; i < c->nwork; i++) {
            fprintf(stderr, "--- %s\n", c->work_log[i]);
            file_tail(c->work_log[i], 40);
        }
    }
    for (int i = 0; i < c->nwork; i++)
        if (c->work[i] > 0)
            kill(c->work[i], SIGTERM);
    for (int i = 0; i < c->nsched; i++)
        if (c->sched[i] > 0)
            kill(c->sched[i], SIGTERM);
    for (int i = 0; i < c->nwork; i++)
        if (c->work[i] > 0)
            proc_stop(c->work[i], SIGTERM, 8000);
    for (int i = 0; i < c->nsched; i++)
        if (c->sched[i] > 0)
            proc_stop(c->sched[i], SIGTERM, 5000);
    c->nwork = c->nsched = 0;
    if (c->rc) {
        redisFree(c->rc);
        c->rc = NULL;
    }
    psw_ctx_close(&c->ctx);
    psw_config_free(&c->cfg);
    if (c->rx) {
        rx_stop(c->rx);
        c->rx = NULL;
    }
    redis_srv_stop(&c->redis);
    if (c->rcl) {
        rcl_stop(c->rcl);
        free(c->rcl);
        c->rcl = NULL;
    }
    if (c->ha) {
        if (dump)
            ha_dump_logs(c->ha);
        ha_stop(c->ha);
        free(c->ha);
        c->ha = NULL;
    }
    if (c->dir) {
        tmpdir_remove(c->dir);
        free(c->dir);
        c->dir = NULL;
    }
}

int cluster_endpoint(struct cluster *c, const char *account, const char *path,
                     const char *domain, const char *events, const char *secret,
                     char id[PSW_ID_SIZE], char *secret_out, size_t secret_n)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    char url[512], err[1024];

    memset(&ep, 0, sizeof(ep));
    rx_url(c->rx, path, url, sizeof(url));
    spec.account_id = account;
    spec.url = url;
    spec.domain = domain;
    spec.events = events;
    spec.secret = secret;
    int rc = psw_endpoint_create(&c->ctx, &spec, &ep, err, sizeof(err));
    if (rc != PSW_OK) {
        fprintf(stderr, "cluster_endpoint: %s\n", err);
        return -1;
    }
    snprintf(id, PSW_ID_SIZE, "%s", ep.id);
    if (secret_out)
        snprintf(secret_out, secret_n, "%s", ep.secret);
    psw_endpoint_free(&ep);
    return 0;
}

int cluster_publish(struct cluster *c, const char *json, char *evt_out, size_t evt_n,
                    int *deliveries)
{
    struct psw_publish_result res;
    int rc = psw_publish(&c->ctx, json, strlen(json), &res);
    if (rc != PSW_OK)
        fprintf(stderr, "cluster_publish: %s\n", res.err);
    if (evt_out)
        snprintf(evt_out, evt_n, "%s", res.event_id);
    if (deliveries)
        *deliveries = res.deliveries;
    return rc;
}

pid_t cluster_holder_pid(struct cluster *c, const char *dlv_id)
{
    char key[PSW_KEY_SIZE];
    snprintf(key, sizeof(key), "delivery:%s", dlv_id);
    char *state = cluster_hget(c, key, "state");
    char *worker = cluster_hget(c, key, "worker");
    const char *colon = worker ? strchr(worker, ':') : NULL;
    pid_t pid = -1;
    if (state && strcmp(state, "in_flight") == 0 && colon)
        pid = (pid_t)strtol(colon + 1, NULL, 10);
    free(state);
    free(worker);
    return pid;
}

int cluster_follow_primary(struct cluster *c)
{
    int idx = c->ha ? ha_primary(c->ha) : -1;
    redisContext *rc = idx >= 0 ? ha_connect(c->ha, idx) : NULL;
    if (!rc)
        return -1;
    if (c->rc)
        redisFree(c->rc);
    c->rc = rc;
    return 0;
}

redisReply *cluster_cmd(struct cluster *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->rc, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "cluster_cmd: %s\n", c->rc->errstr);
        abort();
    }
    return r;
}

char *cluster_hget(struct cluster *c, const char *key_suffix, const char *field)
{
    redisReply *r = cluster_cmd(c, "HGET %s%s %s", c->cfg.redis_prefix, key_suffix, field);
    char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return s;
}

long long cluster_hget_ll(struct cluster *c, const char *key_suffix, const char *field,
                          long long def)
{
    char *s = cluster_hget(c, key_suffix, field);
    long long v = psw_parse_ll(s, def);
    free(s);
    return v;
}

static void nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int cluster_wait_field(struct cluster *c, const char *key_suffix, const char *field,
                       const char *want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    char *v = NULL;
    for (;;) {
        free(v);
        v = cluster_hget(c, key_suffix, field);
        if (v && strcmp(v, want) == 0) {
            free(v);
            return 0;
        }
        if (harness_mono_ms() >= until)
            break;
        nap(10);
    }
    fprintf(stderr, "cluster_wait_field: %s%s %s is \"%s\", wanted \"%s\" within %d ms\n",
            c->cfg.redis_prefix, key_suffix, field, v ? v : "(nil)", want, timeout_ms);
    free(v);
    return -1;
}

int cluster_wait_stat(struct cluster *c, const char *field, long long want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms, v = 0;
    for (;;) {
        v = cluster_hget_ll(c, "stats", field, 0);
        if (v >= want)
            return 0;
        if (harness_mono_ms() >= until)
            break;
        nap(10);
    }
    fprintf(stderr, "cluster_wait_stat: stats %s is %lld, wanted >= %lld within %d ms\n", field,
            v, want, timeout_ms);
    return -1;
}

size_t cluster_deliveries(struct cluster *c, const char *ep_id, char ***ids)
{
    redisReply *r = cluster_cmd(c, "ZRANGE %sendpoint:%s:deliveries 0 -1", c->cfg.redis_prefix, ep_id);
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    *ids = n ? calloc(n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < n; i++)
        (*ids)[i] = strdup(r->element[i]->str);
    freeReplyObject(r);
    return n;
}

void cluster_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}
