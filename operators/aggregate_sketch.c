/*
 * aggregate_sketch.c - the aggregates whose state is kept out of line (see
 * aggregate.h): count_distinct (an exact set of 64-bit value hashes),
 * approx_count_distinct (HyperLogLog), approx_percentile and median
 * (DDSketch), top_k (space-saving). Each partial is one sl_agg_cell whose
 * v.i holds a pointer to its sketch (0: nothing seen yet).
 *
 * Every decision depends only on the contents of the sketches, never on
 * their memory layout or the order of hash-table slots, so results and
 * snapshot bytes are a function of the events (and, for top_k, of their
 * order and of how slices and sessions were merged, which are themselves
 * deterministic).
 *
 * Snapshot encoding per partial (after the state's i64 count):
 *   count_distinct        u64 n, n x u64 hash (ascending)
 *   approx_count_distinct u8 0 (empty) | 1, u32 n, n x u64 hash (ascending)
 *                         | 2, 2^p x u8 register
 *   quantiles             u8 0 (empty) | 1, u64 zeros, then the positive and
 *                         the negative store: i32 lowest index, u32 bins,
 *                         bins x u64 count
 *   top_k                 u8 0 (empty) | 1 | 3 (bit 1: counters were
 *                         evicted), u32 n <= k, n x (u64 count, blob text)
 *                         in output order
 * Restore checks every count against the bytes left before allocating, and
 * the values (ascending distinct hashes, registers, bin ranges and totals,
 * item text is one minified JSON value, no duplicate items).
 */
#include "aggregate_sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Exact set of 64-bit hashes (count_distinct, and HyperLogLog's sparse form) */
/* ------------------------------------------------------------------------ */

static size_t sl__hset_bytes(const sl__hset *s)
{
    return sizeof(*s) + (size_t)s->cap * 8;
}

static void sl__hset_put(uint64_t *slots, uint64_t cap, uint64_t h)
{
    uint64_t mask = cap - 1, j = h & mask;
    while (slots[j])
        j = (j + 1) & mask;
    slots[j] = h;
}

/* Inserts h; returns 1 if it was new. */
int sl__hset_add(sl__hset *s, uint64_t h)
{
    if (h == 0) {
        if (s->has_zero)
            return 0;
        s->has_zero = 1;
        s->n++;
        return 1;
    }
    if ((s->n + 1) * 4 > s->cap * 3) {
        uint64_t cap = s->cap ? s->cap * 2 : 16;
        uint64_t *ns = sl_xcalloc((size_t)cap, 8);
        for (uint64_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                sl__hset_put(ns, cap, s->slots[i]);
        free(s->slots);
        s->slots = ns;
        s->cap = cap;
    }
    uint64_t mask = s->cap - 1, j = h & mask;
    while (s->slots[j]) {
        if (s->slots[j] == h)
            return 0;
        j = (j + 1) & mask;
    }
    s->slots[j] = h;
    s->n++;
    return 1;
}

static void sl__hset_each_add(const sl__hset *src, sl__hset *dst)
{
    if (src->has_zero)
        sl__hset_add(dst, 0);
    for (uint64_t i = 0; i < src->cap; i++)
        if (src->slots[i])
            sl__hset_add(dst, src->slots[i]);
}

/* ------------------------------------------------------------------------ */
/* HyperLogLog                                                               */
/* ------------------------------------------------------------------------ */

static size_t sl__hll_bytes(const sl__hll *h)
{
    return h->regs ? sizeof(*h) + ((size_t)1 << h->p) : sizeof(*h) + (size_t)h->sparse.cap * 8;
}

static inline void sl__hll_reg(uint8_t *regs, uint32_t p, uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> (64 - p));
    uint64_t w = h << p;
    uint8_t rho = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)(64 - p + 1);
    if (rho > regs[idx])
        regs[idx] = rho;
}

static void sl__hll_densify(sl__hll *h)
{
    h->regs = sl_xcalloc((size_t)1 << h->p, 1);
    if (h->sparse.has_zero)
        sl__hll_reg(h->regs, h->p, 0);
    for (uint64_t i = 0; i < h->sparse.cap; i++)
        if (h->sparse.slots[i])
            sl__hll_reg(h->regs, h->p, h->sparse.slots[i]);
    free(h->sparse.slots);
    memset(&h->sparse, 0, sizeof(h->sparse));
}

