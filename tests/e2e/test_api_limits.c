/*
 * test_api_limits.c — psw-api's limits, black-box (docs/api.md "Limits"):
 * bad JSON, a wrong content type, an oversized body (413 before it is
 * read), an oversized batch, oversized headers, an idle connection, and
 * the per-token rate limit (429 with
 * Retry-After) shared by two psw-api processes through Redis.
 * Scaffolding as test_api.c (docs/api.md): a whole deployment
 * (tests/harness/cluster.h) plus a real psw-api, started and driven over
 * HTTP by tests/harness/api_fixture.c, which records every answer for the
 * OpenAPI check at the end.
 *   - every route with an admin token and with an account token;
 *   - isolation: another account's endpoint, delivery and token ids answer
 *     404 exactly like ids that do not exist, on every path taking an id;
 *   - no token, a bad token, an expired token, a revoked token;
 *   - a publish through the API delivered and its signature verified at the
 *     receiver; a replay through the API reaching the receiver;
 *   - sessions: cookie + CSRF; dashboard links are single use;
 *   - the audit trail records API and CLI changes.
 * Limits (body, batch, rate) are in test_api_limits.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/sign.h"
#include "common/timeutil.h"
#include "tests/harness/api_fixture.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 10000

static struct cluster C;
static struct api_fixture A = API_FIXTURE_INIT(&C);

/* One request; asserts the status; returns the reply (kept until teardown). */
static struct api_reply *req(int want, const char *method, const char *path, const char *token,
                             const char *body)
{
    return api_fixture_req(&A, want, method, path, token, body);
}


static void test_body_limits(void **state)
{
    (void)state;
    static const char *const extra[] = { "api.max_body_bytes: 2048", "api.max_batch: 2",
                                         "api.rate_limit: 0", NULL };
    api_fixture_start(&A, extra);
    api_fixture_problem(req(400, "POST", "/v1/endpoints", A.admin, "{\"url\":"), "body");
    api_fixture_problem(req(400, "POST", "/v1/endpoints", A.admin, "[1,2]"), "body");
    api_fixture_problem(req(400, "POST", "/v1/endpoints", A.admin, "{\"url\":1}"), "url");
    struct api_reply x;
    struct api_req wrong = { "POST", "/v1/endpoints", A.admin, "text/plain", "{}", 0, NULL, NULL };
    api_send(A.base, &wrong, &x);
    assert_int_equal(x.status, 415);
    assert_string_equal(x.content_type, "application/problem+json");
    api_reply_free(&x);
    char *big = harness_keep(malloc(4096));
    memset(big, ' ', 4095);
    big[0] = '{';
    big[4094] = '}';
    big[4095] = '\0';
    api_fixture_problem(req(413, "POST", "/v1/endpoints", A.admin, big), "body");
    const char *ev = "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.com\","
                     "\"data\":{\"message_id\":\"m\",\"to\":\"t@x.com\"}}";
    api_fixture_problem(req(413, "POST", "/v1/events", A.admin,
                      harness_fmt("{\"events\":[%s,%s,%s]}", ev, ev, ev)), "events");
    struct api_reply *r = req(202, "POST", "/v1/events", A.admin, harness_fmt("{\"events\":[%s,%s]}", ev, ev));
    assert_non_null(strstr(r->body, "\"result\":\"published\""));
    /* nothing stored by the refused calls: two events published in all */
    assert_int_equal(cluster_hget_ll(&C, "stats", "events_published", -1), 2);
    A.ok = 1;
}

/* Headers over api.max_header_bytes are refused (431, by libmicrohttpd);
 * a connection that sends nothing is closed after api.connection_timeout,
 * so idle or slow clients cannot hold the server's threads. */
