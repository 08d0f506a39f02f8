/*
 * sign.c — secrets and the X-PostStack-Signature header (see sign.h, docs/receiving.md).
 *
 * The MAC is HMAC-SHA256 keyed with the secret string's bytes (strlen, no NUL)
 * over the decimal timestamp, a '.', and the body bytes; the body is fed to the
 * MAC in place, never copied. Signatures are 64 lowercase hex characters.
 *
 * Verification is strict about the shape of the header (so a garbled header is
 * reported as such rather than as a wrong secret) and lenient only about
 * schemes it does not know, which it skips. Order of checks: format, then the
 * timestamp tolerance, then the constant-time comparison of every v1 against
 * the one expected MAC; a header whose time is off is rejected without
 * computing anything.
 *
 * Nothing here allocates memory the caller must free; random bytes and MACs
 * on the stack are wiped before return. The HMAC implementation is fetched
 * from OpenSSL once per process (fetching on every MAC was a measurable part
 * of signing) and kept until exit, as is one MAC context per thread (with a
 * copy of the last key it was given, so it knows when to key it again; freed
 * when the thread exits); concurrent first callers may each fetch,
 * one of them wins and the others release theirs, so no lock is needed.
 */
#include "common/sign.h"
#include "common/hex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define MAC_LEN 32
#define MAC_HEX_LEN (2 * MAC_LEN)
#define TS_MAX_DIGITS 12

static _Atomic(EVP_MAC *) hmac_alg;

/* The process-wide HMAC implementation (never freed), or NULL. */
static EVP_MAC *hmac(void)
{
    EVP_MAC *alg = atomic_load_explicit(&hmac_alg, memory_order_acquire);
    if (alg)
        return alg;
    EVP_MAC *mine = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mine)
        return NULL;
    if (atomic_compare_exchange_strong(&hmac_alg, &alg, mine))
        return mine;
    EVP_MAC_free(mine); /* another thread stored one first: alg holds it */
    return alg;
}

/* HMAC-SHA256(secret, t "." body) into mac, t being the timestamp's digits
 * exactly as they stand in the header (so a receiver that hashes the header's
 * text, as every example in docs/receiving.md does, agrees with us even on
 * odd spellings such as leading zeros). Returns 0 or -1. */
/* One MAC context per thread, kept: a new context and an init with the
 * digest parameter cost more than hashing a 400-byte body (the digest is
 * looked up again each time). Keyed again only when the secret changes:
 * init with a NULL key restarts the MAC with the key it has, without hashing
 * the key pads again (docs/performance.md). A thread's context is freed, and
 * its key copy wiped, when the thread exits (a pthread key's destructor), so
 * receivers' and servers' thread pools do not leak them. */
struct mac_cache {
    EVP_MAC_CTX *ctx;
    size_t key_len;
    char key[PSW_SECRET_MAX_LEN + 1];
};

static pthread_key_t mac_key;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static int mac_key_ok;

