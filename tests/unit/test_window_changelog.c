/*
 * test_window_changelog.c - the window operator in upsert mode (a sink
 * with "emit": "upsert", operators/window.h): result keys carry
 * window_start, a late update replaces its window's record, and a session
 * merge that replaces (or moves the start of) sessions already emitted
 * writes a tombstone for each of them.
 *
 * Hand-written cases pin the exact rows (keys, tombstones, their order and
 * timestamps, the stats); snapshots carry what a later merge needs to
 * delete a session emitted before the checkpoint, and append-mode
 * snapshots keep their old format and load in upsert mode.
 *
 * The oracle test: seeded random streams (disorder, events late within and
 * beyond allowed_lateness, idle advances; tumbling, hopping and session
 * windows), fed at several batch sizes, some with a snapshot and restore
 * into a new task part way. Applying the changelog (upsert: replace the
 * record of the key; delete: remove it, which must exist) must give exactly
 * the brute-force final results (tests/lib/oracle.c, or_output.finals),
 * and the result rows must be those of append mode, in the same order.
 */
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
#include "snapshot.h"
#include "window.h"
#include "window_stream.h"

/* ------------------------------------------------------------------------ */
/* Hand-written cases                                                        */
/* ------------------------------------------------------------------------ */

typedef struct hand_ev {
    const char *key; /* "\"user\":\"a\"" */
    int64_t ts;
    int64_t amount;
} hand_ev;

static sl_agg_def hand_aggs[] = {
    {.name = "n", .fn = SL_AGG_COUNT, .column = -1},
    {.name = "s", .fn = SL_AGG_SUM, .column = 0},
};

static void hand_def(sl_window_def *def, sl_watermark_def *wm, sl_window_type type, int64_t size,
                     int64_t lateness, int64_t ooo)
{
    memset(def, 0, sizeof(*def));
    memset(wm, 0, sizeof(*wm));
    def->type = type;
    if (type == SL_WIN_SESSION)
        def->gap_ms = size;
    else
        def->size_ms = def->slide_ms = size;
    def->allowed_lateness_ms = lateness;
    def->aggs = hand_aggs;
    def->naggs = 2;
    def->ncolumns = 1;
    wm->max_out_of_orderness_ms = ooo;
}

/* Feeds events one batch each. */
static void hand_feed(sl_window_task *t, const hand_ev *evs, size_t n, ws_capture *cap)
{
    sl_emitter em = {.result = ws_on_result, .late = ws_on_late, .ctx = cap};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    for (size_t i = 0; i < n; i++) {
        sl_batch_reset(b);
        size_t kl = strlen(evs[i].key);
        b->ts[0] = evs[i].ts;
        b->offset[0] = (int64_t)i;
        b->key_hash[0] = sl_hash64(evs[i].key, kl);
        b->key_off[0] = sl_batch_put_bytes(b, evs[i].key, kl);
        b->key_len[0] = (uint32_t)kl;
        *sl_batch_val(b, 0, 0) = (sl_num){.v.i = evs[i].amount};
        b->count = 1;
        sl_window_task_process(t, b, &em);
    }
    sl_batch_free(b);
}

/* Renders what was captured as "key value" lines ("key -" for tombstones). */
static char *hand_text(const ws_capture *c)
{
    size_t cap = 64;
    for (size_t i = 0; i < c->n; i++)
        cap += strlen(c->res[i].key) + strlen(c->res[i].value) + 32;
    char *s = malloc(cap), *p = s;
    *p = 0;
    for (size_t i = 0; i < c->n; i++)
        p += sprintf(p, "%s %s @%" PRId64 "\n", c->res[i].key,
                     c->res[i].value[0] ? c->res[i].value : "-", c->res[i].ts);
    return s;
}

static void expect_text(const ws_capture *c, const char *want)
{
    char *got = hand_text(c);
    if (strcmp(got, want) != 0)
        fail_msg("want:\n%s\ngot:\n%s", want, got);
    free(got);
}

