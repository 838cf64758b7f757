/*
 * test_operators_rows.c - the operators that run on a window's result rows,
 * driven through their vtables only (sl_operator_find, stages loaded from
 * a definition pipeline [key_by, window, filter, map, ...], ops->open and
 * ops->process on result batches built with sl_batch_add_result):
 *  - filter: seeded random expressions on rows of ints, doubles, strings,
 *    bools, nulls, objects and missing fields, against an evaluation
 *    written here (numbers by value, strings bytewise, a missing field is
 *    false, a comparison between different types false except !=); the
 *    passing rows go on unchanged, in order, with key, ts and offset;
 *  - map: keep, drop and rename against an expected row computed here (the
 *    remaining fields in row order, a renamed field in its place and
 *    replacing a field of its new name, the message key, ts and offset
 *    carried); filter and map chained as in a task;
 *  - the toy `sample` operator (tests/lib/sample_op.h): every n-th row
 *    across snapshot / restore, and refused sections leave it empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "definition.h"
#include "operator.h"
#include "sample_op.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- collecting output ------------------------------------------------------ */

typedef struct out_row {
    char *key, *value;
    int64_t ts, offset;
} out_row;

typedef struct capture {
    out_row *rows;
    size_t n, cap;
} capture;

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static void cap_emit(void *ctx, const sl_batch *b)
{
    capture *c = ctx;
    assert_int_equal(b->kind, SL_MSG_RESULTS);
    for (uint32_t i = 0; i < b->count; i++) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->rows = realloc(c->rows, c->cap * sizeof(*c->rows));
        }
        uint32_t kl, vl;
        const char *k = sl_batch_key(b, i, &kl);
        const char *v = sl_batch_row(b, i, &vl);
        c->rows[c->n++] = (out_row){dup_bytes(k, kl), dup_bytes(v, vl), b->ts[i], b->offset[i]};
    }
}

static void cap_free(capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->rows[i].key);
        free(c->rows[i].value);
    }
    free(c->rows);
    memset(c, 0, sizeof(*c));
}

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- definitions ---------------------------------------------------------------- */

/* A pipeline [key_by, window, <after>]: result rows hold s, x,
 * window_start, window_end, a, b, c. */
