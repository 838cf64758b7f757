/*
 * aggregate.h - the aggregate functions of windows (count, sum, min, max,
 * avg, first, last, stddev_pop, stddev_samp, var_pop, var_samp, and the
 * sketches count_distinct, approx_count_distinct, approx_percentile, median,
 * top_k), each as add / merge / result over a flat per-key state.
 *
 * A plan compiles the aggregates of a window definition into a fixed-size
 * state: one event count (shared by count, avg and the variances) followed
 * by the slots of one partial per distinct (operation, input column) pair,
 * so `sum` and `avg` over the same field share a partial, and so do the
 * four variance functions. A partial takes one sl_agg_cell (sum, min, max)
 * or several consecutive ones (first/last: value, event time, offset;
 * moments: mean, M2). A zeroed state is the empty aggregate.
 *
 *   add     folds one event's values in (sl_agg_add, inline: the hot path)
 *   merge   folds another state in (hopping slices, session merges)
 *   result  writes the aggregates as JSON members (sl_agg_format)
 *
 * Numbers: a sum/min/max stays an exact int64 while it has seen only
 * integers and becomes a double once it sees a double (min/max then compare
 * by value). An integer sum that would overflow int64 also becomes a double.
 * count is an integer; avg is a double (sum / count). first/last are the
 * value of the event with the smallest/largest (event time, offset), as read
 * (an integer stays an integer). The variances keep (n, mean, M2) with
 * Welford's update and Chan et al.'s pairwise merge; their results are
 * doubles, and the sample ones are null below two events.
 *
 * Sketches (aggregate_sketch.c) keep their state out of line: their partial
 * is one cell holding a pointer to a heap object (NULL: nothing seen yet),
 * so a state that uses one (plan->next > 0) must be released with
 * sl_agg_state_release before it is zeroed or dropped, and merge copies
 * what it takes from `src`. A missing or null input is skipped by them.
 *   count_distinct          exact set of the values' 64-bit hashes
 *   approx_count_distinct   HyperLogLog, p = 14 (16384 registers, relative
 *                           standard error 1.04 / sqrt(16384) = 0.81%);
 *                           exact while at most 768 distinct hashes
 *   approx_percentile, median  DDSketch, relative accuracy 1%, at most 2048
 *                           bins per sign (the lowest collapse beyond)
 *   top_k                   space-saving with k counters
 *
 * @locality: a plan is read-only after init and may be shared by threads
 * (its `mem` counter excepted: it belongs to the plan's one owner); states
 * belong to their task.
 */
#ifndef SL_AGGREGATE_H
#define SL_AGGREGATE_H

#include "batch.h"
#include "definition.h"
#include "snapshot.h"

#include <string.h>

/* Values are part of window snapshots (the definition fingerprint): append
 * only. */
typedef enum sl_agg_op {
    SL_AGG_OP_SUM = 0,
    SL_AGG_OP_MIN,
    SL_AGG_OP_MAX,
    SL_AGG_OP_FIRST,   /* 3 cells: value, event time (i), offset (i) */
    SL_AGG_OP_LAST,    /* 3 cells, as first */
    SL_AGG_OP_MOMENTS, /* 2 cells: mean (d), M2 (d); n is the state's n */
    /* Out of line (one cell: a pointer, see aggregate_sketch.c). */
    SL_AGG_OP_DISTINCT,  /* exact set of hashes (SL_COL_HASH column) */
    SL_AGG_OP_HLL,       /* HyperLogLog (SL_COL_HASH column) */
    SL_AGG_OP_QUANTILES, /* DDSketch (SL_COL_NUM_OPT column) */
    SL_AGG_OP_TOPK,      /* space-saving, param = k (SL_COL_TEXT column) */
} sl_agg_op;

#define SL_AGG_OP_FIRST_EXT SL_AGG_OP_DISTINCT

/* One partial value: an exact integer or a double. */
typedef struct sl_agg_cell {
    union {
        int64_t i;
        double d;
    } v;
    uint8_t is_double;
} sl_agg_cell;

/* The per-key state; `n` == 0 means empty (no event folded in yet). */
typedef struct sl_agg_state {
    int64_t n;
    sl_agg_cell cells[];
} sl_agg_state;

/* One partial: its operation, input and first cell in sl_agg_state.cells. */
typedef struct sl_agg_cellspec {
    uint8_t op;      /* sl_agg_op */
    uint32_t column; /* input column in sl_batch vals */
    uint32_t slot;   /* index of its first sl_agg_cell */
    uint32_t param;  /* top_k: k; HyperLogLog: precision; else 0 */
} sl_agg_cellspec;

