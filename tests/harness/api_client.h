/*
 * api_client.h — a small HTTP client for black-box tests of psw-api
 * (libcurl). Every answer is appended, as one JSON line, to the file named
 * by $PSW_API_RECORD when it is set (docs/api.md "Testing"):
 *   {"method","path","status","content_type","body": parsed JSON or null}
 * tests/harness/openapi.h runs the checker over such a file.
 */
#ifndef PSW_TEST_API_CLIENT_H
#define PSW_TEST_API_CLIENT_H

#include <stddef.h>

struct json_object;

struct api_reply {
    int status;                /* 0 when the request failed */
    char *body;                /* NUL-terminated; the caller frees via api_reply_free */
    size_t body_len;
    char content_type[128];
    char retry_after[32];
    char set_cookie[512];
    struct json_object *json;  /* parsed body, or NULL */
};

struct api_req {
    const char *method, *path;  /* path with query */
    const char *token;          /* Bearer token, or NULL */
    const char *content_type;   /* NULL = application/json when body is set */
    const char *body;           /* NULL = none */
    size_t body_len;            /* 0 = strlen(body) */
    const char *cookie, *csrf;  /* optional */
};

/* Sends the request to base ("http://127.0.0.1:PORT"); fills *out. 0, or
 * -1 when no answer came (out->status 0). */
int api_send(const char *base, const struct api_req *rq, struct api_reply *out);

/* Shorthand: api_send with method, path, token and body (JSON). */
int api_do(const char *base, const char *method, const char *path, const char *token,
           const char *body, struct api_reply *out);

void api_reply_free(struct api_reply *r);

/* A member of the reply's JSON object as a string (NULL if absent). */
const char *api_json_str(const struct api_reply *r, const char *key);

/* A free TCP port on 127.0.0.1 (bound and released). */
int api_free_port(void);

#endif
