/*
 * expr_check.c - from the syntax tree to a compiled sl_xexpr: field
 * resolution through the caller's sl_xenv, static typing (errors where
 * both types are known), constant folding, and code generation into the
 * flat register program run by expr_eval.c. Also the public compile /
 * free / accessor functions.
 *
 * Folding runs the program of a subtree whose operands are all literals
 * at compile time, through the same evaluator, and replaces the subtree by
 * its value; a subtree whose evaluation fails (1 / 0, an overflow) is left
 * as it is, so the error is counted per row at run time.
 */
#include "expr_internal.h"
#include "didyoumean.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sl__xcomp {
    sl__xtree *t;
    const sl_xenv *env;
    sl_xexpr *e;
    sl_type *path_types; /* parallel to e->paths */
    int *path_slots;
    size_t cappaths;
    sl_xscratch fold;
} sl__xcomp;

const char *sl__xtype_name(sl_type t)
{
    switch (t) {
    case SL_T_NULL:
        return "NULL";
    case SL_T_BOOL:
        return "BOOLEAN";
    case SL_T_INT:
        return "BIGINT";
    case SL_T_DOUBLE:
        return "DOUBLE";
    case SL_T_STRING:
        return "VARCHAR";
    case SL_T_OTHER:
        return "JSON";
    default:
        return "UNKNOWN";
    }
}

static int sl__xknown(sl_type t)
{
    return t != SL_T_MISSING && t != SL_T_NULL;
}

static int sl__xclass(sl_type t)
{
    return t == SL_T_DOUBLE ? SL_T_INT : (int)t;
}

#define NODE(i) (c->t->nodes[(i)])

/* ---- code generation -------------------------------------------------- */

static int sl__xemit(sl__xcomp *c, sl__xop op, int d, int a, int b, int32_t x, int32_t y)
{
    sl_xexpr *e = c->e;
    int top = d > a ? d : a;
    if (op == SL__XI_CALL) /* b is the aux index; the arguments are a .. a+y-1 */
        top = top > a + y - 1 ? top : a + y - 1;
    else
        top = top > b ? top : b;
    if (top >= SL__XMAX_REGS)
        return sl__xerror(c->t, 0, "expression too large");
    if ((uint32_t)top + 1 > e->nregs)
        e->nregs = (uint32_t)top + 1;
    if (e->ncode == e->capcode) {
        size_t cap = e->capcode ? 2 * e->capcode : 32;
        sl__xins *code = realloc(e->code, cap * sizeof(*code));
        if (!code)
            return sl__xerror(c->t, 0, "out of memory");
        e->code = code;
        e->capcode = cap;
    }
    sl__xins *in = &e->code[e->ncode];
    in->op = (uint8_t)op;
    in->d = (uint16_t)d;
    in->a = (uint16_t)a;
    in->b = (uint16_t)b;
    in->x = x;
    in->y = y;
    return (int)e->ncode++;
}

static int sl__xconst(sl__xcomp *c, const sl_value *v)
{
    sl_xexpr *e = c->e;
    if (e->nk == e->capk) {
        size_t cap = e->capk ? 2 * e->capk : 16;
        sl_value *k = realloc(e->k, cap * sizeof(*k));
        if (!k)
            return sl__xerror(c->t, 0, "out of memory");
        e->k = k;
        e->capk = cap;
    }
    e->k[e->nk] = *v;
    return (int)e->nk++;
}

/* Points every jump of the chain starting at `j` (linked through x) at
 * the current end of the code. */
static void sl__xpatch(sl__xcomp *c, int j)
{
    while (j >= 0) {
        int next = c->e->code[j].x;
        c->e->code[j].x = (int32_t)c->e->ncode;
        j = next;
    }
}

/* Appends a jump to the chain `*chain`. */
static int sl__xjump(sl__xcomp *c, sl__xop op, int a, int *chain)
{
    int j = sl__xemit(c, op, 0, a, 0, *chain, 0);
    if (j >= 0)
        *chain = j;
    return j;
}

static int sl__xgen(sl__xcomp *c, int n, int r);

static int sl__xgen_kids(sl__xcomp *c, int n, int r)
{
    int k = NODE(n).kid;
    for (int i = 0; k >= 0; i++, k = NODE(k).next)
        if (sl__xgen(c, k, r + i) < 0)
            return -1;
    return 0;
}

