/*
 * fuzz_window_restore.c - fuzz target for the window section of a task
 * checkpoint (sl_window_task_restore, operators/window_snapshot.c).
 *
 * Input byte 0 picks the window definition (bits 0-1: tumbling, hopping,
 * session, or tumbling with a single count; bit 3 set instead: a hopping
 * window of the sketch aggregates, count_distinct, approx_count_distinct,
 * approx_percentile, median and top_k) and whether the rest is a whole
 * snapshot (bit 2 clear) or only its payload (bit 2 set: this target adds
 * the magic, version, length and CRC32C, so mutations get past the
 * checksum into the parser). Contracts checked (abort otherwise):
 *   - refused: a non-zero code, a message, and the task left empty;
 *   - accepted: no result carries a control byte (a key from a forged
 *     snapshot must not break or inject output lines); snapshot -> restore into a fresh task ->
 * snapshot gives the same bytes again; then events at ordinary and extreme times, a watermark
 * advance to the end of time and close run without a sanitizer report, and close leaves no state
 * behind. Built with libFuzzer (SL_FUZZ) or with tests/fuzz/replay_driver.c.
 */
#include "../unit/window_stream.h"
#include "snapshot.h"
#include "window.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDEFS    5
#define COL_TEXT WS_NCOLUMNS /* the top_k column of the sketch definition */

static sl_window_def g_def[NDEFS];
static sl_agg_def g_aggs[NDEFS][8];
static sl_watermark_def g_wm[NDEFS];
static double g_q[] = {0.5, 0.99};
static sl_agg_params g_params[8] = {{0}, {0}, {0}, {.q = g_q, .nq = 2, .q_list = 1}, {0}, {.k = 3}};

static void fuzz_setup(void)
{
    ws_config c[NDEFS];
    memset(c, 0, sizeof(c));
    c[0] = (ws_config){.type = SL_WIN_TUMBLING, .size = 1000, .lateness = 500, .ooo = 200};
    c[1] =
        (ws_config){.type = SL_WIN_HOPPING, .size = 3000, .slide = 1000, .lateness = 0, .ooo = 100};
    c[2] = (ws_config){.type = SL_WIN_SESSION, .gap = 700, .lateness = 300, .ooo = 50};
    c[3] = (ws_config){.type = SL_WIN_TUMBLING, .size = 1, .lateness = 0, .ooo = 0};
    c[4] = (ws_config){
        .type = SL_WIN_HOPPING, .size = 2000, .slide = 500, .lateness = 700, .ooo = 100};
    static const ws_agg sketch[] = {
        {"n", "n", SL_AGG_COUNT, -1},
        {"d", "d", SL_AGG_COUNT_DISTINCT, WS_COL_QTY},
        {"ad", "ad", SL_AGG_APPROX_COUNT_DISTINCT, WS_COL_QTY},
        {"p", "p", SL_AGG_APPROX_PERCENTILE, WS_COL_AMOUNT},
        {"m", "m", SL_AGG_MEDIAN, WS_COL_AMOUNT},
        {"top", "top", SL_AGG_TOP_K, COL_TEXT},
    };
    for (int i = 0; i < NDEFS; i++) {
        c[i].aggs = i == 3 ? ws_aggs_count : i == 4 ? sketch : ws_aggs_full;
        c[i].naggs = i == 3 ? 1 : i == 4 ? SL_ARRAY_LEN(sketch) : SL_ARRAY_LEN(ws_aggs_full);
        ws_make_def(&c[i], &g_def[i], g_aggs[i], &g_wm[i]);
    }
    g_def[4].agg_params = g_params;
}

static void on_result(void *ctx, const char *key, size_t klen, const char *value, size_t vlen,
                      int64_t ts, int update)
{
    (void)ts;
    (void)update;
    int bad = klen > (1u << 30);
    for (size_t i = 0; i < vlen; i++)
        bad |= (unsigned char)value[i] < 0x20;
    for (size_t i = 0; i < klen; i++)
        bad |= (unsigned char)key[i] < 0x20;
    if (bad) {
        fprintf(stderr, "result with a control byte: key %zu bytes, value %zu bytes: ", klen, vlen);
        for (size_t i = 0; i < vlen; i++)
            fputc(value[i] ? value[i] : '@', stderr);
        fputc('\n', stderr);
        abort();
    }
    (*(size_t *)ctx)++;
}

static void on_late(void *ctx, const sl_batch *in, uint32_t row, int64_t wm)
{
    (void)in;
    (void)row;
    (void)wm;
    (*(size_t *)ctx)++;
}

static void check_empty(sl_window_task *t)
{
    const sl_window_stats *st = sl_window_task_stats(t);
    if (sl_window_task_watermark(t) != INT64_MIN || sl_window_task_max_ts(t) != INT64_MIN ||
        st->events + st->late_dropped + st->late_updates + st->windows_fired != 0)
        abort(); /* a refused restore left part of the snapshot behind */
}

