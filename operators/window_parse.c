/*
 * window_parse.c - the window stage's definition side:
 *   {"window": {"type": "tumbling", "size": "1s", "allowed_lateness": "0ms"},
 *    "aggregates": {"total": {"fn": "sum", "field": "amount"}, ...}}
 * tumbling needs size; hopping needs size and slide (slide <= size);
 * session needs gap and has no size. Aggregate inputs that name the same
 * field share one numeric column (first-use order).
 */
#include "op_internal.h"

#include "didyoumean.h"
#include "expr_def.h"
#include "options.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const sl_opt sl__window_stage_keys[] = {
    {.name = "window", .type = SL_OPT_OBJECT, .required = 1},
    {.name = "aggregates",
     .type = SL_OPT_OBJECT,
     .required = 1,
     .help = "{\"name\": {\"fn\": \"sum\", \"field\": \"amount\"}, ...}"},
    {.name = NULL}};
static const sl_opt sl__window_keys[] = {
    {.name = "type", .type = SL_OPT_STRING, .required = 1, .help = "tumbling, hopping or session"},
    {.name = "size", .type = SL_OPT_ANY},
    {.name = "slide", .type = SL_OPT_ANY},
    {.name = "gap", .type = SL_OPT_ANY},
    {.name = "allowed_lateness", .type = SL_OPT_ANY},
    {.name = NULL}};
static const sl_opt sl__agg_keys[] = {
    {.name = "fn", .type = SL_OPT_STRING, .required = 1, .help = "count, sum, min, max or avg"},
    {.name = "field", .type = SL_OPT_STRING},
    {.name = "expr", .type = SL_OPT_STRING, .help = "a SQL expression as the input"},
    {.name = NULL}};

static const char *const sl__window_types[] = {"tumbling", "hopping", "session"};
/* In sl_agg_fn order. */
static const char *const sl__agg_fns[] = {"count",       "sum",     "min",     "max",
                                          "avg",         "first",   "last",    "stddev_pop",
                                          "stddev_samp", "var_pop", "var_samp"};
#define SL__NAGG_FNS (sizeof(sl__agg_fns) / sizeof(sl__agg_fns[0]))

void sl__window_destroy(sl_stage *stage)
{
    sl_window_def *w = &stage->u.window;
    for (size_t i = 0; i < w->naggs; i++) {
        free(w->aggs[i].name);
        free(w->aggs[i].field);
        free(w->aggs[i].expr);
    }
    free(w->aggs);
    sl_strings_free(w->columns, w->ncolumns);
    memset(w, 0, sizeof(*w));
}

/* Index of name in names[n] or -1, with a did-you-mean message on miss. */
static int sl__pick(const char *name, const char *const *names, size_t n, const char *path,
                    const char *what, char *errstr, size_t errstr_size)
{
    sl_suggest sug;
    sl_suggest_init(&sug, name);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
        sl_suggest_add(&sug, names[i]);
    }
    const char *best = sl_suggest_result(&sug);
    char list[128] = "";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
    }
    if (best)
        sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: unknown %s \"%s\", did you mean \"%s\"?",
                  path, what, name, best);
    else
        sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: unknown %s \"%s\" (use one of %s)", path,
                  what, name, list);
    return -1;
}

