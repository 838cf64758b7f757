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
 * Steps 1 and 3 live in definition_env.c, the "pipeline" array (stage
 * order, fields a stage reads) in definition_pipeline.c, input fields and
 * explain in definition_explain.c. Operators parse their own stages
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
    {.name = "name", .type = SL_OPT_STRING, .required = 1, .help = "the pipeline's name"},
    {.name = "description", .type = SL_OPT_STRING},
    {.name = "source",
     .type = SL_OPT_OBJECT,
     .required = 1,
     .help = "where events come from: {\"type\": \"file\", ...}"},
    {.name = "pipeline", .type = SL_OPT_ANY, .required = 1, .help = "an array of stages"},
    {.name = "sink",
     .type = SL_OPT_OBJECT,
     .required = 1,
     .help = "where results go: {\"type\": \"file\", ...}"},
    {.name = "dead_letter", .type = SL_OPT_OBJECT},
    {.name = "runtime", .type = SL_OPT_OBJECT},
    {.name = "checkpoint", .type = SL_OPT_ANY, .help = "an object, or \"off\""},
    {.name = "cluster", .type = SL_OPT_OBJECT},
    {.name = "http", .type = SL_OPT_OBJECT},
    {.name = NULL}};

static const sl_opt sl__source_core[] = {{.name = "type", .type = SL_OPT_STRING, .required = 1},
                                         {.name = "format", .type = SL_OPT_STRING},
                                         {.name = "event_time", .type = SL_OPT_OBJECT},
                                         {.name = "watermark", .type = SL_OPT_OBJECT},
                                         {.name = NULL}};
static const sl_opt sl__sink_core[] = {
    {.name = "type", .type = SL_OPT_STRING, .required = 1},
    {.name = "format", .type = SL_OPT_STRING},
    {"emit", SL_OPT_STRING, 0,
     "append: every result is a new record; upsert: a changelog keyed by (key, window_start)",
     .allowed = "append|upsert", .def = "append"},
    {.name = NULL}};
static const sl_opt sl__event_time_keys[] = {
    {.name = "field", .type = SL_OPT_STRING, .help = "the payload field holding the event time"},
    {.name = "unit", .type = SL_OPT_STRING, .help = "ms, s, rfc3339 or kafka"},
    {.name = NULL}};
static const sl_opt sl__watermark_keys[] = {
    {.name = "max_out_of_orderness", .type = SL_OPT_ANY},
    {.name = "idle_timeout", .type = SL_OPT_ANY},
    {"emit_interval", SL_OPT_DURATION, 0,
     "how often a source publishes its watermark to merged tasks", .min = 1, .max = INT64_MAX,
     .def = "200ms"},
    {"max_future", SL_OPT_ANY, 0,
     "how far ahead of the wall clock an event time may be (\"off\" for none)", .def = "1h"},
    {.name = NULL}};
static const sl_opt sl__runtime_keys[] = {
    {"workers", SL_OPT_INT, 0, "worker threads", .min = 1, .max = 64, .def = "CPUs"},
    {"batch_size", SL_OPT_INT, 0, "events per batch", .min = 1, .max = 1 << 20, .def = "1024"},
    {"ring_capacity", SL_OPT_INT, 0, "batches per ring", .min = 2, .max = 1 << 16, .def = "64"},
    {"tasks", SL_OPT_INT, 0, "key-hash partitions of file/generator input", .min = 1,
     .max = 1 << 16, .def = "8"},
    {"max_state_bytes", SL_OPT_INT, 0, "window state budget of the node, bytes", .min = 1024,
     .max = INT64_MAX, .def = "unlimited"},
    {"on_state_full", SL_OPT_STRING, 0, "past max_state_bytes: fail the run, or drop new keys",
     .allowed = "fail|drop", .def = "fail"},
    {"mode", SL_OPT_STRING, 0,
     "throughput: big batches, producer linger, long fetch waits; latency: batches cut every "
     "millisecond, no linger, short fetch waits",
     .allowed = "throughput|latency", .def = "throughput"},
    {.name = NULL}};
