/*
 * test_operators_window.c - the window operator driven through its vtable
 * only (sl_operator_find("window"), a stage loaded from a definition,
 * ops->open/process/watermark/finish/snapshot/restore/stats), never through
 * window.h:
 *  - seeded random streams (several keys, disorder, late events) for
 *    tumbling, hopping and session windows against the brute-force oracle
 *    (tests/lib/oracle.h): the same results in the same order, offsets equal
 *    to the oracle's update flags, late events through out->late; an
 *    outside watermark() fires exactly the pending windows with end <= it;
 *  - snapshot / restore into a fresh instance continues byte for byte, with
 *    the same stats;
 *  - damaged sections (every truncation, the version field, a flipped byte,
 *    trailing bytes) are refused and leave the instance empty and usable;
 *  - stats and refuse_new_keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chain.h"
#include "definition.h"
#include "operator.h"
#include "oracle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- collecting an operator's output ------------------------------------- */

typedef struct out_row {
    char *key, *value;
    int64_t ts, offset;
} out_row;

typedef struct capture {
    out_row *rows;
    size_t n, cap;
    size_t nlate;
    int64_t *late_offsets;
    size_t late_cap;
} capture;

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

/* sl_op_out.emit: copies every row (the batch is borrowed). */
static void cap_emit(void *ctx, const sl_batch *b)
{
    capture *c = ctx;
    assert_int_equal(b->kind, SL_MSG_RESULTS);
    assert_true(b->count > 0);
    for (uint32_t i = 0; i < b->count; i++) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->rows = realloc(c->rows, c->cap * sizeof(*c->rows));
            assert_non_null(c->rows);
        }
        uint32_t kl, vl;
        const char *k = sl_batch_key(b, i, &kl);
        const char *v = sl_batch_row(b, i, &vl);
        c->rows[c->n++] = (out_row){dup_bytes(k, kl), dup_bytes(v, vl), b->ts[i], b->offset[i]};
    }
}

/* sl_op_out.late: the event must be older than the watermark it was judged
 * against allows (it is at least behind it). */
static void cap_late(void *ctx, const sl_batch *in, uint32_t row, int64_t wm)
{
    capture *c = ctx;
    assert_true(row < in->count);
    assert_true(in->ts[row] < wm);
    if (c->nlate == c->late_cap) {
        c->late_cap = c->late_cap ? c->late_cap * 2 : 64;
        c->late_offsets = realloc(c->late_offsets, c->late_cap * sizeof(int64_t));
    }
    c->late_offsets[c->nlate++] = in->offset[row];
}

static void cap_free(capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->rows[i].key);
        free(c->rows[i].value);
    }
    free(c->rows);
    free(c->late_offsets);
    memset(c, 0, sizeof(*c));
}

static sl_op_out out_to(capture *c)
{
    return (sl_op_out){.emit = cap_emit, .late = cap_late, .ctx = c};
}

/* Rows [from, from + n) of a equal rows [0, n) of b, byte for byte. */
static void assert_rows_equal(const capture *a, size_t from, const capture *b, const char *what)
{
    assert_true(a->n >= from + b->n);
    for (size_t i = 0; i < b->n; i++) {
        const out_row *x = &a->rows[from + i], *y = &b->rows[i];
        if (strcmp(x->key, y->key) || strcmp(x->value, y->value) || x->ts != y->ts ||
            x->offset != y->offset)
            fail_msg("%s: row %zu differs:\n  want %s %s ts=%" PRId64 " off=%" PRId64
                     "\n  got  %s %s ts=%" PRId64 " off=%" PRId64,
                     what, i, x->key, x->value, x->ts, x->offset, y->key, y->value, y->ts,
                     y->offset);
    }
}

/* ---- streams, definitions, instances ------------------------------------- */

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define NKEYS 9
static char key_text[NKEYS][32];

typedef struct stream {
    or_event *ev;
    size_t n;
} stream;

/* n events, ~2 ms apart, disorder up to `disorder` ms, 3% far behind. */
static void make_stream(uint64_t seed, size_t n, int64_t disorder, int64_t far, stream *s)
{
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int k = 0; k < NKEYS; k++)
        snprintf(key_text[k], sizeof(key_text[k]), "\"user\":\"u%d\"", k * 7 % 11);
    s->ev = calloc(n, sizeof(*s->ev));
    s->n = n;
    int64_t base = 1700000000000;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = base + (int64_t)i * 2 - (int64_t)(rnd() % (uint64_t)(disorder + 1));
        if (rnd() % 33 == 0)
            ts -= far + (int64_t)(rnd() % (uint64_t)far);
        s->ev[i].key = key_text[rnd() % 3 == 0 ? 0 : rnd() % NKEYS];
        s->ev[i].ts = ts;
        s->ev[i].amount = (int64_t)(rnd() % 1000) - 200;
    }
}

