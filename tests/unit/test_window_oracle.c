/*
 * test_window_oracle.c - the window operator against a brute-force reference.
 *
 * The reference is the shared brute-force oracle (tests/lib/oracle.c),
 * written for obviousness: every (key, window) -- or session -- keeps the
 * list of its events, and each result is recomputed from that list. Per
 * event, in order: judge it against the watermark before it, add it to
 * every window it belongs to that is not expired (emitting an update right
 * away for those that already fired), then move the watermark to max(wm,
 * ts - ooo), fire every unfired window with end <= wm sorted by (end, key
 * bytes), and forget windows with end + lateness <= wm.
 *
 * Amounts are integers or multiples of 0.25 small enough that every partial
 * sum is exact in a double, so any summation order (the operator combines
 * hopping slices and merged sessions in its own order) gives the same
 * double, and results can be compared as strings, byte for byte.
 *
 * Seeded random streams (bounded disorder, events later than the allowed
 * lateness, idle advances, string / int / two-field / no keys, deliberately
 * colliding key hashes, int and double amounts) for tumbling, hopping and
 * session windows, each fed with batch sizes 1, 7, 100 and 4096; results,
 * update flags, late events (offset and the watermark they were judged
 * against), stats, watermark and max_ts must all match.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aggregate.h"
#include "oracle.h"
#include "window.h"
#include "window_stream.h"

/* ------------------------------------------------------------------------ */
/* The reference: tests/lib/oracle.c, fed the same stream                    */
/* ------------------------------------------------------------------------ */

/* What the reference says a stream must produce, in the operator's terms. */
typedef struct oracle {
    int64_t wm, max_ts;
    ws_capture out;
    sl_window_stats stats;
} oracle;

static void oracle_run_stream(const ws_config *cfg, const ws_stream *s, oracle *o)
{
    static const char *const fn_names[] = {[SL_AGG_COUNT] = "count",
                                           [SL_AGG_SUM] = "sum",
                                           [SL_AGG_MIN] = "min",
                                           [SL_AGG_MAX] = "max",
                                           [SL_AGG_AVG] = "avg"};
    static const or_window_type types[] = {[SL_WIN_TUMBLING] = OR_TUMBLING,
                                           [SL_WIN_HOPPING] = OR_HOPPING,
                                           [SL_WIN_SESSION] = OR_SESSION};
    const char *names[16], *fns[16];
    int cols[16];
    assert_true(cfg->naggs <= 16);
    for (size_t a = 0; a < cfg->naggs; a++) {
        names[a] = cfg->aggs[a].escaped;
        fns[a] = fn_names[cfg->aggs[a].fn];
        cols[a] = cfg->aggs[a].column;
    }
    or_config oc = {.type = types[cfg->type],
                    .size = cfg->size,
                    .slide = cfg->slide,
                    .gap = cfg->gap,
                    .lateness = cfg->lateness,
                    .ooo = cfg->ooo,
                    .agg_names = names,
                    .agg_fns = fns,
                    .naggs = cfg->naggs,
                    .agg_cols = cols};
    or_output out = {0};
    or_task *t = oracle_task_new(&oc, &out);
    for (size_t i = 0; i < s->n; i++) {
        const ws_op *op = &s->ops[i];
        if (op->advance) {
            oracle_task_advance(t, op->ts);
            continue;
        }
        const sl_num *in[WS_NCOLUMNS] = {[WS_COL_AMOUNT] = &op->amount, [WS_COL_QTY] = &op->qty};
        or_num vals[WS_NCOLUMNS];
        for (int c = 0; c < WS_NCOLUMNS; c++)
            vals[c] = (or_num){.is_double = in[c]->is_double, .i = in[c]->v.i, .d = in[c]->v.d};
        or_event e = {.key = s->keys[op->key], .ts = op->ts, .cols = vals, .offset = op->offset};
        oracle_task_event(t, &e);
    }
    if (cfg->close)
        oracle_task_close(t);
    memset(o, 0, sizeof(*o));
    o->wm = oracle_task_watermark(t);
    o->max_ts = oracle_task_max_ts(t);
    oracle_task_free(t);
    for (size_t i = 0; i < out.n; i++) {
        const or_result *r = &out.results[i];
        ws_capture_result(&o->out, r->key, strlen(r->key), r->value, strlen(r->value), r->end - 1,
                          r->update);
    }
    for (size_t i = 0; i < out.nlates; i++)
        ws_capture_late(&o->out, out.lates[i].offset, out.lates[i].wm);
    o->stats.events = out.events;
    o->stats.late_dropped = out.late;
    o->stats.late_updates = out.updates;
    o->stats.windows_fired = out.fired;
    oracle_output_free(&out);
}

