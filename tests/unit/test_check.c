/*
 * test_check.c — the "cannot happen" policy (common/check.h): in the
 * sanitizer build, which `make test` uses, PSW_BUG logs and aborts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"

static void test_bug_aborts_in_sanitizer_build(void **state)
{
    (void)state;
    assert_int_equal(PSW_BUG_ABORTS, 1); /* this program is built with ASan */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        PSW_BUG("test: a state the invariants rule out (%d)", 42);
        _exit(0); /* reached only if PSW_BUG carried on */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bug_aborts_in_sanitizer_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
