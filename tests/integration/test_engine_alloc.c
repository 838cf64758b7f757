/*
 * test_engine_alloc.c - steady state allocates no batch: event batches go
 * back to their lane and result batches to their worker (spare rings,
 * engine_internal.h) instead of being freed by the thread that consumed
 * them and allocated again.
 *
 * The same pipeline (generator -> key_by -> tumbling 10 ms count -> null
 * sink, 2 workers; the generator then runs 2 lanes) over 200,000 and over
 * 4,000,000 events: twenty times the events, so twenty times the batches
 * (about 4,000 event batches and as many result batches) if nothing were
 * reused. The batches allocated must stay within what the rings and the
 * batches being filled can hold, whatever the length of the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <inttypes.h>

#include "batch.h"
#include "definition.h"
#include "engine.h"
#include "log.h"

#define DEF                                                                                        \
    "{\"name\":\"alloc\",\"source\":{\"type\":\"generator\",\"count\":%d,\"keys\":500,"            \
    "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"                                           \
    "\"watermark\":{\"max_out_of_orderness\":\"5ms\"}},"                                           \
    "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\",\"size\":\"10ms\"}," \
    "\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"                                                 \
    "\"sink\":{\"type\":\"null\"},\"runtime\":{\"workers\":2,\"tasks\":8,\"ring_capacity\":16},"   \
    "\"http\":{\"addr\":\"off\"}}"

/* Batches allocated by one run of `events` events; *results its results. */
static uint64_t run(int events, uint64_t *results)
{
    char text[2048], err[1024];
    snprintf(text, sizeof(text), DEF, events);
    sl_def *def = NULL;
    if (sl_def_load_string(text, "alloc.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("definition: %s", err);
    sl_engine_options opt = {0};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e)
        fail_msg("engine: %s", err);
    uint64_t before = sl_batch_allocated();
    assert_int_equal(sl_engine_run(e), 0);
    uint64_t n = sl_batch_allocated() - before;
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    assert_int_equal(st.events_in, (uint64_t)events);
    *results = st.results_out;
    sl_engine_free(e);
    sl_def_free(def);
    return n;
}

static void test_steady_state_allocates_no_batch(void **state)
{
    (void)state;
    uint64_t r_short, r_long;
    uint64_t a_short = run(200000, &r_short);
    uint64_t a_long = run(4000000, &r_long);
    printf("batches allocated: %" PRIu64 " for 200k events (%" PRIu64 " results), %" PRIu64
           " for 4M events (%" PRIu64 " results)\n",
           a_short, r_short, a_long, r_long);
    /* The long run must really have needed thousands of batches. */
    assert_true(r_long > 20 * 1024);
    /* Bounded by the rings (2 lanes x 2 workers x 16, and their spare
     * rings), not by the run's length. */
    assert_true(a_long < 600);
    assert_true(a_long < a_short + 100);
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_state_allocates_no_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
