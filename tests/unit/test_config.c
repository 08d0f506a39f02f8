/*
 * test_config.c — common/config.c: the defaults of every key (checked against
 * docs/config.md and the comments in config.h, not against the table), every value
 * type from YAML, every error kind with its exact "file:line:column" text,
 * file resolution (--config, $PSW_CONFIG, PSW_REDIS_URL), print → load round
 * trips, credential masking, and that docs/config.md documents every key with
 * its real default.
 *
 * Temporary files live in a mkdtemp directory made by the group setup and
 * removed by its teardown. Tests that touch the environment restore it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/sentinel.h"
#include "common/log.h"

#define S 1000LL
#define M (60 * S)
#define H (60 * M)
#define D (24 * H)

static char tmpdir[64];
static char *tmpfiles[16];
static size_t ntmpfiles;

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/psw-test-config-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    /* The tests decide these themselves. */
    unsetenv("PSW_CONFIG");
    unsetenv("PSW_REDIS_URL");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < ntmpfiles; i++) {
        unlink(tmpfiles[i]);
        free(tmpfiles[i]);
    }
    ntmpfiles = 0;
    return rmdir(tmpdir) == 0 ? 0 : -1;
}

/* Writes content to tmpdir/name; returns the path (owned by the group). */
static const char *write_tmp(const char *name, const char *content)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    for (size_t i = 0; i < ntmpfiles; i++)
        if (strcmp(tmpfiles[i], path) == 0)
            return tmpfiles[i];
    assert_true(ntmpfiles < sizeof(tmpfiles) / sizeof(tmpfiles[0]));
    tmpfiles[ntmpfiles] = strdup(path);
    assert_non_null(tmpfiles[ntmpfiles]);
    return tmpfiles[ntmpfiles++];
}

static int ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* Loads yaml onto a fresh struct; fails the test on error. */
static void load_ok(struct psw_config *cfg, const char *yaml)
{
    char err[512] = "";
    int rc = psw_config_load_string(cfg, yaml, strlen(yaml), "psw.yaml", err, sizeof(err));
    if (rc != 0)
        fail_msg("load failed for:\n%s\n-> %s", yaml, err);
}

/* Loading yaml must fail with exactly `want`, leaving the struct untouched.
 * Returns false (after printing why) when it does not. */
static bool check_bad(const char *yaml, size_t len, const char *want)
{
    struct psw_config cfg = { 0 };
    char err[512] = "";
    bool ok = true;
    int rc = psw_config_load_string(&cfg, yaml, len, "psw.yaml", err, sizeof(err));
    if (rc != -1) {
        print_error("accepted:\n%s\n", yaml);
        ok = false;
    } else if (strcmp(err, want) != 0) {
        print_error("for:\n%s\n got: %s\nwant: %s\n", yaml, err, want);
        ok = false;
    }
    if (cfg.redis_url || cfg.source_path) { /* nothing may be applied */
        print_error("struct changed by a failed load:\n%s\n", yaml);
        ok = false;
    }
    psw_config_free(&cfg);
    return ok;
}

static void load_bad(const char *yaml, size_t len, const char *want)
{
    if (!check_bad(yaml, len, want))
        fail();
}

