/*
 * kafka_group.c - the kafka source's control thread: consumer-group
 * rebalances (assignment handed to the consumer threads in-band, revocation
 * acknowledged before the partitions are given up), offset commits, and
 * the end of input for "stop_at_eof". Invariants: see kafka_source.c.
 *
 * @locality: everything here runs on the control thread (rebalance and
 * commit callbacks are served by its rd_kafka_consumer_poll).
 */
#include "kafka_source.h"

#include "checkpoint.h"
#include "common.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void ks_post(sl__ks_thread *t, int kind, sl__ks_part *p, int64_t start)
{
    pthread_mutex_lock(&t->mu);
    if (t->ncmds == t->cmds_cap) {
        t->cmds_cap = t->cmds_cap ? 2 * t->cmds_cap : 64;
        t->cmds = sl_xrealloc(t->cmds, t->cmds_cap * sizeof(*t->cmds));
    }
    t->cmds[t->ncmds++] = (sl__ks_cmd){.kind = kind, .part = p, .start = start};
    pthread_mutex_unlock(&t->mu);
}

static int64_t ks_inflight(sl__ks_source *s, int parity)
{
    int64_t n = 0;
    for (int i = 0; i < s->nthreads_total; i++)
        if (s->threads[i].role == KS_STAGE1)
            n += atomic_load(&s->threads[i].inflight[parity]);
    return n;
}

/*
 * Commits the input positions whose events the engine has taken: for
 * DIRECT/STAGE2 parts `delivered`; for STAGE1 parts the position read at
 * the last epoch flip, once every repartition record counted in that epoch
 * is acknowledged (records below a position were counted before it was
 * published, so before the flip). Without checkpoints (neither enabled
 * nor "off"; the definition loader enables them by default for Kafka
 * input) this is the whole commit policy. With checkpoints, tasks' input
 * (DIRECT/STAGE2) is committed only for durable checkpoints
 * (sl__ks_commit_checkpoint); STAGE1 is stateless and keeps this policy
 * (the repartitioned stage dedups what a crash makes it produce twice).
 * `sync`: wait for acknowledgements and commit synchronously.
 * Control thread.
 */
static void ks_commit_positions(sl__ks_source *s, int sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0);
    if (s->repartition && !s->epoch_pending) {
        for (size_t tp = 0; tp < s->ntopics; tp++)
            for (int32_t i = 0; i < s->nparts[tp]; i++)
                s->parts[tp][i].epoch_snap = atomic_load(&s->parts[tp][i].consumed);
        s->epoch_old = atomic_fetch_add(&s->epoch, 1);
        s->epoch_pending = 1;
    }
    if (s->repartition && sync) {
        int64_t deadline = sl_mono_ns() + 30 * 1000000000ll;
        while (ks_inflight(s, (int)(s->epoch_old & 1)) > 0 && sl_mono_ns() < deadline &&
               !atomic_load(&s->failed))
            rd_kafka_poll(s->producer, 10);
    }
    int stage1_ready = s->repartition && s->epoch_pending &&
                       ks_inflight(s, (int)(s->epoch_old & 1)) == 0 && !atomic_load(&s->failed);
    for (size_t tp = 0; tp < ntop; tp++) {
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            sl__ks_part *p = &s->parts[tp][i];
            if (!atomic_load(&p->assigned))
                continue;
            int64_t pos;
            if (p->stage != KS_STAGE1 && (s->def->checkpoint.enabled || s->def->checkpoint.off))
                continue; /* committed per durable checkpoint, or (off) once its results
                             are delivered: sl__ks_commit_checkpoint() */
            if (p->stage == KS_STAGE1) {
                if (!stage1_ready)
                    continue;
                pos = p->epoch_snap;
            } else {
                pos = atomic_load(&p->delivered);
            }
            if (pos >= 0 && pos > atomic_load(&p->committed))
                rd_kafka_topic_partition_list_add(l, s->topics[tp], i)->offset = pos;
        }
    }
    if (stage1_ready)
        s->epoch_pending = 0;
    if (l->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, !sync);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            sl_warn("kafka", "offset commit failed: %s (will retry)", rd_kafka_err2str(err));
        } else {
            for (int i = 0; i < l->cnt; i++) {
                sl__ks_part *p = sl__ks_part_of(s, sl__ks_topic_index(s, l->elems[i].topic),
                                                l->elems[i].partition);
                if (p)
                    atomic_store(&p->committed, l->elems[i].offset);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    s->last_commit_ns = sl_mono_ns();
}

void sl__ks_offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        sl_warn("kafka", "offset commit of %d partition(s) failed: %s", offsets ? offsets->cnt : 0,
                rd_kafka_err2str(err));
}

