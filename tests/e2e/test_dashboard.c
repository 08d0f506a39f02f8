/*
 * test_dashboard.c — the dashboard (docs/dashboard.md) in a real browser.
 *
 * One deployment for the whole program: Redis, psw-scheduler, psw-worker,
 * the recording receiver (tests/harness/cluster.h) and a real psw-api. Each
 * scenario prepares data here, runs tests/browser/dashboard.mjs SCENARIO
 * (Debian's chromium driven by the pinned playwright-core; it does what a user
 * does in the page and fails on any console error), reads the JSON it writes,
 * and then checks what the receiver and Redis saw — never only the page.
 *
 * The scenarios share the deployment and run in order: link login, live
 * deliveries, script-like answers, replay one, rotate, forged form, another
 * account's endpoint, auto-disable, recover with a batch replay, the delivery
 * options of the endpoint forms.
 *
 * Screenshots of every screen at 1280 and 390 px go to $PSW_SHOTS when set
 * (docs/dashboard/ holds the committed ones; docs/dashboard.md says how).
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

#include "common/sign.h"
#include "common/timeutil.h"
#include "common/token.h"
#include "tests/harness/api_client.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 20000
#define NODE_MS 120000

/* receiver-controlled text the page must show as characters, never run */
#define XSS_BODY "<img src=x onerror=alert(1)><script>alert(2)</script>"
#define XSS_HEADER "<img src=x onerror=alert(3)>"

static struct cluster C;
static int C_ok;
static pid_t api_pid = -1;
static char base[64], api_log[700], rxbase[64], shots[1024];
static char admin[PSW_TOKEN_SECRET_SIZE], tok_a[PSW_TOKEN_SECRET_SIZE];
static char ep_a[PSW_ID_SIZE], ep_x[PSW_ID_SIZE], ep_b[PSW_ID_SIZE];
static char secret_a[PSW_SECRET_SIZE];
static char url_b[256];
static char live_dlv[PSW_ID_SIZE];

/* ---- set-up ------------------------------------------------------------------ */

static int api_up(void *arg)
{
    (void)arg;
    struct api_reply r;
    int ok = api_do(base, "GET", "/readyz", NULL, NULL, &r) == 0 && r.status == 200;
    api_reply_free(&r);
    return ok;
}

static void token(const char *name, const char *account, char out[PSW_TOKEN_SECRET_SIZE])
{
    struct psw_token t;
    char err[256];
    if (psw_token_create(&C.ctx, name, account, 0, &t, out, err, sizeof(err)) != PSW_OK)
        fail_msg("token %s: %s", name, err);
}

