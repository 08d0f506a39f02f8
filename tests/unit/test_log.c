/*
 * test_log.c — common/log.c: line formats (text and JSON), level filtering,
 * role and pid on every line, JSON escaping, the signal-safe path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/log.h"
#include "tests/harness/harness.h"

/* Runs the logging calls selected by `which` with stderr sent to a file. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/psw-test-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    size_t len;
    char *text = read_file(path, &len);
    unlink(path);
    return text;
}

static void match(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("no line matches /%s/ in:\n%s", pattern, text);
}

static void emit_text(void)
{
    psw_log_init("scheduler", PSW_LOG_INFO, PSW_LOG_TEXT);
    log_debug("hidden %d", 1);
    log_info("promoted %d due deliveries", 3);
    log_warn("redis down");
    log_error("boom: %s", "x");
}

static void test_text_format_and_levels(void **state)
{
    (void)state;
    char *out = capture(emit_text);
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    assert_null(strstr(out, "hidden"));
    match(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z INFO  scheduler\\[[0-9]+\\] promoted 3 due deliveries$");
    match(out, "^[0-9T:.Z-]+ WARN  scheduler\\[[0-9]+\\] redis down$");
    match(out, "^[0-9T:.Z-]+ ERROR scheduler\\[[0-9]+\\] boom: x$");
    assert_non_null(strstr(out, pid));
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    free(out);
}

static void emit_json(void)
{
    psw_log_init("worker", PSW_LOG_DEBUG, PSW_LOG_JSON);
    log_debug("quote \" backslash \\ newline\n tab\t end");
}

static void test_json_lines(void **state)
{
    (void)state;
    char *out = capture(emit_json);
    size_t len = strlen(out);
    assert_true(len > 0 && out[len - 1] == '\n');
    out[len - 1] = '\0';
    assert_null(strchr(out, '\n')); /* one line, the newline in the message escaped */
    json_object *o = json_tokener_parse(out);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "level", &v));
    assert_string_equal(json_object_get_string(v), "debug");
    assert_true(json_object_object_get_ex(o, "role", &v));
    assert_string_equal(json_object_get_string(v), "worker");
    assert_true(json_object_object_get_ex(o, "pid", &v));
    assert_int_equal(json_object_get_int64(v), (int64_t)getpid());
    assert_true(json_object_object_get_ex(o, "msg", &v));
    assert_string_equal(json_object_get_string(v), "quote \" backslash \\ newline\n tab\t end");
    assert_true(json_object_object_get_ex(o, "ts", &v));
    assert_int_equal(strlen(json_object_get_string(v)), 24);
    json_object_put(o);
    free(out);
}

static void emit_signal_safe(void)
{
    psw_log_init("master", PSW_LOG_WARN, PSW_LOG_TEXT);
    psw_log_signal_safe(PSW_LOG_INFO, "below the level");
    psw_log_signal_safe(PSW_LOG_WARN, "got SIGTERM");
}

static void test_signal_safe(void **state)
{
    (void)state;
    char *out = capture(emit_signal_safe);
    char want[64];
    snprintf(want, sizeof(want), "WARN master[%ld] got SIGTERM\n", (long)getpid());
    assert_string_equal(out, want);
    free(out);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(psw_log_level_parse("warn"), PSW_LOG_WARN);
    assert_int_equal(psw_log_level_parse("WARN"), -1);
    assert_int_equal(psw_log_level_parse("verbose"), -1);
    assert_string_equal(psw_log_level_name(PSW_LOG_ERROR), "error");
    assert_int_equal(psw_log_format_parse("json"), PSW_LOG_JSON);
    assert_int_equal(psw_log_format_parse("xml"), -1);
    assert_string_equal(psw_log_format_name(PSW_LOG_TEXT), "text");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_format_and_levels),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_signal_safe),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
