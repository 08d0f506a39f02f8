/*
 * redis_server.h — a throwaway redis-server for one test.
 *
 * redis_srv_start makes a private directory (mkdtemp under $TMPDIR or /tmp)
 * holding redis.conf, the log and any AOF, picks a free port on 127.0.0.1 and
 * waits (at most 5 s) until the server answers PING. The struct owns the
 * process and the directory: redis_srv_stop ends both and may be called any
 * number of times, also on a zeroed struct or after a failed start. A test
 * that forgets the stop still leaves nothing behind: the process dies with
 * the test process (PR_SET_PDEATHSIG) and the at-exit hook of proc.c removes
 * the directory. Start servers from the test's main thread (see proc.h).
 */
#ifndef PSW_TEST_HARNESS_REDIS_SERVER_H
#define PSW_TEST_HARNESS_REDIS_SERVER_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

struct redis_srv_opts {
    int aof;                  /* appendonly yes */
    const char *appendfsync;  /* "always" / "everysec" / "no"; NULL = redis default */
    const char *requirepass;  /* password of the default user; NULL = none */
    const char *const *extra; /* extra "directive value" lines, NULL-terminated */
};

#define REDIS_SRV_PATH 512

struct redis_srv {
    pid_t pid;                 /* 0 when not running */
    int port;                  /* kept across kill/restart */
    char dir[REDIS_SRV_PATH];  /* "" once stopped */
    char url[REDIS_SRV_PATH + 128]; /* redis://[:password@]127.0.0.1:PORT/0 */
    char conf[REDIS_SRV_PATH + 16]; /* dir/redis.conf */
    char log[REDIS_SRV_PATH + 16];  /* dir/redis.log (the server's logfile) */
    char out[REDIS_SRV_PATH + 16];  /* dir/redis.out (stdout/stderr: config errors) */
    char password[256];
};

/* 0, or -1 with the reason (and the server's log tail) on stderr; on failure
 * nothing is left running or on disk. opts NULL = no AOF, no password. */
int redis_srv_start(struct redis_srv *s, const struct redis_srv_opts *opts);

/* SIGTERM, wait up to 5 s, SIGKILL; then rm -rf the directory. Idempotent.
 * Returns 0 (also when there was nothing to stop). */
int redis_srv_stop(struct redis_srv *s);

/* SIGKILL (a crash: no final fsync), keeping the directory and the port.
 * 0, or -1 when not running. */
int redis_srv_kill(struct redis_srv *s);

/* Starts the server again with the same config, port and directory (so the
 * AOF is reloaded), stopping it first (SIGTERM) if it still runs. Waits for
 * PING like start. 0 or -1. */
int redis_srv_restart(struct redis_srv *s);

/* A new hiredis connection (2 s connect timeout, 5 s command timeout),
 * authenticated when the server has a requirepass. NULL with the reason on
 * stderr. The caller redisFree()s it. */
redisContext *redis_srv_connect(struct redis_srv *s);

/* ---- shared with sentinel.c --------------------------------------------- */

/* A port on 127.0.0.1 that was free a moment ago (bind to 0, read back). */
int redis_srv_free_port(void);

/* A listening TCP socket on 127.0.0.1 (backlog 16), port chosen by the
 * kernel and stored in *port. Returns the fd, or -1. For tests that play a
 * raw server (or one that never accepts). */
int harness_listen_loopback(int *port);

/* The absolute path of name found in $PATH (resolved before fork, since the
 * child may only execv). 0, or -1 with a message on stderr. */
int redis_srv_find_exe(const char *name, char *out, size_t n);

#endif