/* Two fired sessions joined by a late event between them: both records are
 * deleted (the merged one starts at the first's start, so that one is
 * replaced, not deleted), then the merged result; stats count it. */
static void test_session_merge_tombstones(void **state)
{
    (void)state;
    sl_window_def def;
    sl_watermark_def wm;
    hand_def(&def, &wm, SL_WIN_SESSION, 100, 1000, 0);
    sl_window_task *t = sl_window_task_new(&def, &wm);
    sl_window_task_set_upsert(t, 1);
    const hand_ev evs[] = {
        {"\"user\":\"a\"", 0, 1},   {"\"user\":\"a\"", 300, 2}, {"\"user\":\"b\"", 310, 7},
        {"\"user\":\"a\"", 700, 3}, /* fires a@0 [0,100) and a@300, b@310 */
        {"\"user\":\"a\"", 150, 4}, /* joins nothing: [150,250) alone, fired at once */
        {"\"user\":\"a\"", 90, 5},  /* [90,190) joins a@0 and a@150: a@150 deleted */
        {"\"user\":\"a\"", 240, 6}, /* [240,340) joins a@0..250 and a@300: a@300 deleted */
    };
    ws_capture cap = {0};
    hand_feed(t, evs, SL_ARRAY_LEN(evs), &cap);
    expect_text(&cap,
                "{\"user\":\"a\",\"window_start\":0} "
                "{\"user\":\"a\",\"window_start\":0,\"window_end\":100,\"n\":1,\"s\":1} @99\n"
                "{\"user\":\"a\",\"window_start\":300} "
                "{\"user\":\"a\",\"window_start\":300,\"window_end\":400,\"n\":1,\"s\":2} @399\n"
                "{\"user\":\"b\",\"window_start\":310} "
                "{\"user\":\"b\",\"window_start\":310,\"window_end\":410,\"n\":1,\"s\":7} @409\n"
                "{\"user\":\"a\",\"window_start\":150} "
                "{\"user\":\"a\",\"window_start\":150,\"window_end\":250,\"n\":1,\"s\":4} @249\n"
                "{\"user\":\"a\",\"window_start\":150} - @249\n"
                "{\"user\":\"a\",\"window_start\":0} "
                "{\"user\":\"a\",\"window_start\":0,\"window_end\":250,\"n\":3,\"s\":10} @249\n"
                "{\"user\":\"a\",\"window_start\":300} - @399\n"
                "{\"user\":\"a\",\"window_start\":0} "
                "{\"user\":\"a\",\"window_start\":0,\"window_end\":400,\"n\":5,\"s\":18} @399\n");
    for (size_t i = 0; i < cap.n; i++)
        assert_int_equal(cap.res[i].update, i >= 3);
    const sl_window_stats *st = sl_window_task_stats(t);
    assert_int_equal(st->tombstones, 2);
    assert_int_equal(st->late_updates, 3);
    assert_int_equal(st->windows_fired, 3);
    ws_capture_free(&cap);
    sl_window_task_free(t);
}

/* A late event before the start of a fired session moves its start: the
 * old key is deleted before the new one is written. Without a key_by the
 * keys are {"window_start":S}. */
static void test_session_start_moves(void **state)
{
    (void)state;
    sl_window_def def;
    sl_watermark_def wm;
    hand_def(&def, &wm, SL_WIN_SESSION, 100, 500, 0);
    sl_window_task *t = sl_window_task_new(&def, &wm);
    sl_window_task_set_upsert(t, 1);
    const hand_ev evs[] = {{"", 100, 1}, {"", 400, 2}, {"", 50, 3}};
    ws_capture cap = {0};
    hand_feed(t, evs, SL_ARRAY_LEN(evs), &cap);
    expect_text(&cap, "{\"window_start\":100} "
                      "{\"window_start\":100,\"window_end\":200,\"n\":1,\"s\":1} @199\n"
                      "{\"window_start\":100} - @199\n"
                      "{\"window_start\":50} "
                      "{\"window_start\":50,\"window_end\":200,\"n\":2,\"s\":4} @199\n");
    ws_capture_free(&cap);
    sl_window_task_free(t);
}

