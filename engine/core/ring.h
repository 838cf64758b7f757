/*
 * ring.h - bounded single-producer / single-consumer lock-free ring of
 * pointers (C11 atomics, acquire/release).
 *
 * Exactly one thread may push and exactly one (other) thread may pop. The
 * capacity is a power of two. A push onto a full ring fails and leaves the
 * item with the caller (backpressure); a successful push moves it.
 * See the design notes at the top of ring.c for the invariants.
 */
#ifndef SL_RING_H
#define SL_RING_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct sl_ring sl_ring;

/* Creates a ring holding up to `capacity` items (rounded up to a power of
 * two, minimum 2). Returns NULL on allocation failure. */
sl_ring *sl_ring_new(size_t capacity);
/* Frees the ring (not the items still in it). sl_ring_free(NULL) is a no-op. */
void sl_ring_free(sl_ring *r);

/* Producer side. Returns true and takes `item` if there was room. */
bool sl_ring_push(sl_ring *r, void *item);
/* Producer side. Pushes up to n items in order; returns how many were taken. */
size_t sl_ring_push_many(sl_ring *r, void *const *items, size_t n);

/* Consumer side. Returns the oldest item, or NULL when the ring is empty. */
void *sl_ring_pop(sl_ring *r);
/* Consumer side. Pops up to n items into out[]; returns how many. */
size_t sl_ring_pop_many(sl_ring *r, void **out, size_t n);

/* Any thread: the number of items in the ring at some recent moment. */
size_t sl_ring_size(const sl_ring *r);
size_t sl_ring_capacity(const sl_ring *r);

#endif
