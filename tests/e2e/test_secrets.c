/*
 * test_secrets.c — black-box tests of endpoint secrets at rest (issue 7):
 * a real redis-server, psw-scheduler and psw-worker processes
 * (tests/harness/cluster.c) configured with "secrets.key_file: <a file in
 * this test's key directory>", the psw command line, and the recording
 * receiver checking every signature with the plaintext secret.
 *
 * What is proved: Redis holds only "enc:v1:<key id>:…" and no plaintext
 * secret or key anywhere (every key of every type is read back); deliveries
 * verify with the plaintext secret, with both secrets during a rotation;
 * `psw secrets rekey` moves every value (plain ones too) to a new key and
 * deliveries still verify with only the new key loaded; a worker with the
 * wrong key fails the attempt with a clear last_error and makes no request;
 * logs, attempt records and --json output carry no secret unless
 * --show-secret is given; without a key the worker warns and values stay
 * plain; bad key files stop the programs that need them.
 *
 * Each test starts its own cluster and stops it in the teardown (dumping the
 * logs when it did not reach its end); extra workers started with another
 * configuration are stopped there too. Every wait is bounded.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/reply.h"
#include "common/secrets.h"
#include "common/sign.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 10000
#define RUN_MS 20000
#define SETTLE_MS 400

#define KEY_A "47b5789d3b42ad6cd868884516e729076044b31e2bdb6b67c95960ed0e77878c"
#define KEY_B "0f6a2c6461ddb23a5e2c1e36bef608f479d96e374b6177a185f26db1607c56e3"
#define KEY_C "f9df7c3528992bb7a263f6f1fd148f7d63749b6e22e87c1b4bb5aeef775bb221"
#define ACCT "acct_sec"
#define LEGACY "whsec_legacy_plaintext_secret_0001"
#define GIVEN "whsec_user_given_secret_for_e2e_01"

static struct cluster C;
static int C_up;
static int T_done;
static char *KD; /* key files and extra configs */

#define MAX_EXTRA 4
static pid_t EXTRA[MAX_EXTRA];
static char EXTRA_LOG[MAX_EXTRA][600];
static int NEXTRA;

/* ---- fixture --------------------------------------------------------------- */

static int down(void **state)
{
    (void)state;
    for (int i = 0; i < NEXTRA; i++) {
        if (!T_done) {
            fprintf(stderr, "--- %s\n", EXTRA_LOG[i]);
            file_tail(EXTRA_LOG[i], 40);
        }
        if (EXTRA[i] > 0)
            proc_stop(EXTRA[i], SIGTERM, 8000);
        EXTRA[i] = 0;
    }
    NEXTRA = 0;
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    if (KD) {
        tmpdir_remove(KD);
        free(KD);
        KD = NULL;
    }
    return 0;
}

/* KD/name holding the key hex, mode 0600; the path in a static ring. */
static const char *key_file(const char *name, const char *hex, mode_t mode)
{
    if (!KD && !(KD = tmpdir_new()))
        fail_msg("mkdtemp failed");
    const char *path = harness_fmt("%s/%s", KD, name);
    if (write_file(path, harness_fmt("%s\n", hex)) != 0 || chmod(path, mode) != 0)
        fail_msg("cannot write %s", path);
    return path;
}

static const char *key_id(const char *hex)
{
    static char ids[4][PSW_SECRETS_KEY_ID_SIZE];
    static int at;
    struct psw_secrets_key k;
    char err[256];
    if (psw_secrets_key_parse(hex, strlen(hex), "test", &k, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    char *out = ids[at++ % 4];
    snprintf(out, PSW_SECRETS_KEY_ID_SIZE, "%s", k.id);
    OPENSSL_cleanse(&k, sizeof(k));
    return out;
}

/* Starts the cluster with key_file (NULL = no key) and nwork workers. */
static void up(const char *key_path, int nwork)
{
    const char *over[] = { key_path ? harness_fmt("secrets.key_file: %s", key_path) : NULL, NULL };
    T_done = 0;
    C_up = 1;
    if (cluster_start(&C, over, 1, nwork) < 0)
        fail_msg("the cluster did not start");
}

/* A copy of the cluster's config with the secrets lines replaced by extra
 * (newline-separated "key: value" lines); the path in a static ring. */
static const char *config_with(const char *name, const char *extra)
{
    char *text = read_file(C.config_path, NULL);
    if (!text)
        fail_msg("cannot read %s", C.config_path);
    size_t cap = strlen(text) + strlen(extra) + 2, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "secrets.", 8) != 0)
            len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
    snprintf(out + len, cap - len, "%s\n", extra);
    const char *path = harness_fmt("%s/%s", KD, name);
    if (write_file(path, out) != 0)
        fail_msg("cannot write %s", path);
    free(out);
    free(text);
    return path;
}

/* Starts a psw-worker with another configuration; stopped by down(). */
static pid_t extra_worker(const char *config)
{
    assert_true(NEXTRA < MAX_EXTRA);
    snprintf(EXTRA_LOG[NEXTRA], sizeof(EXTRA_LOG[0]), "%s/extra-worker-%d.log", KD, NEXTRA);
    const char *argv[] = { "--config", config, NULL };
    pid_t pid = proc_spawn("psw-worker", argv, EXTRA_LOG[NEXTRA]);
    if (pid < 0)
        fail_msg("psw-worker did not start");
    EXTRA[NEXTRA++] = pid;
    return pid;
}

/* Stops the cluster's worker number i (so an extra worker does the work). */
static void stop_cluster_worker(int i)
{
    proc_stop(C.work[i], SIGTERM, 8000);
    C.work[i] = 0;
}

/* ---- running psw ------------------------------------------------------------ */

struct res {
    int rc;
    char *out, *err;
};

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* psw ARGS... --config config (NULL = the cluster's). */
static struct res psw(const char *config, ...)
{
    const char *argv[24];
    size_t n = 0;
    va_list ap;
    struct res r = { 0 };

    va_start(ap, config);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
        assert_true(n + 3 < sizeof(argv) / sizeof(argv[0]));
        argv[n++] = a;
    }
    va_end(ap);
    argv[n++] = "--config";
    argv[n++] = config ? config : C.config_path;
    argv[n] = NULL;
    r.rc = proc_run("psw", argv, NULL, &r.out, &r.err, RUN_MS);
    if (!r.out || !r.err)
        fail_msg("proc_run gave no output buffers");
    return r;
}