/* A merge that re-opens a fired session without moving its start writes no
 * tombstone: the record is replaced when the session fires again. One that
 * moves the start of a re-opened session deletes the old key at once. */
static void test_session_reopened(void **state)
{
    (void)state;
    sl_window_def def;
    sl_watermark_def wm;
    hand_def(&def, &wm, SL_WIN_SESSION, 100, 1000, 0);
    sl_window_task *t = sl_window_task_new(&def, &wm);
    sl_window_task_set_upsert(t, 1);
    const hand_ev evs[] = {
        {"\"k\":1", 100, 1}, {"\"k\":1", 250, 2}, /* fires k@100 [100,200) */
        {"\"k\":1", 199, 3},                      /* [100,350): re-opened, end > wm 250 */
        {"\"k\":1", 60, 4},  /* [60,350): start moves, still open: k@100 deleted */
        {"\"k\":1", 900, 5}, /* fires k@60 */
    };
    ws_capture cap = {0};
    hand_feed(t, evs, SL_ARRAY_LEN(evs), &cap);
    expect_text(&cap, "{\"k\":1,\"window_start\":100} "
                      "{\"k\":1,\"window_start\":100,\"window_end\":200,\"n\":1,\"s\":1} @199\n"
                      "{\"k\":1,\"window_start\":100} - @349\n"
                      "{\"k\":1,\"window_start\":60} "
                      "{\"k\":1,\"window_start\":60,\"window_end\":350,\"n\":4,\"s\":10} @349\n");
    ws_capture_free(&cap);
    sl_window_task_free(t);
}

/* Tumbling: a late update within allowed lateness has the same key as the
 * fired result (it replaces it); beyond, the event is dropped. Append
 * mode keeps the plain key. */
static void test_tumbling_late_update(void **state)
{
    (void)state;
    sl_window_def def;
    sl_watermark_def wm;
    hand_def(&def, &wm, SL_WIN_TUMBLING, 100, 100, 0);
    const hand_ev evs[] = {{"\"u\":\"x\"", 10, 1},
                           {"\"u\":\"x\"", 120, 2},
                           {"\"u\":\"x\"", 50, 3},
                           {"\"u\":\"x\"", 260, 4},
                           {"\"u\":\"x\"", 60, 5}};
    for (int upsert = 0; upsert < 2; upsert++) {
        sl_window_task *t = sl_window_task_new(&def, &wm);
        sl_window_task_set_upsert(t, upsert);
        ws_capture cap = {0};
        hand_feed(t, evs, SL_ARRAY_LEN(evs), &cap);
        if (upsert)
            expect_text(&cap, "{\"u\":\"x\",\"window_start\":0} "
                              "{\"u\":\"x\",\"window_start\":0,\"window_end\":100,\"n\":1,\"s\":1} "
                              "@99\n"
                              "{\"u\":\"x\",\"window_start\":0} "
                              "{\"u\":\"x\",\"window_start\":0,\"window_end\":100,\"n\":2,\"s\":4} "
                              "@99\n"
                              "{\"u\":\"x\",\"window_start\":100} "
                              "{\"u\":\"x\",\"window_start\":100,\"window_end\":200,\"n\":1,"
                              "\"s\":2} @199\n");
        else
            expect_text(&cap, "{\"u\":\"x\"} "
                              "{\"u\":\"x\",\"window_start\":0,\"window_end\":100,\"n\":1,\"s\":1} "
                              "@99\n"
                              "{\"u\":\"x\"} "
                              "{\"u\":\"x\",\"window_start\":0,\"window_end\":100,\"n\":2,\"s\":4} "
                              "@99\n"
                              "{\"u\":\"x\"} "
                              "{\"u\":\"x\",\"window_start\":100,\"window_end\":200,\"n\":1,"
                              "\"s\":2} @199\n");
        assert_int_equal(cap.nlate, 1);
        assert_int_equal(sl_window_task_stats(t)->tombstones, 0);
        ws_capture_free(&cap);
        sl_window_task_free(t);
    }
}

