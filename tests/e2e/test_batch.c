/*
 * test_batch.c — an endpoint's batch option (docs/cli.md "Endpoint
 * options", docs/receiving.md "Batches") through a real deployment: real
 * scheduler and worker processes, a real receiver that records each request.
 *
 *   - 10,000 events at max_events 100 arrive as at most 100 requests, each
 *     {"type":"batch","events":[...]} with X-PostStack-Batch-Id/-Count and a
 *     signature over the whole body; every event exactly once; every event's
 *     delivery names its batch and says delivered;
 *   - a lone event goes out once it has waited max_wait (300 ms), measured
 *     at the receiver, and its element is the stored body byte for byte;
 *   - a batch the receiver fails (500, then 200) is retried as one unit (same
 *     batch id, same body); a replay of one of its events (library, as the
 *     API does) and of the batch id (psw replay) send it again as one unit;
 *   - standard signing: webhook-id is the batch id, the signature verifies;
 *   - a worker child killed while its batch is in flight loses nothing;
 *   - bad values are refused with a message naming the field, by the library
 *     and by psw endpoint create|update, and change nothing.
 *
 * One cluster (tests/harness/cluster.h; scheduler.tick 20ms, retries
 * 100/200/300 ms) serves the whole group; each test makes its own endpoint
 * and receiver path. Ownership: the cluster lives in C, released by the
 * group teardown.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/delivery.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "common/sign.h"
#include "common/sign_std.h"
#include "tests/harness/api_client.h"
#include "tests/harness/cluster.h"
#include "tests/harness/openapi.h"
#include "tests/harness/receiver.h"

#define WAIT_MS 20000
#define MANY 10000
#define CHUNK 500

static struct cluster C;
static int C_ok;
static int seq;
static pid_t api_pid = -1;
static char base[64], api_log[700], record[700], admin[128];

static int api_up(void *arg)
{
    (void)arg;
    struct api_reply r;
    int ok = api_do(base, "GET", "/readyz", NULL, NULL, &r) == 0 && r.status == 200;
    api_reply_free(&r);
    return ok;
}

/* The cluster, and a psw-api in front of it with an admin token (made with
 * the CLI); its answers are recorded for the OpenAPI check of test_api. */