static int setup(void **state)
{
    (void)state;
    static char listen[64];
    int port = api_free_port();
    assert_true(port > 0);
    snprintf(listen, sizeof(listen), "api.listen: 127.0.0.1:%d", port);
    const char *lines[] = {
        listen, "endpoint.disable_after_failures: 3", "retry.schedule: 50ms, 50ms",
        "api.rate_limit: 2000", NULL,
    };
    if (cluster_start(&C, lines, 1, 1) != 0)
        return -1;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    snprintf(rxbase, sizeof(rxbase), "http://127.0.0.1:%d", rx_port(C.rx));
    snprintf(api_log, sizeof(api_log), "%s/api.log", C.dir);
    const char *argv[] = { "--config", C.config_path, NULL };
    api_pid = proc_spawn("psw-api", argv, api_log);
    if (api_pid <= 0 || wait_until(api_up, NULL, WAIT_MS, 20) < 0) {
        file_tail(api_log, 30);
        return -1;
    }
    token("admin", NULL, admin);
    token("acct-a dashboard", "acct_a", tok_a);
    cluster_endpoint(&C, "acct_a", "/a", NULL, "email.delivered,email.sent", NULL, ep_a, secret_a,
                     sizeof(secret_a));
    cluster_endpoint(&C, "acct_a", "/x", NULL, "email.opened", NULL, ep_x, NULL, 0);
    cluster_endpoint(&C, "acct_b", "/b", NULL, NULL, NULL, ep_b, NULL, 0);
    rx_url(C.rx, "/b", url_b, sizeof(url_b));

    const char *s = getenv("PSW_SHOTS");
    snprintf(shots, sizeof(shots), "%s", s && *s ? s : "");
    C_ok = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (api_pid > 0) {
        int st = proc_stop(api_pid, SIGTERM, 10000);
        if (!C_ok || !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            file_tail(api_log, 40);
        api_pid = -1;
    }
    cluster_stop(&C, !C_ok);
    harness_kept_free();
    return 0;
}

/* ---- running the browser ------------------------------------------------------- */

/* Runs dashboard.mjs scenario with the common environment plus extra
 * ("NAME=value" strings, NULL-terminated); fails the test when it fails.
 * Returns its JSON result (kept until teardown). */
static struct json_object *browse(const char *scenario, const char *const *extra)
{
    const char *src = getenv("PSW_SRC") ? getenv("PSW_SRC") : ".";
    char script[1024], outp[800], logp[800];
    snprintf(script, sizeof(script), "%s/tests/browser/dashboard.mjs", src);
    snprintf(outp, sizeof(outp), "%s/browser-%s.json", C.dir, scenario);
    snprintf(logp, sizeof(logp), "%s/browser-%s.log", C.dir, scenario);
    unlink(outp);
    setenv("PSW_API", base, 1);
    setenv("PSW_TOKEN", tok_a, 1);
    setenv("PSW_ADMIN_TOKEN", admin, 1);
    setenv("PSW_ACCOUNT", "acct_a", 1);
    setenv("PSW_RX", rxbase, 1);
    setenv("PSW_SHOTS", shots, 1);
    setenv("PSW_OUT", outp, 1);
    for (size_t i = 0; extra && extra[i]; i++) {
        const char *eq = strchr(extra[i], '=');
        assert_non_null(eq);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - extra[i]), extra[i]);
        setenv(name, eq + 1, 1);
    }

    char *const argv[] = { "/usr/bin/env", "node", script, (char *)scenario, NULL };
    long long t0 = harness_mono_ms();
    pid_t pid = harness_spawn("/usr/bin/env", argv, logp, SIGTERM);
    assert_true(pid > 0);
    int st = 0;
    if (proc_wait(pid, NODE_MS, &st) < 0) {
        proc_stop(pid, SIGKILL, 1000);
        file_tail(logp, 40);
        fail_msg("dashboard.mjs %s did not finish in %d ms", scenario, NODE_MS);
    }
    print_message("browser scenario %s: %lld ms\n", scenario, harness_mono_ms() - t0);
    char *text = read_file(outp, NULL);
    struct json_object *o = text ? json_tokener_parse(text) : NULL;
    free(text);
    if (o)
        harness_keep_json(o);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !o) {
        file_tail(logp, 40);
        fail_msg("dashboard.mjs %s failed: %s", scenario,
                 o ? json_object_to_json_string(o) : "no result written");
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

static long long jint(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static const char *env(const char *name, const char *value)
{
    return harness_fmt("%s=%s", name, value);
}

/* The requests on path whose header name equals value. */
static size_t count_with(const char *path, const char *name, const char *value)
{
    struct rx_request *got = NULL;
    size_t n = rx_requests(C.rx, path, &got), hits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = rx_header(&got[i], name);
        hits += v && strcmp(v, value) == 0;
    }
    rx_requests_free(got, n);
    return hits;
}

struct want_header { const char *path, *name, *value; size_t n; };

static int has_header(void *arg)
{
    struct want_header *w = arg;
    return count_with(w->path, w->name, w->value) >= w->n;
}

static void wait_header(const char *path, const char *name, const char *value, size_t n)
{
    struct want_header w = { path, name, value, n };
    if (wait_until(has_header, &w, WAIT_MS, 20) < 0)
        fail_msg("the receiver did not get %zu request(s) on %s with %s: %s", n, path, name, value);
}

static char *ep_field(const char *ep, const char *field)
{
    return harness_keep(cluster_hget(&C, harness_fmt("endpoint:%s", ep), field));
}

/* ---- 1. dashboard link -------------------------------------------------------- */

static void test_link_login_once(void **state)
{
    (void)state;
    struct api_reply r;
    assert_int_equal(api_do(base, "POST", "/v1/accounts/acct_a/dashboard-links", admin, "{}", &r), 0);
    assert_int_equal(r.status, 201);
    const char *url = api_json_str(&r, "url");
    assert_non_null(url);
    const char *code = strstr(url, "#login=");
    assert_non_null(code);
    char link[512], hash[PSW_SHA256_HEX];
    snprintf(link, sizeof(link), "%s", url);
    code = strstr(link, "#login=") + strlen("#login=");
    psw_sha256_hex(code, strlen(code), hash);
    api_reply_free(&r);
    redisReply *k = cluster_cmd(&C, "EXISTS psw:login_link:%s", hash);
    assert_int_equal(k->integer, 1);
    freeReplyObject(k);

    const char *extra[] = { env("PSW_LINK", link), NULL };
    struct json_object *o = browse("link", extra);
    assert_null(strstr(jstr(o, "hash_after"), code));
    assert_non_null(strstr(jstr(o, "second_error"), "cannot be used"));
    /* Redis: the link is gone (single use), and logging out ended the session */
    k = cluster_cmd(&C, "EXISTS psw:login_link:%s", hash);
    assert_int_equal(k->integer, 0);
    freeReplyObject(k);
    k = cluster_cmd(&C, "KEYS psw:session:*");
    assert_int_equal(k->elements, 0);
    freeReplyObject(k);
    assert_string_equal(jstr(o, "cookie_after_logout"), "");
    /* the API refuses the code too */
    char body[256];
    snprintf(body, sizeof(body), "{\"link\":\"%s\"}", code);
    assert_int_equal(api_do(base, "POST", "/v1/session", NULL, body, &r), 0);
    assert_int_equal(r.status, 401);
    api_reply_free(&r);
}

/* ---- 2. live ------------------------------------------------------------------ */

static void test_deliveries_arrive_live(void **state)
{
    (void)state;
    size_t before = rx_count(C.rx, "/a");
    const char *extra[] = { env("PSW_EP", ep_a), NULL };
    struct json_object *o = browse("live", extra);
    const char *evt = jstr(o, "event_id"), *dlv = jstr(o, "delivery_id");
    assert_non_null(evt);
    assert_non_null(dlv);
    snprintf(live_dlv, sizeof(live_dlv), "%s", dlv);
    /* what the page showed is what the receiver got and Redis recorded */
    assert_int_equal(rx_count(C.rx, "/a"), before + 1);
    assert_int_equal(count_with("/a", "X-PostStack-Event-Id", evt), 1);
    assert_int_equal(count_with("/a", "X-PostStack-Delivery-Id", dlv), 1);
    char *st = harness_keep(cluster_hget(&C, harness_fmt("delivery:%s", dlv), "state"));
    assert_string_equal(st, "delivered");
    assert_non_null(strstr(jstr(o, "card_text"), rxbase));
    assert_non_null(strstr(jstr(o, "empty_text"), "Send test event"));
    assert_non_null(strstr(jstr(o, "attempt_text"), "HTTP 200"));
    assert_non_null(strstr(jstr(o, "list_stats"), "100 %"));
    assert_int_equal(jint(o, "filtered_rows"), 0);
    assert_int_equal(jint(o, "type_rows"), 1);
}

/* ---- 7. script-like answers --------------------------------------------------- */

static void test_receiver_answers_stay_text(void **state)
{
    (void)state;
    struct rx_behavior b = { .status = 200, .body = XSS_BODY, .location = XSS_HEADER };
    rx_set(C.rx, "/x", &b);
    char evt[64], dlv[PSW_ID_SIZE];
    int nd = 0;
    assert_int_equal(cluster_publish(&C,
        "{\"type\":\"email.opened\",\"account_id\":\"acct_a\",\"domain\":\"mail.example.com\","
        "\"data\":{\"message_id\":\"<x@mail.example.com>\",\"to\":\"bob@example.org\"}}",
        evt, sizeof(evt), &nd), PSW_OK);
    assert_int_equal(nd, 1);
    char **ids = NULL;
    assert_int_equal(cluster_deliveries(&C, ep_x, &ids), 1);
    snprintf(dlv, sizeof(dlv), "%s", ids[0]);
    cluster_ids_free(ids, 1);
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", dlv), "state", "delivered", WAIT_MS), 0);
    /* Redis holds the receiver's exact bytes */
    redisReply *a = cluster_cmd(&C, "LINDEX psw:delivery:%s:attempts -1", dlv);
    assert_non_null(strstr(a->str, "onerror=alert(1)"));
    freeReplyObject(a);

    const char *extra[] = { env("PSW_EP", ep_x), env("PSW_DLV", dlv), NULL };
    struct json_object *o = browse("xss", extra);
    assert_string_equal(jstr(o, "body_text"), XSS_BODY);
    assert_non_null(strstr(jstr(o, "headers_text"), XSS_HEADER));
    assert_int_equal(jint(o, "flag"), 0);
    assert_int_equal(jint(o, "images"), 0);
    assert_int_equal(count_with("/x", "X-PostStack-Delivery-Id", dlv), 1);
    rx_set(C.rx, "/x", NULL);
}

/* ---- 5. replay one ------------------------------------------------------------ */

static void test_replay_one(void **state)
{
    (void)state;
    assert_true(live_dlv[0]);
    assert_int_equal(count_with("/a", "X-PostStack-Delivery-Id", live_dlv), 1);
    const char *extra[] = { env("PSW_EP", ep_a), env("PSW_DLV", live_dlv), NULL };
    browse("replayone", extra);
    wait_header("/a", "X-PostStack-Delivery-Id", live_dlv, 2);
    const char *key = harness_fmt("delivery:%s", live_dlv);
    assert_int_equal(cluster_wait_field(&C, key, "state", "delivered", WAIT_MS), 0);
    char *trig = harness_keep(cluster_hget(&C, key, "trigger"));
    assert_string_equal(trig, "replay");
    assert_int_equal(cluster_hget_ll(&C, key, "attempts", 0), 2);
}

/* ---- 6. rotate ---------------------------------------------------------------- */

static void test_rotate_secret(void **state)
{
    (void)state;
    const char *extra[] = { env("PSW_EP", ep_a), NULL };
    struct json_object *o = browse("rotate", extra);
    const char *fresh = jstr(o, "new_secret"), *evt = jstr(o, "test_event_id");
    assert_non_null(fresh);
    assert_non_null(evt);
    assert_string_not_equal(fresh, secret_a);
    assert_non_null(strstr(jstr(o, "audit"), "rotate"));
    wait_header("/a", "X-PostStack-Event-Id", evt, 1);

    struct rx_request *got = NULL;
    size_t n = rx_requests(C.rx, "/a", &got);
    const struct rx_request *r = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *v = rx_header(&got[i], "X-PostStack-Event-Id");
        if (v && strcmp(v, evt) == 0)
            r = &got[i];
    }
    assert_non_null(r);
    const char *sig = rx_header(r, "X-PostStack-Signature");
    assert_non_null(sig);
    /* two signatures during the grace period ... */
    const char *p = sig;
    int v1 = 0;
    while ((p = strstr(p, "v1="))) {
        v1++;
        p += 3;
    }
    assert_int_equal(v1, 2);
    /* ... and a receiver that knows only the new secret (the one the page showed) accepts it */
    int64_t now = psw_now_ms() / 1000;
    assert_int_equal(psw_sign_verify(sig, r->body, r->body_len, fresh, 300, now), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(sig, r->body, r->body_len, secret_a, 300, now), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(sig, r->body, r->body_len, "whsec_bm90IHRoZSBzZWNyZXQgYXQgYWxsIG5vIG5vIG5v",
                                     300, now), PSW_VERIFY_NO_MATCH);
    rx_requests_free(got, n);
    snprintf(secret_a, sizeof(secret_a), "%s", fresh);
}