/* Snapshot of t into a fresh task of the same definition (mode `upsert`). */
static sl_window_task *snap_restore(const sl_window_task *t, const sl_window_def *def,
                                    const sl_watermark_def *wm, int upsert, uint32_t *version)
{
    sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_window_task_snapshot(t, &b), 0);
    if (version)
        *version = (uint32_t)b.data[4] | (uint32_t)b.data[5] << 8;
    sl_window_task *n = sl_window_task_new(def, wm);
    sl_window_task_set_upsert(n, upsert);
    sl_reader r;
    sl_reader_init(&r, b.data, b.len);
    char err[256] = "";
    int rc = sl_window_task_restore(n, &r, err, sizeof(err));
    if (rc != 0)
        fail_msg("restore: %s", err);
    sl_buf_free(&b);
    return n;
}

/* A session emitted before a checkpoint is still deleted by a merge after
 * the restore, also one re-opened (not fired) at the checkpoint; upsert
 * snapshots are version 2 (append ones stay version 1) and a version 1
 * snapshot restored in upsert mode takes fired sessions as emitted. */
static void test_snapshot_keeps_emitted(void **state)
{
    (void)state;
    sl_window_def def;
    sl_watermark_def wm;
    hand_def(&def, &wm, SL_WIN_SESSION, 100, 1000, 0);
    const hand_ev before[] = {
        {"\"k\":1", 0, 1},
        {"\"k\":1", 300, 2},
        {"\"k\":2", 420, 3}, /* fires k@0, k@300 */
        {"\"k\":1", 399, 4}, /* [300,499): re-opened (end > wm 420), start kept */
    };
    /* [150,250) alone, fired at once; then [240,340) joins it and the
     * re-opened k@300: k@150 is replaced, k@300 deleted */
    const hand_ev after[] = {{"\"k\":1", 150, 5}, {"\"k\":1", 240, 6}};
    for (int from_append = 0; from_append < 2; from_append++) {
        sl_window_task *t = sl_window_task_new(&def, &wm);
        sl_window_task_set_upsert(t, !from_append);
        ws_capture cap = {0};
        hand_feed(t, before, SL_ARRAY_LEN(before), &cap);
        uint32_t version;
        sl_window_task *n = snap_restore(t, &def, &wm, 1, &version);
        assert_int_equal(version, from_append ? 1 : 2);
        ws_capture_free(&cap);
        hand_feed(n, after, SL_ARRAY_LEN(after), &cap);
        ws_capture ref = {0}; /* the same task without a restore */
        hand_feed(t, after, SL_ARRAY_LEN(after), &ref);
        char *got = hand_text(&cap);
        expect_text(&cap, from_append
                              ? "{\"k\":1,\"window_start\":150} {\"k\":1,\"window_start\":150,"
                                "\"window_end\":250,\"n\":1,\"s\":5} @249\n"
                              : "{\"k\":1,\"window_start\":150} {\"k\":1,\"window_start\":150,"
                                "\"window_end\":250,\"n\":1,\"s\":5} @249\n"
                                "{\"k\":1,\"window_start\":300} - @498\n");
        if (!from_append) {
            char *want = hand_text(&ref);
            assert_string_equal(got, want);
            free(want);
            assert_int_equal(sl_window_task_stats(n)->tombstones,
                             sl_window_task_stats(t)->tombstones);
        }
        /* from an append-mode snapshot the re-opened k@300 is not known to
         * have been emitted: no tombstone for it */
        assert_null(strstr(got, "{\"k\":1,\"window_start\":150} - "));
        assert_true((strstr(got, "{\"k\":1,\"window_start\":300} - @") != NULL) == !from_append);
        free(got);
        ws_capture_free(&cap);
        ws_capture_free(&ref);
        sl_window_task_free(t);
        sl_window_task_free(n);
    }
}