static void expect_rc(const struct res *r, int rc, const char *what)
{
    if (r->rc != rc)
        fail_msg("%s: exit %d, expected %d\n--- stdout\n%s--- stderr\n%s---", what, r->rc, rc,
                 r->out, r->err);
}

static void expect_in(const char *hay, const char *needle, const char *what)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("%s: \"%s\" not found in:\n%s", what, needle, hay ? hay : "(nil)");
}

static void expect_not_in(const char *hay, const char *needle, const char *what)
{
    if (hay && strstr(hay, needle))
        fail_msg("%s: \"%s\" must not appear in:\n%s", what, needle, hay);
}

/* ---- JSON ------------------------------------------------------------------- */

static json_object *J[8];

static json_object *parse(int slot, const char *s)
{
    json_object_put(J[slot]);
    J[slot] = json_tokener_parse(s);
    if (!J[slot])
        fail_msg("not JSON:\n%s", s);
    return J[slot];
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    return v;
}

static int jhas(json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v = jget(o, key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("\"%s\" is not a string in %s", key, json_object_to_json_string(o));
    return json_object_get_string(v);
}

static long long jint(json_object *o, const char *key)
{
    json_object *v = jget(o, key);
    if (!json_object_is_type(v, json_type_int))
        fail_msg("\"%s\" is not an integer in %s", key, json_object_to_json_string(o));
    return (long long)json_object_get_int64(v);
}

static void jnull(json_object *o, const char *key)
{
    if (jget(o, key) != NULL)
        fail_msg("\"%s\" is not null in %s", key, json_object_to_json_string(o));
}

static int cleanup_json(void **state)
{
    for (int i = 0; i < 8; i++) {
        json_object_put(J[i]);
        J[i] = NULL;
    }
    return down(state);
}

/* ---- Redis ------------------------------------------------------------------ */

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

static void expect_sealed(const char *ep, const char *field, const char *id)
{
    const char *v = H(harness_fmt("endpoint:%s", ep), field);
    char want[32];
    snprintf(want, sizeof(want), "enc:v1:%s:", id);
    if (!v || strncmp(v, want, strlen(want)) != 0)
        fail_msg("endpoint:%s %s is \"%s\", expected a value sealed under key %s", ep, field,
                 v ? v : "(nil)", id);
}

/* 1 if any string in the reply tree contains needle. */
static int reply_has(const redisReply *r, const char *needle)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return memmem(r->str, r->len, needle, strlen(needle)) != NULL;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            if (reply_has(r->element[i], needle))
                return 1;
    return 0;
}

/* Reads every key of every type back; fails naming the first key whose
 * name or value contains needle. Returns the number of keys read. */
static size_t redis_lacks(const char *needle, const char *what)
{
    redisReply *keys = cluster_cmd(&C, "KEYS *");
    assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        redisReply *t = cluster_cmd(&C, "TYPE %s", k);
        redisReply *v = NULL;
        if (strcmp(t->str, "none") == 0) { /* gone since KEYS (an emptied list) */
            freeReplyObject(t);
            continue;
        }
        if (strcmp(t->str, "string") == 0)
            v = cluster_cmd(&C, "GET %s", k);
        else if (strcmp(t->str, "hash") == 0)
            v = cluster_cmd(&C, "HGETALL %s", k);
        else if (strcmp(t->str, "list") == 0)
            v = cluster_cmd(&C, "LRANGE %s 0 -1", k);
        else if (strcmp(t->str, "set") == 0)
            v = cluster_cmd(&C, "SMEMBERS %s", k);
        else if (strcmp(t->str, "zset") == 0)
            v = cluster_cmd(&C, "ZRANGE %s 0 -1", k);
        else if (strcmp(t->str, "stream") == 0)
            v = cluster_cmd(&C, "XRANGE %s - +", k);
        else
            fail_msg("key %s has type %s, which this test does not read", k, t->str);
        int hit = strstr(k, needle) != NULL || reply_has(v, needle);
        freeReplyObject(t);
        freeReplyObject(v);
        if (hit) {
            char name[512];
            snprintf(name, sizeof(name), "%s", k);
            freeReplyObject(keys);
            fail_msg("%s found in Redis key %s", what, name);
        }
    }
    size_t n = keys->elements;
    freeReplyObject(keys);
    return n;
}

static void expect_file_lacks(const char *path, const char *needle, const char *what)
{
    char *text = read_file(path, NULL);
    if (!text)
        fail_msg("cannot read %s", path);
    int hit = strstr(text, needle) != NULL;
    free(text);
    if (hit)
        fail_msg("%s found in %s", what, path);
}

/* Waits until the file contains needle. */
static void wait_file_has(const char *path, const char *needle)
{
    long long until = harness_mono_ms() + WAIT_MS;
    for (;;) {
        char *text = read_file(path, NULL);
        int hit = text && strstr(text, needle);
        free(text);
        if (hit)
            return;
        if (harness_mono_ms() >= until)
            break;
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    file_tail(path, 30);
    fail_msg("\"%s\" did not appear in %s", needle, path);
}

/* ---- endpoints, events, requests -------------------------------------------- */

/* psw endpoint create … --json: the id and the secret (given, or generated). */
static void create(const char *path, const char *secret, char id[PSW_ID_SIZE], char *sec,
                   size_t secn)
{
    char url[512];
    rx_url(C.rx, path, url, sizeof(url));
    struct res r = secret ? psw(NULL, "endpoint", "create", "--account", ACCT, "--url", url,
                                "--secret", secret, "--json", NULL)
                          : psw(NULL, "endpoint", "create", "--account", ACCT, "--url", url,
                                "--json", NULL);
    expect_rc(&r, 0, "endpoint create");
    json_object *o = parse(0, r.out);
    snprintf(id, PSW_ID_SIZE, "%s", jstr(o, "id"));
    snprintf(sec, secn, "%s", jstr(o, "secret"));
    if (secret)
        assert_string_equal(sec, secret);
    res_free(&r);
}

static void publish(const char *evt, int want_deliveries)
{
    int n = -1;
    const char *json = harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"" ACCT
                           "\",\"domain\":\"mail.example.com\",\"data\":{\"message_id\":"
                           "\"<%s@x>\",\"to\":\"bob@example.org\"}}",
                           evt, evt);
    assert_int_equal(cluster_publish(&C, json, NULL, 0, &n), PSW_OK);
    assert_int_equal(n, want_deliveries);
}

