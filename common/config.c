/*
 * config.c — the configuration: one table of key descriptors (keys[] below)
 * drives the defaults, YAML loading, validation and psw_config_print. Adding
 * a key means adding a field to struct psw_config, one row here and one row
 * in docs/config.md (a unit test checks the docs list every key).
 *
 * Every value, the defaults included, goes through the same text parser
 * (set_text), so a default can never be something the file could not say.
 *
 * Invariants:
 *  - A struct psw_config passed in is either zeroed or was filled by this
 *    module; strings in it are heap copies it owns (never NULL once filled).
 *  - Loading is transactional: the YAML is applied to a deep copy and the copy
 *    replaces *cfg only when everything validated. On error *cfg is unchanged
 *    (still safe to use and to free) and err holds "FILE:LINE:COL: key: why".
 *  - A zeroed struct gets the defaults before a file is applied to it.
 *  - worker.processes 0 is resolved to the CPU count after every load, so
 *    the struct always holds the real number.
 *
 * The YAML is read with libyaml's event parser. The document is a mapping of
 * sections to mappings ("redis: {url: …}"); a dotted key ("redis.url: …") is
 * accepted at the top level too. Only the first error is reported.
 */
#include "common/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "common/netguard.h"
#include "common/sentinel.h"
#include "common/timeutil.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

#define MAX_FILE_BYTES (1024 * 1024) /* a config file is small; refuse anything huge */
#define MSG_SIZE 512

enum key_type {
    T_INT,           /* int */
    T_BOOL,          /* bool: true/false, yes/no, on/off */
    T_STRING,        /* char *, owned */
    T_DURATION,      /* int64_t milliseconds */
    T_DURATION_LIST, /* int64_t[], size_t count: YAML sequence or "1s, 5s" */
    T_STRING_LIST,   /* char *[], size_t count: YAML sequence or "a, b" */
    T_ENUM,          /* int: index into choices */
};

typedef int (*check_fn)(const char *s, char *msg, size_t msglen);

struct key {
    const char   *name;      /* "section.key" (exactly one dot) */
    enum key_type type;
    size_t        off;       /* offset of the value (lists: of the array) */
    size_t        count_off; /* lists: offset of the size_t entry count */
    const char   *def;       /* default, as text parsed by set_text */
    int64_t       min, max;  /* int/duration: value bounds; duration list: per entry;
                                string and string list entries: length in bytes */
    size_t        nmin, nmax; /* lists: entry count bounds (nmax = array capacity) */
    const char *const *choices; /* T_ENUM: names, index = stored value, NULL-ended */
    check_fn      check;     /* strings and string-list entries: extra validation */
    bool          mask;      /* URL that may carry credentials: masked by print */
    bool          secret;    /* a password: print shows only whether it is set */
    const char   *help;      /* one line, shown by print and mirrored in docs/config.md */
};

/* offsetof, plus a compile-time check that the field has C type T (arrays
 * decay to pointers in _Generic's controlling expression). */
#define FIELD(f, T) \
    (offsetof(struct psw_config, f) + 0 * sizeof(_Generic(((struct psw_config *)0)->f, T: 1)))
#define CAPACITY(f) \
    (sizeof(((struct psw_config *)0)->f) / sizeof(((struct psw_config *)0)->f[0]))

#define K_INT(n, f, d, lo, hi, h) \
    { .name = n, .type = T_INT, .off = FIELD(f, int), .def = d, .min = lo, .max = hi, .help = h }
#define K_BOOL(n, f, d, h) \
    { .name = n, .type = T_BOOL, .off = FIELD(f, bool), .def = d, .help = h }
#define K_DUR(n, f, d, lo, hi, h) \
    { .name = n, .type = T_DURATION, .off = FIELD(f, int64_t), .def = d, .min = lo, .max = hi, \
      .help = h }
#define K_STR(n, f, d, lo, hi, chk, msk, h) \
    { .name = n, .type = T_STRING, .off = FIELD(f, char *), .def = d, .min = lo, .max = hi, \
      .check = chk, .mask = msk, .help = h }
#define K_ENUM(n, f, d, ch, h) \
    { .name = n, .type = T_ENUM, .off = FIELD(f, int), .def = d, .choices = ch, .help = h }
#define K_DLIST(n, f, cnt, d, lo, hi, cmin, h) \
    { .name = n, .type = T_DURATION_LIST, .off = FIELD(f, int64_t *), \
      .count_off = FIELD(cnt, size_t), .def = d, .min = lo, .max = hi, .nmin = cmin, \
      .nmax = CAPACITY(f), .help = h }
#define K_SLIST(n, f, cnt, d, lo, hi, cmin, chk, h) \
    { .name = n, .type = T_STRING_LIST, .off = FIELD(f, char **), \
      .count_off = FIELD(cnt, size_t), .def = d, .min = lo, .max = hi, .nmin = cmin, \
      .nmax = CAPACITY(f), .check = chk, .help = h }

/* Indexed by enum psw_log_level / enum psw_log_format (common/log.h); a unit
 * test checks they agree with psw_log_level_parse / psw_log_format_parse. */
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "text", "json", NULL };

static int check_redis_url(const char *s, char *msg, size_t msglen);
static int check_prefix(const char *s, char *msg, size_t msglen);
static int check_http_url(const char *s, char *msg, size_t msglen);
static int check_no_space(const char *s, char *msg, size_t msglen);
static int check_no_ctl(const char *s, char *msg, size_t msglen);
static int check_cidr(const char *s, char *msg, size_t msglen);
static int check_sentinel(const char *s, char *msg, size_t msglen);
static int check_ca_file(const char *s, char *msg, size_t msglen);

