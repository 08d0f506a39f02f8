/*
 * test_termsafe.c — common/termsafe.c: which bytes are shown escaped, how,
 * and that a stream cut anywhere gives the same text as one piece.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/termsafe.h"

static const struct {
    const char *in;
    int keep_nl;
    const char *want;
} CASES[] = {
    { "plain text", 1, "plain text" },
    { "tab\there", 1, "tab\there" },
    { "two\nlines", 1, "two\nlines" },
    { "two\nlines", 0, "two\\x0alines" },
    { "\x1b[1A\x1b[2K\x1b[32mOK", 1, "\\x1b[1A\\x1b[2K\\x1b[32mOK" },
    { "bell\x07 cr\r del\x7f nul-less \x01", 1, "bell\\x07 cr\\x0d del\\x7f nul-less \\x01" },
    { "csi \xc2\x9b" "2J", 1, "csi \\u009b2J" },
    { "c1 edges \xc2\x80 \xc2\x9f \xc2\xa0", 1, "c1 edges \\u0080 \\u009f \xc2\xa0" },
    { "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80", 1, "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80" },
    { "latin1 \x9b \xff \xc0\xaf", 1, "latin1 \\x9b \\xff \\xc0\\xaf" },
    { "surrogate \xed\xa0\x80", 1, "surrogate \\xed\\xa0\\x80" },
    { "cut \xe2\x80", 1, "cut \\xe2\\x80" },
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        size_t n = strlen(CASES[i].in);
        char *out = malloc(4 * n + 1);
        assert_non_null(out);
        size_t len = psw_term_escape(CASES[i].in, n, CASES[i].keep_nl, 0, out, NULL);
        assert_int_equal(len, strlen(out));
        if (strcmp(out, CASES[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, CASES[i].want);
        free(out);
    }
}

/* Fed in pieces of every size, with what an incomplete sequence left over
 * carried to the next piece (as cmd/psw's stream filter does), the output
 * is the same as in one call. */
static void test_streamed(void **state)
{
    (void)state;
    static const char in[] = "a\xc3\xa9\xe2\x80\x94\xc2\x9b\x1b[0m\xf0\x9f\x98\x80\xff\xe2\x80z\n";
    size_t n = sizeof(in) - 1;
    char whole[4 * sizeof(in) + 1];
    psw_term_escape(in, n, 1, 0, whole, NULL);
    for (size_t piece = 1; piece <= n; piece++) {
        char got[8 * sizeof(in)] = "", buf[sizeof(in) + 4], out[4 * sizeof(buf) + 1];
        size_t held = 0;
        for (size_t at = 0; at < n; at += piece) {
            size_t take = n - at < piece ? n - at : piece, used = 0;
            memcpy(buf + held, in + at, take);
            size_t m = held + take;
            int last = at + take >= n;
            psw_term_escape(buf, m, 1, !last, out, &used);
            assert_true(m - used <= 3);
            held = m - used;
            memmove(buf, buf + used, held);
            strcat(got, out);
        }
        assert_int_equal(held, 0);
        if (strcmp(got, whole) != 0)
            fail_msg("pieces of %zu: \"%s\", want \"%s\"", piece, got, whole);
    }
}

static void test_utf8_len(void **state)
{
    (void)state;
    const unsigned char *s = (const unsigned char *)"\xe2\x80\x94";
    assert_int_equal(psw_utf8_len(s, 3), 3);
    assert_int_equal(psw_utf8_len(s, 2), -1);
    assert_int_equal(psw_utf8_len(s, 0), -1);
    assert_int_equal(psw_utf8_len((const unsigned char *)"\x80", 1), 0);
    assert_int_equal(psw_utf8_len((const unsigned char *)"\xe0\x80\x80", 3), 0); /* overlong */
    assert_int_equal(psw_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
    assert_true(psw_utf8_is_c1((const unsigned char *)"\xc2\x85", 2));
    assert_false(psw_utf8_is_c1((const unsigned char *)"\xc2\xa0", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_streamed),
        cmocka_unit_test(test_utf8_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
