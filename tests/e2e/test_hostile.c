/*
 * test_hostile.c — receivers that fight back (issue 7, "hostile endpoints"):
 * each attempt to one of them must end within http.timeout (+ a margin), be
 * recorded as a failed attempt whose last_error names the class ("timeout:",
 * "http:", "connection:", "tls:"), keep at most http.max_response_bytes of
 * body in the attempt record, leave the worker child's memory where it was,
 * and — the point of it all — not slow down the deliveries to everyone else.
 *
 * The hostile server is written here: raw sockets on 127.0.0.1, an accept
 * thread and one thread per connection, each behaviour chosen by the request
 * path (see ROUTES): a chunked body that never ends (a byte every 10 ms), a
 * flood of body as fast as the socket takes it (2xx and 5xx), 1 MiB of
 * header lines, one 1 MiB header line, an endless stream of 100 Continue, a
 * redirect (its target counts hits), a status line dribbled a byte every
 * 200 ms, an accepted connection that never gets an answer, a connection
 * closed mid-body, reset, closed without a byte, a malformed status line and
 * an HTTP/0.9 answer; a TLS ClientHello gets a plain-HTTP answer. Besides:
 * `openssl s_server` with a self-signed certificate made in the test's
 * directory, and a listening socket nobody accepts on (a TLS handshake that
 * never starts). Every server thread polls in ≤ 20 ms steps and ends when the
 * server stops, so hs_stop() joins them all promptly.
 *
 * Tests:
 *   - every hostile case at once, while 50 events go to a normal receiver:
 *     per-attempt latency, class and text of last_error, last_status, the
 *     attempt record's body size; the normal deliveries' latency (a stall of
 *     the child's event loop shows here); the worker child's VmHWM/VmRSS
 *     before and after the floods and huge headers (after a warm-up of the
 *     cheap cases, so one-time TLS and curl setup is not counted; the
 *     worker runs without ASan's quarantine, see up()). A 2xx followed by
 *     an endless body counts as delivered: the receiver answered 2xx, and
 *     the worker stops reading 64 KiB past http.max_response_bytes;
 *   - one endpoint with a backlog of never-answering requests: with
 *     endpoint.max_in_flight it holds at most that many of the worker's slots
 *     and everyone else is served at once; without the cap it holds them all
 *     and the others wait for its timeouts (what the cap is for).
 * Measured numbers are printed ("hostile: …") for docs/security.md.
 *
 * Ownership: requests snapshots and parsed JSON live in the file-level slots
 * below, released by the teardown, so a failed assertion leaks nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "common/endpoint.h"
#include "common/publish.h"
#include "common/timeutil.h"
#include "tests/harness/cluster.h"

#define TIMEOUT_MS 1000   /* http.timeout and http.connect_timeout */
#define MARGIN_MS 900     /* what an attempt may take beyond its bound (a busy 2-core
                             machine delays the child's event loop by tens of ms) */
#define MAX_BODY 1000     /* http.max_response_bytes */
#define BODY_SLACK 65536  /* worker/http.c: a body this far past the cap is cut */
#define HDR_CAP 16384     /* PSW_HTTP_MAX_HEADER_BYTES */
#define RSS_GROWTH_KB 4096
#define NORMAL_EVENTS 50
/* A normal delivery beside the hostile ones: typically a few ms. A stall
 * of the worker child's loop shows up here (before the CA store was cached,
 * each new TLS connection stalled it 180-600 ms under ASan). */
#define NORMAL_WORST_MS 300
#define WAIT_MS 15000

static struct cluster C;
static int C_up, T_done;

static struct rx_request *RQ;
static size_t NRQ;
#define NJ 4
static json_object *J[NJ];

/* ---- small helpers ------------------------------------------------------ */

/* HGET into a rotating static buffer; "" when absent. */
static const char *H(const char *key, const char *field)
{
    static char ring[8][4096];
    static int at;
    char *b = ring[at++ % 8];
    char *v = cluster_hget(&C, key, field);
    snprintf(b, sizeof(ring[0]), "%s", v ? v : "");
    free(v);
    return b;
}

/* A port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A socket listening on 127.0.0.1 (port 0 = any); *port gets the port. */
static int listen_on(int port, int *out_port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *out_port = ntohs(a.sin_port);
    return fd;
}

static int can_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- the hostile server --------------------------------------------------- */

enum hs_kind {
    HK_CHUNKED_FOREVER, /* 200, chunked, one byte every 10 ms, never the last chunk */
    HK_FLOOD,           /* `raw` head, then body as fast as the socket takes it */
    HK_HUGE_HEADERS,    /* 1 MiB of 128-byte header lines */
    HK_HUGE_LINE,       /* one header line of 1 MiB */
    HK_ENDLESS_1XX,     /* "100 Continue" after "100 Continue", forever */
    HK_REDIRECT,        /* 302 to /landing */
    HK_DRIBBLE,         /* `raw`, one byte every 200 ms */
    HK_SILENT,          /* reads the request, never answers */
    HK_RESET,           /* reads the request, then RST */
    HK_RAW,             /* sends `raw`, closes */
};

struct route {
    const char *path;
    enum hs_kind kind;
    const char *raw;
    /* observed (under HS.mu) */
    int hits, open, max_open;
    long long bytes_sent;
};

