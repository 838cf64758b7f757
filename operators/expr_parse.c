/*
 * expr_parse.c - recursive-descent parser of the expression language
 * (tokens from expr_lex.c) into the syntax tree of expr_internal.h.
 *
 * Precedence, loosest first (as PostgreSQL): OR; AND; NOT; IS; comparisons
 * (not chained); [NOT] IN / BETWEEN / LIKE; ||; + -; * / %; unary -.
 * Recursion is bounded: every nesting level counts towards
 * SL_XEXPR_MAX_DEPTH, and so does the depth of the tree built (a+b+c...),
 * while AND / OR chains become one n-ary node.
 */
#include "expr_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tree ------------------------------------------------------------- */

static int sl__xnew(sl__xtree *t, sl__xkind kind, size_t pos)
{
    if (t->nnodes == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 32;
        sl__xnode *nn = realloc(t->nodes, cap * sizeof(*nn));
        if (!nn)
            return sl__xerror(t, 0, "out of memory");
        t->nodes = nn;
        t->cap = cap;
    }
    sl__xnode *n = &t->nodes[t->nnodes];
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->pos = (uint32_t)pos;
    n->depth = 1;
    n->kid = n->last = n->next = -1;
    n->slot = n->fn = n->aux = -1;
    n->type = SL_T_MISSING;
    return (int)t->nnodes++;
}

/* Appends child `k` to `p`; fails when the tree gets too deep. */
static int sl__xadd(sl__xtree *t, int p, int k)
{
    if (p < 0 || k < 0)
        return -1;
    sl__xnode *pn = &t->nodes[p];
    if (pn->last < 0)
        pn->kid = k;
    else
        t->nodes[pn->last].next = k;
    pn->last = k;
    pn->nkids++;
    if (t->nodes[k].depth + 1 > pn->depth)
        pn->depth = t->nodes[k].depth + 1;
    if (pn->depth > SL_XEXPR_MAX_DEPTH)
        return sl__xerror(t, pn->pos, "expression nested too deeply (more than %d levels)",
                          SL_XEXPR_MAX_DEPTH);
    return 0;
}

static int sl__xnode2(sl__xtree *t, sl__xkind kind, size_t pos, int op, int a, int b)
{
    if (a < 0 || b < 0)
        return -1;
    int n = sl__xnew(t, kind, pos);
    if (n < 0)
        return -1;
    t->nodes[n].op = op;
    if (sl__xadd(t, n, a) < 0 || sl__xadd(t, n, b) < 0)
        return -1;
    return n;
}

/* ---- grammar ---------------------------------------------------------- */

static int sl__xexpr(sl__xlex *l);

/* Enters one level of nesting. */
static int sl__xenter(sl__xlex *l)
{
    if (++l->depth > SL_XEXPR_MAX_DEPTH)
        return sl__xerror(l->t, (uint32_t)l->pos,
                          "expression nested too deeply (more than %d levels)", SL_XEXPR_MAX_DEPTH);
    return 0;
}

/* A string literal token's content, '' unescaped, owned by the tree. */
static char *sl__xunquote(sl__xlex *l, size_t *len)
{
    const char *s = l->t->text + l->pos + 1;
    size_t n = l->len - 2, o = 0;
    char *p = malloc(n + 1);
    if (!p)
        return sl__xown(l->t, NULL);
    for (size_t i = 0; i < n; i++) {
        p[o++] = s[i];
        if (s[i] == l->t->text[l->pos])
            i++; /* the doubled quote */
    }
    p[o] = '\0';
    *len = o;
    return sl__xown(l->t, p);
}

