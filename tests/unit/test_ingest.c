/*
 * test_ingest.c - decode once, early (engine/ingest/ingest.c).
 *
 * The core test is an oracle: random pipelines (filters with and/or/not
 * over every literal type, maps that keep/drop/rename, key_by, a window or
 * none, event time in ms / s / rfc3339 / kafka) decode random events, and
 * every outcome (filtered, bad and why, key bytes, hash, event time,
 * aggregate columns, the mapped row, the repartition round trip) is
 * compared with a straightforward reference built on jansson inside this
 * file. Targeted tests pin canonical keys, time formats, reasons, mapped
 * rows and compile errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "event_time.h"
#include "filter.h"
#include "engine.h" /* sl_bad_reason_name */
#include "ingest.h"
#include "json_scan.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small utilities ------------------------------------------------------ */

static uint64_t rng = 77;

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return (size_t)(rnd() % n);
}

static int chance(int percent)
{
    return (int)below(100) < percent;
}

/* Everything a test pipeline allocates, freed at once. */
typedef struct arena {
    void **p;
    size_t n, cap;
} arena;

static void *arena_keep(arena *a, void *p)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->p = realloc(a->p, a->cap * sizeof(*a->p));
    }
    a->p[a->n++] = p;
    return p;
}

static void *arena_alloc(arena *a, size_t n)
{
    return arena_keep(a, calloc(1, n));
}

static char *arena_str(arena *a, const char *s)
{
    return arena_keep(a, strdup(s));
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    free(a->p);
    memset(a, 0, sizeof(*a));
}

/* A hand-built definition. */
typedef struct tdef {
    sl_def def;
    sl_stage stages[8];
    arena a;
} tdef;

static void tdef_init(tdef *t, const char *time_field, sl_time_unit unit)
{
    memset(t, 0, sizeof(*t));
    t->def.stages = t->stages;
    t->def.event_time.field = time_field ? arena_str(&t->a, time_field) : NULL;
    t->def.event_time.unit = unit;
    t->def.watermark.max_future_ms = -1; /* off unless a test sets it */
    t->def.runtime.tasks = 8;
}

static sl_stage *tdef_stage(tdef *t, sl_stage_kind kind)
{
    sl_stage *s = &t->stages[t->def.nstages];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->path = arena_alloc(&t->a, 32);
    snprintf(s->path, 32, "pipeline[%zu]", t->def.nstages);
    t->def.nstages++;
    return s;
}

static char **strs(arena *a, const char *const *v, size_t n)
{
    char **out = arena_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = arena_str(a, v[i]);
    return out;
}

static void tdef_key(tdef *t, const char *const *fields, size_t n)
{
    sl_stage *s = tdef_stage(t, SL_STAGE_KEY_BY);
    s->u.key_by.fields = strs(&t->a, fields, n);
    s->u.key_by.nfields = n;
    t->def.key_by = s;
}

/* A window with count + sum(col) for each column. */
static void tdef_window(tdef *t, const char *const *cols, size_t n)
{
    sl_stage *s = tdef_stage(t, SL_STAGE_WINDOW);
    sl_window_def *w = &s->u.window;
    w->type = SL_WIN_TUMBLING;
    w->size_ms = 1000;
    w->columns = strs(&t->a, cols, n);
    w->ncolumns = (uint32_t)n;
    w->aggs = arena_alloc(&t->a, (n + 1) * sizeof(sl_agg_def));
    w->aggs[0].name = arena_str(&t->a, "n");
    w->aggs[0].fn = SL_AGG_COUNT;
    w->aggs[0].column = -1;
    for (size_t i = 0; i < n; i++) {
        w->aggs[i + 1].name = arena_alloc(&t->a, 32);
        snprintf(w->aggs[i + 1].name, 32, "s%zu", i);
        w->aggs[i + 1].fn = SL_AGG_SUM;
        w->aggs[i + 1].field = w->columns[i];
        w->aggs[i + 1].column = (int)i;
    }
    w->naggs = n + 1;
    t->def.window = w;
}

static void tdef_filter(tdef *t, sl_expr *e)
{
    tdef_stage(t, SL_STAGE_FILTER)->u.filter = e;
}

static sl_map_def *tdef_map(tdef *t)
{
    return &tdef_stage(t, SL_STAGE_MAP)->u.map;
}

static sl_expr *cmp_expr(arena *a, const char *field, sl_cmp_op op, sl_literal lit)
{
    sl_expr *e = arena_alloc(a, sizeof(*e));
    e->kind = SL_EXPR_CMP;
    e->op = op;
    e->field = arena_str(a, field);
    e->value = lit;
    if (lit.type == SL_T_STRING) {
        e->value.s = arena_alloc(a, lit.slen + 1);
        memcpy(e->value.s, lit.s, lit.slen);
    }
    return e;
}

static sl_literal lit_int(int64_t i)
{
    sl_literal l = {SL_T_INT, i, (double)i, NULL, 0};
    return l;
}

static sl_literal lit_double(double d)
{
    sl_literal l = {SL_T_DOUBLE, 0, d, NULL, 0};
    return l;
}

static sl_literal lit_str(const char *s)
{
    sl_literal l = {SL_T_STRING, 0, 0, (char *)s, strlen(s)};
    return l;
}

typedef struct decoded {
    sl_decode_result r;
    sl_bad_reason why;
    char key[512];
    size_t key_len;
    int64_t ts;
    char row[1024];
    size_t row_len;
    sl_num vals[4];
} decoded;

static decoded decode(sl_ingest *ing, const char *ev, int64_t kafka_ts)
{
    decoded d;
    memset(&d, 0, sizeof(d));
    d.r = sl_ingest_decode(ing, ev, strlen(ev), kafka_ts, &d.why);
    if (d.r != SL_DECODE_OK)
        return d;
    size_t kl;
    const char *k = sl_ingest_key(ing, &kl);
    assert_true(kl < sizeof(d.key));
    memcpy(d.key, k, kl);
    d.key_len = kl;
    d.ts = sl_ingest_ts(ing);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 4, sl_ingest_ncolumns(ing));
    assert_int_equal(sl_ingest_append(ing, b, 99), SL_OK);
    assert_int_equal(b->count, 1);
    assert_int_equal(b->offset[0], 99);
    assert_int_equal(b->ts[0], d.ts);
    assert_true(b->key_hash[0] == sl_hash64(d.key, d.key_len));
    assert_true(b->key_hash[0] == sl_ingest_key_hash(ing));
    assert_int_equal(b->key_len[0], kl);
    assert_memory_equal(b->bytes + b->key_off[0], d.key, kl);
    for (uint32_t c = 0; c < sl_ingest_ncolumns(ing) && c < 4; c++)
        d.vals[c] = *sl_batch_val(b, c, 0);
    d.row_len = b->row_len[0];
    assert_true(d.row_len < sizeof(d.row));
    memcpy(d.row, b->bytes + b->row_off[0], d.row_len);
    sl_batch_free(b);
    return d;
}

static void expect_key(sl_ingest *ing, const char *ev, const char *key)
{
    decoded d = decode(ing, ev, -1);
    if (d.r != SL_DECODE_OK)
        fail_msg("%s: not decoded (%d, %s)", ev, d.r, sl_bad_reason_name(d.why));
    if (d.key_len != strlen(key) || memcmp(d.key, key, d.key_len) != 0)
        fail_msg("%s: key [%.*s], expected [%s]", ev, (int)d.key_len, d.key, key);
}

static void expect_bad(sl_ingest *ing, const char *ev, sl_bad_reason why)
{
    decoded d = decode(ing, ev, -1);
    if (d.r != SL_DECODE_BAD || d.why != why)
        fail_msg("%s: result %d (%s), expected bad %s", ev, d.r,
                 d.r == SL_DECODE_BAD ? sl_bad_reason_name(d.why) : "-", sl_bad_reason_name(why));
}

/* ---- targeted tests ---------------------------------------------------------- */

