/*
 * event.c — parse, validate and normalize one published email event (docs/events.md).
 *
 * Steps, each of which can fail with a message that starts with the field path
 * ("event" for the document as a whole):
 *   1. size against lim->max_bytes, then json-c (strict, UTF-8 validated, with
 *      a depth limit), then a lexical pass over the raw text for what json-c
 *      lets through although it is not JSON or would not survive a round trip:
 *      NaN/Infinity, "1.", "01", single-quoted strings, raw control characters
 *      in strings, integers outside 64 bits (json-c would silently saturate
 *      them, changing the user's data);
 *   2. nesting: at most lim->max_depth levels of objects/arrays, the top-level
 *      object being level 1;
 *   3. the known fields (below); everything else is kept untouched.
 *   4. the body: id, type, created_at, account_id, domain, data, then the other
 *      top-level keys in input order, rendered compactly by json-c. Rendering
 *      is deterministic: parsing the body again renders the same bytes.
 *
 * Field rules. JSON null counts as absent everywhere (so "id": null gets a
 * generated id, "account_id": null is "required"). "Required" means present
 * and of the right type; data.message_id, data.to and data.click.url must also
 * be non-empty. Event-specific objects (bounce, click, open, complaint,
 * unsubscribe, delivery) are validated whenever present, whatever the type;
 * bounce is required for email.bounced and click (url, user_agent, ip) for
 * email.clicked. created_at must fall in 1970-01-01 … 9999-12-31 UTC: times are
 * unix ms, and the rendered "YYYY-…Z" form must parse again.
 *
 * Ownership: json-c objects live only inside psw_event_parse() and are put
 * before it returns (psw_event_parse_tree takes a reference to the caller's
 * tree and gives it back); the result owns heap copies (account_id, domain, body).
 * On failure *ev is left zeroed, so psw_event_free() on it is a no-op.
 */
#include "common/event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/ids.h"
#include "common/timeutil.h"

_Static_assert(PSW_ID_SIZE <= PSW_EVENT_ID_MAX + 1, "a generated id fits the id field");

const char *const psw_event_type_names[PSW_EV__COUNT] = {
    "email.queued",     "email.sent",    "email.delivered",  "email.bounced",
    "email.opened",     "email.clicked", "email.complained", "email.unsubscribed",
};

#define TYPE_LIST                                                                            \
    "email.queued, email.sent, email.delivered, email.bounced, email.opened, email.clicked, " \
    "email.complained, email.unsubscribed"

#define TOKEN_ALPHABET "A-Z a-z 0-9 _ - . :"
#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define QUOTE_MAX 64         /* input bytes echoed back in an error message */
#define DEPTH_CLAMP 100000   /* keeps max_depth + 1 from overflowing */
#define MAX_CREATED_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

#define RENDER_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

int psw_event_type_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < PSW_EV__COUNT; i++)
        if (strcmp(name, psw_event_type_names[i]) == 0)
            return i;
    return -1;
}

void psw_event_free(struct psw_event *ev)
{
    if (!ev)
        return;
    free(ev->account_id);
    free(ev->domain);
    free(ev->body);
    memset(ev, 0, sizeof(*ev));
}

/* --- error messages -------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Writes s[0..n) as a double-quoted, escaped string for an error message:
 * at most QUOTE_MAX input bytes (cut on a UTF-8 boundary, then "..."), control
 * characters, quotes and backslashes escaped JSON-style. */
static void quote(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0, lim = n;
    int cut = 0;
    if (lim > QUOTE_MAX) {
        lim = QUOTE_MAX;
        while (lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80)
            lim--;
        cut = 1;
    }
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t el;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            el = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            el = 6;
        } else {
            esc[0] = (char)c;
            el = 1;
        }
        if (o + el + 5 >= outlen) { /* room for the closing quote, "..." and NUL */
            cut = 1;
            break;
        }
        memcpy(out + o, esc, el);
        o += el;
    }
    out[o++] = '"';
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* One byte for a message: 'x' when printable ASCII, else 0xNN. */
static void show_char(unsigned char c, char out[8])
{
    if (c >= 0x20 && c < 0x7f && c != '\'')
        snprintf(out, 8, "'%c'", c);
    else
        snprintf(out, 8, "0x%02x", c);
}

