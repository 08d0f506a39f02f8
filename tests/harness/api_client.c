/*
 * api_client.c — the psw-api test client (tests/harness/api_client.h).
 */
#include "tests/harness/api_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    char *p = realloc(b->p, b->n + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, data, n);
    b->p = p;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static void copy_header(const char *line, size_t len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' '))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(out, n, "%.*s", (int)vl, v);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct api_reply *r = arg;
    size_t n = size * nmemb;
    copy_header(data, n, "Content-Type", r->content_type, sizeof(r->content_type));
    copy_header(data, n, "Retry-After", r->retry_after, sizeof(r->retry_after));
    copy_header(data, n, "Set-Cookie", r->set_cookie, sizeof(r->set_cookie));
    return n;
}

static void record(const char *method, const char *path, const struct api_reply *r)
{
    const char *file = getenv("PSW_API_RECORD");
    if (!file || !*file)
        return;
    struct json_object *o = json_object_new_object();
    char ct[128];
    snprintf(ct, sizeof(ct), "%s", r->content_type);
    char *semi = strchr(ct, ';');
    if (semi)
        *semi = '\0';
    json_object_object_add(o, "method", json_object_new_string(method));
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "status", json_object_new_int(r->status));
    json_object_object_add(o, "content_type", ct[0] ? json_object_new_string(ct) : NULL);
    json_object_object_add(o, "body", r->json ? json_object_get(r->json) : NULL);
    FILE *f = fopen(file, "a");
    if (f) {
        fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        fclose(f);
    }
    json_object_put(o);
}

int api_send(const char *base, const struct api_req *rq, struct api_reply *out)
{
    char url[4096], h[1024];
    struct buf b = { NULL, 0 };
    struct curl_slist *hdrs = NULL;

    memset(out, 0, sizeof(*out));
    CURL *cu = curl_easy_init();
    if (!cu)
        return -1;
    snprintf(url, sizeof(url), "%s%s", base, rq->path);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, rq->method);
    curl_easy_setopt(cu, CURLOPT_PROXY, "");
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, out);
    if (strcmp(rq->method, "HEAD") == 0)
        curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
    if (rq->token) {
        snprintf(h, sizeof(h), "Authorization: Bearer %s", rq->token);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (rq->cookie) { /* may be long: the header-limit test sends kilobytes */
        size_t cl = strlen(rq->cookie) + 16;
        char *ch = malloc(cl);
        if (ch) {
            snprintf(ch, cl, "Cookie: %s", rq->cookie);
            hdrs = curl_slist_append(hdrs, ch);
            free(ch);
        }
    }
    if (rq->csrf) {
        snprintf(h, sizeof(h), "X-CSRF-Token: %s", rq->csrf);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (rq->body) {
        snprintf(h, sizeof(h), "Content-Type: %s",
                 rq->content_type ? rq->content_type : "application/json");
        hdrs = curl_slist_append(hdrs, h);
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(rq->body_len ? rq->body_len : strlen(rq->body)));
    }
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(cu);
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    else if (cc != CURLE_COULDNT_CONNECT) /* waiting for a server to start is normal */
        fprintf(stderr, "api_send %s %s: %s\n", rq->method, rq->path, curl_easy_strerror(cc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(cu);
    out->status = (int)status;
    out->body = b.p ? b.p : strdup("");
    out->body_len = b.n;
    if (out->body && out->body_len)
        out->json = json_tokener_parse(out->body);
    if (status)
        record(rq->method, rq->path, out);
    return status ? 0 : -1;
}

int api_do(const char *base, const char *method, const char *path, const char *token,
           const char *body, struct api_reply *out)
{
    struct api_req rq = { method, path, token, NULL, body, 0, NULL, NULL };
    return api_send(base, &rq, out);
}

void api_reply_free(struct api_reply *r)
{
    free(r->body);
    json_object_put(r->json);
    memset(r, 0, sizeof(*r));
}

const char *api_json_str(const struct api_reply *r, const char *key)
{
    struct json_object *v;
    if (!r->json || !json_object_object_get_ex(r->json, key, &v) || !v)
        return NULL;
    return json_object_get_string(v);
}

int api_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { 0 };
    socklen_t l = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}
