/*
 * engine.c - the runtime: source lanes, worker threads hosting tasks, the
 * sink thread, and the rings between them (see engine.h).
 *
 * Design notes
 * ------------
 *   lane i ──ring[i][w]──► worker w ──out[w]──► sink thread ──► sink
 *   lane i ──dlq[i]─────────────────────────────► sink thread ──► dead letter
 *
 * 1. Every ring has one producer thread and one consumer thread: lane i's
 *    thread produces ring[i][*] and dlq[i]; worker w consumes ring[*][w] and
 *    produces out[w]; the sink thread consumes out[*] and dlq[*].
 * 2. A task lives on worker (task % workers) and is fed by one lane, so its
 *    events arrive in input order. Control messages (watermark, barrier,
 *    assign, revoke, end of stream) are batches in the same ring, in order.
 * 3. Lanes never block on a worker ring and never drop: a batch that does
 *    not fit its ring waits in the lane's per-worker FIFO and sl_lane_*
 *    report SL_EAGAIN, so the source pauses that input (Kafka) or waits
 *    (file). (A full dead-letter ring dlq[i] is the exception: the lane
 *    waits there, like a worker.) Workers block (with backoff) on a full
 *    ring to the sink thread instead, and the sink thread pushes to no
 *    ring: it waits in its sink's write/flush. So a slow sink fills the
 *    workers' rings, then the lanes': backpressure reaches the source,
 *    memory stays bounded.
 * 4. Counters are owned by one thread each and published with relaxed
 *    atomic stores once per batch; readers add them up. No per-event atomic.
 *
 * 5. Checkpoints (when configured): the main thread begins checkpoint n
 *    every interval (and at once after an idle-timeout advance); each lane
 *    puts BARRIER(n) in every task's stream (lane.c); a worker reaching it
 *    serializes the task and forwards the snapshot behind the task's
 *    results (worker_checkpoint.c); the sink thread, after a flush that
 *    makes those results delivered, adds the sink's position and hands the
 *    snapshot to the coordinator (checkpoint.c), which stores, replicates
 *    and commits.
 *
 * Shutdown: the source ends (EOF) or is stopped; a joiner thread joins it,
 * flushes the lanes (safe: their threads are gone), sets `lanes_done`; each
 * worker drains its rings and exits; then the sink thread drains and exits;
 * the sink is flushed, a final checkpoint committed, the summary printed.
 */
#include "engine_internal.h"
#include "plan.h"
#include "task_snapshot.h"
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sl__bad_names[] = {
#define SL__BAD_NAME(name, str) str,
    SL_BAD_MAP(SL__BAD_NAME)
#undef SL__BAD_NAME
};

const char *sl_bad_reason_name(sl_bad_reason r)
{
    return (unsigned)r < SL_BAD_COUNT ? sl__bad_names[r] : "unknown";
}

int sl_engine_stopping(const sl_engine *e)
{
    /* Not stop_requested: on SIGTERM the sources keep delivering (and
     * putting barriers in) until the final checkpoint is durable. */
    return atomic_load(&((sl_engine *)e)->sources_stop) || atomic_load(&((sl_engine *)e)->failed);
}

int sl_engine_worker_of(const sl_engine *e, int32_t task)
{
    return (int)((uint32_t)task % (uint32_t)e->nworkers);
}

/* ---- sink thread ------------------------------------------------------------ */

typedef struct sl__sink_state {
    sl_batch **barriers; /* waiting for the next flush */
    size_t nbarriers, cap;
} sl__sink_state;

static void sl__sink_fail(sl_engine *e, const char *what, int rc)
{
    sl_error("sink", "%s failed: %s; stopping", what, sl_err2str(rc));
    atomic_store(&e->failed, 1);
}

/* After a flush: every result before the pending barriers is delivered, so
 * their snapshots (wrapped with the sink's position) can be handed over. */
