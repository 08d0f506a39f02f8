/*
 * delivery.h — reading the delivery log and replaying deliveries (docs/redis.md,
 * §8: psw deliveries, psw delivery show, psw replay). The CLI and the HTTP
 * API call these; they print, these decide.
 *
 * Ownership: structs filled here own their strings/JSON; free them with the
 * matching *_free function (safe on zeroed structs).
 */
#ifndef PSW_DELIVERY_H
#define PSW_DELIVERY_H

#include <stddef.h>

#include "common/ctx.h"
#include "common/ids.h"

struct json_object;

/* One delivery hash, as stored (docs/redis.md fields). Times are unix ms, 0 = unset. */
struct psw_delivery {
    char id[PSW_ID_SIZE];
    char *event_id, *endpoint_id, *event_type, *account_id;
    char *state;           /* pending in_flight scheduled delivered failed skipped batched */
    long long attempts;
    long long created_at, first_attempt_at, last_attempt_at, next_attempt_at, delivered_at;
    long long last_status; /* 0 = none */
    char *last_error;      /* "" = none */
    long long last_latency_ms;
    char *failed_reason;   /* "" unless failed: exhausted expired crashed event_expired */
    char *trigger;         /* what the next/current attempt is: first retry replay */
    char *batch_id;        /* "" or the batch (bat_…) that carried it (docs/redis.md) */
    long long batch_count; /* a batch's own record: how many events it carries */
};

#define PSW_DELIVERY_STATES "pending,in_flight,scheduled,delivered,failed,skipped,batched"

struct psw_delivery_query {
    const char *endpoint_id;  /* required */
    const char *states;       /* comma list of states, NULL = all */
    long long since, until;   /* created_at range in ms, inclusive; 0 = open */
    size_t limit;             /* 0 = default 50; at most 10000 */
    const char *types;        /* comma list of event types, NULL = all */
    const char *cursor;       /* where an earlier page stopped (psw_delivery_page), NULL = top */
};

#define PSW_DELIVERY_CURSOR_SIZE 64

/* Newest first. *out is an array of *n deliveries (psw_delivery_list_free).
 * PSW_EINVAL for a bad state name or since > until, PSW_ENOTFOUND for an
 * endpoint that never existed. */
int psw_delivery_list(struct psw_ctx *ctx, const struct psw_delivery_query *q,
                      struct psw_delivery **out, size_t *n, char *err, size_t errlen);
void psw_delivery_list_free(struct psw_delivery *d, size_t n);

/* psw_delivery_list, plus where to go on: next_cursor receives an opaque
 * cursor for q->cursor ("" when the range holds nothing more). The cursor
 * is a position in the index, so deliveries created meanwhile do not shift
 * the pages. PSW_EINVAL for a malformed cursor or an unknown type. */
int psw_delivery_page(struct psw_ctx *ctx, const struct psw_delivery_query *q,
                      struct psw_delivery **out, size_t *n,
                      char next_cursor[PSW_DELIVERY_CURSOR_SIZE], char *err, size_t errlen);

/* One delivery with its event body and every attempt record (parsed JSON,
 * oldest first). */
struct psw_delivery_detail {
    struct psw_delivery d;
    char *event_body;               /* the exact bytes sent; NULL if the event expired */
    struct json_object **attempts;  /* n_attempts records (json_object_put each) */
    size_t n_attempts;
};
int psw_delivery_get(struct psw_ctx *ctx, const char *id, struct psw_delivery_detail *out,
                     char *err, size_t errlen);
void psw_delivery_detail_free(struct psw_delivery_detail *dd);

/* Replay: deliver again now, whatever the state, as a new attempt cycle
 * (attempt records say trigger "replay"; the retry schedule counts from the
 * replay). A delivery in flight right now is not replayed (result
 * "in_flight"); one already waiting in ready is left there ("pending"). */
struct psw_replay_result {
    char id[PSW_ID_SIZE];
    char result[24]; /* queued | pending | in_flight | not_found | endpoint_disabled | endpoint_deleted */
};

struct psw_replay_options {
    int enable; /* enable a disabled endpoint first instead of refusing */
    int dry_run; /* psw_replay_range: only count what matches; queue nothing */
};

/* Replays the given deliveries; res has n entries. Returns the number
 * queued, or a negative PSW_E* on failure. */
int psw_replay_ids(struct psw_ctx *ctx, const char *const *ids, size_t n,
                   const struct psw_replay_options *opt, struct psw_replay_result *res,
                   char *err, size_t errlen);

/* Replays the deliveries of one endpoint created in [since, until] whose
 * state is in states (NULL = "failed,skipped"). Refuses (PSW_ECONFLICT) when
 * the endpoint is disabled unless opt->enable. Returns the number queued
 * (and *matched = how many matched), or a negative PSW_E*. */
int psw_replay_range(struct psw_ctx *ctx, const char *endpoint_id, long long since,
                     long long until, const char *states, const struct psw_replay_options *opt,
                     size_t *matched, char *err, size_t errlen);

struct json_object *psw_delivery_to_json(const struct psw_delivery *d);
struct json_object *psw_delivery_detail_to_json(const struct psw_delivery_detail *dd);

#endif