static const char *const agg_names[] = {"orders", "total", "biggest", "smallest", "mean"};
static const char *const agg_fns[] = {"count", "sum", "max", "min", "avg"};
#define AGGS                                                                                       \
    "\"aggregates\":{\"orders\":{\"fn\":\"count\"},\"total\":{\"fn\":\"sum\",\"field\":"           \
    "\"amount\"},\"biggest\":{\"fn\":\"max\",\"field\":\"amount\"},\"smallest\":{\"fn\":"          \
    "\"min\",\"field\":\"amount\"},\"mean\":{\"fn\":\"avg\",\"field\":\"amount\"}}"

typedef struct wcase {
    const char *name;
    const char *window; /* the window object */
    or_config cfg;
} wcase;

static const wcase cases[] = {
    {"tumbling",
     "{\"type\":\"tumbling\",\"size\":\"200ms\",\"allowed_lateness\":\"100ms\"}",
     {OR_TUMBLING, 200, 0, 0, 100, 50, agg_names, agg_fns, 5, NULL}},
    {"hopping",
     "{\"type\":\"hopping\",\"size\":\"300ms\",\"slide\":\"100ms\",\"allowed_lateness\":\"50ms\"}",
     {OR_HOPPING, 300, 100, 0, 50, 80, agg_names, agg_fns, 5, NULL}},
    {"session",
     "{\"type\":\"session\",\"gap\":\"40ms\",\"allowed_lateness\":\"60ms\"}",
     {OR_SESSION, 0, 0, 40, 60, 30, agg_names, agg_fns, 5, NULL}},
};

static sl_def *load_def(const wcase *c)
{
    char text[2048], err[1024] = "";
    snprintf(text, sizeof(text),
             "{\"name\":\"ops\",\"source\":{\"type\":\"file\",\"path\":\"in.jsonl\","
             "\"format\":\"json\",\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
             "\"watermark\":{\"max_out_of_orderness\":%" PRId64 "}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":%s," AGGS "}],"
             "\"sink\":{\"type\":\"null\"}}",
             c->cfg.ooo, c->window);
    sl_def *def = NULL;
    if (sl_def_load_string(text, "ops.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("definition: %s", err);
    return def;
}

static const sl_operator_ops *wops(void)
{
    const sl_operator_ops *o = sl_operator_find("window");
    assert_non_null(o);
    assert_non_null(o->open);
    return o;
}

static const sl_stage *window_stage(const sl_def *def)
{
    const sl_stage *st = &def->stages[sl_def_runtime_stage(def)];
    assert_ptr_equal(st->ops, wops());
    assert_int_equal(st->u.window.ncolumns, 1);
    assert_string_equal(st->u.window.columns[0], "amount");
    return st;
}

static void *open_window(const sl_def *def)
{
    sl_op_env env = {.def = def, .task = 3};
    char err[256] = "";
    void *op = wops()->open(window_stage(def), &env, err, sizeof(err));
    if (!op)
        fail_msg("open: %s", err);
    return op;
}

/* Feeds events [from, to) in batches of `bs`; event i has input offset i. */
static void feed(void *op, const stream *s, size_t from, size_t to, uint32_t bs, capture *c)
{
    sl_op_out out = out_to(c);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 3, bs, 1);
    assert_non_null(b);
    for (size_t i = from; i < to;) {
        sl_batch_reset(b);
        for (; i < to && b->count < bs; i++) {
            uint32_t r = b->count++;
            size_t kl = strlen(s->ev[i].key);
            b->ts[r] = s->ev[i].ts;
            b->offset[r] = (int64_t)i;
            b->key_hash[r] = sl_hash64(s->ev[i].key, kl);
            b->key_off[r] = sl_batch_put_bytes(b, s->ev[i].key, kl);
            b->key_len[r] = (uint32_t)kl;
            *sl_batch_val(b, 0, r) = (sl_num){.v.i = s->ev[i].amount, .is_double = 0};
        }
        wops()->process(op, b, &out);
    }
    sl_batch_free(b);
}

static void finish(void *op, capture *c)
{
    sl_op_out out = out_to(c);
    wops()->finish(op, &out);
}

