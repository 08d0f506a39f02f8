/*
 * test_terminal.c — bytes a receiver controls must not reach an operator's
 * terminal raw (docs/security.md, "Hostile receivers").
 *
 * A raw TCP server on 127.0.0.1 answers every request with a 302 whose
 * Location carries ESC sequences (cursor up, erase line, green "delivered
 * OK"), BEL and a C1 CSI (U+009B), plus a header whose name holds an OSC
 * sequence and a CR. The delivery's last_error and attempt record store them
 * as sent (they are data); what people read shows them escaped:
 *   - `psw delivery show` and `psw deliveries` (human output),
 *   - the worker's text log;
 * and `--json` stays valid JSON. Endpoint descriptions refuse C1 controls.
 * Also: an answer of control bytes only (15 KiB of headers, 4 KiB of body)
 * is stored within http.max_record_bytes, escapes included.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "worker/http.h"
#include "tests/harness/cluster.h"
#include "tests/harness/redis_server.h"

#define WAIT_MS 10000
#define RUN_MS 30000

/* What the hostile receiver answers. */
static const char ANSWER[] =
    "HTTP/1.1 302 Found\r\n"
    "Location: http://x.example/\x1b[1A\x1b[2K\x1b[32mdelivered OK\x07\xc2\x9b" "31m\r\n"
    "X-Evil\x1b]0;pwned\x07: a\rb\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

/* What the server answers in the running test (ANSWER unless set). */
static const char *A_data = ANSWER;
static size_t A_len = sizeof(ANSWER) - 1;

static struct cluster C;
static int C_up, T_done;
static int L_fd = -1;
static pthread_t L_thread;
static volatile int L_stop;

/* Reads one request (headers, then Content-Length bytes of body) and sends
 * ANSWER. Every wait is bounded. */
static void serve(int fd)
{
    char buf[65536];
    size_t len = 0;
    long body = -1;
    const char *end = NULL;
    for (int rounds = 0; rounds < 200 && !L_stop; rounds++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            body = cl ? strtol(cl + 17, NULL, 10) : 0;
        }
        if (end && (long)(len - (size_t)(end + 4 - buf)) >= body)
            break;
        if (len + 1 >= sizeof(buf))
            break;
    }
    for (size_t off = 0; off < A_len;) {
        ssize_t n = write(fd, A_data + off, A_len - off);
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void *accept_loop(void *arg)
{
    (void)arg;
    while (!L_stop) {
        struct pollfd p = { .fd = L_fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(L_fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(fd);
        close(fd);
    }
    return NULL;
}

static int listener_start(void)
{
    int port = -1;
    L_fd = harness_listen_loopback(&port);
    assert_true(L_fd >= 0);
    L_stop = 0;
    assert_int_equal(pthread_create(&L_thread, NULL, accept_loop, NULL), 0);
    return port;
}

static int down(void **state)
{
    (void)state;
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    if (L_fd >= 0) {
        L_stop = 1;
        pthread_join(L_thread, NULL);
        close(L_fd);
        L_fd = -1;
    }
    return 0;
}

/* Fails when s holds a byte a terminal acts on (tab and newline aside). */
static void no_controls(const char *s, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f || c1)
            fail_msg("%s holds control byte 0x%02x%s at offset %zu", what, *p,
                     c1 ? " (a C1 control in UTF-8)" : "", (size_t)(p - (const unsigned char *)s));
    }
}

static void contains(const char *s, const char *needle, const char *what)
{
    if (!s || !strstr(s, needle))
        fail_msg("%s does not contain \"%s\":\n%s", what, needle, s ? s : "(nil)");
}

/* psw --config C ARGS…; stdout (caller frees), the exit code checked. */
static char *psw(int want_rc, const char *a1, const char *a2, const char *a3, const char *a4)
{
    const char *argv[] = { "--config", C.config_path, a1, a2, a3, a4, NULL };
    char *out = NULL, *err = NULL;
    int rc = proc_run("psw", argv, NULL, &out, &err, RUN_MS);
    if (rc != want_rc)
        fail_msg("psw %s %s: exit %d, stderr: %s", a1, a2 ? a2 : "", rc, err ? err : "");
    free(err);
    return out;
}

/* An endpoint of account on the raw server and one published event:
 * writes the endpoint and delivery ids. */
static void make_delivery(int port, const char *account, const char *evt, char ep_id[PSW_ID_SIZE],
                          char dlv[PSW_ID_SIZE])
{
    char url[128], err[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    spec.account_id = account;
    spec.url = url;
    if (psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)) != PSW_OK)
        fail_msg("creating the endpoint: %s", err);
    snprintf(ep_id, PSW_ID_SIZE, "%s", ep.id);
    psw_endpoint_free(&ep);

    struct psw_publish_result res;
    const char *json = harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                                   "\"domain\":\"t.example\",\"data\":{\"message_id\":\"<t@x>\","
                                   "\"to\":\"bob@example.org\"}}",
                                   evt, account);
    if (psw_publish(&C.ctx, json, strlen(json), &res) != PSW_OK)
        fail_msg("psw_publish: %s", res.err);
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, ep_id, &ids);
    assert_int_equal(n, 1);
    snprintf(dlv, PSW_ID_SIZE, "%s", ids[0]);
    cluster_ids_free(ids, n);
}

