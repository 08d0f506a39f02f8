/*
 * test_event.c — psw_event_parse(): one valid event of each type with the
 * exact body bytes, normalization (time zones, generated ids, lower-cased
 * domain, unknown fields kept in place, numbers kept as written), the limits
 * at their edges, and a table of bad inputs with the exact error each gives.
 *
 * Expected bodies and timestamps are written out by hand (the reference time
 * 2026-11-27T15:04:05.123Z = 1795791845123 ms was checked with Python's
 * datetime), never computed by the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <json-c/json.h>

#include "common/event.h"
#include "common/ids.h"
#include "tests/lib/event_body.h"

#define BASE_MS 1795791845123LL /* 2026-11-27T15:04:05.123Z */
#define NOW_MS 1735787045678LL  /* 2025-01-02T03:04:05.678Z, the "now" passed in */
#define NOW_ISO "2025-01-02T03:04:05.678Z"

static const struct psw_event_limits default_lim = PSW_EVENT_LIMITS_INIT;

/* Parses s and fails the test, showing the message, when it is rejected. */
static void parse_ok_lim(const char *s, const struct psw_event_limits *lim, struct psw_event *ev)
{
    char err[512] = "";
    int rc = psw_event_parse(s, strlen(s), lim, NOW_MS, ev, err, sizeof(err));
    if (rc != 0)
        fail_msg("rejected: %s\ninput: %s", err, s);
    assert_non_null(ev->body);
    assert_int_equal(ev->body_len, strlen(ev->body));
}

static void parse_ok(const char *s, struct psw_event *ev)
{
    parse_ok_lim(s, &default_lim, ev);
}

/* Parsing the body again must give the same event and the same bytes. */
static void assert_round_trip(const struct psw_event *ev)
{
    struct psw_event again;
    char err[512] = "";
    /* A different now: the body carries its created_at, so now must not matter. */
    int rc = psw_event_parse(ev->body, ev->body_len, &default_lim, NOW_MS + 99999, &again, err,
                             sizeof(err));
    if (rc != 0)
        fail_msg("body rejected: %s\nbody: %s", err, ev->body);
    assert_string_equal(again.body, ev->body);
    assert_int_equal(again.body_len, ev->body_len);
    assert_string_equal(again.id, ev->id);
    assert_int_equal(again.type, ev->type);
    assert_string_equal(again.account_id, ev->account_id);
    assert_string_equal(again.domain, ev->domain);
    assert_int_equal(again.created_at_ms, ev->created_at_ms);
    psw_event_free(&again);
}

/* --- one valid event of each type ---------------------------------------- */

struct good_case {
    const char *json;
    int         type;
    const char *id;
    int64_t     created_at_ms;
    const char *body;
};