static void test_canonical_keys(void **state)
{
    (void)state;
    tdef t;
    tdef_init(&t, "ts", SL_TIME_MS);
    const char *keys[] = {"user", "region"};
    const char *cols[] = {"amount"};
    tdef_key(&t, keys, 2);
    tdef_window(&t, cols, 1);
    char err[256];
    sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    assert_non_null(ing);
    assert_int_equal(sl_ingest_ncolumns(ing), 1);
    /* member order is key_by order, whatever the event's order */
    expect_key(ing, "{\"region\":\"eu\",\"amount\":1,\"user\":\"u1\",\"ts\":5}",
               "\"user\":\"u1\",\"region\":\"eu\"");
    /* escapes decoded, re-escaped minimally */
    expect_key(ing,
               "{\"user\":\"\\u0075\\u0031\",\"region\":\"a\\/"
               "b\\\"c\\u00e9\\u0001\",\"amount\":1,\"ts\":5}",
               "\"user\":\"u1\",\"region\":\"a/b\\\"c\xc3\xa9\\u0001\"");
    /* numbers canonical: ints in decimal, doubles shortest with .0 */
    expect_key(ing, "{\"user\":-0,\"region\":1E2,\"amount\":1,\"ts\":5}",
               "\"user\":0,\"region\":100.0");
    expect_key(ing, "{\"user\":0.10,\"region\":2.5e-1,\"amount\":1,\"ts\":5}",
               "\"user\":0.1,\"region\":0.25");
    /* other values: literal, minified */
    expect_key(ing, "{\"user\":true,\"region\":[ 1 , {\"a\" : \"x y\"} ],\"amount\":1,\"ts\":5}",
               "\"user\":true,\"region\":[1,{\"a\":\"x y\"}]");
    expect_key(ing, "{\"user\":null,\"region\":{},\"amount\":1,\"ts\":5}",
               "\"user\":null,\"region\":{}");
    expect_bad(ing, "{\"user\":\"u1\",\"amount\":1,\"ts\":5}", SL_BAD_MISSING_KEY);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"ts\":5}", SL_BAD_MISSING_FIELD);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"ts\":5,\"amount\":\"7\"}", SL_BAD_WRONG_TYPE);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"ts\":5,\"amount\":null}", SL_BAD_WRONG_TYPE);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"ts\":5,\"amount\":1e400}", SL_BAD_WRONG_TYPE);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"amount\":1}", SL_BAD_MISSING_TIME);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"amount\":1,\"ts\":\"5\"}", SL_BAD_BAD_TIME);
    expect_bad(ing, "{\"user\":\"u1\",\"region\":1,\"amount\":1,\"ts\":5", SL_BAD_MALFORMED);
    expect_bad(ing, "[{\"user\":\"u1\"}]", SL_BAD_MALFORMED);
    expect_bad(ing, "", SL_BAD_MALFORMED);

    /* values: exact ints and doubles */
    decoded d =
        decode(ing, "{\"user\":1,\"region\":2,\"amount\":9223372036854775807,\"ts\":5}", -1);
    assert_int_equal(d.r, SL_DECODE_OK);
    assert_false(d.vals[0].is_double);
    assert_true(d.vals[0].v.i == INT64_MAX);
    d = decode(ing, "{\"user\":1,\"region\":2,\"amount\":9223372036854775808,\"ts\":5}", -1);
    assert_true(d.vals[0].is_double);
    assert_true(d.vals[0].v.d == 9223372036854775808.0);
    d = decode(ing, "{\"user\":1,\"region\":2,\"amount\":-1.25,\"ts\":5}", -1);
    assert_true(d.vals[0].is_double && d.vals[0].v.d == -1.25);

    /* too large */
    size_t big = SL_MAX_EVENT_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    sl_bad_reason why;
    assert_int_equal(sl_ingest_decode(ing, huge, big, -1, &why), SL_DECODE_BAD);
    assert_int_equal(why, SL_BAD_TOO_LARGE);
    free(huge);
    sl_ingest_free(ing);
    arena_free(&t.a);
}

static void test_time_units(void **state)
{
    (void)state;
    static const struct {
        sl_time_unit unit;
        const char *value; /* JSON text of "ts", NULL = absent */
        int64_t ms;
        int bad; /* 0, or SL_BAD_* + 1 */
    } cases[] = {
        {SL_TIME_MS, "1700000000123", 1700000000123LL, 0},
        {SL_TIME_MS, "-5", -5, 0},
        {SL_TIME_MS, "1700000000123.9", 1700000000123LL, 0},
        {SL_TIME_MS, "1.7e12", 1700000000000LL, 0},
        {SL_TIME_MS, "-1.5", -2, 0},
        {SL_TIME_MS, "9223372036854775807", INT64_MAX, 0},
        {SL_TIME_MS, "9223372036854775808", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_MS, "1e400", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_MS, "\"1700000000123\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_MS, "null", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_MS, NULL, 0, SL_BAD_MISSING_TIME + 1},
        {SL_TIME_S, "1700000000", 1700000000000LL, 0},
        {SL_TIME_S, "1700000000.123", 1700000000123LL, 0},
        {SL_TIME_S, "1700000000.1239", 1700000000123LL, 0},
        {SL_TIME_S, "1700000000.5", 1700000000500LL, 0},
        {SL_TIME_S, "1.7000000001234e9", 1700000000123LL, 0},
        {SL_TIME_S, "-1.5", -1500, 0},
        {SL_TIME_S, "-0.0005", -1, 0},
        {SL_TIME_S, "0.001", 1, 0},
        {SL_TIME_S, "9223372036854775", 9223372036854775000LL, 0},
        {SL_TIME_S, "9223372036854776", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_S, "-9223372036854776", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_S, "true", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00Z\"", 1714564800000LL, 0},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00.123Z\"", 1714564800123LL, 0},
        {SL_TIME_RFC3339, "\"2024-05-01t12:00:00.1z\"", 1714564800100LL, 0},
        {SL_TIME_RFC3339, "\"2024-05-01 12:00:00.123456789Z\"", 1714564800123LL, 0},
        {SL_TIME_RFC3339, "\"2024-05-01T14:00:00+02:00\"", 1714564800000LL, 0},
        {SL_TIME_RFC3339, "\"2024-05-01T06:30:00.5-05:30\"", 1714564800500LL, 0},
        {SL_TIME_RFC3339, "\"2024-02-29T00:00:00Z\"", 1709164800000LL, 0},
        {SL_TIME_RFC3339, "\"1969-12-31T23:59:59.999Z\"", -1, 0},
        {SL_TIME_RFC3339, "\"1900-01-01T00:00:00Z\"", -2208988800000LL, 0},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00\\u005a\"", 1714564800000LL, 0},
        {SL_TIME_RFC3339, "\"2023-02-29T00:00:00Z\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-13-01T00:00:00Z\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-05-01T24:00:00Z\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00.Z\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00+0200\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-5-01T12:00:00Z\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "\"2024-05-01T12:00:00Zjunk\"", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, "1714564800000", 0, SL_BAD_BAD_TIME + 1},
        {SL_TIME_RFC3339, NULL, 0, SL_BAD_MISSING_TIME + 1},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        tdef t;
        tdef_init(&t, "ts", cases[i].unit);
        const char *cols[] = {"amount"};
        tdef_window(&t, cols, 1);
        char err[256], ev[256];
        sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
        assert_non_null(ing);
        if (cases[i].value)
            snprintf(ev, sizeof(ev), "{\"amount\":1,\"ts\":%s}", cases[i].value);
        else
            snprintf(ev, sizeof(ev), "{\"amount\":1}");
        decoded d = decode(ing, ev, -1);
        if (cases[i].bad) {
            if (d.r != SL_DECODE_BAD || (int)d.why != cases[i].bad - 1)
                fail_msg("case %zu (%s): expected %s", i, ev,
                         sl_bad_reason_name((sl_bad_reason)(cases[i].bad - 1)));
        } else {
            if (d.r != SL_DECODE_OK || d.ts != cases[i].ms)
                fail_msg("case %zu (%s): got %d ts %lld, expected %lld", i, ev, d.r,
                         (long long)d.ts, (long long)cases[i].ms);
        }
        sl_ingest_free(ing);
        arena_free(&t.a);
    }
    /* Kafka timestamps, and no event time at all */
    tdef t;
    tdef_init(&t, NULL, SL_TIME_KAFKA);
    const char *cols[] = {"amount"};
    tdef_window(&t, cols, 1);
    char err[256];
    sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    decoded d = decode(ing, "{\"amount\":1,\"ts\":5}", 1234);
    assert_int_equal(d.r, SL_DECODE_OK);
    assert_int_equal(d.ts, 1234);
    expect_bad(ing, "{\"amount\":1}", SL_BAD_MISSING_TIME);
    sl_ingest_free(ing);
    arena_free(&t.a);
    tdef_init(&t, NULL, SL_TIME_MS);
    ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    d = decode(ing, "{\"x\":1}", -1);
    assert_int_equal(d.r, SL_DECODE_OK);
    assert_int_equal(d.ts, 0);
    sl_ingest_free(ing);
    arena_free(&t.a);
}

