/*
 * test_redis.c — common/redis.c against a real, throwaway redis-server:
 * URL parsing, AUTH (password and ACL user), SELECT, unix sockets, embedded
 * scripts and NOSCRIPT recovery, reconnect after a restart in each retry
 * mode, outage logging once per outage, and the command timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redis.h"
#include "common/timeutil.h"
#include "tests/harness/harness.h"

/* ---- URL parsing (no server) ------------------------------------------ */

static void test_url_parse(void **state)
{
    (void)state;
    struct psw_redis_url u;
    char err[256];

    assert_int_equal(psw_redis_url_parse("redis://127.0.0.1:6390/2", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");

    assert_int_equal(psw_redis_url_parse("redis://psw:s%3Acret@redis.internal", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "psw");
    assert_string_equal(u.password, "s:cret");
    assert_string_equal(u.host, "redis.internal");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);

    assert_int_equal(psw_redis_url_parse("redis://:onlypass@h:1/0", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "onlypass");

    assert_int_equal(psw_redis_url_parse("redis://[::1]:7000/1", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 1);

    assert_int_equal(psw_redis_url_parse("unix:///run/redis.sock?db=4", &u, err, sizeof(err)), 0);
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/redis.sock");
    assert_int_equal(u.db, 4);

    static const struct { const char *url, *msg; } bad[] = {
        { "", "redis url: empty" },
        { "http://h:1", "must start with redis:// or unix://" },
        { "redis://", "no host" },
        { "redis://h:0", "port must be 1-65535" },
        { "redis://h:99999", "port must be 1-65535" },
        { "redis://h:x1", "port must be 1-65535" },
        { "redis://h/abc", "database must be a number" },
        { "redis://[::1", "unterminated [IPv6] host" },
        { "unix://relative.sock", "needs an absolute socket path" },
        { "unix:///s.sock?database=1", "expected ?db=N" },
        { "redis://u:%zz@h", "bad password" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(psw_redis_url_parse(bad[i].url, &u, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("url \"%s\": error \"%s\" lacks \"%s\"", bad[i].url, err, bad[i].msg);
    }
}

static void test_url_redact(void **state)
{
    (void)state;
    char out[256];
    psw_redis_url_redact("redis://psw:secret@h:1/0", out, sizeof(out));
    assert_string_equal(out, "redis://psw:****@h:1/0");
    psw_redis_url_redact("redis://h:1/0", out, sizeof(out));
    assert_string_equal(out, "redis://h:1/0");
}

/* ---- against a server ------------------------------------------------- */

static struct psw_redis *open_url(const char *url, int retry, char *err, size_t errlen)
{
    struct psw_redis_options opt = PSW_REDIS_OPTIONS_INIT;
    opt.url = url;
    opt.retry = retry;
    opt.connect_timeout_ms = 500;
    opt.command_timeout_ms = 2000;
    opt.backoff_initial_ms = 50;
    opt.backoff_max_ms = 200;
    return psw_redis_new(&opt, err, errlen);
}

static void test_connect_scripts_noscript(void **state)
{
    (void)state;
    struct redis_srv srv;
    char err[512];
    assert_int_equal(redis_srv_start(&srv, NULL), 0);

    struct psw_redis *r = open_url(srv.url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(psw_redis_ensure(r), 0);
    assert_int_equal(psw_redis_generation(r), 1);

    /* every embedded script is known to Redis by the SHA we hold */
    redisContext *raw = redis_srv_connect(&srv);
    assert_non_null(raw);
    for (int i = 0; i < PSW_SCRIPT__COUNT; i++) {
        const char *sha = psw_redis_script_sha(r, (enum psw_script_id)i);
        assert_int_equal(strlen(sha), 40);
        redisReply *e = redisCommand(raw, "SCRIPT EXISTS %s", sha);
        assert_int_equal(e->element[0]->integer, 1);
        freeReplyObject(e);
    }

    /* heartbeat.lua through EVALSHA: writes psw:workers with Redis time */
    const char *hb[] = { "t:", "w1", "host", "1", "0", "0", "1", "60000" };
    redisReply *rep = psw_redis_eval(r, PSW_SCRIPT_HEARTBEAT, 8, hb, NULL);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    redisReply *z = redisCommand(raw, "ZSCORE t:workers w1");
    assert_int_equal(z->type, REDIS_REPLY_STRING);
    freeReplyObject(z);

    /* SCRIPT FLUSH (as after a Redis restart without reconnect): the next
     * call reloads the script transparently, single and pipelined */
    freeReplyObject(redisCommand(raw, "SCRIPT FLUSH"));
    rep = psw_redis_eval(r, PSW_SCRIPT_HEARTBEAT, 8, hb, NULL);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);

    freeReplyObject(redisCommand(raw, "SCRIPT FLUSH"));
    const char *hb2[] = { "t:", "w2", "host", "1", "0", "0", "1", "60000" };
    const char *const *argvs[2] = { hb, hb2 };
    int argcs[2] = { 8, 8 };
    redisReply *reps[2];
    assert_int_equal(psw_redis_eval_many(r, PSW_SCRIPT_HEARTBEAT, 2, argcs, argvs, NULL, reps), 0);
    for (int i = 0; i < 2; i++) {
        assert_non_null(reps[i]);
        assert_int_equal(reps[i]->type, REDIS_REPLY_INTEGER);
        freeReplyObject(reps[i]);
    }
    z = redisCommand(raw, "ZCARD t:workers");
    assert_int_equal(z->integer, 2);
    freeReplyObject(z);

    redisFree(raw);
    psw_redis_free(r);
    redis_srv_stop(&srv);
}

/* A call over the argument limit in a pipelined batch fails the batch
 * before anything is queued: nothing runs, and the connection's next command
 * gets its own reply (not one of a half-written pipeline's). */
static void test_eval_many_over_limit_sends_nothing(void **state)
{
    (void)state;
    struct redis_srv srv;
    char err[512];
    static const char *big[1100];
    assert_int_equal(redis_srv_start(&srv, NULL), 0);
    struct psw_redis *r = open_url(srv.url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(psw_redis_ensure(r), 0);
    const char *hb[] = { "t:", "w3", "host", "1", "0", "0", "1", "60000" };
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
        big[i] = "x";
    const char *const *argvs[2] = { hb, big };
    int argcs[2] = { 8, (int)(sizeof(big) / sizeof(big[0])) };
    redisReply *reps[2];
    assert_int_equal(psw_redis_eval_many(r, PSW_SCRIPT_HEARTBEAT, 2, argcs, argvs, NULL, reps), -1);
    assert_null(reps[0]);
    assert_null(reps[1]);
    assert_non_null(strstr(psw_redis_errstr(r), "too many script arguments"));
    redisReply *p = psw_redis_command(r, "PING");
    assert_non_null(p);
    assert_int_equal(p->type, REDIS_REPLY_STATUS);
    assert_string_equal(p->str, "PONG");
    freeReplyObject(p);
    redisReply *z = psw_redis_command(r, "ZSCORE t:workers w3");
    assert_non_null(z);
    assert_int_equal(z->type, REDIS_REPLY_NIL); /* the first call never ran */
    freeReplyObject(z);
    psw_redis_free(r);
    redis_srv_stop(&srv);
}

static void test_auth_acl_and_select(void **state)
{
    (void)state;
    static const char *const extra[] = { "user psw on >pw-1 ~* &* +@all", NULL };
    struct redis_srv_opts opts = { 0 };
    opts.requirepass = "topsecret";
    opts.extra = extra;
    struct redis_srv srv;
    char url[256], err[512];
    assert_int_equal(redis_srv_start(&srv, &opts), 0);

    /* ACL user + password, database 3 */
    snprintf(url, sizeof(url), "redis://psw:pw-1@127.0.0.1:%d/3", srv.port);
    struct psw_redis *r = open_url(url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(psw_redis_ensure(r), 0);
    redisReply *who = psw_redis_command(r, "ACL WHOAMI");
    assert_string_equal(who->str, "psw");
    freeReplyObject(who);
    freeReplyObject(psw_redis_command(r, "SET in3 yes"));
    psw_redis_free(r);

    redisContext *raw = redis_srv_connect(&srv);
    freeReplyObject(redisCommand(raw, "SELECT 3"));
    redisReply *g = redisCommand(raw, "GET in3");
    assert_string_equal(g->str, "yes");
    freeReplyObject(g);
    redisFree(raw);

    /* password only (default user) */
    snprintf(url, sizeof(url), "redis://:topsecret@127.0.0.1:%d/0", srv.port);
    r = open_url(url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_int_equal(psw_redis_ensure(r), 0);
    psw_redis_free(r);

    /* a wrong password fails with a message that names AUTH, not the secret */
    snprintf(url, sizeof(url), "redis://psw:wrong@127.0.0.1:%d/0", srv.port);
    r = open_url(url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_int_equal(psw_redis_ensure(r), -1);
    assert_non_null(strstr(psw_redis_errstr(r), "AUTH failed"));
    assert_null(strstr(psw_redis_errstr(r), "wrong"));
    assert_non_null(strstr(psw_redis_errstr(r), "psw:****@"));
    psw_redis_free(r);

    /* no credentials at all against a protected server */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", srv.port);
    r = open_url(url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_int_equal(psw_redis_ensure(r), -1);
    assert_non_null(strstr(psw_redis_errstr(r), "NOAUTH"));
    psw_redis_free(r);
    redis_srv_stop(&srv);
}

static void test_unix_socket(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char sock[512], line[600], url[600], err[512];
    snprintf(sock, sizeof(sock), "%s/r.sock", dir);
    snprintf(line, sizeof(line), "unixsocket %s", sock);
    const char *const extra[] = { line, "unixsocketperm 700", NULL };
    struct redis_srv_opts opts = { 0 };
    opts.extra = extra;
    struct redis_srv srv;
    assert_int_equal(redis_srv_start(&srv, &opts), 0);

    snprintf(url, sizeof(url), "unix://%s?db=1", sock);
    struct psw_redis *r = open_url(url, PSW_REDIS_FAIL_FAST, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(psw_redis_ensure(r), 0);
    redisReply *p = psw_redis_command(r, "CLIENT INFO");
    assert_non_null(strstr(p->str, "db=1"));
    freeReplyObject(p);
    psw_redis_free(r);
    redis_srv_stop(&srv);
    tmpdir_remove(dir);
    free(dir);
}

/* Runs fn with stderr going to a file; returns the captured text. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/psw-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    size_t len;
    char *text = read_file(path, &len);
    unlink(path);
    return text;
}

struct outage {
    struct redis_srv *srv;
    struct psw_redis *r;
    int failed_calls;
    int64_t longest_call_ms;
};

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* RETRY_POLLED: while Redis is down, each call returns at once (the worker
 * keeps driving HTTP), and the outage is logged once, not once per try. */
static void polled_outage(void *arg)
{
    struct outage *o = arg;
    redisReply *rep = psw_redis_command(o->r, "PING");
    assert_non_null(rep);
    freeReplyObject(rep);
    assert_int_equal(redis_srv_kill(o->srv), 0);

    int64_t until = psw_mono_ms() + 1000;
    while (psw_mono_ms() < until) {
        int64_t t0 = psw_mono_ms();
        rep = psw_redis_command(o->r, "PING");
        int64_t took = psw_mono_ms() - t0;
        if (took > o->longest_call_ms)
            o->longest_call_ms = took;
        if (!rep)
            o->failed_calls++;
        else
            freeReplyObject(rep);
        usleep(5000);
    }
    assert_int_equal(redis_srv_restart(o->srv), 0);
    until = psw_mono_ms() + 3000;
    while (!(rep = psw_redis_command(o->r, "PING")) && psw_mono_ms() < until)
        usleep(10000);
    assert_non_null(rep);
    freeReplyObject(rep);
}

static void test_reconnect_polled_logs_once(void **state)
{
    (void)state;
    struct redis_srv srv;
    char err[512];
    assert_int_equal(redis_srv_start(&srv, NULL), 0);
    struct outage o = { &srv, open_url(srv.url, PSW_REDIS_RETRY_POLLED, err, sizeof(err)), 0, 0 };
    assert_non_null(o.r);
    psw_log_init("test", PSW_LOG_INFO, PSW_LOG_TEXT);

    char *log = capture_stderr(polled_outage, &o);
    assert_non_null(log);
    assert_true(o.failed_calls > 20);              /* many calls during the outage … */
    assert_int_equal(count(log, "WARN"), 1);       /* … one warning */
    assert_int_equal(count(log, "reachable again"), 1);
    assert_true(o.longest_call_ms < 600);          /* no call blocked for long */
    assert_int_equal(psw_redis_generation(o.r), 2);
    free(log);
    psw_redis_free(o.r);
    redis_srv_stop(&srv);
}

static volatile sig_atomic_t never;

static void test_reconnect_blocking_after_restart(void **state)
{
    (void)state;
    struct redis_srv srv;
    char err[512];
    static const char *const extra[] = { NULL };
    struct redis_srv_opts opts = { 0 };
    opts.aof = 1;
    opts.appendfsync = "always";
    opts.extra = extra;
    assert_int_equal(redis_srv_start(&srv, &opts), 0);

    struct psw_redis_options opt = PSW_REDIS_OPTIONS_INIT;
    opt.url = srv.url;
    opt.retry = PSW_REDIS_RETRY_BLOCKING;
    opt.stop = &never;
    opt.backoff_initial_ms = 20;
    opt.backoff_max_ms = 100;
    struct psw_redis *r = psw_redis_new(&opt, err, sizeof(err));
    freeReplyObject(psw_redis_command(r, "SET k before"));

    /* a restarted server: the first command fails (NULL), the next
     * reconnects, re-loads the scripts, and sees the AOF-restored data */
    assert_int_equal(redis_srv_kill(&srv), 0);
    assert_int_equal(redis_srv_restart(&srv), 0);
    redisReply *rep = psw_redis_command(r, "GET k");
    if (rep) { /* the kernel may not have reported the reset yet */
        freeReplyObject(rep);
    }
    rep = psw_redis_command(r, "GET k");
    if (!rep)
        rep = psw_redis_command(r, "GET k");
    assert_non_null(rep);
    assert_string_equal(rep->str, "before");
    freeReplyObject(rep);
    assert_true(psw_redis_generation(r) >= 2);
    const char *hb[] = { "t:", "w", "h", "1", "0", "0", "1", "60000" };
    rep = psw_redis_eval(r, PSW_SCRIPT_HEARTBEAT, 8, hb, NULL);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    psw_redis_free(r);
    redis_srv_stop(&srv);
}

static void test_fail_fast_and_command_timeout(void **state)
{
    (void)state;
    struct redis_srv srv;
    char err[512], url[128];
    assert_int_equal(redis_srv_start(&srv, NULL), 0);

    struct psw_redis_options opt = PSW_REDIS_OPTIONS_INIT;
    opt.url = srv.url;
    opt.command_timeout_ms = 300;
    struct psw_redis *r = psw_redis_new(&opt, err, sizeof(err));
    assert_int_equal(psw_redis_ensure(r), 0);

    /* a server that stops answering: the command gives up after ~300 ms */
    redisContext *raw = redis_srv_connect(&srv);
    freeReplyObject(redisCommand(raw, "CLIENT PAUSE 1500 ALL"));
    int64_t t0 = psw_mono_ms();
    redisReply *rep = psw_redis_command(r, "GET x");
    int64_t took = psw_mono_ms() - t0;
    assert_null(rep);
    assert_true(took >= 250 && took < 1200);
    assert_false(psw_redis_connected(r));
    redisFree(raw);
    psw_redis_free(r);

    /* fail fast: nothing listening → an error naming the address */
    int port = srv.port;
    redis_srv_stop(&srv);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    opt.url = url;
    r = psw_redis_new(&opt, err, sizeof(err));
    t0 = psw_mono_ms();
    assert_int_equal(psw_redis_ensure(r), -1);
    assert_true(psw_mono_ms() - t0 < 1000);
    assert_non_null(strstr(psw_redis_errstr(r), url));
    assert_non_null(strstr(psw_redis_errstr(r), "refused"));
    psw_redis_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_url_redact),
        cmocka_unit_test(test_connect_scripts_noscript),
        cmocka_unit_test(test_eval_many_over_limit_sends_nothing),
        cmocka_unit_test(test_auth_acl_and_select),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_reconnect_polled_logs_once),
        cmocka_unit_test(test_reconnect_blocking_after_restart),
        cmocka_unit_test(test_fail_fast_and_command_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
