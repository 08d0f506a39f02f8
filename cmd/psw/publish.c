/*
 * publish.c — psw publish [FILE|-]: one JSON event (pretty-printed over
 * several lines is fine) or NDJSON, one event per line.
 *
 * Which one: when the whole input is one JSON value, or when its first
 * non-blank line is not a JSON value by itself (a broken multi-line
 * document), it is one event; otherwise every non-blank line is an event.
 * Lines go to psw_publish_many in chunks of CHUNK (each chunk pipelined by
 * the library), so a large file costs a few round trips per thousand
 * events. A bad line is reported as "line N: …" on stderr and does not stop
 * the others.
 *
 * Exit: 0 every event published (duplicates included); 1 some line of an
 * NDJSON input failed, or Redis failed; 2 the input is unreadable or empty,
 * or the single event it holds is invalid.
 *
 * --json: an array with one object per event, written as the chunks finish
 * (the input may be larger than what the output should hold in memory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/publish.h"
#include "common/reply.h"

#define CHUNK 1000
#define PARSE_DEPTH 1024 /* only to find where values end; the library enforces the limits */

struct batch {
    const char *json[CHUNK];
    size_t len[CHUNK];
    size_t line[CHUNK];
    struct psw_publish_result res[CHUNK];
    size_t n;
};

struct totals {
    size_t events, duplicates, failed, deliveries; /* events: newly published */
    int json_items;  /* elements written to the --json array so far */
    int redis_down;
    size_t first_unsent_line; /* when redis_down: the first line not sent */
};

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* 1 when s[0..len) is exactly one JSON value, whitespace around it allowed. */
static int one_value(const char *s, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(PARSE_DEPTH);
    int ok = 0;
    if (!tok || len > (size_t)0x7fffffff) {
        json_tokener_free(tok);
        return 0;
    }
    struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    if (json_tokener_get_error(tok) == json_tokener_success) {
        size_t used = json_tokener_get_parse_end(tok);
        ok = blank(s + used, len - used);
    }
    json_object_put(o);
    json_tokener_free(tok);
    return ok;
}

static int single_document(const char *buf, size_t len)
{
    if (one_value(buf, len))
        return 1;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!blank(p, l))
            return !one_value(p, l);
        p += l + 1;
    }
    return 1;
}

static void json_item(struct totals *t, size_t line, const struct psw_publish_result *r)
{
    struct json_object *o = json_object_new_object();
    const char *result = r->status != PSW_OK ? "failed" : r->duplicate ? "duplicate" : "published";
    if (!o)
        return;
    json_object_object_add(o, "line", json_object_new_int64((int64_t)line));
    json_object_object_add(o, "event_id",
                           r->event_id[0] ? json_object_new_string(r->event_id) : NULL);
    json_object_object_add(o, "result", json_object_new_string(result));
    json_object_object_add(o, "deliveries",
                           json_object_new_int(r->status == PSW_OK ? r->deliveries : 0));
    json_object_object_add(o, "skipped", json_object_new_int(r->status == PSW_OK ? r->skipped : 0));
    json_object_object_add(o, "error", r->status != PSW_OK ? json_object_new_string(r->err) : NULL);
    printf("%s%s", t->json_items++ ? ",\n" : "", cli_json_string(o));
    json_object_put(o);
}

/* "<prefix><id>: published, N deliveries\n", as printf would write it. */
static void put_published(const char *prefix, const char *id, int deliveries)
{
    char num[PSW_I64_SIZE];
    psw_fmt_i64(num, deliveries);
    fputs(prefix, stdout);
    fputs(id, stdout);
    fputs(": published, ", stdout);
    fputs(num, stdout);
    fputs(deliveries == 1 ? " delivery\n" : " deliveries\n", stdout);
}

/* Reports one result; prefix is "line N: " for NDJSON, "" for one event. */
static void report(const struct cli *cli, struct totals *t, size_t line, const char *prefix,
                   const struct psw_publish_result *r)
{
    if (cli->json)
        json_item(t, line, r);
    if (r->status != PSW_OK) {
        t->failed++;
        fflush(stdout); /* keep the report in line order on a terminal */
        fprintf(stderr, "%s: %s%s\n", cli->name, prefix, r->err);
        return;
    }
    t->events += !r->duplicate;
    t->duplicates += r->duplicate != 0;
    t->deliveries += r->duplicate ? 0 : (size_t)r->deliveries;
    if (cli->json)
        return;
    if (r->duplicate)
        printf("%s%s: duplicate, already published (%d deliver%s then); nothing stored\n",
               prefix, r->event_id, r->deliveries, r->deliveries == 1 ? "y" : "ies");
    else if (r->skipped)
        printf("%s%s: published, %d deliver%s (%d skipped: endpoint disabled)\n", prefix,
               r->event_id, r->deliveries, r->deliveries == 1 ? "y" : "ies", r->skipped);
    else /* the line of nearly every event: without printf's cost (docs/performance.md) */
        put_published(prefix, r->event_id, r->deliveries);
}

