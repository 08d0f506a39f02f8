/*
 * test_options.c — the per-endpoint delivery options of docs/cli.md
 * ("Endpoint options") through a real deployment: signing standard and
 * ed25519 checked by a Node.js receiver with third-party verifiers
 * (tests/node-receivers/verify-server.js: the npm `standardwebhooks` library,
 * Node's crypto.verify), static headers, and the per-endpoint rate limit.
 *
 * One cluster (tests/harness/cluster.h) with a secrets key file runs for the
 * whole group, with the Node receiver beside it; each test creates its own
 * endpoints. The Node receiver logs one JSON line per request (whether it
 * verified, with each secret, and whether a tampered copy would have) and
 * answers 400 when a request does not verify, so a delivery only reaches
 * "delivered" when the receiver accepted its signature.
 *
 * Ownership: the cluster, the work directory and the Node process live in G
 * and are released by the group teardown.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/endpoint.h"
#include "common/publish.h"
#include "common/sign_std.h"
#include "tests/harness/cluster.h"
#include "tests/harness/receiver.h"

#define WAIT_MS 15000
#define KEY_HEX "4f1c3a9e0b7d2265c8e1f4a6b3d9072e5a8c1f3e6b9d2047a5c8e1b4f7a0d3c6"

static struct cluster C;
static struct {
    char *dir;
    char keys[600], port_file[600], log[600];
    pid_t node;
    int port;
    int evt_seq;
} G;

/* ---- helpers --------------------------------------------------------- */

static int which(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(out, n, "%.*s/%s", (int)len, p, name);
        if (len > 0 && access(out, X_OK) == 0)
            return 0;
        p += len;
        if (*p == ':')
            p++;
    }
    return -1;
}

static int port_written(void *arg)
{
    (void)arg;
    char *t = read_file(G.port_file, NULL);
    if (!t)
        return 0;
    G.port = atoi(t);
    free(t);
    return G.port > 0;
}

static int setup(void **state)
{
    (void)state;
    char node[512], key_path[600];
    const char *src = getenv("PSW_SRC");

    memset(&G, 0, sizeof(G));
    if (!src || which("node", node, sizeof(node)) < 0) {
        fprintf(stderr, "test_options: needs PSW_SRC and node on PATH (scripts/deps.sh test)\n");
        return -1;
    }
    const char *server = harness_fmt("%s/tests/node-receivers/verify-server.js", src);
    const char *lib = harness_fmt("%s/tests/node-receivers/node_modules/standardwebhooks", src);
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "test_options: %s is missing: run scripts/deps.sh test (npm ci)\n", lib);
        return -1;
    }
    G.dir = tmpdir_new();
    snprintf(G.keys, sizeof(G.keys), "%s/keys.json", G.dir);
    snprintf(G.port_file, sizeof(G.port_file), "%s/port", G.dir);
    snprintf(G.log, sizeof(G.log), "%s/requests.log", G.dir);
    snprintf(key_path, sizeof(key_path), "%s/secrets.key", G.dir);
    if (write_file(G.keys, "{\"standard\": [], \"ed25519\": \"\"}") < 0 ||
        write_file(G.log, "") < 0 || write_file(key_path, KEY_HEX "\n") < 0 ||
        chmod(key_path, 0600) < 0)
        return -1;
    char *argv[] = { node, (char *)server, G.keys, G.port_file, G.log, NULL };
    G.node = harness_spawn(node, argv, harness_fmt("%s/node.out", G.dir), SIGTERM);
    if (G.node < 0 || wait_until(port_written, NULL, 10000, 20) < 0) {
        fprintf(stderr, "test_options: the Node receiver did not start\n");
        file_tail(harness_fmt("%s/node.out", G.dir), 20);
        return -1;
    }
    const char *over[] = { harness_fmt("secrets.key_file: %s", key_path), NULL };
    if (cluster_start(&C, over, 1, 1) < 0) {
        cluster_stop(&C, 1);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cluster_stop(&C, 0);
    if (G.node > 0)
        proc_stop(G.node, SIGTERM, 2000);
    harness_kept_free();
    return 0;
}

