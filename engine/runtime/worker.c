/*
 * worker.c - worker threads: each hosts many tasks and runs their window
 * operator on the batches the lanes send, in order. The checkpoint side of
 * a task (snapshot at a barrier, restore, ASSIGN with its output scan) is
 * in worker_checkpoint.c.
 *
 * @locality: everything here runs on the worker's own thread, except
 * sl__worker_init/destroy (main thread, before start / after join).
 *
 * Per task, results get consecutive sequence numbers. Three rules decide
 * what happens to a result:
 *   1. the task wrote it before a failure: dropped. The sink's output scan
 *      on restore finds, per output partition, the highest sequence number
 *      already there (delivery is ordered per partition only: a crash can
 *      leave result 9 in one partition and lose result 7 in flight to
 *      another, so one maximum over all partitions would drop result 7),
 *      and a result counts as written if its own partition (the sink's
 *      partition_of(key)) holds that sequence number or a later one (the
 *      scan and the merge of its marks: worker_checkpoint.c). The marks
 *      are part of the task snapshot: a checkpoint taken while the replay
 *      is still suppressed records a sink position past those results, so
 *      the next restore's scan cannot find them again.
 *   2. the task is holding (an idle-timeout watermark advance happened,
 *      a processing-time decision; or, with checkpoints, always for a task
 *      whose inputs interleave by fetch timing, SL_CTL_UNORDERED: a replay
 *      may interleave them differently, so no result may be out before the
 *      state that produced it is durable, and rule 1 then only ever meets
 *      results that are in the restored snapshot) or already has held
 *      results: held, in
 *      order, until the checkpoint taken right after the advance is
 *      durable (the output commit rule). Held results are part of
 *      the task snapshot, so a restore re-emits them (rule 1 dedups).
 *   3. otherwise it goes to the sink at once.
 */
#include "engine_internal.h"
#include "chain.h"
#include "task_snapshot.h"
#include "json_scan.h"
#include "log.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- task table ---------------------------------------------------------- */

