/*
 * test_ring.c - single-threaded contract tests of the SPSC ring: capacity
 * rounding, empty and full behaviour, partial push_many/pop_many, FIFO order
 * across wrap-around against a model queue on randomized operation
 * sequences. The two-thread tests are in test_ring_stress.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ring.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

#define ITEM(n) ((void *)(uintptr_t)(n))

static void test_capacity_rounding(void **state)
{
    (void)state;
    static const struct {
        size_t ask, want;
    } cases[] = {{0, 2},   {1, 2},   {2, 2},    {3, 4},       {4, 4},       {5, 8},
                 {63, 64}, {64, 64}, {65, 128}, {1000, 1024}, {4096, 4096}, {4097, 8192}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_ring *r = sl_ring_new(cases[i].ask);
        assert_non_null(r);
        assert_int_equal(sl_ring_capacity(r), cases[i].want);
        /* The rounded capacity is usable in full, not one less. */
        for (size_t k = 0; k < cases[i].want; k++)
            assert_true(sl_ring_push(r, ITEM(k + 1)));
        assert_false(sl_ring_push(r, ITEM(999)));
        assert_int_equal(sl_ring_size(r), cases[i].want);
        sl_ring_free(r);
    }
    sl_ring_free(NULL);
    /* Impossible capacities fail instead of looping on an overflowed size. */
    assert_null(sl_ring_new(SIZE_MAX));
    assert_null(sl_ring_new(SIZE_MAX / 2 + 2));
}

static void test_empty(void **state)
{
    (void)state;
    sl_ring *r = sl_ring_new(8);
    assert_non_null(r);
    assert_int_equal(sl_ring_size(r), 0);
    assert_null(sl_ring_pop(r));
    void *out[4] = {ITEM(7), ITEM(7), ITEM(7), ITEM(7)};
    assert_int_equal(sl_ring_pop_many(r, out, 4), 0);
    assert_ptr_equal(out[0], ITEM(7)); /* untouched */
    assert_int_equal(sl_ring_pop_many(r, out, 0), 0);
    assert_int_equal(sl_ring_push_many(r, out, 0), 0);
    assert_int_equal(sl_ring_size(r), 0);

    /* Empty again after one item in and out. */
    assert_true(sl_ring_push(r, ITEM(1)));
    assert_int_equal(sl_ring_size(r), 1);
    assert_ptr_equal(sl_ring_pop(r), ITEM(1));
    assert_null(sl_ring_pop(r));
    assert_int_equal(sl_ring_size(r), 0);
    sl_ring_free(r);
}

static void test_full(void **state)
{
    (void)state;
    sl_ring *r = sl_ring_new(4);
    assert_non_null(r);
    for (uintptr_t i = 1; i <= 4; i++)
        assert_true(sl_ring_push(r, ITEM(i)));
    assert_false(sl_ring_push(r, ITEM(5)));
    void *more[3] = {ITEM(5), ITEM(6), ITEM(7)};
    assert_int_equal(sl_ring_push_many(r, more, 3), 0);
    assert_int_equal(sl_ring_size(r), 4);

    /* Freeing one slot admits exactly one more. */
    assert_ptr_equal(sl_ring_pop(r), ITEM(1));
    assert_int_equal(sl_ring_push_many(r, more, 3), 1);
    assert_false(sl_ring_push(r, ITEM(6)));
    for (uintptr_t i = 2; i <= 5; i++)
        assert_ptr_equal(sl_ring_pop(r), ITEM(i));
    assert_null(sl_ring_pop(r));
    sl_ring_free(r);
}

static void test_partial_many(void **state)
{
    (void)state;
    sl_ring *r = sl_ring_new(8);
    assert_non_null(r);
    void *in[20], *out[20];
    for (uintptr_t i = 0; i < 20; i++)
        in[i] = ITEM(i + 1);

    /* push_many beyond capacity takes a prefix, in order. */
    assert_int_equal(sl_ring_push_many(r, in, 20), 8);
    assert_int_equal(sl_ring_size(r), 8);

    /* pop_many of fewer than available takes the oldest. */
    assert_int_equal(sl_ring_pop_many(r, out, 3), 3);
    assert_ptr_equal(out[0], ITEM(1));
    assert_ptr_equal(out[2], ITEM(3));

    /* The producer resumes where push_many stopped (item 9), wrapping. */
    assert_int_equal(sl_ring_push_many(r, in + 8, 12), 3);
    assert_int_equal(sl_ring_size(r), 8);

    /* pop_many of more than available returns what is there. */
    memset(out, 0, sizeof out);
    assert_int_equal(sl_ring_pop_many(r, out, 20), 8);
    for (uintptr_t i = 0; i < 8; i++)
        assert_ptr_equal(out[i], ITEM(i + 4));
    assert_null(out[8]); /* nothing written beyond the count */
    assert_int_equal(sl_ring_pop_many(r, out, 20), 0);
    sl_ring_free(r);
}

/* Random sequences of push/push_many/pop/pop_many checked against a model
 * FIFO. Items pushed are consecutive integers, so the model queue is fully
 * described by two counters: it holds [mh, mt). */
static void test_order_against_model(void **state)
{
    (void)state;
    static const size_t caps[] = {2, 4, 16, 64};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        sl_ring *r = sl_ring_new(caps[c]);
        assert_non_null(r);
        size_t cap = sl_ring_capacity(r);
        enum { OPS = 200000 };
        uintptr_t mh = 1, mt = 1;
        void *buf[40];
        for (int op = 0; op < OPS; op++) {
            size_t k = (size_t)(rnd() % 40);
            switch (rnd() % 4) {
            case 0: { /* single push */
                bool ok = sl_ring_push(r, ITEM(mt));
                assert_int_equal(ok, mt - mh < cap);
                if (ok)
                    mt++;
                break;
            }
            case 1: { /* push_many */
                for (size_t i = 0; i < k; i++)
                    buf[i] = ITEM(mt + i);
                size_t room = cap - (mt - mh);
                size_t want = k < room ? k : room;
                assert_int_equal(sl_ring_push_many(r, buf, k), want);
                mt += want;
                break;
            }
            case 2: { /* single pop */
                void *it = sl_ring_pop(r);
                if (mh == mt) {
                    assert_null(it);
                } else {
                    assert_ptr_equal(it, ITEM(mh));
                    mh++;
                }
                break;
            }
            default: { /* pop_many */
                size_t avail = mt - mh;
                size_t want = k < avail ? k : avail;
                assert_int_equal(sl_ring_pop_many(r, buf, k), want);
                for (size_t i = 0; i < want; i++)
                    assert_ptr_equal(buf[i], ITEM(mh++));
                break;
            }
            }
            assert_int_equal(sl_ring_size(r), mt - mh);
        }
        assert_true(mt > (uintptr_t)OPS / 4); /* the sequence did real work */
        sl_ring_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_rounding),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_partial_many),
        cmocka_unit_test(test_order_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
