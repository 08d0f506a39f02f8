/*
 * receiver.h — a real HTTP/1.1 server (libmicrohttpd) on 127.0.0.1 that
 * records every request and answers as the test scripts it, per path.
 *
 * One thread per connection, so a delayed or hanging answer holds up only its
 * own connection; keep-alive works. Requests are recorded (in arrival order)
 * once the whole body has arrived, before any delay or hang, with the status
 * the receiver answers (0 while it hangs, or when the answer was never sent
 * because the client left or the receiver stopped). Paths are matched
 * exactly on the decoded path without the query string.
 *
 * All functions are thread-safe. rx_stop wakes delayed and hanging handlers
 * and returns promptly; the receivers a test forgot to stop are stopped at
 * exit. Snapshots from rx_requests are deep copies owned by the caller.
 */
#ifndef PSW_TEST_HARNESS_RECEIVER_H
#define PSW_TEST_HARNESS_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

struct rx; /* opaque */

/* Listens on 127.0.0.1 on a free port. NULL (reason on stderr) on failure. */
struct rx *rx_start(void);
/* The same on another loopback address, e.g. "127.0.0.2" (Linux answers on
 * all of 127.0.0.0/8), for a second host as the SSRF guard sees it. */
struct rx *rx_start_at(const char *ipv4);
/* Stops the server and frees everything; safe on NULL. */
void rx_stop(struct rx *rx);
int rx_port(const struct rx *rx);
/* "http://127.0.0.1:PORT" + path (path should start with '/'; NULL = "/"). */
void rx_url(const struct rx *rx, const char *path, char *out, size_t n);

struct rx_behavior {
    int status;              /* status once the failures are used up (0 = 200) */
    int fail_first;          /* answer the first N requests on this path with fail_status */
    int fail_status;         /* 0 = 500 */
    int always_status;       /* if nonzero: every request gets this status */
    const char *retry_after; /* if set, a Retry-After header on fail_first answers
                                and on every answer with status >= 400 */
    const char *location;    /* if set, a Location header on every answer */
    int delay_ms;            /* wait before answering */
    int hang;                /* never answer (until rx_stop or the client leaves) */
    const char *body;        /* response body (NULL = "ok") */
    int delay_max_ms;        /* > delay_ms: wait a random time in [delay_ms, delay_max_ms] */
    int fail_first_attempt_pct; /* answer this % (at random) of the requests whose
                                   X-PostStack-Attempt is 1 with fail_status */
};

/* Sets the behaviour of one path (NULL = the default for every path without
 * its own); b NULL = back to the default (or, for path NULL, to 200 "ok").
 * Strings are copied. Counting for fail_first restarts: for path, or for
 * every path following the default when path is NULL. */
void rx_set(struct rx *rx, const char *path, const struct rx_behavior *b);

/* Requests recorded on path (NULL = on all paths). */
size_t rx_count(struct rx *rx, const char *path);
/* 0 once rx_count(path) >= n, -1 after timeout_ms. */
int rx_wait(struct rx *rx, const char *path, size_t n, int timeout_ms);

struct rx_request {
    char *method;
    char *path;
    char *body; /* body_len bytes, followed by a NUL not counted in body_len */
    size_t body_len;
    size_t nheaders; /* in arrival order, names as the client spelled them */
    char **names;
    char **values;
    int64_t at_ms;   /* unix ms (wall clock) when the request was complete */
    int client_port; /* the client's TCP source port: one per connection */
    int status;      /* status answered; 0 = no answer (hang, client gone, stop) */
};

/* Copies of the requests on path (NULL = all), in arrival order. Returns the
 * count; *out is NULL when 0. Free with rx_requests_free. */
size_t rx_requests(struct rx *rx, const char *path, struct rx_request **out);
void rx_requests_free(struct rx_request *reqs, size_t n);
/* Value of the first header called name (case-insensitive), NULL if absent. */
const char *rx_header(const struct rx_request *r, const char *name);
/* The most requests on path (NULL = on all paths) that were being answered
 * at the same time — from the moment a request was complete to the moment
 * its answer was handed over — since the start or the last rx_reset. */
size_t rx_max_busy(struct rx *rx, const char *path);
/* Forgets recorded requests, per-path fail_first counters and the rx_max_busy
 * highs (behaviours stay). */
void rx_reset(struct rx *rx);

#endif
