/*
 * test_endpoint.c — common/endpoint.c and the endpoint_*.lua scripts against
 * a real redis-server (tests/harness): what create writes (every hash field,
 * both sets), each validation error with its message, the per-account
 * limit, get/list, update (and that publishing routes by the new values at
 * once), enable/disable, delete (sets, status, TTLs, what still works
 * afterwards), secret rotation, the JSON form, a custom key prefix, and
 * Redis going away.
 *
 * One server for the group; every test starts from FLUSHALL and the default
 * limits. What the library wrote is read back over a separate hiredis
 * connection, never through the library itself.
 */
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

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/publish.h"
#include "common/timeutil.h"
#include "tests/harness/harness.h"

static struct {
    struct redis_srv srv;
    struct psw_config cfg;
    struct psw_ctx ctx;
    redisContext *rc;
    struct psw_config defaults; /* for resetting limits between tests */
    char *prefix;               /* F.cfg's own prefix string, put back before each test */
} F;

static char err[1024];

/* ---- fixture ------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    char e[512];
    if (redis_srv_start(&F.srv, NULL) < 0)
        return -1;
    if (psw_config_defaults(&F.cfg) < 0 || psw_config_defaults(&F.defaults) < 0)
        return -1;
    free(F.cfg.redis_url);
    F.cfg.redis_url = strdup(F.srv.url);
    if (!F.cfg.redis_url)
        return -1;
    F.prefix = F.cfg.redis_prefix;
    if (psw_ctx_open(&F.ctx, &F.cfg, 0, NULL, e, sizeof(e)) != PSW_OK) {
        fprintf(stderr, "psw_ctx_open: %s\n", e);
        return -1;
    }
    F.rc = redis_srv_connect(&F.srv);
    return F.rc ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    psw_ctx_close(&F.ctx);
    F.cfg.redis_prefix = F.prefix;
    if (F.rc)
        redisFree(F.rc);
    redis_srv_stop(&F.srv);
    psw_config_free(&F.cfg);
    psw_config_free(&F.defaults);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    redisReply *r = redisCommand(F.rc, "FLUSHALL");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    F.cfg.limits_max_endpoints_per_account = F.defaults.limits_max_endpoints_per_account;
    F.cfg.limits_max_url_length = F.defaults.limits_max_url_length;
    F.cfg.retention_days = F.defaults.retention_days;
    F.cfg.signing_rotation_grace_ms = F.defaults.signing_rotation_grace_ms;
    F.cfg.redis_prefix = F.prefix;
    err[0] = '\0';
    return ok ? 0 : -1;
}

/* ---- reading Redis directly --------------------------------------------- */

/* The reply to a command, asserted not NULL and not an error. */
static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(F.rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis error: %s", r->str);
    return r;
}