static int setup(void **state)
{
    (void)state;
    int port = api_free_port();
    const char *over[] = { harness_fmt("api.listen: 127.0.0.1:%d", port), NULL };
    if (port <= 0 || cluster_start(&C, over, 1, 1) < 0) {
        cluster_stop(&C, 1);
        return -1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    snprintf(api_log, sizeof(api_log), "%s/api.log", C.dir);
    snprintf(record, sizeof(record), "%s/record.jsonl", C.dir);
    setenv("PSW_API_RECORD", record, 1);
    const char *argv[] = { "--config", C.config_path, NULL };
    api_pid = proc_spawn("psw-api", argv, api_log);
    if (api_pid <= 0 || wait_until(api_up, NULL, WAIT_MS, 20) < 0) {
        file_tail(api_log, 30);
        return -1;
    }
    const char *targv[] = { "--config", C.config_path, "--json", "token", "create",
                            "--name", "admin", NULL };
    char *o = NULL, *e = NULL;
    int rc = proc_run("psw", targv, NULL, &o, &e, 20000);
    struct json_object *j = rc == 0 && o ? json_tokener_parse(o) : NULL, *v;
    if (j && json_object_object_get_ex(j, "token", &v))
        snprintf(admin, sizeof(admin), "%s", json_object_get_string(v));
    json_object_put(j);
    free(o);
    free(e);
    if (!admin[0]) {
        fprintf(stderr, "test_batch: no admin token\n");
        return -1;
    }
    C_ok = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("PSW_API_RECORD");
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

/* A batching endpoint of a fresh account on path; its id into ep (freed by
 * the caller with psw_endpoint_free). */
static const char *batch_endpoint(const char *path, long long max_events, long long wait_ms,
                                  const char *signing, struct psw_endpoint *ep)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    char url[512], err[512];
    const char *acct = harness_fmt("acct_batch_%d", ++seq);
    rx_url(C.rx, path, url, sizeof(url));
    spec.account_id = acct;
    spec.url = url;
    spec.signing = signing;
    spec.batch_max_events = max_events;
    spec.batch_max_wait_ms = wait_ms;
    if (psw_endpoint_create(&C.ctx, &spec, ep, err, sizeof(err)) != PSW_OK)
        fail_msg("create: %s", err);
    assert_int_equal(ep->batch_max_events, max_events);
    assert_int_equal(ep->batch_max_wait_ms, wait_ms);
    return acct;
}

/* Publishes events tag_<from..to-1> of acct, CHUNK per call. */
static void publish_range(const char *acct, const char *tag, int from, int to)
{
    static char bufs[CHUNK][256];
    static const char *jsons[CHUNK];
    static size_t lens[CHUNK];
    static struct psw_publish_result res[CHUNK];
    for (int at = from; at < to; at += CHUNK) {
        int n = to - at < CHUNK ? to - at : CHUNK;
        for (int i = 0; i < n; i++) {
            snprintf(bufs[i], sizeof(bufs[i]),
                     "{\"id\":\"evt_%s_%05d\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                     "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<%d@x>\","
                     "\"to\":\"b@example.org\"}}",
                     tag, at + i, acct, at + i);
            jsons[i] = bufs[i];
            lens[i] = strlen(bufs[i]);
        }
        int failed = psw_publish_many(&C.ctx, (size_t)n, jsons, lens, res);
        if (failed != 0)
            fail_msg("publish: %d failed; the first: %s", failed, res[0].err);
    }
}

/* The events array of a batch request, checked: {"type":"batch","events":[…]}
 * with as many elements as X-PostStack-Batch-Count says. Kept until teardown. */
static struct json_object *batch_events(const struct rx_request *r)
{
    struct json_object *j = harness_keep_json(json_tokener_parse(r->body)), *t, *ev;
    if (!j || !json_object_object_get_ex(j, "type", &t) ||
        strcmp(json_object_get_string(t), "batch") != 0 ||
        !json_object_object_get_ex(j, "events", &ev) || !json_object_is_type(ev, json_type_array))
        fail_msg("not a batch body: %.200s", r->body);
    const char *count = rx_header(r, "X-PostStack-Batch-Count");
    assert_non_null(count);
    assert_int_equal(atoi(count), (int)json_object_array_length(ev));
    const char *bid = rx_header(r, "X-PostStack-Batch-Id");
    assert_non_null(bid);
    assert_true(psw_id_valid("bat_", bid));
    assert_null(rx_header(r, "X-PostStack-Event-Id")); /* one id for the whole body */
    return ev;
}

static const char *event_id_of(struct json_object *e)
{
    struct json_object *id;
    assert_true(json_object_object_get_ex(e, "id", &id));
    return json_object_get_string(id);
}

/* The delivery id of event evt_<tag>_<n>'s delivery to ep (via the index). */
static char *first_delivery(const char *ep)
{
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, ep, &ids);
    assert_true(n > 0);
    char *d = strdup(ids[0]);
    cluster_ids_free(ids, n);
    return harness_keep(d);
}

/* Waits (up to 60 s) until endpoint ep counts n delivered events; fails otherwise. */
static void wait_delivered(const char *ep, int n)
{
    long long until = harness_mono_ms() + 60000, got = 0;
    while ((got = cluster_hget_ll(&C, harness_fmt("endpoint:%s:stats", ep), "delivered", 0)) <
               n &&
           harness_mono_ms() < until)
        harness_nap(50);
    if (got < n)
        fail_msg("%lld of %d events were delivered", got, n);
}

/* ---- 10,000 events ------------------------------------------------------ */

