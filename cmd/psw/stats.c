/*
 * stats.c — psw stats [--endpoint ID], psw queue, psw alerts [--since T]
 * [--limit N], over common/stats.h. The library builds the JSON documents;
 * human output renders the same documents (cli_print_human), so both forms
 * always show the same fields.
 */
#include <stdio.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/stats.h"

#define ERRLEN 1024

static int show(struct cli *cli, int rc, struct json_object *o, const char *err)
{
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli->json)
        return cli_print_json(cli, o);
    cli_print_human(o);
    json_object_put(o);
    return PSW_EXIT_OK;
}

static int run_stats(struct cli *cli)
{
    struct json_object *o = NULL;
    char err[ERRLEN];
    int rc = psw_stats_get(&cli->ctx, cli_str(cli, "endpoint"), &o, err, sizeof(err));
    return show(cli, rc, o, err);
}

static const struct cli_option stats_opts[] = {
    { "endpoint", CLI_STR, "ID", 0, 0, 0, "endpoint_id", "one endpoint's counters" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_stats = {
    NULL, "stats", "", 0, 0, 1,
    "Prints the delivery counters, of the whole service or of one endpoint.",
    NULL, stats_opts, run_stats,
};

static int run_queue(struct cli *cli)
{
    struct json_object *o = NULL;
    char err[ERRLEN];
    int rc = psw_queue_get(&cli->ctx, &o, err, sizeof(err));
    return show(cli, rc, o, err);
}

const struct cli_command cli_queue = {
    NULL, "queue", "", 0, 0, 1,
    "Prints the queue depths and the live workers and schedulers.",
    NULL, NULL, run_queue,
};

static int run_alerts(struct cli *cli)
{
    struct json_object *o = NULL;
    char err[ERRLEN];
    int rc = psw_alerts_get(&cli->ctx, cli_num(cli, "since", 0), (size_t)cli_num(cli, "limit", 0),
                            &o, err, sizeof(err));
    return show(cli, rc, o, err);
}

static const struct cli_option alerts_opts[] = {
    { "since", CLI_TIME, "T", 0, 0, 0, NULL, "only alerts raised at or after T" },
    { "limit", CLI_INT, "N", 0, 1, 10000, NULL, "at most N alerts (default 100)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_alerts = {
    NULL, "alerts", "", 0, 0, 1,
    "Lists alerts (endpoints disabled by failures or by a 410 answer), oldest first.",
    NULL, alerts_opts, run_alerts,
};
