/*
 * ingest.c - decode once, early (see ingest.h): the per-event path.
 * ingest_plan.c builds the decoder from the definition.
 *
 * Design notes
 * ------------
 * 1. Compile time (sl_ingest_new) walks the pipeline symbolically. Map
 *    stages only keep, drop and rename, so every field name at any stage
 *    stands for exactly one input field (or none): a small schema of
 *    explicit entries (current name -> input name or removed) plus a
 *    "passthrough" flag (unmentioned names are input names) tracks it.
 *    Each filter comparison, key field and aggregate column is resolved
 *    through it to an input field, and the distinct input fields become
 *    the scanner's projection slots. Filters can therefore all run on the
 *    decoded input fields, wherever they sit in the pipeline.
 * 2. Per event (sl_ingest_decode): one validating scan (json_scan.c) that
 *    fills the slots; then the steps in pipeline order: each filter (->
 *    FILTERED), the key_by check and key bytes (-> missing_key), and at the
 *    window (or the end without one) the event time (-> missing_time,
 *    bad_time) and the aggregate columns (-> missing_field, wrong_type;
 *    a number beyond the double range, e.g. 1e400, is a wrong type). The
 *    columns of count_distinct & co. (sl_col_kind) take a missing or null
 *    value as absent; theirs is the value's canonical text (note 3, with a
 *    double of integral value written as the integer) kept in ing->ctext:
 *    hashed (SL_COL_HASH) or copied into the batch arena by
 *    sl_ingest_append (SL_COL_TEXT); repartition records carry that text
 *    (or null), so both sides decode the same column.
 * 3. Key bytes are the key_by members re-encoded canonically under their
 *    names at the key_by stage: strings unescaped and re-escaped minimally,
 *    integers in decimal, doubles in round-trip form (sl_json_format_double: ".0"
 *    when integral), objects/arrays minified. Canonical output is never
 *    longer than the raw member (except short numbers), so the key buffer is
 *    sized once per event length and never overflows.
 * 4. Without a window the mapped event is rendered as a JSON row: the
 *    input members in input order, renamed or dropped by the final schema,
 *    values minified.
 * 5. Repartition records (SL_INGEST_REPARTITIONED) carry the key members,
 *    the event time and the aggregate columns under their post-map names.
 *    The time member is "ts" unless a key or column is already called so
 *    (then "_ts", "__ts", ...); a column whose name is a key member of the
 *    same input field is not repeated. Both sides derive these names from
 *    the same definition.
 * 6. After warm-up nothing allocates: buffers grow only when an event is
 *    longer than any before (bounded by SL_MAX_EVENT_BYTES).
 * 7. SQL expressions (operators/expr.h) and nested fields read derived
 *    slots beside the scanner's: a member of an object slot ("device.id"),
 *    an element of an array slot ("tags[2]"), or an expression's value (a
 *    map's set, a computed key, an aggregate's "expr"). Each is evaluated
 *    at most once per event, when a step first needs it (sl__value). A map's
 *    set names a derived slot in the schema, so later stages read it like a
 *    field. An expression error other than a division by zero makes the
 *    event bad (expr_error); a division by zero gives NULL and is counted.
 */
#include "ingest_internal.h"

#include "event_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-event helpers -------------------------------------------------------- */

/* Grows *buf to at least `need` bytes. 0 or -1 (allocation failure). */
int sl__ingest_grow(char **buf, size_t *cap, size_t need)
{
    if (SL_LIKELY(need <= *cap))
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *nb = realloc(*buf, n);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = n;
    return 0;
}

/* Decoded bytes of an escaped string value, placed in the scratch area
 * (sized for the whole event on first use, so earlier pointers stay valid;
 * decoding shrinks, and each slot is decoded at most once per event, so
 * the event's length is enough). NULL if it would not fit. */
const char *sl__ingest_unescaped(sl_ingest *ing, const sl_json_val *v, size_t event_len,
                                 size_t *len)
{
    if (ing->scratch_used == 0 &&
        sl__ingest_grow(&ing->scratch, &ing->scratch_cap, event_len + 1) != 0)
        return NULL;
    if (SL_UNLIKELY(ing->scratch_used + v->len > ing->scratch_cap))
        return NULL;
    char *out = ing->scratch + ing->scratch_used;
    *len = sl_json_unescape(v->raw, v->len, out);
    ing->scratch_used += *len;
    if (ing->scratch_used == 0)
        ing->scratch_used = 1; /* mark the area as sized for this event */
    return out;
}

