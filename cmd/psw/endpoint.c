/*
 * endpoint.c — psw endpoint create | list | show | update | delete | enable |
 * disable | rotate-secret: argument tables and printing around
 * common/endpoint.h, which does the work.
 *
 * Secrets are printed only by create and rotate-secret (the new secret, once)
 * and by show --show-secret; the same holds for --json. When no key seals
 * them at rest, create and rotate-secret say so under their human output.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/audit.h"
#include "common/endpoint.h"
#include "common/headers.h"
#include "common/secrets.h"

#define ERRLEN 1024

/* The human form of one endpoint (show, and after a change). */
static void print_endpoint(const struct psw_endpoint *ep, int show_secret)
{
    char t[PSW_ISO_SIZE + 8];

    cli_kv("id", "%s", ep->id);
    cli_kv("account", "%s", ep->account_id);
    cli_kv("domain", "%s",
           ep->domain && *ep->domain ? ep->domain : "(every domain: account level)");
    cli_kv("url", "%s", ep->url);
    cli_kv("events", "%s", ep->events);
    cli_kv("status", "%s", ep->status);
    if (ep->disabled_at > 0) {
        cli_time_long(ep->disabled_at, t, sizeof(t));
        cli_kv("disabled", "%s by %s: %s", t,
               ep->disabled_by && *ep->disabled_by ? ep->disabled_by : "-",
               ep->disabled_reason && *ep->disabled_reason ? ep->disabled_reason : "-");
    }
    if (ep->deleted_at > 0) {
        cli_time_long(ep->deleted_at, t, sizeof(t));
        cli_kv("deleted", "%s", t);
    }
    cli_kv("failures in a row", "%lld", ep->consecutive_failures);
    cli_kv("description", "%s", ep->description && *ep->description ? ep->description : "-");
    cli_kv("signing", "%s", ep->signing && *ep->signing ? ep->signing : "poststack");
    if (ep->public_key && *ep->public_key)
        cli_kv("public key", "%s", ep->public_key);
    cli_kv("ordered", "%s", ep->ordered ? "yes (one request at a time, in publish order)" : "no");
    if (ep->rate_limit > 0)
        cli_kv("rate limit", "%lld requests/s", ep->rate_limit);
    else
        cli_kv("rate limit", "none");
    if (ep->batch_max_events > 0) {
        char wait[32];
        psw_duration_format(ep->batch_max_wait_ms, wait, sizeof(wait));
        cli_kv("batch", "up to %lld events, sent within %s", ep->batch_max_events, wait);
    } else {
        cli_kv("batch", "none");
    }
    if (!ep->headers || !*ep->headers)
        cli_kv("headers", "none");
    for (const char *p = ep->headers ? ep->headers : ""; *p;) {
        char masked[PSW_HEADER_NAME_MAX + 32];
        size_t len = strcspn(p, "\n");
        psw_header_mask(p, len, masked, sizeof(masked));
        cli_kv(p == ep->headers ? "headers" : "", "%s", masked);
        p += len;
        if (*p == '\n')
            p++;
    }
    cli_time_long(ep->created_at, t, sizeof(t));
    cli_kv("created", "%s", t);
    cli_time_long(ep->updated_at, t, sizeof(t));
    cli_kv("updated", "%s", t);
    if (!show_secret) {
        cli_kv("secret", "(hidden; --show-secret shows it)");
        return;
    }
    cli_kv("secret", "%s", ep->secret ? ep->secret : "-");
    if (ep->secret_prev && *ep->secret_prev) {
        cli_time_long(ep->secret_prev_until, t, sizeof(t));
        cli_kv("previous secret", "%s", ep->secret_prev);
        cli_kv("  valid until", "%s", t);
    }
}

/* After a secret was written: the plain-text warning, if it applies. */
static void plain_note(const struct cli *cli)
{
    if (!psw_secrets_configured(&cli->cfg))
        printf("Note: %s.\n", PSW_SECRETS_PLAIN_WARNING);
}

/* The output of a command that returns one endpoint. */
static int done(struct cli *cli, const struct psw_endpoint *ep, int show_secret, const char *what)
{
    if (cli->json)
        return cli_print_json(cli, psw_endpoint_to_json(ep, show_secret));
    if (what)
        printf("%s %s\n\n", what, ep->id);
    print_endpoint(ep, show_secret);
    return PSW_EXIT_OK;
}

/* --batch-max-wait: a duration, or "none" (= 0: with --batch-max-events 0).
 * Returns 0, or the usage error's exit code. */