/* The one request on path for evt: its signature header verifies with each
 * of secrets and is exactly the header those secrets (in that order) make. */
static void expect_signed(const char *path, const char *evt, const char *const *secrets,
                          size_t n)
{
    struct rx_request *reqs = NULL;
    size_t nr = rx_requests(C.rx, path, &reqs), found = 0;
    for (size_t i = 0; i < nr; i++) {
        const char *eid = rx_header(&reqs[i], "X-PostStack-Event-Id");
        if (!eid || strcmp(eid, evt) != 0)
            continue;
        found++;
        const char *sig = rx_header(&reqs[i], "X-PostStack-Signature");
        assert_non_null(sig);
        int64_t now = (int64_t)time(NULL);
        for (size_t s = 0; s < n; s++) {
            enum psw_verify_result v =
                psw_sign_verify(sig, reqs[i].body, reqs[i].body_len, secrets[s], 300, now);
            if (v != PSW_VERIFY_OK)
                fail_msg("%s: the signature does not verify with secret %zu: %s", path, s,
                         psw_verify_result_str(v));
        }
        char want[PSW_SIGNATURE_SIZE];
        int64_t t = strtoll(sig + 2, NULL, 10);
        assert_true(psw_sign_header(secrets, n, t, reqs[i].body, reqs[i].body_len, want,
                                    sizeof(want)) > 0);
        assert_string_equal(sig, want);
    }
    rx_requests_free(reqs, nr);
    if (found != 1)
        fail_msg("%zu requests for %s on %s, expected 1", found, evt, path);
}

/* The only delivery of an endpoint. */
static const char *delivery_of(const char *ep)
{
    static char id[PSW_ID_SIZE];
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, ep, &ids);
    if (n != 1)
        fail_msg("endpoint %s has %zu deliveries, expected 1", ep, n);
    snprintf(id, sizeof(id), "%s", ids[0]);
    cluster_ids_free(ids, n);
    return id;
}

/* ---- tests ------------------------------------------------------------------ */

/* Sealed at rest, delivered with a signature the plaintext verifies, and the
 * secret nowhere: not in Redis, logs, attempt records, or --json output
 * without --show-secret. */
/* "Max core file size" of pid, from /proc/PID/limits: 1 when both limits
 * are 0, 0 otherwise (fails the test when the file cannot be read). */
static int core_limit_zero(pid_t pid)
{
    char *lim = read_file(harness_fmt("/proc/%ld/limits", (long)pid), NULL);
    if (!lim)
        fail_msg("cannot read /proc/%ld/limits", (long)pid);
    const char *l = strstr(lim, "Max core file size");
    char soft[32] = "", hard[32] = "";
    int ok = l && sscanf(l + 18, " %31s %31s", soft, hard) == 2 && strcmp(soft, "0") == 0 &&
             strcmp(hard, "0") == 0;
    free(lim);
    return ok;
}

/* The worker master and its children hold the key: none may dump core. */
static void expect_no_core_dumps(pid_t master)
{
    /* its children, found by their parent pid in /proc/PID/stat (they may
     * still be starting: look again for up to 5 s) */
    int children = 0;
    for (int round = 0; round < 50 && children == 0; round++) {
        if (round)
            harness_nap(100);
        DIR *d = opendir("/proc");
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            char *end;
            long p = strtol(de->d_name, &end, 10);
            if (*end || p <= 0)
                continue;
            char *st = read_file(harness_fmt("/proc/%ld/stat", p), NULL);
            if (!st)
                continue;
            const char *rp = strrchr(st, ')');
            long ppid = -1;
            char state;
            int mine = rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == (long)master;
            free(st);
            if (!mine)
                continue;
            children++;
            if (!core_limit_zero((pid_t)p)) {
                closedir(d);
                fail_msg("worker child %ld may write a core file", p);
            }
        }
        closedir(d);
    }
    if (children == 0)
        fail_msg("found no child of the worker master %ld", (long)master);
    /* it has forked, so it has loaded the keys */
    if (!core_limit_zero(master))
        fail_msg("the worker master %ld may write a core file", (long)master);
}

