/*
 * lane.c - the source side of the engine: a lane is one source thread's
 * connection to every worker (see engine.h and the notes in engine.c).
 *
 * @locality: every function here runs on the lane's own source thread,
 * except sl__lane_init/destroy (main thread, before start / after join).
 *
 * A lane decodes events into per-task batches, seals full batches into a
 * per-worker FIFO and moves the FIFO into the worker's ring as room allows.
 * It never blocks on a worker ring and never drops: when a FIFO cannot
 * drain, sl_lane_* return SL_EAGAIN and the source pauses that input. (Dead
 * letters are the exception: a full dead-letter ring makes the lane wait,
 * sl__lane_push_dlq.) At each checkpoint the
 * lane puts BARRIER(n) into every task's stream, after the last event it
 * delivered, carrying the task's next input offset and its source state
 * (lane_state.c).
 */
#include "engine_internal.h"
#include "json_scan.h"
#include "probe.h"
#include "log.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl__queue_push(sl__queue *q, sl_batch *b)
{
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->len++;
}

sl_batch *sl__queue_pop(sl__queue *q)
{
    sl_batch *b = q->head;
    if (b) {
        q->head = b->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
        b->next = NULL;
    }
    return b;
}

sl_lane *sl_engine_lane(sl_engine *e, int index)
{
    if (index < 0 || index >= e->nlanes)
        return NULL;
    return &e->lanes[index];
}

int sl_lane_set_mode(sl_lane *l, int ingest_mode)
{
    char err[256];
    sl_ingest *ing = sl_ingest_new(l->engine->def, (sl_ingest_mode)ingest_mode, err, sizeof(err));
    if (!ing) {
        sl_error("engine", "lane %d: %s", l->index, err);
        return SL_EINVAL;
    }
    sl_ingest_free(l->ingest);
    l->ingest = ing;
    l->nvals = sl_ingest_ncolumns(ing);
    sl_probe_free(l->probe); /* it read the old decoder's slots */
    l->probe = NULL;
    return SL_OK;
}

/* Grows the per-task arrays to hold `task`. */
static void sl__lane_reserve(sl_lane *l, int32_t task)
{
    if ((size_t)task < l->nbuilding)
        return;
    size_t n = l->nbuilding ? l->nbuilding : 16;
    while (n <= (size_t)task)
        n *= 2;
    l->building = sl_xrealloc(l->building, n * sizeof(*l->building));
    l->next_offset = sl_xrealloc(l->next_offset, n * sizeof(*l->next_offset));
    l->dedup = sl_xrealloc(l->dedup, n * sizeof(*l->dedup));
    l->inputs = sl_xrealloc(l->inputs, n * sizeof(*l->inputs));
    for (size_t i = l->nbuilding; i < n; i++) {
        l->building[i] = NULL;
        l->next_offset[i] = -1;
        l->dedup[i].max = NULL;
        l->dedup[i].n = 0;
        memset(&l->inputs[i], 0, sizeof(l->inputs[i]));
        l->inputs[i].sent = INT64_MIN;
    }
    l->nbuilding = n;
}

void sl_lane_add_task(sl_lane *l, int32_t task)
{
    sl__lane_reserve(l, task);
    for (size_t i = 0; i < l->ntasks; i++)
        if (l->tasks[i] == task)
            return;
    if (l->ntasks == l->tasks_cap) {
        l->tasks_cap = l->tasks_cap ? l->tasks_cap * 2 : 16;
        l->tasks = sl_xrealloc(l->tasks, l->tasks_cap * sizeof(*l->tasks));
    }
    l->tasks[l->ntasks++] = task;
}

static void sl__lane_remove_task(sl_lane *l, int32_t task)
{
    for (size_t i = 0; i < l->ntasks; i++) {
        if (l->tasks[i] == task) {
            l->tasks[i] = l->tasks[--l->ntasks];
            return;
        }
    }
}