static int batch_wait_from(struct cli *cli, struct psw_endpoint_spec *spec)
{
    const char *v = cli_str(cli, "batch-max-wait");
    int64_t ms = 0;

    if (!v)
        return 0;
    if (strcmp(v, "none") != 0 && psw_duration_parse(v, &ms) < 0)
        return cli_usage_error(cli, "--batch-max-wait: expected a duration like 500ms, 2s or "
                                    "none; got \"%s\"", v);
    spec->batch_max_wait_ms = ms;
    return 0;
}

static void spec_from(const struct cli *cli, struct psw_endpoint_spec *spec)
{
    spec->url = cli_str(cli, "url");
    spec->domain = cli_str(cli, "domain");
    spec->events = cli_str(cli, "events");
    spec->description = cli_str(cli, "description");
    spec->signing = cli_str(cli, "signing");
    spec->rate_limit = cli_num(cli, "rate-limit", -1);
    spec->headers = cli_list(cli, "header", &spec->nheaders);
    spec->set_headers = spec->nheaders > 0;
    spec->batch_max_events = cli_num(cli, "batch-max-events", -1);
}

/* --ordered / --no-ordered into spec->ordered. -1 after a usage error. */
static int ordered_from(struct cli *cli, struct psw_endpoint_spec *spec)
{
    int on = cli_has(cli, "ordered"), off = cli_has(cli, "no-ordered");
    if (on && off) {
        cli_usage_error(cli, "--ordered and --no-ordered exclude each other");
        return -1;
    }
    spec->ordered = on ? 1 : off ? 0 : -1;
    return 0;
}

/* Options create and update share (docs/cli.md, "Endpoint options"). */
#define OPTION_FLAGS                                                                         \
    { "signing", CLI_STR, "S", 0, 0, 0, NULL,                                              \
      "poststack (default), standard (Standard Webhooks) or ed25519" },                    \
    { "rate-limit", CLI_INT, "N", 0, 0, 100000, "rate_limit",                              \
      "at most N requests per second to the endpoint (0 = no limit)" },                    \
    { "header", CLI_LIST, "'NAME: VALUE'", 0, 0, 0, "headers",                              \
      "a static request header (repeatable, up to 20; stored encrypted, shown masked)" },   \
    { "batch-max-events", CLI_INT, "N", 0, 0, 1000, "batch.max_events",                   \
      "send events in batches of up to N per request (0 = no batching)" },                  \
    { "batch-max-wait", CLI_STR, "D", 0, 0, 0, "batch.max_wait",                          \
      "send a batch once its oldest event has waited D (default 1s; none with N = 0)" },   \
    { "ordered", CLI_FLAG, NULL, 0, 0, 0, NULL,                                            \
      "one request at a time, in publish order (costs throughput: see docs/cli.md)" },     \
    { "no-ordered", CLI_FLAG, NULL, 0, 0, 0, NULL,                                         \
      "requests in parallel, as they come (the default)" }

/* ---- create ------------------------------------------------------------- */

static int run_create(struct cli *cli)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN];
    int rc;

    spec_from(cli, &spec);
    if ((rc = batch_wait_from(cli, &spec)) != 0)
        return rc;
    if (ordered_from(cli, &spec) < 0)
        return PSW_EXIT_USAGE;
    spec.account_id = cli_str(cli, "account");
    spec.secret = cli_str(cli, "secret");
    if ((rc = psw_endpoint_create(&cli->ctx, &spec, &ep, err, sizeof(err))) != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "endpoint.create", ep.id, ep.account_id, err, sizeof(err));
    if (cli->json) {
        rc = cli_print_json(cli, psw_endpoint_to_json(&ep, 1));
    } else {
        printf("created endpoint %s\n\n", ep.id);
        print_endpoint(&ep, 1);
        printf("\nStore the secret now: it is not shown again (except to operators, with\n"
               "'psw endpoint show %s --show-secret').\n",
               ep.id);
        plain_note(cli);
        rc = PSW_EXIT_OK;
    }
    psw_endpoint_free(&ep);
    return rc;
}

