/*
 * test_sign_std.c — Standard Webhooks signatures (common/sign_std.h) and
 * static request headers (common/headers.h): the published test vector,
 * rotation headers, Ed25519 round trips and tampering, and a table of
 * header lines that must be refused with the reason each gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/sign_std.h"

#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* The example of the Standard Webhooks specification (also what the npm
 * library computes for it). */
static void test_standard_vector(void **state)
{
    (void)state;
    char out[PSW_SIGNATURE_SIZE];
    const char *keys[] = { VEC_SECRET };
    assert_int_equal(psw_sign_std_header(PSW_SIGNING_STANDARD, keys, 1, VEC_ID, VEC_TS, VEC_BODY,
                                         strlen(VEC_BODY), out, sizeof(out)),
                     (int)strlen(VEC_SIG));
    assert_string_equal(out, VEC_SIG);
    assert_int_equal(psw_sign_std_verify(VEC_SIG, VEC_ID, "1614265330", VEC_BODY,
                                         strlen(VEC_BODY), VEC_SECRET, 300, VEC_TS + 10),
                     PSW_VERIFY_OK);
    assert_int_equal(psw_sign_std_verify(VEC_SIG, VEC_ID, "1614265330", "{\"test\": 2432232315}",
                                         strlen(VEC_BODY), VEC_SECRET, 300, VEC_TS),
                     PSW_VERIFY_NO_MATCH);
    assert_int_equal(psw_sign_std_verify(VEC_SIG, "msg_other", "1614265330", VEC_BODY,
                                         strlen(VEC_BODY), VEC_SECRET, 300, VEC_TS),
                     PSW_VERIFY_NO_MATCH);
    assert_int_equal(psw_sign_std_verify(VEC_SIG, VEC_ID, "1614265330", VEC_BODY,
                                         strlen(VEC_BODY), VEC_SECRET, 300, VEC_TS + 301),
                     PSW_VERIFY_TOO_OLD);
    assert_int_equal(psw_sign_std_verify(VEC_SIG, VEC_ID, "1614265330", VEC_BODY,
                                         strlen(VEC_BODY), VEC_SECRET, 300, VEC_TS - 301),
                     PSW_VERIFY_TOO_NEW);
}

static void test_standard_rotation_and_format(void **state)
{
    (void)state;
    char a[PSW_SECRET_SIZE], b[PSW_SECRET_SIZE], out[PSW_SIGNATURE_SIZE];
    assert_int_equal(psw_secret_generate(a), 0);
    assert_int_equal(psw_secret_generate(b), 0);
    const char *keys[] = { a, b };
    int n = psw_sign_std_header(PSW_SIGNING_STANDARD, keys, 2, "evt_1", 1000, "{}", 2, out,
                                sizeof(out));
    assert_int_equal(n, 2 * (3 + 44) + 1);
    assert_non_null(strchr(out, ' '));
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{}", 2, a, 300, 1000),
                     PSW_VERIFY_OK);
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{}", 2, b, 300, 1000),
                     PSW_VERIFY_OK);
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{}", 2, VEC_SECRET, 300, 1000),
                     PSW_VERIFY_NO_MATCH);
    /* unknown versions are skipped, malformed entries are not */
    assert_int_equal(psw_sign_std_verify(VEC_SIG " v9,xyz", VEC_ID, "1614265330", VEC_BODY,
                                         strlen(VEC_BODY), VEC_SECRET, 300, VEC_TS),
                     PSW_VERIFY_OK);
    assert_int_equal(psw_sign_std_verify("v1", VEC_ID, "1614265330", VEC_BODY, strlen(VEC_BODY),
                                         VEC_SECRET, 300, VEC_TS),
                     PSW_VERIFY_BAD_FORMAT);
    assert_int_equal(psw_sign_std_verify(VEC_SIG, VEC_ID, "16142x", VEC_BODY, strlen(VEC_BODY),
                                         VEC_SECRET, 300, VEC_TS),
                     PSW_VERIFY_BAD_FORMAT);
    /* a secret that is not whsec_<base64> cannot sign in this mode */
    const char *bad[] = { "whsec_not*base64" };
    assert_int_equal(psw_sign_std_header(PSW_SIGNING_STANDARD, bad, 1, "evt_1", 1000, "{}", 2,
                                         out, sizeof(out)),
                     -1);
    char err[256];
    assert_int_equal(psw_std_secret_check(a, err, sizeof(err)), 0);
    assert_int_equal(psw_std_secret_check("whsec_c2hvcnQ=", err, sizeof(err)), -1);
    assert_int_equal(psw_std_secret_check("secret-without-prefix-0123456789", err, sizeof(err)),
                     -1);
}

