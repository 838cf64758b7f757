/*
 * test_aggregate_sketch.c - the sketch aggregates (operators/aggregate_sketch.c):
 * count_distinct, approx_count_distinct (HyperLogLog), approx_percentile and
 * median (DDSketch), top_k (space-saving).
 *
 *  - Each against a brute-force reference on seeded random inputs, added in
 *    one state and in random parts merged in random order: count_distinct
 *    exact; HyperLogLog over 250 windows of 1k..200k distinct values: mean
 *    relative error within its standard error 1.04/sqrt(2^14) and none beyond
 *    4 of them, merged parts identical to one state; DDSketch: every quantile
 *    within 1% of the true value of rank floor(q (n - 1)); top_k exact while
 *    distinct values <= k, else within space-saving's bounds (no count
 *    below the true one nor more than N/k above, every value with more than
 *    N/k events reported).
 *  - Snapshot bytes round trip, every truncation refused, the bytes held
 *    accounted and given back.
 *  - The window operator with these aggregates on string and numeric
 *    values (absent ones too), tumbling, hopping and session windows, with
 *    disorder and lateness, snapshot and restore in the middle, against the
 *    shared oracle (tests/lib/oracle.c): exact ones byte-identical, the
 *    percentiles within 1%.
 */
#include <inttypes.h>
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
#include "definition.h"
#include "ingest.h"
#include "oracle.h"
#include "snapshot.h"
#include "window.h"

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double urand(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* Columns of the test batches. */
enum { COL_HASH, COL_NUM, COL_TEXT, NCOLS };

/* A one-row batch holding a hash, a number and a text value. */
typedef struct row {
    sl_batch *b;
} row;

static sl_batch *row_new(void)
{
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1, NCOLS);
    assert_non_null(b);
    b->count = 1;
    b->ts[0] = 0;
    b->offset[0] = 0;
    return b;
}

static void row_set(sl_batch *b, const char *text, double num, int num_absent)
{
    b->bytes_len = 0;
    sl_num *h = sl_batch_val(b, COL_HASH, 0), *n = sl_batch_val(b, COL_NUM, 0),
           *t = sl_batch_val(b, COL_TEXT, 0);
    if (text) {
        size_t len = strlen(text);
        uint32_t off = sl_batch_put_bytes(b, text, len);
        *h = (sl_num){.v.i = (int64_t)sl_value_hash(text, len)};
        *t = (sl_num){.v.i = (int64_t)(((uint64_t)off << 32) | len)};
    } else {
        *h = (sl_num){.is_double = SL_NUM_ABSENT};
        *t = (sl_num){.is_double = SL_NUM_ABSENT};
    }
    *n = num_absent ? (sl_num){.is_double = SL_NUM_ABSENT} : (sl_num){.v.d = num, .is_double = 1};
}

static void plan_one(sl_agg_plan *p, size_t *mem, sl_agg_fn fn, int col, const sl_agg_params *pa)
{
    sl_agg_def d[2] = {{.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1},
                       {.name = (char *)"x", .fn = fn, .column = col}};
    sl_agg_params params[2] = {{0}, *pa};
    assert_int_equal(sl_agg_plan_init_params(p, d, params, 2), 0);
    p->mem = mem;
}

/* The value printed for "x" by sl_agg_format (without the leading ,"x":). */
static char *fmt_x(const sl_agg_plan *p, const void *st, char *out)
{
    char *e = sl_agg_format(p, st, out);
    *e = 0;
    char *x = strstr(out, ",\"x\":");
    assert_non_null(x);
    return x + 5;
}

/* Splits adds over PARTS states at random, merges them in random order. */
#define PARTS 5
typedef struct multi {
    void *all, *part[PARTS], *acc;
} multi;

static void multi_new(const sl_agg_plan *p, multi *m)
{
    m->all = calloc(1, p->state_size);
    m->acc = calloc(1, p->state_size);
    for (int i = 0; i < PARTS; i++)
        m->part[i] = calloc(1, p->state_size);
}

static void multi_add(const sl_agg_plan *p, multi *m, const sl_batch *b)
{
    sl_agg_add(p, m->all, b, 0);
    sl_agg_add(p, m->part[rnd() % PARTS], b, 0);
}

static void multi_merge(const sl_agg_plan *p, multi *m)
{
    int order[PARTS] = {0, 1, 2, 3, 4};
    for (int i = PARTS - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < PARTS; i++)
        sl_agg_merge(p, m->acc, m->part[order[i]]);
}

static void multi_free(const sl_agg_plan *p, multi *m)
{
    sl_agg_state_release(p, m->all);
    sl_agg_state_release(p, m->acc);
    free(m->all);
    free(m->acc);
    for (int i = 0; i < PARTS; i++) {
        sl_agg_state_release(p, m->part[i]);
        free(m->part[i]);
    }
}

/* Snapshot of state st read back into a new state formats the same, and
 * re-writes the same bytes; every truncation is refused. */