/* watermark.max_future: an event time further ahead of the wall clock is
 * bad (too_far_ahead), in every unit; "off" accepts anything; repartitioned
 * records are not judged again. */
static void test_max_future(void **state)
{
    (void)state;
    static const sl_time_unit units[] = {SL_TIME_MS, SL_TIME_S, SL_TIME_RFC3339, SL_TIME_KAFKA};
    const int64_t hour = 3600000;
    for (size_t u = 0; u < SL_ARRAY_LEN(units); u++) {
        for (int off = 0; off < 2; off++) {
            tdef t;
            tdef_init(&t, units[u] == SL_TIME_KAFKA ? NULL : "ts", units[u]);
            t.def.watermark.max_future_ms = off ? -1 : hour;
            const char *cols[] = {"amount"};
            tdef_window(&t, cols, 1);
            char err[256];
            sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
            assert_non_null(ing);
            /* Random offsets from the wall clock, either side of the limit
             * (a minute of margin for the clock moving during the test). */
            for (int k = 0; k < 400; k++) {
                int64_t now = sl_wall_ms();
                int64_t delta = (int64_t)(rnd() % (uint64_t)(4 * hour)) - 2 * hour;
                if (delta > hour - 60000 && delta < hour + 60000)
                    continue;
                if (k == 0)
                    delta = (int64_t)253402300799000LL - now; /* 9999-12-31T23:59:59Z */
                int64_t ts = now + delta;
                if (units[u] == SL_TIME_S)
                    ts -= ts % 1000;
                char ev[256], tt[64];
                int64_t kafka_ts = -1;
                if (units[u] == SL_TIME_MS)
                    snprintf(tt, sizeof(tt), "%lld", (long long)ts);
                else if (units[u] == SL_TIME_S)
                    snprintf(tt, sizeof(tt), "%lld", (long long)(ts / 1000));
                else if (units[u] == SL_TIME_RFC3339) {
                    char r[32];
                    size_t n = sl_time_format_rfc3339(ts, r);
                    snprintf(tt, sizeof(tt), "\"%.*s\"", (int)n, r);
                } else {
                    snprintf(tt, sizeof(tt), "0");
                    kafka_ts = ts;
                }
                snprintf(ev, sizeof(ev), "{\"amount\":1,\"ts\":%s}", tt);
                decoded d = decode(ing, ev, kafka_ts);
                int ahead = !off && delta > hour;
                if (ahead) {
                    if (d.r != SL_DECODE_BAD || d.why != SL_BAD_TOO_FAR_AHEAD)
                        fail_msg("unit %zu: %s (%+lld ms) accepted, max_future 1h", u, ev,
                                 (long long)delta);
                } else if (d.r != SL_DECODE_OK || d.ts != ts) {
                    fail_msg("unit %zu off %d: %s (%+lld ms) rejected (%s)", u, off, ev,
                             (long long)delta, sl_bad_reason_name(d.why));
                }
            }
            sl_ingest_free(ing);
            arena_free(&t.a);
        }
    }
}

/* A Kafka record's own timestamp is the reference for max_future: a
 * replay of old records (timestamps years behind the wall clock) judges
 * each event against its record's time, the same on every read. */
static void test_max_future_kafka_reference(void **state)
{
    (void)state;
    const int64_t hour = 3600000;
    tdef t;
    tdef_init(&t, "ts", SL_TIME_MS);
    t.def.watermark.max_future_ms = hour;
    const char *cols[] = {"amount"};
    tdef_window(&t, cols, 1);
    char err[256];
    sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    assert_non_null(ing);
    for (int k = 0; k < 2000; k++) {
        /* records written in 2001..2011 */
        int64_t kts = 978307200000LL + (int64_t)(rnd() % (uint64_t)(10 * 365 * 24 * hour));
        int64_t delta = (int64_t)(rnd() % (uint64_t)(4 * hour)) - 2 * hour;
        if (k == 0)
            delta = hour; /* exactly max_future ahead: accepted */
        if (k == 1)
            delta = hour + 1;
        char ev[128];
        snprintf(ev, sizeof(ev), "{\"amount\":1,\"ts\":%lld}", (long long)(kts + delta));
        for (int again = 0; again < 2; again++) { /* the same verdict on a re-read */
            decoded d = decode(ing, ev, kts);
            if (delta > hour) {
                if (d.r != SL_DECODE_BAD || d.why != SL_BAD_TOO_FAR_AHEAD)
                    fail_msg("%s, %+lld ms after its record's timestamp, accepted", ev,
                             (long long)delta);
            } else if (d.r != SL_DECODE_OK || d.ts != kts + delta) {
                fail_msg("%s, %+lld ms after its record's timestamp, rejected (%s)", ev,
                         (long long)delta, sl_bad_reason_name(d.why));
            }
        }
    }
    sl_ingest_free(ing);
    arena_free(&t.a);
}

