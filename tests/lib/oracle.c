/* oracle.c - brute-force windowed aggregation reference (see oracle.h). */
#include "oracle.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct or_window {
    const char *key;
    int64_t start, end;
    or_num *vals;      /* n events x ncols values, in arrival order */
    int64_t *ts, *off; /* n event times and offsets, in arrival order */
    size_t n, cap;
    int fired;
    int alive;
} or_window;

struct or_task {
    const or_config *cfg;
    size_t ncols;
    or_window *w;
    size_t n, cap;
    int64_t wm, max_ts;
    or_output *out;
};

/* a + b <= c for b >= 0, without overflow. */
static int or_sum_le(int64_t a, int64_t b, int64_t c)
{
    return c >= INT64_MIN + b && a <= c - b;
}

/* a - b for b >= 0, saturating at INT64_MIN. */
static int64_t or_sub(int64_t a, int64_t b)
{
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

static int or_keycmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

/* Appends one event's values (ncols of them), time and offset to w. */
static void or_add(or_task *t, or_window *w, const or_num *vals, int64_t ts, int64_t off)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->vals = realloc(w->vals, w->cap * t->ncols * sizeof(*w->vals));
        w->ts = realloc(w->ts, w->cap * sizeof(*w->ts));
        w->off = realloc(w->off, w->cap * sizeof(*w->off));
    }
    memcpy(&w->vals[w->n * t->ncols], vals, t->ncols * sizeof(*vals));
    w->ts[w->n] = ts;
    w->off[w->n] = off;
    w->n++;
}

static void or_window_free(or_window *w)
{
    free(w->vals);
    free(w->ts);
    free(w->off);
    w->vals = NULL;
    w->ts = w->off = NULL;
}

/* first/last: the value of the event with the smallest/largest (ts, offset),
 * by a scan of every event of w. */
static const or_num *or_first_last(const or_task *t, const or_window *w, size_t col, int last)
{
    size_t best = 0;
    for (size_t e = 1; e < w->n; e++) {
        int before =
            w->ts[e] < w->ts[best] || (w->ts[e] == w->ts[best] && w->off[e] < w->off[best]);
        int after = w->ts[e] > w->ts[best] || (w->ts[e] == w->ts[best] && w->off[e] > w->off[best]);
        if (last ? after : before)
            best = e;
    }
    return &w->vals[best * t->ncols + col];
}

/* The variance of column col over w, two passes in long double; `samp`
 * divides by n - 1. Returns NAN for a sample variance of one event. */
static double or_variance(const or_task *t, const or_window *w, size_t col, int samp)
{
    if (samp && w->n < 2)
        return NAN;
    long double sum = 0;
    for (size_t e = 0; e < w->n; e++) {
        const or_num *x = &w->vals[e * t->ncols + col];
        sum += x->is_double ? (long double)x->d : (long double)x->i;
    }
    long double mean = sum / (long double)w->n, ss = 0;
    for (size_t e = 0; e < w->n; e++) {
        const or_num *x = &w->vals[e * t->ncols + col];
        long double d = (x->is_double ? (long double)x->d : (long double)x->i) - mean;
        ss += d * d;
    }
    return (double)(ss / (long double)(samp ? w->n - 1 : w->n));
}

static void or_event_vals(const or_task *t, const or_event *e, or_num *vals)
{
    if (!t->cfg->agg_cols || !e->cols) {
        for (size_t c = 0; c < t->ncols; c++)
            vals[c] = (or_num){.i = e->amount};
        return;
    }
    memcpy(vals, e->cols, t->ncols * sizeof(*vals));
}

static or_window *or_new_window(or_task *t, const char *key, int64_t start, int64_t end)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->w = realloc(t->w, t->cap * sizeof(*t->w));
    }
    or_window *w = &t->w[t->n++];
    memset(w, 0, sizeof(*w));
    w->key = key;
    w->start = start;
    w->end = end;
    w->alive = 1;
    return w;
}

static or_window *or_find(or_task *t, const char *key, int64_t start, int64_t end)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->w[i].alive && t->w[i].start == start && t->w[i].end == end &&
            strcmp(t->w[i].key, key) == 0)
            return &t->w[i];
    return NULL;
}

/* Whether the decimal text t reads back as exactly d. */
static int or_exact(const char *t, double d)
{
    return strtod(t, NULL) == d;
}

