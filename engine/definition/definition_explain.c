/*
 * definition_explain.c - what a loaded definition implies: the input fields
 * the decoder must extract (projection pushdown) and the printed plan
 * (stages, threads, rings, window state estimate, checkpoints, cluster).
 */
#include "definition_internal.h"
#include "plan.h"

#include "options.h"
#include "redact.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Input fields (projection pushdown)
 * ====================================================================== */

static void sl__add_field(char ***list, size_t *n, size_t *cap, const char *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], f) == 0)
            return;
    if (*n + 2 > *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *list = sl_xrealloc(*list, *cap * sizeof(char *));
    }
    (*list)[(*n)++] = sl_xstrdup(f);
    (*list)[*n] = NULL;
}

typedef struct sl__field_list {
    char ***list;
    size_t *n, *cap;
} sl__field_list;

static void sl__add_field_cb(void *ctx, const char *f)
{
    sl__field_list *l = ctx;
    sl__add_field(l->list, l->n, l->cap, f);
}

static void sl__add_expr_fields(const sl_def *def, size_t at, const sl_expr *e, char ***list,
                                size_t *n, size_t *cap)
{
    sl__field_list l = {list, n, cap};
    if (e->kind == SL_EXPR_SQL) {
        sl__def_expr_inputs(def, at, e->sql, sl__add_field_cb, &l);
        return;
    }
    if (e->kind == SL_EXPR_CMP) {
        sl__def_field_inputs(def, at, e->field, sl__add_field_cb, &l);
        return;
    }
    for (size_t i = 0; i < e->nargs; i++)
        sl__add_expr_fields(def, at, e->args[i], list, n, cap);
}

char **sl_def_input_fields(const sl_def *def)
{
    char **list = NULL;
    size_t n = 0, cap = 0, by;
    list = sl_xcalloc(1, sizeof(char *));
    cap = 1;
    /* Stages after the window read result rows, not input fields. */
    for (size_t i = 0; i < sl_def_runtime_stage(def); i++)
        if (def->stages[i].kind == SL_STAGE_FILTER)
            sl__add_expr_fields(def, i, def->stages[i].u.filter, &list, &n, &cap);
    sl__field_list l = {&list, &n, &cap};
    for (size_t i = 0; i < sl_def_runtime_stage(def); i++)
        if (def->stages[i].kind == SL_STAGE_MAP) {
            for (size_t k = 0; k < def->stages[i].u.map.nkeep; k++)
                sl__add_field(&list, &n, &cap,
                              sl__def_field_origin(def, i, def->stages[i].u.map.keep[k], &by));
            for (size_t k = 0; k < def->stages[i].u.map.nset; k++)
                sl__def_expr_inputs(def, i, def->stages[i].u.map.set_expr[k], sl__add_field_cb, &l);
        }
    if (def->key_by) {
        size_t at = (size_t)(def->key_by - def->stages);
        for (size_t k = 0; k < def->key_by->u.key_by.nfields; k++) {
            const char *f = def->key_by->u.key_by.fields[k];
            if (def->key_by->u.key_by.exprs && def->key_by->u.key_by.exprs[k])
                sl__def_expr_inputs(def, at, def->key_by->u.key_by.exprs[k], sl__add_field_cb, &l);
            else
                sl__def_field_inputs(def, at, f, sl__add_field_cb, &l);
        }
    }
    if (def->window) {
        size_t at = sl_def_runtime_stage(def);
        for (uint32_t c = 0; c < def->window->ncolumns; c++) {
            const char *f = def->window->columns[c];
            if (f[0] == '=')
                sl__def_expr_inputs(def, at, f + 1, sl__add_field_cb, &l);
            else
                sl__def_field_inputs(def, at, f, sl__add_field_cb, &l);
        }
    }
    sl__add_field(&list, &n, &cap, def->event_time.field);
    return list;
}

/* ======================================================================
 * Explain
 * ====================================================================== */

static void sl__explain_conf(const sl_connector_def *c, FILE *out)
{
    static const char *const skip[] = {"type", "event_time", "watermark"};
    const char *key;
    json_t *val;
    fprintf(out, "%s: %s\n", c->path, c->type);
    json_object_foreach(c->conf, key, val)
    {
        int skipped = 0;
        for (size_t i = 0; i < SL_ARRAY_LEN(skip); i++)
            skipped |= strcmp(key, skip[i]) == 0;
        if (skipped)
            continue;
        json_t *shown = sl_redact_is_secret(key) ? json_string(SL_REDACTED) : sl_redact_json(val);
        char *txt =
            json_is_string(shown) ? NULL : json_dumps(shown, JSON_ENCODE_ANY | JSON_COMPACT);
        fprintf(out, "  %s: %s\n", key, txt ? txt : json_string_value(shown));
        free(txt);
        json_decref(shown);
    }
}