static const struct good_case good[] = {
    { "{\"type\": \"email.queued\", \"id\": \"evt_q1\", \"account_id\": \"acct_42\",\n"
      " \"domain\": \"mail.example.com\", \"created_at\": \"2026-11-27T15:04:05.123Z\",\n"
      " \"data\": {\"message_id\": \"<q1@mail.example.com>\", \"to\": \"alice@example.org\"}}\n",
      PSW_EV_QUEUED, "evt_q1", BASE_MS,
      "{\"id\":\"evt_q1\",\"type\":\"email.queued\",\"created_at\":\"2026-11-27T15:04:05.123Z\","
      "\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\",\"data\":{\"message_id\":"
      "\"<q1@mail.example.com>\",\"to\":\"alice@example.org\"}}" },
    { "{\"id\":\"evt_s1\",\"type\":\"email.sent\",\"account_id\":\"acct_42\",\"domain\":"
      "\"mail.example.com\",\"created_at\":\"2026-11-27T16:04:05+01:00\",\"data\":{\"message_id\":"
      "\"<s1@x>\",\"from\":\"news@mail.example.com\",\"to\":\"alice@example.org\",\"subject\":"
      "\"Your proposal\",\"tags\":[\"proposal\",\"q4\"],\"metadata\":{\"user_id\":\"u_1\",\"n\":3}}}",
      PSW_EV_SENT, "evt_s1", BASE_MS - 123,
      "{\"id\":\"evt_s1\",\"type\":\"email.sent\",\"created_at\":\"2026-11-27T15:04:05.000Z\","
      "\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\",\"data\":{\"message_id\":"
      "\"<s1@x>\",\"from\":\"news@mail.example.com\",\"to\":\"alice@example.org\",\"subject\":"
      "\"Your proposal\",\"tags\":[\"proposal\",\"q4\"],\"metadata\":{\"user_id\":\"u_1\",\"n\":3}}}" },
    { "{\"id\":\"evt_d1\",\"type\":\"email.delivered\",\"account_id\":\"acct_42\",\"domain\":"
      "\"mail.example.com\",\"created_at\":\"2026-11-27T15:04:06.001Z\",\"data\":{\"message_id\":"
      "\"<d1@x>\",\"to\":\"alice@example.org\",\"delivery\":{\"smtp_response\":\"250 2.0.0 OK\"}}}",
      PSW_EV_DELIVERED, "evt_d1", BASE_MS + 878,
      "{\"id\":\"evt_d1\",\"type\":\"email.delivered\",\"created_at\":\"2026-11-27T15:04:06.001Z\","
      "\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\",\"data\":{\"message_id\":"
      "\"<d1@x>\",\"to\":\"alice@example.org\",\"delivery\":{\"smtp_response\":\"250 2.0.0 OK\"}}}" },
    /* docs/events.md's example, as printed there. */
    { "{\"id\": \"evt_optional_client_id\", \"type\": \"email.bounced\",\n"
      " \"account_id\": \"acct_42\", \"domain\": \"mail.example.com\",\n"
      " \"created_at\": \"2026-11-27T15:04:05.123Z\",\n"
      " \"data\": {\"message_id\": \"<abc@mail.example.com>\", \"from\": \"news@mail.example.com\",\n"
      "          \"to\": \"alice@example.org\", \"subject\": \"Your proposal\",\n"
      "          \"tags\": [\"proposal\"], \"metadata\": {\"user_id\": \"u_1\"},\n"
      "          \"bounce\": {\"type\": \"hard\", \"code\": \"5.1.1\", \"reason\": \"mailbox does "
      "not exist\"}}}",
      PSW_EV_BOUNCED, "evt_optional_client_id", BASE_MS,
      "{\"id\":\"evt_optional_client_id\",\"type\":\"email.bounced\",\"created_at\":"
      "\"2026-11-27T15:04:05.123Z\",\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\","
      "\"data\":{\"message_id\":\"<abc@mail.example.com>\",\"from\":\"news@mail.example.com\","
      "\"to\":\"alice@example.org\",\"subject\":\"Your proposal\",\"tags\":[\"proposal\"],"
      "\"metadata\":{\"user_id\":\"u_1\"},\"bounce\":{\"type\":\"hard\",\"code\":\"5.1.1\","
      "\"reason\":\"mailbox does not exist\"}}}" },
    { "{\"id\":\"evt_o1\",\"type\":\"email.opened\",\"account_id\":\"acct_42\",\"domain\":"
      "\"mail.example.com\",\"created_at\":\"2026-11-27T10:04:05.123-05:00\",\"data\":{"
      "\"message_id\":\"<o1@x>\",\"to\":\"alice@example.org\",\"open\":{\"user_agent\":"
      "\"Mozilla\\/5.0\",\"ip\":\"203.0.113.7\"}}}",
      PSW_EV_OPENED, "evt_o1", BASE_MS,
      "{\"id\":\"evt_o1\",\"type\":\"email.opened\",\"created_at\":\"2026-11-27T15:04:05.123Z\","
      "\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\",\"data\":{\"message_id\":"
      "\"<o1@x>\",\"to\":\"alice@example.org\",\"open\":{\"user_agent\":\"Mozilla/5.0\",\"ip\":"
      "\"203.0.113.7\"}}}" },
    { "{\"id\":\"evt_c1\",\"type\":\"email.clicked\",\"account_id\":\"acct_42\",\"domain\":"
      "\"mail.example.com\",\"created_at\":\"2026-11-27T15:04:05.123Z\",\"data\":{\"message_id\":"
      "\"<c1@x>\",\"to\":\"alice@example.org\",\"click\":{\"url\":"
      "\"https://example.org/offer?a=1&b=2\",\"user_agent\":\"Mozilla/5.0\",\"ip\":"
      "\"2001:db8::1\"}}}",
      PSW_EV_CLICKED, "evt_c1", BASE_MS,
      "{\"id\":\"evt_c1\",\"type\":\"email.clicked\",\"created_at\":\"2026-11-27T15:04:05.123Z\","
      "\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\",\"data\":{\"message_id\":"
      "\"<c1@x>\",\"to\":\"alice@example.org\",\"click\":{\"url\":"
      "\"https://example.org/offer?a=1&b=2\",\"user_agent\":\"Mozilla/5.0\",\"ip\":"
      "\"2001:db8::1\"}}}" },
    { "{\"id\":\"acct:42.evt-7_x\",\"type\":\"email.complained\",\"account_id\":\"acct_42\","
      "\"domain\":\"mail.example.com\",\"created_at\":\"2026-11-27T15:04:05.123Z\",\"data\":{"
      "\"message_id\":\"<k1@x>\",\"to\":\"alice@example.org\",\"complaint\":{\"feedback_type\":"
      "\"abuse\"}}}",
      PSW_EV_COMPLAINED, "acct:42.evt-7_x", BASE_MS,
      "{\"id\":\"acct:42.evt-7_x\",\"type\":\"email.complained\",\"created_at\":"
      "\"2026-11-27T15:04:05.123Z\",\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\","
      "\"data\":{\"message_id\":\"<k1@x>\",\"to\":\"alice@example.org\",\"complaint\":{"
      "\"feedback_type\":\"abuse\"}}}" },
    { "{\"id\":\"evt_u1\",\"type\":\"email.unsubscribed\",\"account_id\":\"acct_42\",\"domain\":"
      "\"mail.example.com\",\"created_at\":\"2026-11-27T15:04:05Z\",\"data\":{\"message_id\":"
      "\"<u1@x>\",\"to\":\"alice@example.org\",\"unsubscribe\":{\"method\":\"one-click\"}}}",
      PSW_EV_UNSUBSCRIBED, "evt_u1", BASE_MS - 123,
      "{\"id\":\"evt_u1\",\"type\":\"email.unsubscribed\",\"created_at\":"
      "\"2026-11-27T15:04:05.000Z\",\"account_id\":\"acct_42\",\"domain\":\"mail.example.com\","
      "\"data\":{\"message_id\":\"<u1@x>\",\"to\":\"alice@example.org\",\"unsubscribe\":{"
      "\"method\":\"one-click\"}}}" },
};

static void test_each_type(void **state)
{
    (void)state;
    int seen[PSW_EV__COUNT] = { 0 };
    assert_int_equal(sizeof(good) / sizeof(good[0]), PSW_EV__COUNT);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct psw_event ev;
        parse_ok(good[i].json, &ev);
        assert_int_equal(ev.type, good[i].type);
        assert_string_equal(ev.id, good[i].id);
        assert_string_equal(ev.account_id, "acct_42");
        assert_string_equal(ev.domain, "mail.example.com");
        assert_int_equal(ev.created_at_ms, good[i].created_at_ms);
        assert_string_equal(ev.body, good[i].body);
        assert_int_equal(ev.body_len, strlen(good[i].body));
        assert_round_trip(&ev);
        seen[ev.type]++;
        psw_event_free(&ev);
        assert_null(ev.body);
    }
    for (int t = 0; t < PSW_EV__COUNT; t++)
        assert_int_equal(seen[t], 1);
}

static void test_type_names(void **state)
{
    (void)state;
    static const char *const want[] = { "email.queued",  "email.sent",       "email.delivered",
                                        "email.bounced", "email.opened",     "email.clicked",
                                        "email.complained", "email.unsubscribed" };
    for (int i = 0; i < PSW_EV__COUNT; i++) {
        assert_string_equal(psw_event_type_names[i], want[i]);
        assert_int_equal(psw_event_type_parse(want[i]), i);
    }
    assert_int_equal(psw_event_type_parse("email.foo"), -1);
    assert_int_equal(psw_event_type_parse("EMAIL.SENT"), -1);
    assert_int_equal(psw_event_type_parse("email.sent "), -1);
    assert_int_equal(psw_event_type_parse(""), -1);
    assert_int_equal(psw_event_type_parse(NULL), -1);
}

