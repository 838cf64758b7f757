/*
 * kafka_source.c - the `kafka` source: a consumer group member whose
 * partitions are decoded by `consumer_threads` threads straight into the
 * engine's lanes.
 *
 * Design notes
 * ------------
 * One rd_kafka_t consumer per source (one group member per node), and one
 * queue per consumer thread: on assignment, each partition's queue is
 * forwarded to the queue of its thread, (partition % threads). Why not one
 * consumer per thread:
 *   - a task (partition number) always reaches the workers through the same
 *     lane, as the engine requires; with a consumer per thread a rebalance
 *     could move a partition between two threads of one process and its
 *     REVOKE (old lane) and ASSIGN (new lane) would race in the workers;
 *   - partitions of several topics with the same number (co-partitioned
 *     topics, one task) land in the same thread;
 *   - one member per node keeps rebalances and broker connections few.
 * librdkafka 2.0.2's batch consume API is not safe against pause/resume or
 * seek done concurrently on the same partitions (fixed in 2.1.0), so each
 * partition is paused and resumed only by its own thread, between two
 * rd_kafka_consume_batch_queue() calls. Rebalances are served by a control
 * thread (rd_kafka_consumer_poll); it hands ASSIGN/REVOKE to the threads
 * through a mailbox and waits for revocations to be acknowledged, so that
 * every event a thread ingested precedes its REVOKE in the lane.
 *
 * Thread roles:
 *   DIRECT  source partition p -> lane (p % threads), task p
 *   STAGE1  (repartitioning) source partition -> own decoder -> produced,
 *           keyed, to "<name>-repartition"; bad/filtered events go to the
 *           thread's RAW lane only to be counted and dead-lettered
 *   STAGE2  repartition partition p -> REPARTITIONED lane, task p
 *
 * Watermarks across the shuffle: a STAGE2 task merges the records of every
 * input partition (upstream task), read at different speeds, so its
 * watermark is not its own max event time but the minimum of its upstream
 * tasks' watermarks. Each STAGE1 part publishes its watermark (max event
 * time read - max_out_of_orderness) as a control record, header sluice-wm
 * "UPSTREAM:NUPSTREAMS:WATERMARK:IDLE" with an empty value, into EVERY
 * repartition partition (ks_part_watermark): when it rose and
 * watermark.emit_interval passed, when it passed a window end, when the
 * part became idle (read to its high watermark and quiet for
 * idle_timeout) or active again, and at its end. STAGE2 hands such records
 * to the lane (sl_lane_watermark_from), which keeps per task the highest
 * watermark and the latest idle flag of each upstream and sends the
 * worker the minimum over the upstreams that are not idle. Co-partitioned
 * topics (DIRECT, several topics) use the same lane rule in process.
 *
 * Checkpoints of co-partitioned topics: each part tells the lane its
 * position (sl_lane_input_offset, on assignment and per record); the
 * task's barrier records all of them, and the commit of a durable
 * checkpoint covers partition p of every topic in one request
 * (sl__ks_commit_checkpoint); on assignment the parts of a task must name
 * the same checkpoint (ks_copart_agree). The topics interleave within the
 * task by fetch timing, which a replay does not repeat, so the task's
 * ASSIGN carries SL_CTL_UNORDERED: the worker holds each of its results
 * until the checkpoint recording it is durable (exactly-once without
 * relying on a deterministic replay), and at the end of the input the run
 * waits for a checkpoint begun after it (ks_end_committed).
 *
 * Invariants:
 *   1. A part's `next` (next offset expected) is written only by its owner
 *      thread; messages below it are stale and dropped, so nothing is
 *      ingested twice within an assignment.
 *   2. `delivered` <= `consumed`: delivered moves only after a lane flush
 *      left nothing queued for the task's worker.
 *   3. STAGE1 positions are committed only when every repartition record
 *      produced before the position was read has been acknowledged (two
 *      epoch counters, see ks_commit_positions()).
 *   4. Committed and resumed positions are exact: auto.offset.reset=error,
 *      so an out-of-range offset fails the source loudly, never skips.
 *   5. A STAGE1 part's watermark record follows, in every repartition
 *      partition, each data record it produced from the events that raised
 *      that watermark (one thread, one idempotent producer: per-partition
 *      order, and a crash leaves a prefix of each partition). So a
 *      downstream replay from a checkpoint sees every watermark at the
 *      same place among the data, and a restarted upstream's replayed
 *      records are either dropped by origin position or on time; its lower
 *      republished watermarks move nothing (the lane keeps the highest).
 *
 * End of input (tests, demo): "stop_at_eof": true ends each partition at
 * its high watermark read when it was assigned (STAGE2: read once every
 * STAGE1 partition has ended and all its records are acknowledged), sends
 * EOS for its task, and the source ends when every assigned partition has.
 *
 * Files: this one (options, create, start/stop, status), kafka_consume.c
 * (the consumer threads), kafka_topics.c (metadata, the repartition
 * topic), kafka_group.c (control thread, rebalances, offset commits);
 * shared declarations in kafka_source.h.
 */
