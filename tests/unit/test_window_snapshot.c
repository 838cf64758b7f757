/*
 * test_window_snapshot.c - window task snapshot and restore.
 *
 *  - Random streams (tumbling, hopping, session; see window_stream.h) are cut
 *    at random points: snapshot, free the task, restore into a new one, go
 *    on. The results, late events and stats must be identical to an
 *    uninterrupted run, and a snapshot of the restored task must be
 *    byte-identical to the one it was restored from.
 *  - Every single-bit flip and every truncation of a snapshot is refused
 *    (SL_ECORRUPT, or SL_EVERSION for the version field) and leaves the task
 *    empty and usable; random damage behind a recomputed checksum is refused
 *    or accepted without crashing (ASan), never half-restored; a snapshot of
 *    another window definition is refused with SL_EINVAL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "window.h"
#include "window_stream.h"

static const uint32_t batch_sizes[] = {1, 7, 100, 4096};

typedef struct setup {
    ws_config cfg;
    ws_stream s;
    sl_window_def def;
    sl_agg_def aggs[16];
    sl_watermark_def wm;
} setup;

/* When set, setup_make gives the definitions the sketch aggregates
 * (count_distinct & co. over the stream's numeric columns) instead. */
static int use_sketches;
static const ws_agg sketch_aggs[] = {
    {"n", "n", SL_AGG_COUNT, -1},
    {"d", "d", SL_AGG_COUNT_DISTINCT, WS_COL_QTY},
    {"ad", "ad", SL_AGG_APPROX_COUNT_DISTINCT, WS_COL_AMOUNT},
    {"p", "p", SL_AGG_APPROX_PERCENTILE, WS_COL_AMOUNT},
    {"m", "m", SL_AGG_MEDIAN, WS_COL_QTY},
    {"total", "total", SL_AGG_SUM, WS_COL_AMOUNT},
};
static double sketch_q[] = {0.25, 0.5, 0.999};
static sl_agg_params sketch_params[] = {{0}, {0}, {0}, {.q = sketch_q, .nq = 3, .q_list = 1},
                                        {0}, {0}};

static void setup_make(setup *u, uint64_t seed, int type)
{
    ws_rng r = {seed * 0x2545F4914F6CDD1Dull + 7};
    ws_random_config(&r, type, &u->cfg);
    if (use_sketches) {
        u->cfg.aggs = sketch_aggs;
        u->cfg.naggs = SL_ARRAY_LEN(sketch_aggs);
    }
    ws_make_stream(&r, &u->cfg, &u->s);
    ws_make_def(&u->cfg, &u->def, u->aggs, &u->wm);
    if (use_sketches)
        u->def.agg_params = sketch_params;
}

static int stats_equal(const sl_window_stats *a, const sl_window_stats *b)
{
    return a->events == b->events && a->late_dropped == b->late_dropped &&
           a->late_updates == b->late_updates && a->windows_fired == b->windows_fired;
}

/* Snapshots t, frees it and returns a restored copy; checks that the copy
 * reports the same watermark, max_ts and stats and re-snapshots to the same
 * bytes. */
static sl_window_task *snapshot_roundtrip(setup *u, sl_window_task *t, size_t *snap_bytes)
{
    sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_window_task_snapshot(t, &b), 0);
    /* trailing bytes belong to whoever wrote next: restore must stop at its end */
    sl_buf_put_u32(&b, 0xdeadbeef);
    int64_t wm = sl_window_task_watermark(t), mx = sl_window_task_max_ts(t);
    sl_window_stats st = *sl_window_task_stats(t);
    sl_window_task_free(t);

    sl_window_task *n = sl_window_task_new(&u->def, &u->wm);
    assert_non_null(n);
    sl_reader r;
    sl_reader_init(&r, b.data, b.len);
    char err[256] = "";
    int rc = sl_window_task_restore(n, &r, err, sizeof(err));
    if (rc != 0)
        fail_msg("restore failed: %s (%s)", sl_err2str(rc), err);
    assert_int_equal(r.pos, b.len - 4);
    assert_int_equal(sl_window_task_watermark(n), wm);
    assert_int_equal(sl_window_task_max_ts(n), mx);
    assert_true(stats_equal(sl_window_task_stats(n), &st));

    sl_buf again;
    sl_buf_init(&again);
    assert_int_equal(sl_window_task_snapshot(n, &again), 0);
    assert_int_equal(again.len, b.len - 4);
    assert_memory_equal(again.data, b.data, again.len);
    *snap_bytes += again.len;
    sl_buf_free(&again);
    sl_buf_free(&b);
    return n;
}

