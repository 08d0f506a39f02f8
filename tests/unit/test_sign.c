/*
 * test_sign.c — common/sign.c: known-answer HMAC vectors, the header format
 * with one and two secrets, verification (tolerance edges, tampering, a table
 * of malformed headers), secret generation and secret checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/sign.h"

/*
 * Known answers, each computed independently by two tools that agreed:
 *
 *   printf '%s' "$t.$body" | openssl dgst -sha256 -hmac "$secret"
 *   S="$secret" T="$t" B="$body" node -e "console.log(require('crypto')
 *       .createHmac('sha256', process.env.S).update(process.env.T+'.'+process.env.B)
 *       .digest('hex'))"
 *
 * (OpenSSL 3.0.22, Node.js v20.20.2, bash with a UTF-8 locale.)
 */
struct kat {
    const char *secret;
    int64_t t;
    const char *body;
    const char *hex;
};

/* secret='whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' t=1700000000
 * body='{"id":"evt_1","type":"email.sent"}' */
#define BODY1 "{\"id\":\"evt_1\",\"type\":\"email.sent\"}"
#define SECRET1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define T1 1700000000
#define HEX1 "fbc8c9fbde87adc403ecb5adf5ebdecdd8bd01f5485e39dd35dfeda771f35313"

/* secret='whsec_0ldRotatedSecret/kept+24h=' t=1700000000, same body: the
 * "previous" secret of a rotation. */
#define SECRET_OLD "whsec_0ldRotatedSecret/kept+24h="
#define HEX1_OLD "bba167fee24d622f9ba9046ee4001b2bbdcde5d0bbf17b8a19e0fb374df4a983"

static const struct kat kats[] = {
    { SECRET1, T1, BODY1, HEX1 },
    { SECRET_OLD, T1, BODY1, HEX1_OLD },
    /* secret='whsec_plmXbq0Y4Tq+3kQ/9sZ1Jw==' t=1764255845
     * body='{"subject":"Grüße — café ☕"}' — the bytes below are its UTF-8
     * (checked with od -tx1); split literals stop \x from eating a letter. */
    { "whsec_plmXbq0Y4Tq+3kQ/9sZ1Jw==", 1764255845,
      "{\"subject\":\"Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 caf\xc3\xa9 \xe2\x98\x95\"}",
      "b259d61ed7c0e37eeeb89e88806930512f0319db7a6dc52f87a79b224c12b4a9" },
    /* secret='a-user-set-secret-123' t=1234567890 body='' */
    { "a-user-set-secret-123", 1234567890, "",
      "94bb89d2108620046170441de43b70e0388b83ae3cdd6dd75bc7cd43952c0543" },
};

static void test_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
        const char *secrets[] = { kats[i].secret };
        char out[PSW_SIGNATURE_SIZE], want[PSW_SIGNATURE_SIZE];
        snprintf(want, sizeof(want), "t=%lld,v1=%s", (long long)kats[i].t, kats[i].hex);
        int n = psw_sign_header(secrets, 1, kats[i].t, kats[i].body, strlen(kats[i].body), out,
                                sizeof(out));
        assert_int_equal(n, (int)strlen(want));
        assert_string_equal(out, want);
        assert_int_equal(psw_sign_verify(want, kats[i].body, strlen(kats[i].body),
                                         kats[i].secret, 300, kats[i].t),
                         PSW_VERIFY_OK);
    }
}

/* The MAC context is kept between calls and keyed again only when the secret
 * changes: the same secret twice in a row, a secret that is a prefix of the
 * previous one, and back again must each give their own known answer. */
