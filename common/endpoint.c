/*
 * endpoint.c — endpoint operations (endpoint.h) over the Lua scripts
 * common/lua/endpoint_*.lua.
 *
 * Division of work: C validates and normalizes every input (so a script only
 * ever stores well-formed values) and turns replies into structs; each
 * script does one whole change atomically and answers {'ok', HGETALL} or a
 * status word ('notfound', 'deleted', 'limit', …) that C maps to a return
 * code. Times come from Redis's clock (now_ms() in the scripts).
 *
 * Secrets: every secret written to Redis passes through secret_seal() and
 * every secret read back through secret_open() (common/secrets.h: sealed
 * with the configured key, the endpoint id bound in; plain when no key is
 * configured). The keys are loaded per operation, so a changed key file is
 * seen at once and nothing stays in memory between calls. Sealing needs the
 * keys (an unreadable key file fails the write); reading does not: a secret
 * that cannot be opened comes back as "" with the reason in secret_error,
 * so endpoints stay listable. Secret copies are wiped before they are
 * freed.
 */
#include "common/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "common/headers.h"
#include "common/jsonout.h"
#include "common/netguard.h"
#include "common/reply.h"
#include "common/secrets.h"
#include "common/sign.h"
#include "common/sign_std.h"
#include "common/termsafe.h"
#include "common/timeutil.h"
#include "common/validate.h"

#define ID_HINT "ep_ followed by 26 characters"
#define GRACE_MAX_MS (365LL * 86400000LL)
#define RATE_LIMIT_MAX 100000

/* ---- secrets at rest ------------------------------------------------- */

/* The keys of one operation that reads secrets: ok = 0 when they could
 * not be loaded (err says why; sealed values then cannot be opened). */
struct keys {
    struct psw_secrets_keyring ring;
    int ok;
    char err[512];
};

static void keys_load(const struct psw_ctx *ctx, struct keys *k)
{
    k->ok = psw_secrets_load(ctx->cfg, &k->ring, k->err, sizeof(k->err)) == 0;
}

static void keys_wipe(struct keys *k)
{
    psw_secrets_wipe(&k->ring);
}

/* The form plain is stored in for endpoint id, into *out (wipe_free it).
 * PSW_EINVAL when the keys cannot be loaded or plain could be mistaken for
 * a sealed value, PSW_EFAIL when sealing failed. */
static int secret_seal(const struct psw_ctx *ctx, const char *id, const char *plain, char **out,
                       char *err, size_t errlen)
{
    struct psw_secrets_keyring ring;

    *out = NULL;
    if (strncmp(plain, PSW_SECRETS_ENC_PREFIX, sizeof(PSW_SECRETS_ENC_PREFIX) - 1) == 0) {
        snprintf(err, errlen, "secret: must not start with \"" PSW_SECRETS_ENC_PREFIX
                              "\" (it marks encrypted values in Redis)");
        return PSW_EINVAL;
    }
    if (psw_secrets_load(ctx->cfg, &ring, err, errlen) < 0)
        return PSW_EINVAL;
    *out = psw_secrets_seal(&ring, id, plain, err, errlen);
    psw_secrets_wipe(&ring);
    return *out ? PSW_OK : PSW_EFAIL;
}

/* The secret stored holds for endpoint id: a heap string ("" when it cannot
 * be opened, with the reason in why[PSW_SECRET_ERROR_SIZE]); NULL only when
 * out of memory. */
static char *secret_open(const struct keys *k, const char *id, const char *stored, char *why)
{
    enum psw_secrets_form form = psw_secrets_form(stored, NULL);
    char *plain;

    if (form == PSW_SECRETS_SEALED && !k->ok) {
        snprintf(why, PSW_SECRET_ERROR_SIZE, "%s", k->err);
        return strdup("");
    }
    plain = psw_secrets_open(&k->ring, id, stored, why, PSW_SECRET_ERROR_SIZE);
    return plain ? plain : strdup("");
}

static void wipe_free(char *s)
{
    psw_secrets_free(s);
}

/* ---- small helpers --------------------------------------------------- */

/* Copies s into out for a message: printable ASCII only (others become
 * '?'), at most 64 characters, "..." when cut. */
