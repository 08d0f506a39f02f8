/*
 * test_batching.c — the hot-path scripts do per call what used to be done
 * per event or per attempt (docs/performance.md): publish.lua takes several
 * events, complete.lua several attempts, claim.lua reads an endpoint once
 * per call. These tests hold them to what the unbatched scripts did.
 *
 * Equivalence: the same work is done twice against one throwaway Redis,
 * under two key prefixes: side A one call per event / per attempt, side B in
 * batched calls. Everything both sides stored is then dumped in a
 * normalized form (random ids replaced by stable names, Redis-clock times
 * left out) and must be identical. The one intended difference — deliveries
 * let back in from an endpoint's waiting list by several completions of one
 * call go to the front of ready oldest first, where one call per completion
 * put the newest first — is checked on its own.
 *
 * claim.lua's rules (cap, order, skip, expired event, old secret, adopted
 * ids) are checked against explicit expectations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "common/replies.h"
#include "tests/harness/harness.h"

#define NEP 4
#define NEVT 40
#define CLAIM_FIELDS 15 /* per claimed delivery in claim.lua's reply */
#define COMPLETE_LEAD 5 /* complete.lua's arguments before the 11 per attempt */

struct side {
    char prefix[16];
    struct psw_config cfg;
    struct psw_ctx ctx;
    char ep[NEP][PSW_ID_SIZE];
};

static struct redis_srv SRV;
static redisContext *RAW;
static struct side A, B;
static char err[1024];

/* ---- setup -------------------------------------------------------------------- */

static void side_open(struct side *s, const char *prefix)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
    assert_int_equal(psw_config_defaults(&s->cfg), 0);
    free(s->cfg.redis_url);
    free(s->cfg.redis_prefix);
    s->cfg.redis_url = strdup(SRV.url);
    s->cfg.redis_prefix = strdup(prefix);
    assert_int_equal(psw_ctx_open(&s->ctx, &s->cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)),
                     PSW_OK);
    /* ep0 account level, all events; ep1 one domain; ep2 one type; ep3 disabled */
    static const char *const domains[NEP] = { "", "d.example", "", "" };
    static const char *const events[NEP] = { "*", "*", "email.sent", "*" };
    for (int i = 0; i < NEP; i++) {
        struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
        struct psw_endpoint ep;
        char url[64];
        memset(&ep, 0, sizeof(ep));
        snprintf(url, sizeof(url), "https://e%d.example.com/hook", i);
        spec.account_id = "acct_t";
        spec.url = url;
        spec.domain = domains[i];
        spec.events = events[i];
        /* ids sort by creation time (ms): EP0 < EP1 < … on both sides, as
         * publish fans out in id order */
        struct timespec ts = { 0, 3 * 1000000L };
        nanosleep(&ts, NULL);
        if (psw_endpoint_create(&s->ctx, &spec, &ep, err, sizeof(err)) != PSW_OK)
            fail_msg("endpoint: %s", err);
        snprintf(s->ep[i], sizeof(s->ep[i]), "%s", ep.id);
        psw_endpoint_free(&ep);
    }
    assert_int_equal(psw_endpoint_disable(&s->ctx, s->ep[3], NULL, NULL, NULL, err, sizeof(err)),
                     PSW_OK);
}

static void side_close(struct side *s)
{
    psw_ctx_close(&s->ctx);
    psw_config_free(&s->cfg);
}

