/*
 * definition.c - loads and validates pipeline definitions.
 *
 * Steps of sl_def_load_string(), each of which can fail with a message that
 * names the file:
 *   1. ${VAR} / ${VAR:-default} substitution on the raw text (inside a JSON
 *      string the value is JSON-escaped; outside it is inserted as is, so
 *      "workers": ${WORKERS:-2} works). "$${" writes a literal "${".
 *   2. JSON parse (jansson, duplicate keys rejected) -> "FILE:LINE:COL: msg".
 *   3. SLUICE_* environment overrides edit the parsed tree.
 *   4. Validation into sl_def; messages are "FILE: json.path: msg".
 * Steps 1 and 3 live in definition_env.c, input fields and explain in
 * definition_explain.c. Operators parse their own stages
 * (operators/filter_parse.c and friends); connector options are checked
 * against the connector's sl_opt table by sl_opts_check (options.c).
 */
#include "definition_internal.h"
#include "redact.h"

#include "connector.h"
#include "didyoumean.h"
#include "operator.h"
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SL__MSG 1024

static const sl_opt sl__top_keys[] = {
    {"name", SL_OPT_STRING, 1, "the pipeline's name"},
    {"description", SL_OPT_STRING, 0, NULL},
    {"source", SL_OPT_OBJECT, 1, "where events come from: {\"type\": \"file\", ...}"},
    {"pipeline", SL_OPT_ANY, 1, "an array of stages"},
    {"sink", SL_OPT_OBJECT, 1, "where results go: {\"type\": \"file\", ...}"},
    {"dead_letter", SL_OPT_OBJECT, 0, NULL},
    {"runtime", SL_OPT_OBJECT, 0, NULL},
    {"checkpoint", SL_OPT_OBJECT, 0, NULL},
    {"cluster", SL_OPT_OBJECT, 0, NULL},
    {"http", SL_OPT_OBJECT, 0, NULL},
    {NULL, 0, 0, NULL}};

static const sl_opt sl__source_core[] = {{"type", SL_OPT_STRING, 1, NULL},
                                         {"format", SL_OPT_STRING, 0, NULL},
                                         {"event_time", SL_OPT_OBJECT, 0, NULL},
                                         {"watermark", SL_OPT_OBJECT, 0, NULL},
                                         {NULL, 0, 0, NULL}};
static const sl_opt sl__sink_core[] = {
    {"type", SL_OPT_STRING, 1, NULL}, {"format", SL_OPT_STRING, 0, NULL}, {NULL, 0, 0, NULL}};
static const sl_opt sl__event_time_keys[] = {
    {"field", SL_OPT_STRING, 0, "the payload field holding the event time"},
    {"unit", SL_OPT_STRING, 0, "ms, s, rfc3339 or kafka"},
    {NULL, 0, 0, NULL}};
static const sl_opt sl__watermark_keys[] = {{"max_out_of_orderness", SL_OPT_ANY, 0, NULL},
                                            {"idle_timeout", SL_OPT_ANY, 0, NULL},
                                            {NULL, 0, 0, NULL}};
static const sl_opt sl__runtime_keys[] = {{"workers", SL_OPT_INT, 0, NULL},
                                          {"batch_size", SL_OPT_INT, 0, NULL},
                                          {"ring_capacity", SL_OPT_INT, 0, NULL},
                                          {"tasks", SL_OPT_INT, 0, NULL},
                                          {NULL, 0, 0, NULL}};
static const sl_opt sl__checkpoint_keys[] = {{"interval", SL_OPT_ANY, 0, NULL},
                                             {"dir", SL_OPT_STRING, 0, NULL},
                                             {"keep", SL_OPT_INT, 0, NULL},
                                             {"replicas", SL_OPT_INT, 0, NULL},
                                             {"guarantee", SL_OPT_STRING, 0, NULL},
                                             {"replica_timeout", SL_OPT_ANY, 0, NULL},
                                             {NULL, 0, 0, NULL}};
