/*
 * test_deploy.c — the ways to run the service: docker-compose.yml as the
 * system's docker-compose (v1, `config`) normalizes it, read back key by key
 * and cross-checked against deploy/psw.yaml; deploy/Dockerfile through
 * scripts/lint-dockerfile.sh, plus a table of broken Dockerfiles the linter
 * must reject; the systemd units; the demo receiver psw-receiver on its own;
 * the compose topology started without Docker from the same deploy/psw.yaml
 * (scheduler, two worker masters, the receiver and the compose one-shot
 * deploy/demo.sh); and `make run` (scripts/run.sh) started in the background,
 * waited for, stopped with SIGINT, with nothing left running.
 *
 * No Docker engine runs on the machines that run this, so no image is built
 * or started: what compose would run inside the image runs from $PSW_BIN.
 *
 * System programs (docker-compose, sh, bash, systemd-analyze) are started
 * with harness_spawn, so they get the harness's safety nets (death signal,
 * at-exit cleanup); their output is captured in a file of the group's
 * directory. Environment variables a test sets are unset before it returns.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <yaml.h>

#include "common/config.h"
#include "common/sign.h"
#include "common/timeutil.h"
#include "tests/harness/harness.h"

#define DEMO_SECRET "whsec_demo_secret_not_for_production"
#define NTYPES 8

static const char *const types[NTYPES] = {
    "email.queued", "email.sent",   "email.delivered",  "email.bounced",
    "email.opened", "email.clicked", "email.complained", "email.unsubscribed",
};

static struct {
    char *dir;       /* the group's scratch directory */
    const char *src; /* the repository ($PSW_SRC) */
    char compose[512];
} T;

/* ---- helpers: paths, programs, files ----------------------------------------- */

/* "$PSW_SRC/rel" in one of 4 rotating buffers. */
static const char *src_path(const char *rel)
{
    static char ring[4][1024];
    static unsigned next;
    char *out = ring[next++ % 4];
    snprintf(out, sizeof ring[0], "%s/%s", T.src, rel);
    return out;
}

static int find_exe(const char *name, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, n, "%.*s/%s", (int)len, path, name);
        if (len > 0 && access(out, X_OK) == 0)
            return 0;
        path += len + (path[len] == ':');
    }
    return -1;
}

/* Runs path with args (argv[0] = path), output (stdout+stderr) into *out
 * (malloc'd, never NULL when out is given). Exit code, 128+signal, -1 on
 * timeout (killed), -2 when it could not start. */
