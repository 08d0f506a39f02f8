/*
 * test_ids.c — common/ids.c: id shape, alphabet, encoded time, ordering,
 * uniqueness, validation, and the token alphabet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ids.h"
#include "common/timeutil.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void assert_shape(const char *prefix, const char *id)
{
    size_t pl = strlen(prefix);
    assert_memory_equal(id, prefix, pl);
    assert_int_equal(strlen(id + pl), PSW_ULID_LEN);
    for (const char *p = id + pl; *p; p++)
        if (!strchr(crockford, *p))
            fail_msg("id %s: '%c' is not Crockford base32", id, *p);
}

static void test_shape(void **state)
{
    (void)state;
    static const char *const prefixes[] = { "ep_", "evt_", "dlv_", "w_" };
    char id[PSW_ID_SIZE];
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(psw_id_new(prefixes[i], id), 0);
        assert_shape(prefixes[i], id);
        assert_true(psw_id_valid(prefixes[i], id));
    }
}

static void test_time_round_trip(void **state)
{
    (void)state;
    /* 2026-11-27T15:04:05.123Z: date -u -d 2026-11-27T15:04:05Z +%s → 1795791845 */
    static const int64_t times[] = { 0, 1, 1795791845123LL, 0xFFFFFFFFFFFFLL };
    char id[PSW_ID_SIZE];
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        assert_int_equal(psw_id_new_at("dlv_", times[i], id), 0);
        assert_shape("dlv_", id);
        assert_int_equal(psw_id_time_ms("dlv_", id), times[i]);
    }
    /* The time part is plain big-endian base32: 0 is ten zeros, 1 ends in 1,
     * 32 in "10". */
    assert_int_equal(psw_id_new_at("ep_", 0, id), 0);
    assert_memory_equal(id + 3, "0000000000", 10);
    assert_int_equal(psw_id_new_at("ep_", 32, id), 0);
    assert_memory_equal(id + 3, "0000000010", 10);
    assert_int_equal(psw_id_new_at("ep_", 0xFFFFFFFFFFFFLL, id), 0);
    assert_memory_equal(id + 3, "7ZZZZZZZZZ", 10);

    /* A fresh id carries the current time. */
    int64_t before = psw_now_ms();
    assert_int_equal(psw_id_new("evt_", id), 0);
    int64_t after = psw_now_ms();
    int64_t t = psw_id_time_ms("evt_", id);
    assert_true(t >= before && t <= after);

    /* Wrong prefix or invalid id: -1. */
    assert_int_equal(psw_id_time_ms("ep_", id), -1);
    assert_int_equal(psw_id_time_ms("evt_", "evt_"), -1);
}

static void test_sorts_by_time(void **state)
{
    (void)state;
    char a[PSW_ID_SIZE], b[PSW_ID_SIZE];
    /* Across distinct milliseconds the later id sorts later, whatever the
     * random part, including across a carry in the base32 time digits. */
    static const int64_t pairs[][2] = {
        { 1795791845123LL, 1795791845124LL },
        { 31, 32 },
        { 1023, 1024 },
        { 0, 0xFFFFFFFFFFFFLL },
        { 1700000000000LL, 1800000000000LL },
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        for (int rep = 0; rep < 50; rep++) {
            assert_int_equal(psw_id_new_at("dlv_", pairs[i][0], a), 0);
            assert_int_equal(psw_id_new_at("dlv_", pairs[i][1], b), 0);
            if (strcmp(a, b) >= 0)
                fail_msg("%s (t=%lld) does not sort before %s (t=%lld)", a,
                         (long long)pairs[i][0], b, (long long)pairs[i][1]);
        }

    /* Real clock: ids made in later milliseconds sort later. */
    assert_int_equal(psw_id_new("dlv_", a), 0);
    while (psw_now_ms() <= psw_id_time_ms("dlv_", a))
        ;
    assert_int_equal(psw_id_new("dlv_", b), 0);
    assert_true(strcmp(a, b) < 0);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp((const char *)x, (const char *)y);
}

static void test_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*ids)[PSW_ID_SIZE] = calloc(N, PSW_ID_SIZE);
    assert_non_null(ids);
    /* All in the same millisecond: only the random part tells them apart. */
    for (int i = 0; i < N; i++)
        assert_int_equal(psw_id_new_at("evt_", 1795791845123LL, ids[i]), 0);
    qsort(ids, N, PSW_ID_SIZE, cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate id %s", ids[i]);
    /* Every position of the random part takes more than one value (the
     * last character too: it must not be stuck at zero padding). */
    for (int pos = 4 + 10; pos < 4 + 26; pos++) {
        int distinct = 0;
        int seen[128] = { 0 };
        for (int i = 0; i < N; i++)
            if (!seen[(unsigned char)ids[i][pos]]++)
                distinct++;
        if (distinct < 32)
            fail_msg("position %d takes only %d distinct values in %d ids", pos, distinct, N);
    }
    free(ids);
}