static const sl_opt sl__cluster_keys[] = {{"node_id", SL_OPT_STRING, 0, NULL},
                                          {"listen", SL_OPT_STRING, 0, NULL},
                                          {"peers", SL_OPT_ANY, 0, NULL},
                                          {NULL, 0, 0, NULL}};
static const sl_opt sl__http_keys[] = {
    {"addr", SL_OPT_ANY, 0, NULL}, {"token", SL_OPT_STRING, 0, NULL}, {NULL, 0, 0, NULL}};

const sl_operator_ops *sl__def_stage_ops(sl_stage_kind kind)
{
    switch (kind) {
    case SL_STAGE_FILTER:
        return &sl_op_filter;
    case SL_STAGE_MAP:
        return &sl_op_map;
    case SL_STAGE_KEY_BY:
        return &sl_op_key_by;
    default:
        return &sl_op_window;
    }
}

/* Concatenates two option tables into a new {NULL}-ended array. */
static sl_opt *sl__opts_concat(const sl_opt *a, const sl_opt *b)
{
    size_t na = 0, nb = 0;
    while (a && a[na].name)
        na++;
    while (b && b[nb].name)
        nb++;
    sl_opt *t = sl_xcalloc(na + nb + 1, sizeof(sl_opt));
    if (na)
        memcpy(t, a, na * sizeof(sl_opt));
    if (nb)
        memcpy(t + na, b, nb * sizeof(sl_opt));
    return t;
}

/* Reads an integer option in [lo, hi] if present. */
static int sl__int_opt(const json_t *obj, const char *key, const char *path, long lo, long hi,
                       int *out, char *msg)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s.%s: must be between %ld and %ld, got %lld",
                         path, key, lo, hi, (long long)x);
    *out = (int)x;
    return 0;
}

static int sl__dup_opt_string(const json_t *obj, const char *key, char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        free(*out);
        *out = sl_xstrdup(json_string_value(v));
    }
    return 0;
}

static int sl__check_format(const json_t *conf, const char *path, char *msg)
{
    const json_t *f = json_object_get(conf, "format");
    if (f && strcmp(json_string_value(f), "json") != 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s.format: unsupported format \"%s\" (only \"json\" for now)", path,
                         json_string_value(f));
    return 0;
}

