/*
 * child.c — the worker child's event loop.
 *
 * State: an array of worker.concurrency slots. A slot is FREE, RUNNING (its
 * easy handle is on the multi handle) or DONE (the outcome is known and its
 * completion not yet written to Redis). A slot is freed only after its
 * completion was written, so results survive a Redis outage in memory and
 * are written after the reconnect (complete.lua is idempotent per attempt).
 *
 * Two Redis connections: `r` for claims, completions and heartbeats, and
 * `rb` which parks one BLMOVE (ready → this child's in-flight list) whenever
 * the ready list ran dry and slots are free. Its socket is polled together
 * with curl's, so new work starts the moment it is published even while
 * requests are in flight, and a parked id is never outside a Redis list.
 *
 * Every id in queue:inflight:<wid> is either held by a slot here, or about
 * to be taken by the next claim (adopted). After any reconnect the list is
 * reconciled: ids no slot holds are adopted again.
 *
 * An error reply (OOM under maxmemory with noeviction, BUSY …) leaves the
 * connection up, so nothing waits for a reconnect: the child then backs off
 * (no claim, completion write, reconcile or park before err_until, the delay
 * doubling up to ERR_BACKOFF_MAX_MS) instead of retrying every loop turn,
 * and logs the episode once at its start and once at its end. Completions
 * refused by such a transient error stay DONE and are written afterwards
 * (nothing of a script runs when Redis refuses it for memory).
 *
 * On a Redis Cluster (redis.cluster, docs/redis.md "Redis Cluster") the
 * child serves the logical shards in turn, a slice at a time, with a
 * connection pair per shard (c->cfg, c->r and c->rb are the current
 * shard's). A slice ends after SLICE_MS, or at once when the shard has
 * nothing (ready empty, nothing in flight; a short BLMOVE of CLUSTER_PARK_MS
 * is parked on one shard per idle round, see park_here); the child then claims no
 * more, finishes and writes what it has in flight, hands back anything a
 * BLMOVE moved, and goes on to the next shard. Each child starts at a
 * different shard, so a slow or unreachable shard holds up one slice of one
 * child, never the others.
 */
#include "worker/child.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "common/check.h"
#include "common/ctx.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/replies.h"
#include "common/reply.h"
#include "common/retry.h"
#include "common/secrets.h"
#include "common/timeutil.h"
#include "worker/http.h"

#define PARK_TIMEOUT_MS 1000 /* at most; see park_timeout */
#define PARK_STUCK_MS 8000 /* a parked BLMOVE unanswered this long: drop the connection */
#define ERR_BACKOFF_MIN_MS 100
#define ERR_BACKOFF_MAX_MS 5000
#define SLICE_MS 1000        /* cluster mode: longest turn on one shard */
#define CLUSTER_PARK_MS 20   /* cluster mode: a BLMOVE this long finds a shard empty */

enum slot_state { SLOT_FREE = 0, SLOT_RUNNING, SLOT_DONE };

struct slot {
    enum slot_state state;
    struct psw_attempt a;
    /* the completion, once DONE */
    int     ok;
    int     gone;          /* the receiver answered 410 Gone */
    int     local;         /* failed in the worker, before any request */
    int64_t end_ms;
    int64_t latency_ms;
    int64_t next_at;       /* 0 = none */
    const char *reason;    /* give-up reason, static */
    char    err[512];
    char   *record;
};

struct child {
    const struct psw_config *cfg;
    struct psw_redis *r;
    struct psw_redis *rb;
    CURLM *multi;
    char   wid[PSW_ID_SIZE + 96];
    char   host[64];
    struct slot *slots;
    int    nslots;
    int    busy;           /* RUNNING + DONE */
    int    parked;
    int64_t parked_at;
    int    drained;        /* the last claim found ready empty */
    /* Redis's clock minus our monotonic clock (ms), 0 = not known yet: the
     * largest difference a claim reply showed lately, since a reply read
     * late only makes it smaller. Dates the end of attempts on Redis's
     * clock, so a retry delay counts from the real end (docs/architecture.md). */
    int64_t redis_offset;
    int64_t redis_offset_at; /* monotonic time of the sample it holds */
    int    reconcile;      /* the in-flight list may hold ids no slot has */
    uint64_t gen_r;
    int64_t next_heartbeat;
    int64_t started_at;
    struct psw_retry_policy policy;
    volatile sig_atomic_t *stop;
    char   retention[24];
    char   cap[16];
    char   park_timeout[24]; /* BLMOVE timeout in seconds */
    char   disable_after[16];
    long long delivered, failed;
    /* Redis round trips by kind, and attempts claimed and recorded (logged at exit) */
    long long rt_claim, rt_complete, rt_heartbeat, rt_park, claimed, completed;
    /* alert POSTs to alerts.webhook_url */
    CURL  *alert_easy[8];
    char  *alert_body[8];
    size_t alert_seen[8];  /* response bytes, only counted */
    struct curl_slist *alert_headers;
    struct psw_secrets_keyring keys; /* opens sealed endpoint secrets */
    struct psw_netguard guard; /* SSRF guard for deliveries (not for alerts, see post_alert) */
    /* error replies: back off until err_until (monotonic ms), see the file comment */
    int64_t err_until, err_backoff, err_since;
    unsigned err_count;
    unsigned hb_failing;     /* heartbeats refused in a row */
    /* cluster mode (see the file comment); nshards 0 without cluster */
    unsigned nshards, shard;
    struct child_shard {
        struct psw_config *cfg;
        struct psw_redis *r, *rb;
        uint64_t gen_r;
        int64_t next_heartbeat;
    } *shards;
    int64_t slice_end;
    int     empty_park;      /* the last parked BLMOVE timed out: the shard is empty */
    unsigned empty_run;      /* shards in a row left with nothing claimed */
    long long claimed_at_slice; /* c->claimed when the slice began */
};

/* ---- helpers ---------------------------------------------------------- */

static char *dup_reply_str(const redisReply *rep, size_t i, size_t *len)
{
    const redisReply *e = rep->element[i];
    if (e->type == REDIS_REPLY_INTEGER) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lld", e->integer);
        if (len)
            *len = (size_t)n;
        return strdup(buf);
    }
    if (e->type != REDIS_REPLY_STRING)
        return strdup("");
    char *s = malloc(e->len + 1);
    if (s) {
        memcpy(s, e->str, e->len);
        s[e->len] = '\0';
    }
    if (len)
        *len = e->len;
    return s;
}

