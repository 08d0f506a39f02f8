/*
 * test_attempt_record.c — worker/http.c psw_attempt_record(): the attempt
 * record (SPEC §7) is written as text for speed; it must stay exactly what
 * the json-c tree it replaced produced (JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE), byte for byte, since operators and the
 * CLI read these records. reference() below is that json-c implementation;
 * every case, and a few thousand random header blocks and bodies, must give
 * the same bytes. Plus one exact expected string, so both cannot drift
 * together.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "worker/http.h"

/* ---- the json-c implementation the text writer replaced ---------------------- */

static void ref_copy_value(char *out, size_t n, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static json_object *ref_headers(const char *raw, size_t len)
{
    json_object *o = json_object_new_object();
    const char *p = raw, *end = raw + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            char name[128], value[1024];
            size_t nl = (size_t)(colon - p) < sizeof(name) - 1 ? (size_t)(colon - p) : sizeof(name) - 1;
            for (size_t i = 0; i < nl; i++)
                name[i] = (char)tolower((unsigned char)p[i]);
            name[nl] = '\0';
            ref_copy_value(value, sizeof(value), colon + 1, (size_t)(line_end - colon - 1));
            json_object *prev = NULL;
            if (json_object_object_get_ex(o, name, &prev)) {
                char joined[2048];
                snprintf(joined, sizeof(joined), "%s, %s", json_object_get_string(prev), value);
                json_object_object_add(o, name, json_object_new_string(joined));
            } else {
                json_object_object_add(o, name, json_object_new_string(value));
            }
        }
        p = line_end + 1;
    }
    return o;
}

