/*
 * scheduler.c — one loop, three duties:
 *
 *  promote  each tick (scheduler.tick, or sooner when the earliest due retry
 *           is sooner): promote.lua moves due ids from queue:scheduled to
 *           queue:ready, up to scheduler.batch per call, repeated while full
 *           batches come back.
 *  recover  about once a second: recover.lua requeues the in-flight lists of
 *           worker children whose heartbeat is older than
 *           scheduler.worker_timeout, and every 5 s also of in-flight lists
 *           found by SCAN whose worker has no heartbeat entry at all
 *           (orphans: written by a stalled worker after it was recovered). Not before this scheduler has itself
 *           been connected for a whole worker_timeout: after a Redis outage
 *           every heartbeat looks old, and live workers must get the chance
 *           to heartbeat again before anyone is declared dead.
 *  sweep    once a second: sweep.lua checks the delivery keys one bounded
 *           SCAN step (SWEEP_SCAN_KEYS) returns, and requeues any whose state
 *           no list backs (stranded), counted in psw:stats
 *           stranded_requeued. The cursor goes on next time, so the whole
 *           key space is covered in turn.
 *           The same sweep deletes deliveries older than retention.days
 *           with their attempt lists (they carry no TTL, docs/redis.md).
 *  trim     once a minute: drops index entries (per-endpoint delivery
 *           indexes, the failed set, the alerts stream) older than
 *           retention.days; events expire by TTL.
 *
 * All times that decide what is due come from Redis (TIME inside the
 * scripts), so schedulers on hosts with skewed clocks agree.
 *
 * On a Redis Cluster (redis.cluster, docs/redis.md "Redis Cluster") each
 * logical shard is a keyspace of its own: the loop runs the duties above for
 * every shard in turn, one struct sched each, starting one shard further on
 * every round. A shard's connection retries in the background (POLLED), so
 * an unreachable node delays only its own shards; the loop sleeps until the
 * earliest shard wants it again.
 *
 * An error reply (OOM under maxmemory with noeviction, BUSY while another
 * script runs too long …) is not a lost connection: the connection stays,
 * and retrying at once would spin. The loop backs off instead (doubling from
 * ERR_BACKOFF_MIN_MS to ERR_BACKOFF_MAX_MS), logs the episode once when it
 * starts and once when it ends, and still runs recover and trim, which free
 * memory and need no new space.
 */
#include "scheduler/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/reply.h"
#include "common/timeutil.h"

#define RECOVER_EVERY_MS 1000
#define TRIM_EVERY_MS 60000
#define RECOVER_WORKERS_PER_CALL "16"
#define ORPHAN_SCAN_EVERY_MS 5000
#define ORPHAN_SCAN_KEYS 1000
#define SWEEP_EVERY_MS 1000
#define SWEEP_SCAN_KEYS 500
/* SCAN may answer a little more than COUNT keys: room for twice as many, so
 * that no key of a step is left out of every pass (a delivery whose
 * retention is over would never be deleted) */
#define SWEEP_STEP_KEYS (2 * SWEEP_SCAN_KEYS)
#define SWEEP_MAX_READY "10000" /* pending ones are not searched in a longer ready list */
#define ERR_BACKOFF_MIN_MS 100
#define ERR_BACKOFF_MAX_MS 5000

struct sched {
    struct psw_config *cfg;
    struct psw_ctx ctx;
    char id[128];
    uint64_t gen;
    int64_t connected_since; /* monotonic */
    int64_t next_recover;
    int64_t next_orphan_scan;
    char    orphan_cursor[32];
    int64_t next_trim;
    int64_t next_sweep;
    char    sweep_cursor[32];
    int64_t next_net;        /* promote.lua's waiting-list check, once a tick */
    long long promoted, recovered, crashed;
    int64_t err_backoff;     /* > 0 while Redis answers promote with errors */
    int64_t err_since;       /* monotonic start of that episode */
    unsigned err_count;
    int64_t wake;            /* cluster mode: next step of this shard (monotonic) */
};

/* Returns the ms until the earliest remaining due retry (-1 = none), -2
 * when the connection failed, or -3 when Redis answered with an error
 * (logged once per episode, see the file comment). */
