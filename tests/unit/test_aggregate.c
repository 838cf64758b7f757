/*
 * test_aggregate.c - the aggregate plan (operators/aggregate.c) directly:
 *  - first/last pick by (event time, offset) and keep the value's type;
 *  - the variances on known values, null for a sample one of one event;
 *  - merging states in any grouping and order gives what folding every
 *    event into one state gives (first/last exactly, variances within a
 *    relative 1e-12);
 *  - a state survives write/read; damaged moments and truncations are
 *    refused; states of count/sum/min/max/avg keep their old bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plan over `n` aggregates of column 0 (count has none). */
static void plan_of(sl_agg_plan *p, const sl_agg_fn *fns, const char *const *names, size_t n)
{
    sl_agg_def d[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++)
        d[i] = (sl_agg_def){
            .name = (char *)names[i], .fn = fns[i], .column = fns[i] == SL_AGG_COUNT ? -1 : 0};
    assert_int_equal(sl_agg_plan_init(p, d, n), 0);
}

/* One event in row 0 of `b`. */
static void put(sl_batch *b, int64_t ts, int64_t off, sl_num x)
{
    b->count = 1;
    b->ts[0] = ts;
    b->offset[0] = off;
    *sl_batch_val(b, 0, 0) = x;
}

static sl_num I(int64_t v)
{
    return (sl_num){.v.i = v, .is_double = 0};
}

static sl_num D(double v)
{
    return (sl_num){.v.d = v, .is_double = 1};
}

static void format(const sl_agg_plan *p, const void *st, char *out)
{
    char *e = sl_agg_format(p, st, out);
    assert_true((size_t)(e - out) <= p->format_bound);
    *e = 0;
}

