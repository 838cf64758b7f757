/*
 * ingest_plan.c - builds the decoder of a pipeline (see ingest.c, design
 * notes 1 and 5): the symbolic schema through map stages, the projection
 * slots, the steps in pipeline order, key member prefixes, and the names
 * of repartition records. Control path only.
 */
#include "ingest_internal.h"

#include "expr_def.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- symbolic schema of the pipeline ------------------------------------ */

/* Index of `name` in the schema, or -1 (then it is an input field if the
 * schema passes unmentioned names through). */
static long sl__schema_find(const sl__schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->cur[i], name) == 0)
            return (long)i;
    return -1;
}

/* The input field `name` stands for, or NULL (removed or computed). */
static const char *sl__schema_resolve(const sl__schema *s, const char *name)
{
    long i = sl__schema_find(s, name);
    if (i >= 0)
        return s->in[i];
    return s->passthrough ? name : NULL;
}

/* Whether `name` exists: *in (input field) or *cslot (computed: its slot,
 * or -2 when computed but not evaluated here) set. */
static int sl__schema_lookup(const sl__schema *s, const char *name, const char **in, int *cslot)
{
    long i = sl__schema_find(s, name);
    *in = NULL;
    *cslot = -1;
    if (i < 0) {
        *in = s->passthrough ? name : NULL;
        return *in != NULL;
    }
    *in = s->in[i];
    *cslot = s->cslot[i];
    return *in != NULL || *cslot != -1;
}

static void sl__schema_put(sl__schema *s, const char *cur, const char *in, int cslot)
{
    long i = sl__schema_find(s, cur);
    if (i >= 0) {
        s->in[i] = in;
        s->cslot[i] = cslot;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->cur = sl_xrealloc(s->cur, s->cap * sizeof(*s->cur));
        s->in = sl_xrealloc(s->in, s->cap * sizeof(*s->in));
        s->cslot = sl_xrealloc(s->cslot, s->cap * sizeof(*s->cslot));
    }
    s->cur[s->n] = cur;
    s->in[s->n] = in;
    s->cslot[s->n] = cslot;
    s->n++;
}

static void sl__schema_free(sl__schema *s)
{
    free(s->cur);
    free(s->in);
    free(s->cslot);
    memset(s, 0, sizeof(*s));
}

/* keep, drop and rename of map `m` (its set is added by the caller). */
static void sl__schema_apply_map(sl__schema *s, const sl_map_def *m)
{
    if (m->nkeep) {
        sl__schema kept = {0};
        for (size_t i = 0; i < m->nkeep; i++) {
            const char *in;
            int cs;
            sl__schema_lookup(s, m->keep[i], &in, &cs);
            sl__schema_put(&kept, m->keep[i], in, cs);
        }
        sl__schema_free(s);
        *s = kept; /* passthrough = 0 */
    }
    for (size_t i = 0; i < m->ndrop; i++)
        sl__schema_put(s, m->drop[i], NULL, -1);
    if (m->nrename) {
        /* simultaneous: resolve every source before changing anything */
        const char **src = sl_xcalloc(m->nrename, sizeof(*src));
        int *cs = sl_xcalloc(m->nrename, sizeof(*cs));
        for (size_t i = 0; i < m->nrename; i++)
            sl__schema_lookup(s, m->rename_from[i], &src[i], &cs[i]);
        for (size_t i = 0; i < m->nrename; i++)
            sl__schema_put(s, m->rename_from[i], NULL, -1);
        for (size_t i = 0; i < m->nrename; i++)
            sl__schema_put(s, m->rename_to[i], src[i], cs[i]);
        free(src);
        free(cs);
    }
}

/* ---- the compiled ingest --------------------------------------------------- */

static char *sl__member_json(const char *name, int comma, size_t *len)
{
    size_t n = strlen(name);
    char *m = sl_xmalloc(6 * n + 5);
    size_t at = 0;
    if (comma)
        m[at++] = ',';
    m[at++] = '"';
    at += sl_json_escape(name, n, m + at);
    m[at++] = '"';
    m[at++] = ':';
    m[at] = '\0';
    *len = at;
    return m;
}

