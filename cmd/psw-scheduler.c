/*
 * psw-scheduler — promotes due retries, recovers dead workers' work and
 * trims expired history (scheduler/scheduler.c). Run one or several.
 */
#include "common/daemon.h"
#include "scheduler/scheduler.h"

static volatile sig_atomic_t stop, reload;

static int check(const struct psw_config *cfg)
{
    return psw_daemon_check(cfg, "schedulers", cfg->scheduler_tick_ms * 3 + 5000, 0);
}

static int run(struct psw_config *cfg, const char *config_path)
{
    psw_daemon_signals(&stop, &reload);
    return psw_scheduler_run(cfg, config_path, &stop, &reload); /* takes cfg */
}

static const struct psw_daemon_info info = {
    "psw-scheduler", "scheduler",
    "Moves due deliveries to the ready queue, recovers dead workers' work, trims history.",
    "exit 0 when a scheduler on this host ticked within 3 x scheduler.tick + 5s",
    check, run,
};

int main(int argc, char **argv)
{
    return psw_daemon_main(&info, argc, argv);
}
