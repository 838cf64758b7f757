/*
 * metrics.h - a Prometheus metrics registry whose updates cost the hot path
 * no lock and no read-modify-write atomic.
 *
 * Model
 * -----
 *   registry ──► family (name, help, type, label names)
 *                  └─► series (one set of label values)
 *                        └─► cells (one per updating thread)
 *
 * A *cell* is a cache-line sized slot owned by exactly one thread. The owner
 * updates it with a relaxed atomic load and a relaxed atomic store (plain
 * `mov`s on x86/arm64: no lock prefix, no fence), ideally once per batch
 * with the batch's count. A scrape reads every cell with a relaxed load and
 * sums the cells of a series. Two threads that update the same series each
 * ask for their own cell (sl_metric_cell() called twice with the same label
 * values returns two cells of one series), so there is never a shared write.
 *
 *   Thread ownership:
 *     - registration (families, cells, callbacks), release and rendering:
 *       any thread; they take the registry mutex (cold path only).
 *     - sl_cell_add / sl_cell_set: the cell's owner thread only, lock-free.
 *     - sl_hist_observe: any thread (atomic read-modify-write, cold path:
 *       meant for per-checkpoint observations, not per event).
 *
 * A counter cell that is released keeps its value in the series (folded
 * into a retired total), so a counter never goes backwards when a task
 * moves away; a gauge series with no live cells left (and no callback) is
 * not rendered.
 *
 * Values: counters are uint64; gauges are int64 (two's complement stored
 * in the cell); a series with a callback, and histograms, are doubles.
 *
 * Exposition: Prometheus text format 0.0.4 (HELP and TYPE lines, label
 * values escaped as \\ \" \n, HELP text escaped as \\ \n), families in
 * registration order, series in creation order.
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include "common.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_metrics sl_metrics;
typedef struct sl_metric sl_metric; /* a family */

typedef enum sl_metric_type {
    SL_METRIC_COUNTER,
    SL_METRIC_GAUGE,
    SL_METRIC_HISTOGRAM,
} sl_metric_type;

/* Most label names a family may declare. */
#define SL_METRIC_MAX_LABELS 4

/* One thread's contribution to a series. Aligned to a cache line so two
 * threads' cells never share one. */
typedef struct sl_cell {
    _Alignas(SL_CACHE_LINE) _Atomic uint64_t value;
} sl_cell;

/* Adds `n` to a counter or gauge cell. Owner thread only; no lock, no RMW
 * atomic (relaxed load + relaxed store). NULL cell: no-op, so disabled
 * metrics cost one branch. */
static inline void sl_cell_add(sl_cell *c, uint64_t n)
{
    if (c)
        atomic_store_explicit(&c->value, atomic_load_explicit(&c->value, memory_order_relaxed) + n,
                              memory_order_relaxed);
}

/* Sets a cell to `v` (a counter's thread-local running total, or a gauge's
 * value; gauges are read back as int64). Owner thread only; relaxed store.
 * NULL cell: no-op. */
static inline void sl_cell_set(sl_cell *c, uint64_t v)
{
    if (c)
        atomic_store_explicit(&c->value, v, memory_order_relaxed);
}

/* Sets a gauge cell to a signed value. Owner thread only. */
static inline void sl_cell_set_i64(sl_cell *c, int64_t v)
{
    sl_cell_set(c, (uint64_t)v);
}

/* Reads a cell (any thread, relaxed). 0 for NULL. */
static inline uint64_t sl_cell_get(const sl_cell *c)
{
    return c ? atomic_load_explicit(&c->value, memory_order_relaxed) : 0;
}

/* ---- registry ------------------------------------------------------- */

/* Creates an empty registry. Returns NULL only when out of memory. */
sl_metrics *sl_metrics_new(void);
/* Frees the registry, its families, series, cells and histograms.
 * Every cell pointer becomes invalid: call after the updating threads have
 * stopped. NULL is a no-op. */
void sl_metrics_free(sl_metrics *m);

/* The process-wide registry, created on first use (thread-safe) and never
 * freed. The engine and the HTTP server of `sluice run` share it. */
sl_metrics *sl_metrics_default(void);

/* Registers a counter or gauge family. `name` must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, each label name [a-zA-Z_][a-zA-Z0-9_]* (not
 * starting with "__", not "le" for histograms), at most
 * SL_METRIC_MAX_LABELS of them, no duplicates. Registering a name again
 * with the same type and label names returns the existing family (so
 * several components may register what they share); with a different type
 * or labels it fails. Returns the family (owned by the registry), or NULL
 * with errstr filled. */
sl_metric *sl_metrics_counter(sl_metrics *m, const char *name, const char *help,
                              const char *const *label_names, size_t nlabels, char *errstr,
                              size_t errstr_size);
sl_metric *sl_metrics_gauge(sl_metrics *m, const char *name, const char *help,
                            const char *const *label_names, size_t nlabels, char *errstr,
                            size_t errstr_size);
/* Registers a histogram family with `nbounds` strictly increasing finite
 * upper bounds (the +Inf bucket is implicit). Same rules as above; a
 * re-registration must also have the same bounds. */
sl_metric *sl_metrics_histogram(sl_metrics *m, const char *name, const char *help,
                                const char *const *label_names, size_t nlabels,
                                const double *bounds, size_t nbounds, char *errstr,
                                size_t errstr_size);

