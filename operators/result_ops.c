/*
 * result_ops.c - filter and map: their vtables, and their runtime side on a
 * window's result rows (stages after a window; operator.h). Before a window
 * the planner fuses them into the decoder (engine/ingest) instead, so there
 * these hooks are not used.
 *
 * A result row is a flat JSON object (key fields, window_start,
 * window_end, aggregates). filter passes the rows its expression holds for
 * (the same rules as on events: filter.h; a SQL filter when it is TRUE);
 * map keeps, drops and renames fields (in that order, renames all at
 * once), keeping the others in place, then appends the fields its set
 * computes (SQL expressions over the row as it came in, replacing a field
 * of the same name); as before a window, a field renamed to the name of another
 * replaces it (in the renamed field's place). map copies each value's
 * text as the window wrote it (numbers are not re-printed). The message
 * key of a result (the key fields) is not changed by either. A tombstone
 * (upsert mode: an empty row, see operator.h) passes both unchanged.
 *
 * @locality: one instance per task, used by one worker thread at a time.
 */
#include "aggregate.h"
#include "expr_def.h"
#include "filter.h"
#include "op_internal.h"
#include "options.h"

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
    /* SQL: the filter, or a map's set expressions */
    sl_xexpr *x;
    sl_xexpr **set;
    size_t nset;
    char **owned; /* field names copied from expression paths */
    size_t nowned;
    sl_xscratch xs;
    uint64_t expr_errors; /* rows an expression failed on (dropped by a filter, null in a map) */
} sl__rop;

static void sl__rop_flush(sl__rop *o, const sl_op_out *out)
{
    if (o->out->count)
        out->emit(out->ctx, o->out);
    sl_batch_reset(o->out);
}

/* Appends row i of `in` with value `row` to the output, handing on full
 * batches. */
static void sl__rop_put(sl__rop *o, const sl_batch *in, uint32_t i, const char *row, size_t row_len,
                        const sl_op_out *out)
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
    sl_xexpr_free(o->x);
    for (size_t i = 0; i < o->nset; i++)
        sl_xexpr_free(o->set[i]);
    free(o->set);
    for (size_t i = 0; i < o->nowned; i++)
        free(o->owned[i]);
    free(o->owned);
    sl_xscratch_free(&o->xs);
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

/* Expression fields are top-level members of the result row. */
static int sl__rop_xresolve(void *ctx, const char *path, sl_type *type)
{
    sl__rop *o = ctx;
    *type = SL_T_MISSING;
    for (size_t i = 0; i < o->nfields; i++)
        if (strcmp(o->fields[i], path) == 0)
            return (int)i;
    char **more = realloc(o->owned, (o->nowned + 1) * sizeof(*more));
    char *copy = strdup(path);
    if (!more || !copy) {
        free(copy);
        if (more)
            o->owned = more;
        return -1;
    }
    o->owned = more;
    o->owned[o->nowned++] = copy;
    return sl__rop_resolve(o, copy);
}

static sl_xexpr *sl__rop_compile(sl__rop *o, const char *text, const char *path, char *errstr,
                                 size_t errstr_size)
{
    sl_xenv env = {.resolve = sl__rop_xresolve, .ctx = o};
    return sl_xexpr_compile_at(text, &env, path, errstr, errstr_size);
}

static void *sl__filter_open(const sl_stage *stage, const sl_op_env *env, char *errstr,
                             size_t errstr_size)
{
    sl__rop *o = sl__rop_new(stage, env);
    if (o && stage->u.filter->kind == SL_EXPR_SQL) {
        char path[300];
        sl_path_join(path, sizeof(path), stage->path, "filter");
        o->x = sl__rop_compile(o, stage->u.filter->sql, path, errstr, errstr_size);
        if (!o->x) {
            sl__rop_close(o);
            return NULL;
        }
        o->slots = calloc(o->nfields + 1, sizeof(*o->slots));
        if (o->slots)
            return o;
    } else if (o) {
        o->filter = sl_filter_compile(stage->u.filter, sl__rop_resolve, o);
    }
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
        x.type = SL_T_OTHER; /* its text is not kept: expressions treat it as a type error */
        x.s = "";
        x.len = 0;
        break;
    }
    return x;
}

/* The slots of the fields the expressions read, from row `obj`. */
static void sl__rop_load(sl__rop *o, const json_t *obj)
{
    for (size_t k = 0; k < o->nfields; k++) {
        const json_t *v = obj ? json_object_get(obj, o->fields[k]) : NULL;
        o->slots[k] = v ? sl__rop_value(v) : (sl_value){.type = SL_T_MISSING};
    }
}

