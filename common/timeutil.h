/*
 * timeutil.h — clocks, ISO 8601 timestamps, durations and relative ages.
 *
 * All wall-clock times in this project are int64 unix milliseconds (UTC), the
 * unit Redis keys store. Durations are int64 milliseconds too.
 */
#ifndef PSW_TIMEUTIL_H
#define PSW_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define PSW_ISO_SIZE 32 /* "2026-11-27T15:04:05.123Z" + NUL, with room */

int64_t psw_now_ms(void);  /* CLOCK_REALTIME */
int64_t psw_mono_ms(void); /* CLOCK_MONOTONIC, for measuring intervals */

/* Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (always UTC, always milliseconds). */
void psw_time_format(int64_t ms, char out[PSW_ISO_SIZE]);

/* Parses ISO 8601: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.f…]]" followed by
 * "Z", "+HH:MM", "-HH:MM" or "+HHMM" (no zone = UTC). Returns 0, or -1 when s
 * is not such a time (trailing bytes included). */
int psw_time_parse_iso(const char *s, int64_t *ms_out);

/* Parses a duration: a sequence of <digits><unit> with unit ms, s, m, h, d,
 * e.g. "250ms", "5s", "1h30m", "30d"; "0" alone is 0. Returns 0 or -1. */
int psw_duration_parse(const char *s, int64_t *ms_out);

/* Writes the shortest exact form: 250 → "250ms", 90000 → "1m30s", 0 → "0s". */
void psw_duration_format(int64_t ms, char *out, size_t n);

/* A time argument from the command line: ISO 8601, a relative age ("2h"
 * means now − 2h), or "now". Returns 0 or -1. */
int psw_time_parse_arg(const char *s, int64_t now_ms, int64_t *ms_out);

#endif
