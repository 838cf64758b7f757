/*
 * batch.h - the unit that travels through the rings.
 *
 * Everything between threads is an sl_batch: columnar event batches from
 * source threads to workers, result batches from workers to the sink, and
 * control messages (watermark, barrier, assign, revoke, end of stream),
 * which are batches with count == 0 and a kind other than SL_MSG_DATA.
 * Ring slots carry sl_batch pointers; a successful push moves ownership.
 *
 * Event batch (SL_MSG_DATA, source -> worker), one task's events in input
 * order:
 *   ts[i]        event time, epoch ms
 *   offset[i]    input position (Kafka offset, line number, sequence)
 *   key_hash[i]  sl_hash64 of the key bytes
 *   key_off/len  the key: the JSON members of the key_by fields, exactly as
 *                they appear in a result, e.g.  "user":"u1","region":"eu"
 *                (empty when the pipeline has no key_by). Byte order of
 *                keys is the canonical firing order within a window end.
 *   vals         input columns of the aggregates, column-major:
 *                vals[c * capacity + i]: a number (SL_COL_NUM), or for the
 *                columns of count_distinct & co. (sl_col_kind) the value's
 *                64-bit hash in v.i (SL_COL_HASH) or its canonical JSON
 *                text in `bytes` (SL_COL_TEXT: v.i = offset << 32 | length);
 *                is_double == SL_NUM_ABSENT for a missing or null value of
 *                those columns
 *   row_off/len  for pipelines without a window: the output JSON object
 *
 * Result batch (SL_MSG_RESULTS, worker -> sink):
 *   key_off/len  message key (a JSON object of the key fields), may be empty;
 *                with a sink in upsert mode the key fields and then
 *                "window_start": {"user":"u1","window_start":0}
 *   row_off/len  message value (the result JSON object). row_len 0 (upsert
 *                mode only; no result is ever empty) is a tombstone: the
 *                record with this key is deleted (a session that a merge
 *                replaced). Sinks render it (Kafka: a NULL value; file: a
 *                "delete" line) or, if they cannot express deletes, count it
 *   offset[i]    per-task output sequence number
 *   ts[i]        result timestamp (window end - 1 for windows)
 *   key_hash[i]  the task that produced the row (results can mix tasks)
 *
 * Dead-letter batch (SL_MSG_BAD, lane or worker -> sink thread):
 *   key_off/len  the reason ("malformed_json", "late", ...)
 *   row_off/len  a JSON object {"reason":..,"task":..,"offset":..,
 *                "payload": <the original event as a JSON string>} (late
 *                events, from a worker, also carry "event_time",
 *                "watermark" and "key"; their payload is there when the
 *                lane kept it: pipelines with a dead_letter sink and a
 *                window)
 *   offset[i]    input position of the event
 *
 * All variable-length bytes live in `bytes` (owned by the batch).
 */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include "common.h"

typedef enum sl_msg_kind {
    SL_MSG_DATA = 0,  /* events for a task */
    SL_MSG_RESULTS,   /* results for the sink */
    SL_MSG_WATERMARK, /* advance the task's watermark to value (workers handle
                         it; no built-in source sends it: idle advances are
                         made inside the worker, merged inputs use INPUT_WM) */
    SL_MSG_BARRIER,   /* checkpoint `checkpoint_id`; value = next input offset */
    SL_MSG_ASSIGN,    /* task assigned to this node; value = start offset;
                         checkpoint_id = state to restore (0 none), its origin
                         node id in the byte arena (sl_batch_assign_origin) */
    SL_MSG_REVOKE,    /* task revoked: drop its state after this */
    SL_MSG_EOS,       /* end of stream for a task: close all windows */
    SL_MSG_BAD,       /* bad/late records for the dead-letter sink (rows) */
    SL_MSG_INPUT_WM,  /* merged task: value = min of its inputs' watermarks
                         (INT64_MIN none); flags SL_CTL_INPUTS_IDLE */
    SL_MSG_CHUNK_END, /* ordered lanes: the lane's current chunk is complete;
                         the worker goes on with the next lane's ring */
} sl_msg_kind;

/* sl_batch.flags of control messages. */
#define SL_CTL_MERGED      1u /* ASSIGN: the task merges several inputs */
#define SL_CTL_INPUTS_IDLE 2u /* INPUT_WM: every input is idle or ended */
/* ASSIGN: the task's inputs interleave by fetch timing (co-partitioned
 * topics), so a replay may order them differently: every result waits for
 * the checkpoint that records it (worker.c, rule 2). */
