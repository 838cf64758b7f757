/*
 * expr_func.c - the function table of the expression language and the
 * functions themselves, plus the value helpers eval shares with them: the
 * scratch, exact comparison, the text form of a value.
 *
 * A function sees its arguments already evaluated and, unless it sets
 * nulls_ok, none of them NULL (the call is NULL then). It writes strings
 * either as a span of an argument (substr, trim) or into the scratch.
 */
#include "expr_internal.h"
#include "didyoumean.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- scratch ---------------------------------------------------------- */

typedef struct sl__xblock {
    struct sl__xblock *next;
    size_t cap;
    /* data follows */
} sl__xblock;

#define SL__XBLOCK(buf) ((sl__xblock *)(void *)((buf) - sizeof(sl__xblock)))

char *sl__xscratch_room(sl_xscratch *s, size_t n)
{
    if (s->buf && s->cap - s->len >= n)
        return s->buf + s->len;
    size_t cap = s->cap ? 2 * s->cap : 256;
    while (cap < n)
        cap *= 2;
    sl__xblock *b = malloc(sizeof(*b) + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    if (s->buf) { /* keep the full block until reset: its strings are live */
        sl__xblock *old = SL__XBLOCK(s->buf);
        old->next = s->retired;
        s->retired = old;
    }
    s->buf = (char *)(b + 1);
    s->cap = cap;
    s->len = 0;
    return s->buf;
}

void sl_xscratch_reset(sl_xscratch *s)
{
    for (sl__xblock *b = s->retired, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    s->retired = NULL;
    s->len = 0;
}

void sl_xscratch_free(sl_xscratch *s)
{
    sl_xscratch_reset(s);
    if (s->buf)
        free(SL__XBLOCK(s->buf));
    free(s->regs);
    memset(s, 0, sizeof(*s));
}

/* ---- values ----------------------------------------------------------- */

/* -1, 0, 1 as an int compares with a double, exactly; 2 if unordered. */
static int sl__xcmp_id(int64_t a, double b)
{
    if (isnan(b))
        return 2;
    if (b >= 9223372036854775808.0)
        return -1;
    if (b < -9223372036854775808.0)
        return 1;
    int64_t t = (int64_t)b; /* in range: truncation toward zero */
    if (a != t)
        return a < t ? -1 : 1;
    double frac = b - (double)t; /* exact for |b| < 2^63 */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

int sl__xcompare(const sl_value *a, const sl_value *b, int *ok)
{
    *ok = 1;
    if (a->type == SL_T_INT && b->type == SL_T_INT)
        return a->i < b->i ? -1 : a->i > b->i;
    if (a->type == SL_T_INT && b->type == SL_T_DOUBLE)
        return sl__xcmp_id(a->i, b->d);
    if (a->type == SL_T_DOUBLE && b->type == SL_T_INT) {
        int c = sl__xcmp_id(b->i, a->d);
        return c == 2 ? 2 : -c;
    }
    if (a->type == SL_T_DOUBLE && b->type == SL_T_DOUBLE) {
        if (isnan(a->d) || isnan(b->d))
            return 2;
        return a->d < b->d ? -1 : a->d > b->d;
    }
    if (a->type == SL_T_STRING && b->type == SL_T_STRING) {
        size_t n = a->len < b->len ? a->len : b->len;
        int c = n ? memcmp(a->s, b->s, n) : 0;
        if (c == 0)
            return a->len < b->len ? -1 : a->len > b->len;
        return c < 0 ? -1 : 1;
    }
    if (a->type == SL_T_BOOL && b->type == SL_T_BOOL)
        return (a->i != 0) - (b->i != 0);
    *ok = 0;
    return 2;
}

void sl__xtext(const sl_value *v, char *tmp, const char **p, size_t *n)
{
    int k = 0;
    switch (v->type) {
    case SL_T_STRING:
        *p = v->s;
        *n = v->len;
        return;
    case SL_T_INT:
        k = snprintf(tmp, 40, "%lld", (long long)v->i);
        break;
    case SL_T_BOOL:
        k = snprintf(tmp, 40, "%s", v->i ? "true" : "false");
        break;
    case SL_T_DOUBLE:
        if (isnan(v->d))
            k = snprintf(tmp, 40, "NaN");
        else if (isinf(v->d))
            k = snprintf(tmp, 40, "%sInfinity", v->d < 0 ? "-" : "");
        else if (v->d == 0 || (fabs(v->d) >= 1e-4 && fabs(v->d) < 1e16)) {
            /* fixed notation, the fewest decimals that read back */
            for (int dec = 0; dec <= 24; dec++) {
                k = snprintf(tmp, 40, "%.*f", dec, v->d);
                if (strtod(tmp, NULL) == v->d)
                    break;
            }
            if (!strchr(tmp, '.'))
                k += snprintf(tmp + k, 40 - (size_t)k, ".0");
        } else {
            for (int prec = 0; prec <= 16; prec++) {
                k = snprintf(tmp, 40, "%.*e", prec, v->d);
                if (strtod(tmp, NULL) == v->d)
                    break;
            }
        }
        break;
    default:
        k = 0;
        break;
    }
    *p = tmp;
    *n = (size_t)k;
}

/* The index after the UTF-8 character starting at i (at most n). */
static size_t sl__xu8next(const char *s, size_t n, size_t i)
{
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static void sl__xset_str(sl_value *out, const char *s, size_t n)
{
    out->type = SL_T_STRING;
    out->s = s;
    out->len = n;
}

static void sl__xset_int(sl_value *out, int64_t i)
{
    out->type = SL_T_INT;
    out->i = i;
}

static void sl__xset_dbl(sl_value *out, double d)
{
    if (isnan(d)) { /* a math function outside its domain */
        out->type = SL_T_NULL;
        return;
    }
    out->type = SL_T_DOUBLE;
    out->d = d;
}

static int sl__xnum(const sl_value *v, double *d)
{
    if (v->type == SL_T_INT)
        *d = (double)v->i;
    else if (v->type == SL_T_DOUBLE)
        *d = v->d;
    else
        return SL_XERR_TYPE;
    return 0;
}

/* ---- numeric functions ------------------------------------------------ */

static int sl__xf_abs(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    if (a[0].type == SL_T_INT) {
        if (a[0].i == INT64_MIN)
            return SL_XERR_OVERFLOW;
        sl__xset_int(out, a[0].i < 0 ? -a[0].i : a[0].i);
    } else if (a[0].type == SL_T_DOUBLE)
        sl__xset_dbl(out, fabs(a[0].d));
    else
        return SL_XERR_TYPE;
    return 0;
}

/* round(x [, digits]): half away from zero; BIGINT stays BIGINT. */
static int sl__xf_round(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)s, (void)x;
    int64_t dig = 0;
    if (n > 1) {
        if (a[1].type != SL_T_INT)
            return SL_XERR_TYPE;
        dig = a[1].i;
    }
    if (a[0].type == SL_T_INT) {
        int64_t v = a[0].i;
        if (dig >= 0) {
            sl__xset_int(out, v);
            return 0;
        }
        if (dig < -18) { /* 10^19 is beyond BIGINT: 0 unless it rounds up to it */
            if (v >= 5000000000000000000LL || v <= -5000000000000000000LL)
                return SL_XERR_OVERFLOW;
            sl__xset_int(out, 0);
            return 0;
        }
        int64_t p = 1;
        for (int64_t k = 0; k < -dig; k++)
            p *= 10;
        int64_t q = v / p, r = v % p;
        if (r >= 0 ? r >= p - r : -r >= p + r)
            q += v < 0 ? -1 : 1;
        int64_t res;
        if (__builtin_mul_overflow(q, p, &res))
            return SL_XERR_OVERFLOW;
        sl__xset_int(out, res);
        return 0;
    }
    if (a[0].type != SL_T_DOUBLE)
        return SL_XERR_TYPE;
    double v = a[0].d;
    if (dig == 0 || !isfinite(v)) {
        sl__xset_dbl(out, dig == 0 ? round(v) : v);
        return 0;
    }
    if (dig > 330 || dig < -330) {
        sl__xset_dbl(out, dig > 0 ? v : v * 0.0);
        return 0;
    }
    double m = pow(10.0, (double)(dig > 0 ? dig : -dig));
    double y = dig > 0 ? v * m : v / m;
    if (!isfinite(y)) {
        sl__xset_dbl(out, v);
        return 0;
    }
    sl__xset_dbl(out, dig > 0 ? round(y) / m : round(y) * m);
    return 0;
}

static int sl__xf_floor(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    if (a[0].type == SL_T_INT)
        *out = a[0];
    else if (a[0].type == SL_T_DOUBLE)
        sl__xset_dbl(out, floor(a[0].d));
    else
        return SL_XERR_TYPE;
    return 0;
}

static int sl__xf_ceil(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    if (a[0].type == SL_T_INT)
        *out = a[0];
    else if (a[0].type == SL_T_DOUBLE)
        sl__xset_dbl(out, ceil(a[0].d));
    else
        return SL_XERR_TYPE;
    return 0;
}

static int sl__xf_sqrt(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    double d;
    if (sl__xnum(&a[0], &d))
        return SL_XERR_TYPE;
    sl__xset_dbl(out, d < 0 ? NAN : sqrt(d));
    return 0;
}

static int sl__xf_ln(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    double d;
    if (sl__xnum(&a[0], &d))
        return SL_XERR_TYPE;
    sl__xset_dbl(out, d <= 0 ? NAN : log(d));
    return 0;
}

static int sl__xf_exp(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    double d;
    if (sl__xnum(&a[0], &d))
        return SL_XERR_TYPE;
    sl__xset_dbl(out, exp(d));
    return 0;
}

static int sl__xf_pow(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    double b, e;
    if (sl__xnum(&a[0], &b) || sl__xnum(&a[1], &e))
        return SL_XERR_TYPE;
    sl__xset_dbl(out, pow(b, e));
    return 0;
}

/* least / greatest: NULLs are skipped; NULL only when all are NULL. */
static int sl__xf_minmax(sl_value *out, const sl_value *a, size_t n, int want)
{
    int have = 0;
    for (size_t k = 0; k < n; k++) {
        if (a[k].type == SL_T_NULL)
            continue;
        if (a[k].type == SL_T_OTHER)
            return SL_XERR_TYPE;
        if (!have) {
            *out = a[k];
            have = 1;
            continue;
        }
        int ok, c = sl__xcompare(&a[k], out, &ok);
        if (!ok)
            return SL_XERR_TYPE;
        if (c == want)
            *out = a[k];
    }
    if (!have)
        out->type = SL_T_NULL;
    return 0;
}

static int sl__xf_least(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)s, (void)x;
    return sl__xf_minmax(out, a, n, -1);
}

static int sl__xf_greatest(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s,
                           const void *x)
{
    (void)s, (void)x;
    return sl__xf_minmax(out, a, n, 1);
}

/* ---- string functions ------------------------------------------------- */

static int sl__xf_case(sl_value *out, const sl_value *a, sl_xscratch *s, int upper)
{
    if (a[0].type != SL_T_STRING)
        return SL_XERR_TYPE;
    char *p = sl__xscratch_room(s, a[0].len);
    if (!p)
        return SL_XERR_NOMEM;
    for (size_t k = 0; k < a[0].len; k++) {
        unsigned char c = (unsigned char)a[0].s[k];
        p[k] = (char)(upper ? (c >= 'a' && c <= 'z' ? c - 32 : c)
                            : (c >= 'A' && c <= 'Z' ? c + 32 : c));
    }
    s->len += a[0].len;
    sl__xset_str(out, p, a[0].len);
    return 0;
}

static int sl__xf_lower(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)x;
    return sl__xf_case(out, a, s, 0);
}

static int sl__xf_upper(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)x;
    return sl__xf_case(out, a, s, 1);
}

