/*
 * definition_pipeline.c - the "pipeline" section of a definition: each
 * stage handed to its operator's parser (operators/filter_parse.c and
 * friends), the order rules between stages, and the check that every field
 * a stage reads survives the maps before it (or, after the window, is a
 * field of its results).
 */
#include "definition_internal.h"

#include "didyoumean.h"
#include "expr_def.h"
#include "operator.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL__MSG 1024

/* 1 if `f` is a field of the window's result rows (the key fields,
 * window_start, window_end, the aggregates). */
static int sl__is_result_field(const sl_def *def, const char *f)
{
    if (strcmp(f, "window_start") == 0 || strcmp(f, "window_end") == 0)
        return 1;
    for (size_t k = 0; def->key_by && k < def->key_by->u.key_by.nfields; k++)
        if (strcmp(def->key_by->u.key_by.fields[k], f) == 0)
            return 1;
    for (size_t k = 0; k < def->window->naggs; k++)
        if (strcmp(def->window->aggs[k].name, f) == 0)
            return 1;
    return 0;
}

/* Traces `field` as seen by stage `at` back through the maps before it
 * (for a stage after the window: to the window's results). Returns
 *   1  it is input field (or result field) *origin (borrowed);
 *   2  it is computed by set[*set_index] of the map at stage *by;
 *   0  a map removes it (*by: that map) or, after a window, results have
 *      no such field (*by: the window stage). */
int sl__def_field_trace(const sl_def *def, size_t at, const char *field, const char **origin,
                        size_t *by, size_t *set_index)
{
    const char *f = field;
    size_t lo = def->window && at > sl_def_runtime_stage(def) ? sl_def_runtime_stage(def) + 1 : 0;
    for (size_t j = at; j-- > lo;) {
        const sl_stage *st = &def->stages[j];
        if (st->kind != SL_STAGE_MAP)
            continue;
        const sl_map_def *m = &st->u.map;
        for (size_t k = 0; k < m->nset; k++)
            if (strcmp(m->set_name[k], f) == 0) {
                *by = j;
                *set_index = k;
                return 2;
            }
        int renamed = 0;
        for (size_t k = 0; k < m->nrename && !renamed; k++)
            if (strcmp(m->rename_to[k], f) == 0) {
                f = m->rename_from[k];
                renamed = 1;
            }
        int removed = 0;
        for (size_t k = 0; k < m->nrename && !renamed && !removed; k++)
            if (strcmp(m->rename_from[k], f) == 0)
                removed = 1;
        for (size_t k = 0; k < m->ndrop && !removed; k++)
            if (strcmp(m->drop[k], f) == 0)
                removed = 1;
        if (m->nkeep && !removed) {
            removed = 1;
            for (size_t k = 0; k < m->nkeep; k++)
                if (strcmp(m->keep[k], f) == 0)
                    removed = 0;
        }
        if (removed) {
            *by = j;
            return 0;
        }
    }
    if (lo > 0 && !sl__is_result_field(def, f)) {
        *by = sl_def_runtime_stage(def);
        return 0;
    }
    *origin = f;
    return 1;
}

/* The input field `field` at stage `at` stands for, or NULL when it is
 * removed, computed by a map's set (*by: that map) or not a result. */
const char *sl__def_field_origin(const sl_def *def, size_t at, const char *field, size_t *by)
{
    const char *o = NULL;
    size_t k;
    return sl__def_field_trace(def, at, field, &o, by, &k) == 1 ? o : NULL;
}

static int sl__count_paths(void *ctx, const char *path, sl_type *type)
{
    (void)path;
    *type = SL_T_MISSING;
    return (*(int *)ctx)++;
}

/* Set fields read only fields of the maps before theirs, so following
 * them always ends. */
void sl__def_expr_inputs(const sl_def *def, size_t at, const char *text,
                         void (*fn)(void *, const char *), void *ctx)
{
    int next = 0;
    char err[256];
    sl_xenv env = {.resolve = sl__count_paths, .ctx = &next};
    sl_xexpr *x = sl_xexpr_compile(text, &env, err, sizeof(err));
    size_t n = 0;
    const char *const *paths = x ? sl_xexpr_paths(x, &n) : NULL;
    for (size_t i = 0; i < n; i++)
        sl__def_field_inputs(def, at, paths[i], fn, ctx);
    sl_xexpr_free(x);
}

