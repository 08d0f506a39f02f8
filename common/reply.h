/*
 * reply.h — reading hiredis replies without repeating type checks.
 * Nothing here allocates; returned pointers point into the reply, which the
 * caller still owns and frees.
 */
#ifndef PSW_REPLY_H
#define PSW_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* The value of field in an HGETALL reply (flat array), or NULL. */
const char *psw_reply_hget(const redisReply *hash, const char *field);

/* The element i of an array reply as a string (STRING, STATUS or the decimal
 * text of an INTEGER is not available: NULL for non-strings), or NULL. */
const char *psw_reply_str(const redisReply *arr, size_t i);

/* Element i as an integer: INTEGER replies, or STRING replies holding a
 * decimal number. def when absent or not a number. */
long long psw_reply_int(const redisReply *arr, size_t i, long long def);

/* A decimal string to long long; def when s is NULL, empty or not a number. */
long long psw_parse_ll(const char *s, long long def);

/* The decimal text of v into out (at least PSW_I64_SIZE bytes, NUL
 * included), as "%lld" writes it, without printf's cost: the worker formats
 * several numbers per request. Returns its length. */
#define PSW_I64_SIZE 21
size_t psw_fmt_i64(char *out, long long v);

#endif
