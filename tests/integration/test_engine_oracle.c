/*
 * test_engine_oracle.c - the whole engine (file source -> decode -> key_by ->
 * window on worker threads -> sink) against the brute-force oracle in
 * tests/lib/oracle.c, on seeded random streams with bounded disorder, late
 * events and bad lines, for tumbling, hopping and session windows, 1..4
 * workers and batch sizes 1..4096. Results must be identical per task, in
 * sequence order, whatever the worker count or batch size. With stages
 * after the window (a HAVING-like filter, a map dropping and renaming
 * result fields) the oracle's results are filtered and rewritten here, by
 * jansson, independently of the engine's operators.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connector.h"
#include "definition.h"
#include "engine.h"
#include "log.h"
#include "oracle.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTASKS 4

/* ---- a sink that keeps every result in memory ---------------------------- */

typedef struct cap_row {
    int32_t task;
    int64_t seq;
    char *key, *value;
} cap_row;

static cap_row *cap_rows;
static size_t cap_n, cap_cap;

static int cap_create(const sl_connector_def *c, const sl_def *d, void **st, char *e, size_t es)
{
    (void)c, (void)d, (void)e, (void)es;
    *st = NULL;
    return SL_OK;
}

static int cap_write(void *st, const sl_batch *b)
{
    (void)st;
    for (uint32_t i = 0; i < b->count; i++) {
        if (cap_n == cap_cap) {
            cap_cap = cap_cap ? cap_cap * 2 : 1024;
            cap_rows = realloc(cap_rows, cap_cap * sizeof(*cap_rows));
        }
        uint32_t kl, vl;
        const char *k = sl_batch_key(b, i, &kl);
        const char *v = sl_batch_row(b, i, &vl);
        cap_rows[cap_n].task = (int32_t)b->key_hash[i];
        cap_rows[cap_n].seq = b->offset[i];
        cap_rows[cap_n].key = strndup(k, kl);
        cap_rows[cap_n].value = strndup(v, vl);
        cap_n++;
    }
    return SL_OK;
}

static int cap_flush(void *st, int t)
{
    (void)st, (void)t;
    return SL_OK;
}

static void cap_destroy(void *st)
{
    (void)st;
}

static const sl_sink_ops cap_sink = {.name = "capture",
                                     .create = cap_create,
                                     .write = cap_write,
                                     .flush = cap_flush,
                                     .destroy = cap_destroy};

static void cap_reset(void)
{
    for (size_t i = 0; i < cap_n; i++) {
        free(cap_rows[i].key);
        free(cap_rows[i].value);
    }
    cap_n = 0;
}

