/*
 * test_ssrf.c — the SSRF guard end to end: real redis-server, psw-scheduler
 * and psw-worker processes (tests/harness/cluster.c) with the fixture's
 * "http.allow_private_networks: true" replaced by false, so 127.0.0.1 — where
 * every receiver of these tests listens — is a forbidden network.
 *
 *   - A URL whose host is a name is accepted at creation; "localhost"
 *     resolves to loopback, so the worker refuses the socket: the attempts
 *     fail with last_error "blocked: …", the receiver gets nothing, and a
 *     plain TCP listener sees not even a connection. The alert webhook
 *     (operator-configured, on 127.0.0.1) is not guarded and is reached.
 *   - URLs whose host is a literal refused address (every literal form) are
 *     refused at creation and at update, by the library and by bin/psw, with
 *     a message naming the address and how to allow it; nothing is stored.
 *   - http.allowed_networks: [127.0.0.1/32] opens exactly that address.
 *   - With http.proxy set, the proxy (on 127.0.0.1) is reached: filtering is
 *     then the proxy's job.
 * Redirects are never followed (test_delivery.c covers that).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "tests/harness/cluster.h"
#include "tests/harness/redis_server.h"

#define WAIT_MS 10000
#define SETTLE_MS 300
#define HINT "; set http.allowed_networks or http.allow_private_networks to allow it"

static struct cluster C;
static int C_up;
static int T_done;
static int L_fd = -1; /* the plain TCP listener of test_blocked_at_connect */
static struct rx *R2;  /* a second receiver, on 127.0.0.2 */

static void up(const char *const *overrides)
{
    T_done = 0;
    C_up = 1;
    if (cluster_start(&C, overrides, 1, 1) < 0)
        fail_msg("the cluster did not start");
}

/* The proxy variables libcurl reads from the environment: NO_PROXY and
 * no_proxy set to no_proxy, and every proxy variable to proxy (NULL unsets).
 * The programs the cluster starts inherit them; down() unsets them all. */
static void proxy_env(const char *no_proxy, const char *proxy)
{
    static const char *const np[] = { "NO_PROXY", "no_proxy" };
    static const char *const px[] = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                      "ALL_PROXY", "all_proxy" };
    for (size_t i = 0; i < sizeof(np) / sizeof(np[0]); i++)
        no_proxy ? setenv(np[i], no_proxy, 1) : unsetenv(np[i]);
    for (size_t i = 0; i < sizeof(px) / sizeof(px[0]); i++)
        proxy ? setenv(px[i], proxy, 1) : unsetenv(px[i]);
}

static int down(void **state)
{
    (void)state;
    proxy_env(NULL, NULL);
    if (R2) {
        rx_stop(R2);
        R2 = NULL;
    }
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    if (L_fd >= 0) {
        close(L_fd);
        L_fd = -1;
    }
    return 0;
}

static const char *H(const char *key, const char *field)
{
    static char ring[8][4096];
    static int at;
    char *v = cluster_hget(&C, key, field);
    if (!v)
        return NULL;
    char *b = ring[at++ % 8];
    snprintf(b, sizeof(ring[0]), "%s", v);
    free(v);
    return b;
}

static long long cmd_int(const char *f, const char *arg)
{
    redisReply *r = cluster_cmd(&C, f, arg);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

/* psw_endpoint_create with url; the return code, the id or the message. */
static int create(const char *account, const char *url, char id[PSW_ID_SIZE], char *err,
                  size_t errlen)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    spec.account_id = account;
    spec.url = url;
    err[0] = '\0';
    int rc = psw_endpoint_create(&C.ctx, &spec, &ep, err, errlen);
    if (rc == PSW_OK && id)
        snprintf(id, PSW_ID_SIZE, "%s", ep.id);
    psw_endpoint_free(&ep);
    return rc;
}

static void create_ok(const char *account, const char *url, char id[PSW_ID_SIZE])
{
    char err[512];
    if (create(account, url, id, err, sizeof(err)) != PSW_OK)
        fail_msg("creating an endpoint for %s: %s", url, err);
}

