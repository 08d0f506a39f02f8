/*
 * test_cluster.c — delivery on a real Redis Cluster (redis.cluster, issue
 * 15, docs/redis.md "Redis Cluster"): three redis-server --cluster-enabled
 * primaries joined with redis-cli --cluster create (tests/harness/
 * redis_cluster.h), real psw-scheduler and psw-worker processes configured
 * with redis.cluster: true and redis.url naming one node, and a recording
 * receiver.
 *
 *   - routing: the connection's slot is the one Redis computes; commands and
 *     scripts follow a slot moved to another node, through ASK while the
 *     slot's keys are split between two nodes and MOVED afterwards;
 *   - events for 100 accounts (on shards spread over all three nodes) are
 *     all delivered, each exactly once;
 *   - retries fire on the (scaled-down) schedule; replay works;
 *   - a worker child SIGKILLed mid-delivery loses nothing;
 *   - moving shards' slots to another node while deliveries run (the steps
 *     redis-cli --cluster reshard takes, with MIGRATE batches of 10 keys)
 *     loses nothing.
 * Only processes this test started are signalled, by the pids it holds.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/cluster.h"
#include "common/delivery.h"
#include "common/endpoint.h"
#include "common/metrics.h"
#include "common/stats.h"
#include "common/publish.h"
#include "common/reply.h"
#include "common/sign.h"
#include "tests/harness/cluster.h"
#include "tests/harness/redis_cluster.h"
#include "tests/harness/redis_server.h"

#define WAIT_MS 30000
#define NACCOUNTS 100

static struct cluster C;
static int C_up;
static int T_done;

static void up(const char *const *extra, int nsched, int nwork)
{
    const char *lines[32];
    int n = 0;
    lines[n++] = "test.redis_cluster: 3";
    lines[n++] = "redis.shards: 16";
    for (int i = 0; extra && extra[i] && n < 30; i++)
        lines[n++] = extra[i];
    lines[n] = NULL;
    T_done = 0;
    C_up = 1;
    if (cluster_start(&C, lines, nsched, nwork) < 0)
        fail_msg("the cluster did not start");
}

static int down(void **state)
{
    (void)state;
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    return 0;
}

static struct psw_ctx *shard(unsigned i)
{
    char err[512];
    struct psw_ctx *sc = psw_ctx_shard(&C.ctx, i, err, sizeof(err));
    if (!sc)
        fail_msg("shard %u: %s", i, err);
    return sc;
}

/* The sum of a stats counter over all shards. */
static long long stat_sum(const char *field)
{
    long long sum = 0;
    for (unsigned i = 0; i < psw_ctx_nshards(&C.cfg); i++) {
        char key[PSW_KEY_SIZE];
        struct psw_ctx *sc = shard(i);
        psw_ctx_key(sc, key, sizeof(key), PSW_KEY_STATS, NULL);
        redisReply *r = psw_redis_command(sc->redis, "HGET %s %s", key, field);
        if (!r)
            fail_msg("HGET %s: %s", key, psw_redis_errstr(sc->redis));
        if (r->type == REDIS_REPLY_STRING)
            sum += atoll(r->str);
        freeReplyObject(r);
    }
    return sum;
}

static int wait_stat(const char *field, long long want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms, got = 0;
    while ((got = stat_sum(field)) < want && harness_mono_ms() < until)
        harness_nap(50);
    if (got < want)
        fprintf(stderr, "wait_stat: %s = %lld, wanted %lld\n", field, got, want);
    return got >= want ? 0 : -1;
}

static const char *event_json(const char *id, const char *account)
{
    return harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                       "\"domain\":\"x.example\",\"data\":{\"message_id\":\"<%s@x>\","
                       "\"to\":\"bob@example.org\"}}", id, account, id);
}

static void publish(const char *id, const char *account)
{
    struct psw_publish_result res;
    const char *json = event_json(id, account);
    if (psw_publish(&C.ctx, json, strlen(json), &res) != PSW_OK)
        fail_msg("publish %s: %s", id, res.err);
    assert_int_equal(res.deliveries, 1);
}

/* Every request on path carries a distinct event id (no duplicate). */
static size_t distinct_events(const char *path)
{
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, path, &reqs), distinct = 0;
    for (size_t i = 0; i < n; i++) {
        const char *a = rx_header(&reqs[i], "X-PostStack-Event-Id");
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++) {
            const char *b = rx_header(&reqs[k], "X-PostStack-Event-Id");
            seen = a && b && strcmp(a, b) == 0;
        }
        distinct += !seen;
    }
    rx_requests_free(reqs, n);
    return distinct;
}

