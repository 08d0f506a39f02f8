/*
 * check.h — the one policy for "cannot happen".
 *
 * PSW_BUG(fmt, ...) marks a state the code's own invariants rule out (a
 * claimed delivery with no free slot for it, a child pid the master has no
 * record of …), as opposed to a failure the world can cause (Redis down,
 * out of memory, a bad config), which is handled and reported as usual.
 *
 *  - In the sanitizer build (AddressSanitizer on, as in `make test`) it
 *    logs the message with file and line and aborts, so a test that gets
 *    there fails loudly instead of passing over a broken invariant.
 *  - In the release build it logs the same line at error level and returns,
 *    and the caller carries on with the recovery path written after it: a
 *    service that keeps delivering beats one that stops on a bug whose
 *    effect the design already contains (docs/architecture.md, "Failure
 *    handling").
 *
 * So every PSW_BUG is followed by code that leaves things safe. It is a
 * statement, not an expression; it never evaluates its arguments twice.
 */
#ifndef PSW_CHECK_H
#define PSW_CHECK_H

#include <stdlib.h>

#include "common/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define PSW_BUG_ABORTS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PSW_BUG_ABORTS 1
#endif
#endif
#ifndef PSW_BUG_ABORTS
#define PSW_BUG_ABORTS 0
#endif

#define PSW_BUG(...)                                                                           \
    do {                                                                                       \
        psw_log_write(PSW_LOG_ERROR, "bug at %s:%d (cannot happen)", __FILE__, __LINE__);      \
        psw_log_write(PSW_LOG_ERROR, __VA_ARGS__);                                             \
        if (PSW_BUG_ABORTS)                                                                    \
            abort();                                                                           \
    } while (0)

#endif
