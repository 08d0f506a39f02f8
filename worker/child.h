/*
 * child.h — one worker child: claims deliveries, keeps up to
 * worker.concurrency HTTP requests in flight on one libcurl multi handle,
 * and records each outcome atomically (SPEC §2, §6).
 */
#ifndef PSW_CHILD_H
#define PSW_CHILD_H

#include <signal.h>

#include "common/config.h"

/* Exit status meaning "configuration error, do not respawn". */
#define PSW_EXIT_CONFIG 78

/* Runs until *stop is set, then finishes in-flight requests within
 * worker.shutdown_grace, hands back what is left, and returns the process
 * exit status. Call in a freshly forked child: it opens its own Redis
 * connections and curl handles. */
int psw_child_run(const struct psw_config *cfg, volatile sig_atomic_t *stop);

#endif
