/*
 * test_netguard.c — common/netguard.c, the SSRF guard: one table of
 * addresses (IPv4, IPv6, mapped and embedded forms, both edges of every
 * refused range) with the decision under the default policy, under a list
 * of http.allowed_networks, and with http.allow_private_networks; the exact
 * reasons; CIDR parsing; literal URL hosts in every form inet_aton and
 * libcurl accept. Guards are built from YAML through the config loader, as
 * the worker builds them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/netguard.h"

#define HINT "; set http.allowed_networks or http.allow_private_networks to allow it"

/* The allowed_networks of the second column. */
#define LIST_YAML                                                                          \
    "http:\n  allowed_networks: [127.0.0.1/32, 10.1.0.0/16, \"fd12:3456::/32\", "        \
    "192.168.1.7/32, 100.64.0.0/10, \"fe80::/10\"]\n"

struct guards {
    struct psw_netguard def, list, open;
};

static void guard_from(struct psw_netguard *g, const char *yaml)
{
    struct psw_config cfg = { 0 };
    char err[512];
    assert_int_equal(psw_config_defaults(&cfg), 0);
    if (yaml && psw_config_load_string(&cfg, yaml, strlen(yaml), "t.yaml", err, sizeof(err)) < 0)
        fail_msg("config: %s", err);
    if (psw_netguard_init(g, &cfg, err, sizeof(err)) < 0)
        fail_msg("netguard_init: %s", err);
    psw_config_free(&cfg);
}

static int setup(void **state)
{
    struct guards *g = calloc(1, sizeof(*g));
    if (!g)
        return -1;
    guard_from(&g->def, NULL);
    guard_from(&g->list, LIST_YAML);
    guard_from(&g->open, "http:\n  allow_private_networks: true\n");
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* text → sockaddr (inet_pton only: the table is written canonically). */
static socklen_t to_sockaddr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(443);
        return sizeof(*in);
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(443);
        return sizeof(*in6);
    }
    fail_msg("table address %s does not parse", text);
    return 0;
}

struct addr_case {
    const char *addr;
    const char *range;   /* the range the default refuses it for; NULL = allowed */
    int listed;          /* allowed under LIST_YAML */
};

#define OUTSIDE "outside 2000::/3"

