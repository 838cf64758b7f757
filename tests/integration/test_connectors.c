/*
 * test_connectors.c - the file source, the generator source and the file
 * sink (connectors/file_source.c, generator.c, file_sink.c).
 *
 *   - generator: determinism per seed and per event index, bounded
 *     disorder and the late fraction, every field kind and time unit read
 *     back through the decoder, option errors;
 *   - generator -> engine -> file sink, compared with the brute-force
 *     window oracle (tests/lib/oracle.c) per task;
 *   - file source -> engine -> file sink: CRLF, blank lines, malformed and
 *     too-large lines (one larger than the read buffer), no final newline;
 *     stdin through a pipe written slowly; a missing file; sink append;
 *   - "emit": "upsert": the file sink's changelog lines, and generator ->
 *     session windows -> changelog, applied, against the oracle's final
 *     sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine.h"
#include "generator.h"
#include "ingest.h"
#include "json_scan.h"
#include "oracle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static char *tmp_path(const char *tag)
{
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/sl_test_connectors_%d_%s", (int)getpid(), tag);
    return p;
}

typedef struct lines {
    char **v;
    size_t n;
} lines;

static lines read_lines(const char *path)
{
    lines L = {NULL, 0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        L.v = realloc(L.v, (L.n + 1) * sizeof(*L.v));
        L.v[L.n++] = strdup(line);
    }
    free(line);
    fclose(f);
    return L;
}

static void lines_free(lines *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->v[i]);
    free(L->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs a definition; returns the engine stats. */