/* Emits code leaving node n's value in register r (r+1... are free). */
static int sl__xgen(sl__xcomp *c, int n, int r)
{
    static const sl__xop arith[128] = {['+'] = SL__XI_ADD,
                                       ['-'] = SL__XI_SUB,
                                       ['*'] = SL__XI_MUL,
                                       ['/'] = SL__XI_DIV,
                                       ['%'] = SL__XI_MOD};
    sl__xnode nd = NODE(n); /* a copy: the tree does not change here */
    int chain = -1, k = nd.kid;
    switch ((sl__xkind)nd.kind) {
    case SL__XN_LIT: {
        int ki = sl__xconst(c, &nd.lit);
        return ki < 0 ? -1 : sl__xemit(c, SL__XI_LOADK, r, 0, 0, ki, 0);
    }
    case SL__XN_FIELD:
        return sl__xemit(c, SL__XI_LOADF, r, 0, 0, nd.slot, 0);
    case SL__XN_NEG:
    case SL__XN_NOT:
        if (sl__xgen(c, k, r) < 0)
            return -1;
        return sl__xemit(c, nd.kind == SL__XN_NEG ? SL__XI_NEG : SL__XI_NOT, r, r, 0, 0, 0);
    case SL__XN_ARITH:
    case SL__XN_CONCAT:
    case SL__XN_CMP:
        if (sl__xgen_kids(c, n, r) < 0)
            return -1;
        return sl__xemit(c,
                         nd.kind == SL__XN_ARITH    ? arith[nd.op & 127]
                         : nd.kind == SL__XN_CONCAT ? SL__XI_CONCAT
                                                    : SL__XI_CMP,
                         r, r, r + 1, nd.op, 0);
    case SL__XN_AND:
    case SL__XN_OR: {
        sl__xop jop = nd.kind == SL__XN_AND ? SL__XI_JFALSE : SL__XI_JTRUE;
        if (sl__xgen(c, k, r) < 0 || sl__xjump(c, jop, r, &chain) < 0)
            return -1;
        for (k = NODE(k).next; k >= 0; k = NODE(k).next)
            if (sl__xgen(c, k, r + 1) < 0 ||
                sl__xemit(c, nd.kind == SL__XN_AND ? SL__XI_AND : SL__XI_OR, r, r, r + 1, 0, 0) <
                    0 ||
                sl__xjump(c, jop, r, &chain) < 0)
                return -1;
        sl__xpatch(c, chain);
        return 0;
    }
    case SL__XN_IS:
        if (sl__xgen(c, k, r) < 0)
            return -1;
        return sl__xemit(c, SL__XI_IS, r, r, 0, nd.op, 0);
    case SL__XN_IN: {
        sl_value f = {SL_T_BOOL, 0, 0, NULL, 0};
        int ki = sl__xconst(c, &f);
        if (ki < 0 || sl__xgen(c, k, r + 1) < 0 || sl__xemit(c, SL__XI_LOADK, r, 0, 0, ki, 0) < 0)
            return -1;
        for (k = NODE(k).next; k >= 0; k = NODE(k).next)
            if (sl__xgen(c, k, r + 2) < 0 ||
                sl__xemit(c, SL__XI_INSTEP, r, r + 1, r + 2, 0, 0) < 0 ||
                sl__xjump(c, SL__XI_JTRUE, r, &chain) < 0)
                return -1;
        sl__xpatch(c, chain);
        return nd.neg ? sl__xemit(c, SL__XI_NOT, r, r, 0, 0, 0) : 0;
    }
    case SL__XN_BETWEEN: {
        int lo = NODE(k).next, hi = NODE(lo).next;
        if (sl__xgen(c, k, r + 1) < 0 || sl__xgen(c, lo, r + 2) < 0 ||
            sl__xemit(c, SL__XI_CMP, r + 2, r + 1, r + 2, SL__XC_GE, 0) < 0 ||
            sl__xgen(c, hi, r + 3) < 0 ||
            sl__xemit(c, SL__XI_CMP, r + 3, r + 1, r + 3, SL__XC_LE, 0) < 0 ||
            sl__xemit(c, SL__XI_AND, r, r + 2, r + 3, 0, 0) < 0)
            return -1;
        return nd.neg ? sl__xemit(c, SL__XI_NOT, r, r, 0, 0, 0) : 0;
    }
    case SL__XN_LIKE: {
        int esc = -1, p = NODE(k).next;
        if (nd.has_else && (esc = sl__xconst(c, &NODE(NODE(p).next).lit)) < 0)
            return -1;
        if (sl__xgen(c, k, r) < 0 || sl__xgen(c, p, r + 1) < 0 ||
            sl__xemit(c, SL__XI_LIKE, r, r, r + 1, esc, 0) < 0)
            return -1;
        return nd.neg ? sl__xemit(c, SL__XI_NOT, r, r, 0, 0, 0) : 0;
    }
    case SL__XN_CASE: {
        if (nd.has_operand) {
            if (sl__xgen(c, k, r + 1) < 0)
                return -1;
            k = NODE(k).next;
        }
        while (k >= 0 && NODE(k).next >= 0) { /* WHEN k THEN next */
            /* with an operand (kept in r+1), both go through r+2 */
            int then = NODE(k).next, skip = -1, w = nd.has_operand ? r + 2 : r;
            if (sl__xgen(c, k, w) < 0 ||
                (nd.has_operand && sl__xemit(c, SL__XI_CMP, w, r + 1, w, SL__XC_EQ, 0) < 0) ||
                sl__xjump(c, SL__XI_JNTRUE, w, &skip) < 0 || sl__xgen(c, then, w) < 0 ||
                (w != r && sl__xemit(c, SL__XI_MOV, r, w, 0, 0, 0) < 0) ||
                sl__xjump(c, SL__XI_JMP, 0, &chain) < 0)
                return -1;
            sl__xpatch(c, skip);
            k = NODE(then).next;
        }
        if (k >= 0) { /* ELSE */
            if (sl__xgen(c, k, r) < 0)
                return -1;
        } else {
            sl_value nul = {SL_T_NULL, 0, 0, NULL, 0};
            int ki = sl__xconst(c, &nul);
            if (ki < 0 || sl__xemit(c, SL__XI_LOADK, r, 0, 0, ki, 0) < 0)
                return -1;
        }
        sl__xpatch(c, chain);
        return 0;
    }
    case SL__XN_CAST:
        if (sl__xgen(c, k, r) < 0)
            return -1;
        return sl__xemit(c, SL__XI_CAST, r, r, 0, nd.op, 0);
    case SL__XN_CALL: {
        const sl__xfunc *f = &sl__xfuncs[nd.fn];
        if (f->special == 1) { /* coalesce: the first non-NULL, lazily */
            for (; k >= 0; k = NODE(k).next)
                if (sl__xgen(c, k, r) < 0 ||
                    (NODE(k).next >= 0 && sl__xjump(c, SL__XI_JNNULL, r, &chain) < 0))
                    return -1;
            sl__xpatch(c, chain);
            return 0;
        }
        if (sl__xgen_kids(c, n, r) < 0)
            return -1;
        if (f->special == 2)
            return sl__xemit(c, SL__XI_NULLIF, r, r, r + 1, 0, 0);
        return sl__xemit(c, SL__XI_CALL, r, r, nd.aux >= 0 ? nd.aux : UINT16_MAX, nd.fn,
                         (int32_t)nd.nkids);
    }
    }
    return -1;
}

