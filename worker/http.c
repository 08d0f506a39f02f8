/*
 * http.c — builds, runs (through the caller's multi handle) and classifies
 * one delivery attempt. See http.h for what is bounded and who owns what.
 *
 * Redirects are never followed (a 3xx is a failed attempt that names the
 * Location); only http and https are allowed; TLS peers are verified; an
 * empty "Expect:" keeps libcurl from waiting for 100-continue on big bodies.
 * The SSRF guard runs in libcurl's open-socket callback: after DNS, on the
 * very address connect() would get, for every address libcurl tries (Happy
 * Eyeballs included), so a name that resolves differently at delivery time
 * (DNS rebinding) gains nothing. Reused connections were checked when they
 * were opened.
 */
#include "worker/http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>

#include <openssl/crypto.h>

#include "common/headers.h"
#include "common/reply.h"
#include "common/retry.h"
#include "common/sign_std.h"
#include "common/timeutil.h"

#ifndef PSW_VERSION
#define PSW_VERSION "dev"
#endif

/* A body this far past the cap is not drained: the transfer is cut, which
 * costs the connection but not the attempt's outcome (the status is known). */
#define BODY_DRAIN_SLACK (64 * 1024)

void psw_delivery_job_free(struct psw_delivery_job *job)
{
    free(job->id);
    free(job->event_id);
    free(job->event_type);
    free(job->endpoint_id);
    free(job->url);
    free(job->trigger);
    free(job->body);
    char *wiped[] = { job->secrets[0], job->secrets[1], job->signing_key, job->headers };
    for (size_t i = 0; i < sizeof(wiped) / sizeof(wiped[0]); i++) {
        if (wiped[i]) {
            OPENSSL_cleanse(wiped[i], strlen(wiped[i]));
            free(wiped[i]);
        }
    }
    free(job->signing);
    memset(job, 0, sizeof(*job));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct psw_attempt *a = userp;
    size_t n = size * nmemb;
    if (a->body_len < a->body_cap) {
        size_t take = a->body_cap - a->body_len < n ? a->body_cap - a->body_len : n;
        memcpy(a->body + a->body_len, data, take);
        a->body_len += take;
        a->body[a->body_len] = '\0';
    }
    a->body_total += n;
    if (a->body_total > a->body_cap + BODY_DRAIN_SLACK)
        return 0; /* CURLE_WRITE_ERROR: stop reading an endless body */
    return n;
}

static void copy_header_value(char *out, size_t n, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct psw_attempt *a = userp;
    size_t n = size * nmemb;

    /* A new status line (after a 1xx) starts a new header block. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        a->headers_len = 0;
        a->retry_after[0] = '\0';
        a->location[0] = '\0';
    }
    /* The cap counts every block: an endless run of 1xx answers is as
     * absurd as one huge block (headers_len <= headers_total keeps the
     * copy below in bounds). */
    a->headers_total += n;
    if (a->headers_total > PSW_HTTP_MAX_HEADER_BYTES) {
        a->headers_overflow = 1;
        return 0; /* abort: the receiver sends absurd headers */
    }
    memcpy(a->headers + a->headers_len, data, n);
    a->headers_len += n;
    a->headers[a->headers_len] = '\0';

    if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0)
        copy_header_value(a->retry_after, sizeof(a->retry_after), data + 12, n - 12);
    else if (n > 9 && strncasecmp(data, "location:", 9) == 0)
        copy_header_value(a->location, sizeof(a->location), data + 9, n - 9);
    return n;
}

