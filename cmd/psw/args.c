/*
 * args.c — the one argument parser every psw command uses, driven by the
 * command's table of options (cli.h).
 *
 * Rules, the same for every command: the global options (--config FILE,
 * --json, --help, --version) may stand anywhere; the command words come
 * first among the non-options; the command's own options and its arguments
 * follow in any order; "--" ends the options. "--name value" and
 * "--name=value" are the same; a value that starts with "--" must use the
 * second form (so a forgotten value is reported instead of swallowing the
 * next option). An option given twice is an error, except a CLI_LIST one,
 * whose values are collected in order. Values are converted and
 * checked here (times, durations, integers and their bounds), so a mistake
 * is reported before anything connects to Redis.
 *
 * Ownership: cli->args and cli->list are heap arrays of pointers into argv
 * (main frees them).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/psw/cli.h"
#include "common/timeutil.h"

#ifndef PSW_VERSION
#define PSW_VERSION "dev"
#endif

static size_t nopts(const struct cli_command *cmd)
{
    size_t n = 0;
    while (cmd->opts && cmd->opts[n].name)
        n++;
    return n;
}

static int opt_index(const struct cli_command *cmd, const char *name, size_t len)
{
    for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++)
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int known_index(const struct cli *cli, const char *name)
{
    int i = cli->cmd ? opt_index(cli->cmd, name, strlen(name)) : -1;
    if (i < 0) {
        fprintf(stderr, "psw: internal error: option --%s is not in the table of %s\n", name,
                cli->name);
        abort();
    }
    return i;
}

int cli_has(const struct cli *cli, const char *name)
{
    return cli->given[known_index(cli, name)];
}

const char *cli_str(const struct cli *cli, const char *name)
{
    int i = known_index(cli, name);
    return cli->given[i] ? cli->str[i] : NULL;
}

long long cli_num(const struct cli *cli, const char *name, long long def)
{
    int i = known_index(cli, name);
    return cli->given[i] ? cli->num[i] : def;
}

const char *const *cli_list(const struct cli *cli, const char *name, size_t *n)
{
    int i = known_index(cli, name);
    *n = cli->given[i] ? cli->nlist : 0;
    return cli->list;
}

/* ---- help ---------------------------------------------------------------- */

static void synopsis(const struct cli_command *cmd, FILE *out)
{
    fprintf(out, "psw %s%s%s", cmd->group ? cmd->group : "", cmd->group ? " " : "", cmd->name);
    for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++) {
        const struct cli_option *o = &cmd->opts[i];
        fprintf(out, " %s--%s%s%s%s", o->required ? "" : "[", o->name, o->metavar ? " " : "",
                o->metavar ? o->metavar : "", o->required ? "" : "]");
    }
    if (cmd->args && *cmd->args)
        fprintf(out, " %s", cmd->args);
}

static void global_options(FILE *out)
{
    fprintf(out,
            "global options (anywhere on the line):\n"
            "  --config FILE   configuration file (else $PSW_CONFIG, else %s\n"
            "                  if present, else built-in defaults);\n"
            "                  PSW_REDIS_URL overrides redis.url\n"
            "  --json          machine-readable output: one JSON document on stdout\n"
            "  --print-config  print the effective configuration as YAML and exit\n"
            "  --help, -h      help (of the command when one is named)\n"
            "  --version       print the version\n",
            PSW_CONFIG_DEFAULT_PATH);
}

static void overview(const char *group, FILE *out)
{
    fprintf(out, "usage: psw [--config FILE] [--json] COMMAND [OPTIONS] [ARGS]\n\n"
                 "PostStack Webhooks: endpoints, secrets, publishing, the delivery log,\n"
                 "replay, stats and signature checks.\n\ncommands:\n");
    for (size_t i = 0; cli_commands[i]; i++) {
        const struct cli_command *c = cli_commands[i];
        char words[48];
        if (group && (!c->group || strcmp(c->group, group) != 0))
            continue;
        snprintf(words, sizeof(words), "%s%s%s", c->group ? c->group : "", c->group ? " " : "",
                 c->name);
        fprintf(out, "  %-22s %s\n", words, c->summary);
    }
    fprintf(out, "\n");
    global_options(out);
    fprintf(out, "\nexit status: 0 ok, 1 the operation failed, 2 usage or input error.\n"
                 "T (a time) is ISO 8601 (2026-11-27T15:04:05Z), \"now\", or an age like 2h.\n"
                 "Run 'psw COMMAND --help' for a command's options.\n");
}