/* Resolves start offsets for newly assigned partitions: committed if any,
 * else by `start`; checks them against the partitions' current range.
 * Fills each element's offset. Returns 0 or -1 (logged, source failed). */
static int ks_resolve_starts(sl__ks_source *s, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t err = rd_kafka_committed(s->rk, parts, 30000);
    if (err) {
        sl_error("kafka", "cannot read committed offsets of group %s: %s", s->group_id,
                 rd_kafka_err2str(err));
        return -1;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        sl__ks_part *p = sl__ks_part_of(s, sl__ks_topic_index(s, tp->topic), tp->partition);
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(s->rk, tp->topic, tp->partition, &lo, &hi, 30000);
        if (err) {
            sl_error("kafka", "%s [%" PRId32 "]: cannot read its offsets: %s", tp->topic,
                     tp->partition, rd_kafka_err2str(err));
            return -1;
        }
        int64_t committed = tp->offset;
        int64_t start;
        uint64_t ckpt = 0;
        char origin[65] = "";
        if (committed >= 0 && tp->metadata && tp->metadata_size > 0 &&
            sl_checkpoint_meta_parse(tp->metadata, tp->metadata_size, &ckpt, origin) != 0 &&
            tp->metadata_size >= strlen(SL_KS_CHECKPOINT_META) &&
            memcmp(tp->metadata, SL_KS_CHECKPOINT_META, strlen(SL_KS_CHECKPOINT_META)) == 0) {
            sl_error("kafka", "%s [%" PRId32 "]: malformed checkpoint metadata in the commit",
                     tp->topic, tp->partition);
            return -1;
        }
        if (committed >= 0) {
            if (committed < lo || committed > hi) {
                sl_error("kafka",
                         "%s [%" PRId32 "]: committed offset %" PRId64
                         " of group %s is outside the partition's range %" PRId64 "..%" PRId64
                         "; refusing to skip or replay silently (reset the group's offsets "
                         "explicitly)",
                         tp->topic, tp->partition, committed, s->group_id, lo, hi);
                return -1;
            }
            start = committed;
        } else if (s->start == KS_START_COMMITTED) {
            sl_error("kafka",
                     "%s [%" PRId32 "]: no committed offset for group %s and \"start\" is "
                     "\"committed\"",
                     tp->topic, tp->partition, s->group_id);
            return -1;
        } else {
            start = s->start == KS_START_LATEST ? hi : lo;
        }
        tp->offset = start;
        if (p) {
            p->checkpoint_id = ckpt;
            snprintf(p->checkpoint_origin, sizeof(p->checkpoint_origin), "%s", origin);
            atomic_store(&p->committed, committed >= 0 ? committed : -1);
            atomic_store(&p->consumed, start);
            atomic_store(&p->delivered, start);
            atomic_store(&p->end, s->stop_at_eof && p->stage != KS_STAGE2 ? hi : INT64_MAX);
        }
        sl_info("kafka",
                "assigned %s [%" PRId32 "] start %" PRId64 " (%s), range %" PRId64 "..%" PRId64
                ", checkpoint %" PRIu64 " of %s",
                tp->topic, tp->partition, start, committed >= 0 ? "committed" : "no commit", lo, hi,
                ckpt, origin[0] ? origin : "(origin not recorded)");
    }
    return 0;
}

/*
 * Co-partitioned topics: partition p of every topic is task p, restored
 * from one checkpoint, so the commits of the task's partitions must name
 * the same one. One commit request covers all of them
 * (sl__ks_commit_checkpoint), so they disagree only if something else
 * committed (offsets reset by hand, another program in the group). Then
 * the source fails, naming the partitions: it does not fall back to the
 * lowest common checkpoint, because the partitions' committed offsets are
 * those of their own checkpoint: restoring the older snapshot while a
 * partition reads from a newer checkpoint's offset would skip that
 * partition's events in between (and the older snapshot may be pruned).
 * A partition with no Sluice commit at all (a topic added to "topics")
 * takes the others' checkpoint and starts at its own start position,
 * with a warning. Parts already assigned count too (an incremental
 * assignment must not restore a task that already runs from another
 * state). Returns 0 or -1 (logged). Control thread.
 */