/* Distinct events over the paths <prefix>0 … <prefix><n-1>; with only, just
 * the paths i where only[i] is set. */
static size_t distinct_over(const char *prefix, int n, const int *only)
{
    char path[32];
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (only && !only[i])
            continue;
        snprintf(path, sizeof(path), "%s%d", prefix, i);
        total += distinct_events(path);
    }
    return total;
}

/* ---- routing ------------------------------------------------------------ */

static int between_calls;

/* While the slot is split (some keys moved): every key still reads back. */
static void read_all(void *arg)
{
    struct psw_ctx *sc = arg;
    for (int i = 0; i < 40; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%st:%d", sc->cfg->redis_prefix, i);
        redisReply *r = psw_redis_command(sc->redis, "GET %s", key);
        assert_non_null(r);
        if (r->type != REDIS_REPLY_STRING || atoi(r->str) != i)
            fail_msg("GET %s during the move: %s", key, r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
    }
    between_calls++;
}

static void test_routing(void **state)
{
    (void)state;
    up(NULL, 0, 0);
    struct psw_ctx *sc = shard(3);
    /* our slot function agrees with the server's */
    redisReply *r = cluster_cmd(&C, "CLUSTER KEYSLOT %s", sc->cfg->redis_prefix);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, psw_redis_slot(sc->redis));
    freeReplyObject(r);
    r = cluster_cmd(&C, "CLUSTER KEYSLOT foo");
    assert_int_equal(r->integer, psw_cluster_slot("foo", 3));
    freeReplyObject(r);

    for (int i = 0; i < 40; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%st:%d", sc->cfg->redis_prefix, i);
        r = psw_redis_command(sc->redis, "SET %s %d", key, i);
        assert_non_null(r);
        assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
        freeReplyObject(r);
    }
    unsigned slot = (unsigned)psw_redis_slot(sc->redis);
    int from = rcl_slot_node(C.rcl, slot), to = (from + 1) % 3;
    assert_true(from >= 0);
    between_calls = 0;
    /* 10 keys a batch: the reads run while 30 keys are still on `from` (ASK
     * for the moved ones, served by `from` for the others) */
    assert_int_equal(rcl_move_slot(C.rcl, slot, to, 10, read_all, sc), 0);
    assert_int_equal(between_calls, 1);
    assert_int_equal(rcl_slot_node(C.rcl, slot), to);
    read_all(sc); /* MOVED: the connection follows the slot */
    /* a script runs on the new node too (loaded there at the reconnect) */
    struct psw_publish_result res;
    const char *json = event_json("evt_route_1", "acct_nobody");
    assert_int_equal(psw_publish(&C.ctx, json, strlen(json), &res), PSW_OK);
    T_done = 1;
}

/* ---- delivery ------------------------------------------------------------ */

static char eps_of[NACCOUNTS][PSW_ID_SIZE];

/* The only delivery of an endpoint's (found in its shard). */
static void only_delivery(const char *ep, char id[PSW_ID_SIZE])
{
    struct psw_delivery *list = NULL;
    size_t nl = 0;
    char err[512];
    struct psw_delivery_query q = { 0 };
    q.endpoint_id = ep;
    q.limit = 1;
    if (psw_delivery_list(&C.ctx, &q, &list, &nl, err, sizeof(err)) != PSW_OK || nl < 1)
        fail_msg("deliveries of %s: %s", ep, err);
    snprintf(id, PSW_ID_SIZE, "%s", list[0].id);
    psw_delivery_list_free(list, nl);
}

