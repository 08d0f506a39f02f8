/*
 * config.h — the effective configuration of every program.
 *
 * One table of descriptors in config.c (name, type, default, bounds, help)
 * drives YAML loading, defaults, validation and --print-config. The YAML file
 * is a nested mapping ("redis: {url: …}" is the key "redis.url").
 *
 * Ownership: strings inside struct psw_config are heap copies owned by the
 * struct; psw_config_free() releases them. A struct must start zeroed
 * (struct psw_config c = {0}) or have been filled by this module: loading
 * frees what it held. Loading is all-or-nothing: on error *cfg is unchanged,
 * so a failed SIGHUP reload keeps the running configuration.
 */
#ifndef PSW_CONFIG_H
#define PSW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PSW_MAX_SCHEDULE 32
#define PSW_MAX_NETWORKS 64
#define PSW_MAX_SENTINELS 16
#define PSW_CONFIG_DEFAULT_PATH "/etc/psw/psw.yaml"

struct psw_config {
    /* redis */
    char   *redis_url;                  /* redis.url  "redis://127.0.0.1:6379/0" */
    char   *redis_prefix;               /* redis.prefix  "psw:" */
    int64_t redis_connect_timeout_ms;   /* redis.connect_timeout  2s */
    int64_t redis_command_timeout_ms;   /* redis.command_timeout  10s */
    char   *redis_sentinels[PSW_MAX_SENTINELS]; /* redis.sentinels  [] (host:port each) */
    size_t  redis_sentinels_n;
    char   *redis_sentinel_master;      /* redis.sentinel_master  "" */
    char   *redis_sentinel_password;    /* redis.sentinel_password  "" */
    int     redis_min_replicas_acked;   /* redis.min_replicas_acked  0 = no WAIT */
    int64_t redis_min_replicas_timeout_ms; /* redis.min_replicas_timeout  1s */
    bool    redis_cluster;              /* redis.cluster  false */
    int     redis_shards;               /* redis.shards  16 (with redis.cluster only) */

    /* worker */
    int     worker_processes;           /* worker.processes  0 = number of CPUs */
    int     worker_concurrency;         /* worker.concurrency  64 */
    int64_t worker_shutdown_grace_ms;   /* worker.shutdown_grace  30s */
    int64_t worker_heartbeat_ms;        /* worker.heartbeat  1s */
    int     worker_claim_batch;         /* worker.claim_batch  64 */

    /* http */
    int64_t http_connect_timeout_ms;    /* http.connect_timeout  5s */
    int64_t http_timeout_ms;            /* http.timeout  15s */
    int     http_max_response_bytes;    /* http.max_response_bytes  4096 */
    int     http_max_record_bytes;      /* http.max_record_bytes  32768 */
    char   *http_source_interface;      /* http.source_interface  "" */
    char   *http_proxy;                 /* http.proxy  "" */
    char   *http_no_proxy;              /* http.no_proxy  "" */
    char   *http_ca_file;               /* http.ca_file  "" */
    bool    http_allow_private_networks; /* http.allow_private_networks  false */
    char   *http_allowed_networks[PSW_MAX_NETWORKS]; /* http.allowed_networks  [] */
    size_t  http_allowed_networks_n;

    /* retry */
    int64_t retry_schedule_ms[PSW_MAX_SCHEDULE]; /* retry.schedule  1s,5s,30s,2m,10m,1h,6h,24h */
    size_t  retry_schedule_n;
    int64_t retry_max_age_ms;           /* retry.max_age  24h */

    /* endpoint */
    int     endpoint_disable_after_failures; /* endpoint.disable_after_failures  20 */
    int     endpoint_max_in_flight;     /* endpoint.max_in_flight  512 (0 = no cap) */
    int     endpoint_min_in_flight;     /* endpoint.min_in_flight  4 */
    bool    endpoint_adaptive_in_flight; /* endpoint.adaptive_in_flight  true */

    /* signing */
    int64_t signing_rotation_grace_ms;  /* signing.rotation_grace  24h */

    /* retention */
    int     retention_days;             /* retention.days  30 */

    /* scheduler */
    int64_t scheduler_tick_ms;          /* scheduler.tick  100ms */
    int64_t scheduler_worker_timeout_ms; /* scheduler.worker_timeout  30s */
    int     scheduler_batch;            /* scheduler.batch  1000 */
    int     scheduler_max_recoveries;   /* scheduler.max_recoveries  3 */

    /* log */
    int     log_level;                  /* log.level  "info" (enum psw_log_level) */
    int     log_format;                 /* log.format  "text" (enum psw_log_format) */

    /* alerts */
    char   *alerts_webhook_url;         /* alerts.webhook_url  "" */

    /* limits */
    int     limits_max_event_bytes;     /* limits.max_event_bytes  262144 */
    int     limits_max_json_depth;      /* limits.max_json_depth  16 */
    int     limits_max_url_length;      /* limits.max_url_length  2048 */
    int     limits_max_endpoints_per_account; /* limits.max_endpoints_per_account  100 */

    /* secrets */
    char   *secrets_key_file;           /* secrets.key_file  "" */
    char   *secrets_previous_key_file;  /* secrets.previous_key_file  "" */

    /* api (psw-api, docs/api.md) */
    char   *api_listen;                 /* api.listen  "127.0.0.1:8080" */
    char   *api_public_url;             /* api.public_url  "" */
    int     api_max_body_bytes;         /* api.max_body_bytes  10485760 */
    int     api_max_batch;              /* api.max_batch  1000 */
    int     api_rate_limit;             /* api.rate_limit  100 requests/s per token; 0 = none */
    int     api_max_header_bytes;       /* api.max_header_bytes  16384 */
    int64_t api_connection_timeout_ms;  /* api.connection_timeout  30s */
    int     api_threads;                /* api.threads  4 */
    int64_t api_session_ttl_ms;         /* api.session_ttl  12h */
    char   *api_metrics_token;          /* api.metrics_token  "" */

    /* where the values came from, for messages: the file path, or "" */
    char   *source_path;
};

/* Fills cfg with the built-in defaults (worker.processes resolved to the CPU
 * count). Returns 0, or -1 on allocation failure. */
int psw_config_defaults(struct psw_config *cfg);

/* Loads the configuration the way every program does:
 *   path (from --config) if not NULL, else $PSW_CONFIG if set, else
 *   /etc/psw/psw.yaml if it exists, else only the defaults;
 * then PSW_REDIS_URL overrides redis.url. An explicitly named file that does
 * not exist is an error. On error returns -1 and err holds
 * "FILE:LINE:COL: message" (or "FILE: message" when no position applies). */
int psw_config_load(struct psw_config *cfg, const char *path, char *err, size_t errlen);

/* Applies one YAML file on top of what cfg holds. Same error form. */
int psw_config_load_file(struct psw_config *cfg, const char *path, char *err, size_t errlen);

/* Same, from a string (name is used in messages). For tests and fuzzing. */
int psw_config_load_string(struct psw_config *cfg, const char *yaml, size_t len,
                           const char *name, char *err, size_t errlen);

/* Writes the effective configuration as YAML that psw_config_load_file
 * accepts, one commented key per descriptor. Secrets in URLs are masked. */
void psw_config_print(const struct psw_config *cfg, FILE *out);

void psw_config_free(struct psw_config *cfg);

/* endpoint.max_in_flight as the scripts take it (common/lua/_prelude.lua,
 * parse_cap): "N" for a fixed cap (0 = none), "N/F" for an adaptive limit
 * between the floor F (endpoint.min_in_flight, at most N) and N. */
void psw_config_cap(const struct psw_config *cfg, char *out, size_t n);

#endif
