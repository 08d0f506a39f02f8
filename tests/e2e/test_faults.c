/*
 * test_faults.c — reliability under faults, with real processes (issue 7):
 * Redis SIGKILLed and restarted mid-load (AOF appendfsync always), Redis
 * unreachable for a while (frozen with SIGSTOP: connections hang; and killed
 * without restart: connections refused), worker children SIGKILLed at random
 * during a bulk run, a receiver that flaps between 503 and 200, and clocks:
 * due times in the far past and far future, and schedulers and workers whose
 * clocks are five minutes off (libfaketime).
 *
 * Each test starts its own cluster (tests/harness/cluster.h) with time scaled
 * down through the config. What happened is judged from Redis (the docs/redis.md
 * keys, over a raw connection), from what the receiver recorded, and from
 * the programs' logs. Every wait is bounded.
 *
 * Size: `make test` runs the scaled sizes (Redis frozen 9 s and down 5 s,
 * 5,000 deliveries under random kills). PSW_FAULTS_FULL=1 runs the issue's
 * full sizes (30 s outages, 50,000 deliveries); scripts/faults.sh does that
 * on the release build. PSW_TEST_FILTER="test_kill*" runs a subset. Every
 * test prints one "  faults: ..." line with its numbers.
 *
 * The skewed-clock test needs libfaketime (Debian package faketime, in
 * scripts/deps.sh test); the programs under it run with LD_PRELOAD and, in an
 * ASan build, ASAN_OPTIONS=verify_asan_link_order=0.
 *
 * Only processes this test started are signalled: redis-server by the pid
 * the harness holds, worker children found as live children of a worker
 * master this test started. A frozen redis-server is continued at teardown.
 * Memory a test allocates is kept and freed at teardown.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/publish.h"
#include "common/redis.h"
#include "common/timeutil.h"
#include "tests/harness/cluster.h"

#define MAXKIDS 16
#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

static struct cluster C;
static int C_ok;          /* the test got to its end: no log dump at teardown */
static int redis_frozen;  /* redis-server is SIGSTOPped: continued at teardown */
static int FULL;          /* PSW_FAULTS_FULL=1 */

/* ---- teardown: also frees what harness_keep() kept ----------------------- */

static int teardown(void **state)
{
    (void)state;
    if (redis_frozen && C.redis.pid > 0) {
        kill(C.redis.pid, SIGCONT);
        redis_frozen = 0;
    }
    unsetenv("FAKETIME");
    unsetenv("LD_PRELOAD");
    cluster_stop(&C, !C_ok);
    C_ok = 0;
    harness_kept_free();
    return 0;
}

static void start_cluster(const char *const *overrides, int nsched, int nwork)
{
    if (cluster_start(&C, overrides, nsched, nwork) < 0)
        fail_msg("cluster_start failed");
}

/* ---- Redis views --------------------------------------------------------------- */

/* The test's raw connection again, after redis-server was restarted. */
static void rc_reconnect(void)
{
    if (C.rc)
        redisFree(C.rc);
    C.rc = redis_srv_connect(&C.redis);
    assert_non_null(C.rc);
}

static long long cmd_ll(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(C.rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

static long long stat_ll(const char *field)
{
    return cluster_hget_ll(&C, "stats", field, 0);
}

/* Redis's clock (TIME), ms. */
static long long redis_now(void)
{
    redisReply *r = cluster_cmd(&C, "TIME");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                   strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}

static char *dfield(const char *dlv, const char *field)
{
    char key[128];
    snprintf(key, sizeof(key), "delivery:%s", dlv);
    return cluster_hget(&C, key, field);
}

static long long dfield_ll(const char *dlv, const char *field)
{
    char key[128];
    snprintf(key, sizeof(key), "delivery:%s", dlv);
    return cluster_hget_ll(&C, key, field, -1);
}

static void assert_dfield(const char *dlv, const char *field, const char *want)
{
    char *v = dfield(dlv, field);
    if (!v || strcmp(v, want) != 0) {
        fprintf(stderr, "delivery %s: %s is \"%s\", expected \"%s\"\n", dlv, field,
                v ? v : "(nil)", want);
        free(v);
        fail();
    }
    free(v);
}

/* The delivery ids of an endpoint, oldest first (kept). */
static char **deliveries_get(const char *ep, size_t *n)
{
    char **ids = NULL;
    *n = cluster_deliveries(&C, ep, &ids);
    if (*n == 0)
        return NULL;
    harness_keep(ids);
    for (size_t i = 0; i < *n; i++)
        harness_keep(ids[i]);
    return ids;
}

/* The attempt records of a delivery, parsed (kept). */
static json_object *attempt_records(const char *dlv)
{
    redisReply *r = cluster_cmd(&C, "LRANGE %sdelivery:%s:attempts 0 -1", C.cfg.redis_prefix, dlv);
    json_object *arr = harness_keep_json(json_object_new_array());
    int bad = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        json_object *o = json_tokener_parse(r->element[i]->str);
        if (o)
            json_object_array_add(arr, o);
        else
            bad = 1;
    }
    freeReplyObject(r);
    assert_false(bad);
    return arr;
}

static long long rec_ll(json_object *rec, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(rec, key, &v) ? json_object_get_int64(v) : -1;
}

/* Counts of an endpoint's deliveries by state (one pipelined pass). */
struct states {
    size_t total, pending, in_flight, scheduled, delivered, failed, skipped, other;
};

static struct states states_of(char **ids, size_t n)
{
    struct states s = { 0 };
    s.total = n;
    for (size_t base = 0; base < n; base += 1000) {
        size_t m = n - base < 1000 ? n - base : 1000;
        for (size_t i = 0; i < m; i++)
            redisAppendCommand(C.rc, "HGET %sdelivery:%s state", C.cfg.redis_prefix, ids[base + i]);
        for (size_t i = 0; i < m; i++) {
            void *v = NULL;
            assert_int_equal(redisGetReply(C.rc, &v), REDIS_OK);
            redisReply *r = v;
            const char *st = r->type == REDIS_REPLY_STRING ? r->str : "";
            if (strcmp(st, "pending") == 0)
                s.pending++;
            else if (strcmp(st, "in_flight") == 0)
                s.in_flight++;
            else if (strcmp(st, "scheduled") == 0)
                s.scheduled++;
            else if (strcmp(st, "delivered") == 0)
                s.delivered++;
            else if (strcmp(st, "failed") == 0)
                s.failed++;
            else if (strcmp(st, "skipped") == 0)
                s.skipped++;
            else
                s.other++;
            freeReplyObject(r);
        }
    }
    return s;
}

/* Waits until no delivery of ep is pending, in flight or scheduled. */
static struct states wait_settled(const char *ep, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    for (;;) {
        size_t n;
        char **ids = NULL;
        n = cluster_deliveries(&C, ep, &ids);
        struct states s = states_of(ids, n);
        cluster_ids_free(ids, n);
        if (s.pending + s.in_flight + s.scheduled + s.other == 0)
            return s;
        if (harness_mono_ms() >= until) {
            fprintf(stderr,
                    "wait_settled: %zu deliveries: %zu pending, %zu in flight, %zu scheduled, "
                    "%zu delivered, %zu failed, %zu skipped, %zu other\n",
                    s.total, s.pending, s.in_flight, s.scheduled, s.delivered, s.failed,
                    s.skipped, s.other);
            fail();
        }
        harness_nap(50);
    }
}

/* Number of psw:queue:inflight:* keys that hold anything. */
static long long inflight_ids(void)
{
    redisReply *r = cluster_cmd(&C, "KEYS %squeue:inflight:*", C.cfg.redis_prefix);
    long long n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        n += cmd_ll("LLEN %s", r->element[i]->str);
    freeReplyObject(r);
    return n;
}

/* The queues hold nothing: ready, scheduled, waiting, every in-flight list
 * and the endpoint's in-flight set. */
static void assert_queues_empty(const char *ep)
{
    const char *p = C.cfg.redis_prefix;
    assert_int_equal(cmd_ll("LLEN %squeue:ready", p), 0);
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", p), 0);
    assert_int_equal(cmd_ll("SCARD %squeue:waiting", p), 0);
    assert_int_equal(cmd_ll("LLEN %sendpoint:%s:waiting", p, ep), 0);
    assert_int_equal(cmd_ll("SCARD %sendpoint:%s:inflight", p, ep), 0);
    assert_int_equal(inflight_ids(), 0);
}

/* ---- events -------------------------------------------------------------------- */

static char *event_json(const char *tag, int i)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"id\":\"evt_%s_%d\",\"type\":\"email.delivered\",\"account_id\":\"acct_%s\","
             "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<m%d@mail.example.com>\","
             "\"to\":\"u%d@example.org\",\"subject\":\"faults %d\"}}",
             tag, i, tag, i, i, i);
    return strdup(buf);
}

