/*
 * connector.h - sources and sinks as const vtables, registered by name;
 * the name is the "type" in the pipeline JSON.
 *
 * Options are declared in a table (sl_opt) and validated by the core
 * (sl_opts_check in options.c, called by the definition loader) before
 * create() is called, so a connector only reads values it knows are
 * present and well-typed. connectors/README.md says how to write one.
 *
 * Lifecycle (main thread unless noted; check runs at definition load):
 *   source: create -> lanes -> start(engine) ... stop -> join (a joiner
 *           thread) -> destroy
 *   sink:   create -> open (after every start step succeeded) -> write*
 *           and flush* (sink thread) -> flush (main, after the sink
 *           thread ended) -> destroy
 */
#ifndef SL_CONNECTOR_H
#define SL_CONNECTOR_H

#include "batch.h"
#include "checkpoint.h"
#include "definition.h"
#include "options.h"
#include "snapshot.h"

#include <stdio.h>

typedef struct sl_engine sl_engine;

/* Options every source accepts (type, format, event_time, watermark) are
 * added by the core; a connector lists only its own. Table ends with
 * {NULL}. */

/* One input partition, for metrics and /api/status. */
typedef struct sl_partition_status {
    char topic[128];
    int32_t partition;
    int64_t consumed;  /* next offset to consume, -1 unknown */
    int64_t committed; /* -1 none */
    int64_t high;      /* high watermark, -1 unknown */
    int64_t lag;       /* high - consumed, -1 unknown */
    int64_t events;    /* events read from it by this process; -1 for an
                          internal topic (repartitioning) */
} sl_partition_status;

typedef struct sl_source_ops {
    const char *name;
    const sl_opt *options;
    /* Reads its options from conf->conf. Returns 0 or SL_EINVAL with a
     * message naming conf->path + the option. */
    int (*create)(const sl_connector_def *conf, const sl_def *def, void **state, char *errstr,
                  size_t errstr_size);
    /* How many source threads (lanes) it will run. */
    int (*lanes)(void *state);
    /* Optional, for the planner (plan.h; absent: 1): the lanes a source of
     * this definition will run, from its options alone. It must agree
     * with lanes() of the created source (the engine checks). */
    int (*plan_lanes)(const sl_connector_def *conf, const sl_def *def);
    /* Optional: whether the lanes split one ordered input into chunks
     * taken in turn (chunk c by lane c % lanes, each ended with
     * sl_lane_chunk_end). Workers then consume the lanes' rings in that
     * turn, so every task sees its events in input order, as from one
     * lane. Only lane 0 puts checkpoint barriers in; the lane that reads
     * the last chunk sends the end of stream before its last chunk end. */
    int (*ordered)(void *state);
    /* Starts its threads; lane i's thread uses sl_engine_lane(engine, i).
     * Returns 0 or an error (nothing started). */
    int (*start)(void *state, sl_engine *engine, char *errstr, size_t errstr_size);
    /* Asks the threads to stop soon (any thread; must not block). */
    void (*stop)(void *state);
    /* Waits for the threads to end. Returns 0, or 1 if the source failed. */
    int (*join)(void *state);
    void (*destroy)(void *state);
    /* Optional: checks of the definition that the option table cannot
     * express (e.g. Kafka's bootstrap.servers or SLUICE_BOOTSTRAP), run by
     * the definition loader, so `validate` rejects what `run` would.
     * Opens nothing, starts nothing. Returns 0 or SL_EINVAL with errstr
     * "path.key: what is wrong" (no file name). */
    int (*check)(const sl_connector_def *conf, const sl_def *def, char *errstr, size_t errstr_size);
    /* Optional: prints its status fields as JSON members (no braces), e.g.
     * lag per partition. */
    void (*status)(void *state, FILE *out);
    /* Optional (checkpointing sources): commit the input offsets of durable
     * checkpoint `checkpoint_id` (e.g. Kafka offsets with metadata naming
     * it). Called on the checkpoint coordinator's thread. Returns 0 or an
     * error. */
    int (*commit)(void *state, uint64_t checkpoint_id, const sl_task_offset *offsets, size_t n);
    /* Optional: 1 when the source is consuming (e.g. the consumer group
     * assigned its partitions); else 0 with a reason. Any thread. */
    int (*ready)(void *state, char *reason, size_t reason_size);
    /* Optional: per input partition positions for metrics; returns the
     * number of partitions (may exceed max). Any thread. */
    size_t (*partitions)(void *state, struct sl_partition_status *out, size_t max);
} sl_source_ops;

