/*
 * window_stream.h - shared by test_window_oracle.c and test_window_snapshot.c:
 * seeded random event streams for one window task (bounded disorder, late
 * events, idle advances), window definitions built in C, and a driver that
 * feeds a stream to an sl_window_task in batches of a given size and
 * captures everything it emits.
 *
 * Header-only (static functions) so each test stays one executable.
 */
#ifndef SL_TEST_WINDOW_STREAM_H
#define SL_TEST_WINDOW_STREAM_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

/* ---- random numbers ----------------------------------------------------- */

typedef struct ws_rng {
    uint64_t s;
} ws_rng;

static inline uint64_t ws_next(ws_rng *r)
{
    /* splitmix64: every seed gives a good stream */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0). */
static inline int64_t ws_below(ws_rng *r, int64_t n)
{
    return (int64_t)(ws_next(r) % (uint64_t)n);
}

/* Uniform in [lo, hi]. */
static inline int64_t ws_range(ws_rng *r, int64_t lo, int64_t hi)
{
    return lo + ws_below(r, hi - lo + 1);
}

static inline int ws_chance(ws_rng *r, int percent)
{
    return ws_below(r, 100) < percent;
}

/* ---- window definitions ------------------------------------------------- */

/* Input columns of every test stream. */
#define WS_COL_AMOUNT 0 /* ints and doubles (multiples of 0.25) */
#define WS_COL_QTY    1 /* ints only */
#define WS_NCOLUMNS   2

typedef struct ws_agg {
    const char *name;    /* as given in the definition */
    const char *escaped; /* as it appears in JSON output */
    sl_agg_fn fn;
    int column;
} ws_agg;

static const ws_agg ws_aggs_full[] = {
    {"orders", "orders", SL_AGG_COUNT, -1},
    {"total", "total", SL_AGG_SUM, WS_COL_AMOUNT},
    {"biggest", "biggest", SL_AGG_MAX, WS_COL_AMOUNT},
    {"smallest", "smallest", SL_AGG_MIN, WS_COL_AMOUNT},
    {"mean", "mean", SL_AGG_AVG, WS_COL_AMOUNT},
    {"units", "units", SL_AGG_SUM, WS_COL_QTY},
    {"most", "most", SL_AGG_MAX, WS_COL_QTY},
    {"fewest", "fewest", SL_AGG_MIN, WS_COL_QTY},
};
static const ws_agg ws_aggs_count[] = {
    {"n", "n", SL_AGG_COUNT, -1},
};
static const ws_agg ws_aggs_odd[] = {
    {"avg", "avg", SL_AGG_AVG, WS_COL_QTY},
    {"q\"uote\\d", "q\\\"uote\\\\d", SL_AGG_SUM, WS_COL_AMOUNT},
    {"c", "c", SL_AGG_COUNT, -1},
    {"sum_q", "sum_q", SL_AGG_SUM, WS_COL_QTY},
    {"max_a", "max_a", SL_AGG_MAX, WS_COL_AMOUNT},
};

typedef struct ws_config {
    sl_window_type type;
    int64_t size, slide, gap, lateness, ooo;
    const ws_agg *aggs;
    size_t naggs;
    /* stream shape */
    int key_style; /* 0 strings, 1 ints, 2 two fields, 3 no key */
    int nkeys;
    int collide; /* key hashes collide on purpose */
    int pct_double, pct_late, pct_advance;
    int64_t disorder, max_step, base;
    size_t nevents;
    int close; /* call sl_window_task_close at the end */
} ws_config;

/* Fills def (and its aggs array, which must hold cfg->naggs) from cfg. */
static inline void ws_make_def(const ws_config *cfg, sl_window_def *def, sl_agg_def *aggs,
                               sl_watermark_def *wm)
{
    memset(def, 0, sizeof(*def));
    memset(wm, 0, sizeof(*wm));
    def->type = cfg->type;
    def->size_ms = cfg->size;
    def->slide_ms = cfg->slide;
    def->gap_ms = cfg->gap;
    def->allowed_lateness_ms = cfg->lateness;
    for (size_t a = 0; a < cfg->naggs; a++) {
        aggs[a].name = (char *)cfg->aggs[a].name;
        aggs[a].fn = cfg->aggs[a].fn;
        aggs[a].field = NULL;
        aggs[a].column = cfg->aggs[a].column;
    }
    def->aggs = aggs;
    def->naggs = cfg->naggs;
    def->ncolumns = WS_NCOLUMNS;
    wm->max_out_of_orderness_ms = cfg->ooo;
}