static struct slot *free_slot(struct child *c)
{
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].state == SLOT_FREE)
            return &c->slots[i];
    return NULL;
}

static int holds(const struct child *c, const char *id)
{
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].state != SLOT_FREE && c->slots[i].a.job.id &&
            strcmp(c->slots[i].a.job.id, id) == 0)
            return 1;
    return 0;
}

/* Redis refused a call with an error reply: back off (logged once per
 * episode). */
static void redis_refused(struct child *c, const char *what, const redisReply *rep)
{
    const char *why = rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply";
    int64_t now = psw_mono_ms();
    if (c->err_count++ == 0) {
        c->err_since = now;
        log_error("%s: %s; backing off until Redis accepts it again", what, why);
    } else {
        log_debug("%s: %s (still failing)", what, why);
    }
    c->err_backoff = c->err_backoff ? c->err_backoff * 2 : ERR_BACKOFF_MIN_MS;
    if (c->err_backoff > ERR_BACKOFF_MAX_MS)
        c->err_backoff = ERR_BACKOFF_MAX_MS;
    c->err_until = now + c->err_backoff;
}

/* Still within the backoff of an error reply. */
static int refused_lately(const struct child *c)
{
    return c->err_until && psw_mono_ms() < c->err_until;
}

/* A call that writes went through: the end of an error episode, if any. */
static void redis_accepted(struct child *c)
{
    if (c->err_count == 0)
        return;
    log_info("Redis accepts writes again after %.1fs (%u refused calls)",
             (double)(psw_mono_ms() - c->err_since) / 1000.0, c->err_count);
    c->err_count = 0;
    c->err_backoff = 0;
    c->err_until = 0;
}

/* An error that goes away by itself (memory freed, a long script ended, a
 * replica promoted): what it refused is simply tried again later. */
static int transient_error(const redisReply *rep)
{
    static const char *const kinds[] = { "OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN",
                                         "TRYAGAIN", "NOREPLICAS" };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (psw_redis_reply_is_error(rep, kinds[i]))
            return 1;
    return 0;
}

/* Marks s DONE with the outcome of its attempt. */
static void finish_slot(struct child *c, struct slot *s, CURLcode rc, int started)
{
    struct psw_attempt *a = &s->a;
    int64_t now_mono = psw_mono_ms();
    int64_t ra = 0;

    s->latency_ms = started ? now_mono - a->started_mono : 0;
    /* started_at is the claim's Redis time; the request may have started
     * later (the reply read late, other deliveries of the claim set up
     * first), so started_at + latency can be early by that much, and a
     * retry scheduled from it would come early. */
    s->end_ms = a->started_at + s->latency_ms;
    if (c->redis_offset && c->redis_offset + now_mono > s->end_ms)
        s->end_ms = c->redis_offset + now_mono;
    s->gone = 0;
    s->local = !started;
    if (started)
        s->gone = psw_attempt_finish(a, rc, s->end_ms, &s->ok, &ra, s->err, sizeof(s->err));
    s->next_at = 0;
    s->reason = "";
    if (!s->ok) {
        int64_t next;
        const char *why = NULL;
        if (psw_retry_next(&c->policy, a->job.cycle_attempts, a->job.cycle_started_at, s->end_ms,
                           ra, &next, &why) == PSW_RETRY_AT)
            s->next_at = next;
        else
            s->reason = why;
    }
    s->record = psw_attempt_record(a, s->end_ms, s->latency_ms, s->err);
    s->state = SLOT_DONE;
    if (s->ok)
        log_debug("%s attempt %d: %ld in %lld ms", a->job.id, a->job.attempt, a->status,
                  (long long)s->latency_ms);
    else
        log_info("%s attempt %d to %s failed: %s%s", a->job.id, a->job.attempt,
                 a->job.endpoint_id, s->err, s->next_at ? "; retry scheduled" : "; giving up");
}

/* ---- claiming --------------------------------------------------------- */

/* Starts the request of one claimed delivery (fields at rep->element[at]). */
static void start_delivery(struct child *c, const redisReply *rep, size_t at, int64_t now)
{
    struct slot *s = free_slot(c);
    struct psw_delivery_job job;
    char err[256];

    if (!s) { /* claims never ask for more than the free slots */
        PSW_BUG("no free slot for a claimed delivery; it stays in the in-flight list");
        c->reconcile = 1;
        return;
    }
    memset(&job, 0, sizeof(job));
    job.id = dup_reply_str(rep, at + PSW_JOB_ID, NULL);
    job.event_id = dup_reply_str(rep, at + PSW_JOB_EVENT_ID, NULL);
    job.event_type = dup_reply_str(rep, at + PSW_JOB_EVENT_TYPE, NULL);
    job.endpoint_id = dup_reply_str(rep, at + PSW_JOB_ENDPOINT_ID, NULL);
    job.url = dup_reply_str(rep, at + PSW_JOB_URL, NULL);
    job.attempt = (int)psw_reply_int(rep, at + PSW_JOB_ATTEMPT, 1);
    job.trigger = dup_reply_str(rep, at + PSW_JOB_TRIGGER, NULL);
    job.cycle_started_at = psw_reply_int(rep, at + PSW_JOB_CYCLE_STARTED_AT, now);
    job.cycle_attempts = (int)psw_reply_int(rep, at + PSW_JOB_CYCLE_ATTEMPTS, 1);
    job.secrets[0] = dup_reply_str(rep, at + PSW_JOB_SECRET, NULL);
    job.secrets[1] = dup_reply_str(rep, at + PSW_JOB_SECRET_PREV, NULL);
    job.body = dup_reply_str(rep, at + PSW_JOB_BODY, &job.body_len);
    job.signing = dup_reply_str(rep, at + PSW_JOB_SIGNING, NULL);
    job.signing_key = dup_reply_str(rep, at + PSW_JOB_SIGNING_KEY, NULL);
    job.headers = dup_reply_str(rep, at + PSW_JOB_HEADERS, NULL);
    /* Sealed values are opened here; if one cannot be, all are blanked,
     * so psw_attempt_start refuses (no request) and serr is recorded. */
    char serr[256] = "";
    char *sealed[4] = { job.secrets[0], job.secrets[1], job.signing_key, job.headers };
    if (job.endpoint_id)
        psw_secrets_open_all(&c->keys, job.endpoint_id, sealed, 4, serr, sizeof(serr));
    job.secrets[0] = sealed[0];
    job.secrets[1] = sealed[1];
    job.signing_key = sealed[2];
    job.headers = sealed[3];

    s->err[0] = '\0';
    s->ok = 0;
    c->busy++;
    if (!job.id || !job.body || !job.url || !job.trigger || !job.secrets[0] || !job.signing ||
        !job.signing_key || !job.headers ||
        psw_attempt_start(&s->a, c->cfg, &c->guard, &job, now / 1000, err, sizeof(err)) < 0) {
        if (!job.id)
            snprintf(err, sizeof(err), "out of memory");
        psw_delivery_job_free(&job); /* no-op when the attempt took it */
        s->a.started_at = now;
        if (serr[0])
            snprintf(s->err, sizeof(s->err), "%s", serr);
        else
            snprintf(s->err, sizeof(s->err), "worker: %s", err);
        finish_slot(c, s, CURLE_OK, 0);
        return;
    }
    s->a.started_at = now;
    CURLMcode mc = curl_multi_add_handle(c->multi, s->a.easy);
    if (mc != CURLM_OK) {
        snprintf(s->err, sizeof(s->err), "worker: curl: %s", curl_multi_strerror(mc));
        finish_slot(c, s, CURLE_OK, 0);
        return;
    }
    s->state = SLOT_RUNNING;
}

