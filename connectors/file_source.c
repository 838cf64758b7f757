/*
 * file_source.c - "type": "file": JSON lines from a file, or stdin with
 * "path": "-".
 *
 * A lane's thread reads blocks, splits them into lines and hands each
 * line to sl_lane_ingest (task -1: routed by key hash; offset = line
 * number, from 1). Stdin, pipes and files smaller than two chunks are one
 * lane. A larger regular file is split into chunks (chunk_bytes, default
 * SL__FILE_CHUNK) aligned to line starts (a chunk starts after the first
 * newline at or after c * chunk - 1) and read by one lane per worker:
 * lane k reads chunks k, k + lanes, ..., and the workers take the chunks
 * in turn (sl_source_ops.ordered), so every task sees its events in file
 * order, as from one lane. Line numbers: a lane counts its chunk's
 * newlines first and publishes the count; the first line of chunk c is
 * one past the counts of chunks 0..c-1, which the other lanes publish as
 * they start those chunks. Empty lines are skipped; a trailing '\r' is
 * dropped. A line longer than SL_MAX_EVENT_BYTES is
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
#include "park.h"

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

#define SL__FILE_BUF (4u << 20) /* read buffer: > 2 lines of the maximum size */
/* Bytes asked of one read: small enough that what it copies is still in
 * the core's cache when the lines are decoded. */
#define SL__FILE_READ    (256u << 10)
#define SL__FLUSH_NS     (100 * 1000000LL)
#define SL__IDLE_POLL_MS 100

#define SL__FILE_CHUNK     (1u << 20)
#define SL__FILE_MAX_LANES 64

typedef struct sl__file_source sl__file_source;

typedef struct sl__file_lane {
    sl__file_source *s;
    int index;
    pthread_t thread;
    int started;
    sl_parker park;                /* waiting for another lane's line count */
    uint64_t lines_base;           /* lines of the chunks this lane finished */
    int64_t last_flush;            /* sl_mono_ns of its last flush (barriers, status) */
    _Atomic uint64_t lines, bytes; /* lines and bytes read by this lane */
} sl__file_lane;

struct sl__file_source {
    char *path;
    int fd;
    int is_regular;
    sl_engine *engine;
    int nlanes;
    uint64_t size;           /* regular files */
    uint64_t chunk;          /* chunk_bytes */
    uint64_t nchunks;        /* several lanes: chunks of the file */
    _Atomic int64_t *nlines; /* per chunk: its newlines, -1 not counted yet */
    sl__file_lane lanes[SL__FILE_MAX_LANES];
    atomic_int stop;
    atomic_int failed;
};

/* A part of the input: the rest of a stream, or bytes [pos, end) of a
 * regular file. */
typedef struct sl__reader {
    int fd;
    int ranged;
    uint64_t pos, end;
} sl__reader;

static ssize_t sl__reader_read(sl__reader *r, char *buf, size_t cap)
{
    if (!r->ranged)
        return read(r->fd, buf, cap);
    uint64_t left = r->end - r->pos;
    if (left < cap)
        cap = (size_t)left;
    if (cap == 0)
        return 0;
    ssize_t n = pread(r->fd, buf, cap, (off_t)r->pos);
    if (n > 0)
        r->pos += (uint64_t)n;
    return n;
}

static const sl_opt sl__file_options[] = {
    {.name = "path",
     .type = SL_OPT_STRING,
     .required = 1,
     .help = "JSON-lines file to read; \"-\" reads stdin"},
    {.name = "chunk_bytes",
     .type = SL_OPT_INT,
     .min = 4096,
     .max = 1 << 30,
     .help = "a regular file is read in chunks of this size, one lane per worker "
             "(default 1 MiB)"},
    {.name = NULL},
};

static uint64_t sl__file_chunk_bytes(const sl_connector_def *conf)
{
    const json_t *v = json_object_get(conf->conf, "chunk_bytes");
    return json_is_integer(v) && json_integer_value(v) >= 4096 ? (uint64_t)json_integer_value(v)
                                                               : SL__FILE_CHUNK;
}