/* The decoded string of `slot` (escaped), decoded once per event. */
static const char *sl__slot_unescaped(sl_ingest *ing, int slot, size_t event_len, size_t *len)
{
    if (ing->dec_gen[slot] == ing->gen) {
        *len = ing->dec_len[slot];
        return ing->dec_ptr[slot];
    }
    const char *s = sl__ingest_unescaped(ing, &ing->vals[slot], event_len, len);
    if (s) {
        ing->dec_gen[slot] = ing->gen;
        ing->dec_ptr[slot] = s;
        ing->dec_len[slot] = *len;
    }
    return s;
}

static int sl__to_value(sl_ingest *ing, int slot, size_t event_len, sl_value *out)
{
    const sl_json_val *v = &ing->vals[slot];
    out->type = (sl_type)v->type;
    switch (v->type) {
    case SL_T_INT:
    case SL_T_BOOL:
        out->i = v->i;
        out->d = (double)v->i;
        break;
    case SL_T_DOUBLE:
        out->d = sl_json_to_double(v->raw, v->len);
        break;
    case SL_T_STRING:
        if (v->escaped) {
            out->s = sl__slot_unescaped(ing, slot, event_len, &out->len);
            if (!out->s)
                return -1;
        } else {
            out->s = v->raw;
            out->len = v->len;
        }
        break;
    case SL_T_OTHER:
        out->s = v->raw;
        out->len = v->len;
        break;
    default:
        break;
    }
    return 0;
}

const sl_value *sl__ingest_value(sl_ingest *ing, int slot, size_t event_len)
{
    sl_value *out = &ing->fvals[slot];
    if (ing->val_gen[slot] == ing->gen)
        return out;
    if (slot < SL__DERIVED_BASE) {
        if (sl__to_value(ing, slot, event_len, out) != 0)
            return NULL;
        ing->val_gen[slot] = ing->gen;
        return out;
    }
    return sl__ingest_derived(ing, slot, event_len);
}

/* Event time of the current event into ing->ts. 0 or a bad reason + 1. */
static int sl__event_time(sl_ingest *ing, int64_t kafka_ts)
{
    if (ing->time_slot < 0) {
        if (ing->unit == SL_TIME_KAFKA && ing->mode == SL_INGEST_RAW) {
            if (kafka_ts < 0)
                return SL_BAD_MISSING_TIME + 1;
        }
        ing->ts = kafka_ts >= 0 ? kafka_ts : 0;
        return 0;
    }
    const sl_json_val *v = &ing->vals[ing->time_slot];
    if (v->type == SL_T_MISSING)
        return SL_BAD_MISSING_TIME + 1;
    switch (ing->unit) {
    case SL_TIME_MS:
    case SL_TIME_S:
        if (v->type == SL_T_INT) {
            if (ing->unit == SL_TIME_MS) {
                ing->ts = v->i;
                return 0;
            }
            if (__builtin_mul_overflow(v->i, 1000, &ing->ts))
                return SL_BAD_BAD_TIME + 1;
            return 0;
        }
        if (v->type == SL_T_DOUBLE &&
            sl_time_decimal_floor(v->raw, v->len, ing->unit == SL_TIME_S ? 3 : 0, &ing->ts) == 0)
            return 0;
        return SL_BAD_BAD_TIME + 1;
    case SL_TIME_RFC3339: {
        if (v->type != SL_T_STRING)
            return SL_BAD_BAD_TIME + 1;
        const char *s = v->raw;
        size_t n = v->len;
        char buf[64];
        if (v->escaped) {
            if (n > sizeof(buf))
                return SL_BAD_BAD_TIME + 1;
            n = sl_json_unescape(v->raw, v->len, buf);
            s = buf;
        }
        return sl_time_parse_rfc3339(s, n, &ing->ts) == 0 ? 0 : SL_BAD_BAD_TIME + 1;
    }
    default: /* SL_TIME_KAFKA with a field: not used */
        ing->ts = kafka_ts;
        return 0;
    }
}