static void test_100_accounts(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], acct[32], path[32], id[64];
    int on_node[3] = { 0 };
    up(NULL, 1, 1);
    for (int i = 0; i < NACCOUNTS; i++) {
        snprintf(acct, sizeof(acct), "acct_%d", i);
        snprintf(path, sizeof(path), "/a%d", i);
        assert_int_equal(cluster_endpoint(&C, acct, path, NULL, NULL, NULL, ep, NULL, 0), 0);
        snprintf(eps_of[i], sizeof(eps_of[i]), "%s", ep);
        unsigned s = psw_ctx_account_shard(&C.cfg, acct);
        int node = rcl_slot_node(C.rcl, (unsigned)psw_redis_slot(shard(s)->redis));
        assert_true(node >= 0);
        on_node[node]++;
    }
    for (int n = 0; n < 3; n++) /* the accounts' shards are on every node */
        assert_true(on_node[n] > 0);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < NACCOUNTS; i++) {
            snprintf(acct, sizeof(acct), "acct_%d", i);
            snprintf(id, sizeof(id), "evt_%d_%d", i, k);
            publish(id, acct);
        }
    }
    assert_int_equal(rx_wait(C.rx, NULL, 3 * NACCOUNTS, WAIT_MS), 0);
    assert_int_equal(wait_stat("delivered", 3 * NACCOUNTS, WAIT_MS), 0);
    for (int i = 0; i < NACCOUNTS; i++) {
        snprintf(path, sizeof(path), "/a%d", i);
        assert_int_equal(rx_count(C.rx, path), 3);
        assert_int_equal(distinct_events(path), 3);
    }

    /* what the CLI and the API read: merged over the shards, found by id */
    char err[512];
    struct json_object *o = NULL, *v = NULL;
    assert_int_equal(psw_stats_get(&C.ctx, NULL, &o, err, sizeof(err)), PSW_OK);
    assert_true(json_object_object_get_ex(o, "delivered", &v));
    assert_int_equal(json_object_get_int64(v), 3 * NACCOUNTS);
    json_object_put(o);
    assert_int_equal(psw_queue_get(&C.ctx, &o, err, sizeof(err)), PSW_OK);
    assert_true(json_object_object_get_ex(o, "ready", &v));
    assert_int_equal(json_object_get_int64(v), 0);
    json_object_put(o);
    struct psw_endpoint *eps = NULL;
    size_t neps = 0;
    assert_int_equal(psw_endpoint_list(&C.ctx, NULL, &eps, &neps, err, sizeof(err)), PSW_OK);
    assert_int_equal(neps, NACCOUNTS);
    psw_endpoint_list_free(eps, neps);
    struct psw_endpoint one;
    assert_int_equal(psw_endpoint_get(&C.ctx, ep, &one, err, sizeof(err)), PSW_OK);
    assert_string_equal(one.account_id, acct);
    psw_endpoint_free(&one);
    /* one replay call with deliveries of two shards */
    char d1[PSW_ID_SIZE], d2[PSW_ID_SIZE];
    unsigned s1 = psw_ctx_account_shard(&C.cfg, "acct_0");
    int other = 1;
    while (other < NACCOUNTS && psw_ctx_account_shard(&C.cfg, harness_fmt("acct_%d", other)) == s1)
        other++;
    assert_true(other < NACCOUNTS);
    only_delivery(eps_of[0], d1);
    only_delivery(eps_of[other], d2);
    const char *ids[] = { d1, d2 };
    struct psw_replay_result rr[2];
    assert_int_equal(psw_replay_ids(&C.ctx, ids, 2, NULL, rr, err, sizeof(err)), 2);
    assert_int_equal(rx_wait(C.rx, "/a0", 4, WAIT_MS), 0);
    assert_int_equal(rx_wait(C.rx, harness_fmt("/a%d", other), 4, WAIT_MS), 0);
    /* psw shard names the prefix the account's keys carry */
    char *out = NULL;
    const char *argv[] = { "--config", C.config_path, "shard", "acct_42", "--json", NULL };
    assert_int_equal(proc_run("psw", argv, NULL, &out, NULL, 10000), 0);
    assert_non_null(out);
    char want[64];
    snprintf(want, sizeof(want), "\"prefix\":\"psw:{%u}:\"", psw_ctx_account_shard(&C.cfg, "acct_42"));
    if (!strstr(out, want))
        fail_msg("psw shard: %s (wanted %s)", out, want);
    free(out);
    /* /metrics (what psw-api serves) sums every shard's counters
     * (docs/metrics.md); the replays above delivered two more */
    assert_int_equal(wait_stat("delivered", 3 * NACCOUNTS + 2, WAIT_MS), 0);
    char *text = NULL;
    size_t tlen = 0;
    assert_int_equal(psw_metrics_render(&C.ctx, &text, &tlen, err, sizeof(err)), PSW_OK);
    snprintf(want, sizeof(want), "\npsw_deliveries_delivered_total %d\n", 3 * NACCOUNTS + 2);
    if (!strstr(text, want))
        fail_msg("/metrics does not show %s:\n%s", want + 1, text);
    snprintf(want, sizeof(want), "\npsw_endpoints{status=\"enabled\"} %d\n", NACCOUNTS);
    if (!strstr(text, want))
        fail_msg("/metrics does not show %s:\n%s", want + 1, text);
    free(text);
    T_done = 1;
}

/* The alerts of every shard (docs/redis.md "Redis Cluster"), waited for. */
static struct json_object *alerts_wait(size_t want, size_t limit)
{
    char err[512];
    struct json_object *a = NULL;
    long long until = harness_mono_ms() + WAIT_MS;
    for (;;) {
        if (psw_alerts_get(&C.ctx, 0, limit, &a, err, sizeof(err)) != PSW_OK)
            fail_msg("alerts: %s", err);
        if (json_object_array_length(a) >= want || harness_mono_ms() > until)
            return a;
        json_object_put(a);
        harness_nap(50);
    }
}

