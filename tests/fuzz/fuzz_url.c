/*
 * fuzz_url.c — libFuzzer harness for the small parsers of user-typed text:
 * receiver URLs, domains and event filters (common/validate.c), Redis URLs
 * (common/redis.c), ISO 8601 times, durations and time arguments
 * (common/timeutil.c). Every function gets the input as one C string (cut
 * at an embedded NUL, as a caller would see it).
 *
 * Properties:
 *  - psw_url_check: an accepted URL is http(s)://, at most max_len bytes, with
 *    no whitespace, control byte, fragment or user info; one byte less of
 *    max_len refuses it; every message starts with "url: ";
 *  - psw_domain_valid agrees with an independent check of the DNS rules;
 *  - psw_events_normalize is idempotent;
 *  - psw_redis_url_parse: port 1..65535, db 0..100000, a host or an absolute
 *    socket path; psw_redis_url_redact always terminates its output, and
 *    what it writes is the same URL with the password (only) made "****";
 *  - times and durations: format → parse gives the same milliseconds;
 *  - the SSRF guard (common/netguard.c): a literal host is judged exactly as
 *    the address it denotes; names pass the literal check; an open guard
 *    (allow_private_networks) refuses nothing; an address listed in
 *    allowed_networks (as /32 or /128) is allowed; psw_cidr_parse clears the
 *    host bits and accepts exactly what the config loader accepts for
 *    http.allowed_networks (else a config that loads fails at start).
 */
#include "tests/fuzz/fuzz.h"

#include <strings.h>

#include <netinet/in.h>

#include "common/config.h"
#include "common/netguard.h"
#include "common/redis.h"
#include "common/timeutil.h"
#include "common/validate.h"

#define URL_MAX_LEN 2048
#define URL_MAX_ISO_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* The DNS rules of validate.h, written out again without sharing code. */
static int url_domain_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n < 1 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
        if (label == 0 && c == '-')
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0 && s[n - 1] != '-';
}

static void url_check_url(const char *s)
{
    char err[256];
    size_t len = strlen(s);
    err[0] = '\0';
    if (psw_url_check(s, URL_MAX_LEN, err, sizeof(err)) != 0) {
        FUZZ_REQUIRE(strncmp(err, "url: ", 5) == 0, "message \"%s\"", err);
        return;
    }
    FUZZ_REQUIRE(len <= URL_MAX_LEN, "accepted %zu bytes", len);
    FUZZ_REQUIRE(strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0,
                 "accepted scheme of %s", s);
    FUZZ_REQUIRE(!strchr(s, '#'), "accepted a fragment: %s", s);
    for (size_t i = 0; i < len; i++)
        FUZZ_REQUIRE((unsigned char)s[i] > 0x20 && (unsigned char)s[i] != 0x7f,
                     "accepted byte 0x%02x", (unsigned char)s[i]);
    const char *auth = strstr(s, "://") + 3;
    size_t auth_len = strcspn(auth, "/?#");
    FUZZ_REQUIRE(!memchr(auth, '@', auth_len), "accepted user info: %s", s);
    FUZZ_REQUIRE(psw_url_check(s, len - 1, err, sizeof(err)) != 0, "max_len not enforced");
}

static void url_check_events(const char *s)
{
    char out[PSW_EVENTS_SIZE], out2[PSW_EVENTS_SIZE], err[512];
    err[0] = '\0';
    if (psw_events_normalize(s, out, sizeof(out), err, sizeof(err)) != 0) {
        FUZZ_REQUIRE(strncmp(err, "events: ", 8) == 0, "message \"%s\"", err);
        return;
    }
    FUZZ_REQUIRE(psw_events_normalize(out, out2, sizeof(out2), err, sizeof(err)) == 0,
                 "normalized \"%s\" refused: %s", out, err);
    FUZZ_REQUIRE(strcmp(out, out2) == 0, "not idempotent: \"%s\" -> \"%s\"", out, out2);
    FUZZ_REQUIRE(!strchr(out, ' ') && !strchr(out, '\t'), "blank in \"%s\"", out);
}

