/*
 * ingest_plan.c - builds the decoder of a pipeline (see ingest.c, design
 * notes 1 and 5): the symbolic schema through map stages, the projection
 * slots, the steps in pipeline order, key member prefixes, and the names
 * of repartition records. Control path only.
 */
#include "ingest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- symbolic schema of the pipeline ------------------------------------ */

static const char *sl__schema_resolve(const sl__schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->cur[i], name) == 0)
            return s->in[i];
    return s->passthrough ? name : NULL;
}

static void sl__schema_set(sl__schema *s, const char *cur, const char *in)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->cur[i], cur) == 0) {
            s->in[i] = in;
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->cur = sl_xrealloc(s->cur, s->cap * sizeof(*s->cur));
        s->in = sl_xrealloc(s->in, s->cap * sizeof(*s->in));
    }
    s->cur[s->n] = cur;
    s->in[s->n] = in;
    s->n++;
}

static void sl__schema_apply_map(sl__schema *s, const sl_map_def *m)
{
    if (m->nkeep) {
        sl__schema kept = {0};
        for (size_t i = 0; i < m->nkeep; i++)
            sl__schema_set(&kept, m->keep[i], sl__schema_resolve(s, m->keep[i]));
        free(s->cur);
        free(s->in);
        *s = kept; /* passthrough = 0 */
    }
    for (size_t i = 0; i < m->ndrop; i++)
        sl__schema_set(s, m->drop[i], NULL);
    if (m->nrename) {
        /* simultaneous: resolve every source before changing anything */
        const char **src = sl_xcalloc(m->nrename, sizeof(*src));
        for (size_t i = 0; i < m->nrename; i++)
            src[i] = sl__schema_resolve(s, m->rename_from[i]);
        for (size_t i = 0; i < m->nrename; i++)
            sl__schema_set(s, m->rename_from[i], NULL);
        for (size_t i = 0; i < m->nrename; i++)
            sl__schema_set(s, m->rename_to[i], src[i]);
        free(src);
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

typedef struct sl__resolve_ctx {
    sl_ingest *ing;
    const sl__schema *schema;
} sl__resolve_ctx;

static int sl__resolve_filter_field(void *ctx, const char *field)
{
    sl__resolve_ctx *rc = ctx;
    const char *in = sl__schema_resolve(rc->schema, field);
    return in ? sl__slot(rc->ing, in) : -1;
}

static void sl__add_step(sl_ingest *ing, sl__step_kind kind, sl_filter *f)
{
    ing->steps = sl_xrealloc(ing->steps, (ing->nsteps + 1) * sizeof(*ing->steps));
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
     * input field; only RAW mode uses filters and the time field). */
    int saw_window = 0;
    for (size_t i = 0; i < def->nstages && i <= sl_def_runtime_stage(def) && rc == 0; i++) {
        const sl_stage *st = &def->stages[i];
        switch (st->kind) {
        case SL_STAGE_FILTER:
            if (ing->mode == SL_INGEST_RAW) {
                sl__resolve_ctx ctx = {ing, &schema};
                sl_filter *f = sl_filter_compile(st->u.filter, sl__resolve_filter_field, &ctx);
                if (!f) {
                    rc = sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", st->path);
                    break;
                }
                sl__add_step(ing, SL__STEP_FILTER, f);
            }
            break;
        case SL_STAGE_MAP:
            sl__schema_apply_map(&schema, &st->u.map);
            break;
        case SL_STAGE_KEY_BY:
            if (st != def->key_by)
                break;
            for (size_t k = 0; k < ing->nkeys; k++) {
                key_in[k] = sl__schema_resolve(&schema, st->u.key_by.fields[k]);
                if (!key_in[k]) {
                    rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                                   "%s.key_by: field \"%s\" was removed by an earlier map",
                                   st->path, st->u.key_by.fields[k]);
                    break;
                }
            }
            sl__add_step(ing, SL__STEP_KEY, NULL);
            break;
        case SL_STAGE_WINDOW:
            for (uint32_t c = 0; c < ing->ncols; c++) {
                col_in[c] = sl__schema_resolve(&schema, w->columns[c]);
                if (!col_in[c]) {
                    rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                                   "%s.aggregates: field \"%s\" was removed by an earlier map",
                                   st->path, w->columns[c]);
                    break;
                }
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
        for (size_t k = 0; k < ing->nkeys; k++)
            ing->key_slot[k] = sl__slot(ing, key_in[k]);
        for (uint32_t c = 0; c < ing->ncols; c++)
            ing->col_slot[c] = sl__slot(ing, col_in[c]);
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
    ing->fvals = sl_xcalloc(ing->nslots + 1, sizeof(*ing->fvals));
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
            if (ing->final.in[i])
                ing->out_member[i].json =
                    sl__member_json(ing->final.cur[i], 0, &ing->out_member[i].len);
    }
    ing->empty_key_hash = sl_hash64("", 0);
    ing->hash = ing->empty_key_hash; /* the key when there is no key_by */
out:
    free(schema.cur);
    free(schema.in);
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
    for (size_t i = 0; i < ing->nsteps; i++)
        sl_filter_free(ing->steps[i].filter);
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
    free(ing->final.cur);
    free(ing->final.in);
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
