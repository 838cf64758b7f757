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
     .help = "decoding consumer threads (default 1)"},
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

int sl__ks_stopping(ks_source *s)
{
    return atomic_load(&s->stop) || atomic_load(&s->failed) ||
           (s->engine && sl_engine_stopping(s->engine));
}

/* Marks the source failed and asks the engine to stop (any thread). */
void sl__ks_fail(ks_source *s)
{
    if (atomic_exchange(&s->failed, 1) == 0 && s->engine)
        sl_engine_stop(s->engine);
}

/* ---- create / destroy ------------------------------------------------ */

static void ks_free(ks_source *s)
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
    ks_source *s = sl_xcalloc(1, sizeof(*s));
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
    s->nthreads = 1;
    if ((v = json_object_get(o, "consumer_threads"))) /* range: ks_options */
        s->nthreads = (int)json_integer_value(v);
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
    ks_source *s = state;
    return s->repartition ? 2 * s->nthreads : s->nthreads;
}

/* ---- helpers --------------------------------------------------------- */

ks_part *sl__ks_part_of(ks_source *s, int topic, int32_t partition)
{
    if (topic < 0 || partition < 0 || partition >= s->nparts[topic])
        return NULL;
    return &s->parts[topic][partition];
}

int sl__ks_topic_index(ks_source *s, const char *name)
{
    size_t n = s->ntopics + (s->repartition ? 1 : 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->topics[i], name) == 0)
            return (int)i;
    return -1;
}

/* Owner thread: part of a message's topic handle and partition. */
static ks_part *ks_thread_lookup(ks_thread *t, rd_kafka_topic_t *rkt, int32_t partition)
{
    int topic = -1;
    for (int i = 0; i <= KS_MAX_TOPICS; i++) {
        if (t->rkt_seen[i] == rkt) {
            topic = t->rkt_topic[i];
            break;
        }
        if (!t->rkt_seen[i]) {
            topic = sl__ks_topic_index(t->s, rd_kafka_topic_name(rkt));
            t->rkt_seen[i] = rkt;
            t->rkt_topic[i] = topic;
            break;
        }
    }
    return sl__ks_part_of(t->s, topic, partition);
}

void sl__ks_pause(ks_source *s, ks_part *p, int pause)
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

/* ---- consumer threads ------------------------------------------------ */

static void ks_thread_task_grow(ks_thread *t, int32_t task)
{
    if (task < t->ntasks)
        return;
    int32_t n = t->ntasks ? t->ntasks : 16;
    while (n <= task)
        n *= 2;
    t->task_parts = sl_xrealloc(t->task_parts, (size_t)n * sizeof(int));
    t->task_done = sl_xrealloc(t->task_done, (size_t)n * sizeof(int));
    t->task_eos = sl_xrealloc(t->task_eos, (size_t)n * sizeof(int));
    for (int32_t i = t->ntasks; i < n; i++)
        t->task_parts[i] = t->task_done[i] = t->task_eos[i] = 0;
    t->ntasks = n;
}

static void ks_part_watermark(ks_thread *t, ks_part *p, int64_t now, int ended);

/* Owner thread: `p` reached its end (stop_at_eof). Its last watermark
 * goes out first, marked ended (it holds nobody back any more), before
 * the control thread can see the part done and read the repartition
 * topic's ends. */
static void ks_part_done(ks_thread *t, ks_part *p)
{
    if (atomic_load(&p->done))
        return;
    if (t->s->publish_wm)
        ks_part_watermark(t, p, sl_mono_ns(), 1);
    atomic_store(&p->done, 1);
    if (!p->paused) {
        sl__ks_pause(t->s, p, 1);
        p->paused = 1;
        t->npaused++;
    }
    sl_debug("kafka", "%s [%" PRId32 "] reached its end at offset %" PRId64, t->s->topics[p->topic],
             p->partition, p->next);
    if (t->role == KS_STAGE1)
        return;
    int32_t task = p->partition;
    t->task_done[task]++;
    if (t->task_done[task] >= t->task_parts[task] && !t->task_eos[task]) {
        t->task_eos[task] = 1;
        sl_batch *eos = sl_batch_control(SL_MSG_EOS, task, p->next);
        if (eos)
            sl_lane_control(t->lane, task, eos);
    }
}