static void test_many(void **state)
{
    (void)state;
    struct psw_endpoint ep = { 0 };
    /* a long max_wait: every batch is sent because it is full */
    const char *acct = batch_endpoint("/many", 100, 60000, NULL, &ep);
    publish_range(acct, "many", 0, MANY);
    wait_delivered(ep.id, MANY);

    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/many", &reqs);
    if (n > MANY / 100)
        fail_msg("%zu requests for %d events at max_events 100", n, MANY);
    static unsigned char seen[MANY];
    memset(seen, 0, sizeof(seen));
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(reqs[i].status, 200);
        struct json_object *ev = batch_events(&reqs[i]);
        /* signed as one body with the endpoint's secret */
        assert_int_equal(psw_sign_verify(rx_header(&reqs[i], "X-PostStack-Signature"),
                                         reqs[i].body, reqs[i].body_len, ep.secret, 300,
                                         (int64_t)time(NULL)),
                         PSW_VERIFY_OK);
        for (size_t k = 0; k < json_object_array_length(ev); k++) {
            int num = -1;
            if (sscanf(event_id_of(json_object_array_get_idx(ev, k)), "evt_many_%d", &num) != 1 ||
                num < 0 || num >= MANY)
                fail_msg("unexpected event in a batch");
            if (seen[num]++)
                fail_msg("event %d arrived twice", num);
            total++;
        }
    }
    assert_int_equal(total, MANY);
    /* an event's delivery names its batch and how it ended */
    char *did = first_delivery(ep.id);
    char *bid = cluster_hget(&C, harness_fmt("delivery:%s", did), "batch_id");
    assert_non_null(bid);
    assert_true(psw_id_valid("bat_", bid));
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", did), "state", "delivered",
                                        WAIT_MS), 0);
    assert_string_equal(harness_keep(cluster_hget(&C, harness_fmt("delivery:%s", bid), "state")),
                        "delivered");
    /* the batch is the unit of the attempt log: one record, on the batch */
    redisReply *r = cluster_cmd(&C, "LLEN psw:delivery:%s:attempts", bid);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    r = cluster_cmd(&C, "EXISTS psw:delivery:%s:attempts", did);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    free(bid);
    rx_requests_free(reqs, n);
    psw_endpoint_free(&ep);
}

/* ---- batch + ordered ------------------------------------------------------- */

/* Both options: the batches go one at a time, in publish order, a failed one
 * (retried as a unit) holding the later ones back (docs/cli.md, "Endpoint
 * options"). */
static void test_ordered_batches(void **state)
{
    (void)state;
    enum { N = 230 };
    struct psw_endpoint ep = { 0 }, up = { 0 };
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    char err[512];
    struct rx_behavior b = { 0 };
    b.delay_ms = 0;
    b.delay_max_ms = 5;
    b.fail_first_attempt_pct = 30;
    rx_set(C.rx, "/ordb", &b);
    const char *acct = batch_endpoint("/ordb", 10, 150, NULL, &ep);
    spec.ordered = 1;
    if (psw_endpoint_update(&C.ctx, ep.id, &spec, &up, err, sizeof(err)) != PSW_OK)
        fail_msg("update: %s", err);
    assert_int_equal(up.ordered, 1);
    assert_int_equal(up.batch_max_events, 10);
    for (int at = 0; at < N; at += 23) /* several publish calls, partial batches */
        publish_range(acct, "ordb", at, at + 23 < N ? at + 23 : N);

    wait_delivered(ep.id, N);

    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/ordb", &reqs);
    int next = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *ev = batch_events(&reqs[i]);
        if (reqs[i].status != 200) {
            failed++;
            continue;
        }
        for (size_t k = 0; k < json_object_array_length(ev); k++) {
            int num = -1;
            if (sscanf(event_id_of(json_object_array_get_idx(ev, k)), "evt_ordb_%d", &num) != 1 ||
                num != next)
                fail_msg("request %zu element %zu: event %d arrived, expected %d", i, k, num,
                         next);
            next++;
        }
    }
    assert_int_equal(next, N);
    assert_true(failed > 0); /* the retries were exercised */
    assert_int_equal(rx_max_busy(C.rx, "/ordb"), 1);
    printf("  ordered batches: %d events in %zu requests (%d failed first attempts)\n", N, n,
           failed);
    rx_requests_free(reqs, n);
    rx_set(C.rx, "/ordb", NULL);
    psw_endpoint_free(&up);
    psw_endpoint_free(&ep);
}