static void test_key_kept_between_calls(void **state)
{
    (void)state;
    static const struct kat seq[] = {
        { "a-user-set-secret-123", 1234567890, "",
          "94bb89d2108620046170441de43b70e0388b83ae3cdd6dd75bc7cd43952c0543" },
        { "a-user-set-secret-123", 1234567890, "",
          "94bb89d2108620046170441de43b70e0388b83ae3cdd6dd75bc7cd43952c0543" },
        /* printf '%s' "1234567890." | openssl dgst -sha256 -hmac "a-user-set-secret-12" */
        { "a-user-set-secret-12", 1234567890, "",
          "6048047542eed1ed26f65b57d00e200a7e567ef85f6bc9596b6362ab4b471b60" },
        { SECRET1, T1, BODY1, HEX1 },
        { SECRET1, T1, BODY1, HEX1 },
        { "a-user-set-secret-123", 1234567890, "",
          "94bb89d2108620046170441de43b70e0388b83ae3cdd6dd75bc7cd43952c0543" },
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        const char *secrets[] = { seq[i].secret };
        char out[PSW_SIGNATURE_SIZE], want[PSW_SIGNATURE_SIZE];
        snprintf(want, sizeof(want), "t=%lld,v1=%s", (long long)seq[i].t, seq[i].hex);
        psw_sign_header(secrets, 1, seq[i].t, seq[i].body, strlen(seq[i].body), out, sizeof(out));
        assert_string_equal(out, want);
    }
}

static void test_header_one_secret(void **state)
{
    (void)state;
    const char *secrets[] = { SECRET1 };
    char out[PSW_SIGNATURE_SIZE];
    int n = psw_sign_header(secrets, 1, T1, BODY1, strlen(BODY1), out, sizeof(out));
    assert_string_equal(out, "t=1700000000,v1=" HEX1);
    assert_int_equal(n, 2 + 10 + 4 + 64);
}

static void test_header_two_secrets_newest_first(void **state)
{
    (void)state;
    const char *secrets[] = { SECRET1, SECRET_OLD };
    char out[PSW_SIGNATURE_SIZE];
    int n = psw_sign_header(secrets, 2, T1, BODY1, strlen(BODY1), out, sizeof(out));
    assert_string_equal(out, "t=1700000000,v1=" HEX1 ",v1=" HEX1_OLD);
    assert_int_equal(n, (int)strlen(out));

    /* The order given is the order written. */
    const char *swapped[] = { SECRET_OLD, SECRET1 };
    psw_sign_header(swapped, 2, T1, BODY1, strlen(BODY1), out, sizeof(out));
    assert_string_equal(out, "t=1700000000,v1=" HEX1_OLD ",v1=" HEX1);
}

static void test_verify_either_secret_of_rotation(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" HEX1 ",v1=" HEX1_OLD;
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), SECRET1, 300, T1), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), SECRET_OLD, 300, T1),
                     PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), "whsec_someone-else-entirely", 300,
                                     T1),
                     PSW_VERIFY_NO_MATCH);
}

static void test_sign_header_limits(void **state)
{
    (void)state;
    const char *five[] = { SECRET1, SECRET1, SECRET1, SECRET1, SECRET1 };
    char out[PSW_SIGNATURE_SIZE];

    assert_int_equal(psw_sign_header(five, 0, T1, BODY1, strlen(BODY1), out, sizeof(out)), -1);
    assert_int_equal(psw_sign_header(five, 5, T1, BODY1, strlen(BODY1), out, sizeof(out)), -1);
    /* Four secrets, the maximum, fit PSW_SIGNATURE_SIZE. */
    int n = psw_sign_header(five, 4, T1, BODY1, strlen(BODY1), out, sizeof(out));
    assert_int_equal(n, 12 + 4 * 68); /* "t=1700000000" + 4 × ",v1=<64 hex>" */
    assert_string_equal(out, "t=1700000000,v1=" HEX1 ",v1=" HEX1 ",v1=" HEX1 ",v1=" HEX1);

    /* Exactly enough room (length + NUL) works; one byte less does not. */
    size_t need = strlen("t=1700000000,v1=" HEX1) + 1;
    assert_int_equal(psw_sign_header(five, 1, T1, BODY1, strlen(BODY1), out, need),
                     (int)need - 1);
    assert_string_equal(out, "t=1700000000,v1=" HEX1);
    assert_int_equal(psw_sign_header(five, 1, T1, BODY1, strlen(BODY1), out, need - 1), -1);
    assert_string_equal(out, "");
    assert_int_equal(psw_sign_header(five, 1, -1, BODY1, strlen(BODY1), out, sizeof(out)), -1);
}