/* ---- 8. forged form ----------------------------------------------------------- */

static void test_forged_form_refused(void **state)
{
    (void)state;
    const char *extra[] = { env("PSW_EP", ep_a), NULL };
    struct json_object *o = browse("csrf", extra);
    assert_int_equal(jint(o, "same_site_status"), 403);
    /* nothing changed in Redis */
    assert_string_equal(ep_field(ep_a, "status"), "enabled");
    redisReply *a = cluster_cmd(&C, "XRANGE psw:audit - +");
    for (size_t i = 0; i < a->elements; i++) {
        redisReply *f = a->element[i]->element[1];
        for (size_t j = 0; j + 1 < f->elements; j += 2)
            if (strcmp(f->element[j + 1]->str, "endpoint.disable") == 0)
                fail_msg("a forged request disabled the endpoint");
    }
    freeReplyObject(a);
}

/* ---- 9. another account's endpoint -------------------------------------------- */

static void test_other_account_by_url(void **state)
{
    (void)state;
    const char *extra[] = { env("PSW_EP", ep_a), env("PSW_EP_OTHER", ep_b), env("PSW_OTHER_URL", url_b), NULL };
    struct json_object *o = browse("isolation", extra);
    struct json_object *api = NULL;
    assert_true(json_object_object_get_ex(o, "api", &api));
    assert_int_equal(jint(api, "deliveries"), 404);
    assert_int_equal(jint(api, "secret"), 404);
    assert_int_equal(jint(api, "disable"), 404);
    assert_string_equal(ep_field(ep_b, "status"), "enabled");
    assert_int_equal(rx_count(C.rx, "/b"), 0);
}