static const struct addr_case addr_cases[] = {
    /* IPv4: each range, both edges, and its neighbours */
    { "0.0.0.0", "0.0.0.0/8", 0 },
    { "0.255.255.255", "0.0.0.0/8", 0 },
    { "1.0.0.0", NULL, 1 },
    { "8.8.8.8", NULL, 1 },
    { "9.255.255.255", NULL, 1 },
    { "10.0.0.0", "10.0.0.0/8", 0 },
    { "10.0.0.5", "10.0.0.0/8", 0 },
    { "10.1.2.3", "10.0.0.0/8", 1 },
    { "10.1.255.255", "10.0.0.0/8", 1 },
    { "10.2.0.0", "10.0.0.0/8", 0 },
    { "10.255.255.255", "10.0.0.0/8", 0 },
    { "11.0.0.0", NULL, 1 },
    { "100.63.255.255", NULL, 1 },
    { "100.64.0.0", "100.64.0.0/10", 1 },
    { "100.127.255.255", "100.64.0.0/10", 1 },
    { "100.128.0.0", NULL, 1 },
    { "126.255.255.255", NULL, 1 },
    { "127.0.0.0", "127.0.0.0/8", 0 },
    { "127.0.0.1", "127.0.0.0/8", 1 },
    { "127.0.0.2", "127.0.0.0/8", 0 },
    { "127.255.255.255", "127.0.0.0/8", 0 },
    { "128.0.0.0", NULL, 1 },
    { "169.253.255.255", NULL, 1 },
    { "169.254.0.0", "169.254.0.0/16", 0 },
    { "169.254.169.254", "169.254.0.0/16", 0 },
    { "169.254.255.255", "169.254.0.0/16", 0 },
    { "169.255.0.0", NULL, 1 },
    { "172.15.255.255", NULL, 1 },
    { "172.16.0.0", "172.16.0.0/12", 0 },
    { "172.31.255.255", "172.16.0.0/12", 0 },
    { "172.32.0.0", NULL, 1 },
    { "191.255.255.255", NULL, 1 },
    { "192.0.0.0", "192.0.0.0/24", 0 },
    { "192.0.0.255", "192.0.0.0/24", 0 },
    { "192.0.1.0", NULL, 1 },
    { "192.0.2.0", "192.0.2.0/24", 0 },
    { "192.0.2.255", "192.0.2.0/24", 0 },
    { "192.0.3.0", NULL, 1 },
    { "192.88.99.1", "192.88.99.0/24", 0 },
    { "192.167.255.255", NULL, 1 },
    { "192.168.0.0", "192.168.0.0/16", 0 },
    { "192.168.1.7", "192.168.0.0/16", 1 },
    { "192.168.1.8", "192.168.0.0/16", 0 },
    { "192.168.255.255", "192.168.0.0/16", 0 },
    { "192.169.0.0", NULL, 1 },
    { "198.17.255.255", NULL, 1 },
    { "198.18.0.0", "198.18.0.0/15", 0 },
    { "198.19.255.255", "198.18.0.0/15", 0 },
    { "198.20.0.0", NULL, 1 },
    { "198.51.99.255", NULL, 1 },
    { "198.51.100.7", "198.51.100.0/24", 0 },
    { "198.51.101.0", NULL, 1 },
    { "203.0.112.255", NULL, 1 },
    { "203.0.113.0", "203.0.113.0/24", 0 },
    { "203.0.113.255", "203.0.113.0/24", 0 },
    { "203.0.114.0", NULL, 1 },
    { "223.255.255.255", NULL, 1 },
    { "224.0.0.0", "224.0.0.0/4", 0 },
    { "239.255.255.255", "224.0.0.0/4", 0 },
    { "240.0.0.0", "240.0.0.0/4", 0 },
    { "255.255.255.254", "240.0.0.0/4", 0 },
    { "255.255.255.255", "255.255.255.255/32", 0 },

    /* IPv6 */
    { "::", "::/128", 0 },
    { "::1", "::1/128", 0 },
    { "::2", "::/96", 0 },
    { "::127.0.0.1", "::/96", 0 },          /* IPv4-compatible: refused whatever it holds */
    { "::8.8.8.8", "::/96", 0 },
    { "::1:0:0:0", OUTSIDE, 0 },
    { "::ffff:127.0.0.1", "127.0.0.0/8", 1 }, /* mapped: decided as the IPv4 address */
    { "::ffff:10.0.0.5", "10.0.0.0/8", 0 },
    { "::ffff:169.254.169.254", "169.254.0.0/16", 0 },
    { "::ffff:0.0.0.0", "0.0.0.0/8", 0 },
    { "::ffff:8.8.8.8", NULL, 1 },
    { "::fffe:7f00:1", OUTSIDE, 0 },
    { "64:ff9b::8.8.8.8", NULL, 1 },        /* NAT64 of a public address */
    { "64:ff9b::127.0.0.1", "127.0.0.0/8", 1 },
    { "64:ff9b::10.0.0.5", "10.0.0.0/8", 0 },
    { "64:ff9b::169.254.169.254", "169.254.0.0/16", 0 },
    { "64:ff9b:1::1", "64:ff9b:1::/48", 0 },
    { "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", OUTSIDE, 0 },
    { "100::", "100::/64", 0 },
    { "100::ffff:ffff:ffff:ffff", "100::/64", 0 },
    { "100:0:0:1::", OUTSIDE, 0 },
    { "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", OUTSIDE, 0 },
    { "2000::", NULL, 1 },
    { "2001::", "2001::/32", 0 },
    { "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "2001::/32", 0 },
    { "2001:1::1", NULL, 1 },
    { "2001:2::1", "2001:2::/48", 0 },
    { "2001:2:0:ffff::1", "2001:2::/48", 0 },
    { "2001:2:1::", NULL, 1 },
    { "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", NULL, 1 },
    { "2001:db8::", "2001:db8::/32", 0 },
    { "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32", 0 },
    { "2001:db9::", NULL, 1 },
    { "2002:808:808::1", NULL, 1 },         /* 6to4 of 8.8.8.8 */
    { "2002:7f00:1::1", "127.0.0.0/8", 1 },
    { "2002:a9fe:a9fe::", "169.254.0.0/16", 0 },
    { "2002:c0a8:107::", "192.168.0.0/16", 1 },
    { "2606:4700:4700::1111", NULL, 1 },
    { "2a00:1450:4001:81b::200e", NULL, 1 },
    { "3ffe:ffff::", NULL, 1 },
    { "3fff::1", "3fff::/20", 0 },
    { "3fff:fff:ffff::", "3fff::/20", 0 },
    { "3fff:1000::", NULL, 1 },
    { "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL, 1 },
    { "4000::", OUTSIDE, 0 },
    { "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", OUTSIDE, 0 },
    { "fc00::", "fc00::/7", 0 },
    { "fd12:3456::1", "fc00::/7", 1 },
    { "fd12:3457::1", "fc00::/7", 0 },
    { "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::/7", 0 },
    { "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", OUTSIDE, 0 },
    { "fe80::", "fe80::/10", 1 },
    { "fe80::1", "fe80::/10", 1 },
    { "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::/10", 1 },
    { "fec0::1", "fec0::/10", 0 },
    { "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::/10", 0 },
    { "ff00::", "ff00::/8", 0 },
    { "ff02::1", "ff00::/8", 0 },
    { "ff05::1:3", "ff00::/8", 0 },
    { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::/8", 0 },
};

static void test_address_table(void **state)
{
    const struct guards *g = *state;
    size_t n = sizeof(addr_cases) / sizeof(addr_cases[0]), refused = 0;
    assert_true(n >= 60);

    for (size_t i = 0; i < n; i++) {
        const struct addr_case *c = &addr_cases[i];
        struct sockaddr_storage ss;
        socklen_t len = to_sockaddr(c->addr, &ss);
        const struct sockaddr *sa = (const struct sockaddr *)&ss;
        char why[PSW_NETGUARD_WHY_SIZE], want[160];

        snprintf(why, sizeof(why), "untouched");
        int rc = psw_netguard_check(&g->def, sa, len, why, sizeof(why));
        if (!c->range) {
            if (rc != 0)
                fail_msg("%s: default should allow it, refused: %s", c->addr, why);
            assert_string_equal(why, "untouched");
        } else {
            if (rc != -1)
                fail_msg("%s: default should refuse it (%s)", c->addr, c->range);
            /* "address <canonical text> … (<range>); set …" */
            char canon[INET6_ADDRSTRLEN];
            const void *bin = sa->sa_family == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)(void *)&ss)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr;
            assert_non_null(inet_ntop(sa->sa_family, bin, canon, sizeof(canon)));
            snprintf(want, sizeof(want), "address %s ", canon);
            if (strncmp(why, want, strlen(want)) != 0)
                fail_msg("%s: reason does not name the address: %s", c->addr, why);
            if (strcmp(c->range, OUTSIDE) == 0)
                snprintf(want, sizeof(want), "(outside 2000::/3)" HINT);
            else
                snprintf(want, sizeof(want), "(%s)" HINT, c->range);
            size_t wl = strlen(want), yl = strlen(why);
            if (yl < wl || strcmp(why + yl - wl, want) != 0)
                fail_msg("%s: reason should end with \"%s\": %s", c->addr, want, why);
            refused++;
        }

        rc = psw_netguard_check(&g->list, sa, len, why, sizeof(why));
        if (rc != (c->listed ? 0 : -1))
            fail_msg("%s: with allowed_networks expected %s, got %d (%s)", c->addr,
                     c->listed ? "allowed" : "refused", rc, rc ? why : "");

        if (psw_netguard_check(&g->open, sa, len, why, sizeof(why)) != 0)
            fail_msg("%s: allow_private_networks should allow it", c->addr);
    }
    /* The table is not lopsided: both outcomes are well represented. */
    assert_true(refused >= 80);
    assert_true(n - refused >= 35);
}

static void check_why(const struct psw_netguard *g, const char *addr, const char *want)
{
    struct sockaddr_storage ss;
    socklen_t len = to_sockaddr(addr, &ss);
    char why[PSW_NETGUARD_WHY_SIZE];
    assert_int_equal(psw_netguard_check(g, (const struct sockaddr *)&ss, len, why, sizeof(why)),
                     -1);
    assert_string_equal(why, want);
}

static void test_reasons(void **state)
{
    const struct guards *g = *state;
    check_why(&g->def, "10.0.0.5",
              "address 10.0.0.5 is in a private network (10.0.0.0/8)" HINT);
    check_why(&g->def, "127.0.0.1", "address 127.0.0.1 is loopback (127.0.0.0/8)" HINT);
    check_why(&g->def, "169.254.169.254",
              "address 169.254.169.254 is link-local (where cloud metadata services answer) "
              "(169.254.0.0/16)" HINT);
    check_why(&g->def, "100.64.1.1",
              "address 100.64.1.1 is in the shared CGNAT network (100.64.0.0/10)" HINT);
    check_why(&g->def, "255.255.255.255",
              "address 255.255.255.255 is the broadcast address (255.255.255.255/32)" HINT);
    check_why(&g->def, "::1", "address ::1 is loopback (::1/128)" HINT);
    check_why(&g->def, "::", "address :: is unspecified (::/128)" HINT);
    check_why(&g->def, "::ffff:127.0.0.1",
              "address ::ffff:127.0.0.1 is loopback (127.0.0.0/8)" HINT);
    check_why(&g->def, "64:ff9b::a00:5",
              "address 64:ff9b::a00:5 carries 10.0.0.5 (NAT64 64:ff9b::/96), which is in a "
              "private network (10.0.0.0/8)" HINT);
    check_why(&g->def, "2002:7f00:1::",
              "address 2002:7f00:1:: carries 127.0.0.1 (6to4 2002::/16), which is loopback "
              "(127.0.0.0/8)" HINT);
    check_why(&g->def, "2001::1", "address 2001::1 is a Teredo tunnel address (2001::/32)" HINT);
    check_why(&g->def, "fd00::1",
              "address fd00::1 is in a private network (unique local) (fc00::/7)" HINT);
    check_why(&g->def, "4000::1",
              "address 4000::1 is not a global unicast address (outside 2000::/3)" HINT);
    /* The message is cut, never overrun. */
    struct sockaddr_storage ss;
    socklen_t len = to_sockaddr("10.0.0.5", &ss);
    char small[12];
    memset(small, 'x', sizeof(small));
    assert_int_equal(psw_netguard_check(&g->def, (const struct sockaddr *)&ss, len, small, 8), -1);
    assert_string_equal(small, "address");
    assert_int_equal(small[8], 'x');
}

static void test_other_families(void **state)
{
    const struct guards *g = *state;
    struct sockaddr_un un = { 0 };
    struct sockaddr_in in = { 0 };
    char why[PSW_NETGUARD_WHY_SIZE];
    un.sun_family = AF_UNIX;
    assert_int_equal(psw_netguard_check(&g->def, (struct sockaddr *)&un, sizeof(un), why,
                                        sizeof(why)), -1);
    assert_string_equal(why, "address family 1 is not IPv4 or IPv6");
    assert_int_equal(psw_netguard_check(&g->open, (struct sockaddr *)&un, sizeof(un), why,
                                        sizeof(why)), 0);
    /* A truncated sockaddr_in is not read past its length. */
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(0x08080808);
    assert_int_equal(psw_netguard_check(&g->def, (struct sockaddr *)&in, 4, why, sizeof(why)),
                     -1);
    assert_string_equal(why, "a truncated IPv4 address (4 bytes)");
    assert_int_equal(psw_netguard_check(&g->def, NULL, 0, why, sizeof(why)), -1);
    assert_string_equal(why, "no address");
    assert_int_equal(psw_netguard_check(&g->def, (struct sockaddr *)&in, sizeof(in), why,
                                        sizeof(why)), 0);
}

static void test_allowed_networks_edges(void **state)
{
    (void)state;
    struct psw_netguard g;
    struct sockaddr_storage ss;
    char why[PSW_NETGUARD_WHY_SIZE];
    socklen_t len;

    /* Everything IPv4, nothing IPv6 but what the IPv6 rules allow. */
    guard_from(&g, "http: {allowed_networks: [0.0.0.0/0]}\n");
    assert_false(g.allow_all);
    assert_int_equal(g.nallowed, 1);
    static const char *const v4_all[] = { "127.0.0.1", "10.0.0.1", "169.254.169.254",
                                          "255.255.255.255", "::ffff:127.0.0.1",
                                          "64:ff9b::7f00:1", "2002:a00:1::" };
    for (size_t i = 0; i < sizeof(v4_all) / sizeof(v4_all[0]); i++) {
        len = to_sockaddr(v4_all[i], &ss);
        if (psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)) != 0)
            fail_msg("0.0.0.0/0 should allow %s: %s", v4_all[i], why);
    }
    len = to_sockaddr("::1", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), -1);
    len = to_sockaddr("::127.0.0.1", &ss); /* IPv4-compatible is not an IPv4 address */
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), -1);

    /* A v6 entry covering the mapped block opens the mapped form only. */
    guard_from(&g, "http: {allowed_networks: [\"::ffff:0:0/96\", \"::1/128\"]}\n");
    len = to_sockaddr("::ffff:10.9.9.9", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), 0);
    len = to_sockaddr("::1", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), 0);
    len = to_sockaddr("10.9.9.9", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), -1);
    len = to_sockaddr("::2", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), -1);

    /* Host bits in an entry are ignored: 10.1.2.3/8 is 10.0.0.0/8. */
    guard_from(&g, "http: {allowed_networks: [10.1.2.3/8]}\n");
    len = to_sockaddr("10.200.0.1", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), 0);
    len = to_sockaddr("11.0.0.1", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), 0);
    len = to_sockaddr("172.16.0.1", &ss);
    assert_int_equal(psw_netguard_check(&g, (struct sockaddr *)&ss, len, why, sizeof(why)), -1);

    /* A config that bypassed the loader: the bad entry is named. */
    struct psw_config cfg = { 0 };
    char good_net[] = "10.0.0.0/8", bad_net[] = "10.0.0.0/33";
    cfg.http_allowed_networks[0] = good_net;
    cfg.http_allowed_networks[1] = bad_net;
    cfg.http_allowed_networks_n = 2;
    assert_int_equal(psw_netguard_init(&g, &cfg, why, sizeof(why)), -1);
    assert_string_equal(why, "http.allowed_networks: entry 2: expected a CIDR network (e.g. "
                             "10.0.0.0/8, fd00::/8), got \"10.0.0.0/33\"");
    assert_int_equal(g.nallowed, 0);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int family, bits;
        const char *net; /* the network address after clearing host bits */
    } good[] = {
        { "10.0.0.0/8", AF_INET, 8, "10.0.0.0" },
        { "10.1.2.3/8", AF_INET, 8, "10.0.0.0" },
        { "172.31.255.255/12", AF_INET, 12, "172.16.0.0" },
        { "192.168.1.7/32", AF_INET, 32, "192.168.1.7" },
        { "192.168.1.7/31", AF_INET, 31, "192.168.1.6" },
        { "1.2.3.4/0", AF_INET, 0, "0.0.0.0" },
        { "fd12:3456:789a::1/32", AF_INET6, 32, "fd12:3456::" },
        { "fe80::1/10", AF_INET6, 10, "fe80::" },
        { "febf::1/10", AF_INET6, 10, "fe80::" },
        { "::1/128", AF_INET6, 128, "::1" },
        { "::/0", AF_INET6, 0, "::" },
        { "2001:db8::ff/121", AF_INET6, 121, "2001:db8::80" },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct psw_cidr c;
        char err[160], text[INET6_ADDRSTRLEN];
        if (psw_cidr_parse(good[i].text, &c, err, sizeof(err)) < 0)
            fail_msg("%s: %s", good[i].text, err);
        assert_int_equal(c.family, good[i].family);
        assert_int_equal(c.bits, good[i].bits);
        assert_non_null(inet_ntop(c.family, c.addr, text, sizeof(text)));
        if (strcmp(text, good[i].net) != 0)
            fail_msg("%s: network %s, expected %s", good[i].text, text, good[i].net);
    }
    static const char *const bad[] = { "10.0.0.0", "10.0.0.0/33", "::1/129", "/8", "10.0.0/8",
                                       "10.0.0.0/+8", "10.0.0.0/", "10.0.0.0/8x",
                                       "10.0.0.0/0008", "example.com/8", "0x7f.1/8",
                                       "2130706433/32", "[::1]/128", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct psw_cidr c;
        char err[160], want[160];
        if (psw_cidr_parse(bad[i], &c, err, sizeof(err)) == 0)
            fail_msg("\"%s\" should not parse", bad[i]);
        snprintf(want, sizeof(want),
                 "expected a CIDR network (e.g. 10.0.0.0/8, fd00::/8), got \"%s\"", bad[i]);
        assert_string_equal(err, want);
        assert_int_equal(c.family, 0);
    }
    struct psw_cidr c;
    char err[160];
    assert_int_equal(psw_cidr_parse(NULL, &c, err, sizeof(err)), -1);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    struct psw_cidr c;
    char err[160];
    unsigned char a4[4], a6[16];

    assert_int_equal(psw_cidr_parse("172.16.0.0/12", &c, err, sizeof(err)), 0);
    inet_pton(AF_INET, "172.16.0.0", a4);
    assert_int_equal(psw_cidr_contains(&c, AF_INET, a4), 1);
    inet_pton(AF_INET, "172.31.255.255", a4);
    assert_int_equal(psw_cidr_contains(&c, AF_INET, a4), 1);
    inet_pton(AF_INET, "172.32.0.0", a4);
    assert_int_equal(psw_cidr_contains(&c, AF_INET, a4), 0);
    inet_pton(AF_INET, "172.15.255.255", a4);
    assert_int_equal(psw_cidr_contains(&c, AF_INET, a4), 0);
    inet_pton(AF_INET6, "::ffff:172.16.0.1", a6);
    assert_int_equal(psw_cidr_contains(&c, AF_INET6, a6), 0); /* other family */

    assert_int_equal(psw_cidr_parse("0.0.0.0/0", &c, err, sizeof(err)), 0);
    inet_pton(AF_INET, "255.255.255.255", a4);
    assert_int_equal(psw_cidr_contains(&c, AF_INET, a4), 1);

    assert_int_equal(psw_cidr_parse("2001:db8::1/128", &c, err, sizeof(err)), 0);
    inet_pton(AF_INET6, "2001:db8::1", a6);
    assert_int_equal(psw_cidr_contains(&c, AF_INET6, a6), 1);
    inet_pton(AF_INET6, "2001:db8::", a6);
    assert_int_equal(psw_cidr_contains(&c, AF_INET6, a6), 0);

    assert_int_equal(psw_cidr_parse("8000::/1", &c, err, sizeof(err)), 0);
    inet_pton(AF_INET6, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", a6);
    assert_int_equal(psw_cidr_contains(&c, AF_INET6, a6), 0);
    inet_pton(AF_INET6, "8000::", a6);
    assert_int_equal(psw_cidr_contains(&c, AF_INET6, a6), 1);
}