static void test_ed25519_round_trip(void **state)
{
    (void)state;
    char priv[PSW_ED25519_KEY_SIZE], pub[PSW_PUBLIC_KEY_SIZE], pub2[PSW_PUBLIC_KEY_SIZE];
    char priv2[PSW_ED25519_KEY_SIZE], out[PSW_SIGNATURE_SIZE];
    assert_int_equal(psw_ed25519_generate(priv, pub), 0);
    assert_int_equal(psw_ed25519_generate(priv2, pub2), 0);
    assert_int_equal(strncmp(pub, "whpk_", 5), 0);
    assert_string_not_equal(pub, pub2);
    const char *keys[] = { priv };
    int n = psw_sign_std_header(PSW_SIGNING_ED25519, keys, 1, "evt_1", 1000, "{\"a\":1}", 7, out,
                                sizeof(out));
    assert_int_equal(n, 4 + 88);
    assert_int_equal(strncmp(out, "v1a,", 4), 0);
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{\"a\":1}", 7, pub, 300, 1000),
                     PSW_VERIFY_OK);
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{\"a\":2}", 7, pub, 300, 1000),
                     PSW_VERIFY_NO_MATCH);
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1001", "{\"a\":1}", 7, pub, 300, 1000),
                     PSW_VERIFY_NO_MATCH);
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{\"a\":1}", 7, pub2, 300, 1000),
                     PSW_VERIFY_NO_MATCH);
    /* an HMAC secret does not verify a v1a entry */
    assert_int_equal(psw_sign_std_verify(out, "evt_1", "1000", "{\"a\":1}", 7, VEC_SECRET, 300,
                                         1000),
                     PSW_VERIFY_NO_MATCH);
}

static void test_signing_names(void **state)
{
    (void)state;
    enum psw_signing s;
    char err[128];
    assert_int_equal(psw_signing_parse("", &s, err, sizeof(err)), 0);
    assert_int_equal(s, PSW_SIGNING_POSTSTACK);
    assert_int_equal(psw_signing_parse("ed25519", &s, err, sizeof(err)), 0);
    assert_string_equal(psw_signing_name(s), "ed25519");
    assert_int_equal(psw_signing_parse("Standard", &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "poststack, standard or ed25519"));
}

/* ---- headers ------------------------------------------------------------ */

static void test_headers_normalized(void **state)
{
    (void)state;
    char out[PSW_HEADERS_SIZE], err[256];
    const char *in[] = { "Authorization:   Basic dXNlcjpwYXNz  ", "X-Tenant:t1" };
    assert_int_equal(psw_headers_normalize(in, 2, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "Authorization: Basic dXNlcjpwYXNz\nX-Tenant: t1");
    assert_int_equal(psw_headers_normalize(NULL, 0, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "");

    char masked[128];
    psw_header_mask("Authorization: Basic dXNlcjpwYXNz", 33, masked, sizeof(masked));
    assert_string_equal(masked, "Authorization: Bas\xe2\x80\xa6***");
    psw_header_mask("X-Tenant: t1", 12, masked, sizeof(masked));
    assert_string_equal(masked, "X-Tenant: \xe2\x80\xa6***");
}

static void test_headers_refused(void **state)
{
    (void)state;
    static const struct {
        const char *line, *why;
    } cases[] = {
        { "X-A: one\r\nX-Injected: two", "CR or LF" },
        { "X-A: one\ntwo", "CR or LF" },
        { "no colon here", "not of the form" },
        { ": value", "not of the form" },
        { "Bad Name: v", "not a valid header name" },
        { "X-A: ", "the value is empty" },
        { "X-A: a\x01b", "control character" },
        { "Content-Type: text/plain", "set by the service" },
        { "user-agent: x", "set by the service" },
        { "X-PostStack-Signature: t=1,v1=00", "set by the service" },
        { "Webhook-Signature: v1,AAAA", "set by the service" },
        { "Host: evil.example", "set by the service" },
        { "Content-Length: 1", "set by the service" },
        { "Transfer-Encoding: chunked", "set by the service" },
    };
    char out[PSW_HEADERS_SIZE], err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *in[] = { cases[i].line };
        err[0] = '\0';
        if (psw_headers_normalize(in, 1, out, sizeof(out), err, sizeof(err)) != -1 ||
            !strstr(err, cases[i].why))
            fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i, cases[i].line, err,
                     cases[i].why);
    }
    const char *twice[] = { "X-A: 1", "x-a: 2" };
    assert_int_equal(psw_headers_normalize(twice, 2, out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "given twice"));
    const char *many[PSW_HEADERS_MAX + 1];
    char names[PSW_HEADERS_MAX + 1][24];
    for (int i = 0; i <= PSW_HEADERS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "X-H%d: v", i);
        many[i] = names[i];
    }
    assert_int_equal(psw_headers_normalize(many, PSW_HEADERS_MAX, out, sizeof(out), err,
                                           sizeof(err)),
                     0);
    assert_int_equal(psw_headers_normalize(many, PSW_HEADERS_MAX + 1, out, sizeof(out), err,
                                           sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "at most 20"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_vector),
        cmocka_unit_test(test_standard_rotation_and_format),
        cmocka_unit_test(test_ed25519_round_trip),
        cmocka_unit_test(test_signing_names),
        cmocka_unit_test(test_headers_normalized),
        cmocka_unit_test(test_headers_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