/* Appends n bytes to the growing path buffer. */
static int sl__xpath_put(sl__xtree *t, char **buf, size_t *len, size_t *cap, const char *s,
                         size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (*len + n + 1 > c)
            c *= 2;
        char *p = realloc(*buf, c);
        if (!p)
            return sl__xerror(t, 0, "out of memory");
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* fieldref := name ( '.' name | '[' int ']' )*, name an identifier or a
 * "quoted identifier"; normalised to a.b[2]. */
static int sl__xfield_path(sl__xlex *l, char **buf)
{
    size_t len = 0, cap = 0;
    for (int first = 1;; first = 0) {
        if (first || sl__xpunct(l, ".")) {
            if (!first && (sl__xnext(l) < 0 || sl__xpath_put(l->t, buf, &len, &cap, ".", 1) < 0))
                return -1;
            if (l->tok == SL__XT_QIDENT) {
                const char *s = l->t->text + l->pos + 1;
                for (size_t i = 0; i + 2 < l->len; i++) {
                    if (sl__xpath_put(l->t, buf, &len, &cap, s + i, 1) < 0)
                        return -1;
                    if (s[i] == '"')
                        i++; /* "" is one quote */
                }
            } else if (l->tok == SL__XT_IDENT) {
                if (sl__xpath_put(l->t, buf, &len, &cap, l->t->text + l->pos, l->len) < 0)
                    return -1;
            } else {
                char got[64];
                sl__xdescribe(l, got, sizeof(got));
                return sl__xerror(l->t, (uint32_t)l->pos,
                                  "expected a field name after \".\", got %s", got);
            }
            if (sl__xnext(l) < 0)
                return -1;
        } else if (sl__xpunct(l, "[")) {
            if (sl__xnext(l) < 0)
                return -1;
            if (l->tok != SL__XT_INT) {
                char got[64];
                sl__xdescribe(l, got, sizeof(got));
                return sl__xerror(l->t, (uint32_t)l->pos,
                                  "expected an index (a non-negative integer), got %s", got);
            }
            char idx[32];
            int n = snprintf(idx, sizeof(idx), "[%lld]", (long long)l->i);
            if (sl__xpath_put(l->t, buf, &len, &cap, idx, (size_t)n) < 0 || sl__xnext(l) < 0 ||
                sl__xexpect(l, "]") < 0)
                return -1;
        } else
            return 0;
    }
}

static int sl__xfield(sl__xlex *l)
{
    size_t pos = l->pos;
    char *buf = NULL;
    int rc = sl__xfield_path(l, &buf);
    int n = -1;
    if (rc == 0 && (n = sl__xnew(l->t, SL__XN_FIELD, pos)) >= 0) {
        l->t->nodes[n].name = sl__xstrdup(l->t, buf, strlen(buf));
        if (!l->t->nodes[n].name)
            n = -1;
    }
    free(buf);
    return n;
}

/* CASE [x] WHEN a THEN b ... [ELSE c] END, after CASE. */
static int sl__xcase(sl__xlex *l, size_t pos)
{
    int n = sl__xnew(l->t, SL__XN_CASE, pos);
    if (n < 0)
        return -1;
    if (!sl__xat_kw(l, SL__XK_WHEN) && !sl__xat_kw(l, SL__XK_END) && l->tok != SL__XT_EOF) {
        l->t->nodes[n].has_operand = 1;
        if (sl__xadd(l->t, n, sl__xexpr(l)) < 0)
            return -1;
    }
    if (!sl__xat_kw(l, SL__XK_WHEN)) {
        char got[64];
        sl__xdescribe(l, got, sizeof(got));
        return sl__xerror(l->t, (uint32_t)l->pos, "expected WHEN, got %s", got);
    }
    while (sl__xat_kw(l, SL__XK_WHEN)) {
        if (sl__xnext(l) < 0 || sl__xadd(l->t, n, sl__xexpr(l)) < 0 ||
            sl__xexpect_kw(l, SL__XK_THEN) < 0 || sl__xadd(l->t, n, sl__xexpr(l)) < 0)
            return -1;
    }
    if (sl__xat_kw(l, SL__XK_ELSE)) {
        l->t->nodes[n].has_else = 1;
        if (sl__xnext(l) < 0 || sl__xadd(l->t, n, sl__xexpr(l)) < 0)
            return -1;
    }
    if (sl__xexpect_kw(l, SL__XK_END) < 0)
        return -1;
    return n;
}

/* CAST ( x AS type ), after CAST. */
static int sl__xcast(sl__xlex *l, size_t pos)
{
    static const struct {
        const char *name;
        sl_type type;
    } types[] = {{"BIGINT", SL_T_INT},    {"INT", SL_T_INT},        {"INTEGER", SL_T_INT},
                 {"DOUBLE", SL_T_DOUBLE}, {"VARCHAR", SL_T_STRING}, {"STRING", SL_T_STRING},
                 {"BOOLEAN", SL_T_BOOL}};
    int n = sl__xnew(l->t, SL__XN_CAST, pos);
    if (n < 0 || sl__xexpect(l, "(") < 0 || sl__xadd(l->t, n, sl__xexpr(l)) < 0 ||
        sl__xexpect_kw(l, SL__XK_AS) < 0)
        return -1;
    if (l->tok != SL__XT_IDENT) {
        char got[64];
        sl__xdescribe(l, got, sizeof(got));
        return sl__xerror(l->t, (uint32_t)l->pos, "expected a type, got %s", got);
    }
    int found = -1;
    for (size_t k = 0; k < SL_ARRAY_LEN(types); k++)
        if (strlen(types[k].name) == l->len &&
            strncasecmp(types[k].name, l->t->text + l->pos, l->len) == 0)
            found = (int)k;
    if (found < 0)
        return sl__xerror(l->t, (uint32_t)l->pos,
                          "unknown type \"%.*s\", expected BIGINT, INT, INTEGER, DOUBLE, VARCHAR, "
                          "STRING or BOOLEAN",
                          (int)(l->len > 40 ? 40 : l->len), l->t->text + l->pos);
    l->t->nodes[n].op = (int)types[found].type;
    if (sl__xnext(l) < 0 || sl__xexpect(l, ")") < 0)
        return -1;
    return n;
}

static int sl__xprimary(sl__xlex *l)
{
    sl__xtree *t = l->t;
    size_t pos = l->pos;
    int n;
    switch (l->tok) {
    case SL__XT_INT:
    case SL__XT_DOUBLE:
        n = sl__xnew(t, SL__XN_LIT, pos);
        if (n < 0)
            return -1;
        t->nodes[n].lit.type = l->tok == SL__XT_INT ? SL_T_INT : SL_T_DOUBLE;
        t->nodes[n].lit.i = l->i;
        t->nodes[n].lit.d = l->d;
        return sl__xnext(l) < 0 ? -1 : n;
    case SL__XT_STR: {
        size_t len = 0;
        char *s = sl__xunquote(l, &len);
        n = s ? sl__xnew(t, SL__XN_LIT, pos) : -1;
        if (n < 0)
            return -1;
        t->nodes[n].lit.type = SL_T_STRING;
        t->nodes[n].lit.s = s;
        t->nodes[n].lit.len = len;
        return sl__xnext(l) < 0 ? -1 : n;
    }
    case SL__XT_QIDENT:
        return sl__xfield(l);
    case SL__XT_IDENT:
        switch (l->kw) {
        case SL__XK_NULL:
        case SL__XK_TRUE:
        case SL__XK_FALSE:
            n = sl__xnew(t, SL__XN_LIT, pos);
            if (n < 0)
                return -1;
            t->nodes[n].lit.type = l->kw == SL__XK_NULL ? SL_T_NULL : SL_T_BOOL;
            t->nodes[n].lit.i = l->kw == SL__XK_TRUE;
            return sl__xnext(l) < 0 ? -1 : n;
        case SL__XK_CASE:
            return sl__xnext(l) < 0 ? -1 : sl__xcase(l, pos);
        case SL__XK_CAST:
            return sl__xnext(l) < 0 ? -1 : sl__xcast(l, pos);
        case SL__XK_NONE: {
            /* a function call when '(' follows */
            size_t save = l->at, len = l->len;
            sl__xtok tok = l->tok;
            if (sl__xnext(l) < 0)
                return -1;
            if (!sl__xpunct(l, "(")) {
                l->at = save; /* rescan as a field */
                l->tok = tok;
                l->pos = pos;
                l->len = len;
                l->kw = SL__XK_NONE;
                return sl__xfield(l);
            }
            n = sl__xnew(t, SL__XN_CALL, pos);
            char *name = n < 0 ? NULL : sl__xstrdup(t, t->text + pos, len);
            if (!name || sl__xnext(l) < 0)
                return -1;
            t->nodes[n].name = name;
            if (!sl__xpunct(l, ")"))
                for (;;) {
                    if (sl__xadd(t, n, sl__xexpr(l)) < 0)
                        return -1;
                    if (!sl__xpunct(l, ","))
                        break;
                    if (sl__xnext(l) < 0)
                        return -1;
                }
            return sl__xexpect(l, ")") < 0 ? -1 : n;
        }
        default:
            break;
        }
        break;
    case SL__XT_PUNCT:
        if (sl__xpunct(l, "(")) {
            if (sl__xnext(l) < 0 || (n = sl__xexpr(l)) < 0 || sl__xexpect(l, ")") < 0)
                return -1;
            return n;
        }
        break;
    default:
        break;
    }
    char got[64];
    sl__xdescribe(l, got, sizeof(got));
    return sl__xerror(t, (uint32_t)pos, "expected an expression, got %s", got);
}

static int sl__xunary(sl__xlex *l)
{
    if (sl__xpunct(l, "-") || sl__xpunct(l, "+")) {
        size_t pos = l->pos;
        int minus = sl__xpunct(l, "-");
        if (sl__xenter(l) < 0 || sl__xnext(l) < 0)
            return -1;
        int n;
        if (minus && l->tok == SL__XT_DOUBLE && l->is_2p63) {
            /* -9223372036854775808 is the smallest BIGINT */
            n = sl__xnew(l->t, SL__XN_LIT, pos);
            if (n < 0 || sl__xnext(l) < 0)
                return -1;
            l->t->nodes[n].lit.type = SL_T_INT;
            l->t->nodes[n].lit.i = INT64_MIN;
        } else {
            int k = sl__xunary(l);
            if (k < 0)
                return -1;
            n = k; /* unary + is the identity */
            if (minus) {
                n = sl__xnew(l->t, SL__XN_NEG, pos);
                if (sl__xadd(l->t, n, k) < 0)
                    return -1;
            }
        }
        l->depth--;
        return n;
    }
    return sl__xprimary(l);
}

static int sl__xmul(sl__xlex *l)
{
    int n = sl__xunary(l);
    while (n >= 0 && (sl__xpunct(l, "*") || sl__xpunct(l, "/") || sl__xpunct(l, "%"))) {
        size_t pos = l->pos;
        int op = l->t->text[pos];
        if (sl__xnext(l) < 0)
            return -1;
        n = sl__xnode2(l->t, SL__XN_ARITH, pos, op, n, sl__xunary(l));
    }
    return n;
}

static int sl__xadd_expr(sl__xlex *l)
{
    int n = sl__xmul(l);
    while (n >= 0 && (sl__xpunct(l, "+") || sl__xpunct(l, "-"))) {
        size_t pos = l->pos;
        int op = l->t->text[pos];
        if (sl__xnext(l) < 0)
            return -1;
        n = sl__xnode2(l->t, SL__XN_ARITH, pos, op, n, sl__xmul(l));
    }
    return n;
}

static int sl__xother(sl__xlex *l)
{
    int n = sl__xadd_expr(l);
    while (n >= 0 && sl__xpunct(l, "||")) {
        size_t pos = l->pos;
        if (sl__xnext(l) < 0)
            return -1;
        n = sl__xnode2(l->t, SL__XN_CONCAT, pos, 0, n, sl__xadd_expr(l));
    }
    return n;
}

/* [NOT] IN (...) / BETWEEN a AND b / LIKE p [ESCAPE e] after an operand. */
static int sl__xpred(sl__xlex *l)
{
    int x = sl__xother(l);
    if (x < 0)
        return -1;
    size_t pos = l->pos;
    int neg = 0;
    if (sl__xat_kw(l, SL__XK_NOT)) {
        size_t save = l->at;
        if (sl__xnext(l) < 0)
            return -1;
        if (!sl__xat_kw(l, SL__XK_IN) && !sl__xat_kw(l, SL__XK_BETWEEN) &&
            !sl__xat_kw(l, SL__XK_LIKE)) {
            char got[64];
            sl__xdescribe(l, got, sizeof(got));
            (void)save;
            return sl__xerror(l->t, (uint32_t)l->pos,
                              "expected IN, BETWEEN or LIKE after NOT, got %s", got);
        }
        neg = 1;
    }
    sl__xkind kind;
    if (sl__xat_kw(l, SL__XK_IN))
        kind = SL__XN_IN;
    else if (sl__xat_kw(l, SL__XK_BETWEEN))
        kind = SL__XN_BETWEEN;
    else if (sl__xat_kw(l, SL__XK_LIKE))
        kind = SL__XN_LIKE;
    else
        return x;
    int n = sl__xnew(l->t, kind, pos);
    if (n < 0 || sl__xadd(l->t, n, x) < 0 || sl__xnext(l) < 0)
        return -1;
    l->t->nodes[n].neg = (uint8_t)neg;
    if (kind == SL__XN_IN) {
        if (sl__xexpect(l, "(") < 0)
            return -1;
        for (;;) {
            if (sl__xadd(l->t, n, sl__xexpr(l)) < 0)
                return -1;
            if (!sl__xpunct(l, ","))
                break;
            if (sl__xnext(l) < 0)
                return -1;
        }
        if (sl__xexpect(l, ")") < 0)
            return -1;
    } else if (kind == SL__XN_BETWEEN) {
        if (sl__xadd(l->t, n, sl__xother(l)) < 0 || sl__xexpect_kw(l, SL__XK_AND) < 0 ||
            sl__xadd(l->t, n, sl__xother(l)) < 0)
            return -1;
    } else {
        if (sl__xadd(l->t, n, sl__xother(l)) < 0)
            return -1;
        if (sl__xat_kw(l, SL__XK_ESCAPE)) {
            l->t->nodes[n].has_else = 1; /* has an escape */
            if (sl__xnext(l) < 0 || sl__xadd(l->t, n, sl__xother(l)) < 0)
                return -1;
        }
    }
    return n;
}

static int sl__xcmp_op(const sl__xlex *l)
{
    static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">="};
    if (sl__xpunct(l, "!="))
        return SL__XC_NE;
    for (int k = 0; k < 6; k++)
        if (sl__xpunct(l, ops[k]))
            return k;
    return -1;
}

