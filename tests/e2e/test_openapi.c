/*
 * test_openapi.c — api/openapi.json and its checker (tests/node/openapi-check.mjs,
 * run through tests/harness/openapi.h):
 *   - the document passes a real OpenAPI 3.1 validator, and a broken copy
 *     does not (so the validation can fail);
 *   - hand-made records: a conforming response passes, a non-conforming one,
 *     an unknown path, method or status, and an empty record file fail, each
 *     named in the output;
 *   - the objects the library really produces (psw_endpoint_to_json,
 *     psw_delivery_to_json, psw_delivery_detail_to_json with real attempt
 *     records of a delivered and a failed delivery, psw_stats_get,
 *     psw_queue_get, psw_alerts_get), taken from a real cluster and wrapped as
 *     psw-api answers them, match the document's schemas.
 *
 * Ownership: strings and json-c objects of a test are kept with
 * harness_keep / harness_keep_json and released by the teardown, so a failed
 * assertion leaks nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/delivery.h"
#include "common/endpoint.h"
#include "common/stats.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 10000

static struct cluster C;
static int C_up, T_done;
static char *Dir;

static int setup(void **state)
{
    (void)state;
    Dir = tmpdir_new();
    T_done = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    harness_kept_free();
    tmpdir_remove(Dir);
    free(Dir);
    Dir = NULL;
    return 0;
}

static const char *path_in_dir(const char *name)
{
    return harness_keep(strdup(harness_fmt("%s/%s", Dir, name)));
}

/* Runs the checker; returns its exit status, *out (kept) what it printed. */
static int check(const char *doc, const char *record_file, const char **out)
{
    const char *files[] = { record_file, NULL };
    char *o = NULL;
    int rc = harness_openapi_check(doc, record_file ? files : NULL, 0, &o);
    *out = harness_keep(o ? o : strdup(""));
    printf("%s", *out);
    if (rc < 0)
        fail_msg("the checker did not run: %s", *out);
    return rc;
}

static void assert_contains(const char *s, const char *part)
{
    if (!strstr(s, part))
        fail_msg("expected \"%s\" in:\n%s", part, s);
}

static void assert_lacks(const char *s, const char *part)
{
    if (strstr(s, part))
        fail_msg("did not expect \"%s\" in:\n%s", part, s);
}

/* ---- the document ------------------------------------------------------- */

static void test_document_is_valid(void **state)
{
    (void)state;
    const char *out;
    assert_int_equal(check(NULL, NULL, &out), 0);
    assert_contains(out, "is a valid OpenAPI 3.1.0 document");
    T_done = 1;
}

/* The same document with one broken reference, and one with a path
 * parameter nobody declares: both refused. */
static void test_broken_document_fails(void **state)
{
    (void)state;
    const char *src = getenv("PSW_SRC") ? getenv("PSW_SRC") : ".";
    char *doc = harness_keep(read_file(harness_fmt("%s/api/openapi.json", src), NULL));
    assert_non_null(doc);

    char *hit = strstr(doc, "\"#/components/schemas/Health\"");
    assert_non_null(hit);
    char *bad = harness_keep(malloc(strlen(doc) + 16));
    snprintf(bad, strlen(doc) + 16, "%.*s\"#/components/schemas/Nope\"%s", (int)(hit - doc), doc,
             hit + strlen("\"#/components/schemas/Health\""));
    const char *p1 = path_in_dir("bad-ref.json"), *out;
    assert_int_equal(write_file(p1, bad), 0);
    assert_int_equal(check(p1, NULL, &out), 1);
    assert_contains(out, "is not a valid OpenAPI document");
    assert_contains(out, "Nope");

    /* "/healthz" becomes "/healthz/{x}" without a parameter x */
    hit = strstr(doc, "\"/healthz\"");
    assert_non_null(hit);
    snprintf(bad, strlen(doc) + 16, "%.*s\"/healthz/{x}\"%s", (int)(hit - doc), doc,
             hit + strlen("\"/healthz\""));
    const char *p2 = path_in_dir("bad-param.json");
    assert_int_equal(write_file(p2, bad), 0);
    assert_int_equal(check(p2, NULL, &out), 1);
    assert_contains(out, "path parameter {x} is not declared");
    T_done = 1;
}

/* ---- hand-made records -------------------------------------------------- */

