/*
 * token.c — psw token create | list | revoke, and psw audit: API tokens
 * and the audit trail over common/token.h and common/audit.h (docs/api.md).
 * The token text is printed once, by create.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/audit.h"
#include "common/jsonout.h"
#include "common/token.h"

#define ERRLEN 1024

static int run_create(struct cli *cli)
{
    struct psw_token t;
    char secret[PSW_TOKEN_SECRET_SIZE], err[ERRLEN];
    int rc = psw_token_create(&cli->ctx, cli_str(cli, "name"), cli_str(cli, "account"),
                              cli_num(cli, "ttl", 0), &t, secret, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "token.create", t.id, t.account_id, err, sizeof(err));
    if (cli->json) {
        struct json_object *o = psw_token_to_json(&t);
        if (o && psw_json_add_str(o, "token", secret) < 0) {
            json_object_put(o);
            o = NULL;
        }
        return cli_print_json(cli, o);
    }
    cli_kv("id", "%s", t.id);
    cli_kv("name", "%s", t.name);
    cli_kv("account", "%s", t.admin ? "(admin: every account)" : t.account_id);
    cli_kv("token", "%s", secret);
    fprintf(stderr, "psw token create: the token is shown only now; store it safely\n");
    return PSW_EXIT_OK;
}

static const struct cli_option create_opts[] = {
    { "name", CLI_STR, "N", 1, 0, 0, NULL, "a name for the token (shown in the audit trail)" },
    { "account", CLI_STR, "A", 0, 0, 0, "account_id", "an account token (default: admin)" },
    { "ttl", CLI_DURATION, "D", 0, 0, 0, NULL, "expires after D (e.g. 30d); default never" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_token_create = {
    "token", "create", "", 0, 0, 1,
    "Creates an API token for psw-api and prints it once.",
    "Without --account the token is an admin token (every account, publishing,\n"
    "tokens, the queue). Only a SHA-256 hash of it is stored.",
    create_opts, run_create,
};

static int run_list(struct cli *cli)
{
    struct psw_token *list = NULL;
    size_t n = 0;
    char err[ERRLEN];
    int rc = psw_token_list(&cli->ctx, &list, &n, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; arr && i < n; i++)
        json_object_array_add(arr, psw_token_to_json(&list[i]));
    free(list);
    if (cli->json)
        return cli_print_json(cli, arr);
    if (arr)
        cli_print_human(arr);
    json_object_put(arr);
    return PSW_EXIT_OK;
}

const struct cli_command cli_token_list = {
    "token", "list", "", 0, 0, 1, "Lists the API tokens (never their text).", NULL, NULL,
    run_list,
};

static int run_revoke(struct cli *cli)
{
    struct psw_token t;
    char err[ERRLEN];
    int rc = psw_token_revoke(&cli->ctx, cli->args[0], &t, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "token.revoke", t.id, t.account_id, err, sizeof(err));
    if (cli->json)
        return cli_print_json(cli, psw_token_to_json(&t));
    printf("revoked %s (%s)\n", t.id, t.name);
    return PSW_EXIT_OK;
}

const struct cli_command cli_token_revoke = {
    "token", "revoke", "ID", 1, 1, 1, "Revokes an API token: it stops working at once.", NULL,
    NULL, run_revoke,
};

static int run_audit(struct cli *cli)
{
    struct json_object *arr = NULL;
    char next[PSW_AUDIT_CURSOR_SIZE], err[ERRLEN];
    int rc = psw_audit_list(&cli->ctx, cli_str(cli, "account"), NULL,
                            (size_t)cli_num(cli, "limit", 50), &arr, next, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli->json)
        return cli_print_json(cli, arr);
    cli_print_human(arr);
    json_object_put(arr);
    return PSW_EXIT_OK;
}

static const struct cli_option audit_opts[] = {
    { "account", CLI_STR, "A", 0, 0, 0, "account_id", "only changes to this account" },
    { "limit", CLI_INT, "N", 0, 1, 10000, NULL, "at most N entries (default 50)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_audit = {
    NULL, "audit", "", 0, 0, 1,
    "Lists the audit trail, newest first: who changed what, through psw or psw-api.", NULL,
    audit_opts, run_audit,
};