static void run_cut(int type, uint64_t first_seed, int nseeds)
{
    size_t results = 0, cuts = 0, snap_bytes = 0;
    for (int i = 0; i < nseeds; i++) {
        uint64_t seed = first_seed + (uint64_t)i;
        setup u;
        setup_make(&u, seed, type);
        uint32_t bs = batch_sizes[seed % SL_ARRAY_LEN(batch_sizes)];

        /* uninterrupted */
        ws_capture want = {0};
        sl_window_task *t = sl_window_task_new(&u.def, &u.wm);
        ws_feed(t, &u.s, 0, u.s.n, bs, &want);
        if (u.cfg.close)
            ws_close(t, &want);
        sl_window_stats want_stats = *sl_window_task_stats(t);
        sl_window_task_free(t);

        /* cut at 1..4 random points, in order */
        ws_rng r = {seed ^ 0xabcdef};
        int ncut = (int)ws_range(&r, 1, 4);
        size_t at[4];
        for (int c = 0; c < ncut; c++)
            at[c] = (size_t)ws_below(&r, (int64_t)u.s.n + 1);
        for (int a = 0; a < ncut; a++) /* sort */
            for (int b = a + 1; b < ncut; b++)
                if (at[b] < at[a]) {
                    size_t x = at[a];
                    at[a] = at[b];
                    at[b] = x;
                }
        ws_capture got = {0};
        t = sl_window_task_new(&u.def, &u.wm);
        size_t from = 0;
        for (int c = 0; c < ncut; c++) {
            ws_feed(t, &u.s, from, at[c], bs, &got);
            from = at[c];
            t = snapshot_roundtrip(&u, t, &snap_bytes);
            cuts++;
        }
        ws_feed(t, &u.s, from, u.s.n, bs, &got);
        if (u.cfg.close) {
            ws_close(t, &got);
            /* a closed task snapshots and restores too */
            t = snapshot_roundtrip(&u, t, &snap_bytes);
            assert_int_equal(sl_window_task_watermark(t), INT64_MAX);
        }
        char desc[512], what[700];
        ws_describe(&u.cfg, desc, sizeof(desc));
        snprintf(what, sizeof(what), "seed %" PRIu64 " batch %u cuts %d [%s]", seed, bs, ncut,
                 desc);
        if (ws_compare(&want, &got, what))
            fail_msg("%s: restored run differs from the uninterrupted one", what);
        assert_true(stats_equal(sl_window_task_stats(t), &want_stats));
        results += want.n;
        ws_capture_free(&want);
        ws_capture_free(&got);
        sl_window_task_free(t);
        ws_stream_free(&u.s);
    }
    assert_true(results > 1000);
    printf("  %d seeds, %zu cuts, %zu results, %zu snapshot bytes\n", nseeds, cuts, results,
           snap_bytes);
}

static void test_cut_tumbling(void **state)
{
    (void)state;
    run_cut(SL_WIN_TUMBLING, 100, 250);
}

static void test_cut_hopping(void **state)
{
    (void)state;
    run_cut(SL_WIN_HOPPING, 200, 250);
}

static void test_cut_session(void **state)
{
    (void)state;
    run_cut(SL_WIN_SESSION, 300, 250);
}

/* ------------------------------------------------------------------------ */
/* Damaged snapshots                                                         */
/* ------------------------------------------------------------------------ */

/* A task of `type` fed with the first half of a stream with state in it,
 * its snapshot in *out, and the index where the stream was cut. */
static sl_window_task *loaded_task(setup *u, int type, uint64_t seed, sl_buf *out, size_t *cut)
{
    for (;; seed++) {
        setup_make(u, seed, type);
        sl_window_task *t = sl_window_task_new(&u->def, &u->wm);
        ws_capture cap = {0};
        *cut = u->s.n / 2;
        ws_feed(t, &u->s, 0, *cut, 64, &cap);
        ws_capture_free(&cap);
        sl_buf_init(out);
        assert_int_equal(sl_window_task_snapshot(t, out), 0);
        if (out->len > 400)
            return t;
        sl_buf_free(out);
        sl_window_task_free(t);
        ws_stream_free(&u->s);
    }
}

static void assert_empty(sl_window_task *t)
{
    const sl_window_stats *st = sl_window_task_stats(t);
    assert_int_equal(sl_window_task_watermark(t), INT64_MIN);
    assert_int_equal(sl_window_task_max_ts(t), INT64_MIN);
    assert_int_equal(st->events + st->late_dropped + st->late_updates + st->windows_fired, 0);
    assert_true(sl_window_task_state_bytes(t) < 2048);
}