/* Text of finite d as results print it: the fewest significant digits
 * that read back as d (the nearest such when several do), fixed notation
 * for decimal exponents -4..15 with a digit after the point, otherwise
 * d[.ddd]e+XX / e-XX. Search: for each digit count, the correctly rounded
 * candidate from %.*e and the decimals one unit either side of it. */
static int or_put_double(char *p, size_t room, double d)
{
    if (d != d || d - d != 0)
        return snprintf(p, room, "null");
    char best[32] = "", cand[40];
    int best_e = 0;
    for (int n = 1; n <= 17 && !best[0]; n++) {
        char e_text[40];
        snprintf(e_text, sizeof(e_text), "%.*e", n - 1, fabs(d));
        /* mantissa digits as an integer m, value m * 10^e */
        long long m = 0;
        const char *q = e_text;
        for (; *q != 'e'; q++)
            if (*q >= '0' && *q <= '9')
                m = m * 10 + (*q - '0');
        int e = atoi(q + 1) - (n - 1);
        long long tries[3] = {m, m - 1, m + 1};
        for (int k = 0; k < 3 && !best[0]; k++) {
            if (tries[k] <= 0 && d != 0)
                continue;
            snprintf(cand, sizeof(cand), "%s%llde%d", signbit(d) ? "-" : "", tries[k], e);
            if (or_exact(cand, d)) {
                snprintf(best, sizeof(best), "%lld", tries[k]);
                best_e = e;
            }
        }
    }
    /* strip trailing zeros into the exponent */
    size_t nd = strlen(best);
    while (nd > 1 && best[nd - 1] == '0')
        best[--nd] = 0, best_e++;
    int x = best_e + (int)nd - 1; /* exponent of the first digit */
    char txt[64];
    size_t o = 0;
    if (signbit(d))
        txt[o++] = '-';
    if (x >= 16 || x < -4) {
        txt[o++] = best[0];
        if (nd > 1)
            o += (size_t)sprintf(txt + o, ".%s", best + 1);
        o += (size_t)sprintf(txt + o, "e%c%02d", x < 0 ? '-' : '+', abs(x));
    } else if (x < 0) {
        o += (size_t)sprintf(txt + o, "0.");
        for (int z = -1; z > x; z--)
            txt[o++] = '0';
        o += (size_t)sprintf(txt + o, "%s", best);
    } else {
        /* digits, zero padded to the units place, then the fraction */
        for (int k = 0; k <= x; k++)
            txt[o++] = (size_t)k < nd ? best[k] : '0';
        txt[o++] = '.';
        if ((size_t)x + 1 < nd)
            o += (size_t)sprintf(txt + o, "%s", best + x + 1);
        else
            txt[o++] = '0';
    }
    txt[o] = 0;
    return snprintf(p, room, "%s", txt);
}

static int or_put_num(char *p, size_t room, int is_double, int64_t i, double d)
{
    if (is_double)
        return or_put_double(p, room, d);
    return snprintf(p, room, "%" PRId64, i);
}

/* The identity text of a present value: its text, or the number with an
 * integral double printed as the integer (1.0 and 1 are one value). */
static void or_value_text(const or_num *x, char *out, size_t room)
{
    if (x->text)
        snprintf(out, room, "%s", x->text);
    else if (!x->is_double)
        snprintf(out, room, "%" PRId64, x->i);
    else if (x->d == floor(x->d) && fabs(x->d) < 9.2e18)
        snprintf(out, room, "%" PRId64, (int64_t)x->d);
    else
        or_put_double(out, room, x->d);
}

typedef struct or_count {
    char text[256];
    size_t n;
} or_count;

static int or_count_cmp(const void *a, const void *b)
{
    const or_count *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return or_keycmp(x->text, y->text);
}

/* Distinct present values of column col with their counts (to free). */
static or_count *or_counts(const or_task *t, const or_window *w, size_t col, size_t *n)
{
    or_count *c = calloc(w->n + 1, sizeof(*c));
    *n = 0;
    for (size_t e = 0; e < w->n; e++) {
        const or_num *x = &w->vals[e * t->ncols + col];
        if (x->absent)
            continue;
        char txt[256];
        or_value_text(x, txt, sizeof(txt));
        size_t k = 0;
        while (k < *n && strcmp(c[k].text, txt) != 0)
            k++;
        if (k == *n)
            snprintf(c[(*n)++].text, sizeof(c[0].text), "%s", txt);
        c[k].n++;
    }
    qsort(c, *n, sizeof(*c), or_count_cmp);
    return c;
}