static void test_sealed_at_rest(void **state)
{
    (void)state;
    char ep1[PSW_ID_SIZE], ep2[PSW_ID_SIZE], s1[128], s2[128];
    const char *ida = key_id(KEY_A);

    up(key_file("a.key", KEY_A, 0600), 1);
    expect_no_core_dumps(C.work[0]);
    create("/s1", NULL, ep1, s1, sizeof(s1));
    create("/s2", GIVEN, ep2, s2, sizeof(s2));
    assert_int_equal(strncmp(s1, "whsec_", 6), 0);
    expect_sealed(ep1, "secret", ida);
    expect_sealed(ep2, "secret", ida);
    assert_string_equal(H(harness_fmt("endpoint:%s", ep1), "secret_prev"), "");

    publish("evt_sec_1", 2);
    assert_int_equal(rx_wait(C.rx, "/s1", 1, WAIT_MS), 0);
    assert_int_equal(rx_wait(C.rx, "/s2", 1, WAIT_MS), 0);
    const char *one[1] = { s1 };
    expect_signed("/s1", "evt_sec_1", one, 1);
    one[0] = s2;
    expect_signed("/s2", "evt_sec_1", one, 1);
    char d1[PSW_ID_SIZE], d2[PSW_ID_SIZE];
    snprintf(d1, sizeof(d1), "%s", delivery_of(ep1));
    snprintf(d2, sizeof(d2), "%s", delivery_of(ep2));
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", d1), "state", "delivered",
                                        WAIT_MS), 0);
    assert_int_equal(cluster_wait_field(&C, harness_fmt("delivery:%s", d2), "state", "delivered",
                                        WAIT_MS), 0);

    /* nothing in Redis holds a secret or the key */
    size_t nkeys = redis_lacks(s1, "the generated secret");
    assert_true(nkeys >= 10); /* endpoints, event, deliveries, attempts, stats, queues … */
    redis_lacks(s2, "the given secret");
    redis_lacks(s1 + 6, "the generated secret's random part");
    redis_lacks(KEY_A, "the master key");

    /* the attempt record has the signature header, not the secret */
    redisReply *rec = cluster_cmd(&C, "LRANGE %sdelivery:%s:attempts 0 -1",
                                  C.cfg.redis_prefix, d1);
    assert_int_equal(rec->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rec->elements, 1);
    expect_in(rec->element[0]->str, "X-PostStack-Signature", "attempt record");
    expect_not_in(rec->element[0]->str, s1, "attempt record");
    freeReplyObject(rec);

    /* the CLI shows secrets only when asked */
    struct res r = psw(NULL, "endpoint", "show", ep1, "--json", NULL);
    expect_rc(&r, 0, "show --json");
    json_object *o = parse(1, r.out);
    assert_false(jhas(o, "secret"));
    assert_false(jhas(o, "secret_prev"));
    expect_not_in(r.out, s1, "show --json");
    expect_not_in(r.out, "enc:v1", "show --json");
    res_free(&r);
    r = psw(NULL, "endpoint", "show", ep1, NULL);
    expect_rc(&r, 0, "show");
    expect_not_in(r.out, s1, "show");
    expect_in(r.out, "(hidden; --show-secret shows it)", "show");
    res_free(&r);
    r = psw(NULL, "endpoint", "list", "--json", NULL);
    expect_rc(&r, 0, "list --json");
    expect_not_in(r.out, s1, "list --json");
    expect_not_in(r.out, s2, "list --json");
    res_free(&r);
    r = psw(NULL, "delivery", "show", d1, "--json", NULL);
    expect_rc(&r, 0, "delivery show --json");
    expect_in(r.out, "X-PostStack-Signature", "delivery show --json");
    expect_not_in(r.out, s1, "delivery show --json");
    res_free(&r);
    r = psw(NULL, "endpoint", "show", ep1, "--show-secret", "--json", NULL);
    expect_rc(&r, 0, "show --show-secret --json");
    o = parse(1, r.out);
    assert_string_equal(jstr(o, "secret"), s1);
    jnull(o, "secret_prev");
    res_free(&r);
    r = psw(NULL, "--print-config", NULL);
    expect_rc(&r, 0, "--print-config");
    expect_in(r.out, "a.key", "--print-config names the key file");
    expect_not_in(r.out, KEY_A, "--print-config");
    res_free(&r);

    /* status: two endpoints, both sealed under the current key */
    r = psw(NULL, "secrets", "status", "--json", NULL);
    expect_rc(&r, 0, "secrets status");
    o = parse(2, r.out);
    assert_string_equal(jstr(o, "encryption"), "on");
    jnull(o, "warning");
    assert_string_equal(jstr(o, "current_key_id"), ida);
    jnull(o, "previous_key_id");
    assert_int_equal(jint(o, "endpoints"), 2);
    assert_int_equal(jint(o, "endpoints_to_rekey"), 0);
    json_object *rows = jget(o, "storage");
    assert_int_equal(json_object_array_length(rows), 1);
    json_object *row = json_object_array_get_idx(rows, 0);
    assert_string_equal(jstr(row, "stored_as"), "enc:v1");
    assert_string_equal(jstr(row, "key_id"), ida);
    assert_string_equal(jstr(row, "key"), "current");
    assert_int_equal(jint(row, "secrets"), 2);
    assert_int_equal(jint(row, "previous_secrets"), 0);
    res_free(&r);

    /* the logs: the key id is named, no secret and no key anywhere */
    wait_file_has(C.work_log[0], harness_fmt("secrets: endpoint secrets are sealed with key %s", ida));
    const char *logs[] = { C.work_log[0], C.sched_log[0] };
    for (size_t i = 0; i < 2; i++) {
        expect_file_lacks(logs[i], s1, "the generated secret");
        expect_file_lacks(logs[i], s2, "the given secret");
        expect_file_lacks(logs[i], KEY_A, "the master key");
    }
    T_done = 1;
}

/* A rotation with a grace period: both values sealed, and every request
 * carries both signatures, newest first. */
static void test_rotation_signs_with_both(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], s1[128];
    const char *ida = key_id(KEY_A);

    up(key_file("a.key", KEY_A, 0600), 1);
    create("/rot", NULL, ep, s1, sizeof(s1));
    char before[4096];
    snprintf(before, sizeof(before), "%s", H(harness_fmt("endpoint:%s", ep), "secret"));

    struct res r = psw(NULL, "endpoint", "rotate-secret", ep, "--grace", "1h", "--json", NULL);
    expect_rc(&r, 0, "rotate-secret");
    json_object *o = parse(0, r.out);
    char s2[128];
    snprintf(s2, sizeof(s2), "%s", jstr(o, "secret"));
    assert_string_equal(jstr(o, "secret_prev"), s1);
    assert_string_not_equal(s1, s2);
    res_free(&r);
    expect_sealed(ep, "secret", ida);
    expect_sealed(ep, "secret_prev", ida);
    /* the old sealed value moved as it was (it is bound to this endpoint) */
    assert_string_equal(H(harness_fmt("endpoint:%s", ep), "secret_prev"), before);
    assert_string_not_equal(H(harness_fmt("endpoint:%s", ep), "secret"), before);

    publish("evt_sec_rot", 1);
    assert_int_equal(rx_wait(C.rx, "/rot", 1, WAIT_MS), 0);
    const char *both[2] = { s2, s1 };
    expect_signed("/rot", "evt_sec_rot", both, 2);
    redis_lacks(s1, "the old secret");
    redis_lacks(s2, "the new secret");
    T_done = 1;
}

/* psw secrets rekey: dry run, then every value (a plain legacy one too)
 * moves to the new key; deliveries verify with only the new key loaded. */
