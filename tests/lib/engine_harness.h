/*
 * engine_harness.h - the in-process connectors that engine tests plug into
 * sl_engine_options: a source with one lane that a test function feeds on
 * a thread of its own, and the do-nothing parts of a sink. One source per
 * process: the hooks are kept in static storage (the engine's create()
 * call carries no user pointer).
 */
#ifndef SL_TEST_ENGINE_HARNESS_H
#define SL_TEST_ENGINE_HARNESS_H

#include "connector.h"
#include "engine.h"
#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

/* Runs on the source's thread once the engine starts it; returns when the
 * source is done (after its end of stream, or to "die"). */
typedef void (*eh_feed_fn)(sl_engine *engine, sl_lane *lane);
/* A checkpoint commit (see sl_source_ops.commit); returns SL_OK. */
typedef int (*eh_commit_fn)(uint64_t id, const sl_task_offset *offsets, size_t n);

/* Source ops ("script", one lane) that run the hooks set by eh_source_set. */
extern const sl_source_ops eh_script_source;

/* Sets what eh_script_source does: `feed` feeds its lane; `commit` sees
 * each checkpoint commit (NULL: commits are accepted and ignored). */
void eh_source_set(eh_feed_fn feed, eh_commit_fn commit);

/* Assigns tasks 0..ntasks-1 on `lane`, task t from offset resume_at[t]
 * (NULL: 0) restoring checkpoint `ckpt` (0: none). */
void eh_assign(sl_lane *lane, int ntasks, const int64_t *resume_at, uint64_t ckpt);

/* Sends the end of stream of tasks 0..ntasks-1 and waits for the lane. */
void eh_end(sl_lane *lane, int ntasks);

/* Flushes `lane` until *ckpt is non-zero (set by a commit hook), for 10 s
 * at the most. */
void eh_wait_checkpoint(sl_lane *lane, const uint64_t *ckpt);

/* Sink parts with no state: create() sets a NULL state, flush() and
 * destroy() do nothing, position() writes the task number (u32). */
int eh_sink_create(const sl_connector_def *c, const sl_def *d, void **st, char *errstr,
                   size_t errstr_size);
int eh_sink_flush(void *st, int task);
void eh_sink_destroy(void *st);
int eh_sink_position(void *st, int32_t task, sl_buf *b);
/* recover()'s result: a malloc'd copy of the n marks (one per partition). */
int eh_sink_marks(const int64_t *marks, uint32_t n, int64_t **out, uint32_t *nout);

#endif