/* Sections must stay contiguous: print emits one mapping per section. */
static const struct key keys[] = {
    K_STR("redis.url", redis_url, "redis://127.0.0.1:6379/0", 1, 4096, check_redis_url, true,
          "Redis server: redis://[user:password@]host[:port][/db] or unix:///path/to/redis.sock"),
    K_STR("redis.prefix", redis_prefix, "psw:", 1, 64, check_prefix, false,
          "Prefix of every Redis key the service uses"),
    K_DUR("redis.connect_timeout", redis_connect_timeout_ms, "2s", 1, 10 * MIN,
          "Time allowed to connect to Redis"),
    K_DUR("redis.command_timeout", redis_command_timeout_ms, "10s", 1, 10 * MIN,
          "Time allowed for one Redis command"),
    K_SLIST("redis.sentinels", redis_sentinels, redis_sentinels_n, "", 1, 300, 0, check_sentinel,
            "Redis Sentinels (host:port) that name the primary; empty = redis.url's address"),
    K_STR("redis.sentinel_master", redis_sentinel_master, "", 0, 255, check_no_space, false,
          "Name the sentinels know the primary by (with redis.sentinels)"),
    { .name = "redis.sentinel_password", .type = T_STRING,
      .off = FIELD(redis_sentinel_password, char *), .def = "", .min = 0, .max = 255,
      .check = check_no_ctl, .secret = true,
      .help = "The sentinels' own password (their requirepass); empty = they have none" },
    K_INT("redis.min_replicas_acked", redis_min_replicas_acked, "0", 0, 100,
          "Replicas that must hold a published event before publish confirms it; 0 = no wait"),
    K_DUR("redis.min_replicas_timeout", redis_min_replicas_timeout_ms, "1s", 1, 10 * MIN,
          "How long publish waits for those replicas before it reports an error"),
    K_BOOL("redis.cluster", redis_cluster, "false",
           "Run on a Redis Cluster: redis.url names any node (docs/redis.md, Cluster)"),
    K_INT("redis.shards", redis_shards, "16", 1, 1024,
          "Logical shards accounts are spread over with redis.cluster; unused without"),

    K_INT("worker.processes", worker_processes, "0", 0, 1024,
          "Worker children each psw-worker forks; 0 = one per online CPU"),
    K_INT("worker.concurrency", worker_concurrency, "64", 1, 10000,
          "HTTP requests each worker child keeps in flight"),
    K_DUR("worker.shutdown_grace", worker_shutdown_grace_ms, "30s", 0, HOUR,
          "On TERM/INT, time children get to finish requests in flight before handing back the rest"),
    K_DUR("worker.heartbeat", worker_heartbeat_ms, "1s", 10, 10 * MIN,
          "How often a worker child records that it is alive"),
    K_INT("worker.claim_batch", worker_claim_batch, "64", 1, 10000,
          "Deliveries a worker child claims from the ready queue at once"),

    K_DUR("http.connect_timeout", http_connect_timeout_ms, "5s", 1, 10 * MIN,
          "Time allowed to resolve and connect to a receiver, TLS handshake included"),
    K_DUR("http.timeout", http_timeout_ms, "15s", 1, HOUR,
          "Time allowed for a whole delivery request, connecting included"),
    K_INT("http.max_response_bytes", http_max_response_bytes, "4096", 0, 1048576,
          "Bytes of each response body kept in the attempt log"),
    K_INT("http.max_record_bytes", http_max_record_bytes, "32768", 8192, 16777216,
          "Bytes an attempt record may take in Redis, JSON escapes included; response headers "
          "and body are cut to fit"),
    K_STR("http.source_interface", http_source_interface, "", 0, 255, check_no_space, false,
          "Interface name or local address requests are sent from; empty = system default"),
    K_STR("http.proxy", http_proxy, "", 0, 4096, check_no_space, true,
          "Proxy for every delivery and alert (http://host:port, socks5://host:port); empty = none"),
    K_STR("http.no_proxy", http_no_proxy, "", 0, 4096, check_no_space, false,
          "Hosts reached directly despite http.proxy, comma-separated (a name covers its "
          "subdomains; * = all); NO_PROXY in the environment is ignored"),
    K_STR("http.ca_file", http_ca_file, "", 0, 4096, check_ca_file, false,
          "CA bundle (PEM) that receivers' TLS certificates are verified against instead of "
          "the system's; empty = the system's"),
    K_BOOL("http.allow_private_networks", http_allow_private_networks, "false",
           "Allow receivers on loopback, private, link-local and other non-public addresses"),
    K_SLIST("http.allowed_networks", http_allowed_networks, http_allowed_networks_n, "", 1, 64, 0,
            check_cidr,
            "Networks (CIDR) allowed even when private networks are not, e.g. [10.1.0.0/16]"),

    K_DLIST("retry.schedule", retry_schedule_ms, retry_schedule_n,
            "1s, 5s, 30s, 2m, 10m, 1h, 6h, 24h", 1, 30 * DAY, 1,
            "Delay before each retry, counted from the previous attempt"),
    K_DUR("retry.max_age", retry_max_age_ms, "24h", 1, 30 * DAY,
          "Bound on a delivery's retries, counted from its first attempt"),

    K_INT("endpoint.disable_after_failures", endpoint_disable_after_failures, "20", 1, 100000,
          "Consecutive failed attempts that disable an endpoint"),
    K_INT("endpoint.max_in_flight", endpoint_max_in_flight, "512", 0, 100000,
          "Requests in flight to one endpoint at once, at most (the adaptive limit's ceiling); 0 = no cap"),
    K_INT("endpoint.min_in_flight", endpoint_min_in_flight, "4", 1, 100000,
          "Floor of the adaptive in-flight limit (capped by endpoint.max_in_flight)"),
    K_BOOL("endpoint.adaptive_in_flight", endpoint_adaptive_in_flight, "true",
           "Adapt each endpoint's in-flight limit to its latency and answers; false = a fixed cap of endpoint.max_in_flight"),

    K_DUR("signing.rotation_grace", signing_rotation_grace_ms, "24h", 0, 30 * DAY,
          "How long the previous secret still signs after a rotation"),

    K_INT("retention.days", retention_days, "30", 1, 3650,
          "Days events, deliveries and attempt logs are kept in Redis"),

    K_DUR("scheduler.tick", scheduler_tick_ms, "100ms", 1, 10 * SEC,
          "How often the scheduler moves due deliveries to the ready queue"),
    K_DUR("scheduler.worker_timeout", scheduler_worker_timeout_ms, "30s", 100, HOUR,
          "A worker child silent this long is presumed dead and its work requeued"),
    K_INT("scheduler.batch", scheduler_batch, "1000", 1, 100000,
          "Deliveries the scheduler moves per step"),
    K_INT("scheduler.max_recoveries", scheduler_max_recoveries, "3", 1, 1000,
          "Times one delivery is taken back from dead workers before it fails"),

    K_ENUM("log.level", log_level, "info", log_levels,
           "Least severe level logged: debug, info, warn or error"),
    K_ENUM("log.format", log_format, "text", log_formats,
           "Log line format: text or json (one JSON object per line)"),

    K_STR("alerts.webhook_url", alerts_webhook_url, "", 0, 4096, check_http_url, true,
          "URL each alert is also POSTed to as JSON; empty = only the Redis alerts stream"),

    K_INT("limits.max_event_bytes", limits_max_event_bytes, "262144", 1024, 16777216,
          "Largest event publish accepts, in bytes"),
    K_INT("limits.max_json_depth", limits_max_json_depth, "16", 3, 1000,
          "Deepest nesting of objects and arrays an event may have"),
    K_INT("limits.max_url_length", limits_max_url_length, "2048", 16, 65536,
          "Longest endpoint URL accepted, in bytes"),
    K_INT("limits.max_endpoints_per_account", limits_max_endpoints_per_account, "100", 1, 100000,
          "Most endpoints one account may have"),

    K_STR("secrets.key_file", secrets_key_file, "", 0, 4096, check_no_ctl, false,
          "File holding the key that encrypts endpoint secrets at rest; empty = no encryption"),
    K_STR("secrets.previous_key_file", secrets_previous_key_file, "", 0, 4096, check_no_ctl, false,
          "File holding the previous key, still accepted for decryption while rekeying; empty = none"),

    K_STR("api.listen", api_listen, "127.0.0.1:8080", 1, 300, check_no_space, false,
          "Address psw-api listens on: host:port, [ipv6]:port or :port (every address)"),
    K_STR("api.public_url", api_public_url, "", 0, 2048, check_no_space, false,
          "Base URL users reach psw-api at, for dashboard links; empty = relative links"),
    K_INT("api.max_body_bytes", api_max_body_bytes, "10485760", 1024, 1073741824,
          "Largest request body psw-api accepts, in bytes (413 above)"),
    K_INT("api.max_batch", api_max_batch, "1000", 1, 100000,
          "Most events one POST /v1/events may carry"),
    K_INT("api.rate_limit", api_rate_limit, "100", 0, 10000000,
          "Requests per second one token (or session) may make, across every psw-api; 0 = no limit"),
    K_INT("api.max_header_bytes", api_max_header_bytes, "16384", 4096, 1048576,
          "Memory for one connection's request line and headers, in bytes (431 above)"),
    K_DUR("api.connection_timeout", api_connection_timeout_ms, "30s", 1000, HOUR,
          "An idle or slow connection is closed after this long without traffic"),
    K_INT("api.threads", api_threads, "4", 1, 1024,
          "Threads psw-api serves requests with"),
    K_DUR("api.session_ttl", api_session_ttl_ms, "12h", 1000, 30 * DAY,
          "How long a dashboard session lasts"),
    K_STR("api.metrics_token", api_metrics_token, "", 0, 256, check_no_space, false,
          "Bearer token GET /metrics needs; empty = no token needed"),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- small helpers ------------------------------------------------------ */

static void *field(struct psw_config *cfg, const struct key *k)
{
    return (char *)cfg + k->off;
}

static const void *cfield(const struct psw_config *cfg, const struct key *k)
{
    return (const char *)cfg + k->off;
}

static size_t *count_field(struct psw_config *cfg, const struct key *k)
{
    return (size_t *)(void *)((char *)cfg + k->count_off);
}

static size_t ccount(const struct psw_config *cfg, const struct key *k)
{
    return *(const size_t *)(const void *)((const char *)cfg + k->count_off);
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Writes s[0..len) into out as a double-quoted, escaped, possibly shortened
 * string for an error message. */
static void quote(char *out, size_t n, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, cut = len > 60 ? 60 : len;
    if (n < 8) {
        if (n)
            out[0] = '\0';
        return;
    }
    while (cut < len && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--; /* do not split a UTF-8 sequence */
    out[o++] = '"';
    for (size_t i = 0; i < cut && o + 8 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut < len && o + 5 < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void fmt_duration(int64_t ms, char *out, size_t n)
{
    psw_duration_format(ms, out, n);
}

/* ---- validators (strings) ----------------------------------------------- */

static bool has_space_or_ctl(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static int check_no_ctl(const char *s, char *msg, size_t msglen)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            snprintf(msg, msglen, "must not contain control characters");
            return -1;
        }
    }
    return 0;
}

/* http.ca_file: empty, or a file this process can read (checked when the
 * configuration is loaded, so a wrong path is named at start, not as a TLS
 * error on every delivery). */
static int check_ca_file(const char *s, char *msg, size_t msglen)
{
    struct stat st;
    if (!*s)
        return 0;
    if (check_no_ctl(s, msg, msglen) < 0)
        return -1;
    if (stat(s, &st) != 0 || access(s, R_OK) != 0) {
        snprintf(msg, msglen, "cannot read %s: %s", s, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "%s is not a file", s);
        return -1;
    }
    return 0;
}

static int check_no_space(const char *s, char *msg, size_t msglen)
{
    if (has_space_or_ctl(s)) {
        snprintf(msg, msglen, "must not contain spaces or control characters");
        return -1;
    }
    return 0;
}

static void write_masked(FILE *out, const char *url, void (*put)(FILE *, const char *, size_t));

static void put_raw(FILE *out, const char *s, size_t n)
{
    fwrite(s, 1, n, out);
}

/* quote() of a URL with its credentials masked: error messages end up in
 * logs, and a URL with the wrong scheme may still carry a real password. */
static void quote_url(char *out, size_t n, const char *url)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(out, n, "(a URL)");
        return;
    }
    write_masked(f, url, put_raw);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        snprintf(out, n, "(a URL)");
        return;
    }
    quote(out, n, buf, len);
    free(buf);
}