/* Appends the canonical form of value v to dst; returns the new end. dst
 * has room for max(v->len + 2, 34) bytes. */
static char *sl__canonical(sl_ingest *ing, int slot, size_t event_len, char *dst)
{
    const sl_json_val *v = &ing->vals[slot];
    switch (v->type) {
    case SL_T_STRING:
        *dst++ = '"';
        if (!v->escaped) {
            memcpy(dst, v->raw, v->len);
            dst += v->len;
        } else {
            size_t n;
            const char *s = sl__slot_unescaped(ing, slot, event_len, &n);
            if (!s)
                return NULL;
            dst += sl_json_escape(s, n, dst);
        }
        *dst++ = '"';
        return dst;
    case SL_T_INT:
        return dst + sl_json_format_int(v->i, dst);
    case SL_T_DOUBLE: {
        double d = sl_json_to_double(v->raw, v->len);
        if (!isfinite(d)) {
            memcpy(dst, v->raw, v->len);
            return dst + v->len;
        }
        return dst + sl_json_format_double(d, dst);
    }
    case SL_T_BOOL:
        memcpy(dst, v->i ? "true" : "false", v->i ? 4 : 5);
        return dst + (v->i ? 4 : 5);
    case SL_T_NULL:
        memcpy(dst, "null", 4);
        return dst + 4;
    default: /* object or array */
        return dst + sl_json_minify(v->raw, v->len, dst);
    }
}

static int sl__encode_key(sl_ingest *ing, size_t event_len)
{
    if (ing->nkeys == 0) {
        ing->key_len = 0;
        ing->hash = ing->empty_key_hash;
        return 0;
    }
    if (sl__ingest_grow(&ing->key, &ing->key_cap, ing->key_fixed + event_len + 36 * ing->nkeys) !=
        0)
        return SL_BAD_MALFORMED + 1; /* out of memory: cannot hold this key */
    char *p = ing->key;
    for (size_t k = 0; k < ing->nkeys; k++) {
        int slot = ing->key_slot[k];
        if (slot >= SL__DERIVED_BASE) {
            const sl_value *v = sl__ingest_value(ing, slot, event_len);
            if (!v)
                return sl__ingest_value_bad(ing);
            if (v->type == SL_T_MISSING)
                return SL_BAD_MISSING_KEY + 1;
            size_t at = (size_t)(p - ing->key);
            size_t need = at + ing->key_member[k].len + sl__ingest_canonical_bound(v) +
                          ing->key_fixed + event_len + 36 * ing->nkeys;
            if (sl__ingest_grow(&ing->key, &ing->key_cap, need) != 0)
                return SL_BAD_MALFORMED + 1;
            p = ing->key + at;
            memcpy(p, ing->key_member[k].json, ing->key_member[k].len);
            p += ing->key_member[k].len;
            p = sl__ingest_canonical_value(v, p);
            continue;
        }
        const sl_json_val *v = &ing->vals[slot];
        if (v->type == SL_T_MISSING)
            return SL_BAD_MISSING_KEY + 1;
        memcpy(p, ing->key_member[k].json, ing->key_member[k].len);
        p += ing->key_member[k].len;
        p = sl__canonical(ing, slot, event_len, p);
        if (!p)
            return SL_BAD_MALFORMED + 1;
    }
    ing->key_len = (size_t)(p - ing->key);
    ing->hash = sl_hash64(ing->key, ing->key_len);
    return 0;
}

/* The value text of hash and text columns: the canonical form (design note
 * 3), with a double of integral value below 2^63 in magnitude written as
 * the integer (1.0 and 1 are one value). Same room as sl__canonical. */
static char *sl__value_text(sl_ingest *ing, int slot, size_t event_len, char *dst)
{
    const sl_json_val *v = &ing->vals[slot];
    if (v->type == SL_T_DOUBLE) {
        double d = sl_json_to_double(v->raw, v->len);
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return dst + sl_json_format_int((int64_t)d, dst);
    }
    return sl__canonical(ing, slot, event_len, dst);
}

/* A column of count_distinct & co. (see batch.h): absent for a missing or
 * null value; a number or absent (SL_COL_NUM_OPT); the value's text in
 * ing->ctext and its hash (SL_COL_HASH). 0 or a bad reason + 1. */