static int sl__parse_source(sl_def *def, char *msg)
{
    json_t *conf = json_object_get(def->root, "source");
    const char *path = "source";
    const json_t *type = json_object_get(conf, "type");
    char repr[80];
    if (!type)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "source: missing required key \"type\" (a source type such as \"file\")");
    if (!json_is_string(type))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "source.type: must be a string, got %s",
                         sl_json_repr(type, repr, sizeof(repr)));
    const sl_source_ops *ops = sl_source_find(json_string_value(type));
    if (!ops) {
        sl_suggest sug;
        sl_suggest_init(&sug, json_string_value(type));
        for (size_t i = 0; sl_sources[i]; i++)
            sl_suggest_add(&sug, sl_sources[i]->name);
        const char *best = sl_suggest_result(&sug);
        if (best)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "source.type: unknown source type \"%s\", did you mean \"%s\"?",
                             json_string_value(type), best);
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "source.type: unknown source type \"%s\"",
                         json_string_value(type));
    }
    sl_opt *table = sl__opts_concat(sl__source_core, ops->options);
    int rc = sl_opts_check(conf, table, path, msg, SL__MSG);
    free(table);
    if (rc != 0)
        return rc;
    if ((rc = sl__check_format(conf, path, msg)) != 0)
        return rc;
    def->source.type = sl_xstrdup(ops->name);
    def->source.conf = conf;
    def->source.path = sl_xstrdup(path);

    const json_t *et = json_object_get(conf, "event_time");
    int is_kafka = strcmp(ops->name, "kafka") == 0;
    def->event_time.unit = is_kafka ? SL_TIME_KAFKA : SL_TIME_MS;
    if (et) {
        if ((rc = sl_opts_check(et, sl__event_time_keys, "source.event_time", msg, SL__MSG)) != 0)
            return rc;
        static const char *const units[] = {"ms", "s", "rfc3339", "kafka"};
        const json_t *unit = json_object_get(et, "unit"), *field = json_object_get(et, "field");
        def->event_time.unit = SL_TIME_MS;
        if (unit) {
            const char *u = json_string_value(unit);
            int found = -1;
            sl_suggest sug;
            sl_suggest_init(&sug, u);
            for (size_t i = 0; i < SL_ARRAY_LEN(units); i++) {
                if (strcmp(units[i], u) == 0)
                    found = (int)i;
                sl_suggest_add(&sug, units[i]);
            }
            if (found < 0) {
                const char *best = sl_suggest_result(&sug);
                if (best)
                    return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                     "source.event_time.unit: unknown unit \"%s\", did you mean "
                                     "\"%s\"?",
                                     u, best);
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "source.event_time.unit: unknown unit \"%s\" (use ms, s, rfc3339 "
                                 "or kafka)",
                                 u);
            }
            def->event_time.unit = (sl_time_unit)found;
        }
        if (def->event_time.unit == SL_TIME_KAFKA) {
            if (!is_kafka)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "source.event_time.unit: \"kafka\" (the message timestamp) needs "
                                 "a kafka source, this one is \"%s\"",
                                 ops->name);
            if (field)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "source.event_time.field: unit \"kafka\" uses the message "
                                 "timestamp; remove \"field\"");
        } else {
            if (!field)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "source.event_time: missing required key \"field\" (the payload "
                                 "field holding the event time)");
            if (json_string_length(field) == 0)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "source.event_time.field: must not be empty");
            def->event_time.field = sl_xstrdup(json_string_value(field));
        }
    }

    const json_t *wm = json_object_get(conf, "watermark");
    if (wm) {
        if ((rc = sl_opts_check(wm, sl__watermark_keys, "source.watermark", msg, SL__MSG)) != 0)
            return rc;
        const json_t *ooo = json_object_get(wm, "max_out_of_orderness"),
                     *idle = json_object_get(wm, "idle_timeout");
        if (ooo &&
            (rc = sl_json_duration(ooo, "source.watermark.max_out_of_orderness", 0,
                                   &def->watermark.max_out_of_orderness_ms, msg, SL__MSG)) != 0)
            return rc;
        if (idle && (rc = sl_json_duration(idle, "source.watermark.idle_timeout", 0,
                                           &def->watermark.idle_timeout_ms, msg, SL__MSG)) != 0)
            return rc;
    }
    return 0;
}

static int sl__parse_sink(sl_def *def, const char *path, sl_connector_def *out, char *msg)
{
    json_t *conf = json_object_get(def->root, path);
    const json_t *type = json_object_get(conf, "type");
    char repr[80];
    if (!type)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s: missing required key \"type\" (a sink type such as \"file\")", path);
    if (!json_is_string(type))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s.type: must be a string, got %s", path,
                         sl_json_repr(type, repr, sizeof(repr)));
    const sl_sink_ops *ops = sl_sink_find(json_string_value(type));
    if (!ops) {
        sl_suggest sug;
        sl_suggest_init(&sug, json_string_value(type));
        for (size_t i = 0; sl_sinks[i]; i++)
            sl_suggest_add(&sug, sl_sinks[i]->name);
        const char *best = sl_suggest_result(&sug);
        if (best)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s.type: unknown sink type \"%s\", did you mean \"%s\"?", path,
                             json_string_value(type), best);
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s.type: unknown sink type \"%s\"", path,
                         json_string_value(type));
    }
    sl_opt *table = sl__opts_concat(sl__sink_core, ops->options);
    int rc = sl_opts_check(conf, table, path, msg, SL__MSG);
    free(table);
    if (rc != 0)
        return rc;
    if ((rc = sl__check_format(conf, path, msg)) != 0)
        return rc;
    out->type = sl_xstrdup(ops->name);
    out->conf = conf;
    out->path = sl_xstrdup(path);
    return 0;
}