#define EP_OK                                                                                    \
    "{\"id\":\"ep_01M8EYQCBTFH9394CYYCR8R42V\",\"account_id\":\"acct_42\",\"domain\":\"\","    \
    "\"url\":\"https://hooks.example.com/in\",\"events\":[\"*\"],\"status\":\"enabled\","      \
    "\"consecutive_failures\":0,\"disabled_reason\":null,\"disabled_by\":null,"               \
    "\"disabled_at\":null,\"created_at\":\"2026-12-07T01:22:49.123Z\","                       \
    "\"updated_at\":\"2026-12-07T01:22:49.123Z\",\"deleted_at\":null,\"description\":\"\","   \
    "\"signing\":\"poststack\",\"public_key\":null,\"rate_limit\":0,\"ordered\":false,"     \
    "\"headers\":[],\"batch\":null}"

static void test_conforming_response_passes(void **state)
{
    (void)state;
    const char *rec = path_in_dir("good.ndjson"), *out;
    assert_int_equal(write_file(rec,
        "{\"method\":\"GET\",\"path\":\"/v1/endpoints/ep_01M8EYQCBTFH9394CYYCR8R42V?x=1\","
        "\"status\":200,\"content_type\":\"application/json\",\"body\":" EP_OK "}\n"
        /* what the document says unlisted routes answer */
        "{\"method\":\"PUT\",\"path\":\"/v1/stats\",\"status\":405,"
        "\"content_type\":\"application/problem+json\",\"body\":{\"type\":\"about:blank\","
        "\"title\":\"Method Not Allowed\",\"status\":405,\"detail\":\"PUT is not allowed\"}}\n"), 0);
    assert_int_equal(check(NULL, rec, &out), 0);
    assert_contains(out, "2 responses checked against 1 operations (1 of them answers to unlisted routes)");
    T_done = 1;
}

/* One conforming and one non-conforming response: only the second is named,
 * with what is wrong in it. */
static void test_nonconforming_response_fails(void **state)
{
    (void)state;
    const char *rec = path_in_dir("mixed.ndjson"), *out;
    assert_int_equal(write_file(rec,
        "{\"method\":\"GET\",\"path\":\"/v1/endpoints/ep_01M8EYQCBTFH9394CYYCR8R42V\","
        "\"status\":200,\"content_type\":\"application/json\",\"body\":" EP_OK "}\n"
        "{\"method\":\"GET\",\"path\":\"/v1/endpoints/ep_01M8EYQCBTFH9394CYYCR8R42V\","
        "\"status\":200,\"content_type\":\"application/json\",\"body\":"
        "{\"id\":\"ep_01M8EYQCBTFH9394CYYCR8R42V\",\"account_id\":\"acct_42\",\"domain\":\"\","
        "\"url\":\"https://hooks.example.com/in\",\"events\":[\"*\"],\"status\":\"enabled\","
        "\"consecutive_failures\":\"0\",\"disabled_reason\":null,\"disabled_by\":null,"
        "\"disabled_at\":null,\"created_at\":\"yesterday\",\"updated_at\":null,"
        "\"deleted_at\":null}}\n"), 0);
    assert_int_equal(check(NULL, rec, &out), 1);
    assert_lacks(out, "mixed.ndjson:1:");
    assert_contains(out, "mixed.ndjson:2: GET /v1/endpoints/ep_01M8EYQCBTFH9394CYYCR8R42V -> 200");
    assert_contains(out, "/consecutive_failures must be integer");
    assert_contains(out, "/created_at must match format \"date-time\"");
    assert_contains(out, "must have required property 'description'");
    assert_contains(out, "1 failure");
    T_done = 1;
}

static void test_unknown_path_method_status_fail(void **state)
{
    (void)state;
    const char *rec = path_in_dir("unknown.ndjson"), *out;
    assert_int_equal(write_file(rec,
        "{\"method\":\"GET\",\"path\":\"/v1/nothing\",\"status\":200,"
        "\"content_type\":\"application/json\",\"body\":{}}\n"
        "{\"method\":\"PUT\",\"path\":\"/v1/stats\",\"status\":200,"
        "\"content_type\":\"application/json\",\"body\":{}}\n"
        "{\"method\":\"GET\",\"path\":\"/healthz\",\"status\":418,"
        "\"content_type\":\"application/json\",\"body\":{\"status\":\"ok\"}}\n"
        "{\"method\":\"GET\",\"path\":\"/healthz\",\"status\":200,"
        "\"content_type\":\"text/html\",\"body\":null}\n"
        "{\"method\":\"DELETE\",\"path\":\"/v1/endpoints/ep_01M8EYQCBTFH9394CYYCR8R42V\","
        "\"status\":204,\"content_type\":\"application/json\",\"body\":{\"deleted\":true}}\n"
        "{\"method\":\"GET\",\"path\":\"/v1/stats\",\"status\":400,"
        "\"content_type\":\"application/problem+json\",\"body\":{\"type\":\"about:blank\","
        "\"title\":\"Bad Request\",\"status\":400,\"detail\":\"no field named\"}}\n"), 0);
    assert_int_equal(check(NULL, rec, &out), 1);
    assert_contains(out, "unknown.ndjson:1: GET /v1/nothing -> 200: no path of the document matches");
    assert_contains(out, "unknown.ndjson:2: PUT /v1/stats -> 200: /v1/stats has no PUT operation");
    assert_contains(out, "unknown.ndjson:3: GET /healthz -> 418: status 418 is not documented");
    assert_contains(out, "unknown.ndjson:4: GET /healthz -> 200: content type \"text/html\" is not documented");
    assert_contains(out, "unknown.ndjson:5: DELETE /v1/endpoints/ep_01M8EYQCBTFH9394CYYCR8R42V -> 204: "
                         "the document says no body");
    assert_contains(out, "unknown.ndjson:6: GET /v1/stats -> 400");
    assert_contains(out, "must have required property 'field'");
    assert_contains(out, "6 failures");
    T_done = 1;
}

