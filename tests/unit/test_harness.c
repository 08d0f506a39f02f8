/*
 * test_harness.c — proves the black-box harness (tests/harness) works: real
 * redis-servers, the HTTP receiver driven by libcurl, and proc_* on a shell
 * script standing in for a program under $PSW_BIN.
 *
 * Each test owns a fixture (server, receiver, curl handle, temp dir) that its
 * teardown releases with the idempotent stops, so a failing assertion still
 * leaves nothing running. Every wait is bounded; timing assertions use wide
 * upper bounds so a loaded machine does not make them flaky.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/harness/harness.h"

#include "common/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- fixture -------------------------------------------------------------- */

struct fx {
    struct redis_srv srv;
    struct rx *rx;
    char *dir;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int fx_setup_rx(void **state)
{
    if (fx_setup(state) != 0)
        return -1;
    struct fx *f = *state;
    f->rx = rx_start();
    return f->rx ? 0 : -1;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    redis_srv_stop(&f->srv);
    rx_stop(f->rx);
    tmpdir_remove(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* ---- redis ---------------------------------------------------------------- */

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static void want_status(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STATUS)
        fprintf(stderr, "reply type %d: %s\n", r->type, r->str ? r->str : "");
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

static void want_string(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

/* CONFIG GET name → its value. */
static void want_config(redisContext *c, const char *name, const char *want)
{
    redisReply *r = cmd(c, "CONFIG GET %s", name);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[1]->str, want);
    freeReplyObject(r);
}

static void test_redis_start_ping_set_get_stop(void **state)
{
    struct fx *f = *state;
    assert_int_equal(redis_srv_start(&f->srv, NULL), 0);
    assert_true(f->srv.pid > 0);
    assert_true(f->srv.port > 0 && f->srv.port < 65536);
    char want[64];
    snprintf(want, sizeof want, "redis://127.0.0.1:%d/0", f->srv.port);
    assert_string_equal(f->srv.url, want);
    assert_true(path_exists(f->srv.dir));
    assert_true(path_exists(f->srv.conf));

    redisContext *c = redis_srv_connect(&f->srv);
    assert_non_null(c);
    want_status(c, "PONG", "PING");
    want_status(c, "OK", "SET %s %s", "greeting", "hello world");
    want_string(c, "hello world", "GET %s", "greeting");
    want_config(c, "bind", "127.0.0.1");
    want_config(c, "appendonly", "no");
    want_config(c, "save", "");
    want_config(c, "daemonize", "no");
    redisFree(c);

    char dir[sizeof f->srv.dir];
    memcpy(dir, f->srv.dir, sizeof dir);
    assert_int_equal(redis_srv_stop(&f->srv), 0);
    assert_int_equal(f->srv.pid, 0);
    assert_string_equal(f->srv.dir, "");
    assert_false(path_exists(dir));
    /* Nothing listens any more, and a second stop is harmless. */
    assert_null(redis_srv_connect(&f->srv));
    assert_int_equal(redis_srv_stop(&f->srv), 0);
    assert_int_equal(redis_srv_kill(&f->srv), -1);
    assert_int_equal(redis_srv_restart(&f->srv), -1);
}

static void test_redis_write_after_kill_is_an_error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(redis_srv_start(&f->srv, NULL), 0);
    redisContext *c = redis_srv_connect(&f->srv);
    assert_non_null(c);
    want_status(c, "PONG", "PING");
    assert_int_equal(redis_srv_kill(&f->srv), 0);
    /* No SIGPIPE kills the test: the command just fails. */
    redisReply *r = redisCommand(c, "PING");
    int failed = r == NULL && c->err != 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    assert_true(failed);
}

static void test_redis_stop_on_zeroed_struct(void **state)
{
    (void)state;
    struct redis_srv s;
    memset(&s, 0, sizeof s);
    assert_int_equal(redis_srv_stop(&s), 0);
    assert_int_equal(redis_srv_stop(&s), 0);
    assert_int_equal(redis_srv_kill(&s), -1);
}

static void test_redis_kill_restart_keeps_aof_data(void **state)
{
    struct fx *f = *state;
    const struct redis_srv_opts o = { .aof = 1, .appendfsync = "always" };
    assert_int_equal(redis_srv_start(&f->srv, &o), 0);
    redisContext *c = redis_srv_connect(&f->srv);
    assert_non_null(c);
    want_config(c, "appendonly", "yes");
    want_config(c, "appendfsync", "always");
    want_status(c, "OK", "SET %s %s", "durable", "v1");
    assert_int_equal(redis_srv_kill(&f->srv), 0);
    redisFree(c);

    int port = f->srv.port;
    assert_int_equal(f->srv.pid, 0);
    assert_true(path_exists(f->srv.dir)); /* kill keeps the data */
    assert_int_equal(redis_srv_kill(&f->srv), -1);

    assert_int_equal(redis_srv_restart(&f->srv), 0);
    assert_true(f->srv.pid > 0);
    assert_int_equal(f->srv.port, port);
    c = redis_srv_connect(&f->srv);
    assert_non_null(c);
    want_string(c, "v1", "GET %s", "durable");
    redisFree(c);

    /* Restart of a running server: graceful stop, then start again. */
    assert_int_equal(redis_srv_restart(&f->srv), 0);
    c = redis_srv_connect(&f->srv);
    assert_non_null(c);
    want_string(c, "v1", "GET %s", "durable");
    redisFree(c);
}

static void test_redis_requirepass(void **state)
{
    struct fx *f = *state;
    const struct redis_srv_opts o = { .requirepass = "s3cr3t" };
    assert_int_equal(redis_srv_start(&f->srv, &o), 0);
    char want[96];
    snprintf(want, sizeof want, "redis://:s3cr3t@127.0.0.1:%d/0", f->srv.port);
    assert_string_equal(f->srv.url, want);

    struct timeval tv = { 2, 0 };
    redisContext *raw = redisConnectWithTimeout("127.0.0.1", f->srv.port, tv);
    assert_non_null(raw);
    assert_int_equal(raw->err, 0);
    redisReply *r = cmd(raw, "GET %s", "k");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_true(strncmp(r->str, "NOAUTH", 6) == 0);
    freeReplyObject(r);
    r = cmd(raw, "AUTH %s", "wrong");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(raw);

    redisContext *c = redis_srv_connect(&f->srv);
    assert_non_null(c);
    want_status(c, "OK", "SET %s %s", "k", "v");
    want_string(c, "v", "GET %s", "k");
    redisFree(c);
}

static void test_redis_acl_user_from_extra(void **state)
{
    struct fx *f = *state;
    const char *const extra[] = { "user psw on >pw ~* &* +@all", NULL };
    const struct redis_srv_opts o = { .extra = extra };
    assert_int_equal(redis_srv_start(&f->srv, &o), 0);

    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", f->srv.port, tv);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = cmd(c, "AUTH %s %s", "psw", "nope");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_true(strncmp(r->str, "WRONGPASS", 9) == 0);
    freeReplyObject(r);
    want_status(c, "OK", "AUTH %s %s", "psw", "pw");
    want_string(c, "psw", "ACL WHOAMI");
    want_status(c, "OK", "SET %s %s", "acl", "yes");
    want_string(c, "yes", "GET %s", "acl");
    redisFree(c);
}

static void test_redis_bad_directive_fails_cleanly(void **state)
{
    struct fx *f = *state;
    const char *const extra[] = { "no-such-directive 1", NULL };
    const struct redis_srv_opts o = { .extra = extra };
    long long t0 = harness_mono_ms();
    assert_int_equal(redis_srv_start(&f->srv, &o), -1);
    assert_true(harness_mono_ms() - t0 < 5000);
    assert_int_equal(f->srv.pid, 0);
    assert_string_equal(f->srv.dir, "");
}

/* ---- receiver, driven by libcurl ------------------------------------------ */

struct resp {
    CURLcode rc;
    long status;
    char body[4096];
    size_t body_len;
    char headers[8192];
    size_t headers_len;
    long long ms;
    long connects;
    long local_port;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    size_t room = sizeof r->body - 1 - r->body_len;
    size_t k = len < room ? len : room;
    memcpy(r->body + r->body_len, p, k);
    r->body_len += k;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    size_t room = sizeof r->headers - 1 - r->headers_len;
    size_t k = len < room ? len : room;
    memcpy(r->headers + r->headers_len, p, k);
    r->headers_len += k;
    r->headers[r->headers_len] = '\0';
    return len;
}

/* Value of a response header (case-insensitive name) into out; 0 or -1. */
static int resp_header(const struct resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(end - v), v);
            return 0;
        }
        line = end + 2;
    }
    return -1;
}