static const struct cli_option create_opts[] = {
    { "account", CLI_STR, "A", 1, 0, 0, "account_id", "the account the endpoint belongs to" },
    { "url", CLI_STR, "URL", 1, 0, 0, NULL, "where deliveries are POSTed (http:// or https://)" },
    { "domain", CLI_STR, "D", 0, 0, 0, NULL, "only this sending domain's events (default: all)" },
    { "events", CLI_STR, "LIST", 0, 0, 0, NULL,
      "* (default) or event types, comma-separated: email.sent,email.bounced" },
    { "secret", CLI_STR, "S", 0, 0, 0, NULL,
      "signing secret (16-256 printable, no space or comma; default generated)" },
    { "description", CLI_STR, "TEXT", 0, 0, 0, NULL, "free text for operators" },
    OPTION_FLAGS,
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_endpoint_create = {
    "endpoint", "create", "", 0, 0, 1,
    "Creates an endpoint and prints its id and signing secret (shown once).",
    NULL, create_opts, run_create,
};

/* ---- list --------------------------------------------------------------- */

static int run_list(struct cli *cli)
{
    static const char *const headers[] = { "ID", "ACCOUNT", "DOMAIN", "STATUS", "EVENTS",
                                           "URL" };
    struct psw_endpoint *eps = NULL;
    size_t n = 0;
    char err[ERRLEN];
    int rc;

    rc = psw_endpoint_list(&cli->ctx, cli_str(cli, "account"), &eps, &n, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli->json) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; arr && i < n; i++) {
            struct json_object *o = psw_endpoint_to_json(&eps[i], 0);
            if (!o || json_object_array_add(arr, o) != 0) {
                json_object_put(o);
                json_object_put(arr);
                arr = NULL;
            }
        }
        rc = cli_print_json(cli, arr);
    } else if (n == 0) {
        printf("no endpoints\n");
    } else {
        struct cli_table t;
        char events[64], url[96];
        cli_table_init(&t, 6, headers);
        for (size_t i = 0; i < n; i++) {
            cli_shorten(eps[i].events, 40, events, sizeof(events));
            cli_shorten(eps[i].url, 60, url, sizeof(url));
            const char *row[] = { eps[i].id, eps[i].account_id, eps[i].domain, eps[i].status,
                                  events, url };
            if (cli_table_add(&t, row) < 0) {
                rc = cli_fail(cli, PSW_EFAIL, "out of memory");
                break;
            }
        }
        cli_table_print(&t, stdout);
        cli_table_free(&t);
    }
    psw_endpoint_list_free(eps, n);
    return rc;
}

