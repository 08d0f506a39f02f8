/*
 * test_resilience.c — black-box tests of the delivery pipeline while its
 * processes fail (docs/architecture.md, docs/events.md, docs/redis.md): a worker child SIGKILLed mid-request,
 * a graceful SIGTERM of the worker master under load, a shutdown grace that
 * runs out, two schedulers and three worker masters at once, a job that
 * keeps killing the children holding it, a SIGHUP config reload (good and
 * bad), the only scheduler killed while retries wait, and a child frozen
 * (SIGSTOP) past the heartbeat timeout — busy, and idle with a BLMOVE parked.
 *
 * Each test starts its own cluster (tests/harness/cluster.h: redis, real
 * psw-scheduler and psw-worker processes, a recording receiver) with time
 * scaled down through the config: worker.heartbeat 100ms,
 * scheduler.worker_timeout 1s. What happened is judged from Redis (the
 * docs/redis.md keys, over a raw connection), from what the receiver recorded
 * (X-PostStack-Delivery-Id / -Event-Id / -Attempt headers and the status it
 * answered) and from the worker master's log. Every wait is bounded.
 *
 * Worker children are found as the live (non-zombie) processes whose parent
 * is a worker master this test started; only those are ever signalled (a
 * SIGSTOPped one is continued at teardown whatever happened). Memory a test
 * allocates is kept and freed at teardown, so a failed assertion leaks
 * nothing. PSW_TEST_FILTER="test_frozen*" runs a subset.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/publish.h"
#include "common/timeutil.h"
#include "tests/harness/cluster.h"

#define MAXKIDS 16

static struct cluster C;
static int C_ok;         /* set by a test that got to its end: no log dump at teardown */
static pid_t C_frozen;   /* a child this test SIGSTOPped: continued at teardown */

/* What a test allocates is kept (harness_keep) and freed here, so a failed
 * assertion (which leaves the test function) leaks nothing. */
static int teardown(void **state)
{
    (void)state;
    if (C_frozen > 0) {
        kill(C_frozen, SIGCONT);
        C_frozen = 0;
    }
    cluster_stop(&C, !C_ok);
    C_ok = 0;
    harness_kept_free();
    return 0;
}

/* Config lines every test shares; a test's own lines come first and win. */
#define BASE_OVERRIDES                                                                        \
    "worker.heartbeat: 100ms", "scheduler.worker_timeout: 1s", "worker.processes: 2",        \
        "worker.concurrency: 16"

static void start_cluster(const char *const *overrides, int nsched, int nwork)
{
    const char *lines[40];
    static const char *const base[] = { BASE_OVERRIDES, NULL };
    size_t n = 0;
    for (size_t i = 0; overrides && overrides[i] && n < 30; i++)
        lines[n++] = overrides[i];
    for (size_t i = 0; base[i]; i++) {
        size_t klen = strcspn(base[i], ":");
        int mine = 0;
        for (size_t j = 0; overrides && overrides[j]; j++)
            if (strncmp(overrides[j], base[i], klen) == 0 && overrides[j][klen] == ':')
                mine = 1;
        if (!mine)
            lines[n++] = base[i];
    }
    lines[n] = NULL;
    if (cluster_start(&C, lines, nsched, nwork) < 0)
        fail_msg("cluster_start failed");
}

/* ---- processes ------------------------------------------------------------ */


static int is_child_of(pid_t pid, pid_t parent)
{
    pid_t kids[MAXKIDS];
    int n = proc_children(parent, kids, MAXKIDS);
    for (int i = 0; i < n; i++)
        if (kids[i] == pid)
            return 1;
    return 0;
}

static int pid_in(pid_t pid, const pid_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == pid)
            return 1;
    return 0;
}

/* Waits until parent has exactly want live children; fills out. */
static int wait_children(pid_t parent, int want, pid_t *out, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    int n = 0;
    for (;;) {
        n = proc_children(parent, out, MAXKIDS);
        if (n == want)
            return 0;
        if (harness_mono_ms() >= until)
            break;
        harness_nap(20);
    }
    fprintf(stderr, "wait_children: %ld has %d live children, wanted %d\n", (long)parent, n, want);
    return -1;
}

/* SIGKILLs a worker child of master and waits until the master reaped it. */
static void kill_child(pid_t master, pid_t child)
{
    assert_true(is_child_of(child, master)); /* never signal anything else */
    assert_int_equal(kill(child, SIGKILL), 0);
    long long until = harness_mono_ms() + 5000;
    while (is_child_of(child, master) && harness_mono_ms() < until)
        harness_nap(5);
    assert_false(is_child_of(child, master));
}

/* Occurrences of needle in a log file. */
static int log_count(const char *path, const char *needle)
{
    char *s = read_file(path, NULL);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

static int wait_log(const char *path, const char *needle, int want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    for (;;) {
        if (log_count(path, needle) >= want)
            return 0;
        if (harness_mono_ms() >= until)
            break;
        harness_nap(20);
    }
    fprintf(stderr, "wait_log: \"%s\" seen %d times in %s, wanted %d\n", needle,
            log_count(path, needle), path, want);
    return -1;
}

/* ---- Redis views ------------------------------------------------------------ */

struct wrk {
    char id[256];
    long long pid;
};

/* Entries of psw:workers with the pid of their info hash. */
static int workers_get(struct wrk *w, int max)
{
    redisReply *r = cluster_cmd(&C, "ZRANGE %sworkers 0 -1", C.cfg.redis_prefix);
    int n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max; i++) {
        char key[300];
        snprintf(w[n].id, sizeof(w[n].id), "%s", r->element[i]->str);
        snprintf(key, sizeof(key), "worker:%s", w[n].id);
        w[n].pid = cluster_hget_ll(&C, key, "pid", -1);
        n++;
    }
    freeReplyObject(r);
    return n;
}

/* The worker id whose heartbeat hash names pid ("" when none). */
static void wid_of(pid_t pid, char *out, size_t n)
{
    struct wrk w[MAXKIDS * 2];
    int k = workers_get(w, MAXKIDS * 2);
    out[0] = '\0';
    for (int i = 0; i < k; i++)
        if (w[i].pid == (long long)pid)
            snprintf(out, n, "%s", w[i].id);
}

