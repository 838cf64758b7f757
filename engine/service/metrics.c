/*
 * metrics.c - the metrics registry: families, series, cells, histograms
 * and reading values back. Rendering: metrics_render.c; process and
 * engine families: metrics_families.c; shared structures: metrics_internal.h.
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

double sl__bits_double(uint64_t u)
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
                                                  double_bits(sl__bits_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

/* Whether a series is rendered, and its value: *kind 0 = exact unsigned in
 * *uval (counters), 1 = exact signed in *ival (gauges), 2 = *dval (a
 * callback contributes). Mutex held. */
int sl__series_value(const sl__series *s, int64_t *ival, uint64_t *uval, double *dval, int *kind)
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
    if (s && sl__series_value(s, &i, &u, &d, &kind)) {
        *value = kind == 0 ? (double)u : kind == 1 ? (double)i : d;
        rc = SL_OK;
    }
    pthread_mutex_unlock(&fam->reg->mu);
    return rc;
}
