/*
 * test_definition.c - pipeline definitions: the canonical definition (the
 * example under "Pipeline definitions" in README.md) field by field, a
 * table of broken definitions with the message each must produce,
 * durations against a reference computed here, ${VAR} substitution,
 * SLUICE_* overrides, input fields, explain, and random corruptions of a
 * valid definition (never a crash, always a file-named message).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_skip.h"

#include "connector.h"
#include "definition.h"
#include "didyoumean.h"
#include "operator.h"
#include "kafka.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The canonical definition from README.md ("Pipeline definitions"),
 * exactly as written there. */
static const char canonical[] =
    "{\n"
    "  \"name\": \"orders-per-user\",\n"
    "  \"source\": {\n"
    "    \"type\": \"file\", \"path\": \"orders.jsonl\", \"format\": \"json\",\n"
    "    \"event_time\": {\"field\": \"ts\", \"unit\": \"ms\"},\n"
    "    \"watermark\": {\"max_out_of_orderness\": \"100ms\", \"idle_timeout\": \"2s\"}\n"
    "  },\n"
    "  \"pipeline\": [\n"
    "    {\"filter\": {\"field\": \"amount\", \"op\": \">=\", \"value\": 0}},\n"
    "    {\"key_by\": [\"user\"]},\n"
    "    {\"window\": {\"type\": \"tumbling\", \"size\": \"1s\", \"allowed_lateness\": \"0ms\"},\n"
    "     \"aggregates\": {\n"
    "       \"orders\":  {\"fn\": \"count\"},\n"
    "       \"total\":   {\"fn\": \"sum\", \"field\": \"amount\"},\n"
    "       \"biggest\": {\"fn\": \"max\", \"field\": \"amount\"},\n"
    "       \"smallest\":{\"fn\": \"min\", \"field\": \"amount\"},\n"
    "       \"mean\":    {\"fn\": \"avg\", \"field\": \"amount\"}\n"
    "     }}\n"
    "  ],\n"
    "  \"sink\": {\"type\": \"file\", \"path\": \"out.jsonl\"},\n"
    "  \"runtime\": {\"workers\": 2}\n"
    "}\n";

static const char *const override_vars[] = {"SLUICE_NODE_ID",   "SLUICE_LISTEN",
                                            "SLUICE_PEERS",     "SLUICE_CHECKPOINT_DIR",
                                            "SLUICE_BOOTSTRAP", "SLUICE_HTTP_ADDR"};

static void clear_overrides(void)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(override_vars); i++)
        unsetenv(override_vars[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_overrides();
    return 0;
}

static sl_def *load_ok(const char *text)
{
    char err[1024] = "";
    sl_def *def = NULL;
    int rc = sl_def_load_string(text, "t.json", &def, err, sizeof(err));
    if (rc != 0)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(def);
    return def;
}

static void test_canonical(void **state)
{
    (void)state;
    sl_def *def = load_ok(canonical);
    assert_string_equal(def->file, "t.json");
    assert_string_equal(def->name, "orders-per-user");
    assert_non_null(def->root);

    assert_string_equal(def->source.type, "file");
    assert_string_equal(def->source.path, "source");
    assert_string_equal(json_string_value(json_object_get(def->source.conf, "path")),
                        "orders.jsonl");
    assert_string_equal(def->event_time.field, "ts");
    assert_int_equal(def->event_time.unit, SL_TIME_MS);
    assert_int_equal(def->watermark.max_out_of_orderness_ms, 100);
    assert_int_equal(def->watermark.idle_timeout_ms, 2000);

    assert_int_equal(def->nstages, 3);
    const sl_stage *f = &def->stages[0];
    assert_int_equal(f->kind, SL_STAGE_FILTER);
    assert_string_equal(f->path, "pipeline[0]");
    assert_int_equal(f->u.filter->kind, SL_EXPR_CMP);
    assert_string_equal(f->u.filter->field, "amount");
    assert_int_equal(f->u.filter->op, SL_CMP_GE);
    assert_int_equal(f->u.filter->value.type, SL_T_INT);
    assert_int_equal(f->u.filter->value.i, 0);
    assert_true(f->u.filter->value.d == 0.0);

    const sl_stage *k = &def->stages[1];
    assert_int_equal(k->kind, SL_STAGE_KEY_BY);
    assert_string_equal(k->path, "pipeline[1]");
    assert_int_equal(k->u.key_by.nfields, 1);
    assert_string_equal(k->u.key_by.fields[0], "user");
    assert_ptr_equal(def->key_by, k);

    const sl_stage *w = &def->stages[2];
    assert_int_equal(w->kind, SL_STAGE_WINDOW);
    assert_ptr_equal(def->window, &w->u.window);
    const sl_window_def *wd = def->window;
    assert_int_equal(wd->type, SL_WIN_TUMBLING);
    assert_int_equal(wd->size_ms, 1000);
    assert_int_equal(wd->allowed_lateness_ms, 0);
    assert_int_equal(wd->naggs, 5);
    static const char *const names[] = {"orders", "total", "biggest", "smallest", "mean"};
    static const sl_agg_fn fns[] = {SL_AGG_COUNT, SL_AGG_SUM, SL_AGG_MAX, SL_AGG_MIN, SL_AGG_AVG};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(wd->aggs[i].name, names[i]);
        assert_int_equal(wd->aggs[i].fn, fns[i]);
        if (i == 0) {
            assert_null(wd->aggs[i].field);
            assert_int_equal(wd->aggs[i].column, -1);
        } else {
            assert_string_equal(wd->aggs[i].field, "amount");
            assert_int_equal(wd->aggs[i].column, 0);
        }
    }
    assert_int_equal(wd->ncolumns, 1);
    assert_string_equal(wd->columns[0], "amount");

    assert_string_equal(def->sink.type, "file");
    assert_string_equal(def->sink.path, "sink");
    assert_string_equal(json_string_value(json_object_get(def->sink.conf, "path")), "out.jsonl");
    assert_null(def->dead_letter.type);

    assert_int_equal(def->runtime.workers, 2);
    assert_int_equal(def->runtime.batch_size, 1024);
    assert_int_equal(def->runtime.ring_capacity, 64);
    assert_int_equal(def->runtime.tasks, 8);
    assert_int_equal(def->runtime.mode, SL_MODE_THROUGHPUT);

    assert_int_equal(def->checkpoint.enabled, 0);
    assert_int_equal(def->checkpoint.interval_ms, 1000);
    assert_non_null(def->checkpoint.dir); /* see test_checkpoint_defaults */
    assert_int_equal(def->checkpoint.keep, 3);
    assert_int_equal(def->watermark.max_future_ms, 3600000);
    assert_int_equal(def->runtime.max_state_bytes, 0);
    assert_int_equal(def->checkpoint.guarantee, SL_EXACTLY_ONCE);
    assert_int_equal(def->checkpoint.replica_timeout_ms, 5000);

    assert_non_null(def->cluster.node_id);
    assert_null(def->cluster.listen);
    assert_int_equal(def->cluster.npeers, 0);
    assert_string_equal(def->http.addr, "127.0.0.1:9464");

    char **fields = sl_def_input_fields(def);
    assert_string_equal(fields[0], "amount");
    assert_string_equal(fields[1], "user");
    assert_string_equal(fields[2], "ts");
    assert_null(fields[3]);
    for (size_t i = 0; fields[i]; i++)
        free(fields[i]);
    free(fields);
    sl_def_free(def);
}

