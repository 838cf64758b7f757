/*
 * ingest.c - decode once, early (see ingest.h).
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
 *    a number beyond the double range, e.g. 1e400, is a wrong type).
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
 */
#include "ingest.h"

#include "filter.h"
#include "json_scan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- symbolic schema of the pipeline ------------------------------------ */

typedef struct sl__schema {
    const char **cur; /* name at this point of the pipeline */
    const char **in;  /* input field it stands for, NULL if removed */
    size_t n, cap;
    int passthrough; /* unmentioned names are input fields */
} sl__schema;

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

typedef enum sl__step_kind {
    SL__STEP_FILTER,
    SL__STEP_KEY,
    SL__STEP_TIME,
    SL__STEP_COLS
} sl__step_kind;

typedef struct sl__step {
    sl__step_kind kind;
    sl_filter *filter;
} sl__step;

typedef struct sl__member {
    char *json; /* "\"name\":" (escaped), or ",\"name\":" */
    size_t len;
} sl__member;

struct sl_ingest {
    const sl_def *def;
    sl_ingest_mode mode;

    /* projection */
    char **names; /* input field names, one per slot */
    size_t nslots;
    sl_json_fields *fields;
    sl_json_val *vals;
    sl_value *fvals;

    sl__step *steps;
    size_t nsteps;

    /* key */
    size_t nkeys;
    int *key_slot;
    sl__member *key_member; /* member prefixes, the first without a comma */
    size_t key_fixed;       /* sum of prefix lengths */
    uint64_t empty_key_hash;

    /* event time */
    int time_slot; /* -1: no field */
    sl_time_unit unit;

    /* aggregate columns */
    uint32_t ncols;
    int *col_slot;

    /* repartition record names */
    sl__member ts_member;   /* "\"ts\":" */
    sl__member *col_member; /* ",\"amount\":" */
    uint8_t *col_in_key;    /* column repeated by a key member: not encoded */

    /* mapped rows (no window) */
    int render_rows;
    sl__schema final;
    sl__member *out_member; /* per final-schema entry with an input: "\"cur\":" */

    /* the current row */
    int64_t ts;
    uint64_t hash;
    char *key;
    size_t key_len, key_cap;
    sl_num *row_vals;
    char *row;
    size_t row_len, row_cap;
    char *scratch;
    size_t scratch_cap, scratch_used;
    /* per slot: its escaped string decoded in this event (gen == dec_gen) */
    uint64_t gen, *dec_gen;
    const char **dec_ptr;
    size_t *dec_len;
};

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

static int sl__compile(sl_ingest *ing, char *errstr, size_t errstr_size)
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
    key_in = sl_xcalloc(ing->nkeys + 1, sizeof(*key_in));
    col_in = sl_xcalloc(ing->ncols + 1, sizeof(*col_in));
    ing->time_slot = -1;
    ing->unit = def->event_time.unit;

    for (size_t k = 0; k < ing->nkeys; k++) {
        const char *name = def->key_by->u.key_by.fields[k];
        ing->key_member[k].json = sl__member_json(name, k > 0, &ing->key_member[k].len);
        ing->key_fixed += ing->key_member[k].len;
    }

    /* Walk the pipeline (always, to know each key field's and column's
     * input field; only RAW mode uses filters and the time field). */
    int saw_window = 0;
    for (size_t i = 0; i < def->nstages && rc == 0; i++) {
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
    if (sl__compile(ing, errstr, errstr_size) != 0) {
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

/* ---- per-event helpers -------------------------------------------------------- */

/* Grows *buf to at least `need` bytes. 0 or -1 (allocation failure). */
static int sl__grow(char **buf, size_t *cap, size_t need)
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
static const char *sl__unescaped(sl_ingest *ing, const sl_json_val *v, size_t event_len,
                                 size_t *len)
{
    if (ing->scratch_used == 0 && sl__grow(&ing->scratch, &ing->scratch_cap, event_len + 1) != 0)
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
    const char *s = sl__unescaped(ing, &ing->vals[slot], event_len, len);
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
    default:
        break;
    }
    return 0;
}

/* floor(x * 10^scale) of the JSON number text raw[0..len), exactly.
 * 0, or -1 when it does not fit in an int64. */
static int sl__decimal_floor(const char *raw, size_t len, int scale, int64_t *out)
{
    const char *p = raw, *end = raw + len;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *is = p;
    while (p < end && (unsigned)(*p - '0') <= 9)
        p++;
    const char *ie = p, *fs = p, *fe = p;
    if (p < end && *p == '.') {
        fs = ++p;
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
        fe = p;
    }
    long e = 0;
    if (p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        while (p < end && (unsigned)(*p - '0') <= 9) {
            if (e < 100000)
                e = e * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            e = -e;
    }
    long nint = ie - is, nfrac = fe - fs, ndig = nint + nfrac;
    long shift = e - nfrac + scale; /* value = digits * 10^shift */
    long keep = shift >= 0 ? ndig : ndig + shift;
    uint64_t acc = 0;
    int dropped_nonzero = 0;
    for (long k = 0; k < ndig; k++) {
        unsigned d = (unsigned)((k < nint ? is[k] : fs[k - nint]) - '0');
        if (k < keep) {
            if (acc > (UINT64_MAX - 9) / 10)
                return -1;
            acc = acc * 10 + d;
        } else if (d) {
            dropped_nonzero = 1;
        }
    }
    for (long s = 0; s < shift && acc; s++) {
        if (acc > UINT64_MAX / 10)
            return -1;
        acc *= 10;
    }
    if (!neg) {
        if (acc > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)acc;
        return 0;
    }
    acc += (uint64_t)dropped_nonzero; /* floor of a negative value */
    if (acc > (uint64_t)1 << 63)
        return -1;
    *out = acc == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)acc;
    return 0;
}

static int64_t sl__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static int sl__digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((unsigned)(s[i] - '0') > 9)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" -> epoch ms (fraction
 * beyond ms truncated, i.e. floored). 0 or -1. */