/* Creates an endpoint with spec (account "acct_opt_<n>" when unset). */
static void create(struct psw_endpoint_spec *spec, struct psw_endpoint *ep)
{
    char err[512];
    if (!spec->account_id)
        spec->account_id = harness_fmt("acct_opt_%d", ++G.evt_seq);
    int rc = psw_endpoint_create(&C.ctx, spec, ep, err, sizeof(err));
    if (rc != PSW_OK)
        fail_msg("create: %s", err);
}

/* Publishes one event to account; returns its id (kept until teardown). */
static const char *publish_to(const char *account)
{
    struct psw_publish_result res;
    const char *id = harness_fmt("evt_opt_%d", ++G.evt_seq);
    const char *json = harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                                   "\"domain\":\"o.example\",\"data\":{\"message_id\":\"<m@x>\",\"to\":\"bob@example.org\"}}",
                                   id, account);
    if (psw_publish(&C.ctx, json, strlen(json), &res) != PSW_OK)
        fail_msg("publish: %s", res.err);
    return id;
}

/* The only delivery of ep, once it is delivered. */
static const char *delivered(const char *ep)
{
    char **ids = NULL;
    size_t n = 0;
    long long until = harness_mono_ms() + WAIT_MS;
    while ((n = cluster_deliveries(&C, ep, &ids)) == 0 && harness_mono_ms() < until)
        harness_nap(20);
    assert_int_equal(n, 1);
    const char *dlv = harness_fmt("%s", ids[0]);
    cluster_ids_free(ids, n);
    if (cluster_wait_field(&C, harness_fmt("delivery:%s", dlv), "state", "delivered", WAIT_MS) < 0)
        fail_msg("%s was not delivered (receiver log: %s)", dlv, read_file(G.log, NULL));
    return dlv;
}

/* The Node receiver's log entry for event id (kept until teardown). */
static struct json_object *logged(const char *event_id)
{
    char *text = read_file(G.log, NULL);
    struct json_object *found = NULL;
    assert_non_null(text);
    for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
        struct json_object *o = json_tokener_parse(line), *id;
        if (o && json_object_object_get_ex(o, "id", &id) &&
            strcmp(json_object_get_string(id) ? json_object_get_string(id) : "", event_id) == 0)
            found = harness_keep_json(o);
        else
            json_object_put(o);
    }
    free(text);
    if (!found)
        fail_msg("the Node receiver logged no request for %s", event_id);
    return found;
}

static int jbool(struct json_object *o, const char *key)
{
    struct json_object *v;
    assert_true(json_object_object_get_ex(o, key, &v));
    return json_object_get_boolean(v);
}

/* Replaces the receiver's keys at once (rename): it reads them on every
 * request, retries of earlier tests' deliveries included. */
static void write_keys(const char *json)
{
    const char *tmp = harness_fmt("%s.tmp", G.keys);
    assert_int_equal(write_file(tmp, json), 0);
    assert_int_equal(rename(tmp, G.keys), 0);
}

/* ---- signing ----------------------------------------------------------- */

