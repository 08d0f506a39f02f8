/*
 * test_replay.c — the delivery log, replay and stats library
 * (common/delivery.c, common/stats.c and their scripts) against a whole
 * deployment (tests/harness/cluster.h: redis, real psw-scheduler and
 * psw-worker processes, a recording receiver), docs/events.md, docs/redis.md, docs/cli.md:
 *   - listing: newest first, state filters (one, several, with spaces),
 *     since/until, limit, a limit with a filter that must look past many
 *     non-matching entries (more than one script call), the JSON form, and
 *     bad input;
 *   - show: every attempt record, the exact body sent, the JSON form;
 *   - replay by id of a delivered, a failed, a scheduled, an in-flight, a
 *     held-back (pending), an unknown delivery and one of a deleted
 *     endpoint: the result codes, what the receiver gets (the attempt
 *     header counts on, the attempt record says "replay"), and the queues;
 *   - range replay over a date range with a state filter: exactly the
 *     matching deliveries are sent again; a disabled endpoint is refused
 *     unless enable is asked for; 1,100 deliveries at once;
 *   - stats, queue and alerts: exact JSON after a known scenario.
 *
 * Each test starts its own cluster with time scaled down by config lines
 * (ms retry schedules). What happened is judged from Redis over the
 * harness's raw connection and from the requests the receiver recorded;
 * every wait is bounded.
 */
#include <errno.h>
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

#include "common/delivery.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "common/reply.h"
#include "common/stats.h"
#include "common/timeutil.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 10000

static struct cluster C;
static int C_ok; /* the test got to its end: no log dump at teardown */
static char err[1024];

static int teardown(void **state)
{
    (void)state;
    cluster_stop(&C, !C_ok);
    C_ok = 0;
    return 0;
}

static void start(const char *const *overrides, int nsched, int nwork)
{
    if (cluster_start(&C, overrides, nsched, nwork) < 0)
        fail_msg("cluster_start failed");
}

/* ---- Redis and receiver helpers ----------------------------------------- */

static long long redis_now(void)
{
    redisReply *r = cluster_cmd(&C, "TIME");
    long long ms = psw_reply_int(r, 0, 0) * 1000 + psw_reply_int(r, 1, 0) / 1000;
    freeReplyObject(r);
    return ms;
}

static long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(C.rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("expected an integer reply, got type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* 1 if the sorted set psw:<zkey> holds member. */
static int in_zset(const char *zkey, const char *member)
{
    redisReply *r = cluster_cmd(&C, "ZSCORE psw:%s %s", zkey, member);
    int yes = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return yes;
}

/* The position of member in list psw:<lkey>, or -1. */
static long long list_pos(const char *lkey, const char *member)
{
    redisReply *r = cluster_cmd(&C, "LPOS psw:%s %s", lkey, member);
    long long p = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return p;
}

static char *dfield(const char *dlv, const char *field)
{
    char k[128];
    snprintf(k, sizeof(k), "delivery:%s", dlv);
    return cluster_hget(&C, k, field);
}

static long long dfield_ll(const char *dlv, const char *field)
{
    char k[128];
    snprintf(k, sizeof(k), "delivery:%s", dlv);
    return cluster_hget_ll(&C, k, field, -1);
}

static void assert_dfield(const char *dlv, const char *field, const char *want)
{
    char *v = dfield(dlv, field);
    if (!v || strcmp(v, want) != 0) {
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", v ? v : "(nil)");
        free(v);
        fail_msg("delivery %s %s is \"%s\", expected \"%s\"", dlv, field, copy, want);
    }
    free(v);
}

static void wait_state(const char *dlv, const char *state)
{
    char k[128];
    snprintf(k, sizeof(k), "delivery:%s", dlv);
    if (cluster_wait_field(&C, k, "state", state, WAIT_MS) < 0)
        fail_msg("delivery %s never reached state %s", dlv, state);
}

static void wait_field(const char *dlv, const char *field, const char *want)
{
    char k[128];
    snprintf(k, sizeof(k), "delivery:%s", dlv);
    if (cluster_wait_field(&C, k, field, want, WAIT_MS) < 0)
        fail_msg("delivery %s: %s never became %s", dlv, field, want);
}

static void wait_rx(const char *path, size_t n)
{
    if (rx_wait(C.rx, path, n, WAIT_MS) < 0)
        fail_msg("receiver: %zu requests on %s, expected %zu", rx_count(C.rx, path), path, n);
}

/* An endpoint of its own account (so each event makes exactly one delivery
 * for it) on the receiver's path. */
static void endpoint(const char *account, const char *path, char id[PSW_ID_SIZE])
{
    if (cluster_endpoint(&C, account, path, NULL, NULL, NULL, id, NULL, 0) < 0)
        fail_msg("could not create the endpoint for %s", account);
}

static void event_json(char *out, size_t n, const char *account, const char *evt)
{
    snprintf(out, n,
             "{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
             "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<%s@mail.example.com>\","
             "\"to\":\"alice@example.org\",\"subject\":\"s\"}}",
             evt, account, evt);
}

/* Publishes event evt for account and returns (in dlv) the delivery made
 * for endpoint ep. */
static void publish(const char *account, const char *evt, const char *ep, char dlv[PSW_ID_SIZE])
{
    char json[512];
    int n = -1;
    event_json(json, sizeof(json), account, evt);
    if (cluster_publish(&C, json, NULL, 0, &n) != PSW_OK)
        fail_msg("publish %s failed", evt);
    assert_int_equal(n, 1);
    char **ids;
    size_t k = cluster_deliveries(&C, ep, &ids);
    dlv[0] = '\0';
    for (size_t i = 0; i < k && !dlv[0]; i++) {
        char *e = dfield(ids[i], "event_id");
        if (e && strcmp(e, evt) == 0)
            snprintf(dlv, PSW_ID_SIZE, "%s", ids[i]);
        free(e);
    }
    cluster_ids_free(ids, k);
    if (!dlv[0])
        fail_msg("no delivery of %s for %s", evt, ep);
}

static void disable(const char *ep)
{
    if (psw_endpoint_disable(&C.ctx, ep, "test", "test", NULL, err, sizeof(err)) != PSW_OK)
        fail_msg("disable %s: %s", ep, err);
}

static const char *ep_status(const char *ep)
{
    static char buf[32];
    char k[128];
    snprintf(k, sizeof(k), "endpoint:%s", ep);
    char *v = cluster_hget(&C, k, "status");
    snprintf(buf, sizeof(buf), "%s", v ? v : "(nil)");
    free(v);
    return buf;
}

/* Which requests on path carried delivery id dlv, and the last one's
 * X-PostStack-Attempt (NULL if none). */
static size_t rx_for(const char *path, const char *dlv, char *last_attempt, size_t n)
{
    struct rx_request *reqs;
    size_t k = rx_requests(C.rx, path, &reqs), hits = 0;
    if (last_attempt)
        last_attempt[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        const char *h = rx_header(&reqs[i], "X-PostStack-Delivery-Id");
        if (h && strcmp(h, dlv) == 0) {
            hits++;
            if (last_attempt) {
                const char *a = rx_header(&reqs[i], "X-PostStack-Attempt");
                snprintf(last_attempt, n, "%s", a ? a : "");
            }
        }
    }
    rx_requests_free(reqs, k);
    return hits;
}

/* ---- library helpers ---------------------------------------------------- */

/* Lists ep with states/since/until/limit and checks the ids, in order. */
static void expect_list(const char *ep, const char *states, long long since, long long until,
                        size_t limit, const char *const *want, size_t nwant)
{
    struct psw_delivery_query q = { ep, states, since, until, limit, NULL, NULL };
    struct psw_delivery *d = NULL;
    size_t n = 0;
    int rc = psw_delivery_list(&C.ctx, &q, &d, &n, err, sizeof(err));
    if (rc != PSW_OK)
        fail_msg("list (states %s): %d %s", states ? states : "all", rc, err);
    if (n != nwant) {
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  got %s %s\n", d[i].id, d[i].state);
        psw_delivery_list_free(d, n);
        fail_msg("list (states %s, since %lld, until %lld, limit %zu): %zu deliveries, "
                 "expected %zu", states ? states : "all", since, until, limit, n, nwant);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d[i].id, want[i]) != 0) {
            char got[PSW_ID_SIZE];
            snprintf(got, sizeof(got), "%s", d[i].id);
            psw_delivery_list_free(d, n);
            fail_msg("list (states %s): entry %zu is %s, expected %s", states ? states : "all",
                     i, got, want[i]);
        }
        assert_string_equal(d[i].endpoint_id, ep);
    }
    psw_delivery_list_free(d, n);
}

