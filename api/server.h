/*
 * server.h — psw-api's HTTP server (api/server.c): libmicrohttpd with a
 * pool of api.threads epoll threads, each with its own Redis connection.
 */
#ifndef PSW_API_SERVER_H
#define PSW_API_SERVER_H

#include <signal.h>

#include "common/config.h"

/* Serves until *stop is set (SIGTERM/SIGINT), then stops taking
 * connections, lets requests in progress finish and returns 0; 1 when the
 * server could not start (message logged). */
int psw_api_run(const struct psw_config *cfg, volatile sig_atomic_t *stop);

/* --check: 0 when GET /readyz on api.listen answers 200, else 1 (says why). */
int psw_api_check(const struct psw_config *cfg);

/* Splits api.listen ("host:port", "[v6]:port", ":port") — 0 or -1 + err. */
int psw_api_listen_parse(const char *listen, char *host, size_t hn, int *port, char *err,
                         size_t errlen);

#endif