static void oracle_free(oracle *o)
{
    ws_capture_free(&o->out);
}

/* ------------------------------------------------------------------------ */
/* Operator vs reference                                                     */
/* ------------------------------------------------------------------------ */

static const uint32_t batch_sizes[] = {1, 7, 100, 4096};

/* Runs one configuration through the oracle and the operator at every batch
 * size. Returns the number of results compared. */
static size_t check_config(const ws_config *cfg, const ws_stream *s, uint64_t seed)
{
    sl_window_def def;
    sl_agg_def aggs[16];
    sl_watermark_def wmdef;
    ws_make_def(cfg, &def, aggs, &wmdef);
    oracle o;
    oracle_run_stream(cfg, s, &o);
    char desc[512], what[700];
    ws_describe(cfg, desc, sizeof(desc));
    for (size_t b = 0; b < SL_ARRAY_LEN(batch_sizes); b++) {
        snprintf(what, sizeof(what), "seed %" PRIu64 " batch %u [%s]", seed, batch_sizes[b], desc);
        sl_window_task *t = sl_window_task_new(&def, &wmdef);
        assert_non_null(t);
        ws_capture got = {0};
        ws_feed(t, s, 0, s->n, batch_sizes[b], &got);
        if (cfg->close)
            ws_close(t, &got);
        if (ws_compare(&o.out, &got, what))
            fail_msg("%s: results differ from the reference", what);
        const sl_window_stats *st = sl_window_task_stats(t);
        if (st->events != o.stats.events || st->late_dropped != o.stats.late_dropped ||
            st->late_updates != o.stats.late_updates || st->windows_fired != o.stats.windows_fired)
            fail_msg("%s: stats differ: events %" PRIu64 "/%" PRIu64 " late %" PRIu64 "/%" PRIu64
                     " updates %" PRIu64 "/%" PRIu64 " fired %" PRIu64 "/%" PRIu64,
                     what, st->events, o.stats.events, st->late_dropped, o.stats.late_dropped,
                     st->late_updates, o.stats.late_updates, st->windows_fired,
                     o.stats.windows_fired);
        assert_int_equal(sl_window_task_watermark(t), o.wm);
        assert_int_equal(sl_window_task_max_ts(t), o.max_ts);
        if (cfg->close) /* everything freed: only the task and its plan remain */
            assert_true(sl_window_task_state_bytes(t) < 2048);
        ws_capture_free(&got);
        sl_window_task_free(t);
    }
    size_t n = o.out.n;
    oracle_free(&o);
    return n;
}

/* nkeys/nevents > 0 override the random configuration's. */
static void run_random(int type, uint64_t first_seed, int nseeds, int nkeys, size_t nevents)
{
    size_t results = 0, late = 0, updates = 0;
    for (int i = 0; i < nseeds; i++) {
        uint64_t seed = first_seed + (uint64_t)i;
        ws_rng r = {seed * 0x632BE59BD9B4E019ull + 1};
        ws_config cfg;
        ws_random_config(&r, type, &cfg);
        if (nkeys && cfg.key_style != 3) {
            cfg.nkeys = nkeys;
            cfg.key_style = cfg.key_style == 0 ? 0 : 2;
        }
        if (nevents)
            cfg.nevents = nevents;
        ws_stream s;
        ws_make_stream(&r, &cfg, &s);
        oracle o;
        oracle_run_stream(&cfg, &s, &o);
        late += o.stats.late_dropped;
        updates += o.stats.late_updates;
        oracle_free(&o);
        results += check_config(&cfg, &s, seed);
        ws_stream_free(&s);
    }
    /* the streams must actually exercise lateness */
    assert_true(results > 1000);
    assert_true(late > 0);
    assert_true(updates > 0);
    printf("  %d seeds: %zu results, %zu late events, %zu late updates (x4 batch sizes)\n", nseeds,
           results, late, updates);
}

