/*
 * test_park_stress.c - futex parking (park.h) between real threads.
 *
 * 1. Ping-pong: two threads pass a token back and forth through two
 *    capacity-2 rings, each parking (with a 10 s timeout) whenever its
 *    ring is empty and waking the other after every push. Every round
 *    trip needs a wake-up that is not lost; a lost one would cost the
 *    10 s timeout, so the test fails when any wait ran into its timeout
 *    or the rounds take longer than the timeouts allow.
 * 2. Producer / parked consumer: N items through a ring with the
 *    consumer parking after a short spin whenever it is empty (the
 *    engine's worker loop); every item arrives, in order, and no wait
 *    times out.
 * Run under ThreadSanitizer in CI (its name matches "stress").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "park.h"
#include "ring.h"

#define TIMEOUT_NS (10 * 1000000000LL)

typedef struct side {
    sl_ring *in, *out;
    sl_parker *self, *peer;
    uint64_t rounds;
    uint64_t timeouts; /* waits that ended by their timeout */
} side;

/* Waits for an item on s->in, parking; counts waits that timed out. */
static void *side_pop(side *s)
{
    void *item;
    while (!(item = sl_ring_pop(s->in))) {
        sl_park_prepare(s->self);
        if ((item = sl_ring_pop(s->in)) != NULL) {
            sl_park_cancel(s->self);
            break;
        }
        int64_t t0 = sl_mono_ns();
        sl_park_wait(s->self, TIMEOUT_NS);
        if (sl_mono_ns() - t0 >= TIMEOUT_NS - 1000000)
            s->timeouts++;
    }
    return item;
}

static void *pingpong(void *arg)
{
    side *s = arg;
    for (uint64_t i = 0; i < s->rounds; i++) {
        uintptr_t v = (uintptr_t)side_pop(s);
        while (!sl_ring_push(s->out, (void *)(v + 1)))
            ;
        sl_park_wake(s->peer);
    }
    return NULL;
}

static void test_pingpong(void **state)
{
    (void)state;
    uint64_t rounds = 20000;
    const char *env = getenv("SL_PARK_STRESS_ROUNDS");
    if (env)
        rounds = strtoull(env, NULL, 10);
    sl_ring *ab = sl_ring_new(2), *ba = sl_ring_new(2);
    sl_parker pa, pb;
    sl_park_init(&pa);
    sl_park_init(&pb);
    side a = {.in = ba, .out = ab, .self = &pa, .peer = &pb, .rounds = rounds};
    side b = {.in = ab, .out = ba, .self = &pb, .peer = &pa, .rounds = rounds};
    /* b answers every token; a starts the first one. */
    assert_true(sl_ring_push(ba, (void *)(uintptr_t)1));
    int64_t t0 = sl_mono_ns();
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, pingpong, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, pingpong, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    double secs = (double)(sl_mono_ns() - t0) / 1e9;
    uintptr_t last = (uintptr_t)sl_ring_pop(ba);
    assert_int_equal(last, 1 + 2 * rounds);
    printf("ping-pong: %" PRIu64 " round trips in %.2f s, %" PRIu64 " + %" PRIu64
           " futex wakes, timeouts %" PRIu64 "/%" PRIu64 "\n",
           rounds, secs, atomic_load(&pa.wakes), atomic_load(&pb.wakes), a.timeouts, b.timeouts);
    assert_int_equal(a.timeouts + b.timeouts, 0);
    sl_ring_free(ab);
    sl_ring_free(ba);
}

typedef struct feed {
    sl_ring *r;
    sl_parker park;
    uint64_t n;
    uint64_t timeouts, got, bad;
} feed;

static void *producer(void *arg)
{
    feed *f = arg;
    for (uint64_t i = 1; i <= f->n; i++) {
        while (!sl_ring_push(f->r, (void *)(uintptr_t)i))
            ;
        sl_park_wake(&f->park);
        if (i % 1024 == 0)
            sl_sleep_us(1); /* lets the consumer run dry and park now and then */
    }
    return NULL;
}

static void *consumer(void *arg)
{
    feed *f = arg;
    side s = {.in = f->r, .self = &f->park};
    uint64_t want = 1;
    while (want <= f->n) {
        void *items[16];
        size_t n = sl_ring_pop_many(f->r, items, 16);
        for (size_t i = 0; i < n; i++, want++)
            if ((uintptr_t)items[i] != want)
                f->bad++;
        f->got += n;
        if (n == 0 && want <= f->n) {
            void *item = side_pop(&s);
            if ((uintptr_t)item != want)
                f->bad++;
            want++;
            f->got++;
        }
    }
    f->timeouts = s.timeouts;
    return NULL;
}

static void test_parked_consumer(void **state)
{
    (void)state;
    feed f = {.r = sl_ring_new(64), .n = 2000000};
    sl_park_init(&f.park);
    pthread_t tp, tc;
    assert_int_equal(pthread_create(&tc, NULL, consumer, &f), 0);
    assert_int_equal(pthread_create(&tp, NULL, producer, &f), 0);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    printf("parked consumer: %" PRIu64 " items, %" PRIu64 " futex wakes, timeouts %" PRIu64 "\n",
           f.got, atomic_load(&f.park.wakes), f.timeouts);
    assert_int_equal(f.got, f.n);
    assert_int_equal(f.bad, 0);
    assert_int_equal(f.timeouts, 0);
    sl_ring_free(f.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pingpong),
        cmocka_unit_test(test_parked_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
