/*
 * jsonout.h — adding members to json-c objects the way every --json output
 * of this project spells them: times as ISO 8601 UTC strings, unset values
 * as null. Each returns 0, or -1 when json-c could not allocate; the member
 * value passed to psw_json_add is owned by o afterwards even on failure
 * (json_object_object_add's rule).
 */
#ifndef PSW_JSONOUT_H
#define PSW_JSONOUT_H

struct json_object;

int psw_json_add(struct json_object *o, const char *key, struct json_object *v);
int psw_json_add_str(struct json_object *o, const char *key, const char *s);         /* NULL → "" */
int psw_json_add_str_or_null(struct json_object *o, const char *key, const char *s); /* NULL, "" → null */
int psw_json_add_int(struct json_object *o, const char *key, long long v);
int psw_json_add_time(struct json_object *o, const char *key, long long ms);         /* ≤ 0 → null */

#endif
