/*
 * test_expr.c - the SQL expression language (operators/expr.h): a table of
 * expression text and the value it must give on one fixed row (every
 * operator and function, the NULL rules, integer overflow, division by
 * zero, casts, run-time type errors), a table of compile errors (each
 * message form, with its line:column), the full three-line error layout,
 * the accessors (static type, slots, paths, bare field, constant), the
 * limits (depth, length), the scratch keeping earlier strings when it
 * grows, and one compiled expression shared by several threads.
 *
 * Expected values are worked out by hand from the language's rules
 * (operators/README.md, "Expressions").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "expr.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the row ---------------------------------------------------------- */

typedef struct field {
    const char *path;
    sl_type static_type; /* what the resolver says */
    sl_value value;
} field;

#define INT(v)                                                                                     \
    {                                                                                              \
        SL_T_INT, (v), 0, NULL, 0                                                                  \
    }
#define DBL(v)                                                                                     \
    {                                                                                              \
        SL_T_DOUBLE, 0, (v), NULL, 0                                                               \
    }
#define STR(v)                                                                                     \
    {                                                                                              \
        SL_T_STRING, 0, 0, (v), sizeof(v) - 1                                                      \
    }
#define OTHER(v)                                                                                   \
    {                                                                                              \
        SL_T_OTHER, 0, 0, (v), sizeof(v) - 1                                                       \
    }
#define BOOLV(v)                                                                                   \
    {                                                                                              \
        SL_T_BOOL, (v), 0, NULL, 0                                                                 \
    }
#define NULLV                                                                                      \
    {                                                                                              \
        SL_T_NULL, 0, 0, NULL, 0                                                                   \
    }
#define MISSINGV                                                                                   \
    {                                                                                              \
        SL_T_MISSING, 0, 0, NULL, 0                                                                \
    }

static const field fields[] = {
    {"amount", SL_T_INT, INT(42)},
    {"price", SL_T_DOUBLE, DBL(2.5)},
    {"name", SL_T_STRING, STR("Alice")},
    {"flag", SL_T_BOOL, BOOLV(1)},
    {"nothing", SL_T_MISSING, NULLV},
    {"missing", SL_T_MISSING, MISSINGV},
    {"neg", SL_T_INT, INT(-7)},
    {"big", SL_T_INT, INT(INT64_MAX)},
    {"small", SL_T_INT, INT(INT64_MIN)},
    {"dev.id", SL_T_MISSING, STR("d1")},
    {"tags", SL_T_OTHER, OTHER("[\"a\",\"b\"]")},
    {"dyn", SL_T_MISSING, STR("42")},
    {"s_utf", SL_T_STRING, STR("h\xc3\xa9llo w\xc3\xb6rld")},
    {"ts", SL_T_MISSING, STR("2024-02-29T12:34:56.789+02:00")},
    {"weird name", SL_T_MISSING, INT(1)},
    {"arr[2]", SL_T_INT, INT(5)},
    {"a.b[0].c", SL_T_INT, INT(9)},
    {"dynother", SL_T_MISSING, OTHER("{\"k\":1}")},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *field_names[NFIELDS];
static sl_value row[NFIELDS];

/* Records the paths the resolver was asked for. */
static char resolved[16][32];
static int nresolved;

static int resolve(void *ctx, const char *path, sl_type *type)
{
    (void)ctx;
    if (nresolved < 16)
        snprintf(resolved[nresolved++], sizeof(resolved[0]), "%s", path);
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].path, path) == 0) {
            *type = fields[i].static_type;
            return (int)i;
        }
    return -1;
}

static sl_xenv env = {resolve, field_names, NFIELDS, NULL};

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFIELDS; i++) {
        field_names[i] = fields[i].path;
        row[i] = fields[i].value;
    }
    return 0;
}

/* Doubles as the test prints them: fixed notation with the fewest decimals
 * that read back for 1e-4 <= |d| < 1e16, else the shortest exponent form. */