static inline void ws_describe(const ws_config *c, char *buf, size_t n)
{
    snprintf(buf, n,
             "type=%d size=%" PRId64 " slide=%" PRId64 " gap=%" PRId64 " lateness=%" PRId64
             " ooo=%" PRId64 " naggs=%zu keys=%d/%d collide=%d dbl=%d%% late=%d%% adv=%d%% "
             "disorder=%" PRId64 " step=%" PRId64 " base=%" PRId64 " n=%zu close=%d",
             (int)c->type, c->size, c->slide, c->gap, c->lateness, c->ooo, c->naggs, c->key_style,
             c->nkeys, c->collide, c->pct_double, c->pct_late, c->pct_advance, c->disorder,
             c->max_step, c->base, c->nevents, c->close);
}

/* A random configuration of window type `type` (-1: any). */
static inline void ws_random_config(ws_rng *r, int type, ws_config *c)
{
    memset(c, 0, sizeof(*c));
    c->type = type >= 0 ? (sl_window_type)type : (sl_window_type)ws_below(r, 3);
    static const int64_t sizes[] = {10, 40, 100, 1000};
    c->size = sizes[ws_below(r, 4)];
    int64_t unit = c->size;
    if (c->type == SL_WIN_HOPPING) {
        switch (ws_below(r, 7)) {
        case 0:
            c->slide = c->size / 2;
            break;
        case 1:
            c->slide = c->size / 5;
            break;
        case 2:
            c->slide = c->size * 2 / 5 + 1;
            break; /* gcd 1 often */
        case 3:
            c->slide = c->size * 3 / 4;
            break;
        case 4:
            c->slide = c->size;
            break;
        case 5:
            c->slide = c->size + c->size / 2;
            break; /* gaps between windows */
        default:
            c->slide = ws_range(r, 1, c->size);
            break;
        }
        if (c->slide < 1)
            c->slide = 1;
    } else if (c->type == SL_WIN_SESSION) {
        static const int64_t gaps[] = {3, 25, 100, 700};
        c->gap = gaps[ws_below(r, 4)];
        c->size = 0;
        unit = c->gap;
    }
    switch (ws_below(r, 4)) {
    case 0:
    case 1:
        c->lateness = 0;
        break;
    case 2:
        c->lateness = unit / 2 + 1;
        break;
    default:
        c->lateness = unit * 3;
        break;
    }
    switch (ws_below(r, 3)) {
    case 0:
        c->disorder = 0;
        break;
    case 1:
        c->disorder = unit / 2;
        break;
    default:
        c->disorder = unit * 2;
        break;
    }
    switch (ws_below(r, 3)) {
    case 0:
        c->ooo = 0;
        break;
    case 1:
        c->ooo = c->disorder / 3;
        break;
    default:
        c->ooo = c->disorder;
        break;
    }
    switch (ws_below(r, 3)) {
    case 0:
        c->max_step = 1;
        break;
    case 1:
        c->max_step = unit / 10 + 1;
        break;
    default:
        c->max_step = unit;
        break;
    }
    switch (ws_below(r, 3)) {
    case 0:
        c->aggs = ws_aggs_full;
        c->naggs = sizeof(ws_aggs_full) / sizeof(ws_aggs_full[0]);
        break;
    case 1:
        c->aggs = ws_aggs_count;
        c->naggs = 1;
        break;
    default:
        c->aggs = ws_aggs_odd;
        c->naggs = sizeof(ws_aggs_odd) / sizeof(ws_aggs_odd[0]);
        break;
    }
    c->key_style = (int)ws_below(r, 4);
    static const int nkeys[] = {1, 3, 17, 150};
    c->nkeys = c->key_style == 3 ? 1 : nkeys[ws_below(r, 4)];
    c->collide = ws_chance(r, 25);
    static const int dbl[] = {0, 30, 100};
    c->pct_double = dbl[ws_below(r, 3)];
    c->pct_late = (int)ws_below(r, 8);
    c->pct_advance = ws_chance(r, 30) ? 1 : 0;
    c->base = ws_chance(r, 20) ? -ws_range(r, 0, 100000) : 1700000000000 + ws_below(r, 100000);
    c->nevents = (size_t)ws_range(r, 50, 900);
    c->close = !ws_chance(r, 25);
}

/* ---- streams ------------------------------------------------------------ */

typedef struct ws_op {
    int advance;    /* 0: an event; 1: sl_window_task_advance(wm) */
    int64_t ts;     /* event time, or the advance watermark */
    int64_t offset; /* input position */
    int key;        /* key number */
    sl_num amount, qty;
} ws_op;

