/*
 * test_json_scan.c - the projection JSON scanner (engine/ingest/json_scan.c):
 * a table of well-formed and malformed objects, every truncation of valid
 * documents, exact values (int64 limits, doubles, escapes, surrogates,
 * UTF-8), reads that end exactly at a guard page, and a randomized
 * differential test against jansson on generated objects and mutations of
 * them (tests/lib/json_check.c). With simdjson installed (SL_HAVE_SIMDJSON)
 * also the agreement of the simdjson shim (tests/bench/json_simd.cpp);
 * without it CMake registers that case as the disabled test
 * test_json_scan_simdjson.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_skip.h"

#include "json_check.h"
#include "json_scan.h"
#ifdef SL_HAVE_SIMDJSON
#include "json_simd.h"
#endif

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng = 12345;

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

/* Copies s[0..n) so that it ends exactly where an unreadable page begins:
 * any read past the end faults, sanitizers or not. */
typedef struct guarded {
    char *map;
    size_t map_len;
    char *data;
} guarded;

static guarded guard(const char *s, size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (n + pg - 1) / pg * pg;
    if (body == 0)
        body = pg;
    guarded g;
    g.map_len = body + pg;
    g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.map != MAP_FAILED);
    assert_int_equal(mprotect(g.map + body, pg, PROT_NONE), 0);
    g.data = g.map + body - n;
    memcpy(g.data, s, n);
    return g;
}

static void unguard(guarded *g)
{
    munmap(g->map, g->map_len);
}

static const char *const names[] = {"user", "amount", "ts", "a", "nested"};
enum { USER, AMOUNT, TS, A, NESTED, NNAMES };

static int scan(const char *s, size_t n, sl_json_val *v)
{
    static sl_json_fields *f;
    if (!f)
        f = sl_json_fields_new(names, NNAMES);
    guarded g = guard(s, n);
    int rc = sl_json_scan(f, g.data, n, v);
    /* values point into the guarded copy: move them to the original */
    for (int i = 0; i < NNAMES; i++)
        if (v[i].raw)
            v[i].raw = s + (v[i].raw - g.data);
    unguard(&g);
    return rc;
}

static int scan_str(const char *s, sl_json_val *v)
{
    return scan(s, strlen(s), v);
}

/* ---- tables -------------------------------------------------------------- */

static const char *const valid_docs[] = {
    "{}",
    " \t\r\n{ \n} \r\n",
    "{\"a\":1}",
    "{\"user\":\"u1\",\"amount\":17,\"ts\":1700000000123}",
    "{\"a\":[1,2,{\"b\":[]}],\"c\":{\"d\":null,\"e\":{}},\"f\":[[[[]]]]}",
    "{\"a\":\"\\u00e9\\ud83d\\ude00\\u0000\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    "{\"a\":-0.0e+5,\"b\":0,\"c\":-0,\"d\":1E9,\"e\":1.25e-3,\"f\":123456789012345678901234}",
    "{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}",
    "{\"\":1,\"\":2}",
    "{ \"a\" : true , \"b\" : false , \"c\" : null }",
    "{\"a\":[ ],\"b\":{ },\"c\":[ 1 , \"x\" , [ ] ]}",
    "{\"us\\u0065r\":\"escaped key\"}",
    "{\"a\":\"\x7f\"}",
};

static const char *const invalid_docs[] = {
    "",
    "   ",
    "[]",
    "[{\"a\":1}]",
    "1",
    "\"a\"",
    "null",
    "{",
    "}",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\" 1}",
    "{\"a\":1,}",
    "{,}",
    "{,\"a\":1}",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1}x",
    "{\"a\":1}{}",
    "{\"a\":1},",
    "{a:1}",
    "{'a':1}",
    "{\"a\":01}",
    "{\"a\":-01}",
    "{\"a\":1.}",
    "{\"a\":.5}",
    "{\"a\":+1}",
    "{\"a\":-}",
    "{\"a\":1e}",
    "{\"a\":1e+}",
    "{\"a\":0x10}",
    "{\"a\":NaN}",
    "{\"a\":Infinity}",
    "{\"a\":-Infinity}",
    "{\"a\":tru}",
    "{\"a\":True}",
    "{\"a\":nul}",
    "{\"a\":nulll}",
    "{\"a\":falsey}",
    "{\"a\":\"\\x\"}",
    "{\"a\":\"\\u12\"}",
    "{\"a\":\"\\u12g4\"}",
    "{\"a\":\"\\ud800\"}",
    "{\"a\":\"\\udc00\"}",
    "{\"a\":\"\\ud800\\u0041\"}",
    "{\"a\":\"\\ud800\\n\"}",
    "{\"a\":\"\x01\"}",
    "{\"a\":\"tab\there\"}",
    "{\"a\":\"\xff\"}",
    "{\"a\":\"\xc0\x80\"}",
    "{\"a\":\"\xe0\x80\x80\"}",
    "{\"a\":\"\xed\xa0\x80\"}",
    "{\"a\":\"\xf4\x90\x80\x80\"}",
    "{\"a\":\"\xc3\"}",
    "{\"a\":\"\xe2\x82\"}",
    "{\"a\":\"open}",
    "{\"a\":[1,2}",
    "{\"a\":{\"b\":1]}",
    "{\"a\":[1,]}",
    "{\"a\":{\"b\"}}",
    "{\"a\":{,}}",
    "{\"a\":[,1]}",
    "{\"\xff\":1}",
};