/* claim.lua's arguments for up to free_n slots, adopting the given ids
 * (argv must hold 4 + 64). Returns argc, or 0 when nothing is to be asked. */
struct claim_args {
    char want[16];
    const char *argv[4 + 64];
};

static int claim_args(struct child *c, int free_n, const char *const *adopt, int nadopt,
                      struct claim_args *ca)
{
    int want = free_n < c->cfg->worker_claim_batch ? free_n : c->cfg->worker_claim_batch;
    if (nadopt > 64)
        nadopt = 64;
    if (want < nadopt)
        want = nadopt;
    if (want <= 0)
        return 0;
    snprintf(ca->want, sizeof(ca->want), "%d", want);
    ca->argv[0] = c->cfg->redis_prefix;
    ca->argv[1] = c->wid;
    ca->argv[2] = ca->want;
    ca->argv[3] = c->cap;
    for (int i = 0; i < nadopt; i++)
        ca->argv[4 + i] = adopt[i];
    return 4 + nadopt;
}

/* Keeps c->redis_offset: the largest (Redis time - our monotonic time) seen
 * within 10 s, a fresher sample replacing an older one after that, so a
 * stepped Redis clock is followed. */
static void note_redis_clock(struct child *c, int64_t redis_now)
{
    int64_t mono = psw_mono_ms();
    int64_t off = redis_now - mono;
    if (!c->redis_offset || off > c->redis_offset || mono - c->redis_offset_at > 10000) {
        c->redis_offset = off;
        c->redis_offset_at = mono;
    }
}

/* Starts the deliveries of a claim.lua reply (the caller frees it).
 * Returns how many, or -1 for an error reply. */
static int claim_reply(struct child *c, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < PSW_CLAIM__HEAD) {
        redis_refused(c, "claim", rep);
        return -1;
    }
    int64_t now = psw_reply_int(rep, PSW_CLAIM_NOW, psw_now_ms());
    int n = (int)psw_reply_int(rep, PSW_CLAIM_CLAIMED, 0);
    note_redis_clock(c, now);
    c->drained = psw_reply_int(rep, PSW_CLAIM_DRAINED, 0) != 0;
    if (n < 0 || rep->elements != PSW_CLAIM__HEAD + (size_t)n * PSW_JOB__COUNT) {
        PSW_BUG("claim: %zu fields for %d deliveries (common/replies.h and the Lua R table "
                "disagree?)", rep->elements, n);
        n = 0; /* what it claimed stays in our list: the reconcile adopts it */
        c->reconcile = 1;
    }
    if (n > 0) /* an empty claim may have written nothing: it proves nothing */
        redis_accepted(c);
    for (int i = 0; i < n; i++)
        start_delivery(c, rep, PSW_CLAIM__HEAD + (size_t)i * PSW_JOB__COUNT, now);
    c->claimed += n;
    return n;
}

/* One claim.lua call for up to the free slots (adopting the given ids).
 * Returns the number claimed, or -1 when Redis failed. */
static int claim(struct child *c, const char *const *adopt, int nadopt)
{
    struct claim_args ca;
    int argc = claim_args(c, c->nslots - c->busy, adopt, nadopt, &ca);
    if (argc == 0)
        return 0;
    redisReply *rep = psw_redis_eval(c->r, PSW_SCRIPT_CLAIM, argc, ca.argv, NULL);
    if (!rep)
        return -1;
    c->rt_claim++;
    int n = claim_reply(c, rep);
    freeReplyObject(rep);
    return n;
}

/* Adopts every id in our in-flight list that no slot holds. */
static void reconcile(struct child *c)
{
    char key[PSW_KEY_SIZE];
    psw_key(key, sizeof(key), c->cfg->redis_prefix, PSW_KEY_INFLIGHT, c->wid);
    redisReply *rep = psw_redis_command(c->r, "LRANGE %s 0 -1", key);
    if (!rep)
        return;
    const char *adopt[64];
    int n = 0;
    if (rep->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < rep->elements && n < 64; i++)
            if (rep->element[i]->type == REDIS_REPLY_STRING && !holds(c, rep->element[i]->str))
                adopt[n++] = rep->element[i]->str;
    int more = rep->type == REDIS_REPLY_ARRAY && (size_t)n < rep->elements &&
               n == 64;
    if (n > 0) {
        log_info("reconciling: %d id(s) in the in-flight list were not held; taking them", n);
        if (n > c->nslots - c->busy)
            n = c->nslots - c->busy;
        if (claim(c, adopt, n) < 0) {
            freeReplyObject(rep);
            return;
        }
    }
    c->reconcile = more || n > 0; /* look again until nothing is left over */
    if (n == 0)
        c->reconcile = 0;
    freeReplyObject(rep);
}