static int run_sys(const char *path, const char *const args[], char **out, int timeout_ms)
{
    static int seq;
    char log[700];
    size_t n = 0;
    int st, rc;

    snprintf(log, sizeof log, "%s/sys-%d.log", T.dir, seq++);
    while (args && args[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    assert_non_null(argv);
    argv[0] = (char *)path;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    pid_t pid = harness_spawn(path, argv, log, SIGKILL);
    free(argv);
    if (pid < 0) {
        rc = -2;
    } else if (proc_wait(pid, timeout_ms, &st) != 0) {
        proc_stop(pid, SIGKILL, 1000);
        rc = -1;
    } else {
        rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (out) {
        *out = read_file(log, NULL);
        if (!*out)
            *out = strdup("");
        assert_non_null(*out);
    }
    return rc;
}

struct file_has {
    const char *path, *needle;
};

static int file_has_pred(void *arg)
{
    const struct file_has *f = arg;
    char *s = read_file(f->path, NULL);
    int ok = s && strstr(s, f->needle) != NULL;
    free(s);
    return ok;
}

static int wait_file_has(const char *path, const char *needle, int timeout_ms)
{
    struct file_has f = { path, needle };
    return wait_until(file_has_pred, &f, timeout_ms, 50);
}

/* Port from psw-receiver's first line ("listening on http://ADDR:PORT/"). */
static int receiver_port(const char *log)
{
    if (wait_file_has(log, "listening on http://", 10000) != 0) {
        file_tail(log, 20);
        return -1;
    }
    char *s = read_file(log, NULL);
    const char *p = s ? strstr(s, "listening on http://") : NULL;
    const char *colon = p ? strchr(p + strlen("listening on http://"), ':') : NULL;
    long port = colon ? strtol(colon + 1, NULL, 10) : -1;
    free(s);
    return port > 0 && port < 65536 ? (int)port : -1;
}

/* ---- helpers: HTTP (libcurl) ------------------------------------------------------- */

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t add = size * nmemb;
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, data, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

/* method GET/POST/DELETE; headers NULL-terminated or NULL. Returns the status
 * (0 on a transport error); *body_out (if given) the malloc'd response body. */
static long http(const char *method, const char *url, const char *const headers[],
                 const char *body, char **body_out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct buf b = { NULL, 0 };
    long status = 0;
    assert_non_null(c);
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (body_out)
        *body_out = b.p ? b.p : strdup("");
    else
        free(b.p);
    return status;
}

/* GET /stats of the receiver on port, parsed; NULL when it does not answer. */
static json_object *rx_stats(int port)
{
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", port);
    long st = http("GET", url, NULL, NULL, &body);
    json_object *o = st == 200 ? json_tokener_parse(body) : NULL;
    free(body);
    return o;
}

static long long jnum(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return -1;
    return json_object_get_int64(v);
}

static long long jtype(json_object *o, const char *type)
{
    json_object *bt;
    if (!o || !json_object_object_get_ex(o, "by_type", &bt))
        return -1;
    return jnum(bt, type);
}

struct stat_wait {
    int port;
    const char *key;
    long long want;
};

static int stat_reached(void *arg)
{
    struct stat_wait *w = arg;
    json_object *o = rx_stats(w->port);
    int ok = jnum(o, w->key) >= w->want;
    json_object_put(o);
    return ok;
}

/* ---- helpers: YAML (the normalized compose file) -------------------------------- */

static yaml_node_t *ymap(yaml_document_t *d, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* Walks mapping keys: ynav(d, root, "services", "worker", NULL). */
static yaml_node_t *ynav(yaml_document_t *d, yaml_node_t *n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (const char *k = va_arg(ap, const char *); k && n; k = va_arg(ap, const char *))
        n = ymap(d, n, k);
    va_end(ap);
    return n;
}

static const char *yscalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static size_t yseq_len(yaml_node_t *n)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return 0;
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static const char *yseq_at(yaml_document_t *d, yaml_node_t *n, size_t i)
{
    if (i >= yseq_len(n))
        return NULL;
    return yscalar(yaml_document_get_node(d, n->data.sequence.items.start[i]));
}

/* The sequence is exactly want (NULL-terminated). */
static int yseq_is(yaml_document_t *d, yaml_node_t *n, const char *const want[])
{
    size_t i = 0;
    for (; want[i]; i++) {
        const char *s = yseq_at(d, n, i);
        if (!s || strcmp(s, want[i]) != 0)
            return 0;
    }
    return yseq_len(n) == i;
}

/* Index of the first element equal to s, or -1. */
static long yseq_find(yaml_document_t *d, yaml_node_t *n, const char *s)
{
    for (size_t i = 0; i < yseq_len(n); i++) {
        const char *v = yseq_at(d, n, i);
        if (v && strcmp(v, s) == 0)
            return (long)i;
    }
    return -1;
}

/* The element after the option opt ("--port" → "8080"), or NULL. */
static const char *yseq_after(yaml_document_t *d, yaml_node_t *n, const char *opt)
{
    long i = yseq_find(d, n, opt);
    return i < 0 ? NULL : yseq_at(d, n, (size_t)i + 1);
}

static int compose_config(yaml_document_t *doc, const char *const extra[])
{
    char dc[512], *out = NULL;
    const char *args[8] = { NULL };
    size_t n = 0;
    assert_int_equal(find_exe("docker-compose", dc, sizeof dc), 0);
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n++] = "-f";
    args[n++] = T.compose;
    args[n++] = "config";
    int rc = run_sys(dc, args, &out, 60000);
    if (rc != 0)
        fprintf(stderr, "docker-compose config exited %d:\n%s\n", rc, out);
    assert_int_equal(rc, 0);
    yaml_parser_t p;
    assert_int_equal(yaml_parser_initialize(&p), 1);
    yaml_parser_set_input_string(&p, (const unsigned char *)out, strlen(out));
    int ok = yaml_parser_load(&p, doc);
    yaml_parser_delete(&p);
    free(out);
    assert_int_equal(ok, 1);
    assert_non_null(yaml_document_get_root_node(doc));
    return 0;
}

/* deploy/psw.yaml as every program loads it (PSW_REDIS_URL unset). */
static void load_deploy_config(struct psw_config *cfg)
{
    char err[1024];
    memset(cfg, 0, sizeof *cfg);
    unsetenv("PSW_REDIS_URL");
    if (psw_config_load(cfg, src_path("deploy/psw.yaml"), err, sizeof err) != 0)
        fail_msg("deploy/psw.yaml: %s", err);
}

/* ---- docker-compose.yml ------------------------------------------------------------ */

static void check_psw_service(yaml_document_t *d, yaml_node_t *svc, const char *prog,
                              const struct psw_config *cfg)
{
    const char *check[] = { "CMD", prog, "--check", NULL };
    const char *cmd[] = { prog, NULL };
    assert_non_null(svc);
    assert_true(yseq_is(d, ynav(d, svc, "command", NULL), cmd));
    assert_true(yseq_is(d, ynav(d, svc, "healthcheck", "test", NULL), check));
    assert_string_equal(yscalar(ynav(d, svc, "depends_on", "redis", "condition", NULL)),
                        "service_healthy");
    assert_string_equal(yscalar(ynav(d, svc, "environment", "PSW_REDIS_URL", NULL)),
                        cfg->redis_url);
    assert_string_equal(yscalar(ynav(d, svc, "image", NULL)), "poststack-webhooks:local");
    assert_string_equal(yscalar(ynav(d, svc, "build", "dockerfile", NULL)), "deploy/Dockerfile");
    /* the config file, mounted read-only at the path the programs read by default */
    const char *vol = yseq_at(d, ynav(d, svc, "volumes", NULL), 0);
    char want[1100];
    snprintf(want, sizeof want, "%s:%s:ro", src_path("deploy/psw.yaml"), PSW_CONFIG_DEFAULT_PATH);
    assert_non_null(vol);
    assert_string_equal(vol, want);
    assert_null(ynav(d, svc, "profiles", NULL));
}

static void test_compose_config(void **state)
{
    (void)state;
    yaml_document_t doc;
    struct psw_config cfg;
    int64_t grace = 0;

    load_deploy_config(&cfg);
    compose_config(&doc, NULL);
    yaml_document_t *d = &doc;
    yaml_node_t *root = yaml_document_get_root_node(d);
    yaml_node_t *svcs = ynav(d, root, "services", NULL);
    assert_int_equal(svcs->data.mapping.pairs.top - svcs->data.mapping.pairs.start, 6);

    /* redis: the official image, AOF everysec, noeviction, a named volume */
    yaml_node_t *redis = ynav(d, svcs, "redis", NULL);
    const char *redis_cmd[] = { "redis-server", "--appendonly", "yes", "--appendfsync",
                                "everysec", "--maxmemory-policy", "noeviction", NULL };
    const char *ping[] = { "CMD", "redis-cli", "ping", NULL };
    assert_string_equal(yscalar(ynav(d, redis, "image", NULL)), "redis:7");
    assert_true(yseq_is(d, ynav(d, redis, "command", NULL), redis_cmd));
    assert_true(yseq_is(d, ynav(d, redis, "healthcheck", "test", NULL), ping));
    assert_string_equal(yseq_at(d, ynav(d, redis, "volumes", NULL), 0), "redis-data:/data:rw");
    assert_non_null(ynav(d, root, "volumes", "redis-data", NULL));

    check_psw_service(d, ynav(d, svcs, "scheduler", NULL), "psw-scheduler", &cfg);
    check_psw_service(d, ynav(d, svcs, "worker", NULL), "psw-worker", &cfg);
    check_psw_service(d, ynav(d, svcs, "api", NULL), "psw-api", &cfg);
    /* the API listens on every address inside its container, published on loopback */
    assert_string_equal(cfg.api_listen, "0.0.0.0:8080");
    assert_non_null(ynav(d, svcs, "api", "ports", NULL));

    /* worker: scalable, and stopped no sooner than its children's grace */
    yaml_node_t *worker = ynav(d, svcs, "worker", NULL);
    assert_null(ynav(d, worker, "container_name", NULL));
    assert_null(ynav(d, worker, "ports", NULL));
    assert_int_equal(psw_duration_parse(yscalar(ynav(d, worker, "stop_grace_period", NULL)),
                                        &grace), 0);
    assert_true(grace > cfg.worker_shutdown_grace_ms + 5000);
    assert_non_null(ynav(d, worker, "networks", "demo", NULL));
    assert_null(ynav(d, svcs, "scheduler", "networks", "demo", NULL));

    /* demo profile: the receiver verifies with the secret the one-shot sets */
    yaml_node_t *rx = ynav(d, svcs, "receiver", NULL);
    yaml_node_t *setup = ynav(d, svcs, "demo-setup", NULL);
    yaml_node_t *rx_cmd = ynav(d, rx, "command", NULL);
    assert_int_equal(yseq_find(d, ynav(d, rx, "profiles", NULL), "demo"), 0);
    assert_int_equal(yseq_find(d, ynav(d, setup, "profiles", NULL), "demo"), 0);
    assert_string_equal(yseq_at(d, rx_cmd, 0), "psw-receiver");
    assert_string_equal(yseq_after(d, rx_cmd, "--secret"), DEMO_SECRET);
    assert_string_equal(yseq_after(d, rx_cmd, "--port"), "8080");
    assert_string_equal(yseq_after(d, rx_cmd, "--bind"), "0.0.0.0");
    assert_string_equal(yscalar(ynav(d, setup, "environment", "PSW_DEMO_SECRET", NULL)),
                        DEMO_SECRET);
    assert_string_equal(yscalar(ynav(d, setup, "environment", "PSW_DEMO_URL", NULL)),
                        "http://receiver:8080/webhooks");
    const char *demo_cmd[] = { "sh", "/usr/local/share/psw/demo.sh", NULL };
    assert_true(yseq_is(d, ynav(d, setup, "command", NULL), demo_cmd));
    assert_string_equal(yscalar(ynav(d, setup, "restart", NULL)), "no");
    assert_non_null(ynav(d, rx, "networks", "demo", NULL));

    /* The one private network deploy/psw.yaml lets deliveries reach is the
     * demo network; every other private address stays refused. */
    yaml_node_t *ipam = ynav(d, root, "networks", "demo", "ipam", "config", NULL);
    assert_int_equal(yseq_len(ipam), 1);
    yaml_node_t *sub0 = yaml_document_get_node(d, ipam->data.sequence.items.start[0]);
    assert_false(cfg.http_allow_private_networks);
    assert_int_equal(cfg.http_allowed_networks_n, 1);
    assert_string_equal(yscalar(ymap(d, sub0, "subnet")), cfg.http_allowed_networks[0]);
    assert_string_equal(cfg.redis_url, "redis://redis:6379/0");

    yaml_document_delete(&doc);
    psw_config_free(&cfg);
}

static void test_compose_profile_env_and_errors(void **state)
{
    (void)state;
    yaml_document_t doc;
    char dc[512], *out = NULL;
    const char *url = "redis://:secret@10.1.2.3:6380/2";

    /* --profile demo is accepted; PSW_REDIS_URL from the environment wins */
    setenv("PSW_REDIS_URL", url, 1);
    compose_config(&doc, (const char *[]){ "--profile", "demo", NULL });
    yaml_node_t *svcs = ynav(&doc, yaml_document_get_root_node(&doc), "services", NULL);
    assert_string_equal(yscalar(ynav(&doc, svcs, "worker", "environment", "PSW_REDIS_URL", NULL)),
                        url);
    assert_string_equal(
        yscalar(ynav(&doc, svcs, "demo-setup", "environment", "PSW_REDIS_URL", NULL)), url);
    yaml_document_delete(&doc);
    unsetenv("PSW_REDIS_URL");

    assert_int_equal(find_exe("docker-compose", dc, sizeof dc), 0);
    assert_int_equal(run_sys(dc, (const char *[]){ "--profile", "demo", "-f", T.compose,
                                                   "config", "--services", NULL },
                             &out, 60000),
                     0);
    assert_string_equal(out, "redis\nscheduler\nworker\napi\nreceiver\ndemo-setup\n");
    free(out);

    /* and the check can fail: a file with a mistake is refused */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/bad-compose.yml", T.dir);
    assert_int_equal(write_file(bad, "services:\n  worker:\n    image: x\n    healthcheck:\n"
                                     "      test: [\"CMD\", \"psw-worker\", \"--check\"]\n"
                                     "      intervall: 5s\n"),
                     0);
    assert_int_equal(run_sys(dc, (const char *[]){ "-f", bad, "config", NULL }, &out, 60000), 1);
    assert_non_null(strstr(out, "intervall"));
    free(out);
}

/* ---- deploy/Dockerfile ------------------------------------------------------------- */

static void test_dockerfile_lint(void **state)
{
    (void)state;
    char *out = NULL;
    const char *lint = src_path("scripts/lint-dockerfile.sh");
    assert_int_equal(run_sys("/bin/sh", (const char *[]){ lint, NULL }, &out, 30000), 0);
    assert_non_null(strstr(out, "deploy/Dockerfile: ok"));
    free(out);

    /* What the image must hold, beyond what the linter checks. */
    char *df = read_file(src_path("deploy/Dockerfile"), NULL);
    assert_non_null(df);
    assert_non_null(strstr(df, "FROM debian:12-slim AS build"));
    assert_non_null(strstr(df, "FROM debian:12-slim AS runtime"));
    assert_non_null(strstr(df, "RUN make\n"));
    assert_non_null(strstr(df, "COPY --from=build /src/bin/ /usr/local/bin/"));
    assert_non_null(strstr(df, "CMD [\"psw-worker\", \"--check\"]"));
    const char *libs[] = { "libhiredis0.14", "libcurl4", "libssl3", "libyaml-0-2", "libjson-c5",
                           "libmicrohttpd12", "ca-certificates" };
    const char *runtime = strstr(df, "AS runtime");
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++)
        assert_non_null(strstr(runtime, libs[i]));
    assert_null(strstr(runtime, "-dev")); /* no build dependencies at run time */
    free(df);

    /* The linter must catch each of these mistakes. */
    static const struct {
        const char *text, *error;
    } bad[] = {
        { "FROM debian:12-slim\nRUNN true\nUSER x\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          ":2: unknown instruction RUNN" },
        { "RUN true\nFROM debian:12-slim\n", ":1: the first instruction must be FROM" },
        { "FROM debian\nUSER x\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          ":1: FROM debian: pin a tag" },
        { "FROM debian:latest\nUSER x\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          "do not use the latest tag" },
        { "FROM debian:12-slim AS a\nFROM debian:12-slim AS b\nCOPY --from=c /x /y\n"
          "USER x\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          ":3: COPY --from=c: no earlier stage of that name" },
        { "FROM debian:12-slim AS a\nCOPY --from=a /x /y\nUSER x\nHEALTHCHECK CMD true\n"
          "CMD [\"a\"]\n",
          ":2: COPY --from=a: no earlier stage of that name" },
        { "FROM debian:12-slim\nCOPY deploy/no-such-file /x\nUSER x\nHEALTHCHECK CMD true\n"
          "CMD [\"a\"]\n",
          ":2: COPY source \"deploy/no-such-file\" is not in the build context" },
        { "FROM debian:12-slim\nUSER x\nHEALTHCHECK CMD true\nCMD [\"a\", b]\n",
          ":4: CMD: malformed JSON array" },
        { "FROM debian:12-slim\nUSER x\nHEALTHCHECK --every=5s CMD true\nCMD [\"a\"]\n",
          ":3: HEALTHCHECK: unknown option --every" },
        { "FROM debian:12-slim\nRUN apt-get update && \\\n    apt-get install -y curl\n"
          "USER x\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          ":2: RUN apt-get install without --no-install-recommends" },
        { "FROM debian:12-slim\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          "the final stage runs as root: add USER" },
        { "FROM debian:12-slim\nUSER 0\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          "the final stage runs as root (USER 0)" },
        { "FROM debian:12-slim\nUSER x\nCMD [\"a\"]\n", "the final stage has no HEALTHCHECK" },
        { "FROM debian:12-slim\nUSER x\nHEALTHCHECK CMD true\nRUN true \\\n",
          "the file ends inside a continued instruction" },
        { "FROM debian:12-slim\nMAINTAINER me\nUSER x\nHEALTHCHECK CMD true\nCMD [\"a\"]\n",
          ":2: MAINTAINER is deprecated" },
    };
    char path[700];
    snprintf(path, sizeof path, "%s/Dockerfile.bad", T.dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(write_file(path, bad[i].text), 0);
        int rc = run_sys("/bin/sh", (const char *[]){ lint, path, T.src, NULL }, &out, 30000);
        if (rc != 1 || !strstr(out, bad[i].error))
            fail_msg("case %zu: exit %d, want 1 and \"%s\"; got:\n%s", i, rc, bad[i].error, out);
        free(out);
    }
}

/* ---- deploy/systemd ------------------------------------------------------------------ */

static int64_t unit_duration(const char *unit, const char *key)
{
    char want[64];
    int64_t ms = -1;
    snprintf(want, sizeof want, "\n%s=", key);
    const char *p = strstr(unit, want);
    if (p) {
        char val[32];
        p += strlen(want);
        size_t n = strcspn(p, "\n");
        snprintf(val, sizeof val, "%.*s", (int)(n < 31 ? n : 31), p);
        if (psw_duration_parse(val, &ms) != 0)
            ms = -1;
    }
    return ms;
}

static void test_systemd_units(void **state)
{
    (void)state;
    struct psw_config cfg;
    char tool[512];
    const char *units[] = { "psw-scheduler.service", "psw-worker.service", "psw-api.service" };

    load_deploy_config(&cfg);
    for (size_t i = 0; i < 3; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "deploy/systemd/%s", units[i]);
        char *u = read_file(src_path(rel), NULL);
        assert_non_null(u);
        const char *must[] = { "\nRestart=on-failure\n", "\nRestartPreventExitStatus=78\n",
                               "\nKillSignal=SIGTERM\n", "\nUser=psw\n",
                               "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n",
                               "\nExecReload=/bin/kill -HUP $MAINPID\n",
                               "\nWantedBy=multi-user.target\n" };
        for (size_t k = 0; k < sizeof must / sizeof must[0]; k++)
            if (!strstr(u, must[k]) &&
                !(i == 2 && strstr(must[k], "ExecReload"))) /* psw-api has nothing to reload */
                fail_msg("%s lacks %s", units[i], must[k] + 1);
        if (i == 1) /* the worker's children get shutdown_grace, then 5 s */
            assert_true(unit_duration(u, "TimeoutStopSec") > cfg.worker_shutdown_grace_ms + 5000);

        /* systemd's own parser, with ExecStart pointing at the programs under test */
        if (find_exe("systemd-analyze", tool, sizeof tool) == 0) {
            char path[700], *out = NULL;
            char *fixed = NULL;
            size_t cap = strlen(u) + 4096, len = 0;
            const char *bin = getenv("PSW_BIN");
            fixed = calloc(1, cap);
            assert_non_null(fixed);
            for (const char *p = u; *p;) {
                const char *hit = strstr(p, "/usr/local/bin/");
                size_t n = hit ? (size_t)(hit - p) : strlen(p);
                assert_true(len + n + strlen(bin) + 2 < cap);
                memcpy(fixed + len, p, n);
                len += n;
                p += n;
                if (hit) {
                    len += (size_t)snprintf(fixed + len, cap - len, "%s/", bin);
                    p += strlen("/usr/local/bin/");
                }
            }
            snprintf(path, sizeof path, "%s/%s", T.dir, units[i]);
            assert_int_equal(write_file(path, fixed), 0);
            int rc = run_sys(tool, (const char *[]){ "verify", path, NULL }, &out, 30000);
            if (rc != 0 || out[0])
                fail_msg("systemd-analyze verify %s: exit %d\n%s", units[i], rc, out);
            free(out);
            free(fixed);
        } else if (i == 0) {
            fprintf(stderr, "note: systemd-analyze not installed; unit syntax not verified\n");
        }
        free(u);
    }
    psw_config_free(&cfg);
}

/* ---- psw-receiver ---------------------------------------------------------------------- */

/* POSTs body to the receiver as the service would, signed with secret at ts
 * (secret NULL = no signature header). Returns the status. */
static long rx_post(int port, const char *evt, const char *type, const char *secret, int64_t ts,
                    const char *body)
{
    char url[128], sig[PSW_SIGNATURE_SIZE + 64], evt_h[256], type_h[128];
    const char *secrets[] = { secret };
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hooks/a", port);
    snprintf(evt_h, sizeof evt_h, "X-PostStack-Event-Id: %s", evt);
    snprintf(type_h, sizeof type_h, "X-PostStack-Event-Type: %s", type);
    snprintf(sig, sizeof sig, "X-PostStack-Signature: ");
    if (secret) {
        size_t off = strlen(sig);
        assert_true(psw_sign_header(secrets, 1, ts, body, strlen(body), sig + off,
                                    sizeof sig - off) > 0);
    }
    const char *h[] = { "Content-Type: application/json", evt_h, type_h,
                        "X-PostStack-Delivery-Id: dlv_test", "X-PostStack-Attempt: 1",
                        secret ? sig : "X-No-Signature: 1", NULL };
    return http("POST", url, h, body, NULL);
}

static pid_t start_receiver(const char *const args[], const char *log, int *port)
{
    pid_t pid = proc_spawn("psw-receiver", args, log);
    assert_true(pid > 0);
    *port = receiver_port(log);
    assert_true(*port > 0);
    return pid;
}

static void assert_exit0(pid_t pid, int sig)
{
    int st = proc_stop(pid, sig, 15000);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fail_msg("pid %ld: status %#x, want a clean exit 0", (long)pid, st);
}

static void test_receiver(void **state)
{
    (void)state;
    char log[700], url[128], *body = NULL;
    int port;
    int64_t now = psw_now_ms() / 1000;
    const char *ev = "{\"id\":\"evt_rx1\",\"type\":\"email.bounced\"}";

    snprintf(log, sizeof log, "%s/receiver-unit.log", T.dir);
    pid_t pid = start_receiver((const char *[]){ "--port", "0", "--secret",
                                                 "whsec_old_secret_1234567890", "--secret",
                                                 DEMO_SECRET, NULL },
                               log, &port);
    /* either secret verifies (a rotation); a repeat is a duplicate */
    assert_int_equal(rx_post(port, "evt_rx1", "email.bounced", DEMO_SECRET, now, ev), 200);
    assert_int_equal(rx_post(port, "evt_rx1", "email.bounced", "whsec_old_secret_1234567890",
                             now, ev), 200);
    /* refused: a wrong secret, no signature, a stale timestamp */
    assert_int_equal(rx_post(port, "evt_rx2", "email.sent", "whsec_wrong_secret_0000000", now, ev),
                     401);
    assert_int_equal(rx_post(port, "evt_rx3", "email.sent", NULL, now, ev), 401);
    assert_int_equal(rx_post(port, "evt_rx4", "email.sent", DEMO_SECRET, now - 301, ev), 401);
    /* a refused event delivered again properly is new, not a duplicate */
    assert_int_equal(rx_post(port, "evt_rx2", "email.sent", DEMO_SECRET, now, ev), 200);

    json_object *o = rx_stats(port);
    assert_non_null(o);
    assert_int_equal(jnum(o, "requests"), 6);
    assert_int_equal(jnum(o, "unique_events"), 2);
    assert_int_equal(jnum(o, "duplicates"), 1);
    assert_int_equal(jnum(o, "bad_signatures"), 3);
    assert_int_equal(jnum(o, "answered_2xx"), 3);
    assert_int_equal(jnum(o, "answered_error"), 3);
    assert_int_equal(jnum(o, "bytes"), 6 * (long long)strlen(ev));
    assert_int_equal(jtype(o, "email.bounced"), 2);
    assert_int_equal(jtype(o, "email.sent"), 1);
    assert_int_equal(jtype(o, "other"), 0);
    json_object_put(o);

    /* one log line per arrival */
    char *s = read_file(log, NULL), line[256];
    assert_non_null(s);
    snprintf(line, sizeof line, " arrived /hooks/a evt=evt_rx1 type=email.bounced dlv=dlv_test "
             "attempt=1 sig=ok status=200 bytes=%zu\n", strlen(ev));
    assert_non_null(strstr(s, line));
    snprintf(line, sizeof line, " arrived /hooks/a evt=evt_rx1 type=email.bounced dlv=dlv_test "
             "attempt=1 sig=ok status=200 bytes=%zu duplicate\n", strlen(ev));
    assert_non_null(strstr(s, line));
    assert_non_null(strstr(s, "evt=evt_rx3 type=email.sent dlv=dlv_test attempt=1 sig=missing "
                              "status=401"));
    assert_non_null(strstr(s, "evt=evt_rx4 type=email.sent dlv=dlv_test attempt=1 "
                              "sig=bad(too-old) status=401"));
    free(s);

    /* DELETE /stats starts over; other methods and paths are refused */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", port);
    assert_int_equal(http("DELETE", url, NULL, NULL, NULL), 200);
    o = rx_stats(port);
    assert_int_equal(jnum(o, "requests"), 0);
    assert_int_equal(jnum(o, "unique_events"), 0);
    json_object_put(o);
    assert_int_equal(rx_post(port, "evt_rx1", "email.bounced", DEMO_SECRET, now, ev), 200);
    o = rx_stats(port);
    assert_int_equal(jnum(o, "unique_events"), 1); /* the set was cleared too */
    assert_int_equal(jnum(o, "duplicates"), 0);
    json_object_put(o);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/other", port);
    assert_int_equal(http("GET", url, NULL, NULL, &body), 405);
    free(body);
    assert_exit0(pid, SIGTERM);

    /* --fail-rate 1 fails everything, --status sets the success status; no
     * --secret = signatures not checked */
    snprintf(log, sizeof log, "%s/receiver-fail.log", T.dir);
    pid = start_receiver((const char *[]){ "--port", "0", "--fail-rate", "1", "--quiet", NULL },
                         log, &port);
    assert_int_equal(rx_post(port, "evt_f", "email.sent", NULL, now, ev), 500);
    o = rx_stats(port);
    assert_int_equal(jnum(o, "answered_error"), 1);
    assert_int_equal(jnum(o, "unique_events"), 0);
    assert_false(json_object_get_boolean(json_object_object_get(o, "verifying")));
    json_object_put(o);
    assert_exit0(pid, SIGINT);
    s = read_file(log, NULL);
    assert_null(strstr(s, " arrived ")); /* --quiet */
    free(s);

    snprintf(log, sizeof log, "%s/receiver-status.log", T.dir);
    pid = start_receiver((const char *[]){ "--port", "0", "--status", "204", "--delay-ms", "200",
                                           NULL },
                         log, &port);
    long long t0 = harness_mono_ms();
    assert_int_equal(rx_post(port, "evt_s", "email.sent", NULL, now, ev), 204);
    assert_true(harness_mono_ms() - t0 >= 200);
    assert_exit0(pid, SIGTERM);

    /* usage errors: exit 2 with the option named */
    static const struct {
        const char *opt, *val, *msg;
    } bad[] = {
        { "--fail-rate", "1.5", "--fail-rate: expected a number between 0 and 1" },
        { "--port", "70000", "--port: expected an integer between 0 and 65535" },
        { "--status", "abc", "--status: expected an integer between 100 and 599" },
        { "--bind", "localhost", "--bind: \"localhost\" is not an IPv4 or IPv6 address" },
        { "--threads", "0", "--threads: expected an integer between 1 and 1024" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err = NULL;
        int rc = proc_run("psw-receiver", (const char *[]){ bad[i].opt, bad[i].val, NULL }, NULL,
                          NULL, &err, 10000);
        if (strcmp(bad[i].opt, "--bind") == 0)
            assert_int_equal(rc, 1); /* found at startup, not while parsing */
        else
            assert_int_equal(rc, 2);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s %s: stderr \"%s\", want \"%s\"", bad[i].opt, bad[i].val, err, bad[i].msg);
        free(err);
    }
}

/* ---- the compose topology, without Docker ---------------------------------------------- */

/* deploy/psw.yaml with http.allowed_networks pointed at 127.0.0.1 (where the
 * receiver listens here) instead of the compose demo network: the only line
 * changed. */
static void write_overlay(const char *path)
{
    char *y = read_file(src_path("deploy/psw.yaml"), NULL);
    assert_non_null(y);
    const char *key = "\n  allowed_networks: ";
    char *p = strstr(y, key);
    assert_non_null(p);
    assert_null(strstr(p + 1, key)); /* exactly one */
    char *eol = strchr(p + 1, '\n');
    assert_non_null(eol);
    size_t n = strlen(y) + 64;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s[127.0.0.1/32]%s", (int)(p - y), y, key, eol);
    assert_int_equal(write_file(path, out), 0);
    free(out);
    free(y);
}

static long long redis_ll(redisContext *rc, const char *cmd, const char *arg1, const char *arg2)
{
    redisReply *r = arg2 ? redisCommand(rc, "%s %s %s", cmd, arg1, arg2)
                         : redisCommand(rc, "%s %s", cmd, arg1);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    if (r)
        freeReplyObject(r);
    return v;
}

struct redis_wait {
    redisContext *rc;
    const char *cmd, *a1, *a2;
    long long want;
};

static int redis_reached(void *arg)
{
    struct redis_wait *w = arg;
    return redis_ll(w->rc, w->cmd, w->a1, w->a2) >= w->want;
}

static int run_demo(const char *cfg_path, int port, char **out)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/webhooks", port);
    setenv("PSW_CLI", proc_bin("psw"), 1);
    setenv("PSW_DEMO_URL", url, 1);
    setenv("PSW_DEMO_SECRET", DEMO_SECRET, 1);
    setenv("PSW_CONFIG", cfg_path, 1);
    int rc = run_sys("/bin/sh", (const char *[]){ src_path("deploy/demo.sh"), NULL }, out, 30000);
    unsetenv("PSW_CLI");
    unsetenv("PSW_DEMO_URL");
    unsetenv("PSW_DEMO_SECRET");
    unsetenv("PSW_CONFIG");
    return rc;
}

static void test_compose_topology(void **state)
{
    (void)state;
    struct redis_srv rs;
    const char *extra[] = { "maxmemory-policy noeviction", NULL };
    struct redis_srv_opts ro = { 1, "everysec", NULL, extra };
    struct psw_config cfg;
    char conf[700], rxlog[700], slog[700], wlog[2][700], want[128], *out = NULL, *err = NULL;
    int port;

    memset(&rs, 0, sizeof rs);
    load_deploy_config(&cfg);
    assert_int_equal(redis_srv_start(&rs, &ro), 0);
    redisContext *rc = redis_srv_connect(&rs);
    assert_non_null(rc);
    setenv("PSW_REDIS_URL", rs.url, 1); /* as compose sets it */
    snprintf(conf, sizeof conf, "%s/psw.yaml", T.dir);
    write_overlay(conf);

    /* nothing runs yet: both health checks say so */
    assert_int_equal(proc_run("psw-worker", (const char *[]){ "--config", conf, "--check", NULL },
                              NULL, &out, NULL, 10000),
                     1);
    assert_non_null(strstr(out, "unhealthy: no workers heartbeat"));
    free(out);
    assert_int_equal(proc_run("psw-scheduler",
                              (const char *[]){ "--config", conf, "--check", NULL }, NULL, &out,
                              NULL, 10000),
                     1);
    assert_non_null(strstr(out, "unhealthy: no schedulers heartbeat"));
    free(out);

    snprintf(rxlog, sizeof rxlog, "%s/topology-receiver.log", T.dir);
    snprintf(slog, sizeof slog, "%s/topology-scheduler.log", T.dir);
    pid_t rx = start_receiver((const char *[]){ "--port", "0", "--secret", DEMO_SECRET, NULL },
                              rxlog, &port);
    pid_t sched = proc_spawn("psw-scheduler", (const char *[]){ "--config", conf, NULL }, slog);
    pid_t w[2];
    for (int i = 0; i < 2; i++) {
        snprintf(wlog[i], sizeof wlog[i], "%s/topology-worker%d.log", T.dir, i);
        w[i] = proc_spawn("psw-worker", (const char *[]){ "--config", conf, NULL }, wlog[i]);
        assert_true(w[i] > 0);
    }
    assert_true(sched > 0);

    /* the compose one-shot */
    int drc = run_demo(conf, port, &out);
    if (drc != 0)
        fail_msg("deploy/demo.sh exited %d:\n%s", drc, out);
    const char *ep = strstr(out, "demo endpoint: ep_");
    assert_non_null(ep);
    char ep_id[64];
    snprintf(ep_id, sizeof ep_id, "%.*s", (int)strcspn(ep + 15, " \n"), ep + 15);
    assert_non_null(strstr(out, "8 events published, 0 duplicates, 8 deliveries"));
    free(out);

    /* every sample event arrives once, validly signed */
    struct stat_wait sw = { port, "answered_2xx", 8 };
    if (wait_until(stat_reached, &sw, 20000, 50) != 0) {
        file_tail(wlog[0], 30);
        file_tail(wlog[1], 30);
        fail_msg("the sample events did not all arrive");
    }
    json_object *o = rx_stats(port);
    assert_int_equal(jnum(o, "requests"), 8);
    assert_int_equal(jnum(o, "unique_events"), 8);
    assert_int_equal(jnum(o, "duplicates"), 0);
    assert_int_equal(jnum(o, "bad_signatures"), 0);
    for (size_t i = 0; i < NTYPES; i++)
        if (jtype(o, types[i]) != 1)
            fail_msg("%s arrived %lld times, want 1", types[i], jtype(o, types[i]));
    assert_int_equal(jtype(o, "other"), 0);
    json_object_put(o);
    struct redis_wait rw = { rc, "HGET", "psw:stats", "delivered", 8 };
    assert_int_equal(wait_until(redis_reached, &rw, 10000, 50), 0);
    assert_int_equal(redis_ll(rc, "HGET", "psw:stats", "delivered"), 8);

    /* two masters × worker.processes children heartbeat; both checks pass */
    struct redis_wait hw = { rc, "ZCARD", "psw:workers", NULL, 2LL * cfg.worker_processes };
    assert_int_equal(wait_until(redis_reached, &hw, 10000, 50), 0);
    assert_int_equal(redis_ll(rc, "ZCARD", "psw:workers", NULL), 2LL * cfg.worker_processes);
    assert_int_equal(proc_run("psw-worker", (const char *[]){ "--config", conf, "--check", NULL },
                              NULL, &out, &err, 10000),
                     0);
    snprintf(want, sizeof want, "healthy: %d live workers on this host", 2 * cfg.worker_processes);
    assert_non_null(strstr(out, want));
    free(out);
    free(err);
    assert_int_equal(proc_run("psw-scheduler",
                              (const char *[]){ "--config", conf, "--check", NULL }, NULL, &out,
                              NULL, 10000),
                     0);
    assert_non_null(strstr(out, "healthy: 1 live schedulers on this host"));
    free(out);

    /* the one-shot again (docker compose up a second time): same endpoint, new events */
    assert_int_equal(run_demo(conf, port, &out), 0);
    snprintf(want, sizeof want, "demo endpoint: %s ->", ep_id);
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(redis_ll(rc, "SCARD", "psw:account:acct_demo:endpoints", NULL), 1);
    sw.key = "unique_events";
    sw.want = 16;
    assert_int_equal(wait_until(stat_reached, &sw, 20000, 50), 0);
    o = rx_stats(port);
    assert_int_equal(jnum(o, "unique_events"), 16);
    assert_int_equal(jnum(o, "duplicates"), 0);
    assert_int_equal(jnum(o, "bad_signatures"), 0);
    json_object_put(o);

    /* SIGTERM: every process exits 0 */
    assert_exit0(w[0], SIGTERM);
    assert_exit0(w[1], SIGTERM);
    assert_exit0(sched, SIGTERM);
    assert_exit0(rx, SIGTERM);
    unsetenv("PSW_REDIS_URL");
    redisFree(rc);
    redis_srv_stop(&rs);
    psw_config_free(&cfg);
}

/* ---- make run ---------------------------------------------------------------------------- */

static long read_pid(const char *dir, const char *name)
{
    char path[800];
    snprintf(path, sizeof path, "%s/run/%s.pid", dir, name);
    char *s = read_file(path, NULL);
    long pid = s ? strtol(s, NULL, 10) : -1;
    free(s);
    return pid;
}

/* 1 when pid is running name (not a zombie, not a reused pid). */
static int runs(long pid, const char *name)
{
    char path[64], stat_path[64];
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
    char *cmd = read_file(path, &len);
    char *st = read_file(stat_path, NULL);
    int ok = 0;
    if (cmd && st) {
        for (size_t i = 0; i < len; i++) /* argv is NUL-separated */
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        const char *paren = strrchr(st, ')');
        ok = strstr(cmd, name) != NULL && paren && paren[1] == ' ' && paren[2] != 'Z';
    }
    free(cmd);
    free(st);
    return ok;
}

/* The children of ppid (from every /proc/PID/stat), into out (at most n). */
static size_t children_of(long ppid, long *out, size_t n)
{
    size_t k = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) && k < n) {
        char path[300], *st, *end;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        st = read_file(path, NULL);
        /* "pid (comm) state ppid …": comm may hold spaces, so from the last ')' */
        const char *paren = st ? strrchr(st, ')') : NULL;
        if (paren && strlen(paren) > 4 && strtol(paren + 4, NULL, 10) == ppid && paren[2] != 'Z')
            out[k++] = pid;
        free(st);
    }
    closedir(d);
    return k;
}

static void test_make_run(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char log[700], path[800], *out = NULL;
    /* worker stays 4th: its children are looked up by that index */
    const char *names[] = { "redis", "receiver", "scheduler", "worker", "api" };
    const char *progs[] = { "redis-server", "psw-receiver", "psw-scheduler", "psw-worker",
                            "psw-api" };
    long pids[16];
    const char *pid_prog[16];
    size_t np = 0;

    assert_non_null(dir);
    setenv("PSW_RUN_DIR", dir, 1);
    unsetenv("PSW_REDIS_URL");
    unsetenv("PSW_CONFIG");
    snprintf(log, sizeof log, "%s/make-run.out", T.dir);
    char *const argv[] = { "bash", (char *)src_path("scripts/run.sh"), NULL };
    long long t0 = harness_mono_ms();
    pid_t run = harness_spawn("/bin/bash", argv, log, SIGTERM);
    assert_true(run > 0);

    if (wait_file_has(log, "run.sh: running; Ctrl-C stops everything", 40000) != 0) {
        file_tail(log, 60);
        fail_msg("scripts/run.sh did not come up");
    }
    char *s = read_file(log, NULL);
    assert_non_null(strstr(s, "run.sh: 8 of 8 sample events arrived, signatures valid:"));
    for (size_t i = 0; i < NTYPES; i++) {
        char t[64];
        snprintf(t, sizeof t, " type=%s ", types[i]);
        assert_non_null(strstr(s, t));
    }
    assert_non_null(strstr(s, "psw delivery show dlv_"));
    free(s);
    fprintf(stderr, "make run: up with the demo delivered in %lld ms\n", harness_mono_ms() - t0);

    /* what it started, by the PIDs it recorded */
    assert_int_equal(read_pid(dir, "run"), (long)run);
    for (size_t i = 0; i < 5; i++) {
        long pid = read_pid(dir, names[i]);
        if (!runs(pid, progs[i]))
            fail_msg("%s.pid = %ld is not a running %s", names[i], pid, progs[i]);
        pids[np] = pid;
        pid_prog[np++] = progs[i];
    }
    long kids[8];
    size_t nk = children_of(pids[3], kids, 8);
    assert_int_equal(nk, 2); /* worker.processes of the run */
    for (size_t i = 0; i < nk; i++) {
        pids[np] = kids[i];
        pid_prog[np++] = "psw-worker";
    }
    snprintf(path, sizeof path, "%s/redis/redis.conf", dir);
    s = read_file(path, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "\nbind 127.0.0.1\n"));
    assert_non_null(strstr(s, "\nappendonly yes\n"));
    free(s);
    snprintf(path, sizeof path, "%s/redis/appendonlydir", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);

    /* a second run is refused while this one runs */
    int rc = run_sys("/bin/bash", (const char *[]){ src_path("scripts/run.sh"), NULL }, &out,
                     30000);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "already running"));
    free(out);

    /* Ctrl-C: everything stops, the script exits 0 */
    assert_int_equal(kill(run, SIGINT), 0);
    int st;
    if (proc_wait(run, 40000, &st) != 0) {
        file_tail(log, 30);
        fail_msg("scripts/run.sh did not stop within 40 s of SIGINT");
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        file_tail(log, 30);
        fail_msg("scripts/run.sh: status %#x after SIGINT, want exit 0", st);
    }
    s = read_file(log, NULL);
    assert_non_null(strstr(s, "stopping psw-api"));
    assert_non_null(strstr(s, "stopping psw-worker"));
    assert_non_null(strstr(s, "stopping redis-server"));
    assert_non_null(strstr(s, "run.sh: stopped\n"));
    free(s);
    for (size_t i = 0; i < np; i++)
        if (runs(pids[i], pid_prog[i]))
            fail_msg("%s (pid %ld) still runs after make run stopped", pid_prog[i], pids[i]);
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/run/%s.pid", dir, names[i]);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    snprintf(path, sizeof path, "%s/log/worker.log", dir);
    assert_int_equal(wait_file_has(path, "master stopped", 1), 0);
    fprintf(stderr, "make run: whole test %lld ms\n", harness_mono_ms() - t0);

    unsetenv("PSW_RUN_DIR");
    tmpdir_remove(dir);
    free(dir);
}

/* ---- main -------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    T.src = getenv("PSW_SRC") ? getenv("PSW_SRC") : ".";
    T.dir = tmpdir_new();
    snprintf(T.compose, sizeof T.compose, "%s/docker-compose.yml", T.src);
    unsetenv("PSW_CONFIG");
    unsetenv("PSW_REDIS_URL");
    return T.dir && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    tmpdir_remove(T.dir);
    free(T.dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_config),
        cmocka_unit_test(test_compose_profile_env_and_errors),
        cmocka_unit_test(test_dockerfile_lint),
        cmocka_unit_test(test_systemd_units),
        cmocka_unit_test(test_receiver),
        cmocka_unit_test(test_compose_topology),
        cmocka_unit_test(test_make_run),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
