/*
 * generator.c - "type": "generator": synthetic events (see generator.h for
 * the event model). A lane's thread renders event i, feeds it to
 * sl_lane_ingest (offset i), throttles to `rate`, and at `count` flushes
 * and sends end of stream; unthrottled, one lane per worker (below).
 */
#include "generator.h"

#include "engine.h"
#include "event_time.h"
#include "json_scan.h"
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic randomness ------------------------------------------- */

static inline uint64_t sl__mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The random word of choice `stream` for event i. */
static inline uint64_t sl__rand(const sl_gen_config *c, uint64_t i, uint64_t stream)
{
    return sl__mix(sl__mix(c->seed + 0x9E3779B97F4A7C15ULL * (i + 1)) ^ stream);
}

/* Uniform in [0, n) (n >= 1). */
static inline uint64_t sl__below(uint64_t r, uint64_t n)
{
    __extension__ typedef unsigned __int128 sl__u128;
    return (uint64_t)(((sl__u128)r * n) >> 64);
}

enum { SL__S_KEY = 1, SL__S_JITTER, SL__S_LATE, SL__S_LATE_BY };

/* ---- configuration -------------------------------------------------------- */

void sl_gen_config_default(sl_gen_config *c)
{
    memset(c, 0, sizeof(*c));
    c->keys = 1000;
    c->start_ts = 1700000000000LL;
    c->ts_step_ms = 1;
    c->late_ms = -1; /* derived from disorder_ms */
    c->seed = 1;
}

static const struct {
    const char *name;
    sl_gen_kind kind;
} sl__kinds[] = {
    {"key", SL_GEN_KEY},       {"int", SL_GEN_INT},       {"double", SL_GEN_DOUBLE},
    {"string", SL_GEN_STRING}, {"region", SL_GEN_REGION}, {"bool", SL_GEN_BOOL},
    {"ts", SL_GEN_TS_MS},      {"ts_s", SL_GEN_TS_S},     {"ts_rfc3339", SL_GEN_TS_RFC3339}};

static const struct {
    const char *name;
    sl_gen_kind kind;
} sl__known[] = {{"user", SL_GEN_KEY},    {"amount", SL_GEN_INT},    {"price", SL_GEN_DOUBLE},
                 {"item", SL_GEN_STRING}, {"region", SL_GEN_REGION}, {"flag", SL_GEN_BOOL},
                 {"ts", SL_GEN_TS_MS}};

static int sl__is_ts(sl_gen_kind k)
{
    return k == SL_GEN_TS_MS || k == SL_GEN_TS_S || k == SL_GEN_TS_RFC3339;
}

static int sl__add(sl_gen_config *c, const char *name, size_t nlen, sl_gen_kind kind, char *errstr,
                   size_t errstr_size)
{
    if (nlen == 0 || nlen >= SL_GEN_MAX_NAME)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "field name must be 1 to %d bytes long",
                         SL_GEN_MAX_NAME - 1);
    for (size_t i = 0; i < c->nfields; i++)
        if (strlen(c->fields[i].name) == nlen && memcmp(c->fields[i].name, name, nlen) == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "field \"%.*s\" is listed twice",
                             (int)nlen, name);
    if (c->nfields == SL_GEN_MAX_FIELDS)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "at most %d fields", SL_GEN_MAX_FIELDS);
    sl_gen_field *f = &c->fields[c->nfields++];
    memcpy(f->name, name, nlen);
    f->name[nlen] = '\0';
    f->kind = kind;
    f->stream = sl_hash64(name, nlen);
    return SL_OK;
}

int sl_gen_add_field(sl_gen_config *c, const char *spec, char *errstr, size_t errstr_size)
{
    const char *colon = strrchr(spec, ':');
    if (!colon) {
        for (size_t k = 0; k < SL_ARRAY_LEN(sl__known); k++)
            if (strcmp(spec, sl__known[k].name) == 0)
                return sl__add(c, spec, strlen(spec), sl__known[k].kind, errstr, errstr_size);
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "unknown field \"%s\": name its kind, e.g. \"%s:int\" (kinds: key, int, "
                         "double, string, region, bool, ts, ts_s, ts_rfc3339)",
                         spec, spec);
    }
    for (size_t k = 0; k < SL_ARRAY_LEN(sl__kinds); k++)
        if (strcmp(colon + 1, sl__kinds[k].name) == 0)
            return sl__add(c, spec, (size_t)(colon - spec), sl__kinds[k].kind, errstr, errstr_size);
    return sl_seterr(errstr, errstr_size, SL_EINVAL,
                     "unknown kind \"%s\" (kinds: key, int, double, string, region, bool, ts, "
                     "ts_s, ts_rfc3339)",
                     colon + 1);
}

