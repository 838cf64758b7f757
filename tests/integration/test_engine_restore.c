/*
 * test_engine_restore.c - determinism across restores: the same
 * partitioned input gives the same result sequence per task, byte for
 * byte, whether it runs
 *   A. straight through (1 worker, batches of 4096), or
 *   B. up to a checkpoint and some way past it (then the process "dies"),
 *      followed by
 *   C. a new engine (4 workers, batches of 1) that restores every task from
 *      that checkpoint, replays the input from the committed offsets and
 *      suppresses the results B already wrote (found by the sink's
 *      recover(), as the Kafka output scan would).
 * B's output + C's output must equal A's, with no gap and no duplicate.
 * The output has NPARTS partitions (by key, as on Kafka): a crash can lose
 * results in flight to one partition while later ones reached another.
 * Also with a sink in upsert mode, whose tombstones are results too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connector.h"
#include "definition.h"
#include "engine.h"
#include "engine_harness.h"
#include "log.h"
#include "sample_op.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTASKS  4
#define NEVENTS 6000 /* per task */
#define NPARTS  3    /* output partitions */

/* ---- input --------------------------------------------------------------- */

static char *payload[NTASKS][NEVENTS];
static size_t payload_len[NTASKS][NEVENTS];

static void make_input(uint64_t seed)
{
    uint64_t x = seed | 1;
    for (int t = 0; t < NTASKS; t++) {
        for (int i = 0; i < NEVENTS; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int64_t ts = 1700000000000 + (int64_t)i * 7 - (int64_t)(x % 300);
            if (x % 41 == 0)
                ts -= 2000; /* some late events */
            char buf[128];
            int n =
                snprintf(buf, sizeof(buf), "{\"user\":\"u%d-%d\",\"amount\":%d,\"ts\":%" PRId64 "}",
                         t, (int)((x >> 20) % 23), (int)((x >> 30) % 500), ts);
            payload[t][i] = strndup(buf, (size_t)n);
            payload_len[t][i] = (size_t)n;
        }
    }
}

/* ---- a source that plays a script ----------------------------------------- */

/* MODE_RESTORE_PART: restores, replays only part of what was written
 * before (so it is still suppressing), waits for a checkpoint, "dies". */
typedef enum { MODE_FULL, MODE_UNTIL_CHECKPOINT, MODE_RESTORE, MODE_RESTORE_PART } run_mode;

static run_mode mode;
static int64_t resume_at[NTASKS];     /* MODE_RESTORE: first offset to replay */
static uint64_t restore_ckpt;         /* MODE_RESTORE: checkpoint to restore */
static uint64_t committed_ckpt;       /* set by commit() */
static int64_t committed_off[NTASKS]; /* set by commit() */

static void feed(sl_lane *lane, int from, int to, const int64_t *start)
{
    for (int i = from; i < to; i++)
        for (int t = 0; t < NTASKS; t++) {
            int idx = (int)(start ? start[t] : 0) + i;
            if (idx < NEVENTS &&
                sl_lane_ingest(lane, t, payload[t][idx], payload_len[t][idx], idx, -1) == SL_EAGAIN)
                sl_lane_wait(lane);
        }
    sl_lane_flush(lane);
}

static void src_feed(sl_engine *engine, sl_lane *lane)
{
    (void)engine;
    int restoring = mode == MODE_RESTORE || mode == MODE_RESTORE_PART;
    eh_assign(lane, NTASKS, restoring ? resume_at : NULL, restoring ? restore_ckpt : 0);
    if (mode == MODE_UNTIL_CHECKPOINT) {
        feed(lane, 0, NEVENTS / 2, NULL);
        /* wait for a durable checkpoint covering the first half */
        eh_wait_checkpoint(lane, &committed_ckpt);
        /* then go on a bit and "die" without a further checkpoint */
        feed(lane, NEVENTS / 2, NEVENTS / 2 + NEVENTS / 5, NULL);
        return;
    }
    if (mode == MODE_RESTORE_PART) {
        feed(lane, 0, NEVENTS / 20, resume_at);
        eh_wait_checkpoint(lane, &committed_ckpt);
        return;
    }
    feed(lane, 0, NEVENTS, mode == MODE_RESTORE ? resume_at : NULL);
    eh_end(lane, NTASKS);
}