/* Publishes evt_<tag>_<i> (one event); res filled; returns the time it took. */
static long long publish_one(const char *tag, int i, struct psw_publish_result *res)
{
    char *json = event_json(tag, i);
    assert_non_null(json);
    long long t0 = harness_mono_ms();
    psw_publish(&C.ctx, json, strlen(json), res);
    long long took = harness_mono_ms() - t0;
    free(json);
    return took;
}

/* Publishes evt_<tag>_<from> … evt_<tag>_<to-1> in psw_publish_many calls;
 * each must be created with one delivery. */
static void publish_range(const char *tag, int from, int to)
{
    int n = to - from;
    char **jsons = calloc((size_t)n, sizeof(char *));
    size_t *lens = calloc((size_t)n, sizeof(size_t));
    struct psw_publish_result *res = calloc((size_t)n, sizeof(*res));
    assert_true(jsons && lens && res);
    harness_keep(jsons);
    harness_keep(lens);
    harness_keep(res);
    for (int i = 0; i < n; i++) {
        jsons[i] = harness_keep(event_json(tag, from + i));
        lens[i] = strlen(jsons[i]);
    }
    int rc = psw_publish_many(&C.ctx, (size_t)n, (const char *const *)jsons, lens, res);
    if (rc != 0)
        fprintf(stderr, "publish_many: %d (first error: %s)\n", rc, res[0].err);
    assert_int_equal(rc, 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(res[i].status, PSW_OK);
        assert_int_equal(res[i].duplicate, 0);
        assert_int_equal(res[i].deliveries, 1);
    }
}

/* ---- what the receiver saw ---------------------------------------------------- */

struct hit {
    char evt[96];
    char dlv[64];
    int attempt;
    int status;
    int64_t at_ms;
};

static int hit_cmp_evt(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    int c = strcmp(x->evt, y->evt);
    if (c)
        return c;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

static int hit_cmp_time(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* Every request on path, sorted by event id then time (by_time: by time). */
static size_t hits_get(const char *path, struct hit **out, int by_time)
{
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, path, &reqs);
    struct hit *h = harness_keep(calloc(n ? n : 1, sizeof(*h)));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *d = rx_header(&reqs[i], "X-PostStack-Delivery-Id");
        const char *e = rx_header(&reqs[i], "X-PostStack-Event-Id");
        const char *a = rx_header(&reqs[i], "X-PostStack-Attempt");
        if (!d || !e || !a) {
            bad = 1;
            continue;
        }
        snprintf(h[i].dlv, sizeof(h[i].dlv), "%s", d);
        snprintf(h[i].evt, sizeof(h[i].evt), "%s", e);
        h[i].attempt = (int)strtol(a, NULL, 10);
        h[i].status = reqs[i].status;
        h[i].at_ms = reqs[i].at_ms;
    }
    rx_requests_free(reqs, n);
    assert_false(bad);
    qsort(h, n, sizeof(*h), by_time ? hit_cmp_time : hit_cmp_evt);
    *out = h;
    return n;
}

/* Duplicates in hits sorted by event: requests beyond the first per event
 * id; *answered counts those beyond the first 200 (the receiver answered 200
 * twice or more); *events the distinct event ids; *max_gap the longest time
 * between the first and the last request of one event. */
struct dups {
    size_t events, extra, extra_200, max_per_event;
    long long max_gap_ms, sum_gap_ms;
};

static struct dups count_dups(const struct hit *h, size_t n)
{
    struct dups d = { 0 };
    for (size_t i = 0; i < n;) {
        size_t k = i, ok = 0;
        while (k < n && strcmp(h[k].evt, h[i].evt) == 0) {
            ok += h[k].status == 200;
            k++;
        }
        d.events++;
        d.extra += k - i - 1;
        d.extra_200 += ok > 1 ? ok - 1 : 0;
        if (k - i > d.max_per_event)
            d.max_per_event = k - i;
        if (k - i > 1) {
            long long gap = h[k - 1].at_ms - h[i].at_ms;
            d.sum_gap_ms += gap;
            if (gap > d.max_gap_ms)
                d.max_gap_ms = gap;
        }
        i = k;
    }
    return d;
}

/* Is evt among the (event-sorted) hits with a 200 answer? */
static int hit_ok(const struct hit *h, size_t n, const char *evt)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(h[mid].evt, evt) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < n && strcmp(h[k].evt, evt) == 0; k++)
        if (h[k].status == 200)
            return 1;
    return 0;
}

/* ---- logs ------------------------------------------------------------------------ */

/* Per process (role[pid]) in a log: how many lines announce an outage
 * ("; reconnecting" / "; retrying") and how many its end ("reachable again"). */
struct outage_log {
    long pid;
    char role[16];
    int started, ended;
    int64_t back_at; /* the stamp of its "reachable again" line (unix ms) */
};

static int outage_lines(const char *path, struct outage_log *out, int max)
{
    char *s = read_file(path, NULL);
    int n = 0;
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        int start = strstr(line, "; reconnecting") || strstr(line, "; retrying");
        int end = strstr(line, "reachable again") != NULL;
        char *br = strchr(line, '[');
        if ((start || end) && br) {
            long pid = strtol(br + 1, NULL, 10);
            char *sp = br;
            while (sp > line && sp[-1] != ' ')
                sp--;
            int k;
            for (k = 0; k < n && out[k].pid != pid; k++)
                ;
            if (k == n && n < max) {
                memset(&out[n], 0, sizeof(out[n]));
                out[n].pid = pid;
                snprintf(out[n].role, sizeof(out[n].role), "%.*s", (int)(br - sp), sp);
                n++;
            }
            if (k < n) {
                out[k].started += start;
                out[k].ended += end;
                char stamp[32];
                int64_t at = 0;
                snprintf(stamp, sizeof(stamp), "%.24s", line);
                if (end && psw_time_parse_iso(stamp, &at) == 0)
                    out[k].back_at = at;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return n;
}

/* Every process in the log that noticed the outage logged its start once
 * and its end once (not once per try); at least want_procs did. When
 * back_at (unix ms, when Redis answered again) is nonzero, every worker
 * child was connected again within max_lag_ms of it: the scheduler waits
 * scheduler.worker_timeout after its own reconnect before it takes anyone
 * for dead, so a child must be back (and heartbeat) sooner. Returns the
 * longest lag of a worker child. */
static long long assert_outage_logged_once(const char *path, int want_procs, int64_t back_at,
                                           long long max_lag_ms)
{
    struct outage_log o[32];
    long long worst = 0;
    int n = outage_lines(path, o, 32);
    /* a process may still be waiting for its next try (backoff up to 5 s) */
    long long until = harness_mono_ms() + 15000;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < n; i++)
            pending += o[i].started > o[i].ended;
        if (!pending || harness_mono_ms() >= until)
            break;
        harness_nap(100);
        n = outage_lines(path, o, 32);
    }
    for (int i = 0; i < n; i++) {
        if (o[i].started != 1 || o[i].ended != 1) {
            fprintf(stderr, "%s: %s[%ld] logged the outage start %d times and its end %d times\n",
                    path, o[i].role, o[i].pid, o[i].started, o[i].ended);
            file_tail(path, 60);
            fail();
        }
        if (back_at && strcmp(o[i].role, "worker") == 0) {
            long long lag = (long long)(o[i].back_at - back_at);
            if (lag > worst)
                worst = lag;
            if (lag >= max_lag_ms) {
                fprintf(stderr, "%s: worker[%ld] reconnected %lld ms after redis was back, "
                        "wanted < %lld\n", path, o[i].pid, lag, max_lag_ms);
                file_tail(path, 60);
                fail();
            }
        }
    }
    if (n < want_procs) {
        fprintf(stderr, "%s: %d processes logged the outage, wanted %d\n", path, n, want_procs);
        file_tail(path, 60);
        fail();
    }
    return worst;
}

