/*
 * engine.h - the runtime: source lanes, worker threads hosting tasks, the
 * sink thread, and the rings between them.
 *
 *   source lane i ──ring[i][w]──► worker w ──ring[w]──► sink thread
 *
 * A task (an input partition) lives on worker (task % workers); all of a
 * task's events travel through one lane's ring to that worker, in order.
 * Control messages travel in the same rings.
 */
#ifndef SL_ENGINE_H
#define SL_ENGINE_H

#include "batch.h"
#include "definition.h"
#include "ingest.h"

#include <stdio.h>

typedef struct sl_engine sl_engine;
typedef struct sl_lane sl_lane;
struct sl_checkpoint_stats;
struct sl_partition_status;
struct sl_source_ops;
struct sl_sink_ops;

/* sl_bad_reason (ingest.h): why an input event was rejected. */
const char *sl_bad_reason_name(sl_bad_reason r);

typedef struct sl_engine_options {
    int status_interval_ms; /* live status line on stderr; 0 = none */
    int summary;            /* print the exit summary to stderr */
    FILE *status_out;       /* default stderr */
    /* Embedding (tests, benchmarks): use these vtables instead of the ones
     * named by the definition's source/sink "type". */
    const struct sl_source_ops *source_ops;
    const struct sl_sink_ops *sink_ops;
} sl_engine_options;

/* Builds the engine for `def` (borrowed; must outlive the engine): creates
 * the source and sinks, the rings and the threads' state (not started).
 * Returns NULL with errstr filled on failure. */
sl_engine *sl_engine_new(const sl_def *def, const sl_engine_options *opt, char *errstr,
                         size_t errstr_size);
/* Runs until the source ends (all tasks reached end of stream) or
 * sl_engine_stop(). Returns 0, or 1 on a runtime failure. */
int sl_engine_run(sl_engine *e);
/* Async-signal-safe: asks the engine to stop cleanly (flush, summary). */
void sl_engine_stop(sl_engine *e);
/* Whether a stop was asked for (SIGTERM) or the engine failed: a source's
 * start() that waits (e.g. for an unreachable broker) gives up when this
 * turns 1. Any thread. */
int sl_engine_stop_requested(const sl_engine *e);

/* Prints the exit summary of a run that could not start (engine creation,
 * HTTP), with every counter zero and {"stage", "message"} as "error":
 * valid JSON, like every summary. */
void sl_summary_print_failed_start(const sl_def *def, const char *stage, const char *error,
                                   FILE *out);
void sl_engine_free(sl_engine *e);

/* ---- API for source threads ----------------------------------------- */

/* Lane `index` (0 <= index < the source's lanes()). Each lane is used by
 * exactly one thread. */
sl_lane *sl_engine_lane(sl_engine *e, int index);
/* True once stop was requested: source threads should return soon. */
int sl_engine_stopping(const sl_engine *e);

/* Decodes one raw event (JSON payload), applies filter/map/key_by and
 * appends it to the pending batch of `task` (task < 0: route by key hash
 * over runtime.tasks, for unpartitioned sources). `offset` is its input
 * position; `kafka_ts` the broker timestamp (ms) or -1. A rejected event is
 * counted (and dead-lettered if configured); a filtered one is counted.
 * Never blocks, never drops: returns SL_OK, or SL_EAGAIN when the worker of
 * that task has batches waiting because its ring is full (backpressure:
 * the event was accepted; the caller should pause that input and call
 * sl_lane_pump until it returns SL_OK). */
int sl_lane_ingest(sl_lane *l, int32_t task, const char *payload, size_t len, int64_t offset,
                   int64_t kafka_ts);
/* Like sl_lane_ingest for a record of an internal repartition topic that
 * carries its origin: input partition `src_task` at `src_offset`. A record
 * at or below the highest offset already taken from that origin by `task`
 * is a replay (its producer restarted) and is dropped; the positions are
 * part of the task's checkpoint (README.md, "Checkpoints and
 * exactly-once", step 7). */
int sl_lane_ingest_from(sl_lane *l, int32_t task, const char *payload, size_t len, int64_t offset,
                        int64_t kafka_ts, int32_t src_task, int64_t src_offset);

/* Merged inputs (a repartitioned stream; co-partitioned topics sharing a
 * task): input `input` of `ninputs` feeding `task` says its watermark is
 * `watermark` and whether it is idle (nothing pending, or ended: it holds
 * nobody back). The task's watermark is the minimum over the inputs that
 * are not idle; it never moves backwards, and neither does an input's (a
 * restarted upstream republishing an older watermark changes nothing).
 * `offset` >= 0 is the record's own input position (a control record in
 * the stream). The table is part of the task's checkpoint. Returns SL_OK,
 * SL_EAGAIN as sl_lane_ingest, or SL_EINVAL for an input out of range. */
#define SL_LANE_MAX_INPUTS 65536
int sl_lane_watermark_from(sl_lane *l, int32_t task, int64_t offset, int32_t input, int32_t ninputs,
                           int64_t watermark, int idle);
/* Input `input` (of `ninputs`) of `task` is at position `next` (after its
 * last record, or its start on assignment): recorded with the task's
 * next checkpoint, whose offset commit covers every input (co-partitioned
 * topics). Call after the task's ASSIGN. Hot path: no allocation once the
 * task knows its inputs. */
void sl_lane_input_offset(sl_lane *l, int32_t task, int32_t input, int32_t ninputs, int64_t next);
/* Tasks fed by this lane merge several inputs: their watermark comes from
 * sl_lane_watermark_from, not from their own events. Call before the
 * lane's first ASSIGN. */
void sl_lane_set_merged(sl_lane *l, int on);
/* Event time of the event the last sl_lane_ingest call accepted, or
 * INT64_MIN when it rejected or filtered it. */