void sl__def_field_inputs(const sl_def *def, size_t at, const char *field,
                          void (*fn)(void *, const char *), void *ctx)
{
    char head[256];
    snprintf(head, sizeof(head), "%.*s", (int)sl_xexpr_path_head(field), field);
    const char *o = NULL;
    size_t by, k;
    int r = sl__def_field_trace(def, at, head, &o, &by, &k);
    if (r == 1)
        fn(ctx, o);
    else if (r == 2)
        sl__def_expr_inputs(def, by, def->stages[by].u.map.set_expr[k], fn, ctx);
}

static int sl__check_field(const sl_def *def, size_t at, const char *field, const char *path,
                           char *msg)
{
    size_t by = 0, k;
    const char *o;
    if (sl__def_field_trace(def, at, field, &o, &by, &k) != 0)
        return 0;
    if (def->stages[by].kind == SL_STAGE_WINDOW)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s: field \"%s\" is not in the results of %s.window (they have the "
                         "key fields, window_start, window_end and the aggregates)",
                         path, field, def->stages[by].path);
    return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s: field \"%s\" is removed by %s.map", path, field,
                     def->stages[by].path);
}

/* Resolving an expression's fields at a stage, for validate. */
typedef struct sl__xcheck {
    const sl_def *def;
    size_t at;
    int next;
} sl__xcheck;

static sl_type sl__result_type(const sl_def *def, const char *f)
{
    if (strcmp(f, "window_start") == 0 || strcmp(f, "window_end") == 0)
        return SL_T_INT;
    for (size_t k = 0; k < def->window->naggs; k++)
        if (strcmp(def->window->aggs[k].name, f) == 0)
            switch (def->window->aggs[k].fn) {
            case SL_AGG_COUNT:
                return SL_T_INT;
            case SL_AGG_AVG:
            case SL_AGG_STDDEV_POP:
            case SL_AGG_STDDEV_SAMP:
            case SL_AGG_VAR_POP:
            case SL_AGG_VAR_SAMP:
                return SL_T_DOUBLE;
            default:
                return SL_T_MISSING;
            }
    return SL_T_MISSING;
}

static int sl__xcheck_resolve(void *ctx, const char *path, sl_type *type)
{
    sl__xcheck *c = ctx;
    char head[256];
    size_t n = sl_xexpr_path_head(path);
    snprintf(head, sizeof(head), "%.*s", (int)n, path);
    const char *o = NULL;
    size_t by, k;
    int r = sl__def_field_trace(c->def, c->at, head, &o, &by, &k);
    *type = SL_T_MISSING;
    if (r == 0)
        return -1;
    if (r == 1 && path[n] == '\0' && c->def->window && c->at > sl_def_runtime_stage(c->def))
        *type = sl__result_type(c->def, o);
    return c->next++;
}

/* The names an expression at stage `at` may read, when they are known
 * (after the window: the result fields and computed ones), for
 * did-you-mean. */
static size_t sl__known_names(const sl_def *def, size_t at, const char **names, size_t cap)
{
    size_t n = 0;
    if (!def->window || at <= sl_def_runtime_stage(def))
        return 0;
    const char *fixed[] = {"window_start", "window_end"};
    for (size_t i = 0; i < 2 && n < cap; i++)
        names[n++] = fixed[i];
    for (size_t k = 0; def->key_by && k < def->key_by->u.key_by.nfields && n < cap; k++)
        names[n++] = def->key_by->u.key_by.fields[k];
    for (size_t k = 0; k < def->window->naggs && n < cap; k++)
        names[n++] = def->window->aggs[k].name;
    for (size_t j = sl_def_runtime_stage(def) + 1; j < at; j++)
        if (def->stages[j].kind == SL_STAGE_MAP)
            for (size_t k = 0; k < def->stages[j].u.map.nset && n < cap; k++)
                names[n++] = def->stages[j].u.map.set_name[k];
    return n;
}

/* Compiles `text` as stage `at` sees its fields: unknown functions, type
 * errors, fields removed by a map or not among the window's results. */
