/*
 * ingest_derived.c - the decoder's derived slots (ingest.c, design note
 * 7): members and elements of nested values, expression values, their
 * canonical text in keys and rows, and their use as aggregate columns.
 * Per-event code, reached only by pipelines that use nested fields or
 * expressions.
 */
#include "ingest_internal.h"

#include <math.h>
#include <string.h>

/* sl__ingest_value() of a derived slot (design note 7). */
const sl_value *sl__ingest_derived(sl_ingest *ing, int slot, size_t event_len)
{
    sl_value *out = &ing->fvals[slot];
    const sl__derived *d = &ing->der[slot - SL__DERIVED_BASE];
    if (d->kind == SL__DER_EXPR) {
        size_t n;
        const int *in = sl_xexpr_slots(d->x, &n);
        for (size_t i = 0; i < n; i++)
            if (!sl__ingest_value(ing, in[i], event_len))
                return NULL;
        int err = sl_xexpr_eval(d->x, ing->fvals, &ing->xs, out);
        if (err == SL_XERR_DIV_ZERO) {
            ing->div_zero_event = 1;
        } else if (err != 0) {
            ing->xerr = err;
            return NULL;
        }
        ing->val_gen[slot] = ing->gen;
        return out;
    }
    const sl_value *p = sl__ingest_value(ing, d->parent, event_len);
    if (!p)
        return NULL;
    sl_json_val jv = {.type = SL_T_MISSING};
    if (p->type == SL_T_OTHER) {
        if (d->kind == SL__DER_MEMBER && p->s[0] == '{')
            sl_json_scan(d->member, p->s, p->len, &jv);
        else if (d->kind == SL__DER_INDEX && p->s[0] == '[')
            sl_json_array_at(p->s, p->len, d->index, &jv);
    }
    out->type = (sl_type)jv.type;
    switch (jv.type) {
    case SL_T_INT:
    case SL_T_BOOL:
        out->i = jv.i;
        out->d = (double)jv.i;
        break;
    case SL_T_DOUBLE:
        out->d = sl_json_to_double(jv.raw, jv.len);
        break;
    case SL_T_STRING:
        if (jv.escaped) {
            out->s = sl__ingest_unescaped(ing, &jv, event_len, &out->len);
            if (!out->s)
                return NULL;
        } else {
            out->s = jv.raw;
            out->len = jv.len;
        }
        break;
    case SL_T_OTHER:
        out->s = jv.raw;
        out->len = jv.len;
        break;
    default:
        break;
    }
    ing->val_gen[slot] = ing->gen;
    return out;
}

/* Room sl__ingest_canonical_value() needs for `v`. */
size_t sl__ingest_canonical_bound(const sl_value *v)
{
    return (v->type == SL_T_STRING ? 6 * v->len : v->type == SL_T_OTHER ? v->len : 0) + 40;
}

/* Appends the canonical JSON form of a derived value (as sl__canonical
 * does for scanned ones); NULL/MISSING are null. Returns the new end. */
char *sl__ingest_canonical_value(const sl_value *v, char *dst)
{
    switch (v->type) {
    case SL_T_STRING:
        *dst++ = '"';
        dst += sl_json_escape(v->s, v->len, dst);
        *dst++ = '"';
        return dst;
    case SL_T_INT:
        return dst + sl_json_format_int(v->i, dst);
    case SL_T_DOUBLE:
        return dst + sl_json_format_double(v->d, dst);
    case SL_T_BOOL:
        memcpy(dst, v->i ? "true" : "false", v->i ? 4 : 5);
        return dst + (v->i ? 4 : 5);
    case SL_T_OTHER:
        return dst + sl_json_minify(v->s, v->len, dst);
    default:
        memcpy(dst, "null", 4);
        return dst + 4;
    }
}

/* sl__value_column of a derived slot (a nested field or an expression). */
int sl__ingest_derived_value_column(sl_ingest *ing, uint32_t c, size_t event_len, size_t *at)
{
    const sl_value *v = sl__ingest_value(ing, ing->col_slot[c], event_len);
    sl_num *n = &ing->row_vals[c];
    ing->ctext_len[c] = UINT32_MAX;
    if (!v)
        return sl__ingest_value_bad(ing);
    if (v->type == SL_T_MISSING || v->type == SL_T_NULL) {
        n->v.i = 0;
        n->is_double = SL_NUM_ABSENT;
        return 0;
    }
    if (ing->col_kind[c] == SL_COL_NUM_OPT) {
        if (v->type == SL_T_INT) {
            n->v.i = v->i;
            n->is_double = 0;
            return 0;
        }
        if (v->type != SL_T_DOUBLE || !isfinite(v->d))
            return SL_BAD_WRONG_TYPE + 1;
        n->v.d = v->d;
        n->is_double = 1;
        return 0;
    }
    if (sl__ingest_grow(&ing->ctext, &ing->ctext_cap, *at + sl__ingest_canonical_bound(v)) != 0)
        return SL_BAD_MALFORMED + 1;
    char *s = ing->ctext + *at, *e;
    if (v->type == SL_T_DOUBLE && v->d == floor(v->d) && v->d >= -9223372036854775808.0 &&
        v->d < 9223372036854775808.0)
        e = s + sl_json_format_int((int64_t)v->d, s);
    else
        e = sl__ingest_canonical_value(v, s);
    ing->ctext_off[c] = (uint32_t)*at;
    ing->ctext_len[c] = (uint32_t)(e - s);
    *at += (size_t)(e - s);
    n->is_double = 0;
    n->v.i = ing->col_kind[c] == SL_COL_HASH
                 ? (int64_t)sl_value_hash(s, (size_t)(e - s))
                 : (int64_t)(((uint64_t)ing->ctext_off[c] << 32) | ing->ctext_len[c]);
    return 0;
}

/* A derived value as a numeric column. */
int sl__ingest_derived_num_column(sl_ingest *ing, uint32_t c, size_t event_len)
{
    const sl_value *v = sl__ingest_value(ing, ing->col_slot[c], event_len);
    sl_num *n = &ing->row_vals[c];
    if (!v)
        return sl__ingest_value_bad(ing);
    if (v->type == SL_T_INT) {
        n->v.i = v->i;
        n->is_double = 0;
        return 0;
    }
    if (v->type == SL_T_DOUBLE && isfinite(v->d)) {
        n->v.d = v->d;
        n->is_double = 1;
        return 0;
    }
    return (v->type == SL_T_MISSING || v->type == SL_T_NULL ? SL_BAD_MISSING_FIELD
                                                            : SL_BAD_WRONG_TYPE) +
           1;
}
