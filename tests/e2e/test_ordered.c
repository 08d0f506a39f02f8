/*
 * test_ordered.c — the per-endpoint option `ordered` (docs/cli.md "Endpoint
 * options") through a real deployment: real psw-scheduler and psw-worker
 * processes, a real redis-server and the recording receiver of
 * tests/harness, which here delays at random and fails a share of first
 * attempts, and tells the most requests it was answering at once on a path.
 *
 * What an ordered endpoint must show at its receiver: the requests of its
 * events come one at a time, and in publish order — over every request, the
 * event index never goes back and never skips ahead (a retry repeats the
 * head, a final failure passes the turn). Each test gets its own cluster
 * (retry schedule in ms) and its own endpoints.
 *
 * Ownership: the cluster lives in C and is stopped by the teardown; strings
 * from harness_fmt/harness_keep live until then too.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/delivery.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "common/timeutil.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 60000
#define MAX_EVENTS 2000

static struct cluster C;
static int C_ok;

/* The test's config: a retry schedule in ms, plus extra (NULL or one line). */
static int setup_cluster_with(const char *extra)
{
    const char *const overrides[] = { "retry.schedule: 2ms, 5ms, 10ms", "scheduler.tick: 5ms",
                                      extra, NULL };
    C_ok = 0;
    if (cluster_start(&C, overrides, 1, 1) < 0) {
        cluster_stop(&C, 1);
        return -1;
    }
    return 0;
}

static int setup_cluster(void)
{
    return setup_cluster_with(NULL);
}

static int teardown(void **state)
{
    (void)state;
    cluster_stop(&C, !C_ok);
    harness_kept_free();
    return 0;
}

/* An endpoint of account on the receiver's path, ordered or not. */
static const char *endpoint(const char *account, const char *path, int ordered)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 };
    char url[512], err[1024];
    rx_url(C.rx, path, url, sizeof(url));
    spec.account_id = account;
    spec.url = url;
    spec.ordered = ordered;
    if (psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)) != PSW_OK)
        fail_msg("create: %s", err);
    assert_int_equal(ep.ordered, ordered);
    const char *id = harness_keep(strdup(ep.id));
    psw_endpoint_free(&ep);
    return id;
}

static void set_ordered(const char *ep, int on)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint out = { 0 };
    char err[1024];
    spec.ordered = on;
    if (psw_endpoint_update(&C.ctx, ep, &spec, &out, err, sizeof(err)) != PSW_OK)
        fail_msg("update: %s", err);
    assert_int_equal(out.ordered, on);
    psw_endpoint_free(&out);
}

/* Publishes events tag-<from>..tag-<to-1> of account in calls of `chunk`
 * (psw_publish_many: one publish.lua call per chunk keeps the order). */
static void publish_range(const char *account, const char *tag, int from, int to, int chunk)
{
    char *bufs[100];
    const char *jsons[100];
    size_t lens[100];
    struct psw_publish_result res[100];
    assert_true(chunk > 0 && chunk <= 100);
    for (int i = from; i < to; i += chunk) {
        int n = to - i < chunk ? to - i : chunk;
        for (int k = 0; k < n; k++) {
            const char *j = harness_fmt(
                "{\"id\":\"%s-%05d\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                "\"domain\":\"o.example\",\"data\":{\"message_id\":\"<m%d@x>\","
                "\"to\":\"bob@example.org\"}}", tag, i + k, account, i + k);
            bufs[k] = strdup(j);
            assert_non_null(bufs[k]);
            jsons[k] = bufs[k];
            lens[k] = strlen(bufs[k]);
        }
        int bad = psw_publish_many(&C.ctx, (size_t)n, jsons, lens, res);
        for (int k = 0; k < n; k++)
            free(bufs[k]);
        if (bad != 0)
            fail_msg("publish_many: %d failed: %s", bad, res[0].err);
    }
}

