/*
 * fuzz_event.c — libFuzzer harness for psw_event_parse (common/event.c).
 *
 * The input is the raw publish body. Properties checked on every input:
 *  - a rejected event leaves *ev zeroed and a non-empty message;
 *  - an accepted one has a body of body_len bytes, NUL-terminated, a known
 *    type, a valid id, a lower-case domain and created_at inside
 *    1970 … 9999 UTC;
 *  - round trip: the body parses again (at another "now", so created_at must
 *    come from the body) into the very same event, byte for byte;
 *  - limits are monotonic: what passes under tight limits (depth 3, half the
 *    size) passes under the defaults too;
 *  - the body is what json-c prints for the event (event.c builds it from the
 *    input's own text when it can: the two must never differ).
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>

#include "common/event.h"
#include "common/ids.h"
#include "common/validate.h"
#include "tests/lib/event_body.h"

#define EV_MAX_CREATED_MS 253402300799999LL

static void ev_check_accepted(const struct psw_event *ev)
{
    FUZZ_REQUIRE(ev->body && ev->account_id && ev->domain, "accepted event with NULL fields");
    FUZZ_REQUIRE(strlen(ev->body) == ev->body_len, "body_len %zu, strlen %zu", ev->body_len,
                 strlen(ev->body));
    FUZZ_REQUIRE(ev->type >= 0 && ev->type < PSW_EV__COUNT, "type %d", ev->type);
    FUZZ_REQUIRE(psw_token_valid(ev->id, PSW_EVENT_ID_MAX), "id \"%s\"", ev->id);
    FUZZ_REQUIRE(psw_token_valid(ev->account_id, PSW_EVENT_ID_MAX), "account_id \"%s\"",
                 ev->account_id);
    FUZZ_REQUIRE(psw_domain_valid(ev->domain), "domain \"%s\"", ev->domain);
    for (const char *p = ev->domain; *p; p++)
        FUZZ_REQUIRE(!(*p >= 'A' && *p <= 'Z'), "domain not lower-cased: \"%s\"", ev->domain);
    FUZZ_REQUIRE(ev->created_at_ms >= 0 && ev->created_at_ms <= EV_MAX_CREATED_MS,
                 "created_at_ms %lld", (long long)ev->created_at_ms);
    FUZZ_REQUIRE(ev->body[0] == '{' && ev->body[ev->body_len - 1] == '}', "body %s", ev->body);
}

/* The body must be what json-c prints for the event (docs/events.md):
 * event.c builds the body from the input's own text when that text is
 * already in json-c's form; this checks the claim on every accepted input
 * against tests/lib/event_body.c, which uses json-c alone. */
static void ev_check_json_c_body(const char *json, size_t size, const struct psw_event *ev)
{
    char *want = psw_test_event_body(json, size, ev);
    FUZZ_REQUIRE(want, "accepted, json-c: no data (or out of memory)");
    FUZZ_REQUIRE(strcmp(want, ev->body) == 0, "body %s\n  json-c: %s", ev->body, want);
    free(want);
}

static void ev_check_rejected(const struct psw_event *ev, const char *err)
{
    FUZZ_REQUIRE(err[0] != '\0', "rejected without a message");
    FUZZ_REQUIRE(!ev->body && !ev->account_id && !ev->domain && ev->id[0] == '\0' &&
                     ev->body_len == 0,
                 "rejected event not zeroed (%s)", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct psw_event_limits lim = PSW_EVENT_LIMITS_INIT;
    struct psw_event ev, again, tight_ev;
    char err[512], err2[512];
    const char *json = (const char *)data;

    if (psw_event_parse(json, size, &lim, FUZZ_NOW_MS, &ev, err, sizeof(err)) != 0) {
        ev_check_rejected(&ev, err);
    } else {
        ev_check_accepted(&ev);
        ev_check_json_c_body(json, size, &ev);

        /* The normalized body is what every attempt sends: parsing it again
         * must give the same event. Its size can exceed the input's by the
         * added id and created_at, hence the larger bound. */
        struct psw_event_limits relim = lim;
        relim.max_bytes = ev.body_len + 1;
        int rc = psw_event_parse(ev.body, ev.body_len, &relim, FUZZ_NOW_MS + 98765, &again, err2,
                                 sizeof(err2));
        FUZZ_REQUIRE(rc == 0, "body rejected on re-parse: %s\nbody: %s", err2, ev.body);
        FUZZ_REQUIRE(again.body_len == ev.body_len && memcmp(again.body, ev.body, ev.body_len) == 0,
                     "round trip changed the body\nfirst:  %s\nsecond: %s", ev.body, again.body);
        FUZZ_REQUIRE(strcmp(again.id, ev.id) == 0, "id %s -> %s", ev.id, again.id);
        FUZZ_REQUIRE(again.type == ev.type, "type %d -> %d", ev.type, again.type);
        FUZZ_REQUIRE(strcmp(again.account_id, ev.account_id) == 0, "account_id changed");
        FUZZ_REQUIRE(strcmp(again.domain, ev.domain) == 0, "domain changed");
        FUZZ_REQUIRE(again.created_at_ms == ev.created_at_ms, "created_at %lld -> %lld",
                     (long long)ev.created_at_ms, (long long)again.created_at_ms);
        psw_event_free(&again);
    }

    /* Tight limits: never more permissive than the defaults. */
    struct psw_event_limits tight = { size / 2, 3 };
    if (psw_event_parse(json, size, &tight, FUZZ_NOW_MS, &tight_ev, err2, sizeof(err2)) == 0) {
        ev_check_accepted(&tight_ev);
        FUZZ_REQUIRE(ev.body != NULL, "accepted under tight limits, rejected under defaults: %s",
                     err);
        psw_event_free(&tight_ev);
    } else {
        ev_check_rejected(&tight_ev, err2);
    }

    psw_event_free(&ev);
    return 0;
}
