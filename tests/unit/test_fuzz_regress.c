/*
 * test_fuzz_regress.c — replays the fuzzing inputs under ASan+UBSan in
 * `make test`: every file of tests/fuzz/corpus/NAME/ (the seeds) and
 * tests/fuzz/regressions/NAME/ (minimized inputs of crashes the fuzzers found,
 * each fixed since) goes through the harness tests/fuzz/fuzz_NAME.c.
 *
 * The harnesses are compiled into this program: each is included with its
 * LLVMFuzzerTestOneInput renamed, so this file runs exactly the code the
 * fuzzers run, properties included. A failed property aborts and a sanitizer
 * error ends the program; the handlers below print the input's path first
 * (for a failed property and an ASan report; gcc's UBSan runtime does not
 * call them: set PSW_FUZZ_VERBOSE=1 to list every input as it runs). PSW_SRC
 * is the repository root (tests/run.sh sets it).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define LLVMFuzzerTestOneInput psw_fuzz_event
#include "tests/fuzz/fuzz_event.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput psw_fuzz_config
#include "tests/fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput psw_fuzz_signature
#include "tests/fuzz/fuzz_signature.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput psw_fuzz_url
#include "tests/fuzz/fuzz_url.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput psw_fuzz_api
#include "tests/fuzz/fuzz_api.c"
#undef LLVMFuzzerTestOneInput

/* Sanitizers call this before they end the process (gcc and clang both
 * provide it); declared here to need no sanitizer headers. */
void __sanitizer_set_death_callback(void (*callback)(void));

#define MIN_SEEDS 20 /* each corpus has a few dozen; fewer means files went missing */

typedef int (*harness_fn)(const uint8_t *data, size_t size);

static char current[1200]; /* the input being run, for the crash handlers */

static void say_current(void)
{
    static const char pre[] = "test_fuzz_regress: failing input: ";
    size_t n = strnlen(current, sizeof(current));
    if (n == 0)
        return;
    /* Async-signal-safe: only write(2). */
    if (write(STDERR_FILENO, pre, sizeof(pre) - 1) < 0 || write(STDERR_FILENO, current, n) < 0 ||
        write(STDERR_FILENO, "\n", 1) < 0)
        return;
}

static void on_abort(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads path whole into a heap buffer (caller frees). */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    assert_int_equal(ferror(f), 0);
    fclose(f);
    *len = n;
    return buf;
}

/* Runs every regular file of PSW_SRC/tests/fuzz/KIND/NAME through fn, in
 * name order. Returns how many ran (0 when the directory does not exist). */
static size_t run_dir(const char *kind, const char *name, harness_fn fn)
{
    const char *src = getenv("PSW_SRC");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", src && *src ? src : ".", kind, name);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        fail_msg("cannot open %s: %s", dir, strerror(errno));
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            assert_non_null(names);
        }
        names[count] = strdup(e->d_name);
        assert_non_null(names[count]);
        count++;
    }
    closedir(d);
    if (count > 1)
        qsort(names, count, sizeof(*names), cmp_names);
    const char *verbose = getenv("PSW_FUZZ_VERBOSE");
    for (size_t i = 0; i < count; i++) {
        size_t len;
        snprintf(current, sizeof(current), "%s/%s", dir, names[i]);
        if (verbose && *verbose)
            fprintf(stderr, "input %s\n", current);
        uint8_t *data = read_all(current, &len);
        assert_int_equal(fn(data, len), 0);
        free(data);
        free(names[i]);
    }
    current[0] = '\0';
    free(names);
    return count;
}

static void replay(const char *name, harness_fn fn)
{
    size_t seeds = run_dir("corpus", name, fn);
    size_t regressions = run_dir("regressions", name, fn);
    print_message("fuzz_%s: %zu seed inputs, %zu regression inputs\n", name, seeds, regressions);
    if (seeds < MIN_SEEDS)
        fail_msg("tests/fuzz/corpus/%s has %zu files, expected at least %d (is PSW_SRC the "
                 "repository root?)",
                 name, seeds, MIN_SEEDS);
}

static void test_event(void **state)
{
    (void)state;
    replay("event", psw_fuzz_event);
}

static void test_config(void **state)
{
    (void)state;
    replay("config", psw_fuzz_config);
}

static void test_signature(void **state)
{
    (void)state;
    replay("signature", psw_fuzz_signature);
}

static void test_url(void **state)
{
    (void)state;
    replay("url", psw_fuzz_url);
}

static void test_api(void **state)
{
    (void)state;
    replay("api", psw_fuzz_api);
}

/* The harnesses' own checks must be able to fail: a property that does not
 * hold aborts (checked in a child, which must die of SIGABRT). */
static void test_property_failure_aborts(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(3);
        FUZZ_REQUIRE(1 + 1 == 3, "arithmetic %d", 2);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_property_failure_aborts),
    };
    signal(SIGABRT, on_abort);
    __sanitizer_set_death_callback(say_current);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