static void test_tumbling_random(void **state)
{
    (void)state;
    run_random(SL_WIN_TUMBLING, 1000, 500, 0, 0);
}

static void test_hopping_random(void **state)
{
    (void)state;
    run_random(SL_WIN_HOPPING, 2000, 500, 0, 0);
}

static void test_session_random(void **state)
{
    (void)state;
    run_random(SL_WIN_SESSION, 3000, 500, 0, 0);
}

/* Many sessions with negative and positive ends fired by one close: one
 * big sort across different window ends. */
static void test_session_close_across_zero(void **state)
{
    (void)state;
    for (int style = 0; style < 3; style++) {
        ws_rng r = {77 + (uint64_t)style};
        ws_config cfg;
        ws_random_config(&r, SL_WIN_SESSION, &cfg);
        cfg.gap = 7;
        cfg.lateness = 0;
        cfg.ooo = 100000; /* nothing fires before close */
        cfg.key_style = style;
        cfg.nkeys = 150;
        cfg.pct_late = 0;
        cfg.pct_advance = 0;
        cfg.disorder = 5;
        cfg.max_step = 1;
        cfg.base = -300;
        cfg.nevents = 600;
        cfg.close = 1;
        ws_stream s;
        ws_make_stream(&r, &cfg, &s);
        assert_true(check_config(&cfg, &s, 77) > 100);
        ws_stream_free(&s);
    }
}

/* Fewer, longer streams over many keys: table growth, big sorts, session
 * key-table compaction. */
static void test_many_keys_random(void **state)
{
    (void)state;
    run_random(SL_WIN_TUMBLING, 4000, 4, 3000, 8000);
    run_random(SL_WIN_HOPPING, 5000, 4, 3000, 8000);
    run_random(SL_WIN_SESSION, 6000, 4, 3000, 8000);
}

/* ------------------------------------------------------------------------ */
/* Hand-checked scenarios (the reference is not the only judge)              */
/* ------------------------------------------------------------------------ */

typedef struct hand_ev {
    const char *key;
    int64_t ts;
    int64_t amount;
} hand_ev;

/* Runs events (ts == INT64_MIN + 1 means: advance to `amount`) and then
 * close, and returns the concatenation of "U|" / "F|" + value + "\n". */
static char *run_hand(const sl_window_def *def, const sl_watermark_def *wm, const hand_ev *evs,
                      size_t n, sl_window_stats *stats_out)
{
    sl_window_task *t = sl_window_task_new(def, wm);
    assert_non_null(t);
    ws_capture cap = {0};
    sl_emitter em = {.result = ws_on_result, .late = ws_on_late, .ctx = &cap};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1, WS_NCOLUMNS);
    for (size_t i = 0; i < n; i++) {
        if (evs[i].ts == INT64_MIN + 1) {
            sl_window_task_advance(t, evs[i].amount, &em);
            continue;
        }
        sl_batch_reset(b);
        b->count = 1;
        b->ts[0] = evs[i].ts;
        b->offset[0] = (int64_t)i;
        uint32_t kl = (uint32_t)strlen(evs[i].key);
        b->key_off[0] = sl_batch_put_bytes(b, evs[i].key, kl);
        b->key_len[0] = kl;
        b->key_hash[0] = sl_hash64(evs[i].key, kl);
        sl_batch_val(b, 0, 0)->is_double = 0;
        sl_batch_val(b, 0, 0)->v.i = evs[i].amount;
        sl_batch_val(b, 1, 0)->is_double = 0;
        sl_batch_val(b, 1, 0)->v.i = 0;
        sl_window_task_process(t, b, &em);
    }
    sl_window_task_close(t, &em);
    *stats_out = *sl_window_task_stats(t);
    size_t len = 1;
    for (size_t i = 0; i < cap.n; i++)
        len += strlen(cap.res[i].value) + strlen(cap.res[i].key) + 8;
    char *s = calloc(1, len), *p = s;
    for (size_t i = 0; i < cap.n; i++)
        p += sprintf(p, "%s%s %s\n", cap.res[i].update ? "U|" : "F|", cap.res[i].key,
                     cap.res[i].value);
    ws_capture_free(&cap);
    sl_batch_free(b);
    sl_window_task_free(t);
    return s;
}