/* ---- a lone event: max_wait ---------------------------------------------- */

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_lone_event(void **state)
{
    (void)state;
    struct psw_endpoint ep = { 0 };
    const char *acct = batch_endpoint("/lone", 100, 300, NULL, &ep);
    long long t0 = wall_ms();
    publish_range(acct, "lone", 0, 1);
    assert_int_equal(rx_wait(C.rx, "/lone", 1, WAIT_MS), 0);
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/lone", &reqs);
    assert_int_equal(n, 1);
    long long waited = reqs[0].at_ms - t0;
    if (waited < 290 || waited > 300 + 100)
        fail_msg("the lone event arrived after %lld ms (max_wait 300 ms, + 100 ms allowed)", waited);
    /* the element is the event body exactly as stored */
    char *body = cluster_hget(&C, harness_fmt("event:%s/evt_lone_00000", acct), "body");
    assert_non_null(body);
    const char *want = harness_fmt("{\"type\":\"batch\",\"events\":[%s]}", body);
    assert_int_equal(reqs[0].body_len, strlen(want));
    assert_memory_equal(reqs[0].body, want, strlen(want));
    assert_string_equal(rx_header(&reqs[0], "X-PostStack-Batch-Count"), "1");
    free(body);
    rx_requests_free(reqs, n);
    psw_endpoint_free(&ep);
}

/* ---- retry and replay as one unit ---------------------------------------- */

static void same_batch(const struct rx_request *a, const struct rx_request *b)
{
    assert_string_equal(rx_header(a, "X-PostStack-Batch-Id"), rx_header(b, "X-PostStack-Batch-Id"));
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
}

static void test_retry_and_replay(void **state)
{
    (void)state;
    struct psw_endpoint ep = { 0 };
    struct rx_behavior fail1 = { .fail_first = 1, .fail_status = 500 };
    rx_set(C.rx, "/retry", &fail1);
    const char *acct = batch_endpoint("/retry", 5, 5000, NULL, &ep);
    publish_range(acct, "retry", 0, 5); /* full at once */
    assert_int_equal(rx_wait(C.rx, "/retry", 2, WAIT_MS), 0);
    char *did = first_delivery(ep.id);
    const char *dkey = harness_fmt("delivery:%s", did);
    assert_int_equal(cluster_wait_field(&C, dkey, "state", "delivered", WAIT_MS), 0);
    char *bid = harness_keep(cluster_hget(&C, dkey, "batch_id"));
    assert_non_null(bid);
    assert_int_equal(cluster_hget_ll(&C, dkey, "attempts", 0), 2);
    /* the last status and the attempt records are the batch's */
    assert_int_equal(cluster_hget_ll(&C, harness_fmt("delivery:%s", bid), "last_status", 0), 200);

    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/retry", &reqs);
    assert_int_equal(n, 2);
    assert_int_equal(reqs[0].status, 500);
    assert_int_equal(reqs[1].status, 200);
    same_batch(&reqs[0], &reqs[1]);
    assert_string_equal(rx_header(&reqs[0], "X-PostStack-Batch-Id"), bid);
    assert_string_equal(rx_header(&reqs[0], "X-PostStack-Attempt"), "1");
    assert_string_equal(rx_header(&reqs[1], "X-PostStack-Attempt"), "2");
    assert_int_equal(json_object_array_length(batch_events(&reqs[0])), 5);
    redisReply *r = cluster_cmd(&C, "LLEN psw:delivery:%s:attempts", bid);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);

    /* replay one of its events (what POST /v1/deliveries/{id}/replay does):
     * the whole batch goes again */
    struct psw_replay_result res[1];
    const char *ids[] = { did };
    char err[512];
    memset(res, 0, sizeof(res));
    assert_int_equal(psw_replay_ids(&C.ctx, ids, 1, NULL, res, err, sizeof(err)), 1);
    assert_int_equal(rx_wait(C.rx, "/retry", 3, WAIT_MS), 0);
    /* and the batch by its id, with the CLI */
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", bid), "state", "delivered",
                                        WAIT_MS), 0);
    const char *argv[] = { "--config", C.config_path, "replay", bid, NULL };
    char *out = NULL, *errs = NULL;
    int rc = proc_run("psw", argv, NULL, &out, &errs, 20000);
    if (rc != 0)
        fail_msg("psw replay %s: exit %d: %s%s", bid, rc, out ? out : "", errs ? errs : "");
    free(out);
    free(errs);
    assert_int_equal(rx_wait(C.rx, "/retry", 4, WAIT_MS), 0);
    rx_requests_free(reqs, n);
    n = rx_requests(C.rx, "/retry", &reqs);
    assert_int_equal(n, 4);
    same_batch(&reqs[0], &reqs[2]);
    same_batch(&reqs[0], &reqs[3]);
    assert_string_equal(rx_header(&reqs[2], "X-PostStack-Attempt"), "3");
    assert_int_equal(cluster_wait_field(&C, dkey, "attempts", "4", WAIT_MS), 0);
    assert_string_equal(harness_keep(cluster_hget(&C, dkey, "state")), "delivered");
    rx_requests_free(reqs, n);
    rx_set(C.rx, "/retry", NULL);
    psw_endpoint_free(&ep);
}

