/*
 * engine.c - the runtime: source lanes, worker threads hosting tasks, the
 * sink thread, and the rings between them (see engine.h).
 *
 * Design notes
 * ------------
 *   lane i ──ring[i][w]──► worker w ──out[w]──► sink thread ──► sink
 *   lane i ──dlq[i]─────────────────────────────► sink thread ──► dead letter
 *
 * 1. Every ring has one producer thread and one consumer thread: lane i's
 *    thread produces ring[i][*] and dlq[i]; worker w consumes ring[*][w] and
 *    produces out[w]; the sink thread consumes out[*] and dlq[*].
 * 2. A task lives on worker (task % workers) and is fed by one lane, so its
 *    events arrive in input order. Control messages (watermark, barrier,
 *    assign, revoke, end of stream) are batches in the same ring, in order.
 * 3. Lanes never block and never drop: a batch that does not fit its ring
 *    waits in the lane's per-worker FIFO and sl_lane_* report SL_EAGAIN, so
 *    the source pauses that input (Kafka) or waits (file). Workers and the
 *    sink thread block (with backoff) on a full ring instead, which makes
 *    the lanes' rings fill: backpressure reaches the source, memory stays
 *    bounded.
 * 4. Counters are owned by one thread each and published with relaxed
 *    atomic stores once per batch; readers add them up. No per-event atomic.
 *
 * Shutdown: the source ends (EOF) or is stopped; the main thread joins it,
 * flushes the lanes (safe: their threads are gone), sets `lanes_done`; each
 * worker drains its rings and exits; then the sink thread drains and exits;
 * the sink is flushed and the summary printed.
 */
#include "engine.h"

#include "connector.h"
#include "ingest.h"
#include "log.h"
#include "ring.h"
#include "window.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL__OUT_BATCH_ROWS 1024

static const char *const sl__bad_names[] = {
#define SL__BAD_NAME(name, str) str,
    SL_BAD_MAP(SL__BAD_NAME)
#undef SL__BAD_NAME
};

const char *sl_bad_reason_name(sl_bad_reason r)
{
    return (unsigned)r < SL_BAD_COUNT ? sl__bad_names[r] : "unknown";
}

/* ---- counters --------------------------------------------------------- */

typedef struct sl__lane_counters {
    _Atomic uint64_t events_in, filtered, dead_lettered;
    _Atomic uint64_t bad[SL_BAD_COUNT];
} sl__lane_counters;

typedef struct sl__worker_counters {
    _Atomic uint64_t late, late_updates, windows_fired, results;
    _Atomic uint64_t dead_lettered;
    _Atomic int64_t min_watermark;
    _Atomic uint64_t state_bytes;
    _Atomic int tasks;
} sl__worker_counters;

#define SL__PUBLISH(field, value) atomic_store_explicit(&(field), (value), memory_order_relaxed)
#define SL__READ(field)           atomic_load_explicit(&(field), memory_order_relaxed)

/* ---- structures ------------------------------------------------------- */

typedef struct sl__queue {
    sl_batch *head, *tail;
    size_t len;
} sl__queue;

struct sl_lane {
    sl_engine *engine;
    int index;
    sl_ingest *ingest;
    uint32_t nvals;
    sl_batch **building; /* per task id */
    size_t nbuilding;
    sl__queue *queued;   /* per worker: batches waiting for ring room */
    sl_ring **rings;     /* per worker */
    sl_ring *dlq;        /* to the sink thread (bad events) */
    sl_batch *dlq_batch;
    int32_t *tasks;      /* tasks fed by this lane */
    size_t ntasks, tasks_cap;
    /* thread-local totals, published into `counters` */
    uint64_t events_in, filtered, dead_lettered, bad[SL_BAD_COUNT];
    sl__lane_counters counters;
};

typedef struct sl__task {
    int32_t id;
    int lane;
    sl_window_task *window;
    uint64_t next_seq;
    int64_t last_input_ns; /* processing time of the last event */
    int64_t idle_base_wm;  /* watermark when the idle advance started */
    int closed;
    struct sl__task *next;
} sl__task;

typedef struct sl__worker {
    sl_engine *engine;
    int index;
    pthread_t thread;
    sl_ring *out;        /* to the sink thread */
    sl_batch *results;   /* being filled */
    sl_batch *dead;      /* late events for the dead-letter sink */
    sl__task **buckets;  /* task table */
    size_t nbuckets;
    int ntasks;
    uint64_t late, late_updates, windows_fired, results_count, dead_lettered;
    sl__worker_counters counters;
    sl__task *current;   /* task whose batch is being processed */
} sl__worker;

struct sl_engine {
    const sl_def *def;
    sl_engine_options opt;
    const sl_source_ops *source_ops;
    void *source;
    const sl_sink_ops *sink_ops;
    void *sink;
    const sl_sink_ops *dlq_ops;
    void *dlq;
    int nlanes, nworkers;
    sl_lane *lanes;
    sl__worker *workers;
    pthread_t sink_thread;
    _Atomic int stop_requested;
    _Atomic int lanes_done;
    _Atomic int workers_done;
    _Atomic int failed;
    _Atomic uint64_t results_written, dlq_written;
    int64_t start_ns;
    int64_t end_ns;
    int source_failed; /* written by the joiner before lanes_done */
};

