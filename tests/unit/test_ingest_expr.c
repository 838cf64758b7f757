/*
 * test_ingest_expr.c - SQL expressions and nested fields in the decoder
 * (engine/ingest: derived slots, design note 7).
 *
 * The oracle: random events (ints, doubles, strings with escapes, nulls,
 * missing fields, nested objects and arrays) go through pipelines that use
 * a SQL filter, a map's set (computed fields reading earlier computed
 * ones), drop, computed keys and aggregate expressions. A reference in
 * this file extracts every field path with jansson and evaluates the same
 * expression texts with operators/expr.h over those values; the decoder's
 * outcome (filtered, bad and why, key bytes, aggregate columns, the mapped
 * row) must equal it. The expression language itself is tested in
 * test_expr.c and against SQLite in test_expr_sqlite.c; this test checks
 * that the decoder feeds expressions the right values and uses their
 * results right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "batch.h"
#include "expr.h"
#include "ingest.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng;

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

/* ---- random events ------------------------------------------------------- */

static json_t *rand_scalar(void)
{
    static const char *const strs[] = {"x", "xy", "Ab", "a\"b", "caf\u00e9", "", "x\\y", "zz"};
    switch (below(7)) {
    case 0:
        return json_integer((json_int_t)below(21) - 10);
    case 1:
        return json_real((double)((int)below(401) - 200) / 8.0);
    case 2:
    case 3:
        return json_string(strs[below(8)]);
    case 4:
        return json_null();
    case 5:
        return json_integer((json_int_t)below(1000000) * 1000003);
    default:
        return json_boolean(below(2));
    }
}

/* One event: ts, a, b, s, o {x, y: [..]}, arr [..]; any may be absent. */
static char *rand_event(void)
{
    json_t *e = json_object();
    json_object_set_new(e, "ts", json_integer((json_int_t)below(100000)));
    static const char *const top[] = {"a", "b", "s"};
    for (size_t i = 0; i < 3; i++)
        if (below(8))
            json_object_set_new(e, top[i], rand_scalar());
    if (below(5)) {
        json_t *o = json_object();
        if (below(6))
            json_object_set_new(o, "x", rand_scalar());
        if (below(3)) {
            json_t *y = json_array();
            for (size_t n = below(4); n > 0; n--)
                json_array_append_new(y, rand_scalar());
            json_object_set_new(o, "y", y);
        }
        json_object_set_new(e, "o", below(10) ? o : (json_decref(o), json_string("not an object")));
    }
    if (below(3)) {
        json_t *arr = json_array();
        for (size_t n = below(4); n > 0; n--)
            json_array_append_new(arr, below(5) ? rand_scalar() : json_pack("{s:i}", "x", 1));
        json_object_set_new(e, "arr", arr);
    }
    json_object_set_new(e, "debug", json_integer(1));
    char *text = json_dumps(e, JSON_COMPACT | (below(2) ? 0 : JSON_ENSURE_ASCII));
    json_decref(e);
    return text;
}

/* ---- the reference --------------------------------------------------------- */

/* Field paths an expression reads, resolved on one jansson event. */
typedef struct ref_env {
    char *paths[32];
    size_t n;
} ref_env;

static int ref_resolve(void *ctx, const char *path, sl_type *type)
{
    ref_env *r = ctx;
    *type = SL_T_MISSING;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->paths[i], path) == 0)
            return (int)i;
    assert_true(r->n < 32);
    r->paths[r->n] = strdup(path);
    return (int)r->n++;
}

/* The value at `path` ("o.y[1]") in event `e`, or NULL. */
static json_t *ref_lookup(json_t *e, const char *path)
{
    char seg[64];
    const char *p = path;
    json_t *v = e;
    while (*p && v) {
        size_t n = 0;
        if (*p == '[') {
            size_t idx = strtoul(p + 1, NULL, 10);
            v = json_is_array(v) ? json_array_get(v, idx) : NULL;
            p = strchr(p, ']') + 1;
            continue;
        }
        if (*p == '.')
            p++;
        while (p[n] && p[n] != '.' && p[n] != '[')
            n++;
        snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
        v = json_is_object(v) ? json_object_get(v, seg) : NULL;
        p += n;
    }
    return v;
}