/* The event index of a request (its X-PostStack-Event-Id "<tag>-<index>"),
 * -1 if it is not one of tag's. */
static int index_of(const struct rx_request *r, const char *tag)
{
    const char *id = rx_header(r, "X-PostStack-Event-Id");
    size_t tl = strlen(tag);
    if (!id || strncmp(id, tag, tl) != 0 || id[tl] != '-')
        return -1;
    return (int)strtol(id + tl + 1, NULL, 10);
}

/* How many of tag's events path answered 200 at least once. */
static int delivered_count(const char *path, const char *tag, int n)
{
    struct rx_request *reqs = NULL;
    size_t nr = rx_requests(C.rx, path, &reqs);
    char *seen = calloc((size_t)n, 1);
    int count = 0;
    assert_non_null(seen);
    for (size_t i = 0; i < nr; i++) {
        int x = index_of(&reqs[i], tag);
        if (x >= 0 && x < n && reqs[i].status == 200 && !seen[x]) {
            seen[x] = 1;
            count++;
        }
    }
    free(seen);
    rx_requests_free(reqs, nr);
    return count;
}

struct want {
    const char *path, *tag;
    int n;
};

static int all_delivered(void *arg)
{
    const struct want *w = arg;
    return delivered_count(w->path, w->tag, w->n) >= w->n;
}

static void wait_delivered(const char *path, const char *tag, int n)
{
    struct want w = { path, tag, n };
    if (wait_until(all_delivered, &w, WAIT_MS, 20) < 0)
        fail_msg("%s: %d of %d events delivered", path, delivered_count(path, tag, n), n);
}

/* The ordered contract over every request path received for tag's events
 * 0..n-1, in arrival order: the first is event 0; each next one is the same
 * event again (a retry, or a resend after a lost worker) or, once the
 * previous one was answered 200 or has failed for good, the next event;
 * the first successful receipts are 0..n-1 in order. final_fail lists events
 * allowed to end without a 200 (NULL = none). */
static void assert_in_order(const char *path, const char *tag, int n, const int *final_fail)
{
    struct rx_request *reqs = NULL;
    size_t nr = rx_requests(C.rx, path, &reqs);
    int cur = -1, cur_ok = 1, firsts = 0;
    for (size_t i = 0; i < nr; i++) {
        int x = index_of(&reqs[i], tag);
        if (x < 0)
            continue;
        if (x != cur) {
            int allowed_fail = 0;
            for (const int *f = final_fail; f && *f >= 0; f++)
                allowed_fail |= *f == cur;
            if (x != cur + 1 || (!cur_ok && !allowed_fail)) {
                rx_requests_free(reqs, nr);
                fail_msg("%s: request %zu is for event %d after event %d (%s): out of order", path,
                         i, x, cur, cur_ok ? "delivered" : "not delivered");
            }
            cur = x;
            cur_ok = 0;
        }
        if (reqs[i].status == 200 && !cur_ok) {
            cur_ok = 1;
            firsts++;
        }
    }
    rx_requests_free(reqs, nr);
    assert_int_equal(cur, n - 1);
    int nfail = 0;
    for (const int *f = final_fail; f && *f >= 0; f++)
        nfail++;
    assert_int_equal(firsts, n - nfail);
}

