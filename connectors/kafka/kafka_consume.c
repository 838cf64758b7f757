/*
 * kafka_consume.c - the `kafka` source's consumer threads: each serves the
 * partitions forwarded to its queue, decodes their messages into its lane
 * (DIRECT, STAGE2) or produces them keyed to the repartition topic
 * (STAGE1), publishes watermarks across the shuffle and pauses partitions
 * whose worker stays full. Design notes and invariants: kafka_source.c.
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

/* Owner thread: part of a message's topic handle and partition. */
static sl__ks_part *ks_thread_lookup(sl__ks_thread *t, rd_kafka_topic_t *rkt, int32_t partition)
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
/* ---- consumer threads ------------------------------------------------ */

static void ks_thread_task_grow(sl__ks_thread *t, int32_t task)
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

static void ks_part_watermark(sl__ks_thread *t, sl__ks_part *p, int64_t now, int ended);

/* Owner thread: `p` reached its end (stop_at_eof). Its last watermark
 * goes out first, marked ended (it holds nobody back any more), before
 * the control thread can see the part done and read the repartition
 * topic's ends. */
static void ks_part_done(sl__ks_thread *t, sl__ks_part *p)
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

static void ks_thread_assign(sl__ks_thread *t, sl__ks_part *p, int64_t start)
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

static void ks_thread_revoke(sl__ks_thread *t, sl__ks_part *p)
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
static size_t ks_thread_commands(sl__ks_thread *t, sl__ks_cmd *rev, size_t rev_cap)
{
    size_t nrev = 0;
    pthread_mutex_lock(&t->mu);
    size_t keep = 0;
    for (size_t i = 0; i < t->ncmds; i++) {
        sl__ks_cmd c = t->cmds[i];
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

static void ks_thread_apply_revokes(sl__ks_thread *t, sl__ks_cmd *rev, size_t nrev)
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
void sl__ks_repartition_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    sl__ks_source *s = opaque;
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
static int ks_produce(sl__ks_thread *t, int32_t partition, const char *val, size_t len,
                      const char *key, size_t klen, int64_t ts, const char *header,
                      const char *hval, size_t hlen)
{
    sl__ks_source *s = t->s;
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
static int ks_produce_repartition(sl__ks_thread *t, const char *val, size_t len, int64_t ts,
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
static int ks_caught_up(sl__ks_source *s, sl__ks_part *p)
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
static void ks_part_watermark(sl__ks_thread *t, sl__ks_part *p, int64_t now, int ended)
{
    sl__ks_source *s = t->s;
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
static void ks_thread_message_error(sl__ks_thread *t, rd_kafka_message_t *m)
{
    sl__ks_source *s = t->s;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "-";
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        sl__ks_part *p = m->rkt ? ks_thread_lookup(t, m->rkt, m->partition) : NULL;
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
static int ks_stage2_watermark(sl__ks_thread *t, sl__ks_part *p, const rd_kafka_message_t *m,
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

static void ks_thread_message(sl__ks_thread *t, rd_kafka_message_t *m)
{
    if (SL_UNLIKELY(m->err)) {
        ks_thread_message_error(t, m);
        return;
    }
    sl__ks_part *p = ks_thread_lookup(t, m->rkt, m->partition);
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
static void ks_thread_after_flush(sl__ks_thread *t, int flushed)
{
    for (size_t i = 0; i < t->nowned; i++) {
        sl__ks_part *p = t->owned[i];
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
static void ks_thread_pause_blocked(sl__ks_thread *t)
{
    for (size_t i = 0; i < t->nowned; i++) {
        sl__ks_part *p = t->owned[i];
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
 * (SL_EAGAIN), the thread stops taking messages and pumps the lane, parked
 * between tries until a worker takes a batch (sl_lane_park); if it
 * stays blocked for "pause_after" (100 ms) the blocked partitions are paused
 * (rd_kafka_pause_partitions, from this thread only) and resumed once
 * their worker has room. Short stalls thus cost no refetch, and memory is
 * bounded either way (librdkafka's per-partition prefetch limit plus one
 * poll batch).
 */
void *sl__ks_thread_main(void *arg)
{
    sl__ks_thread *t = arg;
    sl__ks_source *s = t->s;
    char name[16];
    snprintf(name, sizeof(name), "sl-kafka-%d", (int)(t - s->threads));
    pthread_setname_np(pthread_self(), name);
    sl__ks_cmd rev[64];
    int64_t last_flush = sl_mono_ns();
    /* Throughput: a poll waits up to 20 ms to fill poll_batch, the lane is
     * flushed every 10 ms or when a poll comes back short. Latency: both
     * cut at s->cut_ms, so a partial batch waits at most that long. */
    int wait_ms = s->cut_ms > 0 ? s->cut_ms : 20;
    int64_t flush_ns = s->cut_ms > 0 ? s->cut_ms * 1000000ll : 10 * 1000000ll + 1;
    int empty_polls = 0;
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
                sl_lane_park(t->lane, 1); /* until a worker takes a batch */
                continue;
            }
        }
        /* Idle for a second (throughput mode): polls wait 100 ms, so a
         * node without traffic wakes 10 times a second, not 50. */
        int idle_wait = s->cut_ms <= 0 && empty_polls > 50 && !t->npaused;
        ssize_t n = rd_kafka_consume_batch_queue(t->queue, idle_wait ? 100 : wait_ms, t->msgs,
                                                 (size_t)s->poll_batch);
        empty_polls = n > 0 ? 0 : empty_polls + 1;
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
                sl__ks_part *p = t->owned[i];
                if (p->active && !atomic_load_explicit(&p->done, memory_order_relaxed))
                    ks_part_watermark(t, p, now, 0);
            }
        }
        if (n < s->poll_batch || now - last_flush >= flush_ns) {
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