static void check_roundtrip(const sl_agg_plan *p, const void *st)
{
    sl_buf b;
    sl_buf_init(&b);
    sl_agg_state_write(p, st, &b);
    assert_false(b.failed);
    void *back = calloc(1, p->state_size);
    sl_reader r;
    sl_reader_init(&r, b.data, b.len);
    assert_int_equal(sl_agg_state_read(p, back, &r), 0);
    assert_true(sl_reader_done(&r));
    char *f1 = malloc(sl_agg_format_bound(p, st) + 1),
         *f2 = malloc(sl_agg_format_bound(p, back) + 1);
    *sl_agg_format(p, st, f1) = 0;
    *sl_agg_format(p, back, f2) = 0;
    assert_string_equal(f1, f2);
    sl_buf again;
    sl_buf_init(&again);
    sl_agg_state_write(p, back, &again);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    size_t step = b.len > 4000 ? b.len / 97 : 1;
    sl_agg_state_release(p, back);
    for (size_t cut = 0; cut < b.len; cut += step) {
        sl_reader t;
        sl_reader_init(&t, b.data, cut);
        assert_int_equal(sl_agg_state_read(p, back, &t), SL_ECORRUPT);
    }
    sl_agg_state_release(p, back);
    free(back);
    free(f1);
    free(f2);
    sl_buf_free(&b);
    sl_buf_free(&again);
}

/* ---- count_distinct --------------------------------------------------------- */

