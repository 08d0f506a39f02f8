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

    /* event, delivery and attempts expire after the retention (2 days) */
    const char *p = C.cfg.redis_prefix;
    long long ttl = cmd_int("PTTL %sevent:acct_r/%s", p, evt);
    assert_true(ttl > 2 * day - 60000 && ttl <= 2 * day);
    ttl = cmd_int("PTTL %sdelivery:%s", p, ids[0]);
    assert_true(ttl > 2 * day - 60000 && ttl <= 2 * day);
    char ak[PSW_KEY_SIZE];
    snprintf(ak, sizeof(ak), "%s:attempts", ids[0]);
    ttl = cmd_int("PTTL %sdelivery:%s", p, ak);
    assert_true(ttl > 2 * day - 60000 && ttl <= 2 * day);

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ttls_and_trim, down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