static int sl__slot(sl_ingest *ing, const char *input_name)
{
    for (size_t i = 0; i < ing->nslots; i++)
        if (strcmp(ing->names[i], input_name) == 0)
            return (int)i;
    ing->names = sl_xrealloc(ing->names, (ing->nslots + 1) * sizeof(*ing->names));
    ing->names[ing->nslots] = sl_xstrdup(input_name);
    return (int)ing->nslots++;
}

static int sl__path_slot(sl_ingest *ing, const sl__schema *schema, const char *path);

typedef struct sl__resolve_ctx {
    sl_ingest *ing;
    const sl__schema *schema;
} sl__resolve_ctx;

static int sl__resolve_filter_field(void *ctx, const char *field)
{
    sl__resolve_ctx *rc = ctx;
    int slot = sl__path_slot(rc->ing, rc->schema, field);
    return slot >= 0 ? slot : -1;
}

/* A new derived slot (design note 7). */
static int sl__derive(sl_ingest *ing, sl__derived_kind kind, int parent, const char *path)
{
    ing->der = sl_xrealloc(ing->der, (ing->nder + 1) * sizeof(*ing->der));
    sl__derived *d = &ing->der[ing->nder];
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    d->parent = parent;
    d->path = path ? sl_xstrdup(path) : NULL;
    return SL__DERIVED_BASE + (int)ing->nder++;
}

/* The slot of field path `path` ("amount", "device.id", "tags[2]") as
 * the stage with `schema` sees it: the first segment through the schema,
 * the rest as derived member / element slots. -1 if it does not exist;
 * -2 if it is computed but not evaluated in this mode. */
static int sl__path_slot(sl_ingest *ing, const sl__schema *schema, const char *path)
{
    size_t h = sl_xexpr_path_head(path);
    char *head = sl_xmalloc(h + 1);
    memcpy(head, path, h);
    head[h] = '\0';
    const char *in;
    int cs, slot;
    int ok = sl__schema_lookup(schema, head, &in, &cs);
    if (ok && in)
        slot = sl__slot(ing, in);
    else
        slot = ok ? cs : -1;
    free(head);
    const char *p = path + h;
    while (slot >= 0 && *p) {
        /* one more segment: ".name" or "[N]" */
        const char *q = p + 1;
        size_t n = 0;
        if (*p == '[') {
            while (q[n] && q[n] != ']')
                n++;
        } else {
            while (q[n] && q[n] != '.' && q[n] != '[')
                n++;
        }
        const char *next = q + n + (*p == '[' && q[n] == ']');
        size_t upto = (size_t)(next - path);
        int found = -1;
        for (size_t d = 0; d < ing->nder && found < 0; d++)
            if (ing->der[d].path && ing->der[d].parent == slot &&
                strlen(ing->der[d].path) == upto && memcmp(ing->der[d].path, path, upto) == 0)
                found = SL__DERIVED_BASE + (int)d;
        if (found < 0) {
            char *sub = sl_xmalloc(upto + 1);
            memcpy(sub, path, upto);
            sub[upto] = '\0';
            if (*p == '[') {
                found = sl__derive(ing, SL__DER_INDEX, slot, sub);
                ing->der[found - SL__DERIVED_BASE].index = (size_t)strtoull(q, NULL, 10);
            } else {
                char *name = sl_xmalloc(n + 1);
                memcpy(name, q, n);
                name[n] = '\0';
                found = sl__derive(ing, SL__DER_MEMBER, slot, sub);
                const char *names[1] = {name};
                ing->der[found - SL__DERIVED_BASE].member = sl_json_fields_new(names, 1);
                free(name);
            }
            free(sub);
        }
        slot = found;
        p = next;
    }
    return slot;
}

/* 0 if the first segment of `path` exists in `schema`, else -1. */
static int sl__path_exists(const sl__schema *schema, const char *path)
{
    size_t h = sl_xexpr_path_head(path);
    char *head = sl_xmalloc(h + 1);
    memcpy(head, path, h);
    head[h] = '\0';
    const char *in;
    int cs;
    int ok = sl__schema_lookup(schema, head, &in, &cs);
    free(head);
    return ok ? 0 : -1;
}

typedef struct sl__xresolve_ctx {
    sl_ingest *ing;
    const sl__schema *schema;
} sl__xresolve_ctx;

static int sl__xresolve(void *ctx, const char *path, sl_type *type)
{
    sl__xresolve_ctx *c = ctx;
    *type = SL_T_MISSING;
    int slot = sl__path_slot(c->ing, c->schema, path);
    return slot >= 0 ? slot : -1;
}