static int log_count(const char *path, const char *needle)
{
    char *s = read_file(path, NULL);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

/* ---- processes ------------------------------------------------------------------ */


static int wait_children(pid_t parent, int want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    pid_t kids[MAXKIDS];
    for (;;) {
        if (proc_children(parent, kids, MAXKIDS) == want)
            return 0;
        if (harness_mono_ms() >= until)
            return -1;
        harness_nap(20);
    }
}

/* Waits until psw:workers has want entries. */
static int wait_workers(long long want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    for (;;) {
        if (cmd_ll("ZCARD %sworkers", C.cfg.redis_prefix) == want)
            return 0;
        if (harness_mono_ms() >= until)
            return -1;
        harness_nap(20);
    }
}

/* For a failure: the queues, in-flight lists and clients as Redis sees them. */
static void dump_redis_state(void)
{
    const char *p = C.cfg.redis_prefix;
    redisReply *r = cluster_cmd(&C, "LRANGE %squeue:ready 0 -1", p);
    fprintf(stderr, "ready: %zu ids\n", r->elements);
    freeReplyObject(r);
    r = cluster_cmd(&C, "KEYS %squeue:inflight:*", p);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *l = cluster_cmd(&C, "LRANGE %s 0 -1", r->element[i]->str);
        fprintf(stderr, "%s:", r->element[i]->str);
        for (size_t j = 0; j < l->elements; j++)
            fprintf(stderr, " %s", l->element[j]->str);
        fprintf(stderr, "\n");
        freeReplyObject(l);
    }
    freeReplyObject(r);
    r = cluster_cmd(&C, "CLIENT LIST");
    if (r->type == REDIS_REPLY_STRING)
        fprintf(stderr, "clients:\n%s", r->str);
    freeReplyObject(r);
}

/* Waits until want schedulers have run promote (psw:schedulers). */
static int wait_schedulers(long long want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    for (;;) {
        if (cmd_ll("ZCARD %sschedulers", C.cfg.redis_prefix) >= want)
            return 0;
        if (harness_mono_ms() >= until)
            return -1;
        harness_nap(20);
    }
}

/* ---- a. Redis SIGKILLed and restarted mid-load (AOF appendfsync always) ------------ */

static void test_redis_restart_midload(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "test.aof: yes", "redis.connect_timeout: 500ms", "redis.command_timeout: 2s",
        "http.timeout: 10s", NULL,
    };
    const int N = FULL ? 4000 : 1200;
    const int kill_at = N / 3;
    const int outage_ms = FULL ? 3000 : 1000;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    struct rx_behavior slow = { .delay_ms = 10 };
    rx_set(C.rx, "/a", &slow);
    assert_int_equal(cluster_endpoint(&C, "acct_a", "/a", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers(2, 10000), 0);

    char *acked = harness_keep(calloc((size_t)N, 1));
    int nacked = 0, nfailed = 0, killed = 0;
    long long t_kill = 0, max_fail_ms = 0, t0 = harness_mono_ms();
    int64_t back_at = 0;
    char first_err[512] = "";
    for (int i = 0; i < N; i++) {
        if (i == kill_at) {
            /* mid-load: deliveries have reached the receiver already */
            assert_true(rx_count(C.rx, "/a") > 0);
            assert_int_equal(redis_srv_kill(&C.redis), 0);
            killed = 1;
            t_kill = harness_mono_ms();
        }
        if (killed == 1 && harness_mono_ms() - t_kill >= outage_ms) {
            assert_int_equal(redis_srv_restart(&C.redis), 0);
            back_at = psw_now_ms();
            rc_reconnect();
            killed = 2;
        }
        struct psw_publish_result res;
        long long took = publish_one("a", i, &res);
        if (res.status == PSW_OK) {
            assert_int_equal(res.duplicate, 0);
            assert_int_equal(res.deliveries, 1);
            acked[i] = 1;
            nacked++;
        } else {
            nfailed++;
            if (!first_err[0])
                snprintf(first_err, sizeof(first_err), "%s", res.err);
            /* a clear error: it says the event was not confirmed, and why */
            if (strncmp(res.err, "not confirmed: redis ", 21) != 0 &&
                strncmp(res.err, "not published: redis ", 21) != 0) {
                fprintf(stderr, "publish error: \"%s\"\n", res.err);
                fail();
            }
            if (took > max_fail_ms)
                max_fail_ms = took;
        }
        if (killed == 1)
            harness_nap(5); /* keep trying through the outage */
    }
    assert_int_equal(killed, 2);
    long long publish_ms = harness_mono_ms() - t0;
    assert_true(nfailed > 0);
    assert_true(max_fail_ms < 500 + 500); /* refused: at most connect_timeout + slack */

    /* every delivery that exists ends delivered; every acknowledged event exists */
    struct states s = wait_settled(ep, 60000);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(s.delivered, nd);
    assert_int_equal(s.failed, 0);
    assert_true(nd >= (size_t)nacked);
    assert_true(nd <= (size_t)N);
    struct hit *h;
    size_t nh = hits_get("/a", &h, 0);
    struct dups d = count_dups(h, nh);
    int acked_missing = 0;
    for (int i = 0; i < N; i++) {
        if (!acked[i])
            continue;
        char evt[64], key[96];
        snprintf(evt, sizeof(evt), "evt_a_%d", i);
        snprintf(key, sizeof(key), "%sevent:acct_a/%s", C.cfg.redis_prefix, evt);
        if (cmd_ll("EXISTS %s", key) != 1 || !hit_ok(h, nh, evt)) {
            fprintf(stderr, "acknowledged event %s lost (exists %lld)\n", evt,
                    cmd_ll("EXISTS %s", key));
            acked_missing++;
        }
    }
    assert_int_equal(acked_missing, 0);
    /* the receiver got every delivery; what it got twice is reported */
    assert_int_equal(d.events, nd);
    assert_int_equal(stat_ll("failed"), 0);
    assert_int_equal(cmd_ll("ZCARD %squeue:failed", C.cfg.redis_prefix), 0);
    assert_int_equal(stat_ll("delivered"), (long long)nd);
    long long recovered = stat_ll("recovered");
    assert_queues_empty(ep);
    int restarted = 0; /* a claim whose reply the kill cut off, started again */
    for (size_t i = 0; i < nd; i++) {
        long long a = dfield_ll(ids[i], "attempts");
        assert_true(a == 1 || a == 2);
        restarted += a == 2;
    }

    /* scheduler and worker children resumed on their own, and each said so
     * once: one warning when the outage began, one line when it ended */
    assert_outage_logged_once(C.sched_log[0], 1, 0, 0);
    long long lag = assert_outage_logged_once(C.work_log[0], 2, back_at, 2000 - 200);
    /* nothing was sent twice: claims and completions cut off by the kill
     * were taken up again after the reconnect, not recovered */
    assert_int_equal(recovered, 0);
    assert_int_equal(d.extra, 0);
    fprintf(stderr,
            "  faults: redis restart: %d publishes in %lld ms, %d acknowledged, %d refused during "
            "a %d ms outage (max %lld ms each; \"%s\"); %zu deliveries (%zu of them from "
            "unacknowledged publishes) all delivered, %zu receiver duplicates, %lld recovered, "
            "%d claims restarted after a lost reply; worker children reconnected within %lld ms\n",
            N, publish_ms, nacked, nfailed, outage_ms, max_fail_ms, first_err, nd,
            nd - (size_t)nacked, d.extra, recovered, restarted, lag);
    C_ok = 1;
}

/* ---- b. Redis unreachable for a while ------------------------------------------------ */

/* frozen: SIGSTOP (connections hang) and SIGCONT; else SIGKILL (refused)
 * and a restart from the AOF. */
