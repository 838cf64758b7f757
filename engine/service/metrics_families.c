/*
 * metrics_families.c - the process metrics (RSS, CPU, start time) and the
 * engine's metric families (sl_metrics_register_sluice).
 */
#include "metrics.h"
#include "metrics_internal.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Process metrics
 * ------------------------------------------------------------------------ */

uint64_t sl_process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (n != 2 || page <= 0)
        return 0;
    return (uint64_t)resident * (uint64_t)page;
}

static double rss_fn(void *arg)
{
    (void)arg;
    return (double)sl_process_rss_bytes();
}

static double cpu_fn(void *arg)
{
    (void)arg;
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Process start time in seconds since the epoch: /proc/self/stat field 22
 * (clock ticks after boot) plus /proc/stat btime; `fallback` if unreadable. */
static double process_start_time(double fallback)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return fallback;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    if (!p)
        return fallback;
    /* after ')' come fields 3.. ; starttime is field 22 */
    int field = 2;
    unsigned long long start_ticks = 0;
    for (p++; *p && field < 22; p++) {
        if (*p == ' ') {
            field++;
            if (field == 22)
                start_ticks = strtoull(p + 1, NULL, 10);
        }
    }
    if (field != 22)
        return fallback;
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return fallback;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0)
        return fallback;
    return (double)btime + (double)start_ticks / (double)hz;
}

static double start_fn(void *arg)
{
    return *(const double *)arg;
}

static double g_start_time;
static pthread_once_t g_start_once = PTHREAD_ONCE_INIT;

static void start_init(void)
{
    g_start_time = process_start_time((double)sl_wall_ms() / 1000.0);
}

int sl_metrics_add_process(sl_metrics *m)
{
    char err[256];
    sl_metric *rss = sl_metrics_gauge(m, "sluice_process_resident_memory_bytes",
                                      "Resident memory size of the process in bytes.", NULL, 0, err,
                                      sizeof(err));
    sl_metric *cpu = sl_metrics_counter(m, "sluice_process_cpu_seconds_total",
                                        "User and system CPU time of the process in seconds.", NULL,
                                        0, err, sizeof(err));
    sl_metric *start = sl_metrics_gauge(m, "sluice_process_start_time_seconds",
                                        "Start time of the process since the epoch in seconds.",
                                        NULL, 0, err, sizeof(err));
    if (!rss || !cpu || !start)
        return SL_EINVAL;
    pthread_once(&g_start_once, start_init);
    pthread_mutex_lock(&m->mu);
    int have = rss->series && rss->series->cbs;
    pthread_mutex_unlock(&m->mu);
    if (have)
        return SL_OK;
    int rc = sl_metric_set_fn(rss, NULL, 0, rss_fn, NULL);
    if (rc == SL_OK)
        rc = sl_metric_set_fn(cpu, NULL, 0, cpu_fn, NULL);
    if (rc == SL_OK)
        rc = sl_metric_set_fn(start, NULL, 0, start_fn, &g_start_time);
    return rc;
}

/* ------------------------------------------------------------------------
 * The engine's families
 * ------------------------------------------------------------------------ */

int sl_metrics_register_sluice(sl_metrics *m, sl_sluice_metrics *out, char *errstr,
                               size_t errstr_size)
{
    static const char *const source_partition[] = {"source", "topic", "partition"};
    static const char *const sink[] = {"sink"};
    static const char *const reason[] = {"reason"};
    static const char *const outcome[] = {"outcome"};
    static const char *const topic_partition[] = {"topic", "partition"};
    static const char *const task[] = {"task"};
    static const char *const ring[] = {"ring"};
    static const double ckpt_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10,  30};
    sl_sluice_metrics f;
    memset(&f, 0, sizeof(f));
    /* clang-format off */
    if (!(f.events_in = sl_metrics_counter(m, "sluice_events_in_total",
            "Events read from a source partition (before filtering).",
            source_partition, 3, errstr, errstr_size)) ||
        !(f.events_out = sl_metrics_counter(m, "sluice_events_out_total",
            "Records written to a sink.", sink, 1, errstr, errstr_size)) ||
        !(f.bad_events = sl_metrics_counter(m, "sluice_bad_events_total",
            "Input events rejected, by reason.", reason, 1, errstr, errstr_size)) ||
        !(f.late_events = sl_metrics_counter(m, "sluice_late_events_total",
            "Events behind the watermark: outcome is dropped, dead_letter or updated "
            "(within allowed lateness).", outcome, 1, errstr, errstr_size)) ||
        !(f.consumer_lag = sl_metrics_gauge(m, "sluice_consumer_lag",
            "Messages between the consumer position and the partition's high watermark.",
            topic_partition, 2, errstr, errstr_size)) ||
        !(f.watermark_lag = sl_metrics_gauge(m, "sluice_watermark_lag_seconds",
            "Wall clock minus the task's event-time watermark, in seconds.",
            task, 1, errstr, errstr_size)) ||
        !(f.checkpoint_duration = sl_metrics_histogram(m, "sluice_checkpoint_duration_seconds",
            "Time from checkpoint start until it is durable on the required replicas.",
            NULL, 0, ckpt_bounds, SL_ARRAY_LEN(ckpt_bounds), errstr, errstr_size)) ||
        !(f.checkpoint_size = sl_metrics_gauge(m, "sluice_checkpoint_size_bytes",
            "Total snapshot bytes of the last completed checkpoint.",
            NULL, 0, errstr, errstr_size)) ||
        !(f.checkpoint_failures = sl_metrics_counter(m, "sluice_checkpoint_failures_total",
            "Checkpoints that failed or timed out.", NULL, 0, errstr, errstr_size)) ||
        !(f.checkpoints = sl_metrics_counter(m, "sluice_checkpoints_total",
            "Checkpoints completed.", NULL, 0, errstr, errstr_size)) ||
        !(f.ring_occupancy = sl_metrics_gauge(m, "sluice_ring_occupancy",
            "Batches waiting in a ring.", ring, 1, errstr, errstr_size)) ||
        !(f.window_state_bytes = sl_metrics_gauge(m, "sluice_window_state_bytes",
            "Bytes of open window state held by a task.", task, 1, errstr, errstr_size)) ||
        !(f.results_emitted = sl_metrics_counter(m, "sluice_results_emitted_total",
            "Window results emitted (after replay suppression).",
            NULL, 0, errstr, errstr_size)) ||
        !(f.tasks_assigned = sl_metrics_gauge(m, "sluice_tasks_assigned",
            "Tasks (input partitions) assigned to this node.", NULL, 0, errstr, errstr_size)) ||
        !(f.replication_refused = sl_metrics_counter(m, "sluice_replication_refused_total",
            "Replication requests refused: handshake (plaintext or unknown key), origin (a key "
            "pushing for another node), malformed (bad or out-of-bounds message).",
            reason, 1, errstr, errstr_size)))
        return SL_EINVAL;
    /* clang-format on */
    sl_metric_set_scale(f.watermark_lag, 0.001); /* cells hold milliseconds */
    int rc = sl_metrics_add_process(m);
    if (rc != SL_OK)
        return sl_seterr(errstr, errstr_size, rc, "metrics: process metrics: %s", sl_err2str(rc));
    *out = f;
    return SL_OK;
}