/* ---- queue helpers ---------------------------------------------------- */

static void sl__queue_push(sl__queue *q, sl_batch *b)
{
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->len++;
}

static sl_batch *sl__queue_pop(sl__queue *q)
{
    sl_batch *b = q->head;
    if (b) {
        q->head = b->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
        b->next = NULL;
    }
    return b;
}

/* Blocking push for workers and the sink path: waits with backoff while
 * the ring is full. Gives up (freeing the batch) only if the engine failed. */
static void sl__push_blocking(sl_engine *e, sl_ring *r, sl_batch *b)
{
    int spins = 0;
    while (!sl_ring_push(r, b)) {
        if (atomic_load(&e->failed)) {
            sl_batch_free(b);
            return;
        }
        if (++spins < 64)
            continue;
        sl_sleep_us(spins < 1000 ? 20 : 200);
    }
}

/* ---- lanes (source threads) ------------------------------------------- */

sl_lane *sl_engine_lane(sl_engine *e, int index)
{
    if (index < 0 || index >= e->nlanes)
        return NULL;
    return &e->lanes[index];
}

int sl_engine_stopping(const sl_engine *e)
{
    return atomic_load(&((sl_engine *)e)->stop_requested) || atomic_load(&((sl_engine *)e)->failed);
}

int sl_engine_worker_of(const sl_engine *e, int32_t task)
{
    return (int)((uint32_t)task % (uint32_t)e->nworkers);
}

const sl_def *sl_engine_def(const sl_engine *e)
{
    return e->def;
}

int sl_lane_set_mode(sl_lane *l, int ingest_mode)
{
    char err[256];
    sl_ingest *ing = sl_ingest_new(l->engine->def, (sl_ingest_mode)ingest_mode, err, sizeof(err));
    if (!ing) {
        sl_error("engine", "lane %d: %s", l->index, err);
        return SL_EINVAL;
    }
    sl_ingest_free(l->ingest);
    l->ingest = ing;
    return SL_OK;
}

void sl_lane_add_task(sl_lane *l, int32_t task)
{
    for (size_t i = 0; i < l->ntasks; i++)
        if (l->tasks[i] == task)
            return;
    if (l->ntasks == l->tasks_cap) {
        l->tasks_cap = l->tasks_cap ? l->tasks_cap * 2 : 16;
        l->tasks = sl_xrealloc(l->tasks, l->tasks_cap * sizeof(*l->tasks));
    }
    l->tasks[l->ntasks++] = task;
}

static void sl__lane_publish(sl_lane *l)
{
    SL__PUBLISH(l->counters.events_in, l->events_in);
    SL__PUBLISH(l->counters.filtered, l->filtered);
    SL__PUBLISH(l->counters.dead_lettered, l->dead_lettered);
    for (int i = 0; i < SL_BAD_COUNT; i++)
        SL__PUBLISH(l->counters.bad[i], l->bad[i]);
}

int sl_lane_pump(sl_lane *l)
{
    int blocked = 0;
    for (int w = 0; w < l->engine->nworkers; w++) {
        sl__queue *q = &l->queued[w];
        while (q->head) {
            if (!sl_ring_push(l->rings[w], q->head))
                break;
            sl__queue_pop(q);
        }
        if (q->head)
            blocked = 1;
    }
    sl__lane_publish(l);
    return blocked ? SL_EAGAIN : SL_OK;
}

int sl_lane_blocked(const sl_lane *l, int32_t task)
{
    return l->queued[sl_engine_worker_of(l->engine, task)].head != NULL;
}

void sl_lane_wait(sl_lane *l)
{
    int spins = 0;
    while (sl_lane_pump(l) == SL_EAGAIN && !sl_engine_stopping(l->engine)) {
        if (++spins < 32)
            continue;
        sl_sleep_us(spins < 1000 ? 50 : 500);
    }
}

/* Moves task's partial batch (if any) to its worker's queue. */
static void sl__lane_seal(sl_lane *l, int32_t task)
{
    if ((size_t)task >= l->nbuilding || !l->building[task])
        return;
    sl_batch *b = l->building[task];
    l->building[task] = NULL;
    if (b->count == 0) {
        sl_batch_free(b);
        return;
    }
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, task)], b);
}

static sl_batch *sl__lane_batch_for(sl_lane *l, int32_t task)
{
    if ((size_t)task >= l->nbuilding) {
        size_t n = l->nbuilding ? l->nbuilding : 16;
        while (n <= (size_t)task)
            n *= 2;
        l->building = sl_xrealloc(l->building, n * sizeof(*l->building));
        memset(l->building + l->nbuilding, 0, (n - l->nbuilding) * sizeof(*l->building));
        l->nbuilding = n;
    }
    sl_batch *b = l->building[task];
    if (!b) {
        b = sl_batch_new(SL_MSG_DATA, task, (uint32_t)l->engine->def->runtime.batch_size,
                         l->nvals);
        if (!b)
            return NULL;
        l->building[task] = b;
        sl_lane_add_task(l, task);
    }
    return b;
}

/* JSON-escapes src into the batch arena as a JSON string (with quotes). */
static void sl__put_json_string(sl_batch *b, const char *src, size_t len)
{
    uint32_t off;
    char *p = sl_batch_reserve_bytes(b, len * 6 + 2, &off);
    if (!p)
        return;
    char *o = p;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->bytes_len = off + (size_t)(o - p);
}