static int sl__value_column(sl_ingest *ing, uint32_t c, size_t event_len, size_t *at)
{
    if (ing->col_slot[c] >= SL__DERIVED_BASE)
        return sl__ingest_derived_value_column(ing, c, event_len, at);
    const sl_json_val *v = &ing->vals[ing->col_slot[c]];
    sl_num *n = &ing->row_vals[c];
    ing->ctext_len[c] = UINT32_MAX;
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
        if (v->type != SL_T_DOUBLE)
            return SL_BAD_WRONG_TYPE + 1;
        n->v.d = sl_json_to_double(v->raw, v->len);
        n->is_double = 1;
        return isfinite(n->v.d) ? 0 : SL_BAD_WRONG_TYPE + 1;
    }
    char *s = ing->ctext + *at;
    char *e = sl__value_text(ing, ing->col_slot[c], event_len, s);
    if (!e)
        return SL_BAD_MALFORMED + 1;
    ing->ctext_off[c] = (uint32_t)*at;
    ing->ctext_len[c] = (uint32_t)(e - s);
    *at += (size_t)(e - s);
    n->is_double = 0;
    n->v.i = ing->col_kind[c] == SL_COL_HASH
                 ? (int64_t)sl_value_hash(s, (size_t)(e - s))
                 : (int64_t)(((uint64_t)ing->ctext_off[c] << 32) | ing->ctext_len[c]);
    return 0;
}

/* A numeric column (SL_COL_NUM): 0 or a bad reason + 1. */
static inline int sl__num_column(sl_ingest *ing, uint32_t c, size_t event_len)
{
    if (ing->col_slot[c] >= SL__DERIVED_BASE)
        return sl__ingest_derived_num_column(ing, c, event_len);
    const sl_json_val *v = &ing->vals[ing->col_slot[c]];
    sl_num *n = &ing->row_vals[c];
    if (v->type == SL_T_INT) {
        n->v.i = v->i;
        n->is_double = 0;
    } else if (v->type == SL_T_DOUBLE) {
        n->v.d = sl_json_to_double(v->raw, v->len);
        n->is_double = 1;
        if (SL_UNLIKELY(!isfinite(n->v.d))) /* 1e400: beyond double range */
            return SL_BAD_WRONG_TYPE + 1;
    } else {
        return (v->type == SL_T_MISSING ? SL_BAD_MISSING_FIELD : SL_BAD_WRONG_TYPE) + 1;
    }
    return 0;
}

/* The columns when some are not numeric (count_distinct & co.). */
static __attribute__((noinline)) int sl__columns_mixed(sl_ingest *ing, size_t event_len)
{
    size_t at = 0;
    if (ing->has_value_cols &&
        sl__ingest_grow(&ing->ctext, &ing->ctext_cap, (size_t)ing->ncols * (event_len + 40)) != 0)
        return SL_BAD_MALFORMED + 1; /* out of memory: cannot hold this row */
    for (uint32_t c = 0; c < ing->ncols; c++) {
        int bad = ing->col_kind[c] == SL_COL_NUM ? sl__num_column(ing, c, event_len)
                                                 : sl__value_column(ing, c, event_len, &at);
        if (bad)
            return bad;
    }
    return 0;
}

static int sl__columns(sl_ingest *ing, size_t event_len)
{
    if (SL_UNLIKELY(ing->has_other_cols))
        return sl__columns_mixed(ing, event_len);
    for (uint32_t c = 0; c < ing->ncols; c++) {
        int bad = sl__num_column(ing, c, event_len);
        if (bad)
            return bad;
    }
    return 0;
}

/* Whether member name `key` (a scanned string) equals `name`. */
static int sl__key_is(sl_ingest *ing, const sl_json_val *key, size_t event_len, const char *name)
{
    size_t n = strlen(name);
    if (!key->escaped)
        return key->len == n && memcmp(key->raw, name, n) == 0;
    size_t dl;
    size_t mark = ing->scratch_used;
    const char *d = sl__ingest_unescaped(ing, key, event_len, &dl);
    ing->scratch_used = mark ? mark : 1;
    return d && dl == n && memcmp(d, name, n) == 0;
}

