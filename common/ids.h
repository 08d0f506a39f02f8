/*
 * ids.h — identifiers: a prefix ("ep_", "evt_", "dlv_", "w_") followed by 26
 * Crockford base32 characters encoding 48 bits of unix milliseconds and 80
 * random bits from OpenSSL RAND_bytes. Ids sort by creation time as strings.
 */
#ifndef PSW_IDS_H
#define PSW_IDS_H

#include <stddef.h>
#include <stdint.h>

#define PSW_ID_SIZE 48  /* longest prefix + 26 + NUL, with room */
#define PSW_ULID_LEN 26

/* Writes prefix + a new id into out. Returns 0, or -1 when the random
 * generator fails (nothing usable is written then). */
int psw_id_new(const char *prefix, char out[PSW_ID_SIZE]);
int psw_id_new_at(const char *prefix, int64_t ms, char out[PSW_ID_SIZE]);

/* 1 when s is prefix followed by exactly 26 Crockford base32 characters. */
int psw_id_valid(const char *prefix, const char *s);

/* The creation time encoded in an id with the given prefix, or -1. */
int64_t psw_id_time_ms(const char *prefix, const char *s);

/* 1 when s is 1..max characters of A-Z a-z 0-9 _ - . : — the alphabet for
 * anything that becomes part of a Redis key name or a header. */
int psw_token_valid(const char *s, size_t max);

#endif
