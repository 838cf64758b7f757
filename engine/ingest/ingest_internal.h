/*
 * ingest_internal.h - the compiled decoder shared by ingest_plan.c (built
 * once from the definition) and ingest.c (the per-event hot path). See the
 * design notes at the top of ingest.c.
 */
#ifndef SL_INGEST_INTERNAL_H
#define SL_INGEST_INTERNAL_H

#include "expr.h"
#include "filter.h"
#include "ingest.h"
#include "json_scan.h"

/* What a name stands for at some point of the pipeline (design note 1). */
typedef struct sl__schema {
    const char **cur; /* name at this point of the pipeline */
    const char **in;  /* input field it stands for, NULL if removed or computed */
    int *cslot;       /* computed by a map's set: its derived slot, else -1 */
    size_t n, cap;
    int passthrough; /* unmentioned names are input fields */
} sl__schema;

/* Slots: 0..nslots-1 are the scanner's (top-level members of the event);
 * SL__DERIVED_BASE + d are derived (design note 7). */
#define SL__DERIVED_BASE SL_JSON_MAX_FIELDS

typedef enum sl__derived_kind {
    SL__DER_MEMBER, /* member `member` of the object in slot `parent` */
    SL__DER_INDEX,  /* element `index` of the array in slot `parent` */
    SL__DER_EXPR,   /* the value of expression `x` */
} sl__derived_kind;

typedef struct sl__derived {
    sl__derived_kind kind;
    int parent;
    char *path; /* normalised path of MEMBER / INDEX slots ("device.id") */
    sl_json_fields *member;
    size_t index;
    sl_xexpr *x;
} sl__derived;

typedef enum sl__step_kind {
    SL__STEP_XFILTER, /* a SQL filter: `x` */
    SL__STEP_FILTER,
    SL__STEP_KEY,
    SL__STEP_TIME,
    SL__STEP_COLS
} sl__step_kind;

typedef struct sl__step {
    sl__step_kind kind;
    sl_filter *filter;
    sl_xexpr *x;
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

    /* derived slots (nested fields, expressions), their values this event */
    sl__derived *der;
    size_t nder;
    uint64_t *val_gen; /* per slot (scanner and derived): fvals valid when == gen */
    sl_xscratch xs;
    int xerr;                  /* the last expression error of this event (sl_xerr), 0 none */
    int div_zero_event;        /* this event divided by zero somewhere */
    uint64_t expr_soft_errors; /* events that divided by zero */

    /* key */
    size_t nkeys;
    int *key_slot;
    sl__member *key_member; /* member prefixes, the first without a comma */
    size_t key_fixed;       /* sum of prefix lengths */
    uint64_t empty_key_hash;

    /* event time */
    int time_slot; /* -1: no field */
    sl_time_unit unit;
    int64_t max_future_ms; /* watermark.max_future; -1 = off */
    int64_t future_limit;  /* wall clock + max_future when last read */

    /* aggregate columns */
    uint32_t ncols;
    int *col_slot;
    uint8_t *col_kind;  /* sl_col_kind per column */
    int has_value_cols; /* some column is SL_COL_HASH or SL_COL_TEXT */
    int has_text_cols;  /* some column is SL_COL_TEXT */
    int has_other_cols; /* some column is not SL_COL_NUM */
    char *ctext;        /* the current row's value text (hash and text columns) */
    size_t ctext_cap;
    uint32_t *ctext_off, *ctext_len; /* per column; len UINT32_MAX: absent */

    /* repartition record names */
    sl__member ts_member;   /* "\"ts\":" */
    sl__member *col_member; /* ",\"amount\":" */
    uint8_t *col_in_key;    /* column repeated by a key member: not encoded */

    /* mapped rows (no window) */
    int render_rows;
    sl__schema final;
    sl__member *out_member; /* per final-schema entry with an input: "\"cur\":" */

    /* the current row */
    int scanned; /* the last event got past the JSON scan (vals are valid) */
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

/* ---- per event, shared by ingest.c and ingest_derived.c ---------------- */

/* Grows *buf to at least `need` bytes. 0 or -1 (allocation failure). */
int sl__ingest_grow(char **buf, size_t *cap, size_t need);
/* Decoded bytes of an escaped string value of this event, in the scratch
 * area; NULL if they do not fit. */
const char *sl__ingest_unescaped(sl_ingest *ing, const sl_json_val *v, size_t event_len,
                                 size_t *len);
/* The value of `slot` in this event (scanner or derived; evaluated once
 * per event), or NULL when it cannot be had: a string that does not fit
 * the scratch (malformed) or an expression error (ing->xerr set). */
const sl_value *sl__ingest_value(sl_ingest *ing, int slot, size_t event_len);
/* sl__ingest_value() of a derived slot. */
const sl_value *sl__ingest_derived(sl_ingest *ing, int slot, size_t event_len);
/* The bad reason (+ 1) when sl__ingest_value() failed. */
static inline int sl__ingest_value_bad(const sl_ingest *ing)
{
    return (ing->xerr ? SL_BAD_EXPR_ERROR : SL_BAD_MALFORMED) + 1;
}
/* Room sl__ingest_canonical_value() needs for `v`. */
size_t sl__ingest_canonical_bound(const sl_value *v);
/* Appends the canonical JSON form of a derived value (as keys write
 * scanned ones); NULL/MISSING are null. Returns the new end. */
char *sl__ingest_canonical_value(const sl_value *v, char *dst);
/* Aggregate column c from a derived slot: a value column (count_distinct
 * & co.) or a number. 0 or a bad reason + 1. */
int sl__ingest_derived_value_column(sl_ingest *ing, uint32_t c, size_t event_len, size_t *at);
int sl__ingest_derived_num_column(sl_ingest *ing, uint32_t c, size_t event_len);

/* Fills everything but the per-event buffers from ing->def and ing->mode.
 * Returns 0, or an error with errstr (the caller frees the ingest). */
int sl__ingest_compile(sl_ingest *ing, char *errstr, size_t errstr_size);

#endif