static void expect_list_error(const struct psw_delivery_query *q, int want_rc, const char *needle)
{
    struct psw_delivery *d = (struct psw_delivery *)1;
    size_t n = 99;
    err[0] = '\0';
    int rc = psw_delivery_list(&C.ctx, q, &d, &n, err, sizeof(err));
    assert_int_equal(rc, want_rc);
    assert_null(d);
    assert_int_equal(n, 0);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("JSON has no key \"%s\": %s", key, json_object_to_json_string(o));
    return v;
}

static void assert_jnull(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    if (v)
        fail_msg("\"%s\" is %s, expected null", key, json_object_to_json_string(v));
}

static long long jint(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    if (!json_object_is_type(v, json_type_int))
        fail_msg("\"%s\" is %s, expected an integer", key, json_object_to_json_string(v));
    return (long long)json_object_get_int64(v);
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("\"%s\" is %s, expected a string", key, v ? json_object_to_json_string(v) : "null");
    return json_object_get_string(v);
}

/* The ISO form of a delivery hash's time field. */
static const char *iso_of(const char *dlv, const char *field)
{
    static char out[4][PSW_ISO_SIZE];
    static int slot;
    char *o = out[slot++ % 4];
    long long ms = dfield_ll(dlv, field);
    if (ms <= 0)
        fail_msg("delivery %s has no %s", dlv, field);
    psw_time_format(ms, o);
    return o;
}

static int replay_one(const char *dlv, int enable, char *result, size_t n)
{
    struct psw_replay_options opt = { enable, 0 };
    struct psw_replay_result res;
    const char *ids[] = { dlv };
    int rc = psw_replay_ids(&C.ctx, ids, 1, &opt, &res, err, sizeof(err));
    if (rc < 0)
        fail_msg("replay %s: %d %s", dlv, rc, err);
    assert_string_equal(res.id, dlv);
    snprintf(result, n, "%s", res.result);
    return rc;
}

/* ---- listing ------------------------------------------------------------ */

/* Six deliveries of one endpoint: e1-e3 delivered, e4 failed, e5-e6 skipped,
 * each created a few ms after the previous one. */