/* ---- standard signing ---------------------------------------------------- */

static void test_standard_signing(void **state)
{
    (void)state;
    struct psw_endpoint ep = { 0 };
    char err[512], secret[256];
    /* a whsec_<base64> secret, as standard signing needs */
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    char url[512];
    rx_url(C.rx, "/std", url, sizeof(url));
    spec.account_id = harness_fmt("acct_batch_%d", ++seq);
    spec.url = url;
    spec.signing = "standard";
    spec.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    spec.batch_max_events = 3;
    spec.batch_max_wait_ms = 5000;
    if (psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)) != PSW_OK)
        fail_msg("create: %s", err);
    snprintf(secret, sizeof(secret), "%s", ep.secret);
    publish_range(spec.account_id, "std", 0, 3);
    assert_int_equal(rx_wait(C.rx, "/std", 1, WAIT_MS), 0);
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/std", &reqs);
    assert_int_equal(n, 1);
    const char *bid = rx_header(&reqs[0], "X-PostStack-Batch-Id");
    assert_string_equal(rx_header(&reqs[0], "webhook-id"), bid);
    assert_int_equal(psw_sign_std_verify(rx_header(&reqs[0], "webhook-signature"), bid,
                                         rx_header(&reqs[0], "webhook-timestamp"), reqs[0].body,
                                         reqs[0].body_len, secret, 300, (int64_t)time(NULL)),
                     PSW_VERIFY_OK);
    assert_int_equal(json_object_array_length(batch_events(&reqs[0])), 3);
    rx_requests_free(reqs, n);
    psw_endpoint_free(&ep);
}

/* ---- a worker child killed mid-batch ------------------------------------- */

static void test_killed_worker(void **state)
{
    (void)state;
    struct psw_endpoint ep = { 0 };
    struct rx_behavior slow = { .delay_ms = 1500 };
    rx_set(C.rx, "/kill", &slow);
    const char *acct = batch_endpoint("/kill", 10, 5000, NULL, &ep);
    publish_range(acct, "kill", 0, 10);
    assert_int_equal(rx_wait(C.rx, "/kill", 1, WAIT_MS), 0);
    char *did = first_delivery(ep.id);
    /* not ended yet: the event's delivery does not name it, and is 'batched' */
    char *bid = cluster_hget(&C, harness_fmt("delivery:%s", did), "batch_id");
    assert_null(bid);
    char *st = cluster_hget(&C, harness_fmt("delivery:%s", did), "state");
    assert_string_equal(st, "batched");
    free(st);
    redisReply *r = cluster_cmd(&C, "GET psw:endpoint:%s:batch", ep.id);
    assert_int_equal(r->type, REDIS_REPLY_NIL); /* full: no open batch */
    freeReplyObject(r);
    struct rx_request *first = NULL;
    size_t nf = rx_requests(C.rx, "/kill", &first);
    assert_true(nf >= 1);
    bid = harness_keep(strdup(rx_header(&first[0], "X-PostStack-Batch-Id")));
    rx_requests_free(first, nf);
    char *wid = cluster_hget(&C, harness_fmt("delivery:%s", bid), "worker");
    assert_non_null(wid);
    harness_keep(wid);
    long long pid = cluster_hget_ll(&C, harness_fmt("worker:%s", wid), "pid", 0);
    assert_true(pid > 0);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    rx_set(C.rx, "/kill", NULL);
    /* handed back by the master, sent again as the same unit */
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", bid), "state", "delivered",
                                        WAIT_MS), 0);
    char **ids = NULL;
    size_t nd = cluster_deliveries(&C, ep.id, &ids);
    assert_int_equal(nd, 10);
    for (size_t i = 0; i < nd; i++) {
        assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", ids[i]), "state",
                                            "delivered", WAIT_MS), 0);
        char *b = cluster_hget(&C, harness_fmt("delivery:%s", ids[i]), "batch_id");
        assert_string_equal(b, bid);
        free(b);
    }
    cluster_ids_free(ids, nd);
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/kill", &reqs);
    assert_true(n >= 2);
    for (size_t i = 1; i < n; i++)
        same_batch(&reqs[0], &reqs[i]);
    rx_requests_free(reqs, n);
    psw_endpoint_free(&ep);
}

