/*
 * file_source.c - "type": "file": JSON lines from a file, or stdin with
 * "path": "-".
 *
 * One lane, one thread. The thread reads big blocks, splits them into
 * lines and hands each line to sl_lane_ingest (task -1: routed by key
 * hash; offset = line number, from 1). Empty lines are skipped; a
 * trailing '\r' is dropped. A line longer than SL_MAX_EVENT_BYTES is
 * handed over as its first SL_MAX_EVENT_BYTES + 1 bytes, which the decoder
 * rejects as too_large, and the rest of it is skipped; memory stays
 * bounded whatever the input. At end of file: flush, then end of stream
 * for every task. On stop (SIGTERM) it flushes and returns without end of
 * stream. Pipes and terminals are polled so a stop request is noticed and
 * pending events are flushed while the input is idle.
 */
#include "connector.h"

#include "engine.h"
#include "json_scan.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SL__FILE_BUF     (4u << 20) /* read buffer: > 2 lines of the maximum size */
#define SL__FLUSH_NS     (100 * 1000000LL)
#define SL__IDLE_POLL_MS 100

typedef struct sl__file_source {
    char *path;
    int fd;
    int is_regular;
    sl_engine *engine;
    pthread_t thread;
    int started;
    atomic_int stop;
    int failed;
    _Atomic uint64_t lines, bytes;
} sl__file_source;

static const sl_opt sl__file_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = 1,
     .help = "JSON-lines file to read; \"-\" reads stdin"},
    {.name = NULL},
};

static int sl__file_create(const sl_connector_def *conf, const sl_def *def, void **state,
                           char *errstr, size_t errstr_size)
{
    (void)def;
    const char *where = conf->path ? conf->path : "source";
    const json_t *p = json_object_get(conf->conf, "path");
    if (!json_is_string(p) || json_string_length(p) == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.path: must be a file name, or \"-\" for stdin", where);
    sl__file_source *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    s->path = strdup(json_string_value(p));
    if (!s->path) {
        free(s);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    }
    if (strcmp(s->path, "-") == 0) {
        s->fd = STDIN_FILENO;
    } else {
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            int err = errno;
            sl_seterr(errstr, errstr_size, SL_EIO, "%s.path: cannot open \"%s\": %s", where,
                      s->path, strerror(err));
            free(s->path);
            free(s);
            return SL_EIO;
        }
    }
    struct stat st;
    s->is_regular = fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode);
    *state = s;
    return SL_OK;
}

static int sl__file_lanes(void *state)
{
    (void)state;
    return 1;
}

static int sl__file_stopping(sl__file_source *s)
{
    return atomic_load_explicit(&s->stop, memory_order_relaxed) || sl_engine_stopping(s->engine);
}

/* Hands one line to the lane. Returns 0, or -1 when the engine failed. */
static int sl__file_line(sl__file_source *s, sl_lane *lane, const char *line, size_t len,
                         int64_t line_no)
{
    if (len > SL_MAX_EVENT_BYTES)
        len = (size_t)SL_MAX_EVENT_BYTES + 1; /* rejected as too_large; no need for more */
    else if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    int rc = sl_lane_ingest(lane, -1, line, len, line_no, -1);
    if (rc == SL_EAGAIN) {
        sl_lane_wait(lane);
    } else if (rc != SL_OK) {
        sl_error("file", "cannot hand events to the engine: %s", sl_err2str(rc));
        s->failed = 1;
        return -1;
    }
    return 0;
}

static void sl__file_flush(sl_lane *lane)
{
    if (sl_lane_flush(lane) == SL_EAGAIN)
        sl_lane_wait(lane);
}

