/*
 * test_metrics.c - the metrics registry: exact rendering, escaping, strict
 * format validity, counters surviving released cells, callbacks,
 * histograms against an oracle, randomized series against an oracle, and
 * concurrent lock-free updates while scraping (run under TSan too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "metrics.h"
#include "prom_check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(sl_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(sl_metrics_render(m, &text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    char err[256];
    if (prom_parse(text, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("invalid exposition: %s\n%s", err, text);
    return text;
}

static void test_render_exact(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const lp[] = {"source", "partition"};
    sl_metric *in =
        sl_metrics_counter(m, "sluice_events_in_total", "Events read.", lp, 2, err, sizeof(err));
    assert_non_null(in);
    sl_metric *tasks = sl_metrics_gauge(m, "t_gauge", "A gauge.", NULL, 0, err, sizeof(err));
    assert_non_null(tasks);
    const double b[] = {0.1, 1, 2.5};
    sl_metric *h =
        sl_metrics_histogram(m, "t_seconds", "Durations.", NULL, 0, b, 3, err, sizeof(err));
    assert_non_null(h);

    const char *const v0[] = {"orders", "0"};
    const char *const v1[] = {"orders", "1"};
    sl_cell *c0 = sl_metric_cell(in, v0, 2);
    sl_cell *c1 = sl_metric_cell(in, v1, 2);
    sl_cell *c0b = sl_metric_cell(in, v0, 2); /* a second thread's cell, same series */
    assert_non_null(c0);
    assert_ptr_not_equal(c0, c0b);
    assert_int_equal((uintptr_t)c0 % SL_CACHE_LINE, 0);
    sl_cell_add(c0, 5);
    sl_cell_add(c0, 7);
    sl_cell_set(c0b, 100);
    sl_cell_add(c1, 1);
    sl_cell *g = sl_metric_cell(tasks, NULL, 0);
    sl_cell_set_i64(g, -3);
    sl_hist *hh = sl_metric_hist(h, NULL, 0);
    assert_ptr_equal(hh, sl_metric_hist(h, NULL, 0));
    sl_hist_observe(hh, 0.05);
    sl_hist_observe(hh, 0.1); /* le is inclusive */
    sl_hist_observe(hh, 2);
    sl_hist_observe(hh, 7);

    char *text = render(m);
    const char *want = "# HELP sluice_events_in_total Events read.\n"
                       "# TYPE sluice_events_in_total counter\n"
                       "sluice_events_in_total{source=\"orders\",partition=\"0\"} 112\n"
                       "sluice_events_in_total{source=\"orders\",partition=\"1\"} 1\n"
                       "# HELP t_gauge A gauge.\n"
                       "# TYPE t_gauge gauge\n"
                       "t_gauge -3\n"
                       "# HELP t_seconds Durations.\n"
                       "# TYPE t_seconds histogram\n"
                       "t_seconds_bucket{le=\"0.1\"} 2\n"
                       "t_seconds_bucket{le=\"1\"} 2\n"
                       "t_seconds_bucket{le=\"2.5\"} 3\n"
                       "t_seconds_bucket{le=\"+Inf\"} 4\n"
                       "t_seconds_sum 9.15\n"
                       "t_seconds_count 4\n";
    assert_string_equal(text, want);
    free(text);

    double v;
    assert_int_equal(sl_metric_value(in, v0, 2, &v), 0);
    assert_true(v == 112);
    const char *const nope[] = {"orders", "9"};
    assert_int_equal(sl_metric_value(in, nope, 2, &v), SL_ENOTFOUND);
    sl_metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const ln[] = {"path"};
    sl_metric *f =
        sl_metrics_gauge(m, "esc", "back\\slash and\nnewline \"quoted\"", ln, 1, err, sizeof(err));
    assert_non_null(f);
    const char *const vals[] = {"a\\b\"c\nd}{,=é"};
    sl_cell_set(sl_metric_cell(f, vals, 1), 1);
    char *text = render(m);
    assert_string_equal(text, "# HELP esc back\\\\slash and\\nnewline \"quoted\"\n"
                              "# TYPE esc gauge\n"
                              "esc{path=\"a\\\\b\\\"c\\nd}{,=é\"} 1\n");
    free(text);
    sl_metrics_free(m);
}

