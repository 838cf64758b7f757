/* aggregate.c - the window aggregate functions as add / merge / result
 * (see aggregate.h). */
#include "aggregate.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cells a partial of operation `op` takes. */
static uint32_t sl__agg_width(uint8_t op)
{
    switch (op) {
    case SL_AGG_OP_FIRST:
    case SL_AGG_OP_LAST:
        return 3;
    case SL_AGG_OP_MOMENTS:
        return 2;
    default:
        return 1;
    }
}

/* Finds or appends the partial (op, column, param); returns its index or
 * -1. */
static int32_t sl__agg_cell_for(sl_agg_plan *plan, uint8_t op, uint32_t column, uint32_t param)
{
    for (uint32_t c = 0; c < plan->ncells; c++)
        if (plan->cells[c].op == op && plan->cells[c].column == column &&
            plan->cells[c].param == param)
            return (int32_t)c;
    sl_agg_cellspec *n = realloc(plan->cells, (plan->ncells + 1) * sizeof(*n));
    if (!n)
        return -1;
    plan->cells = n;
    n[plan->ncells].op = op;
    n[plan->ncells].column = column;
    n[plan->ncells].slot = plan->nslots;
    n[plan->ncells].param = param;
    plan->nslots += sl__agg_width(op);
    if (op >= SL_AGG_OP_FIRST_EXT)
        plan->next++;
    if (column + 1 > plan->ncolumns)
        plan->ncolumns = column + 1;
    return (int32_t)plan->ncells++;
}

/* ,"name": with the name JSON-escaped. Returns NULL on allocation failure. */
static char *sl__agg_prefix(const char *name, size_t *len)
{
    size_t n = strlen(name);
    char *p = malloc(n * 6 + 5);
    if (!p)
        return NULL;
    char *o = p;
    *o++ = ',';
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hex[ch >> 4];
            o[5] = hex[ch & 15];
            o += 6;
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    *o++ = ':';
    *len = (size_t)(o - p);
    return p;
}

int sl_agg_plan_init(sl_agg_plan *plan, const sl_agg_def *aggs, size_t naggs)
{
    return sl_agg_plan_init_params(plan, aggs, NULL, naggs);
}

int sl_agg_plan_init_params(sl_agg_plan *plan, const sl_agg_def *aggs, const sl_agg_params *params,
                            size_t naggs)
{
    static const sl_agg_params none;
    memset(plan, 0, sizeof(*plan));
    plan->outputs = calloc(naggs ? naggs : 1, sizeof(*plan->outputs));
    if (!plan->outputs)
        return SL_ENOMEM;
    plan->noutputs = naggs;
    size_t bound = 0;
    for (size_t a = 0; a < naggs; a++) {
        sl_agg_output *o = &plan->outputs[a];
        const sl_agg_params *pa = params ? &params[a] : &none;
        o->fn = (uint8_t)aggs[a].fn;
        o->cell = -1;
        if (aggs[a].fn != SL_AGG_COUNT) {
            uint8_t op;
            uint32_t param = 0;
            switch (aggs[a].fn) {
            case SL_AGG_SUM:
            case SL_AGG_AVG:
                op = SL_AGG_OP_SUM;
                break;
            case SL_AGG_MIN:
                op = SL_AGG_OP_MIN;
                break;
            case SL_AGG_MAX:
                op = SL_AGG_OP_MAX;
                break;
            case SL_AGG_FIRST:
                op = SL_AGG_OP_FIRST;
                break;
            case SL_AGG_LAST:
                op = SL_AGG_OP_LAST;
                break;
            case SL_AGG_STDDEV_POP:
            case SL_AGG_STDDEV_SAMP:
            case SL_AGG_VAR_POP:
            case SL_AGG_VAR_SAMP:
                op = SL_AGG_OP_MOMENTS;
                break;
            case SL_AGG_COUNT_DISTINCT:
                op = SL_AGG_OP_DISTINCT;
                break;
            case SL_AGG_APPROX_COUNT_DISTINCT:
                op = SL_AGG_OP_HLL;
                param = 14;
                break;
            case SL_AGG_APPROX_PERCENTILE:
            case SL_AGG_MEDIAN:
                op = SL_AGG_OP_QUANTILES;
                break;
            case SL_AGG_TOP_K:
                op = SL_AGG_OP_TOPK;
                param = pa->k;
                if (param < 1 || param > SL_AGG_TOPK_MAX) {
                    sl_agg_plan_free(plan);
                    return SL_EINVAL;
                }
                plan->has_topk = 1;
                break;
            default:
                sl_agg_plan_free(plan);
                return SL_EINVAL;
            }
            if (aggs[a].column < 0) {
                sl_agg_plan_free(plan);
                return SL_EINVAL;
            }
            if (aggs[a].fn == SL_AGG_MEDIAN || aggs[a].fn == SL_AGG_APPROX_PERCENTILE) {
                uint32_t nq = aggs[a].fn == SL_AGG_MEDIAN ? 1 : pa->nq;
                if (nq < 1 || nq > SL_AGG_MAX_Q) {
                    sl_agg_plan_free(plan);
                    return SL_EINVAL;
                }
                o->q = malloc(nq * sizeof(*o->q));
                if (!o->q) {
                    sl_agg_plan_free(plan);
                    return SL_ENOMEM;
                }
                o->nq = nq;
                o->q_list = aggs[a].fn == SL_AGG_APPROX_PERCENTILE && pa->q_list;
                for (uint32_t i = 0; i < nq; i++) {
                    double q = aggs[a].fn == SL_AGG_MEDIAN ? 0.5 : pa->q[i];
                    if (!(q >= 0 && q <= 1)) {
                        sl_agg_plan_free(plan);
                        return SL_EINVAL;
                    }
                    o->q[i] = q;
                }
            }
            o->cell = sl__agg_cell_for(plan, op, (uint32_t)aggs[a].column, param);
            if (o->cell < 0) {
                sl_agg_plan_free(plan);
                return SL_ENOMEM;
            }
        }
        o->prefix = sl__agg_prefix(aggs[a].name ? aggs[a].name : "", &o->prefix_len);
        if (!o->prefix) {
            sl_agg_plan_free(plan);
            return SL_ENOMEM;
        }
        /* A double prints in at most 25 bytes; "null" and int64 fit too. */
        bound += o->prefix_len + 32 + (size_t)o->nq * 27;
    }
    plan->format_bound = bound;
    plan->state_size = (uint32_t)(sizeof(sl_agg_state) + plan->nslots * sizeof(sl_agg_cell));
    return 0;
}