/* One lane per worker for a regular file of two chunks or more. */
static int sl__file_lane_count(int is_regular, uint64_t size, uint64_t chunk, const sl_def *def)
{
    uint64_t chunks = (size + chunk - 1) / chunk;
    int n = def->runtime.workers;
    if (!is_regular || chunks < 2 || n < 2)
        return 1;
    if ((uint64_t)n > chunks)
        n = (int)chunks;
    return n > SL__FILE_MAX_LANES ? SL__FILE_MAX_LANES : n;
}

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
    s->size = s->is_regular ? (uint64_t)st.st_size : 0;
    s->chunk = sl__file_chunk_bytes(conf);
    s->nlanes = sl__file_lane_count(s->is_regular, s->size, s->chunk, def);
    if (s->nlanes > 1) {
        s->nchunks = (s->size + s->chunk - 1) / s->chunk;
        s->nlines = sl_xcalloc(s->nchunks, sizeof(*s->nlines));
        for (uint64_t c = 0; c < s->nchunks; c++)
            atomic_init(&s->nlines[c], -1);
    }
    for (int i = 0; i < s->nlanes; i++) {
        s->lanes[i].s = s;
        s->lanes[i].index = i;
        sl_park_init(&s->lanes[i].park);
    }
    *state = s;
    return SL_OK;
}

static int sl__file_lanes(void *state)
{
    return ((sl__file_source *)state)->nlanes;
}

/* The planner's count, from the file as it is now (the same rule). */
static int sl__file_plan_lanes(const sl_connector_def *conf, const sl_def *def)
{
    const json_t *p = json_object_get(conf->conf, "path");
    struct stat st;
    if (!json_is_string(p) || strcmp(json_string_value(p), "-") == 0 ||
        stat(json_string_value(p), &st) != 0)
        return 1;
    return sl__file_lane_count(S_ISREG(st.st_mode), (uint64_t)st.st_size,
                               sl__file_chunk_bytes(conf), def);
}

static int sl__file_ordered(void *state)
{
    return ((sl__file_source *)state)->nlanes > 1;
}

static int sl__file_stopping(sl__file_source *s)
{
    return atomic_load_explicit(&s->stop, memory_order_relaxed) || sl_engine_stopping(s->engine) ||
           atomic_load_explicit(&s->failed, memory_order_relaxed);
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
        atomic_store(&s->failed, 1);
        return -1;
    }
    return 0;
}

static void sl__file_flush(sl_lane *lane)
{
    if (sl_lane_flush(lane) == SL_EAGAIN)
        sl_lane_wait(lane);
}

/* Reads lines from `r` to its end (EOF of a stream) into the lane, with
 * line numbers after *line_no. The first `have` bytes of buf are already
 * read. Returns 1 at the end, 0 when stopped, -1 on failure. */
static int sl__file_read(sl__file_source *s, sl__file_lane *fl, sl_lane *lane, sl__reader *r,
                         char *buf, size_t have, int64_t *line_no, uint64_t *bytes)
{
    int64_t first = *line_no;
    int skipping = 0, eof = 0;
    while (!eof) {
        if (sl__file_stopping(s))
            return 0;
        if (!s->is_regular) {
            struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
            int pr = poll(&pfd, 1, SL__IDLE_POLL_MS);
            if (pr == 0) {
                sl__file_flush(lane); /* the input is idle: deliver what we have */
                fl->last_flush = sl_mono_ns();
                continue;
            }
            if (pr < 0 && errno != EINTR) {
                sl_error("file", "cannot poll %s: %s", s->path, strerror(errno));
                return -1;
            }
            if (pr < 0)
                continue;
        }
        size_t room = SL__FILE_BUF - have;
        ssize_t n = sl__reader_read(r, buf + have, room < SL__FILE_READ ? room : SL__FILE_READ);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            sl_error("file", "cannot read %s: %s", s->path, strerror(errno));
            return -1;
        }
        if (n == 0) {
            eof = 1;
        } else {
            have += (size_t)n;
            *bytes += (uint64_t)n;
        }
        size_t start = 0;
        const char *nl;
        while (start < have && (nl = memchr(buf + start, '\n', have - start)) != NULL) {
            size_t len = (size_t)(nl - (buf + start));
            if (skipping) {
                skipping = 0; /* the end of a too-large line, already counted */
            } else if (sl__file_line(s, lane, buf + start, len, ++*line_no) != 0) {
                return -1;
            }
            start += len + 1;
        }
        size_t rest = have - start;
        if (skipping) {
            have = 0; /* still inside a too-large line */
        } else if (rest > SL_MAX_EVENT_BYTES) {
            /* too large: its prefix is rejected by the decoder as such */
            if (sl__file_line(s, lane, buf + start, (size_t)SL_MAX_EVENT_BYTES + 1, ++*line_no))
                return -1;
            skipping = 1;
            have = 0;
        } else {
            if (eof && rest > 0 && sl__file_line(s, lane, buf + start, rest, ++*line_no))
                return -1;
            memmove(buf, buf + start, rest);
            have = rest;
        }
        atomic_store_explicit(&fl->lines, fl->lines_base + (uint64_t)(*line_no - first),
                              memory_order_relaxed);
        atomic_store_explicit(&fl->bytes, *bytes, memory_order_relaxed);
        int64_t now = sl_mono_ns();
        if (now - fl->last_flush > SL__FLUSH_NS) {
            sl__file_flush(lane); /* lets barriers and status through */
            fl->last_flush = now;
        }
    }
    return 1;
}

