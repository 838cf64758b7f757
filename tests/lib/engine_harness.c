/*
 * engine_harness.c - in-process test connectors (see engine_harness.h).
 */
#include "engine_harness.h"

#include "batch.h"
#include "common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static eh_feed_fn g_feed;
static eh_commit_fn g_commit;

typedef struct eh_src {
    sl_engine *engine;
    pthread_t thread;
} eh_src;

void eh_source_set(eh_feed_fn feed, eh_commit_fn commit)
{
    g_feed = feed;
    g_commit = commit;
}

static int src_create(const sl_connector_def *c, const sl_def *d, void **st, char *e, size_t es)
{
    (void)c, (void)d, (void)e, (void)es;
    *st = calloc(1, sizeof(eh_src));
    return *st ? SL_OK : SL_ENOMEM;
}

static int src_lanes(void *st)
{
    (void)st;
    return 1;
}

static void *src_main(void *arg)
{
    eh_src *s = arg;
    g_feed(s->engine, sl_engine_lane(s->engine, 0));
    return NULL;
}

static int src_start(void *st, sl_engine *e, char *err, size_t es)
{
    (void)err, (void)es;
    eh_src *s = st;
    s->engine = e;
    return pthread_create(&s->thread, NULL, src_main, s) == 0 ? SL_OK : SL_EIO;
}

static void src_stop(void *st)
{
    (void)st;
}

static int src_join(void *st)
{
    pthread_join(((eh_src *)st)->thread, NULL);
    return 0;
}

static void src_destroy(void *st)
{
    free(st);
}

static int src_commit(void *st, uint64_t id, const sl_task_offset *offsets, size_t n)
{
    (void)st;
    return g_commit ? g_commit(id, offsets, n) : SL_OK;
}

const sl_source_ops eh_script_source = {.name = "script",
                                        .create = src_create,
                                        .lanes = src_lanes,
                                        .start = src_start,
                                        .stop = src_stop,
                                        .join = src_join,
                                        .destroy = src_destroy,
                                        .commit = src_commit};

void eh_assign(sl_lane *lane, int ntasks, const int64_t *resume_at, uint64_t ckpt)
{
    for (int t = 0; t < ntasks; t++) {
        sl_batch *a = sl_batch_control(SL_MSG_ASSIGN, t, resume_at ? resume_at[t] : 0);
        a->checkpoint_id = ckpt;
        sl_lane_control(lane, t, a);
    }
}

void eh_end(sl_lane *lane, int ntasks)
{
    for (int t = 0; t < ntasks; t++)
        sl_lane_control(lane, t, sl_batch_control(SL_MSG_EOS, t, 0));
    sl_lane_wait(lane);
}

void eh_wait_checkpoint(sl_lane *lane, const uint64_t *ckpt)
{
    for (int i = 0; i < 2000 && *ckpt == 0; i++) {
        sl_lane_flush(lane);
        sl_sleep_us(5000);
    }
}

int eh_sink_create(const sl_connector_def *c, const sl_def *d, void **st, char *errstr,
                   size_t errstr_size)
{
    (void)c, (void)d, (void)errstr, (void)errstr_size;
    *st = NULL;
    return SL_OK;
}

int eh_sink_flush(void *st, int task)
{
    (void)st, (void)task;
    return SL_OK;
}

void eh_sink_destroy(void *st)
{
    (void)st;
}

int eh_sink_marks(const int64_t *marks, uint32_t n, int64_t **out, uint32_t *nout)
{
    *out = malloc((n ? n : 1) * sizeof(**out));
    if (!*out)
        return SL_ENOMEM;
    memcpy(*out, marks, n * sizeof(**out));
    *nout = n;
    return SL_OK;
}

int eh_sink_position(void *st, int32_t task, sl_buf *b)
{
    (void)st;
    sl_buf_put_u32(b, (uint32_t)task);
    return SL_OK;
}
