/*
 * expr_eval.c - runs a compiled expression (the flat program of
 * expr_internal.h) over one row: one switch loop over the instructions, a
 * register file kept in the caller's scratch, no recursion and no
 * allocation except scratch growth.
 *
 * NULL rules: every operator on a NULL operand gives NULL, except AND / OR
 * (three-valued), IS, IN (TRUE when a value matches, even with NULLs in
 * the list), COALESCE, NULLIF and CASE. Division by zero gives NULL and
 * makes the result SL_XERR_DIV_ZERO (soft); other errors stop evaluation.
 * A double operation whose result would be NaN gives NULL.
 */
#include "expr_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sl_xerr_name(int err)
{
    switch (err) {
    case SL_XERR_OK:
        return "ok";
    case SL_XERR_OVERFLOW:
        return "overflow";
    case SL_XERR_DIV_ZERO:
        return "division by zero";
    case SL_XERR_CAST:
        return "invalid cast";
    case SL_XERR_TYPE:
        return "type mismatch";
    case SL_XERR_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

static size_t sl__xu8step(const char *s, size_t n, size_t i)
{
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

/* SQL LIKE: % any run of characters, _ one character (UTF-8), the escape
 * (if any) makes the next pattern character literal. Backtracks only to
 * the last %, which is enough for these two wildcards. */
static int sl__xlike(const char *s, size_t n, const char *p, size_t m, const char *esc, size_t elen)
{
    size_t i = 0, j = 0, star_j = (size_t)-1, star_i = 0;
    while (i < n) {
        if (j < m) {
            if (elen && m - j >= elen && memcmp(p + j, esc, elen) == 0 && j + elen < m) {
                size_t a = j + elen, b = sl__xu8step(p, m, a);
                if (n - i >= b - a && memcmp(s + i, p + a, b - a) == 0) {
                    i += b - a;
                    j = b;
                    continue;
                }
            } else if (p[j] == '%') {
                star_j = ++j;
                star_i = i;
                continue;
            } else if (p[j] == '_') {
                i = sl__xu8step(s, n, i);
                j++;
                continue;
            } else if (s[i] == p[j]) {
                i++;
                j++;
                continue;
            }
        }
        if (star_j == (size_t)-1)
            return 0;
        star_i = sl__xu8step(s, n, star_i);
        i = star_i;
        j = star_j;
    }
    while (j < m && p[j] == '%' && !(elen && m - j >= elen && memcmp(p + j, esc, elen) == 0))
        j++;
    return j == m;
}

/* Strict text to number: optional spaces, then the whole text. */
static int sl__xstr_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    while (n > i && s[n - 1] == ' ')
        n--;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return SL_XERR_CAST;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SL_XERR_CAST;
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
            return SL_XERR_OVERFLOW;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return SL_XERR_OVERFLOW;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int sl__xstr_double(const char *s, size_t n, double *out)
{
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    while (n > i && s[n - 1] == ' ')
        n--;
    char buf[128];
    if (i == n || n - i >= sizeof(buf))
        return SL_XERR_CAST;
    int digits = 0;
    for (size_t k = i; k < n; k++) {
        char c = s[k];
        if (c >= '0' && c <= '9')
            digits = 1;
        else if (c != '+' && c != '-' && c != '.' && c != 'e' && c != 'E')
            return SL_XERR_CAST;
    }
    if (!digits)
        return SL_XERR_CAST;
    memcpy(buf, s + i, n - i);
    buf[n - i] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return *end ? SL_XERR_CAST : 0;
}

static int sl__xstr_bool(const char *s, size_t n, int64_t *out)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    while (n > i && s[n - 1] == ' ')
        n--;
    for (size_t k = 0; k < SL_ARRAY_LEN(yes); k++) {
        if (strlen(yes[k]) == n - i && strncasecmp(yes[k], s + i, n - i) == 0) {
            *out = 1;
            return 0;
        }
        if (strlen(no[k]) == n - i && strncasecmp(no[k], s + i, n - i) == 0) {
            *out = 0;
            return 0;
        }
    }
    return SL_XERR_CAST;
}

/* CAST(v AS type) for a non-NULL v. */
static int sl__xcast(sl_value *v, sl_type to, sl_xscratch *s)
{
    if (v->type == SL_T_OTHER) {
        if (to != SL_T_STRING)
            return SL_XERR_TYPE;
        v->type = SL_T_STRING; /* the raw JSON text */
        return 0;
    }
    int rc = 0;
    switch (to) {
    case SL_T_INT:
        if (v->type == SL_T_DOUBLE) {
            if (!(v->d >= -9223372036854775808.0 && v->d < 9223372036854775808.0))
                return isnan(v->d) ? SL_XERR_CAST : SL_XERR_OVERFLOW;
            v->i = (int64_t)v->d;
        } else if (v->type == SL_T_STRING)
            rc = sl__xstr_int(v->s, v->len, &v->i);
        else if (v->type == SL_T_BOOL)
            v->i = v->i != 0;
        break;
    case SL_T_DOUBLE:
        if (v->type == SL_T_INT || v->type == SL_T_BOOL)
            v->d = (double)v->i;
        else if (v->type == SL_T_STRING)
            rc = sl__xstr_double(v->s, v->len, &v->d);
        break;
    case SL_T_BOOL:
        if (v->type == SL_T_INT)
            v->i = v->i != 0;
        else if (v->type == SL_T_DOUBLE)
            v->i = v->d != 0;
        else if (v->type == SL_T_STRING)
            rc = sl__xstr_bool(v->s, v->len, &v->i);
        break;
    default: { /* STRING */
        if (v->type == SL_T_STRING)
            break;
        char tmp[40];
        const char *p;
        size_t n;
        sl__xtext(v, tmp, &p, &n);
        char *dst = sl__xscratch_room(s, n);
        if (!dst)
            return SL_XERR_NOMEM;
        memcpy(dst, p, n);
        s->len += n;
        v->s = dst;
        v->len = n;
        break;
    }
    }
    if (rc == 0)
        v->type = to;
    return rc;
}

static int sl__xisnum(const sl_value *v)
{
    return v->type == SL_T_INT || v->type == SL_T_DOUBLE;
}

/* a op b for two non-NULL values; *soft set on division by zero. */
static int sl__xarith(int op, sl_value *d, const sl_value *a, const sl_value *b, int *soft)
{
    if (!sl__xisnum(a) || !sl__xisnum(b))
        return SL_XERR_TYPE;
    if (a->type == SL_T_INT && b->type == SL_T_INT) {
        int64_t x = a->i, y = b->i, r = 0;
        int over = 0;
        switch (op) {
        case SL__XI_ADD:
            over = __builtin_add_overflow(x, y, &r);
            break;
        case SL__XI_SUB:
            over = __builtin_sub_overflow(x, y, &r);
            break;
        case SL__XI_MUL:
            over = __builtin_mul_overflow(x, y, &r);
            break;
        case SL__XI_DIV:
        case SL__XI_MOD:
            if (y == 0) {
                *soft = 1;
                d->type = SL_T_NULL;
                return 0;
            }
            if (y == -1) { /* INT64_MIN / -1 overflows; INT64_MIN % -1 is 0 */
                over = op == SL__XI_DIV && x == INT64_MIN;
                r = op == SL__XI_DIV ? (over ? 0 : -x) : 0;
            } else
                r = op == SL__XI_DIV ? x / y : x % y;
            break;
        default:
            break;
        }
        if (over)
            return SL_XERR_OVERFLOW;
        d->type = SL_T_INT;
        d->i = r;
        return 0;
    }
    double x = a->type == SL_T_INT ? (double)a->i : a->d;
    double y = b->type == SL_T_INT ? (double)b->i : b->d;
    double r;
    switch (op) {
    case SL__XI_ADD:
        r = x + y;
        break;
    case SL__XI_SUB:
        r = x - y;
        break;
    case SL__XI_MUL:
        r = x * y;
        break;
    default:
        if (y == 0) {
            *soft = 1;
            d->type = SL_T_NULL;
            return 0;
        }
        r = op == SL__XI_DIV ? x / y : fmod(x, y);
        break;
    }
    if (isnan(r)) { /* inf - inf, 0 * inf: NULL, as for sqrt(-1) */
        d->type = SL_T_NULL;
        return 0;
    }
    d->type = SL_T_DOUBLE;
    d->d = r;
    return 0;
}

static int sl__xholds(int c, int op)
{
    if (c == 2) /* unordered (NaN): only <> holds */
        return op == SL__XC_NE;
    switch (op) {
    case SL__XC_EQ:
        return c == 0;
    case SL__XC_NE:
        return c != 0;
    case SL__XC_LT:
        return c < 0;
    case SL__XC_LE:
        return c <= 0;
    case SL__XC_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

/* Truth of a condition register: 1 TRUE, 0 FALSE, -1 NULL, -2 not boolean. */
static int sl__xtruth(const sl_value *v)
{
    if (v->type == SL_T_NULL)
        return -1;
    if (v->type != SL_T_BOOL)
        return -2;
    return v->i != 0;
}

static void sl__xset_bool(sl_value *v, int b)
{
    v->type = SL_T_BOOL;
    v->i = b;
}

int sl__xrun(const sl_xexpr *e, size_t pc, size_t end, const sl_value *slots, sl_xscratch *s,
             sl_value *out)
{
    if (s->nregs < e->nregs) {
        sl_value *r = realloc(s->regs, e->nregs * sizeof(*r));
        if (!r) {
            out->type = SL_T_NULL;
            return SL_XERR_NOMEM;
        }
        s->regs = r;
        s->nregs = e->nregs;
    }
    sl_value *R = s->regs;
    int soft = 0, rc = 0;
    while (pc < end) {
        const sl__xins *in = &e->code[pc++];
        sl_value *d = &R[in->d], *a = &R[in->a], *b = &R[in->b];
        switch ((sl__xop)in->op) {
        case SL__XI_LOADK:
            *d = e->k[in->x];
            break;
        case SL__XI_LOADF:
            *d = slots[in->x];
            if (d->type == SL_T_MISSING)
                d->type = SL_T_NULL;
            break;
        case SL__XI_MOV:
            *d = *a;
            break;
        case SL__XI_NEG:
            if (a->type == SL_T_NULL)
                d->type = SL_T_NULL;
            else if (a->type == SL_T_INT) {
                if (a->i == INT64_MIN) {
                    rc = SL_XERR_OVERFLOW;
                    goto fail;
                }
                d->type = SL_T_INT;
                d->i = -a->i;
            } else if (a->type == SL_T_DOUBLE) {
                d->type = SL_T_DOUBLE;
                d->d = -a->d;
            } else {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            break;
        case SL__XI_ADD:
        case SL__XI_SUB:
        case SL__XI_MUL:
        case SL__XI_DIV:
        case SL__XI_MOD:
            if (a->type == SL_T_NULL || b->type == SL_T_NULL)
                d->type = SL_T_NULL;
            else if ((rc = sl__xarith(in->op, d, a, b, &soft)) != 0)
                goto fail;
            break;
        case SL__XI_CONCAT: {
            if (a->type == SL_T_NULL || b->type == SL_T_NULL) {
                d->type = SL_T_NULL;
                break;
            }
            if (a->type == SL_T_OTHER || b->type == SL_T_OTHER) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            char ta[40], tb[40];
            const char *pa, *pb;
            size_t na, nb;
            sl__xtext(a, ta, &pa, &na);
            sl__xtext(b, tb, &pb, &nb);
            char *dst = sl__xscratch_room(s, na + nb);
            if (!dst) {
                rc = SL_XERR_NOMEM;
                goto fail;
            }
            if (na)
                memcpy(dst, pa, na);
            if (nb)
                memcpy(dst + na, pb, nb);
            s->len += na + nb;
            d->type = SL_T_STRING;
            d->s = dst;
            d->len = na + nb;
            break;
        }
        case SL__XI_CMP: {
            if (a->type == SL_T_NULL || b->type == SL_T_NULL) {
                d->type = SL_T_NULL;
                break;
            }
            int ok, c = sl__xcompare(a, b, &ok);
            if (!ok) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            sl__xset_bool(d, sl__xholds(c, in->x));
            break;
        }
        case SL__XI_NOT: {
            int t = sl__xtruth(a);
            if (t == -2) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            if (t < 0)
                d->type = SL_T_NULL;
            else
                sl__xset_bool(d, !t);
            break;
        }
        case SL__XI_AND:
        case SL__XI_OR: {
            int x = sl__xtruth(a), y = sl__xtruth(b);
            if (x == -2 || y == -2) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            int dom = in->op == SL__XI_OR; /* the dominant value */
            if (x == dom || y == dom)
                sl__xset_bool(d, dom);
            else if (x < 0 || y < 0)
                d->type = SL_T_NULL;
            else
                sl__xset_bool(d, !dom);
            break;
        }
        case SL__XI_JMP:
            pc = (size_t)in->x;
            break;
        case SL__XI_JFALSE:
        case SL__XI_JTRUE:
        case SL__XI_JNTRUE: {
            int t = sl__xtruth(a);
            if (t == -2) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            if ((in->op == SL__XI_JFALSE && t == 0) || (in->op == SL__XI_JTRUE && t == 1) ||
                (in->op == SL__XI_JNTRUE && t != 1))
                pc = (size_t)in->x;
            break;
        }
        case SL__XI_JNNULL:
            if (a->type != SL_T_NULL)
                pc = (size_t)in->x;
            break;
        case SL__XI_IS: {
            int r;
            if (in->x == SL__XIS_NULL || in->x == SL__XIS_NOT_NULL)
                r = (a->type == SL_T_NULL) == (in->x == SL__XIS_NULL);
            else {
                int t = sl__xtruth(a);
                if (t == -2) {
                    rc = SL_XERR_TYPE;
                    goto fail;
                }
                int want = in->x == SL__XIS_TRUE || in->x == SL__XIS_NOT_TRUE;
                r = t == want;
                if (in->x == SL__XIS_NOT_TRUE || in->x == SL__XIS_NOT_FALSE)
                    r = !r;
            }
            sl__xset_bool(d, r);
            break;
        }
        case SL__XI_INSTEP: {
            if (d->type == SL_T_BOOL && d->i)
                break;
            if (a->type == SL_T_NULL || b->type == SL_T_NULL) {
                d->type = SL_T_NULL;
                break;
            }
            int ok, c = sl__xcompare(a, b, &ok);
            if (!ok) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            if (c == 0)
                sl__xset_bool(d, 1);
            break;
        }
        case SL__XI_LIKE: {
            if (a->type == SL_T_NULL || b->type == SL_T_NULL) {
                d->type = SL_T_NULL;
                break;
            }
            if (a->type != SL_T_STRING || b->type != SL_T_STRING) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            const sl_value *esc = in->x >= 0 ? &e->k[in->x] : NULL;
            sl__xset_bool(
                d, sl__xlike(a->s, a->len, b->s, b->len, esc ? esc->s : NULL, esc ? esc->len : 0));
            break;
        }
        case SL__XI_NULLIF: {
            if (a->type == SL_T_NULL || b->type == SL_T_NULL) {
                *d = *a;
                break;
            }
            int ok, c = sl__xcompare(a, b, &ok);
            if (!ok) {
                rc = SL_XERR_TYPE;
                goto fail;
            }
            if (c == 0)
                d->type = SL_T_NULL;
            else
                *d = *a;
            break;
        }
        case SL__XI_CAST:
            *d = *a;
            if (d->type != SL_T_NULL && (rc = sl__xcast(d, (sl_type)in->x, s)) != 0)
                goto fail;
            break;
        case SL__XI_CALL: {
            const sl__xfunc *f = &sl__xfuncs[in->x];
            sl_value r = {SL_T_NULL, 0, 0, NULL, 0};
            int null = 0;
            if (!f->nulls_ok)
                for (int32_t k = 0; k < in->y; k++)
                    null |= a[k].type == SL_T_NULL;
            if (!null) {
                const void *aux = in->b != UINT16_MAX ? e->aux[in->b].p : NULL;
                if ((rc = f->fn(&r, a, (size_t)in->y, s, aux)) != 0)
                    goto fail;
            }
            *d = r;
            break;
        }
        }
    }
    *out = R[0];
    return soft ? SL_XERR_DIV_ZERO : 0;
fail:
    memset(out, 0, sizeof(*out));
    out->type = SL_T_NULL;
    return rc;
}

int sl_xexpr_eval(const sl_xexpr *e, const sl_value *slots, sl_xscratch *s, sl_value *out)
{
    return sl__xrun(e, 0, e->ncode, slots, s, out);
}
