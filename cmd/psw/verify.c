/*
 * verify.c — psw verify --secret S --signature HEADER [--tolerance 300] < body:
 * checks a received X-PostStack-Signature the way a receiver must
 * (docs/receiving.md), with psw_sign_verify; with --signing standard or
 * ed25519 (plus --id and --timestamp, and --public-key for ed25519) a
 * webhook-signature, with psw_sign_std_verify. The body is standard input,
 * byte for byte (a trailing newline counts). Needs no configuration and no
 * Redis.
 *
 * Exit 0 and "valid", or exit 1 and the reason (psw_verify_result_str).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/sign.h"
#include "common/sign_std.h"

static int run_verify(struct cli *cli)
{
    enum psw_signing mode;
    char err[256];
    size_t len = 0;

    if (psw_signing_parse(cli_str(cli, "signing"), &mode, err, sizeof(err)) < 0)
        return cli_usage_error(cli, "--%s", err);
    if (mode == PSW_SIGNING_ED25519 ? !cli_str(cli, "public-key") : !cli_str(cli, "secret"))
        return cli_usage_error(cli, mode == PSW_SIGNING_ED25519
                                        ? "missing --public-key whpk_... (signing ed25519)"
                                        : "missing --secret S");
    if (mode == PSW_SIGNING_ED25519 && cli_str(cli, "secret"))
        return cli_usage_error(cli, "--secret is not used with --signing ed25519 "
                                    "(give --public-key)");
    if (mode != PSW_SIGNING_ED25519 && cli_str(cli, "public-key"))
        return cli_usage_error(cli, "--public-key goes with --signing ed25519");
    if (mode != PSW_SIGNING_POSTSTACK && (!cli_str(cli, "id") || !cli_str(cli, "timestamp")))
        return cli_usage_error(cli, "--signing %s needs --id (webhook-id) and --timestamp "
                                    "(webhook-timestamp)", psw_signing_name(mode));
    if (mode == PSW_SIGNING_POSTSTACK && (cli_str(cli, "id") || cli_str(cli, "timestamp")))
        return cli_usage_error(cli, "--id and --timestamp go with --signing standard or ed25519");
    char *body = cli_read_all(stdin, &len);
    if (!body) {
        fprintf(stderr, "%s: cannot read the body from standard input: %s\n", cli->name,
                strerror(errno));
        return PSW_EXIT_USAGE;
    }
    int64_t tol = cli_num(cli, "tolerance", 300), now = (int64_t)(cli->now_ms / 1000);
    enum psw_verify_result r =
        mode == PSW_SIGNING_POSTSTACK
            ? psw_sign_verify(cli_str(cli, "signature"), body, len, cli_str(cli, "secret"), tol,
                              now)
            : psw_sign_std_verify(cli_str(cli, "signature"), cli_str(cli, "id"),
                                  cli_str(cli, "timestamp"), body, len,
                                  mode == PSW_SIGNING_ED25519 ? cli_str(cli, "public-key")
                                                              : cli_str(cli, "secret"),
                                  tol, now);
    free(body);
    int rc = r == PSW_VERIFY_OK ? PSW_EXIT_OK : PSW_EXIT_FAIL;
    if (cli->json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "valid", json_object_new_boolean(r == PSW_VERIFY_OK));
        json_object_object_add(o, "result", json_object_new_string(psw_verify_result_str(r)));
        int prc = cli_print_json(cli, o);
        return rc ? rc : prc;
    }
    printf("%s\n", psw_verify_result_str(r));
    return rc;
}

static const struct cli_option verify_opts[] = {
    { "secret", CLI_STR, "S", 0, 0, 0, NULL, "the endpoint's signing secret (whsec_...)" },
    { "signature", CLI_STR, "HEADER", 1, 0, 0, NULL,
      "the X-PostStack-Signature value (t=...,v1=...[,v1=...]), or with --signing standard\n"
      "or ed25519 the webhook-signature value (v1,... or v1a,...)" },
    { "signing", CLI_STR, "S", 0, 0, 0, NULL,
      "the endpoint's signing: poststack (default), standard or ed25519" },
    { "id", CLI_STR, "ID", 0, 0, 0, NULL, "the webhook-id header (standard, ed25519)" },
    { "timestamp", CLI_STR, "T", 0, 0, 0, NULL,
      "the webhook-timestamp header (standard, ed25519)" },
    { "public-key", CLI_STR, "whpk_...", 0, 0, 0, NULL,
      "the endpoint's public key (ed25519; psw endpoint show prints it)" },
    { "tolerance", CLI_INT, "SECONDS", 0, 0, 86400 * 365, NULL,
      "accepted clock difference in seconds (default 300)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_verify = {
    NULL, "verify", "", 0, 0, 0,
    "Checks a webhook signature against a body read from standard input.",
    "Prints \"valid\" and exits 0, or prints why not (bad signature header format,\n"
    "timestamp too old, timestamp in the future, no matching signature) and exits 1.\n"
    "The body is standard input exactly: use a file (< body.json) or printf '%s'.\n",
    verify_opts, run_verify,
};
