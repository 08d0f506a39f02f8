/*
 * replies.c — the names of the reply fields in common/replies.h, as the
 * Lua prelude's R table spells them.
 */
#include "common/replies.h"

const char *const psw_claim_head_names[PSW_CLAIM__HEAD] = {
    "now", "claimed", "skipped", "held", "drained",
};

const char *const psw_claim_job_names[PSW_JOB__COUNT] = {
    "id", "event_id", "event_type", "endpoint_id", "url", "attempt", "trigger",
    "cycle_started_at", "cycle_attempts", "secret", "secret_prev", "body",
    "signing", "signing_key", "headers",
};

const char *const psw_complete_reply_names[PSW_COMPLETE__COUNT] = { "results", "claim" };

const char *const psw_complete_result_names[PSW_RESULT__COUNT] = { "outcome", "alert", "reason" };

const char *const psw_kind_names[3] = { PSW_KIND_RECEIVER, PSW_KIND_GONE, PSW_KIND_LOCAL };
