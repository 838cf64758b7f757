/*
 * worker_checkpoint.c - the checkpoint side of a worker's tasks: the task
 * snapshot at a barrier (or, with "checkpoint": "off", the commit-only
 * decision), the restore of a task from its checkpoint, and ASSIGN, which
 * (re)creates a task, restores it and runs the sink's output scan whose
 * marks (merged per output partition) drive rule 1 of worker.c.
 *
 * @locality: runs on the worker's own thread.
 */
#include "engine_internal.h"
#include "chain.h"
#include "task_snapshot.h"
#include "log.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Merges the marks (one per output partition) of a snapshot or a scan. */
static void sl__suppress_merge(sl__task *t, const int64_t *marks, uint32_t n)
{
    if (n > t->nsuppress) {
        t->suppress = sl_xrealloc(t->suppress, (size_t)n * sizeof(*t->suppress));
        for (uint32_t p = t->nsuppress; p < n; p++)
            t->suppress[p] = -1;
        t->nsuppress = n;
    }
    for (uint32_t p = 0; p < n; p++) {
        if (marks[p] > t->suppress[p])
            t->suppress[p] = marks[p];
        if (marks[p] > t->suppress_max)
            t->suppress_max = marks[p];
    }
}

/* Task state at a barrier: sequence, window state and held results. The
 * sink thread wraps it with the sink's position (engine.c). */
void sl__task_snapshot(sl__worker *w, sl__task *t, const sl_batch *barrier)
{
    sl_buf buf;
    sl_buf_init(&buf);
    int64_t next_offset = barrier->value;
    if (w->engine->def->checkpoint.off) {
        /* Commit-only round (checkpoint.c): the input before the barrier
         * is committable only if every result it leads to is out, i.e. no
         * window state is open; nothing is serialized. */
        sl_op_stats st;
        sl_chain_stats(t->chain, &st);
        if (st.keys > 0 || t->nheld)
            next_offset = -1;
        goto forward;
    }
    sl_task_image img = {.task = t->id,
                         .checkpoint_id = barrier->checkpoint_id,
                         .next_offset = barrier->value,
                         .next_seq = t->next_seq,
                         .closed = t->closed,
                         .has_chain = t->chain != NULL,
                         .source = (const uint8_t *)barrier->bytes,
                         .source_len = (uint32_t)barrier->bytes_len,
                         .nheld = t->nheld,
                         .suppress_floor = t->suppress_floor,
                         .marks = t->suppress,
                         .nmarks = t->nsuppress};
    sl_task_image_begin(&buf, &img);
    if (t->chain && sl_chain_snapshot(t->chain, &buf) != SL_OK)
        buf.failed = 1;
    img.held = sl_xcalloc(t->nheld + 1, sizeof(*img.held));
    for (size_t i = 0; i < t->nheld; i++)
        img.held[i] = (sl_task_held){.key = t->held[i].key,
                                     .key_len = t->held[i].key_len,
                                     .value = t->held[i].value,
                                     .value_len = t->held[i].value_len,
                                     .ts = t->held[i].ts,
                                     .seq = t->held[i].seq};
    sl_task_image_end(&buf, &img);
    free(img.held);
    if (buf.failed) {
        sl_error("checkpoint", "task %d: out of memory serializing checkpoint %" PRIu64, t->id,
                 barrier->checkpoint_id);
        atomic_store(&w->engine->failed, 1);
        sl_buf_free(&buf);
        return;
    }
forward:
    /* Results held since the last barrier wait for this checkpoint. */
    t->holding = 0;
    for (size_t i = 0; i < t->nheld; i++)
        if (t->held[i].release_at == 0)
            t->held[i].release_at = barrier->checkpoint_id;
    sl_batch *out = sl_batch_control(SL_MSG_BARRIER, t->id, next_offset);
    if (!out) {
        atomic_store(&w->engine->failed, 1);
        sl_buf_free(&buf);
        return;
    }
    out->checkpoint_id = barrier->checkpoint_id;
    out->bytes = (char *)buf.data; /* moves the snapshot into the message */
    out->bytes_len = out->bytes_cap = buf.len;
    sl__worker_flush_results(w); /* results before the barrier go first */
    sl__push_blocking(w->engine, w->out, out, &w->room);
}

/* Restores t (as created) from its parsed checkpoint. Returns 0 or an
 * error with errstr; on error t is to be removed. */