static void sl__dlq_push(sl_engine *e, sl_ring *r, sl_batch **bp)
{
    if (*bp && (*bp)->count) {
        sl__push_blocking(e, r, *bp);
        *bp = NULL;
    }
}

/* Records a rejected event for the dead-letter sink. */
static void sl__lane_dead_letter(sl_lane *l, int32_t task, sl_bad_reason reason,
                                 const char *payload, size_t len, int64_t offset)
{
    sl_engine *e = l->engine;
    if (!e->dlq_ops)
        return;
    if (!l->dlq_batch) {
        l->dlq_batch = sl_batch_new(SL_MSG_BAD, -1, 256, 0);
        if (!l->dlq_batch)
            return;
    }
    sl_batch *b = l->dlq_batch;
    uint32_t i = b->count;
    const char *rname = sl_bad_reason_name(reason);
    b->key_off[i] = sl_batch_put_bytes(b, rname, strlen(rname));
    b->key_len[i] = (uint32_t)strlen(rname);
    char head[160];
    int hn = snprintf(head, sizeof(head), "{\"reason\":\"%s\",\"task\":%d,\"offset\":%" PRId64
                      ",\"payload\":", rname, task, offset);
    size_t start = b->bytes_len;
    sl_batch_put_bytes(b, head, (size_t)hn);
    size_t keep = len > 65536 ? 65536 : len; /* huge payloads are truncated */
    sl__put_json_string(b, payload, keep);
    sl_batch_put_bytes(b, "}", 1);
    b->row_off[i] = (uint32_t)start;
    b->row_len[i] = (uint32_t)(b->bytes_len - start);
    b->offset[i] = offset;
    b->ts[i] = 0;
    b->key_hash[i] = (uint64_t)task;
    b->count++;
    l->dead_lettered++;
    if (b->count == b->capacity)
        sl__dlq_push(e, l->dlq, &l->dlq_batch);
}

int sl_lane_ingest(sl_lane *l, int32_t task, const char *payload, size_t len, int64_t offset,
                   int64_t kafka_ts)
{
    sl_bad_reason reason = SL_BAD_MALFORMED;
    l->events_in++;
    sl_decode_result r = sl_ingest_decode(l->ingest, payload, len, kafka_ts, &reason);
    if (SL_UNLIKELY(r != SL_DECODE_OK)) {
        if (r == SL_DECODE_FILTERED) {
            l->filtered++;
        } else {
            l->bad[reason]++;
            sl__lane_dead_letter(l, task, reason, payload, len, offset);
        }
        return l->queued[sl_engine_worker_of(l->engine, task < 0 ? 0 : task)].head ? SL_EAGAIN
                                                                                  : SL_OK;
    }
    if (task < 0)
        task = (int32_t)(sl_ingest_key_hash(l->ingest) % (uint64_t)l->engine->def->runtime.tasks);
    sl_batch *b = sl__lane_batch_for(l, task);
    if (!b || sl_ingest_append(l->ingest, b, offset) != SL_OK) {
        sl_error("engine", "out of memory building a batch");
        atomic_store(&l->engine->failed, 1);
        return SL_ENOMEM;
    }
    if (b->count == b->capacity) {
        sl__lane_seal(l, task);
        return sl_lane_pump(l);
    }
    return l->queued[sl_engine_worker_of(l->engine, task)].head ? SL_EAGAIN : SL_OK;
}

int sl_lane_flush(sl_lane *l)
{
    for (size_t t = 0; t < l->nbuilding; t++)
        if (l->building[t])
            sl__lane_seal(l, (int32_t)t);
    sl__dlq_push(l->engine, l->dlq, &l->dlq_batch);
    return sl_lane_pump(l);
}

int sl_lane_push_batch(sl_lane *l, sl_batch *b)
{
    sl__lane_seal(l, b->task);
    sl_lane_add_task(l, b->task);
    l->events_in += b->count;
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, b->task)], b);
    return sl_lane_pump(l);
}

uint32_t sl_lane_ncolumns(const sl_lane *l)
{
    return l->nvals;
}

int sl_lane_control(sl_lane *l, int32_t task, sl_batch *ctl)
{
    sl__lane_seal(l, task);
    sl_lane_add_task(l, task);
    ctl->task = task;
    sl__queue_push(&l->queued[sl_engine_worker_of(l->engine, task)], ctl);
    return sl_lane_pump(l);
}

int sl_lane_control_all(sl_lane *l, sl_msg_kind kind, int64_t value)
{
    sl_lane_flush(l);
    for (int w = 0; w < l->engine->nworkers; w++) {
        sl_batch *ctl = sl_batch_control(kind, -1, value);
        if (!ctl)
            return SL_ENOMEM;
        sl__queue_push(&l->queued[w], ctl);
    }
    return sl_lane_pump(l);
}

/* ---- workers ----------------------------------------------------------- */