static void test_valid_and_invalid(void **state)
{
    (void)state;
    sl_json_val v[NNAMES];
    for (size_t i = 0; i < SL_ARRAY_LEN(valid_docs); i++) {
        if (scan_str(valid_docs[i], v) != 0)
            fail_msg("rejected valid %s", valid_docs[i]);
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(invalid_docs); i++)
        if (scan_str(invalid_docs[i], v) == 0)
            fail_msg("accepted invalid %s", invalid_docs[i]);
    /* NUL bytes are not JSON, inside strings or out */
    assert_int_equal(scan("{\"a\":1}\0", 8, v), -1);
    assert_int_equal(scan("{\"a\":\"x\0\"}", 9, v), -1);
    assert_int_equal(scan("{\"a\":1\0}", 8, v), -1);
}

/* No proper prefix of a valid object (ending before its closing brace) is
 * accepted, and none is read past its end (guard page). */
static void test_truncations(void **state)
{
    (void)state;
    sl_json_val v[NNAMES];
    for (size_t i = 0; i < SL_ARRAY_LEN(valid_docs); i++) {
        const char *d = valid_docs[i];
        const char *close = strrchr(d, '}');
        for (size_t n = 0; n < (size_t)(close - d) + 1; n++)
            if (scan(d, n, v) == 0)
                fail_msg("accepted prefix %zu of %s", n, d);
    }
}

static void test_nesting_limit(void **state)
{
    (void)state;
    sl_json_val v[NNAMES];
    char *doc = malloc(2 * SL_JSON_MAX_DEPTH + 64);
    for (int depth = SL_JSON_MAX_DEPTH - 1; depth <= SL_JSON_MAX_DEPTH + 1; depth++) {
        size_t n = 0;
        n += (size_t)sprintf(doc, "{\"a\":");
        for (int k = 0; k < depth; k++)
            doc[n++] = '[';
        for (int k = 0; k < depth; k++)
            doc[n++] = ']';
        doc[n++] = '}';
        int rc = scan(doc, n, v);
        assert_int_equal(rc, depth <= SL_JSON_MAX_DEPTH ? 0 : -1);
    }
    free(doc);
}

/* ---- values -------------------------------------------------------------- */