static void shown(const char *s, char *out, size_t n)
{
    size_t i, o = 0;
    for (i = 0; s[i] && o + 4 < n && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s[i] && o + 4 <= n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int check_id(const char *id, char *err, size_t errlen)
{
    char q[80];
    if (!id || !*id) {
        snprintf(err, errlen, "endpoint id: required (" ID_HINT ")");
        return PSW_EINVAL;
    }
    if (!psw_id_valid("ep_", id)) {
        shown(id, q, sizeof(q));
        snprintf(err, errlen, "endpoint id \"%s\" is not valid (" ID_HINT ")", q);
        return PSW_EINVAL;
    }
    return PSW_OK;
}

static int check_account(const char *account, char *err, size_t errlen)
{
    if (!account || !*account) {
        snprintf(err, errlen, "account_id: required");
        return PSW_EINVAL;
    }
    if (!psw_token_valid(account, PSW_ACCOUNT_ID_MAX)) {
        snprintf(err, errlen, "account_id: must be 1-%d characters of A-Z a-z 0-9 _ - . :",
                 PSW_ACCOUNT_ID_MAX);
        return PSW_EINVAL;
    }
    return PSW_OK;
}

/* Lower-cases and checks a domain into out[PSW_DOMAIN_MAX + 1]; "" stays
 * "" (account level). */
static int check_domain(const char *domain, char *out, char *err, size_t errlen)
{
    char q[80];
    size_t n = strlen(domain);
    if (n > PSW_DOMAIN_MAX) {
        snprintf(err, errlen, "domain: too long (%zu characters, at most %d)", n,
                 PSW_DOMAIN_MAX);
        return PSW_EINVAL;
    }
    for (size_t i = 0; i <= n; i++) {
        char c = domain[i];
        out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    if (n > 0 && !psw_domain_valid(out)) {
        shown(domain, q, sizeof(q));
        snprintf(err, errlen,
                 "domain: \"%s\" is not a valid domain name (dot-separated labels of 1-63 "
                 "letters, digits and hyphens; \"\" for every domain of the account)",
                 q);
        return PSW_EINVAL;
    }
    return PSW_OK;
}

/* Free text (description, disable reason): UTF-8, no control characters
 * (C0, DEL, C1). */
static int check_text(const char *what, const char *d, char *err, size_t errlen)
{
    size_t n = strlen(d);
    if (n > PSW_DESCRIPTION_MAX) {
        snprintf(err, errlen, "%s: too long (%zu bytes, at most %d)", what, n,
                 PSW_DESCRIPTION_MAX);
        return PSW_EINVAL;
    }
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)d + i;
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "%s: control character at byte %zu is not allowed", what,
                     i + 1);
            return PSW_EINVAL;
        }
        int k = psw_utf8_len(p, n - i);
        if (k <= 0) {
            snprintf(err, errlen, "%s: not valid UTF-8 at byte %zu", what, i + 1);
            return PSW_EINVAL;
        }
        /* U+0080-U+009F act on terminals as ESC sequences do */
        if (psw_utf8_is_c1(p, k)) {
            snprintf(err, errlen, "%s: control character U+%04X at byte %zu is not allowed",
                     what, (unsigned)p[1], i + 1);
            return PSW_EINVAL;
        }
        i += (size_t)k;
    }
    return PSW_OK;
}

/* Runs an endpoint script; on success *out is an array whose first element
 * is the status word (returned in *word). */
static int run(struct psw_ctx *ctx, enum psw_script_id script, int argc, const char **argv,
               redisReply **out, const char **word, char *err, size_t errlen)
{
    redisReply *rep = psw_redis_eval(ctx->redis, script, argc, argv, NULL);
    *out = NULL;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        !psw_reply_str(rep, 0)) {
        int rc = psw_ctx_redis_failure(ctx, rep, psw_script_sources[script].name, err, errlen);
        freeReplyObject(rep);
        return rc;
    }
    *out = rep;
    *word = psw_reply_str(rep, 0);
    return PSW_OK;
}

/* Maps the status words every endpoint script shares. */
static int status_word(const char *word, const char *id, char *err, size_t errlen)
{
    if (strcmp(word, "notfound") == 0) {
        snprintf(err, errlen, "no endpoint %s", id);
        return PSW_ENOTFOUND;
    }
    if (strcmp(word, "deleted") == 0) {
        snprintf(err, errlen, "endpoint %s was deleted", id);
        return PSW_ENOTFOUND;
    }
    snprintf(err, errlen, "redis: unexpected script answer \"%s\"", word);
    return PSW_EFAIL;
}

static char *dup_field(const redisReply *h, const char *field)
{
    const char *v = psw_reply_hget(h, field);
    return strdup(v ? v : "");
}

/* Fills out from an HGETALL reply, opening the secrets with k. out is
 * freed first on failure. */
static int from_hash(const struct keys *k, const redisReply *h, struct psw_endpoint *out,
                     char *err, size_t errlen)
{
    const char *id = psw_reply_hget(h, "id");
    const char *secret = psw_reply_hget(h, "secret");
    const char *prev = psw_reply_hget(h, "secret_prev");
    const char *headers = psw_reply_hget(h, "headers");

    memset(out, 0, sizeof(*out));
    if (!id || strlen(id) >= sizeof(out->id)) {
        snprintf(err, errlen, "redis: endpoint hash without a valid id field");
        return PSW_EFAIL;
    }
    memcpy(out->id, id, strlen(id) + 1);
    out->account_id = dup_field(h, "account_id");
    out->domain = dup_field(h, "domain");
    out->url = dup_field(h, "url");
    out->events = dup_field(h, "events");
    out->status = dup_field(h, "status");
    out->secret = secret_open(k, out->id, secret ? secret : "", out->secret_error);
    if (!out->secret_error[0])
        out->secret_prev = secret_open(k, out->id, prev ? prev : "", out->secret_error);
    else /* one reason is enough; nothing is shown half */
        out->secret_prev = strdup("");
    if (!out->secret_error[0])
        out->headers = secret_open(k, out->id, headers ? headers : "", out->secret_error);
    else
        out->headers = strdup("");
    out->disabled_reason = dup_field(h, "disabled_reason");
    out->disabled_by = dup_field(h, "disabled_by");
    out->description = dup_field(h, "description");
    out->public_key = dup_field(h, "public_key");
    {
        const char *sg = psw_reply_hget(h, "signing");
        out->signing = strdup(sg && *sg ? sg : "poststack");
    }
    out->rate_limit = psw_parse_ll(psw_reply_hget(h, "rate_limit"), 0);
    out->batch_max_events = psw_parse_ll(psw_reply_hget(h, "batch_max_events"), 0);
    out->batch_max_wait_ms = psw_parse_ll(psw_reply_hget(h, "batch_max_wait"), 0);
    out->ordered = psw_parse_ll(psw_reply_hget(h, "ordered"), 0) == 1;
    out->secret_prev_until = psw_parse_ll(psw_reply_hget(h, "secret_prev_until"), 0);
    out->consecutive_failures = psw_parse_ll(psw_reply_hget(h, "consecutive_failures"), 0);
    out->disabled_at = psw_parse_ll(psw_reply_hget(h, "disabled_at"), 0);
    out->created_at = psw_parse_ll(psw_reply_hget(h, "created_at"), 0);
    out->updated_at = psw_parse_ll(psw_reply_hget(h, "updated_at"), 0);
    out->deleted_at = psw_parse_ll(psw_reply_hget(h, "deleted_at"), 0);
    if (!out->account_id || !out->domain || !out->url || !out->events || !out->status ||
        !out->secret || !out->secret_prev || !out->disabled_reason || !out->disabled_by ||
        !out->description || !out->headers || !out->public_key || !out->signing) {
        psw_endpoint_free(out);
        snprintf(err, errlen, "out of memory");
        return PSW_EFAIL;
    }
    return PSW_OK;
}

