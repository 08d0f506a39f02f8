/*
 * fuzz_api.c — libFuzzer harness for psw-api's request handling without a
 * socket (api/router.c, api/body.c, api/problem.c): routing, query strings
 * and JSON bodies.
 *
 * Input: "METHOD PATH[?QUERY]\n", then header lines "Name: value\n" (only
 * Authorization, Content-Type, Cookie, X-CSRF-Token, X-Forwarded-Proto are
 * used) up to an empty line, then the body. There is no Redis: the
 * environment's context callback returns NULL.
 *
 * Properties:
 *  - api_handle always answers: a status in 200..599; every error is
 *    application/problem+json whose JSON "status" equals the HTTP status;
 *    a JSON answer's body parses;
 *  - routing agrees with api_route_match: -1 (unknown path) is 404, -2
 *    (known path, other method) is 405; a matched route whose handler needs
 *    Redis answers 503 here (or 413 for an oversized body);
 *  - api_parse_object: what it accepts is an object, and printing and
 *    parsing it again gives the same text;
 *  - api_query: a found value fits the buffer and holds no NUL before its end.
 */
#include "tests/fuzz/fuzz.h"

#include <strings.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/config.h"

static struct psw_config ap_cfg;
static int ap_cfg_ready;

static struct psw_ctx *ap_no_ctx(void *arg)
{
    (void)arg;
    return NULL;
}

/* Splits the next line off *p (up to end); NULL when none is left. */
static char *ap_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl) {
        *p = end;
        return s;
    }
    *nl = '\0';
    if (nl > s && nl[-1] == '\r')
        nl[-1] = '\0';
    *p = nl + 1;
    return s;
}

static void ap_check_answer(const struct api_response *rs)
{
    FUZZ_REQUIRE(rs->status >= 200 && rs->status <= 599, "status %d", rs->status);
    if (!rs->body)
        return;
    FUZZ_REQUIRE(strlen(rs->body) == rs->body_len, "body length");
    struct json_object *o = json_tokener_parse(rs->body);
    FUZZ_REQUIRE(o != NULL, "answer is not JSON: %s", rs->body);
    if (rs->status >= 400) {
        struct json_object *st;
        FUZZ_REQUIRE(rs->content_type && strcmp(rs->content_type, "application/problem+json") == 0,
                     "error without problem+json");
        FUZZ_REQUIRE(json_object_object_get_ex(o, "status", &st) &&
                         json_object_get_int(st) == rs->status,
                     "problem status differs");
    }
    json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ap_cfg_ready) {
        if (psw_config_defaults(&ap_cfg) < 0)
            abort();
        ap_cfg.api_max_body_bytes = 4096;
        ap_cfg_ready = 1;
    }
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    if (size)
        memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf, *end = buf + size;

    struct api_request rq = { 0 };
    char *first = ap_line(&p, end);
    char *sp = first ? strchr(first, ' ') : NULL;
    if (!sp) {
        free(buf);
        return 0;
    }
    *sp = '\0';
    rq.method = first;
    char *path = sp + 1, *q = strchr(path, '?');
    if (q) {
        *q = '\0';
        rq.query = q + 1;
    }
    rq.path = path;
    for (char *h; (h = ap_line(&p, end)) && *h;) {
        char *colon = strstr(h, ": ");
        if (!colon)
            continue;
        *colon = '\0';
        const char *v = colon + 2;
        if (!strcasecmp(h, "Authorization"))
            rq.authorization = v;
        else if (!strcasecmp(h, "Content-Type"))
            rq.content_type = v;
        else if (!strcasecmp(h, "Cookie"))
            rq.cookie = v;
        else if (!strcasecmp(h, "X-CSRF-Token"))
            rq.csrf = v;
        else if (!strcasecmp(h, "X-Forwarded-Proto"))
            rq.forwarded_proto = v;
    }
    rq.body = p < end ? p : "";
    rq.body_len = (size_t)(end - (p < end ? p : end));
    rq.body_too_large = rq.body_len > (size_t)ap_cfg.api_max_body_bytes;

    struct api_env env = { &ap_cfg, ap_no_ctx, NULL, "{\"openapi\":\"3.1.0\"}", 19 };
    struct api_response rs;
    api_handle(&env, &rq, &rs);
    ap_check_answer(&rs);

    char param[256];
    int r = api_route_match(rq.method, rq.path, param, sizeof(param));
    if (r == -1)
        FUZZ_REQUIRE(rs.status == 404, "unknown path answered %d", rs.status);
    else if (r == -2)
        FUZZ_REQUIRE(rs.status == 405, "known path, other method answered %d", rs.status);
    else if (strcmp(rq.path, "/healthz") != 0 && strcmp(rq.path, "/v1/openapi.json") != 0)
        FUZZ_REQUIRE(rs.status == 503 || rs.status == 413, "route %d answered %d without Redis",
                     r, rs.status);
    api_response_free(&rs);

    /* The body as JSON, directly. */
    char err[256];
    struct json_object *o = api_parse_object(rq.body, rq.body_len, 16, err, sizeof(err));
    if (o) {
        FUZZ_REQUIRE(json_object_is_type(o, json_type_object), "not an object");
        const char *s1 = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        struct json_object *o2 = api_parse_object(s1, strlen(s1), 16, err, sizeof(err));
        FUZZ_REQUIRE(o2 != NULL, "printed object does not parse again: %s", err);
        FUZZ_REQUIRE(strcmp(s1, json_object_to_json_string_ext(o2, JSON_C_TO_STRING_PLAIN)) == 0,
                     "print/parse not a fixed point");
        json_object_put(o2);
        json_object_put(o);
    } else {
        FUZZ_REQUIRE(strncmp(err, "body: ", 6) == 0 || strcmp(err, "out of memory") == 0,
                     "message does not name the body: %s", err);
    }

    /* Query parameters. */
    static const char *const names[] = { "limit", "cursor", "state", "type", "since", "account" };
    struct api_call c = { 0 };
    struct api_response rs2 = { 0 };
    c.env = &env;
    c.rq = &rq;
    c.rs = &rs2;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char out[64];
        const char *v = api_query(&c, names[i], out, sizeof(out));
        if (v)
            FUZZ_REQUIRE(v == out && strlen(out) < sizeof(out), "query value");
    }
    api_response_free(&rs2);
    free(buf);
    return 0;
}