static void ks_thread_assign(ks_thread *t, ks_part *p, int64_t start)
{
    p->active = 1;
    p->next = start;
    p->paused = 0;
    p->gap_warned = 0;
    p->max_ts = INT64_MIN;
    p->wm_sent = INT64_MIN;
    p->wm_idle_sent = -1;
    p->wm_sent_ns = 0;
    p->last_data_ns = sl_mono_ns();
    atomic_store(&p->done, 0);
    int known = 0;
    for (size_t i = 0; i < t->nowned; i++)
        known |= t->owned[i] == p;
    if (!known) {
        if (t->nowned == t->owned_cap) {
            t->owned_cap = t->owned_cap ? 2 * t->owned_cap : 16;
            t->owned = sl_xrealloc(t->owned, t->owned_cap * sizeof(*t->owned));
        }
        t->owned[t->nowned++] = p;
    }
    if (t->role != KS_STAGE1) {
        int32_t task = p->partition;
        ks_thread_task_grow(t, task);
        if (t->task_parts[task]++ == 0) {
            t->task_done[task] = 0;
            t->task_eos[task] = 0;
            sl_lane_add_task(t->lane, task);
            sl_batch *ctl = sl_batch_control(SL_MSG_ASSIGN, task, start);
            if (ctl) {
                ctl->checkpoint_id = p->checkpoint_id; /* state to restore, 0: none */
                if (t->role == KS_DIRECT && t->s->ntopics > 1)
                    ctl->flags |= SL_CTL_UNORDERED; /* topics interleave by fetch timing */
                if (p->checkpoint_origin[0])        /* NUL included: sl_batch_assign_origin */
                    (void)sl_batch_put_bytes(ctl, p->checkpoint_origin,
                                             strlen(p->checkpoint_origin) + 1);
                sl_lane_control(t->lane, task, ctl);
            }
        }
        /* Co-partitioned topics: each input's own position goes into the
         * task's checkpoints (after the ASSIGN, which restores the task). */
        if (t->role == KS_DIRECT && t->s->ntopics > 1)
            sl_lane_input_offset(t->lane, task, p->input_id, p->ninputs, start);
    }
    if (t->s->stop_at_eof && start >= atomic_load(&p->end))
        ks_part_done(t, p);
}

static void ks_thread_revoke(ks_thread *t, ks_part *p)
{
    if (!p->active)
        return;
    p->active = 0;
    if (p->paused) {
        sl__ks_pause(t->s, p, 0); /* leave no pause flag behind for the next owner */
        p->paused = 0;
        t->npaused--;
    }
    if (t->role != KS_STAGE1) {
        int32_t task = p->partition;
        if (atomic_load(&p->done))
            t->task_done[task]--;
        if (--t->task_parts[task] == 0) {
            sl_batch *ctl = sl_batch_control(SL_MSG_REVOKE, task, p->next);
            if (ctl)
                sl_lane_control(t->lane, task, ctl);
        }
        sl_lane_flush(t->lane);
        sl_lane_wait(t->lane);
        atomic_store(&p->delivered, p->next);
    }
    atomic_store(&p->consumed, p->next);
}

/* Takes the thread's commands: assignments now, revocations into `rev`
 * (applied after the current batch). Returns the number of revocations. */
static size_t ks_thread_commands(ks_thread *t, ks_cmd *rev, size_t rev_cap)
{
    size_t nrev = 0;
    pthread_mutex_lock(&t->mu);
    size_t keep = 0;
    for (size_t i = 0; i < t->ncmds; i++) {
        ks_cmd c = t->cmds[i];
        if (c.kind == KS_CMD_ASSIGN)
            ks_thread_assign(t, c.part, c.start);
        else if (nrev < rev_cap)
            rev[nrev++] = c;
        else
            t->cmds[keep++] = c;
    }
    t->ncmds = keep;
    pthread_mutex_unlock(&t->mu);
    return nrev;
}

static void ks_thread_apply_revokes(ks_thread *t, ks_cmd *rev, size_t nrev)
{
    if (!nrev)
        return;
    for (size_t i = 0; i < nrev; i++)
        ks_thread_revoke(t, rev[i].part);
    pthread_mutex_lock(&t->mu);
    t->acks += (int)nrev;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Delivery report of a repartition record: opaque is the epoch counter. */
static void ks_repartition_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ks_source *s = opaque;
    if (m->err) {
        sl_error("kafka", "repartition record to %s [%" PRId32 "] not delivered: %s",
                 s->repartition_topic, m->partition, rd_kafka_err2str(m->err));
        sl__ks_fail(s);
    }
    atomic_fetch_sub((_Atomic int64_t *)m->_private, 1);
}