/* Waits until psw:workers holds exactly the children of master (one each). */
static int wait_workers_are_children(pid_t master, int want, int timeout_ms)
{
    long long until = harness_mono_ms() + timeout_ms;
    for (;;) {
        pid_t kids[MAXKIDS];
        struct wrk w[MAXKIDS * 2];
        int nk = proc_children(master, kids, MAXKIDS);
        int nw = workers_get(w, MAXKIDS * 2);
        int match = nk == want && nw == want;
        for (int i = 0; match && i < nw; i++)
            match = pid_in((pid_t)w[i].pid, kids, nk);
        if (match)
            return 0;
        if (harness_mono_ms() >= until) {
            fprintf(stderr, "wait_workers: %d children, %d worker entries, wanted %d\n", nk, nw,
                    want);
            return -1;
        }
        harness_nap(20);
    }
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

/* Number of psw:queue:inflight:* keys. */
static long long inflight_keys(void)
{
    redisReply *r = cluster_cmd(&C, "KEYS %squeue:inflight:*", C.cfg.redis_prefix);
    long long n = r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
    freeReplyObject(r);
    return n;
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

/* The attempt records of a delivery, parsed (kept: freed at teardown). */
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

static const char *rec_str(json_object *rec, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(rec, key, &v) ? json_object_get_string(v) : "";
}

static long long rec_ll(json_object *rec, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(rec, key, &v) ? json_object_get_int64(v) : -1;
}

/* Is id an element of the list key_suffix? */
static int in_list(const char *key_suffix, const char *id)
{
    redisReply *r = cluster_cmd(&C, "LPOS %s%s %s", C.cfg.redis_prefix, key_suffix, id);
    int yes = r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    return yes;
}

/* Waits until stats field == want (exactly), failing on timeout. */
static void wait_stat_eq(const char *field, long long want, int timeout_ms)
{
    assert_int_equal(cluster_wait_stat(&C, field, want, timeout_ms), 0);
    assert_int_equal(stat_ll(field), want);
}

/* ---- events ----------------------------------------------------------------- */

static char *event_json(const char *tag, int i)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"id\":\"evt_%s_%d\",\"type\":\"email.delivered\",\"account_id\":\"acct_%s\","
             "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<m%d@mail.example.com>\","
             "\"to\":\"u%d@example.org\",\"subject\":\"resilience %d\"}}",
             tag, i, tag, i, i, i);
    return strdup(buf);
}

/* Publishes events evt_<tag>_0 … evt_<tag>_<n-1> of account acct_<tag> in one
 * psw_publish_many call; each must fan out to per_event deliveries. */
static void publish_n(const char *tag, int n, int per_event)
{
    char **jsons = harness_keep(calloc((size_t)n, sizeof(char *)));
    size_t *lens = harness_keep(calloc((size_t)n, sizeof(size_t)));
    struct psw_publish_result *res = harness_keep(calloc((size_t)n, sizeof(*res)));
    for (int i = 0; i < n; i++) {
        jsons[i] = harness_keep(event_json(tag, i));
        lens[i] = strlen(jsons[i]);
    }
    int rc = psw_publish_many(&C.ctx, (size_t)n, (const char *const *)jsons, lens, res);
    if (rc != 0)
        fprintf(stderr, "publish_many: %d (first error: %s)\n", rc, res[0].err);
    assert_int_equal(rc, 0);
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "evt_%s_%d", tag, i);
        assert_int_equal(res[i].status, PSW_OK);
        assert_int_equal(res[i].duplicate, 0);
        assert_int_equal(res[i].deliveries, per_event);
        assert_string_equal(res[i].event_id, want);
    }
}

/* ---- what the receiver saw --------------------------------------------------- */

struct hit {
    char dlv[64];
    char evt[96];
    int attempt;
    int status;
    int64_t at_ms;
};

static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    int c = strcmp(x->dlv, y->dlv);
    if (c)
        return c;
    if (x->attempt != y->attempt)
        return x->attempt < y->attempt ? -1 : 1;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* Every request on path (NULL = all), sorted by delivery id then attempt. */
static size_t hits_get(const char *path, struct hit **out)
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
    assert_false(bad); /* every request carries the three headers */
    qsort(h, n, sizeof(*h), hit_cmp);
    *out = h;
    return n;
}

/* The run of hits for dlv: first index and count. */
static size_t hits_of(const struct hit *h, size_t n, const char *dlv, size_t *first)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(h[mid].dlv, dlv) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = lo;
    while (k < n && strcmp(h[k].dlv, dlv) == 0)
        k++;
    *first = lo;
    return k - lo;
}

static int str_in(const char *s, char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], s) == 0)
            return 1;
    return 0;
}

/* ---- 1. a worker child SIGKILLed mid-request ----------------------------------- */

