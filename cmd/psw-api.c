/*
 * psw-api — the HTTP API (docs/api.md): the operations of `psw` over HTTP,
 * for the platform (admin tokens) and its customers (account tokens). The
 * server is api/; this is the thin main: --config, --print-config, --check
 * like the other daemons; SIGTERM/SIGINT stop it gracefully.
 */
#include <stdlib.h>

#include "api/server.h"
#include "common/daemon.h"

static volatile sig_atomic_t stop;

static int run(struct psw_config *cfg, const char *config_path)
{
    (void)config_path;
    psw_daemon_signals(&stop, NULL);
    int rc = psw_api_run(cfg, &stop);
    psw_config_free(cfg);
    free(cfg);
    return rc;
}

static const struct psw_daemon_info info = {
    "psw-api", "api",
    "Serves the HTTP API, the dashboard and the metrics on api.listen.",
    "exit 0 when GET /readyz on api.listen answers 200",
    psw_api_check, run,
};

int main(int argc, char **argv)
{
    return psw_daemon_main(&info, argc, argv);
}