static sl_op_stats stats_of(const void *op)
{
    sl_op_stats st;
    memset(&st, 0xa5, sizeof(st));
    wops()->stats(op, &st);
    return st;
}

static int64_t window_end_of(const char *value)
{
    const char *p = strstr(value, "\"window_end\":");
    assert_non_null(p);
    return strtoll(p + 13, NULL, 10);
}

/* Rows [from, from + n) of got equal oracle results [at, at + n). */
static void assert_like_oracle(const capture *got, size_t from, const or_output *want, size_t at,
                               size_t n, const char *what)
{
    assert_true(got->n >= from + n && want->n >= at + n);
    for (size_t i = 0; i < n; i++) {
        const out_row *g = &got->rows[from + i];
        const or_result *w = &want->results[at + i];
        if (strcmp(g->key, w->key) || strcmp(g->value, w->value) || g->offset != w->update ||
            g->ts != window_end_of(w->value) - 1)
            fail_msg("%s: result %zu:\n  want %s %s update=%d\n  got  %s %s offset=%" PRId64
                     " ts=%" PRId64,
                     what, at + i, w->key, w->value, w->update, g->key, g->value, g->offset, g->ts);
    }
}

/* ---- 1. against the oracle ------------------------------------------------ */

static const uint32_t batch_sizes[] = {1, 7, 256, 5000};

static void run_oracle_case(const wcase *c, uint64_t seed, uint32_t bs)
{
    char what[128];
    snprintf(what, sizeof(what), "%s seed %" PRIu64 " batch %u", c->name, seed, bs);
    stream s;
    make_stream(seed, 4000, 3 * c->cfg.ooo, 400, &s);
    or_output want = {0};
    oracle_run(&c->cfg, s.ev, s.n, &want);
    assert_true(want.late > 20);
    size_t updates = 0;
    for (size_t i = 0; i < want.n; i++)
        updates += want.results[i].update != 0;
    assert_true(updates > 10);

    sl_def *def = load_def(c);
    void *op = open_window(def);

    /* everything, then end of input: exactly the oracle */
    capture all = {0};
    feed(op, &s, 0, s.n, bs, &all);
    finish(op, &all);
    if (all.n != want.n)
        fail_msg("%s: %zu results, the oracle has %zu", what, all.n, want.n);
    assert_like_oracle(&all, 0, &want, 0, want.n, what);
    assert_int_equal(all.nlate, want.late);
    for (size_t i = 1; i < all.nlate; i++) /* reported in input order */
        assert_true(all.late_offsets[i] > all.late_offsets[i - 1]);
    wops()->close(op);

    /* everything but the end; then an outside watermark X, then the end.
     * Before X the output is the oracle's up to what is still pending (all
     * of which ends after the task's watermark); X fires exactly the
     * pending windows with end <= X (the oracle closes in end order) */
    op = open_window(def);
    capture got = {0};
    feed(op, &s, 0, s.n, bs, &got);
    sl_op_stats st = stats_of(op);
    size_t p = got.n;
    assert_true(p + 2 < want.n);
    assert_like_oracle(&got, 0, &want, 0, p, what);
    for (size_t i = p; i < want.n; i++)
        assert_true(window_end_of(want.results[i].value) > st.watermark);
    int64_t x = window_end_of(want.results[p + (want.n - p) / 2].value);
    size_t fire = 0;
    while (p + fire < want.n && window_end_of(want.results[p + fire].value) <= x)
        fire++;
    sl_op_out out = out_to(&got);
    wops()->watermark(op, x, &out);
    assert_int_equal(got.n, p + fire);
    assert_like_oracle(&got, p, &want, p, fire, what);
    assert_int_equal(stats_of(op).watermark, x);
    /* a lower watermark is no advance */
    wops()->watermark(op, x - 1000, &out);
    assert_int_equal(got.n, p + fire);
    assert_int_equal(stats_of(op).watermark, x);
    finish(op, &got);
    assert_int_equal(got.n, want.n);
    assert_like_oracle(&got, 0, &want, 0, want.n, what);
    assert_int_equal(got.nlate, want.late);
    /* finishing twice emits nothing more */
    finish(op, &got);
    assert_int_equal(got.n, want.n);
    wops()->close(op);

    cap_free(&all);
    cap_free(&got);
    oracle_output_free(&want);
    sl_def_free(def);
    free(s.ev);
}

static void test_oracle(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++)
        for (size_t b = 0; b < SL_ARRAY_LEN(batch_sizes); b++)
            run_oracle_case(&cases[c], 10 * c + b + 1, batch_sizes[b]);
}

