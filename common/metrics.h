/*
 * metrics.h — the Prometheus metrics of docs/metrics.md, rendered
 * from the counters in Redis for psw-api's GET /metrics: one script call
 * (metrics.lua), so one round trip and one consistent snapshot.
 */
#ifndef PSW_METRICS_H
#define PSW_METRICS_H

#include <stddef.h>

#include "common/ctx.h"

/* The text exposition format (version 0.0.4; serve it as
 * "text/plain; version=0.0.4; charset=utf-8"): HELP and TYPE lines, then the
 * samples, every metric present even while its counters are still 0.
 * *out is a NUL-terminated malloc'd string the caller frees, *len its
 * length. Returns 0, or PSW_EFAIL with the reason in err (Redis failed or
 * out of memory; *out is NULL then). */
int psw_metrics_render(struct psw_ctx *ctx, char **out, size_t *len, char *err, size_t errlen);

#endif
