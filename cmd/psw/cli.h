/*
 * cli.h — what the files of the psw command line share: the command and
 * option tables (args.c parses argv against them), the state of one
 * invocation (struct cli), and the output helpers (output.c).
 *
 * Every command is a struct cli_command: its words ("endpoint", "create"),
 * its positional arguments, a table of its options and a run function. The
 * parser checks everything the table can express (unknown options, missing
 * values, numbers, times, durations, required options, argument counts)
 * before run is called, so run functions only combine values and call the
 * library. Run functions return the exit status: PSW_EXIT_OK (0),
 * PSW_EXIT_FAIL (1, the operation failed) or PSW_EXIT_USAGE (2, usage or
 * input error), always with a message on stderr when not 0.
 *
 * Ownership: struct cli borrows argv; main owns cfg and ctx and closes them.
 * The symbols here are the program's own (cli_ prefix), not libpsw's.
 */
#ifndef PSW_CLI_H
#define PSW_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/ctx.h"
#include "common/daemon.h" /* PSW_EXIT_OK, PSW_EXIT_FAIL, PSW_EXIT_USAGE */
#include "common/timeutil.h" /* PSW_ISO_SIZE */

struct json_object;

enum cli_type {
    CLI_FLAG,     /* no value */
    CLI_STR,      /* any text */
    CLI_TIME,     /* ISO 8601, "now" or an age like 2h: num = unix ms */
    CLI_DURATION, /* 250ms, 5s, 1h30m, 0: num = ms */
    CLI_INT,      /* decimal integer in [min, max]: num */
    CLI_LIST,     /* any text, repeatable: cli_list (one such option per command) */
};

struct cli_option {
    const char *name;    /* without the dashes: "account" */
    enum cli_type type;
    const char *metavar; /* "A", "URL", "T" (for help and messages) */
    int required;
    long long min, max;  /* CLI_INT bounds */
    const char *field;   /* the library's name in messages ("account_id"); NULL = name */
    const char *help;
};

#define CLI_MAX_OPTS 16

struct cli;

struct cli_command {
    const char *group;   /* "endpoint", or NULL for a one-word command */
    const char *name;    /* "create" */
    const char *args;    /* positional synopsis: "ID", "[FILE|-]", "" */
    int min_args, max_args; /* max_args -1 = no limit */
    int needs_redis;     /* main opens the context before run */
    const char *summary; /* one line */
    const char *help;    /* more text for --help, or NULL */
    const struct cli_option *opts; /* ends with { NULL } */
    int (*run)(struct cli *cli);
};

struct cli {
    const struct cli_command *cmd;
    const char *config_path;  /* --config, NULL = default resolution */
    int json;                 /* --json */
    int help, version;        /* --help / --version seen */
    int print_config;         /* --print-config */
    int64_t now_ms;           /* one clock reading for every T of the invocation */
    char name[64];            /* "psw endpoint create", for messages */
    /* option values, indexed like cmd->opts */
    int given[CLI_MAX_OPTS];
    const char *str[CLI_MAX_OPTS];
    long long num[CLI_MAX_OPTS];
    /* positional arguments (borrowed from argv) */
    const char **args;
    size_t nargs;
    /* the values of the command's CLI_LIST option, in order (borrowed) */
    const char **list;
    size_t nlist;
    struct psw_config cfg;
    struct psw_ctx ctx;
};

/* ---- commands (one table per file) ------------------------------------ */

extern const struct cli_command cli_endpoint_create, cli_endpoint_list, cli_endpoint_show,
    cli_endpoint_update, cli_endpoint_delete, cli_endpoint_enable, cli_endpoint_disable,
    cli_endpoint_rotate;                                        /* endpoint.c */
extern const struct cli_command cli_publish;                    /* publish.c */
extern const struct cli_command cli_deliveries, cli_delivery_show; /* deliveries.c */
extern const struct cli_command cli_replay;                     /* replay.c */
extern const struct cli_command cli_stats, cli_queue, cli_alerts; /* stats.c */
extern const struct cli_command cli_verify;                     /* verify.c */
extern const struct cli_command cli_secrets_status, cli_secrets_rekey; /* secrets.c */
extern const struct cli_command cli_token_create, cli_token_list, cli_token_revoke,
    cli_audit;                                                  /* token.c */