static const char *alert_endpoint(struct json_object *a, size_t i)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(json_object_array_get_idx(a, i), "endpoint_id", &v))
        return "";
    return json_object_get_string(v);
}

/* Endpoints answering 410 Gone are disabled with an alert in their own
 * shard's stream: psw alerts (and GET /v1/alerts) show both, oldest first,
 * and a limit keeps the oldest. */
static void test_alerts_all_shards(void **state)
{
    (void)state;
    char ep[2][PSW_ID_SIZE], acct[2][32];
    unsigned sh[2];
    struct rx_behavior b = { 0 };
    up(NULL, 1, 1);
    b.always_status = 410;
    int k = 0;
    for (int i = 0; i < 1000 && k < 2; i++) {
        snprintf(acct[k], sizeof(acct[k]), "acct_gone_%d", i);
        sh[k] = psw_ctx_account_shard(&C.cfg, acct[k]);
        if (sh[k] != 0 && (k == 0 || sh[k] != sh[0]))
            k++;
    }
    assert_int_equal(k, 2);
    for (k = 0; k < 2; k++) {
        const char *path = harness_fmt("/gone%d", k);
        rx_set(C.rx, path, &b);
        assert_int_equal(cluster_endpoint(&C, acct[k], path, NULL, NULL, NULL, ep[k], NULL, 0), 0);
        publish(harness_fmt("evt_gone_%d", k), acct[k]);
        struct json_object *a = alerts_wait((size_t)k + 1, 0);
        assert_int_equal(json_object_array_length(a), k + 1);
        json_object_put(a);
    }
    struct json_object *a = alerts_wait(2, 0);
    assert_string_equal(alert_endpoint(a, 0), ep[0]);
    assert_string_equal(alert_endpoint(a, 1), ep[1]);
    json_object_put(a);
    a = alerts_wait(1, 1);
    assert_int_equal(json_object_array_length(a), 1);
    assert_string_equal(alert_endpoint(a, 0), ep[0]);
    json_object_put(a);
    T_done = 1;
}

static void test_retries_and_replay(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], err[512];
    struct rx_behavior b = { 0 };
    static const char *const lines[] = { "retry.schedule: 200ms, 400ms, 800ms", NULL };
    up(lines, 1, 1);
    b.fail_first = 2;
    rx_set(C.rx, "/retry", &b);
    assert_int_equal(cluster_endpoint(&C, "acct_retry", "/retry", NULL, NULL, NULL, ep, NULL, 0), 0);
    publish("evt_retry_1", "acct_retry");
    assert_int_equal(rx_wait(C.rx, "/retry", 3, WAIT_MS), 0);
    assert_int_equal(wait_stat("delivered", 1, WAIT_MS), 0);
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/retry", &reqs);
    assert_int_equal(n, 3);
    /* on time: not before the schedule says, and not stuck behind other shards */
    int64_t gap1 = reqs[1].at_ms - reqs[0].at_ms, gap2 = reqs[2].at_ms - reqs[1].at_ms;
    printf("  cluster retries: gaps %lld ms and %lld ms (schedule 200, 400)\n", (long long)gap1,
           (long long)gap2);
    assert_true(gap1 >= 190 && gap1 < 5000);
    assert_true(gap2 >= 390 && gap2 < 5000);
    rx_requests_free(reqs, n);

    /* replay: found by id across the shards, delivered again */
    struct psw_delivery *list = NULL;
    size_t nl = 0;
    struct psw_delivery_query q = { 0 };
    q.endpoint_id = ep;
    assert_int_equal(psw_delivery_list(&C.ctx, &q, &list, &nl, err, sizeof(err)), PSW_OK);
    assert_int_equal(nl, 1);
    const char *ids[] = { list[0].id };
    struct psw_replay_result res;
    assert_int_equal(psw_replay_ids(&C.ctx, ids, 1, NULL, &res, err, sizeof(err)), 1);
    assert_string_equal(res.result, "queued");
    psw_delivery_list_free(list, nl);
    assert_int_equal(rx_wait(C.rx, "/retry", 4, WAIT_MS), 0);
    assert_int_equal(wait_stat("delivered", 2, WAIT_MS), 0);
    T_done = 1;
}

/* ---- psw migrate endpoints ----------------------------------------------- */

/* Endpoints of a single-Redis deployment copied into the cluster keep their
 * ids, secrets and Ed25519 keys: a delivery made by the cluster verifies with
 * the secret the receiver already had (docs/operations.md). */