void sl__lane_publish(sl_lane *l)
{
    SL__PUBLISH(l->counters.events_in, l->events_in);
    SL__PUBLISH(l->counters.filtered, l->filtered);
    SL__PUBLISH(l->counters.dead_lettered, l->dead_lettered);
    SL__PUBLISH(l->counters.duplicates, l->duplicates);
    for (int i = 0; i < SL_BAD_COUNT; i++)
        SL__PUBLISH(l->counters.bad[i], l->bad[i]);
    if (l->ingest)
        SL__PUBLISH(l->counters.div_zero, sl_ingest_div_zero(l->ingest));
}

int sl_lane_pump(sl_lane *l)
{
    int blocked = 0;
    for (int w = 0; w < l->engine->nworkers; w++) {
        sl__queue *q = &l->queued[w];
        int pushed = 0;
        while (q->head) {
            /* Unlink before the push: once pushed, the worker owns (and may
             * already have freed) the batch. */
            sl_batch *b = sl__queue_pop(q);
            if (!sl_ring_push(l->rings[w], b)) {
                b->next = q->head; /* back at the front */
                q->head = b;
                if (!q->tail)
                    q->tail = b;
                q->len++;
                break;
            }
            pushed = 1;
        }
        if (pushed)
            sl_park_wake(&l->engine->workers[w].park);
        if (q->head)
            blocked = 1;
    }
    sl__lane_publish(l);
    return blocked ? SL_EAGAIN : SL_OK;
}

int sl_lane_blocked(const sl_lane *l, int32_t task)
{
    return l->queued[sl_engine_worker_of(l->engine, task)].head != NULL;
}

/* Moves task's partial batch (if any) to its worker's queue. */
static void sl__lane_seal(sl_lane *l, int32_t task)
{
    if (task < 0 || (size_t)task >= l->nbuilding || !l->building[task])
        return;
    sl_batch *b = l->building[task];
    l->building[task] = NULL;
    if (b->count == 0) {
        sl_batch_free(b);
        return;
    }
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, task)], b);
}

/* Injects BARRIER(n) into every task's stream when checkpoint n was begun
 * since the lane's last barrier. */
static void sl__lane_maybe_barrier(sl_lane *l)
{
    sl_checkpointer *c = l->engine->checkpointer;
    if (!c)
        return;
    uint64_t n = sl_checkpointer_requested(c);
    if (n <= l->last_barrier)
        return;
    int injected = 0;
    /* Ordered lanes share their tasks: lane 0's barriers are theirs. */
    size_t ntasks = l->engine->ordered && l->index > 0 ? 0 : l->ntasks;
    for (size_t i = 0; i < ntasks; i++) {
        int32_t task = l->tasks[i];
        sl__lane_seal(l, task);
        sl_batch *ctl = sl_batch_control(SL_MSG_BARRIER, task, l->next_offset[task]);
        if (!ctl) {
            atomic_store(&l->engine->failed, 1);
            return;
        }
        ctl->checkpoint_id = n;
        sl_buf st;
        sl_buf_init(&st);
        sl__lane_source_state(l, task, &st);
        ctl->bytes = (char *)st.data;
        ctl->bytes_len = ctl->bytes_cap = st.len;
        if (st.failed)
            atomic_store(&l->engine->failed, 1);
        sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, task)], ctl);
        injected++;
    }
    l->last_barrier = n;
    sl_checkpointer_lane_done(c, n, injected);
}

void sl_lane_wait(sl_lane *l)
{
    for (;;) {
        sl__lane_maybe_barrier(l);
        if (sl_lane_pump(l) != SL_EAGAIN || sl_engine_stopping(l->engine))
            return;
        sl_lane_park(l, 10); /* 10 ms at most: barriers, stop requests */
    }
}

void sl_lane_park(sl_lane *l, int timeout_ms)
{
    for (int spin = 0; spin < 32; spin++)
        if (sl_lane_pump(l) != SL_EAGAIN)
            return;
    sl_park_prepare(&l->room);
    if (sl_lane_pump(l) != SL_EAGAIN || sl_engine_stopping(l->engine)) {
        sl_park_cancel(&l->room);
        return;
    }
    sl_park_wait(&l->room, (int64_t)(timeout_ms < 1 ? 1 : timeout_ms) * 1000000);
}

