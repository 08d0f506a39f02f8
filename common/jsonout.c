/*
 * jsonout.c — see jsonout.h.
 */
#include "common/jsonout.h"

#include <json-c/json.h>

#include "common/timeutil.h"

int psw_json_add(struct json_object *o, const char *key, struct json_object *v)
{
    return json_object_object_add(o, key, v);
}

int psw_json_add_str(struct json_object *o, const char *key, const char *s)
{
    struct json_object *v = json_object_new_string(s ? s : "");
    return v ? psw_json_add(o, key, v) : -1;
}

int psw_json_add_str_or_null(struct json_object *o, const char *key, const char *s)
{
    return s && *s ? psw_json_add_str(o, key, s) : psw_json_add(o, key, NULL);
}

int psw_json_add_int(struct json_object *o, const char *key, long long v)
{
    struct json_object *j = json_object_new_int64(v);
    return j ? psw_json_add(o, key, j) : -1;
}

int psw_json_add_time(struct json_object *o, const char *key, long long ms)
{
    char iso[PSW_ISO_SIZE];
    if (ms <= 0)
        return psw_json_add(o, key, NULL);
    psw_time_format((int64_t)ms, iso);
    return psw_json_add_str(o, key, iso);
}
