/*
 * test_cli.c — the psw command line (docs/cli.md) as a black box: the real
 * bin/psw run with proc_run against a whole deployment (tests/harness/
 * cluster.h: redis-server, a real psw-scheduler and psw-worker, a recording
 * HTTP receiver). Every command's success path and its main errors:
 *   - usage: unknown command/subcommand/option, missing and bad values
 *     (numbers, times, durations), argument counts, --help, --version, a
 *     bad or missing configuration file, an unreachable Redis;
 *   - endpoint create/list/show/update/disable/enable/delete: what the
 *     library then reads back, --json field by field, --show-secret, global
 *     options before, between and after the words and arguments, unknown
 *     id (exit 1) and bad URL (exit 2, the message names --url);
 *   - publish: one pretty-printed event, a file, a duplicate, NDJSON with
 *     bad lines (line numbers on stderr, the good lines published, exit 1),
 *     2,500 lines in one run, empty and unreadable input (exit 2);
 *   - deliveries (table, --json, --state, --limit, bad range) and delivery
 *     show (every attempt, the signature the receiver saw);
 *   - replay of one delivery and of a date range (the receiver gets exactly
 *     those events again), a disabled endpoint refused without --enable;
 *   - rotate-secret: during the grace two v1= values, each verifying with
 *     its secret; after a 1 s grace only the new one;
 *   - verify with a captured request (exit 0) and a tampered body (exit 1);
 *   - stats, queue, alerts: the same JSON the library returns, and exact
 *     counters for a known scenario.
 *
 * One cluster for the whole group (time scaled down by the harness's
 * config); each test makes its own accounts, endpoints and receiver paths,
 * so the tests do not see each other's data. Every wait is bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/delivery.h"
#include "common/endpoint.h"
#include "common/ids.h"
#include "common/sign.h"
#include "common/stats.h"
#include "common/timeutil.h"
#include "common/config.h"
#include "tests/harness/cluster.h"

#define WAIT_MS 10000
#define RUN_MS 20000
#define MAX_ARGS 40

static struct cluster C;
static int started, finished; /* tests begun / run to their end: logs are dumped unless equal */

#define DONE() finished++

static const char *const overrides[] = {
    "worker.processes: 1",
    NULL,
};

/* ---- fixture ------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    if (cluster_start(&C, overrides, 1, 1) < 0) {
        cluster_stop(&C, 1);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cluster_stop(&C, started != finished);
    return 0;
}

/* ---- running psw ---------------------------------------------------------- */

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

/* Runs psw with the NULL-terminated arguments as given (no --config added). */
static struct res vrun(const char *in, int add_config, const char *first, va_list ap)
{
    const char *argv[MAX_ARGS];
    size_t n = 0;
    struct res r = { 0 };

    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        if (n + 3 >= MAX_ARGS)
            fail_msg("too many arguments");
        argv[n++] = a;
    }
    if (add_config) {
        argv[n++] = "--config";
        argv[n++] = C.config_path;
    }
    argv[n] = NULL;
    r.rc = proc_run("psw", argv, in, &r.out, &r.err, RUN_MS);
    if (!r.out || !r.err)
        fail_msg("proc_run gave no output buffers");
    return r;
}

/* psw ARGS... --config <the cluster's config>, stdin in (NULL = empty). */
static struct res run_in(const char *in, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    struct res r = vrun(in, 1, first, ap);
    va_end(ap);
    return r;
}

#define run(...) run_in(NULL, __VA_ARGS__)

/* psw ARGS... exactly as given. */
static struct res run_raw(const char *in, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    struct res r = vrun(in, 0, first, ap);
    va_end(ap);
    return r;
}

static void show_res(const char *what, const struct res *r)
{
    fprintf(stderr, "%s: exit %d\n--- stdout\n%s--- stderr\n%s---\n", what, r->rc, r->out,
            r->err);
}

static void expect_rc(const struct res *r, int rc, const char *what)
{
    if (r->rc != rc) {
        show_res(what, r);
        fail_msg("%s: exit %d, expected %d", what, r->rc, rc);
    }
}

static void expect_in(const char *hay, const char *needle, const char *what)
{
    if (!strstr(hay, needle))
        fail_msg("%s: \"%s\" not found in:\n%s", what, needle, hay);
}

static void expect_not_in(const char *hay, const char *needle, const char *what)
{
    if (strstr(hay, needle))
        fail_msg("%s: \"%s\" must not appear in:\n%s", what, needle, hay);
}

/* A usage error: exit 2, nothing on stdout, stderr mentions each needle. */
static void expect_usage(struct res r, const char *needle1, const char *needle2, const char *what)
{
    expect_rc(&r, 2, what);
    assert_string_equal(r.out, "");
    expect_in(r.err, needle1, what);
    if (needle2)
        expect_in(r.err, needle2, what);
    res_free(&r);
}

/* ---- JSON -------------------------------------------------------------------- */

static struct json_object *parse(const char *s)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
    int ok = json_tokener_get_error(tok) == json_tokener_success;
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!ok || strspn(s + end, " \n") != strlen(s + end))
        fail_msg("not exactly one JSON document:\n%s", s);
    return o;
}

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        fail_msg("no member \"%s\" in %s", key, json_object_to_json_string(o));
    return v;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v = member(o, key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("\"%s\" is not a string in %s", key, json_object_to_json_string(o));
    return json_object_get_string(v);
}

static long long jint(struct json_object *o, const char *key)
{
    struct json_object *v = member(o, key);
    if (!json_object_is_type(v, json_type_int))
        fail_msg("\"%s\" is not an integer in %s", key, json_object_to_json_string(o));
    return json_object_get_int64(v);
}

static void jnull(struct json_object *o, const char *key)
{
    if (member(o, key) != NULL)
        fail_msg("\"%s\" is not null in %s", key, json_object_to_json_string(o));
}

static int has(struct json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

static long long iso_ms(const char *s)
{
    int64_t ms;
    if (psw_time_parse_iso(s, &ms) < 0)
        fail_msg("not an ISO 8601 time: \"%s\"", s);
    return ms;
}

/* ---- helpers over the deployment ----------------------------------------------- */

static void url_of(const char *path, char *out, size_t n)
{
    rx_url(C.rx, path, out, n);
}

/* Creates an endpoint through the CLI (--json); id and secret out. */
static void cli_endpoint(const char *account, const char *path, const char *events,
                         const char *secret, char id[PSW_ID_SIZE], char *secret_out,
                         size_t secret_n)
{
    char url[256];
    struct res r;
    url_of(path, url, sizeof(url));
    if (secret)
        r = run("endpoint", "create", "--account", account, "--url", url, "--events",
                events ? events : "*", "--secret", secret, "--json", NULL);
    else
        r = run("endpoint", "create", "--account", account, "--url", url, "--events",
                events ? events : "*", "--json", NULL);
    expect_rc(&r, 0, "endpoint create");
    struct json_object *o = parse(r.out);
    snprintf(id, PSW_ID_SIZE, "%s", jstr(o, "id"));
    if (secret_out)
        snprintf(secret_out, secret_n, "%s", jstr(o, "secret"));
    json_object_put(o);
    res_free(&r);
}

static char *event_json(const char *id, const char *account)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof(buf[0]),
             "{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
             "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<%s@x>\","
             "\"to\":\"a@example.org\"}}",
             id, account, id);
    return b;
}

static void publish_ok(const char *json)
{
    struct res r = run_in(json, "publish", NULL);
    expect_rc(&r, 0, "publish");
    res_free(&r);
}

static void wait_state(const char *dlv, const char *state)
{
    char key[128];
    snprintf(key, sizeof(key), "delivery:%s", dlv);
    if (cluster_wait_field(&C, key, "state", state, WAIT_MS) < 0)
        fail_msg("delivery %s never became %s", dlv, state);
}