/* STAGE1: produces one record to repartition partition `partition`,
 * counted in the current epoch until acknowledged (invariant 3). Waits
 * while the producer queue is full. Returns SL_OK or SL_EKAFKA (stopping,
 * or failed and said so). */
static int ks_produce(ks_thread *t, int32_t partition, const char *val, size_t len, const char *key,
                      size_t klen, int64_t ts, const char *header, const char *hval, size_t hlen)
{
    ks_source *s = t->s;
    _Atomic int64_t *counter;
    for (;;) {
        uint64_t e = atomic_load(&s->epoch);
        counter = &t->inflight[e & 1];
        atomic_fetch_add(counter, 1);
        if (atomic_load(&s->epoch) == e)
            break;
        atomic_fetch_sub(counter, 1);
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->producer, RD_KAFKA_V_RKT(s->rep_rkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0),
            RD_KAFKA_V_HEADER(header, hval, (ssize_t)hlen), RD_KAFKA_V_OPAQUE(counter),
            RD_KAFKA_V_END);
        if (!err)
            return SL_OK;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || sl__ks_stopping(s)) {
            atomic_fetch_sub(counter, 1);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                sl_error("kafka", "cannot produce to %s: %s", s->repartition_topic,
                         rd_kafka_err2str(err));
                sl__ks_fail(s);
            }
            return SL_EKAFKA;
        }
        rd_kafka_poll(s->producer, 1);
    }
}

/* STAGE1: re-keys one decoded event into the repartition topic. */
static int ks_produce_repartition(ks_thread *t, const char *val, size_t len, int64_t ts,
                                  int32_t upstream, int64_t src_offset)
{
    /* The record's origin lets the downstream task drop replays. */
    char src[48];
    int srclen = snprintf(src, sizeof(src), "%" PRId32 ":%" PRId64, upstream, src_offset);
    size_t klen;
    const char *key = sl_ingest_key(t->ingest, &klen);
    int32_t partition = (int32_t)(sl_ingest_key_hash(t->ingest) % (uint64_t)t->s->rep_partitions);
    return ks_produce(t, partition, val, len, key, klen, ts, KS_SRC_HEADER, src, (size_t)srclen);
}

/* floor(a / b) for b > 0. */
static int64_t sl__floor_div_i64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return a % b != 0 && a < 0 ? q - 1 : q;
}

/* Whether the part has read everything its leader had at the last fetch
 * (librdkafka's cached high watermark; unknown counts as not caught up). */
