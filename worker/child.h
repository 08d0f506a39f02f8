/*
 * child.h — one worker child: claims deliveries, keeps up to
 * worker.concurrency HTTP requests in flight on one libcurl multi handle,
 * and records each outcome atomically (SPEC §2, §6).
 */
#ifndef PSW_CHILD_H
#define PSW_CHILD_H

#include <signal.h>
#include <stddef.h>

#include "common/config.h"

/* Exit status meaning "configuration error, do not respawn". */
#define PSW_EXIT_CONFIG 78

/* Random bytes that, with the host name and the pid, make a child's worker
 * id. The master draws them before the fork, so it knows the id of every
 * child it has (to hand back a dead child's work at once). */
#define PSW_WORKER_TAG_SIZE 3

/* Writes the worker id "<host>:<pid>:<6 hex of tag>" into out[n]. */
void psw_worker_id(char *out, size_t n, long pid, const unsigned char tag[PSW_WORKER_TAG_SIZE]);

/* Runs until *stop is set, then finishes in-flight requests within
 * worker.shutdown_grace, hands back what is left, and returns the process
 * exit status. Call in a freshly forked child: it opens its own Redis
 * connections and curl handles. Its worker id is psw_worker_id(getpid(), tag). */
int psw_child_run(const struct psw_config *cfg, volatile sig_atomic_t *stop,
                  const unsigned char tag[PSW_WORKER_TAG_SIZE]);

#endif
