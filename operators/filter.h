/*
 * filter.h - runtime evaluation of filter expressions (sl_expr, see
 * definition.h) on a decoded row.
 *
 * The decoder (engine/ingest/ingest.c) extracts each field a filter reads into a
 * numbered slot; sl_filter_compile() resolves the expression's field names
 * to slots once, and sl_filter_eval() then runs on an array of sl_value
 * without touching names, JSON or the allocator.
 *
 * Semantics (definition.h): a comparison with a missing field is false;
 * numbers compare by value (an int and a double exactly, without rounding
 * the int); strings bytewise (memcmp, then length); bool and null support
 * = and != only; a comparison between different types is false, except
 * != which is true.
 *
 * @locality: a compiled sl_filter is immutable; eval is reentrant.
 */
#ifndef SL_FILTER_H
#define SL_FILTER_H

#include "definition.h"

/* A field's value in a decoded row. */
typedef struct sl_value {
    sl_type type;  /* SL_T_MISSING when absent */
    int64_t i;     /* INT; BOOL as 0/1 */
    double d;      /* DOUBLE */
    const char *s; /* STRING: decoded bytes (not NUL-terminated) */
    size_t len;
} sl_value;

typedef struct sl_filter sl_filter;

/* Maps a field name to its slot (>= 0), or -1 when the field can never be
 * present (e.g. removed by an earlier map): comparisons on it are false. */
typedef int (*sl_filter_resolve_fn)(void *ctx, const char *field);

/* Compiles `expr` (borrowed: literals are referenced, so it must outlive
 * the filter). Returns NULL on allocation failure. */
sl_filter *sl_filter_compile(const sl_expr *expr, sl_filter_resolve_fn resolve, void *ctx);
/* sl_filter_free(NULL) is a no-op. */
void sl_filter_free(sl_filter *f);

/* 1 if the row passes, 0 if not. `slots` holds every slot the resolver
 * returned. Never fails. */
int sl_filter_eval(const sl_filter *f, const sl_value *slots);

/* The distinct slots the filter reads: *n of them. */
const int *sl_filter_slots(const sl_filter *f, size_t *n);

/* One comparison: 1 if `v op lit` holds under the rules above. */
int sl_value_compare(const sl_value *v, sl_cmp_op op, const sl_literal *lit);

#endif