static void test_tumbling_hand(void **state)
{
    (void)state;
    sl_agg_def aggs[] = {{.name = (char *)"orders", .fn = SL_AGG_COUNT, .column = -1},
                         {.name = (char *)"total", .fn = SL_AGG_SUM, .column = 0},
                         {.name = (char *)"biggest", .fn = SL_AGG_MAX, .column = 0}};
    sl_window_def def = {.type = SL_WIN_TUMBLING,
                         .size_ms = 1000,
                         .allowed_lateness_ms = 500,
                         .aggs = aggs,
                         .naggs = 3,
                         .ncolumns = 1};
    sl_watermark_def wm = {.max_out_of_orderness_ms = 100};
    const hand_ev evs[] = {
        {"\"user\":\"u2\"", 100, 5},   {"\"user\":\"u10\"", 200, 7},
        {"\"user\":\"u1\"", 950, 1},   {"\"user\":\"u2\"", 1099, 3}, /* wm 999: nothing fired yet */
        {"\"user\":\"u1\"", 1100, 4},  /* wm 1000: [0,1000) fires, keys in byte order */
        {"\"user\":\"u1\"", 999, 10},  /* fired, within lateness: update */
        {"\"user\":\"u3\"", 500, 2},   /* new key in a fired window: update */
        {"\"user\":\"u1\"", 1600, 1},  /* wm 1500: [0,1000) state dropped */
        {"\"user\":\"u1\"", 900, 100}, /* late: dropped */
        {"", INT64_MIN + 1, 2500},     /* idle advance: [1000,2000) fires */
    };
    sl_window_stats st;
    char *out = run_hand(&def, &wm, evs, SL_ARRAY_LEN(evs), &st);
    const char *want =
        "F|{\"user\":\"u1\"} {\"user\":\"u1\",\"window_start\":0,\"window_end\":1000,\"orders\":1,"
        "\"total\":1,\"biggest\":1}\n"
        "F|{\"user\":\"u10\"} "
        "{\"user\":\"u10\",\"window_start\":0,\"window_end\":1000,\"orders\":1,"
        "\"total\":7,\"biggest\":7}\n"
        "F|{\"user\":\"u2\"} {\"user\":\"u2\",\"window_start\":0,\"window_end\":1000,\"orders\":1,"
        "\"total\":5,\"biggest\":5}\n"
        "U|{\"user\":\"u1\"} {\"user\":\"u1\",\"window_start\":0,\"window_end\":1000,\"orders\":2,"
        "\"total\":11,\"biggest\":10}\n"
        "U|{\"user\":\"u3\"} {\"user\":\"u3\",\"window_start\":0,\"window_end\":1000,\"orders\":1,"
        "\"total\":2,\"biggest\":2}\n"
        "F|{\"user\":\"u1\"} "
        "{\"user\":\"u1\",\"window_start\":1000,\"window_end\":2000,\"orders\":2,"
        "\"total\":5,\"biggest\":4}\n"
        "F|{\"user\":\"u2\"} "
        "{\"user\":\"u2\",\"window_start\":1000,\"window_end\":2000,\"orders\":1,"
        "\"total\":3,\"biggest\":3}\n";
    assert_string_equal(out, want);
    assert_int_equal(st.events, 9);
    assert_int_equal(st.late_dropped, 1);
    assert_int_equal(st.late_updates, 2);
    assert_int_equal(st.windows_fired, 5);
    free(out);
}