static void test_standard_verifies_with_the_library(void **state)
{
    (void)state;
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 }, rot = { 0 };
    char err[512];

    spec.url = harness_fmt("http://127.0.0.1:%d/standard", G.port);
    spec.signing = "standard";
    create(&spec, &ep);
    assert_string_equal(ep.signing, "standard");
    write_keys(harness_fmt("{\"standard\": [\"%s\"]}", ep.secret));

    const char *evt = publish_to(ep.account_id);
    delivered(ep.id);
    struct json_object *e = logged(evt);
    assert_true(jbool(e, "valid"));
    assert_false(jbool(e, "tampered_valid"));

    /* During a rotation the header carries both signatures: each secret
     * verifies on its own with the library. */
    assert_int_equal(psw_endpoint_rotate_secret(&C.ctx, ep.id, NULL, 3600000, &rot, err,
                                                sizeof(err)),
                     PSW_OK);
    write_keys(harness_fmt("{\"standard\": [\"%s\", \"%s\"]}", rot.secret, ep.secret));
    const char *evt2 = publish_to(ep.account_id);
    char **ids = NULL;
    size_t n = 0;
    long long until = harness_mono_ms() + WAIT_MS;
    while ((n = cluster_deliveries(&C, ep.id, &ids)) < 2 && harness_mono_ms() < until) {
        cluster_ids_free(ids, n);
        harness_nap(20);
    }
    assert_int_equal(n, 2);
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", ids[1]), "state",
                                        "delivered", WAIT_MS),
                     0);
    cluster_ids_free(ids, n);
    e = logged(evt2);
    struct json_object *per;
    assert_true(json_object_object_get_ex(e, "per_secret", &per));
    assert_int_equal(json_object_array_length(per), 2);
    assert_true(json_object_get_boolean(json_object_array_get_idx(per, 0)));
    assert_true(json_object_get_boolean(json_object_array_get_idx(per, 1)));
    assert_false(jbool(e, "tampered_valid"));

    /* A receiver holding only a wrong secret refuses: the check can fail. */
    write_keys("{\"standard\": [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]}");
    const char *evt3 = publish_to(ep.account_id);
    until = harness_mono_ms() + WAIT_MS;
    while (harness_mono_ms() < until) {
        char *t = read_file(G.log, NULL);
        int seen = t && strstr(t, evt3);
        free(t);
        if (seen)
            break;
        harness_nap(20);
    }
    assert_false(jbool(logged(evt3), "valid"));
    psw_endpoint_free(&ep);
    psw_endpoint_free(&rot);
}

static void test_ed25519_verifies_with_node_crypto(void **state)
{
    (void)state;
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 };
    char *out = NULL;

    spec.url = harness_fmt("http://127.0.0.1:%d/ed25519", G.port);
    spec.signing = "ed25519";
    create(&spec, &ep);
    assert_string_equal(ep.signing, "ed25519");
    assert_int_equal(strncmp(ep.public_key, PSW_PUBLIC_KEY_PREFIX, 5), 0);
    assert_int_equal(strlen(ep.public_key), 5 + 44);

    /* psw endpoint show prints it; the endpoint JSON (the API's) carries it. */
    const char *show[] = { "--config", C.config_path, "endpoint", "show", ep.id, NULL };
    assert_int_equal(proc_run("psw", show, NULL, &out, NULL, 10000), 0);
    assert_non_null(strstr(out, ep.public_key));
    free(out);
    struct json_object *j = harness_keep_json(psw_endpoint_to_json(&ep, 0)), *pk;
    assert_true(json_object_object_get_ex(j, "public_key", &pk));
    assert_string_equal(json_object_get_string(pk), ep.public_key);

    /* The private key is sealed at rest. */
    char *stored = cluster_hget(&C, harness_fmt("endpoint:%s", ep.id), "signing_key");
    assert_non_null(stored);
    assert_int_equal(strncmp(stored, "enc:v1:", 7), 0);
    free(stored);

    write_keys(harness_fmt("{\"ed25519\": \"%s\"}", ep.public_key));
    const char *evt = publish_to(ep.account_id);
    delivered(ep.id);
    struct json_object *e = logged(evt);
    assert_true(jbool(e, "valid"));
    assert_false(jbool(e, "tampered_valid"));

    /* Switching away and back keeps the key pair receivers already trust. */
    struct psw_endpoint_spec up = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint after = { 0 };
    char err[512];
    up.signing = "poststack";
    assert_int_equal(psw_endpoint_update(&C.ctx, ep.id, &up, NULL, err, sizeof(err)), PSW_OK);
    up.signing = "ed25519";
    assert_int_equal(psw_endpoint_update(&C.ctx, ep.id, &up, &after, err, sizeof(err)), PSW_OK);
    assert_string_equal(after.public_key, ep.public_key);
    psw_endpoint_free(&after);
    psw_endpoint_free(&ep);
}

/* psw verify learns both schemes: a request signed here verifies, a
 * tampered body does not. */