static void *sl__file_main(void *arg)
{
    sl__file_source *s = arg;
    sl_lane *lane = sl_engine_lane(s->engine, 0);
    char *buf = malloc(SL__FILE_BUF);
    size_t have = 0;
    int64_t line_no = 0, last_flush = sl_mono_ns();
    uint64_t bytes = 0;
    int skipping = 0, eof = 0;
    if (!buf) {
        sl_error("file", "out of memory");
        s->failed = 1;
        return NULL;
    }
    while (!eof) {
        if (sl__file_stopping(s))
            break;
        if (!s->is_regular) {
            struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
            int pr = poll(&pfd, 1, SL__IDLE_POLL_MS);
            if (pr == 0) {
                sl__file_flush(lane); /* the input is idle: deliver what we have */
                last_flush = sl_mono_ns();
                continue;
            }
            if (pr < 0 && errno != EINTR) {
                sl_error("file", "cannot poll %s: %s", s->path, strerror(errno));
                s->failed = 1;
                break;
            }
            if (pr < 0)
                continue;
        }
        ssize_t n = read(s->fd, buf + have, SL__FILE_BUF - have);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            sl_error("file", "cannot read %s: %s", s->path, strerror(errno));
            s->failed = 1;
            break;
        }
        if (n == 0) {
            eof = 1;
        } else {
            have += (size_t)n;
            bytes += (uint64_t)n;
        }
        size_t start = 0;
        const char *nl;
        while (start < have && (nl = memchr(buf + start, '\n', have - start)) != NULL) {
            size_t len = (size_t)(nl - (buf + start));
            if (skipping) {
                skipping = 0; /* the end of a too-large line, already counted */
            } else if (sl__file_line(s, lane, buf + start, len, ++line_no) != 0) {
                goto out;
            }
            start += len + 1;
        }
        size_t rest = have - start;
        if (skipping) {
            have = 0; /* still inside a too-large line */
        } else if (rest > SL_MAX_EVENT_BYTES) {
            /* too large: its prefix is rejected by the decoder as such */
            if (sl__file_line(s, lane, buf + start, (size_t)SL_MAX_EVENT_BYTES + 1, ++line_no))
                goto out;
            skipping = 1;
            have = 0;
        } else {
            if (eof && rest > 0 && sl__file_line(s, lane, buf + start, rest, ++line_no))
                goto out;
            memmove(buf, buf + start, rest);
            have = rest;
        }
        atomic_store_explicit(&s->lines, (uint64_t)line_no, memory_order_relaxed);
        atomic_store_explicit(&s->bytes, bytes, memory_order_relaxed);
        int64_t now = sl_mono_ns();
        if (now - last_flush > SL__FLUSH_NS) {
            sl__file_flush(lane); /* lets barriers and status through */
            last_flush = now;
        }
    }
out:
    free(buf);
    atomic_store_explicit(&s->lines, (uint64_t)line_no, memory_order_relaxed);
    atomic_store_explicit(&s->bytes, bytes, memory_order_relaxed);
    sl__file_flush(lane);
    if (eof && !s->failed && sl_lane_control_all(lane, SL_MSG_EOS, 0) == SL_EAGAIN)
        sl_lane_wait(lane);
    return NULL;
}

static int sl__file_start(void *state, sl_engine *engine, char *errstr, size_t errstr_size)
{
    sl__file_source *s = state;
    s->engine = engine;
    if (pthread_create(&s->thread, NULL, sl__file_main, s) != 0)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "cannot start the file source thread");
    s->started = 1;
    return SL_OK;
}

static void sl__file_stop(void *state)
{
    sl__file_source *s = state;
    atomic_store(&s->stop, 1);
}

static int sl__file_join(void *state)
{
    sl__file_source *s = state;
    if (s->started) {
        pthread_join(s->thread, NULL);
        s->started = 0;
    }
    return s->failed ? 1 : 0;
}

static void sl__file_destroy(void *state)
{
    sl__file_source *s = state;
    if (!s)
        return;
    sl__file_join(s);
    if (s->fd > STDIN_FILENO)
        close(s->fd);
    free(s->path);
    free(s);
}

static void sl__file_status(void *state, FILE *out)
{
    sl__file_source *s = state;
    fprintf(out, "\"lines\":%" PRIu64 ",\"bytes_read\":%" PRIu64,
            (uint64_t)atomic_load_explicit(&s->lines, memory_order_relaxed),
            (uint64_t)atomic_load_explicit(&s->bytes, memory_order_relaxed));
}

/* The file name must not be empty (validate rejects what run would). */
static int sl__file_check(const sl_connector_def *conf, const sl_def *def, char *errstr,
                          size_t errstr_size)
{
    (void)def;
    const json_t *p = json_object_get(conf->conf, "path");
    if (!json_is_string(p) || json_string_length(p) == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.path: must be a file name, or \"-\" for stdin",
                         conf->path ? conf->path : "source");
    return SL_OK;
}

const sl_source_ops sl_source_file = {
    .name = "file",
    .options = sl__file_options,
    .create = sl__file_create,
    .lanes = sl__file_lanes,
    .start = sl__file_start,
    .stop = sl__file_stop,
    .join = sl__file_join,
    .destroy = sl__file_destroy,
    .check = sl__file_check,
    .status = sl__file_status,
};