static int check_redis_url(const char *s, char *msg, size_t msglen)
{
    if (strncmp(s, "redis://", 8) != 0 && strncmp(s, "unix://", 7) != 0) {
        char q[128];
        quote_url(q, sizeof(q), s);
        snprintf(msg, msglen, "must start with redis:// or unix://, got %s", q);
        return -1;
    }
    return check_no_space(s, msg, msglen);
}

static int check_prefix(const char *s, char *msg, size_t msglen)
{
    return check_no_space(s, msg, msglen);
}

static int check_http_url(const char *s, char *msg, size_t msglen)
{
    if (*s == '\0')
        return 0;
    if ((strncmp(s, "http://", 7) != 0 || s[7] == '\0') &&
        (strncmp(s, "https://", 8) != 0 || s[8] == '\0')) {
        char q[128];
        quote_url(q, sizeof(q), s);
        snprintf(msg, msglen, "must be empty or start with http:// or https://, got %s", q);
        return -1;
    }
    return check_no_space(s, msg, msglen);
}

/* "10.0.0.0/8", "fd00::/8": an address inet_pton accepts, "/", then a prefix
 * length of 0..32 (IPv4) or 0..128 (IPv6) in decimal. Host bits may be set
 * (10.1.2.3/8 means 10.0.0.0/8), as in most tools. */
static int check_cidr(const char *s, char *msg, size_t msglen)
{
    /* One parser decides, the SSRF guard's, so what is accepted here is
     * exactly what the worker will enforce. */
    struct psw_cidr net;
    char why[160];
    if (psw_cidr_parse(s, &net, why, sizeof(why)) == 0)
        return 0;
    char q[128];
    quote(q, sizeof(q), s, strlen(s));
    snprintf(msg, msglen, "expected a CIDR network (e.g. 10.0.0.0/8, fd00::/8), got %s", q);
    return -1;
}

static int check_sentinel(const char *s, char *msg, size_t msglen)
{
    struct psw_sentinel_addr a;
    return psw_sentinel_addr_parse(s, &a, msg, msglen);
}

/* ---- parsing one value from text ---------------------------------------- */

#define DURATION_HINT "a duration (e.g. 250ms, 5s, 2m, 1h, 30d)"

static const char *expected(const struct key *k, char *buf, size_t n)
{
    switch (k->type) {
    case T_INT: return "an integer";
    case T_BOOL: return "true or false";
    case T_STRING: return "a string";
    case T_DURATION: return DURATION_HINT;
    case T_DURATION_LIST: return "a list of durations";
    case T_STRING_LIST: return "a list of strings";
    case T_ENUM: {
        size_t o = 0;
        o += (size_t)snprintf(buf, n, "one of");
        for (size_t i = 0; k->choices[i] && o < n; i++)
            o += (size_t)snprintf(buf + o, n - o, "%s %s", i ? "," : "", k->choices[i]);
        return buf;
    }
    }
    return "a value";
}

