/*
 * h_events.c — POST /v1/events (docs/api.md "Publishing"): one event, or
 * {"events": [...]} of up to api.max_batch, published with
 * psw_publish_many_parsed (pipelined, one result per event) like `psw
 * publish`. Publishing is not audited (common/audit.h says why).
 *
 * Each event is published from the exact bytes the client sent for it,
 * with the tree the body was parsed into (api_body_object): nothing is
 * parsed twice or printed back to text (docs/performance.md). The list is
 * the one json-c kept: the key read with its escapes, the last of several.
 * Should the elements found not add up (not seen), they are printed by
 * json-c and parsed again, as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/jsonout.h"
#include "common/publish.h"

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The end of the string that starts at s[i] ('"'): after its closing quote,
 * the first one not escaped by an odd number of backslashes. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len;) {
        const char *q = memchr(s + i, '"', len - i);
        if (!q)
            return len;
        size_t at = (size_t)(q - s), bs = 0;
        while (at - bs > i && s[at - bs - 1] == '\\')
            bs++;
        i = at + 1;
        if (bs % 2 == 0)
            return i;
    }
    return len;
}

/* The end of the JSON value that starts at s[i], in text json-c has
 * accepted; len when it runs off the end. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    int depth = 0;
    do {
        if (i >= len)
            return len;
        char ch = s[i];
        if (ch == '"') {
            i = skip_string(s, len, i);
        } else if (ch == '{' || ch == '[') {
            depth++;
            i++;
        } else if (ch == '}' || ch == ']') {
            depth--;
            i++;
        } else if (ch == ',' || ch == ':' || ch == ' ' || ch == '\t' || ch == '\n' ||
                   ch == '\r') {
            i++;
        } else { /* a number, true, false, null */
            while (i < len && !strchr(",:]} \t\n\r", s[i]))
                i++;
        }
    } while (depth > 0);
    return i;
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* 1 when the key written s[0..n) (between its quotes) is "events" as json-c
 * reads it: escapes decoded, and cut at a NUL as json-c cuts keys. */
static int key_is_events(const char *s, size_t n)
{
    static const char want[] = "events";
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned cp = (unsigned char)s[i];
        if (cp != '\\') {
            i++;
        } else if (i + 1 < n && s[i + 1] == 'u') {
            if (i + 6 > n || hex4(s + i + 2, &cp) < 0)
                return 0;
            i += 6;
        } else if (i + 1 < n) {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *at = strchr(from, s[i + 1]);
            if (!at || !*at)
                return 0;
            cp = (unsigned char)to[at - from];
            i += 2;
        } else {
            return 0;
        }
        if (cp == 0)
            break;
        if (w >= sizeof(want) - 1 || cp != (unsigned char)want[w])
            return 0;
        w++;
    }
    return w == sizeof(want) - 1;
}

/* Finds the text of each of the n elements of the top-level "events" list in
 * the body s[0..len) (valid JSON: api_body_object parsed it), the list
 * json-c kept: the last one when the key is there twice. 0, or -1 when what
 * it finds does not add up to n elements (then the caller prints them). */
static int split_events(const char *s, size_t len, size_t n, const char **texts, size_t *lens)
{
    size_t i = skip_ws(s, len, 0), found = 0;
    int lists = 0;
    if (i >= len || s[i] != '{')
        return -1;
    i = skip_ws(s, len, i + 1);
    while (i < len && s[i] == '"') {
        size_t k0 = i + 1, e = skip_string(s, len, i);
        if (e <= k0 || e > len)
            return -1;
        size_t k1 = e - 1;
        i = skip_ws(s, len, e);
        if (i >= len || s[i] != ':')
            return -1;
        i = skip_ws(s, len, i + 1);
        if (i < len && s[i] == '[' && key_is_events(s + k0, k1 - k0)) {
            lists++;
            found = 0;
            i = skip_ws(s, len, i + 1);
            while (i < len && s[i] != ']') {
                size_t e1 = skip_value(s, len, i);
                if (found == n)
                    return -1;
                texts[found] = s + i;
                lens[found++] = e1 - i;
                i = skip_ws(s, len, e1);
                if (i < len && s[i] == ',')
                    i = skip_ws(s, len, i + 1);
            }
            i = skip_ws(s, len, i + 1); /* after the ']' */
        } else {
            if (key_is_events(s + k0, k1 - k0))
                lists = 0, found = 0; /* a later "events" that is not a list */
            i = skip_ws(s, len, skip_value(s, len, i));
        }
        if (i < len && s[i] == ',')
            i = skip_ws(s, len, i + 1);
    }
    return lists > 0 && found == n && i < len && s[i] == '}' ? 0 : -1;
}