static int sl__xf_length(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    if (a[0].type != SL_T_STRING)
        return SL_XERR_TYPE;
    int64_t c = 0;
    for (size_t k = 0; k < a[0].len; k++)
        c += ((unsigned char)a[0].s[k] & 0xC0) != 0x80;
    sl__xset_int(out, c);
    return 0;
}

/* substr(s, start [, len]): characters start .. start+len-1 (1-based) of
 * s, clipped to the string; a negative len gives ''. */
static int sl__xf_substr(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)s, (void)x;
    if (a[0].type != SL_T_STRING || a[1].type != SL_T_INT || (n > 2 && a[2].type != SL_T_INT))
        return SL_XERR_TYPE;
    int64_t from = a[1].i, to = INT64_MAX; /* [from, to) in characters */
    if (n > 2) {
        if (a[2].i < 0 || __builtin_add_overflow(from, a[2].i, &to))
            to = a[2].i < 0 ? INT64_MIN : INT64_MAX;
    }
    if (from < 1)
        from = 1;
    const char *str = a[0].s;
    size_t len = a[0].len, i = 0, b = len, e = len;
    int64_t pos = 1;
    if (to <= from) {
        sl__xset_str(out, str, 0);
        return 0;
    }
    while (i < len && pos < from) {
        i = sl__xu8next(str, len, i);
        pos++;
    }
    b = i;
    while (i < len && pos < to) {
        i = sl__xu8next(str, len, i);
        pos++;
    }
    e = i;
    sl__xset_str(out, str + b, e - b);
    return 0;
}

