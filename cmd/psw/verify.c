/*
 * verify.c — psw verify --secret S --signature HEADER [--tolerance 300] < body:
 * checks a received X-PostStack-Signature the way a receiver must (docs/receiving.md),
 * with psw_sign_verify. The body is standard input, byte for byte (a
 * trailing newline counts). Needs no configuration and no Redis.
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

static int run_verify(struct cli *cli)
{
    size_t len = 0;
    char *body = cli_read_all(stdin, &len);
    if (!body) {
        fprintf(stderr, "%s: cannot read the body from standard input: %s\n", cli->name,
                strerror(errno));
        return PSW_EXIT_USAGE;
    }
    enum psw_verify_result r =
        psw_sign_verify(cli_str(cli, "signature"), body, len, cli_str(cli, "secret"),
                        cli_num(cli, "tolerance", 300), (int64_t)(cli->now_ms / 1000));
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
    { "secret", CLI_STR, "S", 1, 0, 0, NULL, "the endpoint's signing secret (whsec_...)" },
    { "signature", CLI_STR, "HEADER", 1, 0, 0, NULL,
      "the X-PostStack-Signature value: t=...,v1=...[,v1=...]" },
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
