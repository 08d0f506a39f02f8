/*
 * verify.c — verifies a PostStack webhook (X-PostStack-Signature, docs/receiving.md) with
 * the project's own psw_sign_verify (common/sign.h, common/sign.c; OpenSSL).
 *
 *   usage: verify [SECRET SIGNATURE [TOLERANCE]] < raw-body
 *   SECRET and SIGNATURE default to $POSTSTACK_SECRET and $POSTSTACK_SIGNATURE.
 *   Prints "valid" and exits 0, or prints the reason and exits 1; 2 = usage.
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -I. docs/examples/verify.c common/sign.c -lcrypto
 * (or link build/rel/libpsw.a instead of common/sign.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/sign.h"

/* body: the request body exactly as received, body_len bytes (not a C string:
 * it is never re-encoded or cut at a NUL). */
static enum psw_verify_result verify(const char *secret, const char *signature_header,
                                     const char *body, size_t body_len, int64_t tolerance_s)
{
    return psw_sign_verify(signature_header, body, body_len, secret, tolerance_s,
                           (int64_t)time(NULL));
}

/* Reads all of stdin into a malloc'd buffer; NULL on error. */
static char *read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0, got;
    char *buf = malloc(cap), *bigger;

    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            bigger = cap < ((size_t)64 << 20) ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf && ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *secret = argc > 1 ? argv[1] : getenv("POSTSTACK_SECRET");
    const char *header = argc > 2 ? argv[2] : getenv("POSTSTACK_SIGNATURE");
    long long tolerance = 300;
    size_t len = 0;
    char *end, *body;

    if (argc > 3) {
        errno = 0;
        tolerance = strtoll(argv[3], &end, 10);
        if (errno || end == argv[3] || *end || tolerance < 0) {
            fprintf(stderr, "verify: TOLERANCE must be a number of seconds >= 0\n");
            return 2;
        }
    }
    if (!secret || !header || argc > 4) {
        fprintf(stderr, "usage: verify [SECRET SIGNATURE [TOLERANCE]] < raw-body\n");
        return 2;
    }
    if (!(body = read_stdin(&len))) {
        fprintf(stderr, "verify: cannot read the body from standard input\n");
        return 2;
    }
    enum psw_verify_result r = verify(secret, header, body, len, tolerance);
    free(body);
    printf("%s\n", psw_verify_result_str(r));
    return r == PSW_VERIFY_OK ? 0 : 1;
}
