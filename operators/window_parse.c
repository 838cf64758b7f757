/*
 * window_parse.c - the window stage's definition side:
 *   {"window": {"type": "tumbling", "size": "1s", "allowed_lateness": "0ms"},
 *    "aggregates": {"total": {"fn": "sum", "field": "amount"}, ...}}
 * tumbling needs size; hopping needs size and slide (slide <= size);
 * session needs gap and has no size. Aggregate inputs that name the same
 * field and are decoded alike (sl_col_kind: numbers; numbers or absent;
 * value hashes; value text) share one column (first-use order).
 */
#include "op_internal.h"

#include "didyoumean.h"
#include "expr_def.h"
#include "options.h"

#include <ctype.h>
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
    {.name = "fn",
     .type = SL_OPT_STRING,
     .required = 1,
     .help = "count, sum, min, max, avg, count_distinct, median, top_k, ..."},
    {.name = "field", .type = SL_OPT_STRING},
    {.name = "expr", .type = SL_OPT_STRING, .help = "a SQL expression as the input"},
    {.name = "q", .type = SL_OPT_ANY, .help = "approx_percentile: 0.99 or [0.5, 0.99]"},
    {.name = "k", .type = SL_OPT_INT, .help = "top_k: how many items"},
    {.name = "if", .type = SL_OPT_STRING, .help = "count_if / sum_if: the SQL condition"},
    {.name = NULL}};

static const char *const sl__window_types[] = {"tumbling", "hopping", "session"};
/* In sl_agg_fn order. */
static const char *const sl__agg_fns[] = {"count",
                                          "sum",
                                          "min",
                                          "max",
                                          "avg",
                                          "first",
                                          "last",
                                          "stddev_pop",
                                          "stddev_samp",
                                          "var_pop",
                                          "var_samp",
                                          "count_distinct",
                                          "approx_count_distinct",
                                          "approx_percentile",
                                          "median",
                                          "top_k"};
#define SL__NAGG_FNS (sizeof(sl__agg_fns) / sizeof(sl__agg_fns[0]))

void sl__window_destroy(sl_stage *stage)
{
    sl_window_def *w = &stage->u.window;
    for (size_t i = 0; i < w->naggs; i++) {
        free(w->aggs[i].name);
        free(w->aggs[i].field);
        free(w->aggs[i].expr);
        if (w->agg_params)
            free(w->agg_params[i].q);
    }
    free(w->aggs);
    free(w->agg_params);
    sl_strings_free(w->columns, w->ncolumns);
    free(w->column_kind);
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

/* The column kind an aggregate function reads. */
static uint8_t sl__col_kind(int fn)
{
    switch (fn) {
    case SL_AGG_COUNT_DISTINCT:
    case SL_AGG_APPROX_COUNT_DISTINCT:
        return SL_COL_HASH;
    case SL_AGG_APPROX_PERCENTILE:
    case SL_AGG_MEDIAN:
        return SL_COL_NUM_OPT;
    case SL_AGG_TOP_K:
        return SL_COL_TEXT;
    default:
        return SL_COL_NUM;
    }
}

/* "q" and "k" of the aggregate at `sub` into a. */
static int sl__agg_params(const json_t *spec, const char *sub, int fn, sl_agg_params *a,
                          char *errstr, size_t errstr_size)
{
    const json_t *q = json_object_get(spec, "q"), *k = json_object_get(spec, "k");
    if (q && fn != SL_AGG_APPROX_PERCENTILE)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.q: only approx_percentile takes \"q\"%s", sub,
                         fn == SL_AGG_MEDIAN ? " (median is q 0.5)" : "");
    if (k && fn != SL_AGG_TOP_K)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.k: only top_k takes \"k\"", sub);
    if (fn == SL_AGG_APPROX_PERCENTILE) {
        if (!q)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: approx_percentile needs \"q\", a quantile in [0, 1] or an "
                             "array of them, e.g. [0.5, 0.99]",
                             sub);
        size_t n = json_is_array(q) ? json_array_size(q) : 1;
        if (n < 1 || n > SL_AGG_MAX_Q || (!json_is_array(q) && !json_is_number(q)))
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.q: a number in [0, 1] or an array of 1 to %d of them", sub,
                             SL_AGG_MAX_Q);
        a->q = sl_xcalloc(n, sizeof(double));
        a->nq = (uint32_t)n;
        a->q_list = json_is_array(q) != 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_is_array(q) ? json_array_get(q, i) : q;
            double d = json_is_number(v) ? json_number_value(v) : -1;
            if (!json_is_number(v) || !(d >= 0 && d <= 1))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s.q: quantiles are numbers in [0, 1]", sub);
            a->q[i] = d;
        }
    }
    if (fn == SL_AGG_TOP_K) {
        json_int_t kv = k ? json_integer_value(k) : 0;
        if (!k || kv < 1 || kv > SL_AGG_TOPK_MAX)
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: top_k needs \"k\", an integer from 1 to %d", sub,
                             SL_AGG_TOPK_MAX);
        a->k = (uint32_t)kv;
    }
    return 0;
}

