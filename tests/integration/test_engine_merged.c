/*
 * test_engine_merged.c - tasks that merge several inputs (the repartition
 * stage): each task reads one stream that interleaves the records of 5
 * upstream tasks at uneven speeds (one held back until most of the others
 * are read, one idle for a while), with the upstreams' watermark records
 * in between, replays of a restarted upstream (records at or below an
 * origin's position, older watermarks) and late events. Checked:
 *   1. the engine's result sequence per task equals the brute-force merged
 *      oracle (tests/lib/oracle.c: watermark = min over the inputs that are
 *      not idle, replays dropped by origin position), late count included,
 *      for 1 and 3 workers and batch sizes 1 and 4096;
 *   2. restore determinism: a run that dies some way past a checkpoint,
 *      followed by a new engine restoring every task from it (input
 *      watermarks and dedup positions come from the task snapshot) and
 *      replaying from the committed positions, writes exactly the results
 *      of the uninterrupted run, no gap, no duplicate;
 *   3. without merging (each task's own max event time, as before) the
 *      same streams drop events as late that the merged run keeps: the
 *      streams do exercise uneven reading;
 *   4. a checkpoint whose source state has the version-1 format (dedup
 *      positions only, as older builds wrote it) still restores: no gap, no
 *      duplicate, replays still dropped (the input watermarks are learnt
 *      again from the next records);
 *   5. per-input positions (sl_lane_input_offset, as co-partitioned topics
 *      report them): the commit of a checkpoint carries, per task, the
 *      position after the last record of each input before the task's
 *      committed position, exactly (brute force over the script); the
 *      snapshot holds the same (version 3); a version-2 source state (no
 *      positions, as the previous build wrote it) restores to exactly the
 *      uninterrupted run's results.
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
#include "checkpoint_store.h"
#include "log.h"
#include "oracle.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTASKS 3
#define NUP    5    /* upstream tasks */
#define PERUP  1500 /* events per upstream per task */
#define OOO    150

/* ---- input: one script of records per task ------------------------------- */

typedef struct rec {
    int is_wm;
    int up;
    int64_t src_offset; /* data: the origin's position */
    int64_t wm;         /* watermark record */
    int idle;
    char *payload; /* data */
    size_t len;
    int64_t ts, amount;
    char key[32];
} rec;

static rec *script[NTASKS];
static size_t nscript[NTASKS], capscript[NTASKS];