static void test_values(void **state)
{
    (void)state;
    sl_json_val v[NNAMES];
    const char *d = "{\"user\":\"u\\u00e9\\ud83d\\ude00\\\"x\",\"amount\":-17,\"ts\":1.5e3,"
                    "\"a\":true,\"nested\":{ \"k\" : [1, 2] },\"other\":\"skip\"}";
    assert_int_equal(scan_str(d, v), 0);
    assert_int_equal(v[USER].type, SL_T_STRING);
    assert_true(v[USER].escaped);
    char out[64];
    size_t n = sl_json_unescape(v[USER].raw, v[USER].len, out);
    assert_int_equal(n, 1 + 2 + 4 + 2);
    assert_memory_equal(out, "u\xc3\xa9\xf0\x9f\x98\x80\"x", n);
    assert_int_equal(v[AMOUNT].type, SL_T_INT);
    assert_int_equal(v[AMOUNT].i, -17);
    assert_int_equal(v[TS].type, SL_T_DOUBLE);
    assert_true(sl_json_to_double(v[TS].raw, v[TS].len) == 1500.0);
    assert_int_equal(v[A].type, SL_T_BOOL);
    assert_int_equal(v[A].i, 1);
    assert_int_equal(v[NESTED].type, SL_T_OTHER);
    assert_int_equal(v[NESTED].len, strlen("{ \"k\" : [1, 2] }"));
    n = sl_json_minify(v[NESTED].raw, v[NESTED].len, out);
    assert_int_equal(n, strlen("{\"k\":[1,2]}"));
    assert_memory_equal(out, "{\"k\":[1,2]}", n);

    /* absent fields, null, and the last duplicate wins */
    assert_int_equal(scan_str("{\"a\":null,\"user\":1,\"user\":\"two\"}", v), 0);
    assert_int_equal(v[A].type, SL_T_NULL);
    assert_int_equal(v[AMOUNT].type, SL_T_MISSING);
    assert_int_equal(v[USER].type, SL_T_STRING);
    assert_int_equal(v[USER].len, 3);

    /* a name matched through escapes */
    assert_int_equal(scan_str("{\"\\u0075s\\u0065r\":5}", v), 0);
    assert_int_equal(v[USER].type, SL_T_INT);
    assert_int_equal(v[USER].i, 5);
}

static void test_int_limits(void **state)
{
    (void)state;
    sl_json_val v[NNAMES];
    static const struct {
        const char *text;
        int is_int;
        int64_t i;
        double d;
    } cases[] = {
        {"9223372036854775807", 1, INT64_MAX, 0},
        {"-9223372036854775808", 1, INT64_MIN, 0},
        {"9223372036854775808", 0, 0, 9223372036854775808.0},
        {"-9223372036854775809", 0, 0, -9223372036854775809.0},
        {"18446744073709551616", 0, 0, 18446744073709551616.0},
        {"99999999999999999999", 0, 0, 1e20},
        {"12345678", 1, 12345678, 0},
        {"1234567890123456789", 1, 1234567890123456789LL, 0},
        {"-0", 1, 0, 0},
        {"0", 1, 0, 0},
        {"1700000000123", 1, 1700000000123LL, 0},
        {"1.0", 0, 0, 1.0},
        {"1e2", 0, 0, 100.0},
        {"0.1", 0, 0, 0.1},
        {"-2.5E-3", 0, 0, -0.0025},
        {"1e400", 0, 0, INFINITY},
        {"-1e400", 0, 0, -INFINITY},
        {"1e-400", 0, 0, 0.0},
        {"123456789012345678901234567890e-10", 0, 0, 12345678901234567890.123456789},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char doc[128];
        snprintf(doc, sizeof(doc), "{\"amount\":%s}", cases[i].text);
        assert_int_equal(scan_str(doc, v), 0);
        if (cases[i].is_int) {
            assert_int_equal(v[AMOUNT].type, SL_T_INT);
            assert_true(v[AMOUNT].i == cases[i].i);
        } else {
            assert_int_equal(v[AMOUNT].type, SL_T_DOUBLE);
            double got = sl_json_to_double(v[AMOUNT].raw, v[AMOUNT].len);
            double want = strtod(cases[i].text, NULL);
            assert_memory_equal(&got, &want, sizeof(got));
            assert_true(got == cases[i].d || (isinf(got) && isinf(cases[i].d)) ||
                        fabs(got - cases[i].d) <= fabs(cases[i].d) * 1e-15);
        }
    }
}

/* Random doubles printed in many ways: sl_json_to_double agrees with
 * strtod bit for bit. */