/* --- lexical pass ---------------------------------------------------------- */

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Bytes the lexical pass stops at: LEX_DELIM between tokens, LEX_STR inside a
 * string (its end, an escape, a control character). A table, since the pass
 * reads every byte of every event published (docs/performance.md). */
#define LEX_DELIM 1
#define LEX_STR 2
static const unsigned char lex_class[256] = {
    [0] = LEX_STR, [1] = LEX_STR, [2] = LEX_STR, [3] = LEX_STR, [4] = LEX_STR, [5] = LEX_STR,
    [6] = LEX_STR, [7] = LEX_STR, [8] = LEX_STR, [9] = LEX_STR | LEX_DELIM,
    [10] = LEX_STR | LEX_DELIM, [11] = LEX_STR, [12] = LEX_STR, [13] = LEX_STR | LEX_DELIM,
    [14] = LEX_STR, [15] = LEX_STR, [16] = LEX_STR, [17] = LEX_STR, [18] = LEX_STR,
    [19] = LEX_STR, [20] = LEX_STR, [21] = LEX_STR, [22] = LEX_STR, [23] = LEX_STR,
    [24] = LEX_STR, [25] = LEX_STR, [26] = LEX_STR, [27] = LEX_STR, [28] = LEX_STR,
    [29] = LEX_STR, [30] = LEX_STR, [31] = LEX_STR, [' '] = LEX_DELIM,
    ['"'] = LEX_STR | LEX_DELIM, ['\\'] = LEX_STR, ['{'] = LEX_DELIM, ['}'] = LEX_DELIM,
    ['['] = LEX_DELIM, [']'] = LEX_DELIM, [','] = LEX_DELIM, [':'] = LEX_DELIM,
};

static int is_delim(unsigned char c)
{
    return lex_class[c] & LEX_DELIM;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1 when s[0..n) is a JSON number (RFC 8259 §6); *is_int tells whether it
 * has neither fraction nor exponent. */
static int json_number(const char *s, size_t n, int *is_int)
{
    size_t i = 0, start;
    *is_int = 1;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        *is_int = 0;
        for (start = ++i; i < n && is_digit(s[i]); i++)
            ;
        if (i == start)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *is_int = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (start = i; i < n && is_digit(s[i]); i++)
            ;
        if (i == start)
            return 0;
    }
    return i == n;
}

/* The integers json-c stores exactly: int64 when negative, uint64 otherwise.
 * s has no leading zeros (json_number checked), so length then bytes decide. */
static int int_fits(const char *s, size_t n)
{
    const char *lim = "18446744073709551615";
    if (n > 0 && s[0] == '-') {
        s++;
        n--;
        lim = "9223372036854775808";
    }
    size_t ln = strlen(lim);
    return n < ln || (n == ln && memcmp(s, lim, n) <= 0);
}

/* What the lexical pass learns about the document's shape, for rendering the
 * body without json-c when json-c would print data exactly as it was written
 * (see render_fast). */
struct lex_shape {
    size_t keys;        /* object keys in the text: strings followed by ':' */
    int    top_known;   /* every top-level key is one of the six known ones, unescaped */
    int    data_canon;  /* data's text is what json-c would print for it */
    size_t data_start;  /* data's object: s[data_start..data_end) */
    size_t data_end;
};

/* 1 when the escape at s[i] ('\\' first) is written as json-c writes it:
 * \" \\ \b \f \n \r \t, or \u00xx (lower-case hex) for the other control
 * characters except NUL (json-c cuts a key at a NUL). */
static int escape_canonical(const char *s, size_t i, size_t len)
{
    if (i + 1 >= len)
        return 0;
    switch (s[i + 1]) {
    case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
        return 1;
    case 'u':
        break;
    default:
        return 0; /* "\/" is printed as "/" */
    }
    if (i + 5 >= len || s[i + 2] != '0' || s[i + 3] != '0' || (s[i + 4] != '0' && s[i + 4] != '1'))
        return 0;
    char h = s[i + 5];
    int v = (s[i + 4] - '0') * 16 + (is_digit(h) ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -100);
    return v > 0 && v != '\b' && v != '\t' && v != '\n' && v != '\f' && v != '\r';
}