static void test_child_crash(void **state)
{
    (void)state;
    /* a fixed cap of 32 (not the adaptive limit, which starts lower): every
     * slot of both children busy at once is this test's premise */
    static const char *const ov[] = { "http.timeout: 10s", "endpoint.adaptive_in_flight: false",
                                      "endpoint.max_in_flight: 32", NULL };
    const int N = 40;
    char ep[PSW_ID_SIZE];

    /* two schedulers: the dead child's work must still be recovered once */
    start_cluster(ov, 2, 1);
    pid_t master = C.work[0];
    struct rx_behavior slow = { .delay_ms = 1500 };
    rx_set(C.rx, "/slow", &slow);
    assert_int_equal(cluster_endpoint(&C, "acct_crash", "/slow", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 10000), 0);
    pid_t before[MAXKIDS];
    assert_int_equal(proc_children(master, before, MAXKIDS), 2);

    publish_n("crash", N, 1);
    /* endpoint.max_in_flight (32) = both children's 16 slots: wait until
     * every slot has its request at the receiver, well before the answers */
    assert_int_equal(rx_wait(C.rx, "/slow", 32, 5000), 0);
    assert_int_equal(rx_count(C.rx, "/slow"), 32);

    /* the child holding the most */
    pid_t victim = 0;
    char wid[256] = "";
    long long most = -1;
    for (int i = 0; i < 2; i++) {
        char w[256];
        wid_of(before[i], w, sizeof(w));
        assert_true(w[0]);
        long long len = cmd_ll("LLEN %squeue:inflight:%s", C.cfg.redis_prefix, w);
        if (len > most) {
            most = len;
            victim = before[i];
            snprintf(wid, sizeof(wid), "%s", w);
        }
    }
    assert_true(most > 0);

    /* what it holds, read before the kill and after it (the union covers a
     * claim racing the signal) */
    char *held[64];
    size_t nheld = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            kill_child(master, victim);
        redisReply *r = cluster_cmd(&C, "LRANGE %squeue:inflight:%s 0 -1", C.cfg.redis_prefix, wid);
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
            if (!str_in(r->element[i]->str, held, nheld) && nheld < 64)
                held[nheld++] = harness_keep(strdup(r->element[i]->str));
        freeReplyObject(r);
    }
    /* (whether each held delivery was the victim's own request is checked
     * below, from its attempt records: its master hands them back at once,
     * so by now they may be pending again) */

    /* everything ends delivered: the held ones after recovery */
    wait_stat_eq("delivered", N, 20000);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, N);
    struct hit *h;
    size_t nh = hits_get("/slow", &h);
    int dups = 0;
    for (size_t i = 0; i < nd; i++) {
        int was_held = str_in(ids[i], held, nheld);
        size_t first, k = hits_of(h, nh, ids[i], &first);
        int ok200 = 0;
        for (size_t j = first; j < first + k; j++)
            ok200 += h[j].status == 200;
        assert_dfield(ids[i], "state", "delivered");
        /* reached the receiver, and was answered 200 exactly once */
        assert_true(k >= 1);
        assert_int_equal(ok200, 1);
        if (k > 1) {
            assert_true(was_held); /* a duplicate only for what the victim held */
            assert_int_equal(k, 2);
            assert_int_equal(h[first].attempt, 1);
            assert_int_equal(h[first].status, 0); /* its answer never came */
            assert_int_equal(h[first + 1].attempt, 2);
            dups += (int)k - 1;
        }
        /* attempts are counted at request start: the lost one counts */
        assert_int_equal(dfield_ll(ids[i], "attempts"), was_held ? 2 : 1);
        if (was_held) {
            json_object *recs = attempt_records(ids[i]);
            assert_int_equal(json_object_array_length(recs), 2);
            json_object *r0 = json_object_array_get_idx(recs, 0);
            assert_int_equal(rec_ll(r0, "n"), 1);
            assert_non_null(strstr(rec_str(r0, "error"), "stopped during the attempt"));
            assert_non_null(strstr(rec_str(r0, "error"), wid));
            assert_int_equal(rec_ll(json_object_array_get_idx(recs, 1), "status"), 200);
                assert_int_equal(dfield_ll(ids[i], "recoveries"), 1);
        }
    }
    fprintf(stderr, "  crash: victim %ld held %zu; receiver duplicates %d; recovered %lld\n",
            (long)victim, nheld, dups, stat_ll("recovered"));
    assert_true(dups >= 1);
    assert_true((size_t)dups <= nheld);
    assert_int_equal(nh, (size_t)N + (size_t)dups);
    assert_true(stat_ll("recovered") > 0);
    assert_int_equal(stat_ll("recovered"), (long long)nheld);
    /* attempts count where they start: the lost ones too, as in the hashes */
    long long sum = 0;
    for (size_t i = 0; i < nd; i++)
        sum += dfield_ll(ids[i], "attempts");
    assert_int_equal(sum, N + (long long)nheld);
    assert_int_equal(stat_ll("attempts"), sum);
    assert_int_equal(stat_ll("failed"), 0);

    /* the dead child's traces are gone; the master respawned its slot */
    assert_int_equal(cmd_ll("EXISTS %squeue:inflight:%s", C.cfg.redis_prefix, wid), 0);
    assert_int_equal(cmd_ll("EXISTS %sworker:%s", C.cfg.redis_prefix, wid), 0);
    redisReply *z = cluster_cmd(&C, "ZSCORE %sworkers %s", C.cfg.redis_prefix, wid);
    assert_int_equal(z->type, REDIS_REPLY_NIL);
    freeReplyObject(z);
    char line[128];
    snprintf(line, sizeof(line), "worker %ld killed by signal 9", (long)victim);
    assert_int_equal(log_count(C.work_log[0], line), 1);
    pid_t after[MAXKIDS];
    assert_int_equal(wait_children(master, 2, after, 5000), 0);
    assert_false(pid_in(victim, after, 2));
    assert_true(!pid_in(after[0], before, 2) || !pid_in(after[1], before, 2));
    assert_int_equal(wait_workers_are_children(master, 2, 5000), 0);
    assert_int_equal(cmd_ll("LLEN %squeue:ready", C.cfg.redis_prefix), 0);
    assert_int_equal(cmd_ll("SCARD %sendpoint:%s:inflight", C.cfg.redis_prefix, ep), 0);

    C_ok = 1;
}

/* ---- 2. graceful stop under load ----------------------------------------------- */

/* After a worker master stopped: no in-flight list, no worker entry, no
 * delivery in flight; each unfinished delivery is pending and listed exactly
 * once in ready or in its endpoint's waiting list. Returns how many. */
static size_t check_handed_back(const char *ep, char **ids, size_t nd)
{
    assert_int_equal(inflight_keys(), 0);
    assert_int_equal(cmd_ll("ZCARD %sworkers", C.cfg.redis_prefix), 0);
    assert_int_equal(cmd_ll("SCARD %sendpoint:%s:inflight", C.cfg.redis_prefix, ep), 0);
    size_t pending = 0;
    char waiting[128];
    snprintf(waiting, sizeof(waiting), "endpoint:%s:waiting", ep);
    for (size_t i = 0; i < nd; i++) {
        char *st = harness_keep(dfield(ids[i], "state"));
        if (strcmp(st, "pending") == 0) {
            pending++;
            assert_int_equal(in_list("queue:ready", ids[i]) + in_list(waiting, ids[i]), 1);
        } else if (strcmp(st, "delivered") != 0) {
            fprintf(stderr, "delivery %s is %s after the stop\n", ids[i], st);
            fail();
        }
    }
    long long listed = cmd_ll("LLEN %squeue:ready", C.cfg.redis_prefix) +
                       cmd_ll("LLEN %sendpoint:%s:waiting", C.cfg.redis_prefix, ep);
    assert_int_equal(listed, (long long)pending);
    return pending;
}

static void test_graceful_stop(void **state)
{
    (void)state;
    static const char *const ov[] = { "worker.shutdown_grace: 3s", NULL };
    const int N = 400;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    pid_t master = C.work[0];
    struct rx_behavior steady = { .delay_ms = 50 };
    rx_set(C.rx, "/steady", &steady);
    assert_int_equal(cluster_endpoint(&C, "acct_stop", "/steady", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 10000), 0);

    publish_n("stop", N, 1);
    assert_int_equal(rx_wait(C.rx, "/steady", 80, 10000), 0);
    long long t0 = harness_mono_ms();
    assert_int_equal(kill(master, SIGTERM), 0);
    int status = 0;
    assert_int_equal(proc_wait(master, 3000 + 2000, &status), 0);
    long long took = harness_mono_ms() - t0;
    C.work[0] = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(log_count(C.work_log[0], "exited with code 0"), 2);
    assert_int_equal(log_count(C.work_log[0], "killed by signal"), 0);

    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, N);
    long long delivered = stat_ll("delivered");
    size_t pending = check_handed_back(ep, ids, nd);
    fprintf(stderr, "  graceful stop: master exited 0 in %lld ms; %lld delivered, %zu handed back\n",
            took, delivered, pending);
    assert_true(delivered > 0);
    assert_true(pending > 0); /* the stop really came mid-load */
    assert_int_equal((long long)pending + delivered, N);

    /* a new master delivers the rest; nothing was cut off, so nothing twice */
    assert_true(cluster_add_worker(&C) > 0);
    wait_stat_eq("delivered", N, 20000);
    for (size_t i = 0; i < nd; i++) {
        assert_dfield(ids[i], "state", "delivered");
        assert_int_equal(dfield_ll(ids[i], "attempts"), 1);
    }
    struct hit *h;
    size_t nh = hits_get("/steady", &h);
    assert_int_equal(nh, (size_t)N);
    for (size_t i = 0; i < nd; i++) {
        size_t first;
        assert_int_equal(hits_of(h, nh, ids[i], &first), 1);
        assert_int_equal(h[first].status, 200);
    }
    assert_int_equal(stat_ll("recovered"), 0);
    assert_int_equal(stat_ll("attempts"), N);
    C_ok = 1;
}

