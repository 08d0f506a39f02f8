/*
 * test_secrets.c — common/secrets.c without Redis: key text (hex, base64,
 * whitespace, a table of bad keys), key files (permissions, size, type),
 * where keys come from (file, environment, previous key), the key id and a
 * sealed value checked against an independent implementation, seal/open
 * round trips, the endpoint id bound in (AAD), tampering with nonce,
 * ciphertext and tag, unknown key ids, the previous key, plaintext
 * passthrough, malformed values, and open_all's all-or-nothing.
 *
 * The status and rekey operations run against Redis in tests/e2e/test_secrets.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <openssl/evp.h>

#include "common/config.h"
#include "common/secrets.h"
#include "tests/harness/proc.h"

/*
 * Known answers, computed with Python's hashlib and the `cryptography`
 * package (AESGCM), independently of this code:
 *
 *   key = bytes(range(1, 33))
 *   hashlib.sha256(b"psw-key-id" + key).hexdigest()[:8]            → 7e4b04f2
 *   hashlib.sha256(b"psw-key-id" + bytes([0xff] * 32)).hexdigest()[:8] → 755f6c2f
 *   nonce = bytes(range(0xa0, 0xac)); aad = b"ep_01JCKAT0000000000000000000"
 *   "enc:v1:" + id + ":" + b64encode(nonce + AESGCM(key).encrypt(nonce,
 *       b"whsec_known_answer_secret_0001", aad))
 */
#define KEY1_HEX "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
#define KEY1_B64 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KEY1_ID "7e4b04f2"
#define KEYFF_HEX "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define KEYFF_ID "755f6c2f"
#define KAT_EP "ep_01JCKAT0000000000000000000"
#define KAT_PLAIN "whsec_known_answer_secret_0001"
#define KAT_SEALED                                                                      \
    "enc:v1:7e4b04f2:oKGio6SlpqeoqaqrzrlOA57qMWoQecw0kOtT8zKl72o9CxLhUwTlzWJ/yhpsUtTh/" \
    "2afpQ0rEHNY6g=="

#define EP_A "ep_01JCA00000000000000000000A"
#define EP_B "ep_01JCB00000000000000000000B"
#define SECRET "whsec_nk9qi3K0abc8sUSykh/YJ5gS0hcXTYZm3PxzNX2OLb8="
#define OPEN_FAIL "secrets: cannot decrypt the endpoint secret"
#define AUTH_FAIL(id)                                                                      \
    OPEN_FAIL " (key id " id ": authentication failed: the value was altered or belongs to " \
              "another endpoint)"

static char *DIR_; /* per test, removed by the teardown */

static int setup(void **state)
{
    (void)state;
    unsetenv(PSW_SECRETS_ENV_KEY);
    unsetenv(PSW_SECRETS_ENV_PREVIOUS);
    DIR_ = tmpdir_new();
    return DIR_ ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv(PSW_SECRETS_ENV_KEY);
    unsetenv(PSW_SECRETS_ENV_PREVIOUS);
    tmpdir_remove(DIR_);
    free(DIR_);
    DIR_ = NULL;
    return 0;
}

static void key_of(const char *text, struct psw_secrets_key *k)
{
    char err[512] = "";
    memset(k, 0, sizeof(*k));
    if (psw_secrets_key_parse(text, strlen(text), "test", k, err, sizeof(err)) != 0)
        fail_msg("key %s: %s", text, err);
}

/* A ring with current (and previous, if not NULL) from key text. */
static void ring_of(struct psw_secrets_keyring *r, const char *current, const char *previous)
{
    memset(r, 0, sizeof(*r));
    if (current)
        key_of(current, &r->current);
    if (previous)
        key_of(previous, &r->previous);
}

