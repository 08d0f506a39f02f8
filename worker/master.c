/*
 * master.c — process supervision (modelled on nginx's ngx_process_cycle.c).
 *
 * Signals: SIGCHLD, SIGTERM, SIGINT and SIGHUP stay blocked in the master and
 * are taken synchronously with sigtimedwait(), so there is no window between
 * checking a flag and sleeping, and the wait has a timeout for respawn
 * backoff. Children restore the default mask and install their own handlers
 * (flag-setting only) before doing anything else.
 *
 * Slots: slot i holds the pid of child i of the current generation (0 while
 * it waits to be respawned). On SIGHUP with a valid new config, a new
 * generation is started first and the old children are then told to stop
 * gracefully ("retiring", a list that grows as needed: a child is never
 * forgotten), so capacity never drops to zero.
 *
 * Each child's worker id is known here (the random tag is drawn before the
 * fork, see psw_worker_id()). When a child dies other than by a clean exit,
 * the master hands back its in-flight list at once (worker_lost.lua) on a
 * Redis connection of its own, opened when first needed and never used by
 * a child. If Redis cannot be reached, the scheduler's recovery after
 * scheduler.worker_timeout does it later, as for a host that died whole.
 */
#include "worker/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/check.h"
#include "common/ctx.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/reply.h"
#include "common/secrets.h"
#include "common/timeutil.h"
#include "worker/child.h"

#define MAX_CHILDREN 1024
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 10000 /* a child that lived this long resets its backoff */
#define KILL_MARGIN_MS 5000

struct slot {
    pid_t   pid;
    unsigned char tag[PSW_WORKER_TAG_SIZE]; /* of the worker id, see psw_worker_id() */
    int64_t started;
    int64_t respawn_at;
    int64_t backoff;
};

struct retiree {
    pid_t pid;
    unsigned char tag[PSW_WORKER_TAG_SIZE];
};

struct master {
    struct psw_config *cfg;
    const char *config_path;
    struct slot slots[MAX_CHILDREN];
    int     nslots;
    struct retiree *retiring; /* grown as needed */
    int     nretiring, retiring_cap;
    int     stopping;
    int64_t kill_at;
    int     fatal;
    struct psw_redis *redis;  /* for worker_lost.lua; NULL until first needed */
};

static volatile sig_atomic_t child_stop;

static void on_child_stop(int sig)
{
    (void)sig;
    child_stop = 1;
}

static pid_t spawn(struct master *m, unsigned char tag[PSW_WORKER_TAG_SIZE])
{
    /* Unique enough if the generator fails: pid and time differ anyway. */
    if (RAND_bytes(tag, PSW_WORKER_TAG_SIZE) != 1) {
        int64_t t = psw_mono_ms();
        for (int i = 0; i < PSW_WORKER_TAG_SIZE; i++)
            tag[i] = (unsigned char)(t >> (8 * i));
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0)
        return pid;

    /* child */
    struct sigaction sa;
    sigset_t none;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_child_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    psw_log_init("worker", (enum psw_log_level)m->cfg->log_level,
                 (enum psw_log_format)m->cfg->log_format);
    psw_redis_free(m->redis); /* the master's: never used here (closes our copy) */
    m->redis = NULL;
    free(m->retiring);
    m->retiring = NULL;
    int rc = psw_child_run(m->cfg, &child_stop, tag);
    psw_config_free(m->cfg);
    free(m->cfg);
    exit(rc);
}

static int live_children(const struct master *m)
{
    int n = m->nretiring;
    for (int i = 0; i < m->nslots; i++)
        n += m->slots[i].pid > 0;
    return n;
}

static void signal_all(struct master *m, int sig)
{
    for (int i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
    for (int i = 0; i < m->nretiring; i++)
        kill(m->retiring[i].pid, sig);
}

/* hand_back on a Redis Cluster: the child may hold work in any shard
 * (docs/redis.md "Redis Cluster"), so worker_lost.lua runs on each. */
static void hand_back_shards(struct master *m, pid_t pid,
                             const unsigned char tag[PSW_WORKER_TAG_SIZE])
{
    char wid[256], maxrec[16], retention[24], err[512];
    struct psw_ctx ctx;
    long long requeued = 0, crashed = 0;
    unsigned failed = 0;
    psw_worker_id(wid, sizeof(wid), (long)pid, tag);
    snprintf(maxrec, sizeof(maxrec), "%d", m->cfg->scheduler_max_recoveries);
    snprintf(retention, sizeof(retention), "%lld",
             (long long)m->cfg->retention_days * 86400000LL);
    if (psw_ctx_open(&ctx, m->cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)) != PSW_OK) {
        log_warn("cannot hand back the work of worker %s: %s; the scheduler will recover it",
                 wid, err);
        return;
    }
    for (unsigned i = 0; i < psw_ctx_nshards(m->cfg); i++) {
        struct psw_ctx *sc = psw_ctx_shard(&ctx, i, err, sizeof(err));
        redisReply *rep = NULL;
        if (sc) {
            const char *argv[] = { sc->cfg->redis_prefix, wid, maxrec, retention };
            rep = psw_redis_eval(sc->redis, PSW_SCRIPT_WORKER_LOST, 4, argv, NULL);
        }
        if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
            requeued += psw_reply_int(rep, 0, 0);
            crashed += psw_reply_int(rep, 1, 0);
        } else {
            failed++;
        }
        freeReplyObject(rep);
    }
    psw_ctx_close(&ctx);
    if (requeued + crashed > 0)
        log_warn("handed back the work of dead worker %s: %lld deliveries requeued, %lld failed "
                 "as crashed", wid, requeued, crashed);
    if (failed)
        log_warn("could not hand back the work of worker %s in %u shard(s); the scheduler will "
                 "recover it after scheduler.worker_timeout", wid, failed);
}

