/*
 * test_validate.c — common/validate.c: tables of domain names, receiver URLs
 * (every rejection with its exact message) and event filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/validate.h"

#define CREDS "url: credentials are not allowed in the URL; receivers authenticate requests by " \
              "the X-PostStack-Signature header"
#define SPACE_AT(n) "url: a space at position " #n " is not allowed (percent-encode it, e.g. " \
                    "%20 for a space)"
#define CTRL_AT(n) "url: whitespace or a control character at position " #n " is not allowed " \
                   "(percent-encode it, e.g. %20 for a space)"
#define BAD_HOST "url: the host is not a valid host name (dot-separated labels of letters, " \
                 "digits, hyphens and underscores)"
#define PORT "url: the port must be a number from 1 to 65535"
#define START "url: must start with http:// or https://"
#define TYPES "email.queued, email.sent, email.delivered, email.bounced, email.opened, " \
              "email.clicked, email.complained, email.unsubscribed"

/* n copies of c followed by suffix, in a static buffer per slot. */
static const char *rep(int slot, char c, size_t n, const char *prefix, const char *suffix)
{
    static char buf[4][600];
    size_t pl = strlen(prefix), sl = strlen(suffix);
    assert_true(pl + n + sl < sizeof(buf[slot]));
    memcpy(buf[slot], prefix, pl);
    memset(buf[slot] + pl, c, n);
    memcpy(buf[slot] + pl + n, suffix, sl + 1);
    return buf[slot];
}

