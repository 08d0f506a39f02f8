/*
 * secrets.c — endpoint secrets at rest (see secrets.h for the format, the
 * key sources and the rules a key file must meet).
 *
 * Three parts: loading keys (text → 32 bytes, files with their permission
 * checks, the environment), sealing and opening values (AES-256-GCM through
 * OpenSSL's EVP interface), and the two operations over Redis behind
 * `psw secrets status` and `psw secrets rekey` (secrets_scan.lua reads a
 * batch of endpoints, secrets_rekey.lua writes one endpoint only if its
 * values did not change since they were read).
 *
 * Invariants: every buffer that held key bytes or a plaintext secret is
 * wiped (OPENSSL_cleanse) before it is released or goes out of scope; error
 * messages never contain key material or a secret, only key ids, sources
 * and endpoint ids. Nothing here keeps state between calls.
 */
#include "common/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/hex.h"
#include "common/jsonout.h"
#include "common/log.h"
#include "common/reply.h"
#include "common/stats.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_FILE_MAX 4096
#define KEY_HEX_LEN 64
#define KEY_B64_LEN 44
#define ID_LEN 8
#define OPEN_FAIL "secrets: cannot decrypt the endpoint secret"
#define SCAN_COUNT "200"
#define REKEY_TRIES 3
/* Sealed values per endpoint, in secrets_scan.lua's order: the two secrets,
 * then the options sealed like them (signing_key, headers; common/endpoint.h). */
#define SEALED_FIELDS 4
static const char *const sealed_fields[SEALED_FIELDS] = { "secret", "secret_prev",
                                                          "signing_key", "headers" };

/* ---- base64 and hex ------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard base64 with padding: length a multiple of 4, '=' only at
 * the end, the bits padding leaves over zero (so one byte string has exactly
 * one encoding). Returns the decoded length, or -1 (bad input, or more than
 * cap bytes). */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t pad = 0, o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 != 0)
        return -1;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero */
        return -1;
    return (long)o;
}

/* EVP_EncodeBlock: NUL-terminated, padded, no newlines. out needs
 * 4 * ((n + 2) / 3) + 1 bytes. */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* ---- keys -------------------------------------------------------------- */

