/*
 * psw-worker — the worker master: forks worker.processes children that
 * deliver webhooks (worker/master.c, worker/child.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/secrets.h"
#include "worker/child.h"
#include "worker/master.h"

static const struct psw_daemon_info info = {
    "psw-worker", "master",
    "Delivers webhooks: a master process and worker.processes children.",
    "exit 0 when a worker child on this host heartbeated within scheduler.worker_timeout",
};

int main(int argc, char **argv)
{
    struct psw_daemon_args args;
    int rc = psw_daemon_parse(&info, argc, argv, &args);
    if (rc >= 0)
        return rc;
    struct psw_config *cfg = psw_daemon_config(&info, &args);
    if (!cfg)
        return 78;
    if (args.print_config) {
        psw_config_print(cfg, stdout);
        rc = 0;
    } else if (args.check) {
        rc = psw_daemon_check(cfg, "workers", cfg->scheduler_worker_timeout_ms, 0);
    } else {
        /* The keys are checked (and the plain-text warning given) once,
         * before any fork; each child loads them again for itself. */
        char err[1024];
        if (psw_secrets_startup(cfg, err, sizeof(err)) < 0) {
            log_error("%s", err);
            psw_config_free(cfg);
            free(cfg);
            return PSW_EXIT_CONFIG;
        }
        /* Before any fork: OpenSSL and libcurl set up once, inherited. */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = psw_master_run(cfg, args.config_path); /* takes cfg */
        curl_global_cleanup();
        return rc;
    }
    psw_config_free(cfg);
    free(cfg);
    return rc;
}
