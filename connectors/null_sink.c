/* null_sink.c - "type": "null": discards results (benchmarks, dry runs). */
#include "connector.h"

#include <stdlib.h>

static const sl_opt sl__null_options[] = {{.name = NULL}};

static int sl__null_create(const sl_connector_def *conf, const sl_def *def, void **state,
                           char *errstr, size_t errstr_size)
{
    (void)conf;
    (void)def;
    (void)errstr;
    (void)errstr_size;
    *state = NULL;
    return SL_OK;
}

static int sl__null_write(void *state, const sl_batch *batch)
{
    (void)state;
    (void)batch;
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
    (void)state;
}

const sl_sink_ops sl_sink_null = {
    .name = "null",
    .options = sl__null_options,
    .create = sl__null_create,
    .write = sl__null_write,
    .flush = sl__null_flush,
    .destroy = sl__null_destroy,
};