static void test_to_double_random(void **state)
{
    (void)state;
    char txt[64];
    for (int i = 0; i < 200000; i++) {
        double d;
        uint64_t bits = rnd();
        switch (i % 4) {
        case 0:
            memcpy(&d, &bits, sizeof(d));
            if (!isfinite(d))
                continue;
            break;
        case 1:
            d = (double)(int64_t)(bits >> (bits % 60)) / 1000.0;
            break;
        case 2:
            d = (double)(bits % 100000000) * pow(10, (double)(int)(rnd() % 40) - 20);
            break;
        default:
            d = (double)(bits % 1000) / 100.0;
            break;
        }
        int n;
        switch (i % 6) {
        case 0:
            n = snprintf(txt, sizeof(txt), "%.17g", d);
            break;
        case 1:
            n = snprintf(txt, sizeof(txt), "%.15g", d);
            break;
        case 2:
            n = snprintf(txt, sizeof(txt), "%.3f", d);
            break;
        case 3:
            n = snprintf(txt, sizeof(txt), "%.10e", d);
            break;
        case 4:
            n = snprintf(txt, sizeof(txt), "%g", d);
            break;
        default:
            n = snprintf(txt, sizeof(txt), "%.1f", d);
            break;
        }
        if (strchr(txt, 'i') || strchr(txt, 'n') || n >= (int)sizeof(txt))
            continue;
        /* %g may print "1e+20" (fine) but never a leading '+' or "." */
        double got = sl_json_to_double(txt, (size_t)n), want = strtod(txt, NULL);
        if (memcmp(&got, &want, sizeof(got)) != 0)
            fail_msg("sl_json_to_double(%s) = %.17g, strtod = %.17g", txt, got, want);
        char back[32];
        size_t bn = sl_json_format_double(want, back);
        back[bn] = '\0';
        if (strtod(back, NULL) != want)
            fail_msg("format_double(%.17g) = %s does not round trip", want, back);
    }
}

