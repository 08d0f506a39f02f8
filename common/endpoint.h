/*
 * endpoint.h — endpoint operations (docs/events.md, docs/receiving.md, docs/redis.md, docs/cli.md): create, show, list,
 * update, delete, enable, disable, rotate the signing secret. The CLI and
 * the HTTP API both call these; each write is one Lua script, so concurrent
 * callers and the delivery scripts never see half an endpoint.
 *
 * An endpoint lives in the hash <prefix>endpoint:<id> (fields as docs/redis.md
 * lists, plus disabled_by and deleted_at; unset optional fields are "") and
 * in the sets <prefix>endpoints and <prefix>account:<a>:endpoints while it
 * is not deleted. A deleted endpoint keeps its hash, with status "deleted",
 * until retention.days have passed, so its delivery history can be shown.
 *
 * Return codes (common/ctx.h): 0, PSW_EINVAL (bad input; the message names
 * the setting), PSW_ENOTFOUND (no such endpoint, or deleted), PSW_ECONFLICT
 * (the account is at limits.max_endpoints_per_account), PSW_EFAIL (Redis).
 *
 * Ownership: a struct psw_endpoint filled by these functions owns its
 * strings; psw_endpoint_free() releases them (safe on a zeroed struct and
 * after a failed call). Lists come from psw_endpoint_list() and go back
 * with psw_endpoint_list_free().
 */
#ifndef PSW_ENDPOINT_H
#define PSW_ENDPOINT_H

#include <stddef.h>

#include "common/ctx.h"
#include "common/ids.h"

struct json_object;

#define PSW_ACCOUNT_ID_MAX 128
#define PSW_DESCRIPTION_MAX 1024
#define PSW_SECRET_ERROR_SIZE 512

struct psw_endpoint {
    char id[PSW_ID_SIZE];
    char *account_id;
    char *domain;            /* "" = account level */
    char *url;
    char *events;            /* "*" or "email.sent,email.bounced" */
    char *status;            /* enabled | disabled | deleted */
    char *secret;            /* opened (plain text); "" if it cannot be */
    char *secret_prev;       /* "" when none (or when it cannot be opened) */
    char secret_error[PSW_SECRET_ERROR_SIZE]; /* "" or why the secrets could not be
                                                 opened (common/secrets.h); no secret text */
    long long secret_prev_until; /* unix ms; 0 when none */
    long long consecutive_failures;
    char *disabled_reason;   /* "" unless disabled */
    char *disabled_by;       /* "cli", "worker", … ; "" unless disabled */
    long long disabled_at;   /* unix ms; 0 = unset */
    long long created_at;
    long long updated_at;
    long long deleted_at;    /* 0 unless deleted */
    char *description;
    /* per-endpoint options (docs/cli.md, "Endpoint options") */
    char *signing;           /* poststack | standard | ed25519 */
    char *public_key;        /* "whpk_…" once an ed25519 key pair exists, else "" */
    char *headers;           /* opened static headers, "Name: value" lines joined by
                                "\n" (common/headers.h); "" when none or when they
                                cannot be opened (then secret_error says why) */
    long long rate_limit;    /* requests per second, 0 = none */
    long long batch_max_events;  /* 0 = no batching */
    long long batch_max_wait_ms; /* with batching: how long the oldest event waits at most */
    int ordered;             /* 1: one request at a time, in publish order */
};

/* NULL field = not given (create: the default; update: unchanged). */
struct psw_endpoint_spec {
    const char *account_id;
    const char *url;
    const char *domain;      /* "" = account level */
    const char *events;      /* default "*" */
    const char *secret;      /* create only; default generated */
    const char *description;
    const char *signing;     /* poststack (default) | standard | ed25519 */
    long long rate_limit;    /* requests per second, 0 = none; -1 = not given */
    int set_headers;         /* 1: headers[0..nheaders) replace the static headers
                                (nheaders 0 clears them); 0: not given */
    const char *const *headers; /* "Name: value" each */
    size_t nheaders;
    /* batches (docs/cli.md, "Endpoint options"): -1 = not given. max_events
     * 0 turns batching off; turning it on without a max_wait gives
     * PSW_BATCH_WAIT_DEFAULT_MS. */
    long long batch_max_events;  /* 0, or 1..PSW_BATCH_MAX_EVENTS */
    long long batch_max_wait_ms; /* PSW_BATCH_WAIT_MIN_MS..PSW_BATCH_WAIT_MAX_MS */
    int ordered;             /* 1 on, 0 off; -1 = not given (create: off) */
};
#define PSW_ENDPOINT_SPEC_INIT { NULL, NULL, NULL, NULL, NULL, NULL, NULL, -1, 0, NULL, 0, -1, -1, -1 }
#define PSW_BATCH_MAX_EVENTS 1000
#define PSW_BATCH_WAIT_MIN_MS 10
#define PSW_BATCH_WAIT_MAX_MS 3600000
#define PSW_BATCH_WAIT_DEFAULT_MS 1000