static int setup(void **state)
{
    (void)state;
    if (redis_srv_start(&SRV, NULL) != 0)
        return -1;
    RAW = redis_srv_connect(&SRV);
    if (!RAW)
        return -1;
    side_open(&A, "a:");
    side_open(&B, "b:");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    side_close(&A);
    side_close(&B);
    if (RAW)
        redisFree(RAW);
    redis_srv_stop(&SRV);
    return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(RAW, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long ll(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(RAW, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

static redisReply *eval(struct side *s, enum psw_script_id script, int argc, const char **argv)
{
    redisReply *r = psw_redis_eval(s->ctx.redis, script, argc, argv, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("script error: %s", r->str);
    return r;
}

/* The event JSON of test event i (a few invalid or repeated on purpose). */
static void event_json(int i, char *out, size_t n)
{
    static const char *const types[] = { "email.sent", "email.delivered", "email.opened",
                                         "email.queued" };
    int id = i == 20 ? 5 : i; /* event 20 repeats the id of event 5 */
    if (i == 13) {            /* invalid: no data.to */
        snprintf(out, n, "{\"id\":\"evt_t_%02d\",\"type\":\"email.sent\",\"account_id\":"
                         "\"acct_t\",\"domain\":\"d.example\",\"data\":{\"message_id\":\"<m>\"}}",
                 id);
        return;
    }
    snprintf(out, n,
             "{\"id\":\"evt_t_%02d\",\"type\":\"%s\",\"account_id\":\"acct_t\",\"domain\":\"%s\","
             "\"created_at\":\"2026-11-27T15:04:05.%03dZ\",\"data\":{\"message_id\":\"<m%d>\","
             "\"to\":\"a@example.org\"}}",
             id, types[i % 4], i % 3 ? "d.example" : "other.example", i, i);
}

static void publish_all(struct side *s, int one_by_one, struct psw_publish_result *res)
{
    static char bufs[NEVT][512];
    const char *jsons[NEVT];
    size_t lens[NEVT];
    for (int i = 0; i < NEVT; i++) {
        event_json(i, bufs[i], sizeof(bufs[i]));
        jsons[i] = bufs[i];
        lens[i] = strlen(bufs[i]);
    }
    if (one_by_one)
        for (int i = 0; i < NEVT; i++)
            psw_publish(&s->ctx, jsons[i], lens[i], &res[i]);
    else
        psw_publish_many(&s->ctx, NEVT, jsons, lens, res);
}

/* ---- normalized dump -------------------------------------------------------------- */

struct lines {
    char **v;
    size_t n, cap;
};

static void add(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct lines *l, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    l->v[l->n++] = strdup(buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A stable name for an id of side s: EPi, D(event,EPi), or the id itself. */
static void name_of(struct side *s, const char *id, char *out, size_t n)
{
    for (int i = 0; i < NEP; i++)
        if (strcmp(id, s->ep[i]) == 0) {
            snprintf(out, n, "EP%d", i);
            return;
        }
    if (strncmp(id, "dlv_", 4) == 0) {
        redisReply *r = cmd("HMGET %sdelivery:%s event_id endpoint_id", s->prefix, id);
        char ep[32] = "?";
        if (r->element[1]->type == REDIS_REPLY_STRING)
            name_of(s, r->element[1]->str, ep, sizeof(ep));
        snprintf(out, n, "D(%s,%s)", r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "?",
                 ep);
        freeReplyObject(r);
        return;
    }
    snprintf(out, n, "%s", id);
}

/* The key without the prefix, ids in it named. */
static void key_name(struct side *s, const char *key, char *out, size_t n)
{
    char buf[512], id[128];
    const char *k = key + strlen(s->prefix);
    const char *p = strstr(k, "ep_");
    if (!p)
        p = strstr(k, "dlv_");
    if (!p) {
        snprintf(out, n, "%s", k);
        return;
    }
    size_t idlen = strcspn(p, ":");
    if (idlen >= sizeof(id))
        idlen = sizeof(id) - 1;
    memcpy(id, p, idlen);
    id[idlen] = '\0';
    name_of(s, id, buf, sizeof(buf));
    int w = snprintf(out, n, "%.*s%s%s", (int)(p - k), k, buf, p + idlen);
    assert_true(w > 0 && (size_t)w < n);
}

/* Fields whose values come from Redis's clock or from randomness. */
static int volatile_field(const char *key, const char *field)
{
    static const char *const any[] = { "published_at", "updated_at", "disabled_at",
                                       "last_attempt_at", "first_attempt_at",
                                       "cycle_started_at", "secret", "id" };
    for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++)
        if (strcmp(field, any[i]) == 0)
            return 1;
    if (strncmp(key, "delivery:", 9) == 0 || strncmp(key, "endpoint:", 9) == 0)
        return strcmp(field, "created_at") == 0;
    return 0;
}

/* ready_sorted: the ready list as a sorted multiset instead of in order. */
static char *dump(struct side *s, int ready_sorted)
{
    struct lines l = { 0 };
    redisReply *keys = cmd("KEYS %s*", s->prefix);
    for (size_t i = 0; i < keys->elements; i++) {
        const char *key = keys->element[i]->str;
        char kn[512];
        key_name(s, key, kn, sizeof(kn));
        redisReply *t = cmd("TYPE %s", key);
        const char *type = t->str;
        if (strncmp(kn, "event:", 6) == 0 || strncmp(kn, "delivery:", 9) == 0) {
            redisReply *ttl = cmd("PTTL %s", key);
            add(&l, "%s ttl>0=%d", kn, ttl->integer > 0);
            freeReplyObject(ttl);
        }
        if (strcmp(type, "hash") == 0) {
            redisReply *h = cmd("HGETALL %s", key);
            int pending = 0;
            for (size_t j = 0; j + 1 < h->elements; j += 2)
                if (strcmp(h->element[j]->str, "state") == 0)
                    pending = strcmp(h->element[j + 1]->str, "pending") == 0 ||
                              strcmp(h->element[j + 1]->str, "in_flight") == 0;
            for (size_t j = 0; j + 1 < h->elements; j += 2) {
                const char *f = h->element[j]->str, *v = h->element[j + 1]->str;
                char vn[512];
                if (volatile_field(kn, f) || (pending && strcmp(f, "next_attempt_at") == 0))
                    continue;
                if (strcmp(f, "endpoint_id") == 0 || strcmp(f, "deliveries") == 0)
                    name_of(s, v, vn, sizeof(vn));
                else
                    snprintf(vn, sizeof(vn), "%s", v);
                add(&l, "%s %s=%s", kn, f, vn);
            }
            freeReplyObject(h);
        } else if (strcmp(type, "list") == 0) {
            redisReply *m = cmd("LRANGE %s 0 -1", key);
            struct lines items = { 0 };
            for (size_t j = 0; j < m->elements; j++) {
                char vn[512];
                name_of(s, m->element[j]->str, vn, sizeof(vn));
                add(&items, "%s", vn);
            }
            if (ready_sorted && strcmp(kn, "queue:ready") == 0)
                qsort(items.v, items.n, sizeof(*items.v), cmp_str);
            for (size_t j = 0; j < items.n; j++) {
                add(&l, "%s [%zu] %s", kn, j, items.v[j]);
                free(items.v[j]);
            }
            free(items.v);
            freeReplyObject(m);
        } else if (strcmp(type, "set") == 0) {
            redisReply *m = cmd("SMEMBERS %s", key);
            for (size_t j = 0; j < m->elements; j++) {
                char vn[512];
                name_of(s, m->element[j]->str, vn, sizeof(vn));
                add(&l, "%s has %s", kn, vn);
            }
            freeReplyObject(m);
        } else if (strcmp(type, "zset") == 0) {
            redisReply *m = cmd("ZRANGE %s 0 -1 WITHSCORES", key);
            int scores = strstr(kn, ":deliveries") == NULL; /* index scores: Redis time */
            for (size_t j = 0; j + 1 < m->elements; j += 2) {
                char vn[512];
                name_of(s, m->element[j]->str, vn, sizeof(vn));
                add(&l, "%s has %s %s", kn, vn, scores ? m->element[j + 1]->str : "");
            }
            freeReplyObject(m);
        } else if (strcmp(type, "stream") == 0) {
            redisReply *m = cmd("XRANGE %s - +", key);
            for (size_t j = 0; j < m->elements; j++) {
                const redisReply *f = m->element[j]->element[1];
                char line[2048] = "";
                size_t off = 0;
                for (size_t k = 0; k + 1 < f->elements; k += 2) {
                    char vn[512];
                    name_of(s, f->element[k + 1]->str, vn, sizeof(vn));
                    off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%s",
                                            f->element[k]->str, vn);
                }
                add(&l, "%s [%zu]%s", kn, j, line);
            }
            freeReplyObject(m);
        } else {
            add(&l, "%s type %s", kn, type);
        }
        freeReplyObject(t);
    }
    freeReplyObject(keys);
    qsort(l.v, l.n, sizeof(*l.v), cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < l.n; i++)
        total += strlen(l.v[i]) + 1;
    char *out = malloc(total), *p = out;
    assert_non_null(out);
    for (size_t i = 0; i < l.n; i++) {
        size_t len = strlen(l.v[i]);
        memcpy(p, l.v[i], len);
        p[len] = '\n';
        p += len + 1;
        free(l.v[i]);
    }
    *p = '\0';
    free(l.v);
    return out;
}

static void same_state(int ready_sorted)
{
    char *a = dump(&A, ready_sorted), *b = dump(&B, ready_sorted);
    if (strcmp(a, b) != 0) {
        const char *pa = a, *pb = b;
        while (*pa && *pa == *pb) {
            pa++;
            pb++;
        }
        while (pa > a && pa[-1] != '\n') {
            pa--;
            pb--;
        }
        fail_msg("one by one and batched differ:\n  one by one: %.200s\n  batched:    %.200s", pa, pb);
    }
    assert_true(strlen(a) > 1000); /* the dump saw the data */
    free(a);
    free(b);
}

static void flush(void)
{
    freeReplyObject(cmd("FLUSHALL"));
    side_close(&A);
    side_close(&B);
    side_open(&A, "a:");
    side_open(&B, "b:");
}

/* ---- publish ------------------------------------------------------------------------ */

static void test_publish_batched_equals_one_by_one(void **state)
{
    (void)state;
    static struct psw_publish_result ra[NEVT], rb[NEVT];
    flush();
    publish_all(&A, 1, ra);
    publish_all(&B, 0, rb);
    int created = 0, dups = 0;
    for (int i = 0; i < NEVT; i++) {
        assert_int_equal(ra[i].status, rb[i].status);
        assert_int_equal(ra[i].duplicate, rb[i].duplicate);
        assert_int_equal(ra[i].deliveries, rb[i].deliveries);
        assert_int_equal(ra[i].skipped, rb[i].skipped);
        created += rb[i].status == PSW_OK && !rb[i].duplicate;
        dups += rb[i].duplicate;
    }
    assert_int_equal(rb[13].status, PSW_EINVAL);
    assert_int_equal(dups, 1); /* event 20 repeats event 5's id, within one call */
    assert_true(rb[20].duplicate);
    assert_int_equal(created, NEVT - 2);
    same_state(0); /* the ready list too, in order */
}

/* ---- complete ------------------------------------------------------------------------ */

struct claimed {
    char id[PSW_ID_SIZE];
    char n[16];
    char name[64];
};

static int cmp_claimed(const void *a, const void *b)
{
    return strcmp(((const struct claimed *)a)->name, ((const struct claimed *)b)->name);
}

/* Claims up to 64 with cap 2; returns them sorted by name (same on both sides). */
static size_t claim_all(struct side *s, struct claimed *out)
{
    const char *argv[] = { s->prefix, "w1", "64", "2" };
    redisReply *r = eval(s, PSW_SCRIPT_CLAIM, 4, argv);
    size_t n = (size_t)r->element[1]->integer;
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = r->element[5 + i * CLAIM_FIELDS], *att = r->element[5 + i * CLAIM_FIELDS + 5];
        snprintf(out[i].id, sizeof(out[i].id), "%s", id->str);
        snprintf(out[i].n, sizeof(out[i].n), "%lld", att->integer);
        name_of(s, id->str, out[i].name, sizeof(out[i].name));
    }
    freeReplyObject(r);
    qsort(out, n, sizeof(*out), cmp_claimed);
    return n;
}

/* The 11 completion arguments of attempt k (outcome chosen by k). */
static void completion(const struct claimed *c, int k, const char **v, char bufs[4][64])
{
    int kind = k % 6; /* 0,4 success; 1 retry; 2 give up; 3 410; 5 failure, retry */
    snprintf(bufs[0], 64, "%d", kind == 0 || kind == 4 ? 200 : kind == 3 ? 410 : 500);
    snprintf(bufs[1], 64, "{\"rec\":%d}", k);
    snprintf(bufs[2], 64, "%lld", 1795000000000LL + k);
    snprintf(bufs[3], 64, "%lld", 1795000100000LL + k);
    v[0] = c->id;
    v[1] = c->n;
    v[2] = kind == 0 || kind == 4 ? "1" : "0";
    v[3] = bufs[0];
    v[4] = kind == 0 || kind == 4 ? "" : "http: status 500";
    v[5] = "12";
    v[6] = bufs[1];
    v[7] = bufs[2];
    v[8] = kind == 1 || kind == 5 ? bufs[3] : "";
    v[9] = kind == 2 ? "exhausted" : kind == 3 ? "exhausted" : "";
    v[10] = kind == 3 ? PSW_KIND_GONE : PSW_KIND_RECEIVER;
}

static void test_complete_batched_equals_one_by_one(void **state)
{
    (void)state;
    static struct psw_publish_result res[NEVT];
    static struct claimed ca[128], cb[128];
    flush();
    publish_all(&A, 0, res);
    publish_all(&B, 0, res);
    size_t na = claim_all(&A, ca), nb = claim_all(&B, cb);
    assert_int_equal(na, nb);
    assert_true(na >= 4); /* cap 2 on three enabled endpoints: 6 */
    for (size_t i = 0; i < na; i++)
        assert_string_equal(ca[i].name, cb[i].name);
    same_state(0);

    /* the last claimed one was recovered meanwhile: not owned any more */
    freeReplyObject(cmd("LREM a:queue:inflight:w1 0 %s", ca[na - 1].id));
    freeReplyObject(cmd("LREM b:queue:inflight:w1 0 %s", cb[nb - 1].id));

    /* A: one call per attempt (then a repeat of the first); B: all in one call */
    const char *disable_after = "2";
    static char bufs[130][4][64];
    static const char *vb[COMPLETE_LEAD + 11 * 130];
    int nvb = 0;
    vb[nvb++] = B.prefix;
    vb[nvb++] = "w1";
    vb[nvb++] = disable_after;
    vb[nvb++] = "0"; /* no claim afterwards */
    vb[nvb++] = "2";
    char outcomes_a[130][3][64];
    for (size_t k = 0; k <= na; k++) {
        size_t i = k < na ? k : 0; /* the last one repeats attempt 0: a duplicate */
        const char *va[COMPLETE_LEAD + 11] = { A.prefix, "w1", disable_after, "0", "2" };
        completion(&ca[i], (int)i, va + COMPLETE_LEAD, bufs[k]);
        redisReply *r = eval(&A, PSW_SCRIPT_COMPLETE, COMPLETE_LEAD + 11, va);
        assert_int_equal(r->elements, 2);
        assert_int_equal(r->element[0]->elements, 3);
        assert_int_equal(r->element[1]->elements, 0); /* no claim asked */
        for (int j = 0; j < 3; j++)
            snprintf(outcomes_a[k][j], 64, "%s", r->element[0]->element[j]->str);
        freeReplyObject(r);
        completion(&cb[i], (int)i, vb + nvb, bufs[k]);
        nvb += 11;
    }
    redisReply *rr = eval(&B, PSW_SCRIPT_COMPLETE, nvb, vb);
    assert_int_equal(rr->elements, 2);
    redisReply *r = rr->element[0];
    assert_int_equal(r->elements, 3 * (na + 1));
    int delivered = 0, alerts = 0;
    for (size_t k = 0; k <= na; k++) {
        assert_string_equal(r->element[3 * k]->str, outcomes_a[k][0]);
        /* alert ids are stream ids (time): compare whether there is one, and why */
        assert_int_equal(r->element[3 * k + 1]->str[0] != '\0', outcomes_a[k][1][0] != '\0');
        assert_string_equal(r->element[3 * k + 2]->str, outcomes_a[k][2]);
        delivered += strcmp(outcomes_a[k][0], "delivered") == 0;
        alerts += outcomes_a[k][1][0] != '\0';
    }
    assert_string_equal(outcomes_a[na][0], "duplicate");
    assert_true(delivered >= 1);
    assert_true(alerts >= 1); /* 410 or the second failure in a row disabled one */
    freeReplyObject(rr);
    same_state(1);
}

/* Deliveries let back in by several completions of one call keep their order. */
static void test_release_order(void **state)
{
    (void)state;
    static struct psw_publish_result res[NEVT];
    static struct claimed cb[128];
    flush();
    publish_all(&B, 0, res);
    size_t nb = claim_all(&B, cb);
    /* EP0 (account level, all types) holds many in its waiting list, in order */
    redisReply *w = cmd("LRANGE b:endpoint:%s:waiting 0 -1", B.ep[0]);
    assert_true(w->elements >= 3);
    char first[PSW_ID_SIZE], second[PSW_ID_SIZE];
    snprintf(first, sizeof(first), "%s", w->element[0]->str);
    snprintf(second, sizeof(second), "%s", w->element[1]->str);
    freeReplyObject(w);
    /* complete EP0's two claimed ones (successes) in one call */
    static char bufs[2][4][64];
    const char *v[COMPLETE_LEAD + 22] = { B.prefix, "w1", "20", "0", "2" };
    int k = 0;
    for (size_t i = 0; i < nb && k < 2; i++) {
        if (strstr(cb[i].name, ",EP0)") == NULL)
            continue;
        completion(&cb[i], 0, v + COMPLETE_LEAD + 11 * k, bufs[k]);
        k++;
    }
    assert_int_equal(k, 2);
    freeReplyObject(eval(&B, PSW_SCRIPT_COMPLETE, COMPLETE_LEAD + 22, v));
    /* workers pop the right end: the longest-waiting one comes first */
    redisReply *a = cmd("LINDEX b:queue:ready -1");
    redisReply *b2 = cmd("LINDEX b:queue:ready -2");
    assert_string_equal(a->str, first);
    assert_string_equal(b2->str, second);
    freeReplyObject(a);
    freeReplyObject(b2);
    redisReply *n = cmd("SCARD b:endpoint:%s:inflight", B.ep[0]);
    assert_int_equal(n->integer, 0);
    freeReplyObject(n);
}

/* With a claim asked, complete.lua takes the deliveries its completions let
 * back in (front of ready) for this worker in the same call, before any
 * other client (a parked BLMOVE) is served. */
static void test_complete_then_claim(void **state)
{
    (void)state;
    static struct psw_publish_result res[NEVT];
    static struct claimed cb[128];
    flush();
    publish_all(&B, 0, res);
    size_t nb = claim_all(&B, cb);
    redisReply *w = cmd("LRANGE b:endpoint:%s:waiting 0 1", B.ep[0]);
    assert_int_equal(w->elements, 2);
    char first[PSW_ID_SIZE], second[PSW_ID_SIZE];
    snprintf(first, sizeof(first), "%s", w->element[0]->str);
    snprintf(second, sizeof(second), "%s", w->element[1]->str);
    freeReplyObject(w);
    long long ready0 = ll("LLEN b:queue:ready");
    long long inflight0 = ll("LLEN b:queue:inflight:w1");

    static char bufs[2][4][64];
    const char *v[COMPLETE_LEAD + 22] = { B.prefix, "w1", "20", "2", "2" }; /* claim 2 */
    int k = 0;
    for (size_t i = 0; i < nb && k < 2; i++) {
        if (strstr(cb[i].name, ",EP0)") == NULL)
            continue;
        completion(&cb[i], 0, v + COMPLETE_LEAD + 11 * k, bufs[k]);
        k++;
    }
    redisReply *r = eval(&B, PSW_SCRIPT_COMPLETE, COMPLETE_LEAD + 22, v);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->element[0]->str, "delivered");
    const redisReply *c = r->element[1];
    assert_true(c->elements >= 5 + 2 * CLAIM_FIELDS);
    assert_int_equal(c->element[1]->integer, 2);
    /* the two longest-waiting of EP0, oldest first */
    assert_string_equal(c->element[5]->str, first);
    assert_string_equal(c->element[5 + CLAIM_FIELDS]->str, second);
    assert_int_equal(c->element[5 + 5]->integer, 1); /* their first attempt */
    freeReplyObject(r);
    assert_int_equal(ll("LLEN b:queue:ready"), ready0);
    assert_int_equal(ll("LLEN b:queue:inflight:w1"), inflight0);
    assert_int_equal(ll("SCARD b:endpoint:%s:inflight", B.ep[0]), 2);
    redisReply *st = cmd("HMGET b:delivery:%s state worker", first);
    assert_string_equal(st->element[0]->str, "in_flight");
    assert_string_equal(st->element[1]->str, "w1");
    freeReplyObject(st);
}

/* ---- claim rules ---------------------------------------------------------------------- */

static void test_claim_rules(void **state)
{
    (void)state;
    static struct psw_publish_result res[NEVT];
    flush();
    publish_all(&B, 0, res);
    long long ready0 = ll("LLEN b:queue:ready");
    long long skipped0 = ll("HGET b:stats skipped");

    /* an old secret whose grace is over, on EP1 */
    freeReplyObject(cmd("HSET b:endpoint:%s secret_prev whsec_old_000000000000000000 "
                        "secret_prev_until 1000",
                        B.ep[1]));
    /* the event of EP2's delivery of evt_t_00 (other.example: not EP1's) expired */
    redisReply *ids = cmd("ZRANGE b:endpoint:%s:deliveries 0 -1", B.ep[2]);
    char gone_dlv[PSW_ID_SIZE] = "";
    for (size_t i = 0; i < ids->elements; i++) {
        redisReply *ev = cmd("HGET b:delivery:%s event_id", ids->element[i]->str);
        if (strcmp(ev->str, "evt_t_00") == 0)
            snprintf(gone_dlv, sizeof(gone_dlv), "%s", ids->element[i]->str);
        freeReplyObject(ev);
    }
    assert_true(ids->elements >= 3);
    freeReplyObject(ids);
    assert_true(gone_dlv[0] != '\0');
    freeReplyObject(cmd("DEL b:event:acct_t/evt_t_00"));
    /* EP0 disabled after publishing: its deliveries are skipped at claim */
    assert_int_equal(psw_endpoint_disable(&B.ctx, B.ep[0], NULL, NULL, NULL, err, sizeof(err)),
                     PSW_OK);
    long long ep0_pending = ll("ZCARD b:endpoint:%s:deliveries", B.ep[0]);

    const char *argv[] = { "b:", "w1", "1000", "1" }; /* cap 1 */
    redisReply *r = eval(&B, PSW_SCRIPT_CLAIM, 4, argv);
    long long claimed = r->element[1]->integer, skipped = r->element[2]->integer,
              held = r->element[3]->integer, drained = r->element[4]->integer;
    assert_int_equal(drained, 1);
    assert_int_equal(skipped, ep0_pending);
    assert_int_equal(claimed, 2); /* cap 1 on EP1 and EP2 */
    assert_int_equal(claimed + skipped + held + 1, ready0); /* + the expired event */
    for (long long i = 0; i < claimed; i++) {
        redisReply **f = r->element + 5 + i * CLAIM_FIELDS;
        assert_int_equal(f[5]->integer, 1);        /* attempt */
        assert_string_equal(f[6]->str, "first");   /* trigger */
        assert_int_equal(f[8]->integer, 1);        /* cycle_attempts */
        assert_string_equal(f[10]->str, "");       /* no old secret: its grace is over */
        assert_true(strlen(f[11]->str) > 50);      /* the body */
    }
    freeReplyObject(r);
    assert_int_equal(ll("LLEN b:queue:ready"), 0);
    assert_int_equal(ll("LLEN b:queue:inflight:w1"), claimed);
    assert_int_equal(ll("HGET b:stats skipped"), skipped0 + ep0_pending);
    assert_int_equal(ll("HGET b:endpoint:%s:stats skipped", B.ep[0]), ep0_pending);
    assert_int_equal(ll("HGET b:stats failed"), 1);
    assert_int_equal(ll("ZSCORE b:queue:failed %s", gone_dlv) > 0, 1);
    redisReply *st = cmd("HMGET b:delivery:%s state failed_reason", gone_dlv);
    assert_string_equal(st->element[0]->str, "failed");
    assert_string_equal(st->element[1]->str, "event_expired");
    freeReplyObject(st);
    /* the old secret went when EP1's request started */
    st = cmd("HGET b:endpoint:%s secret_prev", B.ep[1]);
    assert_string_equal(st->str, "");
    freeReplyObject(st);
    /* held back in order of publishing, EP1 and EP2 listed as waiting */
    for (int e = 1; e <= 2; e++) {
        assert_int_equal(ll("SCARD b:endpoint:%s:inflight", B.ep[e]), 1);
        redisReply *wl = cmd("LRANGE b:endpoint:%s:waiting 0 -1", B.ep[e]);
        long long prev = 0;
        for (size_t i = 0; i < wl->elements; i++) {
            long long score = ll("ZSCORE b:endpoint:%s:deliveries %s", B.ep[e], wl->element[i]->str);
            assert_true(score >= prev);
            prev = score;
            redisReply *s2 = cmd("HGET b:delivery:%s state", wl->element[i]->str);
            assert_string_equal(s2->str, "pending");
            freeReplyObject(s2);
        }
        assert_int_equal(ll("SISMEMBER b:queue:waiting %s", B.ep[e]), wl->elements > 0);
        freeReplyObject(wl);
    }

    /* an adopted id that is our own in-flight claim (its reply was lost)
     * starts again as attempt 2, and stays once in every list and set */
    redisReply *mine = cmd("LINDEX b:queue:inflight:w1 0");
    char did[PSW_ID_SIZE];
    snprintf(did, sizeof(did), "%s", mine->str);
    freeReplyObject(mine);
    const char *adopt[] = { "b:", "w1", "1", "1", did };
    r = eval(&B, PSW_SCRIPT_CLAIM, 5, adopt);
    assert_int_equal(r->element[1]->integer, 1);
    assert_string_equal(r->element[5]->str, did);
    assert_int_equal(r->element[5 + 5]->integer, 2);
    freeReplyObject(r);
    assert_int_equal(ll("LLEN b:queue:inflight:w1"), claimed);
    redisReply *pos = cmd("LPOS b:queue:inflight:w1 %s COUNT 0", did);
    assert_int_equal(pos->elements, 1);
    freeReplyObject(pos);
    assert_int_equal(ll("HGET b:delivery:%s attempts", did), 2);
}

/* Creates an endpoint of account acct on side B; its id goes into id. */
static void endpoint_b(const char *acct, const char *url, char id[PSW_ID_SIZE])
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    spec.account_id = acct;
    spec.url = url;
    assert_int_equal(psw_endpoint_create(&B.ctx, &spec, &ep, err, sizeof(err)), PSW_OK);
    snprintf(id, PSW_ID_SIZE, "%s", ep.id);
    psw_endpoint_free(&ep);
}

/* A delivery for an endpoint with deliveries held back joins them at the
 * end of its waiting list, pending, instead of passing through ready. */
static void test_publish_behind_held(void **state)
{
    (void)state;
    static struct psw_publish_result res[NEVT];
    static struct claimed cb[128];
    flush();
    publish_all(&B, 0, res);
    claim_all(&B, cb); /* cap 2: EP0, EP1 and EP2 hold the rest */
    redisReply *w = cmd("LRANGE b:endpoint:%s:waiting 0 -1", B.ep[0]);
    size_t held0 = w->elements;
    assert_true(held0 > 0);
    freeReplyObject(w);
    long long ready0 = ll("LLEN b:queue:ready");

    /* a new endpoint of the account, nothing held: its delivery goes to ready */
    char ep[PSW_ID_SIZE];
    endpoint_b("acct_t", "https://e9.example.com/hook", ep);
    const char *json = "{\"id\":\"evt_late\",\"type\":\"email.opened\",\"account_id\":"
                       "\"acct_t\",\"domain\":\"x.example\",\"data\":{\"message_id\":"
                       "\"<late>\",\"to\":\"a@example.org\"}}";
    struct psw_publish_result r;
    assert_int_equal(psw_publish(&B.ctx, json, strlen(json), &r), PSW_OK);
    assert_int_equal(r.deliveries, 3); /* EP0, EP3 (disabled: skipped), the new one */
    assert_int_equal(ll("LLEN b:queue:ready"), ready0 + 1);
    redisReply *rd = cmd("LINDEX b:queue:ready 0"); /* pushed at the back (left) */
    redisReply *st = cmd("HMGET b:delivery:%s endpoint_id state", rd->str);
    assert_string_equal(st->element[0]->str, ep);
    assert_string_equal(st->element[1]->str, "pending");
    freeReplyObject(st);
    freeReplyObject(rd);
    /* EP0's is last in EP0's waiting list, pending, EP0 listed as waiting */
    assert_int_equal(ll("LLEN b:endpoint:%s:waiting", B.ep[0]), (long long)held0 + 1);
    redisReply *last = cmd("LINDEX b:endpoint:%s:waiting -1", B.ep[0]);
    st = cmd("HMGET b:delivery:%s event_id state", last->str);
    assert_string_equal(st->element[0]->str, "evt_late");
    assert_string_equal(st->element[1]->str, "pending");
    freeReplyObject(st);
    freeReplyObject(last);
    assert_int_equal(ll("SISMEMBER b:queue:waiting %s", B.ep[0]), 1);
    assert_int_equal(ll("HGET b:stats deliveries_created") > 0, 1);
}

/* Publishes the test events on side B and claims them as worker w1; returns
 * the first claimed (cb holds them all). */
static const struct claimed *claim_first(struct claimed *cb)
{
    static struct psw_publish_result res[NEVT];
    flush();
    publish_all(&B, 0, res);
    assert_true(claim_all(&B, cb) >= 1);
    return &cb[0];
}

/* Delivery id is in flight with worker w1, in w1's in-flight list. */
static void assert_held_by_w1(const char *id)
{
    redisReply *pos = cmd("LPOS b:queue:inflight:w1 %s", id);
    assert_int_equal(pos->type, REDIS_REPLY_INTEGER);
    freeReplyObject(pos);
    redisReply *st = cmd("HMGET b:delivery:%s state worker", id);
    assert_string_equal(st->element[0]->str, "in_flight");
    assert_string_equal(st->element[1]->str, "w1");
    freeReplyObject(st);
}

/* Completes attempt n of delivery id for w1 with complete.lua (no claim
 * afterwards) and checks the outcome it reports: ok, a 200; otherwise a 500
 * whose retry is due at once. */
static void assert_completion(const char *id, const char *n, int ok, const char *want)
{
    const char *v[COMPLETE_LEAD + 11] = {
        B.prefix, "w1", "20", "0", "2",
        id, n, ok ? "1" : "0", ok ? "200" : "500", ok ? "" : "http: status 500", "3", "{}",
        ok ? "1795000000001" : "1795000000000", ok ? "" : "1", "", PSW_KIND_RECEIVER
    };
    redisReply *r = eval(&B, PSW_SCRIPT_COMPLETE, COMPLETE_LEAD + 11, v);
    assert_string_equal(r->element[0]->element[0]->str, want);
    freeReplyObject(r);
}

/* A completion sent again after the delivery was claimed again (its first
 * reply was lost; the retry came due and this worker took it) is a
 * duplicate, and leaves the new claim's in-flight entry alone: before the
 * fix the resent completion removed it, stranding the delivery in_flight in
 * no list. */
static void test_resent_completion_keeps_new_claim(void **state)
{
    (void)state;
    static struct claimed cb[128];
    const struct claimed *d = claim_first(cb);
    /* attempt 1 failed, retry due at once */
    assert_completion(d->id, d->n, 0, "scheduled");
    const char *pv[] = { B.prefix, "1000", "", "0", "0" };
    freeReplyObject(eval(&B, PSW_SCRIPT_PROMOTE, 5, pv));
    /* everything due, no cap: this worker claims it again (attempt 2) */
    const char *cv[] = { B.prefix, "w1", "1000", "0" };
    freeReplyObject(eval(&B, PSW_SCRIPT_CLAIM, 4, cv));
    assert_int_equal(ll("HGET b:delivery:%s attempts", d->id), 2);
    assert_held_by_w1(d->id);

    /* the completion of attempt 1 again */
    assert_completion(d->id, d->n, 0, "duplicate");
    assert_held_by_w1(d->id); /* still listed: recoverable */
}

/* How many publish.lua calls INFO commandstats counted (EVALSHA). */
static long long evalsha_calls(void)
{
    redisReply *r = cmd("INFO commandstats");
    const char *p = strstr(r->str, "cmdstat_evalsha:calls=");
    long long n = p ? strtoll(p + strlen("cmdstat_evalsha:calls="), NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

/* psw_publish_many sizes its calls by the fan-out its replies report
 * (common/publish.c): events with one delivery each go 64 to a call after
 * the first chunk of 64 (4 calls of 16), events with 4 deliveries each
 * (1024 / 4 = 256, capped) too, and the result is per event as ever. */
static void test_publish_call_size(void **state)
{
    (void)state;
    enum { N = 320 };
    static char bufs[N][256];
    static struct psw_publish_result res[N];
    const char *jsons[N];
    size_t lens[N];
    flush();
    char ep[PSW_ID_SIZE];
    endpoint_b("acct_calls", "https://calls.example.com/hook", ep);
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof(bufs[i]),
                 "{\"id\":\"evt_c_%03d\",\"type\":\"email.sent\",\"account_id\":\"acct_calls\","
                 "\"domain\":\"d.example\",\"data\":{\"message_id\":\"<c%d>\","
                 "\"to\":\"a@example.org\"}}",
                 i, i);
        jsons[i] = bufs[i];
        lens[i] = strlen(bufs[i]);
    }
    freeReplyObject(cmd("CONFIG RESETSTAT"));
    assert_int_equal(psw_publish_many(&B.ctx, N, jsons, lens, res), 0);
    assert_int_equal(evalsha_calls(), 4 + (N - 64) / 64);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].status, PSW_OK);
        assert_int_equal(res[i].deliveries, 1);
        assert_false(res[i].duplicate);
    }
    assert_int_equal(ll("LLEN b:queue:ready"), N);
}

