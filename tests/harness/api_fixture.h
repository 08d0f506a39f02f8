/*
 * api_fixture.h — what every black-box test of psw-api starts from: a whole
 * deployment (cluster.h) whose config listens for the API on a free
 * loopback port, a real psw-api process, an admin token made with
 * `psw token create`, and requests through api_client.h whose replies live
 * until harness_kept_free(). Used by tests/e2e/test_api*.c.
 *
 * The functions assert with cmocka (a failure ends the running test); call
 * api_fixture_stop from the test's teardown, also after a failure.
 */
#ifndef PSW_TEST_API_FIXTURE_H
#define PSW_TEST_API_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include "tests/harness/api_client.h"
#include "tests/harness/cluster.h"

struct api_fixture {
    struct cluster *c;   /* the test's cluster (started by api_fixture_start) */
    pid_t pid;           /* psw-api, -1 when not running */
    char base[64];       /* "http://127.0.0.1:PORT" */
    char log[700];       /* psw-api's log file */
    char record[700];    /* the PSW_API_RECORD file once api_fixture_record ran, else "" */
    char admin[128];     /* an admin token */
    int ok;              /* set by the test when it passed: no log dumps */
};
#define API_FIXTURE_INIT(cluster) { (cluster), -1, "", "", "", "", 0 }

/* Starts the cluster (1 scheduler, 1 worker master) with "api.listen" on a
 * free port plus the NULL-terminated config lines extra (may be NULL; at
 * most 14), then psw-api, waits until it is ready and makes f->admin. */
void api_fixture_start(struct api_fixture *f, const char *const *extra);

/* From now on every answer is recorded in <cluster dir>/record.jsonl
 * (PSW_API_RECORD, docs/api.md "Testing"), for the OpenAPI check. */
void api_fixture_record(struct api_fixture *f);

/* Stops recording, psw-api (SIGTERM; its log tail is printed when f->ok is
 * not set or it did not exit 0) and the cluster (logs dumped unless f->ok),
 * clears f->ok and frees the harness's kept replies. Idempotent: call it
 * from the test's teardown. */
void api_fixture_stop(struct api_fixture *f);
/* The same as a cmocka teardown whose state is the fixture:
 * cmocka_unit_test_prestate_setup_teardown(test, NULL, api_fixture_teardown, &A). */
int api_fixture_teardown(void **state);

/* Stops recording and checks every recorded answer against the OpenAPI
 * document (tests/harness/openapi.h); with coverage, also that every
 * operation was exercised. Fails the test with the checker's output. */
void api_fixture_check_openapi(struct api_fixture *f, int coverage);

/* `psw --json token create --name name [--account account]`: the token into
 * out. 0, or -1 after printing why. */
int api_fixture_token(struct api_fixture *f, const char *name, const char *account, char *out,
                      size_t n);

/* One request with token (NULL = none) and JSON body (NULL = none);
 * asserts the status is want; the reply, its body and JSON are kept until
 * harness_kept_free(). */
struct api_reply *api_fixture_req(struct api_fixture *f, int want, const char *method,
                                  const char *path, const char *token, const char *body);

/* r is an RFC 9457 problem (application/problem+json with title and
 * detail) naming field (NULL = any or none). */
void api_fixture_problem(const struct api_reply *r, const char *field);

#endif