void psw_secrets_key_id(const unsigned char key[PSW_SECRETS_KEY_BYTES],
                        char id[PSW_SECRETS_KEY_ID_SIZE])
{
    static const char label[] = "psw-key-id";
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[sizeof(label) - 1 + PSW_SECRETS_KEY_BYTES];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    memcpy(buf, label, sizeof(label) - 1);
    memcpy(buf + sizeof(label) - 1, key, PSW_SECRETS_KEY_BYTES);
    if (EVP_Digest(buf, sizeof(buf), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 4)
        memset(md, 0, 4); /* cannot happen with a working libcrypto */
    for (int i = 0; i < ID_LEN / 2; i++) {
        id[2 * i] = hex[md[i] >> 4];
        id[2 * i + 1] = hex[md[i] & 15];
    }
    id[ID_LEN] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
}

int psw_secrets_key_parse(const char *text, size_t len, const char *what,
                          struct psw_secrets_key *out, char *err, size_t errlen)
{
    unsigned char key[PSW_SECRETS_KEY_BYTES];
    unsigned char any = 0;
    int rc = -1;

    while (len > 0 && is_space((unsigned char)text[0])) {
        text++;
        len--;
    }
    while (len > 0 && is_space((unsigned char)text[len - 1]))
        len--;
    if (len == KEY_HEX_LEN) {
        for (size_t i = 0; i < KEY_HEX_LEN; i += 2) {
            int hi = psw_hex_digit((unsigned char)text[i]);
            int lo = psw_hex_digit((unsigned char)text[i + 1]);
            if (hi < 0 || lo < 0) {
                snprintf(err, errlen,
                         "%s: 64 characters but not hex: character %zu is not 0-9 or a-f", what,
                         i + (hi < 0 ? 1 : 2));
                goto cleanup;
            }
            key[i / 2] = (unsigned char)(hi << 4 | lo);
        }
    } else if (len == KEY_B64_LEN) {
        if (b64_decode(text, len, key, sizeof(key)) != PSW_SECRETS_KEY_BYTES) {
            snprintf(err, errlen, "%s: 44 characters but not the base64 of 32 bytes", what);
            goto cleanup;
        }
    } else {
        snprintf(err, errlen,
                 "%s: expected a 32-byte key as 64 hex or 44 base64 characters, got %zu "
                 "characters (e.g. openssl rand -hex 32)",
                 what, len);
        goto cleanup;
    }
    for (size_t i = 0; i < sizeof(key); i++)
        any |= key[i];
    if (!any) {
        snprintf(err, errlen, "%s: the key is all zero bytes; generate one with "
                              "openssl rand -hex 32", what);
        goto cleanup;
    }
    memcpy(out->bytes, key, sizeof(key));
    psw_secrets_key_id(out->bytes, out->id);
    out->loaded = 1;
    rc = 0;

cleanup:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int psw_secrets_key_read(const char *path, const char *config_key, struct psw_secrets_key *out,
                         char *err, size_t errlen)
{
    char buf[KEY_FILE_MAX + 1], what[600];
    struct stat st;
    size_t len = 0;
    int fd, rc = -1;

    snprintf(what, sizeof(what), "%s: %s", config_key, path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", what, strerror(errno));
        return -1;
    }
    /* fstat on the open file: what is checked is what is read. */
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", what, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", what);
        goto cleanup;
    }
    unsigned mode = (unsigned)st.st_mode & 0777;
    if ((mode & 0007) || (mode & 0020) || ((mode & 0040) && st.st_uid != 0)) {
        snprintf(err, errlen,
                 "%s: permissions %04o let other users %s the key; chmod 600 it (or 640 "
                 "with the file owned by root and the service's group)",
                 what, mode, (mode & 0022) ? "change" : "read");
        goto cleanup;
    }
    if (st.st_size > KEY_FILE_MAX) {
        snprintf(err, errlen, "%s: %lld bytes is too big for a key file", what,
                 (long long)st.st_size);
        goto cleanup;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", what, strerror(errno));
            goto cleanup;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len >= sizeof(buf) - 1) {
            snprintf(err, errlen, "%s: too big for a key file", what);
            goto cleanup;
        }
    }
    if (psw_secrets_key_parse(buf, len, what, out, err, errlen) < 0)
        goto cleanup;
    snprintf(out->source, sizeof(out->source), "%s", path);
    rc = 0;

cleanup:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
}

static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* One key from the environment variable env or, when it is unset, the
 * file cfg names under config_key. Nothing named: 0, not loaded. */
static int load_one(const char *env, const char *path, const char *config_key,
                    struct psw_secrets_key *k, char *err, size_t errlen)
{
    const char *v = env_value(env);
    if (v) {
        if (psw_secrets_key_parse(v, strlen(v), env, k, err, errlen) < 0)
            return -1;
        snprintf(k->source, sizeof(k->source), "%s", env);
        return 0;
    }
    if (path && *path)
        return psw_secrets_key_read(path, config_key, k, err, errlen);
    return 0;
}

/* A process about to hold the key (and the endpoint secrets it opens) writes
 * no core file and cannot be attached to or read through /proc by other
 * processes of its user: a crash must not leave the key on disk
 * (docs/security.md). Both settings are inherited by forked children; two
 * system calls, so every load applies them again. */
