/*
 * metrics.c - the metrics registry and its Prometheus text rendering.
 *
 * Design notes
 * ------------
 * 1. Cells are written by one thread with relaxed load+store and read by the
 *    scraper with relaxed loads. A 64-bit aligned relaxed access is never
 *    torn, so a scrape sees some value the owner stored; a series' sum is
 *    not a snapshot across cells, which Prometheus does not need.
 * 2. Everything else (the family list, each family's series, each series'
 *    cells and callbacks) changes only under the registry mutex, which the
 *    scraper also holds. No cold-path structure is ever read without it.
 * 3. A released counter cell adds its last value to series->retired before
 *    it is unlinked (under the mutex), so the rendered sum never decreases.
 * 4. A histogram observation does atomic fetch-adds on its bucket and a CAS
 *    loop on the sum's bits; the rendered _count is the sum of the buckets
 *    read, so the cumulative buckets and _count always agree.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct sl__metric_cb {
    struct sl__metric_cb *next;
    sl_metric_value_fn fn;
    void *arg;
} sl__metric_cb;

typedef struct sl__series sl__series;

/* A cell with its bookkeeping; `cell` first so a sl_cell * converts back. */
typedef struct sl__cell_node {
    sl_cell cell;
    sl__series *series;
    struct sl__cell_node *prev, *next;
} sl__cell_node;

struct sl_hist {
    sl_metric *fam;
    _Atomic uint64_t sum_bits; /* a double */
    _Atomic uint64_t *counts;  /* [nbounds + 1], non-cumulative */
};

struct sl__series {
    sl__series *next;
    sl_metric *fam;
    char *values[SL_METRIC_MAX_LABELS];
    uint64_t retired; /* released counter cells' values */
    sl__cell_node *cells;
    sl__metric_cb *cbs;
    sl_hist *hist; /* histogram families */
};

struct sl_metric {
    sl_metrics *reg;
    sl_metric *next;
    char *name;
    char *help;
    sl_metric_type type;
    char *labels[SL_METRIC_MAX_LABELS];
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    double scale; /* cells hold value / scale (0: exact integers) */
    sl__series *series, *series_last;
};

struct sl_metrics {
    pthread_mutex_t mu;
    sl_metric *first, *last;
};

/* ------------------------------------------------------------------------
 * Registry
 * ------------------------------------------------------------------------ */