static void sl__sink_release_barriers(sl_engine *e, sl__sink_state *ss)
{
    if (!ss->nbarriers)
        return;
    int rc = e->sink_ops->flush(e->sink, 60000);
    if (rc != SL_OK)
        sl__sink_fail(e, "flush", rc);
    for (size_t i = 0; i < ss->nbarriers; i++) {
        sl_batch *b = ss->barriers[i];
        if (rc == SL_OK && e->checkpointer) {
            sl_buf pos, wrap;
            sl_buf_init(&pos);
            sl_buf_init(&wrap);
            if (e->sink_ops->position)
                e->sink_ops->position(e->sink, b->task, &pos);
            sl_task_image_wrap(&wrap, (const uint8_t *)b->bytes, b->bytes_len, pos.data, pos.len);
            if (wrap.failed || pos.failed)
                sl__sink_fail(e, "checkpoint serialization", SL_ENOMEM);
            else {
                /* A task of co-partitioned topics: the position of each
                 * input, as recorded in the snapshot, for the commit. */
                int64_t inputs[SL__MAX_COMMIT_INPUTS];
                size_t ninputs = 0;
                const uint8_t *st;
                uint32_t st_len;
                if (sl_task_image_source((const uint8_t *)b->bytes, b->bytes_len, &st, &st_len) ==
                    SL_OK)
                    ninputs =
                        sl__source_state_input_offsets(st, st_len, inputs, SL__MAX_COMMIT_INPUTS);
                sl_checkpointer_add_inputs(e->checkpointer, b->checkpoint_id, b->task, b->value,
                                           inputs, ninputs, wrap.data, wrap.len);
            }
            sl_buf_free(&pos);
            sl_buf_free(&wrap);
        }
        sl_batch_free(b);
    }
    ss->nbarriers = 0;
}

/* `from`: the worker whose ring the batch came from, -1 a lane's. */
static void sl__sink_handle(sl_engine *e, sl__sink_state *ss, sl_batch *b, int from)
{
    int rc = SL_OK;
    switch (b->kind) {
    case SL_MSG_RESULTS:
        /* The position recorded for a barrier must precede every result
         * that follows it: release pending barriers before writing more. */
        if (ss->nbarriers)
            sl__sink_release_barriers(e, ss);
        rc = e->sink_ops->write(e->sink, b);
        if (rc == SL_OK)
            atomic_fetch_add_explicit(&e->results_written, b->count, memory_order_relaxed);
        else
            sl__sink_fail(e, "write", rc);
        break;
    case SL_MSG_BAD:
        if (e->dlq_ops) {
            rc = e->dlq_ops->write(e->dlq, b);
            if (rc == SL_OK)
                atomic_fetch_add_explicit(&e->dlq_written, b->count, memory_order_relaxed);
            else
                sl__sink_fail(e, "dead-letter write", rc);
        }
        break;
    case SL_MSG_REVOKE:
        rc = e->sink_ops->flush(e->sink, 60000);
        if (rc != SL_OK)
            sl__sink_fail(e, "flush", rc);
        atomic_fetch_add(&e->revokes_done, 1);
        break;
    case SL_MSG_BARRIER:
        if (ss->nbarriers == ss->cap) {
            ss->cap = ss->cap ? ss->cap * 2 : 64;
            ss->barriers = sl_xrealloc(ss->barriers, ss->cap * sizeof(*ss->barriers));
        }
        ss->barriers[ss->nbarriers++] = b;
        return; /* kept until the next flush */
    default:
        break;
    }
    if (b->kind == SL_MSG_RESULTS && from >= 0)
        sl__spare_give(e->workers[from].spare, b); /* back to its worker */
    else
        sl_batch_free(b);
}

/* Whether any ring the sink thread consumes holds something. */
static int sl__sink_has_input(const sl_engine *e)
{
    for (int w = 0; w < e->nworkers; w++)
        if (sl_ring_size(e->workers[w].out))
            return 1;
    for (int l = 0; l < e->nlanes; l++)
        if (sl_ring_size(e->lanes[l].dlq))
            return 1;
    return 0;
}