static int64_t promote(struct sched *s)
{
    char batch[16], cap[16];
    snprintf(batch, sizeof(batch), "%d", s->cfg->scheduler_batch);
    psw_config_cap(s->cfg, cap, sizeof(cap));
    /* Due retries can make the loop call every millisecond; the check of
     * endpoints' waiting lists (promote.lua's safety net) stays once a tick. */
    int64_t mono = psw_mono_ms();
    int net = mono >= s->next_net;
    if (net)
        s->next_net = mono + s->cfg->scheduler_tick_ms;
    for (int rounds = 0; rounds < 100; rounds++) {
        const char *argv[] = { s->cfg->redis_prefix, batch, s->id, cap,
                               net && rounds == 0 ? "1" : "0" };
        redisReply *rep = psw_redis_eval(s->ctx.redis, PSW_SCRIPT_PROMOTE, 5, argv, NULL);
        if (!rep)
            return -2;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 4) {
            if (s->err_count++ == 0) {
                s->err_since = psw_mono_ms();
                log_error("promote: %s; backing off until Redis accepts it again",
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            } else {
                log_debug("promote: %s (still failing)",
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            }
            freeReplyObject(rep);
            return -3;
        }
        if (s->err_count > 0) {
            log_info("promote works again after %.1fs (%u failed calls)",
                     (double)(psw_mono_ms() - s->err_since) / 1000.0, s->err_count);
            s->err_count = 0;
            s->err_backoff = 0;
        }
        long long moved = psw_reply_int(rep, 0, 0);
        int more = psw_reply_int(rep, 1, 0) != 0;
        long long first = psw_reply_int(rep, 2, -1);
        long long now = psw_reply_int(rep, 3, 0);
        freeReplyObject(rep);
        s->promoted += moved;
        if (moved > 0)
            log_debug("promoted %lld due deliveries", moved);
        if (!more)
            return first < 0 ? -1 : (first > now ? first - now : 0);
    }
    return 0; /* still more due: come back at once */
}

/* Worker ids of existing in-flight lists (SCAN, bounded), for recover.lua
 * to check for orphans. Returns how many were written into ids; the reply
 * that owns the strings is left in *keep (caller frees). */
static int scan_inflight_lists(struct sched *s, const char **ids, int max, redisReply **keep)
{
    char pattern[PSW_KEY_SIZE];
    size_t plen;
    int n = 0;

    *keep = NULL;
    psw_ctx_key(&s->ctx, pattern, sizeof(pattern), PSW_KEY_INFLIGHT, "");
    plen = strlen(pattern);
    if (plen + 2 > sizeof(pattern))
        return 0;
    pattern[plen] = '*';
    pattern[plen + 1] = '\0';
    /* One pass of at most ORPHAN_SCAN_KEYS keys: orphans are rare, and the
     * next pass continues from the cursor. */
    redisReply *rep = psw_redis_command(s->ctx.redis, "SCAN %s MATCH %s COUNT %d",
                                        s->orphan_cursor, pattern, ORPHAN_SCAN_KEYS);
    if (!rep)
        return 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        snprintf(s->orphan_cursor, sizeof(s->orphan_cursor), "%s", rep->element[0]->str);
        const redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements && n < max; i++)
            if (strlen(keys->element[i]->str) > plen)
                ids[n++] = keys->element[i]->str + plen;
    }
    *keep = rep;
    return n;
}

static void recover(struct sched *s, int with_orphans)
{
    char timeout[24], maxrec[16], retention[24];
    const char *argv[5 + 64];
    redisReply *keep = NULL;
    snprintf(timeout, sizeof(timeout), "%lld", (long long)s->cfg->scheduler_worker_timeout_ms);
    snprintf(maxrec, sizeof(maxrec), "%d", s->cfg->scheduler_max_recoveries);
    snprintf(retention, sizeof(retention), "%lld", psw_ctx_retention_ms(&s->ctx));
    argv[0] = s->cfg->redis_prefix;
    argv[1] = timeout;
    argv[2] = maxrec;
    argv[3] = RECOVER_WORKERS_PER_CALL;
    argv[4] = retention;
    int n = with_orphans ? scan_inflight_lists(s, argv + 5, 64, &keep) : 0;
    redisReply *rep = psw_redis_eval(s->ctx.redis, PSW_SCRIPT_RECOVER, 5 + n, argv, NULL);
    if (keep)
        freeReplyObject(keep);
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3) {
        long long workers = psw_reply_int(rep, 0, 0), requeued = psw_reply_int(rep, 1, 0),
                  crashed = psw_reply_int(rep, 2, 0);
        if (workers > 0)
            log_warn("recovered %lld dead worker(s): %lld deliveries requeued, %lld failed as crashed",
                     workers, requeued, crashed);
        s->recovered += requeued;
        s->crashed += crashed;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        log_error("recover: %s", rep->str);
    }
    freeReplyObject(rep);
}

