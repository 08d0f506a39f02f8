/*
 * audit.h — the audit trail (docs/api.md "Audit"): every change made through
 * psw-api or `psw` appends one entry to the stream <prefix>audit: who
 * (actor: the API token's name, or "cli"), what (action, e.g.
 * "endpoint.create"), the target id, the account and the time. Publishing
 * events is not audited: it is the data plane, not a change to the
 * configuration, and its volume would drown the trail.
 *
 * The stream is capped (approximately) at PSW_AUDIT_MAX entries.
 */
#ifndef PSW_AUDIT_H
#define PSW_AUDIT_H

#include <stddef.h>

#include "common/ctx.h"

struct json_object;

#define PSW_AUDIT_MAX 100000
#define PSW_AUDIT_CURSOR_SIZE 48

/* Appends one entry. account may be NULL/"" (a change not tied to one).
 * A failure is logged and returned; the change it records is already made,
 * so callers report it but do not undo anything. */
int psw_audit_append(struct psw_ctx *ctx, const char *actor, const char *action,
                     const char *target, const char *account, char *err, size_t errlen);

/* Entries newest first, of account (NULL = every account), at most limit,
 * older than cursor ("" / NULL = from the newest). *out is a JSON array of
 * {"id","at","actor","action","target","account_id"}; next_cursor is ""
 * when there is nothing older. PSW_EINVAL for a malformed cursor. */
int psw_audit_list(struct psw_ctx *ctx, const char *account, const char *cursor, size_t limit,
                   struct json_object **out, char next_cursor[PSW_AUDIT_CURSOR_SIZE], char *err,
                   size_t errlen);

#endif
