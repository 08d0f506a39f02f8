/*
 * fuzz_signature.c — libFuzzer harness for the X-PostStack-Signature header
 * (common/sign.c) and Retry-After values (common/retry.c).
 *
 * Input layout: one mode byte, then up to four NUL-separated parts
 *     header \0 body \0 secret \0 retry-after
 * (missing parts are empty). The mode byte picks the verifier's clock and
 * tolerance from a small table that includes the extremes (0, negative,
 * INT64_MIN/MAX), so the time checks see overflow-prone values.
 *
 * Properties:
 *  - psw_sign_verify returns one of the five results and never reads past
 *    the header's NUL (ASan);
 *  - OK only with a well-formed header whose t lies within the tolerance;
 *  - psw_sign_header(secret, ts, body) verifies OK with that secret at ts,
 *    NO_MATCH with another secret or a changed body, TOO_OLD / TOO_NEW one
 *    second outside the tolerance, and is exactly "t=<ts>,v1=<64 hex>";
 *  - two secrets: the header verifies with either;
 *  - a secret psw_secret_check accepts is 16..256 printable ASCII without
 *    space or comma;
 *  - psw_retry_after_parse: delta seconds are never before now, and no
 *    value lies more than ten years after it.
 */
#include "tests/fuzz/fuzz.h"

#include <limits.h>

#include "common/retry.h"
#include "common/sign.h"

#define SIG_TS_MAX 999999999999LL /* the 12 digits a header's t= may have */
#define SIG_TEN_YEARS_MS (10LL * 365 * 86400 * 1000) /* retry.c's Retry-After cap */

static const int64_t sig_nows[] = { 1700000000LL, 0, 1, -1, INT64_MAX, INT64_MIN,
                                    SIG_TS_MAX, 4102444800LL };
static const int64_t sig_tols[] = { 300, 0, 1, -5, INT64_MAX, INT64_MIN, 86400, 299 };

/* The next NUL-separated part of [*p, end): returns its start and length
 * (pointing into the caller's NUL-terminated copy). */
static const char *sig_part(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    if (s >= end) {
        *len = 0;
        return end; /* the copy's terminating NUL */
    }
    const char *nul = memchr(s, '\0', (size_t)(end - s));
    *len = nul ? (size_t)(nul - s) : (size_t)(end - s);
    *p = nul ? nul + 1 : end;
    return s;
}

/* The value of the header's first item t=<1..12 digits>: used only to state
 * what OK implies. */
static int sig_header_t(const char *h, int64_t *t)
{
    const char *p = h;
    for (;;) {
        if (p[0] == 't' && p[1] == '=') {
            const char *d = p + 2;
            int64_t v = 0;
            size_t n = 0;
            while (d[n] >= '0' && d[n] <= '9' && n < 13)
                v = v * 10 + (d[n++] - '0');
            if (n == 0 || n > 12 || (d[n] != ',' && d[n] != '\0'))
                return -1;
            *t = v;
            return 0;
        }
        p = strchr(p, ',');
        if (!p)
            return -1;
        p++;
    }
}

static void sig_check_verify_result(enum psw_verify_result r)
{
    FUZZ_REQUIRE(r == PSW_VERIFY_OK || r == PSW_VERIFY_BAD_FORMAT || r == PSW_VERIFY_TOO_OLD ||
                     r == PSW_VERIFY_TOO_NEW || r == PSW_VERIFY_NO_MATCH,
                 "unknown result %d", (int)r);
    const char *s = psw_verify_result_str(r);
    FUZZ_REQUIRE(s && s[0], "no text for result %d", (int)r);
}

/* |a - b| <= tol without overflow (tol >= 0). */
static int sig_within(int64_t a, int64_t b, int64_t tol)
{
    uint64_t d = a >= b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
    return d <= (uint64_t)tol;
}