/* Parks the idle sink thread until a worker or lane pushes to it (100 ms
 * at most: the end of the run is noticed by then at the latest). */
static void sl__sink_park(sl_engine *e)
{
    sl_park_prepare(&e->sink_park);
    if (sl__sink_has_input(e) || atomic_load_explicit(&e->workers_done, memory_order_acquire)) {
        sl_park_cancel(&e->sink_park);
        return;
    }
    sl_park_wait(&e->sink_park, 100 * 1000000);
}

/* Wakes every parked engine thread (the end of the lanes, a failure). */
static void sl__wake_all(sl_engine *e)
{
    for (int w = 0; w < e->nworkers; w++)
        sl_park_wake(&e->workers[w].park);
    sl_park_wake(&e->sink_park);
}

static void *sl__sink_main(void *arg)
{
    sl_engine *e = arg;
    pthread_setname_np(pthread_self(), "sl-sink");
    sl__sink_state ss = {0};
    sl_batch *items[16];
    int idle_rounds = 0;
    for (;;) {
        int done = atomic_load_explicit(&e->workers_done, memory_order_acquire);
        size_t got = 0;
        for (int w = 0; w < e->nworkers; w++) {
            size_t n = sl_ring_pop_many(e->workers[w].out, (void **)items, SL_ARRAY_LEN(items));
            if (n)
                sl_park_wake(&e->workers[w].room);
            for (size_t i = 0; i < n; i++)
                sl__sink_handle(e, &ss, items[i], w);
            got += n;
        }
        for (int l = 0; l < e->nlanes; l++) {
            size_t n = sl_ring_pop_many(e->lanes[l].dlq, (void **)items, SL_ARRAY_LEN(items));
            if (n)
                sl_park_wake(&e->lanes[l].room);
            for (size_t i = 0; i < n; i++)
                sl__sink_handle(e, &ss, items[i], -1);
            got += n;
        }
        /* Flush for barriers once the rings are drained for now, so one
         * flush covers all the barriers of a checkpoint. */
        if (got < SL_ARRAY_LEN(items))
            sl__sink_release_barriers(e, &ss);
        if (got == 0) {
            if (done)
                break;
            if (++idle_rounds > SL__SPIN_ROUNDS) /* a short spin first */
                sl__sink_park(e);
        } else {
            idle_rounds = 0;
        }
    }
    sl__sink_release_barriers(e, &ss);
    free(ss.barriers);
    return NULL;
}

/* ---- stats -------------------------------------------------------------------- */

void sl_engine_get_stats(const sl_engine *e, sl_engine_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (int l = 0; l < e->nlanes; l++) {
        const sl__lane_counters *c = &e->lanes[l].counters;
        s->events_in += SL__READ(c->events_in);
        s->events_filtered += SL__READ(c->filtered);
        s->dead_lettered += SL__READ(c->dead_lettered);
        s->duplicates += SL__READ(c->duplicates);
        s->div_zero += SL__READ(c->div_zero);
        for (int i = 0; i < SL_BAD_COUNT; i++) {
            uint64_t v = SL__READ(c->bad[i]);
            s->bad[i] += v;
            s->bad_total += v;
        }
    }
    s->min_watermark = INT64_MIN;
    for (int w = 0; w < e->nworkers; w++) {
        const sl__worker_counters *c = &e->workers[w].counters;
        s->late += SL__READ(c->late);
        s->late_updates += SL__READ(c->late_updates);
        s->windows_fired += SL__READ(c->windows_fired);
        s->tombstones += SL__READ(c->tombstones);
        s->dead_lettered += SL__READ(c->dead_lettered);
        s->window_state_bytes += (size_t)SL__READ(c->state_bytes);
        s->state_full += SL__READ(c->state_full);
        s->tasks += SL__READ(c->tasks);
        int64_t wm = SL__READ(c->min_watermark);
        if (wm != INT64_MIN && (s->min_watermark == INT64_MIN || wm < s->min_watermark))
            s->min_watermark = wm;
    }
    s->results_out = atomic_load_explicit(&((sl_engine *)e)->results_written, memory_order_relaxed);
    int64_t end = e->end_ns ? e->end_ns : sl_mono_ns();
    s->elapsed_ns = e->start_ns ? end - e->start_ns : 0;
}