static char *print_to_string(const struct psw_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    psw_config_print(cfg, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Every field, one by one: update when struct psw_config grows. */
static void assert_config_equal(const struct psw_config *a, const struct psw_config *b)
{
    assert_string_equal(a->redis_url, b->redis_url);
    assert_string_equal(a->redis_prefix, b->redis_prefix);
    assert_int_equal(a->redis_connect_timeout_ms, b->redis_connect_timeout_ms);
    assert_int_equal(a->redis_command_timeout_ms, b->redis_command_timeout_ms);
    assert_int_equal(a->worker_processes, b->worker_processes);
    assert_int_equal(a->worker_concurrency, b->worker_concurrency);
    assert_int_equal(a->worker_shutdown_grace_ms, b->worker_shutdown_grace_ms);
    assert_int_equal(a->worker_heartbeat_ms, b->worker_heartbeat_ms);
    assert_int_equal(a->worker_claim_batch, b->worker_claim_batch);
    assert_int_equal(a->http_connect_timeout_ms, b->http_connect_timeout_ms);
    assert_int_equal(a->http_timeout_ms, b->http_timeout_ms);
    assert_int_equal(a->http_max_response_bytes, b->http_max_response_bytes);
    assert_string_equal(a->http_source_interface, b->http_source_interface);
    assert_string_equal(a->http_proxy, b->http_proxy);
    assert_int_equal(a->http_allow_private_networks, b->http_allow_private_networks);
    assert_int_equal(a->http_allowed_networks_n, b->http_allowed_networks_n);
    for (size_t i = 0; i < a->http_allowed_networks_n; i++)
        assert_string_equal(a->http_allowed_networks[i], b->http_allowed_networks[i]);
    assert_int_equal(a->retry_schedule_n, b->retry_schedule_n);
    for (size_t i = 0; i < a->retry_schedule_n; i++)
        assert_int_equal(a->retry_schedule_ms[i], b->retry_schedule_ms[i]);
    assert_int_equal(a->retry_max_age_ms, b->retry_max_age_ms);
    assert_int_equal(a->endpoint_disable_after_failures, b->endpoint_disable_after_failures);
    assert_int_equal(a->endpoint_max_in_flight, b->endpoint_max_in_flight);
    assert_int_equal(a->endpoint_min_in_flight, b->endpoint_min_in_flight);
    assert_int_equal(a->endpoint_adaptive_in_flight, b->endpoint_adaptive_in_flight);
    assert_int_equal(a->signing_rotation_grace_ms, b->signing_rotation_grace_ms);
    assert_int_equal(a->retention_days, b->retention_days);
    assert_int_equal(a->scheduler_tick_ms, b->scheduler_tick_ms);
    assert_int_equal(a->scheduler_worker_timeout_ms, b->scheduler_worker_timeout_ms);
    assert_int_equal(a->scheduler_batch, b->scheduler_batch);
    assert_int_equal(a->scheduler_max_recoveries, b->scheduler_max_recoveries);
    assert_int_equal(a->log_level, b->log_level);
    assert_int_equal(a->log_format, b->log_format);
    assert_string_equal(a->alerts_webhook_url, b->alerts_webhook_url);
    assert_int_equal(a->limits_max_event_bytes, b->limits_max_event_bytes);
    assert_int_equal(a->limits_max_json_depth, b->limits_max_json_depth);
    assert_int_equal(a->limits_max_url_length, b->limits_max_url_length);
    assert_int_equal(a->limits_max_endpoints_per_account, b->limits_max_endpoints_per_account);
    assert_string_equal(a->secrets_key_file, b->secrets_key_file);
    assert_string_equal(a->secrets_previous_key_file, b->secrets_previous_key_file);
}

/* The values docs/config.md and the comments in config.h give, written out here. */
static void assert_defaults(const struct psw_config *c)
{
    static const int64_t schedule[] = { 1 * S, 5 * S, 30 * S, 2 * M, 10 * M, 1 * H, 6 * H, 24 * H };
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(c->redis_prefix, "psw:");
    assert_int_equal(c->redis_connect_timeout_ms, 2 * S);
    assert_int_equal(c->redis_command_timeout_ms, 10 * S);
    assert_int_equal(c->worker_processes, ncpu());
    assert_int_equal(c->worker_concurrency, 64);
    assert_int_equal(c->worker_shutdown_grace_ms, 30 * S);
    assert_int_equal(c->worker_heartbeat_ms, 1 * S);
    assert_int_equal(c->worker_claim_batch, 64);
    assert_int_equal(c->http_connect_timeout_ms, 5 * S);
    assert_int_equal(c->http_timeout_ms, 15 * S);
    assert_int_equal(c->http_max_response_bytes, 4096);
    assert_string_equal(c->http_source_interface, "");
    assert_string_equal(c->http_proxy, "");
    assert_false(c->http_allow_private_networks);
    assert_int_equal(c->http_allowed_networks_n, 0);
    assert_int_equal(c->retry_schedule_n, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(c->retry_schedule_ms[i], schedule[i]);
    assert_int_equal(c->retry_max_age_ms, 24 * H);
    assert_int_equal(c->endpoint_disable_after_failures, 20);
    assert_int_equal(c->endpoint_max_in_flight, 512);
    assert_int_equal(c->endpoint_min_in_flight, 4);
    assert_true(c->endpoint_adaptive_in_flight);
    assert_int_equal(c->signing_rotation_grace_ms, 24 * H);
    assert_int_equal(c->retention_days, 30);
    assert_int_equal(c->scheduler_tick_ms, 100);
    assert_int_equal(c->scheduler_worker_timeout_ms, 30 * S);
    assert_int_equal(c->scheduler_batch, 1000);
    assert_int_equal(c->scheduler_max_recoveries, 3);
    assert_int_equal(c->log_level, PSW_LOG_INFO);
    assert_int_equal(c->log_format, PSW_LOG_TEXT);
    assert_string_equal(c->alerts_webhook_url, "");
    assert_int_equal(c->limits_max_event_bytes, 262144);
    assert_int_equal(c->limits_max_json_depth, 16);
    assert_int_equal(c->limits_max_url_length, 2048);
    assert_int_equal(c->limits_max_endpoints_per_account, 100);
    assert_string_equal(c->secrets_key_file, "");
}

static void test_defaults(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    assert_int_equal(psw_config_defaults(&cfg), 0);
    assert_defaults(&cfg);
    assert_string_equal(cfg.source_path, "");
    /* Again on a filled struct: replaces without leaking (LSan checks). */
    assert_int_equal(psw_config_defaults(&cfg), 0);
    assert_defaults(&cfg);
    psw_config_free(&cfg);
    /* free is idempotent and leaves NULLs. */
    psw_config_free(&cfg);
    assert_null(cfg.redis_url);
}

static void test_empty_documents(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "", "\n", "# only a comment\n", "# one\n\n# two\n", "---\n", "---\n...\n", "{}\n",
        "redis:\n", "redis: ~\n", "redis:\n  # url: redis://x\nworker: {}\n", "~\n",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct psw_config cfg = { 0 };
        load_ok(&cfg, docs[i]);
        assert_defaults(&cfg); /* a zeroed struct gets the defaults first */
        psw_config_free(&cfg);
    }
}

/* Every key set to something other than its default, nested form. */
static const char full_yaml[] =
    "# comment\n"
    "redis:\n"
    "  url: \"redis://127.0.0.1:6390/3\"\n"
    "  prefix: \"t1:\"\n"
    "  connect_timeout: 750ms\n"
    "  command_timeout: 1m30s\n"
    "worker:\n"
    "  processes: 3\n"
    "  concurrency: 5\n"
    "  shutdown_grace: 0\n"
    "  heartbeat: 250ms\n"
    "  claim_batch: 7\n"
    "http:\n"
    "  connect_timeout: 1s\n"
    "  timeout: 1h\n"
    "  max_response_bytes: 0\n"
    "  source_interface: lo\n"
    "  proxy: http://127.0.0.1:3128\n"
    "  allow_private_networks: yes\n"
    "  allowed_networks:\n"
    "    - 10.0.0.0/8\n"
    "    - \"::1/128\"\n"
    "    - 192.168.1.7/32\n"
    "retry:\n"
    "  schedule: [10ms, 2s, 1h30m]\n"
    "  max_age: 2d\n"
    "endpoint:\n"
    "  disable_after_failures: 100000\n"
    "  max_in_flight: 0\n"
    "signing:\n"
    "  rotation_grace: 0\n"
    "retention:\n"
    "  days: 3650\n"
    "scheduler:\n"
    "  tick: 5ms\n"
    "  worker_timeout: 2s\n"
    "  batch: 17\n"
    "  max_recoveries: 9\n"
    "log:\n"
    "  level: debug\n"
    "  format: json\n"
    "alerts:\n"
    "  webhook_url: https://127.0.0.1:9/alerts\n"
    "limits:\n"
    "  max_event_bytes: 1024\n"
    "  max_json_depth: 3\n"
    "  max_url_length: 65536\n"
    "  max_endpoints_per_account: 1\n"
    "secrets:\n"
    "  key_file: \"/tmp/my keys/\\\"k\\\"\\\\x.bin\"\n";

static void assert_full(const struct psw_config *c)
{
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6390/3");
    assert_string_equal(c->redis_prefix, "t1:");
    assert_int_equal(c->redis_connect_timeout_ms, 750);
    assert_int_equal(c->redis_command_timeout_ms, 90 * S);
    assert_int_equal(c->worker_processes, 3);
    assert_int_equal(c->worker_concurrency, 5);
    assert_int_equal(c->worker_shutdown_grace_ms, 0);
    assert_int_equal(c->worker_heartbeat_ms, 250);
    assert_int_equal(c->worker_claim_batch, 7);
    assert_int_equal(c->http_connect_timeout_ms, 1 * S);
    assert_int_equal(c->http_timeout_ms, 1 * H);
    assert_int_equal(c->http_max_response_bytes, 0);
    assert_string_equal(c->http_source_interface, "lo");
    assert_string_equal(c->http_proxy, "http://127.0.0.1:3128");
    assert_true(c->http_allow_private_networks);
    assert_int_equal(c->http_allowed_networks_n, 3);
    assert_string_equal(c->http_allowed_networks[0], "10.0.0.0/8");
    assert_string_equal(c->http_allowed_networks[1], "::1/128");
    assert_string_equal(c->http_allowed_networks[2], "192.168.1.7/32");
    assert_int_equal(c->retry_schedule_n, 3);
    assert_int_equal(c->retry_schedule_ms[0], 10);
    assert_int_equal(c->retry_schedule_ms[1], 2 * S);
    assert_int_equal(c->retry_schedule_ms[2], 90 * M);
    assert_int_equal(c->retry_max_age_ms, 2 * D);
    assert_int_equal(c->endpoint_disable_after_failures, 100000);
    assert_int_equal(c->endpoint_max_in_flight, 0);
    assert_int_equal(c->signing_rotation_grace_ms, 0);
    assert_int_equal(c->retention_days, 3650);
    assert_int_equal(c->scheduler_tick_ms, 5);
    assert_int_equal(c->scheduler_worker_timeout_ms, 2 * S);
    assert_int_equal(c->scheduler_batch, 17);
    assert_int_equal(c->scheduler_max_recoveries, 9);
    assert_int_equal(c->log_level, PSW_LOG_DEBUG);
    assert_int_equal(c->log_format, PSW_LOG_JSON);
    assert_string_equal(c->alerts_webhook_url, "https://127.0.0.1:9/alerts");
    assert_int_equal(c->limits_max_event_bytes, 1024);
    assert_int_equal(c->limits_max_json_depth, 3);
    assert_int_equal(c->limits_max_url_length, 65536);
    assert_int_equal(c->limits_max_endpoints_per_account, 1);
    assert_string_equal(c->secrets_key_file, "/tmp/my keys/\"k\"\\x.bin");
}

static void test_every_key_from_yaml(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    assert_int_equal(psw_config_defaults(&cfg), 0);
    load_ok(&cfg, full_yaml);
    assert_full(&cfg);
    /* load_string leaves source_path alone. */
    assert_string_equal(cfg.source_path, "");
    psw_config_free(&cfg);
}

static void test_dotted_keys(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    load_ok(&cfg, "redis.url: unix:///run/redis.sock\n"
                  "worker.concurrency: 9\n"
                  "retry.schedule: [3s]\n"
                  "log:\n"
                  "  level: warn\n"
                  "http.allowed_networks: [\"fd00::/8\"]\n");
    assert_string_equal(cfg.redis_url, "unix:///run/redis.sock");
    assert_int_equal(cfg.worker_concurrency, 9);
    assert_int_equal(cfg.retry_schedule_n, 1);
    assert_int_equal(cfg.retry_schedule_ms[0], 3 * S);
    assert_int_equal(cfg.log_level, PSW_LOG_WARN);
    assert_int_equal(cfg.http_allowed_networks_n, 1);
    assert_string_equal(cfg.http_allowed_networks[0], "fd00::/8");
    psw_config_free(&cfg);
}

static void test_layers(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    load_ok(&cfg, "worker: {concurrency: 7}\nhttp: {allowed_networks: [10.0.0.0/8]}\n");
    load_ok(&cfg, "log: {level: error}\n");
    assert_int_equal(cfg.worker_concurrency, 7); /* kept from the first layer */
    assert_int_equal(cfg.log_level, PSW_LOG_ERROR);
    /* A list given again replaces the old one entirely. */
    load_ok(&cfg, "http: {allowed_networks: [\"::/0\", 0.0.0.0/0]}\n");
    assert_int_equal(cfg.http_allowed_networks_n, 2);
    assert_string_equal(cfg.http_allowed_networks[0], "::/0");
    assert_string_equal(cfg.http_allowed_networks[1], "0.0.0.0/0");
    load_ok(&cfg, "http: {allowed_networks: []}\n");
    assert_int_equal(cfg.http_allowed_networks_n, 0);
    psw_config_free(&cfg);
}

static void test_bools(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool want;
    } cases[] = {
        { "true", true },   { "false", false }, { "yes", true }, { "no", false },
        { "on", true },     { "off", false },   { "True", true }, { "NO", false },
        { "\"on\"", true }, { "OFF", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[128];
        struct psw_config cfg = { 0 };
        snprintf(yaml, sizeof(yaml), "http:\n  allow_private_networks: %s\n", cases[i].text);
        load_ok(&cfg, yaml);
        if (cfg.http_allow_private_networks != cases[i].want)
            fail_msg("%s parsed as %d", cases[i].text, cfg.http_allow_private_networks);
        psw_config_free(&cfg);
    }
}

static void test_ints_and_durations(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    /* Bounds are inclusive, both ends. */
    load_ok(&cfg, "worker: {concurrency: 1, claim_batch: 10000, processes: 1024}\n"
                  "http: {timeout: 1ms, max_response_bytes: 1048576}\n"
                  "scheduler: {tick: 10s}\n"
                  "limits: {max_event_bytes: 16777216}\n"
                  "retention: {days: 31}\n"
                  "retry: {max_age: 30d}\n");
    assert_int_equal(cfg.worker_concurrency, 1);
    assert_int_equal(cfg.worker_claim_batch, 10000);
    assert_int_equal(cfg.worker_processes, 1024);
    assert_int_equal(cfg.http_timeout_ms, 1);
    assert_int_equal(cfg.http_max_response_bytes, 1048576);
    assert_int_equal(cfg.scheduler_tick_ms, 10 * S);
    assert_int_equal(cfg.limits_max_event_bytes, 16777216);
    assert_int_equal(cfg.retry_max_age_ms, 30 * D);
    /* Quoted numbers are numbers too; durations combine units. */
    load_ok(&cfg, "worker: {concurrency: \"12\"}\nredis: {command_timeout: 1m2s3ms}\n");
    assert_int_equal(cfg.worker_concurrency, 12);
    assert_int_equal(cfg.redis_command_timeout_ms, 62003);
    psw_config_free(&cfg);
}

static void test_processes_zero_is_cpu_count(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    load_ok(&cfg, "worker:\n  processes: 5\n");
    assert_int_equal(cfg.worker_processes, 5);
    load_ok(&cfg, "worker:\n  processes: 0\n");
    assert_int_equal(cfg.worker_processes, ncpu());
    assert_true(cfg.worker_processes >= 1);
    psw_config_free(&cfg);
}

static void test_schedule_forms(void **state)
{
    (void)state;
    static const char *const forms[] = {
        "retry:\n  schedule: [1s, 5s, 2m]\n",
        "retry:\n  schedule:\n    - 1s\n    - 5s\n    - 2m\n",
        "retry:\n  schedule: 1s, 5s, 2m\n",
        "retry:\n  schedule: \"1s,5s,2m\"\n",
        "retry:\n  schedule: ' 1s ,  5s,2m '\n",
        "retry.schedule: [\"1s\", '5s', 120s]\n",
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct psw_config cfg = { 0 };
        load_ok(&cfg, forms[i]);
        assert_int_equal(cfg.retry_schedule_n, 3);
        assert_int_equal(cfg.retry_schedule_ms[0], 1 * S);
        assert_int_equal(cfg.retry_schedule_ms[1], 5 * S);
        assert_int_equal(cfg.retry_schedule_ms[2], 2 * M);
        psw_config_free(&cfg);
    }
    /* One value alone is a one-entry schedule. */
    struct psw_config cfg = { 0 };
    load_ok(&cfg, "retry: {schedule: 30s}\n");
    assert_int_equal(cfg.retry_schedule_n, 1);
    assert_int_equal(cfg.retry_schedule_ms[0], 30 * S);

    /* Exactly PSW_MAX_SCHEDULE entries is fine; one more is not. */
    char yaml[1024];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), "retry:\n  schedule: [");
    for (int i = 0; i < PSW_MAX_SCHEDULE; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s%ds", i ? ", " : "", i + 1);
    snprintf(yaml + o, sizeof(yaml) - o, "]\n");
    load_ok(&cfg, yaml);
    assert_int_equal(cfg.retry_schedule_n, PSW_MAX_SCHEDULE);
    assert_int_equal(cfg.retry_schedule_ms[PSW_MAX_SCHEDULE - 1], PSW_MAX_SCHEDULE * S);
    snprintf(yaml + o, sizeof(yaml) - o, ", 99s]\n");
    load_bad(yaml, strlen(yaml),
             "psw.yaml:2:13: retry.schedule: must have between 1 and 32 entries, got 33");
    /* the comma form counts the same way */
    o = (size_t)snprintf(yaml, sizeof(yaml), "retry.schedule: \"");
    for (int i = 0; i <= PSW_MAX_SCHEDULE; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s1s", i ? "," : "");
    snprintf(yaml + o, sizeof(yaml) - o, "\"\n");
    load_bad(yaml, strlen(yaml),
             "psw.yaml:1:17: retry.schedule: must have between 1 and 32 entries, got 33");
    psw_config_free(&cfg);
}

static void test_allowed_networks(void **state)
{
    (void)state;
    static const char *const good[] = {
        "0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.1/32", "::/0", "::1/128",
        "fd00::/8", "2001:db8::/32", "::ffff:10.0.0.0/104", "10.1.2.3/8",
    };
    struct psw_config cfg = { 0 };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "http:\n  allowed_networks:\n    - \"%s\"\n", good[i]);
        load_ok(&cfg, yaml);
        assert_int_equal(cfg.http_allowed_networks_n, 1);
        assert_string_equal(cfg.http_allowed_networks[0], good[i]);
    }
    /* the comma-separated string form */
    load_ok(&cfg, "http: {allowed_networks: \"10.0.0.0/8, fd00::/8\"}\n");
    assert_int_equal(cfg.http_allowed_networks_n, 2);
    assert_string_equal(cfg.http_allowed_networks[1], "fd00::/8");

    /* PSW_MAX_NETWORKS entries fit; one more is an error. */
    char yaml[4096];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), "http:\n  allowed_networks: [");
    for (int i = 0; i < PSW_MAX_NETWORKS; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s10.%d.0.0/16", i ? ", " : "", i);
    snprintf(yaml + o, sizeof(yaml) - o, "]\n");
    load_ok(&cfg, yaml);
    assert_int_equal(cfg.http_allowed_networks_n, PSW_MAX_NETWORKS);
    assert_string_equal(cfg.http_allowed_networks[63], "10.63.0.0/16");
    snprintf(yaml + o, sizeof(yaml) - o, ", 11.0.0.0/8]\n");
    load_bad(yaml, strlen(yaml),
             "psw.yaml:2:21: http.allowed_networks: must have at most 64 entries, got 65");
    psw_config_free(&cfg);
}

