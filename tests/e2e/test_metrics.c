/*
 * test_metrics.c — the Prometheus metrics (common/metrics.c) from a real
 * cluster: real deliveries that succeed, get a 404, a 500, a redirect, time
 * out and find nothing listening; then psw_metrics_render's text must carry
 * exactly those counts (attempts by outcome, the latency histogram, the
 * counters of psw:stats, endpoints by status, queue lengths, live workers)
 * and pass `promtool check metrics` (Debian's prometheus package).
 *
 * The same text over HTTP: psw-api's GET /metrics, behind api.metrics_token,
 * with its answers checked against api/openapi.json.
 *
 * Retries are pushed an hour away so every delivery makes exactly one
 * attempt while the test looks.
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

#include "common/endpoint.h"
#include "common/metrics.h"
#include "tests/harness/api_client.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 15000

static struct cluster C;
static int C_up, T_done;
static pid_t Api = -1;
static char Base[64];

static int teardown(void **state)
{
    (void)state;
    if (Api > 0) {
        proc_stop(Api, SIGTERM, 10000);
        Api = -1;
    }
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    harness_kept_free();
    return 0;
}

/* The value of the sample line "name value" (name with its labels). */
static double sample(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    fail_msg("no sample %s in:\n%s", name, text);
    return -1;
}

static void assert_sample(const char *text, const char *name, double want)
{
    double v = sample(text, name);
    if (v != want)
        fail_msg("%s is %g, expected %g", name, v, want);
}

static void publish_to(const char *account, int n)
{
    for (int i = 0; i < n; i++) {
        char evt[160];
        int nd = 0;
        assert_int_equal(cluster_publish(&C, harness_fmt(
            "{\"type\":\"email.sent\",\"account_id\":\"%s\",\"domain\":\"mail.example.com\","
            "\"data\":{\"message_id\":\"<%d@mail.example.com>\",\"to\":\"a@example.org\"}}",
            account, i), evt, sizeof(evt), &nd), 0);
        assert_int_equal(nd, 1);
    }
}

