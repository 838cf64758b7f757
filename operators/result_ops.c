/*
 * result_ops.c - filter and map: their vtables, and their runtime side on a
 * window's result rows (stages after a window; operator.h). Before a window
 * the planner fuses them into the decoder (engine/ingest) instead, so there
 * these hooks are not used.
 *
 * A result row is a flat JSON object (key fields, window_start,
 * window_end, aggregates). filter passes the rows its expression holds for
 * (the same rules as on events: filter.h); map keeps, drops and renames
 * fields (in that order, renames all at once), keeping the others in
 * place; as before a window, a field renamed to the name of another
 * replaces it (in the renamed field's place). The message key of
 * a result (the key fields) is not changed by either.
 *
 * @locality: one instance per task, used by one worker thread at a time.
 */
#include "filter.h"
#include "op_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- shared: an output batch handed on at the end of each call -------- */

typedef struct sl__rop {
    const sl_stage *stage;
    sl_batch *out;
    /* filter */
    sl_filter *filter;
    const char **fields; /* slot -> field name */
    size_t nfields;
    sl_value *slots;
} sl__rop;

static void sl__rop_flush(sl__rop *o, const sl_op_out *out)
{
    if (o->out->count)
        out->emit(out->ctx, o->out);
    sl_batch_reset(o->out);
}

/* Appends row i of `in` with value `row` to the output, handing on full
 * batches. */
static void sl__rop_put(sl__rop *o, const sl_batch *in, uint32_t i, const char *row,
                        size_t row_len, const sl_op_out *out)
{
    uint32_t kl;
    const char *key = sl_batch_key(in, i, &kl);
    if (sl_batch_add_result(o->out, key, kl, row, row_len, in->ts[i], in->offset[i]) != SL_OK) {
        sl__rop_flush(o, out); /* its arena is full: hand on and retry once */
        if (sl_batch_add_result(o->out, key, kl, row, row_len, in->ts[i], in->offset[i]) != SL_OK)
            abort(); /* one row larger than 4 GiB: cannot happen */
    }
    if (o->out->count == o->out->capacity)
        sl__rop_flush(o, out);
}

static void sl__rop_watermark(void *op, int64_t watermark, const sl_op_out *out)
{
    (void)op, (void)watermark, (void)out; /* stateless: nothing pending */
}

static void sl__rop_close(void *op)
{
    sl__rop *o = op;
    if (!o)
        return;
    sl_filter_free(o->filter);
    free(o->fields);
    free(o->slots);
    sl_batch_free(o->out);
    free(o);
}

static sl__rop *sl__rop_new(const sl_stage *stage, const sl_op_env *env)
{
    sl__rop *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->stage = stage;
    o->out = sl_batch_new(SL_MSG_RESULTS, env->task, 1024, 0);
    if (!o->out) {
        free(o);
        return NULL;
    }
    return o;
}

/* ---- filter ------------------------------------------------------------ */

static int sl__rop_resolve(void *ctx, const char *field)
{
    sl__rop *o = ctx;
    for (size_t i = 0; i < o->nfields; i++)
        if (strcmp(o->fields[i], field) == 0)
            return (int)i;
    const char **f = realloc(o->fields, (o->nfields + 1) * sizeof(*f));
    if (!f)
        return -1;
    o->fields = f;
    o->fields[o->nfields] = field;
    return (int)o->nfields++;
}

static void *sl__filter_open(const sl_stage *stage, const sl_op_env *env, char *errstr,
                             size_t errstr_size)
{
    sl__rop *o = sl__rop_new(stage, env);
    if (o)
        o->filter = sl_filter_compile(stage->u.filter, sl__rop_resolve, o);
    if (o && o->filter)
        o->slots = calloc(o->nfields + 1, sizeof(*o->slots));
    if (!o || !o->filter || !o->slots) {
        sl__rop_close(o);
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", stage->path);
        return NULL;
    }
    return o;
}

