/*
 * daemon.h — what psw-scheduler and psw-worker share before their loops:
 * the command line (--config, --print-config, --check, --help, --version),
 * loading the configuration (errors name file:line:col and stop the program
 * before it forks), logging setup, and the stop/reload signal flags.
 */
#ifndef PSW_DAEMON_H
#define PSW_DAEMON_H

#include <signal.h>

#include "common/config.h"

/* Exit statuses of the daemons. */
#define PSW_EXIT_OK 0
#define PSW_EXIT_FAIL 1
#define PSW_EXIT_USAGE 2
/* PSW_EXIT_CONFIG (78, EX_CONFIG) in worker/child.h: a bad configuration;
 * supervisors should not restart on it. */

struct psw_daemon_args {
    const char *config_path; /* NULL = the default resolution */
    int print_config;
    int check;
};

struct psw_daemon_info {
    const char *prog;    /* "psw-worker" */
    const char *role;    /* "master", "scheduler": the log role */
    const char *summary; /* one line for --help */
    const char *check_help; /* what --check verifies */
    /* --check: the exit status. */
    int (*check)(const struct psw_config *cfg);
    /* The program's work; takes ownership of cfg (frees it). config_path is
     * what --config named (NULL = the default resolution), for reloads. */
    int (*run)(struct psw_config *cfg, const char *config_path);
};

/* The whole main of a daemon: parses argv, loads the configuration, then
 * --print-config, --check (info->check) or info->run. Returns the exit
 * status (78 on a configuration error). */
int psw_daemon_main(const struct psw_daemon_info *info, int argc, char **argv);

/* Parses argv. Returns -1 to continue, or an exit status after printing
 * help / version / a usage error. */
int psw_daemon_parse(const struct psw_daemon_info *info, int argc, char **argv,
                     struct psw_daemon_args *out);

/* Loads the config into a new heap struct (caller owns; free with
 * psw_config_free + free) and sets up logging. NULL after printing the error. */
struct psw_config *psw_daemon_config(const struct psw_daemon_info *info,
                                     const struct psw_daemon_args *args);

/* Installs flag-setting handlers: TERM/INT → *stop, HUP → *reload (may be
 * NULL: then HUP is ignored), and ignores SIGPIPE. */
void psw_daemon_signals(volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/* --check: exits 0 when a heartbeat of this kind ("workers", "schedulers")
 * newer than max_age_ms exists in Redis for this host (any host if
 * any_host), else 1, printing why. */
int psw_daemon_check(const struct psw_config *cfg, const char *which, long long max_age_ms,
                     int any_host);

#endif
