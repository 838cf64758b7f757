/*
 * kafka_demo.c - `sluice demo`: the whole path on a laptop, in one process.
 *
 *   producer thread ──► topic "orders" (embedded Kafka, mock cluster)
 *        ──► kafka source ──► filter ──► key_by user ──► tumbling 1 s window
 *        ──► kafka sink ──► topic "orders-per-user" ──► reader thread ──► stdout
 *
 * Results are printed as they are read back from the result topic; a
 * one-line status (events/s in, consumer lag, watermark, windows emitted)
 * is refreshed on stderr. Ctrl-C (or --seconds N) stops it cleanly.
 */
#include "kafka.h"

#include "common.h"
#include "definition.h"
#include "engine.h"
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct kd_demo {
    const char *bootstrap;
    double rate;
    int keys, partitions;
    _Atomic int stop_producer, stop_reader;
    _Atomic uint64_t produced, delivered, delivery_errors, results_read;
    int tty;
    pthread_mutex_t out_mu;
} kd_demo;

static volatile sig_atomic_t kd_interrupted;

static void kd_on_signal(int sig)
{
    (void)sig;
    kd_interrupted = 1;
}

static void kd_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kd_demo *d = opaque;
    if (m->err) {
        if (atomic_fetch_add(&d->delivery_errors, 1) == 0)
            sl_error("demo", "order not delivered: %s", rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add(&d->delivered, 1);
    }
}

/* Synthetic order events at `rate`, keyed by user, event time = now minus
 * up to 100 ms of disorder; about 2% have a negative amount (filtered). */
