/*
 * test_receiving.c — the receiver-side verifiers of docs/receiving.md
 * (docs/examples/verify.{c,js,py,go,php}) run for real against requests a
 * real deployment delivered (docs/receiving.md).
 *
 * The group setup starts a cluster (tests/harness/cluster.h), creates an
 * endpoint with a generated secret, publishes an event and captures the
 * request the receiver got: the exact body bytes and X-PostStack-Signature.
 * It then rotates the secret with a grace and captures a second delivery,
 * whose header carries two v1= values. The cluster is stopped once both are
 * captured: everything after works on those bytes.
 *
 * Each language test builds or locates its example and runs one table of
 * cases through it (argv or environment, raw body on stdin): the real
 * request, tampered bodies, wrong secrets, timestamps just inside and just
 * outside the tolerance both ways (headers signed here with psw_sign_header),
 * the rotation header with either secret, malformed headers and the quirks a
 * receiver must accept (unknown schemes, any order, uppercase hex, a decoy
 * v1). Before it runs, every case is checked against the library's own
 * psw_sign_verify, so the table cannot drift from the reference; the example
 * must then print exactly psw_verify_result_str of that result and exit 0
 * (valid) or 1. C, Node.js and Python must run; Go and PHP are skipped with
 * a message when `go` / `php` is not on PATH. Two last tests read
 * docs/receiving.md: its code blocks must be the example files byte for byte,
 * and its sample request (a real capture) must verify with the secret named.
 *
 * Ownership: the captured bodies, the work directory (bodies, outputs, built
 * verifiers) and the paths live in G and are released by the group teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/endpoint.h"
#include "common/sign.h"
#include "tests/harness/cluster.h"

extern char **environ;

#define WAIT_MS 10000  /* bound for a delivery that should take well under a second */
#define RUN_MS 20000   /* bound for one run of an example (a build included) */
#define OUT_MAX 4096
#define HDR_MAX (PSW_SIGNATURE_SIZE + 128)
#define MAX_CASES 64
#define GRACE_MS (3600 * 1000LL)

static const char *const EXAMPLES[] = {
    "docs/examples/verify.c",  "docs/examples/verify.js", "docs/examples/verify.py",
    "docs/examples/verify.go", "docs/examples/verify.php",
};
#define NEXAMPLES (sizeof(EXAMPLES) / sizeof(EXAMPLES[0]))

/* The bodies a case can send; files in G.dir, written by the setup. */
enum body_kind { B_REAL, B_TAMPERED, B_NEWLINE, B_EMPTY, B_ROTATED, B_COUNT };
static const char *const BODY_FILE[B_COUNT] = { "body-real", "body-tampered", "body-newline",
                                                "body-empty", "body-rotated" };

static struct {
    const char *src;                     /* $PSW_SRC */
    char *dir;                           /* work directory (tmpdir_new) */
    char secret_old[PSW_SECRET_SIZE];    /* the endpoint's first secret */
    char secret_new[PSW_SECRET_SIZE];    /* after the rotation */
    char wrong[PSW_SECRET_SIZE];         /* secret_old with its last character changed */
    char evt1[160], evt2[160];
    char *body[B_COUNT];
    size_t body_len[B_COUNT];
    char sig1[HDR_MAX];                  /* X-PostStack-Signature of the first delivery */
    char sig2[HDR_MAX];                  /* ... of the delivery during the rotation */
    char content_type[128], event_type[64], user_agent[128];
} G;

/* ---- running a program ------------------------------------------------- */

/* The absolute path of name found on PATH into out; 0, or -1 when absent. */
static int which(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0) {
            snprintf(out, n, "%.*s/%s", (int)len, p, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        p += len;
        if (*p == ':')
            p++;
    }
    out[0] = '\0';
    return -1;
}

struct run {
    int code;            /* exit code; 128+N when killed by signal N; -1 timeout/spawn */
    char out[OUT_MAX];   /* standard output */
    char err[OUT_MAX];   /* standard error */
};

static void slurp(const char *path, char *out, size_t n)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    snprintf(out, n, "%s", text ? text : "");
    free(text);
}

/* Runs argv (argv[0] an absolute path) with stdin from the file stdin_path
 * (NULL = /dev/null), the environment without POSTSTACK_* plus env
 * ("K=V" strings, NULL-terminated, may be NULL), bounded by RUN_MS. */
static void run_prog(const char *const argv[], const char *const env[], const char *stdin_path,
                     struct run *r)
{
    char out_path[600], err_path[600];
    const char *envp[512];
    size_t ne = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    pid_t pid;
    int status = 0;