static void test_migrate_endpoints(void **state)
{
    (void)state;
    enum { NEP = 3 };
    struct redis_srv old;
    struct redis_srv_opts ro = { 0, NULL, NULL, NULL };
    struct psw_config oc;
    struct psw_ctx octx;
    struct psw_endpoint made[NEP];
    char err[512], url[256], from[128];
    up(NULL, 1, 1);
    assert_int_equal(redis_srv_start(&old, &ro), 0);
    snprintf(from, sizeof(from), "redis://127.0.0.1:%d/0", old.port);

    /* the old deployment: the same configuration on one plain Redis */
    oc = C.cfg;
    oc.redis_url = from;
    oc.redis_cluster = false;
    assert_int_equal(psw_ctx_open(&octx, &oc, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)),
                     PSW_OK);
    rx_url(C.rx, "/mig", url, sizeof(url));
    for (int i = 0; i < NEP; i++) {
        struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
        spec.account_id = harness_fmt("acct_mig_%d", i);
        spec.url = url;
        spec.signing = i == 1 ? "ed25519" : NULL;
        if (psw_endpoint_create(&octx, &spec, &made[i], err, sizeof(err)) != PSW_OK)
            fail_msg("create on the old Redis: %s", err);
    }
    psw_ctx_close(&octx);

    for (int round = 0; round < 2; round++) { /* the second run copies nothing */
        const char *argv[] = { "--config", C.config_path, "--json", "migrate", "endpoints",
                               "--from", from, NULL };
        char *out = NULL, *errs = NULL;
        int rc = proc_run("psw", argv, NULL, &out, &errs, 20000);
        if (rc != 0)
            fail_msg("psw migrate endpoints: exit %d: %s", rc, errs ? errs : "");
        struct json_object *j = harness_keep_json(json_tokener_parse(out)), *v;
        assert_non_null(j);
        assert_true(json_object_object_get_ex(j, "copied", &v));
        assert_int_equal(json_object_get_int(v), round == 0 ? NEP : 0);
        assert_true(json_object_object_get_ex(j, "already_there", &v));
        assert_int_equal(json_object_get_int(v), round == 0 ? 0 : NEP);
        free(out);
        free(errs);
    }
    for (int i = 0; i < NEP; i++) {
        struct psw_endpoint got;
        if (psw_endpoint_get(&C.ctx, made[i].id, &got, err, sizeof(err)) != PSW_OK)
            fail_msg("%s not found in the cluster: %s", made[i].id, err);
        assert_string_equal(got.secret, made[i].secret);
        assert_string_equal(got.public_key, made[i].public_key);
        assert_string_equal(got.account_id, made[i].account_id);
        /* in its account's shard */
        char key[PSW_KEY_SIZE];
        struct psw_ctx *sc = shard(psw_ctx_account_shard(&C.cfg, made[i].account_id));
        psw_ctx_key(sc, key, sizeof(key), PSW_KEY_ENDPOINT, made[i].id);
        redisReply *r = psw_redis_command(sc->redis, "EXISTS %s", key);
        assert_non_null(r);
        assert_int_equal(r->integer, 1);
        freeReplyObject(r);
        psw_endpoint_free(&got);
    }
    /* the cluster delivers to the copied endpoint, signed with the old secret */
    publish("evt_mig_1", "acct_mig_0");
    assert_int_equal(rx_wait(C.rx, "/mig", 1, WAIT_MS), 0);
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/mig", &reqs);
    assert_int_equal(n, 1);
    assert_int_equal(psw_sign_verify(rx_header(&reqs[0], "X-PostStack-Signature"), reqs[0].body,
                                     reqs[0].body_len, made[0].secret, 300, (int64_t)time(NULL)),
                     PSW_VERIFY_OK);
    rx_requests_free(reqs, n);
    for (int i = 0; i < NEP; i++)
        psw_endpoint_free(&made[i]);
    assert_int_equal(redis_srv_stop(&old), 0);
    T_done = 1;
}

/* ---- the documented ACL on a cluster ------------------------------------ */

/* Denials in ACL LOG, summed over the nodes (the first one named). */
static long long acl_denials(void)
{
    long long n = 0;
    for (int i = 0; i < C.rcl->n; i++) {
        redisContext *rc = rcl_connect(C.rcl, i);
        redisReply *r = rc ? redisCommand(rc, "ACL LOG") : NULL;
        if (!r || r->type != REDIS_REPLY_ARRAY)
            fail_msg("ACL LOG on node %d failed", i);
        if (r->elements > 0 && n == 0) {
            const redisReply *e = r->element[0];
            for (size_t k = 0; k + 1 < e->elements; k += 2)
                if (e->element[k]->type == REDIS_REPLY_STRING &&
                    strcmp(e->element[k]->str, "object") == 0 &&
                    e->element[k + 1]->type == REDIS_REPLY_STRING)
                    fprintf(stderr, "ACL LOG on node %d: denied %s\n", i, e->element[k + 1]->str);
        }
        n += (long long)r->elements;
        freeReplyObject(r);
        redisFree(rc);
    }
    return n;
}