#include "kafka_source.h"

#include "common.h"
#include "json_scan.h"
#include "log.h"
#include "options.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const sl_opt ks_options[] = {
    {.name = "topics",
     .type = SL_OPT_STRINGS,
     .required = 1,
     .help = "input topics; partition p of every topic is task p (co-partitioned)"},
    {.name = "group_id",
     .type = SL_OPT_STRING,
     .help = "consumer group (default \"sluice-<name>\")"},
    {.name = "start",
     .type = SL_OPT_STRING,
     .allowed = "earliest|latest|committed",
     .help = "without a committed offset: \"earliest\" (default), \"latest\", or \"committed\" "
             "(fail)"},
    {.name = "consumer_threads",
     .type = SL_OPT_INT,
     .min = 1,
     .max = 64,
     .def = "CPUs",
     .help = "decoding consumer threads (default: the number of online CPUs, at most 64)"},
    {.name = "properties",
     .type = SL_OPT_OBJECT,
     .help = "librdkafka properties (bootstrap.servers, security...)"},
    {.name = "partitioned_by",
     .type = SL_OPT_STRINGS,
     .help = "fields the producers key the input by; equal to key_by skips repartitioning"},
    {.name = "stop_at_eof",
     .type = SL_OPT_BOOL,
     .help = "end each partition at the high watermark seen when it was assigned (tests)"},
    {.name = "poll_batch",
     .type = SL_OPT_INT,
     .min = 1,
     .max = 100000,
     .help = "messages per consume call (default 1024)"},
    {.name = "commit_interval",
     .type = SL_OPT_DURATION,
     .min = 1,
     .max = INT64_MAX,
     .help = "offset commit interval (default 1s)"},
    {.name = "repartition_topic",
     .type = SL_OPT_STRING,
     .help = "internal topic (default \"<name>-repartition\")"},
    {.name = "repartition_partitions",
     .type = SL_OPT_INT,
     .min = 1,
     .max = 100000,
     .help = "partitions of the internal topic when sluice creates it (default: the input's)"},
    {.name = "connect_timeout",
     .type = SL_OPT_DURATION,
     .min = 1,
     .max = INT64_MAX,
     .def = "30s",
     .help = "start fails if no broker answers within this (default 30s)"},
    {.name = "pause_after",
     .type = SL_OPT_DURATION,
     .help = "pause partitions whose worker stays full this long (default 100ms)"},
    {.name = NULL},
};

int sl__ks_stopping(sl__ks_source *s)
{
    return atomic_load(&s->stop) || atomic_load(&s->failed) ||
           (s->engine && sl_engine_stopping(s->engine));
}

/* Marks the source failed and asks the engine to stop (any thread). */
void sl__ks_fail(sl__ks_source *s)
{
    if (atomic_exchange(&s->failed, 1) == 0 && s->engine)
        sl_engine_stop(s->engine);
}

/* ---- create / destroy ------------------------------------------------ */

/* consumer_threads: the option (its range checked by ks_options), else the
 * number of online CPUs within the option's range. create and the planner
 * (ks_plan_lanes) both count with this, so their lanes agree. */
