/*
 * main.c - the sluice command line.
 *
 *   sluice run FILE          run a pipeline (long-running service)
 *   sluice validate FILE     check a definition; prints "ok"
 *   sluice explain FILE      print the plan
 *   sluice demo              the whole path on a laptop
 *   sluice kafka-mock ...    embedded Kafka (librdkafka mock cluster)
 *   sluice produce ...       load generator for topics
 *   sluice keygen            a CurveZMQ key pair for replication, as JSON
 *
 * Exit codes: 0 ok, 2 bad usage or bad definition, 1 runtime failure.
 */
#include "connector.h"
#include "definition.h"
#include "engine.h"
#include "kafka.h"
#include "log.h"
#include "registry.h"
#include "replication.h"
#include "service.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SL_EXIT_OK      0
#define SL_EXIT_RUNTIME 1
#define SL_EXIT_USAGE   2

typedef struct sl_command {
    const char *name;
    const char *args;
    const char *summary;
    const char *help;
    int (*run)(int argc, char **argv);
} sl_command;

static const sl_command *sl__find_command(const char *name);
static void sl__usage(FILE *out);

/* ---- signals ------------------------------------------------------------ */

static sl_engine *volatile sl__running_engine;
static volatile sig_atomic_t sl__signals;

static void sl__on_signal(int sig)
{
    (void)sig;
    if (++sl__signals >= 2)
        _exit(130); /* second signal: exit at once */
    if (sl__running_engine)
        sl_engine_stop(sl__running_engine);
}

static void sl__install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sl__on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- common option parsing ------------------------------------------------ */

/* Consumes global options (--log-level L) anywhere in argv; returns the
 * new argc. Returns -1 after printing an error. */
static int sl__global_options(int argc, char **argv)
{
    int out = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--log-level") == 0 || strncmp(argv[i], "--log-level=", 12) == 0) {
            const char *v = argv[i][11] == '=' ? argv[i] + 12 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || sl_log_set_level_name(v) != SL_OK) {
                fprintf(stderr, "sluice: --log-level takes debug, info, warn, error or off\n");
                return -1;
            }
            continue;
        }
        argv[out++] = argv[i];
    }
    return out;
}

static int sl__wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static int sl__load(const char *path, sl_def **def)
{
    char err[1024];
    if (sl_def_load(path, def, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "%s\n", err);
        return SL_EXIT_USAGE;
    }
    return SL_EXIT_OK;
}

static int sl__one_file(const char *cmd, int argc)
{
    if (argc != 2) {
        fprintf(stderr, "sluice %s: expected exactly one definition file (see sluice %s --help)\n",
                cmd, cmd);
        return 0;
    }
    return 1;
}

/* ---- commands ----------------------------------------------------------- */

static int sl__cmd_validate(int argc, char **argv)
{
    if (!sl__one_file("validate", argc))
        return SL_EXIT_USAGE;
    sl_def *def;
    int rc = sl__load(argv[1], &def);
    if (rc != SL_EXIT_OK)
        return rc;
    sl_def_free(def);
    printf("ok\n");
    return SL_EXIT_OK;
}

static int sl__cmd_explain(int argc, char **argv)
{
    if (!sl__one_file("explain", argc))
        return SL_EXIT_USAGE;
    sl_def *def;
    int rc = sl__load(argv[1], &def);
    if (rc != SL_EXIT_OK)
        return rc;
    sl_def_explain(def, stdout);
    sl_def_free(def);
    return SL_EXIT_OK;
}

/* Runs a loaded definition to completion. Used by run and the demo. */
int sl_run_definition(sl_def *def, int status_interval_ms);
int sl_run_definition(sl_def *def, int status_interval_ms)
{
    char err[1024];
    sl_engine_options opt = {.status_interval_ms = status_interval_ms, .summary = 1};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "%s: %s\n", def->file, err);
        sl_summary_print_failed_start(def, "setup", err, stderr);
        return SL_EXIT_RUNTIME;
    }
    sl_service *svc = sl_service_start(e, def, err, sizeof(err));
    if (!svc) {
        fprintf(stderr, "%s: http: %s\n", def->file, err);
        sl_engine_free(e);
        sl_summary_print_failed_start(def, "http", err, stderr);
        return SL_EXIT_RUNTIME;
    }
    sl__running_engine = e;
    sl__install_signals();
    int rc = sl_engine_run(e);
    sl__running_engine = NULL;
    sl_service_stop(svc);
    sl_engine_free(e);
    return rc ? SL_EXIT_RUNTIME : SL_EXIT_OK;
}

static int sl__cmd_run(int argc, char **argv)
{
    int status_ms = isatty(STDERR_FILENO) ? 1000 : 0;
    int out = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--status") == 0) {
            status_ms = 1000;
            continue;
        }
        if (strcmp(argv[i], "--no-status") == 0) {
            status_ms = 0;
            continue;
        }
        argv[out++] = argv[i];
    }
    argc = out;
    if (!sl__one_file("run", argc))
        return SL_EXIT_USAGE;
    sl_def *def;
    int rc = sl__load(argv[1], &def);
    if (rc != SL_EXIT_OK)
        return rc;
    rc = sl_run_definition(def, status_ms);
    sl_def_free(def);
    return rc;
}