static void test_rekey_to_a_new_key(void **state)
{
    (void)state;
    char e1[PSW_ID_SIZE], e2[PSW_ID_SIZE], e3[PSW_ID_SIZE];
    char s1[128], s2old[128], s3[128];
    const char *ida = key_id(KEY_A), *idb = key_id(KEY_B);
    char ida_s[PSW_SECRETS_KEY_ID_SIZE], idb_s[PSW_SECRETS_KEY_ID_SIZE];
    snprintf(ida_s, sizeof(ida_s), "%s", ida);
    snprintf(idb_s, sizeof(idb_s), "%s", idb);
    char ka[600];
    snprintf(ka, sizeof(ka), "%s", key_file("a.key", KEY_A, 0600));

    up(ka, 1);
    create("/k1", NULL, e1, s1, sizeof(s1));
    create("/k2", NULL, e2, s2old, sizeof(s2old));
    create("/k3", NULL, e3, s3, sizeof(s3));
    struct res r = psw(NULL, "endpoint", "rotate-secret", e2, "--grace", "1h", "--json", NULL);
    expect_rc(&r, 0, "rotate-secret");
    char s2[128];
    snprintf(s2, sizeof(s2), "%s", jstr(parse(0, r.out), "secret"));
    res_free(&r);
    /* e3 as stored before a key was configured: plain text */
    freeReplyObject(cluster_cmd(&C, "HSET %sendpoint:%s secret %s", C.cfg.redis_prefix, e3,
                                LEGACY));

    r = psw(NULL, "secrets", "status", "--json", NULL);
    expect_rc(&r, 0, "status before");
    json_object *o = parse(1, r.out);
    assert_int_equal(jint(o, "endpoints"), 3);
    assert_int_equal(jint(o, "endpoints_to_rekey"), 1);
    json_object *rows = jget(o, "storage");
    assert_int_equal(json_object_array_length(rows), 2);
    json_object *row = json_object_array_get_idx(rows, 0);
    assert_string_equal(jstr(row, "stored_as"), "plain");
    jnull(row, "key_id");
    assert_int_equal(jint(row, "secrets"), 1);
    row = json_object_array_get_idx(rows, 1);
    assert_string_equal(jstr(row, "key_id"), ida_s);
    assert_int_equal(jint(row, "secrets"), 2);
    assert_int_equal(jint(row, "previous_secrets"), 1);
    res_free(&r);

    /* the new key, with the old one kept for opening */
    char kb[600], cfg2[600], cfgb[600];
    snprintf(kb, sizeof(kb), "%s", key_file("b.key", KEY_B, 0600));
    snprintf(cfg2, sizeof(cfg2), "%s",
             config_with("rekey.yaml", harness_fmt("secrets.key_file: %s\nsecrets.previous_key_file: %s",
                                           kb, ka)));
    snprintf(cfgb, sizeof(cfgb), "%s",
             config_with("b-only.yaml", harness_fmt("secrets.key_file: %s", kb)));

    char snap[3][2][4096];
    const char *eps[3] = { e1, e2, e3 };
    for (int i = 0; i < 3; i++) {
        snprintf(snap[i][0], sizeof(snap[i][0]), "%s", H(harness_fmt("endpoint:%s", eps[i]), "secret"));
        snprintf(snap[i][1], sizeof(snap[i][1]), "%s",
                 H(harness_fmt("endpoint:%s", eps[i]), "secret_prev"));
    }
    r = psw(cfg2, "secrets", "rekey", "--dry-run", "--json", NULL);
    expect_rc(&r, 0, "rekey --dry-run");
    o = parse(2, r.out);
    assert_true(json_object_get_boolean(jget(o, "dry_run")));
    assert_string_equal(jstr(o, "key_id"), idb_s);
    assert_int_equal(jint(o, "endpoints"), 3);
    assert_int_equal(jint(o, "sealed_plain"), 1);
    assert_int_equal(jint(o, "resealed"), 3);
    assert_int_equal(jint(o, "already_current"), 0);
    assert_int_equal(jint(o, "failed"), 0);
    assert_int_equal(jint(o, "changed"), 0);
    res_free(&r);
    for (int i = 0; i < 3; i++) { /* nothing written */
        assert_string_equal(H(harness_fmt("endpoint:%s", eps[i]), "secret"), snap[i][0]);
        assert_string_equal(H(harness_fmt("endpoint:%s", eps[i]), "secret_prev"), snap[i][1]);
    }

    r = psw(cfg2, "secrets", "rekey", NULL);
    expect_rc(&r, 0, "rekey");
    expect_in(r.out, harness_fmt("key                   %s\n", idb_s), "rekey output");
    expect_in(r.out, "sealed (were plain)   1\n", "rekey output");
    expect_in(r.out, "re-encrypted          3\n", "rekey output");
    assert_string_equal(r.err, "");
    res_free(&r);
    for (int i = 0; i < 3; i++)
        expect_sealed(eps[i], "secret", idb_s);
    expect_sealed(e2, "secret_prev", idb_s);
    assert_string_equal(H(harness_fmt("endpoint:%s", e1), "secret_prev"), "");
    redis_lacks(LEGACY, "the legacy plaintext secret");
    redis_lacks(harness_fmt("enc:v1:%s:", ida_s), "a value under the old key");

    /* idempotent */
    r = psw(cfg2, "secrets", "rekey", "--json", NULL);
    expect_rc(&r, 0, "rekey again");
    o = parse(2, r.out);
    assert_int_equal(jint(o, "already_current"), 4);
    assert_int_equal(jint(o, "sealed_plain"), 0);
    assert_int_equal(jint(o, "resealed"), 0);
    res_free(&r);
    r = psw(cfgb, "secrets", "status", "--json", NULL);
    expect_rc(&r, 0, "status after");
    o = parse(1, r.out);
    assert_int_equal(jint(o, "endpoints_to_rekey"), 0);
    rows = jget(o, "storage");
    assert_int_equal(json_object_array_length(rows), 1);
    row = json_object_array_get_idx(rows, 0);
    assert_string_equal(jstr(row, "key_id"), idb_s);
    assert_string_equal(jstr(row, "key"), "current");
    assert_int_equal(jint(row, "secrets"), 3);
    assert_int_equal(jint(row, "previous_secrets"), 1);
    res_free(&r);

    /* a psw with only the old key cannot show them now, and says why */
    r = psw(NULL, "endpoint", "show", e1, "--show-secret", NULL);
    expect_rc(&r, 1, "show with the old key");
    assert_string_equal(r.out, "");
    expect_in(r.err, harness_fmt("psw endpoint show: secrets: cannot decrypt the endpoint secret (key id "
                         "%s not loaded)\n", idb_s), "show with the old key");
    res_free(&r);
    r = psw(NULL, "endpoint", "show", e1, NULL);
    expect_rc(&r, 0, "show without --show-secret still works");
    res_free(&r);
    r = psw(cfgb, "endpoint", "show", e3, "--show-secret", "--json", NULL);
    expect_rc(&r, 0, "show with the new key");
    assert_string_equal(jstr(parse(3, r.out), "secret"), LEGACY);
    res_free(&r);

    /* deliveries: a worker holding only the new key signs them all */
    stop_cluster_worker(0);
    extra_worker(cfgb);
    publish("evt_sec_rekey", 3);
    assert_int_equal(rx_wait(C.rx, "/k1", 1, WAIT_MS), 0);
    assert_int_equal(rx_wait(C.rx, "/k2", 1, WAIT_MS), 0);
    assert_int_equal(rx_wait(C.rx, "/k3", 1, WAIT_MS), 0);
    const char *one[1] = { s1 };
    expect_signed("/k1", "evt_sec_rekey", one, 1);
    const char *both[2] = { s2, s2old };
    expect_signed("/k2", "evt_sec_rekey", both, 2);
    one[0] = LEGACY;
    expect_signed("/k3", "evt_sec_rekey", one, 1);
    T_done = 1;
}