const char *psw_http_proxy_for(const struct psw_config *cfg, const char *url)
{
    const char *proxy = cfg->http_proxy ? cfg->http_proxy : "";
    if (!proxy[0] || !cfg->http_no_proxy || !cfg->http_no_proxy[0])
        return proxy;
    CURLU *u = curl_url();
    char *host = NULL;
    int direct = 0;
    /* A URL curl cannot parse fails before any connection either way. */
    if (u && curl_url_set(u, CURLUPART_URL, url ? url : "", 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        direct = psw_netguard_no_proxy(cfg->http_no_proxy, host);
    curl_free(host);
    curl_url_cleanup(u);
    return direct ? "" : proxy;
}

/* CURLOPT_OPENSOCKETFUNCTION: a socket only for an address the guard allows. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct psw_attempt *a = clientp;
    (void)purpose;
    if (a->guard && psw_netguard_check(a->guard, &addr->addr, addr->addrlen, a->blocked,
                                       sizeof(a->blocked)) < 0)
        return CURL_SOCKET_BAD;
    curl_socket_t fd = socket(addr->family, addr->socktype, addr->protocol);
    if (fd != CURL_SOCKET_BAD)
        a->sockets_opened++;
    return fd;
}

/* The request's header lines are written into a->req_text and linked
 * through a->req_nodes (both kept for the next request): no allocation per
 * line as curl_slist_append would make. libcurl only reads the list. */
struct req_build {
    struct psw_attempt *a;
    size_t off[PSW_HTTP_REQ_HEADERS]; /* where each line starts in req_text */
    size_t n;
    int oom, full;
};

static void req_line(struct req_build *rb, const char *line, size_t len)
{
    struct psw_attempt *a = rb->a;
    if (rb->oom || rb->full)
        return;
    if (rb->n == PSW_HTTP_REQ_HEADERS) {
        rb->full = 1;
        return;
    }
    size_t need = a->req_text_len + len + 1;
    if (need > a->req_text_cap) {
        size_t cap = a->req_text_cap ? a->req_text_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *p = malloc(cap); /* not realloc: the old copy is wiped */
        if (!p) {
            rb->oom = 1;
            return;
        }
        if (a->req_text) {
            memcpy(p, a->req_text, a->req_text_len);
            OPENSSL_cleanse(a->req_text, a->req_text_cap);
            free(a->req_text);
        }
        a->req_text = p;
        a->req_text_cap = cap;
    }
    rb->off[rb->n++] = a->req_text_len;
    memcpy(a->req_text + a->req_text_len, line, len);
    a->req_text_len += len;
    a->req_text[a->req_text_len++] = '\0';
}

/* Links the lines written (the text no longer moves). */
static void req_link(struct req_build *rb)
{
    struct psw_attempt *a = rb->a;
    for (size_t i = 0; i < rb->n; i++) {
        a->req_nodes[i].data = a->req_text + rb->off[i];
        a->req_nodes[i].next = i + 1 < rb->n ? &a->req_nodes[i + 1] : NULL;
    }
    a->req_headers = rb->n ? &a->req_nodes[0] : NULL;
}

static void add_header(struct req_build *rb, const char *name, const char *value)
{
    /* "Name: value" (or "Name:", which only suppresses a header), cut to
     * the buffer as snprintf would, put together by hand: this runs ~8
     * times per request, and snprintf was 5% of the child's instructions
     * (docs/performance.md). */
    char line[PSW_SIGNATURE_SIZE + 64];
    size_t nl = strlen(name), vl = strlen(value), at = 0;
    if (nl > sizeof(line) - 1)
        nl = sizeof(line) - 1;
    memcpy(line, name, nl);
    at = nl;
    if (at < sizeof(line) - 1)
        line[at++] = ':';
    if (vl > 0 && at < sizeof(line) - 1)
        line[at++] = ' ';
    if (vl > sizeof(line) - 1 - at)
        vl = sizeof(line) - 1 - at;
    memcpy(line + at, value, vl);
    req_line(rb, line, at + vl);
}

/* The endpoint's static headers (checked when they were stored), after
 * ours; their text is wiped when the attempt is reset. */
static void add_static_headers(struct req_build *rb)
{
    rb->a->req_static_at = rb->a->req_text_len;
    for (const char *p = rb->a->job.headers ? rb->a->job.headers : ""; *p;) {
        size_t len = strcspn(p, "\n");
        if (len <= PSW_HEADER_LINE_MAX)
            req_line(rb, p, len);
        p += len;
        if (*p == '\n')
            p++;
    }
}

/* job.url parsed as libcurl parses CURLOPT_URL (the same flags), for
 * CURLOPT_CURLU: libcurl then skips its own parse and the normalized copy
 * it makes of every URL (~10,000 instructions a request, docs/performance.md),
 * and a slot sending to the same URL again parses nothing. NULL when the URL
 * does not parse: libcurl parses it again and names the error itself. */
static CURLU *url_handle(struct psw_attempt *a)
{
    const char *url = a->job.url ? a->job.url : "";
    if (a->url_h && a->url_h_for && strcmp(a->url_h_for, url) == 0)
        return a->url_h;
    /* a fresh handle: a relative URL must not resolve against the last one */
    curl_url_cleanup(a->url_h);
    free(a->url_h_for);
    a->url_h_for = NULL;
    if (!(a->url_h = curl_url()))
        return NULL;
    if (curl_url_set(a->url_h, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK ||
        !(a->url_h_for = strdup(url))) {
        curl_url_cleanup(a->url_h);
        a->url_h = NULL;
        return NULL;
    }
    return a->url_h;
}

/* The easy handle's options that depend only on the configuration: set
 * once per handle (curl_easy_reset and ~25 options per request were ~6,000
 * instructions of a child's ~180,000 per delivery, docs/performance.md);
 * psw_attempt_start sets the rest before every request. */
static void configure_handle(struct psw_attempt *a, const struct psw_config *cfg)
{
    CURL *e = a->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http_connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cfg->http_ca_file && cfg->http_ca_file[0]) {
        /* http.ca_file (docs/config.md): that bundle alone, not the system's */
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->http_ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87.0: CURLINFO_CAINFO, the CA store cache */
    {
        /* libcurl keeps the parsed CA store (per multi handle) only when it
         * comes from a CA file alone. With a default CA directory as well
         * (Debian's build: /etc/ssl/certs, the same certificates) every new
         * TLS connection parses the whole bundle again: 60-90 ms of CPU in
         * which this child serves no one else, repeatable at will by an
         * endpoint whose TLS fails. */
        char *cafile = NULL;
        if (curl_easy_getinfo(e, CURLINFO_CAINFO, &cafile) == CURLE_OK && cafile && cafile[0]) {
            curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
            curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 3600L); /* CA updates within the hour */
        }
    }
#endif
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->curl_err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    if (cfg->http_source_interface && cfg->http_source_interface[0])
        curl_easy_setopt(e, CURLOPT_INTERFACE, cfg->http_source_interface);
    /* Without http.proxy every request goes directly: "" ignores http_proxy
     * in the environment (with it, psw_attempt_start decides per URL). */
    if (!cfg->http_proxy || !cfg->http_proxy[0])
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    /* The configuration decides; NO_PROXY in the environment would
     * otherwise send a request meant for the proxy directly, unguarded. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, a);
    a->configured = cfg;
}

int psw_attempt_start(struct psw_attempt *a, const struct psw_config *cfg,
                      const struct psw_netguard *guard, struct psw_delivery_job *job,
                      int64_t now_s, char *err, size_t errlen)
{
    const char *secrets[2];
    size_t nsec = 0;
    char attempt_s[PSW_I64_SIZE];

    psw_attempt_reset(a);
    a->job = *job;
    memset(job, 0, sizeof(*job));

    if (!a->easy && !(a->easy = curl_easy_init())) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    if (!a->headers && !(a->headers = malloc(PSW_HTTP_MAX_HEADER_BYTES + 1))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!a->body || a->body_cap != (size_t)cfg->http_max_response_bytes) {
        a->body_cap = (size_t)cfg->http_max_response_bytes;
        free(a->body);
        if (!(a->body = malloc(a->body_cap + 1))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    a->body[0] = '\0';
    a->headers[0] = '\0';

    for (int i = 0; i < 2; i++)
        if (a->job.secrets[i] && a->job.secrets[i][0])
            secrets[nsec++] = a->job.secrets[i];
    if (nsec == 0) {
        snprintf(err, errlen, "endpoint has no signing secret");
        return -1;
    }
    a->signed_at = now_s;
    enum psw_signing mode = PSW_SIGNING_POSTSTACK;
    char tsbuf[24];
    if (psw_signing_parse(a->job.signing, &mode, err, errlen) < 0)
        return -1;
    if (mode == PSW_SIGNING_ED25519) {
        secrets[0] = a->job.signing_key;
        nsec = 1;
        if (!secrets[0] || !secrets[0][0]) {
            snprintf(err, errlen, "endpoint has no Ed25519 key pair");
            return -1;
        }
    }
    /* A batch (claim.lua: id bat_…, event_id = how many events) is signed
     * and identified as one message: its id is the webhook-id
     * (docs/receiving.md, "Batches"). */
    int batch = strncmp(a->job.id ? a->job.id : "", "bat_", 4) == 0;
    const char *msg_id = batch ? a->job.id : a->job.event_id;
    if ((mode == PSW_SIGNING_POSTSTACK
             ? psw_sign_header(secrets, nsec, now_s, a->job.body, a->job.body_len, a->signature,
                               sizeof(a->signature))
             : psw_sign_std_header(mode, secrets, nsec, msg_id, now_s, a->job.body,
                                   a->job.body_len, a->signature, sizeof(a->signature))) < 0) {
        snprintf(err, errlen, mode == PSW_SIGNING_STANDARD
                                  ? "signing failed (signing standard needs a whsec_<base64> secret)"
                                  : "signing failed");
        return -1;
    }
    psw_fmt_i64(attempt_s, a->job.attempt);
    psw_fmt_i64(tsbuf, now_s);

    struct req_build rb = { .a = a };
    add_header(&rb, "Content-Type", "application/json");
    add_header(&rb, "User-Agent", "PostStack-Webhooks/" PSW_VERSION);
    if (batch) {
        add_header(&rb, "X-PostStack-Batch-Id", a->job.id);
        add_header(&rb, "X-PostStack-Batch-Count", a->job.event_id);
    } else {
        add_header(&rb, "X-PostStack-Event-Id", a->job.event_id);
        add_header(&rb, "X-PostStack-Event-Type", a->job.event_type);
        add_header(&rb, "X-PostStack-Delivery-Id", a->job.id);
    }
    add_header(&rb, "X-PostStack-Attempt", attempt_s);
    if (mode == PSW_SIGNING_POSTSTACK) {
        add_header(&rb, "X-PostStack-Signature", a->signature);
    } else {
        add_header(&rb, "webhook-id", msg_id);
        add_header(&rb, "webhook-timestamp", tsbuf);
        add_header(&rb, "webhook-signature", a->signature);
    }
    add_header(&rb, "Expect", "");
    add_static_headers(&rb);
    if (rb.oom || rb.full) {
        snprintf(err, errlen, rb.oom ? "out of memory" : "endpoint has more than %d static headers",
                 PSW_HEADERS_MAX);
        return -1;
    }
    req_link(&rb);

    CURL *e = a->easy;
    /* Reused handles keep what configure_handle set; only what differs
     * from one request to the next is set here. Every option set here is
     * set for every request, so nothing of the previous one is left. */
    if (a->configured != cfg)
        configure_handle(a, cfg);
    /* Both: the handle is used (it wins over the text), the text is what
     * libcurl starts from when it has to send the request again. */
    curl_easy_setopt(e, CURLOPT_URL, a->job.url);
    curl_easy_setopt(e, CURLOPT_CURLU, url_handle(a));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->job.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->job.body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->req_headers);
    a->guard = guard;
    if (cfg->http_proxy && cfg->http_proxy[0]) {
        if (psw_http_proxy_for(cfg, a->job.url)[0]) {
            /* The operator's proxy is the only peer; it must filter (see http.h). */
            curl_easy_setopt(e, CURLOPT_PROXY, cfg->http_proxy);
            a->guard = NULL;
        } else {
            curl_easy_setopt(e, CURLOPT_PROXY, ""); /* http.no_proxy names the host */
        }
    }
    a->curl_err[0] = '\0';
    a->record_max = (size_t)cfg->http_max_record_bytes;
    a->started_mono = psw_mono_ms();
    return 0;
}

/* 1 when this transfer got a connection to the receiver (libcurl clears
 * the address at the start of every transfer; a reused connection counts). */
static int reached_receiver(const struct psw_attempt *a)
{
    char *ip = NULL;
    return curl_easy_getinfo(a->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && ip[0];
}

/* 1 when libcurl gave up on a header line longer than its own limit
 * (100 KiB), before on_header could see it: it says "out of memory" for
 * that (CURLE_TOO_LARGE from 8.6.0 on). The body never goes through a
 * libcurl buffer, so after a connection nothing else fails this way. */
static int header_line_too_long(const struct psw_attempt *a, CURLcode rc)
{
#if LIBCURL_VERSION_NUM >= 0x080600
    if (rc == CURLE_TOO_LARGE)
        return 1;
#endif
    return rc == CURLE_OUT_OF_MEMORY && reached_receiver(a);
}

/* The error text for a transfer that got no usable HTTP answer. */
static void transport_error(const struct psw_attempt *a, CURLcode rc, char *err, size_t n)
{
    const char *detail = a->curl_err[0] ? a->curl_err : curl_easy_strerror(rc);
    const char *kind;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        /* A resolver that never answers is a DNS problem, not a slow receiver. */
        kind = strncmp(detail, "Resolving timed out", 19) == 0 ? "dns" : "timeout";
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        kind = "dns";
        break;
    case CURLE_COULDNT_CONNECT:
        kind = "connect";
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        kind = "tls";
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        /* libcurl reports a status line it cannot parse (HTTP/0.9, an
         * unknown version or code) the same way: after a connection it was
         * the receiver's answer, not the URL. */
        kind = reached_receiver(a) ? "http" : "url";
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: /* closed before the end of the body it announced */
        kind = "connection";
        break;
    default:
        kind = "http";
        break;
    }
    snprintf(err, n, "%s: %s", kind, detail);
}

int psw_attempt_finish(struct psw_attempt *a, CURLcode rc, int64_t end_ms, int *ok,
                       int64_t *retry_after_ms, char *err, size_t errlen)
{
    long status = 0;
    curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
    a->status = status;
    *ok = 0;
    *retry_after_ms = 0;
    err[0] = '\0';

    /* The status decides as soon as there is one; a transfer we cut short
     * because the body was endless still has a valid status. */
    int cut_body = rc == CURLE_WRITE_ERROR && a->body_total > a->body_cap;
    if ((rc == CURLE_WRITE_ERROR && a->headers_overflow) || header_line_too_long(a, rc)) {
        snprintf(err, errlen, "http: response headers larger than %d bytes",
                 PSW_HTTP_MAX_HEADER_BYTES);
        a->status = 0;
        return 0;
    }
    if (status == 0 || (rc != CURLE_OK && !cut_body)) {
        a->status = status;
        /* Only when no address got a socket: a refused IPv6 address next
         * to an IPv4 one that timed out is a timeout. */
        if (a->blocked[0] && a->sockets_opened == 0)
            snprintf(err, errlen, "blocked: %s", a->blocked);
        else
            transport_error(a, rc, err, errlen);
        return 0;
    }
    if (status >= 200 && status < 300) {
        *ok = 1;
        return 0;
    }
    if (status >= 300 && status < 400) {
        snprintf(err, errlen, "http: %ld redirect%s%s (redirects are not followed)", status,
                 a->location[0] ? " to " : "", a->location);
        return 0;
    }
    snprintf(err, errlen, "http: status %ld", status);
    if ((status == 429 || status == 503) && a->retry_after[0]) {
        int64_t at;
        if (psw_retry_after_parse(a->retry_after, end_ms, &at) == 0)
            *retry_after_ms = at;
    }
    return status == 410;
}

/* ---- the attempt record ---------------------------------------------------
 *
 * Written directly as text rather than built as a json-c tree: building and
 * serializing the tree was a fifth of a worker child's CPU per delivery. The
 * output is byte for byte what json-c produces with JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE (tests/unit/test_attempt_record.c compares
 * the two): the same key order, the same escapes (\b \f \n \r \t \" \\ and
 * \u00xx for other control bytes, everything else as is), a later response
 * header of the same name joined to the first with ", " in its place. */

struct jbuf {
    char  *p;
    size_t len, cap;
    int    oom;
};

/* Room for n more bytes (and the NUL): 0, or -1 when out of memory. */
static int jb_room(struct jbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return -1;
        }
        b->p = np;
        b->cap = ncap;
    }
    return 0;
}

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
    if (n == 0 || jb_room(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_lit(struct jbuf *b, const char *s)
{
    jb_put(b, s, strlen(s));
}

/* What a byte becomes in a JSON string as json-c writes it: 0 = itself,
 * 'u' = \u00xx, else the letter after a backslash. */
static const unsigned char json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"', ['\\'] = '\\',
};

/* A JSON string of s[0..n), escaped as json-c escapes, its contents (the
 * quotes aside) cut to at most max bytes of output, never inside an escape.
 * Returns how many bytes of s it holds. */
static size_t jb_str_max(struct jbuf *b, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0, out = 0, i = 0;
    /* Fast path: the leading plain bytes (one byte out each, and most
     * bytes of a record are plain), up to max of them. */
    size_t sure = max < n ? max : n;
    /* eight at a time while none is below 0x20, '"' or '\\' */
    for (; i + 8 <= sure; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t q = x ^ 0x2222222222222222ull, bs = x ^ 0x5c5c5c5c5c5c5c5cull;
        uint64_t hit = ((x - 0x2020202020202020ull) & ~x) | ((q - 0x0101010101010101ull) & ~q) |
                       ((bs - 0x0101010101010101ull) & ~bs);
        if (hit & 0x8080808080808080ull)
            break;
    }
    while (i < sure && !json_esc[(unsigned char)s[i]])
        i++;
    if (i == n) { /* all plain and within max (most strings): one copy */
        if (jb_room(b, n + 2) == 0) {
            b->p[b->len++] = '"';
            memcpy(b->p + b->len, s, n);
            b->len += n;
            b->p[b->len++] = '"';
            b->p[b->len] = '\0';
        }
        return n;
    }
    jb_put(b, "\"", 1);
    out = i;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i], e = json_esc[c];
        size_t w = !e ? 1 : e == 'u' ? 6 : 2;
        if (out + w > max)
            break;
        out += w;
        if (!e)
            continue;
        char u[6] = { '\\', (char)e, '0', '0', hex[c >> 4], hex[c & 15] };
        jb_put(b, s + start, i - start);
        jb_put(b, u, w);
        start = i + 1;
    }
    jb_put(b, s + start, i - start);
    jb_put(b, "\"", 1);
    return i;
}

