/*
 * timeutil.c — see timeutil.h. Pure functions over int64 milliseconds; the
 * calendar math is done by hand (days from civil) so parsing never depends on
 * the process time zone or on timegm's range.
 */
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t psw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t psw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Howard Hinnant's days_from_civil: days since 1970-01-01 of y-m-d. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

void psw_time_format(int64_t ms, char out[PSW_ISO_SIZE])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* The calendar fields are in range; the wide buffer only quiets gcc's
     * truncation analysis, which cannot see that. */
    char tmp[96];
    if (y >= 0 && y <= 9999 && PSW_ISO_SIZE > 24) {
        /* the usual years, digit by digit: publishing formats one time per
         * event, and snprintf was most of that (docs/performance.md) */
        int v[7] = { y, (int)m, (int)d, (int)(rem / 3600), (int)(rem / 60 % 60),
                     (int)(rem % 60), msec };
        static const char sep[7] = { '-', '-', 'T', ':', ':', '.', 'Z' };
        static const int width[7] = { 4, 2, 2, 2, 2, 2, 3 };
        char *p = tmp;
        for (int i = 0; i < 7; i++) {
            for (int k = width[i] - 1; k >= 0; k--, v[i] /= 10)
                p[k] = (char)('0' + v[i] % 10);
            p += width[i];
            *p++ = sep[i];
        }
        *p = '\0';
    } else {
        snprintf(tmp, sizeof(tmp), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d,
                 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), msec);
    }
    size_t len = strnlen(tmp, PSW_ISO_SIZE - 1);
    memcpy(out, tmp, len);
    out[len] = '\0';
}

/* Reads exactly n digits at *p into *out. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int psw_time_parse_iso(const char *s, int64_t *ms_out)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, msec = 0, off = 0;

    if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return -1;
            if (*p == '.' || *p == ',') {
                p++;
                int scale = 100, nd = 0;
                while (isdigit((unsigned char)*p)) {
                    msec += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                    nd++;
                }
                if (nd == 0)
                    return -1;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            off = sign * (oh * 60 + om);
        }
    }
    if (*p != '\0')
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off * 60;
    *ms_out = secs * 1000 + msec;
    return 0;
}

int psw_duration_parse(const char *s, int64_t *ms_out)
{
    const char *p = s;
    int64_t total = 0;
    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms_out = 0;
        return 0;
    }
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX / 10) - 10)
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else {
            return -1;
        }
        if (v > (INT64_MAX - total) / unit)
            return -1;
        total += v * unit;
    }
    *ms_out = total;
    return 0;
}

void psw_duration_format(int64_t ms, char *out, size_t n)
{
    static const struct { int64_t ms; const char *unit; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" },
    };
    /* Built whole, then copied only if it fits: a cut-off "1m3" would be a
     * wrong duration, an empty string is an obvious one. INT64_MAX ms is
     * "106751991167d7h12m55s807ms", well within tmp. */
    char tmp[64];
    size_t len = 0;
    if (n == 0)
        return;
    if (ms <= 0) {
        snprintf(tmp, sizeof(tmp), "%lld%s", (long long)ms, ms == 0 ? "s" : "ms");
        len = strlen(tmp);
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int w = snprintf(tmp + len, sizeof(tmp) - len, "%lld%s",
                             (long long)(ms / units[i].ms), units[i].unit);
            if (w < 0 || (size_t)w >= sizeof(tmp) - len)
                break;
            len += (size_t)w;
            ms %= units[i].ms;
        }
    }
    if (len >= n)
        len = 0;
    memcpy(out, tmp, len);
    out[len] = '\0';
}

int psw_time_parse_arg(const char *s, int64_t now_ms, int64_t *ms_out)
{
    int64_t age;
    if (!s || !*s)
        return -1;
    if (strcmp(s, "now") == 0) {
        *ms_out = now_ms;
        return 0;
    }
    if (psw_time_parse_iso(s, ms_out) == 0)
        return 0;
    if (psw_duration_parse(s, &age) == 0) {
        *ms_out = now_ms - age;
        return 0;
    }
    return -1;
}