static void test_tolerance_edges(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" HEX1;
    size_t bl = strlen(BODY1);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, T1 + 299), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, T1 + 300), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, T1 + 301), PSW_VERIFY_TOO_OLD);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, T1 - 299), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, T1 - 300), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, T1 - 301), PSW_VERIFY_TOO_NEW);
    /* Time is checked before the MAC: a wrong secret out of time is TOO_OLD. */
    assert_int_equal(psw_sign_verify(h, BODY1, bl, "whsec_wrong-wrong-wrong", 300, T1 + 301),
                     PSW_VERIFY_TOO_OLD);
    /* tolerance 0: only the exact second. */
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 0, T1), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 0, T1 + 1), PSW_VERIFY_TOO_OLD);
    /* Extreme clocks do not overflow. */
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, INT64_MAX), PSW_VERIFY_TOO_OLD);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, 300, INT64_MIN), PSW_VERIFY_TOO_NEW);
    assert_int_equal(psw_sign_verify(h, BODY1, bl, SECRET1, INT64_MAX, 0), PSW_VERIFY_OK);
}

static void test_tampering(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" HEX1;
    char body[sizeof(BODY1)];
    char sig[sizeof("t=1700000000,v1=" HEX1)];

    /* One byte of the body changed ("evt_1" → "evt_2"). */
    memcpy(body, BODY1, sizeof(body));
    char *p = strchr(body, '1');
    assert_non_null(p);
    *p = '2';
    assert_int_equal(psw_sign_verify(h, body, strlen(body), SECRET1, 300, T1),
                     PSW_VERIFY_NO_MATCH);
    /* The body one byte shorter. */
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1) - 1, SECRET1, 300, T1),
                     PSW_VERIFY_NO_MATCH);

    /* Each hex digit of the signature changed in turn. */
    for (size_t i = 16; i < strlen(h); i++) {
        memcpy(sig, h, sizeof(sig));
        sig[i] = sig[i] == '0' ? '1' : '0';
        assert_int_equal(psw_sign_verify(sig, BODY1, strlen(BODY1), SECRET1, 300, T1),
                         PSW_VERIFY_NO_MATCH);
    }
    /* The timestamp changed (still in tolerance): the MAC covers it. */
    assert_int_equal(psw_sign_verify("t=1700000001,v1=" HEX1, BODY1, strlen(BODY1), SECRET1, 300,
                                     T1),
                     PSW_VERIFY_NO_MATCH);
    /* Wrong secret, and a secret that differs only by its last character. */
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx",
                                     300, T1),
                     PSW_VERIFY_NO_MATCH);
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
                                     300, T1),
                     PSW_VERIFY_NO_MATCH);
}

static void test_uppercase_hex_and_order(void **state)
{
    (void)state;
    char h[PSW_SIGNATURE_SIZE];
    snprintf(h, sizeof(h), "t=1700000000,v1=%s", HEX1);
    for (char *p = h + 16; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), SECRET1, 300, T1), PSW_VERIFY_OK);
    /* v1 before t is still one t and one v1. */
    assert_int_equal(psw_sign_verify("v1=" HEX1 ",t=1700000000", BODY1, strlen(BODY1), SECRET1,
                                     300, T1),
                     PSW_VERIFY_OK);
    /* The MAC covers t's digits exactly as written (docs/receiving.md: t "." body), as
     * every receiver example computes it: the same second spelled with
     * leading zeros is a different message and does not match HEX1. */
    assert_int_equal(psw_sign_verify("t=001700000000,v1=" HEX1, BODY1, strlen(BODY1), SECRET1,
                                     300, T1),
                     PSW_VERIFY_NO_MATCH);
}