static sl_engine_stats run_def(const char *text)
{
    sl_def *def = NULL;
    char err[1024];
    if (sl_def_load_string(text, "test.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("definition: %s\n%s", err, text);
    sl_engine_options opt = {0};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    if (!e)
        fail_msg("engine: %s", err);
    assert_int_equal(sl_engine_run(e), 0);
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    sl_engine_free(e);
    sl_def_free(def);
    return st;
}

static sl_gen_config gen_config(const char *json, const sl_def *def)
{
    sl_gen_config c;
    sl_gen_config_default(&c);
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    char err[256];
    if (sl_gen_config_from_json(&c, j, "source", def, err, sizeof(err)) != SL_OK)
        fail_msg("%s: %s", json, err);
    json_decref(j);
    return c;
}

/* ---- generator ------------------------------------------------------------------ */

static void test_gen_deterministic(void **state)
{
    (void)state;
    sl_gen_config a = gen_config("{\"seed\":7,\"keys\":100,\"disorder_ms\":30,"
                                 "\"fields\":[\"user\",\"amount\",\"price\",\"ts\"]}",
                                 NULL);
    sl_gen_config b = a;
    sl_gen_config c = gen_config("{\"seed\":8,\"keys\":100,\"disorder_ms\":30,"
                                 "\"fields\":[\"user\",\"amount\",\"price\",\"ts\"]}",
                                 NULL);
    char x[SL_GEN_MAX_EVENT], y[SL_GEN_MAX_EVENT];
    int differ = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        size_t n = sl_gen_render(&a, i, x, sizeof(x));
        assert_true(n > 0);
        /* any order, any copy of the configuration: the same bytes */
        uint64_t j = 4999 - i;
        size_t m1 = sl_gen_render(&b, j, y, sizeof(y));
        char z[SL_GEN_MAX_EVENT];
        size_t m2 = sl_gen_render(&a, j, z, sizeof(z));
        assert_int_equal(m1, m2);
        assert_memory_equal(y, z, m1);
        size_t m = sl_gen_render(&c, i, y, sizeof(y));
        differ += m != n || memcmp(x, y, n) != 0;
    }
    assert_true(differ > 4500);
    /* too small a buffer: 0, never an overflow */
    assert_int_equal(sl_gen_render(&a, 0, x, 10), 0);
    /* field values depend on the name, not the position */
    sl_gen_config d = gen_config("{\"seed\":7,\"keys\":100,\"disorder_ms\":30,"
                                 "\"fields\":[\"price\",\"ts\",\"amount\",\"user\"]}",
                                 NULL);
    for (uint64_t i = 0; i < 100; i++) {
        assert_int_equal(sl_gen_int_value(&a, i, 1), sl_gen_int_value(&d, i, 2));
        assert_int_equal(sl_gen_key_index(&a, i), sl_gen_key_index(&d, i));
    }
}

static void test_gen_disorder_late(void **state)
{
    (void)state;
    for (int with_late = 0; with_late < 2; with_late++) {
        sl_gen_config c = gen_config(with_late ? "{\"disorder_ms\":50,\"ts_step_ms\":2,"
                                                 "\"late_fraction\":0.1,\"late_ms\":500}"
                                               : "{\"disorder_ms\":50,\"ts_step_ms\":2}",
                                     NULL);
        int64_t max = INT64_MIN;
        uint64_t late = 0, n = 100000, jitter_seen = 0;
        for (uint64_t i = 0; i < n; i++) {
            int64_t ts = sl_gen_event_ts(&c, i), base = c.start_ts + (int64_t)i * 2;
            assert_true(ts <= base);
            if (ts < base - 50) { /* a late event: beyond the disorder, within late_ms */
                late++;
                assert_true(ts >= base - 50 - 500);
            } else if (!with_late) {
                /* bounded disorder: never more than 50 ms behind the max seen */
                assert_true(max == INT64_MIN || ts >= max - 50);
            }
            jitter_seen += ts != base;
            if (ts > max)
                max = ts;
        }
        assert_true(jitter_seen > n / 2);
        if (!with_late)
            assert_int_equal(late, 0);
        else
            assert_true(late > n * 8 / 100 && late < n * 12 / 100);
    }
}

/* Every kind and time unit renders JSON the decoder reads back exactly. */
static void test_gen_fields_units(void **state)
{
    (void)state;
    static const sl_time_unit units[] = {SL_TIME_MS, SL_TIME_S, SL_TIME_RFC3339};
    for (size_t u = 0; u < 3; u++) {
        char text[1024];
        snprintf(
            text, sizeof(text),
            "{\"name\":\"g\",\"source\":{\"type\":\"generator\",\"event_time\":{\"field\":\"when\","
            "\"unit\":\"%s\"}},\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":"
            "\"tumbling\",\"size\":\"1s\"},\"aggregates\":{\"s\":{\"fn\":\"sum\",\"field\":"
            "\"amount\"},\"p\":{\"fn\":\"max\",\"field\":\"price\"}}}],"
            "\"sink\":{\"type\":\"null\"}}",
            u == 0   ? "ms"
            : u == 1 ? "s"
                     : "rfc3339");
        sl_def *def = NULL;
        char err[512];
        if (sl_def_load_string(text, "gen.json", &def, err, sizeof(err)) != SL_OK)
            fail_msg("%s", err);
        assert_int_equal(def->event_time.unit, units[u]);
        sl_gen_config c =
            gen_config("{\"seed\":3,\"keys\":20,\"disorder_ms\":1000,\"start_ts\":-3000000,"
                       "\"ts_step_ms\":123457,\"fields\":[\"user\",\"amount\",\"price\",\"item\","
                       "\"region\",\"flag\",\"other:key\",\"n:int\",\"d:double\",\"s:string\","
                       "\"b:bool\",\"r:region\",\"t2:ts_rfc3339\"]}",
                       def);
        assert_string_equal(c.fields[c.nfields - 1].name, "when"); /* added */
        sl_ingest *ing = sl_ingest_new(def, SL_INGEST_RAW, err, sizeof(err));
        assert_non_null(ing);
        const char *names[] = {"item", "region", "flag", "other", "n", "d", "s", "b", "r", "t2"};
        sl_json_fields *f = sl_json_fields_new(names, 10);
        for (uint64_t i = 0; i < 3000; i++) {
            char ev[SL_GEN_MAX_EVENT];
            size_t n = sl_gen_render(&c, i, ev, sizeof(ev));
            sl_bad_reason why;
            if (sl_ingest_decode(ing, ev, n, -1, &why) != SL_DECODE_OK)
                fail_msg("%.*s: %s", (int)n, ev, sl_bad_reason_name(why));
            assert_int_equal(sl_ingest_ts(ing), sl_gen_event_ts(&c, i));
            char key[64];
            snprintf(key, sizeof(key), "\"user\":\"u%" PRIu64 "\"", sl_gen_key_index(&c, i));
            size_t kl;
            const char *k = sl_ingest_key(ing, &kl);
            assert_int_equal(kl, strlen(key));
            assert_memory_equal(k, key, kl);
            sl_json_val v[10];
            assert_int_equal(sl_json_scan(f, ev, n, v), 0);
            assert_int_equal(v[0].type, SL_T_STRING);
            assert_int_equal(v[1].type, SL_T_STRING);
            assert_int_equal(v[2].type, SL_T_BOOL);
            assert_int_equal(v[3].type, SL_T_STRING);
            assert_int_equal(v[4].type, SL_T_INT);
            assert_true(v[4].i >= 0 && v[4].i < 1000);
            assert_int_equal(v[5].type, SL_T_DOUBLE);
            assert_int_equal(v[6].type, SL_T_STRING);
            assert_int_equal(v[7].type, SL_T_BOOL);
            assert_int_equal(v[8].type, SL_T_STRING);
            assert_int_equal(v[9].type, SL_T_STRING);
            assert_int_equal(v[9].len, 24);
        }
        sl_json_fields_free(f);
        sl_ingest_free(ing);
        sl_def_free(def);
    }
}

static void test_gen_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"keys\":0}", "source.keys: must be an integer >= 1"},
        {"{\"count\":-1}", "source.count"},
        {"{\"late_fraction\":1.5}", "source.late_fraction: must be a number in [0, 1]"},
        {"{\"rate\":\"fast\"}", "source.rate"},
        {"{\"fields\":[\"user\",\"user\"]}", "source.fields[1]: field \"user\" is listed twice"},
        {"{\"fields\":[\"mystery\"]}", "source.fields[0]: unknown field \"mystery\""},
        {"{\"fields\":[\"m:complex\"]}", "source.fields[0]: unknown kind \"complex\""},
        {"{\"fields\":[7]}", "source.fields: must be an array of field names"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        sl_gen_config c;
        sl_gen_config_default(&c);
        json_t *j = json_loads(cases[i].json, 0, NULL);
        char err[256] = "";
        assert_int_equal(sl_gen_config_from_json(&c, j, "source", NULL, err, sizeof(err)),
                         SL_EINVAL);
        if (!strstr(err, cases[i].msg))
            fail_msg("%s: got \"%s\", expected \"%s\"", cases[i].json, err, cases[i].msg);
        json_decref(j);
    }
}