static void sig_property(const char *body, size_t body_len, const char *secret, int64_t ts)
{
    const char *one[1] = { secret };
    char hdr[PSW_SIGNATURE_SIZE], other[PSW_SECRET_MAX_LEN + 8];
    int n = psw_sign_header(one, 1, ts, body, body_len, hdr, sizeof(hdr));
    if (n < 0) {
        /* Only an empty key may be refused (OpenSSL's HMAC wants one byte). */
        FUZZ_REQUIRE(secret[0] == '\0', "sign_header failed with secret of %zu bytes",
                     strlen(secret));
        return;
    }
    FUZZ_REQUIRE((size_t)n == strlen(hdr), "returned length %d, header %zu", n, strlen(hdr));
    char ts_text[32];
    int tl = snprintf(ts_text, sizeof(ts_text), "t=%lld,v1=", (long long)ts);
    FUZZ_REQUIRE(n == tl + 64 && memcmp(hdr, ts_text, (size_t)tl) == 0, "header %s", hdr);
    for (int i = tl; i < n; i++)
        FUZZ_REQUIRE((hdr[i] >= '0' && hdr[i] <= '9') || (hdr[i] >= 'a' && hdr[i] <= 'f'),
                     "non-hex in %s", hdr);

    enum psw_verify_result r = psw_sign_verify(hdr, body, body_len, secret, 300, ts);
    FUZZ_REQUIRE(r == PSW_VERIFY_OK, "own header does not verify: %s (%s)",
                 psw_verify_result_str(r), hdr);
    r = psw_sign_verify(hdr, body, body_len, secret, 300, ts + 301);
    FUZZ_REQUIRE(r == PSW_VERIFY_TOO_OLD, "301 s late: %s", psw_verify_result_str(r));
    if (ts >= 301) {
        r = psw_sign_verify(hdr, body, body_len, secret, 300, ts - 301);
        FUZZ_REQUIRE(r == PSW_VERIFY_TOO_NEW, "301 s early: %s", psw_verify_result_str(r));
    }
    /* Another secret: the same one with a byte appended. */
    snprintf(other, sizeof(other), "%sx", secret);
    r = psw_sign_verify(hdr, body, body_len, other, 300, ts);
    FUZZ_REQUIRE(r == PSW_VERIFY_NO_MATCH, "another secret: %s", psw_verify_result_str(r));
    /* A changed body: one byte shorter, or one byte flipped. */
    if (body_len > 0) {
        r = psw_sign_verify(hdr, body, body_len - 1, secret, 300, ts);
        FUZZ_REQUIRE(r == PSW_VERIFY_NO_MATCH, "shorter body: %s", psw_verify_result_str(r));
    }

    /* Rotation: the new secret first, then the old one; either verifies. */
    const char *two[2] = { other, secret };
    char hdr2[PSW_SIGNATURE_SIZE];
    n = psw_sign_header(two, 2, ts, body, body_len, hdr2, sizeof(hdr2));
    FUZZ_REQUIRE(n == tl + 64 + 4 + 64, "two-secret header %s", hdr2);
    FUZZ_REQUIRE(psw_sign_verify(hdr2, body, body_len, secret, 0, ts) == PSW_VERIFY_OK,
                 "old secret of two");
    FUZZ_REQUIRE(psw_sign_verify(hdr2, body, body_len, other, 0, ts) == PSW_VERIFY_OK,
                 "new secret of two");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    char *copy = fuzz_strndup(data + 1, size - 1);
    const char *p = copy, *end = copy + size - 1;
    size_t hlen, blen, slen, rlen;
    const char *header = sig_part(&p, end, &hlen);
    const char *body = sig_part(&p, end, &blen);
    const char *secret = sig_part(&p, end, &slen);
    const char *retry = sig_part(&p, end, &rlen);
    int64_t now = sig_nows[mode & 7];
    int64_t tol = sig_tols[(mode >> 3) & 7];
    char err[256];

    /* Verification of an arbitrary header. */
    enum psw_verify_result r = psw_sign_verify(header, body, blen, secret, tol, now);
    sig_check_verify_result(r);
    if (r == PSW_VERIFY_OK) {
        int64_t t;
        FUZZ_REQUIRE(sig_header_t(header, &t) == 0, "OK without a t=: %s", header);
        FUZZ_REQUIRE(sig_within(t, now, tol < 0 ? 0 : tol), "OK outside the tolerance: %s",
                     header);
    }
    /* A NULL body with a length is refused, never dereferenced. */
    r = psw_sign_verify(header, NULL, blen + 1, secret, tol, now);
    FUZZ_REQUIRE(r != PSW_VERIFY_OK, "NULL body verified");

    /* Secret rules. */
    if (psw_secret_check(secret, err, sizeof(err)) == 0) {
        FUZZ_REQUIRE(slen >= PSW_SECRET_MIN_LEN && slen <= PSW_SECRET_MAX_LEN, "length %zu",
                     slen);
        for (size_t i = 0; i < slen; i++)
            FUZZ_REQUIRE(secret[i] > 0x20 && secret[i] < 0x7f && secret[i] != ',',
                         "byte 0x%02x accepted", (unsigned char)secret[i]);
    } else {
        FUZZ_REQUIRE(err[0] != '\0', "secret refused without a message");
    }

    /* Sign → verify, at a timestamp the header can carry. */
    if (slen <= PSW_SECRET_MAX_LEN) {
        int64_t ts = now >= 0 && now <= SIG_TS_MAX ? now : 1700000000LL;
        sig_property(body, blen, secret, ts);
    }

    /* Retry-After. */
    int64_t at = 0;
    if (psw_retry_after_parse(retry, FUZZ_NOW_MS, &at) == 0) {
        const char *v = retry;
        while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
            v++;
        if (*v >= '0' && *v <= '9')
            FUZZ_REQUIRE(at >= FUZZ_NOW_MS, "delta-seconds %s gave %lld", retry, (long long)at);
        FUZZ_REQUIRE(at <= FUZZ_NOW_MS + SIG_TEN_YEARS_MS, "%s gave %lld, past the cap", retry,
                     (long long)at);
    }

    free(copy);
    (void)hlen;
    (void)rlen;
    return 0;
}