static int sl__check_sql(const sl_def *def, size_t at, const char *text, const char *path,
                         char *msg)
{
    const char *names[256];
    sl__xcheck c = {.def = def, .at = at};
    sl_xenv env = {.resolve = sl__xcheck_resolve, .ctx = &c, .names = names};
    env.nnames = sl__known_names(def, at, names, SL_ARRAY_LEN(names));
    sl_xexpr *x = sl_xexpr_compile_at(text, &env, path, msg, SL__MSG);
    if (!x)
        return SL_EINVAL;
    sl_xexpr_free(x);
    return 0;
}

static int sl__check_expr_fields(const sl_def *def, size_t at, const sl_expr *e, const char *path,
                                 char *msg)
{
    if (e->kind == SL_EXPR_SQL)
        return sl__check_sql(def, at, e->sql, path, msg);
    if (e->kind == SL_EXPR_CMP)
        return sl__check_field(def, at, e->field, path, msg);
    for (size_t i = 0; i < e->nargs; i++) {
        int rc = sl__check_expr_fields(def, at, e->args[i], path, msg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A field name that may be a nested path ("device.id"): its first segment
 * must exist at stage `at`. */
static int sl__check_sql_field(const sl_def *def, size_t at, const char *field, const char *path,
                               char *msg)
{
    char head[256];
    snprintf(head, sizeof(head), "%.*s", (int)sl_xexpr_path_head(field), field);
    return sl__check_field(def, at, head, path, msg);
}

static int sl__parse_stage(sl_def *def, size_t i, const json_t *sj, char *msg)
{
    char path[64], repr[80];
    snprintf(path, sizeof(path), "pipeline[%zu]", i);
    if (!json_is_object(sj))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s: must be an object, got %s", path,
                         sl_json_repr(sj, repr, sizeof(repr)));
    const sl_operator_ops *op = NULL;
    const char *key, *first_key = NULL, *op_key = NULL;
    json_t *val;
    json_object_foreach((json_t *)sj, key, val)
    {
        const sl_operator_ops *o = sl_operator_find(key);
        if (!first_key && strcmp(key, "aggregates") != 0)
            first_key = key;
        if (!o)
            continue;
        if (op)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: one operator per stage, found \"%s\" and \"%s\"", path, op_key,
                             key);
        op = o;
        op_key = key;
    }
    if (!op) {
        if (!first_key && json_object_get(sj, "aggregates"))
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: \"aggregates\" needs a \"window\" in the same stage", path);
        if (!first_key)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: empty stage (expected one of filter, map, key_by, window)", path);
        sl_suggest sug;
        sl_suggest_init(&sug, first_key);
        for (size_t k = 0; sl_operators[k]; k++)
            sl_suggest_add(&sug, sl_operators[k]->name);
        size_t nreg;
        const sl_operator_ops *const *reg = sl_operator_registered(&nreg);
        for (size_t k = 0; k < nreg; k++)
            sl_suggest_add(&sug, reg[k]->name);
        const char *best = sl_suggest_result(&sug);
        if (best)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: unknown operator \"%s\", did you mean \"%s\"?", path, first_key,
                             best);
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s: unknown operator \"%s\" (expected one of filter, map, key_by, "
                         "window)",
                         path, first_key);
    }
    /* Order rules, checked before parsing so they name the stage. After a
     * window come only stages that run on its result rows. */
    if (def->window && (op == &sl_op_window || op == &sl_op_key_by || !op->open))
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s.%s: %s cannot follow the window (at %s); after a window come "
                         "stages that work on its result rows (filter, map, ...)",
                         path, op_key, op == &sl_op_window ? "a second window" : op_key,
                         def->stages[sl_def_runtime_stage(def)].path);
    if (op->after_window && !def->window)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s.%s: works on window results, so it must follow a window", path,
                         op_key);
    if (op == &sl_op_key_by)
        for (size_t k = 0; k < def->nstages; k++)
            if (def->stages[k].kind == SL_STAGE_KEY_BY)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "%s.key_by: key_by may appear only once (already at %s)", path,
                                 def->stages[k].path);
    sl_stage *st = &def->stages[def->nstages];
    memset(st, 0, sizeof(*st));
    st->kind = SL_STAGE_CUSTOM; /* the built-in operators set their own */
    int rc = op->init(sj, path, st, msg, SL__MSG);
    if (rc != 0)
        return rc;
    st->path = sl_xstrdup(path);
    st->ops = op;
    def->nstages++;
    if (st->kind == SL_STAGE_KEY_BY)
        def->key_by = st;
    if (st->kind == SL_STAGE_WINDOW)
        def->window = &st->u.window;

    /* Fields a stage reads must survive the maps before it. */
    char fpath[300];
    switch (st->kind) {
    case SL_STAGE_FILTER:
        sl_path_join(fpath, sizeof(fpath), path, "filter");
        return sl__check_expr_fields(def, i, st->u.filter, fpath, msg);
    case SL_STAGE_MAP:
        for (size_t k = 0; k < st->u.map.nkeep; k++) {
            snprintf(fpath, sizeof(fpath), "%s.map.keep[%zu]", path, k);
            if ((rc = sl__check_field(def, i, st->u.map.keep[k], fpath, msg)) != 0)
                return rc;
        }
        for (size_t k = 0; k < st->u.map.nset; k++) {
            char spath[200];
            snprintf(spath, sizeof(spath), "%s.map.set", path);
            sl_path_join(fpath, sizeof(fpath), spath, st->u.map.set_name[k]);
            if ((rc = sl__check_sql(def, i, st->u.map.set_expr[k], fpath, msg)) != 0)
                return rc;
        }
        return 0;
    case SL_STAGE_KEY_BY:
        for (size_t k = 0; k < st->u.key_by.nfields; k++) {
            snprintf(fpath, sizeof(fpath), "%s.key_by[%zu]", path, k);
            if (st->u.key_by.exprs && st->u.key_by.exprs[k])
                rc = sl__check_sql(def, i, st->u.key_by.exprs[k], fpath, msg);
            else
                rc = sl__check_sql_field(def, i, st->u.key_by.fields[k], fpath, msg);
            if (rc != 0)
                return rc;
        }
        return 0;
    case SL_STAGE_CUSTOM:
        return 0; /* its init checked what it reads */
    case SL_STAGE_WINDOW:
        for (size_t k = 0; k < st->u.window.naggs; k++) {
            const sl_agg_def *a = &st->u.window.aggs[k];
            char apath[256];
            sl_path_join(apath, sizeof(apath), path, "aggregates");
            sl_path_join(fpath, sizeof(fpath), apath, a->name);
            if (a->field && (rc = sl__check_sql_field(def, i, a->field, fpath, msg)) != 0)
                return rc;
            if (a->expr && (rc = sl__check_sql(def, i, a->expr, fpath, msg)) != 0)
                return rc;
        }
        return 0;
    }
    return 0;
}