typedef struct sl_agg_output {
    uint8_t fn;   /* sl_agg_fn */
    int32_t cell; /* input partial (index in plan->cells), -1 for count */
    char *prefix; /* ,"name":  (JSON-escaped name) */
    size_t prefix_len;
    double *q; /* approx_percentile / median: the quantiles (owned) */
    uint32_t nq;
    uint8_t q_list; /* print an array (else the one number) */
} sl_agg_output;

typedef struct sl_agg_plan {
    uint32_t ncells;     /* partials (entries of `cells`) */
    uint32_t nslots;     /* sl_agg_cells of a state, >= ncells */
    uint32_t state_size; /* bytes of one sl_agg_state */
    uint32_t ncolumns;   /* 1 + highest input column used, 0 if none */
    sl_agg_cellspec *cells;
    size_t noutputs;
    sl_agg_output *outputs; /* in definition order */
    size_t format_bound;    /* upper bound of sl_agg_format's output */
    uint32_t next;          /* partials with out-of-line state (sketches) */
    uint8_t has_topk;       /* output length depends on the state */
    size_t *mem;            /* NULL, or a counter of the bytes sketches hold */
} sl_agg_plan;

/* Compiles `aggs` (borrowed only during the call) into `plan`. Returns 0,
 * SL_EINVAL (an aggregate other than count without a column, or an unknown
 * function) or SL_ENOMEM; on error nothing is left allocated. */
int sl_agg_plan_init(sl_agg_plan *plan, const sl_agg_def *aggs, size_t naggs);
/* The same with the aggregates' parameters (`params`: [naggs] or NULL);
 * SL_EINVAL also for a top_k without a k in 1..SL_AGG_TOPK_MAX or an
 * approx_percentile without 1..SL_AGG_MAX_Q quantiles in [0, 1]. */
int sl_agg_plan_init_params(sl_agg_plan *plan, const sl_agg_def *aggs, const sl_agg_params *params,
                            size_t naggs);
/* Frees what init allocated. Safe on a zeroed plan. */
void sl_agg_plan_free(sl_agg_plan *plan);

/* Folds value `x` into `c` with operation `op` (sum, min or max); `empty`
 * says `c` holds nothing yet. Never fails. */
static inline void sl_agg_cell_add(uint8_t op, sl_agg_cell *c, int empty, sl_num x)
{
    if (empty) {
        c->is_double = x.is_double;
        if (x.is_double)
            c->v.d = x.v.d;
        else
            c->v.i = x.v.i;
        return;
    }
    if (SL_LIKELY(!x.is_double && !c->is_double)) {
        switch (op) {
        case SL_AGG_OP_SUM: {
            int64_t r;
            if (SL_UNLIKELY(__builtin_add_overflow(c->v.i, x.v.i, &r))) {
                c->v.d = (double)c->v.i + (double)x.v.i;
                c->is_double = 1;
            } else {
                c->v.i = r;
            }
            break;
        }
        case SL_AGG_OP_MIN:
            if (x.v.i < c->v.i)
                c->v.i = x.v.i;
            break;
        default:
            if (x.v.i > c->v.i)
                c->v.i = x.v.i;
            break;
        }
        return;
    }
    double a = c->is_double ? c->v.d : (double)c->v.i;
    double b = x.is_double ? x.v.d : (double)x.v.i;
    switch (op) {
    case SL_AGG_OP_SUM:
        a = a + b;
        break;
    case SL_AGG_OP_MIN:
        if (b < a)
            a = b;
        break;
    default:
        if (b > a)
            a = b;
        break;
    }
    c->v.d = a;
    c->is_double = 1;
}

/* Takes value `x` at (ts, off) into first/last cells `c` when `empty` or
 * when (ts, off) orders before (first) / after (last) what `c` holds. */
static inline void sl_agg_pick(uint8_t op, sl_agg_cell *c, int empty, sl_num x, int64_t ts,
                               int64_t off)
{
    int take = empty;
    if (!take) {
        if (op == SL_AGG_OP_FIRST)
            take = ts < c[1].v.i || (ts == c[1].v.i && off < c[2].v.i);
        else
            take = ts > c[1].v.i || (ts == c[1].v.i && off > c[2].v.i);
    }
    if (!take)
        return;
    c[0].is_double = x.is_double;
    if (x.is_double)
        c[0].v.d = x.v.d;
    else
        c[0].v.i = x.v.i;
    c[1].v.i = ts;
    c[2].v.i = off;
}

/* Welford's update of moments cells `c` (mean, M2) with `x`, `n` being the
 * count including x. */
static inline void sl_agg_moments_add(sl_agg_cell *c, int64_t n, sl_num x)
{
    double v = x.is_double ? x.v.d : (double)x.v.i;
    if (n == 1) {
        c[0].v.d = v;
        c[1].v.d = 0;
        return;
    }
    double delta = v - c[0].v.d;
    c[0].v.d += delta / (double)n;
    c[1].v.d += delta * (v - c[0].v.d);
}

