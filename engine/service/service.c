/* service.c - metrics refresh and HTTP endpoints of `sluice run` (service.h). */
#include "service.h"

#include "checkpoint.h"
#include "connector.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL__MAX_TASKS      4096
#define SL__MAX_PARTITIONS 4096

/* Cells are owned by the series they were created for; this cache makes
 * each (family, labels) get exactly one cell. */
typedef struct sl__cell_slot {
    const sl_metric *fam;
    char key[192];
    sl_cell *cell;
} sl__cell_slot;

struct sl_service {
    sl_engine *engine;
    const sl_def *def;
    sl_metrics *metrics;
    sl_sluice_metrics m;
    sl_hist *ckpt_hist;
    uint64_t ckpt_seen;
    sl_http *http;
    pthread_t thread;
    int thread_started;
    _Atomic int stop;
    pthread_mutex_t mu; /* the refresh, against /api/status and stop */
    sl__cell_slot *cells;
    size_t ncells, cells_cap;
    sl_task_status *tasks;
    sl_partition_status *parts;
};

static sl_cell *sl__cell(sl_service *s, sl_metric *fam, const char *const *values, size_t n)
{
    char key[192] = "";
    size_t pos = 0;
    for (size_t i = 0; i < n && pos < sizeof(key); i++)
        pos += (size_t)snprintf(key + pos, sizeof(key) - pos, "%s\x1f", values[i]);
    for (size_t i = 0; i < s->ncells; i++)
        if (s->cells[i].fam == fam && strcmp(s->cells[i].key, key) == 0)
            return s->cells[i].cell;
    sl_cell *c = sl_metric_cell(fam, values, n);
    if (!c)
        return NULL;
    if (s->ncells == s->cells_cap) {
        s->cells_cap = s->cells_cap ? s->cells_cap * 2 : 64;
        s->cells = sl_xrealloc(s->cells, s->cells_cap * sizeof(*s->cells));
    }
    s->cells[s->ncells].fam = fam;
    snprintf(s->cells[s->ncells].key, sizeof(s->cells[s->ncells].key), "%s", key);
    s->cells[s->ncells].cell = c;
    s->ncells++;
    return c;
}

static void sl__set(sl_service *s, sl_metric *fam, const char *const *values, size_t n, int64_t v)
{
    sl_cell *c = sl__cell(s, fam, values, n);
    if (c)
        sl_cell_set_i64(c, v);
}

static size_t sl__partitions(sl_service *s)
{
    return sl_engine_partitions(s->engine, s->parts, SL__MAX_PARTITIONS);
}

/* Copies the engine's published counters into the metric cells. */
static void sl__refresh(sl_service *s)
{
    sl_engine *e = s->engine;
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    const char *source = s->def->source.type, *sink = s->def->sink.type;

    size_t ntasks = sl_engine_task_status(e, s->tasks, SL__MAX_TASKS);
    if (ntasks > SL__MAX_TASKS)
        ntasks = SL__MAX_TASKS;
    int64_t now = sl_wall_ms();
    /* Events in per source partition: a source that reports partitions
     * (Kafka: its input topics', not the repartition topic's) counts them;
     * otherwise its partitions are the tasks (topic ""). */
    size_t nparts = sl__partitions(s);
    if (nparts > SL__MAX_PARTITIONS)
        nparts = SL__MAX_PARTITIONS;
    for (size_t i = 0; i < nparts; i++) {
        char part[16];
        snprintf(part, sizeof(part), "%d", s->parts[i].partition);
        if (s->parts[i].events >= 0)
            sl__set(s, s->m.events_in, (const char *[]){source, s->parts[i].topic, part}, 3,
                    s->parts[i].events);
    }
    for (size_t i = 0; i < ntasks; i++) {
        char task[16];
        snprintf(task, sizeof(task), "%d", s->tasks[i].task);
        if (nparts == 0)
            sl__set(s, s->m.events_in, (const char *[]){source, "", task}, 3,
                    (int64_t)s->tasks[i].events);
        sl__set(s, s->m.window_state_bytes, (const char *[]){task}, 1,
                (int64_t)s->tasks[i].state_bytes);
        if (s->tasks[i].watermark > INT64_MIN && s->tasks[i].watermark < INT64_MAX)
            sl__set(s, s->m.watermark_lag, (const char *[]){task}, 1, now - s->tasks[i].watermark);
    }
    sl__set(s, s->m.events_out, (const char *[]){sink}, 1, (int64_t)st.results_out);
    for (int r = 0; r < SL_BAD_COUNT; r++)
        sl__set(s, s->m.bad_events, (const char *[]){sl_bad_reason_name((sl_bad_reason)r)}, 1,
                (int64_t)st.bad[r]);
    sl__set(s, s->m.late_events, (const char *[]){"dropped"}, 1, (int64_t)st.late);
    sl__set(s, s->m.late_events, (const char *[]){"updated"}, 1, (int64_t)st.late_updates);
    sl__set(s, s->m.results_emitted, NULL, 0,
            (int64_t)(st.windows_fired + st.late_updates + st.tombstones));
    sl__set(s, s->m.tasks_assigned, NULL, 0, st.tasks);

    size_t occupancy = 0, capacity = 0;
    size_t nrings = sl_engine_rings(e, 0, &occupancy, &capacity);
    for (size_t i = 0; i < nrings; i++) {
        sl_engine_rings(e, i, &occupancy, &capacity);
        char name[32];
        snprintf(name, sizeof(name), "%zu", i);
        sl__set(s, s->m.ring_occupancy, (const char *[]){name}, 1, (int64_t)occupancy);
    }

    sl_checkpoint_stats cs;
    if (sl_engine_checkpoint_stats(e, &cs) == SL_OK) {
        sl__set(s, s->m.checkpoints, NULL, 0, (int64_t)cs.completed);
        sl__set(s, s->m.checkpoint_failures, NULL, 0, (int64_t)cs.failed);
        sl__set(s, s->m.checkpoint_size, NULL, 0, (int64_t)cs.last_bytes);
        sl__set(s, s->m.replication_refused, (const char *[]){"handshake"}, 1,
                (int64_t)cs.repl_refused_connections);
        sl__set(s, s->m.replication_refused, (const char *[]){"origin"}, 1,
                (int64_t)cs.repl_refused_origin);
        sl__set(s, s->m.replication_refused, (const char *[]){"malformed"}, 1,
                (int64_t)cs.repl_bad_messages);
        if (s->ckpt_hist)
            for (; s->ckpt_seen < cs.completed; s->ckpt_seen++)
                sl_hist_observe(s->ckpt_hist, cs.last_duration_ms / 1000.0);
    }
}