static int ks_caught_up(ks_source *s, ks_part *p)
{
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(s->rk, s->topics[p->topic], p->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return 0;
    return p->next >= hi;
}

/*
 * Owner thread: publishes the watermark of part `p` (an input of merged
 * tasks) when it is due:
 *   - it rose and watermark.emit_interval passed since the last one, or
 *     it passed a window end (so windows close without waiting);
 *   - it became idle or active again: idle = read up to the partition's
 *     end as last fetched and no message for idle_timeout (a part that is
 *     merely behind, however slow, is never idle), or `ended`
 *     (stop_at_eof).
 * STAGE1 writes a control record (header sluice-wm, empty value) into
 * every repartition partition, after the data records it produced, so the
 * record's position among them is fixed in the topic and a downstream
 * replay sees the same; DIRECT (co-partitioned topics) tells the lane.
 */
static void ks_part_watermark(ks_thread *t, ks_part *p, int64_t now, int ended)
{
    ks_source *s = t->s;
    const sl_watermark_def *wd = &s->def->watermark;
    int64_t wm = INT64_MIN;
    if (p->max_ts != INT64_MIN &&
        __builtin_sub_overflow(p->max_ts, wd->max_out_of_orderness_ms, &wm))
        wm = INT64_MIN;
    int idle = ended;
    if (!idle && wd->idle_timeout_ms > 0 &&
        now - p->last_data_ns >= wd->idle_timeout_ms * 1000000ll && ks_caught_up(s, p))
        idle = 1;
    int due = idle != p->wm_idle_sent;
    if (wm > p->wm_sent) {
        if (now - p->wm_sent_ns >= wd->emit_interval_ms * 1000000ll)
            due = 1;
        else if (s->wm_step_ms > 0 &&
                 (p->wm_sent == INT64_MIN || sl__floor_div_i64(wm, s->wm_step_ms) !=
                                                 sl__floor_div_i64(p->wm_sent, s->wm_step_ms)))
            due = 1;
    }
    if (!due)
        return;
    if (wm > p->wm_sent)
        p->wm_sent = wm;
    p->wm_idle_sent = idle;
    p->wm_sent_ns = now;
    if (t->role == KS_STAGE1) {
        char h[96];
        int hl = snprintf(h, sizeof(h), "%" PRId32 ":%" PRId32 ":%" PRId64 ":%d", p->input_id,
                          s->nupstreams, p->wm_sent, idle);
        for (int32_t q = 0; q < s->rep_partitions; q++)
            if (ks_produce(t, q, "", 0, NULL, 0, 0, KS_WM_HEADER, h, (size_t)hl) != SL_OK)
                return;
    } else if (sl_lane_watermark_from(t->lane, p->partition, -1, p->input_id, p->ninputs,
                                      p->wm_sent, idle) == SL_EAGAIN &&
               !t->blocked_since) {
        t->blocked_since = now;
    }
}

/* Owner thread: a message carrying an error (EOF, out of range, ...). */
static void ks_thread_message_error(ks_thread *t, rd_kafka_message_t *m)
{
    ks_source *s = t->s;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "-";
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ks_part *p = m->rkt ? ks_thread_lookup(t, m->rkt, m->partition) : NULL;
        if (p && p->active && s->stop_at_eof && m->offset >= atomic_load(&p->end) &&
            p->next >= atomic_load(&p->end))
            ks_part_done(t, p);
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        sl_error("kafka",
                 "%s [%" PRId32 "]: offset %" PRId64
                 " is out of range (the data is gone or the offset is wrong); refusing to "
                 "skip: %s",
                 topic, m->partition, m->offset, rd_kafka_message_errstr(m));
        sl__ks_fail(s);
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        m->err == RD_KAFKA_RESP_ERR__FATAL) {
        sl_error("kafka", "%s [%" PRId32 "]: %s", topic, m->partition, rd_kafka_message_errstr(m));
        sl__ks_fail(s);
        return;
    }
    sl_warn("kafka", "%s [%" PRId32 "]: %s (retrying)", topic, m->partition,
            rd_kafka_message_errstr(m));
}

/* STAGE2: a watermark record of upstream task U (of N): "U:N:WM:IDLE". A
 * malformed one is skipped with one warning per part: it carries no event,
 * and the upstream publishes again within watermark.emit_interval. */
static int ks_stage2_watermark(ks_thread *t, ks_part *p, const rd_kafka_message_t *m,
                               const void *hv, size_t hl)
{
    char buf[96];
    int32_t u = -1, n = -1;
    int64_t wm = 0;
    int idle = 0;
    if (hl < sizeof(buf)) {
        memcpy(buf, hv, hl);
        buf[hl] = 0;
        if (sscanf(buf, "%" SCNd32 ":%" SCNd32 ":%" SCNd64 ":%d", &u, &n, &wm, &idle) != 4)
            u = -1;
    }
    int rc = u >= 0 ? sl_lane_watermark_from(t->lane, p->partition, m->offset, u, n, wm, idle)
                    : SL_EINVAL;
    if (rc == SL_EINVAL) {
        if (!p->header_warned) {
            p->header_warned = 1;
            sl_warn("kafka", "%s [%" PRId32 "] offset %" PRId64 ": malformed %s header, skipped",
                    t->s->topics[p->topic], p->partition, m->offset, KS_WM_HEADER);
        }
        rc = SL_OK;
    }
    return rc;
}