static const sl_opt sl__checkpoint_keys[] = {
    {"interval", SL_OPT_DURATION, 0, NULL, .min = 1, .max = INT64_MAX, .def = "1s"},
    {.name = "dir", .type = SL_OPT_STRING},
    {"keep", SL_OPT_INT, 0, NULL, .min = 1, .max = 1000, .def = "3"},
    {"replicas", SL_OPT_INT, 0, NULL, .min = 0, .max = 64},
    {"guarantee", SL_OPT_STRING, 0, NULL, .allowed = "exactly_once|at_least_once",
     .def = "exactly_once"},
    {"replica_timeout", SL_OPT_DURATION, 0, NULL, .min = 1, .max = INT64_MAX, .def = "5s"},
    {.name = NULL}};
static const sl_opt sl__http_keys[] = {
    {.name = "addr", .type = SL_OPT_ANY}, {.name = "token", .type = SL_OPT_STRING}, {.name = NULL}};

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

/* Reads an integer option if present (its range is checked by its table
 * entry in sl_opts_check). */
static void sl__int_opt(const json_t *obj, const char *key, int *out)
{
    const json_t *v = json_object_get(obj, key);
    if (v)
        *out = (int)json_integer_value(v);
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
    def->watermark.emit_interval_ms = 200;
    def->watermark.max_future_ms = 3600000;
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
        const json_t *emit = json_object_get(wm, "emit_interval");
        if (emit && (rc = sl_json_duration(emit, "source.watermark.emit_interval", 1,
                                           &def->watermark.emit_interval_ms, msg, SL__MSG)) != 0)
            return rc;
        const json_t *fut = json_object_get(wm, "max_future");
        if (fut && (json_is_null(fut) ||
                    (json_is_string(fut) && strcmp(json_string_value(fut), "off") == 0)))
            def->watermark.max_future_ms = -1;
        else if (fut && (rc = sl_json_duration(fut, "source.watermark.max_future", 0,
                                               &def->watermark.max_future_ms, msg, SL__MSG)) != 0) {
            char first[SL__MSG];
            snprintf(first, sizeof(first), "%s", msg);
            return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s, or \"off\"", first);
        }
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
    const char *emit = json_string_value(json_object_get(conf, "emit"));
    out->emit = emit && strcmp(emit, "upsert") == 0 ? SL_EMIT_UPSERT : SL_EMIT_APPEND;
    if (emit && strcmp(path, "dead_letter") == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s.emit: only the results sink has an emit mode (dead letters are "
                         "always appended)",
                         path);
    if (out->emit == SL_EMIT_UPSERT && !def->window)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "%s.emit: \"upsert\" keys results by (key fields, window_start) and "
                         "needs a window stage; this pipeline has none (use \"append\")",
                         path);
    out->type = sl_xstrdup(ops->name);
    out->conf = conf;
    out->path = sl_xstrdup(path);
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
    if ((rc = sl_opts_check(rt, sl__runtime_keys, "runtime", msg, SL__MSG)) != 0)
        return rc;
    sl__int_opt(rt, "workers", &def->runtime.workers);
    sl__int_opt(rt, "batch_size", &def->runtime.batch_size);
    sl__int_opt(rt, "ring_capacity", &def->runtime.ring_capacity);
    sl__int_opt(rt, "tasks", &def->runtime.tasks);
    const json_t *v;
    if ((v = json_object_get(rt, "max_state_bytes")))
        def->runtime.max_state_bytes = (int64_t)json_integer_value(v);
    if ((v = json_object_get(rt, "on_state_full")))
        def->runtime.state_full_drop = strcmp(json_string_value(v), "drop") == 0;
    if ((v = json_object_get(rt, "mode")))
        def->runtime.mode =
            strcmp(json_string_value(v), "latency") == 0 ? SL_MODE_LATENCY : SL_MODE_THROUGHPUT;
    return 0;
}

