/*
 * test_api.c — psw-api black-box (docs/api.md): a whole deployment
 * (tests/harness/cluster.h) plus a real psw-api, started and driven over
 * HTTP by tests/harness/api_fixture.c, which records every answer for the
 * OpenAPI check at the end.
 *   - every route with an admin token and with an account token;
 *   - isolation: another account's endpoint, delivery and token ids answer
 *     404 exactly like ids that do not exist, on every path taking an id;
 *   - no token, a bad token, an expired token, a revoked token;
 *   - a publish through the API delivered and its signature verified at the
 *     receiver; a replay through the API reaching the receiver;
 *   - sessions: cookie + CSRF; dashboard links are single use;
 *   - the audit trail records API and CLI changes.
 * Limits (body, batch, rate) are in test_api_limits.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/event.h"
#include "common/sign.h"
#include "common/timeutil.h"
#include "common/token.h"
#include "tests/harness/api_fixture.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 10000

static struct cluster C;
static struct api_fixture A = API_FIXTURE_INIT(&C);

/* One request; asserts the status; returns the reply (kept until teardown). */
static struct api_reply *req(int want, const char *method, const char *path, const char *token,
                             const char *body)
{
    return api_fixture_req(&A, want, method, path, token, body);
}

static const char *str(struct api_reply *r, const char *key)
{
    const char *s = api_json_str(r, key);
    if (!s)
        fail_msg("no \"%s\" in %s", key, r->body);
    return harness_keep(strdup(s));
}