static uint64_t rng;
static uint64_t next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static rec *add(int t)
{
    if (nscript[t] == capscript[t]) {
        capscript[t] = capscript[t] ? capscript[t] * 2 : 1024;
        script[t] = realloc(script[t], capscript[t] * sizeof(rec));
    }
    rec *r = &script[t][nscript[t]++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void add_wm(int t, int up, int64_t wm, int idle)
{
    rec *r = add(t);
    r->is_wm = 1;
    r->up = up;
    r->wm = wm;
    r->idle = idle;
}

static void add_event(int t, int up, int64_t off, int64_t ts, int64_t amount, int user)
{
    rec *r = add(t);
    r->up = up;
    r->src_offset = off;
    r->ts = ts;
    r->amount = amount;
    snprintf(r->key, sizeof(r->key), "\"user\":\"u%d\"", user);
    char buf[128];
    int n =
        snprintf(buf, sizeof(buf), "{\"user\":\"u%d\",\"amount\":%" PRId64 ",\"ts\":%" PRId64 "}",
                 user, amount, ts);
    r->payload = strndup(buf, (size_t)n);
    r->len = (size_t)n;
}

/* Upstream u's k-th event for task t (deterministic, so a replay repeats
 * it exactly). */
static void event_of(int t, int u, int k, int64_t *ts, int64_t *amount, int *user)
{
    uint64_t x = (uint64_t)(t * 1000003 + u * 7919 + k) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    *ts = 1700000000000 + (int64_t)k * 20 - (int64_t)(x % 120);
    if (x % 53 == 0)
        *ts -= 1500; /* late at its own upstream */
    *amount = (int64_t)((x >> 20) % 500);
    *user = (int)((x >> 40) % 19);
}

static void make_scripts(uint64_t seed)
{
    rng = seed | 1;
    for (int t = 0; t < NTASKS; t++) {
        int next[NUP] = {0};
        int64_t maxts[NUP];
        int idle3 = 0;
        for (int u = 0; u < NUP; u++)
            maxts[u] = INT64_MIN;
        int done = 0;
        while (done < NUP * PERUP) {
            int u = (int)(next_rand() % NUP);
            /* upstream 0 is held back until the others are 70% read */
            int others = done - next[0];
            if (u == 0 && others < (NUP - 1) * PERUP * 7 / 10)
                u = 1 + (int)(next_rand() % (NUP - 1));
            /* upstream 3 goes idle between 30% and 50% of its events */
            if (u == 3 && next[3] == PERUP * 3 / 10 && !idle3) {
                idle3 = 1;
                add_wm(t, 3, maxts[3] == INT64_MIN ? INT64_MIN : maxts[3] - OOO, 1);
            }
            if (u == 3 && idle3 == 1 && done < (NUP * PERUP) / 2)
                u = 4;
            if (u == 3 && idle3 == 1)
                idle3 = 2; /* active again: its next watermark says so */
            if (next[u] >= PERUP) {
                for (u = 0; u < NUP && next[u] >= PERUP; u++)
                    ;
                if (u == NUP)
                    break;
            }
            int64_t ts, amount;
            int user;
            event_of(t, u, next[u], &ts, &amount, &user);
            add_event(t, u, next[u], ts, amount, user);
            next[u]++;
            done++;
            if (ts > maxts[u])
                maxts[u] = ts;
            if (next_rand() % 16 == 0 || (u == 3 && idle3 == 2 && next_rand() % 2 == 0))
                add_wm(t, u, maxts[u] - OOO, 0);
            /* a restarted upstream: its last records again, an older
             * watermark first */
            if (next_rand() % 700 == 0 && next[u] > 40) {
                int back = 1 + (int)(next_rand() % 30);
                add_wm(t, u, maxts[u] - OOO - 5000, 0);
                for (int k = next[u] - back; k < next[u]; k++) {
                    event_of(t, u, k, &ts, &amount, &user);
                    add_event(t, u, k, ts, amount, user);
                }
            }
        }
        for (int u = 0; u < NUP; u++)
            add_wm(t, u, maxts[u] - OOO, 1); /* end of input */
    }
}

static void free_scripts(void)
{
    for (int t = 0; t < NTASKS; t++) {
        for (size_t i = 0; i < nscript[t]; i++)
            free(script[t][i].payload);
        free(script[t]);
        script[t] = NULL;
        nscript[t] = capscript[t] = 0;
    }
}

/* ---- a source that plays the scripts --------------------------------------- */

typedef enum { MODE_FULL, MODE_UNTIL_CHECKPOINT, MODE_RESTORE } run_mode;

static run_mode mode;
static int merged = 1;
static int64_t resume_at[NTASKS];
static uint64_t restore_ckpt, committed_ckpt;
static int64_t committed_off[NTASKS];
static int64_t committed_in[NTASKS][NUP];
static size_t committed_nin[NTASKS];

/* Feeds records [from, to) of every task's script (positions relative to
 * `start`), round robin. */
static void feed(sl_lane *lane, size_t from, size_t to, const int64_t *start)
{
    for (size_t i = from; i < to; i++) {
        for (int t = 0; t < NTASKS; t++) {
            size_t idx = (size_t)(start ? start[t] : 0) + i;
            if (idx >= nscript[t])
                continue;
            const rec *r = &script[t][idx];
            int rc;
            if (r->is_wm)
                rc = merged
                         ? sl_lane_watermark_from(lane, t, (int64_t)idx, r->up, NUP, r->wm, r->idle)
                         : SL_OK;
            else {
                rc = sl_lane_ingest_from(lane, t, r->payload, r->len, (int64_t)idx, -1, r->up,
                                         r->src_offset);
                sl_lane_input_offset(lane, t, r->up, NUP, (int64_t)idx + 1);
            }
            assert_true(rc == SL_OK || rc == SL_EAGAIN);
            if (rc == SL_EAGAIN)
                sl_lane_wait(lane);
        }
    }
    sl_lane_flush(lane);
}

static size_t longest(void)
{
    size_t n = 0;
    for (int t = 0; t < NTASKS; t++)
        if (nscript[t] > n)
            n = nscript[t];
    return n;
}

static void src_feed(sl_engine *engine, sl_lane *lane)
{
    (void)engine;
    sl_lane_set_merged(lane, merged);
    eh_assign(lane, NTASKS, mode == MODE_RESTORE ? resume_at : NULL,
              mode == MODE_RESTORE ? restore_ckpt : 0);
    size_t n = longest();
    if (mode == MODE_UNTIL_CHECKPOINT) {
        feed(lane, 0, n / 2, NULL);
        eh_wait_checkpoint(lane, &committed_ckpt);
        feed(lane, n / 2, n / 2 + n / 5, NULL); /* then "die" */
        return;
    }
    feed(lane, 0, n, mode == MODE_RESTORE ? resume_at : NULL);
    eh_end(lane, NTASKS);
}

static int src_commit(uint64_t id, const sl_task_offset *offsets, size_t n)
{
    if (mode != MODE_UNTIL_CHECKPOINT || committed_ckpt)
        return SL_OK;
    assert_int_equal(n, NTASKS);
    for (size_t i = 0; i < n; i++) {
        int32_t t = offsets[i].task;
        committed_off[t] = offsets[i].next_offset;
        committed_nin[t] = offsets[i].ninputs;
        for (size_t u = 0; u < offsets[i].ninputs && u < NUP; u++)
            committed_in[t][u] = offsets[i].input_next[u];
    }
    committed_ckpt = id;
    return SL_OK;
}

/* ---- a sink that keeps results per task ------------------------------------- */

typedef struct row {
    int64_t seq;
    char *key, *value;
} row;

typedef struct out {
    row *rows[NTASKS];
    size_t n[NTASKS], cap[NTASKS];
} out;

static out *cur_out, *written_before;

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
        row *r = &cur_out->rows[t][cur_out->n[t]++];
        r->seq = b->offset[i];
        r->key = strndup(k, kl);
        r->value = strndup(v, vl);
    }
    return SL_OK;
}

