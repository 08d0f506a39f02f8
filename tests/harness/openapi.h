/*
 * openapi.h — running tests/node/openapi-check.mjs (the OpenAPI checker) from
 * a C test: the document is validated with a real OpenAPI validator, then
 * every response recorded in the given files (one JSON line each:
 * {"method","path","status","content_type","body"}, as the API tests'
 * client writes them when PSW_API_RECORD is set) is checked against the
 * schema of its path, method and status. Files are found through $PSW_SRC
 * (tests/run.sh sets it to the source tree); node through $PATH.
 */
#ifndef PSW_TEST_HARNESS_OPENAPI_H
#define PSW_TEST_HARNESS_OPENAPI_H

/* Runs the checker on doc (NULL = $PSW_SRC/api/openapi.json) and the
 * NULL-terminated record files (NULL = none: the document alone); with
 * coverage, an operation of the document that no record exercised is a
 * failure too. *output (may be NULL) receives everything the checker
 * printed, malloc'd, for the caller to free. Returns the checker's exit
 * status (0 all good, 1 a failure it names, 2 usage), or -1 when it could
 * not be run (node missing, timeout) — with the reason in *output. */
int harness_openapi_check(const char *doc, const char *const files[], int coverage,
                          char **output);

#endif