static void ks_thread_message(ks_thread *t, rd_kafka_message_t *m)
{
    if (SL_UNLIKELY(m->err)) {
        ks_thread_message_error(t, m);
        return;
    }
    ks_part *p = ks_thread_lookup(t, m->rkt, m->partition);
    if (SL_UNLIKELY(!p || !p->active || atomic_load_explicit(&p->done, memory_order_relaxed) ||
                    m->offset < p->next))
        return; /* revoked, past its end, or stale */
    if (SL_UNLIKELY(m->offset > p->next) && !p->gap_warned) {
        p->gap_warned = 1;
        sl_warn("kafka",
                "%s [%" PRId32 "]: offset gap %" PRId64 " -> %" PRId64
                " (compacted or transactional topic?)",
                t->s->topics[p->topic], p->partition, p->next, m->offset);
    }
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    const char *payload = m->payload ? m->payload : "";
    int rc;
    p->last_data_ns = t->loop_ns;
    if (t->role == KS_STAGE1) {
        sl_bad_reason reason;
        sl_decode_result r = sl_ingest_decode(t->ingest, payload, m->len, ts, &reason);
        if (r == SL_DECODE_OK) {
            long n;
            while ((n = sl_ingest_encode_repartition(t->ingest, t->enc, t->enc_cap)) < 0 &&
                   t->enc_cap < 2 * SL_MAX_EVENT_BYTES + 4096) {
                t->enc_cap *= 2;
                t->enc = sl_xrealloc(t->enc, t->enc_cap);
            }
            if (n < 0) {
                sl_error("kafka", "repartition record too large");
                sl__ks_fail(t->s);
                return;
            }
            int64_t ets = sl_ingest_ts(t->ingest);
            rc = ks_produce_repartition(t, t->enc, (size_t)n, ets, p->input_id, m->offset);
            if (rc != SL_OK)
                return; /* stopping or failed: not consumed */
            if (ets > p->max_ts)
                p->max_ts = ets;
        } else {
            /* Counted (and dead-lettered) by the lane's own decoder. */
            sl_lane_ingest(t->lane, p->partition, payload, m->len, m->offset, ts);
        }
        rc = SL_OK;
    } else if (t->role == KS_STAGE2) {
        int32_t src_task = -1;
        int64_t src_offset = -1;
        rd_kafka_headers_t *hdrs = NULL;
        const void *hv;
        size_t hl;
        int have_hdrs = rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (have_hdrs &&
            rd_kafka_header_get_last(hdrs, KS_WM_HEADER, &hv, &hl) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = ks_stage2_watermark(t, p, m, hv, hl);
            goto consumed;
        }
        if (have_hdrs &&
            rd_kafka_header_get_last(hdrs, KS_SRC_HEADER, &hv, &hl) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hl < 48) {
            char src[48];
            memcpy(src, hv, hl);
            src[hl] = 0;
            if (sscanf(src, "%" SCNd32 ":%" SCNd64, &src_task, &src_offset) != 2)
                src_task = -1;
        }
        rc = sl_lane_ingest_from(t->lane, p->partition, payload, m->len, m->offset, ts, src_task,
                                 src_offset);
    } else {
        rc = sl_lane_ingest(t->lane, p->partition, payload, m->len, m->offset, ts);
        if (t->s->publish_wm) {
            int64_t ets = sl_lane_last_event_time(t->lane);
            if (ets > p->max_ts)
                p->max_ts = ets;
        }
    }
consumed:
    p->next = m->offset + 1;
    if (t->role == KS_DIRECT && t->s->ntopics > 1)
        sl_lane_input_offset(t->lane, p->partition, p->input_id, p->ninputs, p->next);
    atomic_store_explicit(&p->consumed, p->next, memory_order_release);
    atomic_store_explicit(&p->events, ++p->nread, memory_order_relaxed);
    if (rc == SL_EAGAIN) {
        if (!t->blocked_since)
            t->blocked_since = sl_mono_ns();
    } else if (SL_UNLIKELY(rc != SL_OK)) {
        sl__ks_fail(t->s);
    }
    if (t->s->stop_at_eof && p->next >= atomic_load_explicit(&p->end, memory_order_relaxed))
        ks_part_done(t, p);
}

/* Owner thread, after a lane flush: publishes delivered positions and
 * resumes partitions whose worker has room again; ends parts that reached
 * an end set later (STAGE2). */
static void ks_thread_after_flush(ks_thread *t, int flushed)
{
    for (size_t i = 0; i < t->nowned; i++) {
        ks_part *p = t->owned[i];
        if (!p->active)
            continue;
        int blocked = t->role != KS_STAGE1 && sl_lane_blocked(t->lane, p->partition);
        if (flushed && !blocked)
            atomic_store_explicit(&p->delivered, p->next, memory_order_release);
        int done = atomic_load_explicit(&p->done, memory_order_relaxed);
        if (p->paused && !blocked && !done) {
            sl__ks_pause(t->s, p, 0);
            p->paused = 0;
            t->npaused--;
        }
        if (t->s->stop_at_eof && !done && p->next >= atomic_load(&p->end))
            ks_part_done(t, p);
    }
}