static long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(F.rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("expected an integer reply, got type %d", r->type);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* "psw:endpoint:" + id + suffix */
static char *key_of(char *out, size_t n, const char *id, const char *suffix)
{
    snprintf(out, n, "psw:endpoint:%s%s", id, suffix);
    return out;
}

/* HGET psw:endpoint:<id> field into out; "(nil)" when absent. */
static const char *field(const char *id, const char *name)
{
    static char out[8][2048];
    static int slot;
    char key[256];
    char *o = out[slot++ % 8];
    redisReply *r = cmd("HGET %s %s", key_of(key, sizeof(key), id, ""), name);
    snprintf(o, 2048, "%s", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
    freeReplyObject(r);
    return o;
}

static long long field_ll(const char *id, const char *name)
{
    const char *s = field(id, name);
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end)
        fail_msg("field %s of %s is \"%s\", not a number", name, id, s);
    return v;
}

static long long redis_now_ms(void)
{
    redisReply *r = cmd("TIME");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                   strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int is_member(const char *set, const char *id)
{
    return (int)cmd_int("SISMEMBER %s %s", set, id);
}

/* A created endpoint for acct with url; the caller frees *ep. */
static void make(const char *acct, const char *url, struct psw_endpoint *ep)
{
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    s.account_id = acct;
    s.url = url;
    int rc = psw_endpoint_create(&F.ctx, &s, ep, err, sizeof(err));
    if (rc != PSW_OK)
        fail_msg("create for %s: %d %s", acct, rc, err);
}

/* ---- create ------------------------------------------------------------- */

static void test_create_reads_back(void **state)
{
    (void)state;
    struct psw_endpoint ep;
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    s.account_id = "acct_1";
    s.url = "https://example.com/hooks?x=1";
    s.domain = "Mail.Example.COM";
    s.events = "email.bounced, email.sent,email.bounced";
    s.secret = "my-secret-0123456789";
    s.description = "Billing hooks \xe2\x80\x93 prod";

    long long t0 = redis_now_ms();
    assert_int_equal(psw_endpoint_create(&F.ctx, &s, &ep, err, sizeof(err)), PSW_OK);
    long long t1 = redis_now_ms();
    assert_true(psw_id_valid("ep_", ep.id));

    /* Every field of the hash, and nothing else. */
    char key[256];
    redisReply *h = cmd("HGETALL %s", key_of(key, sizeof(key), ep.id, ""));
    assert_int_equal(h->type, REDIS_REPLY_ARRAY);
    /* docs/redis.md: the contract's fields + disabled_by, deleted_at + the options signing,
     * signing_key, public_key, headers, rate_limit, batch_max_events, batch_max_wait,
     * ordered, ordered_head */
    assert_int_equal(h->elements, 2 * 26);
    freeReplyObject(h);
    assert_string_equal(field(ep.id, "ordered"), "0");
    assert_string_equal(field(ep.id, "ordered_head"), "");
    assert_string_equal(field(ep.id, "id"), ep.id);
    assert_string_equal(field(ep.id, "account_id"), "acct_1");
    assert_string_equal(field(ep.id, "domain"), "mail.example.com");
    assert_string_equal(field(ep.id, "url"), "https://example.com/hooks?x=1");
    assert_string_equal(field(ep.id, "events"), "email.bounced,email.sent");
    assert_string_equal(field(ep.id, "status"), "enabled");
    assert_string_equal(field(ep.id, "secret"), "my-secret-0123456789");
    assert_string_equal(field(ep.id, "secret_prev"), "");
    assert_string_equal(field(ep.id, "secret_prev_until"), "");
    assert_string_equal(field(ep.id, "consecutive_failures"), "0");
    assert_string_equal(field(ep.id, "disabled_reason"), "");
    assert_string_equal(field(ep.id, "disabled_at"), "");
    assert_string_equal(field(ep.id, "disabled_by"), "");
    assert_string_equal(field(ep.id, "deleted_at"), "");
    assert_string_equal(field(ep.id, "description"), "Billing hooks \xe2\x80\x93 prod");
    long long created = field_ll(ep.id, "created_at");
    assert_in_range(created, t0, t1);
    assert_int_equal(field_ll(ep.id, "updated_at"), created);
    assert_int_equal(cmd_int("PTTL %s", key), -1);

    /* The struct says the same. */
    assert_string_equal(ep.account_id, "acct_1");
    assert_string_equal(ep.domain, "mail.example.com");
    assert_string_equal(ep.url, "https://example.com/hooks?x=1");
    assert_string_equal(ep.events, "email.bounced,email.sent");
    assert_string_equal(ep.status, "enabled");
    assert_string_equal(ep.secret, "my-secret-0123456789");
    assert_string_equal(ep.secret_prev, "");
    assert_int_equal(ep.secret_prev_until, 0);
    assert_int_equal(ep.consecutive_failures, 0);
    assert_string_equal(ep.disabled_reason, "");
    assert_string_equal(ep.disabled_by, "");
    assert_int_equal(ep.disabled_at, 0);
    assert_int_equal(ep.created_at, created);
    assert_int_equal(ep.updated_at, created);
    assert_int_equal(ep.deleted_at, 0);
    assert_string_equal(ep.description, "Billing hooks \xe2\x80\x93 prod");

    /* Both sets. */
    assert_int_equal(is_member("psw:endpoints", ep.id), 1);
    assert_int_equal(is_member("psw:account:acct_1:endpoints", ep.id), 1);
    assert_int_equal(cmd_int("SCARD psw:endpoints"), 1);
    assert_int_equal(cmd_int("SCARD psw:account:acct_1:endpoints"), 1);
    psw_endpoint_free(&ep);
}

static void test_create_defaults(void **state)
{
    (void)state;
    struct psw_endpoint a, b;
    make("acct_1", "http://example.com:9/a", &a);
    make("acct_1", "http://example.com:9/b", &b);
    assert_string_equal(field(a.id, "domain"), "");
    assert_string_equal(field(a.id, "events"), "*");
    assert_string_equal(field(a.id, "description"), "");
    /* A generated secret: whsec_ + base64 of 32 bytes, different each time. */
    const char *sec = field(a.id, "secret");
    assert_int_equal(strlen(sec), 50);
    assert_memory_equal(sec, "whsec_", 6);
    assert_string_equal(a.secret, sec);
    assert_string_not_equal(a.secret, b.secret);
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(cmd_int("SCARD psw:account:acct_1:endpoints"), 2);
    psw_endpoint_free(&a);
    psw_endpoint_free(&b);
    /* Freeing twice (zeroed struct) is safe. */
    psw_endpoint_free(&a);
}

struct bad_create {
    const char *field;
    const char *value; /* NULL = not given */
    const char *msg;
};

static void test_create_invalid(void **state)
{
    (void)state;
    static char long_acct[140], long_url[2100], long_domain[260], long_desc[1100];
    memset(long_acct, 'a', 129);
    long_acct[129] = '\0';
    snprintf(long_url, sizeof(long_url), "https://example.com/");
    memset(long_url + 20, 'p', 2029);
    long_url[2049] = '\0';
    for (int i = 0; i < 254; i++)
        long_domain[i] = i % 2 ? '.' : 'a';
    long_domain[253] = 'b';
    long_domain[254] = '\0';
    memset(long_desc, 'd', 1025);
    long_desc[1025] = '\0';

#define DOM_MSG(d)                                                                          \
    "domain: \"" d "\" is not a valid domain name (dot-separated labels of 1-63 letters, "    \
    "digits and hyphens; \"\" for every domain of the account)"

    const struct bad_create cases[] = {
        { "account_id", NULL, "account_id: required" },
        { "account_id", "", "account_id: required" },
        { "account_id", "acct 1", "account_id: must be 1-128 characters of A-Z a-z 0-9 _ - . :" },
        { "account_id", long_acct,
          "account_id: must be 1-128 characters of A-Z a-z 0-9 _ - . :" },
        { "url", NULL, "url: required (http:// or https:// followed by a host)" },
        { "url", "ftp://example.com/", "url: scheme \"ftp\" is not allowed; use http or https" },
        { "url", "https://u:p@example.com/",
          "url: credentials are not allowed in the URL; receivers authenticate requests by the "
          "X-PostStack-Signature header" },
        { "url", long_url, "url: too long (2049 characters, at most 2048: limits.max_url_length)" },
        { "domain", "bad_domain.com", DOM_MSG("bad_domain.com") },
        { "domain", "Example.COM.", DOM_MSG("Example.COM.") },
        { "domain", long_domain, "domain: too long (254 characters, at most 253)" },
        { "events", "", "events: must not be empty; use * for every event or a list of: "
                        "email.queued, email.sent, email.delivered, email.bounced, "
                        "email.opened, email.clicked, email.complained, email.unsubscribed" },
        { "events", "email.sent,email.nope",
          "events: unknown event type \"email.nope\"; valid: *, email.queued, email.sent, "
          "email.delivered, email.bounced, email.opened, email.clicked, email.complained, "
          "email.unsubscribed" },
        { "secret", "short", "secret is too short: 5 characters, at least 16 required" },
        { "secret", "has space 0123456789",
          "secret has a character that is not allowed at position 4 (only printable ASCII "
          "without spaces or commas)" },
        { "description", long_desc, "description: too long (1025 bytes, at most 1024)" },
        { "description", "a\nb", "description: control character at byte 2 is not allowed" },
        { "description", "ok \xff", "description: not valid UTF-8 at byte 4" },
        { "description", "\xc0\xaf", "description: not valid UTF-8 at byte 1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_create *c = &cases[i];
        struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
        struct psw_endpoint ep;
        s.account_id = "acct_1";
        s.url = "https://example.com/hook";
        if (strcmp(c->field, "account_id") == 0)
            s.account_id = c->value;
        else if (strcmp(c->field, "url") == 0)
            s.url = c->value;
        else if (strcmp(c->field, "domain") == 0)
            s.domain = c->value;
        else if (strcmp(c->field, "events") == 0)
            s.events = c->value;
        else if (strcmp(c->field, "secret") == 0)
            s.secret = c->value;
        else
            s.description = c->value;
        err[0] = '\0';
        int rc = psw_endpoint_create(&F.ctx, &s, &ep, err, sizeof(err));
        if (rc != PSW_EINVAL)
            fail_msg("case %zu (%s): rc %d, expected PSW_EINVAL; err \"%s\"", i, c->field, rc, err);
        if (strcmp(err, c->msg) != 0)
            fail_msg("case %zu (%s):\n  got      \"%s\"\n  expected \"%s\"", i, c->field, err,
                     c->msg);
        assert_null(ep.account_id);
        psw_endpoint_free(&ep);
    }
    assert_int_equal(psw_endpoint_create(&F.ctx, NULL, NULL, err, sizeof(err)), PSW_EINVAL);
    /* Nothing at all was written. */
    assert_int_equal(cmd_int("DBSIZE"), 0);
}

static void test_account_limit(void **state)
{
    (void)state;
    struct psw_endpoint a, b, c, d;
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    F.cfg.limits_max_endpoints_per_account = 2;
    make("acct_1", "https://example.com/1", &a);
    make("acct_1", "https://example.com/2", &b);
    s.account_id = "acct_1";
    s.url = "https://example.com/3";
    assert_int_equal(psw_endpoint_create(&F.ctx, &s, &c, err, sizeof(err)), PSW_ECONFLICT);
    assert_string_equal(err,
                        "account acct_1 already has 2 endpoints (limits.max_endpoints_per_account)");
    assert_null(c.account_id);
    assert_int_equal(cmd_int("SCARD psw:account:acct_1:endpoints"), 2);
    assert_int_equal(cmd_int("SCARD psw:endpoints"), 2);
    /* Another account is not affected. */
    make("acct_2", "https://example.com/4", &d);
    psw_endpoint_free(&d);
    /* A deleted endpoint frees its place. */
    assert_int_equal(psw_endpoint_delete(&F.ctx, a.id, err, sizeof(err)), PSW_OK);
    assert_int_equal(psw_endpoint_create(&F.ctx, &s, &c, err, sizeof(err)), PSW_OK);
    assert_int_equal(cmd_int("SCARD psw:account:acct_1:endpoints"), 2);
    psw_endpoint_free(&a);
    psw_endpoint_free(&b);
    psw_endpoint_free(&c);
}

/* ---- get / list --------------------------------------------------------- */

static void assert_same(const struct psw_endpoint *x, const struct psw_endpoint *y)
{
    assert_string_equal(x->id, y->id);
    assert_string_equal(x->account_id, y->account_id);
    assert_string_equal(x->domain, y->domain);
    assert_string_equal(x->url, y->url);
    assert_string_equal(x->events, y->events);
    assert_string_equal(x->status, y->status);
    assert_string_equal(x->secret, y->secret);
    assert_string_equal(x->secret_prev, y->secret_prev);
    assert_int_equal(x->secret_prev_until, y->secret_prev_until);
    assert_int_equal(x->consecutive_failures, y->consecutive_failures);
    assert_string_equal(x->disabled_reason, y->disabled_reason);
    assert_string_equal(x->disabled_by, y->disabled_by);
    assert_int_equal(x->disabled_at, y->disabled_at);
    assert_int_equal(x->created_at, y->created_at);
    assert_int_equal(x->updated_at, y->updated_at);
    assert_int_equal(x->deleted_at, y->deleted_at);
    assert_string_equal(x->description, y->description);
}

static void test_get(void **state)
{
    (void)state;
    struct psw_endpoint a, g;
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    s.account_id = "acct_9";
    s.url = "https://example.com/get";
    s.domain = "example.net";
    s.events = "email.clicked";
    s.description = "for get";
    assert_int_equal(psw_endpoint_create(&F.ctx, &s, &a, err, sizeof(err)), PSW_OK);
    assert_int_equal(psw_endpoint_get(&F.ctx, a.id, &g, err, sizeof(err)), PSW_OK);
    assert_same(&a, &g);
    psw_endpoint_free(&g);

    /* A well-formed id that does not exist. */
    char missing[PSW_ID_SIZE], expect[128];
    assert_int_equal(psw_id_new("ep_", missing), 0);
    assert_int_equal(psw_endpoint_get(&F.ctx, missing, &g, err, sizeof(err)), PSW_ENOTFOUND);
    snprintf(expect, sizeof(expect), "no endpoint %s", missing);
    assert_string_equal(err, expect);
    assert_null(g.account_id);

    /* Malformed ids never reach Redis. */
    assert_int_equal(psw_endpoint_get(&F.ctx, "nope", &g, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "endpoint id \"nope\" is not valid (ep_ followed by 26 characters)");
    assert_int_equal(psw_endpoint_get(&F.ctx, "dlv_01JDQ8Z4M3X7K2R5T9VB6C1N0P", &g, err,
                                      sizeof(err)),
                     PSW_EINVAL);
    assert_int_equal(psw_endpoint_get(&F.ctx, "ep_x\n", &g, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "endpoint id \"ep_x?\" is not valid (ep_ followed by 26 characters)");
    assert_int_equal(psw_endpoint_get(&F.ctx, "", &g, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "endpoint id: required (ep_ followed by 26 characters)");
    assert_int_equal(psw_endpoint_get(&F.ctx, NULL, &g, err, sizeof(err)), PSW_EINVAL);
    psw_endpoint_free(&a);
}

static void test_list(void **state)
{
    (void)state;
    struct psw_endpoint e[4], *l = NULL;
    size_t n = 99;
    char key[256];
    make("acct_1", "https://example.com/0", &e[0]);
    make("acct_1", "https://example.com/1", &e[1]);
    make("acct_1", "https://example.com/2", &e[2]);
    make("acct_2", "https://example.com/3", &e[3]);

    assert_int_equal(psw_endpoint_list(&F.ctx, "acct_1", &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(l[i].account_id, "acct_1");
        if (i > 0)
            assert_true(l[i - 1].created_at < l[i].created_at ||
                        (l[i - 1].created_at == l[i].created_at &&
                         strcmp(l[i - 1].id, l[i].id) < 0));
    }
    psw_endpoint_list_free(l, n);

    /* Order is created_at first, then id: make e[0] the newest and e[1], e[2] tie. */
    cmd_int("HSET %s created_at 3000", key_of(key, sizeof(key), e[0].id, ""));
    cmd_int("HSET %s created_at 1000", key_of(key, sizeof(key), e[1].id, ""));
    cmd_int("HSET %s created_at 1000", key_of(key, sizeof(key), e[2].id, ""));
    const char *first = strcmp(e[1].id, e[2].id) < 0 ? e[1].id : e[2].id;
    const char *second = first == e[1].id ? e[2].id : e[1].id;
    assert_int_equal(psw_endpoint_list(&F.ctx, "acct_1", &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].id, first);
    assert_string_equal(l[1].id, second);
    assert_string_equal(l[2].id, e[0].id);
    assert_int_equal(l[2].created_at, 3000);
    psw_endpoint_list_free(l, n);

    /* All accounts: e[3] was created last, after the 3000/1000 rewrites. */
    assert_int_equal(psw_endpoint_list(&F.ctx, NULL, &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 4);
    assert_string_equal(l[0].id, first);
    assert_string_equal(l[2].id, e[0].id);
    assert_string_equal(l[3].id, e[3].id);
    assert_string_equal(l[3].account_id, "acct_2");
    psw_endpoint_list_free(l, n);

    /* Empty account; bad account; deleted endpoints are not listed. */
    assert_int_equal(psw_endpoint_list(&F.ctx, "acct_3", &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 0);
    assert_null(l);
    assert_int_equal(psw_endpoint_list(&F.ctx, "bad acct", &l, &n, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "account_id: must be 1-128 characters of A-Z a-z 0-9 _ - . :");
    assert_int_equal(psw_endpoint_delete(&F.ctx, e[0].id, err, sizeof(err)), PSW_OK);
    assert_int_equal(psw_endpoint_list(&F.ctx, "acct_1", &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 2);
    assert_string_not_equal(l[0].id, e[0].id);
    assert_string_not_equal(l[1].id, e[0].id);
    psw_endpoint_list_free(l, n);
    assert_int_equal(psw_endpoint_list(&F.ctx, NULL, &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 3);
    psw_endpoint_list_free(l, n);
    for (int i = 0; i < 4; i++)
        psw_endpoint_free(&e[i]);
}

/* ---- update ------------------------------------------------------------- */

static void test_update(void **state)
{
    (void)state;
    struct psw_endpoint ep, up;
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    char expect[512];
    s.account_id = "acct_1";
    s.url = "https://a.example.com/hook";
    s.description = "first";
    assert_int_equal(psw_endpoint_create(&F.ctx, &s, &ep, err, sizeof(err)), PSW_OK);
    sleep_ms(5);

    struct psw_endpoint_spec u = PSW_ENDPOINT_SPEC_INIT;
    u.url = "https://b.example.com/hook2";
    u.domain = "Example.ORG";
    u.events = "email.opened , email.clicked";
    u.description = "second";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u, &up, err, sizeof(err)), PSW_OK);
    assert_string_equal(up.url, "https://b.example.com/hook2");
    assert_string_equal(up.domain, "example.org");
    assert_string_equal(up.events, "email.opened,email.clicked");
    assert_string_equal(up.description, "second");
    assert_string_equal(up.secret, ep.secret);
    assert_string_equal(up.status, "enabled");
    assert_int_equal(up.created_at, ep.created_at);
    assert_true(up.updated_at > ep.updated_at);
    assert_string_equal(field(ep.id, "url"), "https://b.example.com/hook2");
    assert_string_equal(field(ep.id, "domain"), "example.org");
    assert_string_equal(field(ep.id, "events"), "email.opened,email.clicked");
    assert_string_equal(field(ep.id, "description"), "second");
    assert_int_equal(field_ll(ep.id, "updated_at"), up.updated_at);
    assert_int_equal(field_ll(ep.id, "created_at"), ep.created_at);
    long long updated = up.updated_at;
    psw_endpoint_free(&up);

    /* Only what is given changes; "" is a value (account level, no description). */
    struct psw_endpoint_spec u2 = PSW_ENDPOINT_SPEC_INIT;
    u2.domain = "";
    u2.description = "";
    sleep_ms(2);
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u2, NULL, err, sizeof(err)), PSW_OK);
    assert_string_equal(field(ep.id, "domain"), "");
    assert_string_equal(field(ep.id, "description"), "");
    assert_string_equal(field(ep.id, "url"), "https://b.example.com/hook2");
    assert_string_equal(field(ep.id, "events"), "email.opened,email.clicked");
    assert_true(field_ll(ep.id, "updated_at") > updated);

    /* Naming the endpoint's own account is fine; another one is refused. */
    struct psw_endpoint_spec u3 = PSW_ENDPOINT_SPEC_INIT;
    u3.account_id = "acct_1";
    u3.events = "*";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u3, NULL, err, sizeof(err)), PSW_OK);
    assert_string_equal(field(ep.id, "events"), "*");
    u3.account_id = "acct_2";
    u3.events = "email.sent";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u3, &up, err, sizeof(err)), PSW_EINVAL);
    snprintf(expect, sizeof(expect),
             "account_id: endpoint %s belongs to account acct_1; an endpoint cannot move to "
             "another account (create a new one)",
             ep.id);
    assert_string_equal(err, expect);
    assert_null(up.account_id);
    assert_string_equal(field(ep.id, "account_id"), "acct_1");
    assert_string_equal(field(ep.id, "events"), "*");
    assert_int_equal(is_member("psw:account:acct_2:endpoints", ep.id), 0);

    /* Secrets change only through rotation; an empty update is an error. */
    struct psw_endpoint_spec u4 = PSW_ENDPOINT_SPEC_INIT;
    u4.secret = "another-secret-0123456789";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u4, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "secret: update does not change secrets; use rotate-secret, which "
                             "keeps the old secret valid for signing.rotation_grace");
    assert_string_equal(field(ep.id, "secret"), ep.secret);
    struct psw_endpoint_spec none = PSW_ENDPOINT_SPEC_INIT;
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &none, NULL, err, sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "nothing to update: give url, domain, events, description, "
                             "signing, rate_limit, headers, batch or ordered");

    /* A bad value changes nothing, not even the good values next to it. */
    struct psw_endpoint_spec u5 = PSW_ENDPOINT_SPEC_INIT;
    u5.description = "would be fine";
    u5.url = "http://";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u5, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(err, "url: a host is required after http://");
    assert_string_equal(field(ep.id, "description"), "");
    u5.url = NULL;
    u5.events = "email.everything";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u5, NULL, err, sizeof(err)), PSW_EINVAL);
    assert_string_equal(field(ep.id, "description"), "");

    /* Unknown endpoint. */
    char missing[PSW_ID_SIZE];
    assert_int_equal(psw_id_new("ep_", missing), 0);
    u5.events = NULL;
    assert_int_equal(psw_endpoint_update(&F.ctx, missing, &u5, NULL, err, sizeof(err)),
                     PSW_ENOTFOUND);
    snprintf(expect, sizeof(expect), "no endpoint %s", missing);
    assert_string_equal(err, expect);
    assert_int_equal(cmd_int("EXISTS psw:endpoint:%s", missing), 0);
    psw_endpoint_free(&ep);
}