static int ks_copart_agree(sl__ks_source *s, rd_kafka_topic_partition_list_t *parts)
{
    if (s->repartition || s->ntopics < 2)
        return 0;
    for (int i = 0; i < parts->cnt; i++) {
        int32_t task = parts->elems[i].partition;
        uint64_t id = 0;
        const char *from = NULL;
        int running = 0;
        for (size_t tp = 0; tp < s->ntopics; tp++) {
            sl__ks_part *q = sl__ks_part_of(s, (int)tp, task);
            if (!q)
                continue;
            int listed = 0;
            for (int j = 0; j < parts->cnt && !listed; j++)
                listed = parts->elems[j].partition == task &&
                         sl__ks_topic_index(s, parts->elems[j].topic) == (int)tp;
            int assigned = !listed && atomic_load(&q->assigned);
            if (!listed && !assigned)
                continue;
            running |= assigned;
            if (!q->checkpoint_id && !assigned)
                continue;
            if (from && q->checkpoint_id != id) {
                sl_error("kafka",
                         "task %" PRId32 ": %s [%" PRId32 "] is committed at checkpoint %" PRIu64
                         " but %s [%" PRId32 "] at checkpoint %" PRIu64
                         "%s; co-partitioned topics restore from one checkpoint (reset the "
                         "group's offsets of these partitions together)",
                         task, from, task, id, s->topics[tp], task, q->checkpoint_id,
                         running ? " (the task already runs)" : "");
                return -1;
            }
            id = q->checkpoint_id;
            from = s->topics[tp];
        }
        if (running || !id)
            continue;
        sl__ks_part *src = NULL; /* a listed part naming it: its origin is current */
        for (int j = 0; j < parts->cnt && !src; j++) {
            sl__ks_part *q = sl__ks_part_of(s, sl__ks_topic_index(s, parts->elems[j].topic),
                                            parts->elems[j].partition);
            if (q && q->partition == task && q->checkpoint_id == id)
                src = q;
        }
        if (!src)
            continue;
        for (int j = 0; j < parts->cnt; j++) {
            sl__ks_part *q = sl__ks_part_of(s, sl__ks_topic_index(s, parts->elems[j].topic),
                                            parts->elems[j].partition);
            if (!q || q->partition != task || q->checkpoint_id == id)
                continue;
            sl_warn("kafka",
                    "%s [%" PRId32 "]: no checkpoint commit; task %" PRId32
                    " restores checkpoint %" PRIu64 " of its other topics and this partition "
                    "starts at offset %" PRId64,
                    parts->elems[j].topic, task, task, id, parts->elems[j].offset);
            q->checkpoint_id = id;
            memcpy(q->checkpoint_origin, src->checkpoint_origin, sizeof(q->checkpoint_origin));
        }
    }
    return 0;
}

static void ks_on_assign(sl__ks_source *s, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (!sl__ks_part_of(s, sl__ks_topic_index(s, tp->topic), tp->partition)) {
            sl_error("kafka",
                     "assigned %s [%" PRId32 "], which was not there at start (partitions "
                     "added?); restart to take it",
                     tp->topic, tp->partition);
            sl__ks_fail(s);
            return;
        }
    }
    if (ks_resolve_starts(s, parts) != 0 || ks_copart_agree(s, parts) != 0) {
        sl__ks_fail(s);
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        sl__ks_part *p = sl__ks_part_of(s, sl__ks_topic_index(s, tp->topic), tp->partition);
        if (!p->queue)
            p->queue = rd_kafka_queue_get_partition(s->rk, tp->topic, tp->partition);
        if (!p->queue) {
            sl_error("kafka", "no queue for %s [%" PRId32 "]", tp->topic, tp->partition);
            sl__ks_fail(s);
            return;
        }
        /* Fetch stop clears forwarding: forward on every assignment. */
        rd_kafka_queue_forward(p->queue, p->owner->queue);
        atomic_store(&p->done, 0);
        atomic_store(&p->assigned, 1);
        ks_post(p->owner, KS_CMD_ASSIGN, p, tp->offset);
    }
    atomic_store(&s->first_assign, 1);
}