static void test_hopping_hand(void **state)
{
    (void)state;
    /* size 10, slide 4: slices of 2; windows [0,10) [4,14) [8,18) ... */
    sl_agg_def aggs[] = {{.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1},
                         {.name = (char *)"s", .fn = SL_AGG_SUM, .column = 0}};
    sl_window_def def = {.type = SL_WIN_HOPPING,
                         .size_ms = 10,
                         .slide_ms = 4,
                         .allowed_lateness_ms = 4,
                         .aggs = aggs,
                         .naggs = 2,
                         .ncolumns = 1};
    sl_watermark_def wm = {0};
    const hand_ev evs[] = {
        {"\"k\":1", 9, 1},  /* windows ending 10, 14, 18 */
        {"\"k\":1", 11, 2}, /* in [4,14) [8,18); wm 11 fires [0,10) */
        {"\"k\":1", 3, 4},  /* [0,10): fired, 10+4 > 11 -> update */
        {"\"k\":1", 15, 8}, /* wm 15 fires [4,14); [0,10) expires (10+4 <= 15) */
        {"\"k\":1", 7, 16}, /* [4,14) fired within lateness: update; [8,18) pending */
        {"\"k\":1", 2, 32}, /* [-4,6) and [0,10) both expired: late */
    };
    sl_window_stats st;
    char *out = run_hand(&def, &wm, evs, SL_ARRAY_LEN(evs), &st);
    const char *want =
        "F|{\"k\":1} {\"k\":1,\"window_start\":0,\"window_end\":10,\"n\":1,\"s\":1}\n"
        "U|{\"k\":1} {\"k\":1,\"window_start\":0,\"window_end\":10,\"n\":2,\"s\":5}\n"
        "F|{\"k\":1} {\"k\":1,\"window_start\":4,\"window_end\":14,\"n\":2,\"s\":3}\n"
        "U|{\"k\":1} {\"k\":1,\"window_start\":4,\"window_end\":14,\"n\":3,\"s\":19}\n"
        "F|{\"k\":1} {\"k\":1,\"window_start\":8,\"window_end\":18,\"n\":3,\"s\":11}\n"
        "F|{\"k\":1} {\"k\":1,\"window_start\":12,\"window_end\":22,\"n\":1,\"s\":8}\n";
    assert_string_equal(out, want);
    assert_int_equal(st.late_dropped, 1);
    free(out);
}

static void test_session_hand(void **state)
{
    (void)state;
    sl_agg_def aggs[] = {{.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1},
                         {.name = (char *)"s", .fn = SL_AGG_SUM, .column = 0}};
    sl_window_def def = {.type = SL_WIN_SESSION,
                         .gap_ms = 10,
                         .allowed_lateness_ms = 50,
                         .aggs = aggs,
                         .naggs = 2,
                         .ncolumns = 1};
    sl_watermark_def wm = {0};
    /* The boundary rule (as Flink's): an event's session is [ts, ts + gap)
     * and sessions that overlap or touch merge, so events exactly `gap`
     * apart are one session and `gap` + 1 apart are two. */
    const hand_ev evs[] = {
        {"\"k\":\"a\"", 0, 1},    /* a: [0,10) */
        {"\"k\":\"b\"", 5, 2},    /* b: [5,15) */
        {"\"k\":\"b\"", 16, 4},   /* gap + 1 after 5: b [16,26); wm 16 fires a[0,10) b[5,15) */
        {"\"k\":\"a\"", 20, 8},   /* a: [20,30), 2 gaps after 0 */
        {"\"k\":\"a\"", 10, 16},  /* [10,20) touches [0,10) and [20,30): a [0,30) re-opened */
        {"\"k\":\"b\"", 26, 32},  /* exactly gap after 16: b [16,36) */
        {"\"k\":\"a\"", 50, 64},  /* wm 50: fires a[0,30), b[16,36) */
        {"\"k\":\"b\"", 120, 1},  /* wm 120: a[50,60) fires; everything old purged */
        {"\"k\":\"a\"", 55, 128}, /* 55 + 10 + 50 <= 120: late */
    };
    sl_window_stats st;
    char *out = run_hand(&def, &wm, evs, SL_ARRAY_LEN(evs), &st);
    const char *want =
        "F|{\"k\":\"a\"} {\"k\":\"a\",\"window_start\":0,\"window_end\":10,\"n\":1,\"s\":1}\n"
        "F|{\"k\":\"b\"} {\"k\":\"b\",\"window_start\":5,\"window_end\":15,\"n\":1,\"s\":2}\n"
        "F|{\"k\":\"a\"} {\"k\":\"a\",\"window_start\":0,\"window_end\":30,\"n\":3,\"s\":25}\n"
        "F|{\"k\":\"b\"} {\"k\":\"b\",\"window_start\":16,\"window_end\":36,\"n\":2,\"s\":36}\n"
        "F|{\"k\":\"a\"} {\"k\":\"a\",\"window_start\":50,\"window_end\":60,\"n\":1,\"s\":64}\n"
        "F|{\"k\":\"b\"} {\"k\":\"b\",\"window_start\":120,\"window_end\":130,\"n\":1,\"s\":1}\n";
    assert_string_equal(out, want);
    assert_int_equal(st.late_dropped, 1);
    assert_int_equal(st.late_updates, 0);
    assert_int_equal(st.windows_fired, 6);
    free(out);
}