int api_h_events(struct api_call *c)
{
    struct json_object *evs = NULL, *type = NULL;
    const char **texts = NULL;
    size_t *lens = NULL, n;
    char **copies = NULL;
    struct json_object **trees = NULL;
    struct psw_publish_result *res = NULL;
    struct json_object *out = NULL, *arr = NULL;

    int batch = json_object_object_get_ex(c->body, "events", &evs) &&
                !json_object_object_get_ex(c->body, "type", &type);
    if (batch) {
        if (!json_object_is_type(evs, json_type_array))
            return api_problem(c, 400, "events", "events: must be a list of events");
        n = json_object_array_length(evs);
        if (n == 0)
            return api_problem(c, 400, "events", "events: the list is empty");
        if (n > (size_t)c->env->cfg->api_max_batch)
            return api_problem(c, 413, "events", "events: %zu events, more than api.max_batch (%d)",
                               n, c->env->cfg->api_max_batch);
    } else {
        n = 1;
    }
    texts = calloc(n, sizeof(*texts));
    lens = calloc(n, sizeof(*lens));
    copies = calloc(n, sizeof(*copies));
    res = calloc(n, sizeof(*res));
    trees = calloc(n, sizeof(*trees));
    if (!texts || !lens || !copies || !res || !trees) {
        api_problem(c, 500, NULL, "out of memory");
        goto cleanup;
    }
    if (!batch) {
        texts[0] = c->rq->body; /* the exact bytes, as `psw publish` reads them */
        lens[0] = c->rq->body_len;
        trees[0] = c->body;
    } else if (split_events(c->rq->body, c->rq->body_len, n, texts, lens) == 0) {
        for (size_t i = 0; i < n; i++)
            trees[i] = json_object_array_get_idx(evs, i);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(evs, i);
            const char *s = json_object_to_json_string_ext(
                e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
            if (!s || !(copies[i] = strdup(s))) {
                api_problem(c, 500, NULL, "out of memory");
                goto cleanup;
            }
            texts[i] = copies[i];
            lens[i] = strlen(copies[i]);
        }
    }
    int rc = psw_publish_many_parsed(c->ctx, n, texts, lens, trees, res);
    if (rc == PSW_EFAIL && res[0].status == PSW_EFAIL) {
        api_problem(c, 503, NULL, "%s", res[0].err);
        goto cleanup;
    }
    out = json_object_new_object();
    arr = json_object_new_array();
    if (!out || !arr || psw_json_add(out, "results", arr) < 0) {
        if (!out)
            json_object_put(arr);
        api_problem(c, 500, NULL, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_new_object();
        const char *word = res[i].status != PSW_OK ? "failed"
                           : res[i].duplicate     ? "duplicate"
                                                  : "published";
        if (!r || psw_json_add_str_or_null(r, "event_id", res[i].event_id) < 0 ||
            psw_json_add_str(r, "result", word) < 0 ||
            psw_json_add_int(r, "deliveries", res[i].status == PSW_OK ? res[i].deliveries : 0) < 0 ||
            psw_json_add_str_or_null(r, "error", res[i].status == PSW_OK ? NULL : res[i].err) < 0 ||
            json_object_array_add(arr, r) < 0) {
            json_object_put(r);
            api_problem(c, 500, NULL, "out of memory");
            goto cleanup;
        }
    }
    /* One event that failed validation is a 400 naming the field, as
     * every other route; a batch answers 202 with each result. */
    if (!batch && res[0].status == PSW_EINVAL) {
        api_fail_as(c, PSW_EINVAL, res[0].err, "body");
        goto cleanup;
    }
    api_json(c, 202, out);
    out = NULL;
cleanup:
    json_object_put(out);
    if (copies)
        for (size_t i = 0; i < n; i++)
            free(copies[i]);
    free(copies);
    free(texts);
    free(lens);
    free(trees);
    free(res);
    return 0;
}