static void url_check_redis(const char *s)
{
    struct psw_redis_url u;
    char err[512], red[24], big[1024];
    err[0] = '\0';
    if (psw_redis_url_parse(s, &u, err, sizeof(err)) == 0) {
        FUZZ_REQUIRE(u.port >= 1 && u.port <= 65535, "port %d", u.port);
        FUZZ_REQUIRE(u.db >= 0 && u.db <= 100000, "db %d", u.db);
        FUZZ_REQUIRE(memchr(u.host, '\0', sizeof(u.host)) && memchr(u.path, '\0', sizeof(u.path)) &&
                         memchr(u.user, '\0', sizeof(u.user)) &&
                         memchr(u.password, '\0', sizeof(u.password)),
                     "unterminated field");
        if (u.is_unix)
            FUZZ_REQUIRE(u.path[0] == '/', "socket path \"%s\"", u.path);
        else
            FUZZ_REQUIRE(u.host[0] != '\0', "empty host");
        /* The redacted form (what logs show) is the same URL with the
         * password replaced by ****, in either spelling of user info. */
        if (u.password[0] && strlen(s) < sizeof(big) - 8) {
            struct psw_redis_url r;
            psw_redis_url_redact(s, big, sizeof(big));
            FUZZ_REQUIRE(psw_redis_url_parse(big, &r, err, sizeof(err)) == 0,
                         "redacted \"%s\" does not parse: %s", big, err);
            FUZZ_REQUIRE(strcmp(r.password, "****") == 0, "redacted \"%s\" has password \"%s\"",
                         big, r.password);
            FUZZ_REQUIRE(r.is_unix == u.is_unix && r.port == u.port && r.db == u.db &&
                             strcmp(r.host, u.host) == 0 && strcmp(r.path, u.path) == 0 &&
                             strcmp(r.user, u.user) == 0,
                         "redacting \"%s\" changed more than the password: \"%s\"", s, big);
        }
    } else {
        FUZZ_REQUIRE(err[0] != '\0', "refused without a message");
    }
    /* Small and large buffers: always terminated, never overrun (ASan). */
    memset(red, 'X', sizeof(red));
    psw_redis_url_redact(s, red, sizeof(red));
    FUZZ_REQUIRE(memchr(red, '\0', sizeof(red)) != NULL, "redact did not terminate");
    psw_redis_url_redact(s, big, sizeof(big));
    FUZZ_REQUIRE(memchr(big, '\0', sizeof(big)) != NULL, "redact did not terminate");
}

static void url_check_times(const char *s)
{
    int64_t ms = 0, ms2 = 0;
    char buf[PSW_ISO_SIZE], dbuf[64];

    if (psw_time_parse_iso(s, &ms) == 0 && ms >= 0 && ms <= URL_MAX_ISO_MS) {
        psw_time_format(ms, buf);
        FUZZ_REQUIRE(psw_time_parse_iso(buf, &ms2) == 0 && ms2 == ms,
                     "%s -> %lld -> %s -> %lld", s, (long long)ms, buf, (long long)ms2);
    }
    if (psw_duration_parse(s, &ms) == 0) {
        FUZZ_REQUIRE(ms >= 0, "negative duration %lld from %s", (long long)ms, s);
        psw_duration_format(ms, dbuf, sizeof(dbuf));
        FUZZ_REQUIRE(psw_duration_parse(dbuf, &ms2) == 0 && ms2 == ms,
                     "%s -> %lld -> %s -> %lld", s, (long long)ms, dbuf, (long long)ms2);
    }
    if (psw_time_parse_arg(s, FUZZ_NOW_MS, &ms) == 0 && strcmp(s, "now") != 0 &&
        psw_time_parse_iso(s, &ms2) != 0) {
        /* A relative age: never after now. */
        FUZZ_REQUIRE(ms <= FUZZ_NOW_MS, "age %s gave %lld", s, (long long)ms);
    }
}

/* Does the config loader take s as the one entry of http.allowed_networks?
 * Only for printable ASCII (YAML double-quoted, \ and " escaped). */
static int url_config_takes_cidr(const char *s, int *takes)
{
    char yaml[256], err[512];
    size_t o = 0;
    struct psw_config cfg = { 0 };
    o += (size_t)snprintf(yaml, sizeof(yaml), "http:\n  allowed_networks: [\"");
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || o + 4 > sizeof(yaml))
            return -1;
        if (*p == '"' || *p == '\\')
            yaml[o++] = '\\';
        yaml[o++] = *p;
    }
    if (o + 4 > sizeof(yaml))
        return -1;
    memcpy(yaml + o, "\"]\n", 3);
    o += 3;
    *takes = psw_config_load_string(&cfg, yaml, o, "cidr.yaml", err, sizeof(err)) == 0;
    if (*takes) {
        struct psw_netguard g;
        FUZZ_REQUIRE(cfg.http_allowed_networks_n == 1 &&
                         strcmp(cfg.http_allowed_networks[0], s) == 0,
                     "loaded \"%s\" as %zu entries", s, cfg.http_allowed_networks_n);
        FUZZ_REQUIRE(psw_netguard_init(&g, &cfg, err, sizeof(err)) == 0,
                     "config takes \"%s\", the guard does not: %s", s, err);
    }
    psw_config_free(&cfg);
    return 0;
}