static void test_list(void **state)
{
    (void)state;
    static const char *const lines[] = { "retry.schedule: 30ms, 30ms, 30ms", NULL };
    char ep[PSW_ID_SIZE], d[7][PSW_ID_SIZE], evt[32];
    struct rx_behavior fail500 = { .always_status = 500 };

    start(lines, 1, 1);
    endpoint("acct_list", "/list", ep);
    for (int i = 1; i <= 6; i++) {
        if (i == 4)
            rx_set(C.rx, "/list", &fail500);
        if (i == 5) {
            rx_set(C.rx, "/list", NULL);
            disable(ep);
        }
        snprintf(evt, sizeof(evt), "evt_list_%d", i);
        publish("acct_list", evt, ep, d[i]);
        wait_state(d[i], i <= 3 ? "delivered" : i == 4 ? "failed" : "skipped");
        harness_nap(3); /* distinct created_at */
    }
    long long ct[7];
    for (int i = 1; i <= 6; i++)
        ct[i] = dfield_ll(d[i], "created_at");
    for (int i = 2; i <= 6; i++)
        assert_true(ct[i] > ct[i - 1]);

    const char *all[] = { d[6], d[5], d[4], d[3], d[2], d[1] };
    expect_list(ep, NULL, 0, 0, 0, all, 6);
    expect_list(ep, "", 0, 0, 100, all, 6);
    expect_list(ep, NULL, 0, 0, 2, all, 2);
    const char *delivered[] = { d[3], d[2], d[1] };
    expect_list(ep, "delivered", 0, 0, 0, delivered, 3);
    /* the two newest delivered ones lie behind three newer others */
    expect_list(ep, "delivered", 0, 0, 2, delivered, 2);
    const char *failed[] = { d[4] };
    expect_list(ep, "failed", 0, 0, 0, failed, 1);
    const char *fs[] = { d[6], d[5], d[4] };
    expect_list(ep, "failed,skipped", 0, 0, 0, fs, 3);
    expect_list(ep, " skipped , failed,skipped", 0, 0, 0, fs, 3);
    const char *df[] = { d[4], d[3], d[2], d[1] };
    expect_list(ep, "delivered,failed", 0, 0, 0, df, 4);
    expect_list(ep, "pending,in_flight,scheduled", 0, 0, 0, NULL, 0);

    /* since/until are inclusive created_at bounds */
    const char *mid[] = { d[4], d[3], d[2] };
    expect_list(ep, NULL, ct[2], ct[4], 0, mid, 3);
    expect_list(ep, "delivered", ct[2], ct[4], 0, mid + 1, 2);
    expect_list(ep, NULL, ct[2], ct[4], 1, mid, 1);
    expect_list(ep, NULL, ct[5], 0, 0, all, 2);
    expect_list(ep, NULL, 0, ct[1], 0, all + 5, 1);
    expect_list(ep, NULL, ct[1] + 1, ct[2] - 1, 0, NULL, 0);

    /* what each state looks like in JSON */
    struct psw_delivery_query q = { ep, NULL, 0, 0, 0, NULL, NULL };
    struct psw_delivery *ds = NULL;
    size_t n = 0;
    assert_int_equal(psw_delivery_list(&C.ctx, &q, &ds, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 6);
    struct json_object *j = psw_delivery_to_json(&ds[5]); /* d1, delivered */
    assert_non_null(j);
    assert_int_equal(json_object_object_length(j), 18);
    assert_string_equal(jstr(j, "id"), d[1]);
    struct json_object *bid = NULL; /* not sent in a batch (docs/cli.md) */
    assert_true(json_object_object_get_ex(j, "batch_id", &bid));
    assert_null(bid);
    assert_string_equal(jstr(j, "event_id"), "evt_list_1");
    assert_string_equal(jstr(j, "endpoint_id"), ep);
    assert_string_equal(jstr(j, "account_id"), "acct_list");
    assert_string_equal(jstr(j, "event_type"), "email.sent");
    assert_string_equal(jstr(j, "state"), "delivered");
    assert_string_equal(jstr(j, "trigger"), "first");
    assert_int_equal(jint(j, "attempts"), 1);
    assert_string_equal(jstr(j, "created_at"), iso_of(d[1], "created_at"));
    assert_string_equal(jstr(j, "first_attempt_at"), iso_of(d[1], "first_attempt_at"));
    assert_string_equal(jstr(j, "last_attempt_at"), iso_of(d[1], "last_attempt_at"));
    assert_string_equal(jstr(j, "delivered_at"), iso_of(d[1], "delivered_at"));
    assert_jnull(j, "next_attempt_at");
    assert_int_equal(jint(j, "last_status"), 200);
    assert_int_equal(jint(j, "last_latency_ms"), dfield_ll(d[1], "last_latency_ms"));
    assert_jnull(j, "last_error");
    assert_jnull(j, "failed_reason");
    json_object_put(j);

    j = psw_delivery_to_json(&ds[2]); /* d4, failed */
    assert_string_equal(jstr(j, "state"), "failed");
    assert_string_equal(jstr(j, "failed_reason"), "exhausted");
    assert_int_equal(jint(j, "attempts"), 4);
    assert_int_equal(jint(j, "last_status"), 500);
    assert_jnull(j, "delivered_at");
    assert_jnull(j, "next_attempt_at");
    json_object_put(j);

    j = psw_delivery_to_json(&ds[0]); /* d6, skipped */
    assert_string_equal(jstr(j, "state"), "skipped");
    assert_int_equal(jint(j, "attempts"), 0);
    assert_jnull(j, "first_attempt_at");
    assert_jnull(j, "last_attempt_at");
    assert_jnull(j, "last_status");
    assert_jnull(j, "last_latency_ms");
    assert_jnull(j, "failed_reason");
    assert_string_equal(jstr(j, "last_error"), "endpoint disabled: not sent");
    json_object_put(j);
    psw_delivery_list_free(ds, n);

    /* bad input */
    struct psw_delivery_query bad = { ep, "failed,done", 0, 0, 0, NULL, NULL };
    expect_list_error(&bad, PSW_EINVAL, "\"done\" is not one of");
    bad.states = " , ";
    expect_list_error(&bad, PSW_EINVAL, "state");
    bad.states = NULL;
    bad.since = ct[4];
    bad.until = ct[2];
    expect_list_error(&bad, PSW_EINVAL, "later than until");
    bad.since = bad.until = 0;
    bad.limit = 10001;
    expect_list_error(&bad, PSW_EINVAL, "limit");
    bad.limit = 0;
    bad.endpoint_id = "ep_nope";
    expect_list_error(&bad, PSW_EINVAL, "ep_nope");
    bad.endpoint_id = "ep_00000000000000000000000000";
    expect_list_error(&bad, PSW_ENOTFOUND, "ep_00000000000000000000000000");

    /* a deleted endpoint keeps its history readable */
    assert_int_equal(psw_endpoint_delete(&C.ctx, ep, err, sizeof(err)), PSW_OK);
    expect_list(ep, NULL, 0, 0, 0, all, 6);
    C_ok = 1;
}

/* Publishes n events of account (ids tag_0000…) in one pipelined call;
 * the account's one endpoint is disabled, so each is recorded skipped. */
static void publish_skipped(const char *account, const char *tag, size_t n)
{
    char **jsons = calloc(n, sizeof(*jsons)), evt[48];
    size_t *lens = calloc(n, sizeof(*lens));
    struct psw_publish_result *res = calloc(n, sizeof(*res));
    assert_true(jsons && lens && res);
    for (size_t i = 0; i < n; i++) {
        jsons[i] = malloc(512);
        assert_non_null(jsons[i]);
        snprintf(evt, sizeof(evt), "%s_%04zu", tag, i);
        event_json(jsons[i], 512, account, evt);
        lens[i] = strlen(jsons[i]);
    }
    int failed = psw_publish_many(&C.ctx, n, (const char *const *)jsons, lens, res);
    for (size_t i = 0; i < n; i++)
        free(jsons[i]);
    assert_int_equal(failed, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(res[i].skipped, 1);
    free(jsons);
    free(lens);
    free(res);
}

/* 3 pending deliveries behind 1,100 newer skipped ones (no workers): the
 * list walks the index in several script calls, keeps the order, and a
 * range replay takes all 1,100 skipped ones in one go, oldest first in
 * line; a replay of 120 ids (several chunks) keeps the order given. */
static void test_list_many_and_replay_many(void **state)
{
    (void)state;
    enum { NSKIP = 1100, NIDS = 120 };
    char ep[PSW_ID_SIZE], ep2[PSW_ID_SIZE], d[3][PSW_ID_SIZE], evt[40];

    start(NULL, 0, 0);
    endpoint("acct_many", "/many", ep);
    for (int i = 0; i < 3; i++) {
        snprintf(evt, sizeof(evt), "evt_many_p%d", i);
        publish("acct_many", evt, ep, d[i]);
        assert_dfield(d[i], "state", "pending");
        harness_nap(2);
    }
    disable(ep);
    publish_skipped("acct_many", "evt_many_s", NSKIP);

    /* the index newest first, as Redis orders it */
    redisReply *z = cluster_cmd(&C, "ZREVRANGEBYSCORE psw:endpoint:%s:deliveries +inf -inf", ep);
    assert_int_equal(z->elements, NSKIP + 3);
    const char **order = calloc(z->elements, sizeof(*order));
    assert_non_null(order);
    for (size_t i = 0; i < z->elements; i++)
        order[i] = z->element[i]->str;

    const char *pending[] = { d[2], d[1], d[0] };
    expect_list(ep, "pending", 0, 0, 10, pending, 3);
    expect_list(ep, "pending", 0, 0, 2, pending, 2);
    expect_list(ep, NULL, 0, 0, 10000, order, NSKIP + 3);
    expect_list(ep, "skipped", 0, 0, 1050, order, 1050);
    expect_list(ep, "skipped,pending", 0, 0, 1102, order, 1102);

    /* a range replay over everything: the endpoint is disabled, so it
     * needs enable; the pending ones match but stay as they are */
    size_t matched = 99;
    struct psw_replay_options opt = { 0 };
    int rc = psw_replay_range(&C.ctx, ep, 0, 0, NULL, &opt, &matched, err, sizeof(err));
    assert_int_equal(rc, PSW_ECONFLICT);
    assert_int_equal(matched, 0);
    assert_int_equal(cmd_int("LLEN psw:queue:ready"), 3);
    opt.enable = 1;
    rc = psw_replay_range(&C.ctx, ep, 0, 0, "pending,skipped", &opt, &matched, err,
                          sizeof(err));
    if (rc < 0)
        fail_msg("range replay: %d %s", rc, err);
    assert_int_equal(rc, NSKIP);
    assert_int_equal(matched, NSKIP + 3);
    assert_string_equal(ep_status(ep), "enabled");
    assert_int_equal(cmd_int("LLEN psw:queue:ready"), NSKIP + 3);
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), NSKIP);
    /* each exactly once, in front of the 3 pending ones, the oldest at the
     * very front (workers pop the right end) */
    redisReply *l = cluster_cmd(&C, "LRANGE psw:queue:ready 0 -1");
    assert_int_equal(l->elements, NSKIP + 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(l->element[i]->str, d[2 - i]);
    for (size_t i = 0; i < NSKIP; i++) {
        assert_string_equal(l->element[3 + i]->str, order[i]);
        assert_dfield(order[i], "state", "pending");
        assert_dfield(order[i], "trigger", "replay");
    }
    freeReplyObject(l);
    /* the pending ones were not touched by any of this */
    for (int i = 0; i < 3; i++) /* (trigger absent: first, docs/redis.md) */
        assert_null(dfield(d[i], "trigger"));
    free(order);
    freeReplyObject(z);

    /* by id, 120 at once in a scrambled order: the first given is the next
     * to be taken, and so on */
    endpoint("acct_many2", "/many2", ep2);
    disable(ep2);
    publish_skipped("acct_many2", "evt_many2", NIDS);
    char **all;
    size_t n2 = cluster_deliveries(&C, ep2, &all);
    assert_int_equal(n2, NIDS);
    const char *given[NIDS];
    struct psw_replay_result res[NIDS];
    for (size_t i = 0; i < NIDS; i++)
        given[i] = all[(i * 7) % NIDS];
    struct psw_replay_options en = { 1, 0 };
    int rc2 = psw_replay_ids(&C.ctx, given, NIDS, &en, res, err, sizeof(err));
    if (rc2 < 0)
        fail_msg("replay ids: %d %s", rc2, err);
    assert_int_equal(rc2, NIDS);
    for (size_t i = 0; i < NIDS; i++) {
        assert_string_equal(res[i].id, given[i]);
        assert_string_equal(res[i].result, "queued");
    }
    l = cluster_cmd(&C, "LRANGE psw:queue:ready %d -1", -NIDS);
    assert_int_equal(l->elements, NIDS);
    for (size_t i = 0; i < NIDS; i++)
        assert_string_equal(l->element[NIDS - 1 - i]->str, given[i]);
    freeReplyObject(l);
    assert_int_equal(cmd_int("LLEN psw:queue:ready"), NSKIP + 3 + NIDS);
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), NSKIP + NIDS);
    cluster_ids_free(all, n2);
    C_ok = 1;
}

