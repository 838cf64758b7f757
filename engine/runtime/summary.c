/*
 * summary.c - the exit summary of `sluice run`: one JSON object on stderr,
 * {"summary": {...}}, built with jansson so it is valid JSON whatever
 * happened (a failed start, a source that never got partitions, a status
 * member a connector could not render).
 */
#include "engine_internal.h"
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string of `s`; bytes that are not UTF-8 become '?' (messages may
 * quote input). */
static json_t *sl__jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    char *copy = sl_xstrdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Prints `obj` as {"summary": obj} on one line and frees it. */
static void sl__summary_emit(json_t *obj, FILE *out)
{
    json_t *root = json_object();
    json_object_set_new(root, "summary", obj);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                      JSON_REAL_PRECISION(9));
    if (text) {
        fprintf(out, "%s\n", text);
        free(text);
    } else { /* out of memory: still one valid object */
        fputs("{\"summary\":{\"error\":\"cannot render the summary\"}}\n", out);
    }
    fflush(out);
    json_decref(root);
}

/* The zero counters of a run that never started, so readers find every
 * field whatever the outcome. */
static void sl__summary_counters(json_t *o, const sl_engine_stats *s)
{
    json_object_set_new(o, "events_in", json_integer((json_int_t)s->events_in));
    json_object_set_new(o, "events_filtered", json_integer((json_int_t)s->events_filtered));
    json_object_set_new(o, "division_by_zero", json_integer((json_int_t)s->div_zero));
    json_t *bad = json_object();
    for (int i = 0; i < SL_BAD_COUNT; i++)
        json_object_set_new(bad, sl_bad_reason_name((sl_bad_reason)i),
                            json_integer((json_int_t)s->bad[i]));
    json_object_set_new(o, "bad", bad);
    json_object_set_new(o, "bad_total", json_integer((json_int_t)s->bad_total));
    json_object_set_new(o, "late_dropped", json_integer((json_int_t)s->late));
    json_object_set_new(o, "late_updates", json_integer((json_int_t)s->late_updates));
    json_object_set_new(o, "windows_fired", json_integer((json_int_t)s->windows_fired));
    json_object_set_new(o, "tombstones", json_integer((json_int_t)s->tombstones));
    json_object_set_new(o, "results_out", json_integer((json_int_t)s->results_out));
    json_object_set_new(o, "dead_lettered", json_integer((json_int_t)s->dead_lettered));
    json_object_set_new(o, "replays_dropped", json_integer((json_int_t)s->duplicates));
    json_object_set_new(o, "state_full", json_integer((json_int_t)s->state_full));
    json_object_set_new(o, "window_state_bytes", json_integer((json_int_t)s->window_state_bytes));
    json_object_set_new(o, "tasks", json_integer(s->tasks));
    double secs = (double)s->elapsed_ns / 1e9;
    json_object_set_new(o, "elapsed_s", json_real((double)(int64_t)(secs * 1000) / 1000));
    json_object_set_new(o, "events_per_s",
                        json_integer(secs > 0 ? (json_int_t)((double)s->events_in / secs) : 0));
}

void sl_summary_print_failed_start(const sl_def *def, const char *stage, const char *error,
                                   FILE *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "pipeline", json_string(def && def->name ? def->name : ""));
    json_object_set_new(o, "started", json_false());
    json_t *err = json_object();
    json_object_set_new(err, "stage", json_string(stage ? stage : "start"));
    json_object_set_new(err, "message", sl__jstr(error ? error : "unknown"));
    json_object_set_new(o, "error", err);
    json_object_set_new(o, "exit_code", json_integer(1));
    sl_engine_stats zero;
    memset(&zero, 0, sizeof(zero));
    sl__summary_counters(o, &zero);
    if (def && def->checkpoint.enabled) {
        json_t *c = json_object();
        json_object_set_new(c, "completed", json_integer(0));
        json_object_set_new(c, "failed", json_integer(0));
        json_object_set_new(c, "durable", json_integer(0));
        json_object_set_new(c, "dir", sl__jstr(def->checkpoint.dir));
        json_object_set_new(c, "final", json_string("none"));
        json_object_set_new(o, "checkpoints", c);
    } else {
        json_object_set_new(o, "checkpoints",
                            json_string(def && def->checkpoint.off ? "off" : "disabled"));
    }
    json_object_set_new(o, "warnings", json_array());
    sl__summary_emit(o, out);
}

