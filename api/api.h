/*
 * api.h — what the files of psw-api share (docs/api.md).
 *
 * A request is a plain struct (method, path, query, the few headers the API
 * reads, body): server.c fills it from libmicrohttpd, the fuzz harness and
 * unit tests fill it by hand, so routing and body parsing run without a
 * socket. api_handle() answers it into a struct api_response.
 *
 * Layout, one concern per file: server.c (libmicrohttpd), router.c (route
 * table, dispatch, the non-/v1 GETs), auth.c (tokens, session cookies,
 * CSRF, account scoping), body.c (JSON bodies and query strings),
 * problem.c (RFC 9457 errors and JSON answers), and one h_*.c per group of
 * routes. Handlers call the library (common/) exactly as `psw` does.
 *
 * Ownership: a response owns body (malloc'd) and its header strings;
 * api_response_free() releases them. Request fields are borrowed.
 */
#ifndef PSW_API_H
#define PSW_API_H

#include <stddef.h>

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/token.h"

struct json_object;

#define API_MAX_HEADERS 6

struct api_request {
    const char *method;       /* "GET" … */
    const char *path;         /* decoded, without the query string */
    const char *query;        /* raw "a=1&b=2" or NULL */
    const char *authorization;
    const char *content_type;
    const char *cookie;
    const char *csrf;         /* X-CSRF-Token */
    const char *forwarded_proto; /* X-Forwarded-Proto */
    int tls;
    const char *body;
    size_t body_len;
    int body_too_large;       /* the server stopped reading past api.max_body_bytes */
};

struct api_response {
    int status;
    const char *content_type; /* static string */
    char *body;
    size_t body_len;
    size_t nheaders;
    char *hname[API_MAX_HEADERS], *hvalue[API_MAX_HEADERS];
};

/* What a psw-api process (or fuzz harness) gives every request. */
struct api_env {
    const struct psw_config *cfg;
    /* The Redis context of the calling thread (opened lazily by server.c);
     * NULL when there is none (fuzzing: every route needing Redis answers 503). */
    struct psw_ctx *(*ctx)(void *arg);
    void *ctx_arg;
    const char *openapi;      /* the embedded api/openapi.json */
    size_t openapi_len;
};

/* Who is asking (auth.c). */
struct api_auth {
    int admin;
    char account[PSW_ACCOUNT_ID_MAX + 1]; /* account tokens: theirs; admin: "" */
    char actor[PSW_TOKEN_NAME_MAX + 32];  /* token name, or "session:<name>" */
    char token_id[PSW_ID_SIZE];           /* "" for sessions made from a link */
    int via_cookie;
};

/* One request being answered: the handlers' argument. */
struct api_call {
    const struct api_env *env;
    const struct api_request *rq;
    struct api_response *rs;
    struct psw_ctx *ctx;      /* NULL only for routes that need no Redis */
    struct api_auth auth;
    const char *param;        /* the {id} / {account} of the path, or NULL */
    char param_buf[256];
    struct json_object *body; /* parsed JSON body, when the route takes one */
};

/* ---- router.c ---------------------------------------------------------- */

/* Answers one request. Never fails: out of memory becomes a 500 problem. */
void api_handle(const struct api_env *env, const struct api_request *rq,
                struct api_response *rs);
void api_response_free(struct api_response *rs);

/* The route a method and path select (for the fuzzer and tests): its index
 * in the table, or -1 for 404, -2 for 405; param receives the {id}. */
int api_route_match(const char *method, const char *path, char *param, size_t n);

/* ---- problem.c ---------------------------------------------------------- */

/* Answer status with problem+json {type,title,status,detail[,field]}.
 * field may be NULL. Returns 0 so handlers can `return api_problem(…)`. */
