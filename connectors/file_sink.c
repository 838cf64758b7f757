/*
 * file_sink.c - "type": "file": writes each row of a result (or
 * dead-letter) batch as one JSON line to a file, or to stdout with
 * "path": "-". A file is written through a 1 MiB stdio buffer (stdout keeps
 * its own, line-buffered on a terminal); flush() hands it
 * to the kernel (no fsync: a file sink is not part of the exactly-once
 * contract).
 *
 * The file is opened (and truncated, unless "append") only by open(),
 * which the engine calls once every start step succeeded, or by the first
 * write: a run that fails to start leaves the previous output untouched.
 * create() only checks that the file could be opened for writing, without
 * changing it.
 *
 * "emit": "upsert" (definition.h) writes the results as a changelog, one
 * operation a line:
 *   {"op":"upsert",<the result's members>}            a result: replaces
 *        the record keyed by its key fields and window_start
 *   {"op":"delete","key":{<key fields>},"window_start":S}   a tombstone:
 *        removes the record of those key fields and window_start
 * ("key" is {} without key_by). Dead letters are always written as they
 * are.
 */
#include "connector.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SL__SINK_BUF (1u << 20)

typedef struct sl__file_sink {
    FILE *f;
    _Atomic int opened; /* f is set; written once, under mu */
    pthread_mutex_t mu;
    int append;
    int upsert;          /* "emit": "upsert": changelog lines (see the top) */
    uint64_t tombstones; /* delete lines written (sink thread) */
    char where[64];
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

/* Whether `path` could be opened for writing without touching it: the
 * file is writable, or it does not exist and its directory is. Sets errno
 * when not. */
static int sl__file_sink_writable(const char *path)
{
    if (access(path, W_OK) == 0)
        return 1;
    if (errno != ENOENT)
        return 0;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return access(".", W_OK) == 0;
    if (slash == path)
        return access("/", W_OK) == 0;
    char *dir = strndup(path, (size_t)(slash - path));
    int ok = dir && access(dir, W_OK) == 0;
    free(dir);
    return ok;
}

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
    s->append = json_is_true(append);
    s->upsert = conf->emit == SL_EMIT_UPSERT;
    snprintf(s->where, sizeof(s->where), "%s", where);
    pthread_mutex_init(&s->mu, NULL);
    if (strcmp(s->path, "-") == 0) {
        s->is_stdout = 1;
    } else if (!sl__file_sink_writable(s->path)) {
        int err = errno;
        sl_seterr(errstr, errstr_size, SL_EIO, "%s.path: cannot open \"%s\" for writing: %s", where,
                  s->path, strerror(err));
        pthread_mutex_destroy(&s->mu);
        free(s->buf);
        free(s->path);
        free(s);
        return SL_EIO;
    }
    *state = s;
    return SL_OK;
}

/* Opens (truncating unless "append") the output once. Any thread. */
static int sl__file_sink_open(void *state, char *errstr, size_t errstr_size)
{
    sl__file_sink *s = state;
    int rc = SL_OK;
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->opened)) {
        if (s->is_stdout) {
            s->f = stdout; /* stdout keeps its own buffering (it may be in use already) */
        } else if (!(s->f = fopen(s->path, s->append ? "ae" : "we"))) {
            rc = sl_seterr(errstr, errstr_size, SL_EIO,
                           "%s.path: cannot open \"%s\" for writing: %s", s->where, s->path,
                           strerror(errno));
        } else {
            setvbuf(s->f, s->buf, _IOFBF, SL__SINK_BUF);
        }
        if (rc == SL_OK)
            atomic_store(&s->opened, 1);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Upsert mode: one changelog line for result row i (see the top). The
 * key is {<key fields>,"window_start":S} (or {"window_start":S}): the
 * window writes window_start last, and a key field's text cannot hold
 * that member unescaped, so the last occurrence splits it. */
static int sl__file_sink_change(sl__file_sink *s, const sl_batch *b, uint32_t i)
{
    uint32_t klen, len;
    const char *key = sl_batch_key(b, i, &klen);
    const char *row = sl_batch_row(b, i, &len);
    FILE *f = s->f;
    if (len) { /* {"op":"upsert",...}: the row's members after the op */
        int empty = len == 2;
        if (fputs(empty ? "{\"op\":\"upsert\"" : "{\"op\":\"upsert\",", f) == EOF ||
            fwrite(row + 1, 1, len - 1, f) != len - 1 || putc('\n', f) == EOF)
            return SL_EIO;
        return SL_OK;
    }
    static const char ws[] = "\"window_start\":";
    const char *at = NULL;
    for (const char *p = key; klen >= sizeof(ws) && p <= key + klen - (sizeof(ws) - 1); p++)
        if (memcmp(p, ws, sizeof(ws) - 1) == 0)
            at = p;
    if (!at || at == key || key[klen - 1] != '}')
        return SL_EINVAL;                   /* not an upsert key: cannot happen */
    size_t fields = (size_t)(at - key - 1); /* between '{' and window_start */
    if (fields)
        fields--; /* the ',' before window_start */
    const char *start = at + sizeof(ws) - 1;
    size_t slen = (size_t)(key + klen - 1 - start);
    if (fputs("{\"op\":\"delete\",\"key\":{", f) == EOF ||
        fwrite(key + 1, 1, fields, f) != fields || fputs("},\"window_start\":", f) == EOF ||
        fwrite(start, 1, slen, f) != slen || fputs("}\n", f) == EOF)
        return SL_EIO;
    s->tombstones++;
    return SL_OK;
}

static int sl__file_sink_write(void *state, const sl_batch *b)
{
    sl__file_sink *s = state;
    if (!atomic_load_explicit(&s->opened, memory_order_acquire) &&
        sl__file_sink_open(s, NULL, 0) != SL_OK)
        return SL_EIO;
    if (s->upsert && b->kind == SL_MSG_RESULTS) {
        for (uint32_t i = 0; i < b->count; i++) {
            int rc = sl__file_sink_change(s, b, i);
            if (rc != SL_OK)
                return rc;
        }
        return SL_OK;
    }
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
    if (!atomic_load_explicit(&s->opened, memory_order_acquire))
        return SL_OK; /* nothing written, nothing to hand over */
    if (fflush(s->f) != 0 || ferror(s->f))
        return SL_EIO;
    return SL_OK;
}

static void sl__file_sink_destroy(void *state)
{
    sl__file_sink *s = state;
    if (!s)
        return;
    if (atomic_load(&s->opened)) {
        if (s->is_stdout)
            fflush(s->f);
        else
            fclose(s->f);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s->path);
    free(s);
}

/* The file name must not be empty (validate rejects what run would). */
static int sl__file_sink_check(const sl_connector_def *conf, const sl_def *def, char *errstr,
                               size_t errstr_size)
{
    (void)def;
    const json_t *p = json_object_get(conf->conf, "path");
    if (!json_is_string(p) || json_string_length(p) == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.path: must be a file name, or \"-\" for stdout",
                         conf->path ? conf->path : "sink");
    return SL_OK;
}

const sl_sink_ops sl_sink_file = {
    .name = "file",
    .options = sl__file_sink_options,
    .create = sl__file_sink_create,
    .check = sl__file_sink_check,
    .open = sl__file_sink_open,
    .write = sl__file_sink_write,
    .flush = sl__file_sink_flush,
    .destroy = sl__file_sink_destroy,
};
