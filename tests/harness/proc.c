/*
 * proc.c — child processes, temporary directories and files for black-box
 * tests (see proc.h for the contract).
 *
 * Invariants:
 *   - Between fork() and exec() the child calls only async-signal-safe
 *     functions: the test process may have threads (the HTTP receiver), so
 *     everything the child needs (argv, paths, descriptors) is prepared first.
 *   - A pid is signalled only after waitpid(pid, WNOHANG) said it is a live,
 *     unreaped child of ours: such a pid cannot have been recycled, which is
 *     what makes every stop idempotent and safe.
 *   - The registry (live children, directories to remove) is static storage
 *     under one mutex; its at-exit hook runs only in the process that
 *     registered (never in a forked child).
 * Ownership: strings returned by read_file, tmpdir_new and proc_run's out/err
 * belong to the caller.
 */
#include "tests/harness/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

/* ---- small utilities ----------------------------------------------------- */

long long harness_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "harness: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

/* ---- registry ------------------------------------------------------------ */

#define REG_MAX_PIDS 256
#define REG_MAX_DIRS 256
#define REG_DIR_LEN 512

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pid_t reg_owner;
static struct { pid_t pid; int sig; } reg_pids[REG_MAX_PIDS];
static char reg_dirs[REG_MAX_DIRS][REG_DIR_LEN];

static void reg_atexit(void);

static void reg_init(void)
{
    reg_owner = getpid();
    atexit(reg_atexit);
    /* A write to a server the test killed must fail with EPIPE, not kill the
     * test (hiredis writes with plain write()). Children get SIG_DFL back. */
    signal(SIGPIPE, SIG_IGN);
}

void harness_init(void)
{
    pthread_once(&reg_once, reg_init);
}

static void reg_track_pid(pid_t pid, int sig)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    size_t i;
    for (i = 0; i < REG_MAX_PIDS; i++) {
        if (reg_pids[i].pid == 0) {
            reg_pids[i].pid = pid;
            reg_pids[i].sig = sig ? sig : SIGTERM;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    if (i == REG_MAX_PIDS)
        fprintf(stderr, "harness: registry full, pid %d will not be cleaned at exit\n", (int)pid);
}

static void reg_untrack_pid(pid_t pid)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < REG_MAX_PIDS; i++)
        if (reg_pids[i].pid == pid)
            reg_pids[i].pid = 0;
    pthread_mutex_unlock(&reg_mu);
}

void harness_track_dir(const char *dir)
{
    if (!dir || !*dir)
        return;
    pthread_once(&reg_once, reg_init);
    size_t len = strlen(dir);
    size_t i = REG_MAX_DIRS;
    pthread_mutex_lock(&reg_mu);
    if (len < REG_DIR_LEN) {
        for (i = 0; i < REG_MAX_DIRS; i++) {
            if (reg_dirs[i][0] == '\0') {
                memcpy(reg_dirs[i], dir, len + 1);
                break;
            }
        }
    }
    pthread_mutex_unlock(&reg_mu);
    if (i == REG_MAX_DIRS)
        fprintf(stderr, "harness: %s will not be removed at exit\n", dir);
}

void harness_untrack_dir(const char *dir)
{
    if (!dir)
        return;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < REG_MAX_DIRS; i++)
        if (reg_dirs[i][0] && strcmp(reg_dirs[i], dir) == 0)
            reg_dirs[i][0] = '\0';
    pthread_mutex_unlock(&reg_mu);
}