static int sl__rfc3339_ms(const char *s, size_t n, int64_t *out)
{
    int Y, M, D, h, m, sec, ms = 0, off = 0;
    if (n < 20 || sl__digits(s, 4, &Y) || s[4] != '-' || sl__digits(s + 5, 2, &M) || s[7] != '-' ||
        sl__digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        sl__digits(s + 11, 2, &h) || s[13] != ':' || sl__digits(s + 14, 2, &m) || s[16] != ':' ||
        sl__digits(s + 17, 2, &sec))
        return -1;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        int nd = 0;
        while (i < n && (unsigned)(s[i] - '0') <= 9) {
            if (nd < 3)
                ms = ms * 10 + (s[i] - '0');
            nd++;
            i++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (i >= n)
        return -1;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (n - i < 6 || sl__digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            sl__digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap) || h > 23 || m > 59 ||
        sec > 60)
        return -1;
    int64_t secs = sl__days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off * 60;
    *out = secs * 1000 + ms;
    return 0;
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
            sl__decimal_floor(v->raw, v->len, ing->unit == SL_TIME_S ? 3 : 0, &ing->ts) == 0)
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
        return sl__rfc3339_ms(s, n, &ing->ts) == 0 ? 0 : SL_BAD_BAD_TIME + 1;
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
    if (sl__grow(&ing->key, &ing->key_cap, ing->key_fixed + event_len + 36 * ing->nkeys) != 0)
        return SL_BAD_MALFORMED + 1; /* out of memory: cannot hold this key */
    char *p = ing->key;
    for (size_t k = 0; k < ing->nkeys; k++) {
        const sl_json_val *v = &ing->vals[ing->key_slot[k]];
        if (v->type == SL_T_MISSING)
            return SL_BAD_MISSING_KEY + 1;
        memcpy(p, ing->key_member[k].json, ing->key_member[k].len);
        p += ing->key_member[k].len;
        p = sl__canonical(ing, ing->key_slot[k], event_len, p);
        if (!p)
            return SL_BAD_MALFORMED + 1;
    }
    ing->key_len = (size_t)(p - ing->key);
    ing->hash = sl_hash64(ing->key, ing->key_len);
    return 0;
}

static int sl__columns(sl_ingest *ing)
{
    for (uint32_t c = 0; c < ing->ncols; c++) {
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
    const char *d = sl__unescaped(ing, key, event_len, &dl);
    ing->scratch_used = mark ? mark : 1;
    return d && dl == n && memcmp(d, name, n) == 0;
}

/* Renders the mapped event (design note 4) into ing->row. */
static int sl__render_row(sl_ingest *ing, const char *payload, size_t len)
{
    sl_json_iter it;
    sl_json_val k, v;
    if (sl__grow(&ing->row, &ing->row_cap, len + 2) != 0)
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
        if (sl__grow(&ing->row, &ing->row_cap, need) != 0)
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
    ing->row[at++] = '}';
    ing->row_len = at;
    return 0;
}

/* ---- the hot path ----------------------------------------------------------------- */

sl_decode_result sl_ingest_decode(sl_ingest *ing, const char *payload, size_t len, int64_t kafka_ts,
                                  sl_bad_reason *reason)
{
    int bad;
    if (SL_UNLIKELY(len > SL_MAX_EVENT_BYTES)) {
        *reason = SL_BAD_TOO_LARGE;
        return SL_DECODE_BAD;
    }
    if (SL_UNLIKELY(sl_json_scan(ing->fields, payload, len, ing->vals) != 0)) {
        *reason = SL_BAD_MALFORMED;
        return SL_DECODE_BAD;
    }
    ing->scratch_used = 0;
    ing->gen++;
    for (size_t s = 0; s < ing->nsteps; s++) {
        const sl__step *st = &ing->steps[s];
        switch (st->kind) {
        case SL__STEP_FILTER: {
            size_t n;
            const int *slots = sl_filter_slots(st->filter, &n);
            for (size_t i = 0; i < n; i++)
                if (sl__to_value(ing, slots[i], len, &ing->fvals[slots[i]]) != 0) {
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
            break;
        default:
            bad = sl__columns(ing);
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
        if (n->is_double)
            SL__PUT(num, sl_json_format_double(n->v.d, num));
        else
            SL__PUT(num, sl_json_format_int(n->v.i, num));
    }
    SL__PUT("}", 1);
#undef SL__PUT
    return (long)at;
}
