/*
 * checkpoint.h - the per-node checkpoint coordinator (the protocol is in
 * engine/README.md and README.md "Checkpoints and exactly-once"; design
 * notes and invariants at the top of checkpoint.c).
 *
 * Threads:
 *   main thread   sl_checkpointer_begin()       starts checkpoint n
 *   lane threads  sl_checkpointer_lane_done()   barrier n injected for k tasks
 *   sink thread   sl_checkpointer_add()         task snapshot, results flushed
 *   own thread    writes, replicates, then calls the commit callback
 *   workers       sl_checkpointer_durable(), sl_checkpointer_load()
 */
#ifndef SL_CHECKPOINT_H
#define SL_CHECKPOINT_H

#include "common.h"
#include "definition.h"

typedef struct sl_checkpointer sl_checkpointer;

/* One task's input position in a durable checkpoint; a task of several
 * co-partitioned topics also has the position of each of its inputs
 * (input_next[ninputs], in the order of the source's inputs; ninputs 0
 * otherwise). */
typedef struct sl_task_offset {
    int32_t task;
    int64_t next_offset;
    size_t ninputs;
    const int64_t *input_next;
} sl_task_offset;

/* Called on the coordinator's thread once checkpoint n is durable (local
 * store + required replicas): commit these input offsets. Returns 0 or an
 * error (the checkpoint then counts as failed; it is retried next time). */
typedef int (*sl_commit_fn)(void *ctx, uint64_t checkpoint_id, const sl_task_offset *offsets,
                            size_t n);

typedef struct sl_checkpoint_stats {
    uint64_t completed, failed;
    uint64_t last_id, durable_id;
    uint64_t last_bytes;
    double last_duration_ms;
    double p50_ms, p99_ms; /* over the last 1024 checkpoints */
    int64_t last_completed_wall_ms;
    uint64_t consecutive_failed; /* failures since the last success */
    /* replication server: refused handshakes (plaintext, unknown key),
     * pushes for an origin their key may not speak for, malformed or
     * out-of-bounds messages */
    uint64_t repl_refused_connections, repl_refused_origin, repl_bad_messages;
} sl_checkpoint_stats;

/* After this many failed checkpoints in a row the node reports not ready
 * (/readyz 503) until one succeeds. */
#define SL_CHECKPOINT_UNREADY_AFTER 3

/* Creates the coordinator for def->checkpoint / def->cluster: opens the
 * local store (creating the directory), starts the replication server when
 * cluster.listen is set, and the coordinator thread. NULL + errstr on
 * failure. */
sl_checkpointer *sl_checkpointer_new(const sl_def *def, sl_commit_fn commit, void *commit_ctx,
                                     char *errstr, size_t errstr_size);
/* Stops the coordinator: a checkpoint being persisted, or one whose
 * snapshots are all in, is finished first; one still collecting is
 * dropped (nothing of it was stored). Then stops the replication threads
 * and frees. */
void sl_checkpointer_free(sl_checkpointer *c);

/* Main thread: starts checkpoint n (returned) that `nlanes` lanes will
 * report on; 0 if one is still in flight (they never overlap). */
uint64_t sl_checkpointer_begin(sl_checkpointer *c, int nlanes);
/* The id most recently begun (lanes compare it with their last barrier). */
uint64_t sl_checkpointer_requested(const sl_checkpointer *c);
/* Lane thread: barrier n was injected for `ntasks` tasks of the lane. */
void sl_checkpointer_lane_done(sl_checkpointer *c, uint64_t n, int ntasks);
/* Sink thread: the snapshot of `task` for checkpoint n; every result the
 * task produced before the barrier is delivered. Copies `blob`. */
void sl_checkpointer_add(sl_checkpointer *c, uint64_t n, int32_t task, int64_t next_offset,
                         const void *blob, size_t len);
/* sl_checkpointer_add with the position of each input of the task
 * (copied; handed to the commit as sl_task_offset.input_next). */
void sl_checkpointer_add_inputs(sl_checkpointer *c, uint64_t n, int32_t task, int64_t next_offset,
                                const int64_t *input_next, size_t ninputs, const void *blob,
                                size_t len);
/* Highest checkpoint id that is durable (0 if none). Any thread. */
uint64_t sl_checkpointer_durable(const sl_checkpointer *c);
/* Waits up to timeout_ms for the checkpoint in flight (if any) to finish.
 * Returns 0 if it became durable, or an error. */
int sl_checkpointer_wait(sl_checkpointer *c, int timeout_ms);

/* Cancels the checkpoint in flight if some lane never reported its barrier
 * (the input ended first): nothing of it was persisted. */
void sl_checkpointer_cancel_unreported(sl_checkpointer *c);

/* Loads the snapshot of `task` at checkpoint n taken by node `origin` (as
 * recorded with the offset commit): from this node's own store when origin
 * is this node, else from replicas/<origin>/; if that copy is missing or
 * fails verification (logged loudly), from a peer's copy of that origin's
 * area. Every copy is verified (CRCs, version, task, checkpoint id and the
 * origin in its header); no other node's area is ever used. origin NULL or
 * "" (offsets committed by an older version, which did not record it):
 * the own store, then each replica area, then any peer, each verified, with
 * a warning. *blob is malloc'ed. Returns 0, SL_ENOTFOUND, or SL_ECORRUPT
 * (errstr says every place tried and why it failed). */
int sl_checkpointer_load(sl_checkpointer *c, int32_t task, uint64_t n, const char *origin,
                         uint8_t **blob, size_t *len, char *errstr, size_t errstr_size);

/* Offset commit metadata naming checkpoint `id` taken by node `origin`:
 * "sluice:checkpoint=<id>;origin=<node>". Returns the length written
 * (excluding NUL; truncated output is never returned: -1 instead). */
int sl_checkpoint_meta_format(char *out, size_t size, uint64_t id, const char *origin);
/* Parses offset commit metadata (not NUL-terminated, `len` bytes):
 * "sluice:checkpoint=<id>" (older versions; origin[0] = '\0') or
 * "sluice:checkpoint=<id>;origin=<node>". origin has room for 65 bytes.
 * Returns 0 and fills *id, or -1 when the metadata is not Sluice's or is
 * malformed (then *id = 0). */
int sl_checkpoint_meta_parse(const void *meta, size_t len, uint64_t *id, char *origin);

void sl_checkpointer_get_stats(const sl_checkpointer *c, sl_checkpoint_stats *out);

#endif