/* A jansson value as the decoder hands it to expressions; objects and
 * arrays are their compact text in `buf`. */
static sl_value ref_value(const json_t *v, char *buf, size_t cap)
{
    sl_value x = {.type = SL_T_MISSING};
    if (!v)
        return x;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        x.type = SL_T_INT;
        x.i = (int64_t)json_integer_value(v);
        x.d = (double)x.i;
        break;
    case JSON_REAL:
        x.type = SL_T_DOUBLE;
        x.d = json_real_value(v);
        break;
    case JSON_STRING:
        x.type = SL_T_STRING;
        x.s = json_string_value(v);
        x.len = json_string_length(v);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        x.type = SL_T_BOOL;
        x.i = json_is_true(v);
        break;
    case JSON_NULL:
        x.type = SL_T_NULL;
        break;
    default: {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, cap, "%s", t);
        free(t);
        x.type = SL_T_OTHER;
        x.s = buf;
        x.len = strlen(buf);
    }
    }
    return x;
}

/* A compiled reference expression over named paths. */
typedef struct ref_expr {
    ref_env env;
    sl_xexpr *x;
} ref_expr;

static void ref_compile(ref_expr *r, const char *text)
{
    memset(r, 0, sizeof(*r));
    sl_xenv env = {.resolve = ref_resolve, .ctx = &r->env};
    char err[512];
    r->x = sl_xexpr_compile(text, &env, err, sizeof(err));
    if (!r->x)
        fail_msg("%s: %s", text, err);
}

static void ref_free(ref_expr *r)
{
    sl_xexpr_free(r->x);
    for (size_t i = 0; i < r->env.n; i++)
        free(r->env.paths[i]);
}

/* Evaluates r over event `e`, where the names in `computed` (n of them)
 * stand for `cvals` instead of event fields. Returns sl_xexpr_eval's code. */
static int ref_eval(const ref_expr *r, json_t *e, const char *const *computed,
                    const sl_value *cvals, size_t ncomputed, sl_xscratch *xs, char bufs[][256],
                    sl_value *out)
{
    sl_value slots[32];
    for (size_t i = 0; i < r->env.n; i++) {
        size_t c = 0;
        while (c < ncomputed && strcmp(computed[c], r->env.paths[i]) != 0)
            c++;
        slots[i] =
            c < ncomputed ? cvals[c] : ref_value(ref_lookup(e, r->env.paths[i]), bufs[i], 256);
    }
    return sl_xexpr_eval(r->x, slots, xs, out);
}

/* A value as JSON (what the decoder writes for computed fields). */
static json_t *value_json(const sl_value *v)
{
    switch (v->type) {
    case SL_T_INT:
        return json_integer((json_int_t)v->i);
    case SL_T_DOUBLE:
        return isfinite(v->d) ? json_real(v->d) : json_null();
    case SL_T_STRING:
        return json_stringn(v->s, v->len);
    case SL_T_BOOL:
        return json_boolean(v->i);
    case SL_T_OTHER:
        return json_loadb(v->s, v->len, JSON_DECODE_ANY, NULL);
    default:
        return json_null();
    }
}