/* 1 when key (the raw text between the quotes) is one of the six top-level
 * keys the body starts with. */
static int is_top_known_raw(const char *key, size_t n)
{
    static const char *const known[] = { "id", "type", "created_at", "account_id", "domain",
                                         "data" };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i]) == n && memcmp(key, known[i], n) == 0)
            return 1;
    return 0;
}

/* Runs on text json-c has accepted, so the structure is sound; checks the
 * tokens json-c is lenient about, and fills *sh. */
static int lex_check(const char *s, size_t len, struct lex_shape *sh, char *err, size_t errlen)
{
    char q[QUOTE_MAX * 6 + 8];
    size_t i = 0;
    int depth = 0, data_next = 0, in_data = 0;
    memset(sh, 0, sizeof(*sh));
    sh->top_known = 1;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            size_t start = ++i;
            for (; i < len && s[i] != '"'; i++) {
                while (i < len && !(lex_class[(unsigned char)s[i]] & LEX_STR))
                    i++;
                if (i >= len || s[i] == '"')
                    break;
                if ((unsigned char)s[i] < 0x20)
                    return fail(err, errlen,
                                "event: not valid JSON: unescaped control character 0x%02x in a "
                                "string (at byte %zu)",
                                (unsigned char)s[i], i);
                if (s[i] == '\\') {
                    if (in_data && !escape_canonical(s, i, len))
                        sh->data_canon = 0;
                    i++;
                }
            }
            size_t end = i++, k = i;
            while (k < len && is_ws((unsigned char)s[k]))
                k++;
            if (k < len && s[k] == ':') { /* a key */
                sh->keys++;
                if (depth == 1) {
                    if (!is_top_known_raw(s + start, end - start))
                        sh->top_known = 0;
                    data_next = end - start == 4 && memcmp(s + start, "data", 4) == 0;
                    continue;
                }
            }
            data_next = 0;
            continue;
        }
        if (is_delim(c)) {
            if (c == ':' || (is_ws(c) && !in_data)) {
                i++;
                continue;
            }
            if (is_ws(c)) {
                sh->data_canon = 0;
            } else if (c == '{' || c == '[') {
                if (data_next && depth == 1 && c == '{') {
                    in_data = sh->data_canon = 1;
                    sh->data_start = i;
                }
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 1 && in_data) {
                    in_data = 0;
                    sh->data_end = i + 1;
                }
            }
            data_next = 0;
            i++;
            continue;
        }
        data_next = 0;
        size_t j = i;
        while (j < len && !is_delim((unsigned char)s[j]))
            j++;
        const char *w = s + i;
        size_t wn = j - i;
        int is_int;
        if ((wn == 4 && memcmp(w, "true", 4) == 0) || (wn == 5 && memcmp(w, "false", 5) == 0) ||
            (wn == 4 && memcmp(w, "null", 4) == 0)) {
            /* fine */
        } else if (json_number(w, wn, &is_int)) {
            if (is_int && !int_fits(w, wn))
                return fail(err, errlen,
                            "event: integer does not fit in 64 bits (at byte %zu); send it as a "
                            "string",
                            i);
            if (in_data && wn == 2 && memcmp(w, "-0", 2) == 0)
                sh->data_canon = 0; /* printed as 0 */
        } else {
            quote(w, wn, q, sizeof(q));
            return fail(err, errlen, "event: not valid JSON: unexpected %s (at byte %zu)", q, i);
        }
        i = j;
    }
    return 0;
}

/* 1 when a container in o sits deeper than max; o itself is at depth. Adds
 * the number of keys of every object in o to *keys. */
static int too_deep(struct json_object *o, int depth, int max, size_t *keys)
{
    enum json_type t = json_object_get_type(o);
    if (t != json_type_object && t != json_type_array)
        return 0;
    if (depth > max)
        return 1;
    if (t == json_type_array) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (too_deep(json_object_array_get_idx(o, i), depth + 1, max, keys))
                return 1;
        return 0;
    }
    *keys += (size_t)json_object_object_length(o);
    struct json_object_iterator it = json_object_iter_begin(o);
    struct json_object_iterator end = json_object_iter_end(o);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
        if (too_deep(json_object_iter_peek_value(&it), depth + 1, max, keys))
            return 1;
    return 0;
}