static sl_def *load_def(const char *after)
{
    char text[4096], err[1024] = "";
    snprintf(text, sizeof(text),
             "{\"name\":\"rows\",\"source\":{\"type\":\"file\",\"path\":\"in.jsonl\","
             "\"format\":\"json\",\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"s\",\"x\"]},{\"window\":{\"type\":\"tumbling\","
             "\"size\":\"1s\"},\"aggregates\":{\"a\":{\"fn\":\"count\"},\"b\":{\"fn\":\"sum\","
             "\"field\":\"amount\"},\"c\":{\"fn\":\"avg\",\"field\":\"amount\"}}},%s],"
             "\"sink\":{\"type\":\"null\"}}",
             after);
    sl_def *def = NULL;
    if (sl_def_load_string(text, "rows.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("definition: %s\n%s", err, text);
    return def;
}

/* The k-th stage after the window, which must be operator `name`. */
static const sl_stage *stage_after(const sl_def *def, size_t k, const char *name)
{
    const sl_stage *st = &def->stages[sl_def_runtime_stage(def) + 1 + k];
    assert_ptr_equal(st->ops, sl_operator_find(name));
    assert_non_null(st->ops->open);
    assert_non_null(st->ops->process);
    return st;
}

static void *open_stage(const sl_def *def, const sl_stage *st)
{
    sl_op_env env = {.def = def, .task = 1};
    char err[256] = "";
    void *op = st->ops->open(st, &env, err, sizeof(err));
    if (!op)
        fail_msg("open: %s", err);
    return op;
}

/* ---- random result rows ----------------------------------------------------------- */

typedef enum { V_MISSING, V_INT, V_DOUBLE, V_STRING, V_BOOL, V_NULL, V_OTHER } vtype;

typedef struct gval {
    vtype t;
    int64_t i;       /* INT, BOOL */
    long double d;   /* DOUBLE (exact) */
    const char *s;   /* STRING (decoded) */
    const char *txt; /* the JSON text */
} gval;

static const char *const fields[] = {"s", "x", "window_start", "window_end", "a", "b", "c"};
#define NFIELDS 7

static const struct {
    const char *txt;
    int64_t i;
} ints[] = {{"0", 0},
            {"1", 1},
            {"-1", -1},
            {"2", 2},
            {"3", 3},
            {"-7", -7},
            {"10", 10},
            {"9007199254740993", 9007199254740993LL},
            {"9223372036854775807", INT64_MAX}};
static const struct {
    const char *txt;
    long double d;
} doubles[] = {{"0.0", 0.0L},     {"-0.0", -0.0L},
               {"0.5", 0.5L},     {"1.0", 1.0L},
               {"2.5", 2.5L},     {"-7.0", -7.0L},
               {"10.25", 10.25L}, {"9007199254740992.0", 9007199254740992.0L},
               {"1e300", 1e300L}};
static const struct {
    const char *txt, *s;
} strings[] = {{"\"u1\"", "u1"},
               {"\"u10\"", "u10"},
               {"\"u2\"", "u2"},
               {"\"\"", ""},
               {"\"U1\"", "U1"},
               {"\"1\"", "1"},
               {"\"\\u00e4\"", "\xc3\xa4"},
               {"\"a\\\"b\"", "a\"b"}};

static gval rand_val(int allow_other)
{
    gval v = {0};
    switch (rnd() % (allow_other ? 7 : 5)) {
    case 0:
    case 1: {
        size_t k = rnd() % SL_ARRAY_LEN(ints);
        v.t = V_INT;
        v.i = ints[k].i;
        v.txt = ints[k].txt;
        break;
    }
    case 2: {
        size_t k = rnd() % SL_ARRAY_LEN(doubles);
        v.t = V_DOUBLE;
        v.d = doubles[k].d;
        v.txt = doubles[k].txt;
        break;
    }
    case 3: {
        size_t k = rnd() % SL_ARRAY_LEN(strings);
        v.t = V_STRING;
        v.s = strings[k].s;
        v.txt = strings[k].txt;
        break;
    }
    case 4:
        v.t = V_BOOL;
        v.i = (int64_t)(rnd() % 2);
        v.txt = v.i ? "true" : "false";
        break;
    case 5:
        v.t = V_NULL;
        v.txt = "null";
        break;
    default:
        v.t = V_OTHER;
        v.txt = rnd() % 2 ? "{\"k\":[1,2]}" : "[\"u1\"]";
        break;
    }
    return v;
}

typedef struct grow {
    gval v[NFIELDS]; /* by field; V_MISSING when absent */
    char text[512];
    char key[32];
    int64_t ts, offset;
} grow;

static void rand_row(grow *r, int idx)
{
    size_t at = 0;
    r->text[at++] = '{';
    for (int f = 0; f < NFIELDS; f++) {
        r->v[f] = rnd() % 6 == 0 ? (gval){.t = V_MISSING} : rand_val(1);
        if (r->v[f].t == V_MISSING)
            continue;
        at += (size_t)snprintf(r->text + at, sizeof(r->text) - at, "%s\"%s\":%s", at > 1 ? "," : "",
                               fields[f], r->v[f].txt);
    }
    snprintf(r->text + at, sizeof(r->text) - at, "}");
    snprintf(r->key, sizeof(r->key), "{\"s\":\"k%d\"}", idx % 13);
    r->ts = 1700000000999 + idx;
    r->offset = (int64_t)(rnd() % 2);
}

/* Feeds rows [0, n) as result batches of up to `bs` rows. */
static void feed_rows(const sl_operator_ops *ops, void *op, const grow *rows, size_t n, uint32_t bs,
                      const sl_op_out *out)
{
    sl_batch *b = sl_batch_new(SL_MSG_RESULTS, 1, bs, 0);
    for (size_t i = 0; i < n;) {
        sl_batch_reset(b);
        for (; i < n && b->count < bs; i++)
            assert_int_equal(sl_batch_add_result(b, rows[i].key, strlen(rows[i].key), rows[i].text,
                                                 strlen(rows[i].text), rows[i].ts, rows[i].offset),
                             0);
        ops->process(op, b, out);
    }
    sl_batch_free(b);
}

/* ---- 4a. filter ------------------------------------------------------------------- */

/* An expression: its JSON text and, for the evaluation, its tree. */
typedef struct gexpr {
    int kind;      /* 0 cmp, 1 and, 2 or, 3 not */
    int field, op; /* op: 0 =, 1 !=, 2 <, 3 <=, 4 >, 5 >= */
    gval lit;
    struct gexpr *args[3];
    int nargs;
} gexpr;

static const char *const op_text[] = {"=", "!=", "<", "<=", ">", ">="};

static gexpr *rand_expr(int depth, char *buf, size_t cap, size_t *at)
{
    gexpr *e = calloc(1, sizeof(*e));
    e->kind = depth < 2 && rnd() % 3 == 0 ? 1 + (int)(rnd() % 3) : 0;
    if (e->kind == 0) {
        e->field = (int)(rnd() % NFIELDS);
        e->lit = rand_val(0);
        e->op = e->lit.t == V_BOOL || e->lit.t == V_NULL ? (int)(rnd() % 2) : (int)(rnd() % 6);
        const char *opt = e->op == 0 && rnd() % 2 ? "==" : op_text[e->op];
        *at +=
            (size_t)snprintf(buf + *at, cap - *at, "{\"field\":\"%s\",\"op\":\"%s\",\"value\":%s}",
                             fields[e->field], opt, e->lit.txt);
        return e;
    }
    static const char *const names[] = {"", "and", "or", "not"};
    e->nargs = e->kind == 3 ? 1 : 1 + (int)(rnd() % 3);
    *at += (size_t)snprintf(buf + *at, cap - *at, "{\"%s\":%s", names[e->kind],
                            e->kind == 3 ? "" : "[");
    for (int i = 0; i < e->nargs; i++) {
        if (i)
            *at += (size_t)snprintf(buf + *at, cap - *at, ",");
        e->args[i] = rand_expr(depth + 1, buf, cap, at);
    }
    *at += (size_t)snprintf(buf + *at, cap - *at, "%s}", e->kind == 3 ? "" : "]");
    return e;
}

static void free_expr(gexpr *e)
{
    for (int i = 0; i < e->nargs; i++)
        free_expr(e->args[i]);
    free(e);
}

static int holds(int c, int op)
{
    static const int table[6][3] = {/* c = -1, 0, 1 */
                                    {0, 1, 0}, {1, 0, 1}, {1, 0, 0},
                                    {1, 1, 0}, {0, 0, 1}, {0, 1, 1}};
    return table[op][c + 1];
}

/* The rules of definition.h, evaluated here on the generated values. */
static int eval(const gexpr *e, const grow *r)
{
    if (e->kind == 1) {
        for (int i = 0; i < e->nargs; i++)
            if (!eval(e->args[i], r))
                return 0;
        return 1;
    }
    if (e->kind == 2) {
        for (int i = 0; i < e->nargs; i++)
            if (eval(e->args[i], r))
                return 1;
        return 0;
    }
    if (e->kind == 3)
        return !eval(e->args[0], r);
    const gval *v = &r->v[e->field], *l = &e->lit;
    if (v->t == V_MISSING)
        return 0;
    int vn = v->t == V_INT || v->t == V_DOUBLE, ln = l->t == V_INT || l->t == V_DOUBLE;
    if (vn && ln) { /* long double holds every int64 and double exactly */
        long double a = v->t == V_INT ? (long double)v->i : v->d;
        long double b = l->t == V_INT ? (long double)l->i : l->d;
        return holds(a < b ? -1 : a > b, e->op);
    }
    if (v->t == V_STRING && l->t == V_STRING) {
        int c = strcmp(v->s, l->s);
        return holds(c < 0 ? -1 : c > 0, e->op);
    }
    if (v->t == l->t && (v->t == V_BOOL || v->t == V_NULL))
        return holds(v->t == V_NULL || v->i == l->i ? 0 : 1, e->op);
    return e->op == 1; /* different types: only != */
}

static void test_filter_semantics(void **state)
{
    (void)state;
    rng = 0x5eed;
    enum { NROWS = 600, NEXPR = 250 };
    grow *rows = calloc(NROWS, sizeof(*rows));
    for (int i = 0; i < NROWS; i++)
        rand_row(&rows[i], i);
    size_t passed = 0, total = 0, missing_cmp = 0;
    for (int x = 0; x < NEXPR; x++) {
        char text[4096], stage[4200];
        size_t at = 0;
        gexpr *e = rand_expr(0, text, sizeof(text), &at);
        snprintf(stage, sizeof(stage), "{\"filter\":%s}", text);
        sl_def *def = load_def(stage);
        const sl_stage *st = stage_after(def, 0, "filter");
        void *op = open_stage(def, st);
        capture got = {0};
        sl_op_out out = {.emit = cap_emit, .ctx = &got};
        uint32_t bs = x % 3 == 0 ? 1 : x % 3 == 1 ? 17 : 1024;
        feed_rows(st->ops, op, rows, NROWS, bs, &out);
        if (st->ops->watermark) /* stateless: nothing pending */
            st->ops->watermark(op, INT64_MAX, &out);
        if (st->ops->finish)
            st->ops->finish(op, &out);
        size_t g = 0;
        for (int i = 0; i < NROWS; i++) {
            if (e->kind == 0 && rows[i].v[e->field].t == V_MISSING)
                missing_cmp++;
            if (!eval(e, &rows[i]))
                continue;
            if (g >= got.n)
                fail_msg("filter %s: row %d (%s) should pass", text, i, rows[i].text);
            const out_row *o = &got.rows[g++];
            if (strcmp(o->value, rows[i].text) != 0)
                fail_msg("filter %s: row %d: got %s, want %s", text, i, o->value, rows[i].text);
            assert_string_equal(o->key, rows[i].key);
            assert_int_equal(o->ts, rows[i].ts);
            assert_int_equal(o->offset, rows[i].offset);
        }
        if (g != got.n)
            fail_msg("filter %s: %zu rows passed, %zu expected", text, got.n, g);
        passed += g;
        total += NROWS;
        cap_free(&got);
        st->ops->close(op);
        sl_def_free(def);
        free_expr(e);
    }
    /* the sample is not degenerate */
    assert_true(passed > total / 10 && passed < total * 9 / 10);
    assert_true(missing_cmp > 1000);
    free(rows);
}

/* ---- 4b. map ---------------------------------------------------------------------- */

typedef struct mspec {
    const char *json;
    const char *keep[NFIELDS], *drop[NFIELDS], *from[NFIELDS], *to[NFIELDS];
} mspec;

static const mspec maps[] = {
    {"{\"drop\":[\"b\"],\"rename\":{\"a\":\"n\"}}", {0}, {"b"}, {"a"}, {"n"}},
    {"{\"keep\":[\"x\",\"c\",\"a\",\"window_end\"]}", {"x", "c", "a", "window_end"}, {0}, {0}, {0}},
    {"{\"keep\":[\"c\",\"s\",\"b\"],\"drop\":[\"s\"],\"rename\":{\"c\":\"avg\"}}",
     {"c", "s", "b"},
     {"s"},
     {"c"},
     {"avg"}},
    {"{\"drop\":[\"window_start\",\"window_end\"]}", {0}, {"window_start", "window_end"}, {0}, {0}},
    {"{\"rename\":{\"window_start\":\"from\",\"window_end\":\"to\"}}",
     {0},
     {0},
     {"window_start", "window_end"},
     {"from", "to"}},
    {"{\"rename\":{\"a\":\"b\",\"b\":\"a\"}}", {0}, {0}, {"a", "b"}, {"b", "a"}},
    /* renamed over a field of that name, later or earlier in the row: the
     * renamed value replaces it, in the renamed field's place */
    {"{\"rename\":{\"s\":\"b\"}}", {0}, {0}, {"s"}, {"b"}},
    {"{\"rename\":{\"c\":\"x\"}}", {0}, {0}, {"c"}, {"x"}},
};

static int in_list(const char *const *l, const char *s)
{
    for (int i = 0; i < NFIELDS && l[i]; i++)
        if (strcmp(l[i], s) == 0)
            return i;
    return -1;
}

/* The mapped row as JSON text, computed from the generated fields. */
static void expected_map(const mspec *m, const grow *r, char *buf, size_t cap)
{
    size_t at = 0;
    buf[at++] = '{';
    for (int f = 0; f < NFIELDS; f++) {
        const char *name = fields[f];
        if (r->v[f].t == V_MISSING || (m->keep[0] && in_list(m->keep, name) < 0) ||
            in_list(m->drop, name) >= 0)
            continue;
        int k = in_list(m->from, name);
        if (k < 0 && in_list(m->to, name) >= 0)
            continue; /* renamed over: the field renamed to its name replaces it */
        at += (size_t)snprintf(buf + at, cap - at, "%s\"%s\":%s", at > 1 ? "," : "",
                               k >= 0 ? m->to[k] : name, r->v[f].txt);
    }
    snprintf(buf + at, cap - at, "}");
}

/* Same members in the same order with equal values. */
static int same_row(const char *got, const char *want)
{
    json_t *a = json_loads(got, 0, NULL), *b = json_loads(want, 0, NULL);
    int same = a && b && json_object_size(a) == json_object_size(b);
    void *ia = json_object_iter(a), *ib = json_object_iter(b);
    for (; same && ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib))
        same = strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) == 0 &&
               json_equal(json_object_iter_value(ia), json_object_iter_value(ib));
    json_decref(a);
    json_decref(b);
    return same;
}