static int ks_consumer_threads(const json_t *conf)
{
    const json_t *v = json_object_get(conf, "consumer_threads");
    if (json_is_integer(v) && json_integer_value(v) > 0)
        return (int)json_integer_value(v);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int max = 64;
    for (size_t i = 0; ks_options[i].name; i++)
        if (strcmp(ks_options[i].name, "consumer_threads") == 0)
            max = (int)ks_options[i].max;
    return cpus < 1 ? 1 : cpus > max ? max : (int)cpus;
}

static void ks_free(sl__ks_source *s)
{
    if (!s)
        return;
    sl_strings_free(s->topics, s->ntopics + (s->repartition ? 1 : 0));
    free(s->group_id);
    free(s->path);
    free(s->repartition_topic);
    free(s->bootstrap);
    if (s->conf)
        rd_kafka_conf_destroy(s->conf);
    if (s->pconf)
        rd_kafka_conf_destroy(s->pconf);
    free(s);
}

static int ks_create(const sl_connector_def *c, const sl_def *def, void **state, char *errstr,
                     size_t errstr_size)
{
    sl__ks_source *s = sl_xcalloc(1, sizeof(*s));
    s->def = def;
    s->path = sl_xstrdup(c->path);
    json_t *o = c->conf;
    char path[256];
    int rc;
    if ((rc = sl_json_strings(json_object_get(o, "topics"),
                              sl_path_join(path, sizeof(path), c->path, "topics"), 1, &s->topics,
                              &s->ntopics, errstr, errstr_size)) != 0)
        goto fail;
    if (s->ntopics > KS_MAX_TOPICS) {
        rc = sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.topics: at most %d topics", c->path,
                       KS_MAX_TOPICS);
        goto fail;
    }
    const json_t *v;
    if ((v = json_object_get(o, "group_id")))
        s->group_id = sl_xstrdup(json_string_value(v));
    else {
        size_t n = strlen(def->name) + 8;
        s->group_id = sl_xmalloc(n);
        snprintf(s->group_id, n, "sluice-%s", def->name);
    }
    s->start = KS_START_EARLIEST;
    if ((v = json_object_get(o, "start"))) {
        const char *st = json_string_value(v);
        if (strcmp(st, "earliest") == 0)
            s->start = KS_START_EARLIEST;
        else if (strcmp(st, "latest") == 0)
            s->start = KS_START_LATEST;
        else if (strcmp(st, "committed") == 0)
            s->start = KS_START_COMMITTED;
    }
    s->nthreads = ks_consumer_threads(o);
    s->cut_ms = def->runtime.mode == SL_MODE_LATENCY ? SL_KAFKA_LATENCY_CUT_MS : 0;
    s->poll_batch = 1024;
    if ((v = json_object_get(o, "poll_batch")))
        s->poll_batch = (int)json_integer_value(v);
    s->stop_at_eof = json_is_true(json_object_get(o, "stop_at_eof"));
    s->commit_interval_ms = 1000;
    if ((v = json_object_get(o, "commit_interval")) &&
        (rc = sl_json_duration(v, sl_path_join(path, sizeof(path), c->path, "commit_interval"), 1,
                               &s->commit_interval_ms, errstr, errstr_size)) != 0)
        goto fail;
    s->connect_timeout_ms = 30000;
    if ((v = json_object_get(o, "connect_timeout")))
        sl_parse_duration(v, &s->connect_timeout_ms); /* range: ks_options */
    s->pause_after_ms = 100;
    if ((v = json_object_get(o, "pause_after")) &&
        (rc = sl_json_duration(v, sl_path_join(path, sizeof(path), c->path, "pause_after"), 0,
                               &s->pause_after_ms, errstr, errstr_size)) != 0)
        goto fail;
    if ((v = json_object_get(o, "partitioned_by"))) {
        char **pb;
        size_t npb;
        if ((rc = sl_json_strings(v, sl_path_join(path, sizeof(path), c->path, "partitioned_by"), 1,
                                  &pb, &npb, errstr, errstr_size)) != 0)
            goto fail;
        sl_strings_free(pb, npb);
    }
    if ((v = json_object_get(o, "repartition_partitions"))) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 100000) {
            rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                           "%s.repartition_partitions: must be within 1..100000, got "
                           "%" JSON_INTEGER_FORMAT,
                           c->path, n);
            goto fail;
        }
        s->repartition_partitions = (int32_t)n;
    }
    if (sl_kafka_needs_repartition(def, NULL)) {
        if ((v = json_object_get(o, "repartition_topic")))
            s->repartition_topic = sl_xstrdup(json_string_value(v));
        else {
            size_t n = strlen(def->name) + 16;
            s->repartition_topic = sl_xmalloc(n);
            snprintf(s->repartition_topic, n, "%s-repartition", def->name);
        }
        for (size_t i = 0; i < s->ntopics; i++) {
            if (strcmp(s->topics[i], s->repartition_topic) == 0) {
                rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                               "%s.topics: \"%s\" is the internal repartition topic", c->path,
                               s->topics[i]);
                goto fail;
            }
        }
        s->topics = sl_xrealloc(s->topics, (s->ntopics + 1) * sizeof(char *));
        s->topics[s->ntopics] = sl_xstrdup(s->repartition_topic);
        s->repartition = 1;
    }

    /* Consumer configuration: our defaults, the user's properties, then
     * the settings the offset model depends on. */
    s->conf = rd_kafka_conf_new();
    static const char *const cdefaults[][2] = {
        {"enable.auto.commit", "false"},  {"enable.auto.offset.store", "false"},
        {"queued.min.messages", "20000"}, {"queued.max.messages.kbytes", "8192"},
        {"fetch.wait.max.ms", "50"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cdefaults); i++)
        rd_kafka_conf_set(s->conf, cdefaults[i][0], cdefaults[i][1], NULL, 0);
    sl__kafka_conf_mode(s->conf, def, 0);
    const json_t *props = json_object_get(o, "properties");
    char ppath[256];
    sl_path_join(ppath, sizeof(ppath), c->path, "properties");
    if ((rc = sl__kafka_conf_apply(s->conf, props, ppath, errstr, errstr_size)) != 0)
        goto fail;
    char val[512];
    size_t vlen = sizeof(val);
    if (rd_kafka_conf_get(s->conf, "bootstrap.servers", val, &vlen) != RD_KAFKA_CONF_OK ||
        !val[0]) {
        const char *envb = getenv("SLUICE_BOOTSTRAP");
        if (envb && *envb) {
            rd_kafka_conf_set(s->conf, "bootstrap.servers", envb, NULL, 0);
        } else {
            rc =
                sl_seterr(errstr, errstr_size, SL_EINVAL,
                          "%s: \"bootstrap.servers\" is required (or set SLUICE_BOOTSTRAP)", ppath);
            goto fail;
        }
    }
    vlen = sizeof(val);
    if (rd_kafka_conf_get(s->conf, "bootstrap.servers", val, &vlen) == RD_KAFKA_CONF_OK)
        s->bootstrap = sl_xstrdup(val);
    static const char *const forced[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "error"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(forced); i++) {
        vlen = sizeof(val);
        if (props && json_object_get(props, forced[i][0]) &&
            rd_kafka_conf_get(s->conf, forced[i][0], val, &vlen) == RD_KAFKA_CONF_OK &&
            strcmp(val, forced[i][1]) != 0)
            sl_warn("kafka", "%s.%s is managed by sluice; using %s", ppath, forced[i][0],
                    forced[i][1]);
        rd_kafka_conf_set(s->conf, forced[i][0], forced[i][1], NULL, 0);
    }
    if (s->stop_at_eof)
        rd_kafka_conf_set(s->conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(s->conf, "group.id", s->group_id, NULL, 0);
    vlen = sizeof(val);
    if (rd_kafka_conf_get(s->conf, "client.id", val, &vlen) == RD_KAFKA_CONF_OK &&
        strcmp(val, "rdkafka") == 0) {
        snprintf(val, sizeof(val), "sluice-%s", def->name);
        rd_kafka_conf_set(s->conf, "client.id", val, NULL, 0);
    }
    if (s->repartition) {
        /* The producer gets the user's properties (security, bootstrap)
         * but none of the consumer settings above. */
        s->pconf = rd_kafka_conf_new();
        static const char *const pdefaults[][2] = {
            {"enable.idempotence", "true"},
            {"linger.ms", "5"},
            {"batch.size", "1000000"},
            {"compression.type", "lz4"},
            {"queue.buffering.max.messages", "200000"},
        };
        for (size_t i = 0; i < SL_ARRAY_LEN(pdefaults); i++)
            rd_kafka_conf_set(s->pconf, pdefaults[i][0], pdefaults[i][1], NULL, 0);
        sl__kafka_conf_mode(s->pconf, def, 1);
        sl__kafka_conf_apply(s->pconf, props, ppath, NULL, 0);
        vlen = sizeof(val);
        if (rd_kafka_conf_get(s->conf, "bootstrap.servers", val, &vlen) == RD_KAFKA_CONF_OK)
            rd_kafka_conf_set(s->pconf, "bootstrap.servers", val, NULL, 0);
        vlen = sizeof(val);
        if (rd_kafka_conf_get(s->conf, "client.id", val, &vlen) == RD_KAFKA_CONF_OK)
            rd_kafka_conf_set(s->pconf, "client.id", val, NULL, 0);
    }
    *state = s;
    return SL_OK;
fail:
    ks_free(s);
    return rc;
}

