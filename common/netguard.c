/*
 * netguard.c — the SSRF guard (netguard.h): CIDR parsing, the tables of
 * refused ranges, and the decision for one address.
 *
 * The decision, in order: allow_all → allowed. An IPv4-mapped IPv6 address
 * is its IPv4 address (the kernel connects to that). An address in
 * http.allowed_networks → allowed. IPv4: the first refused range that holds
 * it → refused. IPv6: NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an
 * IPv4 address, which decides (allowed networks included); otherwise the
 * first refused IPv6 range, then anything outside global unicast 2000::/3,
 * is refused. The tables are ordered specific before general, so the reason
 * names the narrowest range (255.255.255.255 is "broadcast", not 240/4).
 */
#include "common/netguard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define ALLOW_HINT "set http.allowed_networks or http.allow_private_networks to allow it"

struct range {
    const char *cidr;
    const char *what;        /* "is <what> (<cidr>)" */
};

static const struct range v4_ranges[] = {
    { "0.0.0.0/8", "unspecified (\"this network\")" },
    { "10.0.0.0/8", "in a private network" },
    { "100.64.0.0/10", "in the shared CGNAT network" },
    { "127.0.0.0/8", "loopback" },
    { "169.254.0.0/16", "link-local (where cloud metadata services answer)" },
    { "172.16.0.0/12", "in a private network" },
    { "192.0.0.0/24", "in the reserved IETF protocol network" },
    { "192.0.2.0/24", "in a documentation network" },
    { "192.88.99.0/24", "in the reserved 6to4 relay network" },
    { "192.168.0.0/16", "in a private network" },
    { "198.18.0.0/15", "in the benchmarking network" },
    { "198.51.100.0/24", "in a documentation network" },
    { "203.0.113.0/24", "in a documentation network" },
    { "224.0.0.0/4", "multicast" },
    { "255.255.255.255/32", "the broadcast address" },
    { "240.0.0.0/4", "in the reserved network" },
};

static const struct range v6_ranges[] = {
    { "::/128", "unspecified" },
    { "::1/128", "loopback" },
    { "::/96", "an IPv4-compatible IPv6 address (deprecated)" },
    { "64:ff9b:1::/48", "in the local-use NAT64 network" },
    { "100::/64", "in the discard-only network" },
    { "2001::/32", "a Teredo tunnel address" },
    { "2001:2::/48", "in the benchmarking network" },
    { "2001:db8::/32", "in a documentation network" },
    { "3fff::/20", "in a documentation network" },
    { "fc00::/7", "in a private network (unique local)" },
    { "fe80::/10", "link-local" },
    { "fec0::/10", "site-local (deprecated)" },
    { "ff00::/8", "multicast" },
};

/* IPv6 prefixes that carry an IPv4 address at a fixed offset. */
static const struct {
    const char *cidr;
    const char *name;
    size_t offset;
} v6_embedding[] = {
    { "64:ff9b::/96", "NAT64", 12 },
    { "2002::/16", "6to4", 2 },
};

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int psw_cidr_parse(const char *s, struct psw_cidr *out, char *err, size_t errlen)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = s ? strchr(s, '/') : NULL;
    int bits = 0, maxbits;

    memset(out, 0, sizeof(*out));
    if (!slash || slash == s || (size_t)(slash - s) >= sizeof(addr))
        goto bad;
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        maxbits = 128;
    } else {
        goto bad;
    }
    const char *p = slash + 1;
    if (*p == '\0' || strlen(p) > 3)
        goto bad;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        bits = bits * 10 + (*p - '0');
    }
    if (bits > maxbits)
        goto bad;
    out->bits = bits;
    for (int i = 0; i < maxbits / 8; i++) {
        int keep = bits - i * 8;
        if (keep >= 8)
            continue;
        out->addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
    return 0;
bad:
    memset(out, 0, sizeof(*out));
    snprintf(err, errlen, "expected a CIDR network (e.g. 10.0.0.0/8, fd00::/8), got \"%.64s\"",
             s ? s : "");
    return -1;
}

int psw_cidr_contains(const struct psw_cidr *net, int family, const unsigned char *addr)
{
    if (net->family != family)
        return 0;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (addr[full] & mask) == net->addr[full];
}

