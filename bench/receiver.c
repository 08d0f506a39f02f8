/*
 * psw-receiver — a webhook receiver for the demo, the deployment tests and
 * the benchmark: accepts POSTs on any path, verifies X-PostStack-Signature
 * (common/sign.h) against the --secret values, logs one line per arrival and
 * counts what it saw; GET /stats returns the counters as JSON, DELETE /stats
 * resets them.
 *
 * Counting is meant to stay cheap under load: every counter is a C11 atomic,
 * and the set of event ids is split into SHARDS open-addressing tables, each
 * behind its own mutex, so two requests contend only when their ids hash to
 * the same shard. An event id enters the set only when the receiver answers
 * 2xx: an id answered 2xx before and seen again counts as a duplicate (the
 * service delivers at least once), while the retry of an attempt the
 * receiver refused (500 from --fail-rate, 401 for a bad signature) is not.
 *
 * Answers: 401 when secrets are given and the signature is missing or does
 * not verify; else 500 for a --fail-rate fraction, or for attempts up to
 * --fail-attempts (X-PostStack-Attempt); else --status (200).
 * --delay-ms sleeps in the handling thread, so pick --threads accordingly.
 * --hang-path does not hold a thread: a POST whose path starts with it is
 * suspended (MHD_suspend_connection) and resumed by a timer thread after
 * --hang-ms, so a hanging endpoint costs the receiver nothing; such POSTs are
 * counted only as "hung" (not in the delivery counters, first_ms or last_ms).
 *
 * Benchmark latency: a body holding "bench_ts_us":<unix µs> (psw-bench puts
 * it into data.metadata at publish time) adds now − that time to a
 * histogram of fixed log-linear buckets (32 per power of two, so a reported
 * percentile is at most ~3% above the true value); /stats reports count,
 * mean, p50, p90, p99, p99.9 and max in µs.
 *
 * --tls-cert/--tls-key serve HTTPS (libmicrohttpd with GnuTLS), keep-alive as
 * over HTTP, for the benchmark's HTTPS scenario and the http.ca_file test.
 *
 * --per-path keys the id set by path and event id, for fan-out benchmarks
 * where one event reaches many endpoints (paths) of the same receiver.
 *
 * Threads: libmicrohttpd runs an epoll thread pool (MHD_USE_EPOLL_INTERNAL_THREAD
 * with MHD_OPTION_THREAD_POOL_SIZE); the main thread only waits for
 * SIGINT/SIGTERM (blocked everywhere, taken with sigwait), then stops the
 * daemon, which joins the pool, and prints the final counters on stderr.
 *
 * Ownership: a request's body buffer belongs to its connection slot
 * (con_cls) and is freed in the completion callback; the id set owns copies
 * of the ids it holds.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/sign.h"
#include "common/timeutil.h"

#ifndef PSW_VERSION
#define PSW_VERSION "dev"
#endif

#define MAX_SECRETS 16
#define MAX_BODY (16u * 1024 * 1024) /* above limits.max_event_bytes' bound */
#define SHARDS 64                    /* power of two */
#define SHARD_INIT_CAP 1024          /* power of two */
#define LAT_SUB_BITS 5               /* 32 sub-buckets per power of two */
#define LAT_SUB (1 << LAT_SUB_BITS)
#define LAT_MAX_BITS 40              /* 2^40 µs: 12 days */
#define LAT_BUCKETS ((LAT_MAX_BITS - LAT_SUB_BITS + 2) * LAT_SUB)

static const char *const event_types[] = {
    "email.queued", "email.sent",   "email.delivered",  "email.bounced",
    "email.opened", "email.clicked", "email.complained", "email.unsubscribed",
};
#define NTYPES (sizeof(event_types) / sizeof(event_types[0]))

struct options {
    const char *bind;
    int port;
    const char *secrets[MAX_SECRETS];
    size_t nsecrets;
    long long tolerance_s;
    long long delay_ms;
    double fail_rate;
    int status;
    int threads;
    int quiet;
    const char *hang_path;
    size_t hang_path_len;
    long long hang_ms;
    long long fail_attempts;
    int per_path;
    const char *tls_cert, *tls_key; /* PEM files: HTTPS instead of HTTP */
};