static void test_count_distinct(void **state)
{
    (void)state;
    rng = 11;
    size_t mem = 0;
    sl_agg_plan p;
    sl_agg_params none = {0};
    plan_one(&p, &mem, SL_AGG_COUNT_DISTINCT, COL_HASH, &none);
    sl_batch *b = row_new();
    char out[256];
    for (int w = 0; w < 60; w++) {
        multi m;
        multi_new(&p, &m);
        size_t dom = 1 + rnd() % (w < 30 ? 50 : 20000), n = 1 + rnd() % 30000;
        uint8_t *seen = calloc(dom, 1);
        size_t distinct = 0;
        for (size_t i = 0; i < n; i++) {
            char text[32];
            size_t v = rnd() % dom;
            int absent = rnd() % 10 == 0;
            snprintf(text, sizeof(text), "\"v%zu\"", v);
            row_set(b, absent ? NULL : text, 0, 1);
            if (!absent && !seen[v]) {
                seen[v] = 1;
                distinct++;
            }
            multi_add(&p, &m, b);
        }
        multi_merge(&p, &m);
        char want[32];
        snprintf(want, sizeof(want), "%zu", distinct);
        assert_string_equal(fmt_x(&p, m.all, out), want);
        assert_string_equal(fmt_x(&p, m.acc, out), want);
        if (w % 10 == 0)
            check_roundtrip(&p, m.acc);
        multi_free(&p, &m);
        free(seen);
        assert_int_equal(mem, 0); /* every byte given back */
    }
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

/* ---- approx_count_distinct ---------------------------------------------------- */

static void test_hll_accuracy(void **state)
{
    (void)state;
    rng = 12;
    size_t mem = 0;
    sl_agg_plan p;
    sl_agg_params none = {0};
    plan_one(&p, &mem, SL_AGG_APPROX_COUNT_DISTINCT, COL_HASH, &none);
    sl_batch *b = row_new();
    char out[256];
    const double se = 1.04 / 128; /* 1.04 / sqrt(2^14) */
    double sum_rel = 0, worst = 0;
    const int nwin = 250;
    for (int w = 0; w < nwin; w++) {
        multi m;
        multi_new(&p, &m);
        /* distinct values log-uniform in [1000, 200000], each seen 1-2 times */
        size_t distinct = (size_t)(1000 * exp(urand() * log(200.0)));
        uint64_t base = rnd();
        for (size_t i = 0; i < distinct; i++) {
            char text[48];
            snprintf(text, sizeof(text), "\"%016llx-%zu\"", (unsigned long long)base, i);
            row_set(b, text, 0, 1);
            multi_add(&p, &m, b);
            if (rnd() % 2)
                multi_add(&p, &m, b);
        }
        multi_merge(&p, &m);
        char got[32];
        snprintf(got, sizeof(got), "%s", fmt_x(&p, m.all, out));
        assert_string_equal(fmt_x(&p, m.acc, out), got); /* merged parts: the same registers */
        double rel = fabs(strtod(got, NULL) - (double)distinct) / (double)distinct;
        sum_rel += rel;
        if (rel > worst)
            worst = rel;
        if (w % 50 == 0)
            check_roundtrip(&p, m.acc);
        multi_free(&p, &m);
        assert_int_equal(mem, 0);
    }
    printf("  HyperLogLog: mean relative error %.4f%%, worst %.4f%% (standard error %.4f%%)\n",
           100 * sum_rel / nwin, 100 * worst, 100 * se);
    assert_true(sum_rel / nwin <= se);
    assert_true(worst <= 4 * se);
    /* small sets are exact */
    void *st = calloc(1, p.state_size);
    for (int i = 0; i < 700; i++) {
        char text[16];
        snprintf(text, sizeof(text), "%d", i % 500);
        row_set(b, text, 0, 1);
        sl_agg_add(&p, st, b, 0);
    }
    assert_string_equal(fmt_x(&p, st, out), "500");
    check_roundtrip(&p, st);
    sl_agg_state_release(&p, st);
    free(st);
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

/* ---- approx_percentile -------------------------------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_ddsketch_accuracy(void **state)
{
    (void)state;
    rng = 13;
    size_t mem = 0;
    sl_agg_plan p;
    double qs[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1};
    sl_agg_params pa = {.q = qs, .nq = 10, .q_list = 1};
    plan_one(&p, &mem, SL_AGG_APPROX_PERCENTILE, COL_NUM, &pa);
    sl_batch *b = row_new();
    char *out = malloc(p.format_bound + 1);
    size_t checked = 0;
    for (int w = 0; w < 200; w++) {
        multi m;
        multi_new(&p, &m);
        size_t n = 1 + rnd() % (w < 50 ? 20 : 20000);
        double *v = malloc(n * sizeof(*v));
        size_t nv = 0;
        int shape = w % 4;
        for (size_t i = 0; i < n; i++) {
            double x;
            if (shape == 0)
                x = exp(urand() * 12 - 2); /* latencies over 6 decades */
            else if (shape == 1)
                x = urand() * 2000 - 1000; /* both signs */
            else if (shape == 2)
                x = (double)(rnd() % 5); /* few values, zeros */
            else
                x = -exp(urand() * 30); /* negative, huge range */
            int absent = rnd() % 13 == 0;
            row_set(b, NULL, x, absent);
            if (!absent)
                v[nv++] = x;
            multi_add(&p, &m, b);
        }
        multi_merge(&p, &m);
        const char *got = fmt_x(&p, m.all, out);
        char all[1024];
        snprintf(all, sizeof(all), "%s", got);
        assert_string_equal(fmt_x(&p, m.acc, out), all); /* bins add exactly */
        if (!nv) {
            assert_string_equal(all, "[null,null,null,null,null,null,null,null,null,null]");
        } else {
            qsort(v, nv, sizeof(*v), dbl_cmp);
            const char *s = all + 1;
            for (size_t i = 0; i < 10; i++) {
                char *end;
                double g = strtod(s, &end), t = v[(size_t)floor(qs[i] * (double)(nv - 1))];
                if (fabs(g - t) > 0.01 * fabs(t) * (1 + 1e-9))
                    fail_msg("window %d q %g: %.17g, true %.17g", w, qs[i], g, t);
                s = end + 1;
                checked++;
            }
        }
        if (w % 40 == 0)
            check_roundtrip(&p, m.acc);
        free(v);
        multi_free(&p, &m);
        assert_int_equal(mem, 0);
    }
    assert_true(checked > 1500);
    free(out);
    sl_agg_plan_free(&p);
    /* median and a single q print one number */
    double q9 = 0.9;
    sl_agg_params one = {.q = &q9, .nq = 1};
    sl_agg_def d[3] = {{.name = (char *)"m", .fn = SL_AGG_MEDIAN, .column = COL_NUM},
                       {.name = (char *)"p", .fn = SL_AGG_APPROX_PERCENTILE, .column = COL_NUM},
                       {.name = (char *)"c", .fn = SL_AGG_COUNT, .column = -1}};
    sl_agg_params params[3] = {{0}, one, {0}};
    assert_int_equal(sl_agg_plan_init_params(&p, d, params, 3), 0);
    assert_int_equal(p.ncells, 1); /* one shared sketch */
    void *st = calloc(1, p.state_size);
    row_set(b, NULL, 0, 1);
    sl_agg_add(&p, st, b, 0);
    char buf[256];
    *sl_agg_format(&p, st, buf) = 0;
    assert_string_equal(buf, ",\"m\":null,\"p\":null,\"c\":1");
    for (int i = 1; i <= 100; i++) {
        row_set(b, NULL, i, 0);
        sl_agg_add(&p, st, b, 0);
    }
    *sl_agg_format(&p, st, buf) = 0;
    double m50, p90;
    assert_int_equal(sscanf(buf, ",\"m\":%lf,\"p\":%lf", &m50, &p90), 2);
    assert_true(fabs(m50 - 50) <= 0.5 && fabs(p90 - 90) <= 0.9);
    sl_agg_state_release(&p, st);
    free(st);
    sl_agg_plan_free(&p);
    sl_batch_free(b);
    /* bad parameters */
    sl_agg_params bad = {.q = (double[]){1.5}, .nq = 1};
    params[1] = bad;
    assert_int_equal(sl_agg_plan_init_params(&p, d, params, 3), SL_EINVAL);
    params[1] = (sl_agg_params){0};
    assert_int_equal(sl_agg_plan_init_params(&p, d, params, 3), SL_EINVAL);
}

