/*
 * bench_ring.c - SPSC ring throughput between two threads.
 *
 * Modes: single sl_ring_push/sl_ring_pop, and batched push_many/pop_many
 * of 32. Prints items/s for each (best of SL_BENCH_REPEAT runs, default 3).
 * Items: SL_BENCH_RING_ITEMS (default 5e7); capacity: SL_BENCH_RING_CAP
 * (default 1024). The consumer verifies order, so a broken ring cannot
 * produce a fast number. Exit status is non-zero on a verification failure.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "ring.h"

enum { BATCH = 32 };

typedef struct bench {
    sl_ring *ring;
    uint64_t n;
    int batched;
    int bad;
} bench;

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *e = getenv(name);
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == '\0' && v >= 1)
            return (uint64_t)v;
    }
    return dflt;
}

static inline void backoff(unsigned *spins)
{
    if (++*spins < 128) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield();
    }
}

static void *producer(void *arg)
{
    bench *b = arg;
    uint64_t next = 1;
    unsigned spins = 0;
    void *batch[BATCH];
    if (!b->batched) {
        while (next <= b->n) {
            if (sl_ring_push(b->ring, (void *)(uintptr_t)next))
                next++;
            else
                backoff(&spins);
        }
        return NULL;
    }
    size_t have = 0, off = 0; /* batch[off, have) not yet pushed */
    while (next <= b->n || off < have) {
        if (off == have) {
            have = 0;
            off = 0;
            while (have < BATCH && next <= b->n)
                batch[have++] = (void *)(uintptr_t)next++;
        }
        size_t got = sl_ring_push_many(b->ring, batch + off, have - off);
        if (got)
            off += got;
        else
            backoff(&spins);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    bench *b = arg;
    uint64_t expect = 1;
    unsigned spins = 0;
    void *batch[BATCH];
    while (expect <= b->n) {
        size_t got;
        if (b->batched) {
            got = sl_ring_pop_many(b->ring, batch, BATCH);
        } else {
            batch[0] = sl_ring_pop(b->ring);
            got = batch[0] != NULL;
        }
        if (!got) {
            backoff(&spins);
            continue;
        }
        for (size_t i = 0; i < got; i++)
            b->bad |= (uintptr_t)batch[i] != expect++;
    }
    return NULL;
}

static double run(size_t cap, uint64_t n, int batched, int *bad)
{
    bench b = {.ring = sl_ring_new(cap), .n = n, .batched = batched};
    if (!b.ring) {
        fprintf(stderr, "bench_ring: out of memory\n");
        exit(1);
    }
    pthread_t p, c;
    int64_t t0 = sl_mono_ns();
    if (pthread_create(&c, NULL, consumer, &b) || pthread_create(&p, NULL, producer, &b)) {
        fprintf(stderr, "bench_ring: pthread_create failed\n");
        exit(1);
    }
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    int64_t dt = sl_mono_ns() - t0;
    *bad |= b.bad;
    sl_ring_free(b.ring);
    return (double)n / ((double)dt / 1e9);
}

int main(void)
{
    uint64_t n = env_u64("SL_BENCH_RING_ITEMS", 50000000);
    size_t cap = (size_t)env_u64("SL_BENCH_RING_CAP", 1024);
    int repeat = (int)env_u64("SL_BENCH_REPEAT", 3);
    int bad = 0;
    static const char *names[] = {"single push/pop", "batched push_many/pop_many(32)"};
    for (int mode = 0; mode < 2; mode++) {
        double best = 0;
        for (int i = 0; i < repeat; i++) {
            double r = run(cap, n, mode, &bad);
            if (r > best)
                best = r;
        }
        printf("ring cap %zu, %s: %.1f M items/s (best of %d, %llu items)\n", cap, names[mode],
               best / 1e6, repeat, (unsigned long long)n);
    }
    if (bad) {
        fprintf(stderr, "bench_ring: ORDER VIOLATION\n");
        return 1;
    }
    return 0;
}
