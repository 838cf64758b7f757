/*
 * window.h - per-task windowed aggregation on event time.
 *
 * Semantics (the oracle in tests/unit/test_window_oracle.c is the reference):
 *   - The task's watermark starts at INT64_MIN and, after each event,
 *     becomes max(watermark, ts - max_out_of_orderness) (unless it is set
 *     from outside: sl_window_task_set_external_watermark). It also
 *     advances by sl_window_task_advance() (idle timeout, inputs'
 *     watermarks) and closes at end of input.
 *   - Each event is judged against the watermark *before* it. A window
 *     [start, end) has fired once watermark >= end. An event for a fired
 *     window with end + allowed_lateness > watermark updates it and emits an
 *     updated result at once; if that is not true for any window the event
 *     belongs to, the event is late: dropped, counted, and passed to
 *     emitter->late.
 *   - Windows fire in canonical order: window end, then key bytes. Session
 *     windows: [first ts, last ts + gap); an event whose [ts, ts + gap)
 *     overlaps an existing session of its key (strictly: a < d && c < b)
 *     merges with it; sessions are late if ts + gap + allowed_lateness <=
 *     watermark.
 *   - Hopping windows of (size, slide) keep per-slice partial aggregates
 *     (slice = gcd(size, slide)); a window is combined from its slices.
 *   - Window state is dropped once watermark >= end + allowed_lateness.
 * Results are a pure function of the task's events in order: nothing
 * depends on batch boundaries, threads or hash-table iteration order.
 *
 * Result JSON: {<key members>,"window_start":S,"window_end":E,<aggs>} with
 * aggregates in definition order; count and integer sums/min/max are exact
 * integers, a sum/min/max that saw a double is a double, avg is a double.
 * Doubles print as the shortest text that reads back as the same double,
 * with a '.' or an exponent even when integral (3.0, 148.6, 1e+300);
 * non-finite doubles as null (sl_agg_format).
 *
 * @locality: one task is used by one worker thread at a time.
 */
#ifndef SL_WINDOW_H
#define SL_WINDOW_H

#include "batch.h"
#include "definition.h"
#include "snapshot.h"

typedef struct sl_window_task sl_window_task;

typedef struct sl_emitter {
    /* One result. key/key_len: the message key, a JSON object of the key
     * fields ("{}" when there is no key_by; in upsert mode followed by
     * "window_start": {"user":"u1","window_start":0}); value: the result
     * JSON object; ts: window_end - 1. `update` is 1 for a late update of
     * a fired window. Upsert mode only: a tombstone has value_len 0 (the
     * record of that key is deleted), update 1, ts the replacing session's
     * end - 1. */
    void (*result)(void *ctx, const char *key, size_t key_len, const char *value, size_t value_len,
                   int64_t ts, int update);
    /* An event dropped as late (may be NULL). `watermark` is the watermark it
     * was judged against. */
    void (*late)(void *ctx, const sl_batch *in, uint32_t row, int64_t watermark);
    void *ctx;
} sl_emitter;

typedef struct sl_window_stats {
    uint64_t events;        /* events processed (incl. late) */
    uint64_t late_dropped;  /* events dropped as late */
    uint64_t late_updates;  /* updated results emitted for fired windows */
    uint64_t windows_fired; /* (key, window) results emitted on firing */
    uint64_t tombstones;    /* upsert mode: deletes of replaced sessions */
} sl_window_stats;

/* Creates the state of one task. Borrows `def` and `wm` (they must outlive
 * the task). Returns NULL on allocation failure. */
sl_window_task *sl_window_task_new(const sl_window_def *def, const sl_watermark_def *wm);
void sl_window_task_free(sl_window_task *t);

/* Processes the events of `in` (kind SL_MSG_DATA) in order. */
void sl_window_task_process(sl_window_task *t, const sl_batch *in, const sl_emitter *em);
/* A task fed by several inputs (a repartitioned stream, co-partitioned
 * topics) judges events against the minimum of its inputs' watermarks,
 * which the caller computes: with `on`, events no longer advance the
 * watermark, only sl_window_task_advance() does. Set before the first
 * event; it survives sl_window_task_restore(). */
void sl_window_task_set_external_watermark(sl_window_task *t, int on);
/* A sink in upsert mode ("emit": "upsert"): result keys carry
 * window_start, and when a session merge replaces sessions (or moves the
 * start of one) whose result was emitted, a tombstone is emitted for each
 * such key before the merged session's result. Set before the first event;
 * it survives sl_window_task_restore(). */
void sl_window_task_set_upsert(sl_window_task *t, int on);
/* Advances the watermark to `watermark` if it is higher, firing windows. */
void sl_window_task_advance(sl_window_task *t, int64_t watermark, const sl_emitter *em);
/* End of input: fires every pending window in canonical order and frees
 * all state. The watermark becomes INT64_MAX. */
void sl_window_task_close(sl_window_task *t, const sl_emitter *em);

int64_t sl_window_task_watermark(const sl_window_task *t);
/* Highest event time seen, INT64_MIN if none. */
int64_t sl_window_task_max_ts(const sl_window_task *t);
/* Approximate bytes of window state held. */
size_t sl_window_task_state_bytes(const sl_window_task *t);
const sl_window_stats *sl_window_task_stats(const sl_window_task *t);
/* Keys holding state (per open window or session key). O(panes). */
size_t sl_window_task_keys(const sl_window_task *t);
/* State budget (runtime.on_state_full "drop"): while `on`, an event whose
 * key has no state in its window (or, sessions, no state at all) is
 * refused and counted, not added; events of keys with state go on as
 * usual. Refused events still advance the watermark. */
void sl_window_task_refuse_new_keys(sl_window_task *t, int on);
/* Events refused so far. */
uint64_t sl_window_task_refused(const sl_window_task *t);

/* Serializes the whole task state (watermark, max ts, every open or
 * lateness-retained window with its keys and partial aggregates, stats)
 * so that restore + the same further input gives byte-identical results. */
int sl_window_task_snapshot(const sl_window_task *t, sl_buf *out);
/* Restores into a freshly created task (same def). On SL_ECORRUPT the task
 * is left empty (never half-restored) and errstr says why. The task's
 * modes (external watermark, refusing new keys) and its refused count are
 * kept: they are not part of the snapshot. */
int sl_window_task_restore(sl_window_task *t, sl_reader *in, char *errstr, size_t errstr_size);

#endif
