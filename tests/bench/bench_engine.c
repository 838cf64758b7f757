/*
 * bench_engine.c - in-memory engine throughput (the `build/bench_engine`
 * row of the benchmark table in README.md):
 * pre-built columnar batches of events over 10,000 keys -> key_by ->
 * tumbling 1 s count/sum/max -> discarding sink, with 1 and 2 workers.
 * Also a one-thread hand-written hash loop on the same events as a
 * baseline, measured in the same run.
 *
 * Usage: bench_engine [events]   (default 20,000,000)
 */
#include "connector.h"
#include "definition.h"
#include "engine.h"
#include "engine_harness.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTASKS 8
#define NKEYS  10000
#define BATCH  4096

typedef struct prebuilt {
    sl_batch **batches;
    size_t n;
} prebuilt;

static char keytext[NKEYS][24];
static uint32_t keylen[NKEYS];
static uint64_t keyhash[NKEYS];

static prebuilt build(size_t events, uint32_t ncols)
{
    prebuilt p = {0};
    size_t cap = events / BATCH + NTASKS * 2;
    p.batches = calloc(cap, sizeof(*p.batches));
    sl_batch *cur[NTASKS] = {0};
    uint64_t x = 88172645463325252ULL;
    int64_t base = 1700000000000;
    for (size_t i = 0; i < events; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % NKEYS);
        int t = (int)(keyhash[k] % NTASKS);
        if (!cur[t])
            cur[t] = sl_batch_new(SL_MSG_DATA, t, BATCH, ncols);
        sl_batch *b = cur[t];
        uint32_t r = b->count++;
        b->ts[r] = base + (int64_t)(i / 1000); /* 1 M events per second of event time */
        b->offset[r] = (int64_t)i;
        b->key_hash[r] = keyhash[k];
        b->key_off[r] = sl_batch_put_bytes(b, keytext[k], keylen[k]);
        b->key_len[r] = keylen[k];
        for (uint32_t c = 0; c < ncols; c++) {
            sl_num *v = sl_batch_val(b, c, r);
            v->v.i = (int64_t)(x >> 40) % 1000;
            v->is_double = 0;
        }
        if (b->count == BATCH) {
            p.batches[p.n++] = b;
            cur[t] = NULL;
        }
    }
    for (int t = 0; t < NTASKS; t++)
        if (cur[t])
            p.batches[p.n++] = cur[t];
    return p;
}

/* ---- a source that pushes the pre-built batches ---------------------------- */

static prebuilt *g_prebuilt;

static void bsrc_feed(sl_engine *engine, sl_lane *lane)
{
    (void)engine;
    prebuilt *p = g_prebuilt;
    for (size_t i = 0; i < p->n; i++) {
        if (sl_lane_push_batch(lane, p->batches[i]) == SL_EAGAIN)
            sl_lane_wait(lane);
        p->batches[i] = NULL;
    }
    sl_lane_control_all(lane, SL_MSG_EOS, 0);
    sl_lane_wait(lane);
}

#define DEF_FMT                                                                                    \
    "{\"name\":\"bench\",\"source\":{\"type\":\"generator\","                                      \
    "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"                                           \
    "\"watermark\":{\"max_out_of_orderness\":\"100ms\"}},"                                         \
    "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"   \
    "\"aggregates\":{\"n\":{\"fn\":\"count\"},\"total\":{\"fn\":\"sum\",\"field\":\"amount\"},"    \
    "\"top\":{\"fn\":\"max\",\"field\":\"amount\"}}}],"                                            \
    "\"sink\":{\"type\":\"null\"},\"runtime\":{\"workers\":%d,\"batch_size\":%d,\"ring_"           \
    "capacity\":64}}"

static double run_engine(int workers, size_t events, sl_engine_stats *st)
{
    char text[2048], err[1024];
    snprintf(text, sizeof(text), DEF_FMT, workers, BATCH);
    sl_def *def;
    if (sl_def_load_string(text, "bench.json", &def, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    prebuilt p = build(events, def->window->ncolumns);
    g_prebuilt = &p;
    eh_source_set(bsrc_feed, NULL);
    sl_engine_options opt = {.source_ops = &eh_script_source};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    int64_t t0 = sl_mono_ns();
    if (sl_engine_run(e) != 0) {
        fprintf(stderr, "engine failed\n");
        exit(1);
    }
    int64_t t1 = sl_mono_ns();
    sl_engine_get_stats(e, st);
    sl_engine_free(e);
    free(p.batches);
    sl_def_free(def);
    return (double)events / ((double)(t1 - t0) / 1e9);
}

/* Baseline: one thread, a hand-written open-addressing table per window. */
static double run_baseline(size_t events)
{
    prebuilt p = build(events, 1);
    typedef struct {
        uint64_t h;
        int64_t count, sum, max;
        int used;
    } slot;
    size_t cap = 32768;
    slot *table = calloc(cap, sizeof(slot));
    int64_t window = INT64_MIN;
    uint64_t out = 0;
    int64_t t0 = sl_mono_ns();
    for (size_t bi = 0; bi < p.n; bi++) {
        sl_batch *b = p.batches[bi];
        for (uint32_t i = 0; i < b->count; i++) {
            int64_t w = b->ts[i] / 1000;
            if (w != window) {
                for (size_t s = 0; s < cap; s++)
                    if (table[s].used)
                        out += (uint64_t)table[s].count;
                memset(table, 0, cap * sizeof(slot));
                window = w;
            }
            uint64_t h = b->key_hash[i];
            size_t s = h & (cap - 1);
            while (table[s].used && table[s].h != h)
                s = (s + 1) & (cap - 1);
            slot *e = &table[s];
            int64_t v = sl_batch_val(b, 0, i)->v.i;
            if (!e->used) {
                e->used = 1, e->h = h, e->max = v;
            }
            e->count++;
            e->sum += v;
            if (v > e->max)
                e->max = v;
        }
    }
    int64_t t1 = sl_mono_ns();
    for (size_t bi = 0; bi < p.n; bi++)
        sl_batch_free(p.batches[bi]);
    free(p.batches);
    free(table);
    if (out == 0)
        fprintf(stderr, "baseline: nothing counted\n");
    return (double)events / ((double)(t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
    size_t events = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 20000000;
    sl_log_set_level(SL_LOG_WARN);
    for (int k = 0; k < NKEYS; k++) {
        keylen[k] = (uint32_t)snprintf(keytext[k], sizeof(keytext[k]), "\"user\":\"u%d\"", k);
        keyhash[k] = sl_hash64(keytext[k], keylen[k]);
    }
    printf("bench_engine: %zu events, %d keys, %d tasks, batches of %d, tumbling 1s "
           "count/sum/max, discarding sink\n",
           events, NKEYS, NTASKS, BATCH);
    double base = run_baseline(events);
    printf("  baseline hand-written hash loop, 1 thread: %12.0f events/s\n", base);
    for (int w = 1; w <= 2; w++) {
        sl_engine_stats st;
        double r = run_engine(w, events, &st);
        printf("  engine, %d worker%s:                      %12.0f events/s  (%.2fx baseline; "
               "%" PRIu64 " results)\n",
               w, w > 1 ? "s" : " ", r, r / base, st.results_out);
    }
    return 0;
}
