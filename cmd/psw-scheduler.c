/*
 * psw-scheduler — promotes due retries, recovers dead workers' work and
 * trims expired history (scheduler/scheduler.c). Run one or several.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/daemon.h"
#include "scheduler/scheduler.h"

static const struct psw_daemon_info info = {
    "psw-scheduler", "scheduler",
    "Moves due deliveries to the ready queue, recovers dead workers' work, trims history.",
    "exit 0 when a scheduler on this host ticked within 3 x scheduler.tick + 5s",
};

static volatile sig_atomic_t stop, reload;

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
        rc = psw_daemon_check(cfg, "schedulers", cfg->scheduler_tick_ms * 3 + 5000, 0);
    } else {
        psw_daemon_signals(&stop, &reload);
        return psw_scheduler_run(cfg, args.config_path, &stop, &reload); /* takes cfg */
    }
    psw_config_free(cfg);
    free(cfg);
    return rc;
}