static void flush_batch(struct cli *cli, struct batch *b, struct totals *t)
{
    char prefix[40];
    if (b->n == 0)
        return;
    int rc = psw_publish_many(&cli->ctx, b->n, b->json, b->len, b->res);
    memcpy(prefix, "line ", 5);
    for (size_t i = 0; i < b->n; i++) {
        size_t k = 5 + psw_fmt_i64(prefix + 5, (long long)b->line[i]);
        memcpy(prefix + k, ": ", 3);
        report(cli, t, b->line[i], prefix, &b->res[i]);
    }
    if (rc == PSW_EFAIL)
        t->redis_down = 1;
    b->n = 0;
}

/* Returns 0, or -1 out of memory (nothing published). */
static int ndjson(struct cli *cli, const char *buf, size_t len, struct totals *t)
{
    struct batch *b = calloc(1, sizeof(*b));
    const char *p = buf, *end = buf + len;
    size_t line = 0;

    if (!b)
        return -1;
    while (p < end && !t->redis_down) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (!blank(p, l)) {
            b->json[b->n] = p;
            b->len[b->n] = l > 0 && p[l - 1] == '\r' ? l - 1 : l;
            b->line[b->n] = line;
            if (++b->n == CHUNK)
                flush_batch(cli, b, t);
        }
        p += l + 1;
        if (t->redis_down && p < end && !blank(p, (size_t)(end - p)))
            t->first_unsent_line = line + 1;
    }
    flush_batch(cli, b, t);
    free(b);
    return 0;
}

static int run_publish(struct cli *cli)
{
    const char *path = cli->nargs ? cli->args[0] : "-";
    int is_stdin = strcmp(path, "-") == 0;
    FILE *in = is_stdin ? stdin : fopen(path, "rb");
    struct totals t = { 0 };
    size_t len = 0;
    char *buf;
    int rc = PSW_EXIT_OK, single;

    if (!in) {
        fprintf(stderr, "%s: cannot open %s: %s\n", cli->name, path, strerror(errno));
        return PSW_EXIT_USAGE;
    }
    buf = cli_read_all(in, &len);
    if (!buf) {
        fprintf(stderr, "%s: cannot read %s: %s\n", cli->name, is_stdin ? "standard input" : path,
                strerror(errno));
        if (!is_stdin)
            fclose(in);
        return PSW_EXIT_USAGE;
    }
    if (!is_stdin)
        fclose(in);
    if (blank(buf, len)) {
        fprintf(stderr, "%s: no event in %s (it is empty)\n", cli->name,
                is_stdin ? "standard input" : path);
        free(buf);
        return PSW_EXIT_USAGE;
    }

    single = single_document(buf, len);
    if (cli->json)
        printf("[\n");
    if (single) {
        struct psw_publish_result r;
        psw_publish(&cli->ctx, buf, len, &r);
        report(cli, &t, 1, "", &r);
        if (r.status != PSW_OK)
            rc = r.status == PSW_EINVAL ? PSW_EXIT_USAGE : PSW_EXIT_FAIL;
    } else if (ndjson(cli, buf, len, &t) < 0) {
        rc = cli_fail(cli, PSW_EFAIL, "out of memory");
    } else if (t.failed || t.redis_down) {
        rc = PSW_EXIT_FAIL;
    }
    if (cli->json)
        printf("%s]\n", t.json_items ? "\n" : "");
    if (t.redis_down && t.first_unsent_line)
        fprintf(stderr, "%s: stopped: Redis failed; line %zu and the lines after it were not "
                        "sent (publishing them again is safe: events with an id are idempotent)\n",
                cli->name, t.first_unsent_line);
    if (!cli->json && !single)
        printf("%zu event%s published, %zu duplicate%s, %zu deliver%s; %zu line%s failed\n",
               t.events, t.events == 1 ? "" : "s", t.duplicates, t.duplicates == 1 ? "" : "s",
               t.deliveries, t.deliveries == 1 ? "y" : "ies", t.failed, t.failed == 1 ? "" : "s");
    free(buf);
    return rc;
}

static const struct cli_option no_opts[] = {
    { NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

const struct cli_command cli_publish = {
    NULL, "publish", "[FILE|-]", 0, 1, 1,
    "Publishes events from FILE or standard input: one JSON event, or NDJSON.",
    "The input is one JSON event (it may span several lines) or NDJSON: one event per line,\n"
    "blank lines ignored. Prints each event id and the deliveries it created; a duplicate\n"
    "id is reported and stores nothing. A bad line is reported as \"line N: ...\" on stderr\n"
    "and the other lines are still published. Exit 1 when any line failed; 2 when the input\n"
    "is unreadable or empty, or holds one event that is invalid.\n",
    no_opts, run_publish,
};
