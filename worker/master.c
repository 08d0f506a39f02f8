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
 * gracefully ("retiring"), so capacity never drops to zero.
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

#include "common/log.h"
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
    int64_t started;
    int64_t respawn_at;
    int64_t backoff;
};

struct master {
    struct psw_config *cfg;
    const char *config_path;
    struct slot slots[MAX_CHILDREN];
    int     nslots;
    pid_t   retiring[MAX_CHILDREN * 2];
    int     nretiring;
    int     stopping;
    int64_t kill_at;
    int     fatal;
};

static volatile sig_atomic_t child_stop;

static void on_child_stop(int sig)
{
    (void)sig;
    child_stop = 1;
}

static pid_t spawn(struct master *m)
{
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
    int rc = psw_child_run(m->cfg, &child_stop);
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
        kill(m->retiring[i], sig);
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
            if (m->retiring[i] == pid) {
                describe_exit(pid, status, "retired worker");
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
        if (!found)
            describe_exit(pid, status, "unknown child");
    }
}

static void respawn_due(struct master *m)
{
    int64_t now = psw_mono_ms();
    for (int i = 0; i < m->nslots; i++) {
        struct slot *s = &m->slots[i];
        if (s->pid == 0 && now >= s->respawn_at) {
            pid_t pid = spawn(m);
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
    for (int i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid > 0) {
            kill(m->slots[i].pid, SIGTERM);
            if (m->nretiring < (int)(sizeof(m->retiring) / sizeof(m->retiring[0])))
                m->retiring[m->nretiring++] = m->slots[i].pid;
        }
    }
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
    log_info("master stopped");
    int rc = m.fatal ? PSW_EXIT_CONFIG : 0;
    psw_config_free(m.cfg);
    free(m.cfg);
    return rc;
}