/* One request. h NULL = a fresh handle; body NULL = GET. */
static void http(CURL *h, const char *url, const char *body, size_t body_len,
                 const char *const *headers, long timeout_ms, struct resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *own = NULL;
    if (!h)
        h = own = curl_easy_init();
    assert_non_null(h);
    struct curl_slist *hl = NULL;
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    long long t0 = harness_mono_ms();
    r->rc = curl_easy_perform(h);
    r->ms = harness_mono_ms() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
    curl_easy_getinfo(h, CURLINFO_LOCAL_PORT, &r->local_port);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (own)
        curl_easy_cleanup(own);
}

static void post(struct rx *rx, const char *path, const char *body, struct resp *r)
{
    char url[256];
    rx_url(rx, path, url, sizeof url);
    http(NULL, url, body, strlen(body), NULL, 5000, r);
    assert_int_equal(r->rc, CURLE_OK);
}

static void test_rx_records_post_exactly(void **state)
{
    struct fx *f = *state;
    static const char body[] = "{\"a\":1}\0\xff\x01 tail";
    const size_t body_len = sizeof body - 1;
    const char *const headers[] = { "Content-Type: application/json", "X-Psw-Test: abc 123",
                                    "webhook-id: msg_1", NULL };
    char url[256];
    rx_url(f->rx, "/hook?x=1&y=2", url, sizeof url);
    char want_prefix[64];
    snprintf(want_prefix, sizeof want_prefix, "http://127.0.0.1:%d/hook?", rx_port(f->rx));
    assert_true(strncmp(url, want_prefix, strlen(want_prefix)) == 0);

    int64_t before = psw_now_ms();
    struct resp r;
    http(NULL, url, body, body_len, headers, 5000, &r);
    int64_t after = psw_now_ms();
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");

    assert_int_equal(rx_count(f->rx, "/hook"), 1);
    assert_int_equal(rx_count(f->rx, NULL), 1);
    assert_int_equal(rx_count(f->rx, "/other"), 0);
    assert_int_equal(rx_count(f->rx, "/hook?x=1&y=2"), 0);

    struct rx_request *reqs;
    assert_int_equal(rx_requests(f->rx, "/hook", &reqs), 1);
    assert_string_equal(reqs[0].method, "POST");
    assert_string_equal(reqs[0].path, "/hook");
    assert_int_equal(reqs[0].body_len, body_len);
    assert_memory_equal(reqs[0].body, body, body_len);
    assert_int_equal(reqs[0].body[body_len], '\0');
    assert_string_equal(rx_header(&reqs[0], "X-PSW-TEST"), "abc 123");
    assert_string_equal(rx_header(&reqs[0], "Webhook-Id"), "msg_1");
    assert_string_equal(rx_header(&reqs[0], "content-type"), "application/json");
    char len_s[16];
    snprintf(len_s, sizeof len_s, "%zu", body_len);
    assert_string_equal(rx_header(&reqs[0], "Content-Length"), len_s);
    char host[32];
    snprintf(host, sizeof host, "127.0.0.1:%d", rx_port(f->rx));
    assert_string_equal(rx_header(&reqs[0], "host"), host);
    assert_null(rx_header(&reqs[0], "X-Absent"));
    assert_int_equal(reqs[0].status, 200);
    assert_true(reqs[0].at_ms >= before && reqs[0].at_ms <= after);
    rx_requests_free(reqs, 1);

    /* A GET on another path, and the all-paths snapshot in arrival order. */
    char url2[256];
    rx_url(f->rx, "/other", url2, sizeof url2);
    http(NULL, url2, NULL, 0, NULL, 5000, &r);
    assert_int_equal(r.status, 200);
    size_t n = rx_requests(f->rx, NULL, &reqs);
    assert_int_equal(n, 2);
    assert_string_equal(reqs[0].path, "/hook");
    assert_string_equal(reqs[1].path, "/other");
    assert_string_equal(reqs[1].method, "GET");
    assert_int_equal(reqs[1].body_len, 0);
    assert_string_equal(reqs[1].body, "");
    rx_requests_free(reqs, n);
    assert_int_equal(rx_requests(f->rx, "/none", &reqs), 0);
    assert_null(reqs);
}