typedef struct ws_stream {
    ws_op *ops;
    size_t n;
    char (*keys)[48]; /* key bytes per key number */
    uint32_t *key_len;
    uint64_t *key_hash;
    int nkeys;
} ws_stream;

static inline void ws_stream_free(ws_stream *s)
{
    free(s->ops);
    free(s->keys);
    free(s->key_len);
    free(s->key_hash);
    memset(s, 0, sizeof(*s));
}

static inline void ws_make_stream(ws_rng *r, const ws_config *c, ws_stream *s)
{
    memset(s, 0, sizeof(*s));
    s->nkeys = c->nkeys;
    s->keys = calloc((size_t)c->nkeys, sizeof(*s->keys));
    s->key_len = calloc((size_t)c->nkeys, sizeof(*s->key_len));
    s->key_hash = calloc((size_t)c->nkeys, sizeof(*s->key_hash));
    static const char *const regions[] = {"eu", "us", "ap"};
    for (int k = 0; k < c->nkeys; k++) {
        int len = 0;
        switch (c->key_style) {
        case 0: /* u1, u10, u100 share prefixes: shorter sorts first */
            len = snprintf(s->keys[k], sizeof(s->keys[k]), "\"user\":\"u%d\"", k);
            break;
        case 1:
            len = snprintf(s->keys[k], sizeof(s->keys[k]), "\"account\":%d", (k % 2 ? -k : k) * 7);
            break;
        case 2:
            len = snprintf(s->keys[k], sizeof(s->keys[k]), "\"user\":\"u%d\",\"region\":\"%s\"",
                           k / 3, regions[k % 3]);
            break;
        default:
            len = 0;
            break;
        }
        s->key_len[k] = (uint32_t)len;
        uint64_t h = sl_hash64(s->keys[k], (size_t)len);
        s->key_hash[k] = c->collide ? (h & 1) * 0x100000001ull : h;
    }
    size_t cap = c->nevents * 2 + 8;
    s->ops = calloc(cap, sizeof(*s->ops));
    int64_t base = c->base, unit = c->type == SL_WIN_SESSION ? c->gap : c->size;
    for (size_t i = 0; i < c->nevents; i++) {
        if (c->pct_advance && ws_chance(r, c->pct_advance)) {
            ws_op *o = &s->ops[s->n++];
            o->advance = 1;
            o->ts = base - c->ooo + ws_range(r, -unit, 3 * unit);
        }
        base += ws_range(r, 0, c->max_step);
        ws_op *o = &s->ops[s->n++];
        o->offset = (int64_t)i;
        o->ts = base - (c->disorder ? ws_range(r, 0, c->disorder) : 0);
        if (ws_chance(r, c->pct_late))
            o->ts = base - c->disorder - ws_range(r, 1, 3 * unit + c->lateness);
        /* skewed keys: half the events on the first few */
        o->key = ws_chance(r, 50) ? (int)ws_below(r, c->nkeys < 3 ? c->nkeys : 3)
                                  : (int)ws_below(r, c->nkeys);
        if (ws_chance(r, c->pct_double)) {
            o->amount.is_double = 1;
            o->amount.v.d = (double)ws_range(r, -400, 4000) * 0.25; /* sums stay exact */
        } else {
            o->amount.is_double = 0;
            o->amount.v.i = ws_range(r, -100, 1000);
        }
        o->qty.is_double = 0;
        o->qty.v.i = ws_range(r, 0, 12);
    }
}

/* ---- driving a task ----------------------------------------------------- */

typedef struct ws_result {
    char *key, *value;
    int64_t ts;
    int update;
} ws_result;

typedef struct ws_capture {
    ws_result *res;
    size_t n, cap;
    int64_t *late_offsets;
    int64_t *late_wm;
    size_t nlate, late_cap;
} ws_capture;

static inline char *ws_strndup(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static inline void ws_capture_result(ws_capture *c, const char *key, size_t klen, const char *v,
                                     size_t vlen, int64_t ts, int update)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->res = realloc(c->res, c->cap * sizeof(*c->res));
    }
    ws_result *r = &c->res[c->n++];
    r->key = ws_strndup(key, klen);
    r->value = ws_strndup(v, vlen);
    r->ts = ts;
    r->update = update;
}

static inline void ws_capture_late(ws_capture *c, int64_t offset, int64_t wm)
{
    if (c->nlate == c->late_cap) {
        c->late_cap = c->late_cap ? c->late_cap * 2 : 64;
        c->late_offsets = realloc(c->late_offsets, c->late_cap * sizeof(int64_t));
        c->late_wm = realloc(c->late_wm, c->late_cap * sizeof(int64_t));
    }
    c->late_offsets[c->nlate] = offset;
    c->late_wm[c->nlate++] = wm;
}