/* Publishes one event; returns the number of deliveries it created. */
static int publish(const char *type, const char *domain)
{
    char json[512];
    struct psw_publish_result res;
    snprintf(json, sizeof(json),
             "{\"type\":\"%s\",\"account_id\":\"acct_r\",\"domain\":\"%s\","
             "\"data\":{\"message_id\":\"<m@x>\",\"to\":\"a@example.org\"%s}}",
             type, domain,
             strcmp(type, "email.bounced") == 0
                 ? ",\"bounce\":{\"type\":\"hard\",\"code\":\"5.1.1\",\"reason\":\"r\"}"
                 : "");
    int rc = psw_publish(&F.ctx, json, strlen(json), &res);
    if (rc != PSW_OK)
        fail_msg("publish %s %s: %d %s", type, domain, rc, res.err);
    return res.deliveries;
}

static void test_routing_follows_update(void **state)
{
    (void)state;
    struct psw_endpoint ep;
    make("acct_r", "https://example.com/r", &ep);
    assert_int_equal(publish("email.sent", "a.example.com"), 1);

    struct psw_endpoint_spec u = PSW_ENDPOINT_SPEC_INIT;
    u.domain = "b.example.com";
    u.events = "email.bounced";
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u, NULL, err, sizeof(err)), PSW_OK);
    assert_int_equal(publish("email.sent", "b.example.com"), 0);
    assert_int_equal(publish("email.bounced", "a.example.com"), 0);
    assert_int_equal(publish("email.bounced", "B.example.com"), 1);

    /* Disabled: still routed, recorded skipped; deleted: not routed at all. */
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, NULL, "cli", NULL, err, sizeof(err)),
                     PSW_OK);
    assert_int_equal(publish("email.bounced", "b.example.com"), 1);
    assert_int_equal(psw_endpoint_delete(&F.ctx, ep.id, err, sizeof(err)), PSW_OK);
    assert_int_equal(publish("email.bounced", "b.example.com"), 0);
    psw_endpoint_free(&ep);
}