static int sl__xcomparison(sl__xlex *l)
{
    int n = sl__xpred(l);
    int op = sl__xcmp_op(l);
    if (n < 0 || op < 0)
        return n;
    size_t pos = l->pos;
    if (sl__xnext(l) < 0)
        return -1;
    n = sl__xnode2(l->t, SL__XN_CMP, pos, op, n, sl__xpred(l));
    if (n >= 0 && sl__xcmp_op(l) >= 0)
        return sl__xerror(l->t, (uint32_t)l->pos,
                          "comparisons cannot be chained; use AND or parentheses");
    return n;
}

static int sl__xis_expr(sl__xlex *l)
{
    int n = sl__xcomparison(l);
    while (n >= 0 && sl__xat_kw(l, SL__XK_IS)) {
        size_t pos = l->pos;
        int neg = 0;
        if (sl__xnext(l) < 0)
            return -1;
        if (sl__xat_kw(l, SL__XK_NOT)) {
            neg = 1;
            if (sl__xnext(l) < 0)
                return -1;
        }
        int op;
        if (sl__xat_kw(l, SL__XK_NULL))
            op = neg ? SL__XIS_NOT_NULL : SL__XIS_NULL;
        else if (sl__xat_kw(l, SL__XK_TRUE))
            op = neg ? SL__XIS_NOT_TRUE : SL__XIS_TRUE;
        else if (sl__xat_kw(l, SL__XK_FALSE))
            op = neg ? SL__XIS_NOT_FALSE : SL__XIS_FALSE;
        else {
            char got[64];
            sl__xdescribe(l, got, sizeof(got));
            return sl__xerror(l->t, (uint32_t)l->pos,
                              "expected NULL, TRUE or FALSE after IS%s, got %s", neg ? " NOT" : "",
                              got);
        }
        if (sl__xnext(l) < 0)
            return -1;
        int is = sl__xnew(l->t, SL__XN_IS, pos);
        if (is < 0 || sl__xadd(l->t, is, n) < 0)
            return -1;
        l->t->nodes[is].op = op;
        n = is;
    }
    return n;
}

