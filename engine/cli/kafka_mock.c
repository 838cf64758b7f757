/*
 * kafka_mock.c - the embedded Kafka: librdkafka's mock cluster on
 * 127.0.0.1, as a library object (for `sluice demo`) and as the
 * `sluice kafka-mock` command (for tests and for trying Sluice without a
 * broker). Any Kafka client can talk to it (kcat, kafka-python).
 *
 * Fault injection: `--control FIFO` (or `--control -` for stdin) accepts one
 * command per line, answered by a log line on stderr:
 *
 *   broker-down ID            disconnect broker ID (-1: all), refuse clients
 *   broker-up ID              accept connections again
 *   rtt ID MS                 add MS of round-trip delay to broker ID
 *   request-errors API N ERR [ERR...]
 *                             the next N requests of API (Produce, Fetch,
 *                             Metadata, OffsetCommit, ... or a number) fail
 *                             with ERR (the last one given repeats)
 *   broker-errors ID API ERR[:RTT_MS]...
 *                             same, on one broker, optionally delayed
 *   clear-errors API          drop pending injected errors of API
 *   leader TOPIC PARTITION ID move a partition's leader
 *   create-topic NAME PARTITIONS
 *   topic-error TOPIC ERR     error returned for TOPIC in metadata
 *
 * Error names are librdkafka's without the RD_KAFKA_RESP_ERR_ prefix
 * (NOT_LEADER_FOR_PARTITION, _TRANSPORT, REQUEST_TIMED_OUT, ...).
 *
 * Limits of the mock worth knowing: it keeps about 5 MB (or 100,000
 * message sets) per partition and drops the oldest beyond that; it does not
 * implement the CreateTopics admin request (topics are created here or
 * auto-created with 4 partitions).
 */
#include "kafka.h"

#include "common.h"
#include "log.h"

#include <librdkafka/rdkafka_mock.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct sl_kafka_mock {
    rd_kafka_t *rk; /* bookkeeping handle the cluster hangs off */
    rd_kafka_mock_cluster_t *cluster;
    int brokers;
    char *bootstrap;
};

sl_kafka_mock *sl_kafka_mock_new(int brokers, char *errstr, size_t errstr_size)
{
    if (brokers < 1 || brokers > 32) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "brokers must be within 1..32, got %d", brokers);
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    sl__kafka_conf_logging(conf);
    char kerr[512];
    /* Quiet the bookkeeping handle's "no bootstrap.servers" notice. */
    rd_kafka_conf_set(conf, "log_level", "4", kerr, sizeof(kerr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        sl_seterr(errstr, errstr_size, SL_EKAFKA, "mock cluster handle: %s", kerr);
        return NULL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        rd_kafka_destroy(rk);
        sl_seterr(errstr, errstr_size, SL_EKAFKA,
                  "could not start the mock cluster (no loopback listener?)");
        return NULL;
    }
    sl_kafka_mock *m = sl_xcalloc(1, sizeof(*m));
    m->rk = rk;
    m->cluster = mc;
    m->brokers = brokers;
    m->bootstrap = sl_xstrdup(rd_kafka_mock_cluster_bootstraps(mc));
    return m;
}

const char *sl_kafka_mock_bootstrap(const sl_kafka_mock *m)
{
    return m->bootstrap;
}

int sl_kafka_mock_create_topic(sl_kafka_mock *m, const char *topic, int partitions, char *errstr,
                               size_t errstr_size)
{
    if (partitions < 1 || partitions > 10000)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "topic %s: partitions must be within 1..10000, got %d", topic, partitions);
    int rf = m->brokers < 3 ? m->brokers : 3;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->cluster, topic, partitions, rf);
    if (err)
        return sl_seterr(errstr, errstr_size, SL_EKAFKA, "topic %s: %s", topic,
                         rd_kafka_err2str(err));
    return SL_OK;
}

void sl_kafka_mock_free(sl_kafka_mock *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->rk);
    free(m->bootstrap);
    free(m);
}

/* ---- control commands ------------------------------------------------ */

static const struct {
    const char *name;
    int16_t key;
} sl__apis[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"LeaveGroup", 13},      {"SyncGroup", 14},      {"ApiVersion", 18},
    {"ApiVersions", 18},     {"InitProducerId", 22}, {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},         {"TxnOffsetCommit", 28},
};

