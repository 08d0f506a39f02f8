/*
 * log.c — formats one line per call into a stack buffer and writes it with a
 * single write(2), so lines from forked children never interleave mid-line
 * (writes below PIPE_BUF to a pipe are atomic; to a file they are appended
 * whole in practice). Text lines show control characters escaped (a line
 * is one line, and no byte in it acts on a terminal). Owns no heap memory.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/termsafe.h"
#include "common/timeutil.h"

enum psw_log_level psw_log_min_level = PSW_LOG_INFO;
static enum psw_log_format log_format = PSW_LOG_TEXT;
static char log_role[32] = "psw";

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const level_upper[] = { "DEBUG", "INFO", "WARN", "ERROR" };

void psw_log_init(const char *role, enum psw_log_level min, enum psw_log_format fmt)
{
    if (role)
        snprintf(log_role, sizeof(log_role), "%s", role);
    psw_log_min_level = min;
    log_format = fmt;
}

int psw_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

const char *psw_log_level_name(enum psw_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

int psw_log_format_parse(const char *s)
{
    if (strcmp(s, "text") == 0)
        return PSW_LOG_TEXT;
    if (strcmp(s, "json") == 0)
        return PSW_LOG_JSON;
    return -1;
}

const char *psw_log_format_name(enum psw_log_format fmt)
{
    return fmt == PSW_LOG_JSON ? "json" : "text";
}

/* Appends s to buf as the inside of a JSON string. Returns the new length. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else if (c < 0x20) {
            memcpy(buf + len, "\\u00", 4);
            len += 4;
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void psw_log_write(enum psw_log_level level, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[4096];
    char line[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char stamp[PSW_ISO_SIZE];
    psw_time_format(psw_now_ms(), stamp);

    size_t len;
    if (log_format == PSW_LOG_JSON) {
        int n = snprintf(line, sizeof(line),
                         "{\"ts\":\"%s\",\"level\":\"%s\",\"role\":\"%s\",\"pid\":%ld,\"msg\":\"",
                         stamp, psw_log_level_name(level), log_role, (long)getpid());
        len = json_escape(line, (size_t)n, sizeof(line) - 3, msg);
        memcpy(line + len, "\"}\n", 3);
        len += 3;
    } else {
        /* A message may carry a receiver's bytes (a Location, an error):
         * shown escaped, on one line, so they cannot drive the terminal of
         * whoever reads the log (common/termsafe.h). */
        char safe[4 * sizeof(msg) + 1];
        psw_term_escape(msg, strlen(msg), 0, 0, safe, NULL);
        int n = snprintf(line, sizeof(line), "%s %-5s %s[%ld] %s\n", stamp,
                         level_upper[(unsigned)level < 4 ? level : 0], log_role,
                         (long)getpid(), safe);
        len = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
        if (len > 0 && line[len - 1] != '\n')
            line[len - 1] = '\n';
    }
    write_all(line, len);
    errno = saved_errno;
}

/* Formats a non-negative number without stdio. */
static size_t put_num(char *buf, long v)
{
    char tmp[24];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < sizeof(tmp));
    while (n > 0)
        buf[i++] = tmp[--n];
    return i;
}

void psw_log_signal_safe(enum psw_log_level level, const char *msg)
{
    if (level < psw_log_min_level)
        return;
    int saved_errno = errno;
    char line[512];
    size_t len = 0;
    const char *lv = level_upper[(unsigned)level < 4 ? level : 0];
    size_t l = strlen(lv);
    memcpy(line, lv, l);
    len += l;
    line[len++] = ' ';
    l = strnlen(log_role, sizeof(log_role));
    memcpy(line + len, log_role, l);
    len += l;
    line[len++] = '[';
    len += put_num(line + len, (long)getpid());
    line[len++] = ']';
    line[len++] = ' ';
    l = strnlen(msg, sizeof(line) - len - 2);
    memcpy(line + len, msg, l);
    len += l;
    line[len++] = '\n';
    write_all(line, len);
    errno = saved_errno;
}