#define SL_CTL_UNORDERED 4u

/* A number as read from an event: exact integer or double. */
typedef struct sl_num {
    union {
        int64_t i;
        double d;
    } v;
    uint8_t is_double; /* 0, 1, or SL_NUM_ABSENT */
} sl_num;

/* sl_num.is_double of an absent value (missing or null; only in the columns
 * of aggregates that skip such values). */
#define SL_NUM_ABSENT 2

/* The value of an SL_COL_HASH column: sl_hash64 of the value's canonical
 * text, through the SplitMix64 finalizer so every bit is usable (the
 * HyperLogLog takes its register index from the top bits). */
static inline uint64_t sl_value_hash(const char *text, size_t len)
{
    uint64_t z = sl_hash64(text, len) + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct sl_batch {
    sl_msg_kind kind;
    int32_t task;      /* task id (input partition index), -1 if none */
    uint32_t count;    /* events or results in the batch */
    uint32_t capacity; /* rows allocated */
    uint32_t nvals;    /* numeric columns per row */
    int64_t value;     /* control payload, see sl_msg_kind */
    uint64_t checkpoint_id;
    uint32_t flags; /* control messages: SL_CTL_* */

    int64_t *ts;
    int64_t *offset;
    uint64_t *key_hash;
    uint32_t *key_off, *key_len;
    uint32_t *row_off, *row_len;
    sl_num *vals;

    char *bytes;
    size_t bytes_len, bytes_cap;

    /* Control messages: an object that travels with the message (ASSIGN:
     * the loaded checkpoint, loaded once by the lane), freed with it. */
    void *attach;
    void (*attach_free)(void *);

    struct sl_batch *next; /* free-list / queue link, owner's use only */
} sl_batch;

/* Allocates an event/result batch of `capacity` rows and `nvals` numeric
 * columns. Returns NULL on allocation failure (nothing is allocated). */
sl_batch *sl_batch_new(sl_msg_kind kind, int32_t task, uint32_t capacity, uint32_t nvals);
/* A control message (count 0, no row storage). NULL on allocation failure. */
sl_batch *sl_batch_control(sl_msg_kind kind, int32_t task, int64_t value);
/* Event and result batches allocated so far by this process (any thread;
 * for tests of the recycling that keeps steady state allocation-free). */
uint64_t sl_batch_allocated(void);
/* Empties the batch for reuse (keeps its storage). */
void sl_batch_reset(sl_batch *b);
/* Frees the batch. sl_batch_free(NULL) is a no-op. */
void sl_batch_free(sl_batch *b);

/* Appends `len` bytes to the batch's byte arena, growing it as needed;
 * returns the offset of the copy, or UINT32_MAX on allocation failure or
 * when the arena would pass 4 GiB. */
uint32_t sl_batch_put_bytes(sl_batch *b, const void *data, size_t len);
/* Reserves `len` bytes at the end of the arena and returns a pointer to
 * them (valid until the next put/reserve), or NULL. */
char *sl_batch_reserve_bytes(sl_batch *b, size_t len, uint32_t *off_out);

/* Appends a result row (key, value, ts, offset; key_hash 0) to a
 * SL_MSG_RESULTS batch with count < capacity. Returns 0, or SL_ENOMEM
 * (then the batch is unchanged). */
int sl_batch_add_result(sl_batch *b, const char *key, size_t key_len, const char *value,
                        size_t value_len, int64_t ts, int64_t offset);

/* SL_MSG_ASSIGN: the node that took checkpoint_id, "" when not recorded
 * (stored NUL-terminated at the start of the byte arena). */
static inline const char *sl_batch_assign_origin(const sl_batch *b)
{
    return b->bytes_len && b->bytes[b->bytes_len - 1] == '\0' ? b->bytes : "";
}

static inline const char *sl_batch_key(const sl_batch *b, uint32_t i, uint32_t *len)
{
    *len = b->key_len[i];
    return b->bytes + b->key_off[i];
}

static inline const char *sl_batch_row(const sl_batch *b, uint32_t i, uint32_t *len)
{
    *len = b->row_len[i];
    return b->bytes + b->row_off[i];
}

static inline sl_num *sl_batch_val(const sl_batch *b, uint32_t col, uint32_t i)
{
    return &b->vals[(size_t)col * b->capacity + i];
}

static inline double sl_num_as_double(sl_num n)
{
    return n.is_double ? n.v.d : (double)n.v.i;
}

#endif