void sl_agg_plan_free(sl_agg_plan *plan)
{
    if (plan->outputs)
        for (size_t a = 0; a < plan->noutputs; a++) {
            free(plan->outputs[a].prefix);
            free(plan->outputs[a].q);
        }
    free(plan->outputs);
    free(plan->cells);
    memset(plan, 0, sizeof(*plan));
}

void sl_agg_merge(const sl_agg_plan *plan, void *dst, const void *src)
{
    sl_agg_state *d = dst;
    const sl_agg_state *s = src;
    if (s->n == 0)
        return;
    if (d->n == 0) {
        memcpy(d, s, plan->state_size);
        if (SL_UNLIKELY(plan->next)) /* copy the sketches, never share them */
            for (uint32_t c = 0; c < plan->ncells; c++) {
                const sl_agg_cellspec *cs = &plan->cells[c];
                if (cs->op < SL_AGG_OP_FIRST_EXT)
                    continue;
                d->cells[cs->slot].v.i = 0;
                sl_agg_ext_merge(plan, cs, &d->cells[cs->slot], &s->cells[cs->slot]);
            }
        return;
    }
    for (uint32_t c = 0; c < plan->ncells; c++) {
        const sl_agg_cellspec *cs = &plan->cells[c];
        const sl_agg_cell *sc = &s->cells[cs->slot];
        sl_agg_cell *dc = &d->cells[cs->slot];
        if (cs->op >= SL_AGG_OP_FIRST_EXT) {
            sl_agg_ext_merge(plan, cs, dc, sc);
            continue;
        }
        sl_num x;
        x.is_double = sc->is_double;
        if (sc->is_double)
            x.v.d = sc->v.d;
        else
            x.v.i = sc->v.i;
        switch (cs->op) {
        case SL_AGG_OP_FIRST:
        case SL_AGG_OP_LAST:
            sl_agg_pick(cs->op, dc, 0, x, sc[1].v.i, sc[2].v.i);
            break;
        case SL_AGG_OP_MOMENTS: {
            /* Chan et al.: the pairwise combination of (n, mean, M2) */
            double na = (double)d->n, nb = (double)s->n, n = na + nb;
            double delta = sc[0].v.d - dc[0].v.d;
            dc[0].v.d += delta * (nb / n);
            dc[1].v.d += sc[1].v.d + delta * delta * (na * nb / n);
            break;
        }
        default:
            sl_agg_cell_add(cs->op, dc, 0, x);
            break;
        }
    }
    d->n += s->n;
}

