/*
 * openapi.c — see openapi.h.
 */
#include "tests/harness/openapi.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/proc.h"

#define CHECK_TIMEOUT_MS 120000 /* node starts in well under a second; ajv compiles lazily */
#define MAX_FILES 32

static int find_in_path(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0) {
            struct stat st;
            snprintf(out, n, "%.*s/%s", (int)len, p, name);
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        p += len + (p[len] == ':');
    }
    return -1;
}

static char *message(const char *text)
{
    char *m = strdup(text);
    if (!m)
        abort();
    return m;
}

int harness_openapi_check(const char *doc, const char *const files[], int coverage,
                          char **output)
{
    const char *src = getenv("PSW_SRC");
    char node[512], script[1024], def_doc[1024], log[1100];
    char *argv[MAX_FILES + 6];
    int argc = 0, rc = -1, status = 0;
    char *dir = NULL;

    if (output)
        *output = NULL;
    if (!src || !*src)
        src = ".";
    if (find_in_path("node", node, sizeof(node)) < 0 &&
        find_in_path("nodejs", node, sizeof(node)) < 0) {
        if (output)
            *output = message("node is not installed (scripts/deps.sh test installs nodejs)");
        return -1;
    }
    snprintf(script, sizeof(script), "%s/tests/node/openapi-check.mjs", src);
    snprintf(def_doc, sizeof(def_doc), "%s/api/openapi.json", src);
    argv[argc++] = node;
    argv[argc++] = script;
    if (coverage)
        argv[argc++] = (char *)"--coverage";
    argv[argc++] = (char *)(doc ? doc : def_doc);
    for (size_t i = 0; files && files[i] && argc < MAX_FILES + 4; i++)
        argv[argc++] = (char *)files[i];
    argv[argc] = NULL;

    dir = tmpdir_new();
    snprintf(log, sizeof(log), "%s/openapi-check.log", dir);
    pid_t pid = harness_spawn(node, argv, log, SIGKILL);
    if (pid < 0) {
        if (output)
            *output = message("could not start node");
        goto cleanup;
    }
    if (proc_wait(pid, CHECK_TIMEOUT_MS, &status) < 0) {
        proc_stop(pid, SIGKILL, 1000);
        if (output)
            *output = message("openapi-check.mjs did not finish in time");
        goto cleanup;
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (output) {
        *output = read_file(log, NULL);
        if (!*output)
            *output = message("");
    }
cleanup:
    tmpdir_remove(dir);
    free(dir);
    return rc;
}