size_t sl_engine_task_status(const sl_engine *e, sl_task_status *out, size_t max)
{
    size_t n = 0;
    for (int w = 0; w < e->nworkers; w++) {
        sl__worker *wk = &((sl_engine *)e)->workers[w];
        pthread_mutex_lock(&wk->status_mu);
        for (size_t i = 0; i < wk->nstatus; i++, n++)
            if (n < max)
                out[n] = wk->status[i];
        pthread_mutex_unlock(&wk->status_mu);
    }
    return n;
}

size_t sl_engine_rings(const sl_engine *e, size_t i, size_t *occupancy, size_t *capacity)
{
    size_t lane_rings = (size_t)e->nlanes * (size_t)e->nworkers;
    size_t total = lane_rings + (size_t)e->nworkers;
    const sl_ring *r = NULL;
    if (i < lane_rings)
        r = e->lanes[i / (size_t)e->nworkers].rings[i % (size_t)e->nworkers];
    else if (i < total)
        r = e->workers[i - lane_rings].out;
    if (r) {
        *occupancy = sl_ring_size(r);
        *capacity = sl_ring_capacity(r);
    }
    return total;
}

int sl_engine_ready(const sl_engine *e, char *reason, size_t reason_size)
{
    sl_engine *m = (sl_engine *)e;
    if (!atomic_load(&m->running))
        return snprintf(reason, reason_size, "not started"), 0;
    if (atomic_load(&m->failed))
        return snprintf(reason, reason_size, "failed"), 0;
    if (atomic_load(&m->stop_requested))
        return snprintf(reason, reason_size, "stopping"), 0;
    if (e->source_ops->ready && !e->source_ops->ready(e->source, reason, reason_size))
        return 0;
    if (e->checkpointer) {
        sl_checkpoint_stats cs;
        sl_checkpointer_get_stats(e->checkpointer, &cs);
        if (cs.consecutive_failed >= SL_CHECKPOINT_UNREADY_AFTER) {
            snprintf(reason, reason_size,
                     "%" PRIu64 " checkpoints in a row failed (the last durable is %" PRIu64 ")",
                     cs.consecutive_failed, cs.durable_id);
            return 0;
        }
    }
    uint64_t sent = atomic_load(&m->assigns_sent), done = atomic_load(&m->assigns_done);
    if (done < sent) {
        snprintf(reason, reason_size, "restoring %" PRIu64 " of %" PRIu64 " assigned tasks",
                 sent - done, sent);
        return 0;
    }
    return 1;
}

int sl_engine_checkpoint_stats(const sl_engine *e, sl_checkpoint_stats *out)
{
    if (!e->checkpointer)
        return SL_ENOTFOUND;
    sl_checkpointer_get_stats(e->checkpointer, out);
    return SL_OK;
}

uint64_t sl_engine_checkpoint_requested(const sl_engine *e)
{
    return e->checkpointer ? sl_checkpointer_requested(e->checkpointer) : 0;
}

int sl_engine_wait_revoked(sl_engine *e, int timeout_ms)
{
    uint64_t target = atomic_load(&e->revokes_sent);
    int64_t deadline = sl_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (atomic_load(&e->revokes_done) < target) {
        if (atomic_load(&e->failed) || !atomic_load(&e->running))
            return SL_OK; /* nothing more will be delivered */
        if (sl_mono_ns() > deadline)
            return SL_ETIMEOUT;
        sl_sleep_us(1000);
    }
    return SL_OK;
}