/* The latest position the sink reported per task (sink thread), and its
 * value when the committed checkpoint was committed: at least that
 * checkpoint's position (positions only grow), so everything logged from
 * there on may still have been in flight at a crash. */
static _Atomic uint64_t last_pos[NTASKS];
static uint64_t pos_at_commit[NTASKS];

static int src_commit(uint64_t id, const sl_task_offset *offsets, size_t n)
{
    if ((mode != MODE_UNTIL_CHECKPOINT && mode != MODE_RESTORE_PART) || committed_ckpt)
        return SL_OK;
    assert_int_equal(n, NTASKS);
    for (size_t i = 0; i < n; i++)
        committed_off[offsets[i].task] = offsets[i].next_offset;
    for (int t = 0; t < NTASKS; t++)
        pos_at_commit[t] = last_pos[t];
    committed_ckpt = id;
    return SL_OK;
}

/* ---- a sink that keeps results per task ------------------------------------- */

typedef struct row {
    int64_t seq;
    uint32_t part; /* output partition */
    char *text;
} row;

typedef struct out {
    row *rows[NTASKS];
    size_t n[NTASKS], cap[NTASKS];
} out;

static out *cur_out;        /* what the running engine writes to */
static out *written_before; /* what recover() reports as already written */
/* The log model (as a Kafka topic): every run appends to `logged`; a
 * position is a task's log length; recover() reports the highest sequence
 * after the recorded position (from the start without one). */
static out *logged;

/* The output partition of a result: a hash of its key (FNV-1a). */
static uint32_t snk_partition_of(void *st, const char *key, size_t key_len, uint32_t nparts)
{
    (void)st;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < key_len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h % nparts;
}

static int snk_write(void *st, const sl_batch *b)
{
    (void)st;
    for (uint32_t i = 0; i < b->count; i++) {
        int t = (int)b->key_hash[i];
        if (cur_out->n[t] == cur_out->cap[t]) {
            cur_out->cap[t] = cur_out->cap[t] ? cur_out->cap[t] * 2 : 256;
            cur_out->rows[t] = realloc(cur_out->rows[t], cur_out->cap[t] * sizeof(row));
        }
        uint32_t kl, vl;
        const char *k = sl_batch_key(b, i, &kl);
        const char *v = sl_batch_row(b, i, &vl);
        char *text = malloc(kl + vl + 2);
        memcpy(text, k, kl);
        text[kl] = ' ';
        memcpy(text + kl + 1, v, vl);
        text[kl + vl + 1] = 0;
        cur_out->rows[t][cur_out->n[t]].seq = b->offset[i];
        cur_out->rows[t][cur_out->n[t]].part = snk_partition_of(NULL, k, kl, NPARTS);
        cur_out->rows[t][cur_out->n[t]].text = text;
        cur_out->n[t]++;
        if (logged) {
            if (logged->n[t] == logged->cap[t]) {
                logged->cap[t] = logged->cap[t] ? logged->cap[t] * 2 : 256;
                logged->rows[t] = realloc(logged->rows[t], logged->cap[t] * sizeof(row));
            }
            logged->rows[t][logged->n[t]].seq = b->offset[i];
            logged->rows[t][logged->n[t]].part = snk_partition_of(NULL, k, kl, NPARTS);
            logged->rows[t][logged->n[t]].text = strdup(text);
            logged->n[t]++;
        }
    }
    return SL_OK;
}

static int snk_position(void *st, int32_t task, sl_buf *b)
{
    (void)st;
    sl_buf_put_u32(b, (uint32_t)task); /* opaque to the engine; checked in recover */
    uint64_t pos = logged ? (uint64_t)logged->n[task] : 0;
    sl_buf_put_u64(b, pos);
    last_pos[task] = pos;
    return SL_OK;
}

static int snk_recover(void *st, int32_t task, const uint8_t *pos, size_t len, int64_t **marks,
                       uint32_t *nmarks, char *err, size_t es)
{
    (void)st, (void)err, (void)es;
    size_t from = 0;
    if (pos) {
        sl_reader r;
        sl_reader_init(&r, pos, len);
        assert_int_equal(sl_read_u32(&r), (uint32_t)task);
        from = (size_t)sl_read_u64(&r);
    }
    int64_t last[NPARTS] = {-1, -1, -1};
    const out *o = logged ? logged : written_before;
    for (size_t i = logged ? from : 0; o && i < o->n[task]; i++) {
        const row *r = &o->rows[task][i];
        if (r->seq > last[r->part])
            last[r->part] = r->seq;
    }
    return eh_sink_marks(last, NPARTS, marks, nmarks);
}