static inline void ws_capture_free(ws_capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->res[i].key);
        free(c->res[i].value);
    }
    free(c->res);
    free(c->late_offsets);
    free(c->late_wm);
    memset(c, 0, sizeof(*c));
}

static void ws_on_result(void *ctx, const char *key, size_t klen, const char *v, size_t vlen,
                         int64_t ts, int update)
{
    ws_capture_result(ctx, key, klen, v, vlen, ts, update);
}

static void ws_on_late(void *ctx, const sl_batch *in, uint32_t row, int64_t wm)
{
    ws_capture_late(ctx, in->offset[row], wm);
}

/* A batch of up to `cap` rows holding ops[from, to) (events only). */
static inline sl_batch *ws_fill_batch(sl_batch *b, const ws_stream *s, size_t from, size_t to)
{
    sl_batch_reset(b);
    for (size_t i = from; i < to; i++) {
        const ws_op *o = &s->ops[i];
        uint32_t r = b->count++;
        b->ts[r] = o->ts;
        b->offset[r] = o->offset;
        b->key_hash[r] = s->key_hash[o->key];
        b->key_off[r] = sl_batch_put_bytes(b, s->keys[o->key], s->key_len[o->key]);
        b->key_len[r] = s->key_len[o->key];
        *sl_batch_val(b, WS_COL_AMOUNT, r) = o->amount;
        *sl_batch_val(b, WS_COL_QTY, r) = o->qty;
    }
    return b;
}

/* Feeds ops[from, to) to t in batches of at most batch_size events (an
 * advance op ends the current batch). */
static inline void ws_feed(sl_window_task *t, const ws_stream *s, size_t from, size_t to,
                           uint32_t batch_size, ws_capture *cap)
{
    sl_emitter em = {.result = ws_on_result, .late = ws_on_late, .ctx = cap};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, batch_size, WS_NCOLUMNS);
    size_t i = from;
    while (i < to) {
        if (s->ops[i].advance) {
            sl_window_task_advance(t, s->ops[i].ts, &em);
            i++;
            continue;
        }
        size_t j = i;
        while (j < to && !s->ops[j].advance && j - i < batch_size)
            j++;
        sl_window_task_process(t, ws_fill_batch(b, s, i, j), &em);
        i = j;
    }
    sl_batch_free(b);
}

static inline void ws_close(sl_window_task *t, ws_capture *cap)
{
    sl_emitter em = {.result = ws_on_result, .late = ws_on_late, .ctx = cap};
    sl_window_task_close(t, &em);
}

/* 0 when equal; otherwise prints the first difference (with `what`) and
 * returns 1. */
static inline int ws_compare(const ws_capture *want, const ws_capture *got, const char *what)
{
    size_t n = want->n < got->n ? want->n : got->n;
    for (size_t i = 0; i < n; i++) {
        const ws_result *a = &want->res[i], *b = &got->res[i];
        if (strcmp(a->key, b->key) || strcmp(a->value, b->value) || a->ts != b->ts ||
            a->update != b->update) {
            fprintf(stderr,
                    "%s: result %zu differs\n  want %s %s ts=%" PRId64 " update=%d\n"
                    "  got  %s %s ts=%" PRId64 " update=%d\n",
                    what, i, a->key, a->value, a->ts, a->update, b->key, b->value, b->ts,
                    b->update);
            return 1;
        }
    }
    if (want->n != got->n) {
        fprintf(stderr, "%s: %zu results wanted, %zu emitted; first extra: %s\n", what, want->n,
                got->n, want->n > got->n ? want->res[n].value : got->res[n].value);
        return 1;
    }
    if (want->nlate != got->nlate) {
        fprintf(stderr, "%s: %zu late events wanted, %zu reported\n", what, want->nlate,
                got->nlate);
        return 1;
    }
    for (size_t i = 0; i < want->nlate; i++)
        if (want->late_offsets[i] != got->late_offsets[i] || want->late_wm[i] != got->late_wm[i]) {
            fprintf(stderr,
                    "%s: late event %zu: want offset %" PRId64 " wm %" PRId64
                    ", got offset %" PRId64 " wm %" PRId64 "\n",
                    what, i, want->late_offsets[i], want->late_wm[i], got->late_offsets[i],
                    got->late_wm[i]);
            return 1;
        }
    return 0;
}

#endif
