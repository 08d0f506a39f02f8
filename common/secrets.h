/*
 * secrets.h — endpoint signing secrets encrypted at rest (issue 7).
 *
 * A 32-byte master key comes from PSW_SECRETS_KEY or the file named by
 * secrets.key_file (the environment wins, like PSW_REDIS_URL over
 * redis.url); a second, optional key from PSW_SECRETS_PREVIOUS_KEY or
 * secrets.previous_key_file only opens values, so secrets sealed under an
 * older key keep working while `psw secrets rekey` moves them to the
 * current one. Key text is 64 hex characters or 44 base64 characters
 * (surrounding whitespace ignored); a key file must not be accessible to
 * other users, nor writable by its group, nor readable by its group unless
 * root owns it (the root:psw 0640 layout).
 *
 * A key is known by its id: the first 8 hex characters of
 * SHA-256("psw-key-id" || key). A sealed secret is stored as
 *
 *     enc:v1:<key id>:<base64(nonce[12] || ciphertext || tag[16])>
 *
 * AES-256-GCM with a random nonce and the endpoint id as additional
 * authenticated data, so a value copied to another endpoint does not open.
 * A stored value without the "enc:" prefix is a plaintext secret (stored
 * while no key was configured); "" means "no secret" and stays "".
 * Without any key, seal stores plain text and the programs say so once at
 * start (PSW_SECRETS_PLAIN_WARNING).
 *
 * Ownership: a keyring lives where its user puts it (stack, struct child)
 * and is wiped with psw_secrets_wipe(). Strings returned here are heap
 * copies the caller releases with psw_secrets_free() (wipes, then frees).
 * Key bytes, plaintexts and intermediate buffers are wiped with
 * OPENSSL_cleanse before their memory is released.
 */
#ifndef PSW_SECRETS_H
#define PSW_SECRETS_H

#include <stddef.h>

#include "common/config.h"
#include "common/ctx.h"

struct json_object;

#define PSW_SECRETS_KEY_BYTES 32
#define PSW_SECRETS_KEY_ID_SIZE 9 /* 8 lowercase hex characters + NUL */
#define PSW_SECRETS_ENC_PREFIX "enc:"
#define PSW_SECRETS_V1_PREFIX "enc:v1:"
#define PSW_SECRETS_ENV_KEY "PSW_SECRETS_KEY"
#define PSW_SECRETS_ENV_PREVIOUS "PSW_SECRETS_PREVIOUS_KEY"
#define PSW_SECRETS_PLAIN_WARNING \
    "secrets.key_file is not set: endpoint signing secrets are stored in Redis in plain text"

struct psw_secrets_key {
    int loaded;
    unsigned char bytes[PSW_SECRETS_KEY_BYTES];
    char id[PSW_SECRETS_KEY_ID_SIZE];
    char source[512]; /* "PSW_SECRETS_KEY" or the file's path, for messages */
};

struct psw_secrets_keyring {
    struct psw_secrets_key current;  /* seals and opens; not loaded = plain text */
    struct psw_secrets_key previous; /* opens only */
};

/* The key id of key into id. */
void psw_secrets_key_id(const unsigned char key[PSW_SECRETS_KEY_BYTES],
                        char id[PSW_SECRETS_KEY_ID_SIZE]);

/* Parses key text (64 hex or 44 base64 characters, whitespace around it
 * ignored) into out (source left as it was). what names the text in
 * messages ("PSW_SECRETS_KEY", "secrets.key_file: /etc/psw/key"). An
 * all-zero key is refused. Returns 0, or -1 with err. */
int psw_secrets_key_parse(const char *text, size_t len, const char *what,
                          struct psw_secrets_key *out, char *err, size_t errlen);

/* Reads a key file (regular file, at most 4 KiB, permissions as above).
 * config_key names the setting in messages ("secrets.key_file"). */
int psw_secrets_key_read(const char *path, const char *config_key, struct psw_secrets_key *out,
                         char *err, size_t errlen);

/* Loads the current and previous keys of cfg (see above). No key at all is
 * not an error: ring->current.loaded is 0. A previous key without a current
 * one, or the same key twice, is. On error the ring is wiped. First turns
 * core dumps off for the calling process and its future
 * children (PR_SET_DUMPABLE 0, RLIMIT_CORE 0): whoever loads keys holds keys
 * or opened endpoint secrets. */
int psw_secrets_load(const struct psw_config *cfg, struct psw_secrets_keyring *ring, char *err,
                     size_t errlen);
void psw_secrets_wipe(struct psw_secrets_keyring *ring);

/* 1 when cfg or the environment names a current key (nothing is read). */
int psw_secrets_configured(const struct psw_config *cfg);