/* Loads definition `text` and its RAW decoder; fails the test on error. */
static sl_ingest *load_ingest(const char *text, sl_def **def)
{
    char err[1024];
    if (sl_def_load_string(text, "t.json", def, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sl_ingest *ing = sl_ingest_new(*def, SL_INGEST_RAW, err, sizeof(err));
    if (!ing)
        fail_msg("%s", err);
    return ing;
}

/* ---- case 1: filter, set (a chain), drop; no window -> mapped rows -------- */

#define FILTER_TEXT "a > b OR s LIKE 'x%' OR o.x IS NOT NULL"
static const char *const set_names[] = {"n", "t", "u", "m", "s"};
static const char *const set_texts[] = {"a * 2 + coalesce(b, 0)", "o.x", "arr[1]",
                                        "CASE WHEN o.y[0] IS NULL THEN 'none' ELSE 'some' END",
                                        "upper(s) || '!'"};
#define NSET 5

static void test_mapped_rows_oracle(void **state)
{
    (void)state;
    char def_text[2048];
    int at = snprintf(def_text, sizeof(def_text),
                      "{\"name\":\"t\",\"source\":{\"type\":\"file\",\"path\":\"in\","
                      "\"event_time\":{\"field\":\"ts\"}},\"pipeline\":["
                      "{\"filter\":\"%s\"},{\"map\":{\"set\":{",
                      FILTER_TEXT);
    for (size_t k = 0; k < NSET; k++)
        at += snprintf(def_text + at, sizeof(def_text) - (size_t)at, "%s\"%s\":\"%s\"",
                       k ? "," : "", set_names[k], set_texts[k]);
    at += snprintf(def_text + at, sizeof(def_text) - (size_t)at,
                   "},\"drop\":[\"debug\"]}},{\"map\":{\"set\":{\"n2\":\"n * n\"}}}],"
                   "\"sink\":{\"type\":\"file\",\"path\":\"o\"}}");
    sl_def *def;
    sl_ingest *ing = load_ingest(def_text, &def);
    ref_expr filter, set[NSET], n2;
    ref_compile(&filter, FILTER_TEXT);
    for (size_t k = 0; k < NSET; k++)
        ref_compile(&set[k], set_texts[k]);
    ref_compile(&n2, "n * n");
    sl_xscratch xs = {0};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1, 0);
    size_t passed = 0, filtered = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char *text = rand_event();
        json_t *e = json_loads(text, 0, NULL);
        assert_non_null(e);
        sl_xscratch_reset(&xs);
        char bufs[32][256];
        sl_value fv;
        int ferr = ref_eval(&filter, e, NULL, NULL, 0, &xs, bufs, &fv);
        int want_bad = ferr != 0 && ferr != SL_XERR_DIV_ZERO;
        int want_pass = !want_bad && sl_xvalue_true(&fv);
        sl_value sv[NSET + 1];
        char setbufs[NSET][32][256];
        for (size_t k = 0; want_pass && k < NSET; k++) {
            int r = ref_eval(&set[k], e, NULL, NULL, 0, &xs, setbufs[k], &sv[k]);
            if (r != 0 && r != SL_XERR_DIV_ZERO)
                want_bad = 1, want_pass = 0;
        }
        if (want_pass) {
            char nb[32][256];
            int r = ref_eval(&n2, e, set_names, sv, NSET, &xs, nb, &sv[NSET]);
            if (r != 0 && r != SL_XERR_DIV_ZERO)
                want_bad = 1, want_pass = 0;
        }
        sl_bad_reason why = SL_BAD_COUNT;
        sl_decode_result got = sl_ingest_decode(ing, text, strlen(text), -1, &why);
        if (want_bad) {
            if (got != SL_DECODE_BAD || why != SL_BAD_EXPR_ERROR)
                fail_msg("event %s: want expr_error, got %d/%d", text, got, why);
            bad++;
        } else if (!want_pass) {
            if (got != SL_DECODE_FILTERED)
                fail_msg("event %s: want filtered, got %d", text, got);
            filtered++;
        } else {
            if (got != SL_DECODE_OK)
                fail_msg("event %s: want a row, got %d (%d)", text, got, why);
            sl_batch_reset(b);
            assert_int_equal(sl_ingest_append(ing, b, iter), 0);
            uint32_t rl;
            const char *row = sl_batch_row(b, 0, &rl);
            json_t *gotj = json_loadb(row, rl, 0, NULL);
            if (!gotj)
                fail_msg("event %s: row is not JSON: %.*s", text, (int)rl, row);
            /* expected: the event without debug, set fields replaced/added */
            json_t *want = json_deep_copy(e);
            json_object_del(want, "debug");
            for (size_t k = 0; k <= NSET; k++) {
                const char *name = k < NSET ? set_names[k] : "n2";
                json_object_set_new(want, name, value_json(&sv[k])); /* missing: null */
            }
            if (!json_equal(gotj, want)) {
                char *w = json_dumps(want, JSON_COMPACT);
                fail_msg("event %s:\n  got  %.*s\n  want %s", text, (int)rl, row, w);
            }
            json_decref(want);
            json_decref(gotj);
            passed++;
        }
        json_decref(e);
        free(text);
    }
    printf("mapped rows: %zu passed, %zu filtered, %zu expr_error\n", passed, filtered, bad);
    assert_true(passed > 1000 && filtered > 1000 && bad > 10);
    sl_batch_free(b);
    sl_xscratch_free(&xs);
    ref_free(&filter);
    for (size_t k = 0; k < NSET; k++)
        ref_free(&set[k]);
    ref_free(&n2);
    sl_ingest_free(ing);
    sl_def_free(def);
}