static void test_routes_and_isolation(void **state)
{
    (void)state;
    api_fixture_start(&A, NULL);
    api_fixture_record(&A);

    char url_a[512], url_b[512];
    rx_url(C.rx, "/a", url_a, sizeof(url_a));
    rx_url(C.rx, "/b", url_b, sizeof(url_b));

    /* Tokens: one per account, made through the API. */
    struct api_reply *r = req(201, "POST", "/v1/tokens", A.admin,
                              "{\"name\":\"acct-a\",\"account_id\":\"acct_a\"}");
    const char *tok_a = str(r, "token");
    const char *tok_a_id = str(r, "id");
    assert_false(strstr(r->body, "\"admin\":true"));
    r = req(201, "POST", "/v1/tokens", A.admin, "{\"name\":\"acct-b\",\"account_id\":\"acct_b\"}");
    const char *tok_b = str(r, "token");
    r = req(200, "GET", "/v1/tokens", A.admin, NULL);
    assert_non_null(strstr(r->body, tok_a_id));
    assert_null(strstr(r->body, tok_a)); /* never the text again */
    api_fixture_problem(req(403, "GET", "/v1/tokens", tok_a, NULL), NULL);
    api_fixture_problem(req(403, "POST", "/v1/events", tok_a, "{}"), NULL);
    api_fixture_problem(req(403, "GET", "/v1/queue", tok_a, NULL), NULL);

    /* Endpoints: account A's own (account_id left out), admin makes B's. */
    r = req(201, "POST", "/v1/endpoints", tok_a,
            harness_fmt("{\"url\":\"%s\",\"events\":[\"email.delivered\",\"email.bounced\"]}", url_a));
    const char *ep_a = str(r, "id");
    const char *secret_a = str(r, "secret");
    assert_string_equal(api_json_str(r, "account_id"), "acct_a");
    api_fixture_problem(req(400, "POST", "/v1/endpoints", tok_a,
                      harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_b\"}", url_a)),
                  "account_id");
    r = req(201, "POST", "/v1/endpoints", A.admin,
            harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_b\"}", url_b));
    const char *ep_b = str(r, "id");
    api_fixture_problem(req(400, "POST", "/v1/endpoints", A.admin,
                      "{\"url\":\"ftp://x\",\"account_id\":\"acct_b\"}"), "url");
    api_fixture_problem(req(400, "POST", "/v1/endpoints", tok_a,
                      harness_fmt("{\"url\":\"%s\",\"colour\":1}", url_a)), "colour");

    r = req(200, "GET", "/v1/endpoints", tok_a, NULL);
    assert_non_null(strstr(r->body, ep_a));
    assert_null(strstr(r->body, ep_b));
    r = req(200, "GET", "/v1/endpoints?account=acct_b", A.admin, NULL);
    assert_non_null(strstr(r->body, ep_b));
    assert_null(strstr(r->body, ep_a));
    r = req(200, "GET", "/v1/endpoints?limit=1", A.admin, NULL);
    const char *cur = str(r, "next_cursor");
    r = req(200, "GET", harness_fmt("/v1/endpoints?limit=1&cursor=%s", cur), A.admin, NULL);
    assert_null(api_json_str(r, "next_cursor"));
    assert_null(strstr(r->body, cur)); /* the second page starts after the first */

    r = req(200, "GET", harness_fmt("/v1/endpoints/%s", ep_a), tok_a, NULL);
    assert_null(strstr(r->body, "\"secret\""));
    r = req(200, "GET", harness_fmt("/v1/endpoints/%s/secret", ep_a), tok_a, NULL);
    assert_string_equal(api_json_str(r, "secret"), secret_a);
    r = req(200, "PATCH", harness_fmt("/v1/endpoints/%s", ep_a), tok_a,
            "{\"description\":\"main hook\"}");
    assert_string_equal(api_json_str(r, "description"), "main hook");
    api_fixture_problem(req(400, "PATCH", harness_fmt("/v1/endpoints/%s", ep_a), tok_a,
                      "{\"events\":[\"email.nope\"]}"), "events");

    /* Isolation: B's ids through A's token are 404, the same body as an id
     * that does not exist. */
    const char *missing = "ep_01AAAAAAAAAAAAAAAAAAAAAAAA";
    struct api_reply *miss = req(404, "GET", harness_fmt("/v1/endpoints/%s", missing), tok_a, NULL);
    static const char *const ep_paths[][2] = {
        { "GET", "" }, { "PATCH", "" }, { "DELETE", "" }, { "GET", "/secret" },
        { "POST", "/enable" }, { "POST", "/disable" }, { "POST", "/rotate-secret" },
        { "POST", "/test" }, { "GET", "/deliveries" }, { "POST", "/replay" }, { "GET", "/stats" },
    };
    for (size_t i = 0; i < sizeof(ep_paths) / sizeof(ep_paths[0]); i++) {
        const char *m = ep_paths[i][0];
        const char *body = strcmp(m, "GET") && strcmp(m, "DELETE") ? "{\"type\":\"email.sent\",\"since\":\"1h\"}" : NULL;
        if (!strcmp(ep_paths[i][1], "") && !strcmp(m, "PATCH"))
            body = "{\"description\":\"x\"}";
        struct api_reply *x = req(404, m, harness_fmt("/v1/endpoints/%s%s", ep_b, ep_paths[i][1]),
                                  tok_a, body);
        assert_string_equal(x->body, miss->body);
    }

    /* Publish through the API: delivered to A's endpoint, signature valid. */
    r = req(202, "POST", "/v1/events", A.admin,
            "{\"id\":\"evt_api_1\",\"type\":\"email.delivered\",\"account_id\":\"acct_a\","
            "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<m1@x>\",\"to\":\"a@example.org\"}}");
    assert_non_null(strstr(r->body, "\"result\":\"published\""));
    assert_non_null(strstr(r->body, "\"deliveries\":1"));
    assert_int_equal(rx_wait(C.rx, "/a", 1, WAIT_MS), 0);
    struct rx_request *got = NULL;
    size_t ng = rx_requests(C.rx, "/a", &got);
    assert_int_equal(ng, 1);
    assert_int_equal(psw_sign_verify(rx_header(&got[0], "X-PostStack-Signature"), got[0].body,
                                     got[0].body_len, secret_a, 300, psw_now_ms() / 1000),
                     PSW_VERIFY_OK);
    char dlv[64];
    snprintf(dlv, sizeof(dlv), "%s", rx_header(&got[0], "X-PostStack-Delivery-Id"));
    rx_requests_free(got, ng);
    /* Batch, duplicate and a bad event in one call. */
    r = req(202, "POST", "/v1/events", A.admin,
            "{\"events\":[{\"id\":\"evt_api_1\",\"type\":\"email.delivered\",\"account_id\":\"acct_a\","
            "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<m1@x>\",\"to\":\"a@example.org\"}},"
            "{\"type\":\"email.nope\"}]}");
    assert_non_null(strstr(r->body, "\"result\":\"duplicate\""));
    assert_non_null(strstr(r->body, "\"result\":\"failed\""));
    api_fixture_problem(req(400, "POST", "/v1/events", A.admin, "{\"type\":\"email.sent\"}"), "account_id");

    /* The delivery: visible to A and admin, 404 to B. */
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", dlv), "state", "delivered",
                                        WAIT_MS), 0);
    r = req(200, "GET", harness_fmt("/v1/deliveries/%s", dlv), tok_a, NULL);
    assert_non_null(strstr(r->body, "\"attempts\""));
    req(200, "GET", harness_fmt("/v1/deliveries/%s", dlv), A.admin, NULL);
    struct api_reply *dmiss =
        req(404, "GET", "/v1/deliveries/dlv_01AAAAAAAAAAAAAAAAAAAAAAAA", tok_b, NULL);
    assert_string_equal(req(404, "GET", harness_fmt("/v1/deliveries/%s", dlv), tok_b, NULL)->body,
                        dmiss->body);
    assert_string_equal(
        req(404, "POST", harness_fmt("/v1/deliveries/%s/replay", dlv), tok_b, NULL)->body,
        dmiss->body);
    r = req(200, "GET", harness_fmt("/v1/endpoints/%s/deliveries?state=delivered&type=email.delivered&limit=10", ep_a), tok_a, NULL);
    assert_non_null(strstr(r->body, dlv));
    r = req(200, "GET", harness_fmt("/v1/endpoints/%s/deliveries?type=email.bounced", ep_a), tok_a, NULL);
    assert_null(strstr(r->body, dlv));
    api_fixture_problem(req(400, "GET", harness_fmt("/v1/endpoints/%s/deliveries?state=lost", ep_a), tok_a, NULL), "state");
    api_fixture_problem(req(400, "GET", harness_fmt("/v1/endpoints/%s/deliveries?limit=501", ep_a), tok_a, NULL), "limit");

    /* Replay through the API reaches the receiver again. */
    r = req(202, "POST", harness_fmt("/v1/deliveries/%s/replay", dlv), tok_a, NULL);
    assert_string_equal(api_json_str(r, "result"), "queued");
    assert_int_equal(rx_wait(C.rx, "/a", 2, WAIT_MS), 0);
    r = req(200, "POST", harness_fmt("/v1/endpoints/%s/replay", ep_a), tok_a,
            "{\"since\":\"1h\",\"states\":[\"delivered\"],\"dry_run\":true}");
    assert_non_null(strstr(r->body, "\"queued\":0"));
    assert_int_equal(rx_count(C.rx, "/a"), 2);

    /* Test event, rotate, disable/enable, stats, alerts, audit. */
    r = req(202, "POST", harness_fmt("/v1/endpoints/%s/test", ep_a), tok_a, "{\"type\":\"email.bounced\"}");
    assert_int_equal(rx_wait(C.rx, "/a", 3, WAIT_MS), 0);
    api_fixture_problem(req(400, "POST", harness_fmt("/v1/endpoints/%s/test", ep_a), tok_a, "{\"type\":\"email.sent\"}"), "type");
    r = req(200, "POST", harness_fmt("/v1/endpoints/%s/rotate-secret", ep_a), tok_a, "{\"grace\":\"1h\"}");
    assert_string_equal(api_json_str(r, "secret_prev"), secret_a);
    r = req(200, "POST", harness_fmt("/v1/endpoints/%s/disable", ep_a), tok_a, "{\"reason\":\"maintenance\"}");
    assert_string_equal(api_json_str(r, "status"), "disabled");
    r = req(200, "POST", harness_fmt("/v1/endpoints/%s/enable", ep_a), tok_a, NULL);
    assert_string_equal(api_json_str(r, "status"), "enabled");
    req(200, "GET", harness_fmt("/v1/endpoints/%s/stats", ep_a), tok_a, NULL);
    r = req(200, "GET", "/v1/stats", tok_a, NULL);
    assert_string_equal(api_json_str(r, "account_id"), "acct_a");
    req(200, "GET", "/v1/stats", A.admin, NULL);
    req(200, "GET", "/v1/queue", A.admin, NULL);
    req(200, "GET", "/v1/alerts", tok_a, NULL);
    r = req(200, "GET", "/v1/audit", tok_a, NULL);
    assert_non_null(strstr(r->body, "\"action\":\"endpoint.rotate_secret\""));
    assert_non_null(strstr(r->body, "\"actor\":\"acct-a\""));
    assert_null(strstr(r->body, ep_b)); /* B's creation is not A's business */
    r = req(200, "GET", "/v1/audit?limit=1", A.admin, NULL);
    cur = str(r, "next_cursor");
    req(200, "GET", harness_fmt("/v1/audit?limit=1&cursor=%s", cur), A.admin, NULL);

    /* Sessions: a token becomes a cookie; changes need the CSRF token. */
    struct api_req sq = { "POST", "/v1/session", NULL, NULL,
                          harness_fmt("{\"token\":\"%s\"}", tok_a), 0, NULL, NULL };
    struct api_reply *s = harness_keep(calloc(1, sizeof(*s)));
    assert_int_equal(api_send(A.base, &sq, s), 0);
    assert_int_equal(s->status, 200);
    assert_non_null(strstr(s->set_cookie, "HttpOnly"));
    assert_non_null(strstr(s->set_cookie, "SameSite=Strict"));
    harness_keep_json(s->json);
    harness_keep(s->body);
    char cookie[256], csrf[128];
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(s->set_cookie, ";"), s->set_cookie);
    snprintf(csrf, sizeof(csrf), "%s", api_json_str(s, "csrf_token"));
    struct api_reply x;
    struct api_req g = { "GET", "/v1/endpoints", NULL, NULL, NULL, 0, cookie, NULL };
    api_send(A.base, &g, &x);
    assert_int_equal(x.status, 200);
    assert_non_null(strstr(x.body, ep_a));
    api_reply_free(&x);
    struct api_req p = { "POST", harness_fmt("/v1/endpoints/%s/disable", ep_a), NULL, NULL, "{}",
                         0, cookie, NULL };
    api_send(A.base, &p, &x);
    assert_int_equal(x.status, 403);
    api_reply_free(&x);
    p.csrf = csrf;
    api_send(A.base, &p, &x);
    assert_int_equal(x.status, 200);
    api_reply_free(&x);
    struct api_req sg = { "GET", "/v1/session", NULL, NULL, NULL, 0, cookie, NULL };
    api_send(A.base, &sg, &x);
    assert_int_equal(x.status, 200);
    assert_string_equal(api_json_str(&x, "csrf_token"), csrf);
    api_reply_free(&x);
    struct api_req sd = { "DELETE", "/v1/session", NULL, NULL, NULL, 0, cookie, csrf };
    api_send(A.base, &sd, &x);
    assert_int_equal(x.status, 204);
    api_reply_free(&x);
    api_send(A.base, &g, &x);
    assert_int_equal(x.status, 401);
    api_reply_free(&x);

    /* Dashboard links: single use, for that account only. */
    r = req(201, "POST", "/v1/accounts/acct_b/dashboard-links", A.admin, NULL);
    const char *link = strstr(str(r, "url"), "#login=");
    assert_non_null(link);
    link += strlen("#login=");
    r = req(200, "POST", "/v1/session", NULL, harness_fmt("{\"link\":\"%s\"}", link));
    assert_string_equal(api_json_str(r, "account_id"), "acct_b");
    req(401, "POST", "/v1/session", NULL, harness_fmt("{\"link\":\"%s\"}", link));
    api_fixture_problem(req(403, "POST", "/v1/accounts/acct_b/dashboard-links", tok_b, NULL), NULL);

    /* Delete, then the rest of the anyone-routes. */
    req(204, "DELETE", harness_fmt("/v1/endpoints/%s", ep_b), A.admin, NULL);
    req(200, "GET", "/healthz", NULL, NULL);
    req(200, "GET", "/readyz", NULL, NULL);
    r = req(200, "GET", "/v1/openapi.json", NULL, NULL);
    assert_non_null(strstr(r->body, "\"openapi\""));
    r = req(200, "GET", "/", NULL, NULL);
    assert_non_null(strstr(r->body, "/assets/app.js"));
    req(200, "GET", "/assets/app.js", NULL, NULL);
    req(404, "GET", "/assets/nothing.js", NULL, NULL);
    r = req(200, "GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(r->body, "psw_events_published_total"));
    req(404, "GET", "/v1/nothing", A.admin, NULL);
    req(405, "PUT", "/v1/endpoints", A.admin, "{}");

    /* Revoked: at once. The CLI's token ops are audited too. */
    req(204, "DELETE", harness_fmt("/v1/tokens/%s", tok_a_id), A.admin, NULL);
    api_fixture_problem(req(401, "GET", "/v1/endpoints", tok_a, NULL), NULL);
    req(404, "DELETE", harness_fmt("/v1/tokens/%s", tok_a_id), A.admin, NULL);
    r = req(200, "GET", "/v1/audit?limit=500", A.admin, NULL);
    assert_non_null(strstr(r->body, "\"actor\":\"cli\""));
    assert_non_null(strstr(r->body, "\"action\":\"token.revoke\""));

    /* Every answer above against the OpenAPI document's schemas; with
     * coverage: every operation of the document was exercised above. */
    api_fixture_check_openapi(&A, 1);
    A.ok = 1;
}