static struct route ROUTES[] = {
    { "/chunked-forever", HK_CHUNKED_FOREVER, NULL, 0, 0, 0, 0 },
    { "/flood-200", HK_FLOOD, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n",
      0, 0, 0, 0 },
    { "/flood-500", HK_FLOOD, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n",
      0, 0, 0, 0 },
    { "/huge-headers", HK_HUGE_HEADERS, NULL, 0, 0, 0, 0 },
    { "/huge-header-line", HK_HUGE_LINE, NULL, 0, 0, 0, 0 },
    { "/endless-1xx", HK_ENDLESS_1XX, NULL, 0, 0, 0, 0 },
    { "/redirect", HK_REDIRECT, NULL, 0, 0, 0, 0 },
    { "/landing", HK_RAW, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 0,
      0, 0, 0 },
    { "/dribble", HK_DRIBBLE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 0, 0, 0 },
    { "/silent", HK_SILENT, NULL, 0, 0, 0, 0 },
    { "/close-mid", HK_RAW, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial", 0, 0, 0, 0 },
    { "/reset", HK_RESET, NULL, 0, 0, 0, 0 },
    { "/empty", HK_RAW, "", 0, 0, 0, 0 },
    { "/bad-status", HK_RAW, "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n", 0, 0, 0, 0 },
    { "/http09", HK_RAW, "this is not an HTTP answer\r\n\r\n", 0, 0, 0, 0 },
    /* a TLS ClientHello where a request should be: answered in plain HTTP */
    { "(tls hello)", HK_RAW, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 0, 0, 0, 0 },
    { "(other)", HK_SILENT, NULL, 0, 0, 0, 0 },
};
#define NROUTES (sizeof(ROUTES) / sizeof(ROUTES[0]))
#define MAX_CONN 2048

static struct {
    int lfd, port;
    int up;
    atomic_int stop;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_t conn[MAX_CONN];
    int nconn;
} HS = { .lfd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static struct route *route_named(const char *path)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (strcmp(ROUTES[i].path, path) == 0)
            return &ROUTES[i];
    return &ROUTES[NROUTES - 1];
}

/* Sends all of p unless the peer goes away or the server stops: 0 / -1. */
static int hs_send(int fd, const char *p, size_t len, struct route *r)
{
    while (len > 0) {
        if (atomic_load(&HS.stop))
            return -1;
        struct pollfd pfd = { fd, POLLOUT, 0 };
        int pr = poll(&pfd, 1, 20);
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue;
        ssize_t k = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        len -= (size_t)k;
        pthread_mutex_lock(&HS.mu);
        r->bytes_sent += k;
        pthread_mutex_unlock(&HS.mu);
    }
    return 0;
}

/* Sleeps ms in small steps; -1 when the server stops meanwhile. */
static int hs_nap(int ms)
{
    for (int slept = 0; slept < ms; slept += 10) {
        if (atomic_load(&HS.stop))
            return -1;
        harness_nap(10);
    }
    return atomic_load(&HS.stop) ? -1 : 0;
}

/* Reads until the peer closes or the server stops (what never answering is). */
static void hs_hold(int fd)
{
    char buf[4096];
    while (!atomic_load(&HS.stop)) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int pr = poll(&pfd, 1, 20);
        if (pr < 0 && errno != EINTR)
            return;
        if (pr > 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == 0)
            return;
    }
}

/* Reads the request head and its Content-Length body. Returns the route, or
 * NULL when the peer left. A TLS ClientHello is recognised by its first byte. */
static struct route *hs_read_request(int fd)
{
    char head[16384];
    size_t n = 0;
    long long deadline = harness_mono_ms() + 10000;
    char *end = NULL;
    while (!end) {
        if (atomic_load(&HS.stop) || harness_mono_ms() > deadline || n == sizeof(head) - 1)
            return route_named("(other)");
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        ssize_t k = recv(fd, head + n, sizeof(head) - 1 - n, MSG_DONTWAIT);
        if (k == 0)
            return NULL;
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return NULL;
        }
        n += (size_t)k;
        head[n] = '\0';
        if ((unsigned char)head[0] == 0x16)
            return route_named("(tls hello)");
        end = strstr(head, "\r\n\r\n");
    }
    char path[256] = "";
    const char *sp = strchr(head, ' ');
    if (sp) {
        size_t pl = strcspn(sp + 1, " ?\r\n");
        snprintf(path, sizeof(path), "%.*s", (int)pl, sp + 1);
    }
    long long body = 0;
    for (const char *l = strstr(head, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
            body = strtoll(l + 17, NULL, 10);
    body -= (long long)(n - (size_t)(end + 4 - head));
    /* read the body, so that closing sends FIN, not RST */
    while (body > 0 && !atomic_load(&HS.stop) && harness_mono_ms() < deadline) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        ssize_t k = recv(fd, head, sizeof(head), MSG_DONTWAIT);
        if (k == 0)
            return NULL;
        if (k > 0)
            body -= k;
    }
    return route_named(path);
}