sl_batch *sl__spare_take(sl_ring *r, sl_msg_kind kind, int32_t task, uint32_t capacity,
                         uint32_t nvals)
{
    sl_batch *b;
    while ((b = sl_ring_pop(r)) != NULL) {
        if (b->capacity == capacity && b->nvals == nvals && !b->attach) {
            sl_batch_reset(b);
            b->kind = kind;
            b->task = task;
            b->flags = 0;
            b->next = NULL;
            return b;
        }
        sl_batch_free(b);
    }
    return NULL;
}

void sl__spare_give(sl_ring *r, sl_batch *b)
{
    if (!sl_ring_push(r, b))
        sl_batch_free(b);
}

/* A spare batch from any worker, else a new one. */
static sl_batch *sl__lane_new_batch(sl_lane *l, int32_t task)
{
    uint32_t cap = (uint32_t)l->engine->def->runtime.batch_size;
    int n = l->engine->nworkers;
    for (int k = 0; k < n; k++) {
        int w = (l->spare_next + k) % n;
        sl_batch *b = sl__spare_take(l->spare[w], SL_MSG_DATA, task, cap, l->nvals);
        if (b) {
            l->spare_next = w;
            return b;
        }
    }
    return sl_batch_new(SL_MSG_DATA, task, cap, l->nvals);
}

static sl_batch *sl__lane_batch_for(sl_lane *l, int32_t task)
{
    sl__lane_reserve(l, task);
    sl_batch *b = l->building[task];
    if (!b) {
        b = sl__lane_new_batch(l, task);
        if (!b)
            return NULL;
        l->building[task] = b;
        sl_lane_add_task(l, task);
    }
    return b;
}

/* Appends the payload members of a dead-letter record (escaped, or
 * base64 when not UTF-8; see sl_json_payload_members) to the batch arena. */
static void sl__put_payload(sl_batch *b, const char *src, size_t len)
{
    size_t max = SL_DEAD_LETTER_MAX_PAYLOAD;
    uint32_t off;
    char *p = sl_batch_reserve_bytes(b, sl_json_payload_members_max(max), &off);
    if (!p)
        return;
    b->bytes_len = off + sl_json_payload_members(src, len, max, p);
}

static void sl__lane_push_dlq(sl_lane *l)
{
    if (l->dlq_batch && l->dlq_batch->count) {
        sl__push_blocking(l->engine, l->dlq, l->dlq_batch, &l->room);
        l->dlq_batch = NULL;
    }
}

/* Records a rejected event for the dead-letter sink. */
static void sl__lane_dead_letter(sl_lane *l, int32_t task, sl_bad_reason reason,
                                 const char *payload, size_t len, int64_t offset)
{
    if (!l->engine->dlq_ops)
        return;
    if (!l->dlq_batch && !(l->dlq_batch = sl_batch_new(SL_MSG_BAD, -1, 256, 0)))
        return;
    sl_batch *b = l->dlq_batch;
    uint32_t i = b->count;
    const char *rname = sl_bad_reason_name(reason);
    b->key_len[i] = (uint32_t)strlen(rname);
    b->key_off[i] = sl_batch_put_bytes(b, rname, b->key_len[i]);
    char head[160];
    int hn = snprintf(head, sizeof(head), "{\"reason\":\"%s\",\"task\":%d,\"offset\":%" PRId64,
                      rname, task, offset);
    size_t start = b->bytes_len;
    sl_batch_put_bytes(b, head, (size_t)hn);
    sl__put_payload(b, payload, len); /* huge ones truncated, and said so */
    sl_batch_put_bytes(b, "}", 1);
    b->row_off[i] = (uint32_t)start;
    b->row_len[i] = (uint32_t)(b->bytes_len - start);
    b->offset[i] = offset;
    b->ts[i] = 0;
    b->key_hash[i] = (uint64_t)(uint32_t)task;
    b->count++;
    l->dead_lettered++;
    if (b->count == b->capacity)
        sl__lane_push_dlq(l);
}