/* Filters, maps and the mapped row of a window-less pipeline. */
static void test_filter_map_rows(void **state)
{
    (void)state;
    tdef t;
    tdef_init(&t, "ts", SL_TIME_MS);
    /* amount >= 10 and not (region = "eu" or price < 1.5) */
    sl_expr *ge = cmp_expr(&t.a, "amount", SL_CMP_GE, lit_int(10));
    sl_expr *eu = cmp_expr(&t.a, "region", SL_CMP_EQ, lit_str("eu"));
    sl_expr *cheap = cmp_expr(&t.a, "price", SL_CMP_LT, lit_double(1.5));
    sl_expr * or = arena_alloc(&t.a, sizeof(* or));
    or->kind = SL_EXPR_OR;
    or->args = arena_alloc(&t.a, 2 * sizeof(sl_expr *));
    or->args[0] = eu;
    or->args[1] = cheap;
    or->nargs = 2;
    sl_expr *not = arena_alloc(&t.a, sizeof(*not ));
    not ->kind = SL_EXPR_NOT;
    not ->args = arena_alloc(&t.a, sizeof(sl_expr *));
    not ->args[0] = or ;
    not ->nargs = 1;
    sl_expr *and = arena_alloc(&t.a, sizeof(*and));
    and->kind = SL_EXPR_AND;
    and->args = arena_alloc(&t.a, 2 * sizeof(sl_expr *));
    and->args[0] = ge;
    and->args[1] = not ;
    and->nargs = 2;
    tdef_filter(&t, and);
    /* map: drop note, rename amount -> total, region -> user (overwrites) */
    sl_map_def *m = tdef_map(&t);
    const char *drop[] = {"note"}, *from[] = {"amount", "region"}, *to[] = {"total", "user"};
    m->drop = strs(&t.a, drop, 1);
    m->ndrop = 1;
    m->rename_from = strs(&t.a, from, 2);
    m->rename_to = strs(&t.a, to, 2);
    m->nrename = 2;
    /* a filter after the map sees the new names */
    tdef_filter(&t, cmp_expr(&t.a, "total", SL_CMP_NE, lit_int(13)));
    const char *keys[] = {"user"};
    tdef_key(&t, keys, 1);
    char err[256];
    sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    assert_non_null(ing);
    assert_int_equal(sl_ingest_ncolumns(ing), 0);

    decoded d = decode(
        ing,
        "{\"user\":\"u1\", \"amount\":12,\"region\":\"us\",\"price\":2,\"note\":\"x\",\"ts\":7}",
        -1);
    assert_int_equal(d.r, SL_DECODE_OK);
    const char *row = "{\"total\":12,\"user\":\"us\",\"price\":2,\"ts\":7}";
    if (d.row_len != strlen(row) || memcmp(d.row, row, d.row_len) != 0)
        fail_msg("row %.*s", (int)d.row_len, d.row);
    assert_int_equal(d.key_len, strlen("\"user\":\"us\""));
    assert_memory_equal(d.key, "\"user\":\"us\"", d.key_len);
    assert_int_equal(d.ts, 7);
    /* filtered: amount < 10; region eu; price < 1.5 (int 1 vs double); total 13 */
    assert_int_equal(decode(ing, "{\"amount\":9,\"region\":\"us\",\"ts\":1}", -1).r,
                     SL_DECODE_FILTERED);
    assert_int_equal(decode(ing, "{\"amount\":10,\"region\":\"eu\",\"ts\":1}", -1).r,
                     SL_DECODE_FILTERED);
    assert_int_equal(decode(ing, "{\"amount\":10,\"region\":\"us\",\"price\":1,\"ts\":1}", -1).r,
                     SL_DECODE_FILTERED);
    assert_int_equal(decode(ing, "{\"amount\":13,\"region\":\"us\",\"ts\":1}", -1).r,
                     SL_DECODE_FILTERED);
    /* a missing field compares false: amount missing -> filtered */
    assert_int_equal(decode(ing, "{\"region\":\"us\",\"ts\":1}", -1).r, SL_DECODE_FILTERED);
    /* region missing: the key (renamed from region) is missing */
    expect_bad(ing, "{\"amount\":11,\"user\":\"u\",\"ts\":1}", SL_BAD_MISSING_KEY);
    /* mixed types: "10" is a string, never >= 10 */
    assert_int_equal(decode(ing, "{\"amount\":\"10\",\"region\":\"us\",\"ts\":1}", -1).r,
                     SL_DECODE_FILTERED);
    /* escaped member names map too; values keep their text */
    d = decode(ing, "{\"\\u0061mount\":10.5e0,\"region\":\"\\u0075s\",\"ts\":1,\"z\":[1, 2]}", -1);
    assert_int_equal(d.r, SL_DECODE_OK);
    row = "{\"total\":10.5e0,\"user\":\"\\u0075s\",\"ts\":1,\"z\":[1,2]}";
    if (d.row_len != strlen(row) || memcmp(d.row, row, d.row_len) != 0)
        fail_msg("row %.*s", (int)d.row_len, d.row);
    sl_ingest_free(ing);
    arena_free(&t.a);

    /* keep: only the kept members, in input order */
    tdef_init(&t, "ts", SL_TIME_MS);
    m = tdef_map(&t);
    const char *keep[] = {"ts", "b"};
    m->keep = strs(&t.a, keep, 2);
    m->nkeep = 2;
    ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    d = decode(ing, "{\"a\":1,\"b\":{\"c\" : 2},\"ts\":3}", -1);
    assert_int_equal(d.r, SL_DECODE_OK);
    assert_int_equal(d.key_len, 0);
    row = "{\"b\":{\"c\":2},\"ts\":3}";
    if (d.row_len != strlen(row) || memcmp(d.row, row, d.row_len) != 0)
        fail_msg("row %.*s", (int)d.row_len, d.row);
    d = decode(ing, "{\"a\":1,\"ts\":3}", -1);
    assert_memory_equal(d.row, "{\"ts\":3}", d.row_len);
    sl_ingest_free(ing);
    arena_free(&t.a);
}

static void test_compile_errors(void **state)
{
    (void)state;
    tdef t;
    tdef_init(&t, "ts", SL_TIME_MS);
    sl_map_def *m = tdef_map(&t);
    const char *drop[] = {"user"};
    m->drop = strs(&t.a, drop, 1);
    m->ndrop = 1;
    const char *keys[] = {"user"};
    tdef_key(&t, keys, 1);
    char err[256] = "";
    assert_null(sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err)));
    assert_non_null(strstr(err, "removed by an earlier map"));
    arena_free(&t.a);

    /* repartitioned input needs a window */
    tdef_init(&t, "ts", SL_TIME_MS);
    tdef_key(&t, keys, 1);
    assert_null(sl_ingest_new(&t.def, SL_INGEST_REPARTITIONED, err, sizeof(err)));
    arena_free(&t.a);

    /* too many distinct fields */
    tdef_init(&t, "ts", SL_TIME_MS);
    char names[70][8];
    const char *many[70];
    for (int i = 0; i < 70; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        many[i] = names[i];
    }
    tdef_key(&t, many, 70);
    assert_null(sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err)));
    assert_non_null(strstr(err, "at most"));
    arena_free(&t.a);
}

/* Repartition records: names that collide with "ts" and with key members. */
static void test_repartition_names(void **state)
{
    (void)state;
    tdef t;
    tdef_init(&t, "when", SL_TIME_S);
    const char *keys[] = {"ts", "amount"};
    const char *cols[] = {"amount", "_ts", "price"};
    tdef_key(&t, keys, 2);
    tdef_window(&t, cols, 3);
    char err[256];
    sl_ingest *raw = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    sl_ingest *rep = sl_ingest_new(&t.def, SL_INGEST_REPARTITIONED, err, sizeof(err));
    assert_non_null(raw);
    assert_non_null(rep);
    decoded d = decode(raw, "{\"ts\":\"k\",\"amount\":5,\"_ts\":2.5,\"price\":3,\"when\":1.5}", -1);
    assert_int_equal(d.r, SL_DECODE_OK);
    char rec[256];
    long n = sl_ingest_encode_repartition(raw, rec, sizeof(rec));
    const char *want = "{\"ts\":\"k\",\"amount\":5,\"__ts\":1500,\"_ts\":2.5,\"price\":3}";
    if (n != (long)strlen(want) || memcmp(rec, want, (size_t)n) != 0)
        fail_msg("record %.*s", (int)n, rec);
    assert_int_equal(sl_ingest_encode_repartition(raw, rec, (size_t)n - 1), -1);
    rec[n] = '\0';
    decoded e = decode(rep, rec, -1);
    assert_int_equal(e.r, SL_DECODE_OK);
    assert_int_equal(e.ts, 1500);
    assert_int_equal(e.key_len, d.key_len);
    assert_memory_equal(e.key, d.key, d.key_len);
    for (int c = 0; c < 3; c++) {
        assert_int_equal(e.vals[c].is_double, d.vals[c].is_double);
        assert_memory_equal(&e.vals[c].v, &d.vals[c].v, sizeof(e.vals[c].v));
    }
    sl_ingest_free(raw);
    sl_ingest_free(rep);
    arena_free(&t.a);
}

/* sl_value_compare: exact int/double comparison at the edges of double
 * precision and of int64, and the type rules. */