void cli_help(const struct cli_command *cmd, const char *group, FILE *out)
{
    if (!cmd) {
        overview(group, out);
        return;
    }
    fprintf(out, "usage: ");
    synopsis(cmd, out);
    fprintf(out, "\n\n%s\n", cmd->summary);
    if (cmd->help)
        fprintf(out, "\n%s", cmd->help);
    if (nopts(cmd) > 0) {
        fprintf(out, "\noptions:\n");
        for (size_t i = 0; cmd->opts[i].name; i++) {
            const struct cli_option *o = &cmd->opts[i];
            char left[48];
            snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
            fprintf(out, "  %-22s %s%s\n", left, o->help, o->required ? " (required)" : "");
        }
    }
    fprintf(out, "\n");
    global_options(out);
}

/* ---- errors -------------------------------------------------------------- */

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cli->cmd) {
        fprintf(stderr, "usage: ");
        synopsis(cli->cmd, stderr);
        fprintf(stderr, "\nrun '%s --help' for details\n", cli->name);
    } else {
        fprintf(stderr, "run '%s --help' for the commands\n", cli->name);
    }
    return PSW_EXIT_USAGE;
}

/* ---- values -------------------------------------------------------------- */

/* Stores and checks one value. -1 to go on, else the exit status. */
static int convert(struct cli *cli, int i, const char *v)
{
    const struct cli_option *o = &cli->cmd->opts[i];
    int64_t ms;

    cli->str[i] = v;
    switch (o->type) {
    case CLI_FLAG:
    case CLI_STR:
        return -1;
    case CLI_LIST:
        cli->list[cli->nlist++] = v;
        return -1;
    case CLI_TIME:
        if (psw_time_parse_arg(v, cli->now_ms, &ms) < 0)
            return cli_usage_error(cli,
                                   "--%s: expected a time: ISO 8601 (2026-11-27T15:04:05Z), "
                                   "\"now\" or an age like 30m, 2h, 7d; got \"%s\"",
                                   o->name, v);
        cli->num[i] = ms;
        return -1;
    case CLI_DURATION:
        if (psw_duration_parse(v, &ms) < 0)
            return cli_usage_error(cli,
                                   "--%s: expected a duration like 30s, 10m, 24h or 0; got \"%s\"",
                                   o->name, v);
        cli->num[i] = ms;
        return -1;
    case CLI_INT: {
        /* strtoll alone would take " 12", "+12" and "12abc"'s prefix. */
        int digits = (v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && o->min < 0);
        char *end = NULL;
        long long n = 0;
        errno = 0;
        if (digits)
            n = strtoll(v, &end, 10);
        if (!digits || errno != 0 || *end != '\0' || n < o->min || n > o->max)
            return cli_usage_error(cli,
                                   "--%s: expected a whole number from %lld to %lld; got \"%s\"",
                                   o->name, o->min, o->max, v);
        cli->num[i] = n;
        return -1;
    }
    }
    return -1;
}

/* The command a word names: one-word commands first, else a group. */
static const struct cli_command *find_command(const char *group, const char *word,
                                              int *is_group)
{
    *is_group = 0;
    for (size_t i = 0; cli_commands[i]; i++) {
        const struct cli_command *c = cli_commands[i];
        if (group ? c->group && strcmp(c->group, group) == 0 && strcmp(c->name, word) == 0
                  : !c->group && strcmp(c->name, word) == 0)
            return c;
        if (!group && c->group && strcmp(c->group, word) == 0)
            *is_group = 1;
    }
    return NULL;
}

static void set_name(struct cli *cli, const char *group, const char *word)
{
    snprintf(cli->name, sizeof(cli->name), "psw%s%s%s%s", group ? " " : "", group ? group : "",
             word ? " " : "", word ? word : "");
}

static void list_subcommands(const char *group, FILE *out)
{
    const char *sep = "";
    for (size_t i = 0; cli_commands[i]; i++)
        if (cli_commands[i]->group && strcmp(cli_commands[i]->group, group) == 0) {
            fprintf(out, "%s%s", sep, cli_commands[i]->name);
            sep = ", ";
        }
}