static void test_sentinels(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    struct psw_sentinel_addr a;
    char err[256];
    load_ok(&cfg, "redis:\n  url: redis://psw:pw@ignored/2\n"
                  "  sentinels: [10.0.0.1:26380, \"[fd00::1]:26381\", s3.internal]\n"
                  "  sentinel_master: psw\n  min_replicas_acked: 1\n"
                  "  min_replicas_timeout: 250ms\n");
    assert_int_equal(cfg.redis_sentinels_n, 3);
    assert_string_equal(cfg.redis_sentinel_master, "psw");
    assert_int_equal(cfg.redis_min_replicas_acked, 1);
    assert_int_equal(cfg.redis_min_replicas_timeout_ms, 250);
    assert_int_equal(psw_sentinel_addr_parse(cfg.redis_sentinels[1], &a, err, sizeof(err)), 0);
    assert_string_equal(a.host, "fd00::1");
    assert_int_equal(a.port, 26381);
    assert_int_equal(psw_sentinel_addr_parse(cfg.redis_sentinels[2], &a, err, sizeof(err)), 0);
    assert_string_equal(a.host, "s3.internal");
    assert_int_equal(a.port, PSW_SENTINEL_PORT); /* the default port */
    /* the comma-separated form; the limit is PSW_MAX_SENTINELS */
    load_ok(&cfg, "redis: {sentinels: \"a:1, b:2\", sentinel_master: m}\n");
    assert_int_equal(cfg.redis_sentinels_n, 2);
    assert_string_equal(cfg.redis_sentinels[1], "b:2");
    /* the sentinels' own password: kept, printed masked, refused alone */
    load_ok(&cfg, "redis: {sentinels: [a:1], sentinel_master: m, sentinel_password: s3cr3t}\n");
    assert_string_equal(cfg.redis_sentinel_password, "s3cr3t");
    char *out = print_to_string(&cfg);
    assert_null(strstr(out, "s3cr3t"));
    assert_non_null(strstr(out, "sentinel_password: \"****\""));
    free(out);
    psw_config_free(&cfg);
    const char *alone = "redis: {sentinel_password: s3cr3t}\n";
    load_bad(alone, strlen(alone),
             "psw.yaml:1:28: redis.sentinel_password: only used with redis.sentinels");
}