/* The source's status members (written as "a":1,"b":[...] by the
 * connector) as an object; NULL (and a log line) if they are not JSON. */
static json_t *sl__summary_source(sl_engine *e)
{
    if (!e->source_ops->status)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return NULL;
    fputc('{', mem);
    e->source_ops->status(e->source, mem);
    fputc('}', mem);
    fclose(mem);
    json_error_t jerr;
    json_t *members = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(members)) {
        sl_warn("engine", "source status is not valid JSON (%s); left out of the summary",
                jerr.text);
        json_decref(members);
        members = NULL;
    }
    free(buf);
    return members;
}

void sl__summary_print(sl_engine *e, FILE *out, int exit_code)
{
    sl_engine_stats s;
    sl_engine_get_stats(e, &s);
    json_t *o = json_object();
    json_object_set_new(o, "pipeline", json_string(e->def->name));
    json_object_set_new(o, "started", json_boolean(e->started));
    if (e->start_error[0]) {
        json_t *err = json_object();
        json_object_set_new(err, "stage", json_string(e->start_stage));
        json_object_set_new(err, "message", sl__jstr(e->start_error));
        json_object_set_new(o, "error", err);
    }
    json_object_set_new(o, "exit_code", json_integer(exit_code));
    sl__summary_counters(o, &s);
    if (e->checkpointer) {
        sl_checkpoint_stats cs;
        sl_checkpointer_get_stats(e->checkpointer, &cs);
        json_t *c = json_object();
        json_object_set_new(c, "completed", json_integer((json_int_t)cs.completed));
        json_object_set_new(c, "failed", json_integer((json_int_t)cs.failed));
        json_object_set_new(c, "consecutive_failed",
                            json_integer((json_int_t)cs.consecutive_failed));
        json_object_set_new(c, "durable", json_integer((json_int_t)cs.durable_id));
        json_object_set_new(c, "p50_ms", json_real(cs.p50_ms));
        json_object_set_new(c, "p99_ms", json_real(cs.p99_ms));
        int64_t pause = 0;
        for (int w = 0; w < e->nworkers; w++) {
            int64_t p = SL__READ(e->workers[w].counters.pause_max_ns);
            if (p > pause)
                pause = p;
        }
        json_object_set_new(c, "worker_pause_max_ms", json_real((double)pause / 1e6));
        json_object_set_new(c, "last_bytes", json_integer((json_int_t)cs.last_bytes));
        if (e->def->checkpoint.off)
            json_object_set_new(c, "mode", json_string("off: commits of delivered input only"));
        else
            json_object_set_new(c, "dir", sl__jstr(e->def->checkpoint.dir));
        json_object_set_new(c, "final",
                            json_string(e->final_checkpoint == 1  ? "durable"
                                        : e->final_checkpoint < 0 ? "failed"
                                                                  : "none"));
        json_object_set_new(o, "checkpoints", c);
    } else {
        json_object_set_new(o, "checkpoints",
                            json_string(e->def->checkpoint.off ? "off" : "disabled"));
    }
    pthread_mutex_lock(&e->warn_mu);
    json_object_set_new(o, "warnings", e->warnings ? json_deep_copy(e->warnings) : json_array());
    pthread_mutex_unlock(&e->warn_mu);
    json_t *src = e->source_ops && e->source_started ? sl__summary_source(e) : NULL;
    if (src) {
        json_object_update_missing(o, src);
        json_decref(src);
    }
    sl__summary_emit(o, out);
}

void sl__engine_warning(sl_engine *e, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_warn("engine", "%s", msg);
    json_t *w = json_object();
    json_object_set_new(w, "code", json_string(code));
    json_object_set_new(w, "message", sl__jstr(msg));
    pthread_mutex_lock(&e->warn_mu);
    if (!e->warnings)
        e->warnings = json_array();
    json_array_append_new(e->warnings, w);
    pthread_mutex_unlock(&e->warn_mu);
}