/* For a program's start: loads the keys, logs which key ids are in use (or
 * PSW_SECRETS_PLAIN_WARNING as a warning), wipes them. -1 with err when the
 * keys cannot be loaded. */
int psw_secrets_startup(const struct psw_config *cfg, char *err, size_t errlen);

/* The stored form of plain for endpoint_id: sealed under the current key,
 * or a plain copy when no key is loaded; "" stays "". NULL with err on
 * failure. Free with psw_secrets_free. */
char *psw_secrets_seal(const struct psw_secrets_keyring *ring, const char *endpoint_id,
                       const char *plain, char *err, size_t errlen);

/* The secret a stored value holds (plain values and "" are copied). NULL
 * with err on failure: "secrets: cannot decrypt the endpoint secret (key id
 * ab12cd34 not loaded)", "(… authentication failed …)", "(malformed …)". */
char *psw_secrets_open(const struct psw_secrets_keyring *ring, const char *endpoint_id,
                       const char *stored, char *err, size_t errlen);

/* Opens n stored values of one endpoint in place (NULL entries skipped): a
 * sealed value is replaced by its plaintext. If any fails, every value is
 * blanked to "" (wiped) and -1 returned with err, so nothing half-opened is
 * used. 0 on success. */
int psw_secrets_open_all(const struct psw_secrets_keyring *ring, const char *endpoint_id,
                         char **values, size_t n, char *err, size_t errlen);

/* OPENSSL_cleanse(s, strlen(s)) and free; NULL is fine. */
void psw_secrets_free(char *s);

enum psw_secrets_form {
    PSW_SECRETS_EMPTY = 0, /* "" or NULL: no secret */
    PSW_SECRETS_PLAIN,     /* no "enc:" prefix */
    PSW_SECRETS_SEALED,    /* enc:v1:<8 hex>:… (key_id filled in) */
    PSW_SECRETS_MALFORMED, /* "enc:" but not a value this version reads */
};

/* What a stored value is, without opening it. key_id may be NULL. */
enum psw_secrets_form psw_secrets_form(const char *stored, char key_id[PSW_SECRETS_KEY_ID_SIZE]);

/* ---- operations over Redis (psw secrets status | rekey) ---------------- */

/* {"encryption": "on"|"off", "warning": PSW_SECRETS_PLAIN_WARNING or null,
 *  "current_key_id", "current_key_source", "previous_key_id",
 *  "previous_key_source" (null when not loaded), "endpoints": N (not
 *  deleted), "endpoints_to_rekey": N (a secret, previous secret, signing
 *  key or headers value not sealed under the current key), "storage": [{"stored_as": "plain" |
 *  "enc:v1" | "malformed", "key_id": id or null, "key": "current" |
 *  "previous" | "not loaded" | null, "secrets": N endpoints whose secret is
 *  stored so, "previous_secrets": N whose secret_prev is}…]} — plain first,
 * then by key id. Needs no key; a key file that cannot be loaded is an
 * error (PSW_EINVAL). The caller json_object_put()s *out. */
int psw_secrets_status(struct psw_ctx *ctx, struct json_object **out, char *err, size_t errlen);

struct psw_secrets_rekey_options {
    int dry_run; /* count only, write nothing */
    /* called for each value that cannot be rekeyed (may be NULL);
     * field is "secret", "secret_prev", "signing_key" or "headers" */
    void (*report)(void *arg, const char *endpoint_id, const char *field, const char *why);
    void *arg;
};
#define PSW_SECRETS_REKEY_OPTIONS_INIT { 0, NULL, NULL }

struct psw_secrets_rekey_result {
    char key_id[PSW_SECRETS_KEY_ID_SIZE]; /* the current key */
    size_t endpoints;      /* endpoints looked at */
    size_t sealed_plain;   /* plaintext values sealed */
    size_t resealed;       /* values moved from another key to the current one */
    size_t already;        /* values already under the current key */
    size_t failed;         /* values that could not be opened (reported) */
    size_t changed;        /* endpoints whose secrets kept changing meanwhile (left) */
};

/* Re-encrypts every endpoint's secret, secret_prev and the options sealed
 * like them (signing_key, headers) under the current key, opening them with
 * the current or the previous key; plaintext values are sealed. Each
 * endpoint is written by one script that replaces the values only if all
 * are still what was read (else it is read again, up
 * to 3 times). Needs a current key (PSW_EINVAL otherwise). Returns 0 when
 * the walk finished (check res->failed and res->changed), PSW_EFAIL when
 * Redis failed. */
int psw_secrets_rekey(struct psw_ctx *ctx, const struct psw_secrets_rekey_options *opt,
                      struct psw_secrets_rekey_result *res, char *err, size_t errlen);

#endif