static void redis_unreachable(int frozen)
{
    static const char *const ov[] = {
        "test.aof: yes", "redis.connect_timeout: 500ms", "redis.command_timeout: 1s",
        "http.timeout: 10s", "scheduler.worker_timeout: 1s", "worker.heartbeat: 100ms",
        "retry.schedule: 200ms", NULL,
    };
    const int K = 20;
    /* frozen: longer than a parked BLMOVE may go unanswered (8 s) */
    const int outage_ms = FULL ? 30000 : frozen ? 9000 : 5000;
    const long long bound_ms = 500 + 1000 + 1000; /* connect + command timeout + slack */
    char ep[PSW_ID_SIZE], ep2[PSW_ID_SIZE];
    const char *tag = frozen ? "bs" : "bk";
    char acct[32];
    snprintf(acct, sizeof(acct), "acct_%s", tag);

    start_cluster(ov, 1, 1);
    struct rx_behavior slow = { .delay_ms = 1000 };
    rx_set(C.rx, "/b", &slow);
    struct rx_behavior once = { .fail_first = 1, .fail_status = 503 };
    rx_set(C.rx, "/b2", &once);
    assert_int_equal(cluster_endpoint(&C, acct, "/b", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers(2, 10000), 0);

    publish_range(tag, 0, K);
    /* every request is at the receiver, which answers a second later */
    assert_int_equal(rx_wait(C.rx, "/b", (size_t)K, 5000), 0);
    long long t0 = harness_mono_ms();
    if (frozen) {
        assert_int_equal(kill(C.redis.pid, SIGSTOP), 0);
        redis_frozen = 1;
    } else {
        assert_int_equal(redis_srv_kill(&C.redis), 0);
    }

    /* publishing fails, quickly and clearly; library and CLI */
    int tries = 0, cli_tries = 0;
    long long max_ms = 0, cli_max_ms = 0;
    char lib_err[512] = "", cli_err[512] = "";
    int next = K;
    {
        /* first a batch on the connection that was open: pipelined, so a
         * frozen Redis has all of it queued when it wakes */
        const int B = 4;
        char *jsons[4];
        size_t lens[4];
        struct psw_publish_result res[4];
        for (int i = 0; i < B; i++) {
            jsons[i] = harness_keep(event_json(tag, next + i));
            lens[i] = strlen(jsons[i]);
        }
        long long b0 = harness_mono_ms();
        int rc = psw_publish_many(&C.ctx, (size_t)B, (const char *const *)jsons, lens, res);
        long long took = harness_mono_ms() - b0;
        next += B;
        assert_int_equal(rc, PSW_EFAIL);
        for (int i = 0; i < B; i++) {
            assert_int_not_equal(res[i].status, PSW_OK);
            assert_non_null(strstr(res[i].err, "not confirmed: redis "));
        }
        if (frozen)
            assert_non_null(strstr(res[0].err, "no answer within 1000 ms"));
        if (took > max_ms)
            max_ms = took;
    }
    while (harness_mono_ms() - t0 < outage_ms - 1500) {
        struct psw_publish_result res;
        long long took = publish_one(tag, next++, &res);
        assert_int_not_equal(res.status, PSW_OK);
        /* it says why: a hanging Redis did not answer in time; a dead one
         * refuses (the call on the old connection may see it close first) */
        if (!strstr(res.err, "not confirmed: redis ") ||
            !strstr(res.err, frozen ? "no answer within 1000 ms (redis.command_timeout)"
                                    : tries == 0 ? "" : "Connection refused")) {
            fprintf(stderr, "publish during the outage: \"%s\"\n", res.err);
            fail();
        }
        if (!lib_err[0])
            snprintf(lib_err, sizeof(lib_err), "%s", res.err);
        if (took > max_ms)
            max_ms = took;
        tries++;
        if (tries % 3 == 1) {
            char *json = harness_keep(event_json(tag, next++));
            const char *argv[] = { "publish", "--config", C.config_path, "-", NULL };
            char *out = NULL, *err = NULL;
            long long c0 = harness_mono_ms();
            int rc = proc_run("psw", argv, json, &out, &err, 15000);
            long long ctook = harness_mono_ms() - c0;
            harness_keep(out ? out : strdup(""));
            harness_keep(err ? err : strdup(""));
            if (rc != 1 || !err ||
                !strstr(err, frozen ? "no answer within 1000 ms" : "Connection refused")) {
                fprintf(stderr, "psw publish during the outage: exit %d, stderr \"%s\"\n", rc,
                        err ? err : "");
                fail();
            }
            if (!cli_err[0]) {
                snprintf(cli_err, sizeof(cli_err), "%s", err);
                cli_err[strcspn(cli_err, "\n")] = '\0';
            }
            if (ctook > cli_max_ms)
                cli_max_ms = ctook;
            cli_tries++;
        }
        harness_nap(200);
    }
    while (harness_mono_ms() - t0 < outage_ms)
        harness_nap(20);
    if (frozen) {
        assert_int_equal(kill(C.redis.pid, SIGCONT), 0);
        redis_frozen = 0;
    } else {
        assert_int_equal(redis_srv_restart(&C.redis), 0);
        rc_reconnect();
    }
    long long t_back = harness_mono_ms();
    int64_t back_at = psw_now_ms();
    assert_true(tries >= 2);
    assert_true(max_ms <= bound_ms);
    assert_true(cli_max_ms <= bound_ms + 2000); /* plus starting the program (ASan) */

    /* the results of the requests that were in flight are written, once */
    assert_int_equal(cluster_wait_stat(&C, "delivered", K, 30000), 0);
    long long t_written = harness_mono_ms();
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    int late_applied = 0;
    for (size_t i = 0; i < nd; i++) {
        char *evt = harness_keep(dfield(ids[i], "event_id"));
        int n = (int)strtol(strrchr(evt, '_') + 1, NULL, 10);
        if (n >= K) {
            /* sent into a frozen Redis before the client gave up: Redis ran
             * the whole script when it woke (never half of it) */
            assert_true(frozen);
            late_applied++;
            continue;
        }
        assert_dfield(ids[i], "state", "delivered");
        assert_int_equal(dfield_ll(ids[i], "attempts"), 1);
        json_object *recs = attempt_records(ids[i]);
        assert_int_equal(json_object_array_length(recs), 1);
        assert_int_equal(rec_ll(json_object_array_get_idx(recs, 0), "status"), 200);
    }
    assert_int_equal(nd, (size_t)(K + late_applied));
    assert_true(late_applied <= 4); /* only the batch on the connection that hung */
    /* nothing else of what was published during the outage exists */
    int outage_stored = 0;
    for (int i = K; i < next; i++) {
        char key[96];
        snprintf(key, sizeof(key), "%sevent:acct_%s/evt_%s_%d", C.cfg.redis_prefix, tag, tag, i);
        outage_stored += cmd_ll("EXISTS %s", key) == 1;
    }
    assert_int_equal(outage_stored, late_applied);
    long long events = cmd_ll("HGET %sstats events_published", C.cfg.redis_prefix);
    assert_int_equal(events, K + late_applied);
    if (late_applied)
        assert_int_equal(cluster_wait_stat(&C, "delivered", K + late_applied, 20000), 0);
    for (size_t i = 0; i < nd; i++) { /* the late ones too: delivered by one attempt */
        assert_dfield(ids[i], "state", "delivered");
        assert_int_equal(dfield_ll(ids[i], "attempts"), 1);
    }
    /* not re-sent: the receiver saw each of the K once */
    if (rx_count(C.rx, "/b") != (size_t)(K + late_applied)) {
        struct hit *h;
        size_t nh = hits_get("/b", &h, 1);
        for (size_t i = 0; i < nh; i++)
            fprintf(stderr, "  request %zu: %s %s attempt %d at %lld answered %d\n", i, h[i].evt,
                    h[i].dlv, h[i].attempt, (long long)h[i].at_ms, h[i].status);
    }
    assert_int_equal(rx_count(C.rx, "/b"), (size_t)(K + late_applied));
    assert_int_equal(stat_ll("recovered"), 0);
    assert_int_equal(stat_ll("failed"), 0);
    assert_int_equal(stat_ll("attempts"), K + late_applied);

    /* the scheduler resumed: a retry after the outage is promoted */
    assert_int_equal(cluster_endpoint(&C, acct, "/b2", NULL, NULL, NULL, ep2, NULL, 0), 0);
    struct psw_publish_result res;
    publish_one(tag, 9999, &res);
    assert_int_equal(res.status, PSW_OK);
    assert_int_equal(res.deliveries, 2);
    assert_int_equal(rx_wait(C.rx, "/b2", 2, 20000), 0);
    assert_int_equal(cluster_wait_stat(&C, "delivered", K + late_applied + 2, 20000), 0);
    assert_int_equal(stat_ll("retries_scheduled"), 1);
    assert_queues_empty(ep);
    assert_outage_logged_once(C.sched_log[0], 1, 0, 0);
    long long lag = assert_outage_logged_once(C.work_log[0], 2, back_at, 1000 - 100);
    struct outage_log so[4];
    assert_int_equal(outage_lines(C.sched_log[0], so, 4), 1);
    long long sched_lag = (long long)(so[0].back_at - back_at);
    fprintf(stderr,
            "  faults: redis %s %d ms: %d publishes failed (max %lld ms; \"%s\"), %d CLI publishes "
            "exit 1 (max %lld ms; \"%s\"); %d in-flight results written %lld ms after redis "
            "returned, attempts 1, not re-sent; worker children reconnected within %lld ms, "
            "the scheduler after %lld ms; %d publishes applied late by the woken redis\n",
            frozen ? "frozen (SIGSTOP)" : "down (SIGKILL, refused)", outage_ms, tries, max_ms,
            lib_err, cli_tries, cli_max_ms, cli_err, K, t_written - t_back, lag, sched_lag,
            late_applied);
    C_ok = 1;
}

static void test_redis_frozen(void **state)
{
    (void)state;
    redis_unreachable(1);
}

static void test_redis_down(void **state)
{
    (void)state;
    redis_unreachable(0);
}

/* Redis frozen for 1.5 s, just longer than redis.command_timeout (1 s): each
 * worker child's heartbeat times out, its reconnect at once is still
 * waiting for its SCRIPT LOAD when Redis wakes, and Redis first runs the
 * publishes queued during the freeze, which hand ids to the BLMOVEs the
 * children had parked. The child that reconnects then reconciles (its
 * in-flight list holds the parked BLMOVE's id) before it reads the parked
 * answer: each delivery must still be sent once, as attempt 1. */
static void test_redis_frozen_briefly(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "redis.connect_timeout: 500ms", "redis.command_timeout: 1s",
        "scheduler.worker_timeout: 3s", "worker.heartbeat: 100ms", NULL,
    };
    enum { B = 6 };
    char ep[PSW_ID_SIZE];
    int sent_twice = 0;

    start_cluster(ov, 1, 1);
    assert_int_equal(cluster_endpoint(&C, "acct_p", "/p", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers(2, 10000), 0);
    publish_range("p", 0, 2); /* both children have worked, and parked again */
    assert_int_equal(cluster_wait_stat(&C, "delivered", 2, 10000), 0);
    harness_nap(300);

    for (int round = 0; round < 2; round++) {
        char *jsons[B];
        size_t lens[B];
        struct psw_publish_result res[B];
        int base = 2 + round * B;
        for (int i = 0; i < B; i++) {
            jsons[i] = harness_keep(event_json("p", base + i));
            lens[i] = strlen(jsons[i]);
        }
        assert_int_equal(psw_redis_ensure(C.ctx.redis), 0); /* open before the freeze */
        long long t0 = harness_mono_ms();
        assert_int_equal(kill(C.redis.pid, SIGSTOP), 0);
        redis_frozen = 1;
        /* written whole into the frozen server's socket; no answer in time */
        assert_int_equal(psw_publish_many(&C.ctx, B, (const char *const *)jsons, lens, res),
                         PSW_EFAIL);
        while (harness_mono_ms() - t0 < 1500)
            harness_nap(5);
        assert_int_equal(kill(C.redis.pid, SIGCONT), 0);
        redis_frozen = 0;
        if (cluster_wait_stat(&C, "delivered", base + B, 10000) != 0) {
            dump_redis_state();
            fail();
        }
        harness_nap(500);
    }
    const int N = 2 + 2 * B;
    /* every event was stored whole and sent once */
    assert_int_equal(stat_ll("events_published"), N);
    struct hit *h;
    size_t nh = hits_get("/p", &h, 0);
    struct dups d = count_dups(h, nh);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, (size_t)N);
    for (size_t i = 0; i < nd; i++) {
        assert_dfield(ids[i], "state", "delivered");
        if (dfield_ll(ids[i], "attempts") != 1) {
            fprintf(stderr, "delivery %s: %lld attempts\n", ids[i], dfield_ll(ids[i], "attempts"));
            sent_twice++;
        }
    }
    for (size_t i = 0; i < nh; i++)
        if (h[i].attempt != 1)
            fprintf(stderr, "  %s %s sent again as attempt %d\n", h[i].evt, h[i].dlv, h[i].attempt);
    assert_int_equal(sent_twice, 0);
    assert_int_equal(d.extra, 0);
    assert_int_equal(nh, (size_t)N);
    assert_int_equal(stat_ll("attempts"), N);
    assert_int_equal(stat_ll("recovered"), 0);
    assert_queues_empty(ep);
    fprintf(stderr,
            "  faults: redis frozen 1.5 s twice (command timeout 1 s), %d publishes queued in it: "
            "all stored whole, each sent once (attempt 1)\n", 2 * B);
    C_ok = 1;
}

