/*
 * scheduler.h — the psw-scheduler loop (docs/architecture.md): promotes due retries,
 * recovers the work of dead worker children, trims expired history. Any
 * number may run against one Redis: every step is one atomic Lua script.
 */
#ifndef PSW_SCHEDULER_H
#define PSW_SCHEDULER_H

#include <signal.h>

#include "common/config.h"

/* Runs until *stop is set. *reload, when set, makes it load config_path
 * again (validated first; a bad file keeps the running config) and clears
 * it. Takes ownership of *cfg. Returns the exit status. */
int psw_scheduler_run(struct psw_config *cfg, const char *config_path,
                      volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
