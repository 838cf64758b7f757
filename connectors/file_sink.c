/*
 * file_sink.c - "type": "file": writes each row of a result (or
 * dead-letter) batch as one JSON line to a file, or to stdout with
 * "path": "-". A file is written through a 1 MiB stdio buffer (stdout keeps
 * its own, line-buffered on a terminal); flush() hands it
 * to the kernel (no fsync: a file sink is not part of the exactly-once
 * contract).
 */
#include "connector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SL__SINK_BUF (1u << 20)

typedef struct sl__file_sink {
    FILE *f;
    int is_stdout;
    char *path;
    char *buf; /* stdio buffer */
} sl__file_sink;

static const sl_opt sl__file_sink_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = 1,
     .help = "JSON-lines file to write; \"-\" writes stdout"},
    {.name = "append",
     .type = SL_OPT_BOOL,
     .help = "append to the file instead of truncating it (default false)"},
    {.name = NULL},
};

static int sl__file_sink_create(const sl_connector_def *conf, const sl_def *def, void **state,
                                char *errstr, size_t errstr_size)
{
    (void)def;
    const char *where = conf->path ? conf->path : "sink";
    const json_t *p = json_object_get(conf->conf, "path");
    const json_t *append = json_object_get(conf->conf, "append");
    if (!json_is_string(p) || json_string_length(p) == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.path: must be a file name, or \"-\" for stdout", where);
    sl__file_sink *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(json_string_value(p))) || !(s->buf = malloc(SL__SINK_BUF))) {
        if (s)
            free(s->path);
        free(s);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    }
    if (strcmp(s->path, "-") == 0) {
        s->f = stdout;
        s->is_stdout = 1;
    } else {
        s->f = fopen(s->path, json_is_true(append) ? "ae" : "we");
        if (!s->f) {
            int err = errno;
            sl_seterr(errstr, errstr_size, SL_EIO, "%s.path: cannot open \"%s\" for writing: %s",
                      where, s->path, strerror(err));
            free(s->buf);
            free(s->path);
            free(s);
            return SL_EIO;
        }
    }
    if (!s->is_stdout) /* stdout keeps its own buffering (it may be in use already) */
        setvbuf(s->f, s->buf, _IOFBF, SL__SINK_BUF);
    *state = s;
    return SL_OK;
}

static int sl__file_sink_write(void *state, const sl_batch *b)
{
    sl__file_sink *s = state;
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t len;
        const char *row = sl_batch_row(b, i, &len);
        if (fwrite(row, 1, len, s->f) != len || putc('\n', s->f) == EOF)
            return SL_EIO;
    }
    return SL_OK;
}

static int sl__file_sink_flush(void *state, int timeout_ms)
{
    (void)timeout_ms;
    sl__file_sink *s = state;
    if (fflush(s->f) != 0 || ferror(s->f))
        return SL_EIO;
    return SL_OK;
}

static void sl__file_sink_destroy(void *state)
{
    sl__file_sink *s = state;
    if (!s)
        return;
    if (s->is_stdout) {
        fflush(s->f);
    } else {
        fclose(s->f);
    }
    free(s->buf);
    free(s->path);
    free(s);
}

const sl_sink_ops sl_sink_file = {
    .name = "file",
    .options = sl__file_sink_options,
    .create = sl__file_sink_create,
    .write = sl__file_sink_write,
    .flush = sl__file_sink_flush,
    .destroy = sl__file_sink_destroy,
};
