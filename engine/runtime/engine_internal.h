/*
 * engine_internal.h - structures shared by engine.c (lifecycle, sink thread,
 * checkpoint coordination), lane.c (source side), worker.c (tasks) and
 * worker_checkpoint.c (task snapshot, restore, assign).
 * Not a public header: connectors and operators use engine.h.
 */
#ifndef SL_ENGINE_INTERNAL_H
#define SL_ENGINE_INTERNAL_H

#include "checkpoint.h"
#include "connector.h"
#include "engine.h"
#include "ingest.h"
#include "park.h"
#include "ring.h"
#include "window.h"

#include <pthread.h>
#include <jansson.h>
#include <stdatomic.h>

#define SL__OUT_BATCH_ROWS 1024
/* Empty polls of its rings before a worker or the sink thread parks. */
#ifndef SL__SPIN_ROUNDS
#define SL__SPIN_ROUNDS 64
#endif
/* Counters are owned by one thread and published with relaxed stores once
 * per batch; readers add them up (no per-event atomic read-modify-write). */
#define SL__PUBLISH(field, value) atomic_store_explicit(&(field), (value), memory_order_relaxed)
#define SL__READ(field)           atomic_load_explicit(&(field), memory_order_relaxed)

typedef struct sl__lane_counters {
    _Atomic uint64_t events_in, filtered, dead_lettered, duplicates;
    _Atomic uint64_t bad[SL_BAD_COUNT];
    _Atomic uint64_t div_zero; /* divisions by zero in expressions (event kept) */
} sl__lane_counters;

typedef struct sl__worker_counters {
    _Atomic uint64_t late, late_updates, windows_fired, results, tombstones;
    _Atomic uint64_t dead_lettered;
    _Atomic int64_t min_watermark;
    _Atomic uint64_t state_bytes;
    _Atomic uint64_t state_full;  /* events refused: new keys past max_state_bytes */
    _Atomic int64_t pause_max_ns; /* longest a checkpoint held the worker (below) */
    _Atomic int tasks;
} sl__worker_counters;

/* FIFO of batches linked through batch->next (one owner thread). */
typedef struct sl__queue {
    sl_batch *head, *tail;
    size_t len;
} sl__queue;

void sl__queue_push(sl__queue *q, sl_batch *b);
sl_batch *sl__queue_pop(sl__queue *q);

/* Repartition dedup positions of one task: highest source offset taken
 * per source task (index), -1 for none. */
typedef struct sl__dedup {
    int64_t *max;
    size_t n;
} sl__dedup;

/* Watermarks of the inputs of one merged task (the upstream tasks of a
 * repartitioned stream, or the co-partitioned topics of a task): the
 * highest watermark each input published, whether its latest record said
 * it is idle (or ended), and what was last sent to the worker. The task's
 * watermark is the minimum over the inputs that are not idle. */
typedef struct sl__inputs {
    int64_t *wm;   /* per input; INT64_MIN: nothing published yet */
    uint8_t *idle; /* per input */
    int64_t *next; /* per input: its position after the last record, -1 unknown
                      (sl_lane_input_offset; co-partitioned topics) */
    size_t n;
    int64_t sent;  /* watermark last sent to the worker, INT64_MIN none */
    int idle_sent; /* whether "every input idle" was last sent */
} sl__inputs;