static int sl__window_spec(const json_t *wj, const char *wpath, sl_window_def *w, char *errstr,
                           size_t errstr_size)
{
    char sub[256];
    int rc = sl_opts_check(wj, sl__window_keys, wpath, errstr, errstr_size);
    if (rc != 0)
        return rc;
    sl_path_join(sub, sizeof(sub), wpath, "type");
    int type = sl__pick(json_string_value(json_object_get(wj, "type")), sl__window_types, 3, sub,
                        "window type", errstr, errstr_size);
    if (type < 0)
        return SL_EINVAL;
    w->type = (sl_window_type)type;
    const json_t *size = json_object_get(wj, "size"), *slide = json_object_get(wj, "slide"),
                 *gap = json_object_get(wj, "gap"), *late = json_object_get(wj, "allowed_lateness");
    if (w->type == SL_WIN_SESSION) {
        if (size)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.size: session windows have no size; use \"gap\"", wpath);
        if (slide)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.slide: session windows have no slide; use \"gap\"", wpath);
        if (!gap)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: a session window needs \"gap\"",
                             wpath);
        sl_path_join(sub, sizeof(sub), wpath, "gap");
        if ((rc = sl_json_duration(gap, sub, 1, &w->gap_ms, errstr, errstr_size)) != 0)
            return rc;
    } else {
        const char *tname = sl__window_types[type];
        if (gap)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.gap: only session windows have a gap; a %s window uses \"size\"",
                             wpath, tname);
        if (!size)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: a %s window needs \"size\"",
                             wpath, tname);
        sl_path_join(sub, sizeof(sub), wpath, "size");
        if ((rc = sl_json_duration(size, sub, 1, &w->size_ms, errstr, errstr_size)) != 0)
            return rc;
        if (w->type == SL_WIN_TUMBLING) {
            if (slide)
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s.slide: only hopping windows slide; use \"type\": "
                                 "\"hopping\" or remove \"slide\"",
                                 wpath);
        } else {
            if (!slide)
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: a hopping window needs \"slide\"", wpath);
            sl_path_join(sub, sizeof(sub), wpath, "slide");
            if ((rc = sl_json_duration(slide, sub, 1, &w->slide_ms, errstr, errstr_size)) != 0)
                return rc;
            if (w->slide_ms > w->size_ms) {
                char a[32], b[32];
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: must not be larger than size (%s > %s)", sub,
                                 sl_format_duration(w->slide_ms, a, sizeof(a)),
                                 sl_format_duration(w->size_ms, b, sizeof(b)));
            }
        }
    }
    if (late) {
        sl_path_join(sub, sizeof(sub), wpath, "allowed_lateness");
        if ((rc = sl_json_duration(late, sub, 0, &w->allowed_lateness_ms, errstr, errstr_size)) !=
            0)
            return rc;
    }
    return 0;
}

static int sl__aggregates(const json_t *aj, const char *apath, sl_window_def *w, char *errstr,
                          size_t errstr_size)
{
    char sub[256], fpath[300];
    size_t n = json_object_size(aj);
    if (n == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: needs at least one aggregate, e.g. {\"events\": {\"fn\": "
                         "\"count\"}}",
                         apath);
    w->aggs = sl_xcalloc(n, sizeof(sl_agg_def));
    w->columns = sl_xcalloc(n, sizeof(char *));
    const char *name;
    json_t *spec;
    json_object_foreach((json_t *)aj, name, spec)
    {
        sl_path_join(sub, sizeof(sub), apath, name);
        if (name[0] == '\0')
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: an aggregate name must not be "
                             "empty",
                             apath);
        if (strcmp(name, "window_start") == 0 || strcmp(name, "window_end") == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: \"%s\" is reserved for the window bounds in results", sub, name);
        int rc = sl_opts_check(spec, sl__agg_keys, sub, errstr, errstr_size);
        if (rc != 0)
            return rc;
        sl_path_join(fpath, sizeof(fpath), sub, "fn");
        int fn = sl__pick(json_string_value(json_object_get(spec, "fn")), sl__agg_fns, SL__NAGG_FNS,
                          fpath, "aggregate function", errstr, errstr_size);
        if (fn < 0)
            return SL_EINVAL;
        const json_t *field = json_object_get(spec, "field"), *expr = json_object_get(spec, "expr");
        if (field && expr)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: give either \"field\" or \"expr\", not both", sub);
        if (field && sl_xexpr_text_is_expr(json_string_value(field)))
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.field: \"%s\" is not a field name; for a computed input write "
                             "\"expr\": \"%s\"",
                             sub, json_string_value(field), json_string_value(field));
        if (expr) {
            sl_path_join(fpath, sizeof(fpath), sub, "expr");
            if ((rc = sl_xexpr_check_open(json_string_value(expr), fpath, errstr, errstr_size)) !=
                0)
                return rc;
            field = expr; /* a column like a field's, named "=" + the text */
        }
        if (fn == SL_AGG_COUNT && field)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.field: count takes no field (it counts events)", sub);
        if (fn != SL_AGG_COUNT && !field)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: \"%s\" needs a \"field\" (or \"expr\") to aggregate", sub,
                             sl__agg_fns[fn]);
        if (field && json_string_length(field) == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.field: must not be empty", sub);
        sl_agg_def *a = &w->aggs[w->naggs++];
        a->name = sl_xstrdup(name);
        a->fn = (sl_agg_fn)fn;
        a->column = -1;
        if (field) {
            char *owned = NULL;
            const char *f = json_string_value(field);
            if (expr) {
                a->expr = sl_xstrdup(f);
                owned = sl_xmalloc(strlen(f) + 2);
                owned[0] = '=';
                strcpy(owned + 1, f);
                f = owned;
            } else {
                a->field = sl_xstrdup(f);
            }
            for (uint32_t c = 0; c < w->ncolumns; c++)
                if (strcmp(w->columns[c], f) == 0)
                    a->column = (int)c;
            if (a->column < 0) {
                a->column = (int)w->ncolumns;
                w->columns[w->ncolumns++] = sl_xstrdup(f);
            }
            free(owned);
        }
    }
    return 0;
}

