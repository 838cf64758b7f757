/*
 * bench_sketch.c - the sketch aggregates in a window task on one thread.
 *
 * For each aggregate (sum as the baseline, count_distinct,
 * approx_count_distinct, approx_percentile with 3 quantiles, top_k with
 * k = 10): a tumbling window of 1000 keys x SL_BENCH_SKETCH_PER_KEY events
 * (default 1000) per window, SL_BENCH_SKETCH_WINDOWS windows (default 4),
 * fed in batches of 4096 through sl_window_task_process. Values: 64-bit
 * hashes of ~1000 distinct values per key and window (count_distinct,
 * HyperLogLog: beyond its exact sparse form), log-normal latencies
 * (percentiles), pages with a skewed distribution over 1000 (top_k).
 * Prints updates/s (best of SL_BENCH_REPEAT runs, default 3) and the state
 * bytes per (key, window) just before a window fires (task state bytes /
 * keys). Exit status is non-zero if a run emits the wrong number of results.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate.h"
#include "window.h"

#define NKEYS 1000
#define BATCH 4096

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *e = getenv(name);
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == '\0' && v >= 1)
            return (uint64_t)v;
    }
    return dflt;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct sink {
    uint64_t results;
} sink;

static void on_result(void *ctx, const char *key, size_t klen, const char *value, size_t vlen,
                      int64_t ts, int update)
{
    (void)key, (void)klen, (void)value, (void)vlen, (void)ts, (void)update;
    ((sink *)ctx)->results++;
}

static char keys[NKEYS][16];
static uint64_t key_hash[NKEYS];
static char pages[1000][16];

/* Batches of the whole stream: event i has key i % NKEYS, time i / rate. */
static sl_batch **make_batches(uint64_t n, uint64_t per_ms, size_t *nb)
{
    *nb = (size_t)((n + BATCH - 1) / BATCH);
    sl_batch **bs = calloc(*nb, sizeof(*bs));
    for (size_t k = 0; k < *nb; k++) {
        sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, BATCH, 3);
        for (uint32_t r = 0; r < BATCH && (uint64_t)k * BATCH + r < n; r++) {
            uint64_t i = (uint64_t)k * BATCH + r;
            uint32_t key = (uint32_t)(i % NKEYS), kl = (uint32_t)strlen(keys[key]);
            b->ts[r] = (int64_t)(i / per_ms);
            b->offset[r] = (int64_t)i;
            b->key_hash[r] = key_hash[key];
            b->key_off[r] = sl_batch_put_bytes(b, keys[key], kl);
            b->key_len[r] = kl;
            /* 0: hash of ~1000 distinct values per key; 1: latency; 2: page */
            *sl_batch_val(b, 0, r) = (sl_num){.v.i = (int64_t)rnd()};
            double u = (double)(rnd() >> 11) / 9007199254740992.0;
            *sl_batch_val(b, 1, r) = (sl_num){
                .v.d = exp(3 + 1.5 * sqrt(-2 * log(u + 1e-300)) * cos(6.283 * u)), .is_double = 1};
            size_t pg = (size_t)(1000 * u * u * u);
            size_t pl = strlen(pages[pg]);
            uint32_t off = sl_batch_put_bytes(b, pages[pg], pl);
            *sl_batch_val(b, 2, r) = (sl_num){.v.i = (int64_t)(((uint64_t)off << 32) | pl)};
            b->count = r + 1;
        }
        bs[k] = b;
    }
    return bs;
}

int main(void)
{
    uint64_t per_key = env_u64("SL_BENCH_SKETCH_PER_KEY", 1000);
    uint64_t windows = env_u64("SL_BENCH_SKETCH_WINDOWS", 4);
    int repeat = (int)env_u64("SL_BENCH_REPEAT", 3);
    for (int k = 0; k < NKEYS; k++) {
        snprintf(keys[k], sizeof(keys[k]), "\"k\":%d", k);
        key_hash[k] = sl_hash64(keys[k], strlen(keys[k]));
    }
    for (int p = 0; p < 1000; p++)
        snprintf(pages[p], sizeof(pages[p]), "\"/p/%d\"", p);
    /* window of 1000 ms holding NKEYS * per_key events */
    uint64_t per_ms = NKEYS * per_key / 1000, n = NKEYS * per_key * windows;
    if (per_ms < 1)
        per_ms = 1;
    size_t nb;
    sl_batch **bs = make_batches(n, per_ms, &nb);

    double qs[] = {0.5, 0.9, 0.99};
    static const struct {
        const char *name;
        sl_agg_fn fn;
        int col;
        sl_agg_params pa;
    } cases[] = {
        {"sum (baseline)", SL_AGG_SUM, 1, {0}},
        {"count_distinct", SL_AGG_COUNT_DISTINCT, 0, {0}},
        {"approx_count_distinct", SL_AGG_APPROX_COUNT_DISTINCT, 0, {0}},
        {"approx_percentile q=[.5,.9,.99]", SL_AGG_APPROX_PERCENTILE, 1, {0}},
        {"top_k k=10", SL_AGG_TOP_K, 2, {.k = 10}},
    };
    int bad = 0;
    printf("%u keys x %llu events per key and window, %llu windows, %llu events\n", NKEYS,
           (unsigned long long)per_key, (unsigned long long)windows, (unsigned long long)n);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        sl_agg_def aggs[1] = {{.name = (char *)"x", .fn = cases[c].fn, .column = cases[c].col}};
        sl_agg_params pa[1] = {cases[c].pa};
        if (cases[c].fn == SL_AGG_APPROX_PERCENTILE)
            pa[0] = (sl_agg_params){.q = qs, .nq = 3, .q_list = 1};
        sl_window_def def = {
            .type = SL_WIN_TUMBLING, .size_ms = 1000, .aggs = aggs, .naggs = 1, .agg_params = pa};
        sl_watermark_def wm = {0};
        double best = 0;
        size_t peak = 0;
        for (int rep = 0; rep < repeat; rep++) {
            sl_window_task *t = sl_window_task_new(&def, &wm);
            sink s = {0};
            sl_emitter em = {.ctx = &s, .result = on_result};
            double t0 = now_s();
            for (size_t k = 0; k < nb; k++) {
                if (rep == 0) { /* the state just before a window fires */
                    size_t sb = sl_window_task_state_bytes(t);
                    if (sb > peak)
                        peak = sb;
                }
                sl_window_task_process(t, bs[k], &em);
            }
            sl_window_task_close(t, &em);
            double dt = now_s() - t0;
            if (s.results != NKEYS * windows) {
                fprintf(stderr, "bench_sketch: %s: %llu results, %llu expected\n", cases[c].name,
                        (unsigned long long)s.results, (unsigned long long)NKEYS * windows);
                bad = 1;
            }
            if ((double)n / dt > best)
                best = (double)n / dt;
            sl_window_task_free(t);
        }
        printf("%-34s %7.2f M updates/s   %8.0f state bytes per (key, window)\n", cases[c].name,
               best / 1e6, (double)peak / NKEYS);
    }
    for (size_t k = 0; k < nb; k++)
        sl_batch_free(bs[k]);
    free(bs);
    return bad;
}