/* Owner thread: the lane has been backpressured for a while; pause the
 * partitions whose worker is full, so the fetcher stops too. */
static void ks_thread_pause_blocked(ks_thread *t)
{
    for (size_t i = 0; i < t->nowned; i++) {
        ks_part *p = t->owned[i];
        if (p->active && !p->paused && !atomic_load(&p->done) &&
            (t->role == KS_STAGE1 || sl_lane_blocked(t->lane, p->partition))) {
            sl__ks_pause(t->s, p, 1);
            p->paused = 1;
            t->npaused++;
            atomic_fetch_add_explicit(&t->s->pauses, 1, memory_order_relaxed);
        }
    }
}

/*
 * Consumer thread. Backpressure: when the lane reports a full worker ring
 * (SL_EAGAIN), the thread stops taking messages and pumps the lane; if it
 * stays blocked for "pause_after" (100 ms) the blocked partitions are paused
 * (rd_kafka_pause_partitions, from this thread only) and resumed once
 * their worker has room. Short stalls thus cost no refetch, and memory is
 * bounded either way (librdkafka's per-partition prefetch limit plus one
 * poll batch).
 */
static void *ks_thread_main(void *arg)
{
    ks_thread *t = arg;
    ks_source *s = t->s;
    ks_cmd rev[64];
    int64_t last_flush = sl_mono_ns();
    while (!sl__ks_stopping(s) && !atomic_load(&s->finished)) {
        if (t->blocked_since) {
            size_t nrev = ks_thread_commands(t, rev, SL_ARRAY_LEN(rev));
            ks_thread_apply_revokes(t, rev, nrev);
            if (sl_lane_pump(t->lane) == SL_OK) {
                t->blocked_since = 0;
                ks_thread_after_flush(t, 1);
            } else {
                if (sl_mono_ns() - t->blocked_since >= s->pause_after_ms * 1000000ll)
                    ks_thread_pause_blocked(t);
                sl_sleep_us(100);
                continue;
            }
        }
        ssize_t n = rd_kafka_consume_batch_queue(t->queue, 20, t->msgs, (size_t)s->poll_batch);
        size_t nrev = ks_thread_commands(t, rev, SL_ARRAY_LEN(rev));
        t->loop_ns = sl_mono_ns();
        for (ssize_t i = 0; i < n; i++) {
            ks_thread_message(t, t->msgs[i]);
            rd_kafka_message_destroy(t->msgs[i]);
        }
        ks_thread_apply_revokes(t, rev, nrev);
        int64_t now = sl_mono_ns();
        if (s->publish_wm && t->role != KS_STAGE2) {
            /* After the batch's records: a watermark follows the events
             * that raised it. */
            for (size_t i = 0; i < t->nowned; i++) {
                ks_part *p = t->owned[i];
                if (p->active && !atomic_load_explicit(&p->done, memory_order_relaxed))
                    ks_part_watermark(t, p, now, 0);
            }
        }
        if (n < s->poll_batch || now - last_flush > 10 * 1000000) {
            if (sl_lane_flush(t->lane) != SL_OK && !t->blocked_since)
                t->blocked_since = now;
            last_flush = now;
            ks_thread_after_flush(t, !t->blocked_since);
        }
    }
    /* Hand over what is pending; answer any late revocation. */
    sl_lane_flush(t->lane);
    sl_lane_wait(t->lane);
    ks_thread_after_flush(t, 1);
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->exited, 1);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- start / stop / join --------------------------------------------- */

