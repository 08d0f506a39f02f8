/*
 * event_body.c — json-c's rendering of an event, the reference for the body
 * common/event.c builds (event_body.h says who compares the two).
 */
#include "tests/lib/event_body.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/timeutil.h"

/* Deeper than any limit the callers parse events with (PSW_EVENT_LIMITS_INIT
 * allows 16), so an accepted event is never too deep here. */
#define REF_DEPTH 64

static int is_known_key(const char *key)
{
    static const char *const known[] = { "id", "type", "created_at", "account_id", "domain",
                                         "data" };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(key, known[i]) == 0)
            return 1;
    return 0;
}

char *psw_test_event_body(const char *text, size_t len, const struct psw_event *ev)
{
    struct json_tokener *tok = json_tokener_new_ex(REF_DEPTH);
    struct json_object *root = NULL, *out = NULL, *data = NULL;
    char *buf = malloc(len + 1), *body = NULL;
    char created[PSW_ISO_SIZE];

    if (!tok || !buf)
        goto cleanup;
    /* The terminating NUL is passed too: json-c then knows the text ends. */
    memcpy(buf, text, len);
    buf[len] = '\0';
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, buf, (int)len + 1);
    if (!root || !json_object_object_get_ex(root, "data", &data))
        goto cleanup;

    out = json_object_new_object();
    if (!out)
        goto cleanup;
    psw_time_format(ev->created_at_ms, created);
    json_object_object_add(out, "id", json_object_new_string(ev->id));
    json_object_object_add(out, "type", json_object_new_string(psw_event_type_names[ev->type]));
    json_object_object_add(out, "created_at", json_object_new_string(created));
    json_object_object_add(out, "account_id", json_object_new_string(ev->account_id));
    json_object_object_add(out, "domain", json_object_new_string(ev->domain));
    json_object_object_add(out, "data", json_object_get(data));
    json_object_object_foreach(root, key, val) {
        if (!is_known_key(key))
            json_object_object_add(out, key, json_object_get(val));
    }
    body = strdup(json_object_to_json_string_ext(
        out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

cleanup:
    json_object_put(out);
    json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    free(buf);
    return body;
}