static void url_check_netguard(const char *s)
{
    struct psw_netguard closed, open, listed;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    struct psw_cidr net;
    char why[PSW_NETGUARD_WHY_SIZE], why2[PSW_NETGUARD_WHY_SIZE], err[256];

    memset(&closed, 0, sizeof(closed));
    memset(&open, 0, sizeof(open));
    open.allow_all = true;

    why[0] = '\0';
    if (psw_netguard_parse_literal(s, &ss, &sslen) == 0) {
        int fam = ss.ss_family;
        FUZZ_REQUIRE((fam == AF_INET && sslen == sizeof(struct sockaddr_in)) ||
                         (fam == AF_INET6 && sslen == sizeof(struct sockaddr_in6)),
                     "family %d, length %u", fam, (unsigned)sslen);
        int direct = psw_netguard_check(&closed, (const struct sockaddr *)&ss, sslen, why2,
                                        sizeof(why2));
        int lit = psw_netguard_check_literal(&closed, s, why, sizeof(why));
        FUZZ_REQUIRE(direct == lit, "literal %s: check %d, check_literal %d", s, direct, lit);
        if (lit != 0)
            FUZZ_REQUIRE(why[0] != '\0' && strcmp(why, why2) == 0, "reason \"%s\"", why);
        FUZZ_REQUIRE(psw_netguard_check(&open, (const struct sockaddr *)&ss, sslen, why,
                                        sizeof(why)) == 0,
                     "open guard refused %s", s);
        /* Listing the address itself allows it. */
        memset(&listed, 0, sizeof(listed));
        listed.nallowed = 1;
        listed.allowed[0].family = fam;
        if (fam == AF_INET) {
            memcpy(listed.allowed[0].addr, &((struct sockaddr_in *)(void *)&ss)->sin_addr, 4);
            listed.allowed[0].bits = 32;
        } else {
            memcpy(listed.allowed[0].addr, &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr, 16);
            listed.allowed[0].bits = 128;
        }
        FUZZ_REQUIRE(psw_netguard_check(&listed, (const struct sockaddr *)&ss, sslen, why,
                                        sizeof(why)) == 0,
                     "listed address %s refused: %s", s, why);
    } else {
        FUZZ_REQUIRE(psw_netguard_check_literal(&closed, s, why, sizeof(why)) == 0,
                     "a name was refused as a literal: %s", s);
    }
    FUZZ_REQUIRE(psw_netguard_check_literal(&open, s, why, sizeof(why)) == 0, "open guard");
    FUZZ_REQUIRE(psw_netguard_check_url(&open, s, why, sizeof(why)) == 0, "open guard, url");
    why[0] = '\0';
    if (psw_netguard_check_url(&closed, s, why, sizeof(why)) != 0)
        FUZZ_REQUIRE(why[0] != '\0', "url refused without a reason");

    if (psw_cidr_parse(s, &net, err, sizeof(err)) == 0) {
        int maxbits = net.family == AF_INET ? 32 : 128;
        FUZZ_REQUIRE(net.bits >= 0 && net.bits <= maxbits, "bits %d", net.bits);
        for (int b = net.bits; b < maxbits; b++)
            FUZZ_REQUIRE(!(net.addr[b / 8] & (0x80 >> (b % 8))), "host bit %d set in %s", b, s);
        FUZZ_REQUIRE(psw_cidr_contains(&net, net.family, net.addr) == 1, "net outside itself");
    }
    int takes;
    if (strchr(s, '/') && url_config_takes_cidr(s, &takes) == 0) {
        int parses = psw_cidr_parse(s, &net, err, sizeof(err)) == 0;
        FUZZ_REQUIRE(takes == parses || strlen(s) > 64,
                     "\"%s\": config %s it, psw_cidr_parse %s it", s,
                     takes ? "takes" : "refuses", parses ? "takes" : "refuses");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);

    url_check_url(s);
    FUZZ_REQUIRE(psw_domain_valid(s) == url_domain_ok(s), "psw_domain_valid(\"%s\") = %d", s,
                 psw_domain_valid(s));
    url_check_events(s);
    url_check_redis(s);
    url_check_times(s);
    url_check_netguard(s);

    free(s);
    return 0;
}