/* ---- show, and replay of delivered and failed --------------------------- */

static void test_show_and_replay(void **state)
{
    (void)state;
    static const char *const lines[] = { "retry.schedule: 30ms, 30ms, 30ms", NULL };
    char eps[PSW_ID_SIZE], epf[PSW_ID_SIZE], ds[PSW_ID_SIZE], df[PSW_ID_SIZE], result[24];
    char attempt[16];
    struct rx_behavior two_fail = { .fail_first = 2, .fail_status = 500 };
    struct rx_behavior fail500 = { .always_status = 500 };

    start(lines, 1, 1);
    endpoint("acct_show", "/show", eps);
    endpoint("acct_fail", "/fail", epf);
    rx_set(C.rx, "/show", &two_fail);
    rx_set(C.rx, "/fail", &fail500);
    publish("acct_show", "evt_show_1", eps, ds);
    publish("acct_fail", "evt_fail_1", epf, df);
    wait_state(ds, "delivered");
    wait_state(df, "failed");

    /* show: the delivery, the exact body sent, every attempt */
    struct psw_delivery_detail dd;
    assert_int_equal(psw_delivery_get(&C.ctx, ds, &dd, err, sizeof(err)), PSW_OK);
    assert_string_equal(dd.d.id, ds);
    assert_string_equal(dd.d.state, "delivered");
    assert_string_equal(dd.d.event_id, "evt_show_1");
    assert_int_equal(dd.d.attempts, 3);
    assert_int_equal(dd.d.last_status, 200);
    assert_int_equal(dd.n_attempts, 3);
    struct rx_request *reqs;
    size_t nreq = rx_requests(C.rx, "/show", &reqs);
    assert_int_equal(nreq, 3);
    assert_non_null(dd.event_body);
    assert_int_equal(strlen(dd.event_body), reqs[0].body_len);
    assert_memory_equal(dd.event_body, reqs[0].body, reqs[0].body_len);
    rx_requests_free(reqs, nreq);
    static const char *const triggers[] = { "first", "retry", "retry" };
    static const int statuses[] = { 500, 500, 200 };
    for (size_t i = 0; i < 3; i++) {
        struct json_object *rec = dd.attempts[i];
        assert_int_equal(jint(rec, "n"), (long long)i + 1);
        assert_string_equal(jstr(rec, "trigger"), triggers[i]);
        assert_int_equal(jint(rec, "status"), statuses[i]);
        struct json_object *hdrs = jget(jget(rec, "request"), "headers");
        char n_s[8];
        snprintf(n_s, sizeof(n_s), "%zu", i + 1);
        assert_string_equal(jstr(hdrs, "X-PostStack-Attempt"), n_s);
        assert_string_equal(jstr(hdrs, "X-PostStack-Delivery-Id"), ds);
    }
    struct json_object *j = psw_delivery_detail_to_json(&dd);
    assert_non_null(j);
    assert_int_equal(json_object_object_length(j), 3);
    assert_string_equal(jstr(jget(j, "delivery"), "id"), ds);
    assert_int_equal(jint(jget(j, "delivery"), "attempts"), 3);
    assert_string_equal(jstr(jget(j, "event"), "id"), "evt_show_1");
    assert_string_equal(jstr(jget(jget(j, "event"), "data"), "to"), "alice@example.org");
    struct json_object *arr = jget(j, "attempts");
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 3);
    assert_int_equal(jint(json_object_array_get_idx(arr, 2), "status"), 200);
    json_object_put(j);
    psw_delivery_detail_free(&dd);
    psw_delivery_detail_free(&dd); /* twice is harmless */

    assert_int_equal(psw_delivery_get(&C.ctx, "dlv_00000000000000000000000000", &dd, err,
                                      sizeof(err)), PSW_ENOTFOUND);
    assert_int_equal(psw_delivery_get(&C.ctx, "evt_show_1", &dd, err, sizeof(err)), PSW_EINVAL);
    assert_non_null(strstr(err, "evt_show_1"));

    /* replay of a delivered delivery: sent again as attempt 4 */
    assert_int_equal(replay_one(ds, 0, result, sizeof(result)), 1);
    assert_string_equal(result, "queued");
    wait_rx("/show", 4);
    wait_field(ds, "completed_attempt", "4");
    wait_state(ds, "delivered");
    assert_int_equal(rx_for("/show", ds, attempt, sizeof(attempt)), 4);
    assert_string_equal(attempt, "4");
    nreq = rx_requests(C.rx, "/show", &reqs);
    assert_string_equal(rx_header(&reqs[3], "X-PostStack-Event-Id"), "evt_show_1");
    assert_int_equal(reqs[3].body_len, reqs[0].body_len);
    assert_memory_equal(reqs[3].body, reqs[0].body, reqs[0].body_len);
    rx_requests_free(reqs, nreq);
    assert_int_equal(psw_delivery_get(&C.ctx, ds, &dd, err, sizeof(err)), PSW_OK);
    assert_int_equal(dd.n_attempts, 4);
    assert_int_equal(jint(dd.attempts[3], "n"), 4);
    assert_string_equal(jstr(dd.attempts[3], "trigger"), "replay");
    assert_int_equal(jint(dd.attempts[3], "status"), 200);
    assert_int_equal(dd.d.attempts, 4);
    psw_delivery_detail_free(&dd);
    assert_int_equal(dfield_ll(ds, "cycle_attempts"), 1);
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), 1);

    /* replay of a failed delivery, now that the receiver answers 200 */
    assert_true(in_zset("queue:failed", df));
    assert_dfield(df, "failed_reason", "exhausted");
    assert_int_equal(dfield_ll(df, "attempts"), 4);
    rx_set(C.rx, "/fail", NULL);
    assert_int_equal(replay_one(df, 0, result, sizeof(result)), 1);
    assert_string_equal(result, "queued");
    assert_false(in_zset("queue:failed", df));
    wait_state(df, "delivered");
    assert_dfield(df, "failed_reason", "");
    assert_int_equal(dfield_ll(df, "attempts"), 5);
    assert_int_equal(rx_for("/fail", df, attempt, sizeof(attempt)), 5);
    assert_string_equal(attempt, "5");
    assert_int_equal(psw_delivery_get(&C.ctx, df, &dd, err, sizeof(err)), PSW_OK);
    assert_int_equal(dd.n_attempts, 5);
    assert_string_equal(jstr(dd.attempts[3], "trigger"), "retry");
    assert_string_equal(jstr(dd.attempts[4], "trigger"), "replay");
    assert_int_equal(jint(dd.attempts[4], "status"), 200);
    psw_delivery_detail_free(&dd);
    assert_false(in_zset("queue:failed", df));
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), 2);
    C_ok = 1;
}