/* promtool check metrics < text: its exit status, its words in *out. */
static int promtool(const char *text, char **out)
{
    char *dir = harness_keep(tmpdir_new());
    const char *in = harness_keep(strdup(harness_fmt("%s/metrics.txt", dir)));
    const char *log = harness_keep(strdup(harness_fmt("%s/promtool.log", dir)));
    assert_int_equal(write_file(in, text), 0);
    const char *cmd = harness_fmt("exec promtool check metrics < '%s'", in);
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL };
    pid_t pid = harness_spawn("/bin/sh", argv, log, SIGKILL);
    int st = 0;
    assert_true(pid > 0);
    if (proc_wait(pid, 30000, &st) < 0)
        fail_msg("promtool did not finish");
    *out = harness_keep(read_file(log, NULL));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_metrics_count_real_attempts(void **state)
{
    (void)state;
    /* http.timeout well above what a loaded machine needs for a local answer */
    const char *ov[] = { "retry.schedule: 1h", "retry.max_age: 2h", "http.timeout: 2s", NULL };
    char id[PSW_ID_SIZE], err[512];
    C_up = 1;
    if (cluster_start(&C, ov, 1, 1) < 0)
        fail_msg("the cluster did not start");
    struct rx_behavior b404 = { .always_status = 404 }, b500 = { .always_status = 500 },
                       b301 = { .always_status = 301, .location = "https://elsewhere.example/" },
                       slow = { .delay_ms = 6000 };
    rx_set(C.rx, "/404", &b404);
    rx_set(C.rx, "/500", &b500);
    rx_set(C.rx, "/301", &b301);
    rx_set(C.rx, "/slow", &slow);
    cluster_endpoint(&C, "acct_ok", "/ok", NULL, NULL, NULL, id, NULL, 0);
    cluster_endpoint(&C, "acct_404", "/404", NULL, NULL, NULL, id, NULL, 0);
    cluster_endpoint(&C, "acct_500", "/500", NULL, NULL, NULL, id, NULL, 0);
    cluster_endpoint(&C, "acct_301", "/301", NULL, NULL, NULL, id, NULL, 0);
    cluster_endpoint(&C, "acct_slow", "/slow", NULL, NULL, NULL, id, NULL, 0);
    /* nothing listens on port 1 of the loopback: connection refused */
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    spec.account_id = "acct_closed";
    spec.url = "http://127.0.0.1:1/hooks";
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, NULL, err, sizeof(err)), 0);
    /* and one disabled endpoint, whose delivery is skipped */
    cluster_endpoint(&C, "acct_off", "/ok", NULL, NULL, NULL, id, NULL, 0);
    assert_int_equal(psw_endpoint_disable(&C.ctx, id, NULL, NULL, NULL, err, sizeof(err)), 0);

    char *text = NULL;
    size_t len = 0;
    /* before anything happened: every metric is there, at 0 */
    assert_int_equal(psw_metrics_render(&C.ctx, &text, &len, err, sizeof(err)), 0);
    harness_keep(text);
    assert_int_equal(strlen(text), len);
    assert_sample(text, "psw_attempts_total{outcome=\"delivered\"}", 0);
    assert_sample(text, "psw_attempt_duration_seconds_bucket{le=\"+Inf\"}", 0);
    assert_sample(text, "psw_attempt_duration_seconds_count", 0);
    assert_sample(text, "psw_endpoints{status=\"enabled\"}", 6);
    assert_sample(text, "psw_endpoints{status=\"disabled\"}", 1);

    publish_to("acct_ok", 3);
    publish_to("acct_404", 2);
    publish_to("acct_500", 1);
    publish_to("acct_301", 1);
    publish_to("acct_slow", 1);
    publish_to("acct_closed", 1);
    publish_to("acct_off", 1);
    /* psw:stats attempts counts a request when it starts: wait for the 9
     * outcomes instead (3 delivered, 6 failures with a retry scheduled) */
    assert_int_equal(cluster_wait_stat(&C, "delivered", 3, WAIT_MS), 0);
    assert_int_equal(cluster_wait_stat(&C, "retries_scheduled", 6, WAIT_MS), 0);
    assert_int_equal(cluster_wait_stat(&C, "attempts", 9, WAIT_MS), 0);

    assert_int_equal(psw_metrics_render(&C.ctx, &text, &len, err, sizeof(err)), 0);
    harness_keep(text);
    printf("%s", text);
    assert_sample(text, "psw_events_published_total", 10);
    assert_sample(text, "psw_deliveries_created_total", 10);
    assert_sample(text, "psw_deliveries_delivered_total", 3);
    assert_sample(text, "psw_deliveries_skipped_total", 1);
    assert_sample(text, "psw_deliveries_failed_total", 0);
    assert_sample(text, "psw_retries_scheduled_total", 6);
    assert_sample(text, "psw_attempts_total{outcome=\"delivered\"}", 3);
    assert_sample(text, "psw_attempts_total{outcome=\"http_4xx\"}", 2);
    assert_sample(text, "psw_attempts_total{outcome=\"http_5xx\"}", 1);
    assert_sample(text, "psw_attempts_total{outcome=\"timeout\"}", 1);
    assert_sample(text, "psw_attempts_total{outcome=\"connect\"}", 1);
    assert_sample(text, "psw_attempts_total{outcome=\"other\"}", 1);
    assert_sample(text, "psw_attempts_total{outcome=\"dns\"}", 0);
    assert_sample(text, "psw_attempts_total{outcome=\"tls\"}", 0);
    assert_sample(text, "psw_attempts_total{outcome=\"blocked\"}", 0);

    /* the histogram: 9 attempts, cumulative buckets, the timeout's 2 s or
     * more only from the 2.5 s bucket on */
    assert_sample(text, "psw_attempt_duration_seconds_count", 9);
    assert_sample(text, "psw_attempt_duration_seconds_bucket{le=\"+Inf\"}", 9);
    const char *les[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
                          "5", "10", "30", "+Inf" };
    double prev = 0;
    for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
        double v = sample(text, harness_fmt("psw_attempt_duration_seconds_bucket{le=\"%s\"}", les[i]));
        if (v < prev)
            fail_msg("bucket le=%s (%g) is below the one before (%g)", les[i], v, prev);
        prev = v;
    }
    assert_true(sample(text, "psw_attempt_duration_seconds_bucket{le=\"1\"}") <= 8);
    assert_true(sample(text, "psw_attempt_duration_seconds_sum") >= 2);

    assert_sample(text, "psw_endpoints{status=\"enabled\"}", 6);
    assert_sample(text, "psw_endpoints{status=\"disabled\"}", 1);
    assert_sample(text, "psw_queue_length{queue=\"scheduled\"}", 6);
    assert_sample(text, "psw_queue_length{queue=\"ready\"}", 0);
    assert_sample(text, "psw_queue_length{queue=\"failed\"}", 0);
    assert_sample(text, "psw_queue_length{queue=\"in_flight\"}", 0);
    assert_true(sample(text, "psw_workers") >= 1);
    assert_sample(text, "psw_schedulers", 1);

    /* every family has its HELP and TYPE, and promtool agrees */
    assert_non_null(strstr(text, "# TYPE psw_attempt_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE psw_attempts_total counter\n"));
    char *out = NULL;
    int rc = promtool(text, &out);
    if (rc != 0)
        fail_msg("promtool check metrics exited %d:\n%s", rc, out ? out : "");

    /* and it can fail: a counter without _total and a bad line */
    rc = promtool("# HELP psw_x x\n# TYPE psw_x counter\npsw_x 1\nnot a sample\n", &out);
    assert_int_not_equal(rc, 0);
    T_done = 1;
}

