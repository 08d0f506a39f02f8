/*
 * test_tls.c — http.ca_file (docs/config.md): deliveries to a receiver with
 * TLS and a self-signed certificate (psw-receiver --tls-cert/--tls-key on
 * 127.0.0.1, a certificate made here by openssl for IP 127.0.0.1) fail as a
 * TLS error with the system's CA store and arrive once http.ca_file names
 * that certificate; a path that cannot be read is refused at load, naming
 * the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/endpoint.h"
#include "common/keys.h"
#include "tests/harness/cluster.h"

static struct cluster C;
static char *dir;
static char cert[600], key[600];
static pid_t rx_pid = -1;
static int tls_port;
static int ok;

static const char *openssl_path(void)
{
    static const char *const cands[] = { "/usr/bin/openssl", "/bin/openssl",
                                         "/usr/local/bin/openssl" };
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    fail_msg("the openssl command is not installed");
    return NULL;
}

/* The port from psw-receiver's first line ("listening on https://…:PORT/"). */
static int port_from_log(const char *log)
{
    long long until = harness_mono_ms() + 10000;
    while (harness_mono_ms() < until) {
        char *s = read_file(log, NULL);
        const char *p = s ? strstr(s, "listening on https://127.0.0.1:") : NULL;
        int port = p ? atoi(p + strlen("listening on https://127.0.0.1:")) : 0;
        free(s);
        if (port > 0)
            return port;
        harness_nap(20);
    }
    file_tail(log, 20);
    fail_msg("psw-receiver did not say where it listens");
    return -1;
}

/* A self-signed certificate for 127.0.0.1 and psw-receiver serving HTTPS
 * with it (keep-alive, 200 to every POST). */
static int setup(void **state)
{
    (void)state;
    char log[700];
    int st = 0;
    dir = tmpdir_new();
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(log, sizeof(log), "%s/openssl.log", dir);
    const char *ossl = openssl_path();
    char *req[] = { (char *)ossl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", key,
                    "-out", cert, NULL };
    pid_t p = harness_spawn(ossl, req, log, SIGKILL);
    assert_true(p > 0);
    if (proc_wait(p, 20000, &st) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        proc_stop(p, SIGKILL, 1000);
        file_tail(log, 20);
        fail_msg("openssl req failed");
    }
    snprintf(log, sizeof(log), "%s/receiver.log", dir);
    const char *args[] = { "--port", "0", "--tls-cert", cert, "--tls-key", key, NULL };
    rx_pid = proc_spawn("psw-receiver", args, log);
    assert_true(rx_pid > 0);
    tls_port = port_from_log(log);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (rx_pid > 0)
        proc_stop(rx_pid, SIGTERM, 5000);
    rx_pid = -1;
    tmpdir_remove(dir);
    free(dir);
    dir = NULL;
    return 0;
}

static int down(void **state)
{
    (void)state;
    cluster_stop(&C, !ok);
    ok = 0;
    return 0;
}

/* Starts a deployment with the extra config line (NULL = none), an endpoint
 * on the HTTPS receiver, publishes one event and writes its delivery's key
 * ("delivery:<id>") into dk. */
static void deliver_one(const char *line, char *dk, size_t n)
{
    const char *lines[] = { line, NULL };
    assert_int_equal(cluster_start(&C, line ? lines : NULL, 1, 1), 0);

    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    char url[128], err[1024], evt[160];
    int created = 0;
    memset(&ep, 0, sizeof(ep));
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/tls", tls_port);
    spec.account_id = "acct_tls";
    spec.url = url;
    if (psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err)) != PSW_OK)
        fail_msg("endpoint: %s", err);
    assert_int_equal(cluster_publish(&C, "{\"type\":\"email.sent\",\"account_id\":\"acct_tls\","
                                         "\"domain\":\"t.example\",\"data\":{"
                                         "\"message_id\":\"<t@x>\",\"to\":\"a@b.c\"}}",
                                     evt, sizeof(evt), &created),
                     PSW_OK);
    assert_int_equal(created, 1);
    char **ids;
    assert_int_equal(cluster_deliveries(&C, ep.id, &ids), 1);
    snprintf(dk, n, "delivery:%s", ids[0]);
    cluster_ids_free(ids, 1);
    psw_endpoint_free(&ep);
}

/* Without http.ca_file the self-signed certificate is not trusted: the
 * attempt fails as a TLS error and nothing is delivered. */
static void test_untrusted_without_ca_file(void **state)
{
    (void)state;
    char dk[PSW_KEY_SIZE];
    deliver_one(NULL, dk, sizeof(dk));
    long long until = harness_mono_ms() + 15000;
    char *e = NULL;
    while (harness_mono_ms() < until) {
        free(e);
        e = cluster_hget(&C, dk, "last_error");
        if (e && e[0])
            break;
        harness_nap(50);
    }
    if (!e || strncmp(e, "tls:", 4) != 0)
        fail_msg("last_error \"%s\", want a tls: error", e ? e : "(nil)");
    free(e);
    char *s = cluster_hget(&C, dk, "state");
    assert_non_null(s);
    assert_string_not_equal(s, "delivered");
    free(s);
    ok = 1;
}

/* With http.ca_file naming it, the same receiver gets the delivery. */
static void test_trusted_with_ca_file(void **state)
{
    (void)state;
    char dk[PSW_KEY_SIZE];
    deliver_one(harness_fmt("http.ca_file: %s", cert), dk, sizeof(dk));
    assert_int_equal(cluster_wait_field(&C, dk, "state", "delivered", 15000), 0);
    char *s = cluster_hget(&C, dk, "last_status");
    assert_non_null(s);
    assert_string_equal(s, "200");
    free(s);
    ok = 1;
}

/* A path that cannot be read is refused when the configuration is loaded. */
static void test_unreadable_ca_file(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    char err[1024] = "";
    const char *yaml = harness_fmt("http:\n  ca_file: %s/missing.pem\n", dir);
    assert_int_not_equal(psw_config_load_string(&cfg, yaml, strlen(yaml), "t", err, sizeof(err)),
                         0);
    if (!strstr(err, "http.ca_file") || !strstr(err, "missing.pem"))
        fail_msg("error \"%s\" does not name http.ca_file and the path", err);
    /* a directory is not a CA bundle */
    yaml = harness_fmt("http:\n  ca_file: %s\n", dir);
    assert_int_not_equal(psw_config_load_string(&cfg, yaml, strlen(yaml), "t", err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "not a file"));
    /* the certificate itself is accepted */
    yaml = harness_fmt("http:\n  ca_file: %s\n", cert);
    if (psw_config_load_string(&cfg, yaml, strlen(yaml), "t", err, sizeof(err)) != 0)
        fail_msg("refused: %s", err);
    assert_string_equal(cfg.http_ca_file, cert);
    psw_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_untrusted_without_ca_file, down),
        cmocka_unit_test_teardown(test_trusted_with_ca_file, down),
        cmocka_unit_test(test_unreadable_ca_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