static const struct cli_option list_opts[] = {
    { "account", CLI_STR, "A", 0, 0, 0, "account_id", "only this account's endpoints" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_endpoint_list = {
    "endpoint", "list", "", 0, 0, 1,
    "Lists endpoints (not deleted ones), oldest first.",
    NULL, list_opts, run_list,
};

/* ---- show ------------------------------------------------------------------ */

static int run_show(struct cli *cli)
{
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN];
    int rc = psw_endpoint_get(&cli->ctx, cli->args[0], &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli_has(cli, "show-secret") && ep.secret_error[0]) {
        /* Asked for the secret and it cannot be opened: say why, show nothing. */
        rc = cli_fail(cli, PSW_EFAIL, ep.secret_error);
        psw_endpoint_free(&ep);
        return rc;
    }
    rc = done(cli, &ep, cli_has(cli, "show-secret"), NULL);
    psw_endpoint_free(&ep);
    return rc;
}

static const struct cli_option show_opts[] = {
    { "show-secret", CLI_FLAG, NULL, 0, 0, 0, NULL,
      "include the secret (and the previous one during a rotation)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_endpoint_show = {
    "endpoint", "show", "ID", 1, 1, 1,
    "Shows one endpoint (deleted ones too, until they expire).",
    NULL, show_opts, run_show,
};

/* ---- update ---------------------------------------------------------------- */

static int run_update(struct cli *cli)
{
    struct psw_endpoint_spec spec = PSW_ENDPOINT_SPEC_INIT;
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN];
    int rc;

    spec_from(cli, &spec);
    if ((rc = batch_wait_from(cli, &spec)) != 0)
        return rc;
    if (ordered_from(cli, &spec) < 0)
        return PSW_EXIT_USAGE;
    if (cli_has(cli, "clear-headers")) {
        if (spec.nheaders > 0)
            return cli_usage_error(cli, "--clear-headers and --header exclude each other "
                                        "(--header alone replaces every header)");
        spec.set_headers = 1;
    }
    rc = psw_endpoint_update(&cli->ctx, cli->args[0], &spec, &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "endpoint.update", ep.id, ep.account_id, err, sizeof(err));
    rc = done(cli, &ep, 0, "updated endpoint");
    psw_endpoint_free(&ep);
    return rc;
}

static const struct cli_option update_opts[] = {
    { "url", CLI_STR, "URL", 0, 0, 0, NULL, "new URL (http:// or https://)" },
    { "domain", CLI_STR, "D", 0, 0, 0, NULL,
      "new domain; --domain= (empty) makes it account level" },
    { "events", CLI_STR, "LIST", 0, 0, 0, NULL, "* or event types, comma-separated" },
    { "description", CLI_STR, "TEXT", 0, 0, 0, NULL, "new description" },
    OPTION_FLAGS,
    { "clear-headers", CLI_FLAG, NULL, 0, 0, 0, NULL, "remove every static header" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_endpoint_update = {
    "endpoint", "update", "ID", 1, 1, 1,
    "Changes an endpoint's url, domain, events, description or options (the secret: "
    "rotate-secret).",
    "--header replaces the whole set of static headers (give every one you keep);\n"
    "--clear-headers removes them all. Switching to --signing ed25519 makes a key pair\n"
    "unless the endpoint has one; --signing standard needs a whsec_<base64> secret.\n",
    update_opts, run_update,
};

/* ---- delete, enable, disable -------------------------------------------- */

static int run_delete(struct cli *cli)
{
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN];
    int rc = psw_endpoint_delete(&cli->ctx, cli->args[0], err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    /* Read back for the output: the hash stays, with status "deleted". */
    if ((rc = psw_endpoint_get(&cli->ctx, cli->args[0], &ep, err, sizeof(err))) == PSW_OK)
        psw_audit_append(&cli->ctx, "cli", "endpoint.delete", ep.id, ep.account_id, err,
                         sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    if (cli->json)
        rc = cli_print_json(cli, psw_endpoint_to_json(&ep, 0));
    else
        printf("deleted endpoint %s (its delivery log stays readable until it expires)\n", ep.id);
    psw_endpoint_free(&ep);
    return rc;
}

const struct cli_command cli_endpoint_delete = {
    "endpoint", "delete", "ID", 1, 1, 1,
    "Deletes an endpoint: no new deliveries; held-back ones are skipped.",
    NULL, NULL, run_delete,
};

static int run_enable(struct cli *cli)
{
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN];
    int rc = psw_endpoint_enable(&cli->ctx, cli->args[0], &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "endpoint.enable", ep.id, ep.account_id, err, sizeof(err));
    rc = done(cli, &ep, 0, "enabled endpoint");
    psw_endpoint_free(&ep);
    return rc;
}

const struct cli_command cli_endpoint_enable = {
    "endpoint", "enable", "ID", 1, 1, 1,
    "Enables an endpoint (failure count back to 0). Skipped deliveries are not resent: "
    "use psw replay.",
    NULL, NULL, run_enable,
};

static int run_disable(struct cli *cli)
{
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN];
    int rc = psw_endpoint_disable(&cli->ctx, cli->args[0], cli_str(cli, "reason"), "cli", &ep,
                                  err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "endpoint.disable", ep.id, ep.account_id, err, sizeof(err));
    rc = done(cli, &ep, 0, "disabled endpoint");
    psw_endpoint_free(&ep);
    return rc;
}

static const struct cli_option disable_opts[] = {
    { "reason", CLI_STR, "TEXT", 0, 0, 0, NULL, "why (default \"disabled by operator\")" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_endpoint_disable = {
    "endpoint", "disable", "ID", 1, 1, 1,
    "Disables an endpoint: its deliveries are recorded as skipped, no request is made.",
    "An endpoint that is disabled already keeps its first reason and time.\n",
    disable_opts, run_disable,
};

/* ---- rotate-secret ----------------------------------------------------------- */

static int run_rotate(struct cli *cli)
{
    struct psw_endpoint ep = { 0 };
    char err[ERRLEN], until[PSW_ISO_SIZE + 8];
    int rc = psw_endpoint_rotate_secret(&cli->ctx, cli->args[0], cli_str(cli, "secret"),
                                        cli_num(cli, "grace", -1), &ep, err, sizeof(err));
    if (rc != PSW_OK)
        return cli_fail(cli, rc, err);
    psw_audit_append(&cli->ctx, "cli", "endpoint.rotate_secret", ep.id, ep.account_id, err, sizeof(err));
    if (cli->json) {
        rc = cli_print_json(cli, psw_endpoint_to_json(&ep, 1));
    } else {
        printf("new signing secret for %s: %s\n", ep.id, ep.secret);
        if (ep.secret_prev && *ep.secret_prev) {
            cli_time_long(ep.secret_prev_until, until, sizeof(until));
            printf("the previous secret stays valid until %s: requests carry both signatures\n"
                   "until then (newest first).\n", until);
        } else {
            printf("the previous secret is no longer valid.\n");
        }
        printf("Store the new secret now: it is not shown again.\n");
        plain_note(cli);
    }
    psw_endpoint_free(&ep);
    return rc;
}

static const struct cli_option rotate_opts[] = {
    { "secret", CLI_STR, "S", 0, 0, 0, NULL, "the new secret (default generated)" },
    { "grace", CLI_DURATION, "DURATION", 0, 0, 0, NULL,
      "how long the old secret stays valid (default signing.rotation_grace, 24h; 0 = not kept)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_endpoint_rotate = {
    "endpoint", "rotate-secret", "ID", 1, 1, 1,
    "Gives an endpoint a new signing secret; the old one stays valid for the grace period.",
    NULL, rotate_opts, run_rotate,
};