static void sl__hll_add(sl__hll *h, uint64_t x)
{
    if (h->regs) {
        sl__hll_reg(h->regs, h->p, x);
        return;
    }
    sl__hset_add(&h->sparse, x);
    if (h->sparse.n > SL__HLL_SPARSE_MAX)
        sl__hll_densify(h);
}

/* sigma(x) = x + sum_k x^(2^k) 2^(k-1) and tau(x) of Ertl's improved raw
 * estimator ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017), which needs no bias tables over the whole range. */
static double sl__hll_sigma(double x)
{
    if (x == 1)
        return INFINITY;
    double y = 1, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

static double sl__hll_tau(double x)
{
    if (x == 0 || x == 1)
        return 0;
    double y = 1, z = 1 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1 - x) * (1 - x) * y;
    } while (z != prev);
    return z / 3;
}

static int64_t sl__hll_estimate(const sl__hll *h)
{
    if (!h->regs)
        return (int64_t)h->sparse.n;
    uint32_t q = 64 - h->p, m = 1u << h->p;
    uint32_t c[66] = {0};
    for (uint32_t i = 0; i < m; i++)
        c[h->regs[i]]++;
    double z = (double)m * sl__hll_tau(1 - (double)c[q + 1] / m);
    for (uint32_t k = q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += (double)m * sl__hll_sigma((double)c[0] / m);
    double e = (double)m * (double)m / (2 * log(2)) / z;
    return (int64_t)llround(e);
}

/* ------------------------------------------------------------------------ */
/* DDSketch: relative accuracy 1%                                            */
/* ------------------------------------------------------------------------ */

static size_t sl__dds_bytes(const sl__dds *d)
{
    return sizeof(*d) + ((size_t)d->pos.n + d->neg.n) * 8;
}

/* The bin of magnitude a >= SL__DDS_MIN_ABS: (gamma^(i-1), gamma^i]. */
static int32_t sl__dds_index(double a)
{
    return (int32_t)ceil(log(a) / SL__DDS_LN_GAM);
}

/* Makes the store cover [lo, hi] (at most SL__DDS_MAX_BINS bins: lower
 * indices fold into the lowest bin) and returns the lowest index kept. */
static int32_t sl__dstore_cover(sl__dstore *s, int32_t lo, int32_t hi)
{
    if (s->n) {
        int32_t shi = s->off + (int32_t)s->n - 1;
        if (s->off < lo)
            lo = s->off;
        if (shi > hi)
            hi = shi;
    }
    if ((int64_t)hi - lo + 1 > SL__DDS_MAX_BINS)
        lo = hi - SL__DDS_MAX_BINS + 1;
    if (s->n && lo == s->off && hi == s->off + (int32_t)s->n - 1)
        return lo;
    uint32_t n = (uint32_t)(hi - lo + 1);
    uint64_t *b = sl_xcalloc(n, 8);
    for (uint32_t i = 0; i < s->n; i++) {
        int32_t j = s->off + (int32_t)i;
        b[(j < lo ? lo : j) - lo] += s->bins[i];
    }
    free(s->bins);
    s->bins = b;
    s->off = lo;
    s->n = n;
    return lo;
}

static void sl__dstore_add(sl__dstore *s, int32_t idx, uint64_t cnt)
{
    if (!s->n || idx < s->off || idx >= s->off + (int32_t)s->n)
        sl__dstore_cover(s, idx, idx);
    if (idx < s->off)
        idx = s->off;
    s->bins[idx - s->off] += cnt;
}

static void sl__dstore_merge(sl__dstore *d, const sl__dstore *s)
{
    if (!s->n)
        return;
    int32_t lo = sl__dstore_cover(d, s->off, s->off + (int32_t)s->n - 1);
    for (uint32_t i = 0; i < s->n; i++) {
        int32_t j = s->off + (int32_t)i;
        d->bins[(j < lo ? lo : j) - lo] += s->bins[i];
    }
}

static void sl__dds_add(sl__dds *d, double x)
{
    d->count++;
    double a = fabs(x);
    if (!(a >= SL__DDS_MIN_ABS)) {
        d->zero++;
        return;
    }
    sl__dstore_add(x > 0 ? &d->pos : &d->neg, sl__dds_index(a), 1);
}

/* The value of bin i: within the relative accuracy of every value in it. */
static double sl__dds_value(int32_t i)
{
    return 2 * exp((double)i * SL__DDS_LN_GAM) / (SL__DDS_GAMMA + 1);
}

/* Quantile q of a non-empty sketch: the bin of the value of rank
 * floor(q * (count - 1)) (0-based) in ascending order. */
static double sl__dds_quantile(const sl__dds *d, double q)
{
    double rank = floor(q * (double)(d->count - 1));
    uint64_t seen = 0;
    for (uint32_t i = d->neg.n; i-- > 0;) {
        seen += d->neg.bins[i];
        if ((double)seen > rank)
            return -sl__dds_value(d->neg.off + (int32_t)i);
    }
    seen += d->zero;
    if ((double)seen > rank)
        return 0.0;
    for (uint32_t i = 0; i < d->pos.n; i++) {
        seen += d->pos.bins[i];
        if ((double)seen > rank)
            return sl__dds_value(d->pos.off + (int32_t)i);
    }
    return d->pos.n ? sl__dds_value(d->pos.off + (int32_t)d->pos.n - 1) : 0.0;
}

/* ------------------------------------------------------------------------ */
/* top_k: space-saving                                                       */
/* ------------------------------------------------------------------------ */

static size_t sl__topk_bytes(const sl__topk *t)
{
    return sizeof(*t) + (size_t)t->k * sizeof(sl__titem) + t->text_bytes;
}

/* Text order: bytes, shorter first. */
static int sl__text_cmp(const char *a, uint32_t la, const char *b, uint32_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c)
        return c;
    return (la > lb) - (la < lb);
}