static void ks_on_revoke(sl__ks_source *s, rd_kafka_topic_partition_list_t *parts, int lost)
{
    int *target = sl_xcalloc((size_t)s->nthreads_total, sizeof(int));
    int *posted = sl_xcalloc((size_t)s->nthreads_total, sizeof(int));
    for (int i = 0; i < parts->cnt; i++) {
        sl__ks_part *p = sl__ks_part_of(s, sl__ks_topic_index(s, parts->elems[i].topic),
                                        parts->elems[i].partition);
        if (!p || !atomic_load(&p->assigned) || atomic_load(&p->owner->exited))
            continue;
        sl__ks_thread *t = p->owner;
        if (!posted[t->index]) {
            pthread_mutex_lock(&t->mu);
            target[t->index] = t->acks;
            pthread_mutex_unlock(&t->mu);
        }
        posted[t->index]++;
        target[t->index]++;
        ks_post(t, KS_CMD_REVOKE, p, 0);
    }
    /* Each thread acknowledges after it has put the REVOKE in its lane
     * behind every event it took from those partitions. */
    for (int ti = 0; ti < s->nthreads_total; ti++) {
        if (!posted[ti])
            continue;
        sl__ks_thread *t = &s->threads[ti];
        int64_t deadline = sl_mono_ns() + 60 * 1000000000ll;
        pthread_mutex_lock(&t->mu);
        while (t->acks < target[ti] && !atomic_load(&t->exited)) {
            if (sl_mono_ns() > deadline) {
                sl_error("kafka", "consumer thread %d did not release its partitions", ti);
                sl__ks_fail(s);
                break;
            }
            sl_cond_wait_ms(&t->cv, &t->mu, 20);
        }
        pthread_mutex_unlock(&t->mu);
    }
    free(target);
    free(posted);
    /* Exactly-once: what the revoked tasks produced must be delivered
     * before the partitions go, so the new owner's output scan sees it. */
    if (s->engine && sl_engine_wait_revoked(s->engine, 60000) != SL_OK)
        sl_warn("kafka", "results of revoked partitions not confirmed delivered within 60 s");
    if (!lost && !atomic_load(&s->failed))
        ks_commit_positions(s, 1);
    for (int i = 0; i < parts->cnt; i++) {
        sl__ks_part *p = sl__ks_part_of(s, sl__ks_topic_index(s, parts->elems[i].topic),
                                        parts->elems[i].partition);
        if (p) {
            atomic_store(&p->assigned, 0);
            sl_info("kafka", "%s %s [%" PRId32 "] at offset %" PRId64, lost ? "lost" : "revoked",
                    parts->elems[i].topic, parts->elems[i].partition, atomic_load(&p->consumed));
        }
    }
}

void sl__ks_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sl__ks_source *s = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ks_on_assign(s, parts);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            sl_error("kafka", "rebalance error: %s", rd_kafka_err2str(err));
        ks_on_revoke(s, parts, rd_kafka_assignment_lost(rk));
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        sl_error("kafka", "(un)assign failed: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        sl__ks_fail(s);
    } else if (aerr) {
        sl_error("kafka", "(un)assign failed: %s", rd_kafka_err2str(aerr));
        sl__ks_fail(s);
    }
}

/* stop_at_eof: sets STAGE2 ends once STAGE1 is complete, and says whether
 * the whole source is. Control thread. */
static int ks_check_end(sl__ks_source *s)
{
    if (!s->stop_at_eof || !atomic_load(&s->first_assign))
        return 0;
    size_t ntop = s->ntopics + (s->repartition ? 1 : 0);
    int stage1_done = 1, all_done = 1;
    for (size_t tp = 0; tp < ntop; tp++) {
        for (int32_t i = 0; i < s->nparts[tp]; i++) {
            sl__ks_part *p = &s->parts[tp][i];
            if (!atomic_load(&p->assigned))
                continue;
            int d = atomic_load(&p->done);
            if (p->stage == KS_STAGE1)
                stage1_done &= d;
            all_done &= d;
        }
    }
    if (s->repartition && stage1_done && !s->stage2_ends_set) {
        /* Everything produced must be acknowledged before reading the
         * repartition partitions' ends. */
        if (rd_kafka_flush(s->producer, 100) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            ks_inflight(s, 0) + ks_inflight(s, 1) > 0)
            return 0;
        size_t rt = s->ntopics;
        for (int32_t i = 0; i < s->nparts[rt]; i++) {
            sl__ks_part *p = &s->parts[rt][i];
            if (!atomic_load(&p->assigned))
                continue;
            int64_t lo, hi;
            rd_kafka_resp_err_t err =
                rd_kafka_query_watermark_offsets(s->rk, s->topics[rt], i, &lo, &hi, 30000);
            if (err) {
                sl_error("kafka", "%s [%" PRId32 "]: cannot read its end: %s", s->topics[rt], i,
                         rd_kafka_err2str(err));
                sl__ks_fail(s);
                return 0;
            }
            atomic_store(&p->end, hi);
        }
        s->stage2_ends_set = 1;
        sl_info("kafka", "input consumed to its end; %s drains to its current end", s->topics[rt]);
        return 0;
    }
    return all_done && (!s->repartition || s->stage2_ends_set);
}

