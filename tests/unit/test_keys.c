/*
 * test_keys.c — the C key table (common/keys.c) and the Lua one (K in
 * common/lua/_prelude.lua) must name exactly the same keys: the prelude is
 * run in a real Redis and every key it builds is compared with psw_key().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/keys.h"
#include "common/replies.h"
#include "psw_scripts.h"
#include "tests/harness/harness.h"

static void test_spec_names(void **state)
{
    (void)state;
    char k[PSW_KEY_SIZE];
    /* docs/redis.md, verbatim */
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ENDPOINT, "ep_1"), "psw:endpoint:ep_1");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ACCOUNT_ENDPOINTS, "a"), "psw:account:a:endpoints");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ENDPOINTS, NULL), "psw:endpoints");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_EVENT, "evt_1"), "psw:event:evt_1");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_DELIVERY, "d"), "psw:delivery:d");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_DELIVERY_ATTEMPTS, "d"), "psw:delivery:d:attempts");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ENDPOINT_DELIVERIES, "e"), "psw:endpoint:e:deliveries");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ENDPOINT_STATS, "e"), "psw:endpoint:e:stats");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_STATS, NULL), "psw:stats");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ATTEMPT_STATS, NULL), "psw:stats:attempts");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_READY, NULL), "psw:queue:ready");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_SCHEDULED, NULL), "psw:queue:scheduled");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_INFLIGHT, "w"), "psw:queue:inflight:w");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_FAILED, NULL), "psw:queue:failed");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_WORKERS, NULL), "psw:workers");
    assert_string_equal(psw_key(k, sizeof(k), "psw:", PSW_KEY_ALERTS, NULL), "psw:alerts");
}

static void test_c_and_lua_agree(void **state)
{
    (void)state;
    struct redis_srv srv;
    assert_int_equal(redis_srv_start(&srv, NULL), 0);
    redisContext *c = redis_srv_connect(&srv);
    assert_non_null(c);

    /* One Lua chunk: the prelude, then a table of every key for id "ID". */
    size_t cap = strlen(psw_script_prelude) + 8192, len = 0;
    char *src = malloc(cap);
    len += (size_t)snprintf(src + len, cap - len, "%s\nlocal out = {}\n", psw_script_prelude);
    for (int k = 0; k < PSW_KEY__COUNT; k++) {
        const char *name = psw_key_lua_name((enum psw_key)k);
        len += (size_t)snprintf(src + len, cap - len,
                                "out[#out+1] = type(K.%s) == 'function' and K.%s('ID') or K.%s or 'MISSING'\n",
                                name, name, name);
    }
    snprintf(src + len, cap - len, "return out\n");

    redisReply *r = redisCommand(c, "EVAL %s 0 %s", src, "pfx:");
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("prelude failed: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, PSW_KEY__COUNT);
    for (int k = 0; k < PSW_KEY__COUNT; k++) {
        char want[PSW_KEY_SIZE];
        psw_key(want, sizeof(want), "pfx:", (enum psw_key)k, "ID");
        if (strcmp(r->element[k]->str, want) != 0)
            fail_msg("key %s: C says \"%s\", Lua says \"%s\"", psw_key_lua_name((enum psw_key)k),
                     want, r->element[k]->str);
    }
    freeReplyObject(r);

    /* an event's key names its account (ids are per account) */
    char want[PSW_KEY_SIZE];
    psw_key(want, sizeof(want), "pfx:", PSW_KEY_EVENT, "acct_A/order-1001");
    snprintf(src, cap, "%s\nreturn K.event_of('acct_A', 'order-1001')\n", psw_script_prelude);
    r = redisCommand(c, "EVAL %s 0 %s", src, "pfx:");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
    free(src);
    redisFree(c);
    redis_srv_stop(&srv);
}

/* Runs `return R.<list>` (the prelude's declaration of a reply's fields)
 * and compares it, in order, with the C names. */
static void same_fields(redisContext *c, const char *list, const char *const *names, size_t n)
{
    size_t cap = strlen(psw_script_prelude) + 256;
    char *src = malloc(cap);
    assert_non_null(src);
    snprintf(src, cap, "%s\nreturn R.%s\n", psw_script_prelude, list);
    redisReply *r = redisCommand(c, "EVAL %s 0 %s", src, "pfx:");
    free(src);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("prelude failed: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    if (r->elements != n)
        fail_msg("R.%s: Lua declares %zu fields, C %zu", list, r->elements, n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->element[i]->str, names[i]) != 0)
            fail_msg("R.%s field %zu: C says \"%s\", Lua says \"%s\"", list, i + 1, names[i],
                     r->element[i]->str);
    freeReplyObject(r);
}

/* The reply fields C reads by position (common/replies.h) are the ones the
 * scripts write by name (R in common/lua/_prelude.lua), in the same order. */
static void test_reply_fields_agree(void **state)
{
    (void)state;
    struct redis_srv srv;
    assert_int_equal(redis_srv_start(&srv, NULL), 0);
    redisContext *c = redis_srv_connect(&srv);
    assert_non_null(c);
    same_fields(c, "claim_head", psw_claim_head_names, PSW_CLAIM__HEAD);
    same_fields(c, "claim_job", psw_claim_job_names, PSW_JOB__COUNT);
    same_fields(c, "complete_reply", psw_complete_reply_names, PSW_COMPLETE__COUNT);
    same_fields(c, "complete_result", psw_complete_result_names, PSW_RESULT__COUNT);
    same_fields(c, "kind", psw_kind_names, 3);
    redisFree(c);
    redis_srv_stop(&srv);
}

/* The SHA1 embed-lua.sh puts next to each script is the one Redis gives it:
 * connections run EVALSHA with it and load only missing scripts
 * (common/redis.c). */
static void test_script_sha1(void **state)
{
    (void)state;
    for (int i = 0; i < PSW_SCRIPT__COUNT; i++) {
        const char *src = psw_script_sources[i].source;
        unsigned char md[SHA_DIGEST_LENGTH];
        char hex[2 * SHA_DIGEST_LENGTH + 1];
        SHA1((const unsigned char *)src, strlen(src), md);
        for (int k = 0; k < SHA_DIGEST_LENGTH; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        if (strcmp(hex, psw_script_sources[i].sha1) != 0)
            fail_msg("script %s: embedded sha1 %s, its source hashes to %s",
                     psw_script_sources[i].name, psw_script_sources[i].sha1, hex);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_names),
        cmocka_unit_test(test_c_and_lua_agree),
        cmocka_unit_test(test_reply_fields_agree),
        cmocka_unit_test(test_script_sha1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