/* ---- replay by id in every other state ---------------------------------- */

static void test_replay_states(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "retry.schedule: 20s", "http.timeout: 30s", "endpoint.max_in_flight: 1",
        "worker.shutdown_grace: 300ms", NULL,
    };
    char eph[PSW_ID_SIZE], epf[PSW_ID_SIZE], epg[PSW_ID_SIZE];
    char dh1[PSW_ID_SIZE], dh2[PSW_ID_SIZE], dfl[PSW_ID_SIZE], dg[PSW_ID_SIZE];
    char attempt[16];
    struct rx_behavior hang = { .hang = 1 };
    struct rx_behavior fail_once = { .fail_first = 1, .fail_status = 503 };

    start(lines, 1, 1);
    endpoint("acct_hang", "/hang", eph);
    endpoint("acct_flaky", "/flaky", epf);
    endpoint("acct_gone", "/gone", epg);
    rx_set(C.rx, "/hang", &hang);
    rx_set(C.rx, "/flaky", &fail_once);

    publish("acct_hang", "evt_hang_1", eph, dh1);
    wait_state(dh1, "in_flight");
    wait_rx("/hang", 1);
    publish("acct_hang", "evt_hang_2", eph, dh2); /* held back: max_in_flight 1 */
    publish("acct_flaky", "evt_flaky_1", epf, dfl);
    publish("acct_gone", "evt_gone_1", epg, dg);
    wait_state(dfl, "scheduled");
    wait_state(dg, "delivered");
    if (cmd_int("LLEN psw:endpoint:%s:waiting", eph) != 1)
        fail_msg("the second delivery for /hang is not held back");
    assert_dfield(dh2, "state", "pending");
    assert_int_equal(psw_endpoint_delete(&C.ctx, epg, err, sizeof(err)), PSW_OK);

    /* the queue view while this holds */
    struct json_object *q = NULL;
    assert_int_equal(psw_queue_get(&C.ctx, &q, err, sizeof(err)), PSW_OK);
    assert_int_equal(jint(q, "waiting"), 1);
    assert_int_equal(jint(q, "in_flight"), 1);
    assert_int_equal(jint(q, "scheduled"), 1);
    assert_int_equal(jint(q, "ready"), 0);
    long long due = jint(q, "next_due_in_ms");
    assert_true(due > 15000 && due <= 20000);
    json_object_put(q);

    const char *ids[] = { dfl, dh1, dh2, "dlv_00000000000000000000000000", dg, dfl };
    struct psw_replay_result res[6];
    struct psw_replay_options opt = { 0 };
    int rc = psw_replay_ids(&C.ctx, ids, 6, &opt, res, err, sizeof(err));
    if (rc < 0)
        fail_msg("replay: %d %s", rc, err);
    assert_int_equal(rc, 1);
    static const char *const want[] = {
        "queued", "in_flight", "pending", "not_found", "endpoint_deleted", "queued",
    };
    for (int i = 0; i < 6; i++) {
        assert_string_equal(res[i].id, ids[i]);
        assert_string_equal(res[i].result, want[i]);
    }
    /* the scheduled one left the schedule at once and goes out as attempt 2 */
    assert_false(in_zset("queue:scheduled", dfl));
    wait_state(dfl, "delivered");
    assert_int_equal(rx_for("/flaky", dfl, attempt, sizeof(attempt)), 2);
    assert_string_equal(attempt, "2");
    struct psw_delivery_detail dd;
    assert_int_equal(psw_delivery_get(&C.ctx, dfl, &dd, err, sizeof(err)), PSW_OK);
    assert_int_equal(dd.n_attempts, 2);
    assert_int_equal(jint(dd.attempts[0], "status"), 503);
    assert_string_equal(jstr(dd.attempts[1], "trigger"), "replay");
    psw_delivery_detail_free(&dd);
    /* the others are as they were */
    assert_dfield(dh1, "state", "in_flight");
    assert_dfield(dh1, "attempts", "1");
    assert_dfield(dh2, "state", "pending");
    assert_int_equal(cmd_int("LLEN psw:endpoint:%s:waiting", eph), 1);
    assert_int_equal(list_pos("queue:ready", dh2), -1);
    assert_dfield(dg, "state", "delivered");
    assert_int_equal(rx_count(C.rx, "/hang"), 1);
    assert_int_equal(rx_count(C.rx, "/gone"), 1);
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), 1);

    /* a malformed id refuses the whole call before anything happens */
    const char *bad[] = { dfl, "dlv_short" };
    rc = psw_replay_ids(&C.ctx, bad, 2, &opt, res, err, sizeof(err));
    assert_int_equal(rc, PSW_EINVAL);
    assert_non_null(strstr(err, "dlv_short"));
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), 1);
    C_ok = 1;
}