/* One option argument argv[*i]. */
static int option(struct cli *cli, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *name = a + 2, *eq, *value = NULL;
    size_t len;

    if (strcmp(a, "-h") == 0) {
        cli->help = 1;
        return -1;
    }
    if (a[1] != '-')
        return cli_usage_error(cli, "unknown option \"%s\" (options are spelled --name)", a);
    eq = strchr(name, '=');
    len = eq ? (size_t)(eq - name) : strlen(name);

    if (len == 4 && strncmp(name, "json", 4) == 0) {
        if (eq)
            return cli_usage_error(cli, "--json takes no value");
        cli->json = 1;
        return -1;
    }
    if (len == 4 && strncmp(name, "help", 4) == 0) {
        cli->help = 1;
        return -1;
    }
    if (len == 7 && strncmp(name, "version", 7) == 0) {
        cli->version = 1;
        return -1;
    }
    if (len == 12 && strncmp(name, "print-config", 12) == 0) {
        if (eq)
            return cli_usage_error(cli, "--print-config takes no value");
        cli->print_config = 1;
        return -1;
    }
    int idx = cli->cmd ? opt_index(cli->cmd, name, len) : -1;
    int is_config = len == 6 && strncmp(name, "config", 6) == 0;
    if (!is_config && idx < 0) {
        if (!cli->cmd)
            return cli_usage_error(cli,
                                   "unknown option \"--%.*s\" (a command's options come after "
                                   "the command's name)",
                                   (int)len, name);
        return cli_usage_error(cli, "unknown option \"--%.*s\"", (int)len, name);
    }
    const struct cli_option *o = idx >= 0 ? &cli->cmd->opts[idx] : NULL;
    const char *metavar = o ? o->metavar : "FILE";
    if (o && o->type == CLI_FLAG) {
        if (eq)
            return cli_usage_error(cli, "--%s takes no value", o->name);
    } else if (eq) {
        value = eq + 1;
    } else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        value = argv[++*i];
    } else {
        return cli_usage_error(cli, "--%.*s needs a value (%s)%s", (int)len, name, metavar,
                               *i + 1 < argc ? "; write --name=VALUE for a value that starts "
                                               "with --"
                                             : "");
    }
    if (is_config) {
        if (*value == '\0')
            return cli_usage_error(cli, "--config: the file name must not be empty");
        if (cli->config_path)
            return cli_usage_error(cli, "--config given twice");
        cli->config_path = value;
        return -1;
    }
    if (cli->given[idx] && o->type != CLI_LIST)
        return cli_usage_error(cli, "--%s given twice", o->name);
    cli->given[idx] = 1;
    return value ? convert(cli, idx, value) : -1;
}

int cli_parse(struct cli *cli, int argc, char **argv)
{
    const char *group = NULL;
    int opts_done = 0, rc;

    set_name(cli, NULL, NULL);
    cli->args = calloc((size_t)argc + 1, sizeof(*cli->args));
    cli->list = calloc((size_t)argc + 1, sizeof(*cli->list));
    if (!cli->args || !cli->list) {
        fprintf(stderr, "psw: out of memory\n");
        return PSW_EXIT_FAIL;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (!opts_done && a[0] == '-' && a[1] != '\0') {
            if ((rc = option(cli, argc, argv, &i)) >= 0)
                return rc;
            continue;
        }
        if (cli->cmd) {
            cli->args[cli->nargs++] = a;
            continue;
        }
        int is_group;
        const struct cli_command *c = find_command(group, a, &is_group);
        if (c) {
            if (nopts(c) > CLI_MAX_OPTS) {
                fprintf(stderr, "psw: internal error: too many options for %s\n", c->name);
                abort();
            }
            cli->cmd = c;
            set_name(cli, group, a);
        } else if (is_group) {
            group = a;
            set_name(cli, group, NULL);
        } else if (group) {
            if (cli->help)
                break;
            fprintf(stderr, "%s: unknown subcommand \"%s\"; one of: ", cli->name, a);
            list_subcommands(group, stderr);
            fprintf(stderr, "\n");
            return PSW_EXIT_USAGE;
        } else {
            if (cli->help)
                break;
            return cli_usage_error(cli, "unknown command \"%s\"", a);
        }
    }
    if (cli->version) {
        printf("psw %s\n", PSW_VERSION);
        return PSW_EXIT_OK;
    }
    if (cli->help) {
        cli_help(cli->cmd, group, stdout);
        return PSW_EXIT_OK;
    }
    if (cli->print_config) {
        char err[1024];
        if (psw_config_load(&cli->cfg, cli->config_path, err, sizeof(err)) < 0) {
            fprintf(stderr, "psw: configuration: %s\n", err);
            return PSW_EXIT_USAGE;
        }
        psw_config_print(&cli->cfg, stdout);
        return PSW_EXIT_OK;
    }
    if (!cli->cmd) {
        if (group) {
            fprintf(stderr, "%s: missing subcommand; one of: ", cli->name);
            list_subcommands(group, stderr);
            fprintf(stderr, "\n");
            return PSW_EXIT_USAGE;
        }
        return cli_usage_error(cli, "missing command");
    }
    if (cli->nargs < (size_t)cli->cmd->min_args)
        return cli_usage_error(cli, "missing argument %s", cli->cmd->args);
    if (cli->cmd->max_args >= 0 && cli->nargs > (size_t)cli->cmd->max_args)
        return cli_usage_error(cli, "unexpected argument \"%s\"", cli->args[cli->cmd->max_args]);
    for (size_t i = 0; cli->cmd->opts && cli->cmd->opts[i].name; i++)
        if (cli->cmd->opts[i].required && !cli->given[i])
            return cli_usage_error(cli, "missing --%s %s", cli->cmd->opts[i].name,
                         cli->cmd->opts[i].metavar ? cli->cmd->opts[i].metavar : "");
    return -1;
}