/* --- normalization ---------------------------------------------------------- */

#define MIN_DATA "\"data\":{\"message_id\":\"<m@x>\",\"to\":\"a@example.org\"}"
#define MIN_DATA_OUT "\"data\":{\"message_id\":\"<m@x>\",\"to\":\"a@example.org\"}"

static void test_created_at_offset(void **state)
{
    (void)state;
    struct psw_event ev;
    parse_ok("{\"id\":\"e1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
             "\"created_at\":\"2026-11-27T17:04:05.5+02:00\"," MIN_DATA "}",
             &ev);
    assert_int_equal(ev.created_at_ms, BASE_MS - 123 + 500);
    assert_string_equal(ev.body, "{\"id\":\"e1\",\"type\":\"email.sent\",\"created_at\":"
                                 "\"2026-11-27T15:04:05.500Z\",\"account_id\":\"a\",\"domain\":"
                                 "\"x.org\"," MIN_DATA_OUT "}");
    assert_round_trip(&ev);
    psw_event_free(&ev);

    /* A zone that crosses midnight, and a date-only time. */
    parse_ok("{\"id\":\"e2\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
             "\"created_at\":\"2026-11-28T01:30:00+0230\"," MIN_DATA "}",
             &ev);
    assert_string_equal(ev.body, "{\"id\":\"e2\",\"type\":\"email.sent\",\"created_at\":"
                                 "\"2026-11-27T23:00:00.000Z\",\"account_id\":\"a\",\"domain\":"
                                 "\"x.org\"," MIN_DATA_OUT "}");
    psw_event_free(&ev);
    parse_ok("{\"id\":\"e3\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
             "\"created_at\":\"2026-11-27\"," MIN_DATA "}",
             &ev);
    assert_int_equal(ev.created_at_ms, BASE_MS - (15 * 3600 + 4 * 60 + 5) * 1000LL - 123);
    psw_event_free(&ev);
}