/* --- fields ---------------------------------------------------------------- */

/* The value of key in obj, or NULL when absent or JSON null. */
static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

/* account_id and a client id: 1..PSW_EVENT_ID_MAX of the token alphabet. The
 * json length is used, not strlen, so an escaped NUL ("\u0000") is caught. */
static int check_token(const char *path, struct json_object *v, char *err, size_t errlen)
{
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    char q[QUOTE_MAX * 6 + 8], ch[8];

    if (n == 0)
        return fail(err, errlen, "%s: must not be empty", path);
    if (n > PSW_EVENT_ID_MAX)
        return fail(err, errlen, "%s: too long (%zu characters, at most %d)", path, n,
                    PSW_EVENT_ID_MAX);
    if (strlen(s) == n && psw_token_valid(s, PSW_EVENT_ID_MAX))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char one[2] = { s[i], '\0' };
        if (!psw_token_valid(one, 1)) {
            show_char((unsigned char)s[i], ch);
            quote(s, n, q, sizeof(q));
            return fail(err, errlen, "%s: invalid character %s in %s (allowed: " TOKEN_ALPHABET ")",
                        path, ch, q);
        }
    }
    return fail(err, errlen, "%s: invalid", path); /* not reached: some byte failed above */
}

/* A DNS name, lower-cased into out (DOMAIN_MAX + 1 bytes). */
static int check_domain(struct json_object *v, char out[DOMAIN_MAX + 1], char *err,
                        size_t errlen)
{
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    char q[QUOTE_MAX * 6 + 8], ch[8];

    if (n == 0)
        return fail(err, errlen, "domain: must not be empty");
    if (n > DOMAIN_MAX)
        return fail(err, errlen, "domain: too long (%zu characters, at most %d)", n, DOMAIN_MAX);
    quote(s, n, q, sizeof(q));
    size_t label = 0; /* start of the current label */
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t ln = i - label;
            if (ln == 0)
                return fail(err, errlen, "domain: empty label in %s", q);
            if (ln > LABEL_MAX)
                return fail(err, errlen, "domain: label longer than %d characters in %s",
                            LABEL_MAX, q);
            if (s[label] == '-' || s[i - 1] == '-')
                return fail(err, errlen, "domain: label starts or ends with a hyphen in %s", q);
            label = i + 1;
            if (i < n)
                out[i] = '.';
            continue;
        }
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            out[i] = (char)(c - 'A' + 'a');
        } else if ((c >= 'a' && c <= 'z') || is_digit(c) || c == '-') {
            out[i] = c;
        } else {
            show_char((unsigned char)c, ch);
            return fail(err, errlen,
                        "domain: invalid character %s in %s (letters, digits, hyphens and dots "
                        "only)",
                        ch, q);
        }
    }
    out[n] = '\0';
    return 0;
}

enum field_kind { K_STRING, K_STRING_ARRAY, K_OBJECT };
#define F_REQUIRED 1u
#define F_NONEMPTY 2u

struct field_rule {
    const char     *key;
    enum field_kind kind;
    unsigned        flags;
};

/* Checks obj[key] against r; parent is the parent's path. The field's path
 * ("parent.key") is put together only for an error message: this runs ~20
 * times per event published (docs/performance.md). */
static int check_field(struct json_object *obj, const char *parent, const struct field_rule *r,
                       char *err, size_t errlen)
{
    struct json_object *v = member(obj, r->key);
    const char *k = r->key;

    if (!v)
        return r->flags & F_REQUIRED ? fail(err, errlen, "%s.%s: required", parent, k) : 0;
    switch (r->kind) {
    case K_STRING:
        if (!json_object_is_type(v, json_type_string))
            return fail(err, errlen, "%s.%s: must be a string", parent, k);
        if ((r->flags & F_NONEMPTY) && json_object_get_string_len(v) == 0)
            return fail(err, errlen, "%s.%s: must not be empty", parent, k);
        return 0;
    case K_OBJECT:
        if (!json_object_is_type(v, json_type_object))
            return fail(err, errlen, "%s.%s: must be an object", parent, k);
        return 0;
    case K_STRING_ARRAY:
        if (!json_object_is_type(v, json_type_array))
            return fail(err, errlen, "%s.%s: must be an array of strings", parent, k);
        for (size_t i = 0, n = json_object_array_length(v); i < n; i++)
            if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                return fail(err, errlen, "%s.%s[%zu]: must be a string", parent, k, i);
        return 0;
    }
    return 0;
}