/* ---- c. worker children SIGKILLed at random during a bulk run --------------------- */

static void test_kill_children_bulk(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "worker.heartbeat: 100ms", "scheduler.worker_timeout: 1s", "worker.processes: 2",
        "worker.concurrency: 16", "endpoint.max_in_flight: 0", "http.timeout: 10s", NULL,
    };
    const int N = FULL ? 50000 : 5000;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 2);
    struct rx_behavior busy = { .delay_ms = 20 }; /* requests are in flight when a kill comes */
    rx_set(C.rx, "/k", &busy);
    assert_int_equal(cluster_endpoint(&C, "acct_k", "/k", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers(4, 10000), 0);

    srand((unsigned)getpid());
    long long t0 = harness_mono_ms();
    for (int from = 0; from < N; from += 5000)
        publish_range("k", from, from + 5000 < N ? from + 5000 : N);
    long long t_pub = harness_mono_ms();

    /* Every 200..500 ms a random child of a random master, as long as that
     * master has all its children up: the master respawns a child that dies
     * within 10 s of its start only after a backoff that doubles from 250 ms
     * to 30 s, so killing whatever is alive at this pace would leave no
     * child running at all after a few seconds (crash-loop protection, not
     * what this test is about). So at most one child per master is down. */
    int kills = 0, waits = 0;
    long long until = t0 + (FULL ? 900000 : 150000);
    while (stat_ll("delivered") < N && harness_mono_ms() < until) {
        harness_nap(200 + rand() % 301);
        int first = rand() % 2, killed_one = 0;
        for (int m = 0; m < 2 && !killed_one; m++) {
            pid_t master = C.work[(first + m) % 2];
            pid_t kids[MAXKIDS];
            int nk = proc_children(master, kids, MAXKIDS);
            if (nk < 2 || stat_ll("delivered") >= N)
                continue;
            if (kill(kids[rand() % nk], SIGKILL) == 0) {
                kills++;
                killed_one = 1;
            }
        }
        waits += !killed_one;
    }
    long long t_done = harness_mono_ms();
    assert_int_equal(stat_ll("delivered"), N);

    /* every delivery delivered, nothing failed or stuck */
    struct states s = wait_settled(ep, 30000);
    assert_int_equal(s.total, (size_t)N);
    assert_int_equal(s.delivered, (size_t)N);
    assert_int_equal(stat_ll("failed"), 0);
    assert_int_equal(cmd_ll("ZCARD %squeue:failed", C.cfg.redis_prefix), 0);
    /* the dead children's lists are recovered within worker_timeout + a pass */
    long long qwait = harness_mono_ms() + 10000;
    while (inflight_ids() > 0 && harness_mono_ms() < qwait)
        harness_nap(50);
    assert_queues_empty(ep);

    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    long long max_rec = 0, max_att = 0;
    for (size_t i = 0; i < nd; i++) {
        long long r = dfield_ll(ids[i], "recoveries");
        long long a = dfield_ll(ids[i], "attempts");
        if (r > max_rec)
            max_rec = r;
        if (a > max_att)
            max_att = a;
    }
    /* the receiver got every event; duplicates are what kills cost */
    struct hit *h;
    size_t nh = hits_get("/k", &h, 0);
    struct dups d = count_dups(h, nh);
    assert_int_equal(d.events, (size_t)N);
    assert_int_equal(nh, (size_t)N + d.extra);
    for (size_t i = 0; i < nh;) {
        size_t k = i;
        int ok = 0;
        while (k < nh && strcmp(h[k].evt, h[i].evt) == 0)
            ok |= h[k++].status == 200;
        assert_true(ok);
        i = k;
    }
    long long recovered = stat_ll("recovered");
    /* every duplicate is a request whose delivery was recovered */
    assert_true((long long)d.extra <= recovered);
    assert_true(kills > 0);
    int killed_logged = 0;
    long long max_backoff = 0;
    for (int m = 0; m < 2; m++) {
        killed_logged += log_count(C.work_log[m], "killed by signal 9");
        char *log = read_file(C.work_log[m], NULL);
        for (const char *q = log; q && (q = strstr(q, "respawning worker slot ")); q++) {
            const char *in = strstr(q, " in ");
            long long b = in ? strtoll(in + 4, NULL, 10) : 0;
            if (b > max_backoff)
                max_backoff = b;
        }
        free(log);
    }
    assert_int_equal(killed_logged, kills);
    fprintf(stderr,
            "  faults: random kills: %d deliveries, %d children SIGKILLed (%d turns skipped: a "
            "child of each master still down; respawn backoff reached %lld ms), published in "
            "%lld ms, all delivered in %lld ms (%.0f/s); %zu receiver duplicates "
            "(%zu answered 200 twice or more, max %zu requests per event), %lld recovered, max "
            "recoveries per delivery %lld, max attempts %lld; recovery lag (first to last "
            "request of a duplicated event) max %lld ms, mean %lld ms\n",
            N, kills, waits, max_backoff, t_pub - t0, t_done - t0,
            N * 1000.0 / (double)(t_done - t0),
            d.extra, d.extra_200, d.max_per_event, recovered, max_rec, max_att, d.max_gap_ms,
            d.extra ? d.sum_gap_ms / (long long)d.extra : 0);
    C_ok = 1;
}