static int cap_cmp(const void *a, const void *b)
{
    const cap_row *x = a, *y = b;
    if (x->task != y->task)
        return x->task < y->task ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- random input --------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct stream {
    or_event *events; /* good events, file order */
    or_num *cols;     /* with_price: amount and price of each good event */
    int32_t *task;
    char **keys;
    size_t n;
    uint64_t bad_malformed, bad_missing_key, bad_missing_time, bad_wrong_type;
} stream;

/* Events also carry "price": amount + 0.5 (a double) when set. */
static int with_price;
/* Events also carry "page" (strings, some escaped, integers, null or
 * missing) and "lat" (a double, or missing) when set. */
static int with_page;

/* page values as written in the input, and their canonical text */
static const char *const page_in[] = {"\"home\"", "\"h\\u006fme\"", "\"cart\"", "\"a\\\"b\"", "3",
                                      "3.0",      "\"p6\"",         "\"p7\"",   "null"};
static const char *const page_text[] = {"\"home\"", "\"home\"", "\"cart\"", "\"a\\\"b\"", "3",
                                        "3",        "\"p6\"",   "\"p7\"",   NULL};

static const char *const agg_names[] = {"orders", "total", "biggest", "smallest", "mean"};
static const char *const agg_fns[] = {"count", "sum", "max", "min", "avg"};

/* Writes a JSON-lines file with n good events (and some bad lines). */
static void make_stream(const char *path, uint64_t seed, size_t n, int nkeys, stream *s)
{
    rng_state = seed * 2654435761u + 1;
    memset(s, 0, sizeof(*s));
    s->events = calloc(n, sizeof(*s->events));
    s->cols = calloc(4 * n, sizeof(*s->cols));
    int64_t line = 0; /* the file source's offset: line number, from 1 */
    s->task = calloc(n, sizeof(*s->task));
    s->keys = calloc((size_t)nkeys, sizeof(char *));
    for (int k = 0; k < nkeys; k++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "\"user\":\"u%d\"", k);
        s->keys[k] = strdup(buf);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    int64_t base = 1700000000000;
    for (size_t i = 0; i < n; i++) {
        /* event time advances ~3 ms per event with disorder up to 400 ms and
         * a few events far in the past (late) */
        int64_t ts = base + (int64_t)i * 3 - (int64_t)(rnd() % 400);
        if (rnd() % 50 == 0)
            ts -= 1500 + (int64_t)(rnd() % 3000);
        int k = (int)(rnd() % (uint64_t)nkeys);
        int64_t amount = (int64_t)(rnd() % 1000) - 100;
        if (rnd() % 97 == 0) {
            line++;
            switch (rnd() % 4) {
            case 0:
                fprintf(f, "{\"user\":\"u%d\",\"amount\":%" PRId64 ",\"ts\":\n", k, amount);
                s->bad_malformed++;
                break;
            case 1:
                fprintf(f, "{\"amount\":%" PRId64 ",\"ts\":%" PRId64 "}\n", amount, ts);
                s->bad_missing_key++;
                break;
            case 2:
                fprintf(f, "{\"user\":\"u%d\",\"amount\":%" PRId64 "}\n", k, amount);
                s->bad_missing_time++;
                break;
            default:
                fprintf(f, "{\"user\":\"u%d\",\"amount\":\"x\",\"ts\":%" PRId64 "}\n", k, ts);
                s->bad_wrong_type++;
                break;
            }
        }
        if (with_page) {
            size_t pg = (size_t)(rnd() % 10);
            int lat_missing = rnd() % 9 == 0;
            double lat = (double)(rnd() % 100000) / 64.0;
            or_num *c = &s->cols[4 * s->n];
            c[0] = (or_num){.i = amount};
            c[1] = (or_num){.is_double = 1, .d = (double)amount + 0.5};
            c[2] = (or_num){.text = pg < 9 ? page_text[pg] : NULL, .absent = pg >= 8};
            c[3] = (or_num){.is_double = 1, .d = lat, .absent = lat_missing};
            fprintf(f, "{\"user\":\"u%d\",\"amount\":%" PRId64 ",\"ts\":%" PRId64, k, amount, ts);
            if (pg < 9)
                fprintf(f, ",\"page\":%s", page_in[pg]);
            if (!lat_missing)
                fprintf(f, ",\"lat\":%.17g", lat);
            fprintf(f, "}\n");
        } else if (with_price)
            fprintf(f,
                    "{\"user\":\"u%d\",\"amount\":%" PRId64 ",\"price\":%.1f,\"ts\":%" PRId64 "}\n",
                    k, amount, (double)amount + 0.5, ts);
        else
            fprintf(f,
                    "{\"user\":\"u%d\",\"amount\":%" PRId64 ",\"ts\":%" PRId64 ",\"pad\":\"z\"}\n",
                    k, amount, ts);
        line++;
        if (!with_page) {
            s->cols[4 * s->n] = (or_num){.i = amount};
            s->cols[4 * s->n + 1] = (or_num){.is_double = 1, .d = (double)amount + 0.5};
        }
        s->events[s->n].cols = with_price || with_page ? &s->cols[4 * s->n] : NULL;
        s->events[s->n].offset = line;
        s->events[s->n].key = s->keys[k];
        s->events[s->n].ts = ts;
        s->events[s->n].amount = amount;
        s->task[s->n] = (int32_t)(sl_hash64(s->keys[k], strlen(s->keys[k])) % NTASKS);
        s->n++;
    }
    fclose(f);
}

static void free_stream(stream *s, int nkeys)
{
    for (int k = 0; k < nkeys; k++)
        free(s->keys[k]);
    free(s->keys);
    free(s->events);
    free(s->cols);
    free(s->task);
}

/* ---- the check ------------------------------------------------------------- */

/* Stages after the window, and what they do to the oracle's results. */
static int with_post;
#define POST_STAGES                                                                                \
    ",{\"filter\":{\"field\":\"orders\",\"op\":\">=\",\"value\":3}},"                              \
    "{\"map\":{\"drop\":[\"smallest\"],\"rename\":{\"total\":\"sum_amount\"}}}"

/* Applies POST_STAGES to one oracle result: 0 if the filter drops it, else
 * 1 with r->value rewritten. */
static int post_apply(or_result *r)
{
    json_t *o = json_loads(r->value, 0, NULL);
    assert_non_null(o);
    int keep = json_integer_value(json_object_get(o, "orders")) >= 3;
    if (keep) {
        json_t *n = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if (strcmp(k, "smallest") != 0)
                json_object_set(n, strcmp(k, "total") == 0 ? "sum_amount" : k, v);
        }
        free(r->value);
        r->value = json_dumps(n, JSON_COMPACT);
        json_decref(n);
    }
    json_decref(o);
    return keep;
}

