/*
 * filter.c - runtime evaluation of filter expressions (see filter.h). The
 * definition side (parse, explain) is operators/filter_parse.c.
 *
 * A compiled filter is a flat array of nodes in prefix order; AND/OR/NOT
 * nodes name their children by index, comparisons name a slot. Evaluation
 * recurses over the node array (expressions are at most a few levels deep:
 * the parser bounds them).
 */
#include "filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct sl__fnode {
    sl_expr_kind kind;
    sl_cmp_op op;
    int slot;                  /* CMP: -1 = never present */
    const sl_literal *lit;     /* CMP */
    uint32_t first, nchildren; /* AND/OR/NOT: children[first .. first+n) */
} sl__fnode;

struct sl_filter {
    sl__fnode *nodes;
    size_t nnodes;
    uint32_t *children; /* node indexes */
    size_t nchildren;
    int *slots;
    size_t nslots;
};

static size_t sl__count(const sl_expr *e, size_t *children)
{
    size_t n = 1;
    if (e->kind != SL_EXPR_CMP) {
        *children += e->nargs;
        for (size_t i = 0; i < e->nargs; i++)
            n += sl__count(e->args[i], children);
    }
    return n;
}

typedef struct sl__build {
    sl_filter *f;
    size_t next_child;
    sl_filter_resolve_fn resolve;
    void *ctx;
} sl__build;

static uint32_t sl__emit(sl__build *b, const sl_expr *e)
{
    sl_filter *f = b->f;
    uint32_t at = (uint32_t)f->nnodes++;
    sl__fnode *n = &f->nodes[at];
    memset(n, 0, sizeof(*n));
    n->kind = e->kind;
    if (e->kind == SL_EXPR_CMP) {
        n->op = e->op;
        n->lit = &e->value;
        n->slot = b->resolve(b->ctx, e->field);
        if (n->slot >= 0) {
            size_t i = 0;
            while (i < f->nslots && f->slots[i] != n->slot)
                i++;
            if (i == f->nslots)
                f->slots[f->nslots++] = n->slot;
        }
        return at;
    }
    n->first = (uint32_t)b->next_child;
    n->nchildren = (uint32_t)e->nargs;
    b->next_child += e->nargs;
    for (size_t i = 0; i < e->nargs; i++) {
        uint32_t child = sl__emit(b, e->args[i]);
        f->children[f->nodes[at].first + i] = child; /* nodes may not move: sized up front */
    }
    return at;
}

sl_filter *sl_filter_compile(const sl_expr *expr, sl_filter_resolve_fn resolve, void *ctx)
{
    size_t nchildren = 0, nnodes = sl__count(expr, &nchildren);
    sl_filter *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->nodes = calloc(nnodes, sizeof(*f->nodes));
    f->children = calloc(nchildren ? nchildren : 1, sizeof(*f->children));
    f->slots = calloc(nnodes, sizeof(*f->slots));
    if (!f->nodes || !f->children || !f->slots) {
        sl_filter_free(f);
        return NULL;
    }
    f->nchildren = nchildren;
    sl__build b = {f, 0, resolve, ctx};
    sl__emit(&b, expr);
    return f;
}

void sl_filter_free(sl_filter *f)
{
    if (!f)
        return;
    free(f->nodes);
    free(f->children);
    free(f->slots);
    free(f);
}

const int *sl_filter_slots(const sl_filter *f, size_t *n)
{
    *n = f->nslots;
    return f->slots;
}

/* -1, 0 or 1 as an int compares with a double, exactly; 2 if unordered. */
static int sl__cmp_int_double(int64_t a, double b)
{
    if (isnan(b))
        return 2;
    if (b >= 9223372036854775808.0)
        return -1;
    if (b < -9223372036854775808.0)
        return 1;
    int64_t bi = (int64_t)b; /* truncates toward zero; in range here */
    if (a != bi)
        return a < bi ? -1 : 1;
    double frac = b - (double)bi; /* exact: |b| < 2^63 and bi = trunc(b) */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int sl__cmp_num(const sl_value *v, const sl_literal *lit)
{
    if (v->type == SL_T_INT && lit->type == SL_T_INT)
        return v->i < lit->i ? -1 : v->i > lit->i;
    if (v->type == SL_T_INT)
        return sl__cmp_int_double(v->i, lit->d);
    if (lit->type == SL_T_INT) {
        int c = sl__cmp_int_double(lit->i, v->d);
        return c == 2 ? 2 : -c;
    }
    if (isnan(v->d) || isnan(lit->d))
        return 2;
    return v->d < lit->d ? -1 : v->d > lit->d;
}

static int sl__holds(int c, sl_cmp_op op)
{
    if (c == 2) /* unordered (NaN): only != holds */
        return op == SL_CMP_NE;
    switch (op) {
    case SL_CMP_EQ:
        return c == 0;
    case SL_CMP_NE:
        return c != 0;
    case SL_CMP_LT:
        return c < 0;
    case SL_CMP_LE:
        return c <= 0;
    case SL_CMP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

int sl_value_compare(const sl_value *v, sl_cmp_op op, const sl_literal *lit)
{
    if (v->type == SL_T_MISSING)
        return 0;
    int vnum = v->type == SL_T_INT || v->type == SL_T_DOUBLE;
    int lnum = lit->type == SL_T_INT || lit->type == SL_T_DOUBLE;
    if (vnum && lnum)
        return sl__holds(sl__cmp_num(v, lit), op);
    if (v->type == SL_T_STRING && lit->type == SL_T_STRING) {
        size_t n = v->len < lit->slen ? v->len : lit->slen;
        int c = n ? memcmp(v->s, lit->s, n) : 0;
        if (c == 0)
            c = v->len < lit->slen ? -1 : v->len > lit->slen;
        return sl__holds(c < 0 ? -1 : c > 0, op);
    }
    if (v->type == lit->type && (v->type == SL_T_BOOL || v->type == SL_T_NULL)) {
        int eq = v->type == SL_T_NULL || (v->i != 0) == (lit->i != 0);
        if (op == SL_CMP_EQ)
            return eq;
        if (op == SL_CMP_NE)
            return !eq;
        return 0;
    }
    /* different types */
    return op == SL_CMP_NE;
}

static int sl__eval(const sl_filter *f, uint32_t at, const sl_value *slots)
{
    static const sl_value missing = {SL_T_MISSING, 0, 0, NULL, 0};
    const sl__fnode *n = &f->nodes[at];
    switch (n->kind) {
    case SL_EXPR_CMP:
        return sl_value_compare(n->slot >= 0 ? &slots[n->slot] : &missing, n->op, n->lit);
    case SL_EXPR_AND:
        for (uint32_t i = 0; i < n->nchildren; i++)
            if (!sl__eval(f, f->children[n->first + i], slots))
                return 0;
        return 1;
    case SL_EXPR_OR:
        for (uint32_t i = 0; i < n->nchildren; i++)
            if (sl__eval(f, f->children[n->first + i], slots))
                return 1;
        return 0;
    default: /* NOT */
        return !sl__eval(f, f->children[n->first], slots);
    }
}

int sl_filter_eval(const sl_filter *f, const sl_value *slots)
{
    return sl__eval(f, 0, slots);
}