/* ---- d. a flapping receiver ------------------------------------------------------ */

static void test_receiver_flapping(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "endpoint.disable_after_failures: 5",
        "retry.schedule: 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s",
        "retry.max_age: 30s",
        "alerts.webhook_url: {rx}/alerts",
        NULL,
    };
    const int cycles = 6, down_ms = 400, up_ms = 1100, every_ms = 300;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    assert_int_equal(cluster_endpoint(&C, "acct_f", "/f", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers(2, 10000), 0);
    struct rx_behavior down = { .always_status = 503 };

    /* phase 1: down 400 ms, up 1100 ms, six times, one event every 300 ms */
    int n = 0, phase_down = -1;
    long long t0 = harness_mono_ms(), next_pub = t0;
    long long end = t0 + (long long)cycles * (down_ms + up_ms);
    while (harness_mono_ms() < end) {
        long long t = harness_mono_ms() - t0;
        int is_down = t % (down_ms + up_ms) < down_ms;
        if (is_down != phase_down) {
            rx_set(C.rx, "/f", is_down ? &down : NULL);
            phase_down = is_down;
        }
        if (harness_mono_ms() >= next_pub) {
            struct psw_publish_result res;
            publish_one("f", n++, &res);
            assert_int_equal(res.status, PSW_OK);
            assert_int_equal(res.deliveries, 1);
            next_pub += every_ms;
        }
        harness_nap(5);
    }
    rx_set(C.rx, "/f", NULL);
    struct states s1 = wait_settled(ep, 30000);
    assert_int_equal(s1.total, (size_t)n);
    assert_int_equal(s1.delivered, (size_t)n);

    /* the longest run of failures the receiver answered (in answer order) */
    struct hit *h;
    size_t nh = hits_get("/f", &h, 1);
    int run = 0, max_run = 0, fails = 0;
    for (size_t i = 0; i < nh; i++) {
        if (h[i].status == 503) {
            fails++;
            if (++run > max_run)
                max_run = run;
        } else {
            run = 0;
        }
    }
    char key[128];
    snprintf(key, sizeof(key), "endpoint:%s", ep);
    char *status = harness_keep(cluster_hget(&C, key, "status"));
    if (max_run >= 5)
        fprintf(stderr, "flapping produced a run of %d failures: the scenario is off\n", max_run);
    assert_true(max_run < 5);
    /* more failures than the threshold in all, yet never 5 in a row:
     * each success reset the count, so the endpoint stayed enabled */
    assert_true(fails >= 5);
    assert_string_equal(status, "enabled");
    assert_int_equal(cluster_hget_ll(&C, key, "consecutive_failures", -1), 0);
    assert_int_equal(cmd_ll("XLEN %salerts", C.cfg.redis_prefix), 0);
    assert_int_equal(stat_ll("failed_attempts"), fails);
    assert_int_equal(stat_ll("attempts"), (long long)nh);
    assert_int_equal(stat_ll("delivered"), n);
    assert_int_equal(stat_ll("failed"), 0);

    /* phase 2: down for good; one event every 100 ms for 2 s */
    rx_set(C.rx, "/f", &down);
    int n1 = n;
    for (int i = 0; i < 20; i++) {
        struct psw_publish_result res;
        publish_one("f", n++, &res);
        assert_int_equal(res.status, PSW_OK);
        harness_nap(100);
    }
    assert_int_equal(cluster_wait_field(&C, key, "status", "disabled", 10000), 0);
    struct states s2 = wait_settled(ep, 30000);
    assert_int_equal(s2.total, (size_t)n);
    assert_int_equal(s2.failed, 0);
    assert_int_equal(s2.delivered + s2.skipped, (size_t)n);
    assert_int_equal(s2.delivered, (size_t)n1);
    assert_int_equal(s2.skipped, (size_t)(n - n1));
    /* exactly one alert, in the stream and at alerts.webhook_url */
    assert_int_equal(cmd_ll("XLEN %salerts", C.cfg.redis_prefix), 1);
    assert_int_equal(rx_wait(C.rx, "/alerts", 1, 5000), 0);
    harness_nap(300);
    assert_int_equal(rx_count(C.rx, "/alerts"), 1);
    char *reason = harness_keep(cluster_hget(&C, key, "disabled_reason"));
    assert_non_null(strstr(reason, "5 consecutive failed attempts"));
    assert_int_equal(cluster_hget_ll(&C, key, "consecutive_failures", -1), 5);
    /* counts add up */
    long long p2_fails = stat_ll("failed_attempts") - fails;
    assert_true(p2_fails >= 5);
    assert_int_equal(stat_ll("deliveries_created"), n);
    assert_int_equal(stat_ll("delivered") + stat_ll("skipped"), n);
    assert_int_equal(stat_ll("skipped"), n - n1);
    assert_int_equal(stat_ll("attempts"), (long long)rx_count(C.rx, "/f"));
    assert_int_equal(stat_ll("attempts"), stat_ll("delivered") + stat_ll("failed_attempts"));
    assert_int_equal(stat_ll("endpoints_disabled"), 1);
    assert_int_equal(cluster_hget_ll(&C, "stats", "failed", 0), 0);
    snprintf(key, sizeof(key), "endpoint:%s:stats", ep);
    assert_int_equal(cluster_hget_ll(&C, key, "delivered", -1), n1);
    assert_int_equal(cluster_hget_ll(&C, key, "skipped", -1), n - n1);
    assert_queues_empty(ep);
    fprintf(stderr,
            "  faults: flapping: %d events over %d cycles (down %d ms / up %d ms): %d failed "
            "attempts, longest run %d < 5, endpoint stayed enabled, all delivered; then down for "
            "good: disabled after 5 consecutive, 1 alert, %d delivered + %d skipped = %d\n",
            n1, cycles, down_ms, up_ms, fails, max_run, n1, n - n1, n);
    C_ok = 1;
}

/* ---- e. clocks ------------------------------------------------------------------- */