int psw_netguard_init(struct psw_netguard *g, const struct psw_config *cfg, char *err,
                      size_t errlen)
{
    memset(g, 0, sizeof(*g));
    g->allow_all = cfg->http_allow_private_networks;
    for (size_t i = 0; i < cfg->http_allowed_networks_n && i < PSW_MAX_NETWORKS; i++) {
        char e[160];
        if (psw_cidr_parse(cfg->http_allowed_networks[i], &g->allowed[i], e, sizeof(e)) < 0) {
            snprintf(err, errlen, "http.allowed_networks: entry %zu: %s", i + 1, e);
            memset(g, 0, sizeof(*g));
            return -1;
        }
        g->nallowed++;
    }
    return 0;
}

/* The table entry (parsed on the fly: the tables are short and the checks
 * happen once per new connection) that holds addr, or NULL. */
static const struct range *find_range(const struct range *t, size_t n, int family,
                                      const unsigned char *addr, struct psw_cidr *net)
{
    char e[8];
    for (size_t i = 0; i < n; i++)
        if (psw_cidr_parse(t[i].cidr, net, e, sizeof(e)) == 0 &&
            psw_cidr_contains(net, family, addr))
            return &t[i];
    return NULL;
}

static int allowed(const struct psw_netguard *g, int family, const unsigned char *addr)
{
    for (size_t i = 0; i < g->nallowed; i++)
        if (psw_cidr_contains(&g->allowed[i], family, addr))
            return 1;
    return 0;
}

/* The refusal of IPv4 address v4 (NULL = allowed). */
static const struct range *v4_refused(const unsigned char *v4)
{
    struct psw_cidr net;
    return find_range(v4_ranges, sizeof(v4_ranges) / sizeof(v4_ranges[0]), AF_INET, v4, &net);
}

/* The decision for one address: family AF_INET (4 bytes) or AF_INET6 (16). */
static int check_addr(const struct psw_netguard *g, int family, const unsigned char *addr,
                      char *why, size_t whylen)
{
    char text[INET6_ADDRSTRLEN], inner[INET_ADDRSTRLEN];
    const struct range *r;
    struct psw_cidr net;

    if (g->allow_all)
        return 0;
    if (allowed(g, family, addr))
        return 0;
    if (family == AF_INET) {
        if (!(r = v4_refused(addr)))
            return 0;
        goto refused;
    }

    /* IPv6 */
    if (memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        if (allowed(g, AF_INET, addr + 12) || !(r = v4_refused(addr + 12)))
            return 0;
        goto refused;
    }
    for (size_t i = 0; i < sizeof(v6_embedding) / sizeof(v6_embedding[0]); i++) {
        char e[8];
        if (psw_cidr_parse(v6_embedding[i].cidr, &net, e, sizeof(e)) < 0 ||
            !psw_cidr_contains(&net, AF_INET6, addr))
            continue;
        const unsigned char *v4 = addr + v6_embedding[i].offset;
        if (allowed(g, AF_INET, v4) || !(r = v4_refused(v4)))
            return 0;
        inet_ntop(AF_INET6, addr, text, sizeof(text));
        inet_ntop(AF_INET, v4, inner, sizeof(inner));
        snprintf(why, whylen, "address %s carries %s (%s %s), which is %s (%s); " ALLOW_HINT,
                 text, inner, v6_embedding[i].name, v6_embedding[i].cidr, r->what, r->cidr);
        return -1;
    }
    r = find_range(v6_ranges, sizeof(v6_ranges) / sizeof(v6_ranges[0]), AF_INET6, addr, &net);
    if (r)
        goto refused;
    if ((addr[0] & 0xe0) != 0x20) {
        inet_ntop(AF_INET6, addr, text, sizeof(text));
        snprintf(why, whylen,
                 "address %s is not a global unicast address (outside 2000::/3); " ALLOW_HINT,
                 text);
        return -1;
    }
    return 0;

refused:
    inet_ntop(family, addr, text, sizeof(text));
    snprintf(why, whylen, "address %s is %s (%s); " ALLOW_HINT, text, r->what, r->cidr);
    return -1;
}