static int or_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The sketch functions' result at p (room bytes); returns the length, or
 * -1 when fn is not one of them. */
static int or_sketch(const or_task *t, const or_window *w, size_t a, size_t col, char *p,
                     size_t room)
{
    char fn[64];
    const char *colon = strchr(t->cfg->agg_fns[a], ':');
    const char *arg = colon ? colon + 1 : "";
    snprintf(fn, sizeof(fn), "%.*s", (int)(colon ? colon - t->cfg->agg_fns[a] : 63),
             t->cfg->agg_fns[a]);
    if (strcmp(fn, "count_distinct") == 0 || strcmp(fn, "approx_count_distinct") == 0) {
        size_t n;
        free(or_counts(t, w, col, &n));
        return snprintf(p, room, "%zu", n);
    }
    if (strcmp(fn, "top_k") == 0) {
        size_t n, k = (size_t)atoi(arg), pos = 0;
        or_count *c = or_counts(t, w, col, &n);
        pos += (size_t)snprintf(p + pos, room - pos, "[");
        for (size_t i = 0; i < n && i < k; i++)
            pos += (size_t)snprintf(p + pos, room - pos, "%s{\"value\":%s,\"count\":%zu}",
                                    i ? "," : "", c[i].text, c[i].n);
        pos += (size_t)snprintf(p + pos, room - pos, "]");
        free(c);
        return (int)pos;
    }
    int median = strcmp(fn, "median") == 0;
    if (!median && strcmp(fn, "approx_percentile") != 0)
        return -1;
    double qs[64];
    size_t nq = 0;
    int list = 0;
    if (median) {
        qs[nq++] = 0.5;
    } else {
        const char *s = arg;
        list = *s == '[';
        s += list;
        while (*s && *s != ']') {
            char *end;
            qs[nq++] = strtod(s, &end);
            s = end;
            while (*s == ',' || *s == ' ')
                s++;
        }
    }
    double *v = malloc((w->n + 1) * sizeof(*v));
    size_t n = 0;
    for (size_t e = 0; e < w->n; e++) {
        const or_num *x = &w->vals[e * t->ncols + col];
        if (!x->absent)
            v[n++] = x->is_double ? x->d : (double)x->i;
    }
    qsort(v, n, sizeof(*v), or_double_cmp);
    size_t pos = 0;
    if (list)
        pos += (size_t)snprintf(p + pos, room - pos, "[");
    for (size_t i = 0; i < nq; i++) {
        if (i)
            pos += (size_t)snprintf(p + pos, room - pos, ",");
        if (!n)
            pos += (size_t)snprintf(p + pos, room - pos, "null");
        else
            pos += (size_t)or_put_double(p + pos, room - pos,
                                         v[(size_t)floor(qs[i] * (double)(n - 1))]);
    }
    if (list)
        pos += (size_t)snprintf(p + pos, room - pos, "]");
    free(v);
    return (int)pos;
}

