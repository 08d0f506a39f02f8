/*
 * sign_std.h — the Standard Webhooks signatures an endpoint may choose
 * instead of X-PostStack-Signature (docs/receiving.md, "Signing modes").
 *
 *   webhook-id:        the event id
 *   webhook-timestamp: unix seconds
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, id "." timestamp "." body)>
 *                      (signing "standard"; key = the base64-decoded part of
 *                      the whsec_ secret; one per valid secret, newest
 *                      first, separated by spaces)
 *                   or v1a,<base64 Ed25519 signature of the same message>
 *                      (signing "ed25519"; the endpoint's own key pair)
 *
 * An Ed25519 private key travels and is stored as the base64 of its 32-byte
 * seed (sealed at rest like secrets, common/secrets.h); the public key is
 * shown as "whpk_" + base64 of its 32 bytes.
 *
 * Nothing here allocates memory the caller must free; key bytes are wiped
 * before return.
 */
#ifndef PSW_SIGN_STD_H
#define PSW_SIGN_STD_H

#include <stddef.h>
#include <stdint.h>

#include "common/sign.h"

#define PSW_PUBLIC_KEY_PREFIX "whpk_"
#define PSW_ED25519_KEY_SIZE 64   /* base64 of a 32-byte key: 44 chars + NUL */
#define PSW_PUBLIC_KEY_SIZE 64    /* "whpk_" + 44 chars + NUL */
#define PSW_STD_KEY_MIN 24        /* decoded whsec_ key bytes, as Standard Webhooks asks */
#define PSW_STD_KEY_MAX 64

enum psw_signing {
    PSW_SIGNING_POSTSTACK = 0, /* X-PostStack-Signature (common/sign.h) */
    PSW_SIGNING_STANDARD,
    PSW_SIGNING_ED25519,
};

/* "poststack", "standard", "ed25519" ("" or NULL = poststack) → *out.
 * Returns 0, or -1 with err naming the allowed values. */
int psw_signing_parse(const char *s, enum psw_signing *out, char *err, size_t errlen);
const char *psw_signing_name(enum psw_signing s);

/* A new Ed25519 key pair from OpenSSL: priv = base64 of the seed, pub =
 * "whpk_" + base64. Returns 0 or -1. */
int psw_ed25519_generate(char priv[PSW_ED25519_KEY_SIZE], char pub[PSW_PUBLIC_KEY_SIZE]);

/* Checks that secret is "whsec_" + standard base64 of PSW_STD_KEY_MIN..MAX
 * bytes, which Standard Webhooks libraries need. 0, or -1 with err. */
int psw_std_secret_check(const char *secret, char *err, size_t errlen);

/* The webhook-signature value for mode STANDARD (keys = the whsec_ secrets,
 * newest first, at most PSW_SIGNATURE_MAX_SECRETS) or ED25519 (keys[0] = the
 * private key as above, nkeys 1). Returns its length, or -1 (bad key, out
 * too small). */
int psw_sign_std_header(enum psw_signing mode, const char *const keys[], size_t nkeys,
                        const char *msg_id, int64_t ts, const char *body, size_t body_len,
                        char *out, size_t outlen);

/* Verifies a webhook-signature header with one key: a whsec_ secret (v1
 * entries) or a whpk_ public key (v1a entries); entries of other versions
 * are skipped. ts_text is the webhook-timestamp header as received. Same
 * results as psw_sign_verify. */
enum psw_verify_result psw_sign_std_verify(const char *header, const char *msg_id,
                                           const char *ts_text, const char *body,
                                           size_t body_len, const char *key,
                                           int64_t tolerance_s, int64_t now_s);

#endif
