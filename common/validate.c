/*
 * validate.c — domain names, receiver URLs and event filters (validate.h).
 *
 * URLs are parsed by libcurl's URL API, the parser the worker's requests go
 * through, so what passes here is what the worker will send to. A few checks
 * run on the raw text first because curl is lenient where a user is better
 * told: "http:/host" and "http:///path" parse in curl but are typos.
 * Messages never echo a URL back (it may hold a password); they name the
 * position or the part that is wrong.
 */
#include "common/validate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <idn2.h>

#include "common/event.h"

#define LABEL_MAX 63
#define SCHEME_MAX 32

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Dot-separated labels of 1-63 characters from [A-Za-z0-9-] (plus '_' when
 * underscore is set), no label starting or ending with '-', len ≤ 253. */
static int labels_valid(const char *s, size_t len, int underscore)
{
    size_t start = 0;
    if (len == 0 || len > PSW_DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t ln = i - start;
            if (ln == 0 || ln > LABEL_MAX || s[start] == '-' || s[i - 1] == '-')
                return 0;
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-' && !(underscore && c == '_'))
            return 0;
    }
    return 1;
}

int psw_domain_valid(const char *s)
{
    return s && labels_valid(s, strlen(s), 0);
}

/* The host of a URL as curl returns it. IPv6 literals ("[::1]") were checked
 * by curl. Non-ASCII names are refused: psw_url_idn_to_ascii gives their
 * ASCII form, which is what is stored and connected to. Otherwise a host name: DNS labels, where '_' is allowed (container
 * and service names use it) and one trailing dot (the absolute form) too. */
static int url_host_valid(const char *host)
{
    size_t n = strlen(host);
    if (host[0] == '[')
        return 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)host[i] >= 0x80)
            return 0; /* psw_url_idn_to_ascii converts these first */
    if (n > 1 && host[n - 1] == '.')
        n--;
    return labels_valid(host, n, 1);
}

int psw_url_check(const char *url, size_t max_len, char *err, size_t errlen)
{
    CURLU *u = NULL;
    char *part = NULL;
    char scheme[SCHEME_MAX + 1];
    size_t len, i;
    int rc = -1;
    CURLUcode uc;

    if (!url || !*url) {
        snprintf(err, errlen, "url: required (http:// or https:// followed by a host)");
        return -1;
    }
    len = strlen(url);
    if (len > max_len) {
        snprintf(err, errlen, "url: too long (%zu characters, at most %zu: limits.max_url_length)",
                 len, max_len);
        return -1;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f) {
            snprintf(err, errlen,
                     "url: %s at position %zu is not allowed (percent-encode it, e.g. %%20 for a "
                     "space)",
                     c == ' ' ? "a space" : "whitespace or a control character", i + 1);
            return -1;
        }
    }

    /* scheme ":" "//" host — checked on the text, see the top comment. */
    for (i = 0; i < len && i < SCHEME_MAX; i++) {
        unsigned char c = (unsigned char)url[i];
        if (!(is_alpha(c) || (i > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.'))))
            break;
        scheme[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    scheme[i] = '\0';
    if (i == 0 || url[i] != ':') {
        snprintf(err, errlen, "url: must start with http:// or https://");
        return -1;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "url: scheme \"%s\" is not allowed; use http or https", scheme);
        return -1;
    }
    if (strncmp(url + i + 1, "//", 2) != 0) {
        snprintf(err, errlen, "url: must start with http:// or https:// (two slashes)");
        return -1;
    }
    const char *auth = url + i + 3;
    size_t auth_len = strcspn(auth, "/?#");
    if (auth_len == 0) {
        snprintf(err, errlen, "url: a host is required after %s://", scheme);
        return -1;
    }
    if (memchr(auth, '@', auth_len))
        goto credentials;
    if (strchr(url, '#')) {
        snprintf(err, errlen,
                 "url: a fragment (#...) is not allowed; it is never sent to the receiver");
        return -1;
    }

    u = curl_url();
    if (!u) {
        snprintf(err, errlen, "url: out of memory");
        return -1;
    }
    uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_NO_HOST) {
        snprintf(err, errlen, "url: a host is required after %s://", scheme);
        goto cleanup;
    }
    if (uc == CURLUE_BAD_PORT_NUMBER) {
        snprintf(err, errlen, "url: the port must be a number from 1 to 65535");
        goto cleanup;
    }
    if (uc != CURLUE_OK) {
        snprintf(err, errlen, "url: not a valid URL (%s)", curl_url_strerror(uc));
        goto cleanup;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
        (strcmp(part, "http") != 0 && strcmp(part, "https") != 0)) {
        snprintf(err, errlen, "url: scheme must be http or https");
        goto cleanup;
    }
    curl_free(part);
    part = NULL;
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK)
        goto credentials;
    if (curl_url_get(u, CURLUPART_PORT, &part, 0) == CURLUE_OK && strcmp(part, "0") == 0) {
        snprintf(err, errlen, "url: the port must be a number from 1 to 65535");
        goto cleanup;
    }
    curl_free(part);
    part = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK || !part[0]) {
        snprintf(err, errlen, "url: a host is required after %s://", scheme);
        goto cleanup;
    }
    if (!url_host_valid(part)) {
        snprintf(err, errlen,
                 "url: the host is not a valid host name (dot-separated labels of letters, "
                 "digits, hyphens and underscores)");
        goto cleanup;
    }
    rc = 0;
    goto cleanup;

credentials:
    snprintf(err, errlen,
             "url: credentials are not allowed in the URL; receivers authenticate requests by "
             "the X-PostStack-Signature header");
cleanup:
    curl_free(part);
    curl_url_cleanup(u);
    return rc;
}