/* What rekey cannot open it names and leaves; the compare-and-set script
 * refuses to overwrite a value that changed since it was read. */
static void test_rekey_failures_and_compare_and_set(void **state)
{
    (void)state;
    char e1[PSW_ID_SIZE], e2[PSW_ID_SIZE], s1[128], s2[128], err[512];
    const char *idc = key_id(KEY_C);
    char idc_s[PSW_SECRETS_KEY_ID_SIZE];
    snprintf(idc_s, sizeof(idc_s), "%s", idc);

    up(key_file("a.key", KEY_A, 0600), 0);
    create("/f1", NULL, e1, s1, sizeof(s1));
    create("/f2", NULL, e2, s2, sizeof(s2));
    /* e2 sealed under a key nobody has */
    struct psw_secrets_keyring rc_ring;
    memset(&rc_ring, 0, sizeof(rc_ring));
    assert_int_equal(psw_secrets_key_parse(KEY_C, strlen(KEY_C), "C", &rc_ring.current, err,
                                           sizeof(err)), 0);
    char *lost = psw_secrets_seal(&rc_ring, e2, s2, err, sizeof(err));
    assert_non_null(lost);
    psw_secrets_wipe(&rc_ring);
    freeReplyObject(cluster_cmd(&C, "HSET %sendpoint:%s secret %s", C.cfg.redis_prefix, e2,
                                lost));

    struct res r = psw(NULL, "secrets", "rekey", NULL);
    expect_rc(&r, 1, "rekey with an unopenable value");
    expect_in(r.err, harness_fmt("psw secrets rekey: %s secret: secrets: cannot decrypt the endpoint "
                         "secret (key id %s not loaded)\n", e2, idc_s), "rekey names it");
    expect_in(r.err, "1 value(s) could not be opened", "rekey summary");
    expect_in(r.out, "cannot be opened      1\n", "rekey counts");
    expect_in(r.out, "already current       1\n", "rekey counts");
    res_free(&r);
    assert_string_equal(H(harness_fmt("endpoint:%s", e2), "secret"), lost); /* left as it was */
    r = psw(NULL, "secrets", "status", "--json", NULL);
    expect_rc(&r, 0, "status");
    json_object *o = parse(0, r.out);
    assert_int_equal(jint(o, "endpoints_to_rekey"), 1);
    json_object *rows = jget(o, "storage");
    assert_int_equal(json_object_array_length(rows), 2);
    int seen = 0;
    for (size_t i = 0; i < 2; i++) {
        json_object *row = json_object_array_get_idx(rows, i);
        if (strcmp(jstr(row, "key_id"), idc_s) == 0) {
            assert_string_equal(jstr(row, "key"), "not loaded");
            assert_int_equal(jint(row, "secrets"), 1);
            seen = 1;
        }
    }
    assert_true(seen);
    res_free(&r);

    /* the script: stale "as read" values change nothing */
    char cur[4096];
    snprintf(cur, sizeof(cur), "%s", H(harness_fmt("endpoint:%s", e1), "secret"));
    /* ARGV: prefix, id, secret, secret_prev, signing_key, headers as read,
     * then the four new values */
    const char *stale[] = { C.cfg.redis_prefix, e1, "enc:v1:00000000:AAAA", "", "", "",
                            "NEW", "", "", "" };
    redisReply *rep = psw_redis_eval(C.ctx.redis, PSW_SCRIPT_SECRETS_REKEY, 10, stale, NULL);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    assert_string_equal(rep->str, "changed");
    freeReplyObject(rep);
    assert_string_equal(H(harness_fmt("endpoint:%s", e1), "secret"), cur);
    const char *fresh[] = { C.cfg.redis_prefix, e1, cur, "", "", "", "NEW", "", "", "" };
    rep = psw_redis_eval(C.ctx.redis, PSW_SCRIPT_SECRETS_REKEY, 10, fresh, NULL);
    assert_non_null(rep);
    assert_string_equal(rep->str, "ok");
    freeReplyObject(rep);
    assert_string_equal(H(harness_fmt("endpoint:%s", e1), "secret"), "NEW");
    const char *gone[] = { C.cfg.redis_prefix, "ep_01JC000000000000000000000Z", "", "", "", "",
                           "x", "", "", "" };
    rep = psw_redis_eval(C.ctx.redis, PSW_SCRIPT_SECRETS_REKEY, 10, gone, NULL);
    assert_non_null(rep);
    assert_string_equal(rep->str, "notfound");
    freeReplyObject(rep);
    /* rotating a secret nobody can open: a grace would keep it valid and
     * make every request fail until the grace ends, so it is refused with
     * the reason; grace 0 replaces it */
    r = psw(NULL, "endpoint", "rotate-secret", e2, NULL);
    assert_int_not_equal(r.rc, 0);
    expect_in(r.err, "cannot be opened", "rotate refuses a grace for a lost secret");
    expect_in(r.err, "grace 0", "rotate says what to do");
    res_free(&r);
    assert_string_equal(H(harness_fmt("endpoint:%s", e2), "secret"), lost); /* nothing changed */
    r = psw(NULL, "endpoint", "rotate-secret", e2, "--grace", "2h", NULL);
    assert_int_not_equal(r.rc, 0);
    res_free(&r);
    r = psw(NULL, "endpoint", "rotate-secret", e2, "--grace", "0", "--json", NULL);
    expect_rc(&r, 0, "rotate with grace 0 replaces a lost secret");
    res_free(&r);
    assert_string_equal(H(harness_fmt("endpoint:%s", e2), "secret_prev"), "");
    assert_string_not_equal(H(harness_fmt("endpoint:%s", e2), "secret"), lost);
    psw_secrets_free(lost);
    T_done = 1;
}

/* A worker without the key the secrets are sealed under: each attempt fails
 * with the clear error, no request is made, nothing leaks. */