/* Where chunk c starts: after the first newline at or after
 * c * chunk - 1 (so a chunk holds whole lines), or the end of
 * the file. Returns UINT64_MAX on a read error. */
static uint64_t sl__chunk_start(const sl__file_source *s, uint64_t c, char *tmp, size_t tmp_size)
{
    if (c == 0)
        return 0;
    uint64_t pos = c * s->chunk - 1;
    while (pos < s->size) {
        ssize_t n = pread(s->fd, tmp, tmp_size, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? s->size : UINT64_MAX;
        const char *nl = memchr(tmp, '\n', (size_t)n);
        if (nl)
            return pos + (uint64_t)(nl - tmp) + 1;
        pos += (uint64_t)n;
    }
    return s->size;
}

static int64_t sl__count_newlines(const char *p, size_t n)
{
    int64_t k = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* The newlines of [from, to): from buf when the chunk was read whole
 * into it (*have = its length), else streamed. -1 on a read error. */
static int64_t sl__chunk_newlines(const sl__file_source *s, uint64_t from, uint64_t to, char *buf,
                                  size_t *have)
{
    *have = 0;
    int64_t k = 0;
    int whole = to - from <= SL__FILE_BUF;
    for (uint64_t pos = from; pos < to;) {
        size_t want = to - pos < SL__FILE_BUF ? (size_t)(to - pos) : SL__FILE_BUF;
        ssize_t n = pread(s->fd, buf, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        k += sl__count_newlines(buf, (size_t)n);
        pos += (uint64_t)n;
        if (whole && pos < to)
            whole = 0; /* a short read: stream it again below */
    }
    if (whole)
        *have = (size_t)(to - from);
    return k;
}

/* The line number before chunk c's first line: the newlines of chunks
 * 0..c-1 as their lanes publish them. Waits (pumping this lane's batches,
 * parked between tries) until they are known; -1 when stopped. */
static int64_t sl__chunk_base(sl__file_source *s, sl__file_lane *fl, sl_lane *lane, uint64_t c,
                              uint64_t *known, int64_t *known_sum)
{
    for (;;) {
        while (*known < c) {
            int64_t k = atomic_load_explicit(&s->nlines[*known], memory_order_acquire);
            if (k < 0)
                break;
            *known_sum += k;
            (*known)++;
        }
        if (*known == c)
            return *known_sum;
        if (sl__file_stopping(s))
            return -1;
        if (sl_lane_pump(lane) == SL_EAGAIN) {
            sl_lane_park(lane, 1); /* the worker may need what we hold */
            continue;
        }
        sl_park_prepare(&fl->park);
        if (atomic_load_explicit(&s->nlines[*known], memory_order_acquire) >= 0)
            sl_park_cancel(&fl->park);
        else
            sl_park_wait(&fl->park, 10 * 1000000);
    }
}

static void sl__file_end(sl__file_source *s, sl_lane *lane, int eof)
{
    sl__file_flush(lane);
    if (eof && !atomic_load(&s->failed) && sl_lane_control_all(lane, SL_MSG_EOS, 0) == SL_EAGAIN)
        sl_lane_wait(lane);
}

static void *sl__file_main(void *arg)
{
    sl__file_lane *fl = arg;
    sl__file_source *s = fl->s;
    sl_lane *lane = sl_engine_lane(s->engine, fl->index);
    char name[16];
    snprintf(name, sizeof(name), "sl-file-%d", fl->index);
    pthread_setname_np(pthread_self(), name);
    char *buf = malloc(SL__FILE_BUF);
    fl->last_flush = sl_mono_ns();
    int64_t line_no = 0;
    uint64_t bytes = 0;
    if (!buf) {
        sl_error("file", "out of memory");
        atomic_store(&s->failed, 1);
        return NULL;
    }
    if (s->nlanes == 1) {
        sl__reader r = {.fd = s->fd};
        int rc = sl__file_read(s, fl, lane, &r, buf, 0, &line_no, &bytes);
        if (rc < 0)
            atomic_store(&s->failed, 1);
        free(buf);
        sl__file_end(s, lane, rc == 1);
        return NULL;
    }
    uint64_t known = 0;
    int64_t known_sum = 0;
    int rc = 1;
    char tmp[4096];
    for (uint64_t c = (uint64_t)fl->index; c < s->nchunks && rc == 1; c += (uint64_t)s->nlanes) {
        uint64_t from = sl__chunk_start(s, c, tmp, sizeof(tmp));
        uint64_t to = sl__chunk_start(s, c + 1, tmp, sizeof(tmp));
        size_t have = 0;
        int64_t k = from == UINT64_MAX || to == UINT64_MAX || to < from
                        ? -1
                        : sl__chunk_newlines(s, from, to, buf, &have);
        if (k < 0) {
            sl_error("file", "cannot read %s: %s", s->path, strerror(errno ? errno : EIO));
            rc = -1;
            break;
        }
        atomic_store_explicit(&s->nlines[c], k, memory_order_release);
        for (int i = 0; i < s->nlanes; i++)
            if (i != fl->index)
                sl_park_wake(&s->lanes[i].park);
        int64_t base = sl__chunk_base(s, fl, lane, c, &known, &known_sum);
        if (base < 0) {
            rc = 0;
            break;
        }
        line_no = base;
        sl__reader r = {.fd = s->fd, .ranged = 1, .pos = from + have, .end = to};
        bytes += have;
        rc = sl__file_read(s, fl, lane, &r, buf, have, &line_no, &bytes);
        fl->lines_base += (uint64_t)(line_no - base);
        if (rc == 1 && c == s->nchunks - 1)
            sl__file_end(s, lane, 1); /* the last chunk: end of stream */
        if (rc == 1 && sl_lane_chunk_end(lane) == SL_EAGAIN)
            sl_lane_wait(lane);
    }
    if (rc < 0)
        atomic_store(&s->failed, 1);
    free(buf);
    sl__file_flush(lane);
    return NULL;
}

static int sl__file_start(void *state, sl_engine *engine, char *errstr, size_t errstr_size)
{
    sl__file_source *s = state;
    s->engine = engine;
    for (int i = 0; i < s->nlanes; i++) {
        if (pthread_create(&s->lanes[i].thread, NULL, sl__file_main, &s->lanes[i]) != 0) {
            atomic_store(&s->stop, 1);
            for (int j = 0; j < i; j++) {
                pthread_join(s->lanes[j].thread, NULL);
                s->lanes[j].started = 0;
            }
            return sl_seterr(errstr, errstr_size, SL_ENOMEM,
                             "cannot start the file source threads");
        }
        s->lanes[i].started = 1;
    }
    return SL_OK;
}

static void sl__file_stop(void *state)
{
    sl__file_source *s = state;
    atomic_store(&s->stop, 1);
    for (int i = 0; i < s->nlanes; i++)
        sl_park_wake(&s->lanes[i].park);
}

static int sl__file_join(void *state)
{
    sl__file_source *s = state;
    for (int i = 0; i < s->nlanes; i++) {
        if (s->lanes[i].started) {
            pthread_join(s->lanes[i].thread, NULL);
            s->lanes[i].started = 0;
        }
    }
    return atomic_load(&s->failed) ? 1 : 0;
}

static void sl__file_destroy(void *state)
{
    sl__file_source *s = state;
    if (!s)
        return;
    sl__file_join(s);
    if (s->fd > STDIN_FILENO)
        close(s->fd);
    free(s->nlines);
    free(s->path);
    free(s);
}

static void sl__file_status(void *state, FILE *out)
{
    sl__file_source *s = state;
    uint64_t lines = 0, bytes = 0;
    for (int i = 0; i < s->nlanes; i++) {
        lines += atomic_load_explicit(&s->lanes[i].lines, memory_order_relaxed);
        bytes += atomic_load_explicit(&s->lanes[i].bytes, memory_order_relaxed);
    }
    fprintf(out, "\"lines\":%" PRIu64 ",\"bytes_read\":%" PRIu64, lines, bytes);
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
    .plan_lanes = sl__file_plan_lanes,
    .ordered = sl__file_ordered,
    .start = sl__file_start,
    .stop = sl__file_stop,
    .join = sl__file_join,
    .destroy = sl__file_destroy,
    .check = sl__file_check,
    .status = sl__file_status,
};
