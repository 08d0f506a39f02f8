/*
 * psw — the command line (docs/cli.md): endpoints, secrets, publishing, the
 * delivery log, replay, stats and signature checks.
 *
 * main parses the line (args.c), loads the configuration and opens the Redis
 * context for the commands that need one (fail fast: a CLI reports an
 * unreachable Redis instead of waiting for it), runs the command and maps
 * the outcome onto the exit status: 0 ok, 1 the operation failed, 2 usage
 * or input error (bad option, bad value, a configuration file with errors).
 * Each command lives in the file named after it; the work is in common/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/psw/cli.h"
#include "common/log.h"
#include "common/timeutil.h"

const struct cli_command *const cli_commands[] = {
    &cli_endpoint_create, &cli_endpoint_list,    &cli_endpoint_show,   &cli_endpoint_update,
    &cli_endpoint_delete, &cli_endpoint_enable,  &cli_endpoint_disable, &cli_endpoint_rotate,
    &cli_secrets_status,  &cli_secrets_rekey,
    &cli_publish,         &cli_deliveries,       &cli_delivery_show,   &cli_replay,
    &cli_stats,           &cli_queue,            &cli_alerts,          &cli_verify,
    &cli_token_create,    &cli_token_list,       &cli_token_revoke,    &cli_audit,
    &cli_shard,           &cli_migrate_endpoints,
    NULL,
};

/* Loads the configuration and connects. Returns -1 to go on, else an exit status. */
static int open_context(struct cli *cli)
{
    char err[1024];
    int rc;

    if (psw_config_load(&cli->cfg, cli->config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: configuration: %s\n", cli->name, err);
        return PSW_EXIT_USAGE;
    }
    /* The library logs for daemons; a command line shows only real trouble. */
    psw_log_init("psw", cli->cfg.log_level > PSW_LOG_WARN ? cli->cfg.log_level : PSW_LOG_WARN,
                 cli->cfg.log_format);
    rc = psw_ctx_open(&cli->ctx, &cli->cfg, PSW_REDIS_FAIL_FAST, NULL, err, sizeof(err));
    if (rc != PSW_OK) {
        fprintf(stderr, "%s: %s\n", cli->name, err);
        return rc == PSW_EINVAL ? PSW_EXIT_USAGE : PSW_EXIT_FAIL;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct cli cli;
    int rc;

    memset(&cli, 0, sizeof(cli));
    psw_log_init("psw", PSW_LOG_WARN, PSW_LOG_TEXT);
    cli.now_ms = psw_now_ms();
    rc = cli_parse(&cli, argc - 1, argv + 1);
    /* Stored text can come from receivers: people see it escaped. */
    if (rc < 0 && cli_safe_streams(!cli.json) < 0) {
        fprintf(stderr, "%s: out of memory\n", cli.name);
        rc = PSW_EXIT_FAIL;
    }
    if (rc < 0 && cli.cmd->needs_redis)
        rc = open_context(&cli);
    if (rc < 0)
        rc = cli.cmd->run(&cli);
    /* A full disk or a closed pipe must not look like success. */
    int out_failed = cli_safe_streams_close() < 0;
    if ((fflush(stdout) != 0 || out_failed) && rc == PSW_EXIT_OK) {
        fprintf(stderr, "%s: could not write the output\n", cli.name);
        rc = PSW_EXIT_FAIL;
    }
    psw_ctx_close(&cli.ctx);
    psw_config_free(&cli.cfg);
    free(cli.args);
    free(cli.list);
    return rc;
}