/* ---- parking ---------------------------------------------------------- */

static void park(struct child *c)
{
    char ready[PSW_KEY_SIZE], mine[PSW_KEY_SIZE];
    psw_key(ready, sizeof(ready), c->cfg->redis_prefix, PSW_KEY_READY, NULL);
    psw_key(mine, sizeof(mine), c->cfg->redis_prefix, PSW_KEY_INFLIGHT, c->wid);
    const char *argv[] = { "BLMOVE", ready, mine, "RIGHT", "LEFT", c->park_timeout };
    if (psw_redis_send(c->rb, 6, argv, NULL) == 0) {
        c->rt_park++;
        c->parked = 1;
        c->parked_at = psw_mono_ms();
    }
}

/* Drops the parked BLMOVE: whatever it moves stays in our in-flight list
 * and is found by the next reconcile (or handed back at exit). */
static void unpark(struct child *c)
{
    if (c->parked) {
        psw_redis_disconnect(c->rb);
        c->parked = 0;
        c->reconcile = 1;
    }
}

static void parked_readable(struct child *c)
{
    redisReply *rep = NULL;
    int rc = psw_redis_try_read(c->rb, &rep);
    if (rc == 0)
        return;
    c->parked = 0;
    if (rc < 0) {
        c->reconcile = 1;
        return;
    }
    if (rep->type != REDIS_REPLY_ERROR)
        redis_accepted(c);
    if (rep->type == REDIS_REPLY_NIL && c->nshards > 0)
        c->empty_park = 1;
    if (rep->type == REDIS_REPLY_STRING) {
        const char *id = rep->str;
        if (claim(c, &id, 1) < 0)
            c->reconcile = 1; /* the id waits in our list */
    } else if (rep->type == REDIS_REPLY_ERROR) {
        redis_refused(c, "BLMOVE", rep);
    }
    c->drained = 0; /* there was (or may be) more: claim again before parking */
    freeReplyObject(rep);
}

/* ---- completions ------------------------------------------------------ */

/* What an alert receiver answers is only counted: an operator's endpoint
 * has nothing to say to the worker, and its body must not reach our logs
 * (libcurl's default would copy it to stdout). */
#define ALERT_MAX_RESPONSE (64 * 1024)

static size_t alert_body_sink(char *data, size_t size, size_t nmemb, void *userp)
{
    size_t *seen = userp;
    (void)data;
    *seen += size * nmemb;
    return *seen > ALERT_MAX_RESPONSE ? 0 : size * nmemb; /* 0: cut an endless answer */
}

/* o[key] = a new string s; -1 when out of memory. */
static int add_str(json_object *o, const char *key, const char *s)
{
    json_object *v = json_object_new_string(s ? s : "");
    if (!v || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

/* The alert as JSON (caller frees), or NULL when out of memory. */
static char *alert_json(const char *alert_id, const char *ep, const char *why, int64_t at)
{
    char iso[PSW_ISO_SIZE];
    char *out = NULL;
    json_object *o = json_object_new_object();
    psw_time_format(at, iso);
    if (o && add_str(o, "type", "endpoint_disabled") == 0 && add_str(o, "alert_id", alert_id) == 0 &&
        add_str(o, "endpoint_id", ep) == 0 && add_str(o, "reason", why) == 0 &&
        add_str(o, "at", iso) == 0) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        out = s ? strdup(s) : NULL;
    }
    json_object_put(o);
    return out;
}

/* POSTs an alert to alerts.webhook_url. The URL is the operator's, so the
 * SSRF guard does not apply to it; for that reason its connection is its
 * own: never one a delivery opened (FRESH_CONNECT), and never kept for a
 * delivery to reuse unchecked (FORBID_REUSE) — see docs/security.md. */
static void post_alert(struct child *c, const char *alert_id, const char *ep, const char *why,
                       int64_t at)
{
    if (!c->cfg->alerts_webhook_url || !c->cfg->alerts_webhook_url[0])
        return;
    int i;
    for (i = 0; i < 8 && c->alert_easy[i]; i++)
        ;
    if (i == 8) {
        log_warn("alert %s not posted: too many alert posts in flight", alert_id);
        return;
    }
    if (!c->alert_headers)
        c->alert_headers = curl_slist_append(NULL, "Content-Type: application/json");
    char *body = alert_json(alert_id, ep, why, at);
    CURL *e = body && c->alert_headers ? curl_easy_init() : NULL;
    if (!e) {
        log_warn("alert %s not posted: out of memory", alert_id);
        free(body);
        return;
    }
    c->alert_seen[i] = 0;
    curl_easy_setopt(e, CURLOPT_URL, c->cfg->alerts_webhook_url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->alert_headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "PostStack-Webhooks/" PSW_VERSION);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->cfg->http_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg->http_connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->cfg->http_ca_file && c->cfg->http_ca_file[0]) { /* docs/config.md http.ca_file */
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg->http_ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    /* http.proxy / http.no_proxy decide, never the environment. */
    curl_easy_setopt(e, CURLOPT_PROXY, psw_http_proxy_for(c->cfg, c->cfg->alerts_webhook_url));
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, alert_body_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->alert_seen[i]);
    curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        log_warn("alert %s not posted: could not start the request", alert_id);
        curl_easy_cleanup(e);
        free(body);
        return;
    }
    c->alert_easy[i] = e;
    c->alert_body[i] = body;
}

static void alert_done(struct child *c, CURL *e, CURLcode rc)
{
    for (int i = 0; i < 8; i++) {
        if (c->alert_easy[i] != e)
            continue;
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        int cut = rc == CURLE_WRITE_ERROR && c->alert_seen[i] > ALERT_MAX_RESPONSE;
        if ((rc != CURLE_OK && !cut) || status < 200 || status >= 300)
            log_warn("alert POST to alerts.webhook_url failed: %s (status %ld)",
                     curl_easy_strerror(rc), status);
        curl_multi_remove_handle(c->multi, e);
        curl_easy_cleanup(e);
        free(c->alert_body[i]);
        c->alert_easy[i] = NULL;
        c->alert_body[i] = NULL;
        return;
    }
}