static void test_format(void **state)
{
    (void)state;
    char b[40];
    static const struct {
        double d;
        const char *s;
    } dc[] = {{0.1, "0.1"},
              {1.0, "1.0"},
              {-2.0, "-2.0"},
              {1.5, "1.5"},
              {1e300, "1e+300"},
              {-0.0, "-0.0"},
              {123456.789, "123456.789"},
              {NAN, "null"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(dc); i++) {
        size_t n = sl_json_format_double(dc[i].d, b);
        b[n] = '\0';
        assert_string_equal(b, dc[i].s);
    }
    size_t n = sl_json_format_int(INT64_MIN, b);
    b[n] = '\0';
    assert_string_equal(b, "-9223372036854775808");
    n = sl_json_format_int(0, b);
    b[n] = '\0';
    assert_string_equal(b, "0");
    n = sl_json_escape("a\"b\\c\n\x01/\xc3\xa9", 10, b);
    b[n] = '\0';
    assert_string_equal(b, "a\\\"b\\\\c\\n\\u0001/\xc3\xa9");
}

static void test_iterator(void **state)
{
    (void)state;
    const char *d = " {\"x\" : 1, \"y\":[2,{\"z\":3}] ,\"\\u0041\":\"s\"} ";
    sl_json_iter it;
    sl_json_val k, v;
    assert_int_equal(sl_json_iter_init(&it, d, strlen(d)), 0);
    assert_int_equal(sl_json_iter_next(&it, &k, &v), 1);
    assert_int_equal(k.len, 1);
    assert_int_equal(v.type, SL_T_INT);
    assert_int_equal(sl_json_iter_next(&it, &k, &v), 1);
    assert_int_equal(v.type, SL_T_OTHER);
    assert_int_equal(v.len, strlen("[2,{\"z\":3}]"));
    assert_int_equal(sl_json_iter_next(&it, &k, &v), 1);
    assert_true(k.escaped);
    assert_int_equal(v.type, SL_T_STRING);
    assert_int_equal(sl_json_iter_next(&it, &k, &v), 0);
    const char *bad = "{\"x\":1,}";
    assert_int_equal(sl_json_iter_init(&it, bad, strlen(bad)), 0);
    assert_int_equal(sl_json_iter_next(&it, &k, &v), 1);
    assert_int_equal(sl_json_iter_next(&it, &k, &v), -1);
    assert_int_equal(sl_json_iter_init(&it, "[]", 2), -1);
}

/* ---- randomized differential test against jansson ----------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void ws(sbuf *b)
{
    static const char *const w[] = {"", "", "", " ", "\n", " \t", "\r\n  "};
    puts_(b, w[below(SL_ARRAY_LEN(w))]);
}

static void gen_string(sbuf *b)
{
    static const char *const units[] = {
        "a",
        "Z",
        "0",
        " ",
        "-",
        "\\\"",
        "\\\\",
        "\\/",
        "\\b",
        "\\f",
        "\\n",
        "\\r",
        "\\t",
        "\\u00e9",
        "\\u0000",
        "\\u001F",
        "\\ud83d\\ude00",
        "\\u2028",
        "\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",
        "\x7f",
        "~",
        "\\uDBFF\\uDFFF",
    };
    put(b, "\"", 1);
    size_t n = below(12);
    for (size_t i = 0; i < n; i++)
        puts_(b, units[below(SL_ARRAY_LEN(units))]);
    put(b, "\"", 1);
}

static void gen_number(sbuf *b)
{
    char t[64];
    switch (below(8)) {
    case 0:
        snprintf(t, sizeof(t), "%d", (int)below(1000) - 500);
        break;
    case 1:
        snprintf(t, sizeof(t), "%lld", (long long)(rnd() >> below(64)));
        break;
    case 2:
        snprintf(t, sizeof(t), "-%llu", (unsigned long long)(rnd() >> below(64)));
        break;
    case 3:
        snprintf(t, sizeof(t), "%.*f", (int)below(6), (double)(int64_t)rnd() / 1e9);
        break;
    case 4:
        snprintf(t, sizeof(t), "%.*e", (int)below(17), (double)(int64_t)rnd() / 3.0);
        break;
    case 5:
        snprintf(t, sizeof(t), "%dE%s%d", (int)below(100), below(2) ? "-" : "+", (int)below(300));
        break;
    case 6:
        snprintf(t, sizeof(t), "1700000%06d%03d", (int)below(1000000), (int)below(1000));
        break;
    default:
        snprintf(t, sizeof(t), "0.%03d", (int)below(1000));
        break;
    }
    puts_(b, t);
}

static void gen_value(sbuf *b, int depth);

static void gen_key(sbuf *b)
{
    static const char *const keys[] = {
        "\"user\"",
        "\"amount\"",
        "\"ts\"",
        "\"a\"",
        "\"b\"",
        "\"c\"",
        "\"\"",
        "\"\\u00e9\"",
        "\"\xc3\xa9\"",
        "\"k\\\"q\"",
        "\"\x7f\"",
        "\"us\\u0065r\"",
        "\"long_field_name_x\"",
        "\"other\"",
        "\"amount2\"",
        "\"use\"",
        "\"long_field_name_y\"",
    };
    puts_(b, keys[below(SL_ARRAY_LEN(keys))]);
}

static void gen_object(sbuf *b, int depth)
{
    put(b, "{", 1);
    ws(b);
    size_t n = below(depth == 0 ? 9 : 4);
    for (size_t i = 0; i < n; i++) {
        if (i) {
            put(b, ",", 1);
            ws(b);
        }
        gen_key(b);
        ws(b);
        put(b, ":", 1);
        ws(b);
        gen_value(b, depth + 1);
        ws(b);
    }
    put(b, "}", 1);
}

static void gen_value(sbuf *b, int depth)
{
    switch (below(depth > 3 ? 6 : 8)) {
    case 0:
    case 1:
        gen_string(b);
        break;
    case 2:
    case 3:
        gen_number(b);
        break;
    case 4:
        puts_(b, below(2) ? "true" : "false");
        break;
    case 5:
        puts_(b, "null");
        break;
    case 6:
        gen_object(b, depth);
        break;
    default: {
        put(b, "[", 1);
        size_t n = below(4);
        for (size_t i = 0; i < n; i++) {
            if (i)
                put(b, ",", 1);
            ws(b);
            gen_value(b, depth + 1);
        }
        put(b, "]", 1);
        break;
    }
    }
}

static void check(const char *d, size_t n)
{
    char why[512];
    guarded g = guard(d, n);
    if (sl_json_check(g.data, n, why, sizeof(why)) != 0)
        fail_msg("%s\ninput: %.*s", why, (int)n, d);
    unguard(&g);
}

static void test_differential_random(void **state)
{
    (void)state;
    sbuf b = {0};
    static const char *const junk[] = {"}",   "]", ",", "\"", "\\", ":",    "x", "\xff",
                                       "\\u", "1", "-", "e",  ".",  "\x01", " ", "{"};
    for (int i = 0; i < 20000; i++) {
        b.n = 0;
        ws(&b);
        gen_object(&b, 0);
        ws(&b);
        /* well-formed: the checker must agree and the scanner accept */
        check(b.p, b.n);
        sl_json_iter it;
        sl_json_val k, v;
        int r;
        assert_int_equal(sl_json_iter_init(&it, b.p, b.n), 0);
        while ((r = sl_json_iter_next(&it, &k, &v)) == 1)
            ;
        if (r != 0)
            fail_msg("iterator rejects %.*s", (int)b.n, b.p);
        /* mutations: same verdict and values as jansson */
        for (int m = 0; m < 4; m++) {
            char *c = malloc(b.n + 8);
            memcpy(c, b.p, b.n);
            size_t n = b.n;
            size_t at = below(n);
            switch (below(4)) {
            case 0:
                n = below(n + 1);
                break;
            case 1:
                c[at] = junk[below(SL_ARRAY_LEN(junk))][0];
                break;
            case 2:
                memmove(c + at + 1, c + at, n - at);
                c[at] = junk[below(SL_ARRAY_LEN(junk))][0];
                n++;
                break;
            default:
                memmove(c + at, c + at + 1, n - at - 1);
                n--;
                break;
            }
            check(c, n);
            free(c);
        }
    }
    free(b.p);
}