/* Renders the mapped event (design note 4) into ing->row. */
static int sl__render_row(sl_ingest *ing, const char *payload, size_t len)
{
    sl_json_iter it;
    sl_json_val k, v;
    if (sl__ingest_grow(&ing->row, &ing->row_cap, len + 2) != 0)
        return SL_BAD_MALFORMED + 1;
    size_t at = 0;
    ing->row[at++] = '{';
    sl_json_iter_init(&it, payload, len);
    int r;
    while ((r = sl_json_iter_next(&it, &k, &v)) == 1) {
        const char *name = NULL; /* prefix to write, or NULL for the raw key */
        size_t name_len = 0;
        int emit = 0;
        const sl__schema *s = &ing->final;
        for (size_t i = 0; i < s->n && !emit; i++)
            if (s->in[i] && sl__key_is(ing, &k, len, s->in[i])) {
                name = ing->out_member[i].json;
                name_len = ing->out_member[i].len;
                emit = 1;
            }
        if (!emit && s->passthrough) {
            emit = 1;
            for (size_t i = 0; i < s->n; i++)
                if (sl__key_is(ing, &k, len, s->cur[i])) {
                    emit = 0; /* shadowed: dropped or renamed over */
                    break;
                }
        }
        if (!emit)
            continue;
        size_t need = at + 1 + (name ? name_len : k.len + 3) + v.len + 2 + 1;
        if (sl__ingest_grow(&ing->row, &ing->row_cap, need) != 0)
            return SL_BAD_MALFORMED + 1;
        char *o = ing->row;
        if (at > 1)
            o[at++] = ',';
        if (name) {
            memcpy(o + at, name, name_len);
            at += name_len;
        } else {
            o[at++] = '"';
            memcpy(o + at, k.raw, k.len);
            at += k.len;
            o[at++] = '"';
            o[at++] = ':';
        }
        if (v.type == SL_T_STRING) {
            memcpy(o + at, v.raw - 1, v.len + 2);
            at += v.len + 2;
        } else {
            at += sl_json_minify(v.raw, v.len, o + at);
        }
    }
    if (r != 0)
        return SL_BAD_MALFORMED + 1;
    /* computed fields (a map's set), after the input members */
    const sl__schema *fs = &ing->final;
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->cslot[i] < 0)
            continue;
        const sl_value *cv = sl__ingest_value(ing, fs->cslot[i], len);
        if (!cv)
            return sl__ingest_value_bad(ing); /* a missing one is written as null */
        size_t need = at + 1 + ing->out_member[i].len + sl__ingest_canonical_bound(cv) + 2;
        if (sl__ingest_grow(&ing->row, &ing->row_cap, need) != 0)
            return SL_BAD_MALFORMED + 1;
        if (at > 1)
            ing->row[at++] = ',';
        memcpy(ing->row + at, ing->out_member[i].json, ing->out_member[i].len);
        at += ing->out_member[i].len;
        at = (size_t)(sl__ingest_canonical_value(cv, ing->row + at) - ing->row);
    }
    if (sl__ingest_grow(&ing->row, &ing->row_cap, at + 1) != 0)
        return SL_BAD_MALFORMED + 1;
    ing->row[at++] = '}';
    ing->row_len = at;
    return 0;
}

/* Whether the event time is more than watermark.max_future ahead of now.
 * "Now" for a Kafka record is its own timestamp (its producer's clock when
 * it was written), so the verdict is the same when the record is read
 * again after a failure and replay stays deterministic; the wall clock
 * when it is read also bounds it (a producer whose clock runs ahead). The
 * wall clock is read only when an event passes the limit computed at the
 * last read: the limit only grows, so an event below a stale limit is
 * below the current one too. */
static int sl__too_far_ahead(sl_ingest *ing, int64_t kafka_ts)
{
    if (ing->max_future_ms < 0)
        return 0;
    if (kafka_ts > 0 && ing->ts > kafka_ts &&
        (uint64_t)ing->ts - (uint64_t)kafka_ts > (uint64_t)ing->max_future_ms)
        return 1;
    if (SL_LIKELY(ing->ts <= ing->future_limit))
        return 0;
    int64_t now = sl_wall_ms();
    ing->future_limit = now > INT64_MAX - ing->max_future_ms ? INT64_MAX : now + ing->max_future_ms;
    return ing->ts > ing->future_limit;
}

