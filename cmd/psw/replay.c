/*
 * replay.c — psw replay DLV_ID... | psw replay --endpoint ID --since T
 * [--until T] [--state S] [--enable], over psw_replay_ids/psw_replay_range.
 *
 * By ids: one result per id. queued, pending (already waiting in the ready
 * queue) and in_flight (being sent right now) mean the delivery is going
 * out; not_found, endpoint_disabled and endpoint_deleted are failures
 * (exit 1, each explained on stderr). By range: how many matched and how
 * many were queued; a disabled endpoint is refused (exit 1) unless --enable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/audit.h"
#include "common/delivery.h"

#define ERRLEN 1024
#define ENABLE_HINT "add --enable to enable the endpoint and replay"

static int going_out(const char *result)
{
    return strcmp(result, "queued") == 0 || strcmp(result, "pending") == 0 ||
           strcmp(result, "in_flight") == 0;
}

static const char *explain(const char *result)
{
    if (strcmp(result, "queued") == 0)
        return "queued: will be sent again now";
    if (strcmp(result, "pending") == 0)
        return "already waiting in the ready queue";
    if (strcmp(result, "in_flight") == 0)
        return "being sent right now; not replayed";
    if (strcmp(result, "not_found") == 0)
        return "no such delivery";
    if (strcmp(result, "endpoint_disabled") == 0)
        return "its endpoint is disabled; " ENABLE_HINT;
    if (strcmp(result, "endpoint_deleted") == 0)
        return "its endpoint was deleted";
    return result;
}

static int replay_ids(struct cli *cli, const struct psw_replay_options *opt)
{
    struct psw_replay_result *res = calloc(cli->nargs, sizeof(*res));
    char err[ERRLEN];
    int rc = PSW_EXIT_OK, queued;

    if (!res)
        return cli_fail(cli, PSW_EFAIL, "out of memory");
    queued = psw_replay_ids(&cli->ctx, cli->args, cli->nargs, opt, res, err, sizeof(err));
    if (queued < 0) {
        free(res);
        return cli_fail(cli, queued, err);
    }
    for (size_t i = 0; i < cli->nargs; i++)
        if (strcmp(res[i].result, "queued") == 0)
            psw_audit_append(&cli->ctx, "cli", "delivery.replay", res[i].id, NULL, err,
                             sizeof(err));
    for (size_t i = 0; i < cli->nargs; i++)
        if (!going_out(res[i].result)) {
            fprintf(stderr, "%s: %s: %s\n", cli->name, cli->args[i], explain(res[i].result));
            rc = PSW_EXIT_FAIL;
        }
    if (cli->json) {
        struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
        for (size_t i = 0; o && arr && i < cli->nargs; i++) {
            struct json_object *r = json_object_new_object();
            json_object_object_add(r, "id", json_object_new_string(cli->args[i]));
            json_object_object_add(r, "result", json_object_new_string(res[i].result));
            json_object_array_add(arr, r);
        }
        json_object_object_add(o, "queued", json_object_new_int(queued));
        json_object_object_add(o, "results", arr);
        int prc = cli_print_json(cli, o);
        rc = rc ? rc : prc;
    } else {
        static const char *const headers[] = { "DELIVERY", "RESULT", "MEANING" };
        struct cli_table t;
        cli_table_init(&t, 3, headers);
        for (size_t i = 0; i < cli->nargs; i++) {
            const char *row[] = { cli->args[i], res[i].result, explain(res[i].result) };
            cli_table_add(&t, row);
        }
        cli_table_print(&t, stdout);
        cli_table_free(&t);
        printf("%d of %zu queued\n", queued, cli->nargs);
    }
    free(res);
    return rc;
}

static int replay_range(struct cli *cli, const struct psw_replay_options *opt)
{
    const char *ep = cli_str(cli, "endpoint");
    const char *states = cli_has(cli, "state") ? cli_str(cli, "state") : "failed,skipped";
    long long since = cli_num(cli, "since", 0), until = cli_num(cli, "until", cli->now_ms);
    char err[ERRLEN], from[PSW_ISO_SIZE + 8], to[PSW_ISO_SIZE + 8];
    size_t matched = 0;
    int queued;

    queued = psw_replay_range(&cli->ctx, ep, since, until, states, opt, &matched, err,
                              sizeof(err));
    if (queued >= 0) {
        char aerr[256];
        psw_audit_append(&cli->ctx, "cli", "endpoint.replay", ep, NULL, aerr, sizeof(aerr));
    }
    if (queued < 0) {
        int rc = cli_fail(cli, queued, err);
        if (queued == PSW_ECONFLICT && !opt->enable)
            fprintf(stderr, "%s: " ENABLE_HINT "\n", cli->name);
        return rc;
    }
    cli_time_long(since, from, sizeof(from));
    cli_time_long(until, to, sizeof(to));
    if (cli->json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "endpoint_id", json_object_new_string(ep));
        json_object_object_add(o, "since", json_object_new_string(from));
        json_object_object_add(o, "until", json_object_new_string(to));
        json_object_object_add(o, "states", json_object_new_string(states));
        json_object_object_add(o, "matched", json_object_new_int64((int64_t)matched));
        json_object_object_add(o, "queued", json_object_new_int(queued));
        return cli_print_json(cli, o);
    }
    printf("queued %d of %zu matching deliveries of %s (states %s, created %s to %s)\n", queued,
           matched, ep, states, from, to);
    if ((size_t)queued < matched)
        printf("%zu not queued: already waiting in the ready queue or being sent right now\n",
               matched - (size_t)queued);
    return PSW_EXIT_OK;
}

static int run_replay(struct cli *cli)
{
    struct psw_replay_options opt = { 0 };
    opt.enable = cli_has(cli, "enable");

    if (cli->nargs > 0 && cli_has(cli, "endpoint"))
        return cli_usage_error(cli, "give delivery ids or --endpoint, not both");
    if (cli->nargs > 0) {
        static const char *const range_only[] = { "since", "until", "state" };
        for (size_t i = 0; i < sizeof(range_only) / sizeof(range_only[0]); i++)
            if (cli_has(cli, range_only[i]))
                return cli_usage_error(cli, "--%s selects deliveries of an --endpoint; it does "
                                            "not go with delivery ids", range_only[i]);
        return replay_ids(cli, &opt);
    }
    if (!cli_has(cli, "endpoint"))
        return cli_usage_error(cli, "missing delivery ids, or --endpoint ID --since T");
    if (!cli_has(cli, "since"))
        return cli_usage_error(cli, "missing --since T (the start of the range to replay)");
    return replay_range(cli, &opt);
}

static const struct cli_option replay_opts[] = {
    { "endpoint", CLI_STR, "ID", 0, 0, 0, "endpoint_id",
      "replay a range of this endpoint's deliveries" },
    { "since", CLI_TIME, "T", 0, 0, 0, NULL, "range start: created at or after T" },
    { "until", CLI_TIME, "T", 0, 0, 0, NULL, "range end: created at or before T (default now)" },
    { "state", CLI_STR, "S", 0, 0, 0, NULL,
      "states to replay, comma-separated (default failed,skipped)" },
    { "enable", CLI_FLAG, NULL, 0, 0, 0, NULL,
      "enable a disabled endpoint first instead of refusing" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_replay = {
    NULL, "replay", "[DLV_ID...]", 0, -1, 1,
    "Delivers again now, whatever the state: the given deliveries, or a range of an endpoint's.",
    "  psw replay DLV_ID...\n"
    "  psw replay --endpoint ID --since T [--until T] [--state failed,skipped] [--enable]\n"
    "A replay is a new attempt cycle (attempts say trigger \"replay\"). A delivery being sent\n"
    "right now is not replayed. Exit 1 when a delivery was not found or its endpoint is\n"
    "disabled (add --enable) or deleted.\n",
    replay_opts, run_replay,
};