/* ---- case 2: computed and nested keys, aggregate expressions --------------- */

static const char *const key_texts[] = {"o.x", "upper(s)"};
static const char *const col_texts[] = {"a * 2", "coalesce(b, a) + 0.5", "o.y[0]"};

/* The canonical key member value of a reference value (as in keys). */
static void canon(const sl_value *v, char *out, size_t cap)
{
    json_t *j = value_json(v);
    char *t = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, cap, "%s", t);
    free(t);
    json_decref(j);
}

static void test_keys_and_columns_oracle(void **state)
{
    (void)state;
    const char *def_text =
        "{\"name\":\"t\",\"source\":{\"type\":\"file\",\"path\":\"in\","
        "\"event_time\":{\"field\":\"ts\"}},\"pipeline\":["
        "{\"key_by\":[\"o.x\",\"upper(s) AS us\"]},"
        "{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},\"aggregates\":{"
        "\"p\":{\"fn\":\"sum\",\"expr\":\"a * 2\"},\"q\":{\"fn\":\"max\",\"expr\":\"coalesce(b, a) "
        "+ "
        "0.5\"},\"r\":{\"fn\":\"min\",\"field\":\"o.y[0]\"},\"n\":{\"fn\":\"count\"}}}],"
        "\"sink\":{\"type\":\"file\",\"path\":\"o\"}}";
    sl_def *def;
    sl_ingest *ing = load_ingest(def_text, &def);
    assert_int_equal(sl_ingest_ncolumns(ing), 3);
    ref_expr keys[2], cols[3];
    for (size_t k = 0; k < 2; k++)
        ref_compile(&keys[k], key_texts[k]);
    for (size_t c = 0; c < 3; c++)
        ref_compile(&cols[c], col_texts[c]);
    sl_xscratch xs = {0};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1, 3);
    size_t ok = 0, nbad[SL_BAD_COUNT] = {0};
    for (int iter = 0; iter < 20000; iter++) {
        char *text = rand_event();
        json_t *e = json_loads(text, 0, NULL);
        sl_xscratch_reset(&xs);
        char bufs[32][256];
        /* keys first (missing -> missing_key), then columns */
        sl_bad_reason want = SL_BAD_COUNT;
        char want_key[2048] = "";
        size_t kat = 0;
        for (size_t k = 0; k < 2 && want == SL_BAD_COUNT; k++) {
            sl_value v;
            int r = ref_eval(&keys[k], e, NULL, NULL, 0, &xs, bufs, &v);
            if (k == 0 && !ref_lookup(e, "o.x")) /* a missing field is a missing key */
                want = SL_BAD_MISSING_KEY;
            else if (r != 0 && r != SL_XERR_DIV_ZERO)
                want = SL_BAD_EXPR_ERROR;
            else {
                char c[1024];
                canon(&v, c, sizeof(c));
                kat += (size_t)snprintf(want_key + kat, sizeof(want_key) - kat, "%s\"%s\":%s",
                                        k ? "," : "", k ? "us" : "o.x", c);
            }
        }
        sl_num want_cols[3];
        for (size_t c = 0; c < 3 && want == SL_BAD_COUNT; c++) {
            sl_value v;
            int r = ref_eval(&cols[c], e, NULL, NULL, 0, &xs, bufs, &v);
            if (r != 0 && r != SL_XERR_DIV_ZERO)
                want = SL_BAD_EXPR_ERROR;
            else if (v.type == SL_T_INT)
                want_cols[c] = (sl_num){.v.i = v.i, .is_double = 0};
            else if (v.type == SL_T_DOUBLE && isfinite(v.d))
                want_cols[c] = (sl_num){.v.d = v.d, .is_double = 1};
            else if (v.type == SL_T_NULL || v.type == SL_T_MISSING)
                want = SL_BAD_MISSING_FIELD;
            else
                want = SL_BAD_WRONG_TYPE;
        }
        sl_bad_reason why = SL_BAD_COUNT;
        sl_decode_result got = sl_ingest_decode(ing, text, strlen(text), -1, &why);
        if (want != SL_BAD_COUNT) {
            if (got != SL_DECODE_BAD || why != want)
                fail_msg("event %s: want bad %d, got %d/%d", text, want, got, why);
            nbad[want]++;
        } else {
            if (got != SL_DECODE_OK)
                fail_msg("event %s: want ok, got %d/%d", text, got, why);
            size_t kl;
            const char *key = sl_ingest_key(ing, &kl);
            /* compare key members as JSON objects (both canonical) */
            char *wk = malloc(strlen(want_key) + 3), *gk = malloc(kl + 3);
            sprintf(wk, "{%s}", want_key);
            sprintf(gk, "{%.*s}", (int)kl, key);
            json_t *wj = json_loads(wk, 0, NULL), *gj = json_loads(gk, 0, NULL);
            if (!gj || !json_equal(wj, gj))
                fail_msg("event %s: key %s, want %s", text, gk, wk);
            json_decref(wj);
            json_decref(gj);
            free(wk);
            free(gk);
            sl_batch_reset(b);
            assert_int_equal(sl_ingest_append(ing, b, iter), 0);
            for (uint32_t c = 0; c < 3; c++) {
                sl_num g = *sl_batch_val(b, c, 0);
                if (g.is_double != want_cols[c].is_double ||
                    (g.is_double ? g.v.d != want_cols[c].v.d : g.v.i != want_cols[c].v.i))
                    fail_msg("event %s: column %u (%s) differs", text, c, col_texts[c]);
            }
            ok++;
        }
        json_decref(e);
        free(text);
    }
    printf("keys/columns: %zu ok, missing_key %zu, missing_field %zu, wrong_type %zu, "
           "expr_error %zu\n",
           ok, nbad[SL_BAD_MISSING_KEY], nbad[SL_BAD_MISSING_FIELD], nbad[SL_BAD_WRONG_TYPE],
           nbad[SL_BAD_EXPR_ERROR]);
    assert_true(ok > 100 && nbad[SL_BAD_MISSING_KEY] > 100 && nbad[SL_BAD_MISSING_FIELD] > 100 &&
                nbad[SL_BAD_EXPR_ERROR] > 10);
    sl_batch_free(b);
    sl_xscratch_free(&xs);
    for (size_t k = 0; k < 2; k++)
        ref_free(&keys[k]);
    for (size_t c = 0; c < 3; c++)
        ref_free(&cols[c]);
    sl_ingest_free(ing);
    sl_def_free(def);
}