/* The only delivery id of an endpoint's n-th (0-based, oldest first) delivery. */
static void nth_delivery(const char *ep, size_t i, char out[PSW_ID_SIZE])
{
    char **ids = NULL;
    size_t n = cluster_deliveries(&C, ep, &ids);
    if (i >= n)
        fail_msg("endpoint %s has %zu deliveries, wanted #%zu", ep, n, i);
    snprintf(out, PSW_ID_SIZE, "%s", ids[i]);
    cluster_ids_free(ids, n);
}

/* How many requests on path carry event id evt. */
static size_t requests_for(const char *path, const char *evt)
{
    struct rx_request *reqs = NULL;
    size_t n = rx_requests(C.rx, path, &reqs), k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = rx_header(&reqs[i], "X-PostStack-Event-Id");
        k += e && strcmp(e, evt) == 0;
    }
    rx_requests_free(reqs, n);
    return k;
}

/* ---- usage errors ------------------------------------------------------------- */

static void test_usage(void **state)
{
    (void)state;
    struct res r;

    expect_usage(run(NULL), "missing command", NULL, "no command");
    expect_usage(run("frobnicate", NULL), "unknown command \"frobnicate\"", NULL, "unknown cmd");
    expect_usage(run("endpoint", "frob", NULL), "unknown subcommand \"frob\"", "rotate-secret",
                 "unknown subcommand");
    expect_usage(run("endpoint", NULL), "missing subcommand", "create", "missing subcommand");
    expect_usage(run("endpoint", "create", "--account", "a", "--url", "http://127.0.0.1:1/",
                     "--bogus", "x", NULL),
                 "unknown option \"--bogus\"", "usage: psw endpoint create", "unknown option");
    expect_usage(run("endpoint", "list", "-x", NULL), "unknown option \"-x\"", NULL, "short opt");
    expect_usage(run("--account", "a", "endpoint", "create", NULL), "\"--account\"",
                 "after the command's name", "command option before the command");
    expect_usage(run("endpoint", "create", "--account", "a", NULL), "missing --url URL", NULL,
                 "missing required option");
    expect_usage(run("endpoint", "create", "--url", NULL), "--url needs a value (URL)", NULL,
                 "missing value at the end");
    expect_usage(run("endpoint", "create", "--url", "--account", "a", NULL),
                 "--url needs a value", "--name=VALUE", "value that looks like an option");
    expect_usage(run("endpoint", "create", "--account", "a", "--account", "b", "--url",
                     "http://127.0.0.1:1/", NULL),
                 "--account given twice", NULL, "option twice");
    expect_usage(run("endpoint", "show", "--show-secret=yes", "ep_x", NULL),
                 "--show-secret takes no value", NULL, "flag with value");
    expect_usage(run("endpoint", "show", NULL), "missing argument ID", NULL, "missing arg");
    expect_usage(run("endpoint", "show", "a", "b", NULL), "unexpected argument \"b\"", NULL,
                 "extra arg");
    expect_usage(run("deliveries", "--endpoint", "ep_x", "--limit", "0", NULL),
                 "--limit: expected a whole number from 1 to 10000; got \"0\"", NULL, "limit 0");
    expect_usage(run("deliveries", "--endpoint", "ep_x", "--limit", "12abc", NULL),
                 "--limit: expected a whole number", "\"12abc\"", "limit junk");
    expect_usage(run("deliveries", "--endpoint", "ep_x", "--since", "yesterday", NULL),
                 "--since: expected a time", "\"yesterday\"", "bad time");
    expect_usage(run("alerts", "--until", "2h", NULL), "unknown option \"--until\"", NULL,
                 "option of another command");
    expect_usage(run("endpoint", "rotate-secret", "ep_x", "--grace", "2x", NULL),
                 "--grace: expected a duration", "\"2x\"", "bad duration");
    expect_usage(run("verify", "--secret", "whsec_x", NULL), "missing --signature HEADER", NULL,
                 "verify without signature");
    expect_usage(run("verify", "--secret", "s", "--signature", "t=1,v1=00", "--tolerance",
                     "-5", NULL),
                 "--tolerance: expected a whole number from 0", NULL, "negative tolerance");
    expect_usage(run("replay", NULL), "missing delivery ids, or --endpoint", NULL, "replay bare");
    expect_usage(run("replay", "dlv_x", "--endpoint", "ep_x", NULL), "not both", NULL,
                 "replay ids and endpoint");
    expect_usage(run("replay", "dlv_x", "--since", "2h", NULL), "--since selects deliveries",
                 NULL, "replay ids with since");
    expect_usage(run("replay", "--endpoint", "ep_x", NULL), "missing --since T", NULL,
                 "range without since");
    expect_usage(run_raw(NULL, "--config", NULL), "--config needs a value (FILE)", NULL,
                 "config without value");

    /* help and version: exit 0, on stdout */
    r = run("--help", NULL);
    expect_rc(&r, 0, "--help");
    expect_in(r.out, "endpoint rotate-secret", "--help");
    expect_in(r.out, "delivery show", "--help");
    expect_in(r.out, "exit status: 0 ok, 1 the operation failed, 2 usage or input error", "help");
    assert_string_equal(r.err, "");
    res_free(&r);
    r = run("endpoint", "create", "--help", NULL); /* required options not enforced */
    expect_rc(&r, 0, "create --help");
    expect_in(r.out, "usage: psw endpoint create --account A --url URL [--domain D]", "help");
    expect_in(r.out, "--description TEXT", "create --help");
    res_free(&r);
    r = run_raw(NULL, "-h", "replay", NULL);
    expect_rc(&r, 0, "-h replay");
    expect_in(r.out, "--enable", "replay help");
    res_free(&r);
    r = run("endpoint", "--help", NULL);
    expect_rc(&r, 0, "endpoint --help");
    expect_in(r.out, "endpoint disable", "group help");
    expect_not_in(r.out, "  publish", "group help");
    res_free(&r);

    const char *src = getenv("PSW_SRC");
    assert_non_null(src);
    char path[512], want[64];
    snprintf(path, sizeof(path), "%s/VERSION", src);
    char *version = read_file(path, NULL);
    assert_non_null(version);
    version[strcspn(version, "\n")] = '\0';
    snprintf(want, sizeof(want), "psw %s\n", version);
    free(version);
    r = run_raw(NULL, "stats", "--version", NULL);
    expect_rc(&r, 0, "--version");
    assert_string_equal(r.out, want);
    res_free(&r);

    /* --print-config: the effective configuration, loadable YAML */
    r = run_raw(NULL, "--print-config", "--config", C.config_path, NULL);
    expect_rc(&r, 0, "--print-config");
    expect_in(r.out, C.redis.url, "--print-config shows redis.url");
    expect_in(r.out, "tick: 20ms", "--print-config shows the file's scheduler.tick");
    {
        struct psw_config back = { 0 };
        char perr[512];
        assert_int_equal(psw_config_load_string(&back, r.out, strlen(r.out), "printed", perr,
                                                sizeof(perr)), 0);
        assert_int_equal(back.scheduler_tick_ms, 20);
        psw_config_free(&back);
    }
    res_free(&r);

    /* configuration problems: exit 2 naming the file; Redis down: exit 1 naming it */
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/missing.yaml", C.dir);
    r = run_raw(NULL, "stats", "--config", cfg, NULL);
    expect_rc(&r, 2, "missing config");
    expect_in(r.err, cfg, "missing config");
    res_free(&r);
    snprintf(cfg, sizeof(cfg), "%s/bad.yaml", C.dir);
    assert_int_equal(write_file(cfg, "redis.url: redis://127.0.0.1:1/0\nworker.concurrency: 0\n"), 0);
    r = run_raw(NULL, "endpoint", "list", "--config", cfg, NULL);
    expect_rc(&r, 2, "bad config");
    expect_in(r.err, "bad.yaml:2:", "bad config names file and line");
    expect_in(r.err, "worker.concurrency", "bad config names the key");
    res_free(&r);
    snprintf(cfg, sizeof(cfg), "%s/down.yaml", C.dir);
    assert_int_equal(write_file(cfg, "redis.url: redis://127.0.0.1:1/0\n"), 0);
    r = run_raw(NULL, "endpoint", "list", "--config", cfg, NULL);
    expect_rc(&r, 1, "redis down");
    expect_in(r.err, "psw endpoint list: ", "redis down");
    expect_in(r.err, "127.0.0.1:1", "redis down names the server");
    assert_string_equal(r.out, "");
    res_free(&r);
    DONE();
}