/* A worker taken for dead while its request was open: its delivery is
 * handed back (worker_lost.lua) and claimed again by the same worker
 * (attempt 2) before attempt 1's result comes. That late failure is recorded
 * but leaves attempt 2's in-flight entry and state alone. */
static void test_late_completion_keeps_new_claim(void **state)
{
    (void)state;
    static struct claimed cb[128];
    const struct claimed *d = claim_first(cb);
    const char *lost[] = { B.prefix, "w1", "5", "2592000000" };
    freeReplyObject(eval(&B, PSW_SCRIPT_WORKER_LOST, 4, lost));
    const char *cv[] = { B.prefix, "w1", "1000", "0" };
    freeReplyObject(eval(&B, PSW_SCRIPT_CLAIM, 4, cv));
    assert_int_equal(ll("HGET b:delivery:%s attempts", d->id), 2);

    /* attempt 1's failure arrives now */
    assert_completion(d->id, d->n, 0, "recorded");
    assert_held_by_w1(d->id); /* attempt 2's entry and state stay */
    assert_int_equal(ll("ZSCORE b:queue:scheduled %s", d->id), -1); /* not scheduled */

    /* attempt 2 succeeds: delivered, the entry gone */
    assert_completion(d->id, "2", 1, "delivered");
    redisReply *pos = cmd("LPOS b:queue:inflight:w1 %s", d->id);
    assert_int_equal(pos->type, REDIS_REPLY_NIL);
    freeReplyObject(pos);
}