/* ------------------------------------------------------------------------ */
/* Changelog vs the brute-force final results                                */
/* ------------------------------------------------------------------------ */

/* A key -> value view, built by applying a changelog. Linear: small. */
typedef struct view {
    char **key, **value;
    size_t n, cap;
} view;

static size_t view_find(const view *v, const char *key)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->key[i], key) == 0)
            return i;
    return SIZE_MAX;
}

static void view_put(view *v, const char *key, const char *value)
{
    size_t i = view_find(v, key);
    if (i != SIZE_MAX) {
        free(v->value[i]);
        v->value[i] = strdup(value);
        return;
    }
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->key = realloc(v->key, v->cap * sizeof(char *));
        v->value = realloc(v->value, v->cap * sizeof(char *));
    }
    v->key[v->n] = strdup(key);
    v->value[v->n++] = strdup(value);
}

/* 0, or -1 when the key is not in the view. */
static int view_del(view *v, const char *key)
{
    size_t i = view_find(v, key);
    if (i == SIZE_MAX)
        return -1;
    free(v->key[i]);
    free(v->value[i]);
    v->key[i] = v->key[v->n - 1];
    v->value[i] = v->value[v->n - 1];
    v->n--;
    return 0;
}

static void view_free(view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->key[i]);
        free(v->value[i]);
    }
    free(v->key);
    free(v->value);
    memset(v, 0, sizeof(*v));
}

/* The oracle's final results and append-mode output for a stream. */
static void oracle_finals(const ws_config *cfg, const ws_stream *s, or_output *out)
{
    static const char *const fn_names[] = {[SL_AGG_COUNT] = "count",
                                           [SL_AGG_SUM] = "sum",
                                           [SL_AGG_MIN] = "min",
                                           [SL_AGG_MAX] = "max",
                                           [SL_AGG_AVG] = "avg"};
    static const or_window_type types[] = {[SL_WIN_TUMBLING] = OR_TUMBLING,
                                           [SL_WIN_HOPPING] = OR_HOPPING,
                                           [SL_WIN_SESSION] = OR_SESSION};
    static const char *names[16], *fns[16];
    static int cols[16];
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
    memset(out, 0, sizeof(*out));
    or_task *t = oracle_task_new(&oc, out);
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
    oracle_task_close(t);
    oracle_task_free(t);
}

typedef struct totals {
    size_t results, tombstones, updates, late, restores;
} totals;

/* One stream in upsert mode at one batch size, with a snapshot and restore
 * after op `cut` (SIZE_MAX: none); checks the changelog against the
 * oracle. */