/* One bounded step of the stranded-delivery sweep (see the file comment). */
static void sweep(struct sched *s)
{
    char pattern[PSW_KEY_SIZE], retention[24];
    const char *argv[3 + SWEEP_STEP_KEYS];
    int n = 0;

    psw_ctx_key(&s->ctx, pattern, sizeof(pattern), PSW_KEY_DELIVERY, "*");
    redisReply *keys = psw_redis_command(s->ctx.redis, "SCAN %s MATCH %s COUNT %d",
                                         s->sweep_cursor, pattern, SWEEP_SCAN_KEYS);
    if (!keys)
        return;
    if (keys->type != REDIS_REPLY_ARRAY || keys->elements != 2 ||
        keys->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(keys);
        return;
    }
    snprintf(s->sweep_cursor, sizeof(s->sweep_cursor), "%s", keys->element[0]->str);
    size_t plen = strlen(pattern) - 1; /* without the '*' */
    snprintf(retention, sizeof(retention), "%lld", psw_ctx_retention_ms(&s->ctx));
    argv[0] = s->cfg->redis_prefix;
    argv[1] = retention;
    argv[2] = SWEEP_MAX_READY;
    const redisReply *ks = keys->element[1];
    for (size_t i = 0; i < ks->elements && n < SWEEP_STEP_KEYS; i++) {
        const char *k = ks->element[i]->str;
        /* delivery hashes and attempt lists (sweep.lua deletes orphaned
         * ones); not a batch's :events list, which has a TTL */
        const char *colon = k ? strchr(k + (strlen(k) > plen ? plen : 0), ':') : NULL;
        if (!k || strlen(k) <= plen || (colon && strcmp(colon, ":attempts") != 0))
            continue;
        argv[3 + n++] = k + plen;
    }
    if (n > 0) {
        redisReply *rep = psw_redis_eval(s->ctx.redis, PSW_SCRIPT_SWEEP, 3 + n, argv, NULL);
        if (rep && rep->type == REDIS_REPLY_ARRAY && psw_reply_int(rep, 1, 0) > 0)
            log_warn("requeued %lld stranded deliveries (their state named a list that did not "
                     "hold them)",
                     psw_reply_int(rep, 1, 0));
        else if (rep && rep->type == REDIS_REPLY_ERROR)
            log_debug("sweep: %s", rep->str);
        if (rep && rep->type == REDIS_REPLY_ARRAY && psw_reply_int(rep, 2, 0) > 0)
            log_debug("deleted %lld delivery keys older than retention.days",
                      psw_reply_int(rep, 2, 0));
        if (rep)
            freeReplyObject(rep);
    }
    freeReplyObject(keys);
}