/* Stops whatever a test left running: first signal, 3 s, SIGKILL, 2 s. */
static void reg_atexit(void)
{
    if (getpid() != reg_owner)
        return;
    pid_t pids[REG_MAX_PIDS];
    size_t n = 0;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < REG_MAX_PIDS; i++) {
        pid_t pid = reg_pids[i].pid;
        if (pid <= 0)
            continue;
        reg_pids[i].pid = 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) != 0)
            continue; /* already exited (now reaped) or not our child */
        fprintf(stderr, "harness: pid %d still running at exit (a test did not stop it): "
                        "sending signal %d\n", (int)pid, reg_pids[i].sig);
        kill(pid, reg_pids[i].sig);
        pids[n++] = pid;
    }
    pthread_mutex_unlock(&reg_mu);

    for (int pass = 0; pass < 2 && n > 0; pass++) {
        long long deadline = harness_mono_ms() + (pass == 0 ? 3000 : 2000);
        while (n > 0 && harness_mono_ms() < deadline) {
            for (size_t i = 0; i < n;) {
                int st;
                if (waitpid(pids[i], &st, WNOHANG) != 0)
                    pids[i] = pids[--n];
                else
                    i++;
            }
            if (n > 0)
                sleep_ms(10);
        }
        if (pass == 0)
            for (size_t i = 0; i < n; i++)
                kill(pids[i], SIGKILL);
    }
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "harness: pid %d could not be reaped\n", (int)pids[i]);

    for (size_t i = 0; i < REG_MAX_DIRS; i++) {
        if (reg_dirs[i][0]) {
            char dir[REG_DIR_LEN];
            memcpy(dir, reg_dirs[i], REG_DIR_LEN);
            tmpdir_remove(dir);
        }
    }
}

/* ---- spawning ------------------------------------------------------------ */

/* Child side: async-signal-safe only. fds[k] (−1 = inherit) becomes fd k.
 * On failure the errno goes up errfd and the child exits 127. */
static void child_exec(const char *path, char *const argv[], const int fds[3],
                       int pdeathsig, pid_t parent, int errfd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    /* Every program starts with the default dispositions, whatever the test
     * runner was started with: a CI job launched in the background has SIGINT
     * and SIGQUIT ignored, an ignored signal survives exec, and a shell script
     * cannot even trap one that was ignored when it started. */
    static const int sigs[] = { SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);

    if (pdeathsig) {
        prctl(PR_SET_PDEATHSIG, pdeathsig);
        if (getppid() != parent) /* the parent died before prctl took effect */
            _exit(127);
    }

    /* Move the sources above 2 first, so no dup2 clobbers a later source and
     * no source already sits on its target with FD_CLOEXEC set. */
    int moved[3];
    for (int k = 0; k < 3; k++) {
        moved[k] = -1;
        if (fds[k] >= 0 && (moved[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 10)) < 0)
            goto fail;
    }
    for (int k = 0; k < 3; k++)
        if (moved[k] >= 0 && dup2(moved[k], k) < 0)
            goto fail;

    /* Nothing but 0-2 crosses exec. CLOEXEC rather than close keeps errfd
     * usable until exec succeeds. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
            max = 65536;
        for (int fd = 3; fd < max; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    execv(path, argv);
fail:;
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* fork + child_exec, reporting exec failures synchronously through a
 * close-on-exec pipe: reading 0 bytes from it means exec succeeded. */
static pid_t spawn_fds(const char *path, char *const argv[], const int fds[3], int pdeathsig)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
        fprintf(stderr, "harness: pipe2: %s\n", strerror(errno));
        return -1;
    }
    pthread_once(&reg_once, reg_init);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        close(ep[0]);
        close(ep[1]);
        return -1;
    }
    if (pid == 0)
        child_exec(path, argv, fds, pdeathsig, parent, ep[1]);

    close(ep[1]);
    int e = 0;
    ssize_t r;
    do {
        r = read(ep[0], &e, sizeof e);
    } while (r < 0 && errno == EINTR);
    close(ep[0]);
    if (r == (ssize_t)sizeof e) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        fprintf(stderr, "harness: cannot execute %s: %s\n", path, strerror(e));
        return -1;
    }
    reg_track_pid(pid, pdeathsig);
    return pid;
}

