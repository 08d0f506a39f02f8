/*
 * http.h — one delivery attempt as a libcurl easy handle.
 *
 * A struct psw_attempt holds everything about one request in flight: the
 * delivery it belongs to (copied out of the claim reply), the request headers
 * (signature included), and what came back, captured within bounds: at most
 * http.max_response_bytes of body (the rest is counted and discarded, and a
 * body far beyond that aborts the transfer), at most PSW_HTTP_MAX_HEADER_BYTES
 * of response headers. The easy handle is reused across attempts so libcurl
 * keeps connections alive per host; the options that depend only on the
 * configuration are set once per handle, the rest before every request.
 *
 * The SSRF guard (common/netguard.h) is applied where libcurl opens its
 * socket, to the address it is about to connect to: an address the guard
 * refuses gets no socket, and an attempt that got no socket at all ends
 * with last_error "blocked: <reason>". Not for a request that goes through
 * http.proxy: the only connection is then to the proxy, which must do the
 * filtering. Requests to hosts http.no_proxy names go directly, guarded.
 *
 * Ownership: psw_attempt_reset() frees what one attempt owns and keeps the
 * easy handle, the header buffers (the endpoint's header text wiped) and the
 * parsed URL for the next attempt; psw_attempt_destroy() frees those too.
 */
#ifndef PSW_HTTP_H
#define PSW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/config.h"
#include "common/headers.h"
#include "common/netguard.h"
#include "common/sign.h"

#define PSW_HTTP_MAX_HEADER_BYTES 16384

/* The delivery fields an attempt needs (from claim.lua's reply). */
struct psw_delivery_job {
    char *id;
    char *event_id;
    char *event_type;
    char *endpoint_id;
    char *url;
    char *trigger;        /* first | retry | replay */
    char *body;
    size_t body_len;
    int   attempt;        /* 1-based, across the delivery's life */
    int64_t cycle_started_at;
    int   cycle_attempts;
    char *secrets[2];     /* newest first; [1] may be NULL */
    char *signing;        /* poststack (or "") | standard | ed25519 */
    char *signing_key;    /* opened Ed25519 private key (common/sign_std.h) or "" */
    char *headers;        /* opened static headers, lines joined by "\n" (common/headers.h) */
};

/* Request header lines an attempt holds at most: ours, then the endpoint's. */
#define PSW_HTTP_REQ_HEADERS (12 + PSW_HEADERS_MAX)

struct psw_attempt {
    CURL *easy;
    /* What the easy handle's per-handle options were set for (the rest is
     * set per request, see psw_attempt_start); NULL = not yet. */
    const struct psw_config *configured;
    /* The request headers: a list whose nodes (req_nodes) and text
     * (req_text) the attempt owns and keeps for the next request, so a
     * request allocates nothing for them. */
    struct curl_slist *req_headers;
    struct curl_slist req_nodes[PSW_HTTP_REQ_HEADERS];
    char   *req_text;
    size_t  req_text_len, req_text_cap;
    size_t  req_static_at;   /* where the endpoint's headers start in req_text (wiped) */
    /* The URL parsed as libcurl would (CURLOPT_CURLU), kept while the slot's
     * requests go to the same URL; NULL when the last one did not parse. */
    CURLU  *url_h;
    char   *url_h_for;       /* the URL url_h holds */
    struct psw_delivery_job job;
    int64_t started_at;      /* Redis clock (ms), from the claim */
    int64_t started_mono;
    char    signature[PSW_SIGNATURE_SIZE];
    int64_t signed_at;       /* the t= value */

    /* response */
    long    status;          /* 0 = no HTTP answer */
    char   *body;            /* first max bytes, NUL-terminated */
    size_t  body_len;
    size_t  body_cap;
    size_t  body_total;      /* bytes the receiver sent */
    char   *headers;         /* raw header block of the final response */
    size_t  headers_len;
    size_t  headers_total;   /* of every block, 1xx included: what the cap counts */
    int     headers_overflow;
    char    retry_after[64];
    char    location[256];
    char    curl_err[CURL_ERROR_SIZE];
    size_t  record_max;      /* http.max_record_bytes; 0 = no bound */

    /* SSRF guard (borrowed, NULL = none) and what it did this attempt */
    const struct psw_netguard *guard;
    int     sockets_opened;
    char    blocked[PSW_NETGUARD_WHY_SIZE]; /* the last refusal, "" = none */
};

/* Prepares a for a new request of job (taking ownership of job's strings)
 * and configures the easy handle (created on first use). now_s is the
 * signature's timestamp. guard (borrowed; it must outlive the transfer)
 * decides which addresses may be connected to; NULL checks none. Returns 0,
 * or -1 with err (signing failed …). */
int psw_attempt_start(struct psw_attempt *a, const struct psw_config *cfg,
                      const struct psw_netguard *guard, struct psw_delivery_job *job,
                      int64_t now_s, char *err, size_t errlen);

/* After the transfer finished with result rc: fills *ok (2xx), the error
 * text (empty on success; "blocked: …" when the guard refused every address
 * it was asked about and no connection was made) into err, and the Retry-After moment (ms) if the
 * answer was 429/503 with a usable header. end_ms is the attempt's end on
 * the same clock as started_at. Returns 1 when the answer was 410 Gone. */
int psw_attempt_finish(struct psw_attempt *a, CURLcode rc, int64_t end_ms, int *ok,
                       int64_t *retry_after_ms, char *err, size_t errlen);

/* The attempt record (docs/redis.md) as compact JSON; caller frees.
 * At most a->record_max bytes when that is not 0: the response headers
 * (whole members, dropped from the last, "headers_truncated":true) and the
 * body ("body_truncated":true) are cut to fit; the parts the worker writes
 * itself are not, so a record whose URL alone is longer still exceeds it. */
char *psw_attempt_record(const struct psw_attempt *a, int64_t end_ms, int64_t latency_ms,
                         const char *error);

/* The proxy a request to url goes through: http.proxy, or "" (directly)
 * when http.proxy is empty or http.no_proxy names url's host. The
 * environment's proxy variables never count (docs/config.md). */
const char *psw_http_proxy_for(const struct psw_config *cfg, const char *url);

/* Header-name lookups psw_attempt_record has done in this process so far
 * (a work counter for tests: building a record is linear in its headers). */
unsigned long long psw_attempt_header_probes(void);

void psw_attempt_reset(struct psw_attempt *a);
void psw_attempt_destroy(struct psw_attempt *a);
void psw_delivery_job_free(struct psw_delivery_job *job);

#endif
