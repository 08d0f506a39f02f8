/*
 * secrets.c — psw secrets status | rekey [--dry-run]: printing around
 * common/secrets.h, which does the work. Neither prints a secret or a key;
 * only key ids, key sources (a file path or PSW_SECRETS_KEY) and counts.
 */
#include <stdio.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/secrets.h"

#define ERRLEN 1024

/* ---- status ---------------------------------------------------------------- */

static int run_status(struct cli *cli)
{
    struct json_object *o = NULL;
    char err[ERRLEN];
    int rc = psw_secrets_status(&cli->ctx, &o, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli->json)
        return cli_print_json(cli, o);
    cli_print_human(o);
    json_object_put(o);
    return PSW_EXIT_OK;
}

const struct cli_command cli_secrets_status = {
    "secrets", "status", "", 0, 0, 1,
    "Shows how endpoint secrets are stored: plain text, or sealed under which key ids.",
    "Counts the endpoints whose secret (and whose previous secret, during a rotation)\n"
    "is stored in plain text or sealed per key id, and how many still need a rekey.\n",
    NULL, run_status,
};

/* ---- rekey ----------------------------------------------------------------- */

static void report(void *arg, const char *endpoint_id, const char *field, const char *why)
{
    const struct cli *cli = arg;
    fprintf(stderr, "%s: %s %s: %s\n", cli->name, endpoint_id, field, why);
}

static int add_int(struct json_object *o, const char *key, size_t v)
{
    struct json_object *j = json_object_new_int64((int64_t)v);
    return j ? json_object_object_add(o, key, j) : -1;
}

static struct json_object *rekey_json(const struct psw_secrets_rekey_result *r, int dry_run)
{
    struct json_object *o = json_object_new_object();
    struct json_object *b = json_object_new_boolean(dry_run);
    struct json_object *k = json_object_new_string(r->key_id);
    int bad = !o || !b || !k;
    if (!bad) {
        bad |= json_object_object_add(o, "dry_run", b);
        bad |= json_object_object_add(o, "key_id", k);
        b = k = NULL;
        bad |= add_int(o, "endpoints", r->endpoints);
        bad |= add_int(o, "sealed_plain", r->sealed_plain);
        bad |= add_int(o, "resealed", r->resealed);
        bad |= add_int(o, "already_current", r->already);
        bad |= add_int(o, "failed", r->failed);
        bad |= add_int(o, "changed", r->changed);
    }
    json_object_put(b);
    json_object_put(k);
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int run_rekey(struct cli *cli)
{
    struct psw_secrets_rekey_options opt = PSW_SECRETS_REKEY_OPTIONS_INIT;
    struct psw_secrets_rekey_result r;
    char err[ERRLEN];
    int rc;

    opt.dry_run = cli_has(cli, "dry-run");
    opt.report = report;
    opt.arg = cli;
    if ((rc = psw_secrets_rekey(&cli->ctx, &opt, &r, err, sizeof(err))) != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli->json) {
        rc = cli_print_json(cli, rekey_json(&r, opt.dry_run));
    } else {
        if (opt.dry_run)
            printf("dry run: nothing was written; a rekey would do this\n\n");
        cli_kv("key", "%s", r.key_id);
        cli_kv("endpoints", "%zu", r.endpoints);
        cli_kv("sealed (were plain)", "%zu", r.sealed_plain);
        cli_kv("re-encrypted", "%zu", r.resealed);
        cli_kv("already current", "%zu", r.already);
        cli_kv("cannot be opened", "%zu", r.failed);
        cli_kv("changed, left as is", "%zu", r.changed);
        rc = PSW_EXIT_OK;
    }
    if (rc == PSW_EXIT_OK && (r.failed > 0 || r.changed > 0)) {
        if (r.failed > 0)
            fprintf(stderr, "%s: %zu value(s) could not be opened (listed above) and were left "
                            "as they were\n", cli->name, r.failed);
        if (r.changed > 0)
            fprintf(stderr, "%s: %zu endpoint(s) kept changing during the rekey; run it again\n",
                    cli->name, r.changed);
        rc = PSW_EXIT_FAIL;
    }
    return rc;
}

static const struct cli_option rekey_opts[] = {
    { "dry-run", CLI_FLAG, NULL, 0, 0, 0, NULL, "count what would change; write nothing" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_secrets_rekey = {
    "secrets", "rekey", "", 0, 0, 1,
    "Re-encrypts every endpoint secret under the current key (plain ones get sealed).",
    "Opens each secret and previous secret with the current key or the previous one\n"
    "(secrets.previous_key_file / PSW_SECRETS_PREVIOUS_KEY) and seals it under the\n"
    "current key. Each endpoint is replaced only if its secrets did not change since\n"
    "they were read. Exit 1 when a value could not be opened (each is named on stderr).\n",
    rekey_opts, run_rekey,
};