static void protect_process(void)
{
    struct rlimit none = { 0, 0 };
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        log_warn("secrets: prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        log_warn("secrets: setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
}

int psw_secrets_load(const struct psw_config *cfg, struct psw_secrets_keyring *ring, char *err,
                     size_t errlen)
{
    protect_process();
    memset(ring, 0, sizeof(*ring));
    if (load_one(PSW_SECRETS_ENV_KEY, cfg->secrets_key_file, "secrets.key_file", &ring->current,
                 err, errlen) < 0)
        goto fail;
    if (load_one(PSW_SECRETS_ENV_PREVIOUS, cfg->secrets_previous_key_file,
                 "secrets.previous_key_file", &ring->previous, err, errlen) < 0)
        goto fail;
    if (ring->previous.loaded && !ring->current.loaded) {
        snprintf(err, errlen,
                 "secrets: a previous key (%s) is set but no current key: set "
                 "secrets.key_file or " PSW_SECRETS_ENV_KEY,
                 ring->previous.source);
        goto fail;
    }
    if (ring->previous.loaded && strcmp(ring->previous.id, ring->current.id) == 0) {
        snprintf(err, errlen,
                 "secrets: the previous key (%s) is the current key (%s), key id %s; after a "
                 "rekey, remove the previous key",
                 ring->previous.source, ring->current.source, ring->current.id);
        goto fail;
    }
    return 0;

fail:
    psw_secrets_wipe(ring);
    return -1;
}

void psw_secrets_wipe(struct psw_secrets_keyring *ring)
{
    OPENSSL_cleanse(ring, sizeof(*ring));
}

int psw_secrets_configured(const struct psw_config *cfg)
{
    return env_value(PSW_SECRETS_ENV_KEY) != NULL ||
           (cfg->secrets_key_file && cfg->secrets_key_file[0]);
}

int psw_secrets_startup(const struct psw_config *cfg, char *err, size_t errlen)
{
    struct psw_secrets_keyring ring;

    if (psw_secrets_load(cfg, &ring, err, errlen) < 0)
        return -1;
    if (!ring.current.loaded)
        log_warn("%s", PSW_SECRETS_PLAIN_WARNING);
    else if (ring.previous.loaded)
        log_info("secrets: endpoint secrets are sealed with key %s (%s); key %s (%s) still "
                 "opens older ones",
                 ring.current.id, ring.current.source, ring.previous.id, ring.previous.source);
    else
        log_info("secrets: endpoint secrets are sealed with key %s (%s)", ring.current.id,
                 ring.current.source);
    psw_secrets_wipe(&ring);
    return 0;
}

/* ---- sealing and opening ------------------------------------------------ */

void psw_secrets_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static int hex_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

enum psw_secrets_form psw_secrets_form(const char *stored, char key_id[PSW_SECRETS_KEY_ID_SIZE])
{
    const size_t pl = sizeof(PSW_SECRETS_V1_PREFIX) - 1;
    if (key_id)
        key_id[0] = '\0';
    if (!stored || !*stored)
        return PSW_SECRETS_EMPTY;
    if (strncmp(stored, PSW_SECRETS_ENC_PREFIX, sizeof(PSW_SECRETS_ENC_PREFIX) - 1) != 0)
        return PSW_SECRETS_PLAIN;
    if (strncmp(stored, PSW_SECRETS_V1_PREFIX, pl) != 0 || strlen(stored) < pl + ID_LEN + 2 ||
        !hex_lower(stored + pl, ID_LEN) || stored[pl + ID_LEN] != ':')
        return PSW_SECRETS_MALFORMED;
    if (key_id) {
        memcpy(key_id, stored + pl, ID_LEN);
        key_id[ID_LEN] = '\0';
    }
    return PSW_SECRETS_SEALED;
}

char *psw_secrets_seal(const struct psw_secrets_keyring *ring, const char *endpoint_id,
                       const char *plain, char *err, size_t errlen)
{
    const struct psw_secrets_key *k = &ring->current;
    EVP_CIPHER_CTX *cx = NULL;
    unsigned char *raw = NULL;
    char *out = NULL;
    size_t n, rawlen = 0, outcap = 0;
    int len;

    if (!k->loaded || !plain[0]) {
        if (!(out = strdup(plain)))
            snprintf(err, errlen, "out of memory");
        return out;
    }
    n = strlen(plain);
    if (n > 65536) {
        snprintf(err, errlen, "secrets: secret too long to seal");
        return NULL;
    }
    rawlen = NONCE_LEN + n + TAG_LEN;
    outcap = sizeof(PSW_SECRETS_V1_PREFIX) - 1 + ID_LEN + 1 + 4 * ((rawlen + 2) / 3) + 1;
    raw = malloc(rawlen);
    out = malloc(outcap);
    cx = EVP_CIPHER_CTX_new();
    if (!raw || !out || !cx) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (RAND_bytes(raw, NONCE_LEN) != 1) {
        snprintf(err, errlen, "secrets: the random generator failed");
        goto fail;
    }
    if (EVP_EncryptInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(cx, NULL, NULL, k->bytes, raw) != 1 ||
        EVP_EncryptUpdate(cx, NULL, &len, (const unsigned char *)endpoint_id,
                          (int)strlen(endpoint_id)) != 1 ||
        EVP_EncryptUpdate(cx, raw + NONCE_LEN, &len, (const unsigned char *)plain, (int)n) != 1 ||
        (size_t)len != n || EVP_EncryptFinal_ex(cx, raw + NONCE_LEN + n, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1) {
        snprintf(err, errlen, "secrets: encryption failed (OpenSSL)");
        goto fail;
    }
    int pre = snprintf(out, outcap, PSW_SECRETS_V1_PREFIX "%s:", k->id);
    b64_encode(raw, rawlen, out + pre);
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(raw, rawlen);
    free(raw);
    return out;

fail:
    EVP_CIPHER_CTX_free(cx);
    if (raw)
        OPENSSL_cleanse(raw, rawlen);
    free(raw);
    free(out);
    return NULL;
}

static const struct psw_secrets_key *find_key(const struct psw_secrets_keyring *ring,
                                              const char *id)
{
    if (ring->current.loaded && strcmp(ring->current.id, id) == 0)
        return &ring->current;
    if (ring->previous.loaded && strcmp(ring->previous.id, id) == 0)
        return &ring->previous;
    return NULL;
}

char *psw_secrets_open(const struct psw_secrets_keyring *ring, const char *endpoint_id,
                       const char *stored, char *err, size_t errlen)
{
    const size_t pl = sizeof(PSW_SECRETS_V1_PREFIX) - 1;
    char id[PSW_SECRETS_KEY_ID_SIZE];
    const struct psw_secrets_key *k;
    EVP_CIPHER_CTX *cx = NULL;
    unsigned char *raw = NULL;
    char *plain = NULL;
    size_t rawcap = 0, n;
    long rawlen;
    int len, ok = 0;

    switch (psw_secrets_form(stored, id)) {
    case PSW_SECRETS_EMPTY:
    case PSW_SECRETS_PLAIN:
        if (!(plain = strdup(stored ? stored : "")))
            snprintf(err, errlen, "out of memory");
        return plain;
    case PSW_SECRETS_MALFORMED:
        if (strncmp(stored, PSW_SECRETS_V1_PREFIX, pl) != 0)
            snprintf(err, errlen, OPEN_FAIL " (unknown format: this version reads "
                     PSW_SECRETS_V1_PREFIX " values)");
        else
            snprintf(err, errlen, OPEN_FAIL " (malformed " PSW_SECRETS_V1_PREFIX " value)");
        return NULL;
    case PSW_SECRETS_SEALED:
        break;
    }
    if (!(k = find_key(ring, id))) {
        snprintf(err, errlen, OPEN_FAIL " (key id %s not loaded)", id);
        return NULL;
    }
    const char *b64 = stored + pl + ID_LEN + 1;
    size_t b64len = strlen(b64);
    rawcap = b64len / 4 * 3 + 3;
    raw = malloc(rawcap);
    if (!raw) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rawlen = b64_decode(b64, b64len, raw, rawcap);
    if (rawlen < NONCE_LEN + TAG_LEN + 1) {
        snprintf(err, errlen, OPEN_FAIL " (malformed " PSW_SECRETS_V1_PREFIX " value)");
        goto cleanup;
    }
    n = (size_t)rawlen - NONCE_LEN - TAG_LEN;
    plain = malloc(n + 1);
    cx = EVP_CIPHER_CTX_new();
    if (!plain || !cx) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (EVP_DecryptInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(cx, NULL, NULL, k->bytes, raw) != 1 ||
        EVP_DecryptUpdate(cx, NULL, &len, (const unsigned char *)endpoint_id,
                          (int)strlen(endpoint_id)) != 1 ||
        EVP_DecryptUpdate(cx, (unsigned char *)plain, &len, raw + NONCE_LEN, (int)n) != 1 ||
        EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1 ||
        EVP_DecryptFinal_ex(cx, (unsigned char *)plain + len, &len) != 1) {
        snprintf(err, errlen,
                 OPEN_FAIL " (key id %s: authentication failed: the value was altered or "
                 "belongs to another endpoint)", id);
        goto cleanup;
    }
    plain[n] = '\0';
    if (memchr(plain, '\0', n)) {
        snprintf(err, errlen, OPEN_FAIL " (key id %s: the decrypted secret is not text)", id);
        goto cleanup;
    }
    ok = 1;

cleanup:
    EVP_CIPHER_CTX_free(cx);
    if (raw)
        OPENSSL_cleanse(raw, rawcap);
    free(raw);
    if (!ok && plain) {
        OPENSSL_cleanse(plain, n + 1);
        free(plain);
        plain = NULL;
    }
    return plain;
}

int psw_secrets_open_all(const struct psw_secrets_keyring *ring, const char *endpoint_id,
                         char **values, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        enum psw_secrets_form form = psw_secrets_form(values[i], NULL);
        if (form == PSW_SECRETS_EMPTY || form == PSW_SECRETS_PLAIN)
            continue;
        char *plain = psw_secrets_open(ring, endpoint_id, values[i], err, errlen);
        if (!plain) {
            for (size_t j = 0; j < n; j++)
                if (values[j]) {
                    OPENSSL_cleanse(values[j], strlen(values[j]));
                    values[j][0] = '\0';
                }
            return -1;
        }
        psw_secrets_free(values[i]);
        values[i] = plain;
    }
    return 0;
}

/* ---- over Redis ------------------------------------------------------------ */

/* One step of the walk over <prefix>endpoints: *cursor in and out ("0"
 * ends), *rep the reply {cursor, id, SEALED_FIELDS values, …} the caller
 * frees. */
static int scan_step(struct psw_ctx *ctx, char cursor[32], redisReply **rep, char *err,
                     size_t errlen)
{
    const char *argv[] = { ctx->cfg->redis_prefix, cursor, SCAN_COUNT };
    *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_SECRETS_SCAN, 3, argv, NULL);
    if (!*rep || (*rep)->type != REDIS_REPLY_ARRAY || (*rep)->elements < 1 ||
        ((*rep)->elements - 1) % (1 + SEALED_FIELDS) != 0 || !psw_reply_str(*rep, 0)) {
        int rc = psw_ctx_redis_failure(ctx, *rep, "secrets_scan", err, errlen);
        freeReplyObject(*rep);
        *rep = NULL;
        return rc;
    }
    snprintf(cursor, 32, "%s", psw_reply_str(*rep, 0));
    return PSW_OK;
}