static void sl__refresh_lag(sl_service *s)
{
    size_t n = sl__partitions(s);
    if (n > SL__MAX_PARTITIONS)
        n = SL__MAX_PARTITIONS;
    for (size_t i = 0; i < n; i++) {
        char part[16];
        snprintf(part, sizeof(part), "%d", s->parts[i].partition);
        if (s->parts[i].lag >= 0)
            sl__set(s, s->m.consumer_lag, (const char *[]){s->parts[i].topic, part}, 2,
                    s->parts[i].lag);
    }
}

static void *sl__service_main(void *arg)
{
    sl_service *s = arg;
    while (!atomic_load(&s->stop)) {
        pthread_mutex_lock(&s->mu);
        sl__refresh(s);
        sl__refresh_lag(s);
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < 10 && !atomic_load(&s->stop); i++)
            sl_sleep_us(50000);
    }
    return NULL;
}

static int sl__ready(void *arg, char *reason, size_t reason_size)
{
    sl_service *s = arg;
    return sl_engine_ready(s->engine, reason, reason_size);
}

static json_t *sl__i64_or_null(int64_t v)
{
    return v == INT64_MIN || v == INT64_MAX ? json_null() : json_integer(v);
}

char *sl_service_status_json(sl_service *s)
{
    pthread_mutex_lock(&s->mu);
    sl_engine_stats st;
    sl_engine_get_stats(s->engine, &st);
    json_t *root = json_object();
    json_object_set_new(root, "pipeline", json_string(s->def->name));
    json_object_set_new(root, "node",
                        json_string(s->def->cluster.node_id ? s->def->cluster.node_id : ""));
    char reason[256] = "";
    int ready = sl_engine_ready(s->engine, reason, sizeof(reason));
    json_object_set_new(root, "ready", json_boolean(ready));
    if (!ready)
        json_object_set_new(root, "not_ready_reason", json_string(reason));

    json_t *totals = json_object();
    json_object_set_new(totals, "events_in", json_integer((json_int_t)st.events_in));
    json_object_set_new(totals, "events_filtered", json_integer((json_int_t)st.events_filtered));
    json_object_set_new(totals, "division_by_zero", json_integer((json_int_t)st.div_zero));
    json_object_set_new(totals, "bad", json_integer((json_int_t)st.bad_total));
    json_object_set_new(totals, "late_dropped", json_integer((json_int_t)st.late));
    json_object_set_new(totals, "windows_fired", json_integer((json_int_t)st.windows_fired));
    json_object_set_new(totals, "results_out", json_integer((json_int_t)st.results_out));
    json_object_set_new(totals, "min_watermark", sl__i64_or_null(st.min_watermark));
    json_object_set_new(totals, "window_state_bytes",
                        json_integer((json_int_t)st.window_state_bytes));
    json_object_set_new(root, "totals", totals);

    json_t *tasks = json_array();
    size_t n = sl_engine_task_status(s->engine, s->tasks, SL__MAX_TASKS);
    for (size_t i = 0; i < n && i < SL__MAX_TASKS; i++) {
        const sl_task_status *t = &s->tasks[i];
        json_t *o = json_object();
        json_object_set_new(o, "task", json_integer(t->task));
        json_object_set_new(o, "worker", json_integer(t->worker));
        json_object_set_new(o, "watermark", sl__i64_or_null(t->watermark));
        json_object_set_new(o, "max_event_time", sl__i64_or_null(t->max_event_time));
        json_object_set_new(o, "events", json_integer((json_int_t)t->events));
        json_object_set_new(o, "results", json_integer((json_int_t)t->next_seq));
        json_object_set_new(o, "held_results", json_integer((json_int_t)t->held));
        json_object_set_new(o, "state_bytes", json_integer((json_int_t)t->state_bytes));
        json_array_append_new(tasks, o);
    }
    json_object_set_new(root, "tasks", tasks);

    json_t *parts = json_array();
    n = sl__partitions(s);
    for (size_t i = 0; i < n && i < SL__MAX_PARTITIONS; i++) {
        const sl_partition_status *p = &s->parts[i];
        json_t *o = json_object();
        json_object_set_new(o, "topic", json_string(p->topic));
        json_object_set_new(o, "partition", json_integer(p->partition));
        json_object_set_new(o, "consumed", json_integer(p->consumed));
        json_object_set_new(o, "committed", json_integer(p->committed));
        json_object_set_new(o, "high", json_integer(p->high));
        json_object_set_new(o, "lag", json_integer(p->lag));
        json_array_append_new(parts, o);
    }
    json_object_set_new(root, "partitions", parts);

    sl_checkpoint_stats cs;
    if (sl_engine_checkpoint_stats(s->engine, &cs) == SL_OK) {
        json_t *c = json_object();
        json_object_set_new(c, "last_durable", json_integer((json_int_t)cs.durable_id));
        json_object_set_new(c, "completed", json_integer((json_int_t)cs.completed));
        json_object_set_new(c, "failed", json_integer((json_int_t)cs.failed));
        json_object_set_new(c, "last_bytes", json_integer((json_int_t)cs.last_bytes));
        json_object_set_new(c, "last_duration_ms", json_real(cs.last_duration_ms));
        json_object_set_new(c, "p50_ms", json_real(cs.p50_ms));
        json_object_set_new(c, "p99_ms", json_real(cs.p99_ms));
        json_object_set_new(c, "last_completed_at_ms", json_integer(cs.last_completed_wall_ms));
        json_object_set_new(root, "checkpoint", c);
    } else {
        json_object_set_new(root, "checkpoint", json_null());
    }
    pthread_mutex_unlock(&s->mu);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static char *sl__status(void *arg)
{
    return sl_service_status_json(arg);
}

sl_service *sl_service_start(sl_engine *e, const sl_def *def, char *errstr, size_t errstr_size)
{
    sl_service *s = sl_xcalloc(1, sizeof(*s));
    s->engine = e;
    s->def = def;
    pthread_mutex_init(&s->mu, NULL);
    s->tasks = sl_xcalloc(SL__MAX_TASKS, sizeof(*s->tasks));
    s->parts = sl_xcalloc(SL__MAX_PARTITIONS, sizeof(*s->parts));
    s->metrics = sl_metrics_new();
    if (!s->metrics || sl_metrics_register_sluice(s->metrics, &s->m, errstr, errstr_size) != 0)
        goto fail;
    s->ckpt_hist = sl_metric_hist(s->m.checkpoint_duration, NULL, 0);
    if (def->http.addr) {
        sl_http_options ho = {.addr = def->http.addr,
                              .metrics = s->metrics,
                              .ready = sl__ready,
                              .ready_arg = s,
                              .status = sl__status,
                              .status_arg = s,
                              .token = def->http.token};
        s->http = sl_http_start(&ho, errstr, errstr_size);
        if (!s->http)
            goto fail;
        sl_info("http", "serving /healthz /readyz /metrics /api/status on %s%s", def->http.addr,
                def->http.token ? " (bearer token required for /metrics and /api/)"
                                : " (no token: /metrics and /api/ are open to anyone who can "
                                  "connect)");
    }
    if (pthread_create(&s->thread, NULL, sl__service_main, s) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "cannot start the metrics thread");
        goto fail;
    }
    s->thread_started = 1;
    return s;
fail:
    sl_service_stop(s);
    return NULL;
}

void sl_service_stop(sl_service *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    sl_http_stop(s->http);
    sl_metrics_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
    free(s->cells);
    free(s->tasks);
    free(s->parts);
    free(s);
}