/* URL hosts: the address each literal form denotes, or NULL for a name. */
static const struct {
    const char *host;
    const char *addr;
} literals[] = {
    { "127.0.0.1", "127.0.0.1" },
    { "2130706433", "127.0.0.1" },         /* one decimal number */
    { "017700000001", "127.0.0.1" },       /* one octal number */
    { "0x7f000001", "127.0.0.1" },         /* one hex number */
    { "0X7F000001", "127.0.0.1" },
    { "0x7f.1", "127.0.0.1" },             /* a.b: b is 24 bits */
    { "127.1", "127.0.0.1" },
    { "127.0.1", "127.0.0.1" },            /* a.b.c: c is 16 bits */
    { "0177.0.0.1", "127.0.0.1" },         /* octal part */
    { "0x7f.0x0.0x0.0x1", "127.0.0.1" },
    { "127.000.000.001", "127.0.0.1" },
    { "0xa9.0xfe.0xa9.0xfe", "169.254.169.254" },
    { "2852039166", "169.254.169.254" },
    { "012.0.0.1", "10.0.0.1" },           /* a leading zero is octal: 012 = 10 */
    { "0", "0.0.0.0" },
    { "4294967295", "255.255.255.255" },
    { "8.8.8.8", "8.8.8.8" },
    { "127.0.0.1.", "127.0.0.1" },         /* the absolute form */
    { "[::1]", "::1" },
    { "::1", "::1" },
    { "[::]", "::" },
    { "[::ffff:127.0.0.1]", "::ffff:127.0.0.1" },
    { "[::ffff:7f00:1]", "::ffff:127.0.0.1" },
    { "[fe80::1%25eth0]", "fe80::1" },     /* zone, percent-encoded as in a URL */
    { "[fe80::1%eth0]", "fe80::1" },
    { "[2001:DB8::1]", "2001:db8::1" },
    { "localhost", NULL },
    { "example.com", NULL },
    { "cafe", NULL },                      /* hex digits, but not a number inet_aton takes */
    { "dead.beef", NULL },
    { "0xdead.0xbeef", NULL },             /* first part over 255 */
    { "4294967296", NULL },                /* over 32 bits */
    { "1.2.3.4.5", NULL },
    { "08.1.1.1", NULL },                  /* 8 is not octal */
    { "1e1", NULL },
    { "0x", NULL },
    { "1..2", NULL },
    { "127.0.0.1 ", NULL },                /* inet_aton would stop at the space */
    { "127.0.0.1\tx", NULL },
    { "127.0.0.1..", NULL },
    { ".", NULL },
    { "", NULL },
    { "[::1", NULL },
    { "[]", NULL },
    { "[127.0.0.1]", NULL },
    { "[::1]:80", NULL },
    { "::g", NULL },
};