/* A key's length (LLEN) on the test's connection. */
static long long llen(const char *suffix)
{
    redisReply *r = cluster_cmd(&C, "LLEN %s%s", C.cfg.redis_prefix, suffix);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* Every delivery of ep is in state want. */
static void assert_all_state(const char *ep, const char *want, size_t n)
{
    char **ids = NULL;
    size_t got = cluster_deliveries(&C, ep, &ids);
    assert_int_equal(got, n);
    for (size_t i = 0; i < got; i++)
        if (cluster_wait_field(&C, harness_fmt("delivery:%s", ids[i]), "state", want, WAIT_MS) < 0)
            fail_msg("delivery %s of %s is not %s", ids[i], ep, want);
    cluster_ids_free(ids, got);
}

/* ---- the contract under failures and delays -------------------------------- */

/* 2,000 events to an ordered endpoint whose receiver waits 0-5 ms and fails
 * 20% of first attempts, while an unordered endpoint of the same account
 * gets the same events. */
static void test_order_under_failures_and_delays(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster(), 0);
    const int n = MAX_EVENTS;
    struct rx_behavior flaky = { 0 };
    flaky.delay_ms = 0;
    flaky.delay_max_ms = 5;
    flaky.fail_first_attempt_pct = 20;
    rx_set(C.rx, "/ordered", &flaky);
    struct rx_behavior slowish = { 0 };
    slowish.delay_ms = 1;
    slowish.delay_max_ms = 5;
    rx_set(C.rx, "/free", &slowish);
    const char *ord = endpoint("acct_ord", "/ordered", 1);
    endpoint("acct_ord", "/free", 0);

    long long t0 = harness_mono_ms();
    publish_range("acct_ord", "e", 0, n, 100);

    /* the unordered endpoint keeps its pace: all done while the ordered
     * one is still working through the line */
    wait_delivered("/free", "e", n);
    long long t_free = harness_mono_ms() - t0;
    int ord_then = delivered_count("/ordered", "e", n);
    print_message("unordered: %d in %lld ms; ordered by then: %d\n", n, t_free, ord_then);
    assert_true(ord_then < n);

    wait_delivered("/ordered", "e", n);
    print_message("ordered: %d in %lld ms\n", n, harness_mono_ms() - t0);
    assert_in_order("/ordered", "e", n, NULL);
    assert_int_equal(rx_max_busy(C.rx, "/ordered"), 1);
    assert_true(rx_max_busy(C.rx, "/free") > 1);
    /* some first attempts did fail, so the retry path was exercised */
    assert_true(rx_count(C.rx, "/ordered") > (size_t)n + n / 10);
    assert_all_state(ord, "delivered", (size_t)n);
    assert_int_equal(llen(harness_fmt("endpoint:%s:waiting", ord)), 0);
    C_ok = 1;
}

/* ---- retries keep the turn; a final failure passes it ---------------------- */

static void test_retry_keeps_turn_final_failure_passes_it(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster(), 0);
    /* the first 4 requests fail: all 4 attempts of event 0 (1 + 3 retries) */
    struct rx_behavior b = { 0 };
    b.fail_first = 4;
    rx_set(C.rx, "/o", &b);
    const char *ep = endpoint("acct_r", "/o", 1);
    publish_range("acct_r", "r", 0, 5, 5);
    /* events 1..4 are delivered after event 0 failed for good */
    long long until = harness_mono_ms() + WAIT_MS;
    while (delivered_count("/o", "r", 5) < 4 && harness_mono_ms() < until)
        harness_nap(20);
    assert_int_equal(delivered_count("/o", "r", 5), 4);
    const int fails[] = { 0, -1 };
    assert_in_order("/o", "r", 5, fails);

    struct rx_request *reqs = NULL;
    size_t nr = rx_requests(C.rx, "/o", &reqs);
    assert_int_equal(nr, 4 + 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(index_of(&reqs[i], "r"), 0);
        assert_int_equal(reqs[i].status, 500);
    }
    rx_requests_free(reqs, nr);
    /* event 0's delivery failed for good; the others were delivered */
    char **ids = NULL;
    size_t nd = cluster_deliveries(&C, ep, &ids);
    assert_int_equal(nd, 5);
    int failed = 0, delivered = 0;
    for (size_t i = 0; i < nd; i++) {
        const char *key = harness_fmt("delivery:%s", ids[i]);
        char *st = cluster_hget(&C, key, "state");
        char *evt = cluster_hget(&C, key, "event_id");
        if (st && evt && strcmp(evt, "r-00000") == 0 && strcmp(st, "failed") == 0)
            failed++;
        else if (st && strcmp(st, "delivered") == 0)
            delivered++;
        free(st);
        free(evt);
    }
    cluster_ids_free(ids, nd);
    assert_int_equal(failed, 1);
    assert_int_equal(delivered, 4);
    C_ok = 1;
}