/* ---- endpoints ---------------------------------------------------------------- */

static void test_endpoint_commands(void **state)
{
    (void)state;
    char url[256], url2[256], id[PSW_ID_SIZE], id2[PSW_ID_SIZE], err[1024];
    struct psw_endpoint ep = { 0 };
    struct json_object *o;
    struct res r;

    url_of("/ep", url, sizeof(url));
    url_of("/ep2", url2, sizeof(url2));

    /* create, human output: the id, the settings and the secret once */
    r = run("endpoint", "create", "--account", "acct_cli_ep", "--url", url, "--domain",
            "Mail.Example.COM", "--events", "email.sent,email.bounced", "--description",
            "primary hook", NULL);
    expect_rc(&r, 0, "create");
    assert_string_equal(r.err, "");
    const char *p = strstr(r.out, "created endpoint ep_");
    assert_non_null(p);
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(p + 17, "\n"), p + 17);
    assert_true(psw_id_valid("ep_", id));
    assert_int_equal(psw_endpoint_get(&C.ctx, id, &ep, err, sizeof(err)), PSW_OK);
    assert_string_equal(ep.account_id, "acct_cli_ep");
    assert_string_equal(ep.url, url);
    assert_string_equal(ep.domain, "mail.example.com");
    assert_string_equal(ep.events, "email.sent,email.bounced");
    assert_string_equal(ep.description, "primary hook");
    assert_string_equal(ep.status, "enabled");
    char line[256];
    snprintf(line, sizeof(line), "secret                %s\n", ep.secret);
    expect_in(r.out, line, "create prints the secret");
    expect_in(r.out, "it is not shown again", "create warns");
    expect_in(r.out, "domain                mail.example.com\n", "create shows the domain");
    res_free(&r);

    /* create --json, options in another order, --json after everything */
    r = run("endpoint", "create", "--url", url2, "--secret", "whsec_cli_given_secret_0001",
            "--account", "acct_cli_ep", "--json", NULL);
    expect_rc(&r, 0, "create --json");
    o = parse(r.out);
    snprintf(id2, sizeof(id2), "%s", jstr(o, "id"));
    assert_true(psw_id_valid("ep_", id2));
    assert_string_equal(jstr(o, "account_id"), "acct_cli_ep");
    assert_string_equal(jstr(o, "domain"), "");
    assert_string_equal(jstr(o, "url"), url2);
    assert_int_equal(json_object_array_length(member(o, "events")), 1);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(member(o, "events"), 0)), "*");
    assert_string_equal(jstr(o, "status"), "enabled");
    assert_int_equal(jint(o, "consecutive_failures"), 0);
    jnull(o, "disabled_reason");
    jnull(o, "disabled_by");
    jnull(o, "disabled_at");
    jnull(o, "deleted_at");
    assert_string_equal(jstr(o, "secret"), "whsec_cli_given_secret_0001");
    jnull(o, "secret_prev");
    assert_string_equal(jstr(o, "description"), "");
    long long created = iso_ms(jstr(o, "created_at"));
    json_object_put(o);
    res_free(&r);
    struct psw_endpoint ep2 = { 0 };
    assert_int_equal(psw_endpoint_get(&C.ctx, id2, &ep2, err, sizeof(err)), PSW_OK);
    assert_int_equal(ep2.created_at, created);
    assert_string_equal(ep2.secret, "whsec_cli_given_secret_0001");
    psw_endpoint_free(&ep2);

    /* bad input: exit 2, the message names the option */
    r = run("endpoint", "create", "--account", "acct_cli_ep", "--url", "ftp://example.com/x", NULL);
    expect_rc(&r, 2, "bad url");
    expect_in(r.err, "psw endpoint create: --url: ", "bad url names --url");
    expect_in(r.err, "ftp", "bad url says what");
    assert_string_equal(r.out, "");
    res_free(&r);
    r = run("endpoint", "create", "--account", "bad account!", "--url", url, NULL);
    expect_rc(&r, 2, "bad account");
    expect_in(r.err, "--account: ", "bad account names --account");
    res_free(&r);
    r = run("endpoint", "create", "--account", "a1", "--url", url, "--events", "email.nope", NULL);
    expect_rc(&r, 2, "bad events");
    expect_in(r.err, "--events: unknown event type \"email.nope\"", "bad events");
    res_free(&r);

    /* show: secret hidden unless --show-secret; global options anywhere */
    r = run("endpoint", "show", id, NULL);
    expect_rc(&r, 0, "show");
    expect_not_in(r.out, ep.secret, "show hides the secret");
    expect_in(r.out, "(hidden; --show-secret shows it)", "show");
    snprintf(line, sizeof(line), "id                    %s\n", id);
    expect_in(r.out, line, "show id");
    expect_in(r.out, "events                email.sent,email.bounced\n", "show events");
    res_free(&r);
    r = run("endpoint", "show", id, "--show-secret", NULL);
    expect_rc(&r, 0, "show --show-secret");
    expect_in(r.out, ep.secret, "--show-secret");
    res_free(&r);

    struct res a = run_raw(NULL, "--json", "--config", C.config_path, "endpoint", "show", id, NULL);
    struct res b = run_raw(NULL, "endpoint", "--json", "show", "--config", C.config_path, id, NULL);
    struct res c = run_raw(NULL, "endpoint", "show", id, "--config", C.config_path, "--json", NULL);
    struct res d = run_raw(NULL, "endpoint", "show", "--config=", NULL); /* empty file name */
    expect_rc(&a, 0, "show a");
    expect_rc(&b, 0, "show b");
    expect_rc(&c, 0, "show c");
    assert_string_equal(a.out, b.out);
    assert_string_equal(a.out, c.out);
    expect_rc(&d, 2, "empty --config");
    o = parse(a.out);
    assert_string_equal(jstr(o, "id"), id);
    assert_string_equal(jstr(o, "domain"), "mail.example.com");
    assert_int_equal(json_object_array_length(member(o, "events")), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(member(o, "events"), 1)),
                        "email.bounced");
    assert_false(has(o, "secret"));
    assert_false(has(o, "secret_prev"));
    json_object_put(o);
    res_free(&a);
    res_free(&b);
    res_free(&c);
    res_free(&d);
    /* after "--" everything is an argument, so --config comes first here */
    r = run_raw(NULL, "endpoint", "show", "--show-secret", "--json", "--config", C.config_path,
                "--", id, NULL);
    expect_rc(&r, 0, "show --json --show-secret");
    o = parse(r.out);
    assert_string_equal(jstr(o, "secret"), ep.secret);
    jnull(o, "secret_prev");
    jnull(o, "secret_prev_until");
    json_object_put(o);
    res_free(&r);

    /* unknown and malformed ids */
    r = run("endpoint", "show", "ep_00000000000000000000000000", NULL);
    expect_rc(&r, 1, "unknown id");
    expect_in(r.err, "no endpoint ep_00000000000000000000000000", "unknown id");
    assert_string_equal(r.out, "");
    res_free(&r);
    r = run("endpoint", "enable", "ep_00000000000000000000000000", NULL);
    expect_rc(&r, 1, "enable unknown id");
    res_free(&r);
    r = run("endpoint", "show", "nope", NULL);
    expect_rc(&r, 2, "malformed id");
    expect_in(r.err, "\"nope\" is not valid", "malformed id");
    res_free(&r);

    /* list: both, oldest first; by account */
    r = run("endpoint", "list", "--account", "acct_cli_ep", "--json", NULL);
    expect_rc(&r, 0, "list --json");
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 2);
    assert_string_equal(jstr(json_object_array_get_idx(o, 0), "id"), id);
    assert_string_equal(jstr(json_object_array_get_idx(o, 1), "id"), id2);
    assert_false(has(json_object_array_get_idx(o, 0), "secret"));
    json_object_put(o);
    res_free(&r);
    r = run("endpoint", "list", "--account", "acct_cli_ep", NULL);
    expect_rc(&r, 0, "list");
    expect_in(r.out, "ID ", "list header");
    expect_in(r.out, "URL\n", "list header");
    expect_in(r.out, id, "list row 1");
    expect_in(r.out, id2, "list row 2");
    assert_true(strstr(r.out, id) < strstr(r.out, id2));
    expect_in(r.out, "email.sent,email.bounced", "list events");
    res_free(&r);
    r = run("endpoint", "list", "--account", "acct_cli_nobody", NULL);
    expect_rc(&r, 0, "empty list");
    assert_string_equal(r.out, "no endpoints\n");
    res_free(&r);

    /* update */
    r = run("endpoint", "update", id2, "--url", url, "--description", "moved", "--events",
            "email.opened", "--json", NULL);
    expect_rc(&r, 0, "update");
    o = parse(r.out);
    assert_string_equal(jstr(o, "url"), url);
    assert_string_equal(jstr(o, "description"), "moved");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(member(o, "events"), 0)),
                        "email.opened");
    assert_false(has(o, "secret"));
    json_object_put(o);
    res_free(&r);
    assert_int_equal(psw_endpoint_get(&C.ctx, id2, &ep2, err, sizeof(err)), PSW_OK);
    assert_string_equal(ep2.url, url);
    assert_string_equal(ep2.events, "email.opened");
    psw_endpoint_free(&ep2);
    r = run("endpoint", "update", id2, "--url", "http://", NULL);
    expect_rc(&r, 2, "update bad url");
    expect_in(r.err, "--url: ", "update bad url");
    res_free(&r);
    r = run("endpoint", "update", id2, NULL);
    expect_rc(&r, 2, "update nothing");
    expect_in(r.err, "nothing to update", "update nothing");
    res_free(&r);

    /* disable / enable */
    r = run("endpoint", "disable", id2, "--reason", "maintenance window", "--json", NULL);
    expect_rc(&r, 0, "disable");
    o = parse(r.out);
    assert_string_equal(jstr(o, "status"), "disabled");
    assert_string_equal(jstr(o, "disabled_reason"), "maintenance window");
    assert_string_equal(jstr(o, "disabled_by"), "cli");
    iso_ms(jstr(o, "disabled_at"));
    json_object_put(o);
    res_free(&r);
    r = run("endpoint", "disable", id2, NULL); /* again: keeps the first reason */
    expect_rc(&r, 0, "disable again");
    expect_in(r.out, "disabled endpoint ", "disable again");
    expect_in(r.out, "by cli: maintenance window", "disable keeps the reason");
    res_free(&r);
    r = run("endpoint", "enable", id2, "--json", NULL);
    expect_rc(&r, 0, "enable");
    o = parse(r.out);
    assert_string_equal(jstr(o, "status"), "enabled");
    jnull(o, "disabled_reason");
    jnull(o, "disabled_at");
    json_object_put(o);
    res_free(&r);

    /* delete: gone from the list, still shown as deleted; a second delete fails */
    r = run("endpoint", "delete", id2, NULL);
    expect_rc(&r, 0, "delete");
    snprintf(line, sizeof(line), "deleted endpoint %s", id2);
    expect_in(r.out, line, "delete");
    res_free(&r);
    r = run("endpoint", "show", id2, "--json", NULL);
    expect_rc(&r, 0, "show deleted");
    o = parse(r.out);
    assert_string_equal(jstr(o, "status"), "deleted");
    iso_ms(jstr(o, "deleted_at"));
    json_object_put(o);
    res_free(&r);
    r = run("endpoint", "list", "--account", "acct_cli_ep", "--json", NULL);
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 1);
    json_object_put(o);
    res_free(&r);
    r = run("endpoint", "delete", id2, NULL);
    expect_rc(&r, 1, "delete twice");
    expect_in(r.err, id2, "delete twice");
    res_free(&r);
    psw_endpoint_free(&ep);
    DONE();
}

