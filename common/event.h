/*
 * event.h — parse, validate and normalize a published email event (docs/events.md).
 *
 * psw_event_parse() either fills a struct psw_event completely or fails with
 * a message that names the field ("data.bounce.type: must be \"hard\" or
 * \"soft\""); it never half-fills. The delivered body is rendered here, once:
 * every attempt sends exactly these bytes.
 *
 * Ownership: the strings in struct psw_event are heap copies owned by it;
 * psw_event_free() releases them (safe on a zeroed or failed struct).
 */
#ifndef PSW_EVENT_H
#define PSW_EVENT_H

#include <stddef.h>
#include <stdint.h>

enum psw_event_type {
    PSW_EV_QUEUED = 0,
    PSW_EV_SENT,
    PSW_EV_DELIVERED,
    PSW_EV_BOUNCED,
    PSW_EV_OPENED,
    PSW_EV_CLICKED,
    PSW_EV_COMPLAINED,
    PSW_EV_UNSUBSCRIBED,
    PSW_EV__COUNT
};

/* "email.queued" … "email.unsubscribed", indexed by enum psw_event_type. */
extern const char *const psw_event_type_names[PSW_EV__COUNT];

/* The enum value of a type name, or -1. */
int psw_event_type_parse(const char *name);

#define PSW_EVENT_ID_MAX 128

struct psw_event_limits {
    size_t max_bytes; /* limits.max_event_bytes */
    int    max_depth; /* limits.max_json_depth: nesting of objects/arrays, whole document */
};
#define PSW_EVENT_LIMITS_INIT { 262144, 16 }

struct psw_event {
    char    id[PSW_EVENT_ID_MAX + 1]; /* client id, or a generated "evt_…" */
    int     type;                     /* enum psw_event_type */
    char   *account_id;
    char   *domain;                   /* lower-cased */
    int64_t created_at_ms;
    char   *body;                     /* normalized JSON, NUL-terminated */
    size_t  body_len;
};

/*
 * Parses one event from json[0..len). now_ms fills created_at when absent; a
 * missing id is generated. Returns 0, or -1 with err naming the field.
 *
 * The body has the keys id, type, created_at, account_id, domain, data in
 * that order, then any other top-level keys the input had, unchanged;
 * created_at is rewritten to "YYYY-MM-DDTHH:MM:SS.mmmZ" UTC.
 */
int psw_event_parse(const char *json, size_t len, const struct psw_event_limits *lim,
                    int64_t now_ms, struct psw_event *ev, char *err, size_t errlen);

/*
 * The same for an event whose text the caller has parsed already, as part of
 * a larger document (POST /v1/events with a list): tree is json-c's tree of
 * exactly json[0..len) (strict, UTF-8 validated), or NULL to parse the text
 * here. The text is still read for what json-c lets through and for the
 * body; the tree is not changed, and stays the caller's. The result is what
 * psw_event_parse gives for the same text.
 */
struct json_object;
int psw_event_parse_tree(const char *json, size_t len, struct json_object *tree,
                         const struct psw_event_limits *lim, int64_t now_ms,
                         struct psw_event *ev, char *err, size_t errlen);

void psw_event_free(struct psw_event *ev);

#endif