/* ---- checking --------------------------------------------------------- */

static int sl__xfield(sl__xcomp *c, int n)
{
    sl_xexpr *e = c->e;
    const char *path = NODE(n).name;
    for (size_t i = 0; i < e->npaths; i++)
        if (strcmp(e->paths[i], path) == 0) {
            NODE(n).slot = c->path_slots[i];
            NODE(n).type = c->path_types[i];
            return 0;
        }
    sl_type type = SL_T_MISSING;
    int slot = c->env && c->env->resolve ? c->env->resolve(c->env->ctx, path, &type) : -1;
    if (slot < 0) {
        sl_suggest sg;
        sl_suggest_init(&sg, path);
        for (size_t i = 0; c->env && c->env->names && i < c->env->nnames; i++)
            sl_suggest_add(&sg, c->env->names[i]);
        const char *best = sl_suggest_result(&sg);
        if (best)
            return sl__xerror(c->t, NODE(n).pos, "unknown field \"%s\", did you mean \"%s\"?", path,
                              best);
        return sl__xerror(c->t, NODE(n).pos, "unknown field \"%s\"", path);
    }
    if (type == SL_T_NULL)
        type = SL_T_MISSING;
    if (e->npaths == c->cappaths) {
        size_t cap = c->cappaths ? 2 * c->cappaths : 8;
        char **p = realloc(e->paths, cap * sizeof(*p));
        if (p)
            e->paths = p;
        sl_type *ty = realloc(c->path_types, cap * sizeof(*ty));
        if (ty)
            c->path_types = ty;
        int *sl = realloc(c->path_slots, cap * sizeof(*sl));
        if (sl)
            c->path_slots = sl;
        int *ss = realloc(e->slots, cap * sizeof(*ss));
        if (ss)
            e->slots = ss;
        if (!p || !ty || !sl || !ss)
            return sl__xerror(c->t, 0, "out of memory");
        c->cappaths = cap;
    }
    e->paths[e->npaths] = NODE(n).name; /* owned by the tree, kept */
    c->path_types[e->npaths] = type;
    c->path_slots[e->npaths++] = slot;
    int seen = 0;
    for (size_t i = 0; i < e->nslots; i++)
        seen |= e->slots[i] == slot;
    if (!seen)
        e->slots[e->nslots++] = slot;
    NODE(n).slot = slot;
    NODE(n).type = type;
    return 0;
}

