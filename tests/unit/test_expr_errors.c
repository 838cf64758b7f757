/*
 * test_expr_errors.c - the expression language's compile errors and API: a
 * table of compile errors (each message form, with its line:column), the
 * full three-line message layout, the accessors (static type, slots,
 * paths, bare field, constant folding), the limits (nesting depth, text
 * length, long flat chains), the scratch keeping earlier strings when it
 * grows and reusing its block in steady state, and one compiled
 * expression shared by several threads. Values on the row of expr_row.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "expr_row.h"

#include <pthread.h>

/* ---- compile errors (the first line of the message) ------------------- */

typedef struct ecase {
    const char *text, *want; /* a want ending in '*' is a prefix */
} ecase;

static const ecase errors[] = {
    /* syntax */
    {"", "1:1: empty expression"},
    {"   ", "1:1: empty expression"},
    {"(1", "1:3: expected \")\", got end of text"},
    {"1 +", "1:4: expected an expression, got end of text"},
    {")", "1:1: expected an expression, got \")\""},
    {"1 2", "1:3: expected the end of the expression, got \"2\""},
    {"'abc", "1:1: unterminated string"},
    {"\"abc", "1:1: unterminated quoted identifier"},
    {"\"\"", "1:1: empty quoted identifier"},
    {"1 # 2", "1:3: unexpected character \"#\""},
    {"1 \x01", "1:3: unexpected character 0x01"},
    {"12abc", "1:1: invalid number \"12a\""},
    {"1.2.3", "1:1: invalid number \"1.2.\""},
    {"a[x]", "1:3: expected an index (a non-negative integer), got \"x\""},
    {"a[-1]", "1:3: expected an index (a non-negative integer), got \"-\""},
    {"a.", "1:3: expected a field name after \".\", got end of text"},
    {"amount IS 5", "1:11: expected NULL, TRUE or FALSE after IS, got \"5\""},
    {"amount IS NOT 5", "1:15: expected NULL, TRUE or FALSE after IS NOT, got \"5\""},
    {"amount NOT 5", "1:12: expected IN, BETWEEN or LIKE after NOT, got \"5\""},
    {"amount BETWEEN 1 OR 2", "1:18: expected AND, got \"OR\""},
    {"amount IN 1", "1:11: expected \"(\", got \"1\""},
    {"CAST(1 BIGINT)", "1:8: expected AS, got \"BIGINT\""},
    {"CAST(1 AS TEXT)",
     "1:11: unknown type \"TEXT\", expected BIGINT, INT, INTEGER, DOUBLE, VARCHAR, STRING or "
     "BOOLEAN"},
    {"CAST(1 AS 5)", "1:11: expected a type, got \"5\""},
    {"CASE WHEN TRUE 1 END", "1:16: expected THEN, got \"1\""},
    {"CASE END", "1:6: expected WHEN, got \"END\""},
    {"CASE", "1:5: expected WHEN, got end of text"},
    {"amount IN ()", "1:12: expected an expression, got \")\""},
    {"upper(", "1:7: expected an expression, got end of text"},
    {"CASE WHEN TRUE THEN 1", "1:22: expected END, got end of text"},
    {"1 < 2 < 3", "1:7: comparisons cannot be chained; use AND or parentheses"},
    {"amount = 1 = TRUE", "1:12: comparisons cannot be chained; use AND or parentheses"},
    {"upper(name,)", "1:12: expected an expression, got \")\""},
    {"end + 1", "1:1: expected an expression, got \"end\""},
    /* names */
    {"amout + 1", "1:1: unknown field \"amout\", did you mean \"amount\"?"},
    {"zzzzzz", "1:1: unknown field \"zzzzzz\""},
    {"Amount", "1:1: unknown field \"Amount\", did you mean \"amount\"?"},
    {"dev.idd", "1:1: unknown field \"dev.idd\", did you mean \"dev.id\"?"},
    {"uper(name)", "1:1: unknown function \"uper\", did you mean \"upper\"?"},
    {"upper(uper(name))", "1:7: unknown function \"uper\", did you mean \"upper\"?"},
    {"frobnicate(1)", "1:1: unknown function \"frobnicate\""},
    /* arity */
    {"upper(name, name)", "1:1: upper takes 1 argument, got 2"},
    {"pow(2)", "1:1: pow takes 2 arguments, got 1"},
    {"substr(name)", "1:1: substr takes 2 to 3 arguments, got 1"},
    {"concat()", "1:1: concat takes at least 1 argument, got 0"},
    {"coalesce()", "1:1: coalesce takes at least 1 argument, got 0"},
    /* types */
    {"amount + 'x'", "1:8: operator + needs numbers, got BIGINT and VARCHAR"},
    {"name * 2", "1:6: operator * needs numbers, got VARCHAR and BIGINT"},
    {"flag - 1", "1:6: operator - needs numbers, got BOOLEAN and BIGINT"},
    {"-name", "1:1: operator - needs a number, got VARCHAR"},
    {"tags || 'x'", "1:6: operator || needs scalars, got JSON and VARCHAR"},
    {"amount = 'x'", "1:8: cannot compare BIGINT with VARCHAR"},
    {"flag < 1", "1:6: cannot compare BOOLEAN with BIGINT"},
    {"tags = 1", "1:6: cannot compare JSON with BIGINT"},
    {"amount IN (1, 'x')", "1:15: cannot compare BIGINT with VARCHAR"},
    {"name BETWEEN 'a' AND 5", "1:22: cannot compare VARCHAR with BIGINT"},
    {"amount AND TRUE", "1:1: AND needs a BOOLEAN, got BIGINT"},
    {"flag OR name", "1:9: OR needs a BOOLEAN, got VARCHAR"},
    {"NOT amount", "1:5: NOT needs a BOOLEAN, got BIGINT"},
    {"amount IS TRUE", "1:1: IS TRUE / IS FALSE needs a BOOLEAN, got BIGINT"},
    {"amount LIKE 'a'", "1:1: LIKE needs VARCHAR operands, got BIGINT"},
    {"name LIKE 5", "1:11: LIKE needs VARCHAR operands, got BIGINT"},
    {"name LIKE 'a' ESCAPE 'ab'", "1:22: ESCAPE needs a string literal of one character"},
    {"name LIKE 'a' ESCAPE name", "1:22: ESCAPE needs a string literal of one character"},
    {"CASE WHEN amount THEN 1 END", "1:11: CASE WHEN needs a BOOLEAN, got BIGINT"},
    {"CASE amount WHEN 'x' THEN 1 END", "1:18: cannot compare BIGINT with VARCHAR"},
    {"CAST(tags AS BIGINT)", "1:1: cannot cast JSON to BIGINT"},
    {"upper(5)", "1:7: upper: argument 1 must be VARCHAR, got BIGINT"},
    {"abs(name)", "1:5: abs: argument 1 must be a number, got VARCHAR"},
    {"substr(name, 1.5)", "1:14: substr: argument 2 must be BIGINT, got DOUBLE"},
    {"ts_ms(flag)", "1:7: ts_ms: argument 1 must be a number or VARCHAR, got BOOLEAN"},
    {"concat(tags)", "1:8: concat: argument 1 must be a scalar, got JSON"},
    {"coalesce(name, 1)", "1:16: coalesce: argument 2 (BIGINT) cannot be compared with VARCHAR"},
    {"greatest(1, 'a')", "1:13: greatest: argument 2 (VARCHAR) cannot be compared with BIGINT"},
    {"nullif(amount, 'a')", "1:16: nullif: argument 2 (VARCHAR) cannot be compared with BIGINT"},
    {"regexp_like(name, name)", "1:19: regexp_like: the pattern must be a string literal"},
    {"regexp_like(name, '(')", "1:19: regexp_like: invalid pattern: *"},
    {"regexp_like(name, '(a{100}){101}')", "1:19: regexp_like: pattern too large or too complex"},
    {"regexp_like(5, 'a')", "1:13: regexp_like: argument 1 must be VARCHAR, got BIGINT"},
    {"date_trunc('dya', 1)", "1:12: date_trunc: unknown unit \"dya\", did you mean \"day\"?"},
    {"date_trunc('fortnight', 1)",
     "1:12: date_trunc: unknown unit \"fortnight\" (expected second, minute, hour, day, week, "
     "month or year)"},
    {"date_trunc(name, 1)", "1:12: date_trunc: the unit must be a string literal"},
    {"date_trunc(dev.id, 1)", "1:12: date_trunc: the unit must be a string literal"},
    {"date_trunc('day', name)", "1:19: date_trunc: argument 2 must be a number, got VARCHAR"},
    /* line and column on later lines, in characters */
    {"amount +\n  uper(name)", "2:3: unknown function \"uper\", did you mean \"upper\"?"},
    {"'\xc3\xa9' || zzzzzz", "1:8: unknown field \"zzzzzz\""},
};

