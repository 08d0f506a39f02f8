/*
 * output.c — how psw prints: error messages (stderr, prefixed with the
 * command), JSON documents, aligned tables and key/value blocks, times and
 * shortened text (stdout).
 *
 * --json output is always exactly one JSON document on stdout, printed with
 * JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE; the objects are
 * the library's own (psw_*_to_json), so the CLI and the HTTP API agree.
 * Human output is for people and may change; scripts use --json. Whatever
 * psw prints for people goes through a filter (cli_safe_streams) that shows
 * control characters escaped: stored text may come from receivers.
 *
 * Ownership: cli_table copies every cell; cli_table_free releases them.
 */
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/psw/cli.h"
#include "common/termsafe.h"
#include "common/timeutil.h"

#define KV_WIDTH 22

int cli_fail(const struct cli *cli, int rc, const char *msg)
{
    const char *rest = msg;
    const char *opt = NULL;

    for (size_t i = 0; cli->cmd && cli->cmd->opts && cli->cmd->opts[i].name; i++) {
        const struct cli_option *o = &cli->cmd->opts[i];
        const char *field = o->field ? o->field : o->name;
        size_t len = strlen(field);
        if (strncmp(msg, field, len) == 0 && msg[len] == ':') {
            opt = o->name;
            rest = msg + len;
            break;
        }
    }
    if (opt)
        fprintf(stderr, "%s: --%s%s\n", cli->name, opt, rest);
    else
        fprintf(stderr, "%s: %s\n", cli->name, msg);
    return rc == PSW_EINVAL ? PSW_EXIT_USAGE : PSW_EXIT_FAIL;
}

const char *cli_json_string(struct json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
}

int cli_print_json(const struct cli *cli, struct json_object *o)
{
    if (!o) {
        fprintf(stderr, "%s: out of memory building the JSON output\n", cli->name);
        return PSW_EXIT_FAIL;
    }
    const char *s = cli_json_string(o);
    int rc = PSW_EXIT_OK;
    if (!s || printf("%s\n", s) < 0) {
        fprintf(stderr, "%s: could not write the output\n", cli->name);
        rc = PSW_EXIT_FAIL;
    }
    json_object_put(o);
    return rc;
}

void cli_time_short(long long ms, char *out, size_t n)
{
    char iso[PSW_ISO_SIZE];
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    psw_time_format(ms, iso);
    /* "2026-11-27T15:04:05.123Z" → "2026-11-27 15:04:05" */
    iso[10] = ' ';
    iso[19] = '\0';
    snprintf(out, n, "%s", iso);
}

void cli_time_long(long long ms, char *out, size_t n)
{
    char iso[PSW_ISO_SIZE];
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    psw_time_format(ms, iso);
    snprintf(out, n, "%s", iso);
}

/* Display width: one column per UTF-8 code point. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void cli_shorten(const char *s, size_t max, char *out, size_t n)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* … */
    size_t o = 0, chars = 0;

    if (n == 0)
        return;
    if (!s || !*s) {
        snprintf(out, n, "-");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t len = 1;
        while ((p[len] & 0xC0) == 0x80)
            len++;
        if (chars + 1 > max || o + len + sizeof(ellipsis) > n) {
            if (o + sizeof(ellipsis) <= n) {
                memcpy(out + o, ellipsis, sizeof(ellipsis) - 1);
                o += sizeof(ellipsis) - 1;
            }
            break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            out[o++] = ' ';
        } else {
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        chars++;
    }
    out[o] = '\0';
}

void cli_kv(const char *key, const char *fmt, ...)
{
    va_list ap;
    printf("%-*s ", KV_WIDTH - 1, key);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* A JSON value as one table cell or value. Points into v or into buf. */
static const char *scalar(struct json_object *v, char *buf, size_t n)
{
    if (!v)
        return "-";
    if (json_object_is_type(v, json_type_string)) {
        cli_shorten(json_object_get_string(v), 200, buf, n);
        return buf;
    }
    if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) {
        cli_shorten(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE),
                    200, buf, n);
        return buf;
    }
    return json_object_get_string(v);
}

static void human_table(struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    struct json_object *first = n ? json_object_array_get_idx(arr, 0) : NULL;
    const char *headers[24];
    size_t ncols = 0;
    struct cli_table t;

    if (n == 0) {
        printf("(none)\n");
        return;
    }
    if (!json_object_is_type(first, json_type_object)) {
        char buf[1024];
        for (size_t i = 0; i < n; i++)
            printf("%s\n", scalar(json_object_array_get_idx(arr, i), buf, sizeof(buf)));
        return;
    }
    json_object_object_foreach(first, key, val) {
        (void)val;
        if (ncols < sizeof(headers) / sizeof(headers[0]))
            headers[ncols++] = key;
    }
    cli_table_init(&t, ncols, headers);
    for (size_t i = 0; i < n; i++) {
        struct json_object *row = json_object_array_get_idx(arr, i);
        char bufs[24][256];
        const char *cells[24];
        for (size_t c = 0; c < ncols; c++) {
            struct json_object *v = NULL;
            json_object_object_get_ex(row, headers[c], &v);
            cells[c] = scalar(v, bufs[c], sizeof(bufs[c]));
        }
        if (cli_table_add(&t, cells) < 0)
            break;
    }
    cli_table_print(&t, stdout);
    cli_table_free(&t);
}