/* generator -> key_by -> tumbling window -> file sink, against the oracle. */
static void test_generator_engine_oracle(void **state)
{
    (void)state;
    char *out = tmp_path("gen_out.jsonl");
    const int ntasks = 4, count = 30000;
    for (int round = 0; round < 2; round++) {
        int workers = 1 + round, batch = round ? 7 : 1024;
        char text[2048];
        snprintf(text, sizeof(text),
                 "{\"name\":\"g\",\"source\":{\"type\":\"generator\",\"count\":%d,\"keys\":40,"
                 "\"disorder_ms\":40,\"late_fraction\":0.02,\"late_ms\":3000,\"seed\":%d,"
                 "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
                 "\"watermark\":{\"max_out_of_orderness\":\"20ms\"}},"
                 "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\","
                 "\"size\":\"500ms\"},\"aggregates\":{\"n\":{\"fn\":\"count\"},"
                 "\"total\":{\"fn\":\"sum\",\"field\":\"amount\"},"
                 "\"top\":{\"fn\":\"max\",\"field\":\"amount\"}}}],"
                 "\"sink\":{\"type\":\"file\",\"path\":\"%s\"},"
                 "\"runtime\":{\"workers\":%d,\"batch_size\":%d,\"tasks\":%d}}",
                 count, 11 + round, out, workers, batch, ntasks);
        sl_engine_stats st = run_def(text);
        assert_int_equal(st.events_in, (uint64_t)count);

        /* the reference: events by task (key hash), each task in order */
        sl_gen_config c = gen_config("{\"keys\":40,\"disorder_ms\":40,\"late_fraction\":0.02,"
                                     "\"late_ms\":3000}",
                                     NULL);
        c.seed = (uint64_t)(11 + round);
        or_event *ev = calloc((size_t)count, sizeof(*ev));
        char(*keys)[32] = calloc((size_t)count, 32);
        int *task = calloc((size_t)count, sizeof(int));
        for (int i = 0; i < count; i++) {
            snprintf(keys[i], 32, "\"user\":\"u%" PRIu64 "\"", sl_gen_key_index(&c, (uint64_t)i));
            ev[i].key = keys[i];
            ev[i].ts = sl_gen_event_ts(&c, (uint64_t)i);
            ev[i].amount = sl_gen_int_value(&c, (uint64_t)i, 1);
            task[i] = (int)(sl_hash64(keys[i], strlen(keys[i])) % (uint64_t)ntasks);
        }
        static const char *const agg_names[] = {"n", "total", "top"};
        static const char *const agg_fns[] = {"count", "sum", "max"};
        or_config cfg = {OR_TUMBLING, 500, 0, 0, 0, 20, agg_names, agg_fns, 3, NULL};
        lines want = {NULL, 0};
        uint64_t late = 0;
        or_event *sub = calloc((size_t)count, sizeof(*sub));
        for (int t = 0; t < ntasks; t++) {
            size_t m = 0;
            for (int i = 0; i < count; i++)
                if (task[i] == t)
                    sub[m++] = ev[i];
            or_output o = {0};
            oracle_run(&cfg, sub, m, &o);
            late += o.late;
            for (size_t r = 0; r < o.n; r++) {
                want.v = realloc(want.v, (want.n + 1) * sizeof(char *));
                want.v[want.n++] = strdup(o.results[r].value);
            }
            oracle_output_free(&o);
        }
        assert_true(late > 0);
        assert_int_equal(st.late, late);
        lines got = read_lines(out);
        assert_int_equal(got.n, want.n);
        qsort(got.v, got.n, sizeof(char *), cmp_str);
        qsort(want.v, want.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < got.n; i++)
            if (strcmp(got.v[i], want.v[i]) != 0)
                fail_msg("result %zu: got %s, want %s", i, got.v[i], want.v[i]);
        lines_free(&got);
        lines_free(&want);
        free(sub);
        free(ev);
        free(keys);
        free(task);
    }
    unlink(out);
    free(out);
}