/* Creates a new cell in the series of `fam` with these label values
 * (`nvalues` must equal the family's label count; values may be any UTF-8,
 * they are escaped when rendered). The series is created on first use.
 * The cell starts at 0 and belongs to the calling thread (or to the thread
 * it is handed to before its first update). Counter and gauge families
 * only. Returns NULL on a bad argument or out of memory. */
sl_cell *sl_metric_cell(sl_metric *fam, const char *const *values, size_t nvalues);
/* Detaches and frees a cell. A counter's value stays in its series; a
 * gauge's contribution disappears. The owner must not use it afterwards.
 * NULL is a no-op. */
void sl_cell_release(sl_cell *c);

/* A series computed at scrape time (gauge, or counter whose fn never
 * decreases, e.g. CPU seconds): `fn(arg)` is called under the registry
 * mutex each time the registry is rendered (from the HTTP thread), so it
 * must be quick, must not call back into the registry, and must read only
 * what is safe to read from another thread (atomics, or data under its own
 * lock). Its value is added to the series' cells, if any. Several callbacks
 * may feed one series. Returns 0, or SL_EINVAL / SL_ENOMEM. Remove it with
 * sl_metric_unset_fn (same fn and arg) before `arg` dies. */
typedef double (*sl_metric_value_fn)(void *arg);
int sl_metric_set_fn(sl_metric *fam, const char *const *values, size_t nvalues,
                     sl_metric_value_fn fn, void *arg);
/* Renders `fam`'s values multiplied by `scale`: its cells then hold
 * value / scale as integers (e.g. milliseconds of a _seconds gauge with
 * scale 0.001), so updates stay integer stores. Returns 0 or SL_EINVAL
 * (histogram, scale <= 0). */
int sl_metric_set_scale(sl_metric *fam, double scale);
/* Removes every callback of `fam` registered with this fn and arg. Once it
 * returns, fn is not running and will not be called again with arg. */
void sl_metric_unset_fn(sl_metric *fam, sl_metric_value_fn fn, void *arg);

/* ---- histograms ----------------------------------------------------- */

typedef struct sl_hist sl_hist;

/* The histogram series of `fam` with these label values, created on first
 * use (the same values return the same series). NULL on bad arguments. */
sl_hist *sl_metric_hist(sl_metric *fam, const char *const *values, size_t nvalues);
/* Records one observation. Any thread (atomic RMW: not for per-event use). */
void sl_hist_observe(sl_hist *h, double v);

/* ---- rendering ------------------------------------------------------ */

/* Renders every family in Prometheus text format 0.0.4 into a new
 * NUL-terminated buffer; *out must be freed by the caller, *len (if not
 * NULL) gets its length. Returns 0 or SL_ENOMEM (nothing allocated). */
int sl_metrics_render(sl_metrics *m, char **out, size_t *len);

/* Reads the summed value of one counter/gauge series, callbacks included
 * (for tests and /api/status). Returns 0 and *value, or SL_ENOTFOUND. */
int sl_metric_value(sl_metric *fam, const char *const *values, size_t nvalues, double *value);

/* ---- process metrics ------------------------------------------------ */

/* Resident set size of this process in bytes, from /proc/self/statm; 0 if
 * unavailable. */
uint64_t sl_process_rss_bytes(void);

/* Registers sluice_process_resident_memory_bytes,
 * sluice_process_cpu_seconds_total and sluice_process_start_time_seconds
 * (computed at scrape). Idempotent. Returns 0 or an error. */
int sl_metrics_add_process(sl_metrics *m);

/* ---- the engine's metric families ----------------------------------- */

/* Every family Sluice exports, registered in one place so names, help and
 * labels are defined once (README's metrics table lists the same). */
typedef struct sl_sluice_metrics {
    sl_metric *events_in;           /* counter  sluice_events_in_total{source,topic,partition} */
    sl_metric *events_out;          /* counter  sluice_events_out_total{sink} */
    sl_metric *bad_events;          /* counter  sluice_bad_events_total{reason} */
    sl_metric *late_events;         /* counter  sluice_late_events_total{outcome}: dropped,
                                                 dead_letter, updated */
    sl_metric *consumer_lag;        /* gauge    sluice_consumer_lag{topic,partition} */
    sl_metric *watermark_lag;       /* gauge    sluice_watermark_lag_seconds{task} (cells: ms) */
    sl_metric *checkpoint_duration; /* histogram sluice_checkpoint_duration_seconds */
    sl_metric *checkpoint_size;     /* gauge    sluice_checkpoint_size_bytes */
    sl_metric *checkpoint_failures; /* counter  sluice_checkpoint_failures_total */
    sl_metric *checkpoints;         /* counter  sluice_checkpoints_total */
    sl_metric *ring_occupancy;      /* gauge    sluice_ring_occupancy{ring} */
    sl_metric *window_state_bytes;  /* gauge    sluice_window_state_bytes{task} */
    sl_metric *results_emitted;     /* counter  sluice_results_emitted_total */
    sl_metric *tasks_assigned;      /* gauge    sluice_tasks_assigned */
    sl_metric *replication_refused; /* counter  sluice_replication_refused_total{reason}:
                                       handshake, origin, malformed */
} sl_sluice_metrics;

/* Registers the families above (and the process metrics) in `m` and fills
 * *out. Idempotent. Returns 0, or an error with errstr filled. */
int sl_metrics_register_sluice(sl_metrics *m, sl_sluice_metrics *out, char *errstr,
                               size_t errstr_size);

#endif
