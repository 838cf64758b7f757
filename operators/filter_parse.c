/*
 * filter_parse.c - the filter stage's definition side: parses and validates
 * {"filter": EXPR} into an sl_expr tree, prints it for explain, frees it.
 * EXPR is a SQL expression string (operators/expr.h), or the structured
 * form {"field": F, "op": OP, "value": LITERAL}, {"and": [EXPR, ...]},
 * {"or": [EXPR, ...]}, {"not": EXPR} (see definition.h for semantics).
 */
#include "op_internal.h"

#include "expr_def.h"
#include "options.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SL__FILTER_MAX_DEPTH 32

static void sl__expr_free(sl_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nargs; i++)
        sl__expr_free(e->args[i]);
    free(e->args);
    free(e->field);
    free(e->value.s);
    free(e->sql);
    free(e);
}

static const struct {
    const char *text;
    sl_cmp_op op;
} sl__cmp_ops[] = {{"=", SL_CMP_EQ},  {"==", SL_CMP_EQ}, {"!=", SL_CMP_NE}, {"<", SL_CMP_LT},
                   {"<=", SL_CMP_LE}, {">", SL_CMP_GT},  {">=", SL_CMP_GE}};

static const char *sl__cmp_text(sl_cmp_op op)
{
    switch (op) {
    case SL_CMP_EQ:
        return "=";
    case SL_CMP_NE:
        return "!=";
    case SL_CMP_LT:
        return "<";
    case SL_CMP_LE:
        return "<=";
    case SL_CMP_GT:
        return ">";
    default:
        return ">=";
    }
}

static const sl_opt sl__expr_keys[] = {{.name = "field", .type = SL_OPT_STRING},
                                       {.name = "op", .type = SL_OPT_STRING},
                                       {.name = "value", .type = SL_OPT_ANY},
                                       {.name = "and", .type = SL_OPT_ANY},
                                       {.name = "or", .type = SL_OPT_ANY},
                                       {.name = "not", .type = SL_OPT_ANY},
                                       {.name = NULL}};

static int sl__parse_cmp(const json_t *j, const char *path, sl_expr *e, char *errstr,
                         size_t errstr_size)
{
    char repr[80];
    const json_t *field = json_object_get(j, "field"), *op = json_object_get(j, "op"),
                 *value = json_object_get(j, "value");
    if (!field || !op || !value)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: a comparison needs \"field\", \"op\" and \"value\" (missing \"%s\")",
                         path,
                         !field ? "field"
                         : !op  ? "op"
                                : "value");
    if (json_string_length(field) == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.field: must not be empty", path);
    const char *optext = json_string_value(op);
    int found = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(sl__cmp_ops); i++)
        if (strcmp(sl__cmp_ops[i].text, optext) == 0) {
            e->op = sl__cmp_ops[i].op;
            found = 1;
        }
    if (!found)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.op: unknown operator \"%s\" (use one of = != < <= > >=)", path,
                         optext);
    sl_literal *lit = &e->value;
    switch (json_typeof(value)) {
    case JSON_NULL:
        lit->type = SL_T_NULL;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lit->type = SL_T_BOOL;
        lit->i = json_is_true(value);
        lit->d = (double)lit->i;
        break;
    case JSON_INTEGER:
        lit->type = SL_T_INT;
        lit->i = (int64_t)json_integer_value(value);
        lit->d = (double)lit->i;
        break;
    case JSON_REAL:
        lit->type = SL_T_DOUBLE;
        lit->d = json_real_value(value);
        break;
    case JSON_STRING:
        lit->type = SL_T_STRING;
        lit->slen = json_string_length(value);
        lit->s = sl_xmalloc(lit->slen + 1);
        memcpy(lit->s, json_string_value(value), lit->slen + 1);
        break;
    default:
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.value: must be a string, number, boolean or null, got %s", path,
                         sl_json_repr(value, repr, sizeof(repr)));
    }
    if ((lit->type == SL_T_NULL || lit->type == SL_T_BOOL) && e->op != SL_CMP_EQ &&
        e->op != SL_CMP_NE)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.op: \"%s\" cannot compare with %s (only = and != can)", path, optext,
                         lit->type == SL_T_NULL ? "null" : "a boolean");
    e->kind = SL_EXPR_CMP;
    e->field = sl_xstrdup(json_string_value(field));
    return 0;
}