/* "emit": "upsert" through the engine: generator -> session windows (late
 * events within and beyond allowed_lateness, merges after emission) ->
 * file sink changelog. Applying the lines (upsert: replace the record of
 * the key fields and window_start; delete: remove it, which must exist)
 * must give exactly the oracle's final sessions of every task. */
typedef struct kv {
    char **k, **v;
    size_t n;
} kv;

static size_t kv_find(const kv *m, const char *k)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->k[i], k) == 0)
            return i;
    return SIZE_MAX;
}

static void test_generator_engine_upsert(void **state)
{
    (void)state;
    char *out = tmp_path("gen_upsert.jsonl");
    const int ntasks = 3, count = 12000;
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"name\":\"g\",\"source\":{\"type\":\"generator\",\"count\":%d,\"keys\":30,"
             "\"disorder_ms\":300,\"late_fraction\":0.05,\"late_ms\":1500,\"seed\":5,"
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
             "\"watermark\":{\"max_out_of_orderness\":\"20ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"session\","
             "\"gap\":\"40ms\",\"allowed_lateness\":\"1s\"},\"aggregates\":{\"n\":{\"fn\":"
             "\"count\"},\"total\":{\"fn\":\"sum\",\"field\":\"amount\"}}}],"
             "\"sink\":{\"type\":\"file\",\"path\":\"%s\",\"emit\":\"upsert\"},"
             "\"runtime\":{\"workers\":2,\"batch_size\":64,\"tasks\":%d}}",
             count, out, ntasks);
    sl_engine_stats st = run_def(text);
    assert_int_equal(st.events_in, (uint64_t)count);

    sl_gen_config c = gen_config("{\"keys\":30,\"disorder_ms\":300,\"late_fraction\":0.05,"
                                 "\"late_ms\":1500}",
                                 NULL);
    c.seed = 5;
    or_event *ev = calloc((size_t)count, sizeof(*ev)), *sub = calloc((size_t)count, sizeof(*sub));
    char(*keys)[32] = calloc((size_t)count, 32);
    int *task = calloc((size_t)count, sizeof(int));
    for (int i = 0; i < count; i++) {
        snprintf(keys[i], 32, "\"user\":\"u%" PRIu64 "\"", sl_gen_key_index(&c, (uint64_t)i));
        ev[i].key = keys[i];
        ev[i].ts = sl_gen_event_ts(&c, (uint64_t)i);
        ev[i].amount = sl_gen_int_value(&c, (uint64_t)i, 1);
        task[i] = (int)(sl_hash64(keys[i], strlen(keys[i])) % (uint64_t)ntasks);
    }
    static const char *const agg_names[] = {"n", "total"};
    static const char *const agg_fns[] = {"count", "sum"};
    or_config cfg = {OR_SESSION, 0, 0, 40, 1000, 20, agg_names, agg_fns, 2, NULL};
    kv want = {0};
    uint64_t late = 0, updates = 0;
    for (int t = 0; t < ntasks; t++) {
        size_t m = 0;
        for (int i = 0; i < count; i++)
            if (task[i] == t)
                sub[m++] = ev[i];
        or_output o = {0};
        oracle_run(&cfg, sub, m, &o);
        late += o.late;
        updates += o.updates;
        want.k = realloc(want.k, (want.n + o.nfinals) * sizeof(char *));
        want.v = realloc(want.v, (want.n + o.nfinals) * sizeof(char *));
        for (size_t r = 0; r < o.nfinals; r++) {
            want.k[want.n] = strdup(o.finals[r].key);
            want.v[want.n++] = strdup(o.finals[r].value);
        }
        oracle_output_free(&o);
    }
    assert_true(late > 0 && updates > 0);
    assert_int_equal(st.late, late);
    assert_true(st.tombstones > 0);

    /* apply the changelog */
    lines got = read_lines(out);
    kv view = {0};
    view.k = calloc(got.n, sizeof(char *));
    view.v = calloc(got.n, sizeof(char *));
    uint64_t deletes = 0;
    static const char up[] = "{\"op\":\"upsert\",", del[] = "{\"op\":\"delete\",\"key\":{";
    for (size_t i = 0; i < got.n; i++) {
        const char *line = got.v[i];
        char key[256], row[1024];
        if (strncmp(line, up, sizeof(up) - 1) == 0) {
            snprintf(row, sizeof(row), "{%s", line + sizeof(up) - 1);
            const char *we = strstr(row, ",\"window_end\":");
            assert_non_null(we);
            snprintf(key, sizeof(key), "%.*s}", (int)(we - row), row);
            size_t at = kv_find(&view, key);
            if (at == SIZE_MAX) {
                at = view.n++;
                view.k[at] = strdup(key);
            } else {
                free(view.v[at]);
            }
            view.v[at] = strdup(row);
        } else {
            assert_int_equal(strncmp(line, del, sizeof(del) - 1), 0);
            const char *fields = line + sizeof(del) - 1;
            const char *ws = strstr(fields, "},\"window_start\":");
            assert_non_null(ws);
            snprintf(key, sizeof(key), "{%.*s,\"window_start\":%s", (int)(ws - fields), fields,
                     ws + 17);
            size_t at = kv_find(&view, key);
            if (at == SIZE_MAX)
                fail_msg("line %zu deletes %s, not in the view", i, key);
            free(view.k[at]);
            free(view.v[at]);
            view.k[at] = view.k[--view.n];
            view.v[at] = view.v[view.n];
            deletes++;
        }
    }
    assert_int_equal(deletes, st.tombstones);
    assert_int_equal(view.n, want.n);
    printf("  %zu lines, %" PRIu64 " deletes, %zu final sessions, %" PRIu64 " late, %" PRIu64
           " late updates\n",
           got.n, deletes, want.n, late, updates);
    for (size_t i = 0; i < want.n; i++) {
        size_t at = kv_find(&view, want.k[i]);
        if (at == SIZE_MAX)
            fail_msg("final session %s missing from the changelog", want.k[i]);
        if (strcmp(view.v[at], want.v[i]) != 0)
            fail_msg("%s: got %s, want %s", want.k[i], view.v[at], want.v[i]);
    }
    lines_free(&got);
    for (size_t i = 0; i < want.n; i++) {
        free(want.k[i]);
        free(want.v[i]);
    }
    for (size_t i = 0; i < view.n; i++) {
        free(view.k[i]);
        free(view.v[i]);
    }
    free(want.k);
    free(want.v);
    free(view.k);
    free(view.v);
    free(sub);
    free(ev);
    free(keys);
    free(task);
    unlink(out);
    free(out);
}

