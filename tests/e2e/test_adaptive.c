/*
 * test_adaptive.c — the adaptive per-endpoint in-flight limit
 * (docs/architecture.md, "Adaptive in-flight limit"): with one worker
 * child of 32 slots, endpoint.max_in_flight 24 (the ceiling) and
 * endpoint.min_in_flight 2 (the floor, where an endpoint starts),
 *   - a fast endpoint's limit grows above the floor while its answers are
 *     2xx and its latency flat, and no more than 24 requests overlap;
 *   - the same endpoint answering 503 brings the limit down to the floor;
 *   - an endpoint whose latency rises (5 ms, then 250 ms) gets a lower limit
 *     than it had;
 *   - with endpoint.adaptive_in_flight false nothing is learned (no limit
 *     is stored) and the fixed cap still holds.
 * The limit is read from the endpoint's stats hash, where complete.lua keeps
 * it for every worker to share.
 *
 * One cluster per test (each sets its own configuration).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/publish.h"
#include "tests/harness/cluster.h"

#define CEIL 24
#define FLOOR 2
#define MAXN 400

static struct cluster C;
static int up_, done_;

static void up(const char *const *extra)
{
    static const char *lines[34];
    static const char *const base[] = {
        "worker.processes: 1",
        "worker.concurrency: 32",
        "endpoint.min_in_flight: 2",
        "endpoint.disable_after_failures: 100000",
        "retry.schedule: 1h",
        "http.timeout: 5s",
        NULL,
    };
    size_t n = 0;
    for (size_t i = 0; base[i]; i++)
        lines[n++] = base[i];
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        lines[n++] = extra[i];
    /* the ceiling: 24 adaptive, 3 as the fixed cap (the harness's default is
     * a fixed cap of 32: adaptive is turned on here) */
    lines[n++] = extra ? "endpoint.max_in_flight: 3" : "endpoint.max_in_flight: 24";
    if (!extra)
        lines[n++] = "endpoint.adaptive_in_flight: true";
    lines[n] = NULL;
    assert_int_equal(cluster_start(&C, lines, 1, 1), 0);
    up_ = 1;
}

static int teardown(void **state)
{
    (void)state;
    if (up_)
        cluster_stop(&C, !done_);
    up_ = done_ = 0;
    return 0;
}

/* Publishes n events of account acct (ids evt_<tag>_<i>) in one call. */
static void publish_n(const char *acct, const char *tag, int n)
{
    static char bufs[MAXN][256];
    static const char *jsons[MAXN];
    static size_t lens[MAXN];
    static struct psw_publish_result res[MAXN];
    assert_true(n <= MAXN);
    for (int i = 0; i < n; i++) {
        snprintf(bufs[i], sizeof(bufs[i]),
                 "{\"id\":\"evt_%s_%03d\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                 "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<%d@x>\","
                 "\"from\":\"a@mail.example.com\",\"to\":\"b@example.org\"}}",
                 tag, i, acct, i);
        jsons[i] = bufs[i];
        lens[i] = strlen(bufs[i]);
    }
    int failed = psw_publish_many(&C.ctx, (size_t)n, jsons, lens, res);
    if (failed != 0)
        fail_msg("publish: %d failed; the first: %s", failed, res[0].err);
}

/* The endpoint's adaptive limit; -1 when none is stored. */
static double limit_of(const char *ep)
{
    char *s = cluster_hget(&C, harness_fmt("endpoint:%s:stats", ep), "limit");
    double v = s ? strtod(s, NULL) : -1;
    free(s);
    return v;
}

static long long ep_stat(const char *ep, const char *field)
{
    return cluster_hget_ll(&C, harness_fmt("endpoint:%s:stats", ep), field, 0);
}

/* Waits until the endpoint's stats field reaches want. */
static void wait_ep_stat(const char *ep, const char *field, long long want, int timeout_ms)
{
    long long t0 = harness_mono_ms();
    while (ep_stat(ep, field) < want) {
        if (harness_mono_ms() - t0 > timeout_ms)
            fail_msg("endpoint %s: %s = %lld, waited for %lld", ep, field, ep_stat(ep, field),
                     want);
        harness_nap(20);
    }
}