/* Parses a decimal integer that must fill text exactly. */
static int parse_int64(const char *text, int64_t *out, bool *overflow)
{
    char *end;
    *overflow = false;
    if (!(isdigit((unsigned char)text[0]) ||
          ((text[0] == '-' || text[0] == '+') && isdigit((unsigned char)text[1]))))
        return -1;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end != '\0')
        return -1;
    if (errno == ERANGE)
        *overflow = true;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A duration within [min, max]. msg gets the reason on error. */
static int parse_duration_in(const struct key *k, const char *text, int64_t *out, char *msg,
                             size_t msglen)
{
    int64_t v;
    if (psw_duration_parse(text, &v) < 0) {
        char q[128];
        quote(q, sizeof(q), text, strlen(text));
        snprintf(msg, msglen, "expected " DURATION_HINT ", got %s", q);
        return -1;
    }
    if (v < k->min || v > k->max) {
        char lo[32], hi[32];
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
        snprintf(msg, msglen, "must be between %s and %s, got %s", lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Validates a string value (length bounds, validator). */
static int check_string(const struct key *k, const char *text, size_t len, char *msg,
                        size_t msglen)
{
    if (strlen(text) != len) {
        snprintf(msg, msglen, "must not contain NUL bytes");
        return -1;
    }
    if (len < (size_t)k->min) {
        snprintf(msg, msglen, "must not be empty");
        return -1;
    }
    if (len > (size_t)k->max) {
        snprintf(msg, msglen, "must be at most %lld bytes long, got %zu", (long long)k->max, len);
        return -1;
    }
    return k->check ? k->check(text, msg, msglen) : 0;
}

/* Sets a scalar-typed key from text[0..len). */
static int set_scalar(struct psw_config *cfg, const struct key *k, const char *text, size_t len,
                      char *msg, size_t msglen)
{
    char q[128], what[128];
    void *f = field(cfg, k);

    if (k->type == T_STRING) {
        if (check_string(k, text, len, msg, msglen) < 0)
            return -1;
        char *copy = dup_n(text, len);
        if (!copy) {
            snprintf(msg, msglen, "out of memory");
            return -1;
        }
        free(*(char **)f);
        *(char **)f = copy;
        return 0;
    }

    quote(q, sizeof(q), text, len);
    if (strlen(text) != len) {
        snprintf(msg, msglen, "expected %s, got %s", expected(k, what, sizeof(what)), q);
        return -1;
    }
    switch (k->type) {
    case T_INT: {
        int64_t v;
        bool overflow;
        if (parse_int64(text, &v, &overflow) < 0) {
            snprintf(msg, msglen, "expected an integer, got %s", q);
            return -1;
        }
        if (overflow || v < k->min || v > k->max) {
            snprintf(msg, msglen, "must be between %lld and %lld, got %s", (long long)k->min,
                     (long long)k->max, text);
            return -1;
        }
        *(int *)f = (int)v;
        return 0;
    }
    case T_BOOL:
        if (parse_bool(text, (bool *)f) < 0) {
            snprintf(msg, msglen, "expected true or false, got %s", q);
            return -1;
        }
        return 0;
    case T_DURATION:
        return parse_duration_in(k, text, (int64_t *)f, msg, msglen);
    case T_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (strcmp(text, k->choices[i]) == 0) {
                *(int *)f = i;
                return 0;
            }
        }
        snprintf(msg, msglen, "expected %s, got %s", expected(k, what, sizeof(what)), q);
        return -1;
    default:
        snprintf(msg, msglen, "internal error: not a scalar key");
        return -1;
    }
}

/* ---- lists -------------------------------------------------------------- */

static void list_clear(struct psw_config *cfg, const struct key *k)
{
    size_t *n = count_field(cfg, k);
    if (k->type == T_STRING_LIST) {
        char **arr = (char **)field(cfg, k);
        for (size_t i = 0; i < *n && i < k->nmax; i++) {
            free(arr[i]);
            arr[i] = NULL;
        }
    }
    *n = 0;
}

/* Validates entry number idx (0-based) of a list and stores it when there is
 * room; beyond the capacity it is only validated, so the final count check
 * can report how many were given. */
static int list_add(struct psw_config *cfg, const struct key *k, size_t idx, const char *text,
                    size_t len, char *msg, size_t msglen)
{
    char why[MSG_SIZE - 32];
    size_t *n = count_field(cfg, k);

    if (k->type == T_DURATION_LIST) {
        int64_t v;
        if (strlen(text) != len) {
            snprintf(why, sizeof(why), "expected " DURATION_HINT ", got a string with NUL bytes");
            goto fail;
        }
        if (parse_duration_in(k, text, &v, why, sizeof(why)) < 0)
            goto fail;
        if (idx < k->nmax)
            ((int64_t *)field(cfg, k))[idx] = v;
    } else {
        if (check_string(k, text, len, why, sizeof(why)) < 0)
            goto fail;
        if (idx < k->nmax) {
            char *copy = dup_n(text, len);
            if (!copy) {
                snprintf(msg, msglen, "out of memory");
                return -1;
            }
            ((char **)field(cfg, k))[idx] = copy;
        }
    }
    if (idx < k->nmax)
        *n = idx + 1;
    return 0;
fail:
    snprintf(msg, msglen, "entry %zu: %s", idx + 1, why);
    return -1;
}

static int list_check_count(const struct key *k, size_t given, char *msg, size_t msglen)
{
    if (given >= k->nmin && given <= k->nmax)
        return 0;
    if (k->nmin == 0)
        snprintf(msg, msglen, "must have at most %zu entries, got %zu", k->nmax, given);
    else
        snprintf(msg, msglen, "must have between %zu and %zu entries, got %zu", k->nmin, k->nmax,
                 given);
    return -1;
}

/* Sets a list from "a, b, c" (an empty or blank string is the empty list). */
static int list_set_text(struct psw_config *cfg, const struct key *k, const char *text,
                         size_t len, char *msg, size_t msglen)
{
    size_t idx = 0, i = 0;
    list_clear(cfg, k);
    while (i < len && (text[i] == ' ' || text[i] == '\t'))
        i++;
    if (i < len) {
        for (;;) {
            size_t start = i, end;
            while (i < len && text[i] != ',')
                i++;
            end = i;
            while (start < end && (text[start] == ' ' || text[start] == '\t'))
                start++;
            while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'))
                end--;
            char *item = dup_n(text + start, end - start);
            if (!item) {
                snprintf(msg, msglen, "out of memory");
                return -1;
            }
            int rc;
            if (end == start) {
                snprintf(msg, msglen, "entry %zu is empty", idx + 1);
                rc = -1;
            } else {
                rc = list_add(cfg, k, idx, item, end - start, msg, msglen);
            }
            free(item);
            if (rc < 0)
                return -1;
            idx++;
            if (i >= len)
                break;
            i++; /* the comma */
        }
    }
    return list_check_count(k, idx, msg, msglen);
}

/* Sets any key from text: the one parser for defaults, YAML scalars and the
 * environment. */
static int set_text(struct psw_config *cfg, const struct key *k, const char *text, size_t len,
                    char *msg, size_t msglen)
{
    if (k->type == T_DURATION_LIST || k->type == T_STRING_LIST)
        return list_set_text(cfg, k, text, len, msg, msglen);
    return set_scalar(cfg, k, text, len, msg, msglen);
}

/* ---- whole-struct operations -------------------------------------------- */

void psw_config_free(struct psw_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->type == T_STRING) {
            char **p = (char **)field(cfg, k);
            free(*p);
            *p = NULL;
        } else if (k->type == T_STRING_LIST) {
            list_clear(cfg, k);
        }
    }
    free(cfg->source_path);
    cfg->source_path = NULL;
}