static int sl__xf_concat(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)x;
    size_t total = 0;
    char tmp[40];
    const char *p;
    size_t len;
    for (size_t k = 0; k < n; k++) {
        if (a[k].type == SL_T_NULL)
            continue;
        if (a[k].type == SL_T_OTHER)
            return SL_XERR_TYPE;
        sl__xtext(&a[k], tmp, &p, &len);
        total += len;
    }
    char *dst = sl__xscratch_room(s, total);
    if (!dst)
        return SL_XERR_NOMEM;
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        if (a[k].type == SL_T_NULL)
            continue;
        sl__xtext(&a[k], tmp, &p, &len);
        if (len)
            memcpy(dst + o, p, len);
        o += len;
    }
    s->len += o;
    sl__xset_str(out, dst, o);
    return 0;
}

/* Whether the character at s[i..j) is one of the characters of set. */
static int sl__xin_set(const char *s, size_t i, size_t j, const sl_value *set)
{
    if (!set)
        return j - i == 1 && s[i] == ' ';
    for (size_t k = 0; k < set->len;) {
        size_t e = sl__xu8next(set->s, set->len, k);
        if (e - k == j - i && memcmp(set->s + k, s + i, j - i) == 0)
            return 1;
        k = e;
    }
    return 0;
}

static int sl__xf_trim_side(sl_value *out, const sl_value *a, size_t n, int left, int right)
{
    if (a[0].type != SL_T_STRING || (n > 1 && a[1].type != SL_T_STRING))
        return SL_XERR_TYPE;
    const sl_value *set = n > 1 ? &a[1] : NULL;
    const char *str = a[0].s;
    size_t b = 0, e = a[0].len;
    if (left)
        while (b < e) {
            size_t j = sl__xu8next(str, e, b);
            if (!sl__xin_set(str, b, j, set))
                break;
            b = j;
        }
    if (right)
        while (e > b) {
            size_t i = e - 1;
            while (i > b && ((unsigned char)str[i] & 0xC0) == 0x80)
                i--;
            if (!sl__xin_set(str, i, e, set))
                break;
            e = i;
        }
    sl__xset_str(out, str + b, e - b);
    return 0;
}

