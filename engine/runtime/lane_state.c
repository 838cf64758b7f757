/*
 * lane_state.c - a task's source state (dedup positions of a repartitioned
 * stream, the watermarks and positions of a merged task's inputs): its
 * format inside a task snapshot, written at each barrier and read back
 * when the task is assigned from a checkpoint (lane.c).
 *
 * @locality: the lane's source thread, like lane.c; the sink thread reads
 * input positions out of a snapshot (sl__source_state_input_offsets).
 */
#include "engine_internal.h"
#include "task_snapshot.h"
#include "log.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * Source state of a task, carried by its barriers into the task snapshot
 * (the worker stores it as an opaque blob; the lane reads it back on
 * ASSIGN). Format, little-endian:
 *   version 3: version 2's fields, then
 *              u32 k, i64 next[k]        position of each input after its
 *                                        last record before the barrier, -1
 *                                        unknown (co-partitioned topics: one
 *                                        per topic; k = 0 for other tasks)
 *   version 2: u32 SL__SOURCE_STATE_MAGIC, u32 2,
 *              u32 n, i64 dedup[n]       highest source offset taken per
 *                                        upstream task, -1 none
 *              u32 m, {i64 wm, u8 idle}[m]  latest watermark of each input
 *              i64 sent, u8 idle_sent    last watermark sent to the worker
 *   version 1 (older builds): u32 n, i64 dedup[n]; loads with no input
 *              watermarks (they are published again within
 *              watermark.emit_interval; the window's own watermark is in
 *              the window state, so nothing moves backwards).
 */
#define SL__SOURCE_STATE_MAGIC   0x534c5353u /* "SLSS" as a number; bytes "SSLS" */
#define SL__SOURCE_STATE_VERSION 3u

void sl__lane_source_state(const sl_lane *l, int32_t task, sl_buf *st)
{
    const sl__dedup *d = &l->dedup[task];
    const sl__inputs *in = &l->inputs[task];
    sl_buf_put_u32(st, SL__SOURCE_STATE_MAGIC);
    sl_buf_put_u32(st, SL__SOURCE_STATE_VERSION);
    sl_buf_put_u32(st, (uint32_t)d->n);
    for (size_t k = 0; k < d->n; k++)
        sl_buf_put_i64(st, d->max[k]);
    sl_buf_put_u32(st, (uint32_t)in->n);
    for (size_t k = 0; k < in->n; k++) {
        sl_buf_put_i64(st, in->wm[k]);
        sl_buf_put_u8(st, in->idle[k]);
    }
    sl_buf_put_i64(st, in->sent);
    sl_buf_put_u8(st, (uint8_t)in->idle_sent);
    size_t k = in->next ? in->n : 0;
    sl_buf_put_u32(st, (uint32_t)k);
    for (size_t i = 0; i < k; i++)
        sl_buf_put_i64(st, in->next[i]);
}

/* Grows a task's input table to `n` inputs (new ones: nothing published,
 * not idle). */
void sl__inputs_grow(sl__inputs *in, size_t n)
{
    if (n <= in->n)
        return;
    in->wm = sl_xrealloc(in->wm, n * sizeof(*in->wm));
    in->idle = sl_xrealloc(in->idle, n * sizeof(*in->idle));
    in->next = sl_xrealloc(in->next, n * sizeof(*in->next));
    for (size_t i = in->n; i < n; i++) {
        in->wm[i] = INT64_MIN;
        in->idle[i] = 0;
        in->next[i] = -1;
    }
    in->n = n;
}

void sl__inputs_free(sl__inputs *in)
{
    free(in->wm);
    free(in->idle);
    free(in->next);
    memset(in, 0, sizeof(*in));
    in->sent = INT64_MIN;
}

/* Decodes a source-state blob (any version) into *max / *count (dedup
 * positions, malloc'ed) and *in. Returns 0 or SL_ECORRUPT (nothing to
 * free then). */