/* {'ok', HGETALL} → *out (when out is not NULL). */
static int ok_reply(const struct psw_ctx *ctx, const redisReply *rep, struct psw_endpoint *out,
                    char *err, size_t errlen)
{
    struct keys k;
    int rc;

    if (!out)
        return PSW_OK;
    if (rep->elements < 2 || rep->element[1]->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis: endpoint script answered without the endpoint");
        return PSW_EFAIL;
    }
    keys_load(ctx, &k);
    rc = from_hash(&k, rep->element[1], out, err, errlen);
    keys_wipe(&k);
    return rc;
}

/* ---- operations ------------------------------------------------------ */

void psw_endpoint_free(struct psw_endpoint *ep)
{
    if (!ep)
        return;
    free(ep->account_id);
    free(ep->domain);
    free(ep->url);
    free(ep->events);
    free(ep->status);
    wipe_free(ep->secret);
    wipe_free(ep->secret_prev);
    free(ep->disabled_reason);
    free(ep->disabled_by);
    free(ep->description);
    free(ep->signing);
    free(ep->public_key);
    wipe_free(ep->headers);
    memset(ep, 0, sizeof(*ep));
}

void psw_endpoint_list_free(struct psw_endpoint *eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++)
        psw_endpoint_free(&eps[i]);
    free(eps);
}

/* psw_url_check, then the SSRF guard on a literal host (names are checked
 * by the worker when it connects): refused with the guard's reason. */
/* Checks url for storing. An internationalized host is converted to its
 * ASCII form first and the checks run on that, the SSRF check included:
 * *ascii gets the URL to store instead of url (caller frees), or NULL when
 * url is stored as given. */
static int check_url(struct psw_ctx *ctx, const char *url, char **ascii, char *err,
                     size_t errlen)
{
    struct psw_netguard g;
    char why[PSW_NETGUARD_WHY_SIZE];

    *ascii = NULL;
    if (psw_url_idn_to_ascii(url, ascii, err, errlen) < 0)
        return PSW_EINVAL;
    if (*ascii)
        url = *ascii;
    if (psw_url_check(url, (size_t)ctx->cfg->limits_max_url_length, err, errlen) < 0)
        goto invalid;
    if (psw_netguard_init(&g, ctx->cfg, why, sizeof(why)) < 0 ||
        psw_netguard_check_url(&g, url, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "url: %s", why);
        goto invalid;
    }
    return PSW_OK;
invalid:
    free(*ascii);
    *ascii = NULL;
    return PSW_EINVAL;
}

/* The options of a spec, checked and in their stored form. */
struct options {
    enum psw_signing signing;
    char rate[24];                         /* "" = not given */
    char batch_events[24], batch_wait[24]; /* "" = not given */
    char *headers;                         /* sealed; NULL = not given */
    char *signing_key;                     /* sealed private key; NULL = none made */
    char public_key[PSW_PUBLIC_KEY_SIZE];  /* "" = none made */
};

static void options_free(struct options *o)
{
    wipe_free(o->headers);
    wipe_free(o->signing_key);
    memset(o, 0, sizeof(*o));
}

/* The batch option of spec (docs/cli.md, "Endpoint options") in stored
 * form: max_events 0 (off) or 1..PSW_BATCH_MAX_EVENTS; max_wait within
 * PSW_BATCH_WAIT_MIN_MS..PSW_BATCH_WAIT_MAX_MS, or 0 with max_events 0.
 * Turning batching off clears max_wait; a max_wait alone is checked against
 * the stored max_events by endpoint_update.lua. */
static int batch_prepare(const struct psw_endpoint_spec *spec, struct options *o, char *err,
                         size_t errlen)
{
    long long ev = spec->batch_max_events, wait = spec->batch_max_wait_ms;

    if (ev != -1 && (ev < 0 || ev > PSW_BATCH_MAX_EVENTS)) {
        snprintf(err, errlen, "batch.max_events: must be 0 (no batching) or 1 to %d events",
                 PSW_BATCH_MAX_EVENTS);
        return -1;
    }
    if (wait != -1 && wait != 0 && (wait < PSW_BATCH_WAIT_MIN_MS || wait > PSW_BATCH_WAIT_MAX_MS)) {
        snprintf(err, errlen, "batch.max_wait: must be %dms to %dh", PSW_BATCH_WAIT_MIN_MS,
                 PSW_BATCH_WAIT_MAX_MS / 3600000);
        return -1;
    }
    if (ev > 0 && wait == 0) {
        snprintf(err, errlen, "batch.max_wait: 0 (none) only goes with max_events 0; a batch "
                              "must be sent after at most %dh", PSW_BATCH_WAIT_MAX_MS / 3600000);
        return -1;
    }
    if (ev == 0 && wait > 0) {
        snprintf(err, errlen, "batch.max_wait: batching is being turned off (max_events 0); "
                              "give no max_wait");
        return -1;
    }
    if (ev != -1)
        snprintf(o->batch_events, sizeof(o->batch_events), "%lld", ev);
    if (ev == 0)
        wait = 0;
    /* max_events alone: create stores the default max_wait, update keeps
     * the stored one (endpoint_update.lua sets the default if there is none) */
    if (wait != -1)
        snprintf(o->batch_wait, sizeof(o->batch_wait), "%lld", wait);
    return 0;
}