static void test_receiver_bytes_escaped(void **state)
{
    (void)state;
    const char *const lines[] = {
        "retry.schedule: 50ms",
        "worker.processes: 1",
        "log.format: text",
        NULL,
    };
    int port = listener_start();
    C_up = 1;
    if (cluster_start(&C, lines, 1, 1) < 0)
        fail_msg("the cluster did not start");

    char ep_id[PSW_ID_SIZE], dlv[PSW_ID_SIZE];
    make_delivery(port, "acct_term", "evt_term", ep_id, dlv);
    if (cluster_wait_field(&C, harness_fmt("delivery:%s", dlv), "state", "failed", WAIT_MS) != 0)
        fail_msg("delivery %s never failed", dlv);

    /* Stored as sent: the data is the receiver's. */
    char *last = cluster_hget(&C, harness_fmt("delivery:%s", dlv), "last_error");
    assert_non_null(last);
    int raw = strstr(last, "\x1b[1A") != NULL && strstr(last, "\xc2\x9b") != NULL;
    free(last);
    assert_true(raw);

    /* Shown escaped. */
    char *show = psw(0, "delivery", "show", dlv, NULL);
    no_controls(show, "psw delivery show");
    contains(show, "\\x1b[1A\\x1b[2K\\x1b[32mdelivered OK\\x07\\u009b31m", "psw delivery show");
    contains(show, "x-evil\\x1b]0;pwned\\x07", "psw delivery show");
    free(show);

    char *list = psw(0, "deliveries", "--endpoint", ep_id, NULL);
    no_controls(list, "psw deliveries");
    contains(list, dlv, "psw deliveries");
    free(list);

    /* --json stays JSON (json-c escapes C0; the data is intact). */
    char *js = psw(0, "--json", "delivery", "show", dlv);
    json_object *o = json_tokener_parse(js);
    if (!o)
        fail_msg("psw --json delivery show is not JSON: %s", js);
    json_object_put(o);
    free(js);

    /* The worker's text log. */
    char *log = read_file(C.work_log[0], NULL);
    assert_non_null(log);
    int logged = strstr(log, "redirect to http://x.example/\\x1b[1A") != NULL;
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", "worker log");
    if (!logged) {
        free(log);
        fail_msg("the worker log has no escaped redirect line");
    }
    no_controls(log, copy);
    free(log);

    /* Descriptions refuse C1 controls (C0 and DEL were refused already). */
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    char err[512];
    memset(&ep, 0, sizeof(ep));
    spec.account_id = "acct_term";
    spec.url = "http://127.0.0.1:1/desc";
    spec.description = "bad \xc2\x9b" "2J";
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "description: control character U+009B at byte 5 is not allowed");
    psw_endpoint_free(&ep);
    spec.description = "caf\xc3\xa9 \xe2\x80\x94 fine"; /* printable UTF-8 passes */
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)), PSW_OK);
    psw_endpoint_free(&ep);
    T_done = 1;
}

/* The worker bounds what it stores: http.max_record_bytes counts the JSON
 * escapes (a control byte takes six bytes). */
static void test_record_bound_applied(void **state)
{
    (void)state;
    static char big[PSW_HTTP_MAX_HEADER_BYTES + 8192];
    size_t len = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 500 Oops\r\n");
    for (int k = 0; len + 1100 < 15 * 1024; k++) {
        len += (size_t)snprintf(big + len, sizeof(big) - len, "X-Ctl-%d: ", k);
        memset(big + len, 0x01, 1000);
        len += 1000;
        memcpy(big + len, "\r\n", 2);
        len += 2;
    }
    len += (size_t)snprintf(big + len, sizeof(big) - len,
                            "Content-Length: 4096\r\nConnection: close\r\n\r\n");
    memset(big + len, 0x01, 4096);
    len += 4096;
    A_data = big;
    A_len = len;
    const char *const lines[] = {
        "retry.schedule: 50ms",
        "worker.processes: 1",
        "http.max_response_bytes: 4096",
        "http.max_record_bytes: 8192",
        NULL,
    };
    int port = listener_start();
    C_up = 1;
    if (cluster_start(&C, lines, 1, 1) < 0)
        fail_msg("the cluster did not start");
    char ep_id[PSW_ID_SIZE], dlv[PSW_ID_SIZE];
    make_delivery(port, "acct_big", "evt_big", ep_id, dlv);
    if (cluster_wait_field(&C, harness_fmt("delivery:%s", dlv), "state", "failed", WAIT_MS) != 0)
        fail_msg("delivery %s never failed", dlv);
    redisReply *r = cluster_cmd(&C, "LRANGE %sdelivery:%s:attempts 0 -1", C.cfg.redis_prefix, dlv);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    for (size_t i = 0; i < r->elements; i++) {
        const char *rec = r->element[i]->str;
        if (r->element[i]->len > 8192 || !strstr(rec, "\"headers_truncated\":true") ||
            !strstr(rec, "\"body_truncated\":true") || !strstr(rec, "\\u0001"))
            fail_msg("attempt record %zu (%zu bytes, bound 8192): %.300s", i,
                     (size_t)r->element[i]->len, rec);
    }
    freeReplyObject(r);
    A_data = ANSWER;
    A_len = sizeof(ANSWER) - 1;
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_receiver_bytes_escaped, down),
        cmocka_unit_test_teardown(test_record_bound_applied, down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
