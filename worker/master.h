/*
 * master.h — the psw-worker master process: forks worker.processes children,
 * respawns those that die (handing back a dead child's in-flight work at
 * once), forwards stop requests, reloads on SIGHUP. It never makes HTTP
 * requests; its only Redis call is that hand-back.
 */
#ifndef PSW_MASTER_H
#define PSW_MASTER_H

#include "common/config.h"

/* Runs until SIGTERM/SIGINT (then until every child has exited, killing
 * those still alive worker.shutdown_grace + 5 s later). config_path is what
 * SIGHUP reloads (NULL = the default resolution). Takes ownership of *cfg
 * (replaced on reload, freed at the end). Returns the exit status: 0, or
 * PSW_EXIT_CONFIG when a child reported a configuration error. */
int psw_master_run(struct psw_config *cfg, const char *config_path);

#endif