/* path = DIR_/name holding content with mode. */
static void key_file(char *path, size_t n, const char *name, const char *content, mode_t mode)
{
    snprintf(path, n, "%s/%s", DIR_, name);
    assert_int_equal(write_file(path, content), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static char *seal_ok(const struct psw_secrets_keyring *r, const char *ep, const char *plain)
{
    char err[512] = "";
    char *s = psw_secrets_seal(r, ep, plain, err, sizeof(err));
    if (!s)
        fail_msg("seal: %s", err);
    return s;
}

static void open_fails(const struct psw_secrets_keyring *r, const char *ep, const char *stored,
                       const char *want)
{
    char err[512] = "";
    char *p = psw_secrets_open(r, ep, stored, err, sizeof(err));
    if (p)
        fail_msg("opened %s for %s, expected: %s", stored, ep, want);
    assert_string_equal(err, want);
}

static void open_gives(const struct psw_secrets_keyring *r, const char *ep, const char *stored,
                       const char *want)
{
    char err[512] = "";
    char *p = psw_secrets_open(r, ep, stored, err, sizeof(err));
    if (!p)
        fail_msg("open %s: %s", stored, err);
    assert_string_equal(p, want);
    psw_secrets_free(p);
}

/* ---- keys ------------------------------------------------------------------- */

static void test_key_id_known_answers(void **state)
{
    (void)state;
    struct psw_secrets_key k;
    key_of(KEY1_HEX, &k);
    assert_string_equal(k.id, KEY1_ID);
    for (int i = 0; i < 32; i++)
        assert_int_equal(k.bytes[i], i + 1);
    key_of(KEYFF_HEX, &k);
    assert_string_equal(k.id, KEYFF_ID);
    char id[PSW_SECRETS_KEY_ID_SIZE];
    psw_secrets_key_id(k.bytes, id);
    assert_string_equal(id, KEYFF_ID);
}

static void test_key_text_forms(void **state)
{
    (void)state;
    static const char *const forms[] = {
        KEY1_HEX,
        "0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20",
        KEY1_B64,
        "\n  " KEY1_HEX " \t\r\n",
        "  " KEY1_B64 "\n",
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct psw_secrets_key k;
        key_of(forms[i], &k);
        assert_int_equal(k.loaded, 1);
        assert_string_equal(k.id, KEY1_ID);
        for (int b = 0; b < 32; b++)
            assert_int_equal(k.bytes[b], b + 1);
    }
}

static void test_key_text_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } cases[] = {
        { "", "K: expected a 32-byte key as 64 hex or 44 base64 characters, got 0 characters "
              "(e.g. openssl rand -hex 32)" },
        { "  \n", "K: expected a 32-byte key as 64 hex or 44 base64 characters, got 0 "
                  "characters (e.g. openssl rand -hex 32)" },
        { KEY1_HEX "0", "K: expected a 32-byte key as 64 hex or 44 base64 characters, got 65 "
                        "characters (e.g. openssl rand -hex 32)" },
        { "102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
          "K: expected a 32-byte key as 64 hex or 44 base64 characters, got 63 characters "
          "(e.g. openssl rand -hex 32)" },
        { "010203040g0708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
          "K: expected a 32-byte key as 64 hex or 44 base64 characters, got 62 characters "
          "(e.g. openssl rand -hex 32)" },
        { "0102030405g608090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ab",
          "K: 64 characters but not hex: character 11 is not 0-9 or a-f" },
        { "01020304050g08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ab",
          "K: 64 characters but not hex: character 12 is not 0-9 or a-f" },
        { "0102 30405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
          "K: 64 characters but not hex: character 5 is not 0-9 or a-f" },
        /* base64: a bad character, 31 bytes, no padding (33 bytes), leftover bits set */
        { "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH!A=",
          "K: 44 characters but not the base64 of 32 bytes" },
        { "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==",
          "K: 44 characters but not the base64 of 32 bytes" },
        { "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAh",
          "K: 44 characters but not the base64 of 32 bytes" },
        { "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB=",
          "K: 44 characters but not the base64 of 32 bytes" },
        { "0000000000000000000000000000000000000000000000000000000000000000",
          "K: the key is all zero bytes; generate one with openssl rand -hex 32" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct psw_secrets_key k;
        char err[512] = "";
        memset(&k, 0, sizeof(k));
        if (psw_secrets_key_parse(cases[i].text, strlen(cases[i].text), "K", &k, err,
                                  sizeof(err)) == 0)
            fail_msg("case %zu: \"%s\" was accepted", i, cases[i].text);
        assert_string_equal(err, cases[i].err);
        assert_int_equal(k.loaded, 0);
    }
}

static void key_file_fails(const char *path, const char *want_suffix)
{
    struct psw_secrets_key k;
    char err[1024] = "", want[1200];
    memset(&k, 0, sizeof(k));
    if (psw_secrets_key_read(path, "secrets.key_file", &k, err, sizeof(err)) == 0)
        fail_msg("%s was accepted", path);
    snprintf(want, sizeof(want), "secrets.key_file: %s: %s", path, want_suffix);
    assert_string_equal(err, want);
    assert_int_equal(k.loaded, 0);
}

static void key_file_ok(const char *path, const char *want_id)
{
    struct psw_secrets_key k;
    char err[1024] = "";
    memset(&k, 0, sizeof(k));
    if (psw_secrets_key_read(path, "secrets.key_file", &k, err, sizeof(err)) != 0)
        fail_msg("%s: %s", path, err);
    assert_string_equal(k.id, want_id);
    assert_string_equal(k.source, path);
}

#define PERM_READ(m) \
    "permissions " m " let other users read the key; chmod 600 it (or 640 with the file " \
    "owned by root and the service's group)"
#define PERM_CHANGE(m) \
    "permissions " m " let other users change the key; chmod 600 it (or 640 with the file " \
    "owned by root and the service's group)"

static void test_key_files(void **state)
{
    (void)state;
    char p[600];

    key_file(p, sizeof(p), "ok-hex", KEY1_HEX "\n", 0600);
    key_file_ok(p, KEY1_ID);
    key_file(p, sizeof(p), "ok-b64", KEY1_B64 "\n", 0400);
    key_file_ok(p, KEY1_ID);

    key_file(p, sizeof(p), "world-readable", KEY1_HEX "\n", 0644);
    key_file_fails(p, PERM_READ("0644"));
    key_file(p, sizeof(p), "world-only", KEY1_HEX "\n", 0604);
    key_file_fails(p, PERM_READ("0604"));
    key_file(p, sizeof(p), "world-writable", KEY1_HEX "\n", 0602);
    key_file_fails(p, PERM_CHANGE("0602"));
    key_file(p, sizeof(p), "group-writable", KEY1_HEX "\n", 0620);
    key_file_fails(p, PERM_CHANGE("0620"));
    key_file(p, sizeof(p), "group-rw", KEY1_HEX "\n", 0660);
    key_file_fails(p, PERM_CHANGE("0660"));

    /* group-readable: only when root owns the file (root:psw 0640) */
    key_file(p, sizeof(p), "group-readable", KEY1_HEX "\n", 0640);
    if (getuid() == 0) {
        key_file_ok(p, KEY1_ID); /* created by root */
        assert_int_equal(chown(p, 65534, 65534), 0);
    }
    key_file_fails(p, PERM_READ("0640"));

    key_file(p, sizeof(p), "short", "abcdef\n", 0600);
    key_file_fails(p, "expected a 32-byte key as 64 hex or 44 base64 characters, got 6 "
                      "characters (e.g. openssl rand -hex 32)");
    key_file(p, sizeof(p), "empty", "", 0600);
    key_file_fails(p, "expected a 32-byte key as 64 hex or 44 base64 characters, got 0 "
                      "characters (e.g. openssl rand -hex 32)");
    key_file(p, sizeof(p), "badhex",
             "zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", 0600);
    key_file_fails(p, "64 characters but not hex: character 1 is not 0-9 or a-f");

    char big[5001];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    key_file(p, sizeof(p), "big", big, 0600);
    key_file_fails(p, "5000 bytes is too big for a key file");

    snprintf(p, sizeof(p), "%s/missing", DIR_);
    key_file_fails(p, "cannot read: No such file or directory");
    snprintf(p, sizeof(p), "%s", DIR_);
    key_file_fails(p, "not a regular file");
}

static void test_load_sources(void **state)
{
    (void)state;
    struct psw_config cfg;
    struct psw_secrets_keyring r;
    char k1[600], kff[600], err[1024];

    memset(&cfg, 0, sizeof(cfg));
    key_file(k1, sizeof(k1), "k1", KEY1_HEX "\n", 0600);
    key_file(kff, sizeof(kff), "kff", KEYFF_HEX "\n", 0600);

    /* nothing configured: no key, not an error */
    cfg.secrets_key_file = "";
    cfg.secrets_previous_key_file = "";
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    assert_int_equal(r.current.loaded, 0);
    assert_int_equal(r.previous.loaded, 0);
    assert_int_equal(psw_secrets_configured(&cfg), 0);

    /* the file */
    cfg.secrets_key_file = k1;
    assert_int_equal(psw_secrets_configured(&cfg), 1);
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    assert_int_equal(r.current.loaded, 1);
    assert_string_equal(r.current.id, KEY1_ID);
    assert_string_equal(r.current.source, k1);
    assert_int_equal(r.previous.loaded, 0);

    /* the environment wins over the file; empty means unset */
    setenv(PSW_SECRETS_ENV_KEY, KEYFF_HEX, 1);
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    assert_string_equal(r.current.id, KEYFF_ID);
    assert_string_equal(r.current.source, "PSW_SECRETS_KEY");
    setenv(PSW_SECRETS_ENV_KEY, "", 1);
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    assert_string_equal(r.current.id, KEY1_ID);
    cfg.secrets_key_file = "";
    assert_int_equal(psw_secrets_configured(&cfg), 0);
    setenv(PSW_SECRETS_ENV_KEY, KEY1_B64, 1);
    assert_int_equal(psw_secrets_configured(&cfg), 1);
    unsetenv(PSW_SECRETS_ENV_KEY);

    /* a previous key, from its file or its variable */
    cfg.secrets_key_file = k1;
    cfg.secrets_previous_key_file = kff;
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    assert_string_equal(r.current.id, KEY1_ID);
    assert_string_equal(r.previous.id, KEYFF_ID);
    assert_string_equal(r.previous.source, kff);
    cfg.secrets_previous_key_file = "";
    setenv(PSW_SECRETS_ENV_PREVIOUS, KEYFF_HEX, 1);
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    assert_string_equal(r.previous.id, KEYFF_ID);
    assert_string_equal(r.previous.source, "PSW_SECRETS_PREVIOUS_KEY");

    /* a previous key alone is a mistake; so is the same key twice */
    cfg.secrets_key_file = "";
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "secrets: a previous key (PSW_SECRETS_PREVIOUS_KEY) is set but "
                             "no current key: set secrets.key_file or PSW_SECRETS_KEY");
    assert_int_equal(r.current.loaded, 0);
    assert_int_equal(r.previous.loaded, 0); /* wiped */
    unsetenv(PSW_SECRETS_ENV_PREVIOUS);
    cfg.secrets_key_file = k1;
    cfg.secrets_previous_key_file = k1;
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), -1);
    char want[2000];
    snprintf(want, sizeof(want),
             "secrets: the previous key (%s) is the current key (%s), key id " KEY1_ID
             "; after a rekey, remove the previous key",
             k1, k1);
    assert_string_equal(err, want);

    /* bad values name their source */
    cfg.secrets_previous_key_file = "";
    setenv(PSW_SECRETS_ENV_KEY, "abc", 1);
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "PSW_SECRETS_KEY: expected a 32-byte key as 64 hex or 44 base64 "
                             "characters, got 3 characters (e.g. openssl rand -hex 32)");
    unsetenv(PSW_SECRETS_ENV_KEY);
    assert_int_equal(chmod(k1, 0644), 0);
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "secrets.key_file: %s: " PERM_READ("0644"), k1);
    assert_string_equal(err, want);
    cfg.secrets_key_file = kff;
    cfg.secrets_previous_key_file = k1;
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "secrets.previous_key_file: %s: " PERM_READ("0644"), k1);
    assert_string_equal(err, want);

    /* wipe leaves nothing */
    cfg.secrets_previous_key_file = "";
    assert_int_equal(psw_secrets_load(&cfg, &r, err, sizeof(err)), 0);
    psw_secrets_wipe(&r);
    unsigned char zero[sizeof(r)];
    memset(zero, 0, sizeof(zero));
    assert_memory_equal(&r, zero, sizeof(r));
}

