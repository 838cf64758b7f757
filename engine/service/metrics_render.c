/*
 * metrics_render.c - the Prometheus text exposition of a registry
 * (sl_metrics_render).
 */
#include "metrics.h"
#include "metrics_internal.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------ */

typedef struct sl__buf {
    char *p;
    size_t len, cap;
    int oom;
} sl__buf;

static void buf_reserve(sl__buf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void buf_put(sl__buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(sl__buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_printf(sl__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(sl__buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_put(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Escapes \ and newline (HELP), plus " when `quote` (label values). */
static void buf_escaped(sl__buf *b, const char *s, int quote)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            buf_put(b, "\\\\", 2);
        else if (*p == '\n')
            buf_put(b, "\\n", 2);
        else if (quote && *p == '"')
            buf_put(b, "\\\"", 2);
        else
            buf_put(b, p, 1);
    }
}

/* Integral values below 1e15 as plain integers, others as the shortest
 * text that reads back as the same double; Prometheus spellings for
 * infinities and NaN. */
static void fmt_double(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) { /* integers as integers: 74600, not 7.46e+04 */
        snprintf(out, size, "%.0f", v == 0 ? 0.0 : v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void render_labels(sl__buf *b, const sl__series *s, const char *le)
{
    const sl_metric *f = s->fam;
    if (f->nlabels == 0 && !le)
        return;
    buf_put(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            buf_put(b, ",", 1);
        buf_str(b, f->labels[i]);
        buf_put(b, "=\"", 2);
        buf_escaped(b, s->values[i], 1);
        buf_put(b, "\"", 1);
    }
    if (le) {
        if (f->nlabels)
            buf_put(b, ",", 1);
        buf_put(b, "le=\"", 4);
        buf_str(b, le);
        buf_put(b, "\"", 1);
    }
    buf_put(b, "}", 1);
}

static void render_histogram(sl__buf *b, const sl__series *s)
{
    const sl_metric *f = s->fam;
    const sl_hist *h = s->hist;
    uint64_t cum = 0;
    char num[40];
    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < f->nbounds)
            fmt_double(num, sizeof(num), f->bounds[i]);
        else
            snprintf(num, sizeof(num), "+Inf");
        buf_str(b, f->name);
        buf_str(b, "_bucket");
        render_labels(b, s, num);
        buf_printf(b, " %" PRIu64 "\n", cum);
    }
    fmt_double(num, sizeof(num),
               sl__bits_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)));
    buf_str(b, f->name);
    buf_str(b, "_sum");
    render_labels(b, s, NULL);
    buf_printf(b, " %s\n", num);
    buf_str(b, f->name);
    buf_str(b, "_count");
    render_labels(b, s, NULL);
    buf_printf(b, " %" PRIu64 "\n", cum);
}

int sl_metrics_render(sl_metrics *m, char **out, size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    sl__buf b = {0};
    buf_reserve(&b, 0);
    pthread_mutex_lock(&m->mu);
    for (const sl_metric *f = m->first; f; f = f->next) {
        buf_str(&b, "# HELP ");
        buf_str(&b, f->name);
        buf_put(&b, " ", 1);
        buf_escaped(&b, f->help, 0);
        buf_str(&b, "\n# TYPE ");
        buf_str(&b, f->name);
        buf_put(&b, " ", 1);
        buf_str(&b, type_names[f->type]);
        buf_put(&b, "\n", 1);
        for (const sl__series *s = f->series; s; s = s->next) {
            if (f->type == SL_METRIC_HISTOGRAM) {
                render_histogram(&b, s);
                continue;
            }
            int64_t i;
            uint64_t u;
            double d;
            int kind;
            if (!sl__series_value(s, &i, &u, &d, &kind))
                continue;
            buf_str(&b, f->name);
            render_labels(&b, s, NULL);
            if (kind == 0) {
                buf_printf(&b, " %" PRIu64 "\n", u);
            } else if (kind == 1) {
                buf_printf(&b, " %" PRId64 "\n", i);
            } else {
                char num[40];
                fmt_double(num, sizeof(num), d);
                buf_printf(&b, " %s\n", num);
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        free(b.p);
        return SL_ENOMEM;
    }
    *out = b.p;
    if (len)
        *len = b.len;
    return SL_OK;
}