static void test_wrong_key_worker(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], s1[128];
    const char *ida = key_id(KEY_A);
    char ida_s[PSW_SECRETS_KEY_ID_SIZE];
    snprintf(ida_s, sizeof(ida_s), "%s", ida);

    up(key_file("a.key", KEY_A, 0600), 0);
    create("/wrong", NULL, ep, s1, sizeof(s1));
    /* A low disable threshold: four failures of the worker's own must not
     * count against the endpoint (the receiver is fine). */
    const char *cfgc = config_with(
        "c.yaml", harness_fmt("secrets.key_file: %s\nendpoint.disable_after_failures: 2",
                      key_file("c.key", KEY_C, 0600)));
    extra_worker(cfgc);
    publish("evt_sec_wrong", 1);
    const char *d = delivery_of(ep);
    char dk[128];
    snprintf(dk, sizeof(dk), "delivery:%s", d);
    /* retry.schedule is 100ms, 200ms, 300ms: four attempts, then failed */
    assert_int_equal(cluster_wait_field(&C, dk, "state", "failed", WAIT_MS), 0);
    const char *want = harness_fmt("secrets: cannot decrypt the endpoint secret (key id %s not loaded)",
                           ida_s);
    char want_s[256];
    snprintf(want_s, sizeof(want_s), "%s", want);
    assert_string_equal(H(dk, "last_error"), want_s);
    assert_string_equal(H(dk, "attempts"), "4");
    assert_string_equal(H(dk, "last_status"), "0");
    struct timespec ts = { 0, SETTLE_MS * 1000000L };
    nanosleep(&ts, NULL);
    assert_int_equal(rx_count(C.rx, NULL), 0);
    char ek[128];
    snprintf(ek, sizeof(ek), "endpoint:%s", ep);
    assert_string_equal(H(ek, "status"), "enabled");
    assert_string_equal(H(ek, "consecutive_failures"), "0");
    assert_int_equal(cluster_hget_ll(&C, "stats", "endpoints_disabled", 0), 0);
    assert_int_equal(cluster_hget_ll(&C, "stats", "failed_attempts", 0), 4);

    redisReply *rec = cluster_cmd(&C, "LRANGE %sdelivery:%s:attempts 0 -1",
                                  C.cfg.redis_prefix, d);
    assert_int_equal(rec->elements, 4);
    for (size_t i = 0; i < rec->elements; i++) {
        json_object *a = parse(0, rec->element[i]->str);
        assert_string_equal(jstr(a, "error"), want_s);
        jnull(a, "response");
        /* no request was prepared: no signature, and no secret */
        expect_not_in(rec->element[i]->str, "X-PostStack-Signature", "attempt record");
        expect_not_in(rec->element[i]->str, s1, "attempt record");
    }
    freeReplyObject(rec);
    wait_file_has(EXTRA_LOG[0], want_s);
    expect_file_lacks(EXTRA_LOG[0], s1, "the secret");
    expect_file_lacks(EXTRA_LOG[0], KEY_C, "the worker's key");
    redis_lacks(s1, "the secret");
    T_done = 1;
}

/* No key: values stay plain, the worker and create say so, status and
 * rekey agree; bad key files stop the programs that need a key. */
static void test_plain_mode_and_bad_key_files(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], s1[128], url[512];

    up(NULL, 1);
    wait_file_has(C.work_log[0], PSW_SECRETS_PLAIN_WARNING);
    rx_url(C.rx, "/plain", url, sizeof(url));
    struct res r = psw(NULL, "endpoint", "create", "--account", ACCT, "--url", url, NULL);
    expect_rc(&r, 0, "create without a key");
    expect_in(r.out, "Note: " PSW_SECRETS_PLAIN_WARNING ".\n", "create says it");
    assert_string_equal(r.err, "");
    const char *p = strstr(r.out, "created endpoint ");
    assert_non_null(p);
    snprintf(ep, sizeof(ep), "%.*s", (int)strcspn(p + 17, "\n"), p + 17);
    p = strstr(r.out, "\nsecret ");
    assert_non_null(p);
    p += strspn(p + 7, " ") + 7;
    snprintf(s1, sizeof(s1), "%.*s", (int)strcspn(p, "\n"), p);
    res_free(&r);
    assert_string_equal(H(harness_fmt("endpoint:%s", ep), "secret"), s1);
    publish("evt_sec_plain", 1);
    assert_int_equal(rx_wait(C.rx, "/plain", 1, WAIT_MS), 0);
    const char *one[1] = { s1 };
    expect_signed("/plain", "evt_sec_plain", one, 1);

    r = psw(NULL, "secrets", "status", "--json", NULL);
    expect_rc(&r, 0, "status without a key");
    json_object *o = parse(0, r.out);
    assert_string_equal(jstr(o, "encryption"), "off");
    assert_string_equal(jstr(o, "warning"), PSW_SECRETS_PLAIN_WARNING);
    jnull(o, "current_key_id");
    assert_int_equal(jint(o, "endpoints_to_rekey"), 0);
    json_object *row = json_object_array_get_idx(jget(o, "storage"), 0);
    assert_string_equal(jstr(row, "stored_as"), "plain");
    assert_int_equal(jint(row, "secrets"), 1);
    res_free(&r);
    r = psw(NULL, "secrets", "rekey", NULL);
    expect_rc(&r, 2, "rekey without a key");
    assert_string_equal(r.err, "psw secrets rekey: no key to rekey to: set secrets.key_file (or "
                               "PSW_SECRETS_KEY)\n");
    res_free(&r);

    /* a key file other users can read: refused by every program needing it */
    const char *bad = key_file("bad.key", KEY_A, 0644);
    const char *cfgbad = config_with("bad.yaml", harness_fmt("secrets.key_file: %s", bad));
    const char *why = harness_fmt("secrets.key_file: %s: permissions 0644 let other users read the key",
                          bad);
    char why_s[1024];
    snprintf(why_s, sizeof(why_s), "%s", why);
    char *out = NULL, *err = NULL;
    const char *argv[] = { "--config", cfgbad, NULL };
    int rc = proc_run("psw-worker", argv, NULL, &out, &err, RUN_MS);
    assert_int_equal(rc, 78); /* PSW_EXIT_CONFIG: a supervisor does not restart it */
    expect_in(err, why_s, "psw-worker refuses the key file");
    free(out);
    free(err);
    r = psw(cfgbad, "endpoint", "create", "--account", ACCT, "--url", url, NULL);
    expect_rc(&r, 2, "create with a bad key file");
    expect_in(r.err, why_s, "create names the key file");
    res_free(&r);
    r = psw(cfgbad, "endpoint", "rotate-secret", ep, NULL);
    expect_rc(&r, 2, "rotate with a bad key file");
    expect_in(r.err, why_s, "rotate names the key file");
    res_free(&r);
    assert_string_equal(H(harness_fmt("endpoint:%s", ep), "secret"), s1); /* unchanged */
    r = psw(cfgbad, "endpoint", "list", NULL);
    expect_rc(&r, 0, "list does not need the key");
    res_free(&r);
    /* a secret that would look sealed is refused */
    r = psw(NULL, "endpoint", "create", "--account", ACCT, "--url", url, "--secret",
            "enc:v1:looks_sealed_0001", NULL);
    expect_rc(&r, 2, "an enc: secret");
    expect_in(r.err, "psw endpoint create: --secret: must not start with \"enc:\"", "enc:");
    res_free(&r);
    T_done = 1;
}

