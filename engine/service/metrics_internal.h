/*
 * metrics_internal.h - the registry's structures, shared by metrics.c
 * (registry) and metrics_render.c (Prometheus text). See the design notes
 * in metrics.c.
 */
#ifndef SL_METRICS_INTERNAL_H
#define SL_METRICS_INTERNAL_H

#include "metrics.h"

#include <pthread.h>
#include <stdint.h>

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

/* Whether a series is rendered, and its value: *kind 0 = exact unsigned in
 * *uval (counters), 1 = exact signed in *ival (gauges), 2 = *dval (a
 * callback contributes). Mutex held. */
int sl__series_value(const sl__series *s, int64_t *ival, uint64_t *uval, double *dval, int *kind);
/* The double whose bits are u (histogram sums are stored as bits). */
double sl__bits_double(uint64_t u);

#endif
