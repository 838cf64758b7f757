/*
 * window_op.c - the window stage's runtime side: one sl_window_task per
 * task (window.c), driven through the operator vtable (operator.h). Event
 * batches in; result batches out, in the window's canonical firing order,
 * handed on whenever SL__WOP_ROWS results are ready and at the end of every
 * call.
 *
 * @locality: one instance per task, used by one worker thread at a time.
 */
#include "op_internal.h"
#include "window.h"

#include <stdlib.h>

#define SL__WOP_ROWS 1024

typedef struct sl__wop {
    sl_window_task *task;
    sl_batch *results;    /* being filled, handed on by sl__wop_flush */
    const sl_op_out *out; /* during a call */
    sl_emitter em;
} sl__wop;

static void sl__wop_flush(sl__wop *w)
{
    if (w->results->count && w->out) {
        w->out->emit(w->out->ctx, w->results);
        sl_batch_reset(w->results);
    }
}

static void sl__wop_result(void *ctx, const char *key, size_t key_len, const char *value,
                           size_t value_len, int64_t ts, int update)
{
    sl__wop *w = ctx;
    if (sl_batch_add_result(w->results, key, key_len, value, value_len, ts, update) != SL_OK) {
        sl__wop_flush(w); /* full (or its arena is): hand on and retry once */
        if (sl_batch_add_result(w->results, key, key_len, value, value_len, ts, update) != SL_OK)
            abort(); /* one result larger than 4 GiB: cannot happen */
    }
    if (w->results->count == w->results->capacity)
        sl__wop_flush(w);
}

static void sl__wop_late(void *ctx, const sl_batch *in, uint32_t row, int64_t watermark)
{
    sl__wop *w = ctx;
    if (w->out && w->out->late)
        w->out->late(w->out->ctx, in, row, watermark);
}

static void *sl__wop_open(const sl_stage *stage, const sl_op_env *env, char *errstr,
                          size_t errstr_size)
{
    sl__wop *w = calloc(1, sizeof(*w));
    if (w)
        w->task = sl_window_task_new(&stage->u.window, &env->def->watermark);
    if (w && w->task)
        w->results = sl_batch_new(SL_MSG_RESULTS, env->task, SL__WOP_ROWS, 0);
    if (!w || !w->task || !w->results) {
        if (w) {
            sl_window_task_free(w->task);
            free(w);
        }
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", stage->path);
        return NULL;
    }
    if (env->external_watermark)
        sl_window_task_set_external_watermark(w->task, 1);
    if (env->def && env->def->sink.emit == SL_EMIT_UPSERT)
        sl_window_task_set_upsert(w->task, 1);
    w->em = (sl_emitter){.result = sl__wop_result, .late = sl__wop_late, .ctx = w};
    return w;
}

static void sl__wop_process(void *op, const sl_batch *in, const sl_op_out *out)
{
    sl__wop *w = op;
    w->out = out;
    sl_window_task_process(w->task, in, &w->em);
    sl__wop_flush(w);
    w->out = NULL;
}

static void sl__wop_watermark(void *op, int64_t watermark, const sl_op_out *out)
{
    sl__wop *w = op;
    w->out = out;
    sl_window_task_advance(w->task, watermark, &w->em);
    sl__wop_flush(w);
    w->out = NULL;
}

static void sl__wop_finish(void *op, const sl_op_out *out)
{
    sl__wop *w = op;
    w->out = out;
    sl_window_task_close(w->task, &w->em);
    sl__wop_flush(w);
    w->out = NULL;
}

static int sl__wop_snapshot(const void *op, sl_buf *out)
{
    const sl__wop *w = op;
    return sl_window_task_snapshot(w->task, out);
}

static int sl__wop_restore(void *op, sl_reader *in, char *errstr, size_t errstr_size)
{
    sl__wop *w = op;
    return sl_window_task_restore(w->task, in, errstr, errstr_size);
}

static void sl__wop_stats(const void *op, sl_op_stats *out)
{
    const sl__wop *w = op;
    out->state_bytes = sl_window_task_state_bytes(w->task);
    out->keys = sl_window_task_keys(w->task);
    out->refused = sl_window_task_refused(w->task);
    out->watermark = sl_window_task_watermark(w->task);
    out->max_ts = sl_window_task_max_ts(w->task);
    out->has_clock = 1;
}

static void sl__wop_refuse(void *op, int on)
{
    sl__wop *w = op;
    sl_window_task_refuse_new_keys(w->task, on);
}

static void sl__wop_close(void *op)
{
    sl__wop *w = op;
    if (!w)
        return;
    sl_window_task_free(w->task);
    sl_batch_free(w->results);
    free(w);
}

const sl_operator_ops sl_op_window = {
    .name = "window",
    .init = sl__window_init,
    .explain = sl__window_explain,
    .destroy = sl__window_destroy,
    .open = sl__wop_open,
    .process = sl__wop_process,
    .watermark = sl__wop_watermark,
    .finish = sl__wop_finish,
    .snapshot = sl__wop_snapshot,
    .restore = sl__wop_restore,
    .stats = sl__wop_stats,
    .refuse_new_keys = sl__wop_refuse,
    .close = sl__wop_close,
};