static void sl__filter_process(void *op, const sl_batch *in, const sl_op_out *out)
{
    sl__rop *o = op;
    for (uint32_t i = 0; i < in->count; i++) {
        uint32_t len;
        const char *row = sl_batch_row(in, i, &len);
        if (!len) { /* a tombstone (upsert mode): deleting what was filtered out is harmless */
            sl__rop_put(o, in, i, row, len, out);
            continue;
        }
        json_t *obj = json_loadb(row, len, 0, NULL);
        sl__rop_load(o, obj);
        int pass;
        if (o->x) {
            sl_value r;
            sl_xscratch_reset(&o->xs);
            int err = sl_xexpr_eval(o->x, o->slots, &o->xs, &r);
            if (err)
                o->expr_errors++;
            pass = sl_xvalue_true(&r);
        } else {
            pass = sl_filter_eval(o->filter, o->slots);
        }
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
    if (!o) {
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", stage->path);
        return NULL;
    }
    const sl_map_def *m = &stage->u.map;
    if (m->nset) {
        o->set = calloc(m->nset, sizeof(*o->set));
        if (!o->set) {
            sl__rop_close(o);
            sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", stage->path);
            return NULL;
        }
        for (size_t k = 0; k < m->nset; k++) {
            char path[300];
            snprintf(path, sizeof(path), "%s.map.set.%s", stage->path, m->set_name[k]);
            o->set[k] = sl__rop_compile(o, m->set_expr[k], path, errstr, errstr_size);
            if (!o->set[k]) {
                sl__rop_close(o);
                return NULL;
            }
            o->nset = k + 1;
        }
        o->slots = calloc(o->nfields + 1, sizeof(*o->slots));
        if (!o->slots) {
            sl__rop_close(o);
            sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", stage->path);
            return NULL;
        }
    }
    return o;
}

static int sl__in(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return (int)i;
    return -1;
}

/* End of the JSON value (a string, number, literal, object or array)
 * starting at p in valid JSON text ending at `end`. */
static const char *sl__value_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            p++;
            if (depth == 0)
                return p;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return p; /* after a number or literal */
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            return p;
        }
        p++;
    }
    return p;
}

static const char *sl__skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* One member of a mapped row: its name as text (quoted, escaped) and its
 * value's original bytes. */
typedef struct sl__member {
    const char *name, *val;
    size_t name_len, val_len;
} sl__member;

/* Quoted JSON text of `s` (the escapes jansson writes), malloc'ed. */
static char *sl__quote(const char *s, size_t *len)
{
    json_t *str = json_string(s);
    char *q = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    json_decref(str);
    if (q)
        *len = strlen(q);
    return q;
}

/* Rewrites the valid flat JSON object row[0..len) (jansson checked it) as
 * map `m` says, copying each kept member's value bytes as they are (so
 * numbers keep the text the window printed). Returns the new row
 * (malloc'ed, *out_len set) or NULL on allocation failure. */