static void trim(struct sched *s)
{
    char key[PSW_KEY_SIZE], cut[32], cursor[32] = "0";
    long long horizon;
    long long removed = 0;

    redisReply *t = psw_redis_command(s->ctx.redis, "TIME");
    if (!t)
        return;
    horizon = psw_reply_int(t, 0, 0) * 1000 - psw_ctx_retention_ms(&s->ctx);
    freeReplyObject(t);
    snprintf(cut, sizeof(cut), "(%lld", horizon);

    psw_ctx_key(&s->ctx, key, sizeof(key), PSW_KEY_ENDPOINTS, NULL);
    do {
        redisReply *rep = psw_redis_command(s->ctx.redis, "SSCAN %s %s COUNT 500", key, cursor);
        if (!rep)
            return;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        const redisReply *ids = rep->element[1];
        for (size_t i = 0; i < ids->elements; i++) {
            char idx[PSW_KEY_SIZE];
            psw_ctx_key(&s->ctx, idx, sizeof(idx), PSW_KEY_ENDPOINT_DELIVERIES, ids->element[i]->str);
            redisReply *z = psw_redis_command(s->ctx.redis, "ZREMRANGEBYSCORE %s -inf %s", idx, cut);
            if (z) {
                removed += z->type == REDIS_REPLY_INTEGER ? z->integer : 0;
                freeReplyObject(z);
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);

    psw_ctx_key(&s->ctx, key, sizeof(key), PSW_KEY_FAILED, NULL);
    redisReply *z = psw_redis_command(s->ctx.redis, "ZREMRANGEBYSCORE %s -inf %s", key, cut);
    if (z)
        freeReplyObject(z);
    psw_ctx_key(&s->ctx, key, sizeof(key), PSW_KEY_ALERTS, NULL);
    z = psw_redis_command(s->ctx.redis, "XTRIM %s MINID %lld", key, horizon);
    if (z)
        freeReplyObject(z);
    /* schedulers that stopped long ago */
    psw_ctx_key(&s->ctx, key, sizeof(key), PSW_KEY_SCHEDULERS, NULL);
    z = psw_redis_command(s->ctx.redis, "ZREMRANGEBYSCORE %s -inf %lld", key,
                          horizon + psw_ctx_retention_ms(&s->ctx) - 86400000LL);
    if (z)
        freeReplyObject(z);
    if (removed > 0)
        log_info("trimmed %lld expired entries from delivery indexes", removed);
}

static void sleep_ms(int64_t ms, volatile sig_atomic_t *stop)
{
    if (ms <= 0 || *stop)
        return;
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what we want */
}

/* The connection keeps the sentinels it was opened with (common/redis.c). */
static int same_sentinels(const struct psw_config *a, const struct psw_config *b)
{
    if (a->redis_sentinels_n != b->redis_sentinels_n ||
        strcmp(a->redis_sentinel_master, b->redis_sentinel_master) != 0)
        return 0;
    for (size_t i = 0; i < a->redis_sentinels_n; i++)
        if (strcmp(a->redis_sentinels[i], b->redis_sentinels[i]) != 0)
            return 0;
    return 1;
}

static void do_reload(struct sched *s, const char *path)
{
    char err[1024];
    struct psw_config *next = calloc(1, sizeof(*next));
    if (!next)
        return;
    if (psw_config_load(next, path, err, sizeof(err)) < 0) {
        log_error("reload refused, keeping the running configuration: %s", err);
        psw_config_free(next);
        free(next);
        return;
    }
    if (strcmp(next->redis_url, s->cfg->redis_url) != 0 ||
        strcmp(next->redis_prefix, s->cfg->redis_prefix) != 0 || !same_sentinels(next, s->cfg))
        log_warn("reload: redis.url, redis.prefix and redis.sentinel* changes take effect at "
                 "restart");
    free(next->redis_url);
    next->redis_url = strdup(s->cfg->redis_url);
    free(next->redis_prefix);
    next->redis_prefix = strdup(s->cfg->redis_prefix);
    if (!next->redis_url || !next->redis_prefix) {
        psw_config_free(next);
        free(next);
        return;
    }
    psw_config_free(s->cfg);
    free(s->cfg);
    s->cfg = next;
    s->ctx.cfg = next;
    psw_log_init("scheduler", (enum psw_log_level)next->log_level, (enum psw_log_format)next->log_format);
    log_info("configuration reloaded");
}

/* One round of the duties on s's shard. Returns the ms until it wants to
 * run again (0: at once). */
static int64_t step(struct sched *s)
{
    if (psw_redis_ensure(s->ctx.redis) < 0)
        return s->cfg->redis_cluster ? s->cfg->scheduler_tick_ms : 0; /* blocking: only when stopping */
    int64_t now = psw_mono_ms();
    if (psw_redis_generation(s->ctx.redis) != s->gen) {
        s->gen = psw_redis_generation(s->ctx.redis);
        s->connected_since = now;
    }
    int64_t until_due = promote(s);
    if (until_due == -2)
        return 0; /* reconnects (with backoff) on the next round */
    if (until_due == -3) /* an error reply: retrying at once would spin */
        s->err_backoff = s->err_backoff ? s->err_backoff * 2 : ERR_BACKOFF_MIN_MS;
    if (s->err_backoff > ERR_BACKOFF_MAX_MS)
        s->err_backoff = ERR_BACKOFF_MAX_MS;

    if (now >= s->next_recover &&
        now - s->connected_since >= s->cfg->scheduler_worker_timeout_ms) {
        int orphans = now >= s->next_orphan_scan;
        recover(s, orphans);
        s->next_recover = now + RECOVER_EVERY_MS;
        if (orphans)
            s->next_orphan_scan = now + ORPHAN_SCAN_EVERY_MS;
    }
    if (now >= s->next_sweep) {
        sweep(s);
        s->next_sweep = now + SWEEP_EVERY_MS;
    }
    if (now >= s->next_trim) {
        trim(s);
        s->next_trim = now + TRIM_EVERY_MS;
    }
    int64_t wait = s->cfg->scheduler_tick_ms;
    if (until_due >= 0 && until_due < wait)
        wait = until_due;
    if (until_due == -3 && s->err_backoff > wait)
        wait = s->err_backoff;
    return wait;
}

/* Cluster mode: the duties for every shard (see the file comment). cfg is
 * owned and freed here. */
static int run_shards(struct psw_config *cfg, const char *config_path, const char *id,
                      volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    unsigned n = psw_ctx_nshards(cfg), first = 0;
    struct sched *sh = calloc(n, sizeof(*sh));
    char err[1024];
    if (!sh) {
        log_error("out of memory");
        psw_config_free(cfg);
        free(cfg);
        return 1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct sched *s = &sh[i];
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->orphan_cursor, sizeof(s->orphan_cursor), "0");
        snprintf(s->sweep_cursor, sizeof(s->sweep_cursor), "0");
        /* POLLED: an unreachable node must not hold up the other shards */
        int rc = psw_ctx_open_shard(&s->ctx, cfg, i, PSW_REDIS_RETRY_POLLED, stop, err,
                                    sizeof(err));
        if (rc != PSW_OK) {
            log_error("shard %u: %s", i, err);
            for (unsigned k = 0; k < i; k++)
                psw_ctx_close(&sh[k].ctx);
            free(sh);
            psw_config_free(cfg);
            free(cfg);
            return 1;
        }
        s->cfg = (struct psw_config *)s->ctx.cfg;
    }
    log_info("scheduler %s started on %u shards: tick %lld ms, worker timeout %lld ms", id, n,
             (long long)cfg->scheduler_tick_ms, (long long)cfg->scheduler_worker_timeout_ms);
    while (!*stop) {
        if (*reload) {
            *reload = 0;
            struct sched tmp = sh[0];
            tmp.cfg = cfg;
            tmp.ctx.cfg = cfg;
            tmp.ctx.own_cfg = NULL;
            do_reload(&tmp, config_path);
            cfg = tmp.cfg;
            for (unsigned i = 0; i < n; i++) {
                psw_ctx_set_config(&sh[i].ctx, cfg);
                sh[i].cfg = (struct psw_config *)sh[i].ctx.cfg;
            }
        }
        int64_t now = psw_mono_ms(), next = now + cfg->scheduler_tick_ms;
        for (unsigned k = 0; k < n && !*stop; k++) {
            struct sched *s = &sh[(first + k) % n];
            if (s->wake > now)
                continue;
            s->wake = psw_mono_ms() + step(s);
        }
        first = (first + 1) % n;
        for (unsigned i = 0; i < n; i++)
            if (sh[i].wake < next)
                next = sh[i].wake;
        sleep_ms(next - psw_mono_ms(), stop);
    }
    long long promoted = 0, recovered = 0, crashed = 0;
    for (unsigned i = 0; i < n; i++) {
        promoted += sh[i].promoted;
        recovered += sh[i].recovered;
        crashed += sh[i].crashed;
        psw_ctx_close(&sh[i].ctx);
    }
    log_info("scheduler stopped: %lld promoted, %lld recovered, %lld failed as crashed",
             promoted, recovered, crashed);
    free(sh);
    psw_config_free(cfg);
    free(cfg);
    return 0;
}

int psw_scheduler_run(struct psw_config *cfg, const char *config_path,
                      volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    struct sched s;
    char err[1024], host[64] = "host";
    char rnd[PSW_ID_SIZE];

    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    snprintf(s.orphan_cursor, sizeof(s.orphan_cursor), "0");
    snprintf(s.sweep_cursor, sizeof(s.sweep_cursor), "0");
    gethostname(host, sizeof(host) - 1);
    if (psw_id_new("", rnd) < 0) {
        log_error("cannot make a scheduler id: the random generator failed");
        psw_config_free(cfg);
        free(cfg);
        return 1;
    }
    snprintf(s.id, sizeof(s.id), "%s:%ld:%.6s", host, (long)getpid(), rnd + 20);
    if (psw_ctx_nshards(cfg) > 1)
        return run_shards(cfg, config_path, s.id, stop, reload);

    if (psw_ctx_open(&s.ctx, cfg, PSW_REDIS_RETRY_BLOCKING, stop, err, sizeof(err)) != PSW_OK) {
        if (!*stop)
            log_error("%s", err);
        psw_config_free(cfg);
        free(cfg);
        return *stop ? 0 : 1;
    }
    log_info("scheduler %s started: tick %lld ms, worker timeout %lld ms", s.id,
             (long long)cfg->scheduler_tick_ms, (long long)cfg->scheduler_worker_timeout_ms);

    while (!*stop) {
        if (*reload) {
            *reload = 0;
            do_reload(&s, config_path);
        }
        int64_t wait = step(&s);
        if (wait > 0)
            sleep_ms(wait, stop);
    }
    log_info("scheduler stopped: %lld promoted, %lld recovered, %lld failed as crashed",
             s.promoted, s.recovered, s.crashed);
    psw_ctx_close(&s.ctx);
    psw_config_free(s.cfg);
    free(s.cfg);
    return 0;
}