static void put_double(char *out, size_t n, double d)
{
    if (d == 0 || (fabs(d) >= 1e-4 && fabs(d) < 1e16)) {
        for (int k = 0; k <= 24; k++) {
            snprintf(out, n, "%.*f", k, d);
            if (strtod(out, NULL) == d)
                return;
        }
    }
    for (int p = 0; p <= 16; p++) {
        snprintf(out, n, "%.*e", p, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* "int:42", "double:2.5", "str:abc", "bool:true", "null", prefixed with
 * "div0:" for the soft division error, or "err:<kind>" for a hard one. */
static void describe(int rc, const sl_value *v, char *out, size_t n)
{
    char val[256];
    switch (v->type) {
    case SL_T_INT:
        snprintf(val, sizeof(val), "int:%lld", (long long)v->i);
        break;
    case SL_T_DOUBLE: {
        char d[64];
        put_double(d, sizeof(d), v->d);
        snprintf(val, sizeof(val), "double:%s", d);
        break;
    }
    case SL_T_STRING:
        snprintf(val, sizeof(val), "str:%.*s", (int)v->len, v->s);
        break;
    case SL_T_BOOL:
        snprintf(val, sizeof(val), "bool:%s", v->i ? "true" : "false");
        break;
    case SL_T_NULL:
        snprintf(val, sizeof(val), "null");
        break;
    default:
        snprintf(val, sizeof(val), "type%d", (int)v->type);
        break;
    }
    static const char *const kinds[] = {"", "overflow", "div0", "cast", "type", "nomem"};
    if (rc == 0)
        snprintf(out, n, "%s", val);
    else if (rc == SL_XERR_DIV_ZERO)
        snprintf(out, n, "div0:%s", val);
    else
        snprintf(out, n, "err:%s%s", rc > 0 && rc < SL_XERR_COUNT ? kinds[rc] : "?",
                 v->type == SL_T_NULL ? "" : " (out not NULL)");
}

typedef struct vcase {
    const char *text, *want;
} vcase;

static const vcase values[] = {
    /* literals */
    {"42", "int:42"},
    {"-17", "int:-17"},
    {"2.5", "double:2.5"},
    {"1e3", "double:1000"},
    {".5", "double:0.5"},
    {"'it''s'", "str:it's"},
    {"''", "str:"},
    {"TRUE", "bool:true"},
    {"false", "bool:false"},
    {"NULL", "null"},
    {"9223372036854775807", "int:9223372036854775807"},
    {"-9223372036854775808", "int:-9223372036854775808"},
    {"9223372036854775808", "double:9.223372036854776e+18"},
    /* arithmetic */
    {"1 + 2 * 3", "int:7"},
    {"(1 + 2) * 3", "int:9"},
    {"1 - 2 - 3", "int:-4"},
    {"8 / 2 / 2", "int:2"},
    {"2 * 3 % 4", "int:2"},
    {"-2 * 3", "int:-6"},
    {"- 2 + 3", "int:1"},
    {"- - 3", "int:3"},
    {"+3", "int:3"},
    {"7 / 2", "int:3"},
    {"-7 / 2", "int:-3"},
    {"7 % 3", "int:1"},
    {"-7 % 3", "int:-1"},
    {"7 % -3", "int:1"},
    {"7 / 2.0", "double:3.5"},
    {"7.5 % 2", "double:1.5"},
    {"amount * price", "double:105"},
    {"amount + neg", "int:35"},
    {"-amount", "int:-42"},
    {"-price", "double:-2.5"},
    {"amount + nothing", "null"},
    {"missing + 1", "null"},
    {"NULL * 2", "null"},
    {"amount / 0", "div0:null"},
    {"amount % 0", "div0:null"},
    {"price / 0", "div0:null"},
    {"price % 0.0", "div0:null"},
    {"coalesce(amount / 0, -1)", "div0:int:-1"},
    {"1 / 0", "div0:null"},
    {"big + 1", "err:overflow"},
    {"small - 1", "err:overflow"},
    {"big * 2", "err:overflow"},
    {"small / -1", "err:overflow"},
    {"small % -1", "int:0"},
    {"-small", "err:overflow"},
    {"9223372036854775807 + 1", "err:overflow"},
    {"big + 1.0", "double:9.223372036854776e+18"},
    {"small / 2", "int:-4611686018427387904"},
    /* concatenation */
    {"name || '-' || amount", "str:Alice-42"},
    {"'a' || 1 + 2", "str:a3"},
    {"'x' || NULL", "null"},
    {"price || ''", "str:2.5"},
    {"flag || ''", "str:true"},
    {"nothing || 'x'", "null"},
    {"dynother || 'x'", "err:type"},
    /* comparisons */
    {"amount = 42", "bool:true"},
    {"amount <> 42", "bool:false"},
    {"amount != 41", "bool:true"},
    {"amount < 42.5", "bool:true"},
    {"amount >= 42.0", "bool:true"},
    {"amount > 42.0", "bool:false"},
    {"big = 9223372036854775807.0", "bool:false"},
    {"big < 9223372036854775807.0", "bool:true"},
    {"9007199254740993 = 9007199254740992.0", "bool:false"},
    {"9007199254740993 > 9007199254740992.0", "bool:true"},
    {"-9007199254740993 < -9007199254740992.0", "bool:true"},
    {"name = 'Alice'", "bool:true"},
    {"name < 'Bob'", "bool:true"},
    {"'ab' < 'abc'", "bool:true"},
    {"'B' < 'a'", "bool:true"},
    {"'abd' > 'abc'", "bool:true"},
    {"amount = NULL", "null"},
    {"NULL = NULL", "null"},
    {"nothing <> 1", "null"},
    {"flag = TRUE", "bool:true"},
    {"FALSE < TRUE", "bool:true"},
    {"dyn = 1", "err:type"},
    {"dyn = '42'", "bool:true"},
    {"dynother = 1", "err:type"},
    /* three-valued logic */
    {"TRUE AND NULL", "null"},
    {"FALSE AND NULL", "bool:false"},
    {"TRUE OR NULL", "bool:true"},
    {"FALSE OR NULL", "null"},
    {"NOT NULL", "null"},
    {"nothing AND FALSE", "bool:false"},
    {"nothing OR TRUE", "bool:true"},
    {"nothing AND TRUE", "null"},
    {"NOT flag", "bool:false"},
    {"NOT amount = 42", "bool:false"},
    {"NOT NOT flag", "bool:true"},
    {"TRUE OR FALSE AND FALSE", "bool:true"},
    {"(TRUE OR FALSE) AND FALSE", "bool:false"},
    {"flag AND amount > 40 AND name = 'Alice'", "bool:true"},
    {"amount = 1 OR amount = 2 OR amount = 42", "bool:true"},
    {"dyn AND TRUE", "err:type"},
    {"FALSE AND dyn", "bool:false"},
    {"TRUE OR dyn", "bool:true"},
    {"NOT dyn", "err:type"},
    /* IS */
    {"nothing IS NULL", "bool:true"},
    {"missing IS NULL", "bool:true"},
    {"amount IS NOT NULL", "bool:true"},
    {"tags IS NULL", "bool:false"},
    {"tags IS NOT NULL", "bool:true"},
    {"NULL IS TRUE", "bool:false"},
    {"NULL IS NOT TRUE", "bool:true"},
    {"NULL IS FALSE", "bool:false"},
    {"NULL IS NOT FALSE", "bool:true"},
    {"flag IS TRUE", "bool:true"},
    {"flag IS FALSE", "bool:false"},
    {"amount = 42 IS TRUE", "bool:true"},
    {"amount = nothing IS NULL", "bool:true"},
    {"dyn IS TRUE", "err:type"},
    /* IN */
    {"amount IN (1, 42)", "bool:true"},
    {"amount IN (1, 2)", "bool:false"},
    {"amount IN (1, NULL)", "null"},
    {"amount IN (42, NULL)", "bool:true"},
    {"amount IN (NULL, 42)", "bool:true"},
    {"amount NOT IN (1, 2)", "bool:true"},
    {"amount NOT IN (1, NULL)", "null"},
    {"amount NOT IN (42, NULL)", "bool:false"},
    {"nothing IN (1)", "null"},
    {"amount IN (42.0)", "bool:true"},
    {"amount IN (neg, amount + 0)", "bool:true"},
    {"name IN ('Bob', 'Alice')", "bool:true"},
    {"dyn IN (1, 2)", "err:type"},
    {"dyn IN ('42', 2)", "bool:true"},
    /* BETWEEN */
    {"amount BETWEEN 40 AND 50", "bool:true"},
    {"amount BETWEEN 42 AND 42", "bool:true"},
    {"amount BETWEEN 50 AND 40", "bool:false"},
    {"amount NOT BETWEEN 1 AND 10", "bool:true"},
    {"amount BETWEEN NULL AND 50", "null"},
    {"amount BETWEEN NULL AND 10", "bool:false"},
    {"price BETWEEN 2 AND 3", "bool:true"},
    {"amount BETWEEN 1 AND 50 AND flag", "bool:true"},
    {"name BETWEEN 'A' AND 'B'", "bool:true"},
    /* LIKE */
    {"name LIKE 'A%'", "bool:true"},
    {"name LIKE 'a%'", "bool:false"},
    {"name LIKE 'A_ice'", "bool:true"},
    {"name LIKE '%ic%'", "bool:true"},
    {"name LIKE 'Alice_'", "bool:false"},
    {"name LIKE 'Alice'", "bool:true"},
    {"name LIKE 'Alic'", "bool:false"},
    {"name NOT LIKE 'B%'", "bool:true"},
    {"'10%' LIKE '10!%' ESCAPE '!'", "bool:true"},
    {"'10x' LIKE '10!%' ESCAPE '!'", "bool:false"},
    {"'a_c' LIKE 'a\\_c' ESCAPE '\\'", "bool:true"},
    {"'abc' LIKE 'a\\_c' ESCAPE '\\'", "bool:false"},
    {"s_utf LIKE 'h_llo%'", "bool:true"},
    {"s_utf LIKE '%w_rld'", "bool:true"},
    {"'' LIKE '%'", "bool:true"},
    {"'abc' LIKE ''", "bool:false"},
    {"'aaa' LIKE '%a%a%a%'", "bool:true"},
    {"'aa' LIKE '%a%a%a%'", "bool:false"},
    {"'abcabd' LIKE '%abd'", "bool:true"},
    {"nothing LIKE 'a'", "null"},
    {"name LIKE nothing", "null"},
    {"dyn LIKE '4%'", "bool:true"},
    /* CASE */
    {"CASE WHEN amount > 40 THEN 'big' ELSE 'small' END", "str:big"},
    {"CASE WHEN amount > 50 THEN 'big' END", "null"},
    {"CASE WHEN amount > 50 THEN 'big' WHEN amount > 40 THEN 'mid' ELSE 'small' END", "str:mid"},
    {"CASE amount WHEN 1 THEN 'one' WHEN 42 THEN 'answer' ELSE 'other' END", "str:answer"},
    {"CASE amount WHEN 1 THEN 'one' END", "null"},
    {"CASE nothing WHEN NULL THEN 1 ELSE 2 END", "int:2"},
    {"CASE WHEN nothing THEN 1 ELSE 2 END", "int:2"},
    {"CASE WHEN TRUE THEN 1 WHEN 1 / 0 = 1 THEN 2 END", "int:1"},
    {"CASE WHEN amount = 42 THEN 1 ELSE 1 / 0 END", "int:1"},
    {"CASE 1 WHEN 1 THEN 'a' END", "str:a"},
    {"CASE amount WHEN 42 THEN CASE name WHEN 'Alice' THEN amount + 1 END END", "int:43"},
    {"CASE name WHEN 'Bob' THEN 1 WHEN upper(name) THEN 2 WHEN 'Alice' THEN 3 END", "int:3"},
    {"CASE WHEN dyn THEN 1 END", "err:type"},
    /* COALESCE, NULLIF */
    {"coalesce(nothing, missing, amount)", "int:42"},
    {"coalesce(nothing, NULL)", "null"},
    {"coalesce(amount, 1 / 0)", "int:42"},
    {"nullif(amount, 42)", "null"},
    {"nullif(amount, 1)", "int:42"},
    {"nullif(nothing, 1)", "null"},
    {"nullif(amount, nothing)", "int:42"},
    {"NULLIF(name, 'Alice')", "null"},
    /* CAST */
    {"CAST('12' AS BIGINT) + 1", "int:13"},
    {"CAST(' -5 ' AS INT)", "int:-5"},
    {"CAST('+7' AS INTEGER)", "int:7"},
    {"CAST('1.5' AS BIGINT)", "err:cast"},
    {"CAST('abc' AS INTEGER)", "err:cast"},
    {"CAST('' AS BIGINT)", "err:cast"},
    {"CAST('99999999999999999999' AS BIGINT)", "err:overflow"},
    {"CAST('-9223372036854775808' AS BIGINT)", "int:-9223372036854775808"},
    {"CAST('9223372036854775808' AS BIGINT)", "err:overflow"},
    {"CAST(2.9 AS BIGINT)", "int:2"},
    {"CAST(-2.9 AS BIGINT)", "int:-2"},
    {"CAST(1e19 AS BIGINT)", "err:overflow"},
    {"CAST(amount AS DOUBLE)", "double:42"},
    {"CAST('2.5e1' AS DOUBLE)", "double:25"},
    {"CAST('x' AS DOUBLE)", "err:cast"},
    {"CAST('inf' AS DOUBLE)", "err:cast"},
    {"CAST(amount AS VARCHAR)", "str:42"},
    {"CAST(neg AS STRING)", "str:-7"},
    {"CAST(price AS VARCHAR)", "str:2.5"},
    {"CAST(3.0 AS VARCHAR)", "str:3.0"},
    {"CAST(0.1 AS STRING)", "str:0.1"},
    {"CAST(1e300 AS VARCHAR)", "str:1e+300"},
    {"CAST(-0.0 AS VARCHAR)", "str:-0.0"},
    {"CAST(1000.0 AS VARCHAR)", "str:1000.0"},
    {"CAST(123456789012345.6 AS VARCHAR)", "str:123456789012345.6"},
    {"CAST(1e16 AS VARCHAR)", "str:1e+16"},
    {"CAST(0.0001 AS VARCHAR)", "str:0.0001"},
    {"CAST(0.00001 AS VARCHAR)", "str:1e-05"},
    {"CAST(-1.5e-7 AS VARCHAR)", "str:-1.5e-07"},
    {"CAST(1e308 * 10 AS VARCHAR)", "str:Infinity"},
    {"CAST(-1e308 * 10 AS VARCHAR)", "str:-Infinity"},
    {"1e308 * 10 > 1e308", "bool:true"},
    {"1e308 * 10 - 1e308 * 10", "null"},
    {"0 * (1e308 * 10)", "null"},
    {"CAST(flag AS VARCHAR)", "str:true"},
    {"CAST('yes' AS BOOLEAN)", "bool:true"},
    {"CAST(' TRUE ' AS BOOLEAN)", "bool:true"},
    {"CAST('off' AS BOOLEAN)", "bool:false"},
    {"CAST('maybe' AS BOOLEAN)", "err:cast"},
    {"CAST(0 AS BOOLEAN)", "bool:false"},
    {"CAST(2.5 AS BOOLEAN)", "bool:true"},
    {"CAST(TRUE AS BIGINT)", "int:1"},
    {"CAST(FALSE AS DOUBLE)", "double:0"},
    {"CAST(NULL AS BIGINT)", "null"},
    {"CAST(nothing AS VARCHAR)", "null"},
    {"CAST(tags AS VARCHAR)", "str:[\"a\",\"b\"]"},
    {"CAST(dynother AS BIGINT)", "err:type"},
    {"CAST(dyn AS BIGINT)", "int:42"},
    /* numeric functions */
    {"abs(-5)", "int:5"},
    {"abs(-2.5)", "double:2.5"},
    {"abs(neg)", "int:7"},
    {"abs(small)", "err:overflow"},
    {"abs(nothing)", "null"},
    {"round(2.5)", "double:3"},
    {"round(-2.5)", "double:-3"},
    {"round(2.4)", "double:2"},
    {"round(1.2345, 2)", "double:1.23"},
    {"round(1234.5, -2)", "double:1200"},
    {"round(amount)", "int:42"},
    {"round(1250, -2)", "int:1300"},
    {"round(-1250, -2)", "int:-1300"},
    {"round(1249, -2)", "int:1200"},
    {"round(123, 1)", "int:123"},
    {"round(123, -30)", "int:0"},
    {"round(9223372036854775807, -1)", "err:overflow"},
    {"round(price, nothing)", "null"},
    {"floor(2.7)", "double:2"},
    {"floor(-2.5)", "double:-3"},
    {"ceil(2.1)", "double:3"},
    {"ceiling(-2.1)", "double:-2"},
    {"floor(amount)", "int:42"},
    {"ceil(neg)", "int:-7"},
    {"sqrt(16)", "double:4"},
    {"sqrt(-1)", "null"},
    {"ln(1)", "double:0"},
    {"ln(0)", "null"},
    {"exp(0)", "double:1"},
    {"pow(2, 10)", "double:1024"},
    {"power(2, 0.5)", "double:1.4142135623730951"},
    {"pow(-8, 0.5)", "null"},
    {"least(3, 1, 2)", "int:1"},
    {"greatest(3, 1, 2)", "int:3"},
    {"least(3, NULL, 1)", "int:1"},
    {"greatest(NULL, 2)", "int:2"},
    {"least(NULL, NULL)", "null"},
    {"greatest('a', 'b')", "str:b"},
    {"least(1, 0.5)", "double:0.5"},
    {"least(amount, price, neg)", "int:-7"},
    {"greatest(dyn, 1)", "err:type"},
    /* string functions */
    {"lower(name)", "str:alice"},
    {"upper(name)", "str:ALICE"},
    {"upper(s_utf)", "str:H\xc3\xa9LLO W\xc3\xb6RLD"},
    {"length(s_utf)", "int:11"},
    {"length('')", "int:0"},
    {"length(nothing)", "null"},
    {"upper(dyn)", "str:42"},
    {"upper(dynother)", "err:type"},
    {"substr(name, 2)", "str:lice"},
    {"substr(name, 2, 3)", "str:lic"},
    {"substring(name, 0, 2)", "str:A"},
    {"substr(name, 10)", "str:"},
    {"substr(name, -1, 3)", "str:A"},
    {"substr(name, 2, -1)", "str:"},
    {"substr(name, 2, 0)", "str:"},
    {"substr(s_utf, 2, 3)", "str:\xc3\xa9ll"},
    {"substr(name, 1, 9223372036854775807)", "str:Alice"},
    {"substr(name, nothing)", "null"},
    {"concat('a', NULL, 1, 2.5, TRUE)", "str:a12.5true"},
    {"concat(NULL)", "str:"},
    {"concat(name, '/', dev.id)", "str:Alice/d1"},
    {"concat(dynother)", "err:type"},
    {"trim('  x  ')", "str:x"},
    {"ltrim('  x  ')", "str:x  "},
    {"rtrim('  x  ')", "str:  x"},
    {"trim('xxhixx', 'x')", "str:hi"},
    {"trim('\xc3\xa9"
     "a\xc3\xa9', '\xc3\xa9')",
     "str:a"},
    {"ltrim('abcba', 'ab')", "str:cba"},
    {"rtrim('abcba', 'ab')", "str:abc"},
    {"trim('   ')", "str:"},
    {"starts_with(name, 'Al')", "bool:true"},
    {"starts_with(name, '')", "bool:true"},
    {"starts_with(name, 'Alice!')", "bool:false"},
    {"starts_with(name, 'l')", "bool:false"},
    {"regexp_like(name, '^A.*e$')", "bool:true"},
    {"regexp_like(name, 'x|l')", "bool:true"},
    {"regexp_like(name, '^l')", "bool:false"},
    {"regexp_like(name, '^[A-Z][a-z]{4}$')", "bool:true"},
    {"regexp_like(nothing, 'a')", "null"},
    /* time */
    {"date_trunc('second', 1700000000123)", "int:1700000000000"},
    {"date_trunc('minute', 1700000000123)", "int:1699999980000"},
    {"date_trunc('hour', 1700000000123)", "int:1699999200000"},
    {"date_trunc('day', 1700000000123)", "int:1699920000000"},
    {"date_trunc('week', 1700000000123)", "int:1699833600000"},
    {"date_trunc('month', 1700000000123)", "int:1698796800000"},
    {"date_trunc('year', 1700000000123)", "int:1672531200000"},
    {"date_trunc('DAY', 86400000)", "int:86400000"},
    {"date_trunc('second', -1)", "int:-1000"},
    {"date_trunc('day', -1)", "int:-86400000"},
    {"date_trunc('week', 0)", "int:-259200000"},
    {"date_trunc('month', -1)", "int:-2678400000"},
    {"date_trunc('year', -1)", "int:-31536000000"},
    {"date_trunc('day', 1700000000123.9)", "int:1699920000000"},
    {"date_trunc('day', nothing)", "null"},
    {"date_trunc('day', -9223372036854775807)", "err:overflow"},
    {"ts_ms('2023-11-14T22:13:20.123Z')", "int:1700000000123"},
    {"ts_ms('2023-11-14T22:13:20Z')", "int:1700000000000"},
    {"ts_ms('2023-11-15T00:13:20.5+02:00')", "int:1700000000500"},
    {"ts_ms('2023-11-14T21:13:20-01:00')", "int:1700000000000"},
    {"ts_ms('2023-11-14 22:13:20.1239z')", "int:1700000000123"},
    {"ts_ms('2023-02-29T00:00:00Z')", "null"},
    {"ts_ms('2024-02-29T00:00:00Z')", "int:1709164800000"},
    {"ts_ms('1969-12-31T23:59:59.999Z')", "int:-1"},
    {"ts_ms('yesterday')", "null"},
    {"ts_ms('2023-11-14T22:13:20')", "null"},
    {"ts_ms('2023-11-14T22:13:20Zjunk')", "null"},
    {"ts_ms('2023-13-01T00:00:00Z')", "null"},
    {"ts_ms(1700000000123)", "int:1700000000123"},
    {"ts_ms(1.5)", "int:1"},
    {"ts_ms(-1.5)", "int:-2"},
    {"ts_ms(ts)", "int:1709202896789"},
    {"date_trunc('hour', ts_ms(ts))", "int:1709200800000"},
    {"ts_ms(nothing)", "null"},
    /* field references */
    {"dev.id", "str:d1"},
    {"\"dev\".\"id\"", "str:d1"},
    {"\"weird name\" + 1", "int:2"},
    {"arr[2] * 2", "int:10"},
    {"a.b[0].c", "int:9"},
    {"a . b [ 0 ] . c", "int:9"},
    {"missing", "null"},
    {"tags IS NOT NULL AND amount > 1", "bool:true"},
    /* keywords are case-insensitive */
    {"amount between 40 and 50 and not (name like 'B%') and nothing is null", "bool:true"},
    {"case amount when 42 then 'x' else 'y' END", "str:x"},
    {"Cast(amount As Varchar)", "str:42"},
    {"UPPER(name)", "str:ALICE"},
};

static void test_values(void **state)
{
    (void)state;
    sl_xscratch s = {0};
    int bad = 0;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char err[512], got[512];
        nresolved = 0;
        sl_xexpr *e = sl_xexpr_compile(values[i].text, &env, err, sizeof(err));
        if (!e) {
            fprintf(stderr, "FAIL %s: compile error %s\n", values[i].text, err);
            bad++;
            continue;
        }
        sl_value v;
        memset(&v, 0x5a, sizeof(v));
        int rc = sl_xexpr_eval(e, row, &s, &v);
        describe(rc, &v, got, sizeof(got));
        if (strcmp(got, values[i].want) != 0) {
            fprintf(stderr, "FAIL %s: got %s, want %s\n", values[i].text, got, values[i].want);
            bad++;
        }
        /* a second evaluation gives the same (no state kept) */
        char again[512];
        rc = sl_xexpr_eval(e, row, &s, &v);
        describe(rc, &v, again, sizeof(again));
        if (strcmp(got, again) != 0) {
            fprintf(stderr, "FAIL %s: second run %s, first %s\n", values[i].text, again, got);
            bad++;
        }
        sl_xexpr_free(e);
        sl_xscratch_reset(&s);
    }
    sl_xscratch_free(&s);
    assert_int_equal(bad, 0);
}

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
    char got[256];
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
        cmocka_unit_test(test_values),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_layout), cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_scratch),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