void sl_agg_state_release(const sl_agg_plan *plan, void *state)
{
    if (!plan->next)
        return;
    sl_agg_state *s = state;
    for (uint32_t c = 0; c < plan->ncells; c++)
        if (plan->cells[c].op >= SL_AGG_OP_FIRST_EXT)
            sl_agg_ext_free(plan, &plan->cells[c], &s->cells[plan->cells[c].slot]);
}

size_t sl_agg_format_bound(const sl_agg_plan *plan, const void *state)
{
    if (SL_LIKELY(!plan->has_topk))
        return plan->format_bound;
    const sl_agg_state *s = state;
    size_t b = plan->format_bound;
    for (size_t a = 0; a < plan->noutputs; a++) {
        const sl_agg_output *o = &plan->outputs[a];
        if (o->fn == SL_AGG_TOP_K) {
            const sl_agg_cellspec *cs = &plan->cells[o->cell];
            b += sl_agg_ext_format_bound(o, cs, &s->cells[cs->slot]);
        }
    }
    return b;
}

size_t sl_agg_state_min_bytes(const sl_agg_plan *plan)
{
    size_t b = 8;
    for (uint32_t c = 0; c < plan->ncells; c++)
        b += plan->cells[c].op == SL_AGG_OP_DISTINCT    ? 8
             : plan->cells[c].op >= SL_AGG_OP_FIRST_EXT ? 1
                                                        : 9;
    return b;
}

static const char sl__digit_pairs[201] = "00010203040506070809"
                                         "10111213141516171819"
                                         "20212223242526272829"
                                         "30313233343536373839"
                                         "40414243444546474849"
                                         "50515253545556575859"
                                         "60616263646566676869"
                                         "70717273747576777879"
                                         "80818283848586878889"
                                         "90919293949596979899";

char *sl_agg_put_i64(char *out, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp), *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = sl__digit_pairs[d + 1];
        *--p = sl__digit_pairs[d];
    }
    if (u >= 10) {
        unsigned d = (unsigned)u * 2;
        *--p = sl__digit_pairs[d + 1];
        *--p = sl__digit_pairs[d];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *out++ = '-';
    memcpy(out, p, (size_t)(e - p));
    return out + (e - p);
}

/* Splits %.*e text [-]D[.DDD]e(+|-)XX into its digits at `dig` (trailing
 * zeros dropped, at least one kept) and decimal exponent *x. Returns the
 * digit count. */
static int sl__agg_digits(const char *e_text, char *dig, int *x)
{
    const char *s = e_text + (e_text[0] == '-');
    int n = 0;
    for (; *s != 'e'; s++)
        if (*s != '.')
            dig[n++] = *s;
    while (n > 1 && dig[n - 1] == '0')
        n--;
    *x = (int)strtol(s + 1, NULL, 10);
    return n;
}

/* Whether the decimal dig[0..n) * 10^(x-n+1), signed like d, reads back
 * as exactly d. */
static int sl__agg_reads_back(double d, const char *dig, int n, int x)
{
    char tmp[48];
    snprintf(tmp, sizeof(tmp), "%s%.*se%d", signbit(d) ? "-" : "", n, dig, x - n + 1);
    return strtod(tmp, NULL) == d;
}

/* The fewest significant digits of finite `d` that read back as exactly
 * `d`, at `dig` (no trailing zeros; "0" for zero); among as many digits,
 * the nearest to `d`. Returns their count and sets *x to the decimal
 * exponent of the first digit. Tries precisions p = 1..17 with correctly
 * rounded %.*e; for normal doubles from p = 15 (any form of <= 15 digits
 * reads back through %.15e's). A power of two has a narrower rounding
 * interval below it than above it, so when its nearest 16 digits (below it)
 * miss, the next 16-digit decimal above may still hit. */