static sl__task *sl__task_find(sl__worker *w, int32_t id)
{
    for (sl__task *t = w->buckets[(uint32_t)id % w->nbuckets]; t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static sl__task *sl__task_get(sl__worker *w, int32_t id, int lane)
{
    sl__task *t = sl__task_find(w, id);
    if (t)
        return t;
    t = sl_xcalloc(1, sizeof(*t));
    t->id = id;
    t->lane = lane;
    t->last_input_ns = sl_mono_ns();
    t->idle_base_wm = INT64_MIN;
    const sl_def *def = w->engine->def;
    if (def->window) {
        t->window = sl_window_task_new(def->window, &def->watermark);
        if (!t->window) {
            sl_error("engine", "out of memory creating task %d", id);
            atomic_store(&w->engine->failed, 1);
        }
    }
    size_t b = (uint32_t)id % w->nbuckets;
    t->next = w->buckets[b];
    w->buckets[b] = t;
    w->ntasks++;
    return t;
}

static void sl__worker_flush_results(sl__worker *w)
{
    if (w->results && w->results->count) {
        sl__push_blocking(w->engine, w->out, w->results);
        w->results = NULL;
    }
    if (w->dead && w->dead->count) {
        sl__push_blocking(w->engine, w->out, w->dead);
        w->dead = NULL;
    }
}

static void sl__emit_result(void *ctx, const char *key, size_t key_len, const char *value,
                            size_t value_len, int64_t ts, int update)
{
    sl__worker *w = ctx;
    sl__task *t = w->current;
    if (!w->results) {
        w->results = sl_batch_new(SL_MSG_RESULTS, -1, SL__OUT_BATCH_ROWS, 0);
        if (!w->results) {
            atomic_store(&w->engine->failed, 1);
            return;
        }
    }
    sl_batch *b = w->results;
    uint32_t i = b->count;
    b->key_off[i] = sl_batch_put_bytes(b, key, key_len);
    b->key_len[i] = (uint32_t)key_len;
    b->row_off[i] = sl_batch_put_bytes(b, value, value_len);
    b->row_len[i] = (uint32_t)value_len;
    b->offset[i] = (int64_t)t->next_seq++;
    b->ts[i] = ts;
    b->key_hash[i] = (uint64_t)t->id;
    b->count++;
    w->results_count++;
    if (update)
        w->late_updates++;
    else
        w->windows_fired++;
    if (b->count == b->capacity)
        sl__worker_flush_results(w);
}

static void sl__emit_late(void *ctx, const sl_batch *in, uint32_t row, int64_t watermark)
{
    sl__worker *w = ctx;
    w->late++;
    if (!w->engine->dlq_ops)
        return;
    if (!w->dead) {
        w->dead = sl_batch_new(SL_MSG_BAD, -1, 256, 0);
        if (!w->dead)
            return;
    }
    sl_batch *b = w->dead;
    uint32_t i = b->count, klen;
    const char *key = sl_batch_key(in, row, &klen);
    b->key_off[i] = sl_batch_put_bytes(b, "late", 4);
    b->key_len[i] = 4;
    char head[200];
    int hn = snprintf(head, sizeof(head),
                      "{\"reason\":\"late\",\"task\":%d,\"offset\":%" PRId64
                      ",\"event_time\":%" PRId64 ",\"watermark\":%" PRId64 ",\"key\":{",
                      in->task, in->offset[row], in->ts[row], watermark);
    size_t start = b->bytes_len;
    sl_batch_put_bytes(b, head, (size_t)hn);
    sl_batch_put_bytes(b, key, klen);
    sl_batch_put_bytes(b, "}}", 2);
    b->row_off[i] = (uint32_t)start;
    b->row_len[i] = (uint32_t)(b->bytes_len - start);
    b->offset[i] = in->offset[row];
    b->ts[i] = in->ts[row];
    b->key_hash[i] = (uint64_t)in->task;
    b->count++;
    w->dead_lettered++;
    if (b->count == b->capacity)
        sl__worker_flush_results(w);
}

/* A pipeline without a window: every event row is a result. */
static void sl__passthrough(sl__worker *w, const sl_batch *in)
{
    for (uint32_t i = 0; i < in->count; i++) {
        uint32_t klen, rlen;
        const char *key = sl_batch_key(in, i, &klen);
        const char *row = sl_batch_row(in, i, &rlen);
        char kbuf[1024];
        size_t kn = 0;
        if (klen && klen + 2 <= sizeof(kbuf)) {
            kbuf[0] = '{';
            memcpy(kbuf + 1, key, klen);
            kbuf[klen + 1] = '}';
            kn = klen + 2;
        }
        sl__emit_result(w, kbuf, kn, row, rlen, in->ts[i], 0);
        w->windows_fired--; /* not a window */
    }
}

static void sl__worker_publish(sl__worker *w)
{
    int64_t min_wm = INT64_MAX;
    size_t state = 0;
    int any = 0;
    for (size_t b = 0; b < w->nbuckets; b++) {
        for (sl__task *t = w->buckets[b]; t; t = t->next) {
            if (!t->window)
                continue;
            int64_t wm = sl_window_task_watermark(t->window);
            if (wm > INT64_MIN && wm < min_wm)
                min_wm = wm, any = 1;
            state += sl_window_task_state_bytes(t->window);
        }
    }
    SL__PUBLISH(w->counters.late, w->late);
    SL__PUBLISH(w->counters.late_updates, w->late_updates);
    SL__PUBLISH(w->counters.windows_fired, w->windows_fired);
    SL__PUBLISH(w->counters.results, w->results_count);
    SL__PUBLISH(w->counters.dead_lettered, w->dead_lettered);
    SL__PUBLISH(w->counters.min_watermark, any ? min_wm : INT64_MIN);
    SL__PUBLISH(w->counters.state_bytes, (uint64_t)state);
    SL__PUBLISH(w->counters.tasks, w->ntasks);
}

static const sl_emitter *sl__worker_emitter(sl__worker *w)
{
    static _Thread_local sl_emitter em;
    em.result = sl__emit_result;
    em.late = sl__emit_late;
    em.ctx = w;
    return &em;
}

static void sl__task_close(sl__worker *w, sl__task *t)
{
    if (t->closed)
        return;
    w->current = t;
    if (t->window)
        sl_window_task_close(t->window, sl__worker_emitter(w));
    t->closed = 1;
}

static void sl__worker_handle(sl__worker *w, int lane, sl_batch *b)
{
    const sl_emitter *em = sl__worker_emitter(w);
    switch (b->kind) {
    case SL_MSG_DATA: {
        sl__task *t = sl__task_get(w, b->task, lane);
        w->current = t;
        t->last_input_ns = sl_mono_ns();
        t->idle_base_wm = INT64_MIN;
        if (t->window)
            sl_window_task_process(t->window, b, em);
        else
            sl__passthrough(w, b);
        break;
    }
    case SL_MSG_WATERMARK: {
        sl__task *t = sl__task_get(w, b->task, lane);
        w->current = t;
        if (t->window)
            sl_window_task_advance(t->window, b->value, em);
        break;
    }
    case SL_MSG_EOS:
        if (b->task >= 0) {
            sl__task_close(w, sl__task_get(w, b->task, lane));
        } else {
            for (size_t k = 0; k < w->nbuckets; k++)
                for (sl__task *t = w->buckets[k]; t; t = t->next)
                    if (t->lane == lane)
                        sl__task_close(w, t);
        }
        break;
    case SL_MSG_ASSIGN:
        sl__task_get(w, b->task, lane);
        break;
    case SL_MSG_REVOKE: {
        /* State of a revoked task is dropped: its new owner restores it
         * from the last checkpoint. */
        sl__task **pp = &w->buckets[(uint32_t)b->task % w->nbuckets];
        while (*pp && (*pp)->id != b->task)
            pp = &(*pp)->next;
        if (*pp) {
            sl__task *t = *pp;
            *pp = t->next;
            sl_window_task_free(t->window);
            free(t);
            w->ntasks--;
        }
        break;
    }
    default:
        break;
    }
    sl_batch_free(b);
}

/* Idle timeout: a task without input for idle_timeout advances its
 * watermark with processing time, so its last windows close. */
static void sl__worker_idle(sl__worker *w, int64_t now_ns)
{
    int64_t idle_ms = w->engine->def->watermark.idle_timeout_ms;
    if (idle_ms <= 0)
        return;
    const sl_emitter *em = sl__worker_emitter(w);
    for (size_t k = 0; k < w->nbuckets; k++) {
        for (sl__task *t = w->buckets[k]; t; t = t->next) {
            if (!t->window || t->closed)
                continue;
            int64_t quiet_ms = (now_ns - t->last_input_ns) / 1000000;
            if (quiet_ms < idle_ms)
                continue;
            int64_t wm = sl_window_task_watermark(t->window);
            if (wm == INT64_MIN)
                continue; /* nothing seen yet */
            if (t->idle_base_wm == INT64_MIN)
                t->idle_base_wm = wm;
            int64_t target = t->idle_base_wm + quiet_ms;
            if (target > wm) {
                w->current = t;
                sl_window_task_advance(t->window, target, em);
            }
        }
    }
}

static void *sl__worker_main(void *arg)
{
    sl__worker *w = arg;
    sl_engine *e = w->engine;
    sl_batch *items[16];
    int idle_rounds = 0;
    int64_t last_idle_check = sl_mono_ns(), last_publish = 0;
    for (;;) {
        int done = atomic_load_explicit(&e->lanes_done, memory_order_acquire);
        size_t got = 0;
        for (int l = 0; l < e->nlanes; l++) {
            sl_ring *r = e->lanes[l].rings[w->index];
            size_t n = sl_ring_pop_many(r, (void **)items, SL_ARRAY_LEN(items));
            for (size_t i = 0; i < n; i++)
                sl__worker_handle(w, l, items[i]);
            got += n;
        }
        int64_t now = sl_mono_ns();
        if (now - last_idle_check > 10 * 1000000) {
            sl__worker_idle(w, now);
            last_idle_check = now;
        }
        if (got == 0 || now - last_publish > 50 * 1000000) {
            sl__worker_flush_results(w);
            sl__worker_publish(w);
            last_publish = now;
        }
        if (got == 0) {
            if (done || atomic_load(&e->failed))
                break;
            if (++idle_rounds > 64)
                sl_sleep_us(idle_rounds > 2000 ? 1000 : 50);
        } else {
            idle_rounds = 0;
        }
    }
    sl__worker_flush_results(w);
    sl__worker_publish(w);
    return NULL;
}

/* ---- sink thread ------------------------------------------------------ */

static int sl__sink_write(sl_engine *e, sl_batch *b)
{
    int rc = SL_OK;
    if (b->kind == SL_MSG_RESULTS) {
        rc = e->sink_ops->write(e->sink, b);
        if (rc == SL_OK)
            atomic_fetch_add_explicit(&e->results_written, b->count, memory_order_relaxed);
    } else if (b->kind == SL_MSG_BAD && e->dlq_ops) {
        rc = e->dlq_ops->write(e->dlq, b);
        if (rc == SL_OK)
            atomic_fetch_add_explicit(&e->dlq_written, b->count, memory_order_relaxed);
    }
    sl_batch_free(b);
    if (rc != SL_OK) {
        sl_error("sink", "write failed: %s; stopping", sl_err2str(rc));
        atomic_store(&e->failed, 1);
    }
    return rc;
}

static void *sl__sink_main(void *arg)
{
    sl_engine *e = arg;
    sl_batch *items[16];
    int idle_rounds = 0;
    for (;;) {
        int done = atomic_load_explicit(&e->workers_done, memory_order_acquire);
        size_t got = 0;
        for (int w = 0; w < e->nworkers; w++) {
            size_t n = sl_ring_pop_many(e->workers[w].out, (void **)items, SL_ARRAY_LEN(items));
            for (size_t i = 0; i < n; i++)
                sl__sink_write(e, items[i]);
            got += n;
        }
        for (int l = 0; l < e->nlanes; l++) {
            size_t n = sl_ring_pop_many(e->lanes[l].dlq, (void **)items, SL_ARRAY_LEN(items));
            for (size_t i = 0; i < n; i++)
                sl__sink_write(e, items[i]);
            got += n;
        }
        if (got == 0) {
            if (done)
                break;
            if (++idle_rounds > 64)
                sl_sleep_us(idle_rounds > 2000 ? 1000 : 50);
        } else {
            idle_rounds = 0;
        }
    }
    return NULL;
}

/* ---- engine lifecycle -------------------------------------------------- */

void sl_engine_get_stats(const sl_engine *e, sl_engine_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (int l = 0; l < e->nlanes; l++) {
        sl__lane_counters *c = &e->lanes[l].counters;
        s->events_in += SL__READ(c->events_in);
        s->events_filtered += SL__READ(c->filtered);
        s->dead_lettered += SL__READ(c->dead_lettered);
        for (int i = 0; i < SL_BAD_COUNT; i++) {
            uint64_t v = SL__READ(c->bad[i]);
            s->bad[i] += v;
            s->bad_total += v;
        }
    }
    s->min_watermark = INT64_MIN;
    for (int w = 0; w < e->nworkers; w++) {
        sl__worker_counters *c = &e->workers[w].counters;
        s->late += SL__READ(c->late);
        s->late_updates += SL__READ(c->late_updates);
        s->windows_fired += SL__READ(c->windows_fired);
        s->dead_lettered += SL__READ(c->dead_lettered);
        s->window_state_bytes += (size_t)SL__READ(c->state_bytes);
        s->tasks += SL__READ(c->tasks);
        int64_t wm = SL__READ(c->min_watermark);
        if (wm != INT64_MIN && (s->min_watermark == INT64_MIN || wm < s->min_watermark))
            s->min_watermark = wm;
    }
    s->results_out = atomic_load_explicit(&((sl_engine *)e)->results_written, memory_order_relaxed);
    int64_t end = e->end_ns ? e->end_ns : sl_mono_ns();
    s->elapsed_ns = e->start_ns ? end - e->start_ns : 0;
}

static int sl__create_sink(const sl_connector_def *c, const sl_def *def, const sl_sink_ops **ops,
                           void **state, char *errstr, size_t errstr_size)
{
    if (!*ops)
        *ops = sl_sink_find(c->type);
    if (!*ops)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.type: unknown sink \"%s\"", c->path,
                         c->type);
    return (*ops)->create(c, def, state, errstr, errstr_size);
}

sl_engine *sl_engine_new(const sl_def *def, const sl_engine_options *opt, char *errstr,
                         size_t errstr_size)
{
    sl_engine *e = sl_xcalloc(1, sizeof(*e));
    e->def = def;
    if (opt)
        e->opt = *opt;
    if (!e->opt.status_out)
        e->opt.status_out = stderr;
    e->nworkers = def->runtime.workers > 0 ? def->runtime.workers : 1;

    e->source_ops = e->opt.source_ops ? e->opt.source_ops : sl_source_find(def->source.type);
    if (!e->source_ops) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "source.type: unknown source \"%s\"",
                  def->source.type);
        free(e);
        return NULL;
    }
    if (e->source_ops->create(&def->source, def, &e->source, errstr, errstr_size) != SL_OK) {
        free(e);
        return NULL;
    }
    e->sink_ops = e->opt.sink_ops;
    if (sl__create_sink(&def->sink, def, &e->sink_ops, &e->sink, errstr, errstr_size) != SL_OK)
        goto fail;
    if (def->dead_letter.type &&
        sl__create_sink(&def->dead_letter, def, &e->dlq_ops, &e->dlq, errstr, errstr_size) !=
            SL_OK)
        goto fail;

    e->nlanes = e->source_ops->lanes(e->source);
    if (e->nlanes < 1)
        e->nlanes = 1;
    size_t ring_cap = (size_t)(def->runtime.ring_capacity > 0 ? def->runtime.ring_capacity : 64);
    e->lanes = sl_xcalloc((size_t)e->nlanes, sizeof(*e->lanes));
    e->workers = sl_xcalloc((size_t)e->nworkers, sizeof(*e->workers));
    for (int w = 0; w < e->nworkers; w++) {
        sl__worker *wk = &e->workers[w];
        wk->engine = e;
        wk->index = w;
        wk->out = sl_ring_new(ring_cap);
        wk->nbuckets = 256;
        wk->buckets = sl_xcalloc(wk->nbuckets, sizeof(*wk->buckets));
        if (!wk->out)
            goto oom;
    }
    for (int l = 0; l < e->nlanes; l++) {
        sl_lane *ln = &e->lanes[l];
        ln->engine = e;
        ln->index = l;
        ln->ingest = sl_ingest_new(def, SL_INGEST_RAW, errstr, errstr_size);
        if (!ln->ingest)
            goto fail;
        ln->nvals = sl_ingest_ncolumns(ln->ingest);
        ln->queued = sl_xcalloc((size_t)e->nworkers, sizeof(*ln->queued));
        ln->rings = sl_xcalloc((size_t)e->nworkers, sizeof(*ln->rings));
        for (int w = 0; w < e->nworkers; w++)
            if (!(ln->rings[w] = sl_ring_new(ring_cap)))
                goto oom;
        if (!(ln->dlq = sl_ring_new(ring_cap)))
            goto oom;
    }
    return e;
