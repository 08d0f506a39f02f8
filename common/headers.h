/*
 * headers.h — an endpoint's static request headers (docs/cli.md, "Endpoint
 * options"): checked, stored, shown masked.
 *
 * In Redis and in struct psw_endpoint the set is one string: "Name: value"
 * lines joined by "\n" (a header may contain neither CR nor LF, so the
 * separator is unambiguous), sealed at rest like secrets (common/secrets.h).
 * Names are tokens (RFC 9110) and may not be one the service sets itself.
 */
#ifndef PSW_HEADERS_H
#define PSW_HEADERS_H

#include <stddef.h>

#define PSW_HEADERS_MAX 20
#define PSW_HEADER_NAME_MAX 64
#define PSW_HEADER_LINE_MAX 2048 /* "Name: value" */
#define PSW_HEADERS_SIZE (PSW_HEADERS_MAX * (PSW_HEADER_LINE_MAX + 1))

/* 1 when name (len bytes, any case) is a header the service sets or the
 * transport owns: Content-Type, User-Agent, X-PostStack-*, webhook-*, Host,
 * Content-Length, Transfer-Encoding, Connection, Expect, … */
int psw_header_reserved(const char *name, size_t len);

/* Checks n "Name: value" lines and joins them, normalized to "Name: value"
 * (space after the colon, value trimmed), into out. A name given twice is
 * refused. n = 0 gives "". Returns 0, or -1 with err naming the header. */
int psw_headers_normalize(const char *const *lines, size_t n, char *out, size_t outlen,
                          char *err, size_t errlen);

/* One line masked for display: the name, then the first 3 characters of
 * the value (none when it has fewer than 8) and "…***". */
void psw_header_mask(const char *line, size_t len, char *out, size_t outlen);

#endif