/* Parses one expression into a new *out; on error *out is NULL. */
static int sl__parse_expr(const json_t *j, const char *path, int depth, sl_expr **out, char *errstr,
                          size_t errstr_size)
{
    char sub[256];
    *out = NULL;
    if (depth > SL__FILTER_MAX_DEPTH)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: nested deeper than %d levels", path,
                         SL__FILTER_MAX_DEPTH);
    int rc = sl_opts_check(j, sl__expr_keys, path, errstr, errstr_size);
    if (rc != 0)
        return rc;
    const char *logical = NULL;
    int nlogical = 0;
    static const char *const names[] = {"and", "or", "not"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(j, names[i])) {
            logical = names[i];
            nlogical++;
        }
    if (nlogical > 1 || (nlogical == 1 && json_object_size(j) != 1))
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: an expression is either {\"field\", \"op\", \"value\"} or exactly "
                         "one of \"and\", \"or\", \"not\"",
                         path);
    sl_expr *e = sl_xcalloc(1, sizeof(*e));
    if (!logical) {
        rc = sl__parse_cmp(j, path, e, errstr, errstr_size);
    } else if (strcmp(logical, "not") == 0) {
        e->kind = SL_EXPR_NOT;
        e->args = sl_xcalloc(1, sizeof(sl_expr *));
        e->nargs = 1;
        sl_path_join(sub, sizeof(sub), path, "not");
        rc = sl__parse_expr(json_object_get(j, "not"), sub, depth + 1, &e->args[0], errstr,
                            errstr_size);
    } else {
        const json_t *arr = json_object_get(j, logical);
        e->kind = strcmp(logical, "and") == 0 ? SL_EXPR_AND : SL_EXPR_OR;
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
            char repr[80];
            rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                           "%s.%s: must be a non-empty array of expressions, got %s", path, logical,
                           sl_json_repr(arr, repr, sizeof(repr)));
        } else {
            size_t n = json_array_size(arr);
            e->args = sl_xcalloc(n, sizeof(sl_expr *));
            for (size_t i = 0; i < n && rc == 0; i++) {
                snprintf(sub, sizeof(sub), "%s.%s[%zu]", path, logical, i);
                rc = sl__parse_expr(json_array_get(arr, i), sub, depth + 1, &e->args[i], errstr,
                                    errstr_size);
                e->nargs = i + 1;
            }
        }
    }
    if (rc != 0) {
        sl__expr_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static const sl_opt sl__filter_stage_keys[] = {
    {.name = "filter",
     .type = SL_OPT_ANY,
     .required = 1,
     .help = "a SQL expression string or {\"field\", \"op\", \"value\"}"},
    {.name = NULL}};

int sl__filter_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                    size_t errstr_size)
{
    char sub[256];
    int rc = sl_opts_check(stage_json, sl__filter_stage_keys, path, errstr, errstr_size);
    if (rc != 0)
        return rc;
    sl_path_join(sub, sizeof(sub), path, "filter");
    sl_expr *e;
    const json_t *body = json_object_get(stage_json, "filter");
    if (json_is_string(body)) {
        if ((rc = sl_xexpr_check_open(json_string_value(body), sub, errstr, errstr_size)) != 0)
            return rc;
        e = sl_xcalloc(1, sizeof(*e));
        e->kind = SL_EXPR_SQL;
        e->sql = sl_xstrdup(json_string_value(body));
        stage->kind = SL_STAGE_FILTER;
        stage->u.filter = e;
        return 0;
    }
    if (!json_is_object(body)) {
        char repr[80];
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: must be a SQL expression string or an object, got %s", sub,
                         sl_json_repr(body, repr, sizeof(repr)));
    }
    rc = sl__parse_expr(body, sub, 0, &e, errstr, errstr_size);
    if (rc != 0)
        return rc;
    stage->kind = SL_STAGE_FILTER;
    stage->u.filter = e;
    return 0;
}

static void sl__print_literal(const sl_literal *v, FILE *out)
{
    switch (v->type) {
    case SL_T_NULL:
        fputs("null", out);
        break;
    case SL_T_BOOL:
        fputs(v->i ? "true" : "false", out);
        break;
    case SL_T_INT:
        fprintf(out, "%" PRId64, v->i);
        break;
    case SL_T_DOUBLE:
        fprintf(out, "%.17g", v->d);
        break;
    default: {
        json_t *s = json_stringn(v->s, v->slen);
        char *txt = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        fputs(txt ? txt : "\"?\"", out);
        free(txt);
        json_decref(s);
    }
    }
}

static void sl__print_expr(const sl_expr *e, FILE *out, int top)
{
    switch (e->kind) {
    case SL_EXPR_SQL:
        fputs(e->sql, out);
        break;
    case SL_EXPR_CMP:
        fprintf(out, "%s %s ", e->field, sl__cmp_text(e->op));
        sl__print_literal(&e->value, out);
        break;
    case SL_EXPR_NOT:
        fputs("not (", out);
        sl__print_expr(e->args[0], out, 1);
        fputs(")", out);
        break;
    default:
        if (!top)
            fputs("(", out);
        for (size_t i = 0; i < e->nargs; i++) {
            if (i)
                fputs(e->kind == SL_EXPR_AND ? " and " : " or ", out);
            sl__print_expr(e->args[i], out, 0);
        }
        if (!top)
            fputs(")", out);
    }
}

/* Appends the distinct fields of e to list (at most cap). */
static void sl__expr_fields(const sl_expr *e, const char **list, size_t *n, size_t cap)
{
    if (e->kind == SL_EXPR_CMP) {
        for (size_t i = 0; i < *n; i++)
            if (strcmp(list[i], e->field) == 0)
                return;
        if (*n < cap)
            list[(*n)++] = e->field;
        return;
    }
    for (size_t i = 0; i < e->nargs; i++)
        sl__expr_fields(e->args[i], list, n, cap);
}

void sl__filter_explain(const sl_stage *stage, FILE *out)
{
    const char *fields[64];
    size_t n = 0;
    fputs("  filter: ", out);
    sl__print_expr(stage->u.filter, out, 1);
    fputs("\n    reads: ", out);
    if (stage->u.filter->kind == SL_EXPR_SQL) {
        sl_xexpr_print_paths(stage->u.filter->sql, out);
        fputs("\n", out);
        return;
    }
    sl__expr_fields(stage->u.filter, fields, &n, SL_ARRAY_LEN(fields));
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", fields[i]);
    fputs("\n", out);
}

void sl__filter_destroy(sl_stage *stage)
{
    sl__expr_free(stage->u.filter);
    stage->u.filter = NULL;
}