/* No key_by: the message key is {} and the value has no key members. */
static void test_no_key_and_doubles(void **state)
{
    (void)state;
    sl_agg_def aggs[] = {{.name = (char *)"total", .fn = SL_AGG_SUM, .column = 0},
                         {.name = (char *)"lo", .fn = SL_AGG_MIN, .column = 0},
                         {.name = (char *)"mean", .fn = SL_AGG_AVG, .column = 0}};
    sl_window_def def = {
        .type = SL_WIN_TUMBLING, .size_ms = 10, .aggs = aggs, .naggs = 3, .ncolumns = 1};
    sl_watermark_def wm = {0};
    sl_window_task *t = sl_window_task_new(&def, &wm);
    ws_capture cap = {0};
    sl_emitter em = {.result = ws_on_result, .late = NULL, .ctx = &cap};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    const sl_num v[4] = {{.v.i = 3}, {.v.d = 0.1, .is_double = 1}, {.v.i = INT64_MAX}, {.v.i = 1}};
    for (int i = 0; i < 3; i++) {
        b->ts[i] = i;
        b->key_len[i] = 0;
        b->key_off[i] = 0;
        b->key_hash[i] = sl_hash64("", 0);
        *sl_batch_val(b, 0, (uint32_t)i) = v[i];
    }
    b->count = 2;
    sl_window_task_process(t, b, &em);
    sl_window_task_close(t, &em);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.res[0].key, "{}");
    assert_string_equal(cap.res[0].value, "{\"window_start\":0,\"window_end\":10,"
                                          "\"total\":3.1,\"lo\":0.1,"
                                          "\"mean\":1.55}");
    assert_int_equal(cap.res[0].ts, 9);
    sl_window_task_free(t);
    ws_capture_free(&cap);

    /* an integer sum that would overflow int64 becomes a double */
    t = sl_window_task_new(&def, &wm);
    b->ts[0] = 0;
    *sl_batch_val(b, 0, 0) = v[2];
    b->ts[1] = 1;
    *sl_batch_val(b, 0, 1) = v[3];
    b->count = 2;
    em.ctx = &cap;
    sl_window_task_process(t, b, &em);
    sl_window_task_close(t, &em);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.res[0].value, "{\"window_start\":0,\"window_end\":10,"
                                          "\"total\":9.223372036854776e+18,\"lo\":1,"
                                          "\"mean\":4.611686018427388e+18}");
    sl_window_task_free(t);
    ws_capture_free(&cap);
    sl_batch_free(b);
}

/* How doubles print: the shortest text that reads back as the same double,
 * with a '.' or an exponent even when integral (the layout of Python's
 * repr); non-finite as null. */