/* The file sink's changelog lines exactly, tombstones through a map after
 * the window; dead letters stay plain. */
static void test_file_sink_upsert_lines(void **state)
{
    (void)state;
    char *in = tmp_path("upsert_in.jsonl"), *out = tmp_path("upsert_out.jsonl"),
         *dlq = tmp_path("upsert_dlq.jsonl");
    FILE *f = fopen(in, "w");
    fputs("{\"user\":\"a\",\"ts\":100,\"amount\":1}\n"
          "{\"user\":\"a\",\"ts\":200,\"amount\":2}\n"
          "{\"user\":\"b\",\"ts\":210,\"amount\":5}\n"
          "{\"user\":\"a\",\"ts\":1000,\"amount\":3}\n"
          "{\"user\":\"a\",\"ts\":3000,\"amount\":4}\n"
          "{\"user\":\"a\",\"ts\":600,\"amount\":10}\n"
          "not json\n"
          "{\"user\":\"a\",\"ts\":5000,\"amount\":1}\n",
          f);
    fclose(f);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"name\":\"u\",\"source\":{\"type\":\"file\",\"path\":\"%s\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"session\","
             "\"gap\":\"500ms\",\"allowed_lateness\":\"5s\"},\"aggregates\":{\"n\":{\"fn\":"
             "\"count\"},\"s\":{\"fn\":\"sum\",\"field\":\"amount\"}}},"
             "{\"map\":{\"rename\":{\"s\":\"sum\"}}}],"
             "\"sink\":{\"type\":\"file\",\"path\":\"%s\",\"emit\":\"upsert\"},"
             "\"dead_letter\":{\"type\":\"file\",\"path\":\"%s\"},"
             "\"runtime\":{\"workers\":1,\"tasks\":1}}",
             in, out, dlq);
    sl_engine_stats st = run_def(text);
    assert_int_equal(st.tombstones, 1);
    lines got = read_lines(out);
    static const char *const want[] = {
        "{\"op\":\"upsert\",\"user\":\"a\",\"window_start\":100,\"window_end\":700,\"n\":2,"
        "\"sum\":3}",
        "{\"op\":\"upsert\",\"user\":\"b\",\"window_start\":210,\"window_end\":710,\"n\":1,"
        "\"sum\":5}",
        "{\"op\":\"upsert\",\"user\":\"a\",\"window_start\":1000,\"window_end\":1500,\"n\":1,"
        "\"sum\":3}",
        "{\"op\":\"delete\",\"key\":{\"user\":\"a\"},\"window_start\":1000}",
        "{\"op\":\"upsert\",\"user\":\"a\",\"window_start\":100,\"window_end\":1500,\"n\":4,"
        "\"sum\":16}",
        "{\"op\":\"upsert\",\"user\":\"a\",\"window_start\":3000,\"window_end\":3500,\"n\":1,"
        "\"sum\":4}",
        "{\"op\":\"upsert\",\"user\":\"a\",\"window_start\":5000,\"window_end\":5500,\"n\":1,"
        "\"sum\":1}",
    };
    assert_int_equal(got.n, SL_ARRAY_LEN(want));
    for (size_t i = 0; i < got.n; i++)
        assert_string_equal(got.v[i], want[i]);
    lines_free(&got);
    got = read_lines(dlq);
    assert_int_equal(got.n, 1);
    assert_int_equal(strncmp(got.v[0], "{\"reason\":\"malformed_json\"", 26), 0);
    lines_free(&got);
    unlink(in);
    unlink(out);
    unlink(dlq);
    free(in);
    free(out);
    free(dlq);
}