    memset(r, 0, sizeof(*r));
    r->code = -1;
    for (char **e = environ; *e && ne < 480; e++)
        if (strncmp(*e, "POSTSTACK_", 10) != 0)
            envp[ne++] = *e;
    for (size_t i = 0; env && env[i] && ne < 510; i++)
        envp[ne++] = env[i];
    envp[ne] = NULL;

    snprintf(out_path, sizeof(out_path), "%s/out", G.dir);
    snprintf(err_path, sizeof(err_path), "%s/err", G.dir);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    /* The harness ignores SIGPIPE in the test process; children get it back. */
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        snprintf(r->err, sizeof(r->err), "cannot start %s: %s", argv[0], strerror(rc));
        return;
    }
    long long until = harness_mono_ms() + RUN_MS;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(r->err, sizeof(r->err), "waitpid: %s", strerror(errno));
            return;
        }
        if (harness_mono_ms() >= until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            slurp(err_path, r->err, sizeof(r->err));
            fprintf(stderr, "%s: no exit within %d ms; killed\n", argv[0], RUN_MS);
            return;
        }
        struct timespec ts = { 0, 2 * 1000000L };
        nanosleep(&ts, NULL);
    }
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    slurp(out_path, r->out, sizeof(r->out));
    slurp(err_path, r->err, sizeof(r->err));
}

/* ---- the captured deliveries -------------------------------------------- */

static int count_v1(const char *h)
{
    int n = 0;
    for (const char *p = h; (p = strstr(p, "v1=")) != NULL; p += 3)
        n++;
    return n;
}

/* The t= of a header produced by psw_sign_header; -1 if absent. */
static long long header_t(const char *h)
{
    if (strncmp(h, "t=", 2) != 0)
        return -1;
    char *end;
    errno = 0;
    long long t = strtoll(h + 2, &end, 10);
    return errno || end == h + 2 || (*end && *end != ',') ? -1 : t;
}

/* Waits for the n-th request on /hook and copies its body and headers. */
static int capture(struct cluster *c, size_t n, enum body_kind kind, char *sig, size_t sign,
                   const char *evt)
{
    struct rx_request *reqs = NULL;
    int rc = -1;

    if (rx_wait(c->rx, "/hook", n, WAIT_MS) < 0) {
        fprintf(stderr, "setup: delivery %zu did not arrive within %d ms\n", n, WAIT_MS);
        return -1;
    }
    size_t got = rx_requests(c->rx, "/hook", &reqs);
    if (got < n)
        goto cleanup;
    const struct rx_request *r = &reqs[n - 1];
    const char *h = rx_header(r, "X-PostStack-Signature");
    const char *id = rx_header(r, "X-PostStack-Event-Id");
    if (!h || !id || strcmp(id, evt) != 0) {
        fprintf(stderr, "setup: request %zu: signature \"%s\", event id \"%s\" (wanted %s)\n", n,
                h ? h : "(none)", id ? id : "(none)", evt);
        goto cleanup;
    }
    snprintf(sig, sign, "%s", h);
    if (!(G.body[kind] = malloc(r->body_len + 1)))
        goto cleanup;
    memcpy(G.body[kind], r->body, r->body_len);
    G.body[kind][r->body_len] = '\0';
    G.body_len[kind] = r->body_len;
    if (n == 1) {
        snprintf(G.content_type, sizeof(G.content_type), "%s",
                 rx_header(r, "Content-Type") ? rx_header(r, "Content-Type") : "");
        snprintf(G.event_type, sizeof(G.event_type), "%s",
                 rx_header(r, "X-PostStack-Event-Type") ? rx_header(r, "X-PostStack-Event-Type")
                                                        : "");
        snprintf(G.user_agent, sizeof(G.user_agent), "%s",
                 rx_header(r, "User-Agent") ? rx_header(r, "User-Agent") : "");
    }
    rc = 0;

cleanup:
    rx_requests_free(reqs, got);
    return rc;
}

static const char EVENT1[] =
    "{\"id\": \"evt_receiving_1\", \"type\": \"email.bounced\", \"account_id\": \"acct_rx\","
    " \"domain\": \"mail.example.com\", \"created_at\": \"2026-11-27T15:04:05.123Z\","
    " \"data\": {\"message_id\": \"<abc@mail.example.com>\", \"from\": \"news@mail.example.com\","
    " \"to\": \"alice@example.org\", \"subject\": \"Ihre Bestätigung — «ok» / 確認\","
    " \"tags\": [\"proposal\"], \"metadata\": {\"user_id\": \"u_1\", \"amount\": 1.50},"
    " \"bounce\": {\"type\": \"hard\", \"code\": \"5.1.1\","
    " \"reason\": \"mailbox does not exist\"}}}";

