/*
 * operator.h - operators: const vtables registered by name; the name is the
 * stage's key in the pipeline JSON ({"filter": ...}, {"window": ...}).
 *
 * Definition side (every operator): init parses and validates a stage,
 * explain prints it, destroy frees what init allocated.
 *
 * Runtime side (optional): a task runs a chain of operator instances, one
 * per stage from the first stage that has `open` on (the planner fuses the
 * stateless prefix before it, filter/map/key_by before a window, into the
 * decoder on the source threads: engine/ingest). The worker drives the
 * chain (engine/runtime/chain.c) and knows no operator by name:
 *   open       per task, creates the instance
 *   process    one batch in (borrowed), zero or more batches out through
 *              `out`, in order
 *   watermark  the task's event-time clock advanced; may emit
 *   finish     end of input: emit whatever is still pending
 *   snapshot / restore
 *              the instance's own versioned section of the task snapshot
 *              (optional: a stateless operator has neither)
 *   close      frees the instance
 *
 * Batches between operators. The first runtime stage gets event batches
 * (SL_MSG_DATA, see batch.h: key, event time, numeric columns). A window
 * turns them into result batches (SL_MSG_RESULTS): key_off/len the message
 * key (a JSON object of the key fields), row_off/len the result row (a
 * flat JSON object: key fields, window_start, window_end, aggregates),
 * ts[i] the result timestamp, offset[i] 1 for a late update of a fired
 * window and 0 otherwise (sequence numbers are given after the chain).
 * With a sink in upsert mode ("emit": "upsert") the key also holds
 * "window_start", and a row may be empty (row_len 0): a tombstone, the
 * delete of the record with that key (offset 1); stages after the window
 * pass tombstones on unchanged.
 * Stages after a window get and emit result batches.
 *
 * @locality: an instance is used by one worker thread at a time; the
 * vtables and the stage definitions are immutable once loaded.
 */
#ifndef SL_OPERATOR_H
#define SL_OPERATOR_H

#include "batch.h"
#include "definition.h"
#include "snapshot.h"

#include <jansson.h>
#include <stdio.h>

/* Where an instance sends its output (the next stage, or the task). */
typedef struct sl_op_out {
    /* A batch (borrowed: valid during the call only). */
    void (*emit)(void *ctx, const sl_batch *b);
    /* An input event dropped as late, judged against `watermark` (row of
     * the event batch `in`); for the dead-letter output. */
    void (*late)(void *ctx, const sl_batch *in, uint32_t row, int64_t watermark);
    void *ctx;
} sl_op_out;

/* What open() gets besides its stage. */
typedef struct sl_op_env {
    const sl_def *def;
    int32_t task;
    /* The task merges several inputs: its event-time clock is the minimum
     * of theirs, given by watermark() calls; events do not advance it. */
    int external_watermark;
} sl_op_env;

/* Figures of an instance for metrics, the state budget and idleness. */
typedef struct sl_op_stats {
    size_t state_bytes; /* approximate bytes of state held */
    size_t keys;        /* keys holding state */
    uint64_t refused;   /* events refused by refuse_new_keys */
    int64_t watermark;  /* the instance's event-time clock, INT64_MIN if none */
    int64_t max_ts;     /* highest event time seen, INT64_MIN if none */
    int has_clock;      /* watermark is meaningful (a window) */
} sl_op_stats;

typedef struct sl_operator_ops {
    const char *name;
    /* Parses and validates the stage object `stage_json` (the whole object,
     * e.g. {"window": {...}, "aggregates": {...}}) found at JSON path `path`
     * ("pipeline[2]") into `stage`. On error returns SL_EINVAL and writes
     * "pipeline[2].window.size: must be a positive duration, got \"-1s\""
     * (path-qualified, no file name) into errstr; nothing is left allocated. */
    int (*init)(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                size_t errstr_size);
    /* Prints the stage's plan lines (indented by two spaces). */
    void (*explain)(const sl_stage *stage, FILE *out);
    /* Frees what init allocated inside `stage` (not `stage` itself). */
    void (*destroy)(sl_stage *stage);

    /* ---- runtime (all optional; see the top of the file) ---- */
    /* A new instance for one task, or NULL with errstr. */
    void *(*open)(const sl_stage *stage, const sl_op_env *env, char *errstr, size_t errstr_size);
    void (*process)(void *op, const sl_batch *in, const sl_op_out *out);
    void (*watermark)(void *op, int64_t watermark, const sl_op_out *out);
    void (*finish)(void *op, const sl_op_out *out);
    /* Appends the instance's state to `out` (its own format, with its own
     * version); restore reads it back into a fresh instance (SL_ECORRUPT /
     * SL_EVERSION with errstr, leaving the instance empty). */
    int (*snapshot)(const void *op, sl_buf *out);
    int (*restore)(void *op, sl_reader *in, char *errstr, size_t errstr_size);
    void (*stats)(const void *op, sl_op_stats *out);
    /* State budget: while `on`, refuse events of keys without state. */
    void (*refuse_new_keys)(void *op, int on);
    void (*close)(void *op);
    /* Where the stage may stand. 1: only after a window (it reads result
     * rows); 0: anywhere a runtime stage may. */
    int after_window;
} sl_operator_ops;

extern const sl_operator_ops sl_op_filter;
extern const sl_operator_ops sl_op_map;
extern const sl_operator_ops sl_op_key_by;
extern const sl_operator_ops sl_op_window;

/* The operator named `name` (built in or registered), or NULL. */
const sl_operator_ops *sl_operator_find(const char *name);
/* NULL-terminated list of the built-in operators (for did-you-mean). */
extern const sl_operator_ops *const sl_operators[];
/* Registers an operator defined outside this folder (before definitions
 * are loaded; not thread-safe). Its stages have kind SL_STAGE_CUSTOM and
 * keep what init parsed in stage->u.custom. Returns 0, or SL_EINVAL for a
 * name already taken or a full registry (16 registered operators). */
int sl_operator_register(const sl_operator_ops *ops);
/* The registered operators (n of them), for did-you-mean. */
const sl_operator_ops *const *sl_operator_registered(size_t *n);

#endif
