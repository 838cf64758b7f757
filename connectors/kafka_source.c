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
    {"topics", SL_OPT_STRINGS, 1,
     "input topics; partition p of every topic is task p (co-partitioned)"},
    {"group_id", SL_OPT_STRING, 0, "consumer group (default \"sluice-<name>\")"},
    {"start", SL_OPT_STRING, 0,
     "without a committed offset: \"earliest\" (default), \"latest\", or \"committed\" "
     "(fail)"},
    {"consumer_threads", SL_OPT_INT, 0, "decoding consumer threads (default 1)"},
    {"properties", SL_OPT_OBJECT, 0, "librdkafka properties (bootstrap.servers, security...)"},
    {"partitioned_by", SL_OPT_STRINGS, 0,
     "fields the producers key the input by; equal to key_by skips repartitioning"},
    {"stop_at_eof", SL_OPT_BOOL, 0,
     "end each partition at the high watermark seen when it was assigned (tests)"},
    {"poll_batch", SL_OPT_INT, 0, "messages per consume call (default 1024)"},
    {"commit_interval", SL_OPT_DURATION, 0, "offset commit interval (default 1s)"},
    {"repartition_topic", SL_OPT_STRING, 0, "internal topic (default \"<name>-repartition\")"},
    {"pause_after", SL_OPT_DURATION, 0,
     "pause partitions whose worker stays full this long (default 100ms)"},
    {NULL, 0, 0, NULL},
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
        else {
            rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                           "%s.start: must be \"earliest\", \"latest\" or \"committed\", got "
                           "\"%s\"",
                           c->path, st);
            goto fail;
        }
    }
    s->nthreads = 1;
    if ((v = json_object_get(o, "consumer_threads"))) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 64) {
            rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                           "%s.consumer_threads: must be within 1..64, got %" JSON_INTEGER_FORMAT,
                           c->path, n);
            goto fail;
        }
        s->nthreads = (int)n;
    }
    s->poll_batch = 1024;
    if ((v = json_object_get(o, "poll_batch"))) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 100000) {
            rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                           "%s.poll_batch: must be within 1..100000, got %" JSON_INTEGER_FORMAT,
                           c->path, n);
            goto fail;
        }
        s->poll_batch = (int)n;
    }
    s->stop_at_eof = json_is_true(json_object_get(o, "stop_at_eof"));
    s->commit_interval_ms = 1000;
    if ((v = json_object_get(o, "commit_interval")) &&
        (rc = sl_json_duration(v, sl_path_join(path, sizeof(path), c->path, "commit_interval"), 1,
                               &s->commit_interval_ms, errstr, errstr_size)) != 0)
        goto fail;
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

    if (def->checkpoint.enabled && !s->repartition && s->ntopics > 1) {
        rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                       "%s.topics: with checkpoints a kafka source reads one topic (or "
                       "repartitions); a task's checkpoint records one input offset",
                       c->path);
        goto fail;
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

/* Owner thread: `p` reached its end (stop_at_eof). */
static void ks_part_done(ks_thread *t, ks_part *p)
{
    if (atomic_load(&p->done))
        return;
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
                if (p->checkpoint_origin[0])           /* NUL included: sl_batch_assign_origin */
                    (void)sl_batch_put_bytes(ctl, p->checkpoint_origin,
                                             strlen(p->checkpoint_origin) + 1);
                sl_lane_control(t->lane, task, ctl);
            }
        }
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