/* ---- enable / disable --------------------------------------------------- */

static void seed_waiting(const char *id)
{
    char key[256];
    cmd_int("RPUSH %s dlv_w1 dlv_w2", key_of(key, sizeof(key), id, ":waiting"));
    cmd_int("SADD psw:queue:waiting %s", id);
}

static void assert_waiting_flushed(const char *id)
{
    char key[256];
    assert_int_equal(cmd_int("EXISTS %s", key_of(key, sizeof(key), id, ":waiting")),
                     0);
    assert_int_equal(is_member("psw:queue:waiting", id), 0);
    assert_int_equal(cmd_int("LLEN psw:queue:ready"), 2);
    assert_true(cmd_int("LPOS psw:queue:ready dlv_w1") >= 0);
    assert_true(cmd_int("LPOS psw:queue:ready dlv_w2") >= 0);
}

static void test_enable_disable(void **state)
{
    (void)state;
    struct psw_endpoint ep, d;
    char key[256], expect[256];
    make("acct_1", "https://example.com/d", &ep);
    seed_waiting(ep.id);

    long long t0 = redis_now_ms();
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, "maintenance window", "cli", &d, err,
                                          sizeof(err)),
                     PSW_OK);
    assert_string_equal(d.status, "disabled");
    assert_string_equal(d.disabled_reason, "maintenance window");
    assert_string_equal(d.disabled_by, "cli");
    assert_in_range(d.disabled_at, t0, redis_now_ms());
    assert_int_equal(d.updated_at, d.disabled_at);
    assert_string_equal(field(ep.id, "status"), "disabled");
    assert_string_equal(field(ep.id, "disabled_reason"), "maintenance window");
    assert_string_equal(field(ep.id, "disabled_by"), "cli");
    assert_int_equal(field_ll(ep.id, "disabled_at"), d.disabled_at);
    assert_waiting_flushed(ep.id);
    /* An operator's action raises no alert and is not counted. */
    assert_int_equal(cmd_int("EXISTS psw:alerts"), 0);
    assert_int_equal(cmd_int("HEXISTS psw:stats endpoints_disabled"), 0);
    long long at = d.disabled_at;
    psw_endpoint_free(&d);

    /* Disabling again keeps the original reason, author and time. */
    sleep_ms(3);
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, "other", "api", &d, err, sizeof(err)),
                     PSW_OK);
    assert_string_equal(d.disabled_reason, "maintenance window");
    assert_string_equal(d.disabled_by, "cli");
    assert_int_equal(d.disabled_at, at);
    psw_endpoint_free(&d);

    /* Enable resets the failure count and clears the disabled_* fields. */
    cmd_int("HSET %s consecutive_failures 7",
            key_of(key, sizeof(key), ep.id, ""));
    assert_int_equal(psw_endpoint_enable(&F.ctx, ep.id, &d, err, sizeof(err)), PSW_OK);
    assert_string_equal(d.status, "enabled");
    assert_int_equal(d.consecutive_failures, 0);
    assert_string_equal(d.disabled_reason, "");
    assert_int_equal(d.disabled_at, 0);
    assert_string_equal(field(ep.id, "status"), "enabled");
    assert_string_equal(field(ep.id, "consecutive_failures"), "0");
    assert_string_equal(field(ep.id, "disabled_reason"), "");
    assert_string_equal(field(ep.id, "disabled_at"), "");
    assert_string_equal(field(ep.id, "disabled_by"), "");
    assert_true(d.updated_at >= at);
    psw_endpoint_free(&d);

    /* Defaults for reason and author. */
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, NULL, NULL, NULL, err, sizeof(err)),
                     PSW_OK);
    assert_string_equal(field(ep.id, "disabled_reason"), "disabled by operator");
    assert_string_equal(field(ep.id, "disabled_by"), "operator");
    assert_int_equal(psw_endpoint_enable(&F.ctx, ep.id, NULL, err, sizeof(err)), PSW_OK);

    /* Bad input and unknown endpoints. */
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, "why", "a b", &d, err, sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "disabled_by: must be 1-64 characters of A-Z a-z 0-9 _ - . :");
    assert_null(d.status);
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, "line\nbreak", "cli", NULL, err,
                                          sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "reason: control character at byte 5 is not allowed");
    assert_string_equal(field(ep.id, "status"), "enabled");
    char missing[PSW_ID_SIZE];
    assert_int_equal(psw_id_new("ep_", missing), 0);
    snprintf(expect, sizeof(expect), "no endpoint %s", missing);
    assert_int_equal(psw_endpoint_enable(&F.ctx, missing, NULL, err, sizeof(err)), PSW_ENOTFOUND);
    assert_string_equal(err, expect);
    assert_int_equal(psw_endpoint_disable(&F.ctx, missing, NULL, NULL, NULL, err, sizeof(err)),
                     PSW_ENOTFOUND);
    assert_string_equal(err, expect);
    assert_int_equal(psw_endpoint_enable(&F.ctx, "ep_bad", NULL, err, sizeof(err)), PSW_EINVAL);
    assert_int_equal(cmd_int("EXISTS psw:endpoint:%s", missing), 0);
    psw_endpoint_free(&ep);
}

