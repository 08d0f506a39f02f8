/*
 * receiver.c — the recording HTTP receiver of the black-box tests (see
 * receiver.h for the contract).
 *
 * Threads: libmicrohttpd runs one thread per connection and calls
 * on_request from it; the test thread calls the rx_* functions. All state of
 * a struct rx (rules, per-path counters, records, the stopping flag) is under
 * rx->mu; rx->cv (monotonic clock) is broadcast on every new record and on
 * stop, and is what rx_wait and the delay/hang pauses sleep on.
 * Invariants: records are kept in arrival order with increasing seq; a rule's
 * strings are owned by the rule, so a handler copies what it needs under the
 * lock before pausing (rx_set may replace the rule meanwhile).
 * Ownership: the body accumulated for a request moves into its record; the
 * per-request state is freed by the completion callback, also when a client
 * disconnects mid-upload.
 */
#include "tests/harness/receiver.h"

#include "common/timeutil.h"
#include "tests/harness/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RX_MAX_BODY (64u * 1024 * 1024)
#define RX_POLL_SLICE_MS 25

struct rule {
    char *path; /* NULL for the default rule */
    struct rx_behavior b; /* its strings are owned by the rule */
};

struct counter {
    char *path;
    size_t n; /* requests seen since the last rx_set/rx_reset touching path */
    size_t busy, max_busy; /* requests being answered now / at most (rx_max_busy) */
};

struct rec {
    uint64_t seq;
    struct rx_request r;
};

struct rx {
    struct MHD_Daemon *d;
    int port;
    char addr[INET_ADDRSTRLEN]; /* where it listens */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    struct rule def;
    struct rule *rules;
    size_t nrules;
    struct counter *ctrs;
    size_t nctrs;
    struct rec *recs;
    size_t nrecs, caprecs;
    uint64_t next_seq;
    unsigned seed;       /* rand_r state for random delays and failures */
    size_t busy, max_busy; /* over all paths (rx_max_busy(NULL)) */
    struct rx *reg_next; /* registry of live receivers */
};