int sl_lane_ingest(sl_lane *l, int32_t task, const char *payload, size_t len, int64_t offset,
                   int64_t kafka_ts)
{
    sl_bad_reason reason = SL_BAD_MALFORMED;
    l->events_in++;
    l->last_ts = INT64_MIN;
    if (task >= 0) {
        sl__lane_reserve(l, task);
        l->next_offset[task] = offset + 1;
    }
    sl_decode_result r = sl_ingest_decode(l->ingest, payload, len, kafka_ts, &reason);
    if (SL_UNLIKELY(l->probe != NULL)) {
        if (l->probe_skip) {
            l->probe_skip--;
        } else {
            l->probe_skip = sl_probe_event(l->probe, r == SL_DECODE_FILTERED);
            if (!sl_probe_active(l->probe)) {
                sl_probe_free(l->probe);
                l->probe = NULL;
            }
        }
    }
    if (SL_UNLIKELY(r != SL_DECODE_OK)) {
        if (r == SL_DECODE_FILTERED) {
            l->filtered++;
        } else {
            l->bad[reason]++;
            sl__lane_dead_letter(l, task, reason, payload, len, offset);
        }
        return task >= 0 && sl_lane_blocked(l, task) ? SL_EAGAIN : SL_OK;
    }
    if (task < 0)
        task = (int32_t)(sl_ingest_key_hash(l->ingest) % (uint64_t)l->engine->def->runtime.tasks);
    l->last_ts = sl_ingest_ts(l->ingest);
    sl_batch *b = sl__lane_batch_for(l, task);
    if (!b || sl_ingest_append(l->ingest, b, offset) != SL_OK) {
        sl_error("engine", "out of memory building a batch");
        atomic_store(&l->engine->failed, 1);
        return SL_ENOMEM;
    }
    if (l->keep_payload) { /* for late dead letters, which must be replayable */
        uint32_t off = sl_batch_put_bytes(b, payload, len);
        if (off != UINT32_MAX) {
            b->row_off[b->count - 1] = off;
            b->row_len[b->count - 1] = (uint32_t)len;
        }
    }
    if (b->count == b->capacity) {
        sl__lane_seal(l, task);
        return sl_lane_pump(l);
    }
    return sl_lane_blocked(l, task) ? SL_EAGAIN : SL_OK;
}

int sl_lane_ingest_from(sl_lane *l, int32_t task, const char *payload, size_t len, int64_t offset,
                        int64_t kafka_ts, int32_t src_task, int64_t src_offset)
{
    l->last_ts = INT64_MIN;
    if (task >= 0 && src_task >= 0) {
        sl__lane_reserve(l, task);
        sl__dedup *d = &l->dedup[task];
        if ((size_t)src_task >= d->n) {
            size_t n = (size_t)src_task + 1;
            d->max = sl_xrealloc(d->max, n * sizeof(*d->max));
            for (size_t i = d->n; i < n; i++)
                d->max[i] = -1;
            d->n = n;
        }
        if (src_offset <= d->max[src_task]) {
            l->duplicates++;
            l->next_offset[task] = offset + 1;
            return sl_lane_blocked(l, task) ? SL_EAGAIN : SL_OK;
        }
        d->max[src_task] = src_offset;
    }
    return sl_lane_ingest(l, task, payload, len, offset, kafka_ts);
}

/* Sends the task's merged watermark to its worker when it rose, or when
 * whether every input is idle changed (`force`: in any case). The message
 * follows the task's pending events, so its position among them is that of
 * the record that caused it. */