static void check_changelog(const ws_config *cfg, const ws_stream *s, const or_output *o,
                            uint32_t batch, size_t cut, const char *what, totals *tot)
{
    sl_window_def def;
    sl_agg_def aggs[16];
    sl_watermark_def wmdef;
    ws_make_def(cfg, &def, aggs, &wmdef);
    sl_window_task *t = sl_window_task_new(&def, &wmdef);
    sl_window_task_set_upsert(t, 1);
    ws_capture got = {0};
    if (cut < s->n) {
        ws_feed(t, s, 0, cut, batch, &got);
        sl_window_task *n = snap_restore(t, &def, &wmdef, 1, NULL);
        sl_window_task_free(t);
        t = n;
        ws_feed(t, s, cut, s->n, batch, &got);
        tot->restores++;
    } else {
        ws_feed(t, s, 0, s->n, batch, &got);
    }
    ws_close(t, &got);

    /* the rows are append mode's, in its order, tombstones aside */
    size_t j = 0;
    for (size_t i = 0; i < got.n; i++) {
        const ws_result *r = &got.res[i];
        if (!r->value[0]) {
            tot->tombstones++;
            assert_int_equal(r->update, 1);
            continue;
        }
        if (j >= o->n || strcmp(r->value, o->results[j].value) != 0 ||
            r->update != o->results[j].update || r->ts != o->results[j].end - 1)
            fail_msg("%s: row %zu (result %zu) differs from append mode:\n  want %s\n  got  %s",
                     what, i, j, j < o->n ? o->results[j].value : "(none)", r->value);
        j++;
    }
    if (j != o->n)
        fail_msg("%s: %zu results, append mode has %zu", what, j, o->n);

    /* without lateness no merge replaces or moves an emitted session */
    if (cfg->lateness == 0)
        for (size_t i = 0; i < got.n; i++)
            if (!got.res[i].value[0])
                fail_msg("%s: a tombstone without allowed_lateness: %s", what, got.res[i].key);

    /* apply the changelog */
    view v = {0};
    for (size_t i = 0; i < got.n; i++) {
        const ws_result *r = &got.res[i];
        if (r->value[0]) {
            /* the key is the row's key members and window_start */
            view_put(&v, r->key, r->value);
        } else if (view_del(&v, r->key) != 0) {
            fail_msg("%s: row %zu deletes %s, which the view does not hold", what, i, r->key);
        }
    }
    if (v.n != o->nfinals)
        fail_msg("%s: the changelog leaves %zu records, the reference %zu final results", what, v.n,
                 o->nfinals);
    for (size_t i = 0; i < o->nfinals; i++) {
        size_t k = view_find(&v, o->finals[i].key);
        if (k == SIZE_MAX)
            fail_msg("%s: final result %s (%s) missing from the changelog's view", what,
                     o->finals[i].key, o->finals[i].value);
        if (strcmp(v.value[k], o->finals[i].value) != 0)
            fail_msg("%s: %s: view holds\n  %s\nthe reference's final result is\n  %s", what,
                     o->finals[i].key, v.value[k], o->finals[i].value);
    }
    tot->results += o->nfinals;
    view_free(&v);
    ws_capture_free(&got);
    sl_window_task_free(t);
}

static void run_changelog(int type, uint64_t first_seed, int nseeds, totals *tot)
{
    static const uint32_t batches[] = {1, 7, 4096};
    for (int i = 0; i < nseeds; i++) {
        uint64_t seed = first_seed + (uint64_t)i;
        ws_rng r = {seed * 0x9E3779B97F4A7C15ull + 7};
        ws_config cfg;
        ws_random_config(&r, type, &cfg);
        cfg.close = 1;                       /* the final view is defined once everything closed */
        if (i % 3 != 0 && cfg.lateness == 0) /* most runs with lateness */
            cfg.lateness = (cfg.type == SL_WIN_SESSION ? cfg.gap : cfg.size) * 2;
        if (cfg.pct_late == 0)
            cfg.pct_late = 3;
        ws_stream s;
        ws_make_stream(&r, &cfg, &s);
        or_output o;
        oracle_finals(&cfg, &s, &o);
        tot->updates += o.updates;
        tot->late += o.late;
        char desc[512], what[700];
        ws_describe(&cfg, desc, sizeof(desc));
        for (size_t b = 0; b < SL_ARRAY_LEN(batches); b++) {
            size_t cut = b == 0 ? SIZE_MAX : (size_t)ws_below(&r, (int64_t)s.n + 1);
            snprintf(what, sizeof(what), "seed %" PRIu64 " batch %u cut %zd [%s]", seed, batches[b],
                     cut == SIZE_MAX ? (ssize_t)-1 : (ssize_t)cut, desc);
            check_changelog(&cfg, &s, &o, batches[b], cut, what, tot);
        }
        oracle_output_free(&o);
        ws_stream_free(&s);
    }
}