/* ---- a killed worker child ------------------------------------------------- */

/* The pid of the worker child sending ep's head; -1 if it is not in flight. */
static pid_t head_holder(const char *ep)
{
    char *head = cluster_hget(&C, harness_fmt("endpoint:%s", ep), "ordered_head");
    pid_t pid = head && *head ? cluster_holder_pid(&C, head) : -1;
    free(head);
    return pid;
}

static void test_killed_child_keeps_order(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster(), 0);
    struct rx_behavior b = { 0 };
    b.delay_ms = 40; /* long enough to catch the head in flight */
    rx_set(C.rx, "/k", &b);
    const int n = 40;
    const char *ep = endpoint("acct_k", "/k", 1);
    publish_range("acct_k", "k", 0, n, 20);

    int kills = 0;
    long long until = harness_mono_ms() + WAIT_MS;
    while (kills < 3 && harness_mono_ms() < until) {
        harness_nap(5 + 30 * kills);
        pid_t pid = head_holder(ep);
        if (pid > 0 && kill(pid, SIGKILL) == 0)
            kills++;
    }
    assert_int_equal(kills, 3);
    wait_delivered("/k", "k", n);
    /* No rx_max_busy check here: the receiver may still be answering the
     * killed child's request (it has not noticed the client is gone) when
     * the head is sent again; that overlap is the same event, and the order
     * check allows repeats of the head only. */
    assert_in_order("/k", "k", n, NULL);
    assert_all_state(ep, "delivered", (size_t)n);
    assert_true(cluster_hget_ll(&C, "stats", "recovered", 0) >= 1);
    C_ok = 1;
}

/* A head whose workers keep dying fails as 'crashed' (recovery): that is
 * final, so the turn passes to the next one. */
static void test_crashed_head_passes_the_turn(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster_with("scheduler.max_recoveries: 1"), 0);
    struct rx_behavior b = { 0 };
    b.delay_ms = 300;
    rx_set(C.rx, "/c", &b);
    const char *ep = endpoint("acct_c", "/c", 1);
    publish_range("acct_c", "c", 0, 4, 4);
    char *head = NULL;
    long long until = harness_mono_ms() + WAIT_MS;
    while (!head && harness_mono_ms() < until) {
        char *h = cluster_hget(&C, harness_fmt("endpoint:%s", ep), "ordered_head");
        if (h && *h)
            head = h;
        else
            free(h);
        harness_nap(5);
    }
    assert_non_null(head);
    const char *hk = harness_fmt("delivery:%s", head);
    char *evt = cluster_hget(&C, hk, "event_id");
    assert_string_equal(evt, "c-00000");
    free(evt);
    /* kill whoever sends it, twice: recovered once, then failed */
    for (int kills = 0; kills < 2 && harness_mono_ms() < until;) {
        pid_t pid = cluster_holder_pid(&C, head);
        if (pid > 0 && kill(pid, SIGKILL) == 0) {
            kills++;
            while (cluster_holder_pid(&C, head) == pid && harness_mono_ms() < until)
                harness_nap(5);
        }
        harness_nap(5);
    }
    const char *key = harness_keep(strdup(hk));
    free(head);
    assert_int_equal(cluster_wait_field(&C, key, "failed_reason", "crashed", WAIT_MS), 0);
    /* the others go, in order, after it */
    long long t = harness_mono_ms() + WAIT_MS;
    while (delivered_count("/c", "c", 4) < 3 && harness_mono_ms() < t)
        harness_nap(20);
    struct rx_request *reqs = NULL;
    size_t nr = rx_requests(C.rx, "/c", &reqs);
    int next = 1;
    for (size_t i = 0; i < nr; i++) {
        int x = index_of(&reqs[i], "c");
        if (x > 0 && reqs[i].status == 200 && x == next)
            next++;
        else if (x > 0 && reqs[i].status == 200 && x > next) {
            rx_requests_free(reqs, nr);
            fail_msg("event %d arrived before event %d", x, next);
        }
    }
    rx_requests_free(reqs, nr);
    assert_int_equal(next, 4);
    C_ok = 1;
}