/* stop_at_eof with checkpoints, once the input is consumed (at `end_ns`):
 * says whether a checkpoint taken after the end has committed every
 * assigned task's end offset, so the run may end with the consumer still
 * open for that commit. Gives up (with a warning) after two intervals plus
 * the replica timeout and 30 s. Control thread. */
static int ks_end_committed(sl__ks_source *s, int64_t end_ns)
{
    if (!s->def->checkpoint.enabled)
        return 1;
    size_t tp = s->repartition ? s->ntopics : 0;
    int all = 1;
    if (!s->repartition && s->ntopics > 1 && !s->def->checkpoint.off) {
        /* Co-partitioned topics: the results that the end of input fires
         * are held until a checkpoint whose barrier follows it is durable
         * (SL_CTL_UNORDERED), also when the committed offsets already are
         * the ends (a restart at the end of the input). */
        sl_checkpoint_stats st;
        if (sl_engine_checkpoint_stats(s->engine, &st) == SL_OK && st.durable_id <= s->end_floor)
            all = 0;
    }
    for (int32_t i = 0; i < s->nparts[tp] && all; i++) {
        sl__ks_part *p = &s->parts[tp][i];
        int64_t end = atomic_load(&p->end);
        if (atomic_load(&p->assigned) && end > 0 && atomic_load(&p->committed) < end)
            all = 0;
    }
    if (all) {
        sl_info("kafka", "final checkpoint at the end of the input is committed");
        return 1;
    }
    int64_t limit_ms =
        2 * s->def->checkpoint.interval_ms + s->def->checkpoint.replica_timeout_ms + 30000;
    if (sl_mono_ns() - end_ns < limit_ms * 1000000)
        return 0;
    sl_warn("kafka",
            "no checkpoint committed the end of the input within %" PRId64
            " ms; the next run replays from the last committed one",
            limit_ms);
    return 1;
}

void *sl__ks_control_main(void *arg)
{
    sl__ks_source *s = arg;
    pthread_setname_np(pthread_self(), "sl-kafka-group");
    int64_t end_ns = 0;
    while (!sl__ks_stopping(s)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 50);
        if (m) {
            if (m->err)
                sl_warn("kafka", "consumer: %s", rd_kafka_message_errstr(m));
            else
                sl_error("kafka", "message of %s [%" PRId32 "] reached the group queue",
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "-", m->partition);
            if (m->err == RD_KAFKA_RESP_ERR__FATAL)
                sl__ks_fail(s);
            rd_kafka_message_destroy(m);
        }
        if (s->producer)
            rd_kafka_poll(s->producer, 0);
        if (sl_mono_ns() - s->last_commit_ns >= s->commit_interval_ms * 1000000)
            ks_commit_positions(s, 0);
        if (!end_ns && ks_check_end(s)) {
            end_ns = sl_mono_ns();
            s->end_floor = sl_engine_checkpoint_requested(s->engine);
        }
        if (end_ns && ks_end_committed(s, end_ns)) {
            atomic_store(&s->finished, 1);
            break;
        }
    }
    /* Threads end (finished, stop or failure); then a last commit. */
    for (int i = 0; i < s->nthreads_total; i++)
        if (s->threads[i].started)
            pthread_join(s->threads[i].tid, NULL);
    if (!atomic_load(&s->failed))
        ks_commit_positions(s, 1);
    if (s->producer)
        rd_kafka_flush(s->producer, 30000);
    atomic_store(&s->consumer_closed, 1);
    rd_kafka_consumer_close(s->rk);
    return NULL;
}

/*
 * Commits the input offsets of durable checkpoint `checkpoint_id`: task p
 * is partition p of the input topic (or of the repartition topic; or of
 * every co-partitioned topic, each at its own recorded position, in the
 * same commit request), with
 * metadata "sluice:checkpoint=<id>;origin=<this node>" so that the next
 * owner restores exactly that checkpoint, from that node's area. Called on the checkpoint
 * coordinator's thread; synchronous. Returns 0 or SL_EKAFKA (the checkpoint then counts as failed).
 */
