/*
 * null_sink.c - "type": "null": discards results (benchmarks, dry runs).
 * It cannot express deletes: in upsert mode it counts the tombstones (empty
 * rows, batch.h) it discards, like everything else.
 */
#include "connector.h"

#include <stdlib.h>

typedef struct sl__null_sink {
    uint64_t rows, tombstones; /* sink thread */
} sl__null_sink;

static const sl_opt sl__null_options[] = {{.name = NULL}};

static int sl__null_create(const sl_connector_def *conf, const sl_def *def, void **state,
                           char *errstr, size_t errstr_size)
{
    (void)conf;
    (void)def;
    sl__null_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    *state = s;
    return SL_OK;
}

static int sl__null_write(void *state, const sl_batch *batch)
{
    sl__null_sink *s = state;
    s->rows += batch->count;
    if (batch->kind == SL_MSG_RESULTS)
        for (uint32_t i = 0; i < batch->count; i++)
            s->tombstones += batch->row_len[i] == 0;
    return SL_OK;
}

static int sl__null_flush(void *state, int timeout_ms)
{
    (void)state;
    (void)timeout_ms;
    return SL_OK;
}

static void sl__null_destroy(void *state)
{
    free(state);
}

const sl_sink_ops sl_sink_null = {
    .name = "null",
    .options = sl__null_options,
    .create = sl__null_create,
    .write = sl__null_write,
    .flush = sl__null_flush,
    .destroy = sl__null_destroy,
};