sl_metrics *sl_metrics_new(void)
{
    sl_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void series_free(sl__series *s)
{
    for (sl__cell_node *c = s->cells, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (sl__metric_cb *cb = s->cbs, *n; cb; cb = n) {
        n = cb->next;
        free(cb);
    }
    if (s->hist) {
        free(s->hist->counts);
        free(s->hist);
    }
    for (size_t i = 0; i < SL_METRIC_MAX_LABELS; i++)
        free(s->values[i]);
    free(s);
}

static void family_free(sl_metric *f)
{
    for (sl__series *s = f->series, *n; s; s = n) {
        n = s->next;
        series_free(s);
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void sl_metrics_free(sl_metrics *m)
{
    if (!m)
        return;
    for (sl_metric *f = m->first, *n; f; f = n) {
        n = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static sl_metrics *g_default;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    g_default = sl_metrics_new();
    if (!g_default)
        abort();
}

sl_metrics *sl_metrics_default(void)
{
    pthread_once(&g_default_once, default_init);
    return g_default;
}

static int valid_metric_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static int valid_label_name(const char *s)
{
    if (!s || !*s || strncmp(s, "__", 2) == 0)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static int same_shape(const sl_metric *f, sl_metric_type type, const char *const *labels,
                      size_t nlabels, const double *bounds, size_t nbounds)
{
    if (f->type != type || f->nlabels != nlabels)
        return 0;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return 0;
    if (type == SL_METRIC_HISTOGRAM) {
        if (f->nbounds != nbounds)
            return 0;
        for (size_t i = 0; i < nbounds; i++)
            if (f->bounds[i] != bounds[i])
                return 0;
    }
    return 1;
}

static sl_metric *family_register(sl_metrics *m, sl_metric_type type, const char *name,
                                  const char *help, const char *const *labels, size_t nlabels,
                                  const double *bounds, size_t nbounds, char *errstr,
                                  size_t errstr_size)
{
    if (!m) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "metrics: no registry");
        return NULL;
    }
    if (!valid_metric_name(name)) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "metrics: invalid metric name \"%s\"",
                  name ? name : "(null)");
        return NULL;
    }
    if (nlabels > SL_METRIC_MAX_LABELS || (nlabels && !labels)) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "metrics: %s: too many labels (max %d)", name,
                  SL_METRIC_MAX_LABELS);
        return NULL;
    }
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_label_name(labels[i]) ||
            (type == SL_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0)) {
            sl_seterr(errstr, errstr_size, SL_EINVAL, "metrics: %s: invalid label name \"%s\"",
                      name, labels[i] ? labels[i] : "(null)");
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0) {
                sl_seterr(errstr, errstr_size, SL_EINVAL, "metrics: %s: duplicate label \"%s\"",
                          name, labels[i]);
                return NULL;
            }
    }
    if (type == SL_METRIC_HISTOGRAM) {
        if (nbounds && !bounds) {
            sl_seterr(errstr, errstr_size, SL_EINVAL, "metrics: %s: no bucket bounds", name);
            return NULL;
        }
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                sl_seterr(errstr, errstr_size, SL_EINVAL,
                          "metrics: %s: bucket bounds must be finite and increasing", name);
                return NULL;
            }
    }

    pthread_mutex_lock(&m->mu);
    for (sl_metric *f = m->first; f; f = f->next) {
        if (strcmp(f->name, name) != 0)
            continue;
        if (same_shape(f, type, labels, nlabels, bounds, nbounds)) {
            pthread_mutex_unlock(&m->mu);
            return f;
        }
        pthread_mutex_unlock(&m->mu);
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "metrics: %s already registered with another type or labels", name);
        return NULL;
    }

    sl_metric *f = calloc(1, sizeof(*f));
    int ok = f != NULL;
    if (ok) {
        f->reg = m;
        f->type = type;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        ok = f->name && f->help;
        for (size_t i = 0; ok && i < nlabels; i++) {
            f->labels[i] = strdup(labels[i]);
            ok = f->labels[i] != NULL;
            f->nlabels = i + 1;
        }
        if (ok && type == SL_METRIC_HISTOGRAM && nbounds) {
            f->bounds = malloc(nbounds * sizeof(double));
            ok = f->bounds != NULL;
            if (ok) {
                memcpy(f->bounds, bounds, nbounds * sizeof(double));
                f->nbounds = nbounds;
            }
        }
    }
    if (!ok) {
        pthread_mutex_unlock(&m->mu);
        if (f)
            family_free(f);
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "metrics: out of memory");
        return NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    pthread_mutex_unlock(&m->mu);
    return f;
}

sl_metric *sl_metrics_counter(sl_metrics *m, const char *name, const char *help,
                              const char *const *label_names, size_t nlabels, char *errstr,
                              size_t errstr_size)
{
    return family_register(m, SL_METRIC_COUNTER, name, help, label_names, nlabels, NULL, 0, errstr,
                           errstr_size);
}

sl_metric *sl_metrics_gauge(sl_metrics *m, const char *name, const char *help,
                            const char *const *label_names, size_t nlabels, char *errstr,
                            size_t errstr_size)
{
    return family_register(m, SL_METRIC_GAUGE, name, help, label_names, nlabels, NULL, 0, errstr,
                           errstr_size);
}

sl_metric *sl_metrics_histogram(sl_metrics *m, const char *name, const char *help,
                                const char *const *label_names, size_t nlabels,
                                const double *bounds, size_t nbounds, char *errstr,
                                size_t errstr_size)
{
    return family_register(m, SL_METRIC_HISTOGRAM, name, help, label_names, nlabels, bounds,
                           nbounds, errstr, errstr_size);
}

/* ------------------------------------------------------------------------
 * Series, cells, callbacks (all under the registry mutex)
 * ------------------------------------------------------------------------ */

static int values_ok(const sl_metric *f, const char *const *values, size_t nvalues)
{
    if (!f || nvalues != f->nlabels || (nvalues && !values))
        return 0;
    for (size_t i = 0; i < nvalues; i++)
        if (!values[i])
            return 0;
    return 1;
}

/* Finds the series with these values, or NULL. Mutex held. */
static sl__series *series_find(sl_metric *f, const char *const *values)
{
    for (sl__series *s = f->series; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    return NULL;
}

/* Finds or creates the series. Mutex held. NULL when out of memory. */
static sl__series *series_get(sl_metric *f, const char *const *values)
{
    sl__series *s = series_find(f, values);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->fam = f;
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(values[i]);
        if (!s->values[i]) {
            series_free(s);
            return NULL;
        }
    }
    if (f->type == SL_METRIC_HISTOGRAM) {
        s->hist = calloc(1, sizeof(*s->hist));
        if (s->hist) {
            s->hist->fam = f;
            s->hist->counts = calloc(f->nbounds + 1, sizeof(*s->hist->counts));
        }
        if (!s->hist || !s->hist->counts) {
            series_free(s);
            return NULL;
        }
    }
    if (f->series_last)
        f->series_last->next = s;
    else
        f->series = s;
    f->series_last = s;
    return s;
}