size_t sl_engine_partitions(const sl_engine *e, sl_partition_status *out, size_t max)
{
    return e->source_ops->partitions ? e->source_ops->partitions(e->source, out, max) : 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int sl__create_sink(const sl_connector_def *c, const sl_def *def, const sl_sink_ops **ops,
                           void **state, char *errstr, size_t errstr_size)
{
    if (!*ops)
        *ops = sl_sink_find(c->type);
    if (!*ops)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.type: unknown sink \"%s\"", c->path,
                         c->type);
    return (*ops)->create(c, def, state, errstr, errstr_size);
}

static int sl__commit_offsets(void *ctx, uint64_t checkpoint_id, const sl_task_offset *offsets,
                              size_t n)
{
    sl_engine *e = ctx;
    if (!e->source_ops->commit)
        return SL_OK;
    return e->source_ops->commit(e->source, checkpoint_id, offsets, n);
}

sl_engine *sl_engine_new(const sl_def *def, const sl_engine_options *opt, char *errstr,
                         size_t errstr_size)
{
    sl_engine *e = sl_xcalloc(1, sizeof(*e));
    e->def = def;
    pthread_mutex_init(&e->warn_mu, NULL);
    if (opt)
        e->opt = *opt;
    if (!e->opt.status_out)
        e->opt.status_out = stderr;
    /* The planner's plan (plan.h), as explain prints it. */
    sl_plan plan;
    sl_plan_make(def, &plan);
    e->nworkers = plan.workers;

    e->source_ops = e->opt.source_ops ? e->opt.source_ops : sl_source_find(def->source.type);
    if (!e->source_ops) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "source.type: unknown source \"%s\"",
                  def->source.type);
        sl_engine_free(e);
        return NULL;
    }
    if (e->source_ops->create(&def->source, def, &e->source, errstr, errstr_size) != SL_OK) {
        e->source = NULL;
        sl_engine_free(e);
        return NULL;
    }
    e->sink_ops = e->opt.sink_ops;
    if (sl__create_sink(&def->sink, def, &e->sink_ops, &e->sink, errstr, errstr_size) != SL_OK)
        goto fail;
    if (def->dead_letter.type &&
        sl__create_sink(&def->dead_letter, def, &e->dlq_ops, &e->dlq, errstr, errstr_size) != SL_OK)
        goto fail;
    if (def->checkpoint.enabled || (def->checkpoint.off && e->source_ops->commit)) {
        /* "off": commit-only rounds, so offsets cover delivered results */
        e->checkpointer = sl_checkpointer_new(def, sl__commit_offsets, e, errstr, errstr_size);
        if (!e->checkpointer)
            goto fail;
        if (def->checkpoint.off)
            sl_warn("checkpoint",
                    "checkpoints are off: every %" PRId64 " ms the offsets of "
                    "input whose results were delivered are committed; open "
                    "windows are lost on restart and their input is read again",
                    def->checkpoint.interval_ms);
        else
            sl_info("checkpoint", "checkpoints every %" PRId64 " ms in %s (%s)%s",
                    def->checkpoint.interval_ms, def->checkpoint.dir, def->checkpoint.dir_origin,
                    def->checkpoint.implicit ? "; on by default for kafka input, \"checkpoint\": "
                                               "\"off\" disables"
                                             : "");
    }

    e->nlanes = e->source_ops->lanes(e->source);
    if (e->nlanes < 1)
        e->nlanes = 1;
    e->ordered = e->nlanes > 1 && e->source_ops->ordered && e->source_ops->ordered(e->source);
    if (!e->opt.source_ops && e->nlanes != plan.lanes) {
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "internal error: the plan has %d source lanes, the source runs %d", plan.lanes,
                  e->nlanes);
        goto fail;
    }
    size_t ring_cap = plan.ring_capacity;
    e->lanes = sl_xcalloc((size_t)e->nlanes, sizeof(*e->lanes));
    e->workers = sl_xcalloc((size_t)e->nworkers, sizeof(*e->workers));
    sl_park_init(&e->sink_park);
    for (int w = 0; w < e->nworkers; w++) {
        if (sl__worker_init(e, &e->workers[w], w, ring_cap) != SL_OK) {
            sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory creating rings");
            goto fail;
        }
    }
    for (int l = 0; l < e->nlanes; l++)
        if (sl__lane_init(e, &e->lanes[l], l, ring_cap, errstr, errstr_size) != SL_OK)
            goto fail;
    return e;