/* A JSON value as a filter sees it (a borrowed string). */
static sl_value sl__rop_value(const json_t *v)
{
    sl_value x = {.type = SL_T_MISSING};
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        x.type = SL_T_INT;
        x.i = (int64_t)json_integer_value(v);
        break;
    case JSON_REAL:
        x.type = SL_T_DOUBLE;
        x.d = json_real_value(v);
        break;
    case JSON_STRING:
        x.type = SL_T_STRING;
        x.s = json_string_value(v);
        x.len = json_string_length(v);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        x.type = SL_T_BOOL;
        x.i = json_is_true(v);
        break;
    case JSON_NULL:
        x.type = SL_T_NULL;
        break;
    default:
        x.type = SL_T_OTHER;
        break;
    }
    return x;
}

static void sl__filter_process(void *op, const sl_batch *in, const sl_op_out *out)
{
    sl__rop *o = op;
    for (uint32_t i = 0; i < in->count; i++) {
        uint32_t len;
        const char *row = sl_batch_row(in, i, &len);
        json_t *obj = json_loadb(row, len, 0, NULL);
        for (size_t k = 0; k < o->nfields; k++) {
            const json_t *v = obj ? json_object_get(obj, o->fields[k]) : NULL;
            o->slots[k] = v ? sl__rop_value(v) : (sl_value){.type = SL_T_MISSING};
        }
        int pass = sl_filter_eval(o->filter, o->slots);
        json_decref(obj);
        if (pass)
            sl__rop_put(o, in, i, row, len, out);
    }
    sl__rop_flush(o, out);
}

const sl_operator_ops sl_op_filter = {
    .name = "filter",
    .init = sl__filter_init,
    .explain = sl__filter_explain,
    .destroy = sl__filter_destroy,
    .open = sl__filter_open,
    .process = sl__filter_process,
    .watermark = sl__rop_watermark,
    .close = sl__rop_close,
};

/* ---- map --------------------------------------------------------------- */

static void *sl__map_open(const sl_stage *stage, const sl_op_env *env, char *errstr,
                          size_t errstr_size)
{
    sl__rop *o = sl__rop_new(stage, env);
    if (!o)
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", stage->path);
    return o;
}

static int sl__in(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return (int)i;
    return -1;
}

static void sl__map_process(void *op, const sl_batch *in, const sl_op_out *out)
{
    sl__rop *o = op;
    const sl_map_def *m = &o->stage->u.map;
    for (uint32_t i = 0; i < in->count; i++) {
        uint32_t len;
        const char *row = sl_batch_row(in, i, &len);
        json_t *obj = json_loadb(row, len, 0, NULL);
        json_t *res = obj ? json_object() : NULL;
        const char *name;
        json_t *v;
        json_object_foreach(obj, name, v)
        {
            if (m->nkeep && sl__in(m->keep, m->nkeep, name) < 0)
                continue;
            if (sl__in(m->drop, m->ndrop, name) >= 0)
                continue;
            int r = sl__in(m->rename_from, m->nrename, name);
            if (r < 0 && sl__in(m->rename_to, m->nrename, name) >= 0)
                continue; /* renamed over: the renamed field replaces it */
            json_object_set(res, r >= 0 ? m->rename_to[r] : name, v);
        }
        char *text = res ? json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            sl__rop_put(o, in, i, text, strlen(text), out);
        else /* not an object: cannot happen for window results */
            sl__rop_put(o, in, i, row, len, out);
        free(text);
        json_decref(res);
        json_decref(obj);
    }
    sl__rop_flush(o, out);
}

const sl_operator_ops sl_op_map = {
    .name = "map",
    .init = sl__map_init,
    .explain = sl__map_explain,
    .destroy = sl__map_destroy,
    .open = sl__map_open,
    .process = sl__map_process,
    .watermark = sl__rop_watermark,
    .close = sl__rop_close,
};