static void test_value_compare(void **state)
{
    (void)state;
    static const struct {
        int64_t i;
        double d;
        int want; /* sign of i - d */
    } cases[] = {
        {9007199254740993LL, 9007199254740992.0, 1}, /* 2^53 + 1 > 2^53 */
        {9007199254740992LL, 9007199254740992.0, 0},
        {-9007199254740993LL, -9007199254740992.0, -1},
        {INT64_MAX, 9223372036854775808.0, -1}, /* 2^63 - 1 < 2^63 */
        {INT64_MIN, -9223372036854775808.0, 0},
        {INT64_MIN, -9223372036854777856.0, 1},
        {3, 2.5, 1},
        {-3, -2.5, -1},
        {2, 2.0000000000000004, -1},
        {0, -0.0, 0},
    };
    for (size_t k = 0; k < SL_ARRAY_LEN(cases); k++) {
        sl_value v = {SL_T_INT, cases[k].i, 0, NULL, 0};
        sl_literal l = lit_double(cases[k].d);
        int w = cases[k].want;
        assert_int_equal(sl_value_compare(&v, SL_CMP_EQ, &l), w == 0);
        assert_int_equal(sl_value_compare(&v, SL_CMP_NE, &l), w != 0);
        assert_int_equal(sl_value_compare(&v, SL_CMP_LT, &l), w < 0);
        assert_int_equal(sl_value_compare(&v, SL_CMP_GE, &l), w >= 0);
        /* and mirrored: a double value against an int literal */
        sl_value dv = {SL_T_DOUBLE, 0, cases[k].d, NULL, 0};
        sl_literal il = lit_int(cases[k].i);
        assert_int_equal(sl_value_compare(&dv, SL_CMP_GT, &il), w < 0);
        assert_int_equal(sl_value_compare(&dv, SL_CMP_LE, &il), w >= 0);
    }
    sl_value s = {SL_T_STRING, 0, 0, "ab", 2}, missing = {SL_T_MISSING, 0, 0, NULL, 0};
    sl_value b = {SL_T_BOOL, 1, 0, NULL, 0}, n = {SL_T_NULL, 0, 0, NULL, 0};
    sl_literal abc = lit_str("abc"), one = lit_int(1);
    sl_literal t = {SL_T_BOOL, 1, 0, NULL, 0}, nul = {SL_T_NULL, 0, 0, NULL, 0};
    assert_true(sl_value_compare(&s, SL_CMP_LT, &abc)); /* prefix sorts first */
    assert_false(sl_value_compare(&s, SL_CMP_EQ, &abc));
    assert_false(sl_value_compare(&missing, SL_CMP_NE, &abc)); /* missing: always false */
    assert_true(sl_value_compare(&s, SL_CMP_NE, &one));        /* types differ: only != */
    assert_false(sl_value_compare(&s, SL_CMP_LT, &one));
    assert_true(sl_value_compare(&b, SL_CMP_EQ, &t));
    assert_false(sl_value_compare(&b, SL_CMP_GE, &t));   /* bool: = and != only */
    assert_false(sl_value_compare(&b, SL_CMP_EQ, &one)); /* true is not 1 */
    assert_true(sl_value_compare(&n, SL_CMP_EQ, &nul));
    assert_false(sl_value_compare(&n, SL_CMP_NE, &nul));
    assert_true(sl_value_compare(&b, SL_CMP_NE, &nul));
}

/* One long escaped string read by two filters and the key: decoded once,
 * the scratch area never overflows (run under ASan in CI). */
static void test_escaped_reuse(void **state)
{
    (void)state;
    tdef t;
    tdef_init(&t, "ts", SL_TIME_MS);
    tdef_filter(&t, cmp_expr(&t.a, "user", SL_CMP_NE, lit_str("x")));
    tdef_filter(&t, cmp_expr(&t.a, "user", SL_CMP_GE, lit_str("\n")));
    const char *keys[] = {"user"};
    tdef_key(&t, keys, 1);
    char err[256];
    sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
    assert_non_null(ing);
    for (int reps = 1; reps < 400; reps += 37) {
        size_t cap = (size_t)reps * 12 + 64;
        char *ev = malloc(cap), *want = malloc(cap);
        size_t n = (size_t)sprintf(ev, "{\"ts\":1,\"user\":\"");
        size_t w = (size_t)sprintf(want, "\"user\":\"");
        for (int i = 0; i < reps; i++) {
            n += (size_t)sprintf(ev + n, "%s", i % 2 ? "\\u00e9" : "\\n");
            w += (size_t)sprintf(want + w, "%s", i % 2 ? "\xc3\xa9" : "\\n");
        }
        n += (size_t)sprintf(ev + n, "\"}");
        want[w++] = '"';
        sl_bad_reason why;
        assert_int_equal(sl_ingest_decode(ing, ev, n, -1, &why), SL_DECODE_OK);
        size_t kl;
        const char *k = sl_ingest_key(ing, &kl);
        assert_int_equal(kl, w);
        assert_memory_equal(k, want, w);
        free(ev);
        free(want);
    }
    sl_ingest_free(ing);
    arena_free(&t.a);
}

/* event_time.c: format and parse are inverse over years 0..9999, and the
 * day numbers agree with the C library's timegm. */
static void test_time_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        /* year 0 .. 9999 in ms: [-62167219200000, 253402300799999] */
        int64_t lo = -62167219200000LL, span = 253402300800000LL - lo;
        int64_t ms = lo + (int64_t)(rnd() % (uint64_t)span);
        char txt[32];
        size_t n = sl_time_format_rfc3339(ms, txt);
        assert_int_equal(n, 24);
        int64_t back;
        if (sl_time_parse_rfc3339(txt, n, &back) != 0 || back != ms)
            fail_msg("%lld -> %.24s -> %lld", (long long)ms, txt, (long long)back);
        int64_t y;
        int m, d;
        int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
        sl_time_civil_from_days(days, &y, &m, &d);
        assert_int_equal(sl_time_days_from_civil(y, m, d), days);
        if (y >= 1902 && y <= 2037) {
            struct tm tm = {.tm_year = (int)y - 1900, .tm_mon = m - 1, .tm_mday = d};
            assert_int_equal((int64_t)timegm(&tm), days * 86400);
        }
    }
    assert_int_equal(sl_time_format_rfc3339(253402300800000LL, (char[32]){0}), 0);
}

/* ---- the randomized oracle ----------------------------------------------------- */

static const char *const universe[] = {"user", "region", "amount", "price", "flag",
                                       "note", "nested", "x",      "y"};
#define NU (sizeof(universe) / sizeof(universe[0]))

typedef struct nameset {
    char names[24][16];
    size_t n;
} nameset;

static int ns_has(const nameset *s, const char *n)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], n) == 0)
            return 1;
    return 0;
}

static void ns_del(nameset *s, const char *n)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], n) == 0) {
            memmove(s->names[i], s->names[i + 1], (s->n - i - 1) * sizeof(s->names[0]));
            s->n--;
            return;
        }
}

static void ns_add(nameset *s, const char *n)
{
    if (!ns_has(s, n) && s->n < 24)
        snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", n);
}

static sl_literal random_literal(arena *a)
{
    static const char *const strv[] = {"u1", "u2", "eu", "", "x\"y", "\xc3\xa9", "zz"};
    switch (below(6)) {
    case 0:
        return lit_int((int64_t)below(40) - 10);
    case 1:
        return lit_double((double)((int)below(400) - 100) / 8.0);
    case 2:
    case 3: {
        sl_literal l = lit_str(strv[below(SL_ARRAY_LEN(strv))]);
        (void)a;
        return l;
    }
    case 4: {
        sl_literal l = {SL_T_BOOL, (int64_t)below(2), 0, NULL, 0};
        return l;
    }
    default: {
        sl_literal l = {SL_T_NULL, 0, 0, NULL, 0};
        return l;
    }
    }
}

static sl_expr *random_expr(arena *a, const nameset *cur, int depth)
{
    if (depth >= 2 || chance(60)) {
        const char *f = chance(90) && cur->n ? cur->names[below(cur->n)] : "absent";
        return cmp_expr(a, f, (sl_cmp_op)below(6), random_literal(a));
    }
    sl_expr *e = arena_alloc(a, sizeof(*e));
    e->kind = (sl_expr_kind)(1 + below(3));
    e->nargs = e->kind == SL_EXPR_NOT ? 1 : 1 + below(3);
    e->args = arena_alloc(a, e->nargs * sizeof(sl_expr *));
    for (size_t i = 0; i < e->nargs; i++)
        e->args[i] = random_expr(a, cur, depth + 1);
    return e;
}