/* Result members computed online by the engine and in long double by the
 * oracle: equal within a relative 1e-9 (NULL-terminated, or NULL). */
static const char *const *tol_keys;
/* Members compared by oracle_same_result within 1% (NULL: none). */
static const char *const *approx_keys;

static int is_tol_key(const char *k)
{
    for (size_t i = 0; tol_keys && tol_keys[i]; i++)
        if (strcmp(tol_keys[i], k) == 0)
            return 1;
    return 0;
}

/* x and y are equal objects, members of tol_keys within the tolerance. */
static int tol_equal(json_t *x, json_t *y)
{
    if (!json_is_object(x) || !json_is_object(y) || json_object_size(x) != json_object_size(y))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(x, k, v)
    {
        json_t *w = json_object_get(y, k);
        if (!w)
            return 0;
        if (is_tol_key(k) && json_is_number(v) && json_is_number(w)) {
            double a = json_number_value(v), b = json_number_value(w);
            double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
            if (fabs(a - b) > 1e-9 * scale + 1e-12)
                return 0;
        } else if (!json_equal(v, w)) {
            return 0;
        }
    }
    return 1;
}

/* Same JSON (numbers by value): the engine's map re-prints the row. */
static int same_json(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    json_t *x = json_loads(a, 0, NULL), *y = json_loads(b, 0, NULL);
    int eq = x && y && (tol_keys ? tol_equal(x, y) : json_equal(x, y));
    json_decref(x);
    json_decref(y);
    return eq;
}