/* Deep copy of src into dst (dst's old contents are not freed). */
static int config_copy(struct psw_config *dst, const struct psw_config *src)
{
    *dst = *src;
    /* First detach every pointer, so a failure half-way frees only copies. */
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->type == T_STRING)
            *(char **)field(dst, k) = NULL;
        else if (k->type == T_STRING_LIST)
            memset(field(dst, k), 0, k->nmax * sizeof(char *));
    }
    dst->source_path = NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->type == T_STRING) {
            const char *s = *(char *const *)cfield(src, k);
            if (s && !(*(char **)field(dst, k) = strdup(s)))
                goto oom;
        } else if (k->type == T_STRING_LIST) {
            char *const *from = (char *const *)cfield(src, k);
            char **to = (char **)field(dst, k);
            for (size_t j = 0; j < ccount(src, k) && j < k->nmax; j++)
                if (from[j] && !(to[j] = strdup(from[j])))
                    goto oom;
        }
    }
    if (src->source_path && !(dst->source_path = strdup(src->source_path)))
        goto oom;
    return 0;
oom:
    psw_config_free(dst);
    return -1;
}

static int set_source(struct psw_config *cfg, const char *path)
{
    char *p = strdup(path ? path : "");
    if (!p)
        return -1;
    free(cfg->source_path);
    cfg->source_path = p;
    return 0;
}

/* Work every load ends with: worker.processes 0 becomes the CPU count. */
static void resolve(struct psw_config *cfg)
{
    if (cfg->worker_processes == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->worker_processes = n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
    }
}

/* Fills a zeroed struct with the defaults. */
static int fill_defaults(struct psw_config *cfg)
{
    char msg[MSG_SIZE];
    for (size_t i = 0; i < NKEYS; i++)
        if (set_text(cfg, &keys[i], keys[i].def, strlen(keys[i].def), msg, sizeof(msg)) < 0)
            return -1;
    if (set_source(cfg, "") < 0)
        return -1;
    resolve(cfg);
    return 0;
}

int psw_config_defaults(struct psw_config *cfg)
{
    struct psw_config tmp = { 0 };
    if (fill_defaults(&tmp) < 0) {
        psw_config_free(&tmp);
        return -1;
    }
    psw_config_free(cfg);
    *cfg = tmp;
    return 0;
}

/* ---- YAML --------------------------------------------------------------- */