#define COMPLETE_LEAD 5    /* complete.lua's leading arguments, before the attempts */
#define COMPLETE_FIELDS 11 /* per attempt, after those */
#define COMPLETE_BATCH 64  /* attempts per complete.lua call */

/* Writes every DONE slot's completion: one complete.lua call per
 * COMPLETE_BATCH attempts, all in one pipelined round trip. With with_claim,
 * the last call also claims for the slots free once these are written
 * (complete.lua says why in the same script), or, with nothing to complete,
 * claim.lua does. Returns what claim() returns (0 when no claim was made),
 * -1 also when the completions could not be written (they stay DONE, for
 * after a reconnect). */
static int flush_completions(struct child *c, int with_claim)
{
    int idx[1024];
    int n = 0, got = 0;
    for (int i = 0; i < c->nslots && n < 1024; i++)
        if (c->slots[i].state == SLOT_DONE)
            idx[n++] = i;
    struct claim_args ca;
    /* While a BLMOVE is parked, one slot stays free for what it brings. */
    int free_n = c->nslots - c->busy + n - (c->parked ? 1 : 0);
    int claim_argc = with_claim ? claim_args(c, free_n, NULL, 0, &ca) : 0;
    if (n == 0 && (claim_argc == 0 || c->parked))
        return 0; /* a parked BLMOVE says when there is work */
    if (n == 0)
        return claim(c, NULL, 0);

    int ncalls = (n + COMPLETE_BATCH - 1) / COMPLETE_BATCH;
    struct nums {
        char n[PSW_I64_SIZE], status[PSW_I64_SIZE], latency[PSW_I64_SIZE], end[PSW_I64_SIZE],
            next[PSW_I64_SIZE];
    } *nums = calloc((size_t)n, sizeof(*nums));
    const char **argv =
        calloc((size_t)(ncalls * COMPLETE_LEAD + n * COMPLETE_FIELDS), sizeof(*argv));
    int *argcs = calloc((size_t)ncalls, sizeof(int));
    const char *const **argvs = calloc((size_t)ncalls, sizeof(*argvs));
    redisReply **replies = calloc((size_t)ncalls, sizeof(*replies));
    got = -1;
    if (!nums || !argv || !argcs || !argvs || !replies)
        goto cleanup;

    const char **v = argv;
    for (int call = 0; call < ncalls; call++) {
        int first = call * COMPLETE_BATCH;
        int m = n - first < COMPLETE_BATCH ? n - first : COMPLETE_BATCH;
        argvs[call] = v;
        argcs[call] = COMPLETE_LEAD + m * COMPLETE_FIELDS;
        *v++ = c->cfg->redis_prefix;
        *v++ = c->wid;
        *v++ = c->disable_after;
        *v++ = claim_argc > 0 && call == ncalls - 1 ? ca.want : "0";
        *v++ = c->cap;
        for (int k = first; k < first + m; k++) {
            struct slot *s = &c->slots[idx[k]];
            struct nums *g = &nums[k];
            /* psw_fmt_i64, not snprintf: 4-5 numbers per attempt (docs/performance.md) */
            psw_fmt_i64(g->n, s->a.job.attempt);
            psw_fmt_i64(g->status, s->a.status);
            psw_fmt_i64(g->latency, s->latency_ms);
            psw_fmt_i64(g->end, s->end_ms);
            if (s->next_at)
                psw_fmt_i64(g->next, s->next_at);
            *v++ = s->a.job.id;
            *v++ = g->n;
            *v++ = s->ok ? "1" : "0";
            *v++ = g->status;
            *v++ = s->err;
            *v++ = g->latency;
            *v++ = s->record ? s->record : "{}";
            *v++ = g->end;
            *v++ = g->next;
            *v++ = s->reason;
            /* kind: a failure before any request (started == 0) is ours */
            *v++ = s->gone ? PSW_KIND_GONE : s->local ? PSW_KIND_LOCAL : PSW_KIND_RECEIVER;
        }
    }
    if (psw_redis_eval_many(c->r, PSW_SCRIPT_COMPLETE, (size_t)ncalls, argcs, argvs, NULL,
                            replies) < 0)
        goto cleanup; /* kept DONE; written after the reconnect */
    c->rt_complete++;
    got = 0;

    for (int k = 0; k < n; k++) {
        struct slot *s = &c->slots[idx[k]];
        redisReply *rep = replies[k / COMPLETE_BATCH];
        size_t at = (size_t)(k % COMPLETE_BATCH) * PSW_RESULT__COUNT;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == PSW_COMPLETE__COUNT)
            rep = rep->element[PSW_COMPLETE_RESULTS];
        else if (rep->type == REDIS_REPLY_ARRAY)
            PSW_BUG("complete: %zu reply fields, not %d", rep->elements, PSW_COMPLETE__COUNT);
        if (transient_error(rep)) {
            /* Nothing of the call ran: kept DONE, written after the backoff. */
            if (k % COMPLETE_BATCH == 0)
                redis_refused(c, "complete", rep);
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            /* A script error will not heal by retrying. What the call did
             * not record stays in our in-flight list: take it up again. */
            log_error("complete %s: %s", s->a.job.id, rep->str);
            if (k % COMPLETE_BATCH == 0)
                redis_refused(c, "complete", rep);
            c->reconcile = 1;
        } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= at + PSW_RESULT__COUNT) {
            const char *outcome = psw_reply_str(rep, at + PSW_RESULT_OUTCOME);
            const char *alert = psw_reply_str(rep, at + PSW_RESULT_ALERT);
            const char *reason = psw_reply_str(rep, at + PSW_RESULT_REASON);
            if (!reason)
                reason = "";
            if (outcome && strcmp(outcome, "delivered") == 0)
                c->delivered++;
            else if (outcome && strcmp(outcome, "failed") == 0)
                c->failed++;
            if (alert && alert[0]) {
                log_warn("endpoint %s disabled: %s (alert %s)", s->a.job.endpoint_id, reason,
                         alert);
                post_alert(c, alert, s->a.job.endpoint_id, reason, s->end_ms);
            }
        }
        if (rep->type == REDIS_REPLY_ARRAY)
            redis_accepted(c);
        free(s->record);
        s->record = NULL;
        psw_attempt_reset(&s->a);
        s->state = SLOT_FREE;
        c->busy--;
        c->completed++;
    }
    if (claim_argc > 0) {
        const redisReply *last = replies[ncalls - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements == PSW_COMPLETE__COUNT)
            got = claim_reply(c, last->element[PSW_COMPLETE_CLAIM]);
        else
            got = -1; /* the error was logged above */
    }