/* ---- validate-time errors ---------------------------------------------------- */

static void expect_error(const char *pipeline, const char *want)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"name\":\"t\",\"source\":{\"type\":\"file\",\"path\":\"in\","
             "\"event_time\":{\"field\":\"ts\"}},\"pipeline\":%s,"
             "\"sink\":{\"type\":\"file\",\"path\":\"o\"}}",
             pipeline);
    sl_def *def = NULL;
    char err[2048];
    int rc = sl_def_load_string(text, "t.json", &def, err, sizeof(err));
    if (rc == 0) {
        sl_def_free(def);
        fail_msg("%s: accepted, want an error containing: %s", pipeline, want);
    }
    if (!strstr(err, want))
        fail_msg("%s:\n  got  %s\n  want %s", pipeline, err, want);
}

static void test_validate_errors(void **state)
{
    (void)state;
    expect_error("[{\"filter\": \"uper(s) = 'X'\"}]",
                 "t.json: pipeline[0].filter: 1:1: unknown function \"uper\", did you mean "
                 "\"upper\"?");
    expect_error("[{\"filter\": \"a >\"}]", "t.json: pipeline[0].filter: 1:");
    expect_error("[{\"map\": {\"drop\": [\"a\"]}}, {\"filter\": \"a > 1\"}]",
                 "pipeline[1].filter: 1:1: unknown field \"a\"");
    expect_error("[{\"map\": {\"set\": {\"x\": \"a +\"}}}]", "pipeline[0].map.set.x: 1:");
    expect_error("[{\"key_by\": [\"lower(\"]}]", "pipeline[0].key_by[0]: 1:");
    expect_error("[{\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": "
                 "{\"v\": {\"fn\": \"sum\", \"field\": \"price*volume\"}}}]",
                 "pipeline[0].aggregates.v.field: \"price*volume\" is not a field name; for a "
                 "computed input write \"expr\": \"price*volume\"");
    expect_error("[{\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": "
                 "{\"v\": {\"fn\": \"sum\", \"expr\": \"price * \"}}}]",
                 "pipeline[0].aggregates.v.expr: 1:");
    expect_error("[{\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": "
                 "{\"total\": {\"fn\": \"sum\", \"field\": \"x\"}}}, {\"filter\": \"totl > 0\"}]",
                 "pipeline[1].filter: 1:1: unknown field \"totl\", did you mean \"total\"?");
    expect_error("[{\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": "
                 "{\"n\": {\"fn\": \"count\"}}}, {\"map\": {\"set\": {\"r\": \"n || 'x' + 1\"}}}]",
                 "pipeline[1].map.set.r: 1:");
    expect_error("[{\"filter\": 5}]", "pipeline[0].filter: must be a SQL expression string or an "
                                      "object");
}

