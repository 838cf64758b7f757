/*
 * task_snapshot.h - the one owner of the task snapshot format: what a
 * checkpoint stores per task. Writers and readers elsewhere (the worker,
 * the lane, the sink thread, the operator chain) go through these
 * functions and never parse each other's bytes.
 *
 * Stored per task (the "node wrapper", written by the sink thread):
 *   blob(task state)  blob(sink position: opaque to the engine, the sink's)
 * Task state (little-endian; snapshot.h codec):
 *   u32 magic 0x534c5453 ("SLTS" as a number), u32 version (3; 2 loads)
 *   u32 task, u64 checkpoint id, i64 next input offset, u64 next result seq
 *   u8 closed (the task's input ended), u8 has_chain
 *   blob(source state: dedup positions, input watermarks; engine/runtime/lane.c)
 *   if has_chain: v3: u8 n, then n x (blob(operator name), blob(section))
 *                 v2: blob(the window's section)
 *   u32 n held results, each blob(key) blob(value) i64 ts u64 seq
 *   i64 suppress floor (v2: the only mark), v3: u32 n, n x i64 marks (the
 *   highest sequence number already written, per output partition)
 *
 * @locality: pure functions on caller-owned bytes.
 */
#ifndef SL_TASK_SNAPSHOT_H
#define SL_TASK_SNAPSHOT_H

#include "snapshot.h"

#define SL_TASK_SNAPSHOT_MAGIC 0x534c5453u
#define SL_TASK_SNAPSHOT_VERSION                                                                   \
    3u /* 2: one suppress mark; 3: per partition, operator sections                                \
        */

/* One operator's section (borrowed from the parsed bytes). */
typedef struct sl_task_section {
    const char *name;
    uint32_t name_len;
    const uint8_t *data;
    uint32_t len;
} sl_task_section;

/* A held result (borrowed). */
typedef struct sl_task_held {
    const char *key, *value;
    uint32_t key_len, value_len;
    int64_t ts;
    uint64_t seq;
} sl_task_held;

/* A parsed task snapshot. Pointers borrow the parsed bytes; the arrays are
 * owned (sl_task_image_free). */
typedef struct sl_task_image {
    uint32_t version;
    int32_t task;
    uint64_t checkpoint_id;
    int64_t next_offset;
    uint64_t next_seq;
    int closed, has_chain;
    const uint8_t *source;
    uint32_t source_len;
    sl_task_section *sections; /* v2: one, named "window" */
    size_t nsections;
    sl_task_held *held;
    size_t nheld;
    int64_t suppress_floor; /* every partition (v2), else -1 */
    int64_t *marks;
    uint32_t nmarks;
    const uint8_t *sink_pos; /* from the node wrapper; NULL if parsed without one */
    uint32_t sink_pos_len;
} sl_task_image;

/* Parses a stored snapshot (the node wrapper around the task state) in
 * full: every length checked, held results printable, no trailing bytes.
 * Returns 0, SL_ECORRUPT or SL_EVERSION with errstr; on error nothing is
 * left to free. */
int sl_task_image_parse(const uint8_t *stored, size_t len, sl_task_image *img, char *errstr,
                        size_t errstr_size);
void sl_task_image_free(sl_task_image *img);

/* The source state inside a task state (not wrapped), without parsing the
 * rest. Returns 0 or SL_ECORRUPT. */
int sl_task_image_source(const uint8_t *state, size_t len, const uint8_t **source,
                         uint32_t *source_len);

/* Writing a task state, in this order: begin (header and source state),
 * sections (if has_chain: the count, then each), end (held results and
 * marks). */
void sl_task_image_begin(sl_buf *b, const sl_task_image *hdr);
void sl_task_image_sections(sl_buf *b, size_t n);
void sl_task_image_section(sl_buf *b, const char *name, const uint8_t *data, size_t len);
void sl_task_image_end(sl_buf *b, const sl_task_image *tail);
/* A checkpoint of a task as loaded from the store and parsed: loaded once
 * (by the lane, on assignment) and handed to the worker with the ASSIGN
 * message (sl_batch.attach). */
typedef struct sl_task_loaded {
    uint8_t *stored; /* what the store returned (owned) */
    size_t len;
    sl_task_image img; /* parsed from it */
} sl_task_loaded;
void sl_task_loaded_free(void *loaded);

/* The node wrapper around a task state and the sink's position. */
void sl_task_image_wrap(sl_buf *b, const uint8_t *state, size_t len, const uint8_t *pos,
                        size_t pos_len);

#endif