/* The result of window w, computed from its events. */
/* The result JSON of w, into buf (OR_RENDER_MAX bytes). */
#define OR_RENDER_MAX 16384
static void or_render(or_task *t, const or_window *w, char *buf)
{
    const or_config *cfg = t->cfg;
    size_t room = OR_RENDER_MAX;
    int pos = snprintf(buf, room, "{%s%s\"window_start\":%" PRId64 ",\"window_end\":%" PRId64,
                       w->key, w->key[0] ? "," : "", w->start, w->end);
    for (size_t a = 0; a < cfg->naggs; a++) {
        const char *fn = cfg->agg_fns[a];
        size_t col = cfg->agg_cols && cfg->agg_cols[a] >= 0 ? (size_t)cfg->agg_cols[a] : 0;
        pos += snprintf(buf + pos, room - (size_t)pos, ",\"%s\":", cfg->agg_names[a]);
        if (strcmp(fn, "count") == 0) {
            pos += snprintf(buf + pos, room - (size_t)pos, "%zu", w->n);
            continue;
        }
        int sk = or_sketch(t, w, a, col, buf + pos, room - (size_t)pos);
        if (sk >= 0) {
            pos += sk;
            continue;
        }
        if (strcmp(fn, "first") == 0 || strcmp(fn, "last") == 0) {
            const or_num *x = or_first_last(t, w, col, fn[0] == 'l');
            pos += or_put_num(buf + pos, room - (size_t)pos, x->is_double, x->i, x->d);
            continue;
        }
        if (strncmp(fn, "var_", 4) == 0 || strncmp(fn, "stddev_", 7) == 0) {
            int samp = strstr(fn, "_samp") != NULL;
            double v = or_variance(t, w, col, samp);
            if (fn[0] == 's')
                v = sqrt(v);
            if (isnan(v))
                pos += snprintf(buf + pos, room - (size_t)pos, "null");
            else
                pos += or_put_num(buf + pos, room - (size_t)pos, 1, 0, v);
            continue;
        }
        int any_double = 0;
        int64_t isum = 0, imin = INT64_MAX, imax = INT64_MIN;
        double dsum = 0, dmin = 1e300, dmax = -1e300;
        for (size_t e = 0; e < w->n; e++) {
            const or_num *x = &w->vals[e * t->ncols + col];
            double d = x->is_double ? x->d : (double)x->i;
            any_double |= x->is_double;
            dsum += d;
            dmin = d < dmin ? d : dmin;
            dmax = d > dmax ? d : dmax;
            if (!x->is_double) {
                isum += x->i;
                imin = x->i < imin ? x->i : imin;
                imax = x->i > imax ? x->i : imax;
            }
        }
        char *p = buf + pos;
        size_t left = room - (size_t)pos;
        if (strcmp(fn, "sum") == 0)
            pos += or_put_num(p, left, any_double, isum, dsum);
        else if (strcmp(fn, "min") == 0)
            pos += or_put_num(p, left, any_double, imin, dmin);
        else if (strcmp(fn, "max") == 0)
            pos += or_put_num(p, left, any_double, imax, dmax);
        else /* avg */
            pos += or_put_num(p, left, 1, 0, (any_double ? dsum : (double)isum) / (double)w->n);
    }
    snprintf(buf + pos, room - (size_t)pos, "}");
}

static void or_emit(or_task *t, const or_window *w, int update)
{
    char buf[OR_RENDER_MAX];
    or_render(t, w, buf);
    or_output *o = t->out;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->results = realloc(o->results, o->cap * sizeof(*o->results));
    }
    size_t kl = strlen(w->key);
    char *key = malloc(kl + 3);
    snprintf(key, kl + 3, "{%s}", w->key);
    o->results[o->n].key = key;
    o->results[o->n].value = strdup(buf);
    o->results[o->n].update = update;
    o->results[o->n].end = w->end;
    o->n++;
    if (update)
        o->updates++;
    else
        o->fired++;
}

/* Records w's result as final: w is forgotten (past lateness, or closed)
 * without having been merged into another session. */
static void or_final(or_task *t, const or_window *w)
{
    char buf[OR_RENDER_MAX];
    or_render(t, w, buf);
    or_output *o = t->out;
    if (o->nfinals == o->finals_cap) {
        o->finals_cap = o->finals_cap ? o->finals_cap * 2 : 256;
        o->finals = realloc(o->finals, o->finals_cap * sizeof(*o->finals));
    }
    size_t kl = strlen(w->key) + 48;
    char *key = malloc(kl);
    snprintf(key, kl, "{%s%s\"window_start\":%" PRId64 "}", w->key, w->key[0] ? "," : "", w->start);
    o->finals[o->nfinals].key = key;
    o->finals[o->nfinals].value = strdup(buf);
    o->finals[o->nfinals].update = 0;
    o->finals[o->nfinals].end = w->end;
    o->nfinals++;
}

static void or_late_event(or_task *t, const or_event *e)
{
    or_output *o = t->out;
    o->late++;
    if (o->nlates == o->lates_cap) {
        o->lates_cap = o->lates_cap ? o->lates_cap * 2 : 64;
        o->lates = realloc(o->lates, o->lates_cap * sizeof(*o->lates));
    }
    o->lates[o->nlates++] = (or_late){e->offset, t->wm};
}

/* Fires every unfired window with end <= wm in (end, key) order. */
static void or_fire(or_task *t, int64_t wm)
{
    for (;;) {
        or_window *best = NULL;
        for (size_t i = 0; i < t->n; i++) {
            or_window *w = &t->w[i];
            if (!w->alive || w->fired || w->end > wm)
                continue;
            if (!best || w->end < best->end ||
                (w->end == best->end && or_keycmp(w->key, best->key) < 0))
                best = w;
        }
        if (!best)
            return;
        best->fired = 1;
        or_emit(t, best, 0);
    }
}