/* ---- 3. the shutdown grace runs out ---------------------------------------------- */

static void test_grace_expiry(void **state)
{
    (void)state;
    static const char *const ov[] = { "worker.shutdown_grace: 1s", "http.timeout: 30s",
                                      "endpoint.adaptive_in_flight: false", NULL };
    const int N = 6;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    pid_t master = C.work[0];
    struct rx_behavior hang = { .hang = 1 };
    rx_set(C.rx, "/hang", &hang);
    assert_int_equal(cluster_endpoint(&C, "acct_grace", "/hang", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 10000), 0);
    publish_n("grace", N, 1);
    assert_int_equal(rx_wait(C.rx, "/hang", N, 5000), 0);

    long long t0 = harness_mono_ms();
    assert_int_equal(kill(master, SIGTERM), 0);
    int status = 0;
    assert_int_equal(proc_wait(master, 1000 + 2000, &status), 0);
    long long took = harness_mono_ms() - t0;
    C.work[0] = 0;
    fprintf(stderr, "  grace expiry: master exited in %lld ms (grace 1000 ms)\n", took);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(took >= 900);   /* the children did wait for the answers */
    assert_true(took <= 2500);  /* … no longer than the grace */
    assert_true(log_count(C.work_log[0], "shutdown grace over") >= 1);

    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, N);
    assert_int_equal(check_handed_back(ep, ids, nd), (size_t)N);
    for (size_t i = 0; i < nd; i++) {
        assert_dfield(ids[i], "state", "pending");
        assert_int_equal(in_list("queue:ready", ids[i]), 1);
        assert_int_equal(dfield_ll(ids[i], "attempts"), 1);
        json_object *recs = attempt_records(ids[i]);
        assert_int_equal(json_object_array_length(recs), 1);
        json_object *r0 = json_object_array_get_idx(recs, 0);
        assert_int_equal(rec_ll(r0, "n"), 1);
        assert_string_equal(rec_str(r0, "error"), "worker stopped before the answer came; requeued");
    }
    assert_int_equal(stat_ll("delivered"), 0);

    /* the receiver answers again; a new master delivers them */
    rx_set(C.rx, "/hang", NULL);
    assert_true(cluster_add_worker(&C) > 0);
    wait_stat_eq("delivered", N, 10000);
    struct hit *h;
    size_t nh = hits_get("/hang", &h);
    assert_int_equal(nh, (size_t)(2 * N));
    for (size_t i = 0; i < nd; i++) {
        size_t first;
        assert_dfield(ids[i], "state", "delivered");
        assert_int_equal(dfield_ll(ids[i], "attempts"), 2);
        assert_int_equal(hits_of(h, nh, ids[i], &first), 2);
        assert_int_equal(h[first].attempt, 1);
        assert_int_equal(h[first].status, 0);
        assert_int_equal(h[first + 1].attempt, 2);
        assert_int_equal(h[first + 1].status, 200);
        json_object *recs = attempt_records(ids[i]);
        assert_int_equal(json_object_array_length(recs), 2);
        assert_int_equal(rec_ll(json_object_array_get_idx(recs, 1), "n"), 2);
        assert_int_equal(rec_ll(json_object_array_get_idx(recs, 1), "status"), 200);
    }
    assert_int_equal(stat_ll("recovered"), 0);
    C_ok = 1;
}

/* ---- 4. two schedulers, three worker masters ---------------------------------------- */

/* "scheduler stopped: N promoted" from a scheduler's log; -1 if absent. */
static long long promoted_in(const char *log)
{
    char *s = read_file(log, NULL);
    const char *p = s ? strstr(s, "scheduler stopped: ") : NULL;
    long long v = p ? strtoll(p + strlen("scheduler stopped: "), NULL, 10) : -1;
    free(s);
    return v;
}

static void test_many_processes(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "retry.schedule: 100ms, 200ms, 300ms, 400ms, 500ms",
        "endpoint.disable_after_failures: 100000",
        NULL,
    };
    const int N = 1000, FAIL_A = 150, FAIL_B = 100;
    char epa[PSW_ID_SIZE], epb[PSW_ID_SIZE];

    start_cluster(ov, 2, 3);
    struct rx_behavior a = { .fail_first = FAIL_A, .fail_status = 500 };
    struct rx_behavior b = { .fail_first = FAIL_B, .fail_status = 503 };
    rx_set(C.rx, "/a", &a);
    rx_set(C.rx, "/b", &b);
    assert_int_equal(cluster_endpoint(&C, "acct_many", "/a", NULL, NULL, NULL, epa, NULL, 0), 0);
    assert_int_equal(cluster_endpoint(&C, "acct_many", "/b", NULL, NULL, NULL, epb, NULL, 0), 0);
    for (int i = 0; i < 3; i++) {
        pid_t kids[MAXKIDS];
        assert_int_equal(wait_children(C.work[i], 2, kids, 10000), 0);
    }

    long long t0 = harness_mono_ms();
    publish_n("many", N, 2);
    wait_stat_eq("delivered", 2 * N, 60000);
    long long took = harness_mono_ms() - t0;
    harness_nap(300); /* anything late would show now */

    /* stop the schedulers to read how many retries each promoted */
    long long promoted[2];
    for (int i = 0; i < 2; i++) {
        int st = proc_stop(C.sched[i], SIGTERM, 5000);
        C.sched[i] = 0;
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        promoted[i] = promoted_in(C.sched_log[i]);
    }
    fprintf(stderr, "  many: %d deliveries in %lld ms; promoted %lld + %lld\n", 2 * N, took,
            promoted[0], promoted[1]);

    /* the counters add up */
    assert_int_equal(stat_ll("events_published"), N);
    assert_int_equal(stat_ll("deliveries_created"), 2 * N);
    assert_int_equal(stat_ll("deliveries_created"),
                     stat_ll("delivered") + stat_ll("failed") + stat_ll("skipped"));
    assert_int_equal(stat_ll("delivered"), 2 * N);
    assert_int_equal(stat_ll("failed"), 0);
    assert_int_equal(stat_ll("skipped"), 0);
    assert_int_equal(stat_ll("failed_attempts"), FAIL_A + FAIL_B);
    assert_int_equal(stat_ll("retries_scheduled"), FAIL_A + FAIL_B);
    assert_int_equal(stat_ll("attempts"), 2 * N + FAIL_A + FAIL_B);
    assert_int_equal(stat_ll("recovered"), 0);
    /* every retry was promoted once, and both schedulers took part */
    assert_int_equal(promoted[0] + promoted[1], FAIL_A + FAIL_B);
    assert_true(promoted[0] > 0);
    assert_true(promoted[1] > 0);

    /* per delivery: its exact final state, agreeing with the receiver */
    const char *eps[2] = { epa, epb };
    const char *paths[2] = { "/a", "/b" };
    const int fails[2] = { FAIL_A, FAIL_B };
    const int fstat[2] = { 500, 503 };
    for (int e = 0; e < 2; e++) {
        size_t nd;
        char **ids = deliveries_get(eps[e], &nd);
        assert_int_equal(nd, (size_t)N);
        struct hit *h;
        size_t nh = hits_get(paths[e], &h);
        assert_int_equal(nh, (size_t)(N + fails[e]));
        size_t failed_answers = 0;
        for (size_t j = 0; j < nh; j++) {
            assert_true(h[j].status == 200 || h[j].status == fstat[e]);
            failed_answers += h[j].status == fstat[e];
            /* no request twice: (delivery, attempt) is unique */
            if (j > 0 && strcmp(h[j].dlv, h[j - 1].dlv) == 0)
                assert_int_equal(h[j].attempt, h[j - 1].attempt + 1);
        }
        assert_int_equal(failed_answers, (size_t)fails[e]);
        char *evt_seen = harness_keep(calloc((size_t)N, 1));
        for (size_t i = 0; i < nd; i++) {
            size_t first, k = hits_of(h, nh, ids[i], &first);
            assert_dfield(ids[i], "state", "delivered");
            assert_int_equal(dfield_ll(ids[i], "attempts"), (long long)k);
            assert_int_equal(dfield_ll(ids[i], "last_status"), 200);
            assert_true(k >= 1);
            assert_int_equal(h[first].attempt, 1);
            for (size_t j = first; j + 1 < first + k; j++)
                assert_int_equal(h[j].status, fstat[e]);
            assert_int_equal(h[first + k - 1].status, 200);
            char *evt = harness_keep(dfield(ids[i], "event_id"));
            assert_string_equal(h[first].evt, evt);
            const char *num = strrchr(evt, '_');
            long idx = num ? strtol(num + 1, NULL, 10) : -1;
            assert_true(idx >= 0 && idx < N);
            assert_int_equal(evt_seen[idx], 0); /* one delivery per event and endpoint */
            evt_seen[idx] = 1;
        }
    }
    assert_int_equal(cmd_ll("LLEN %squeue:ready", C.cfg.redis_prefix), 0);
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", C.cfg.redis_prefix), 0);
    assert_int_equal(cmd_ll("ZCARD %squeue:failed", C.cfg.redis_prefix), 0);
    assert_int_equal(cmd_ll("ZCARD %sworkers", C.cfg.redis_prefix), 6);
    C_ok = 1;
}

