/*
 * oracle.h - the brute-force reference for windowed aggregation, shared by
 * every C test that checks window results (the window operator alone and
 * the whole engine). Written for obviousness, not speed: every (key,
 * window) -- or session -- keeps the list of its events and each result is
 * recomputed from that list.
 *
 * Semantics are those of operators/window.h, per task:
 *   - watermark starts at INT64_MIN; an event is judged against the
 *     watermark before it; after it, watermark = max(wm, ts - ooo) and every
 *     window with end <= watermark fires, in order (end, key bytes); a
 *     window is forgotten once end + lateness <= watermark.
 *   - an event for a fired window within allowed lateness emits an updated
 *     result at once; an event that lands in no window is late (dropped).
 *   - sessions: an event's session is [ts, ts + gap); sessions of a key
 *     that overlap or touch merge.
 *   - close (end of input) fires every pending window, in the same order,
 *     and sets the watermark to INT64_MAX.
 *   - sum/min/max of a column are integers while every value in the window
 *     is one, doubles otherwise (shortest round-trip text, always with a
 *     '.' or an exponent: 3.0, 148.6, 1e+300; non-finite as null); avg is
 *     always a double.
 *   - first/last: the value (as read) of the event with the smallest/largest
 *     (ts, offset); var_pop/var_samp/stddev_pop/stddev_samp: doubles from a
 *     two-pass long double computation, null for a sample one of one event
 *     (compare those with a tolerance: the engine computes them online).
 *   - count_distinct / approx_count_distinct: the exact number of distinct
 *     values (or_num.text, numbers by value) that are not absent;
 *     approx_percentile (fn "approx_percentile:0.9" or
 *     "approx_percentile:[0.5,0.99]": its "q" after a colon) / median: the
 *     exact value of rank floor(q * (n - 1)) of the present values, sorted,
 *     printed as a double (null without values), an array for a list;
 *     top_k (fn "top_k:3": k after a colon): the exact counts of the k most frequent present
 *     values, as [{"value":TEXT,"count":N},...], count descending then text
 *     bytes (the engine's space-saving is exact while a window has at most
 *     k distinct values; oracle_same_result compares the approximate ones
 *     within their bounds).
 */
#ifndef SL_TEST_ORACLE_H
#define SL_TEST_ORACLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { OR_TUMBLING, OR_HOPPING, OR_SESSION } or_window_type;

typedef struct or_config {
    or_window_type type;
    int64_t size, slide, gap, lateness, ooo;
    /* aggregates, in this output order: names[i] (as written in the JSON
     * output, i.e. already escaped) with fn[i] in
     * {"count","sum","min","max","avg","first","last","var_pop","var_samp",
     * "stddev_pop","stddev_samp","count_distinct","approx_count_distinct",
     * "approx_percentile:Q","median","top_k:K"} */
    const char *const *agg_names;
    const char *const *agg_fns;
    size_t naggs;
    /* agg_cols[i]: the column of or_event.cols aggregate i reads (ignored
     * for count). NULL: every aggregate reads the integer `amount`. */
    const int *agg_cols;
} or_config;

/* A column value: an integer, or a double when is_double. */
typedef struct or_num {
    int is_double;
    int64_t i;
    double d;
    const char *text; /* a value's canonical JSON text (strings), or NULL */
    int absent;       /* missing or null: skipped by count_distinct & co. */
} or_num;

typedef struct or_event {
    const char *key; /* JSON members, e.g. "user":"u1" ("" for no key) */
    int64_t ts;
    int64_t amount; /* integer amounts keep results exact */
    /* with or_config.agg_cols: the event's column values (copied) */
    const or_num *cols;
    int64_t offset; /* reported with a late event; breaks first/last ties */
} or_event;

typedef struct or_result {
    char *key;   /* JSON object of the key: {"user":"u1"} */
    char *value; /* the result JSON */
    int update;
    int64_t end; /* window end (the result's timestamp is end - 1) */
} or_result;

/* A dropped late event: its offset and the watermark it was judged against. */
typedef struct or_late {
    int64_t offset, wm;
} or_late;

typedef struct or_output {
    or_result *results;
    size_t n, cap;
    uint64_t late; /* late events dropped */
    /* counters as in sl_window_stats */
    uint64_t events, updates, fired;
    or_late *lates;
    size_t nlates, lates_cap;
    /* The final result of every window (or session) as it is forgotten
     * (past lateness, or at close) -- never one a merge replaced -- with
     * `key` the changelog key {<key members>,"window_start":S} (upsert
     * mode, operators/window.h); in the order they are forgotten. After
     * close this is the view a consumer of the upsert changelog must end
     * with. */
    or_result *finals;
    size_t nfinals, finals_cap;
} or_output;

/* One task, event by event. Results and late events are appended to `out`
 * (which the caller zeroes first and frees with oracle_output_free). Key
 * strings must stay valid until oracle_task_free. */
typedef struct or_task or_task;

or_task *oracle_task_new(const or_config *cfg, or_output *out);
/* Judges e against the watermark, then moves the watermark to
 * max(wm, e->ts - ooo), firing what it passes. */
void oracle_task_event(or_task *t, const or_event *e);
/* An idle advance: the watermark moves to max(wm, wm_new). */
void oracle_task_advance(or_task *t, int64_t wm_new);
/* End of input: fires every pending window; the watermark is INT64_MAX. */
void oracle_task_close(or_task *t);
int64_t oracle_task_watermark(const or_task *t);
/* The highest event time seen (INT64_MIN before any event). */
int64_t oracle_task_max_ts(const or_task *t);
void oracle_task_free(or_task *t);

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

/* Whether result JSON `got` matches the oracle's `want`: equal members,
 * except members named in `approx` (NULL-terminated): numbers (or arrays
 * of numbers) within relative `rel` of the oracle's (plus 1e-9 relative
 * slack for rounding), null where the oracle has null. Returns 1 or 0. */
int oracle_same_result(const char *got, const char *want, const char *const *approx, double rel);

#endif