static void test_registration_rules(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const l1[] = {"a"};
    const char *const l2[] = {"b"};
    const char *const bad[] = {"__x"};
    const char *const dup[] = {"a", "a"};
    const char *const le[] = {"le"};
    sl_metric *f = sl_metrics_counter(m, "x_total", "x", l1, 1, err, sizeof(err));
    assert_non_null(f);
    assert_ptr_equal(sl_metrics_counter(m, "x_total", "other help", l1, 1, err, sizeof(err)), f);
    assert_null(sl_metrics_gauge(m, "x_total", "x", l1, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "already registered"));
    assert_null(sl_metrics_counter(m, "x_total", "x", l2, 1, err, sizeof(err)));
    assert_null(sl_metrics_counter(m, "9abc", "x", NULL, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid metric name"));
    assert_null(sl_metrics_counter(m, "a-b", "x", NULL, 0, err, sizeof(err)));
    assert_null(sl_metrics_counter(m, "", "x", NULL, 0, err, sizeof(err)));
    assert_null(sl_metrics_counter(m, "y", "x", bad, 1, err, sizeof(err)));
    assert_null(sl_metrics_counter(m, "y", "x", dup, 2, err, sizeof(err)));
    assert_null(sl_metrics_histogram(m, "h", "x", le, 1, NULL, 0, err, sizeof(err)));
    const double nonincreasing[] = {1, 1};
    assert_null(sl_metrics_histogram(m, "h", "x", NULL, 0, nonincreasing, 2, err, sizeof(err)));
    /* wrong label count / kind */
    assert_null(sl_metric_cell(f, NULL, 0));
    assert_null(sl_metric_hist(f, l1, 1));
    const char *const nullval[] = {NULL};
    assert_null(sl_metric_cell(f, nullval, 1));
    /* a counter family with no series renders HELP and TYPE only */
    char *text = render(m);
    assert_string_equal(text, "# HELP x_total x\n# TYPE x_total counter\n");
    free(text);
    /* NULL cells are harmless no-ops */
    sl_cell_add(NULL, 1);
    sl_cell_set(NULL, 1);
    sl_cell_release(NULL);
    assert_int_equal(sl_cell_get(NULL), 0);
    sl_metrics_free(m);
    sl_metrics_free(NULL);
}

static void test_release(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const ln[] = {"task"};
    const char *const t1[] = {"1"};
    sl_metric *c = sl_metrics_counter(m, "c_total", "c", ln, 1, err, sizeof(err));
    sl_metric *g = sl_metrics_gauge(m, "g", "g", ln, 1, err, sizeof(err));
    sl_cell *a = sl_metric_cell(c, t1, 1), *b = sl_metric_cell(c, t1, 1);
    sl_cell *ga = sl_metric_cell(g, t1, 1);
    sl_cell_add(a, 10);
    sl_cell_add(b, 5);
    sl_cell_set(ga, 42);
    sl_cell_release(a);
    sl_cell_release(ga);
    char *text = render(m);
    /* counter keeps the released cell's 10; the gauge series vanishes */
    assert_string_equal(text, "# HELP c_total c\n# TYPE c_total counter\nc_total{task=\"1\"} 15\n"
                              "# HELP g g\n# TYPE g gauge\n");
    free(text);
    /* the task comes back: a new cell continues the counter */
    a = sl_metric_cell(c, t1, 1);
    sl_cell_add(a, 1);
    double v;
    assert_int_equal(sl_metric_value(c, t1, 1, &v), 0);
    assert_true(v == 16);
    sl_cell_release(b);
    sl_metrics_free(m); /* frees `a` */
}

static double cb_value(void *arg)
{
    return *(double *)arg;
}

static void test_callbacks(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const ln[] = {"ring"};
    const char *const r0[] = {"lane0->worker1"};
    sl_metric *g = sl_metrics_gauge(m, "occ", "o", ln, 1, err, sizeof(err));
    double x = 2.5, y = 4;
    assert_int_equal(sl_metric_set_fn(g, r0, 1, cb_value, &x), 0);
    assert_int_equal(sl_metric_set_fn(g, r0, 1, cb_value, &y), 0);
    sl_cell_set(sl_metric_cell(g, r0, 1), 10);
    double v;
    assert_int_equal(sl_metric_value(g, r0, 1, &v), 0);
    assert_true(v == 16.5);
    char *text = render(m);
    assert_non_null(strstr(text, "occ{ring=\"lane0->worker1\"} 16.5\n"));
    free(text);
    /* integral doubles print as integers, others in shortest round-trip form */
    x = 74600 - 14;
    text = render(m);
    assert_non_null(strstr(text, "occ{ring=\"lane0->worker1\"} 74600\n"));
    free(text);
    x = -13.75;
    text = render(m);
    assert_non_null(strstr(text, "occ{ring=\"lane0->worker1\"} 0.25\n"));
    free(text);
    x = 2.5;
    sl_metric_unset_fn(g, cb_value, &x);
    assert_int_equal(sl_metric_value(g, r0, 1, &v), 0);
    assert_true(v == 14);
    sl_metric_unset_fn(g, cb_value, &y);
    assert_int_equal(sl_metric_value(g, r0, 1, &v), 0);
    assert_true(v == 10);
    const double b[] = {1};
    sl_metric *h = sl_metrics_histogram(m, "hh", "h", NULL, 0, b, 1, err, sizeof(err));
    assert_int_equal(sl_metric_set_fn(h, NULL, 0, cb_value, &x), SL_EINVAL);
    sl_metrics_free(m);
}

/* A scaled family (cells in ms, rendered in seconds) against the exact
 * quotient, for random values of both signs. */
static void test_scale(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    static const char *const lt[] = {"task"};
    sl_metric *g = sl_metrics_gauge(m, "lag_seconds", "h", lt, 1, err, sizeof(err));
    assert_non_null(g);
    assert_int_equal(sl_metric_set_scale(g, 0), SL_EINVAL);
    assert_int_equal(sl_metric_set_scale(g, 0.001), 0);
    srand(7);
    for (int round = 0; round < 200; round++) {
        int64_t ms = (int64_t)(rand() % 2000001) - 1000000;
        const char *v[] = {"3"};
        sl_cell *c = sl_metric_cell(g, v, 1);
        assert_non_null(c);
        sl_cell_set_i64(c, ms);
        double got;
        assert_int_equal(sl_metric_value(g, v, 1, &got), 0);
        assert_true(got == (double)ms * 0.001);
        char *text = render(m);
        char want[96];
        snprintf(want, sizeof(want), "lag_seconds{task=\"3\"} ");
        const char *p = strstr(text, want);
        assert_non_null(p);
        assert_true(strtod(p + strlen(want), NULL) == (double)ms * 0.001);
        free(text);
        sl_cell_release(c);
    }
    const double b[] = {1};
    sl_metric *h = sl_metrics_histogram(m, "hh", "h", NULL, 0, b, 1, err, sizeof(err));
    assert_int_equal(sl_metric_set_scale(h, 0.5), SL_EINVAL);
    sl_metrics_free(m);
}

static void test_process_and_sluice_families(void **state)
{
    (void)state;
    char err[256];
    uint64_t rss = sl_process_rss_bytes();
    assert_true(rss > 100 * 1024);
    assert_true(rss < (uint64_t)64 << 30);
    sl_metrics *m = sl_metrics_new();
    sl_sluice_metrics a, b;
    assert_int_equal(sl_metrics_register_sluice(m, &a, err, sizeof(err)), 0);
    assert_int_equal(sl_metrics_register_sluice(m, &b, err, sizeof(err)), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    sl_hist_observe(sl_metric_hist(a.checkpoint_duration, NULL, 0), 0.3);
    char *text = render(m);
    const char *names[] = {
        "# TYPE sluice_events_in_total counter",
        "# TYPE sluice_events_out_total counter",
        "# TYPE sluice_bad_events_total counter",
        "# TYPE sluice_late_events_total counter",
        "# TYPE sluice_consumer_lag gauge",
        "# TYPE sluice_watermark_lag_seconds gauge",
        "# TYPE sluice_checkpoint_duration_seconds histogram",
        "# TYPE sluice_checkpoint_size_bytes gauge",
        "# TYPE sluice_checkpoint_failures_total counter",
        "# TYPE sluice_ring_occupancy gauge",
        "# TYPE sluice_window_state_bytes gauge",
        "# TYPE sluice_results_emitted_total counter",
        "# TYPE sluice_process_resident_memory_bytes gauge",
        "sluice_checkpoint_duration_seconds_bucket{le=\"0.25\"} 0\n",
        "sluice_checkpoint_duration_seconds_bucket{le=\"0.5\"} 1\n",
        "sluice_process_cpu_seconds_total ",
        "sluice_process_start_time_seconds ",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(names); i++)
        if (!strstr(text, names[i]))
            fail_msg("missing \"%s\" in\n%s", names[i], text);
    /* RSS is rendered once, as a plain number near the live value */
    const char *p = strstr(text, "\nsluice_process_resident_memory_bytes ");
    assert_non_null(p);
    double shown = strtod(p + strlen("\nsluice_process_resident_memory_bytes "), NULL);
    assert_true(shown > (double)rss / 2 && shown < (double)rss * 2);
    assert_null(strstr(p + 1, "\nsluice_process_resident_memory_bytes "));
    free(text);
    assert_ptr_equal(sl_metrics_default(), sl_metrics_default());
    sl_metrics_free(m);
}

/* ---- randomized series against an oracle ---------------------------- */

#define R_SERIES 40

typedef struct oracle {
    char vals[R_SERIES][2][24];
    uint64_t counter[R_SERIES];
    int64_t gauge[R_SERIES];
    int seen_c[R_SERIES], seen_g[R_SERIES];
    int mismatch;
} oracle;

static int oracle_check(const prom_sample *s, void *arg)
{
    oracle *o = arg;
    const char *a = prom_label(s, "a"), *b = prom_label(s, "b");
    if (!a || !b)
        return 0;
    for (int i = 0; i < R_SERIES; i++) {
        if (strcmp(a, o->vals[i][0]) || strcmp(b, o->vals[i][1]))
            continue;
        if (!strcmp(s->name, "r_total")) {
            o->seen_c[i]++;
            if (s->value != (double)o->counter[i])
                o->mismatch++;
        } else {
            o->seen_g[i]++;
            if (s->value != (double)o->gauge[i])
                o->mismatch++;
        }
        return 0;
    }
    o->mismatch++; /* a series the oracle does not know */
    return 0;
}

static void test_random_oracle(void **state)
{
    (void)state;
    static const char alphabet[] = "ab\\\"\n{}=, xé";
    char err[256];
    srand(12345);
    for (int round = 0; round < 20; round++) {
        sl_metrics *m = sl_metrics_new();
        const char *const ln[] = {"a", "b"};
        sl_metric *c = sl_metrics_counter(m, "r_total", "r", ln, 2, err, sizeof(err));
        sl_metric *g = sl_metrics_gauge(m, "r_gauge", "g", ln, 2, err, sizeof(err));
        static oracle o;
        memset(&o, 0, sizeof(o));
        sl_cell *cc[R_SERIES][3], *gc[R_SERIES][3];
        for (int i = 0; i < R_SERIES; i++) {
            /* distinct values: a unique prefix, then random bytes */
            for (int k = 0; k < 2; k++) {
                int n = snprintf(o.vals[i][k], sizeof(o.vals[i][k]), "%d_", i);
                int extra = rand() % 8;
                for (int j = 0; j < extra; j++)
                    o.vals[i][k][n++] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
                o.vals[i][k][n] = '\0';
            }
            const char *const v[] = {o.vals[i][0], o.vals[i][1]};
            for (int k = 0; k < 3; k++) {
                cc[i][k] = sl_metric_cell(c, v, 2);
                gc[i][k] = sl_metric_cell(g, v, 2);
            }
        }
        for (int op = 0; op < 2000; op++) {
            int i = rand() % R_SERIES, k = rand() % 3;
            uint64_t n = (uint64_t)(rand() % 1000);
            sl_cell_add(cc[i][k], n);
            o.counter[i] += n;
            int64_t before = (int64_t)sl_cell_get(gc[i][k]);
            int64_t now = (int64_t)(rand() % 2001) - 1000;
            sl_cell_set_i64(gc[i][k], now);
            o.gauge[i] += now - before;
        }
        char *text = render(m);
        assert_int_equal(prom_parse(text, oracle_check, &o, err, sizeof(err)), 0);
        assert_int_equal(o.mismatch, 0);
        for (int i = 0; i < R_SERIES; i++) {
            assert_int_equal(o.seen_c[i], 1);
            assert_int_equal(o.seen_g[i], 1);
        }
        free(text);
        sl_metrics_free(m);
    }
}

static void test_histogram_oracle(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const double b[] = {0.5, 1, 2, 4, 8};
    const char *const ln[] = {"k"};
    const char *const kv[] = {"x"};
    sl_metric *f = sl_metrics_histogram(m, "hist", "h", ln, 1, b, 5, err, sizeof(err));
    sl_hist *h = sl_metric_hist(f, kv, 1);
    uint64_t want[6] = {0};
    double sum = 0;
    srand(7);
    for (int i = 0; i < 5000; i++) {
        double v = (double)(rand() % 1200) / 100.0; /* 0 .. 11.99 */
        sl_hist_observe(h, v);
        sum += v;
        for (int j = 0; j < 5; j++)
            if (v <= b[j])
                want[j]++;
        want[5]++;
    }
    char *text = render(m);
    char line[128];
    const char *les[] = {"0.5", "1", "2", "4", "8", "+Inf"};
    for (int j = 0; j < 6; j++) {
        snprintf(line, sizeof(line), "hist_bucket{k=\"x\",le=\"%s\"} %llu\n", les[j],
                 (unsigned long long)want[j]);
        if (!strstr(text, line))
            fail_msg("missing %s in\n%s", line, text);
    }
    snprintf(line, sizeof(line), "hist_count{k=\"x\"} %llu\n", (unsigned long long)want[5]);
    assert_non_null(strstr(text, line));
    const char *s = strstr(text, "hist_sum{k=\"x\"} ");
    assert_non_null(s);
    double got = strtod(s + strlen("hist_sum{k=\"x\"} "), NULL);
    assert_true(got > sum - 1e-6 && got < sum + 1e-6);
    free(text);
    sl_metrics_free(m);
}

/* ---- concurrency: owner threads update, a scraper reads ------------- */

#define C_THREADS 4
#define C_BATCHES 200000

typedef struct cthread {
    sl_metric *fam, *gauge;
    int id;
    uint64_t total;
} cthread;

static atomic_int c_done;

static void *updater(void *arg)
{
    cthread *t = arg;
    char id[16];
    snprintf(id, sizeof(id), "%d", t->id % 2); /* two threads per series */
    const char *const v[] = {id};
    sl_cell *cell = sl_metric_cell(t->fam, v, 1);
    sl_cell *g = sl_metric_cell(t->gauge, v, 1);
    uint64_t local = 0, seed = (uint64_t)t->id * 7919 + 1;
    for (int i = 0; i < C_BATCHES; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t batch = (seed >> 33) % 1024; /* a batch's worth of events */
        local += batch;
        sl_cell_set(cell, local); /* publish the running total once per batch */
        sl_cell_set_i64(g, (int64_t)(i % 100));
        if (i % 50000 == 49999) { /* a task moves: release and re-create */
            sl_cell_release(cell);
            cell = sl_metric_cell(t->fam, v, 1);
            t->total += local;
            local = 0;
        }
    }
    t->total += local;
    sl_cell_set(cell, local);
    atomic_fetch_add(&c_done, 1);
    return NULL;
}

typedef struct mono {
    double last[2];
    int bad;
} mono;

static int mono_check(const prom_sample *s, void *arg)
{
    mono *mo = arg;
    if (strcmp(s->name, "c_events_total") != 0)
        return 0;
    int k = atoi(prom_label(s, "lane"));
    if (s->value < mo->last[k])
        mo->bad++;
    mo->last[k] = s->value;
    return 0;
}

static void test_concurrent_scrape(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const ln[] = {"lane"};
    sl_metric *fam = sl_metrics_counter(m, "c_events_total", "e", ln, 1, err, sizeof(err));
    sl_metric *gauge = sl_metrics_gauge(m, "c_gauge", "g", ln, 1, err, sizeof(err));
    pthread_t th[C_THREADS];
    cthread ct[C_THREADS];
    atomic_store(&c_done, 0);
    for (int i = 0; i < C_THREADS; i++) {
        ct[i] = (cthread){.fam = fam, .gauge = gauge, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, updater, &ct[i]), 0);
    }
    mono mo = {{0, 0}, 0};
    int scrapes = 0;
    while (atomic_load(&c_done) < C_THREADS || scrapes < 5) {
        char *text = render(m);
        assert_int_equal(prom_parse(text, mono_check, &mo, err, sizeof(err)), 0);
        free(text);
        scrapes++;
    }
    for (int i = 0; i < C_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(mo.bad, 0); /* counters never went backwards */
    for (int k = 0; k < 2; k++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", k);
        const char *const v[] = {id};
        double got;
        assert_int_equal(sl_metric_value(fam, v, 1, &got), 0);
        assert_true(got == (double)(ct[k].total + ct[k + 2].total));
    }
    sl_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_callbacks),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_process_and_sluice_families),
        cmocka_unit_test(test_random_oracle),
        cmocka_unit_test(test_histogram_oracle),
        cmocka_unit_test(test_concurrent_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
