/*
 * test_retry.c — common/retry.c: the default schedule walked to the end,
 * short schedules, Retry-After pushing and clamping, slow attempts, and the
 * Retry-After header parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/retry.h"

#define S 1000LL
#define M (60 * S)
#define H (60 * M)

/* docs/events.md default: 1s, 5s, 30s, 2m, 10m, 1h, 6h, 24h; max_age 24h. */
static const int64_t default_schedule[] = { 1 * S, 5 * S, 30 * S, 2 * M, 10 * M, 1 * H, 6 * H, 24 * H };
static const struct psw_retry_policy default_policy = { default_schedule, 8, 24 * H };

static void test_default_walk(void **state)
{
    (void)state;
    /* Attempts take no time: each starts and ends at its scheduled moment. */
    const int64_t start = 1795791845123LL; /* any cycle start; the walk is relative */
    const int64_t want[] = {
        0,
        1 * S,
        6 * S,
        36 * S,
        2 * M + 36 * S,
        12 * M + 36 * S,
        1 * H + 12 * M + 36 * S,
        7 * H + 12 * M + 36 * S,
        24 * H, /* 7h12m36s + 24h is past the deadline: clamped to it */
    };
    int64_t t = start;
    const char *reason = NULL;
    int64_t next = -1;

    for (int attempts = 1; attempts <= 8; attempts++) {
        assert_int_equal(t - start, want[attempts - 1]);
        enum psw_retry_verdict v =
            psw_retry_next(&default_policy, attempts, start, t, 0, &next, &reason);
        if (v != PSW_RETRY_AT)
            fail_msg("attempt %d at +%lld ms: gave up (%s)", attempts, (long long)(t - start),
                     reason);
        t = next;
    }
    assert_int_equal(t - start, want[8]);
    /* The ninth attempt, at exactly the deadline, is the last. */
    reason = NULL;
    assert_int_equal(psw_retry_next(&default_policy, 9, start, t, 0, &next, &reason),
                     PSW_RETRY_GIVE_UP);
    assert_string_equal(reason, "expired");
}

static void test_short_schedule_exhausted(void **state)
{
    (void)state;
    const int64_t sched[] = { 1 * S, 2 * S };
    const struct psw_retry_policy p = { sched, 2, 24 * H };
    int64_t next = -1;
    const char *reason = NULL;

    assert_int_equal(psw_retry_next(&p, 1, 0, 0, 0, &next, &reason), PSW_RETRY_AT);
    assert_int_equal(next, 1 * S);
    assert_int_equal(psw_retry_next(&p, 2, 0, 1 * S, 0, &next, &reason), PSW_RETRY_AT);
    assert_int_equal(next, 3 * S);
    assert_int_equal(psw_retry_next(&p, 3, 0, 3 * S, 0, &next, &reason), PSW_RETRY_GIVE_UP);
    assert_string_equal(reason, "exhausted");

    /* An empty schedule gives up after the first attempt. */
    const struct psw_retry_policy none = { sched, 0, 24 * H };
    reason = NULL;
    assert_int_equal(psw_retry_next(&none, 1, 0, 0, 0, &next, &reason), PSW_RETRY_GIVE_UP);
    assert_string_equal(reason, "exhausted");
}