/* ---- the hot path ----------------------------------------------------------------- */

static sl_decode_result sl__decode(sl_ingest *ing, const char *payload, size_t len,
                                   int64_t kafka_ts, sl_bad_reason *reason);

sl_decode_result sl_ingest_decode(sl_ingest *ing, const char *payload, size_t len, int64_t kafka_ts,
                                  sl_bad_reason *reason)
{
    sl_decode_result r = sl__decode(ing, payload, len, kafka_ts, reason);
    if (SL_UNLIKELY(ing->div_zero_event)) {
        ing->div_zero_event = 0;
        ing->expr_soft_errors++;
    }
    return r;
}

static sl_decode_result sl__decode(sl_ingest *ing, const char *payload, size_t len,
                                   int64_t kafka_ts, sl_bad_reason *reason)
{
    int bad;
    if (SL_UNLIKELY(len > SL_MAX_EVENT_BYTES)) {
        ing->scanned = 0;
        *reason = SL_BAD_TOO_LARGE;
        return SL_DECODE_BAD;
    }
    ing->scanned = 0;
    if (SL_UNLIKELY(sl_json_scan(ing->fields, payload, len, ing->vals) != 0)) {
        *reason = SL_BAD_MALFORMED;
        return SL_DECODE_BAD;
    }
    ing->scanned = 1;
    ing->scratch_used = 0;
    ing->gen++;
    ing->xerr = 0; /* expressions: this event's error and strings */
    sl_xscratch_reset(&ing->xs);
    for (size_t s = 0; s < ing->nsteps; s++) {
        const sl__step *st = &ing->steps[s];
        switch (st->kind) {
        case SL__STEP_XFILTER: {
            size_t n;
            const int *slots = sl_xexpr_slots(st->x, &n);
            bad = 0;
            for (size_t i = 0; i < n && !bad; i++)
                if (!sl__ingest_value(ing, slots[i], len))
                    bad = sl__ingest_value_bad(ing);
            if (bad)
                break;
            sl_value r;
            int err = sl_xexpr_eval(st->x, ing->fvals, &ing->xs, &r);
            if (err == SL_XERR_DIV_ZERO)
                ing->div_zero_event = 1;
            else if (err != 0) {
                ing->xerr = err;
                bad = SL_BAD_EXPR_ERROR + 1;
                break;
            }
            if (!sl_xvalue_true(&r))
                return SL_DECODE_FILTERED;
            break;
        }
        case SL__STEP_FILTER: {
            size_t n;
            const int *slots = sl_filter_slots(st->filter, &n);
            for (size_t i = 0; i < n; i++)
                if (!sl__ingest_value(ing, slots[i], len)) {
                    *reason = SL_BAD_MALFORMED;
                    return SL_DECODE_BAD;
                }
            if (!sl_filter_eval(st->filter, ing->fvals))
                return SL_DECODE_FILTERED;
            bad = 0;
            break;
        }
        case SL__STEP_KEY:
            bad = sl__encode_key(ing, len);
            break;
        case SL__STEP_TIME:
            bad = sl__event_time(ing, kafka_ts);
            if (!bad && SL_UNLIKELY(sl__too_far_ahead(ing, kafka_ts)))
                bad = SL_BAD_TOO_FAR_AHEAD + 1;
            break;
        default:
            bad = sl__columns(ing, len);
            break;
        }
        if (SL_UNLIKELY(bad)) {
            *reason = (sl_bad_reason)(bad - 1);
            return SL_DECODE_BAD;
        }
    }
    if (ing->render_rows) {
        bad = sl__render_row(ing, payload, len);
        if (bad) {
            *reason = (sl_bad_reason)(bad - 1);
            return SL_DECODE_BAD;
        }
    }
    return SL_DECODE_OK;
}

int sl_ingest_slot_of(const sl_ingest *ing, const char *name)
{
    for (size_t i = 0; i < ing->nslots; i++)
        if (strcmp(ing->names[i], name) == 0)
            return (int)i;
    return -1;
}

sl_type sl_ingest_slot_type(const sl_ingest *ing, int slot)
{
    if (slot < 0 || (size_t)slot >= ing->nslots || !ing->scanned)
        return SL_T_MISSING;
    return (sl_type)ing->vals[slot].type;
}