pid_t harness_spawn(const char *path, char *const argv[], const char *log_path, int pdeathsig)
{
    int fds[3] = { -1, -1, -1 };
    pid_t pid = -1;
    fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fds[0] < 0) {
        fprintf(stderr, "harness: /dev/null: %s\n", strerror(errno));
        goto cleanup;
    }
    if (log_path) {
        fds[1] = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fds[1] < 0) {
            fprintf(stderr, "harness: %s: %s\n", log_path, strerror(errno));
            goto cleanup;
        }
        fds[2] = fds[1];
    }
    pid = spawn_fds(path, argv, fds, pdeathsig);
cleanup:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return pid;
}

const char *proc_bin(const char *name)
{
    static _Thread_local char ring[8][4096];
    static _Thread_local unsigned next;
    const char *bin = getenv("PSW_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "harness: PSW_BIN is not set: run the tests through tests/run.sh "
                        "(it points PSW_BIN at the programs of the build under test)\n");
        fflush(stderr); /* abort() flushes nothing, and stderr may be redirected */
        abort();
    }
    char *out = ring[next++ % 8];
    int n = snprintf(out, sizeof ring[0], "%s/%s", bin, name);
    if (n < 0 || (size_t)n >= sizeof ring[0]) {
        fprintf(stderr, "harness: path too long: %s/%s\n", bin, name);
        fflush(stderr);
        abort();
    }
    return out;
}

/* argv for exec: path, then args; free the array only (strings are borrowed). */
static char **build_argv(const char *path, const char *const args[])
{
    size_t n = 0;
    while (args && args[n])
        n++;
    char **argv = xrealloc(NULL, (n + 2) * sizeof *argv);
    argv[0] = (char *)path;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    argv[n + 1] = NULL;
    return argv;
}

pid_t proc_spawn(const char *name, const char *const argv[], const char *log_path)
{
    const char *path = proc_bin(name);
    char **av = build_argv(path, argv);
    pid_t pid = harness_spawn(path, av, log_path, SIGTERM);
    free(av);
    return pid;
}

int proc_wait(pid_t pid, int timeout_ms, int *status)
{
    if (pid <= 0)
        return -1;
    long long deadline = harness_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int step = 1;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            reg_untrack_pid(pid);
            if (status)
                *status = st;
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            reg_untrack_pid(pid);
            return -1;
        }
        long long left = deadline - harness_mono_ms();
        if (left <= 0)
            return -1;
        sleep_ms(step < left ? step : (int)left);
        if (step < 10)
            step *= 2;
    }
}

int proc_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    int st;
    pid_t r;
    do {
        r = waitpid(pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) {
        reg_untrack_pid(pid);
        return st;
    }
    if (r < 0) {
        reg_untrack_pid(pid);
        return -1;
    }
    /* r == 0: a live child of ours, safe to signal. */
    if (sig > 0)
        kill(pid, sig);
    if (proc_wait(pid, timeout_ms, &st) == 0)
        return st;
    kill(pid, SIGKILL);
    if (proc_wait(pid, 5000, &st) == 0)
        return st;
    fprintf(stderr, "harness: pid %d survived SIGKILL for 5 s\n", (int)pid);
    return -1;
}

/* ---- proc_run ------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static char *buf_take(struct buf *b)
{
    buf_reserve(b, 0);
    b->p[b->len] = '\0';
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* Reads what is available; 1 at EOF or a hard error, 0 otherwise. */
static int drain(int fd, struct buf *b)
{
    for (;;) {
        buf_reserve(b, 65536);
        ssize_t r = read(fd, b->p + b->len, b->cap - b->len - 1);
        if (r > 0) {
            b->len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return 1;
    }
}

static int exit_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -2;
}