/* Compiles expression `text` as the stage with `schema` sees its fields.
 * NULL with errstr ("PATH: ...") on error. */
static sl_xexpr *sl__compile_x(sl_ingest *ing, const sl__schema *schema, const char *text,
                               const char *path, char *errstr, size_t errstr_size)
{
    sl__xresolve_ctx c = {ing, schema};
    sl_xenv env = {.resolve = sl__xresolve, .ctx = &c};
    return sl_xexpr_compile_at(text, &env, path, errstr, errstr_size);
}

/* The slot holding expression `text` (a derived one unless it is a bare
 * field); -1 with errstr on error. */
static int sl__expr_slot(sl_ingest *ing, const sl__schema *schema, const char *text,
                         const char *path, char *errstr, size_t errstr_size)
{
    sl_xexpr *x = sl__compile_x(ing, schema, text, path, errstr, errstr_size);
    if (!x)
        return -1;
    int slot;
    if (sl_xexpr_is_field(x, &slot)) {
        sl_xexpr_free(x);
        return slot;
    }
    slot = sl__derive(ing, SL__DER_EXPR, -1, NULL);
    ing->der[slot - SL__DERIVED_BASE].x = x;
    return slot;
}

static void sl__add_step(sl_ingest *ing, sl__step_kind kind, sl_filter *f)
{
    ing->steps = sl_xrealloc(ing->steps, (ing->nsteps + 1) * sizeof(*ing->steps));
    memset(&ing->steps[ing->nsteps], 0, sizeof(ing->steps[ing->nsteps]));
    ing->steps[ing->nsteps].kind = kind;
    ing->steps[ing->nsteps].filter = f;
    ing->nsteps++;
}