static void test_literals(void **state)
{
    const struct guards *g = *state;
    for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        char text[INET6_ADDRSTRLEN], why[PSW_NETGUARD_WHY_SIZE];
        int rc = psw_netguard_parse_literal(literals[i].host, &ss, &len);
        if (!literals[i].addr) {
            if (rc != -1)
                fail_msg("\"%s\" is a name, parsed as a literal", literals[i].host);
            assert_int_equal(psw_netguard_check_literal(&g->def, literals[i].host, why,
                                                        sizeof(why)), 0);
            continue;
        }
        if (rc != 0)
            fail_msg("\"%s\" should parse as %s", literals[i].host, literals[i].addr);
        const void *bin = ss.ss_family == AF_INET
                              ? (const void *)&((struct sockaddr_in *)(void *)&ss)->sin_addr
                              : (const void *)&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr;
        assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                      : sizeof(struct sockaddr_in6));
        assert_non_null(inet_ntop(ss.ss_family, bin, text, sizeof(text)));
        if (strcmp(text, literals[i].addr) != 0)
            fail_msg("\"%s\" parsed as %s, expected %s", literals[i].host, text,
                     literals[i].addr);
        /* The literal decision is the address decision. */
        struct sockaddr_storage want;
        socklen_t wl = to_sockaddr(literals[i].addr, &want);
        char why2[PSW_NETGUARD_WHY_SIZE];
        int a = psw_netguard_check_literal(&g->def, literals[i].host, why, sizeof(why));
        int b = psw_netguard_check(&g->def, (struct sockaddr *)&want, wl, why2, sizeof(why2));
        assert_int_equal(a, b);
        if (a < 0)
            assert_string_equal(why, why2);
    }
    char why[PSW_NETGUARD_WHY_SIZE];
    assert_int_equal(psw_netguard_check_literal(&g->def, "2130706433", why, sizeof(why)), -1);
    assert_string_equal(why, "address 127.0.0.1 is loopback (127.0.0.0/8)" HINT);
    assert_int_equal(psw_netguard_check_literal(&g->list, "2130706433", why, sizeof(why)), 0);
    assert_int_equal(psw_netguard_check_literal(&g->def, NULL, why, sizeof(why)), 0);
}