/* ---- validation ---------------------------------------------------------- */

static void refused(long long events, long long wait_ms, const char *what)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    char err[512] = "";
    spec.account_id = "acct_batch_bad";
    spec.url = "http://127.0.0.1:9/x";
    spec.batch_max_events = events;
    spec.batch_max_wait_ms = wait_ms;
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, NULL, err, sizeof(err)), PSW_EINVAL);
    if (!strstr(err, what))
        fail_msg("create (%lld, %lld): \"%s\" does not mention \"%s\"", events, wait_ms, err, what);
}

static void test_validation(void **state)
{
    (void)state;
    refused(1001, -1, "batch.max_events");
    refused(-5, -1, "batch.max_events");
    refused(10, 5, "batch.max_wait");
    refused(10, 3600001, "batch.max_wait");
    refused(10, 0, "batch.max_wait");
    refused(0, 500, "batch.max_wait");
    redisReply *r = cluster_cmd(&C, "SCARD psw:account:acct_batch_bad:endpoints");
    assert_int_equal(r->integer, 0); /* nothing was stored */
    freeReplyObject(r);

    /* max_events alone: max_wait defaults to 1s */
    struct psw_endpoint ep = { 0 };
    batch_endpoint("/v", 7, 250, NULL, &ep);
    psw_endpoint_free(&ep);
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    char err[512];
    spec.account_id = "acct_batch_dflt";
    spec.url = "http://127.0.0.1:9/x";
    spec.batch_max_events = 50;
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)), PSW_OK);
    assert_int_equal(ep.batch_max_wait_ms, PSW_BATCH_WAIT_DEFAULT_MS);
    const char *id = harness_fmt("%s", ep.id);
    psw_endpoint_free(&ep);

    /* CLI: a bad value names the flag's field; nothing changes */
    const char *bad_ev[] = { "--config", C.config_path, "endpoint", "update", id,
                             "--batch-max-events", "1001", NULL };
    char *out = NULL, *errs = NULL;
    assert_int_not_equal(proc_run("psw", bad_ev, NULL, &out, &errs, 10000), 0);
    assert_non_null(strstr(errs, "--batch-max-events"));
    free(out);
    free(errs);
    const char *bad_wait[] = { "--config", C.config_path, "endpoint", "update", id,
                               "--batch-max-wait", "5ms", NULL };
    assert_int_not_equal(proc_run("psw", bad_wait, NULL, &out, &errs, 10000), 0);
    if (!strstr(errs, "--batch-max-wait") || !strstr(errs, "10ms"))
        fail_msg("psw endpoint update --batch-max-wait 5ms: %s", errs);
    free(out);
    free(errs);
    const char *bad_word[] = { "--config", C.config_path, "endpoint", "update", id,
                               "--batch-max-wait", "soon", NULL };
    assert_int_not_equal(proc_run("psw", bad_word, NULL, &out, &errs, 10000), 0);
    assert_non_null(strstr(errs, "--batch-max-wait"));
    free(out);
    free(errs);
    assert_int_equal(cluster_hget_ll(&C, harness_fmt("endpoint:%s", id), "batch_max_wait", 0),
                     PSW_BATCH_WAIT_DEFAULT_MS);

    /* CLI: a good update shows on psw endpoint show; off again with 0 */
    const char *good[] = { "--config", C.config_path, "endpoint", "update", id,
                           "--batch-max-events", "20", "--batch-max-wait", "2s", NULL };
    assert_int_equal(proc_run("psw", good, NULL, &out, &errs, 10000), 0);
    free(out);
    free(errs);
    const char *show[] = { "--config", C.config_path, "endpoint", "show", id, NULL };
    assert_int_equal(proc_run("psw", show, NULL, &out, &errs, 10000), 0);
    if (!strstr(out, "up to 20 events, sent within 2s"))
        fail_msg("psw endpoint show: %s", out);
    free(out);
    free(errs);
    const char *off[] = { "--config", C.config_path, "endpoint", "update", id,
                          "--batch-max-events", "0", NULL };
    assert_int_equal(proc_run("psw", off, NULL, &out, &errs, 10000), 0);
    free(out);
    free(errs);
    assert_int_equal(cluster_hget_ll(&C, harness_fmt("endpoint:%s", id), "batch_max_events", -1),
                     0);
    /* a max_wait alone on an endpoint that does not batch */
    const char *alone[] = { "--config", C.config_path, "endpoint", "update", id,
                            "--batch-max-wait", "2s", NULL };
    assert_int_not_equal(proc_run("psw", alone, NULL, &out, &errs, 10000), 0);
    assert_non_null(strstr(errs, "does not batch"));
    free(out);
    free(errs);
}