static void test_unknown_schemes_skipped(void **state)
{
    (void)state;
    const char *ok[] = {
        "t=1700000000,v0=deadbeef,v1=" HEX1,
        "t=1700000000,v1=" HEX1 ",v2=anything-goes_here",
        "v2=x,t=1700000000,v1=" HEX1 ",v0=",
        /* a v2 that carries a v1-looking value does not count as a v1 */
        "t=1700000000,v1=" HEX1_OLD ",v2=" HEX1,
    };
    const enum psw_verify_result want[] = {
        PSW_VERIFY_OK, PSW_VERIFY_OK, PSW_VERIFY_OK, PSW_VERIFY_NO_MATCH,
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum psw_verify_result r = psw_sign_verify(ok[i], BODY1, strlen(BODY1), SECRET1, 300, T1);
        if (r != want[i])
            fail_msg("header %zu \"%s\": got %d (%s), want %d", i, ok[i], r,
                     psw_verify_result_str(r), want[i]);
    }
}

static void test_malformed_headers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "t=",
        "v1=abc",
        "v1=" HEX1,                                  /* no t */
        "t=1700000000",                              /* no v1 */
        "t=1700000000,t=1700000000,v1=" HEX1,        /* two t's */
        "t=1700000000,v1=" HEX1 ",t=1700000000",     /* two t's, apart */
        "t=17000000a0,v1=" HEX1,                     /* t with a letter */
        "t=abc,v1=" HEX1,
        "t=-1700000000,v1=" HEX1,                    /* negative t */
        "t=+1700000000,v1=" HEX1,                    /* signed t */
        "t= 1700000000,v1=" HEX1,                    /* space in t */
        "t=1700000000000,v1=" HEX1,                  /* 13 digits */
        "t=1700000000,v1=" "fbc8c9fbde87adc403ecb5adf5ebdecdd8bd01f5485e39dd35dfeda771f3531",
        "t=1700000000,v1=" HEX1 "3",                 /* 65 hex chars */
        "t=1700000000,v1=" "gbc8c9fbde87adc403ecb5adf5ebdecdd8bd01f5485e39dd35dfeda771f35313",
        "t=1700000000,v1=",                          /* empty v1 */
        "t=1700000000,,v1=" HEX1,                    /* empty item */
        ",t=1700000000,v1=" HEX1,                    /* leading empty item */
        "t=1700000000,v1=" HEX1 ",",                 /* trailing empty item */
        ",,",
        "t=1700000000,v1" HEX1,                      /* missing '=' */
        "t1700000000,v1=" HEX1,
        "t=1700000000,garbage,v1=" HEX1,
        "t=1700000000,=x,v1=" HEX1,                  /* empty scheme name */
        "v0=abc,v2=def",                             /* only unknown schemes */
        "t=1700000000,v0=" HEX1,                     /* t but only unknown schemes */
        "T=1700000000,v1=" HEX1,                     /* names are case-sensitive */
        "t=1700000000, v1=" HEX1,                    /* space before a scheme */
        "t=1700000000,v1=" HEX1 " ",                 /* trailing space */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum psw_verify_result r = psw_sign_verify(bad[i], BODY1, strlen(BODY1), SECRET1, 300, T1);
        if (r != PSW_VERIFY_BAD_FORMAT)
            fail_msg("header %zu \"%s\": got %d (%s), want BAD_FORMAT", i, bad[i], r,
                     psw_verify_result_str(r));
    }
    assert_int_equal(psw_sign_verify(NULL, BODY1, strlen(BODY1), SECRET1, 300, T1),
                     PSW_VERIFY_BAD_FORMAT);
}

static int is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