cleanup:
    if (replies)
        for (int k = 0; k < ncalls; k++)
            if (replies[k])
                freeReplyObject(replies[k]);
    free(replies);
    free(argvs);
    free(argcs);
    free(argv);
    free(nums);
    return got;
}

/* ---- heartbeat -------------------------------------------------------- */

static void heartbeat(struct child *c)
{
    char pid[16], started[24], running[16], conc[16], expiry[24];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    snprintf(started, sizeof(started), "%lld", (long long)c->started_at);
    snprintf(running, sizeof(running), "%d", c->busy);
    snprintf(conc, sizeof(conc), "%d", c->nslots);
    snprintf(expiry, sizeof(expiry), "%lld",
             (long long)(c->cfg->scheduler_worker_timeout_ms * 2 + 60000));
    const char *argv[] = { c->cfg->redis_prefix, c->wid, c->host, pid, started, running, conc, expiry };
    redisReply *rep = psw_redis_eval(c->r, PSW_SCRIPT_HEARTBEAT, 8, argv, NULL);
    if (rep) {
        c->rt_heartbeat++;
        /* once per episode: it comes back every worker.heartbeat */
        if (rep->type == REDIS_REPLY_ERROR && !c->hb_failing++)
            log_error("heartbeat: %s", rep->str);
        else if (rep->type != REDIS_REPLY_ERROR)
            c->hb_failing = 0;
        freeReplyObject(rep);
    }
}

/* ---- curl ------------------------------------------------------------- */

static void drive_curl(struct child *c)
{
    int still = 0, left = 0;
    CURLMsg *m;
    curl_multi_perform(c->multi, &still);
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        struct psw_attempt *a = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&a);
        if (!a) {
            alert_done(c, e, rc);
            continue;
        }
        curl_multi_remove_handle(c->multi, e);
        finish_slot(c, (struct slot *)((char *)a - offsetof(struct slot, a)), rc, 1);
    }
}

/* ---- setup and the loop ------------------------------------------------ */