static int sl__source_state_decode(const uint8_t *st, uint32_t len, int64_t **max_out,
                                   uint32_t *count_out, sl__inputs *in_out)
{
    sl_reader r;
    sl_reader_init(&r, st, len);
    uint32_t first = sl_read_u32(&r);
    int v2 = first == SL__SOURCE_STATE_MAGIC;
    uint32_t version = v2 ? sl_read_u32(&r) : 1;
    if (v2 && version != 2 && version != SL__SOURCE_STATE_VERSION)
        return SL_ECORRUPT;
    uint32_t count = v2 ? sl_read_u32(&r) : first;
    if (r.failed || count > len / 8)
        return SL_ECORRUPT;
    int64_t *max = sl_xcalloc(count ? count : 1, sizeof(*max));
    for (uint32_t i = 0; i < count; i++)
        max[i] = sl_read_i64(&r);
    sl__inputs in;
    memset(&in, 0, sizeof(in));
    in.sent = INT64_MIN;
    if (v2) {
        uint32_t m = sl_read_u32(&r);
        if (r.failed || m > len / 9) {
            free(max);
            return SL_ECORRUPT;
        }
        sl__inputs_grow(&in, m);
        for (uint32_t i = 0; i < m; i++) {
            in.wm[i] = sl_read_i64(&r);
            in.idle[i] = sl_read_u8(&r) != 0;
        }
        in.sent = sl_read_i64(&r);
        in.idle_sent = sl_read_u8(&r) != 0;
    }
    if (version >= 3) {
        uint32_t k = sl_read_u32(&r);
        if (r.failed || k != (k ? in.n : 0)) {
            free(max);
            sl__inputs_free(&in);
            return SL_ECORRUPT;
        }
        for (uint32_t i = 0; i < k; i++)
            in.next[i] = sl_read_i64(&r);
    }
    if (r.failed || !sl_reader_done(&r)) {
        free(max);
        sl__inputs_free(&in);
        return SL_ECORRUPT;
    }
    *max_out = max;
    *count_out = count;
    *in_out = in;
    return SL_OK;
}

size_t sl__source_state_input_offsets(const uint8_t *st, uint32_t len, int64_t *out, size_t cap)
{
    int64_t *max = NULL;
    uint32_t count = 0;
    sl__inputs in;
    if (!st || !len || sl__source_state_decode(st, len, &max, &count, &in) != SL_OK)
        return 0;
    size_t n = 0;
    if (in.next && in.n <= cap) {
        for (n = 0; n < in.n; n++)
            out[n] = in.next[n];
    }
    free(max);
    sl__inputs_free(&in);
    return n;
}

/* Parses a source-state blob (any version) into the task's dedup
 * positions, input watermarks and input positions. Returns 0 or
 * SL_ECORRUPT (nothing changed). */
static int sl__lane_parse_source_state(sl_lane *l, int32_t task, const uint8_t *st, uint32_t len)
{
    int64_t *max = NULL;
    uint32_t count = 0;
    sl__inputs in;
    if (sl__source_state_decode(st, len, &max, &count, &in) != SL_OK)
        return SL_ECORRUPT;
    sl__dedup *d = &l->dedup[task];
    free(d->max);
    d->max = max;
    d->n = count;
    sl__inputs_free(&l->inputs[task]);
    l->inputs[task] = in;
    return SL_OK;
}

/* On assignment from checkpoint n: loads and parses the task's checkpoint
 * (once: it travels to the worker with the ASSIGN message, which restores
 * the rest of the task from it); the task's dedup positions and input
 * watermarks come back from it here. A checkpoint that cannot be loaded or
 * read fails the engine: with no dedup positions, replayed records would
 * be counted twice. */
void sl__lane_restore_source_state(sl_lane *l, sl_batch *ctl)
{
    int32_t task = ctl->task;
    uint64_t n = ctl->checkpoint_id;
    sl__dedup *d = &l->dedup[task];
    free(d->max);
    d->max = NULL;
    d->n = 0;
    sl__inputs_free(&l->inputs[task]);
    sl_engine *e = l->engine;
    if (!n || !e->checkpointer || e->def->checkpoint.off)
        return;
    sl_task_loaded *ld = sl_xcalloc(1, sizeof(*ld));
    char err[512] = "";
    int rc = sl_checkpointer_load(e->checkpointer, task, n, sl_batch_assign_origin(ctl),
                                  &ld->stored, &ld->len, err, sizeof(err));
    if (rc != SL_OK) {
        sl_error("checkpoint", "task %d: cannot load checkpoint %" PRIu64 ": %s", task, n, err);
    } else if ((rc = sl_task_image_parse(ld->stored, ld->len, &ld->img, err, sizeof(err))) !=
               SL_OK) {
        sl_error("checkpoint", "task %d: checkpoint %" PRIu64 " refused: %s", task, n, err);
    } else if (ld->img.task != task) {
        rc = SL_ECORRUPT;
        sl_error("checkpoint", "task %d: checkpoint %" PRIu64 " refused: it is task %d's", task, n,
                 ld->img.task);
    } else if (ld->img.source_len &&
               sl__lane_parse_source_state(l, task, ld->img.source, ld->img.source_len) != SL_OK) {
        rc = SL_ECORRUPT;
        sl_error("checkpoint",
                 "task %d: checkpoint %" PRIu64
                 ": source state (dedup positions, input watermarks) unreadable: %u bytes of an "
                 "unknown format",
                 task, n, ld->img.source_len);
    }
    if (rc != SL_OK) {
        sl_task_loaded_free(ld);
        atomic_store(&e->failed, 1);
        return; /* the worker sees no checkpoint attached and drops the task */
    }
    ctl->attach = ld;
    ctl->attach_free = sl_task_loaded_free;
}