static int check_fields(struct json_object *obj, const char *path, const struct field_rule *rules,
                        char *err, size_t errlen)
{
    for (const struct field_rule *r = rules; r->key; r++)
        if (check_field(obj, path, r, err, errlen))
            return -1;
    return 0;
}

static const struct field_rule data_fields[] = {
    { "message_id", K_STRING, F_REQUIRED | F_NONEMPTY },
    { "to", K_STRING, F_REQUIRED | F_NONEMPTY },
    { "from", K_STRING, 0 },
    { "subject", K_STRING, 0 },
    { "tags", K_STRING_ARRAY, 0 },
    { "metadata", K_OBJECT, 0 },
    { NULL, K_STRING, 0 },
};
static const struct field_rule bounce_fields[] = {
    { "type", K_STRING, F_REQUIRED },
    { "code", K_STRING, F_REQUIRED },
    { "reason", K_STRING, F_REQUIRED },
    { NULL, K_STRING, 0 },
};
static const struct field_rule click_fields[] = {
    { "url", K_STRING, F_REQUIRED | F_NONEMPTY },
    { "user_agent", K_STRING, F_REQUIRED },
    { "ip", K_STRING, F_REQUIRED },
    { NULL, K_STRING, 0 },
};
static const struct field_rule open_fields[] = {
    { "user_agent", K_STRING, 0 },
    { "ip", K_STRING, 0 },
    { NULL, K_STRING, 0 },
};
static const struct field_rule complaint_fields[] = {
    { "feedback_type", K_STRING, 0 },
    { NULL, K_STRING, 0 },
};
static const struct field_rule unsubscribe_fields[] = {
    { "method", K_STRING, 0 },
    { NULL, K_STRING, 0 },
};
static const struct field_rule delivery_fields[] = {
    { "smtp_response", K_STRING, 0 },
    { NULL, K_STRING, 0 },
};

/* The event-specific objects inside data; required_for is a type, or -1. */
static const struct {
    const char              *key;
    int                      required_for;
    const struct field_rule *fields;
} data_objects[] = {
    { "bounce", PSW_EV_BOUNCED, bounce_fields },
    { "click", PSW_EV_CLICKED, click_fields },
    { "open", -1, open_fields },
    { "complaint", -1, complaint_fields },
    { "unsubscribe", -1, unsubscribe_fields },
    { "delivery", -1, delivery_fields },
};

static int check_data(struct json_object *data, int type, char *err, size_t errlen)
{
    if (check_fields(data, "data", data_fields, err, errlen))
        return -1;
    for (size_t i = 0; i < sizeof(data_objects) / sizeof(data_objects[0]); i++) {
        char path[64];
        struct json_object *o = member(data, data_objects[i].key);
        if (!o) {
            if (data_objects[i].required_for == type)
                return fail(err, errlen, "data.%s: required for %s events", data_objects[i].key,
                            psw_event_type_names[type]);
            continue;
        }
        snprintf(path, sizeof(path), "data.%s", data_objects[i].key);
        if (!json_object_is_type(o, json_type_object))
            return fail(err, errlen, "%s: must be an object", path);
        if (check_fields(o, path, data_objects[i].fields, err, errlen))
            return -1;
    }
    struct json_object *bounce = member(data, "bounce");
    if (bounce) {
        struct json_object *bt = member(bounce, "type");
        const char *s = json_object_get_string(bt);
        size_t n = (size_t)json_object_get_string_len(bt);
        if (!((n == 4 && memcmp(s, "hard", 4) == 0) || (n == 4 && memcmp(s, "soft", 4) == 0)))
            return fail(err, errlen, "data.bounce.type: must be \"hard\" or \"soft\"");
    }
    return 0;
}