static const sl_sink_ops capture_sink = {.name = "capture",
                                         .create = eh_sink_create,
                                         .write = snk_write,
                                         .flush = eh_sink_flush,
                                         .destroy = eh_sink_destroy,
                                         .position = snk_position,
                                         .recover = snk_recover,
                                         .partition_of = snk_partition_of};

static void out_free(out *o)
{
    for (int t = 0; t < NTASKS; t++) {
        for (size_t i = 0; i < o->n[t]; i++)
            free(o->rows[t][i].text);
        free(o->rows[t]);
    }
    memset(o, 0, sizeof(*o));
}

/* ---- runs ------------------------------------------------------------------- */

static const char *window_json[] = {
    "{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\",\"allowed_lateness\":\"500ms\"}",
    "{\"window\":{\"type\":\"hopping\",\"size\":\"2s\",\"slide\":\"500ms\",\"allowed_lateness\":"
    "\"300ms\"}",
    "{\"window\":{\"type\":\"session\",\"gap\":\"40ms\",\"allowed_lateness\":\"200ms\"}",
};

/* Stages after the window (or ""): they run in the task's operator chain
 * and take part in its snapshot. */
static const char *post_stages = "";

/* The window's aggregates. */
#define BASE_AGGS                                                                                  \
    "\"n\":{\"fn\":\"count\"},\"total\":{\"fn\":\"sum\",\"field\":\"amount\"},\"top\":{\"fn\":"    \
    "\"max\",\"field\":\"amount\"}"
static const char *aggs_json = BASE_AGGS;

/* The sink's options after its type (",\"emit\":\"upsert\"" or ""). */
static const char *sink_extra = "";

static void run(run_mode m, const char *window, const char *dir, int workers, int batch, out *o)
{
    char text[2048], err[1024];
    snprintf(text, sizeof(text),
             "{\"name\":\"restore\",\"source\":{\"type\":\"generator\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
             "\"watermark\":{\"max_out_of_orderness\":\"150ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},%s,\"aggregates\":{%s}}%s],"
             "\"sink\":{\"type\":\"null\"%s},"
             "\"checkpoint\":{\"interval\":\"50ms\",\"dir\":\"%s\",\"keep\":50},"
             "\"runtime\":{\"workers\":%d,\"batch_size\":%d,\"ring_capacity\":8},"
             "\"http\":{\"addr\":\"off\"}}",
             window, aggs_json, post_stages, sink_extra, dir, workers, batch);
    sl_def *def;
    if (sl_def_load_string(text, "restore.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    mode = m;
    cur_out = o;
    eh_source_set(src_feed, src_commit);
    sl_engine_options opt = {.source_ops = &eh_script_source, .sink_ops = &capture_sink};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e)
        fail_msg("%s", err);
    assert_int_equal(sl_engine_run(e), 0);
    sl_engine_free(e);
    sl_def_free(def);
}

/* After a case: frees the input and removes both checkpoint directories. */
static void end_case(const char *dir, const char *dir2)
{
    for (int t = 0; t < NTASKS; t++)
        for (int i = 0; i < NEVENTS; i++)
            free(payload[t][i]);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, dir2);
    assert_int_equal(system(cmd), 0);
}

static out last_full; /* with sink_extra: check_case's uninterrupted run (test_upsert) */