static void test_changelog_tumbling(void **state)
{
    (void)state;
    totals tot = {0};
    run_changelog(SL_WIN_TUMBLING, 1000, 60, &tot);
    printf("  tumbling: %zu final results, %zu late updates, %zu late events, %zu restores\n",
           tot.results, tot.updates, tot.late, tot.restores);
    assert_true(tot.updates > 0 && tot.late > 0);
    assert_int_equal(tot.tombstones, 0);
}

static void test_changelog_hopping(void **state)
{
    (void)state;
    totals tot = {0};
    run_changelog(SL_WIN_HOPPING, 2000, 60, &tot);
    printf("  hopping: %zu final results, %zu late updates, %zu late events, %zu restores\n",
           tot.results, tot.updates, tot.late, tot.restores);
    assert_true(tot.updates > 0 && tot.late > 0);
    assert_int_equal(tot.tombstones, 0);
}

static void test_changelog_session(void **state)
{
    (void)state;
    totals tot = {0};
    run_changelog(SL_WIN_SESSION, 3000, 120, &tot);
    printf("  session: %zu final results, %zu tombstones, %zu late updates, %zu late events, "
           "%zu restores\n",
           tot.results, tot.tombstones, tot.updates, tot.late, tot.restores);
    assert_true(tot.tombstones > 50);
    assert_true(tot.updates > 0 && tot.late > 0);
}

/* Append mode, for contrast (the table in README.md "Emit modes"): the
 * last result per (key, window_start) is the final view for tumbling and
 * hopping windows, lateness or not, and for sessions without lateness (a
 * fired session can still be re-opened, but never merged with another
 * fired one nor moved to an earlier start); not for sessions with
 * allowed_lateness, whose merges replace emitted sessions. */
static void test_append_last_value(void **state)
{
    (void)state;
    int session_differs = 0;
    for (int type = 0; type < 3; type++)
        for (int i = 0; i < 40; i++) {
            ws_rng r = {(uint64_t)(type * 100 + i) * 0x9E3779B97F4A7C15ull + 11};
            ws_config cfg;
            ws_random_config(&r, type, &cfg);
            cfg.close = 1;
            ws_stream s;
            ws_make_stream(&r, &cfg, &s);
            or_output o;
            oracle_finals(&cfg, &s, &o);
            view v = {0};
            for (size_t k = 0; k < o.n; k++) { /* append mode's rows, keyed by window */
                const char *row = o.results[k].value;
                const char *ws = strstr(row, "\"window_start\":");
                const char *we = strstr(row, ",\"window_end\"");
                char key[256];
                snprintf(key, sizeof(key), "{%.*s}", (int)(we - row - 1), row + 1);
                (void)ws;
                view_put(&v, key, row);
            }
            int same = v.n == o.nfinals;
            for (size_t k = 0; same && k < o.nfinals; k++) {
                size_t at = view_find(&v, o.finals[k].key);
                same = at != SIZE_MAX && strcmp(v.value[at], o.finals[k].value) == 0;
            }
            if ((type != SL_WIN_SESSION || cfg.lateness == 0) && !same)
                fail_msg("type %d stream %d lateness %" PRId64
                         ": last value per window is not the final view",
                         type, i, cfg.lateness);
            session_differs += type == SL_WIN_SESSION && !same;
            view_free(&v);
            oracle_output_free(&o);
            ws_stream_free(&s);
        }
    assert_true(session_differs > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_merge_tombstones),
        cmocka_unit_test(test_session_start_moves),
        cmocka_unit_test(test_session_reopened),
        cmocka_unit_test(test_tumbling_late_update),
        cmocka_unit_test(test_snapshot_keeps_emitted),
        cmocka_unit_test(test_changelog_tumbling),
        cmocka_unit_test(test_changelog_hopping),
        cmocka_unit_test(test_changelog_session),
        cmocka_unit_test(test_append_last_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