typedef struct sl_sink_ops {
    const char *name;
    const sl_opt *options;
    int (*create)(const sl_connector_def *conf, const sl_def *def, void **state, char *errstr,
                  size_t errstr_size);
    /* Optional: like sl_source_ops.check. */
    int (*check)(const sl_connector_def *conf, const sl_def *def, char *errstr, size_t errstr_size);
    /* Optional: called once by the engine after every start step succeeded
     * (threads, source, HTTP), before the first write: the first moment a
     * sink may touch its output (a file sink truncates here, so a failed
     * start destroys nothing). Returns 0 or an error (errstr says what). */
    int (*open)(void *state, char *errstr, size_t errstr_size);
    /* Sink thread. Writes the rows of a SL_MSG_RESULTS or SL_MSG_BAD batch
     * (borrowed). Returns 0, or an error that stops the pipeline with exit 1. */
    int (*write)(void *state, const sl_batch *batch);
    /* Makes everything written durable/delivered within timeout_ms.
     * Returns 0 or an error (a delivery failure is never silent). */
    int (*flush)(void *state, int timeout_ms);
    void (*destroy)(void *state);
    /* Optional (exactly-once sinks). Sink thread, right after a flush that
     * follows `task`'s checkpoint barrier: append to `out` the position
     * from which results the task writes later can appear (Kafka: per
     * output partition, the offset after the last delivered message). */
    int (*position)(void *state, int32_t task, sl_buf *out);
    /* Optional. On restore of `task` (worker thread, before its first
     * result): reads the outputs from the recorded `position` to their end
     * and reports, per output partition, the highest sequence number (the
     * "sluice-seq" header) the task already wrote there, or -1 if none:
     * *last_seq is a malloc'd array of *nparts entries (the caller frees
     * it). Per partition, because delivery is ordered only within one: a
     * crash can leave a later result in one partition and lose an earlier
     * one in flight to another. Returns 0 or an error (errstr says what). */
    int (*recover)(void *state, int32_t task, const uint8_t *position, size_t len,
                   int64_t **last_seq, uint32_t *nparts, char *errstr, size_t errstr_size);
    /* Optional, with recover (a sink without it has one partition). Any
     * thread: the output partition, in [0, nparts), that a result with
     * this key goes to when the output has nparts partitions. A pure
     * function of its arguments: the same key always maps alike. */
    uint32_t (*partition_of)(void *state, const char *key, size_t key_len, uint32_t nparts);
} sl_sink_ops;

extern const sl_source_ops sl_source_file;
extern const sl_source_ops sl_source_generator;
extern const sl_sink_ops sl_sink_file;
extern const sl_sink_ops sl_sink_null; /* discards everything */

/* The connectors known by name. The definition loader and the engine
 * look types up here; the connectors themselves live in layers above
 * (connectors/, connectors/kafka/), so whoever links them hands their
 * tables in once, before loading a definition: the CLI calls
 * sl_connectors_register_builtin() (connectors/registry.h). Until then
 * both lists are empty. */
void sl_connectors_register(const sl_source_ops *const *sources, const sl_sink_ops *const *sinks);
const sl_source_ops *sl_source_find(const char *type);
const sl_sink_ops *sl_sink_find(const char *type);
/* NULL-terminated registries (did-you-mean, --help). */
extern const sl_source_ops *const *sl_sources;
extern const sl_sink_ops *const *sl_sinks;

#endif