static void test_map_semantics(void **state)
{
    (void)state;
    rng = 0xab1e;
    enum { NROWS = 400 };
    grow *rows = calloc(NROWS, sizeof(*rows));
    for (int i = 0; i < NROWS; i++)
        rand_row(&rows[i], i);
    for (size_t m = 0; m < SL_ARRAY_LEN(maps); m++) {
        char stage[512];
        snprintf(stage, sizeof(stage), "{\"map\":%s}", maps[m].json);
        sl_def *def = load_def(stage);
        const sl_stage *st = stage_after(def, 0, "map");
        void *op = open_stage(def, st);
        capture got = {0};
        sl_op_out out = {.emit = cap_emit, .ctx = &got};
        feed_rows(st->ops, op, rows, NROWS, m % 2 ? 5 : 1000, &out);
        assert_int_equal(got.n, NROWS); /* a map keeps every row */
        for (int i = 0; i < NROWS; i++) {
            char want[600];
            expected_map(&maps[m], &rows[i], want, sizeof(want));
            if (!same_row(got.rows[i].value, want))
                fail_msg("map %s on %s:\n  got  %s\n  want %s", maps[m].json, rows[i].text,
                         got.rows[i].value, want);
            /* and byte for byte: map copies the values' text (1e300 stays 1e300) */
            assert_string_equal(got.rows[i].value, want);
            assert_string_equal(got.rows[i].key, rows[i].key);
            assert_int_equal(got.rows[i].ts, rows[i].ts);
            assert_int_equal(got.rows[i].offset, rows[i].offset);
        }
        cap_free(&got);
        st->ops->close(op);
        sl_def_free(def);
    }
    free(rows);
}

