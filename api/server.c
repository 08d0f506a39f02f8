/*
 * server.c — libmicrohttpd glue for psw-api (docs/api.md): turns each HTTP
 * request into a struct api_request, hands it to api_handle (router.c) and
 * sends the struct api_response back.
 *
 * Threads: MHD_USE_EPOLL_INTERNAL_THREAD with a pool of api.threads; each
 * thread opens its own Redis connection on first use (thread-local), since
 * a hiredis context is not shared between threads. The connections are
 * registered so that shutdown closes them after the pool has stopped.
 * Limits: the request line and headers must fit api.max_header_bytes
 * (MHD_OPTION_CONNECTION_MEMORY_LIMIT), a connection idle for
 * api.connection_timeout is closed, and a body over api.max_body_bytes is
 * not kept (the router answers 413).
 *
 * Ownership: a request's body buffer belongs to its connection slot
 * (struct conn, *con_cls) and is freed in the completion callback.
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "api/api.h"
#include "common/log.h"

extern const char psw_openapi_json[];
extern const unsigned long psw_openapi_json_len;

struct conn {
    char *query;  /* the raw query string (escapes kept), or NULL */
    char *body;
    size_t len, cap;
    int started;  /* the headers have been seen */
    int too_large;
};

/* MHD_OPTION_URI_LOG_CALLBACK: called with the raw URI before anything
 * else; what it returns becomes the connection slot. MHD decodes the path
 * and the arguments, but the router wants the raw query string. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    (void)mc;
    struct conn *cn = calloc(1, sizeof(*cn));
    const char *q = uri ? strchr(uri, '?') : NULL;
    if (cn && q && q[1])
        cn->query = strdup(q + 1);
    return cn;
}

struct ctx_node {
    struct psw_ctx ctx;
    struct ctx_node *next;
};

static const struct psw_config *g_cfg;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctx_node *ctx_list;
static __thread struct ctx_node *thread_ctx;

/* The calling thread's Redis context, opened on first use; NULL while Redis
 * cannot be reached (the request gets 503, the next one tries again). */
static struct psw_ctx *thread_ctx_get(void *arg)
{
    (void)arg;
    char err[512];
    if (thread_ctx)
        return &thread_ctx->ctx;
    struct ctx_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    if (psw_ctx_open(&n->ctx, g_cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)) != PSW_OK) {
        log_warn("redis: %s", err);
        psw_ctx_close(&n->ctx);
        free(n);
        return NULL;
    }
    pthread_mutex_lock(&ctx_lock);
    n->next = ctx_list;
    ctx_list = n;
    pthread_mutex_unlock(&ctx_lock);
    thread_ctx = n;
    return &n->ctx;
}

int psw_api_listen_parse(const char *listen, char *host, size_t hn, int *port, char *err,
                         size_t errlen)
{
    const char *colon;
    size_t hl;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':') {
            snprintf(err, errlen, "api.listen: \"%s\" is not [ipv6]:port", listen);
            return -1;
        }
        hl = (size_t)(end - listen - 1);
        if (hl >= hn)
            goto bad;
        memcpy(host, listen + 1, hl);
        host[hl] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            goto bad;
        hl = (size_t)(colon - listen);
        if (hl >= hn)
            goto bad;
        memcpy(host, listen, hl);
        host[hl] = '\0';
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        goto bad;
    *port = (int)p;
    return 0;
bad:
    snprintf(err, errlen, "api.listen: \"%s\" is not host:port", listen);
    return -1;
}

static enum MHD_Result send_response(struct MHD_Connection *mc, struct api_response *rs)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        rs->body_len, rs->body ? rs->body : (void *)"", rs->body ? MHD_RESPMEM_MUST_FREE
                                                                 : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    rs->body = NULL; /* MHD frees it now */
    if (rs->content_type)
        MHD_add_response_header(r, "Content-Type", rs->content_type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < rs->nheaders; i++)
        MHD_add_response_header(r, rs->hname[i], rs->hvalue[i]);
    enum MHD_Result ret = MHD_queue_response(mc, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    const struct api_env *env = cls;
    struct conn *cn = *con_cls;
    (void)version;

    if (!cn)
        return MHD_NO;
    if (!cn->started) {
        cn->started = 1;
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
        if (!cl || strtoull(cl, NULL, 10) <= (unsigned long long)env->cfg->api_max_body_bytes)
            return MHD_YES;
        /* Declared too large: answer 413 now instead of reading it all;
         * libmicrohttpd closes the connection after this answer. */
        cn->too_large = 1;
        *upload_size = 0;
        goto answer;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cn->too_large || cn->len + n > (size_t)env->cfg->api_max_body_bytes) {
            cn->too_large = 1;
            return MHD_YES; /* read and dropped; the answer is 413 */
        }
        if (cn->len + n + 1 > cn->cap) {
            size_t cap = cn->cap ? cn->cap : 4096;
            while (cap < cn->len + n + 1)
                cap *= 2;
            char *b = realloc(cn->body, cap);
            if (!b)
                return MHD_NO;
            cn->body = b;
            cn->cap = cap;
        }
        memcpy(cn->body + cn->len, upload_data, n);
        cn->len += n;
        cn->body[cn->len] = '\0';
        return MHD_YES;
    }