extern const struct cli_command cli_shard;                      /* shard.c */
extern const struct cli_command cli_migrate_endpoints;          /* migrate.c */

/* Every command in help order, ends with NULL (main.c). */
extern const struct cli_command *const cli_commands[];

/* ---- args.c ------------------------------------------------------------ */

/* Parses argv (argv[0] excluded) into cli: global options anywhere, the
 * command words, then the command's options and arguments in any order;
 * "--" ends options. Returns -1 to go on (cli->cmd is set unless help or
 * version was asked for without a command), or an exit status after
 * printing help, the version or a usage error. */
int cli_parse(struct cli *cli, int argc, char **argv);

/* Values of the current command's options, by name. A name the command does
 * not have is a programming error (abort). */
int cli_has(const struct cli *cli, const char *name);
const char *cli_str(const struct cli *cli, const char *name);    /* NULL = not given */
long long cli_num(const struct cli *cli, const char *name, long long def);
/* The values of a CLI_LIST option (*n = 0 when not given). */
const char *const *cli_list(const struct cli *cli, const char *name, size_t *n);

/* Prints the help of cmd (NULL = the overview of every command) to out. */
void cli_help(const struct cli_command *cmd, const char *group, FILE *out);

/* "psw <command>: <message>" on stderr, then the command's synopsis and a
 * pointer to --help. Returns PSW_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- output.c ---------------------------------------------------------- */

/* "psw <command>: <message>" on stderr; returns the exit status for a
 * library return code (PSW_EINVAL → 2, others → 1). A message that starts
 * with the library's name of one of the command's options ("url: …",
 * "account_id: …") is shown with the option instead ("--url: …"). */
int cli_fail(const struct cli *cli, int rc, const char *msg);

/* Prints o as JSON (JSON_C_TO_STRING_PRETTY, slashes not escaped) and a
 * newline, then releases it. NULL (allocation failure) prints an error and
 * returns PSW_EXIT_FAIL; otherwise PSW_EXIT_OK. */
int cli_print_json(const struct cli *cli, struct json_object *o);

/* o in the same form, as a string that lives as long as o (NULL on failure). */
const char *cli_json_string(struct json_object *o);

/* A library JSON document for people: an object's scalar members as
 * key/value lines, its arrays of objects as tables (columns = the keys of
 * the first element); a top-level array as one table. null shows as "-". */
void cli_print_human(struct json_object *o);

/* Makes stderr, and stdout when human_stdout (not --json), show control
 * characters escaped (common/termsafe.h), for everything printed after.
 * cli_safe_streams_close() writes what is buffered and restores them;
 * -1 when that write failed. */
int cli_safe_streams(int human_stdout);
int cli_safe_streams_close(void);

/* Times for people: "2026-11-27 15:04:05" (UTC) / full ISO with ms; "-" for 0. */
void cli_time_short(long long ms, char *out, size_t n);
void cli_time_long(long long ms, char *out, size_t n);

/* s cut to at most max characters (UTF-8 aware, "…" at the cut), control
 * characters shown as spaces. "-" for NULL or "". */
void cli_shorten(const char *s, size_t max, char *out, size_t n);

/* "key: value" lines with the values aligned in one column. */
void cli_kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A table with column widths from its contents; rows are copied. */
struct cli_table {
    size_t ncols, nrows, cap;
    const char *const *headers;
    char **cells; /* nrows * ncols */
};
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers);
/* Adds one row of ncols strings (NULL shows as "-"). 0, or -1 out of memory. */
int cli_table_add(struct cli_table *t, const char *const *row);
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* Reads a whole stream. Heap buffer (NUL-terminated, *len without it), or
 * NULL with errno set. */
char *cli_read_all(FILE *in, size_t *len);

#endif