static void test_rx_fail_first_then_ok_with_retry_after(void **state)
{
    struct fx *f = *state;
    rx_set(f->rx, "/flaky", &(struct rx_behavior){ .fail_first = 2, .retry_after = "7" });
    const long want[] = { 500, 500, 200 };
    for (int i = 0; i < 3; i++) {
        struct resp r;
        post(f->rx, "/flaky", "x", &r);
        assert_int_equal(r.status, want[i]);
        char ra[32];
        if (i < 2) {
            assert_int_equal(resp_header(&r, "Retry-After", ra, sizeof ra), 0);
            assert_string_equal(ra, "7");
        } else {
            assert_int_equal(resp_header(&r, "Retry-After", ra, sizeof ra), -1);
            assert_string_equal(r.body, "ok");
        }
    }
    struct resp r;
    post(f->rx, "/fine", "x", &r); /* other paths keep the default */
    assert_int_equal(r.status, 200);

    struct rx_request *reqs;
    size_t n = rx_requests(f->rx, "/flaky", &reqs);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(reqs[i].status, want[i]);
    rx_requests_free(reqs, n);

    /* A custom fail status and final status. */
    rx_set(f->rx, "/flaky", &(struct rx_behavior){ .fail_first = 1, .fail_status = 503,
                                                   .status = 204 });
    post(f->rx, "/flaky", "x", &r);
    assert_int_equal(r.status, 503);
    post(f->rx, "/flaky", "x", &r);
    assert_int_equal(r.status, 204);
}

