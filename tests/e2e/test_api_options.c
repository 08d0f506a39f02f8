/*
 * test_api_options.c — the endpoint options of docs/api.md ("Endpoint
 * options": signing, rate_limit, ordered, headers) through a real psw-api in
 * front of a whole deployment (tests/harness/cluster.h, with a secrets key so
 * headers are sealed at rest), started and driven by
 * tests/harness/api_fixture.c, which records every answer for the OpenAPI
 * check at the end:
 *   - create with signing standard, a header and a rate limit; read back with
 *     the header masked, and a delivery reaching the receiver with it;
 *   - PATCH signing ed25519 gives a public key; PATCH headers [] clears;
 *   - bad values (CR/LF in a header, more than 20 headers, an unknown
 *     signing, a negative or non-integer rate_limit) answer 400 naming the
 *     field and change nothing stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tests/harness/api_fixture.h"
#include "tests/harness/cluster.h"
#include "tests/harness/receiver.h"

#define WAIT_MS 10000
#define KEY_HEX "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

static struct cluster C;
static char *keydir;
static struct api_fixture A = API_FIXTURE_INIT(&C);

/* The cluster and psw-api with a secrets key file; answers recorded. */
static void start(void)
{
    keydir = tmpdir_new();
    assert_non_null(keydir);
    const char *key_path = harness_fmt("%s/secrets.key", keydir);
    assert_int_equal(write_file(key_path, KEY_HEX "\n"), 0);
    assert_int_equal(chmod(key_path, 0600), 0);
    const char *lines[] = { harness_fmt("secrets.key_file: %s", key_path), NULL };
    api_fixture_start(&A, lines);
    api_fixture_record(&A);
}

static int teardown(void **state)
{
    (void)state;
    api_fixture_stop(&A);
    tmpdir_remove(keydir);
    free(keydir);
    keydir = NULL;
    return 0;
}

/* One request as admin; asserts the status; returns the reply (kept until teardown). */
static struct api_reply *req(int want, const char *method, const char *path, const char *body)
{
    return api_fixture_req(&A, want, method, path, A.admin, body);
}

/* A 400 problem naming field, whose detail mentions what. */
static void bad(const char *method, const char *path, const char *body, const char *field,
                const char *what)
{
    struct api_reply *r = req(400, method, path, body);
    assert_string_equal(r->content_type, "application/problem+json");
    assert_string_equal(api_json_str(r, "field"), field);
    const char *detail = api_json_str(r, "detail");
    assert_non_null(detail);
    if (!strstr(detail, what))
        fail_msg("detail \"%s\" does not mention \"%s\"", detail, what);
}

static struct json_object *member(struct api_reply *r, const char *key)
{
    struct json_object *v = NULL;
    if (!r->json || !json_object_object_get_ex(r->json, key, &v))
        fail_msg("no \"%s\" in %s", key, r->body);
    return v;
}

/* The headers member: exactly one line, equal to want. */
static void one_header(struct api_reply *r, const char *want)
{
    struct json_object *h = member(r, "headers");
    assert_true(json_object_is_type(h, json_type_array));
    assert_int_equal(json_object_array_length(h), 1);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(h, 0)), want);
}

/* ordered: a boolean on create and update, shown on every read; a bad
 * value is a 400 naming it and changes nothing. */
static void ordered_checks(const char *url)
{
    struct api_reply *r = req(201, "POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_ord\",\"ordered\":true}", url));
    assert_true(json_object_get_boolean(member(r, "ordered")));
    const char *path = harness_fmt("/v1/endpoints/%s", api_json_str(r, "id"));
    r = req(200, "GET", path, NULL);
    assert_true(json_object_get_boolean(member(r, "ordered")));
    bad("PATCH", path, "{\"ordered\":\"yes\"}", "ordered", "true or false");
    bad("PATCH", path, "{\"ordered\":1}", "ordered", "true or false");
    bad("POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_ord_bad\",\"ordered\":\"true\"}", url),
        "ordered", "true or false");
    r = req(200, "GET", "/v1/endpoints?account=acct_ord_bad", NULL);
    assert_int_equal(json_object_array_length(member(r, "data")), 0);
    r = req(200, "GET", path, NULL);
    assert_true(json_object_get_boolean(member(r, "ordered")));
    r = req(200, "PATCH", path, "{\"ordered\":false}");
    assert_false(json_object_get_boolean(member(r, "ordered")));
    r = req(200, "PATCH", path, "{\"description\":\"d\"}");
    assert_false(json_object_get_boolean(member(r, "ordered")));
    r = req(201, "POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_ord\"}", url));
    assert_false(json_object_get_boolean(member(r, "ordered")));
}