static void test_domains(void **state)
{
    (void)state;
    /* 4 labels of 63 + 3 dots = 255; cut to exactly 253 and 254. */
    char d253[260], d254[260];
    snprintf(d253, sizeof(d253), "%s.%s.%s.%s", rep(2, 'b', 63, "", ""), rep(3, 'c', 63, "", ""),
             rep(0, 'd', 63, "", ""), rep(1, 'e', 61, "", ""));
    assert_int_equal(strlen(d253), 253);
    snprintf(d254, sizeof(d254), "%s.%s.%s.%s", rep(2, 'b', 63, "", ""), rep(3, 'c', 63, "", ""),
             rep(0, 'd', 63, "", ""), rep(1, 'e', 62, "", ""));
    assert_int_equal(strlen(d254), 254);

    static const char *const good[] = { "example.com", "a", "mail.example.com",
                                        "A.B-C.d", "xn--bcher-kva.example", "1.2.3.4",
                                        "a-b--c.x0" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!psw_domain_valid(good[i]))
            fail_msg("domain \"%s\" should be valid", good[i]);
    assert_true(psw_domain_valid(d253));

    static const char *const bad[] = { "", ".", "example.com.", ".example.com", "a..b",
                                       "-a.com", "a-.com", "a.-b", "exa mple.com", "under_score.com",
                                       "ex!.com", "\xc3\xa9.com", "a/b", "a:80", "tab\t.com" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (psw_domain_valid(bad[i]))
            fail_msg("domain \"%s\" should be invalid", bad[i]);
    assert_false(psw_domain_valid(NULL));
    assert_false(psw_domain_valid(d254));
    assert_true(psw_domain_valid(rep(0, 'a', 63, "", ".com")));
    assert_false(psw_domain_valid(rep(1, 'a', 64, "", ".com")));
}

struct url_case {
    const char *url;
    size_t max;
    const char *msg; /* NULL = valid */
};

static void test_urls(void **state)
{
    (void)state;
    char err[512];
    /* 64 characters exactly, and 65. */
    char url64[80], url65[80];
    snprintf(url64, sizeof(url64), "%s", rep(0, 'p', 45, "http://example.com/", ""));
    snprintf(url65, sizeof(url65), "%s", rep(1, 'p', 46, "http://example.com/", ""));
    assert_int_equal(strlen(url64), 64);
    assert_int_equal(strlen(url65), 65);

    const struct url_case cases[] = {
        /* accepted */
        { "http://example.com", 2048, NULL },
        { "https://example.com/hooks?x=1&y=%20", 2048, NULL },
        { "HTTPS://Example.COM:8443/a/b", 2048, NULL },
        { "http://127.0.0.1:8080/hook", 2048, NULL },
        { "http://[::1]:9000/", 2048, NULL },
        { "http://my_service:8080/hook", 2048, NULL },
        { "http://localhost/", 2048, NULL },
        { "https://example.com./x", 2048, NULL },
        { "https://example.com/path@with-at", 2048, NULL },
        { "https://xn--bcher-kva.example/", 2048, NULL },
        { url64, 64, NULL },
        /* refused, with the exact message */
        { "", 2048, "url: required (http:// or https:// followed by a host)" },
        { NULL, 2048, "url: required (http:// or https:// followed by a host)" },
        { "ftp://example.com/hook", 2048, "url: scheme \"ftp\" is not allowed; use http or https" },
        { "file:///etc/passwd", 2048, "url: scheme \"file\" is not allowed; use http or https" },
        { "javascript:alert(1)", 2048,
          "url: scheme \"javascript\" is not allowed; use http or https" },
        { "mailto:a@b.example", 2048,
          "url: scheme \"mailto\" is not allowed; use http or https" },
        { "http://", 2048, "url: a host is required after http://" },
        { "HTTPS://", 2048, "url: a host is required after https://" },
        { "http:///path", 2048, "url: a host is required after http://" },
        { "https://?q=1", 2048, "url: a host is required after https://" },
        { "http://user:pass@example.com/", 2048, CREDS },
        { "https://user@example.com/", 2048, CREDS },
        { "http://:secret@example.com/", 2048, CREDS },
        { "http://@example.com/", 2048, CREDS },
        { url65, 64, "url: too long (65 characters, at most 64: limits.max_url_length)" },
        { "http://example.com/a b", 2048, SPACE_AT(21) },
        { "http://exa mple.com/", 2048, SPACE_AT(11) },
        { " http://example.com/", 2048, SPACE_AT(1) },
        { "http://example.com/\tx", 2048, CTRL_AT(20) },
        { "http://example.com/x\n", 2048, CTRL_AT(21) },
        { "http://example.com/\x7f", 2048, CTRL_AT(20) },
        { "http://example.com/hook#frag", 2048,
          "url: a fragment (#...) is not allowed; it is never sent to the receiver" },
        { "http://example.com#", 2048,
          "url: a fragment (#...) is not allowed; it is never sent to the receiver" },
        { "example.com/hook", 2048, START },
        { "//example.com/hook", 2048, START },
        { "://example.com", 2048, START },
        { "http:/example.com", 2048, START " (two slashes)" },
        { "http:example.com", 2048, START " (two slashes)" },
        { "http://example.com:99999/", 2048, PORT },
        { "http://example.com:0/", 2048, PORT },
        { "http://example.com:port/", 2048, PORT },
        { "http://-bad-.example.com/", 2048, BAD_HOST },
        { "http://a..b/", 2048, BAD_HOST },
        { "http://ex!ample.com/", 2048, NULL /* curl refuses: checked by prefix below */ },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct url_case *c = &cases[i];
        err[0] = '\0';
        int rc = psw_url_check(c->url, c->max, err, sizeof(err));
        if (c->url && strcmp(c->url, "http://ex!ample.com/") == 0) {
            /* The wording after the prefix is libcurl's; only the prefix is ours. */
            assert_int_equal(rc, -1);
            if (strncmp(err, "url: ", 5) != 0)
                fail_msg("ex!ample: message \"%s\" does not start with url:", err);
            continue;
        }
        if (!c->msg) {
            if (rc != 0)
                fail_msg("case %zu \"%s\": refused with \"%s\"", i, c->url, err);
            continue;
        }
        if (rc != -1)
            fail_msg("case %zu \"%s\": accepted, expected \"%s\"", i, c->url ? c->url : "(null)",
                     c->msg);
        if (strcmp(err, c->msg) != 0)
            fail_msg("case %zu \"%s\":\n  got      \"%s\"\n  expected \"%s\"", i,
                     c->url ? c->url : "(null)", err, c->msg);
    }
}

static void test_url_message_hides_password(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(psw_url_check("https://admin:hunter2@example.com/x", 2048, err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(err, "admin"));
}

struct ev_case {
    const char *in;
    const char *out; /* NULL = error */
    const char *msg;
};

static void test_events(void **state)
{
    (void)state;
    char out[PSW_EVENTS_SIZE], err[512];
    const struct ev_case cases[] = {
        { "*", "*", NULL },
        { " * ", "*", NULL },
        { "email.sent", "email.sent", NULL },
        { "email.sent, email.bounced", "email.sent,email.bounced", NULL },
        { "email.bounced ,email.sent", "email.bounced,email.sent", NULL },
        { "\temail.opened\t,\temail.clicked ", "email.opened,email.clicked", NULL },
        { "email.bounced,email.sent,email.bounced,email.sent", "email.bounced,email.sent", NULL },
        { "email.unsubscribed,email.complained,email.clicked,email.opened,email.bounced,"
          "email.delivered,email.sent,email.queued",
          "email.unsubscribed,email.complained,email.clicked,email.opened,email.bounced,"
          "email.delivered,email.sent,email.queued",
          NULL },
        { "", NULL, "events: must not be empty; use * for every event or a list of: " TYPES },
        { "  ", NULL, "events: must not be empty; use * for every event or a list of: " TYPES },
        { NULL, NULL, "events: must not be empty; use * for every event or a list of: " TYPES },
        { "email.foo", NULL, "events: unknown event type \"email.foo\"; valid: *, " TYPES },
        { "email.sent,Email.Bounced", NULL,
          "events: unknown event type \"Email.Bounced\"; valid: *, " TYPES },
        { "sent", NULL, "events: unknown event type \"sent\"; valid: *, " TYPES },
        { "email.sent email.bounced", NULL,
          "events: unknown event type \"email.sent email.bounced\"; valid: *, " TYPES },
        { "email.sent,,email.opened", NULL, "events: empty entry at position 2 of the list" },
        { "email.sent,", NULL, "events: empty entry at position 2 of the list" },
        { ",email.sent", NULL, "events: empty entry at position 1 of the list" },
        { "*,email.sent", NULL,
          "events: * already means every event; give * alone or a list of types" },
        { "email.sent,*", NULL,
          "events: * already means every event; give * alone or a list of types" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ev_case *c = &cases[i];
        out[0] = err[0] = '\0';
        int rc = psw_events_normalize(c->in, out, sizeof(out), err, sizeof(err));
        if (c->out) {
            if (rc != 0)
                fail_msg("case %zu \"%s\": refused with \"%s\"", i, c->in, err);
            if (strcmp(out, c->out) != 0)
                fail_msg("case %zu \"%s\": got \"%s\", expected \"%s\"", i, c->in, out, c->out);
        } else {
            if (rc != -1)
                fail_msg("case %zu \"%s\": accepted as \"%s\"", i, c->in ? c->in : "(null)", out);
            if (strcmp(err, c->msg) != 0)
                fail_msg("case %zu:\n  got      \"%s\"\n  expected \"%s\"", i, err, c->msg);
        }
    }
    /* A long unknown name is cut in the message, and only printable bytes are echoed. */
    const char *longname = rep(0, 'x', 100, "email.", "");
    assert_int_equal(psw_events_normalize(longname, out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"email.xxxxxxxxxx"));
    assert_non_null(strstr(err, "xxx...\"; valid"));
    assert_int_equal(psw_events_normalize("email.\x01x", out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"email.?x\""));
    /* An output buffer too small is an error, not a truncated filter. */
    char small[12];
    assert_int_equal(psw_events_normalize("email.sent,email.bounced", small, sizeof(small), err,
                                          sizeof(err)),
                     -1);
    assert_string_equal(err, "events: the list does not fit in 12 bytes");
    assert_int_equal(psw_events_normalize("email.sent", small, sizeof(small), err, sizeof(err)),
                     0);
    assert_string_equal(small, "email.sent");
}

/* Internationalized hosts become their ASCII form; the rest of the URL is
 * kept; ASCII hosts and unparsable URLs are left alone (NULL). */
static void test_url_idn_to_ascii(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want; /* want NULL: no conversion; "!" prefix: error */
    } cases[] = {
        { "https://hooks.example.com/a?b=1", NULL },
        { "http://b\xc3\xbc" "cher.example:8443/p/\xc3\xa4?q=\xc3\xb6#",
          "http://xn--bcher-kva.example:8443/p/\xc3\xa4?q=\xc3\xb6" },
        { "https://\xef\xbc\xa5\xef\xbc\xb8.com/", "https://ex.com/" },
        { "http://\xef\xbc\x91\xef\xbc\x90\xef\xbc\x8e\xef\xbc\x91\xef\xbc\x8e"
          "\xef\xbc\x92\xef\xbc\x8e\xef\xbc\x93/",
          "http://10.1.2.3/" },
        { "http://\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88/",
          "http://xn--r8jz45g.xn--zckzah/" },
        { "http://\xe2\x98\x83\xe2\x80\x8d.example/", "!url: host \"" },
        { "not a url", NULL },
        { "http://xn--bcher-kva.example/", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL, err[512] = "";
        int rc = psw_url_idn_to_ascii(cases[i].in, &out, err, sizeof(err));
        const char *want = cases[i].want;
        if (want && want[0] == '!') {
            if (rc != -1 || out || strncmp(err, want + 1, strlen(want + 1)) != 0)
                fail_msg("case %zu: rc %d, err \"%s\"", i, rc, err);
            continue;
        }
        if (rc != 0)
            fail_msg("case %zu: rc %d (%s)", i, rc, err);
        if (!want ? out != NULL : !out || strcmp(out, want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, out ? out : "(null)",
                     want ? want : "(null)");
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_idn_to_ascii),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_url_message_hides_password),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