/* ---- file source and sink ---------------------------------------------------------- */

static void test_file_source_edge_lines(void **state)
{
    (void)state;
    char *in = tmp_path("in.jsonl"), *out = tmp_path("out.jsonl");
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fprintf(f, "{\"user\":\"a\",\"amount\":1,\"ts\":1}\n");
    fprintf(f, "{\"user\":\"b\",\"amount\":2,\"ts\":2}\r\n");
    fprintf(f, "\n\r\n");
    fprintf(f, "not json\n");
    /* 1.5 MiB: longer than an event may be, shorter than the read buffer */
    fputs("{\"user\":\"", f);
    for (int i = 0; i < 3 * (1 << 19); i++)
        fputc('x', f);
    fputs("\",\"amount\":3,\"ts\":3}\n", f);
    fprintf(f, "{\"user\":\"c\",\"amount\":-4,\"ts\":4}\n");
    /* 9 MiB: longer than the read buffer, so it is skipped across reads */
    fputs("{\"user\":\"", f);
    for (int i = 0; i < 9 * (1 << 20); i++)
        fputc('y', f);
    fputs("\"}\n", f);
    fprintf(f, "{\"user\":\"d\",\"amount\":5,\"ts\":5}\n");
    fprintf(f, "{\"user\":\"e\",\"amount\":6,\"ts\":6}"); /* no final newline */
    fclose(f);

    char text[2048];
    snprintf(text, sizeof(text),
             "{\"name\":\"f\",\"source\":{\"type\":\"file\",\"path\":\"%s\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"filter\":{\"field\":\"amount\",\"op\":\">=\",\"value\":0}},"
             "{\"map\":{\"rename\":{\"amount\":\"qty\"}}}],"
             "\"sink\":{\"type\":\"file\",\"path\":\"%s\"},\"runtime\":{\"workers\":2}}",
             in, out);
    sl_engine_stats st = run_def(text);
    assert_int_equal(st.bad[SL_BAD_MALFORMED], 1);
    assert_int_equal(st.bad[SL_BAD_TOO_LARGE], 2);
    assert_int_equal(st.events_filtered, 1);
    lines got = read_lines(out);
    qsort(got.v, got.n, sizeof(char *), cmp_str);
    static const char *const want[] = {
        "{\"user\":\"a\",\"qty\":1,\"ts\":1}", "{\"user\":\"b\",\"qty\":2,\"ts\":2}",
        "{\"user\":\"d\",\"qty\":5,\"ts\":5}", "{\"user\":\"e\",\"qty\":6,\"ts\":6}"};
    assert_int_equal(got.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(got.v[i], want[i]);
    lines_free(&got);
    unlink(in);
    unlink(out);
    free(in);
    free(out);
}

typedef struct writer {
    int fd;
    int n;
} writer;

static void *slow_writer(void *arg)
{
    writer *w = arg;
    char line[128];
    for (int i = 0; i < w->n; i++) {
        int len = snprintf(line, sizeof(line), "{\"user\":\"u%d\",\"amount\":%d,\"ts\":%d}\n",
                           i % 5, i, 1000 * i);
        /* split lines across writes to exercise partial reads */
        ssize_t a = write(w->fd, line, (size_t)len / 2);
        if (i % 50 == 0)
            usleep(2000);
        ssize_t b = write(w->fd, line + len / 2, (size_t)len - (size_t)len / 2);
        (void)a;
        (void)b;
    }
    close(w->fd);
    return NULL;
}

static void test_file_source_stdin(void **state)
{
    (void)state;
    char *out = tmp_path("stdin_out.jsonl");
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    writer w = {p[1], 400};
    pthread_t th;
    pthread_create(&th, NULL, slow_writer, &w);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"name\":\"s\",\"source\":{\"type\":\"file\",\"path\":\"-\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\","
             "\"size\":\"1h\"},\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
             "\"sink\":{\"type\":\"file\",\"path\":\"%s\"}}",
             out);
    sl_engine_stats st = run_def(text);
    pthread_join(th, NULL);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_int_equal(st.events_in, 400);
    lines got = read_lines(out);
    /* 400 events at 1 s steps: one 1 h window, five keys of 80 */
    assert_int_equal(got.n, 5);
    for (size_t i = 0; i < got.n; i++)
        assert_non_null(strstr(got.v[i], "\"n\":80"));
    lines_free(&got);
    unlink(out);
    free(out);
}