static void test_rx_always_status_and_body(void **state)
{
    struct fx *f = *state;
    rx_set(f->rx, "/gone", &(struct rx_behavior){ .always_status = 410, .fail_first = 1,
                                                  .body = "gone for good", .retry_after = "1" });
    for (int i = 0; i < 3; i++) {
        struct resp r;
        post(f->rx, "/gone", "x", &r);
        assert_int_equal(r.status, 410);
        assert_string_equal(r.body, "gone for good");
        char ra[8];
        assert_int_equal(resp_header(&r, "Retry-After", ra, sizeof ra), 0);
        assert_string_equal(ra, "1");
    }
    assert_int_equal(rx_count(f->rx, "/gone"), 3);
}

static void test_rx_location_and_default_behavior(void **state)
{
    struct fx *f = *state;
    rx_set(f->rx, "/moved", &(struct rx_behavior){ .status = 302,
                                                   .location = "http://127.0.0.1:1/elsewhere" });
    struct resp r;
    post(f->rx, "/moved", "x", &r);
    assert_int_equal(r.status, 302);
    char loc[128];
    assert_int_equal(resp_header(&r, "Location", loc, sizeof loc), 0);
    assert_string_equal(loc, "http://127.0.0.1:1/elsewhere");

    rx_set(f->rx, NULL, &(struct rx_behavior){ .status = 202, .body = "" });
    post(f->rx, "/anything", "x", &r);
    assert_int_equal(r.status, 202);
    assert_int_equal(r.body_len, 0);
    post(f->rx, "/moved", "x", &r); /* its own rule wins */
    assert_int_equal(r.status, 302);

    rx_set(f->rx, "/moved", NULL); /* back to the default */
    post(f->rx, "/moved", "x", &r);
    assert_int_equal(r.status, 202);
    rx_set(f->rx, NULL, NULL);
    post(f->rx, "/moved", "x", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
}

static void test_rx_delay(void **state)
{
    struct fx *f = *state;
    rx_set(f->rx, "/slow", &(struct rx_behavior){ .delay_ms = 300 });
    struct resp r;
    post(f->rx, "/slow", "x", &r);
    assert_int_equal(r.status, 200);
    assert_true(r.ms >= 300);
    assert_true(r.ms < 2000);
    post(f->rx, "/quick", "x", &r);
    assert_true(r.ms < 300);
}

static void test_rx_hang_client_gives_up(void **state)
{
    struct fx *f = *state;
    rx_set(f->rx, "/hang", &(struct rx_behavior){ .hang = 1 });
    char url[256];
    rx_url(f->rx, "/hang", url, sizeof url);
    struct resp r;
    http(NULL, url, "x", 1, NULL, 300, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    assert_true(r.ms >= 300 && r.ms < 2000);

    struct rx_request *reqs;
    assert_int_equal(rx_requests(f->rx, "/hang", &reqs), 1);
    assert_int_equal(reqs[0].status, 0);
    rx_requests_free(reqs, 1);

    long long t0 = harness_mono_ms();
    rx_stop(f->rx);
    f->rx = NULL;
    assert_true(harness_mono_ms() - t0 < 1000);
}

struct bg_req {
    char url[256];
    const char *body;
    long timeout_ms;
    int delay_ms;
    int count;
    struct resp r;
};

static void *bg_request(void *arg)
{
    struct bg_req *b = arg;
    if (b->delay_ms)
        sleep_ms(b->delay_ms);
    for (int i = 0; i < (b->count ? b->count : 1); i++)
        http(NULL, b->url, b->body, b->body ? strlen(b->body) : 0, NULL, b->timeout_ms, &b->r);
    return NULL;
}

static void test_rx_stop_is_prompt_while_handler_hangs(void **state)
{
    struct fx *f = *state;
    rx_set(f->rx, "/hang", &(struct rx_behavior){ .hang = 1 });
    struct bg_req b = { .body = "payload", .timeout_ms = 10000 };
    rx_url(f->rx, "/hang", b.url, sizeof b.url);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_request, &b), 0);
    int waited = rx_wait(f->rx, "/hang", 1, 3000);

    /* The hang holds only its own connection. */
    struct resp r;
    post(f->rx, "/other", "x", &r);
    assert_int_equal(r.status, 200);
    assert_true(r.ms < 1000);

    long long t0 = harness_mono_ms();
    rx_stop(f->rx);
    f->rx = NULL;
    long long stop_ms = harness_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(waited, 0);
    assert_true(stop_ms < 1000);
    assert_int_not_equal(b.r.rc, CURLE_OK);
    assert_true(b.r.ms < 5000);
}