struct sl_lane {
    sl_engine *engine;
    int index;
    sl_ingest *ingest;
    uint32_t nvals;
    sl_batch **building;  /* per task id: the batch being filled */
    int64_t *next_offset; /* per task id: input position after the last event */
    sl__dedup *dedup;     /* per task id: repartition dedup positions */
    sl__inputs *inputs;   /* per task id: input watermarks (merged lanes) */
    size_t nbuilding;
    int merged;        /* tasks of this lane merge several inputs */
    int64_t last_ts;   /* event time of the last accepted event, INT64_MIN */
    sl__queue *queued; /* per worker: batches waiting for ring room */
    sl_ring **rings;   /* per worker */
    sl_ring **spare;   /* per worker: its used event batches, back for reuse */
    int spare_next;    /* the spare ring to look in first */
    sl_ring *dlq;      /* to the sink thread (bad events) */
    sl_batch *dlq_batch;
    int32_t *tasks; /* tasks fed by this lane */
    size_t ntasks, tasks_cap;
    uint64_t last_barrier;  /* last checkpoint id injected */
    int keep_payload;       /* rows carry the raw payload (late dead letters) */
    struct sl_probe *probe; /* pipeline-mistake warnings; NULL once done */
    uint64_t probe_skip;    /* events the probe does not need to see */
    /* thread-local totals, published into `counters` */
    uint64_t events_in, filtered, dead_lettered, duplicates, bad[SL_BAD_COUNT];
    sl__lane_counters counters;
    sl_parker room; /* parked waiting for room in its rings (workers, sink wake it) */
};

/* A held result (output commit rule: results that follow an idle-timeout
 * watermark advance wait until a checkpoint that records it is durable). */
typedef struct sl__held {
    char *key, *value;
    uint32_t key_len, value_len;
    int64_t ts;
    uint64_t seq;
    uint64_t release_at; /* the checkpoint that records it; 0 = the next barrier's */
} sl__held;

typedef struct sl__task {
    int32_t id;
    uint64_t events; /* events processed */
    int lane;
    struct sl_chain *chain; /* the operator chain (chain.h), NULL without one */
    uint64_t next_seq;      /* sequence number of the next result */
    /* Results written before a failure (replay suppression, worker.c):
     * per output partition, the highest sequence number already there. */
    int64_t *suppress; /* nsuppress entries, one per output partition */
    uint32_t nsuppress;
    int64_t suppress_floor; /* every partition (a version 2 snapshot), else -1 */
    int64_t suppress_max;   /* max of the above: fast path for later results */
    int64_t last_input_ns;  /* processing time of the last event */
    int64_t idle_base_wm;   /* watermark when the idle advance started */
    int closed;
    int merged;          /* watermark = min of the inputs' (SL_MSG_INPUT_WM) */
    int inputs_idle;     /* merged: every input is idle or ended */
    size_t state_cached; /* its window state bytes at the last budget check */
    /* output commit rule */
    int holding;  /* an idle advance happened since the last barrier */
    int hold_all; /* SL_CTL_UNORDERED with checkpoints: every result is held */
    sl__held *held;
    size_t nheld, held_cap;
    struct sl__task *next;
} sl__task;

typedef struct sl__worker {
    sl_engine *engine;
    int index;
    pthread_t thread;
    sl_ring *out;       /* to the sink thread */
    sl_ring *spare;     /* result batches the sink thread wrote, back for reuse */
    sl_batch *results;  /* being filled */
    sl_batch *dead;     /* late events for the dead-letter sink */
    sl__task **buckets; /* task table */
    size_t nbuckets;
    int ntasks;
    int nholding; /* tasks with held results */
    /* runtime.max_state_bytes (worker thread) */
    size_t state_total;      /* sum of state_cached over this worker's tasks */
    int state_refusing;      /* on_state_full "drop": refusing new keys */
    uint64_t state_full_old; /* refused by tasks since removed */
    uint64_t late, late_updates, windows_fired, results_count, dead_lettered, suppressed;
    uint64_t tombstones; /* upsert mode: deletes of replaced sessions */
    /* Checkpoint pause: per checkpoint, the time the worker spent
     * serializing its tasks (the sum over them: an upper bound of any
     * single stop), and the longest such sum so far. */
    uint64_t pause_ckpt;
    int64_t pause_sum_ns, pause_max_ns;
    sl__worker_counters counters;
    sl__task *current;    /* task whose batch is being processed */
    int cursor;           /* ordered lanes: the lane whose chunk comes next */
    int64_t stall_end_ns; /* end of the last restore (the worker read no input meanwhile) */
    sl_emitter emitter;
    sl_parker park; /* parked waiting for input (lanes wake it) */
    sl_parker room; /* parked waiting for room in `out` (the sink thread wakes it) */
    /* per-task status published for metrics/status readers */
    pthread_mutex_t status_mu;
    sl_task_status *status;
    size_t nstatus, status_cap;
} sl__worker;