/* --- parse ----------------------------------------------------------------- */

static int is_top_known(const char *key)
{
    return is_top_known_raw(key, strlen(key));
}

/* Adds a new string under key; -1 when out of memory. */
static int add_string(struct json_object *obj, const char *key, const char *val)
{
    struct json_object *s = json_object_new_string(val);
    if (!s)
        return -1;
    if (json_object_object_add(obj, key, s) != 0) {
        json_object_put(s);
        return -1;
    }
    return 0;
}

/* Adds another reference to an existing value under key. */
static int add_ref(struct json_object *obj, const char *key, struct json_object *val)
{
    json_object_get(val);
    if (json_object_object_add(obj, key, val) != 0) {
        json_object_put(val);
        return -1;
    }
    return 0;
}

/* The body as json-c prints it: the six known keys, then the other
 * top-level keys of root in input order. Sets res->body; -1 out of memory. */
static int render_json_c(struct json_object *root, struct json_object *data,
                         struct psw_event *res, const char *created)
{
    struct json_object *out = json_object_new_object();
    int rc = -1;
    if (!out || add_string(out, "id", res->id) ||
        add_string(out, "type", psw_event_type_names[res->type]) ||
        add_string(out, "created_at", created) || add_string(out, "account_id", res->account_id) ||
        add_string(out, "domain", res->domain) || add_ref(out, "data", data))
        goto cleanup;
    struct json_object_iterator it = json_object_iter_begin(root);
    struct json_object_iterator end = json_object_iter_end(root);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *key = json_object_iter_peek_name(&it);
        if (is_top_known(key))
            continue;
        if (add_ref(out, key, json_object_iter_peek_value(&it)))
            goto cleanup;
    }
    size_t blen = 0;
    const char *text = json_object_to_json_string_length(out, RENDER_FLAGS, &blen);
    if (!text || !(res->body = malloc(blen + 1)))
        goto cleanup;
    memcpy(res->body, text, blen);
    res->body[blen] = '\0';
    res->body_len = blen;
    rc = 0;
cleanup:
    json_object_put(out);
    return rc;
}

/* The same bytes as render_json_c for an event of the six keys alone, whose
 * data text (data[0..n)) json-c would print unchanged. The id, account_id
 * and domain passed check_token/check_domain, created_at is
 * psw_time_format's: none has a character json-c escapes. Sets res->body;
 * -1 out of memory. */
static int render_fast(struct psw_event *res, const char *created, const char *data, size_t n)
{
    const char *parts[] = {
        "{\"id\":\"", res->id, "\",\"type\":\"", psw_event_type_names[res->type],
        "\",\"created_at\":\"", created, "\",\"account_id\":\"", res->account_id,
        "\",\"domain\":\"", res->domain, "\",\"data\":",
    };
    size_t lens[sizeof(parts) / sizeof(parts[0])], total = n + 1;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        total += lens[i] = strlen(parts[i]);
    char *b = malloc(total + 1), *p = b;
    if (!b)
        return -1;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        memcpy(p, parts[i], lens[i]);
        p += lens[i];
    }
    memcpy(p, data, n);
    p += n;
    *p++ = '}';
    *p = '\0';
    res->body = b;
    res->body_len = total;
    return 0;
}

/* Parses json[0..len) into a tree, enforcing the limits and JSON proper.
 * parsed, when not NULL, is json-c's tree of exactly that text, made by the
 * caller: it is checked like a tree parsed here, and a new reference to it
 * returned. */