/* ---- publish ---------------------------------------------------------------- */

static void test_publish(void **state)
{
    (void)state;
    char id[PSW_ID_SIZE], path[600], dlv[PSW_ID_SIZE];
    struct json_object *o;
    struct res r;

    cli_endpoint("acct_cli_pub", "/pub", NULL, NULL, id, NULL, 0);

    /* one event, pretty-printed over several lines, on stdin */
    const char *pretty = "{\n  \"id\": \"evt_cli_pretty\",\n  \"type\": \"email.bounced\",\n"
                         "  \"account_id\": \"acct_cli_pub\",\n  \"domain\": \"mail.example.com\",\n"
                         "  \"data\": {\n    \"message_id\": \"<p@x>\",\n    \"to\": \"a@example.org\",\n"
                         "    \"bounce\": {\"type\": \"hard\", \"code\": \"5.1.1\", \"reason\": \"no\"}\n"
                         "  }\n}\n";
    r = run_in(pretty, "publish", NULL);
    expect_rc(&r, 0, "publish pretty");
    assert_string_equal(r.out, "evt_cli_pretty: published, 1 delivery\n");
    assert_string_equal(r.err, "");
    res_free(&r);
    if (rx_wait(C.rx, "/pub", 1, WAIT_MS) < 0)
        fail_msg("the pretty-printed event was not delivered");
    assert_int_equal(requests_for("/pub", "evt_cli_pretty"), 1);

    /* the same from a file argument, --json: a duplicate */
    snprintf(path, sizeof(path), "%s/pretty.json", C.dir);
    assert_int_equal(write_file(path, pretty), 0);
    r = run("publish", path, "--json", NULL);
    expect_rc(&r, 0, "publish file duplicate");
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 1);
    struct json_object *e = json_object_array_get_idx(o, 0);
    assert_int_equal(jint(e, "line"), 1);
    assert_string_equal(jstr(e, "event_id"), "evt_cli_pretty");
    assert_string_equal(jstr(e, "result"), "duplicate");
    assert_int_equal(jint(e, "deliveries"), 1);
    jnull(e, "error");
    json_object_put(o);
    res_free(&r);
    r = run_in(pretty, "publish", "-", NULL);
    expect_rc(&r, 0, "publish - duplicate");
    assert_string_equal(r.out,
                        "evt_cli_pretty: duplicate, already published (1 delivery then); nothing stored\n");
    res_free(&r);

    /* one invalid event: exit 2, the field named, nothing stored */
    r = run_in("{\"id\":\"evt_cli_bad\",\"type\":\"email.sent\",\"account_id\":\"acct_cli_pub\","
               "\"domain\":\"mail.example.com\",\"data\":{\"message_id\":\"<b@x>\"}}",
               "publish", NULL);
    expect_rc(&r, 2, "publish invalid");
    expect_in(r.err, "psw publish: data.to", "publish invalid names the field");
    res_free(&r);
    assert_null(cluster_hget(&C, "event:acct_cli_pub/evt_cli_bad", "type"));
    /* a broken multi-line document is one bad event, not many bad lines */
    r = run_in("{\n  \"id\": \"evt_cli_broken\",\n  \"type\": \n}\n", "publish", NULL);
    expect_rc(&r, 2, "broken document");
    expect_not_in(r.err, "line 2", "broken document");
    res_free(&r);

    /* empty and unreadable input */
    expect_usage(run_in(" \n\n", "publish", NULL), "no event in standard input", NULL, "empty");
    snprintf(path, sizeof(path), "%s/nope.ndjson", C.dir);
    expect_usage(run("publish", path, NULL), "cannot open", path, "missing file");
    expect_usage(run("publish", path, "other", NULL), "unexpected argument \"other\"", NULL,
                 "two files");

    /* NDJSON with bad lines: line numbers, the good lines published, exit 1 */
    char nd[4096];
    snprintf(nd, sizeof(nd), "%s\n\n%s\nnot json\r\n%s\r\n%s\n",
             event_json("evt_cli_nd_a", "acct_cli_pub"),
             "{\"type\":\"email.nope\",\"account_id\":\"acct_cli_pub\",\"domain\":\"d.com\","
             "\"data\":{\"message_id\":\"<n@x>\",\"to\":\"a@example.org\"}}",
             event_json("evt_cli_nd_b", "acct_cli_pub"), event_json("evt_cli_nd_a", "acct_cli_pub"));
    r = run_in(nd, "publish", NULL);
    expect_rc(&r, 1, "ndjson with bad lines");
    assert_string_equal(r.out,
                        "line 1: evt_cli_nd_a: published, 1 delivery\n"
                        "line 5: evt_cli_nd_b: published, 1 delivery\n"
                        "line 6: evt_cli_nd_a: duplicate, already published (1 delivery then); "
                        "nothing stored\n"
                        "2 events published, 1 duplicate, 2 deliveries; 2 lines failed\n");
    expect_in(r.err, "psw publish: line 3: type: unknown event type \"email.nope\"", "line 3");
    expect_in(r.err, "psw publish: line 4: ", "line 4");
    expect_not_in(r.err, "line 1:", "good lines");
    expect_not_in(r.err, "line 5:", "good lines");
    res_free(&r);
    if (rx_wait(C.rx, "/pub", 3, WAIT_MS) < 0)
        fail_msg("the NDJSON events were not delivered");
    harness_nap(300); /* nothing more may come */
    assert_int_equal(requests_for("/pub", "evt_cli_nd_a"), 1);
    assert_int_equal(requests_for("/pub", "evt_cli_nd_b"), 1);
    assert_int_equal(rx_count(C.rx, "/pub"), 3);
    nth_delivery(id, 2, dlv);
    wait_state(dlv, "delivered");

    /* the same as --json */
    snprintf(nd, sizeof(nd), "%s\n{\"type\":\"email.sent\"}\n",
             event_json("evt_cli_nd_c", "acct_cli_pub"));
    r = run_in(nd, "publish", "--json", NULL);
    expect_rc(&r, 1, "ndjson --json");
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 2);
    e = json_object_array_get_idx(o, 0);
    assert_int_equal(jint(e, "line"), 1);
    assert_string_equal(jstr(e, "event_id"), "evt_cli_nd_c");
    assert_string_equal(jstr(e, "result"), "published");
    assert_int_equal(jint(e, "deliveries"), 1);
    assert_int_equal(jint(e, "skipped"), 0);
    e = json_object_array_get_idx(o, 1);
    assert_int_equal(jint(e, "line"), 2);
    assert_string_equal(jstr(e, "result"), "failed");
    assert_int_equal(jint(e, "deliveries"), 0);
    expect_in(jstr(e, "error"), "account_id", "--json error text");
    json_object_put(o);
    expect_in(r.err, "line 2: account_id", "--json keeps stderr");
    res_free(&r);

    /* 2,500 lines in one run (three chunks), to an account without endpoints */
    size_t n = 2500, cap = n * 200, len = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) {
        char eid[32];
        snprintf(eid, sizeof(eid), "evt_cli_bulk_%04zu", i);
        len += (size_t)snprintf(big + len, cap - len, "%s\n", event_json(eid, "acct_cli_bulk"));
    }
    long long before = cluster_hget_ll(&C, "stats", "events_published", 0);
    long long t0 = harness_mono_ms();
    r = run_in(big, "publish", NULL);
    long long took = harness_mono_ms() - t0;
    free(big);
    expect_rc(&r, 0, "bulk");
    expect_in(r.out, "line 2500: evt_cli_bulk_2499: published, 0 deliveries\n", "bulk last");
    expect_in(r.out, "2500 events published, 0 duplicates, 0 deliveries; 0 lines failed\n", "bulk");
    res_free(&r);
    assert_int_equal(cluster_hget_ll(&C, "stats", "events_published", 0) - before, 2500);
    char *v = cluster_hget(&C, "event:acct_cli_bulk/evt_cli_bulk_1000", "type");
    assert_non_null(v);
    assert_string_equal(v, "email.sent");
    free(v);
    fprintf(stderr, "# 2500 NDJSON lines published in %lld ms (ASan build)\n", took);
    DONE();
}

