/*
 * test_retention.c — history expires after retention.days: event, delivery
 * and attempt keys carry TTLs, and the scheduler trims index entries older
 * than the retention (per-endpoint delivery indexes, the failed set, the
 * alerts stream) while keeping newer ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timeutil.h"
#include "tests/harness/cluster.h"

static struct cluster C;
static int ok;

static int down(void **state)
{
    (void)state;
    cluster_stop(&C, !ok);
    ok = 0;
    return 0;
}

static long long cmd_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = cluster_cmd(&C, fmt, a, b);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
    freeReplyObject(r);
    return v;
}

static void test_ttls_and_trim(void **state)
{
    (void)state;
    static const char *const lines[] = { "retention.days: 2", "retry.max_age: 1h", NULL };
    char ep[PSW_ID_SIZE], evt[160], key[PSW_KEY_SIZE], idx[PSW_KEY_SIZE];
    int n = 0;
    const long long day = 86400000LL;

    /* no scheduler yet: old entries are planted before it first trims */
    assert_int_equal(cluster_start(&C, lines, 0, 1), 0);
    assert_int_equal(cluster_endpoint(&C, "acct_r", "/ret", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(cluster_publish(&C, "{\"type\":\"email.sent\",\"account_id\":\"acct_r\","
                                         "\"domain\":\"r.example\",\"data\":{"
                                         "\"message_id\":\"<r@x>\",\"to\":\"a@b.c\"}}",
                                     evt, sizeof(evt), &n),
                     PSW_OK);
    assert_int_equal(n, 1);
    char **ids;
    assert_int_equal(cluster_deliveries(&C, ep, &ids), 1);
    snprintf(key, sizeof(key), "delivery:%s", ids[0]);
    assert_int_equal(cluster_wait_field(&C, key, "state", "delivered", 10000), 0);

    /* the event expires after the retention (2 days); the delivery and its
     * attempts have no TTL: the sweep deletes them (test_sweep_deletes_old) */
    const char *p = C.cfg.redis_prefix;
    long long ttl = cmd_int("PTTL %sevent:acct_r/%s", p, evt);
    assert_true(ttl > 2 * day - 60000 && ttl <= 2 * day);
    assert_int_equal(cmd_int("PTTL %sdelivery:%s", p, ids[0]), -1);
    char ak[PSW_KEY_SIZE];
    snprintf(ak, sizeof(ak), "%s:attempts", ids[0]);
    assert_int_equal(cmd_int("EXISTS %sdelivery:%s", p, ak), 1);
    assert_int_equal(cmd_int("PTTL %sdelivery:%s", p, ak), -1);

    /* index entries: one 3 days old (beyond retention), one 1 day old */
    long long now = psw_now_ms();
    snprintf(idx, sizeof(idx), "%sendpoint:%s:deliveries", p, ep);
    freeReplyObject(cluster_cmd(&C, "ZADD %s %lld dlv_old %lld dlv_recent", idx, now - 3 * day,
                                now - day));
    freeReplyObject(cluster_cmd(&C, "ZADD %squeue:failed %lld dlv_old %lld dlv_recent", p,
                                now - 3 * day, now - day));
    freeReplyObject(cluster_cmd(&C, "XADD %salerts %lld-0 type endpoint_disabled endpoint_id x", p,
                                now - 3 * day));
    freeReplyObject(cluster_cmd(&C, "XADD %salerts %lld-0 type endpoint_disabled endpoint_id y", p,
                                now - day));

    /* the scheduler trims at start */
    assert_true(cluster_add_scheduler(&C) > 0);
    long long until = harness_mono_ms() + 10000;
    long long old_left = 1;
    while (harness_mono_ms() < until) {
        redisReply *r = cluster_cmd(&C, "ZSCORE %s dlv_old", idx);
        old_left = r->type != REDIS_REPLY_NIL;
        freeReplyObject(r);
        if (!old_left)
            break;
        struct timespec ts = { 0, 50000000L };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(old_left, 0);
    redisReply *r = cluster_cmd(&C, "ZRANGE %s 0 -1", idx);
    assert_int_equal(r->elements, 2); /* dlv_recent and the real delivery */
    freeReplyObject(r);
    r = cluster_cmd(&C, "ZRANGE %squeue:failed 0 -1", p);
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "dlv_recent");
    freeReplyObject(r);
    r = cluster_cmd(&C, "XRANGE %salerts - +", p);
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    cluster_ids_free(ids, 1);
    ok = 1;
}

/* Publishes one event for endpoint ep, waits until its delivery is
 * delivered and writes its id into dlv. */
static void delivered_one(const char *acct, const char *ep, char *dlv, size_t n)
{
    char evt[160], key[PSW_KEY_SIZE];
    int made = 0;
    char body[256];
    snprintf(body, sizeof(body),
             "{\"type\":\"email.sent\",\"account_id\":\"%s\",\"domain\":\"s.example\","
             "\"data\":{\"message_id\":\"<s@x>\",\"to\":\"a@b.c\"}}",
             acct);
    assert_int_equal(cluster_publish(&C, body, evt, sizeof(evt), &made), PSW_OK);
    assert_int_equal(made, 1);
    char **ids;
    assert_int_equal(cluster_deliveries(&C, ep, &ids), 1);
    snprintf(dlv, n, "%s", ids[0]);
    cluster_ids_free(ids, 1);
    snprintf(key, sizeof(key), "delivery:%s", dlv);
    assert_int_equal(cluster_wait_field(&C, key, "state", "delivered", 10000), 0);
}

/* Deliveries carry no TTL: the scheduler's sweep deletes those created more
 * than retention.days ago with their attempt lists, leaves newer ones and
 * ones with a TTL (a replay gives one) alone, and deletes attempt lists whose
 * hash is gone (docs/redis.md "Retention"). */
static void test_sweep_deletes_old(void **state)
{
    (void)state;
    static const char *const lines[] = { "retention.days: 2", "retry.max_age: 1h", NULL };
    const long long day = 86400000LL;
    char ep[4][PSW_ID_SIZE], d[4][PSW_ID_SIZE];
    const char *acct[4] = { "acct_old", "acct_new", "acct_kept", "acct_orphan" };

    assert_int_equal(cluster_start(&C, lines, 0, 1), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cluster_endpoint(&C, acct[i], "/s", NULL, NULL, NULL, ep[i], NULL, 0),
                         0);
        delivered_one(acct[i], ep[i], d[i], sizeof(d[i]));
    }
    const char *p = C.cfg.redis_prefix;
    long long old = psw_now_ms() - 3 * day;
    /* 0: three days old; 1: new; 2: as old, but with a TTL (as a replay
     * gives); 3: its hash deleted by hand, the attempt list left behind */
    freeReplyObject(cluster_cmd(&C, "HSET %sdelivery:%s created_at %lld", p, d[0], old));
    freeReplyObject(cluster_cmd(&C, "HSET %sdelivery:%s created_at %lld", p, d[2], old));
    freeReplyObject(cluster_cmd(&C, "PEXPIRE %sdelivery:%s %lld", p, d[2], 2 * day));
    freeReplyObject(cluster_cmd(&C, "DEL %sdelivery:%s", p, d[3]));

    assert_true(cluster_add_scheduler(&C) > 0);
    long long until = harness_mono_ms() + 15000;
    while (harness_mono_ms() < until &&
           (cmd_int("EXISTS %sdelivery:%s", p, d[0]) ||
            cmd_int("EXISTS %sdelivery:%s:attempts", p, d[3])))
        harness_nap(50);
    assert_int_equal(cmd_int("EXISTS %sdelivery:%s", p, d[0]), 0);
    assert_int_equal(cmd_int("EXISTS %sdelivery:%s:attempts", p, d[0]), 0);
    assert_int_equal(cmd_int("EXISTS %sdelivery:%s:attempts", p, d[3]), 0);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(cmd_int("EXISTS %sdelivery:%s", p, d[i]), 1);
        assert_int_equal(cmd_int("EXISTS %sdelivery:%s:attempts", p, d[i]), 1);
    }
    ok = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ttls_and_trim, down),
        cmocka_unit_test_teardown(test_sweep_deletes_old, down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