#ifdef SL_HAVE_SIMDJSON
/* The simdjson shim extracts the same values (where the CPU runs it). */
static void test_simdjson_agrees(void **state)
{
    (void)state;
    sl_simd_scanner *s = sl_simd_scanner_new(names, NNAMES);
    if (!s)
        SL_TEST_SKIP("test_simdjson_agrees: the simdjson shim does not run on this CPU");
    static sl_json_fields *f;
    if (!f)
        f = sl_json_fields_new(names, NNAMES);
    sbuf b = {0};
    for (int i = 0; i < 5000; i++) {
        b.n = 0;
        gen_object(&b, 0);
        sl_json_val a[NNAMES], c[NNAMES];
        assert_int_equal(sl_json_scan(f, b.p, b.n, a), 0);
        if (sl_simd_scan(s, b.p, b.n, c) != 0)
            fail_msg("simdjson rejects %.*s", (int)b.n, b.p);
        for (int k = 0; k < NNAMES; k++) {
            assert_int_equal(a[k].type, c[k].type);
            if (a[k].type == SL_T_INT || a[k].type == SL_T_BOOL)
                assert_true(a[k].i == c[k].i);
            if ((a[k].type == SL_T_STRING || a[k].type == SL_T_DOUBLE) &&
                (a[k].len != c[k].len || memcmp(a[k].raw, c[k].raw, a[k].len) != 0))
                fail_msg("field %s: [%.*s] vs simdjson [%.*s] in %.*s", names[k], (int)a[k].len,
                         a[k].raw, (int)c[k].len, c[k].raw, (int)b.n, b.p);
        }
    }
    free(b.p);
    sl_simd_scanner_free(s);
}
#endif

static void test_fields_new(void **state)
{
    (void)state;
    const char *dup[] = {"a", "b", "a"};
    assert_null(sl_json_fields_new(dup, 3));
    const char *many[SL_JSON_MAX_FIELDS + 1];
    char storage[SL_JSON_MAX_FIELDS + 1][8];
    for (int i = 0; i <= SL_JSON_MAX_FIELDS; i++) {
        snprintf(storage[i], sizeof(storage[i]), "f%d", i);
        many[i] = storage[i];
    }
    assert_null(sl_json_fields_new(many, SL_JSON_MAX_FIELDS + 1));
    sl_json_fields *f = sl_json_fields_new(many, SL_JSON_MAX_FIELDS);
    assert_non_null(f);
    assert_int_equal(sl_json_fields_count(f), SL_JSON_MAX_FIELDS);
    sl_json_val v[SL_JSON_MAX_FIELDS];
    assert_int_equal(sl_json_scan(f, "{\"f63\":1,\"f0\":2}", 16, v), 0);
    assert_int_equal(v[63].i, 1);
    assert_int_equal(v[0].i, 2);
    assert_int_equal(v[1].type, SL_T_MISSING);
    sl_json_fields_free(f);
    sl_json_fields_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_invalid),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_int_limits),
        cmocka_unit_test(test_to_double_random),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_iterator),
        cmocka_unit_test(test_differential_random),
#ifdef SL_HAVE_SIMDJSON
        cmocka_unit_test(test_simdjson_agrees),
#endif
        cmocka_unit_test(test_fields_new),
    };
    return sl_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