struct loader {
    yaml_parser_t       parser;
    const char         *name; /* file name for messages */
    const char         *input;
    size_t              input_len;
    struct psw_config  *cfg;
    bool                seen[NKEYS];
    yaml_mark_t         seen_mark[NKEYS]; /* where each key's value was */
    size_t              sections[NKEYS];  /* sections opened so far: key index … */
    size_t              section_len[NKEYS]; /* … and name length */
    size_t              nsections;
    char               *err;
    size_t              errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail_at(struct loader *L, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(L->err, L->errlen, "%s:%zu:%zu: ", L->name, m.line + 1, m.column + 1);
    if (n >= 0 && (size_t)n < L->errlen) {
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *kind(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SEQUENCE_START_EVENT: return "a sequence";
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_ALIAS_EVENT: return "an alias (aliases are not supported)";
    case YAML_SCALAR_EVENT: return "a scalar";
    default: return "something else";
    }
}

static bool is_null(const yaml_event_t *ev)
{
    if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Line and column (0-based) of a byte offset in the input. */
static yaml_mark_t mark_of_offset(const struct loader *L, size_t off)
{
    yaml_mark_t m = { 0, 0, 0 };
    for (size_t i = 0; i < off && i < L->input_len; i++) {
        if (L->input[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

static int next(struct loader *L, yaml_event_t *ev)
{
    if (yaml_parser_parse(&L->parser, ev))
        return 0;
    const yaml_parser_t *p = &L->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return fail_at(L, p->mark, "out of memory");
    if (p->error == YAML_READER_ERROR)
        return fail_at(L, mark_of_offset(L, p->problem_offset), "YAML syntax error: %s",
                       p->problem ? p->problem : "unreadable input");
    const char *problem = p->problem ? p->problem : "invalid input";
    /* libyaml's words for a tab are obscure; say what to do instead. */
    const char *hint = p->problem_mark.index < L->input_len &&
                               L->input[p->problem_mark.index] == '\t'
                           ? "; indent with spaces, not tabs"
                           : "";
    if (!p->context)
        return fail_at(L, p->problem_mark, "YAML syntax error: %s%s", problem, hint);
    if (p->context_mark.line == p->problem_mark.line &&
        p->context_mark.column == p->problem_mark.column)
        return fail_at(L, p->problem_mark, "YAML syntax error: %s (%s)%s", problem, p->context,
                       hint);
    return fail_at(L, p->problem_mark, "YAML syntax error: %s (%s at %zu:%zu)%s", problem,
                   p->context, p->context_mark.line + 1, p->context_mark.column + 1, hint);
}

/* The value of key k (the key event was just read). */
static int load_value(struct loader *L, const struct key *k)
{
    yaml_event_t ev = { 0 }, item = { 0 };
    char msg[MSG_SIZE], what[128];
    int rc = -1;
    bool is_list = k->type == T_DURATION_LIST || k->type == T_STRING_LIST;

    if (next(L, &ev) < 0)
        goto cleanup;
    L->seen_mark[k - keys] = ev.start_mark;
    if (ev.type == YAML_SCALAR_EVENT) {
        const char *text = (const char *)ev.data.scalar.value;
        size_t len = ev.data.scalar.length;
        if ((k->type == T_STRING || is_list) && is_null(&ev)) {
            text = ""; /* "key:" and "key: ~" mean the empty string / list */
            len = 0;
        }
        if (set_text(L->cfg, k, text, len, msg, sizeof(msg)) < 0) {
            fail_at(L, ev.start_mark, "%s: %s", k->name, msg);
            goto cleanup;
        }
    } else if (ev.type == YAML_SEQUENCE_START_EVENT && is_list) {
        size_t idx = 0;
        list_clear(L->cfg, k);
        for (;;) {
            yaml_event_delete(&item);
            if (next(L, &item) < 0)
                goto cleanup;
            if (item.type == YAML_SEQUENCE_END_EVENT)
                break;
            if (item.type != YAML_SCALAR_EVENT) {
                fail_at(L, item.start_mark, "%s: entry %zu: expected %s, got %s", k->name,
                        idx + 1, k->type == T_DURATION_LIST ? DURATION_HINT : "a string",
                        kind(&item));
                goto cleanup;
            }
            if (list_add(L->cfg, k, idx, (const char *)item.data.scalar.value,
                         item.data.scalar.length, msg, sizeof(msg)) < 0) {
                fail_at(L, item.start_mark, "%s: %s", k->name, msg);
                goto cleanup;
            }
            idx++;
        }
        if (list_check_count(k, idx, msg, sizeof(msg)) < 0) {
            fail_at(L, ev.start_mark, "%s: %s", k->name, msg);
            goto cleanup;
        }
    } else {
        fail_at(L, ev.start_mark, "%s: expected %s, got %s", k->name,
                expected(k, what, sizeof(what)), kind(&ev));
        goto cleanup;
    }
    rc = 0;
cleanup:
    yaml_event_delete(&item);
    yaml_event_delete(&ev);
    return rc;
}

/* Is name a section, i.e. the part before the dot of some key? Returns the
 * index of one such key, or -1. */
static int find_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < NKEYS; i++)
        if (strncmp(keys[i].name, name, n) == 0 && keys[i].name[n] == '.')
            return (int)i;
    return -1;
}

static int load_mapping(struct loader *L, const char *prefix);

/* The value of a section key: a mapping of its keys, or nothing. */
static int load_section(struct loader *L, const char *name, int idx, yaml_mark_t key_mark)
{
    yaml_event_t ev = { 0 };
    size_t n = strlen(name);
    int rc = -1;

    for (size_t i = 0; i < L->nsections; i++) {
        if (L->section_len[i] == n && strncmp(keys[L->sections[i]].name, name, n) == 0) {
            char q[128];
            quote(q, sizeof(q), name, n);
            return fail_at(L, key_mark, "duplicate key %s", q);
        }
    }
    L->sections[L->nsections] = (size_t)idx;
    L->section_len[L->nsections] = n;
    L->nsections++;

    if (next(L, &ev) < 0)
        goto cleanup;
    if (ev.type == YAML_MAPPING_START_EVENT) {
        if (load_mapping(L, name) < 0)
            goto cleanup;
    } else if (!is_null(&ev)) {
        fail_at(L, ev.start_mark, "%s: expected a mapping of %s.* keys, got %s", name, name,
                kind(&ev));
        goto cleanup;
    }
    rc = 0;
cleanup:
    yaml_event_delete(&ev);
    return rc;
}

/* Reads key/value pairs up to the end of the current mapping. */
static int load_mapping(struct loader *L, const char *prefix)
{
    yaml_event_t key = { 0 };
    char name[256], q[300];
    int rc = -1;

    for (;;) {
        yaml_event_delete(&key);
        if (next(L, &key) < 0)
            goto cleanup;
        if (key.type == YAML_MAPPING_END_EVENT)
            break;
        if (key.type != YAML_SCALAR_EVENT) {
            fail_at(L, key.start_mark, "expected a key name, got %s", kind(&key));
            goto cleanup;
        }
        const char *kname = (const char *)key.data.scalar.value;
        size_t klen = key.data.scalar.length;
        int n = snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", kname);
        bool usable = n > 0 && (size_t)n < sizeof(name) && strlen(kname) == klen && klen > 0;
        const struct key *k = usable ? find_key(name) : NULL;
        int sec = usable && !k ? find_section(name) : -1;

        if (k) {
            if (L->seen[k - keys]) {
                quote(q, sizeof(q), name, strlen(name));
                fail_at(L, key.start_mark, "duplicate key %s", q);
                goto cleanup;
            }
            L->seen[k - keys] = true;
            if (load_value(L, k) < 0)
                goto cleanup;
        } else if (sec >= 0) {
            if (load_section(L, name, sec, key.start_mark) < 0)
                goto cleanup;
        } else {
            if (usable)
                quote(q, sizeof(q), name, strlen(name));
            else if (*prefix) {
                /* Message shows what can be shown of prefix.key. */
                char both[600];
                int m = snprintf(both, sizeof(both), "%s.%.*s", prefix,
                                 (int)(klen > 200 ? 200 : klen), kname);
                quote(q, sizeof(q), both, m > 0 ? strnlen(both, sizeof(both)) : 0);
            } else {
                quote(q, sizeof(q), kname, klen);
            }
            fail_at(L, key.start_mark, "unknown key %s", q);
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    yaml_event_delete(&key);
    return rc;
}

/* Checks that relate two keys; run on the merged result of a load. */
static int cross_check(struct loader *L)
{
    struct psw_config *c = L->cfg;
    const struct key *a, *b;
    char va[32], vb[32], msg[MSG_SIZE];

    /* Sentinel: both keys or neither, and a URL that can lend its
     * credentials to whichever server the sentinels name. */
    a = find_key("redis.sentinels");
    b = find_key("redis.sentinel_master");
    if ((c->redis_sentinels_n > 0) != (c->redis_sentinel_master[0] != '\0')) {
        if (c->redis_sentinels_n > 0)
            snprintf(msg, sizeof(msg), "%s: needs %s (the name the sentinels know the primary by)",
                     a->name, b->name);
        else {
            snprintf(msg, sizeof(msg), "%s: needs %s (where the sentinels are)", b->name,
                     a->name);
            const struct key *t = a;
            a = b;
            b = t;
        }
        goto fail;
    }
    a = find_key("redis.sentinel_password");
    if (c->redis_sentinel_password[0] && c->redis_sentinels_n == 0) {
        snprintf(msg, sizeof(msg), "%s: only used with %s", a->name, "redis.sentinels");
        b = find_key("redis.sentinels");
        goto fail;
    }
    a = find_key("redis.url");
    if (c->redis_sentinels_n > 0 && strncmp(c->redis_url, "redis://", 8) != 0) {
        snprintf(msg, sizeof(msg), "%s: with %s it must be redis:// (the sentinels name the "
                 "server; the URL gives the user, password and database)", a->name, b->name);
        b = find_key("redis.sentinels");
        goto fail;
    }
    /* Cluster: the shards' hash tags must be the only braces in key names,
     * and the nodes are found by address (docs/redis.md, Cluster). */
    a = find_key("redis.cluster");
    if (c->redis_cluster && c->redis_sentinels_n > 0) {
        snprintf(msg, sizeof(msg), "%s: cannot be used with %s (a cluster fails over by itself)",
                 a->name, "redis.sentinels");
        b = find_key("redis.sentinels");
        goto fail;
    }
    if (c->redis_cluster && strncmp(c->redis_url, "redis://", 8) != 0) {
        snprintf(msg, sizeof(msg), "%s: needs a redis:// url naming a cluster node", a->name);
        b = find_key("redis.url");
        goto fail;
    }
    if (c->redis_cluster && strpbrk(c->redis_prefix, "{}")) {
        snprintf(msg, sizeof(msg), "%s: the prefix must not contain { or } (each shard adds its "
                 "own hash tag)", a->name);
        b = find_key("redis.prefix");
        goto fail;
    }
    a = find_key("redis.min_replicas_timeout");
    b = find_key("redis.command_timeout");
    if (c->redis_min_replicas_acked > 0 &&
        c->redis_min_replicas_timeout_ms >= c->redis_command_timeout_ms) {
        fmt_duration(c->redis_min_replicas_timeout_ms, va, sizeof(va));
        fmt_duration(c->redis_command_timeout_ms, vb, sizeof(vb));
        snprintf(msg, sizeof(msg), "%s: must be shorter than %s (%s), got %s", a->name, b->name,
                 vb, va);
        goto fail;
    }

    a = find_key("scheduler.worker_timeout");
    b = find_key("worker.heartbeat");
    if (c->scheduler_worker_timeout_ms <= c->worker_heartbeat_ms) {
        fmt_duration(c->scheduler_worker_timeout_ms, va, sizeof(va));
        fmt_duration(c->worker_heartbeat_ms, vb, sizeof(vb));
        snprintf(msg, sizeof(msg), "%s: must be longer than %s (%s), got %s", a->name, b->name,
                 vb, va);
        goto fail;
    }
    a = find_key("retry.max_age");
    b = find_key("retention.days");
    if (c->retry_max_age_ms >= (int64_t)c->retention_days * DAY) {
        fmt_duration(c->retry_max_age_ms, va, sizeof(va));
        fmt_duration((int64_t)c->retention_days * DAY, vb, sizeof(vb));
        snprintf(msg, sizeof(msg), "%s: must be shorter than %s (%s), got %s", a->name,
                 b->name, vb, va);
        goto fail;
    }
    return 0;
fail:
    if (L->seen[a - keys])
        return fail_at(L, L->seen_mark[a - keys], "%s", msg);
    if (L->seen[b - keys])
        return fail_at(L, L->seen_mark[b - keys], "%s", msg);
    snprintf(L->err, L->errlen, "%s: %s", L->name, msg);
    return -1;
}

/* Applies a YAML document to cfg in place (cfg is the caller's scratch copy). */
static int apply_yaml(struct psw_config *cfg, const char *yaml, size_t len, const char *name,
                      char *err, size_t errlen)
{
    struct loader *L = calloc(1, sizeof(*L));
    yaml_event_t ev = { 0 };
    int rc = -1;

    if (!L) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    L->name = name;
    L->input = yaml ? yaml : "";
    L->input_len = yaml ? len : 0;
    L->cfg = cfg;
    L->err = err;
    L->errlen = errlen;
    if (!yaml_parser_initialize(&L->parser)) {
        snprintf(err, errlen, "%s: out of memory", name);
        free(L);
        return -1;
    }
    yaml_parser_set_input_string(&L->parser, (const unsigned char *)L->input, L->input_len);

    if (next(L, &ev) < 0) /* STREAM-START */
        goto cleanup;
    yaml_event_delete(&ev);
    if (next(L, &ev) < 0)
        goto cleanup;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        yaml_event_delete(&ev);
        if (next(L, &ev) < 0)
            goto cleanup;
        if (ev.type == YAML_MAPPING_START_EVENT) {
            if (load_mapping(L, "") < 0)
                goto cleanup;
        } else if (!is_null(&ev)) {
            fail_at(L, ev.start_mark, "expected a mapping of sections (redis:, worker:, ...), got %s",
                    kind(&ev));
            goto cleanup;
        }
        yaml_event_delete(&ev);
        if (next(L, &ev) < 0) /* DOCUMENT-END */
            goto cleanup;
        yaml_event_delete(&ev);
        if (next(L, &ev) < 0)
            goto cleanup;
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            fail_at(L, ev.start_mark, "only one YAML document is allowed");
            goto cleanup;
        }
    }
    /* Here ev is STREAM-END: libyaml emits nothing else at this point. */
    if (cross_check(L) < 0)
        goto cleanup;
    resolve(cfg);
    rc = 0;
cleanup:
    yaml_event_delete(&ev);
    yaml_parser_delete(&L->parser);
    free(L);
    return rc;
}

int psw_config_load_string(struct psw_config *cfg, const char *yaml, size_t len,
                           const char *name, char *err, size_t errlen)
{
    struct psw_config tmp = { 0 };
    int rc;

    if (!name)
        name = "<string>";
    rc = cfg->redis_url ? config_copy(&tmp, cfg) : fill_defaults(&tmp);
    if (rc < 0) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto cleanup;
    }
    rc = apply_yaml(&tmp, yaml, len, name, err, errlen);
    if (rc < 0)
        goto cleanup;
    psw_config_free(cfg);
    *cfg = tmp;
    return 0;
cleanup:
    psw_config_free(&tmp);
    return -1;
}

/* Reads a whole file (at most MAX_FILE_BYTES) into a NUL-terminated buffer.
 * Returns NULL with errno set; EFBIG when the file is too large. */
static char *read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, cap = 4096;
    char *buf = NULL;
    int saved;

    if (fd < 0)
        return NULL;
    buf = malloc(cap + 1);
    if (!buf)
        goto fail;
    for (;;) {
        if (len == cap) {
            if (cap > MAX_FILE_BYTES) {
                errno = EFBIG;
                goto fail;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > MAX_FILE_BYTES) {
        errno = EFBIG;
        goto fail;
    }
    close(fd);
    buf[len] = '\0';
    *len_out = len;
    return buf;
fail:
    saved = errno;
    free(buf);
    close(fd);
    errno = saved;
    return NULL;
}

/* load_file, with a note on where the path came from for the open error. */
static int load_file_from(struct psw_config *cfg, const char *path, const char *origin,
                          char *err, size_t errlen)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    int rc = -1;

    if (!text) {
        if (errno == EFBIG)
            snprintf(err, errlen, "%s: larger than %d bytes, not a config file%s", path,
                     MAX_FILE_BYTES, origin);
        else
            snprintf(err, errlen, "%s: cannot read: %s%s", path, strerror(errno), origin);
        return -1;
    }
    struct psw_config tmp = { 0 };
    if ((cfg->redis_url ? config_copy(&tmp, cfg) : fill_defaults(&tmp)) < 0 ||
        set_source(&tmp, path) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto cleanup;
    }
    if (apply_yaml(&tmp, text, len, path, err, errlen) < 0)
        goto cleanup;
    psw_config_free(cfg);
    *cfg = tmp;
    memset(&tmp, 0, sizeof(tmp));
    rc = 0;
cleanup:
    psw_config_free(&tmp);
    free(text);
    return rc;
}

int psw_config_load_file(struct psw_config *cfg, const char *path, char *err, size_t errlen)
{
    return load_file_from(cfg, path, "", err, errlen);
}

int psw_config_load(struct psw_config *cfg, const char *path, char *err, size_t errlen)
{
    struct psw_config tmp = { 0 };
    const char *origin = "";
    const char *env;
    int rc = -1;

    if (fill_defaults(&tmp) < 0) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (!path || !*path) {
        path = NULL;
        env = getenv("PSW_CONFIG");
        if (env && *env) {
            path = env;
            origin = " (named by PSW_CONFIG)";
        } else if (access(PSW_CONFIG_DEFAULT_PATH, F_OK) == 0) {
            path = PSW_CONFIG_DEFAULT_PATH;
        }
    }
    if (path && load_file_from(&tmp, path, origin, err, errlen) < 0)
        goto cleanup;

    env = getenv("PSW_REDIS_URL");
    if (env && *env) {
        char msg[MSG_SIZE];
        if (set_text(&tmp, find_key("redis.url"), env, strlen(env), msg, sizeof(msg)) < 0) {
            snprintf(err, errlen, "PSW_REDIS_URL: %s", msg);
            goto cleanup;
        }
    }
    psw_config_free(cfg);
    *cfg = tmp;
    return 0;
cleanup:
    psw_config_free(&tmp);
    return rc;
}

/* ---- printing ----------------------------------------------------------- */

/* Query parameters whose values are credentials. */
static bool secret_param(const char *name, size_t n)
{
    static const char *const names[] = { "password", "pass", "token", "access_token", "key",
                                         "api_key", "apikey", "secret", "sig", "signature",
                                         "auth" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && strncasecmp(names[i], name, n) == 0)
            return true;
    return false;
}

/* Writes url with the password of its user info, or the whole user info when
 * it has no ':', and credential-like query values replaced by "****". */
static void write_masked(FILE *out, const char *url, void (*put)(FILE *, const char *, size_t))
{
    const char *scheme = strstr(url, "://");
    if (!scheme) {
        put(out, url, strlen(url));
        return;
    }
    const char *auth = scheme + 3;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    const char *rest = url;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *keep_end = colon ? colon + 1 : auth;
        put(out, url, (size_t)(keep_end - url));
        put(out, "****", 4);
        rest = at;
    }
    /* rest .. query start as is, then each query parameter. */
    const char *q = strchr(rest, '?');
    const char *frag = strchr(rest, '#');
    if (!q || (frag && frag < q)) {
        put(out, rest, strlen(rest));
        return;
    }
    put(out, rest, (size_t)(q + 1 - rest));
    const char *p = q + 1;
    const char *end = frag ? frag : p + strlen(p);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (eq && secret_param(p, (size_t)(eq - p))) {
            put(out, p, (size_t)(eq + 1 - p));
            put(out, "****", 4);
        } else {
            put(out, p, (size_t)(pe - p));
        }
        if (amp)
            put(out, "&", 1);
        p = amp ? amp + 1 : end;
    }
    if (frag)
        put(out, frag, strlen(frag));
}

/* Writes bytes for inside a YAML double-quoted scalar. Besides ASCII
 * controls, what libyaml would not read back as the same text is escaped:
 * the C1 controls U+0080..U+009F (refused, or NEL folded as a line break),
 * U+2028/U+2029 (line breaks), U+FEFF and U+FFFE/U+FFFF. */
static void put_quoted_body(FILE *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned char c1 = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        unsigned char c2 = i + 2 < n ? (unsigned char)s[i + 2] : 0;
        if (c == 0xc2 && c1 >= 0x80 && c1 <= 0x9f) {
            fprintf(out, "\\x%c%c", hex[c1 >> 4], hex[c1 & 15]);
            i++;
        } else if ((c == 0xe2 && c1 == 0x80 && (c2 == 0xa8 || c2 == 0xa9)) ||
                   (c == 0xef && c1 == 0xbb && c2 == 0xbf) ||
                   (c == 0xef && c1 == 0xbf && (c2 == 0xbe || c2 == 0xbf))) {
            fprintf(out, "\\u%04x", (c & 0x0f) << 12 | (c1 & 0x3f) << 6 | (c2 & 0x3f));
            i += 2;
        } else if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\x%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            fputc(c, out);
        }
    }
}

