/*
 * aggregate_sketch_snapshot.c - the snapshot encoding of the sketches (the
 * format is at the top of aggregate_sketch.c): write, and a restore that
 * checks every count against the bytes left before allocating and every
 * value it reads.
 */
#include "aggregate_sketch.h"

#include <stdlib.h>
#include <string.h>

static int sl__u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The hashes, ascending, in a new array of s->n. */
static uint64_t *sl__hset_sorted(const sl__hset *s)
{
    uint64_t *v = sl_xmalloc((size_t)(s->n ? s->n : 1) * 8), k = 0;
    if (s->has_zero)
        v[k++] = 0;
    for (uint64_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            v[k++] = s->slots[i];
    qsort(v, (size_t)k, 8, sl__u64_cmp);
    return v;
}

static void sl__hset_write(const sl__hset *s, sl_buf *out, int n32)
{
    if (n32)
        sl_buf_put_u32(out, (uint32_t)s->n);
    else
        sl_buf_put_u64(out, s->n);
    uint64_t *v = sl__hset_sorted(s);
    for (uint64_t i = 0; i < s->n; i++)
        sl_buf_put_u64(out, v[i]);
    free(v);
}

/* Reads n ascending distinct hashes into the empty set s. */
static int sl__hset_read(sl__hset *s, uint64_t n, sl_reader *in)
{
    if (n > (in->len - in->pos) / 8)
        return SL_ECORRUPT;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = sl_read_u64(in);
        if (i && h <= prev)
            return SL_ECORRUPT;
        prev = h;
        sl__hset_add(s, h);
    }
    return in->failed ? SL_ECORRUPT : 0;
}

static void sl__dstore_write(const sl__dstore *s, sl_buf *out)
{
    sl_buf_put_u32(out, (uint32_t)s->off);
    sl_buf_put_u32(out, s->n);
    for (uint32_t i = 0; i < s->n; i++)
        sl_buf_put_u64(out, s->bins[i]);
}

static int sl__dstore_read(sl__dstore *s, sl_reader *in, uint64_t *total)
{
    int32_t off = (int32_t)sl_read_u32(in);
    uint32_t n = sl_read_u32(in);
    if (in->failed || n > SL__DDS_MAX_BINS || n > (in->len - in->pos) / 8)
        return SL_ECORRUPT;
    if (!n)
        return 0;
    if (off < -SL__DDS_IDX_MAX || off > SL__DDS_IDX_MAX || off + (int32_t)n - 1 > SL__DDS_IDX_MAX)
        return SL_ECORRUPT;
    s->bins = sl_xmalloc((size_t)n * 8);
    s->off = off;
    s->n = n;
    for (uint32_t i = 0; i < n; i++) {
        s->bins[i] = sl_read_u64(in);
        if (__builtin_add_overflow(*total, s->bins[i], total))
            return SL_ECORRUPT;
    }
    return in->failed ? SL_ECORRUPT : 0;
}

void sl_agg_ext_write(const sl_agg_cellspec *cs, const sl_agg_cell *c, sl_buf *out)
{
    const void *p = sl__ptr(c);
    switch (cs->op) {
    case SL_AGG_OP_DISTINCT:
        if (!p)
            sl_buf_put_u64(out, 0);
        else
            sl__hset_write(p, out, 0);
        return;
    case SL_AGG_OP_HLL: {
        const sl__hll *h = p;
        if (!h) {
            sl_buf_put_u8(out, 0);
        } else if (!h->regs) {
            sl_buf_put_u8(out, 1);
            sl__hset_write(&h->sparse, out, 1);
        } else {
            sl_buf_put_u8(out, 2);
            sl_buf_put_bytes(out, h->regs, (size_t)1 << h->p);
        }
        return;
    }
    case SL_AGG_OP_QUANTILES: {
        const sl__dds *d = p;
        sl_buf_put_u8(out, d ? 1 : 0);
        if (d) {
            sl_buf_put_u64(out, d->zero);
            sl__dstore_write(&d->pos, out);
            sl__dstore_write(&d->neg, out);
        }
        return;
    }
    default: {
        const sl__topk *t = p;
        sl_buf_put_u8(out, !t ? 0 : t->spilled ? 3 : 1);
        if (!t)
            return;
        sl_buf_put_u32(out, t->n);
        sl__titem *v = sl__topk_sorted(t);
        for (uint32_t i = 0; i < t->n; i++) {
            sl_buf_put_u64(out, v[i].count);
            sl_buf_put_blob(out, v[i].text, v[i].len);
        }
        free(v);
        return;
    }
    }
}

/* One JSON string at p ('"'): returns its end, or NULL. */
static const char *sl__json_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c != '\\')
            continue;
        if (++p >= e)
            return NULL;
        if (*p == 'u') {
            if (e - p < 5)
                return NULL;
            for (int i = 1; i <= 4; i++) {
                char h = p[i];
                if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                    return NULL;
            }
            p += 4;
        } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
            return NULL;
        }
    }
    return NULL;
}

static const char *sl__json_digits(const char *p, const char *e)
{
    const char *s = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    return p > s ? p : NULL;
}

/* One JSON value in minified form (no whitespace) at p: returns its end, or
 * NULL. Numbers of any size are accepted, as the ingest keeps them. */