/* Most requests to path whose [arrival, arrival + hold_ms) overlap. */
static int max_overlap(const char *path, int64_t hold_ms)
{
    struct rx_request *r = NULL;
    size_t n = rx_requests(C.rx, path, &r);
    int best = 0;
    for (size_t i = 0; i < n; i++) {
        int live = 0;
        for (size_t j = 0; j < n; j++)
            live += r[j].at_ms <= r[i].at_ms && r[i].at_ms < r[j].at_ms + hold_ms;
        if (live > best)
            best = live;
    }
    rx_requests_free(r, n);
    return best;
}

static void test_grows_then_shrinks_on_503(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE];
    struct rx_behavior b = { 0 };

    up(NULL);
    b.delay_ms = 5;
    rx_set(C.rx, "/fast", &b);
    cluster_endpoint(&C, "acct_f", "/fast", NULL, NULL, NULL, ep, NULL, 0);
    assert_true(limit_of(ep) < 0); /* nothing learned yet: starts at the floor */

    publish_n("acct_f", "f", 300);
    wait_ep_stat(ep, "delivered", 300, 30000);
    double grown = limit_of(ep);
    printf("adaptive: after 300 fast deliveries the limit is %.2f (floor %d, ceiling %d)\n",
           grown, FLOOR, CEIL);
    if (grown < 2 * FLOOR)
        fail_msg("the limit of a fast endpoint stayed at %.2f (floor %d)", grown, FLOOR);
    assert_true(grown <= CEIL);
    int overlap = max_overlap("/fast", 5);
    if (overlap > CEIL)
        fail_msg("%d requests overlapped; the ceiling is %d", overlap, CEIL);

    memset(&b, 0, sizeof(b));
    b.always_status = 503;
    rx_set(C.rx, "/fast", &b);
    publish_n("acct_f", "g", 60);
    wait_ep_stat(ep, "failed_attempts", 60, 30000);
    double shrunk = limit_of(ep);
    printf("adaptive: after 60 answers 503 the limit is %.2f\n", shrunk);
    if (shrunk != FLOOR)
        fail_msg("after 60 answers 503 the limit is %.2f, not the floor %d (it was %.2f)",
                 shrunk, FLOOR, grown);
    done_ = 1;
}

static void test_shrinks_when_latency_rises(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE];
    struct rx_behavior b = { 0 };

    up(NULL);
    b.delay_ms = 5;
    rx_set(C.rx, "/slow", &b);
    cluster_endpoint(&C, "acct_s", "/slow", NULL, NULL, NULL, ep, NULL, 0);
    publish_n("acct_s", "s", 300);
    wait_ep_stat(ep, "delivered", 300, 30000);
    double before = limit_of(ep);
    assert_true(before >= 2 * FLOOR);

    b.delay_ms = 250;
    rx_set(C.rx, "/slow", &b);
    publish_n("acct_s", "t", 60);
    wait_ep_stat(ep, "delivered", 360, 30000);
    double after = limit_of(ep);
    printf("adaptive: latency 5 ms -> 250 ms: limit %.2f -> %.2f\n", before, after);
    if (!(after < before))
        fail_msg("the limit did not shrink when latency rose 50-fold: %.2f -> %.2f", before,
                 after);
    assert_true(after >= FLOOR);
    done_ = 1;
}

static void test_fixed_cap_when_off(void **state)
{
    (void)state;
    static const char *const ov[] = { "endpoint.adaptive_in_flight: false", NULL };
    char ep[PSW_ID_SIZE];
    struct rx_behavior b = { 0 };

    up(ov);
    b.delay_ms = 20;
    rx_set(C.rx, "/fixed", &b);
    cluster_endpoint(&C, "acct_x", "/fixed", NULL, NULL, NULL, ep, NULL, 0);
    publish_n("acct_x", "x", 60);
    wait_ep_stat(ep, "delivered", 60, 30000);
    assert_true(limit_of(ep) < 0);
    int overlap = max_overlap("/fixed", 20);
    if (overlap > 3 || overlap < 2)
        fail_msg("%d requests overlapped with a fixed cap of 3", overlap);
    done_ = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_grows_then_shrinks_on_503, teardown),
        cmocka_unit_test_teardown(test_shrinks_when_latency_rises, teardown),
        cmocka_unit_test_teardown(test_fixed_cap_when_off, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