/* Restores `data` into t; returns the error code. */
static int restore_bytes(sl_window_task *t, const void *data, size_t len, char *err, size_t errsz)
{
    /* an exactly sized copy, so ASan sees any read past the end */
    void *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    sl_reader r;
    sl_reader_init(&r, copy, len);
    int rc = sl_window_task_restore(t, &r, err, errsz);
    free(copy);
    return rc;
}

/* The continuation of a task restored from snap equals `want`. */
static void check_continuation(setup *u, sl_window_task *t, size_t cut, const ws_capture *want)
{
    ws_capture got = {0};
    ws_feed(t, &u->s, cut, u->s.n, 100, &got);
    ws_close(t, &got);
    if (ws_compare(want, &got, "continuation after a refused restore"))
        fail_msg("continuation differs");
    ws_capture_free(&got);
}

static void damage_type(int type, uint64_t seed)
{
    setup u;
    sl_buf snap;
    size_t cut;
    sl_window_task *orig = loaded_task(&u, type, seed, &snap, &cut);
    ws_capture want = {0};
    ws_feed(orig, &u.s, cut, u.s.n, 100, &want);
    ws_close(orig, &want);
    sl_window_task_free(orig);

    sl_window_task *t = sl_window_task_new(&u.def, &u.wm);
    char err[256];

    /* every single-bit flip (one bit per byte, rotating) */
    for (size_t i = 0; i < snap.len; i++) {
        snap.data[i] ^= (uint8_t)(1u << (i % 8));
        err[0] = 0;
        int rc = restore_bytes(t, snap.data, snap.len, err, sizeof(err));
        snap.data[i] ^= (uint8_t)(1u << (i % 8));
        if (i >= 4 && i < 8)
            assert_int_equal(rc, SL_EVERSION);
        else if (rc != SL_ECORRUPT)
            fail_msg("bit flip at byte %zu of %zu: rc %d (%s)", i, snap.len, rc, err);
        assert_true(err[0] != 0);
        assert_empty(t);
    }
    /* every truncation */
    for (size_t n = 0; n < snap.len; n++) {
        int rc = restore_bytes(t, snap.data, n, err, sizeof(err));
        if (rc != SL_ECORRUPT)
            fail_msg("truncated to %zu of %zu: rc %d", n, snap.len, rc);
        assert_empty(t);
    }
    /* after all that the task still restores and continues correctly */
    assert_int_equal(restore_bytes(t, snap.data, snap.len, err, sizeof(err)), 0);
    check_continuation(&u, t, cut, &want);
    sl_window_task_free(t);

    /* damage behind a valid checksum: the structural checks must hold */
    ws_rng r = {seed};
    size_t accepted = 0, refused = 0;
    uint8_t *buf = malloc(snap.len);
    for (int trial = 0; trial < 1500; trial++) {
        memcpy(buf, snap.data, snap.len);
        int nflips = (int)ws_range(&r, 1, 3);
        for (int f = 0; f < nflips; f++) {
            size_t at = 16 + (size_t)ws_below(&r, (int64_t)snap.len - 20);
            buf[at] = ws_chance(&r, 50) ? (uint8_t)ws_below(&r, 256) : (uint8_t)(buf[at] ^ 0x80);
        }
        uint32_t crc = sl_crc32c(0, buf, snap.len - 4);
        for (int k = 0; k < 4; k++)
            buf[snap.len - 4 + k] = (uint8_t)(crc >> (8 * k));
        t = sl_window_task_new(&u.def, &u.wm);
        int rc = restore_bytes(t, buf, snap.len, err, sizeof(err));
        if (rc == 0) {
            accepted++;
            /* whatever was accepted must run without crashing */
            ws_capture got = {0};
            ws_feed(t, &u.s, cut, u.s.n, 100, &got);
            ws_close(t, &got);
            ws_capture_free(&got);
        } else {
            refused++;
            assert_true(rc == SL_ECORRUPT || rc == SL_EINVAL);
            assert_empty(t);
        }
        sl_window_task_free(t);
    }
    free(buf);
    assert_true(refused > 0);
    printf("  type %d: %zu-byte snapshot, checksummed damage: %zu refused, %zu accepted\n", type,
           snap.len, refused, accepted);

    ws_capture_free(&want);
    sl_buf_free(&snap);
    ws_stream_free(&u.s);
}

