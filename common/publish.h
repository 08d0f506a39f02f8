/*
 * publish.h — publishing events: validate, store, fan out (docs/events.md).
 *
 * Validation happens before anything is sent to Redis, so a bad event
 * stores nothing; storing and fan-out are one Lua script (publish.lua), so
 * an event is either fully fanned out or not stored at all. Publishing an id
 * that exists writes nothing and reports a duplicate (idempotent by id).
 */
#ifndef PSW_PUBLISH_H
#define PSW_PUBLISH_H

#include <stddef.h>

#include "common/ctx.h"
#include "common/event.h"

/* psw_publish_many sends at most this many events per round trip. */
#define PSW_PUBLISH_CHUNK 64

struct psw_publish_result {
    int  status;      /* PSW_OK, or the error code for this event */
    int  duplicate;   /* 1: the id existed already; nothing was written */
    int  deliveries;  /* deliveries created (for a duplicate: when first published) */
    int  skipped;     /* of which recorded 'skipped' (endpoint disabled) */
    char event_id[PSW_EVENT_ID_MAX + 1];
    char err[512];    /* why it failed, when status != PSW_OK */
};

/* Publishes one event (JSON text). Returns res->status. */
int psw_publish(struct psw_ctx *ctx, const char *json, size_t len,
                struct psw_publish_result *res);

/* Publishes n events, pipelined in chunks: one round trip per chunk instead
 * of per event. Each event gets its own result; a bad event does not stop
 * the others. Returns the number of events that failed (0 = all published),
 * or PSW_EFAIL when Redis failed (the events whose result says so were not
 * confirmed; publishing them again is safe). */
int psw_publish_many(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                     const size_t *lens, struct psw_publish_result *res);

/* The same, for events the caller has parsed already (POST /v1/events):
 * trees[i] is json-c's tree of exactly jsons[i][0..lens[i]), or NULL
 * (psw_event_parse_tree). The trees stay the caller's. */
int psw_publish_many_parsed(struct psw_ctx *ctx, size_t n, const char *const *jsons,
                            const size_t *lens, struct json_object *const *trees,
                            struct psw_publish_result *res);

#endif