static void ks_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ks_source *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        sl_error("kafka", "%s: fatal error: %s", rd_kafka_name(rk), buf);
        sl__ks_fail(s);
        return;
    }
    sl_warn("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

/* Reads partition counts of every topic. Returns 0 or SL_EKAFKA. */
static int ks_metadata(ks_source *s, rd_kafka_t *rk, size_t ntop, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < ntop; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, s->topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        /* Bounded by connect_timeout, in short tries so a SIGTERM that
         * arrives meanwhile is obeyed within half a second. */
        int64_t deadline = sl_mono_ns() + s->connect_timeout_ms * 1000000;
        rd_kafka_resp_err_t err;
        for (;;) {
            err = rd_kafka_metadata(rk, 0, rkt, &md, 500);
            if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT)
                break;
            if (sl_mono_ns() >= deadline) {
                rd_kafka_topic_destroy(rkt);
                return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                                 "%s: no answer from the brokers (%s) within connect_timeout "
                                 "(%" PRId64 " ms): %s",
                                 s->path, s->bootstrap, s->connect_timeout_ms,
                                 rd_kafka_err2str(err));
            }
            if (s->engine && sl_engine_stop_requested(s->engine)) {
                rd_kafka_topic_destroy(rkt);
                return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                                 "%s: stopped while waiting for the brokers (%s)", s->path,
                                 s->bootstrap);
            }
        }
        int32_t n = -1;
        rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!err && md->topic_cnt == 1) {
            terr = md->topics[0].err;
            n = md->topics[0].partition_cnt;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (err)
            return sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s: cannot read metadata of %s: %s",
                             s->path, s->topics[i], rd_kafka_err2str(err));
        if (terr || n <= 0) {
            s->nparts[i] = 0;
            if (s->repartition && i == s->ntopics)
                continue; /* created below */
            return sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s.topics: topic \"%s\": %s", s->path,
                             s->topics[i], terr ? rd_kafka_err2str(terr) : "no partitions");
        }
        s->nparts[i] = n;
    }
    return SL_OK;
}

/* Partitions of `topic` as `rk` sees it (a producer handle may make the
 * broker auto-create it): >0, 0 for an unknown topic, -1 on error. */
static int32_t ks_topic_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = 0;
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Creates the repartition topic with `want` partitions through the Admin
 * API. Returns 0 or the error (TOPIC_ALREADY_EXISTS, _UNSUPPORTED_FEATURE
 * when the cluster cannot serve it, ...) with its message in `why`. */
