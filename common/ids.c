/*
 * ids.c — time-sortable random ids (the ULID layout): 10 characters of time,
 * 16 of randomness, Crockford's alphabet (no I, L, O, U).
 *
 * The random bytes come from a per-thread pool filled by one RAND_bytes call
 * per 102 ids: one call per id was 15% of what publishing an event costs
 * (docs/performance.md). The pool remembers the process it was filled in
 * and is thrown away after a fork, so a parent and its children never hand
 * out the same bytes; bytes are wiped from it as they are taken.
 */
#include "common/ids.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/timeutil.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* n (<= 16) fresh random bytes into out; -1 when OpenSSL fails. */
static int random_bytes(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char pool[1020];
    static _Thread_local size_t left;
    static _Thread_local pid_t owner;
    pid_t me = getpid();
    if (owner != me || left < n) {
        if (RAND_bytes(pool, sizeof(pool)) != 1) {
            left = 0;
            return -1;
        }
        left = sizeof(pool);
        owner = me;
    }
    unsigned char *p = pool + sizeof(pool) - left;
    memcpy(out, p, n);
    OPENSSL_cleanse(p, n);
    left -= n;
    return 0;
}

static int crockford_value(char c)
{
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

int psw_id_new_at(const char *prefix, int64_t ms, char out[PSW_ID_SIZE])
{
    unsigned char rnd[10];
    char body[PSW_ULID_LEN + 1];
    uint64_t t = (uint64_t)ms & 0xFFFFFFFFFFFFULL;

    if (random_bytes(rnd, sizeof(rnd)) != 0)
        return -1;
    for (int i = 9; i >= 0; i--) {
        body[i] = crockford[t & 31];
        t >>= 5;
    }
    /* 80 random bits → 16 characters of 5 bits, most significant first. */
    for (int i = 0; i < 16; i++) {
        int bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)rnd[byte] << 8 | (byte + 1 < 10 ? rnd[byte + 1] : 0);
        body[10 + i] = crockford[(v >> (11 - shift)) & 31];
    }
    body[PSW_ULID_LEN] = '\0';
    size_t pl = strlen(prefix);
    if (pl + PSW_ULID_LEN >= PSW_ID_SIZE)
        return -1;
    memcpy(out, prefix, pl);
    memcpy(out + pl, body, PSW_ULID_LEN + 1);
    return 0;
}

int psw_id_new(const char *prefix, char out[PSW_ID_SIZE])
{
    return psw_id_new_at(prefix, psw_now_ms(), out);
}

int psw_id_valid(const char *prefix, const char *s)
{
    size_t pl = strlen(prefix);
    if (!s || strncmp(s, prefix, pl) != 0 || strlen(s + pl) != PSW_ULID_LEN)
        return 0;
    for (const char *p = s + pl; *p; p++)
        if (crockford_value(*p) < 0)
            return 0;
    return 1;
}

int64_t psw_id_time_ms(const char *prefix, const char *s)
{
    if (!psw_id_valid(prefix, s))
        return -1;
    const char *p = s + strlen(prefix);
    int64_t t = 0;
    for (int i = 0; i < 10; i++)
        t = t * 32 + crockford_value(p[i]);
    return t & 0xFFFFFFFFFFFFLL;
}

int psw_token_valid(const char *s, size_t max)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return 0;
    }
    return n > 0;
}