static void jb_str(struct jbuf *b, const char *s, size_t n)
{
    jb_str_max(b, s, n, SIZE_MAX);
}

static void jb_cstr(struct jbuf *b, const char *s)
{
    jb_str(b, s, strlen(s));
}

/* ,"key": (no comma before the first member of an object) */
static void jb_key(struct jbuf *b, int first, const char *key)
{
    if (!first)
        jb_put(b, ",", 1);
    jb_cstr(b, key);
    jb_put(b, ":", 1);
}

static void jb_i64(struct jbuf *b, int64_t v)
{
    char num[24];
    size_t i = sizeof(num);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        num[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        num[--i] = '-';
    jb_put(b, num + i, sizeof(num) - i);
}

/* One response header: name (lower-cased), value as the record shows it. */
struct hdr {
    char     name[128];
    char    *value;  /* at most HDR_VALUE_MAX bytes, like the joined buffer json-c saw */
    size_t   len;
    size_t   cap;    /* 0: value lives in the set's arena, not allocated */
    uint32_t hash;
};

#define HDR_VALUE_MAX 2047
#define HDR_INLINE 16   /* names a usual answer has at most */
#define HDR_ARENA 4096  /* bytes of first values kept without an allocation */

/* The split response headers. The usual answer fits the inline arrays, so
 * a record allocates nothing for them (malloc and free were a tenth of a
 * child's instructions, docs/performance.md); more spills to the heap. */
struct hdr_set {
    struct hdr *h;
    size_t n, cap;
    uint32_t *table; /* index + 1 into h; 0 = empty */
    size_t arena_len;
    struct hdr h_inline[HDR_INLINE];
    uint32_t table_inline[4 * HDR_INLINE];
    char arena[HDR_ARENA];
};

/* Name lookups done by split_headers, for tests/unit/test_attempt_record.c:
 * the work per record must stay linear in the number of header lines. */
static unsigned long long header_probes;

unsigned long long psw_attempt_header_probes(void)
{
    return header_probes;
}

static void free_headers(struct hdr_set *hs)
{
    for (size_t i = 0; i < hs->n; i++)
        if (hs->h[i].cap)
            free(hs->h[i].value);
    if (hs->h != hs->h_inline)
        free(hs->h);
    if (hs->table != hs->table_inline)
        free(hs->table);
    hs->h = NULL;
    hs->table = NULL;
    hs->n = 0;
}

static uint32_t name_hash(const char *s)
{
    uint32_t x = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        x = (x ^ (unsigned char)*s) * 16777619u;
    return x;
}

/* Appends ", " and v[0..vl) to h's value, the whole cut at HDR_VALUE_MAX
 * bytes. The buffer grows to its final size once, so a name repeated many
 * times costs what its lines hold. -1 when out of memory. */
static int join_value(struct hdr *h, const char *v, size_t vl)
{
    if (h->len >= HDR_VALUE_MAX)
        return 0; /* already full: the rest would be cut */
    if (h->cap < HDR_VALUE_MAX + 1) {
        char *nv = h->cap ? realloc(h->value, HDR_VALUE_MAX + 1) : malloc(HDR_VALUE_MAX + 1);
        if (!nv)
            return -1;
        if (!h->cap) /* it was in the arena */
            memcpy(nv, h->value, h->len + 1);
        h->value = nv;
        h->cap = HDR_VALUE_MAX + 1;
    }
    for (size_t i = 0; i < 2 && h->len < HDR_VALUE_MAX; i++)
        h->value[h->len++] = ", "[i];
    size_t take = HDR_VALUE_MAX - h->len < vl ? HDR_VALUE_MAX - h->len : vl;
    memcpy(h->value + h->len, v, take);
    h->len += take;
    h->value[h->len] = '\0';
    return 0;
}

/* Splits the raw header block into hs (name/value pairs in order of first
 * appearance, a later duplicate appended to the first with ", ", the result
 * cut at HDR_VALUE_MAX bytes). Names are found through a hash table sized
 * for the block, so the work is linear in its length. 0, or -1 when out of
 * memory; free_headers(hs) either way. */
static int split_headers(struct hdr_set *hs, const char *raw, size_t len)
{
    size_t lines = 1, slots = 16;
    const char *p = raw, *end = raw + len;
    hs->n = 0;
    hs->cap = HDR_INLINE;
    hs->h = hs->h_inline;
    hs->arena_len = 0;
    for (const char *q = raw; (q = memchr(q, '\n', (size_t)(end - q))); q++)
        lines++;
    while (slots < 2 * lines)
        slots *= 2;
    if (slots <= sizeof(hs->table_inline) / sizeof(hs->table_inline[0])) {
        hs->table = hs->table_inline;
        memset(hs->table, 0, slots * sizeof(*hs->table));
    } else if (!(hs->table = calloc(slots, sizeof(*hs->table)))) {
        return -1;
    }
    uint32_t *table = hs->table;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            char name[128], value[1024];
            size_t nl = (size_t)(colon - p) < sizeof(name) - 1 ? (size_t)(colon - p) : sizeof(name) - 1;
            for (size_t i = 0; i < nl; i++)
                name[i] = (char)tolower((unsigned char)p[i]);
            name[nl] = '\0';
            copy_header_value(value, sizeof(value), colon + 1, (size_t)(line_end - colon - 1));
            uint32_t hv = name_hash(name);
            size_t slot = hv & (slots - 1);
            while (table[slot]) {
                struct hdr *e = &hs->h[table[slot] - 1];
                header_probes++;
                if (e->hash == hv && strcmp(e->name, name) == 0)
                    break;
                slot = (slot + 1) & (slots - 1);
            }
            if (table[slot]) {
                if (join_value(&hs->h[table[slot] - 1], value, strlen(value)) < 0)
                    return -1;
            } else {
                if (hs->n == hs->cap) {
                    size_t ncap = hs->cap * 2;
                    struct hdr *nh = hs->h == hs->h_inline ? malloc(ncap * sizeof(*nh))
                                                           : realloc(hs->h, ncap * sizeof(*nh));
                    if (!nh)
                        return -1;
                    if (hs->h == hs->h_inline)
                        memcpy(nh, hs->h_inline, hs->n * sizeof(*nh));
                    hs->h = nh;
                    hs->cap = ncap;
                }
                struct hdr *e = &hs->h[hs->n];
                memcpy(e->name, name, sizeof(name));
                e->hash = hv;
                e->len = strlen(value);
                if (hs->arena_len + e->len + 1 <= sizeof(hs->arena)) {
                    e->value = hs->arena + hs->arena_len;
                    memcpy(e->value, value, e->len + 1);
                    hs->arena_len += e->len + 1;
                    e->cap = 0;
                } else if ((e->value = strdup(value))) {
                    e->cap = e->len + 1;
                } else {
                    return -1;
                }
                hs->n++;
                table[slot] = (uint32_t)hs->n;
            }
        }
        p = line_end + 1;
    }
    return 0;
}

