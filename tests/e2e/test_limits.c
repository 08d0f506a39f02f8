/*
 * test_limits.c — every input bound, at its edge, through the real command
 * line (bin/psw run with proc_run against a whole deployment from
 * tests/harness/cluster.h), with the limits configured low:
 *   limits.max_event_bytes 2048, limits.max_json_depth 4,
 *   limits.max_url_length 64, limits.max_endpoints_per_account 3.
 * For each bound: the largest legal value is accepted and one more is
 * refused with exit 2 (1 for the endpoint count, an operation that failed)
 * and a message naming the field and the bound; nothing is stored by a
 * refused publish. Fixed bounds are checked the same way: event id and
 * account id 128 characters, domain 253, description 1024 bytes, secret 256
 * characters. The configured bounds themselves are bounded: a config file
 * with a limit out of its range stops psw with file:line:column.
 * Finally the longest legal event id, account id and secret go through the
 * pipeline: the receiver gets the id intact in X-PostStack-Event-Id and a
 * signature that verifies with the 256-character secret.
 *
 * One cluster for the group; every test uses its own accounts. Output
 * buffers from proc_run are freed by the next run or the teardown.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/sign.h"
#include "tests/harness/cluster.h"

#define RUN_MS 20000
#define WAIT_MS 10000
#define MAX_EVENT 2048
#define MAX_DEPTH 4
#define MAX_URL 64
#define MAX_EPS 3

static struct cluster C;
static int started, finished;

static const char *const overrides[] = {
    "worker.processes: 1",
    "limits.max_event_bytes: 2048",
    "limits.max_json_depth: 4",
    "limits.max_url_length: 64",
    "limits.max_endpoints_per_account: 3",
    NULL,
};

/* the last run's output, freed by the next run or the teardown */
static struct {
    int rc;
    char *out, *err;
} R;
static struct rx_request *RQ;
static size_t NRQ;

static int group_setup(void **state)
{
    (void)state;
    if (cluster_start(&C, overrides, 1, 1) < 0) {
        cluster_stop(&C, 1);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cluster_stop(&C, started != finished);
    free(R.out);
    free(R.err);
    rx_requests_free(RQ, NRQ);
    return 0;
}

/* A string of n copies of c in a rotating static buffer. */
static const char *rep(char c, size_t n)
{
    static char ring[6][4096];
    static int at;
    char *b = ring[at++ % 6];
    assert_true(n < sizeof(ring[0]));
    memset(b, c, n);
    b[n] = '\0';
    return b;
}

/* psw ARGS… --config <the cluster's> with stdin `in` (NULL = empty). */
static void psw_run(const char *in, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    while (args[n]) {
        assert_true(n < 28);
        argv[n] = args[n];
        n++;
    }
    argv[n++] = "--config";
    argv[n++] = C.config_path;
    argv[n] = NULL;
    free(R.out);
    free(R.err);
    R.out = R.err = NULL;
    R.rc = proc_run("psw", argv, in, &R.out, &R.err, RUN_MS);
    if (!R.out || !R.err)
        fail_msg("proc_run gave no output");
}

static void expect(int rc, const char *err_part, const char *what)
{
    if (R.rc != rc || (err_part && !strstr(R.err, err_part)))
        fail_msg("%s: exit %d, expected %d with \"%s\" on stderr\n--- stdout\n%s--- stderr\n%s---",
                 what, R.rc, rc, err_part ? err_part : "", R.out, R.err);
}

/* The "id" of `psw endpoint create --json` output. */
static void created_id(char id[PSW_ID_SIZE])
{
    json_object *o = json_tokener_parse(R.out), *v = NULL;
    if (!o || !json_object_object_get_ex(o, "id", &v))
        fail_msg("no id in:\n%s", R.out);
    snprintf(id, PSW_ID_SIZE, "%s", json_object_get_string(v));
    json_object_put(o);
}

static void create(const char *account, const char *url, const char *flag, const char *value)
{
    const char *args[] = { "endpoint", "create", "--json", "--account", account, "--url", url,
                           flag, value, NULL };
    psw_run(NULL, args);
}

static long long stat_ll(const char *field)
{
    return cluster_hget_ll(&C, "stats", field, 0);
}

/* An email.sent event of exactly `size` bytes (the subject pads it). */
static const char *event_sized(const char *id, const char *account, size_t size)
{
    const char *base = harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                           "\"domain\":\"limits.example\",\"data\":{\"message_id\":\"<m@x>\","
                           "\"to\":\"bob@example.org\",\"subject\":\"\"}}",
                           id, account);
    size_t len = strlen(base);
    assert_true(size >= len);
    return harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
               "\"domain\":\"limits.example\",\"data\":{\"message_id\":\"<m@x>\","
               "\"to\":\"bob@example.org\",\"subject\":\"%s\"}}",
               id, account, rep('s', size - len));
}