static void test_double_text(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {148.6, "148.6"},
        {0.1, "0.1"},
        {3.0, "3.0"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {-7.25, "-7.25"},
        {1e300, "1e+300"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {123456789012.5, "123456789012.5"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1.5e-7, "1.5e-07"},
        {2.0 / 3.0, "0.6666666666666666"},
        {0.1 + 0.2, "0.30000000000000004"},
        {5e-324, "5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {9007199254740993.0, "9007199254740992.0"},
        /* a power of two whose nearest 16 digits miss but the next ones up
         * read back (its rounding interval is narrower below) */
        {7.120236347223045e-307, "7.120236347223045e-307"},
        {HUGE_VAL, "null"},
        {-HUGE_VAL, "null"},
        {NAN, "null"},
    };
    sl_agg_def aggs[] = {{.name = (char *)"total", .fn = SL_AGG_SUM, .column = 0}};
    sl_window_def def = {
        .type = SL_WIN_TUMBLING, .size_ms = 10, .aggs = aggs, .naggs = 1, .ncolumns = 1};
    sl_watermark_def wm = {0};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++) {
        sl_window_task *t = sl_window_task_new(&def, &wm);
        ws_capture cap = {0};
        sl_emitter em = {.result = ws_on_result, .late = NULL, .ctx = &cap};
        b->ts[0] = 1;
        b->key_len[0] = 0;
        b->key_off[0] = 0;
        b->key_hash[0] = sl_hash64("", 0);
        *sl_batch_val(b, 0, 0) = (sl_num){.v.d = cases[c].d, .is_double = 1};
        b->count = 1;
        sl_window_task_process(t, b, &em);
        sl_window_task_close(t, &em);
        assert_int_equal(cap.n, 1);
        char want[128];
        snprintf(want, sizeof(want), "{\"window_start\":0,\"window_end\":10,\"total\":%s}",
                 cases[c].want);
        assert_string_equal(cap.res[0].value, want);
        sl_window_task_free(t);
        ws_capture_free(&cap);
    }
    sl_batch_free(b);
}

/* Idle advance with no events, advance backwards (ignored), and a task that
 * is closed twice. */
static void test_advance_and_close_edges(void **state)
{
    (void)state;
    sl_agg_def aggs[] = {{.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1}};
    sl_window_def def = {.type = SL_WIN_TUMBLING, .size_ms = 100, .aggs = aggs, .naggs = 1};
    sl_watermark_def wm = {.max_out_of_orderness_ms = 50};
    sl_window_task *t = sl_window_task_new(&def, &wm);
    ws_capture cap = {0};
    sl_emitter em = {.result = ws_on_result, .late = ws_on_late, .ctx = &cap};
    assert_int_equal(sl_window_task_watermark(t), INT64_MIN);
    assert_int_equal(sl_window_task_max_ts(t), INT64_MIN);
    sl_window_task_advance(t, 1000, &em);
    assert_int_equal(sl_window_task_watermark(t), 1000);
    sl_window_task_advance(t, 10, &em);
    assert_int_equal(sl_window_task_watermark(t), 1000);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 2, 0);
    b->count = 2;
    b->ts[0] = 1050; /* window [1000,1100), not fired */
    b->ts[1] = 999;  /* [900,1000) fired and expired: late against wm 1000 */
    for (int i = 0; i < 2; i++) {
        b->key_len[i] = 0;
        b->key_off[i] = 0;
        b->key_hash[i] = 0;
        b->offset[i] = 70 + i;
    }
    sl_window_task_process(t, b, &em);
    assert_int_equal(cap.n, 0);
    assert_int_equal(cap.nlate, 1);
    assert_int_equal(cap.late_offsets[0], 71);
    assert_int_equal(cap.late_wm[0], 1000);
    assert_int_equal(sl_window_task_max_ts(t), 1050);
    sl_window_task_advance(t, 1100, &em);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.res[0].value, "{\"window_start\":1000,\"window_end\":1100,\"n\":1}");
    sl_window_task_close(t, &em);
    sl_window_task_close(t, &em);
    assert_int_equal(cap.n, 1);
    assert_int_equal(sl_window_task_watermark(t), INT64_MAX);
    sl_batch_free(b);
    ws_capture_free(&cap);
    sl_window_task_free(t);
    sl_window_task_free(NULL);
}