sl_cell *sl_metric_cell(sl_metric *fam, const char *const *values, size_t nvalues)
{
    if (!values_ok(fam, values, nvalues) || fam->type == SL_METRIC_HISTOGRAM)
        return NULL;
    size_t size = (sizeof(sl__cell_node) + SL_CACHE_LINE - 1) / SL_CACHE_LINE * SL_CACHE_LINE;
    sl__cell_node *c = aligned_alloc(SL_CACHE_LINE, size);
    if (!c)
        return NULL;
    memset(c, 0, size);
    atomic_init(&c->cell.value, 0);

    pthread_mutex_lock(&fam->reg->mu);
    sl__series *s = series_get(fam, values);
    if (!s) {
        pthread_mutex_unlock(&fam->reg->mu);
        free(c);
        return NULL;
    }
    c->series = s;
    c->next = s->cells;
    if (s->cells)
        s->cells->prev = c;
    s->cells = c;
    pthread_mutex_unlock(&fam->reg->mu);
    return &c->cell;
}

void sl_cell_release(sl_cell *cell)
{
    if (!cell)
        return;
    sl__cell_node *c = (sl__cell_node *)cell;
    sl__series *s = c->series;
    sl_metrics *m = s->fam->reg;
    pthread_mutex_lock(&m->mu);
    if (s->fam->type == SL_METRIC_COUNTER)
        s->retired += atomic_load_explicit(&c->cell.value, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->cells = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&m->mu);
    free(c);
}

int sl_metric_set_fn(sl_metric *fam, const char *const *values, size_t nvalues,
                     sl_metric_value_fn fn, void *arg)
{
    if (!values_ok(fam, values, nvalues) || fam->type == SL_METRIC_HISTOGRAM || !fn)
        return SL_EINVAL;
    sl__metric_cb *cb = calloc(1, sizeof(*cb));
    if (!cb)
        return SL_ENOMEM;
    cb->fn = fn;
    cb->arg = arg;
    pthread_mutex_lock(&fam->reg->mu);
    sl__series *s = series_get(fam, values);
    if (!s) {
        pthread_mutex_unlock(&fam->reg->mu);
        free(cb);
        return SL_ENOMEM;
    }
    cb->next = s->cbs;
    s->cbs = cb;
    pthread_mutex_unlock(&fam->reg->mu);
    return SL_OK;
}

int sl_metric_set_scale(sl_metric *fam, double scale)
{
    if (!fam || fam->type == SL_METRIC_HISTOGRAM || !(scale > 0))
        return SL_EINVAL;
    pthread_mutex_lock(&fam->reg->mu);
    fam->scale = scale;
    pthread_mutex_unlock(&fam->reg->mu);
    return SL_OK;
}

void sl_metric_unset_fn(sl_metric *fam, sl_metric_value_fn fn, void *arg)
{
    if (!fam)
        return;
    pthread_mutex_lock(&fam->reg->mu);
    for (sl__series *s = fam->series; s; s = s->next) {
        for (sl__metric_cb **pp = &s->cbs; *pp;) {
            sl__metric_cb *cb = *pp;
            if (cb->fn == fn && cb->arg == arg) {
                *pp = cb->next;
                free(cb);
            } else {
                pp = &cb->next;
            }
        }
    }
    pthread_mutex_unlock(&fam->reg->mu);
}