int api_problem(struct api_call *c, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A library error (message in err, "field: why" for PSW_EINVAL) as a
 * problem: EINVAL 400 with the field, ENOTFOUND 404, ECONFLICT 409, else 500. */
int api_fail(struct api_call *c, int rc, const char *err);
/* The same, naming def_field when the message does not start with one. */
int api_fail_as(struct api_call *c, int rc, const char *err, const char *def_field);
/* Answer o (taken: json_object_put here) as application/json. NULL = 500. */
int api_json(struct api_call *c, int status, struct json_object *o);
/* 204, no body. */
int api_no_content(struct api_call *c);
/* Adds a response header (copied). */
void api_header(struct api_response *rs, const char *name, const char *value);
/* {"data": arr, "next_cursor": cursor or null} answered 200 (arr taken). */
int api_list(struct api_call *c, struct json_object *arr, const char *cursor);

/* ---- body.c -------------------------------------------------------------- */

/* Parses the body as one JSON object into c->body. Answers 415 (not JSON
 * content type), 400 (bad JSON, field "body") or 413 and returns -1; or 0.
 * An empty body is {} when empty_ok. */
int api_body_object(struct api_call *c, int empty_ok);
/* Member of c->body: its string (NULL when absent or null). A present value
 * of another type answers 400 naming it and sets *bad. */
const char *api_body_str(struct api_call *c, const char *name, int *bad);
/* The query parameter name, decoded into out; NULL when absent. */
const char *api_query(const struct api_call *c, const char *name, char *out, size_t n);
/* limit (default 50, 1..500) from the query; -1 after answering 400. */
int api_query_limit(struct api_call *c);
/* A time from the query (ISO 8601 or an age like 2h) into *ms (0 when
 * absent); -1 after answering 400. */
int api_query_time(struct api_call *c, const char *name, long long *ms);
/* Parse an arbitrary JSON text as an object (for the fuzzer): NULL + err. */
struct json_object *api_parse_object(const char *text, size_t len, int max_depth, char *err,
                                     size_t errlen);

/* ---- auth.c -------------------------------------------------------------- */

/* Authenticates the request into c->auth (bearer token or session cookie,
 * with CSRF for changes made with the cookie). Answers 401/403/429 and
 * returns -1, or returns 0. */
int api_authenticate(struct api_call *c);
/* 403 unless admin; -1 after answering. */
int api_require_admin(struct api_call *c);
/* The account the call acts on: an account token's own; for admin the
 * given one (may be NULL = all). */
const char *api_account(const struct api_call *c, const char *given);
/* Loads endpoint id if the caller may see it; else answers 404 exactly as
 * for a missing id and returns -1. */
int api_endpoint_visible(struct api_call *c, const char *id, struct psw_endpoint *ep);
/* Appends to the audit trail as the caller. */
void api_audit(struct api_call *c, const char *action, const char *target, const char *account);

/* ---- handlers (h_*.c) ---------------------------------------------------- */

int api_h_endpoints_list(struct api_call *c);
int api_h_endpoints_create(struct api_call *c);
int api_h_endpoint_get(struct api_call *c);
int api_h_endpoint_update(struct api_call *c);
int api_h_endpoint_delete(struct api_call *c);
int api_h_endpoint_secret(struct api_call *c);
int api_h_endpoint_enable(struct api_call *c);
int api_h_endpoint_disable(struct api_call *c);
int api_h_endpoint_rotate(struct api_call *c);
int api_h_endpoint_test(struct api_call *c);
int api_h_endpoint_deliveries(struct api_call *c);
int api_h_endpoint_replay(struct api_call *c);
int api_h_endpoint_stats(struct api_call *c);
int api_h_delivery_get(struct api_call *c);
int api_h_delivery_replay(struct api_call *c);
int api_h_events(struct api_call *c);
int api_h_tokens_list(struct api_call *c);
int api_h_tokens_create(struct api_call *c);
int api_h_token_delete(struct api_call *c);
int api_h_stats(struct api_call *c);
int api_h_queue(struct api_call *c);
int api_h_alerts(struct api_call *c);
int api_h_audit(struct api_call *c);
int api_h_dashboard_link(struct api_call *c);
int api_h_session_create(struct api_call *c);
int api_h_session_get(struct api_call *c);
int api_h_session_delete(struct api_call *c);
int api_h_healthz(struct api_call *c);
int api_h_readyz(struct api_call *c);
int api_h_openapi(struct api_call *c);
int api_h_metrics(struct api_call *c);

#endif