static void test_log_enums_match_log_h(void **state)
{
    (void)state;
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    static const char *const formats[] = { "text", "json" };
    for (size_t i = 0; i < 4; i++) {
        char yaml[64];
        struct psw_config cfg = { 0 };
        snprintf(yaml, sizeof(yaml), "log: {level: %s}\n", levels[i]);
        load_ok(&cfg, yaml);
        assert_int_equal(cfg.log_level, psw_log_level_parse(levels[i]));
        assert_string_equal(psw_log_level_name((enum psw_log_level)cfg.log_level), levels[i]);
        psw_config_free(&cfg);
    }
    for (size_t i = 0; i < 2; i++) {
        char yaml[64];
        struct psw_config cfg = { 0 };
        snprintf(yaml, sizeof(yaml), "log: {format: %s}\n", formats[i]);
        load_ok(&cfg, yaml);
        assert_int_equal(cfg.log_format, psw_log_format_parse(formats[i]));
        psw_config_free(&cfg);
    }
}

static void test_empty_values(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    load_ok(&cfg, "http: {proxy: http://127.0.0.1:1, allowed_networks: [10.0.0.0/8]}\n"
                  "alerts: {webhook_url: http://127.0.0.1:2/}\n");
    /* "key:", "key: ~" and "" clear a string / list. */
    load_ok(&cfg, "http:\n  proxy:\n  allowed_networks: ~\nalerts:\n  webhook_url: \"\"\n");
    assert_string_equal(cfg.http_proxy, "");
    assert_int_equal(cfg.http_allowed_networks_n, 0);
    assert_string_equal(cfg.alerts_webhook_url, "");
    psw_config_free(&cfg);
}

/* ---- errors --------------------------------------------------------------- */