static void test_generated_id_and_now(void **state)
{
    (void)state;
    struct psw_event ev, ev2;
    const char *in = "{\"type\":\"email.queued\",\"account_id\":\"acct_42\",\"domain\":\"x.org\","
                     MIN_DATA "}";
    parse_ok(in, &ev);
    assert_true(psw_id_valid("evt_", ev.id));
    assert_int_equal(strlen(ev.id), 4 + PSW_ULID_LEN);
    assert_int_equal(ev.created_at_ms, NOW_MS);

    char want[512];
    snprintf(want, sizeof(want),
             "{\"id\":\"%s\",\"type\":\"email.queued\",\"created_at\":\"" NOW_ISO "\","
             "\"account_id\":\"acct_42\",\"domain\":\"x.org\"," MIN_DATA_OUT "}",
             ev.id);
    assert_string_equal(ev.body, want);
    assert_round_trip(&ev);

    /* Each publish without an id gets a new one. */
    parse_ok(in, &ev2);
    assert_true(psw_id_valid("evt_", ev2.id));
    assert_string_not_equal(ev.id, ev2.id);
    psw_event_free(&ev);
    psw_event_free(&ev2);

    /* JSON null counts as absent. */
    parse_ok("{\"id\":null,\"type\":\"email.queued\",\"created_at\":null,\"account_id\":\"a\","
             "\"domain\":\"x.org\",\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"from\":null,"
             "\"bounce\":null}}",
             &ev);
    assert_true(psw_id_valid("evt_", ev.id));
    assert_int_equal(ev.created_at_ms, NOW_MS);
    snprintf(want, sizeof(want),
             "{\"id\":\"%s\",\"type\":\"email.queued\",\"created_at\":\"" NOW_ISO "\","
             "\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":{\"message_id\":\"m\",\"to\":"
             "\"t\",\"from\":null,\"bounce\":null}}",
             ev.id);
    assert_string_equal(ev.body, want);
    psw_event_free(&ev);
}

static void test_domain_lowercased(void **state)
{
    (void)state;
    struct psw_event ev;
    parse_ok("{\"id\":\"e1\",\"type\":\"email.sent\",\"account_id\":\"Acct_42\",\"domain\":"
             "\"Mail-1.Example.COM\",\"created_at\":\"2026-11-27T15:04:05.123Z\"," MIN_DATA "}",
             &ev);
    assert_string_equal(ev.domain, "mail-1.example.com");
    assert_string_equal(ev.account_id, "Acct_42"); /* ids keep their case */
    assert_string_equal(ev.body, "{\"id\":\"e1\",\"type\":\"email.sent\",\"created_at\":"
                                 "\"2026-11-27T15:04:05.123Z\",\"account_id\":\"Acct_42\","
                                 "\"domain\":\"mail-1.example.com\"," MIN_DATA_OUT "}");
    assert_round_trip(&ev);
    psw_event_free(&ev);
}

static void test_unknown_fields_kept(void **state)
{
    (void)state;
    struct psw_event ev;
    parse_ok("{\"a_first\":true,\"type\":\"email.bounced\",\"x\":{\"k\":[1,2.50,\"s\",null,{}]},"
             "\"account_id\":\"acct_42\",\"domain\":\"x.org\",\"id\":\"e9\",\"created_at\":"
             "\"2026-11-27T15:04:05.123Z\",\"data\":{\"custom\":{\"n\":null},\"message_id\":\"m\","
             "\"bounce\":{\"type\":\"soft\",\"code\":\"4.2.2\",\"reason\":\"full\",\"extra\":7},"
             "\"to\":\"t\",\"zz\":[]},\"z_last\":\"end\"}",
             &ev);
    assert_string_equal(ev.body,
                        "{\"id\":\"e9\",\"type\":\"email.bounced\",\"created_at\":"
                        "\"2026-11-27T15:04:05.123Z\",\"account_id\":\"acct_42\",\"domain\":"
                        "\"x.org\",\"data\":{\"custom\":{\"n\":null},\"message_id\":\"m\","
                        "\"bounce\":{\"type\":\"soft\",\"code\":\"4.2.2\",\"reason\":\"full\","
                        "\"extra\":7},\"to\":\"t\",\"zz\":[]},\"a_first\":true,\"x\":{\"k\":"
                        "[1,2.50,\"s\",null,{}]},\"z_last\":\"end\"}");
    assert_round_trip(&ev);
    psw_event_free(&ev);
}

/* Numbers and strings keep their value; the rendering is json-c's compact form
 * (escapes resolved to UTF-8, no "\/"), and is stable under a second parse. */
static void test_values_kept(void **state)
{
    (void)state;
    struct psw_event ev;
    parse_ok("{\"id\":\"e1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
             "\"created_at\":\"2026-11-27T15:04:05.123Z\",\"data\":{\"message_id\":\"m\",\"to\":"
             "\"t\",\"metadata\":{\"big\":18446744073709551615,\"neg\":-9223372036854775808,"
             "\"f\":1.50,\"e\":1E5,\"z\":-0.0,\"u\":\"\\u00e9\\u2028\",\"esc\":\"a\\\"b\\\\c\\/d\\n\","
             "\"t\":[true,false]}}}",
             &ev);
    assert_string_equal(ev.body,
                        "{\"id\":\"e1\",\"type\":\"email.sent\",\"created_at\":"
                        "\"2026-11-27T15:04:05.123Z\",\"account_id\":\"a\",\"domain\":\"x.org\","
                        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"metadata\":{\"big\":"
                        "18446744073709551615,\"neg\":-9223372036854775808,\"f\":1.50,\"e\":1E5,"
                        "\"z\":-0.0,\"u\":\"\xc3\xa9\xe2\x80\xa8\",\"esc\":\"a\\\"b\\\\c/d\\n\","
                        "\"t\":[true,false]}}}");
    assert_round_trip(&ev);
    psw_event_free(&ev);
}

/* --- limits at their edges --------------------------------------------------- */

static void test_size_limit_edge(void **state)
{
    (void)state;
    const char *in = "{\"id\":\"e1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":"
                     "\"x.org\"," MIN_DATA "}";
    struct psw_event_limits lim = { strlen(in), 16 };
    struct psw_event ev;
    char err[256];
    parse_ok_lim(in, &lim, &ev);
    psw_event_free(&ev);

    lim.max_bytes = strlen(in) - 1;
    assert_int_equal(psw_event_parse(in, strlen(in), &lim, NOW_MS, &ev, err, sizeof(err)), -1);
    char want[128];
    snprintf(want, sizeof(want), "event: too large (%zu bytes, limit %zu: limits.max_event_bytes)", strlen(in),
             strlen(in) - 1);
    assert_string_equal(err, want);
}

/* data.metadata.a.b holding a value: 5 levels of containers with the top. */
#define DEPTH5_SCALAR "{\"metadata\":{\"a\":{\"b\":{\"c\":1}}}"
#define DEPTH5_EMPTY "{\"metadata\":{\"a\":{\"b\":{}}}"

static void test_depth_limit_edge(void **state)
{
    (void)state;
    struct psw_event_limits lim = { 4096, 5 };
    struct psw_event ev;
    char err[256];
    const char *ok[] = {
        "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
        "{\"message_id\":\"m\",\"to\":\"t\",\"metadata\":{\"a\":{\"b\":{\"c\":1}}}}}",
        "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
        "{\"message_id\":\"m\",\"to\":\"t\",\"metadata\":{\"a\":[[]]}}}",
    };
    const char *deep[] = {
        "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
        "{\"message_id\":\"m\",\"to\":\"t\",\"metadata\":{\"a\":{\"b\":{\"c\":{}}}}}}",
        "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
        "{\"message_id\":\"m\",\"to\":\"t\",\"metadata\":{\"a\":{\"b\":{\"c\":[1]}}}}}",
        "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
        "{\"message_id\":\"m\",\"to\":\"t\",\"metadata\":{\"a\":[[[[[[[[]]]]]]]]}}}",
    };
    for (size_t i = 0; i < 2; i++) {
        parse_ok_lim(ok[i], &lim, &ev);
        psw_event_free(&ev);
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(psw_event_parse(deep[i], strlen(deep[i]), &lim, NOW_MS, &ev, err,
                                         sizeof(err)),
                         -1);
        assert_string_equal(err, "event: nested deeper than the limit of 5 levels (limits.max_json_depth)");
    }
    /* NULL limits = the defaults: 16 levels. */
    char buf[1024];
    int n = snprintf(buf, sizeof(buf),
                     "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
                     "{\"message_id\":\"m\",\"to\":\"t\",\"deep\":%s}}",
                     "[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]"); /* 3 + 15 = 18 levels */
    assert_int_equal(psw_event_parse(buf, (size_t)n, NULL, NOW_MS, &ev, err, sizeof(err)), -1);
    assert_string_equal(err, "event: nested deeper than the limit of 16 levels (limits.max_json_depth)");
    n = snprintf(buf, sizeof(buf),
                 "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
                 "{\"message_id\":\"m\",\"to\":\"t\",\"deep\":%s}}",
                 "[[[[[[[[[[[[[\"x\"]]]]]]]]]]]]]"); /* 3 + 13 = 16 levels */
    if (psw_event_parse(buf, (size_t)n, NULL, NOW_MS, &ev, err, sizeof(err)) != 0)
        fail_msg("16 levels rejected: %s", err);
    psw_event_free(&ev);
}

static void test_free_and_failure_state(void **state)
{
    (void)state;
    struct psw_event ev;
    char err[256];

    memset(&ev, 0, sizeof(ev));
    psw_event_free(&ev); /* zeroed: a no-op */
    psw_event_free(NULL);

    /* A failure after account_id and domain were copied leaves nothing behind
     * (LSan checks the copies were freed) and a zeroed struct. */
    memset(&ev, 0xAB, sizeof(ev));
    const char *in = "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\",\"data\":"
                     "{\"message_id\":\"m\",\"to\":7}}";
    assert_int_equal(psw_event_parse(in, strlen(in), NULL, NOW_MS, &ev, err, sizeof(err)), -1);
    assert_string_equal(err, "data.to: must be a string");
    struct psw_event zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&ev, &zero, sizeof(ev));
    psw_event_free(&ev);

    /* A tiny error buffer is truncated, not overrun; a NULL one is allowed. */
    char small[8];
    assert_int_equal(psw_event_parse(in, strlen(in), NULL, NOW_MS, &ev, small, sizeof(small)), -1);
    assert_string_equal(small, "data.to");
    assert_int_equal(psw_event_parse(in, strlen(in), NULL, NOW_MS, &ev, NULL, 0), -1);

    /* Input need not be NUL-terminated: only json[0..len) is read. */
    const char *good_in = "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
                          MIN_DATA "}GARBAGE";
    size_t len = strlen(good_in) - strlen("GARBAGE");
    assert_int_equal(psw_event_parse(good_in, len, NULL, NOW_MS, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.type, PSW_EV_SENT);
    psw_event_free(&ev);
}

/* --- bad inputs ------------------------------------------------------------- */

#define X10 "xxxxxxxxxx"
#define X50 X10 X10 X10 X10 X10
#define X64 X50 X10 "xxxx"
#define X129 X50 X50 X10 X10 "xxxxxxxxx"
#define X254 X50 X50 X50 X50 X50 "xxxx"

#define EV(type) "{\"type\":\"" type "\",\"account_id\":\"acct_42\",\"domain\":\"x.org\","
#define OKDATA "\"data\":{\"message_id\":\"m\",\"to\":\"t\"}}"
#define TOP(rest) "{\"type\":\"email.sent\",\"account_id\":\"acct_42\"," rest
#define DATA(type, fields) EV(type) "\"data\":{\"message_id\":\"m\",\"to\":\"t\"," fields "}}"
#define TYPES                                                                                  \
    "(one of email.queued, email.sent, email.delivered, email.bounced, email.opened, "         \
    "email.clicked, email.complained, email.unsubscribed)"
#define ALLOWED "(allowed: A-Z a-z 0-9 _ - . :)"

struct bad_case {
    const char *json;
    size_t      len;       /* 0: strlen(json) */
    size_t      max_bytes; /* 0: 1024 */
    const char *want;
};

static const struct bad_case bad[] = {
    /* the document */
    { "not json", 0, 0, "event: not valid JSON: null expected (at byte 1)" },
    { "", 0, 0, "event: not valid JSON: unexpected end of data (at byte 0)" },
    { "  \n ", 0, 0, "event: not valid JSON: unexpected end of data (at byte 4)" },
    { "{\"type\":\"email.sent\"", 0, 0, "event: not valid JSON: unexpected end of data (at byte 20)" },
    { "{\"type\":\"email.sent\",}", 0, 0, "event: not valid JSON: unexpected character (at byte 21)" },
    { "[1,2]", 0, 0, "event: must be a JSON object" },
    { "\"event\"", 0, 0, "event: must be a JSON object" },
    { "null", 0, 0, "event: must be a JSON object" },
    { "42", 0, 0, "event: must be a JSON object" },
    { "{\"type\":\"email.sent\"} x", 0, 0, "event: not valid JSON: unexpected character (at byte 22)" },
    { "{}{}", 0, 0, "event: not valid JSON: unexpected character (at byte 2)" },
    { "{\"a\":1}\0{}", 10, 0, "event: not valid JSON: NUL byte (at byte 7)" },
    { "{\"s\":\"\xff\"}", 0, 0, "event: not valid JSON: invalid utf-8 string (at byte 6)" },
    { "{\"n\":NaN}", 0, 0, "event: not valid JSON: unexpected \"NaN\" (at byte 5)" },
    { "{\"n\":-Infinity}", 0, 0, "event: not valid JSON: unexpected \"-Infinity\" (at byte 5)" },
    { "{\"n\":1.}", 0, 0, "event: not valid JSON: unexpected \"1.\" (at byte 5)" },
    { "{\"n\":[00]}", 0, 0, "event: not valid JSON: unexpected \"00\" (at byte 6)" },
    { "{'type':\"email.sent\"}", 0, 0, "event: not valid JSON: unexpected \"'type'\" (at byte 1)" },
    { "{\"s\":\"a\nb\"}", 0, 0,
      "event: not valid JSON: unescaped control character 0x0a in a string (at byte 7)" },
    { "{\"n\":99999999999999999999}", 0, 0,
      "event: integer does not fit in 64 bits (at byte 5); send it as a string" },
    { "{\"n\":-9223372036854775809}", 0, 0,
      "event: integer does not fit in 64 bits (at byte 5); send it as a string" },
    { "{\"type\":\"email.sent\"}", 0, 20, "event: too large (21 bytes, limit 20: limits.max_event_bytes)" },
    { DATA("email.sent", "\"metadata\":{\"a\":{\"b\":{\"c\":{}}}}"), 0, 0,
      "event: nested deeper than the limit of 5 levels (limits.max_json_depth)" },
    { DATA("email.sent", "\"metadata\":{\"a\":{\"b\":{\"c\":{\"d\":1}}}}"), 0, 0,
      "event: nested deeper than the limit of 5 levels (limits.max_json_depth)" },
    /* type */
    { "{\"account_id\":\"a\",\"domain\":\"x.org\"," OKDATA, 0, 0, "type: required" },
    { "{\"type\":null," OKDATA, 0, 0, "type: required" },
    { "{\"type\":3," OKDATA, 0, 0, "type: must be a string" },
    { "{\"type\":[\"email.sent\"]," OKDATA, 0, 0, "type: must be a string" },
    { EV("email.foo") OKDATA, 0, 0, "type: unknown event type \"email.foo\" " TYPES },
    { EV("Email.Sent") OKDATA, 0, 0, "type: unknown event type \"Email.Sent\" " TYPES },
    { EV("email.sent\\u0000") OKDATA, 0, 0,
      "type: unknown event type \"email.sent\\u0000\" " TYPES },
    /* id */
    { "{\"id\":\"" X129 "\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
      OKDATA, 0, 0, "id: too long (129 characters, at most 128)" },
    { "{\"id\":\"evt 1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\"," OKDATA,
      0, 0, "id: invalid character ' ' in \"evt 1\" " ALLOWED },
    { "{\"id\":\"evt/1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\"," OKDATA,
      0, 0, "id: invalid character '/' in \"evt/1\" " ALLOWED },
    { "{\"id\":\"a\\u0000b\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
      OKDATA, 0, 0, "id: invalid character 0x00 in \"a\\u0000b\" " ALLOWED },
    { "{\"id\":\"\xc3\xa9v\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
      OKDATA, 0, 0, "id: invalid character 0xc3 in \"\xc3\xa9v\" " ALLOWED },
    { "{\"id\":\"\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\"," OKDATA, 0,
      0, "id: must not be empty" },
    { "{\"id\":17,\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\"," OKDATA, 0, 0,
      "id: must be a string" },
    /* account_id */
    { "{\"type\":\"email.sent\",\"domain\":\"x.org\"," OKDATA, 0, 0, "account_id: required" },
    { "{\"type\":\"email.sent\",\"account_id\":null,\"domain\":\"x.org\"," OKDATA, 0, 0,
      "account_id: required" },
    { "{\"type\":\"email.sent\",\"account_id\":\"\",\"domain\":\"x.org\"," OKDATA, 0, 0,
      "account_id: must not be empty" },
    { "{\"type\":\"email.sent\",\"account_id\":\"acct 42\",\"domain\":\"x.org\"," OKDATA, 0, 0,
      "account_id: invalid character ' ' in \"acct 42\" " ALLOWED },
    { "{\"type\":\"email.sent\",\"account_id\":42,\"domain\":\"x.org\"," OKDATA, 0, 0,
      "account_id: must be a string" },
    /* domain */
    { TOP(OKDATA), 0, 0, "domain: required" },
    { TOP("\"domain\":\"\"," OKDATA), 0, 0, "domain: must not be empty" },
    { TOP("\"domain\":{}," OKDATA), 0, 0, "domain: must be a string" },
    { TOP("\"domain\":\"" X64 ".com\"," OKDATA), 0, 0,
      "domain: label longer than 63 characters in \"" X64 "\"..." },
    { TOP("\"domain\":\"" X254 "\"," OKDATA), 0, 0,
      "domain: too long (254 characters, at most 253)" },
    { TOP("\"domain\":\"-mail.example.com\"," OKDATA), 0, 0,
      "domain: label starts or ends with a hyphen in \"-mail.example.com\"" },
    { TOP("\"domain\":\"mail.example-.com\"," OKDATA), 0, 0,
      "domain: label starts or ends with a hyphen in \"mail.example-.com\"" },
    { TOP("\"domain\":\"mail_1.example.com\"," OKDATA), 0, 0,
      "domain: invalid character '_' in \"mail_1.example.com\" (letters, digits, hyphens and "
      "dots only)" },
    { TOP("\"domain\":\"example..com\"," OKDATA), 0, 0,
      "domain: empty label in \"example..com\"" },
    { TOP("\"domain\":\"example.com.\"," OKDATA), 0, 0,
      "domain: empty label in \"example.com.\"" },
    /* created_at */
    { EV("email.sent") "\"created_at\":\"yesterday\"," OKDATA, 0, 0,
      "created_at: must be an ISO 8601 time, got \"yesterday\"" },
    { EV("email.sent") "\"created_at\":\"2026-02-30T00:00:00Z\"," OKDATA, 0, 0,
      "created_at: must be an ISO 8601 time, got \"2026-02-30T00:00:00Z\"" },
    { EV("email.sent") "\"created_at\":\"2026-11-27T15:04:05Z junk\"," OKDATA, 0, 0,
      "created_at: must be an ISO 8601 time, got \"2026-11-27T15:04:05Z junk\"" },
    { EV("email.sent") "\"created_at\":1795791845123," OKDATA, 0, 0,
      "created_at: must be a string" },
    { EV("email.sent") "\"created_at\":\"1969-12-31T23:59:59Z\"," OKDATA, 0, 0,
      "created_at: must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z, got "
      "\"1969-12-31T23:59:59Z\"" },
    { EV("email.sent") "\"created_at\":\"9999-12-31T23:00:00-01:00\"," OKDATA, 0, 0,
      "created_at: must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z, got "
      "\"9999-12-31T23:00:00-01:00\"" },
    /* data */
    { EV("email.sent") "\"x\":1}", 0, 0, "data: required" },
    { EV("email.sent") "\"data\":[]}", 0, 0, "data: must be an object" },
    { EV("email.sent") "\"data\":\"m\"}", 0, 0, "data: must be an object" },
    { EV("email.sent") "\"data\":{\"to\":\"t\"}}", 0, 0, "data.message_id: required" },
    { EV("email.sent") "\"data\":{\"message_id\":\"\",\"to\":\"t\"}}", 0, 0,
      "data.message_id: must not be empty" },
    { EV("email.sent") "\"data\":{\"message_id\":5,\"to\":\"t\"}}", 0, 0,
      "data.message_id: must be a string" },
    { EV("email.sent") "\"data\":{\"message_id\":\"m\"}}", 0, 0, "data.to: required" },
    { EV("email.sent") "\"data\":{\"message_id\":\"m\",\"to\":[\"a@b.c\"]}}", 0, 0,
      "data.to: must be a string" },
    { EV("email.sent") "\"data\":{\"message_id\":\"m\",\"to\":\"\"}}", 0, 0,
      "data.to: must not be empty" },
    { DATA("email.sent", "\"from\":1"), 0, 0, "data.from: must be a string" },
    { DATA("email.sent", "\"subject\":{}"), 0, 0, "data.subject: must be a string" },
    { DATA("email.sent", "\"tags\":\"proposal\""), 0, 0, "data.tags: must be an array of strings" },
    { DATA("email.sent", "\"tags\":[\"a\",2]"), 0, 0, "data.tags[1]: must be a string" },
    { DATA("email.sent", "\"tags\":[null]"), 0, 0, "data.tags[0]: must be a string" },
    { DATA("email.sent", "\"metadata\":[1]"), 0, 0, "data.metadata: must be an object" },
    /* event-specific objects */
    { DATA("email.bounced", "\"x\":1"), 0, 0, "data.bounce: required for email.bounced events" },
    { DATA("email.bounced", "\"bounce\":\"hard\""), 0, 0, "data.bounce: must be an object" },
    { DATA("email.bounced", "\"bounce\":{\"type\":\"medium\",\"code\":\"5.1.1\",\"reason\":\"r\"}"),
      0, 0, "data.bounce.type: must be \"hard\" or \"soft\"" },
    { DATA("email.bounced", "\"bounce\":{\"type\":\"HARD\",\"code\":\"5.1.1\",\"reason\":\"r\"}"),
      0, 0, "data.bounce.type: must be \"hard\" or \"soft\"" },
    { DATA("email.bounced", "\"bounce\":{\"code\":\"5.1.1\",\"reason\":\"r\"}"), 0, 0,
      "data.bounce.type: required" },
    { DATA("email.bounced", "\"bounce\":{\"type\":\"hard\",\"reason\":\"r\"}"), 0, 0,
      "data.bounce.code: required" },
    { DATA("email.bounced", "\"bounce\":{\"type\":\"hard\",\"code\":511,\"reason\":\"r\"}"), 0, 0,
      "data.bounce.code: must be a string" },
    { DATA("email.bounced", "\"bounce\":{\"type\":\"hard\",\"code\":\"5.1.1\"}"), 0, 0,
      "data.bounce.reason: required" },
    /* validated when present, whatever the type */
    { DATA("email.sent", "\"bounce\":{\"type\":\"medium\",\"code\":\"c\",\"reason\":\"r\"}"), 0, 0,
      "data.bounce.type: must be \"hard\" or \"soft\"" },
    { DATA("email.clicked", "\"open\":{}"), 0, 0, "data.click: required for email.clicked events" },
    { DATA("email.clicked", "\"click\":{\"user_agent\":\"u\",\"ip\":\"i\"}"), 0, 0,
      "data.click.url: required" },
    { DATA("email.clicked", "\"click\":{\"url\":\"\",\"user_agent\":\"u\",\"ip\":\"i\"}"), 0, 0,
      "data.click.url: must not be empty" },
    { DATA("email.clicked", "\"click\":{\"url\":\"https://x\",\"ip\":\"i\"}"), 0, 0,
      "data.click.user_agent: required" },
    { DATA("email.clicked", "\"click\":{\"url\":\"https://x\",\"user_agent\":\"u\"}"), 0, 0,
      "data.click.ip: required" },
    { DATA("email.opened", "\"open\":[]"), 0, 0, "data.open: must be an object" },
    { DATA("email.opened", "\"open\":{\"ip\":7}"), 0, 0, "data.open.ip: must be a string" },
    { DATA("email.complained", "\"complaint\":{\"feedback_type\":1}"), 0, 0,
      "data.complaint.feedback_type: must be a string" },
    { DATA("email.unsubscribed", "\"unsubscribe\":{\"method\":[\"post\"]}"), 0, 0,
      "data.unsubscribe.method: must be a string" },
    { DATA("email.delivered", "\"delivery\":{\"smtp_response\":true}"), 0, 0,
      "data.delivery.smtp_response: must be a string" },
    { DATA("email.delivered", "\"delivery\":true"), 0, 0, "data.delivery: must be an object" },
};

static void test_bad_inputs(void **state)
{
    (void)state;
    size_t n = sizeof(bad) / sizeof(bad[0]);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        struct psw_event_limits lim = { bad[i].max_bytes ? bad[i].max_bytes : 1024, 5 };
        struct psw_event ev;
        char err[512] = "";
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].json);
        int rc = psw_event_parse(bad[i].json, len, &lim, NOW_MS, &ev, err, sizeof(err));
        if (rc != -1)
            fail_msg("case %zu accepted: %s", i, bad[i].json);
        if (strcmp(err, bad[i].want) != 0)
            fail_msg("case %zu: %s\n  want: %s\n   got: %s", i, bad[i].json, bad[i].want, err);
        assert_null(ev.body);
        assert_null(ev.account_id);
        assert_null(ev.domain);
        assert_int_equal(ev.id[0], '\0');
        psw_event_free(&ev);
    }
}