/* filter then map, the filter's output batches handed straight on. */
typedef struct hop {
    const sl_operator_ops *ops;
    void *op;
    const sl_op_out *next;
} hop;

static void hop_emit(void *ctx, const sl_batch *b)
{
    hop *h = ctx;
    h->ops->process(h->op, b, h->next);
}

static void test_filter_then_map(void **state)
{
    (void)state;
    rng = 0xc4a1;
    enum { NROWS = 3000 };
    grow *rows = calloc(NROWS, sizeof(*rows));
    for (int i = 0; i < NROWS; i++)
        rand_row(&rows[i], i);
    sl_def *def = load_def("{\"filter\":{\"or\":[{\"field\":\"a\",\"op\":\">=\",\"value\":2},"
                           "{\"field\":\"s\",\"op\":\"<\",\"value\":\"u2\"}]}},"
                           "{\"map\":{\"drop\":[\"window_start\"],\"rename\":{\"s\":\"user\"}}}");
    const sl_stage *fst = stage_after(def, 0, "filter"), *mst = stage_after(def, 1, "map");
    void *f = open_stage(def, fst), *m = open_stage(def, mst);
    capture got = {0};
    sl_op_out last = {.emit = cap_emit, .ctx = &got};
    hop h = {mst->ops, m, &last};
    sl_op_out first = {.emit = hop_emit, .ctx = &h};
    feed_rows(fst->ops, f, rows, NROWS, 300, &first);
    gval two = {.t = V_INT, .i = 2}, u2 = {.t = V_STRING, .s = "u2"};
    gexpr c1 = {.kind = 0, .field = 4, .op = 5, .lit = two};
    gexpr c2 = {.kind = 0, .field = 0, .op = 2, .lit = u2};
    gexpr any = {.kind = 2, .args = {&c1, &c2}, .nargs = 2};
    mspec ms = {"", {0}, {"window_start"}, {"s"}, {"user"}};
    size_t g = 0;
    for (int i = 0; i < NROWS; i++) {
        if (!eval(&any, &rows[i]))
            continue;
        char want[600];
        expected_map(&ms, &rows[i], want, sizeof(want));
        assert_true(g < got.n);
        if (!same_row(got.rows[g].value, want))
            fail_msg("row %d: got %s, want %s", i, got.rows[g].value, want);
        assert_string_equal(got.rows[g].value, want);
        assert_string_equal(got.rows[g].key, rows[i].key);
        assert_int_equal(got.rows[g].ts, rows[i].ts);
        assert_int_equal(got.rows[g].offset, rows[i].offset);
        g++;
    }
    assert_int_equal(g, got.n);
    assert_true(g > 100);
    cap_free(&got);
    fst->ops->close(f);
    mst->ops->close(m);
    sl_def_free(def);
    free(rows);
}

