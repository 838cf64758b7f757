/*
 * test_kafka_mode.c - runtime.mode as the Kafka connectors apply it: the
 * consumer, repartition producer and sink producer configurations in
 * latency and throughput mode, a property set in "properties" winning
 * over the mode, the consumer threads' time cut, and the default number of
 * consumer threads agreeing between the planner and the source. Builds
 * configurations only: nothing connects to a broker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_skip.h"

#include "connector.h"
#include "definition.h"
#include "kafka.h"
#include "kafka_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A kafka -> key_by -> window -> kafka definition (repartitioned: no
 * partitioned_by), with `src_extra` / `sink_props` inside the source and
 * the sink's "properties", and `runtime` as the runtime object. */
static sl_def *load(const char *src_extra, const char *sink_props, const char *runtime)
{
    char text[4096], err[1024] = "";
    snprintf(text, sizeof(text),
             "{\"name\":\"m\",\"source\":{\"type\":\"kafka\",\"topics\":[\"in\"],"
             "\"properties\":{\"bootstrap.servers\":\"127.0.0.1:1\"%s},"
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"key_by\":\"user\"},{\"window\":{\"type\":\"tumbling\","
             "\"size\":\"1s\"},\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
             "\"sink\":{\"type\":\"kafka\",\"topic\":\"out\",\"properties\":"
             "{\"bootstrap.servers\":\"127.0.0.1:1\"%s}},"
             "\"checkpoint\":\"off\"%s%s}",
             src_extra, sink_props, runtime ? ",\"runtime\":" : "", runtime ? runtime : "");
    sl_def *def = NULL;
    int rc = sl_def_load_string(text, "m.json", &def, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    return def;
}

static void expect_prop(rd_kafka_conf_t *conf, const char *name, const char *want)
{
    char val[128];
    size_t n = sizeof(val);
    assert_int_equal(rd_kafka_conf_get(conf, name, val, &n), RD_KAFKA_CONF_OK);
    if (strcmp(val, want) != 0)
        print_error("%s = \"%s\", want \"%s\"\n", name, val, want);
    assert_string_equal(val, want);
}

typedef struct mode_case {
    const char *src_props, *sink_props, *runtime;
    const char *fetch_wait, *fetch_min, *rep_linger, *sink_linger;
    int cut_ms;
} mode_case;

static void test_mode_settings(void **state)
{
    (void)state;
    if (!sl_source_find("kafka") || !sl_sink_find("kafka")) {
        SL_TEST_SKIP("test_mode_settings: built without the Kafka connectors");
        return;
    }
    static const mode_case cases[] = {
        /* The default is throughput: today's settings. */
        {"", "", NULL, "50", "1", "5", "5", 0},
        {"", "", "{\"mode\":\"throughput\"}", "50", "1", "5", "5", 0},
        {"", "", "{\"mode\":\"latency\"}", "1", "1", "0", "0", 1},
        /* The user's properties win over the mode's. */
        {",\"fetch.wait.max.ms\":7,\"fetch.min.bytes\":\"100\",\"linger.ms\":2",
         ",\"linger.ms\":\"3\"", "{\"mode\":\"latency\"}", "7", "100", "2", "3", 1},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        const mode_case *c = &cases[i];
        sl_def *def = load(c->src_props, c->sink_props, c->runtime);
        char err[1024] = "";
        void *st = NULL;
        int rc = sl_source_kafka.create(&def->source, def, &st, err, sizeof(err));
        if (rc != 0)
            print_error("case %zu: %s\n", i, err);
        assert_int_equal(rc, 0);
        sl__ks_source *s = st;
        expect_prop(s->conf, "fetch.wait.max.ms", c->fetch_wait);
        expect_prop(s->conf, "fetch.min.bytes", c->fetch_min);
        assert_non_null(s->pconf); /* repartitioned */
        expect_prop(s->pconf, "linger.ms", c->rep_linger);
        assert_int_equal(s->cut_ms, c->cut_ms);
        sl_source_kafka.destroy(st);

        rd_kafka_conf_t *conf = sl__kafka_sink_conf(&def->sink, def, err, sizeof(err));
        assert_non_null(conf);
        expect_prop(conf, "linger.ms", c->sink_linger);
        rd_kafka_conf_destroy(conf);
        sl_def_free(def);
    }
}

/* consumer_threads defaults to the online CPUs (1..64), and the planner
 * counts the same lanes as the source it plans for. */
static void test_default_threads(void **state)
{
    (void)state;
    if (!sl_source_find("kafka")) {
        SL_TEST_SKIP("test_default_threads: built without the Kafka connectors");
        return;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
    for (int i = 0; i < 2; i++) {
        sl_def *def = load("", "", NULL);
        if (i == 1) /* an explicit count (the source reads its conf object) */
            json_object_set_new(def->source.conf, "consumer_threads", json_integer(3));
        char err[1024] = "";
        void *st = NULL;
        assert_int_equal(sl_source_kafka.create(&def->source, def, &st, err, sizeof(err)), 0);
        sl__ks_source *s = st;
        assert_int_equal(s->nthreads, i == 0 ? want : 3);
        int lanes = sl_source_kafka.lanes(st);
        assert_int_equal(lanes, 2 * s->nthreads); /* repartitioned: two stages */
        assert_int_equal(sl_source_kafka.plan_lanes(&def->source, def), lanes);
        sl_source_kafka.destroy(st);
        sl_def_free(def);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_settings),
        cmocka_unit_test(test_default_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
