/*
 * test_cluster.c — common/cluster.c: the key slot function against known
 * values, hash tags, MOVED/ASK parsing, CLUSTER SLOTS parsing, and the
 * account-to-shard hash (docs/redis.md "Redis Cluster").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cluster.h"
#include "common/config.h"
#include "common/ctx.h"

static unsigned slot(const char *k)
{
    return psw_cluster_slot(k, strlen(k));
}

/* Values Redis itself gives (CLUSTER KEYSLOT), and the CRC16 check value. */
static void test_known_slots(void **state)
{
    (void)state;
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot("hello"), 866);
    assert_int_equal(slot(""), 0);
    /* CRC16/XMODEM of "123456789" is 0x31C3 = 12739 (< 16384) */
    assert_int_equal(slot("123456789"), 0x31C3);
}

static void test_hash_tags(void **state)
{
    (void)state;
    assert_int_equal(slot("{user1000}.following"), slot("{user1000}.followers"));
    assert_int_equal(slot("{user1000}.following"), slot("user1000"));
    /* the first { and the next } decide; an empty tag means the whole key */
    assert_int_equal(slot("foo{}{bar}"), psw_cluster_slot("foo{}{bar}", 10));
    assert_int_not_equal(slot("foo{}{bar}"), slot("bar"));
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_equal(slot("{unclosed"), psw_cluster_slot("{unclosed", 9));
    /* every key of a shard lands in the shard's slot */
    char p[64], k[128];
    psw_shard_prefix("psw:", 3, p, sizeof(p));
    assert_string_equal(p, "psw:{3}:");
    snprintf(k, sizeof(k), "%squeue:ready", p);
    assert_int_equal(slot(k), slot("3"));
    snprintf(k, sizeof(k), "%sdelivery:dlv_01ABC:attempts", p);
    assert_int_equal(slot(k), slot("3"));
}

static void test_redirect(void **state)
{
    (void)state;
    redisReply r = { 0 };
    char host[64];
    int ask = -1, s = -1, port = 0;
    r.type = REDIS_REPLY_ERROR;
    r.str = (char *)"MOVED 3999 127.0.0.1:6381";
    assert_int_equal(psw_cluster_redirect(&r, &ask, &s, host, sizeof(host), &port), 1);
    assert_int_equal(ask, 0);
    assert_int_equal(s, 3999);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    r.str = (char *)"ASK 12182 ::1:7002";
    assert_int_equal(psw_cluster_redirect(&r, &ask, &s, host, sizeof(host), &port), 1);
    assert_int_equal(ask, 1);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 7002);
    r.str = (char *)"ERR MOVED 1 a:1";
    assert_int_equal(psw_cluster_redirect(&r, &ask, &s, host, sizeof(host), &port), 0);
    r.str = (char *)"MOVED 16384 a:1";
    assert_int_equal(psw_cluster_redirect(&r, &ask, &s, host, sizeof(host), &port), 0);
    r.str = (char *)"MOVED 5 nohostport";
    assert_int_equal(psw_cluster_redirect(&r, &ask, &s, host, sizeof(host), &port), 0);
    r.type = REDIS_REPLY_STRING;
    r.str = (char *)"MOVED 5 a:1";
    assert_int_equal(psw_cluster_redirect(&r, &ask, &s, host, sizeof(host), &port), 0);
}

static redisReply *mk(int type)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = type;
    return r;
}

static redisReply *range(long long a, long long b, const char *h, long long port)
{
    redisReply *r = mk(REDIS_REPLY_ARRAY), *n = mk(REDIS_REPLY_ARRAY);
    r->elements = 3;
    r->element = calloc(3, sizeof(*r->element));
    r->element[0] = mk(REDIS_REPLY_INTEGER);
    r->element[0]->integer = a;
    r->element[1] = mk(REDIS_REPLY_INTEGER);
    r->element[1]->integer = b;
    n->elements = 2;
    n->element = calloc(2, sizeof(*n->element));
    n->element[0] = mk(REDIS_REPLY_STRING);
    n->element[0]->str = strdup(h);
    n->element[0]->len = strlen(h);
    n->element[1] = mk(REDIS_REPLY_INTEGER);
    n->element[1]->integer = port;
    r->element[2] = n;
    return r;
}

static void test_slot_owner(void **state)
{
    (void)state;
    redisReply *all = mk(REDIS_REPLY_ARRAY);
    char host[64];
    int port = 0;
    all->elements = 2;
    all->element = calloc(2, sizeof(*all->element));
    all->element[0] = range(0, 5460, "10.0.0.1", 7000);
    all->element[1] = range(5461, 10922, "", 7001);
    assert_int_equal(psw_cluster_slot_owner(all, 0, "seed", host, sizeof(host), &port), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 7000);
    assert_int_equal(psw_cluster_slot_owner(all, 5461, "seed", host, sizeof(host), &port), 0);
    assert_string_equal(host, "seed"); /* an empty host is the node asked */
    assert_int_equal(port, 7001);
    /* a slot no range covers: no owner */
    assert_int_equal(psw_cluster_slot_owner(all, 12000, "seed", host, sizeof(host), &port), -1);
    freeReplyObject(all);
}

static void test_account_shards(void **state)
{
    (void)state;
    unsigned count[16] = { 0 };
    char acct[32];
    /* stable: the same id, the same shard; one shard without a cluster */
    assert_int_equal(psw_shard_of_account("acct_42", 16), psw_shard_of_account("acct_42", 16));
    assert_int_equal(psw_shard_of_account("acct_42", 1), 0);
    /* FNV-1a 32 of "a" is 0xe40c292c */
    assert_int_equal(psw_shard_of_account("a", 1000), 0xe40c292cu % 1000);
    for (int i = 0; i < 1600; i++) {
        snprintf(acct, sizeof(acct), "acct_%d", i);
        count[psw_shard_of_account(acct, 16)]++;
    }
    for (int i = 0; i < 16; i++) /* spread: every shard gets a fair part */
        assert_in_range(count[i], 50, 150);
}

/* A shard ctx that cannot connect leaves nothing psw_ctx_close would read
 * after it is freed (its shard configuration). */
static void test_failed_shard_open(void **state)
{
    (void)state;
    static const char yaml[] = "redis:\n  url: redis://127.0.0.1:1/0\n  cluster: true\n"
                               "  shards: 4\n";
    struct psw_config cfg = { 0 };
    struct psw_ctx ctx;
    char err[512];
    memset(&ctx, 0, sizeof(ctx));
    if (psw_config_load_string(&cfg, yaml, sizeof(yaml) - 1, "test", err, sizeof(err)) < 0)
        fail_msg("config: %s", err);
    assert_int_not_equal(psw_ctx_open_shard(&ctx, &cfg, 2, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)),
                         PSW_OK);
    psw_ctx_close(&ctx);
    psw_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_slots),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_slot_owner),
        cmocka_unit_test(test_account_shards),
        cmocka_unit_test(test_failed_shard_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