/* Folds value `x` (row of `b`) into the sketch of partial `cs` at `c`.
 * Allocates as needed; aborts on allocation failure (as the window does). */
void sl_agg_ext_add(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *c,
                    const sl_batch *b, sl_num x);

/* Folds the event at `row` of `b` into `state`. `b` must have at least
 * plan->ncolumns value columns. Never fails; allocates only for sketches. */
static inline void sl_agg_add(const sl_agg_plan *plan, void *state, const sl_batch *b, uint32_t row)
{
    sl_agg_state *s = state;
    int empty = s->n == 0;
    s->n++;
    for (uint32_t c = 0; c < plan->ncells; c++) {
        const sl_agg_cellspec *cs = &plan->cells[c];
        sl_agg_cell *cell = &s->cells[cs->slot];
        sl_num x = b->vals[(size_t)cs->column * b->capacity + row];
        switch (cs->op) {
        case SL_AGG_OP_FIRST:
        case SL_AGG_OP_LAST:
            sl_agg_pick(cs->op, cell, empty, x, b->ts[row], b->offset[row]);
            break;
        case SL_AGG_OP_MOMENTS:
            sl_agg_moments_add(cell, s->n, x);
            break;
        case SL_AGG_OP_DISTINCT:
        case SL_AGG_OP_HLL:
        case SL_AGG_OP_QUANTILES:
        case SL_AGG_OP_TOPK:
            sl_agg_ext_add(plan, cs, cell, b, x);
            break;
        default:
            sl_agg_cell_add(cs->op, cell, empty, x);
            break;
        }
    }
}

/* Folds state `src` into state `dst` (either may be empty); `src` is left
 * as it was (sketches are copied, never shared). */
void sl_agg_merge(const sl_agg_plan *plan, void *dst, const void *src);

/* Frees the sketches of `state` (their cells become NULL); the rest of the
 * state is left as it is. A no-op for plans without sketches. */
void sl_agg_state_release(const sl_agg_plan *plan, void *state);

/* Upper bound of sl_agg_format's output for this state (plan->format_bound
 * unless the plan has a top_k, whose items' text is in the output). */
size_t sl_agg_format_bound(const sl_agg_plan *plan, const void *state);

/* Fewest bytes sl_agg_state_write writes for one state. */
size_t sl_agg_state_min_bytes(const sl_agg_plan *plan);

/* Writes the aggregates of non-empty `state` as JSON members, each with a
 * leading comma (,"orders":3,"total":12.5), at `out`, which must have room
 * for plan->format_bound bytes. Returns the end of what was written (no NUL
 * terminator). Doubles print as the shortest text that reads back as the
 * same double, always with a '.' or an exponent (3.0, 148.6, 1e+300, -0.0;
 * the layout of Python's repr), non-finite ones as null (and so does a
 * sample variance of one event). */
char *sl_agg_format(const sl_agg_plan *plan, const void *state, char *out);

/* Writes the decimal form of `v` at `out` (at most 20 bytes) and returns the
 * end. */
char *sl_agg_put_i64(char *out, int64_t v);
/* Writes `d` as results print doubles (at most 25 bytes): the shortest
 * digits that read back as `d`, always with a '.' or an exponent (3.0,
 * 1e+16), null when not finite. Returns the end. */
char *sl_agg_put_double(char *out, double d);

/* Serializes one state (endian-explicit). */
void sl_agg_state_write(const sl_agg_plan *plan, const void *state, sl_buf *out);
/* Reads a state written by sl_agg_state_write into `state` (whose previous
 * contents are overwritten, not released). Returns 0, or SL_ECORRUPT when
 * the input is short or not a valid non-empty state (then nothing stays
 * allocated and the state is zeroed). */
int sl_agg_state_read(const sl_agg_plan *plan, void *state, sl_reader *in);

/* The sketches' side (aggregate_sketch.c), per out-of-line partial `cs` at
 * cell `c` (NULL pointer: empty). */
void sl_agg_ext_merge(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *dst,
                      const sl_agg_cell *src);
void sl_agg_ext_free(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *c);
/* Writes output `o`'s value (a number, null, or a JSON array). */
char *sl_agg_ext_format(const sl_agg_output *o, const sl_agg_cellspec *cs, const sl_agg_cell *c,
                        char *out);
/* Upper bound of sl_agg_ext_format's output for output `o`. */
size_t sl_agg_ext_format_bound(const sl_agg_output *o, const sl_agg_cellspec *cs,
                               const sl_agg_cell *c);
void sl_agg_ext_write(const sl_agg_cellspec *cs, const sl_agg_cell *c, sl_buf *out);
/* Returns 0 or SL_ECORRUPT (then *c is NULL and nothing is allocated). */
int sl_agg_ext_read(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *c,
                    sl_reader *in);

#endif