static void test_header_and_idle_limits(void **state)
{
    (void)state;
    static const char *const extra[] = { "api.max_header_bytes: 4096",
                                         "api.connection_timeout: 1s", NULL };
    api_fixture_start(&A, extra);
    char *cookie = harness_keep(malloc(8001));
    memset(cookie, 'a', 8000);
    cookie[0] = 'x';
    cookie[1] = '=';
    cookie[8000] = '\0';
    struct api_req big = { "GET", "/healthz", NULL, NULL, NULL, 0, cookie, NULL };
    struct api_reply x;
    api_send(A.base, &big, &x);
    assert_int_equal(x.status, 431);
    api_reply_free(&x);
    req(200, "GET", "/healthz", NULL, NULL); /* and the server still answers */

    int port = (int)strtol(strrchr(A.base, ':') + 1, NULL, 10);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = { 5, 0 }; /* bound: five times the timeout */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    char b[16];
    long long t0 = harness_mono_ms();
    ssize_t n = recv(fd, b, sizeof(b), 0);
    long long waited = harness_mono_ms() - t0;
    close(fd);
    assert_int_equal(n, 0); /* closed by the server, not our receive timeout */
    assert_true(waited < 5000);
    A.ok = 1;
}

static void test_rate_limit(void **state)
{
    (void)state;
    static const char *const extra[] = { "api.rate_limit: 5", NULL };
    api_fixture_start(&A, extra);
    /* A second psw-api on the same Redis shares the count. */
    char base2[64], log2[700];
    int port2 = api_free_port();
    snprintf(base2, sizeof(base2), "http://127.0.0.1:%d", port2);
    snprintf(log2, sizeof(log2), "%s/api2.log", C.dir);
    char cfg2[700];
    snprintf(cfg2, sizeof(cfg2), "%s/api2.yaml", C.dir);
    char *text = read_file(C.config_path, NULL);
    assert_non_null(text);
    /* the same file with another api.listen */
    char *at = strstr(text, "api.listen: ");
    assert_non_null(at);
    size_t pre = (size_t)(at - text);
    const char *rest = strchr(at, '\n');
    assert_int_equal(write_file(cfg2, harness_fmt("%.*sapi.listen: 127.0.0.1:%d%s", (int)pre, text,
                                                  port2, rest ? rest : "")), 0);
    free(text);
    const char *argv[] = { "--config", cfg2, NULL };
    pid_t p2 = proc_spawn("psw-api", argv, log2);
    assert_true(p2 > 0);
    struct api_reply x;
    for (int i = 0; i < 200; i++) {
        int up = api_do(base2, "GET", "/healthz", NULL, NULL, &x) == 0 && x.status == 200;
        api_reply_free(&x);
        if (up)
            break;
        harness_nap(20);
    }
    /* Up to 5 a second pass, across both servers; then 429 + Retry-After.
     * Bounded: 20 requests, and the window is one second. */
    int ok = 0, limited = 0;
    char retry[32] = "";
    for (int i = 0; i < 20; i++) {
        api_do(i % 2 ? base2 : A.base, "GET", "/v1/stats", A.admin, NULL, &x);
        if (x.status == 200)
            ok++;
        else if (x.status == 429) {
            limited++;
            snprintf(retry, sizeof(retry), "%s", x.retry_after);
            assert_string_equal(x.content_type, "application/problem+json");
        } else
            fail_msg("unexpected %d", x.status);
        api_reply_free(&x);
    }
    assert_true(limited > 0);
    assert_true(ok <= 10); /* at most two one-second windows fit in the loop */
    assert_string_equal(retry, "1");
    /* Another token has its own budget. */
    char other[128];
    assert_int_equal(api_fixture_token(&A, "other", NULL, other, sizeof(other)), 0);
    api_do(A.base, "GET", "/v1/stats", other, NULL, &x);
    assert_int_equal(x.status, 200);
    api_reply_free(&x);
    proc_stop(p2, SIGTERM, 10000);
    A.ok = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_body_limits, NULL, api_fixture_teardown, &A),
        cmocka_unit_test_prestate_setup_teardown(test_header_and_idle_limits, NULL, api_fixture_teardown, &A),
        cmocka_unit_test_prestate_setup_teardown(test_rate_limit, NULL, api_fixture_teardown, &A),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
