/*
 * replies.h — the fields of the Lua scripts' replies that C reads by
 * position, declared once per side: here, and in the R table of
 * common/lua/_prelude.lua, which the scripts fill by name. The two lists
 * must be the same, in the same order; tests/unit/test_keys.c runs the
 * prelude in a real Redis and compares them with the names below, as it
 * does for key names.
 *
 * claim.lua (and the claim part of complete.lua) answers the header, then
 * PSW_JOB__COUNT fields per claimed delivery. complete.lua answers
 * {results, claim}, results holding PSW_RESULT__COUNT fields per attempt.
 * complete.lua takes, per attempt, a kind: one of the PSW_KIND_* words.
 */
#ifndef PSW_REPLIES_H
#define PSW_REPLIES_H

enum psw_claim_head {
    PSW_CLAIM_NOW,      /* Redis time, ms */
    PSW_CLAIM_CLAIMED,  /* how many deliveries follow */
    PSW_CLAIM_SKIPPED,
    PSW_CLAIM_HELD,
    PSW_CLAIM_DRAINED,  /* 1 = ready ran dry */
    PSW_CLAIM__HEAD
};

enum psw_claim_job {
    PSW_JOB_ID,
    PSW_JOB_EVENT_ID,
    PSW_JOB_EVENT_TYPE,
    PSW_JOB_ENDPOINT_ID,
    PSW_JOB_URL,
    PSW_JOB_ATTEMPT,
    PSW_JOB_TRIGGER,
    PSW_JOB_CYCLE_STARTED_AT,
    PSW_JOB_CYCLE_ATTEMPTS,
    PSW_JOB_SECRET,
    PSW_JOB_SECRET_PREV,
    PSW_JOB_BODY,
    PSW_JOB_SIGNING,     /* poststack | standard | ed25519 (docs/cli.md, endpoint options) */
    PSW_JOB_SIGNING_KEY, /* the sealed Ed25519 private key, or "" */
    PSW_JOB_HEADERS,     /* the sealed static headers, or "" */
    PSW_JOB__COUNT
};

enum psw_complete_reply { PSW_COMPLETE_RESULTS, PSW_COMPLETE_CLAIM, PSW_COMPLETE__COUNT };

enum psw_complete_result {
    PSW_RESULT_OUTCOME, /* delivered, scheduled, failed, recorded, duplicate, gone */
    PSW_RESULT_ALERT,   /* alert stream id, or "" */
    PSW_RESULT_REASON,  /* why the endpoint was disabled, or "" */
    PSW_RESULT__COUNT
};

/* complete.lua's kind of a failed attempt */
#define PSW_KIND_RECEIVER "receiver" /* the receiver answered or failed */
#define PSW_KIND_GONE "receiver_gone" /* the receiver answered 410 Gone */
#define PSW_KIND_LOCAL "local"       /* the worker failed before any request */

/* The Lua names, in the order of the enums above (for the agreement test). */
extern const char *const psw_claim_head_names[PSW_CLAIM__HEAD];
extern const char *const psw_claim_job_names[PSW_JOB__COUNT];
extern const char *const psw_complete_reply_names[PSW_COMPLETE__COUNT];
extern const char *const psw_complete_result_names[PSW_RESULT__COUNT];
extern const char *const psw_kind_names[3];

#endif