/* Every top-level section, hopping window, map, nested filter. */
static void test_full_schema(void **state)
{
    (void)state;
    const char *text =
        "{\"name\":\"full\",\"description\":\"d\","
        "\"source\":{\"type\":\"file\",\"path\":\"-\","
        "\"event_time\":{\"field\":\"when\",\"unit\":\"rfc3339\"}},"
        "\"pipeline\":["
        "{\"map\":{\"keep\":[\"u\",\"amt\",\"kind\",\"when\"],\"drop\":\"kind\","
        "\"rename\":{\"u\":\"user\",\"amt\":\"amount\"}}},"
        "{\"filter\":{\"or\":[{\"and\":[{\"field\":\"amount\",\"op\":\">\",\"value\":1.5},"
        "{\"not\":{\"field\":\"user\",\"op\":\"=\",\"value\":\"bot\"}}]},"
        "{\"field\":\"user\",\"op\":\"!=\",\"value\":null}]}},"
        "{\"key_by\":\"user\"},"
        "{\"window\":{\"type\":\"hopping\",\"size\":\"10s\",\"slide\":\"4s\","
        "\"allowed_lateness\":\"1m30s\"},"
        "\"aggregates\":{\"hi\":{\"fn\":\"max\",\"field\":\"amount\"},"
        "\"n\":{\"fn\":\"count\"},\"lo\":{\"fn\":\"min\",\"field\":\"user\"}}}],"
        "\"sink\":{\"type\":\"file\",\"path\":\"o\"},"
        "\"dead_letter\":{\"type\":\"file\",\"path\":\"bad.jsonl\"},"
        "\"runtime\":{\"workers\":3,\"batch_size\":16,\"ring_capacity\":8,\"tasks\":5},"
        "\"checkpoint\":{\"interval\":250,\"dir\":\"/tmp/ck\",\"keep\":2,\"replicas\":2,"
        "\"guarantee\":\"at_least_once\",\"replica_timeout\":\"3s\"},"
        "\"cluster\":{\"node_id\":\"n1\",\"listen\":\"tcp://127.0.0.1:7401\","
        "\"peers\":[\"tcp://127.0.0.1:7402\",\"tcp://127.0.0.1:7403\"]},"
        "\"http\":{\"addr\":\"0.0.0.0:9000\"}}";
    sl_def *def = load_ok(text);
    assert_int_equal(def->event_time.unit, SL_TIME_RFC3339);
    assert_string_equal(def->event_time.field, "when");
    assert_int_equal(def->nstages, 4);
    const sl_map_def *m = &def->stages[0].u.map;
    assert_int_equal(m->nkeep, 4);
    assert_int_equal(m->ndrop, 1);
    assert_string_equal(m->drop[0], "kind");
    assert_int_equal(m->nrename, 2);
    assert_string_equal(m->rename_from[1], "amt");
    assert_string_equal(m->rename_to[1], "amount");
    const sl_expr *e = def->stages[1].u.filter;
    assert_int_equal(e->kind, SL_EXPR_OR);
    assert_int_equal(e->nargs, 2);
    assert_int_equal(e->args[0]->kind, SL_EXPR_AND);
    assert_int_equal(e->args[0]->args[0]->value.type, SL_T_DOUBLE);
    assert_true(e->args[0]->args[0]->value.d == 1.5);
    assert_int_equal(e->args[0]->args[1]->kind, SL_EXPR_NOT);
    assert_string_equal(e->args[0]->args[1]->args[0]->value.s, "bot");
    assert_int_equal(e->args[0]->args[1]->args[0]->value.slen, 3);
    assert_int_equal(e->args[1]->op, SL_CMP_NE);
    assert_int_equal(e->args[1]->value.type, SL_T_NULL);
    assert_string_equal(def->key_by->u.key_by.fields[0], "user");
    const sl_window_def *w = def->window;
    assert_int_equal(w->type, SL_WIN_HOPPING);
    assert_int_equal(w->size_ms, 10000);
    assert_int_equal(w->slide_ms, 4000);
    assert_int_equal(w->allowed_lateness_ms, 90000);
    assert_int_equal(w->ncolumns, 2);
    assert_string_equal(w->columns[0], "amount");
    assert_string_equal(w->columns[1], "user");
    assert_int_equal(w->aggs[0].column, 0);
    assert_int_equal(w->aggs[1].column, -1);
    assert_int_equal(w->aggs[2].column, 1);
    assert_string_equal(def->dead_letter.type, "file");
    assert_string_equal(def->dead_letter.path, "dead_letter");
    assert_int_equal(def->runtime.workers, 3);
    assert_int_equal(def->runtime.batch_size, 16);
    assert_int_equal(def->runtime.ring_capacity, 8);
    assert_int_equal(def->runtime.tasks, 5);
    assert_int_equal(def->checkpoint.enabled, 1);
    assert_int_equal(def->checkpoint.interval_ms, 250);
    assert_string_equal(def->checkpoint.dir, "/tmp/ck");
    assert_int_equal(def->checkpoint.keep, 2);
    assert_int_equal(def->checkpoint.replicas, 2);
    assert_int_equal(def->checkpoint.guarantee, SL_AT_LEAST_ONCE);
    assert_int_equal(def->checkpoint.replica_timeout_ms, 3000);
    assert_string_equal(def->cluster.node_id, "n1");
    assert_string_equal(def->cluster.listen, "tcp://127.0.0.1:7401");
    assert_int_equal(def->cluster.npeers, 2);
    assert_string_equal(def->cluster.peers[1], "tcp://127.0.0.1:7403");
    assert_string_equal(def->http.addr, "0.0.0.0:9000");

    /* Input fields are mapped back through the rename: user <- u,
     * amount <- amt; event time last. */
    char **fields = sl_def_input_fields(def);
    const char *want[] = {"amt", "u", "kind", "when", NULL};
    for (size_t i = 0; want[i]; i++) {
        assert_non_null(fields[i]);
        assert_string_equal(fields[i], want[i]);
    }
    assert_null(fields[4]);
    for (size_t i = 0; fields[i]; i++)
        free(fields[i]);
    free(fields);
    sl_def_free(def);
}

static void test_session_and_defaults(void **state)
{
    (void)state;
    sl_def *def = load_ok("{\"name\":\"s\",\"source\":{\"type\":\"generator\","
                          "\"event_time\":{\"field\":\"ts\"}},"
                          "\"pipeline\":[{\"window\":{\"type\":\"session\",\"gap\":\"5m\"},"
                          "\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
                          "\"sink\":{\"type\":\"file\",\"path\":\"-\"},"
                          "\"checkpoint\":{},\"http\":{\"addr\":\"off\"}}");
    assert_int_equal(def->window->type, SL_WIN_SESSION);
    assert_int_equal(def->window->gap_ms, 300000);
    assert_int_equal(def->window->ncolumns, 0);
    assert_null(def->key_by);
    assert_int_equal(def->event_time.unit, SL_TIME_MS);
    assert_true(def->runtime.workers >= 1 && def->runtime.workers <= 64);
    assert_int_equal(def->checkpoint.enabled, 1);
    assert_int_equal(def->checkpoint.replicas, 0); /* no peers: local only */
    assert_null(def->http.addr);
    assert_int_equal(def->sink.emit, SL_EMIT_APPEND); /* the default */
    sl_def_free(def);

    def = load_ok("{\"name\":\"s\",\"source\":{\"type\":\"generator\","
                  "\"event_time\":{\"field\":\"ts\"}},"
                  "\"pipeline\":[{\"window\":{\"type\":\"session\",\"gap\":\"5m\"},"
                  "\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
                  "\"sink\":{\"type\":\"file\",\"path\":\"-\",\"emit\":\"upsert\"},"
                  "\"http\":{\"addr\":\"off\"}}");
    assert_int_equal(def->sink.emit, SL_EMIT_UPSERT);
    assert_int_equal(def->dead_letter.emit, SL_EMIT_APPEND);
    sl_def_free(def);

    /* No pipeline stages at all is a pass-through. */
    def = load_ok("{\"name\":\"p\",\"source\":{\"type\":\"file\",\"path\":\"a\"},"
                  "\"pipeline\":[],\"sink\":{\"type\":\"file\",\"path\":\"b\"}}");
    assert_int_equal(def->nstages, 0);
    assert_null(def->window);
    assert_null(def->event_time.field);
    char **fields = sl_def_input_fields(def);
    assert_null(fields[0]);
    free(fields);
    sl_def_free(def);
}

/* ---- broken definitions ------------------------------------------------ */

#define SRC       "{\"type\":\"file\",\"path\":\"in\",\"event_time\":{\"field\":\"ts\"}}"
#define SINK      "{\"type\":\"file\",\"path\":\"o\"}"
#define AGG       "\"aggregates\":{\"n\":{\"fn\":\"count\"}}"
#define WIN(spec) "{\"window\":" spec "," AGG "}"
#define DEF(src, pipe, extra)                                                                      \
    "{\"name\":\"t\",\"source\":" src ",\"pipeline\":" pipe ",\"sink\":" SINK extra "}"
#define PIPE_WIN(spec) "[{\"key_by\":\"user\"}," WIN(spec) "]"
#define PIPE_AGGS(aggs)                                                                            \
    "[{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},\"aggregates\":" aggs "}]"

#define KSRC(extra)                                                                                \
    "{\"type\":\"kafka\",\"topics\":\"t\",\"properties\":{\"bootstrap.servers\":\"b:1\"}" extra "}"

typedef struct broken {
    const char *text;
    int rc;
    const char *message; /* must occur in the error, which starts "t.json" */
} broken;