static void test_urls(void **state)
{
    const struct guards *g = *state;
    static const struct {
        const char *url;
        const char *blocked; /* the address named, NULL = passes */
        int listed;          /* passes under LIST_YAML */
    } urls[] = {
        { "http://127.0.0.1:8080/x", "127.0.0.1", 1 },
        { "http://2130706433/", "127.0.0.1", 1 },
        { "http://0x7f.1/", "127.0.0.1", 1 },
        { "http://%31%32%37.0.0.1/", "127.0.0.1", 1 }, /* curl decodes the host */
        { "http://127.0.0.1./", "127.0.0.1", 1 },
        { "http://[::1]/", "::1", 0 },
        { "https://[::1]:8443/hooks?a=1", "::1", 0 },
        { "http://[::ffff:169.254.169.254]/latest/meta-data/", "::ffff:169.254.169.254", 0 },
        { "http://[fe80::1%25eth0]/", "fe80::1", 1 },
        { "http://169.254.169.254/latest/meta-data/", "169.254.169.254", 0 },
        { "http://10.1.0.9/", "10.1.0.9", 1 },
        { "http://0/", "0.0.0.0", 0 },
        { "https://example.com/hook", NULL, 1 },
        { "http://localhost:9/", NULL, 1 },         /* a name: checked at connect time */
        { "http://8.8.8.8/", NULL, 1 },
        { "http://[2606:4700:4700::1111]/", NULL, 1 },
        { "not a url", NULL, 1 },                   /* psw_url_check's business */
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char why[PSW_NETGUARD_WHY_SIZE], want[96];
        int rc = psw_netguard_check_url(&g->def, urls[i].url, why, sizeof(why));
        if (!urls[i].blocked) {
            if (rc != 0)
                fail_msg("%s: should pass, refused: %s", urls[i].url, why);
        } else {
            if (rc != -1)
                fail_msg("%s: should be refused", urls[i].url);
            snprintf(want, sizeof(want), "address %s is ", urls[i].blocked);
            if (strncmp(why, want, strlen(want)) != 0)
                fail_msg("%s: reason \"%s\" should start \"%s\"", urls[i].url, why, want);
        }
        rc = psw_netguard_check_url(&g->list, urls[i].url, why, sizeof(why));
        if (rc != (urls[i].listed ? 0 : -1))
            fail_msg("%s: with allowed_networks got %d", urls[i].url, rc);
        assert_int_equal(psw_netguard_check_url(&g->open, urls[i].url, why, sizeof(why)), 0);
    }
}