/* ---- delete ------------------------------------------------------------- */

static void test_delete(void **state)
{
    (void)state;
    struct psw_endpoint ep, g, keep;
    char key[256], expect[256];
    F.cfg.retention_days = 2;
    const long long retention = 2LL * 86400000LL;
    make("acct_1", "https://example.com/del", &ep);
    make("acct_1", "https://example.com/keep", &keep);
    cmd_int("ZADD %s 1 dlv_x", key_of(key, sizeof(key), ep.id, ":deliveries"));
    seed_waiting(ep.id);

    long long t0 = redis_now_ms();
    assert_int_equal(psw_endpoint_delete(&F.ctx, ep.id, err, sizeof(err)), PSW_OK);
    assert_int_equal(is_member("psw:endpoints", ep.id), 0);
    assert_int_equal(is_member("psw:account:acct_1:endpoints", ep.id), 0);
    assert_int_equal(is_member("psw:endpoints", keep.id), 1);
    assert_string_equal(field(ep.id, "status"), "deleted");
    long long deleted_at = field_ll(ep.id, "deleted_at");
    assert_in_range(deleted_at, t0, redis_now_ms());
    assert_int_equal(field_ll(ep.id, "updated_at"), deleted_at);
    assert_string_equal(field(ep.id, "secret"), "");
    assert_string_equal(field(ep.id, "secret_prev"), "");
    assert_string_equal(field(ep.id, "url"), "https://example.com/del");
    assert_waiting_flushed(ep.id);

    /* History stays until retention, then goes. */
    static const char *const keys[] = { "", ":deliveries", ":stats" };
    for (size_t i = 0; i < 3; i++) {
        long long ttl = cmd_int("PTTL %s", key_of(key, sizeof(key), ep.id, keys[i]));
        if (ttl <= retention - 60000 || ttl > retention)
            fail_msg("%s: PTTL %lld, expected just under %lld", key, ttl, retention);
    }
    assert_int_equal(cmd_int("PTTL %s", key_of(key, sizeof(key), keep.id, "")), -1);

    /* Still readable, for history. */
    assert_int_equal(psw_endpoint_get(&F.ctx, ep.id, &g, err, sizeof(err)), PSW_OK);
    assert_string_equal(g.status, "deleted");
    assert_int_equal(g.deleted_at, deleted_at);
    psw_endpoint_free(&g);

    /* Everything else now says it is gone. */
    snprintf(expect, sizeof(expect), "endpoint %s was deleted", ep.id);
    assert_int_equal(psw_endpoint_delete(&F.ctx, ep.id, err, sizeof(err)), PSW_ENOTFOUND);
    assert_string_equal(err, expect);
    struct psw_endpoint_spec u = PSW_ENDPOINT_SPEC_INIT;
    u.description = "too late";
    err[0] = '\0';
    assert_int_equal(psw_endpoint_update(&F.ctx, ep.id, &u, NULL, err, sizeof(err)), PSW_ENOTFOUND);
    assert_string_equal(err, expect);
    assert_string_equal(field(ep.id, "description"), "");
    assert_int_equal(psw_endpoint_enable(&F.ctx, ep.id, NULL, err, sizeof(err)), PSW_ENOTFOUND);
    assert_int_equal(psw_endpoint_disable(&F.ctx, ep.id, NULL, NULL, NULL, err, sizeof(err)),
                     PSW_ENOTFOUND);
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, NULL, -1, NULL, err, sizeof(err)),
                     PSW_ENOTFOUND);
    assert_string_equal(err, expect);
    assert_string_equal(field(ep.id, "status"), "deleted");
    assert_string_equal(field(ep.id, "secret"), "");

    /* A never-existing endpoint. */
    char missing[PSW_ID_SIZE];
    assert_int_equal(psw_id_new("ep_", missing), 0);
    snprintf(expect, sizeof(expect), "no endpoint %s", missing);
    assert_int_equal(psw_endpoint_delete(&F.ctx, missing, err, sizeof(err)), PSW_ENOTFOUND);
    assert_string_equal(err, expect);
    assert_int_equal(cmd_int("EXISTS psw:endpoint:%s", missing), 0);
    assert_int_equal(psw_endpoint_delete(&F.ctx, "ep_", err, sizeof(err)), PSW_EINVAL);
    psw_endpoint_free(&ep);
    psw_endpoint_free(&keep);
}

