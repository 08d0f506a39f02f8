/*
 * log.h — one line per message on stderr, text or JSON.
 *
 * Every line carries a UTC timestamp with milliseconds, the level, the role
 * (scheduler, master, worker, psw …) and the pid. psw_log() checks the level
 * before anything is formatted, so debug lines cost one comparison when off.
 * psw_log_signal_safe() is the only entry point a signal handler may call.
 */
#ifndef PSW_LOG_H
#define PSW_LOG_H

enum psw_log_level { PSW_LOG_DEBUG = 0, PSW_LOG_INFO, PSW_LOG_WARN, PSW_LOG_ERROR };
enum psw_log_format { PSW_LOG_TEXT = 0, PSW_LOG_JSON };

extern enum psw_log_level psw_log_min_level;

/* Sets the role shown on each line (copied, at most 31 bytes) and the format.
 * Call again after fork() to change the role. */
void psw_log_init(const char *role, enum psw_log_level min, enum psw_log_format fmt);

void psw_log_write(enum psw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define psw_log(level, ...) \
    do { if ((level) >= psw_log_min_level) psw_log_write((level), __VA_ARGS__); } while (0)
#define log_debug(...) psw_log(PSW_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  psw_log(PSW_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  psw_log(PSW_LOG_WARN, __VA_ARGS__)
#define log_error(...) psw_log(PSW_LOG_ERROR, __VA_ARGS__)

/* Async-signal-safe: no stdio, no malloc, no locale. Writes "<role>[<pid>] msg"
 * with the level, but without a timestamp (gmtime is not signal-safe). */
void psw_log_signal_safe(enum psw_log_level level, const char *msg);

/* "debug" / "info" / "warn" / "error" ⇄ enum. parse returns -1 when unknown. */
int psw_log_level_parse(const char *s);
const char *psw_log_level_name(enum psw_log_level level);
int psw_log_format_parse(const char *s);
const char *psw_log_format_name(enum psw_log_format fmt);

#endif