oom:
    sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory creating rings");
fail:
    sl_engine_free(e);
    return NULL;
}

void sl_engine_stop(sl_engine *e)
{
    atomic_store(&e->stop_requested, 1);
}

static void sl__print_status(sl_engine *e, uint64_t *prev_in, int64_t *prev_ns)
{
    sl_engine_stats s;
    sl_engine_get_stats(e, &s);
    int64_t now = sl_mono_ns();
    double dt = (double)(now - *prev_ns) / 1e9;
    double rate = dt > 0 ? (double)(s.events_in - *prev_in) / dt : 0;
    *prev_in = s.events_in;
    *prev_ns = now;
    char wm[32] = "-";
    if (s.min_watermark != INT64_MIN)
        snprintf(wm, sizeof(wm), "%" PRId64, s.min_watermark);
    fprintf(e->opt.status_out,
            "\r[sluice] in %" PRIu64 " (%.0f ev/s) bad %" PRIu64 " late %" PRIu64
            " windows %" PRIu64 " out %" PRIu64 " watermark %s   ",
            s.events_in, rate, s.bad_total, s.late, s.windows_fired, s.results_out, wm);
    if (e->source_ops->status) {
        e->source_ops->status(e->source, e->opt.status_out);
    }
    fflush(e->opt.status_out);
}