static int sl__in_list(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* Names of the repartition record: see design note 5. key_in/col_in are
 * the input fields of each key field / column. */
static void sl__repartition_names(sl_ingest *ing, const char *const *key_in,
                                  const char *const *col_in)
{
    const sl_window_def *w = ing->def->window;
    char **keys = ing->def->key_by ? ing->def->key_by->u.key_by.fields : NULL;
    size_t nkeys = ing->nkeys;
    ing->col_member = sl_xcalloc(ing->ncols ? ing->ncols : 1, sizeof(*ing->col_member));
    ing->col_in_key = sl_xcalloc(ing->ncols ? ing->ncols : 1, 1);
    char **taken = sl_xcalloc(nkeys + ing->ncols + 1, sizeof(*taken));
    size_t ntaken = 0;
    for (size_t k = 0; k < nkeys; k++)
        taken[ntaken++] = sl_xstrdup(keys[k]);
    for (uint32_t c = 0; c < ing->ncols; c++) {
        const char *name = w->columns[c];
        size_t k = 0;
        while (k < nkeys && strcmp(keys[k], name) != 0)
            k++;
        if (k < nkeys && key_in && col_in && key_in[k] && col_in[c] &&
            strcmp(key_in[k], col_in[c]) == 0) {
            ing->col_in_key[c] = 1;
            continue;
        }
        char *unique = sl_xstrdup(name);
        while (sl__in_list(taken, ntaken, unique)) {
            char *longer = sl_xmalloc(strlen(unique) + 2);
            longer[0] = '_';
            strcpy(longer + 1, unique);
            free(unique);
            unique = longer;
        }
        taken[ntaken++] = unique;
        ing->col_member[c].json = sl__member_json(unique, 1, &ing->col_member[c].len);
    }
    char *ts = sl_xstrdup("ts");
    while (sl__in_list(taken, ntaken, ts)) {
        char *longer = sl_xmalloc(strlen(ts) + 2);
        longer[0] = '_';
        strcpy(longer + 1, ts);
        free(ts);
        ts = longer;
    }
    ing->ts_member.json = sl__member_json(ts, nkeys > 0, &ing->ts_member.len);
    /* the member name without the leading comma/quote is needed to decode */
    free(ts);
    for (size_t i = 0; i < ntaken; i++)
        free(taken[i]);
    free(taken);
}

/* The plain name of a member prefix ("\"x\":" or ",\"x\":"), unescaped. */
static char *sl__member_name(const sl__member *m)
{
    const char *s = m->json + (m->json[0] == ',' ? 2 : 1);
    size_t raw = m->len - (size_t)(s - m->json) - 2;
    char *out = sl_xmalloc(raw + 1);
    size_t n = sl_json_unescape(s, raw, out);
    out[n] = '\0';
    return out;
}

int sl__ingest_compile(sl_ingest *ing, char *errstr, size_t errstr_size)
{
    const sl_def *def = ing->def;
    const sl_window_def *w = def->window;
    sl__schema schema = {0};
    schema.passthrough = 1;
    const char **key_in = NULL, **col_in = NULL;
    int rc = 0;

    ing->nkeys = def->key_by ? def->key_by->u.key_by.nfields : 0;
    ing->ncols = w ? w->ncolumns : 0;
    ing->key_slot = sl_xcalloc(ing->nkeys ? ing->nkeys : 1, sizeof(*ing->key_slot));
    ing->key_member = sl_xcalloc(ing->nkeys ? ing->nkeys : 1, sizeof(*ing->key_member));
    ing->col_slot = sl_xcalloc(ing->ncols ? ing->ncols : 1, sizeof(*ing->col_slot));
    ing->col_kind = sl_xcalloc(ing->ncols ? ing->ncols : 1, 1);
    ing->ctext_off = sl_xcalloc(ing->ncols ? ing->ncols : 1, sizeof(*ing->ctext_off));
    ing->ctext_len = sl_xcalloc(ing->ncols ? ing->ncols : 1, sizeof(*ing->ctext_len));
    for (uint32_t c = 0; c < ing->ncols; c++) {
        ing->col_kind[c] = w->column_kind ? w->column_kind[c] : SL_COL_NUM;
        ing->has_value_cols |= ing->col_kind[c] == SL_COL_HASH || ing->col_kind[c] == SL_COL_TEXT;
        ing->has_text_cols |= ing->col_kind[c] == SL_COL_TEXT;
        ing->has_other_cols |= ing->col_kind[c] != SL_COL_NUM;
    }
    key_in = sl_xcalloc(ing->nkeys + 1, sizeof(*key_in));
    col_in = sl_xcalloc(ing->ncols + 1, sizeof(*col_in));
    ing->time_slot = -1;
    ing->unit = def->event_time.unit;
    /* Repartitioned records were checked by the stage that produced them. */
    ing->max_future_ms = ing->mode == SL_INGEST_RAW ? def->watermark.max_future_ms : -1;
    ing->future_limit = ing->max_future_ms < 0 ? INT64_MAX : INT64_MIN;

    for (size_t k = 0; k < ing->nkeys; k++) {
        const char *name = def->key_by->u.key_by.fields[k];
        ing->key_member[k].json = sl__member_json(name, k > 0, &ing->key_member[k].len);
        ing->key_fixed += ing->key_member[k].len;
    }

    /* Walk the pipeline (always, to know each key field's and column's
     * input field; only RAW mode uses filters, expressions and the time
     * field). In RAW mode key and column slots are assigned here. */
    int raw = ing->mode == SL_INGEST_RAW;
    int saw_window = 0;
    char sub[320];
    for (size_t i = 0; i < def->nstages && i <= sl_def_runtime_stage(def) && rc == 0; i++) {
        const sl_stage *st = &def->stages[i];
        switch (st->kind) {
        case SL_STAGE_FILTER:
            if (!raw)
                break;
            if (st->u.filter->kind == SL_EXPR_SQL) {
                sl_path_join(sub, sizeof(sub), st->path, "filter");
                sl_xexpr *x =
                    sl__compile_x(ing, &schema, st->u.filter->sql, sub, errstr, errstr_size);
                if (!x) {
                    rc = SL_EINVAL;
                    break;
                }
                sl__add_step(ing, SL__STEP_XFILTER, NULL);
                ing->steps[ing->nsteps - 1].x = x;
            } else {
                sl__resolve_ctx ctx = {ing, &schema};
                sl_filter *f = sl_filter_compile(st->u.filter, sl__resolve_filter_field, &ctx);
                if (!f) {
                    rc = sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", st->path);
                    break;
                }
                sl__add_step(ing, SL__STEP_FILTER, f);
            }
            break;
        case SL_STAGE_MAP: {
            const sl_map_def *m = &st->u.map;
            int *cs = sl_xcalloc(m->nset + 1, sizeof(int));
            for (size_t k = 0; k < m->nset && rc == 0; k++) {
                snprintf(sub, sizeof(sub), "%s.map.set.%s", st->path, m->set_name[k]);
                cs[k] = raw ? sl__expr_slot(ing, &schema, m->set_expr[k], sub, errstr, errstr_size)
                            : -2;
                if (cs[k] == -1)
                    rc = SL_EINVAL;
            }
            sl__schema_apply_map(&schema, m);
            for (size_t k = 0; k < m->nset && rc == 0; k++)
                sl__schema_put(&schema, m->set_name[k], NULL, cs[k]);
            free(cs);
            break;
        }
        case SL_STAGE_KEY_BY:
            if (st != def->key_by)
                break;
            for (size_t k = 0; k < ing->nkeys && rc == 0; k++) {
                const char *f = st->u.key_by.fields[k];
                snprintf(sub, sizeof(sub), "%s.key_by[%zu]", st->path, k);
                if (st->u.key_by.exprs && st->u.key_by.exprs[k]) {
                    if (raw &&
                        (ing->key_slot[k] = sl__expr_slot(ing, &schema, st->u.key_by.exprs[k], sub,
                                                          errstr, errstr_size)) < 0)
                        rc = SL_EINVAL;
                    continue;
                }
                int slot = raw ? sl__path_slot(ing, &schema, f) : sl__path_exists(&schema, f);
                if (slot == -1) {
                    rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                                   "%s.key_by: field \"%s\" was removed by an earlier map",
                                   st->path, f);
                    break;
                }
                ing->key_slot[k] = slot;
                key_in[k] = sl__schema_resolve(&schema, f);
            }
            sl__add_step(ing, SL__STEP_KEY, NULL);
            break;
        case SL_STAGE_WINDOW:
            for (uint32_t c = 0; c < ing->ncols && rc == 0; c++) {
                const char *f = w->columns[c];
                snprintf(sub, sizeof(sub), "%s.aggregates", st->path);
                if (f[0] == '=') {
                    if (raw && (ing->col_slot[c] = sl__expr_slot(ing, &schema, f + 1, sub, errstr,
                                                                 errstr_size)) < 0)
                        rc = SL_EINVAL;
                    continue;
                }
                int slot = raw ? sl__path_slot(ing, &schema, f) : sl__path_exists(&schema, f);
                if (slot == -1) {
                    rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                                   "%s.aggregates: field \"%s\" was removed by an earlier map",
                                   st->path, f);
                    break;
                }
                ing->col_slot[c] = slot;
                col_in[c] = sl__schema_resolve(&schema, f);
            }
            sl__add_step(ing, SL__STEP_TIME, NULL);
            sl__add_step(ing, SL__STEP_COLS, NULL);
            saw_window = 1;
            break;
        default: /* runs on the workers (never before the window) */
            break;
        }
    }
    if (rc == 0 && !saw_window)
        sl__add_step(ing, SL__STEP_TIME, NULL);
    if (rc == 0 && ing->mode == SL_INGEST_REPARTITIONED && !def->window)
        rc = sl_seterr(errstr, errstr_size, SL_EINVAL, "repartitioned input needs a window stage");
    if (rc != 0)
        goto out;

    if (ing->mode == SL_INGEST_RAW) {
        if (def->event_time.field && def->event_time.unit != SL_TIME_KAFKA)
            ing->time_slot = sl__slot(ing, def->event_time.field);
    }
    sl__repartition_names(ing, key_in, col_in);
    if (ing->mode == SL_INGEST_REPARTITIONED) {
        /* the record's own member names */
        for (size_t k = 0; k < ing->nkeys; k++)
            ing->key_slot[k] = sl__slot(ing, def->key_by->u.key_by.fields[k]);
        for (uint32_t c = 0; c < ing->ncols; c++) {
            if (ing->col_in_key[c]) {
                size_t k = 0;
                while (strcmp(def->key_by->u.key_by.fields[k], w->columns[c]) != 0)
                    k++;
                ing->col_slot[c] = ing->key_slot[k];
            } else {
                char *name = sl__member_name(&ing->col_member[c]);
                ing->col_slot[c] = sl__slot(ing, name);
                free(name);
            }
        }
        char *ts = sl__member_name(&ing->ts_member);
        ing->time_slot = sl__slot(ing, ts);
        free(ts);
        ing->unit = SL_TIME_MS;
    }

    if (ing->nslots > SL_JSON_MAX_FIELDS) {
        rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                       "the pipeline reads %zu distinct fields; at most %d are supported",
                       ing->nslots, SL_JSON_MAX_FIELDS);
        goto out;
    }
    ing->fields = sl_json_fields_new((const char *const *)ing->names, ing->nslots);
    ing->vals = sl_xcalloc(ing->nslots + 1, sizeof(*ing->vals));
    ing->fvals = sl_xcalloc(SL__DERIVED_BASE + ing->nder + 1, sizeof(*ing->fvals));
    ing->val_gen = sl_xcalloc(SL__DERIVED_BASE + ing->nder + 1, sizeof(*ing->val_gen));
    ing->row_vals = sl_xcalloc(ing->ncols + 1, sizeof(*ing->row_vals));
    ing->dec_gen = sl_xcalloc(ing->nslots + 1, sizeof(*ing->dec_gen));
    ing->dec_ptr = sl_xcalloc(ing->nslots + 1, sizeof(*ing->dec_ptr));
    ing->dec_len = sl_xcalloc(ing->nslots + 1, sizeof(*ing->dec_len));
    if (!ing->fields) {
        rc = sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
        goto out;
    }

    ing->render_rows = def->window == NULL; /* RAW only: REPARTITIONED needs a window */
    if (ing->render_rows) {
        ing->final = schema;
        memset(&schema, 0, sizeof(schema));
        ing->out_member = sl_xcalloc(ing->final.n + 1, sizeof(*ing->out_member));
        for (size_t i = 0; i < ing->final.n; i++)
            if (ing->final.in[i] || ing->final.cslot[i] >= 0)
                ing->out_member[i].json =
                    sl__member_json(ing->final.cur[i], 0, &ing->out_member[i].len);
    }
    ing->empty_key_hash = sl_hash64("", 0);
    ing->hash = ing->empty_key_hash; /* the key when there is no key_by */