/* ---- 2. snapshot and restore ----------------------------------------------- */

static void assert_stats_equal(const sl_op_stats *a, const sl_op_stats *b, const char *what)
{
    if (a->keys != b->keys || a->watermark != b->watermark || a->max_ts != b->max_ts ||
        a->refused != b->refused || a->has_clock != b->has_clock)
        fail_msg("%s: stats differ: bytes %zu/%zu keys %zu/%zu wm %" PRId64 "/%" PRId64
                 " max_ts %" PRId64 "/%" PRId64 " refused %" PRIu64 "/%" PRIu64,
                 what, a->state_bytes, b->state_bytes, a->keys, b->keys, a->watermark, b->watermark,
                 a->max_ts, b->max_ts, a->refused, b->refused);
}

static void run_restore_case(const wcase *c, uint64_t seed, uint32_t bs, size_t cut)
{
    char what[128];
    snprintf(what, sizeof(what), "%s seed %" PRIu64 " batch %u cut %zu", c->name, seed, bs, cut);
    stream s;
    make_stream(seed, 3000, 3 * c->cfg.ooo, 400, &s);
    sl_def *def = load_def(c);

    capture want = {0};
    void *op = open_window(def);
    feed(op, &s, 0, s.n, bs, &want);
    finish(op, &want);
    wops()->close(op);

    capture got = {0};
    op = open_window(def);
    feed(op, &s, 0, cut, bs, &got);
    sl_op_stats before = stats_of(op);
    assert_int_equal(before.has_clock, 1);
    sl_buf snap;
    sl_buf_init(&snap);
    assert_int_equal(wops()->snapshot(op, &snap), SL_OK);
    assert_false(snap.failed);
    wops()->close(op);

    op = open_window(def);
    sl_reader r;
    sl_reader_init(&r, snap.data, snap.len);
    char err[256] = "";
    int rc = wops()->restore(op, &r, err, sizeof(err));
    if (rc != SL_OK)
        fail_msg("%s: restore: %s", what, err);
    assert_true(sl_reader_done(&r));
    sl_op_stats after = stats_of(op);
    assert_stats_equal(&before, &after, what);
    /* state_bytes counts what is allocated, scratch buffers and the pool
     * of reusable panes included, which a restore does not recreate: the
     * restored instance holds at most what the original did */
    assert_true(after.state_bytes > 0 && after.state_bytes <= before.state_bytes);
    /* and it snapshots to the same bytes */
    sl_buf again;
    sl_buf_init(&again);
    assert_int_equal(wops()->snapshot(op, &again), SL_OK);
    assert_int_equal(again.len, snap.len);
    assert_memory_equal(again.data, snap.data, snap.len);
    sl_buf_free(&again);

    feed(op, &s, cut, s.n, bs, &got);
    finish(op, &got);
    wops()->close(op);
    assert_int_equal(got.n, want.n);
    assert_rows_equal(&want, 0, &got, what);
    assert_int_equal(got.nlate, want.nlate);
    assert_memory_equal(got.late_offsets, want.late_offsets, want.nlate * sizeof(int64_t));

    sl_buf_free(&snap);
    cap_free(&want);
    cap_free(&got);
    sl_def_free(def);
    free(s.ev);
}

static void test_snapshot_restore(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++) {
        run_restore_case(&cases[c], 100 + c, 64, 1500);
        run_restore_case(&cases[c], 200 + c, 1, 1);
        run_restore_case(&cases[c], 300 + c, 500, 2999);
        run_restore_case(&cases[c], 400 + c, 5000, 0);
    }
}

/* ---- 3. damaged sections ------------------------------------------------------ */

static void assert_empty(const void *op, const char *what)
{
    sl_op_stats st = stats_of(op);
    if (st.keys != 0 || st.watermark != INT64_MIN || st.max_ts != INT64_MIN)
        fail_msg("%s: not empty after a refused restore (keys %zu wm %" PRId64 " max_ts %" PRId64
                 ")",
                 what, st.keys, st.watermark, st.max_ts);
}

/* Restores an exactly sized copy of data[0, len) (so that ASan sees any
 * read past its end); *pos gets where the reader stopped. */
static int restore_copy(void *op, const uint8_t *data, size_t len, size_t *pos, char *err,
                        size_t errsz)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    sl_reader r;
    sl_reader_init(&r, copy, len);
    err[0] = 0;
    int rc = wops()->restore(op, &r, err, errsz);
    if (pos)
        *pos = r.pos;
    free(copy);
    return rc;
}

