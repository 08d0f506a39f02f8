/*
 * psw-worker — the worker master: forks worker.processes children that
 * deliver webhooks (worker/master.c, worker/child.c).
 */
#include <stdlib.h>

#include <curl/curl.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/secrets.h"
#include "worker/child.h"
#include "worker/master.h"

static int check(const struct psw_config *cfg)
{
    return psw_daemon_check(cfg, "workers", cfg->scheduler_worker_timeout_ms, 0);
}

static int run(struct psw_config *cfg, const char *config_path)
{
    /* The keys are checked (and the plain-text warning given) once, before
     * any fork; each child loads them again for itself. */
    char err[1024];
    if (psw_secrets_startup(cfg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        psw_config_free(cfg);
        free(cfg);
        return PSW_EXIT_CONFIG;
    }
    /* Before any fork: OpenSSL and libcurl set up once, inherited. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = psw_master_run(cfg, config_path); /* takes cfg */
    curl_global_cleanup();
    return rc;
}

static const struct psw_daemon_info info = {
    "psw-worker", "master",
    "Delivers webhooks: a master process and worker.processes children.",
    "exit 0 when a worker child on this host heartbeated within scheduler.worker_timeout",
    check, run,
};

int main(int argc, char **argv)
{
    return psw_daemon_main(&info, argc, argv);
}