int sl__window_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                    size_t errstr_size)
{
    char wpath[256], apath[256];
    int rc = sl_opts_check(stage_json, sl__window_stage_keys, path, errstr, errstr_size);
    if (rc != 0)
        return rc;
    stage->kind = SL_STAGE_WINDOW;
    memset(&stage->u.window, 0, sizeof(stage->u.window));
    sl_path_join(wpath, sizeof(wpath), path, "window");
    sl_path_join(apath, sizeof(apath), path, "aggregates");
    rc = sl__window_spec(json_object_get(stage_json, "window"), wpath, &stage->u.window, errstr,
                         errstr_size);
    if (rc == 0)
        rc = sl__aggregates(json_object_get(stage_json, "aggregates"), apath, &stage->u.window,
                            errstr, errstr_size);
    if (rc != 0)
        sl__window_destroy(stage);
    return rc;
}

void sl__window_explain(const sl_stage *stage, FILE *out)
{
    const sl_window_def *w = &stage->u.window;
    char a[32], b[32], c[32];
    fprintf(out, "  window: %s", sl__window_types[w->type]);
    if (w->type == SL_WIN_SESSION) {
        fprintf(out, " gap=%s", sl_format_duration(w->gap_ms, a, sizeof(a)));
    } else {
        fprintf(out, " size=%s", sl_format_duration(w->size_ms, a, sizeof(a)));
        if (w->type == SL_WIN_HOPPING) {
            int64_t x = w->size_ms, y = w->slide_ms;
            while (y) {
                int64_t t = x % y;
                x = y;
                y = t;
            }
            fprintf(out, " slide=%s (slices of %s, %" PRId64 " per window)",
                    sl_format_duration(w->slide_ms, b, sizeof(b)),
                    sl_format_duration(x, c, sizeof(c)), w->size_ms / x);
        }
    }
    fprintf(out, " allowed_lateness=%s\n",
            sl_format_duration(w->allowed_lateness_ms, a, sizeof(a)));
    fputs("    aggregates:", out);
    for (size_t i = 0; i < w->naggs; i++) {
        const sl_agg_def *g = &w->aggs[i];
        fprintf(out, "%s %s=%s(%s)", i ? "," : "", g->name, sl__agg_fns[g->fn],
                g->field  ? g->field
                : g->expr ? g->expr
                          : "");
    }
    fputs("\n    reads: ", out);
    for (uint32_t i = 0; i < w->ncolumns; i++)
        fprintf(out, "%s%s", i ? ", " : "", w->columns[i]);
    fprintf(out, "%s(%u numeric column%s)\n", w->ncolumns ? " " : "", w->ncolumns,
            w->ncolumns == 1 ? "" : "s");
}