static void sl__lane_inputs_send(sl_lane *l, int32_t task, int force)
{
    sl__inputs *in = &l->inputs[task];
    int64_t min = INT64_MAX;
    int active = 0;
    for (size_t u = 0; u < in->n; u++) {
        if (in->idle[u])
            continue;
        active = 1;
        if (in->wm[u] < min)
            min = in->wm[u];
    }
    int all_idle = in->n > 0 && !active;
    int64_t wm = active ? min : INT64_MIN;
    if (!force && wm <= in->sent && all_idle == in->idle_sent)
        return;
    if (wm > in->sent)
        in->sent = wm;
    in->idle_sent = all_idle;
    sl__lane_seal(l, task);
    sl_batch *ctl = sl_batch_control(SL_MSG_INPUT_WM, task, in->sent);
    if (!ctl) {
        atomic_store(&l->engine->failed, 1);
        return;
    }
    ctl->flags = all_idle ? SL_CTL_INPUTS_IDLE : 0;
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, task)], ctl);
}

int sl_lane_watermark_from(sl_lane *l, int32_t task, int64_t offset, int32_t input, int32_t ninputs,
                           int64_t watermark, int idle)
{
    if (task < 0 || input < 0 || ninputs <= input || ninputs > SL_LANE_MAX_INPUTS)
        return SL_EINVAL;
    sl__lane_reserve(l, task);
    if (offset >= 0)
        l->next_offset[task] = offset + 1;
    sl__inputs *in = &l->inputs[task];
    sl__inputs_grow(in, (size_t)ninputs);
    /* The latest word of an input on idleness, the highest on its
     * watermark: a restarted upstream republishing an older watermark
     * moves nothing backwards. */
    if (watermark > in->wm[input])
        in->wm[input] = watermark;
    in->idle[input] = idle != 0;
    sl__lane_inputs_send(l, task, 0);
    return sl_lane_blocked(l, task) ? SL_EAGAIN : SL_OK;
}

void sl_lane_input_offset(sl_lane *l, int32_t task, int32_t input, int32_t ninputs, int64_t next)
{
    if (task < 0 || input < 0 || ninputs <= input || ninputs > SL_LANE_MAX_INPUTS)
        return;
    sl__lane_reserve(l, task);
    sl__inputs *in = &l->inputs[task];
    if (SL_UNLIKELY(in->n < (size_t)ninputs))
        sl__inputs_grow(in, (size_t)ninputs); /* once per assignment */
    in->next[input] = next;
}

void sl_lane_set_merged(sl_lane *l, int on)
{
    l->merged = on != 0;
}

int64_t sl_lane_last_event_time(const sl_lane *l)
{
    return l->last_ts;
}

int sl_lane_push_batch(sl_lane *l, sl_batch *b)
{
    sl__lane_seal(l, b->task);
    sl_lane_add_task(l, b->task);
    l->events_in += b->count;
    if (b->count)
        l->next_offset[b->task] = b->offset[b->count - 1] + 1;
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, b->task)], b);
    return sl_lane_pump(l);
}

int sl_lane_flush(sl_lane *l)
{
    for (size_t t = 0; t < l->nbuilding; t++)
        if (l->building[t])
            sl__lane_seal(l, (int32_t)t);
    sl__lane_push_dlq(l);
    sl__lane_maybe_barrier(l);
    return sl_lane_pump(l);
}

int sl_lane_chunk_end(sl_lane *l)
{
    for (size_t t = 0; t < l->nbuilding; t++)
        if (l->building[t])
            sl__lane_seal(l, (int32_t)t);
    for (int w = 0; w < l->engine->nworkers; w++) {
        sl_batch *ctl = sl_batch_control(SL_MSG_CHUNK_END, -1, 0);
        if (!ctl) {
            atomic_store(&l->engine->failed, 1);
            return SL_ENOMEM;
        }
        sl__queue_push(&l->queued[w], ctl);
    }
    return sl_lane_pump(l);
}

