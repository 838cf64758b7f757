/*
 * expr_row.h - the fixed row the expression tests evaluate on (fields of
 * every type, NULL and missing ones, the BIGINT extremes, nested and quoted
 * paths), its resolver, and how a result is printed for comparison:
 * "int:42", "double:2.5", "str:abc", "bool:true", "null", with "div0:" for
 * the soft division error and "err:<kind>" for a hard one. Included by
 * test_expr.c and test_expr_errors.c only.
 */
#ifndef SL_TEST_EXPR_ROW_H
#define SL_TEST_EXPR_ROW_H

#include "expr.h"

#include <math.h>
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

#endif