/* ---- range replay --------------------------------------------------------- */

/* Three windows (before, inside, after the range), each with one delivered,
 * one failed and one skipped delivery of the same endpoint. */
static void test_replay_range(void **state)
{
    (void)state;
    static const char *const lines[] = { "retry.schedule: 20ms, 20ms", NULL };
    char ep[PSW_ID_SIZE], d[3][3][PSW_ID_SIZE], evt[40], result[24];
    enum { OK = 0, FAIL = 1, SKIP = 2 };
    struct rx_behavior fail500 = { .always_status = 500 };
    long long win[3][2];

    start(lines, 1, 1);
    endpoint("acct_range", "/range", ep);
    for (int w = 0; w < 3; w++) {
        win[w][0] = redis_now();
        snprintf(evt, sizeof(evt), "evt_range_%d_ok", w);
        publish("acct_range", evt, ep, d[w][OK]);
        wait_state(d[w][OK], "delivered");
        rx_set(C.rx, "/range", &fail500);
        snprintf(evt, sizeof(evt), "evt_range_%d_fail", w);
        publish("acct_range", evt, ep, d[w][FAIL]);
        wait_state(d[w][FAIL], "failed");
        rx_set(C.rx, "/range", NULL);
        disable(ep);
        snprintf(evt, sizeof(evt), "evt_range_%d_skip", w);
        publish("acct_range", evt, ep, d[w][SKIP]);
        assert_dfield(d[w][SKIP], "state", "skipped");
        if (psw_endpoint_enable(&C.ctx, ep, NULL, err, sizeof(err)) != PSW_OK)
            fail_msg("enable: %s", err);
        win[w][1] = redis_now();
        harness_nap(5);
    }
    assert_int_equal(rx_count(C.rx, "/range"), 3 * (1 + 3));

    /* disabled: refused, nothing moves, even by id */
    disable(ep);
    assert_int_equal(replay_one(d[0][FAIL], 0, result, sizeof(result)), 0);
    assert_string_equal(result, "endpoint_disabled");
    assert_dfield(d[0][FAIL], "state", "failed");
    size_t matched = 99;
    struct psw_replay_options opt = { 0 };
    int rc = psw_replay_range(&C.ctx, ep, win[1][0], win[1][1], "failed,skipped", &opt, &matched,
                              err, sizeof(err));
    assert_int_equal(rc, PSW_ECONFLICT);
    assert_non_null(strstr(err, "disabled"));
    assert_int_equal(matched, 0);
    assert_int_equal(cmd_int("LLEN psw:queue:ready"), 0);
    assert_string_equal(ep_status(ep), "disabled");

    /* bad input */
    rc = psw_replay_range(&C.ctx, ep, win[1][1], win[1][0], NULL, &opt, &matched, err,
                          sizeof(err));
    assert_int_equal(rc, PSW_EINVAL);
    rc = psw_replay_range(&C.ctx, ep, 0, 0, "failed,nope", &opt, &matched, err, sizeof(err));
    assert_int_equal(rc, PSW_EINVAL);
    rc = psw_replay_range(&C.ctx, "ep_00000000000000000000000000", 0, 0, NULL, &opt, &matched,
                          err, sizeof(err));
    assert_int_equal(rc, PSW_ENOTFOUND);

    /* with enable: exactly the failed and the skipped one of window 1 */
    opt.enable = 1;
    rc = psw_replay_range(&C.ctx, ep, win[1][0], win[1][1], "failed,skipped", &opt, &matched,
                          err, sizeof(err));
    if (rc < 0)
        fail_msg("range replay: %d %s", rc, err);
    assert_int_equal(rc, 2);
    assert_int_equal(matched, 2);
    assert_string_equal(ep_status(ep), "enabled");
    assert_false(in_zset("queue:failed", d[1][FAIL]));
    wait_state(d[1][FAIL], "delivered");
    wait_state(d[1][SKIP], "delivered");
    harness_nap(300); /* anything else that was wrongly queued would arrive now */
    assert_int_equal(rx_count(C.rx, "/range"), 3 * (1 + 3) + 2);
    char attempt[16];
    assert_int_equal(rx_for("/range", d[1][FAIL], attempt, sizeof(attempt)), 4);
    assert_string_equal(attempt, "4");
    assert_int_equal(rx_for("/range", d[1][SKIP], attempt, sizeof(attempt)), 1);
    assert_string_equal(attempt, "1");
    assert_int_equal(dfield_ll(d[1][SKIP], "attempts"), 1);
    struct psw_delivery_detail dd;
    assert_int_equal(psw_delivery_get(&C.ctx, d[1][SKIP], &dd, err, sizeof(err)), PSW_OK);
    assert_int_equal(dd.n_attempts, 1);
    assert_string_equal(jstr(dd.attempts[0], "trigger"), "replay");
    psw_delivery_detail_free(&dd);
    for (int w = 0; w < 3; w += 2) {
        assert_dfield(d[w][OK], "state", "delivered");
        assert_dfield(d[w][FAIL], "state", "failed");
        assert_true(in_zset("queue:failed", d[w][FAIL]));
        assert_dfield(d[w][SKIP], "state", "skipped");
        assert_int_equal(rx_for("/range", d[w][OK], NULL, 0), 1);
    }
    assert_int_equal(rx_for("/range", d[1][OK], NULL, 0), 1);
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), 2);

    /* the same range again: nothing left in those states */
    rc = psw_replay_range(&C.ctx, ep, win[1][0], win[1][1], NULL, &opt, &matched, err,
                          sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(matched, 0);

    /* by id, with enable: the endpoint is turned back on first */
    disable(ep);
    assert_int_equal(replay_one(d[2][SKIP], 1, result, sizeof(result)), 1);
    assert_string_equal(result, "queued");
    assert_string_equal(ep_status(ep), "enabled");
    wait_state(d[2][SKIP], "delivered");
    assert_int_equal(cluster_hget_ll(&C, "stats", "replayed", -1), 3);
    C_ok = 1;
}