int sl__ks_commit_checkpoint(void *state, uint64_t checkpoint_id, const sl_task_offset *offsets,
                             size_t n)
{
    sl__ks_source *s = state;
    if (!s->rk)
        return SL_EKAFKA;
    int topic = s->repartition ? (int)s->ntopics : 0;
    /* checkpoint_id 0: "checkpoint": "off", the offsets name no checkpoint.
     * Co-partitioned topics: the position of each topic is recorded only
     * in checkpoint state, which "off" does not keep: not committed. */
    if (checkpoint_id == 0 && !s->repartition && s->ntopics > 1)
        return SL_OK;
    char meta[128];
    int ml = checkpoint_id ? sl_checkpoint_meta_format(meta, sizeof(meta), checkpoint_id,
                                                       s->def->cluster.node_id)
                           : 0;
    if (ml < 0)
        return SL_EKAFKA;
    int copart = !s->repartition && s->ntopics > 1;
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)(n * (copart ? s->ntopics : 1)) + 1);
    for (size_t i = 0; i < n && copart; i++) {
        /* Input k of task p: the k-th topic (in "topics" order) that has a
         * partition p (sl__ks_start sets input_id the same way). */
        int32_t task = offsets[i].task;
        size_t k = 0;
        for (size_t tp = 0; tp < s->ntopics; tp++) {
            sl__ks_part *p = sl__ks_part_of(s, (int)tp, task);
            if (!p)
                continue;
            if (k >= offsets[i].ninputs) {
                /* Never expected: the snapshot lacks this input's
                 * position; committing a guess could skip its events. */
                sl_error("kafka",
                         "checkpoint %" PRIu64 ": task %" PRId32
                         " recorded %zu input positions, %s [%" PRId32 "] has none; not committed",
                         checkpoint_id, task, offsets[i].ninputs, s->topics[tp], task);
                rd_kafka_topic_partition_list_destroy(l);
                return SL_EKAFKA;
            }
            int64_t next = offsets[i].input_next[k++];
            if (next < 0)
                continue; /* nothing known of it: its earlier commit stands */
            rd_kafka_topic_partition_t *tp_ =
                rd_kafka_topic_partition_list_add(l, s->topics[tp], task);
            tp_->offset = next;
            if (ml > 0) {
                tp_->metadata = sl_xmalloc((size_t)ml);
                memcpy(tp_->metadata, meta, (size_t)ml);
                tp_->metadata_size = (size_t)ml;
            }
        }
    }
    for (size_t i = 0; i < n && !copart; i++) {
        sl__ks_part *p = sl__ks_part_of(s, topic, offsets[i].task);
        if (!p || offsets[i].next_offset < 0)
            continue;
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(l, s->topics[topic], offsets[i].task);
        tp->offset = offsets[i].next_offset;
        if (ml > 0) {
            tp->metadata = sl_xmalloc((size_t)ml);
            memcpy(tp->metadata, meta, (size_t)ml);
            tp->metadata_size = (size_t)ml;
        }
    }
    int rc = SL_OK;
    int closed = l->cnt > 0 && atomic_load(&s->consumer_closed);
    if (closed) {
        /* A checkpoint that completes after the end of the input (or the
         * stop) repeats offsets already committed: nothing to do. */
        for (int i = 0; i < l->cnt && rc == SL_OK; i++) {
            sl__ks_part *p =
                sl__ks_part_of(s, sl__ks_topic_index(s, l->elems[i].topic), l->elems[i].partition);
            if (!p || l->elems[i].offset > atomic_load(&p->committed))
                rc = SL_EKAFKA;
        }
        if (rc != SL_OK)
            sl_warn("kafka", "commit of checkpoint %" PRIu64 " after the consumer closed: skipped",
                    checkpoint_id);
    }
    if (l->cnt > 0 && !closed) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, 0);
        if (err) {
            sl_warn("kafka",
                    "commit of checkpoint %" PRIu64
                    " failed (retried with the next checkpoint): %s",
                    checkpoint_id, rd_kafka_err2str(err));
            rc = SL_EKAFKA;
        } else {
            for (int i = 0; i < l->cnt; i++) {
                sl__ks_part *p = sl__ks_part_of(s, sl__ks_topic_index(s, l->elems[i].topic),
                                                l->elems[i].partition);
                if (p)
                    atomic_store(&p->committed, l->elems[i].offset);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}