/* ---- 5. a job that kills every worker holding it ------------------------------------- */

static void test_poison_job(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "scheduler.max_recoveries: 2", "http.timeout: 30s", "worker.shutdown_grace: 1s", NULL,
    };
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    pid_t master = C.work[0];
    struct rx_behavior hang = { .hang = 1 };
    rx_set(C.rx, "/poison", &hang);
    assert_int_equal(cluster_endpoint(&C, "acct_poison", "/poison", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 10000), 0);
    publish_n("poison", 1, 1);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, 1);
    const char *dlv = ids[0];

    /* kill whoever holds it, each time it is claimed again */
    for (int k = 1; k <= 3; k++) {
        assert_int_equal(rx_wait(C.rx, "/poison", (size_t)k, 10000), 0);
        assert_int_equal(rx_count(C.rx, "/poison"), (size_t)k);
        assert_dfield(dlv, "state", "in_flight");
        assert_int_equal(dfield_ll(dlv, "attempts"), k);
        char *wid = harness_keep(dfield(dlv, "worker"));
        char key[300];
        snprintf(key, sizeof(key), "worker:%s", wid);
        pid_t holder = (pid_t)cluster_hget_ll(&C, key, "pid", -1);
        kill_child(master, holder);
    }
    char dkey[128];
    snprintf(dkey, sizeof(dkey), "delivery:%s", dlv);
    assert_int_equal(cluster_wait_field(&C, dkey, "state", "failed", 10000), 0);
    assert_dfield(dlv, "failed_reason", "crashed");
    assert_int_equal(dfield_ll(dlv, "attempts"), 3);
    assert_int_equal(dfield_ll(dlv, "recoveries"), 3);
    redisReply *z = cluster_cmd(&C, "ZSCORE %squeue:failed %s", C.cfg.redis_prefix, dlv);
    assert_int_equal(z->type, REDIS_REPLY_STRING);
    freeReplyObject(z);
    json_object *recs = attempt_records(dlv);
    assert_int_equal(json_object_array_length(recs), 3);
    for (int i = 0; i < 3; i++) {
        json_object *r = json_object_array_get_idx(recs, (size_t)i);
        assert_int_equal(rec_ll(r, "n"), i + 1);
        assert_non_null(strstr(rec_str(r, "error"), "stopped during the attempt"));
    }
    assert_int_equal(stat_ll("failed"), 1);
    assert_int_equal(stat_ll("recovered"), 2);
    char sk[128];
    snprintf(sk, sizeof(sk), "endpoint:%s:stats", ep);
    assert_int_equal(cluster_hget_ll(&C, sk, "failed", 0), 1);
    assert_int_equal(log_count(C.work_log[0], "killed by signal 9"), 3);

    /* it stays failed: no further request, not queued anywhere */
    harness_nap(1500);
    assert_int_equal(rx_count(C.rx, "/poison"), 3);
    assert_dfield(dlv, "state", "failed");
    assert_int_equal(in_list("queue:ready", dlv), 0);
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", C.cfg.redis_prefix), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 5000), 0);
    fprintf(stderr, "  poison: failed as crashed after 3 attempts, 3 kills\n");
    C_ok = 1;
}

/* ---- 6. SIGHUP reload ------------------------------------------------------------------ */

/* Replaces the first line starting with key in the config file by line. */
static void config_set(const char *key, const char *line)
{
    size_t len;
    char *s = harness_keep(read_file(C.config_path, &len));
    char *at = strstr(s, key);
    assert_non_null(at);
    assert_true(at == s || at[-1] == '\n');
    char *eol = strchr(at, '\n');
    assert_non_null(eol);
    size_t outn = len + strlen(line) + 2;
    char *out = harness_keep(malloc(outn));
    snprintf(out, outn, "%.*s%s%s", (int)(at - s), s, line, eol);
    assert_int_equal(write_file(C.config_path, out), 0);
}