static void test_errors(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        char err[1024];
        sl_xexpr *e = sl_xexpr_compile(errors[i].text, &env, err, sizeof(err));
        if (e) {
            fprintf(stderr, "FAIL %s: compiled, want %s\n", errors[i].text, errors[i].want);
            sl_xexpr_free(e);
            bad++;
            continue;
        }
        char *nl = strchr(err, '\n');
        size_t n = nl ? (size_t)(nl - err) : strlen(err);
        size_t wl = strlen(errors[i].want);
        int prefix = wl && errors[i].want[wl - 1] == '*';
        int ok = prefix ? n >= wl - 1 && strncmp(err, errors[i].want, wl - 1) == 0
                        : n == wl && strncmp(err, errors[i].want, n) == 0;
        if (!ok) {
            fprintf(stderr, "FAIL %s: got \"%.*s\", want \"%s\"\n", errors[i].text, (int)n, err,
                    errors[i].want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ---- the whole message ------------------------------------------------ */

static void test_error_layout(void **state)
{
    (void)state;
    char err[512];
    assert_null(sl_xexpr_compile("amount + 'x'", &env, err, sizeof(err)));
    assert_string_equal(err, "1:8: operator + needs numbers, got BIGINT and VARCHAR\n"
                             "amount + 'x'\n"
                             "       ^");
    assert_null(sl_xexpr_compile("amount +\n  uper(name)\n  + 1", &env, err, sizeof(err)));
    assert_string_equal(err, "2:3: unknown function \"uper\", did you mean \"upper\"?\n"
                             "  uper(name)\n"
                             "  ^");
    assert_null(sl_xexpr_compile("'\xc3\xa9' || zzzzzz", &env, err, sizeof(err)));
    assert_string_equal(err, "1:8: unknown field \"zzzzzz\"\n"
                             "'\xc3\xa9' || zzzzzz\n"
                             "       ^");
    assert_null(sl_xexpr_compile("\tamout", &env, err, sizeof(err)));
    assert_string_equal(err, "1:2: unknown field \"amout\", did you mean \"amount\"?\n"
                             "\tamout\n"
                             "\t^");
    assert_null(sl_xexpr_compile("(1", &env, err, sizeof(err)));
    assert_string_equal(err, "1:3: expected \")\", got end of text\n(1\n  ^");
    /* a short buffer is cut, never overrun */
    char small[12];
    memset(small, 'z', sizeof(small));
    assert_null(sl_xexpr_compile("amount + 'x'", &env, small, 10));
    assert_int_equal(strlen(small), 9);
    assert_memory_equal(small, "1:8: oper", 9);
    assert_int_equal(small[11], 'z');
    /* no env: every field is unknown; no error buffer is fine */
    assert_null(sl_xexpr_compile("amount", NULL, err, sizeof(err)));
    assert_string_equal(err, "1:1: unknown field \"amount\"\namount\n^");
    assert_null(sl_xexpr_compile("amount +", &env, NULL, 0));
}

/* ---- accessors -------------------------------------------------------- */

static sl_xexpr *compile_ok(const char *text)
{
    char err[512];
    sl_xexpr *e = sl_xexpr_compile(text, &env, err, sizeof(err));
    if (!e)
        fail_msg("%s: %s", text, err);
    return e;
}

static void test_accessors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        sl_type type;
    } types[] = {
        {"amount + 1", SL_T_INT},
        {"price + 1", SL_T_DOUBLE},
        {"amount / 2", SL_T_INT},
        {"amount * 1.5", SL_T_DOUBLE},
        {"dyn", SL_T_MISSING},
        {"dyn + 1", SL_T_MISSING},
        {"dyn + 1.5", SL_T_DOUBLE},
        {"name || 1", SL_T_STRING},
        {"NULL", SL_T_NULL},
        {"amount + NULL", SL_T_NULL},
        {"amount > 1", SL_T_BOOL},
        {"dyn IS NULL", SL_T_BOOL},
        {"CASE WHEN flag THEN 1 ELSE 2.5 END", SL_T_MISSING},
        {"CASE WHEN flag THEN 1 ELSE amount END", SL_T_INT},
        {"CASE WHEN flag THEN 'a' END", SL_T_STRING},
        {"coalesce(nothing, 1)", SL_T_MISSING},
        {"coalesce(amount, 1)", SL_T_INT},
        {"abs(price)", SL_T_DOUBLE},
        {"round(amount, 1)", SL_T_INT},
        {"sqrt(4)", SL_T_DOUBLE},
        {"length(name)", SL_T_INT},
        {"upper(nothing)", SL_T_STRING},
        {"CAST(dyn AS BOOLEAN)", SL_T_BOOL},
        {"ts_ms(ts)", SL_T_INT},
        {"tags", SL_T_OTHER},
        {"1 / 0", SL_T_INT},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        sl_xexpr *e = compile_ok(types[i].text);
        if (sl_xexpr_type(e) != types[i].type)
            fail_msg("%s: type %d, want %d", types[i].text, (int)sl_xexpr_type(e),
                     (int)types[i].type);
        sl_xexpr_free(e);
    }

    /* distinct slots and paths, resolver asked once per path in order */
    nresolved = 0;
    sl_xexpr *e = compile_ok("dev.id || \"dev\".\"id\" || name || amount * amount || price");
    size_t n;
    const int *slots = sl_xexpr_slots(e, &n);
    assert_int_equal(n, 4);
    assert_int_equal(slots[0], 9);
    assert_int_equal(slots[1], 2);
    assert_int_equal(slots[2], 0);
    assert_int_equal(slots[3], 1);
    const char *const *paths = sl_xexpr_paths(e, &n);
    assert_int_equal(n, 4);
    assert_string_equal(paths[0], "dev.id");
    assert_string_equal(paths[1], "name");
    assert_string_equal(paths[2], "amount");
    assert_string_equal(paths[3], "price");
    assert_int_equal(nresolved, 4);
    assert_string_equal(resolved[0], "dev.id");
    assert_string_equal(resolved[3], "price");
    assert_int_equal(sl_xexpr_is_field(e, NULL), 0);
    assert_int_equal(sl_xexpr_is_const(e), 0);
    sl_xexpr_free(e);

    int slot = -1;
    e = compile_ok("(\"dev\" . id)");
    assert_int_equal(sl_xexpr_is_field(e, &slot), 1);
    assert_int_equal(slot, 9);
    sl_xexpr_free(e);
    e = compile_ok("amount + 0");
    assert_int_equal(sl_xexpr_is_field(e, &slot), 0);
    sl_xexpr_free(e);

    /* folding: constant subtrees become one value; failing ones stay */
    e = compile_ok("upper('a' || 'b') || CAST(1 + 2 AS VARCHAR)");
    assert_int_equal(sl_xexpr_is_const(e), 1);
    sl_xscratch s = {0};
    sl_value v;
    assert_int_equal(sl_xexpr_eval(e, NULL, &s, &v), 0);
    assert_int_equal(v.type, SL_T_STRING);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.s, "AB3", 3);
    sl_xexpr_free(e);
    e = compile_ok("1 / 0");
    assert_int_equal(sl_xexpr_is_const(e), 0);
    assert_int_equal(sl_xexpr_eval(e, row, &s, &v), SL_XERR_DIV_ZERO);
    assert_int_equal(v.type, SL_T_NULL);
    sl_xexpr_free(e);
    e = compile_ok("9223372036854775807 + 1 > 0");
    assert_int_equal(sl_xexpr_eval(e, row, &s, &v), SL_XERR_OVERFLOW);
    assert_int_equal(v.type, SL_T_NULL);
    sl_xexpr_free(e);
    sl_xscratch_free(&s);

    assert_string_equal(sl_xerr_name(SL_XERR_OVERFLOW), "overflow");
    assert_string_equal(sl_xerr_name(SL_XERR_DIV_ZERO), "division by zero");
    assert_string_equal(sl_xerr_name(SL_XERR_CAST), "invalid cast");
    assert_string_equal(sl_xerr_name(SL_XERR_TYPE), "type mismatch");
    sl_xexpr_free(NULL);
}