/* ---- deliveries and delivery show -------------------------------------------------- */

static void test_deliveries(void **state)
{
    (void)state;
    char ok[PSW_ID_SIZE], bad[PSW_ID_SIZE], d[3][PSW_ID_SIZE], f[PSW_ID_SIZE];
    struct rx_behavior fail = { 0 };
    struct json_object *o, *x;
    struct res r;

    fail.always_status = 500;
    fail.body = "broken on purpose";
    rx_set(C.rx, "/dl-bad", &fail);
    cli_endpoint("acct_cli_dl", "/dl-ok", NULL, NULL, ok, NULL, 0);
    cli_endpoint("acct_cli_dl2", "/dl-bad", NULL, NULL, bad, NULL, 0);
    publish_ok(event_json("evt_cli_dl_0", "acct_cli_dl"));
    publish_ok(event_json("evt_cli_dl_1", "acct_cli_dl"));
    publish_ok(event_json("evt_cli_dl_2", "acct_cli_dl"));
    publish_ok(event_json("evt_cli_dl_f", "acct_cli_dl2"));
    for (size_t i = 0; i < 3; i++) {
        nth_delivery(ok, i, d[i]);
        wait_state(d[i], "delivered");
    }
    nth_delivery(bad, 0, f);
    wait_state(f, "failed");

    /* --json: newest first, field by field */
    r = run("deliveries", "--endpoint", ok, "--json", NULL);
    expect_rc(&r, 0, "deliveries --json");
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 3);
    for (int i = 0; i < 3; i++) {
        char evt[32];
        x = json_object_array_get_idx(o, (size_t)i);
        snprintf(evt, sizeof(evt), "evt_cli_dl_%d", 2 - i);
        assert_string_equal(jstr(x, "id"), d[2 - i]);
        assert_string_equal(jstr(x, "event_id"), evt);
        assert_string_equal(jstr(x, "endpoint_id"), ok);
        assert_string_equal(jstr(x, "event_type"), "email.sent");
        assert_string_equal(jstr(x, "state"), "delivered");
        assert_int_equal(jint(x, "attempts"), 1);
        assert_int_equal(jint(x, "last_status"), 200);
        jnull(x, "last_error");
        iso_ms(jstr(x, "created_at"));
        iso_ms(jstr(x, "delivered_at"));
    }
    json_object_put(o);
    res_free(&r);

    /* the table */
    r = run("deliveries", "--endpoint", bad, NULL);
    expect_rc(&r, 0, "deliveries table");
    expect_in(r.out, "ID ", "header");
    expect_in(r.out, "  EVENT TYPE  ", "header");
    expect_in(r.out, "  STATE  ", "header");
    expect_in(r.out, "  ATTEMPTS  ", "header");
    expect_in(r.out, "  LAST STATUS  ", "header");
    expect_in(r.out, "  LAST ERROR  ", "header");
    expect_in(r.out, "  CREATED  ", "header");
    expect_in(r.out, "  NEXT ATTEMPT\n", "header");
    const char *row = strstr(r.out, f);
    assert_non_null(row);
    expect_in(row, "  email.sent  failed  4         500          ", "failed row");
    res_free(&r);

    /* filters */
    r = run("deliveries", "--limit", "2", "--endpoint", ok, "--json", NULL);
    expect_rc(&r, 0, "limit");
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 2);
    assert_string_equal(jstr(json_object_array_get_idx(o, 0), "id"), d[2]);
    json_object_put(o);
    res_free(&r);
    r = run("deliveries", "--endpoint", ok, "--state", "failed,skipped", NULL);
    expect_rc(&r, 0, "state filter");
    assert_string_equal(r.out, "no deliveries\n");
    res_free(&r);
    r = run("deliveries", "--endpoint", bad, "--state", "failed", "--since", "10m", "--until",
            "now", "--json", NULL);
    expect_rc(&r, 0, "state + range");
    o = parse(r.out);
    assert_int_equal(json_object_array_length(o), 1);
    x = json_object_array_get_idx(o, 0);
    assert_string_equal(jstr(x, "state"), "failed");
    assert_int_equal(jint(x, "attempts"), 4);
    assert_int_equal(jint(x, "last_status"), 500);
    json_object_put(o);
    res_free(&r);
    r = run("deliveries", "--endpoint", ok, "--since", "2099-01-01T00:00:00Z", NULL);
    expect_rc(&r, 0, "future since");
    assert_string_equal(r.out, "no deliveries\n");
    res_free(&r);
    r = run("deliveries", "--endpoint", ok, "--since", "1h", "--until", "2h", NULL);
    expect_rc(&r, 2, "bad range");
    expect_in(r.err, "since", "bad range");
    expect_in(r.err, "until", "bad range");
    res_free(&r);
    r = run("deliveries", "--endpoint", ok, "--state", "lost", NULL);
    expect_rc(&r, 2, "bad state");
    expect_in(r.err, "\"lost\"", "bad state");
    res_free(&r);
    r = run("deliveries", "--endpoint", "ep_00000000000000000000000000", NULL);
    expect_rc(&r, 1, "deliveries of an unknown endpoint");
    res_free(&r);

    /* delivery show --json: every attempt, the signature the receiver saw */
    struct rx_request *reqs = NULL;
    size_t nreq = rx_requests(C.rx, "/dl-bad", &reqs);
    assert_int_equal(nreq, 4);
    r = run("delivery", "show", f, "--json", NULL);
    expect_rc(&r, 0, "delivery show --json");
    o = parse(r.out);
    x = member(o, "delivery");
    assert_string_equal(jstr(x, "id"), f);
    assert_string_equal(jstr(x, "state"), "failed");
    assert_string_equal(jstr(member(o, "event"), "id"), "evt_cli_dl_f");
    struct json_object *att = member(o, "attempts");
    assert_int_equal(json_object_array_length(att), 4);
    for (size_t i = 0; i < 4; i++) {
        struct json_object *a = json_object_array_get_idx(att, i);
        assert_int_equal(jint(a, "n"), (long long)i + 1);
        assert_string_equal(jstr(a, "trigger"), i == 0 ? "first" : "retry");
        assert_int_equal(jint(a, "status"), 500);
        assert_string_equal(jstr(member(a, "response"), "body"), "broken on purpose");
        assert_string_equal(jstr(member(member(a, "request"), "headers"), "X-PostStack-Signature"),
                            rx_header(&reqs[i], "X-PostStack-Signature"));
    }
    json_object_put(o);
    res_free(&r);

    /* delivery show, human */
    char *body = cluster_hget(&C, "event:acct_cli_dl2/evt_cli_dl_f", "body");
    assert_non_null(body);
    r = run("delivery", "show", f, NULL);
    expect_rc(&r, 0, "delivery show");
    char line[1024];
    snprintf(line, sizeof(line), "delivery              %s\n", f);
    expect_in(r.out, line, "show id");
    expect_in(r.out, "state                 failed (", "show state");
    expect_in(r.out, "event                 evt_cli_dl_f (email.sent)\n", "show event");
    expect_in(r.out, "attempts              4\n", "show attempts");
    snprintf(line, sizeof(line), "\n  %s\n", body);
    expect_in(r.out, line, "show body");
    expect_in(r.out, "\nattempt 1 (first) at ", "attempt 1");
    expect_in(r.out, "\nattempt 4 (retry) at ", "attempt 4");
    for (size_t i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), "      X-PostStack-Signature: %s\n",
                 rx_header(&reqs[i], "X-PostStack-Signature"));
        expect_in(r.out, line, "attempt signature");
    }
    expect_in(r.out, "  response: 500\n", "response status");
    expect_in(r.out, "      broken on purpose\n", "response body");
    expect_in(r.out, "      X-PostStack-Attempt: 4\n", "attempt header");
    res_free(&r);
    free(body);
    rx_requests_free(reqs, nreq);

    r = run("delivery", "show", "dlv_00000000000000000000000000", NULL);
    expect_rc(&r, 1, "show unknown delivery");
    expect_in(r.err, "no delivery dlv_00000000000000000000000000", "show unknown delivery");
    res_free(&r);
    r = run("delivery", "show", "dlv_nope", NULL);
    expect_rc(&r, 2, "show malformed delivery id");
    res_free(&r);
    DONE();
}