/* docs/operations.md's ACL line is enough on a cluster too: every node has
 * the user with exactly those rules, the programs and the CLI connect as it,
 * events of accounts on every node are delivered, and no node's ACL LOG
 * records a denial. */
static void test_documented_acl(void **state)
{
    (void)state;
    const char *marker = "ACL SETUSER psw-service on >PASSWORD ";
    char *rules = harness_doc_line("docs/operations.md", marker);
    if (!rules)
        fail_msg("docs/operations.md has no line starting \"%s\"", marker);
    const char *lines[] = { harness_fmt("test.acl: %s", rules), NULL };
    free(rules);
    up(lines, 1, 1);
    char ep[PSW_ID_SIZE], acct[32], path[32];
    int on_node[3] = { 0 }, n = 0;
    for (int i = 0; i < 12; i++) {
        snprintf(acct, sizeof(acct), "acct_acl_%d", i);
        snprintf(path, sizeof(path), "/acl%d", i);
        assert_int_equal(cluster_endpoint(&C, acct, path, NULL, NULL, NULL, ep, NULL, 0), 0);
        int node = rcl_slot_node(C.rcl, (unsigned)psw_redis_slot(shard(psw_ctx_account_shard(&C.cfg, acct))->redis));
        assert_true(node >= 0);
        on_node[node]++;
        publish(harness_fmt("evt_acl_%d", i), acct);
        n++;
    }
    for (int k = 0; k < 3; k++)
        assert_true(on_node[k] > 0);
    assert_int_equal(rx_wait(C.rx, NULL, (size_t)n, WAIT_MS), 0);
    assert_int_equal(wait_stat("delivered", n, WAIT_MS), 0);
    static const char *const cmds[][3] = { { "stats", NULL }, { "queue", NULL }, { "alerts", NULL } };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *out = NULL;
        const char *argv[] = { "--config", C.config_path, cmds[i][0], "--json", NULL };
        if (proc_run("psw", argv, NULL, &out, NULL, 10000) != 0)
            fail_msg("psw %s as the ACL user: %s", cmds[i][0], out ? out : "");
        free(out);
    }
    assert_int_equal(acl_denials(), 0);
    T_done = 1;
}


static void test_kill_child(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], acct[32], path[32], id[64];
    struct rx_behavior b = { 0 };
    static const char *const lines[] = { "worker.processes: 2", NULL };
    up(lines, 1, 1);
    b.delay_ms = 300;
    rx_set(C.rx, NULL, &b);
    for (int i = 0; i < 20; i++) {
        snprintf(acct, sizeof(acct), "acct_k%d", i);
        snprintf(path, sizeof(path), "/k%d", i);
        assert_int_equal(cluster_endpoint(&C, acct, path, NULL, NULL, NULL, ep, NULL, 0), 0);
        for (int k = 0; k < 3; k++) {
            snprintf(id, sizeof(id), "evt_k%d_%d", i, k);
            publish(id, acct);
        }
    }
    assert_int_equal(rx_wait(C.rx, NULL, 5, WAIT_MS), 0);
    pid_t kids[8];
    int nk = proc_children(C.work[0], kids, 8);
    assert_true(nk >= 1);
    kill(kids[0], SIGKILL); /* with requests in flight (each answer takes 300 ms) */
    assert_int_equal(wait_stat("delivered", 60, WAIT_MS), 0);
    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof(path), "/k%d", i);
        assert_int_equal(distinct_events(path), 3); /* none lost (a resend is allowed) */
    }
    T_done = 1;
}

/* ---- slot migration during delivery --------------------------------------- */

struct mover {
    int published;
};

static void publish_some(struct mover *m, int n)
{
    char acct[32], id[64];
    for (int i = 0; i < n; i++, m->published++) {
        snprintf(acct, sizeof(acct), "acct_m%d", m->published % 30);
        snprintf(id, sizeof(id), "evt_m_%d", m->published);
        publish(id, acct);
    }
}

/* While a slot is split between two nodes: the workers and the scheduler
 * keep calling on its shard (their scripts wait for the move to finish). */
static void split_pause(void *arg)
{
    (void)arg;
    harness_nap(300);
}