void psw_endpoint_free(struct psw_endpoint *ep);

/* Validates spec and creates an enabled endpoint; *out receives it as stored. */
int psw_endpoint_create(struct psw_ctx *ctx, const struct psw_endpoint_spec *spec,
                        struct psw_endpoint *out, char *err, size_t errlen);

/* Reads one endpoint, deleted ones included (status "deleted"). */
int psw_endpoint_get(struct psw_ctx *ctx, const char *id, struct psw_endpoint *out, char *err,
                     size_t errlen);

/* The endpoints of account (NULL = of every account), not deleted ones,
 * sorted by created_at then id. *out is NULL when *n is 0. */
int psw_endpoint_list(struct psw_ctx *ctx, const char *account, struct psw_endpoint **out,
                      size_t *n, char *err, size_t errlen);
void psw_endpoint_list_free(struct psw_endpoint *eps, size_t n);

/* Changes url, domain, events, description, signing, rate_limit, ordered
 * and/or the headers (at least one). Switching ordered off lets every
 * delivery waiting for its turn out at once; switching it on makes the
 * deliveries not yet sent wait for their turn. Switching to ed25519 makes a key pair unless the
 * endpoint has one; switching to standard needs a whsec_<base64> secret
 * (common/sign_std.h). A secret
 * is refused (use psw_endpoint_rotate_secret); an account_id other than the
 * endpoint's own is refused. Deliveries created afterwards route by the new
 * values. out may be NULL. */
int psw_endpoint_update(struct psw_ctx *ctx, const char *id, const struct psw_endpoint_spec *spec,
                        struct psw_endpoint *out, char *err, size_t errlen);

/* Removes the endpoint from both sets, marks it deleted, wipes its secrets,
 * requeues its held-back deliveries (they are then skipped) and lets the
 * hash, its delivery index and its stats expire after retention.days. */
int psw_endpoint_delete(struct psw_ctx *ctx, const char *id, char *err, size_t errlen);

/* Enabled again, failure count 0, disabled_* cleared. out may be NULL. */
int psw_endpoint_enable(struct psw_ctx *ctx, const char *id, struct psw_endpoint *out,
                        char *err, size_t errlen);

/* Disabled by an operator: reason NULL/"" = "disabled by operator", who
 * NULL/"" = "operator". No alert is raised. An endpoint that is already
 * disabled keeps its original reason, time and author. out may be NULL. */
int psw_endpoint_disable(struct psw_ctx *ctx, const char *id, const char *reason,
                         const char *who, struct psw_endpoint *out, char *err, size_t errlen);

/* A new secret (new_secret NULL = generated; else checked). The current one
 * stays valid as secret_prev until now + grace_ms (grace_ms < 0 = the
 * configured signing.rotation_grace; 0 = not kept). An older secret_prev is
 * dropped: at most two secrets are valid at once. A current secret that
 * cannot be opened (its key is lost) is replaced only with grace 0: any
 * grace is refused with PSW_EINVAL saying so. out may be NULL. */
int psw_endpoint_rotate_secret(struct psw_ctx *ctx, const char *id, const char *new_secret,
                               long long grace_ms, struct psw_endpoint *out, char *err,
                               size_t errlen);

/* The endpoint as a JSON object with the keys id, account_id, domain, url,
 * events (array: ["*"] or the types), status, consecutive_failures,
 * disabled_reason, disabled_by, disabled_at, created_at, updated_at,
 * deleted_at, description, signing, public_key (null unless a key pair
 * exists), rate_limit, ordered (boolean), headers (array of masked lines, psw_header_mask:
 * never in full), and with show_secret also secret, secret_prev,
 * secret_prev_until (null, with secret_error saying why, when secret_error
 * is set). Times are ISO 8601 strings or null; disabled_reason,
 * disabled_by and secret_prev are null when empty. NULL on allocation
 * failure. The caller json_object_put()s it. */
struct json_object *psw_endpoint_to_json(const struct psw_endpoint *ep, int show_secret);

#endif