/* ---- top_k --------------------------------------------------------------------- */

typedef struct tk_true {
    char text[16];
    uint64_t n;
} tk_true;

static void test_topk(void **state)
{
    (void)state;
    rng = 14;
    size_t mem = 0;
    char *out = malloc(1 << 20);
    for (int w = 0; w < 120; w++) {
        uint32_t k = 1 + (uint32_t)(rnd() % 8);
        sl_agg_plan p;
        sl_agg_params pa = {.k = k};
        plan_one(&p, &mem, SL_AGG_TOP_K, COL_TEXT, &pa);
        sl_batch *b = row_new();
        multi m;
        multi_new(&p, &m);
        int exact = w % 2 == 0;
        size_t dom = exact ? 1 + rnd() % k : k + 1 + rnd() % 40, n = 1 + rnd() % 3000;
        tk_true tv[64] = {{{0}, 0}};
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            /* skewed: value j with weight ~ 1 / (j + 1) */
            size_t j = (size_t)(urand() * urand() * (double)dom);
            int absent = rnd() % 17 == 0;
            snprintf(tv[j].text, sizeof(tv[j].text), j % 3 ? "\"p%zu\"" : "%zu", j);
            row_set(b, absent ? NULL : tv[j].text, 0, 1);
            if (!absent) {
                tv[j].n++;
                total++;
            }
            multi_add(&p, &m, b);
        }
        multi_merge(&p, &m);
        for (int which = 0; which < 2; which++) {
            const char *got = fmt_x(&p, which ? m.acc : m.all, out);
            if (exact) {
                /* the reference: counts descending, then text */
                tk_true sorted[64];
                size_t ns = 0;
                for (size_t j = 0; j < dom; j++)
                    if (tv[j].n)
                        sorted[ns++] = tv[j];
                for (size_t i = 0; i < ns; i++)
                    for (size_t j = i + 1; j < ns; j++)
                        if (sorted[j].n > sorted[i].n ||
                            (sorted[j].n == sorted[i].n &&
                             (strcmp(sorted[j].text, sorted[i].text) < 0))) {
                            tk_true t = sorted[i];
                            sorted[i] = sorted[j];
                            sorted[j] = t;
                        }
                char want[4096];
                size_t at = (size_t)snprintf(want, sizeof(want), "[");
                for (size_t i = 0; i < ns; i++)
                    at += (size_t)snprintf(want + at, sizeof(want) - at,
                                           "%s{\"value\":%s,\"count\":%llu}", i ? "," : "",
                                           sorted[i].text, (unsigned long long)sorted[i].n);
                snprintf(want + at, sizeof(want) - at, "]");
                char *e = strstr(got, "]");
                assert_non_null(e);
                e[1] = 0;
                assert_string_equal(got, want);
                continue;
            }
            /* space-saving's guarantees */
            uint32_t items = 0;
            uint64_t prev = UINT64_MAX;
            for (const char *s = strstr(got, "{\"value\":"); s; s = strstr(s + 1, "{\"value\":")) {
                char text[16];
                unsigned long long c;
                const char *v = s + 9, *comma = strstr(v, ",\"count\":");
                snprintf(text, sizeof(text), "%.*s", (int)(comma - v), v);
                c = strtoull(comma + 9, NULL, 10);
                assert_true(c <= prev);
                prev = c;
                uint64_t truth = 0;
                for (size_t j = 0; j < dom; j++)
                    if (strcmp(tv[j].text, text) == 0)
                        truth = tv[j].n;
                if (c < truth || (double)(c - truth) > (double)total / k)
                    fail_msg("window %d k %u: %s counted %llu, true %llu, N %llu", w, k, text, c,
                             (unsigned long long)truth, (unsigned long long)total);
                items++;
            }
            assert_true(items <= k);
            for (size_t j = 0; j < dom; j++)
                if ((double)tv[j].n > (double)total / k) {
                    char needle[64];
                    snprintf(needle, sizeof(needle), "{\"value\":%.15s,", tv[j].text);
                    assert_non_null(strstr(got, needle));
                }
        }
        if (w % 10 == 0)
            check_roundtrip(&p, m.acc);
        multi_free(&p, &m);
        assert_int_equal(mem, 0);
        sl_batch_free(b);
        sl_agg_plan_free(&p);
    }
    free(out);
}

