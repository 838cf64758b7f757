/* batch.c - allocation and byte arena of sl_batch (see batch.h). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

sl_batch *sl_batch_new(sl_msg_kind kind, int32_t task, uint32_t capacity, uint32_t nvals)
{
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