/* Appends `name` to buf as an expression field reference: a path as it
 * is, any other name as a quoted identifier. */
static void sl__put_field_ref(char *buf, size_t cap, const char *name)
{
    size_t at = strlen(buf);
    int plain = isalpha((unsigned char)name[0]) || name[0] == '_';
    for (const char *p = name; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || strchr("_.[]", *p) != NULL;
    if (plain) {
        snprintf(buf + at, cap - at, "%s", name);
        return;
    }
    buf[at++] = '"';
    for (const char *p = name; *p && at < cap - 3; p++) {
        if (*p == '"')
            buf[at++] = '"';
        buf[at++] = *p;
    }
    buf[at++] = '"';
    buf[at] = '\0';
}

/* count_if {"if": C} and sum_if {"field" | "expr": X, "if": C} are sums
 * of the SQL expression CASE WHEN C THEN 1 ELSE 0 END, resp. CASE WHEN C
 * THEN coalesce(X, 0) ELSE coalesce(X, 0) * 0 END (a NULL X adds nothing,
 * and the ELSE keeps X's type, so a double sum stays a double). Returns
 * SL_AGG_SUM with *expr set (a new JSON string), -1 for another function,
 * -2 on error. */
static int sl__conditional(const json_t *spec, const char *sub, json_t **expr, char *errstr,
                           size_t errstr_size)
{
    const char *fn = json_string_value(json_object_get(spec, "fn"));
    int count = fn && strcmp(fn, "count_if") == 0, sum = fn && strcmp(fn, "sum_if") == 0;
    if (!count && !sum)
        return -1;
    char path[320];
    const json_t *cond = json_object_get(spec, "if"), *field = json_object_get(spec, "field"),
                 *x = json_object_get(spec, "expr");
    if (!cond) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: %s needs \"if\": a SQL condition", sub, fn);
        return -2;
    }
    sl_path_join(path, sizeof(path), sub, "if");
    if (sl_xexpr_check_open(json_string_value(cond), path, errstr, errstr_size) != 0)
        return -2;
    if (count && (field || x)) {
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "%s: count_if takes no \"field\" or \"expr\" (it counts the events "
                  "\"if\" holds for)",
                  sub);
        return -2;
    }
    if (sum && !field == !x) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: sum_if needs one of \"field\" or \"expr\"",
                  sub);
        return -2;
    }
    char in[4096] = "";
    if (field) {
        if (sl_xexpr_text_is_expr(json_string_value(field))) {
            sl_seterr(errstr, errstr_size, SL_EINVAL,
                      "%s.field: \"%s\" is not a field name; for a computed input write "
                      "\"expr\"",
                      sub, json_string_value(field));
            return -2;
        }
        sl__put_field_ref(in, sizeof(in), json_string_value(field));
    } else if (x) {
        sl_path_join(path, sizeof(path), sub, "expr");
        if (sl_xexpr_check_open(json_string_value(x), path, errstr, errstr_size) != 0)
            return -2;
        snprintf(in, sizeof(in), "%s", json_string_value(x));
    }
    size_t n = strlen(json_string_value(cond)) + 2 * strlen(in) + 96;
    char *text = sl_xmalloc(n);
    if (count)
        snprintf(text, n, "CASE WHEN (%s) THEN 1 ELSE 0 END", json_string_value(cond));
    else
        snprintf(text, n, "CASE WHEN (%s) THEN coalesce((%s), 0) ELSE coalesce((%s), 0) * 0 END",
                 json_string_value(cond), in, in);
    *expr = json_string(text);
    free(text);
    if (!*expr) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: not UTF-8", sub);
        return -2;
    }
    return SL_AGG_SUM;
}