static void test_empty_record_file_fails(void **state)
{
    (void)state;
    const char *rec = path_in_dir("empty.ndjson"), *out;
    assert_int_equal(write_file(rec, "\n"), 0);
    assert_int_equal(check(NULL, rec, &out), 1);
    assert_contains(out, "empty.ndjson: no responses recorded");
    T_done = 1;
}

/* ---- the library's own objects ------------------------------------------ */

static FILE *Rec;

static void record(const char *method, const char *path, int status, struct json_object *body)
{
    struct json_object *r = harness_keep_json(json_object_new_object());
    json_object_object_add(r, "method", json_object_new_string(method));
    json_object_object_add(r, "path", json_object_new_string(path));
    json_object_object_add(r, "status", json_object_new_int(status));
    json_object_object_add(r, "content_type", json_object_new_string("application/json"));
    json_object_object_add(r, "body", json_object_get(body));
    fprintf(Rec, "%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
}

/* {"data": items, "next_cursor": null}, as psw-api pages lists. */
static struct json_object *page(struct json_object *items)
{
    struct json_object *o = harness_keep_json(json_object_new_object());
    json_object_object_add(o, "data", json_object_get(items));
    json_object_object_add(o, "next_cursor", NULL);
    return o;
}

static struct json_object *endpoint_json(const char *id, int show_secret)
{
    struct psw_endpoint ep;
    char err[512];
    memset(&ep, 0, sizeof(ep));
    if (psw_endpoint_get(&C.ctx, id, &ep, err, sizeof(err)) != 0)
        fail_msg("endpoint %s: %s", id, err);
    struct json_object *o = harness_keep_json(psw_endpoint_to_json(&ep, show_secret));
    psw_endpoint_free(&ep);
    return o;
}

/* {"secret","secret_prev","secret_prev_until"}: what /secret and
 * /rotate-secret answer, taken from the endpoint object with its secrets. */
static struct json_object *secrets_json(struct json_object *ep)
{
    struct json_object *o = harness_keep_json(json_object_new_object()), *v;
    const char *keys[] = { "secret", "secret_prev", "secret_prev_until" };
    for (size_t i = 0; i < 3; i++) {
        assert_true(json_object_object_get_ex(ep, keys[i], &v));
        json_object_object_add(o, keys[i], json_object_get(v));
    }
    return o;
}

static void test_library_objects_match_schemas(void **state)
{
    (void)state;
    const char *ov[] = { "endpoint.disable_after_failures: 2", "retry.schedule: 20ms", NULL };
    char ok_ep[PSW_ID_SIZE], bad_ep[PSW_ID_SIZE], err[512];
    C_up = 1;
    if (cluster_start(&C, ov, 1, 1) < 0)
        fail_msg("the cluster did not start");
    struct rx_behavior fail500 = { .always_status = 500, .body = "{\"error\":\"down\"}" };
    rx_set(C.rx, "/bad", &fail500);
    cluster_endpoint(&C, "acct_42", "/ok", NULL, NULL, NULL, ok_ep, NULL, 0);
    cluster_endpoint(&C, "acct_42", "/bad", "mail.example.com", "email.bounced,email.delivered",
                     NULL, bad_ep, NULL, 0);
    for (int i = 0; i < 3; i++) {
        char evt[160];
        int nd = 0;
        assert_int_equal(cluster_publish(&C, harness_fmt(
            "{\"type\":\"email.delivered\",\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\","
            "\"data\":{\"message_id\":\"<%d@mail.example.com>\",\"to\":\"a@example.org\"}}", i),
            evt, sizeof(evt), &nd), 0);
        assert_int_equal(nd, 2);
    }
    /* 3 delivered to /ok; /bad fails twice and is disabled (one alert) */
    assert_int_equal(cluster_wait_stat(&C, "delivered", 3, WAIT_MS), 0);
    assert_int_equal(cluster_wait_field(&C, harness_fmt("endpoint:%s", bad_ep), "status",
                                        "disabled", WAIT_MS), 0);

    const char *rec = path_in_dir("library.ndjson");
    Rec = fopen(rec, "w");
    assert_non_null(Rec);

    /* endpoints: list, show, create (with its secret), after a rotation */
    struct json_object *list = harness_keep_json(json_object_new_array());
    json_object_array_add(list, json_object_get(endpoint_json(ok_ep, 0)));
    json_object_array_add(list, json_object_get(endpoint_json(bad_ep, 0)));
    record("GET", "/v1/endpoints?limit=2", 200, page(list));
    record("GET", harness_fmt("/v1/endpoints/%s", bad_ep), 200, endpoint_json(bad_ep, 0));
    record("POST", "/v1/endpoints", 201, endpoint_json(ok_ep, 1));
    record("GET", harness_fmt("/v1/endpoints/%s/secret", ok_ep), 200,
           secrets_json(endpoint_json(ok_ep, 1)));
    assert_int_equal(psw_endpoint_rotate_secret(&C.ctx, ok_ep, NULL, 60000, NULL, err,
                                                sizeof(err)), 0);
    record("POST", harness_fmt("/v1/endpoints/%s/rotate-secret", ok_ep), 200,
           secrets_json(endpoint_json(ok_ep, 1)));
    record("POST", harness_fmt("/v1/endpoints/%s/disable", bad_ep), 200, endpoint_json(bad_ep, 0));

    /* the delivery logs and every delivery with its attempts */
    const char *eps[] = { ok_ep, bad_ep };
    size_t ndetail = 0;
    for (size_t e = 0; e < 2; e++) {
        struct psw_delivery_query q = { .endpoint_id = eps[e] };
        struct psw_delivery *d = NULL;
        size_t n = 0;
        assert_int_equal(psw_delivery_list(&C.ctx, &q, &d, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 3);
        struct json_object *items = harness_keep_json(json_object_new_array());
        for (size_t i = 0; i < n; i++) {
            json_object_array_add(items, psw_delivery_to_json(&d[i]));
            struct psw_delivery_detail dd;
            memset(&dd, 0, sizeof(dd));
            assert_int_equal(psw_delivery_get(&C.ctx, d[i].id, &dd, err, sizeof(err)), 0);
            ndetail += dd.n_attempts > 0;
            record("GET", harness_fmt("/v1/deliveries/%s", d[i].id), 200,
                   harness_keep_json(psw_delivery_detail_to_json(&dd)));
            psw_delivery_detail_free(&dd);
        }
        psw_delivery_list_free(d, n);
        record("GET", harness_fmt("/v1/endpoints/%s/deliveries?state=delivered,failed", eps[e]),
               200, page(items));
    }
    assert_true(ndetail >= 4); /* 3 delivered + the failed ones with attempts */

    /* stats, queue, alerts */
    struct json_object *o = NULL;
    assert_int_equal(psw_stats_get(&C.ctx, NULL, &o, err, sizeof(err)), 0);
    record("GET", "/v1/stats", 200, harness_keep_json(o));
    assert_int_equal(psw_stats_get(&C.ctx, bad_ep, &o, err, sizeof(err)), 0);
    record("GET", harness_fmt("/v1/endpoints/%s/stats", bad_ep), 200, harness_keep_json(o));
    assert_int_equal(psw_queue_get(&C.ctx, &o, err, sizeof(err)), 0);
    assert_true(json_object_array_length(json_object_object_get(o, "workers")) > 0);
    record("GET", "/v1/queue", 200, harness_keep_json(o));
    assert_int_equal(psw_alerts_get(&C.ctx, 0, 0, &o, err, sizeof(err)), 0);
    assert_int_equal(json_object_array_length(o), 1);
    record("GET", "/v1/alerts", 200, page(harness_keep_json(o)));
    fclose(Rec);
    Rec = NULL;

    const char *out;
    assert_int_equal(check(NULL, rec, &out), 0);
    assert_contains(out, "18 responses checked against 12 operations");
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_document_is_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_document_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conforming_response_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonconforming_response_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_method_status_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_record_file_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_objects_match_schemas, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
