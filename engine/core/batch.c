/* batch.c - allocation and byte arena of sl_batch (see batch.h). */
#include "batch.h"

#include <stdatomic.h>

#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t sl__batches_allocated;

uint64_t sl_batch_allocated(void)
{
    return atomic_load_explicit(&sl__batches_allocated, memory_order_relaxed);
}

sl_batch *sl_batch_new(sl_msg_kind kind, int32_t task, uint32_t capacity, uint32_t nvals)
{
    atomic_fetch_add_explicit(&sl__batches_allocated, 1, memory_order_relaxed);
    sl_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->kind = kind;
    b->task = task;
    b->capacity = capacity;
    b->nvals = nvals;
    size_t n = capacity ? capacity : 1;
    b->ts = malloc(n * sizeof(*b->ts));
    b->offset = malloc(n * sizeof(*b->offset));
    b->key_hash = malloc(n * sizeof(*b->key_hash));
    b->key_off = malloc(n * sizeof(*b->key_off));
    b->key_len = malloc(n * sizeof(*b->key_len));
    b->row_off = malloc(n * sizeof(*b->row_off));
    b->row_len = malloc(n * sizeof(*b->row_len));
    b->vals = nvals ? malloc((size_t)nvals * n * sizeof(*b->vals)) : NULL;
    b->bytes_cap = n * 32;
    b->bytes = malloc(b->bytes_cap);
    if (!b->ts || !b->offset || !b->key_hash || !b->key_off || !b->key_len || !b->row_off ||
        !b->row_len || (nvals && !b->vals) || !b->bytes) {
        sl_batch_free(b);
        return NULL;
    }
    return b;
}

sl_batch *sl_batch_control(sl_msg_kind kind, int32_t task, int64_t value)
{
    sl_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->kind = kind;
    b->task = task;
    b->value = value;
    return b;
}

void sl_batch_reset(sl_batch *b)
{
    b->count = 0;
    b->bytes_len = 0;
    b->value = 0;
    b->checkpoint_id = 0;
}

void sl_batch_free(sl_batch *b)
{
    if (!b)
        return;
    free(b->ts);
    free(b->offset);
    free(b->key_hash);
    free(b->key_off);
    free(b->key_len);
    free(b->row_off);
    free(b->row_len);
    free(b->vals);
    free(b->bytes);
    if (b->attach_free)
        b->attach_free(b->attach);
    free(b);
}

char *sl_batch_reserve_bytes(sl_batch *b, size_t len, uint32_t *off_out)
{
    if (b->bytes_len + len > UINT32_MAX)
        return NULL;
    if (b->bytes_len + len > b->bytes_cap) {
        size_t cap = b->bytes_cap ? b->bytes_cap : 256;
        while (cap < b->bytes_len + len)
            cap *= 2;
        char *nb = realloc(b->bytes, cap);
        if (!nb)
            return NULL;
        b->bytes = nb;
        b->bytes_cap = cap;
    }
    *off_out = (uint32_t)b->bytes_len;
    b->bytes_len += len;
    return b->bytes + *off_out;
}

uint32_t sl_batch_put_bytes(sl_batch *b, const void *data, size_t len)
{
    uint32_t off;
    char *p = sl_batch_reserve_bytes(b, len, &off);
    if (!p)
        return UINT32_MAX;
    if (len)
        memcpy(p, data, len);
    return off;
}

int sl_batch_add_result(sl_batch *b, const char *key, size_t key_len, const char *value,
                        size_t value_len, int64_t ts, int64_t offset)
{
    uint32_t i = b->count;
    size_t mark = b->bytes_len;
    uint32_t ko = sl_batch_put_bytes(b, key, key_len);
    uint32_t vo = ko == UINT32_MAX ? UINT32_MAX : sl_batch_put_bytes(b, value, value_len);
    if (vo == UINT32_MAX || i >= b->capacity) {
        b->bytes_len = mark;
        return SL_ENOMEM;
    }
    b->key_off[i] = ko;
    b->key_len[i] = (uint32_t)key_len;
    b->row_off[i] = vo;
    b->row_len[i] = (uint32_t)value_len;
    b->ts[i] = ts;
    b->offset[i] = offset;
    b->key_hash[i] = 0;
    b->count++;
    return SL_OK;
}