static int api_up(void *arg)
{
    (void)arg;
    struct api_reply r;
    int ok = api_do(Base, "GET", "/readyz", NULL, NULL, &r) == 0 && r.status == 200;
    api_reply_free(&r);
    return ok;
}

static void test_metrics_over_http(void **state)
{
    (void)state;
    int port = api_free_port();
    assert_true(port > 0);
    const char *ov[] = { harness_fmt("api.listen: 127.0.0.1:%d", port),
                         "api.metrics_token: mtok_5ecret", NULL };
    char id[PSW_ID_SIZE];
    C_up = 1;
    if (cluster_start(&C, ov, 1, 1) < 0)
        fail_msg("the cluster did not start");
    snprintf(Base, sizeof(Base), "http://127.0.0.1:%d", port);
    const char *log = harness_keep(strdup(harness_fmt("%s/api.log", C.dir)));
    const char *rec = harness_keep(strdup(harness_fmt("%s/record.jsonl", C.dir)));
    const char *argv[] = { "--config", C.config_path, NULL };
    Api = proc_spawn("psw-api", argv, log);
    assert_true(Api > 0);
    if (wait_until(api_up, NULL, WAIT_MS, 20) < 0) {
        file_tail(log, 30);
        fail_msg("psw-api did not become ready");
    }
    cluster_endpoint(&C, "acct_ok", "/ok", NULL, NULL, NULL, id, NULL, 0);
    publish_to("acct_ok", 2);
    assert_int_equal(cluster_wait_stat(&C, "delivered", 2, WAIT_MS), 0);

    setenv("PSW_API_RECORD", rec, 1);
    struct api_reply *r = harness_keep(calloc(1, sizeof(*r)));
    api_do(Base, "GET", "/metrics", NULL, NULL, r);
    harness_keep(r->body);
    harness_keep_json(r->json);
    assert_int_equal(r->status, 401);
    assert_string_equal(r->content_type, "application/problem+json");
    api_do(Base, "GET", "/metrics", "wrong", NULL, r);
    harness_keep(r->body);
    harness_keep_json(r->json);
    assert_int_equal(r->status, 401);
    api_do(Base, "GET", "/metrics", "mtok_5ecret", NULL, r);
    harness_keep(r->body);
    unsetenv("PSW_API_RECORD");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_sample(r->body, "psw_attempts_total{outcome=\"delivered\"}", 2);
    assert_sample(r->body, "psw_attempt_duration_seconds_count", 2);
    assert_sample(r->body, "psw_endpoints{status=\"enabled\"}", 1);
    char *out = NULL;
    int rc = promtool(r->body, &out);
    if (rc != 0)
        fail_msg("promtool check metrics exited %d:\n%s", rc, out ? out : "");

    const char *files[] = { rec, NULL };
    rc = harness_openapi_check(NULL, files, 0, &out);
    harness_keep(out);
    printf("%s", out ? out : "");
    assert_int_equal(rc, 0);
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_metrics_count_real_attempts, teardown),
        cmocka_unit_test_teardown(test_metrics_over_http, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