static int sl__agg_shortest(double d, char *dig, int *x)
{
    char tmp[40];
    int p = fabs(d) >= DBL_MIN ? 15 : 1;
    for (; p < 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, d);
        if (strtod(tmp, NULL) == d)
            return sl__agg_digits(tmp, dig, x);
    }
    int e;
    if (fabs(d) > DBL_MIN && fabs(frexp(d, &e)) == 0.5 && fabs(strtod(tmp, NULL)) < fabs(d)) {
        /* tmp holds the nearest 16 digits: add one unit in the last place */
        char up[20];
        int ux;
        const char *s = tmp + (tmp[0] == '-');
        int n = 0;
        for (; *s != 'e'; s++)
            if (*s != '.')
                up[n++] = *s;
        ux = (int)strtol(s + 1, NULL, 10);
        int i = n - 1;
        while (i >= 0 && up[i] == '9')
            up[i--] = '0';
        if (i >= 0) {
            up[i]++;
        } else {
            up[0] = '1';
            ux++;
        }
        while (n > 1 && up[n - 1] == '0')
            n--;
        if (sl__agg_reads_back(d, up, n, ux)) {
            memcpy(dig, up, (size_t)n);
            *x = ux;
            return n;
        }
    }
    snprintf(tmp, sizeof(tmp), "%.16e", d);
    return sl__agg_digits(tmp, dig, x);
}

/* Writes finite or non-finite `d` (at most 25 bytes): the shortest digits
 * that read back as `d` (sl__agg_shortest), laid out as fixed notation for
 * decimal exponents -4..15 with at least one digit after the '.' (3.0,
 * 0.0001, -0.0) and as d[.ddd]e(+|-)XX otherwise (1e+16, 1.5e-05), so a
 * double never prints as an integer; non-finite values print as null. */
char *sl_agg_put_double(char *out, double d)
{
    if (!isfinite(d)) {
        memcpy(out, "null", 4);
        return out + 4;
    }
    char dig[20];
    int x;
    int n = sl__agg_shortest(d, dig, &x);
    if (signbit(d))
        *out++ = '-';
    if (x < -4 || x >= 16) {
        *out++ = dig[0];
        if (n > 1) {
            *out++ = '.';
            memcpy(out, dig + 1, (size_t)n - 1);
            out += n - 1;
        }
        *out++ = 'e';
        *out++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax < 10)
            *out++ = '0';
        return sl_agg_put_i64(out, ax);
    }
    if (x < 0) {
        memcpy(out, "0.0000", (size_t)(1 - x));
        out += 1 - x;
        memcpy(out, dig, (size_t)n);
        return out + n;
    }
    for (int i = 0; i <= x; i++)
        *out++ = i < n ? dig[i] : '0';
    *out++ = '.';
    if (n <= x + 1) {
        *out++ = '0';
        return out;
    }
    memcpy(out, dig + x + 1, (size_t)(n - x - 1));
    return out + (n - x - 1);
}

static char *sl__agg_put_cell(char *out, const sl_agg_cell *c)
{
    return c->is_double ? sl_agg_put_double(out, c->v.d) : sl_agg_put_i64(out, c->v.i);
}

char *sl_agg_format(const sl_agg_plan *plan, const void *state, char *out)
{
    const sl_agg_state *s = state;
    for (size_t a = 0; a < plan->noutputs; a++) {
        const sl_agg_output *o = &plan->outputs[a];
        memcpy(out, o->prefix, o->prefix_len);
        out += o->prefix_len;
        switch (o->fn) {
        case SL_AGG_COUNT:
            out = sl_agg_put_i64(out, s->n);
            break;
        case SL_AGG_AVG: {
            const sl_agg_cell *c = &s->cells[plan->cells[o->cell].slot];
            double sum = c->is_double ? c->v.d : (double)c->v.i;
            out = sl_agg_put_double(out, sum / (double)s->n);
            break;
        }
        case SL_AGG_STDDEV_POP:
        case SL_AGG_STDDEV_SAMP:
        case SL_AGG_VAR_POP:
        case SL_AGG_VAR_SAMP: {
            const sl_agg_cell *c = &s->cells[plan->cells[o->cell].slot];
            int samp = o->fn == SL_AGG_STDDEV_SAMP || o->fn == SL_AGG_VAR_SAMP;
            if (samp && s->n < 2) {
                memcpy(out, "null", 4);
                out += 4;
                break;
            }
            double m2 = c[1].v.d > 0 ? c[1].v.d : 0; /* never below 0 */
            double var = m2 / (double)(samp ? s->n - 1 : s->n);
            int sd = o->fn == SL_AGG_STDDEV_POP || o->fn == SL_AGG_STDDEV_SAMP;
            out = sl_agg_put_double(out, sd ? sqrt(var) : var);
            break;
        }
        case SL_AGG_COUNT_DISTINCT:
        case SL_AGG_APPROX_COUNT_DISTINCT:
        case SL_AGG_APPROX_PERCENTILE:
        case SL_AGG_MEDIAN:
        case SL_AGG_TOP_K: {
            const sl_agg_cellspec *cs = &plan->cells[o->cell];
            out = sl_agg_ext_format(o, cs, &s->cells[cs->slot], out);
            break;
        }
        default: /* sum, min, max, first, last: the value cell */
            out = sl__agg_put_cell(out, &s->cells[plan->cells[o->cell].slot]);
            break;
        }
    }
    return out;
}