answer:
    /* The whole request is here. url is the decoded path; the query string
     * comes from the raw request line, so it keeps its own escapes. */
    struct api_request rq = { 0 };
    rq.method = method;
    rq.path = url;
    const union MHD_ConnectionInfo *tls =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_PROTOCOL);
    rq.tls = tls != NULL;
    rq.authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    rq.content_type = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    rq.cookie = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Cookie");
    rq.csrf = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-CSRF-Token");
    rq.forwarded_proto = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-Proto");
    rq.body = cn->body;
    rq.body_len = cn->len;
    rq.body_too_large = cn->too_large;

    rq.query = cn->query;

    struct api_response rs;
    api_handle(env, &rq, &rs);
    enum MHD_Result ret = send_response(mc, &rs);
    api_response_free(&rs);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)mc;
    (void)toe;
    struct conn *cn = *con_cls;
    if (cn) {
        free(cn->query);
        free(cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t l = strlen(msg);
    while (l && msg[l - 1] == '\n')
        msg[--l] = '\0';
    log_warn("http: %s", msg);
}

int psw_api_run(const struct psw_config *cfg, volatile sig_atomic_t *stop)
{
    char host[256], err[512], portstr[16];
    int port;
    struct addrinfo hints = { 0 }, *ai = NULL;
    struct MHD_Daemon *d = NULL;
    int rc = 1;

    g_cfg = cfg;
    if (psw_api_listen_parse(cfg->api_listen, host, sizeof(host), &port, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return 1;
    }
    snprintf(portstr, sizeof(portstr), "%d", port);
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        log_error("api.listen: cannot resolve \"%s\": %s", host, gai_strerror(gai));
        return 1;
    }
    static struct api_env env;
    env.cfg = cfg;
    env.ctx = thread_ctx_get;
    env.openapi = psw_openapi_json;
    env.openapi_len = psw_openapi_json_len;

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned timeout_s = (unsigned)((cfg->api_connection_timeout_ms + 999) / 1000);
    d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, &env,
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                         MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->api_threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->api_max_header_bytes,
                         MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                         MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        log_error("cannot listen on %s: %s", cfg->api_listen, strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    log_info("listening on http://%s:%u (%d threads)", host[0] ? host : "*",
             info ? info->port : (unsigned)port, cfg->api_threads);
    while (!*stop) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    log_info("stopping: finishing requests in progress");
    MHD_stop_daemon(d); /* joins the pool after the requests in progress */
    rc = 0;
    pthread_mutex_lock(&ctx_lock);
    while (ctx_list) {
        struct ctx_node *n = ctx_list;
        ctx_list = n->next;
        psw_ctx_close(&n->ctx);
        free(n);
    }
    pthread_mutex_unlock(&ctx_lock);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

int psw_api_check(const struct psw_config *cfg)
{
    char host[256], err[512], url[400];
    int port;
    if (psw_api_listen_parse(cfg->api_listen, host, sizeof(host), &port, err, sizeof(err)) < 0) {
        fprintf(stderr, "psw-api: %s\n", err);
        return 1;
    }
    /* An address that means "every interface" is reached on loopback. */
    const char *h = host;
    if (!*h || strcmp(h, "0.0.0.0") == 0)
        h = "127.0.0.1";
    else if (strcmp(h, "::") == 0)
        h = "::1";
    snprintf(url, sizeof(url), strchr(h, ':') ? "http://[%s]:%d/readyz" : "http://%s:%d/readyz",
             h, port);
    CURL *cu = curl_easy_init();
    if (!cu)
        return 1;
    long status = 0;
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_PROXY, "");
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(cu);
    if (cc == CURLE_OK)
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(cu);
    if (status == 200) {
        printf("psw-api: %s answers 200\n", url);
        return 0;
    }
    if (cc != CURLE_OK)
        fprintf(stderr, "psw-api: %s: %s\n", url, curl_easy_strerror(cc));
    else
        fprintf(stderr, "psw-api: %s answered %ld\n", url, status);
    return 1;
}
