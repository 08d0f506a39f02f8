/*
 * shard.c — psw shard ACCOUNT: where an account's data lives on a Redis
 * Cluster (docs/redis.md "Redis Cluster"): its logical shard, the key prefix
 * with the shard's hash tag, and the cluster slot those keys hash to. Without
 * redis.cluster every account is in the one keyspace under redis.prefix.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/cluster.h"

static int run_shard(struct cli *cli)
{
    const char *account = cli->args[0];
    char prefix[160], err[1024];
    /* the configuration only: no connection is needed */
    if (psw_config_load(&cli->cfg, cli->config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: configuration: %s\n", cli->name, err);
        return PSW_EXIT_USAGE;
    }
    unsigned shard = psw_ctx_account_shard(&cli->cfg, account);
    struct json_object *o = json_object_new_object();
    if (!o)
        return cli_fail(cli, PSW_EFAIL, "out of memory");
    if (cli->cfg.redis_cluster)
        psw_shard_prefix(cli->cfg.redis_prefix, shard, prefix, sizeof(prefix));
    else
        snprintf(prefix, sizeof(prefix), "%s", cli->cfg.redis_prefix);
    json_object_object_add(o, "account_id", json_object_new_string(account));
    json_object_object_add(o, "shard", json_object_new_int((int)shard));
    json_object_object_add(o, "shards", json_object_new_int((int)psw_ctx_nshards(&cli->cfg)));
    json_object_object_add(o, "prefix", json_object_new_string(prefix));
    if (cli->cfg.redis_cluster)
        json_object_object_add(o, "slot",
                               json_object_new_int((int)psw_cluster_slot(prefix, strlen(prefix))));
    if (cli->json)
        return cli_print_json(cli, o);
    cli_print_human(o);
    json_object_put(o);
    return PSW_EXIT_OK;
}

const struct cli_command cli_shard = {
    NULL, "shard", "ACCOUNT", 1, 1, 0,
    "Prints the shard, key prefix and cluster slot of an account's data (redis.cluster).",
    NULL, NULL, run_shard,
};
