/*
 * http.c — builds, runs (through the caller's multi handle) and classifies
 * one delivery attempt. See http.h for what is bounded and who owns what.
 *
 * Redirects are never followed (a 3xx is a failed attempt that names the
 * Location); only http and https are allowed; TLS peers are verified; an
 * empty "Expect:" keeps libcurl from waiting for 100-continue on big bodies.
 */
#include "worker/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "common/retry.h"
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
    for (int i = 0; i < 2; i++) {
        if (job->secrets[i]) {
            OPENSSL_cleanse(job->secrets[i], strlen(job->secrets[i]));
            free(job->secrets[i]);
        }
    }
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
    if (a->headers_len + n > PSW_HTTP_MAX_HEADER_BYTES) {
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

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[PSW_SIGNATURE_SIZE + 64];
    snprintf(line, sizeof(line), "%s:%s%s", name, value[0] ? " " : "", value);
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

int psw_attempt_start(struct psw_attempt *a, const struct psw_config *cfg,
                      struct psw_delivery_job *job, int64_t now_s, char *err, size_t errlen)
{
    const char *secrets[2];
    size_t nsec = 0;
    char attempt_s[16];

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
    a->body_cap = (size_t)cfg->http_max_response_bytes;
    free(a->body);
    if (!(a->body = malloc(a->body_cap + 1))) {
        snprintf(err, errlen, "out of memory");
        return -1;
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
    if (psw_sign_header(secrets, nsec, now_s, a->job.body, a->job.body_len, a->signature,
                        sizeof(a->signature)) < 0) {
        snprintf(err, errlen, "signing failed");
        return -1;
    }
    snprintf(attempt_s, sizeof(attempt_s), "%d", a->job.attempt);

    if (add_header(&a->req_headers, "Content-Type", "application/json") < 0 ||
        add_header(&a->req_headers, "User-Agent", "PostStack-Webhooks/" PSW_VERSION) < 0 ||
        add_header(&a->req_headers, "X-PostStack-Event-Id", a->job.event_id) < 0 ||
        add_header(&a->req_headers, "X-PostStack-Event-Type", a->job.event_type) < 0 ||
        add_header(&a->req_headers, "X-PostStack-Delivery-Id", a->job.id) < 0 ||
        add_header(&a->req_headers, "X-PostStack-Attempt", attempt_s) < 0 ||
        add_header(&a->req_headers, "X-PostStack-Signature", a->signature) < 0 ||
        add_header(&a->req_headers, "Expect", "") < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    CURL *e = a->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, a->job.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->job.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->job.body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->req_headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http_connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->curl_err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    if (cfg->http_source_interface && cfg->http_source_interface[0])
        curl_easy_setopt(e, CURLOPT_INTERFACE, cfg->http_source_interface);
    if (cfg->http_proxy && cfg->http_proxy[0])
        curl_easy_setopt(e, CURLOPT_PROXY, cfg->http_proxy);
    else
        curl_easy_setopt(e, CURLOPT_PROXY, ""); /* ignore http_proxy in the environment */
    a->curl_err[0] = '\0';
    a->started_mono = psw_mono_ms();
    return 0;
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
        kind = "url";
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
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
    if (rc == CURLE_WRITE_ERROR && a->headers_overflow) {
        snprintf(err, errlen, "http: response headers larger than %d bytes",
                 PSW_HTTP_MAX_HEADER_BYTES);
        a->status = 0;
        return 0;
    }
    if (status == 0 || (rc != CURLE_OK && !cut_body)) {
        a->status = status;
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

/* Splits the raw header block into a JSON object (later duplicates are
 * appended with ", "). */
static json_object *headers_json(const char *raw, size_t len)
{
    json_object *o = json_object_new_object();
    const char *p = raw, *end = raw + len;
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
            json_object *prev = NULL;
            if (json_object_object_get_ex(o, name, &prev)) {
                char joined[2048];
                snprintf(joined, sizeof(joined), "%s, %s", json_object_get_string(prev), value);
                json_object_object_add(o, name, json_object_new_string(joined));
            } else {
                json_object_object_add(o, name, json_object_new_string(value));
            }
        }
        p = line_end + 1;
    }
    return o;
}

char *psw_attempt_record(const struct psw_attempt *a, int64_t end_ms, int64_t latency_ms,
                         const char *error)
{
    json_object *rec = json_object_new_object();
    json_object *req = json_object_new_object();
    json_object *rh = json_object_new_object();
    char *out = NULL;

    json_object_object_add(rec, "n", json_object_new_int(a->job.attempt));
    json_object_object_add(rec, "at", json_object_new_int64(a->started_at));
    json_object_object_add(rec, "ended_at", json_object_new_int64(end_ms));
    json_object_object_add(rec, "trigger", json_object_new_string(a->job.trigger ? a->job.trigger : "first"));
    json_object_object_add(req, "url", json_object_new_string(a->job.url ? a->job.url : ""));
    for (const struct curl_slist *h = a->req_headers; h; h = h->next) {
        const char *colon = strchr(h->data, ':');
        if (!colon || colon[1] == '\0')
            continue; /* "Expect:" only suppresses a header */
        char name[128];
        size_t nl = (size_t)(colon - h->data) < sizeof(name) - 1 ? (size_t)(colon - h->data) : sizeof(name) - 1;
        memcpy(name, h->data, nl);
        name[nl] = '\0';
        json_object_object_add(rh, name, json_object_new_string(colon + 2));
    }
    json_object_object_add(req, "headers", rh);
    json_object_object_add(rec, "request", req);
    if (a->status > 0) {
        json_object *resp = json_object_new_object();
        json_object_object_add(resp, "status", json_object_new_int((int)a->status));
        json_object_object_add(resp, "headers", headers_json(a->headers, a->headers_len));
        json_object_object_add(resp, "body", json_object_new_string_len(a->body ? a->body : "", (int)a->body_len));
        json_object_object_add(resp, "body_bytes", json_object_new_int64((int64_t)a->body_total));
        json_object_object_add(resp, "body_truncated", json_object_new_boolean(a->body_total > a->body_len));
        json_object_object_add(rec, "response", resp);
    } else {
        json_object_object_add(rec, "response", NULL);
    }
    json_object_object_add(rec, "status", json_object_new_int((int)a->status));
    json_object_object_add(rec, "latency_ms", json_object_new_int64(latency_ms));
    json_object_object_add(rec, "error", error && error[0] ? json_object_new_string(error) : NULL);
    const char *s = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    out = s ? strdup(s) : NULL;
    json_object_put(rec);
    return out;
}

void psw_attempt_reset(struct psw_attempt *a)
{
    curl_slist_free_all(a->req_headers);
    a->req_headers = NULL;
    psw_delivery_job_free(&a->job);
    a->status = 0;
    a->body_len = a->body_total = 0;
    a->headers_len = 0;
    a->headers_overflow = 0;
    a->retry_after[0] = a->location[0] = '\0';
    a->signature[0] = '\0';
}

void psw_attempt_destroy(struct psw_attempt *a)
{
    psw_attempt_reset(a);
    if (a->easy)
        curl_easy_cleanup(a->easy);
    free(a->body);
    free(a->headers);
    memset(a, 0, sizeof(*a));
}