static int sl__xneed_bool(sl__xcomp *c, int k, const char *what)
{
    sl_type t = NODE(k).type;
    if (sl__xknown(t) && t != SL_T_BOOL)
        return sl__xerror(c->t, NODE(k).pos, "%s needs a BOOLEAN, got %s", what, sl__xtype_name(t));
    return 0;
}

static int sl__xneed_cmp(sl__xcomp *c, sl_type a, int kb, uint32_t pos)
{
    sl_type b = NODE(kb).type;
    if (a == SL_T_OTHER || b == SL_T_OTHER ||
        (sl__xknown(a) && sl__xknown(b) && sl__xclass(a) != sl__xclass(b)))
        return sl__xerror(c->t, pos, "cannot compare %s with %s", sl__xtype_name(a),
                          sl__xtype_name(b));
    return 0;
}

/* The type two branches share: NULL gives way, different types give
 * MISSING (dynamic). */
static sl_type sl__xcommon(sl_type acc, sl_type t)
{
    if (t == SL_T_NULL)
        return acc;
    if (acc == SL_T_NULL)
        return t;
    return acc == t ? acc : SL_T_MISSING;
}

static int sl__xcheck_call(sl__xcomp *c, int n)
{
    sl__xnode *nd = &NODE(n);
    int fn = sl__xfunc_find(nd->name);
    if (fn < 0) {
        sl_suggest sg;
        sl_suggest_init(&sg, nd->name);
        for (size_t i = 0; i < sl__xnfuncs; i++)
            sl_suggest_add(&sg, sl__xfuncs[i].name);
        const char *best = sl_suggest_result(&sg);
        if (best)
            return sl__xerror(c->t, nd->pos, "unknown function \"%s\", did you mean \"%s\"?",
                              nd->name, best);
        return sl__xerror(c->t, nd->pos, "unknown function \"%s\"", nd->name);
    }
    const sl__xfunc *f = &sl__xfuncs[fn];
    nd->fn = fn;
    int na = (int)nd->nkids;
    if (na < f->minargs || (f->maxargs >= 0 && na > f->maxargs)) {
        if (f->maxargs < 0)
            return sl__xerror(c->t, nd->pos, "%s takes at least %d argument%s, got %d", f->name,
                              f->minargs, f->minargs == 1 ? "" : "s", na);
        if (f->minargs == f->maxargs)
            return sl__xerror(c->t, nd->pos, "%s takes %d argument%s, got %d", f->name, f->minargs,
                              f->minargs == 1 ? "" : "s", na);
        return sl__xerror(c->t, nd->pos, "%s takes %d to %d arguments, got %d", f->name, f->minargs,
                          f->maxargs, na);
    }
    size_t nspec = strlen(f->args);
    sl_type common = SL_T_NULL, first = SL_T_MISSING;
    int anynull = 0, i = 0;
    for (int k = nd->kid; k >= 0; k = NODE(k).next, i++) {
        char spec = f->args[(size_t)i < nspec ? (size_t)i : nspec - 1];
        sl_type t = NODE(k).type;
        const char *want = NULL;
        anynull |= t == SL_T_NULL;
        switch (spec) {
        case 'N':
            want = sl__xknown(t) && t != SL_T_INT && t != SL_T_DOUBLE ? "a number" : NULL;
            break;
        case 'I':
            want = sl__xknown(t) && t != SL_T_INT ? "BIGINT" : NULL;
            break;
        case 'S':
        case 'P':
        case 'U':
            want = sl__xknown(t) && t != SL_T_STRING ? "VARCHAR" : NULL;
            break;
        case 'T':
            want = sl__xknown(t) && t != SL_T_INT && t != SL_T_DOUBLE && t != SL_T_STRING
                       ? "a number or VARCHAR"
                       : NULL;
            break;
        case 'X':
            want = t == SL_T_OTHER ? "a scalar" : NULL;
            break;
        default: /* C */
            if (t == SL_T_OTHER ||
                (sl__xknown(first) && sl__xknown(t) && sl__xclass(first) != sl__xclass(t)))
                return sl__xerror(c->t, NODE(k).pos,
                                  "%s: argument %d (%s) cannot be compared with %s", f->name, i + 1,
                                  sl__xtype_name(t), sl__xtype_name(first));
            if (!sl__xknown(first))
                first = t;
            break;
        }
        if (want)
            return sl__xerror(c->t, NODE(k).pos, "%s: argument %d must be %s, got %s", f->name,
                              i + 1, want, sl__xtype_name(t));
        common = sl__xcommon(common, t);
        if (spec == 'P' || spec == 'U') {
            static const sl_value none = {SL_T_NULL, 0, 0, NULL, 0};
            void (*free_aux)(void *);
            void *aux = sl__xfunc_aux(c->t, fn, NODE(k).kind == SL__XN_LIT ? &NODE(k).lit : &none,
                                      NODE(k).pos, &free_aux);
            if (!aux)
                return -1;
            sl__xaux *na2 = realloc(c->e->aux, (c->e->naux + 1) * sizeof(*na2));
            if (!na2) {
                if (free_aux)
                    free_aux(aux);
                return sl__xerror(c->t, 0, "out of memory");
            }
            c->e->aux = na2;
            c->e->aux[c->e->naux].p = aux;
            c->e->aux[c->e->naux].free_aux = free_aux;
            NODE(n).aux = (int)c->e->naux++;
            if (c->e->naux >= UINT16_MAX)
                return sl__xerror(c->t, NODE(k).pos, "expression too large");
        }
    }
    nd = &NODE(n);
    switch (f->res) {
    case SL__XR_FIXED:
        nd->type = f->type;
        break;
    case SL__XR_ARG0:
        nd->type = NODE(nd->kid).type;
        break;
    default:
        nd->type = common;
        break;
    }
    if (anynull && !f->nulls_ok)
        nd->type = SL_T_NULL;
    return 0;
}