/* Forged top_k bytes: items that are not one JSON value are refused. */
static void test_topk_forged(void **state)
{
    (void)state;
    sl_agg_plan p;
    size_t mem = 0;
    sl_agg_params pa = {.k = 2};
    plan_one(&p, &mem, SL_AGG_TOP_K, COL_TEXT, &pa);
    void *st = calloc(1, p.state_size);
    static const struct {
        const char *text;
        int ok;
    } texts[] = {
        {"\"ok\"", 1},   {"123456789012345678901234567890", 1}, /* kept as read: any size */
        {"-1.5e400", 1}, {"[1,{\"a\":null,\"b\":[true,false]},\"\\u00e9\\n\"]", 1},
        {"{}", 1},       {"\"a\",\"b\":1", 0},
        {"{", 0},        {"", 0},
        {"1 2", 0},      {"\"x\"\n", 0},
        {"01", 0},       {"[1,]", 0},
        {"\"\\q\"", 0},  {"-", 0},
        {"1.", 0},       {"{\"a\"}", 0},
        {"nul", 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(texts); i++) {
        sl_buf b;
        sl_buf_init(&b);
        sl_buf_put_i64(&b, 1); /* n */
        sl_buf_put_u8(&b, 1);  /* present */
        sl_buf_put_u32(&b, 1); /* one item */
        sl_buf_put_u64(&b, 1); /* count */
        sl_buf_put_blob(&b, texts[i].text, strlen(texts[i].text));
        sl_reader r;
        sl_reader_init(&r, b.data, b.len);
        if (sl_agg_state_read(&p, st, &r) != (texts[i].ok ? 0 : SL_ECORRUPT))
            fail_msg("%s: accepted %d", texts[i].text, !texts[i].ok);
        sl_agg_state_release(&p, st);
        sl_buf_free(&b);
    }
    assert_int_equal(mem, 0);
    free(st);
    sl_agg_plan_free(&p);
}

/* ---- the window operator against the oracle ------------------------------------ */

typedef struct wev {
    int key;
    int64_t ts, off;
    const char *page; /* NULL: absent */
    double lat;
    int lat_absent;
} wev;

/* as the ingest gives them: canonical JSON text (minimal escapes) */
static const char *const pages[] = {"\"home\"", "\"cart\"", "\"a\\\"b\"", "\"\xc3\xa9\"", "7",
                                    "\"p5\"",   "\"p6\"",   "-2",         "\"p8\"",       "\"p9\""};
static const char *const wkeys[] = {"\"k\":0", "\"k\":1", "\"k\":2", "\"k\":3", "\"k\":4"};

typedef struct wcap {
    char **v;
    size_t n, cap;
} wcap;

static void on_result(void *ctx, const char *key, size_t klen, const char *value, size_t vlen,
                      int64_t ts, int update)
{
    (void)key, (void)klen, (void)ts, (void)update;
    wcap *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n] = malloc(vlen + 1);
    memcpy(c->v[c->n], value, vlen);
    c->v[c->n++][vlen] = 0;
}

static void feed(sl_window_task *t, const wev *ev, size_t from, size_t to, uint32_t bs, wcap *cap)
{
    sl_emitter em = {.ctx = cap, .result = on_result};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, bs, NCOLS);
    for (size_t i = from; i < to;) {
        sl_batch_reset(b);
        uint32_t r = 0;
        for (; r < bs && i < to; r++, i++) {
            size_t kl = strlen(wkeys[ev[i].key]);
            b->key_off[r] = sl_batch_put_bytes(b, wkeys[ev[i].key], kl);
            b->key_len[r] = (uint32_t)kl;
            b->key_hash[r] = sl_hash64(wkeys[ev[i].key], kl);
            b->ts[r] = ev[i].ts;
            b->offset[r] = ev[i].off;
            sl_num *h = sl_batch_val(b, COL_HASH, r), *n = sl_batch_val(b, COL_NUM, r),
                   *tx = sl_batch_val(b, COL_TEXT, r);
            if (ev[i].page) {
                size_t len = strlen(ev[i].page);
                uint32_t off = sl_batch_put_bytes(b, ev[i].page, len);
                *h = (sl_num){.v.i = (int64_t)sl_value_hash(ev[i].page, len)};
                *tx = (sl_num){.v.i = (int64_t)(((uint64_t)off << 32) | len)};
            } else {
                *h = *tx = (sl_num){.is_double = SL_NUM_ABSENT};
            }
            *n = ev[i].lat_absent ? (sl_num){.is_double = SL_NUM_ABSENT}
                                  : (sl_num){.v.d = ev[i].lat, .is_double = 1};
        }
        b->count = r;
        sl_window_task_process(t, b, &em);
    }
    sl_batch_free(b);
}

static sl_window_task *snap_restore(sl_window_task *t, const sl_window_def *def,
                                    const sl_watermark_def *wm)
{
    sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_window_task_snapshot(t, &b), 0);
    size_t bytes = sl_window_task_state_bytes(t);
    sl_window_task_free(t);
    sl_window_task *n = sl_window_task_new(def, wm);
    sl_reader r;
    sl_reader_init(&r, b.data, b.len);
    char err[256];
    assert_int_equal(sl_window_task_restore(n, &r, err, sizeof(err)), 0);
    assert_int_equal(sl_window_task_state_bytes(n) > bytes / 4, 1);
    sl_buf again;
    sl_buf_init(&again);
    assert_int_equal(sl_window_task_snapshot(n, &again), 0);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    sl_buf_free(&again);
    sl_buf_free(&b);
    return n;
}