/* Forgets every window with end + lateness <= wm (all fired by then). */
static void or_purge(or_task *t)
{
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        or_window *w = &t->w[i];
        if (w->alive && w->fired && or_sum_le(w->end, t->cfg->lateness, t->wm)) {
            or_final(t, w);
            w->alive = 0;
            or_window_free(w);
        }
        if (w->alive)
            t->w[kept++] = *w;
    }
    t->n = kept;
}

/* Moves the watermark to wm if that raises it. */
static void or_raise(or_task *t, int64_t wm)
{
    if (wm > t->wm) {
        or_fire(t, wm);
        t->wm = wm;
        or_purge(t);
    }
}

static int64_t or_floor(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q * b;
}

/* Tumbling and hopping: every window [start, start + size) holding ts. */
static int or_fixed_event(or_task *t, const or_event *e, const or_num *vals)
{
    const or_config *c = t->cfg;
    int64_t slide = c->type == OR_TUMBLING ? c->size : c->slide;
    int64_t last = or_floor(e->ts, slide);
    int64_t first = last;
    while (first - slide > e->ts - c->size)
        first -= slide;
    int contributed = 0;
    for (int64_t start = first; start <= last; start += slide) {
        int64_t end = start + c->size;
        if (end <= e->ts)
            continue;
        int fired = end <= t->wm;
        if (fired && or_sum_le(end, c->lateness, t->wm))
            continue; /* past lateness for this window */
        or_window *w = or_find(t, e->key, start, end);
        if (!w) {
            w = or_new_window(t, e->key, start, end);
            w->fired = fired;
        }
        or_add(t, w, vals, e->ts, e->offset);
        contributed = 1;
        if (fired)
            or_emit(t, w, 1);
    }
    return contributed;
}

/* Sessions [a,b) and [c,d) merge when they overlap or touch (Flink's
 * rule: events exactly `gap` apart are one session). */
static int or_session_joins(int64_t a, int64_t b, int64_t c, int64_t d)
{
    return a <= d && c <= b;
}

static int or_session_event(or_task *t, const or_event *e, const or_num *vals)
{
    const or_config *c = t->cfg;
    if (or_sum_le(e->ts + c->gap, c->lateness, t->wm))
        return 0;
    int64_t start = e->ts, end = e->ts + c->gap;
    or_window *merged = or_new_window(t, e->key, start, end);
    or_add(t, merged, vals, e->ts, e->offset);
    int again = 1;
    while (again) {
        again = 0;
        for (size_t i = 0; i < t->n; i++) {
            or_window *w = &t->w[i];
            if (w == merged || !w->alive || strcmp(w->key, e->key) != 0)
                continue;
            if (!or_session_joins(w->start, w->end, merged->start, merged->end))
                continue;
            if (w->start < merged->start)
                merged->start = w->start;
            if (w->end > merged->end)
                merged->end = w->end;
            for (size_t k = 0; k < w->n; k++)
                or_add(t, merged, &w->vals[k * t->ncols], w->ts[k], w->off[k]);
            w->alive = 0;
            or_window_free(w);
            again = 1;
        }
    }
    if (merged->end <= t->wm) {
        merged->fired = 1;
        or_emit(t, merged, 1);
    }
    return 1;
}

/* Judges e against the watermark and adds it to its windows; a late event
 * is counted and reported. The watermark does not move. */
static void or_judge(or_task *t, const or_event *e)
{
    or_num vals[64];
    or_event_vals(t, e, vals);
    t->out->events++;
    if (e->ts > t->max_ts)
        t->max_ts = e->ts;
    int ok = t->cfg->type == OR_SESSION ? or_session_event(t, e, vals) : or_fixed_event(t, e, vals);
    if (!ok)
        or_late_event(t, e);
}

or_task *oracle_task_new(const or_config *cfg, or_output *out)
{
    or_task *t = calloc(1, sizeof(*t));
    t->cfg = cfg;
    t->out = out;
    t->wm = INT64_MIN;
    t->max_ts = INT64_MIN;
    t->ncols = 1;
    for (size_t a = 0; cfg->agg_cols && a < cfg->naggs; a++)
        if (cfg->agg_cols[a] >= 0 && (size_t)cfg->agg_cols[a] + 1 > t->ncols)
            t->ncols = (size_t)cfg->agg_cols[a] + 1;
    if (t->ncols > 64)
        abort(); /* or_judge's buffer */
    return t;
}

void oracle_task_event(or_task *t, const or_event *e)
{
    or_judge(t, e);
    or_raise(t, or_sub(e->ts, t->cfg->ooo));
}