/* Maps `field` as seen by stage `at` back through the maps before it to
 * the input field it comes from. Returns that name (borrowed), or NULL if
 * a map removes it; then *by is the index of that map. */
const char *sl__def_field_origin(const sl_def *def, size_t at, const char *field, size_t *by)
{
    const char *f = field;
    for (size_t j = at; j-- > 0;) {
        const sl_stage *st = &def->stages[j];
        if (st->kind != SL_STAGE_MAP)
            continue;
        const sl_map_def *m = &st->u.map;
        int renamed = 0;
        for (size_t k = 0; k < m->nrename && !renamed; k++)
            if (strcmp(m->rename_to[k], f) == 0) {
                f = m->rename_from[k];
                renamed = 1;
            }
        int removed = 0;
        for (size_t k = 0; k < m->nrename && !renamed && !removed; k++)
            if (strcmp(m->rename_from[k], f) == 0)
                removed = 1;
        for (size_t k = 0; k < m->ndrop && !removed; k++)
            if (strcmp(m->drop[k], f) == 0)
                removed = 1;
        if (m->nkeep && !removed) {
            removed = 1;
            for (size_t k = 0; k < m->nkeep; k++)
                if (strcmp(m->keep[k], f) == 0)
                    removed = 0;
        }
        if (removed) {
            *by = j;
            return NULL;
        }
    }
    return f;
}

static int sl__check_field(const sl_def *def, size_t at, const char *field, const char *path,
                           char *msg)
{
    size_t by = 0;
    if (!sl__def_field_origin(def, at, field, &by))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s: field \"%s\" is removed by %s.map", path,
                         field, def->stages[by].path);
    return 0;
}

static int sl__check_expr_fields(const sl_def *def, size_t at, const sl_expr *e, const char *path,
                                 char *msg)
{
    if (e->kind == SL_EXPR_CMP)
        return sl__check_field(def, at, e->field, path, msg);
    for (size_t i = 0; i < e->nargs; i++) {
        int rc = sl__check_expr_fields(def, at, e->args[i], path, msg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int sl__parse_stage(sl_def *def, size_t i, const json_t *sj, char *msg)
{
    char path[64], repr[80];
    snprintf(path, sizeof(path), "pipeline[%zu]", i);
    if (!json_is_object(sj))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s: must be an object, got %s", path,
                         sl_json_repr(sj, repr, sizeof(repr)));
    const sl_operator_ops *op = NULL;
    const char *key, *first_key = NULL, *op_key = NULL;
    json_t *val;
    json_object_foreach((json_t *)sj, key, val)
    {
        const sl_operator_ops *o = sl_operator_find(key);
        if (!first_key && strcmp(key, "aggregates") != 0)
            first_key = key;
        if (!o)
            continue;
        if (op)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: one operator per stage, found \"%s\" and \"%s\"", path, op_key,
                             key);
        op = o;
        op_key = key;
    }
    if (!op) {
        if (!first_key && json_object_get(sj, "aggregates"))
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: \"aggregates\" needs a \"window\" in the same stage", path);
        if (!first_key)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: empty stage (expected one of filter, map, key_by, window)", path);
        sl_suggest sug;
        sl_suggest_init(&sug, first_key);
        for (size_t k = 0; sl_operators[k]; k++)
            sl_suggest_add(&sug, sl_operators[k]->name);
        const char *best = sl_suggest_result(&sug);
        if (best)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: unknown operator \"%s\", did you mean \"%s\"?", path, first_key,
                             best);
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s: unknown operator \"%s\" (expected one of filter, map, key_by, "
                         "window)",
                         path, first_key);
    }
    /* Order rules, checked before parsing so they name the stage. */
    if (def->nstages > 0 && def->stages[def->nstages - 1].kind == SL_STAGE_WINDOW)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s.window: window must be the last stage, but %s follows it",
                         def->stages[def->nstages - 1].path, path);
    if (op == &sl_op_key_by)
        for (size_t k = 0; k < def->nstages; k++)
            if (def->stages[k].kind == SL_STAGE_KEY_BY)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "%s.key_by: key_by may appear only once (already at %s)", path,
                                 def->stages[k].path);
    sl_stage *st = &def->stages[def->nstages];
    memset(st, 0, sizeof(*st));
    int rc = op->parse(sj, path, st, msg, SL__MSG);
    if (rc != 0)
        return rc;
    st->path = sl_xstrdup(path);
    def->nstages++;

    /* Fields a stage reads must survive the maps before it. */
    char fpath[300];
    switch (st->kind) {
    case SL_STAGE_FILTER:
        sl_path_join(fpath, sizeof(fpath), path, "filter");
        return sl__check_expr_fields(def, i, st->u.filter, fpath, msg);
    case SL_STAGE_MAP:
        for (size_t k = 0; k < st->u.map.nkeep; k++) {
            snprintf(fpath, sizeof(fpath), "%s.map.keep[%zu]", path, k);
            if ((rc = sl__check_field(def, i, st->u.map.keep[k], fpath, msg)) != 0)
                return rc;
        }
        return 0;
    case SL_STAGE_KEY_BY:
        for (size_t k = 0; k < st->u.key_by.nfields; k++) {
            sl_path_join(fpath, sizeof(fpath), path, "key_by");
            if ((rc = sl__check_field(def, i, st->u.key_by.fields[k], fpath, msg)) != 0)
                return rc;
        }
        return 0;
    default:
        for (size_t k = 0; k < st->u.window.naggs; k++) {
            const sl_agg_def *a = &st->u.window.aggs[k];
            char apath[256];
            sl_path_join(apath, sizeof(apath), path, "aggregates");
            sl_path_join(fpath, sizeof(fpath), apath, a->name);
            if (a->field && (rc = sl__check_field(def, i, a->field, fpath, msg)) != 0)
                return rc;
        }
        return 0;
    }
}

