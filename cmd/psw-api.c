/*
 * psw-api — the HTTP API (docs/api.md): the operations of `psw` over HTTP,
 * for the platform (admin tokens) and its customers (account tokens). The
 * server is api/; this is the thin main: --config, --print-config, --check
 * like the other daemons; SIGTERM/SIGINT stop it gracefully.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/server.h"
#include "common/daemon.h"
#include "common/log.h"

static const struct psw_daemon_info info = {
    "psw-api", "api",
    "Serves the HTTP API, the dashboard and the metrics on api.listen.",
    "exit 0 when GET /readyz on api.listen answers 200",
};

static volatile sig_atomic_t stop;

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
        rc = psw_api_check(cfg);
    } else {
        psw_daemon_signals(&stop, NULL);
        rc = psw_api_run(cfg, &stop);
    }
    psw_config_free(cfg);
    free(cfg);
    return rc;
}