/* ---- the set of accepted event ids --------------------------------------- */

struct shard {
    pthread_mutex_t mu;
    char **slots; /* cap entries, NULL = empty */
    size_t cap, used;
};

static struct shard shards[SHARDS];

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Linear probing; the shard index uses the low bits, the slot the high ones. */
static size_t probe(char **slots, size_t cap, uint64_t h, const char *id, int *found)
{
    size_t i = (size_t)(h >> 6) & (cap - 1);
    while (slots[i]) {
        if (strcmp(slots[i], id) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & (cap - 1);
    }
    *found = 0;
    return i;
}

static int shard_grow(struct shard *s)
{
    size_t ncap = s->cap ? s->cap * 2 : SHARD_INIT_CAP;
    char **ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i])
            continue;
        int found;
        ns[probe(ns, ncap, hash_id(s->slots[i]), s->slots[i], &found)] = s->slots[i];
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

/* 1 = new, 0 = seen before, -1 = out of memory (counted as new, not kept). */
static int idset_add(const char *id)
{
    uint64_t h = hash_id(id);
    struct shard *s = &shards[h & (SHARDS - 1)];
    int rc = -1, found;

    pthread_mutex_lock(&s->mu);
    if ((s->used + 1) * 10 > s->cap * 7 && shard_grow(s) != 0)
        goto cleanup;
    size_t i = probe(s->slots, s->cap, h, id, &found);
    if (found) {
        rc = 0;
        goto cleanup;
    }
    s->slots[i] = strdup(id);
    if (!s->slots[i])
        goto cleanup;
    s->used++;
    rc = 1;
cleanup:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void idset_clear(int release)
{
    for (size_t k = 0; k < SHARDS; k++) {
        struct shard *s = &shards[k];
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->cap; i++) {
            free(s->slots[i]);
            s->slots[i] = NULL;
        }
        s->used = 0;
        if (release) {
            free(s->slots);
            s->slots = NULL;
            s->cap = 0;
        }
        pthread_mutex_unlock(&s->mu);
    }
}

/* ---- counters -------------------------------------------------------------- */

static struct {
    atomic_ullong requests;       /* every POST */
    atomic_ullong unique_events;  /* event ids answered 2xx the first time */
    atomic_ullong duplicates;     /* event ids answered 2xx again */
    atomic_ullong bad_signatures; /* missing or not verifying (only with --secret) */
    atomic_ullong no_event_id;    /* POSTs without X-PostStack-Event-Id */
    atomic_ullong answered_2xx;
    atomic_ullong answered_error;
    atomic_ullong bytes;
    atomic_ullong by_type[NTYPES + 1]; /* last: anything else */
    atomic_llong first_ms, last_ms;    /* unix ms of the first / latest POST */
    atomic_ullong hung;                /* POSTs on --hang-path */
    atomic_ullong rand_state;
    /* publish -> receive latency (µs) of 2xx answers carrying bench_ts_us */
    atomic_ullong lat[LAT_BUCKETS];
    atomic_ullong lat_count, lat_sum, lat_max;
} st;

static struct options opt;
static int64_t started_ms;

static void counters_reset(void)
{
    atomic_store(&st.requests, 0);
    atomic_store(&st.unique_events, 0);
    atomic_store(&st.duplicates, 0);
    atomic_store(&st.bad_signatures, 0);
    atomic_store(&st.no_event_id, 0);
    atomic_store(&st.answered_2xx, 0);
    atomic_store(&st.answered_error, 0);
    atomic_store(&st.bytes, 0);
    for (size_t i = 0; i <= NTYPES; i++)
        atomic_store(&st.by_type[i], 0);
    atomic_store(&st.first_ms, 0);
    atomic_store(&st.last_ms, 0);
    atomic_store(&st.hung, 0);
    for (size_t i = 0; i < LAT_BUCKETS; i++)
        atomic_store(&st.lat[i], 0);
    atomic_store(&st.lat_count, 0);
    atomic_store(&st.lat_sum, 0);
    atomic_store(&st.lat_max, 0);
}