/* Output order: count descending, then text. */
static int sl__titem_cmp(const void *x, const void *y)
{
    const sl__titem *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return sl__text_cmp(a->text, a->len, b->text, b->len);
}

sl__titem *sl__topk_find(const sl__topk *t, uint64_t h, const char *text, uint32_t len)
{
    for (uint32_t i = 0; i < t->n; i++) {
        sl__titem *it = &t->items[i];
        if (it->hash == h && it->len == len && memcmp(it->text, text, len) == 0)
            return it;
    }
    return NULL;
}

/* The item an eviction replaces: the smallest count, of those the last in
 * output order. */
static sl__titem *sl__topk_min(const sl__topk *t)
{
    sl__titem *m = &t->items[0];
    for (uint32_t i = 1; i < t->n; i++)
        if (sl__titem_cmp(&t->items[i], m) > 0)
            m = &t->items[i];
    return m;
}

void sl__titem_set_text(sl__topk *t, sl__titem *it, uint64_t h, const char *text, uint32_t len)
{
    t->text_bytes -= it->text ? it->len : 0;
    free(it->text);
    it->text = sl_xmalloc(len ? len : 1);
    memcpy(it->text, text, len);
    it->len = len;
    it->hash = h;
    t->text_bytes += len;
}

/* Counts `cnt` more of the item (space-saving's update when cnt == 1). */
static void sl__topk_add(sl__topk *t, const char *text, uint32_t len, uint64_t cnt)
{
    uint64_t h = sl_hash64(text, len);
    sl__titem *it = sl__topk_find(t, h, text, len);
    if (it) {
        it->count += cnt;
        return;
    }
    if (t->n < t->k) {
        it = &t->items[t->n++];
        memset(it, 0, sizeof(*it));
        sl__titem_set_text(t, it, h, text, len);
        it->count = cnt;
        return;
    }
    it = sl__topk_min(t);
    sl__titem_set_text(t, it, h, text, len);
    it->count += cnt;
    t->spilled = 1;
}

sl__topk *sl__topk_new(uint32_t k)
{
    sl__topk *t = sl_xcalloc(1, sizeof(*t));
    t->k = k;
    t->items = sl_xcalloc(k, sizeof(*t->items));
    return t;
}

static void sl__topk_free(sl__topk *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->items[i].text);
    free(t->items);
    free(t);
}

/* The items in output order (a shallow copy, to free). */
sl__titem *sl__topk_sorted(const sl__topk *t)
{
    sl__titem *v = sl_xmalloc((size_t)(t->n ? t->n : 1) * sizeof(*v));
    memcpy(v, t->items, (size_t)t->n * sizeof(*v));
    qsort(v, t->n, sizeof(*v), sl__titem_cmp);
    return v;
}

