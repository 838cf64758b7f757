/*
 * produce.c - `sluice produce`, a load generator for topic producers:
 * synthetic JSON order events, or a JSON-lines file replayed, written to a
 * Kafka topic by an idempotent producer, keyed by a field or not, at a rate
 * or unthrottled. Progress goes to stderr once a second; any delivery
 * failure makes the exit status 1.
 *
 * Synthetic events look like {"user":"u17","amount":420,"ts":1700000000123}
 * (plus "pad" when --payload-bytes asks for bigger ones). With --start-ts
 * they are the generator's events (generator.h: sl_gen_render, the same
 * as a "generator" source with these keys/seed/step/disorder makes), so a
 * given seed gives the same sequence on every run; without it, event time
 * is the wall clock at generation minus a jitter in [0, disorder].
 */
#include "kafka.h"

#include "common.h"
#include "generator.h"
#include "json_scan.h"
#include "log.h"
#include "redact.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sl__producer_opts {
    const char *bootstrap;
    const char *topic;
    int64_t count; /* 0 = until interrupted (synthetic), or the whole file */
    double rate;   /* events/s, 0 = unthrottled */
    int64_t keys;
    const char *key_field; /* NULL = unkeyed */
    int64_t disorder_ms;
    int payload_bytes;
    uint64_t seed;
    const char *file;
    const char *fields; /* generator field specs, comma-separated */
    int64_t start_ts;   /* -1 = wall clock */
    int64_t step_ms;
    int partition; /* -1 = partitioner */
    int quiet;
} sl__producer_opts;

typedef struct sl__produce_stats {
    atomic_uint_fast64_t delivered;
    atomic_uint_fast64_t failed;
    atomic_int first_err_logged;
} sl__produce_stats;

static volatile sig_atomic_t sl__produce_stop;

static void sl__produce_on_signal(int sig)
{
    (void)sig;
    sl__produce_stop = 1;
}

/* Delivery report callback (called from rd_kafka_poll in this thread). */
static void sl__produce_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    sl__produce_stats *st = opaque;
    if (m->err) {
        atomic_fetch_add(&st->failed, 1);
        if (atomic_exchange(&st->first_err_logged, 1) == 0)
            sl_error("produce", "delivery failed: %s (partition %" PRId32 ")",
                     rd_kafka_err2str(m->err), m->partition);
    } else {
        atomic_fetch_add(&st->delivered, 1);
    }
}

static void sl__produce_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice produce (--bootstrap HOST:PORT,... | --bootstrap-file F) --topic T\n"
            "                      [--count N] [--rate R] [--keys K] [--key-field F | "
            "--no-key]\n"
            "                      [--disorder-ms D] [--payload-bytes P] [--seed S]\n"
            "                      [--start-ts MS] [--step-ms S] [--file F.jsonl]\n"
            "                      [--partition P] [-X property=value]... [--quiet]\n"
            "\n"
            "Writes synthetic JSON order events {\"user\":\"u17\",\"amount\":420,\"ts\":...}\n"
            "(or the lines of F.jsonl, replayed) to topic T with an idempotent producer.\n"
            "  --count N        events to write (default 100000; 0 = until Ctrl-C)\n"
            "  --rate R         events per second (default 0 = as fast as possible)\n"
            "  --keys K         distinct users (default 1000)\n"
            "  --key-field F    message key = the value of field F (default \"user\")\n"
            "  --no-key         no message key (the partitioner spreads events)\n"
            "  --disorder-ms D  event time jitter: ts is up to D ms early (default 0)\n"
            "  --payload-bytes P  pad events to about P bytes\n"
            "  --seed S         random seed (default 1)\n"
            "  --start-ts MS    event time of the first event (default: wall clock)\n"
            "  --step-ms S      event time step per event with --start-ts (default 1)\n"
            "  --fields F,...   with --start-ts: generator fields (default user,amount,ts;\n"
            "                   kinds as for the generator source, e.g. price:double)\n"
            "  -X prop=value    any librdkafka producer property (e.g. compression.type)\n"
            "Progress (events/s, total, delivery errors) goes to stderr; the exit status is\n"
            "1 when any event could not be delivered.\n");
}

static uint64_t sl__splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Pads a rendered event ({...}) with a "pad" member to about
 * o->payload_bytes. Returns the new length. */