static void run_window(sl_window_type type, uint64_t seed)
{
    rng = seed;
    sl_agg_def aggs[] = {
        {.name = (char *)"n", .fn = SL_AGG_COUNT, .column = -1},
        {.name = (char *)"pages", .fn = SL_AGG_COUNT_DISTINCT, .column = COL_HASH},
        {.name = (char *)"approx_pages", .fn = SL_AGG_APPROX_COUNT_DISTINCT, .column = COL_HASH},
        {.name = (char *)"lat", .fn = SL_AGG_APPROX_PERCENTILE, .column = COL_NUM},
        {.name = (char *)"med", .fn = SL_AGG_MEDIAN, .column = COL_NUM},
        {.name = (char *)"top", .fn = SL_AGG_TOP_K, .column = COL_TEXT},
        {.name = (char *)"top3", .fn = SL_AGG_TOP_K, .column = COL_TEXT}};
    double qs[] = {0.5, 0.99, 0};
    sl_agg_params params[7] = {{0}, {0},       {0},     {.q = qs, .nq = 3, .q_list = 1},
                               {0}, {.k = 10}, {.k = 3}};
    static const char *const names[] = {"n", "pages", "approx_pages", "lat", "med", "top", "top3"};
    static const char *const fns[] = {"count",
                                      "count_distinct",
                                      "approx_count_distinct",
                                      "approx_percentile:[0.5,0.99,0]",
                                      "median",
                                      "top_k:10",
                                      "top_k:3"};
    static const int cols[] = {-1, 0, 0, 1, 1, 2, 2};
    sl_window_def def = {.type = type,
                         .size_ms = 1000,
                         .slide_ms = type == SL_WIN_HOPPING ? 250 : 0,
                         .gap_ms = 12,
                         .allowed_lateness_ms = 300,
                         .aggs = aggs,
                         .naggs = 6, /* top3 is not exact: checked in test_topk */
                         .agg_params = params};
    if (type == SL_WIN_SESSION)
        def.size_ms = 0;
    sl_watermark_def wm = {.max_out_of_orderness_ms = 200};
    const size_t n = 6000;
    wev *ev = calloc(n, sizeof(*ev));
    for (size_t i = 0; i < n; i++) {
        ev[i].key = (int)(rnd() % 5);
        ev[i].ts = 1000000 + (int64_t)i * 3 - (int64_t)(rnd() % 300);
        if (rnd() % 40 == 0)
            ev[i].ts -= 600 + (int64_t)(rnd() % 800); /* late, some within lateness */
        ev[i].off = (int64_t)i + 1;
        ev[i].page = rnd() % 9 ? pages[(size_t)(urand() * urand() * 10)] : NULL;
        ev[i].lat = rnd() % 3 ? exp(urand() * 8) : (double)(rnd() % 50);
        ev[i].lat_absent = rnd() % 11 == 0;
    }
    /* the oracle */
    or_num *vals = calloc(3 * n, sizeof(*vals));
    or_event *oe = calloc(n, sizeof(*oe));
    for (size_t i = 0; i < n; i++) {
        or_num page = {.text = ev[i].page, .absent = ev[i].page == NULL};
        vals[3 * i] = page;
        vals[3 * i + 1] = (or_num){.is_double = 1, .d = ev[i].lat, .absent = ev[i].lat_absent};
        vals[3 * i + 2] = page;
        oe[i] = (or_event){
            .key = wkeys[ev[i].key], .ts = ev[i].ts, .cols = &vals[3 * i], .offset = ev[i].off};
    }
    or_config oc = {.type = type == SL_WIN_TUMBLING  ? OR_TUMBLING
                            : type == SL_WIN_HOPPING ? OR_HOPPING
                                                     : OR_SESSION,
                    .size = def.size_ms,
                    .slide = def.slide_ms,
                    .gap = def.gap_ms,
                    .lateness = def.allowed_lateness_ms,
                    .ooo = wm.max_out_of_orderness_ms,
                    .agg_names = names,
                    .agg_fns = fns,
                    .naggs = def.naggs,
                    .agg_cols = cols};
    or_output want = {0};
    oracle_run(&oc, oe, n, &want);
    static const char *const approx[] = {"lat", "med", NULL};
    static const uint32_t bss[] = {1, 7, 4096};
    for (size_t bi = 0; bi < 3; bi++) {
        wcap got = {0};
        sl_window_task *t = sl_window_task_new(&def, &wm);
        assert_non_null(t);
        size_t cut = n / 3 + rnd() % (n / 3);
        feed(t, ev, 0, cut, bss[bi], &got);
        t = snap_restore(t, &def, &wm);
        feed(t, ev, cut, n, bss[bi], &got);
        sl_emitter em = {.ctx = &got, .result = on_result};
        sl_window_task_close(t, &em);
        assert_true(sl_window_task_state_bytes(t) < 4096); /* sketches freed */
        sl_window_task_free(t);
        if (got.n != want.n)
            fail_msg("type %d batch %u: %zu results, the oracle %zu", type, bss[bi], got.n, want.n);
        for (size_t i = 0; i < got.n; i++)
            if (!oracle_same_result(got.v[i], want.results[i].value, approx, 0.01))
                fail_msg("type %d batch %u result %zu:\n got  %s\n want %s", type, bss[bi], i,
                         got.v[i], want.results[i].value);
        for (size_t i = 0; i < got.n; i++)
            free(got.v[i]);
        free(got.v);
    }
    assert_true(want.n > 100 && want.updates > 0);
    printf("  type %d: %zu results (%" PRIu64 " late updates) x 3 batch sizes\n", type, want.n,
           want.updates);
    oracle_output_free(&want);
    free(oe);
    free(vals);
    free(ev);
}