int proc_run(const char *name, const char *const argv[], const char *stdin_data,
             char **out, char **err, int timeout_ms)
{
    const char *path = proc_bin(name);
    char **av = build_argv(path, argv);
    struct buf bo = { 0 }, be = { 0 };
    int in_sv[2] = { -1, -1 }, po[2] = { -1, -1 }, pe[2] = { -1, -1 };
    int rc = -2;
    pid_t pid = -1;
    long long deadline = harness_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    /* stdin is a socket so that writing after the child quit gives EPIPE
     * through MSG_NOSIGNAL instead of a SIGPIPE in the test process. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sv) != 0 ||
        pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        fprintf(stderr, "harness: proc_run %s: %s\n", name, strerror(errno));
        goto cleanup;
    }
    int fds[3] = { in_sv[1], po[1], pe[1] };
    pid = spawn_fds(path, av, fds, SIGKILL);
    close(in_sv[1]);
    close(po[1]);
    close(pe[1]);
    in_sv[1] = po[1] = pe[1] = -1;
    if (pid < 0)
        goto cleanup;

    const char *in_p = stdin_data ? stdin_data : "";
    size_t in_left = strlen(in_p);
    if (in_left == 0) {
        close(in_sv[0]);
        in_sv[0] = -1;
    }
    int fl;
    for (int k = 0; k < 3; k++) {
        int fd = k == 0 ? in_sv[0] : k == 1 ? po[0] : pe[0];
        if (fd >= 0 && (fl = fcntl(fd, F_GETFL)) >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }

    int timed_out = 0;
    while (po[0] >= 0 || pe[0] >= 0) {
        struct pollfd pf[3];
        nfds_t np = 0;
        int idx_in = -1, idx_o = -1, idx_e = -1;
        if (in_sv[0] >= 0) {
            idx_in = (int)np;
            pf[np++] = (struct pollfd){ .fd = in_sv[0], .events = POLLOUT };
        }
        if (po[0] >= 0) {
            idx_o = (int)np;
            pf[np++] = (struct pollfd){ .fd = po[0], .events = POLLIN };
        }
        if (pe[0] >= 0) {
            idx_e = (int)np;
            pf[np++] = (struct pollfd){ .fd = pe[0], .events = POLLIN };
        }
        long long left = deadline - harness_mono_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int pr = poll(pf, np, (int)left);
        if (pr < 0 && errno != EINTR) {
            fprintf(stderr, "harness: poll: %s\n", strerror(errno));
            timed_out = 1;
            break;
        }
        if (pr <= 0)
            continue;
        if (idx_in >= 0 && pf[idx_in].revents) {
            ssize_t w = send(in_sv[0], in_p, in_left, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                in_p += w;
                in_left -= (size_t)w;
            }
            if (in_left == 0 || (w < 0 && errno != EAGAIN && errno != EINTR)) {
                close(in_sv[0]); /* EOF for the child, or it stopped reading */
                in_sv[0] = -1;
            }
        }
        if (idx_o >= 0 && pf[idx_o].revents && drain(po[0], &bo)) {
            close(po[0]);
            po[0] = -1;
        }
        if (idx_e >= 0 && pf[idx_e].revents && drain(pe[0], &be)) {
            close(pe[0]);
            pe[0] = -1;
        }
    }

    int st = 0;
    if (!timed_out) {
        long long left = deadline - harness_mono_ms();
        if (proc_wait(pid, left > 0 ? (int)left : 0, &st) == 0) {
            rc = exit_code(st);
            pid = -1;
        } else {
            timed_out = 1;
        }
    }
    if (timed_out) {
        proc_stop(pid, SIGKILL, 5000);
        pid = -1;
        rc = -1;
    }

cleanup:
    if (pid > 0)
        proc_stop(pid, SIGKILL, 5000);
    for (int k = 0; k < 2; k++) {
        if (in_sv[k] >= 0)
            close(in_sv[k]);
        if (po[k] >= 0)
            close(po[k]);
        if (pe[k] >= 0)
            close(pe[k]);
    }
    if (out)
        *out = buf_take(&bo);
    if (err)
        *err = buf_take(&be);
    free(bo.p);
    free(be.p);
    free(av);
    return rc;
}

/* ---- files and directories ----------------------------------------------- */

char *tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + sizeof "/psw-test.XXXXXX";
    char *dir = xrealloc(NULL, n);
    snprintf(dir, n, "%s/psw-test.XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "harness: mkdtemp %s: %s\n", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    harness_track_dir(dir);
    return dir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "harness: remove %s: %s\n", path, strerror(errno));
    return 0;
}

