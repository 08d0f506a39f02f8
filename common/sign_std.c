/*
 * sign_std.c — Standard Webhooks signatures (see sign_std.h).
 *
 * The signed message is id "." timestamp "." body, assembled once in a heap
 * buffer (Ed25519 signs in one shot; HMAC could stream but one shape for both
 * keeps the two paths alike). Base64 is the standard alphabet with padding,
 * decoded strictly so one key has one spelling. Verification compares every
 * entry of its version, match or not, so timing tells nothing about which one
 * matched; HMACs are compared with CRYPTO_memcmp.
 */
#include "common/sign_std.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MAC_LEN 32
#define ED_KEY_LEN 32
#define ED_SIG_LEN 64
#define TS_MAX_DIGITS 12

int psw_signing_parse(const char *s, enum psw_signing *out, char *err, size_t errlen)
{
    if (!s || !*s || strcmp(s, "poststack") == 0)
        *out = PSW_SIGNING_POSTSTACK;
    else if (strcmp(s, "standard") == 0)
        *out = PSW_SIGNING_STANDARD;
    else if (strcmp(s, "ed25519") == 0)
        *out = PSW_SIGNING_ED25519;
    else {
        snprintf(err, errlen, "signing: must be poststack, standard or ed25519");
        return -1;
    }
    return 0;
}

const char *psw_signing_name(enum psw_signing s)
{
    switch (s) {
    case PSW_SIGNING_STANDARD:
        return "standard";
    case PSW_SIGNING_ED25519:
        return "ed25519";
    case PSW_SIGNING_POSTSTACK:
        break;
    }
    return "poststack";
}

/* ---- base64 ------------------------------------------------------------ */

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* Strict padded base64 of in[0..len) into out (cap bytes). Returns the
 * decoded length, or -1. */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t pad = 0;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap + 2)
        return -1;
    while (pad < 2 && in[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char((unsigned char)in[i]))
            return -1;
    unsigned char tmp[3 * (PSW_STD_KEY_MAX / 3 + 2) + 3];
    if (len / 4 * 3 > sizeof(tmp))
        return -1;
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
    if (n < 0 || (size_t)n < pad || (size_t)n - pad > cap) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return -1;
    }
    n -= (int)pad;
    memcpy(out, tmp, (size_t)n);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return n;
}

/* ---- keys -------------------------------------------------------------- */

int psw_ed25519_generate(char priv[PSW_ED25519_KEY_SIZE], char pub[PSW_PUBLIC_KEY_SIZE])
{
    unsigned char sk[ED_KEY_LEN], pk[ED_KEY_LEN];
    size_t skl = sizeof(sk), pkl = sizeof(pk);
    size_t pl = sizeof(PSW_PUBLIC_KEY_PREFIX) - 1;
    int rc = -1;

    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key)
        goto cleanup;
    if (EVP_PKEY_get_raw_private_key(key, sk, &skl) != 1 || skl != ED_KEY_LEN ||
        EVP_PKEY_get_raw_public_key(key, pk, &pkl) != 1 || pkl != ED_KEY_LEN)
        goto cleanup;
    EVP_EncodeBlock((unsigned char *)priv, sk, ED_KEY_LEN);
    memcpy(pub, PSW_PUBLIC_KEY_PREFIX, pl);
    EVP_EncodeBlock((unsigned char *)pub + pl, pk, ED_KEY_LEN);
    rc = 0;

cleanup:
    OPENSSL_cleanse(sk, sizeof(sk));
    EVP_PKEY_free(key);
    if (rc != 0) {
        priv[0] = '\0';
        pub[0] = '\0';
    }
    return rc;
}

/* The HMAC key of a whsec_ secret into key; its length, or -1. */
static long std_key(const char *secret, unsigned char key[PSW_STD_KEY_MAX])
{
    size_t pl = sizeof(PSW_SECRET_PREFIX) - 1;
    if (!secret || strncmp(secret, PSW_SECRET_PREFIX, pl) != 0)
        return -1;
    long n = b64_decode(secret + pl, strlen(secret + pl), key, PSW_STD_KEY_MAX);
    return n >= PSW_STD_KEY_MIN ? n : -1;
}

