/*
 * park.h - parking a thread until another thread makes work for it
 * (Linux futex), so idle threads sleep instead of polling.
 *
 * One parker belongs to one waiting thread; any number of threads may
 * wake it. The waiting thread:
 *
 *     sl_park_prepare(p);              // "I am about to sleep"
 *     if (work is there after all)     // re-check every source of work
 *         sl_park_cancel(p);
 *     else
 *         sl_park_wait(p, timeout_ns);
 *
 * and a producer, after publishing work (a ring push):
 *
 *     sl_park_wake(p);
 *
 * Both sides put a sequentially consistent fence between their write (the
 * parked flag; the pushed item) and their read (the rings; the flag), so
 * at least one of them sees the other's write: either the waiter finds the
 * work in its re-check, or the producer finds the flag and wakes it. A
 * wake of a thread that is not parked costs a fence and a load. Timeouts
 * bound how late periodic duties (idle checks, stop requests) run.
 */
#ifndef SL_PARK_H
#define SL_PARK_H

#include "common.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct sl_parker {
    _Atomic uint32_t parked; /* 1 between prepare and wake-up */
    _Atomic uint64_t wakes;  /* futex wakes issued (statistics) */
} sl_parker;

void sl_park_init(sl_parker *p);
/* Waiting thread: announces the sleep. Re-check for work after it. */
void sl_park_prepare(sl_parker *p);
/* Waiting thread: the re-check found work; not sleeping after all. */
void sl_park_cancel(sl_parker *p);
/* Waiting thread: sleeps until woken or `timeout_ns` passes (spurious
 * returns are possible; callers loop). */
void sl_park_wait(sl_parker *p, int64_t timeout_ns);
/* Any thread, after publishing work for the parker's thread. */
void sl_park_wake(sl_parker *p);

#endif