static void run_case(const char *window_json, const or_config *cfg, uint64_t seed, int workers,
                     int batch)
{
    char path[] = "/tmp/sl_engine_oracle_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const int nkeys = 37;
    cap_reset(); /* a failed earlier case may have left rows */
    stream s;
    make_stream(path, seed, 6000, nkeys, &s);

    char def_text[4096];
    snprintf(
        def_text, sizeof(def_text),
        "{\"name\":\"oracle\",\"source\":{\"type\":\"file\",\"path\":\"%s\",\"format\":\"json\","
        "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
        "\"watermark\":{\"max_out_of_orderness\":%" PRId64 "}},"
        "\"pipeline\":[{\"key_by\":[\"user\"]},%s%s],"
        "\"sink\":{\"type\":\"null\"},"
        "\"runtime\":{\"workers\":%d,\"batch_size\":%d,\"ring_capacity\":4,\"tasks\":%d}}",
        path, cfg->ooo, window_json, with_post ? POST_STAGES : "", workers, batch, NTASKS);
    sl_def *def = NULL;
    char err[1024];
    int rc = sl_def_load_string(def_text, "oracle.json", &def, err, sizeof(err));
    if (rc != SL_OK)
        fail_msg("definition: %s", err);

    sl_engine_options opt = {.sink_ops = &cap_sink};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e)
        fail_msg("engine: %s", err);
    assert_int_equal(sl_engine_run(e), 0);
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    sl_engine_free(e);

    /* expected, per task */
    uint64_t late = 0;
    or_output want[NTASKS];
    for (int t = 0; t < NTASKS; t++) {
        or_event *ev = calloc(s.n, sizeof(*ev));
        size_t m = 0;
        for (size_t i = 0; i < s.n; i++)
            if (s.task[i] == t)
                ev[m++] = s.events[i];
        memset(&want[t], 0, sizeof(want[t]));
        oracle_run(cfg, ev, m, &want[t]);
        late += want[t].late;
        if (with_post) {
            size_t kept = 0;
            for (size_t i = 0; i < want[t].n; i++) {
                if (post_apply(&want[t].results[i])) {
                    want[t].results[kept++] = want[t].results[i];
                } else {
                    free(want[t].results[i].key);
                    free(want[t].results[i].value);
                }
            }
            want[t].n = kept;
        }
        free(ev);
    }

    qsort(cap_rows, cap_n, sizeof(*cap_rows), cap_cmp);
    size_t pos = 0;
    for (int t = 0; t < NTASKS; t++) {
        for (size_t i = 0; i < want[t].n; i++, pos++) {
            if (pos >= cap_n || cap_rows[pos].task != t)
                fail_msg("seed %" PRIu64 " workers %d batch %d: task %d: missing result %zu: %s",
                         seed, workers, batch, t, i, want[t].results[i].value);
            if (cap_rows[pos].seq != (int64_t)i)
                fail_msg("task %d: sequence %" PRId64 " where %zu expected", t, cap_rows[pos].seq,
                         i);
            int same = approx_keys ? oracle_same_result(cap_rows[pos].value,
                                                        want[t].results[i].value, approx_keys, 0.01)
                                   : same_json(cap_rows[pos].value, want[t].results[i].value);
            if (!same || strcmp(cap_rows[pos].key, want[t].results[i].key) != 0)
                fail_msg("seed %" PRIu64 " workers %d batch %d task %d result %zu:\n got  %s %s\n "
                         "want %s %s",
                         seed, workers, batch, t, i, cap_rows[pos].key, cap_rows[pos].value,
                         want[t].results[i].key, want[t].results[i].value);
        }
        oracle_output_free(&want[t]);
    }
    if (pos != cap_n)
        fail_msg("%zu unexpected extra results (first: task %d %s)", cap_n - pos,
                 cap_rows[pos].task, cap_rows[pos].value);
    assert_int_equal(st.late, late);
    assert_int_equal(st.results_out, cap_n);
    assert_int_equal(st.bad[SL_BAD_MALFORMED], s.bad_malformed);
    assert_int_equal(st.bad[SL_BAD_MISSING_KEY], s.bad_missing_key);
    assert_int_equal(st.bad[SL_BAD_MISSING_TIME], s.bad_missing_time);
    assert_int_equal(st.bad[SL_BAD_WRONG_TYPE], s.bad_wrong_type);
    assert_int_equal(st.events_in, s.n + s.bad_malformed + s.bad_missing_key + s.bad_missing_time +
                                       s.bad_wrong_type);
    cap_reset();
    sl_def_free(def);
    free_stream(&s, nkeys);
    unlink(path);
}

static const int worker_counts[] = {1, 2, 3, 4};
static const int batch_sizes[] = {1, 7, 256, 4096};

static void sweep(const char *window_json, const or_config *cfg)
{
    uint64_t seed = 1;
    for (size_t w = 0; w < 4; w++)
        for (size_t b = 0; b < 4; b++)
            run_case(window_json, cfg, seed++, worker_counts[w], batch_sizes[b]);
    /* and with stages after the window, 1..4 workers */
    with_post = 1;
    for (size_t w = 0; w < 4; w++)
        run_case(window_json, cfg, seed++, worker_counts[w], batch_sizes[w]);
    with_post = 0;
}

#define AGGS                                                                                       \
    "\"aggregates\":{\"orders\":{\"fn\":\"count\"},\"total\":{\"fn\":\"sum\",\"field\":"           \
    "\"amount\"},\"biggest\":{\"fn\":\"max\",\"field\":\"amount\"},\"smallest\":{\"fn\":"          \
    "\"min\",\"field\":\"amount\"},\"mean\":{\"fn\":\"avg\",\"field\":\"amount\"}}"

static void test_tumbling(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_TUMBLING,
                     .size = 1000,
                     .lateness = 500,
                     .ooo = 100,
                     .agg_names = agg_names,
                     .agg_fns = agg_fns,
                     .naggs = 5};
    sweep("{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\",\"allowed_lateness\":\"500ms\"}," AGGS
          "}",
          &cfg);
}