int64_t sl_lane_last_event_time(const sl_lane *l);

/* Pushes every partial batch of the lane (call when the input is drained
 * for now, e.g. after each poll). Returns SL_OK or SL_EAGAIN as above. */
int sl_lane_flush(sl_lane *l);
/* Pushes a batch the source built itself (kind SL_MSG_DATA, rows with the
 * numeric columns of the window, b->task set): for binary inputs and
 * benchmarks. Takes ownership. Returns SL_OK or SL_EAGAIN (queued). */
int sl_lane_push_batch(sl_lane *l, sl_batch *b);

/* Sends a control message for `task` after its pending events (takes
 * ownership of ctl). Returns SL_OK or SL_EAGAIN (queued). */
int sl_lane_control(sl_lane *l, int32_t task, sl_batch *ctl);
/* Sends a control message to every task of the lane / every worker
 * (EOS for unpartitioned sources, barriers). Takes ownership of ctl. */
int sl_lane_control_all(sl_lane *l, sl_msg_kind kind, int64_t value);
/* Retries queued batches. SL_OK when nothing is queued any more. */
int sl_lane_pump(sl_lane *l);
/* Whether the worker hosting `task` is backpressured on this lane. */
int sl_lane_blocked(const sl_lane *l, int32_t task);
/* Blocks (sleeping briefly) until nothing is queued, or the engine stops.
 * For sources that may simply wait (file, generator). */
void sl_lane_wait(sl_lane *l);
/* Ordered sources (sl_source_ops.ordered): ends the lane's current chunk
 * (its batches, then a chunk end to every worker). Like sl_lane_pump. */
int sl_lane_chunk_end(sl_lane *l);
/* Parks the lane's thread until a worker takes a batch from one of the
 * lane's rings (room may have appeared), or `timeout_ms` passes; a short
 * spin first. For a backpressured source thread that has other duties
 * between retries (sl_lane_pump). */
void sl_lane_park(sl_lane *l, int timeout_ms);
/* Notes that `task` is an input of this lane (so idle timeouts and status
 * cover it even before it has events). */
void sl_lane_add_task(sl_lane *l, int32_t task);

/* Switches the lane's decoder (default SL_INGEST_RAW); call before the
 * lane's first event. Returns 0 or an error. (Defined with ingest.h's enum
 * as an int to keep this header free of ingest.h.) */
int sl_lane_set_mode(sl_lane *l, int ingest_mode);

/* Totals since start, for status lines, metrics and tests. Any thread. */
typedef struct sl_engine_stats {
    uint64_t events_in;       /* raw events offered to lanes */
    uint64_t events_filtered; /* dropped by filters */
    uint64_t div_zero;        /* expressions that divided by zero (NULL; the event went on) */
    uint64_t bad[SL_BAD_COUNT];
    uint64_t bad_total;
    uint64_t late;         /* dropped as late */
    uint64_t late_updates; /* updated results for fired windows */
    uint64_t windows_fired;
    uint64_t tombstones;  /* upsert mode: deletes of sessions a merge replaced */
    uint64_t results_out; /* rows written by the sink */
    uint64_t dead_lettered;
    uint64_t duplicates;   /* repartition replays dropped */
    uint64_t state_full;   /* events refused past runtime.max_state_bytes (drop) */
    int64_t min_watermark; /* over tasks with a watermark; INT64_MIN if none */
    int64_t elapsed_ns;
    size_t window_state_bytes;
    int tasks;
} sl_engine_stats;

void sl_engine_get_stats(const sl_engine *e, sl_engine_stats *out);

/* One task as last published by its worker (a few times a second). */
typedef struct sl_task_status {
    int32_t task;
    int worker;
    int64_t watermark; /* INT64_MIN before the first event */
    int64_t max_event_time;
    uint64_t next_seq; /* results produced so far */
    uint64_t held;     /* results held by the output commit rule */
    size_t state_bytes;
    uint64_t events;
} sl_task_status;

/* Copies up to max task statuses into out; returns how many tasks there
 * are (may exceed max). Any thread. */
size_t sl_engine_task_status(const sl_engine *e, sl_task_status *out, size_t max);
/* Fills occupancy (items) and capacity of ring i (lanes x workers first,
 * then one per worker to the sink); returns the number of rings. */
size_t sl_engine_rings(const sl_engine *e, size_t i, size_t *occupancy, size_t *capacity);
/* 1 when every assigned task is restored and consuming (and the source
 * says it is ready); else 0 with a reason. Any thread. */
int sl_engine_ready(const sl_engine *e, char *reason, size_t reason_size);
/* Checkpoint statistics; returns 0, or SL_ENOTFOUND when checkpoints are
 * off. */
int sl_engine_checkpoint_stats(const sl_engine *e, struct sl_checkpoint_stats *out);
/* The id of the checkpoint begun last (0: none, or checkpoints off): a
 * checkpoint with a higher id begins later. Any thread. */
uint64_t sl_engine_checkpoint_requested(const sl_engine *e);
/* The source's input partitions (sl_source_ops.partitions); 0 if the
 * source does not report them. */
size_t sl_engine_partitions(const sl_engine *e, struct sl_partition_status *out, size_t max);

/* Waits until every REVOKE sent so far went through its worker and the
 * sink delivered all results the task produced before it, so a new owner's
 * output scan sees them (call before giving partitions up). Returns 0 or
 * SL_ETIMEOUT. Any thread but the lanes' and workers'. */
int sl_engine_wait_revoked(sl_engine *e, int timeout_ms);

/* Worker of a task. */
int sl_engine_worker_of(const sl_engine *e, int32_t task);

#endif