/* ---- replay of a range ---------------------------------------------------- */

/* More deliveries than one replay.lua call looks at (1,000), so the range is
 * walked in several calls and must still come out oldest first. */
static void test_range_replay_in_creation_order(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster(), 0);
    const int n = 1100;
    const char *ep = endpoint("acct_p", "/p", 1);
    publish_range("acct_p", "p", 0, n, 100);
    wait_delivered("/p", "p", n);
    assert_all_state(ep, "delivered", (size_t)n);
    rx_reset(C.rx);

    /* the library call behind the API's range replay */
    char err[512];
    size_t matched = 0;
    int q = psw_replay_range(&C.ctx, ep, 0, 0, "delivered", NULL, &matched, err, sizeof(err));
    if (q < 0)
        fail_msg("replay: %s", err);
    assert_int_equal(q, n);
    wait_delivered("/p", "p", n);
    assert_in_order("/p", "p", n, NULL);
    assert_int_equal(rx_max_busy(C.rx, "/p"), 1);
    assert_all_state(ep, "delivered", (size_t)n);

    /* and psw replay --endpoint --since --until, over the first 300 */
    char **ids = NULL;
    size_t nd = cluster_deliveries(&C, ep, &ids);
    assert_int_equal(nd, (size_t)n);
    long long since = cluster_hget_ll(&C, harness_fmt("delivery:%s", ids[0]), "created_at", 0);
    long long until = cluster_hget_ll(&C, harness_fmt("delivery:%s", ids[n - 1]), "created_at", 0);
    cluster_ids_free(ids, nd);
    rx_reset(C.rx);
    char *o = NULL, *e = NULL;
    char from[PSW_ISO_SIZE], to[PSW_ISO_SIZE];
    psw_time_format(since, from);
    psw_time_format(until, to);
    const char *argv[] = { "--config", C.config_path, "replay", "--endpoint", ep, "--state",
                           "delivered", "--since", from, "--until", to, NULL };
    int rc = proc_run("psw", argv, NULL, &o, &e, 20000);
    if (rc != 0)
        fail_msg("psw replay: exit %d: %s%s", rc, o ? o : "", e ? e : "");
    free(o);
    free(e);
    wait_delivered("/p", "p", n);
    assert_in_order("/p", "p", n, NULL);
    C_ok = 1;
}

/* ---- switching on and off while deliveries flow ----------------------------- */

static void test_switching_strands_nothing(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster(), 0);
    struct rx_behavior b = { 0 };
    b.delay_max_ms = 3;
    b.fail_first_attempt_pct = 20;
    rx_set(C.rx, "/s", &b);
    const int n = 600;
    const char *ep = endpoint("acct_s", "/s", 0);
    for (int i = 0; i < n; i += 50) {
        publish_range("acct_s", "s", i, i + 50, 25);
        set_ordered(ep, (i / 50) % 2 == 0);
        harness_nap(10);
    }
    set_ordered(ep, 1);
    wait_delivered("/s", "s", n);
    assert_all_state(ep, "delivered", (size_t)n);
    assert_int_equal(llen(harness_fmt("endpoint:%s:waiting", ep)), 0);

    /* ordered from here on: the next events go one at a time, in order */
    rx_reset(C.rx);
    publish_range("acct_s", "t", 0, 100, 50);
    wait_delivered("/s", "t", 100);
    assert_in_order("/s", "t", 100, NULL);
    assert_int_equal(rx_max_busy(C.rx, "/s"), 1);
    C_ok = 1;
}