static int sl__parse_pipeline(sl_def *def, char *msg)
{
    const json_t *p = json_object_get(def->root, "pipeline");
    char repr[80];
    if (!json_is_array(p))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "pipeline: must be an array of stages, got %s",
                         sl_json_repr(p, repr, sizeof(repr)));
    size_t n = json_array_size(p);
    def->stages = sl_xcalloc(n ? n : 1, sizeof(sl_stage));
    for (size_t i = 0; i < n; i++) {
        int rc = sl__parse_stage(def, i, json_array_get(p, i), msg);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < def->nstages; i++) {
        if (def->stages[i].kind == SL_STAGE_KEY_BY)
            def->key_by = &def->stages[i];
        if (def->stages[i].kind == SL_STAGE_WINDOW)
            def->window = &def->stages[i].u.window;
    }
    /* Aggregate names become result fields next to the key fields. */
    if (def->window && def->key_by) {
        const sl_stage *ws = &def->stages[def->nstages - 1];
        for (size_t k = 0; k < def->window->naggs; k++)
            for (size_t f = 0; f < def->key_by->u.key_by.nfields; f++)
                if (strcmp(def->window->aggs[k].name, def->key_by->u.key_by.fields[f]) == 0) {
                    char apath[256], fpath[300];
                    sl_path_join(apath, sizeof(apath), ws->path, "aggregates");
                    return sl_seterr(
                        msg, SL__MSG, SL_EINVAL,
                        "%s: aggregate name collides with the key field \"%s\" in "
                        "results",
                        sl_path_join(fpath, sizeof(fpath), apath, def->window->aggs[k].name),
                        def->key_by->u.key_by.fields[f]);
                }
    }
    return 0;
}

static int sl__parse_runtime(sl_def *def, char *msg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    def->runtime.workers = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
    def->runtime.batch_size = 1024;
    def->runtime.ring_capacity = 64;
    def->runtime.tasks = 8;
    const json_t *rt = json_object_get(def->root, "runtime");
    if (!rt)
        return 0;
    int rc;
    if ((rc = sl_opts_check(rt, sl__runtime_keys, "runtime", msg, SL__MSG)) != 0 ||
        (rc = sl__int_opt(rt, "workers", "runtime", 1, 64, &def->runtime.workers, msg)) != 0 ||
        (rc = sl__int_opt(rt, "batch_size", "runtime", 1, 1 << 20, &def->runtime.batch_size,
                          msg)) != 0 ||
        (rc = sl__int_opt(rt, "ring_capacity", "runtime", 2, 1 << 16, &def->runtime.ring_capacity,
                          msg)) != 0 ||
        (rc = sl__int_opt(rt, "tasks", "runtime", 1, 1 << 16, &def->runtime.tasks, msg)) != 0)
        return rc;
    return 0;
}