static void test_window_tumbling(void **state)
{
    (void)state;
    run_window(SL_WIN_TUMBLING, 21);
    run_window(SL_WIN_TUMBLING, 22);
}

static void test_window_hopping(void **state)
{
    (void)state;
    run_window(SL_WIN_HOPPING, 23);
    run_window(SL_WIN_HOPPING, 24);
}

static void test_window_session(void **state)
{
    (void)state;
    run_window(SL_WIN_SESSION, 25);
    run_window(SL_WIN_SESSION, 26);
}

/* ---- the ingest: value columns ------------------------------------------------- */

/* The column of aggregate `name` in w. */
static int col_of(const sl_window_def *w, const char *name)
{
    for (size_t a = 0; a < w->naggs; a++)
        if (strcmp(w->aggs[a].name, name) == 0)
            return w->aggs[a].column;
    fail_msg("no aggregate %s", name);
    return -1;
}

typedef struct got_row {
    sl_decode_result r;
    sl_bad_reason why;
    sl_num hash, num, text, sum;
    char txt[64];
} got_row;

static got_row ingest_one(sl_ingest *ing, const sl_window_def *w, const char *ev)
{
    got_row g;
    memset(&g, 0, sizeof(g));
    g.r = sl_ingest_decode(ing, ev, strlen(ev), -1, &g.why);
    if (g.r != SL_DECODE_OK)
        return g;
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, sl_ingest_ncolumns(ing));
    assert_int_equal(sl_ingest_append(ing, b, 1), SL_OK);
    g.hash = *sl_batch_val(b, (uint32_t)col_of(w, "pages"), 0);
    g.num = *sl_batch_val(b, (uint32_t)col_of(w, "med"), 0);
    g.text = *sl_batch_val(b, (uint32_t)col_of(w, "top"), 0);
    g.sum = *sl_batch_val(b, (uint32_t)col_of(w, "total"), 0);
    if (g.text.is_double != SL_NUM_ABSENT) {
        uint64_t ref = (uint64_t)g.text.v.i;
        snprintf(g.txt, sizeof(g.txt), "%.*s", (int)(uint32_t)ref, b->bytes + (ref >> 32));
    }
    sl_batch_free(b);
    return g;
}