static int sl__opt_int(const json_t *conf, const char *path, const char *name, int64_t min,
                       int64_t *out, char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(conf, name);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.%s: must be an integer >= %" PRId64,
                         path, name, min);
    *out = json_integer_value(v);
    return 0;
}

static int sl__opt_number(const json_t *conf, const char *path, const char *name, double min,
                          double max, double *out, char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(conf, name);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.%s: must be a number in [%g, %g]",
                         path, name, min, max);
    *out = json_number_value(v);
    return 0;
}

int sl_gen_config_from_json(sl_gen_config *c, const json_t *conf, const char *path,
                            const sl_def *def, char *errstr, size_t errstr_size)
{
    int64_t keys = (int64_t)c->keys, count = (int64_t)c->count, seed = (int64_t)c->seed;
    int rc = 0;
    if (!json_is_object(conf))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must be an object", path);
    if ((rc = sl__opt_int(conf, path, "keys", 1, &keys, errstr, errstr_size)) ||
        (rc = sl__opt_int(conf, path, "count", 0, &count, errstr, errstr_size)) ||
        (rc = sl__opt_number(conf, path, "rate", 0, 1e12, &c->rate, errstr, errstr_size)) ||
        (rc = sl__opt_int(conf, path, "start_ts", INT64_MIN / 4, &c->start_ts, errstr,
                          errstr_size)) ||
        (rc = sl__opt_int(conf, path, "ts_step_ms", 0, &c->ts_step_ms, errstr, errstr_size)) ||
        (rc = sl__opt_int(conf, path, "disorder_ms", 0, &c->disorder_ms, errstr, errstr_size)) ||
        (rc = sl__opt_number(conf, path, "late_fraction", 0, 1, &c->late_fraction, errstr,
                             errstr_size)) ||
        (rc = sl__opt_int(conf, path, "late_ms", 1, &c->late_ms, errstr, errstr_size)) ||
        (rc = sl__opt_int(conf, path, "seed", INT64_MIN, &seed, errstr, errstr_size)))
        return rc;
    c->keys = (uint64_t)keys;
    c->count = (uint64_t)count;
    c->seed = (uint64_t)seed;

    const char *tfield = NULL;
    sl_gen_kind tkind = SL_GEN_TS_MS;
    if (def && def->event_time.field && def->event_time.unit != SL_TIME_KAFKA) {
        tfield = def->event_time.field;
        tkind = def->event_time.unit == SL_TIME_S         ? SL_GEN_TS_S
                : def->event_time.unit == SL_TIME_RFC3339 ? SL_GEN_TS_RFC3339
                                                          : SL_GEN_TS_MS;
    }
    const json_t *fields = json_object_get(conf, "fields");
    if (fields) {
        size_t n = json_is_array(fields) ? json_array_size(fields) : 1;
        c->nfields = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *f = json_is_array(fields) ? json_array_get(fields, i) : fields;
            char sub[256];
            if (!json_is_string(f))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s.fields: must be an array of field names", path);
            const char *spec = json_string_value(f);
            if (tfield && strcmp(spec, tfield) == 0)
                rc = sl__add(c, spec, strlen(spec), tkind, sub, sizeof(sub));
            else
                rc = sl_gen_add_field(c, spec, sub, sizeof(sub));
            if (rc)
                return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.fields[%zu]: %s", path, i,
                                 sub);
        }
    } else if (c->nfields == 0) {
        sl_gen_add_field(c, "user", NULL, 0);
        sl_gen_add_field(c, "amount", NULL, 0);
        if (!tfield)
            sl_gen_add_field(c, "ts", NULL, 0);
    }
    if (tfield) {
        size_t i = 0;
        while (i < c->nfields && strcmp(c->fields[i].name, tfield) != 0)
            i++;
        if (i == c->nfields) {
            char sub[256];
            if (sl__add(c, tfield, strlen(tfield), tkind, sub, sizeof(sub)))
                return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.fields: %s", path, sub);
        } else if (sl__is_ts(c->fields[i].kind)) {
            c->fields[i].kind = tkind;
        }
    }
    if (c->late_ms < 1)
        c->late_ms = c->disorder_ms * 10 > 1000 ? c->disorder_ms * 10 : 1000;
    return SL_OK;
}