/* Checks spec's signing, rate_limit and headers for endpoint id and fills o
 * (options_free it, also after a failure). An ed25519 key pair is made when
 * the spec asks for ed25519 (update stores it only if the endpoint has none). */
static int options_prepare(struct psw_ctx *ctx, const char *id,
                           const struct psw_endpoint_spec *spec, struct options *o, char *err,
                           size_t errlen)
{
    char priv[PSW_ED25519_KEY_SIZE];
    char *joined = NULL;
    int rc = PSW_OK;

    memset(o, 0, sizeof(*o));
    if (spec->signing && psw_signing_parse(spec->signing, &o->signing, err, errlen) < 0)
        return PSW_EINVAL;
    if (spec->ordered < -1 || spec->ordered > 1) {
        snprintf(err, errlen, "ordered: must be true or false");
        return PSW_EINVAL;
    }
    if (spec->rate_limit != -1) {
        if (spec->rate_limit < 0 || spec->rate_limit > RATE_LIMIT_MAX) {
            snprintf(err, errlen, "rate_limit: must be 0 (no limit) to %d requests per second",
                     RATE_LIMIT_MAX);
            return PSW_EINVAL;
        }
        snprintf(o->rate, sizeof(o->rate), "%lld", spec->rate_limit);
    }
    if (batch_prepare(spec, o, err, errlen) < 0)
        return PSW_EINVAL;
    if (spec->set_headers) {
        if (!(joined = malloc(PSW_HEADERS_SIZE))) {
            snprintf(err, errlen, "out of memory");
            return PSW_EFAIL;
        }
        if (psw_headers_normalize(spec->headers, spec->nheaders, joined, PSW_HEADERS_SIZE, err,
                                  errlen) < 0) {
            rc = PSW_EINVAL;
            goto cleanup;
        }
        if (strncmp(joined, PSW_SECRETS_ENC_PREFIX, sizeof(PSW_SECRETS_ENC_PREFIX) - 1) == 0) {
            /* it would read back as an encrypted value */
            snprintf(err, errlen, "headers: a header named \"enc\" cannot come first; "
                                  "give another header before it");
            rc = PSW_EINVAL;
            goto cleanup;
        }
        if ((rc = secret_seal(ctx, id, joined, &o->headers, err, errlen)) != PSW_OK)
            goto cleanup;
    }
    if (spec->signing && o->signing == PSW_SIGNING_ED25519) {
        if (psw_ed25519_generate(priv, o->public_key) < 0) {
            snprintf(err, errlen, "could not generate an Ed25519 key pair (OpenSSL failed)");
            rc = PSW_EFAIL;
            goto cleanup;
        }
        rc = secret_seal(ctx, id, priv, &o->signing_key, err, errlen);
    }

cleanup:
    OPENSSL_cleanse(priv, sizeof(priv));
    if (joined) {
        OPENSSL_cleanse(joined, PSW_HEADERS_SIZE);
        free(joined);
    }
    return rc;
}

int psw_endpoint_create(struct psw_ctx *ctx, const struct psw_endpoint_spec *spec,
                        struct psw_endpoint *out, char *err, size_t errlen)
{
    if (spec)
        PSW_CTX_ROUTE_ACCOUNT(ctx, spec->account_id, err, errlen);
    char domain[PSW_DOMAIN_MAX + 1], events[PSW_EVENTS_SIZE], generated[PSW_SECRET_SIZE];
    char id[PSW_ID_SIZE], limit[24], bwait[24];
    struct options opt = { 0 };
    char *sealed = NULL, *ascii_url = NULL;
    redisReply *rep = NULL;
    const char *word;
    int rc;

    if (out)
        memset(out, 0, sizeof(*out));
    generated[0] = '\0';
    if (!spec) {
        snprintf(err, errlen, "no endpoint settings given");
        return PSW_EINVAL;
    }
    if ((rc = check_account(spec->account_id, err, errlen)) != PSW_OK)
        return rc;
    if ((rc = check_domain(spec->domain ? spec->domain : "", domain, err, errlen)) != PSW_OK)
        return rc;
    if (psw_events_normalize(spec->events ? spec->events : "*", events, sizeof(events), err,
                             errlen) < 0)
        return PSW_EINVAL;
    if (spec->secret && psw_secret_check(spec->secret, err, errlen) < 0)
        return PSW_EINVAL;
    if (spec->description && (rc = check_text("description", spec->description, err, errlen)) != PSW_OK)
        return rc;
    if (spec->signing && strcmp(spec->signing, "standard") == 0 && spec->secret &&
        psw_std_secret_check(spec->secret, err, errlen) < 0)
        return PSW_EINVAL;
    if ((rc = check_url(ctx, spec->url, &ascii_url, err, errlen)) != PSW_OK)
        return rc;