/* The value cell of a partial: u8 is_double, then i64 or f64. */
static void sl__agg_put_value(const sl_agg_cell *c, sl_buf *out)
{
    sl_buf_put_u8(out, c->is_double);
    if (c->is_double)
        sl_buf_put_f64(out, c->v.d);
    else
        sl_buf_put_i64(out, c->v.i);
}

static int sl__agg_read_value(sl_agg_cell *c, sl_reader *in)
{
    uint8_t isd = sl_read_u8(in);
    if (isd > 1)
        return SL_ECORRUPT;
    c->is_double = isd;
    if (isd)
        c->v.d = sl_read_f64(in);
    else
        c->v.i = sl_read_i64(in);
    return 0;
}

/* Per partial: sum/min/max the value cell; first/last the value cell then
 * i64 event time, i64 offset; moments f64 mean, f64 M2; sketches their own
 * encoding (sl_agg_ext_write). Plans of count, sum, min, max and avg only
 * write what they always wrote. */
void sl_agg_state_write(const sl_agg_plan *plan, const void *state, sl_buf *out)
{
    const sl_agg_state *s = state;
    sl_buf_put_i64(out, s->n);
    for (uint32_t c = 0; c < plan->ncells; c++) {
        const sl_agg_cell *cell = &s->cells[plan->cells[c].slot];
        switch (plan->cells[c].op) {
        case SL_AGG_OP_MOMENTS:
            sl_buf_put_f64(out, cell[0].v.d);
            sl_buf_put_f64(out, cell[1].v.d);
            break;
        case SL_AGG_OP_FIRST:
        case SL_AGG_OP_LAST:
            sl__agg_put_value(cell, out);
            sl_buf_put_i64(out, cell[1].v.i);
            sl_buf_put_i64(out, cell[2].v.i);
            break;
        case SL_AGG_OP_DISTINCT:
        case SL_AGG_OP_HLL:
        case SL_AGG_OP_QUANTILES:
        case SL_AGG_OP_TOPK:
            sl_agg_ext_write(&plan->cells[c], cell, out);
            break;
        default:
            sl__agg_put_value(cell, out);
            break;
        }
    }
}

static int sl__agg_state_read(const sl_agg_plan *plan, sl_agg_state *s, sl_reader *in);

int sl_agg_state_read(const sl_agg_plan *plan, void *state, sl_reader *in)
{
    sl_agg_state *s = state;
    memset(s, 0, plan->state_size);
    int rc = sl__agg_state_read(plan, s, in);
    if (rc != 0) {
        sl_agg_state_release(plan, s);
        memset(s, 0, plan->state_size);
    }
    return rc;
}

static int sl__agg_state_read(const sl_agg_plan *plan, sl_agg_state *s, sl_reader *in)
{
    s->n = sl_read_i64(in);
    if (s->n <= 0)
        return SL_ECORRUPT;
    for (uint32_t c = 0; c < plan->ncells; c++) {
        sl_agg_cell *cell = &s->cells[plan->cells[c].slot];
        switch (plan->cells[c].op) {
        case SL_AGG_OP_MOMENTS:
            cell[0].v.d = sl_read_f64(in);
            cell[1].v.d = sl_read_f64(in);
            if (isnan(cell[0].v.d) || isnan(cell[1].v.d) || cell[1].v.d < 0)
                return SL_ECORRUPT;
            break;
        case SL_AGG_OP_FIRST:
        case SL_AGG_OP_LAST:
            if (sl__agg_read_value(cell, in) != 0)
                return SL_ECORRUPT;
            cell[1].v.i = sl_read_i64(in);
            cell[2].v.i = sl_read_i64(in);
            break;
        case SL_AGG_OP_DISTINCT:
        case SL_AGG_OP_HLL:
        case SL_AGG_OP_QUANTILES:
        case SL_AGG_OP_TOPK:
            if (sl_agg_ext_read(plan, &plan->cells[c], cell, in) != 0)
                return SL_ECORRUPT;
            break;
        default:
            if (sl__agg_read_value(cell, in) != 0)
                return SL_ECORRUPT;
            break;
        }
    }
    return in->failed ? SL_ECORRUPT : 0;
}