/* --- the body is json-c's rendering, whichever way it is put together -------- */

static void assert_reference_body(const char *text)
{
    struct psw_event ev;
    parse_ok(text, &ev);
    /* tests/lib/event_body.c, written apart from event.c with json-c alone */
    char *want = psw_test_event_body(text, strlen(text), &ev);
    if (!want)
        fail_msg("json-c: no body for an accepted event: %s", text);
    if (strcmp(want, ev.body) != 0)
        fail_msg("input: %s\nbody:  %s\nwant:  %s", text, ev.body, want);
    assert_int_equal(ev.body_len, strlen(want));
    free(want);
    psw_event_free(&ev);
}

/* Inputs whose data json-c prints differently from how it is written, and
 * inputs it prints unchanged: every escape of a control character (short
 * form, \u00xx lower and upper case, \u0000), "\/", non-ASCII escapes and
 * surrogate pairs, whitespace, -0 against -0.0, duplicate keys (json-c keeps
 * the last value at the first place), an escaped or repeated top-level key,
 * other top-level keys. */
static void test_body_matches_json_c(void **state)
{
    (void)state;
    static const char *const head =
        "{\"id\":\"e1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"X.org\","
        "\"created_at\":\"2026-11-27T15:04:05.123Z\",";
    static const char *const datas[] = {
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"n\":-0}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"n\":-0.0,\"m\":-0e1,\"k\":0,\"j\":-10}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\":\"a\\/b\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\":\"\\\"\\\\\\b\\f\\n\\r\\t\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\":\"\\u00e9\\u2028\\ud83d\\ude00\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\":\"\\u0041\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\":\"x\\u0000y\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\\u0000k\":1}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\\u0000k\":1,\"s\":2}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"a\":1,\"a\":2}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"a\":{\"b\":1,\"b\":[1]}}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"\\u0061\":1,\"a\":2}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"a\":[ 1 ,2]}}",
        "\"data\" : { \"message_id\" : \"m\" , \"to\":\"t\" } }",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"a\":[],\"b\":{},\"c\":[[{}],[]]}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"d\":1.50,\"e\":1E+5,\"f\":2e-7}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"u\":\"\xc3\xa9\x7f\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\"},\"extra\":[1,-0]}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\"},\"d\\u0061ta\":{\"message_id\":\"n\",\"to\":\"u\"}}",
        "\"data\":{\"message_id\":\"x\",\"to\":\"x\"},\"data\":{\"message_id\":\"m\",\"to\":\"t\"}}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\"},\"id\":\"e2\"}",
        "\"data\":{\"message_id\":\"m\",\"to\":\"t\"}}\n",
    };
    char text[1024];
    for (size_t i = 0; i < sizeof(datas) / sizeof(datas[0]); i++) {
        snprintf(text, sizeof(text), "%s%s", head, datas[i]);
        assert_reference_body(text);
    }
    /* every control character, escaped each way json-c accepts */
    for (int c = 1; c < 0x20; c++) {
        for (int f = 0; f < 2; f++) {
            char esc[8];
            if (f == 0)
                snprintf(esc, sizeof(esc), "\\u00%02x", c);
            else
                snprintf(esc, sizeof(esc), "\\u00%02X", c);
            snprintf(text, sizeof(text),
                     "%s\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"s\":\"<%s>\",\"k%s\":1}}",
                     head, esc, esc);
            assert_reference_body(text);
        }
    }
}

