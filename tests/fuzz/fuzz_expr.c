/*
 * fuzz_expr.c - fuzz target for the expression language (operators/expr.h).
 *
 * Each input is expression text. It is compiled twice, once with the
 * fields' types known and once with them unknown, and must either compile
 * or fail with a message "L:C: what\n<line>\n<caret>". Whenever the typed
 * compile succeeds the untyped one must too (types only reject), and both
 * must give the same result on every test row (same error kind, same
 * value): static typing never changes a value. A result must be of the
 * static type the compiler announced (or NULL), never MISSING, and a
 * second evaluation must give the same. Any violation aborts. Built with
 * libFuzzer (SL_FUZZ) or with tests/fuzz/replay_driver.c.
 */
#include "expr.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NF    9
#define ERRSZ 512
#define NR    4

static const char *const names[NF] = {"a", "b", "s", "f", "n", "o", "d", "x.y[1]", "ts"};
static const sl_type types[NF] = {SL_T_INT,   SL_T_DOUBLE,  SL_T_STRING, SL_T_BOOL,  SL_T_MISSING,
                                  SL_T_OTHER, SL_T_MISSING, SL_T_STRING, SL_T_STRING};

#define I(v)                                                                                       \
    {                                                                                              \
        SL_T_INT, (v), 0, NULL, 0                                                                  \
    }
#define D(v)                                                                                       \
    {                                                                                              \
        SL_T_DOUBLE, 0, (v), NULL, 0                                                               \
    }
#define S(v)                                                                                       \
    {                                                                                              \
        SL_T_STRING, 0, 0, (v), sizeof(v) - 1                                                      \
    }
#define O(v)                                                                                       \
    {                                                                                              \
        SL_T_OTHER, 0, 0, (v), sizeof(v) - 1                                                       \
    }
#define B(v)                                                                                       \
    {                                                                                              \
        SL_T_BOOL, (v), 0, NULL, 0                                                                 \
    }
#define N                                                                                          \
    {                                                                                              \
        SL_T_NULL, 0, 0, NULL, 0                                                                   \
    }
#define M                                                                                          \
    {                                                                                              \
        SL_T_MISSING, 0, 0, NULL, 0                                                                \
    }

/* Values agree with the static types above (or are NULL / missing). */
static const sl_value rows[NR][NF] = {
    {I(42), D(2.5), S("Alice"), B(1), N, O("[1,2]"), I(7), S("y1"),
     S("2024-02-29T12:34:56.789+02:00")},
    {I(INT64_MIN), D(-0.0), S(""), B(0), M, O("{}"), S("42"), N, S("bad")},
    {I(INT64_MAX), D(1e300), S("h\xc3\xa9llo %_"), N, N, N, D(-1.5), S("\xff\xfe"), N},
    {N, N, N, M, M, M, O("{\"k\":[1]}"), M, M},
};

static int typed;

static int resolve(void *ctx, const char *path, sl_type *type)
{
    (void)ctx;
    for (int i = 0; i < NF; i++)
        if (strcmp(names[i], path) == 0) {
            *type = typed ? types[i] : SL_T_MISSING;
            return i;
        }
    return -1;
}

static void die(const char *why, const char *text)
{
    fprintf(stderr, "fuzz_expr: %s\nexpression: %.2000s\n", why, text);
    abort();
}

/* "L:C: " then a message, a line, and a caret line ending in '^'. */
static void check_message(const char *err, const char *text)
{
    const char *p = err;
    if (!isdigit((unsigned char)*p))
        die("error message does not start with L:C", text);
    while (isdigit((unsigned char)*p))
        p++;
    if (*p++ != ':' || !isdigit((unsigned char)*p))
        die("error message does not start with L:C", text);
    while (isdigit((unsigned char)*p))
        p++;
    if (p[0] != ':' || p[1] != ' ')
        die("error message does not start with L:C: ", text);
    size_t n = strlen(err);
    /* a message cut by the buffer may lack its end; a whole one has the
     * text's line and the caret */
    if (n + 1 < ERRSZ && (!strchr(err, '\n') || err[n - 1] != '^'))
        die("error message lacks its caret line", text);
}

static int same_value(const sl_value *x, const sl_value *y)
{
    if (x->type != y->type)
        return 0;
    switch (x->type) {
    case SL_T_INT:
    case SL_T_BOOL:
        return x->i == y->i;
    case SL_T_DOUBLE:
        return memcmp(&x->d, &y->d, sizeof(double)) == 0;
    case SL_T_STRING:
    case SL_T_OTHER:
        return x->len == y->len && (x->len == 0 || memcmp(x->s, y->s, x->len) == 0);
    default:
        return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sl_xscratch s1, s2;
    if (size > 4096)
        return 0; /* long texts only repeat what short ones cover */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sl_xenv env = {resolve, names, NF, NULL};
    char err1[ERRSZ], err2[ERRSZ];
    typed = 1;
    sl_xexpr *e1 = sl_xexpr_compile(text, &env, err1, sizeof(err1));
    typed = 0;
    sl_xexpr *e2 = sl_xexpr_compile(text, &env, err2, sizeof(err2));
    if (!e1)
        check_message(err1, text);
    if (!e2)
        check_message(err2, text);
    if (e1 && !e2)
        die("compiles with types known but not with types unknown", text);
    if (e1) {
        sl_type st = sl_xexpr_type(e1);
        for (int r = 0; r < NR; r++) {
            sl_value v1, v2, v3;
            int rc1 = sl_xexpr_eval(e1, rows[r], &s1, &v1);
            int rc2 = sl_xexpr_eval(e2, rows[r], &s2, &v2);
            int rc3 = sl_xexpr_eval(e1, rows[r], &s1, &v3);
            if (rc1 < 0 || rc1 >= SL_XERR_COUNT)
                die("unknown error kind", text);
            if (rc1 != rc2 || !same_value(&v1, &v2))
                die("types known and unknown give different results", text);
            if (rc1 != rc3 || !same_value(&v1, &v3))
                die("a second evaluation differs", text);
            if (v1.type == SL_T_MISSING)
                die("result is MISSING", text);
            if (rc1 != 0 && rc1 != SL_XERR_DIV_ZERO && v1.type != SL_T_NULL)
                die("a hard error with a non-NULL result", text);
            if (v1.type != SL_T_NULL && st != SL_T_MISSING && v1.type != st)
                die("result type differs from the static type", text);
            if (v1.type == SL_T_STRING && v1.len) /* readable */
                (void)*(volatile const char *)&v1.s[v1.len - 1];
            sl_xscratch_reset(&s1);
            sl_xscratch_reset(&s2);
        }
        size_t n;
        const int *slots = sl_xexpr_slots(e1, &n);
        for (size_t i = 0; i < n; i++)
            if (slots[i] < 0 || slots[i] >= NF)
                die("slot out of range", text);
    }
    sl_xexpr_free(e1);
    sl_xexpr_free(e2);
    free(text);
    return 0;
}