/* The record with at most hdr_max bytes of response header members and
 * body_max bytes of (escaped) body; the rest as it is. NULL when out of
 * memory. */
static char *build_record(const struct psw_attempt *a, int64_t end_ms, int64_t latency_ms,
                          const char *error, size_t hdr_max, size_t body_max)
{
    /* room for the usual record without growing */
    struct jbuf b = { NULL, 0, 1024 + 2 * (a->headers_len + a->body_len), 0 };
    if (!(b.p = malloc(b.cap)))
        return NULL;

    jb_lit(&b, "{\"n\":");
    jb_i64(&b, a->job.attempt);
    jb_lit(&b, ",\"at\":");
    jb_i64(&b, a->started_at);
    jb_lit(&b, ",\"ended_at\":");
    jb_i64(&b, end_ms);
    jb_lit(&b, ",\"trigger\":");
    jb_cstr(&b, a->job.trigger ? a->job.trigger : "first");
    jb_lit(&b, ",\"request\":{\"url\":");
    jb_cstr(&b, a->job.url ? a->job.url : "");
    jb_lit(&b, ",\"headers\":{");
    int first = 1;
    for (const struct curl_slist *l = a->req_headers; l; l = l->next) {
        const char *colon = strchr(l->data, ':');
        if (!colon || colon[1] == '\0')
            continue; /* "Expect:" only suppresses a header */
        char name[128];
        size_t nl = (size_t)(colon - l->data) < sizeof(name) - 1 ? (size_t)(colon - l->data) : sizeof(name) - 1;
        memcpy(name, l->data, nl);
        name[nl] = '\0';
        jb_key(&b, first, name);
        /* The lines psw_attempt_start wrote before the endpoint's are the
         * service's own (all reserved names); only the others are looked up. */
        uintptr_t at = (uintptr_t)l->data, text = (uintptr_t)a->req_text;
        int ours = a->req_text && at >= text && at < text + a->req_static_at;
        if (ours || psw_header_reserved(name, nl)) {
            jb_cstr(&b, colon + 2);
        } else { /* an endpoint's static header: never stored in full (docs/cli.md) */
            char masked[PSW_HEADER_NAME_MAX + 32];
            psw_header_mask(l->data, strlen(l->data), masked, sizeof(masked));
            jb_cstr(&b, masked + nl + 2);
        }
        first = 0;
    }
    jb_lit(&b, "}}");
    if (a->status > 0) {
        size_t nh = 0, hdr_start, kept = 0;
        int hdr_cut = 0;
        struct hdr_set hs;
        int split = split_headers(&hs, a->headers ? a->headers : "", a->headers_len);
        struct hdr *h = hs.h;
        nh = split == 0 ? hs.n : 0;
        jb_lit(&b, ",\"response\":{\"status\":");
        jb_i64(&b, (int)a->status);
        jb_lit(&b, ",\"headers\":{");
        hdr_start = b.len;
        for (size_t i = 0; i < nh; i++) {
            size_t before = b.len;
            jb_key(&b, i == 0, h[i].name);
            jb_cstr(&b, h[i].value);
            if (!b.oom && b.len - hdr_start > hdr_max) {
                b.len = before; /* this one and the rest do not fit */
                b.p[b.len] = '\0';
                hdr_cut = 1;
                break;
            }
        }
        jb_lit(&b, "},\"body\":");
        size_t body_len = a->body ? a->body_len : 0;
        kept = jb_str_max(&b, a->body ? a->body : "", body_len, body_max);
        jb_lit(&b, ",\"body_bytes\":");
        jb_i64(&b, (int64_t)a->body_total);
        jb_lit(&b, a->body_total > kept ? ",\"body_truncated\":true" : ",\"body_truncated\":false");
        jb_lit(&b, hdr_cut ? ",\"headers_truncated\":true}" : "}");
        if (split < 0)
            b.oom = 1;
        free_headers(&hs);
    } else {
        jb_lit(&b, ",\"response\":null");
    }
    jb_lit(&b, ",\"status\":");
    jb_i64(&b, (int)a->status);
    jb_lit(&b, ",\"latency_ms\":");
    jb_i64(&b, latency_ms);
    jb_lit(&b, ",\"error\":");
    if (error && error[0])
        jb_cstr(&b, error);
    else
        jb_lit(&b, "null");
    jb_lit(&b, "}");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *psw_attempt_record(const struct psw_attempt *a, int64_t end_ms, int64_t latency_ms,
                         const char *error)
{
    char *rec = build_record(a, end_ms, latency_ms, error, SIZE_MAX, SIZE_MAX);
    size_t len = rec ? strlen(rec) : 0;
    if (!rec || a->record_max == 0 || len <= a->record_max || a->status <= 0)
        return rec;
    /* Too big once escaped (a byte can take six): cut what the receiver
     * sent. What the worker writes itself (URL, request headers, error) is
     * kept whole. Of the room left, the response headers get up to half
     * (whole members, in order) and the body the rest. */
    free(rec);
    char *part = build_record(a, end_ms, latency_ms, error, 0, 0);
    if (!part)
        return NULL;
    size_t fixed = strlen(part); /* with the "cut" markers, as long as they get */
    free(part);
    size_t room = a->record_max > fixed ? a->record_max - fixed : 0;
    if (!(part = build_record(a, end_ms, latency_ms, error, room / 2, 0)))
        return NULL;
    size_t used = strlen(part) > fixed ? strlen(part) - fixed : 0;
    free(part);
    return build_record(a, end_ms, latency_ms, error, room / 2, room - used);
}

void psw_attempt_reset(struct psw_attempt *a)
{
    if (a->req_text && a->req_static_at < a->req_text_len)
        OPENSSL_cleanse(a->req_text + a->req_static_at, a->req_text_len - a->req_static_at);
    a->req_text_len = a->req_static_at = 0;
    a->req_headers = NULL;
    psw_delivery_job_free(&a->job);
    a->status = 0;
    a->body_len = a->body_total = 0;
    a->headers_len = a->headers_total = 0;
    a->headers_overflow = 0;
    a->retry_after[0] = a->location[0] = '\0';
    a->signature[0] = '\0';
    a->blocked[0] = '\0';
    a->sockets_opened = 0;
}

void psw_attempt_destroy(struct psw_attempt *a)
{
    psw_attempt_reset(a);
    if (a->easy)
        curl_easy_cleanup(a->easy);
    free(a->req_text);
    curl_url_cleanup(a->url_h);
    free(a->url_h_for);
    free(a->body);
    free(a->headers);
    memset(a, 0, sizeof(*a));
}