static void hs_serve(int fd, struct route *r)
{
    char buf[65536];
    switch (r->kind) {
    case HK_CHUNKED_FOREVER: {
        static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (hs_send(fd, head, sizeof(head) - 1, r) < 0)
            return;
        while (hs_send(fd, "1\r\nx\r\n", 6, r) == 0 && hs_nap(10) == 0)
            ;
        return;
    }
    case HK_FLOOD:
        memset(buf, 'z', sizeof(buf));
        if (hs_send(fd, r->raw, strlen(r->raw), r) < 0)
            return;
        while (hs_send(fd, buf, sizeof(buf), r) == 0)
            ;
        return;
    case HK_HUGE_HEADERS: {
        size_t cap = (1 << 20) + 4096, len = 0;
        char *h = malloc(cap);
        if (!h)
            return;
        len += (size_t)snprintf(h, cap, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < 8192; i++)
            len += (size_t)snprintf(h + len, cap - len, "X-Filler-%05d: %0107d\r\n", i, 0);
        len += (size_t)snprintf(h + len, cap - len, "Content-Length: 2\r\n\r\nok");
        hs_send(fd, h, len, r);
        free(h);
        return;
    }
    case HK_HUGE_LINE: {
        size_t cap = (1 << 20) + 4096, len = 0;
        char *h = malloc(cap);
        if (!h)
            return;
        len += (size_t)snprintf(h, cap, "HTTP/1.1 200 OK\r\nX-Huge: ");
        memset(h + len, 'a', 1 << 20);
        len += 1 << 20;
        len += (size_t)snprintf(h + len, cap - len, "\r\nContent-Length: 2\r\n\r\nok");
        hs_send(fd, h, len, r);
        free(h);
        return;
    }
    case HK_ENDLESS_1XX: {
        static const char one[] = "HTTP/1.1 100 Continue\r\n\r\n";
        size_t n = 0;
        while (n + sizeof(one) < sizeof(buf)) {
            memcpy(buf + n, one, sizeof(one) - 1);
            n += sizeof(one) - 1;
        }
        while (hs_send(fd, buf, n, r) == 0)
            ;
        return;
    }
    case HK_REDIRECT: {
        int len = snprintf(buf, sizeof(buf),
                           "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/landing\r\n"
                           "Content-Length: 0\r\nConnection: close\r\n\r\n",
                           HS.port);
        hs_send(fd, buf, (size_t)len, r);
        return;
    }
    case HK_DRIBBLE:
        for (const char *p = r->raw; *p; p++)
            if (hs_send(fd, p, 1, r) < 0 || hs_nap(200) < 0)
                return;
        return;
    case HK_SILENT:
        hs_hold(fd);
        return;
    case HK_RESET: {
        struct linger lg = { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        return;
    }
    case HK_RAW:
        hs_send(fd, r->raw, strlen(r->raw), r);
        return;
    }
}

static void *hs_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct route *r = hs_read_request(fd);
    if (r) {
        pthread_mutex_lock(&HS.mu);
        r->hits++;
        if (++r->open > r->max_open)
            r->max_open = r->open;
        pthread_mutex_unlock(&HS.mu);
        hs_serve(fd, r);
        pthread_mutex_lock(&HS.mu);
        r->open--;
        pthread_mutex_unlock(&HS.mu);
    }
    close(fd);
    return NULL;
}

static void *hs_accept(void *arg)
{
    (void)arg;
    while (!atomic_load(&HS.stop)) {
        struct pollfd pfd = { HS.lfd, POLLIN, 0 };
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        int fd = accept4(HS.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&HS.mu);
        int slot = HS.nconn < MAX_CONN ? HS.nconn++ : -1;
        pthread_mutex_unlock(&HS.mu);
        if (slot < 0 || pthread_create(&HS.conn[slot], NULL, hs_conn, (void *)(intptr_t)fd) != 0) {
            if (slot >= 0) {
                pthread_mutex_lock(&HS.mu);
                HS.nconn--;
                pthread_mutex_unlock(&HS.mu);
            }
            close(fd);
        }
    }
    return NULL;
}

static void hs_start(void)
{
    for (size_t i = 0; i < NROUTES; i++) {
        ROUTES[i].hits = ROUTES[i].open = ROUTES[i].max_open = 0;
        ROUTES[i].bytes_sent = 0;
    }
    atomic_store(&HS.stop, 0);
    HS.nconn = 0;
    HS.lfd = listen_on(0, &HS.port);
    assert_true(HS.lfd >= 0);
    assert_int_equal(pthread_create(&HS.acceptor, NULL, hs_accept, NULL), 0);
    HS.up = 1;
}

static void hs_stop(void)
{
    if (!HS.up)
        return;
    atomic_store(&HS.stop, 1);
    pthread_join(HS.acceptor, NULL);
    for (int i = 0; i < HS.nconn; i++)
        pthread_join(HS.conn[i], NULL);
    close(HS.lfd);
    HS.lfd = -1;
    HS.up = 0;
}

static struct route route_copy(const char *path)
{
    pthread_mutex_lock(&HS.mu);
    struct route r = *route_named(path);
    pthread_mutex_unlock(&HS.mu);
    return r;
}

/* ---- openssl s_server with a self-signed certificate ---------------------- */

static pid_t TLS_pid = -1;
static int TLS_port;
static int NOACCEPT_fd = -1, NOACCEPT_port;