static size_t sl__pad_event(const sl__producer_opts *o, char *buf, size_t len, size_t cap)
{
    if (o->payload_bytes <= 0 || (size_t)o->payload_bytes <= len + 10 ||
        (size_t)o->payload_bytes >= cap - 2 || len < 2)
        return len;
    size_t pad = (size_t)o->payload_bytes - len - 10;
    len--; /* the closing brace */
    memcpy(buf + len, ",\"pad\":\"", 8);
    len += 8;
    memset(buf + len, 'x', pad);
    len += pad;
    buf[len++] = '"';
    buf[len++] = '}';
    buf[len] = '\0';
    return len;
}

/* Wall-clock mode: renders synthetic event i ({"user","amount","ts"} with
 * ts = now minus the jitter) into buf. Returns the length. */
static size_t sl__render_event(const sl__producer_opts *o, uint64_t *rng, char *buf, size_t cap)
{
    uint64_t r = sl__splitmix(rng);
    int64_t user = (int64_t)(r % (uint64_t)o->keys);
    int64_t amount = (int64_t)((r >> 20) % 1000);
    int64_t ts = sl_wall_ms();
    if (o->disorder_ms > 0)
        ts -= (int64_t)((r >> 40) % (uint64_t)(o->disorder_ms + 1));
    int n =
        snprintf(buf, cap, "{\"user\":\"u%" PRId64 "\",\"amount\":%" PRId64 ",\"ts\":%" PRId64 "}",
                 user, amount, ts);
    return sl__pad_event(o, buf, (size_t)n, cap);
}

static int sl__parse_i64(const char *s, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo)
        return -1;
    *out = v;
    return 0;
}

/* Produces one message, waiting (serving delivery reports) while the local
 * queue is full. Returns 0 or -1 on a permanent error (logged). */
static int sl__produce_one(rd_kafka_t *rk, const sl__producer_opts *o, const char *val, size_t len,
                           const char *key, size_t key_len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(o->topic),
            RD_KAFKA_V_PARTITION(o->partition >= 0 ? o->partition : RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_KEY((void *)key, key ? key_len : 0), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            sl_error("produce", "cannot produce to %s: %s", o->topic, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 5);
        if (sl__produce_stop)
            return -1;
    }
}

/* Finds the message key in a JSON line: the value of o->key_field (strings
 * without their quotes, other values as written). NULL when absent or the
 * line is not a JSON object. */
static const char *sl__line_key(const sl_json_fields *kf, const char *line, size_t len,
                                size_t *key_len)
{
    sl_json_val v;
    if (!kf || sl_json_scan(kf, line, len, &v) != 0 || v.type == SL_T_MISSING)
        return NULL;
    *key_len = v.len;
    return v.raw;
}