/* ---- latency histogram ------------------------------------------------------ */

/* Exact below 2 * LAT_SUB; above, LAT_SUB buckets per power of two. */
static size_t lat_index(uint64_t v)
{
    if (v >= (1ull << LAT_MAX_BITS))
        v = (1ull << LAT_MAX_BITS) - 1;
    if (v < 2 * LAT_SUB)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - LAT_SUB_BITS;
    return (size_t)(shift + 1) * LAT_SUB + (size_t)((v >> shift) - LAT_SUB);
}

/* The highest value that falls into bucket i. */
static uint64_t lat_upper(size_t i)
{
    if (i < 2 * LAT_SUB)
        return i;
    int shift = (int)(i / LAT_SUB) - 1;
    uint64_t m = i % LAT_SUB + LAT_SUB;
    return ((m + 1) << shift) - 1;
}

static void lat_record(uint64_t us)
{
    atomic_fetch_add(&st.lat[lat_index(us)], 1);
    atomic_fetch_add(&st.lat_count, 1);
    atomic_fetch_add(&st.lat_sum, us);
    unsigned long long m = atomic_load(&st.lat_max);
    while (us > m && !atomic_compare_exchange_weak(&st.lat_max, &m, us)) {
    }
}

/* Fills p[k] with the q[k] quantiles (q ascending), from a snapshot. */
static void lat_quantiles(const double *q, uint64_t *p, size_t nq)
{
    unsigned long long snap[LAT_BUCKETS]; /* 9 KB: fine on a pool thread's stack */
    unsigned long long total = 0, max = atomic_load(&st.lat_max);
    for (size_t i = 0; i < LAT_BUCKETS; i++)
        total += snap[i] = atomic_load(&st.lat[i]);
    size_t k = 0;
    unsigned long long seen = 0;
    for (size_t i = 0; i < LAT_BUCKETS && k < nq; i++) {
        seen += snap[i];
        while (k < nq && total > 0 && (double)seen >= q[k] * (double)total) {
            uint64_t u = lat_upper(i);
            p[k++] = u < max ? u : max;
        }
    }
    for (; k < nq; k++)
        p[k] = 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The "bench_ts_us":N stamp of a body, or 0. */
static uint64_t bench_stamp(const char *body, size_t len)
{
    static const char key[] = "\"bench_ts_us\":";
    const char *p = body ? memmem(body, len, key, sizeof(key) - 1) : NULL;
    if (!p)
        return 0;
    p += sizeof(key) - 1;
    const char *end = body + len;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && digits < 19) {
        v = v * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    return digits ? v : 0;
}

/* Uniform in [0, 1): splitmix64 over an atomic counter, so threads share
 * one stream without a lock. */
static double rand_unit(void)
{
    uint64_t z = atomic_fetch_add(&st.rand_state, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0; /* 2^53 */
}

static size_t type_index(const char *type)
{
    for (size_t i = 0; type && i < NTYPES; i++)
        if (strcmp(type, event_types[i]) == 0)
            return i;
    return NTYPES;
}

static int stats_json(char *out, size_t n)
{
    int64_t now = psw_now_ms();
    int len = snprintf(
        out, n,
        "{\"requests\":%llu,\"unique_events\":%llu,\"duplicates\":%llu,"
        "\"bad_signatures\":%llu,\"no_event_id\":%llu,\"answered_2xx\":%llu,"
        "\"answered_error\":%llu,\"bytes\":%llu,\"verifying\":%s,"
        "\"first_ms\":%lld,\"last_ms\":%lld,\"now_ms\":%lld,\"uptime_ms\":%lld,\"by_type\":{",
        atomic_load(&st.requests), atomic_load(&st.unique_events),
        atomic_load(&st.duplicates), atomic_load(&st.bad_signatures),
        atomic_load(&st.no_event_id), atomic_load(&st.answered_2xx),
        atomic_load(&st.answered_error), atomic_load(&st.bytes),
        opt.nsecrets ? "true" : "false", (long long)atomic_load(&st.first_ms),
        (long long)atomic_load(&st.last_ms), (long long)now, (long long)(now - started_ms));
    for (size_t i = 0; i <= NTYPES && len > 0 && (size_t)len < n; i++)
        len += snprintf(out + len, n - (size_t)len, "%s\"%s\":%llu", i ? "," : "",
                        i < NTYPES ? event_types[i] : "other", atomic_load(&st.by_type[i]));
    static const double q[] = { 0.5, 0.9, 0.99, 0.999 };
    uint64_t p[4];
    unsigned long long lc = atomic_load(&st.lat_count);
    lat_quantiles(q, p, 4);
    if (len > 0 && (size_t)len < n)
        len += snprintf(out + len, n - (size_t)len,
                        "},\"hung\":%llu,\"latency_us\":{\"count\":%llu,\"mean\":%llu,"
                        "\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu}}\n",
                        atomic_load(&st.hung), lc, lc ? atomic_load(&st.lat_sum) / lc : 0,
                        (unsigned long long)p[0], (unsigned long long)p[1],
                        (unsigned long long)p[2], (unsigned long long)p[3],
                        atomic_load(&st.lat_max));
    return len > 0 && (size_t)len < n ? len : -1;
}

/* ---- HTTP -------------------------------------------------------------------- */

struct req {
    char *body;
    size_t len, cap;
    int too_big;
    int hung; /* suspended on --hang-path; answered once resumed */
};

/* ---- --hang-path: suspended connections and the thread that resumes them ---- */

struct hang {
    struct MHD_Connection *c;
    int64_t due_ms; /* monotonic */
};

static struct {
    pthread_mutex_t mu;
    struct hang *v;
    size_t n, cap;
    atomic_int stop;
    pthread_t thread;
    int started;
} hangs = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int hang_add(struct MHD_Connection *c)
{
    int rc = -1;
    pthread_mutex_lock(&hangs.mu);
    if (hangs.n == hangs.cap) {
        size_t ncap = hangs.cap ? hangs.cap * 2 : 256;
        struct hang *nv = realloc(hangs.v, ncap * sizeof(*nv));
        if (!nv)
            goto cleanup;
        hangs.v = nv;
        hangs.cap = ncap;
    }
    hangs.v[hangs.n].c = c;
    hangs.v[hangs.n].due_ms = psw_mono_ms() + opt.hang_ms;
    hangs.n++;
    rc = 0;
cleanup:
    pthread_mutex_unlock(&hangs.mu);
    return rc;
}

/* Resumes the connections that are due (all of them when all is set).
 * MHD_resume_connection is called outside our lock, so its own locking can
 * never be ordered against ours. */
static void hang_resume(int all)
{
    struct MHD_Connection *due[256];
    size_t nd;
    do {
        nd = 0;
        int64_t now = psw_mono_ms();
        pthread_mutex_lock(&hangs.mu);
        for (size_t i = 0; i < hangs.n && nd < 256;) {
            if (all || hangs.v[i].due_ms <= now) {
                due[nd++] = hangs.v[i].c;
                hangs.v[i] = hangs.v[--hangs.n];
            } else {
                i++;
            }
        }
        pthread_mutex_unlock(&hangs.mu);
        for (size_t i = 0; i < nd; i++)
            MHD_resume_connection(due[i]);
    } while (nd == 256);
}

static void *hang_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&hangs.stop)) {
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
        hang_resume(0);
    }
    return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned int status, const char *body,
                              const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int append(struct req *q, const char *data, size_t n)
{
    if (q->too_big || q->len + n > MAX_BODY) {
        q->too_big = 1;
        return 0;
    }
    if (q->len + n + 1 > q->cap) {
        size_t ncap = q->cap ? q->cap : 4096;
        while (ncap < q->len + n + 1)
            ncap *= 2;
        char *nb = realloc(q->body, ncap);
        if (!nb)
            return -1;
        q->body = nb;
        q->cap = ncap;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    q->body[q->len] = '\0';
    return 0;
}

static const char *sig_check(const char *header, const struct req *q)
{
    if (opt.nsecrets == 0)
        return "unchecked";
    if (!header)
        return "missing";
    int64_t now_s = psw_now_ms() / 1000;
    enum psw_verify_result r = PSW_VERIFY_NO_MATCH;
    for (size_t i = 0; i < opt.nsecrets && r != PSW_VERIFY_OK; i++) {
        r = psw_sign_verify(header, q->body ? q->body : "", q->len, opt.secrets[i],
                            opt.tolerance_s, now_s);
        if (r == PSW_VERIFY_BAD_FORMAT || r == PSW_VERIFY_TOO_OLD || r == PSW_VERIFY_TOO_NEW)
            break; /* the same answer for every secret */
    }
    switch (r) {
    case PSW_VERIFY_OK:
        return "ok";
    case PSW_VERIFY_BAD_FORMAT:
        return "bad(format)";
    case PSW_VERIFY_TOO_OLD:
        return "bad(too-old)";
    case PSW_VERIFY_TOO_NEW:
        return "bad(future)";
    case PSW_VERIFY_NO_MATCH:
        break;
    }
    return "bad";
}

static enum MHD_Result delivered(struct MHD_Connection *c, const char *url, struct req *q)
{
    const char *evt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-PostStack-Event-Id");
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-PostStack-Event-Type");
    const char *dlv =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-PostStack-Delivery-Id");
    const char *attempt =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-PostStack-Attempt");
    const char *sig =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-PostStack-Signature");
    int64_t now = psw_now_ms();
    uint64_t arrived_us = now_us();
    long long zero = 0;

    atomic_fetch_add(&st.requests, 1);
    atomic_fetch_add(&st.bytes, q->len);
    atomic_compare_exchange_strong(&st.first_ms, &zero, (long long)now);
    atomic_store(&st.last_ms, (long long)now);

    const char *sigstate = sig_check(sig, q);
    unsigned int status = (unsigned int)opt.status;
    const char *body = "ok\n";
    if (opt.nsecrets && strcmp(sigstate, "ok") != 0) {
        atomic_fetch_add(&st.bad_signatures, 1);
        status = 401;
        body = "bad signature\n";
    } else if (opt.fail_rate > 0 && rand_unit() < opt.fail_rate) {
        status = 500;
        body = "failing on purpose (--fail-rate)\n";
    } else if (opt.fail_attempts > 0 && attempt &&
               strtoll(attempt, NULL, 10) <= opt.fail_attempts) {
        status = 500;
        body = "failing on purpose (--fail-attempts)\n";
    }

    const char *seen = "";
    if (status >= 200 && status < 300) {
        atomic_fetch_add(&st.answered_2xx, 1);
        atomic_fetch_add(&st.by_type[type_index(type)], 1);
        char keybuf[1024];
        const char *key = evt;
        if (evt && opt.per_path) {
            snprintf(keybuf, sizeof(keybuf), "%s\n%s", url, evt);
            key = keybuf;
        }
        uint64_t stamp = bench_stamp(q->body, q->len);
        if (stamp)
            lat_record(arrived_us > stamp ? arrived_us - stamp : 0);
        if (!evt) {
            atomic_fetch_add(&st.no_event_id, 1);
        } else if (idset_add(key) == 0) {
            atomic_fetch_add(&st.duplicates, 1);
            seen = " duplicate";
        } else {
            atomic_fetch_add(&st.unique_events, 1);
        }
    } else {
        atomic_fetch_add(&st.answered_error, 1);
    }

    if (!opt.quiet) {
        char at[PSW_ISO_SIZE];
        psw_time_format(now, at);
        /* One call: stdio locks the stream per call, so lines never interleave. */
        printf("%s arrived %s evt=%s type=%s dlv=%s attempt=%s sig=%s status=%u bytes=%zu%s\n",
               at, url, evt ? evt : "-", type ? type : "-", dlv ? dlv : "-",
               attempt ? attempt : "-", sigstate, status, q->len, seen);
    }
    if (opt.delay_ms > 0) {
        struct timespec ts = { (time_t)(opt.delay_ms / 1000),
                               (long)(opt.delay_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return answer(c, status, body, "text/plain");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    int is_post = strcmp(method, "POST") == 0;

    if (!*con_cls) {
        /* First call: only the headers are known. */
        struct req *q = calloc(1, sizeof(*q));
        if (!q)
            return MHD_NO;
        *con_cls = q;
        return MHD_YES;
    }
    struct req *q = *con_cls;
    if (*upload_size) {
        if (append(q, upload_data, *upload_size) != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }

    if (is_post) {
        if (q->hung)
            return answer(c, (unsigned int)opt.status, "ok (after hanging)\n", "text/plain");
        if (opt.hang_path && strncmp(url, opt.hang_path, opt.hang_path_len) == 0) {
            atomic_fetch_add(&st.hung, 1);
            q->hung = 1;
            MHD_suspend_connection(c); /* first: only the timer thread resumes it */
            if (hang_add(c) != 0) {
                MHD_resume_connection(c);
                return MHD_NO;
            }
            return MHD_YES;
        }
        if (q->too_big) {
            atomic_fetch_add(&st.requests, 1);
            atomic_fetch_add(&st.answered_error, 1);
            return answer(c, 413, "body too large\n", "text/plain");
        }
        return delivered(c, url, q);
    }
    if (strcmp(url, "/stats") == 0 && strcmp(method, "GET") == 0) {
        char buf[2048];
        if (stats_json(buf, sizeof(buf)) < 0)
            return answer(c, 500, "stats too long\n", "text/plain");
        return answer(c, 200, buf, "application/json");
    }
    if (strcmp(url, "/stats") == 0 && strcmp(method, "DELETE") == 0) {
        idset_clear(0);
        counters_reset();
        return answer(c, 200, "reset\n", "text/plain");
    }
    if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0)
        return answer(c, 200, "ok\n", "text/plain");
    return answer(c, 405, "POST a webhook, or GET /stats\n", "text/plain");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct req *q = *con_cls;
    if (q) {
        free(q->body);
        free(q);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("psw-receiver: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- main -------------------------------------------------------------------- */

/* The whole of a (PEM) file, NUL-terminated; NULL with the reason on stderr. */
static char *read_pem(const char *opt_name, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f) {
        fprintf(stderr, "psw-receiver: %s: cannot open %s: %s\n", opt_name, path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4097) {
            char *nb = cap > (1u << 20) ? NULL : realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) {
                fprintf(stderr, "psw-receiver: %s: %s is too large\n", opt_name, path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || len == 0) {
        fprintf(stderr, "psw-receiver: %s: cannot read %s\n", opt_name, path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: psw-receiver [options]\n"
            "A webhook receiver: verifies X-PostStack-Signature, logs and counts arrivals.\n"
            "GET /stats: counters as JSON; DELETE /stats: reset them.\n\n"
            "  --port N          TCP port (default 8080; 0 = any free port, printed at start)\n"
            "  --bind ADDR       IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
            "  --secret S        endpoint secret to verify with; repeatable (rotation).\n"
            "                    With secrets, a missing or bad signature is answered 401.\n"
            "  --tolerance SEC   accepted |now - t| of a signature (default 300)\n"
            "  --status N        status of accepted requests (default 200)\n"
            "  --fail-rate P     answer 500 to this fraction (0..1) of requests\n"
            "  --delay-ms N      wait before answering (holds one pool thread)\n"
            "  --fail-attempts N answer 500 to attempts 1..N of every delivery\n"
            "  --hang-path P     POSTs whose path starts with P get no answer for\n"
            "                    --hang-ms (default 60000); no thread is held\n"
            "  --per-path        count unique ids per path (fan-out benchmarks)\n"
            "  --tls-cert FILE   serve HTTPS with this certificate (PEM; with --tls-key)\n"
            "  --tls-key FILE    its private key (PEM)\n"
            "  --threads N       size of the thread pool (default: online CPUs)\n"
            "  --quiet           no line per arrival\n"
            "  --help, --version\n");
}

static int parse_ll(const char *name, const char *s, long long min, long long max,
                    long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "psw-receiver: %s: expected an integer between %lld and %lld, got \"%s\"\n",
                name, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    enum { O_PORT = 1, O_BIND, O_SECRET, O_TOL, O_STATUS, O_FAIL, O_DELAY, O_THREADS, O_QUIET,
           O_HELP, O_VERSION, O_FAIL_ATTEMPTS, O_HANG_PATH, O_HANG_MS, O_PER_PATH, O_TLS_CERT,
           O_TLS_KEY };
    static const struct option lopts[] = {
        { "port", required_argument, NULL, O_PORT },
        { "bind", required_argument, NULL, O_BIND },
        { "secret", required_argument, NULL, O_SECRET },
        { "tolerance", required_argument, NULL, O_TOL },
        { "status", required_argument, NULL, O_STATUS },
        { "fail-rate", required_argument, NULL, O_FAIL },
        { "delay-ms", required_argument, NULL, O_DELAY },
        { "threads", required_argument, NULL, O_THREADS },
        { "quiet", no_argument, NULL, O_QUIET },
        { "fail-attempts", required_argument, NULL, O_FAIL_ATTEMPTS },
        { "hang-path", required_argument, NULL, O_HANG_PATH },
        { "hang-ms", required_argument, NULL, O_HANG_MS },
        { "per-path", no_argument, NULL, O_PER_PATH },
        { "tls-cert", required_argument, NULL, O_TLS_CERT },
        { "tls-key", required_argument, NULL, O_TLS_KEY },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 },
    };
    long long v;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    opt.bind = "127.0.0.1";
    opt.port = 8080;
    opt.tolerance_s = 300;
    opt.status = 200;
    opt.hang_ms = 60000;
    opt.threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1;
    opterr = 0;
    for (;;) {
        int o = getopt_long(argc, argv, "", lopts, NULL);
        if (o == -1)
            break;
        switch (o) {
        case O_PORT:
            if (parse_ll("--port", optarg, 0, 65535, &v) != 0)
                return 2;
            opt.port = (int)v;
            break;
        case O_BIND:
            opt.bind = optarg;
            break;
        case O_SECRET:
            if (opt.nsecrets == MAX_SECRETS) {
                fprintf(stderr, "psw-receiver: at most %d --secret\n", MAX_SECRETS);
                return 2;
            }
            if (!optarg[0]) {
                fprintf(stderr, "psw-receiver: --secret: empty\n");
                return 2;
            }
            opt.secrets[opt.nsecrets++] = optarg;
            break;
        case O_TOL:
            if (parse_ll("--tolerance", optarg, 0, 86400 * 365, &opt.tolerance_s) != 0)
                return 2;
            break;
        case O_STATUS:
            if (parse_ll("--status", optarg, 100, 599, &v) != 0)
                return 2;
            opt.status = (int)v;
            break;
        case O_FAIL: {
            char *end;
            errno = 0;
            double p = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(p >= 0.0 && p <= 1.0)) {
                fprintf(stderr, "psw-receiver: --fail-rate: expected a number between 0 and 1, "
                                "got \"%s\"\n", optarg);
                return 2;
            }
            opt.fail_rate = p;
            break;
        }
        case O_DELAY:
            if (parse_ll("--delay-ms", optarg, 0, 600000, &opt.delay_ms) != 0)
                return 2;
            break;
        case O_THREADS:
            if (parse_ll("--threads", optarg, 1, 1024, &v) != 0)
                return 2;
            opt.threads = (int)v;
            break;
        case O_QUIET:
            opt.quiet = 1;
            break;
        case O_FAIL_ATTEMPTS:
            if (parse_ll("--fail-attempts", optarg, 0, 1000000, &opt.fail_attempts) != 0)
                return 2;
            break;
        case O_HANG_PATH:
            if (optarg[0] != '/') {
                fprintf(stderr, "psw-receiver: --hang-path: must start with /\n");
                return 2;
            }
            opt.hang_path = optarg;
            opt.hang_path_len = strlen(optarg);
            break;
        case O_HANG_MS:
            if (parse_ll("--hang-ms", optarg, 1, 3600000, &opt.hang_ms) != 0)
                return 2;
            break;
        case O_PER_PATH:
            opt.per_path = 1;
            break;
        case O_TLS_CERT:
            opt.tls_cert = optarg;
            break;
        case O_TLS_KEY:
            opt.tls_key = optarg;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        case O_VERSION:
            printf("psw-receiver %s\n", PSW_VERSION);
            return 0;
        default:
            fprintf(stderr, "psw-receiver: unknown or incomplete option \"%s\"\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "psw-receiver: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!opt.tls_cert != !opt.tls_key) {
        fprintf(stderr, "psw-receiver: --tls-cert and --tls-key go together\n");
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage addr;
    struct addrinfo hints, *ai = NULL;
    struct MHD_Daemon *d = NULL;
    char *tls_cert = NULL, *tls_key = NULL;
    sigset_t stopset;
    char port_s[8];
    int rc = parse_args(argc, argv), sig = 0;

    if (rc >= 0)
        return rc;
    rc = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
    started_ms = psw_now_ms();
    atomic_store(&st.rand_state,
                 (unsigned long long)started_ms ^ ((unsigned long long)getpid() << 32));

    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port_s, sizeof(port_s), "%d", opt.port);
    int gai = getaddrinfo(opt.bind, port_s, &hints, &ai);
    if (gai != 0 || !ai || ai->ai_addrlen > sizeof(addr)) {
        fprintf(stderr, "psw-receiver: --bind: \"%s\" is not an IPv4 or IPv6 address\n", opt.bind);
        goto cleanup;
    }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);

    /* Blocked before the pool starts, so its threads inherit the mask and
     * only sigwait below takes these signals. */
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopset, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (opt.hang_path)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (opt.tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "psw-receiver: this libmicrohttpd has no TLS support\n");
            goto cleanup;
        }
        if (!(tls_cert = read_pem("--tls-cert", opt.tls_cert)) ||
            !(tls_key = read_pem("--tls-key", opt.tls_key)))
            goto cleanup;
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    d = MHD_start_daemon(flags, (uint16_t)opt.port, NULL, NULL, on_request, NULL,
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                         MHD_OPTION_ARRAY, opt.tls_cert ? tls_opts : tls_opts + 2,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt.threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)60000,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "psw-receiver: cannot listen on %s port %d: %s\n", opt.bind, opt.port,
                strerror(errno));
        goto cleanup;
    }
    if (opt.hang_path) {
        if (pthread_create(&hangs.thread, NULL, hang_main, NULL) != 0) {
            fprintf(stderr, "psw-receiver: cannot start the --hang-path timer thread\n");
            goto cleanup;
        }
        hangs.started = 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? (int)di->port : opt.port;
    printf("psw-receiver %s: listening on %s://%s%s%s:%d/ (%d threads, %zu secret(s)%s%s)\n",
           PSW_VERSION, opt.tls_cert ? "https" : "http", ai->ai_family == AF_INET6 ? "[" : "", opt.bind,
           ai->ai_family == AF_INET6 ? "]" : "", port, opt.threads, opt.nsecrets,
           opt.nsecrets ? ", bad signatures answered 401" : ", signatures not checked",
           opt.fail_rate > 0 ? ", failing a fraction on purpose" : "");

    while (sigwait(&stopset, &sig) != 0) {
    }
    rc = 0;
cleanup:
    if (hangs.started) {
        atomic_store(&hangs.stop, 1);
        pthread_join(hangs.thread, NULL);
    }
    if (d) {
        hang_resume(1); /* MHD must not stop with suspended connections */
        MHD_stop_daemon(d); /* joins the pool */
        char buf[2048];
        if (stats_json(buf, sizeof(buf)) > 0)
            fprintf(stderr, "psw-receiver: stopped (signal %d); stats %s", sig, buf);
    }
    if (ai)
        freeaddrinfo(ai);
    idset_clear(1);
    free(hangs.v);
    free(tls_cert);
    if (tls_key)
        OPENSSL_cleanse(tls_key, strlen(tls_key));
    free(tls_key);
    return rc;
}