/* ---- 3 and 4. auto-disable, then recover with a batch replay ------------------- */

#define MISSED 6
static char missed[MISSED][64];

struct finals { const char *ep; size_t want; };

static int all_final(void *arg)
{
    struct finals *f = arg;
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, f->ep, &ids), done = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        char *st = cluster_hget(&C, harness_fmt("delivery:%s", ids[i]), "state");
        if (st && (strcmp(st, "failed") == 0 || strcmp(st, "skipped") == 0))
            done++;
        else if (!st || strcmp(st, "delivered") != 0)
            bad++;
        free(st);
    }
    cluster_ids_free(ids, n);
    return bad == 0 && done >= f->want;
}

static void publish_a(int i)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"type\":\"email.sent\",\"account_id\":\"acct_a\",\"domain\":\"mail.example.com\","
             "\"data\":{\"message_id\":\"<m%d@mail.example.com>\",\"to\":\"carol@example.org\"}}", i);
    int nd = 0;
    assert_int_equal(cluster_publish(&C, json, missed[i], sizeof(missed[i]), &nd), PSW_OK);
    assert_int_equal(nd, 1);
}

static void test_auto_disable_banner_and_alert(void **state)
{
    (void)state;
    struct rx_behavior fail = { .always_status = 500 };
    rx_set(C.rx, "/a", &fail);
    for (int i = 0; i < 4; i++)
        publish_a(i);
    assert_int_equal(cluster_wait_field(&C, harness_fmt("endpoint:%s", ep_a), "status", "disabled", WAIT_MS), 0);
    struct finals f = { ep_a, 4 };
    assert_int_equal(wait_until(all_final, &f, WAIT_MS, 20), 0);
    for (int i = 4; i < MISSED; i++)
        publish_a(i); /* skipped: the endpoint is disabled */
    f.want = MISSED;
    assert_int_equal(wait_until(all_final, &f, WAIT_MS, 20), 0);

    const char *extra[] = { env("PSW_EP", ep_a), NULL };
    struct json_object *o = browse("disabled", extra);
    const char *reason = ep_field(ep_a, "disabled_reason");
    assert_non_null(reason);
    assert_non_null(strstr(jstr(o, "banner"), reason));
    assert_non_null(strstr(jstr(o, "alert"), reason));
    /* 24 h: the live delivery and the rotation's test event delivered; the 6 missed ones
     * failed or skipped: 2 of 8 */
    assert_non_null(strstr(jstr(o, "card_stats"), "25.0 %"));
    /* the alert the page listed is the one in Redis */
    redisReply *a = cluster_cmd(&C, "XLEN psw:alerts");
    assert_int_equal(a->integer, 1);
    freeReplyObject(a);
}