static struct json_object *parse_document(const char *json, size_t len,
                                          const struct psw_event_limits *lim,
                                          struct json_object *parsed, struct lex_shape *sh,
                                          size_t *tree_keys, char *err, size_t errlen)
{
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    char *buf = NULL;
    const char *nul;
    int max_depth = lim->max_depth < 0 ? 0 : lim->max_depth;
    if (max_depth > DEPTH_CLAMP)
        max_depth = DEPTH_CLAMP;

    if (len > lim->max_bytes) {
        fail(err, errlen, "event: too large (%zu bytes, limit %zu: limits.max_event_bytes)", len,
             lim->max_bytes);
        goto cleanup;
    }
    if (len > 0 && !json) {
        fail(err, errlen, "event: no input");
        goto cleanup;
    }
    if (len > 0 && (nul = memchr(json, '\0', len)) != NULL) {
        fail(err, errlen, "event: not valid JSON: NUL byte (at byte %zu)", (size_t)(nul - json));
        goto cleanup;
    }
    if (len >= (size_t)INT32_MAX) { /* json_tokener_parse_ex takes an int */
        fail(err, errlen, "event: too large (%zu bytes)", len);
        goto cleanup;
    }
    if (parsed) {
        root = json_object_get(parsed);
        if (lex_check(json, len, sh, err, errlen))
            goto fail_root;
        goto tree;
    }
    /* The terminating NUL tells json-c the input is complete; without it a
     * bare number or a truncated document reads as "continue". */
    buf = malloc(len + 1);
    /* json-c counts the scalar under the innermost container as a level too. */
    tok = json_tokener_new_ex(max_depth + 1);
    if (!buf || !tok) {
        fail(err, errlen, "event: out of memory");
        goto cleanup;
    }
    if (len > 0)
        memcpy(buf, json, len);
    buf[len] = '\0';
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, buf, (int)(len + 1));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_error_depth) {
        fail(err, errlen, "event: nested deeper than the limit of %d levels (limits.max_json_depth)",
             max_depth);
        goto cleanup;
    }
    if (jerr != json_tokener_success) {
        fail(err, errlen, "event: not valid JSON: %s (at byte %zu)", json_tokener_error_desc(jerr),
             end);
        goto cleanup;
    }
    for (size_t i = end; i < len; i++) {
        if (!is_ws((unsigned char)buf[i])) {
            fail(err, errlen, "event: not valid JSON: unexpected data after the object (at byte %zu)",
                 i);
            goto fail_root;
        }
    }
    if (lex_check(buf, len, sh, err, errlen))
        goto fail_root;
tree:
    if (!json_object_is_type(root, json_type_object)) { /* also JSON null: root == NULL */
        fail(err, errlen, "event: must be a JSON object");
        goto fail_root;
    }
    *tree_keys = 0;
    if (too_deep(root, 1, max_depth, tree_keys)) {
        fail(err, errlen, "event: nested deeper than the limit of %d levels (limits.max_json_depth)",
             max_depth);
        goto fail_root;
    }
    goto cleanup;

fail_root:
    json_object_put(root);
    root = NULL;
cleanup:
    if (tok)
        json_tokener_free(tok);
    free(buf);
    return root;
}

