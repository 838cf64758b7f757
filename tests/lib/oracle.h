/*
 * oracle.h - a brute-force reference for windowed aggregation, written for
 * obviousness, not speed: every (key, window) keeps the list of its events
 * and results are recomputed from that list. Tests compare the engine's
 * output with it.
 *
 * Semantics are those of operators/window.h, per task:
 *   - watermark starts at INT64_MIN; an event is judged against the
 *     watermark before it; after it, watermark = max(wm, ts - ooo) and every
 *     window with end <= watermark fires, in order (end, key bytes).
 *   - an event for a fired window within allowed lateness emits an updated
 *     result at once; an event that lands in no window is late (dropped).
 */
#ifndef SL_TEST_ORACLE_H
#define SL_TEST_ORACLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { OR_TUMBLING, OR_HOPPING, OR_SESSION } or_window_type;

typedef struct or_config {
    or_window_type type;
    int64_t size, slide, gap, lateness, ooo;
    /* aggregates over "amount", in this output order: names[i] with fn[i]
     * in {"count","sum","min","max","avg"} */
    const char *const *agg_names;
    const char *const *agg_fns;
    size_t naggs;
} or_config;

typedef struct or_event {
    const char *key; /* JSON members, e.g. "user":"u1" */
    int64_t ts;
    int64_t amount; /* integer amounts keep results exact */
} or_event;

typedef struct or_result {
    char *key;   /* JSON object of the key: {"user":"u1"} */
    char *value; /* the result JSON */
    int update;
} or_result;

typedef struct or_output {
    or_result *results;
    size_t n, cap;
    uint64_t late;
} or_output;

/* Runs one task's events in order, then closes (end of input). */
void oracle_run(const or_config *cfg, const or_event *events, size_t n, or_output *out);
/* A task merging several inputs (the repartition stage): items in arrival
 * order, each an event or a watermark record of input `input`. Events do
 * not move the watermark; a record raises its input's watermark (never
 * lowers it) and sets whether the input is idle; after each record the
 * task's watermark = max(itself, min over the inputs not idle) (unchanged
 * while every input is idle or one has published nothing). Events are
 * judged as in oracle_run. Closes at the end. */
typedef struct or_item {
    int is_wm; /* 0: `ev`; 1: watermark record */
    or_event ev;
    int input;
    int64_t wm;
    int idle;
} or_item;

void oracle_run_merged(const or_config *cfg, const or_item *items, size_t n, size_t ninputs,
                       or_output *out);
void oracle_output_free(or_output *out);

#endif