static int sl__xf_trim(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)s, (void)x;
    return sl__xf_trim_side(out, a, n, 1, 1);
}

static int sl__xf_ltrim(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)s, (void)x;
    return sl__xf_trim_side(out, a, n, 1, 0);
}

static int sl__xf_rtrim(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)s, (void)x;
    return sl__xf_trim_side(out, a, n, 0, 1);
}

static int sl__xf_starts_with(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s,
                              const void *x)
{
    (void)n, (void)s, (void)x;
    if (a[0].type != SL_T_STRING || a[1].type != SL_T_STRING)
        return SL_XERR_TYPE;
    out->type = SL_T_BOOL;
    out->i = a[1].len <= a[0].len && (!a[1].len || memcmp(a[0].s, a[1].s, a[1].len) == 0);
    return 0;
}

static int sl__xf_regexp_like(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s,
                              const void *x)
{
    (void)n, (void)s;
    if (a[0].type != SL_T_STRING)
        return SL_XERR_TYPE;
    regmatch_t m[1];
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)a[0].len;
    static const char empty[1] = "";
    out->type = SL_T_BOOL;
    out->i = regexec((const regex_t *)x, a[0].len ? a[0].s : empty, 1, m, REG_STARTEND) == 0;
    return 0;
}

/* ---- the table -------------------------------------------------------- */