static void test_damaged_snapshots(void **state)
{
    (void)state;
    damage_type(SL_WIN_TUMBLING, 11);
    damage_type(SL_WIN_HOPPING, 12);
    damage_type(SL_WIN_SESSION, 13);
}

/* The same with the sketch aggregates: their out-of-line states through
 * random cuts, bit flips, truncations and checksummed damage. */
static void test_sketches(void **state)
{
    (void)state;
    use_sketches = 1;
    run_cut(SL_WIN_TUMBLING, 400, 60);
    run_cut(SL_WIN_HOPPING, 500, 60);
    run_cut(SL_WIN_SESSION, 600, 60);
    damage_type(SL_WIN_TUMBLING, 21);
    damage_type(SL_WIN_HOPPING, 22);
    damage_type(SL_WIN_SESSION, 23);
    use_sketches = 0;
}

/* A snapshot made for another definition is refused (SL_EINVAL). */
static void test_foreign_definition(void **state)
{
    (void)state;
    setup u;
    sl_buf snap;
    size_t cut;
    sl_window_task *t = loaded_task(&u, SL_WIN_TUMBLING, 21, &snap, &cut);
    sl_window_task_free(t);
    char err[256];

    sl_window_def other = u.def;
    other.size_ms = u.def.size_ms * 2;
    t = sl_window_task_new(&other, &u.wm);
    assert_int_equal(restore_bytes(t, snap.data, snap.len, err, sizeof(err)), SL_EINVAL);
    assert_empty(t);
    sl_window_task_free(t);

    other = u.def;
    other.type = SL_WIN_SESSION;
    other.gap_ms = 10;
    t = sl_window_task_new(&other, &u.wm);
    assert_int_equal(restore_bytes(t, snap.data, snap.len, err, sizeof(err)), SL_EINVAL);
    sl_window_task_free(t);

    sl_agg_def fewer[1] = {{.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1}};
    other = u.def;
    other.aggs = fewer;
    other.naggs = 1;
    t = sl_window_task_new(&other, &u.wm);
    int rc = restore_bytes(t, snap.data, snap.len, err, sizeof(err));
    /* the generated definition may itself be count-only */
    if (u.def.naggs != 1 || u.def.aggs[0].fn != SL_AGG_COUNT)
        assert_int_equal(rc, SL_EINVAL);
    sl_window_task_free(t);

    /* a different watermark setting is not part of the state */
    sl_watermark_def wm2 = u.wm;
    wm2.max_out_of_orderness_ms += 5;
    t = sl_window_task_new(&u.def, &wm2);
    assert_int_equal(restore_bytes(t, snap.data, snap.len, err, sizeof(err)), 0);
    sl_window_task_free(t);

    /* garbage and an empty input */
    t = sl_window_task_new(&u.def, &u.wm);
    assert_int_equal(restore_bytes(t, "not a snapshot at all", 21, err, sizeof(err)), SL_ECORRUPT);
    assert_int_equal(restore_bytes(t, "", 0, err, sizeof(err)), SL_ECORRUPT);
    assert_empty(t);
    sl_window_task_free(t);

    sl_buf_free(&snap);
    ws_stream_free(&u.s);
}

/* A restore replaces whatever state the task had. */
static void test_restore_replaces_state(void **state)
{
    (void)state;
    setup u;
    sl_buf snap;
    size_t cut;
    sl_window_task *a = loaded_task(&u, SL_WIN_SESSION, 31, &snap, &cut);
    ws_capture want = {0};
    ws_feed(a, &u.s, cut, u.s.n, 7, &want);
    ws_close(a, &want);
    sl_window_task_free(a);

    /* a task that already processed the whole stream, then restored */
    sl_window_task *t = sl_window_task_new(&u.def, &u.wm);
    ws_capture junk = {0};
    ws_feed(t, &u.s, 0, u.s.n, 50, &junk);
    ws_capture_free(&junk);
    char err[256];
    assert_int_equal(restore_bytes(t, snap.data, snap.len, err, sizeof(err)), 0);
    check_continuation(&u, t, cut, &want);
    sl_window_task_free(t);
    ws_capture_free(&want);
    sl_buf_free(&snap);
    ws_stream_free(&u.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_tumbling),       cmocka_unit_test(test_cut_hopping),
        cmocka_unit_test(test_cut_session),        cmocka_unit_test(test_damaged_snapshots),
        cmocka_unit_test(test_foreign_definition), cmocka_unit_test(test_restore_replaces_state),
        cmocka_unit_test(test_sketches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