static void run_damage_case(const wcase *c, uint64_t seed)
{
    stream s;
    make_stream(seed, 1200, 3 * c->cfg.ooo, 400, &s);
    sl_def *def = load_def(c);
    const size_t cut = 600;
    capture want = {0};
    void *op = open_window(def);
    feed(op, &s, 0, cut, 50, &want);
    sl_buf snap;
    sl_buf_init(&snap);
    assert_int_equal(wops()->snapshot(op, &snap), SL_OK);
    assert_true(snap.len > 100);
    size_t head = want.n;
    feed(op, &s, cut, s.n, 50, &want);
    finish(op, &want);
    wops()->close(op);

    op = open_window(def);
    char err[256], what[64];
    /* every truncation */
    for (size_t n = 0; n < snap.len; n++) {
        int rc = restore_copy(op, snap.data, n, NULL, err, sizeof(err));
        snprintf(what, sizeof(what), "%s truncated to %zu of %zu", c->name, n, snap.len);
        if (rc != SL_ECORRUPT)
            fail_msg("%s: rc %d", what, rc);
        assert_true(err[0] != 0);
        assert_empty(op, what);
        if (n == 40) /* a restore that worked, then a refused one: empty again */
            assert_int_equal(restore_copy(op, snap.data, snap.len, NULL, err, sizeof(err)), 0);
    }
    /* the version field (after the u32 magic), a payload byte, the checksum */
    uint8_t *bad = malloc(snap.len);
    static const size_t flips[] = {4, 5, 7, 0, 20, 60, SIZE_MAX};
    for (size_t f = 0; f < SL_ARRAY_LEN(flips); f++) {
        size_t at = flips[f] == SIZE_MAX ? snap.len - 1 : flips[f];
        memcpy(bad, snap.data, snap.len);
        bad[at] ^= 0x10;
        int rc = restore_copy(op, bad, snap.len, NULL, err, sizeof(err));
        snprintf(what, sizeof(what), "%s byte %zu flipped", c->name, at);
        if (rc != (at >= 4 && at < 8 ? SL_EVERSION : SL_ECORRUPT))
            fail_msg("%s: rc %d (%s)", what, rc, err);
        assert_true(err[0] != 0);
        assert_empty(op, what);
    }
    free(bad);
    /* trailing bytes: the section delimits itself, so the operator stops
     * at its end; the chain, which hands each stage exactly its section,
     * refuses what is left over */
    sl_buf tail;
    sl_buf_init(&tail);
    sl_buf_put_bytes(&tail, snap.data, snap.len);
    sl_buf_put_u32(&tail, 0xdeadbeef);
    size_t pos = 0;
    assert_int_equal(restore_copy(op, tail.data, tail.len, &pos, err, sizeof(err)), 0);
    assert_int_equal(pos, snap.len);
    sl_op_env env = {.def = def, .task = 3};
    sl_chain *chain = NULL;
    assert_int_equal(sl_chain_open(def, &env, &chain, err, sizeof(err)), SL_OK);
    sl_task_section sec = {
        .name = "window", .name_len = 6, .data = tail.data, .len = (uint32_t)tail.len};
    err[0] = 0;
    assert_int_equal(sl_chain_restore(chain, &sec, 1, err, sizeof(err)), SL_ECORRUPT);
    assert_non_null(strstr(err, "trailing"));
    sec.data = snap.data; /* the same without the garbage is taken */
    sec.len = (uint32_t)snap.len;
    assert_int_equal(sl_chain_restore(chain, &sec, 1, err, sizeof(err)), SL_OK);
    sl_chain_free(chain);
    sl_buf_free(&tail);

    /* garbage and nothing */
    assert_int_equal(
        restore_copy(op, (const uint8_t *)"no snapshot here", 16, NULL, err, sizeof(err)),
        SL_ECORRUPT);
    assert_true(err[0] != 0);
    assert_empty(op, "garbage");

    /* after all that the instance runs from scratch like a new one ... */
    capture fresh = {0};
    feed(op, &s, 0, s.n, 50, &fresh);
    finish(op, &fresh);
    assert_int_equal(fresh.n, want.n);
    assert_rows_equal(&want, 0, &fresh, "refused restores, then a full run");
    wops()->close(op);
    /* ... and one refused restore later still restores and continues */
    op = open_window(def);
    assert_int_equal(restore_copy(op, snap.data, 10, NULL, err, sizeof(err)), SL_ECORRUPT);
    assert_int_equal(restore_copy(op, snap.data, snap.len, NULL, err, sizeof(err)), 0);
    capture cont = {0};
    feed(op, &s, cut, s.n, 50, &cont);
    finish(op, &cont);
    assert_int_equal(head + cont.n, want.n);
    assert_rows_equal(&want, head, &cont, "continuation");
    wops()->close(op);

    cap_free(&want);
    cap_free(&fresh);
    cap_free(&cont);
    sl_buf_free(&snap);
    sl_def_free(def);
    free(s.ev);
}