static int sl__api_parse(const char *s, int16_t *key)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && *end == '\0' && n >= 0 && n < 100) {
        *key = (int16_t)n;
        return 0;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(sl__apis); i++) {
        if (strcasecmp(s, sl__apis[i].name) == 0) {
            *key = sl__apis[i].key;
            return 0;
        }
    }
    return -1;
}

static int sl__int_parse(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (!*s || *end || errno || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

#define SL__MAX_ARGS 40

int sl_kafka_mock_command(sl_kafka_mock *m, const char *line, char *reply, size_t reply_size)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", line);
    char *argv[SL__MAX_ARGS];
    int argc = 0;
    for (char *save = NULL, *t = strtok_r(buf, " \t\r\n", &save); t && argc < SL__MAX_ARGS;
         t = strtok_r(NULL, " \t\r\n", &save))
        argv[argc++] = t;
    if (argc == 0)
        return sl_seterr(reply, reply_size, SL_EINVAL, "empty command");

    const char *cmd = argv[0];
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    long id, n;
    int16_t api;

    if ((strcmp(cmd, "broker-down") == 0 || strcmp(cmd, "broker-up") == 0) && argc == 2) {
        if (sl__int_parse(argv[1], -1, 1000, &id))
            return sl_seterr(reply, reply_size, SL_EINVAL, "%s: bad broker id %s", cmd, argv[1]);
        err = cmd[7] == 'd' ? rd_kafka_mock_broker_set_down(m->cluster, (int32_t)id)
                            : rd_kafka_mock_broker_set_up(m->cluster, (int32_t)id);
    } else if (strcmp(cmd, "rtt") == 0 && argc == 3) {
        if (sl__int_parse(argv[1], -1, 1000, &id) || sl__int_parse(argv[2], 0, 600000, &n))
            return sl_seterr(reply, reply_size, SL_EINVAL, "usage: rtt BROKER_ID MS");
        err = rd_kafka_mock_broker_set_rtt(m->cluster, (int32_t)id, (int)n);
    } else if (strcmp(cmd, "request-errors") == 0 && argc >= 4) {
        if (sl__api_parse(argv[1], &api) || sl__int_parse(argv[2], 1, 100000, &n))
            return sl_seterr(reply, reply_size, SL_EINVAL,
                             "usage: request-errors API COUNT ERR [ERR...]");
        rd_kafka_resp_err_t *errs = sl_xcalloc((size_t)n, sizeof(*errs));
        for (long i = 0; i < n; i++) {
            const char *name = argv[3 + (i < argc - 3 ? i : argc - 4)];
            if (sl__kafka_err_parse(name, &errs[i])) {
                free(errs);
                return sl_seterr(reply, reply_size, SL_EINVAL, "unknown error name %s", name);
            }
        }
        rd_kafka_mock_push_request_errors_array(m->cluster, api, (size_t)n, errs);
        free(errs);
    } else if (strcmp(cmd, "broker-errors") == 0 && argc >= 4) {
        if (sl__int_parse(argv[1], 0, 1000, &id) || sl__api_parse(argv[2], &api))
            return sl_seterr(reply, reply_size, SL_EINVAL,
                             "usage: broker-errors BROKER_ID API ERR[:RTT_MS]...");
        for (int i = 3; i < argc && !err; i++) {
            char name[128];
            snprintf(name, sizeof(name), "%s", argv[i]);
            long rtt = 0;
            char *colon = strchr(name, ':');
            if (colon) {
                *colon = '\0';
                if (sl__int_parse(colon + 1, 0, 600000, &rtt))
                    return sl_seterr(reply, reply_size, SL_EINVAL, "bad rtt in %s", argv[i]);
            }
            rd_kafka_resp_err_t e;
            if (sl__kafka_err_parse(name, &e))
                return sl_seterr(reply, reply_size, SL_EINVAL, "unknown error name %s", name);
            err = rd_kafka_mock_broker_push_request_error_rtts(m->cluster, (int32_t)id, api, 1, e,
                                                               (int)rtt);
        }
    } else if (strcmp(cmd, "clear-errors") == 0 && argc == 2) {
        if (sl__api_parse(argv[1], &api))
            return sl_seterr(reply, reply_size, SL_EINVAL, "unknown api %s", argv[1]);
        rd_kafka_mock_clear_request_errors(m->cluster, api);
    } else if (strcmp(cmd, "leader") == 0 && argc == 4) {
        long part;
        if (sl__int_parse(argv[2], 0, 100000, &part) || sl__int_parse(argv[3], -1, 1000, &id))
            return sl_seterr(reply, reply_size, SL_EINVAL, "usage: leader TOPIC PARTITION ID");
        err = rd_kafka_mock_partition_set_leader(m->cluster, argv[1], (int32_t)part, (int32_t)id);
    } else if (strcmp(cmd, "create-topic") == 0 && argc == 3) {
        if (sl__int_parse(argv[2], 1, 10000, &n))
            return sl_seterr(reply, reply_size, SL_EINVAL, "usage: create-topic NAME PARTITIONS");
        char e[256];
        if (sl_kafka_mock_create_topic(m, argv[1], (int)n, e, sizeof(e)))
            return sl_seterr(reply, reply_size, SL_EINVAL, "%s", e);
    } else if (strcmp(cmd, "topic-error") == 0 && argc == 3) {
        rd_kafka_resp_err_t e;
        if (sl__kafka_err_parse(argv[2], &e))
            return sl_seterr(reply, reply_size, SL_EINVAL, "unknown error name %s", argv[2]);
        rd_kafka_mock_topic_set_error(m->cluster, argv[1], e);
    } else {
        return sl_seterr(reply, reply_size, SL_EINVAL, "unknown command or arguments: %s", line);
    }
    if (err)
        return sl_seterr(reply, reply_size, SL_EINVAL, "%s: %s", cmd, rd_kafka_err2str(err));
    snprintf(reply, reply_size, "done: %s", line);
    return SL_OK;
}

/* ---- the command ----------------------------------------------------- */

static volatile sig_atomic_t sl__mock_stop;
static int sl__mock_wake[2] = {-1, -1};

static void sl__mock_on_signal(int sig)
{
    (void)sig;
    sl__mock_stop = 1;
    if (sl__mock_wake[1] >= 0) {
        ssize_t w = write(sl__mock_wake[1], "x", 1);
        (void)w;
    }
}

static void sl__mock_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
            "                         [--bootstrap-file F] [--control FIFO|-]\n"
            "\n"
            "Starts librdkafka's mock Kafka cluster on 127.0.0.1, prints its bootstrap\n"
            "servers on stdout (and into F), creates the topics and runs until SIGTERM or\n"
            "SIGINT. With --control, fault-injection commands are read one per line from\n"
            "the FIFO (created if absent) or stdin:\n"
            "  broker-down ID | broker-up ID | rtt ID MS\n"
            "  request-errors API COUNT ERR [ERR...]    e.g. request-errors Produce 3 "
            "NOT_LEADER_FOR_PARTITION\n"
            "  broker-errors ID API ERR[:RTT_MS]...      clear-errors API\n"
            "  leader TOPIC PARTITION ID | create-topic NAME PARTITIONS | topic-error TOPIC ERR\n"
            "The mock keeps ~5 MB per partition (oldest data is dropped beyond that).\n");
}