static rd_kafka_resp_err_t ks_create_topic(ks_source *s, int32_t want, char *why, size_t why_size)
{
    size_t rt = s->ntopics;
    char kerr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(s->topics[rt], want, -1, kerr, sizeof(kerr));
    if (!nt) {
        snprintf(why, why_size, "%s", kerr);
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    /* Admin requests go to the controller. A cluster naming none of its
     * brokers as controller (the embedded broker) cannot serve them: the
     * request would wait until it times out. */
    int32_t ctrl = rd_kafka_controllerid(s->producer, 5000);
    int known = 0;
    const struct rd_kafka_metadata *md = NULL;
    if (ctrl >= 0 &&
        rd_kafka_metadata(s->producer, 0, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < md->broker_cnt; i++)
            known |= md->brokers[i].id == ctrl;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (!known) {
        rd_kafka_NewTopic_destroy(nt);
        snprintf(why, why_size, "no broker of the cluster is its controller (controller id %d)",
                 (int)ctrl);
        return RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->producer);
    rd_kafka_CreateTopics(s->producer, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    snprintf(why, why_size, "timed out");
    if (ev) {
        err = rd_kafka_event_error(ev);
        const char *w = rd_kafka_event_error_string(ev);
        if (!err) {
            size_t cnt;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            if (cnt == 1 && rd_kafka_topic_result_error(res[0])) {
                err = rd_kafka_topic_result_error(res[0]);
                w = rd_kafka_topic_result_error_string(res[0]);
            }
        }
        snprintf(why, why_size, "%s", w && *w ? w : rd_kafka_err2str(err));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return err;
}

/*
 * Makes sure the repartition topic exists; its partitions are the
 * downstream tasks, whatever their number. Asks the broker first to create
 * it with `want` partitions (repartition_partitions, else the input's
 * count) through CreateTopics:
 *   created          the topic is new, with `want` partitions;
 *   already exists   used with the partitions it has;
 *   not implemented  (the embedded broker) the broker auto-creates it on
 *                    the first metadata request, with its own default
 *                    count (4), which is used;
 *   other errors     (no permission to create) used if it exists, else
 *                    the start fails saying what to do.
 * Says which happened in the log (and s->rep_how). Before any metadata
 * request for the topic, which would auto-create it. Returns 0 or
 * SL_EKAFKA.
 */
static int ks_ensure_repartition_topic(ks_source *s, int32_t want, char *errstr, size_t errstr_size)
{
    size_t rt = s->ntopics;
    const char *name = s->topics[rt];
    char why[512];
    rd_kafka_resp_err_t err = ks_create_topic(s, want, why, sizeof(why));
    int auto_create = err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
                      err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION ||
                      err == RD_KAFKA_RESP_ERR_INVALID_REQUEST;
    /* Wait for it to show in metadata (the producer's requests let a
     * broker without CreateTopics auto-create it). */
    int32_t n = 0;
    for (int i = 0; i < 100 && n <= 0 && !sl__ks_stopping(s); i++) {
        n = ks_topic_partitions(auto_create ? s->producer : s->rk, name);
        if (n <= 0 && (auto_create || !err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
            sl_sleep_us(100000);
        else if (n <= 0)
            break;
    }
    if (n <= 0 && err && !auto_create && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                         "%s: cannot create the internal topic \"%s\" with %d partitions: %s. "
                         "Create it beforehand (any partition count; embedded broker: sluice "
                         "kafka-mock --topic %s:%d)",
                         s->path, name, (int)want, why, name, (int)want);
    if (n <= 0)
        return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                         "%s: the internal topic \"%s\" did not appear in the metadata%s", s->path,
                         name,
                         auto_create ? " (the broker has no CreateTopics and did not auto-create "
                                       "it; create it beforehand)"
                                     : "");
    s->nparts[rt] = n;
    if (!err) {
        s->rep_how = "created";
        sl_info("kafka", "created internal topic %s with %d partitions: %d downstream tasks", name,
                (int)n, (int)n);
    } else if (auto_create) {
        s->rep_how = "auto-created";
        sl_info("kafka",
                "internal topic %s: the broker does not implement CreateTopics (%s); it "
                "auto-created the topic with %d partitions: %d downstream tasks",
                name, why, (int)n, (int)n);
    } else {
        s->rep_how = "existing";
        sl_info("kafka", "internal topic %s exists with %d partitions: %d downstream tasks%s%s",
                name, (int)n, (int)n,
                err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS ? "; CreateTopics said: " : "",
                err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS ? why : "");
    }
    return SL_OK;
}

static void ks_teardown(ks_source *s)
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
            ks_thread *t = &s->threads[i];
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
    ks_source *s = state;
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
    if (ks_metadata(s, s->rk, s->ntopics, errstr, errstr_size) != SL_OK)
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
        rd_kafka_conf_set_dr_msg_cb(pc, ks_repartition_dr);
        rd_kafka_conf_set_opaque(pc, s);
        s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, kerr, sizeof(kerr));
        if (!s->producer) {
            rd_kafka_conf_destroy(pc);
            sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s: repartition producer: %s", s->path,
                      kerr);
            goto fail;
        }
        if (ks_ensure_repartition_topic(
                s, s->repartition_partitions ? s->repartition_partitions : maxp, errstr,
                errstr_size) != SL_OK)
            goto fail;
        s->rep_partitions = s->nparts[s->ntopics];
        s->rep_rkt = rd_kafka_topic_new(s->producer, s->topics[s->ntopics], NULL);
    }

    s->nthreads_total = ks_lanes(s);
    s->threads = sl_xcalloc((size_t)s->nthreads_total, sizeof(*s->threads));
    for (int i = 0; i < s->nthreads_total; i++) {
        ks_thread *t = &s->threads[i];
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
        s->parts[tp] = sl_xcalloc((size_t)s->nparts[tp] + 1, sizeof(ks_part));
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            ks_part *p = &s->parts[tp][i];
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
        if (pthread_create(&s->threads[i].tid, NULL, ks_thread_main, &s->threads[i]) != 0) {
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
    ks_source *s = state;
    atomic_store(&s->stop, 1);
}

static int ks_join(void *state)
{
    ks_source *s = state;
    if (s->control_started) {
        pthread_join(s->control, NULL);
        s->control_started = 0;
    }
    return atomic_load(&s->failed) ? 1 : 0;
}

static void ks_destroy(void *state)
{
    ks_source *s = state;
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
    ks_source *s = state;
    if (!s->rk || !s->parts)
        return;
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0);
    int64_t total = 0;
    char buf[8192] = ""; /* stays empty before any partition is assigned */
    size_t pos = 0;
    for (size_t tp = 0; tp < ntop; tp++) {
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            ks_part *p = &s->parts[tp][i];
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
    ks_source *s = state;
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
    ks_source *s = state;
    if (!s->rk || !s->parts)
        return 0;
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0), n = 0;
    for (size_t tp = 0; tp < ntop; tp++) {
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            ks_part *p = &s->parts[tp][i];
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