static char *sl__map_row(const sl_map_def *m, const json_t *obj, const char *row, size_t len,
                         const char *extra, size_t extra_len, size_t *out_len)
{
    size_t cap = json_object_size(obj) + 1, n = 0, total = 2 + extra_len + 1;
    sl__member *mem = calloc(cap, sizeof(*mem));
    char **owned = NULL; /* quoted new names */
    char *res = NULL;
    size_t nowned = 0;
    const char *p = sl__skip_space(row, row + len) + 1, *end = row + len;
    if (!mem)
        goto out;
    for (p = sl__skip_space(p, end); p < end && *p == '"';) {
        const char *kq = p, *ke = sl__value_end(p, end);
        p = sl__skip_space(sl__skip_space(ke, end) + 1, end); /* past ':' */
        const char *v = p, *ve = sl__value_end(p, end);
        p = sl__skip_space(ve, end);
        if (p < end && *p == ',')
            p = sl__skip_space(p + 1, end);
        /* the member's name, decoded */
        json_t *kj = json_loadb(kq, (size_t)(ke - kq), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        const char *name = json_string_value(kj);
        if (!name) {
            json_decref(kj);
            goto out;
        }
        int r = -1, skip = (m->nkeep && sl__in(m->keep, m->nkeep, name) < 0) ||
                           sl__in(m->drop, m->ndrop, name) >= 0;
        if (!skip) {
            r = sl__in(m->rename_from, m->nrename, name);
            skip = r < 0 && sl__in(m->rename_to, m->nrename, name) >= 0;
        }
        if (!skip) /* replaced by a computed field */
            skip = sl__in(m->set_name, m->nset, r >= 0 ? m->rename_to[r] : name) >= 0;
        sl__member x = {kq, v, (size_t)(ke - kq), (size_t)(ve - v)};
        if (!skip && r >= 0) {
            char **more = realloc(owned, (nowned + 1) * sizeof(*owned));
            if (more)
                owned = more;
            if (!more || !(owned[nowned] = sl__quote(m->rename_to[r], &x.name_len))) {
                json_decref(kj);
                goto out;
            }
            x.name = owned[nowned++];
        }
        json_decref(kj);
        if (skip)
            continue;
        /* a name set twice keeps its first place and its last value */
        size_t j = 0;
        while (j < n &&
               !(mem[j].name_len == x.name_len && !memcmp(mem[j].name, x.name, x.name_len)))
            j++;
        if (j == n) {
            if (n == cap) /* more members than jansson saw: duplicates */
                goto out;
            n++;
        } else {
            total -= mem[j].name_len + mem[j].val_len + 2;
        }
        mem[j] = x;
        total += x.name_len + x.val_len + 2;
    }
    res = malloc(total);
    if (!res)
        goto out;
    char *o = res;
    *o++ = '{';
    for (size_t j = 0; j < n; j++) {
        if (j)
            *o++ = ',';
        memcpy(o, mem[j].name, mem[j].name_len);
        o += mem[j].name_len;
        *o++ = ':';
        memcpy(o, mem[j].val, mem[j].val_len);
        o += mem[j].val_len;
    }
    if (extra_len) { /* ,"name":value... of the computed fields */
        memcpy(o, extra + (n ? 0 : 1), extra_len - (n ? 0 : 1));
        o += extra_len - (n ? 0 : 1);
    }
    *o++ = '}';
    *out_len = (size_t)(o - res);
out:
    for (size_t j = 0; j < nowned; j++)
        free(owned[j]);
    free(owned);
    free(mem);
    return res;
}

/* Appends the JSON text of value `v` (NULL and MISSING as null). */
static char *sl__put_value(char *o, const sl_value *v)
{
    switch (v->type) {
    case SL_T_INT:
        return sl_agg_put_i64(o, v->i);
    case SL_T_DOUBLE:
        return sl_agg_put_double(o, v->d);
    case SL_T_BOOL:
        memcpy(o, v->i ? "true" : "false", v->i ? 4 : 5);
        return o + (v->i ? 4 : 5);
    case SL_T_STRING: {
        json_t *s = json_stringn(v->s, v->len);
        char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        json_decref(s);
        size_t n = q ? strlen(q) : 0;
        memcpy(o, q ? q : "null", q ? n : 4);
        free(q);
        return o + (q ? n : 4);
    }
    default:
        memcpy(o, "null", 4);
        return o + 4;
    }
}

/* ,"name":value for each computed field of the map, over row `obj`
 * (malloc'ed, *len set), or NULL. An expression that fails gives null. */
static char *sl__map_computed(sl__rop *o, const json_t *obj, size_t *len)
{
    const sl_map_def *m = &o->stage->u.map;
    sl__rop_load(o, obj);
    sl_xscratch_reset(&o->xs);
    sl_value *vals = calloc(m->nset, sizeof(*vals));
    if (!vals)
        return NULL;
    size_t cap = 1;
    for (size_t k = 0; k < m->nset; k++) {
        if (sl_xexpr_eval(o->set[k], o->slots, &o->xs, &vals[k]) != 0)
            o->expr_errors++;
        cap += 6 * strlen(m->set_name[k]) + 4 +
               (vals[k].type == SL_T_STRING ? 6 * vals[k].len + 2 : 0) + 32;
    }
    char *text = malloc(cap), *p = text;
    for (size_t k = 0; text && k < m->nset; k++) {
        *p++ = ',';
        size_t nl;
        char *q = sl__quote(m->set_name[k], &nl);
        if (!q) {
            free(text);
            text = NULL;
            break;
        }
        memcpy(p, q, nl);
        free(q);
        p += nl;
        *p++ = ':';
        p = sl__put_value(p, &vals[k]);
    }
    free(vals);
    if (text)
        *len = (size_t)(p - text);
    return text;
}

static void sl__map_process(void *op, const sl_batch *in, const sl_op_out *out)
{
    sl__rop *o = op;
    const sl_map_def *m = &o->stage->u.map;
    for (uint32_t i = 0; i < in->count; i++) {
        uint32_t len;
        const char *row = sl_batch_row(in, i, &len);
        if (!len) { /* a tombstone (upsert mode) has no row to map */
            sl__rop_put(o, in, i, row, len, out);
            continue;
        }
        json_t *obj = json_loadb(row, len, 0, NULL);
        size_t text_len = 0, extra_len = 0;
        char *extra = o->nset && json_is_object(obj) ? sl__map_computed(o, obj, &extra_len) : NULL;
        char *text =
            json_is_object(obj) ? sl__map_row(m, obj, row, len, extra, extra_len, &text_len) : NULL;
        free(extra);
        if (obj && !json_is_object(obj)) /* an array maps to no members */
            sl__rop_put(o, in, i, "{}", 2, out);
        else if (text)
            sl__rop_put(o, in, i, text, text_len, out);
        else /* not an object: cannot happen for window results */
            sl__rop_put(o, in, i, row, len, out);
        free(text);
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