static int sl__aggregates_in(const json_t *aj, const char *apath, sl_window_def *w, json_t *hold,
                             char *errstr, size_t errstr_size);

/* Parses "aggregates" into w. (Expressions made up for count_if / sum_if
 * live in `hold` while they are parsed; the window keeps copies.) */
static int sl__aggregates(const json_t *aj, const char *apath, sl_window_def *w, char *errstr,
                          size_t errstr_size)
{
    json_t *hold = json_array();
    int rc = sl__aggregates_in(aj, apath, w, hold, errstr, errstr_size);
    json_decref(hold);
    return rc;
}

static int sl__aggregates_in(const json_t *aj, const char *apath, sl_window_def *w, json_t *hold,
                             char *errstr, size_t errstr_size)
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
    w->column_kind = sl_xcalloc(n, 1);
    w->agg_params = sl_xcalloc(n, sizeof(sl_agg_params));
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
        const json_t *field = json_object_get(spec, "field"), *expr = json_object_get(spec, "expr");
        json_t *cond_expr = NULL; /* count_if / sum_if, rewritten as a sum */
        int fn = sl__conditional(spec, sub, &cond_expr, errstr, errstr_size);
        if (fn == -2)
            return SL_EINVAL;
        if (fn >= 0) {
            json_array_append_new(hold, cond_expr);
            expr = cond_expr;
            field = NULL;
        } else {
            if (json_object_get(spec, "if"))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s.if: only count_if and sum_if take a condition", sub);
            fn = sl__pick(json_string_value(json_object_get(spec, "fn")), sl__agg_fns, SL__NAGG_FNS,
                          fpath, "aggregate function", errstr, errstr_size);
        }
        if (fn < 0)
            return SL_EINVAL;
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
        if ((rc = sl__agg_params(spec, sub, fn, &w->agg_params[w->naggs - 1], errstr,
                                 errstr_size)) != 0)
            return rc;
        if (field) {
            char *owned = NULL;
            const char *f = json_string_value(field);
            uint8_t kind = sl__col_kind(fn);
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
                if (strcmp(w->columns[c], f) == 0 && w->column_kind[c] == kind)
                    a->column = (int)c;
            if (a->column < 0) {
                a->column = (int)w->ncolumns;
                w->column_kind[w->ncolumns] = kind;
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
        static const sl_agg_params none;
        const sl_agg_params *pa = w->agg_params ? &w->agg_params[i] : &none;
        fprintf(out, "%s %s=%s(%s", i ? "," : "", g->name, sl__agg_fns[g->fn],
                g->field  ? g->field
                : g->expr ? g->expr
                          : "");
        for (uint32_t j = 0; j < pa->nq; j++)
            fprintf(out, "%s%g", j ? "," : pa->q_list ? ", q=[" : ", q=", pa->q[j]);
        if (pa->nq && pa->q_list)
            fputc(']', out);
        if (g->fn == SL_AGG_TOP_K)
            fprintf(out, ", k=%u", pa->k);
        fputc(')', out);
    }
    fputs("\n    reads: ", out);
    static const char *const kinds[] = {"", " as a number or absent", " as value hashes",
                                        " as value text"};
    int all_num = 1;
    for (uint32_t i = 0; i < w->ncolumns; i++) {
        uint8_t k = w->column_kind ? w->column_kind[i] : SL_COL_NUM;
        all_num &= k == SL_COL_NUM;
        fprintf(out, "%s%s%s", i ? ", " : "", w->columns[i], kinds[k <= SL_COL_TEXT ? k : 0]);
    }
    fprintf(out, "%s(%u %s column%s)\n", w->ncolumns ? " " : "", w->ncolumns,
            all_num ? "numeric" : "input", w->ncolumns == 1 ? "" : "s");
}