/* "email.queued, email.sent, …" for messages. */
static void type_list(char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (int t = 0; t < PSW_EV__COUNT && o < n; t++) {
        int w = snprintf(out + o, n - o, "%s%s", t ? ", " : "", psw_event_type_names[t]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int psw_events_normalize(const char *list, char *out, size_t n, char *err, size_t errlen)
{
    char types[256];
    int seen[PSW_EV__COUNT] = { 0 };
    int order[PSW_EV__COUNT];
    int count = 0, star = 0, items = 0;
    const char *p = list;

    type_list(types, sizeof(types));
    if (!list || list[strspn(list, " \t")] == '\0') {
        snprintf(err, errlen, "events: must not be empty; use * for every event or a list of: %s",
                 types);
        return -1;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        const char *a = p, *b = stop;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        size_t len = (size_t)(b - a);
        items++;
        if (len == 0) {
            snprintf(err, errlen, "events: empty entry at position %d of the list", items);
            return -1;
        }
        if (len == 1 && *a == '*') {
            star = 1;
        } else {
            int t = -1;
            for (int k = 0; k < PSW_EV__COUNT; k++) {
                if (strlen(psw_event_type_names[k]) == len &&
                    memcmp(psw_event_type_names[k], a, len) == 0) {
                    t = k;
                    break;
                }
            }
            if (t < 0) {
                /* Only printable characters are echoed, at most 64 of them. */
                char shown[65];
                size_t k;
                for (k = 0; k < len && k < sizeof(shown) - 1; k++) {
                    unsigned char c = (unsigned char)a[k];
                    shown[k] = c >= 0x20 && c < 0x7f ? (char)c : '?';
                }
                shown[k] = '\0';
                snprintf(err, errlen, "events: unknown event type \"%s%s\"; valid: *, %s", shown,
                         len > k ? "..." : "", types);
                return -1;
            }
            if (!seen[t]) {
                seen[t] = 1;
                order[count++] = t;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (star && count > 0) {
        snprintf(err, errlen, "events: * already means every event; give * alone or a list of "
                              "types");
        return -1;
    }

    size_t o = 0;
    if (star) {
        if (n < 2)
            goto too_small;
        out[0] = '*';
        out[1] = '\0';
        return 0;
    }
    for (int k = 0; k < count; k++) {
        const char *name = psw_event_type_names[order[k]];
        size_t nl = strlen(name);
        if (o + (k ? 1 : 0) + nl + 1 > n)
            goto too_small;
        if (k)
            out[o++] = ',';
        memcpy(out + o, name, nl);
        o += nl;
    }
    out[o] = '\0';
    return 0;

too_small:
    snprintf(err, errlen, "events: the list does not fit in %zu bytes", n);
    return -1;
}

int psw_url_idn_to_ascii(const char *url, char **out, char *err, size_t errlen)
{
    CURLU *u = NULL;
    char *host = NULL, *ascii = NULL;
    int rc = 0, non_ascii = 0;

    *out = NULL;
    if (!url || !(u = curl_url()))
        return 0; /* nothing to convert, or psw_url_check reports it */
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto cleanup; /* psw_url_check says what is wrong */
    for (const char *p = host; *p; p++)
        non_ascii |= (unsigned char)*p >= 0x80;
    if (!non_ascii)
        goto cleanup;
    /* IDNA2008 with the UTS #46 mapping, as browsers do: case and width
     * folded, so "ＥＸＡＭＰＬＥ.com" is example.com and full-width digits
     * and dots give the address they spell (which the SSRF check then
     * sees). */
    int irc = idn2_lookup_u8((const uint8_t *)host, (uint8_t **)&ascii,
                             IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (irc != IDN2_OK) {
        char shown[256];
        snprintf(shown, sizeof(shown), "%s", host);
        snprintf(err, errlen,
                 "url: host \"%s\" is not a valid internationalized domain name (%s); use its "
                 "ASCII (xn--) form",
                 shown, idn2_strerror(irc));
        rc = -1;
        goto cleanup;
    }
    if (curl_url_set(u, CURLUPART_HOST, ascii, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, out, 0) != CURLUE_OK) {
        snprintf(err, errlen, "url: host \"%s\" (from IDN) is not usable in a URL", ascii);
        curl_free(*out);
        *out = NULL;
        rc = -1;
        goto cleanup;
    }
    /* curl's string is freed with curl_free; hand out a malloc'd copy */
    char *copy = strdup(*out);
    curl_free(*out);
    *out = copy;
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }

cleanup:
    idn2_free(ascii);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}