sl_hist *sl_metric_hist(sl_metric *fam, const char *const *values, size_t nvalues)
{
    if (!values_ok(fam, values, nvalues) || fam->type != SL_METRIC_HISTOGRAM)
        return NULL;
    pthread_mutex_lock(&fam->reg->mu);
    sl__series *s = series_get(fam, values);
    pthread_mutex_unlock(&fam->reg->mu);
    return s ? s->hist : NULL;
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void sl_hist_observe(sl_hist *h, double v)
{
    if (!h || isnan(v))
        return;
    const sl_metric *f = h->fam;
    size_t b = 0;
    while (b < f->nbounds && v > f->bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old,
                                                  double_bits(bits_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

/* Whether a series is rendered, and its value: *kind 0 = exact unsigned in
 * *uval (counters), 1 = exact signed in *ival (gauges), 2 = *dval (a
 * callback contributes). Mutex held. */
static int series_value(const sl__series *s, int64_t *ival, uint64_t *uval, double *dval, int *kind)
{
    const sl_metric *f = s->fam;
    int counter = f->type == SL_METRIC_COUNTER;
    if (!counter && !s->cells && !s->cbs)
        return 0;
    uint64_t sum = counter ? s->retired : 0; /* gauges: wrapping sum of int64s */
    for (const sl__cell_node *c = s->cells; c; c = c->next)
        sum += atomic_load_explicit(&c->cell.value, memory_order_relaxed);
    if (!s->cbs && f->scale != 0) {
        *dval = (counter ? (double)sum : (double)(int64_t)sum) * f->scale;
        *kind = 2;
        return 1;
    }
    if (!s->cbs) {
        if (counter)
            *uval = sum;
        else
            *ival = (int64_t)sum;
        *kind = counter ? 0 : 1;
        return 1;
    }
    double d = counter ? (double)sum : (double)(int64_t)sum;
    if (f->scale != 0)
        d *= f->scale;
    for (const sl__metric_cb *cb = s->cbs; cb; cb = cb->next)
        d += cb->fn(cb->arg);
    *dval = d;
    *kind = 2;
    return 1;
}

int sl_metric_value(sl_metric *fam, const char *const *values, size_t nvalues, double *value)
{
    if (!values_ok(fam, values, nvalues) || fam->type == SL_METRIC_HISTOGRAM)
        return SL_EINVAL;
    int rc = SL_ENOTFOUND;
    pthread_mutex_lock(&fam->reg->mu);
    const sl__series *s = series_find(fam, values);
    int64_t i;
    uint64_t u;
    double d;
    int kind;
    if (s && series_value(s, &i, &u, &d, &kind)) {
        *value = kind == 0 ? (double)u : kind == 1 ? (double)i : d;
        rc = SL_OK;
    }
    pthread_mutex_unlock(&fam->reg->mu);
    return rc;
}

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
               bits_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)));
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
            if (!series_value(s, &i, &u, &d, &kind))
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

/* ------------------------------------------------------------------------
 * Process metrics
 * ------------------------------------------------------------------------ */

uint64_t sl_process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (n != 2 || page <= 0)
        return 0;
    return (uint64_t)resident * (uint64_t)page;
}

static double rss_fn(void *arg)
{
    (void)arg;
    return (double)sl_process_rss_bytes();
}

static double cpu_fn(void *arg)
{
    (void)arg;
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Process start time in seconds since the epoch: /proc/self/stat field 22
 * (clock ticks after boot) plus /proc/stat btime; `fallback` if unreadable. */
static double process_start_time(double fallback)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return fallback;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    if (!p)
        return fallback;
    /* after ')' come fields 3.. ; starttime is field 22 */
    int field = 2;
    unsigned long long start_ticks = 0;
    for (p++; *p && field < 22; p++) {
        if (*p == ' ') {
            field++;
            if (field == 22)
                start_ticks = strtoull(p + 1, NULL, 10);
        }
    }
    if (field != 22)
        return fallback;
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return fallback;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0)
        return fallback;
    return (double)btime + (double)start_ticks / (double)hz;
}

static double start_fn(void *arg)
{
    return *(const double *)arg;
}

static double g_start_time;
static pthread_once_t g_start_once = PTHREAD_ONCE_INIT;

static void start_init(void)
{
    g_start_time = process_start_time((double)sl_wall_ms() / 1000.0);
}

int sl_metrics_add_process(sl_metrics *m)
{
    char err[256];
    sl_metric *rss = sl_metrics_gauge(m, "sluice_process_resident_memory_bytes",
                                      "Resident memory size of the process in bytes.", NULL, 0, err,
                                      sizeof(err));
    sl_metric *cpu = sl_metrics_counter(m, "sluice_process_cpu_seconds_total",
                                        "User and system CPU time of the process in seconds.", NULL,
                                        0, err, sizeof(err));
    sl_metric *start = sl_metrics_gauge(m, "sluice_process_start_time_seconds",
                                        "Start time of the process since the epoch in seconds.",
                                        NULL, 0, err, sizeof(err));
    if (!rss || !cpu || !start)
        return SL_EINVAL;
    pthread_once(&g_start_once, start_init);
    pthread_mutex_lock(&m->mu);
    int have = rss->series && rss->series->cbs;
    pthread_mutex_unlock(&m->mu);
    if (have)
        return SL_OK;
    int rc = sl_metric_set_fn(rss, NULL, 0, rss_fn, NULL);
    if (rc == SL_OK)
        rc = sl_metric_set_fn(cpu, NULL, 0, cpu_fn, NULL);
    if (rc == SL_OK)
        rc = sl_metric_set_fn(start, NULL, 0, start_fn, &g_start_time);
    return rc;
}