static int sl__parse_cluster(sl_def *def, char *msg)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "sluice");
    host[sizeof(host) - 1] = '\0';
    def->cluster.node_id = sl_xstrdup(host);
    const json_t *cl = json_object_get(def->root, "cluster");
    if (!cl)
        return 0;
    int rc = sl_opts_check(cl, sl__cluster_keys, "cluster", msg, SL__MSG);
    if (rc != 0)
        return rc;
    const json_t *node = json_object_get(cl, "node_id"), *listen = json_object_get(cl, "listen"),
                 *peers = json_object_get(cl, "peers");
    if (node && json_string_length(node) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "cluster.node_id: must not be empty");
    if (listen && json_string_length(listen) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "cluster.listen: must not be empty (a ZeroMQ endpoint such as "
                         "\"tcp://127.0.0.1:7401\")");
    sl__dup_opt_string(cl, "node_id", &def->cluster.node_id);
    sl__dup_opt_string(cl, "listen", &def->cluster.listen);
    if (peers && !(json_is_array(peers) && json_array_size(peers) == 0)) {
        if ((rc = sl_json_strings(peers, "cluster.peers", 1, &def->cluster.peers,
                                  &def->cluster.npeers, msg, SL__MSG)) != 0)
            return rc;
        if (!def->cluster.listen)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "cluster.peers: peers need \"listen\" (this node's own endpoint) in "
                             "cluster");
        for (size_t i = 0; i < def->cluster.npeers; i++)
            if (strcmp(def->cluster.peers[i], def->cluster.listen) == 0)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "cluster.peers[%zu]: \"%s\" is this node's own listen address", i,
                                 def->cluster.peers[i]);
    }
    return 0;
}

static int sl__parse_checkpoint(sl_def *def, char *msg)
{
    def->checkpoint.interval_ms = 1000;
    def->checkpoint.dir = sl_xstrdup("/var/lib/sluice");
    def->checkpoint.keep = 3;
    def->checkpoint.replicas = def->cluster.npeers > 0 ? 1 : 0;
    def->checkpoint.guarantee = SL_EXACTLY_ONCE;
    def->checkpoint.replica_timeout_ms = 5000;
    const char *envdir = sl__def_env("SLUICE_CHECKPOINT_DIR");
    if (envdir) {
        free(def->checkpoint.dir);
        def->checkpoint.dir = sl_xstrdup(envdir);
    }
    const json_t *cp = json_object_get(def->root, "checkpoint");
    if (!cp)
        return 0;
    int rc = sl_opts_check(cp, sl__checkpoint_keys, "checkpoint", msg, SL__MSG);
    if (rc != 0)
        return rc;
    def->checkpoint.enabled = 1;
    const json_t *v;
    if ((v = json_object_get(cp, "interval")) &&
        (rc = sl_json_duration(v, "checkpoint.interval", 1, &def->checkpoint.interval_ms, msg,
                               SL__MSG)) != 0)
        return rc;
    if ((v = json_object_get(cp, "replica_timeout")) &&
        (rc = sl_json_duration(v, "checkpoint.replica_timeout", 1,
                               &def->checkpoint.replica_timeout_ms, msg, SL__MSG)) != 0)
        return rc;
    if ((v = json_object_get(cp, "dir")) && json_string_length(v) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "checkpoint.dir: must not be empty");
    sl__dup_opt_string(cp, "dir", &def->checkpoint.dir);
    if ((rc = sl__int_opt(cp, "keep", "checkpoint", 1, 1000, &def->checkpoint.keep, msg)) != 0 ||
        (rc = sl__int_opt(cp, "replicas", "checkpoint", 0, 64, &def->checkpoint.replicas, msg)) !=
            0)
        return rc;
    if ((size_t)def->checkpoint.replicas > def->cluster.npeers)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "checkpoint.replicas: %d replica%s need%s at least %d peer%s in "
                         "cluster.peers, there %s %zu (use 0 for local-only checkpoints)",
                         def->checkpoint.replicas, def->checkpoint.replicas == 1 ? "" : "s",
                         def->checkpoint.replicas == 1 ? "s" : "", def->checkpoint.replicas,
                         def->checkpoint.replicas == 1 ? "" : "s",
                         def->cluster.npeers == 1 ? "is" : "are", def->cluster.npeers);
    if ((v = json_object_get(cp, "guarantee"))) {
        const char *g = json_string_value(v);
        if (strcmp(g, "exactly_once") == 0)
            def->checkpoint.guarantee = SL_EXACTLY_ONCE;
        else if (strcmp(g, "at_least_once") == 0)
            def->checkpoint.guarantee = SL_AT_LEAST_ONCE;
        else {
            sl_suggest sug;
            sl_suggest_init(&sug, g);
            sl_suggest_add(&sug, "exactly_once");
            sl_suggest_add(&sug, "at_least_once");
            const char *best = sl_suggest_result(&sug);
            if (best)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "checkpoint.guarantee: unknown guarantee \"%s\", did you mean "
                                 "\"%s\"?",
                                 g, best);
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "checkpoint.guarantee: unknown guarantee \"%s\" (use exactly_once or "
                             "at_least_once)",
                             g);
        }
    }
    return 0;
}