/* ---- sealing and opening ----------------------------------------------------- */

/* The decoded nonce || ciphertext || tag of a sealed value. */
static size_t payload(const char *sealed, unsigned char *out, size_t cap)
{
    const char *b64 = sealed + strlen("enc:v1:xxxxxxxx:");
    size_t len = strlen(b64);
    assert_true(len % 4 == 0 && len / 4 * 3 <= cap);
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    assert_true(n > 0);
    size_t pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
    return (size_t)n - pad;
}

/* sealed with byte i of its payload flipped, in a new heap string. */
static char *flipped(const char *sealed, size_t i)
{
    unsigned char raw[512];
    size_t n = payload(sealed, raw, sizeof(raw));
    assert_true(i < n);
    raw[i] ^= 0x01;
    size_t pre = strlen("enc:v1:xxxxxxxx:");
    char *out = malloc(pre + 4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    memcpy(out, sealed, pre);
    EVP_EncodeBlock((unsigned char *)out + pre, raw, (int)n);
    return out;
}

static void test_known_answer_open(void **state)
{
    (void)state;
    struct psw_secrets_keyring r;
    ring_of(&r, KEY1_B64, NULL);
    open_gives(&r, KAT_EP, KAT_SEALED, KAT_PLAIN);
    open_fails(&r, EP_A, KAT_SEALED, AUTH_FAIL(KEY1_ID));
    char id[PSW_SECRETS_KEY_ID_SIZE];
    assert_int_equal(psw_secrets_form(KAT_SEALED, id), PSW_SECRETS_SEALED);
    assert_string_equal(id, KEY1_ID);
}

static void test_seal_open_round_trip(void **state)
{
    (void)state;
    struct psw_secrets_keyring r;
    unsigned char raw[512];
    char id[PSW_SECRETS_KEY_ID_SIZE];

    ring_of(&r, KEY1_HEX, NULL);
    char *a = seal_ok(&r, EP_A, SECRET);
    char *b = seal_ok(&r, EP_A, SECRET);
    assert_int_equal(strncmp(a, "enc:v1:" KEY1_ID ":", 16), 0);
    /* nonce 12 + ciphertext (as long as the secret) + tag 16, in base64 */
    size_t n = strlen(SECRET) + 12 + 16;
    assert_int_equal(strlen(a), 16 + 4 * ((n + 2) / 3));
    assert_int_equal(payload(a, raw, sizeof(raw)), n);
    assert_null(strstr(a, SECRET));
    assert_string_not_equal(a, b); /* a fresh random nonce every time */
    assert_int_equal(psw_secrets_form(a, id), PSW_SECRETS_SEALED);
    assert_string_equal(id, KEY1_ID);
    open_gives(&r, EP_A, a, SECRET);
    open_gives(&r, EP_A, b, SECRET);
    psw_secrets_free(a);
    psw_secrets_free(b);

    /* every length a user secret may have */
    char s[257];
    for (size_t len = 1; len <= 256; len += 17) {
        memset(s, 'x', len);
        s[len] = '\0';
        s[0] = 'k';
        char *c = seal_ok(&r, EP_B, s);
        open_gives(&r, EP_B, c, s);
        psw_secrets_free(c);
    }
}

static void test_aad_binds_the_endpoint(void **state)
{
    (void)state;
    struct psw_secrets_keyring r;
    ring_of(&r, KEY1_HEX, NULL);
    char *a = seal_ok(&r, EP_A, SECRET);
    open_fails(&r, EP_B, a, AUTH_FAIL(KEY1_ID));
    open_fails(&r, "", a, AUTH_FAIL(KEY1_ID));
    open_gives(&r, EP_A, a, SECRET);
    psw_secrets_free(a);
}

static void test_tampering(void **state)
{
    (void)state;
    struct psw_secrets_keyring r;
    unsigned char raw[512];
    ring_of(&r, KEY1_HEX, NULL);
    char *a = seal_ok(&r, EP_A, SECRET);
    size_t n = payload(a, raw, sizeof(raw));
    /* nonce, ciphertext (first, middle, last), tag (first, last) */
    size_t at[] = { 0, 11, 12, 12 + strlen(SECRET) / 2, n - 17, n - 16, n - 1 };
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        char *t = flipped(a, at[i]);
        open_fails(&r, EP_A, t, AUTH_FAIL(KEY1_ID));
        free(t);
    }
    /* the tag cut off, or the whole payload gone */
    char cut[512];
    snprintf(cut, sizeof(cut), "%.*s", (int)(strlen(a) - 24), a);
    open_fails(&r, EP_A, cut, OPEN_FAIL " (key id " KEY1_ID ": authentication failed: the value "
                                        "was altered or belongs to another endpoint)");
    open_fails(&r, EP_A, "enc:v1:" KEY1_ID ":AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
               OPEN_FAIL " (malformed enc:v1: value)");
    open_fails(&r, EP_A, "enc:v1:" KEY1_ID ":", OPEN_FAIL " (malformed enc:v1: value)");
    psw_secrets_free(a);
}