static void put_quoted(FILE *out, const char *s, bool mask)
{
    fputc('"', out);
    if (!s)
        s = "";
    if (mask)
        write_masked(out, s, put_quoted_body);
    else
        put_quoted_body(out, s, strlen(s));
    fputc('"', out);
}

static void print_value(FILE *out, const struct psw_config *cfg, const struct key *k)
{
    const void *f = cfield(cfg, k);
    char buf[64];

    switch (k->type) {
    case T_INT:
        fprintf(out, "%d", *(const int *)f);
        break;
    case T_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case T_STRING:
        if (k->secret)
            put_quoted(out, **(char *const *)f ? "****" : "", false);
        else
            put_quoted(out, *(char *const *)f, k->mask);
        break;
    case T_DURATION:
        fmt_duration(*(const int64_t *)f, buf, sizeof(buf));
        fputs(buf, out);
        break;
    case T_ENUM: {
        int v = *(const int *)f;
        int n = 0;
        while (k->choices[n])
            n++;
        fputs(v >= 0 && v < n ? k->choices[v] : k->choices[0], out);
        break;
    }
    case T_DURATION_LIST:
    case T_STRING_LIST: {
        size_t n = ccount(cfg, k);
        fputc('[', out);
        for (size_t i = 0; i < n && i < k->nmax; i++) {
            if (i)
                fputs(", ", out);
            if (k->type == T_DURATION_LIST) {
                fmt_duration(((const int64_t *)f)[i], buf, sizeof(buf));
                fputs(buf, out);
            } else {
                put_quoted(out, ((char *const *)f)[i], k->mask);
            }
        }
        fputc(']', out);
        break;
    }
    }
}