/* Due times in the far past and the far future. */
static void test_clock_past_future(void **state)
{
    (void)state;
    static const char *const ov[] = { "retry.schedule: 10s", "retry.max_age: 30s", NULL };
    char ep[PSW_ID_SIZE];
    const char *p;

    start_cluster(ov, 1, 1);
    p = C.cfg.redis_prefix;
    /* Retry-After: one year, on the first attempt of each delivery */
    struct rx_behavior later = { .fail_first = 2, .fail_status = 503, .retry_after = "31536000" };
    rx_set(C.rx, "/e", &later);
    assert_int_equal(cluster_endpoint(&C, "acct_e", "/e", NULL, NULL, NULL, ep, NULL, 0), 0);
    publish_range("e", 0, 2);
    size_t nd = 0;
    long long until = harness_mono_ms() + 10000;
    char **ids = NULL;
    while (harness_mono_ms() < until) {
        ids = deliveries_get(ep, &nd);
        if (nd == 2 && cmd_ll("ZCARD %squeue:scheduled", p) == 2)
            break;
        harness_nap(20);
    }
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", p), 2);
    assert_int_equal(wait_schedulers(1, 10000), 0);
    /* a year is clamped to the cycle's start + retry.max_age, exactly */
    for (size_t i = 0; i < 2; i++) {
        /* one attempt so far: the cycle started with it, at last_attempt_at
         * (cycle_started_at is not stored yet, docs/redis.md) */
        assert_true(dfield_ll(ids[i], "cycle_started_at") <= 0);
        long long start = dfield_ll(ids[i], "last_attempt_at");
        long long due = cmd_ll("ZSCORE %squeue:scheduled %s", p, ids[i]);
        assert_true(start > 0);
        assert_int_equal(due, start + 30000);
        assert_int_equal(dfield_ll(ids[i], "next_attempt_at"), start + 30000);
    }
    /* one is moved to the year 2100 by hand, the other to 1970 */
    assert_int_equal(cmd_ll("ZADD %squeue:scheduled XX CH 4102444800000 %s", p, ids[0]), 1);
    long long t0 = harness_mono_ms();
    assert_int_equal(cmd_ll("ZADD %squeue:scheduled XX CH 1000 %s", p, ids[1]), 1);
    /* the past one at once */
    assert_int_equal(rx_wait(C.rx, "/e", 3, 5000), 0);
    long long lag_past = harness_mono_ms() - t0;
    assert_int_equal(cluster_wait_field(&C, "stats", "delivered", "1", 5000), 0);
    char key[128];
    snprintf(key, sizeof(key), "delivery:%s", ids[1]);
    assert_int_equal(cluster_wait_field(&C, key, "state", "delivered", 5000), 0);
    if (lag_past >= 1000)
        fprintf(stderr, "the delivery due in 1970 was sent %lld ms after the ZADD\n", lag_past);
    assert_true(lag_past < 1000);
    /* the future ones never early: the far-future one, and clamped ones
     * still waiting their 30 s */
    harness_nap(2000);
    assert_dfield(ids[0], "state", "scheduled");
    assert_int_equal(cmd_ll("ZSCORE %squeue:scheduled %s", p, ids[0]), 4102444800000LL);
    assert_int_equal(rx_count(C.rx, "/e"), 3);
    assert_int_equal(stat_ll("attempts"), 3);
    fprintf(stderr,
            "  faults: clock: Retry-After 1 year clamped to cycle start + max_age (30 s) "
            "exactly; a due time in 1970 promoted and sent in %lld ms; one in 2100 not "
            "promoted\n",
            lag_past);
    C_ok = 1;
}

/* Schedulers at -5 min and +5 min and a worker at -5 min (libfaketime). */
static void test_clock_skew(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "retry.schedule: 300ms", "worker.heartbeat: 100ms", "scheduler.worker_timeout: 1s",
        "endpoint.disable_after_failures: 1000", NULL,
    };
    const int N = 30;
    char ep[PSW_ID_SIZE];

    if (access(FAKETIME_LIB, R_OK) != 0) {
        fprintf(stderr, "%s missing: scripts/deps.sh test installs faketime\n", FAKETIME_LIB);
        fail();
    }
    start_cluster(ov, 0, 0);
    const char *asan = getenv("ASAN_OPTIONS");
    char asan_opts[512];
    snprintf(asan_opts, sizeof(asan_opts), "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME", "-5m", 1);
    assert_true(cluster_add_scheduler(&C) > 0);
    assert_true(cluster_add_worker(&C) > 0);
    setenv("FAKETIME", "+5m", 1);
    assert_true(cluster_add_scheduler(&C) > 0);
    unsetenv("FAKETIME");
    unsetenv("LD_PRELOAD");
    if (asan)
        setenv("ASAN_OPTIONS", asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    assert_int_equal(wait_workers(2, 10000), 0);
    assert_int_equal(wait_children(C.work[0], 2, 5000), 0);
    assert_int_equal(wait_schedulers(2, 10000), 0);

    /* the skew is real: each program's log is stamped with its own clock */
    long long real = psw_now_ms();
    const char *logs[3] = { C.sched_log[0], C.work_log[0], C.sched_log[1] };
    const long long want_off[3] = { -300000, -300000, 300000 };
    for (int i = 0; i < 3; i++) {
        long long until = harness_mono_ms() + 5000;
        while (log_count(logs[i], " started") == 0 && harness_mono_ms() < until)
            harness_nap(20);
        char *s = harness_keep(read_file(logs[i], NULL));
        int64_t at = 0;
        char stamp[32];
        snprintf(stamp, sizeof(stamp), "%.24s", s);
        assert_int_equal(psw_time_parse_iso(stamp, &at), 0);
        long long off = (long long)at - real;
        if (off < want_off[i] - 15000 || off > want_off[i] + 15000) {
            fprintf(stderr, "%s: first stamp %s is %lld ms off, wanted %lld\n", logs[i], stamp,
                    off, want_off[i]);
            fail();
        }
    }

    /* every first attempt fails; the retries are due 300 ms later by Redis's clock */
    struct rx_behavior first_fails = { .fail_first = N, .fail_status = 500 };
    rx_set(C.rx, "/s", &first_fails);
    assert_int_equal(cluster_endpoint(&C, "acct_s", "/s", NULL, NULL, NULL, ep, NULL, 0), 0);
    publish_range("s", 0, N);
    assert_int_equal(cluster_wait_stat(&C, "delivered", N, 20000), 0);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, (size_t)N);
    long long max_lag = 0, min_lag = 1LL << 40, sum_lag = 0;
    for (size_t i = 0; i < nd; i++) {
        json_object *recs = attempt_records(ids[i]);
        assert_int_equal(json_object_array_length(recs), 2);
        json_object *r0 = json_object_array_get_idx(recs, 0);
        json_object *r1 = json_object_array_get_idx(recs, 1);
        assert_int_equal(rec_ll(r0, "status"), 500);
        assert_int_equal(rec_ll(r1, "status"), 200);
        /* both stamps are Redis time (claim) + monotonic latency */
        long long due = rec_ll(r0, "ended_at") + 300;
        long long lag = rec_ll(r1, "at") - due;
        if (lag > max_lag)
            max_lag = lag;
        if (lag < min_lag)
            min_lag = lag;
        sum_lag += lag;
    }
    /* never early (a +5 min local clock would promote at once), never late
     * (a -5 min one would wait five minutes) */
    assert_true(min_lag >= 0);
    assert_true(max_lag < 1000);

    /* the -5 min worker's heartbeats are current by Redis's clock: it is not
     * declared dead, while both schedulers run recovery */
    harness_nap(3000);
    assert_int_equal(stat_ll("recovered"), 0);
    redisReply *r = cluster_cmd(&C, "ZRANGE %sworkers 0 -1 WITHSCORES", C.cfg.redis_prefix);
    long long now = redis_now();
    assert_int_equal(r->elements, 4);
    for (size_t i = 1; i < r->elements; i += 2) {
        long long score = strtoll(r->element[i]->str, NULL, 10);
        assert_true(now - score < 1000 && now - score > -1000);
    }
    freeReplyObject(r);
    assert_int_equal(log_count(C.sched_log[0], "recovered"), 0);
    assert_int_equal(log_count(C.sched_log[1], "recovered"), 0);
    assert_int_equal(stat_ll("failed"), 0);
    assert_int_equal(stat_ll("retries_scheduled"), N);
    fprintf(stderr,
            "  faults: skewed clocks (schedulers -5 min and +5 min, worker -5 min): %d retries "
            "due 300 ms after the failed attempt were sent %lld..%lld ms after their due time "
            "(mean %lld ms) by Redis's clock; the skewed worker's heartbeats current, 0 "
            "recovered\n",
            N, min_lag, max_lag, sum_lag / N);
    C_ok = 1;
}