/* ---- rotate ------------------------------------------------------------- */

static void test_rotate(void **state)
{
    (void)state;
    struct psw_endpoint ep, r;
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    const char *s1 = "first-secret-0123456789", *s2 = "second-secret-0123456789",
               *s3 = "third-secret-0123456789";
    char missing[PSW_ID_SIZE], expect[256];
    F.cfg.signing_rotation_grace_ms = 7200000;
    s.account_id = "acct_1";
    s.url = "https://example.com/rot";
    s.secret = s1;
    assert_int_equal(psw_endpoint_create(&F.ctx, &s, &ep, err, sizeof(err)), PSW_OK);

    /* A given secret; the old one stays valid for the grace given. */
    long long t0 = redis_now_ms();
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, s2, 3600000, &r, err, sizeof(err)),
                     PSW_OK);
    long long t1 = redis_now_ms();
    assert_string_equal(r.secret, s2);
    assert_string_equal(r.secret_prev, s1);
    assert_in_range(r.secret_prev_until, t0 + 3600000, t1 + 3600000);
    assert_string_equal(field(ep.id, "secret"), s2);
    assert_string_equal(field(ep.id, "secret_prev"), s1);
    assert_int_equal(field_ll(ep.id, "secret_prev_until"), r.secret_prev_until);
    assert_in_range(field_ll(ep.id, "updated_at"), t0, t1);
    psw_endpoint_free(&r);

    /* Generated, with the configured grace; the oldest secret is dropped. */
    t0 = redis_now_ms();
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, NULL, -1, &r, err, sizeof(err)),
                     PSW_OK);
    t1 = redis_now_ms();
    assert_int_equal(strlen(r.secret), 50);
    assert_memory_equal(r.secret, "whsec_", 6);
    assert_string_equal(r.secret_prev, s2);
    assert_in_range(r.secret_prev_until, t0 + 7200000, t1 + 7200000);
    assert_string_equal(field(ep.id, "secret"), r.secret);
    assert_string_equal(field(ep.id, "secret_prev"), s2);
    psw_endpoint_free(&r);

    /* Grace 0: no previous secret is kept. */
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, s3, 0, &r, err, sizeof(err)),
                     PSW_OK);
    assert_string_equal(r.secret, s3);
    assert_string_equal(r.secret_prev, "");
    assert_int_equal(r.secret_prev_until, 0);
    assert_string_equal(field(ep.id, "secret_prev"), "");
    assert_string_equal(field(ep.id, "secret_prev_until"), "");
    psw_endpoint_free(&r);

    /* Refusals change nothing. */
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, s3, 1000, &r, err, sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "secret: the new secret is the endpoint's current secret");
    assert_null(r.secret);
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, "short", 1000, NULL, err,
                                                sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "secret is too short: 5 characters, at least 16 required");
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, ep.id, NULL, 366LL * 86400000LL, NULL, err,
                                                sizeof(err)),
                     PSW_EINVAL);
    assert_string_equal(err, "grace: at most 365d");
    assert_string_equal(field(ep.id, "secret"), s3);
    assert_string_equal(field(ep.id, "secret_prev"), "");

    assert_int_equal(psw_id_new("ep_", missing), 0);
    assert_int_equal(psw_endpoint_rotate_secret(&F.ctx, missing, NULL, -1, NULL, err, sizeof(err)),
                     PSW_ENOTFOUND);
    snprintf(expect, sizeof(expect), "no endpoint %s", missing);
    assert_string_equal(err, expect);
    assert_int_equal(cmd_int("EXISTS psw:endpoint:%s", missing), 0);
    psw_endpoint_free(&ep);
}