static void test_enable_and_batch_replay(void **state)
{
    (void)state;
    rx_set(C.rx, "/a", NULL);
    long long t0 = psw_now_ms();
    const char *extra[] = { env("PSW_EP", ep_a), NULL };
    struct json_object *o = browse("recover", extra);
    assert_int_equal(jint(o, "matched"), MISSED);
    assert_non_null(strstr(jstr(o, "progress"), "Done"));
    assert_string_equal(ep_field(ep_a, "status"), "enabled");
    /* the receiver got every missed event, answered 200, after the replay began */
    struct rx_request *got = NULL;
    size_t n = rx_requests(C.rx, "/a", &got);
    for (int i = 0; i < MISSED; i++) {
        int ok = 0;
        for (size_t j = 0; j < n; j++) {
            const char *v = rx_header(&got[j], "X-PostStack-Event-Id");
            if (v && strcmp(v, missed[i]) == 0 && got[j].status == 200 && got[j].at_ms >= t0)
                ok = 1;
        }
        if (!ok)
            fail_msg("the receiver never got missed event %s after the replay", missed[i]);
    }
    rx_requests_free(got, n);
    struct finals f = { ep_a, 0 };
    assert_int_equal(wait_until(all_final, &f, WAIT_MS, 20), 0);
    char **ids = NULL;
    size_t nd = cluster_deliveries(&C, ep_a, &ids);
    for (size_t i = 0; i < nd; i++) {
        char *st = cluster_hget(&C, harness_fmt("delivery:%s", ids[i]), "state");
        if (!st || strcmp(st, "delivered") != 0)
            fail_msg("delivery %s is %s after the replay", ids[i], st ? st : "(gone)");
        free(st);
    }
    cluster_ids_free(ids, nd);
}