static const struct bad_case {
    const char *yaml;
    const char *err;
} bad_cases[] = {
    /* unknown keys: the key's position */
    { "redis:\n  urll: x\n", "psw.yaml:2:3: unknown key \"redis.urll\"" },
    { "redis.urll: redis://x\n", "psw.yaml:1:1: unknown key \"redis.urll\"" },
    { "# c\nfoo:\n  bar: 1\n", "psw.yaml:2:1: unknown key \"foo\"" },
    { "worker:\n  concurrency: 2\n  redis.url: redis://x\n",
      "psw.yaml:3:3: unknown key \"worker.redis.url\"" },
    { "log: {level: info, colour: red}\n", "psw.yaml:1:20: unknown key \"log.colour\"" },
    /* wrong types */
    { "worker:\n  concurrency: abc\n",
      "psw.yaml:2:16: worker.concurrency: expected an integer, got \"abc\"" },
    { "worker:\n  concurrency: 1.5\n",
      "psw.yaml:2:16: worker.concurrency: expected an integer, got \"1.5\"" },
    { "worker:\n  concurrency:\n",
      "psw.yaml:2:15: worker.concurrency: expected an integer, got \"\"" },
    { "http:\n  allow_private_networks: maybe\n",
      "psw.yaml:2:27: http.allow_private_networks: expected true or false, got \"maybe\"" },
    { "redis:\n  url:\n    host: x\n",
      "psw.yaml:3:5: redis.url: expected a string, got a mapping" },
    { "retry:\n  schedule: {a: 1}\n",
      "psw.yaml:2:13: retry.schedule: expected a list of durations, got a mapping" },
    { "redis: 5\n", "psw.yaml:1:8: redis: expected a mapping of redis.* keys, got a scalar" },
    { "- a\n- b\n",
      "psw.yaml:1:1: expected a mapping of sections (redis:, worker:, ...), got a sequence" },
    { "? [a]\n: 1\n", "psw.yaml:1:3: expected a key name, got a sequence" },
    /* sequence where a scalar is expected: flow and block */
    { "worker:\n  concurrency: [1, 2]\n",
      "psw.yaml:2:16: worker.concurrency: expected an integer, got a sequence" },
    { "worker:\n  concurrency:\n    - 1\n",
      "psw.yaml:3:5: worker.concurrency: expected an integer, got a sequence" },
    { "log:\n  level: [info]\n",
      "psw.yaml:2:10: log.level: expected one of debug, info, warn, error, got a sequence" },
    { "retry:\n  schedule:\n    - 1s\n    - [2s]\n",
      "psw.yaml:4:7: retry.schedule: entry 2: expected a duration (e.g. 250ms, 5s, 2m, 1h, 30d), "
      "got a sequence" },
    /* out of range */
    { "worker:\n  concurrency: 0\n",
      "psw.yaml:2:16: worker.concurrency: must be between 1 and 10000, got 0" },
    { "worker:\n  concurrency: 10001\n",
      "psw.yaml:2:16: worker.concurrency: must be between 1 and 10000, got 10001" },
    { "worker: {processes: -1}\n",
      "psw.yaml:1:21: worker.processes: must be between 0 and 1024, got -1" },
    { "worker:\n  concurrency: 99999999999999999999\n",
      "psw.yaml:2:16: worker.concurrency: must be between 1 and 10000, got 99999999999999999999" },
    { "limits:\n  max_event_bytes: 1023\n",
      "psw.yaml:2:20: limits.max_event_bytes: must be between 1024 and 16777216, got 1023" },
    { "retention:\n  days: 3651\n",
      "psw.yaml:2:9: retention.days: must be between 1 and 3650, got 3651" },
    { "endpoint:\n  disable_after_failures: 0\n",
      "psw.yaml:2:27: endpoint.disable_after_failures: must be between 1 and 100000, got 0" },
    { "http:\n  timeout: 2h\n", "psw.yaml:2:12: http.timeout: must be between 1ms and 1h, got 2h" },
    { "http:\n  timeout: 0\n", "psw.yaml:2:12: http.timeout: must be between 1ms and 1h, got 0" },
    { "scheduler:\n  tick: 11s\n",
      "psw.yaml:2:9: scheduler.tick: must be between 1ms and 10s, got 11s" },
    { "retry:\n  schedule: [1s, 0s]\n",
      "psw.yaml:2:18: retry.schedule: entry 2: must be between 1ms and 30d, got 0s" },
    { "retry:\n  schedule: []\n",
      "psw.yaml:2:13: retry.schedule: must have between 1 and 32 entries, got 0" },
    { "retry:\n  schedule: \"\"\n",
      "psw.yaml:2:13: retry.schedule: must have between 1 and 32 entries, got 0" },
    /* bad durations */
    { "http:\n  timeout: 5x\n",
      "psw.yaml:2:12: http.timeout: expected a duration (e.g. 250ms, 5s, 2m, 1h, 30d), got \"5x\"" },
    { "http:\n  timeout: -5s\n",
      "psw.yaml:2:12: http.timeout: expected a duration (e.g. 250ms, 5s, 2m, 1h, 30d), got \"-5s\"" },
    { "http:\n  timeout: 1.5s\n",
      "psw.yaml:2:12: http.timeout: expected a duration (e.g. 250ms, 5s, 2m, 1h, 30d), got \"1.5s\"" },
    { "http:\n  timeout: 10\n",
      "psw.yaml:2:12: http.timeout: expected a duration (e.g. 250ms, 5s, 2m, 1h, 30d), got \"10\"" },
    { "retry:\n  schedule: \"1s, x, 5s\"\n",
      "psw.yaml:2:13: retry.schedule: entry 2: expected a duration (e.g. 250ms, 5s, 2m, 1h, 30d), "
      "got \"x\"" },
    { "retry:\n  schedule: 1s,,5s\n", "psw.yaml:2:13: retry.schedule: entry 2 is empty" },
    /* bad enums */
    { "log:\n  level: verbose\n",
      "psw.yaml:2:10: log.level: expected one of debug, info, warn, error, got \"verbose\"" },
    { "log:\n  level: INFO\n",
      "psw.yaml:2:10: log.level: expected one of debug, info, warn, error, got \"INFO\"" },
    { "log:\n  format: xml\n",
      "psw.yaml:2:11: log.format: expected one of text, json, got \"xml\"" },
    /* bad CIDRs */
    { "http:\n  allowed_networks: [10.0.0.0/8, 10.0.0.0/33]\n",
      "psw.yaml:2:34: http.allowed_networks: entry 2: expected a CIDR network "
      "(e.g. 10.0.0.0/8, fd00::/8), got \"10.0.0.0/33\"" },
    { "http:\n  allowed_networks:\n    - 10.0.0.1\n",
      "psw.yaml:3:7: http.allowed_networks: entry 1: expected a CIDR network "
      "(e.g. 10.0.0.0/8, fd00::/8), got \"10.0.0.1\"" },
    { "http:\n  allowed_networks: [\"::1/129\"]\n",
      "psw.yaml:2:22: http.allowed_networks: entry 1: expected a CIDR network "
      "(e.g. 10.0.0.0/8, fd00::/8), got \"::1/129\"" },
    { "http:\n  allowed_networks: [example.com/8]\n",
      "psw.yaml:2:22: http.allowed_networks: entry 1: expected a CIDR network "
      "(e.g. 10.0.0.0/8, fd00::/8), got \"example.com/8\"" },
    { "http:\n  allowed_networks: [10.0.0/8]\n",
      "psw.yaml:2:22: http.allowed_networks: entry 1: expected a CIDR network "
      "(e.g. 10.0.0.0/8, fd00::/8), got \"10.0.0/8\"" },
    { "http:\n  allowed_networks: [10.0.0.0/+8]\n",
      "psw.yaml:2:22: http.allowed_networks: entry 1: expected a CIDR network "
      "(e.g. 10.0.0.0/8, fd00::/8), got \"10.0.0.0/+8\"" },
    /* strings with rules */
    { "redis:\n  url: http://x\n",
      "psw.yaml:2:8: redis.url: must start with redis:// or unix://, got \"http://x\"" },
    { "redis:\n  url: \"rediss://:s3cret@127.0.0.1\"\n", /* no password in messages */
      "psw.yaml:2:8: redis.url: must start with redis:// or unix://, got \"rediss://:****@127.0.0.1\"" },
    { "alerts:\n  webhook_url: \"ftp://me:s3cret@127.0.0.1/x\"\n",
      "psw.yaml:2:16: alerts.webhook_url: must be empty or start with http:// or https://, "
      "got \"ftp://me:****@127.0.0.1/x\"" },
    { "redis:\n  url: \"\"\n", "psw.yaml:2:8: redis.url: must not be empty" },
    { "redis:\n  url: \"redis://a b\"\n",
      "psw.yaml:2:8: redis.url: must not contain spaces or control characters" },
    { "redis:\n  prefix: \"\"\n", "psw.yaml:2:11: redis.prefix: must not be empty" },
    { "redis:\n  prefix: \"a b:\"\n",
      "psw.yaml:2:11: redis.prefix: must not contain spaces or control characters" },
    { "redis:\n  prefix: "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
      "psw.yaml:2:11: redis.prefix: must be at most 64 bytes long, got 65" },
    { "alerts:\n  webhook_url: ftp://x\n",
      "psw.yaml:2:16: alerts.webhook_url: must be empty or start with http:// or https://, "
      "got \"ftp://x\"" },
    { "alerts:\n  webhook_url: https://\n",
      "psw.yaml:2:16: alerts.webhook_url: must be empty or start with http:// or https://, "
      "got \"https://\"" },
    { "secrets:\n  key_file: \"a\\nb\"\n",
      "psw.yaml:2:13: secrets.key_file: must not contain control characters" },
    { "secrets:\n  key_file: \"a\\0b\"\n",
      "psw.yaml:2:13: secrets.key_file: must not contain NUL bytes" },
    /* Sentinel */
    { "redis:\n  sentinels: [127.0.0.1:26379, \"127.0.0.1:0\"]\n  sentinel_master: m\n",
      "psw.yaml:2:32: redis.sentinels: entry 2: \"127.0.0.1:0\": port must be 1-65535" },
    { "redis:\n  sentinels: [\"redis://h:1\"]\n  sentinel_master: m\n",
      "psw.yaml:2:15: redis.sentinels: entry 1: \"redis://h:1\": expected host:port "
      "(no scheme, user or spaces)" },
    { "redis:\n  sentinels: \"::1:26379\"\n  sentinel_master: m\n",
      "psw.yaml:2:14: redis.sentinels: entry 1: \"::1:26379\": write an IPv6 address in "
      "brackets: [addr]:port" },
    { "redis:\n  sentinels: [h1:1, h2:2]\n",
      "psw.yaml:2:14: redis.sentinels: needs redis.sentinel_master (the name the sentinels know "
      "the primary by)" },
    { "redis:\n  sentinel_master: mymaster\n",
      "psw.yaml:2:20: redis.sentinel_master: needs redis.sentinels (where the sentinels are)" },
    { "redis:\n  sentinel_master: \"my master\"\n  sentinels: [h:1]\n",
      "psw.yaml:2:20: redis.sentinel_master: must not contain spaces or control characters" },
    { "redis:\n  url: unix:///run/redis.sock\n  sentinels: [h:1]\n  sentinel_master: m\n",
      "psw.yaml:2:8: redis.url: with redis.sentinel_master it must be redis:// (the sentinels "
      "name the server; the URL gives the user, password and database)" },
    { "redis:\n  min_replicas_acked: -1\n",
      "psw.yaml:2:23: redis.min_replicas_acked: must be between 0 and 100, got -1" },
    { "redis:\n  min_replicas_acked: 1\n  min_replicas_timeout: 10s\n",
      "psw.yaml:3:25: redis.min_replicas_timeout: must be shorter than redis.command_timeout "
      "(10s), got 10s" },
    /* duplicates: the second key's position */
    { "redis:\n  url: redis://a\n  url: redis://b\n", "psw.yaml:3:3: duplicate key \"redis.url\"" },
    { "redis:\n  url: redis://a\nredis:\n  prefix: b\n", "psw.yaml:3:1: duplicate key \"redis\"" },
    { "redis.url: redis://a\nredis:\n  url: redis://b\n",
      "psw.yaml:3:3: duplicate key \"redis.url\"" },
    { "log: {level: info, level: info}\n", "psw.yaml:1:20: duplicate key \"log.level\"" },
    /* malformed YAML */
    { "worker:\n\tconcurrency: 1\n",
      "psw.yaml:2:1: YAML syntax error: found character that cannot start any token "
      "(while scanning for the next token); indent with spaces, not tabs" },
    { "redis:\n  url: redis://x\n prefix: y\n",
      "psw.yaml:3:2: YAML syntax error: did not find expected key "
      "(while parsing a block mapping at 1:1)" },
    { "redis: {url: redis://x\n",
      "psw.yaml:2:1: YAML syntax error: did not find expected ',' or '}' "
      "(while parsing a flow mapping at 1:8)" },
    { "redis:\n  url: \"redis://x\n",
      "psw.yaml:3:1: YAML syntax error: found unexpected end of stream "
      "(while scanning a quoted scalar at 2:8)" },
    { "worker:\n  concurrency: 8\n---\nlog: {}\n", "psw.yaml:3:1: only one YAML document is allowed" },
    { "worker:\n  concurrency: &n 8\n  claim_batch: *n\n",
      "psw.yaml:3:16: worker.claim_batch: expected an integer, got an alias "
      "(aliases are not supported)" },
    { "log: {level: \"\\q\"}\n",
      "psw.yaml:1:15: YAML syntax error: found unknown escape character "
      "(while parsing a quoted scalar at 1:14)" },
    { "log: {level: \xff}\n", "psw.yaml:1:14: YAML syntax error: invalid leading UTF-8 octet" },
    /* rules between keys */
    { "worker:\n  heartbeat: 1m\n",
      "psw.yaml:2:14: scheduler.worker_timeout: must be longer than worker.heartbeat (1m), got 30s" },
    { "scheduler: {worker_timeout: 1s}\n",
      "psw.yaml:1:29: scheduler.worker_timeout: must be longer than worker.heartbeat (1s), got 1s" },
    { "retention:\n  days: 1\n",
      "psw.yaml:2:9: retry.max_age: must be shorter than retention.days (1d), got 1d" },
};