struct sl_engine {
    const sl_def *def;
    sl_engine_options opt;
    const sl_source_ops *source_ops;
    void *source;
    const sl_sink_ops *sink_ops;
    void *sink;
    const sl_sink_ops *dlq_ops;
    void *dlq;
    sl_checkpointer *checkpointer; /* NULL when checkpoints are off */
    int nlanes, nworkers;
    int ordered; /* lanes take chunks of one input in turn (sl_source_ops.ordered) */
    sl_lane *lanes;
    sl__worker *workers;
    pthread_t sink_thread;
    sl_parker sink_park;        /* the sink thread, parked waiting for results */
    _Atomic int stop_requested; /* SIGTERM: set by sl_engine_stop */
    _Atomic int sources_stop;   /* what sources see, set after the final checkpoint */
    _Atomic int lanes_done;
    _Atomic int workers_done;
    _Atomic int failed;
    _Atomic int checkpoint_asap;   /* a worker advanced a watermark by idleness */
    _Atomic uint64_t assigns_sent; /* ASSIGN messages lanes sent */
    _Atomic uint64_t assigns_done; /* ASSIGN messages workers completed */
    _Atomic uint64_t revokes_sent; /* REVOKE messages lanes sent */
    _Atomic uint64_t revokes_done; /* ... whose earlier results the sink delivered */
    _Atomic int running;
    _Atomic uint64_t results_written, dlq_written;
    int64_t start_ns;
    int64_t end_ns;
    int source_failed; /* written by the joiner before lanes_done */
    /* exit summary (main thread unless noted) */
    int started;          /* every start step succeeded */
    int source_started;   /* the source's start() succeeded */
    char start_stage[32]; /* what failed to start ("source", "sink"), else "" */
    char start_error[512];
    int final_checkpoint; /* SIGTERM's final checkpoint: 1 durable, -1 failed, 0 none */
    _Atomic int probe_field_warned, probe_cmp_warned; /* probe.c: once per engine */
    pthread_mutex_t warn_mu;
    json_t *warnings; /* under warn_mu: [{"code":..,"message":..}] */
};

/* summary.c */
/* Prints the exit summary ({"summary": {...}}, valid JSON by construction)
 * with `exit_code`. Main thread, after the run. */
void sl__summary_print(sl_engine *e, FILE *out, int exit_code);
/* Logs a warning about the pipeline itself (a field never seen, a filter
 * that compares mismatched types) and records it for the summary under
 * `code`. Any thread; control path only (takes a lock). */