/* ---- limits ----------------------------------------------------------- */

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *p = malloc(hl + ul * n + tl + 1);
    assert_non_null(p);
    memcpy(p, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(p + hl + i * ul, unit, ul);
    memcpy(p + hl + ul * n, tail, tl + 1);
    return p;
}

static void expect_error_part(const char *text, const char *part)
{
    char err[512];
    sl_xexpr *e = sl_xexpr_compile(text, &env, err, sizeof(err));
    if (e)
        fail_msg("compiled, want an error with \"%s\"", part);
    if (!strstr(err, part))
        fail_msg("error \"%s\" lacks \"%s\"", err, part);
}

static void check_value(const char *text, const char *want)
{
    sl_xexpr *e = compile_ok(text);
    sl_xscratch s = {0};
    sl_value v;
    char got[512];
    describe(sl_xexpr_eval(e, row, &s, &v), &v, got, sizeof(got));
    assert_string_equal(got, want);
    sl_xexpr_free(e);
    sl_xscratch_free(&s);
}

static void test_limits(void **state)
{
    (void)state;
    char *t = repeat("", "(", 300, "1");
    char *t2 = repeat(t, ")", 300, "");
    expect_error_part(t2, "expression nested too deeply (more than 256 levels)");
    free(t);
    free(t2);
    t = repeat("", "(", 200, "1");
    t2 = repeat(t, ")", 200, "");
    check_value(t2, "int:1");
    free(t);
    free(t2);
    t = repeat("1", " + 1", 300, "");
    expect_error_part(t, "expression nested too deeply (more than 256 levels)");
    free(t);
    t = repeat("amount", " + 1", 200, "");
    check_value(t, "int:242");
    free(t);
    t = repeat("", "- ", 300, "1");
    expect_error_part(t, "expression nested too deeply");
    free(t);
    t = repeat("", "NOT ", 300, "TRUE");
    expect_error_part(t, "expression nested too deeply");
    free(t);
    t = repeat("", "abs(", 300, "1");
    t2 = repeat(t, ")", 300, "");
    expect_error_part(t2, "expression nested too deeply");
    free(t);
    free(t2);
    /* long AND / OR chains and IN lists are flat */
    t = repeat("amount = 0", " OR amount = 0", 2000, " OR amount = 42");
    check_value(t, "bool:true");
    free(t);
    t = repeat("amount IN (0", ", 0", 5000, ", 42)");
    check_value(t, "bool:true");
    free(t);
    t = repeat("concat(name", ", name", 1000, ")");
    sl_xexpr *e = compile_ok(t);
    sl_xscratch s = {0};
    sl_value v;
    assert_int_equal(sl_xexpr_eval(e, row, &s, &v), 0);
    assert_int_equal(v.len, 5 * 1001);
    sl_xexpr_free(e);
    sl_xscratch_free(&s);
    free(t);
    /* text length */
    t = repeat("1", " ", SL_XEXPR_MAX_TEXT, "");
    expect_error_part(t, "1:1: expression too long (more than 65536 bytes)");
    free(t);
    t = repeat("1", " ", SL_XEXPR_MAX_TEXT - 1, "");
    check_value(t, "int:1");
    free(t);
}