static void test_hopping(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_HOPPING,
                     .size = 1500,
                     .slide = 500,
                     .lateness = 300,
                     .ooo = 200,
                     .agg_names = agg_names,
                     .agg_fns = agg_fns,
                     .naggs = 5};
    sweep("{\"window\":{\"type\":\"hopping\",\"size\":\"1500ms\",\"slide\":\"500ms\","
          "\"allowed_lateness\":\"300ms\"}," AGGS "}",
          &cfg);
}

static void test_session(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_SESSION,
                     .gap = 120,
                     .lateness = 200,
                     .ooo = 150,
                     .agg_names = agg_names,
                     .agg_fns = agg_fns,
                     .naggs = 5};
    sweep(
        "{\"window\":{\"type\":\"session\",\"gap\":\"120ms\",\"allowed_lateness\":\"200ms\"}," AGGS
        "}",
        &cfg);
}

/* ---- first, last, the variances ------------------------------------------ */

#define MORE_AGGS                                                                                  \
    "\"aggregates\":{\"orders\":{\"fn\":\"count\"},"                                               \
    "\"first_amount\":{\"fn\":\"first\",\"field\":\"amount\"},"                                    \
    "\"last_amount\":{\"fn\":\"last\",\"field\":\"amount\"},"                                      \
    "\"first_price\":{\"fn\":\"first\",\"field\":\"price\"},"                                      \
    "\"last_price\":{\"fn\":\"last\",\"field\":\"price\"},"                                        \
    "\"sd_pop\":{\"fn\":\"stddev_pop\",\"field\":\"amount\"},"                                     \
    "\"sd_samp\":{\"fn\":\"stddev_samp\",\"field\":\"price\"},"                                    \
    "\"v_pop\":{\"fn\":\"var_pop\",\"field\":\"price\"},"                                          \
    "\"v_samp\":{\"fn\":\"var_samp\",\"field\":\"amount\"},"                                       \
    "\"total\":{\"fn\":\"sum\",\"field\":\"price\"}}"

static const char *const more_names[] = {"orders",     "first_amount", "last_amount", "first_price",
                                         "last_price", "sd_pop",       "sd_samp",     "v_pop",
                                         "v_samp",     "total"};
static const char *const more_fns[] = {"count",      "first",       "last",    "first",    "last",
                                       "stddev_pop", "stddev_samp", "var_pop", "var_samp", "sum"};
/* or_event.cols: 0 amount, 1 price */
static const int more_cols[] = {-1, 0, 0, 1, 1, 0, 1, 1, 0, 1};
static const char *const more_tol[] = {"sd_pop", "sd_samp", "v_pop", "v_samp", NULL};

/* Every worker count and batch size, no stages after the window. */
static void sweep_more(const char *window_json, or_config *cfg)
{
    cfg->agg_names = more_names;
    cfg->agg_fns = more_fns;
    cfg->agg_cols = more_cols;
    cfg->naggs = sizeof(more_fns) / sizeof(more_fns[0]);
    with_price = 1;
    tol_keys = more_tol;
    uint64_t seed = 101;
    for (size_t w = 0; w < 4; w++)
        for (size_t b = 0; b < 4; b++)
            run_case(window_json, cfg, seed++, worker_counts[w], batch_sizes[b]);
    with_price = 0;
    tol_keys = NULL;
}

static void test_tumbling_more(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_TUMBLING, .size = 1000, .lateness = 500, .ooo = 100};
    sweep_more("{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\",\"allowed_lateness\":"
               "\"500ms\"}," MORE_AGGS "}",
               &cfg);
}

static void test_hopping_more(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_HOPPING, .size = 1500, .slide = 500, .lateness = 300, .ooo = 200};
    sweep_more("{\"window\":{\"type\":\"hopping\",\"size\":\"1500ms\",\"slide\":\"500ms\","
               "\"allowed_lateness\":\"300ms\"}," MORE_AGGS "}",
               &cfg);
}

static void test_session_more(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_SESSION, .gap = 120, .lateness = 200, .ooo = 150};
    sweep_more("{\"window\":{\"type\":\"session\",\"gap\":\"120ms\",\"allowed_lateness\":"
               "\"200ms\"}," MORE_AGGS "}",
               &cfg);
}

/* ---- count_distinct, approx_count_distinct, percentiles, top_k ------------- */