static void test_file_errors_and_append(void **state)
{
    (void)state;
    char *missing = tmp_path("does_not_exist.jsonl"), *out = tmp_path("append.jsonl");
    char text[1024], err[512];
    snprintf(text, sizeof(text),
             "{\"name\":\"e\",\"source\":{\"type\":\"file\",\"path\":\"%s\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]}],\"sink\":{\"type\":\"null\"}}",
             missing);
    sl_def *def = NULL;
    if (sl_def_load_string(text, "t.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    sl_engine_options opt = {0};
    assert_null(sl_engine_new(def, &opt, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
    sl_def_free(def);

    /* the file sink appends when asked, truncates otherwise */
    char *in = tmp_path("append_in.jsonl");
    FILE *f = fopen(in, "w");
    fprintf(f, "{\"user\":\"a\",\"ts\":1}\n");
    fclose(f);
    for (int i = 0; i < 3; i++) {
        snprintf(text, sizeof(text),
                 "{\"name\":\"a\",\"source\":{\"type\":\"file\",\"path\":\"%s\","
                 "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
                 "\"pipeline\":[{\"key_by\":[\"user\"]}],"
                 "\"sink\":{\"type\":\"file\",\"path\":\"%s\",\"append\":%s}}",
                 in, out, i == 0 ? "false" : "true");
        run_def(text);
    }
    lines got = read_lines(out);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.v[2], "{\"user\":\"a\",\"ts\":1}");
    lines_free(&got);
    unlink(in);
    unlink(out);
    free(in);
    free(out);
    free(missing);
}

/* ---- rate and stop -------------------------------------------------------------- */

typedef struct stopper {
    sl_engine *e;
    int after_ms;
} stopper;

static void *stop_later(void *arg)
{
    stopper *s = arg;
    usleep((useconds_t)s->after_ms * 1000);
    sl_engine_stop(s->e);
    return NULL;
}

/* Runs `text` and stops the engine after `after_ms`. */
static sl_engine_stats run_and_stop(const char *text, int after_ms)
{
    sl_def *def = NULL;
    char err[1024];
    if (sl_def_load_string(text, "test.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("definition: %s", err);
    sl_engine_options opt = {0};
    sl_engine *e = sl_engine_new(def, &opt, err, sizeof(err));
    assert_non_null(e);
    stopper s = {e, after_ms};
    pthread_t th;
    pthread_create(&th, NULL, stop_later, &s);
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_engine_run(e), 0);
    int64_t ms = (sl_mono_ns() - t0) / 1000000;
    pthread_join(th, NULL);
    assert_true(ms >= after_ms - 5);
    assert_true(ms < after_ms + 5000); /* noticed the stop soon */
    sl_engine_stats st;
    sl_engine_get_stats(e, &st);
    sl_engine_free(e);
    sl_def_free(def);
    return st;
}

static void test_generator_rate_and_stop(void **state)
{
    (void)state;
    /* 1000 events at 2000/s take at least ~0.5 s */
    int64_t t0 = sl_mono_ns();
    sl_engine_stats st =
        run_def("{\"name\":\"r\",\"source\":{\"type\":\"generator\",\"count\":1000,\"rate\":2000,"
                "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
                "\"pipeline\":[{\"key_by\":[\"user\"]}],\"sink\":{\"type\":\"null\"}}");
    int64_t ms = (sl_mono_ns() - t0) / 1000000;
    assert_int_equal(st.events_in, 1000);
    assert_true(ms >= 450);
    assert_true(ms < 10000);
    /* unbounded and unthrottled: runs until stopped */
    st = run_and_stop("{\"name\":\"u\",\"source\":{\"type\":\"generator\","
                      "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
                      "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\","
                      "\"size\":\"1s\"},\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
                      "\"sink\":{\"type\":\"null\"}}",
                      300);
    assert_true(st.events_in > 1000);
}

/* A pipe that stays open and silent: the file source notices the stop. */
static void test_file_source_stop_idle(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    const char *line = "{\"user\":\"a\",\"ts\":1}\n";
    assert_int_equal(write(p[1], line, strlen(line)), (ssize_t)strlen(line));
    sl_engine_stats st =
        run_and_stop("{\"name\":\"i\",\"source\":{\"type\":\"file\",\"path\":\"-\","
                     "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"}},"
                     "\"pipeline\":[{\"key_by\":[\"user\"]}],\"sink\":{\"type\":\"null\"}}",
                     300);
    assert_int_equal(st.events_in, 1);
    close(p[1]);
    dup2(saved, STDIN_FILENO);
    close(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_deterministic),
        cmocka_unit_test(test_gen_disorder_late),
        cmocka_unit_test(test_gen_fields_units),
        cmocka_unit_test(test_gen_config_errors),
        cmocka_unit_test(test_generator_engine_oracle),
        cmocka_unit_test(test_generator_engine_upsert),
        cmocka_unit_test(test_file_sink_upsert_lines),
        cmocka_unit_test(test_file_source_edge_lines),
        cmocka_unit_test(test_file_source_stdin),
        cmocka_unit_test(test_file_errors_and_append),
        cmocka_unit_test(test_generator_rate_and_stop),
        cmocka_unit_test(test_file_source_stop_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