/* ---- replay ---------------------------------------------------------------------- */

static void test_replay(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], d[4][PSW_ID_SIZE], iso[PSW_ISO_SIZE];
    struct rx_behavior fail = { 0 };
    struct json_object *o;
    struct res r;

    cli_endpoint("acct_cli_rp", "/rp", NULL, NULL, ep, NULL, 0);

    /* one delivered delivery, replayed by id */
    publish_ok(event_json("evt_cli_rp_0", "acct_cli_rp"));
    nth_delivery(ep, 0, d[0]);
    wait_state(d[0], "delivered");
    rx_reset(C.rx);
    r = run("replay", d[0], NULL);
    expect_rc(&r, 0, "replay one");
    expect_in(r.out, d[0], "replay one");
    expect_in(r.out, "  queued  ", "replay one");
    expect_in(r.out, "1 of 1 queued\n", "replay one");
    res_free(&r);
    if (rx_wait(C.rx, "/rp", 1, WAIT_MS) < 0)
        fail_msg("the replayed delivery was not sent");
    harness_nap(300);
    assert_int_equal(rx_count(C.rx, "/rp"), 1);
    struct rx_request *reqs = NULL;
    assert_int_equal(rx_requests(C.rx, "/rp", &reqs), 1);
    assert_string_equal(rx_header(&reqs[0], "X-PostStack-Event-Id"), "evt_cli_rp_0");
    assert_string_equal(rx_header(&reqs[0], "X-PostStack-Delivery-Id"), d[0]);
    assert_string_equal(rx_header(&reqs[0], "X-PostStack-Attempt"), "2");
    rx_requests_free(reqs, 1);
    wait_state(d[0], "delivered");

    /* --json, with an unknown id among them: exit 1 */
    r = run("replay", d[0], "dlv_00000000000000000000000000", "--json", NULL);
    expect_rc(&r, 1, "replay with unknown id");
    o = parse(r.out);
    assert_int_equal(jint(o, "queued"), 1);
    struct json_object *res = member(o, "results");
    assert_int_equal(json_object_array_length(res), 2);
    assert_string_equal(jstr(json_object_array_get_idx(res, 0), "id"), d[0]);
    assert_string_equal(jstr(json_object_array_get_idx(res, 0), "result"), "queued");
    assert_string_equal(jstr(json_object_array_get_idx(res, 1), "result"), "not_found");
    json_object_put(o);
    expect_in(r.err, "dlv_00000000000000000000000000: no such delivery", "unknown id");
    res_free(&r);
    if (rx_wait(C.rx, "/rp", 2, WAIT_MS) < 0)
        fail_msg("the second replay was not sent");
    wait_state(d[0], "delivered");

    /* a date range: three failures, the range covers the last two */
    fail.always_status = 503;
    rx_set(C.rx, "/rp", &fail);
    for (int i = 1; i <= 3; i++) {
        char evt[32];
        snprintf(evt, sizeof(evt), "evt_cli_rp_%d", i);
        publish_ok(event_json(evt, "acct_cli_rp"));
        nth_delivery(ep, (size_t)i, d[i]);
        wait_state(d[i], "failed");
    }
    char key[80];
    snprintf(key, sizeof(key), "delivery:%s", d[2]);
    long long created2 = cluster_hget_ll(&C, key, "created_at", 0);
    assert_true(created2 > 0);
    psw_time_format(created2, iso);
    rx_set(C.rx, "/rp", NULL);
    rx_reset(C.rx);

    /* refused while the endpoint is disabled, unless --enable */
    r = run("endpoint", "disable", ep, NULL);
    expect_rc(&r, 0, "disable");
    res_free(&r);
    r = run("replay", "--endpoint", ep, "--since", iso, "--until", "now", NULL);
    expect_rc(&r, 1, "range on a disabled endpoint");
    expect_in(r.err, "--enable", "the message tells about --enable");
    assert_string_equal(r.out, "");
    res_free(&r);
    r = run("replay", d[1], NULL);
    expect_rc(&r, 1, "id on a disabled endpoint");
    expect_in(r.err, "--enable", "the message tells about --enable");
    res_free(&r);
    harness_nap(200);
    assert_int_equal(rx_count(C.rx, "/rp"), 0);

    r = run("replay", "--since", iso, "--endpoint", ep, "--enable", "--state", "failed", "--json",
            NULL);
    expect_rc(&r, 0, "range --enable");
    o = parse(r.out);
    assert_string_equal(jstr(o, "endpoint_id"), ep);
    assert_string_equal(jstr(o, "since"), iso);
    assert_string_equal(jstr(o, "states"), "failed");
    assert_int_equal(jint(o, "matched"), 2);
    assert_int_equal(jint(o, "queued"), 2);
    json_object_put(o);
    res_free(&r);
    if (rx_wait(C.rx, "/rp", 2, WAIT_MS) < 0)
        fail_msg("the range replay was not sent");
    harness_nap(300);
    assert_int_equal(rx_count(C.rx, "/rp"), 2);
    assert_int_equal(requests_for("/rp", "evt_cli_rp_2"), 1);
    assert_int_equal(requests_for("/rp", "evt_cli_rp_3"), 1);
    assert_int_equal(requests_for("/rp", "evt_cli_rp_1"), 0);
    wait_state(d[2], "delivered");
    wait_state(d[3], "delivered");
    char epkey[80];
    snprintf(epkey, sizeof(epkey), "endpoint:%s", ep);
    char *st = cluster_hget(&C, epkey, "status");
    assert_non_null(st);
    assert_string_equal(st, "enabled");
    free(st);

    /* human range output; nothing left to replay in that range */
    r = run("replay", "--endpoint", ep, "--since", iso, NULL);
    expect_rc(&r, 0, "range again");
    expect_in(r.out, "queued 0 of 0 matching deliveries of ", "range again");
    expect_in(r.out, "states failed,skipped", "range again");
    res_free(&r);
    r = run("replay", "--endpoint", ep, "--since", "1h", "--until", "2h", NULL);
    expect_rc(&r, 2, "bad range");
    res_free(&r);
    r = run("replay", "--endpoint", "ep_00000000000000000000000000", "--since", "1h", NULL);
    expect_rc(&r, 1, "range of an unknown endpoint");
    res_free(&r);
    DONE();
}