static int snk_recover(void *st, int32_t task, const uint8_t *pos, size_t len, int64_t **marks,
                       uint32_t *nmarks, char *err, size_t es)
{
    (void)st, (void)pos, (void)len, (void)err, (void)es;
    int64_t last = -1;
    if (written_before)
        for (size_t i = 0; i < written_before->n[task]; i++)
            if (written_before->rows[task][i].seq > last)
                last = written_before->rows[task][i].seq;
    return eh_sink_marks(&last, 1, marks, nmarks);
}

static const sl_sink_ops capture_sink = {.name = "capture",
                                         .create = eh_sink_create,
                                         .write = snk_write,
                                         .flush = eh_sink_flush,
                                         .destroy = eh_sink_destroy,
                                         .position = eh_sink_position,
                                         .recover = snk_recover};

static void out_free(out *o)
{
    for (int t = 0; t < NTASKS; t++) {
        for (size_t i = 0; i < o->n[t]; i++) {
            free(o->rows[t][i].key);
            free(o->rows[t][i].value);
        }
        free(o->rows[t]);
    }
    memset(o, 0, sizeof(*o));
}

/* ---- runs ------------------------------------------------------------------- */

#define WINDOW                                                                                     \
    "{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\",\"allowed_lateness\":\"300ms\"},"          \
    "\"aggregates\":{\"orders\":{\"fn\":\"count\"},\"total\":{\"fn\":\"sum\",\"field\":"           \
    "\"amount\"},\"biggest\":{\"fn\":\"max\",\"field\":\"amount\"},\"smallest\":{\"fn\":"          \
    "\"min\",\"field\":\"amount\"},\"mean\":{\"fn\":\"avg\",\"field\":\"amount\"}}}"

static const char *const agg_names[] = {"orders", "total", "biggest", "smallest", "mean"};
static const char *const agg_fns[] = {"count", "sum", "max", "min", "avg"};