static void test_rx_wait(void **state)
{
    struct fx *f = *state;
    long long t0 = harness_mono_ms();
    assert_int_equal(rx_wait(f->rx, "/w", 1, 200), -1);
    long long took = harness_mono_ms() - t0;
    assert_true(took >= 200 && took < 1000);

    struct bg_req b = { .body = "x", .timeout_ms = 5000, .delay_ms = 100, .count = 2 };
    rx_url(f->rx, "/w", b.url, sizeof b.url);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_request, &b), 0);
    t0 = harness_mono_ms();
    int rc = rx_wait(f->rx, "/w", 2, 3000);
    took = harness_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_true(took >= 90 && took < 3000);
    assert_int_equal(rx_count(f->rx, "/w"), 2);
    assert_int_equal(rx_wait(f->rx, NULL, 2, 0), 0);
    assert_int_equal(rx_wait(f->rx, "/w", 3, 50), -1);
}

static void test_rx_keep_alive(void **state)
{
    struct fx *f = *state;
    char url[256];
    rx_url(f->rx, "/ka", url, sizeof url);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    struct resp r1, r2;
    http(h, url, "one", 3, NULL, 5000, &r1);
    http(h, url, "two", 3, NULL, 5000, &r2);
    assert_int_equal(r1.rc, CURLE_OK);
    assert_int_equal(r2.rc, CURLE_OK);
    assert_int_equal(r1.connects, 1);
    assert_int_equal(r2.connects, 0); /* the second request reused the connection */
    assert_int_equal(r1.local_port, r2.local_port);

    struct rx_request *reqs;
    size_t n = rx_requests(f->rx, "/ka", &reqs);
    assert_int_equal(n, 2);
    assert_string_equal(reqs[0].body, "one");
    assert_string_equal(reqs[1].body, "two");
    rx_requests_free(reqs, n);

    /* The client still holds the idle keep-alive connection: stop is prompt. */
    long long t0 = harness_mono_ms();
    rx_stop(f->rx);
    f->rx = NULL;
    long long took = harness_mono_ms() - t0;
    curl_easy_cleanup(h);
    assert_true(took < 1000);
}

static void test_rx_reset_and_counters(void **state)
{
    struct fx *f = *state;
    struct resp r;
    post(f->rx, "/a", "1", &r);
    post(f->rx, "/a", "2", &r);
    post(f->rx, "/b", "3", &r);
    assert_int_equal(rx_count(f->rx, "/a"), 2);
    assert_int_equal(rx_count(f->rx, "/b"), 1);
    assert_int_equal(rx_count(f->rx, NULL), 3);

    /* fail_first counts from the rx_set, not from the first request ever. */
    rx_set(f->rx, "/a", &(struct rx_behavior){ .fail_first = 1 });
    post(f->rx, "/a", "4", &r);
    assert_int_equal(r.status, 500);
    post(f->rx, "/a", "5", &r);
    assert_int_equal(r.status, 200);

    rx_reset(f->rx);
    assert_int_equal(rx_count(f->rx, NULL), 0);
    struct rx_request *reqs;
    assert_int_equal(rx_requests(f->rx, NULL, &reqs), 0);
    assert_null(reqs);
    post(f->rx, "/a", "6", &r); /* counter forgotten, behaviour kept */
    assert_int_equal(r.status, 500);
    assert_int_equal(rx_count(f->rx, "/a"), 1);
}

/* ---- proc ------------------------------------------------------------------ */

