/*
 * h_events.c — POST /v1/events (docs/api.md "Publishing"): one event, or
 * {"events": [...]} of up to api.max_batch, published with
 * psw_publish_many (pipelined, one result per event) like `psw publish`.
 * Publishing is not audited (common/audit.h says why).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/jsonout.h"
#include "common/publish.h"

int api_h_events(struct api_call *c)
{
    struct json_object *evs = NULL, *type = NULL;
    const char **texts = NULL;
    size_t *lens = NULL, n;
    char **copies = NULL;
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
    if (!texts || !lens || !copies || !res) {
        api_problem(c, 500, NULL, "out of memory");
        goto cleanup;
    }
    if (!batch) {
        texts[0] = c->rq->body; /* the exact bytes, as `psw publish` reads them */
        lens[0] = c->rq->body_len;
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
    int rc = psw_publish_many(c->ctx, n, texts, lens, res);
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
    free(res);
    return 0;
}