/* An event whose data.metadata nests `extra` more objects: the event is
 * depth 1, data 2, metadata 3, so depth 3 + extra. */
static const char *event_deep(const char *id, int extra)
{
    char open[2048], close[512];
    assert_true(extra >= 0 && (size_t)extra < sizeof(close));
    for (int i = 0; i < extra; i++)
        memcpy(open + 5 * i, "{\"k\":", 5);
    open[5 * extra] = '\0';
    memset(close, '}', (size_t)extra);
    close[extra] = '\0';
    return harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"acct_deep\","
               "\"domain\":\"limits.example\",\"data\":{\"message_id\":\"<m@x>\","
               "\"to\":\"bob@example.org\",\"metadata\":{\"m\":%s1%s}}}",
               id, open, close);
}

static int event_exists(const char *id)
{
    /* the accounts this file's events are published under (ids are per account) */
    redisReply *r = cluster_cmd(&C, "EXISTS %sevent:acct_ev/%s %sevent:acct_deep/%s",
                                C.cfg.redis_prefix, id, C.cfg.redis_prefix, id);
    int n = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* ---- endpoint settings ----------------------------------------------------- */

static void test_endpoint_bounds(void **state)
{
    (void)state;
    started++;
    char base[128], url[256];
    rx_url(C.rx, "/", base, sizeof(base));
    size_t pad = MAX_URL - strlen(base);

    /* URL: limits.max_url_length */
    snprintf(url, sizeof(url), "%s%s", base, rep('u', pad));
    assert_int_equal(strlen(url), MAX_URL);
    create("acct_url", url, "--description", "longest url");
    expect(0, NULL, "a URL of exactly limits.max_url_length");
    snprintf(url, sizeof(url), "%s%s", base, rep('u', pad + 1));
    create("acct_url", url, "--description", "one byte more");
    expect(2, "url: too long (65 characters, at most 64: limits.max_url_length)", "URL + 1");

    /* account id: 128 */
    rx_url(C.rx, "/a", url, sizeof(url));
    create(rep('a', 128), url, "--description", "longest account");
    expect(0, NULL, "a 128-character account id");
    create(rep('a', 129), url, "--description", "one more");
    expect(2, "--account: must be 1-128 characters", "account id + 1");

    /* description: 1024 bytes (UTF-8 counted in bytes) */
    create("acct_desc", url, "--description", rep('d', 1024));
    expect(0, NULL, "a 1024-byte description");
    create("acct_desc", url, "--description", rep('d', 1025));
    expect(2, "description: too long (1025 bytes, at most 1024)", "description + 1");

    /* domain: 253 characters (labels of at most 63) */
    const char *d253 = harness_fmt("%s.%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 63), rep('e', 61));
    assert_int_equal(strlen(d253), 253);
    create("acct_dom", url, "--domain", d253);
    expect(0, NULL, "a 253-character domain");
    create("acct_dom", url, "--domain", harness_fmt("%s.%s.%s.%s", rep('a', 63), rep('b', 63),
                                            rep('c', 63), rep('e', 62)));
    expect(2, "domain: too long (254 characters, at most 253)", "domain + 1");

    /* secret: 256 characters */
    create("acct_sec", url, "--secret", rep('k', PSW_SECRET_MAX_LEN));
    expect(0, NULL, "a 256-character secret");
    create("acct_sec", url, "--secret", rep('k', PSW_SECRET_MAX_LEN + 1));
    expect(2, "secret is too long: more than 256 characters", "secret + 1");

    /* endpoints per account: limits.max_endpoints_per_account */
    for (int i = 0; i < MAX_EPS; i++) {
        create("acct_cap", url, "--description", harness_fmt("endpoint %d", i));
        expect(0, NULL, "endpoints up to the cap");
    }
    create("acct_cap", url, "--description", "one too many");
    expect(1, "account acct_cap already has 3 endpoints (limits.max_endpoints_per_account)",
           "endpoint over the cap");
    redisReply *r = cluster_cmd(&C, "SCARD %saccount:acct_cap:endpoints", C.cfg.redis_prefix);
    assert_int_equal(r->integer, MAX_EPS);
    freeReplyObject(r);
    finished++;
}

/* ---- events ------------------------------------------------------------------- */

static void test_event_bounds(void **state)
{
    (void)state;
    started++;
    static const char *const pub[] = { "publish", NULL };
    long long before = stat_ll("events_published");

    /* size: limits.max_event_bytes */
    psw_run(event_sized("evt_size_ok", "acct_ev", MAX_EVENT), pub);
    expect(0, NULL, "an event of exactly limits.max_event_bytes");
    psw_run(event_sized("evt_size_big", "acct_ev", MAX_EVENT + 1), pub);
    expect(2, "event: too large (2049 bytes, limit 2048: limits.max_event_bytes)", "event + 1 byte");
    assert_int_equal(event_exists("evt_size_big"), 0);

    /* nesting: limits.max_json_depth */
    psw_run(event_deep("evt_depth_ok", MAX_DEPTH - 3), pub);
    expect(0, NULL, "an event nested exactly limits.max_json_depth deep");
    psw_run(event_deep("evt_depth_bad", MAX_DEPTH - 2), pub);
    expect(2, "event: nested deeper than the limit of 4 levels (limits.max_json_depth)", "one level deeper");
    assert_int_equal(event_exists("evt_depth_bad"), 0);
    /* far deeper than json-c's own default (32) is refused the same way */
    psw_run(event_deep("evt_depth_huge", 200), pub);
    expect(2, "event: nested deeper than the limit of 4 levels (limits.max_json_depth)", "200 levels");

    /* event id: 128 characters; account id: 128 */
    const char *id128 = harness_fmt("evt_%s", rep('i', 124));
    psw_run(event_sized(id128, rep('a', 128), 700), pub);
    expect(0, NULL, "a 128-character event id and account id");
    const char *id129 = harness_fmt("evt_%s", rep('i', 125));
    psw_run(event_sized(id129, "acct_ev", 700), pub);
    expect(2, "id: too long (129 characters, at most 128)", "event id + 1");
    assert_int_equal(event_exists(id129), 0);
    psw_run(event_sized("evt_acct129", rep('a', 129), 700), pub);
    expect(2, "account_id: too long (129 characters, at most 128)", "account id + 1");

    assert_int_equal(stat_ll("events_published"), before + 3);

    /* NDJSON: the bad lines are named, the good ones published */
    const char *nd = harness_fmt("%s\n%s\n%s\n%s\n", event_sized("evt_nd_1", "acct_ev", 300),
                         event_sized("evt_nd_big", "acct_ev", MAX_EVENT + 100),
                         event_deep("evt_nd_deep", 5), event_sized("evt_nd_4", "acct_ev", 300));
    psw_run(nd, pub);
    expect(1, "line 2: event: too large (2148 bytes, limit 2048: limits.max_event_bytes)", "NDJSON");
    expect(1, "line 3: event: nested deeper than the limit of 4 levels (limits.max_json_depth)", "NDJSON");
    if (!strstr(R.out, "2 events published"))
        fail_msg("NDJSON summary:\n%s", R.out);
    assert_int_equal(event_exists("evt_nd_1"), 1);
    assert_int_equal(event_exists("evt_nd_4"), 1);
    assert_int_equal(event_exists("evt_nd_big"), 0);
    assert_int_equal(stat_ll("events_published"), before + 5);
    finished++;
}

/* ---- the longest legal values through the pipeline ------------------------------ */

static void test_longest_values_delivered(void **state)
{
    (void)state;
    started++;
    char url[256], ep[PSW_ID_SIZE];
    const char *account = harness_fmt("%s", rep('L', 128));
    const char *secret = harness_fmt("%s", rep('S', PSW_SECRET_MAX_LEN));
    const char *id = harness_fmt("evt_%s", rep('x', 124));
    char id_copy[200], secret_copy[300];
    snprintf(id_copy, sizeof(id_copy), "%s", id);
    snprintf(secret_copy, sizeof(secret_copy), "%s", secret);

    rx_url(C.rx, "/longest", url, sizeof(url));
    create(account, url, "--secret", secret);
    expect(0, NULL, "endpoint with the longest account id and secret");
    created_id(ep);

    static const char *const pub[] = { "publish", NULL };
    psw_run(event_sized(id_copy, account, MAX_EVENT), pub);
    expect(0, NULL, "the longest event id, at limits.max_event_bytes");

    if (rx_wait(C.rx, "/longest", 1, WAIT_MS) != 0)
        fail_msg("the event never arrived");
    NRQ = rx_requests(C.rx, "/longest", &RQ);
    assert_int_equal(NRQ, 1);
    const struct rx_request *q = &RQ[0];
    assert_string_equal(rx_header(q, "X-PostStack-Event-Id"), id_copy);
    assert_int_equal(strlen(rx_header(q, "X-PostStack-Event-Id")), 128);
    assert_string_equal(rx_header(q, "X-PostStack-Event-Type"), "email.sent");
    assert_true(strncmp(rx_header(q, "X-PostStack-Delivery-Id"), "dlv_", 4) == 0);
    json_object *body = json_tokener_parse(q->body), *v = NULL;
    assert_non_null(body);
    assert_true(json_object_object_get_ex(body, "id", &v));
    assert_string_equal(json_object_get_string(v), id_copy);
    assert_true(json_object_object_get_ex(body, "account_id", &v));
    assert_int_equal(strlen(json_object_get_string(v)), 128);
    json_object_put(body);
    enum psw_verify_result vr = psw_sign_verify(rx_header(q, "X-PostStack-Signature"), q->body,
                                                q->body_len, secret_copy, 300, (int64_t)time(NULL));
    if (vr != PSW_VERIFY_OK)
        fail_msg("signature with the 256-character secret: %s", psw_verify_result_str(vr));
    finished++;
}

/* ---- the bounds are bounded -------------------------------------------------------- */

static void test_limits_out_of_range(void **state)
{
    (void)state;
    started++;
    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        { "limits.max_event_bytes: 16777217",
          "limits.max_event_bytes: must be between 1024 and 16777216, got 16777217" },
        { "limits.max_event_bytes: 1023",
          "limits.max_event_bytes: must be between 1024 and 16777216, got 1023" },
        { "limits.max_json_depth: 1001", "limits.max_json_depth: must be between 3 and 1000, got 1001" },
        { "limits.max_url_length: 65537",
          "limits.max_url_length: must be between 16 and 65536, got 65537" },
        { "limits.max_endpoints_per_account: 0",
          "limits.max_endpoints_per_account: must be between 1 and 100000, got 0" },
        { "http.max_response_bytes: 1048577",
          "http.max_response_bytes: must be between 0 and 1048576, got 1048577" },
    };
    char path[600];
    snprintf(path, sizeof(path), "%s/bad-limits.yaml", C.dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(write_file(path, harness_fmt("redis.url: %s\n%s\n", C.redis.url, bad[i].line)), 0);
        const char *argv[] = { "stats", "--config", path, NULL };
        free(R.out);
        free(R.err);
        R.out = R.err = NULL;
        R.rc = proc_run("psw", argv, NULL, &R.out, &R.err, RUN_MS);
        const char *where = harness_fmt("bad-limits.yaml:2:");
        if (R.rc != 2 || !strstr(R.err, bad[i].msg) || !strstr(R.err, where))
            fail_msg("%s: exit %d, stderr:\n%s", bad[i].line, R.rc, R.err ? R.err : "");
    }
    finished++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_bounds),
        cmocka_unit_test(test_event_bounds),
        cmocka_unit_test(test_longest_values_delivered),
        cmocka_unit_test(test_limits_out_of_range),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