/* Events at times around the restored state and at the ends of time. */
static void drive(sl_window_task *t)
{
    size_t emitted = 0;
    sl_emitter em = {.result = on_result, .late = on_late, .ctx = &emitted};
    sl_batch *b = sl_batch_new(SL_MSG_DATA, 0, 16, WS_NCOLUMNS + 1);
    if (!b)
        abort();
    int64_t mx = sl_window_task_max_ts(t), wm = sl_window_task_watermark(t);
    const int64_t times[] = {
        mx == INT64_MIN ? 0 : mx,
        mx == INT64_MIN ? 1 : mx - 1,
        wm == INT64_MIN ? 5 : wm,
        INT64_MIN,
        INT64_MIN + 1,
        INT64_MAX,
        INT64_MAX - 1,
        0,
        -1,
        1700000000000,
    };
    static const char key0[] = "\"user\":\"u1\"", key1[] = "\"user\":\"u2\"";
    for (size_t i = 0; i < SL_ARRAY_LEN(times); i++) {
        uint32_t r = b->count++;
        const char *k = i % 2 ? key1 : key0;
        uint32_t kl = (uint32_t)strlen(k);
        b->ts[r] = times[i];
        b->offset[r] = (int64_t)i;
        b->key_hash[r] = sl_hash64(k, kl);
        b->key_off[r] = sl_batch_put_bytes(b, k, kl);
        b->key_len[r] = kl;
        sl_num *a = sl_batch_val(b, WS_COL_AMOUNT, r), *q = sl_batch_val(b, WS_COL_QTY, r);
        a->is_double = i % 3 == 0;
        if (a->is_double)
            a->v.d = i == 3 ? 1e308 : -0.25 * (double)i;
        else
            a->v.i = (int64_t)i - 3;
        q->is_double = 0;
        q->v.i = i % 2 ? INT64_MAX - (int64_t)i : INT64_MIN + (int64_t)i;
        /* top_k's text column: a value's JSON text in the arena, or absent */
        static const char *const items[] = {"\"a\"", "1", "{\"b\":[]}"};
        const char *it = items[i % 3];
        uint32_t off = sl_batch_put_bytes(b, it, strlen(it));
        *sl_batch_val(b, COL_TEXT, r) =
            i == 4 ? (sl_num){.is_double = SL_NUM_ABSENT}
                   : (sl_num){.v.i = (int64_t)(((uint64_t)off << 32) | strlen(it))};
    }
    sl_window_task_process(t, b, &em);
    sl_window_task_advance(t, mx == INT64_MIN ? 10 : mx, &em);
    sl_window_task_advance(t, INT64_MAX - 1, &em);
    sl_window_task_close(t, &em);
    if (sl_window_task_state_bytes(t) > 4096)
        abort(); /* close must free every window */
    sl_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fuzz_setup();
        ready = 1;
    }
    if (size < 1)
        return 0;
    int d = (data[0] >> 3) & 1 ? 4 : data[0] & 3, wrap = (data[0] >> 2) & 1;
    sl_buf in;
    sl_buf_init(&in);
    if (wrap) {
        sl_buf_put_u32(&in, 0x4e574c53u); /* "SLWN" */
        sl_buf_put_u32(&in, 1);
        sl_buf_put_u64(&in, size - 1);
        sl_buf_put_bytes(&in, data + 1, size - 1);
        sl_buf_put_u32(&in, sl_crc32c(0, in.data, in.len));
    } else {
        sl_buf_put_bytes(&in, data + 1, size - 1);
    }
    if (in.failed)
        abort();
    /* an exactly sized copy, so a read past the end is caught */
    uint8_t *copy = malloc(in.len ? in.len : 1);
    if (!copy)
        abort();
    if (in.len)
        memcpy(copy, in.data, in.len);
    sl_buf_free(&in);

    sl_window_task *t = sl_window_task_new(&g_def[d], &g_wm[d]);
    if (!t)
        abort();
    sl_reader r;
    sl_reader_init(&r, copy, size - 1 + (wrap ? 24 : 0));
    char err[512] = "";
    int rc = sl_window_task_restore(t, &r, err, sizeof(err));
    free(copy);
    if (rc != SL_OK) {
        if (!err[0])
            abort(); /* a refusal says why */
        check_empty(t);
        sl_window_task_free(t);
        return 0;
    }
    sl_buf s1, s2;
    sl_buf_init(&s1);
    sl_buf_init(&s2);
    if (sl_window_task_snapshot(t, &s1) != SL_OK)
        abort();
    sl_window_task *t2 = sl_window_task_new(&g_def[d], &g_wm[d]);
    sl_reader r2;
    sl_reader_init(&r2, s1.data, s1.len);
    if (sl_window_task_restore(t2, &r2, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "own snapshot refused: %s\n", err);
        abort();
    }
    if (sl_window_task_snapshot(t2, &s2) != SL_OK || s1.len != s2.len ||
        memcmp(s1.data, s2.data, s1.len) != 0) {
        fprintf(stderr, "snapshot of a restored task differs (%zu vs %zu bytes)\n", s1.len, s2.len);
        abort();
    }
    sl_buf_free(&s1);
    sl_buf_free(&s2);
    sl_window_task_free(t2);
    drive(t);
    sl_window_task_free(t);
    return 0;
}