int psw_netguard_check(const struct psw_netguard *g, const struct sockaddr *sa, socklen_t salen,
                       char *why, size_t whylen)
{
    if (g->allow_all)
        return 0;
    if (!sa || salen < (socklen_t)sizeof(sa->sa_family)) {
        snprintf(why, whylen, "no address");
        return -1;
    }
    if (sa->sa_family == AF_INET) {
        if (salen < (socklen_t)sizeof(struct sockaddr_in))
            goto short_addr;
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return check_addr(g, AF_INET, (const unsigned char *)&in->sin_addr, why, whylen);
    }
    if (sa->sa_family == AF_INET6) {
        if (salen < (socklen_t)sizeof(struct sockaddr_in6))
            goto short_addr;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return check_addr(g, AF_INET6, (const unsigned char *)&in6->sin6_addr, why, whylen);
    }
    snprintf(why, whylen, "address family %d is not IPv4 or IPv6", (int)sa->sa_family);
    return -1;
short_addr:
    snprintf(why, whylen, "a truncated %s address (%u bytes)",
             sa->sa_family == AF_INET ? "IPv4" : "IPv6", (unsigned)salen);
    return -1;
}

int psw_netguard_parse_literal(const char *host, struct sockaddr_storage *out, socklen_t *outlen)
{
    char buf[INET6_ADDRSTRLEN + 64];
    size_t n = host ? strlen(host) : 0;

    memset(out, 0, sizeof(*out));
    if (n == 0 || n >= sizeof(buf))
        return -1;
    int bracketed = host[0] == '[';
    if (bracketed) {
        if (n < 2 || host[n - 1] != ']')
            return -1;
        host++;
        n -= 2;
    }
    memcpy(buf, host, n);
    buf[n] = '\0';

    if (bracketed || strchr(buf, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)out;
        buf[strcspn(buf, "%")] = '\0'; /* zone: fe80::1%eth0, fe80::1%25eth0 */
        if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
            return -1;
        in6->sin6_family = AF_INET6;
        *outlen = (socklen_t)sizeof(*in6);
        return 0;
    }

    /* inet_aton stops at whitespace and takes what came before, so only
     * characters of its number forms get to it. */
    if (n > 1 && buf[n - 1] == '.')
        buf[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)buf[i]) && buf[i] != '.' && buf[i] != 'x' && buf[i] != 'X')
            return -1;
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)out;
    if (inet_aton(buf, &in->sin_addr) == 0)
        return -1;
    in->sin_family = AF_INET;
    *outlen = (socklen_t)sizeof(*in);
    return 0;
}

int psw_netguard_check_literal(const struct psw_netguard *g, const char *host, char *why,
                               size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (psw_netguard_parse_literal(host, &ss, &len) < 0)
        return 0;
    return psw_netguard_check(g, (const struct sockaddr *)&ss, len, why, whylen);
}

int psw_netguard_check_url(const struct psw_netguard *g, const char *url, char *why,
                           size_t whylen)
{
    CURLU *u;
    char *host = NULL;
    int rc = 0;

    if (g->allow_all)
        return 0;
    if (!(u = curl_url()))
        return 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        rc = psw_netguard_check_literal(g, host, why, whylen);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int psw_netguard_no_proxy(const char *list, const char *host)
{
    size_t hl;
    if (!list || !host)
        return 0;
    if (host[0] == '[') { /* "[::1]" as a URL spells it */
        host++;
        hl = strcspn(host, "]");
    } else {
        hl = strlen(host);
    }
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    for (const char *p = list; *p;) {
        size_t el = strcspn(p, ",");
        const char *e = p;
        size_t n = el;
        p += el + (p[el] == ',');
        while (n > 0 && (*e == ' ' || *e == '\t')) {
            e++;
            n--;
        }
        while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t'))
            n--;
        if (n == 1 && e[0] == '*')
            return 1;
        if (n > 0 && e[0] == '.') {
            e++;
            n--;
        }
        if (n > 0 && e[n - 1] == '.')
            n--;
        if (n == 0 || n > hl)
            continue;
        /* the host itself, or a name under e: "x.e" */
        if (strncasecmp(host + hl - n, e, n) == 0 && (n == hl || host[hl - n - 1] == '.'))
            return 1;
    }
    return 0;
}