static const char *openssl_path(void)
{
    static char found[1024];
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof(found), "%s/openssl", d);
        if (access(found, X_OK) == 0)
            return found;
    }
    fail_msg("the openssl command is not installed");
    return NULL;
}

static void tls_start(void)
{
    char key[600], cert[600], log[600];
    char port_arg[64];
    const char *ossl = openssl_path();
    int st = 0;

    snprintf(key, sizeof(key), "%s/key.pem", C.dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", C.dir);
    snprintf(log, sizeof(log), "%s/openssl.log", C.dir);
    char *req[] = { (char *)ossl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert, NULL };
    pid_t p = harness_spawn(ossl, req, log, SIGKILL);
    assert_true(p > 0);
    if (proc_wait(p, 20000, &st) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        proc_stop(p, SIGKILL, 1000);
        file_tail(log, 20);
        fail_msg("openssl req failed");
    }
    TLS_port = free_port();
    snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", TLS_port);
    char *srv[] = { (char *)ossl, "s_server", "-accept", port_arg, "-cert", cert, "-key", key,
                    "-www", "-quiet", NULL };
    TLS_pid = harness_spawn(ossl, srv, log, SIGTERM);
    assert_true(TLS_pid > 0);
    long long until = harness_mono_ms() + 10000;
    while (!can_connect(TLS_port)) {
        if (harness_mono_ms() > until) {
            file_tail(log, 20);
            fail_msg("openssl s_server did not listen on port %d", TLS_port);
        }
        harness_nap(20);
    }
    /* a TLS handshake that never starts: listening, never accepting */
    NOACCEPT_fd = listen_on(0, &NOACCEPT_port);
    assert_true(NOACCEPT_fd >= 0);
}

static void tls_stop(void)
{
    if (TLS_pid > 0)
        proc_stop(TLS_pid, SIGTERM, 3000);
    TLS_pid = -1;
    if (NOACCEPT_fd >= 0)
        close(NOACCEPT_fd);
    NOACCEPT_fd = -1;
}

/* ---- fixture ---------------------------------------------------------------- */

static void up(const char *const *overrides)
{
    /* Under ASan, freed memory sits in a quarantine (256 MiB by default)
     * instead of being reused, so a process's RSS grows with everything it
     * ever allocated. The worker's memory is measured here: its children
     * get no quarantine (the other test programs keep it). */
    const char *asan = getenv("ASAN_OPTIONS");
    if (!asan || !strstr(asan, "quarantine_size_mb")) {
        char opts[1024];
        snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
                 asan ? asan : "", asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    T_done = 0;
    C_up = 1;
    if (cluster_start(&C, overrides, 1, 1) < 0)
        fail_msg("the cluster did not start");
    hs_start();
}

static int down(void **state)
{
    (void)state;
    hs_stop();
    tls_stop();
    if (C_up) {
        cluster_stop(&C, !T_done);
        C_up = 0;
    }
    rx_requests_free(RQ, NRQ);
    RQ = NULL;
    NRQ = 0;
    for (int i = 0; i < NJ; i++) {
        json_object_put(J[i]);
        J[i] = NULL;
    }
    return 0;
}

static void endpoint_url(const char *account, const char *url, char id[PSW_ID_SIZE])
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep;
    char err[512];
    memset(&ep, 0, sizeof(ep));
    spec.account_id = account;
    spec.url = url;
    int rc = psw_endpoint_create(&C.ctx, &spec, &ep, err, sizeof(err));
    if (rc != PSW_OK)
        fail_msg("psw_endpoint_create(%s): %s", url, err);
    snprintf(id, PSW_ID_SIZE, "%s", ep.id);
    psw_endpoint_free(&ep);
}

/* Publishes one email.sent event of account; the delivery id into dlv (if
 * not NULL; the account must have exactly one endpoint then). */
static void publish(const char *evt, const char *account, const char *ep, char *dlv)
{
    struct psw_publish_result res;
    const char *json = harness_fmt("{\"id\":\"%s\",\"type\":\"email.sent\",\"account_id\":\"%s\","
                           "\"domain\":\"hostile.example\",\"data\":{\"message_id\":\"<%s@x>\","
                           "\"to\":\"bob@example.org\"}}",
                           evt, account, evt);
    if (psw_publish(&C.ctx, json, strlen(json), &res) != PSW_OK)
        fail_msg("psw_publish: %s", res.err);
    assert_int_equal(res.deliveries, 1);
    if (dlv) {
        redisReply *r = cluster_cmd(&C, "ZRANGE %sendpoint:%s:deliveries -1 -1", C.cfg.redis_prefix, ep);
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 1;
        if (ok)
            snprintf(dlv, PSW_ID_SIZE, "%s", r->element[0]->str);
        freeReplyObject(r);
        if (!ok)
            fail_msg("no delivery for endpoint %s", ep);
    }
}

static int final_state(const char *dlv)
{
    const char *s = H(harness_fmt("delivery:%s", dlv), "state");
    return strcmp(s, "delivered") == 0 || strcmp(s, "failed") == 0;
}

/* The live child of master (worker.processes is 1 here). */
static pid_t worker_child(pid_t master)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = -1;
    assert_non_null(d);
    while ((e = readdir(d)) && found < 0) {
        char path[300], buf[1024];
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        char st = 0;
        long ppid = 0;
        if (rp && sscanf(rp + 1, " %c %ld", &st, &ppid) == 2 && ppid == master && st != 'Z')
            found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

/* A "VmXXX:" figure of /proc/<pid>/status in kB, -1 when unreadable. */
static long vm_kb(pid_t pid, const char *field)
{
    char path[64], *text;
    long v = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if (!(text = read_file(path, NULL)))
        return -1;
    const char *p = strstr(text, field);
    if (p)
        v = strtol(p + strlen(field) + 1, NULL, 10);
    free(text);
    return v;
}

/* The attempt records of dlv, parsed into J[0..]; returns how many. */
static size_t attempts(const char *dlv)
{
    redisReply *r = cluster_cmd(&C, "LRANGE %sdelivery:%s:attempts 0 -1", C.cfg.redis_prefix, dlv);
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    for (size_t i = 0; i < n && i < NJ; i++) {
        json_object_put(J[i]);
        J[i] = json_tokener_parse(r->element[i]->str);
        if (!J[i]) {
            fprintf(stderr, "attempt record %zu is not JSON: %.200s\n", i, r->element[i]->str);
            freeReplyObject(r);
            fail();
        }
    }
    freeReplyObject(r);
    return n;
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* ---- 1. every hostile case at once, and 50 normal deliveries beside them ---- */

enum scheme { S_HOSTILE, S_HOSTILE_TLS, S_TLS_BADCERT, S_TLS_NOACCEPT };

struct hcase {
    const char *name;     /* also the hostile server's path */
    enum scheme scheme;
    const char *state;    /* final state */
    const char *error;    /* last_error starts with this ("" = none) */
    const char *contains; /* and contains this (NULL = nothing more) */
    long status;          /* last_status */
    int slow;             /* 1: ends at the timeout; 0: well before */
    int warmup;           /* also run in the warm-up round */
};

/* What one case did. */
struct hres {
    char ep[PSW_ID_SIZE], dlv[PSW_ID_SIZE];
    long long lat[2];
    int nattempts;
    long long body_len, body_bytes;
};

static const struct hcase CASES[] = {
    { "chunked-forever", S_HOSTILE, "failed", "timeout: ", "timed out after", 200, 1, 1 },
    { "flood-200", S_HOSTILE, "delivered", "", NULL, 200, 0, 0 },
    { "flood-500", S_HOSTILE, "failed", "http: status 500", NULL, 500, 0, 0 },
    { "huge-headers", S_HOSTILE, "failed", "http: response headers larger than 16384 bytes", NULL, 0, 0, 0 },
    { "huge-header-line", S_HOSTILE, "failed", "http: response headers larger than 16384 bytes", NULL, 0, 0, 0 },
    { "endless-1xx", S_HOSTILE, "failed", "http: response headers larger than 16384 bytes", NULL, 0, 0, 0 },
    { "redirect", S_HOSTILE, "failed", "http: 302 redirect to http://127.0.0.1:", "/landing (redirects are not followed)", 302, 0, 1 },
    { "dribble", S_HOSTILE, "failed", "timeout: ", "timed out after", 0, 1, 1 },
    { "silent", S_HOSTILE, "failed", "timeout: ", "timed out after", 0, 1, 1 },
    { "close-mid", S_HOSTILE, "failed", "connection: ", "993 bytes remaining", 200, 0, 1 },
    { "reset", S_HOSTILE, "failed", "connection: ", "reset by peer", 0, 0, 1 },
    { "empty", S_HOSTILE, "failed", "connection: ", "Empty reply", 0, 0, 1 },
    { "bad-status", S_HOSTILE, "failed", "http: ", "HTTP version", 0, 0, 1 },
    { "http09", S_HOSTILE, "failed", "http: ", "HTTP/0.9", 0, 0, 1 },
    { "tls-bad-certificate", S_TLS_BADCERT, "failed", "tls: ", "certificate", 0, 0, 1 },
    { "tls-plain-http", S_HOSTILE_TLS, "failed", "tls: ", NULL, 0, 0, 1 },
    /* curl says "Connection timed out …" or "SSL connection timeout", by timing */
    { "tls-no-handshake", S_TLS_NOACCEPT, "failed", "timeout: ", NULL, 0, 1, 1 },
};
#define NCASES (sizeof(CASES) / sizeof(CASES[0]))
static struct hres R[NCASES];

static size_t case_index(const char *name)
{
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(CASES[i].name, name) == 0)
            return i;
    fail_msg("no case %s", name);
    return 0;
}

static const char *case_url(const struct hcase *k)
{
    switch (k->scheme) {
    case S_HOSTILE:
        return harness_fmt("http://127.0.0.1:%d/%s", HS.port, k->name);
    case S_HOSTILE_TLS:
        return harness_fmt("https://127.0.0.1:%d/%s", HS.port, k->name);
    case S_TLS_BADCERT:
        return harness_fmt("https://localhost:%d/%s", TLS_port, k->name);
    case S_TLS_NOACCEPT:
        return harness_fmt("https://127.0.0.1:%d/%s", NOACCEPT_port, k->name);
    }
    return NULL;
}

/* Checks one case; prints what is wrong and returns -1, or 0. */
#define BAD(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "ERROR: " __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                                       \
        return -1;                                                                                 \
    } while (0)

static int check_case(const struct hcase *k, struct hres *r)
{
    const char *dk = harness_fmt("delivery:%s", r->dlv);
    const char *state = H(dk, "state");
    const char *err = H(dk, "last_error");
    int want_attempts = strcmp(k->state, "delivered") == 0 ? 1 : 2;

    if (strcmp(state, k->state) != 0)
        BAD("%s: state %s (last_error \"%s\"), expected %s", k->name, state, err, k->state);
    if (strncmp(err, k->error, strlen(k->error)) != 0 || (k->contains && !strstr(err, k->contains)))
        BAD("%s: last_error \"%s\", expected \"%s…%s\"", k->name, err, k->error,
                 k->contains ? k->contains : "");
    if (!k->error[0] && err[0])
        BAD("%s: last_error \"%s\", expected none", k->name, err);
    if (cluster_hget_ll(&C, dk, "last_status", -1) != k->status)
        BAD("%s: last_status %s, expected %ld", k->name, H(dk, "last_status"), k->status);
    if (strcmp(k->state, "failed") == 0 && strcmp(H(dk, "failed_reason"), "exhausted") != 0)
        BAD("%s: failed_reason %s", k->name, H(dk, "failed_reason"));

    r->nattempts = (int)attempts(r->dlv);
    if (r->nattempts != want_attempts)
        BAD("%s: %d attempt records, expected %d", k->name, r->nattempts, want_attempts);
    for (int i = 0; i < r->nattempts; i++) {
        json_object *rec = J[i];
        json_object *e = jget(rec, "error");
        const char *es = e ? json_object_get_string(e) : "";
        if (strncmp(es, k->error, strlen(k->error)) != 0)
            BAD("%s: attempt %d error \"%s\"", k->name, i + 1, es);
        r->lat[i] = json_object_get_int64(jget(rec, "latency_ms"));
        long long lo = k->slow ? TIMEOUT_MS - 5 : 0;
        long long hi = k->slow ? TIMEOUT_MS + MARGIN_MS : MARGIN_MS;
        if (r->lat[i] < lo || r->lat[i] > hi)
            BAD("%s: attempt %d took %lld ms, expected %lld..%lld", k->name, i + 1, r->lat[i],
                     lo, hi);
        json_object *resp = jget(rec, "response");
        if (resp && json_object_is_type(resp, json_type_object)) {
            json_object *body = jget(resp, "body");
            r->body_len = body ? json_object_get_string_len(body) : 0;
            r->body_bytes = json_object_get_int64(jget(resp, "body_bytes"));
            if (r->body_len > MAX_BODY)
                BAD("%s: the attempt record keeps %lld bytes of body, max %d", k->name,
                         r->body_len, MAX_BODY);
            json_object *hdrs = jget(resp, "headers");
            if (hdrs && strlen(json_object_to_json_string(hdrs)) > 2 * HDR_CAP)
                BAD("%s: the attempt record keeps %zu bytes of headers", k->name,
                         strlen(json_object_to_json_string(hdrs)));
        }
    }
    return 0;
}

static const char *const hostile_cfg[] = {
    "worker.processes: 1",
    "worker.concurrency: 64",
    "http.timeout: 1s",
    "http.connect_timeout: 1s",
    "http.max_response_bytes: 1000",
    "retry.schedule: 200ms",
    "log.level: warn",
    NULL,
};

static void test_hostile_endpoints(void **state)
{
    (void)state;
    char ok_ep[PSW_ID_SIZE];
    int64_t published[NORMAL_EVENTS];

    memset(R, 0, sizeof(R));
    up(hostile_cfg);
    tls_start();
    assert_int_equal(cluster_endpoint(&C, "acct_ok", "/ok", NULL, NULL, NULL, ok_ep, NULL, 0), 0);
    for (size_t i = 0; i < NCASES; i++)
        endpoint_url(harness_fmt("acct_%s", CASES[i].name), case_url(&CASES[i]), R[i].ep);

    pid_t child = -1;
    long long until = harness_mono_ms() + WAIT_MS;
    while ((child = worker_child(C.work[0])) < 0 && harness_mono_ms() < until)
        harness_nap(20);
    assert_true(child > 0);

    /* Warm-up: normal deliveries and the cheap failures (TLS included), so
     * that one-time setup (OpenSSL's CA store, curl's caches) is not counted
     * as growth. The floods and the huge headers come after the baseline. */
    char wdlv[NCASES][PSW_ID_SIZE];
    for (int i = 0; i < 5; i++)
        publish(harness_fmt("evt_warm_ok_%d", i), "acct_ok", ok_ep, NULL);
    for (size_t i = 0; i < NCASES; i++)
        if (CASES[i].warmup)
            publish(harness_fmt("evt_warm_%s", CASES[i].name), harness_fmt("acct_%s", CASES[i].name), R[i].ep,
                    wdlv[i]);
    if (rx_wait(C.rx, "/ok", 5, WAIT_MS) != 0)
        fail_msg("warm-up deliveries did not arrive");
    for (size_t i = 0; i < NCASES; i++)
        if (CASES[i].warmup)
            while (!final_state(wdlv[i])) {
                if (harness_mono_ms() > until + WAIT_MS)
                    fail_msg("warm-up %s never ended", CASES[i].name);
                harness_nap(20);
            }
    harness_nap(300); /* let the completions settle */
    long hwm0 = vm_kb(child, "VmHWM:"), rss0 = vm_kb(child, "VmRSS:");
    assert_true(hwm0 > 0 && rss0 > 0);
    rx_reset(C.rx);

    /* Every case at once (the floods three times over), then the normal
     * events one every 20 ms while they are pending. */
    long long t0 = harness_mono_ms();
    for (size_t i = 0; i < NCASES; i++)
        publish(harness_fmt("evt_%s", CASES[i].name), harness_fmt("acct_%s", CASES[i].name), R[i].ep,
                R[i].dlv);
    for (int i = 0; i < 2; i++) {
        publish(harness_fmt("evt_flood200_%d", i), "acct_flood-200", NULL, NULL);
        publish(harness_fmt("evt_flood500_%d", i), "acct_flood-500", NULL, NULL);
    }
    for (int i = 0; i < NORMAL_EVENTS; i++) {
        published[i] = psw_now_ms();
        publish(harness_fmt("evt_ok_%d", i), "acct_ok", ok_ep, NULL);
        harness_nap(20);
    }
    /* the slow ones are still pending: the normal events ran beside them */
    for (size_t i = 0; i < NCASES; i++)
        if (CASES[i].slow && final_state(R[i].dlv))
            fail_msg("%s ended before the normal events were all published", CASES[i].name);

    if (rx_wait(C.rx, "/ok", NORMAL_EVENTS, WAIT_MS) != 0)
        fail_msg("/ok got %zu of %d requests", rx_count(C.rx, "/ok"), NORMAL_EVENTS);
    NRQ = rx_requests(C.rx, "/ok", &RQ);
    assert_int_equal(NRQ, NORMAL_EVENTS);
    long long worst = 0, sum = 0;
    int seen[NORMAL_EVENTS] = { 0 };
    for (size_t i = 0; i < NRQ; i++) {
        const char *id = rx_header(&RQ[i], "X-PostStack-Event-Id");
        int k = -1;
        if (!id || sscanf(id, "evt_ok_%d", &k) != 1 || k < 0 || k >= NORMAL_EVENTS || seen[k]++)
            fail_msg("unexpected or repeated request %s on /ok", id ? id : "(no id)");
        long long lat = RQ[i].at_ms - published[k];
        sum += lat;
        if (lat > worst)
            worst = lat;
    }
    printf("hostile: %d normal deliveries beside the hostile ones: mean %lld ms, worst %lld ms\n",
           NORMAL_EVENTS, sum / NORMAL_EVENTS, worst);
    if (worst > NORMAL_WORST_MS)
        fail_msg("a normal delivery took %lld ms while hostile ones were pending", worst);

    until = harness_mono_ms() + WAIT_MS;
    for (size_t i = 0; i < NCASES; i++)
        while (!final_state(R[i].dlv)) {
            if (harness_mono_ms() > until)
                fail_msg("%s: still %s", CASES[i].name,
                         H(harness_fmt("delivery:%s", R[i].dlv), "state"));
            harness_nap(20);
        }
    long long all_done = harness_mono_ms() - t0;
    harness_nap(300);
    long hwm1 = vm_kb(child, "VmHWM:"), rss1 = vm_kb(child, "VmRSS:");
    assert_int_equal(worker_child(C.work[0]), child); /* the same child did it all */
    printf("hostile: worker child VmHWM %ld -> %ld kB (+%ld), VmRSS %ld -> %ld kB; every hostile "
           "delivery final after %lld ms\n",
           hwm0, hwm1, hwm1 - hwm0, rss0, rss1, all_done);

    int bad = 0;
    for (size_t i = 0; i < NCASES; i++) {
        bad += check_case(&CASES[i], &R[i]) < 0;
        printf("hostile: %-20s %-9s %lld/%lld ms  body kept %lld of %lld  \"%.90s\"\n",
               CASES[i].name, CASES[i].state, R[i].lat[0],
               R[i].nattempts > 1 ? R[i].lat[1] : -1LL, R[i].body_len,
               R[i].body_bytes, H(harness_fmt("delivery:%s", R[i].dlv), "last_error"));
    }

    if (bad)
        fail_msg("%d hostile case(s) not as expected", bad);

    /* the flood: cut soon after the cap; the server pushed far more */
    struct hres *f200 = &R[case_index("flood-200")], *f500 = &R[case_index("flood-500")];
    assert_int_equal(f200->body_len, MAX_BODY);
    assert_int_equal(f500->body_len, MAX_BODY);
    /* on_body gets at most CURL_MAX_WRITE_SIZE at a time */
    long long most = MAX_BODY + BODY_SLACK + CURL_MAX_WRITE_SIZE;
    assert_true(f200->body_bytes > MAX_BODY && f200->body_bytes <= most);
    assert_true(f500->body_bytes > MAX_BODY && f500->body_bytes <= most);
    assert_int_equal(attempts(f200->dlv), 1);
    assert_true(json_object_get_boolean(jget(jget(J[0], "response"), "body_truncated")));
    struct route r200 = route_copy("/flood-200"), r500 = route_copy("/flood-500");
    assert_int_equal(r200.hits, 3);
    assert_int_equal(r500.hits, 3 * 2);
    printf("hostile: the flood servers pushed %lld and %lld bytes in %d and %d responses; the "
           "worker read at most %d per response\n",
           r200.bytes_sent, r500.bytes_sent, r200.hits, r500.hits, (int)most);

    /* the redirect was never followed */
    assert_int_equal(route_copy("/redirect").hits, 2 + 2);
    assert_int_equal(route_copy("/landing").hits, 0);
    /* each huge-header answer was refused (the server cannot tell how much
     * of it the kernel buffered before the worker hung up) */
    assert_int_equal(route_copy("/huge-headers").hits, 2);
    assert_int_equal(route_copy("/huge-header-line").hits, 2);
    assert_int_equal(route_copy("/endless-1xx").hits, 2);

    if (hwm1 - hwm0 > RSS_GROWTH_KB)
        fail_msg("the worker child's peak memory grew by %ld kB", hwm1 - hwm0);
    T_done = 1;
}

/* ---- 2. one endpoint's backlog against everybody else ------------------------ */

#define BACKLOG 16
#define BL_SLOTS 8
#define BL_NORMAL 30

/* Publishes BACKLOG events to a never-answering endpoint, then BL_NORMAL to
 * the receiver; returns the worst normal latency (ms) and the most
 * connections the silent endpoint held at once. */
static void backlog_run(const char *cap, long long *worst, int *held)
{
    const char *cfg[] = {
        "worker.processes: 1", "worker.concurrency: 8", "http.timeout: 1s",
        "retry.schedule: 200ms", "log.level: warn", cap, NULL,
    };
    char bad[PSW_ID_SIZE], ok[PSW_ID_SIZE];
    int64_t published[BL_NORMAL];

    up(cfg);
    endpoint_url("acct_backlog", harness_fmt("http://127.0.0.1:%d/silent", HS.port), bad);
    assert_int_equal(cluster_endpoint(&C, "acct_fine", "/fine", NULL, NULL, NULL, ok, NULL, 0), 0);
    /* the worker is up and idle: one delivery through first */
    publish("evt_first", "acct_fine", ok, NULL);
    if (rx_wait(C.rx, "/fine", 1, WAIT_MS) != 0)
        fail_msg("the first delivery did not arrive");
    rx_reset(C.rx);
    for (int i = 0; i < BACKLOG; i++)
        publish(harness_fmt("evt_backlog_%d", i), "acct_backlog", bad, NULL);
    harness_nap(100);
    for (int i = 0; i < BL_NORMAL; i++) {
        published[i] = psw_now_ms();
        publish(harness_fmt("evt_fine_%d", i), "acct_fine", ok, NULL);
        harness_nap(10);
    }
    if (rx_wait(C.rx, "/fine", BL_NORMAL, WAIT_MS) != 0)
        fail_msg("/fine got %zu of %d", rx_count(C.rx, "/fine"), BL_NORMAL);
    NRQ = rx_requests(C.rx, "/fine", &RQ);
    *worst = 0;
    for (size_t i = 0; i < NRQ; i++) {
        int k = -1;
        const char *id = rx_header(&RQ[i], "X-PostStack-Event-Id");
        if (!id || sscanf(id, "evt_fine_%d", &k) != 1 || k < 0 || k >= BL_NORMAL)
            fail_msg("unexpected request %s", id ? id : "(none)");
        if (RQ[i].at_ms - published[k] > *worst)
            *worst = RQ[i].at_ms - published[k];
    }
    *held = route_copy("/silent").max_open;
}

static void test_backlog_capped(void **state)
{
    (void)state;
    long long worst;
    int held;
    backlog_run("endpoint.max_in_flight: 2", &worst, &held);
    printf("hostile: backlog of %d never-answering deliveries, endpoint.max_in_flight 2, %d slots: "
           "it held %d connections; %d other deliveries, worst %lld ms\n",
           BACKLOG, BL_SLOTS, held, BL_NORMAL, worst);
    assert_int_equal(held, 2);
    if (worst > NORMAL_WORST_MS)
        fail_msg("with the cap, another endpoint's delivery took %lld ms", worst);
    T_done = 1;
}

/* What the cap prevents: without it the backlog takes every slot and the
 * others wait for its timeouts. */
static void test_backlog_uncapped(void **state)
{
    (void)state;
    long long worst;
    int held;
    backlog_run("endpoint.max_in_flight: 0", &worst, &held);
    printf("hostile: the same without a cap: it held %d connections; worst other delivery %lld ms\n",
           held, worst);
    assert_int_equal(held, BL_SLOTS);
    if (worst < TIMEOUT_MS - 300)
        fail_msg("without the cap the others waited only %lld ms", worst);
    T_done = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hostile_endpoints, down),
        cmocka_unit_test_teardown(test_backlog_capped, down),
        cmocka_unit_test_teardown(test_backlog_uncapped, down),
    };
    const char *only = getenv("PSW_TEST_FILTER");
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