/* ---- reconnect jitter ------------------------------------------------------------ */

/* Processes that lose Redis at the same moment must not retry in step (the
 * backoff's jitter is there for that). Two forked processes each keep a
 * RETRY_POLLED connection (backoff 400 ms, so each delay is 300..500 ms) to a
 * port of their own where this test accepts and closes at once, so every try
 * fails; the times of the tries give each process's delays, which must not
 * all match. */
static void test_reconnect_jitter(void **state)
{
    (void)state;
    enum { TRIES = 16 };
    int lfd[2] = { -1, -1 }, port[2];
    pid_t kid[2] = { 0, 0 };
    long long at[2][TRIES];
    int n[2] = { 0, 0 };

    for (int i = 0; i < 2; i++) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd[i] >= 0);
        assert_int_equal(bind(lfd[i], (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(lfd[i], 16), 0);
        assert_int_equal(getsockname(lfd[i], (struct sockaddr *)&a, &len), 0);
        port[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < 2; i++) {
        kid[i] = fork();
        assert_true(kid[i] >= 0);
        if (kid[i] == 0) {
            char url[64], err[256];
            struct psw_redis_options opt = PSW_REDIS_OPTIONS_INIT;
            close(lfd[0]);
            close(lfd[1]);
            snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port[i]);
            opt.url = url;
            opt.retry = PSW_REDIS_RETRY_POLLED;
            opt.backoff_initial_ms = 400;
            opt.backoff_max_ms = 400;
            opt.connect_timeout_ms = 500;
            opt.command_timeout_ms = 500;
            opt.quiet = 1;
            struct psw_redis *r = psw_redis_new(&opt, err, sizeof(err));
            long long end = harness_mono_ms() + 2700;
            while (r && harness_mono_ms() < end) {
                psw_redis_ensure(r);
                harness_nap(1);
            }
            psw_redis_free(r);
            _exit(r ? 0 : 1);
        }
    }
    long long end = harness_mono_ms() + 3500;
    while (harness_mono_ms() < end) {
        struct pollfd p[2] = { { lfd[0], POLLIN, 0 }, { lfd[1], POLLIN, 0 } };
        if (poll(p, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            int fd = accept(lfd[i], NULL, NULL);
            if (fd >= 0) {
                if (n[i] < TRIES)
                    at[i][n[i]++] = harness_mono_ms();
                close(fd); /* the try fails: the server closed the connection */
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        int st = 0;
        assert_int_equal(waitpid(kid[i], &st, 0), kid[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(lfd[i]);
    }
    /* 0, then every 300..500 ms for 2.7 s */
    assert_true(n[0] >= 5 && n[1] >= 5);
    int k = (n[0] < n[1] ? n[0] : n[1]) - 1, differ = 0;
    char seq[2][256];
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        seq[i][0] = '\0';
        for (int j = 0; j < k; j++) {
            long long d = at[i][j + 1] - at[i][j];
            assert_true(d >= 300 - 5 && d <= 500 + 100);
            len += (size_t)snprintf(seq[i] + len, sizeof(seq[i]) - len, "%s%lld", j ? "," : "", d);
        }
    }
    for (int j = 0; j < k; j++) {
        long long d0 = at[0][j + 1] - at[0][j], d1 = at[1][j + 1] - at[1][j];
        differ += d0 - d1 > 10 || d1 - d0 > 10;
    }
    fprintf(stderr, "  faults: reconnect delays (ms) of two processes: %s and %s\n", seq[0],
            seq[1]);
    assert_true(differ > 0);
    C_ok = 1;
}

/* ---- Redis refusing writes (maxmemory, noeviction) ------------------------------ */

/* CPU time (user + system, clock ticks) pid has used, from /proc/PID/stat. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* Redis answers writes with an OOM error (maxmemory reached, noeviction): the
 * scheduler's promote.lua and the worker child's parked BLMOVE get error
 * replies, not I/O errors. Neither may spin: each process stays under 10% of
 * a CPU while Redis refuses, the refusal is logged once, and delivery
 * resumes once memory is there again. */
static void test_redis_refuses_writes(void **state)
{
    (void)state;
    static const char *const ov[] = { "worker.processes: 1", "scheduler.tick: 100ms", NULL };
    char ep[PSW_ID_SIZE];
    struct psw_publish_result res;

    start_cluster(ov, 1, 1);
    assert_int_equal(cluster_endpoint(&C, "acct_oom", "/oom", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers(1, 10000), 0);
    publish_one("oom", 0, &res);
    assert_int_equal(res.status, PSW_OK);
    assert_int_equal(cluster_wait_stat(&C, "delivered", 1, 10000), 0);

    freeReplyObject(cluster_cmd(&C, "CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(cluster_cmd(&C, "CONFIG SET maxmemory 1"));
    /* both have met the refusal (the child once its parked BLMOVE timed out) */
    long long until = harness_mono_ms() + 10000;
    while ((log_count(C.sched_log[0], "OOM") == 0 || log_count(C.work_log[0], "OOM") == 0) &&
           harness_mono_ms() < until)
        harness_nap(50);
    assert_true(log_count(C.sched_log[0], "OOM") > 0);
    assert_true(log_count(C.work_log[0], "OOM") > 0);

    pid_t procs[2 + MAXKIDS];
    int np = 0;
    procs[np++] = C.sched[0];
    procs[np++] = C.work[0];
    np += proc_children(C.work[0], procs + np, MAXKIDS);
    assert_int_equal(np, 3);
    long long before[2 + MAXKIDS], after[2 + MAXKIDS];
    for (int i = 0; i < np; i++)
        before[i] = cpu_ticks(procs[i]);
    long long t0 = harness_mono_ms();
    harness_nap(3000);
    long long span_ms = harness_mono_ms() - t0;
    for (int i = 0; i < np; i++)
        after[i] = cpu_ticks(procs[i]);
    long hz = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < np; i++) {
        assert_true(before[i] >= 0 && after[i] >= before[i]);
        double share = (double)(after[i] - before[i]) / (double)hz / ((double)span_ms / 1000.0);
        fprintf(stderr, "  faults: oom: pid %ld used %.1f%% of a CPU while Redis refused writes\n",
                (long)procs[i], share * 100.0);
        assert_true(share < 0.10);
    }
    /* an episode is logged once at error level, not once per try */
    assert_int_equal(log_count(C.sched_log[0], "backing off until Redis accepts it again"), 1);
    assert_true(log_count(C.work_log[0], "backing off until Redis accepts it again") <= 2);

    freeReplyObject(cluster_cmd(&C, "CONFIG SET maxmemory 0"));
    publish_one("oom", 1, &res);
    assert_int_equal(res.status, PSW_OK);
    assert_int_equal(cluster_wait_stat(&C, "delivered", 2, 15000), 0);
    /* the scheduler's next try comes within its backoff (at most 5 s) */
    until = harness_mono_ms() + 10000;
    while (log_count(C.sched_log[0], "promote works again") == 0 && harness_mono_ms() < until)
        harness_nap(50);
    assert_true(log_count(C.sched_log[0], "promote works again") >= 1);
    C_ok = 1;
}

int main(void)
{
    const char *full = getenv("PSW_FAULTS_FULL");
    FULL = full && strcmp(full, "1") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reconnect_jitter, teardown),
        cmocka_unit_test_teardown(test_redis_refuses_writes, teardown),
        cmocka_unit_test_teardown(test_redis_restart_midload, teardown),
        cmocka_unit_test_teardown(test_redis_frozen, teardown),
        cmocka_unit_test_teardown(test_redis_down, teardown),
        cmocka_unit_test_teardown(test_redis_frozen_briefly, teardown),
        cmocka_unit_test_teardown(test_kill_children_bulk, teardown),
        cmocka_unit_test_teardown(test_receiver_flapping, teardown),
        cmocka_unit_test_teardown(test_clock_past_future, teardown),
        cmocka_unit_test_teardown(test_clock_skew, teardown),
    };
    const char *only = getenv("PSW_TEST_FILTER");
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