/* ---- events ----------------------------------------------------------------- */

int64_t sl_gen_event_ts(const sl_gen_config *c, uint64_t i)
{
    int64_t base = c->start_ts + (int64_t)i * c->ts_step_ms;
    if (c->late_fraction > 0) {
        double u = (double)(sl__rand(c, i, SL__S_LATE) >> 11) * 0x1.0p-53;
        if (u < c->late_fraction) {
            int64_t late_ms = c->late_ms >= 1 ? c->late_ms : 1000;
            return base - c->disorder_ms - 1 -
                   (int64_t)sl__below(sl__rand(c, i, SL__S_LATE_BY), (uint64_t)late_ms);
        }
    }
    if (c->disorder_ms > 0)
        base -= (int64_t)sl__below(sl__rand(c, i, SL__S_JITTER), (uint64_t)c->disorder_ms + 1);
    return base;
}

uint64_t sl_gen_key_index(const sl_gen_config *c, uint64_t i)
{
    return sl__below(sl__rand(c, i, SL__S_KEY), c->keys ? c->keys : 1);
}

int64_t sl_gen_int_value(const sl_gen_config *c, uint64_t i, size_t f)
{
    return (int64_t)sl__below(sl__rand(c, i, c->fields[f].stream), 1000);
}

static size_t sl__put_uint(char *o, uint64_t v, int min_digits)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < min_digits);
    for (int k = 0; k < n; k++)
        o[k] = tmp[n - 1 - k];
    return (size_t)n;
}

/* Writes the value of field f of event i at o (room for 40 bytes). */
static size_t sl__value(const sl_gen_config *c, uint64_t i, const sl_gen_field *f, int64_t ts,
                        char *o)
{
    static const char *const regions[] = {"eu", "us", "ap", "sa"};
    uint64_t r = sl__rand(c, i, f->stream);
    size_t n = 0;
    switch (f->kind) {
    case SL_GEN_KEY:
        o[n++] = '"';
        o[n++] = 'u';
        n += sl__put_uint(o + n, sl_gen_key_index(c, i), 1);
        o[n++] = '"';
        return n;
    case SL_GEN_INT:
        return sl__put_uint(o, sl__below(r, 1000), 1);
    case SL_GEN_DOUBLE: {
        uint64_t cents = sl__below(r, 100000);
        n = sl__put_uint(o, cents / 100, 1);
        o[n++] = '.';
        return n + sl__put_uint(o + n, cents % 100, 2);
    }
    case SL_GEN_STRING:
        memcpy(o, "\"sku-", 5);
        n = 5 + sl__put_uint(o + 5, sl__below(r, 100000), 5);
        o[n++] = '"';
        return n;
    case SL_GEN_REGION: {
        const char *s = regions[sl__below(r, 4)];
        o[0] = '"';
        memcpy(o + 1, s, 2);
        o[3] = '"';
        return 4;
    }
    case SL_GEN_BOOL:
        if (r >> 63) {
            memcpy(o, "true", 4);
            return 4;
        }
        memcpy(o, "false", 5);
        return 5;
    case SL_GEN_TS_MS:
        return sl_json_format_int(ts, o);
    case SL_GEN_TS_S: {
        uint64_t a = ts < 0 ? 0 - (uint64_t)ts : (uint64_t)ts;
        if (ts < 0)
            o[n++] = '-';
        n += sl__put_uint(o + n, a / 1000, 1);
        o[n++] = '.';
        return n + sl__put_uint(o + n, a % 1000, 3);
    }
    default: { /* SL_GEN_TS_RFC3339 */
        size_t m = sl_time_format_rfc3339(ts, o + 1);
        if (!m) {
            memcpy(o, "null", 4);
            return 4;
        }
        o[0] = '"';
        o[m + 1] = '"';
        return m + 2;
    }
    }
}