static void test_bad_yaml_table(void **state)
{
    (void)state;
    size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
    size_t failed = 0;
    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) /* all cases run, every mismatch is shown */
        if (!check_bad(bad_cases[i].yaml, strlen(bad_cases[i].yaml), bad_cases[i].err))
            failed++;
    if (failed)
        fail_msg("%zu of %zu bad-YAML cases failed", failed, n);
}

static void test_embedded_nul_input(void **state)
{
    (void)state;
    /* A NUL byte in the file itself (not an escape) is a reader error. */
    static const char yaml[] = "log:\n  level: in\0fo\n";
    load_bad(yaml, sizeof(yaml) - 1,
             "psw.yaml:2:12: YAML syntax error: control characters are not allowed");
}

static void test_error_leaves_config_unchanged(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    char err[512];
    load_ok(&cfg, "worker: {concurrency: 7}\nhttp: {allowed_networks: [10.0.0.0/8]}\n");
    /* Valid keys before the bad one are not applied either. */
    static const char bad[] = "worker: {concurrency: 8}\nhttp: {allowed_networks: [1.2.3.4]}\n";
    assert_int_equal(psw_config_load_string(&cfg, bad, strlen(bad), "x.yaml", err, sizeof(err)),
                     -1);
    assert_int_equal(strncmp(err, "x.yaml:2:27: http.allowed_networks: entry 1:", 44), 0);
    assert_int_equal(cfg.worker_concurrency, 7);
    assert_int_equal(cfg.http_allowed_networks_n, 1);
    assert_string_equal(cfg.http_allowed_networks[0], "10.0.0.0/8");
    psw_config_free(&cfg);
    psw_config_free(&cfg);
}

/* ---- files and environment -------------------------------------------------- */

static void test_load_file(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    char err[512] = "";
    const char *path = write_tmp("full.yaml", full_yaml);
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), 0);
    assert_full(&cfg);
    assert_string_equal(cfg.source_path, path);
    /* Loading again into the same struct replaces everything, no leak. */
    const char *small = write_tmp("small.yaml", "worker:\n  concurrency: 3\n");
    assert_int_equal(psw_config_load(&cfg, small, err, sizeof(err)), 0);
    assert_int_equal(cfg.worker_concurrency, 3);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0"); /* back to the default */
    assert_string_equal(cfg.source_path, small);
    /* load_file applies on top and records its path. */
    assert_int_equal(psw_config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_full(&cfg);
    assert_string_equal(cfg.source_path, path);
    psw_config_free(&cfg);
}

