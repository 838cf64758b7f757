/*
 * ring.c - bounded SPSC lock-free ring of pointers.
 *
 * Design notes
 * ------------
 * Two monotonically increasing 64-bit counters, `head` (next slot to pop,
 * written only by the consumer) and `tail` (next slot to push, written only
 * by the producer), each on its own cache line. Slot of counter c is
 * c & mask.
 *
 * Invariants:
 *   1. 0 <= tail - head <= capacity, always.
 *   2. Slots [head, tail) hold items published by the producer; only the
 *      consumer reads them. Slots [tail, head + capacity) are free; only the
 *      producer writes them.
 *   3. The producer writes the slot, then stores tail with release order;
 *      the consumer loads tail with acquire order before reading a slot, so
 *      it sees the item. Symmetrically the consumer reads the slot, then
 *      stores head with release; the producer loads head with acquire
 *      before overwriting a slot.
 *   4. Each side keeps a cached copy of the other side's counter on its own
 *      cache line and reloads it only when the cached value says the ring is
 *      full (producer) or empty (consumer). Staleness is safe: a stale head
 *      only understates free space, a stale tail only understates items.
 *
 * States of one slot: FREE --push (producer)--> FULL --pop (consumer)--> FREE.
 */
#include "ring.h"
#include "common.h"

#include <stdatomic.h>
#include <stdlib.h>

struct sl_ring {
    /* producer line */
    _Alignas(SL_CACHE_LINE) _Atomic uint64_t tail;
    uint64_t head_cache; /* producer's copy of head */
    /* consumer line */
    _Alignas(SL_CACHE_LINE) _Atomic uint64_t head;
    uint64_t tail_cache; /* consumer's copy of tail */
    /* read-only after creation */
    _Alignas(SL_CACHE_LINE) uint64_t mask;
    void **slots;
};

sl_ring *sl_ring_new(size_t capacity)
{
    size_t cap = 2;
    if (capacity > SIZE_MAX / 2 + 1) /* no power of two that large */
        return NULL;
    while (cap < capacity)
        cap <<= 1;
    sl_ring *r = aligned_alloc(SL_CACHE_LINE, sizeof(*r));
    if (!r)
        return NULL;
    r->slots = calloc(cap, sizeof(void *));
    if (!r->slots) {
        free(r);
        return NULL;
    }
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    r->head_cache = 0;
    r->tail_cache = 0;
    r->mask = cap - 1;
    return r;
}

void sl_ring_free(sl_ring *r)
{
    if (!r)
        return;
    free(r->slots);
    free(r);
}

size_t sl_ring_push_many(sl_ring *r, void *const *items, size_t n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t cap = r->mask + 1;
    uint64_t free_slots = cap - (tail - r->head_cache);
    if (free_slots < n) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        free_slots = cap - (tail - r->head_cache);
    }
    if (n > free_slots)
        n = (size_t)free_slots;
    for (size_t i = 0; i < n; i++)
        r->slots[(tail + i) & r->mask] = items[i];
    if (n)
        atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

bool sl_ring_push(sl_ring *r, void *item)
{
    return sl_ring_push_many(r, &item, 1) == 1;
}

size_t sl_ring_pop_many(sl_ring *r, void **out, size_t n)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t avail = r->tail_cache - head;
    if (avail < n) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = r->tail_cache - head;
    }
    if (n > avail)
        n = (size_t)avail;
    for (size_t i = 0; i < n; i++)
        out[i] = r->slots[(head + i) & r->mask];
    if (n)
        atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

void *sl_ring_pop(sl_ring *r)
{
    void *item = NULL;
    return sl_ring_pop_many(r, &item, 1) ? item : NULL;
}

size_t sl_ring_size(const sl_ring *r)
{
    /* head and tail are two loads, not one snapshot: between them the
     * consumer may pop and the producer refill, so tail - head can exceed
     * the capacity. Clamp to keep the result a possible size. */
    uint64_t head = atomic_load_explicit(&((sl_ring *)r)->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&((sl_ring *)r)->tail, memory_order_acquire);
    uint64_t n = tail >= head ? tail - head : 0;
    return n > r->mask + 1 ? (size_t)(r->mask + 1) : (size_t)n;
}

size_t sl_ring_capacity(const sl_ring *r)
{
    return (size_t)(r->mask + 1);
}
