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

#include "common/keys.h"
#include "psw_scripts.h"
#include "tests/harness/harness.h"

static void test_spec_names(void **state)
{
    (void)state;
    char k[PSW_KEY_SIZE];
    /* SPEC §7, verbatim */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_names),
        cmocka_unit_test(test_c_and_lua_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
