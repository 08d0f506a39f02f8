/*
 * headers.c — static request headers (see headers.h).
 *
 * The reserved list is what the worker sets on every request (docs/receiving.md
 * lists them) plus what libcurl and HTTP framing own; letting a user set one
 * would either break the request or let a header impersonate the signature.
 */
#include "common/headers.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int psw_header_reserved(const char *name, size_t len)
{
    static const char *const exact[] = {
        "content-type", "user-agent", "host", "content-length", "transfer-encoding",
        "connection", "expect", "te", "trailer", "upgrade", "keep-alive",
        "proxy-connection", "content-encoding", NULL,
    };
    static const char *const prefixes[] = { "x-poststack-", "webhook-", NULL };
    for (size_t i = 0; exact[i]; i++)
        if (len == strlen(exact[i]) && strncasecmp(name, exact[i], len) == 0)
            return 1;
    for (size_t i = 0; prefixes[i]; i++)
        if (len >= strlen(prefixes[i]) && strncasecmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

/* RFC 9110 tchar */
static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int psw_headers_normalize(const char *const *lines, size_t n, char *out, size_t outlen,
                          char *err, size_t errlen)
{
    size_t len = 0;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    if (n > PSW_HEADERS_MAX) {
        snprintf(err, errlen, "headers: at most %d (%zu given)", PSW_HEADERS_MAX, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *l = lines[i] ? lines[i] : "";
        const char *colon = strchr(l, ':');
        size_t nl = colon ? (size_t)(colon - l) : 0;
        if (strpbrk(l, "\r\n")) {
            snprintf(err, errlen, "headers: header %zu contains a CR or LF character", i + 1);
            return -1;
        }
        if (!colon || nl == 0) {
            snprintf(err, errlen, "headers: header %zu is not of the form \"Name: value\"", i + 1);
            return -1;
        }
        if (nl > PSW_HEADER_NAME_MAX) {
            snprintf(err, errlen, "headers: header %zu: name longer than %d characters", i + 1,
                     PSW_HEADER_NAME_MAX);
            return -1;
        }
        for (size_t k = 0; k < nl; k++) {
            if (!tchar((unsigned char)l[k])) {
                snprintf(err, errlen,
                         "headers: header %zu: the name \"%.*s\" is not a valid header name "
                         "(letters, digits and !#$%%&'*+-.^_`|~ only)",
                         i + 1, (int)nl, l);
                return -1;
            }
        }
        if (psw_header_reserved(l, nl)) {
            snprintf(err, errlen,
                     "headers: %.*s is set by the service itself and cannot be overridden", (int)nl,
                     l);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            const char *o = lines[j];
            if (strncasecmp(o, l, nl) == 0 && o[nl] == ':') {
                snprintf(err, errlen, "headers: %.*s given twice", (int)nl, l);
                return -1;
            }
        }
        const char *v = colon + 1;
        size_t vl = strlen(v);
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        for (size_t k = 0; k < vl; k++) {
            unsigned char c = (unsigned char)v[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                snprintf(err, errlen, "headers: %.*s: control character in the value", (int)nl, l);
                return -1;
            }
        }
        if (vl == 0) {
            snprintf(err, errlen, "headers: %.*s: the value is empty", (int)nl, l);
            return -1;
        }
        if (nl + 2 + vl > PSW_HEADER_LINE_MAX) {
            snprintf(err, errlen, "headers: %.*s: longer than %d bytes", (int)nl, l,
                     PSW_HEADER_LINE_MAX);
            return -1;
        }
        if (len + (i ? 1 : 0) + nl + 2 + vl + 1 > outlen) {
            snprintf(err, errlen, "headers: too long altogether");
            return -1;
        }
        len += (size_t)snprintf(out + len, outlen - len, "%s%.*s: %.*s", i ? "\n" : "", (int)nl,
                                l, (int)vl, v);
    }
    return 0;
}

void psw_header_mask(const char *line, size_t len, char *out, size_t outlen)
{
    const char *colon = memchr(line, ':', len);
    size_t nl = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vl = (size_t)(line + len - v);
    while (vl > 0 && *v == ' ')
        v++, vl--;
    size_t show = vl >= 8 ? 3 : 0;
    snprintf(out, outlen, "%.*s: %.*s\xe2\x80\xa6***", (int)nl, line, (int)show, v);
}