/* ---- JSON --------------------------------------------------------------- */

static char *json_text(const struct psw_endpoint *ep, int show_secret)
{
    struct json_object *o = psw_endpoint_to_json(ep, show_secret);
    assert_non_null(o);
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    assert_non_null(s);
    return s;
}

static void test_to_json(void **state)
{
    (void)state;
    /* 1795791845123 = 2026-11-27T15:04:05.123Z */
    char account[] = "acct_1", domain[] = "", url[] = "https://example.com/h",
         events[] = "email.sent,email.bounced", status[] = "disabled", secret[] = "whsec_new",
         prev[] = "whsec_old", reason[] = "20 consecutive failed attempts", by[] = "worker",
         desc[] = "d \"q\"";
    struct psw_endpoint ep = {
        .account_id = account, .domain = domain, .url = url, .events = events,
        .status = status, .secret = secret, .secret_prev = prev,
        .secret_prev_until = 1795791845123LL, .consecutive_failures = 20,
        .disabled_reason = reason, .disabled_by = by, .disabled_at = 1795791845123LL,
        .created_at = 1795791800000LL, .updated_at = 1795791845123LL, .deleted_at = 0,
        .description = desc,
    };
    snprintf(ep.id, sizeof(ep.id), "ep_01JDQ8Z4M3X7K2R5T9VB6C1N0P");

    static const char *const common =
        "{\"id\":\"ep_01JDQ8Z4M3X7K2R5T9VB6C1N0P\",\"account_id\":\"acct_1\",\"domain\":\"\","
        "\"url\":\"https://example.com/h\",\"events\":[\"email.sent\",\"email.bounced\"],"
        "\"status\":\"disabled\",\"consecutive_failures\":20,"
        "\"disabled_reason\":\"20 consecutive failed attempts\",\"disabled_by\":\"worker\","
        "\"disabled_at\":\"2026-11-27T15:04:05.123Z\",\"created_at\":\"2026-11-27T15:03:20.000Z\","
        "\"updated_at\":\"2026-11-27T15:04:05.123Z\",\"deleted_at\":null,"
        "\"description\":\"d \\\"q\\\"\",\"signing\":\"poststack\",\"public_key\":null,"
        "\"rate_limit\":0,\"ordered\":false,\"headers\":[],\"batch\":null";
    char expect[2048];
    char *s = json_text(&ep, 0);
    snprintf(expect, sizeof(expect), "%s}", common);
    assert_string_equal(s, expect);
    assert_null(strstr(s, "whsec_"));
    free(s);

    s = json_text(&ep, 1);
    snprintf(expect, sizeof(expect),
             "%s,\"secret\":\"whsec_new\",\"secret_prev\":\"whsec_old\","
             "\"secret_prev_until\":\"2026-11-27T15:04:05.123Z\"}",
             common);
    assert_string_equal(s, expect);
    free(s);

    /* Unset values are null; "*" is an array of one. */
    char star[] = "*", enabled[] = "enabled", empty[] = "";
    ep.events = star;
    ep.status = enabled;
    ep.disabled_reason = empty;
    ep.disabled_by = empty;
    ep.disabled_at = 0;
    ep.consecutive_failures = 0;
    ep.secret_prev = empty;
    s = json_text(&ep, 1);
    assert_non_null(strstr(s, "\"events\":[\"*\"]"));
    assert_non_null(strstr(s, "\"disabled_reason\":null,\"disabled_by\":null,"
                              "\"disabled_at\":null"));
    assert_non_null(strstr(s, "\"secret_prev\":null,\"secret_prev_until\":null}"));
    free(s);

    /* From Redis: the times come back as the ISO form of the stored ms. */
    struct psw_endpoint made;
    make("acct_1", "https://example.com/j", &made);
    struct json_object *o = psw_endpoint_to_json(&made, 0);
    assert_non_null(o);
    struct json_object *v;
    assert_true(json_object_object_get_ex(o, "created_at", &v));
    int64_t ms;
    assert_int_equal(psw_time_parse_iso(json_object_get_string(v), &ms), 0);
    assert_int_equal(ms, made.created_at);
    assert_true(json_object_object_get_ex(o, "events", &v));
    assert_int_equal(json_object_array_length(v), 1);
    assert_false(json_object_object_get_ex(o, "secret", &v));
    json_object_put(o);
    psw_endpoint_free(&made);
}

