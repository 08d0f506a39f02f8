/*
 * retry.h — when the next attempt of a failed delivery happens (docs/events.md).
 *
 * A cycle starts with the first attempt (or a replay). schedule[i] is the
 * delay before retry i+1, counted from the end of the previous attempt. The
 * whole cycle is bounded by max_age: a retry that would fall later than
 * cycle start + max_age is made once at exactly that moment; after an attempt
 * at or past that moment the delivery gives up ("expired"). When the schedule
 * runs out first it gives up ("exhausted").
 */
#ifndef PSW_RETRY_H
#define PSW_RETRY_H

#include <stddef.h>
#include <stdint.h>

struct psw_retry_policy {
    const int64_t *schedule_ms;
    size_t         n;
    int64_t        max_age_ms;
};

enum psw_retry_verdict { PSW_RETRY_GIVE_UP = 0, PSW_RETRY_AT = 1 };

/*
 * attempts:      attempts made so far in this cycle, ≥ 1 (the one that just failed included)
 * cycle_start:   when the cycle's first attempt started
 * last_end:      when the attempt that just failed ended
 * not_before:    a Retry-After moment from the receiver, or 0 for none
 * On PSW_RETRY_AT, *next_ms is when to try again. On PSW_RETRY_GIVE_UP,
 * *reason is "exhausted" or "expired" (static strings).
 */
enum psw_retry_verdict psw_retry_next(const struct psw_retry_policy *p, int attempts,
                                      int64_t cycle_start, int64_t last_end,
                                      int64_t not_before, int64_t *next_ms,
                                      const char **reason);

/* Parses a Retry-After value: delta seconds ("120") or an HTTP date
 * ("Wed, 21 Oct 2026 07:28:00 GMT"). Returns 0 with *at_ms = the moment
 * (at most ten years after now_ms), or -1 when the value is neither. */
int psw_retry_after_parse(const char *value, int64_t now_ms, int64_t *at_ms);

#endif