const sl__xfunc sl__xfuncs[] = {
    {"abs", 1, 1, "N", SL__XR_ARG0, SL_T_MISSING, 0, 0, sl__xf_abs},
    {"round", 1, 2, "NI", SL__XR_ARG0, SL_T_MISSING, 0, 0, sl__xf_round},
    {"floor", 1, 1, "N", SL__XR_ARG0, SL_T_MISSING, 0, 0, sl__xf_floor},
    {"ceil", 1, 1, "N", SL__XR_ARG0, SL_T_MISSING, 0, 0, sl__xf_ceil},
    {"ceiling", 1, 1, "N", SL__XR_ARG0, SL_T_MISSING, 0, 0, sl__xf_ceil},
    {"sqrt", 1, 1, "N", SL__XR_FIXED, SL_T_DOUBLE, 0, 0, sl__xf_sqrt},
    {"ln", 1, 1, "N", SL__XR_FIXED, SL_T_DOUBLE, 0, 0, sl__xf_ln},
    {"exp", 1, 1, "N", SL__XR_FIXED, SL_T_DOUBLE, 0, 0, sl__xf_exp},
    {"pow", 2, 2, "N", SL__XR_FIXED, SL_T_DOUBLE, 0, 0, sl__xf_pow},
    {"power", 2, 2, "N", SL__XR_FIXED, SL_T_DOUBLE, 0, 0, sl__xf_pow},
    {"least", 1, -1, "C", SL__XR_COMMON, SL_T_MISSING, 0, 1, sl__xf_least},
    {"greatest", 1, -1, "C", SL__XR_COMMON, SL_T_MISSING, 0, 1, sl__xf_greatest},
    {"lower", 1, 1, "S", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_lower},
    {"upper", 1, 1, "S", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_upper},
    {"length", 1, 1, "S", SL__XR_FIXED, SL_T_INT, 0, 0, sl__xf_length},
    {"substr", 2, 3, "SI", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_substr},
    {"substring", 2, 3, "SI", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_substr},
    {"concat", 1, -1, "X", SL__XR_FIXED, SL_T_STRING, 0, 1, sl__xf_concat},
    {"trim", 1, 2, "S", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_trim},
    {"ltrim", 1, 2, "S", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_ltrim},
    {"rtrim", 1, 2, "S", SL__XR_FIXED, SL_T_STRING, 0, 0, sl__xf_rtrim},
    {"starts_with", 2, 2, "S", SL__XR_FIXED, SL_T_BOOL, 0, 0, sl__xf_starts_with},
    {"regexp_like", 2, 2, "SP", SL__XR_FIXED, SL_T_BOOL, 0, 0, sl__xf_regexp_like},
    {"date_trunc", 2, 2, "UN", SL__XR_FIXED, SL_T_INT, 0, 0, sl__xf_date_trunc},
    {"ts_ms", 1, 1, "T", SL__XR_FIXED, SL_T_INT, 0, 0, sl__xf_ts_ms},
    {"coalesce", 1, -1, "C", SL__XR_COMMON, SL_T_MISSING, 1, 1, NULL},
    {"nullif", 2, 2, "C", SL__XR_ARG0, SL_T_MISSING, 2, 1, NULL},
};
const size_t sl__xnfuncs = SL_ARRAY_LEN(sl__xfuncs);