/* Hands back the in-flight list of a child that died (worker_lost.lua). A
 * child that exited cleanly has released everything itself. */
static void hand_back(struct master *m, pid_t pid, const unsigned char tag[PSW_WORKER_TAG_SIZE],
                      int status)
{
    char wid[256], maxrec[16], retention[24], err[512];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    if (psw_ctx_nshards(m->cfg) > 1) {
        hand_back_shards(m, pid, tag);
        return;
    }
    if (!m->redis) {
        struct psw_redis_options opt = PSW_REDIS_OPTIONS_INIT;
        opt.url = m->cfg->redis_url;
        opt.connect_timeout_ms = m->cfg->redis_connect_timeout_ms;
        opt.command_timeout_ms = m->cfg->redis_command_timeout_ms;
        opt.retry = PSW_REDIS_FAIL_FAST; /* the scheduler's recovery is the net */
        m->redis = psw_redis_new(&opt, err, sizeof(err));
        if (!m->redis) {
            log_warn("cannot hand back the work of worker %ld: %s", (long)pid, err);
            return;
        }
    }
    psw_worker_id(wid, sizeof(wid), (long)pid, tag);
    snprintf(maxrec, sizeof(maxrec), "%d", m->cfg->scheduler_max_recoveries);
    snprintf(retention, sizeof(retention), "%lld",
             (long long)m->cfg->retention_days * 86400000LL);
    const char *argv[] = { m->cfg->redis_prefix, wid, maxrec, retention };
    redisReply *rep = psw_redis_eval(m->redis, PSW_SCRIPT_WORKER_LOST, 4, argv, NULL);
    if (!rep) {
        log_warn("could not hand back the work of worker %s (%s); the scheduler will recover it "
                 "after scheduler.worker_timeout",
                 wid, psw_redis_errstr(m->redis));
        return;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
        long long requeued = psw_reply_int(rep, 0, 0), crashed = psw_reply_int(rep, 1, 0);
        if (requeued + crashed > 0)
            log_warn("handed back the work of dead worker %s: %lld deliveries requeued, %lld "
                     "failed as crashed",
                     wid, requeued, crashed);
    } else {
        log_error("worker_lost %s: %s; the scheduler will recover it", wid,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
}

static void describe_exit(pid_t pid, int status, const char *what)
{
    if (WIFEXITED(status))
        log_info("%s %ld exited with code %d", what, (long)pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        log_warn("%s %ld killed by signal %d (%s)", what, (long)pid, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
}

static void reap(struct master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int found = 0;
        for (int i = 0; i < m->nretiring && !found; i++) {
            if (m->retiring[i].pid == pid) {
                describe_exit(pid, status, "retired worker");
                hand_back(m, pid, m->retiring[i].tag, status);
                m->retiring[i] = m->retiring[--m->nretiring];
                found = 1;
            }
        }
        for (int i = 0; i < m->nslots && !found; i++) {
            struct slot *s = &m->slots[i];
            if (s->pid != pid)
                continue;
            found = 1;
            describe_exit(pid, status, "worker");
            hand_back(m, pid, s->tag, status);
            s->pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == PSW_EXIT_CONFIG) {
                log_error("worker %ld reported a configuration error; stopping, not respawning",
                          (long)pid);
                m->fatal = 1;
                if (!m->stopping) {
                    m->stopping = 1;
                    m->kill_at = psw_mono_ms() + m->cfg->worker_shutdown_grace_ms + KILL_MARGIN_MS;
                    signal_all(m, SIGTERM);
                }
                continue;
            }
            if (m->stopping)
                continue;
            int64_t now = psw_mono_ms();
            if (now - s->started >= STABLE_MS)
                s->backoff = 0;
            else
                s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN_MS;
            if (s->backoff > BACKOFF_MAX_MS)
                s->backoff = BACKOFF_MAX_MS;
            s->respawn_at = now + s->backoff;
            if (s->backoff)
                log_info("respawning worker slot %d in %lld ms", i, (long long)s->backoff);
        }
        if (!found) { /* every child is in a slot or retiring */
            describe_exit(pid, status, "unknown child");
            PSW_BUG("worker master reaped child %ld it has no record of", (long)pid);
        }
    }
}

static void respawn_due(struct master *m)
{
    int64_t now = psw_mono_ms();
    for (int i = 0; i < m->nslots; i++) {
        struct slot *s = &m->slots[i];
        if (s->pid == 0 && now >= s->respawn_at) {
            pid_t pid = spawn(m, s->tag);
            if (pid > 0) {
                s->pid = pid;
                s->started = now;
                log_debug("worker slot %d: pid %ld", i, (long)pid);
            } else {
                s->respawn_at = now + BACKOFF_MIN_MS;
            }
        }
    }
}

static void reload(struct master *m)
{
    char err[1024];
    struct psw_config *next = calloc(1, sizeof(*next));
    if (!next) {
        log_error("reload: out of memory");
        return;
    }
    /* The new children will need the signing-secret keys: a key file that
     * cannot be read would make every one of them exit 78 (and the master
     * stop), so it refuses the reload like a bad config file does. */
    if (psw_config_load(next, m->config_path, err, sizeof(err)) < 0 ||
        psw_secrets_startup(next, err, sizeof(err)) < 0) {
        log_error("reload refused, keeping the running configuration: %s", err);
        psw_config_free(next);
        free(next);
        return;
    }
    if (next->worker_processes > MAX_CHILDREN)
        next->worker_processes = MAX_CHILDREN;
    log_info("configuration reloaded; replacing %d worker(s) with %d", live_children(m),
             next->worker_processes);
    /* Old children finish gracefully while the new generation starts. */
    int old = 0;
    for (int i = 0; i < m->nslots; i++)
        old += m->slots[i].pid > 0;
    if (m->nretiring + old > m->retiring_cap) {
        int cap = (m->nretiring + old) * 2;
        struct retiree *r = realloc(m->retiring, (size_t)cap * sizeof(*r));
        if (!r) {
            /* Forgetting a child would make it an unknown one and the stop
             * wait miss it: keep the running generation instead. */
            log_error("reload refused: out of memory");
            psw_config_free(next);
            free(next);
            return;
        }
        m->retiring = r;
        m->retiring_cap = cap;
    }
    for (int i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid > 0) {
            kill(m->slots[i].pid, SIGTERM);
            m->retiring[m->nretiring].pid = m->slots[i].pid;
            memcpy(m->retiring[m->nretiring].tag, m->slots[i].tag, PSW_WORKER_TAG_SIZE);
            m->nretiring++;
        }
    }
    /* the new config may name another Redis: connect again when needed */
    psw_redis_free(m->redis);
    m->redis = NULL;
    psw_config_free(m->cfg);
    free(m->cfg);
    m->cfg = next;
    psw_log_init("master", (enum psw_log_level)next->log_level, (enum psw_log_format)next->log_format);
    memset(m->slots, 0, sizeof(m->slots));
    m->nslots = next->worker_processes;
    respawn_due(m);
}

int psw_master_run(struct psw_config *cfg, const char *config_path)
{
    static struct master m; /* large; one per process */
    sigset_t set, old;
    struct sigaction ign;

    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.config_path = config_path;
    m.nslots = cfg->worker_processes < MAX_CHILDREN ? cfg->worker_processes : MAX_CHILDREN;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &old);

    log_info("master started: %d worker process(es), concurrency %d each", m.nslots,
             cfg->worker_concurrency);
    respawn_due(&m);

    for (;;) {
        if (m.stopping && live_children(&m) == 0)
            break;
        int64_t now = psw_mono_ms();
        int64_t wait = 1000;
        for (int i = 0; i < m.nslots && !m.stopping; i++)
            if (m.slots[i].pid == 0 && m.slots[i].respawn_at - now < wait)
                wait = m.slots[i].respawn_at - now;
        if (m.stopping && m.kill_at - now < wait)
            wait = m.kill_at - now;
        if (wait < 0)
            wait = 0;
        struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);
        switch (sig) {
        case SIGCHLD:
            reap(&m);
            break;
        case SIGTERM:
        case SIGINT:
            if (!m.stopping) {
                log_info("%s: stopping %d worker(s) (grace %lld ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                         live_children(&m), (long long)m.cfg->worker_shutdown_grace_ms);
                m.stopping = 1;
                m.kill_at = psw_mono_ms() + m.cfg->worker_shutdown_grace_ms + KILL_MARGIN_MS;
                signal_all(&m, SIGTERM);
            }
            break;
        case SIGHUP:
            if (!m.stopping)
                reload(&m);
            break;
        default:
            break;
        }
        reap(&m); /* SIGCHLDs coalesce; reaping on every wake-up misses none */
        if (m.stopping && psw_mono_ms() >= m.kill_at && live_children(&m) > 0) {
            log_warn("workers still running after the grace period; killing them");
            signal_all(&m, SIGKILL);
            m.kill_at = psw_mono_ms() + 60000;
        }
        if (!m.stopping)
            respawn_due(&m);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    psw_redis_free(m.redis);
    free(m.retiring);
    log_info("master stopped");
    int rc = m.fatal ? PSW_EXIT_CONFIG : 0;
    psw_config_free(m.cfg);
    free(m.cfg);
    return rc;
}