static void publish(const char *evt, const char *account)
{
    struct psw_publish_result res;
    const char *json = harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                           "\"domain\":\"s.example\",\"data\":{\"message_id\":\"<%s@x>\",\"to\":\"bob@example.org\"}}",
                           evt, account, evt);
    if (psw_publish(&C.ctx, json, strlen(json), &res) != PSW_OK)
        fail_msg("psw_publish: %s", res.err);
    assert_int_equal(res.deliveries, 1);
}

static const char *only_delivery(const char *ep)
{
    static char ring[4][PSW_ID_SIZE];
    static int at;
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, ep, &ids);
    if (n != 1) {
        cluster_ids_free(ids, n);
        fail_msg("endpoint %s has %zu deliveries, expected 1", ep, n);
    }
    char *b = ring[at++ % 4];
    snprintf(b, PSW_ID_SIZE, "%s", ids[0]);
    cluster_ids_free(ids, n);
    return b;
}

static void wait_state(const char *dlv, const char *state)
{
    if (cluster_wait_field(&C, harness_fmt("delivery:%s", dlv), "state", state, WAIT_MS) != 0)
        fail_msg("delivery %s never reached state %s", dlv, state);
}

static void starts_with(const char *s, const char *prefix, const char *what)
{
    if (!s || strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("%s is \"%s\", expected it to start with \"%s\"", what, s ? s : "(nil)",
                 prefix);
}

static void contains(const char *s, const char *needle, const char *what)
{
    if (!s || !strstr(s, needle))
        fail_msg("%s is \"%s\", expected it to contain \"%s\"", what, s ? s : "(nil)", needle);
}

/* Every attempt record's error of a delivery starts with "blocked: " and
 * names loopback; returns how many records there were. */
static size_t check_attempt_records(const char *dlv)
{
    redisReply *r = cluster_cmd(&C, "LRANGE %s 0 -1",
                                harness_fmt("%sdelivery:%s:attempts", C.cfg.redis_prefix, dlv));
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    for (size_t i = 0; i < n; i++) {
        char rec[2048], err[512] = "";
        int status = -1;
        snprintf(rec, sizeof(rec), "%s", r->element[i]->str);
        json_object *o = json_tokener_parse(rec);
        json_object *e = NULL, *st = NULL;
        if (o && json_object_object_get_ex(o, "error", &e) &&
            json_object_object_get_ex(o, "status", &st)) {
            snprintf(err, sizeof(err), "%s", json_object_get_string(e));
            status = json_object_get_int(st);
        }
        json_object_put(o);
        if (strncmp(err, "blocked: address ", 17) != 0 || !strstr(err, " is loopback (") ||
            status != 0) {
            freeReplyObject(r);
            fail_msg("attempt record %zu of %s: %s", i, dlv, rec);
        }
    }
    freeReplyObject(r);
    return n;
}

/* A TCP listener on 127.0.0.1 that nobody accepts from: a connection attempt
 * would sit in its backlog. Returns the port. */
static int plain_listener(void)
{
    int port = -1;
    L_fd = harness_listen_loopback(&port);
    assert_true(L_fd >= 0);
    return port;
}

/* url with "PORT" replaced by port, in a static ring (via fmt). */
static const char *with_port(const char *url, int port)
{
    const char *at = strstr(url, "PORT");
    if (!at)
        return url;
    return harness_fmt("%.*s%d%s", (int)(at - url), url, port, at + 4);
}

/* ---- tests ---------------------------------------------------------------- */

static const char *const guarded[] = {
    "http.allow_private_networks: false",
    "retry.schedule: 50ms",
    "endpoint.disable_after_failures: 2",
    "alerts.webhook_url: {rx}/ops/alerts",
    NULL,
};

static void test_blocked_at_connect(void **state)
{
    (void)state;
    char ep_rx[PSW_ID_SIZE], ep_tcp[PSW_ID_SIZE];

    up(guarded);
    assert_false(C.cfg.http_allow_private_networks);
    int port = plain_listener();

    /* Names pass at creation: what they resolve to is checked at connect. */
    create_ok("acct_a", harness_fmt("http://localhost:%d/ssrf/a", rx_port(C.rx)), ep_rx);
    create_ok("acct_b", harness_fmt("http://localhost:%d/ssrf/b", port), ep_tcp);
    publish("evt_ssrf_a", "acct_a");
    publish("evt_ssrf_b", "acct_b");

    const char *ids[2] = { only_delivery(ep_rx), only_delivery(ep_tcp) };
    for (int i = 0; i < 2; i++) {
        const char *dk = harness_fmt("delivery:%s", ids[i]);
        wait_state(ids[i], "failed");
        starts_with(H(dk, "last_error"), "blocked: address ", "last_error");
        contains(H(dk, "last_error"), " is loopback (", "last_error");
        contains(H(dk, "last_error"), HINT, "last_error");
        assert_string_equal(H(dk, "last_status"), "0");
        assert_string_equal(H(dk, "attempts"), "2");
        assert_string_equal(H(dk, "failed_reason"), "exhausted");
        assert_int_equal(check_attempt_records(ids[i]), 2);
    }

    /* Two failures each disabled both endpoints; the alerts go to 127.0.0.1
     * (alerts.webhook_url is the operator's, not guarded). */
    if (rx_wait(C.rx, "/ops/alerts", 2, WAIT_MS) != 0)
        fail_msg("%zu alerts reached the alert webhook, expected 2", rx_count(C.rx, "/ops/alerts"));
    assert_string_equal(H(harness_fmt("endpoint:%s", ep_rx), "status"), "disabled");

    /* Nothing else reached anything: not one request, not one connection. */
    harness_nap(SETTLE_MS);
    assert_int_equal(rx_count(C.rx, "/ssrf/a"), 0);
    assert_int_equal(rx_count(C.rx, NULL), 2);
    struct pollfd p = { .fd = L_fd, .events = POLLIN };
    if (poll(&p, 1, 0) != 0)
        fail_msg("the worker opened a connection to the plain listener on port %d", port);
    const char *delivered = H("stats", "delivered");
    if (delivered && strcmp(delivered, "0") != 0)
        fail_msg("stats delivered is %s", delivered);
    assert_string_equal(H("stats", "failed"), "2");
    T_done = 1;
}

static void test_literal_refused_at_creation(void **state)
{
    (void)state;
    char id[PSW_ID_SIZE], err[512];
    int port;

    up(guarded);
    port = rx_port(C.rx);
    static const struct {
        const char *url;
        const char *msg;
    } cases[] = {
        { "http://127.0.0.1:PORT/x", "url: address 127.0.0.1 is loopback (127.0.0.0/8)" HINT },
        { "http://[::1]/", "url: address ::1 is loopback (::1/128)" HINT },
        { "http://2130706433/", "url: address 127.0.0.1 is loopback (127.0.0.0/8)" HINT },
        { "http://0x7f.1:PORT/", "url: address 127.0.0.1 is loopback (127.0.0.0/8)" HINT },
        { "http://169.254.169.254/latest/meta-data/",
          "url: address 169.254.169.254 is link-local (where cloud metadata services answer) "
          "(169.254.0.0/16)" HINT },
        { "https://[::ffff:10.0.0.1]/", "url: address ::ffff:10.0.0.1 is in a private network "
                                        "(10.0.0.0/8)" HINT },
        { "http://[fd00::1]:8080/h", "url: address fd00::1 is in a private network (unique "
                                     "local) (fc00::/7)" HINT },
        { "http://0.0.0.0:PORT/", "url: address 0.0.0.0 is unspecified (\"this network\") "
                                "(0.0.0.0/8)" HINT },
        /* full-width digits and dots: an IDN host whose ASCII form is the
         * address (the form libcurl would connect to) */
        { "http://\xef\xbc\x91\xef\xbc\x96\xef\xbc\x99\xef\xbc\x8e\xef\xbc\x92\xef\xbc\x95"
          "\xef\xbc\x94\xef\xbc\x8e\xef\xbc\x91\xef\xbc\x96\xef\xbc\x99\xef\xbc\x8e"
          "\xef\xbc\x92\xef\xbc\x95\xef\xbc\x94/latest/",
          "url: address 169.254.169.254 is link-local (where cloud metadata services answer) "
          "(169.254.0.0/16)" HINT },
        { "http://\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97\xe3\x80\x82\xef\xbc\x90\xe3\x80\x82"
          "\xef\xbc\x90\xe3\x80\x82\xef\xbc\x91:PORT/",
          "url: address 127.0.0.1 is loopback (127.0.0.0/8)" HINT },
        /* not a valid IDN: refused with the reason, not stored undeliverable */
        { "http://\xe2\x98\x83\xe2\x80\x8d.example/",
          "url: host \"\xe2\x98\x83\xe2\x80\x8d.example\" is not a valid internationalized "
          "domain name (string contains a disallowed character); use its ASCII (xn--) form" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *url = with_port(cases[i].url, port);
        int rc = create("acct_l", url, id, err, sizeof(err));
        if (rc != PSW_EINVAL)
            fail_msg("%s: rc %d (%s), expected PSW_EINVAL", url, rc, err);
        assert_string_equal(err, cases[i].msg);
    }
    assert_int_equal(cmd_int("SCARD %s", harness_fmt("%sendpoints", C.cfg.redis_prefix)), 0);

    /* An update to such a URL is refused too, and leaves the URL alone. */
    const char *good = "https://receiver.example/hook";
    create_ok("acct_l", good, id);
    struct psw_endpoint_spec u = PSW_ENDPOINT_SPEC_INIT;
    u.url = "http://[::ffff:7f00:1]/";
    assert_int_equal(psw_endpoint_update(&C.ctx, id, &u, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "url: address ::ffff:127.0.0.1 is loopback (127.0.0.0/8)" HINT);
    assert_string_equal(H(harness_fmt("endpoint:%s", id), "url"), good);
    u.url = "http://localhost/";
    assert_int_equal(psw_endpoint_update(&C.ctx, id, &u, NULL, err, sizeof(err)), PSW_OK);
    assert_string_equal(H(harness_fmt("endpoint:%s", id), "url"), "http://localhost/");

    /* bin/psw says the same and exits 2 (input error). */
    char *out = NULL, *errs = NULL;
    const char *argv[] = { "endpoint", "create", "--config", C.config_path, "--account",
                           "acct_cli", "--url", "http://169.254.169.254/", NULL };
    int rc = proc_run("psw", argv, NULL, &out, &errs, WAIT_MS);
    if (rc != 2 || !strstr(errs, "url: address 169.254.169.254 is link-local") ||
        !strstr(errs, HINT)) {
        fprintf(stderr, "stdout: %s\nstderr: %s\n", out, errs);
        free(out);
        free(errs);
        fail_msg("psw endpoint create exited %d", rc);
    }
    free(out);
    free(errs);
    assert_int_equal(cmd_int("SCARD %s", harness_fmt("%sendpoints", C.cfg.redis_prefix)), 1);
    T_done = 1;
}

static void test_allowed_networks(void **state)
{
    (void)state;
    char ep_lit[PSW_ID_SIZE], ep_name[PSW_ID_SIZE], err[512];
    const char *const lines[] = {
        "http.allow_private_networks: false",
        "http.allowed_networks: [127.0.0.1/32]",
        NULL,
    };

    up(lines);
    assert_int_equal(C.cfg.http_allowed_networks_n, 1);
    int port = rx_port(C.rx);
    create_ok("acct_lit", harness_fmt("http://127.0.0.1:%d/open/lit", port), ep_lit);
    create_ok("acct_name", harness_fmt("http://localhost:%d/open/name", port), ep_name);
    /* An IDN host is stored, checked and connected to in its ASCII form:
     * "ＬＯＣＡＬＨＯＳＴ" (full width) is localhost. */
    char ep_idn[PSW_ID_SIZE];
    create_ok("acct_idn",
              harness_fmt("http://\xef\xbc\xac\xef\xbc\xaf\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xac"
                          "\xef\xbd\x88\xef\xbd\x8f\xef\xbd\x93\xef\xbd\x94:%d/open/idn",
                          port),
              ep_idn);
    assert_string_equal(H(harness_fmt("endpoint:%s", ep_idn), "url"),
                        harness_fmt("http://localhost:%d/open/idn", port));
    /* Only that one address: its neighbours and ::1 stay refused. */
    assert_int_equal(create("acct_x", harness_fmt("http://127.0.0.2:%d/", port), NULL, err, sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "url: address 127.0.0.2 is loopback (127.0.0.0/8)" HINT);
    assert_int_equal(create("acct_x", harness_fmt("http://[::1]:%d/", port), NULL, err, sizeof(err)),
                     PSW_EINVAL);

    publish("evt_open_lit", "acct_lit");
    publish("evt_open_name", "acct_name");
    publish("evt_open_idn", "acct_idn");
    wait_state(only_delivery(ep_idn), "delivered");
    assert_int_equal(rx_count(C.rx, "/open/idn"), 1);
    const char *d1 = only_delivery(ep_lit), *d2 = only_delivery(ep_name);
    wait_state(d1, "delivered");
    wait_state(d2, "delivered");
    assert_string_equal(H(harness_fmt("delivery:%s", d1), "last_error"), "");
    assert_string_equal(H(harness_fmt("delivery:%s", d2), "last_status"), "200");
    assert_int_equal(rx_count(C.rx, "/open/lit"), 1);
    assert_int_equal(rx_count(C.rx, "/open/name"), 1);
    T_done = 1;
}

static void test_proxy_not_blocked(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], ep_direct[PSW_ID_SIZE];
    const char *const lines[] = {
        "http.allow_private_networks: false",
        "http.proxy: {rx}", /* the receiver plays the proxy, on 127.0.0.1 */
        "http.no_proxy: .localhost",
        NULL,
    };

    /* The configuration decides, not the environment: NO_PROXY would make
     * libcurl skip the proxy for every host. */
    proxy_env("*", NULL);
    up(lines);
    create_ok("acct_p", "http://receiver.example/via-proxy", ep);
    /* http.no_proxy names localhost: that request goes directly, guarded. */
    create_ok("acct_q", harness_fmt("http://localhost:%d/direct", rx_port(C.rx)), ep_direct);
    publish("evt_proxy", "acct_p");
    publish("evt_direct", "acct_q");
    const char *d = only_delivery(ep), *dd = only_delivery(ep_direct);
    wait_state(d, "delivered");
    wait_state(dd, "failed");
    starts_with(H(harness_fmt("delivery:%s", dd), "last_error"), "blocked: address ",
                "last_error of the direct request");
    assert_int_equal(rx_count(C.rx, NULL), 1);
    struct rx_request *r = NULL;
    assert_int_equal(rx_requests(C.rx, NULL, &r), 1);
    /* A proxy request names the whole target URL. */
    contains(r[0].path, "via-proxy", "the proxied request's path");
    const char *host = rx_header(&r[0], "Host");
    if (!host || strcmp(host, "receiver.example") != 0) {
        rx_requests_free(r, 1);
        fail_msg("the proxied request's Host is \"%s\"", host ? host : "(none)");
    }
    rx_requests_free(r, 1);
    T_done = 1;
}

/* Alerts go to the operator's URL, which the guard does not check. Their
 * connection must not be left for a delivery to the same host and port to
 * reuse: that delivery would skip the guard (a connection is checked when
 * it is opened). The alert receiver's answer must not reach the log. */
static void test_alert_connection_not_reused(void **state)
{
    (void)state;
    char e1[PSW_ID_SIZE], e2[PSW_ID_SIZE];
    const char *const lines[] = {
        "http.allow_private_networks: false",
        "http.allowed_networks: [127.0.0.2/32]",
        "retry.schedule: 50ms",
        "endpoint.disable_after_failures: 100",
        "worker.processes: 1", /* one child: one connection cache */
        "alerts.webhook_url: http://localhost:{rxport}/ops/alerts",
        NULL,
    };
    static const char marker[] = "internal-service-answer-7f3a";

    R2 = rx_start_at("127.0.0.2");
    assert_non_null(R2);
    struct rx_behavior gone = { .always_status = 410 };
    rx_set(R2, "/gone", &gone);
    up(lines);
    int rxport = rx_port(C.rx);
    /* the cluster's receiver plays an internal service behind localhost */
    struct rx_behavior internal = { .body = marker };
    rx_set(C.rx, NULL, &internal);

    char url[128];
    rx_url(R2, "/gone", url, sizeof(url));
    create_ok("acct_e1", url, e1);
    create_ok("acct_e2", harness_fmt("http://localhost:%d/x", rxport), e2);

    /* Before any alert: E2 is refused at connect. */
    publish("evt_e2_before", "acct_e2");
    const char *d_before = only_delivery(e2);
    wait_state(d_before, "failed");
    starts_with(H(harness_fmt("delivery:%s", d_before), "last_error"), "blocked: address ",
                "E2's last_error before the alert");

    /* E1 answers 410: disabled, alert POSTed to localhost. */
    publish("evt_e1", "acct_e1");
    wait_state(only_delivery(e1), "skipped"); /* its endpoint is disabled */
    if (rx_wait(C.rx, "/ops/alerts", 1, WAIT_MS) != 0)
        fail_msg("the alert never reached alerts.webhook_url");

    /* After the alert: E2 must still be refused, not served by a reused
     * connection. */
    publish("evt_e2_after", "acct_e2");
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, e2, &ids);
    assert_int_equal(n, 2);
    char d_after[PSW_ID_SIZE];
    snprintf(d_after, sizeof(d_after), "%s", strcmp(ids[0], d_before) == 0 ? ids[1] : ids[0]);
    cluster_ids_free(ids, n);
    wait_state(d_after, "failed");
    starts_with(H(harness_fmt("delivery:%s", d_after), "last_error"), "blocked: address ",
                "E2's last_error after the alert");
    assert_string_equal(H(harness_fmt("delivery:%s", d_after), "last_status"), "0");
    assert_int_equal(rx_count(C.rx, "/x"), 0);

    /* The alert receiver's answer stays out of the worker's output. */
    char *log = read_file(C.work_log[0], NULL);
    assert_non_null(log);
    int leaked = strstr(log, marker) != NULL;
    free(log);
    if (leaked)
        fail_msg("the alert receiver's body appears in the worker's log %s", C.work_log[0]);
    T_done = 1;
}

/* With http.proxy empty, no proxy comes from the environment: deliveries
 * and alerts go directly even when http_proxy & co. point at a dead port. */
static void test_env_proxy_ignored(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE];
    const char *const lines[] = {
        "http.allow_private_networks: false",
        "http.allowed_networks: [127.0.0.1/32]",
        "alerts.webhook_url: {rx}/ops/alerts",
        NULL,
    };

    proxy_env(NULL, "http://127.0.0.1:9");
    up(lines);
    struct rx_behavior gone = { .always_status = 410 };
    rx_set(C.rx, "/env/gone", &gone);
    create_ok("acct_env", harness_fmt("http://127.0.0.1:%d/env/gone", rx_port(C.rx)), ep);
    publish("evt_env", "acct_env");
    wait_state(only_delivery(ep), "skipped"); /* its endpoint is disabled */
    assert_int_equal(rx_count(C.rx, "/env/gone"), 1);
    if (rx_wait(C.rx, "/ops/alerts", 1, WAIT_MS) != 0)
        fail_msg("the alert did not reach alerts.webhook_url (sent to the environment's proxy?)");
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_blocked_at_connect, down),
        cmocka_unit_test_teardown(test_literal_refused_at_creation, down),
        cmocka_unit_test_teardown(test_allowed_networks, down),
        cmocka_unit_test_teardown(test_proxy_not_blocked, down),
        cmocka_unit_test_teardown(test_alert_connection_not_reused, down),
        cmocka_unit_test_teardown(test_env_proxy_ignored, down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