static void random_pipeline(tdef *t)
{
    static const sl_time_unit units[] = {SL_TIME_MS, SL_TIME_S, SL_TIME_RFC3339, SL_TIME_KAFKA};
    sl_time_unit unit = units[below(4)];
    tdef_init(t, unit == SL_TIME_KAFKA ? NULL : "ts", unit);
    nameset cur = {.n = 0};
    for (size_t i = 0; i < NU; i++)
        ns_add(&cur, universe[i]);
    ns_add(&cur, "ts");
    size_t nst = below(4);
    for (size_t s = 0; s < nst; s++) {
        if (chance(50)) {
            tdef_filter(t, random_expr(&t->a, &cur, 0));
            continue;
        }
        sl_map_def *m = tdef_map(t);
        int op = (int)below(3);
        if (op == 0 && cur.n > 2) { /* keep */
            const char *k[8];
            size_t nk = 0;
            for (size_t i = 0; i < cur.n && nk < 8; i++)
                if (chance(60))
                    k[nk++] = cur.names[i];
            if (!nk)
                k[nk++] = cur.names[0];
            m->keep = strs(&t->a, k, nk);
            m->nkeep = nk;
            nameset next = {.n = 0};
            for (size_t i = 0; i < nk; i++)
                ns_add(&next, k[i]);
            cur = next;
        } else if (op == 1 && cur.n > 2) { /* drop */
            const char *d = cur.names[below(cur.n)];
            m->drop = strs(&t->a, &d, 1);
            m->ndrop = 1;
            ns_del(&cur, m->drop[0]);
        } else { /* rename one or two, to fresh or existing names */
            static const char *const fresh[] = {"r1", "r2", "user", "amount", "price", "x"};
            const char *from[2], *to[2];
            size_t n = cur.n > 1 && chance(40) ? 2 : 1;
            from[0] = cur.names[below(cur.n)];
            do {
                from[1] = cur.names[below(cur.n)];
            } while (n == 2 && strcmp(from[1], from[0]) == 0);
            to[0] = fresh[below(SL_ARRAY_LEN(fresh))];
            do {
                to[1] = fresh[below(SL_ARRAY_LEN(fresh))];
            } while (n == 2 && strcmp(to[1], to[0]) == 0);
            m->rename_from = strs(&t->a, from, n);
            m->rename_to = strs(&t->a, to, n);
            m->nrename = n;
            for (size_t i = 0; i < n; i++)
                ns_del(&cur, m->rename_from[i]);
            for (size_t i = 0; i < n; i++)
                ns_add(&cur, m->rename_to[i]);
        }
    }
    if (cur.n && chance(85)) {
        const char *k[2];
        size_t nk = cur.n > 1 && chance(30) ? 2 : 1;
        k[0] = cur.names[below(cur.n)];
        do {
            k[1] = cur.names[below(cur.n)];
        } while (nk == 2 && strcmp(k[1], k[0]) == 0);
        tdef_key(t, k, nk);
    }
    if (chance(25) && cur.n)
        tdef_filter(t, random_expr(&t->a, &cur, 0));
    if (cur.n && chance(70)) {
        const char *c[3];
        size_t nc = 0;
        /* prefer numeric-looking names */
        if (ns_has(&cur, "amount"))
            c[nc++] = "amount";
        if (ns_has(&cur, "price") && chance(50))
            c[nc++] = "price";
        if (!nc || chance(20))
            c[nc++] = cur.names[below(cur.n)];
        if (nc == 2 && strcmp(c[0], c[1]) == 0)
            nc = 1;
        if (nc == 3 && (strcmp(c[2], c[0]) == 0 || strcmp(c[2], c[1]) == 0))
            nc = 2;
        tdef_window(t, c, nc);
    }
}

/* One random event, and what its time field should give. */
typedef struct tevent {
    char text[1024];
    int64_t kafka_ts;
    int time_bad; /* 0, or SL_BAD_* + 1 */
    int64_t ts;   /* when time_bad == 0 */
} tevent;

typedef struct tb {
    char *p;
    size_t n, cap;
} tb;

static void tb_put(tb *b, const char *s)
{
    size_t n = strlen(s);
    assert_true(b->n + n < b->cap);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void random_string(tb *b)
{
    static const char *const parts[] = {"u1",       "u2",  "eu",      "x\\\"y", "\\u00e9",
                                        "\xc3\xa9", "\\n", "\\u0000", "zz",     "\\ud83d\\ude00",
                                        "/",        "\\/"};
    tb_put(b, "\"");
    size_t n = below(3);
    for (size_t i = 0; i < n; i++)
        tb_put(b, parts[below(SL_ARRAY_LEN(parts))]);
    tb_put(b, "\"");
}

static void random_value(tb *b, int natural_kind)
{
    char t[64];
    int kind = chance(75) ? natural_kind : (int)below(7);
    switch (kind) {
    case 0:
        random_string(b);
        return;
    case 1:
        snprintf(t, sizeof(t), "%d", (int)below(40) - 10);
        break;
    case 2:
        snprintf(t, sizeof(t), "%.*f", (int)below(4), (double)((int)below(4000) - 1000) / 64.0);
        break;
    case 3:
        snprintf(t, sizeof(t), "%s", below(2) ? "true" : "false");
        break;
    case 4:
        snprintf(t, sizeof(t), "null");
        break;
    case 5:
        snprintf(t, sizeof(t), "{\"a\": [1, \"b\"] }");
        break;
    default:
        snprintf(t, sizeof(t), "%lld", (long long)(int64_t)(rnd() >> below(64)));
        break;
    }
    tb_put(b, t);
}

static void random_time(tb *b, sl_time_unit unit, tevent *e)
{
    char t[96];
    e->time_bad = 0;
    if (chance(4)) {
        tb_put(b, below(2) ? "true" : "{}");
        e->time_bad = SL_BAD_BAD_TIME + 1;
        return;
    }
    int64_t base = 1700000000000LL + (int64_t)below(100000000);
    if (chance(10))
        base = -(int64_t)below(100000000000LL);
    switch (unit) {
    case SL_TIME_MS:
        if (chance(70)) {
            snprintf(t, sizeof(t), "%lld", (long long)base);
            e->ts = base;
        } else if (chance(50) && base >= 0) {
            snprintf(t, sizeof(t), "%lld.%d", (long long)base, (int)below(10));
            e->ts = base;
        } else {
            /* mantissa/exponent form of an integer */
            snprintf(t, sizeof(t), "%lld0e-1", (long long)base);
            e->ts = base;
        }
        break;
    case SL_TIME_S: {
        int64_t s = base / 1000, ms = base % 1000;
        if (ms < 0) {
            ms += 1000;
            s -= 1;
        }
        if (chance(30)) {
            snprintf(t, sizeof(t), "%lld", (long long)s);
            e->ts = s * 1000;
        } else if (s >= 0) {
            int extra = (int)below(10);
            snprintf(t, sizeof(t), "%lld.%03d%d", (long long)s, (int)ms, extra);
            e->ts = s * 1000 + ms;
        } else {
            /* negative: -(|s| - 1).(1000 - ms) style text, floored */
            int64_t v = s * 1000 + ms; /* exact ms value, negative */
            int64_t a = -v;
            int extra = (int)below(10);
            snprintf(t, sizeof(t), "-%lld.%03lld%d", (long long)(a / 1000), (long long)(a % 1000),
                     extra);
            e->ts = v - (extra ? 1 : 0);
        }
        break;
    }
    case SL_TIME_RFC3339: {
        if (chance(5)) {
            tb_put(b, "\"2024-13-01T00:00:00Z\"");
            e->time_bad = SL_BAD_BAD_TIME + 1;
            return;
        }
        if (chance(5)) {
            snprintf(t, sizeof(t), "%lld", (long long)base);
            tb_put(b, t);
            e->time_bad = SL_BAD_BAD_TIME + 1;
            return;
        }
        static const int offs[] = {0, 0, 60, -480, 330, -210, 840, -720};
        int off = offs[below(SL_ARRAY_LEN(offs))];
        int64_t secs = base / 1000, ms = base % 1000;
        if (ms < 0) {
            ms += 1000;
            secs -= 1;
        }
        time_t local = (time_t)(secs + off * 60);
        struct tm tm;
        gmtime_r(&local, &tm);
        char frac[16] = "";
        int nfrac = (int)below(10);
        if (nfrac >= 3)
            snprintf(frac, sizeof(frac), ".%03d%.*s", (int)ms, nfrac - 3, "987654321");
        else if (nfrac > 0)
            snprintf(frac, sizeof(frac), ".%0*d", nfrac, (int)(ms / (nfrac == 1 ? 100 : 10)));
        char zone[16];
        if (off == 0 && chance(70))
            snprintf(zone, sizeof(zone), "%s", chance(80) ? "Z" : "z");
        else
            snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60,
                     abs(off) % 60);
        snprintf(t, sizeof(t), "\"%04d-%02d-%02d%c%02d:%02d:%02d%s%s\"", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, chance(80) ? 'T' : ' ', tm.tm_hour, tm.tm_min,
                 tm.tm_sec, frac, zone);
        int64_t kept_ms = nfrac >= 3   ? ms
                          : nfrac == 2 ? ms / 10 * 10
                          : nfrac == 1 ? ms / 100 * 100
                                       : 0;
        e->ts = secs * 1000 + kept_ms;
        break;
    }
    default:
        break;
    }
    tb_put(b, t);
}