/* "host:port" with a port in 1..65535 ("[::1]:9464" for IPv6). */
static int sl__valid_addr(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || colon[1] == '\0')
        return 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return errno == 0 && *end == '\0' && port >= 1 && port <= 65535;
}

static int sl__parse_http(sl_def *def, char *msg)
{
    const json_t *h = json_object_get(def->root, "http");
    char repr[80];
    if (!h) {
        def->http.addr = sl_xstrdup("127.0.0.1:9464");
        return 0;
    }
    int rc = sl_opts_check(h, sl__http_keys, "http", msg, SL__MSG);
    if (rc != 0)
        return rc;
    const char *token = json_string_value(json_object_get(h, "token"));
    if (token && (!token[0] || strpbrk(token, " \t\r\n")))
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "http.token: must be non-empty, without spaces or line breaks");
    if (token)
        def->http.token = sl_xstrdup(token);
    const json_t *a = json_object_get(h, "addr");
    if (!a) {
        def->http.addr = sl_xstrdup("127.0.0.1:9464");
        return 0;
    }
    if (json_is_null(a) || (json_is_string(a) && strcmp(json_string_value(a), "off") == 0))
        return 0; /* disabled */
    if (!json_is_string(a) || !sl__valid_addr(json_string_value(a)))
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "http.addr: must be \"HOST:PORT\" (or \"off\" / null to disable), got %s",
                         sl_json_repr(a, repr, sizeof(repr)));
    def->http.addr = sl_xstrdup(json_string_value(a));
    return 0;
}

static int sl__validate(sl_def *def, char *msg)
{
    char repr[80];
    const json_t *root = def->root;
    if (!json_is_object(root))
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "(top level): must be an object, got %s",
                         sl_json_repr(root, repr, sizeof(repr)));
    int rc = sl_opts_check(root, sl__top_keys, "", msg, SL__MSG);
    if (rc != 0)
        return rc;
    const json_t *name = json_object_get(root, "name");
    if (json_string_length(name) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "name: must not be empty");
    def->name = sl_xstrdup(json_string_value(name));
    if ((rc = sl__parse_source(def, msg)) != 0 || (rc = sl__parse_pipeline(def, msg)) != 0 ||
        (rc = sl__parse_sink(def, "sink", &def->sink, msg)) != 0)
        return rc;
    if (json_object_get(root, "dead_letter") &&
        (rc = sl__parse_sink(def, "dead_letter", &def->dead_letter, msg)) != 0)
        return rc;
    if (def->window && def->event_time.unit != SL_TIME_KAFKA && !def->event_time.field)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "source: missing \"event_time\" (windows need it, e.g. {\"field\": "
                         "\"ts\", \"unit\": \"ms\"})");
    if ((rc = sl__parse_runtime(def, msg)) != 0 || (rc = sl__parse_cluster(def, msg)) != 0 ||
        (rc = sl__parse_checkpoint(def, msg)) != 0 || (rc = sl__parse_http(def, msg)) != 0)
        return rc;
    return 0;
}

