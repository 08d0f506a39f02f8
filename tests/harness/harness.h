/*
 * harness.h — everything a black-box test needs: a throwaway redis-server
 * (redis_server.h) or a Sentinel set (redis_sentinel.h), the recording HTTP
 * receiver (receiver.h), the project's programs plus file helpers (proc.h)
 * and the OpenAPI checker (openapi.h).
 */
#ifndef PSW_TEST_HARNESS_H
#define PSW_TEST_HARNESS_H

#include "tests/harness/openapi.h"
#include "tests/harness/proc.h"
#include "tests/harness/receiver.h"
#include "tests/harness/redis_sentinel.h"
#include "tests/harness/redis_server.h"

#endif