/* Prints a new key pair: {"public_key": "<Z85>", "secret_key": "<Z85>"}. */
static int sl__cmd_keygen(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "sluice keygen: takes no arguments\n");
        return SL_EXIT_USAGE;
    }
    char pub[SL_REPL_KEY_LEN + 1], sec[SL_REPL_KEY_LEN + 1], err[256];
    if (sl_repl_keygen(pub, sec, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluice keygen: %s\n", err);
        return SL_EXIT_RUNTIME;
    }
    /* Z85 has neither '"' nor '\\': the keys need no JSON escaping. */
    int rc = printf("{\"public_key\": \"%s\", \"secret_key\": \"%s\"}\n", pub, sec);
    memset(sec, 0, sizeof(sec));
    return rc < 0 || fflush(stdout) != 0 ? SL_EXIT_RUNTIME : SL_EXIT_OK;
}

static const sl_command sl__commands[] = {
    {"run", "FILE [--status|--no-status]", "run a pipeline until its input ends or SIGTERM",
     "Runs the pipeline defined in FILE. Logs one JSON object per line on stderr\n"
     "(human-readable on a terminal), prints a live status line when stderr is a\n"
     "terminal (or with --status) and a summary at exit. SIGINT/SIGTERM stop\n"
     "cleanly and flush; a second signal exits at once.\n",
     sl__cmd_run},
    {"validate", "FILE", "check a pipeline definition (prints \"ok\")",
     "Parses and validates FILE (after ${VAR} substitution and SLUICE_*\n"
     "environment overrides). Prints \"ok\" and exits 0, or prints the error\n"
     "(file, line:column or JSON path, what is wrong) and exits 2.\n",
     sl__cmd_validate},
    {"explain", "FILE", "print the execution plan of a definition",
     "Prints stages, threads, rings and capacities, the fields each stage reads,\n"
     "window and watermark settings and an estimate of window state memory.\n",
     sl__cmd_explain},
    {"demo", "[--seconds N]", "the whole path on a laptop: embedded Kafka, producer, pipeline",
     NULL, sl_cmd_demo},
    {"kafka-mock", "[--brokers N] [--topic T:P]...", "embedded Kafka (mock cluster) on loopback",
     NULL /* the command prints its own --help */, sl_cmd_kafka_mock},
    {"produce", "--bootstrap B --topic T ...", "load generator: synthetic events to a topic", NULL,
     sl_cmd_produce},
    {"keygen", "", "a CurveZMQ key pair for cluster replication, as JSON",
     "Prints a new key pair as {\"public_key\": \"<Z85>\", \"secret_key\": \"<Z85>\"}.\n"
     "Give the secret key to this node only (cluster.secret_key, secret_key_file\n"
     "or SLUICE_CURVE_SECRET_KEY) and the public key to every peer (its\n"
     "cluster.peers entry for this node). The output can be used as\n"
     "secret_key_file as it is.\n",
     sl__cmd_keygen},
};

static const sl_command *sl__find_command(const char *name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(sl__commands); i++)
        if (strcmp(sl__commands[i].name, name) == 0)
            return &sl__commands[i];
    return NULL;
}

static void sl__usage(FILE *out)
{
    fprintf(out,
            "sluice %s - real-time stream processing\n\nUsage: sluice COMMAND [ARGS]\n\n"
            "Commands:\n",
            SL_VERSION);
    for (size_t i = 0; i < SL_ARRAY_LEN(sl__commands); i++)
        fprintf(out, "  %-10s %-28s %s\n", sl__commands[i].name, sl__commands[i].args,
                sl__commands[i].summary);
    fprintf(out, "\nOptions: --log-level debug|info|warn|error|off, --version, --help\n"
                 "Run 'sluice COMMAND --help' for a command's options.\n"
                 "Exit codes: 0 ok, 2 bad usage or bad definition, 1 runtime failure.\n");
}

int main(int argc, char **argv)
{
    sl_connectors_register_builtin();
    argc = sl__global_options(argc, argv);
    if (argc < 0)
        return SL_EXIT_USAGE;
    if (argc < 2) {
        sl__usage(stderr);
        return SL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("sluice %s\n", SL_VERSION);
        return SL_EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        sl__usage(stdout);
        return SL_EXIT_OK;
    }
    const sl_command *c = sl__find_command(cmd);
    if (!c) {
        fprintf(stderr, "sluice: unknown command \"%s\"\n\n", cmd);
        sl__usage(stderr);
        return SL_EXIT_USAGE;
    }
    if (c->help && sl__wants_help(argc - 1, argv + 1)) {
        printf("Usage: sluice %s %s\n\n%s", c->name, c->args, c->help);
        return SL_EXIT_OK;
    }
    return c->run(argc - 1, argv + 1);
}