static int ks_lanes(void *state)
{
    sl__ks_source *s = state;
    return s->repartition ? 2 * s->nthreads : s->nthreads;
}

/* The planner's count: consumer_threads (default: the CPUs), twice when
 * repartitioning (stage 1 and stage 2 threads). */
static int ks_plan_lanes(const sl_connector_def *conf, const sl_def *def)
{
    int n = ks_consumer_threads(conf->conf);
    return sl_def_needs_repartition(def, NULL) ? 2 * n : n;
}

/* ---- helpers --------------------------------------------------------- */

sl__ks_part *sl__ks_part_of(sl__ks_source *s, int topic, int32_t partition)
{
    if (topic < 0 || partition < 0 || partition >= s->nparts[topic])
        return NULL;
    return &s->parts[topic][partition];
}

int sl__ks_topic_index(sl__ks_source *s, const char *name)
{
    size_t n = s->ntopics + (s->repartition ? 1 : 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->topics[i], name) == 0)
            return (int)i;
    return -1;
}

void sl__ks_pause(sl__ks_source *s, sl__ks_part *p, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->topics[p->topic], p->partition);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(s->rk, l) : rd_kafka_resume_partitions(s->rk, l);
    if (err)
        sl_warn("kafka", "%s %s [%" PRId32 "]: %s", pause ? "pause" : "resume", s->topics[p->topic],
                p->partition, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- start / stop / join --------------------------------------------- */

static void ks_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sl__ks_source *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        sl_error("kafka", "%s: fatal error: %s", rd_kafka_name(rk), buf);
        sl__ks_fail(s);
        return;
    }
    sl_warn("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}
static void ks_teardown(sl__ks_source *s)
{
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0);
    if (s->parts) {
        for (size_t tp = 0; tp < ntop; tp++) {
            for (int32_t i = 0; s->parts[tp] && i < s->nparts[tp]; i++)
                if (s->parts[tp][i].queue)
                    rd_kafka_queue_destroy(s->parts[tp][i].queue);
            free(s->parts[tp]);
        }
        free(s->parts);
        s->parts = NULL;
    }
    if (s->threads) {
        for (int i = 0; i < s->nthreads_total; i++) {
            sl__ks_thread *t = &s->threads[i];
            if (t->queue)
                rd_kafka_queue_destroy(t->queue);
            pthread_mutex_destroy(&t->mu);
            pthread_cond_destroy(&t->cv);
            free(t->cmds);
            free(t->owned);
            free(t->task_parts);
            free(t->task_done);
            free(t->task_eos);
            free(t->msgs);
            free(t->enc);
            sl_ingest_free(t->ingest);
        }
        free(s->threads);
        s->threads = NULL;
    }
    if (s->rep_rkt)
        rd_kafka_topic_destroy(s->rep_rkt);
    s->rep_rkt = NULL;
    if (s->rk)
        rd_kafka_destroy(s->rk);
    s->rk = NULL;
    if (s->producer)
        rd_kafka_destroy(s->producer);
    s->producer = NULL;
    free(s->nparts);
    s->nparts = NULL;
}