static void test_psw_verify_both_schemes(void **state)
{
    (void)state;
    char priv[PSW_ED25519_KEY_SIZE], pub[PSW_PUBLIC_KEY_SIZE], sig[PSW_SIGNATURE_SIZE];
    char secret[PSW_SECRET_SIZE], *out = NULL;
    const char *body = "{\"id\":\"evt_1\",\"type\":\"email.sent\"}";
    const char *ts = harness_fmt("%lld", (long long)time(NULL));

    assert_int_equal(psw_secret_generate(secret), 0);
    const char *keys[] = { secret };
    assert_true(psw_sign_std_header(PSW_SIGNING_STANDARD, keys, 1, "evt_1", atoll(ts), body,
                                    strlen(body), sig, sizeof(sig)) > 0);
    const char *std_ok[] = { "verify", "--signing", "standard", "--secret", secret, "--id",
                             "evt_1", "--timestamp", ts, "--signature", sig, NULL };
    assert_int_equal(proc_run("psw", std_ok, body, &out, NULL, 10000), 0);
    assert_string_equal(out, "valid\n");
    free(out);
    assert_int_equal(proc_run("psw", std_ok, "{\"id\":\"evt_2\"}", &out, NULL, 10000), 1);
    assert_string_equal(out, "no matching signature\n");
    free(out);

    assert_int_equal(psw_ed25519_generate(priv, pub), 0);
    const char *ed_keys[] = { priv };
    assert_true(psw_sign_std_header(PSW_SIGNING_ED25519, ed_keys, 1, "evt_1", atoll(ts), body,
                                    strlen(body), sig, sizeof(sig)) > 0);
    assert_int_equal(strncmp(sig, "v1a,", 4), 0);
    const char *ed_ok[] = { "verify", "--signing", "ed25519", "--public-key", pub, "--id",
                            "evt_1", "--timestamp", ts, "--signature", sig, NULL };
    assert_int_equal(proc_run("psw", ed_ok, body, &out, NULL, 10000), 0);
    assert_string_equal(out, "valid\n");
    free(out);
    assert_int_equal(proc_run("psw", ed_ok, "{\"id\":\"evt_1\",\"type\":\"email.sentx\"}", &out,
                              NULL, 10000),
                     1);
    assert_string_equal(out, "no matching signature\n");
    free(out);
    const char *ed_id[] = { "verify", "--signing", "ed25519", "--public-key", pub, "--id",
                            "evt_9", "--timestamp", ts, "--signature", sig, NULL };
    assert_int_equal(proc_run("psw", ed_id, body, &out, NULL, 10000), 1);
    free(out);
    /* A missing --public-key is a usage error, not a verdict. */
    const char *ed_nokey[] = { "verify", "--signing", "ed25519", "--id", "evt_1", "--timestamp",
                               ts, "--signature", sig, NULL };
    assert_int_equal(proc_run("psw", ed_nokey, body, NULL, NULL, 10000), 2);
}