static const char fake_script[] =
    "#!/bin/sh\n"
    "printf 'args:%s:%s\\n' \"$#\" \"$*\"\n"
    "echo to-stderr >&2\n"
    "case \"$1\" in\n"
    "stdin) cat ;;\n"
    "exit) exit \"$2\" ;;\n"
    "sleep) exec sleep \"$2\" ;;\n"
    "big) head -c 1048576 /dev/zero | tr '\\000' x; head -c 1048576 /dev/zero | tr '\\000' y >&2 ;;\n"
    "term) trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.02; done ;;\n"
    "ignore) trap '' TERM; echo ready; exec sleep 30 ;;\n"
    "sigign) exec grep SigIgn /proc/self/status ;;\n"
    "esac\n";

static char *saved_psw_bin;
static char *fake_bin_dir;

static int proc_group_setup(void **state)
{
    (void)state;
    const char *old = getenv("PSW_BIN");
    saved_psw_bin = old ? strdup(old) : NULL;
    fake_bin_dir = tmpdir_new();
    if (!fake_bin_dir)
        return -1;
    char path[1024];
    snprintf(path, sizeof path, "%s/fake", fake_bin_dir);
    if (write_file(path, fake_script) != 0 || chmod(path, 0755) != 0)
        return -1;
    return setenv("PSW_BIN", fake_bin_dir, 1);
}

static int proc_group_teardown(void **state)
{
    (void)state;
    if (saved_psw_bin)
        setenv("PSW_BIN", saved_psw_bin, 1);
    else
        unsetenv("PSW_BIN");
    free(saved_psw_bin);
    tmpdir_remove(fake_bin_dir);
    free(fake_bin_dir);
    return 0;
}

static void test_proc_bin(void **state)
{
    (void)state;
    char want[1024];
    snprintf(want, sizeof want, "%s/psw-worker", fake_bin_dir);
    assert_string_equal(proc_bin("psw-worker"), want);
    const char *a = proc_bin("a");
    const char *b = proc_bin("b");
    assert_true(a != b); /* a ring, so two results can be used together */
}

static void test_proc_bin_aborts_without_psw_bin(void **state)
{
    struct fx *f = *state;
    f->dir = tmpdir_new();
    assert_non_null(f->dir);
    char errpath[1024];
    snprintf(errpath, sizeof errpath, "%s/stderr", f->dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(errpath, "w", stderr))
            _exit(99);
        unsetenv("PSW_BIN");
        proc_bin("psw");
        _exit(0);
    }
    int st;
    assert_int_equal(proc_wait(pid, 5000, &st), 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    char *msg = read_file(errpath, NULL);
    assert_non_null(msg);
    int says = strstr(msg, "PSW_BIN is not set") != NULL;
    free(msg);
    assert_true(says);
}

static void test_proc_run_exit_code_and_streams(void **state)
{
    (void)state;
    char *out, *err;
    const char *const argv[] = { "exit", "7", NULL };
    assert_int_equal(proc_run("fake", argv, NULL, &out, &err, 5000), 7);
    assert_string_equal(out, "args:2:exit 7\n");
    assert_string_equal(err, "to-stderr\n");
    free(out);
    free(err);

    assert_int_equal(proc_run("fake", NULL, NULL, &out, NULL, 5000), 0);
    assert_string_equal(out, "args:0:\n");
    free(out);

    /* A program that is not there. */
    assert_int_equal(proc_run("no-such-program", NULL, NULL, &out, &err, 5000), -2);
    assert_string_equal(out, "");
    free(out);
    free(err);
}

/* The test process ignores SIGPIPE (harness_init), its children do not. */
static void test_proc_sigpipe_dispositions(void **state)
{
    (void)state;
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_IGN);
    char *out;
    const char *const argv[] = { "sigign", NULL };
    assert_int_equal(proc_run("fake", argv, NULL, &out, NULL, 5000), 0);
    const char *line = strstr(out, "SigIgn:");
    assert_non_null(line);
    unsigned long long mask = strtoull(line + 7, NULL, 16);
    free(out);
    assert_int_equal(mask & (1ULL << (SIGPIPE - 1)), 0);
}

static void test_proc_run_stdin(void **state)
{
    (void)state;
    char *out, *err;
    const char *const argv[] = { "stdin", NULL };
    assert_int_equal(proc_run("fake", argv, "hello\nworld", &out, &err, 5000), 0);
    assert_string_equal(out, "args:1:stdin\nhello\nworld");
    assert_string_equal(err, "to-stderr\n");
    free(out);
    free(err);
}