static sl__task *sl__task_find(sl__worker *w, int32_t id)
{
    for (sl__task *t = w->buckets[(uint32_t)id % w->nbuckets]; t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static void sl__task_free(sl__task *t)
{
    sl_chain_free(t->chain);
    for (size_t i = 0; i < t->nheld; i++) {
        free(t->held[i].key);
        free(t->held[i].value);
    }
    free(t->held);
    free(t->suppress);
    free(t);
}

/* (Re)creates the task's operator chain; merged: its clock is the minimum
 * of its inputs' watermarks. */
void sl__task_open_chain(sl__worker *w, sl__task *t, int merged)
{
    char err[256];
    sl_chain_free(t->chain);
    t->chain = NULL;
    sl_op_env env = {.def = w->engine->def, .task = t->id, .external_watermark = merged};
    if (sl_chain_open(w->engine->def, &env, &t->chain, err, sizeof(err)) != SL_OK) {
        sl_error("engine", "task %d: %s", t->id, err);
        atomic_store(&w->engine->failed, 1);
    }
}

sl__task *sl__task_create(sl__worker *w, int32_t id, int lane)
{
    sl__task *t = sl_xcalloc(1, sizeof(*t));
    t->id = id;
    t->lane = lane;
    t->last_input_ns = sl_mono_ns();
    t->idle_base_wm = INT64_MIN;
    t->suppress_floor = t->suppress_max = -1;
    sl__task_open_chain(w, t, 0);
    size_t b = (uint32_t)id % w->nbuckets;
    t->next = w->buckets[b];
    w->buckets[b] = t;
    w->ntasks++;
    return t;
}

static sl__task *sl__task_get(sl__worker *w, int32_t id, int lane)
{
    sl__task *t = sl__task_find(w, id);
    return t ? t : sl__task_create(w, id, lane);
}

void sl__task_remove(sl__worker *w, int32_t id)
{
    sl__task **pp = &w->buckets[(uint32_t)id % w->nbuckets];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    if (*pp) {
        sl__task *t = *pp;
        *pp = t->next;
        if (t->nheld)
            w->nholding--;
        w->state_total -= t->state_cached;
        if (t->chain) {
            sl_op_stats st;
            sl_chain_stats(t->chain, &st);
            w->state_full_old += st.refused;
        }
        sl__task_free(t);
        w->ntasks--;
    }
}

/* ---- results --------------------------------------------------------------- */

void sl__push_blocking(sl_engine *e, sl_ring *r, sl_batch *b, sl_parker *self)
{
    int spins = 0;
    while (!sl_ring_push(r, b)) {
        if (atomic_load(&e->failed)) {
            sl_batch_free(b);
            return;
        }
        if (++spins < 64)
            continue;
        sl_park_prepare(self);
        if (sl_ring_push(r, b)) {
            sl_park_cancel(self);
            break;
        }
        sl_park_wait(self, 10 * 1000000); /* bounded: the failed check above */
    }
    sl_park_wake(&e->sink_park);
}

void sl__worker_flush_results(sl__worker *w)
{
    if (w->results && w->results->count) {
        sl__push_blocking(w->engine, w->out, w->results, &w->room);
        w->results = NULL;
    }
    if (w->dead && w->dead->count) {
        sl__push_blocking(w->engine, w->out, w->dead, &w->room);
        w->dead = NULL;
    }
}

/* Appends one result row to the batch going to the sink. */
static void sl__send_result(sl__worker *w, int32_t task, const char *key, size_t key_len,
                            const char *value, size_t value_len, int64_t ts, uint64_t seq)
{
    if (!w->results &&
        !(w->results = sl__spare_take(w->spare, SL_MSG_RESULTS, -1, SL__OUT_BATCH_ROWS, 0)) &&
        !(w->results = sl_batch_new(SL_MSG_RESULTS, -1, SL__OUT_BATCH_ROWS, 0))) {
        atomic_store(&w->engine->failed, 1);
        return;
    }
    sl_batch *b = w->results;
    uint32_t i = b->count;
    b->key_off[i] = sl_batch_put_bytes(b, key, key_len);
    b->key_len[i] = (uint32_t)key_len;
    b->row_off[i] = sl_batch_put_bytes(b, value, value_len);
    b->row_len[i] = (uint32_t)value_len;
    if (b->key_off[i] == UINT32_MAX || b->row_off[i] == UINT32_MAX) {
        atomic_store(&w->engine->failed, 1);
        return;
    }
    b->offset[i] = (int64_t)seq;
    b->ts[i] = ts;
    b->key_hash[i] = (uint64_t)(uint32_t)task;
    b->count++;
    w->results_count++;
    if (b->count == b->capacity)
        sl__worker_flush_results(w);
}

void sl__task_hold(sl__worker *w, sl__task *t, const char *key, size_t key_len, const char *value,
                   size_t value_len, int64_t ts, uint64_t seq)
{
    if (t->nheld == t->held_cap) {
        t->held_cap = t->held_cap ? t->held_cap * 2 : 64;
        t->held = sl_xrealloc(t->held, t->held_cap * sizeof(*t->held));
    }
    sl__held *h = &t->held[t->nheld];
    h->key = sl_xmalloc(key_len + 1);
    memcpy(h->key, key, key_len);
    h->key_len = (uint32_t)key_len;
    h->value = sl_xmalloc(value_len + 1);
    memcpy(h->value, value, value_len);
    h->value_len = (uint32_t)value_len;
    h->ts = ts;
    h->seq = seq;
    h->release_at = 0;
    if (t->nheld++ == 0)
        w->nholding++;
}

/* Rule 1: did task t write result `seq` (with this key) before a failure? */
static int sl__written_before(const sl__worker *w, const sl__task *t, uint64_t seq, const char *key,
                              size_t key_len)
{
    if ((int64_t)seq > t->suppress_max)
        return 0;
    if ((int64_t)seq <= t->suppress_floor)
        return 1;
    const sl_sink_ops *ops = w->engine->sink_ops;
    uint32_t p = t->nsuppress > 1 && ops->partition_of
                     ? ops->partition_of(w->engine->sink, key, key_len, t->nsuppress)
                     : 0;
    return p < t->nsuppress && (int64_t)seq <= t->suppress[p];
}

/* One output row of the current task: numbered, then dropped (already
 * written before a failure), held (output commit rule) or sent. */
static void sl__emit_row(sl__worker *w, const char *key, size_t key_len, const char *value,
                         size_t value_len, int64_t ts)
{
    sl__task *t = w->current;
    uint64_t seq = t->next_seq++;
    if (sl__written_before(w, t, seq, key, key_len)) {
        w->suppressed++;
        return;
    }
    if (t->holding || t->nheld || t->hold_all)
        sl__task_hold(w, t, key, key_len, value, value_len, ts, seq);
    else
        sl__send_result(w, t->id, key, key_len, value, value_len, ts, seq);
}

/* The operator chain's result callback. */
static void sl__emit_result(void *ctx, const char *key, size_t key_len, const char *value,
                            size_t value_len, int64_t ts, int update)
{
    sl__worker *w = ctx;
    if (!value_len) /* a tombstone (upsert mode, batch.h) */
        w->tombstones++;
    else if (update)
        w->late_updates++;
    else
        w->windows_fired++;
    sl__emit_row(w, key, key_len, value, value_len, ts);
}

/* Sends a task's held results, oldest first, as far as the checkpoints
 * they wait for are durable. */
void sl__task_release_held(sl__worker *w, sl__task *t, uint64_t durable)
{
    size_t i = 0;
    for (; i < t->nheld; i++) {
        sl__held *h = &t->held[i];
        if (h->release_at == 0 || h->release_at > durable)
            break;
        if (!sl__written_before(w, t, h->seq, h->key, h->key_len))
            sl__send_result(w, t->id, h->key, h->key_len, h->value, h->value_len, h->ts, h->seq);
        free(h->key);
        free(h->value);
    }
    if (i == 0)
        return;
    memmove(t->held, t->held + i, (t->nheld - i) * sizeof(*t->held));
    t->nheld -= i;
    if (t->nheld == 0)
        w->nholding--;
}

static void sl__release_all(sl__worker *w)
{
    if (!w->nholding || !w->engine->checkpointer)
        return;
    uint64_t durable = sl_checkpointer_durable(w->engine->checkpointer);
    for (size_t k = 0; k < w->nbuckets; k++)
        for (sl__task *t = w->buckets[k]; t; t = t->next)
            sl__task_release_held(w, t, durable);
}

static void sl__emit_late(void *ctx, const sl_batch *in, uint32_t row, int64_t watermark)
{
    sl__worker *w = ctx;
    w->late++;
    if (!w->engine->dlq_ops)
        return;
    if (!w->dead && !(w->dead = sl_batch_new(SL_MSG_BAD, -1, 256, 0)))
        return;
    sl_batch *b = w->dead;
    uint32_t i = b->count, klen;
    const char *key = sl_batch_key(in, row, &klen);
    b->key_off[i] = sl_batch_put_bytes(b, "late", 4);
    b->key_len[i] = 4;
    char head[200];
    int hn = snprintf(head, sizeof(head),
                      "{\"reason\":\"late\",\"task\":%d,\"offset\":%" PRId64
                      ",\"event_time\":%" PRId64 ",\"watermark\":%" PRId64 ",\"key\":{",
                      in->task, in->offset[row], in->ts[row], watermark);
    size_t start = b->bytes_len;
    sl_batch_put_bytes(b, head, (size_t)hn);
    sl_batch_put_bytes(b, key, klen);
    sl_batch_put_bytes(b, "}", 1);
    uint32_t plen;
    const char *payload = sl_batch_row(in, row, &plen);
    if (plen) { /* the event itself, so the dead letter can be replayed */
        uint32_t off;
        char *p = sl_batch_reserve_bytes(b, sl_json_payload_members_max(SL_DEAD_LETTER_MAX_PAYLOAD),
                                         &off);
        if (p)
            b->bytes_len =
                off + sl_json_payload_members(payload, plen, SL_DEAD_LETTER_MAX_PAYLOAD, p);
    }
    sl_batch_put_bytes(b, "}", 1);
    b->row_off[i] = (uint32_t)start;
    b->row_len[i] = (uint32_t)(b->bytes_len - start);
    b->offset[i] = in->offset[row];
    b->ts[i] = in->ts[row];
    b->key_hash[i] = (uint64_t)(uint32_t)in->task;
    b->count++;
    w->dead_lettered++;
    if (b->count == b->capacity)
        sl__worker_flush_results(w);
}

/* A pipeline without a window: every event row is a result. */
static void sl__passthrough(sl__worker *w, const sl_batch *in)
{
    char kbuf[4096];
    for (uint32_t i = 0; i < in->count; i++) {
        uint32_t klen, rlen;
        const char *key = sl_batch_key(in, i, &klen);
        const char *row = sl_batch_row(in, i, &rlen);
        size_t kn = 0;
        if (klen && klen + 2 <= sizeof(kbuf)) {
            kbuf[0] = '{';
            memcpy(kbuf + 1, key, klen);
            kbuf[klen + 1] = '}';
            kn = klen + 2;
        }
        sl__emit_row(w, kbuf, kn, row, rlen, in->ts[i]);
    }
}

/* ---- the worker loop ---------------------------------------------------------- */

static void sl__task_close(sl__worker *w, sl__task *t)
{
    if (t->closed)
        return;
    w->current = t;
    if (t->chain)
        sl_chain_finish(t->chain, &w->emitter);
    t->closed = 1;
}

/*
 * runtime.max_state_bytes, after each data batch of task t: the node's
 * window state is this worker's tasks (exact, as of their last batch) plus
 * what the other workers last published. Past the budget the run fails
 * loudly (task, keys, bytes), or with on_state_full "drop" every task of
 * this worker refuses events of keys without state until the total is back
 * under the budget. The figures are the ones the state gauge publishes.
 */
static void sl__state_budget(sl__worker *w, sl__task *t)
{
    sl_engine *e = w->engine;
    const sl_def *def = e->def;
    sl_op_stats ts;
    sl_chain_stats(t->chain, &ts);
    size_t bytes = ts.state_bytes;
    w->state_total = w->state_total - t->state_cached + bytes;
    t->state_cached = bytes;
    uint64_t total = w->state_total;
    for (int o = 0; o < e->nworkers; o++)
        if (o != w->index)
            total += SL__READ(e->workers[o].counters.state_bytes);
    int over = total > (uint64_t)def->runtime.max_state_bytes;
    if (!def->runtime.state_full_drop) {
        if (over && !atomic_exchange(&e->failed, 1)) {
            sl_error("engine",
                     "window state %" PRIu64 " bytes exceeds runtime.max_state_bytes %" PRId64
                     ": task %d holds %zu keys in %zu bytes; stopping (raise the budget, or set "
                     "runtime.on_state_full to \"drop\" to refuse new keys instead)",
                     total, def->runtime.max_state_bytes, t->id, ts.keys, bytes);
            sl__engine_warning(e, "state_budget_exceeded",
                               "window state %" PRIu64 " bytes > max_state_bytes %" PRId64
                               " (task %d: %zu keys, %zu bytes)",
                               total, def->runtime.max_state_bytes, t->id, ts.keys, bytes);
        }
        return;
    }
    if (over != w->state_refusing) {
        w->state_refusing = over;
        for (size_t k = 0; k < w->nbuckets; k++)
            for (sl__task *x = w->buckets[k]; x; x = x->next)
                sl_chain_refuse_new_keys(x->chain, over);
        if (over)
            sl_warn("engine",
                    "window state %" PRIu64 " bytes exceeds runtime.max_state_bytes %" PRId64
                    " (task %d: %zu keys, %zu bytes): refusing events of new keys (state_full)",
                    total, def->runtime.max_state_bytes, t->id, ts.keys, bytes);
        else
            sl_info("engine",
                    "window state back under runtime.max_state_bytes: accepting new keys");
    } else if (over) {
        sl_chain_refuse_new_keys(t->chain, 1); /* a task created meanwhile */
    }
}

static void sl__worker_handle(sl__worker *w, int lane, sl_batch *b)
{
    switch (b->kind) {
    case SL_MSG_DATA: {
        sl__task *t = sl__task_get(w, b->task, lane);
        w->current = t;
        t->last_input_ns = sl_mono_ns();
        t->idle_base_wm = INT64_MIN;
        t->events += b->count;
        if (t->chain) {
            sl_chain_process(t->chain, b, &w->emitter);
            if (w->engine->def->runtime.max_state_bytes > 0)
                sl__state_budget(w, t);
        } else {
            sl__passthrough(w, b);
        }
        break;
    }
    case SL_MSG_WATERMARK: {
        sl__task *t = sl__task_get(w, b->task, lane);
        w->current = t;
        if (t->chain)
            sl_chain_watermark(t->chain, b->value, &w->emitter);
        break;
    }
    case SL_MSG_INPUT_WM: {
        /* Merged inputs: a deterministic advance (its position among the
         * events is that of a record in the input), not an idle one. */
        sl__task *t = sl__task_get(w, b->task, lane);
        w->current = t;
        t->inputs_idle = (b->flags & SL_CTL_INPUTS_IDLE) != 0;
        sl_op_stats st;
        sl_chain_stats(t->chain, &st);
        if (st.has_clock && b->value > st.watermark) {
            sl_chain_watermark(t->chain, b->value, &w->emitter);
            t->last_input_ns = sl_mono_ns();
            t->idle_base_wm = INT64_MIN;
        }
        break;
    }
    case SL_MSG_EOS:
        if (b->task >= 0) {
            sl__task_close(w, sl__task_get(w, b->task, lane));
        } else {
            /* Ordered lanes share every task: the end is everyone's. */
            int all = w->engine->ordered;
            for (size_t k = 0; k < w->nbuckets; k++)
                for (sl__task *t = w->buckets[k]; t; t = t->next)
                    if (all || t->lane == lane)
                        sl__task_close(w, t);
        }
        break;
    case SL_MSG_CHUNK_END:
        w->cursor = (lane + 1) % w->engine->nlanes;
        break;
    case SL_MSG_BARRIER: {
        int64_t t0 = sl_mono_ns();
        sl__task_snapshot(w, sl__task_get(w, b->task, lane), b);
        if (b->checkpoint_id != w->pause_ckpt) {
            w->pause_ckpt = b->checkpoint_id;
            w->pause_sum_ns = 0;
        }
        w->pause_sum_ns += sl_mono_ns() - t0;
        if (w->pause_sum_ns > w->pause_max_ns)
            w->pause_max_ns = w->pause_sum_ns;
        break;
    }
    case SL_MSG_ASSIGN:
        sl__task_assign(w, lane, b);
        atomic_fetch_add(&w->engine->assigns_done, 1);
        break;
    case SL_MSG_REVOKE: {
        /* The new owner restores the task from the last checkpoint; the
         * sink delivers what the task produced so far before the partition
         * is given up (sl_engine_wait_revoked). */
        sl__task_remove(w, b->task);
        sl__worker_flush_results(w);
        sl_batch *marker = sl_batch_control(SL_MSG_REVOKE, b->task, 0);
        if (marker)
            sl__push_blocking(w->engine, w->out, marker, &w->room);
        else
            atomic_fetch_add(&w->engine->revokes_done, 1);
        break;
    }
    default:
        break;
    }
    if (b->kind == SL_MSG_DATA)
        sl__spare_give(w->engine->lanes[lane].spare[w->index], b); /* back to its lane */
    else
        sl_batch_free(b);
}

/* Idle timeout: a task without input for idle_timeout advances its
 * watermark with processing time (by the time it has been quiet), so its
 * last windows close. With checkpoints on, this processing-time decision
 * is recorded by a checkpoint taken at once, and what follows is held
 * until that checkpoint is durable. A merged task (several inputs) does so
 * only once every input says it is idle or ended: an input that is merely
 * behind (a backlog read slowly) holds the task back instead, and an input
 * that is idle already stopped counting in the minimum upstream. */
static void sl__worker_idle(sl__worker *w, int64_t now_ns)
{
    sl_engine *e = w->engine;
    int64_t idle_ms = e->def->watermark.idle_timeout_ms;
    if (idle_ms <= 0)
        return;
    for (size_t k = 0; k < w->nbuckets; k++) {
        for (sl__task *t = w->buckets[k]; t; t = t->next) {
            if (!t->chain || t->closed || (t->merged && !t->inputs_idle))
                continue;
            int64_t since = t->last_input_ns > w->stall_end_ns ? t->last_input_ns : w->stall_end_ns;
            int64_t quiet_ms = (now_ns - since) / 1000000;
            if (quiet_ms < idle_ms)
                continue;
            sl_op_stats st;
            sl_chain_stats(t->chain, &st);
            if (!st.has_clock)
                continue;
            int64_t wm = st.watermark;
            if (wm == INT64_MIN)
                continue; /* nothing seen yet */
            if (t->idle_base_wm == INT64_MIN)
                t->idle_base_wm = wm;
            int64_t target = t->idle_base_wm + quiet_ms;
            if (target <= wm)
                continue;
            w->current = t;
            size_t held_before = t->nheld;
            t->holding = e->checkpointer != NULL;
            sl_chain_watermark(t->chain, target, &w->emitter);
            /* Results fired by it wait for a checkpoint: take one now. */
            if (t->nheld > held_before)
                atomic_store(&e->checkpoint_asap, 1);
        }
    }
}

static void sl__worker_publish(sl__worker *w)
{
    int64_t min_wm = INT64_MAX;
    size_t state = 0;
    uint64_t refused = w->state_full_old;
    int any = 0;
    pthread_mutex_lock(&w->status_mu);
    w->nstatus = 0;
    for (size_t b = 0; b < w->nbuckets; b++) {
        for (sl__task *t = w->buckets[b]; t; t = t->next) {
            sl_op_stats ts;
            sl_chain_stats(t->chain, &ts);
            int64_t wm = ts.watermark;
            size_t bytes = ts.state_bytes;
            if (wm > INT64_MIN && wm < INT64_MAX && wm < min_wm) {
                min_wm = wm;
                any = 1;
            }
            state += bytes;
            refused += ts.refused;
            if (w->nstatus == w->status_cap) {
                w->status_cap = w->status_cap ? w->status_cap * 2 : 16;
                w->status = sl_xrealloc(w->status, w->status_cap * sizeof(*w->status));
            }
            sl_task_status *st = &w->status[w->nstatus++];
            st->task = t->id;
            st->worker = w->index;
            st->watermark = wm;
            st->max_event_time = ts.max_ts;
            st->next_seq = t->next_seq;
            st->held = t->nheld;
            st->state_bytes = bytes;
            st->events = t->events;
        }
    }
    pthread_mutex_unlock(&w->status_mu);
    SL__PUBLISH(w->counters.late, w->late);
    SL__PUBLISH(w->counters.late_updates, w->late_updates);
    SL__PUBLISH(w->counters.windows_fired, w->windows_fired);
    SL__PUBLISH(w->counters.tombstones, w->tombstones);
    SL__PUBLISH(w->counters.results, w->results_count);
    SL__PUBLISH(w->counters.dead_lettered, w->dead_lettered);
    SL__PUBLISH(w->counters.min_watermark, any ? min_wm : INT64_MIN);
    SL__PUBLISH(w->counters.state_bytes, (uint64_t)state);
    SL__PUBLISH(w->counters.state_full, refused);
    SL__PUBLISH(w->counters.pause_max_ns, w->pause_max_ns);
    SL__PUBLISH(w->counters.tasks, w->ntasks);
}

/* Whether any input ring of the worker holds something (the re-check
 * before parking). */
static int sl__worker_has_input(const sl__worker *w)
{
    const sl_engine *e = w->engine;
    if (e->ordered)
        return sl_ring_size(e->lanes[w->cursor].rings[w->index]) != 0;
    for (int l = 0; l < e->nlanes; l++)
        if (sl_ring_size(e->lanes[l].rings[w->index]))
            return 1;
    return 0;
}

/* Parks the idle worker until a lane pushes to it, or until its next
 * periodic duty: 10 ms while idle advances or held results may be due,
 * else 100 ms (publishing status). */
static void sl__worker_park(sl__worker *w)
{
    sl_engine *e = w->engine;
    int64_t timeout_ms = e->def->watermark.idle_timeout_ms > 0 || w->nholding ? 10 : 100;
    sl_park_prepare(&w->park);
    if (sl__worker_has_input(w) || atomic_load_explicit(&e->lanes_done, memory_order_acquire) ||
        atomic_load(&e->failed)) {
        sl_park_cancel(&w->park);
        return;
    }
    sl_park_wait(&w->park, timeout_ms * 1000000);
}

void *sl__worker_main(void *arg)
{
    sl__worker *w = arg;
    sl_engine *e = w->engine;
    char name[16];
    snprintf(name, sizeof(name), "sl-worker-%d", w->index);
    pthread_setname_np(pthread_self(), name);
    sl_batch *items[16];
    int idle_rounds = 0;
    int64_t last_idle_check = sl_mono_ns(), last_release = last_idle_check, last_publish = 0;
    int64_t last_flush = 0;
    int unpublished = 0; /* input handled since the last status publish */
    /* Latency mode: results leave within 1 ms even while input keeps
     * coming; throughput mode: when the input pauses, or every 50 ms. */
    int64_t flush_ns = (e->def->runtime.mode == SL_MODE_LATENCY ? 1 : 50) * 1000000LL;
    for (;;) {
        int done = atomic_load_explicit(&e->lanes_done, memory_order_acquire);
        size_t got = 0;
        while (e->ordered && got < SL_ARRAY_LEN(items)) {
            /* One at a time: what follows a chunk end in the same ring is
             * the lane's next chunk, due after the other lanes' chunks. */
            int l = w->cursor;
            sl_batch *b = sl_ring_pop(e->lanes[l].rings[w->index]);
            if (!b)
                break;
            sl_park_wake(&e->lanes[l].room);
            sl__worker_handle(w, l, b);
            got++;
        }
        for (int l = 0; !e->ordered && l < e->nlanes; l++) {
            sl_ring *r = e->lanes[l].rings[w->index];
            size_t n = sl_ring_pop_many(r, (void **)items, SL_ARRAY_LEN(items));
            if (n)
                sl_park_wake(&e->lanes[l].room); /* room for a backpressured lane */
            for (size_t i = 0; i < n; i++)
                sl__worker_handle(w, l, items[i]);
            got += n;
        }
        int64_t now = sl_mono_ns();
        /* Idle advances only when every input ring was empty: input still
         * waiting here (a backlog, or a ring that filled while the worker
         * was busy) may be for the very task that looks quiet. */
        if (got == 0 && now - last_idle_check > 10 * 1000000) {
            sl__worker_idle(w, now);
            last_idle_check = now;
        }
        if (now - last_release > 10 * 1000000) {
            sl__release_all(w);
            last_release = now;
        }
        if (got == 0 || now - last_flush > flush_ns) {
            sl__worker_flush_results(w);
            last_flush = now;
        }
        /* Status (a walk over every task) every 50 ms, and before
         * parking when something changed: not at every empty poll. */
        if (now - last_publish > 50 * 1000000 ||
            (got == 0 && unpublished && idle_rounds >= SL__SPIN_ROUNDS)) {
            sl__worker_publish(w);
            last_publish = now;
            unpublished = 0;
        }
        if (got == 0) {
            if (done || atomic_load(&e->failed))
                break;
            if (++idle_rounds > SL__SPIN_ROUNDS) /* a short spin first */
                sl__worker_park(w);
        } else {
            idle_rounds = 0;
            unpublished = 1;
        }
    }
    sl__release_all(w);
    sl__worker_flush_results(w);
    sl__worker_publish(w);
    return NULL;
}

int sl__worker_init(sl_engine *e, sl__worker *w, int index, size_t ring_cap)
{
    w->engine = e;
    w->index = index;
    w->out = sl_ring_new(ring_cap);
    w->spare = sl_ring_new(SL__SPARE_CAP(ring_cap));
    w->nbuckets = 256;
    w->buckets = sl_xcalloc(w->nbuckets, sizeof(*w->buckets));
    w->emitter.result = sl__emit_result;
    w->emitter.late = sl__emit_late;
    w->emitter.ctx = w;
    sl_park_init(&w->park);
    sl_park_init(&w->room);
    pthread_mutex_init(&w->status_mu, NULL);
    return w->out && w->spare ? SL_OK : SL_ENOMEM;
}

void sl__worker_destroy(sl__worker *w)
{
    if (w->out) {
        sl_batch *b;
        while ((b = sl_ring_pop(w->out)))
            sl_batch_free(b);
        sl_ring_free(w->out);
    }
    if (w->spare) {
        sl_batch *b;
        while ((b = sl_ring_pop(w->spare)))
            sl_batch_free(b);
        sl_ring_free(w->spare);
    }
    sl_batch_free(w->results);
    sl_batch_free(w->dead);
    for (size_t k = 0; w->buckets && k < w->nbuckets; k++) {
        sl__task *t = w->buckets[k];
        while (t) {
            sl__task *n = t->next;
            sl__task_free(t);
            t = n;
        }
    }
    free(w->buckets);
    free(w->status);
    if (w->engine)
        pthread_mutex_destroy(&w->status_mu);
}
