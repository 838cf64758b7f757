/*
 * ingest.h - decode once, early: turns a raw JSON event into one row of a
 * columnar sl_batch, applying the pipeline's stateless stages (filter, map,
 * key_by) on the way. Only the fields the pipeline uses are extracted
 * (projection pushdown); operators never see raw JSON.
 *
 * @locality: an sl_ingest is used by one thread (each lane owns one).
 * The hot path (decode/append) never allocates per event once warmed up,
 * never locks and never logs.
 */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include "batch.h"
#include "definition.h"

/* Reasons an input event is rejected (counted per reason). */
#define SL_BAD_MAP(XX)                                                                             \
    XX(MALFORMED, "malformed_json")                                                                \
    XX(MISSING_TIME, "missing_time")                                                               \
    XX(BAD_TIME, "bad_time")                                                                       \
    XX(MISSING_KEY, "missing_key")                                                                 \
    XX(MISSING_FIELD, "missing_field")                                                             \
    XX(WRONG_TYPE, "wrong_type")                                                                   \
    XX(TOO_LARGE, "too_large")                                                                     \
    XX(TOO_FAR_AHEAD, "too_far_ahead")                                                             \
    XX(EXPR_ERROR, "expr_error")

typedef enum sl_bad_reason {
#define SL__BAD_ENUM(name, str) SL_BAD_##name,
    SL_BAD_MAP(SL__BAD_ENUM)
#undef SL__BAD_ENUM
        SL_BAD_COUNT
} sl_bad_reason;

typedef struct sl_ingest sl_ingest;

typedef enum sl_ingest_mode {
    /* Raw user events: filter, map, key_by and event time as defined. */
    SL_INGEST_RAW = 0,
    /* Records of the internal repartition topic, as written by
     * sl_ingest_encode_repartition(): already filtered and mapped; event
     * time is the field "ts" in ms. */
    SL_INGEST_REPARTITIONED,
} sl_ingest_mode;

typedef enum sl_decode_result {
    SL_DECODE_OK = 0,   /* a row is ready: sl_ingest_append() it */
    SL_DECODE_FILTERED, /* dropped by a filter (not an error) */
    SL_DECODE_BAD,      /* rejected; *reason says why */
} sl_decode_result;

/* Compiles the decoder for `def` (borrowed; must outlive it). NULL with
 * errstr on failure. */
sl_ingest *sl_ingest_new(const sl_def *def, sl_ingest_mode mode, char *errstr, size_t errstr_size);
void sl_ingest_free(sl_ingest *ing);

/* Decodes one event into the ingest's current row. kafka_ts is the message
 * timestamp in ms (used when event_time.unit is "kafka"), or -1. */
sl_decode_result sl_ingest_decode(sl_ingest *ing, const char *payload, size_t len, int64_t kafka_ts,
                                  sl_bad_reason *reason);
/* Key hash of the current row (valid after SL_DECODE_OK). */
uint64_t sl_ingest_key_hash(const sl_ingest *ing);
/* Event time of the current row, ms. */
int64_t sl_ingest_ts(const sl_ingest *ing);
/* Appends the current row to `out` (count < capacity, nvals matching the
 * window's ncolumns) with input position `offset`. Returns 0 or SL_ENOMEM
 * (then `out` is unchanged). */
int sl_ingest_append(sl_ingest *ing, sl_batch *out, int64_t offset);
/* Number of numeric columns rows carry (the window's ncolumns, 0 without
 * a window). */
uint32_t sl_ingest_ncolumns(const sl_ingest *ing);

/* Encodes the current row as a compact JSON record for the internal
 * repartition topic: the key members, "ts" (ms) and the aggregate input
 * fields under their (post-map) names. Writes at most cap bytes to out;
 * returns the length, or -1 if it would not fit. The message key for the
 * repartition topic is the same key members: sl_ingest_key(). */
long sl_ingest_encode_repartition(const sl_ingest *ing, char *out, size_t cap);
/* Key bytes of the current row (the JSON members, see batch.h). */
const char *sl_ingest_key(const sl_ingest *ing, size_t *len);

/* Pipeline-mistake probes (probe.c): the projection slot of input field
 * `name`, or -1 if the decoder does not read it; and the JSON type of that
 * slot in the event decoded last (SL_T_MISSING when absent, or when the
 * event was not valid JSON). */
int sl_ingest_slot_of(const sl_ingest *ing, const char *name);
sl_type sl_ingest_slot_type(const sl_ingest *ing, int slot);
/* 1 when the last sl_ingest_decode() got past the JSON scan. */
int sl_ingest_scanned(const sl_ingest *ing);
/* Events decoded so far on which an expression divided by zero (the
 * division gave NULL and the event went on). */
uint64_t sl_ingest_div_zero(const sl_ingest *ing);

#endif