struct tally {
    char key_id[PSW_SECRETS_KEY_ID_SIZE]; /* "" = plain; "?" = malformed */
    long long secrets, previous;
};

#define MAX_TALLY 64

static struct tally *tally_of(struct tally *t, size_t *n, const char *key_id)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(t[i].key_id, key_id) == 0)
            return &t[i];
    if (*n == MAX_TALLY)
        return NULL; /* absurdly many keys: the rest are not itemized */
    memset(&t[*n], 0, sizeof(t[*n]));
    snprintf(t[*n].key_id, sizeof(t[*n].key_id), "%s", key_id);
    return &t[(*n)++];
}

static int by_key(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    return strcmp(x->key_id, y->key_id); /* "" (plain) first, "?" before hex */
}

static struct json_object *status_json(const struct psw_secrets_keyring *ring, long long endpoints,
                                       long long to_rekey, struct tally *t, size_t nt)
{
    struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
    int bad = !o || !arr;

    if (bad) {
        json_object_put(o);
        json_object_put(arr);
        return NULL;
    }
    bad |= psw_json_add_str_or_null(o, "encryption", ring->current.loaded ? "on" : "off");
    bad |= psw_json_add_str_or_null(o, "warning", ring->current.loaded ? NULL : PSW_SECRETS_PLAIN_WARNING);
    bad |= psw_json_add_str_or_null(o, "current_key_id", ring->current.loaded ? ring->current.id : NULL);
    bad |= psw_json_add_str_or_null(o, "current_key_source",
                           ring->current.loaded ? ring->current.source : NULL);
    bad |= psw_json_add_str_or_null(o, "previous_key_id", ring->previous.loaded ? ring->previous.id : NULL);
    bad |= psw_json_add_str_or_null(o, "previous_key_source",
                           ring->previous.loaded ? ring->previous.source : NULL);
    bad |= psw_json_add_int(o, "endpoints", endpoints);
    bad |= psw_json_add_int(o, "endpoints_to_rekey", to_rekey);
    qsort(t, nt, sizeof(*t), by_key);
    for (size_t i = 0; i < nt && !bad; i++) {
        struct json_object *row = json_object_new_object();
        const char *id = t[i].key_id, *which = NULL;
        if (!row || json_object_array_add(arr, row) != 0) {
            json_object_put(row);
            bad = 1;
            break;
        }
        int sealed = id[0] && id[0] != '?';
        if (sealed)
            which = ring->current.loaded && strcmp(id, ring->current.id) == 0 ? "current"
                    : ring->previous.loaded && strcmp(id, ring->previous.id) == 0 ? "previous"
                    : "not loaded";
        bad |= psw_json_add_str_or_null(row, "stored_as",
                               !id[0] ? "plain" : id[0] == '?' ? "malformed" : "enc:v1");
        bad |= psw_json_add_str_or_null(row, "key_id", sealed ? id : NULL);
        bad |= psw_json_add_str_or_null(row, "key", which);
        bad |= psw_json_add_int(row, "secrets", t[i].secrets);
        bad |= psw_json_add_int(row, "previous_secrets", t[i].previous);
    }
    bad |= psw_json_add(o, "storage", arr);
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int psw_secrets_status(struct psw_ctx *ctx, struct json_object **out, char *err, size_t errlen)
{
    int merged_rc;
    if (psw_stats_merge_shards(ctx, psw_secrets_status, out, err, errlen, &merged_rc))
        return merged_rc;
    struct psw_secrets_keyring ring;
    struct tally t[MAX_TALLY];
    size_t nt = 0;
    long long endpoints = 0, to_rekey = 0;
    char cursor[32] = "0";
    int rc;

    *out = NULL;
    if (psw_secrets_load(ctx->cfg, &ring, err, errlen) < 0)
        return PSW_EINVAL;
    do {
        redisReply *rep;
        if ((rc = scan_step(ctx, cursor, &rep, err, errlen)) != PSW_OK)
            goto cleanup;
        for (size_t i = 1; i + SEALED_FIELDS < rep->elements; i += 1 + SEALED_FIELDS) {
            int stale = 0;
            if (!psw_reply_str(rep, i))
                continue; /* the hash is gone */
            endpoints++;
            for (int f = 0; f < SEALED_FIELDS; f++) {
                const char *v = psw_reply_str(rep, i + 1 + (size_t)f);
                char id[PSW_SECRETS_KEY_ID_SIZE];
                enum psw_secrets_form form = psw_secrets_form(v, id);
                if (form == PSW_SECRETS_EMPTY)
                    continue;
                if (form == PSW_SECRETS_MALFORMED)
                    snprintf(id, sizeof(id), "?");
                struct tally *x = f < 2 ? tally_of(t, &nt, id) : NULL;
                if (x) {
                    if (f == 0)
                        x->secrets++;
                    else
                        x->previous++;
                }
                if (form != PSW_SECRETS_SEALED || !ring.current.loaded ||
                    strcmp(id, ring.current.id) != 0)
                    stale = 1;
            }
            to_rekey += stale;
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    /* With no key configured, plain values are where they belong. */
    if (!ring.current.loaded)
        to_rekey = 0;
    if (!(*out = status_json(&ring, endpoints, to_rekey, t, nt))) {
        snprintf(err, errlen, "out of memory");
        rc = PSW_EFAIL;
    }

cleanup:
    psw_secrets_wipe(&ring);
    return rc;
}

/* What one stored value becomes: *out NULL = keep it as it is. Counts into
 * res. Returns 0, or -1 when it cannot be opened (why in err). */
static int rekey_value(const struct psw_secrets_keyring *ring, const char *ep, const char *v,
                       char **out, struct psw_secrets_rekey_result *res, char *err,
                       size_t errlen)
{
    char id[PSW_SECRETS_KEY_ID_SIZE];
    enum psw_secrets_form form = psw_secrets_form(v, id);
    char *plain;

    *out = NULL;
    if (form == PSW_SECRETS_EMPTY)
        return 0;
    if (form == PSW_SECRETS_SEALED && strcmp(id, ring->current.id) == 0) {
        /* Opened anyway: a value under the right key id that does not
         * authenticate is reported, not counted as fine. */
        if (!(plain = psw_secrets_open(ring, ep, v, err, errlen)))
            return -1;
        psw_secrets_free(plain);
        res->already++;
        return 0;
    }
    if (!(plain = psw_secrets_open(ring, ep, v, err, errlen)))
        return -1;
    *out = psw_secrets_seal(ring, ep, plain, err, errlen);
    psw_secrets_free(plain);
    if (!*out)
        return -1;
    if (form == PSW_SECRETS_PLAIN)
        res->sealed_plain++;
    else
        res->resealed++;
    return 0;
}

/* Rekeys one endpoint from the values read (SEALED_FIELDS of them). Counts
 * into res and reports failures only once the outcome is final. Returns 1
 * when done (written, or nothing to write), 0 when its values changed
 * meanwhile, PSW_EFAIL. */
static int rekey_endpoint(struct psw_ctx *ctx, const struct psw_secrets_keyring *ring,
                          const struct psw_secrets_rekey_options *opt, const char *ep,
                          const char *const values[SEALED_FIELDS],
                          struct psw_secrets_rekey_result *res, char *err, size_t errlen)
{
    const char *read[SEALED_FIELDS];
    char *next[SEALED_FIELDS] = { NULL };
    struct psw_secrets_rekey_result n = { .endpoints = 0 };
    char why[SEALED_FIELDS][512];
    int rc = 1, failed[SEALED_FIELDS] = { 0 }, any = 0;

    for (int f = 0; f < SEALED_FIELDS; f++) {
        read[f] = values[f] ? values[f] : "";
        failed[f] = rekey_value(ring, ep, read[f], &next[f], &n, why[f], sizeof(why[f])) < 0;
        any |= next[f] != NULL;
    }
    if (!opt->dry_run && any) {
        const char *argv[2 + 2 * SEALED_FIELDS] = { ctx->cfg->redis_prefix, ep };
        for (int f = 0; f < SEALED_FIELDS; f++) {
            argv[2 + f] = read[f];
            argv[2 + SEALED_FIELDS + f] = next[f] ? next[f] : read[f];
        }
        redisReply *rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_SECRETS_REKEY,
                                         2 + 2 * SEALED_FIELDS, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_STATUS)
            rc = psw_ctx_redis_failure(ctx, rep, "secrets_rekey", err, errlen);
        else if (strcmp(rep->str, "changed") == 0)
            rc = 0;
        else if (strcmp(rep->str, "ok") != 0 && strcmp(rep->str, "notfound") != 0)
            rc = psw_ctx_redis_failure(ctx, rep, "secrets_rekey", err, errlen);
        freeReplyObject(rep);
    }
    if (rc == 1) {
        res->sealed_plain += n.sealed_plain;
        res->resealed += n.resealed;
        res->already += n.already;
        for (int f = 0; f < SEALED_FIELDS; f++) {
            if (!failed[f])
                continue;
            res->failed++;
            if (opt->report)
                opt->report(opt->arg, ep, sealed_fields[f], why[f]);
        }
    }
    for (int f = 0; f < SEALED_FIELDS; f++)
        psw_secrets_free(next[f]);
    return rc;
}

/* Cluster mode: every shard in turn, the counts added up. */
static _Thread_local int rekeying_shards;

static int rekey_shards(struct psw_ctx *ctx, const struct psw_secrets_rekey_options *opt,
                        struct psw_secrets_rekey_result *res, char *err, size_t errlen)
{
    int rc = PSW_OK;
    memset(res, 0, sizeof(*res));
    rekeying_shards = 1;
    for (unsigned i = 0; i < psw_ctx_nshards(ctx->cfg) && rc == PSW_OK; i++) {
        struct psw_secrets_rekey_result one;
        struct psw_ctx *sc = psw_ctx_shard(ctx, i, err, errlen);
        rc = sc ? psw_secrets_rekey(sc, opt, &one, err, errlen) : PSW_EFAIL;
        if (rc != PSW_OK)
            break;
        snprintf(res->key_id, sizeof(res->key_id), "%s", one.key_id);
        res->endpoints += one.endpoints;
        res->sealed_plain += one.sealed_plain;
        res->resealed += one.resealed;
        res->already += one.already;
        res->failed += one.failed;
        res->changed += one.changed;
    }
    rekeying_shards = 0;
    return rc;
}

int psw_secrets_rekey(struct psw_ctx *ctx, const struct psw_secrets_rekey_options *opt,
                      struct psw_secrets_rekey_result *res, char *err, size_t errlen)
{
    if (psw_ctx_nshards(ctx->cfg) > 1 && !rekeying_shards)
        return rekey_shards(ctx, opt, res, err, errlen);
    static const struct psw_secrets_rekey_options none = PSW_SECRETS_REKEY_OPTIONS_INIT;
    struct psw_secrets_keyring ring;
    char cursor[32] = "0";
    int rc = PSW_OK;

    memset(res, 0, sizeof(*res));
    if (!opt)
        opt = &none;
    if (psw_secrets_load(ctx->cfg, &ring, err, errlen) < 0)
        return PSW_EINVAL;
    if (!ring.current.loaded) {
        snprintf(err, errlen, "no key to rekey to: set secrets.key_file (or "
                              PSW_SECRETS_ENV_KEY ")");
        rc = PSW_EINVAL;
        goto cleanup;
    }
    snprintf(res->key_id, sizeof(res->key_id), "%s", ring.current.id);
    do {
        redisReply *rep;
        if ((rc = scan_step(ctx, cursor, &rep, err, errlen)) != PSW_OK)
            goto cleanup;
        for (size_t i = 1; i + SEALED_FIELDS < rep->elements && rc == PSW_OK;
             i += 1 + SEALED_FIELDS) {
            const char *ep = psw_reply_str(rep, i);
            const char *vals[SEALED_FIELDS];
            if (!ep)
                continue;
            res->endpoints++;
            for (int f = 0; f < SEALED_FIELDS; f++)
                vals[f] = psw_reply_str(rep, i + 1 + (size_t)f);
            int done = rekey_endpoint(ctx, &ring, opt, ep, vals, res, err, errlen);
            /* Changed meanwhile (a rotation, the grace ending): read again. */
            for (int t = 1; done == 0 && t < REKEY_TRIES; t++) {
                char key[PSW_KEY_SIZE];
                psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_ENDPOINT, ep);
                redisReply *h = psw_redis_command(ctx->redis,
                                                  "HMGET %s secret secret_prev signing_key headers",
                                                  key);
                if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != SEALED_FIELDS) {
                    done = psw_ctx_redis_failure(ctx, h, "HMGET", err, errlen);
                    freeReplyObject(h);
                    break;
                }
                for (int f = 0; f < SEALED_FIELDS; f++)
                    vals[f] = psw_reply_str(h, (size_t)f);
                done = rekey_endpoint(ctx, &ring, opt, ep, vals, res, err, errlen);
                freeReplyObject(h);
            }
            if (done == 0)
                res->changed++;
            else if (done < 0)
                rc = done;
        }
        freeReplyObject(rep);
    } while (rc == PSW_OK && strcmp(cursor, "0") != 0);

cleanup:
    psw_secrets_wipe(&ring);
    return rc;
}