static void check_case(const char *window, uint64_t seed)
{
    char dir[] = "/tmp/sl_restore_XXXXXX";
    assert_non_null(mkdtemp(dir));
    make_input(seed);
    out a = {0}, b = {0}, c = {0};
    written_before = NULL;
    run(MODE_FULL, window, dir, 1, 4096, &a);

    char dir2[] = "/tmp/sl_restore_XXXXXX";
    assert_non_null(mkdtemp(dir2));
    committed_ckpt = 0;
    run(MODE_UNTIL_CHECKPOINT, window, dir2, 2, 64, &b);
    assert_true(committed_ckpt > 0);

    restore_ckpt = committed_ckpt;
    memcpy(resume_at, committed_off, sizeof(resume_at));
    written_before = &b;
    run(MODE_RESTORE, window, dir2, 4, 1, &c);
    written_before = NULL;

    for (int t = 0; t < NTASKS; t++) {
        assert_true(resume_at[t] > 0 && resume_at[t] < NEVENTS);
        size_t nb = b.n[t], nc = c.n[t];
        /* B wrote a prefix (sequences 0..nb-1); C continues right after it */
        for (size_t i = 0; i < nb; i++)
            assert_int_equal(b.rows[t][i].seq, (int64_t)i);
        for (size_t i = 0; i < nc; i++)
            if (c.rows[t][i].seq != (int64_t)(nb + i))
                fail_msg("task %d: restored run's result %zu has seq %" PRId64 ", expected %zu", t,
                         i, c.rows[t][i].seq, nb + i);
        if (nb + nc != a.n[t])
            fail_msg("task %d: %zu results before the crash + %zu after != %zu uninterrupted", t,
                     nb, nc, a.n[t]);
        for (size_t i = 0; i < a.n[t]; i++) {
            const char *got = i < nb ? b.rows[t][i].text : c.rows[t][i - nb].text;
            if (strcmp(got, a.rows[t][i].text) != 0)
                fail_msg("task %d result %zu differs:\n  got  %s\n  want %s", t, i, got,
                         a.rows[t][i].text);
        }
    }
    if (sink_extra[0])
        last_full = a; /* test_upsert frees it */
    else
        out_free(&a);
    out_free(&b);
    out_free(&c);
    end_case(dir, dir2);
}

/* Two failures in a row: B writes past its checkpoint and dies; C restores
 * it and dies while still suppressing B's results, after a checkpoint of
 * its own (whose sink position lies past B's results); D restores C's
 * checkpoint. The output log (positions and scans as on Kafka) must hold
 * every sequence number exactly once and equal the uninterrupted run. */
static void test_restore_while_suppressing(void **state)
{
    (void)state;
    const char *window = window_json[0];
    char dir[] = "/tmp/sl_restore_XXXXXX";
    assert_non_null(mkdtemp(dir));
    make_input(41);
    out a = {0}, b = {0}, c = {0}, d = {0}, log = {0};
    written_before = NULL;
    logged = NULL;
    run(MODE_FULL, window, dir, 1, 4096, &a);

    char dir2[] = "/tmp/sl_restore_XXXXXX";
    assert_non_null(mkdtemp(dir2));
    logged = &log;
    committed_ckpt = 0;
    run(MODE_UNTIL_CHECKPOINT, window, dir2, 2, 64, &b);
    assert_true(committed_ckpt > 0);
    restore_ckpt = committed_ckpt;
    memcpy(resume_at, committed_off, sizeof(resume_at));
    committed_ckpt = 0;
    run(MODE_RESTORE_PART, window, dir2, 3, 7, &c);
    assert_true(committed_ckpt > 0 && committed_ckpt != restore_ckpt);
    for (int t = 0; t < NTASKS; t++)
        assert_int_equal(c.n[t], 0); /* everything C replayed was B's */
    restore_ckpt = committed_ckpt;
    memcpy(resume_at, committed_off, sizeof(resume_at));
    run(MODE_RESTORE, window, dir2, 4, 1, &d);
    logged = NULL;

    for (int t = 0; t < NTASKS; t++) {
        if (log.n[t] != a.n[t])
            fail_msg("task %d: %zu results in the log, %zu uninterrupted", t, log.n[t], a.n[t]);
        for (size_t i = 0; i < a.n[t]; i++) {
            if (log.rows[t][i].seq != (int64_t)i)
                fail_msg("task %d: log entry %zu has seq %" PRId64 " (duplicate or gap)", t, i,
                         log.rows[t][i].seq);
            if (strcmp(log.rows[t][i].text, a.rows[t][i].text) != 0)
                fail_msg("task %d result %zu differs:\n  got  %s\n  want %s", t, i,
                         log.rows[t][i].text, a.rows[t][i].text);
        }
    }
    out_free(&a);
    out_free(&b);
    out_free(&c);
    out_free(&d);
    out_free(&log);
    end_case(dir, dir2);
}

/* Sorts a task's log by sequence number (delivery order differs from it
 * across partitions) and checks it holds each result of `a` exactly once. */