static void test_bad_tokens(void **state)
{
    (void)state;
    char *o_cli = NULL;
    api_fixture_start(&A, NULL);
    api_fixture_problem(req(401, "GET", "/v1/endpoints", NULL, NULL), NULL);
    api_fixture_problem(req(401, "GET", "/v1/endpoints", "psw_not-a-real-token", NULL), NULL);
    api_fixture_problem(req(401, "GET", "/v1/endpoints", "nonsense", NULL), NULL);
    struct api_req basic = { "GET", "/v1/endpoints", NULL, NULL, NULL, 0, NULL, NULL };
    struct api_reply x;
    api_send(A.base, &basic, &x);
    assert_int_equal(x.status, 401);
    api_reply_free(&x);

    /* An expired token: created with a TTL, refused once it has passed. */
    struct api_reply *r = req(201, "POST", "/v1/tokens", A.admin,
                              "{\"name\":\"short\",\"account_id\":\"acct_a\",\"ttl\":\"1s\"}");
    const char *tok = str(r, "token");
    assert_non_null(api_json_str(r, "expires_at"));
    req(200, "GET", "/v1/endpoints", tok, NULL);
    harness_nap(1200);
    api_fixture_problem(req(401, "GET", "/v1/endpoints", tok, NULL), NULL);
    api_fixture_problem(req(400, "POST", "/v1/tokens", A.admin, "{\"name\":\"x\",\"ttl\":\"soon\"}"), "ttl");
    api_fixture_problem(req(400, "POST", "/v1/tokens", A.admin, "{\"account_id\":\"a\"}"), "name");
    /* last use is recorded */
    r = req(200, "GET", "/v1/tokens", A.admin, NULL);
    assert_null(strstr(r->body, "\"last_used_at\":null,\"name\":\"short\""));

    /* Only the SHA-256 is stored: no key or value of the token's records holds
     * the token text, and the hash finds the id. */
    r = req(201, "POST", "/v1/tokens", A.admin, "{\"name\":\"stored\"}");
    const char *text = str(r, "token"), *id = str(r, "id");
    char sha[PSW_SHA256_HEX];
    psw_sha256_hex(text, strlen(text), sha);
    redisReply *rep = cluster_cmd(&C, "GET %stoken_hash:%s", C.cfg.redis_prefix, sha);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, id);
    freeReplyObject(rep);
    rep = cluster_cmd(&C, "HGETALL %stoken:%s", C.cfg.redis_prefix, id);
    assert_true(rep->elements > 0);
    for (size_t i = 0; i < rep->elements; i++)
        assert_null(strstr(rep->element[i]->str, text + 4));
    freeReplyObject(rep);
    rep = cluster_cmd(&C, "KEYS *%s*", text + 4);
    assert_int_equal(rep->elements, 0);
    freeReplyObject(rep);

    /* Changes made with psw are in the same trail, actor "cli". */
    char url[256];
    rx_url(C.rx, "/cli", url, sizeof(url));
    const char *mk[] = { "--config", C.config_path, "--json", "endpoint", "create", "--account",
                         "acct_cli", "--url", url, NULL };
    assert_int_equal(proc_run("psw", mk, NULL, &o_cli, NULL, 20000), 0);
    struct json_object *made = harness_keep_json(json_tokener_parse(o_cli));
    free(o_cli);
    struct json_object *idv;
    assert_true(json_object_object_get_ex(made, "id", &idv));
    const char *ep_cli = json_object_get_string(idv);
    const char *del[] = { "--config", C.config_path, "endpoint", "delete", ep_cli, NULL };
    assert_int_equal(proc_run("psw", del, NULL, NULL, NULL, 20000), 0);
    r = req(200, "GET", "/v1/audit?account=acct_cli", A.admin, NULL);
    assert_non_null(strstr(r->body, harness_fmt("\"actor\":\"cli\",\"action\":\"endpoint.create\",\"target\":\"%s\"", ep_cli)));
    assert_non_null(strstr(r->body, harness_fmt("\"actor\":\"cli\",\"action\":\"endpoint.delete\",\"target\":\"%s\"", ep_cli)));

    /* --check and --print-config like the other daemons */
    const char *chk[] = { "--config", C.config_path, "--check", NULL };
    char *o = NULL, *e = NULL;
    assert_int_equal(proc_run("psw-api", chk, NULL, &o, &e, 20000), 0);
    free(o);
    free(e);
    const char *pc[] = { "--config", C.config_path, "--print-config", NULL };
    assert_int_equal(proc_run("psw-api", pc, NULL, &o, &e, 20000), 0);
    assert_non_null(strstr(o, "\napi:\n"));
    assert_non_null(strstr(o, "  rate_limit: "));
    free(o);
    free(e);

    /* SIGTERM: a clean stop, exit 0; then --check fails */
    int st = proc_stop(A.pid, SIGTERM, 10000);
    A.pid = -1;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(proc_run("psw-api", chk, NULL, &o, &e, 20000), 1);
    free(o);
    free(e);
    A.ok = 1;
}