static void mac_cache_free(void *p)
{
    struct mac_cache *c = p;
    if (!c)
        return;
    EVP_MAC_CTX_free(c->ctx);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void mac_key_init(void)
{
    mac_key_ok = pthread_key_create(&mac_key, mac_cache_free) == 0;
}

/* This thread's cache with a context, or NULL. */
static struct mac_cache *mac_cache(void)
{
    pthread_once(&mac_once, mac_key_init);
    if (!mac_key_ok)
        return NULL;
    struct mac_cache *c = pthread_getspecific(mac_key);
    if (c)
        return c;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *alg = hmac();
    if (!alg || !(c = calloc(1, sizeof(*c))))
        return NULL;
    if (!(c->ctx = EVP_MAC_CTX_new(alg)) || EVP_MAC_CTX_set_params(c->ctx, params) != 1 ||
        pthread_setspecific(mac_key, c) != 0) {
        mac_cache_free(c);
        return NULL;
    }
    return c;
}

static int compute_mac(const char *secret, const char *t, size_t tlen, const char *body,
                       size_t body_len, unsigned char mac[MAC_LEN])
{
    char prefix[32];
    size_t maclen = 0;
    size_t slen = strlen(secret);

    if (tlen == 0 || tlen + 1 >= sizeof(prefix))
        return -1;
    memcpy(prefix, t, tlen);
    prefix[tlen] = '.';
    size_t n = tlen + 1;
    struct mac_cache *c = mac_cache();
    if (!c)
        return -1;
    int same = c->key_len > 0 && slen == c->key_len && memcmp(c->key, secret, slen) == 0;
    if (EVP_MAC_init(c->ctx, same ? NULL : (const unsigned char *)secret, same ? 0 : slen,
                     NULL) != 1)
        goto fail;
    if (!same) {
        OPENSSL_cleanse(c->key, sizeof(c->key));
        c->key_len = 0;
        if (slen < sizeof(c->key)) { /* longer ones are refused when stored: not kept */
            memcpy(c->key, secret, slen);
            c->key_len = slen;
        }
    }
    if (EVP_MAC_update(c->ctx, (const unsigned char *)prefix, n) != 1)
        goto fail;
    if (body_len > 0 && EVP_MAC_update(c->ctx, (const unsigned char *)body, body_len) != 1)
        goto fail;
    if (EVP_MAC_final(c->ctx, mac, &maclen, MAC_LEN) != 1 || maclen != MAC_LEN)
        goto fail;
    return 0;

fail: /* start from a fresh context next time */
    pthread_setspecific(mac_key, NULL);
    mac_cache_free(c);
    return -1;
}

int psw_secret_generate(char out[PSW_SECRET_SIZE])
{
    unsigned char rnd[32];
    size_t pl = sizeof(PSW_SECRET_PREFIX) - 1;
    int rc = -1;

    /* base64 of 32 bytes is 44 characters; with the prefix 50 < PSW_SECRET_SIZE. */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        goto cleanup;
    memcpy(out, PSW_SECRET_PREFIX, pl);
    if (EVP_EncodeBlock((unsigned char *)out + pl, rnd, sizeof(rnd)) != 44)
        goto cleanup;
    rc = 0;

cleanup:
    OPENSSL_cleanse(rnd, sizeof(rnd));
    if (rc != 0)
        out[0] = '\0';
    return rc;
}

int psw_secret_check(const char *secret, char *err, size_t errlen)
{
    if (!secret) {
        snprintf(err, errlen, "secret is missing");
        return -1;
    }
    size_t len = strnlen(secret, PSW_SECRET_MAX_LEN + 1);
    if (len < PSW_SECRET_MIN_LEN) {
        snprintf(err, errlen, "secret is too short: %zu characters, at least %d required",
                 len, PSW_SECRET_MIN_LEN);
        return -1;
    }
    if (len > PSW_SECRET_MAX_LEN) {
        snprintf(err, errlen, "secret is too long: more than %d characters", PSW_SECRET_MAX_LEN);
        return -1;
    }
    /* Printable ASCII without space: the secret travels through YAML, shells
     * and redis-cli unquoted. No comma, to keep the rule plain. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)secret[i];
        if (c < 0x21 || c > 0x7e || c == ',') {
            snprintf(err, errlen,
                     "secret has a character that is not allowed at position %zu "
                     "(only printable ASCII without spaces or commas)", i + 1);
            return -1;
        }
    }
    return 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
}

int psw_sign_header(const char *const secrets[], size_t nsecrets, int64_t ts,
                    const char *body, size_t body_len, char *out, size_t outlen)
{
    unsigned char mac[MAC_LEN];
    size_t len;
    int rc = -1;

    if (!out || outlen == 0)
        return -1;
    out[0] = '\0';
    if (!secrets || nsecrets == 0 || nsecrets > PSW_SIGNATURE_MAX_SECRETS || ts < 0 ||
        (!body && body_len > 0))
        return -1;
    int n = snprintf(out, outlen, "t=%lld", (long long)ts);
    if (n <= 0 || (size_t)n >= outlen)
        goto cleanup;
    len = (size_t)n;
    size_t ts_len = len - 2; /* the digits after "t=" */
    for (size_t i = 0; i < nsecrets; i++) {
        if (!secrets[i] || outlen - len <= 4 + MAC_HEX_LEN)
            goto cleanup;
        if (compute_mac(secrets[i], out + 2, ts_len, body, body_len, mac) != 0)
            goto cleanup;
        memcpy(out + len, ",v1=", 4);
        hex_encode(mac, MAC_LEN, out + len + 4);
        len += 4 + MAC_HEX_LEN;
    }
    out[len] = '\0';
    rc = (int)len;

cleanup:
    OPENSSL_cleanse(mac, sizeof(mac));
    if (rc < 0)
        out[0] = '\0';
    return rc;
}

/* One "key=value" item of a header; p advances past it and its comma. */
struct item {
    const char *key, *val;
    size_t klen, vlen;
};

/* Reads the item at *p. Returns 1 with *it filled, 0 at the end of the
 * header, -1 on an empty item or one without '=' or without a key. */
static int next_item(const char **p, int *done, struct item *it)
{
    if (*done)
        return 0;
    const char *end = strchr(*p, ',');
    size_t len = end ? (size_t)(end - *p) : strlen(*p);
    const char *eq = memchr(*p, '=', len);
    if (len == 0 || !eq || eq == *p)
        return -1;
    it->key = *p;
    it->klen = (size_t)(eq - *p);
    it->val = eq + 1;
    it->vlen = len - it->klen - 1;
    if (end)
        *p = end + 1;
    else
        *done = 1;
    return 1;
}

static int is_scheme(const struct item *it, const char *name)
{
    return it->klen == strlen(name) && memcmp(it->key, name, it->klen) == 0;
}

/* Checks the whole header and reads its timestamp. Returns 0 when it is
 * exactly one t=<1..12 digits> and at least one v1=<64 hex>, in any order,
 * among items of other schemes. */
static int parse_header(const char *header, int64_t *t_out, const char **t_text, size_t *t_len)
{
    const char *p = header;
    struct item it;
    int done = 0, have_t = 0, rc;
    size_t nv1 = 0;

    while ((rc = next_item(&p, &done, &it)) == 1) {
        if (is_scheme(&it, "t")) {
            if (have_t || it.vlen == 0 || it.vlen > TS_MAX_DIGITS)
                return -1;
            int64_t t = 0;
            for (size_t i = 0; i < it.vlen; i++) {
                if (it.val[i] < '0' || it.val[i] > '9')
                    return -1;
                t = t * 10 + (it.val[i] - '0');
            }
            *t_out = t;
            *t_text = it.val;
            *t_len = it.vlen;
            have_t = 1;
        } else if (is_scheme(&it, "v1")) {
            if (it.vlen != MAC_HEX_LEN)
                return -1;
            for (size_t i = 0; i < it.vlen; i++)
                if (psw_hex_digit(it.val[i]) < 0)
                    return -1;
            nv1++;
        }
        /* Any other scheme is skipped: receivers must tolerate new ones. */
    }
    return rc == 0 && have_t && nv1 > 0 ? 0 : -1;
}

/* Compares the 64 hex characters at hexsig with mac in constant time. */
static int v1_matches(const char *hexsig, const unsigned char mac[MAC_LEN])
{
    unsigned char got[MAC_LEN];
    for (size_t i = 0; i < MAC_LEN; i++)
        got[i] = (unsigned char)(psw_hex_digit(hexsig[2 * i]) << 4 | psw_hex_digit(hexsig[2 * i + 1]));
    return CRYPTO_memcmp(got, mac, MAC_LEN) == 0;
}

enum psw_verify_result psw_sign_verify(const char *header, const char *body, size_t body_len,
                                       const char *secret, int64_t tolerance_s, int64_t now_s)
{
    unsigned char mac[MAC_LEN];
    enum psw_verify_result r = PSW_VERIFY_NO_MATCH;
    const char *p = header;
    struct item it;
    int64_t t = 0;
    const char *t_text = NULL;
    size_t t_len = 0;
    int done = 0;

    if (!header || parse_header(header, &t, &t_text, &t_len) != 0)
        return PSW_VERIFY_BAD_FORMAT;
    if (tolerance_s < 0)
        tolerance_s = 0;
    /* Unsigned differences cannot overflow whatever now_s is. */
    if (now_s > t && (uint64_t)now_s - (uint64_t)t > (uint64_t)tolerance_s)
        return PSW_VERIFY_TOO_OLD;
    if (t > now_s && (uint64_t)t - (uint64_t)now_s > (uint64_t)tolerance_s)
        return PSW_VERIFY_TOO_NEW;
    if (!secret || (!body && body_len > 0) || compute_mac(secret, t_text, t_len, body, body_len, mac) != 0)
        return PSW_VERIFY_NO_MATCH;
    /* The header is known to be well formed: this walk cannot fail. Every v1
     * is compared, match or not, so timing says nothing about which matched. */
    while (next_item(&p, &done, &it) == 1)
        if (is_scheme(&it, "v1") && v1_matches(it.val, mac))
            r = PSW_VERIFY_OK;
    OPENSSL_cleanse(mac, sizeof(mac));
    return r;
}

const char *psw_verify_result_str(enum psw_verify_result r)
{
    switch (r) {
    case PSW_VERIFY_OK:
        return "valid";
    case PSW_VERIFY_BAD_FORMAT:
        return "bad signature header format";
    case PSW_VERIFY_TOO_OLD:
        return "timestamp too old";
    case PSW_VERIFY_TOO_NEW:
        return "timestamp in the future";
    case PSW_VERIFY_NO_MATCH:
        return "no matching signature";
    }
    return "unknown verification result";
}
