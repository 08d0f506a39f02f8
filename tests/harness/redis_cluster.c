/*
 * redis_cluster.c — see redis_cluster.h.
 */
#include "tests/harness/redis_cluster.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/proc.h"

/* Runs redis-cli with args (NULL-terminated, argv[0] excluded), output to
 * dir/redis-cli.log; waits at most timeout_ms. Returns its exit status. */
static int redis_cli(struct rcl *c, const char *const *args, int timeout_ms)
{
    char exe[512], log[600];
    char *argv[64];
    int n = 0, status = 0;
    if (redis_srv_find_exe("redis-cli", exe, sizeof(exe)) != 0)
        return -1;
    argv[n++] = exe;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    snprintf(log, sizeof(log), "%s/redis-cli.log", c->dir);
    pid_t pid = harness_spawn(exe, argv, log, SIGKILL);
    if (pid < 0)
        return -1;
    if (proc_wait(pid, timeout_ms, &status) != 0) {
        proc_stop(pid, SIGKILL, 1000);
        fprintf(stderr, "rcl: redis-cli did not finish in %d ms\n", timeout_ms);
        file_tail(log, 20);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "rcl: redis-cli failed:\n");
        file_tail(log, 20);
        return -1;
    }
    return 0;
}

redisContext *rcl_connect(struct rcl *c, int i)
{
    return redis_srv_connect(&c->node[i]);
}

/* Whether every node's answer to cmd (a fixed command without format
 * directives; its reply a string) passes good. */
static int every_node(struct rcl *c, const char *cmd, int (*good)(const char *answer))
{
    for (int i = 0; i < c->n; i++) {
        redisContext *rc = rcl_connect(c, i);
        redisReply *r = rc ? redisCommand(rc, cmd) : NULL;
        int ok = r && r->type == REDIS_REPLY_STRING && good(r->str);
        freeReplyObject(r);
        if (rc)
            redisFree(rc);
        if (!ok)
            return 0;
    }
    return 1;
}

static int cluster_ok(const char *info)
{
    return strstr(info, "cluster_state:ok") && strstr(info, "cluster_slots_assigned:16384");
}

/* a primary, or a replica whose link to its primary is up */
static int in_sync(const char *info)
{
    return strstr(info, "role:master") || strstr(info, "master_link_status:up");
}

/* n nodes; with replicas, n / 2 primaries and a replica each. */
static int start_nodes(struct rcl *c, int n, int replicas)
{
    /* the bus port is given: by default it is the port + 10000, and the
     * free port picked may be above 55535. A replicated cluster notices a
     * dead primary after 1 s instead of 5 (its replica then takes over). */
    char bus[32];
    const char *extra[] = { "cluster-enabled yes", "cluster-config-file nodes.conf",
                            replicas ? "cluster-node-timeout 1000" : "cluster-node-timeout 5000",
                            bus, NULL };
    struct redis_srv_opts ro = { 0 };
    char addr[RCL_MAX][64];
    const char *args[RCL_MAX + 8];
    int k = 0;

    memset(c, 0, sizeof(*c));
    if (n < 1 || n > RCL_MAX || (replicas && (n % 2 || n < 6)))
        return -1;
    ro.extra = extra;
    char *d = tmpdir_new();
    if (!d)
        return -1;
    snprintf(c->dir, sizeof(c->dir), "%s", d);
    free(d);
    for (int i = 0; i < n; i++) {
        snprintf(bus, sizeof(bus), "cluster-port %d", redis_srv_free_port());
        if (redis_srv_start(&c->node[i], &ro) < 0)
            return -1;
        c->n = i + 1;
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", c->node[i].port);
    }
    if (n == 1) {
        /* --cluster create wants 3 nodes: one node takes every slot itself */
        redisContext *rc = rcl_connect(c, 0);
        redisReply *r = rc ? redisCommand(rc, "CLUSTER ADDSLOTSRANGE 0 16383") : NULL;
        int ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (rc)
            redisFree(rc);
        if (!ok)
            return -1;
    } else {
        args[k++] = "--cluster";
        args[k++] = "create";
        for (int i = 0; i < n; i++)
            args[k++] = addr[i];
        args[k++] = "--cluster-replicas";
        args[k++] = replicas ? "1" : "0";
        args[k++] = "--cluster-yes";
        args[k] = NULL;
        if (n >= 3) {
            if (redis_cli(c, args, 30000) != 0)
                return -1;
        } else {
            /* two nodes: halves of the slot range, then MEET */
            for (int i = 0; i < n; i++) {
                redisContext *rc = rcl_connect(c, i);
                redisReply *r = rc ? redisCommand(rc, "CLUSTER ADDSLOTSRANGE %d %d",
                                                  i == 0 ? 0 : 8192, i == 0 ? 8191 : 16383)
                                   : NULL;
                int ok = r && r->type == REDIS_REPLY_STATUS;
                freeReplyObject(r);
                if (ok && i > 0) {
                    r = redisCommand(rc, "CLUSTER MEET 127.0.0.1 %d", c->node[0].port);
                    ok = r && r->type == REDIS_REPLY_STATUS;
                    freeReplyObject(r);
                }
                if (rc)
                    redisFree(rc);
                if (!ok)
                    return -1;
            }
        }
    }
    for (int waited = 0; waited < 20000; waited += 50) {
        if (every_node(c, "CLUSTER INFO", cluster_ok) &&
            (!replicas || every_node(c, "INFO replication", in_sync)))
            return 0;
        harness_nap(50);
    }
    fprintf(stderr, "rcl: the cluster did not reach cluster_state:ok%s\n",
            replicas ? " with every replica in sync" : "");
    return -1;
}