static void test_sighup_reload(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE];

    start_cluster(NULL, 1, 1);
    pid_t master = C.work[0];
    assert_int_equal(cluster_endpoint(&C, "acct_hup", "/hup", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 10000), 0);
    pid_t old[MAXKIDS];
    assert_int_equal(proc_children(master, old, MAXKIDS), 2);
    char oldwid[2][256];
    for (int i = 0; i < 2; i++) {
        wid_of(old[i], oldwid[i], sizeof(oldwid[i]));
        assert_true(oldwid[i][0]);
    }

    /* reload under load: the old generation finishes what it holds */
    const int N = 120;
    struct rx_behavior slowish = { .delay_ms = 100 };
    rx_set(C.rx, "/hup", &slowish);
    publish_n("hup", N, 1);
    assert_int_equal(rx_wait(C.rx, "/hup", 20, 5000), 0);
    config_set("worker.processes:", "worker.processes: 3");
    assert_int_equal(kill(master, SIGHUP), 0);
    assert_int_equal(wait_workers_are_children(master, 3, 5000), 0);
    pid_t now[MAXKIDS];
    assert_int_equal(proc_children(master, now, MAXKIDS), 3);
    for (int i = 0; i < 3; i++)
        assert_false(pid_in(now[i], old, 2)); /* a new generation */
    for (int i = 0; i < 2; i++) {
        char line[128];
        snprintf(line, sizeof(line), "retired worker %ld exited with code 0", (long)old[i]);
        assert_int_equal(wait_log(C.work_log[0], line, 1, 5000), 0);
        assert_int_equal(cmd_ll("EXISTS %squeue:inflight:%s", C.cfg.redis_prefix, oldwid[i]), 0);
        assert_int_equal(cmd_ll("EXISTS %sworker:%s", C.cfg.redis_prefix, oldwid[i]), 0);
    }
    assert_int_equal(log_count(C.work_log[0], "killed by signal"), 0);
    wait_stat_eq("delivered", N, 15000);
    struct hit *h;
    size_t nh = hits_get("/hup", &h);
    assert_int_equal(nh, (size_t)N); /* retiring lost nothing and sent nothing twice */
    for (size_t i = 1; i < nh; i++)
        assert_string_not_equal(h[i].dlv, h[i - 1].dlv);
    assert_int_equal(stat_ll("recovered"), 0);
    assert_int_equal(stat_ll("attempts"), N);

    /* an invalid config is refused; the running generation stays */
    config_set("worker.processes:", "worker.processes: many");
    assert_int_equal(kill(master, SIGHUP), 0);
    assert_int_equal(wait_log(C.work_log[0], "reload refused", 1, 5000), 0);
    harness_nap(300);
    pid_t still[MAXKIDS];
    assert_int_equal(proc_children(master, still, MAXKIDS), 3);
    for (int i = 0; i < 3; i++)
        assert_true(pid_in(still[i], now, 3));
    assert_int_equal(wait_workers_are_children(master, 3, 2000), 0);

    char evt[PSW_EVENT_ID_MAX + 1];
    int nd = 0;
    char *json = harness_keep(event_json("hup", N));
    assert_int_equal(cluster_publish(&C, json, evt, sizeof(evt), &nd), PSW_OK);
    assert_int_equal(nd, 1);
    wait_stat_eq("delivered", N + 1, 5000);
    assert_int_equal(rx_count(C.rx, "/hup"), (size_t)N + 1);
    assert_int_equal(kill(master, 0), 0);
    C_ok = 1;
}

/* ---- 7. the only scheduler is killed while retries wait ---------------------------------- */

static void test_scheduler_restart(void **state)
{
    (void)state;
    static const char *const ov[] = { "retry.schedule: 1500ms, 100ms", NULL };
    const int N = 10;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    struct rx_behavior flaky = { .fail_first = N, .fail_status = 500 };
    rx_set(C.rx, "/retry", &flaky);
    assert_int_equal(cluster_endpoint(&C, "acct_sched", "/retry", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(C.work[0], 2, 10000), 0);
    publish_n("sched", N, 1);
    wait_stat_eq("retries_scheduled", N, 5000);
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", C.cfg.redis_prefix), N);

    /* kill -9 the scheduler */
    assert_int_equal(kill(C.sched[0], SIGKILL), 0);
    int st = 0;
    assert_int_equal(proc_wait(C.sched[0], 5000, &st), 0);
    C.sched[0] = 0;
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* without a scheduler the due retries wait */
    redisReply *r = cluster_cmd(&C, "ZRANGE %squeue:scheduled -1 -1 WITHSCORES", C.cfg.redis_prefix);
    assert_int_equal(r->elements, 2);
    long long last_due = strtoll(r->element[1]->str, NULL, 10);
    freeReplyObject(r);
    r = cluster_cmd(&C, "TIME");
    long long now = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                    strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    if (last_due + 300 > now)
        harness_nap((int)(last_due + 300 - now));
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", C.cfg.redis_prefix), N);
    assert_int_equal(rx_count(C.rx, "/retry"), (size_t)N);

    /* a new scheduler promotes them */
    long long restart_at = psw_now_ms();
    assert_true(cluster_add_scheduler(&C) > 0);
    wait_stat_eq("delivered", N, 10000);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, (size_t)N);
    struct hit *h;
    size_t nh = hits_get("/retry", &h);
    assert_int_equal(nh, (size_t)(2 * N));
    for (size_t i = 0; i < nd; i++) {
        size_t first;
        assert_dfield(ids[i], "state", "delivered");
        assert_int_equal(dfield_ll(ids[i], "attempts"), 2);
        assert_int_equal(hits_of(h, nh, ids[i], &first), 2);
        assert_int_equal(h[first].status, 500);
        assert_int_equal(h[first + 1].attempt, 2);
        assert_int_equal(h[first + 1].status, 200);
        assert_true(h[first + 1].at_ms >= restart_at); /* only the new scheduler moved it */
    }
    assert_int_equal(cmd_ll("ZCARD %squeue:scheduled", C.cfg.redis_prefix), 0);
    C_ok = 1;
}

/* ---- 8. a frozen child: its work is recovered, its late answer still counts ------------ */

