/*
 * problem.c — how psw-api answers: RFC 9457 problem+json for errors (a 400
 * names the bad field), application/json for everything else (docs/api.md
 * "Errors").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/jsonout.h"

void api_header(struct api_response *rs, const char *name, const char *value)
{
    if (rs->nheaders >= API_MAX_HEADERS)
        return;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return;
    }
    rs->hname[rs->nheaders] = n;
    rs->hvalue[rs->nheaders] = v;
    rs->nheaders++;
}

static void set_body(struct api_response *rs, int status, const char *type, const char *text)
{
    free(rs->body);
    rs->status = status;
    rs->content_type = type;
    rs->body = text ? strdup(text) : NULL;
    rs->body_len = rs->body ? strlen(rs->body) : 0;
    if (text && !rs->body) { /* out of memory: a bare 500 */
        rs->status = 500;
        rs->content_type = NULL;
    }
}

static const char *title_of(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default:  return status >= 500 ? "Internal Server Error" : "Error";
    }
}

int api_problem(struct api_call *c, int status, const char *field, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);

    struct json_object *o = json_object_new_object();
    if (o && psw_json_add_str(o, "type", "about:blank") == 0 &&
        psw_json_add_str(o, "title", title_of(status)) == 0 &&
        psw_json_add_int(o, "status", status) == 0 &&
        psw_json_add_str(o, "detail", detail) == 0 &&
        (!field || psw_json_add_str(o, "field", field) == 0))
        set_body(c->rs, status, "application/problem+json",
                 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
    else
        set_body(c->rs, 500, NULL, NULL);
    json_object_put(o);
    return 0;
}

int api_fail(struct api_call *c, int rc, const char *err)
{
    return api_fail_as(c, rc, err, "body");
}

int api_fail_as(struct api_call *c, int rc, const char *err, const char *def_field)
{
    switch (rc) {
    case PSW_EINVAL: {
        /* The library's messages start with the field: "url: must be …". */
        char field[64] = "";
        const char *colon = strstr(err, ": ");
        size_t l = colon ? (size_t)(colon - err) : 0;
        if (l > 0 && l < sizeof(field) && !memchr(err, ' ', l)) {
            memcpy(field, err, l);
            field[l] = '\0';
        }
        return api_problem(c, 400, field[0] ? field : def_field, "%s", err);
    }
    case PSW_ENOTFOUND:
        return api_problem(c, 404, NULL, "no such object");
    case PSW_ECONFLICT:
        return api_problem(c, 409, NULL, "%s", err);
    default:
        return api_problem(c, 500, NULL, "%s", err);
    }
}

int api_json(struct api_call *c, int status, struct json_object *o)
{
    if (!o)
        return api_problem(c, 500, NULL, "out of memory");
    set_body(c->rs, status, "application/json",
             json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return 0;
}

int api_no_content(struct api_call *c)
{
    set_body(c->rs, 204, NULL, NULL);
    return 0;
}

int api_list(struct api_call *c, struct json_object *arr, const char *cursor)
{
    struct json_object *o = arr ? json_object_new_object() : NULL;
    if (!o) {
        json_object_put(arr);
        return api_problem(c, 500, NULL, "out of memory");
    }
    if (psw_json_add(o, "data", arr) < 0 || psw_json_add_str_or_null(o, "next_cursor", cursor) < 0) {
        json_object_put(o);
        return api_problem(c, 500, NULL, "out of memory");
    }
    return api_json(c, 200, o);
}

void api_response_free(struct api_response *rs)
{
    free(rs->body);
    for (size_t i = 0; i < rs->nheaders; i++) {
        free(rs->hname[i]);
        free(rs->hvalue[i]);
    }
    memset(rs, 0, sizeof(*rs));
}