static int sl__xcheck(sl__xcomp *c, int n);

/* Replaces node n by its value when all its operands are literals and
 * evaluating it succeeds. */
static int sl__xfold(sl__xcomp *c, int n)
{
    int allk = NODE(n).nkids > 0;
    for (int k = NODE(n).kid; k >= 0; k = NODE(k).next)
        allk &= NODE(k).kind == SL__XN_LIT;
    if (!allk)
        return 0;
    sl_xexpr *e = c->e;
    size_t c0 = e->ncode, k0 = e->nk;
    if (sl__xgen(c, n, 0) < 0)
        return -1;
    sl_value v;
    sl_xscratch_reset(&c->fold);
    int rc = sl__xrun(e, c0, e->ncode, NULL, &c->fold, &v);
    e->ncode = c0;
    e->nk = k0;
    if (rc != 0)
        return rc == SL_XERR_NOMEM ? sl__xerror(c->t, 0, "out of memory") : 0;
    if (v.type == SL_T_STRING && !(v.s = sl__xstrdup(c->t, v.s, v.len)))
        return -1;
    sl__xnode *nd = &NODE(n);
    nd->kind = SL__XN_LIT;
    nd->lit = v;
    nd->type = v.type;
    nd->kid = nd->last = -1;
    nd->nkids = 0;
    return 0;
}

