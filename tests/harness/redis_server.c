/*
 * redis_server.c — throwaway redis-server instances (see redis_server.h).
 *
 * Invariants: s->pid > 0 exactly while the server process is ours and
 * unreaped; s->dir[0] != '\0' exactly while the directory exists and is
 * registered for at-exit removal. The port is chosen by binding 127.0.0.1:0
 * and reading it back; since another process may take it before redis binds,
 * a start whose server dies with "Address already in use" is retried on a new
 * port (up to 5 times). The config is written once per start attempt and
 * reused verbatim by restart, which is what keeps port and directory.
 */
#include "tests/harness/redis_server.h"

#include "tests/harness/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define START_ATTEMPTS 5

/* A TCP socket bound to 127.0.0.1 on a port the kernel picks; -1 on error. */
static int bind_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int redis_srv_free_port(void)
{
    int port = -1;
    int fd = bind_loopback(&port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

int harness_listen_loopback(int *port)
{
    int fd = bind_loopback(port);
    if (fd >= 0 && listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes s as a redis config string: double quotes, \ and " escaped. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_conf(const struct redis_srv *s, const struct redis_srv_opts *o)
{
    FILE *f = fopen(s->conf, "w");
    if (!f) {
        fprintf(stderr, "redis_srv: %s: %s\n", s->conf, strerror(errno));
        return -1;
    }
    fprintf(f, "port %d\nbind 127.0.0.1\ndaemonize no\nsave \"\"\n", s->port);
    fputs("dir ", f);
    put_quoted(f, s->dir);
    fputs("\nlogfile ", f);
    put_quoted(f, s->log);
    fprintf(f, "\nappendonly %s\n", o->aof ? "yes" : "no");
    if (o->appendfsync)
        fprintf(f, "appendfsync %s\n", o->appendfsync);
    if (o->requirepass) {
        fputs("requirepass ", f);
        put_quoted(f, o->requirepass);
        fputc('\n', f);
    }
    for (const char *const *e = o->extra; e && *e; e++)
        fprintf(f, "%s\n", *e);
    if (fclose(f) != 0) {
        fprintf(stderr, "redis_srv: writing %s failed\n", s->conf);
        return -1;
    }
    return 0;
}

int redis_srv_find_exe(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        int w = snprintf(out, n, "%.*s/%s", (int)len, len ? path : ".", name);
        if (w > 0 && (size_t)w < n && access(out, X_OK) == 0)
            return 0;
        path += len + (colon ? 1 : 0);
    }
    fprintf(stderr, "redis_srv: %s not found in PATH (scripts/deps.sh test installs it)\n", name);
    return -1;
}

static int spawn_server(struct redis_srv *s)
{
    char exe[1024];
    if (redis_srv_find_exe("redis-server", exe, sizeof exe) != 0)
        return -1;
    char *argv[] = { exe, s->conf, NULL };
    s->pid = harness_spawn(exe, argv, s->out, SIGKILL);
    if (s->pid < 0) {
        s->pid = 0;
        return -1;
    }
    return 0;
}

/* quiet = a readiness probe: short timeouts (another program may hold the
 * port for a moment), no messages. */
static redisContext *connect_ctx(const struct redis_srv *s, int quiet)
{
    struct timeval ct = quiet ? (struct timeval){ 0, 500000 } : (struct timeval){ 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, ct);
    if (!c || c->err) {
        if (!quiet)
            fprintf(stderr, "redis_srv: connect 127.0.0.1:%d: %s\n", s->port,
                    c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    struct timeval tv = quiet ? (struct timeval){ 0, 500000 } : (struct timeval){ 5, 0 };
    redisSetTimeout(c, tv);
    if (s->password[0]) {
        redisReply *r = redisCommand(c, "AUTH %s", s->password);
        int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
        if (!ok && !quiet)
            fprintf(stderr, "redis_srv: AUTH failed: %s\n",
                    r ? (r->str ? r->str : "unexpected reply") : c->errstr);
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* 0 once PING answers PONG, 1 when the server exited, -1 on timeout. */
static int wait_ready(struct redis_srv *s, int timeout_ms)
{
    long long deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        int st;
        if (proc_wait(s->pid, 0, &st) == 0) {
            s->pid = 0;
            return 1;
        }
        redisContext *c = connect_ctx(s, 1);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        if (harness_mono_ms() >= deadline)
            return -1;
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static int log_says_port_taken(const struct redis_srv *s)
{
    char *log = read_file(s->log, NULL);
    int taken = log && strstr(log, "Address already in use") != NULL;
    free(log);
    return taken;
}

static void show_logs(const struct redis_srv *s)
{
    file_tail(s->log, 20);
    file_tail(s->out, 20);
}

/* Appends src to out percent-encoded (RFC 3986 userinfo). */
static void url_encode(char *out, size_t n, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(out);
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 4 < n; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

int redis_srv_start(struct redis_srv *s, const struct redis_srv_opts *opts)
{
    static const struct redis_srv_opts defaults = { 0, NULL, NULL, NULL };
    const struct redis_srv_opts *o = opts ? opts : &defaults;
    memset(s, 0, sizeof *s);

    if (o->requirepass) {
        size_t len = strlen(o->requirepass);
        if (len == 0 || len >= sizeof s->password) {
            fprintf(stderr, "redis_srv: requirepass must be 1..%zu bytes\n", sizeof s->password - 1);
            return -1;
        }
        memcpy(s->password, o->requirepass, len + 1);
    }
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int w = snprintf(s->dir, sizeof s->dir, "%s/psw-redis.XXXXXX", base);
    if (w < 0 || (size_t)w >= sizeof s->dir || !mkdtemp(s->dir)) {
        fprintf(stderr, "redis_srv: cannot make a directory under %s: %s\n", base, strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    harness_track_dir(s->dir);
    snprintf(s->conf, sizeof s->conf, "%s/redis.conf", s->dir);
    snprintf(s->log, sizeof s->log, "%s/redis.log", s->dir);
    snprintf(s->out, sizeof s->out, "%s/redis.out", s->dir);

    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        s->port = redis_srv_free_port();
        if (s->port <= 0) {
            fprintf(stderr, "redis_srv: no free port: %s\n", strerror(errno));
            break;
        }
        unlink(s->log);
        unlink(s->out);
        if (write_conf(s, o) != 0 || spawn_server(s) != 0)
            break;
        int r = wait_ready(s, START_TIMEOUT_MS);
        if (r == 0) {
            snprintf(s->url, sizeof s->url, "redis://");
            if (s->password[0]) {
                snprintf(s->url + strlen(s->url), sizeof s->url - strlen(s->url), ":");
                url_encode(s->url, sizeof s->url, s->password);
                snprintf(s->url + strlen(s->url), sizeof s->url - strlen(s->url), "@");
            }
            snprintf(s->url + strlen(s->url), sizeof s->url - strlen(s->url),
                     "127.0.0.1:%d/0", s->port);
            return 0;
        }
        if (r == 1 && log_says_port_taken(s))
            continue; /* lost the race for the port: try another */
        fprintf(stderr, "redis_srv: redis-server on port %d %s\n", s->port,
                r == 1 ? "exited during start" : "did not answer PING within 5 s");
        show_logs(s);
        break;
    }
    redis_srv_stop(s);
    return -1;
}

int redis_srv_stop(struct redis_srv *s)
{
    if (s->pid > 0)
        proc_stop(s->pid, SIGTERM, STOP_TIMEOUT_MS);
    s->pid = 0;
    if (s->dir[0]) {
        tmpdir_remove(s->dir);
        s->dir[0] = '\0';
    }
    return 0;
}

int redis_srv_kill(struct redis_srv *s)
{
    if (s->pid <= 0)
        return -1;
    proc_stop(s->pid, SIGKILL, STOP_TIMEOUT_MS);
    s->pid = 0;
    return 0;
}

int redis_srv_restart(struct redis_srv *s)
{
    if (!s->dir[0]) {
        fprintf(stderr, "redis_srv: restart of a server that was stopped (or never started)\n");
        return -1;
    }
    if (s->pid > 0) {
        proc_stop(s->pid, SIGTERM, STOP_TIMEOUT_MS);
        s->pid = 0;
    }
    if (spawn_server(s) != 0)
        return -1;
    int r = wait_ready(s, START_TIMEOUT_MS);
    if (r == 0)
        return 0;
    fprintf(stderr, "redis_srv: restart on port %d %s\n", s->port,
            r == 1 ? "exited during start" : "did not answer PING within 5 s");
    show_logs(s);
    redis_srv_kill(s);
    return -1;
}

redisContext *redis_srv_connect(struct redis_srv *s)
{
    if (s->port <= 0) {
        fprintf(stderr, "redis_srv: connect to a server that was never started\n");
        return NULL;
    }
    return connect_ctx(s, 0);
}
