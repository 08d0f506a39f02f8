/*
 * psw-bench — the benchmark's load generator and measuring tools (see
 * bench/run.sh, which drives them, and docs/performance.md).
 *
 *   publish    events through the library's bulk publish (psw_publish_many),
 *              as fast as possible or at a steady rate; every event carries
 *              data.metadata.bench_ts_us (unix µs when its batch was handed
 *              to the library), from which psw-receiver measures
 *              publish → receive latency
 *   endpoints  creates N endpoints of one account (psw_endpoint_create)
 *   retry-lag  how late second attempts started after their due time, from
 *              the attempt records of every delivery of an account
 *   slowlog    Redis SLOWLOG aggregated per script (EVALSHA sha → name)
 *   body, sign a normalized sample body and its signature header, for wrk
 *
 * Output is "key=value" words on one line (plus a human summary on stderr),
 * so the driver can read it with sed. Every subcommand takes --config like
 * the programs (else $PSW_CONFIG …).
 *
 * Ownership: everything is per call and freed before returning; errors go
 * to stderr and exit status 1 (2 for usage).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "common/config.h"
#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/event.h"
#include "common/publish.h"
#include "common/sign.h"
#include "common/timeutil.h"

#define EVENT_MAX 2048

struct args {
    const char *config;
    const char *account;
    const char *url;
    const char *secret;
    const char *path_prefix;
    const char *body_file;
    long long count;
    long long rate;     /* events/s, 0 = as fast as possible */
    long long batch;    /* events per psw_publish_many call */
    long long delay_ms; /* retry-lag: the configured first retry delay */
    long long first;    /* endpoints: index of the first one */
    long long procs;    /* publish: processes publishing in parallel */
    long long batch_events; /* endpoints: --batch-max-events (-1 = not given) */
    int normalized;     /* events: the bodies the service would send */
};

static int usage(FILE *out)
{
    fprintf(out,
            "usage: psw-bench COMMAND [options]\n"
            "  publish   --account A --count N [--rate R] [--batch B] [--procs P]\n"
            "            (P processes, each its own connection, share count and rate)\n"
            "  endpoints --account A --url BASE [--count N] [--path-prefix P] [--secret S]\n"
            "            [--first I] [--batch-max-events N]\n"
            "            (URL = BASE + P + index when --path-prefix is given)\n"
            "  retry-lag --account A --delay-ms D\n"
            "  slowlog\n"
            "  events    --count N [--account A] [--normalized]   (NDJSON on stdout: the\n"
            "            events publish sends, or with --normalized the bodies delivered)\n"
            "  body\n"
            "  sign      --secret S --body-file F\n"
            "every command takes --config FILE\n");
    return 2;
}

