/*
 * bench_decode.c - decode-only throughput of ~80-byte JSON events from an
 * in-memory JSON-lines buffer, one core:
 *   scan      the projection scanner (engine/ingest/json_scan.c), fields user,
 *             amount, ts
 *   simdjson  simdjson On-Demand through tests/bench/json_simd.cpp, same fields
 *             (input copied into a padded buffer, as a Kafka payload must be)
 *   jansson   json_loadb + json_object_get of the same fields (baseline)
 *   ingest    sl_ingest_decode + sl_ingest_append: everything the source
 *             thread does per event for key_by(user) -> window(count,
 *             sum/max amount): scan, key bytes, hash, event time, columns
 * Prints events/s, MB/s and the ratio to jansson for each. Rates use the
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID), best of 3 runs, so that a
 * busy shared machine distorts them less than wall time would.
 *
 *   bench_decode [events]     (default 2,000,000)
 */
#include "ingest.h"
#include "json_simd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct lines {
    char *buf;
    size_t len;
    uint32_t *off, *llen;
    size_t n;
} lines;

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void make_lines(lines *L, size_t n)
{
    static const char *regions[] = {"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"};
    L->buf = malloc(n * 128);
    L->off = malloc(n * sizeof(*L->off));
    L->llen = malloc(n * sizeof(*L->llen));
    L->n = n;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(L->buf + at, 128,
                           "{\"user\":\"u%u\",\"amount\":%u,\"ts\":%llu,\"region\":\"%s\","
                           "\"item\":\"sku-%05u\"}\n",
                           (unsigned)(rnd() % 10000), (unsigned)(rnd() % 1000),
                           (unsigned long long)(1700000000000ULL + i * 3 + rnd() % 50),
                           regions[rnd() % 4], (unsigned)(rnd() % 100000));
        L->off[i] = (uint32_t)at;
        L->llen[i] = (uint32_t)len - 1;
        at += (size_t)len;
    }
    L->len = at;
}

/* CPU time of this thread, ns. */
static int64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

typedef struct result {
    const char *name;
    double eps, mbps;
    uint64_t check;
} result;

static result report(const char *name, const lines *L, int64_t ns, uint64_t check)
{
    result r = {name, (double)L->n * 1e9 / (double)ns, (double)L->len * 1e3 / (double)ns, check};
    return r;
}

static result run_scan(const lines *L)
{
    const char *names[] = {"user", "amount", "ts"};
    sl_json_fields *f = sl_json_fields_new(names, 3);
    sl_json_val v[3];
    uint64_t check = 0;
    int64_t t0 = cpu_ns();
    for (size_t i = 0; i < L->n; i++) {
        if (sl_json_scan(f, L->buf + L->off[i], L->llen[i], v) != 0)
            abort();
        check += (uint64_t)v[1].i + (uint64_t)v[2].i + v[0].len;
    }
    int64_t ns = cpu_ns() - t0;
    sl_json_fields_free(f);
    return report("scan", L, ns, check);
}

static result run_simd(const lines *L)
{
    const char *names[] = {"user", "amount", "ts"};
    sl_simd_scanner *s = sl_simd_scanner_new(names, 3);
    result r = {"simdjson", 0, 0, 0};
    if (!s)
        return r; /* no AVX2 */
    sl_json_val v[3];
    uint64_t check = 0;
    int64_t t0 = cpu_ns();
    for (size_t i = 0; i < L->n; i++) {
        if (sl_simd_scan(s, L->buf + L->off[i], L->llen[i], v) != 0)
            abort();
        check += (uint64_t)v[1].i + (uint64_t)v[2].i + v[0].len;
    }
    int64_t ns = cpu_ns() - t0;
    sl_simd_scanner_free(s);
    return report("simdjson", L, ns, check);
}

static result run_jansson(const lines *L, size_t n)
{
    uint64_t check = 0;
    json_error_t err;
    int64_t t0 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loadb(L->buf + L->off[i], L->llen[i], 0, &err);
        if (!o)
            abort();
        check += (uint64_t)json_integer_value(json_object_get(o, "amount")) +
                 (uint64_t)json_integer_value(json_object_get(o, "ts")) +
                 json_string_length(json_object_get(o, "user"));
        json_decref(o);
    }
    int64_t ns = cpu_ns() - t0;
    lines sub = *L;
    sub.n = n;
    sub.len = (size_t)L->off[n - 1] + L->llen[n - 1] + 1;
    return report("jansson", &sub, ns, check);
}