static const char *sl__json_value(const char *p, const char *e, int depth)
{
    if (p >= e || depth > 512)
        return NULL;
    switch (*p) {
    case '"':
        return sl__json_string(p, e);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p++;
        if (p < e && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                if (p >= e || *p != '"' || !(p = sl__json_string(p, e)) || p >= e || *p++ != ':')
                    return NULL;
            }
            if (!(p = sl__json_value(p, e, depth + 1)) || p >= e)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    case 't':
        return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        if (*p == '-')
            p++;
        if (p < e && *p == '0')
            p++;
        else if (p >= e || *p < '1' || *p > '9' || !(p = sl__json_digits(p, e)))
            return NULL;
        if (p < e && *p == '.' && !(p = sl__json_digits(p + 1, e)))
            return NULL;
        if (p < e && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < e && (*p == '+' || *p == '-'))
                p++;
            if (!(p = sl__json_digits(p, e)))
                return NULL;
        }
        return p;
    }
}

/* Whether text[0, len) is exactly one JSON value (minified, as the ingest
 * writes them) without control bytes: a restored top_k item goes into
 * results as it is. */
static int sl__one_json_value(const char *text, uint32_t len)
{
    if (!len || !sl_bytes_printable((const uint8_t *)text, len))
        return 0;
    return sl__json_value(text, text + len, 0) == text + len;
}

static int sl__ext_parse(const sl_agg_cellspec *cs, void **pp, sl_reader *in)
{
    switch (cs->op) {
    case SL_AGG_OP_DISTINCT: {
        uint64_t n = sl_read_u64(in);
        if (in->failed)
            return SL_ECORRUPT;
        if (!n)
            return 0;
        *pp = sl_xcalloc(1, sizeof(sl__hset));
        return sl__hset_read(*pp, n, in);
    }
    case SL_AGG_OP_HLL: {
        uint8_t mode = sl_read_u8(in);
        if (in->failed || mode > 2)
            return SL_ECORRUPT;
        if (!mode)
            return 0;
        sl__hll *h = sl_xcalloc(1, sizeof(*h));
        *pp = h;
        h->p = cs->param;
        size_t m = (size_t)1 << h->p;
        if (mode == 1) {
            uint32_t n = sl_read_u32(in);
            if (in->failed || n == 0 || n > SL__HLL_SPARSE_MAX)
                return SL_ECORRUPT;
            return sl__hset_read(&h->sparse, n, in);
        }
        if (in->len - in->pos < m)
            return SL_ECORRUPT;
        h->regs = sl_xmalloc(m);
        memcpy(h->regs, in->p + in->pos, m);
        in->pos += m;
        for (size_t i = 0; i < m; i++)
            if (h->regs[i] > 64 - h->p + 1)
                return SL_ECORRUPT;
        return 0;
    }
    case SL_AGG_OP_QUANTILES: {
        uint8_t present = sl_read_u8(in);
        if (in->failed || present > 1)
            return SL_ECORRUPT;
        if (!present)
            return 0;
        sl__dds *d = sl_xcalloc(1, sizeof(*d));
        *pp = d;
        d->zero = sl_read_u64(in);
        uint64_t total = d->zero;
        if (in->failed || sl__dstore_read(&d->pos, in, &total) != 0 ||
            sl__dstore_read(&d->neg, in, &total) != 0 || total == 0)
            return SL_ECORRUPT;
        d->count = total;
        return 0;
    }
    default: {
        uint8_t flags = sl_read_u8(in);
        if (in->failed || (flags != 0 && flags != 1 && flags != 3))
            return SL_ECORRUPT;
        if (!flags)
            return 0;
        uint32_t n = sl_read_u32(in);
        if (in->failed || n == 0 || n > cs->param || n > (in->len - in->pos) / 12 ||
            ((flags & 2) && n != cs->param))
            return SL_ECORRUPT;
        sl__topk *t = sl__topk_new(cs->param);
        *pp = t;
        t->spilled = (flags & 2) != 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t cnt = sl_read_u64(in);
            uint32_t len;
            const uint8_t *text = sl_read_blob(in, &len);
            if (!text || in->failed || cnt == 0 || !sl__one_json_value((const char *)text, len))
                return SL_ECORRUPT;
            uint64_t h = sl_hash64(text, len);
            if (sl__topk_find(t, h, (const char *)text, len))
                return SL_ECORRUPT;
            sl__titem *it = &t->items[t->n++];
            memset(it, 0, sizeof(*it));
            sl__titem_set_text(t, it, h, (const char *)text, len);
            it->count = cnt;
        }
        return 0;
    }
    }
}

int sl_agg_ext_read(const sl_agg_plan *plan, const sl_agg_cellspec *cs, sl_agg_cell *c,
                    sl_reader *in)
{
    void *p = NULL;
    sl__set_ptr(c, NULL);
    int rc = sl__ext_parse(cs, &p, in);
    if (rc != 0 || in->failed) {
        if (p)
            sl__ext_destroy(cs->op, p);
        return SL_ECORRUPT;
    }
    if (p) {
        sl__set_ptr(c, p);
        sl__mem(plan, (int64_t)sl__ext_bytes(cs->op, p));
    }
    return 0;
}
