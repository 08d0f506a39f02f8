/*
 * event_body.h — the reference an event's body is checked against: what
 * json-c prints for it (docs/events.md "The body"). common/event.c builds
 * the body from the input's own text when that text is already in json-c's
 * form; tests/unit/test_event.c and tests/fuzz/fuzz_event.c compare that
 * body with this one, built apart from event.c with json-c alone.
 *
 * Plain C on json-c, no cmocka: the fuzz harness links it without the test
 * harness (Makefile).
 */
#ifndef PSW_TEST_EVENT_BODY_H
#define PSW_TEST_EVENT_BODY_H

#include <stddef.h>

#include "common/event.h"

/* json-c's rendering of the event that text[0..len) was parsed into (ev,
 * accepted by psw_event_parse): the six known keys from ev, then data and
 * the other top-level keys of the text as json-c parses them, printed
 * compactly. text need not be NUL-terminated. Returns a heap string the
 * caller frees, or NULL when json-c does not parse the text, it has no
 * data, or memory runs out. */
char *psw_test_event_body(const char *text, size_t len, const struct psw_event *ev);

#endif