static void test_options(void **state)
{
    (void)state;
    start();
    char url[512];
    rx_url(C.rx, "/opt", url, sizeof(url));

    /* Create: standard signing, a header, a rate limit. The answer shows
     * the header masked, never its value. */
    struct api_reply *r = req(201, "POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_o\",\"signing\":\"standard\","
                    "\"rate_limit\":5,\"headers\":[\"X-Api-Key:  sk_live_topsecret42 \"]}", url));
    const char *id = harness_fmt("%s", api_json_str(r, "id"));
    assert_string_equal(api_json_str(r, "signing"), "standard");
    assert_int_equal(json_object_get_int64(member(r, "rate_limit")), 5);
    assert_true(json_object_is_type(member(r, "public_key"), json_type_null));
    one_header(r, "X-Api-Key: sk_…***");
    assert_null(strstr(r->body, "topsecret"));
    const char *path = harness_fmt("/v1/endpoints/%s", id);

    /* Read back: the same; the value is sealed in Redis, not in clear. */
    r = req(200, "GET", path, NULL);
    assert_string_equal(api_json_str(r, "signing"), "standard");
    assert_int_equal(json_object_get_int64(member(r, "rate_limit")), 5);
    one_header(r, "X-Api-Key: sk_…***");
    assert_null(strstr(r->body, "topsecret"));
    char *stored = cluster_hget(&C, harness_fmt("endpoint:%s", id), "headers");
    assert_non_null(stored);
    assert_null(strstr(stored, "topsecret"));
    free(stored);

    /* A delivery carries the header, value trimmed. */
    req(202, "POST", "/v1/events",
        "{\"id\":\"evt_opt_1\",\"type\":\"email.sent\",\"account_id\":\"acct_o\","
        "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<m1@x>\",\"to\":\"a@example.org\"}}");
    assert_int_equal(rx_wait(C.rx, "/opt", 1, WAIT_MS), 0);
    struct rx_request *got = NULL;
    size_t ng = rx_requests(C.rx, "/opt", &got);
    assert_true(ng >= 1);
    assert_string_equal(rx_header(&got[0], "X-Api-Key"), "sk_live_topsecret42");
    assert_non_null(rx_header(&got[0], "webhook-signature"));
    rx_requests_free(got, ng);

    /* Bad values: 400 naming the field; nothing stored changes. */
    bad("PATCH", path, "{\"headers\":[\"X-A: b\\r\\nX-Evil: c\"]}", "headers", "CR or LF");
    bad("PATCH", path, "{\"headers\":[\"no colon here\"]}", "headers", "Name: value");
    bad("PATCH", path, "{\"headers\":\"X-A: b\"}", "headers", "array");
    bad("PATCH", path, "{\"headers\":[1]}", "headers", "array");
    {
        char many[2048];
        size_t o = 0;
        o += (size_t)snprintf(many + o, sizeof(many) - o, "{\"headers\":[");
        for (int i = 0; i < 21; i++)
            o += (size_t)snprintf(many + o, sizeof(many) - o, "%s\"X-H%d: v\"", i ? "," : "", i);
        snprintf(many + o, sizeof(many) - o, "]}");
        bad("PATCH", path, many, "headers", "at most 20");
    }
    bad("PATCH", path, "{\"signing\":\"rsa\"}", "signing", "poststack, standard or ed25519");
    bad("PATCH", path, "{\"signing\":7}", "signing", "string");
    bad("PATCH", path, "{\"rate_limit\":-1}", "rate_limit", "0 (no limit)");
    bad("PATCH", path, "{\"rate_limit\":-5}", "rate_limit", "0 (no limit)");
    bad("PATCH", path, "{\"rate_limit\":1000001}", "rate_limit", "0 (no limit)");
    bad("PATCH", path, "{\"rate_limit\":\"5\"}", "rate_limit", "integer");
    bad("PATCH", path, "{\"rate_limit\":1.5}", "rate_limit", "integer");
    bad("POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_bad\",\"headers\":[\"X-A: b\\nc\"]}",
                    url), "headers", "CR or LF");
    bad("POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_bad\",\"signing\":\"hmac\"}", url),
        "signing", "poststack, standard or ed25519");
    r = req(200, "GET", "/v1/endpoints?account=acct_bad", NULL);
    assert_int_equal(json_object_array_length(member(r, "data")), 0);
    r = req(200, "GET", path, NULL);
    assert_string_equal(api_json_str(r, "signing"), "standard");
    assert_int_equal(json_object_get_int64(member(r, "rate_limit")), 5);
    one_header(r, "X-Api-Key: sk_…***");

    /* ed25519: a key pair is made, its public key shown; the other options
     * stay as they were. */
    r = req(200, "PATCH", path, "{\"signing\":\"ed25519\"}");
    assert_string_equal(api_json_str(r, "signing"), "ed25519");
    const char *pk = api_json_str(r, "public_key");
    assert_non_null(pk);
    assert_memory_equal(pk, "whpk_", 5);
    assert_int_equal(json_object_get_int64(member(r, "rate_limit")), 5);
    one_header(r, "X-Api-Key: sk_…***");
    r = req(200, "GET", path, NULL);
    assert_string_equal(api_json_str(r, "public_key"), pk);

    /* headers replaces the whole set; [] clears; rate_limit 0 = none. */
    r = req(200, "PATCH", path, "{\"headers\":[\"X-Tenant: t1\",\"Authorization: Bearer abcdefgh12\"]}");
    struct json_object *h = member(r, "headers");
    assert_int_equal(json_object_array_length(h), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(h, 0)), "X-Tenant: …***");
    assert_null(strstr(r->body, "abcdefgh12"));
    r = req(200, "PATCH", path, "{\"headers\":[],\"rate_limit\":0}");
    assert_int_equal(json_object_array_length(member(r, "headers")), 0);
    assert_int_equal(json_object_get_int64(member(r, "rate_limit")), 0);
    r = req(200, "GET", "/v1/endpoints?account=acct_o", NULL);
    assert_non_null(strstr(r->body, "\"signing\":\"ed25519\""));

    ordered_checks(url);

    /* Every answer above against the OpenAPI document's schemas. */
    api_fixture_check_openapi(&A, 0);
    A.ok = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_options, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