static void test_frozen_child(void **state)
{
    (void)state;
    static const char *const ov[] = { "http.timeout: 15s", NULL };
    const int N = 6;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    pid_t master = C.work[0];
    struct rx_behavior slow = { .delay_ms = 1500 };
    rx_set(C.rx, "/frozen", &slow);
    assert_int_equal(cluster_endpoint(&C, "acct_frozen", "/frozen", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 2, 10000), 0);
    pid_t kids[MAXKIDS];
    assert_int_equal(proc_children(master, kids, MAXKIDS), 2);

    publish_n("frozen", N, 1);
    assert_int_equal(rx_wait(C.rx, "/frozen", (size_t)N, 5000), 0);
    pid_t victim = 0;
    char wid[256] = "";
    long long held = 0;
    for (int i = 0; i < 2; i++) {
        char w[256];
        wid_of(kids[i], w, sizeof(w));
        long long len = cmd_ll("LLEN %squeue:inflight:%s", C.cfg.redis_prefix, w);
        if (len > held) {
            held = len;
            victim = kids[i];
            snprintf(wid, sizeof(wid), "%s", w);
        }
    }
    assert_true(held > 0);

    /* freeze it: the scheduler takes its work back, the other child resends */
    assert_true(is_child_of(victim, master));
    C_frozen = victim;
    assert_int_equal(kill(victim, SIGSTOP), 0);
    wait_stat_eq("recovered", held, 6000);
    /* and its list stays gone: a BLMOVE it parked before freezing must not
     * outlive the heartbeat timeout and move handed-back work into a list
     * nobody recovers (it did, with a fixed 1 s park: worker/child.c) */
    harness_nap(300);
    assert_int_equal(cmd_ll("EXISTS %squeue:inflight:%s", C.cfg.redis_prefix, wid), 0);
    assert_int_equal(rx_wait(C.rx, "/frozen", (size_t)(N + held), 5000), 0);

    /* it wakes up: the answers it was waiting for are recorded too, and a
     * delivery is counted delivered once */
    assert_int_equal(kill(victim, SIGCONT), 0);
    C_frozen = 0;
    wait_stat_eq("delivered", N, 10000);
    /* attempts are counted when they start; wait for every answer's record
     * (N + held) and the lost-worker notes (held) */
    long long until = harness_mono_ms() + 10000, recs_n = 0;
    do {
        size_t n_ids;
        char **all = deliveries_get(ep, &n_ids);
        recs_n = 0;
        for (size_t i = 0; i < n_ids; i++)
            recs_n += cmd_ll("LLEN %sdelivery:%s:attempts", C.cfg.redis_prefix, all[i]);
        if (recs_n < N + 2 * held)
            harness_nap(50);
    } while (recs_n < N + 2 * held && harness_mono_ms() < until);
    assert_int_equal(recs_n, N + 2 * held);
    harness_nap(300);
    assert_int_equal(stat_ll("delivered"), N);
    assert_int_equal(stat_ll("attempts"), N + held);
    assert_int_equal(stat_ll("failed"), 0);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, (size_t)N);
    struct hit *h;
    size_t nh = hits_get("/frozen", &h);
    assert_int_equal(nh, (size_t)(N + held));
    long long twice = 0;
    for (size_t i = 0; i < nd; i++) {
        size_t first, k = hits_of(h, nh, ids[i], &first);
        assert_dfield(ids[i], "state", "delivered");
        assert_int_equal(dfield_ll(ids[i], "attempts"), (long long)k);
        for (size_t j = first; j < first + k; j++)
            assert_int_equal(h[j].status, 200);
        if (k == 2) {
            twice++;
            /* the lost-worker note, then both answers */
            json_object *recs = attempt_records(ids[i]);
            assert_int_equal(json_object_array_length(recs), 3);
            assert_non_null(strstr(rec_str(json_object_array_get_idx(recs, 0), "error"),
                                   "stopped during the attempt"));
        } else {
            assert_int_equal(k, 1);
        }
    }
    assert_int_equal(twice, held);
    /* the woken child is a worker again, holding nothing; nothing is stuck */
    assert_true(is_child_of(victim, master));
    assert_int_equal(wait_workers_are_children(master, 2, 3000), 0);
    assert_int_equal(cmd_ll("LLEN %squeue:inflight:%s", C.cfg.redis_prefix, wid), 0);
    assert_int_equal(cmd_ll("SCARD %sendpoint:%s:inflight", C.cfg.redis_prefix, ep), 0);
    assert_int_equal(cmd_ll("LLEN %squeue:ready", C.cfg.redis_prefix), 0);
    assert_int_equal(log_count(C.work_log[0], "killed by signal"), 0);
    fprintf(stderr, "  frozen: victim held %lld; all %lld re-sent and answered twice\n", held, twice);
    C_ok = 1;
}

/* ---- 9. a frozen idle child whose parked BLMOVE took new work ------------------------- */

/* Connections blocked in BLMOVE right now (CLIENT LIST flags=b). */
static int blocked_blmoves(void)
{
    redisReply *r = cluster_cmd(&C, "CLIENT LIST");
    int n = 0;
    for (const char *p = r->type == REDIS_REPLY_STRING ? r->str : NULL; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        if (strstr(line, " cmd=blmove") && strstr(line, " flags=b "))
            n++;
        p = eol ? eol + 1 : NULL;
    }
    freeReplyObject(r);
    return n;
}

static void test_frozen_idle_child(void **state)
{
    (void)state;
    static const char *const ov[] = {
        "worker.processes: 1", "http.timeout: 5s", "retry.schedule: 100ms, 100ms", NULL,
    };
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    pid_t master = C.work[0];
    struct rx_behavior flaky = { .fail_first = 1, .fail_status = 500 };
    rx_set(C.rx, "/late", &flaky);
    assert_int_equal(cluster_endpoint(&C, "acct_idle", "/late", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 1, 10000), 0);
    pid_t victim;
    assert_int_equal(proc_children(master, &victim, 1), 1);
    char wid[256];
    wid_of(victim, wid, sizeof(wid));
    assert_true(wid[0]);

    /* Freeze the idle child while its BLMOVE is parked, then publish: the
     * BLMOVE moves the delivery into the frozen child's in-flight list. The
     * BLMOVE may time out right at the freeze; then thaw and try again. */
    char evt[PSW_EVENT_ID_MAX + 1], dlv[PSW_ID_SIZE] = "";
    int tries;
    for (tries = 0; tries < 5 && !dlv[0]; tries++) {
        long long until = harness_mono_ms() + 3000;
        while (blocked_blmoves() != 1 && harness_mono_ms() < until)
            harness_nap(5);
        assert_int_equal(blocked_blmoves(), 1);
        assert_true(is_child_of(victim, master));
        C_frozen = victim;
        assert_int_equal(kill(victim, SIGSTOP), 0);
        int nd = 0;
        char *json = harness_keep(event_json("idle", tries));
        assert_int_equal(cluster_publish(&C, json, evt, sizeof(evt), &nd), PSW_OK);
        assert_int_equal(nd, 1);
        redisReply *r = cluster_cmd(&C, "LRANGE %squeue:inflight:%s 0 -1", C.cfg.redis_prefix, wid);
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
            snprintf(dlv, sizeof(dlv), "%s", r->element[0]->str);
        freeReplyObject(r);
        if (!dlv[0]) { /* missed: let it deliver this one, then again */
            kill(victim, SIGCONT);
            C_frozen = 0;
            assert_int_equal(cluster_wait_stat(&C, "delivered", tries + 1, 5000), 0);
        }
    }
    assert_true(dlv[0]);
    fprintf(stderr, "  frozen idle child: BLMOVE took %s while frozen (try %d)\n", dlv, tries);
    assert_dfield(dlv, "state", "pending");

    /* the scheduler hands it back to ready … */
    char key[320];
    snprintf(key, sizeof(key), "queue:inflight:%s", wid);
    long long until = harness_mono_ms() + 6000;
    while ((cmd_ll("EXISTS %s%s", C.cfg.redis_prefix, key) != 0 || !in_list("queue:ready", dlv)) &&
           harness_mono_ms() < until)
        harness_nap(10);
    assert_int_equal(cmd_ll("EXISTS %s%s", C.cfg.redis_prefix, key), 0);
    assert_int_equal(in_list("queue:ready", dlv), 1);

    /* … and the child wakes up to the BLMOVE answer naming a delivery that
     * is no longer its own. Whoever takes it, it must go the normal way: the
     * first attempt fails (500), a retry is scheduled, the retry delivers. */
    assert_int_equal(kill(victim, SIGCONT), 0);
    C_frozen = 0;
    snprintf(key, sizeof(key), "delivery:%s", dlv);
    assert_int_equal(cluster_wait_field(&C, key, "state", "delivered", 6000), 0);
    assert_int_equal(dfield_ll(dlv, "attempts"), 2);
    struct hit *h;
    size_t nh = hits_get("/late", &h), first;
    assert_int_equal(hits_of(h, nh, dlv, &first), 2);
    assert_int_equal(h[first].status, 500);
    assert_int_equal(h[first + 1].status, 200);
    assert_int_equal(cmd_ll("SCARD %sendpoint:%s:inflight", C.cfg.redis_prefix, ep), 0);
    assert_int_equal(cmd_ll("LLEN %squeue:ready", C.cfg.redis_prefix), 0);
    C_ok = 1;
}