void psw_worker_id(char *out, size_t n, long pid, const unsigned char tag[PSW_WORKER_TAG_SIZE])
{
    char raw[64] = "host", host[64];
    gethostname(raw, sizeof(raw) - 1);
    size_t j = 0;
    for (size_t i = 0; raw[i] && j < sizeof(host) - 1; i++) {
        char ch = raw[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '.';
        host[j++] = ok ? ch : '_';
    }
    host[j] = '\0';
    /* pid alone repeats across hosts and restarts; the random tag keeps an
     * old child's in-flight list from being mistaken for a new one's. */
    snprintf(out, n, "%s:%ld:%02x%02x%02x", host, pid, tag[0], tag[1], tag[2]);
}

/* Cluster mode: a config copy and a connection pair per shard, the first
 * one chosen by pid so that children start spread over the shards. opt is
 * rb's options (r's differ in the command timeout, scripts and logging). */
static int init_shards(struct child *c, const struct psw_config *cfg,
                       const struct psw_redis_options *rb_opt, char *err, size_t errlen)
{
    c->nshards = psw_ctx_nshards(cfg);
    c->shards = calloc(c->nshards, sizeof(*c->shards));
    if (!c->shards) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(c->park_timeout, sizeof(c->park_timeout), "0.%03d", CLUSTER_PARK_MS);
    for (unsigned i = 0; i < c->nshards; i++) {
        struct child_shard *sh = &c->shards[i];
        struct psw_redis_options ro = *rb_opt, rr = *rb_opt;
        if (!(sh->cfg = psw_ctx_shard_config(cfg, i))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        ro.cluster_key = rr.cluster_key = sh->cfg->redis_prefix;
        rr.command_timeout_ms = cfg->redis_command_timeout_ms;
        rr.load_scripts = 1;
        rr.quiet = 0;
        if (!(sh->r = psw_redis_new(&rr, err, errlen)) ||
            !(sh->rb = psw_redis_new(&ro, err, errlen)))
            return -1;
    }
    /* r and rb made by child_init serve the base prefix: unused here */
    psw_redis_free(c->r);
    psw_redis_free(c->rb);
    c->shard = (unsigned)getpid() % c->nshards;
    c->cfg = c->shards[c->shard].cfg;
    c->r = c->shards[c->shard].r;
    c->rb = c->shards[c->shard].rb;
    c->slice_end = psw_mono_ms() + SLICE_MS;
    return 0;
}

static void release_all(struct child *c);

/* Cluster mode: this shard has nothing for us now. */
static int idle_shard(const struct child *c)
{
    return c->drained && c->busy == 0 && !c->parked;
}

/* Whether to park a BLMOVE here when the shard ran dry: always without a
 * cluster; on a cluster only once every other shard was found empty too in
 * this round (parking on each would make an idle round slow), else the
 * child moves on to the next shard at once. */
static int park_here(const struct child *c)
{
    return c->nshards == 0 || c->empty_run + 1 >= c->nshards;
}

/* Cluster mode: leaves the current shard (nothing is in flight there: the
 * slice ended and every completion is written) for the next one. */
static void next_shard(struct child *c)
{
    struct child_shard *sh = &c->shards[c->shard];
    if (c->reconcile && psw_redis_connected(c->r)) /* what a dropped BLMOVE moved */
        release_all(c);
    c->reconcile = 0;
    sh->gen_r = c->gen_r;
    sh->next_heartbeat = c->next_heartbeat;
    if (c->claimed == c->claimed_at_slice && !c->empty_park)
        c->empty_run++;
    else
        c->empty_run = 0; /* work here, or the round's one park is over */
    c->claimed_at_slice = c->claimed;
    c->shard = (c->shard + 1) % c->nshards;
    sh = &c->shards[c->shard];
    c->cfg = sh->cfg;
    c->r = sh->r;
    c->rb = sh->rb;
    c->gen_r = sh->gen_r;
    c->next_heartbeat = sh->next_heartbeat;
    c->drained = 0;
    c->empty_park = 0;
    c->err_until = 0;
    c->slice_end = psw_mono_ms() + SLICE_MS;
}

static int child_init(struct child *c, const struct psw_config *cfg, volatile sig_atomic_t *stop,
                      const unsigned char tag[PSW_WORKER_TAG_SIZE])
{
    struct psw_redis_options opt;
    char err[512];

    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->stop = stop;
    c->started_at = psw_now_ms();
    c->policy.schedule_ms = cfg->retry_schedule_ms;
    c->policy.n = cfg->retry_schedule_n;
    c->policy.max_age_ms = cfg->retry_max_age_ms;
    snprintf(c->retention, sizeof(c->retention), "%lld",
             (long long)cfg->retention_days * 86400000LL);
    psw_config_cap(cfg, c->cap, sizeof(c->cap));
    /* A parked BLMOVE must expire before the scheduler can declare this
     * child dead (last heartbeat + worker_timeout; the park may come up to a
     * heartbeat interval after that heartbeat): Redis would otherwise still
     * serve the BLMOVE of a stalled child after its work was handed back,
     * moving a delivery into a list nobody recovers. 0 would mean forever. */
    int64_t park = (cfg->scheduler_worker_timeout_ms - cfg->worker_heartbeat_ms) / 2;
    if (park > PARK_TIMEOUT_MS)
        park = PARK_TIMEOUT_MS;
    if (park < 1)
        park = 1;
    snprintf(c->park_timeout, sizeof(c->park_timeout), "%lld.%03lld", (long long)(park / 1000),
             (long long)(park % 1000));
    snprintf(c->disable_after, sizeof(c->disable_after), "%d",
             cfg->endpoint_disable_after_failures);
    psw_worker_id(c->wid, sizeof(c->wid), (long)getpid(), tag);
    snprintf(c->host, sizeof(c->host), "%.*s", (int)strcspn(c->wid, ":"), c->wid);
    if (psw_secrets_load(cfg, &c->keys, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return PSW_EXIT_CONFIG;
    }
    if (psw_netguard_init(&c->guard, cfg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return PSW_EXIT_CONFIG;
    }

    psw_ctx_redis_options(cfg, &opt);
    opt.retry = PSW_REDIS_RETRY_POLLED;
    opt.stop = stop;
    /* After an outage a scheduler waits one worker_timeout before it takes
     * anyone for dead; reconnect tries at most half of (worker_timeout -
     * heartbeat) apart (+25% jitter) let this child heartbeat well before. */
    int64_t backoff_cap = (cfg->scheduler_worker_timeout_ms - cfg->worker_heartbeat_ms) / 2;
    if (backoff_cap < opt.backoff_max_ms)
        opt.backoff_max_ms = backoff_cap > opt.backoff_initial_ms ? backoff_cap
                                                                   : opt.backoff_initial_ms;
    if (!(c->r = psw_redis_new(&opt, err, sizeof(err)))) {
        log_error("%s", err);
        return PSW_EXIT_CONFIG;
    }
    opt.command_timeout_ms = 0; /* the parked BLMOVE waits; we poll its socket */
    opt.load_scripts = 0;
    opt.quiet = 1; /* an outage is reported once, by `r` */
    if (!(c->rb = psw_redis_new(&opt, err, sizeof(err)))) {
        log_error("%s", err);
        return PSW_EXIT_CONFIG;
    }
    if (psw_ctx_nshards(cfg) > 1 && init_shards(c, cfg, &opt, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return PSW_EXIT_CONFIG;
    }
    c->nslots = cfg->worker_concurrency;
    c->slots = calloc((size_t)c->nslots, sizeof(*c->slots));
    c->multi = curl_multi_init();
    if (!c->slots || !c->multi) {
        log_error("out of memory");
        return 1;
    }
    /* Connections to the same host are reused; a bigger cache than the
     * default keeps them across many endpoints. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->nslots * 2);
    return 0;
}

static void child_cleanup(struct child *c)
{
    for (int i = 0; i < c->nslots && c->slots; i++) {
        if (c->slots[i].state == SLOT_RUNNING)
            curl_multi_remove_handle(c->multi, c->slots[i].a.easy);
        free(c->slots[i].record);
        psw_attempt_destroy(&c->slots[i].a);
    }
    for (int i = 0; i < 8; i++) {
        if (c->alert_easy[i]) {
            curl_multi_remove_handle(c->multi, c->alert_easy[i]);
            curl_easy_cleanup(c->alert_easy[i]);
            free(c->alert_body[i]);
        }
    }
    curl_slist_free_all(c->alert_headers);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c->slots);
    if (c->shards) {
        for (unsigned i = 0; i < c->nshards; i++) {
            psw_redis_free(c->shards[i].r);
            psw_redis_free(c->shards[i].rb);
            psw_ctx_shard_config_free(c->shards[i].cfg);
        }
        free(c->shards);
    } else {
        psw_redis_free(c->r);
        psw_redis_free(c->rb);
    }
    psw_secrets_wipe(&c->keys);
}

/* Hands back whatever is left in our in-flight list (release.lua). */
static void release_all(struct child *c)
{
    const char *argv[] = { c->cfg->redis_prefix, c->wid, c->retention };
    redisReply *rep = psw_redis_eval(c->r, PSW_SCRIPT_RELEASE, 3, argv, NULL);
    if (!rep) {
        log_warn("could not hand back in-flight work (%s); the scheduler will recover it",
                 psw_redis_errstr(c->r));
        return;
    }
    long long n = psw_reply_int(rep, 0, 0);
    if (n > 0)
        log_info("handed back %lld unfinished deliveries", n);
    freeReplyObject(rep);
}

int psw_child_run(const struct psw_config *cfg, volatile sig_atomic_t *stop,
                  const unsigned char tag[PSW_WORKER_TAG_SIZE])
{
    struct child c;
    int rc = child_init(&c, cfg, stop, tag);
    int stopping = 0;
    int64_t deadline = 0;

    if (rc != 0) {
        child_cleanup(&c);
        return rc;
    }
    log_info("worker %s started: concurrency %d", c.wid, c.nslots);

    for (;;) {
        int64_t now = psw_mono_ms();

        if (*stop && stopping != 1) {
            stopping = 1;
            deadline = now + cfg->worker_shutdown_grace_ms;
            unpark(&c);
            log_info("stopping: finishing %d request(s) in flight (grace %lld ms)", c.busy,
                     (long long)cfg->worker_shutdown_grace_ms);
        }
        /* cluster mode: the slice is over (see the file comment) */
        if (c.nshards > 0 && !stopping &&
            (now >= c.slice_end || c.empty_park || (idle_shard(&c) && !park_here(&c)))) {
            stopping = 2;
            unpark(&c);
        }
        if (stopping == 2 && c.busy == 0) {
            next_shard(&c);
            stopping = 0;
            continue;
        }
        if (stopping && c.busy == 0)
            break;
        if (stopping == 1 && now >= deadline) {
            int running = 0;
            for (int i = 0; i < c.nslots; i++)
                running += c.slots[i].state == SLOT_RUNNING;
            log_warn("shutdown grace over: abandoning %d request(s); they are handed back", running);
            break;
        }

        if (psw_redis_ensure(c.r) == 0) {
            if (psw_redis_generation(c.r) != c.gen_r) {
                if (c.gen_r != 0)
                    c.reconcile = 1;
                c.gen_r = psw_redis_generation(c.r);
                c.next_heartbeat = 0;
            }
            if (now >= c.next_heartbeat) {
                heartbeat(&c);
                c.next_heartbeat = now + cfg->worker_heartbeat_ms;
            }
        }
        /* After an error reply, nothing is asked of Redis until err_until. */
        int backing_off = now < c.err_until;
        if (!backing_off && psw_redis_connected(c.r)) {
            /* The claim rides with the completions (one call) unless a
             * reconcile must adopt ids first. Also while a BLMOVE is parked:
             * deliveries these completions let back in from waiting lists
             * are best taken here, by the worker whose slots they fill. */
            int claim_now = !stopping && !c.reconcile;
            int got = flush_completions(&c, claim_now);
            /* Not while a BLMOVE is parked: the id it may have moved into
             * our list (its answer not read yet) would be adopted here and
             * then claimed again from that answer, restarting its attempt. */
            if (!stopping && c.reconcile && !c.parked && psw_redis_connected(c.r) &&
                !refused_lately(&c))
                reconcile(&c);
            if (!claim_now && !stopping && !c.parked && c.busy < c.nslots &&
                psw_redis_connected(c.r) && !refused_lately(&c))
                got = claim(&c, NULL, 0);
            else if (!claim_now)
                got = -1;
            if (got >= 0 && !stopping && !c.parked && c.drained && c.busy < c.nslots &&
                park_here(&c) && psw_redis_connected(c.r) && !refused_lately(&c) &&
                psw_redis_ensure(c.rb) == 0)
                park(&c);
        }

        /* Wait for curl sockets and the parked BLMOVE. Without either to
         * wait on, sleep until the next heartbeat or Redis retry. */
        struct curl_waitfd extra[1];
        unsigned nextra = 0;
        if (c.parked && psw_redis_fd(c.rb) >= 0) {
            extra[0].fd = psw_redis_fd(c.rb);
            extra[0].events = CURL_WAIT_POLLIN;
            extra[0].revents = 0;
            nextra = 1;
        }
        long timeout = 1000;
        int can_claim = !stopping && !c.parked && c.busy < c.nslots && !c.drained &&
                        psw_redis_connected(c.r);
        int done_pending = 0;
        for (int i = 0; i < c.nslots && !done_pending; i++)
            done_pending = c.slots[i].state == SLOT_DONE;
        if (now < c.err_until)
            timeout = (long)(c.err_until - now < 1000 ? c.err_until - now : 1000);
        else if (can_claim || (done_pending && psw_redis_connected(c.r)))
            timeout = 0;
        else if (!psw_redis_connected(c.r) || done_pending)
            timeout = 100;
        else if (c.next_heartbeat - now < timeout)
            timeout = (long)(c.next_heartbeat - now > 0 ? c.next_heartbeat - now : 0);
        if (stopping && timeout > 100)
            timeout = 100;
        int numfds = 0;
        curl_multi_poll(c.multi, extra, nextra, (int)timeout, &numfds);
        drive_curl(&c);
        if (nextra && (extra[0].revents & CURL_WAIT_POLLIN))
            parked_readable(&c);
        else if (c.parked && psw_mono_ms() - c.parked_at > PARK_STUCK_MS) {
            /* While `r` is down too, this is the Redis outage it reported */
            if (psw_redis_connected(c.r))
                log_warn("parked BLMOVE got no answer for %d ms; reconnecting", PARK_STUCK_MS);
            else
                log_debug("parked BLMOVE got no answer for %d ms; reconnecting", PARK_STUCK_MS);
            unpark(&c);
        }
        if (!c.parked && c.busy == 0 && c.drained && !stopping)
            c.drained = 0; /* idle: claim (and park) again */
    }

    /* Write what we know; whatever is still listed goes back to ready. */
    for (int tries = 0; tries < 3; tries++) {
        int done_left = 0;
        flush_completions(&c, 0);
        for (int i = 0; i < c.nslots; i++)
            done_left += c.slots[i].state == SLOT_DONE;
        if (done_left == 0)
            break;
        psw_redis_ensure(c.r);
    }
    if (psw_redis_connected(c.r) || psw_redis_ensure(c.r) == 0)
        release_all(&c);
    log_info("worker %s stopped: %lld delivered, %lld failed", c.wid, c.delivered, c.failed);
    log_info("worker %s redis round trips: %lld claims (%lld claimed), %lld completion writes "
             "(%lld recorded), %lld parked BLMOVEs, %lld heartbeats",
             c.wid, c.rt_claim, c.claimed, c.rt_complete, c.completed, c.rt_park, c.rt_heartbeat);
    child_cleanup(&c);
    return 0;
}