void cli_print_human(struct json_object *o)
{
    char buf[1024];

    if (json_object_is_type(o, json_type_array)) {
        human_table(o);
        return;
    }
    if (!json_object_is_type(o, json_type_object)) {
        printf("%s\n", scalar(o, buf, sizeof(buf)));
        return;
    }
    json_object_object_foreach(o, key, val) {
        if (!json_object_is_type(val, json_type_array))
            cli_kv(key, "%s", scalar(val, buf, sizeof(buf)));
    }
    json_object_object_foreach(o, akey, aval) {
        if (json_object_is_type(aval, json_type_array)) {
            printf("\n%s:\n", akey);
            human_table(aval);
        }
    }
}

/* ---- tables ---------------------------------------------------------------- */

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->headers = headers;
}

int cli_table_add(struct cli_table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
        if (!cells)
            return -1;
        t->cells = cells;
        t->cap = cap;
    }
    char **r = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        r[c] = strdup(row[c] && *row[c] ? row[c] : "-");
        if (!r[c]) {
            while (c-- > 0)
                free(r[c]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

static void cell(FILE *out, const char *s, size_t w, int last)
{
    fputs(s, out);
    if (!last)
        for (size_t i = width(s); i < w + 2; i++)
            fputc(' ', out);
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (!w)
        return;
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        cell(out, t->headers[c], w[c], c + 1 == t->ncols);
    fputc('\n', out);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            cell(out, t->cells[r * t->ncols + c], w[c], c + 1 == t->ncols);
        fputc('\n', out);
    }
    free(w);
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

char *cli_read_all(FILE *in, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (cap - n < 2) {
            char *b = cap > ((size_t)-1) / 2 ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, in);
        n += got;
        if (got == 0) {
            if (ferror(in)) {
                free(buf);
                return NULL;
            }
            break;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- terminal-safe streams ------------------------------------------------- */

/* A stdio stream whose bytes reach `to` escaped (common/termsafe.h), newlines
 * kept. An incomplete UTF-8 sequence at the end of one write waits for the
 * next (stdio hands over its buffer in arbitrary pieces). */
struct safe_stream {
    FILE *to;
    unsigned char tail[4];
    size_t ntail;
};

static ssize_t safe_write(void *cookie, const char *buf, size_t size)
{
    struct safe_stream *ss = cookie;
    char in[1024 + 4], out[4 * sizeof(in) + 1];
    size_t done = 0;
    while (done < size) {
        size_t take = size - done < 1024 ? size - done : 1024;
        memcpy(in, ss->tail, ss->ntail);
        memcpy(in + ss->ntail, buf + done, take);
        size_t n = ss->ntail + take, used = 0;
        size_t olen = psw_term_escape(in, n, 1, 1, out, &used);
        ss->ntail = n - used; /* at most 3: an incomplete sequence */
        memcpy(ss->tail, in + used, ss->ntail);
        if (olen && fwrite(out, 1, olen, ss->to) != olen)
            return -1;
        done += take;
    }
    if (fflush(ss->to) != 0)
        return -1;
    return (ssize_t)size;
}

static int safe_close(void *cookie)
{
    struct safe_stream *ss = cookie;
    char out[4 * sizeof(ss->tail) + 1];
    int rc = 0;
    size_t olen = psw_term_escape((const char *)ss->tail, ss->ntail, 1, 0, out, NULL);
    if (olen && fwrite(out, 1, olen, ss->to) != olen)
        rc = -1;
    if (fflush(ss->to) != 0)
        rc = -1;
    free(ss);
    return rc;
}

static FILE *safe_open(FILE *to, int mode)
{
    static const cookie_io_functions_t io = { NULL, safe_write, NULL, safe_close };
    struct safe_stream *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return NULL;
    ss->to = to;
    FILE *f = fopencookie(ss, "w", io);
    if (!f) {
        free(ss);
        return NULL;
    }
    setvbuf(f, NULL, mode, BUFSIZ);
    return f;
}

static FILE *real_stdout, *real_stderr;

int cli_safe_streams(int human_stdout)
{
    FILE *e = safe_open(stderr, _IOLBF);
    if (!e)
        return -1;
    real_stderr = stderr;
    stderr = e;
    if (human_stdout) {
        FILE *o = safe_open(stdout, isatty(fileno(stdout)) ? _IOLBF : _IOFBF);
        if (!o)
            return -1;
        real_stdout = stdout;
        stdout = o;
    }
    return 0;
}

int cli_safe_streams_close(void)
{
    int rc = 0;
    if (real_stdout) {
        rc |= fclose(stdout);
        stdout = real_stdout;
        real_stdout = NULL;
        rc |= fflush(stdout);
    }
    if (real_stderr) {
        fclose(stderr);
        stderr = real_stderr;
        real_stderr = NULL;
    }
    return rc ? -1 : 0;
}