static void *kd_producer_main(void *arg)
{
    kd_demo *d = arg;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", d->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
    sl__kafka_conf_logging(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, kd_dr);
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        sl_error("demo", "producer: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int64_t t0 = sl_mono_ns();
    uint64_t n = 0;
    while (!atomic_load(&d->stop_producer)) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int user = (int)(rng % (uint64_t)d->keys) + 1;
        int amount = (int)((rng >> 16) % 500);
        if ((rng >> 40) % 50 == 0)
            amount = -amount - 1;
        int64_t ts = sl_wall_ms() - (int64_t)((rng >> 48) % 101);
        char val[128], key[16];
        int vlen = snprintf(val, sizeof(val), "{\"user\":\"u%d\",\"amount\":%d,\"ts\":%" PRId64 "}",
                            user, amount, ts);
        int klen = snprintf(key, sizeof(key), "u%d", user);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC("orders"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_VALUE(val, (size_t)vlen), RD_KAFKA_V_KEY(key, (size_t)klen),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
               !atomic_load(&d->stop_producer))
            rd_kafka_poll(rk, 10);
        if (e)
            break;
        n++;
        atomic_store(&d->produced, n);
        if ((n & 31) == 0) {
            rd_kafka_poll(rk, 0);
            int64_t due = t0 + (int64_t)((double)n * 1e9 / d->rate);
            int64_t now = sl_mono_ns();
            if (due > now)
                sl_sleep_us((due - now) / 1000);
        }
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    return NULL;
}

/* Reads the result topic from the beginning and prints every result. */
static void *kd_reader_main(void *arg)
{
    kd_demo *d = arg;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", d->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "sluice-demo-reader", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "50", NULL, 0);
    sl__kafka_conf_logging(conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        sl_error("demo", "reader: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(d->partitions);
    for (int p = 0; p < d->partitions; p++)
        rd_kafka_topic_partition_list_add(l, "orders-per-user", p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (!atomic_load(&d->stop_reader)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            atomic_fetch_add(&d->results_read, 1);
            pthread_mutex_lock(&d->out_mu);
            if (d->tty)
                fputs("\r\033[K", stderr);
            fprintf(stdout, "%.*s\n", (int)m->len, (const char *)m->payload);
            fflush(stdout);
            pthread_mutex_unlock(&d->out_mu);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

typedef struct kd_run {
    sl_engine *engine;
    int rc;
} kd_run;

static void *kd_engine_main(void *arg)
{
    kd_run *r = arg;
    r->rc = sl_engine_run(r->engine);
    return NULL;
}

static void kd_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice demo [--seconds N] [--rate EVENTS_PER_S] [--keys K] [--partitions P]\n"
            "\n"
            "Runs the whole path in one process: an embedded Kafka (librdkafka's mock\n"
            "cluster on 127.0.0.1), a producer of synthetic orders into topic \"orders\", the\n"
            "pipeline orders -> filter amount >= 0 -> key_by user -> tumbling 1 s window\n"
            "(count, sum, max, avg) -> topic \"orders-per-user\", and a reader printing the\n"
            "results from that topic. A status line (events/s in, consumer lag, watermark,\n"
            "windows emitted) is refreshed on stderr. Ctrl-C stops it cleanly.\n"
            "  --seconds N    stop after N seconds (default: run until Ctrl-C)\n"
            "  --rate R       orders per second (default 20000)\n"
            "  --keys K       distinct users (default 10)\n"
            "  --partitions P partitions of both topics (default 4)\n");
}

static const char kd_pipeline[] =
    "{\"name\": \"demo-orders-per-user\",\n"
    " \"source\": {\"type\": \"kafka\", \"topics\": [\"orders\"], \"group_id\": \"sluice-demo\",\n"
    "            \"start\": \"earliest\", \"consumer_threads\": 2, \"format\": \"json\",\n"
    "            \"partitioned_by\": [\"user\"],\n"
    "            \"properties\": {\"bootstrap.servers\": \"%s\"},\n"
    "            \"event_time\": {\"field\": \"ts\", \"unit\": \"ms\"},\n"
    "            \"watermark\": {\"max_out_of_orderness\": \"200ms\", \"idle_timeout\": \"2s\"}},\n"
    " \"pipeline\": [\n"
    "   {\"filter\": {\"field\": \"amount\", \"op\": \">=\", \"value\": 0}},\n"
    "   {\"key_by\": [\"user\"]},\n"
    "   {\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"},\n"
    "    \"aggregates\": {\"orders\": {\"fn\": \"count\"}, \"total\": {\"fn\": \"sum\", "
    "\"field\": \"amount\"},\n"
    "                   \"biggest\": {\"fn\": \"max\", \"field\": \"amount\"}, \"mean\": {\"fn\": "
    "\"avg\", \"field\": \"amount\"}}}\n"
    " ],\n"
    " \"sink\": {\"type\": \"kafka\", \"topic\": \"orders-per-user\",\n"
    "          \"properties\": {\"bootstrap.servers\": \"%s\"}},\n"
    " \"runtime\": {\"workers\": 2}\n"
    "}\n";

static void kd_status(kd_demo *d, sl_engine *e, uint64_t *prev_in, int64_t *prev_ns)
{
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    int64_t now = sl_mono_ns();
    double dt = (double)(now - *prev_ns) / 1e9;
    double rate = dt > 0 ? (double)(st.events_in - *prev_in) / dt : 0;
    *prev_in = st.events_in;
    *prev_ns = now;
    uint64_t delivered = atomic_load(&d->delivered);
    uint64_t lag = delivered > st.events_in ? delivered - st.events_in : 0;
    char wm[32] = "-";
    if (st.min_watermark != INT64_MIN) {
        time_t secs = (time_t)(st.min_watermark / 1000);
        struct tm tm;
        localtime_r(&secs, &tm);
        snprintf(wm, sizeof(wm), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(st.min_watermark % 1000));
    }
    pthread_mutex_lock(&d->out_mu);
    fprintf(stderr,
            "%s[demo] in %.0f ev/s | produced %" PRIu64 " | consumer lag %" PRIu64
            " | watermark %s | windows %" PRIu64 " | results read %" PRIu64 "%s",
            d->tty ? "\r\033[K" : "", rate, (uint64_t)atomic_load(&d->produced), lag, wm,
            st.windows_fired, (uint64_t)atomic_load(&d->results_read), d->tty ? "" : "\n");
    fflush(stderr);
    pthread_mutex_unlock(&d->out_mu);
}

int sl_cmd_demo(int argc, char **argv)
{
    double seconds = 0;
    kd_demo d = {.rate = 20000, .keys = 10, .partitions = 4};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            kd_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sluice demo: %s needs a value\n", a);
            return 2;
        }
        char *end;
        double v = strtod(argv[++i], &end);
        if (*end || v <= 0) {
            fprintf(stderr, "sluice demo: %s needs a positive number, got %s\n", a, argv[i]);
            return 2;
        }
        if (strcmp(a, "--seconds") == 0)
            seconds = v;
        else if (strcmp(a, "--rate") == 0)
            d.rate = v;
        else if (strcmp(a, "--keys") == 0 && v <= 1000000)
            d.keys = (int)v;
        else if (strcmp(a, "--partitions") == 0 && v <= 256)
            d.partitions = (int)v;
        else {
            fprintf(stderr, "sluice demo: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (sl_log_get_level() == SL_LOG_INFO)
        sl_log_set_level(SL_LOG_WARN); /* keep the screen for results */
    d.tty = isatty(STDERR_FILENO);
    pthread_mutex_init(&d.out_mu, NULL);

    char err[1024];
    sl_kafka_mock *mock = sl_kafka_mock_new(1, err, sizeof(err));
    if (!mock) {
        fprintf(stderr, "sluice demo: %s\n", err);
        return 1;
    }
    d.bootstrap = sl_kafka_mock_bootstrap(mock);
    if (sl_kafka_mock_create_topic(mock, "orders", d.partitions, err, sizeof(err)) ||
        sl_kafka_mock_create_topic(mock, "orders-per-user", d.partitions, err, sizeof(err))) {
        fprintf(stderr, "sluice demo: %s\n", err);
        sl_kafka_mock_free(mock);
        return 1;
    }
    fprintf(stderr,
            "sluice demo: embedded Kafka at %s; %.0f orders/s -> \"orders\" -> 1 s windows per "
            "user -> \"orders-per-user\" (Ctrl-C stops)\n",
            d.bootstrap, d.rate);

    size_t n = sizeof(kd_pipeline) + 2 * strlen(d.bootstrap);
    char *text = sl_xmalloc(n);
    snprintf(text, n, kd_pipeline, d.bootstrap, d.bootstrap);
    sl_def *def = NULL;
    int rc = sl_def_load_string(text, "demo", &def, err, sizeof(err));
    free(text);
    if (rc != SL_OK) {
        fprintf(stderr, "sluice demo: %s\n", err);
        sl_kafka_mock_free(mock);
        return 1;
    }
    sl_engine_options opt = {.status_interval_ms = 0, .summary = 0};
    kd_run run = {.engine = sl_engine_new(def, &opt, err, sizeof(err))};
    if (!run.engine) {
        fprintf(stderr, "sluice demo: %s\n", err);
        sl_def_free(def);
        sl_kafka_mock_free(mock);
        return 1;
    }

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kd_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    pthread_t producer, reader, engine;
    int have_producer = pthread_create(&producer, NULL, kd_producer_main, &d) == 0;
    int have_reader = pthread_create(&reader, NULL, kd_reader_main, &d) == 0;
    int have_engine = pthread_create(&engine, NULL, kd_engine_main, &run) == 0;
    if (!have_producer || !have_reader || !have_engine) {
        fprintf(stderr, "sluice demo: cannot start threads\n");
        kd_interrupted = 1;
    }

    int64_t t0 = sl_mono_ns(), prev_ns = t0, last = t0;
    uint64_t prev_in = 0;
    while (!kd_interrupted) {
        sl_sleep_us(50000);
        int64_t now = sl_mono_ns();
        if (now - last >= 1000000000) {
            kd_status(&d, run.engine, &prev_in, &prev_ns);
            last = now;
        }
        if (seconds > 0 && (double)(now - t0) / 1e9 >= seconds)
            break;
    }
    /* Stop in order: no new orders, the pipeline drains and stops, the
     * reader prints what reached the result topic. */
    atomic_store(&d.stop_producer, 1);
    if (have_producer)
        pthread_join(producer, NULL);
    sl_engine_stop(run.engine);
    if (have_engine)
        pthread_join(engine, NULL);
    uint64_t seen = atomic_load(&d.results_read);
    for (int i = 0; i < 20; i++) { /* until the reader is quiet for 0.5 s */
        sl_sleep_us(100000);
        uint64_t now_seen = atomic_load(&d.results_read);
        if (now_seen == seen && i >= 5)
            break;
        seen = now_seen;
    }
    atomic_store(&d.stop_reader, 1);
    if (have_reader)
        pthread_join(reader, NULL);
    kd_status(&d, run.engine, &prev_in, &prev_ns);
    if (d.tty)
        fputc('\n', stderr);
    sl_engine_stats st;
    sl_engine_get_stats(run.engine, &st);
    fprintf(stderr,
            "sluice demo: %" PRIu64 " orders produced, %" PRIu64 " consumed (%" PRIu64
            " filtered), %" PRIu64 " windows fired, %" PRIu64 " results read back\n",
            (uint64_t)atomic_load(&d.produced), st.events_in, st.events_filtered, st.windows_fired,
            (uint64_t)atomic_load(&d.results_read));
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sl_engine_free(run.engine);
    sl_def_free(def);
    sl_kafka_mock_free(mock);
    pthread_mutex_destroy(&d.out_mu);
    if (run.rc != 0 || atomic_load(&d.delivery_errors) > 0)
        return 1;
    return 0;
}