/* Ids come from a pool of random bytes kept between calls: a child forked
 * with a half-used pool must not hand out the ids its parent will. */
static void test_unique_across_fork(void **state)
{
    (void)state;
    char first[PSW_ID_SIZE], mine[PSW_ID_SIZE], theirs[PSW_ID_SIZE] = "";
    int fds[2];
    assert_int_equal(psw_id_new_at("evt_", 1795791845123LL, first), 0); /* pool filled */
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[PSW_ID_SIZE];
        close(fds[0]);
        int ok = psw_id_new_at("evt_", 1795791845123LL, id) == 0 &&
                 write(fds[1], id, PSW_ID_SIZE) == PSW_ID_SIZE;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(psw_id_new_at("evt_", 1795791845123LL, mine), 0);
    assert_int_equal(read(fds[0], theirs, PSW_ID_SIZE), PSW_ID_SIZE);
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (strcmp(mine, theirs) == 0)
        fail_msg("parent and forked child made the same id %s", mine);
    assert_string_not_equal(first, mine);
}

static void test_valid(void **state)
{
    (void)state;
    static const struct {
        const char *prefix, *s;
        int ok;
    } cases[] = {
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQRS", 1 },
        { "ep_", "ep_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 1 },
        { "ep_", "evt_01JDQ3Z5X0ABCDEFGHJKMNPQRS", 0 },  /* wrong prefix */
        { "ep_", "01JDQ3Z5X0ABCDEFGHJKMNPQRS", 0 },      /* no prefix */
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQR", 0 },    /* 25 */
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQRST", 0 },  /* 27 */
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQRI", 0 },   /* I not in the alphabet */
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQRL", 0 },
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQRO", 0 },
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQRU", 0 },
        { "ep_", "ep_01jdq3z5x0abcdefghjkmnpqrs", 0 },   /* lowercase */
        { "ep_", "ep_01JDQ3Z5X0ABCDEFGHJKMNPQ-S", 0 },
        { "ep_", "ep_", 0 },
        { "ep_", "", 0 },
        { "ep_", NULL, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (psw_id_valid(cases[i].prefix, cases[i].s) != cases[i].ok)
            fail_msg("case %zu \"%s\": want %d", i, cases[i].s ? cases[i].s : "(null)",
                     cases[i].ok);
}

static void test_token_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t max;
        int ok;
    } cases[] = {
        { "evt_optional_client_id", 128, 1 },
        { "A-Z.a-z:0-9_", 128, 1 },
        { "x", 1, 1 },
        { "xy", 1, 0 },          /* over max */
        { "abc", 3, 1 },         /* exactly max */
        { "abcd", 3, 0 },
        { "", 128, 0 },          /* empty */
        { "has space", 128, 0 },
        { "slash/no", 128, 0 },
        { "star*", 128, 0 },
        { "brace{x}", 128, 0 },
        { "new\nline", 128, 0 },
        { "caf\xc3\xa9", 128, 0 },
        { "comma,", 128, 0 },
        { NULL, 128, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (psw_token_valid(cases[i].s, cases[i].max) != cases[i].ok)
            fail_msg("case %zu \"%s\" max %zu: want %d", i, cases[i].s ? cases[i].s : "(null)",
                     cases[i].max, cases[i].ok);

    char s129[130];
    memset(s129, 'a', 129);
    s129[129] = '\0';
    assert_int_equal(psw_token_valid(s129, 128), 0);
    s129[128] = '\0';
    assert_int_equal(psw_token_valid(s129, 128), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_sorts_by_time),
        cmocka_unit_test(test_unique),
        cmocka_unit_test(test_unique_across_fork),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_token_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
