/*
 * sample.c — the sample events behind endpoint tests (common/sample.h).
 * Each type gets the object SPEC-style validation requires of it (bounce,
 * click) so the event passes the same checks as a real one.
 */
#include "common/sample.h"

#include <stdio.h>
#include <string.h>

#include "common/event.h"

static int subscribes(const char *events, const char *type)
{
    if (!events || strcmp(events, "*") == 0)
        return 1;
    size_t tl = strlen(type);
    for (const char *p = events; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == tl && strncmp(p, type, l) == 0)
            return 1;
        p = e ? e + 1 : p + l;
    }
    return 0;
}

int psw_sample_test(struct psw_ctx *ctx, const struct psw_endpoint *ep, const char *type,
                    struct psw_publish_result *res, char *err, size_t errlen)
{
    char json[2048];
    const char *extra = "";
    int t = psw_event_type_parse(type);

    memset(res, 0, sizeof(*res));
    if (t < 0) {
        snprintf(err, errlen, "type: unknown event type \"%s\"", type);
        return PSW_EINVAL;
    }
    if (strcmp(ep->status, "deleted") == 0) {
        snprintf(err, errlen, "endpoint %s is deleted", ep->id);
        return PSW_ECONFLICT;
    }
    if (!subscribes(ep->events, type)) {
        snprintf(err, errlen, "type: endpoint %s does not subscribe to %s", ep->id, type);
        return PSW_EINVAL;
    }
    if (t == PSW_EV_BOUNCED)
        extra = ",\"bounce\":{\"type\":\"hard\",\"code\":\"5.1.1\","
                "\"reason\":\"mailbox does not exist (test)\"}";
    else if (t == PSW_EV_CLICKED)
        extra = ",\"click\":{\"url\":\"https://example.com/\",\"user_agent\":\"test\","
                "\"ip\":\"192.0.2.1\"}";
    else if (t == PSW_EV_OPENED)
        extra = ",\"open\":{\"user_agent\":\"test\",\"ip\":\"192.0.2.1\"}";
    const char *domain = ep->domain && *ep->domain ? ep->domain : "example.com";
    int n = snprintf(json, sizeof(json),
                     "{\"type\":\"%s\",\"account_id\":\"%s\",\"domain\":\"%s\","
                     "\"data\":{\"message_id\":\"<test@%s>\",\"from\":\"test@%s\","
                     "\"to\":\"test@example.org\",\"subject\":\"Test event\","
                     "\"tags\":[\"test\"],\"metadata\":{\"test\":true}%s}}",
                     type, ep->account_id, domain, domain, domain, extra);
    if (n < 0 || (size_t)n >= sizeof(json)) {
        snprintf(err, errlen, "type: sample event too long");
        return PSW_EINVAL;
    }
    int rc = psw_publish(ctx, json, (size_t)n, res);
    if (rc != PSW_OK)
        snprintf(err, errlen, "%s", res->err);
    return rc;
}