    if (!spec->secret && psw_secret_generate(generated) < 0) {
        snprintf(err, errlen, "could not generate a secret (random generator failed)");
        rc = PSW_EFAIL;
        goto cleanup;
    }
    if (psw_id_new("ep_", id) < 0) {
        snprintf(err, errlen, "could not generate an endpoint id (random generator failed)");
        rc = PSW_EFAIL;
        goto cleanup;
    }
    if ((rc = options_prepare(ctx, id, spec, &opt, err, errlen)) != PSW_OK)
        goto cleanup;
    rc = secret_seal(ctx, id, spec->secret ? spec->secret : generated, &sealed, err, errlen);
    if (rc != PSW_OK)
        goto cleanup;
    snprintf(limit, sizeof(limit), "%d", ctx->cfg->limits_max_endpoints_per_account);
    snprintf(bwait, sizeof(bwait), "%d",
             opt.batch_events[0] && strcmp(opt.batch_events, "0") != 0 ? PSW_BATCH_WAIT_DEFAULT_MS
                                                                        : 0);
    const char *argv[] = { ctx->cfg->redis_prefix, id, spec->account_id, domain,
                           ascii_url ? ascii_url : spec->url,
                           events, sealed, spec->description ? spec->description : "", limit,
                           psw_signing_name(opt.signing),
                           opt.signing_key ? opt.signing_key : "", opt.public_key,
                           opt.headers ? opt.headers : "", opt.rate[0] ? opt.rate : "0",
                           /* batch (batch_prepare): off unless given */
                           opt.batch_events[0] ? opt.batch_events : "0",
                           opt.batch_wait[0] ? opt.batch_wait : bwait,
                           spec->ordered == 1 ? "1" : "0" };
    rc = run(ctx, PSW_SCRIPT_ENDPOINT_CREATE, 17, argv, &rep, &word, err, errlen);
    if (rc != PSW_OK)
        goto cleanup;
    if (strcmp(word, "ok") == 0) {
        rc = ok_reply(ctx, rep, out, err, errlen);
    } else if (strcmp(word, "limit") == 0) {
        snprintf(err, errlen,
                 "account %s already has %lld endpoints (limits.max_endpoints_per_account)",
                 spec->account_id, psw_reply_int(rep, 1, 0));
        rc = PSW_ECONFLICT;
    } else if (strcmp(word, "exists") == 0) {
        snprintf(err, errlen, "endpoint id %s is already taken; try again", id);
        rc = PSW_EFAIL;
    } else {
        rc = status_word(word, id, err, errlen);
    }

cleanup:
    explicit_bzero(generated, sizeof(generated));
    wipe_free(sealed);
    options_free(&opt);
    free(ascii_url);
    freeReplyObject(rep);
    return rc;
}

int psw_endpoint_get(struct psw_ctx *ctx, const char *id, struct psw_endpoint *out, char *err,
                     size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, id, err, errlen);
    char key[PSW_KEY_SIZE];
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_id(id, err, errlen)) != PSW_OK)
        return rc;
    psw_ctx_key(ctx, key, sizeof(key), PSW_KEY_ENDPOINT, id);
    const char *argv[] = { "HGETALL", key };
    redisReply *rep = psw_redis_commandv(ctx->redis, 2, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, rep, "HGETALL", err, errlen);
    } else if (rep->elements == 0) {
        snprintf(err, errlen, "no endpoint %s", id);
        rc = PSW_ENOTFOUND;
    } else {
        struct keys k;
        keys_load(ctx, &k);
        rc = from_hash(&k, rep, out, err, errlen);
        keys_wipe(&k);
    }
    freeReplyObject(rep);
    return rc;
}