/* An in-flight list whose worker has no heartbeat entry (written by a
 * stalled worker after it was recovered) is found by the scheduler's scan
 * and handed back; the delivery then goes out normally. */
static void test_orphan_inflight_list(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], evt[160], ghost[PSW_KEY_SIZE], ready[PSW_KEY_SIZE];
    int n = 0;
    start_cluster(NULL, 1, 0);
    assert_int_equal(cluster_endpoint(&C, "acct_o", "/orphan", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(cluster_publish(&C, "{\"type\":\"email.sent\",\"account_id\":\"acct_o\","
                                         "\"domain\":\"mail.example.com\",\"data\":{"
                                         "\"message_id\":\"<o@x>\",\"to\":\"a@b.c\"}}",
                                     evt, sizeof(evt), &n),
                     PSW_OK);
    assert_int_equal(n, 1);

    snprintf(ghost, sizeof(ghost), "%squeue:inflight:ghost:1:abcdef", C.cfg.redis_prefix);
    snprintf(ready, sizeof(ready), "%squeue:ready", C.cfg.redis_prefix);
    redisReply *r = cluster_cmd(&C, "LMOVE %s %s RIGHT LEFT", ready, ghost);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char *did = harness_keep(strdup(r->str));
    freeReplyObject(r);

    /* the scheduler hands it back: the list disappears, the id is in ready */
    long long until = harness_mono_ms() + 8000;
    long long exists = 1;
    while (harness_mono_ms() < until) {
        r = cluster_cmd(&C, "EXISTS %s", ghost);
        exists = r->integer;
        freeReplyObject(r);
        if (!exists)
            break;
        harness_nap(50);
    }
    assert_int_equal(exists, 0);
    r = cluster_cmd(&C, "LPOS %s %s", ready, did);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);

    /* and a worker delivers it */
    assert_true(cluster_add_worker(&C) > 0);
    char key[PSW_KEY_SIZE];
    snprintf(key, sizeof(key), "delivery:%s", did);
    assert_int_equal(cluster_wait_field(&C, key, "state", "delivered", 8000), 0);
    assert_int_equal(rx_count(C.rx, "/orphan"), 1);
    C_ok = 1;
}

/* ---- kill: the master hands the dead child's work back at once ------------------- */

/* A child killed while it holds every slot of an endpoint: its master sees
 * it die and hands its in-flight list back at once, so the endpoint gets its
 * deliveries again long before scheduler.worker_timeout (60 s here, far
 * beyond this test's waits: only the master can have done it). psw:stats
 * attempts counts the attempts the kill cut off, as the delivery hashes do. */
static void test_kill_hands_back_at_once(void **state)
{
    (void)state;
    static const char *const ov[] = { "scheduler.worker_timeout: 60s", "worker.processes: 1",
                                      "endpoint.max_in_flight: 4", "http.timeout: 30s", NULL };
    const int N = 8;
    char ep[PSW_ID_SIZE];

    start_cluster(ov, 1, 1);
    pid_t master = C.work[0];
    struct rx_behavior hang = { .hang = 1 };
    rx_set(C.rx, "/held", &hang);
    assert_int_equal(cluster_endpoint(&C, "acct_held", "/held", NULL, NULL, NULL, ep, NULL, 0), 0);
    assert_int_equal(wait_workers_are_children(master, 1, 10000), 0);
    pid_t kids[MAXKIDS];
    assert_int_equal(proc_children(master, kids, MAXKIDS), 1);

    publish_n("held", N, 1);
    assert_int_equal(rx_wait(C.rx, "/held", 4, 10000), 0); /* every slot taken */
    assert_int_equal(cmd_ll("SCARD %sendpoint:%s:inflight", C.cfg.redis_prefix, ep), 4);
    kill_child(master, kids[0]);
    rx_set(C.rx, "/held", NULL); /* answers 200 from now on */

    long long t0 = harness_mono_ms();
    wait_stat_eq("delivered", N, 15000);
    fprintf(stderr, "  kill: all delivered %lld ms after the kill (worker_timeout 60 s)\n",
            harness_mono_ms() - t0);
    assert_int_equal(log_count(C.work_log[0], "handed back the work of dead worker"), 1);
    assert_int_equal(stat_ll("recovered"), 4);
    size_t nd;
    char **ids = deliveries_get(ep, &nd);
    assert_int_equal(nd, N);
    long long sum = 0;
    for (size_t i = 0; i < nd; i++) {
        assert_dfield(ids[i], "state", "delivered");
        sum += dfield_ll(ids[i], "attempts");
    }
    assert_int_equal(sum, N + 4);
    assert_int_equal(stat_ll("attempts"), sum);
    assert_int_equal(cluster_hget_ll(&C, harness_fmt("endpoint:%s:stats", ep), "attempts", 0), sum);
    C_ok = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_child_crash, teardown),
        cmocka_unit_test_teardown(test_kill_hands_back_at_once, teardown),
        cmocka_unit_test_teardown(test_graceful_stop, teardown),
        cmocka_unit_test_teardown(test_grace_expiry, teardown),
        cmocka_unit_test_teardown(test_many_processes, teardown),
        cmocka_unit_test_teardown(test_poison_job, teardown),
        cmocka_unit_test_teardown(test_sighup_reload, teardown),
        cmocka_unit_test_teardown(test_scheduler_restart, teardown),
        cmocka_unit_test_teardown(test_frozen_child, teardown),
        cmocka_unit_test_teardown(test_frozen_idle_child, teardown),
        cmocka_unit_test_teardown(test_orphan_inflight_list, teardown),
    };
    const char *only = getenv("PSW_TEST_FILTER"); /* e.g. "test_frozen*" */
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