static uint64_t sl__topk_floor(const sl__topk *t)
{
    return t->spilled ? sl__topk_min(t)->count : 0;
}

/* Folds s into d (the mergeable space-saving summary): an item's count is
 * its sum over both, plus the other side's floor where it is untracked
 * (an untracked item may have had up to that many); the k largest stay. */
static void sl__topk_merge(sl__topk *d, const sl__topk *s)
{
    uint64_t fd = sl__topk_floor(d), fs = sl__topk_floor(s);
    uint32_t n = d->n;
    sl__titem *all = sl_xmalloc(((size_t)d->n + s->n) * sizeof(*all));
    for (uint32_t i = 0; i < d->n; i++) {
        all[i] = d->items[i];
        const sl__titem *o = sl__topk_find(s, all[i].hash, all[i].text, all[i].len);
        all[i].count += o ? o->count : fs;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        const sl__titem *it = &s->items[i];
        if (sl__topk_find(d, it->hash, it->text, it->len))
            continue;
        all[n] = *it;
        all[n].text = sl_xmalloc(it->len ? it->len : 1);
        memcpy(all[n].text, it->text, it->len);
        all[n].count += fd;
        d->text_bytes += it->len;
        n++;
    }
    d->spilled |= s->spilled;
    if (n > d->k) {
        qsort(all, n, sizeof(*all), sl__titem_cmp);
        for (uint32_t i = d->k; i < n; i++) {
            d->text_bytes -= all[i].len;
            free(all[i].text);
        }
        n = d->k;
        d->spilled = 1;
    }
    memcpy(d->items, all, (size_t)n * sizeof(*all));
    d->n = n;
    free(all);
}

/* ------------------------------------------------------------------------ */
/* The partials                                                              */
/* ------------------------------------------------------------------------ */

size_t sl__ext_bytes(uint8_t op, const void *p)
{
    switch (op) {
    case SL_AGG_OP_DISTINCT:
        return sl__hset_bytes(p);
    case SL_AGG_OP_HLL:
        return sl__hll_bytes(p);
    case SL_AGG_OP_QUANTILES:
        return sl__dds_bytes(p);
    default:
        return sl__topk_bytes(p);
    }
}

static void *sl__ext_new(const sl_agg_cellspec *cs)
{
    switch (cs->op) {
    case SL_AGG_OP_DISTINCT:
        return sl_xcalloc(1, sizeof(sl__hset));
    case SL_AGG_OP_HLL: {
        sl__hll *h = sl_xcalloc(1, sizeof(*h));
        h->p = cs->param;
        return h;
    }
    case SL_AGG_OP_QUANTILES:
        return sl_xcalloc(1, sizeof(sl__dds));
    default:
        return sl__topk_new(cs->param);
    }
}

void sl__ext_destroy(uint8_t op, void *p)
{
    switch (op) {
    case SL_AGG_OP_DISTINCT:
        free(((sl__hset *)p)->slots);
        break;
    case SL_AGG_OP_HLL:
        free(((sl__hll *)p)->sparse.slots);
        free(((sl__hll *)p)->regs);
        break;
    case SL_AGG_OP_QUANTILES:
        free(((sl__dds *)p)->pos.bins);
        free(((sl__dds *)p)->neg.bins);
        break;
    default:
        sl__topk_free(p);
        return;
    }
    free(p);
}

void sl_agg_ext_free(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *c)
{
    void *p = sl__ptr(c);
    if (!p)
        return;
    sl__mem(plan, -(int64_t)sl__ext_bytes(cs->op, p));
    sl__ext_destroy(cs->op, p);
    sl__set_ptr(c, NULL);
}

void sl_agg_ext_add(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *c,
                    const sl_batch *b, sl_num x)
{
    if (x.is_double == SL_NUM_ABSENT)
        return; /* missing or null: not counted */
    void *p = sl__ptr(c);
    size_t before = 0;
    if (!p) {
        p = sl__ext_new(cs);
        sl__set_ptr(c, p);
    } else {
        before = sl__ext_bytes(cs->op, p);
    }
    switch (cs->op) {
    case SL_AGG_OP_DISTINCT:
        sl__hset_add(p, (uint64_t)x.v.i);
        break;
    case SL_AGG_OP_HLL:
        sl__hll_add(p, (uint64_t)x.v.i);
        break;
    case SL_AGG_OP_QUANTILES:
        sl__dds_add(p, x.is_double ? x.v.d : (double)x.v.i);
        break;
    default: {
        uint64_t ref = (uint64_t)x.v.i;
        sl__topk_add(p, b->bytes + (ref >> 32), (uint32_t)ref, 1);
        break;
    }
    }
    sl__mem(plan, (int64_t)sl__ext_bytes(cs->op, p) - (int64_t)before);
}