int psw_std_secret_check(const char *secret, char *err, size_t errlen)
{
    unsigned char key[PSW_STD_KEY_MAX];
    long n = std_key(secret, key);
    OPENSSL_cleanse(key, sizeof(key));
    if (n < 0) {
        snprintf(err, errlen,
                 "secret: signing \"standard\" needs a secret of the form whsec_ followed by "
                 "the base64 of %d to %d bytes (a generated secret is; rotate-secret without "
                 "--secret makes one)",
                 PSW_STD_KEY_MIN, PSW_STD_KEY_MAX);
        return -1;
    }
    return 0;
}

/* ---- signing ----------------------------------------------------------- */

/* id "." ts "." body in a new buffer (free it); NULL when out of memory. */
static unsigned char *message(const char *id, const char *ts, size_t ts_len, const char *body,
                              size_t body_len, size_t *len)
{
    size_t il = strlen(id);
    unsigned char *m = malloc(il + ts_len + body_len + 2);
    if (!m)
        return NULL;
    memcpy(m, id, il);
    m[il] = '.';
    memcpy(m + il + 1, ts, ts_len);
    m[il + 1 + ts_len] = '.';
    if (body_len > 0)
        memcpy(m + il + ts_len + 2, body, body_len);
    *len = il + ts_len + body_len + 2;
    return m;
}

static int hmac(const unsigned char *key, size_t klen, const unsigned char *m, size_t mlen,
                unsigned char mac[MAC_LEN])
{
    size_t outl = 0;
    return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen, m, mlen, mac, MAC_LEN,
                     &outl) && outl == MAC_LEN
               ? 0
               : -1;
}

static int ed_sign(const char *priv, const unsigned char *m, size_t mlen,
                   unsigned char sig[ED_SIG_LEN])
{
    unsigned char sk[ED_KEY_LEN];
    size_t sl = ED_SIG_LEN;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    int rc = -1;

    if (!priv || b64_decode(priv, strlen(priv), sk, sizeof(sk)) != ED_KEY_LEN)
        goto cleanup;
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, ED_KEY_LEN);
    md = EVP_MD_CTX_new();
    if (!key || !md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &sl, m, mlen) != 1 || sl != ED_SIG_LEN)
        goto cleanup;
    rc = 0;

cleanup:
    OPENSSL_cleanse(sk, sizeof(sk));
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return rc;
}

int psw_sign_std_header(enum psw_signing mode, const char *const keys[], size_t nkeys,
                        const char *msg_id, int64_t ts, const char *body, size_t body_len,
                        char *out, size_t outlen)
{
    unsigned char key[PSW_STD_KEY_MAX], sig[ED_SIG_LEN];
    unsigned char *m = NULL;
    char tss[24];
    size_t mlen = 0, len = 0;
    int rc = -1;

    if (!out || outlen == 0)
        return -1;
    out[0] = '\0';
    if (!keys || nkeys == 0 || nkeys > PSW_SIGNATURE_MAX_SECRETS || !msg_id || ts < 0 ||
        (!body && body_len > 0) || (mode != PSW_SIGNING_STANDARD && mode != PSW_SIGNING_ED25519))
        return -1;
    int tl = snprintf(tss, sizeof(tss), "%lld", (long long)ts);
    if (!(m = message(msg_id, tss, (size_t)tl, body, body_len, &mlen)))
        return -1;
    for (size_t i = 0; i < nkeys; i++) {
        size_t slen;
        const char *ver;
        if (mode == PSW_SIGNING_STANDARD) {
            long kl = std_key(keys[i], key);
            if (kl < 0 || hmac(key, (size_t)kl, m, mlen, sig) < 0)
                goto cleanup;
            slen = MAC_LEN;
            ver = "v1,";
        } else {
            if (ed_sign(keys[i], m, mlen, sig) < 0)
                goto cleanup;
            slen = ED_SIG_LEN;
            ver = "v1a,";
        }
        size_t need = (i ? 1 : 0) + strlen(ver) + 4 * ((slen + 2) / 3) + 1;
        if (outlen - len < need)
            goto cleanup;
        len += (size_t)snprintf(out + len, outlen - len, "%s%s", i ? " " : "", ver);
        len += (size_t)EVP_EncodeBlock((unsigned char *)out + len, sig, (int)slen);
    }
    rc = (int)len;

cleanup:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(sig, sizeof(sig));
    if (m) {
        OPENSSL_cleanse(m, mlen);
        free(m);
    }
    if (rc < 0)
        out[0] = '\0';
    return rc;
}