static int ks_start(void *state, sl_engine *engine, char *errstr, size_t errstr_size)
{
    sl__ks_source *s = state;
    s->engine = engine;
    char kerr[512];
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0);
    s->nparts = sl_xcalloc(ntop, sizeof(*s->nparts));

    rd_kafka_conf_t *conf = rd_kafka_conf_dup(s->conf);
    sl__kafka_conf_logging(conf);
    rd_kafka_conf_set_error_cb(conf, ks_error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, sl__ks_rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, sl__ks_offset_commit_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s: %s", s->path, kerr);
        goto fail;
    }
    rd_kafka_poll_set_consumer(s->rk);
    /* Input topics only: a metadata request for the repartition topic
     * would let some brokers auto-create it before we ask for its size. */
    if (sl__ks_metadata(s, s->rk, s->ntopics, errstr, errstr_size) != SL_OK)
        goto fail;
    int32_t maxp = 0;
    for (size_t i = 0; i < s->ntopics; i++)
        if (s->nparts[i] > maxp)
            maxp = s->nparts[i];
    if (s->ntopics > 1) {
        for (size_t i = 1; i < s->ntopics; i++)
            if (s->nparts[i] != s->nparts[0])
                sl_warn("kafka",
                        "%s.topics: \"%s\" has %d partitions and \"%s\" %d: only partitions "
                        "with the same number share a task",
                        s->path, s->topics[0], (int)s->nparts[0], s->topics[i], (int)s->nparts[i]);
    }
    if (s->repartition) {
        rd_kafka_conf_t *pc = rd_kafka_conf_dup(s->pconf);
        sl__kafka_conf_logging(pc);
        rd_kafka_conf_set_error_cb(pc, ks_error_cb);
        rd_kafka_conf_set_dr_msg_cb(pc, sl__ks_repartition_dr);
        rd_kafka_conf_set_opaque(pc, s);
        s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, kerr, sizeof(kerr));
        if (!s->producer) {
            rd_kafka_conf_destroy(pc);
            sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s: repartition producer: %s", s->path,
                      kerr);
            goto fail;
        }
        if (sl__ks_ensure_repartition_topic(
                s, s->repartition_partitions ? s->repartition_partitions : maxp, errstr,
                errstr_size) != SL_OK)
            goto fail;
        s->rep_partitions = s->nparts[s->ntopics];
        s->rep_rkt = rd_kafka_topic_new(s->producer, s->topics[s->ntopics], NULL);
    }

    s->nthreads_total = ks_lanes(s);
    s->threads = sl_xcalloc((size_t)s->nthreads_total, sizeof(*s->threads));
    for (int i = 0; i < s->nthreads_total; i++) {
        sl__ks_thread *t = &s->threads[i];
        t->s = s;
        t->index = i;
        t->role = !s->repartition ? KS_DIRECT : i < s->nthreads ? KS_STAGE1 : KS_STAGE2;
        t->lane = sl_engine_lane(engine, i);
        t->queue = rd_kafka_queue_new(s->rk);
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
        t->msgs = sl_xcalloc((size_t)s->poll_batch, sizeof(*t->msgs));
        atomic_init(&t->inflight[0], 0);
        atomic_init(&t->inflight[1], 0);
        if (!t->lane) {
            sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: engine has no lane %d", s->path, i);
            goto fail;
        }
        if (t->role == KS_STAGE1) {
            t->ingest = sl_ingest_new(s->def, SL_INGEST_RAW, errstr, errstr_size);
            if (!t->ingest)
                goto fail;
            t->enc_cap = 4096;
            t->enc = sl_xmalloc(t->enc_cap);
        } else if (t->role == KS_STAGE2 &&
                   sl_lane_set_mode(t->lane, SL_INGEST_REPARTITIONED) != SL_OK) {
            sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: cannot decode repartitioned records",
                      s->path);
            goto fail;
        }
        /* Tasks that merge several inputs take the minimum of their
         * watermarks: every repartitioned task, and a task of several
         * co-partitioned topics. */
        if (t->role == KS_STAGE2 || (t->role == KS_DIRECT && s->ntopics > 1))
            sl_lane_set_merged(t->lane, 1);
    }
    s->publish_wm = s->repartition || s->ntopics > 1;
    s->wm_step_ms = 0;
    if (s->def->window && s->def->window->type == SL_WIN_TUMBLING)
        s->wm_step_ms = s->def->window->size_ms;
    else if (s->def->window && s->def->window->type == SL_WIN_HOPPING)
        s->wm_step_ms = s->def->window->slide_ms;
    s->parts = sl_xcalloc(ntop, sizeof(*s->parts));
    s->nupstreams = 0;
    for (size_t tp = 0; tp < s->ntopics; tp++)
        s->nupstreams += s->nparts[tp];
    int32_t upstream_base = 0;
    for (size_t tp = 0; tp < ntop; tp++) {
        int stage = !s->repartition ? KS_DIRECT : tp < s->ntopics ? KS_STAGE1 : KS_STAGE2;
        s->parts[tp] = sl_xcalloc((size_t)s->nparts[tp] + 1, sizeof(sl__ks_part));
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            sl__ks_part *p = &s->parts[tp][i];
            p->topic = (int)tp;
            p->partition = i;
            p->stage = stage;
            int base = stage == KS_STAGE2 ? s->nthreads : 0;
            p->owner = &s->threads[base + i % s->nthreads];
            atomic_init(&p->consumed, -1);
            atomic_init(&p->delivered, -1);
            atomic_init(&p->committed, -1);
            atomic_init(&p->end, INT64_MAX);
            if (stage == KS_STAGE1) {
                p->input_id = upstream_base + i; /* = i for one input topic */
            } else if (stage == KS_DIRECT) {
                /* Input index within task i: the topics having partition i. */
                for (size_t o = 0; o < s->ntopics; o++) {
                    if (s->nparts[o] > i) {
                        if (o < tp)
                            p->input_id++;
                        p->ninputs++;
                    }
                }
            }
        }
        if (stage == KS_STAGE1)
            upstream_base += s->nparts[tp];
    }
    s->max_partitions = maxp;

    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)ntop);
    for (size_t i = 0; i < ntop; i++)
        rd_kafka_topic_partition_list_add(sub, s->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(s->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s: subscribe: %s", s->path,
                  rd_kafka_err2str(err));
        goto fail;
    }
    s->last_commit_ns = sl_mono_ns();
    for (int i = 0; i < s->nthreads_total; i++) {
        if (pthread_create(&s->threads[i].tid, NULL, sl__ks_thread_main, &s->threads[i]) != 0) {
            sl_seterr(errstr, errstr_size, SL_EIO, "%s: cannot start threads", s->path);
            atomic_store(&s->stop, 1);
            for (int j = 0; j < i; j++)
                pthread_join(s->threads[j].tid, NULL);
            goto fail;
        }
        s->threads[i].started = 1;
    }
    if (pthread_create(&s->control, NULL, sl__ks_control_main, s) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "%s: cannot start threads", s->path);
        atomic_store(&s->stop, 1);
        for (int j = 0; j < s->nthreads_total; j++)
            pthread_join(s->threads[j].tid, NULL);
        goto fail;
    }
    s->control_started = 1;
    sl_info("kafka", "consuming %s%s%s as group %s with %d thread(s)%s; stop_at_eof %s",
            s->topics[0], s->ntopics > 1 ? " and more" : "", "", s->group_id, s->nthreads,
            s->repartition ? " per stage, repartitioned through the internal topic" : "",
            s->stop_at_eof ? "on" : "off");
    return SL_OK;