static result run_ingest(const lines *L)
{
    /* key_by(user) -> tumbling 1s count, sum(amount), max(amount) */
    static char *key_fields[] = {"user"};
    static char *columns[] = {"amount"};
    static sl_agg_def aggs[] = {
        {.name = "orders", .fn = SL_AGG_COUNT, .column = -1},
        {.name = "total", .fn = SL_AGG_SUM, .field = "amount", .column = 0},
        {.name = "biggest", .fn = SL_AGG_MAX, .field = "amount", .column = 0}};
    sl_stage stages[2];
    memset(stages, 0, sizeof(stages));
    stages[0].kind = SL_STAGE_KEY_BY;
    stages[0].path = "pipeline[0]";
    stages[0].u.key_by.fields = key_fields;
    stages[0].u.key_by.nfields = 1;
    stages[1].kind = SL_STAGE_WINDOW;
    stages[1].path = "pipeline[1]";
    stages[1].u.window.type = SL_WIN_TUMBLING;
    stages[1].u.window.size_ms = 1000;
    stages[1].u.window.aggs = aggs;
    stages[1].u.window.naggs = 3;
    stages[1].u.window.ncolumns = 1;
    stages[1].u.window.columns = columns;
    sl_def def;
    memset(&def, 0, sizeof(def));
    def.event_time.field = "ts";
    def.event_time.unit = SL_TIME_MS;
    def.watermark.max_future_ms = -1;
    def.stages = stages;
    def.nstages = 2;
    def.key_by = &stages[0];
    def.window = &stages[1].u.window;

    char err[256];
    sl_ingest *ing = sl_ingest_new(&def, SL_INGEST_RAW, err, sizeof(err));
    if (!ing) {
        fprintf(stderr, "ingest: %s\n", err);
        exit(1);
    }
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 1024, 1);
    uint64_t check = 0;
    int64_t t0 = cpu_ns();
    for (size_t i = 0; i < L->n; i++) {
        sl_bad_reason why;
        if (sl_ingest_decode(ing, L->buf + L->off[i], L->llen[i], -1, &why) != SL_DECODE_OK)
            abort();
        check += sl_ingest_key_hash(ing);
        if (b->count == b->capacity) {
            check += (uint64_t)b->vals[b->count - 1].v.i;
            sl_batch_reset(b);
        }
        sl_ingest_append(ing, b, (int64_t)i);
    }
    int64_t ns = cpu_ns() - t0;
    sl_batch_free(b);
    sl_ingest_free(ing);
    return report("ingest", L, ns, check);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 2000000;
    if (n < 1000)
        n = 1000;
    lines L;
    make_lines(&L, n);
    printf("bench_decode: %zu events, %.1f bytes/event avg, one thread\n", n,
           (double)(L.len - n) / (double)n);
    result r[4] = {
        {"jansson", 0, 0, 0}, {"scan", 0, 0, 0}, {"simdjson", 0, 0, 0}, {"ingest", 0, 0, 0}};
    for (int rep = 0; rep < 3; rep++) {
        result x[4];
        x[0] = run_jansson(&L, n / 4); /* jansson is slow: a quarter is plenty */
        x[1] = run_scan(&L);
        x[2] = run_simd(&L);
        x[3] = run_ingest(&L);
        for (int i = 0; i < 4; i++)
            if (x[i].eps > r[i].eps)
                r[i] = x[i];
    }
    for (int i = 0; i < 4; i++) {
        if (r[i].eps == 0) {
            printf("  %-9s  (not available on this CPU)\n", r[i].name);
            continue;
        }
        printf("  %-9s %7.2f M events/s %8.1f MB/s   x%.1f vs jansson\n", r[i].name, r[i].eps / 1e6,
               r[i].mbps, r[i].eps / r[0].eps);
    }
    printf("  scan / simdjson: x%.2f\n", r[2].eps > 0 ? r[1].eps / r[2].eps : 0.0);
    if (r[1].check != r[2].check && r[2].eps > 0) {
        fprintf(stderr, "scan and simdjson disagree\n");
        return 1;
    }
    free(L.buf);
    free(L.off);
    free(L.llen);
    return 0;
}