static void test_proc_run_big_streams_no_deadlock(void **state)
{
    (void)state;
    char *out, *err;
    const char *const big[] = { "big", NULL };
    assert_int_equal(proc_run("fake", big, NULL, &out, &err, 10000), 0);
    const char *head_o = "args:1:big\n";
    size_t lo = strlen(out), le = strlen(err);
    assert_int_equal(lo, strlen(head_o) + 1048576);
    assert_int_equal(le, strlen("to-stderr\n") + 1048576);
    assert_true(strncmp(out, head_o, strlen(head_o)) == 0);
    assert_true(out[lo - 1] == 'x' && strspn(out + strlen(head_o), "x") == 1048576);
    assert_true(strspn(err + strlen("to-stderr\n"), "y") == 1048576);
    free(out);
    free(err);

    /* 1 MiB through stdin and back while stdout fills up. */
    size_t n = 1048576;
    char *in = malloc(n + 1);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    in[n] = '\0';
    const char *const cat[] = { "stdin", NULL };
    assert_int_equal(proc_run("fake", cat, in, &out, &err, 10000), 0);
    assert_int_equal(strlen(out), strlen("args:1:stdin\n") + n);
    assert_memory_equal(out + strlen("args:1:stdin\n"), in, n);
    free(in);
    free(out);
    free(err);
}

static void test_proc_run_timeout_kills(void **state)
{
    (void)state;
    char *out, *err;
    const char *const argv[] = { "sleep", "5", NULL };
    long long t0 = harness_mono_ms();
    assert_int_equal(proc_run("fake", argv, NULL, &out, &err, 300), -1);
    long long took = harness_mono_ms() - t0;
    assert_true(took >= 300 && took < 2000);
    assert_string_equal(out, "args:2:sleep 5\n"); /* what came before the kill */
    free(out);
    free(err);
}

static int log_has(void *arg)
{
    const char **a = arg; /* { path, needle } */
    char *s = read_file(a[0], NULL);
    int has = s && strstr(s, a[1]) != NULL;
    free(s);
    return has;
}