static const char EVENT2[] =
    "{\"id\": \"evt_receiving_2\", \"type\": \"email.delivered\", \"account_id\": \"acct_rx\","
    " \"domain\": \"mail.example.com\","
    " \"data\": {\"message_id\": \"<def@mail.example.com>\", \"to\": \"bob@example.org\","
    " \"delivery\": {\"smtp_response\": \"250 2.0.0 OK\"}}}";

static int write_bodies(void)
{
    /* One byte changed in the middle; one newline appended; nothing at all. */
    size_t n = G.body_len[B_REAL];
    G.body[B_TAMPERED] = malloc(n + 1);
    G.body[B_NEWLINE] = malloc(n + 2);
    G.body[B_EMPTY] = calloc(1, 1);
    if (!G.body[B_TAMPERED] || !G.body[B_NEWLINE] || !G.body[B_EMPTY] || n < 2)
        return -1;
    memcpy(G.body[B_TAMPERED], G.body[B_REAL], n + 1);
    G.body[B_TAMPERED][n / 2] ^= 0x01;
    G.body_len[B_TAMPERED] = n;
    memcpy(G.body[B_NEWLINE], G.body[B_REAL], n);
    G.body[B_NEWLINE][n] = '\n';
    G.body[B_NEWLINE][n + 1] = '\0';
    G.body_len[B_NEWLINE] = n + 1;
    G.body_len[B_EMPTY] = 0;
    for (int k = 0; k < B_COUNT; k++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", G.dir, BODY_FILE[k]);
        FILE *f = fopen(path, "wb");
        if (!f)
            return -1;
        size_t w = fwrite(G.body[k], 1, G.body_len[k], f);
        if (fclose(f) != 0 || w != G.body_len[k])
            return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    struct cluster c;
    struct psw_endpoint ep;
    char id[PSW_ID_SIZE], err[512];
    int n = 0, rc = -1;

    memset(&ep, 0, sizeof(ep));
    unsetenv("POSTSTACK_SECRET");
    unsetenv("POSTSTACK_SIGNATURE");
    if (!(G.src = getenv("PSW_SRC"))) {
        fprintf(stderr, "setup: PSW_SRC is not set (run through tests/run.sh)\n");
        return -1;
    }
    if (!(G.dir = tmpdir_new()))
        return -1;
    if (cluster_start(&c, NULL, 1, 1) < 0)
        goto cleanup;
    if (cluster_endpoint(&c, "acct_rx", "/hook", NULL, NULL, NULL, id, G.secret_old,
                         sizeof(G.secret_old)) < 0)
        goto cleanup;
    if (cluster_publish(&c, EVENT1, G.evt1, sizeof(G.evt1), &n) != 0 || n != 1)
        goto cleanup;
    if (capture(&c, 1, B_REAL, G.sig1, sizeof(G.sig1), G.evt1) < 0)
        goto cleanup;
    if (psw_endpoint_rotate_secret(&c.ctx, id, NULL, GRACE_MS, &ep, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: rotate: %s\n", err);
        goto cleanup;
    }
    snprintf(G.secret_new, sizeof(G.secret_new), "%s", ep.secret);
    if (cluster_publish(&c, EVENT2, G.evt2, sizeof(G.evt2), &n) != 0 || n != 1)
        goto cleanup;
    if (capture(&c, 2, B_ROTATED, G.sig2, sizeof(G.sig2), G.evt2) < 0)
        goto cleanup;
    snprintf(G.wrong, sizeof(G.wrong), "%s", G.secret_old);
    size_t wl = strlen(G.wrong);
    G.wrong[wl - 1] = G.wrong[wl - 1] == 'A' ? 'B' : 'A';
    if (write_bodies() < 0) {
        fprintf(stderr, "setup: cannot write the bodies into %s\n", G.dir);
        goto cleanup;
    }
    rc = 0;

cleanup:
    psw_endpoint_free(&ep);
    cluster_stop(&c, rc != 0);
    return rc;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int k = 0; k < B_COUNT; k++) {
        free(G.body[k]);
        G.body[k] = NULL;
    }
    tmpdir_remove(G.dir);
    free(G.dir);
    G.dir = NULL;
    return 0;
}

/* The deliveries themselves: what the doc's "what arrives" promises, and the
 * exact headers psw_sign_header makes (one v1; then new and old, newest first). */
static void test_captured_requests(void **state)
{
    (void)state;
    char want[HDR_MAX];
    const char *one[] = { G.secret_old };
    const char *two[] = { G.secret_new, G.secret_old };

    assert_string_equal(G.content_type, "application/json");
    assert_string_equal(G.event_type, "email.bounced");
    assert_true(strncmp(G.user_agent, "PostStack-Webhooks/", 19) == 0);
    assert_int_equal(strncmp(G.secret_old, "whsec_", 6), 0);
    assert_int_equal(strlen(G.secret_old), 50);
    assert_string_not_equal(G.secret_new, G.secret_old);
    /* The normalized event, compact, as docs/receiving.md shows it: raw UTF-8
     * and numbers as published (what re-serializing would change). */
    const char *head = "{\"id\":\"evt_receiving_1\",\"type\":\"email.bounced\",";
    assert_int_equal(strncmp(G.body[B_REAL], head, strlen(head)), 0);
    assert_non_null(strstr(G.body[B_REAL], "\"created_at\":\"2026-11-27T15:04:05.123Z\""));
    assert_non_null(strstr(G.body[B_REAL], "\"subject\":\"Ihre Bestätigung — «ok» / 確認\""));
    assert_non_null(strstr(G.body[B_REAL], "\"amount\":1.50}"));

    long long t1 = header_t(G.sig1);
    assert_true(t1 > 0);
    assert_true(llabs((long long)time(NULL) - t1) < 120);
    assert_int_equal(count_v1(G.sig1), 1);
    assert_true(psw_sign_header(one, 1, t1, G.body[B_REAL], G.body_len[B_REAL], want,
                                sizeof(want)) > 0);
    assert_string_equal(G.sig1, want);

    long long t2 = header_t(G.sig2);
    assert_true(t2 >= t1);
    assert_int_equal(count_v1(G.sig2), 2);
    assert_true(psw_sign_header(two, 2, t2, G.body[B_ROTATED], G.body_len[B_ROTATED], want,
                                sizeof(want)) > 0);
    assert_string_equal(G.sig2, want);
}

/* ---- the case table ------------------------------------------------------ */

#define EXPECT_USAGE (-1)

struct rcase {
    char name[64];
    enum body_kind body;
    const char *secret;
    char header[HDR_MAX];
    const char *tolerance; /* NULL: the default (300) */
    int via_env;           /* secret and header in POSTSTACK_*, not argv */
    int no_args;           /* neither argv nor environment: a usage error */
    int expect;            /* enum psw_verify_result, or EXPECT_USAGE */
};

static struct rcase CASES[MAX_CASES];
static size_t NCASES;

__attribute__((format(printf, 5, 6)))
static void add(const char *name, enum body_kind body, const char *secret, int expect,
                const char *hfmt, ...)
{
    if (NCASES >= MAX_CASES)
        fail_msg("too many cases");
    struct rcase *c = &CASES[NCASES++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->body = body;
    c->secret = secret;
    c->expect = expect;
    va_list ap;
    va_start(ap, hfmt);
    vsnprintf(c->header, sizeof(c->header), hfmt, ap);
    va_end(ap);
}

/* A fresh one-secret header over body signed at ts. */
static const char *signed_at(const char *secret, enum body_kind body, long long ts)
{
    static char ring[8][HDR_MAX];
    static int at;
    char *out = ring[at++ % 8];
    const char *s[] = { secret };
    if (psw_sign_header(s, 1, ts, G.body[body], G.body_len[body], out, HDR_MAX) < 0)
        fail_msg("psw_sign_header failed");
    return out;
}

/* Builds the table relative to now. It is rebuilt before every run, so the
 * time-dependent cases keep their ≥ 9 s of margin whatever the machine. */
static void build_cases(long long now)
{
    const char *so = G.secret_old, *sn = G.secret_new, *sw = G.wrong;
    const int OK = PSW_VERIFY_OK, FMT = PSW_VERIFY_BAD_FORMAT, OLD = PSW_VERIFY_TOO_OLD,
              NEW = PSW_VERIFY_TOO_NEW, NO = PSW_VERIFY_NO_MATCH;
    char hex[65], upper[65];

    NCASES = 0;
    /* The real deliveries. */
    add("real delivery", B_REAL, so, OK, "%s", G.sig1);
    add("real delivery, via environment", B_REAL, so, OK, "%s", G.sig1);
    CASES[NCASES - 1].via_env = 1;
    add("one byte of the body changed", B_TAMPERED, so, NO, "%s", G.sig1);
    add("a newline appended to the body", B_NEWLINE, so, NO, "%s", G.sig1);
    add("empty body", B_EMPTY, so, NO, "%s", G.sig1);
    add("wrong secret", B_REAL, sw, NO, "%s", G.sig1);
    add("secret without whsec_", B_REAL, so + 6, NO, "%s", G.sig1);
    add("rotation header, new secret", B_ROTATED, sn, OK, "%s", G.sig2);
    add("rotation header, old secret", B_ROTATED, so, OK, "%s", G.sig2);
    add("rotation header, old secret, env", B_ROTATED, so, OK, "%s", G.sig2);
    CASES[NCASES - 1].via_env = 1;
    add("rotation header, wrong secret", B_ROTATED, sw, NO, "%s", G.sig2);
    add("new secret only, old secret given", B_ROTATED, so, NO, "%s",
        signed_at(sn, B_ROTATED, now));

    /* The tolerance, both ways. */
    add("t 301 s old", B_REAL, so, OLD, "%s", signed_at(so, B_REAL, now - 301));
    add("t 3600 s old", B_REAL, so, OLD, "%s", signed_at(so, B_REAL, now - 3600));
    add("t 290 s old", B_REAL, so, OK, "%s", signed_at(so, B_REAL, now - 290));
    add("t 310 s ahead", B_REAL, so, NEW, "%s", signed_at(so, B_REAL, now + 310));
    add("t 290 s ahead", B_REAL, so, OK, "%s", signed_at(so, B_REAL, now + 290));
    add("t 60 s old, tolerance 30", B_REAL, so, OLD, "%s", signed_at(so, B_REAL, now - 60));
    CASES[NCASES - 1].tolerance = "30";
    add("t 60 s old, tolerance 120", B_REAL, so, OK, "%s", signed_at(so, B_REAL, now - 60));
    CASES[NCASES - 1].tolerance = "120";
    add("t 60 s ahead, tolerance 0", B_REAL, so, NEW, "%s", signed_at(so, B_REAL, now + 60));
    CASES[NCASES - 1].tolerance = "0";
    add("t 0, wrong MAC too", B_REAL, sw, OLD, "t=0,v1=%064d", 0);

    /* What a receiver must accept, or reject on the MAC alone. */
    const char *fresh = signed_at(so, B_REAL, now);
    snprintf(hex, sizeof(hex), "%s", strstr(fresh, "v1=") + 3);
    for (size_t i = 0; i < 65; i++)
        upper[i] = hex[i] >= 'a' && hex[i] <= 'f' ? (char)(hex[i] - 'a' + 'A') : hex[i];
    add("unknown scheme first", B_REAL, so, OK, "v0=abc,t=%lld,v1=%s", now, hex);
    add("unknown scheme, empty value", B_REAL, so, OK, "t=%lld,v1=%s,v2=", now, hex);
    add("v1 before t", B_REAL, so, OK, "v1=%s,t=%lld", hex, now);
    add("uppercase hex", B_REAL, so, OK, "t=%lld,v1=%s", now, upper);
    add("decoy v1 first", B_REAL, so, OK, "t=%lld,v1=%064d,v1=%s", now, 0, hex);
    add("decoy v1 last", B_REAL, so, OK, "t=%lld,v1=%s,v1=%064d", now, hex, 0);
    add("two wrong v1", B_REAL, so, NO, "t=%lld,v1=%064d,v1=%s", now, 0,
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    add("t changed, MAC kept", B_REAL, so, NO, "t=%lld,v1=%s", now - 1, hex);

    /* Malformed headers. */
    add("empty header", B_REAL, so, FMT, "%s", "");
    add("t only", B_REAL, so, FMT, "t=%lld", now);
    add("v1 only", B_REAL, so, FMT, "v1=%s", hex);
    add("v1 of 63 hex", B_REAL, so, FMT, "t=%lld,v1=%.63s", now, hex);
    add("v1 of 65 hex", B_REAL, so, FMT, "t=%lld,v1=%s0", now, hex);
    add("v1 not hex", B_REAL, so, FMT, "t=%lld,v1=%.63sg", now, hex);
    add("v1 with a newline", B_REAL, so, FMT, "t=%lld,v1=%s\n", now, hex);
    add("t empty", B_REAL, so, FMT, "t=,v1=%s", hex);
    add("t not a number", B_REAL, so, FMT, "t=12a,v1=%s", hex);
    add("t negative", B_REAL, so, FMT, "t=-%lld,v1=%s", now, hex);
    add("t with a newline", B_REAL, so, FMT, "t=%lld\n,v1=%s", now, hex);
    add("t of 13 digits", B_REAL, so, FMT, "t=1%012lld,v1=%s", now, hex);
    add("t twice", B_REAL, so, FMT, "t=%lld,t=%lld,v1=%s", now, now, hex);
    add("T uppercase", B_REAL, so, FMT, "T=%lld,v1=%s", now, hex);
    add("space after the comma", B_REAL, so, FMT, "t=%lld, v1=%s", now, hex);
    add("trailing comma", B_REAL, so, FMT, "t=%lld,v1=%s,", now, hex);
    add("empty item", B_REAL, so, FMT, "t=%lld,,v1=%s", now, hex);
    add("item without =", B_REAL, so, FMT, "t=%lld,junk,v1=%s", now, hex);
    add("item with an empty key", B_REAL, so, FMT, "t=%lld,=x,v1=%s", now, hex);

    /* Usage: nothing to verify with. */
    add("no secret, no header", B_REAL, so, EXPECT_USAGE, "%s", "");
    CASES[NCASES - 1].no_args = 1;

    /* The library is the reference: each case means what the table says. */
    for (size_t i = 0; i < NCASES; i++) {
        const struct rcase *c = &CASES[i];
        if (c->expect == EXPECT_USAGE)
            continue;
        long long tol = c->tolerance ? strtoll(c->tolerance, NULL, 10) : 300;
        enum psw_verify_result r = psw_sign_verify(c->header, G.body[c->body],
                                                   G.body_len[c->body], c->secret, tol, now);
        if ((int)r != c->expect)
            fail_msg("case \"%s\": psw_sign_verify says \"%s\", the table \"%s\"", c->name,
                     psw_verify_result_str(r),
                     psw_verify_result_str((enum psw_verify_result)c->expect));
    }
}

/* Runs every case through the verifier prefix (program + script) and checks
 * stdout and the exit code exactly. */
static void check_language(const char *lang, const char *const prefix[])
{
    const char *argv[16];
    size_t np = 0;
    char path[600], env_secret[600], env_header[HDR_MAX + 32];
    struct run r;

    build_cases((long long)time(NULL));
    size_t ncases = NCASES;
    while (prefix[np] && np < 10) {
        argv[np] = prefix[np];
        np++;
    }
    for (size_t i = 0; i < ncases; i++) {
        build_cases((long long)time(NULL));
        const struct rcase *c = &CASES[i];
        const char *env[3] = { NULL, NULL, NULL };
        size_t na = np;
        if (c->via_env) {
            snprintf(env_secret, sizeof(env_secret), "POSTSTACK_SECRET=%s", c->secret);
            snprintf(env_header, sizeof(env_header), "POSTSTACK_SIGNATURE=%s", c->header);
            env[0] = env_secret;
            env[1] = env_header;
        } else if (!c->no_args) {
            argv[na++] = c->secret;
            argv[na++] = c->header;
            if (c->tolerance)
                argv[na++] = c->tolerance;
        }
        argv[na] = NULL;
        snprintf(path, sizeof(path), "%s/%s", G.dir, BODY_FILE[c->body]);
        run_prog(argv, env, path, &r);

        if (c->expect == EXPECT_USAGE) {
            if (r.code != 2 || r.out[0] != '\0' || !strstr(r.err, "usage"))
                fail_msg("%s, case \"%s\": exit %d, stdout \"%s\", stderr \"%s\"; expected "
                         "exit 2, a usage message on stderr",
                         lang, c->name, r.code, r.out, r.err);
            continue;
        }
        char want[128];
        snprintf(want, sizeof(want), "%s\n",
                 psw_verify_result_str((enum psw_verify_result)c->expect));
        int want_code = c->expect == PSW_VERIFY_OK ? 0 : 1;
        if (r.code != want_code || strcmp(r.out, want) != 0)
            fail_msg("%s, case \"%s\" (header \"%s\"): exit %d, stdout \"%s\", stderr \"%s\"; "
                     "expected exit %d and \"%s\"",
                     lang, c->name, c->header, r.code, r.out, r.err, want_code,
                     psw_verify_result_str((enum psw_verify_result)c->expect));
    }
    printf("%s: %zu cases passed\n", lang, ncases);
}

/* Prints the first line of `prog arg` (a version), for the log. */
static void print_version(const char *lang, const char *prog, const char *arg)
{
    const char *argv[] = { prog, arg, NULL };
    struct run r;
    run_prog(argv, NULL, NULL, &r);
    const char *text = r.out[0] ? r.out : r.err;
    printf("%s: %.*s\n", lang, (int)strcspn(text, "\n"), text);
}

static void example(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/docs/examples/%s", G.src, name);
}

/* ---- one test per language ----------------------------------------------- */

static void test_c(void **state)
{
    (void)state;
    char cc[600], src[600], lib[1200], bin[600], inc[600];
    const char *cc_name = getenv("CC") && getenv("CC")[0] ? getenv("CC") : "cc";
    struct run r;

    if (cc_name[0] == '/')
        snprintf(cc, sizeof(cc), "%s", cc_name);
    else if (which(cc_name, cc, sizeof(cc)) < 0)
        fail_msg("no C compiler (%s) on PATH", cc_name);
    example("verify.c", src, sizeof(src));
    snprintf(bin, sizeof(bin), "%s/verify-c", G.dir);
    snprintf(inc, sizeof(inc), "-I%s", G.src);
    /* The library of the build under test ($PSW_BIN/../libpsw.a), else the
     * one source file the example needs. ASan+UBSan link either way. */
    const char *bindir = getenv("PSW_BIN");
    snprintf(lib, sizeof(lib), "%s/../libpsw.a", bindir ? bindir : ".");
    if (access(lib, R_OK) != 0)
        snprintf(lib, sizeof(lib), "%s/common/sign.c", G.src);
    const char *argv[] = { cc, "-std=c11", "-Wall", "-Wextra", "-Wshadow",
                           "-Wstrict-prototypes", "-Wformat=2", "-Werror", "-D_GNU_SOURCE",
                           "-O1", "-g", "-fsanitize=address,undefined",
                           "-fno-sanitize-recover=all", inc, src, lib, "-lcrypto", "-o", bin,
                           NULL };
    run_prog(argv, NULL, NULL, &r);
    if (r.code != 0)
        fail_msg("compiling %s against %s failed (exit %d):\n%s%s", src, lib, r.code, r.out,
                 r.err);
    printf("C: %s built against %s\n", src, lib);
    print_version("C", cc, "--version");
    const char *prefix[] = { bin, NULL };
    check_language("C", prefix);
}

static void test_node(void **state)
{
    (void)state;
    char node[600], script[600];
    if (which("node", node, sizeof(node)) < 0 && which("nodejs", node, sizeof(node)) < 0)
        fail_msg("node is not installed (scripts/deps.sh test installs nodejs)");
    example("verify.js", script, sizeof(script));
    print_version("Node.js", node, "--version");
    const char *prefix[] = { node, script, NULL };
    check_language("Node.js", prefix);
}

static void test_python(void **state)
{
    (void)state;
    char py[600], script[600];
    if (which("python3", py, sizeof(py)) < 0)
        fail_msg("python3 is not installed (scripts/deps.sh test installs it)");
    example("verify.py", script, sizeof(script));
    print_version("Python", py, "--version");
    const char *prefix[] = { py, script, NULL };
    check_language("Python", prefix);
}

static void test_php(void **state)
{
    (void)state;
    char php[600], script[600];
    if (which("php", php, sizeof(php)) < 0) {
        printf("skipped: php not installed\n");
        skip();
    }
    example("verify.php", script, sizeof(script));
    print_version("PHP", php, "--version");
    const char *prefix[] = { php, script, NULL };
    check_language("PHP", prefix);
}

static void test_go(void **state)
{
    (void)state;
    char go[600], src[600], bin[600], cache[700];
    struct run r;
    if (which("go", go, sizeof(go)) < 0) {
        printf("skipped: go not installed\n");
        skip();
    }
    example("verify.go", src, sizeof(src));
    snprintf(bin, sizeof(bin), "%s/verify-go", G.dir);
    /* Offline, with the toolchain found; a build cache even without $HOME. */
    const char *env[] = { "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GO111MODULE=off",
                          NULL, NULL };
    if (!getenv("GOCACHE") && !getenv("HOME") && !getenv("XDG_CACHE_HOME")) {
        snprintf(cache, sizeof(cache), "GOCACHE=%s/gocache", G.dir);
        env[4] = cache;
    }
    const char *argv[] = { go, "build", "-o", bin, src, NULL };
    run_prog(argv, env, NULL, &r);
    if (r.code != 0)
        fail_msg("go build %s failed (exit %d):\n%s%s", src, r.code, r.out, r.err);
    print_version("Go", go, "version");
    const char *prefix[] = { bin, NULL };
    check_language("Go", prefix);
}

/* ---- the document --------------------------------------------------------- */

/* docs/receiving.md shows each example after a line "<!-- example: PATH -->"
 * in a fenced block: "```lang" ... "```". That block must be the file. */
static void test_doc_blocks_are_the_files(void **state)
{
    (void)state;
    char path[600];
    size_t dlen = 0;

    snprintf(path, sizeof(path), "%s/docs/receiving.md", G.src);
    char *doc = read_file(path, &dlen);
    if (!doc)
        fail_msg("cannot read %s", path);
    size_t markers = 0;
    for (const char *p = doc; (p = strstr(p, "<!-- example: ")) != NULL; p++)
        markers++;
    if (markers != NEXAMPLES) {
        free(doc);
        fail_msg("docs/receiving.md has %zu example markers, expected %zu", markers, NEXAMPLES);
    }
    for (size_t i = 0; i < NEXAMPLES; i++) {
        char marker[200], fpath[600];
        size_t flen = 0;
        snprintf(marker, sizeof(marker), "\n<!-- example: %s -->\n```", EXAMPLES[i]);
        snprintf(fpath, sizeof(fpath), "%s/%s", G.src, EXAMPLES[i]);
        char *file = read_file(fpath, &flen);
        const char *m = strstr(doc, marker);
        const char *again = m ? strstr(m + 1, marker) : NULL;
        const char *start = m ? strchr(m + strlen(marker), '\n') : NULL;
        const char *end = start ? strstr(start, "\n```\n") : NULL;
        int ok = file && m && !again && start && end && flen > 0 && file[flen - 1] == '\n' &&
                 (size_t)(end + 1 - (start + 1)) == flen &&
                 memcmp(start + 1, file, flen) == 0;
        if (!ok) {
            const char *why = !file ? "the file cannot be read"
                              : !m ? "no marker followed by a ``` fence"
                              : again ? "the marker appears twice"
                              : !end ? "the fenced block is not closed"
                              : "the block differs from the file";
            free(file);
            free(doc);
            fail_msg("docs/receiving.md, %s: %s", EXAMPLES[i], why);
        }
        free(file);
    }
    free(doc);
}

/* The sample request in "What arrives" is a real capture and a test vector:
 * its signature must verify with the secret the text names, and its
 * Content-Length must be the body line's length. */
static void test_doc_sample_request(void **state)
{
    (void)state;
    char path[600], secret[PSW_SECRET_SIZE], sig[HDR_MAX];
    const char *sig_key = "\nX-PostStack-Signature: t=", *sec_key = "throwaway secret `";

    snprintf(path, sizeof(path), "%s/docs/receiving.md", G.src);
    char *doc = read_file(path, NULL);
    if (!doc)
        fail_msg("cannot read %s", path);
    const char *s = strstr(doc, sec_key);
    const char *h = strstr(doc, sig_key);
    const char *cl = h ? strstr(h, "\nContent-Length: ") : NULL;
    const char *b = cl ? strstr(cl, "\n\n") : NULL;
    const char *e = b ? strchr(b + 2, '\n') : NULL;
    int found = s && h && cl && b && e && b[2] == '{';
    long long clen = -1, t = -1;
    size_t blen = 0;
    enum psw_verify_result r = PSW_VERIFY_BAD_FORMAT;
    if (found) {
        s += strlen(sec_key);
        snprintf(secret, sizeof(secret), "%.*s", (int)strcspn(s, "`"), s);
        h += strlen("\nX-PostStack-Signature: ");
        snprintf(sig, sizeof(sig), "%.*s", (int)strcspn(h, "\n"), h);
        clen = strtoll(cl + strlen("\nContent-Length: "), NULL, 10);
        blen = (size_t)(e - (b + 2));
        t = header_t(sig);
        r = psw_sign_verify(sig, b + 2, blen, secret, 0, t);
    }
    free(doc);
    if (!found)
        fail_msg("docs/receiving.md: no sample request (signature, Content-Length, body) or "
                 "no \"%s\"", sec_key);
    assert_int_equal(clen, (long long)blen);
    if (r != PSW_VERIFY_OK)
        fail_msg("the sample request does not verify with %s: %s", secret,
                 psw_verify_result_str(r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_requests),
        cmocka_unit_test(test_c),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_python),
        cmocka_unit_test(test_go),
        cmocka_unit_test(test_php),
        cmocka_unit_test(test_doc_blocks_are_the_files),
        cmocka_unit_test(test_doc_sample_request),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