/* ---- prefix, outage ----------------------------------------------------- */

static void test_custom_prefix(void **state)
{
    (void)state;
    struct psw_endpoint ep, *l;
    size_t n;
    static char tenant[] = "tenant7:"; /* test_setup puts the real one back */
    F.cfg.redis_prefix = tenant;
    make("acct_1", "https://example.com/p", &ep);
    assert_int_equal(cmd_int("EXISTS tenant7:endpoint:%s", ep.id), 1);
    assert_int_equal(is_member("tenant7:endpoints", ep.id), 1);
    assert_int_equal(is_member("tenant7:account:acct_1:endpoints", ep.id), 1);
    assert_int_equal(cmd_int("EXISTS psw:endpoints"), 0);
    assert_int_equal(psw_endpoint_list(&F.ctx, NULL, &l, &n, err, sizeof(err)), PSW_OK);
    assert_int_equal(n, 1);
    psw_endpoint_list_free(l, n);
    assert_int_equal(psw_endpoint_delete(&F.ctx, ep.id, err, sizeof(err)), PSW_OK);
    assert_int_equal(is_member("tenant7:endpoints", ep.id), 0);
    F.cfg.redis_prefix = F.prefix;
    /* The default prefix never saw it. */
    struct psw_endpoint g;
    assert_int_equal(psw_endpoint_get(&F.ctx, ep.id, &g, err, sizeof(err)), PSW_ENOTFOUND);
    psw_endpoint_free(&ep);
}

static void test_redis_unreachable(void **state)
{
    (void)state;
    struct redis_srv srv = { 0 };
    struct psw_config cfg = { 0 };
    struct psw_ctx ctx;
    struct psw_endpoint ep, *l;
    size_t n;
    char port[32];
    assert_int_equal(redis_srv_start(&srv, NULL), 0);
    assert_int_equal(psw_config_defaults(&cfg), 0);
    free(cfg.redis_url);
    cfg.redis_url = strdup(srv.url);
    assert_int_equal(psw_ctx_open(&ctx, &cfg, 0, NULL, err, sizeof(err)), PSW_OK);
    struct psw_endpoint_spec s = PSW_ENDPOINT_SPEC_INIT;
    s.account_id = "acct_1";
    s.url = "https://example.com/x";
    assert_int_equal(psw_endpoint_create(&ctx, &s, &ep, err, sizeof(err)), PSW_OK);
    char id[PSW_ID_SIZE];
    memcpy(id, ep.id, sizeof(id));
    psw_endpoint_free(&ep);

    redis_srv_stop(&srv);
    snprintf(port, sizeof(port), "127.0.0.1:%d", srv.port);
    err[0] = '\0';
    assert_int_equal(psw_endpoint_create(&ctx, &s, &ep, err, sizeof(err)), PSW_EFAIL);
    if (strncmp(err, "redis", 5) != 0 || !strstr(err, port))
        fail_msg("create: \"%s\" does not name Redis at %s", err, port);
    assert_null(ep.account_id);
    err[0] = '\0';
    assert_int_equal(psw_endpoint_get(&ctx, id, &ep, err, sizeof(err)), PSW_EFAIL);
    if (strncmp(err, "redis", 5) != 0 || !strstr(err, port))
        fail_msg("get: \"%s\" does not name Redis at %s", err, port);
    err[0] = '\0';
    assert_int_equal(psw_endpoint_list(&ctx, NULL, &l, &n, err, sizeof(err)), PSW_EFAIL);
    assert_non_null(strstr(err, port));
    assert_null(l);
    assert_int_equal(psw_endpoint_delete(&ctx, id, err, sizeof(err)), PSW_EFAIL);
    assert_int_equal(psw_endpoint_rotate_secret(&ctx, id, NULL, -1, NULL, err, sizeof(err)),
                     PSW_EFAIL);
    assert_non_null(strstr(err, port));
    psw_ctx_close(&ctx);
    psw_config_free(&cfg);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, test_setup)
    const struct CMUnitTest tests[] = {
        T(test_create_reads_back), T(test_create_defaults), T(test_create_invalid),
        T(test_account_limit),     T(test_get),             T(test_list),
        T(test_update),            T(test_routing_follows_update),
        T(test_enable_disable),    T(test_delete),          T(test_rotate),
        T(test_to_json),           T(test_custom_prefix),   T(test_redis_unreachable),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