/* sweep.lua: a delivery whose state names a list that does not hold it is
 * requeued and counted (stranded_requeued); one that is where its state
 * says is left alone. */
static void test_sweep_requeues_stranded(void **state)
{
    (void)state;
    static struct psw_publish_result res[NEVT];
    static struct claimed cb[128];
    flush();
    publish_all(&B, 0, res);
    size_t nb = claim_all(&B, cb); /* w1 holds these, in_flight */
    assert_true(nb >= 2);
    /* stranded in_flight: out of its worker's list */
    freeReplyObject(cmd("LREM b:queue:inflight:w1 0 %s", cb[0].id));
    /* stranded pending: out of ready */
    redisReply *rd = cmd("LINDEX b:queue:ready -1");
    char pend[PSW_ID_SIZE], fine[PSW_ID_SIZE];
    snprintf(pend, sizeof(pend), "%s", rd->str);
    freeReplyObject(rd);
    freeReplyObject(cmd("LREM b:queue:ready 0 %s", pend));
    rd = cmd("LINDEX b:queue:ready 0");
    snprintf(fine, sizeof(fine), "%s", rd->str); /* pending, in ready: fine */
    freeReplyObject(rd);
    long long ready0 = ll("LLEN b:queue:ready");

    const char *v[] = { B.prefix, "2592000000", "10000", cb[0].id, cb[1].id, pend, fine };
    redisReply *r = eval(&B, PSW_SCRIPT_SWEEP, 7, v);
    assert_int_equal(r->element[0]->integer, 4);
    assert_int_equal(r->element[1]->integer, 2);
    freeReplyObject(r);
    assert_int_equal(ll("HGET b:stats stranded_requeued"), 2);
    assert_true(ll("LLEN b:queue:ready") >= ready0 + 2); /* + one let in by the freed slot */
    assert_true(ll("LPOS b:queue:ready %s", pend) >= 0);
    assert_true(ll("LPOS b:queue:ready %s", cb[0].id) >= 0);
    redisReply *st = cmd("HMGET b:delivery:%s state worker", cb[0].id);
    assert_string_equal(st->element[0]->str, "pending");
    assert_string_equal(st->element[1]->str, "");
    freeReplyObject(st);
    assert_int_equal(ll("SISMEMBER b:endpoint:%s:inflight %s",
                        B.ep[0], cb[0].id), 0);
    assert_int_equal(ll("LLEN b:delivery:%s:attempts", cb[0].id), 1); /* outcome unknown */
    /* cb[1] is still w1's, in its list */
    st = cmd("HMGET b:delivery:%s state worker", cb[1].id);
    assert_string_equal(st->element[0]->str, "in_flight");
    assert_string_equal(st->element[1]->str, "w1");
    freeReplyObject(st);
    /* nothing stranded any more: a second sweep changes nothing */
    r = eval(&B, PSW_SCRIPT_SWEEP, 7, v);
    assert_int_equal(r->element[1]->integer, 0);
    freeReplyObject(r);
    assert_int_equal(ll("HGET b:stats stranded_requeued"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_batched_equals_one_by_one),
        cmocka_unit_test(test_complete_batched_equals_one_by_one),
        cmocka_unit_test(test_release_order),
        cmocka_unit_test(test_complete_then_claim),
        cmocka_unit_test(test_claim_rules),
        cmocka_unit_test(test_publish_behind_held),
        cmocka_unit_test(test_resent_completion_keeps_new_claim),
        cmocka_unit_test(test_late_completion_keeps_new_claim),
        cmocka_unit_test(test_publish_call_size),
        cmocka_unit_test(test_sweep_requeues_stranded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
