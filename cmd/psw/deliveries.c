/*
 * deliveries.c — psw deliveries (an endpoint's delivery log as a table) and
 * psw delivery show (one delivery, its event body and every attempt), over
 * common/delivery.h.
 *
 * Attempt records are the worker's JSON (worker/http.c): n, at, trigger,
 * request {url, headers}, response {status, headers, body, body_bytes,
 * body_truncated} or null, status, latency_ms, error. They are printed
 * field by field; a field that is missing shows as "-", so an older or
 * newer record still prints.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/delivery.h"

#define ERRLEN 1024
#define ERROR_COLUMN 40

/* ---- psw deliveries --------------------------------------------------------- */

static int run_deliveries(struct cli *cli)
{
    static const char *const headers[] = { "ID", "EVENT TYPE", "STATE", "ATTEMPTS",
                                           "LAST STATUS", "LAST ERROR", "CREATED",
                                           "NEXT ATTEMPT" };
    struct psw_delivery_query q = { 0 };
    struct psw_delivery *d = NULL;
    size_t n = 0;
    char err[ERRLEN];
    int rc;

    q.endpoint_id = cli_str(cli, "endpoint");
    q.states = cli_str(cli, "state");
    q.since = cli_num(cli, "since", 0);
    q.until = cli_num(cli, "until", 0);
    q.limit = (size_t)cli_num(cli, "limit", 0);
    if ((rc = psw_delivery_list(&cli->ctx, &q, &d, &n, err, sizeof(err))) != PSW_OK)
        return cli_fail(cli, rc, err);

    if (cli->json) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; arr && i < n; i++) {
            struct json_object *o = psw_delivery_to_json(&d[i]);
            if (!o || json_object_array_add(arr, o) != 0) {
                json_object_put(o);
                json_object_put(arr);
                arr = NULL;
            }
        }
        rc = cli_print_json(cli, arr);
    } else if (n == 0) {
        printf("no deliveries\n");
    } else {
        struct cli_table t;
        cli_table_init(&t, 8, headers);
        for (size_t i = 0; i < n; i++) {
            char attempts[24], status[24], error[ERROR_COLUMN * 4 + 4], created[32], next[32];
            snprintf(attempts, sizeof(attempts), "%lld", d[i].attempts);
            snprintf(status, sizeof(status), "%lld", d[i].last_status);
            cli_shorten(d[i].last_error, ERROR_COLUMN, error, sizeof(error));
            cli_time_short(d[i].created_at, created, sizeof(created));
            cli_time_short(d[i].next_attempt_at, next, sizeof(next));
            const char *row[] = { d[i].id, d[i].event_type, d[i].state, attempts,
                                  d[i].last_status ? status : "-", error, created, next };
            if (cli_table_add(&t, row) < 0) {
                rc = cli_fail(cli, PSW_EFAIL, "out of memory");
                break;
            }
        }
        cli_table_print(&t, stdout);
        cli_table_free(&t);
    }
    psw_delivery_list_free(d, n);
    return rc;
}

static const struct cli_option deliveries_opts[] = {
    { "endpoint", CLI_STR, "ID", 1, 0, 0, "endpoint_id", "the endpoint" },
    { "state", CLI_STR, "S", 0, 0, 0, NULL,
      "only these states, comma-separated: " PSW_DELIVERY_STATES },
    { "since", CLI_TIME, "T", 0, 0, 0, NULL, "created at or after T" },
    { "until", CLI_TIME, "T", 0, 0, 0, NULL, "created at or before T" },
    { "limit", CLI_INT, "N", 0, 1, 10000, NULL, "at most N deliveries (default 50)" },
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_deliveries = {
    NULL, "deliveries", "", 0, 0, 1,
    "Lists an endpoint's deliveries, newest first.",
    NULL, deliveries_opts, run_deliveries,
};

/* ---- psw delivery show -------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object))
        json_object_object_get_ex(o, key, &v);
    return v;
}

/* A member as text: "-" when missing or null. */
static const char *text(struct json_object *o, const char *key)
{
    struct json_object *v = get(o, key);
    return v ? json_object_get_string(v) : "-";
}

/* A time member: unix ms (as the worker writes it) or an ISO string. */
static void time_of(struct json_object *o, const char *key, char *out, size_t n)
{
    struct json_object *v = get(o, key);
    if (v && json_object_is_type(v, json_type_int))
        cli_time_long(json_object_get_int64(v), out, n);
    else
        snprintf(out, n, "%s", v ? json_object_get_string(v) : "-");
}

/* Text as indented lines, control characters other than tab shown as '?'. */
static void print_block(const char *s, size_t len, const char *indent)
{
    printf("%s", indent);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            if (i + 1 < len)
                printf("\n%s", indent);
        } else if (c == '\r') {
            continue;
        } else {
            putchar(c < 0x20 && c != '\t' ? '?' : c);
        }
    }
    putchar('\n');
}