static int by_created(const void *a, const void *b)
{
    const struct psw_endpoint *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Cluster mode: every shard's endpoints (docs/redis.md "Redis Cluster"). */
static _Thread_local int listing_shards;

static int list_all_shards(struct psw_ctx *ctx, struct psw_endpoint **out, size_t *n, char *err,
                           size_t errlen)
{
    int rc = PSW_OK;
    *out = NULL;
    *n = 0;
    listing_shards = 1;
    for (unsigned i = 0; i < psw_ctx_nshards(ctx->cfg) && rc == PSW_OK; i++) {
        struct psw_endpoint *one = NULL, *all;
        size_t m = 0;
        struct psw_ctx *sc = psw_ctx_shard(ctx, i, err, errlen);
        rc = sc ? psw_endpoint_list(sc, NULL, &one, &m, err, errlen) : PSW_EFAIL;
        if (rc != PSW_OK || m == 0)
            continue;
        if (!(all = realloc(*out, (*n + m) * sizeof(*all)))) {
            psw_endpoint_list_free(one, m);
            snprintf(err, errlen, "out of memory");
            rc = PSW_EFAIL;
            continue;
        }
        memcpy(all + *n, one, m * sizeof(*all));
        free(one); /* the entries moved: their strings now belong to all */
        *out = all;
        *n += m;
    }
    listing_shards = 0;
    if (rc != PSW_OK) {
        psw_endpoint_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int psw_endpoint_list(struct psw_ctx *ctx, const char *account, struct psw_endpoint **out,
                      size_t *n, char *err, size_t errlen)
{
    if (account)
        PSW_CTX_ROUTE_ACCOUNT(ctx, account, err, errlen);
    else if (psw_ctx_nshards(ctx->cfg) > 1 && !listing_shards)
        return list_all_shards(ctx, out, n, err, errlen);
    struct psw_endpoint *eps = NULL;
    redisReply *rep = NULL;
    size_t count = 0;
    struct keys k;
    int rc;

    *out = NULL;
    *n = 0;
    if (account && (rc = check_account(account, err, errlen)) != PSW_OK)
        return rc;
    keys_load(ctx, &k);
    const char *argv[] = { ctx->cfg->redis_prefix, account ? account : "" };
    rep = psw_redis_eval(ctx->redis, PSW_SCRIPT_ENDPOINT_LIST, 2, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        rc = psw_ctx_redis_failure(ctx, rep, "endpoint_list", err, errlen);
        goto cleanup;
    }
    rc = PSW_OK;
    if (rep->elements == 0)
        goto cleanup;
    eps = calloc(rep->elements, sizeof(*eps));
    if (!eps) {
        snprintf(err, errlen, "out of memory");
        rc = PSW_EFAIL;
        goto cleanup;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        if (rep->element[i]->type != REDIS_REPLY_ARRAY) {
            rc = psw_ctx_redis_failure(ctx, rep, "endpoint_list", err, errlen);
            goto cleanup;
        }
        if ((rc = from_hash(&k, rep->element[i], &eps[count], err, errlen)) != PSW_OK)
            goto cleanup;
        count++;
    }
    qsort(eps, count, sizeof(*eps), by_created);
    *out = eps;
    *n = count;
    eps = NULL;

cleanup:
    keys_wipe(&k);
    psw_endpoint_list_free(eps, count);
    freeReplyObject(rep);
    return rc;
}

/* Signing "standard" needs the endpoint's secrets to be whsec_<base64>
 * (common/sign_std.h): checked on the stored ones before switching. */
static int check_standard_secret(struct psw_ctx *ctx, const char *id, char *err, size_t errlen)
{
    struct psw_endpoint cur = { 0 };
    int rc = psw_endpoint_get(ctx, id, &cur, err, errlen);
    if (rc != PSW_OK)
        return rc;
    if (cur.secret_error[0]) {
        snprintf(err, errlen, "signing: cannot check the secret for \"standard\": %s",
                 cur.secret_error);
        rc = PSW_EINVAL;
    } else if (strcmp(cur.status, "deleted") != 0 &&
               (psw_std_secret_check(cur.secret, err, errlen) < 0 ||
                (cur.secret_prev[0] && psw_std_secret_check(cur.secret_prev, err, errlen) < 0))) {
        rc = PSW_EINVAL;
    }
    psw_endpoint_free(&cur);
    return rc;
}

int psw_endpoint_update(struct psw_ctx *ctx, const char *id, const struct psw_endpoint_spec *spec,
                        struct psw_endpoint *out, char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, id, err, errlen);
    char domain[PSW_DOMAIN_MAX + 1], events[PSW_EVENTS_SIZE];
    const char *argv[3 + 24];
    struct options opt = { 0 };
    char *ascii_url = NULL;
    redisReply *rep = NULL;
    const char *word;
    int argc = 3, rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if ((rc = check_id(id, err, errlen)) != PSW_OK)
        return rc;
    if (!spec) {
        snprintf(err, errlen, "no endpoint settings given");
        return PSW_EINVAL;
    }
    if (spec->secret) {
        snprintf(err, errlen,
                 "secret: update does not change secrets; use rotate-secret, which keeps the "
                 "old secret valid for signing.rotation_grace");
        return PSW_EINVAL;
    }
    if (spec->account_id && (rc = check_account(spec->account_id, err, errlen)) != PSW_OK)
        return rc;
    if (!spec->url && !spec->domain && !spec->events && !spec->description && !spec->signing &&
        spec->rate_limit == -1 && !spec->set_headers && spec->batch_max_events == -1 &&
        spec->batch_max_wait_ms == -1 && spec->ordered == -1) {
        snprintf(err, errlen, "nothing to update: give url, domain, events, description, "
                              "signing, rate_limit, headers, batch or ordered");
        return PSW_EINVAL;
    }
    argv[0] = ctx->cfg->redis_prefix;
    argv[1] = id;
    argv[2] = spec->account_id ? spec->account_id : "";
    if (spec->domain) {
        if ((rc = check_domain(spec->domain, domain, err, errlen)) != PSW_OK)
            return rc;
        argv[argc++] = "domain";
        argv[argc++] = domain;
    }
    if (spec->events) {
        if (psw_events_normalize(spec->events, events, sizeof(events), err, errlen) < 0)
            return PSW_EINVAL;
        argv[argc++] = "events";
        argv[argc++] = events;
    }
    if (spec->description) {
        if ((rc = check_text("description", spec->description, err, errlen)) != PSW_OK)
            return rc;
        argv[argc++] = "description";
        argv[argc++] = spec->description;
    }
    if (spec->url) { /* the checks that allocate come last */
        if ((rc = check_url(ctx, spec->url, &ascii_url, err, errlen)) != PSW_OK)
            return rc;
        argv[argc++] = "url";
        argv[argc++] = ascii_url ? ascii_url : spec->url;
    }
    if ((rc = options_prepare(ctx, id, spec, &opt, err, errlen)) != PSW_OK)
        goto cleanup;
    if (spec->signing && opt.signing == PSW_SIGNING_STANDARD &&
        (rc = check_standard_secret(ctx, id, err, errlen)) != PSW_OK)
        goto cleanup;
    if (spec->signing) {
        argv[argc++] = "signing";
        argv[argc++] = psw_signing_name(opt.signing);
    }
    if (opt.signing_key) { /* kept only if the endpoint has no key pair yet */
        argv[argc++] = "signing_key";
        argv[argc++] = opt.signing_key;
        argv[argc++] = "public_key";
        argv[argc++] = opt.public_key;
    }
    if (opt.rate[0]) {
        argv[argc++] = "rate_limit";
        argv[argc++] = opt.rate;
    }
    if (opt.headers) {
        argv[argc++] = "headers";
        argv[argc++] = opt.headers;
    }
    if (opt.batch_events[0]) {
        argv[argc++] = "batch_max_events";
        argv[argc++] = opt.batch_events;
    }
    if (opt.batch_wait[0]) {
        argv[argc++] = "batch_max_wait";
        argv[argc++] = opt.batch_wait;
    }
    if (spec->ordered != -1) {
        argv[argc++] = "ordered";
        argv[argc++] = spec->ordered ? "1" : "0";
    }

    rc = run(ctx, PSW_SCRIPT_ENDPOINT_UPDATE, argc, argv, &rep, &word, err, errlen);
    if (rc != PSW_OK)
        goto cleanup;
    if (strcmp(word, "ok") == 0) {
        rc = ok_reply(ctx, rep, out, err, errlen);
    } else if (strcmp(word, "batch_off") == 0) {
        snprintf(err, errlen, "batch.max_wait: endpoint %s does not batch; give batch "
                              "max_events too", id);
        rc = PSW_EINVAL;
    } else if (strcmp(word, "account") == 0) {
        snprintf(err, errlen,
                 "account_id: endpoint %s belongs to account %s; an endpoint cannot move to "
                 "another account (create a new one)",
                 id, psw_reply_str(rep, 1) ? psw_reply_str(rep, 1) : "?");
        rc = PSW_EINVAL;
    } else {
        rc = status_word(word, id, err, errlen);
    }

cleanup:
    options_free(&opt);
    free(ascii_url);
    freeReplyObject(rep);
    return rc;
}

int psw_endpoint_delete(struct psw_ctx *ctx, const char *id, char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, id, err, errlen);
    char ttl[24];
    redisReply *rep = NULL;
    const char *word;
    int rc;

    if ((rc = check_id(id, err, errlen)) != PSW_OK)
        return rc;
    snprintf(ttl, sizeof(ttl), "%lld", psw_ctx_retention_ms(ctx));
    const char *argv[] = { ctx->cfg->redis_prefix, id, ttl };
    rc = run(ctx, PSW_SCRIPT_ENDPOINT_DELETE, 3, argv, &rep, &word, err, errlen);
    if (rc != PSW_OK)
        return rc;
    rc = strcmp(word, "ok") == 0 ? PSW_OK : status_word(word, id, err, errlen);
    freeReplyObject(rep);
    return rc;
}

/* enable / disable: a script taking the id and extra arguments, answering
 * {'ok', HGETALL}. */
static int set_state(struct psw_ctx *ctx, enum psw_script_id script, const char *id,
                     int argc, const char **argv, struct psw_endpoint *out, char *err,
                     size_t errlen)
{
    redisReply *rep = NULL;
    const char *word;
    int rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if ((rc = check_id(id, err, errlen)) != PSW_OK)
        return rc;
    rc = run(ctx, script, argc, argv, &rep, &word, err, errlen);
    if (rc != PSW_OK)
        return rc;
    rc = strcmp(word, "ok") == 0 ? ok_reply(ctx, rep, out, err, errlen)
                                 : status_word(word, id, err, errlen);
    freeReplyObject(rep);
    return rc;
}

int psw_endpoint_enable(struct psw_ctx *ctx, const char *id, struct psw_endpoint *out,
                        char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, id, err, errlen);
    const char *argv[] = { ctx->cfg->redis_prefix, id };
    return set_state(ctx, PSW_SCRIPT_ENDPOINT_ENABLE, id, 2, argv, out, err, errlen);
}