static int row_cmp(const void *x, const void *y)
{
    const row *a = x, *b = y;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static void check_log_exactly(out *log, const out *a)
{
    for (int t = 0; t < NTASKS; t++) {
        qsort(log->rows[t], log->n[t], sizeof(row), row_cmp);
        for (size_t i = 0; i < log->n[t] && i < a->n[t]; i++) {
            if (log->rows[t][i].seq != (int64_t)i)
                fail_msg("task %d: sorted log entry %zu has seq %" PRId64 " (%s)", t, i,
                         log->rows[t][i].seq,
                         log->rows[t][i].seq < (int64_t)i ? "duplicate" : "gap: a result lost");
            if (strcmp(log->rows[t][i].text, a->rows[t][i].text) != 0)
                fail_msg("task %d result %zu differs:\n  got  %s\n  want %s", t, i,
                         log->rows[t][i].text, a->rows[t][i].text);
        }
        if (log->n[t] != a->n[t])
            fail_msg("task %d: %zu results in the log, %zu uninterrupted", t, log->n[t], a->n[t]);
    }
}

/* A crash with results in flight to several partitions: B dies after its
 * checkpoint; of what it logged past that checkpoint's position, the last
 * few results of partitions 0 and 1 never arrive (each partition keeps a
 * prefix, as the idempotent producer guarantees), partition 2 keeps all.
 * So partition 2 holds later sequence numbers than results lost in 0 and
 * 1: suppressing by one maximum over all partitions would lose them. The
 * restored run must fill exactly those gaps. */
static void test_restore_lost_in_flight(void **state)
{
    (void)state;
    static const int lose[NPARTS] = {4, 9, 0};
    for (int w = 0; w < 3; w++) {
        const char *window = window_json[w];
        char dir[] = "/tmp/sl_restore_XXXXXX", dir2[] = "/tmp/sl_restore_XXXXXX";
        assert_non_null(mkdtemp(dir));
        assert_non_null(mkdtemp(dir2));
        make_input(51 + (uint64_t)w);
        out a = {0}, b = {0}, c = {0}, log = {0};
        written_before = NULL;
        logged = NULL;
        run(MODE_FULL, window, dir, 1, 4096, &a);

        logged = &log;
        committed_ckpt = 0;
        run(MODE_UNTIL_CHECKPOINT, window, dir2, 2, 64, &b);
        assert_true(committed_ckpt > 0);
        int exposed = 0; /* tasks where a lost result lies below a kept one */
        for (int t = 0; t < NTASKS; t++) {
            int64_t kept_max = -1, lost_min = INT64_MAX;
            int left[NPARTS];
            memcpy(left, lose, sizeof(left));
            size_t keep = log.n[t];
            /* walk back from the end, dropping each partition's tail */
            row *rows = log.rows[t];
            size_t n = log.n[t], o = n;
            for (size_t i = n; i-- > pos_at_commit[t];) {
                if (left[rows[i].part] > 0) {
                    left[rows[i].part]--;
                    if (rows[i].seq < lost_min)
                        lost_min = rows[i].seq;
                    free(rows[i].text);
                    rows[i].text = NULL;
                    keep--;
                } else if (rows[i].seq > kept_max) {
                    kept_max = rows[i].seq;
                }
            }
            for (size_t i = 0, j = 0; i < o; i++)
                if (rows[i].text)
                    rows[j++] = rows[i];
            log.n[t] = keep;
            if (lost_min < kept_max)
                exposed++;
        }
        assert_true(exposed > 0); /* the case this test is about happened */

        restore_ckpt = committed_ckpt;
        memcpy(resume_at, committed_off, sizeof(resume_at));
        run(MODE_RESTORE, window, dir2, 3, 5, &c);
        logged = NULL;
        check_log_exactly(&log, &a);
        out_free(&a);
        out_free(&b);
        out_free(&c);
        out_free(&log);
        end_case(dir, dir2);
    }
}

/* Stages after the window: HAVING-like filter, a map dropping and renaming
 * result fields, and the toy `sample` operator (tests/lib), whose count of
 * rows seen is in the snapshot: B + C must still equal A. */
static void test_after_window(void **state)
{
    (void)state;
    sample_op_register();
    post_stages = ",{\"filter\":{\"field\":\"n\",\"op\":\">=\",\"value\":2}},"
                  "{\"map\":{\"drop\":[\"top\"],\"rename\":{\"total\":\"sum\"}}},"
                  "{\"sample\":{\"every\":3}}";
    for (int w = 0; w < 3; w++)
        check_case(window_json[w], 61 + (uint64_t)w);
    post_stages = "";
}

/* first, last and the variances: their partials (event time and offset,
 * mean and M2) go through the snapshot, and B + C must still equal A byte
 * for byte, for every window type. */
static void test_more_aggregates(void **state)
{
    (void)state;
    aggs_json = BASE_AGGS ",\"early\":{\"fn\":\"first\",\"field\":\"amount\"},"
                          "\"late\":{\"fn\":\"last\",\"field\":\"amount\"},"
                          "\"sdp\":{\"fn\":\"stddev_pop\",\"field\":\"amount\"},"
                          "\"sds\":{\"fn\":\"stddev_samp\",\"field\":\"amount\"},"
                          "\"vp\":{\"fn\":\"var_pop\",\"field\":\"amount\"},"
                          "\"vs\":{\"fn\":\"var_samp\",\"field\":\"amount\"}";
    for (int w = 0; w < 3; w++)
        check_case(window_json[w], 71 + (uint64_t)w);
    aggs_json = BASE_AGGS;
}

/* "emit": "upsert": the changelog (keys with window_start, tombstones for
 * merged-away sessions) is as deterministic across a restore: which
 * sessions were emitted before the checkpoint is in the snapshot, so C
 * writes the same tombstones as A. Tombstones pass the stages after the
 * window. */
static size_t tombstones_in(const out *o)
{
    size_t n = 0;
    for (int t = 0; t < NTASKS; t++)
        for (size_t i = 0; i < o->n[t]; i++) {
            const char *sp = strchr(o->rows[t][i].text, ' ');
            n += sp && sp[1] == '\0';
        }
    return n;
}

static void test_upsert(void **state)
{
    (void)state;
    sink_extra = ",\"emit\":\"upsert\"";
    for (int w = 0; w < 3; w++) {
        check_case(window_json[w], 81 + (uint64_t)w);
        size_t n = tombstones_in(&last_full);
        if (w == 2)
            assert_true(n > 0);
        else
            assert_int_equal(n, 0);
        out_free(&last_full);
    }
    post_stages = ",{\"filter\":{\"field\":\"n\",\"op\":\">=\",\"value\":2}},"
                  "{\"map\":{\"drop\":[\"top\"]}}";
    check_case(window_json[2], 91);
    assert_true(tombstones_in(&last_full) > 0);
    out_free(&last_full);
    post_stages = "";
    sink_extra = "";
}

/* The sketches (count_distinct, approx_count_distinct, percentiles, top_k):
 * their out-of-line states go through the snapshot, and B + C must still
 * equal A byte for byte, for every window type. */
static void test_sketch_aggregates(void **state)
{
    (void)state;
    aggs_json = BASE_AGGS ",\"d\":{\"fn\":\"count_distinct\",\"field\":\"amount\"},"
                          "\"ad\":{\"fn\":\"approx_count_distinct\",\"field\":\"amount\"},"
                          "\"p\":{\"fn\":\"approx_percentile\",\"field\":\"amount\","
                          "\"q\":[0.1,0.5,0.99]},"
                          "\"med\":{\"fn\":\"median\",\"field\":\"amount\"},"
                          "\"often\":{\"fn\":\"top_k\",\"field\":\"amount\",\"k\":2}";
    for (int w = 0; w < 3; w++)
        check_case(window_json[w], 81 + (uint64_t)w);
    aggs_json = BASE_AGGS;
}

static void test_tumbling(void **state)
{
    (void)state;
    check_case(window_json[0], 11);
    check_case(window_json[0], 12);
}

static void test_hopping(void **state)
{
    (void)state;
    check_case(window_json[1], 21);
}

static void test_session(void **state)
{
    (void)state;
    check_case(window_json[2], 31);
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tumbling),
        cmocka_unit_test(test_hopping),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_restore_while_suppressing),
        cmocka_unit_test(test_restore_lost_in_flight),
        cmocka_unit_test(test_after_window),
        cmocka_unit_test(test_more_aggregates),
        cmocka_unit_test(test_upsert),
        cmocka_unit_test(test_sketch_aggregates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
