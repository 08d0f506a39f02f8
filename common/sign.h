/*
 * sign.h — the X-PostStack-Signature header (docs/receiving.md).
 *
 *   X-PostStack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t "." body)>[,v1=…]
 *
 * The HMAC key is the secret string's bytes exactly as shown to the user
 * ("whsec_…" included). During a rotation the header carries one v1 per valid
 * secret, newest first. Verification accepts when any v1 matches (compared in
 * constant time) and |now − t| ≤ tolerance.
 */
#ifndef PSW_SIGN_H
#define PSW_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define PSW_SECRET_PREFIX "whsec_"
#define PSW_SECRET_SIZE 64        /* a generated secret is 50 chars + NUL */
#define PSW_SECRET_MIN_LEN 16     /* user-set secrets: 16..256 printable, no space or comma */
#define PSW_SECRET_MAX_LEN 256
#define PSW_SIGNATURE_MAX_SECRETS 4
#define PSW_SIGNATURE_SIZE 512    /* enough for t= and 4 v1 values */

/* "whsec_" + base64 of 32 bytes from RAND_bytes. Returns 0 or -1. */
int psw_secret_generate(char out[PSW_SECRET_SIZE]);

/* Checks a user-supplied secret. Returns 0, or -1 with err saying why. */
int psw_secret_check(const char *secret, char *err, size_t errlen);

/* Writes "t=<ts>,v1=<hex>[,v1=<hex>…]" signing with each secret in order.
 * Returns the header length, or -1 when out is too small or nsecrets is 0
 * or above PSW_SIGNATURE_MAX_SECRETS. */
int psw_sign_header(const char *const secrets[], size_t nsecrets, int64_t ts,
                    const char *body, size_t body_len, char *out, size_t outlen);

enum psw_verify_result {
    PSW_VERIFY_OK = 0,
    PSW_VERIFY_BAD_FORMAT,  /* not t=<digits>,v1=<64 hex>[,…] */
    PSW_VERIFY_TOO_OLD,     /* now − t > tolerance */
    PSW_VERIFY_TOO_NEW,     /* t − now > tolerance */
    PSW_VERIFY_NO_MATCH,    /* well-formed and in time, but no v1 matches */
};

/* Verifies header against body with one secret. tolerance_s ≥ 0. Unknown
 * schemes (v0=, v2=…) are skipped, as receivers must allow new ones. */
enum psw_verify_result psw_sign_verify(const char *header, const char *body, size_t body_len,
                                       const char *secret, int64_t tolerance_s, int64_t now_s);

/* A short fixed English reason: "valid", "bad signature header format",
 * "timestamp too old", "timestamp in the future", "no matching signature". */
const char *psw_verify_result_str(enum psw_verify_result r);

#endif