/* Bad options are refused with a message naming them, and change nothing. */
static void test_bad_signing_settings(void **state)
{
    (void)state;
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 };
    char err[512];

    spec.account_id = "acct_opt_bad";
    spec.url = harness_fmt("http://127.0.0.1:%d/standard", G.port);
    spec.signing = "hmac";
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_non_null(strstr(err, "signing"));
    spec.signing = "standard";
    spec.secret = "not-base64-secret-at-all";
    assert_int_equal(psw_endpoint_create(&C.ctx, &spec, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_non_null(strstr(err, "whsec_"));

    /* An endpoint with such a secret cannot switch to standard. */
    spec.signing = NULL;
    create(&spec, &ep);
    struct psw_endpoint_spec up = PSW_ENDPOINT_SPEC_INIT;
    up.signing = "standard";
    assert_int_equal(psw_endpoint_update(&C.ctx, ep.id, &up, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_non_null(strstr(err, "whsec_"));
    char *s = cluster_hget(&C, harness_fmt("endpoint:%s", ep.id), "signing");
    assert_string_equal(s, "poststack");
    free(s);
    psw_endpoint_free(&ep);
}

/* ---- static headers ---------------------------------------------------- */

#define AUTH_VALUE "Basic dXNlcjpjb3JyZWN0LWhvcnNlLWJhdHRlcnk="

/* psw with the cluster's config; exit code, *out (may be NULL) kept. */
static int psw(const char **out, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    char *o = NULL, *e = NULL;
    argv[n++] = "--config";
    argv[n++] = C.config_path;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int rc = proc_run("psw", argv, NULL, &o, &e, 10000);
    if (out)
        *out = harness_fmt("%s%s", o ? o : "", e ? e : "");
    free(o);
    free(e);
    return rc;
}

static const char *json_field(const char *json, const char *key)
{
    struct json_object *o = harness_keep_json(json_tokener_parse(json)), *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        fail_msg("no %s in %s", key, json);
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void test_static_headers(void **state)
{
    (void)state;
    const char *out;
    char url[256];

    rx_url(C.rx, "/hdr", url, sizeof(url));
    const char *create[] = { "endpoint", "create", "--account", "acct_hdr", "--url", url,
                             "--header", "Authorization: " AUTH_VALUE, "--header",
                             "X-Tenant: t-42", "--json", NULL };
    assert_int_equal(psw(&out, create), 0);
    const char *id = harness_fmt("%.*s", 29, strstr(out, "\"ep_") + 1);
    assert_string_equal(json_field(out, "headers"),
                        "[\"Authorization: Bas\xe2\x80\xa6***\",\"X-Tenant: \xe2\x80\xa6***\"]");
    assert_null(strstr(out, "dXNlcjpjb3JyZWN0"));

    /* Sealed at rest: nothing in the hash holds the value in plain text. */
    redisReply *h = cluster_cmd(&C, "HGETALL %sendpoint:%s", C.cfg.redis_prefix, id);
    assert_true(h->elements > 0);
    int sealed = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        assert_null(strstr(h->element[i + 1]->str, "dXNlcjpjb3JyZWN0"));
        assert_null(strstr(h->element[i + 1]->str, "t-42"));
        if (strcmp(h->element[i]->str, "headers") == 0)
            sealed = strncmp(h->element[i + 1]->str, "enc:v1:", 7) == 0;
    }
    freeReplyObject(h);
    assert_true(sealed);

    /* The receiver gets them in full, next to the service's own headers. */
    publish_to("acct_hdr");
    const char *dlv = delivered(id);
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, "/hdr", &reqs);
    assert_int_equal(n, 1);
    assert_string_equal(rx_header(&reqs[0], "Authorization"), AUTH_VALUE);
    assert_string_equal(rx_header(&reqs[0], "X-Tenant"), "t-42");
    assert_non_null(rx_header(&reqs[0], "X-PostStack-Signature"));
    rx_requests_free(reqs, n);

    /* The delivery log records them masked, as show does. */
    redisReply *att = cluster_cmd(&C, "LRANGE %sdelivery:%s:attempts 0 -1", C.cfg.redis_prefix, dlv);
    assert_int_equal(att->elements, 1);
    assert_null(strstr(att->element[0]->str, "dXNlcjpjb3JyZWN0"));
    assert_non_null(strstr(att->element[0]->str, "\"Authorization\":\"Bas"));
    freeReplyObject(att);
    const char *show[] = { "endpoint", "show", id, NULL };
    assert_int_equal(psw(&out, show), 0);
    assert_non_null(strstr(out, "Authorization: Bas\xe2\x80\xa6***"));
    assert_null(strstr(out, "dXNlcjpjb3JyZWN0"));

    /* --header replaces the set, --clear-headers empties it. */
    const char *replace[] = { "endpoint", "update", id, "--header", "X-Only: 1", "--json", NULL };
    assert_int_equal(psw(&out, replace), 0);
    assert_string_equal(json_field(out, "headers"), "[\"X-Only: \xe2\x80\xa6***\"]");
    const char *clear[] = { "endpoint", "update", id, "--clear-headers", "--json", NULL };
    assert_int_equal(psw(&out, clear), 0);
    assert_string_equal(json_field(out, "headers"), "[]");
}

/* A header with CR or LF, or one that would override the service's own,
 * is refused when the endpoint is created: nothing is stored. */
static void test_bad_headers_refused_at_creation(void **state)
{
    (void)state;
    static const struct {
        const char *header, *why;
    } cases[] = {
        { "X-A: one\r\nX-Injected: two", "CR or LF" },
        { "X-A: one\nX-Injected: two", "CR or LF" },
        { "X-PostStack-Signature: t=1,v1=00", "set by the service" },
        { "webhook-id: evt_forged", "set by the service" },
        { "Content-Type: text/plain", "set by the service" },
        { "Bad Name: x", "not a valid header name" },
    };
    const char *out;
    char url[256];
    rx_url(C.rx, "/bad", url, sizeof(url));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *create[] = { "endpoint", "create", "--account", "acct_badhdr", "--url", url,
                                 "--header", cases[i].header, NULL };
        assert_int_equal(psw(&out, create), 2);
        if (!strstr(out, cases[i].why) || !strstr(out, "--header"))
            fail_msg("case %zu: %s", i, out);
    }
    struct psw_endpoint *eps = NULL;
    size_t n = 9;
    char err[256];
    assert_int_equal(psw_endpoint_list(&C.ctx, "acct_badhdr", &eps, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 0);
}

/* ---- rate limit -------------------------------------------------------- */

static int by_at(const void *a, const void *b)
{
    const struct rx_request *x = a, *y = b;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* 5 requests/s on one endpoint served by two worker processes (the
 * cluster's worker.processes): no 1-second window at the receiver sees more
 * than 5, nothing is lost or doubled, and another endpoint's burst is not
 * held up behind the limited one. */
static void test_rate_limit(void **state)
{
    (void)state;
    enum { N = 20, LIMIT = 5 };
    const char *out;
    char url[256], fast_url[256];

    rx_url(C.rx, "/limited", url, sizeof(url));
    rx_url(C.rx, "/free", fast_url, sizeof(fast_url));
    const char *bad[] = { "endpoint", "create", "--account", "acct_rl", "--url", url,
                          "--rate-limit", "-1", NULL };
    assert_int_equal(psw(&out, bad), 2);
    assert_non_null(strstr(out, "--rate-limit"));
    const char *create[] = { "endpoint", "create", "--account", "acct_rl", "--url", url,
                             "--rate-limit", "5", "--json", NULL };
    assert_int_equal(psw(&out, create), 0);
    assert_string_equal(json_field(out, "rate_limit"), "5");
    const char *create2[] = { "endpoint", "create", "--account", "acct_rl_free", "--url",
                              fast_url, NULL };
    assert_int_equal(psw(NULL, create2), 0);

    for (int i = 0; i < N; i++) {
        publish_to("acct_rl");
        publish_to("acct_rl_free");
    }
    assert_int_equal(rx_wait(C.rx, "/free", N, WAIT_MS), 0);
    assert_int_equal(rx_wait(C.rx, "/limited", N, 4 * WAIT_MS), 0);
    harness_nap(300); /* anything extra would show up now */

    struct rx_request *lim = NULL, *fr = NULL;
    size_t nl = rx_requests(C.rx, "/limited", &lim), nf = rx_requests(C.rx, "/free", &fr);
    assert_int_equal(nl, N);
    assert_int_equal(nf, N);
    qsort(lim, nl, sizeof(*lim), by_at);
    qsort(fr, nf, sizeof(*fr), by_at);
    for (size_t i = 0; i + LIMIT < nl; i++)
        if (lim[i + LIMIT].at_ms - lim[i].at_ms < 1000)
            fail_msg("requests %zu..%zu arrived within %lld ms: more than %d in one second", i,
                     i + LIMIT, (long long)(lim[i + LIMIT].at_ms - lim[i].at_ms), LIMIT);
    /* Every event arrived once. */
    for (size_t i = 0; i < nl; i++)
        for (size_t j = i + 1; j < nl; j++)
            assert_string_not_equal(rx_header(&lim[i], "X-PostStack-Event-Id"),
                                    rx_header(&lim[j], "X-PostStack-Event-Id"));
    /* The unlimited endpoint was done long before the limited one could
     * be (its 11th request cannot come before 2 s). */
    assert_true(fr[nf - 1].at_ms < lim[2 * LIMIT].at_ms);
    rx_requests_free(lim, nl);
    rx_requests_free(fr, nf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_verifies_with_the_library),
        cmocka_unit_test(test_ed25519_verifies_with_node_crypto),
        cmocka_unit_test(test_psw_verify_both_schemes),
        cmocka_unit_test(test_bad_signing_settings),
        cmocka_unit_test(test_static_headers),
        cmocka_unit_test(test_bad_headers_refused_at_creation),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