int sl_lane_control(sl_lane *l, int32_t task, sl_batch *ctl)
{
    sl__lane_seal(l, task);
    ctl->task = task;
    if (ctl->kind == SL_MSG_REVOKE) {
        sl__lane_remove_task(l, task);
        atomic_fetch_add(&l->engine->revokes_sent, 1);
    } else {
        sl_lane_add_task(l, task);
        if (ctl->kind == SL_MSG_ASSIGN) {
            l->next_offset[task] = ctl->value;
            sl__lane_restore_source_state(l, ctl);
            if (l->merged)
                ctl->flags |= SL_CTL_MERGED;
            atomic_fetch_add(&l->engine->assigns_sent, 1);
        }
    }
    int assign = ctl->kind == SL_MSG_ASSIGN;
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, task)], ctl);
    /* A restored merged task learns its inputs' state right away. */
    if (assign && l->merged && l->inputs[task].n)
        sl__lane_inputs_send(l, task, 1);
    return sl_lane_pump(l);
}

int sl_lane_control_all(sl_lane *l, sl_msg_kind kind, int64_t value)
{
    sl_lane_flush(l);
    for (int w = 0; w < l->engine->nworkers; w++) {
        sl_batch *ctl = sl_batch_control(kind, -1, value);
        if (!ctl)
            return SL_ENOMEM;
        sl__queue_push(&l->queued[w], ctl);
    }
    return sl_lane_pump(l);
}

int sl__lane_init(sl_engine *e, sl_lane *l, int index, size_t ring_cap, char *errstr,
                  size_t errstr_size)
{
    l->engine = e;
    l->index = index;
    l->last_ts = INT64_MIN;
    sl_park_init(&l->room);
    l->ingest = sl_ingest_new(e->def, SL_INGEST_RAW, errstr, errstr_size);
    if (!l->ingest)
        return SL_EINVAL;
    l->nvals = sl_ingest_ncolumns(l->ingest);
    l->keep_payload = e->dlq_ops && e->def->window;
    /* A repartitioning source's raw lanes see only its bad and filtered
     * events, which say nothing about the input as a whole. */
    if (!sl_def_needs_repartition(e->def, NULL))
        l->probe = sl_probe_new(e, l->ingest);
    l->queued = sl_xcalloc((size_t)e->nworkers, sizeof(*l->queued));
    l->rings = sl_xcalloc((size_t)e->nworkers, sizeof(*l->rings));
    l->spare = sl_xcalloc((size_t)e->nworkers, sizeof(*l->spare));
    for (int w = 0; w < e->nworkers; w++)
        if (!(l->rings[w] = sl_ring_new(ring_cap)) ||
            !(l->spare[w] = sl_ring_new(SL__SPARE_CAP(ring_cap))))
            return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory creating rings");
    if (!(l->dlq = sl_ring_new(ring_cap)))
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory creating rings");
    return SL_OK;
}

void sl__lane_destroy(sl_lane *l, int nworkers)
{
    sl_batch *b;
    sl_probe_free(l->probe);
    l->probe = NULL;
    for (size_t t = 0; t < l->nbuilding; t++)
        sl_batch_free(l->building[t]);
    free(l->building);
    free(l->next_offset);
    for (size_t t = 0; t < l->nbuilding && l->dedup; t++)
        free(l->dedup[t].max);
    free(l->dedup);
    for (size_t t = 0; t < l->nbuilding && l->inputs; t++)
        sl__inputs_free(&l->inputs[t]);
    free(l->inputs);
    for (int w = 0; w < nworkers && l->queued; w++)
        while ((b = sl__queue_pop(&l->queued[w])))
            sl_batch_free(b);
    for (int w = 0; w < nworkers && l->rings; w++) {
        while (l->rings[w] && (b = sl_ring_pop(l->rings[w])))
            sl_batch_free(b);
        sl_ring_free(l->rings[w]);
    }
    for (int w = 0; w < nworkers && l->spare; w++) {
        while (l->spare[w] && (b = sl_ring_pop(l->spare[w])))
            sl_batch_free(b);
        sl_ring_free(l->spare[w]);
    }
    free(l->spare);
    if (l->dlq) {
        while ((b = sl_ring_pop(l->dlq)))
            sl_batch_free(b);
        sl_ring_free(l->dlq);
    }
    sl_batch_free(l->dlq_batch);
    free(l->queued);
    free(l->rings);
    free(l->tasks);
    sl_ingest_free(l->ingest);
}