int psw_endpoint_disable(struct psw_ctx *ctx, const char *id, const char *reason,
                         const char *who, struct psw_endpoint *out, char *err, size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, id, err, errlen);
    int rc;
    if (!reason || !*reason)
        reason = "disabled by operator";
    if (!who || !*who)
        who = "operator";
    if ((rc = check_text("reason", reason, err, errlen)) != PSW_OK) {
        if (out)
            memset(out, 0, sizeof(*out));
        return rc;
    }
    if (!psw_token_valid(who, 64)) {
        snprintf(err, errlen, "disabled_by: must be 1-64 characters of A-Z a-z 0-9 _ - . :");
        if (out)
            memset(out, 0, sizeof(*out));
        return PSW_EINVAL;
    }
    const char *argv[] = { ctx->cfg->redis_prefix, id, reason, who };
    return set_state(ctx, PSW_SCRIPT_ENDPOINT_DISABLE, id, 4, argv, out, err, errlen);
}

int psw_endpoint_rotate_secret(struct psw_ctx *ctx, const char *id, const char *new_secret,
                               long long grace_ms, struct psw_endpoint *out, char *err,
                               size_t errlen)
{
    PSW_CTX_ROUTE(ctx, PSW_KEY_ENDPOINT, id, err, errlen);
    char generated[PSW_SECRET_SIZE], grace[24];
    struct psw_endpoint cur = { 0 };
    char *sealed = NULL;
    redisReply *rep = NULL;
    const char *word;
    int rc;

    if (out)
        memset(out, 0, sizeof(*out));
    generated[0] = '\0';
    if ((rc = check_id(id, err, errlen)) != PSW_OK)
        return rc;
    if (new_secret && psw_secret_check(new_secret, err, errlen) < 0)
        return PSW_EINVAL;
    if (grace_ms < 0)
        grace_ms = (long long)ctx->cfg->signing_rotation_grace_ms;
    if (grace_ms > GRACE_MAX_MS) {
        snprintf(err, errlen, "grace: at most 365d");
        return PSW_EINVAL;
    }
    /* Read first: a missing or deleted endpoint is reported before a secret
     * is generated, and a "new" secret equal to the current one is refused
     * (the comparison needs the opened secret, so it cannot run in Lua). */
    if ((rc = psw_endpoint_get(ctx, id, &cur, err, errlen)) != PSW_OK)
        goto cleanup;
    if (strcmp(cur.status, "deleted") == 0) {
        rc = status_word("deleted", id, err, errlen);
        goto cleanup;
    }
    /* A current secret that cannot be opened (sealed under a lost key) can
     * only be replaced, with no grace: kept as secret_prev it would make the
     * worker refuse every request until the grace ends (it signs with every
     * valid secret or with none), which would blank the endpoint for a day
     * by default. Nor can it be compared with the new one. */
    if (cur.secret_error[0] && !cur.secret[0] && grace_ms > 0) {
        snprintf(err, errlen,
                 "grace: the current secret cannot be opened (%s), so it cannot stay valid "
                 "during a grace: every request would fail until the grace ends; rotate with "
                 "grace 0 to replace it now",
                 cur.secret_error);
        rc = PSW_EINVAL;
        goto cleanup;
    }
    if (new_secret && strcmp(cur.signing, "standard") == 0 &&
        psw_std_secret_check(new_secret, err, errlen) < 0) {
        rc = PSW_EINVAL;
        goto cleanup;
    }
    if (new_secret && !cur.secret_error[0] && strcmp(new_secret, cur.secret) == 0) {
        snprintf(err, errlen, "secret: the new secret is the endpoint's current secret");
        rc = PSW_EINVAL;
        goto cleanup;
    }
    if (!new_secret) {
        if (psw_secret_generate(generated) < 0) {
            snprintf(err, errlen, "could not generate a secret (random generator failed)");
            rc = PSW_EFAIL;
            goto cleanup;
        }
        new_secret = generated;
    }
    if ((rc = secret_seal(ctx, id, new_secret, &sealed, err, errlen)) != PSW_OK)
        goto cleanup;
    snprintf(grace, sizeof(grace), "%lld", grace_ms);
    const char *argv[] = { ctx->cfg->redis_prefix, id, sealed, grace };
    rc = run(ctx, PSW_SCRIPT_ENDPOINT_ROTATE, 4, argv, &rep, &word, err, errlen);
    if (rc != PSW_OK)
        goto cleanup;
    rc = strcmp(word, "ok") == 0 ? ok_reply(ctx, rep, out, err, errlen)
                                 : status_word(word, id, err, errlen);

cleanup:
    explicit_bzero(generated, sizeof(generated));
    wipe_free(sealed);
    psw_endpoint_free(&cur);
    freeReplyObject(rep);
    return rc;
}