static void sl__print_summary(sl_engine *e, FILE *out)
{
    sl_engine_stats s;
    sl_engine_get_stats(e, &s);
    double secs = (double)s.elapsed_ns / 1e9;
    fprintf(out, "{\"summary\":{\"pipeline\":\"%s\",\"events_in\":%" PRIu64
                 ",\"events_filtered\":%" PRIu64 ",\"bad\":{",
            e->def->name, s.events_in, s.events_filtered);
    for (int i = 0; i < SL_BAD_COUNT; i++)
        fprintf(out, "%s\"%s\":%" PRIu64, i ? "," : "", sl_bad_reason_name((sl_bad_reason)i),
                s.bad[i]);
    fprintf(out,
            "},\"bad_total\":%" PRIu64 ",\"late_dropped\":%" PRIu64 ",\"late_updates\":%" PRIu64
            ",\"windows_fired\":%" PRIu64 ",\"results_out\":%" PRIu64
            ",\"dead_lettered\":%" PRIu64 ",\"tasks\":%d,\"elapsed_s\":%.3f,\"events_per_s\":%.0f}}\n",
            s.bad_total, s.late, s.late_updates, s.windows_fired, s.results_out, s.dead_lettered,
            s.tasks, secs, secs > 0 ? (double)s.events_in / secs : 0.0);
    fflush(out);
}