/* Handles complete lines in buf[0..*len); keeps a trailing partial line. */
static void sl__mock_run_lines(sl_kafka_mock *m, char *buf, size_t *len)
{
    size_t start = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] != '\n')
            continue;
        buf[i] = '\0';
        char *line = buf + start;
        start = i + 1;
        while (isspace((unsigned char)*line))
            line++;
        if (!*line || *line == '#')
            continue;
        char reply[512];
        if (sl_kafka_mock_command(m, line, reply, sizeof(reply)) == SL_OK)
            sl_info("kafka-mock", "fault injection %s", reply);
        else
            sl_error("kafka-mock", "control command failed: %s", reply);
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
}

int sl_cmd_kafka_mock(int argc, char **argv)
{
    int brokers = 1;
    const char *bootstrap_file = NULL, *control = NULL;
    char **topics = sl_xcalloc((size_t)argc + 1, sizeof(char *));
    int ntopics = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sl__mock_usage(stdout);
            free(topics);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sluice kafka-mock: %s needs a value\n", a);
            sl__mock_usage(stderr);
            free(topics);
            return 2;
        }
        if (strcmp(a, "--brokers") == 0) {
            long n;
            if (sl__int_parse(argv[++i], 1, 32, &n)) {
                fprintf(stderr, "sluice kafka-mock: --brokers must be within 1..32\n");
                free(topics);
                return 2;
            }
            brokers = (int)n;
        } else if (strcmp(a, "--topic") == 0) {
            topics[ntopics++] = argv[++i];
        } else if (strcmp(a, "--bootstrap-file") == 0) {
            bootstrap_file = argv[++i];
        } else if (strcmp(a, "--control") == 0 || strcmp(a, "--control-fifo") == 0) {
            control = argv[++i];
        } else {
            fprintf(stderr, "sluice kafka-mock: unknown option %s\n", a);
            sl__mock_usage(stderr);
            free(topics);
            return 2;
        }
    }

    char err[512];
    /* Parse topics before starting anything. */
    for (int t = 0; t < ntopics; t++) {
        const char *colon = strrchr(topics[t], ':');
        long n = 1;
        if (colon && sl__int_parse(colon + 1, 1, 10000, &n)) {
            fprintf(stderr, "sluice kafka-mock: --topic %s: expected NAME:PARTITIONS\n", topics[t]);
            free(topics);
            return 2;
        }
    }

    sl_kafka_mock *m = sl_kafka_mock_new(brokers, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "sluice kafka-mock: %s\n", err);
        free(topics);
        return 1;
    }
    int rc = 0;
    for (int t = 0; t < ntopics && rc == 0; t++) {
        char name[512];
        snprintf(name, sizeof(name), "%s", topics[t]);
        char *colon = strrchr(name, ':');
        long n = 1;
        if (colon) {
            *colon = '\0';
            sl__int_parse(colon + 1, 1, 10000, &n);
        }
        if (sl_kafka_mock_create_topic(m, name, (int)n, err, sizeof(err))) {
            fprintf(stderr, "sluice kafka-mock: %s\n", err);
            rc = 1;
        }
    }
    free(topics);

    int ctl_fd = -1, ctl_keep = -1;
    if (rc == 0 && control) {
        if (strcmp(control, "-") == 0) {
            ctl_fd = STDIN_FILENO;
        } else {
            struct stat st;
            if (stat(control, &st) != 0 && mkfifo(control, 0600) != 0) {
                fprintf(stderr, "sluice kafka-mock: mkfifo %s: %s\n", control, strerror(errno));
                rc = 1;
            } else if ((ctl_fd = open(control, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
                fprintf(stderr, "sluice kafka-mock: open %s: %s\n", control, strerror(errno));
                rc = 1;
            } else {
                /* Our own writer keeps the FIFO from reporting EOF between
                 * the test's writers. */
                ctl_keep = open(control, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            }
        }
    }

    if (rc == 0 && bootstrap_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", bootstrap_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", sl_kafka_mock_bootstrap(m)) < 0 || fclose(f) != 0 ||
            rename(tmp, bootstrap_file) != 0) {
            fprintf(stderr, "sluice kafka-mock: writing %s: %s\n", bootstrap_file, strerror(errno));
            rc = 1;
        }
    }

    if (rc == 0) {
        if (pipe(sl__mock_wake) != 0) {
            sl__mock_wake[0] = sl__mock_wake[1] = -1;
        } else {
            fcntl(sl__mock_wake[0], F_SETFL, O_NONBLOCK);
            fcntl(sl__mock_wake[1], F_SETFL, O_NONBLOCK);
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = sl__mock_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        printf("%s\n", sl_kafka_mock_bootstrap(m));
        fflush(stdout);
        sl_info("kafka-mock", "mock cluster up: %d broker(s) at %s", brokers,
                sl_kafka_mock_bootstrap(m));

        char buf[4096];
        size_t len = 0;
        while (!sl__mock_stop) {
            struct pollfd pf[2] = {{.fd = sl__mock_wake[0], .events = POLLIN},
                                   {.fd = ctl_fd, .events = POLLIN}};
            int np = poll(pf, ctl_fd >= 0 ? 2 : 1, 1000);
            if (np <= 0 || ctl_fd < 0 || !(pf[1].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t r = read(ctl_fd, buf + len, sizeof(buf) - 1 - len);
            if (r > 0) {
                len += (size_t)r;
                if (len == sizeof(buf) - 1) { /* an absurdly long line */
                    buf[len++] = '\n';
                }
                sl__mock_run_lines(m, buf, &len);
            } else if (r == 0) {
                if (ctl_fd == STDIN_FILENO)
                    ctl_fd = -1; /* stdin closed: keep serving */
                else
                    sl_sleep_us(100000);
            }
        }
        sl_info("kafka-mock", "stopping");
    }
    if (ctl_fd >= 0 && ctl_fd != STDIN_FILENO)
        close(ctl_fd);
    if (ctl_keep >= 0)
        close(ctl_keep);
    sl_kafka_mock_free(m);
    return rc;
}
