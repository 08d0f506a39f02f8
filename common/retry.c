/*
 * retry.c — the retry policy (see retry.h, docs/events.md). Pure functions over int64
 * unix milliseconds; nothing is allocated.
 *
 * Invariants: a returned retry time is never later than cycle_start + max_age
 * (the deadline), and never earlier than the end of the failed attempt plus
 * its scheduled delay unless the deadline forces it. Once an attempt has
 * ended at or past the deadline there is no further retry ("expired"), which
 * is checked before the schedule running out ("exhausted"): the clamped final
 * attempt is reported as expired whatever the schedule says.
 */
#include "common/retry.h"

#include <string.h>

#include <curl/curl.h>

/* A Retry-After of more than ten years is nonsense; it is capped, not
 * refused, since the receiver clearly asked for "much later". */
#define RETRY_AFTER_MAX_S (10LL * 365 * 86400)

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

enum psw_retry_verdict psw_retry_next(const struct psw_retry_policy *p, int attempts,
                                      int64_t cycle_start, int64_t last_end,
                                      int64_t not_before, int64_t *next_ms,
                                      const char **reason)
{
    int64_t deadline = sat_add(cycle_start, p->max_age_ms > 0 ? p->max_age_ms : 0);

    /* attempts counts the one that just failed, so it is at least 1. */
    if (attempts < 1)
        attempts = 1;
    if (last_end >= deadline) {
        *reason = "expired";
        return PSW_RETRY_GIVE_UP;
    }
    if ((size_t)(attempts - 1) >= p->n) {
        *reason = "exhausted";
        return PSW_RETRY_GIVE_UP;
    }
    int64_t delay = p->schedule_ms[attempts - 1];
    int64_t next = sat_add(last_end, delay > 0 ? delay : 0);
    if (not_before > next)
        next = not_before;
    if (next > deadline)
        next = deadline;
    *next_ms = next;
    return PSW_RETRY_AT;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int psw_retry_after_parse(const char *value, int64_t now_ms, int64_t *at_ms)
{
    char buf[128];
    size_t len;

    if (!value)
        return -1;
    /* Header values may arrive with their surrounding whitespace or CRLF. */
    while (is_ows(*value))
        value++;
    len = strlen(value);
    while (len > 0 && is_ows(value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;

    /* Every HTTP date form starts with a day name, so anything starting with
     * a digit is delta-seconds or nothing, and anything else not starting
     * with a letter is nothing (curl_getdate is lenient: it reads
     * "21 Oct 2026" or "-21 Oct 2026" as dates of its own). */
    if (value[0] >= '0' && value[0] <= '9') {
        int64_t s = 0;
        for (size_t i = 0; i < len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return -1;
            if (s < RETRY_AFTER_MAX_S)
                s = s * 10 + (value[i] - '0');
        }
        if (s > RETRY_AFTER_MAX_S)
            s = RETRY_AFTER_MAX_S;
        *at_ms = sat_add(now_ms, s * 1000);
        return 0;
    }
    if (!((value[0] >= 'A' && value[0] <= 'Z') || (value[0] >= 'a' && value[0] <= 'z')))
        return -1;

    memcpy(buf, value, len);
    buf[len] = '\0';
    time_t t = curl_getdate(buf, NULL);
    if (t < 0)
        return -1;
    /* Capped like delta-seconds; curl reads years up to 999999999, whose
     * milliseconds do not fit in 64 bits. */
    int64_t cap_ms = sat_add(now_ms, RETRY_AFTER_MAX_S * 1000);
    *at_ms = (int64_t)t > cap_ms / 1000 ? cap_ms : (int64_t)t * 1000;
    return 0;
}