/* Random events built from pieces that json-c prints unchanged and pieces it
 * does not, nested up to 4 levels: each body must be json-c's. */
static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static void rnd_value(char *b, size_t n, int depth)
{
    static const char *const scalars[] = {
        "1", "-0", "0", "-7", "2.5", "-0.0", "1e3", "true", "false", "null", "\"s\"",
        "\"a\\/b\"", "\"\\u00e9\"", "\"\\n\\t\"", "\"\\u001f\"", "\"\\u001F\"", "\"\\u0008\"",
        "\"\xc3\xa9\"", "\"\"", "18446744073709551615",
    };
    static const char *const keys[] = { "\"k\"", "\"j\"", "\"\\u006b\"", "\"k\\n\"", "\"l\"" };
    static const char *const ws[] = { "", "", "", "", " ", "\n" };
    unsigned kind = depth >= 4 ? 2 : rnd(3);
    size_t l = strlen(b);
    if (kind == 2) {
        snprintf(b + l, n - l, "%s", scalars[rnd(sizeof(scalars) / sizeof(scalars[0]))]);
        return;
    }
    unsigned m = rnd(4);
    snprintf(b + l, n - l, "%c%s", kind == 0 ? '{' : '[', ws[rnd(6)]);
    for (unsigned i = 0; i < m; i++) {
        l = strlen(b);
        if (kind == 0)
            snprintf(b + l, n - l, "%s%s:%s", i ? "," : "", keys[rnd(5)], ws[rnd(6)]);
        else
            snprintf(b + l, n - l, "%s", i ? "," : "");
        rnd_value(b, n, depth + 1);
    }
    l = strlen(b);
    snprintf(b + l, n - l, "%s%c", ws[rnd(6)], kind == 0 ? '}' : ']');
}