int rcl_start(struct rcl *c, int n)
{
    return start_nodes(c, n, 0);
}

int rcl_start_replicated(struct rcl *c, int n)
{
    return start_nodes(c, 2 * n, 1);
}

void rcl_stop(struct rcl *c)
{
    for (int i = 0; i < c->n; i++)
        redis_srv_stop(&c->node[i]);
    c->n = 0;
    if (c->dir[0]) {
        tmpdir_remove(c->dir);
        c->dir[0] = '\0';
    }
}

int rcl_node_id(struct rcl *c, int i, char id[41])
{
    redisContext *rc = rcl_connect(c, i);
    redisReply *r = rc ? redisCommand(rc, "CLUSTER MYID") : NULL;
    int ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
        memcpy(id, r->str, 41);
    freeReplyObject(r);
    if (rc)
        redisFree(rc);
    return ok ? 0 : -1;
}

int rcl_slot_node(struct rcl *c, unsigned slot)
{
    redisContext *rc = rcl_connect(c, 0);
    redisReply *r = rc ? redisCommand(rc, "CLUSTER SLOTS") : NULL;
    int found = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->elements < 3 || (long long)slot < e->element[0]->integer ||
            (long long)slot > e->element[1]->integer)
            continue;
        long long port = e->element[2]->element[1]->integer;
        for (int k = 0; k < c->n; k++)
            if (c->node[k].port == port)
                found = k;
    }
    freeReplyObject(r);
    if (rc)
        redisFree(rc);
    return found;
}

int rcl_reshard(struct rcl *c, int from, int to, int count)
{
    char from_id[41], to_id[41], addr[64], cnt[16];
    if (rcl_node_id(c, from, from_id) < 0 || rcl_node_id(c, to, to_id) < 0)
        return -1;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", c->node[0].port);
    snprintf(cnt, sizeof(cnt), "%d", count);
    const char *args[] = { "--cluster", "reshard", addr, "--cluster-from", from_id,
                           "--cluster-to", to_id, "--cluster-slots", cnt, "--cluster-yes",
                           "--cluster-pipeline", "10", NULL };
    return redis_cli(c, args, 60000);
}

static int cmd_ok(redisContext *rc, redisReply *r)
{
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        fprintf(stderr, "rcl: %s\n", r ? r->str : rc->errstr);
    freeReplyObject(r);
    return ok;
}

int rcl_move_slot(struct rcl *c, unsigned slot, int to, int batch, void (*between)(void *),
                  void *arg)
{
    int from = rcl_slot_node(c, slot), ok = 1, batches = 0;
    char from_id[41], to_id[41];
    if (from < 0 || from == to || rcl_node_id(c, from, from_id) < 0 ||
        rcl_node_id(c, to, to_id) < 0)
        return -1;
    redisContext *src = rcl_connect(c, from), *dst = rcl_connect(c, to);
    if (!src || !dst)
        ok = 0;
    ok = ok && cmd_ok(dst, redisCommand(dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, from_id));
    ok = ok && cmd_ok(src, redisCommand(src, "CLUSTER SETSLOT %u MIGRATING %s", slot, to_id));
    while (ok) {
        redisReply *keys = redisCommand(src, "CLUSTER GETKEYSINSLOT %u %d", slot, batch);
        if (!keys || keys->type != REDIS_REPLY_ARRAY) {
            ok = cmd_ok(src, keys);
            break;
        }
        if (keys->elements == 0) {
            freeReplyObject(keys);
            break;
        }
        const char **argv = calloc(keys->elements + 8, sizeof(*argv));
        char port[16];
        int n = 0;
        snprintf(port, sizeof(port), "%d", c->node[to].port);
        argv[n++] = "MIGRATE";
        argv[n++] = "127.0.0.1";
        argv[n++] = port;
        argv[n++] = "";
        argv[n++] = "0";
        argv[n++] = "5000";
        argv[n++] = "KEYS";
        for (size_t i = 0; i < keys->elements; i++)
            argv[n++] = keys->element[i]->str;
        ok = cmd_ok(src, redisCommandArgv(src, n, argv, NULL));
        free(argv);
        freeReplyObject(keys);
        if (ok && batches++ == 0 && between)
            between(arg);
    }
    for (int i = 0; ok && i < c->n; i++) {
        redisContext *rc = rcl_connect(c, i);
        ok = rc && cmd_ok(rc, redisCommand(rc, "CLUSTER SETSLOT %u NODE %s", slot, to_id));
        if (rc)
            redisFree(rc);
    }
    if (src)
        redisFree(src);
    if (dst)
        redisFree(dst);
    return ok ? 0 : -1;
}
