/*
 * daemon.c — see daemon.h. Signal handlers only set flags.
 */
#include "common/daemon.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/log.h"
#include "common/reply.h"

#ifndef PSW_VERSION
#define PSW_VERSION "dev"
#endif

static volatile sig_atomic_t *stop_flag;
static volatile sig_atomic_t *reload_flag;

static void on_stop(int sig)
{
    (void)sig;
    if (stop_flag)
        *stop_flag = 1;
}

static void on_reload(int sig)
{
    (void)sig;
    if (reload_flag)
        *reload_flag = 1;
}

static void usage(const struct psw_daemon_info *info, FILE *out)
{
    fprintf(out,
            "usage: %s [--config FILE] [--print-config] [--check] [--help] [--version]\n"
            "%s\n\n"
            "  --config FILE   configuration file (else $PSW_CONFIG, else %s if present,\n"
            "                  else built-in defaults); PSW_REDIS_URL overrides redis.url\n"
            "  --print-config  print the effective configuration as YAML and exit\n"
            "  --check         %s\n"
            "  --help          this text\n"
            "  --version       print the version\n",
            info->prog, info->summary, PSW_CONFIG_DEFAULT_PATH, info->check_help);
}

int psw_daemon_parse(const struct psw_daemon_info *info, int argc, char **argv,
                     struct psw_daemon_args *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --config needs a file name\n", info->prog);
                return PSW_EXIT_USAGE;
            }
            out->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            out->config_path = a + 9;
        } else if (strcmp(a, "--print-config") == 0) {
            out->print_config = 1;
        } else if (strcmp(a, "--check") == 0) {
            out->check = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(info, stdout);
            return PSW_EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", info->prog, PSW_VERSION);
            return PSW_EXIT_OK;
        } else {
            fprintf(stderr, "%s: unknown argument \"%s\"\n", info->prog, a);
            usage(info, stderr);
            return PSW_EXIT_USAGE;
        }
    }
    return -1;
}

struct psw_config *psw_daemon_config(const struct psw_daemon_info *info,
                                     const struct psw_daemon_args *args)
{
    char err[1024];
    struct psw_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        fprintf(stderr, "%s: out of memory\n", info->prog);
        return NULL;
    }
    if (psw_config_load(cfg, args->config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: configuration error: %s\n", info->prog, err);
        psw_config_free(cfg);
        free(cfg);
        return NULL;
    }
    psw_log_init(info->role, (enum psw_log_level)cfg->log_level,
                 (enum psw_log_format)cfg->log_format);
    return cfg;
}

int psw_daemon_main(const struct psw_daemon_info *info, int argc, char **argv)
{
    struct psw_daemon_args args;
    int rc = psw_daemon_parse(info, argc, argv, &args);
    if (rc >= 0)
        return rc;
    struct psw_config *cfg = psw_daemon_config(info, &args);
    if (!cfg)
        return 78;
    if (!args.print_config && !args.check)
        return info->run(cfg, args.config_path);
    if (args.print_config) {
        psw_config_print(cfg, stdout);
        rc = PSW_EXIT_OK;
    } else {
        rc = info->check(cfg);
    }
    psw_config_free(cfg);
    free(cfg);
    return rc;
}

void psw_daemon_signals(volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    struct sigaction sa;
    stop_flag = stop;
    reload_flag = reload;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = reload ? on_reload : SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int psw_daemon_check(const struct psw_config *cfg, const char *which, long long max_age_ms,
                     int any_host)
{
    struct psw_ctx ctx;
    char err[1024], key[PSW_KEY_SIZE], host[64] = "";
    int rc = 1;

    if (psw_ctx_open(&ctx, cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err)) != PSW_OK) {
        printf("unhealthy: %s\n", err);
        return 1;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(key, sizeof(key), "%s%s", cfg->redis_prefix, which);
    redisReply *t = psw_redis_command(ctx.redis, "TIME");
    redisReply *z = t ? psw_redis_command(ctx.redis, "ZRANGEBYSCORE %s %lld +inf", key,
                                          psw_reply_int(t, 0, 0) * 1000 +
                                              psw_reply_int(t, 1, 0) / 1000 - max_age_ms)
                      : NULL;
    if (!z) {
        printf("unhealthy: %s\n", psw_redis_errstr(ctx.redis));
    } else {
        size_t n = 0;
        for (size_t i = 0; z->type == REDIS_REPLY_ARRAY && i < z->elements; i++) {
            const char *id = z->element[i]->str;
            size_t hl = strlen(host);
            if (any_host || (strncmp(id, host, hl) == 0 && id[hl] == ':'))
                n++;
        }
        if (n > 0) {
            printf("healthy: %zu live %s%s\n", n, which, any_host ? "" : " on this host");
            rc = 0;
        } else {
            printf("unhealthy: no %s heartbeat in the last %lld ms%s\n", which, max_age_ms,
                   any_host ? "" : " from this host");
        }
    }
    if (t)
        freeReplyObject(t);
    if (z)
        freeReplyObject(z);
    psw_ctx_close(&ctx);
    return rc;
}