fail:
    ks_teardown(s);
    s->engine = NULL;
    return SL_EKAFKA;
}

static void ks_stop(void *state)
{
    sl__ks_source *s = state;
    atomic_store(&s->stop, 1);
}

static int ks_join(void *state)
{
    sl__ks_source *s = state;
    if (s->control_started) {
        pthread_join(s->control, NULL);
        s->control_started = 0;
    }
    return atomic_load(&s->failed) ? 1 : 0;
}

static void ks_destroy(void *state)
{
    sl__ks_source *s = state;
    if (!s)
        return;
    if (s->control_started) {
        atomic_store(&s->stop, 1);
        ks_join(s);
    }
    ks_teardown(s);
    ks_free(s);
}

/* Status members: total lag and, per partition assigned here (now or
 * before), consumed and committed offsets, high watermark and lag. Any
 * thread. */
static void ks_status(void *state, FILE *out)
{
    sl__ks_source *s = state;
    if (!s->rk || !s->parts)
        return;
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0);
    int64_t total = 0;
    char buf[8192] = ""; /* stays empty before any partition is assigned */
    size_t pos = 0;
    for (size_t tp = 0; tp < ntop; tp++) {
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            sl__ks_part *p = &s->parts[tp][i];
            if (atomic_load(&p->consumed) < 0)
                continue; /* never assigned here */
            int64_t lo = -1, hi = -1;
            rd_kafka_get_watermark_offsets(s->rk, s->topics[tp], i, &lo, &hi);
            int64_t consumed = atomic_load(&p->consumed);
            int64_t lag = hi >= 0 && consumed >= 0 && hi > consumed ? hi - consumed : 0;
            total += lag;
            if (pos < sizeof(buf) - 200)
                pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos,
                                        "%s{\"topic\":\"%s\",\"partition\":%d,\"consumed\":%" PRId64
                                        ",\"committed\":%" PRId64 ",\"high\":%" PRId64
                                        ",\"lag\":%" PRId64 "}",
                                        pos ? "," : "", s->topics[tp], (int)i, consumed,
                                        (int64_t)atomic_load(&p->committed), hi, lag);
        }
    }
    fprintf(out,
            "\"consumer_lag\":%" PRId64 ",\"backpressure_pauses\":%" PRIu64 ",\"partitions\":[%s]",
            total, (uint64_t)atomic_load(&s->pauses), buf);
}