static char *reference(const struct psw_attempt *a, int64_t end_ms, int64_t latency_ms,
                       const char *error)
{
    json_object *rec = json_object_new_object();
    json_object *req = json_object_new_object();
    json_object *rh = json_object_new_object();
    json_object_object_add(rec, "n", json_object_new_int(a->job.attempt));
    json_object_object_add(rec, "at", json_object_new_int64(a->started_at));
    json_object_object_add(rec, "ended_at", json_object_new_int64(end_ms));
    json_object_object_add(rec, "trigger",
                           json_object_new_string(a->job.trigger ? a->job.trigger : "first"));
    json_object_object_add(req, "url", json_object_new_string(a->job.url ? a->job.url : ""));
    for (const struct curl_slist *h = a->req_headers; h; h = h->next) {
        const char *colon = strchr(h->data, ':');
        if (!colon || colon[1] == '\0')
            continue;
        char name[128];
        size_t nl = (size_t)(colon - h->data) < sizeof(name) - 1 ? (size_t)(colon - h->data) : sizeof(name) - 1;
        memcpy(name, h->data, nl);
        name[nl] = '\0';
        json_object_object_add(rh, name, json_object_new_string(colon + 2));
    }
    json_object_object_add(req, "headers", rh);
    json_object_object_add(rec, "request", req);
    if (a->status > 0) {
        json_object *resp = json_object_new_object();
        json_object_object_add(resp, "status", json_object_new_int((int)a->status));
        json_object_object_add(resp, "headers", ref_headers(a->headers, a->headers_len));
        json_object_object_add(resp, "body",
                               json_object_new_string_len(a->body ? a->body : "", (int)a->body_len));
        json_object_object_add(resp, "body_bytes", json_object_new_int64((int64_t)a->body_total));
        json_object_object_add(resp, "body_truncated",
                               json_object_new_boolean(a->body_total > a->body_len));
        json_object_object_add(rec, "response", resp);
    } else {
        json_object_object_add(rec, "response", NULL);
    }
    json_object_object_add(rec, "status", json_object_new_int((int)a->status));
    json_object_object_add(rec, "latency_ms", json_object_new_int64(latency_ms));
    json_object_object_add(rec, "error", error && error[0] ? json_object_new_string(error) : NULL);
    char *out = strdup(json_object_to_json_string_ext(
        rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(rec);
    return out;
}

/* ---- fixtures ------------------------------------------------------------------- */

static void setup_attempt(struct psw_attempt *a, const char *url, const char *trigger)
{
    memset(a, 0, sizeof(*a));
    a->job.attempt = 3;
    a->job.url = (char *)url;
    a->job.trigger = (char *)trigger;
    a->started_at = 1795000000123LL;
    const char *hdrs[] = {
        "Content-Type: application/json",
        "User-Agent: PostStack-Webhooks/0.1.0",
        "X-PostStack-Event-Id: evt_01KBZ2",
        "X-PostStack-Event-Type: email.bounced",
        "X-PostStack-Delivery-Id: dlv_01KBZ2",
        "X-PostStack-Attempt: 3",
        "X-PostStack-Signature: t=1795000000,v1=abcdef0123456789",
        "Expect:",
    };
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
        a->req_headers = curl_slist_append(a->req_headers, hdrs[i]);
    a->headers = calloc(1, PSW_HTTP_MAX_HEADER_BYTES + 1);
    a->body = calloc(1, 8192);
    assert_non_null(a->headers);
    assert_non_null(a->body);
}

static void teardown_attempt(struct psw_attempt *a)
{
    curl_slist_free_all(a->req_headers);
    free(a->headers);
    free(a->body);
}

static void set_response(struct psw_attempt *a, long status, const char *headers, size_t hlen,
                         const char *body, size_t blen, size_t total)
{
    a->status = status;
    memcpy(a->headers, headers, hlen);
    a->headers[hlen] = '\0';
    a->headers_len = hlen;
    memcpy(a->body, body, blen);
    a->body[blen] = '\0';
    a->body_len = blen;
    a->body_total = total;
}

static void same(const struct psw_attempt *a, int64_t end, int64_t lat, const char *err)
{
    char *got = psw_attempt_record(a, end, lat, err);
    char *want = reference(a, end, lat, err);
    assert_non_null(got);
    assert_non_null(want);
    if (strcmp(got, want) != 0)
        fail_msg("record differs from json-c's\n got: %s\nwant: %s", got, want);
    free(got);
    free(want);
}

/* ---- cases -------------------------------------------------------------------------- */

static void test_exact_success(void **state)
{
    (void)state;
    struct psw_attempt a;
    setup_attempt(&a, "https://hooks.example.com/a/b?x=1&y=%2F", "first");
    const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n";
    set_response(&a, 200, h, strlen(h), "ok\n", 3, 3);
    char *got = psw_attempt_record(&a, 1795000000150LL, 27, "");
    assert_string_equal(
        got,
        "{\"n\":3,\"at\":1795000000123,\"ended_at\":1795000000150,\"trigger\":\"first\","
        "\"request\":{\"url\":\"https://hooks.example.com/a/b?x=1&y=%2F\",\"headers\":{"
        "\"Content-Type\":\"application/json\",\"User-Agent\":\"PostStack-Webhooks/0.1.0\","
        "\"X-PostStack-Event-Id\":\"evt_01KBZ2\",\"X-PostStack-Event-Type\":\"email.bounced\","
        "\"X-PostStack-Delivery-Id\":\"dlv_01KBZ2\",\"X-PostStack-Attempt\":\"3\","
        "\"X-PostStack-Signature\":\"t=1795000000,v1=abcdef0123456789\"}},"
        "\"response\":{\"status\":200,\"headers\":{\"content-type\":\"text/plain\","
        "\"content-length\":\"3\"},\"body\":\"ok\\n\",\"body_bytes\":3,\"body_truncated\":false},"
        "\"status\":200,\"latency_ms\":27,\"error\":null}");
    free(got);
    same(&a, 1795000000150LL, 27, "");
    teardown_attempt(&a);
}

static void test_no_response(void **state)
{
    (void)state;
    struct psw_attempt a;
    setup_attempt(&a, "http://127.0.0.1:9/x", "retry");
    same(&a, 1795000005123LL, 5000, "timeout: Operation timed out after 5000 ms");
    same(&a, 1795000005123LL, 0, "connect: \"quoted\" \\ back\\slash\ttab\nnewline\x01\x1f\x7f");
    same(&a, 1795000005123LL, 0, NULL);
    a.job.trigger = NULL;
    a.job.url = NULL;
    same(&a, 0, 0, "");
    teardown_attempt(&a);
}

static void test_response_headers(void **state)
{
    (void)state;
    struct psw_attempt a;
    setup_attempt(&a, "https://x.example/", "replay");
    /* a 1xx block before the final one is part of the raw block; duplicates,
     * case, whitespace, lines without a colon, empty names */
    const char h[] = "HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 503 Service Unavailable\r\n"
                     "Retry-After:  120 \r\n"
                     "Set-Cookie: a=1\r\n"
                     "SET-COOKIE:b=2\t\r\n"
                     "set-cookie: c=3\r\n"
                     "X-Empty:\r\n"
                     ": no name\r\n"
                     "garbage line without colon\r\n"
                     "X-Ctl: \x01\x02\x1b[31m\x7f\xc3\xa9\xff\r\n"
                     "X-Quote: \"a\\b/c\"\r\n"
                     "\r\n";
    set_response(&a, 503, h, sizeof(h) - 1, "{\"error\":\"busy\"}", 16, 16);
    same(&a, 1795000000999LL, 3, "http: status 503");
    teardown_attempt(&a);
}

static void test_long_values_and_names(void **state)
{
    (void)state;
    struct psw_attempt a;
    char h[PSW_HTTP_MAX_HEADER_BYTES], big[1500];
    setup_attempt(&a, "https://x.example/", "first");
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 500 Internal\r\nX-Big: %s\r\nX-Big: %s\r\nX-Big: short\r\n"
                     "%s: long name\r\nX-Last: end",
                     big, big, big);
    assert_true(n > 0 && (size_t)n < sizeof(h));
    set_response(&a, 500, h, (size_t)n, "", 0, 0);
    same(&a, 1, 2, "http: status 500");
    teardown_attempt(&a);
}

static void test_body_bytes(void **state)
{
    (void)state;
    struct psw_attempt a;
    char body[512];
    setup_attempt(&a, "https://x.example/", "first");
    for (int i = 0; i < 256; i++) {
        body[i] = (char)i;
        body[256 + i] = (char)(255 - i);
    }
    const char h[] = "HTTP/1.1 201 Created\r\n\r\n";
    /* NUL and every other byte; cut (body_total beyond what is kept) */
    set_response(&a, 201, h, sizeof(h) - 1, body, sizeof(body), 100000);
    same(&a, 10, 20, "");
    set_response(&a, 204, "", 0, "", 0, 0);
    same(&a, 10, 20, "");
    teardown_attempt(&a);
}

static void test_random(void **state)
{
    (void)state;
    struct psw_attempt a;
    static const char alphabet[] = "aB:-\r\n \t\"\\/\x01\x7f\xe9HTTP/";
    char h[4096], body[600];
    unsigned seed = 12345;
    setup_attempt(&a, "https://x.example/r", "first");
    for (int round = 0; round < 3000; round++) {
        size_t hl = (size_t)(rand_r(&seed) % (int)sizeof(h));
        for (size_t i = 0; i < hl; i++)
            h[i] = round % 3 == 0 ? (char)(rand_r(&seed) & 0xff)
                                  : alphabet[rand_r(&seed) % (int)(sizeof(alphabet) - 1)];
        size_t bl = (size_t)(rand_r(&seed) % (int)sizeof(body));
        for (size_t i = 0; i < bl; i++)
            body[i] = (char)(rand_r(&seed) & 0xff);
        set_response(&a, 100 + rand_r(&seed) % 500, h, hl, body, bl,
                     bl + (size_t)(rand_r(&seed) % 3));
        same(&a, rand_r(&seed), rand_r(&seed) % 100000, round % 2 ? "http: x" : "");
    }
    teardown_attempt(&a);
}

/* Building a record is linear in its header lines: thousands of distinct
 * names under the 16 KiB cap (a receiver can send that) cost a few lookups
 * each, not one per name seen before (that was 10 ms per record). Counted,
 * not timed: psw_attempt_header_probes() counts name lookups. */
static void test_many_headers_linear(void **state)
{
    (void)state;
    static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    struct psw_attempt a;
    char h[PSW_HTTP_MAX_HEADER_BYTES];
    setup_attempt(&a, "https://x.example/", "first");
    for (int dup = 0; dup < 2; dup++) {
        size_t len = 0, names = 0;
        len += (size_t)snprintf(h, sizeof(h), "HTTP/1.1 500 x\r\n");
        /* "xabc:1\n": 7 bytes a line, each name new (or, with dup, 4 names
         * repeated over and over) */
        while (len + 8 < sizeof(h)) {
            size_t k = dup ? names % 4 : names;
            h[len++] = 'x';
            h[len++] = b36[(k / 1296) % 36];
            h[len++] = b36[(k / 36) % 36];
            h[len++] = b36[k % 36];
            memcpy(h + len, ":1\n", 3);
            len += 3;
            names++;
        }
        assert_true(names > 2000);
        set_response(&a, 500, h, len, "", 0, 0);
        unsigned long long before = psw_attempt_header_probes();
        char *rec = psw_attempt_record(&a, 1, 2, "http: status 500");
        unsigned long long probes = psw_attempt_header_probes() - before;
        assert_non_null(rec);
        free(rec);
        if (probes > 3 * names)
            fail_msg("%zu header lines (%s) took %llu name lookups; expected at most %zu", names,
                     dup ? "4 names repeated" : "all distinct", probes, 3 * names);
        same(&a, 1, 2, "http: status 500");
    }
    teardown_attempt(&a);
}

/* The stored record is bounded after escaping (http.max_record_bytes): a
 * 2xx with 16 KiB of headers and 4 KiB of body, all byte 0x01 (six bytes
 * each once escaped), made a 113 KB record. Cut, it stays valid JSON within
 * the bound, keeps what the worker wrote whole, and says what it cut. */
static void test_record_bounded(void **state)
{
    (void)state;
    struct psw_attempt a;
    char h[PSW_HTTP_MAX_HEADER_BYTES], body[4096];
    setup_attempt(&a, "https://x.example/bounded", "first");
    size_t len = (size_t)snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\n");
    for (int k = 0; len + 1100 < sizeof(h); k++) {
        len += (size_t)snprintf(h + len, sizeof(h) - len, "x-%d: ", k);
        memset(h + len, 0x01, 1000);
        len += 1000;
        memcpy(h + len, "\r\n", 2);
        len += 2;
    }
    memset(body, 0x01, sizeof(body));
    set_response(&a, 200, h, len, body, sizeof(body), sizeof(body));

    char *full = psw_attempt_record(&a, 1, 2, ""); /* record_max 0: no bound */
    assert_non_null(full);
    assert_true(strlen(full) > 80000);
    free(full);

    static const size_t bounds[] = { 32768, 8192, 20000, 100000 };
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        a.record_max = bounds[i];
        char *rec = psw_attempt_record(&a, 1, 2, "");
        assert_non_null(rec);
        if (strlen(rec) > bounds[i])
            fail_msg("record of %zu bytes, bound %zu", strlen(rec), bounds[i]);
        json_object *o = json_tokener_parse(rec);
        if (!o)
            fail_msg("the cut record is not JSON: %.200s", rec);
        json_object *resp = NULL, *v = NULL, *req = NULL;
        assert_true(json_object_object_get_ex(o, "response", &resp));
        /* the body (24 KiB escaped) fits beside half the room's headers only
         * under the largest bound */
        assert_true(json_object_object_get_ex(resp, "body_truncated", &v));
        assert_int_equal(json_object_get_boolean(v), bounds[i] < 100000);
        assert_true(json_object_object_get_ex(resp, "body_bytes", &v));
        assert_int_equal(json_object_get_int(v), 4096);
        assert_true(json_object_object_get_ex(resp, "headers_truncated", &v));
        assert_true(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(o, "request", &req));
        assert_true(json_object_object_get_ex(req, "url", &v));
        assert_string_equal(json_object_get_string(v), "https://x.example/bounded");
        assert_true(json_object_object_get_ex(o, "status", &v));
        assert_int_equal(json_object_get_int(v), 200);
        /* the room is used, not thrown away (a header member is ~6 KB) */
        if (bounds[i] < 100000 && strlen(rec) < bounds[i] - 6200)
            fail_msg("record of %zu bytes under a bound of %zu: too much cut", strlen(rec),
                     bounds[i]);
        json_object_put(o);
        free(rec);
    }

    /* Under the bound nothing changes: the record is json-c's, byte for byte. */
    a.record_max = 32768;
    set_response(&a, 200, "HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n", 26, body, 1000, 1000);
    same(&a, 1, 2, "");
    teardown_attempt(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_success),
        cmocka_unit_test(test_no_response),
        cmocka_unit_test(test_response_headers),
        cmocka_unit_test(test_long_values_and_names),
        cmocka_unit_test(test_body_bytes),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_many_headers_linear),
        cmocka_unit_test(test_record_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