/* ---- 10. delivery options through the forms ------------------------------------ */

#define OPT_HEADER "Authorization: Basic dXNlcjpwYXNz"

static void test_endpoint_options(void **state)
{
    (void)state;
    char url[256];
    rx_url(C.rx, "/opt", url, sizeof(url));
    const char *extra[] = { env("PSW_OPT_URL", url), env("PSW_OPT_HEADER", OPT_HEADER), NULL };
    struct json_object *o = browse("options", extra);
    const char *ep = jstr(o, "ep");
    assert_non_null(ep);

    /* what the create form stored, as the admin API reads it back */
    struct json_object *c = NULL, *hs = NULL;
    assert_true(json_object_object_get_ex(o, "after_create", &c));
    assert_string_equal(jstr(c, "signing"), "standard");
    assert_int_equal(jint(c, "rate_limit"), 5);
    struct json_object *b = NULL;
    assert_true(json_object_object_get_ex(c, "batch", &b) && b);
    assert_int_equal(jint(b, "max_events"), 50);
    assert_int_equal(jint(b, "max_wait_ms"), 750);
    struct json_object *ord = NULL;
    assert_true(json_object_object_get_ex(c, "ordered", &ord));
    assert_true(json_object_get_boolean(ord));
    assert_string_equal(jstr(c, "url"), url);
    assert_true(json_object_object_get_ex(c, "headers", &hs));
    assert_int_equal(json_object_array_length(hs), 1);
    const char *masked = json_object_get_string(json_object_array_get_idx(hs, 0));
    assert_non_null(strstr(masked, "Authorization: Bas"));
    assert_null(strstr(masked, "dXNlcjpwYXNz"));
    /* the detail screen showed them, the header masked as the API gave it */
    const char *d = jstr(o, "detail_created");
    assert_non_null(strstr(d, "standard"));
    assert_non_null(strstr(d, "5 requests/s"));
    assert_non_null(strstr(d, "up to 50 events per request, sent within 750ms"));
    assert_non_null(strstr(d, "one request at a time"));
    assert_non_null(strstr(d, masked));
    assert_null(strstr(d, "dXNlcjpwYXNz"));
    /* the edit form left the masked headers alone unless asked to replace them */
    assert_int_equal(jint(o, "headers_disabled"), 1);
    assert_non_null(strstr(jstr(o, "headers_placeholder"), masked));

    /* after the edit: Redis holds Ed25519 with its key, the new limit, the header kept */
    const char *key = ep_field(ep, "public_key");
    assert_string_equal(ep_field(ep, "signing"), "ed25519");
    assert_string_equal(ep_field(ep, "rate_limit"), "7");
    assert_string_equal(ep_field(ep, "batch_max_events"), "0"); /* batching off again */
    assert_string_equal(ep_field(ep, "ordered"), "0");
    assert_null(strstr(jstr(o, "detail_edited"), "one request at a time"));
    assert_non_null(key);
    assert_int_equal(strncmp(key, "whpk_", 5), 0);
    assert_string_equal(jstr(o, "public_key"), key);
    assert_non_null(strstr(jstr(o, "detail_edited"), "7 requests/s"));
    assert_non_null(strstr(jstr(o, "detail_edited"), masked));

    /* and a delivery carries the full header and an Ed25519 signature */
    char evt[64];
    int nd = 0;
    assert_int_equal(cluster_publish(&C,
        "{\"type\":\"email.bounced\",\"account_id\":\"acct_a\",\"domain\":\"mail.example.com\","
        "\"data\":{\"message_id\":\"<o@mail.example.com>\",\"to\":\"dan@example.org\","
        "\"bounce\":{\"type\":\"hard\",\"code\":\"5.1.1\",\"reason\":\"no such mailbox\"}}}",
        evt, sizeof(evt), &nd), PSW_OK);
    assert_int_equal(nd, 1);
    wait_header("/opt", "Authorization", "Basic dXNlcjpwYXNz", 1);
    struct rx_request *got = NULL;
    size_t n = rx_requests(C.rx, "/opt", &got);
    assert_int_equal(n, 1);
    const char *sig = rx_header(&got[0], "webhook-signature");
    assert_non_null(sig);
    assert_int_equal(strncmp(sig, "v1a,", 4), 0);
    assert_null(rx_header(&got[0], "X-PostStack-Signature"));
    rx_requests_free(got, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_login_once),
        cmocka_unit_test(test_deliveries_arrive_live),
        cmocka_unit_test(test_receiver_answers_stay_text),
        cmocka_unit_test(test_replay_one),
        cmocka_unit_test(test_rotate_secret),
        cmocka_unit_test(test_forged_form_refused),
        cmocka_unit_test(test_other_account_by_url),
        cmocka_unit_test(test_auto_disable_banner_and_alert),
        cmocka_unit_test(test_enable_and_batch_replay),
        cmocka_unit_test(test_endpoint_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