/* ---- secret rotation and verify -------------------------------------------------- */

#define S1 "whsec_cli_rotation_secret_one"
#define S2 "whsec_cli_rotation_secret_two"
#define S3 "whsec_cli_rotation_secret_three"

/* The v1= values of a signature header. */
static int count_v1(const char *h)
{
    int n = 0;
    for (const char *p = h; (p = strstr(p, "v1=")); p += 3)
        n++;
    return n;
}

static void test_rotation_and_verify(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], dlv[PSW_ID_SIZE];
    struct rx_request *reqs = NULL;
    struct json_object *o;
    struct res r;
    size_t n;

    cli_endpoint("acct_cli_rot", "/rot", NULL, S1, ep, NULL, 0);

    /* a grace of 1h: the requests carry two v1, each verifying with its secret */
    long long before = psw_now_ms();
    r = run("endpoint", "rotate-secret", ep, "--secret", S2, "--grace", "1h", "--json", NULL);
    long long after = psw_now_ms();
    expect_rc(&r, 0, "rotate --json");
    o = parse(r.out);
    assert_string_equal(jstr(o, "secret"), S2);
    assert_string_equal(jstr(o, "secret_prev"), S1);
    long long until = iso_ms(jstr(o, "secret_prev_until"));
    /* Redis's clock sets it; allow a little skew around ours */
    assert_true(until >= before + 3600000 - 1000 && until <= after + 3600000 + 1000);
    json_object_put(o);
    res_free(&r);

    publish_ok(event_json("evt_cli_rot_1", "acct_cli_rot"));
    if (rx_wait(C.rx, "/rot", 1, WAIT_MS) < 0)
        fail_msg("no request after the rotation");
    n = rx_requests(C.rx, "/rot", &reqs);
    assert_int_equal(n, 1);
    const char *sig = rx_header(&reqs[0], "X-PostStack-Signature");
    assert_non_null(sig);
    assert_int_equal(count_v1(sig), 2);
    int64_t now = psw_now_ms() / 1000;
    assert_int_equal(psw_sign_verify(sig, reqs[0].body, reqs[0].body_len, S2, 300, now), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(sig, reqs[0].body, reqs[0].body_len, S1, 300, now), PSW_VERIFY_OK);
    assert_int_equal(psw_sign_verify(sig, reqs[0].body, reqs[0].body_len, S3, 300, now),
                     PSW_VERIFY_NO_MATCH);

    /* psw verify with the captured request: either secret; a tampered body fails */
    r = run_in(reqs[0].body, "verify", "--secret", S1, "--signature", sig, NULL);
    expect_rc(&r, 0, "verify old secret");
    assert_string_equal(r.out, "valid\n");
    res_free(&r);
    r = run_in(reqs[0].body, "verify", "--signature", sig, "--secret", S2, "--json", NULL);
    expect_rc(&r, 0, "verify new secret --json");
    o = parse(r.out);
    assert_true(json_object_get_boolean(member(o, "valid")));
    assert_string_equal(jstr(o, "result"), "valid");
    json_object_put(o);
    res_free(&r);
    char *tampered = strdup(reqs[0].body);
    assert_non_null(tampered);
    char *at = strstr(tampered, "a@example.org");
    assert_non_null(at);
    at[0] = 'b';
    r = run_in(tampered, "verify", "--secret", S2, "--signature", sig, NULL);
    expect_rc(&r, 1, "verify tampered");
    assert_string_equal(r.out, "no matching signature\n");
    res_free(&r);
    free(tampered);
    r = run_in(reqs[0].body, "verify", "--secret", S3, "--signature", sig, NULL);
    expect_rc(&r, 1, "verify wrong secret");
    assert_string_equal(r.out, "no matching signature\n");
    res_free(&r);
    r = run_in(reqs[0].body, "verify", "--secret", S2, "--signature", "v1=abc", NULL);
    expect_rc(&r, 1, "verify bad header");
    assert_string_equal(r.out, "bad signature header format\n");
    res_free(&r);

    /* an old timestamp: refused with the default tolerance, accepted with a larger one */
    char old[PSW_SIGNATURE_SIZE];
    const char *secrets[] = { S2 };
    assert_true(psw_sign_header(secrets, 1, now - 1000, reqs[0].body, reqs[0].body_len, old,
                                sizeof(old)) > 0);
    r = run_in(reqs[0].body, "verify", "--secret", S2, "--signature", old, NULL);
    expect_rc(&r, 1, "verify old");
    assert_string_equal(r.out, "timestamp too old\n");
    res_free(&r);
    r = run_in(reqs[0].body, "verify", "--secret", S2, "--signature", old, "--tolerance", "2000",
               NULL);
    expect_rc(&r, 0, "verify old with tolerance");
    assert_string_equal(r.out, "valid\n");
    res_free(&r);
    rx_requests_free(reqs, n);

    /* a grace of 1s: after it, only the new secret signs */
    r = run("endpoint", "rotate-secret", ep, "--secret", S3, "--grace", "1s", NULL);
    expect_rc(&r, 0, "rotate 1s");
    expect_in(r.out, "new signing secret for ", "rotate human");
    expect_in(r.out, ": " S3 "\n", "rotate prints the secret");
    expect_in(r.out, "the previous secret stays valid until ", "rotate human");
    res_free(&r);
    harness_nap(1300);
    rx_reset(C.rx);
    publish_ok(event_json("evt_cli_rot_2", "acct_cli_rot"));
    if (rx_wait(C.rx, "/rot", 1, WAIT_MS) < 0)
        fail_msg("no request after the grace");
    n = rx_requests(C.rx, "/rot", &reqs);
    assert_int_equal(n, 1);
    sig = rx_header(&reqs[0], "X-PostStack-Signature");
    assert_int_equal(count_v1(sig), 1);
    r = run_in(reqs[0].body, "verify", "--secret", S3, "--signature", sig, NULL);
    expect_rc(&r, 0, "verify after grace, new secret");
    res_free(&r);
    r = run_in(reqs[0].body, "verify", "--secret", S2, "--signature", sig, NULL);
    expect_rc(&r, 1, "verify after grace, old secret");
    assert_string_equal(r.out, "no matching signature\n");
    res_free(&r);
    rx_requests_free(reqs, n);
    nth_delivery(ep, 1, dlv);
    wait_state(dlv, "delivered");

    /* --show-secret after the grace: no previous secret; a generated secret */
    r = run("endpoint", "rotate-secret", ep, "--grace", "0", "--json", NULL);
    expect_rc(&r, 0, "rotate generated");
    o = parse(r.out);
    const char *gen = jstr(o, "secret");
    assert_int_equal(strncmp(gen, "whsec_", 6), 0);
    assert_int_equal(strlen(gen), 50);
    jnull(o, "secret_prev");
    char *genc = strdup(gen);
    json_object_put(o);
    res_free(&r);
    r = run("endpoint", "show", ep, "--show-secret", "--json", NULL);
    o = parse(r.out);
    assert_string_equal(jstr(o, "secret"), genc);
    jnull(o, "secret_prev");
    json_object_put(o);
    res_free(&r);
    free(genc);
    r = run("endpoint", "rotate-secret", "ep_00000000000000000000000000", NULL);
    expect_rc(&r, 1, "rotate unknown");
    res_free(&r);
    DONE();
}