static void test_ingest_columns(void **state)
{
    (void)state;
    const char *text =
        "{\"name\":\"x\",\"source\":{\"type\":\"file\",\"path\":\"/dev/null\",\"format\":"
        "\"json\",\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
        "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\",\"size\":"
        "\"1s\"},\"aggregates\":{\"pages\":{\"fn\":\"count_distinct\",\"field\":\"page\"},"
        "\"ap\":{\"fn\":\"approx_count_distinct\",\"field\":\"page\"},"
        "\"top\":{\"fn\":\"top_k\",\"field\":\"page\",\"k\":3},"
        "\"med\":{\"fn\":\"median\",\"field\":\"lat\"},"
        "\"p\":{\"fn\":\"approx_percentile\",\"field\":\"lat\",\"q\":[0.5,0.9]},"
        "\"total\":{\"fn\":\"sum\",\"field\":\"lat\"}}}],"
        "\"sink\":{\"type\":\"null\"}}";
    sl_def *def = NULL;
    char err[512];
    if (sl_def_load_string(text, "x.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    const sl_window_def *w = def->window;
    /* one column per (field, kind): page hash, page text, lat optional, lat */
    assert_int_equal(w->ncolumns, 4);
    assert_int_equal(col_of(w, "pages"), col_of(w, "ap"));
    assert_int_equal(col_of(w, "med"), col_of(w, "p"));
    assert_true(col_of(w, "med") != col_of(w, "total"));
    sl_ingest *raw = sl_ingest_new(def, SL_INGEST_RAW, err, sizeof(err));
    sl_ingest *rep = sl_ingest_new(def, SL_INGEST_REPARTITIONED, err, sizeof(err));
    assert_non_null(raw);
    assert_non_null(rep);
    static const struct {
        const char *ev, *txt; /* txt NULL: absent */
    } cases[] = {
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2.5,\"page\":\"home\"}", "\"home\""},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":\"h\\u006fme\"}", "\"home\""},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":\"a\\/\\\"b\"}", "\"a/\\\"b\""},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":1}", "1"},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":1.0}", "1"},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":1.5e0}", "1.5"},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":true}", "true"},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":{ \"a\" : [1, 2] }}", "{\"a\":[1,2]}"},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2,\"page\":null}", NULL},
        {"{\"user\":\"u\",\"ts\":1,\"lat\":2}", NULL},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        got_row g = ingest_one(raw, w, cases[i].ev);
        assert_int_equal(g.r, SL_DECODE_OK);
        if (!cases[i].txt) {
            assert_int_equal(g.hash.is_double, SL_NUM_ABSENT);
            assert_int_equal(g.text.is_double, SL_NUM_ABSENT);
        } else {
            assert_string_equal(g.txt, cases[i].txt);
            assert_int_equal((uint64_t)g.hash.v.i,
                             sl_value_hash(cases[i].txt, strlen(cases[i].txt)));
        }
        /* through a repartition record: the same columns */
        char rec[512];
        long n = sl_ingest_encode_repartition(raw, rec, sizeof(rec) - 1);
        assert_true(n > 0);
        rec[n] = 0;
        got_row r = ingest_one(rep, w, rec);
        assert_int_equal(r.r, SL_DECODE_OK);
        assert_int_equal(r.hash.is_double, g.hash.is_double);
        assert_int_equal(r.hash.v.i, g.hash.v.i);
        assert_string_equal(r.txt, g.txt);
        assert_int_equal(r.num.is_double, g.num.is_double);
        assert_memory_equal(&r.num.v, &g.num.v, sizeof(r.num.v));
    }
    /* lat: missing is absent for the median and bad for the sum; a string is
     * the wrong type for both */
    got_row g = ingest_one(raw, w, "{\"user\":\"u\",\"ts\":1,\"page\":\"x\"}");
    assert_int_equal(g.r, SL_DECODE_BAD);
    assert_int_equal(g.why, SL_BAD_MISSING_FIELD);
    g = ingest_one(raw, w, "{\"user\":\"u\",\"ts\":1,\"lat\":\"2\"}");
    assert_int_equal(g.r, SL_DECODE_BAD);
    assert_int_equal(g.why, SL_BAD_WRONG_TYPE);
    sl_ingest_free(raw);
    sl_ingest_free(rep);
    sl_def_free(def);

    /* definition errors */
    static const char *const bad[][2] = {
        {"{\"fn\":\"top_k\",\"field\":\"page\"}", "top_k needs \"k\""},
        {"{\"fn\":\"top_k\",\"field\":\"page\",\"k\":0}", "top_k needs \"k\""},
        {"{\"fn\":\"approx_percentile\",\"field\":\"lat\"}", "needs \"q\""},
        {"{\"fn\":\"approx_percentile\",\"field\":\"lat\",\"q\":[0.5,2]}", "in [0, 1]"},
        {"{\"fn\":\"approx_percentile\",\"field\":\"lat\",\"q\":[]}", "1 to 64"},
        {"{\"fn\":\"median\",\"field\":\"lat\",\"q\":0.5}", "only approx_percentile"},
        {"{\"fn\":\"sum\",\"field\":\"lat\",\"k\":3}", "only top_k"},
        {"{\"fn\":\"count_distinct\"}", "needs a \"field\""},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        char d[1024];
        snprintf(d, sizeof(d),
                 "{\"name\":\"x\",\"source\":{\"type\":\"file\",\"path\":\"/dev/null\","
                 "\"format\":\"json\"},\"pipeline\":[{\"window\":{\"type\":\"tumbling\","
                 "\"size\":\"1s\"},\"aggregates\":{\"a\":%s}}],\"sink\":{\"type\":\"null\"}}",
                 bad[i][0]);
        sl_def *x = NULL;
        assert_int_equal(sl_def_load_string(d, "x.json", &x, err, sizeof(err)), SL_EINVAL);
        if (!strstr(err, bad[i][1]))
            fail_msg("%s: %s", bad[i][0], err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_distinct),    cmocka_unit_test(test_hll_accuracy),
        cmocka_unit_test(test_ddsketch_accuracy), cmocka_unit_test(test_topk),
        cmocka_unit_test(test_topk_forged),       cmocka_unit_test(test_window_tumbling),
        cmocka_unit_test(test_window_hopping),    cmocka_unit_test(test_window_session),
        cmocka_unit_test(test_ingest_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
