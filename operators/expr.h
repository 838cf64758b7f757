/*
 * expr.h - the SQL expression language of Sluice: compile once, evaluate
 * per row.
 *
 * sl_xexpr_compile() parses the text (SQL syntax, keywords
 * case-insensitive, PostgreSQL precedence), resolves every field reference
 * through the caller's sl_xenv, types the tree where types are known,
 * folds constant subtrees and compiles the result to a flat program over
 * a small register file. sl_xexpr_eval() runs that program over one row of
 * sl_value slots without recursion and without allocating (except growing
 * the caller's sl_xscratch, which is reused). The language, its NULL rules
 * and its errors are described in operators/README.md ("Expressions").
 *
 * @locality: a compiled sl_xexpr is immutable and may be shared across
 * threads; each thread evaluates with its own sl_xscratch.
 */
#ifndef SL_EXPR_H
#define SL_EXPR_H

#include "filter.h" /* sl_value, sl_type */

#include <stddef.h>

typedef struct sl_xexpr sl_xexpr; /* compiled, immutable, shareable across threads */

typedef struct sl_xenv {
    /* Resolves a field reference as written, with nested paths normalised
       to "a.b[2]" form (segments joined by '.', indexes as [N]; a quoted
       identifier "weird name" is one segment, passed without its quotes
       and with "" unescaped). Returns a slot >= 0 and sets *type
       (SL_T_MISSING = not known until run time), or -1 when the field
       cannot exist (compile error "unknown field", with did-you-mean from
       `names`). Called once per distinct path, in the order of first
       reference, so the resolver sees every path the expression reads. */
    int (*resolve)(void *ctx, const char *path, sl_type *type);
    const char *const *names; /* known field names, for did-you-mean; may be NULL */
    size_t nnames;
    void *ctx;
} sl_xenv;

/* Limits checked by sl_xexpr_compile(). */
#define SL_XEXPR_MAX_TEXT  65536 /* bytes of expression text */
#define SL_XEXPR_MAX_DEPTH 256   /* nesting of parentheses / operators */

/* Compiles `text` (NUL-terminated; borrowed for the call only). On error
   returns NULL and writes into err a message "L:C: what" (1-based
   line:column inside the text), e.g.
   `1:8: unknown function "uper", did you mean "upper"?`, followed by a
   newline, the text's line and a caret line under the column. Also NULL
   (with "out of memory") when allocation fails. `env` may be NULL: then
   every field reference is an unknown field. */
sl_xexpr *sl_xexpr_compile(const char *text, const sl_xenv *env, char *err, size_t errsz);
/* sl_xexpr_free(NULL) is a no-op. */
void sl_xexpr_free(sl_xexpr *e);

/* Static result type, SL_T_MISSING if only known at run time (SL_T_NULL
   for an expression that is always NULL, e.g. the literal NULL). */
sl_type sl_xexpr_type(const sl_xexpr *e);
/* The distinct slots the expression reads: *n of them. */
const int *sl_xexpr_slots(const sl_xexpr *e, size_t *n);
/* The distinct normalised field paths the expression references (as given
   to resolve), in the order of first reference: *n of them. */
const char *const *sl_xexpr_paths(const sl_xexpr *e, size_t *n);
/* 1 (and *slot set, if slot is not NULL) when the expression is a bare
   field reference (`amount`, `device.id`, `"a b"`), else 0. */
int sl_xexpr_is_field(const sl_xexpr *e, int *slot);
/* 1 when the expression is a constant (no field reference left after
   folding); then sl_xexpr_eval() ignores `slots`. */
int sl_xexpr_is_const(const sl_xexpr *e);

/* Per-thread scratch for string results; reset per row by the caller;
   grows rarely and is reused, so evaluation does not allocate per event
   in steady state. Zero-initialise before first use (= {0}). Strings
   already produced stay valid when the scratch grows (a full block is
   kept aside until the next reset, never moved), so a caller may evaluate
   several expressions of one row into the same scratch. */
typedef struct sl_xscratch {
    char *buf; /* current block */
    size_t len, cap;
    void *retired;  /* blocks outgrown since the last reset */
    sl_value *regs; /* the register file, sized by the largest program run */
    size_t nregs;
} sl_xscratch;
void sl_xscratch_reset(sl_xscratch *s);
void sl_xscratch_free(sl_xscratch *s);

/* Run-time error kinds returned by sl_xexpr_eval(). */
typedef enum sl_xerr {
    SL_XERR_OK = 0,
    SL_XERR_OVERFLOW, /* integer arithmetic overflow (incl. INT64_MIN / -1, abs(INT64_MIN)),
                         or a double too large for CAST AS BIGINT / round/floor/ceil */
    SL_XERR_DIV_ZERO, /* division or modulo by zero: soft, see below */
    SL_XERR_CAST,     /* CAST of a value that does not convert ('abc' AS BIGINT) */
    SL_XERR_TYPE,     /* operand of the wrong type at run time (string vs number, an
                         object/array value, a non-string where a string is needed) */
    SL_XERR_NOMEM,    /* the scratch could not grow */
    SL_XERR_COUNT
} sl_xerr;

/* Static name of an error kind ("overflow", "division by zero", ...). */
const char *sl_xerr_name(int err);

/* Evaluates over one row (`slots` indexed by resolved slot; a slot of type
   SL_T_MISSING reads as NULL). Writes the result to *out (SL_T_NULL for
   NULL, never SL_T_MISSING; strings point into the row, the compiled
   expression or the scratch, valid until the scratch is reset or the row
   changes). Returns 0 or an error kind:
   - SL_XERR_DIV_ZERO is soft: the division gave NULL and evaluation went
     on, so *out is the expression's value computed with that NULL (as in
     SQLite: `coalesce(a / 0, -1)` is -1). The caller counts the event and
     may keep it (a filter keeps it only if *out is TRUE; a map emits *out).
   - every other kind is hard: evaluation stopped, *out is NULL; the
     caller counts the event (and typically drops or dead-letters it).
   Never allocates except scratch growth. */
int sl_xexpr_eval(const sl_xexpr *e, const sl_value *slots, sl_xscratch *s, sl_value *out);

/* Truth for filters under three-valued logic: 1 only when the value is TRUE. */
static inline int sl_xvalue_true(const sl_value *v)
{
    return v->type == SL_T_BOOL && v->i;
}

#endif