static void test_secret_generate(void **state)
{
    (void)state;
    char a[PSW_SECRET_SIZE], b[PSW_SECRET_SIZE];
    char err[128];

    assert_int_equal(psw_secret_generate(a), 0);
    assert_int_equal(psw_secret_generate(b), 0);
    for (int k = 0; k < 2; k++) {
        const char *s = k ? b : a;
        assert_int_equal(strlen(s), 50);
        assert_memory_equal(s, "whsec_", 6);
        /* 32 bytes → 43 base64 characters and one '=' of padding. */
        for (size_t i = 6; i < 49; i++)
            if (!is_b64(s[i]))
                fail_msg("secret %s: character %zu '%c' is not base64", s, i, s[i]);
        assert_int_equal(s[49], '=');
        /* A generated secret passes the user-secret rules. */
        assert_int_equal(psw_secret_check(s, err, sizeof(err)), 0);
    }
    assert_string_not_equal(a, b);

    /* A generated secret signs and verifies. */
    const char *secrets[] = { a };
    char h[PSW_SIGNATURE_SIZE];
    assert_true(psw_sign_header(secrets, 1, T1, BODY1, strlen(BODY1), h, sizeof(h)) > 0);
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), a, 300, T1), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(h, BODY1, strlen(BODY1), b, 300, T1), PSW_VERIFY_NO_MATCH);
}

static void test_secret_check(void **state)
{
    (void)state;
    char long256[257], long257[258];
    memset(long256, 'k', 256);
    long256[256] = '\0';
    memset(long257, 'k', 257);
    long257[257] = '\0';

    static const struct {
        const char *secret;
        int ok;
        const char *msg; /* a substring of the error */
    } cases[] = {
        { "0123456789abcdef", 1, NULL },                 /* exactly 16 */
        { "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1, NULL },
        { "!#$%&'()*+-./:;<=>?@[\\]^_`{|}~", 1, NULL },  /* punctuation but comma */
        { "0123456789abcde", 0, "too short" },           /* 15 */
        { "", 0, "too short" },
        { "has a space in it!!", 0, "position 4" },
        { "comma,in,the,secret", 0, "position 6" },
        { "tab\tinside-the-secret", 0, "position 4" },
        { "newline-at-end-of-it\n", 0, "position 21" },
        { "non-ascii-caf\xc3\xa9-secret", 0, "position 14" },
        { "del-char-\x7f-in-secret", 0, "position 10" },
    };
    char err[160];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        int rc = psw_secret_check(cases[i].secret, err, sizeof(err));
        if (cases[i].ok) {
            if (rc != 0)
                fail_msg("case %zu \"%s\" rejected: %s", i, cases[i].secret, err);
        } else {
            if (rc != -1)
                fail_msg("case %zu \"%s\" accepted", i, cases[i].secret);
            if (!strstr(err, cases[i].msg))
                fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].msg);
        }
    }
    assert_int_equal(psw_secret_check(long256, err, sizeof(err)), 0);
    assert_int_equal(psw_secret_check(long257, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(psw_secret_check(NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing"));
}

static void test_result_strings(void **state)
{
    (void)state;
    assert_string_equal(psw_verify_result_str(PSW_VERIFY_OK), "valid");
    assert_string_equal(psw_verify_result_str(PSW_VERIFY_BAD_FORMAT),
                        "bad signature header format");
    assert_string_equal(psw_verify_result_str(PSW_VERIFY_TOO_OLD), "timestamp too old");
    assert_string_equal(psw_verify_result_str(PSW_VERIFY_TOO_NEW), "timestamp in the future");
    assert_string_equal(psw_verify_result_str(PSW_VERIFY_NO_MATCH), "no matching signature");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_key_kept_between_calls),
        cmocka_unit_test(test_header_one_secret),
        cmocka_unit_test(test_header_two_secrets_newest_first),
        cmocka_unit_test(test_verify_either_secret_of_rotation),
        cmocka_unit_test(test_sign_header_limits),
        cmocka_unit_test(test_tolerance_edges),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_uppercase_hex_and_order),
        cmocka_unit_test(test_unknown_schemes_skipped),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_secret_generate),
        cmocka_unit_test(test_secret_check),
        cmocka_unit_test(test_result_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