static uint64_t run(run_mode m, const char *dir, int workers, int batch, out *o)
{
    char text[2048], err[1024], ckpt[600] = "";
    if (dir)
        snprintf(ckpt, sizeof(ckpt),
                 "\"checkpoint\":{\"interval\":\"40ms\",\"dir\":\"%s\",\"keep\":50},", dir);
    snprintf(text, sizeof(text),
             "{\"name\":\"merged\",\"source\":{\"type\":\"generator\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
             "\"watermark\":{\"max_out_of_orderness\":\"%dms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},%s],\"sink\":{\"type\":\"null\"},%s"
             "\"runtime\":{\"workers\":%d,\"batch_size\":%d,\"ring_capacity\":8},"
             "\"http\":{\"addr\":\"off\"}}",
             OOO, WINDOW, ckpt, workers, batch);
    sl_def *def;
    if (sl_def_load_string(text, "merged.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    mode = m;
    cur_out = o;
    eh_source_set(src_feed, src_commit);
    sl_engine_options opt = {.source_ops = &eh_script_source, .sink_ops = &capture_sink};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e)
        fail_msg("%s", err);
    assert_int_equal(sl_engine_run(e), 0);
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    sl_engine_free(e);
    sl_def_free(def);
    return st.late;
}

/* The oracle's result sequence of each task, replays dropped by origin. */
static uint64_t expected(or_output want[NTASKS])
{
    or_config cfg = {.type = OR_TUMBLING,
                     .size = 1000,
                     .lateness = 300,
                     .ooo = OOO,
                     .agg_names = agg_names,
                     .agg_fns = agg_fns,
                     .naggs = 5};
    uint64_t late = 0;
    for (int t = 0; t < NTASKS; t++) {
        or_item *items = calloc(nscript[t], sizeof(*items));
        int64_t seen[NUP];
        for (int u = 0; u < NUP; u++)
            seen[u] = -1;
        size_t m = 0;
        for (size_t i = 0; i < nscript[t]; i++) {
            const rec *r = &script[t][i];
            if (!r->is_wm) {
                if (r->src_offset <= seen[r->up])
                    continue; /* a replay */
                seen[r->up] = r->src_offset;
            }
            or_item *it = &items[m++];
            it->is_wm = r->is_wm;
            it->input = r->up;
            it->wm = r->wm;
            it->idle = r->idle;
            it->ev.key = r->key;
            it->ev.ts = r->ts;
            it->ev.amount = r->amount;
        }
        memset(&want[t], 0, sizeof(want[t]));
        oracle_run_merged(&cfg, items, m, NUP, &want[t]);
        late += want[t].late;
        free(items);
    }
    return late;
}

static void check_equal(const out *o, or_output want[NTASKS], const char *what)
{
    for (int t = 0; t < NTASKS; t++) {
        if (o->n[t] != want[t].n)
            fail_msg("%s: task %d: %zu results, oracle %zu", what, t, o->n[t], want[t].n);
        for (size_t i = 0; i < want[t].n; i++) {
            const row *r = &o->rows[t][i];
            if (r->seq != (int64_t)i || strcmp(r->value, want[t].results[i].value) != 0 ||
                strcmp(r->key, want[t].results[i].key) != 0)
                fail_msg("%s: task %d result %zu (seq %" PRId64 "):\n got  %s %s\n want %s %s",
                         what, t, i, r->seq, r->key, r->value, want[t].results[i].key,
                         want[t].results[i].value);
        }
    }
}

static void test_oracle(void **state)
{
    (void)state;
    static const int workers[] = {1, 3};
    static const int batches[] = {4096, 1};
    for (uint64_t seed = 1; seed <= 2; seed++) {
        make_scripts(seed * 7919);
        or_output want[NTASKS];
        uint64_t want_late = expected(want);
        for (size_t c = 0; c < 2; c++) {
            out o = {0};
            written_before = NULL;
            uint64_t late = run(MODE_FULL, NULL, workers[c], batches[c], &o);
            char what[64];
            snprintf(what, sizeof(what), "seed %" PRIu64 " workers %d batch %d", seed, workers[c],
                     batches[c]);
            check_equal(&o, want, what);
            assert_int_equal(late, want_late);
            out_free(&o);
        }
        for (int t = 0; t < NTASKS; t++)
            oracle_output_free(&want[t]);
        /* Each task's own max event time drops far more. */
        merged = 0;
        out o = {0};
        uint64_t unmerged_late = run(MODE_FULL, NULL, 1, 4096, &o);
        merged = 1;
        out_free(&o);
        print_message("seed %" PRIu64 ": late merged %" PRIu64 ", unmerged %" PRIu64 "\n", seed,
                      want_late, unmerged_late);
        if (unmerged_late <= want_late + 100)
            fail_msg("seed %" PRIu64 ": unmerged late %" PRIu64 ", merged %" PRIu64
                     ": the streams do not test uneven reading",
                     seed, unmerged_late, want_late);
        free_scripts();
    }
}

static void check_committed_inputs(void);
static void downgrade_source_state(const char *dir, uint64_t id, int version);

static void restore_case(int downgrade_to)
{
    make_scripts(4242);
    or_output want[NTASKS];
    expected(want);
    out b = {0}, c = {0};
    char dir[] = "/tmp/sl_merged_XXXXXX";
    assert_non_null(mkdtemp(dir));
    committed_ckpt = 0;
    written_before = NULL;
    run(MODE_UNTIL_CHECKPOINT, dir, 2, 64, &b);
    assert_true(committed_ckpt > 0);
    check_committed_inputs();
    if (downgrade_to)
        downgrade_source_state(dir, committed_ckpt, downgrade_to);
    restore_ckpt = committed_ckpt;
    memcpy(resume_at, committed_off, sizeof(resume_at));
    written_before = &b;
    run(MODE_RESTORE, dir, 3, 1, &c);
    written_before = NULL;
    /* B wrote a prefix of the oracle's sequence; C the rest, no overlap */
    out all = {0};
    for (int t = 0; t < NTASKS; t++) {
        assert_true(resume_at[t] > 0 && (size_t)resume_at[t] < nscript[t]);
        all.n[t] = b.n[t] + c.n[t];
        all.rows[t] = calloc(all.n[t] + 1, sizeof(row));
        memcpy(all.rows[t], b.rows[t], b.n[t] * sizeof(row));
        memcpy(all.rows[t] + b.n[t], c.rows[t], c.n[t] * sizeof(row));
    }
    check_equal(&all, want, "restored");
    for (int t = 0; t < NTASKS; t++) {
        free(all.rows[t]);
        oracle_output_free(&want[t]);
    }
    out_free(&b);
    out_free(&c);
    free_scripts();
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_restore(void **state)
{
    (void)state;
    restore_case(0);
}

/* A version-2 source state (no input positions) restores exactly. */
static void test_restore_version2(void **state)
{
    (void)state;
    restore_case(2);
}

/* The commit's per-input positions equal the brute force over the script:
 * per input, the position after its last data record before the task's
 * committed position (-1 none). */
static void check_committed_inputs(void)
{
    for (int t = 0; t < NTASKS; t++) {
        assert_int_equal(committed_nin[t], NUP);
        for (int u = 0; u < NUP; u++) {
            int64_t want = -1;
            for (int64_t i = 0; i < committed_off[t]; i++)
                if (!script[t][i].is_wm && script[t][i].up == u)
                    want = i + 1;
            if (committed_in[t][u] != want)
                fail_msg("task %d input %d: committed position %" PRId64 ", expected %" PRId64, t,
                         u, committed_in[t][u], want);
        }
    }
}

/* Rewrites the task snapshots of checkpoint `id` in `dir` with a source
 * state of an older version: 1 (u32 n, i64 dedup[n]; no input
 * watermarks) or 2 (no input positions). First checks that the stored
 * version-3 state records the committed per-input positions. Layout of a
 * stored snapshot: blob(task state) blob(sink position); the task state
 * has a fixed header, then blob(source state), then the rest. */
static void downgrade_source_state(const char *dir, uint64_t id, int version)
{
    char err[512];
    sl_ckpt_store *st = sl_ckpt_store_open(dir, 50, err, sizeof(err));
    if (!st)
        fail_msg("%s", err);
    for (int t = 0; t < NTASKS; t++) {
        void *payload;
        size_t len;
        if (sl_ckpt_store_get(st, t, id, &payload, &len, err, sizeof(err)) != SL_OK)
            fail_msg("task %d: %s", t, err);
        sl_reader w;
        sl_reader_init(&w, payload, len);
        uint32_t tl, pl;
        const uint8_t *tb = sl_read_blob(&w, &tl);
        const uint8_t *pb = sl_read_blob(&w, &pl);
        assert_non_null(tb);
        assert_non_null(pb);
        size_t head = 4 + 4 + 4 + 8 + 8 + 8 + 1 + 1; /* magic .. has_window */
        sl_reader r;
        sl_reader_init(&r, tb + head, tl - head);
        uint32_t sl_len;
        const uint8_t *ss = sl_read_blob(&r, &sl_len);
        assert_non_null(ss);
        sl_reader sr;
        sl_reader_init(&sr, ss, sl_len);
        assert_int_equal(sl_read_u32(&sr), 0x534c5353u); /* "SLSS": version 3 */
        assert_int_equal(sl_read_u32(&sr), 3);
        uint32_t n = sl_read_u32(&sr);
        sl_buf v1;
        sl_buf_init(&v1);
        if (version == 2) {
            sl_buf_put_u32(&v1, 0x534c5353u);
            sl_buf_put_u32(&v1, 2);
        }
        sl_buf_put_u32(&v1, n);
        for (uint32_t i = 0; i < n; i++)
            sl_buf_put_i64(&v1, sl_read_i64(&sr));
        uint32_t m = sl_read_u32(&sr);
        if (version == 2)
            sl_buf_put_u32(&v1, m);
        for (uint32_t i = 0; i < m; i++) {
            int64_t wm = sl_read_i64(&sr);
            uint8_t idle = sl_read_u8(&sr);
            if (version == 2) {
                sl_buf_put_i64(&v1, wm);
                sl_buf_put_u8(&v1, idle);
            }
        }
        int64_t sent = sl_read_i64(&sr);
        uint8_t idle_sent = sl_read_u8(&sr);
        if (version == 2) {
            sl_buf_put_i64(&v1, sent);
            sl_buf_put_u8(&v1, idle_sent);
        }
        /* version 3: the input positions, as committed */
        assert_int_equal(sl_read_u32(&sr), NUP);
        for (int u = 0; u < NUP; u++)
            assert_int_equal(sl_read_i64(&sr), committed_in[t][u]);
        assert_false(sr.failed);
        assert_true(sl_reader_done(&sr));
        sl_buf task;
        sl_buf_init(&task);
        sl_buf_put_bytes(&task, tb, head);
        sl_buf_put_blob(&task, v1.data, v1.len);
        sl_buf_put_bytes(&task, tb + head + 4 + sl_len, tl - head - 4 - sl_len);
        sl_buf whole;
        sl_buf_init(&whole);
        sl_buf_put_blob(&whole, task.data, task.len);
        sl_buf_put_blob(&whole, pb, pl);
        if (sl_ckpt_store_put(st, t, id, whole.data, whole.len, err, sizeof(err)) != SL_OK)
            fail_msg("task %d: %s", t, err);
        sl_buf_free(&v1);
        sl_buf_free(&task);
        sl_buf_free(&whole);
        free(payload);
    }
    sl_ckpt_store_close(st);
}

static void test_restore_version1(void **state)
{
    (void)state;
    make_scripts(777);
    out b = {0}, c = {0};
    char dir[] = "/tmp/sl_merged_XXXXXX";
    assert_non_null(mkdtemp(dir));
    committed_ckpt = 0;
    written_before = NULL;
    run(MODE_UNTIL_CHECKPOINT, dir, 1, 64, &b);
    assert_true(committed_ckpt > 0);
    check_committed_inputs();
    downgrade_source_state(dir, committed_ckpt, 1);
    restore_ckpt = committed_ckpt;
    memcpy(resume_at, committed_off, sizeof(resume_at));
    written_before = &b;
    run(MODE_RESTORE, dir, 2, 1, &c);
    written_before = NULL;
    or_output want[NTASKS];
    expected(want);
    for (int t = 0; t < NTASKS; t++) {
        for (size_t i = 0; i < b.n[t]; i++)
            assert_int_equal(b.rows[t][i].seq, (int64_t)i);
        for (size_t i = 0; i < c.n[t]; i++)
            if (c.rows[t][i].seq != (int64_t)(b.n[t] + i))
                fail_msg("task %d: restored result %zu has seq %" PRId64 ", expected %zu", t, i,
                         c.rows[t][i].seq, b.n[t] + i);
        /* every (key, window) once: replays were dropped, nothing doubled */
        for (size_t i = 0; i < b.n[t] + c.n[t]; i++) {
            const row *x = i < b.n[t] ? &b.rows[t][i] : &c.rows[t][i - b.n[t]];
            for (size_t j = i + 1; j < b.n[t] + c.n[t]; j++) {
                const row *y = j < b.n[t] ? &b.rows[t][j] : &c.rows[t][j - b.n[t]];
                if (strcmp(x->value, y->value) == 0 && strcmp(x->key, y->key) == 0)
                    fail_msg("task %d: result twice: %s %s", t, x->key, x->value);
            }
        }
        /* Late judgement may differ for a few events right after the
         * restore; the window results are those of the oracle otherwise. */
        size_t total = b.n[t] + c.n[t];
        if (total + 20 < want[t].n || total > want[t].n + 20)
            fail_msg("task %d: %zu results, oracle %zu", t, total, want[t].n);
        oracle_output_free(&want[t]);
    }
    out_free(&b);
    out_free(&c);
    free_scripts();
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_restore_version1),
        cmocka_unit_test(test_restore_version2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