/* ---- stats, queue, alerts ---------------------------------------------------------- */

static void test_stats_queue_alerts(void **state)
{
    (void)state;
    char ep[PSW_ID_SIZE], gone[PSW_ID_SIZE], dlv[PSW_ID_SIZE], err[1024];
    struct rx_behavior b = { 0 };
    struct json_object *o, *lib = NULL;
    struct res r;

    cli_endpoint("acct_cli_st", "/st", NULL, NULL, ep, NULL, 0);
    publish_ok(event_json("evt_cli_st_1", "acct_cli_st"));
    publish_ok(event_json("evt_cli_st_2", "acct_cli_st"));
    nth_delivery(ep, 1, dlv);
    wait_state(dlv, "delivered");
    nth_delivery(ep, 0, dlv);
    wait_state(dlv, "delivered");

    /* one endpoint: exact counters, and the library's document */
    r = run("stats", "--endpoint", ep, "--json", NULL);
    expect_rc(&r, 0, "stats --endpoint");
    o = parse(r.out);
    assert_int_equal(jint(o, "attempts"), 2);
    assert_int_equal(jint(o, "delivered"), 2);
    assert_int_equal(jint(o, "failed_attempts"), 0);
    assert_int_equal(jint(o, "failed"), 0);
    assert_int_equal(jint(o, "skipped"), 0);
    assert_int_equal(psw_stats_get(&C.ctx, ep, &lib, err, sizeof(err)), PSW_OK);
    assert_true(json_object_equal(o, lib));
    json_object_put(lib);
    json_object_put(o);
    res_free(&r);
    r = run("stats", "--endpoint", ep, NULL);
    expect_rc(&r, 0, "stats human");
    expect_in(r.out, "delivered             2\n", "stats human");
    expect_in(r.out, "failed                0\n", "stats human");
    res_free(&r);
    r = run("stats", "--endpoint", "ep_00000000000000000000000000", NULL);
    expect_rc(&r, 1, "stats unknown endpoint");
    res_free(&r);

    /* the whole service: what Redis holds */
    r = run("stats", "--json", NULL);
    expect_rc(&r, 0, "stats");
    o = parse(r.out);
    static const char *const counters[] = { "events_published", "deliveries_created",
                                            "attempts", "delivered", "failed" };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        assert_int_equal(jint(o, counters[i]), cluster_hget_ll(&C, "stats", counters[i], 0));
    assert_true(jint(o, "events_published") >= 2);
    json_object_put(o);
    res_free(&r);

    /* queue: the live worker and scheduler */
    r = run("queue", "--json", NULL);
    expect_rc(&r, 0, "queue");
    o = parse(r.out);
    jint(o, "ready");
    jint(o, "scheduled");
    jint(o, "failed");
    struct json_object *w = member(o, "workers");
    assert_int_equal(json_object_array_length(w), 1);
    assert_true(jint(json_object_array_get_idx(w, 0), "pid") > 0);
    assert_int_equal(json_object_array_length(member(o, "schedulers")), 1);
    json_object_put(o);
    res_free(&r);
    r = run("queue", NULL);
    expect_rc(&r, 0, "queue human");
    expect_in(r.out, "\nworkers:\nid ", "queue workers table");
    expect_in(r.out, "\nschedulers:\nid ", "queue schedulers table");
    res_free(&r);

    /* alerts: a 410 answer disables an endpoint and raises one */
    b.always_status = 410;
    rx_set(C.rx, "/gone", &b);
    cli_endpoint("acct_cli_gone", "/gone", NULL, NULL, gone, NULL, 0);
    publish_ok(event_json("evt_cli_gone", "acct_cli_gone"));
    char key[80];
    snprintf(key, sizeof(key), "endpoint:%s", gone);
    if (cluster_wait_field(&C, key, "status", "disabled", WAIT_MS) < 0)
        fail_msg("the 410 did not disable the endpoint");
    r = run("alerts", "--since", "10m", "--limit", "50", "--json", NULL);
    expect_rc(&r, 0, "alerts");
    o = parse(r.out);
    int found = 0;
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        struct json_object *a = json_object_array_get_idx(o, i);
        if (strcmp(jstr(a, "endpoint_id"), gone) == 0) {
            found++;
            iso_ms(jstr(a, "at"));
            jstr(a, "type");
            jstr(a, "reason");
        }
    }
    assert_int_equal(found, 1);
    assert_int_equal(psw_alerts_get(&C.ctx, psw_now_ms() - 600000, 50, &lib, err, sizeof(err)),
                     PSW_OK);
    assert_int_equal(json_object_array_length(o), json_object_array_length(lib));
    json_object_put(lib);
    json_object_put(o);
    res_free(&r);
    r = run("alerts", NULL);
    expect_rc(&r, 0, "alerts human");
    expect_in(r.out, gone, "alerts human");
    expect_in(r.out, "endpoint_id", "alerts human header");
    res_free(&r);
    r = run("alerts", "--since", "2099-01-01", NULL);
    expect_rc(&r, 0, "no alerts");
    assert_string_equal(r.out, "(none)\n");
    res_free(&r);
    DONE();
}

static int begin(void **state)
{
    (void)state;
    started++;
    return 0;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, begin)
    const struct CMUnitTest tests[] = {
        T(test_usage),       T(test_endpoint_commands),   T(test_publish),
        T(test_deliveries),  T(test_replay),              T(test_rotation_and_verify),
        T(test_stats_queue_alerts),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