/* A division by zero gives NULL, keeps the event and is counted once per
 * event (however many divisions of it failed). */
static void test_division_by_zero_counted(void **state)
{
    (void)state;
    const char *text = "{\"name\":\"t\",\"source\":{\"type\":\"file\",\"path\":\"in\","
                       "\"event_time\":{\"field\":\"ts\"}},\"pipeline\":["
                       "{\"filter\":\"coalesce(a / b, -1) <> 7\"},"
                       "{\"map\":{\"set\":{\"r\":\"a / b\",\"q\":\"a % b\"}}}],"
                       "\"sink\":{\"type\":\"file\",\"path\":\"o\"}}";
    sl_def *def;
    sl_ingest *ing = load_ingest(text, &def);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1, 0);
    static const struct {
        const char *event, *row;
    } cases[] = {
        {"{\"ts\":1,\"a\":14,\"b\":2}", NULL}, /* 14 / 2 = 7: filtered */
        {"{\"ts\":1,\"a\":16,\"b\":3}", "{\"ts\":1,\"a\":16,\"b\":3,\"r\":5,\"q\":1}"},
        {"{\"ts\":1,\"a\":15,\"b\":0}", "{\"ts\":1,\"a\":15,\"b\":0,\"r\":null,\"q\":null}"},
        {"{\"ts\":1,\"a\":1.5,\"b\":0}", "{\"ts\":1,\"a\":1.5,\"b\":0,\"r\":null,\"q\":null}"},
        {"{\"ts\":1,\"a\":1}", "{\"ts\":1,\"a\":1,\"r\":null,\"q\":null}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_bad_reason why;
        sl_decode_result r =
            sl_ingest_decode(ing, cases[i].event, strlen(cases[i].event), -1, &why);
        if (r != (cases[i].row ? SL_DECODE_OK : SL_DECODE_FILTERED))
            fail_msg("%s: decode gave %d (reason %d)", cases[i].event, r, why);
        if (!cases[i].row)
            continue;
        sl_batch_reset(b);
        assert_int_equal(sl_ingest_append(ing, b, 0), 0);
        uint32_t len;
        const char *row = sl_batch_row(b, 0, &len);
        if (len != strlen(cases[i].row) || memcmp(row, cases[i].row, len) != 0)
            fail_msg("%s: got %.*s, want %s", cases[i].event, (int)len, row, cases[i].row);
    }
    assert_int_equal(sl_ingest_div_zero(ing), 2); /* the two events with b = 0 */
    sl_batch_free(b);
    sl_ingest_free(ing);
    sl_def_free(def);
}

/* count_if and sum_if are sums over a CASE of their condition: the
 * columns the decoder gives for them, and their validation. */