/* STAGE1: re-keys one decoded event into the repartition topic. */
static int ks_produce_repartition(ks_thread *t, const char *val, size_t len, int64_t ts,
                                  int32_t src_task, int64_t src_offset)
{
    /* The record's origin lets the stage-2 task drop replays (DESIGN.md 6). */
    char src[48];
    int srclen = snprintf(src, sizeof(src), "%" PRId32 ":%" PRId64, src_task, src_offset);
    ks_source *s = t->s;
    size_t klen;
    const char *key = sl_ingest_key(t->ingest, &klen);
    int32_t partition = (int32_t)(sl_ingest_key_hash(t->ingest) % (uint64_t)s->rep_partitions);
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
            RD_KAFKA_V_HEADER("sluice-src", src, srclen), RD_KAFKA_V_OPAQUE(counter),
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
            rc = ks_produce_repartition(t, t->enc, (size_t)n, sl_ingest_ts(t->ingest), p->partition,
                                        m->offset);
            if (rc != SL_OK)
                return; /* stopping or failed: not consumed */
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
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(hdrs, "sluice-src", &hv, &hl) == RD_KAFKA_RESP_ERR_NO_ERROR &&
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
    }
    p->next = m->offset + 1;
    atomic_store_explicit(&p->consumed, p->next, memory_order_release);
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
        for (ssize_t i = 0; i < n; i++) {
            ks_thread_message(t, t->msgs[i]);
            rd_kafka_message_destroy(t->msgs[i]);
        }
        ks_thread_apply_revokes(t, rev, nrev);
        int64_t now = sl_mono_ns();
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
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 30000);
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

/* Makes sure the repartition topic exists with `want` partitions. */
static int ks_ensure_repartition_topic(ks_source *s, int32_t want, char *errstr, size_t errstr_size)
{
    size_t rt = s->ntopics;
    if (s->nparts[rt] == 0) {
        char kerr[512];
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(s->topics[rt], want, -1, kerr, sizeof(kerr));
        rd_kafka_queue_t *q = rd_kafka_queue_new(s->producer);
        rd_kafka_CreateTopics(s->producer, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        const char *why = "timed out";
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (ev) {
            err = rd_kafka_event_error(ev);
            why = rd_kafka_event_error_string(ev);
            if (!err) {
                size_t cnt;
                const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
                    rd_kafka_event_CreateTopics_result(ev), &cnt);
                if (cnt == 1 && rd_kafka_topic_result_error(res[0])) {
                    err = rd_kafka_topic_result_error(res[0]);
                    why = rd_kafka_topic_result_error_string(res[0]);
                }
            }
        }
        int rc = SL_OK;
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = sl_seterr(errstr, errstr_size, SL_EKAFKA,
                           "%s: cannot create the internal topic \"%s\" with %d partitions: %s. "
                           "Create it beforehand (embedded broker: sluice kafka-mock --topic "
                           "%s:%d)",
                           s->path, s->topics[rt], (int)want, why ? why : rd_kafka_err2str(err),
                           s->topics[rt], (int)want);
        else
            sl_info("kafka", "created internal topic %s with %d partitions", s->topics[rt],
                    (int)want);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy(nt);
        if (rc)
            return rc;
        /* Wait for it to show in metadata. */
        for (int i = 0; i < 100 && s->nparts[rt] <= 0; i++) {
            char e2[256];
            if (ks_metadata(s, s->rk, rt + 1, e2, sizeof(e2)) == SL_OK && s->nparts[rt] > 0)
                break;
            sl_sleep_us(100000);
        }
    }
    if (s->nparts[rt] != want)
        return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                         "%s: internal topic \"%s\" has %d partitions, expected %d (the input's "
                         "partition count); was it auto-created? Create it with %d partitions "
                         "beforehand (embedded broker: sluice kafka-mock --topic %s:%d)",
                         s->path, s->topics[rt], (int)s->nparts[rt], (int)want, (int)want,
                         s->topics[rt], (int)want);
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
    if (ks_metadata(s, s->rk, ntop, errstr, errstr_size) != SL_OK)
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
        if (ks_ensure_repartition_topic(s, maxp, errstr, errstr_size) != SL_OK)
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
    }
    s->parts = sl_xcalloc(ntop, sizeof(*s->parts));
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
        }
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
    char buf[8192];
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
    .status = ks_status,
    .commit = sl__ks_commit_checkpoint,
    .ready = ks_ready,
    .partitions = ks_partitions,
};