/* ---- 5. the sample operator --------------------------------------------------------- */

static void sample_rows(grow *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memset(&rows[i], 0, sizeof(rows[i]));
        snprintf(rows[i].text, sizeof(rows[i].text), "{\"a\":%zu}", i + 1);
        snprintf(rows[i].key, sizeof(rows[i].key), "{\"s\":\"k%zu\"}", i % 5);
        rows[i].ts = (int64_t)i;
        rows[i].offset = (int64_t)(i % 2);
    }
}

/* Snapshots op, closes it and returns a fresh instance restored from it. */
static void *sample_roundtrip(const sl_def *def, const sl_stage *st, void *op)
{
    sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(st->ops->snapshot(op, &b), SL_OK);
    st->ops->close(op);
    void *n = open_stage(def, st);
    sl_reader r;
    sl_reader_init(&r, b.data, b.len);
    char err[256];
    assert_int_equal(st->ops->restore(n, &r, err, sizeof(err)), SL_OK);
    assert_true(sl_reader_done(&r));
    sl_buf_free(&b);
    return n;
}

static void test_sample(void **state)
{
    (void)state;
    sample_op_register();
    enum { NROWS = 1000 };
    grow *rows = calloc(NROWS, sizeof(*rows));
    sample_rows(rows, NROWS);
    sl_def *def = load_def("{\"sample\":{\"every\":3}}");
    const sl_stage *st = stage_after(def, 0, "sample");
    assert_ptr_equal(st->ops, &sample_op);
    rng = 77;
    for (int trial = 0; trial < 20; trial++) {
        void *op = open_stage(def, st);
        capture got = {0};
        sl_op_out out = {.emit = cap_emit, .ctx = &got};
        size_t at = 0;
        while (at < NROWS) {
            size_t n = 1 + rnd() % 150;
            if (n > NROWS - at)
                n = NROWS - at;
            feed_rows(st->ops, op, rows + at, n, 1 + (uint32_t)(rnd() % 64), &out);
            at += n;
            if (rnd() % 2)
                op = sample_roundtrip(def, st, op);
        }
        assert_int_equal(got.n, NROWS / 3);
        for (size_t i = 0; i < got.n; i++) {
            const grow *w = &rows[3 * i + 2]; /* rows 3, 6, 9, ... */
            assert_string_equal(got.rows[i].value, w->text);
            assert_string_equal(got.rows[i].key, w->key);
            assert_int_equal(got.rows[i].ts, w->ts);
            assert_int_equal(got.rows[i].offset, w->offset);
        }
        cap_free(&got);
        st->ops->close(op);
    }

    /* refused sections: truncated, another version; the instance is left
     * empty (its count starts again) */
    void *op = open_stage(def, st);
    capture got = {0};
    sl_op_out out = {.emit = cap_emit, .ctx = &got};
    feed_rows(st->ops, op, rows, 2, 8, &out);
    sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(st->ops->snapshot(op, &b), SL_OK);
    char err[256];
    for (size_t n = 0; n <= b.len; n++) {
        uint8_t *copy = malloc(b.len + 1);
        memcpy(copy, b.data, b.len);
        int want = SL_ECORRUPT;
        if (n == b.len) { /* whole, but the version flipped */
            copy[0] ^= 0x40;
            want = SL_EVERSION;
        }
        sl_reader r;
        sl_reader_init(&r, copy, n);
        err[0] = 0;
        feed_rows(st->ops, op, rows, 2, 8, &out); /* state to lose */
        assert_int_equal(st->ops->restore(op, &r, err, sizeof(err)), want);
        assert_true(err[0] != 0);
        free(copy);
        size_t before = got.n;
        feed_rows(st->ops, op, rows, 2, 8, &out);
        assert_int_equal(got.n, before); /* 2 rows after an empty start */
        feed_rows(st->ops, op, rows, 1, 8, &out);
        assert_int_equal(got.n, before + 1);
        sl_reader_init(&r, b.data, b.len);
        assert_int_equal(st->ops->restore(op, &r, err, sizeof(err)), SL_OK);
        feed_rows(st->ops, op, rows, 1, 8, &out); /* restored: 2 seen, so this is the 3rd */
        assert_int_equal(got.n, before + 2);
    }
    sl_buf_free(&b);
    cap_free(&got);
    st->ops->close(op);
    sl_def_free(def);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_semantics),
        cmocka_unit_test(test_map_semantics),
        cmocka_unit_test(test_filter_then_map),
        cmocka_unit_test(test_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