static int sl__xnot(sl__xlex *l)
{
    if (sl__xat_kw(l, SL__XK_NOT)) {
        size_t pos = l->pos;
        if (sl__xenter(l) < 0 || sl__xnext(l) < 0)
            return -1;
        int n = sl__xnew(l->t, SL__XN_NOT, pos);
        if (n < 0 || sl__xadd(l->t, n, sl__xnot(l)) < 0)
            return -1;
        l->depth--;
        return n;
    }
    return sl__xis_expr(l);
}

/* AND / OR chains: one n-ary node. */
static int sl__xchain(sl__xlex *l, sl__xkw kw)
{
    int first = kw == SL__XK_OR ? sl__xchain(l, SL__XK_AND) : sl__xnot(l);
    if (first < 0 || !sl__xat_kw(l, kw))
        return first;
    int n = sl__xnew(l->t, kw == SL__XK_OR ? SL__XN_OR : SL__XN_AND, l->pos);
    if (n < 0 || sl__xadd(l->t, n, first) < 0)
        return -1;
    while (sl__xat_kw(l, kw)) {
        if (sl__xnext(l) < 0)
            return -1;
        if (sl__xadd(l->t, n, kw == SL__XK_OR ? sl__xchain(l, SL__XK_AND) : sl__xnot(l)) < 0)
            return -1;
    }
    return n;
}

static int sl__xexpr(sl__xlex *l)
{
    if (sl__xenter(l) < 0)
        return -1;
    int n = sl__xchain(l, SL__XK_OR);
    l->depth--;
    return n;
}

int sl__xparse(sl__xtree *t)
{
    if (t->textlen > SL_XEXPR_MAX_TEXT)
        return sl__xerror(t, 0, "expression too long (more than %d bytes)", SL_XEXPR_MAX_TEXT);
    sl__xlex l = {.t = t};
    if (sl__xnext(&l) < 0)
        return -1;
    if (l.tok == SL__XT_EOF)
        return sl__xerror(t, 0, "empty expression");
    int n = sl__xexpr(&l);
    if (n < 0)
        return -1;
    if (l.tok != SL__XT_EOF) {
        char got[64];
        sl__xdescribe(&l, got, sizeof(got));
        return sl__xerror(t, (uint32_t)l.pos, "expected the end of the expression, got %s", got);
    }
    return n;
}