/* ---- the API ------------------------------------------------------------- */

/* One request; asserts the status; returns the reply (kept until teardown). */
static struct api_reply *req(int want, const char *method, const char *path, const char *body)
{
    struct api_reply *r = harness_keep(calloc(1, sizeof(*r)));
    api_do(base, method, path, admin, body, r);
    if (r->json)
        harness_keep_json(r->json);
    if (r->body)
        harness_keep(r->body);
    if (r->status != want)
        fail_msg("%s %s %s: want %d, got %d: %s", method, path, body ? body : "", want,
                 r->status, r->body ? r->body : "");
    return r;
}

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v))
        fail_msg("no \"%s\" in %s", key, o ? json_object_to_json_string(o) : "(null)");
    return v;
}

/* A 400 naming field, whose detail mentions what; the endpoint unchanged. */
static void bad(const char *method, const char *path, const char *body, const char *field,
                const char *what)
{
    struct api_reply *r = req(400, method, path, body);
    assert_string_equal(api_json_str(r, "field"), field);
    const char *detail = api_json_str(r, "detail");
    if (!detail || !strstr(detail, what))
        fail_msg("detail \"%s\" does not mention \"%s\"", detail ? detail : "", what);
}

static void test_api(void **state)
{
    (void)state;
    char url[512];
    rx_url(C.rx, "/api", url, sizeof(url));
    struct api_reply *r = req(201, "POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_batch_api\","
                    "\"batch\":{\"max_events\":3,\"max_wait\":\"250ms\"}}", url));
    const char *id = harness_fmt("%s", api_json_str(r, "id"));
    struct json_object *b = member(r->json, "batch");
    assert_int_equal(json_object_get_int(member(b, "max_events")), 3);
    assert_string_equal(json_object_get_string(member(b, "max_wait")), "250ms");
    assert_int_equal(json_object_get_int(member(b, "max_wait_ms")), 250);
    const char *path = harness_fmt("/v1/endpoints/%s", id);

    /* bad values: 400 naming the member; nothing changes */
    bad("PATCH", path, "{\"batch\":{\"max_events\":1001}}", "batch.max_events", "1 to 1000");
    bad("PATCH", path, "{\"batch\":{\"max_events\":\"ten\"}}", "batch.max_events", "integer");
    bad("PATCH", path, "{\"batch\":{\"max_wait\":\"soon\"}}", "batch.max_wait", "duration");
    bad("PATCH", path, "{\"batch\":{\"max_wait\":\"5ms\"}}", "batch.max_wait", "10ms");
    bad("PATCH", path, "{\"batch\":{\"size\":3}}", "batch", "unknown field");
    bad("PATCH", path, "{\"batch\":7}", "batch", "object");
    bad("POST", "/v1/endpoints",
        harness_fmt("{\"url\":\"%s\",\"account_id\":\"acct_batch_api2\","
                    "\"batch\":{\"max_events\":0,\"max_wait\":\"1s\"}}", url),
        "batch.max_wait", "turned off");
    r = req(200, "GET", path, NULL);
    b = member(r->json, "batch");
    assert_int_equal(json_object_get_int(member(b, "max_events")), 3);
    assert_int_equal(json_object_get_int(member(b, "max_wait_ms")), 250);

    /* a delivery of a batch, by its event's id and by the batch id */
    req(202, "POST", "/v1/events",
        "{\"events\":["
        "{\"id\":\"evt_api_1\",\"type\":\"email.sent\",\"account_id\":\"acct_batch_api\","
        "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<a1@x>\",\"to\":\"a@example.org\"}},"
        "{\"id\":\"evt_api_2\",\"type\":\"email.sent\",\"account_id\":\"acct_batch_api\","
        "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<a2@x>\",\"to\":\"a@example.org\"}}]}");
    assert_int_equal(rx_wait(C.rx, "/api", 1, WAIT_MS), 0);
    struct rx_request *got = NULL;
    size_t ng = rx_requests(C.rx, "/api", &got);
    assert_int_equal(ng, 1);
    assert_string_equal(rx_header(&got[0], "X-PostStack-Batch-Count"), "2");
    const char *bid = harness_fmt("%s", rx_header(&got[0], "X-PostStack-Batch-Id"));
    rx_requests_free(got, ng);
    const char *did = first_delivery(id);
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", did), "state", "delivered",
                                        WAIT_MS), 0);
    r = req(200, "GET", harness_fmt("/v1/deliveries/%s", did), NULL);
    struct json_object *d = member(r->json, "delivery");
    assert_string_equal(json_object_get_string(member(d, "batch_id")), bid);
    assert_string_equal(json_object_get_string(member(d, "state")), "delivered");
    r = req(200, "GET", harness_fmt("/v1/deliveries/%s", bid), NULL);
    d = member(r->json, "delivery");
    assert_int_equal(json_object_get_int(member(d, "batch_count")), 2);
    assert_int_equal(json_object_array_length(member(r->json, "attempts")), 1);
    r = req(200, "GET", harness_fmt("/v1/endpoints/%s/deliveries?state=delivered", id), NULL);
    assert_int_equal(json_object_array_length(member(r->json, "data")), 2);

    /* the API's replay of an event's delivery sends its batch again */
    r = req(202, "POST", harness_fmt("/v1/deliveries/%s/replay", did), "{}");
    assert_string_equal(api_json_str(r, "result"), "queued");
    assert_int_equal(rx_wait(C.rx, "/api", 2, WAIT_MS), 0);
    ng = rx_requests(C.rx, "/api", &got);
    assert_string_equal(rx_header(&got[1], "X-PostStack-Batch-Id"), bid);
    rx_requests_free(got, ng);

    /* off again */
    r = req(200, "PATCH", path, "{\"batch\":null}");
    assert_true(json_object_is_type(member(r->json, "batch"), json_type_null));

    unsetenv("PSW_API_RECORD");
    char *out = NULL;
    const char *files[] = { record, NULL };
    int rc = harness_openapi_check(NULL, files, 0, &out);
    if (out)
        harness_keep(out); /* freed after the test, also when it fails here */
    if (rc != 0)
        fail_msg("openapi-check: exit %d\n%s", rc, out ? out : "");
}

int main(void)
{
    harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_lone_event),
        cmocka_unit_test(test_standard_signing),
        cmocka_unit_test(test_retry_and_replay),
        cmocka_unit_test(test_killed_worker),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_ordered_batches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
