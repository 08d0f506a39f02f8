/*
 * sample.h — test events (POST /v1/endpoints/{id}/test, docs/api.md): a
 * sample event of a chosen type for an endpoint's account and domain,
 * published through the normal pipeline (publish.h), so it is signed,
 * retried and logged like any other. Being an ordinary event of the account,
 * it also reaches the account's other endpoints that subscribe to the type
 * and domain; data.metadata.test is true so receivers can tell.
 */
#ifndef PSW_SAMPLE_H
#define PSW_SAMPLE_H

#include <stddef.h>

#include "common/ctx.h"
#include "common/endpoint.h"
#include "common/publish.h"

/* PSW_EINVAL ("type: …") for an unknown type or one the endpoint does not
 * subscribe to, PSW_ECONFLICT for a deleted endpoint; else psw_publish's. */
int psw_sample_test(struct psw_ctx *ctx, const struct psw_endpoint *ep, const char *type,
                    struct psw_publish_result *res, char *err, size_t errlen);

#endif