static void *sl__source_joiner(void *arg)
{
    sl_engine *e = arg;
    if (e->source_ops->join(e->source) != 0) {
        sl_error("engine", "source failed");
        e->source_failed = 1;
    }
    for (int l = 0; l < e->nlanes; l++) {
        sl_lane *ln = &e->lanes[l];
        sl_lane_flush(ln);
        /* Workers are still draining, so this ends unless the engine
         * failed (then queued batches are freed by sl_engine_free). */
        while (sl_lane_pump(ln) == SL_EAGAIN && !atomic_load(&e->failed))
            sl_sleep_us(200);
    }
    atomic_store_explicit(&e->lanes_done, 1, memory_order_release);
    return NULL;
}

int sl_engine_run(sl_engine *e)
{
    char err[512];
    e->start_ns = sl_mono_ns();
    int nworkers_started = 0, sink_started = 0, rc = 0;
    for (int w = 0; w < e->nworkers; w++) {
        if (pthread_create(&e->workers[w].thread, NULL, sl__worker_main, &e->workers[w]) != 0)
            goto thread_fail;
        nworkers_started++;
    }
    if (pthread_create(&e->sink_thread, NULL, sl__sink_main, e) != 0)
        goto thread_fail;
    sink_started = 1;
    if (e->source_ops->start(e->source, e, err, sizeof(err)) != SL_OK) {
        sl_error("engine", "source failed to start: %s", err);
        rc = 1;
        atomic_store(&e->stop_requested, 1);
        atomic_store_explicit(&e->lanes_done, 1, memory_order_release);
        goto drain;
    }

    /* A joiner thread waits for the source's threads to end, then flushes
     * the lanes (safe: their threads are gone) and lets the workers drain.
     * The main thread meanwhile prints status and forwards stop requests. */
    pthread_t joiner;
    if (pthread_create(&joiner, NULL, sl__source_joiner, e) != 0) {
        e->source_ops->stop(e->source);
        sl__source_joiner(e);
    } else {
        uint64_t prev_in = 0;
        int64_t prev_ns = sl_mono_ns(), last_status = prev_ns;
        int stop_forwarded = 0;
        while (!atomic_load_explicit(&e->lanes_done, memory_order_acquire)) {
            if (!stop_forwarded && sl_engine_stopping(e)) {
                e->source_ops->stop(e->source);
                stop_forwarded = 1;
            }
            int64_t now = sl_mono_ns();
            if (e->opt.status_interval_ms > 0 &&
                now - last_status >= (int64_t)e->opt.status_interval_ms * 1000000) {
                sl__print_status(e, &prev_in, &prev_ns);
                last_status = now;
            }
            sl_sleep_us(10000);
        }
        pthread_join(joiner, NULL);
    }
    if (e->source_failed)
        rc = 1;
drain:
    for (int w = 0; w < nworkers_started; w++)
        pthread_join(e->workers[w].thread, NULL);
    atomic_store_explicit(&e->workers_done, 1, memory_order_release);
    if (sink_started)
        pthread_join(e->sink_thread, NULL);
    {
        int frc = e->sink_ops->flush(e->sink, 30000);
        if (frc != SL_OK) {
            sl_error("sink", "flush failed: %s", sl_err2str(frc));
            rc = 1;
        }
        if (e->dlq_ops && e->dlq_ops->flush(e->dlq, 30000) != SL_OK) {
            sl_error("dead_letter", "flush failed");
            rc = 1;
        }
    }
    e->end_ns = sl_mono_ns();
    if (atomic_load(&e->failed))
        rc = 1;
    if (e->opt.status_interval_ms > 0)
        fputc('\n', e->opt.status_out);
    if (e->opt.summary)
        sl__print_summary(e, stderr);
    return rc;
thread_fail:
    sl_error("engine", "cannot start threads");
    atomic_store(&e->failed, 1);
    atomic_store_explicit(&e->lanes_done, 1, memory_order_release);
    rc = 1;
    goto drain;
}

