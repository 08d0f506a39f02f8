/*
 * body.c — reading what a request carries: its JSON body (one object, UTF-8,
 * Content-Type application/json, at most api.max_body_bytes and
 * limits.max_json_depth deep) and its query string (docs/api.md "Requests").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/timeutil.h"

struct json_object *api_parse_object(const char *text, size_t len, int max_depth, char *err,
                                     size_t errlen)
{
    struct json_tokener *tok = json_tokener_new_ex(max_depth > 0 ? max_depth : 16);
    struct json_object *o = NULL;

    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    if (len > 0x7fffffff) {
        snprintf(err, errlen, "body: too large");
        goto done;
    }
    o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (!o || e != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
        if (e == json_tokener_continue)
            snprintf(err, errlen, "body: not JSON (ends too early)");
        else if (e == json_tokener_success)
            snprintf(err, errlen, "body: not JSON (text after the value)");
        else
            snprintf(err, errlen, "body: not JSON (%s)", json_tokener_error_desc(e));
        json_object_put(o);
        o = NULL;
        goto done;
    }
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "body: must be a JSON object");
        json_object_put(o);
        o = NULL;
    }
done:
    json_tokener_free(tok);
    return o;
}

static int is_json_type(const char *ct)
{
    size_t n = strlen("application/json");
    if (!ct || strncasecmp(ct, "application/json", n) != 0)
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

int api_body_object(struct api_call *c, int empty_ok)
{
    char err[256];
    const struct api_request *rq = c->rq;

    if (rq->body_too_large || rq->body_len > (size_t)c->env->cfg->api_max_body_bytes) {
        api_problem(c, 413, "body", "the body is larger than api.max_body_bytes (%d bytes)",
                    c->env->cfg->api_max_body_bytes);
        return -1;
    }
    if (rq->body_len == 0 && empty_ok) {
        c->body = json_object_new_object();
        if (!c->body) {
            api_problem(c, 500, NULL, "out of memory");
            return -1;
        }
        return 0;
    }
    if (!is_json_type(rq->content_type)) {
        api_problem(c, 415, NULL, "Content-Type must be application/json");
        return -1;
    }
    c->body = api_parse_object(rq->body ? rq->body : "", rq->body_len,
                               c->env->cfg->limits_max_json_depth + 2, err, sizeof(err));
    if (!c->body) {
        api_problem(c, 400, "body", "%s", err);
        return -1;
    }
    return 0;
}

const char *api_body_str(struct api_call *c, const char *name, int *bad)
{
    struct json_object *v = NULL;
    if (!c->body || !json_object_object_get_ex(c->body, name, &v) || !v)
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        if (!*bad)
            api_problem(c, 400, name, "%s: must be a string", name);
        *bad = 1;
        return NULL;
    }
    return json_object_get_string(v);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out ('+' is a space). 0, or -1 when it does
 * not fit or a % escape is malformed. */
static int decode(const char *s, size_t len, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = hi << 4 | lo;
            i += 2;
        }
        if (ch == 0 || o + 1 >= n)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

const char *api_query(const struct api_call *c, const char *name, char *out, size_t n)
{
    const char *q = c->rq->query;
    size_t nl = strlen(name);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t l = amp ? (size_t)(amp - q) : strlen(q);
        if (l > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
            if (decode(q + nl + 1, l - nl - 1, out, n) < 0)
                return NULL;
            return out;
        }
        if (l == nl && strncmp(q, name, nl) == 0) {
            out[0] = '\0';
            return out;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

int api_query_limit(struct api_call *c)
{
    char buf[32];
    const char *s = api_query(c, "limit", buf, sizeof(buf));
    if (!s)
        return 50;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 500) {
        api_problem(c, 400, "limit", "limit: a whole number from 1 to 500");
        return -1;
    }
    return (int)v;
}

int api_query_time(struct api_call *c, const char *name, long long *ms)
{
    char buf[64];
    int64_t v;
    const char *s = api_query(c, name, buf, sizeof(buf));
    *ms = 0;
    if (!s)
        return 0;
    if (psw_time_parse_arg(s, psw_now_ms(), &v) < 0) {
        api_problem(c, 400, name, "%s: not a time (ISO 8601, or an age like 2h)", name);
        return -1;
    }
    *ms = v;
    return 0;
}