static int sl__xcheck(sl__xcomp *c, int n)
{
    for (int k = NODE(n).kid; k >= 0; k = NODE(k).next)
        if (sl__xcheck(c, k) < 0)
            return -1;
    sl__xnode *nd = &NODE(n);
    int k = nd->kid, k2 = k >= 0 ? NODE(k).next : -1;
    sl_type a = k >= 0 ? NODE(k).type : SL_T_MISSING, b = k2 >= 0 ? NODE(k2).type : SL_T_MISSING;
    switch ((sl__xkind)nd->kind) {
    case SL__XN_LIT:
        nd->type = nd->lit.type;
        return 0;
    case SL__XN_FIELD:
        return sl__xfield(c, n);
    case SL__XN_NEG:
    case SL__XN_ARITH: {
        int bin = nd->kind == SL__XN_ARITH;
        if ((sl__xknown(a) && sl__xclass(a) != SL_T_INT) ||
            (bin && sl__xknown(b) && sl__xclass(b) != SL_T_INT)) {
            if (!bin)
                return sl__xerror(c->t, nd->pos, "operator - needs a number, got %s",
                                  sl__xtype_name(a));
            return sl__xerror(c->t, nd->pos, "operator %c needs numbers, got %s and %s", nd->op,
                              sl__xtype_name(a), sl__xtype_name(b));
        }
        if (!bin)
            b = a;
        nd->type = a == SL_T_NULL || b == SL_T_NULL       ? SL_T_NULL
                   : a == SL_T_INT && b == SL_T_INT       ? SL_T_INT
                   : a == SL_T_DOUBLE || b == SL_T_DOUBLE ? SL_T_DOUBLE
                                                          : SL_T_MISSING;
        break;
    }
    case SL__XN_CONCAT:
        if (a == SL_T_OTHER || b == SL_T_OTHER)
            return sl__xerror(c->t, nd->pos, "operator || needs scalars, got %s and %s",
                              sl__xtype_name(a), sl__xtype_name(b));
        nd->type = a == SL_T_NULL || b == SL_T_NULL ? SL_T_NULL : SL_T_STRING;
        break;
    case SL__XN_CMP:
        if (sl__xneed_cmp(c, a, k2, nd->pos) < 0)
            return -1;
        nd->type = a == SL_T_NULL || b == SL_T_NULL ? SL_T_NULL : SL_T_BOOL;
        break;
    case SL__XN_NOT:
    case SL__XN_AND:
    case SL__XN_OR:
        for (int j = k; j >= 0; j = NODE(j).next)
            if (sl__xneed_bool(c, j,
                               nd->kind == SL__XN_NOT   ? "NOT"
                               : nd->kind == SL__XN_AND ? "AND"
                                                        : "OR") < 0)
                return -1;
        nd->type = SL_T_BOOL;
        break;
    case SL__XN_IS:
        if (nd->op != SL__XIS_NULL && nd->op != SL__XIS_NOT_NULL &&
            sl__xneed_bool(c, k, "IS TRUE / IS FALSE") < 0)
            return -1;
        nd->type = SL_T_BOOL;
        break;
    case SL__XN_IN:
    case SL__XN_BETWEEN:
        for (int j = k2; j >= 0; j = NODE(j).next)
            if (sl__xneed_cmp(c, a, j, NODE(j).pos) < 0)
                return -1;
        nd->type = SL_T_BOOL;
        break;
    case SL__XN_LIKE:
        for (int j = k; j >= 0; j = NODE(j).next)
            if (sl__xknown(NODE(j).type) && NODE(j).type != SL_T_STRING)
                return sl__xerror(c->t, NODE(j).pos, "LIKE needs VARCHAR operands, got %s",
                                  sl__xtype_name(NODE(j).type));
        if (nd->has_else) {
            int e = NODE(k2).next;
            const sl_value *lit = &NODE(e).lit;
            int one = NODE(e).kind == SL__XN_LIT && lit->type == SL_T_STRING && lit->len > 0;
            for (size_t i = 1; one && i < lit->len; i++)
                one = ((unsigned char)lit->s[i] & 0xC0) == 0x80;
            if (!one)
                return sl__xerror(c->t, NODE(e).pos,
                                  "ESCAPE needs a string literal of one character");
        }
        nd->type = SL_T_BOOL;
        break;
    case SL__XN_CASE: {
        sl_type res = SL_T_NULL;
        int j = k;
        if (nd->has_operand)
            j = NODE(j).next;
        while (j >= 0 && NODE(j).next >= 0) {
            int then = NODE(j).next;
            if (nd->has_operand ? sl__xneed_cmp(c, a, j, NODE(j).pos) < 0
                                : sl__xneed_bool(c, j, "CASE WHEN") < 0)
                return -1;
            res = sl__xcommon(res, NODE(then).type);
            j = NODE(then).next;
        }
        if (j >= 0)
            res = sl__xcommon(res, NODE(j).type);
        nd->type = res;
        break;
    }
    case SL__XN_CAST:
        if (a == SL_T_OTHER && nd->op != SL_T_STRING)
            return sl__xerror(c->t, nd->pos, "cannot cast JSON to %s",
                              sl__xtype_name((sl_type)nd->op));
        nd->type = a == SL_T_NULL ? SL_T_NULL : (sl_type)nd->op;
        break;
    case SL__XN_CALL:
        if (sl__xcheck_call(c, n) < 0)
            return -1;
        break;
    }
    return sl__xfold(c, n);
}