/* ---- scratch ---------------------------------------------------------- */

static void test_scratch(void **state)
{
    (void)state;
    sl_xexpr *e = compile_ok("concat(name, '-', name, '-', name, '-', amount)");
    sl_xscratch s = {0};
    const char *keep[200];
    static const char want[] = "Alice-Alice-Alice-42";
    /* many results of one row into one scratch: earlier strings survive
     * the scratch growing */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++) {
            sl_value v;
            assert_int_equal(sl_xexpr_eval(e, row, &s, &v), 0);
            assert_int_equal(v.len, sizeof(want) - 1);
            keep[i] = v.s;
        }
        for (int i = 0; i < 200; i++)
            assert_memory_equal(keep[i], want, sizeof(want) - 1);
        char *buf = s.buf;
        size_t cap = s.cap;
        sl_xscratch_reset(&s);
        assert_null(s.retired);
        assert_int_equal(s.len, 0);
        if (round == 2) { /* steady state: the same block again */
            assert_ptr_equal(buf, s.buf);
            assert_int_equal(cap, s.cap);
        }
    }
    /* a result pointing into the row is not copied */
    sl_xexpr *f = compile_ok("substr(name, 2)");
    sl_value v;
    assert_int_equal(sl_xexpr_eval(f, row, &s, &v), 0);
    assert_ptr_equal(v.s, row[2].s + 1);
    assert_int_equal(s.len, 0);
    sl_xexpr_free(f);
    sl_xexpr_free(e);
    sl_xscratch_free(&s);
    sl_xscratch_free(&s); /* twice is fine */
}

/* ---- one compiled expression, several threads ------------------------- */

typedef struct worker {
    const sl_xexpr *e;
    int bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    sl_xscratch s = {0};
    sl_value r[NFIELDS];
    memcpy(r, row, sizeof(r));
    for (int i = 0; i < 20000; i++) {
        r[0].i = i;
        sl_value v;
        char want[64];
        int n = snprintf(want, sizeof(want), "ALICE:%d", i % 7 == 0 ? -1 : i);
        if (sl_xexpr_eval(w->e, r, &s, &v) != 0 || v.type != SL_T_STRING || v.len != (size_t)n ||
            memcmp(v.s, want, (size_t)n) != 0)
            w->bad++;
        sl_xscratch_reset(&s);
    }
    sl_xscratch_free(&s);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    sl_xexpr *e = compile_ok("upper(name) || ':' || CASE WHEN amount % 7 = 0 THEN -1 ELSE amount "
                             "END");
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].e = e;
        w[i].bad = 0;
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    sl_xexpr_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_error_layout),
        cmocka_unit_test(test_accessors), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scratch),   cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