/* The bounds a key's comment shows, or "" when it has none worth saying. */
static void bounds_text(const struct key *k, char *out, size_t n)
{
    char lo[32], hi[32];
    out[0] = '\0';
    switch (k->type) {
    case T_INT:
        snprintf(out, n, " (%lld..%lld)", (long long)k->min, (long long)k->max);
        break;
    case T_DURATION:
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
        snprintf(out, n, " (%s..%s)", lo, hi);
        break;
    case T_DURATION_LIST:
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
        snprintf(out, n, " (%zu..%zu entries, each %s..%s)", k->nmin, k->nmax, lo, hi);
        break;
    case T_STRING_LIST:
        snprintf(out, n, " (at most %zu entries)", k->nmax);
        break;
    default:
        break;
    }
}

void psw_config_print(const struct psw_config *cfg, FILE *out)
{
    const char *src = cfg->source_path && *cfg->source_path ? cfg->source_path : NULL;
    char bounds[128];

    fputs("# PostStack Webhooks: effective configuration", out);
    if (src) {
        fputs(" (from ", out);
        for (const char *p = src; *p; p++)
            fputc((unsigned char)*p < 0x20 ? '?' : *p, out);
        fputs(")", out);
    } else {
        fputs(" (built-in defaults)", out);
    }
    fputs(".\n# Credentials inside URLs are shown as ****.\n", out);

    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const char *dot = strchr(k->name, '.');
        size_t slen = (size_t)(dot - k->name);
        if (i == 0 || strncmp(keys[i - 1].name, k->name, slen + 1) != 0)
            fprintf(out, "\n%.*s:\n", (int)slen, k->name);
        bounds_text(k, bounds, sizeof(bounds));
        fprintf(out, "  # %s%s\n  %s: ", k->help, bounds, dot + 1);
        print_value(out, cfg, k);
        fputc('\n', out);
    }
}

void psw_config_cap(const struct psw_config *cfg, char *out, size_t n)
{
    int cap = cfg->endpoint_max_in_flight;
    int floor = cfg->endpoint_min_in_flight < cap ? cfg->endpoint_min_in_flight : cap;
    if (cfg->endpoint_adaptive_in_flight && cap > 0)
        snprintf(out, n, "%d/%d", cap, floor);
    else
        snprintf(out, n, "%d", cap);
}