#define SKETCH_AGGS                                                                                \
    "\"aggregates\":{\"orders\":{\"fn\":\"count\"},"                                               \
    "\"pages\":{\"fn\":\"count_distinct\",\"field\":\"page\"},"                                    \
    "\"approx_pages\":{\"fn\":\"approx_count_distinct\",\"field\":\"page\"},"                      \
    "\"top\":{\"fn\":\"top_k\",\"field\":\"page\",\"k\":8},"                                       \
    "\"lat\":{\"fn\":\"approx_percentile\",\"field\":\"lat\",\"q\":[0.5,0.9,0.99]},"               \
    "\"p90\":{\"fn\":\"approx_percentile\",\"field\":\"lat\",\"q\":0.9},"                          \
    "\"med\":{\"fn\":\"median\",\"field\":\"lat\"},"                                               \
    "\"total\":{\"fn\":\"sum\",\"field\":\"amount\"}}"

static const char *const sketch_names[] = {"orders", "pages", "approx_pages", "top",
                                           "lat",    "p90",   "med",          "total"};
static const char *const sketch_fns[] = {"count",
                                         "count_distinct",
                                         "approx_count_distinct",
                                         "top_k:8",
                                         "approx_percentile:[0.5,0.9,0.99]",
                                         "approx_percentile:0.9",
                                         "median",
                                         "sum"};
/* or_event.cols: 0 amount, 2 page, 3 lat */
static const int sketch_cols[] = {-1, 2, 2, 2, 3, 3, 3, 0};
static const char *const sketch_approx[] = {"lat", "p90", "med", NULL};

static void sweep_sketch(const char *window_json, or_config *cfg)
{
    cfg->agg_names = sketch_names;
    cfg->agg_fns = sketch_fns;
    cfg->agg_cols = sketch_cols;
    cfg->naggs = sizeof(sketch_fns) / sizeof(sketch_fns[0]);
    with_page = 1;
    approx_keys = sketch_approx;
    uint64_t seed = 201;
    for (size_t w = 0; w < 4; w++)
        for (size_t b = 0; b < 4; b += 2)
            run_case(window_json, cfg, seed++, worker_counts[w], batch_sizes[b + (w & 1)]);
    with_page = 0;
    approx_keys = NULL;
}

static void test_tumbling_sketch(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_TUMBLING, .size = 1000, .lateness = 500, .ooo = 100};
    sweep_sketch("{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\",\"allowed_lateness\":"
                 "\"500ms\"}," SKETCH_AGGS "}",
                 &cfg);
}

static void test_hopping_sketch(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_HOPPING, .size = 1500, .slide = 500, .lateness = 300, .ooo = 200};
    sweep_sketch("{\"window\":{\"type\":\"hopping\",\"size\":\"1500ms\",\"slide\":\"500ms\","
                 "\"allowed_lateness\":\"300ms\"}," SKETCH_AGGS "}",
                 &cfg);
}

static void test_session_sketch(void **state)
{
    (void)state;
    or_config cfg = {.type = OR_SESSION, .gap = 120, .lateness = 200, .ooo = 150};
    sweep_sketch("{\"window\":{\"type\":\"session\",\"gap\":\"120ms\",\"allowed_lateness\":"
                 "\"200ms\"}," SKETCH_AGGS "}",
                 &cfg);
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tumbling),        cmocka_unit_test(test_hopping),
        cmocka_unit_test(test_session),         cmocka_unit_test(test_tumbling_more),
        cmocka_unit_test(test_hopping_more),    cmocka_unit_test(test_session_more),
        cmocka_unit_test(test_tumbling_sketch), cmocka_unit_test(test_hopping_sketch),
        cmocka_unit_test(test_session_sketch),
    };
    /* SL_ORACLE_BASIC=1 (the ThreadSanitizer stage of tests/run.sh): only
     * the three basic sweeps (1..4 workers, every batch size, stages after
     * the window). The other variants run the same threads with other
     * aggregates, code of one worker thread, which the release and ASan
     * runs check. */
    const char *basic = getenv("SL_ORACLE_BASIC");
    if (basic && strcmp(basic, "1") == 0)
        return _cmocka_run_group_tests("test_engine_oracle (basic)", tests, 3, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