out:
    sl__schema_free(&schema);
    free(key_in);
    free(col_in);
    return rc;
}

sl_ingest *sl_ingest_new(const sl_def *def, sl_ingest_mode mode, char *errstr, size_t errstr_size)
{
    sl_ingest *ing = sl_xcalloc(1, sizeof(*ing));
    ing->def = def;
    ing->mode = mode;
    if (sl__ingest_compile(ing, errstr, errstr_size) != 0) {
        sl_ingest_free(ing);
        return NULL;
    }
    return ing;
}

void sl_ingest_free(sl_ingest *ing)
{
    if (!ing)
        return;
    for (size_t i = 0; i < ing->nslots; i++)
        free(ing->names[i]);
    free(ing->names);
    sl_json_fields_free(ing->fields);
    free(ing->vals);
    free(ing->fvals);
    for (size_t i = 0; i < ing->nsteps; i++) {
        sl_filter_free(ing->steps[i].filter);
        sl_xexpr_free(ing->steps[i].x);
    }
    for (size_t d = 0; d < ing->nder; d++) {
        free(ing->der[d].path);
        sl_json_fields_free(ing->der[d].member);
        sl_xexpr_free(ing->der[d].x);
    }
    free(ing->der);
    free(ing->val_gen);
    sl_xscratch_free(&ing->xs);
    free(ing->steps);
    for (size_t k = 0; k < ing->nkeys; k++)
        free(ing->key_member[k].json);
    free(ing->key_member);
    free(ing->key_slot);
    free(ing->col_slot);
    free(ing->col_kind);
    free(ing->ctext);
    free(ing->ctext_off);
    free(ing->ctext_len);
    for (uint32_t c = 0; ing->col_member && c < ing->ncols; c++)
        free(ing->col_member[c].json);
    free(ing->col_member);
    free(ing->col_in_key);
    free(ing->ts_member.json);
    if (ing->out_member)
        for (size_t i = 0; i < ing->final.n; i++)
            free(ing->out_member[i].json);
    free(ing->out_member);
    sl__schema_free(&ing->final);
    free(ing->row_vals);
    free(ing->key);
    free(ing->row);
    free(ing->scratch);
    free(ing->dec_gen);
    free(ing->dec_ptr);
    free(ing->dec_len);
    free(ing);
}

uint32_t sl_ingest_ncolumns(const sl_ingest *ing)
{
    return ing->ncols;
}
