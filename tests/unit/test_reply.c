/*
 * test_reply.c — common/reply.c: numbers to text and back (no Redis).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/reply.h"

/* psw_fmt_i64 writes what "%lld" writes, for every width and both signs. */
static void test_fmt_i64(void **state)
{
    (void)state;
    long long cases[] = { 0, 1, -1, 9, 10, -10, 99, 100, 12345, -12345, 1795791845123LL,
                          INT_MAX, INT_MIN, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[32], got[PSW_I64_SIZE + 8];
        memset(got, 'x', sizeof(got));
        snprintf(want, sizeof(want), "%lld", cases[i]);
        size_t n = psw_fmt_i64(got, cases[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
        assert_true(n + 1 <= PSW_I64_SIZE);
        assert_int_equal(psw_parse_ll(got, 7), cases[i]);
    }
    /* every power of ten and its neighbours */
    for (long long p = 1; p <= LLONG_MAX / 10; p *= 10)
        for (long long d = -1; d <= 1; d++) {
            char want[32], got[PSW_I64_SIZE];
            snprintf(want, sizeof(want), "%lld", p + d);
            psw_fmt_i64(got, p + d);
            assert_string_equal(got, want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