static void test_reshard(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], acct[32], path[32];
    struct mover m = { 0 };
    struct rx_behavior b = { 0 };
    up(NULL, 1, 1);
    b.delay_ms = 100; /* 32 requests at a time: 200 events take over half a second */
    rx_set(C.rx, NULL, &b);
    for (int i = 0; i < 30; i++) {
        snprintf(acct, sizeof(acct), "acct_m%d", i);
        snprintf(path, sizeof(path), "/m%d", i);
        assert_int_equal(cluster_endpoint(&C, acct, path, NULL, NULL, NULL, ep, NULL, 0), 0);
    }
    publish_some(&m, 200);
    /* move every shard slot of node 0 to node 1 while deliveries run, the
     * steps redis-cli --cluster reshard takes, in MIGRATE batches of 10 keys,
     * pausing while the first batch is moved and the rest not */
    int moved = 0;
    for (unsigned s = 0; s < psw_ctx_nshards(&C.cfg); s++) {
        unsigned slot = (unsigned)psw_redis_slot(shard(s)->redis);
        if (rcl_slot_node(C.rcl, slot) != 0)
            continue;
        assert_int_equal(rcl_move_slot(C.rcl, slot, 1, 10, split_pause, NULL), 0);
        moved++;
        publish_some(&m, 20);
    }
    assert_true(moved > 0);
    /* and redis-cli --cluster reshard: 200 slots from node 2 to node 0 */
    publish_some(&m, 200);
    assert_int_equal(rcl_reshard(C.rcl, 2, 0, 200), 0);
    publish_some(&m, 20);
    printf("  cluster reshard: %d shard slots moved, %d events\n", moved, m.published);
    assert_int_equal(wait_stat("delivered", m.published, WAIT_MS), 0);
    assert_int_equal(distinct_over("/m", 30, NULL), (size_t)m.published);
    T_done = 1;
}

/* ---- a primary dies: its replica takes over ------------------------------ */

/* The killed primary: it stays down until the events published before the
 * kill are delivered (so that its replica, promoted, must have served
 * them), then it is started again, as an operator would, and rejoins as
 * that replica's replica; until then redis.min_replicas_acked: 1 cannot be
 * met on its shards. */
struct failover {
    int victim;
    unsigned slot; /* one slot it served */
    long long killed;
};

/* Publishes as a user would: a publish the cluster refuses (its shard's
 * primary is down, or no replica confirms it yet) is sent again, the same
 * id, until it is confirmed. Returns how many attempts were refused. */
static int publish_until_confirmed(const char *id, const char *account, const struct failover *f)
{
    int refused = 0;
    for (;;) {
        struct psw_publish_result res;
        const char *json = event_json(id, account);
        if (psw_publish(&C.ctx, json, strlen(json), &res) == PSW_OK)
            return refused;
        refused++;
        if (harness_mono_ms() > f->killed + 2 * WAIT_MS)
            fail_msg("publish %s still refused after the failover: %s", id, res.err);
        harness_nap(100);
    }
}

/* docs/operations.md, "Redis Cluster", Failover: SIGKILL one primary while
 * its shards have deliveries waiting. Its replica takes over and the
 * programs follow it without a restart: the waiting deliveries go out while
 * the old primary is still down. With redis.min_replicas_acked: 1 no
 * confirmed publish is lost (a delivery may be sent twice). */