static void test_first_last(void **state)
{
    (void)state;
    static const sl_agg_fn fns[] = {SL_AGG_FIRST, SL_AGG_LAST, SL_AGG_COUNT};
    static const char *const names[] = {"f", "l", "n"};
    sl_agg_plan p;
    plan_of(&p, fns, names, 3);
    void *st = calloc(1, p.state_size);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    char out[256];
    /* arrival order is not time order; ties at ts 10 by offset */
    put(b, 20, 5, I(7));
    sl_agg_add(&p, st, b, 0);
    put(b, 10, 9, D(2.5));
    sl_agg_add(&p, st, b, 0);
    put(b, 10, 3, I(-4));
    sl_agg_add(&p, st, b, 0);
    put(b, 30, 1, I(11));
    sl_agg_add(&p, st, b, 0);
    put(b, 30, 2, D(0.25));
    sl_agg_add(&p, st, b, 0);
    format(&p, st, out);
    assert_string_equal(out, ",\"f\":-4,\"l\":0.25,\"n\":5");
    free(st);
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

static double member(const char *json, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *m = strstr(json, pat);
    assert_non_null(m);
    m += strlen(pat);
    if (strncmp(m, "null", 4) == 0)
        return NAN;
    return strtod(m, NULL);
}

static const sl_agg_fn var_fns[] = {SL_AGG_VAR_POP, SL_AGG_VAR_SAMP, SL_AGG_STDDEV_POP,
                                    SL_AGG_STDDEV_SAMP, SL_AGG_AVG};
static const char *const var_names[] = {"vp", "vs", "sp", "ss", "avg"};

static void test_variance_known(void **state)
{
    (void)state;
    sl_agg_plan p;
    plan_of(&p, var_fns, var_names, 5);
    assert_int_equal(p.ncells, 2); /* one moments partial shared by four, one sum */
    void *st = calloc(1, p.state_size);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    char out[512];
    put(b, 0, 0, I(5));
    sl_agg_add(&p, st, b, 0);
    format(&p, st, out);
    assert_string_equal(out, ",\"vp\":0.0,\"vs\":null,\"sp\":0.0,\"ss\":null,\"avg\":5.0");
    static const int64_t more[] = {2, 4, 4, 4, 5, 7, 9}; /* with 5: pop var 4 */
    for (size_t i = 0; i < 7; i++) {
        put(b, (int64_t)i, (int64_t)i, i % 2 ? D((double)more[i]) : I(more[i]));
        sl_agg_add(&p, st, b, 0);
    }
    format(&p, st, out);
    assert_true(fabs(member(out, "vp") - 4.0) < 1e-12);
    assert_true(fabs(member(out, "sp") - 2.0) < 1e-12);
    assert_true(fabs(member(out, "vs") - 32.0 / 7.0) < 1e-12);
    assert_true(fabs(member(out, "ss") - sqrt(32.0 / 7.0)) < 1e-12);
    /* a large offset does not cost precision (the naive sum of squares
     * would lose every digit here) */
    memset(st, 0, p.state_size);
    for (int i = 0; i < 1000; i++) {
        put(b, i, i, D(1e9 + (i % 2 ? 1.0 : -1.0)));
        sl_agg_add(&p, st, b, 0);
    }
    format(&p, st, out);
    assert_true(fabs(member(out, "vp") - 1.0) < 1e-6);
    free(st);
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int close_rel(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    double s = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= 1e-12 * s + 1e-15;
}

static void test_merge_any_order(void **state)
{
    (void)state;
    static const sl_agg_fn fns[] = {SL_AGG_FIRST, SL_AGG_LAST, SL_AGG_VAR_POP, SL_AGG_VAR_SAMP,
                                    SL_AGG_COUNT};
    static const char *const names[] = {"f", "l", "vp", "vs", "n"};
    sl_agg_plan p;
    plan_of(&p, fns, names, 5);
    enum { N = 300, PARTS = 7 };
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    for (int round = 0; round < 50; round++) {
        void *all = calloc(1, p.state_size);
        void *part[PARTS];
        for (int k = 0; k < PARTS; k++)
            part[k] = calloc(1, p.state_size);
        int n = 1 + (int)(rnd() % N);
        for (int i = 0; i < n; i++) {
            /* few distinct times: many ties broken by offset */
            int64_t ts = (int64_t)(rnd() % 20);
            sl_num x = rnd() % 3 ? I((int64_t)(rnd() % 2000) - 1000)
                                 : D((double)(rnd() % 100000) / 7.0 - 5000.0);
            put(b, ts, i, x);
            sl_agg_add(&p, all, b, 0);
            sl_agg_add(&p, part[rnd() % PARTS], b, 0);
        }
        /* merge the parts in a random order into one of them */
        int order[PARTS];
        for (int k = 0; k < PARTS; k++)
            order[k] = k;
        for (int k = PARTS - 1; k > 0; k--) {
            int j = (int)(rnd() % (uint64_t)(k + 1)), t = order[k];
            order[k] = order[j];
            order[j] = t;
        }
        void *acc = calloc(1, p.state_size);
        for (int k = 0; k < PARTS; k++)
            sl_agg_merge(&p, acc, part[order[k]]);
        char a[512], m[512];
        format(&p, all, a);
        format(&p, acc, m);
        /* first, last and count exactly (the text up to ,"vp") */
        assert_memory_equal(a, m, (size_t)(strstr(a, ",\"vp\"") - a));
        assert_string_equal(strstr(a, ",\"n\""), strstr(m, ",\"n\""));
        if (!close_rel(member(a, "vp"), member(m, "vp")) ||
            !close_rel(member(a, "vs"), member(m, "vs")))
            fail_msg("round %d:\n one   %s\n merged %s", round, a, m);
        for (int k = 0; k < PARTS; k++)
            free(part[k]);
        free(all);
        free(acc);
    }
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

static void test_state_bytes(void **state)
{
    (void)state;
    static const sl_agg_fn fns[] = {SL_AGG_COUNT, SL_AGG_FIRST, SL_AGG_STDDEV_SAMP, SL_AGG_LAST,
                                    SL_AGG_SUM};
    static const char *const names[] = {"n", "f", "s", "l", "t"};
    sl_agg_plan p;
    plan_of(&p, fns, names, 5);
    void *st = calloc(1, p.state_size), *back = calloc(1, p.state_size);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    for (int i = 0; i < 10; i++) {
        put(b, 100 - i, i, i % 3 ? I(i * 3) : D(i * 0.5));
        sl_agg_add(&p, st, b, 0);
    }
    sl_buf buf;
    sl_buf_init(&buf);
    sl_agg_state_write(&p, st, &buf);
    /* n, first (value, ts, offset), moments (mean, M2), last, sum */
    assert_int_equal(buf.len, 8 + 25 + 16 + 25 + 9);
    sl_reader r = {.p = buf.data, .len = buf.len};
    assert_int_equal(sl_agg_state_read(&p, back, &r), 0);
    char a[512], c[512];
    format(&p, st, a);
    format(&p, back, c);
    assert_string_equal(a, c);
    /* every truncation is refused */
    for (size_t cut = 0; cut < buf.len; cut++) {
        sl_reader t = {.p = buf.data, .len = cut};
        assert_int_equal(sl_agg_state_read(&p, back, &t), SL_ECORRUPT);
    }
    /* a negative M2 is refused: it is the f64 at 8 + 25 + 8 */
    uint8_t *m2 = buf.data + 8 + 25 + 8;
    m2[7] |= 0x80;
    sl_reader neg = {.p = buf.data, .len = buf.len};
    assert_int_equal(sl_agg_state_read(&p, back, &neg), SL_ECORRUPT);
    sl_buf_free(&buf);
    free(st);
    free(back);
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

/* count/sum/min/max/avg write what they always wrote: i64 n, then per
 * (op, column) u8 is_double and the i64 or f64. */
static void test_old_layout(void **state)
{
    (void)state;
    static const sl_agg_fn fns[] = {SL_AGG_COUNT, SL_AGG_SUM, SL_AGG_MIN, SL_AGG_MAX, SL_AGG_AVG};
    static const char *const names[] = {"n", "s", "lo", "hi", "m"};
    sl_agg_plan p;
    plan_of(&p, fns, names, 5);
    assert_int_equal(p.ncells, 3);
    assert_int_equal(p.nslots, 3);
    assert_int_equal(p.state_size, sizeof(sl_agg_state) + 3 * sizeof(sl_agg_cell));
    void *st = calloc(1, p.state_size);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, 1);
    put(b, 1, 1, I(3));
    sl_agg_add(&p, st, b, 0);
    put(b, 2, 2, I(-2));
    sl_agg_add(&p, st, b, 0);
    sl_buf buf;
    sl_buf_init(&buf);
    sl_agg_state_write(&p, st, &buf);
    static const uint8_t want[] = {2, 0,    0,    0,    0,    0,    0,    0,          /* n */
                                   0, 1,    0,    0,    0,    0,    0,    0,    0,    /* sum 1 */
                                   0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* min */
                                   0, 3,    0,    0,    0,    0,    0,    0,    0};   /* max */
    assert_int_equal(buf.len, sizeof(want));
    assert_memory_equal(buf.data, want, sizeof(want));
    char out[256];
    format(&p, st, out);
    assert_string_equal(out, ",\"n\":2,\"s\":1,\"lo\":-2,\"hi\":3,\"m\":0.5");
    sl_buf_free(&buf);
    free(st);
    sl_batch_free(b);
    sl_agg_plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_last),      cmocka_unit_test(test_variance_known),
        cmocka_unit_test(test_merge_any_order), cmocka_unit_test(test_state_bytes),
        cmocka_unit_test(test_old_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