size_t sl_gen_render(const sl_gen_config *c, uint64_t i, char *buf, size_t cap)
{
    char val[48];
    size_t at = 0;
    int64_t ts = sl_gen_event_ts(c, i);
    if (cap < 2)
        return 0;
    buf[at++] = '{';
    for (size_t f = 0; f < c->nfields; f++) {
        const sl_gen_field *fd = &c->fields[f];
        size_t nlen = strlen(fd->name);
        size_t vlen = sl__value(c, i, fd, ts, val);
        if (at + 6 * nlen + vlen + 5 > cap)
            return 0;
        if (f)
            buf[at++] = ',';
        buf[at++] = '"';
        at += sl_json_escape(fd->name, nlen, buf + at);
        buf[at++] = '"';
        buf[at++] = ':';
        memcpy(buf + at, val, vlen);
        at += vlen;
    }
    buf[at++] = '}';
    return at;
}

/* ---- the source ------------------------------------------------------------- */

/* Unthrottled, the generator runs one lane per worker: lane k renders
 * chunks k, k + lanes, ... of SL__GEN_CHUNK events each, and workers take
 * the chunks in turn (sl_source_ops.ordered), so every task sees events in
 * index order as from one lane. With a `rate` one lane paces the events. */
#define SL__GEN_CHUNK     65536u
#define SL__GEN_MAX_LANES 64

typedef struct sl__gen_source sl__gen_source;

typedef struct sl__gen_lane {
    sl__gen_source *g;
    int index;
    pthread_t thread;
    int started;
    _Atomic uint64_t produced;
} sl__gen_lane;

struct sl__gen_source {
    sl_gen_config cfg;
    sl_engine *engine;
    int nlanes;
    sl__gen_lane lanes[SL__GEN_MAX_LANES];
    atomic_int stop;
    atomic_int failed;
};

/* One lane per worker unless paced by a rate. */
static int sl__gen_lane_count(const sl_gen_config *c, const sl_def *def)
{
    int n = def->runtime.workers;
    if (c->rate > 0 || n < 1)
        n = 1;
    return n > SL__GEN_MAX_LANES ? SL__GEN_MAX_LANES : n;
}

static const sl_opt sl__gen_options[] = {
    {.name = "keys",
     .type = SL_OPT_INT,
     .help = "distinct keys (\"u0\" .. \"uN-1\"), default 1000"},
    {.name = "count", .type = SL_OPT_INT, .help = "events to generate, 0 = unbounded (default)"},
    {.name = "rate",
     .type = SL_OPT_NUMBER,
     .help = "events per second, 0 = as fast as possible (default)"},
    {.name = "start_ts",
     .type = SL_OPT_INT,
     .help = "event time of the first event, epoch ms (default 1700000000000)"},
    {.name = "ts_step_ms",
     .type = SL_OPT_INT,
     .help = "event-time step between events, ms (default 1)"},
    {.name = "disorder_ms",
     .type = SL_OPT_INT,
     .help = "bounded disorder: events up to this many ms behind (default 0)"},
    {.name = "late_fraction",
     .type = SL_OPT_NUMBER,
     .help = "fraction of events later than the disorder (default 0)"},
    {.name = "late_ms",
     .type = SL_OPT_INT,
     .help = "how far beyond the disorder late events fall, at most (ms)"},
    {.name = "fields",
     .type = SL_OPT_STRINGS,
     .help = "payload fields: names or \"name:kind\" (default user, amount, ts)"},
    {.name = "seed", .type = SL_OPT_INT, .help = "random seed; same seed, same events (default 1)"},
    {.name = NULL},
};