/* Parses the "pipeline" array into def->stages (the stages, their order
 * rules, the fields they read, aggregate names against key fields). */
int sl__def_parse_pipeline(sl_def *def, char *msg)
{
    const json_t *p = json_object_get(def->root, "pipeline");
    char repr[80];
    if (!json_is_array(p))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "pipeline: must be an array of stages, got %s",
                         sl_json_repr(p, repr, sizeof(repr)));
    size_t n = json_array_size(p);
    def->stages = sl_xcalloc(n ? n : 1, sizeof(sl_stage));
    for (size_t i = 0; i < n; i++) {
        int rc = sl__parse_stage(def, i, json_array_get(p, i), msg);
        if (rc != 0)
            return rc;
    }
    /* Aggregate names become result fields next to the key fields. */
    if (def->window && def->key_by) {
        const sl_stage *ws = &def->stages[sl_def_runtime_stage(def)];
        for (size_t k = 0; k < def->window->naggs; k++)
            for (size_t f = 0; f < def->key_by->u.key_by.nfields; f++)
                if (strcmp(def->window->aggs[k].name, def->key_by->u.key_by.fields[f]) == 0) {
                    char apath[256], fpath[300];
                    sl_path_join(apath, sizeof(apath), ws->path, "aggregates");
                    return sl_seterr(
                        msg, SL__MSG, SL_EINVAL,
                        "%s: aggregate name collides with the key field \"%s\" in "
                        "results",
                        sl_path_join(fpath, sizeof(fpath), apath, def->window->aggs[k].name),
                        def->key_by->u.key_by.fields[f]);
                }
    }
    return 0;
}