/* http.no_proxy matching: which hosts skip http.proxy (and get the guard). */
static void test_no_proxy(void **state)
{
    (void)state;
    static const struct {
        const char *list, *host;
        int want;
    } cases[] = {
        { "", "example.com", 0 },
        { "*", "anything.example", 1 },
        { "*", "[::1]", 1 },
        { "example.com", "example.com", 1 },
        { "example.com", "EXAMPLE.com.", 1 },
        { "example.com", "api.example.com", 1 },
        { ".example.com", "api.example.com", 1 },
        { ".example.com", "example.com", 1 },
        { "example.com.", "a.b.example.com", 1 },
        { "example.com", "badexample.com", 0 },
        { "example.com", "example.com.evil", 0 },
        { "api.example.com", "example.com", 0 },
        { "a.test, example.com", "x.example.com", 1 },
        { "a.test,,b.test", "b.test", 1 },
        { "a.test,", "c.test", 0 },
        { "10.1.2.3", "10.1.2.3", 1 },
        { "10.1.2.3", "110.1.2.3", 0 },
        { "::1", "[::1]", 1 },
        { "::1", "::1", 1 },
        { "*.example.com", "api.example.com", 0 }, /* no wildcards but "*" alone */
        { "localhost", "localhost", 1 },
        { "localhost", NULL, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (psw_netguard_no_proxy(cases[i].list, cases[i].host) != cases[i].want)
            fail_msg("no_proxy \"%s\" host \"%s\": expected %d", cases[i].list,
                     cases[i].host ? cases[i].host : "(null)", cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_table),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_other_families),
        cmocka_unit_test(test_allowed_networks_edges),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_no_proxy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