uint64_t sl_ingest_div_zero(const sl_ingest *ing)
{
    return ing->expr_soft_errors;
}

int sl_ingest_scanned(const sl_ingest *ing)
{
    return ing->scanned;
}

uint64_t sl_ingest_key_hash(const sl_ingest *ing)
{
    return ing->hash;
}

int64_t sl_ingest_ts(const sl_ingest *ing)
{
    return ing->ts;
}

const char *sl_ingest_key(const sl_ingest *ing, size_t *len)
{
    *len = ing->key_len;
    return ing->key_len ? ing->key : "";
}

int sl_ingest_append(sl_ingest *ing, sl_batch *out, int64_t offset)
{
    uint32_t i = out->count;
    size_t mark = out->bytes_len;
    uint32_t koff = sl_batch_put_bytes(out, ing->key, ing->key_len);
    if (koff == UINT32_MAX)
        return SL_ENOMEM;
    uint32_t roff = koff + (uint32_t)ing->key_len, rlen = 0;
    if (ing->render_rows) {
        roff = sl_batch_put_bytes(out, ing->row, ing->row_len);
        if (roff == UINT32_MAX) {
            out->bytes_len = mark;
            return SL_ENOMEM;
        }
        rlen = (uint32_t)ing->row_len;
    }
    out->ts[i] = ing->ts;
    out->offset[i] = offset;
    out->key_hash[i] = ing->hash;
    out->key_off[i] = koff;
    out->key_len[i] = (uint32_t)ing->key_len;
    out->row_off[i] = roff;
    out->row_len[i] = rlen;
    for (uint32_t c = 0; c < ing->ncols; c++)
        out->vals[(size_t)c * out->capacity + i] = ing->row_vals[c];
    if (SL_UNLIKELY(ing->has_text_cols))
        for (uint32_t c = 0; c < ing->ncols; c++) {
            if (ing->col_kind[c] != SL_COL_TEXT || ing->ctext_len[c] == UINT32_MAX)
                continue;
            uint32_t off =
                sl_batch_put_bytes(out, ing->ctext + ing->ctext_off[c], ing->ctext_len[c]);
            if (off == UINT32_MAX) {
                out->bytes_len = mark;
                return SL_ENOMEM;
            }
            out->vals[(size_t)c * out->capacity + i].v.i =
                (int64_t)(((uint64_t)off << 32) | ing->ctext_len[c]);
        }
    out->count = i + 1;
    return SL_OK;
}

long sl_ingest_encode_repartition(const sl_ingest *ing, char *out, size_t cap)
{
    size_t at = 0;
    char num[40];
#define SL__PUT(src, n)                                                                            \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (at + n_ > cap)                                                                         \
            return -1;                                                                             \
        if (n_)                                                                                    \
            memcpy(out + at, (src), n_);                                                           \
        at += n_;                                                                                  \
    } while (0)
    SL__PUT("{", 1);
    SL__PUT(ing->key, ing->key_len);
    SL__PUT(ing->ts_member.json, ing->ts_member.len);
    SL__PUT(num, sl_json_format_int(ing->ts, num));
    for (uint32_t c = 0; c < ing->ncols; c++) {
        if (ing->col_in_key[c])
            continue;
        SL__PUT(ing->col_member[c].json, ing->col_member[c].len);
        const sl_num *n = &ing->row_vals[c];
        if (SL_UNLIKELY(ing->col_kind[c] != SL_COL_NUM)) {
            /* the value as read (text columns) or null when absent */
            if (n->is_double == SL_NUM_ABSENT)
                SL__PUT("null", 4);
            else if (ing->col_kind[c] != SL_COL_NUM_OPT)
                SL__PUT(ing->ctext + ing->ctext_off[c], ing->ctext_len[c]);
            else if (n->is_double)
                SL__PUT(num, sl_json_format_double(n->v.d, num));
            else
                SL__PUT(num, sl_json_format_int(n->v.i, num));
            continue;
        }
        if (n->is_double)
            SL__PUT(num, sl_json_format_double(n->v.d, num));
        else
            SL__PUT(num, sl_json_format_int(n->v.i, num));
    }
    SL__PUT("}", 1);
#undef SL__PUT
    return (long)at;
}