static int sl__gen_create(const sl_connector_def *conf, const sl_def *def, void **state,
                          char *errstr, size_t errstr_size)
{
    sl__gen_source *g = calloc(1, sizeof(*g));
    if (!g)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    sl_gen_config_default(&g->cfg);
    int rc = sl_gen_config_from_json(&g->cfg, conf->conf, conf->path ? conf->path : "source", def,
                                     errstr, errstr_size);
    if (rc != SL_OK) {
        free(g);
        return rc;
    }
    g->nlanes = sl__gen_lane_count(&g->cfg, def);
    for (int i = 0; i < g->nlanes; i++) {
        g->lanes[i].g = g;
        g->lanes[i].index = i;
    }
    *state = g;
    return SL_OK;
}

static int sl__gen_lanes(void *state)
{
    return ((sl__gen_source *)state)->nlanes;
}

static int sl__gen_plan_lanes(const sl_connector_def *conf, const sl_def *def)
{
    sl_gen_config *c = sl_xcalloc(1, sizeof(*c));
    sl_gen_config_default(c);
    int n = 1;
    if (sl_gen_config_from_json(c, conf->conf, conf->path ? conf->path : "source", def, NULL, 0) ==
        SL_OK)
        n = sl__gen_lane_count(c, def);
    free(c);
    return n;
}

static int sl__gen_ordered(void *state)
{
    return ((sl__gen_source *)state)->nlanes > 1;
}

/* Pushes what is pending; waits while the workers are behind. */
static void sl__gen_flush(sl_lane *lane)
{
    if (sl_lane_flush(lane) == SL_EAGAIN)
        sl_lane_wait(lane);
}

static int sl__gen_stopping(sl__gen_source *g)
{
    return atomic_load_explicit(&g->stop, memory_order_relaxed) || sl_engine_stopping(g->engine);
}

/* Renders events [from, to) into the lane, paced by the rate. Returns 0,
 * or -1 when stopped or failed. */
static int sl__gen_range(sl__gen_lane *gl, sl_lane *lane, uint64_t from, uint64_t to,
                         uint64_t done_before, int64_t *last_flush)
{
    sl__gen_source *g = gl->g;
    const sl_gen_config *c = &g->cfg;
    char buf[SL_GEN_MAX_EVENT];
    uint64_t chunk = 1024;
    if (c->rate > 0) {
        double per = c->rate / 200; /* ~5 ms of events between clock checks */
        chunk = per < 1 ? 1 : per > 1024 ? 1024 : (uint64_t)per;
    }
    int64_t t0 = sl_mono_ns(); /* paced runs have one lane and one range, from 0 */
    uint64_t i = from;
    while (i < to) {
        if (i % chunk == 0) {
            atomic_store_explicit(&gl->produced, done_before + (i - from), memory_order_relaxed);
            if (sl__gen_stopping(g))
                return -1;
            int64_t now = sl_mono_ns();
            if (c->rate > 0) {
                int64_t due = t0 + (int64_t)((double)i * 1e9 / c->rate);
                if (due > now) {
                    sl__gen_flush(lane); /* deliver what is ready before sleeping */
                    *last_flush = now;
                    int64_t us = (due - now) / 1000;
                    sl_sleep_us(us > 100000 ? 100000 : us);
                    continue; /* re-check the clock and stop before event i */
                }
            }
            if (now - *last_flush > 100 * 1000000LL) {
                sl__gen_flush(lane); /* lets barriers and status through */
                *last_flush = now;
            }
        }
        size_t len = sl_gen_render(c, i, buf, sizeof(buf));
        int rc = sl_lane_ingest(lane, -1, buf, len, (int64_t)i, -1);
        if (rc == SL_EAGAIN) {
            sl_lane_wait(lane);
        } else if (rc != SL_OK) {
            sl_error("generator", "cannot hand events to the engine: %s", sl_err2str(rc));
            atomic_store(&g->failed, 1);
            return -1;
        }
        i++;
    }
    return 0;
}