void oracle_task_advance(or_task *t, int64_t wm_new)
{
    or_raise(t, wm_new);
}

void oracle_task_close(or_task *t)
{
    or_fire(t, INT64_MAX);
    t->wm = INT64_MAX;
    for (size_t i = 0; i < t->n; i++) {
        if (t->w[i].alive)
            or_final(t, &t->w[i]);
        or_window_free(&t->w[i]);
    }
    t->n = 0;
}

int64_t oracle_task_watermark(const or_task *t)
{
    return t->wm;
}

int64_t oracle_task_max_ts(const or_task *t)
{
    return t->max_ts;
}

void oracle_task_free(or_task *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        or_window_free(&t->w[i]);
    free(t->w);
    free(t);
}

void oracle_run(const or_config *cfg, const or_event *events, size_t n, or_output *out)
{
    or_task *t = oracle_task_new(cfg, out);
    for (size_t i = 0; i < n; i++)
        oracle_task_event(t, &events[i]);
    oracle_task_close(t);
    oracle_task_free(t);
}

void oracle_run_merged(const or_config *cfg, const or_item *items, size_t n, size_t ninputs,
                       or_output *out)
{
    or_task *t = oracle_task_new(cfg, out);
    int64_t *in_wm = malloc(ninputs * sizeof(*in_wm));
    int *in_idle = calloc(ninputs, sizeof(*in_idle));
    int *in_seen = calloc(ninputs, sizeof(*in_seen));
    for (size_t u = 0; u < ninputs; u++)
        in_wm[u] = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const or_item *it = &items[i];
        if (!it->is_wm) {
            or_judge(t, &it->ev);
            continue;
        }
        if (it->wm > in_wm[it->input])
            in_wm[it->input] = it->wm;
        in_idle[it->input] = it->idle;
        in_seen[it->input] = 1;
        int64_t min = INT64_MAX;
        int active = 0, unseen = 0;
        for (size_t u = 0; u < ninputs; u++) {
            if (!in_seen[u])
                unseen = 1;
            else if (!in_idle[u]) {
                active = 1;
                if (in_wm[u] < min)
                    min = in_wm[u];
            }
        }
        if (active && !unseen)
            or_raise(t, min);
    }
    oracle_task_close(t);
    oracle_task_free(t);
    free(in_wm);
    free(in_idle);
    free(in_seen);
}

void oracle_output_free(or_output *out)
{
    for (size_t i = 0; i < out->n; i++) {
        free(out->results[i].key);
        free(out->results[i].value);
    }
    free(out->results);
    for (size_t i = 0; i < out->nfinals; i++) {
        free(out->finals[i].key);
        free(out->finals[i].value);
    }
    free(out->finals);
    free(out->lates);
    memset(out, 0, sizeof(*out));
}

/* Numbers a (engine) and b (oracle) within relative rel. */
static int or_close(json_t *a, json_t *b, double rel)
{
    if (json_is_null(a) || json_is_null(b))
        return json_is_null(a) && json_is_null(b);
    if (!json_is_number(a) || !json_is_number(b))
        return 0;
    double x = json_number_value(a), y = json_number_value(b);
    return fabs(x - y) <= (rel + 1e-9) * fabs(y) + 1e-12;
}

int oracle_same_result(const char *got, const char *want, const char *const *approx, double rel)
{
    if (strcmp(got, want) == 0)
        return 1;
    json_t *x = json_loads(got, 0, NULL), *y = json_loads(want, 0, NULL);
    int ok = x && y && json_is_object(x) && json_is_object(y) &&
             json_object_size(x) == json_object_size(y);
    const char *k;
    json_t *v;
    if (ok)
        json_object_foreach(x, k, v)
        {
            json_t *u = json_object_get(y, k);
            int is_approx = 0;
            for (size_t i = 0; approx && approx[i]; i++)
                is_approx |= strcmp(approx[i], k) == 0;
            if (!u) {
                ok = 0;
            } else if (!is_approx) {
                ok &= json_equal(v, u);
            } else if (json_is_array(v) && json_is_array(u) &&
                       json_array_size(v) == json_array_size(u)) {
                for (size_t i = 0; i < json_array_size(v); i++)
                    ok &= or_close(json_array_get(v, i), json_array_get(u, i), rel);
            } else {
                ok &= or_close(v, u, rel);
            }
        }
    json_decref(x);
    json_decref(y);
    return ok;
}
