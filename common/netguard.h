/*
 * netguard.h — the SSRF guard: which addresses a delivery may connect to.
 *
 * Endpoint URLs are typed in by customers, so by default a delivery may not
 * reach loopback, private, link-local (cloud metadata), CGNAT, multicast,
 * broadcast, unspecified, reserved, documentation or benchmarking addresses,
 * in IPv4 or IPv6, nor IPv6 forms that carry such an IPv4 address (mapped
 * ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) or tunnel to an unknown
 * one (Teredo 2001::/32, IPv4-compatible ::/96). Every IPv6 address outside
 * global unicast (2000::/3) is refused too. docs/security.md has the table.
 *
 * Opening it: http.allow_private_networks: true allows every address;
 * http.allowed_networks lists CIDRs allowed even when the default refuses
 * them (a mapped or embedded IPv4 address is allowed when either it or the
 * IPv6 address that carries it is in one).
 *
 * Where it is enforced: the worker checks the address libcurl is about to
 * connect to (worker/http.c's open-socket callback), so no DNS answer can
 * get around it; endpoint create/update refuses a URL whose host is a
 * literal refused address. With http.proxy set, the worker connects only to
 * the proxy, which must then do this filtering.
 *
 * Ownership: a struct psw_netguard holds no pointers (the CIDRs are parsed
 * into it), so it can live on the stack or in another struct and needs no
 * free. Checks are pure functions of the guard and the address.
 */
#ifndef PSW_NETGUARD_H
#define PSW_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include "common/config.h"

/* Enough for any reason psw_netguard_check writes. */
#define PSW_NETGUARD_WHY_SIZE 320

struct psw_cidr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network address, host bits cleared; 4 bytes for AF_INET */
    int bits;                /* prefix length: 0..32 or 0..128 */
};

struct psw_netguard {
    bool allow_all;          /* http.allow_private_networks */
    struct psw_cidr allowed[PSW_MAX_NETWORKS];
    size_t nallowed;
};

/* "10.0.0.0/8", "fd00::/8" (the forms config.c accepts: an address
 * inet_pton takes, '/', a decimal prefix length). Host bits may be set and
 * are cleared. Returns 0, or -1 with a message in err. */
int psw_cidr_parse(const char *s, struct psw_cidr *out, char *err, size_t errlen);

/* 1 when addr (4 or 16 bytes as family says) lies in net, else 0 (also
 * when the families differ). */
int psw_cidr_contains(const struct psw_cidr *net, int family, const unsigned char *addr);

/* Builds g from http.allow_private_networks and http.allowed_networks.
 * Returns 0, or -1 with err when an entry is not a CIDR (config.c validates
 * them, so this means a config that did not come from the loader). */
int psw_netguard_init(struct psw_netguard *g, const struct psw_config *cfg, char *err,
                      size_t errlen);

/* May a connection go to sa (AF_INET or AF_INET6; port ignored)? 0 allowed;
 * -1 refused, with why like "address 10.0.0.5 is in a private network
 * (10.0.0.0/8); set http.allowed_networks or http.allow_private_networks to
 * allow it". Another address family is refused. */
int psw_netguard_check(const struct psw_netguard *g, const struct sockaddr *sa, socklen_t salen,
                       char *why, size_t whylen);

/* The address a URL host denotes when it is a literal: "[::1]" or "::1"
 * (an IPv6 zone "%eth0" is dropped), dotted IPv4, or any form inet_aton
 * takes and libcurl would connect to as well ("2130706433", "0x7f.1",
 * "0177.0.0.1", "127.1"); one trailing dot is ignored. Fills *out (family,
 * address; port 0) and returns 0; returns -1 when host is a name. */
int psw_netguard_parse_literal(const char *host, struct sockaddr_storage *out, socklen_t *outlen);

/* psw_netguard_check() for a literal host. 0 when allowed or when host is
 * a name (names are checked at connect time); -1 refused, with why. */
int psw_netguard_check_literal(const struct psw_netguard *g, const char *host, char *why,
                               size_t whylen);

/* psw_netguard_check_literal() for the host of url as libcurl's URL parser
 * sees it (so "%31%32%37.0.0.1" is 127.0.0.1). A URL curl cannot parse
 * passes: the caller's URL validation reports it. */
int psw_netguard_check_url(const struct psw_netguard *g, const char *url, char *why,
                           size_t whylen);

/* Does http.no_proxy (list: comma-separated entries) name host, so that a
 * request to it goes directly instead of through http.proxy? "*" names every
 * host; any other entry names the host spelled the same way (letters in any
 * case, a leading "." and a trailing "." ignored) and, for a name, every
 * name under it ("example.com" covers "api.example.com"). IPv6 literals are
 * written without brackets, in either list or host. 1 yes, 0 no. The worker
 * decides this itself, and never lets libcurl apply NO_PROXY, so that the
 * SSRF guard runs on exactly the direct connections (docs/config.md). */
int psw_netguard_no_proxy(const char *list, const char *host);

#endif