/* The default checkpoint directory when neither "dir" nor
 * SLUICE_CHECKPOINT_DIR names one: /var/lib/sluice if this user may write
 * there (or create it), else $XDG_STATE_HOME/sluice, else
 * $HOME/.local/state/sluice, else ./sluice-state; the pipeline's own
 * directory is <that>/<name>. Sets *why. */
static char *sl__default_checkpoint_dir(const char **why)
{
    if (access("/var/lib/sluice", W_OK) == 0 ||
        (access("/var/lib/sluice", F_OK) != 0 && access("/var/lib", W_OK) == 0)) {
        *why = "default";
        return sl_xstrdup("/var/lib/sluice");
    }
    const char *xdg = sl__def_env("XDG_STATE_HOME"), *home = sl__def_env("HOME");
    char buf[4096];
    if (xdg && xdg[0] == '/') {
        snprintf(buf, sizeof(buf), "%s/sluice", xdg);
        *why = "default: /var/lib/sluice is not writable, so $XDG_STATE_HOME/sluice";
        return sl_xstrdup(buf);
    }
    if (home && home[0] == '/' && access(home, W_OK) == 0) {
        snprintf(buf, sizeof(buf), "%s/.local/state/sluice", home);
        *why = "default: /var/lib/sluice is not writable, so ~/.local/state/sluice";
        return sl_xstrdup(buf);
    }
    *why = "default: /var/lib/sluice and $HOME are not writable, so ./sluice-state";
    return sl_xstrdup("sluice-state");
}