/* ---- stats, queue, alerts ----------------------------------------------- */

static void test_stats_queue_alerts(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "retry.schedule: 20ms, 20ms", "endpoint.disable_after_failures: 3", NULL,
    };
    char epo[PSW_ID_SIZE], epb[PSW_ID_SIZE], epl[PSW_ID_SIZE], d[4][PSW_ID_SIZE], dl[PSW_ID_SIZE];
    char evt[32], extra[2][PSW_ID_SIZE];
    struct rx_behavior fail500 = { .always_status = 500 };
    struct rx_behavior later = { .fail_first = 1, .fail_status = 503, .retry_after = "5" };
    struct json_object *o = NULL;

    start(lines, 1, 1);
    /* before anything: every counter, all 0 */
    assert_int_equal(psw_stats_get(&C.ctx, NULL, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(json_object_object_length(o), 11);
    json_object_object_foreach(o, k0, v0) {
        if (!json_object_is_type(v0, json_type_int) || json_object_get_int64(v0) != 0)
            fail_msg("counter %s is %s, expected 0", k0, json_object_to_json_string(v0));
    }
    json_object_put(o);

    endpoint("acct_ok", "/ok", epo);
    endpoint("acct_bad", "/bad", epb);
    rx_set(C.rx, "/bad", &fail500);
    long long t0 = redis_now();
    for (int i = 0; i < 3; i++) {
        snprintf(evt, sizeof(evt), "evt_stats_%d", i);
        publish("acct_ok", evt, epo, d[i]);
    }
    publish("acct_bad", "evt_stats_bad", epb, d[3]);
    for (int i = 0; i < 3; i++)
        wait_state(d[i], "delivered");
    wait_state(d[3], "failed");
    long long t1 = redis_now();
    assert_string_equal(ep_status(epb), "disabled");

    static const struct { const char *name; long long want; } global[] = {
        { "events_published", 4 }, { "deliveries_created", 4 }, { "attempts", 6 },
        { "delivered", 3 }, { "failed_attempts", 3 }, { "retries_scheduled", 2 },
        { "failed", 1 }, { "skipped", 0 }, { "endpoints_disabled", 1 }, { "recovered", 0 },
        { "replayed", 0 },
    };
    assert_int_equal(psw_stats_get(&C.ctx, NULL, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(json_object_object_length(o), 11);
    for (size_t i = 0; i < sizeof(global) / sizeof(global[0]); i++)
        if (jint(o, global[i].name) != global[i].want)
            fail_msg("stats %s is %lld, expected %lld", global[i].name, jint(o, global[i].name),
                     global[i].want);
    json_object_put(o);

    /* an index entry older than 24 h is outside the dashboard's window */
    freeReplyObject(cluster_cmd(&C, "ZADD psw:endpoint:%s:deliveries %lld dlv_old_00000000000000000000",
                                epo, redis_now() - 25LL * 3600 * 1000));
    assert_int_equal(psw_stats_get(&C.ctx, epb, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(json_object_object_length(o), 14);
    assert_int_equal(jint(o, "deliveries_24h"), 1);
    assert_int_equal(jint(o, "sampled_24h"), 1);
    assert_int_equal(jint(o, "delivered_24h"), 0);
    assert_int_equal(jint(o, "failed_24h"), 1);
    assert_int_equal(jint(o, "skipped_24h"), 0);
    assert_true(json_object_get_double(json_object_object_get(o, "success_rate_24h")) == 0.0);
    assert_true(json_object_is_type(json_object_object_get(o, "success_rate_24h"), json_type_double));
    assert_int_equal(jint(o, "attempts"), 3);
    assert_int_equal(jint(o, "delivered"), 0);
    assert_int_equal(jint(o, "failed_attempts"), 3);
    assert_int_equal(jint(o, "failed"), 1);
    assert_int_equal(jint(o, "skipped"), 0);
    assert_int_equal(jint(o, "last_status"), 500);
    assert_jnull(o, "last_success_at");
    char iso[PSW_ISO_SIZE];
    {
        char k[128];
        snprintf(k, sizeof(k), "endpoint:%s:stats", epb);
        psw_time_format(cluster_hget_ll(&C, k, "last_failure_at", 0), iso);
    }
    assert_string_equal(jstr(o, "last_failure_at"), iso);
    json_object_put(o);

    assert_int_equal(psw_stats_get(&C.ctx, epo, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(jint(o, "deliveries_24h"), 3);
    assert_int_equal(jint(o, "delivered_24h"), 3);
    assert_int_equal(jint(o, "failed_24h"), 0);
    assert_true(json_object_get_double(json_object_object_get(o, "success_rate_24h")) == 1.0);
    assert_int_equal(jint(o, "attempts"), 3);
    assert_int_equal(jint(o, "delivered"), 3);
    assert_int_equal(jint(o, "failed_attempts"), 0);
    assert_int_equal(jint(o, "failed"), 0);
    assert_int_equal(jint(o, "last_status"), 200);
    assert_non_null(jstr(o, "last_success_at"));
    assert_jnull(o, "last_failure_at");
    json_object_put(o);

    assert_int_equal(psw_stats_get(&C.ctx, "ep_00000000000000000000000000", &o, err, sizeof(err)),
                     PSW_ENOTFOUND);
    assert_null(o);
    assert_int_equal(psw_stats_get(&C.ctx, "nope", &o, err, sizeof(err)), PSW_EINVAL);

    /* alerts: the one disable */
    assert_int_equal(psw_alerts_get(&C.ctx, 0, 0, &o, err, sizeof(err)), PSW_OK);
    assert_true(json_object_is_type(o, json_type_array));
    assert_int_equal(json_object_array_length(o), 1);
    struct json_object *a = json_object_array_get_idx(o, 0);
    assert_int_equal(json_object_object_length(a), 6);
    assert_non_null(strchr(jstr(a, "id"), '-'));
    assert_string_equal(jstr(a, "type"), "endpoint_disabled");
    assert_string_equal(jstr(a, "endpoint_id"), epb);
    assert_string_equal(jstr(a, "account_id"), "acct_bad");
    assert_string_equal(jstr(a, "reason"), "3 consecutive failed attempts");
    int64_t at_ms = 0;
    assert_int_equal(psw_time_parse_iso(jstr(a, "at"), &at_ms), 0);
    assert_true(at_ms >= t0 && at_ms <= t1);
    json_object_put(o);
    assert_int_equal(psw_alerts_get(&C.ctx, t0, 10, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(json_object_array_length(o), 1);
    json_object_put(o);
    assert_int_equal(psw_alerts_get(&C.ctx, t1 + 1, 10, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(json_object_array_length(o), 0);
    json_object_put(o);

    /* queue, idle, with one worker master of 2 children and 1 scheduler. A
     * child registers with its first heartbeat: on a busy machine the second
     * may not have beaten yet, so wait for both (bounded) before looking. */
    char wkey[128];
    psw_ctx_key(&C.ctx, wkey, sizeof(wkey), PSW_KEY_WORKERS, NULL);
    for (int tries = 0; tries < 250; tries++) {
        redisReply *zc = cluster_cmd(&C, "ZCARD %s", wkey);
        long long nw = zc && zc->type == REDIS_REPLY_INTEGER ? zc->integer : -1;
        freeReplyObject(zc);
        if (nw == 2)
            break;
        harness_nap(20);
    }
    assert_int_equal(psw_queue_get(&C.ctx, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(json_object_object_length(o), 9);
    assert_int_equal(jint(o, "ready"), 0);
    assert_int_equal(jint(o, "scheduled"), 0);
    assert_int_equal(jint(o, "failed"), 1);
    assert_int_equal(jint(o, "waiting"), 0);
    assert_int_equal(jint(o, "in_flight"), 0);
    assert_jnull(o, "oldest_ready_lag_ms");
    assert_jnull(o, "next_due_in_ms");
    struct json_object *ws = jget(o, "workers");
    assert_int_equal(json_object_array_length(ws), 2);
    for (size_t i = 0; i < 2; i++) {
        struct json_object *w = json_object_array_get_idx(ws, i);
        assert_int_equal(json_object_object_length(w), 7);
        assert_true(strlen(jstr(w, "id")) > 0);
        assert_true(strlen(jstr(w, "host")) > 0);
        assert_true(jint(w, "pid") > 1);
        assert_int_equal(jint(w, "in_flight"), 0);
        assert_int_equal(jint(w, "concurrency"), 16);
        long long ago = jint(w, "last_heartbeat_ms_ago");
        assert_true(ago >= 0 && ago <= 2000);
        int64_t started;
        assert_int_equal(psw_time_parse_iso(jstr(w, "started_at"), &started), 0);
    }
    struct json_object *ss = jget(o, "schedulers");
    assert_int_equal(json_object_array_length(ss), 1);
    assert_true(strlen(jstr(json_object_array_get_idx(ss, 0), "id")) > 0);
    long long tick_ago = jint(json_object_array_get_idx(ss, 0), "last_tick_ms_ago");
    assert_true(tick_ago >= 0 && tick_ago < 2000);
    json_object_put(o);

    /* a retry told to wait (503, Retry-After: 5) */
    endpoint("acct_later", "/later", epl);
    rx_set(C.rx, "/later", &later);
    publish("acct_later", "evt_later", epl, dl);
    wait_state(dl, "scheduled");
    assert_int_equal(psw_queue_get(&C.ctx, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(jint(o, "scheduled"), 1);
    long long due = jint(o, "next_due_in_ms");
    assert_true(due > 3000 && due <= 5000);
    json_object_put(o);

    /* no workers: what is published waits in ready, and its lag grows */
    for (int i = 0; i < C.nwork; i++) {
        proc_stop(C.work[i], SIGTERM, 8000);
        C.work[i] = 0;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(evt, sizeof(evt), "evt_wait_%d", i);
        publish("acct_ok", evt, epo, extra[i]);
    }
    harness_nap(150);
    assert_int_equal(psw_queue_get(&C.ctx, &o, err, sizeof(err)), PSW_OK);
    assert_int_equal(jint(o, "ready"), 2);
    assert_int_equal(json_object_array_length(jget(o, "workers")), 0);
    long long lag = jint(o, "oldest_ready_lag_ms");
    long long want_min = redis_now() - dfield_ll(extra[0], "next_attempt_at") - 50;
    assert_true(lag >= 150 && lag >= want_min && lag < 5000);
    json_object_put(o);
    redisReply *r = cluster_cmd(&C, "LINDEX psw:queue:ready -1");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, extra[0]); /* the next to be taken: the oldest */
    freeReplyObject(r);
    C_ok = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_list, teardown),
        cmocka_unit_test_teardown(test_list_many_and_replay_many, teardown),
        cmocka_unit_test_teardown(test_show_and_replay, teardown),
        cmocka_unit_test_teardown(test_replay_states, teardown),
        cmocka_unit_test_teardown(test_replay_range, teardown),
        cmocka_unit_test_teardown(test_stats_queue_alerts, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