void sl_agg_ext_merge(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *dst,
                      const sl_agg_cell *src)
{
    const void *s = sl__ptr(src);
    if (!s)
        return;
    void *d = sl__ptr(dst);
    size_t before = 0;
    if (!d) {
        d = sl__ext_new(cs);
        sl__set_ptr(dst, d);
    } else {
        before = sl__ext_bytes(cs->op, d);
    }
    switch (cs->op) {
    case SL_AGG_OP_DISTINCT:
        sl__hset_each_add(s, d);
        break;
    case SL_AGG_OP_HLL: {
        sl__hll *hd = d;
        const sl__hll *hs = s;
        if (!hs->regs) {
            if (hs->sparse.has_zero)
                sl__hll_add(hd, 0);
            for (uint64_t i = 0; i < hs->sparse.cap; i++)
                if (hs->sparse.slots[i])
                    sl__hll_add(hd, hs->sparse.slots[i]);
            break;
        }
        if (!hd->regs)
            sl__hll_densify(hd);
        for (uint32_t i = 0; i < (1u << hd->p); i++)
            if (hs->regs[i] > hd->regs[i])
                hd->regs[i] = hs->regs[i];
        break;
    }
    case SL_AGG_OP_QUANTILES: {
        sl__dds *dd = d;
        const sl__dds *ds = s;
        dd->count += ds->count;
        dd->zero += ds->zero;
        sl__dstore_merge(&dd->pos, &ds->pos);
        sl__dstore_merge(&dd->neg, &ds->neg);
        break;
    }
    default:
        sl__topk_merge(d, s);
        break;
    }
    sl__mem(plan, (int64_t)sl__ext_bytes(cs->op, d) - (int64_t)before);
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

size_t sl_agg_ext_format_bound(const sl_agg_output *o, const sl_agg_cellspec *cs,
                               const sl_agg_cell *c)
{
    (void)o;
    const sl__topk *t = sl__ptr(c);
    if (cs->op != SL_AGG_OP_TOPK || !t)
        return 0;
    return 2 + t->text_bytes + (size_t)t->n * 48; /* {"value":,"count":N}, */
}

char *sl_agg_ext_format(const sl_agg_output *o, const sl_agg_cellspec *cs, const sl_agg_cell *c,
                        char *out)
{
    const void *p = sl__ptr(c);
    switch (o->fn) {
    case SL_AGG_COUNT_DISTINCT:
        return sl_agg_put_i64(out, p ? (int64_t)((const sl__hset *)p)->n : 0);
    case SL_AGG_APPROX_COUNT_DISTINCT:
        return sl_agg_put_i64(out, p ? sl__hll_estimate(p) : 0);
    case SL_AGG_APPROX_PERCENTILE:
    case SL_AGG_MEDIAN: {
        const sl__dds *d = p;
        if (o->q_list)
            *out++ = '[';
        for (uint32_t i = 0; i < o->nq; i++) {
            if (i)
                *out++ = ',';
            if (!d || !d->count) {
                memcpy(out, "null", 4);
                out += 4;
            } else {
                out = sl_agg_put_double(out, sl__dds_quantile(d, o->q[i]));
            }
        }
        if (o->q_list)
            *out++ = ']';
        return out;
    }
    default: {
        (void)cs;
        const sl__topk *t = p;
        *out++ = '[';
        if (t && t->n) {
            sl__titem *v = sl__topk_sorted(t);
            for (uint32_t i = 0; i < t->n; i++) {
                if (i)
                    *out++ = ',';
                memcpy(out, "{\"value\":", 9);
                out += 9;
                memcpy(out, v[i].text, v[i].len);
                out += v[i].len;
                memcpy(out, ",\"count\":", 9);
                out = sl_agg_put_i64(out + 9, (int64_t)v[i].count);
                *out++ = '}';
            }
            free(v);
        }
        *out++ = ']';
        return out;
    }
    }
}

/* The snapshot encoding is in aggregate_sketch_snapshot.c. */