static int sl__task_restore(sl__worker *w, sl__task *t, const sl_task_image *img, char *errstr,
                            size_t errstr_size)
{
    if (img->has_chain != (t->chain != NULL))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "task snapshot does not match task %d",
                         t->id);
    if (img->has_chain) {
        /* A task whose input ended fired every window and holds a final
         * watermark: a later run over the grown input starts it afresh
         * (its sections are still checked, into a chain thrown away). */
        sl_chain *into = t->chain;
        if (img->closed) {
            sl_op_env env = {.def = w->engine->def, .task = t->id};
            if (sl_chain_open(w->engine->def, &env, &into, errstr, errstr_size) != SL_OK)
                return SL_ENOMEM;
        }
        int rc = sl_chain_restore(into, img->sections, img->nsections, errstr, errstr_size);
        if (img->closed)
            sl_chain_free(into);
        if (rc != SL_OK)
            return rc;
    }
    for (size_t i = 0; i < img->nheld; i++) {
        const sl_task_held *h = &img->held[i];
        sl__task_hold(w, t, h->key, h->key_len, h->value, h->value_len, h->ts, h->seq);
    }
    t->next_seq = img->next_seq;
    t->suppress_floor = img->suppress_floor;
    if (t->suppress_floor > t->suppress_max)
        t->suppress_max = t->suppress_floor;
    sl__suppress_merge(t, img->marks, img->nmarks);
    t->closed = 0; /* see above: an ended input resumes as a new stream */
    return SL_OK;
}

/* ASSIGN: (re)creates the task; restores it from checkpoint n if given,
 * then finds what it already wrote (exactly-once output scan). */
void sl__task_assign(sl__worker *w, int lane, const sl_batch *msg)
{
    sl_engine *e = w->engine;
    sl__task_remove(w, msg->task);
    sl__task *t = sl__task_create(w, msg->task, lane);
    if (msg->flags & SL_CTL_MERGED) {
        /* Several inputs: the lane sends the minimum of their watermarks. */
        t->merged = 1;
        sl__task_open_chain(w, t, 1);
    }
    t->hold_all = (msg->flags & SL_CTL_UNORDERED) && e->checkpointer && !e->def->checkpoint.off;
    char err[512] = "";
    const uint8_t *sink_pos = NULL;
    uint32_t sink_pos_len = 0;
    if (msg->checkpoint_id && e->checkpointer && !e->def->checkpoint.off) {
        /* The lane loaded and parsed it (and said why if it could not). */
        const sl_task_loaded *ld = msg->attach;
        if (!ld) {
            sl__task_remove(w, msg->task);
            atomic_store(&e->failed, 1);
            return;
        }
        sink_pos = ld->img.sink_pos;
        sink_pos_len = ld->img.sink_pos_len;
        int rc = sl__task_restore(w, t, &ld->img, err, sizeof(err));
        if (rc != SL_OK) {
            sl_error("checkpoint", "task %d: checkpoint %" PRIu64 " refused: %s", msg->task,
                     msg->checkpoint_id, err[0] ? err : "malformed");
            sl__task_remove(w, msg->task);
            atomic_store(&e->failed, 1);
            return;
        }
        sl_info("checkpoint",
                "task %d restored from checkpoint %" PRIu64 " (next seq %" PRIu64
                ", %zu held results)",
                t->id, msg->checkpoint_id, t->next_seq, t->nheld);
    }
    if (e->def->checkpoint.enabled && e->def->checkpoint.guarantee == SL_EXACTLY_ONCE &&
        e->sink_ops->recover) {
        int64_t *marks = NULL;
        uint32_t nmarks = 0;
        int rc = e->sink_ops->recover(e->sink, t->id, sink_pos, sink_pos_len, &marks, &nmarks, err,
                                      sizeof(err));
        if (rc != SL_OK) {
            sl_error("checkpoint", "task %d: output scan failed: %s", t->id, err);
            atomic_store(&e->failed, 1);
        } else if (nmarks > 1 && !e->sink_ops->partition_of) {
            /* cannot tell partitions apart: the maximum is all there is */
            int64_t m = -1;
            for (uint32_t p = 0; p < nmarks; p++)
                m = marks[p] > m ? marks[p] : m;
            sl__suppress_merge(t, &m, 1);
        } else {
            sl__suppress_merge(t, marks, nmarks);
        }
        free(marks);
        if (t->suppress_max >= 0 && t->suppress_max >= (int64_t)t->next_seq)
            sl_info("checkpoint",
                    "task %d: results up to sequence %" PRId64
                    " were already written (in at least one of %u output partitions);"
                    " suppressing their replay where their partition has them",
                    t->id, t->suppress_max, t->nsuppress);
    }
    /* Held results of a restored snapshot belong to durable state. */
    for (size_t i = 0; i < t->nheld; i++)
        t->held[i].release_at = msg->checkpoint_id;
    sl__task_release_held(w, t, msg->checkpoint_id);
    /* The restore and its output scan can take seconds, during which this
     * worker read no input for any of its tasks: that quiet was the
     * worker's, not their sources', and must not count toward idle_timeout
     * (it advanced watermarks past backlogs and dropped their events). */
    w->stall_end_ns = sl_mono_ns();
}
