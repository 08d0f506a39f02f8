/*
 * test_timeutil.c — common/timeutil.c: ISO 8601 formatting and parsing,
 * durations both ways, and command-line time arguments.
 *
 * Expected seconds come from GNU date, not from the code under test:
 *   date -u -d '2026-11-27T15:04:05Z' +%s         → 1795791845
 *   date -u -d '2026-11-27T15:04:00Z' +%s         → 1795791840
 *   date -u -d '2026-11-27' +%s                   → 1795737600
 *   date -u -d '2024-02-29T00:00:00Z' +%s         → 1709164800
 *   date -u -d '2024-02-29T12:00:00+02:00' +%s    → 1709200800
 *   date -u -d '2026-11-27T15:04:05-05:30' +%s    → 1795811645
 *   date -u -d '2026-11-27T15:04:05+05:30' +%s    → 1795772045
 *   date -u -d '2000-02-29T00:00:00Z' +%s         → 951782400
 *   date -u -d '2026-12-31T23:59:59Z' +%s         → 1798761599
 *   date -u -d '1600-03-01T00:00:00Z' +%s         → -11670912000
 *   date -u -d '9999-12-31T23:59:59Z' +%s         → 253402300799
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/timeutil.h"

#define S 1000LL
#define M (60 * S)
#define H (60 * M)
#define D (24 * H)

static void test_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *iso;
    } cases[] = {
        { 0, "1970-01-01T00:00:00.000Z" },
        { 1795791845123LL, "2026-11-27T15:04:05.123Z" },
        { 1709164800000LL, "2024-02-29T00:00:00.000Z" },
        { 951782400000LL, "2000-02-29T00:00:00.000Z" },
        { 1798761599999LL, "2026-12-31T23:59:59.999Z" },
        { -1, "1969-12-31T23:59:59.999Z" },
        { -1000, "1969-12-31T23:59:59.000Z" },
        { -1001, "1969-12-31T23:59:58.999Z" },
        { -11670912000000LL, "1600-03-01T00:00:00.000Z" },
        { 253402300799000LL, "9999-12-31T23:59:59.000Z" },
    };
    char out[PSW_ISO_SIZE];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        psw_time_format(cases[i].ms, out);
        if (strcmp(out, cases[i].iso) != 0)
            fail_msg("%lld: got %s, want %s", (long long)cases[i].ms, out, cases[i].iso);
        /* and back */
        int64_t ms = 42;
        assert_int_equal(psw_time_parse_iso(cases[i].iso, &ms), 0);
        assert_int_equal(ms, cases[i].ms);
    }
}