static void test_count_if_sum_if(void **state)
{
    (void)state;
    const char *text =
        "{\"name\":\"t\",\"source\":{\"type\":\"file\",\"path\":\"in\","
        "\"event_time\":{\"field\":\"ts\"}},\"pipeline\":[{\"window\":{\"type\":\"tumbling\","
        "\"size\":\"1s\"},\"aggregates\":{\"big\":{\"fn\":\"count_if\",\"if\":\"a > 10\"},"
        "\"s\":{\"fn\":\"sum_if\",\"field\":\"b\",\"if\":\"a > 10\"},"
        "\"t\":{\"fn\":\"sum_if\",\"expr\":\"a * b\",\"if\":\"b IS NOT NULL\"}}}],"
        "\"sink\":{\"type\":\"file\",\"path\":\"o\"}}";
    sl_def *def;
    sl_ingest *ing = load_ingest(text, &def);
    assert_int_equal(sl_ingest_ncolumns(ing), 3);
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1, 3);
    static const struct {
        const char *event;
        int64_t big;
        double s, t; /* is_double when the value has a fraction */
        int s_double, t_double;
    } cases[] = {
        {"{\"ts\":1,\"a\":11,\"b\":2}", 1, 2, 22, 0, 0},
        {"{\"ts\":1,\"a\":11,\"b\":2.5}", 1, 2.5, 27.5, 1, 1},
        {"{\"ts\":1,\"a\":3,\"b\":2.5}", 0, 0.0, 7.5, 1, 1}, /* ELSE keeps b's type */
        {"{\"ts\":1,\"a\":30}", 1, 0, 0, 0, 0},              /* NULL b adds nothing */
        {"{\"ts\":1,\"b\":4}", 0, 0, 0, 0, 0},               /* NULL condition: false */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_bad_reason why;
        if (sl_ingest_decode(ing, cases[i].event, strlen(cases[i].event), -1, &why) != SL_DECODE_OK)
            fail_msg("%s: not decoded (%d)", cases[i].event, why);
        sl_batch_reset(b);
        assert_int_equal(sl_ingest_append(ing, b, 0), 0);
        sl_num big = *sl_batch_val(b, 0, 0), s = *sl_batch_val(b, 1, 0), t = *sl_batch_val(b, 2, 0);
        assert_int_equal(big.is_double, 0);
        assert_int_equal(big.v.i, cases[i].big);
        assert_int_equal(s.is_double, cases[i].s_double);
        assert_true(s.is_double ? s.v.d == cases[i].s : s.v.i == (int64_t)cases[i].s);
        assert_int_equal(t.is_double, cases[i].t_double);
        assert_true(t.is_double ? t.v.d == cases[i].t : t.v.i == (int64_t)cases[i].t);
    }
    sl_batch_free(b);
    sl_ingest_free(ing);
    sl_def_free(def);

    const char *w = "[{\"window\": {\"type\": \"tumbling\", \"size\": \"1s\"}, \"aggregates\": ";
    char p[512];
    snprintf(p, sizeof(p), "%s{\"n\": {\"fn\": \"count_if\"}}}]", w);
    expect_error(p, "pipeline[0].aggregates.n: count_if needs \"if\": a SQL condition");
    snprintf(p, sizeof(p), "%s{\"n\": {\"fn\": \"count_if\", \"if\": \"a >\"}}}]", w);
    expect_error(p, "pipeline[0].aggregates.n.if: 1:");
    snprintf(p, sizeof(p), "%s{\"n\": {\"fn\": \"sum_if\", \"if\": \"a > 1\"}}}]", w);
    expect_error(p, "pipeline[0].aggregates.n: sum_if needs one of \"field\" or \"expr\"");
    snprintf(p, sizeof(p), "%s{\"n\": {\"fn\": \"sum\", \"field\": \"a\", \"if\": \"a > 1\"}}}]",
             w);
    expect_error(p, "pipeline[0].aggregates.n.if: only count_if and sum_if take a condition");
}

int main(void)
{
    const char *seed = getenv("SL_TEST_SEED");
    rng = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %llu (SL_TEST_SEED to repeat)\n", (unsigned long long)rng);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapped_rows_oracle), cmocka_unit_test(test_keys_and_columns_oracle),
        cmocka_unit_test(test_validate_errors),    cmocka_unit_test(test_division_by_zero_counted),
        cmocka_unit_test(test_count_if_sum_if),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