fail:
    sl_engine_free(e);
    return NULL;
}

void sl_engine_stop(sl_engine *e)
{
    atomic_store(&e->stop_requested, 1);
}

int sl_engine_stop_requested(const sl_engine *e)
{
    return atomic_load(&((sl_engine *)e)->stop_requested) || atomic_load(&((sl_engine *)e)->failed);
}

static void sl__print_status(sl_engine *e, uint64_t *prev_in, int64_t *prev_ns)
{
    sl_engine_stats s;
    sl_engine_get_stats(e, &s);
    int64_t now = sl_mono_ns();
    double dt = (double)(now - *prev_ns) / 1e9;
    double rate = dt > 0 ? (double)(s.events_in - *prev_in) / dt : 0;
    *prev_in = s.events_in;
    *prev_ns = now;
    char wm[32] = "-";
    if (s.min_watermark != INT64_MIN)
        snprintf(wm, sizeof(wm), "%" PRId64, s.min_watermark);
    fprintf(e->opt.status_out,
            "[sluice] in %" PRIu64 " (%.0f ev/s) bad %" PRIu64 " late %" PRIu64 " windows %" PRIu64
            " out %" PRIu64 " watermark %s",
            s.events_in, rate, s.bad_total, s.late, s.windows_fired, s.results_out, wm);
    if (e->checkpointer) {
        sl_checkpoint_stats cs;
        sl_checkpointer_get_stats(e->checkpointer, &cs);
        fprintf(e->opt.status_out, " checkpoint %" PRIu64, cs.durable_id);
    }
    if (e->source_ops->status) {
        fputc(' ', e->opt.status_out);
        e->source_ops->status(e->source, e->opt.status_out);
    }
    fputc('\n', e->opt.status_out);
    fflush(e->opt.status_out);
}

static void *sl__source_joiner(void *arg)
{
    sl_engine *e = arg;
    if (e->source_ops->join(e->source) != 0) {
        sl_error("engine", "source failed");
        e->source_failed = 1;
    }
    for (int l = 0; l < e->nlanes; l++) {
        sl_lane *ln = &e->lanes[l];
        sl_lane_flush(ln);
        /* Workers are still draining, so this ends unless the engine
         * failed (then queued batches are freed by sl_engine_free). */
        while (sl_lane_pump(ln) == SL_EAGAIN && !atomic_load(&e->failed))
            sl_lane_park(ln, 10);
    }
    atomic_store_explicit(&e->lanes_done, 1, memory_order_release);
    sl__wake_all(e);
    return NULL;
}

/* SIGTERM: a final checkpoint of the input consumed so far (60 s at most).
 * A failed one is retried for up to 15 s after the first failure: its
 * usual cause at a stop is transient, an offset commit refused while the
 * group rebalances because other members are stopping too. Returns SL_OK once one is durable, else
 * the last error (SL_ETIMEOUT when time ran out; the input ending first
 * cancels it). Main thread. */
