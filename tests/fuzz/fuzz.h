/*
 * fuzz.h — what the libFuzzer harnesses in tests/fuzz/ share.
 *
 * Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput and nothing else
 * with external linkage. `make fuzz` links each one alone with libFuzzer
 * (and tests/lib/, the test code that needs no cmocka);
 * tests/unit/test_fuzz_regress.c includes all five into one program, renaming
 * the entry point with a macro before each include, so their static helpers
 * carry a per-harness prefix (ev_, cfg_, sig_, url_, ap_) to stay distinct.
 *
 * A property that does not hold is a bug: FUZZ_REQUIRE prints what failed and
 * calls abort(), which libFuzzer records as a crash (and the regression test
 * as a failed test). Harnesses never leak: libFuzzer's leak check is on.
 */
#ifndef PSW_FUZZ_H
#define PSW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One fixed "now" (2025-11-27T15:04:05.123Z) so every run of an input does
 * the same thing; inputs that need other clocks carry them. */
#define FUZZ_NOW_MS 1764255845123LL

#define FUZZ_REQUIRE(cond, ...)                                                         \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz: %s:%d: property failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                             \
            fprintf(stderr, "fuzz: " __VA_ARGS__);                                      \
            fputc('\n', stderr);                                                        \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* data[0..size) as a NUL-terminated heap string (cut at an embedded NUL, as a
 * C caller would see it). Aborts on allocation failure: libFuzzer's own
 * -malloc_limit_mb is what bounds memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