static int sl__parse_checkpoint(sl_def *def, char *msg)
{
    char repr[80];
    def->checkpoint.interval_ms = 1000;
    def->checkpoint.keep = 3;
    def->checkpoint.replicas = def->cluster.npeers > 0 ? 1 : 0;
    def->checkpoint.guarantee = SL_EXACTLY_ONCE;
    def->checkpoint.replica_timeout_ms = 5000;
    const json_t *cp = json_object_get(def->root, "checkpoint");
    if (json_is_string(cp) && strcmp(json_string_value(cp), "off") == 0) {
        def->checkpoint.off = 1; /* explicit: offsets commit only what was delivered */
        def->checkpoint.dir = sl_xstrdup("/var/lib/sluice");
        def->checkpoint.dir_origin = "unused";
        return 0;
    }
    if (cp && !json_is_object(cp))
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "checkpoint: must be an object or \"off\", got %s",
                         sl_json_repr(cp, repr, sizeof(repr)));
    /* Kafka input checkpoints by default: without it, committed offsets
     * would name input whose window state is not durable. */
    int is_kafka = def->source.type && strcmp(def->source.type, "kafka") == 0;
    const char *envdir = sl__def_env("SLUICE_CHECKPOINT_DIR");
    const json_t *dirv = cp ? json_object_get(cp, "dir") : NULL;
    if (cp) {
        int rc = sl_opts_check(cp, sl__checkpoint_keys, "checkpoint", msg, SL__MSG);
        if (rc != 0)
            return rc;
    }
    if (dirv && json_string_length(dirv) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "checkpoint.dir: must not be empty");
    if (dirv) {
        def->checkpoint.dir = sl_xstrdup(json_string_value(dirv));
        def->checkpoint.dir_origin = envdir ? "SLUICE_CHECKPOINT_DIR" : "checkpoint.dir";
    } else if (envdir) {
        def->checkpoint.dir = sl_xstrdup(envdir);
        def->checkpoint.dir_origin = "SLUICE_CHECKPOINT_DIR";
    } else {
        /* One directory per pipeline under the default base, so pipelines
         * sharing a machine never share snapshot files. */
        char *base = sl__default_checkpoint_dir(&def->checkpoint.dir_origin);
        size_t n = strlen(base) + strlen(def->name) + 2;
        def->checkpoint.dir = sl_xmalloc(n);
        snprintf(def->checkpoint.dir, n, "%s/%s", base, def->name);
        for (char *c = def->checkpoint.dir + strlen(base) + 1; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
                *c = '_';
        if (def->checkpoint.dir[strlen(base) + 1] == '.')
            def->checkpoint.dir[strlen(base) + 1] = '_'; /* never "." or ".." */
        free(base);
    }
    if (!cp) {
        def->checkpoint.enabled = is_kafka;
        def->checkpoint.implicit = is_kafka;
        return 0;
    }
    def->checkpoint.enabled = 1;
    const json_t *v;
    if ((v = json_object_get(cp, "interval")))
        sl_parse_duration(v, &def->checkpoint.interval_ms);
    if ((v = json_object_get(cp, "replica_timeout")))
        sl_parse_duration(v, &def->checkpoint.replica_timeout_ms);
    sl__int_opt(cp, "keep", &def->checkpoint.keep);
    sl__int_opt(cp, "replicas", &def->checkpoint.replicas);
    if ((size_t)def->checkpoint.replicas > def->cluster.npeers)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "checkpoint.replicas: %d replica%s need%s at least %d peer%s in "
                         "cluster.peers, there %s %zu (use 0 for local-only checkpoints)",
                         def->checkpoint.replicas, def->checkpoint.replicas == 1 ? "" : "s",
                         def->checkpoint.replicas == 1 ? "s" : "", def->checkpoint.replicas,
                         def->checkpoint.replicas == 1 ? "" : "s",
                         def->cluster.npeers == 1 ? "is" : "are", def->cluster.npeers);
    if ((v = json_object_get(cp, "guarantee")))
        def->checkpoint.guarantee =
            strcmp(json_string_value(v), "at_least_once") == 0 ? SL_AT_LEAST_ONCE : SL_EXACTLY_ONCE;
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
    if ((rc = sl__parse_source(def, msg)) != 0 || (rc = sl__def_parse_pipeline(def, msg)) != 0 ||
        (rc = sl__parse_sink(def, "sink", &def->sink, msg)) != 0)
        return rc;
    if (json_object_get(root, "dead_letter") &&
        (rc = sl__parse_sink(def, "dead_letter", &def->dead_letter, msg)) != 0)
        return rc;
    if (def->window && def->event_time.unit != SL_TIME_KAFKA && !def->event_time.field)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "source: missing \"event_time\" (windows need it, e.g. {\"field\": "
                         "\"ts\", \"unit\": \"ms\"})");
    if ((rc = sl__parse_runtime(def, msg)) != 0 || (rc = sl__def_parse_cluster(def, msg)) != 0 ||
        (rc = sl__parse_checkpoint(def, msg)) != 0 || (rc = sl__parse_http(def, msg)) != 0)
        return rc;
    /* Connector checks the option tables cannot express, last: they may
     * depend on the rest (checkpoints, the window). */
    const sl_source_ops *sops = sl_source_find(def->source.type);
    if (sops && sops->check && (rc = sops->check(&def->source, def, msg, SL__MSG)) != 0)
        return rc;
    const sl_connector_def *sinks[] = {&def->sink, &def->dead_letter};
    for (size_t i = 0; i < SL_ARRAY_LEN(sinks); i++) {
        const sl_sink_ops *kops = sinks[i]->type ? sl_sink_find(sinks[i]->type) : NULL;
        if (kops && kops->check && (rc = kops->check(sinks[i], def, msg, SL__MSG)) != 0)
            return rc;
    }
    return 0;
}

void sl_def_free(sl_def *def)
{
    if (!def)
        return;
    for (size_t i = 0; i < def->nstages; i++) {
        if (def->stages[i].ops)
            def->stages[i].ops->destroy(&def->stages[i]);
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
    sl__def_free_cluster(def);
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