/* SIGHUP with a key file that can no longer be read safely: the master
 * refuses the reload (its children would all exit 78) and keeps working. */
static void test_reload_refuses_bad_key(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], s1[128];
    const char *kf = key_file("reload.key", KEY_A, 0600);
    char path[512];
    snprintf(path, sizeof(path), "%s", kf);

    up(path, 1);
    create("/reload", NULL, ep, s1, sizeof(s1));
    publish("evt_sec_reload_1", 1);
    assert_int_equal(rx_wait(C.rx, "/reload", 1, WAIT_MS), 0);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(kill(C.work[0], SIGHUP), 0);
    wait_file_has(C.work_log[0], "reload refused, keeping the running configuration");
    expect_file_lacks(C.work_log[0], "retired worker", "no child was replaced");
    expect_file_lacks(C.work_log[0], KEY_A, "the key");

    /* the running children still deliver */
    publish("evt_sec_reload_2", 1);
    assert_int_equal(rx_wait(C.rx, "/reload", 2, WAIT_MS), 0);
    assert_int_equal(chmod(path, 0600), 0);
    T_done = 1;
}

/* The endpoint options sealed like secrets (an Ed25519 signing key, static
 * headers) move to the new key with the secrets: afterwards a psw holding
 * only the new key opens them, and deliveries are still signed. */
static void test_rekey_moves_option_values(void **state)
{
    (void)state;
    char ida_s[PSW_SECRETS_KEY_ID_SIZE], idb_s[PSW_SECRETS_KEY_ID_SIZE], ka[600], kb[600];
    char url[512], id[PSW_ID_SIZE], pub[128];
    snprintf(ida_s, sizeof(ida_s), "%s", key_id(KEY_A));
    snprintf(idb_s, sizeof(idb_s), "%s", key_id(KEY_B));
    snprintf(ka, sizeof(ka), "%s", key_file("a.key", KEY_A, 0600));
    snprintf(kb, sizeof(kb), "%s", key_file("b.key", KEY_B, 0600));

    up(ka, 1);
    rx_url(C.rx, "/opt", url, sizeof(url));
    struct res r = psw(NULL, "endpoint", "create", "--account", ACCT, "--url", url, "--signing",
                       "ed25519", "--header", "Authorization: Bearer tok-0123456789", "--json",
                       NULL);
    expect_rc(&r, 0, "endpoint create");
    json_object *o = parse(0, r.out);
    snprintf(id, sizeof(id), "%s", jstr(o, "id"));
    snprintf(pub, sizeof(pub), "%s", jstr(o, "public_key"));
    res_free(&r);
    const char *ek = harness_fmt("endpoint:%s", id);
    assert_int_equal(strncmp(H(ek, "signing_key"), harness_fmt("enc:v1:%s:", ida_s), 16), 0);
    assert_int_equal(strncmp(H(ek, "headers"), harness_fmt("enc:v1:%s:", ida_s), 16), 0);

    const char *cfg2 = config_with("rekey.yaml",
                                   harness_fmt("secrets.key_file: %s\nsecrets.previous_key_file: %s",
                                               kb, ka));
    char cfg2_s[600];
    snprintf(cfg2_s, sizeof(cfg2_s), "%s", cfg2);
    r = psw(cfg2_s, "secrets", "status", "--json", NULL);
    expect_rc(&r, 0, "status");
    assert_int_equal(jint(parse(1, r.out), "endpoints_to_rekey"), 1);
    res_free(&r);
    r = psw(cfg2_s, "secrets", "rekey", "--json", NULL);
    expect_rc(&r, 0, "rekey");
    o = parse(2, r.out);
    assert_int_equal(jint(o, "resealed"), 3); /* secret, signing_key, headers */
    assert_int_equal(jint(o, "failed"), 0);
    res_free(&r);
    assert_int_equal(strncmp(H(ek, "signing_key"), harness_fmt("enc:v1:%s:", idb_s), 16), 0);
    assert_int_equal(strncmp(H(ek, "headers"), harness_fmt("enc:v1:%s:", idb_s), 16), 0);

    const char *cfgb = config_with("b-only.yaml", harness_fmt("secrets.key_file: %s", kb));
    r = psw(cfgb, "endpoint", "show", id, "--json", NULL);
    expect_rc(&r, 0, "show with the new key only");
    o = parse(3, r.out);
    assert_string_equal(jstr(o, "public_key"), pub);
    assert_string_equal(json_object_to_json_string_ext(jget(o, "headers"), JSON_C_TO_STRING_PLAIN),
                        "[\"Authorization: Bea\xe2\x80\xa6***\"]");
    res_free(&r);
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sealed_at_rest, cleanup_json),
        cmocka_unit_test_teardown(test_rotation_signs_with_both, cleanup_json),
        cmocka_unit_test_teardown(test_rekey_to_a_new_key, cleanup_json),
        cmocka_unit_test_teardown(test_rekey_moves_option_values, cleanup_json),
        cmocka_unit_test_teardown(test_rekey_failures_and_compare_and_set, cleanup_json),
        cmocka_unit_test_teardown(test_wrong_key_worker, cleanup_json),
        cmocka_unit_test_teardown(test_plain_mode_and_bad_key_files, cleanup_json),
        cmocka_unit_test_teardown(test_reload_refuses_bad_key, cleanup_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