static int sl__final_checkpoint(sl_engine *e)
{
    int64_t give_up = sl_mono_ns() + 60 * (int64_t)1000000000;
    int rc = SL_ETIMEOUT, attempts = 0;
    while (sl_mono_ns() < give_up && !atomic_load(&e->failed) &&
           !atomic_load_explicit(&e->lanes_done, memory_order_acquire)) {
        if (!sl_checkpointer_begin(e->checkpointer, e->nlanes)) {
            sl_checkpointer_wait(e->checkpointer, 100); /* one is in flight */
            continue;
        }
        attempts++;
        rc = SL_ETIMEOUT;
        while (rc == SL_ETIMEOUT && sl_mono_ns() < give_up &&
               !atomic_load_explicit(&e->lanes_done, memory_order_acquire))
            rc = sl_checkpointer_wait(e->checkpointer, 100);
        if (rc == SL_OK || rc == SL_ETIMEOUT)
            break;
        int64_t retry_until = sl_mono_ns() + 15 * (int64_t)1000000000;
        if (attempts == 1 && retry_until < give_up)
            give_up = retry_until;
        sl_warn("checkpoint", "final checkpoint attempt %d failed; retrying", attempts);
        sl_sleep_us(200000);
    }
    return rc;
}

/* Main thread while the source runs: status line, checkpoint schedule,
 * stop requests. Returns when the lanes are done. */
static void sl__supervise(sl_engine *e)
{
    uint64_t prev_in = 0;
    int64_t now = sl_mono_ns(), prev_ns = now, last_status = now, last_ckpt = now;
    int64_t interval_ns = e->def->checkpoint.interval_ms * 1000000;
    int stop_forwarded = 0;
    while (!atomic_load_explicit(&e->lanes_done, memory_order_acquire)) {
        now = sl_mono_ns();
        if (!stop_forwarded && (atomic_load(&e->stop_requested) || atomic_load(&e->failed))) {
            /* SIGTERM: a final checkpoint with the input consumed so far,
             * then stop consuming. */
            if (e->checkpointer && !atomic_load(&e->failed)) {
                int rc = sl__final_checkpoint(e);
                if (rc == SL_OK) {
                    e->final_checkpoint = 1;
                    sl_info("checkpoint", "final checkpoint before stopping is durable");
                } else if (!atomic_load(&e->lanes_done)) {
                    /* Nothing is lost (the previous durable checkpoint and
                     * replay cover it), but the stop was not clean: say so
                     * in the exit code. */
                    e->final_checkpoint = -1;
                    sl_error("checkpoint", "final checkpoint before stopping failed; the "
                                           "previous durable one stands (exit code 1)");
                }
            }
            atomic_store(&e->sources_stop, 1);
            e->source_ops->stop(e->source);
            stop_forwarded = 1;
        }
        if (e->checkpointer && !stop_forwarded &&
            (now - last_ckpt >= interval_ns || atomic_exchange(&e->checkpoint_asap, 0))) {
            if (sl_checkpointer_begin(e->checkpointer, e->nlanes))
                last_ckpt = now;
        }
        if (e->opt.status_interval_ms > 0 &&
            now - last_status >= (int64_t)e->opt.status_interval_ms * 1000000) {
            sl__print_status(e, &prev_in, &prev_ns);
            last_status = now;
        }
        sl_sleep_us(50000); /* stop requests and the checkpoint schedule, 50 ms at most late */
    }
}