/* Event times, lateness and out-of-orderness at the ends of int64: no
 * overflow (UBSan), no hang, every event counted, everything freed at
 * close. (Windows at the very ends may never fire: window.c saturates.) */
static void test_extreme_times(void **state)
{
    (void)state;
    const int64_t times[] = {INT64_MIN, INT64_MIN + 1,   INT64_MIN + 999, -1,        0,
                             1,         INT64_MAX - 999, INT64_MAX - 1,   INT64_MAX, 5};
    sl_agg_def aggs[] = {{.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1},
                         {.name = (char *)"s", .fn = SL_AGG_SUM, .column = 0}};
    for (int type = 0; type < 3; type++)
        for (int variant = 0; variant < 4; variant++) {
            sl_window_def def = {.type = (sl_window_type)type,
                                 .size_ms = 1000,
                                 .slide_ms = 300,
                                 .gap_ms = 1000,
                                 .allowed_lateness_ms = variant & 1 ? INT64_MAX / 2 : 0,
                                 .aggs = aggs,
                                 .naggs = 2,
                                 .ncolumns = 1};
            sl_watermark_def wm = {.max_out_of_orderness_ms = variant & 2 ? INT64_MAX : 0};
            sl_window_task *t = sl_window_task_new(&def, &wm);
            ws_capture cap = {0};
            sl_emitter em = {.result = ws_on_result, .late = ws_on_late, .ctx = &cap};
            sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, SL_ARRAY_LEN(times), 1);
            for (uint32_t i = 0; i < SL_ARRAY_LEN(times); i++) {
                b->ts[i] = times[i];
                b->offset[i] = i;
                b->key_off[i] = sl_batch_put_bytes(b, "\"k\":1", 5);
                b->key_len[i] = 5;
                b->key_hash[i] = 42;
                sl_batch_val(b, 0, i)->is_double = 0;
                sl_batch_val(b, 0, i)->v.i = 1;
            }
            b->count = SL_ARRAY_LEN(times);
            sl_window_task_process(t, b, &em);
            sl_window_task_advance(t, INT64_MAX - 1, &em);
            sl_window_task_process(t, b, &em);
            sl_window_task_close(t, &em);
            assert_int_equal(sl_window_task_stats(t)->events, 2 * SL_ARRAY_LEN(times));
            assert_true(sl_window_task_state_bytes(t) < 2048);
            ws_capture_free(&cap);
            sl_batch_free(b);
            sl_window_task_free(t);
        }
}

/* The integer formatter against printf. */
static void test_put_i64(void **state)
{
    (void)state;
    const int64_t edge[] = {0,
                            1,
                            -1,
                            9,
                            10,
                            11,
                            99,
                            100,
                            101,
                            -99,
                            -100,
                            999,
                            1000,
                            INT64_MAX,
                            INT64_MIN,
                            INT64_MIN + 1,
                            1700000000000,
                            -1700000000001};
    ws_rng r = {5};
    for (int i = 0; i < 20000; i++) {
        int64_t v = i < (int)SL_ARRAY_LEN(edge)
                        ? edge[i]
                        : (int64_t)(ws_next(&r) >> ws_below(&r, 64)) * (ws_chance(&r, 50) ? -1 : 1);
        char want[32], got[32];
        snprintf(want, sizeof(want), "%" PRId64, v);
        *sl_agg_put_i64(got, v) = 0;
        assert_string_equal(got, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_i64),
        cmocka_unit_test(test_tumbling_hand),
        cmocka_unit_test(test_hopping_hand),
        cmocka_unit_test(test_session_hand),
        cmocka_unit_test(test_no_key_and_doubles),
        cmocka_unit_test(test_double_text),
        cmocka_unit_test(test_advance_and_close_edges),
        cmocka_unit_test(test_extreme_times),
        cmocka_unit_test(test_tumbling_random),
        cmocka_unit_test(test_hopping_random),
        cmocka_unit_test(test_session_random),
        cmocka_unit_test(test_session_close_across_zero),
        cmocka_unit_test(test_many_keys_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