/* Per-request state, *con_cls of libmicrohttpd. */
struct req_state {
    char *body;
    size_t len, cap;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "rx: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static char *xmemdup0(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static struct timespec mono_after(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- registry of live receivers (stopped at exit) ------------------------ */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static struct rx *reg_head;

static void reg_atexit(void)
{
    for (;;) {
        pthread_mutex_lock(&reg_mu);
        struct rx *rx = reg_head;
        pthread_mutex_unlock(&reg_mu);
        if (!rx)
            break;
        fprintf(stderr, "rx: receiver on port %d still running at exit (a test did not stop it)\n",
                rx->port);
        rx_stop(rx); /* unlinks it */
    }
}

static void reg_init(void)
{
    atexit(reg_atexit);
}

static void reg_add(struct rx *rx)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    rx->reg_next = reg_head;
    reg_head = rx;
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(struct rx *rx)
{
    pthread_mutex_lock(&reg_mu);
    for (struct rx **p = &reg_head; *p; p = &(*p)->reg_next) {
        if (*p == rx) {
            *p = rx->reg_next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
}

/* ---- rules, counters, records (callers hold rx->mu) ----------------------- */

static void behavior_free(struct rx_behavior *b)
{
    free((char *)b->retry_after);
    free((char *)b->location);
    free((char *)b->body);
    memset(b, 0, sizeof *b);
}

static void behavior_copy(struct rx_behavior *dst, const struct rx_behavior *src)
{
    *dst = *src;
    dst->retry_after = xstrdup(src->retry_after);
    dst->location = xstrdup(src->location);
    dst->body = xstrdup(src->body);
}

static struct rule *rule_find(struct rx *rx, const char *path)
{
    for (size_t i = 0; i < rx->nrules; i++)
        if (strcmp(rx->rules[i].path, path) == 0)
            return &rx->rules[i];
    return NULL;
}

static struct counter *counter_find(struct rx *rx, const char *path)
{
    for (size_t i = 0; i < rx->nctrs; i++)
        if (strcmp(rx->ctrs[i].path, path) == 0)
            return &rx->ctrs[i];
    return NULL;
}

/* Requests seen on path before this one; counts this one. */
static size_t counter_bump(struct rx *rx, const char *path)
{
    struct counter *c = counter_find(rx, path);
    if (!c) {
        struct counter *n = realloc(rx->ctrs, (rx->nctrs + 1) * sizeof *n);
        if (!n) {
            fprintf(stderr, "rx: out of memory\n");
            abort();
        }
        rx->ctrs = n;
        c = &rx->ctrs[rx->nctrs++];
        c->path = xstrdup(path);
        c->n = 0;
        c->busy = c->max_busy = 0;
    }
    return c->n++;
}

/* One more (+1) or one less (-1) request being answered on path. */
static void busy_add(struct rx *rx, const char *path, int d)
{
    struct counter *c = counter_find(rx, path);
    if (!c)
        return;
    c->busy = d > 0 ? c->busy + 1 : c->busy > 0 ? c->busy - 1 : 0;
    rx->busy = d > 0 ? rx->busy + 1 : rx->busy > 0 ? rx->busy - 1 : 0;
    if (c->busy > c->max_busy)
        c->max_busy = c->busy;
    if (rx->busy > rx->max_busy)
        rx->max_busy = rx->busy;
}

static void req_free_fields(struct rx_request *r)
{
    free(r->method);
    free(r->path);
    free(r->body);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    memset(r, 0, sizeof *r);
}

static void req_copy(struct rx_request *dst, const struct rx_request *src)
{
    *dst = *src;
    dst->method = xstrdup(src->method);
    dst->path = xstrdup(src->path);
    dst->body = xmemdup0(src->body, src->body_len);
    dst->names = xmalloc((src->nheaders ? src->nheaders : 1) * sizeof(char *));
    dst->values = xmalloc((src->nheaders ? src->nheaders : 1) * sizeof(char *));
    for (size_t i = 0; i < src->nheaders; i++) {
        dst->names[i] = xstrdup(src->names[i]);
        dst->values[i] = xstrdup(src->values[i]);
    }
}

static void set_status(struct rx *rx, uint64_t seq, int status)
{
    for (size_t i = rx->nrecs; i-- > 0;) {
        if (rx->recs[i].seq == seq) {
            rx->recs[i].r.status = status;
            return;
        }
        if (rx->recs[i].seq < seq)
            return; /* forgotten by rx_reset */
    }
}

static size_t count_locked(struct rx *rx, const char *path)
{
    if (!path)
        return rx->nrecs;
    size_t n = 0;
    for (size_t i = 0; i < rx->nrecs; i++)
        if (strcmp(rx->recs[i].r.path, path) == 0)
            n++;
    return n;
}

/* ---- the handler -------------------------------------------------------- */

struct hdrs {
    size_t n, cap;
    char **names, **values;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct hdrs *h = cls;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        char **nn = realloc(h->names, cap * sizeof *nn);
        char **nv = nn ? realloc(h->values, cap * sizeof *nv) : NULL;
        if (!nn || !nv) {
            fprintf(stderr, "rx: out of memory\n");
            abort();
        }
        h->names = nn;
        h->values = nv;
        h->cap = cap;
    }
    h->names[h->n] = xstrdup(key ? key : "");
    h->values[h->n] = xstrdup(value ? value : "");
    h->n++;
    return MHD_YES;
}

/* Sleeps ms (−1 = until stop) unless the receiver stops or the client
 * closes its end. 0 when the time ran out, −1 when the answer must not be
 * sent. */
static int pause_answer(struct rx *rx, struct MHD_Connection *c, int ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    long long deadline = ms >= 0 ? mono_ms() + ms : 0;
    int rc = -1;
    pthread_mutex_lock(&rx->mu);
    while (!rx->stopping) {
        int slice = RX_POLL_SLICE_MS;
        if (ms >= 0) {
            long long left = deadline - mono_ms();
            if (left <= 0) {
                rc = 0;
                break;
            }
            if (left < slice)
                slice = (int)left;
        }
        struct timespec ts = mono_after(slice);
        pthread_cond_timedwait(&rx->cv, &rx->mu, &ts);
        if (fd >= 0) {
            struct pollfd pf = { .fd = fd, .events = POLLRDHUP };
            if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                break; /* the client gave up */
        }
    }
    pthread_mutex_unlock(&rx->mu);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct rx *rx = cls;
    struct req_state *st = *con_cls;
    if (!st) { /* headers are in; the body (if any) comes in later calls */
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t add = *upload_data_size;
        if (st->len + add > RX_MAX_BODY) {
            fprintf(stderr, "rx: request body over %u bytes, dropping the connection\n",
                    RX_MAX_BODY);
            return MHD_NO;
        }
        if (st->len + add + 1 > st->cap) {
            size_t cap = st->cap ? st->cap : 4096;
            while (cap < st->len + add + 1)
                cap *= 2;
            char *nb = realloc(st->body, cap);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->cap = cap;
        }
        memcpy(st->body + st->len, upload_data, add);
        st->len += add;
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* The request is complete: record it, then answer as scripted. */
    struct rx_request r;
    memset(&r, 0, sizeof r);
    struct hdrs h = { 0 };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &h);
    r.method = xstrdup(method);
    r.path = xstrdup(url);
    r.body = st->body ? st->body : xstrdup("");
    r.body_len = st->len;
    st->body = NULL;
    st->len = st->cap = 0;
    r.nheaders = h.n;
    r.names = h.names ? h.names : xmalloc(sizeof(char *));
    r.values = h.values ? h.values : xmalloc(sizeof(char *));
    r.at_ms = psw_now_ms();
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (addr && addr->client_addr) {
        const struct sockaddr *sa = addr->client_addr;
        if (sa->sa_family == AF_INET)
            r.client_port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
        else if (sa->sa_family == AF_INET6)
            r.client_port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    }

    pthread_mutex_lock(&rx->mu);
    const struct rule *rule = rule_find(rx, url);
    if (!rule)
        rule = &rx->def;
    struct rx_behavior b = rule->b; /* strings copied below, before unlocking */
    size_t seen = counter_bump(rx, url);
    int failing = 0;
    int status;
    if (b.always_status) {
        status = b.always_status;
    } else if (seen < (size_t)(b.fail_first > 0 ? b.fail_first : 0)) {
        status = b.fail_status ? b.fail_status : 500;
        failing = 1;
    } else {
        status = b.status ? b.status : 200;
    }
    if (!failing && !b.always_status && b.fail_first_attempt_pct > 0) {
        const char *att = NULL;
        for (size_t i = 0; i < r.nheaders; i++)
            if (strcasecmp(r.names[i], "X-PostStack-Attempt") == 0)
                att = r.values[i];
        if (att && strcmp(att, "1") == 0 &&
            (int)(rand_r(&rx->seed) % 100) < b.fail_first_attempt_pct) {
            status = b.fail_status ? b.fail_status : 500;
            failing = 1;
        }
    }
    int delay = b.delay_ms;
    if (b.delay_max_ms > b.delay_ms)
        delay += (int)(rand_r(&rx->seed) % (unsigned)(b.delay_max_ms - b.delay_ms + 1));
    busy_add(rx, url, +1);
    int busy = 1;
    char *body = xstrdup(b.body ? b.body : "ok");
    char *retry_after = xstrdup(b.retry_after);
    char *location = xstrdup(b.location);
    r.status = b.hang ? 0 : status;
    if (rx->nrecs == rx->caprecs) {
        size_t cap = rx->caprecs ? rx->caprecs * 2 : 64;
        struct rec *nr = realloc(rx->recs, cap * sizeof *nr);
        if (!nr) {
            fprintf(stderr, "rx: out of memory\n");
            abort();
        }
        rx->recs = nr;
        rx->caprecs = cap;
    }
    uint64_t seq = rx->next_seq++;
    rx->recs[rx->nrecs].seq = seq;
    rx->recs[rx->nrecs].r = r;
    rx->nrecs++;
    int stopping = rx->stopping;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);

    enum MHD_Result ret = MHD_NO;
    struct MHD_Response *resp = NULL;
    if (stopping || b.hang) {
        if (!stopping)
            pause_answer(rx, conn, -1);
        goto unanswered;
    }
    if (delay > 0 && pause_answer(rx, conn, delay) != 0)
        goto unanswered;

    resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        goto unanswered;
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    /* no longer busy before the answer leaves: the client cannot have it yet */
    pthread_mutex_lock(&rx->mu);
    busy_add(rx, url, -1);
    busy = 0;
    pthread_mutex_unlock(&rx->mu);
    if (retry_after && (failing || status >= 400))
        MHD_add_response_header(resp, "Retry-After", retry_after);
    if (location)
        MHD_add_response_header(resp, "Location", location);
    ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        goto done;

unanswered:
    pthread_mutex_lock(&rx->mu);
    set_status(rx, seq, 0);
    if (busy)
        busy_add(rx, url, -1);
    pthread_mutex_unlock(&rx->mu);
    ret = MHD_NO; /* closes the connection */
done:
    free(body);
    free(retry_after);
    free(location);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req_state *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's error log, minus the line it writes whenever a handler
 * closes a connection on purpose (hang, delay cut short, stop). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    if (strstr(line, "Application reported internal error"))
        return;
    fprintf(stderr, "rx: %s%s", line, (*line && line[strlen(line) - 1] == '\n') ? "" : "\n");
}

/* ---- public API ---------------------------------------------------------- */

struct rx *rx_start(void)
{
    return rx_start_at("127.0.0.1");
}

struct rx *rx_start_at(const char *ipv4)
{
    harness_init();
    struct rx *rx = calloc(1, sizeof *rx);
    if (!rx) {
        fprintf(stderr, "rx: out of memory\n");
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rx->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&rx->mu, NULL);
    rx->seed = (unsigned)getpid() ^ (unsigned)psw_now_ms();

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    if (inet_pton(AF_INET, ipv4, &sin.sin_addr) != 1) {
        fprintf(stderr, "rx: %s is not an IPv4 address\n", ipv4);
        goto fail;
    }
    snprintf(rx->addr, sizeof(rx->addr), "%s", ipv4);
    sin.sin_port = 0;
    rx->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                 MHD_USE_ERROR_LOG,
                             0, NULL, NULL, on_request, rx,
                             MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* must be first */
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, rx,
                             MHD_OPTION_END);
    if (!rx->d) {
        fprintf(stderr, "rx: MHD_start_daemon on %s failed: %s\n", ipv4, strerror(errno));
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(rx->d, MHD_DAEMON_INFO_BIND_PORT);
    if (!di || di->port == 0) {
        fprintf(stderr, "rx: cannot read back the listening port\n");
        goto fail;
    }
    rx->port = di->port;
    reg_add(rx);
    return rx;

fail:
    if (rx->d)
        MHD_stop_daemon(rx->d);
    pthread_cond_destroy(&rx->cv);
    pthread_mutex_destroy(&rx->mu);
    free(rx);
    return NULL;
}

void rx_stop(struct rx *rx)
{
    if (!rx)
        return;
    reg_remove(rx);
    pthread_mutex_lock(&rx->mu);
    rx->stopping = 1;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
    MHD_stop_daemon(rx->d); /* joins every connection thread */

    behavior_free(&rx->def.b);
    for (size_t i = 0; i < rx->nrules; i++) {
        free(rx->rules[i].path);
        behavior_free(&rx->rules[i].b);
    }
    free(rx->rules);
    for (size_t i = 0; i < rx->nctrs; i++)
        free(rx->ctrs[i].path);
    free(rx->ctrs);
    for (size_t i = 0; i < rx->nrecs; i++)
        req_free_fields(&rx->recs[i].r);
    free(rx->recs);
    pthread_cond_destroy(&rx->cv);
    pthread_mutex_destroy(&rx->mu);
    free(rx);
}

int rx_port(const struct rx *rx)
{
    return rx->port;
}

void rx_url(const struct rx *rx, const char *path, char *out, size_t n)
{
    snprintf(out, n, "http://%s:%d%s", rx->addr, rx->port, path ? path : "/");
}

void rx_set(struct rx *rx, const char *path, const struct rx_behavior *b)
{
    pthread_mutex_lock(&rx->mu);
    if (!path) {
        behavior_free(&rx->def.b);
        if (b)
            behavior_copy(&rx->def.b, b);
        for (size_t i = 0; i < rx->nctrs; i++)
            if (!rule_find(rx, rx->ctrs[i].path))
                rx->ctrs[i].n = 0;
    } else {
        struct rule *r = rule_find(rx, path);
        if (r && !b) {
            free(r->path);
            behavior_free(&r->b);
            *r = rx->rules[--rx->nrules];
        } else if (b) {
            if (!r) {
                struct rule *nr = realloc(rx->rules, (rx->nrules + 1) * sizeof *nr);
                if (!nr) {
                    fprintf(stderr, "rx: out of memory\n");
                    abort();
                }
                rx->rules = nr;
                r = &rx->rules[rx->nrules++];
                r->path = xstrdup(path);
                memset(&r->b, 0, sizeof r->b);
            }
            behavior_free(&r->b);
            behavior_copy(&r->b, b);
        }
        struct counter *c = counter_find(rx, path);
        if (c)
            c->n = 0;
    }
    pthread_mutex_unlock(&rx->mu);
}

size_t rx_count(struct rx *rx, const char *path)
{
    pthread_mutex_lock(&rx->mu);
    size_t n = count_locked(rx, path);
    pthread_mutex_unlock(&rx->mu);
    return n;
}

size_t rx_max_busy(struct rx *rx, const char *path)
{
    pthread_mutex_lock(&rx->mu);
    size_t n = rx->max_busy;
    if (path) {
        const struct counter *c = counter_find(rx, path);
        n = c ? c->max_busy : 0;
    }
    pthread_mutex_unlock(&rx->mu);
    return n;
}

int rx_wait(struct rx *rx, const char *path, size_t n, int timeout_ms)
{
    struct timespec deadline = mono_after(timeout_ms > 0 ? timeout_ms : 0);
    int rc = 0;
    pthread_mutex_lock(&rx->mu);
    while (count_locked(rx, path) < n) {
        if (pthread_cond_timedwait(&rx->cv, &rx->mu, &deadline) == ETIMEDOUT) {
            rc = count_locked(rx, path) >= n ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&rx->mu);
    return rc;
}

size_t rx_requests(struct rx *rx, const char *path, struct rx_request **out)
{
    *out = NULL;
    pthread_mutex_lock(&rx->mu);
    size_t n = count_locked(rx, path);
    if (n > 0) {
        struct rx_request *v = xmalloc(n * sizeof *v);
        size_t k = 0;
        for (size_t i = 0; i < rx->nrecs; i++)
            if (!path || strcmp(rx->recs[i].r.path, path) == 0)
                req_copy(&v[k++], &rx->recs[i].r);
        *out = v;
    }
    pthread_mutex_unlock(&rx->mu);
    return n;
}

void rx_requests_free(struct rx_request *reqs, size_t n)
{
    if (!reqs)
        return;
    for (size_t i = 0; i < n; i++)
        req_free_fields(&reqs[i]);
    free(reqs);
}

const char *rx_header(const struct rx_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

void rx_reset(struct rx *rx)
{
    pthread_mutex_lock(&rx->mu);
    for (size_t i = 0; i < rx->nrecs; i++)
        req_free_fields(&rx->recs[i].r);
    rx->nrecs = 0;
    for (size_t i = 0; i < rx->nctrs; i++)
        free(rx->ctrs[i].path);
    free(rx->ctrs);
    rx->ctrs = NULL;
    rx->nctrs = 0;
    rx->max_busy = rx->busy;
    pthread_mutex_unlock(&rx->mu);
}