static void print_headers(struct json_object *h)
{
    if (!h || !json_object_is_type(h, json_type_object) || json_object_object_length(h) == 0) {
        printf("      -\n");
        return;
    }
    json_object_object_foreach(h, name, value) {
        char v[2048];
        cli_shorten(json_object_get_string(value), 500, v, sizeof(v));
        printf("      %s: %s\n", name, v);
    }
}

static void print_attempt(struct json_object *a)
{
    struct json_object *req = get(a, "request"), *resp = get(a, "response");
    char at[PSW_ISO_SIZE + 8];

    time_of(a, "at", at, sizeof(at));
    printf("\nattempt %s (%s) at %s\n", text(a, "n"), text(a, "trigger"), at);
    printf("  request: POST %s\n    headers:\n", text(req, "url"));
    print_headers(get(req, "headers"));
    if (resp) {
        struct json_object *body = get(resp, "body");
        printf("  response: %s\n    headers:\n", text(resp, "status"));
        print_headers(get(resp, "headers"));
        printf("    body (%s bytes%s):\n", text(resp, "body_bytes"),
               json_object_get_boolean(get(resp, "body_truncated")) ? ", first part shown" : "");
        if (body && json_object_get_string_len(body) > 0)
            print_block(json_object_get_string(body), (size_t)json_object_get_string_len(body),
                        "      ");
        else
            printf("      (empty)\n");
    } else {
        printf("  response: none\n");
    }
    printf("  latency: %s ms\n", text(a, "latency_ms"));
    printf("  error: %s\n", text(a, "error"));
}

static void print_detail(const struct psw_delivery_detail *dd)
{
    const struct psw_delivery *d = &dd->d;
    char t[PSW_ISO_SIZE + 8];

    cli_kv("delivery", "%s", d->id);
    cli_kv("state", "%s%s%s%s", d->state, d->failed_reason && *d->failed_reason ? " (" : "",
           d->failed_reason && *d->failed_reason ? d->failed_reason : "",
           d->failed_reason && *d->failed_reason ? ")" : "");
    cli_kv("event", "%s (%s)", d->event_id, d->event_type);
    cli_kv("endpoint", "%s", d->endpoint_id);
    if (d->account_id && *d->account_id)
        cli_kv("account", "%s", d->account_id);
    cli_kv("attempts", "%lld", d->attempts);
    cli_time_long(d->created_at, t, sizeof(t));
    cli_kv("created", "%s", t);
    cli_time_long(d->first_attempt_at, t, sizeof(t));
    cli_kv("first attempt", "%s", t);
    cli_time_long(d->last_attempt_at, t, sizeof(t));
    cli_kv("last attempt", "%s", t);
    cli_time_long(d->next_attempt_at, t, sizeof(t));
    cli_kv("next attempt", "%s", t);
    cli_time_long(d->delivered_at, t, sizeof(t));
    cli_kv("delivered", "%s", t);
    if (d->last_status)
        cli_kv("last status", "%lld (%lld ms)", d->last_status, d->last_latency_ms);
    else
        cli_kv("last status", "-");
    cli_kv("last error", "%s", d->last_error && *d->last_error ? d->last_error : "-");

    if (dd->event_body) {
        printf("\nevent body (%zu bytes):\n", strlen(dd->event_body));
        print_block(dd->event_body, strlen(dd->event_body), "  ");
    } else {
        printf("\nevent body: expired\n");
    }
    if (dd->n_attempts == 0)
        printf("\nno attempts yet\n");
    for (size_t i = 0; i < dd->n_attempts; i++)
        print_attempt(dd->attempts[i]);
}

static int run_delivery_show(struct cli *cli)
{
    struct psw_delivery_detail dd;
    char err[ERRLEN];
    int rc;

    memset(&dd, 0, sizeof(dd));
    if ((rc = psw_delivery_get(&cli->ctx, cli->args[0], &dd, err, sizeof(err))) != PSW_OK) {
        psw_delivery_detail_free(&dd);
        return cli_fail(cli, rc, err);
    }
    if (cli->json) {
        rc = cli_print_json(cli, psw_delivery_detail_to_json(&dd));
    } else {
        print_detail(&dd);
        rc = PSW_EXIT_OK;
    }
    psw_delivery_detail_free(&dd);
    return rc;
}

const struct cli_command cli_delivery_show = {
    "delivery", "show", "DLV_ID", 1, 1, 1,
    "Shows one delivery, its event body and every attempt.",
    "Each attempt: number, trigger (first, retry, replay), time, the request headers (the\n"
    "signature included), the response status, headers and the first part of the body,\n"
    "the latency and the error.\n",
    NULL, run_delivery_show,
};