static void random_event(const sl_def *def, tevent *e)
{
    static const int natural[] = {0, 0, 1, 2, 3, 0, 5, 1, 2}; /* per universe name */
    tb b = {e->text, 0, sizeof(e->text)};
    const char *ws[] = {"", "", " ", "\n "};
    size_t order[NU + 1];
    for (size_t i = 0; i <= NU; i++)
        order[i] = i;
    for (size_t i = NU; i > 0; i--) {
        size_t j = below(i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    sl_time_unit unit = def->event_time.unit;
    e->kafka_ts = chance(90) ? (int64_t)below(1000000) : -1;
    e->time_bad = SL_BAD_MISSING_TIME + 1;
    if (unit == SL_TIME_KAFKA) {
        e->time_bad = e->kafka_ts < 0 ? SL_BAD_MISSING_TIME + 1 : 0;
        e->ts = e->kafka_ts;
    }
    tb_put(&b, "{");
    int first = 1;
    for (size_t k = 0; k <= NU; k++) {
        size_t i = order[k];
        if (!chance(85))
            continue;
        if (!first)
            tb_put(&b, ",");
        first = 0;
        tb_put(&b, ws[below(4)]);
        if (i == NU) {
            tb_put(&b, "\"ts\":");
            if (unit == SL_TIME_KAFKA) {
                tb_put(&b, "1");
            } else {
                random_time(&b, unit, e);
            }
        } else {
            tb_put(&b, "\"");
            tb_put(&b, universe[i]);
            tb_put(&b, "\":");
            tb_put(&b, ws[below(4)]);
            random_value(&b, natural[i]);
        }
    }
    tb_put(&b, "}");
}

/* ---- the reference ------------------------------------------------------------- */

typedef struct ref_out {
    sl_decode_result r;
    sl_bad_reason why;
    char key[1024];
    size_t key_len;
    int key_exact; /* 0 when a key value is an object/array */
    json_t *key_obj;
    int64_t ts;
    sl_num vals[4];
    json_t *row;
} ref_out;

static int ref_cmp_num(json_t *v, const sl_literal *lit)
{
    long double a =
        json_is_integer(v) ? (long double)json_integer_value(v) : (long double)json_real_value(v);
    long double b = lit->type == SL_T_INT ? (long double)lit->i : (long double)lit->d;
    return a < b ? -1 : a > b;
}

static int ref_holds(int c, sl_cmp_op op)
{
    switch (op) {
    case SL_CMP_EQ:
        return c == 0;
    case SL_CMP_NE:
        return c != 0;
    case SL_CMP_LT:
        return c < 0;
    case SL_CMP_LE:
        return c <= 0;
    case SL_CMP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

static int ref_eval(const sl_expr *e, json_t *obj)
{
    if (e->kind == SL_EXPR_AND) {
        for (size_t i = 0; i < e->nargs; i++)
            if (!ref_eval(e->args[i], obj))
                return 0;
        return 1;
    }
    if (e->kind == SL_EXPR_OR) {
        for (size_t i = 0; i < e->nargs; i++)
            if (ref_eval(e->args[i], obj))
                return 1;
        return 0;
    }
    if (e->kind == SL_EXPR_NOT)
        return !ref_eval(e->args[0], obj);
    json_t *v = json_object_get(obj, e->field);
    const sl_literal *l = &e->value;
    if (!v)
        return 0;
    if (json_is_number(v) && (l->type == SL_T_INT || l->type == SL_T_DOUBLE))
        return ref_holds(ref_cmp_num(v, l), e->op);
    if (json_is_string(v) && l->type == SL_T_STRING) {
        size_t n = json_string_length(v), m = l->slen;
        int c = memcmp(json_string_value(v), l->s, n < m ? n : m);
        if (c == 0)
            c = n < m ? -1 : n > m;
        return ref_holds(c < 0 ? -1 : c > 0, e->op);
    }
    if ((json_is_boolean(v) && l->type == SL_T_BOOL) || (json_is_null(v) && l->type == SL_T_NULL)) {
        int eq = json_is_null(v) || json_is_true(v) == (l->i != 0);
        return e->op == SL_CMP_EQ ? eq : e->op == SL_CMP_NE ? !eq : 0;
    }
    return e->op == SL_CMP_NE;
}

static void ref_map(json_t **obj, const sl_map_def *m)
{
    if (m->nkeep) {
        json_t *k = json_object();
        for (size_t i = 0; i < m->nkeep; i++) {
            json_t *v = json_object_get(*obj, m->keep[i]);
            if (v)
                json_object_set(k, m->keep[i], v);
        }
        json_decref(*obj);
        *obj = k;
    }
    for (size_t i = 0; i < m->ndrop; i++)
        json_object_del(*obj, m->drop[i]);
    json_t *vals[4] = {NULL};
    for (size_t i = 0; i < m->nrename; i++) {
        vals[i] = json_object_get(*obj, m->rename_from[i]);
        json_incref(vals[i]);
    }
    for (size_t i = 0; i < m->nrename; i++)
        json_object_del(*obj, m->rename_from[i]);
    for (size_t i = 0; i < m->nrename; i++) {
        json_object_del(*obj, m->rename_to[i]);
        if (vals[i])
            json_object_set_new(*obj, m->rename_to[i], vals[i]);
    }
}

static size_t ref_escape(const char *s, size_t n, char *o)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *short_form = c == '"'    ? "\\\""
                                 : c == '\\' ? "\\\\"
                                 : c == '\n' ? "\\n"
                                 : c == '\r' ? "\\r"
                                 : c == '\t' ? "\\t"
                                 : c == '\b' ? "\\b"
                                 : c == '\f' ? "\\f"
                                             : NULL;
        if (short_form)
            at += (size_t)sprintf(o + at, "%s", short_form);
        else if (c < 0x20)
            at += (size_t)sprintf(o + at, "\\u%04x", c);
        else
            o[at++] = (char)c;
    }
    return at;
}

static void ref_canonical(json_t *v, char *o, size_t *at, int *exact)
{
    if (json_is_string(v)) {
        o[(*at)++] = '"';
        *at += ref_escape(json_string_value(v), json_string_length(v), o + *at);
        o[(*at)++] = '"';
    } else if (json_is_integer(v)) {
        *at += (size_t)sprintf(o + *at, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        char t[40];
        for (int p = 15; p <= 17; p++) { /* the documented canonical form */
            snprintf(t, sizeof(t), "%.*g", p, d);
            if (strtod(t, NULL) == d)
                break;
        }
        if (!strchr(t, '.') && !strchr(t, 'e'))
            strcat(t, ".0");
        *at += (size_t)sprintf(o + *at, "%s", t);
    } else if (json_is_true(v) || json_is_false(v) || json_is_null(v)) {
        *at += (size_t)sprintf(o + *at, "%s",
                               json_is_true(v)    ? "true"
                               : json_is_false(v) ? "false"
                                                  : "null");
    } else {
        *exact = 0;
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        *at += (size_t)sprintf(o + *at, "%s", d);
        free(d);
    }
}

static void ref_decode(const sl_def *def, const tevent *e, ref_out *out)
{
    memset(out, 0, sizeof(*out));
    out->key_exact = 1;
    json_t *obj = json_loadb(e->text, strlen(e->text), JSON_ALLOW_NUL, NULL);
    assert_non_null(obj);
    out->key_obj = json_object();
    int saw_window = 0;
    for (size_t s = 0; s < def->nstages; s++) {
        const sl_stage *st = &def->stages[s];
        if (st->kind == SL_STAGE_FILTER && !ref_eval(st->u.filter, obj)) {
            out->r = SL_DECODE_FILTERED;
            goto done;
        }
        if (st->kind == SL_STAGE_MAP)
            ref_map(&obj, &st->u.map);
        if (st->kind == SL_STAGE_KEY_BY && st == def->key_by) {
            for (size_t k = 0; k < st->u.key_by.nfields; k++) {
                const char *f = st->u.key_by.fields[k];
                json_t *v = json_object_get(obj, f);
                if (!v) {
                    out->r = SL_DECODE_BAD;
                    out->why = SL_BAD_MISSING_KEY;
                    goto done;
                }
                if (k)
                    out->key[out->key_len++] = ',';
                out->key[out->key_len++] = '"';
                out->key_len += ref_escape(f, strlen(f), out->key + out->key_len);
                out->key[out->key_len++] = '"';
                out->key[out->key_len++] = ':';
                ref_canonical(v, out->key, &out->key_len, &out->key_exact);
                json_object_set(out->key_obj, f, v);
            }
        }
        if (st->kind == SL_STAGE_WINDOW) {
            saw_window = 1;
            if (e->time_bad) {
                out->r = SL_DECODE_BAD;
                out->why = (sl_bad_reason)(e->time_bad - 1);
                goto done;
            }
            for (uint32_t c = 0; c < st->u.window.ncolumns; c++) {
                json_t *v = json_object_get(obj, st->u.window.columns[c]);
                if (!v || !json_is_number(v)) {
                    out->r = SL_DECODE_BAD;
                    out->why = v ? SL_BAD_WRONG_TYPE : SL_BAD_MISSING_FIELD;
                    goto done;
                }
                out->vals[c].is_double = json_is_real(v);
                if (json_is_real(v))
                    out->vals[c].v.d = json_real_value(v);
                else
                    out->vals[c].v.i = json_integer_value(v);
            }
        }
    }
    if (!saw_window && e->time_bad) {
        out->r = SL_DECODE_BAD;
        out->why = (sl_bad_reason)(e->time_bad - 1);
        goto done;
    }
    out->r = SL_DECODE_OK;
    out->ts = e->time_bad ? 0 : e->ts;
    if (!def->window) {
        out->row = obj;
        obj = NULL;
    }
done:
    json_decref(obj);
}

static void compare(const sl_def *def, sl_ingest *ing, sl_ingest *rep, const tevent *e)
{
    ref_out want;
    ref_decode(def, e, &want);
    decoded got = decode(ing, e->text, e->kafka_ts);
    if (got.r != want.r || (got.r == SL_DECODE_BAD && got.why != want.why))
        fail_msg("event %s: got %d/%s, reference %d/%s", e->text, got.r,
                 got.r == SL_DECODE_BAD ? sl_bad_reason_name(got.why) : "-", want.r,
                 want.r == SL_DECODE_BAD ? sl_bad_reason_name(want.why) : "-");
    if (got.r == SL_DECODE_OK) {
        if (want.key_exact) {
            if (got.key_len != want.key_len || memcmp(got.key, want.key, got.key_len) != 0)
                fail_msg("event %s: key [%.*s], reference [%.*s]", e->text, (int)got.key_len,
                         got.key, (int)want.key_len, want.key);
        } else {
            char wrapped[600];
            snprintf(wrapped, sizeof(wrapped), "{%.*s}", (int)got.key_len, got.key);
            json_t *k = json_loads(wrapped, JSON_ALLOW_NUL, NULL);
            if (!k || !json_equal(k, want.key_obj))
                fail_msg("event %s: key [%.*s] differs in value", e->text, (int)got.key_len,
                         got.key);
            json_decref(k);
        }
        if (got.ts != want.ts)
            fail_msg("event %s: ts %lld, reference %lld", e->text, (long long)got.ts,
                     (long long)want.ts);
        for (uint32_t c = 0; def->window && c < def->window->ncolumns; c++)
            if (got.vals[c].is_double != want.vals[c].is_double ||
                memcmp(&got.vals[c].v, &want.vals[c].v, sizeof(got.vals[c].v)) != 0)
                fail_msg("event %s: column %u differs", e->text, c);
        if (!def->window) {
            json_t *row = json_loadb(got.row, got.row_len, JSON_ALLOW_NUL, NULL);
            if (!row || !json_equal(row, want.row))
                fail_msg("event %s: row %.*s differs from the reference", e->text, (int)got.row_len,
                         got.row);
            json_decref(row);
        } else {
            assert_int_equal(got.row_len, 0);
        }
        if (rep) {
            char rec[2048];
            long n = sl_ingest_encode_repartition(ing, rec, sizeof(rec) - 1);
            assert_true(n > 0);
            rec[n] = '\0';
            decoded back = decode(rep, rec, -1);
            if (back.r != SL_DECODE_OK || back.key_len != got.key_len ||
                memcmp(back.key, got.key, got.key_len) != 0 || back.ts != got.ts)
                fail_msg("event %s: repartition record %s decodes differently", e->text, rec);
            for (uint32_t c = 0; c < def->window->ncolumns; c++)
                if (back.vals[c].is_double != got.vals[c].is_double ||
                    memcmp(&back.vals[c].v, &got.vals[c].v, sizeof(got.vals[c].v)) != 0)
                    fail_msg("event %s: repartition column %u differs (%s)", e->text, c, rec);
        }
    }
    json_decref(want.key_obj);
    json_decref(want.row);
}

static void test_oracle_random(void **state)
{
    (void)state;
    int pipelines = 400, events = 150;
    uint64_t counts[3] = {0};
    for (int p = 0; p < pipelines; p++) {
        tdef t;
        random_pipeline(&t);
        char err[256];
        sl_ingest *ing = sl_ingest_new(&t.def, SL_INGEST_RAW, err, sizeof(err));
        if (!ing)
            fail_msg("pipeline %d: %s", p, err);
        sl_ingest *rep =
            t.def.window ? sl_ingest_new(&t.def, SL_INGEST_REPARTITIONED, err, sizeof(err)) : NULL;
        if (t.def.window && !rep)
            fail_msg("pipeline %d (repartitioned): %s", p, err);
        for (int i = 0; i < events; i++) {
            tevent e;
            random_event(&t.def, &e);
            compare(&t.def, ing, rep, &e);
            counts[sl_ingest_decode(ing, e.text, strlen(e.text), e.kafka_ts,
                                    &(sl_bad_reason){0})]++;
        }
        sl_ingest_free(ing);
        sl_ingest_free(rep);
        arena_free(&t.a);
    }
    /* the generator must exercise every outcome */
    assert_true(counts[SL_DECODE_OK] > 1000);
    assert_true(counts[SL_DECODE_FILTERED] > 1000);
    assert_true(counts[SL_DECODE_BAD] > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_keys),    cmocka_unit_test(test_time_units),
        cmocka_unit_test(test_max_future),        cmocka_unit_test(test_max_future_kafka_reference),
        cmocka_unit_test(test_filter_map_rows),   cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_repartition_names), cmocka_unit_test(test_value_compare),
        cmocka_unit_test(test_escaped_reuse),     cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_oracle_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