static void test_retry_after_pushes_later(void **state)
{
    (void)state;
    int64_t next = -1;
    const char *reason = NULL;
    const int64_t start = 1000000;

    /* Schedule says +30s; the receiver asked for +120s. */
    assert_int_equal(psw_retry_next(&default_policy, 3, start, start + 6 * S, start + 126 * S,
                                    &next, &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 126 * S);
    /* A Retry-After earlier than the schedule does not pull the retry in. */
    assert_int_equal(psw_retry_next(&default_policy, 3, start, start + 6 * S, start + 7 * S,
                                    &next, &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 36 * S);
    /* Retry-After past the deadline: clamped to exactly the deadline. */
    assert_int_equal(psw_retry_next(&default_policy, 2, start, start + 1 * S, start + 48 * H,
                                    &next, &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 24 * H);
    /* One millisecond before the deadline is kept as is. */
    assert_int_equal(psw_retry_next(&default_policy, 2, start, start + 1 * S,
                                    start + 24 * H - 1, &next, &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 24 * H - 1);
}

static void test_attempts_that_take_time(void **state)
{
    (void)state;
    int64_t next = -1;
    const char *reason = NULL;
    const int64_t start = 5000;

    /* The delay counts from the end of the attempt: a 10 s timeout then 1 s. */
    assert_int_equal(psw_retry_next(&default_policy, 1, start, start + 10 * S, 0, &next, &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 11 * S);
    /* Attempt 2 started at +11s and took 30 s; the next is 5 s after that. */
    assert_int_equal(psw_retry_next(&default_policy, 2, start, start + 41 * S, 0, &next, &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 46 * S);
    /* An attempt that ends past the deadline (it started before) expires. */
    reason = NULL;
    assert_int_equal(psw_retry_next(&default_policy, 8, start, start + 24 * H + 500, 0, &next,
                                    &reason),
                     PSW_RETRY_GIVE_UP);
    assert_string_equal(reason, "expired");
    /* Ending 1 ms before the deadline still earns the clamped final attempt. */
    assert_int_equal(psw_retry_next(&default_policy, 8, start, start + 24 * H - 1, 0, &next,
                                    &reason),
                     PSW_RETRY_AT);
    assert_int_equal(next, start + 24 * H);
    /* Past the deadline beats the schedule running out: expired, not exhausted. */
    reason = NULL;
    assert_int_equal(psw_retry_next(&default_policy, 20, start, start + 25 * H, 0, &next,
                                    &reason),
                     PSW_RETRY_GIVE_UP);
    assert_string_equal(reason, "expired");
}

/* Retry-After values. The HTTP date's seconds come from
 *   date -u -d '2026-10-21 07:28:00' +%s   → 1792567680
 *   date -u -d '1994-11-06 08:49:37' +%s   → 784111777  (RFC 9110's example date)
 */
static void test_retry_after_parse(void **state)
{
    (void)state;
    const int64_t now = 1792567000123LL;
    int64_t at = -1;

    assert_int_equal(psw_retry_after_parse("120", now, &at), 0);
    assert_int_equal(at, now + 120 * S);
    assert_int_equal(psw_retry_after_parse("0", now, &at), 0);
    assert_int_equal(at, now);
    assert_int_equal(psw_retry_after_parse(" 5\r\n", now, &at), 0);
    assert_int_equal(at, now + 5 * S);
    assert_int_equal(psw_retry_after_parse("120 ", now, &at), 0);
    assert_int_equal(at, now + 120 * S);
    /* Absurd delays are capped at ten years, without overflow. */
    assert_int_equal(psw_retry_after_parse("99999999999999999999999999", now, &at), 0);
    assert_int_equal(at, now + 10LL * 365 * 86400 * S);

    assert_int_equal(psw_retry_after_parse("Wed, 21 Oct 2026 07:28:00 GMT", now, &at), 0);
    assert_int_equal(at, 1792567680LL * S);
    assert_int_equal(psw_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now, &at), 0);
    assert_int_equal(at, 784111777LL * S);
    /* The obsolete forms HTTP still allows: RFC 850 and asctime. */
    assert_int_equal(psw_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", now, &at), 0);
    assert_int_equal(at, 784111777LL * S);
    assert_int_equal(psw_retry_after_parse("Sun Nov  6 08:49:37 1994", now, &at), 0);
    assert_int_equal(at, 784111777LL * S);

    static const char *const bad[] = {
        "", "   ", "-1", "-120", "+120", "1.5", "12s", "1 2", "abc", "soon", "Wed",
        "Wed, 32 Oct 2026 07:28:00 GMT", "21 Oct 2026 07:28:00 GMT", "0x10",
        /* curl_getdate alone would take these as dates: not HTTP dates */
        "-21 Oct 2026 07:28:00 GMT", "(21 Oct 2026 07:28:00 GMT)", ".21 Oct 2026 07:28:00",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        at = 42;
        int rc = psw_retry_after_parse(bad[i], now, &at);
        if (rc != -1)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)at);
        assert_int_equal(at, 42);
    }
    assert_int_equal(psw_retry_after_parse(NULL, now, &at), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_walk),
        cmocka_unit_test(test_short_schedule_exhausted),
        cmocka_unit_test(test_retry_after_pushes_later),
        cmocka_unit_test(test_attempts_that_take_time),
        cmocka_unit_test(test_retry_after_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