static int event_parse(const char *json, size_t len, struct json_object *parsed,
                       const struct psw_event_limits *lim, int64_t now_ms, struct psw_event *ev,
                       char *err, size_t errlen)
{
    static const struct psw_event_limits defaults = PSW_EVENT_LIMITS_INIT;
    struct json_object *root = NULL, *v, *data;
    struct psw_event res;
    struct lex_shape shape;
    size_t tree_keys = 0;
    char domain[DOMAIN_MAX + 1], created[PSW_ISO_SIZE], q[QUOTE_MAX * 6 + 8];
    int rc = -1;

    memset(&res, 0, sizeof(res));
    if (ev)
        memset(ev, 0, sizeof(*ev));
    if (err && errlen)
        err[0] = '\0';
    if (!ev) {
        fail(err, errlen, "event: no result struct");
        goto cleanup;
    }
    root = parse_document(json, len, lim ? lim : &defaults, parsed, &shape, &tree_keys, err,
                          errlen);
    if (!root)
        goto cleanup;

    /* type first: it decides what data must hold. */
    if (!(v = member(root, "type"))) {
        fail(err, errlen, "type: required");
        goto cleanup;
    }
    if (!json_object_is_type(v, json_type_string)) {
        fail(err, errlen, "type: must be a string");
        goto cleanup;
    }
    res.type = psw_event_type_parse(json_object_get_string(v));
    if (res.type < 0 || strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
        quote(json_object_get_string(v), (size_t)json_object_get_string_len(v), q, sizeof(q));
        fail(err, errlen, "type: unknown event type %s (one of " TYPE_LIST ")", q);
        goto cleanup;
    }

    if ((v = member(root, "id")) != NULL) {
        if (!json_object_is_type(v, json_type_string)) {
            fail(err, errlen, "id: must be a string");
            goto cleanup;
        }
        if (check_token("id", v, err, errlen))
            goto cleanup;
        memcpy(res.id, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    } else {
        char gen[PSW_ID_SIZE];
        if (psw_id_new("evt_", gen) != 0) {
            fail(err, errlen, "id: cannot generate an id (random generator failed)");
            goto cleanup;
        }
        memcpy(res.id, gen, strlen(gen) + 1);
    }

    if (!(v = member(root, "account_id"))) {
        fail(err, errlen, "account_id: required");
        goto cleanup;
    }
    if (!json_object_is_type(v, json_type_string)) {
        fail(err, errlen, "account_id: must be a string");
        goto cleanup;
    }
    if (check_token("account_id", v, err, errlen))
        goto cleanup;
    if (!(res.account_id = strdup(json_object_get_string(v)))) {
        fail(err, errlen, "event: out of memory");
        goto cleanup;
    }

    if (!(v = member(root, "domain"))) {
        fail(err, errlen, "domain: required");
        goto cleanup;
    }
    if (!json_object_is_type(v, json_type_string)) {
        fail(err, errlen, "domain: must be a string");
        goto cleanup;
    }
    if (check_domain(v, domain, err, errlen))
        goto cleanup;
    if (!(res.domain = strdup(domain))) {
        fail(err, errlen, "event: out of memory");
        goto cleanup;
    }

    res.created_at_ms = now_ms;
    if ((v = member(root, "created_at")) != NULL) {
        if (!json_object_is_type(v, json_type_string)) {
            fail(err, errlen, "created_at: must be a string");
            goto cleanup;
        }
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        quote(s, n, q, sizeof(q));
        if (strlen(s) != n || psw_time_parse_iso(s, &res.created_at_ms) != 0) {
            fail(err, errlen, "created_at: must be an ISO 8601 time, got %s", q);
            goto cleanup;
        }
        if (res.created_at_ms < 0 || res.created_at_ms > MAX_CREATED_MS) {
            fail(err, errlen,
                 "created_at: must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z, "
                 "got %s",
                 q);
            goto cleanup;
        }
    }
    psw_time_format(res.created_at_ms, created);

    if (!(data = member(root, "data"))) {
        fail(err, errlen, "data: required");
        goto cleanup;
    }
    if (!json_object_is_type(data, json_type_object)) {
        fail(err, errlen, "data: must be an object");
        goto cleanup;
    }
    if (check_data(data, res.type, err, errlen))
        goto cleanup;

    /* Render: the six known keys first, then the rest in input order. When
     * the text holds only the six keys, none twice, and data is written as
     * json-c would print it, the body is put together from the text itself:
     * the same bytes, for a fifth of the instructions (docs/performance.md). */
    if (shape.top_known && shape.data_canon && shape.keys == tree_keys) {
        if (render_fast(&res, created, json + shape.data_start,
                        shape.data_end - shape.data_start) < 0) {
            fail(err, errlen, "event: out of memory");
            goto cleanup;
        }
    } else if (render_json_c(root, data, &res, created) < 0) {
        fail(err, errlen, "event: out of memory");
        goto cleanup;
    }

    *ev = res;
    memset(&res, 0, sizeof(res));
    rc = 0;

cleanup:
    psw_event_free(&res);
    json_object_put(root);
    return rc;
}

int psw_event_parse(const char *json, size_t len, const struct psw_event_limits *lim,
                    int64_t now_ms, struct psw_event *ev, char *err, size_t errlen)
{
    return event_parse(json, len, NULL, lim, now_ms, ev, err, errlen);
}

int psw_event_parse_tree(const char *json, size_t len, struct json_object *tree,
                         const struct psw_event_limits *lim, int64_t now_ms,
                         struct psw_event *ev, char *err, size_t errlen)
{
    return event_parse(json, len, tree, lim, now_ms, ev, err, errlen);
}