static void test_unknown_key_id(void **state)
{
    (void)state;
    struct psw_secrets_keyring r, none, other;
    ring_of(&r, KEY1_HEX, NULL);
    ring_of(&none, NULL, NULL);
    ring_of(&other, KEYFF_HEX, NULL);
    char *a = seal_ok(&r, EP_A, SECRET);

    open_fails(&none, EP_A, a, OPEN_FAIL " (key id " KEY1_ID " not loaded)");
    open_fails(&other, EP_A, a, OPEN_FAIL " (key id " KEY1_ID " not loaded)");
    /* another id in front of a good payload */
    char *moved = strdup(a);
    assert_non_null(moved);
    memcpy(moved + 7, "00000000", 8);
    open_fails(&r, EP_A, moved, OPEN_FAIL " (key id 00000000 not loaded)");
    /* the right key under a forged id of another loaded key does not open */
    struct psw_secrets_keyring both;
    ring_of(&both, KEYFF_HEX, KEY1_HEX);
    memcpy(moved + 7, KEYFF_ID, 8);
    open_fails(&both, EP_A, moved, AUTH_FAIL(KEYFF_ID));
    free(moved);
    psw_secrets_free(a);
}

static void test_previous_key(void **state)
{
    (void)state;
    struct psw_secrets_keyring old, rot, fresh;
    ring_of(&old, KEY1_HEX, NULL);         /* before the rotation */
    ring_of(&rot, KEYFF_HEX, KEY1_HEX);    /* during: new key, old one kept */
    ring_of(&fresh, KEYFF_HEX, NULL);      /* after */
    char *a = seal_ok(&old, EP_A, SECRET);
    open_gives(&rot, EP_A, a, SECRET);
    char *b = seal_ok(&rot, EP_A, SECRET); /* seals under the current key */
    assert_int_equal(strncmp(b, "enc:v1:" KEYFF_ID ":", 16), 0);
    open_gives(&rot, EP_A, b, SECRET);
    open_gives(&fresh, EP_A, b, SECRET);
    open_fails(&fresh, EP_A, a, OPEN_FAIL " (key id " KEY1_ID " not loaded)");
    open_fails(&old, EP_A, b, OPEN_FAIL " (key id " KEYFF_ID " not loaded)");
    psw_secrets_free(a);
    psw_secrets_free(b);
}