/* ------------------------------------------------------------------------
 * The engine's families
 * ------------------------------------------------------------------------ */

int sl_metrics_register_sluice(sl_metrics *m, sl_sluice_metrics *out, char *errstr,
                               size_t errstr_size)
{
    static const char *const source_partition[] = {"source", "topic", "partition"};
    static const char *const sink[] = {"sink"};
    static const char *const reason[] = {"reason"};
    static const char *const outcome[] = {"outcome"};
    static const char *const topic_partition[] = {"topic", "partition"};
    static const char *const task[] = {"task"};
    static const char *const ring[] = {"ring"};
    static const double ckpt_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10,  30};
    sl_sluice_metrics f;
    memset(&f, 0, sizeof(f));
    /* clang-format off */
    if (!(f.events_in = sl_metrics_counter(m, "sluice_events_in_total",
            "Events read from a source partition (before filtering).",
            source_partition, 3, errstr, errstr_size)) ||
        !(f.events_out = sl_metrics_counter(m, "sluice_events_out_total",
            "Records written to a sink.", sink, 1, errstr, errstr_size)) ||
        !(f.bad_events = sl_metrics_counter(m, "sluice_bad_events_total",
            "Input events rejected, by reason.", reason, 1, errstr, errstr_size)) ||
        !(f.late_events = sl_metrics_counter(m, "sluice_late_events_total",
            "Events behind the watermark: outcome is dropped, dead_letter or updated "
            "(within allowed lateness).", outcome, 1, errstr, errstr_size)) ||
        !(f.consumer_lag = sl_metrics_gauge(m, "sluice_consumer_lag",
            "Messages between the consumer position and the partition's high watermark.",
            topic_partition, 2, errstr, errstr_size)) ||
        !(f.watermark_lag = sl_metrics_gauge(m, "sluice_watermark_lag_seconds",
            "Wall clock minus the task's event-time watermark, in seconds.",
            task, 1, errstr, errstr_size)) ||
        !(f.checkpoint_duration = sl_metrics_histogram(m, "sluice_checkpoint_duration_seconds",
            "Time from checkpoint start until it is durable on the required replicas.",
            NULL, 0, ckpt_bounds, SL_ARRAY_LEN(ckpt_bounds), errstr, errstr_size)) ||
        !(f.checkpoint_size = sl_metrics_gauge(m, "sluice_checkpoint_size_bytes",
            "Total snapshot bytes of the last completed checkpoint.",
            NULL, 0, errstr, errstr_size)) ||
        !(f.checkpoint_failures = sl_metrics_counter(m, "sluice_checkpoint_failures_total",
            "Checkpoints that failed or timed out.", NULL, 0, errstr, errstr_size)) ||
        !(f.checkpoints = sl_metrics_counter(m, "sluice_checkpoints_total",
            "Checkpoints completed.", NULL, 0, errstr, errstr_size)) ||
        !(f.ring_occupancy = sl_metrics_gauge(m, "sluice_ring_occupancy",
            "Batches waiting in a ring.", ring, 1, errstr, errstr_size)) ||
        !(f.window_state_bytes = sl_metrics_gauge(m, "sluice_window_state_bytes",
            "Bytes of open window state held by a task.", task, 1, errstr, errstr_size)) ||
        !(f.results_emitted = sl_metrics_counter(m, "sluice_results_emitted_total",
            "Window results emitted (after replay suppression).",
            NULL, 0, errstr, errstr_size)) ||
        !(f.tasks_assigned = sl_metrics_gauge(m, "sluice_tasks_assigned",
            "Tasks (input partitions) assigned to this node.", NULL, 0, errstr, errstr_size)) ||
        !(f.replication_refused = sl_metrics_counter(m, "sluice_replication_refused_total",
            "Replication requests refused: handshake (plaintext or unknown key), origin (a key "
            "pushing for another node), malformed (bad or out-of-bounds message).",
            reason, 1, errstr, errstr_size)))
        return SL_EINVAL;
    /* clang-format on */
    sl_metric_set_scale(f.watermark_lag, 0.001); /* cells hold milliseconds */
    int rc = sl_metrics_add_process(m);
    if (rc != SL_OK)
        return sl_seterr(errstr, errstr_size, rc, "metrics: process metrics: %s", sl_err2str(rc));
    *out = f;
    return SL_OK;
}