static void test_file_errors(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    char err[512], want[512];

    /* An explicit file that does not exist. */
    snprintf(want, sizeof(want), "%s/missing.yaml", tmpdir);
    assert_int_equal(psw_config_load(&cfg, want, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s/missing.yaml: cannot read: No such file or directory",
             tmpdir);
    assert_string_equal(err, want);
    assert_null(cfg.redis_url);

    /* A directory is not readable as a file. */
    assert_int_equal(psw_config_load(&cfg, tmpdir, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
    assert_string_equal(err, want);

    /* Anything over 1 MiB is refused before parsing. */
    char *big = malloc(1024 * 1024 + 2);
    assert_non_null(big);
    memset(big, '#', 1024 * 1024 + 1);
    big[1024 * 1024 + 1] = '\0';
    const char *bigpath = write_tmp("big.yaml", big);
    free(big);
    assert_int_equal(psw_config_load_file(&cfg, bigpath, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: larger than 1048576 bytes, not a config file", bigpath);
    assert_string_equal(err, want);
    unlink(bigpath);
    /* exactly 1 MiB of comments is fine */
    big = malloc(1024 * 1024 + 1);
    assert_non_null(big);
    memset(big, '#', 1024 * 1024);
    big[1024 * 1024] = '\0';
    bigpath = write_tmp("big.yaml", big);
    free(big);
    assert_int_equal(psw_config_load_file(&cfg, bigpath, err, sizeof(err)), 0);
    assert_defaults(&cfg);
    assert_string_equal(cfg.source_path, bigpath);
    psw_config_free(&cfg);

    /* A value error in a file names the path given. */
    const char *path = write_tmp("bad.yaml", "redis:\n  url: redis://x\n\nworker:\n  claim_batch: 0\n");
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:5:16: worker.claim_batch: must be between 1 and 10000, got 0",
             path);
    assert_string_equal(err, want);
    assert_int_equal(psw_config_load_file(&cfg, path, err, sizeof(err)), -1);
    assert_string_equal(err, want);

    /* A failed load leaves a loaded struct as it was. */
    assert_int_equal(psw_config_defaults(&cfg), 0);
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), -1);
    assert_defaults(&cfg);
    psw_config_free(&cfg);
}

static void test_psw_config_env(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    char err[512] = "", want[512];
    const char *env_file = write_tmp("env.yaml", "log:\n  level: warn\n");
    const char *arg_file = write_tmp("arg.yaml", "log:\n  level: error\n");

    setenv("PSW_CONFIG", env_file, 1);
    assert_int_equal(psw_config_load(&cfg, NULL, err, sizeof(err)), 0);
    assert_int_equal(cfg.log_level, PSW_LOG_WARN);
    assert_string_equal(cfg.source_path, env_file);

    /* --config wins over $PSW_CONFIG. */
    assert_int_equal(psw_config_load(&cfg, arg_file, err, sizeof(err)), 0);
    assert_int_equal(cfg.log_level, PSW_LOG_ERROR);
    assert_string_equal(cfg.source_path, arg_file);

    /* $PSW_CONFIG naming a missing file is an error that says where it came from. */
    snprintf(want, sizeof(want), "%s/nope.yaml", tmpdir);
    setenv("PSW_CONFIG", want, 1);
    assert_int_equal(psw_config_load(&cfg, NULL, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "%s/nope.yaml: cannot read: No such file or directory (named by PSW_CONFIG)", tmpdir);
    assert_string_equal(err, want);
    assert_int_equal(cfg.log_level, PSW_LOG_ERROR); /* unchanged */
    unsetenv("PSW_CONFIG");
    psw_config_free(&cfg);
}

static void test_no_file_means_defaults(void **state)
{
    (void)state;
    if (access(PSW_CONFIG_DEFAULT_PATH, F_OK) == 0)
        skip(); /* this machine has a real config; cannot test the fallback */
    struct psw_config cfg = { 0 };
    char err[512] = "";
    setenv("PSW_CONFIG", "", 1); /* empty = unset */
    assert_int_equal(psw_config_load(&cfg, NULL, err, sizeof(err)), 0);
    assert_defaults(&cfg);
    assert_string_equal(cfg.source_path, "");
    unsetenv("PSW_CONFIG");
    psw_config_free(&cfg);
}

static void test_redis_url_env(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    char err[512] = "";
    const char *path = write_tmp("url.yaml", "redis:\n  url: redis://127.0.0.1:7000/1\n");

    setenv("PSW_REDIS_URL", "redis://127.0.0.1:7001/2", 1);
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:7001/2");

    /* Validated like the file value; the error names the variable. */
    setenv("PSW_REDIS_URL", "http://127.0.0.1:7001", 1);
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "PSW_REDIS_URL: must start with redis:// or unix://, got \"http://127.0.0.1:7001\"");
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:7001/2"); /* unchanged */

    /* Empty = not set: the file's value stands. */
    setenv("PSW_REDIS_URL", "", 1);
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:7000/1");

    unsetenv("PSW_REDIS_URL");
    assert_int_equal(psw_config_load(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:7000/1");
    psw_config_free(&cfg);
}

/* ---- print ------------------------------------------------------------------ */

static void roundtrip(const struct psw_config *cfg)
{
    char err[512] = "";
    char *text = print_to_string(cfg);
    struct psw_config back = { 0 };
    if (psw_config_load_string(&back, text, strlen(text), "printed", err, sizeof(err)) != 0)
        fail_msg("printed config does not load: %s\n%s", err, text);
    assert_config_equal(cfg, &back);
    /* and printing again gives the same bytes (source_path aside) */
    char *again = print_to_string(&back);
    const char *body1 = strchr(text, '\n'), *body2 = strchr(again, '\n');
    assert_non_null(body1);
    assert_non_null(body2);
    assert_string_equal(body1, body2);
    free(again);
    free(text);
    psw_config_free(&back);
}

static void test_print_roundtrip(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    assert_int_equal(psw_config_defaults(&cfg), 0);
    roundtrip(&cfg);
    load_ok(&cfg, full_yaml);
    roundtrip(&cfg);
    /* odd strings survive quoting */
    load_ok(&cfg, "secrets: {key_file: \"/a b/\\\"q\\\"/\\\\/#not-a-comment/\xc3\xa9.key\"}\n"
                  "redis: {prefix: \"x:#'[]{}\"}\n");
    assert_string_equal(cfg.secrets_key_file, "/a b/\"q\"/\\/#not-a-comment/\xc3\xa9.key");
    roundtrip(&cfg);
    psw_config_free(&cfg);
}

static void test_print_layout(void **state)
{
    (void)state;
    struct psw_config cfg = { 0 };
    assert_int_equal(psw_config_defaults(&cfg), 0);
    char *text = print_to_string(&cfg);
    /* grouped by section, each key preceded by its help comment */
    assert_non_null(strstr(text, "\nredis:\n  # "));
    assert_non_null(strstr(text, "\n  url: \"redis://127.0.0.1:6379/0\"\n"));
    assert_non_null(strstr(text, "\nretry:\n  # "));
    assert_non_null(strstr(text, "\n  schedule: [1s, 5s, 30s, 2m, 10m, 1h, 6h, 1d]\n"));
    assert_non_null(strstr(text, "\n  allowed_networks: []\n"));
    assert_non_null(strstr(text, "\n  level: info\n"));
    assert_non_null(strstr(text, "(1..10000)\n  concurrency: 64\n"));
    assert_non_null(strstr(text, "(built-in defaults)"));
    free(text);
    psw_config_free(&cfg);
}

static void test_print_masks_credentials(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *shown;
    } cases[] = {
        { "redis: {url: \"redis://user:s3cret@127.0.0.1:6379/0\"}\n",
          "url: \"redis://user:****@127.0.0.1:6379/0\"" },
        { "redis: {url: \"redis://:s3cret@127.0.0.1:6379/0\"}\n",
          "url: \"redis://:****@127.0.0.1:6379/0\"" },
        { "redis: {url: \"redis://s3cret@127.0.0.1\"}\n", "url: \"redis://****@127.0.0.1\"" },
        { "redis: {url: \"redis://u:p@ss:s3cret@h:1/0\"}\n", "url: \"redis://u:****@h:1/0\"" },
        { "redis: {url: \"unix://:s3cret@/run/redis.sock\"}\n",
          "url: \"unix://:****@/run/redis.sock\"" },
        { "alerts: {webhook_url: \"https://bob:s3cret@127.0.0.1/hook?token=s3cret&x=1#f\"}\n",
          "webhook_url: \"https://bob:****@127.0.0.1/hook?token=****&x=1#f\"" },
        { "alerts: {webhook_url: \"http://127.0.0.1/h?a=1&Signature=s3cret\"}\n",
          "webhook_url: \"http://127.0.0.1/h?a=1&Signature=****\"" },
        { "http: {proxy: \"http://me:s3cret@127.0.0.1:3128\"}\n",
          "proxy: \"http://me:****@127.0.0.1:3128\"" },
        /* nothing to hide: shown as is */
        { "redis: {url: \"redis://127.0.0.1:6379/0\"}\n", "url: \"redis://127.0.0.1:6379/0\"" },
        { "alerts: {webhook_url: \"https://127.0.0.1/a@b\"}\n",
          "webhook_url: \"https://127.0.0.1/a@b\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct psw_config cfg = { 0 };
        load_ok(&cfg, cases[i].yaml);
        char *text = print_to_string(&cfg);
        if (!strstr(text, cases[i].shown))
            fail_msg("case %zu: %s not in:\n%s", i, cases[i].shown, text);
        if (strstr(text, "s3cret"))
            fail_msg("case %zu: secret printed:\n%s", i, text);
        free(text);
        psw_config_free(&cfg);
    }
}

/* ---- docs/config.md ------------------------------------------------------------- */

static char *read_docs(void)
{
    const char *src = getenv("PSW_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/config.md", src && *src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (set PSW_SRC to the repository root)", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    return buf;
}

/* The key names, from print's output (which walks the descriptor table). */
static size_t printed_keys(char names[][64], size_t max)
{
    struct psw_config cfg = { 0 };
    assert_int_equal(psw_config_defaults(&cfg), 0);
    char *text = print_to_string(&cfg);
    char section[32] = "";
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        size_t l = strlen(line);
        if (line[0] != ' ' && line[0] != '#' && l > 1 && line[l - 1] == ':') {
            snprintf(section, sizeof(section), "%.*s", (int)(l - 1), line);
        } else if (strncmp(line, "  ", 2) == 0 && line[2] != '#') {
            char *colon = strchr(line, ':');
            assert_non_null(colon);
            assert_true(n < max);
            snprintf(names[n++], 64, "%s.%.*s", section, (int)(colon - line - 2), line + 2);
        }
    }
    free(text);
    psw_config_free(&cfg);
    return n;
}

static void test_docs_list_every_key(void **state)
{
    (void)state;
    char names[128][64];
    size_t n = printed_keys(names, 128);
    char *docs = read_docs();
    assert_true(n >= 22); /* docs/config.md lists 22 keys at least */
    for (size_t i = 0; i < n; i++) {
        char row[96];
        snprintf(row, sizeof(row), "\n| `%s` |", names[i]);
        if (!strstr(docs, row))
            fail_msg("docs/config.md has no table row for %s", names[i]);
    }

    /* Each documented row is a real key and its default column is the real
     * default: "key: <default>" loaded onto the defaults changes nothing. */
    struct psw_config defaults = { 0 };
    assert_int_equal(psw_config_defaults(&defaults), 0);
    size_t rows = 0;
    for (const char *p = strstr(docs, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
        char name[64], def[128], yaml[256], err[512] = "";
        const char *n0 = p + 4, *n1 = strchr(n0, '`');
        assert_non_null(n1);
        /* cells: | `name` | type | `default` | … */
        const char *c = strchr(n1, '|');
        assert_non_null(c);
        c = strchr(c + 1, '|');
        assert_non_null(c);
        const char *d0 = strchr(c, '`'), *d1 = d0 ? strchr(d0 + 1, '`') : NULL;
        assert_non_null(d1);
        snprintf(name, sizeof(name), "%.*s", (int)(n1 - n0), n0);
        if (strchr(name, '.') == NULL || strncmp(name, "PSW_", 4) == 0)
            continue; /* the environment table */
        snprintf(def, sizeof(def), "%.*s", (int)(d1 - d0 - 1), d0 + 1);
        snprintf(yaml, sizeof(yaml), "%s: %s\n", name, def);
        struct psw_config cfg = { 0 };
        assert_int_equal(psw_config_defaults(&cfg), 0);
        if (psw_config_load_string(&cfg, yaml, strlen(yaml), "docs", err, sizeof(err)) != 0)
            fail_msg("docs row %s: default `%s` does not load: %s", name, def, err);
        char *got = print_to_string(&cfg), *want = print_to_string(&defaults);
        if (strcmp(got, want) != 0)
            fail_msg("docs row %s: default `%s` is not the real default", name, def);
        free(got);
        free(want);
        assert_config_equal(&cfg, &defaults);
        psw_config_free(&cfg);
        rows++;
    }
    assert_int_equal(rows, n); /* no extra, no missing rows */

    /* The complete example file loads and is exactly the defaults. */
    const char *ex = strstr(docs, "## Complete example");
    assert_non_null(ex);
    ex = strstr(ex, "```yaml\n");
    assert_non_null(ex);
    ex += 8;
    const char *end = strstr(ex, "```");
    assert_non_null(end);
    struct psw_config cfg = { 0 };
    char err[512] = "";
    if (psw_config_load_string(&cfg, ex, (size_t)(end - ex), "example", err, sizeof(err)) != 0)
        fail_msg("the example in docs/config.md does not load: %s", err);
    assert_config_equal(&cfg, &defaults);
    for (size_t i = 0; i < n; i++) {
        /* every key appears in the example */
        const char *dot = strchr(names[i], '.');
        char line[96];
        snprintf(line, sizeof(line), "\n  %s: ", dot + 1);
        if (!strstr(ex, line))
            fail_msg("the example in docs/config.md lacks %s", names[i]);
    }
    psw_config_free(&cfg);
    psw_config_free(&defaults);
    free(docs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_every_key_from_yaml),
        cmocka_unit_test(test_dotted_keys),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_ints_and_durations),
        cmocka_unit_test(test_processes_zero_is_cpu_count),
        cmocka_unit_test(test_schedule_forms),
        cmocka_unit_test(test_allowed_networks),
        cmocka_unit_test(test_sentinels),
        cmocka_unit_test(test_log_enums_match_log_h),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_bad_yaml_table),
        cmocka_unit_test(test_embedded_nul_input),
        cmocka_unit_test(test_error_leaves_config_unchanged),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_psw_config_env),
        cmocka_unit_test(test_no_file_means_defaults),
        cmocka_unit_test(test_redis_url_env),
        cmocka_unit_test(test_print_roundtrip),
        cmocka_unit_test(test_print_layout),
        cmocka_unit_test(test_print_masks_credentials),
        cmocka_unit_test(test_docs_list_every_key),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