int sl__xfunc_find(const char *name)
{
    for (size_t k = 0; k < sl__xnfuncs; k++)
        if (strcasecmp(sl__xfuncs[k].name, name) == 0)
            return (int)k;
    return -1;
}

static void sl__xregfree(void *p)
{
    regfree(p);
    free(p);
}

/* Bounded repetitions multiply the size of the compiled automaton: refuse
 * patterns where their bounds multiply beyond 10000. */
static int sl__xregex_too_big(const char *p)
{
    double prod = 1;
    for (const char *c = p; *c; c++)
        if (*c == '{' && isdigit((unsigned char)c[1])) {
            char *end;
            double b = strtod(c + 1, &end);
            if (*end == ',' && isdigit((unsigned char)end[1]))
                b = strtod(end + 1, &end);
            prod *= b > 1 ? b : 1;
        }
    return prod > 10000;
}

void *sl__xfunc_aux(sl__xtree *t, int fn, const sl_value *lit, uint32_t pos,
                    void (**free_aux)(void *))
{
    const sl__xfunc *f = &sl__xfuncs[fn];
    *free_aux = NULL;
    if (f->fn == sl__xf_regexp_like) {
        if (lit->type != SL_T_STRING) {
            sl__xerror(t, pos, "%s: the pattern must be a string literal", f->name);
            return NULL;
        }
        if (lit->len > 1024 || memchr(lit->s, '\0', lit->len) || sl__xregex_too_big(lit->s)) {
            sl__xerror(t, pos, "%s: pattern too large or too complex", f->name);
            return NULL;
        }
        regex_t *re = malloc(sizeof(*re));
        if (!re) {
            sl__xerror(t, pos, "out of memory");
            return NULL;
        }
        int rc = regcomp(re, lit->s, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, re, why, sizeof(why));
            free(re);
            sl__xerror(t, pos, "%s: invalid pattern: %s", f->name, why);
            return NULL;
        }
        *free_aux = sl__xregfree;
        return re;
    }
    /* date_trunc */
    if (lit->type != SL_T_STRING) {
        sl__xerror(t, pos, "%s: the unit must be a string literal", f->name);
        return NULL;
    }
    const int *unit = sl__xunit_find(lit->s, lit->len);
    if (unit)
        return (void *)unit;
    sl_suggest sg;
    char word[64];
    snprintf(word, sizeof(word), "%.*s", (int)(lit->len > 63 ? 63 : lit->len), lit->s);
    sl_suggest_init(&sg, word);
    for (size_t k = 0; sl__xunits[k]; k++)
        sl_suggest_add(&sg, sl__xunits[k]);
    const char *best = sl_suggest_result(&sg);
    char dym[96] = "";
    if (best)
        snprintf(dym, sizeof(dym), ", did you mean \"%s\"?", best);
    else
        snprintf(dym, sizeof(dym), " (expected second, minute, hour, day, week, month or year)");
    sl__xerror(t, pos, "%s: unknown unit \"%s\"%s", f->name, word, dym);
    return NULL;
}