static void test_plaintext_passthrough(void **state)
{
    (void)state;
    struct psw_secrets_keyring r, none;
    ring_of(&r, KEY1_HEX, NULL);
    ring_of(&none, NULL, NULL);

    /* without a key, seal stores plain text */
    char *p = seal_ok(&none, EP_A, SECRET);
    assert_string_equal(p, SECRET);
    assert_int_equal(psw_secrets_form(p, NULL), PSW_SECRETS_PLAIN);
    psw_secrets_free(p);
    /* plain values open as they are, with or without a key */
    open_gives(&r, EP_A, SECRET, SECRET);
    open_gives(&none, EP_B, SECRET, SECRET);
    open_gives(&r, EP_A, "en:v1:not-a-prefix", "en:v1:not-a-prefix");
    /* "" is "no secret", both ways */
    p = seal_ok(&r, EP_A, "");
    assert_string_equal(p, "");
    psw_secrets_free(p);
    open_gives(&r, EP_A, "", "");
    assert_int_equal(psw_secrets_form("", NULL), PSW_SECRETS_EMPTY);
    assert_int_equal(psw_secrets_form(NULL, NULL), PSW_SECRETS_EMPTY);
}

static void test_malformed_values(void **state)
{
    (void)state;
    struct psw_secrets_keyring r;
    ring_of(&r, KEY1_HEX, NULL);
    static const struct {
        const char *v, *err;
    } cases[] = {
        { "enc:", OPEN_FAIL " (unknown format: this version reads enc:v1: values)" },
        { "enc:v2:" KEY1_ID ":AAAA", OPEN_FAIL " (unknown format: this version reads enc:v1: "
                                               "values)" },
        { "enc:v1", OPEN_FAIL " (unknown format: this version reads enc:v1: values)" },
        { "enc:v1:", OPEN_FAIL " (malformed enc:v1: value)" },
        { "enc:v1:7E4B04F2:AAAA", OPEN_FAIL " (malformed enc:v1: value)" },
        { "enc:v1:7e4b04f:AAAAA", OPEN_FAIL " (malformed enc:v1: value)" },
        { "enc:v1:7e4b04f2-AAAA", OPEN_FAIL " (malformed enc:v1: value)" },
        { "enc:v1:7e4b04f2:!!!!", OPEN_FAIL " (malformed enc:v1: value)" },
        { "enc:v1:7e4b04f2:AAA", OPEN_FAIL " (malformed enc:v1: value)" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        open_fails(&r, EP_A, cases[i].v, cases[i].err);
    assert_int_equal(psw_secrets_form("enc:v2:x", NULL), PSW_SECRETS_MALFORMED);
    assert_int_equal(psw_secrets_form("enc:v1:7E4B04F2:AAAA", NULL), PSW_SECRETS_MALFORMED);
}

static void test_open_all(void **state)
{
    (void)state;
    struct psw_secrets_keyring r;
    char err[512] = "";
    ring_of(&r, KEY1_HEX, NULL);

    char *v[2] = { seal_ok(&r, EP_A, SECRET), seal_ok(&r, EP_A, "whsec_the_previous_one_01") };
    assert_int_equal(psw_secrets_open_all(&r, EP_A, v, 2, err, sizeof(err)), 0);
    assert_string_equal(v[0], SECRET);
    assert_string_equal(v[1], "whsec_the_previous_one_01");
    psw_secrets_free(v[0]);
    psw_secrets_free(v[1]);

    /* plain and empty and NULL entries are left alone */
    char *w[3] = { strdup(SECRET), strdup(""), NULL };
    assert_int_equal(psw_secrets_open_all(&r, EP_A, w, 3, err, sizeof(err)), 0);
    assert_string_equal(w[0], SECRET);
    assert_string_equal(w[1], "");
    psw_secrets_free(w[0]);
    psw_secrets_free(w[1]);

    /* one that does not open: both blanked, nothing half-opened */
    char *x[2] = { seal_ok(&r, EP_A, SECRET), seal_ok(&r, EP_B, "whsec_sealed_for_b_000") };
    assert_int_equal(psw_secrets_open_all(&r, EP_A, x, 2, err, sizeof(err)), -1);
    assert_string_equal(err, AUTH_FAIL(KEY1_ID));
    assert_string_equal(x[0], "");
    assert_string_equal(x[1], "");
    psw_secrets_free(x[0]);
    psw_secrets_free(x[1]);
    char *y[2] = { strdup("enc:v1:00000000:AAAA"), strdup(SECRET) };
    assert_int_equal(psw_secrets_open_all(&r, EP_A, y, 2, err, sizeof(err)), -1);
    assert_string_equal(err, OPEN_FAIL " (key id 00000000 not loaded)");
    assert_string_equal(y[0], "");
    assert_string_equal(y[1], "");
    psw_secrets_free(y[0]);
    psw_secrets_free(y[1]);
}

/* A process that loads keys writes no core file and is not dumpable; its
 * forked children inherit both. Checked in a forked child so this test
 * program keeps its own settings. */
static void test_load_turns_core_dumps_off(void **state)
{
    (void)state;
    char k1[600];
    key_file(k1, sizeof(k1), "k1", KEY1_HEX "\n", 0600);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct psw_config cfg;
        struct psw_secrets_keyring r;
        struct rlimit rl;
        char err[512];
        memset(&cfg, 0, sizeof(cfg));
        cfg.secrets_key_file = k1;
        cfg.secrets_previous_key_file = "";
        /* as a freshly started program is (other tests here loaded keys) */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
            _exit(10);
        if (psw_secrets_load(&cfg, &r, err, sizeof(err)) != 0 || !r.current.loaded)
            _exit(11);
        psw_secrets_wipe(&r);
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
            _exit(12);
        if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
            _exit(13);
        pid_t grandchild = fork();
        if (grandchild == 0)
            _exit(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 14);
        int st = 0;
        if (grandchild < 0 || waitpid(grandchild, &st, 0) != grandchild || !WIFEXITED(st))
            _exit(15);
        _exit(WEXITSTATUS(st));
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("the key-loading child: %s %d (10 dumpable before, 11 load failed, 12 still "
                 "dumpable, 13 core limit not 0, 14/15 fork child)",
                 WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_id_known_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_text_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_text_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_answer_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_open_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aad_binds_the_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previous_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plaintext_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_turns_core_dumps_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