static int num(const char *name, const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "psw-bench: %s: expected an integer between %lld and %lld, got \"%s\"\n",
                name, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    enum { O_CONFIG = 1, O_ACCOUNT, O_URL, O_SECRET, O_PATH, O_BODY, O_COUNT, O_RATE, O_BATCH,
           O_DELAY, O_FIRST, O_PROCS, O_NORMALIZED, O_BATCH_EVENTS };
    static const struct option lopts[] = {
        { "config", required_argument, NULL, O_CONFIG },
        { "account", required_argument, NULL, O_ACCOUNT },
        { "url", required_argument, NULL, O_URL },
        { "secret", required_argument, NULL, O_SECRET },
        { "path-prefix", required_argument, NULL, O_PATH },
        { "body-file", required_argument, NULL, O_BODY },
        { "count", required_argument, NULL, O_COUNT },
        { "rate", required_argument, NULL, O_RATE },
        { "batch", required_argument, NULL, O_BATCH },
        { "delay-ms", required_argument, NULL, O_DELAY },
        { "first", required_argument, NULL, O_FIRST },
        { "procs", required_argument, NULL, O_PROCS },
        { "normalized", no_argument, NULL, O_NORMALIZED },
        { "batch-max-events", required_argument, NULL, O_BATCH_EVENTS },
        { NULL, 0, NULL, 0 },
    };
    memset(a, 0, sizeof(*a));
    a->count = 1;
    a->batch = 1000;
    a->delay_ms = 1000;
    a->procs = 1;
    a->batch_events = -1;
    opterr = 0;
    optind = 2;
    for (;;) {
        int o = getopt_long(argc, argv, "", lopts, NULL);
        if (o == -1)
            break;
        switch (o) {
        case O_CONFIG: a->config = optarg; break;
        case O_ACCOUNT: a->account = optarg; break;
        case O_URL: a->url = optarg; break;
        case O_SECRET: a->secret = optarg; break;
        case O_PATH: a->path_prefix = optarg; break;
        case O_BODY: a->body_file = optarg; break;
        case O_BATCH_EVENTS:
            if (num("--batch-max-events", optarg, 0, 1000, &a->batch_events) < 0)
                return -1;
            break;
        case O_COUNT:
            if (num("--count", optarg, 1, 100000000, &a->count) < 0)
                return -1;
            break;
        case O_RATE:
            if (num("--rate", optarg, 0, 10000000, &a->rate) < 0)
                return -1;
            break;
        case O_BATCH:
            if (num("--batch", optarg, 1, 100000, &a->batch) < 0)
                return -1;
            break;
        case O_DELAY:
            if (num("--delay-ms", optarg, 0, 86400000, &a->delay_ms) < 0)
                return -1;
            break;
        case O_FIRST:
            if (num("--first", optarg, 0, 100000000, &a->first) < 0)
                return -1;
            break;
        case O_PROCS:
            if (num("--procs", optarg, 1, 64, &a->procs) < 0)
                return -1;
            break;
        case O_NORMALIZED: a->normalized = 1; break;
        default:
            fprintf(stderr, "psw-bench: unknown or incomplete option \"%s\"\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "psw-bench: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int open_ctx(const struct args *a, struct psw_config *cfg, struct psw_ctx *ctx)
{
    char err[1024];
    memset(cfg, 0, sizeof(*cfg));
    if (psw_config_load(cfg, a->config, err, sizeof(err)) < 0) {
        fprintf(stderr, "psw-bench: %s\n", err);
        return -1;
    }
    if (psw_ctx_open(ctx, cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)) != PSW_OK) {
        fprintf(stderr, "psw-bench: %s\n", err);
        psw_config_free(cfg);
        return -1;
    }
    return 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_until_mono_us(uint64_t t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (t <= now)
        return;
    uint64_t d = t - now;
    ts.tv_sec = (time_t)(d / 1000000u);
    ts.tv_nsec = (long)(d % 1000000u) * 1000L;
    nanosleep(&ts, NULL);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- events ------------------------------------------------------------------ */

/* One event of the eight types in turn, each with its type's required
 * object, bodies of 330-420 bytes like deploy/demo-events.ndjson. */
static int event_json(char *out, size_t n, const char *account, long long seq, uint64_t ts)
{
    static const char *const types[] = {
        "email.queued", "email.sent", "email.delivered", "email.bounced",
        "email.opened", "email.clicked", "email.complained", "email.unsubscribed",
    };
    static const char *const extra[] = {
        "",
        "",
        ",\"delivery\":{\"smtp_response\":\"250 2.0.0 OK queued as 4F2A1\"}",
        ",\"bounce\":{\"type\":\"hard\",\"code\":\"5.1.1\",\"reason\":\"mailbox does not exist\"}",
        ",\"open\":{\"user_agent\":\"Mozilla/5.0\",\"ip\":\"198.51.100.7\"}",
        ",\"click\":{\"url\":\"https://example.com/offer\",\"user_agent\":\"Mozilla/5.0\","
        "\"ip\":\"198.51.100.7\"}",
        ",\"complaint\":{\"feedback_type\":\"abuse\"}",
        ",\"unsubscribe\":{\"method\":\"one-click\"}",
    };
    int t = (int)(seq % 8);
    int len = snprintf(out, n,
                       "{\"type\":\"%s\",\"account_id\":\"%s\",\"domain\":\"mail.example.com\","
                       "\"data\":{\"message_id\":\"<bench-%lld@mail.example.com>\","
                       "\"from\":\"news@mail.example.com\",\"to\":\"alice@example.org\","
                       "\"subject\":\"Your proposal\",\"tags\":[\"proposal\"],"
                       "\"metadata\":{\"user_id\":\"u_1\",\"bench_seq\":%lld,"
                       "\"bench_ts_us\":%llu}%s}}",
                       types[t], account, seq, seq, (unsigned long long)ts, extra[t]);
    return len > 0 && (size_t)len < n ? len : -1;
}

/* ---- publish ----------------------------------------------------------------- */

static int cmd_publish(const struct args *a)
{
    struct psw_config cfg;
    struct psw_ctx ctx;
    int rc = 1;
    size_t cap = (size_t)a->batch;
    char (*bufs)[EVENT_MAX] = NULL;
    const char **jsons = NULL;
    size_t *lens = NULL;
    struct psw_publish_result *res = NULL;
    long long done = 0, failed = 0, deliveries = 0, calls = 0, round_trips = 0;

    if (!a->account) {
        fprintf(stderr, "psw-bench publish: --account is required\n");
        return 2;
    }
    /* At a steady rate, one batch per 10 ms tick (at least one event). */
    if (a->rate > 0) {
        cap = (size_t)((a->rate + 99) / 100);
        if (cap < 1)
            cap = 1;
    }
    if (open_ctx(a, &cfg, &ctx) < 0)
        return 1;
    bufs = malloc(cap * sizeof(*bufs));
    jsons = calloc(cap, sizeof(*jsons));
    lens = calloc(cap, sizeof(*lens));
    res = calloc(cap, sizeof(*res));
    if (!bufs || !jsons || !lens || !res) {
        fprintf(stderr, "psw-bench: out of memory\n");
        goto cleanup;
    }

    uint64_t t0 = mono_us(), tick = t0;
    while (done < a->count) {
        size_t n = cap;
        if ((long long)n > a->count - done)
            n = (size_t)(a->count - done);
        if (a->rate > 0) {
            /* the batch due at this tick: rate × elapsed − done */
            sleep_until_mono_us(tick);
            uint64_t el = mono_us() - t0;
            long long due = (long long)((double)a->rate * (double)el / 1e6) + 1 - done;
            if (due < 1) {
                tick += 1000;
                continue;
            }
            if ((long long)n > due)
                n = (size_t)due;
            tick += 10000;
        }
        uint64_t ts = now_us();
        for (size_t i = 0; i < n; i++) {
            int len = event_json(bufs[i], EVENT_MAX, a->account, done + (long long)i, ts);
            if (len < 0) {
                fprintf(stderr, "psw-bench: event too long\n");
                goto cleanup;
            }
            jsons[i] = bufs[i];
            lens[i] = (size_t)len;
        }
        int r = psw_publish_many(&ctx, n, jsons, lens, res);
        calls++;
        round_trips += (long long)((n + PSW_PUBLISH_CHUNK - 1) / PSW_PUBLISH_CHUNK);
        for (size_t i = 0; i < n; i++) {
            if (res[i].status != PSW_OK) {
                if (failed < 5)
                    fprintf(stderr, "psw-bench: event %lld: %s\n", done + (long long)i, res[i].err);
                failed++;
            } else {
                deliveries += res[i].deliveries;
            }
        }
        done += (long long)n;
        if (r == PSW_EFAIL) {
            fprintf(stderr, "psw-bench: Redis failed; stopping\n");
            break;
        }
    }
    uint64_t el = mono_us() - t0;
    printf("published=%lld failed=%lld deliveries=%lld ms=%llu rate=%.0f calls=%lld "
           "round_trips=%lld\n",
           done - failed, failed, deliveries, (unsigned long long)(el / 1000),
           el ? (double)(done - failed) * 1e6 / (double)el : 0.0, calls, round_trips);
    rc = failed ? 1 : 0;

cleanup:
    free(bufs);
    free(jsons);
    free(lens);
    free(res);
    psw_ctx_close(&ctx);
    psw_config_free(&cfg);
    return rc;
}

/* --procs: P children each publish their share over their own connection
 * and write their result line into a pipe; the parent adds them up (the
 * rate over the longest child's time). */
static int cmd_publish_parallel(const struct args *a)
{
    int fds[2];
    pid_t kids[64];
    long long n = a->procs;
    if (pipe(fds) != 0) {
        fprintf(stderr, "psw-bench: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(stdout);
    for (long long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "psw-bench: fork: %s\n", strerror(errno));
            return 1;
        }
        if (pid == 0) {
            struct args b = *a;
            b.procs = 1;
            b.count = a->count / n + (i < a->count % n);
            b.rate = a->rate / n + (i < a->rate % n);
            if (a->rate > 0 && b.rate == 0)
                b.rate = 1;
            close(fds[0]);
            if (dup2(fds[1], STDOUT_FILENO) < 0)
                _exit(1);
            close(fds[1]);
            _exit(b.count > 0 ? cmd_publish(&b) : 0);
        }
        kids[i] = pid;
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[512];
    long long published = 0, failed = 0, deliveries = 0, calls = 0, rts = 0, ms = 0;
    while (in && fgets(line, sizeof(line), in)) {
        long long p, f, d, m, c, r;
        double rate;
        if (sscanf(line, "published=%lld failed=%lld deliveries=%lld ms=%lld rate=%lf calls=%lld "
                         "round_trips=%lld", &p, &f, &d, &m, &rate, &c, &r) == 7) {
            published += p;
            failed += f;
            deliveries += d;
            calls += c;
            rts += r;
            if (m > ms)
                ms = m;
        }
    }
    if (in)
        fclose(in);
    int rc = 0;
    for (long long i = 0; i < n; i++) {
        int st = 0;
        if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = 1;
    }
    printf("published=%lld failed=%lld deliveries=%lld ms=%lld rate=%.0f calls=%lld "
           "round_trips=%lld procs=%lld\n",
           published, failed, deliveries, ms, ms ? (double)published * 1000.0 / (double)ms : 0.0,
           calls, rts, n);
    return rc;
}

/* ---- endpoints --------------------------------------------------------------- */

static int cmd_endpoints(const struct args *a)
{
    struct psw_config cfg;
    struct psw_ctx ctx;
    char url[2048], err[1024];
    int rc = 1;

    if (!a->account || !a->url) {
        fprintf(stderr, "psw-bench endpoints: --account and --url are required\n");
        return 2;
    }
    if (open_ctx(a, &cfg, &ctx) < 0)
        return 1;
    for (long long i = 0; i < a->count; i++) {
        struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
        struct psw_endpoint ep;
        memset(&ep, 0, sizeof(ep));
        if (a->path_prefix)
            snprintf(url, sizeof(url), "%s%s%lld", a->url, a->path_prefix, a->first + i);
        else
            snprintf(url, sizeof(url), "%s", a->url);
        spec.account_id = a->account;
        spec.url = url;
        spec.secret = a->secret;
        spec.batch_max_events = a->batch_events; /* -1: not given */
        if (psw_endpoint_create(&ctx, &spec, &ep, err, sizeof(err)) != PSW_OK) {
            fprintf(stderr, "psw-bench: endpoint %s: %s\n", url, err);
            psw_endpoint_free(&ep);
            goto cleanup;
        }
        psw_endpoint_free(&ep);
    }
    printf("endpoints=%lld\n", a->count);
    rc = 0;
cleanup:
    psw_ctx_close(&ctx);
    psw_config_free(&cfg);
    return rc;
}

/* ---- retry-lag --------------------------------------------------------------- */

static int cmp_ll(const void *x, const void *y)
{
    long long a = *(const long long *)x, b = *(const long long *)y;
    return (a > b) - (a < b);
}

static long long pct(const long long *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i];
}

static long long rec_num(const redisReply *r, const char *field)
{
    json_object *o = r && r->type == REDIS_REPLY_STRING ? json_tokener_parse(r->str) : NULL, *v;
    long long out = -1;
    if (o && json_object_object_get_ex(o, field, &v))
        out = json_object_get_int64(v);
    json_object_put(o);
    return out;
}

static int cmd_retry_lag(const struct args *a)
{
    struct psw_config cfg;
    struct psw_ctx ctx;
    char key[PSW_KEY_SIZE];
    int rc = 1;
    long long *lags = NULL;
    size_t nlag = 0, cap = 0, missing = 0;
    redisReply *eps = NULL;

    if (!a->account) {
        fprintf(stderr, "psw-bench retry-lag: --account is required\n");
        return 2;
    }
    if (open_ctx(a, &cfg, &ctx) < 0)
        return 1;
    psw_ctx_key(&ctx, key, sizeof(key), PSW_KEY_ACCOUNT_ENDPOINTS, a->account);
    eps = psw_redis_command(ctx.redis, "SMEMBERS %s", key);
    if (!eps || eps->type != REDIS_REPLY_ARRAY)
        goto cleanup;
    for (size_t e = 0; e < eps->elements; e++) {
        char ik[PSW_KEY_SIZE];
        psw_ctx_key(&ctx, ik, sizeof(ik), PSW_KEY_ENDPOINT_DELIVERIES, eps->element[e]->str);
        redisReply *ids = psw_redis_command(ctx.redis, "ZRANGE %s 0 -1", ik);
        if (!ids)
            goto cleanup;
        for (size_t base = 0; ids->type == REDIS_REPLY_ARRAY && base < ids->elements; base += 1000) {
            size_t m = ids->elements - base < 1000 ? ids->elements - base : 1000;
            redisReply **reps = calloc(m, sizeof(*reps));
            if (!reps) {
                freeReplyObject(ids);
                goto cleanup;
            }
            /* one LRANGE 0 1 per delivery: the first two attempt records */
            for (size_t i = 0; i < m; i++) {
                char ak[PSW_KEY_SIZE];
                psw_ctx_key(&ctx, ak, sizeof(ak), PSW_KEY_DELIVERY_ATTEMPTS,
                            ids->element[base + i]->str);
                redisReply *r = psw_redis_command(ctx.redis, "LRANGE %s 0 1", ak);
                reps[i] = r;
            }
            for (size_t i = 0; i < m; i++) {
                redisReply *r = reps[i];
                if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
                    long long ended = rec_num(r->element[0], "ended_at");
                    long long at = rec_num(r->element[1], "at");
                    if (ended >= 0 && at >= 0) {
                        if (nlag == cap) {
                            cap = cap ? cap * 2 : 4096;
                            long long *nl = realloc(lags, cap * sizeof(*nl));
                            if (!nl)
                                goto next;
                            lags = nl;
                        }
                        lags[nlag++] = at - (ended + a->delay_ms);
                    } else {
                        missing++;
                    }
                } else {
                    missing++;
                }
            next:
                if (r)
                    freeReplyObject(r);
            }
            free(reps);
        }
        freeReplyObject(ids);
    }
    qsort(lags, nlag, sizeof(*lags), cmp_ll);
    printf("retried=%zu missing=%zu lag_p50_ms=%lld lag_p99_ms=%lld lag_max_ms=%lld "
           "lag_min_ms=%lld\n",
           nlag, missing, pct(lags, nlag, 0.50), pct(lags, nlag, 0.99),
           nlag ? lags[nlag - 1] : 0, nlag ? lags[0] : 0);
    rc = 0;
cleanup:
    if (eps)
        freeReplyObject(eps);
    free(lags);
    psw_ctx_close(&ctx);
    psw_config_free(&cfg);
    return rc;
}

/* ---- slowlog ----------------------------------------------------------------- */

struct agg {
    char name[64];
    long long calls, usec;
};

static int cmd_slowlog(const struct args *a)
{
    struct psw_config cfg;
    struct psw_ctx ctx;
    struct agg ag[64];
    size_t nag = 0;
    long long total = 0;

    if (open_ctx(a, &cfg, &ctx) < 0)
        return 1;
    redisReply *rep = psw_redis_command(ctx.redis, "SLOWLOG GET -1");
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "psw-bench: SLOWLOG GET failed\n");
        if (rep)
            freeReplyObject(rep);
        psw_ctx_close(&ctx);
        psw_config_free(&cfg);
        return 1;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4)
            continue;
        long long us = e->element[2]->integer;
        const redisReply *av = e->element[3];
        char name[64] = "?";
        if (av->type == REDIS_REPLY_ARRAY && av->elements > 0) {
            snprintf(name, sizeof(name), "%s", av->element[0]->str);
            for (char *p = name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            if (strcmp(name, "evalsha") == 0 && av->elements > 1) {
                for (int s = 0; s < PSW_SCRIPT__COUNT; s++)
                    if (strcmp(psw_redis_script_sha(ctx.redis, (enum psw_script_id)s),
                               av->element[1]->str) == 0)
                        snprintf(name, sizeof(name), "%s.lua", psw_script_sources[s].name);
            }
        }
        size_t k;
        for (k = 0; k < nag && strcmp(ag[k].name, name) != 0; k++)
            ;
        if (k == nag) {
            if (nag == 64)
                continue;
            snprintf(ag[nag].name, sizeof(ag[nag].name), "%s", name);
            ag[nag].calls = ag[nag].usec = 0;
            nag++;
        }
        ag[k].calls++;
        ag[k].usec += us;
        total += us;
    }
    /* Commands run by scripts are logged too (their time is inside the
     * script's): shares are of the scripts' time only. */
    long long scripts = 0;
    for (size_t k = 0; k < nag; k++)
        if (strstr(ag[k].name, ".lua"))
            scripts += ag[k].usec;
    (void)total;
    for (size_t k = 0; k < nag; k++) {
        int is_script = strstr(ag[k].name, ".lua") != NULL;
        printf("slowlog name=%s calls=%lld usec=%lld usec_per_call=%.1f share=%s%.1f%%\n",
               ag[k].name, ag[k].calls, ag[k].usec,
               ag[k].calls ? (double)ag[k].usec / (double)ag[k].calls : 0.0,
               is_script ? "" : "(inside scripts or alone) ",
               is_script && scripts ? 100.0 * (double)ag[k].usec / (double)scripts : 0.0);
    }
    freeReplyObject(rep);
    psw_ctx_close(&ctx);
    psw_config_free(&cfg);
    return 0;
}

/* ---- events ------------------------------------------------------------------ */

/* The events `publish` sends, one per line: as given to the library (for
 * `psw publish`), or normalized with an id, as a receiver gets them (for the
 * comparison peer in bench/peers/, which delivers the same bodies). */
static int cmd_events(const struct args *a)
{
    char json[EVENT_MAX], err[512];
    struct psw_event_limits lim = PSW_EVENT_LIMITS_INIT;
    const char *account = a->account ? a->account : "acct_bench";
    uint64_t ts = now_us();
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof(out));
    for (long long i = 0; i < a->count; i++) {
        int len = event_json(json, sizeof(json), account, i, ts);
        if (len < 0) {
            fprintf(stderr, "psw-bench: event too long\n");
            return 1;
        }
        if (!a->normalized) {
            fwrite(json, 1, (size_t)len, stdout);
        } else {
            struct psw_event ev;
            if (psw_event_parse(json, (size_t)len, &lim, psw_now_ms(), &ev, err, sizeof(err)) < 0) {
                fprintf(stderr, "psw-bench: %s\n", err);
                return 1;
            }
            fwrite(ev.body, 1, ev.body_len, stdout);
            psw_event_free(&ev);
        }
        putchar('\n');
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- body, sign -------------------------------------------------------------- */

static int cmd_body(void)
{
    char json[EVENT_MAX], err[512];
    struct psw_event ev;
    struct psw_event_limits lim = PSW_EVENT_LIMITS_INIT;
    int len = event_json(json, sizeof(json), "acct_bench", 2, now_us());
    if (len < 0 || psw_event_parse(json, (size_t)len, &lim, psw_now_ms(), &ev, err, sizeof(err)) < 0) {
        fprintf(stderr, "psw-bench: %s\n", err);
        return 1;
    }
    fwrite(ev.body, 1, ev.body_len, stdout);
    psw_event_free(&ev);
    return 0;
}

static int cmd_sign(const struct args *a)
{
    char sig[PSW_SIGNATURE_SIZE];
    static char body[1 << 20];
    if (!a->secret || !a->body_file) {
        fprintf(stderr, "psw-bench sign: --secret and --body-file are required\n");
        return 2;
    }
    FILE *f = fopen(a->body_file, "rb");
    if (!f) {
        fprintf(stderr, "psw-bench: %s: %s\n", a->body_file, strerror(errno));
        return 1;
    }
    size_t n = fread(body, 1, sizeof(body), f);
    fclose(f);
    const char *secrets[] = { a->secret };
    if (psw_sign_header(secrets, 1, psw_now_ms() / 1000, body, n, sig, sizeof(sig)) < 0) {
        fprintf(stderr, "psw-bench: signing failed\n");
        return 1;
    }
    printf("%s\n", sig);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a;
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv, &a) < 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "publish") == 0)
        return a.procs > 1 ? cmd_publish_parallel(&a) : cmd_publish(&a);
    if (strcmp(cmd, "endpoints") == 0)
        return cmd_endpoints(&a);
    if (strcmp(cmd, "retry-lag") == 0)
        return cmd_retry_lag(&a);
    if (strcmp(cmd, "slowlog") == 0)
        return cmd_slowlog(&a);
    if (strcmp(cmd, "events") == 0)
        return cmd_events(&a);
    if (strcmp(cmd, "body") == 0)
        return cmd_body();
    if (strcmp(cmd, "sign") == 0)
        return cmd_sign(&a);
    fprintf(stderr, "psw-bench: unknown command \"%s\"\n", cmd);
    return usage(stderr);
}