/* ---- public ----------------------------------------------------------- */

sl_xexpr *sl_xexpr_compile(const char *text, const sl_xenv *env, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    sl__xtree t = {.text = text, .err = err, .errsz = errsz};
    t.textlen = strnlen(text, (size_t)SL_XEXPR_MAX_TEXT + 1);
    sl_xexpr *e = calloc(1, sizeof(*e));
    if (!e) {
        if (err && errsz)
            snprintf(err, errsz, "out of memory");
        return NULL;
    }
    e->field_slot = -1;
    sl__xcomp c = {.t = &t, .env = env, .e = e};
    int root = sl__xparse(&t);
    int ok = root >= 0 && sl__xcheck(&c, root) == 0;
    if (ok) {
        e->ncode = 0;
        e->nk = 0;
        ok = sl__xgen(&c, root, 0) >= 0;
    }
    if (ok) {
        e->type = t.nodes[root].type;
        if (t.nodes[root].kind == SL__XN_FIELD)
            e->field_slot = t.nodes[root].slot;
        e->is_const = t.nodes[root].kind == SL__XN_LIT;
    }
    e->owned = t.owned;
    e->nowned = t.nowned;
    free(t.nodes);
    free(c.path_types);
    free(c.path_slots);
    sl_xscratch_free(&c.fold);
    if (!ok) {
        if (err && errsz && !err[0])
            snprintf(err, errsz, "out of memory");
        sl_xexpr_free(e);
        return NULL;
    }
    return e;
}

void sl_xexpr_free(sl_xexpr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->naux; i++)
        if (e->aux[i].free_aux)
            e->aux[i].free_aux(e->aux[i].p);
    for (size_t i = 0; i < e->nowned; i++)
        free(e->owned[i]);
    free(e->owned);
    free(e->aux);
    free(e->code);
    free(e->k);
    free(e->slots);
    free(e->paths);
    free(e);
}

sl_type sl_xexpr_type(const sl_xexpr *e)
{
    return e->type;
}

const int *sl_xexpr_slots(const sl_xexpr *e, size_t *n)
{
    *n = e->nslots;
    return e->slots;
}

const char *const *sl_xexpr_paths(const sl_xexpr *e, size_t *n)
{
    *n = e->npaths;
    return (const char *const *)e->paths;
}

int sl_xexpr_is_field(const sl_xexpr *e, int *slot)
{
    if (e->field_slot < 0)
        return 0;
    if (slot)
        *slot = e->field_slot;
    return 1;
}

int sl_xexpr_is_const(const sl_xexpr *e)
{
    return e->is_const;
}