int sl_engine_run(sl_engine *e)
{
    char err[512];
    e->start_ns = sl_mono_ns();
    int nworkers_started = 0, sink_started = 0, rc = 0;
    for (int w = 0; w < e->nworkers; w++) {
        if (pthread_create(&e->workers[w].thread, NULL, sl__worker_main, &e->workers[w]) != 0)
            goto thread_fail;
        nworkers_started++;
    }
    if (pthread_create(&e->sink_thread, NULL, sl__sink_main, e) != 0)
        goto thread_fail;
    sink_started = 1;
    atomic_store(&e->running, 1);
    if (e->source_ops->start(e->source, e, err, sizeof(err)) != SL_OK) {
        sl_error("engine", "source failed to start: %s", err);
        snprintf(e->start_stage, sizeof(e->start_stage), "source");
        snprintf(e->start_error, sizeof(e->start_error), "%s", err);
        rc = 1;
        atomic_store(&e->stop_requested, 1);
        atomic_store(&e->sources_stop, 1);
        atomic_store_explicit(&e->lanes_done, 1, memory_order_release);
        sl__wake_all(e);
        goto drain;
    }
    e->source_started = 1;
    /* Every start step succeeded: only now may sinks touch their output
     * (a failed start leaves the previous output as it was). */
    if ((e->sink_ops->open && e->sink_ops->open(e->sink, err, sizeof(err)) != SL_OK) ||
        (e->dlq_ops && e->dlq_ops->open && e->dlq_ops->open(e->dlq, err, sizeof(err)) != SL_OK)) {
        sl_error("engine", "sink failed to open: %s", err);
        snprintf(e->start_stage, sizeof(e->start_stage), "sink");
        snprintf(e->start_error, sizeof(e->start_error), "%s", err);
        atomic_store(&e->failed, 1);
    } else {
        e->started = 1;
    }
    {
        /* A joiner thread waits for the source's threads to end, flushes
         * the lanes and lets the workers drain; meanwhile the main thread
         * supervises. */
        pthread_t joiner;
        if (pthread_create(&joiner, NULL, sl__source_joiner, e) != 0) {
            atomic_store(&e->sources_stop, 1);
            e->source_ops->stop(e->source);
            sl__source_joiner(e);
        } else {
            sl__supervise(e);
            pthread_join(joiner, NULL);
        }
    }
    if (e->source_failed)
        rc = 1;
drain:
    for (int w = 0; w < nworkers_started; w++)
        pthread_join(e->workers[w].thread, NULL);
    atomic_store_explicit(&e->workers_done, 1, memory_order_release);
    sl__wake_all(e);
    if (sink_started)
        pthread_join(e->sink_thread, NULL);
    int frc = e->sink_ops->flush(e->sink, 30000);
    if (frc != SL_OK) {
        sl_error("sink", "flush failed: %s", sl_err2str(frc));
        rc = 1;
    }
    if (e->dlq_ops && e->dlq_ops->flush(e->dlq, 30000) != SL_OK) {
        sl_error("dead_letter", "flush failed");
        rc = 1;
    }
    if (e->checkpointer)
        sl_checkpointer_cancel_unreported(e->checkpointer);
    /* A checkpoint that did not complete loses nothing: the last durable
     * one plus replay covers it. Not a failure of the run. */
    if (e->checkpointer && sl_checkpointer_wait(e->checkpointer, 30000) != SL_OK)
        sl_warn("checkpoint", "the last checkpoint did not complete; the previous durable one "
                              "stands");
    e->end_ns = sl_mono_ns();
    atomic_store(&e->running, 0);
    if (atomic_load(&e->failed) || e->final_checkpoint < 0)
        rc = 1;
    if (e->opt.summary)
        sl__summary_print(e, stderr, rc);
    return rc;
thread_fail:
    sl_error("engine", "cannot start threads");
    snprintf(e->start_stage, sizeof(e->start_stage), "threads");
    snprintf(e->start_error, sizeof(e->start_error), "cannot start threads");
    atomic_store(&e->failed, 1);
    atomic_store_explicit(&e->lanes_done, 1, memory_order_release);
    sl__wake_all(e);
    rc = 1;
    goto drain;
}

void sl_engine_free(sl_engine *e)
{
    if (!e)
        return;
    if (e->lanes) {
        for (int l = 0; l < e->nlanes; l++)
            sl__lane_destroy(&e->lanes[l], e->nworkers);
        free(e->lanes);
    }
    if (e->workers) {
        for (int w = 0; w < e->nworkers; w++)
            sl__worker_destroy(&e->workers[w]);
        free(e->workers);
    }
    sl_checkpointer_free(e->checkpointer);
    if (e->source_ops && e->source)
        e->source_ops->destroy(e->source);
    if (e->sink_ops && e->sink)
        e->sink_ops->destroy(e->sink);
    if (e->dlq_ops && e->dlq)
        e->dlq_ops->destroy(e->dlq);
    json_decref(e->warnings);
    pthread_mutex_destroy(&e->warn_mu);
    free(e);
}