static void test_body_matches_json_c_random(void **state)
{
    (void)state;
    static char text[16384];
    for (int round = 0; round < 3000; round++) {
        snprintf(text, sizeof(text),
                 "{\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
                 "\"data\":{\"message_id\":\"m\",\"to\":\"t\",\"x\":");
        rnd_value(text, sizeof(text) - 64, 1);
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "%s}%s}", rnd(4) == 0 ? ",\"to\":\"u\"" : "",
                 rnd(8) == 0 ? ",\"other\":-0" : "");
        assert_reference_body(text);
    }
}

/* psw_event_parse_tree (a tree the caller parsed, as POST /v1/events has)
 * gives what psw_event_parse gives for the same text: every bad input json-c
 * parses is refused with the same message, and good ones get the same body. */
static struct json_object *json_c_tree(const char *text, size_t len, int *ok)
{
    struct json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    *ok = json_tokener_get_error(tok) == json_tokener_success &&
          json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    return o;
}

static void test_parse_tree_same(void **state)
{
    (void)state;
    size_t compared = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct psw_event_limits lim = { bad[i].max_bytes ? bad[i].max_bytes : 1024, 5 };
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].json);
        int ok;
        struct json_object *tree = json_c_tree(bad[i].json, len, &ok);
        if (!ok) { /* the API refuses the whole body first */
            json_object_put(tree);
            continue;
        }
        struct psw_event ev;
        char err[512] = "";
        int rc = psw_event_parse_tree(bad[i].json, len, tree, &lim, NOW_MS, &ev, err, sizeof(err));
        if (rc != -1 || strcmp(err, bad[i].want) != 0)
            fail_msg("case %zu: %s\n  want: %s\n   got: %s", i, bad[i].json, bad[i].want, err);
        assert_null(ev.body);
        json_object_put(tree);
        compared++;
    }
    assert_true(compared >= 20);
    static const char *const texts[] = {
        "{\"id\":\"e1\",\"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"X.org\","
        "\"created_at\":\"2026-11-27T15:04:05.123Z\",\"data\":{\"message_id\":\"m\",\"to\":\"t\"}}",
        " { \"id\" : \"e2\", \"type\":\"email.sent\",\"account_id\":\"a\",\"domain\":\"x.org\","
        "\"created_at\":\"2026-11-27T15:04:05.123+02:00\",\"data\":{\"message_id\":\"m\\/\","
        "\"to\":\"t\",\"n\":-0,\"a\":1,\"a\":[2]},\"z\":{\"k\":\"\\u00e9\"}}\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        int ok;
        struct json_object *tree = json_c_tree(texts[i], strlen(texts[i]), &ok);
        assert_true(ok);
        struct psw_event a, b;
        char err[512] = "";
        if (psw_event_parse_tree(texts[i], strlen(texts[i]), tree, NULL, NOW_MS, &a, err,
                                 sizeof(err)) != 0)
            fail_msg("rejected: %s", err);
        parse_ok(texts[i], &b);
        assert_string_equal(a.body, b.body);
        assert_int_equal(a.body_len, b.body_len);
        psw_event_free(&a);
        psw_event_free(&b);
        /* the tree is the caller's still, unchanged */
        assert_int_equal(json_object_object_length(tree), i == 0 ? 6 : 7);
        json_object_put(tree);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_created_at_offset),
        cmocka_unit_test(test_generated_id_and_now),
        cmocka_unit_test(test_domain_lowercased),
        cmocka_unit_test(test_unknown_fields_kept),
        cmocka_unit_test(test_values_kept),
        cmocka_unit_test(test_size_limit_edge),
        cmocka_unit_test(test_depth_limit_edge),
        cmocka_unit_test(test_free_and_failure_state),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_body_matches_json_c),
        cmocka_unit_test(test_body_matches_json_c_random),
        cmocka_unit_test(test_parse_tree_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