/* POST /v1/events with a list publishes each element from the bytes the
 * client sent for it (docs/api.md "Publishing"): its stored body is what
 * psw_event_parse makes of exactly those bytes (what `psw publish` of the
 * same line stores), whitespace and escapes included; an integer beyond 64
 * bits is refused as `psw publish` refuses it, not silently changed; a list
 * behind an escaped key, or after another list under the same key (json-c
 * keeps the last), is published the same way. */
static void test_publish_list_bytes(void **state)
{
    (void)state;
    api_fixture_start(&A, NULL);
    static const char *const els[] = {
        "{ \"id\" : \"evt_lb_1\", \"type\":\"email.sent\", \"account_id\":\"acct_a\",\n"
        "  \"domain\":\"Mail.Example.com\", \"created_at\":\"2026-11-27T16:04:05.123+01:00\",\n"
        "  \"data\": { \"message_id\":\"<m\\/1>\", \"to\":\"a@example.org\", \"n\": -0,\n"
        "            \"s\":\"\\u00e9\\t\\u001F\", \"f\": 1.50 }, \"zz\": [ 1 ] }",
        "{\"id\":\"evt_lb_2\",\"type\":\"email.delivered\",\"account_id\":\"acct_a\","
        "\"domain\":\"mail.example.com\",\"created_at\":\"2026-11-27T15:04:05.123Z\","
        "\"data\":{\"message_id\":\"<m2>\",\"to\":\"b@example.org\",\"tags\":[\"x\"]}}",
        "{\"id\":\"evt_lb_3\",\"type\":\"email.sent\",\"account_id\":\"acct_a\","
        "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"m3\",\"to\":\"c@example.org\","
        "\"n\":123456789012345678901234567890}}",
        "null",
    };
    const char *list = harness_fmt("%s,%s , %s,%s", els[0], els[1], els[2], els[3]);
    static const char *const envelopes[][2] = { /* before and after the list */
        { "{\"events\":[", "]}" },
        { "{ \"\\u0065vents\" : [ ", " ] }" },                     /* json-c reads "events" */
        { "{\"events\":[{\"x\":1}],\"n\":\"]\\\"\",\"events\\u0000x\":[", "]}" }, /* the last one */
    };
    for (size_t e = 0; e < 3; e++) {
        struct api_reply *r = req(202, "POST", "/v1/events", A.admin,
                                  harness_fmt("%s%s%s", envelopes[e][0], list, envelopes[e][1]));
        struct json_object *root = json_tokener_parse(r->body), *results = NULL;
        assert_non_null(root);
        assert_true(json_object_object_get_ex(root, "results", &results));
        assert_int_equal(json_object_array_length(results), 4);
        for (size_t i = 0; i < 4; i++) {
            struct json_object *one = json_object_array_get_idx(results, i), *v = NULL;
            struct psw_event ev;
            char err[512];
            int ok = psw_event_parse(els[i], strlen(els[i]), NULL, psw_now_ms(), &ev, err,
                                     sizeof(err)) == 0;
            assert_true(json_object_object_get_ex(one, "result", &v));
            if (!ok) {
                assert_string_equal(json_object_get_string(v), "failed");
                assert_true(json_object_object_get_ex(one, "error", &v));
                assert_string_equal(json_object_get_string(v), err);
                continue;
            }
            assert_string_equal(json_object_get_string(v), e == 0 ? "published" : "duplicate");
            char *body = cluster_hget(&C, harness_fmt("event:acct_a/%s", ev.id), "body");
            assert_non_null(body);
            assert_string_equal(body, ev.body);
            free(body);
            psw_event_free(&ev);
        }
        json_object_put(root);
    }
    /* the two refused ones: what psw_event_parse says, and nothing stored */
    char *none = cluster_hget(&C, "event:acct_a/evt_lb_3", "body");
    assert_null(none);
    api_fixture_problem(req(400, "POST", "/v1/events", A.admin, els[2]), "event");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_routes_and_isolation, NULL, api_fixture_teardown, &A),
        cmocka_unit_test_prestate_setup_teardown(test_bad_tokens, NULL, api_fixture_teardown, &A),
        cmocka_unit_test_prestate_setup_teardown(test_publish_list_bytes, NULL, api_fixture_teardown, &A),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