static void test_primary_failover(void **state)
{
    (void)state;
    enum { ACCOUNTS = 24, PER_ACCOUNT = 5, AFTER = 96 };
    const int before = ACCOUNTS * PER_ACCOUNT;
    char ep[PSW_ID_SIZE], acct[32], path[32], id[64];
    struct rx_behavior b = { 0 };
    static const char *const lines[] = { "test.redis_cluster_replicas: yes",
                                         "redis.min_replicas_acked: 1", NULL };
    up(lines, 1, 1);
    /* slow answers: the events published before the kill are still
     * waiting on every shard when it comes */
    b.delay_ms = 500;
    rx_set(C.rx, NULL, &b);

    /* the victim: the primary (not node 0, the one in redis.url) serving the
     * most shards */
    int served[RCL_MAX] = { 0 };
    unsigned slot_of[RCL_MAX] = { 0 };
    struct failover f = { .victim = 1 };
    for (unsigned s = 0; s < psw_ctx_nshards(&C.cfg); s++) {
        unsigned slot = (unsigned)psw_redis_slot(shard(s)->redis);
        int node = rcl_slot_node(C.rcl, slot);
        assert_true(node >= 0 && node < 3);
        served[node]++;
        slot_of[node] = slot;
    }
    if (served[2] > served[1])
        f.victim = 2;
    assert_true(served[f.victim] > 0);
    f.slot = slot_of[f.victim];

    int on_victim[ACCOUNTS], victim_accounts = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
        snprintf(acct, sizeof(acct), "acct_f%d", i);
        snprintf(path, sizeof(path), "/f%d", i);
        assert_int_equal(cluster_endpoint(&C, acct, path, NULL, NULL, NULL, ep, NULL, 0), 0);
        unsigned sh = psw_ctx_account_shard(&C.cfg, acct);
        on_victim[i] = rcl_slot_node(C.rcl, (unsigned)psw_redis_slot(shard(sh)->redis)) ==
                       f.victim;
        victim_accounts += on_victim[i];
    }
    assert_true(victim_accounts > 0);
    for (int k = 0; k < before; k++) {
        snprintf(acct, sizeof(acct), "acct_f%d", k % ACCOUNTS);
        snprintf(id, sizeof(id), "evt_f_%d", k);
        publish(id, acct);
    }
    const size_t victim_events = (size_t)victim_accounts * PER_ACCOUNT;
    f.killed = harness_mono_ms();
    assert_int_equal(redis_srv_kill(&C.rcl->node[f.victim]), 0);
    size_t at_kill = distinct_over("/f", ACCOUNTS, on_victim);

    /* its replica takes over, and serves what was waiting */
    long long until = f.killed + WAIT_MS;
    while (rcl_slot_node(C.rcl, f.slot) == f.victim && harness_mono_ms() < until)
        harness_nap(50);
    long long taken_over = harness_mono_ms() - f.killed;
    assert_int_not_equal(rcl_slot_node(C.rcl, f.slot), f.victim);
    size_t got = 0;
    while ((got = distinct_over("/f", ACCOUNTS, on_victim)) < victim_events &&
           harness_mono_ms() < until + WAIT_MS)
        harness_nap(100);
    long long drained = harness_mono_ms() - f.killed;
    if (got != victim_events || at_kill >= victim_events)
        fail_msg("the victim's shards: %zu of %zu events delivered at the kill, %zu after "
                 "the failover", at_kill, victim_events, got);

    /* the old primary comes back (as a replica), and publishing goes on,
     * answered quickly now */
    assert_int_equal(redis_srv_restart(&C.rcl->node[f.victim]), 0);
    b.delay_ms = 20;
    rx_set(C.rx, NULL, &b);
    int refused = 0;
    for (int k = before; k < before + AFTER; k++) {
        snprintf(acct, sizeof(acct), "acct_f%d", k % ACCOUNTS);
        snprintf(id, sizeof(id), "evt_f_%d", k);
        refused += publish_until_confirmed(id, acct, &f);
    }
    long long published = harness_mono_ms() - f.killed;
    /* (a full round over 16 shards per child, several times on a loaded
     * machine: the CI run took 15 s here) */
    until = harness_mono_ms() + 2 * WAIT_MS;
    while ((got = distinct_over("/f", ACCOUNTS, NULL)) < (size_t)(before + AFTER) &&
           harness_mono_ms() < until)
        harness_nap(100);
    long long took = harness_mono_ms() - f.killed;

    /* the victim's shards are served by its replica now */
    int moved = 0;
    for (unsigned s = 0; s < psw_ctx_nshards(&C.cfg); s++) {
        int node = rcl_slot_node(C.rcl, (unsigned)psw_redis_slot(shard(s)->redis));
        assert_int_not_equal(node, f.victim);
        moved += node >= 3; /* a replica's index */
    }
    printf("  cluster failover: node %d (%d of %u shards, %zu events waiting) killed; its "
           "replica served %lld ms later and had delivered them %lld ms after the kill; "
           "the node started again, %d publishes refused until it had synced, the last "
           "confirmed %lld ms after the kill; all %d events delivered %lld ms after the "
           "kill (%zu requests)\n",
           f.victim, served[f.victim], psw_ctx_nshards(&C.cfg), victim_events - at_kill,
           taken_over, drained, refused, published, before + AFTER, took,
           rx_count(C.rx, NULL));
    assert_int_equal(moved, served[f.victim]);
    assert_int_equal(got, before + AFTER); /* none lost (a resend is allowed) */
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_routing, down),
        cmocka_unit_test_teardown(test_100_accounts, down),
        cmocka_unit_test_teardown(test_retries_and_replay, down),
        cmocka_unit_test_teardown(test_alerts_all_shards, down),
        cmocka_unit_test_teardown(test_documented_acl, down),
        cmocka_unit_test_teardown(test_migrate_endpoints, down),
        cmocka_unit_test_teardown(test_kill_child, down),
        cmocka_unit_test_teardown(test_reshard, down),
        cmocka_unit_test_teardown(test_primary_failover, down),
    };
    const char *only = getenv("PSW_TEST_FILTER");
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