void tmpdir_remove(const char *dir)
{
    if (!dir || !*dir || strcmp(dir, "/") == 0)
        return;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    harness_untrack_dir(dir);
}

int write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "harness: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(content);
    int ok = fwrite(content, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        fprintf(stderr, "harness: writing %s failed\n", path);
    return ok ? 0 : -1;
}

char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct buf b = { 0 };
    for (;;) {
        buf_reserve(&b, 65536);
        ssize_t r = read(fd, b.p + b.len, b.cap - b.len - 1);
        if (r > 0) {
            b.len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            free(b.p);
            return NULL;
        }
        break;
    }
    close(fd);
    if (len)
        *len = b.len;
    return buf_take(&b);
}

void file_tail(const char *path, int lines)
{
    size_t len;
    char *s = read_file(path, &len);
    if (!s) {
        fprintf(stderr, "---- %s: cannot read: %s\n", path, strerror(errno));
        return;
    }
    size_t start = len;
    if (start > 0 && s[start - 1] == '\n')
        start--; /* a trailing newline does not open a new line */
    int seen = 0;
    while (start > 0) {
        if (s[start - 1] == '\n' && ++seen == lines)
            break;
        start--;
    }
    fprintf(stderr, "---- last %d lines of %s ----\n%s%s---- end of %s ----\n", lines, path,
            s + start, (len > 0 && s[len - 1] != '\n') ? "\n" : "", path);
    free(s);
}

int wait_until(int (*pred)(void *), void *arg, int timeout_ms, int step_ms)
{
    long long deadline = harness_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    if (step_ms <= 0)
        step_ms = 10;
    for (;;) {
        if (pred(arg))
            return 0;
        long long left = deadline - harness_mono_ms();
        if (left <= 0)
            return -1;
        sleep_ms(step_ms < left ? step_ms : (int)left);
    }
}

void harness_nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

const char *harness_fmt(const char *f, ...)
{
    static char ring[8][8192];
    static int at;
    char *b = ring[at++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof(ring[0]), f, ap);
    va_end(ap);
    return b;
}

static void **kept;
static size_t nkept, capkept;
static struct json_object **kept_json;
static size_t nkept_json, capkept_json;

/* Appends p to a growing array (*arr, *n, *cap); aborts without memory. */
static void keep_in(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p) {
        fprintf(stderr, "harness_keep: NULL\n");
        abort();
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        void **a = realloc(*arr, c * sizeof(*a));
        if (!a) {
            fprintf(stderr, "harness_keep: out of memory\n");
            abort();
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
}

void *harness_keep(void *p)
{
    keep_in(&kept, &nkept, &capkept, p);
    return p;
}

struct json_object *harness_keep_json(struct json_object *o)
{
    keep_in((void ***)&kept_json, &nkept_json, &capkept_json, o);
    return o;
}

void harness_kept_free(void)
{
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    for (size_t i = 0; i < nkept_json; i++)
        json_object_put(kept_json[i]);
    free(kept);
    free(kept_json);
    kept = NULL;
    kept_json = NULL;
    nkept = capkept = nkept_json = capkept_json = 0;
}

char *harness_doc_line(const char *rel, const char *marker)
{
    char path[1024];
    const char *src = getenv("PSW_SRC");
    snprintf(path, sizeof(path), "%s/%s", src && *src ? src : ".", rel);
    char *doc = read_file(path, NULL);
    if (!doc)
        return NULL;
    char *p = strstr(doc, marker);
    char *line = NULL;
    if (p) {
        p += strlen(marker);
        line = strndup(p, strcspn(p, "\n"));
    }
    free(doc);
    return line;
}

int proc_children(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')'); /* comm may hold spaces and parens */
        char st;
        long ppid;
        if (!p || sscanf(p + 1, " %c %ld", &st, &ppid) != 2)
            continue;
        if (ppid == (long)parent && st != 'Z' && n < max)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}