/* Ready once the group has assigned partitions (and nothing failed). */
static int ks_ready(void *state, char *reason, size_t reason_size)
{
    sl__ks_source *s = state;
    if (atomic_load(&s->failed)) {
        snprintf(reason, reason_size, "the kafka source failed");
        return 0;
    }
    if (!atomic_load(&s->first_assign)) {
        snprintf(reason, reason_size, "waiting for consumer group %s to assign partitions",
                 s->group_id);
        return 0;
    }
    return 1;
}

/* Positions of every partition consumed here (now or before). */
static size_t ks_partitions(void *state, sl_partition_status *out, size_t max)
{
    sl__ks_source *s = state;
    if (!s->rk || !s->parts)
        return 0;
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0), n = 0;
    for (size_t tp = 0; tp < ntop; tp++) {
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            sl__ks_part *p = &s->parts[tp][i];
            int64_t consumed = atomic_load(&p->consumed);
            if (consumed < 0)
                continue;
            if (n < max) {
                sl_partition_status *o = &out[n];
                int64_t lo = -1, hi = -1;
                rd_kafka_get_watermark_offsets(s->rk, s->topics[tp], i, &lo, &hi);
                snprintf(o->topic, sizeof(o->topic), "%s", s->topics[tp]);
                o->partition = i;
                o->consumed = consumed;
                o->committed = atomic_load(&p->committed);
                o->high = hi;
                o->lag = hi >= 0 ? (hi > consumed ? hi - consumed : 0) : -1;
                o->events = tp < s->ntopics ? atomic_load(&p->events) : -1;
            }
            n++;
        }
    }
    return n;
}

const sl_source_ops sl_source_kafka = {
    .name = "kafka",
    .options = ks_options,
    .create = ks_create,
    .lanes = ks_lanes,
    .plan_lanes = ks_plan_lanes,
    .start = ks_start,
    .stop = ks_stop,
    .join = ks_join,
    .destroy = ks_destroy,
    .check = sl__kafka_check,
    .status = ks_status,
    .commit = sl__ks_commit_checkpoint,
    .ready = ks_ready,
    .partitions = ks_partitions,
};