static const broken broken_defs[] = {
    /* JSON syntax: file:line:column. */
    {"{\n  \"name\": \"x\",\n  \"source\": {,}\n}", SL_EPARSE, "t.json:3:"},
    {"{\"name\": \"x\"", SL_EPARSE, "t.json:1:"},
    {"", SL_EPARSE, "t.json:1:"},
    {"{\"name\":\"a\",\"name\":\"b\"}", SL_EPARSE, "duplicate object key"},
    {"[1,2]", SL_EINVAL, "t.json: (top level): must be an object, got [1,2]"},
    /* Missing and unknown top-level keys, wrong types. */
    {"{\"source\":" SRC ",\"pipeline\":[],\"sink\":" SINK "}", SL_EINVAL,
     "t.json: (top level): missing required key \"name\""},
    {"{\"name\":\"t\",\"pipeline\":[],\"sink\":" SINK "}", SL_EINVAL,
     "missing required key \"source\""},
    {DEF(SRC, "[]", ",\"runtim\":{}"), SL_EINVAL,
     "t.json: (top level): unknown key \"runtim\", did you mean \"runtime\"?"},
    {DEF(SRC, "[]", ",\"zzzzzz\":1"), SL_EINVAL, "unknown key \"zzzzzz\""},
    {"{\"name\":7,\"source\":" SRC ",\"pipeline\":[],\"sink\":" SINK "}", SL_EINVAL,
     "t.json: name: must be a string, got 7"},
    {"{\"name\":\"\",\"source\":" SRC ",\"pipeline\":[],\"sink\":" SINK "}", SL_EINVAL,
     "name: must not be empty"},
    {DEF(SRC, "{}", ""), SL_EINVAL, "t.json: pipeline: must be an array of stages, got {}"},
    {DEF(SRC, "[]", ",\"runtime\":{\"workers\":\"2\"}"), SL_EINVAL,
     "t.json: runtime.workers: must be an integer, got \"2\""},
    {DEF(SRC, "[]", ",\"runtime\":{\"workers\":0}"), SL_EINVAL,
     "runtime.workers: must be between 1 and 64, got 0"},
    {DEF(SRC, "[]", ",\"runtime\":{\"batch_size\":-5}"), SL_EINVAL,
     "runtime.batch_size: must be between 1 and"},
    /* Source and sink. */
    {DEF("{\"type\":\"fiel\",\"path\":\"x\"}", "[]", ""), SL_EINVAL,
     "t.json: source.type: unknown source type \"fiel\", did you mean \"file\"?"},
    {DEF("{\"type\":\"carrier-pigeon\"}", "[]", ""), SL_EINVAL,
     "source.type: unknown source type \"carrier-pigeon\""},
    {DEF("{\"path\":\"x\"}", "[]", ""), SL_EINVAL, "source: missing required key \"type\""},
    {DEF("{\"type\":\"file\"}", "[]", ""), SL_EINVAL, "source: missing required key \"path\""},
    {DEF("{\"type\":\"file\",\"pth\":\"x\"}", "[]", ""), SL_EINVAL,
     "source: unknown key \"pth\", did you mean \"path\"?"},
    {DEF("{\"type\":\"file\",\"path\":1}", "[]", ""), SL_EINVAL,
     "source.path: must be a string, got 1"},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"format\":\"csv\"}", "[]", ""), SL_EINVAL,
     "source.format: unsupported format \"csv\""},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"event_time\":{\"field\":\"ts\",\"unit\":\"sec\"}}",
         "[]", ""),
     SL_EINVAL, "source.event_time.unit: unknown unit \"sec\""},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"event_time\":{\"unit\":\"ms\"}}", "[]", ""),
     SL_EINVAL, "source.event_time: missing required key \"field\""},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"event_time\":{\"field\":\"ts\",\"unit\":\"kafka\"}}",
         "[]", ""),
     SL_EINVAL, "\"kafka\" (the message timestamp) needs a kafka source"},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"event_time\":{\"feild\":\"ts\"}}", "[]", ""),
     SL_EINVAL, "source.event_time: unknown key \"feild\", did you mean \"field\"?"},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"event_time\":{\"field\":\"ts\"},"
         "\"watermark\":{\"max_out_of_orderness\":\"-5ms\"}}",
         "[]", ""),
     SL_EINVAL, "source.watermark.max_out_of_orderness: must be a duration >= 0, got \"-5ms\""},
    {DEF("{\"type\":\"file\",\"path\":\"x\",\"event_time\":{\"field\":\"ts\"},"
         "\"watermark\":{\"idle_timout\":\"1s\"}}",
         "[]", ""),
     SL_EINVAL, "source.watermark: unknown key \"idle_timout\", did you mean \"idle_timeout\"?"},
    {DEF("{\"type\":\"file\",\"path\":\"x\"}", PIPE_WIN("{\"type\":\"tumbling\",\"size\":1}"), ""),
     SL_EINVAL, "source: missing \"event_time\""},
    {"{\"name\":\"t\",\"source\":" SRC ",\"pipeline\":[],\"sink\":{\"type\":\"flie\","
     "\"path\":\"o\"}}",
     SL_EINVAL, "t.json: sink.type: unknown sink type \"flie\", did you mean \"file\"?"},
    {"{\"name\":\"t\",\"source\":" SRC ",\"pipeline\":[],\"sink\":{\"type\":\"file\"}}", SL_EINVAL,
     "sink: missing required key \"path\""},
    {DEF(SRC, "[]", ",\"dead_letter\":{\"type\":\"file\",\"paht\":\"x\"}"), SL_EINVAL,
     "t.json: dead_letter: unknown key \"paht\", did you mean \"path\"?"},
    /* The sink's emit mode. */
    {"{\"name\":\"t\",\"source\":" SRC ",\"pipeline\":" PIPE_WIN(
         "{\"type\":\"session\",\"gap\":1}") ",\"sink\":{\"type\":\"file\",\"path\":\"o\",\"emit\":"
                                             "\"upsret\"}}",
     SL_EINVAL, "t.json: sink.emit: unknown value \"upsret\", did you mean \"upsert\"?"},
    {"{\"name\":\"t\",\"source\":" SRC
     ",\"pipeline\":" PIPE_WIN("{\"type\":\"session\",\"gap\":1}") ",\"sink\":{\"type\":\"file\","
                                                                   "\"path\":\"o\",\"emit\":true}}",
     SL_EINVAL, "t.json: sink.emit: must be a string, got true"},
    {"{\"name\":\"t\",\"source\":" SRC ",\"pipeline\":" PIPE_WIN(
         "{\"type\":\"session\",\"gap\":1}") ",\"sink\":{\"type\":\"file\",\"path\":\"o\",\"emti\":"
                                             "\"upsert\"}}",
     SL_EINVAL, "t.json: sink: unknown key \"emti\", did you mean \"emit\"?"},
    {"{\"name\":\"t\",\"source\":" SRC ",\"pipeline\":[],\"sink\":{\"type\":\"file\","
     "\"path\":\"o\",\"emit\":\"upsert\"}}",
     SL_EINVAL,
     "t.json: sink.emit: \"upsert\" keys results by (key fields, window_start) and needs "
     "a window stage"},
    {DEF(SRC, PIPE_WIN("{\"type\":\"session\",\"gap\":1}"),
         ",\"dead_letter\":{\"type\":\"file\",\"path\":\"x\",\"emit\":\"append\"}"),
     SL_EINVAL, "t.json: dead_letter.emit: only the results sink has an emit mode"},
    /* Durations. */
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"-1s\"}"), ""), SL_EINVAL,
     "t.json: pipeline[1].window.size: must be a positive duration, got \"-1s\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":0}"), ""), SL_EINVAL,
     "pipeline[1].window.size: must be a positive duration, got 0"},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"1 sec\"}"), ""), SL_EINVAL,
     "pipeline[1].window.size: must be a positive duration, got \"1 sec\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":1.5}"), ""), SL_EINVAL,
     "pipeline[1].window.size: must be a positive duration, got 1.5"},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"1s\",\"allowed_lateness\":\"-1ms\"}"),
         ""),
     SL_EINVAL, "pipeline[1].window.allowed_lateness: must be a duration >= 0, got \"-1ms\""},
    {DEF(SRC, "[]", ",\"checkpoint\":{\"interval\":\"0s\"}"), SL_EINVAL,
     "checkpoint.interval: must be a positive duration, got \"0s\""},
    /* Unknown keys with did-you-mean inside stages. */
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"sise\":\"1s\"}"), ""), SL_EINVAL,
     "t.json: pipeline[1].window: unknown key \"sise\", did you mean \"size\"?"},
    {DEF(SRC, "[{\"key_by\":\"u\",\"aggregate\":{}}]", ""), SL_EINVAL,
     "pipeline[0]: unknown key \"aggregate\""},
    {DEF(SRC,
         "[{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},\"agregates\":{\"n\":{\"fn\":"
         "\"count\"}}}]",
         ""),
     SL_EINVAL, "pipeline[0]: unknown key \"agregates\", did you mean \"aggregates\"?"},
    /* Unknown operators and stage shape. */
    {DEF(SRC, "[{\"filtr\":{\"field\":\"a\",\"op\":\"=\",\"value\":1}}]", ""), SL_EINVAL,
     "t.json: pipeline[0]: unknown operator \"filtr\", did you mean \"filter\"?"},
    {DEF(SRC, "[{\"join\":{}}]", ""), SL_EINVAL, "pipeline[0]: unknown operator \"join\""},
    {DEF(SRC, "[{}]", ""), SL_EINVAL, "pipeline[0]: empty stage"},
    {DEF(SRC, "[\"filter\"]", ""), SL_EINVAL, "pipeline[0]: must be an object, got \"filter\""},
    {DEF(SRC, "[{\"key_by\":\"a\",\"map\":{\"drop\":\"b\"}}]", ""), SL_EINVAL,
     "pipeline[0]: one operator per stage, found \"key_by\" and \"map\""},
    {DEF(SRC, "[{" AGG "}]", ""), SL_EINVAL,
     "pipeline[0]: \"aggregates\" needs a \"window\" in the same stage"},
    /* Order rules. */
    {DEF(SRC, "[" WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}") ",{\"key_by\":\"u\"}]", ""),
     SL_EINVAL, "t.json: pipeline[1].key_by: key_by cannot follow the window (at pipeline[0])"},
    {DEF(SRC,
         "[" WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}") "," WIN(
             "{\"type\":\"tumbling\",\"size\":\"1s\"}") "]",
         ""),
     SL_EINVAL, "pipeline[1].window: a second window cannot follow the window (at pipeline[0])"},
    /* After a window, stages read its result rows. */
    {DEF(SRC,
         "[" WIN(
             "{\"type\":\"tumbling\",\"size\":\"1s\"}") ",{\"filter\":{\"field\":"
                                                        "\"amount\",\"op\":\">\",\"value\":1}}]",
         ""),
     SL_EINVAL, "pipeline[1].filter: field \"amount\" is not in the results of pipeline[0].window"},
    {DEF(SRC,
         "[" WIN(
             "{\"type\":\"tumbling\",\"size\":\"1s\"}") ",{\"map\":{\"drop\":[\"window_end\"]}},"
                                                        "{\"filter\":{\"field\":\"window_end\","
                                                        "\"op\":\">\",\"value\":1}}]",
         ""),
     SL_EINVAL, "pipeline[2].filter: field \"window_end\" is removed by pipeline[1].map"},
    {DEF(SRC, "[{\"key_by\":\"u\"},{\"key_by\":\"v\"}]", ""), SL_EINVAL,
     "pipeline[1].key_by: key_by may appear only once (already at pipeline[0])"},
    /* Window types. */
    {DEF(SRC, PIPE_WIN("{\"type\":\"hopping\",\"size\":\"10s\"}"), ""), SL_EINVAL,
     "pipeline[1].window: a hopping window needs \"slide\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"hopping\",\"size\":\"1s\",\"slide\":\"2s\"}"), ""), SL_EINVAL,
     "pipeline[1].window.slide: must not be larger than size (2s > 1s)"},
    {DEF(SRC, PIPE_WIN("{\"type\":\"hopping\",\"size\":\"1s\",\"slide\":\"-2s\"}"), ""), SL_EINVAL,
     "pipeline[1].window.slide: must be a positive duration, got \"-2s\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"session\",\"size\":\"1s\",\"gap\":\"1s\"}"), ""), SL_EINVAL,
     "pipeline[1].window.size: session windows have no size; use \"gap\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"session\"}"), ""), SL_EINVAL,
     "pipeline[1].window: a session window needs \"gap\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\"}"), ""), SL_EINVAL,
     "pipeline[1].window: a tumbling window needs \"size\""},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"1s\",\"slide\":\"1s\"}"), ""), SL_EINVAL,
     "pipeline[1].window.slide: only hopping windows slide"},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"1s\",\"gap\":\"1s\"}"), ""), SL_EINVAL,
     "pipeline[1].window.gap: only session windows have a gap"},
    {DEF(SRC, PIPE_WIN("{\"type\":\"tumbeling\",\"size\":\"1s\"}"), ""), SL_EINVAL,
     "pipeline[1].window.type: unknown window type \"tumbeling\", did you mean \"tumbling\"?"},
    {DEF(SRC, PIPE_WIN("{\"size\":\"1s\"}"), ""), SL_EINVAL,
     "pipeline[1].window: missing required key \"type\""},
    {DEF(SRC, "[{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"}}]", ""), SL_EINVAL,
     "pipeline[0]: missing required key \"aggregates\""},
    /* Aggregates. */
    {DEF(SRC, PIPE_AGGS("{\"total\":{\"fn\":\"sum\"}}"), ""), SL_EINVAL,
     "t.json: pipeline[0].aggregates.total: \"sum\" needs a \"field\""},
    {DEF(SRC, PIPE_AGGS("{\"m\":{\"fn\":\"avg\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.m: \"avg\" needs a \"field\""},
    {DEF(SRC, PIPE_AGGS("{\"x\":{\"fn\":\"histogram\",\"field\":\"a\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x.fn: unknown aggregate function \"histogram\""},
    {DEF(SRC, PIPE_AGGS("{\"x\":{\"fn\":\"cuont\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x.fn: unknown aggregate function \"cuont\", did you mean "
     "\"count\"?"},
    {DEF(SRC, PIPE_AGGS("{\"sd\":{\"fn\":\"stddev_samp\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.sd: \"stddev_samp\" needs a \"field\""},
    {DEF(SRC, PIPE_AGGS("{\"x\":{\"fn\":\"var_sam\",\"field\":\"a\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x.fn: unknown aggregate function \"var_sam\", did you mean "
     "\"var_samp\"?"},
    {DEF(SRC, PIPE_AGGS("{\"x\":{\"fn\":\"count\",\"field\":\"a\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x.field: count takes no field"},
    {DEF(SRC, PIPE_AGGS("{\"x\":{\"field\":\"a\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x: missing required key \"fn\""},
    {DEF(SRC, PIPE_AGGS("{\"x\":{\"fn\":\"sum\",\"feild\":\"a\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x: unknown key \"feild\", did you mean \"field\"?"},
    {DEF(SRC, PIPE_AGGS("{}"), ""), SL_EINVAL, "pipeline[0].aggregates: needs at least one"},
    {DEF(SRC, PIPE_AGGS("{\"window_end\":{\"fn\":\"count\"}}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.window_end: \"window_end\" is reserved"},
    {DEF(SRC, PIPE_AGGS("{\"x\":\"count\"}"), ""), SL_EINVAL,
     "pipeline[0].aggregates.x: must be an object, got \"count\""},
    {DEF(SRC,
         "[{\"key_by\":\"user\"},{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
         "\"aggregates\":{\"user\":{\"fn\":\"count\"}}}]",
         ""),
     SL_EINVAL, "pipeline[1].aggregates.user: aggregate name collides with the key field"},
    /* Filter expressions. */
    {DEF(SRC, "[{\"filter\":{\"field\":\"a\",\"op\":\"=>\",\"value\":1}}]", ""), SL_EINVAL,
     "pipeline[0].filter.op: unknown operator \"=>\""},
    {DEF(SRC, "[{\"filter\":{\"field\":\"a\",\"op\":\"=\"}}]", ""), SL_EINVAL,
     "pipeline[0].filter: a comparison needs \"field\", \"op\" and \"value\" (missing "
     "\"value\")"},
    {DEF(SRC, "[{\"filter\":{\"field\":\"a\",\"op\":\"<\",\"value\":true}}]", ""), SL_EINVAL,
     "pipeline[0].filter.op: \"<\" cannot compare with a boolean"},
    {DEF(SRC, "[{\"filter\":{\"field\":\"a\",\"op\":\"=\",\"value\":[1]}}]", ""), SL_EINVAL,
     "pipeline[0].filter.value: must be a string, number, boolean or null, got [1]"},
    {DEF(SRC, "[{\"filter\":{\"and\":[]}}]", ""), SL_EINVAL,
     "pipeline[0].filter.and: must be a non-empty array"},
    {DEF(SRC,
         "[{\"filter\":{\"and\":[{\"field\":\"a\",\"op\":\"=\",\"value\":1},{\"not\":{\"fild\":"
         "\"b\"}}]}}]",
         ""),
     SL_EINVAL, "pipeline[0].filter.and[1].not: unknown key \"fild\", did you mean \"field\"?"},
    {DEF(SRC, "[{\"filter\":{\"and\":[],\"field\":\"a\"}}]", ""), SL_EINVAL,
     "pipeline[0].filter: an expression is either"},
    /* map and key_by. */
    {DEF(SRC, "[{\"map\":{}}]", ""), SL_EINVAL,
     "pipeline[0].map: needs at least one of \"set\", \"keep\", \"drop\", \"rename\""},
    {DEF(SRC, "[{\"map\":{\"keap\":[\"a\"]}}]", ""), SL_EINVAL,
     "pipeline[0].map: unknown key \"keap\", did you mean \"keep\"?"},
    {DEF(SRC, "[{\"map\":{\"rename\":{\"a\":1}}}]", ""), SL_EINVAL,
     "pipeline[0].map.rename.a: must be the new field name"},
    {DEF(SRC, "[{\"map\":{\"rename\":{\"a\":\"c\",\"b\":\"c\"}}}]", ""), SL_EINVAL,
     "two fields are renamed to \"c\""},
    {DEF(SRC, "[{\"key_by\":[]}]", ""), SL_EINVAL,
     "pipeline[0].key_by: must not be an empty array"},
    {DEF(SRC, "[{\"key_by\":[\"a\",3]}]", ""), SL_EINVAL,
     "pipeline[0].key_by[1]: must be a string, got 3"},
    {DEF(SRC, "[{\"key_by\":[\"a\",\"a\"]}]", ""), SL_EINVAL,
     "pipeline[0].key_by[1]: \"a\" is listed twice"},
    {DEF(SRC, "[{\"map\":{\"drop\":\"user\"}},{\"key_by\":\"user\"}]", ""), SL_EINVAL,
     "pipeline[1].key_by[0]: field \"user\" is removed by pipeline[0].map"},
    {DEF(SRC,
         "[{\"map\":{\"keep\":[\"user\"]}},{\"window\":{\"type\":\"tumbling\",\"size\":\"1s\"},"
         "\"aggregates\":{\"t\":{\"fn\":\"sum\",\"field\":\"amount\"}}}]",
         ""),
     SL_EINVAL, "pipeline[1].aggregates.t: field \"amount\" is removed by pipeline[0].map"},
    {DEF(SRC,
         "[{\"map\":{\"rename\":{\"a\":\"b\"}}},{\"filter\":{\"field\":\"a\",\"op\":\"=\","
         "\"value\":1}}]",
         ""),
     SL_EINVAL, "pipeline[1].filter: field \"a\" is removed by pipeline[0].map"},
    /* Checkpoint, cluster, http. */
    {DEF(SRC, "[]", ",\"checkpoint\":{\"guarantee\":\"exactly-once\"}"), SL_EINVAL,
     "checkpoint.guarantee: unknown value \"exactly-once\", did you mean \"exactly_once\"?"},
    {DEF(SRC, "[]", ",\"checkpoint\":{\"replicas\":1}"), SL_EINVAL,
     "checkpoint.replicas: 1 replica needs at least 1 peer in cluster.peers, there are 0"},
    {DEF(SRC, "[]", ",\"checkpoint\":{\"kep\":1}"), SL_EINVAL,
     "checkpoint: unknown key \"kep\", did you mean \"keep\"?"},
    {DEF(SRC, "[]", ",\"cluster\":{\"peers\":[\"tcp://a:1\"]}"), SL_EINVAL,
     "cluster.peers: peers need \"listen\""},
    {DEF(SRC, "[]", ",\"cluster\":{\"listen\":\"tcp://a:1\",\"peers\":\"tcp://a:1\"}"), SL_EINVAL,
     "cluster.peers[0]: \"tcp://a:1\" is this node's own listen address"},
    {DEF(SRC, "[]", ",\"cluster\":{\"node\":\"x\"}"), SL_EINVAL,
     "cluster: unknown key \"node\", did you mean \"node_id\"?"},
    {DEF(SRC, "[]", ",\"http\":{\"addr\":\"localhost\"}"), SL_EINVAL,
     "http.addr: must be \"HOST:PORT\""},
    {DEF(SRC, "[]", ",\"http\":{\"addr\":\"h:70000\"}"), SL_EINVAL,
     "http.addr: must be \"HOST:PORT\""},
    /* Substitution errors. */
    {DEF(SRC, "[]", ",\"http\":{\"addr\":\"${SL_TEST_SURELY_UNSET_VAR}\"}"), SL_EINVAL,
     "environment variable SL_TEST_SURELY_UNSET_VAR is not set"},
    {"{\n\"name\": \"${1X}\"}", SL_EPARSE, "t.json:2:10: bad variable reference"},
    /* Ranges and allowed values live in the option tables, so validate
     * rejects what run would. */
    {DEF(KSRC(",\"consumer_threads\":0"), "[]", ""), SL_EINVAL,
     "t.json: source.consumer_threads: must be between 1 and 64, got 0"},
    {DEF(KSRC(",\"consumer_threads\":65"), "[]", ""), SL_EINVAL,
     "source.consumer_threads: must be between 1 and 64, got 65"},
    {DEF(KSRC(",\"poll_batch\":0"), "[]", ""), SL_EINVAL,
     "source.poll_batch: must be between 1 and 100000, got 0"},
    {DEF(KSRC(",\"start\":\"latst\""), "[]", ""), SL_EINVAL,
     "source.start: unknown value \"latst\", did you mean \"latest\"?"},
    {DEF(KSRC(",\"commit_interval\":\"0ms\""), "[]", ""), SL_EINVAL,
     "source.commit_interval: must be a positive duration, got \"0ms\""},
    {DEF(SRC, "[]", ",\"runtime\":{\"workers\":0}"), SL_EINVAL,
     "runtime.workers: must be between 1 and 64, got 0"},
    {DEF(SRC, "[]", ",\"runtime\":{\"max_state_bytes\":10}"), SL_EINVAL,
     "runtime.max_state_bytes: must be between 1024 and"},
    {DEF(SRC, "[]", ",\"runtime\":{\"on_state_full\":\"dorp\"}"), SL_EINVAL,
     "runtime.on_state_full: unknown value \"dorp\", did you mean \"drop\"?"},
    {DEF(SRC, "[]", ",\"runtime\":{\"mode\":\"latncy\"}"), SL_EINVAL,
     "t.json: runtime.mode: unknown value \"latncy\", did you mean \"latency\"? (one of "
     "\"throughput\", \"latency\")"},
    {DEF(SRC, "[]", ",\"runtime\":{\"mode\":\"fast\"}"), SL_EINVAL,
     "t.json: runtime.mode: unknown value \"fast\" (one of \"throughput\", \"latency\")"},
    {DEF(SRC, "[]", ",\"runtime\":{\"mode\":1}"), SL_EINVAL,
     "t.json: runtime.mode: must be a string, got 1"},
    {DEF(SRC, "[]", ",\"runtime\":{\"mod\":\"latency\"}"), SL_EINVAL, "did you mean \"mode\"?"},
    {DEF(SRC, "[]", ",\"checkpoint\":\"of\""), SL_EINVAL,
     "checkpoint: must be an object or \"off\", got \"of\""},
    {DEF(SRC, "[]", ",\"checkpoint\":{\"keep\":0}"), SL_EINVAL,
     "checkpoint.keep: must be between 1 and 1000, got 0"},
    {DEF("{\"type\":\"file\",\"path\":\"in\",\"event_time\":{\"field\":\"ts\"},"
         "\"watermark\":{\"max_future\":\"soon\"}}",
         "[]", ""),
     SL_EINVAL, "source.watermark.max_future: must be a duration >= 0, got \"soon\""},
    /* A kafka source or sink needs a broker (SLUICE_BOOTSTRAP is unset here). */
    {DEF("{\"type\":\"kafka\",\"topics\":\"t\"}", "[]", ""), SL_EINVAL,
     "t.json: source.properties: \"bootstrap.servers\" is required (or set SLUICE_BOOTSTRAP)"},
    {"{\"name\":\"t\",\"source\":" SRC ",\"pipeline\":[],\"sink\":{\"type\":\"kafka\","
     "\"topic\":\"o\"}}",
     SL_EINVAL, "t.json: sink.properties: \"bootstrap.servers\" is required"},
    {DEF("{\"type\":\"kafka\",\"topics\":\"t\",\"properties\":{\"bootstrap.servers\":\"b:1\","
         "\"no.such.prop\":1}}",
         "[]", ""),
     SL_EINVAL, "no.such.prop"},
    {"{\"name\": \"${X\"}", SL_EPARSE, "t.json:1:11: bad variable reference"},
};

/* Co-partitioned topics load with default checkpoints (a task's
 * checkpoint records the position of each of its topics). */
static void test_copartitioned_checkpoints(void **state)
{
    (void)state;
    char err[1024] = "";
    sl_def *def = NULL;
    int rc = sl_def_load_string(
        "{\"name\":\"t\",\"source\":{\"type\":\"kafka\",\"topics\":[\"a\",\"b\"],"
        "\"properties\":{\"bootstrap.servers\":\"b:1\"}},\"pipeline\":[],\"sink\":" SINK "}",
        "t.json", &def, err, sizeof(err));
    if (rc != SL_OK)
        print_error("%s\n", err);
    assert_int_equal(rc, SL_OK);
    assert_true(def->checkpoint.enabled);
    sl_def_free(def);
}

static void test_broken_table(void **state)
{
    (void)state;
    unsetenv("SL_TEST_SURELY_UNSET_VAR");
    for (size_t i = 0; i < SL_ARRAY_LEN(broken_defs); i++) {
        const broken *b = &broken_defs[i];
        char err[1024] = "";
        sl_def *def = (sl_def *)0x1;
        int rc = sl_def_load_string(b->text, "t.json", &def, err, sizeof(err));
        if (rc != b->rc || !strstr(err, b->message) || strncmp(err, "t.json", 6) != 0) {
            print_error("case %zu: %s\n  rc %d (want %d)\n  got:  %s\n  want: %s\n", i, b->text, rc,
                        b->rc, err, b->message);
            fail();
        }
        assert_null(def);
    }
}

/* ---- durations against a reference ------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        int64_t ms;
    } cases[] = {
        {"250ms", 1, 250},
        {"1s", 1, 1000},
        {"5m", 1, 300000},
        {"1h", 1, 3600000},
        {"2d", 1, 172800000},
        {"0ms", 1, 0},
        {"-1s", 1, -1000},
        {"1h30m", 1, 5400000},
        {"1m30s250ms", 1, 90250},
        {"+2s", 1, 2000},
        {"1", 0, 0},
        {"s", 0, 0},
        {"1 s", 0, 0},
        {"1sec", 0, 0},
        {"", 0, 0},
        {"1.5s", 0, 0},
        {"1S", 0, 0},
        {"99999999999999999999ms", 0, 0},
        {"9223372036854775807ms", 1, INT64_MAX},
        {"106751991167301d", 0, 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        json_t *v = json_string(cases[i].text);
        int64_t ms = -12345;
        int rc = sl_parse_duration(v, &ms);
        if ((rc == 0) != cases[i].ok || (cases[i].ok && ms != cases[i].ms)) {
            print_error("duration \"%s\": rc %d ms %lld\n", cases[i].text, rc, (long long)ms);
            fail();
        }
        json_decref(v);
    }
    json_t *v = json_integer(1500);
    int64_t ms;
    assert_int_equal(sl_parse_duration(v, &ms), 0);
    assert_int_equal(ms, 1500);
    json_decref(v);
    v = json_real(1.0);
    assert_int_equal(sl_parse_duration(v, &ms), SL_EINVAL);
    json_decref(v);
    v = json_null();
    assert_int_equal(sl_parse_duration(v, &ms), SL_EINVAL);
    json_decref(v);

    /* Random compound durations against the sum computed here, and the
     * formatter round-trips through the parser. */
    static const char *const unit[] = {"d", "h", "m", "s", "ms"};
    static const int64_t factor[] = {86400000, 3600000, 60000, 1000, 1};
    for (int iter = 0; iter < 20000; iter++) {
        char text[128] = "";
        int64_t want = 0;
        size_t len = 0;
        int parts = 1 + (int)(rnd() % 4);
        for (int p = 0; p < parts; p++) {
            size_t u = rnd() % 5;
            int64_t n = (int64_t)(rnd() % 100000);
            want += n * factor[u];
            len +=
                (size_t)snprintf(text + len, sizeof(text) - len, "%lld%s", (long long)n, unit[u]);
        }
        v = json_string(text);
        assert_int_equal(sl_parse_duration(v, &ms), 0);
        assert_int_equal(ms, want);
        json_decref(v);
        char buf[64];
        v = json_string(sl_format_duration(want, buf, sizeof(buf)));
        assert_int_equal(sl_parse_duration(v, &ms), 0);
        assert_int_equal(ms, want);
        json_decref(v);
    }
    char buf[64];
    assert_string_equal(sl_format_duration(90250, buf, sizeof(buf)), "1m30s250ms");
    assert_string_equal(sl_format_duration(0, buf, sizeof(buf)), "0ms");
    assert_string_equal(sl_format_duration(-1000, buf, sizeof(buf)), "-1s");
}

/* ---- substitution and overrides ---------------------------------------- */

static void test_env_substitution(void **state)
{
    (void)state;
    setenv("SL_TEST_IN", "dir with \"quotes\" and \\ back\tslash.jsonl", 1);
    setenv("SL_TEST_WORKERS", "3", 1);
    setenv("SL_TEST_EMPTY", "", 1);
    unsetenv("SL_TEST_UNSET");
    const char *text =
        "{\"name\":\"${SL_TEST_UNSET:-fallback name}\","
        "\"source\":{\"type\":\"file\",\"path\":\"${SL_TEST_IN}\"},"
        "\"pipeline\":[],\"sink\":{\"type\":\"file\",\"path\":\"$${literal}/${SL_TEST_EMPTY:-e}"
        "${SL_TEST_EMPTY}\"},"
        "\"runtime\":{\"workers\":${SL_TEST_WORKERS:-1},\"batch_size\":${SL_TEST_UNSET:-7}}}";
    sl_def *def = load_ok(text);
    assert_string_equal(def->name, "fallback name");
    assert_string_equal(json_string_value(json_object_get(def->source.conf, "path")),
                        "dir with \"quotes\" and \\ back\tslash.jsonl");
    assert_string_equal(json_string_value(json_object_get(def->sink.conf, "path")), "${literal}/e");
    assert_int_equal(def->runtime.workers, 3);
    assert_int_equal(def->runtime.batch_size, 7);
    sl_def_free(def);

    /* Validation sees the substituted value. */
    setenv("SL_TEST_SIZE", "-1s", 1);
    char err[512];
    sl_def *bad = NULL;
    int rc = sl_def_load_string(DEF(SRC,
                                    PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"${SL_TEST_SIZE}"
                                             "\"}"),
                                    ""),
                                "t.json", &bad, err, sizeof(err));
    assert_int_equal(rc, SL_EINVAL);
    assert_non_null(strstr(err, "pipeline[1].window.size: must be a positive duration, got "
                                "\"-1s\""));
    assert_null(bad);
    unsetenv("SL_TEST_IN");
    unsetenv("SL_TEST_WORKERS");
    unsetenv("SL_TEST_EMPTY");
    unsetenv("SL_TEST_SIZE");
}

static void test_overrides(void **state)
{
    (void)state;
    setenv("SLUICE_NODE_ID", "node-7", 1);
    setenv("SLUICE_LISTEN", "tcp://127.0.0.1:7411", 1);
    setenv("SLUICE_PEERS", " tcp://127.0.0.1:7412 ,tcp://127.0.0.1:7413,, ", 1);
    setenv("SLUICE_CHECKPOINT_DIR", "/tmp/sl-ck", 1);
    setenv("SLUICE_HTTP_ADDR", "127.0.0.1:19464", 1);
    const char *text = DEF(SRC, "[]",
                           ",\"checkpoint\":{\"dir\":\"/var/x\",\"replicas\":2},"
                           "\"cluster\":{\"node_id\":\"n1\",\"listen\":\"tcp://x:1\","
                           "\"peers\":[\"tcp://y:2\"]},\"http\":{\"addr\":\"1.2.3.4:5\"}");
    sl_def *def = load_ok(text);
    assert_string_equal(def->cluster.node_id, "node-7");
    assert_string_equal(def->cluster.listen, "tcp://127.0.0.1:7411");
    assert_int_equal(def->cluster.npeers, 2);
    assert_string_equal(def->cluster.peers[0], "tcp://127.0.0.1:7412");
    assert_string_equal(def->cluster.peers[1], "tcp://127.0.0.1:7413");
    assert_string_equal(def->checkpoint.dir, "/tmp/sl-ck");
    assert_int_equal(def->checkpoint.replicas, 2);
    assert_string_equal(def->http.addr, "127.0.0.1:19464");
    /* The overrides are in the tree, too. */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(def->root, "cluster"), "node_id")),
        "node-7");
    sl_def_free(def);

    /* Without the sections in the file: cluster and http are created; the
     * checkpoint dir is set but checkpoints stay off. */
    def = load_ok(DEF(SRC, "[]", ""));
    assert_string_equal(def->cluster.node_id, "node-7");
    assert_int_equal(def->cluster.npeers, 2);
    assert_int_equal(def->checkpoint.enabled, 0);
    assert_string_equal(def->checkpoint.dir, "/tmp/sl-ck");
    assert_string_equal(def->http.addr, "127.0.0.1:19464");
    sl_def_free(def);

    /* An empty override is no override. */
    setenv("SLUICE_HTTP_ADDR", "", 1);
    def = load_ok(DEF(SRC, "[]", ",\"http\":{\"addr\":\"1.2.3.4:5\"}"));
    assert_string_equal(def->http.addr, "1.2.3.4:5");
    sl_def_free(def);
    setenv("SLUICE_HTTP_ADDR", "off", 1);
    def = load_ok(DEF(SRC, "[]", ""));
    assert_null(def->http.addr);
    sl_def_free(def);

    /* An override is validated like the file: a bad address is reported. */
    setenv("SLUICE_HTTP_ADDR", "nonsense", 1);
    char err[512];
    sl_def *bad = NULL;
    assert_int_equal(sl_def_load_string(DEF(SRC, "[]", ""), "t.json", &bad, err, sizeof(err)),
                     SL_EINVAL);
    assert_non_null(strstr(err, "t.json: http.addr: must be \"HOST:PORT\""));
    clear_overrides();
}

static void test_bootstrap_override(void **state)
{
    (void)state;
    if (!sl_source_find("kafka") || !sl_sink_find("kafka")) {
        SL_TEST_SKIP("test_bootstrap_override: built without the Kafka connectors");
        return;
    }
    setenv("SLUICE_BOOTSTRAP", "127.0.0.1:39092", 1);
    const char *text = "{\"name\":\"k\",\"source\":{\"type\":\"kafka\",\"topics\":[\"orders\"],"
                       "\"properties\":{\"bootstrap.servers\":\"old:9092\",\"client.id\":\"c\"},"
                       "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
                       "\"pipeline\":[],\"sink\":{\"type\":\"kafka\",\"topic\":\"out\"},"
                       "\"dead_letter\":{\"type\":\"file\",\"path\":\"bad\"}}";
    sl_def *def = load_ok(text);
    const json_t *sp = json_object_get(def->source.conf, "properties");
    assert_string_equal(json_string_value(json_object_get(sp, "bootstrap.servers")),
                        "127.0.0.1:39092");
    assert_string_equal(json_string_value(json_object_get(sp, "client.id")), "c");
    const json_t *kp = json_object_get(def->sink.conf, "properties");
    assert_string_equal(json_string_value(json_object_get(kp, "bootstrap.servers")),
                        "127.0.0.1:39092");
    assert_null(json_object_get(def->dead_letter.conf, "properties"));
    sl_def_free(def);
    clear_overrides();

    /* Kafka event time defaults to the message timestamp. */
    def = load_ok("{\"name\":\"k\",\"source\":{\"type\":\"kafka\",\"topics\":\"orders\","
                  "\"properties\":{\"bootstrap.servers\":\"b:1\"}},"
                  "\"pipeline\":[{\"key_by\":\"user\"},{\"window\":{\"type\":\"tumbling\","
                  "\"size\":\"1s\"}," AGG "}],\"sink\":" SINK "}");
    assert_int_equal(def->event_time.unit, SL_TIME_KAFKA);
    assert_null(def->event_time.field);
    sl_def_free(def);
}

/* ---- explain ------------------------------------------------------------ */

static char *explain_text(const sl_def *def)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sl_def_explain(def, f);
    fclose(f);
    return buf;
}

/* Kafka input checkpoints by default, to a directory this user can
 * write; "off" is the explicit way out. */
static void test_checkpoint_defaults(void **state)
{
    (void)state;
    const char *kdef = "{\"name\":\"k\",\"source\":" KSRC("") ",\"pipeline\":[],\"sink\":" SINK;
    char text[1024];
    char home[] = "/tmp/sl-def-home-XXXXXX";
    assert_non_null(mkdtemp(home));
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    unsetenv("XDG_STATE_HOME");
    snprintf(text, sizeof(text), "%s}", kdef);
    sl_def *def = load_ok(text);
    assert_int_equal(def->checkpoint.enabled, 1);
    assert_int_equal(def->checkpoint.implicit, 1);
    int var_ok = access("/var/lib/sluice", W_OK) == 0 ||
                 (access("/var/lib/sluice", F_OK) != 0 && access("/var/lib", W_OK) == 0);
    char want[512];
    snprintf(want, sizeof(want), "%s/.local/state/sluice/k", home);
    assert_string_equal(def->checkpoint.dir, var_ok ? "/var/lib/sluice/k" : want);
    sl_def_free(def);
    setenv("XDG_STATE_HOME", "/tmp/sl-xdg", 1);
    def = load_ok(text);
    assert_string_equal(def->checkpoint.dir, var_ok ? "/var/lib/sluice/k" : "/tmp/sl-xdg/sluice/k");
    sl_def_free(def);
    unsetenv("XDG_STATE_HOME");
    /* The override and "dir" win over the default. */
    setenv("SLUICE_CHECKPOINT_DIR", "/tmp/sl-env-ck", 1);
    def = load_ok(text);
    assert_string_equal(def->checkpoint.dir, "/tmp/sl-env-ck");
    assert_int_equal(def->checkpoint.enabled, 1);
    sl_def_free(def);
    unsetenv("SLUICE_CHECKPOINT_DIR");
    /* "off": no checkpoints; file input has none by default. */
    snprintf(text, sizeof(text), "%s,\"checkpoint\":\"off\"}", kdef);
    def = load_ok(text);
    assert_int_equal(def->checkpoint.enabled, 0);
    assert_int_equal(def->checkpoint.off, 1);
    sl_def_free(def);
    def = load_ok(DEF(SRC, "[]", ""));
    assert_int_equal(def->checkpoint.enabled, 0);
    sl_def_free(def);
    /* max_future "off" and a duration. */
    def = load_ok(DEF("{\"type\":\"file\",\"path\":\"in\",\"event_time\":{\"field\":\"ts\"},"
                      "\"watermark\":{\"max_future\":\"off\"}}",
                      "[]", ""));
    assert_int_equal(def->watermark.max_future_ms, -1);
    sl_def_free(def);
    def =
        load_ok(DEF("{\"type\":\"file\",\"path\":\"in\",\"event_time\":{\"field\":\"ts\"},"
                    "\"watermark\":{\"max_future\":\"5m\"}}",
                    "[]", ",\"runtime\":{\"max_state_bytes\":1048576,\"on_state_full\":\"drop\"}"));
    assert_int_equal(def->watermark.max_future_ms, 300000);
    assert_int_equal(def->runtime.max_state_bytes, 1048576);
    assert_int_equal(def->runtime.state_full_drop, 1);
    sl_def_free(def);
    if (old_home) {
        setenv("HOME", old_home, 1);
        free(old_home);
    }
    rmdir(home);
}

/* One decision for explain and run, on every shape that used to disagree. */
static void test_repartition_decision(void **state)
{
    (void)state;
    static const struct {
        const char *src_extra, *pipe;
        int want;
    } cases[] = {
        /* a window without key_by gathers everything: repartitioned */
        {"", "[" WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}") "]", 1},
        /* key_by without a window: per event, no repartition */
        {"", "[{\"key_by\":\"user\"}]", 0},
        /* key_by + window, nothing declared */
        {"", PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}"), 1},
        /* partitioned_by in another order is the same set */
        {",\"partitioned_by\":[\"b\",\"a\"]",
         "[{\"key_by\":[\"a\",\"b\"]}," WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}") "]", 0},
        {",\"partitioned_by\":[\"a\"]",
         "[{\"key_by\":[\"a\",\"b\"]}," WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}") "]", 1},
        {",\"partitioned_by\":\"user\"", PIPE_WIN("{\"type\":\"tumbling\",\"size\":\"1s\"}"), 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char text[2048], ksrc[512];
        snprintf(ksrc, sizeof(ksrc),
                 "{\"type\":\"kafka\",\"topics\":\"t\",\"properties\":{\"bootstrap.servers\":"
                 "\"b:1\"},\"event_time\":{\"field\":\"ts\"}%s}",
                 cases[i].src_extra);
        snprintf(text, sizeof(text),
                 "{\"name\":\"t\",\"source\":%s,\"pipeline\":%s,\"sink\":" SINK "}", ksrc,
                 cases[i].pipe);
        sl_def *def = load_ok(text);
        const char *why = NULL;
        int got = sl_def_needs_repartition(def, &why);
        assert_non_null(why);
        if (got != cases[i].want)
            print_error("case %zu: %s -> %d (%s)\n", i, text, got, why);
        assert_int_equal(got, cases[i].want);
        assert_int_equal(sl_kafka_needs_repartition(def, NULL), got);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        sl_def_explain(def, f);
        fclose(f);
        assert_non_null(strstr(buf, got ? "repartition: yes" : "repartition: no"));
        free(buf);
        sl_def_free(def);
    }
}

static void test_explain(void **state)
{
    (void)state;
    sl_def *def = load_ok(canonical);
    char *text = explain_text(def);
    static const char *const want[] = {
        "pipeline: orders-per-user",
        "source: file",
        "path: orders.jsonl",
        "tasks: 8",
        "event time: field \"ts\" (ms)",
        "watermark: max event time - 100ms; idle advance 2s",
        "reads from each event: amount, user, ts",
        "filter: amount >= 0",
        "key_by: user",
        "window: tumbling size=1s allowed_lateness=0ms",
        "orders=count(), total=sum(amount)",
        "reads: amount (1 numeric column)",
        "threads: 1 source lane, 2 workers, 1 sink",
        "rings: 4 (1 lane x 2 workers + 2 to the sink) x 64 batches x 1024 events",
        /* 2 open windows x (64 + 16 x 1 + 24 x 5) = 400 B per key. */
        "window state: ~400 B per key = 2 open windows",
        "sink: file",
        "path: out.jsonl",
        "checkpoint: disabled",
        "cluster: standalone",
        "http: 127.0.0.1:9464",
        "mode: throughput",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(want); i++)
        if (!strstr(text, want[i])) {
            print_error("explain lacks \"%s\":\n%s\n", want[i], text);
            fail();
        }
    free(text);
    sl_def_free(def);
}

/* runtime.mode: the two values, the default, and explain naming it. */
static void test_runtime_mode(void **state)
{
    (void)state;
    static const struct {
        const char *extra;
        sl_runtime_mode want;
        const char *explain;
    } cases[] = {
        {"", SL_MODE_THROUGHPUT, "mode: throughput"},
        {",\"runtime\":{\"workers\":1}", SL_MODE_THROUGHPUT, "mode: throughput"},
        {",\"runtime\":{\"mode\":\"throughput\"}", SL_MODE_THROUGHPUT, "mode: throughput"},
        {",\"runtime\":{\"mode\":\"latency\"}", SL_MODE_LATENCY, "mode: latency"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        char text[1024];
        snprintf(text, sizeof(text), DEF(SRC, "[]", "%s"), cases[i].extra);
        sl_def *def = load_ok(text);
        assert_int_equal(def->runtime.mode, cases[i].want);
        char *ex = explain_text(def);
        if (!strstr(ex, cases[i].explain)) {
            print_error("explain lacks \"%s\":\n%s\n", cases[i].explain, ex);
            fail();
        }
        free(ex);
        sl_def_free(def);
    }
}

/* ---- did-you-mean -------------------------------------------------------- */

static void test_didyoumean(void **state)
{
    (void)state;
    assert_int_equal(sl_edit_distance("size", "size"), 0);
    assert_int_equal(sl_edit_distance("sise", "size"), 1);
    assert_int_equal(sl_edit_distance("sizee", "size"), 1);
    assert_int_equal(sl_edit_distance("szie", "size"), 1); /* transposition */
    assert_int_equal(sl_edit_distance("", "abc"), 3);
    assert_int_equal(sl_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(sl_edit_distance("Size", "size"), 0);
    sl_suggest s;
    sl_suggest_init(&s, "slid");
    sl_suggest_add(&s, "size");
    sl_suggest_add(&s, "slide");
    sl_suggest_add(&s, NULL);
    assert_string_equal(sl_suggest_result(&s), "slide");
    sl_suggest_init(&s, "xyz");
    sl_suggest_add(&s, "size");
    assert_null(sl_suggest_result(&s));
    sl_suggest_init(&s, "size");
    sl_suggest_add(&s, "size");
    assert_null(sl_suggest_result(&s));
    /* Random strings: distance is symmetric, zero only for equal strings
     * (ignoring case), and at most the longer length. */
    for (int i = 0; i < 20000; i++) {
        char x[12], y[12];
        size_t lx = rnd() % 11, ly = rnd() % 11;
        for (size_t k = 0; k < lx; k++)
            x[k] = (char)('a' + rnd() % 4);
        for (size_t k = 0; k < ly; k++)
            y[k] = (char)('a' + rnd() % 4);
        x[lx] = y[ly] = '\0';
        size_t d = sl_edit_distance(x, y);
        assert_int_equal(d, sl_edit_distance(y, x));
        assert_true(d <= (lx > ly ? lx : ly));
        assert_true(d >= (lx > ly ? lx - ly : ly - lx));
        assert_int_equal(d == 0, strcmp(x, y) == 0);
    }
}

/* ---- robustness: random corruptions of a valid definition --------------- */

static void test_random_corruptions(void **state)
{
    (void)state;
    size_t len = strlen(canonical);
    char *buf = malloc(len + 1);
    static const char alphabet[] = "{}[]\":,0123456789-abcsmx ${}\\\n";
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, canonical, len + 1);
        int edits = 1 + (int)(rnd() % 3);
        size_t cur = len;
        for (int e = 0; e < edits; e++) {
            if (cur < 2)
                break;
            size_t pos = rnd() % cur;
            switch (rnd() % 3) {
            case 0: /* replace */
                buf[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
                break;
            case 1: /* delete */
                memmove(buf + pos, buf + pos + 1, cur - pos);
                cur--;
                break;
            default: /* truncate */
                buf[pos] = '\0';
                cur = pos ? pos : 1;
                if (pos == 0)
                    buf[0] = ' ', buf[1] = '\0';
                break;
            }
        }
        char err[1024] = "";
        sl_def *def = NULL;
        int rc = sl_def_load_string(buf, "c.json", &def, err, sizeof(err));
        if (rc == 0) {
            assert_non_null(def);
            char *text = explain_text(def);
            free(text);
            sl_def_free(def);
            accepted++;
        } else {
            assert_null(def);
            assert_true(rc == SL_EINVAL || rc == SL_EPARSE);
            assert_int_equal(strncmp(err, "c.json", 6), 0);
            rejected++;
        }
    }
    free(buf);
    assert_true(rejected > 0);
    print_message("random corruptions: %d accepted, %d rejected\n", accepted, rejected);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/sl_test_def_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(canonical, f);
    fclose(f);
    char err[512];
    sl_def *def = NULL;
    assert_int_equal(sl_def_load(path, &def, err, sizeof(err)), 0);
    assert_string_equal(def->file, path);
    assert_string_equal(def->name, "orders-per-user");
    sl_def_free(def);
    unlink(path);
    assert_int_equal(sl_def_load(path, &def, err, sizeof(err)), SL_EIO);
    assert_non_null(strstr(err, path));
    assert_null(def);
    sl_def_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_canonical, setup),
        cmocka_unit_test_setup(test_full_schema, setup),
        cmocka_unit_test_setup(test_session_and_defaults, setup),
        cmocka_unit_test_setup(test_broken_table, setup),
        cmocka_unit_test_setup(test_copartitioned_checkpoints, setup),
        cmocka_unit_test_setup(test_durations, setup),
        cmocka_unit_test_setup(test_env_substitution, setup),
        cmocka_unit_test_setup(test_overrides, setup),
        cmocka_unit_test_setup(test_bootstrap_override, setup),
        cmocka_unit_test_setup(test_explain, setup),
        cmocka_unit_test_setup(test_runtime_mode, setup),
        cmocka_unit_test_setup(test_checkpoint_defaults, setup),
        cmocka_unit_test_setup(test_repartition_decision, setup),
        cmocka_unit_test_setup(test_didyoumean, setup),
        cmocka_unit_test_setup(test_random_corruptions, setup),
        cmocka_unit_test_setup(test_load_file, setup),
    };
    return sl_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
