/*
 * aggregate_sketch.h - the sketches' structures, shared by
 * aggregate_sketch.c (add, merge, results) and aggregate_sketch_snapshot.c
 * (their snapshot encoding). Not a public header: see aggregate.h.
 */
#ifndef SL_AGGREGATE_SKETCH_H
#define SL_AGGREGATE_SKETCH_H

#include "aggregate.h"

#define SL__HLL_SPARSE_MAX 768 /* exact below this many distinct hashes */
#define SL__DDS_ALPHA      0.01
#define SL__DDS_MAX_BINS   2048
#define SL__DDS_MIN_ABS    1e-300 /* smaller magnitudes count as zero */
#define SL__DDS_IDX_MAX    40000  /* |index| of any double magnitude is below */
#define SL__DDS_GAMMA      (101.0 / 99.0)
#define SL__DDS_LN_GAM     0.020000666706669435
/* (SL__DDS_GAMMA = (1 + alpha) / (1 - alpha) = 101 / 99, SL__DDS_LN_GAM its
 * logarithm) */

static inline void *sl__ptr(const sl_agg_cell *c)
{
    return (void *)(intptr_t)c->v.i;
}

static inline void sl__set_ptr(sl_agg_cell *c, void *p)
{
    c->v.i = (int64_t)(intptr_t)p;
    c->is_double = 0;
}

static inline void sl__mem(const sl_agg_plan *plan, int64_t delta)
{
    if (plan->mem)
        *plan->mem = (size_t)((int64_t)*plan->mem + delta);
}

typedef struct sl__hset {
    uint64_t n;       /* distinct hashes, zero included */
    uint64_t cap;     /* slots, a power of two (0: none yet) */
    uint8_t has_zero; /* hash 0 is held apart (0 marks an empty slot) */
    uint64_t *slots;
} sl__hset;

typedef struct sl__hll {
    uint32_t p;
    sl__hset sparse; /* while regs == NULL */
    uint8_t *regs;   /* 2^p registers, each 0..64-p+1 */
} sl__hll;

typedef struct sl__dstore {
    int32_t off; /* index of bins[0] */
    uint32_t n;  /* bins in use (0: empty) */
    uint64_t *bins;
} sl__dstore;

typedef struct sl__dds {
    uint64_t count, zero;
    sl__dstore pos, neg; /* neg holds |x| of negative values */
} sl__dds;

typedef struct sl__titem {
    uint64_t count; /* never below the item's true count */
    uint64_t hash;
    uint32_t len;
    char *text; /* canonical JSON text of the value (owned) */
} sl__titem;

typedef struct sl__topk {
    uint32_t n, k;
    uint8_t spilled; /* an item was evicted: an untracked one may have up to min */
    size_t text_bytes;
    sl__titem *items; /* [k] */
} sl__topk;

/* Shared by the two files (see aggregate_sketch.c). */
int sl__hset_add(sl__hset *s, uint64_t h);
sl__topk *sl__topk_new(uint32_t k);
sl__titem *sl__topk_find(const sl__topk *t, uint64_t h, const char *text, uint32_t len);
void sl__titem_set_text(sl__topk *t, sl__titem *it, uint64_t h, const char *text, uint32_t len);
sl__titem *sl__topk_sorted(const sl__topk *t);
size_t sl__ext_bytes(uint8_t op, const void *p);
void sl__ext_destroy(uint8_t op, void *p);

#endif