static void test_parse_iso(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "1970-01-01", 0 },
        { "2026-11-27T15:04:05.123Z", 1795791845123LL },
        { "2026-11-27t15:04:05.123z", 1795791845123LL },
        { "2026-11-27 15:04:05.123Z", 1795791845123LL },
        { "2026-11-27T15:04:05Z", 1795791845000LL },
        { "2026-11-27T15:04:05", 1795791845000LL },     /* no zone = UTC */
        { "2026-11-27T15:04Z", 1795791840000LL },       /* no seconds */
        { "2026-11-27", 1795737600000LL },              /* date only */
        { "2024-02-29T00:00:00Z", 1709164800000LL },    /* leap day */
        { "2024-02-29", 1709164800000LL },
        { "2000-02-29", 951782400000LL },               /* divisible by 400: leap */
        { "2024-02-29T12:00:00+02:00", 1709200800000LL },
        { "2024-02-29T12:00:00+0200", 1709200800000LL },
        { "2026-11-27T15:04:05-0530", 1795811645000LL },
        { "2026-11-27T15:04:05-05:30", 1795811645000LL },
        { "2026-11-27T15:04:05+05:30", 1795772045000LL },
        { "2026-11-27T15:04:05+00:00", 1795791845000LL },
        { "2026-11-27T15:04:05.1Z", 1795791845100LL },   /* 1 fraction digit */
        { "2026-11-27T15:04:05.12Z", 1795791845120LL },
        { "2026-11-27T15:04:05.123456Z", 1795791845123LL }, /* 6: truncated to ms */
        { "2026-11-27T15:04:05.999999999Z", 1795791845999LL },
        { "2026-11-27T15:04:05,5Z", 1795791845500LL },   /* ISO allows a comma */
        { "2026-11-27T15:04:05.123-05:30", 1795811645123LL },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = 42;
        if (psw_time_parse_iso(good[i].s, &ms) != 0)
            fail_msg("\"%s\" rejected", good[i].s);
        if (ms != good[i].ms)
            fail_msg("\"%s\": got %lld, want %lld", good[i].s, (long long)ms,
                     (long long)good[i].ms);
    }

    static const char *const bad[] = {
        "",
        "garbage",
        "2023-02-29",                   /* not a leap year */
        "1900-02-29",                   /* divisible by 100, not 400 */
        "2026-02-30",
        "2026-04-31",
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "2026-11-27T24:00:00Z",
        "2026-11-27T15:60:00Z",
        "2026-11-27T15:04:61Z",
        "2026-11-27T15:04:05.Z",        /* dot without digits */
        "2026-11-27T15:04:05Zjunk",     /* trailing junk */
        "2026-11-27T15:04:05.123Z ",
        "2026-11-27 ",
        "2026-11-27x",
        "2026-11-27T",
        "2026-11-27T15",
        "2026-11-27T15:4",
        "2026-11-27T15:04:05+2",
        "2026-11-27T15:04:05+02",
        "2026-11-27T15:04:05+02:",
        "2026-11-27T15:04:05+24:00",
        "2026-11-27T15:04:05+02:60",
        "2026-11-27Z",                  /* zone without a time */
        "26-11-27",
        "2026/11/27",
        "2026-1-27",
        "+2026-11-27",
        " 2026-11-27",
        "1795791845123",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        if (psw_time_parse_iso(bad[i], &ms) != -1)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)ms);
        assert_int_equal(ms, 42);
    }
    int64_t ms = 42;
    assert_int_equal(psw_time_parse_iso(NULL, &ms), -1);
}

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        int64_t ms;
    } cases[] = {
        { "250ms", 0, 250 },
        { "5s", 0, 5 * S },
        { "2m", 0, 2 * M },
        { "1h", 0, 1 * H },
        { "30d", 0, 30 * D },
        { "1h30m", 0, 90 * M },
        { "1d2h3m4s5ms", 0, D + 2 * H + 3 * M + 4 * S + 5 },
        { "2m5s", 0, 2 * M + 5 * S },
        { "0", 0, 0 },
        { "0s", 0, 0 },
        { "0ms", 0, 0 },
        { "1ms", 0, 1 },
        { "106751991167d", 0, 106751991167LL * D }, /* the largest whole day count */
        { "", -1, 0 },
        { "5", -1, 0 },
        { "00", -1, 0 },
        { "5x", -1, 0 },
        { "5 s", -1, 0 },
        { " 5s", -1, 0 },
        { "5s ", -1, 0 },
        { "-1s", -1, 0 },
        { "+1s", -1, 0 },
        { "1.5s", -1, 0 },
        { "s", -1, 0 },
        { "ms", -1, 0 },
        { "1h30", -1, 0 },
        { "5S", -1, 0 },
        { "5sec", -1, 0 },
        { "106751991168d", -1, 0 },                 /* one day more overflows */
        { "9223372036854775808ms", -1, 0 },
        { "99999999999999999999999s", -1, 0 },
        { "9223372036854775s", 0, 9223372036854775000LL }, /* just fits */
        { "9223372036854776s", -1, 0 },                    /* just does not */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 42;
        int rc = psw_duration_parse(cases[i].s, &ms);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].s, rc, cases[i].rc);
        if (ms != (rc == 0 ? cases[i].ms : 42))
            fail_msg("\"%s\": got %lld, want %lld", cases[i].s, (long long)ms,
                     (long long)cases[i].ms);
    }
    int64_t ms = 42;
    assert_int_equal(psw_duration_parse(NULL, &ms), -1);
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *s;
    } cases[] = {
        { 0, "0s" },
        { 1, "1ms" },
        { 250, "250ms" },
        { 1000, "1s" },
        { 1001, "1s1ms" },
        { 90000, "1m30s" },
        { 2 * M, "2m" },
        { H, "1h" },
        { 90 * M, "1h30m" },
        { D, "1d" },
        { 30 * D, "30d" },
        { 25 * H, "1d1h" },
        { D + H + M + S + 1, "1d1h1m1s1ms" },
        { 24 * H - 1, "23h59m59s999ms" },
        { -5, "-5ms" },
        { INT64_MAX, "106751991167d7h12m55s807ms" }, /* python3 divmod of 2**63-1 */
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        psw_duration_format(cases[i].ms, out, sizeof(out));
        if (strcmp(out, cases[i].s) != 0)
            fail_msg("%lld: got \"%s\", want \"%s\"", (long long)cases[i].ms, out, cases[i].s);
        /* Every positive output parses back to the same value. */
        if (cases[i].ms >= 0) {
            int64_t back = -1;
            assert_int_equal(psw_duration_parse(out, &back), 0);
            assert_int_equal(back, cases[i].ms);
        }
    }
    /* Too small a buffer yields an empty string, never a wrong number. */
    char small[5];
    psw_duration_format(90000, small, sizeof(small)); /* "1m30s" needs 6 */
    assert_string_equal(small, "");
    char six[6];
    psw_duration_format(90000, six, sizeof(six));
    assert_string_equal(six, "1m30s");
    psw_duration_format(-12345, small, sizeof(small));
    assert_string_equal(small, "");
}

static void test_parse_arg(void **state)
{
    (void)state;
    const int64_t now = 1795791845123LL;
    int64_t ms = 42;

    assert_int_equal(psw_time_parse_arg("now", now, &ms), 0);
    assert_int_equal(ms, now);
    assert_int_equal(psw_time_parse_arg("2h", now, &ms), 0);
    assert_int_equal(ms, now - 2 * H);
    assert_int_equal(psw_time_parse_arg("1h30m", now, &ms), 0);
    assert_int_equal(ms, now - 90 * M);
    assert_int_equal(psw_time_parse_arg("30d", now, &ms), 0);
    assert_int_equal(ms, now - 30 * D);
    assert_int_equal(psw_time_parse_arg("0", now, &ms), 0);
    assert_int_equal(ms, now);
    assert_int_equal(psw_time_parse_arg("2026-11-27T15:04:05Z", now, &ms), 0);
    assert_int_equal(ms, 1795791845000LL);
    assert_int_equal(psw_time_parse_arg("2026-11-27", now, &ms), 0);
    assert_int_equal(ms, 1795737600000LL);

    static const char *const bad[] = { "", "garbage", "yesterday", "NOW", "now ", "-2h", "2",
                                       "2023-02-29", "2h ago" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        if (psw_time_parse_arg(bad[i], now, &ms) != -1)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)ms);
        assert_int_equal(ms, 42);
    }
    assert_int_equal(psw_time_parse_arg(NULL, now, &ms), -1);
}

static void test_clocks(void **state)
{
    (void)state;
    /* 2024-01-01 < now < 2100-01-01: the realtime clock is in milliseconds. */
    int64_t now = psw_now_ms();
    assert_true(now > 1704067200000LL && now < 4102444800000LL);
    int64_t a = psw_mono_ms(), b = psw_mono_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_iso),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_parse_arg),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