void sl_engine_free(sl_engine *e)
{
    if (!e)
        return;
    if (e->lanes) {
        for (int l = 0; l < e->nlanes; l++) {
            sl_lane *ln = &e->lanes[l];
            for (size_t t = 0; t < ln->nbuilding; t++)
                sl_batch_free(ln->building[t]);
            free(ln->building);
            for (int w = 0; w < e->nworkers && ln->queued; w++) {
                sl_batch *b;
                while ((b = sl__queue_pop(&ln->queued[w])))
                    sl_batch_free(b);
            }
            for (int w = 0; w < e->nworkers && ln->rings; w++) {
                sl_batch *b;
                while (ln->rings[w] && (b = sl_ring_pop(ln->rings[w])))
                    sl_batch_free(b);
                sl_ring_free(ln->rings[w]);
            }
            if (ln->dlq) {
                sl_batch *b;
                while ((b = sl_ring_pop(ln->dlq)))
                    sl_batch_free(b);
                sl_ring_free(ln->dlq);
            }
            sl_batch_free(ln->dlq_batch);
            free(ln->queued);
            free(ln->rings);
            free(ln->tasks);
            sl_ingest_free(ln->ingest);
        }
        free(e->lanes);
    }
    if (e->workers) {
        for (int w = 0; w < e->nworkers; w++) {
            sl__worker *wk = &e->workers[w];
            if (wk->out) {
                sl_batch *b;
                while ((b = sl_ring_pop(wk->out)))
                    sl_batch_free(b);
                sl_ring_free(wk->out);
            }
            sl_batch_free(wk->results);
            sl_batch_free(wk->dead);
            for (size_t k = 0; wk->buckets && k < wk->nbuckets; k++) {
                sl__task *t = wk->buckets[k];
                while (t) {
                    sl__task *n = t->next;
                    sl_window_task_free(t->window);
                    free(t);
                    t = n;
                }
            }
            free(wk->buckets);
        }
        free(e->workers);
    }
    if (e->source_ops && e->source)
        e->source_ops->destroy(e->source);
    if (e->sink_ops && e->sink)
        e->sink_ops->destroy(e->sink);
    if (e->dlq_ops && e->dlq)
        e->dlq_ops->destroy(e->dlq);
    free(e);
}