/* ---- CLI ------------------------------------------------------------------ */

static char *psw(int want, const char *const *args)
{
    const char *argv[24];
    size_t k = 0;
    argv[k++] = "--config";
    argv[k++] = C.config_path;
    for (size_t i = 0; args[i] && k < 23; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    char *o = NULL, *e = NULL;
    int rc = proc_run("psw", argv, NULL, &o, &e, 20000);
    if (rc != want)
        fail_msg("psw %s %s: exit %d, want %d: %s%s", args[0], args[1], rc, want, o ? o : "",
                 e ? e : "");
    size_t lo = o ? strlen(o) : 0, le = e ? strlen(e) : 0;
    char *all = harness_keep(malloc(lo + le + 1));
    memcpy(all, o ? o : "", lo);
    memcpy(all + lo, e ? e : "", le + 1);
    free(o);
    free(e);
    return all;
}

static void test_cli(void **state)
{
    (void)state;
    assert_int_equal(setup_cluster(), 0);
    char url[512];
    rx_url(C.rx, "/cli", url, sizeof(url));

    char *out = psw(2, (const char *[]){ "endpoint", "create", "--account", "acct_c", "--url",
                                         url, "--ordered", "--no-ordered", NULL });
    assert_non_null(strstr(out, "--ordered and --no-ordered exclude each other"));
    out = psw(2, (const char *[]){ "endpoint", "create", "--account", "acct_c", "--url", url,
                                   "--ordered=yes", NULL });
    redisReply *r = cluster_cmd(&C, "SCARD %saccount:acct_c:endpoints", C.cfg.redis_prefix);
    assert_int_equal(r->integer, 0); /* nothing stored by the refusals */
    freeReplyObject(r);

    out = psw(0, (const char *[]){ "--json", "endpoint", "create", "--account", "acct_c",
                                   "--url", url, "--ordered", NULL });
    assert_non_null(strstr(out, "\"ordered\":true"));
    const char *idp = strstr(out, "\"id\":\"");
    assert_non_null(idp);
    char id[PSW_ID_SIZE];
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(idp + 6, "\""), idp + 6);
    out = psw(0, (const char *[]){ "endpoint", "show", id, NULL });
    assert_non_null(strstr(out, "yes (one request at a time"));
    out = psw(0, (const char *[]){ "--json", "endpoint", "update", id, "--no-ordered", NULL });
    assert_non_null(strstr(out, "\"ordered\":false"));
    out = psw(2, (const char *[]){ "endpoint", "update", id, "--ordered", "--no-ordered", NULL });
    out = psw(0, (const char *[]){ "endpoint", "show", id, NULL });
    assert_non_null(strstr(out, "ordered"));
    assert_non_null(strstr(out, "no"));
    out = psw(0, (const char *[]){ "--json", "endpoint", "update", id, "--ordered", NULL });
    assert_non_null(strstr(out, "\"ordered\":true"));
    /* an endpoint created without the flag is not ordered */
    out = psw(0, (const char *[]){ "--json", "endpoint", "create", "--account", "acct_c",
                                   "--url", url, NULL });
    assert_non_null(strstr(out, "\"ordered\":false"));
    C_ok = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cli, teardown),
        cmocka_unit_test_teardown(test_retry_keeps_turn_final_failure_passes_it, teardown),
        cmocka_unit_test_teardown(test_killed_child_keeps_order, teardown),
        cmocka_unit_test_teardown(test_crashed_head_passes_the_turn, teardown),
        cmocka_unit_test_teardown(test_switching_strands_nothing, teardown),
        cmocka_unit_test_teardown(test_range_replay_in_creation_order, teardown),
        cmocka_unit_test_teardown(test_order_under_failures_and_delays, teardown),
    };
    const char *only = getenv("PSW_TEST_FILTER"); /* e.g. "test_crash*" */
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