static void test_proc_spawn_and_stop_with_term(void **state)
{
    struct fx *f = *state;
    f->dir = tmpdir_new();
    assert_non_null(f->dir);
    char logp[1024];
    snprintf(logp, sizeof logp, "%s/fake.log", f->dir);
    assert_int_equal(write_file(logp, "earlier line\n"), 0);

    const char *const argv[] = { "term", NULL };
    pid_t pid = proc_spawn("fake", argv, logp);
    assert_true(pid > 0);
    const char *ready[] = { logp, "ready" };
    int ok = wait_until(log_has, ready, 3000, 10);
    int st = proc_stop(pid, SIGTERM, 3000);
    assert_int_equal(ok, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
    char *log = read_file(logp, NULL);
    assert_non_null(log);
    /* appended, both streams, and the handler ran */
    int good = strncmp(log, "earlier line\nargs:1:term\n", 25) == 0 &&
               strstr(log, "to-stderr\n") && strstr(log, "got-term\n");
    if (!good)
        file_tail(logp, 10);
    free(log);
    assert_true(good);

    /* Idempotent: the pid is gone, nothing is signalled. */
    assert_int_equal(proc_stop(pid, SIGTERM, 100), -1);
    assert_int_equal(proc_wait(pid, 100, &st), -1);
    assert_int_equal(proc_stop(0, SIGTERM, 100), -1);
    assert_int_equal(proc_stop(-1, SIGTERM, 100), -1);

    assert_int_equal(proc_spawn("no-such-program", NULL, logp), -1);
}

static void test_proc_stop_escalates_to_kill(void **state)
{
    struct fx *f = *state;
    f->dir = tmpdir_new();
    assert_non_null(f->dir);
    char logp[1024];
    snprintf(logp, sizeof logp, "%s/ignore.log", f->dir);
    const char *const argv[] = { "ignore", NULL };
    pid_t pid = proc_spawn("fake", argv, logp);
    assert_true(pid > 0);
    const char *ready[] = { logp, "ready" };
    int ok = wait_until(log_has, ready, 3000, 10);
    long long t0 = harness_mono_ms();
    int st = proc_stop(pid, SIGTERM, 200);
    long long took = harness_mono_ms() - t0;
    assert_int_equal(ok, 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_true(took >= 200 && took < 2000);
}

static void test_proc_wait(void **state)
{
    (void)state;
    const char *const argv[] = { "sleep", "0.3", NULL };
    pid_t pid = proc_spawn("fake", argv, "/dev/null");
    assert_true(pid > 0);
    int st = -1;
    long long t0 = harness_mono_ms();
    int early = proc_wait(pid, 50, &st);
    long long took = harness_mono_ms() - t0;
    int later = proc_wait(pid, 5000, &st);
    if (later != 0)
        proc_stop(pid, SIGKILL, 1000);
    assert_int_equal(early, -1);
    assert_true(took >= 50 && took < 1000);
    assert_int_equal(later, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_files_and_tmpdir(void **state)
{
    struct fx *f = *state;
    f->dir = tmpdir_new();
    assert_non_null(f->dir);
    const char *base = getenv("TMPDIR");
    base = base && *base ? base : "/tmp";
    assert_true(strncmp(f->dir, base, strlen(base)) == 0);

    char sub[1024], file[1100];
    snprintf(sub, sizeof sub, "%s/a/b", f->dir);
    snprintf(file, sizeof file, "%s/a", f->dir);
    assert_int_equal(mkdir(file, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(file, sizeof file, "%s/f.txt", sub);
    assert_int_equal(write_file(file, "l1\nl2\nl3\nl4\n"), 0);
    size_t len = 0;
    char *s = read_file(file, &len);
    assert_non_null(s);
    assert_int_equal(len, 12);
    assert_string_equal(s, "l1\nl2\nl3\nl4\n");
    free(s);
    assert_null(read_file("/nonexistent/psw/file", &len));
    file_tail(file, 2); /* prints "l3\nl4" framed, to stderr */

    assert_int_equal(write_file(file, ""), 0);
    s = read_file(file, &len);
    assert_non_null(s);
    assert_int_equal(len, 0);
    free(s);

    tmpdir_remove(f->dir);
    assert_false(path_exists(f->dir));
    tmpdir_remove(f->dir); /* already gone: harmless */
    tmpdir_remove(NULL);
}

static int countdown(void *arg)
{
    int *n = arg;
    return --*n <= 0;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static void test_wait_until(void **state)
{
    (void)state;
    int n = 3;
    assert_int_equal(wait_until(countdown, &n, 2000, 5), 0);
    assert_int_equal(n, 0);
    long long t0 = harness_mono_ms();
    assert_int_equal(wait_until(never, NULL, 100, 10), -1);
    long long took = harness_mono_ms() - t0;
    assert_true(took >= 100 && took < 1000);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest redis_tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_start_ping_set_get_stop, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_redis_write_after_kill_is_an_error, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_redis_stop_on_zeroed_struct),
        cmocka_unit_test_setup_teardown(test_redis_kill_restart_keeps_aof_data, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_redis_requirepass, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_redis_acl_user_from_extra, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_redis_bad_directive_fails_cleanly, fx_setup,
                                        fx_teardown),
    };
    const struct CMUnitTest rx_tests[] = {
        cmocka_unit_test_setup_teardown(test_rx_records_post_exactly, fx_setup_rx, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_fail_first_then_ok_with_retry_after, fx_setup_rx,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_always_status_and_body, fx_setup_rx, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_location_and_default_behavior, fx_setup_rx,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_delay, fx_setup_rx, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_hang_client_gives_up, fx_setup_rx, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_stop_is_prompt_while_handler_hangs, fx_setup_rx,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_wait, fx_setup_rx, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_keep_alive, fx_setup_rx, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rx_reset_and_counters, fx_setup_rx, fx_teardown),
    };
    const struct CMUnitTest proc_tests[] = {
        cmocka_unit_test(test_proc_bin),
        cmocka_unit_test_setup_teardown(test_proc_bin_aborts_without_psw_bin, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_proc_run_exit_code_and_streams),
        cmocka_unit_test(test_proc_sigpipe_dispositions),
        cmocka_unit_test(test_proc_run_stdin),
        cmocka_unit_test(test_proc_run_big_streams_no_deadlock),
        cmocka_unit_test(test_proc_run_timeout_kills),
        cmocka_unit_test_setup_teardown(test_proc_spawn_and_stop_with_term, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_proc_stop_escalates_to_kill, fx_setup, fx_teardown),
        cmocka_unit_test(test_proc_wait),
        cmocka_unit_test_setup_teardown(test_files_and_tmpdir, fx_setup, fx_teardown),
        cmocka_unit_test(test_wait_until),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("harness: redis_server", redis_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("harness: receiver", rx_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("harness: proc", proc_tests, proc_group_setup,
                                          proc_group_teardown);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