void sl__engine_warning(sl_engine *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hot-path batches are recycled to the thread that allocated them (a
 * lane's event batches from the workers, a worker's result batches from
 * the sink thread) through `spare` rings, so steady state allocates
 * nothing and no batch is freed by another thread than its allocator
 * (a full spare ring frees, which bounds the spares). */
/* Room for every batch that can be in flight on one ring at once (the
 * ring, the lane's queue, the batches being filled), so that none is
 * freed and allocated again; spares never outnumber that peak. */
#define SL__SPARE_CAP(ring_cap) (2 * (ring_cap) + 32)
/* Takes a spare batch of `capacity` rows and `nvals` columns from the
 * ring, reset as `kind` for `task`; NULL when there is none (spares of
 * another shape are freed). Consumer side of the ring. */
sl_batch *sl__spare_take(sl_ring *r, sl_msg_kind kind, int32_t task, uint32_t capacity,
                         uint32_t nvals);
/* Gives a used batch back through the ring (producer side), or frees it
 * when the ring is full. */
void sl__spare_give(sl_ring *r, sl_batch *b);

/* lane.c */
int sl__lane_init(sl_engine *e, sl_lane *l, int index, size_t ring_cap, char *errstr,
                  size_t errstr_size);
void sl__lane_destroy(sl_lane *l, int nworkers);
void sl__lane_publish(sl_lane *l);
/* lane_state.c (the lane's thread) */
/* Appends task's source state (format in lane_state.c) to st. */
void sl__lane_source_state(const sl_lane *l, int32_t task, sl_buf *st);
/* ASSIGN from a checkpoint: loads it, attaches it to ctl for the worker
 * and restores the task's source state from it; fails the engine when it
 * cannot be loaded or read. */
void sl__lane_restore_source_state(sl_lane *l, sl_batch *ctl);
/* Grows a task's input table to n inputs (new ones: nothing published,
 * not idle); frees one. */
void sl__inputs_grow(sl__inputs *in, size_t n);
void sl__inputs_free(sl__inputs *in);
/* The per-input positions recorded in a source-state blob (version 3;
 * co-partitioned topics) into out[cap]. Returns how many (0: none, an
 * older version, unreadable, or more than cap). */
#define SL__MAX_COMMIT_INPUTS 64 /* >= KS_MAX_TOPICS */
size_t sl__source_state_input_offsets(const uint8_t *st, uint32_t len, int64_t *out, size_t cap);

/* worker.c */
int sl__worker_init(sl_engine *e, sl__worker *w, int index, size_t ring_cap);
void sl__worker_destroy(sl__worker *w);
void *sl__worker_main(void *arg);

/* Blocking push into a ring the sink thread consumes (a worker's `out`, a
 * lane's dead-letter ring): spins, then parks on `self` (the pushing
 * thread's parker, woken when the sink thread takes something) while the
 * ring is full; wakes the sink thread. Frees the batch and returns if the
 * engine failed. */
void sl__push_blocking(sl_engine *e, sl_ring *r, sl_batch *b, sl_parker *self);

/* worker.c, for worker_checkpoint.c (worker thread) */
/* A new task `id` fed by `lane`, with a fresh chain, in the task table. */
sl__task *sl__task_create(sl__worker *w, int32_t id, int lane);
/* Removes task `id` from the table and frees it (no-op if absent). */
void sl__task_remove(sl__worker *w, int32_t id);
/* (Re)creates the task's operator chain; merged: its clock is the minimum
 * of its inputs' watermarks. On failure logs and fails the engine. */
void sl__task_open_chain(sl__worker *w, sl__task *t, int merged);
/* Appends a copy of one result (sequence `seq`) to the task's held
 * results, to be released by the next barrier's checkpoint. */
void sl__task_hold(sl__worker *w, sl__task *t, const char *key, size_t key_len, const char *value,
                   size_t value_len, int64_t ts, uint64_t seq);
/* Sends a task's held results, oldest first, as far as the checkpoints
 * they wait for are durable (checkpoint ids <= durable). */
void sl__task_release_held(sl__worker *w, sl__task *t, uint64_t durable);
/* Pushes the worker's pending result and dead-letter batches to the sink. */
void sl__worker_flush_results(sl__worker *w);

/* worker_checkpoint.c (worker thread) */
/* BARRIER: the task's snapshot (sequence, chain state, held results,
 * suppression marks), or with "checkpoint": "off" only whether its input
 * is committable, forwarded to the sink thread behind its results. */
void sl__task_snapshot(sl__worker *w, sl__task *t, const sl_batch *barrier);
/* ASSIGN: (re)creates the task; restores it from the checkpoint the lane
 * loaded if any, then runs the sink's output scan (exactly-once) and
 * releases the restored held results. Fails the engine on error. */
void sl__task_assign(sl__worker *w, int lane, const sl_batch *msg);

#endif
