/*
 * test_ring_stress.c - the SPSC ring between two real threads.
 *
 * A producer pushes the sequence 1..N (as uintptr_t cast to void *, never
 * NULL) through a small ring (capacity 64, and 2 for maximum contention on
 * the full/empty edges); the consumer checks every item is exactly the next
 * expected number (order and integrity: nothing lost, duplicated or torn)
 * and that the sum equals N(N+1)/2. Variants: single push/pop, batched
 * push_many/pop_many with randomly varying batch sizes (so partial batches
 * happen constantly), and the two mixed (N/10 items each), and a capacity-2
 * ring (N/100 items each).
 *
 * N comes from SL_RING_STRESS_ITEMS (default 1e8 for the main variants);
 * CI's ThreadSanitizer job sets it lower. A third thread samples
 * sl_ring_size() throughout and checks it never exceeds the capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"
#include "ring.h"

enum { MODE_SINGLE = 0, MODE_BATCH = 1 };

typedef struct stress {
    sl_ring *ring;
    uint64_t n;
    int push_mode, pop_mode;
    size_t max_batch;
    /* results */
    uint64_t received, sum, first_bad_index, first_bad_value;
    int bad;
    _Atomic int done;
    size_t max_size_seen;
} stress;

static uint64_t stress_items(uint64_t dflt)
{
    const char *e = getenv("SL_RING_STRESS_ITEMS");
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == '\0' && v >= 1)
            return (uint64_t)v;
    }
    return dflt;
}

/* Backoff while the ring is full/empty: spin briefly, then yield (only two
 * cores on the CI machine, shared with other jobs). */
static inline void backoff(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield();
    }
}

static inline uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *producer(void *arg)
{
    stress *st = arg;
    uint64_t next = 1, rs = 0x1234567ull;
    unsigned spins = 0;
    void *batch[64];
    while (next <= st->n) {
        if (st->push_mode == MODE_SINGLE) {
            if (sl_ring_push(st->ring, (void *)(uintptr_t)next)) {
                next++;
                spins = 0;
            } else {
                backoff(&spins);
            }
        } else {
            size_t k = 1 + (size_t)(xs(&rs) % st->max_batch);
            if (k > st->n - next + 1)
                k = (size_t)(st->n - next + 1);
            for (size_t i = 0; i < k; i++)
                batch[i] = (void *)(uintptr_t)(next + i);
            size_t got = sl_ring_push_many(st->ring, batch, k);
            next += got;
            if (got == 0)
                backoff(&spins);
            else
                spins = 0;
        }
    }
    return NULL;
}

static void *consumer(void *arg)
{
    stress *st = arg;
    uint64_t expect = 1, sum = 0, rs = 0x7654321ull;
    unsigned spins = 0;
    void *batch[64];
    while (expect <= st->n) {
        size_t got;
        if (st->pop_mode == MODE_SINGLE) {
            void *it = sl_ring_pop(st->ring);
            got = it != NULL;
            batch[0] = it;
        } else {
            size_t k = 1 + (size_t)(xs(&rs) % st->max_batch);
            got = sl_ring_pop_many(st->ring, batch, k);
        }
        if (got == 0) {
            backoff(&spins);
            continue;
        }
        spins = 0;
        for (size_t i = 0; i < got; i++) {
            uint64_t v = (uint64_t)(uintptr_t)batch[i];
            if (SL_UNLIKELY(v != expect) && !st->bad) {
                st->bad = 1;
                st->first_bad_index = expect;
                st->first_bad_value = v;
            }
            sum += v;
            expect++;
        }
    }
    st->received = expect - 1;
    st->sum = sum;
    return NULL;
}

static void *observer(void *arg)
{
    stress *st = arg;
    while (!atomic_load_explicit(&st->done, memory_order_acquire)) {
        size_t s = sl_ring_size(st->ring);
        if (s > st->max_size_seen)
            st->max_size_seen = s;
        sched_yield();
    }
    return NULL;
}

static void run_stress(size_t capacity, uint64_t n, int push_mode, int pop_mode, size_t max_batch)
{
    stress st = {0};
    st.ring = sl_ring_new(capacity);
    assert_non_null(st.ring);
    st.n = n;
    st.push_mode = push_mode;
    st.pop_mode = pop_mode;
    st.max_batch = max_batch;
    atomic_init(&st.done, 0);

    pthread_t p, c, o;
    int64_t t0 = sl_mono_ns();
    assert_int_equal(pthread_create(&c, NULL, consumer, &st), 0);
    assert_int_equal(pthread_create(&o, NULL, observer, &st), 0);
    assert_int_equal(pthread_create(&p, NULL, producer, &st), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    atomic_store_explicit(&st.done, 1, memory_order_release);
    pthread_join(o, NULL);
    double secs = (double)(sl_mono_ns() - t0) / 1e9;

    printf("  cap %zu push %s pop %s: %llu items in %.2f s (%.1f M items/s)\n",
           sl_ring_capacity(st.ring), push_mode ? "many" : "one", pop_mode ? "many" : "one",
           (unsigned long long)n, secs, (double)n / secs / 1e6);
    if (st.bad)
        fail_msg("order/integrity: expected %llu, got %llu", (unsigned long long)st.first_bad_index,
                 (unsigned long long)st.first_bad_value);
    assert_int_equal(st.received, n);
    /* n(n+1)/2 modulo 2^64, like the consumer's running sum. */
    uint64_t want = (n % 2 == 0) ? (n / 2) * (n + 1) : n * ((n + 1) / 2);
    assert_int_equal(st.sum, want);
    if (st.max_size_seen > sl_ring_capacity(st.ring))
        fail_msg("sl_ring_size() returned %zu > capacity %zu", st.max_size_seen,
                 sl_ring_capacity(st.ring));
    assert_int_equal(sl_ring_size(st.ring), 0);
    assert_null(sl_ring_pop(st.ring));
    sl_ring_free(st.ring);
}

static void test_stress_single(void **state)
{
    (void)state;
    run_stress(64, stress_items(100000000), MODE_SINGLE, MODE_SINGLE, 1);
}

static void test_stress_batched(void **state)
{
    (void)state;
    run_stress(64, stress_items(100000000), MODE_BATCH, MODE_BATCH, 32);
}

static void test_stress_mixed(void **state)
{
    (void)state;
    uint64_t n = stress_items(100000000) / 10;
    run_stress(64, n ? n : 1, MODE_SINGLE, MODE_BATCH, 32);
    run_stress(64, n ? n : 1, MODE_BATCH, MODE_SINGLE, 32);
}

static void test_stress_tiny_ring(void **state)
{
    (void)state;
    /* Capacity 2: every other operation hits the full or empty edge. Each
     * item costs a cache-line round trip here (and a context switch when
     * the two threads cannot run at once), so a hundredth of the items. */
    uint64_t n = stress_items(100000000) / 100;
    run_stress(2, n ? n : 1, MODE_SINGLE, MODE_SINGLE, 1);
    run_stress(2, n ? n : 1, MODE_BATCH, MODE_BATCH, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_single),
        cmocka_unit_test(test_stress_batched),
        cmocka_unit_test(test_stress_mixed),
        cmocka_unit_test(test_stress_tiny_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