/* ---- verification ------------------------------------------------------ */

static int ed_verify(const unsigned char pk[ED_KEY_LEN], const unsigned char *m, size_t mlen,
                     const unsigned char *sig, size_t slen)
{
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, ED_KEY_LEN);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = key && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, slen, m, mlen) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return ok;
}

enum psw_verify_result psw_sign_std_verify(const char *header, const char *msg_id,
                                           const char *ts_text, const char *body,
                                           size_t body_len, const char *key_text,
                                           int64_t tolerance_s, int64_t now_s)
{
    unsigned char key[PSW_STD_KEY_MAX], mac[MAC_LEN], got[ED_SIG_LEN + 3];
    const size_t ppl = sizeof(PSW_PUBLIC_KEY_PREFIX) - 1;
    enum psw_verify_result r = PSW_VERIFY_NO_MATCH;
    unsigned char *m = NULL;
    size_t mlen = 0, tl;
    long kl = -1;
    int ed, entries = 0;
    int64_t t = 0;

    if (!header || !msg_id || !*msg_id || !ts_text)
        return PSW_VERIFY_BAD_FORMAT;
    tl = strlen(ts_text);
    if (tl == 0 || tl > TS_MAX_DIGITS)
        return PSW_VERIFY_BAD_FORMAT;
    for (size_t i = 0; i < tl; i++) {
        if (ts_text[i] < '0' || ts_text[i] > '9')
            return PSW_VERIFY_BAD_FORMAT;
        t = t * 10 + (ts_text[i] - '0');
    }
    /* Every entry must be <version>,<base64> separated by single spaces. */
    for (const char *p = header; *p;) {
        size_t n = strcspn(p, " ");
        const char *comma = memchr(p, ',', n);
        if (n == 0 || !comma || comma == p || comma + 1 == p + n)
            return PSW_VERIFY_BAD_FORMAT;
        entries++;
        p += n;
        if (*p == ' ')
            p++;
    }
    if (entries == 0)
        return PSW_VERIFY_BAD_FORMAT;
    if (tolerance_s < 0)
        tolerance_s = 0;
    if (now_s > t && (uint64_t)now_s - (uint64_t)t > (uint64_t)tolerance_s)
        return PSW_VERIFY_TOO_OLD;
    if (t > now_s && (uint64_t)t - (uint64_t)now_s > (uint64_t)tolerance_s)
        return PSW_VERIFY_TOO_NEW;

    ed = key_text && strncmp(key_text, PSW_PUBLIC_KEY_PREFIX, ppl) == 0;
    if (ed)
        kl = b64_decode(key_text + ppl, strlen(key_text + ppl), key, sizeof(key)) == ED_KEY_LEN
                 ? ED_KEY_LEN
                 : -1;
    else
        kl = std_key(key_text, key);
    if (kl < 0 || (!body && body_len > 0))
        goto cleanup;
    if (!(m = message(msg_id, ts_text, tl, body, body_len, &mlen)))
        goto cleanup;
    if (!ed && hmac(key, (size_t)kl, m, mlen, mac) < 0)
        goto cleanup;
    for (const char *p = header; *p;) {
        size_t n = strcspn(p, " ");
        const char *comma = memchr(p, ',', n);
        size_t vl = (size_t)(comma - p), sl = n - vl - 1;
        const char *want = ed ? "v1a" : "v1";
        if (vl == strlen(want) && memcmp(p, want, vl) == 0) {
            long gl = b64_decode(comma + 1, sl, got, sizeof(got));
            if (ed ? gl == ED_SIG_LEN && ed_verify(key, m, mlen, got, ED_SIG_LEN)
                   : gl == MAC_LEN && CRYPTO_memcmp(got, mac, MAC_LEN) == 0)
                r = PSW_VERIFY_OK;
        }
        p += n;
        if (*p == ' ')
            p++;
    }

cleanup:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(mac, sizeof(mac));
    if (m) {
        OPENSSL_cleanse(m, mlen);
        free(m);
    }
    return r;
}