static void test_damaged_sections(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++)
        run_damage_case(&cases[c], 500 + c);
}

/* ---- 6. stats and refuse_new_keys -------------------------------------------- */

/* One event in a batch of its own: key u<k>, time ts, amount 1. */
static void event(void *op, int k, int64_t ts, capture *c)
{
    char key[32];
    snprintf(key, sizeof(key), "\"user\":\"u%d\"", k);
    or_event e = {.key = key, .ts = ts, .amount = 1};
    stream s = {&e, 1};
    feed(op, &s, 0, 1, 1, c);
}

static int count_of(const capture *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].key, key) == 0)
            return (int)strtol(strstr(c->rows[i].value, "\"orders\":") + 9, NULL, 10);
    return -1;
}

static void run_refuse_case(const wcase *c)
{
    sl_def *def = load_def(c);
    void *op = open_window(def);
    capture got = {0};
    sl_op_stats st = stats_of(op);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.watermark, INT64_MIN);
    assert_int_equal(st.max_ts, INT64_MIN);
    assert_int_equal(st.has_clock, 1);
    size_t empty_bytes = st.state_bytes;

    int64_t t0 = 1000000; /* a multiple of every size and slide */
    event(op, 0, t0 + 1, &got);
    event(op, 1, t0 + 2, &got);
    st = stats_of(op);
    assert_true(st.keys >= 2);
    size_t keys = st.keys;
    assert_true(st.state_bytes > empty_bytes);
    assert_int_equal(st.max_ts, t0 + 2);
    assert_int_equal(st.watermark, t0 + 2 - c->cfg.ooo);

    wops()->refuse_new_keys(op, 1);
    event(op, 0, t0 + 3, &got); /* has state: aggregates */
    event(op, 2, t0 + 4, &got); /* new: refused */
    event(op, 2, t0 + 5, &got);
    event(op, 1, t0 + 6, &got);
    event(op, 3, t0 + 7, &got);
    st = stats_of(op);
    assert_int_equal(st.refused, 3);
    assert_int_equal(st.keys, keys);
    assert_int_equal(st.max_ts, t0 + 7);

    /* the mode is the instance's: a restore keeps it */
    sl_buf snap;
    sl_buf_init(&snap);
    assert_int_equal(wops()->snapshot(op, &snap), SL_OK);
    sl_reader r;
    sl_reader_init(&r, snap.data, snap.len);
    char err[256];
    assert_int_equal(wops()->restore(op, &r, err, sizeof(err)), SL_OK);
    sl_buf_free(&snap);
    event(op, 4, t0 + 8, &got);
    st = stats_of(op);
    assert_int_equal(st.refused, 4);
    assert_int_equal(st.keys, keys);

    wops()->refuse_new_keys(op, 0);
    event(op, 2, t0 + 9, &got); /* accepted again */
    assert_int_equal(stats_of(op).refused, 4);
    assert_true(stats_of(op).keys > keys);
    assert_int_equal(got.n, 0);
    assert_int_equal(got.nlate, 0); /* refused is not late */

    finish(op, &got);
    const int per_window = c->cfg.type == OR_HOPPING ? 3 : 1;
    assert_int_equal(got.n, 3 * (size_t)per_window);
    assert_int_equal(count_of(&got, "{\"user\":\"u0\"}"), 2);
    assert_int_equal(count_of(&got, "{\"user\":\"u1\"}"), 2);
    assert_int_equal(count_of(&got, "{\"user\":\"u2\"}"), 1);
    assert_int_equal(count_of(&got, "{\"user\":\"u3\"}"), -1);
    assert_int_equal(count_of(&got, "{\"user\":\"u4\"}"), -1);
    st = stats_of(op);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.watermark, INT64_MAX);
    wops()->close(op);
    cap_free(&got);
    sl_def_free(def);
}

static void test_stats_refuse(void **state)
{
    (void)state;
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++)
        run_refuse_case(&cases[c]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_damaged_sections),
        cmocka_unit_test(test_stats_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