static void *sl__gen_main(void *arg)
{
    sl__gen_lane *gl = arg;
    sl__gen_source *g = gl->g;
    const sl_gen_config *c = &g->cfg;
    sl_lane *lane = sl_engine_lane(g->engine, gl->index);
    char name[16];
    snprintf(name, sizeof(name), "sl-gen-%d", gl->index);
    pthread_setname_np(pthread_self(), name);
    int64_t last_flush = sl_mono_ns();
    uint64_t n = (uint64_t)g->nlanes;
    uint64_t done = 0; /* events this lane rendered */
    if (n == 1) {
        int stopped =
            sl__gen_range(gl, lane, 0, c->count ? c->count : UINT64_MAX, 0, &last_flush) != 0;
        atomic_store_explicit(&gl->produced,
                              c->count && !stopped ? c->count : atomic_load(&gl->produced),
                              memory_order_relaxed);
        sl__gen_flush(lane);
        if (!stopped && sl_lane_control_all(lane, SL_MSG_EOS, 0) == SL_EAGAIN)
            sl_lane_wait(lane);
        return NULL;
    }
    for (uint64_t k = (uint64_t)gl->index;; k += n) {
        uint64_t from = k * SL__GEN_CHUNK, to = from + SL__GEN_CHUNK;
        if (c->count && from >= c->count)
            break;
        int last = c->count && to >= c->count;
        if (last)
            to = c->count;
        if (sl__gen_range(gl, lane, from, to, done, &last_flush) != 0)
            break;
        done += to - from;
        atomic_store_explicit(&gl->produced, done, memory_order_relaxed);
        if (last && sl_lane_control_all(lane, SL_MSG_EOS, 0) == SL_EAGAIN)
            sl_lane_wait(lane);
        if (sl_lane_chunk_end(lane) == SL_EAGAIN)
            sl_lane_wait(lane);
    }
    sl__gen_flush(lane);
    return NULL;
}

static int sl__gen_start(void *state, sl_engine *engine, char *errstr, size_t errstr_size)
{
    sl__gen_source *g = state;
    g->engine = engine;
    for (int i = 0; i < g->nlanes; i++) {
        sl__gen_lane *gl = &g->lanes[i];
        if (pthread_create(&gl->thread, NULL, sl__gen_main, gl) != 0) {
            atomic_store(&g->stop, 1);
            for (int j = 0; j < i; j++) {
                pthread_join(g->lanes[j].thread, NULL);
                g->lanes[j].started = 0;
            }
            return sl_seterr(errstr, errstr_size, SL_ENOMEM, "cannot start the generator threads");
        }
        gl->started = 1;
    }
    return SL_OK;
}

static void sl__gen_stop(void *state)
{
    sl__gen_source *g = state;
    atomic_store(&g->stop, 1);
}

static int sl__gen_join(void *state)
{
    sl__gen_source *g = state;
    for (int i = 0; i < g->nlanes; i++) {
        if (g->lanes[i].started) {
            pthread_join(g->lanes[i].thread, NULL);
            g->lanes[i].started = 0;
        }
    }
    return atomic_load(&g->failed) ? 1 : 0;
}

/* The generator's own checks (sl_gen_config_from_json), for validate. */
static int sl__gen_check(const sl_connector_def *conf, const sl_def *def, char *errstr,
                         size_t errstr_size)
{
    sl_gen_config *c = sl_xcalloc(1, sizeof(*c));
    sl_gen_config_default(c);
    int rc = sl_gen_config_from_json(c, conf->conf, conf->path ? conf->path : "source", def, errstr,
                                     errstr_size);
    free(c);
    return rc;
}

static void sl__gen_destroy(void *state)
{
    sl__gen_source *g = state;
    if (!g)
        return;
    sl__gen_join(g);
    free(g);
}

static void sl__gen_status(void *state, FILE *out)
{
    sl__gen_source *g = state;
    uint64_t n = 0;
    for (int i = 0; i < g->nlanes; i++)
        n += atomic_load_explicit(&g->lanes[i].produced, memory_order_relaxed);
    fprintf(out, "\"generated\":%" PRIu64, n);
}

const sl_source_ops sl_source_generator = {
    .name = "generator",
    .options = sl__gen_options,
    .create = sl__gen_create,
    .lanes = sl__gen_lanes,
    .plan_lanes = sl__gen_plan_lanes,
    .ordered = sl__gen_ordered,
    .start = sl__gen_start,
    .stop = sl__gen_stop,
    .join = sl__gen_join,
    .destroy = sl__gen_destroy,
    .check = sl__gen_check,
    .status = sl__gen_status,
};