static void sl__fmt_bytes(double b, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (b >= 1024 && u + 1 < SL_ARRAY_LEN(units)) {
        b /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

/* The repartition topic's size and the watermark across the shuffle. */
static void sl__explain_shuffle(const sl_def *def, FILE *out)
{
    char a[32], b[32];
    const json_t *rp = json_object_get(def->source.conf, "repartition_partitions");
    if (json_is_integer(rp))
        fprintf(out,
                "  repartition topic: if absent, created with %" JSON_INTEGER_FORMAT " partitions",
                json_integer_value(rp));
    else
        fprintf(out, "  repartition topic: if absent, created with the input's partition count");
    fprintf(out, " through CreateTopics; a broker without CreateTopics (the embedded one) "
                 "auto-creates it with its default count (4), which is used; an existing topic "
                 "is used as it is; downstream tasks = its partitions\n");
    fprintf(out,
            "  watermark across the shuffle: each input partition publishes its watermark into "
            "every repartition partition (every %s, at window ends, at end of input); a "
            "downstream task uses the minimum over the input partitions that are not idle "
            "(idle: read to its end and quiet for %s)\n",
            sl_format_duration(def->watermark.emit_interval_ms, a, sizeof(a)),
            def->watermark.idle_timeout_ms
                ? sl_format_duration(def->watermark.idle_timeout_ms, b, sizeof(b))
                : "never (idle_timeout unset)");
}

void sl_def_explain(const sl_def *def, FILE *out)
{
    char a[32], b[32], m1[32], m2[32];
    fprintf(out, "pipeline: %s  (%s)\n", def->name, def->file);

    /* Source. */
    sl__explain_conf(&def->source, out);
    int is_kafka = strcmp(def->source.type, "kafka") == 0;
    sl_plan plan;
    sl_plan_make(def, &plan); /* what run executes */
    if (is_kafka)
        fprintf(out, "  tasks: one per input partition\n");
    else
        fprintf(out, "  tasks: %d (events hashed by key)\n", def->runtime.tasks);
    static const char *const units[] = {"ms", "s", "rfc3339", "kafka"};
    if (def->event_time.unit == SL_TIME_KAFKA)
        fprintf(out, "  event time: the kafka message timestamp\n");
    else if (def->event_time.field)
        fprintf(out, "  event time: field \"%s\" (%s)\n", def->event_time.field,
                units[def->event_time.unit]);
    else
        fprintf(out, "  event time: none\n");
    fprintf(out, "  watermark: max event time - %s; idle advance %s; ",
            sl_format_duration(def->watermark.max_out_of_orderness_ms, a, sizeof(a)),
            def->watermark.idle_timeout_ms
                ? sl_format_duration(def->watermark.idle_timeout_ms, b, sizeof(b))
                : "never");
    if (def->watermark.max_future_ms >= 0)
        fprintf(out, "events more than %s ahead of the wall clock are bad (too_far_ahead)\n",
                sl_format_duration(def->watermark.max_future_ms, a, sizeof(a)));
    else
        fprintf(out, "max_future off (any future event time is accepted)\n");
    char **fields = sl_def_input_fields(def);
    fputs("  reads from each event:", out);
    for (size_t i = 0; fields[i]; i++)
        fprintf(out, "%s %s", i ? "," : "", fields[i]);
    fputs(fields[0] ? "\n" : " (whole events)\n", out);
    for (size_t i = 0; fields[i]; i++)
        free(fields[i]);
    free(fields);
    if (is_kafka) {
        const char *why = plan.shuffle;
        int rep = plan.repartition;
        const json_t *rt = json_object_get(def->source.conf, "repartition_topic");
        if (rep) {
            if (json_is_string(rt))
                fprintf(out, "  repartition: yes, through topic \"%s\" (%s)\n",
                        json_string_value(rt), why);
            else
                fprintf(out, "  repartition: yes, through topic \"%s-repartition\" (%s)\n",
                        def->name, why);
            sl__explain_shuffle(def, out);
        } else
            fprintf(out, "  repartition: no (%s)\n", why);
        const json_t *topics = json_object_get(def->source.conf, "topics");
        if (json_array_size(topics) > 1 && !rep)
            fprintf(out, "  watermark of a task: the minimum over its co-partitioned topics' "
                         "partitions that are not idle\n");
    }

    /* Stages. */
    fprintf(out, "stages: %zu\n", def->nstages);
    for (size_t i = 0; i < def->nstages; i++)
        def->stages[i].ops->explain(&def->stages[i], out);
    /* The plan: where each stage runs (the rule the engine follows). */
    size_t first = plan.fused;
    if (first > 0)
        fprintf(out, "  plan: pipeline[0..%zu] fused into the decoder on the source threads\n",
                first - 1);
    if (first < def->nstages)
        fprintf(out,
                "  plan: pipeline[%zu..%zu] run per task on the workers (an operator chain%s)\n",
                first, def->nstages - 1,
                first + 1 < def->nstages ? "; after the window on its result rows" : "");

    /* Threads and rings. */
    int lanes = plan.lanes, w = plan.workers;
    fprintf(out, "threads: %d source lane%s, %d worker%s, 1 sink\n", lanes, lanes == 1 ? "" : "s",
            w, w == 1 ? "" : "s");
    sl__fmt_bytes(plan.in_flight_bytes, m1, sizeof(m1));
    fprintf(out,
            "rings: %ld (%d lane%s x %d worker%s + %d to the sink) x %zu batches x %d events; "
            "at most %.0f events (~%s) in flight\n",
            plan.rings, lanes, lanes == 1 ? "" : "s", w, w == 1 ? "" : "s", w, plan.ring_capacity,
            def->runtime.batch_size, plan.in_flight, m1);

    if (def->runtime.mode == SL_MODE_LATENCY)
        fprintf(out, "mode: latency (kafka: batches cut every 1 ms as well as by size, producers "
                     "linger 0 ms, consumer fetches wait at most 1 ms, unless \"properties\" set "
                     "them)\n");
    else
        fprintf(out, "mode: throughput (kafka: batches cut every 10 ms or when a poll comes back "
                     "short, producers linger 5 ms, consumer fetches wait up to 50 ms)\n");

    /* Window state estimate. */
    if (def->window) {
        const sl_window_def *wd = def->window;
        size_t nkey = def->key_by ? def->key_by->u.key_by.nfields : 0;
        sl__fmt_bytes(plan.state_per_key * 1e4, m1, sizeof(m1));
        sl__fmt_bytes(plan.state_per_key * 1e6, m2, sizeof(m2));
        fprintf(out,
                "window state: ~%.0f B per key = %" PRId64 " open %s x (64 B entry + 16 B x %zu "
                "key field%s + 24 B x %zu aggregate%s); 10k keys ~%s, 1M keys ~%s\n",
                plan.state_per_key, plan.open, plan.open_what, nkey, nkey == 1 ? "" : "s",
                wd->naggs, wd->naggs == 1 ? "" : "s", m1, m2);
    }

    /* Sink, dead letters, checkpoints, cluster, HTTP. */
    sl__explain_conf(&def->sink, out);
    if (def->dead_letter.type)
        sl__explain_conf(&def->dead_letter, out);
    else
        fprintf(out, "dead_letter: none (late and bad events are counted and dropped)\n");
    if (def->checkpoint.enabled)
        fprintf(out, "checkpoint: every %s to %s (%s), keep %d, %d replica%s (timeout %s), %s%s\n",
                sl_format_duration(def->checkpoint.interval_ms, a, sizeof(a)), def->checkpoint.dir,
                def->checkpoint.dir_origin, def->checkpoint.keep, def->checkpoint.replicas,
                def->checkpoint.replicas == 1 ? "" : "s",
                sl_format_duration(def->checkpoint.replica_timeout_ms, b, sizeof(b)),
                def->checkpoint.guarantee == SL_EXACTLY_ONCE ? "exactly_once" : "at_least_once",
                def->checkpoint.implicit ? "; on by default for kafka input (\"checkpoint\": "
                                           "\"off\" disables)"
                                         : "");
    else if (def->checkpoint.off && is_kafka)
        fprintf(out, "checkpoint: off; input offsets are committed only for events whose results "
                     "the sink delivered (a window's input once the window fired); state is lost "
                     "on restart and that input is read again\n");
    else
        fprintf(out, "checkpoint: disabled\n");
    if (def->cluster.listen) {
        fprintf(out, "cluster: node %s listening on %s, peers:", def->cluster.node_id,
                def->cluster.listen);
        for (size_t i = 0; i < def->cluster.npeers; i++)
            fprintf(out, "%s %s%s%s", i ? "," : "",
                    def->cluster.peer_node_ids[i] ? def->cluster.peer_node_ids[i] : "",
                    def->cluster.peer_node_ids[i] ? "=" : "", def->cluster.peers[i]);
        fputs(def->cluster.npeers ? "\n" : " none\n", out);
        fprintf(out, "replication: %s, messages up to %lld bytes\n",
                def->cluster.secret_key ? "CurveZMQ (encrypted; only the peers' keys accepted)"
                                        : "UNAUTHENTICATED and unencrypted (no cluster.secret_key)",
                (long long)def->cluster.max_message_bytes);
    } else {
        fprintf(out, "cluster: standalone (node %s)\n", def->cluster.node_id);
    }
    fprintf(out, "http: %s%s\n", def->http.addr ? def->http.addr : "disabled",
            def->http.token ? " (token " SL_REDACTED " required for /metrics and /api/)" : "");
}