int sl_cmd_produce(int argc, char **argv)
{
    sl__producer_opts o = {
        .count = 100000,
        .keys = 1000,
        .key_field = "user",
        .seed = 1,
        .start_ts = -1,
        .step_ms = 1,
        .partition = -1,
    };
    const char *bootstrap_file = NULL;
    int count_given = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    const char **xprops = sl_xcalloc((size_t)argc, sizeof(char *));
    int nxprops = 0;
#define SL__PRODUCE_BAD(...)                                                                       \
    do {                                                                                           \
        fprintf(stderr, "sluice produce: " __VA_ARGS__);                                           \
        fputc('\n', stderr);                                                                       \
        rd_kafka_conf_destroy(conf);                                                               \
        free(xprops);                                                                              \
        return 2;                                                                                  \
    } while (0)

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sl__produce_usage(stdout);
            rd_kafka_conf_destroy(conf);
            free(xprops);
            return 0;
        }
        if (strcmp(a, "--no-key") == 0) {
            o.key_field = NULL;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
            continue;
        }
        if (i + 1 >= argc)
            SL__PRODUCE_BAD("%s needs a value (see --help)", a);
        const char *v = argv[++i];
        int64_t n;
        if (strcmp(a, "--bootstrap") == 0 || strcmp(a, "-b") == 0) {
            o.bootstrap = v;
        } else if (strcmp(a, "--bootstrap-file") == 0) {
            bootstrap_file = v;
        } else if (strcmp(a, "--topic") == 0 || strcmp(a, "-t") == 0) {
            o.topic = v;
        } else if (strcmp(a, "--count") == 0) {
            if (sl__parse_i64(v, 0, &o.count))
                SL__PRODUCE_BAD("--count must be an integer >= 0, got %s", v);
            count_given = 1;
        } else if (strcmp(a, "--rate") == 0) {
            char *end;
            o.rate = strtod(v, &end);
            if (*end || o.rate < 0)
                SL__PRODUCE_BAD("--rate must be a number >= 0, got %s", v);
        } else if (strcmp(a, "--keys") == 0) {
            if (sl__parse_i64(v, 1, &o.keys))
                SL__PRODUCE_BAD("--keys must be an integer >= 1, got %s", v);
        } else if (strcmp(a, "--key-field") == 0) {
            o.key_field = v;
        } else if (strcmp(a, "--disorder-ms") == 0) {
            if (sl__parse_i64(v, 0, &o.disorder_ms))
                SL__PRODUCE_BAD("--disorder-ms must be an integer >= 0, got %s", v);
        } else if (strcmp(a, "--payload-bytes") == 0) {
            if (sl__parse_i64(v, 0, &n) || n > 1000000)
                SL__PRODUCE_BAD("--payload-bytes must be within 0..1000000, got %s", v);
            o.payload_bytes = (int)n;
        } else if (strcmp(a, "--seed") == 0) {
            if (sl__parse_i64(v, 0, &n))
                SL__PRODUCE_BAD("--seed must be an integer >= 0, got %s", v);
            o.seed = (uint64_t)n;
        } else if (strcmp(a, "--start-ts") == 0) {
            if (sl__parse_i64(v, 0, &o.start_ts))
                SL__PRODUCE_BAD("--start-ts must be epoch milliseconds, got %s", v);
        } else if (strcmp(a, "--step-ms") == 0) {
            if (sl__parse_i64(v, 0, &o.step_ms))
                SL__PRODUCE_BAD("--step-ms must be an integer >= 0, got %s", v);
        } else if (strcmp(a, "--file") == 0) {
            o.file = v;
        } else if (strcmp(a, "--fields") == 0) {
            o.fields = v;
        } else if (strcmp(a, "--partition") == 0) {
            if (sl__parse_i64(v, 0, &n) || n > INT32_MAX)
                SL__PRODUCE_BAD("--partition must be an integer >= 0, got %s", v);
            o.partition = (int)n;
        } else if (strcmp(a, "-X") == 0) {
            if (!strchr(v, '='))
                SL__PRODUCE_BAD("-X expects property=value, got %s", v);
            xprops[nxprops++] = v;
        } else {
            SL__PRODUCE_BAD("unknown option %s (see --help)", a);
        }
    }
    char *bs_owned = NULL;
    if (!o.bootstrap && bootstrap_file) {
        bs_owned = sl__kafka_read_bootstrap_file(bootstrap_file);
        if (!bs_owned)
            SL__PRODUCE_BAD("cannot read bootstrap servers from %s", bootstrap_file);
        o.bootstrap = bs_owned;
    }
    if (!o.bootstrap || !o.topic) {
        free(bs_owned);
        SL__PRODUCE_BAD("--bootstrap (or --bootstrap-file) and --topic are required");
    }
    if (o.file && !count_given)
        o.count = 0;

    FILE *in = NULL;
    if (o.file) {
        in = strcmp(o.file, "-") == 0 ? stdin : fopen(o.file, "r");
        if (!in) {
            fprintf(stderr, "sluice produce: %s: %s\n", o.file, strerror(errno));
            free(bs_owned);
            free(xprops);
            rd_kafka_conf_destroy(conf);
            return 1;
        }
    }

    /* Throughput-minded defaults first, then the user's -X properties. */
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"linger.ms", "5"},
        {"batch.size", "1000000"},
        {"compression.type", "lz4"},
        {"queue.buffering.max.messages", "500000"},
        {"queue.buffering.max.kbytes", "262144"},
    };
    for (size_t d = 0; d < SL_ARRAY_LEN(defaults); d++)
        rd_kafka_conf_set(conf, defaults[d][0], defaults[d][1], err, sizeof(err));
    for (int x = 0; x < nxprops; x++) {
        char prop[512];
        snprintf(prop, sizeof(prop), "%s", xprops[x]);
        char *eq = strchr(prop, '=');
        *eq = '\0';
        if (sl_redact_is_secret(prop))
            sl_redact_register(eq + 1);
        if (sl__kafka_conf_set(conf, prop, eq + 1, "-X", err, sizeof(err))) {
            fprintf(stderr, "sluice produce: %s\n", err);
            rd_kafka_conf_destroy(conf);
            if (in && in != stdin)
                fclose(in);
            free(bs_owned);
            free(xprops);
            return 2;
        }
    }
    free(xprops);
    sl__kafka_conf_set(conf, "bootstrap.servers", o.bootstrap, NULL, err, sizeof(err));
    sl__kafka_conf_logging(conf);
    sl__produce_stats st;
    atomic_init(&st.delivered, 0);
    atomic_init(&st.failed, 0);
    atomic_init(&st.first_err_logged, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, sl__produce_dr);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "sluice produce: %s\n", err);
        rd_kafka_conf_destroy(conf);
        if (in && in != stdin)
            fclose(in);
        free(bs_owned);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sl__produce_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    sl_json_fields *kf = NULL;
    if (o.key_field) {
        const char *names[1] = {o.key_field};
        kf = sl_json_fields_new(names, 1);
    }
    /* With --start-ts the events are the generator's (the same as a
     * "generator" source with these settings would make); otherwise
     * their time is the wall clock. */
    int failed = 0;
    sl_gen_config gen;
    sl_gen_config_default(&gen);
    gen.keys = (uint64_t)o.keys;
    gen.start_ts = o.start_ts;
    gen.ts_step_ms = o.step_ms;
    gen.disorder_ms = o.disorder_ms;
    gen.seed = o.seed;
    {
        char spec[1024], ferr[256];
        snprintf(spec, sizeof(spec), "%s", o.fields ? o.fields : "user,amount,ts");
        for (char *save = NULL, *f = strtok_r(spec, ",", &save); f; f = strtok_r(NULL, ",", &save))
            if (sl_gen_add_field(&gen, f, ferr, sizeof(ferr)) != SL_OK) {
                fprintf(stderr, "sluice produce: --fields: %s\n", ferr);
                failed = 2;
            }
    }

    uint64_t rng = o.seed * 0x2545F4914F6CDD1Dull + 1;
    size_t buf_cap = (size_t)o.payload_bytes + SL_GEN_MAX_EVENT + 64;
    char *buf = sl_xmalloc(buf_cap);
    char *line = NULL;
    size_t line_cap = 0;
    int64_t sent = 0, last_sent = 0;
    int64_t t0 = sl_mono_ns(), last_report = t0;
    while (!failed && !sl__produce_stop && (o.count == 0 || sent < o.count)) {
        const char *val, *key = NULL;
        size_t len, key_len = 0;
        if (in) {
            ssize_t r = getline(&line, &line_cap, in);
            if (r < 0)
                break;
            len = (size_t)r;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            if (len == 0)
                continue;
            val = line;
            key = sl__line_key(kf, line, len, &key_len);
        } else {
            if (o.start_ts >= 0) {
                len = sl_gen_render(&gen, (uint64_t)sent, buf, buf_cap);
                len = sl__pad_event(&o, buf, len, buf_cap);
            } else {
                len = sl__render_event(&o, &rng, buf, buf_cap);
            }
            key = sl__line_key(kf, buf, len, &key_len);
            val = buf;
            if (!o.key_field)
                key = NULL;
        }
        if (sl__produce_one(rk, &o, val, len, key, key_len) != 0) {
            failed = !sl__produce_stop;
            break;
        }
        sent++;
        if ((sent & 63) == 0) {
            rd_kafka_poll(rk, 0);
            int64_t now = sl_mono_ns();
            if (o.rate > 0) {
                int64_t due = t0 + (int64_t)((double)sent * 1e9 / o.rate);
                if (due > now)
                    sl_sleep_us((due - now) / 1000);
            }
            if (now - last_report >= 1000000000 && !o.quiet) {
                double secs = (double)(now - last_report) / 1e9;
                fprintf(stderr,
                        "produce: %" PRId64 " events (%.0f ev/s), delivered %" PRIuFAST64
                        ", delivery errors %" PRIuFAST64 "\n",
                        sent, (double)(sent - last_sent) / secs, atomic_load(&st.delivered),
                        atomic_load(&st.failed));
                last_sent = sent;
                last_report = now;
            }
        }
    }
    /* Wait for every delivery report (message.timeout.ms bounds it). */
    while (rd_kafka_outq_len(rk) > 0 && rd_kafka_flush(rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        if (!o.quiet)
            fprintf(stderr, "produce: waiting for %d deliveries\n", rd_kafka_outq_len(rk));
    }
    rd_kafka_poll(rk, 0);
    double secs = (double)(sl_mono_ns() - t0) / 1e9;
    uint64_t delivered = atomic_load(&st.delivered), errors = atomic_load(&st.failed);
    fprintf(stderr,
            "produce: done: %" PRId64 " events in %.2fs (%.0f ev/s), delivered %" PRIu64
            ", delivery errors %" PRIu64 "\n",
            sent, secs, secs > 0 ? (double)sent / secs : 0.0, (uint64_t)delivered,
            (uint64_t)errors);
    rd_kafka_destroy(rk);
    sl_json_fields_free(kf);
    free(buf);
    free(line);
    free(bs_owned);
    if (in && in != stdin)
        fclose(in);
    if (failed == 2)
        return 2;
    if (failed || errors > 0 || delivered != (uint64_t)sent)
        return 1;
    return 0;
}