/* ---- JSON ------------------------------------------------------------ */

static struct json_object *events_array(const char *events)
{
    struct json_object *a = json_object_new_array();
    const char *p = events ? events : "";
    if (!a)
        return NULL;
    while (*p) {
        size_t len = strcspn(p, ",");
        struct json_object *s = json_object_new_string_len(p, (int)len);
        if (!s || json_object_array_add(a, s) != 0) {
            json_object_put(s);
            json_object_put(a);
            return NULL;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return a;
}

/* The static headers as an array of masked lines (headers.h). */
static struct json_object *headers_array(const char *headers)
{
    struct json_object *a = json_object_new_array();
    const char *p = headers ? headers : "";
    char masked[PSW_HEADER_NAME_MAX + 32];
    if (!a)
        return NULL;
    while (*p) {
        size_t len = strcspn(p, "\n");
        psw_header_mask(p, len, masked, sizeof(masked));
        struct json_object *s = json_object_new_string(masked);
        if (!s || json_object_array_add(a, s) != 0) {
            json_object_put(s);
            json_object_put(a);
            return NULL;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return a;
}

struct json_object *psw_endpoint_to_json(const struct psw_endpoint *ep, int show_secret)
{
    struct json_object *o = json_object_new_object();
    struct json_object *events = NULL, *num = NULL;
    int bad = 0;

    if (!o)
        return NULL;
    bad |= psw_json_add_str(o, "id", ep->id);
    bad |= psw_json_add_str(o, "account_id", ep->account_id);
    bad |= psw_json_add_str(o, "domain", ep->domain);
    bad |= psw_json_add_str(o, "url", ep->url);
    events = events_array(ep->events);
    bad |= events ? psw_json_add(o, "events", events) : -1;
    bad |= psw_json_add_str(o, "status", ep->status);
    num = json_object_new_int64(ep->consecutive_failures);
    bad |= num ? psw_json_add(o, "consecutive_failures", num) : -1;
    bad |= psw_json_add_str_or_null(o, "disabled_reason", ep->disabled_reason);
    bad |= psw_json_add_str_or_null(o, "disabled_by", ep->disabled_by);
    bad |= psw_json_add_time(o, "disabled_at", ep->disabled_at);
    bad |= psw_json_add_time(o, "created_at", ep->created_at);
    bad |= psw_json_add_time(o, "updated_at", ep->updated_at);
    bad |= psw_json_add_time(o, "deleted_at", ep->deleted_at);
    bad |= psw_json_add_str(o, "description", ep->description);
    bad |= psw_json_add_str(o, "signing", ep->signing && *ep->signing ? ep->signing : "poststack");
    bad |= psw_json_add_str_or_null(o, "public_key", ep->public_key);
    bad |= psw_json_add_int(o, "rate_limit", ep->rate_limit);
    {
        struct json_object *b = json_object_new_boolean(ep->ordered);
        bad |= b ? psw_json_add(o, "ordered", b) : -1;
    }
    {
        struct json_object *h = headers_array(ep->headers);
        bad |= h ? psw_json_add(o, "headers", h) : -1;
    }
    if (ep->batch_max_events > 0) {
        struct json_object *b = json_object_new_object();
        char wait[32];
        psw_duration_format(ep->batch_max_wait_ms, wait, sizeof(wait));
        bad |= b ? psw_json_add(o, "batch", b) : -1;
        bad |= b ? psw_json_add_int(b, "max_events", ep->batch_max_events) : 0;
        bad |= b ? psw_json_add_str(b, "max_wait", wait) : 0;
        bad |= b ? psw_json_add_int(b, "max_wait_ms", ep->batch_max_wait_ms) : 0;
    } else {
        bad |= psw_json_add(o, "batch", NULL);
    }
    if (show_secret && ep->secret_error[0]) {
        bad |= psw_json_add(o, "secret", NULL);
        bad |= psw_json_add(o, "secret_prev", NULL);
        bad |= psw_json_add(o, "secret_prev_until", NULL);
        bad |= psw_json_add_str(o, "secret_error", ep->secret_error);
    } else if (show_secret) {
        int has_prev = ep->secret_prev && *ep->secret_prev;
        bad |= psw_json_add_str(o, "secret", ep->secret);
        bad |= psw_json_add_str_or_null(o, "secret_prev", ep->secret_prev);
        bad |= psw_json_add_time(o, "secret_prev_until", has_prev ? ep->secret_prev_until : 0);
    }
    if (bad) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