void sl_def_free(sl_def *def)
{
    if (!def)
        return;
    for (size_t i = 0; i < def->nstages; i++) {
        sl__def_stage_ops(def->stages[i].kind)->destroy(&def->stages[i]);
        free(def->stages[i].path);
    }
    free(def->stages);
    free(def->file);
    free(def->name);
    free(def->source.type);
    free(def->source.path);
    free(def->event_time.field);
    free(def->sink.type);
    free(def->sink.path);
    free(def->dead_letter.type);
    free(def->dead_letter.path);
    free(def->checkpoint.dir);
    free(def->cluster.node_id);
    free(def->cluster.listen);
    sl_strings_free(def->cluster.peers, def->cluster.npeers);
    free(def->http.addr);
    free(def->http.token);
    json_decref(def->root);
    free(def);
}

int sl_def_load_string(const char *text, const char *name, sl_def **out, char *errstr,
                       size_t errstr_size)
{
    *out = NULL;
    if (!name)
        name = "(string)";
    int rc = 0;
    char *subst = sl__def_substitute(text, name, &rc, errstr, errstr_size);
    if (!subst)
        return rc;
    json_error_t jerr;
    json_t *root = json_loads(subst, JSON_REJECT_DUPLICATES, &jerr);
    free(subst);
    if (!root)
        return sl_seterr(errstr, errstr_size, SL_EPARSE, "%s:%d:%d: %s", name, jerr.line,
                         jerr.column, jerr.text);
    if (json_is_object(root))
        sl__def_apply_overrides(root);
    sl_redact_register_json(root); /* before any message can quote a secret */
    sl_def *def = sl_xcalloc(1, sizeof(*def));
    def->file = sl_xstrdup(name);
    def->root = root;
    char msg[SL__MSG];
    msg[0] = '\0';
    rc = sl__validate(def, msg);
    if (rc != 0) {
        sl_def_free(def);
        return sl_seterr(errstr, errstr_size, rc, "%s: %s", name, msg);
    }
    *out = def;
    return 0;
}

int sl_def_load(const char *path, sl_def **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return sl_seterr(errstr, errstr_size, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct {
        char *p;
        size_t len, cap;
    } b = {sl_xmalloc(8192), 0, 8192};
    size_t n;
    while ((n = fread(b.p + b.len, 1, b.cap - b.len - 1, f)) > 0) {
        b.len += n;
        if (b.cap - b.len < 4096) {
            b.cap *= 2;
            b.p = sl_xrealloc(b.p, b.cap);
        }
    }
    b.p[b.len] = '\0';
    int failed = ferror(f);
    int saved = errno;
    if (!is_stdin)
        fclose(f);
    if (failed) {
        free(b.p);
        return sl_seterr(errstr, errstr_size, SL_EIO, "%s: cannot read: %s", path, strerror(saved));
    }
    if (memchr(b.p, '\0', b.len)) {
        free(b.p);
        return sl_seterr(errstr, errstr_size, SL_EPARSE, "%s: contains a NUL byte", path);
    }
    int rc = sl_def_load_string(b.p, is_stdin ? "(stdin)" : path, out, errstr, errstr_size);
    free(b.p);
    if (rc == 0 && is_stdin) {
        free((*out)->file);
        (*out)->file = sl_xstrdup("-");
    }
    return rc;
}
