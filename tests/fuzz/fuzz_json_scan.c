/*
 * fuzz_json_scan.c - fuzz target for the event decoder.
 *
 * Each input is (1) checked differentially against jansson
 * (tests/lib/json_check.c: verdict and extracted values must agree), and
 * (2) decoded by sl_ingest for a few pipelines (key_by on strings/numbers,
 * ms / s / rfc3339 event time, a filter, a map, with and without a window),
 * whose outcome must be coherent: a decoded row re-encoded as a repartition
 * record decodes again to the same key, time and values. Any disagreement
 * aborts. Built with libFuzzer (SL_FUZZ) or with tests/fuzz/replay_driver.c.
 */
#include "ingest.h"
#include "json_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPIPES 4

static sl_def defs[NPIPES];
static sl_ingest *raw_ing[NPIPES], *rep_ing[NPIPES];

static void build_defs(void)
{
    static char *k1[] = {"user"}, *k2[] = {"user", "region"}, *k3[] = {"amount"};
    static char *cols1[] = {"amount"}, *cols2[] = {"amount", "price"};
    static sl_agg_def a1[] = {{.name = "n", .fn = SL_AGG_COUNT, .column = -1},
                              {.name = "s", .fn = SL_AGG_SUM, .field = "amount", .column = 0}};
    static sl_agg_def a2[] = {{.name = "s", .fn = SL_AGG_SUM, .field = "amount", .column = 0},
                              {.name = "m", .fn = SL_AGG_MAX, .field = "price", .column = 1}};
    static sl_expr cmp = {.kind = SL_EXPR_CMP,
                          .op = SL_CMP_GE,
                          .field = "amount",
                          .value = {.type = SL_T_INT, .i = 0, .d = 0}};
    static char *from[] = {"a"}, *to[] = {"price"};
    static sl_stage st[NPIPES][4];
    const sl_time_unit units[NPIPES] = {SL_TIME_MS, SL_TIME_S, SL_TIME_RFC3339, SL_TIME_MS};
    for (int p = 0; p < NPIPES; p++) {
        sl_stage *s = st[p];
        size_t n = 0;
        memset(s, 0, sizeof(st[p]));
        if (p == 1 || p == 3) {
            s[n].kind = SL_STAGE_FILTER;
            s[n].path = "pipeline[0]";
            s[n++].u.filter = &cmp;
        }
        if (p == 1) {
            s[n].kind = SL_STAGE_MAP;
            s[n].path = "pipeline[1]";
            s[n].u.map.rename_from = from;
            s[n].u.map.rename_to = to;
            s[n++].u.map.nrename = 1;
        }
        s[n].kind = SL_STAGE_KEY_BY;
        s[n].path = "pipeline[k]";
        s[n].u.key_by.fields = p == 0 ? k1 : p == 2 ? k3 : k2;
        s[n].u.key_by.nfields = p == 1 || p == 3 ? 2 : 1;
        defs[p].key_by = &s[n++];
        if (p != 3) {
            s[n].kind = SL_STAGE_WINDOW;
            s[n].path = "pipeline[w]";
            s[n].u.window.aggs = p == 1 ? a2 : a1;
            s[n].u.window.naggs = 2;
            s[n].u.window.ncolumns = p == 1 ? 2 : 1;
            s[n].u.window.columns = p == 1 ? cols2 : cols1;
            defs[p].window = &s[n++].u.window;
        }
        defs[p].stages = s;
        defs[p].nstages = n;
        defs[p].event_time.field = "ts";
        defs[p].event_time.unit = units[p];
        char err[256];
        raw_ing[p] = sl_ingest_new(&defs[p], SL_INGEST_RAW, err, sizeof(err));
        rep_ing[p] = defs[p].window
                         ? sl_ingest_new(&defs[p], SL_INGEST_REPARTITIONED, err, sizeof(err))
                         : NULL;
        if (!raw_ing[p] || (defs[p].window && !rep_ing[p])) {
            fprintf(stderr, "fuzz_json_scan: cannot build pipeline %d: %s\n", p, err);
            abort();
        }
    }
}

static void check_ingest(int p, const char *buf, size_t len)
{
    sl_bad_reason why = SL_BAD_COUNT;
    sl_decode_result r = sl_ingest_decode(raw_ing[p], buf, len, 42, &why);
    if (r == SL_DECODE_BAD && (unsigned)why >= SL_BAD_COUNT)
        abort();
    if (r != SL_DECODE_OK || !rep_ing[p])
        return;
    char rec[8192];
    long n = sl_ingest_encode_repartition(raw_ing[p], rec, sizeof(rec));
    if (n < 0)
        return; /* too big for this buffer: fine */
    sl_decode_result r2 = sl_ingest_decode(rep_ing[p], rec, (size_t)n, -1, &why);
    size_t k1, k2;
    const char *a = sl_ingest_key(raw_ing[p], &k1), *b = sl_ingest_key(rep_ing[p], &k2);
    if (r2 != SL_DECODE_OK || k1 != k2 || memcmp(a, b, k1) != 0 ||
        sl_ingest_ts(raw_ing[p]) != sl_ingest_ts(rep_ing[p]) ||
        sl_ingest_key_hash(raw_ing[p]) != sl_ingest_key_hash(rep_ing[p])) {
        fprintf(stderr, "repartition round trip differs for pipeline %d: %.*s\n", p, (int)n, rec);
        abort();
    }
    /* and the record re-encodes to itself */
    char rec2[8192];
    long n2 = sl_ingest_encode_repartition(rep_ing[p], rec2, sizeof(rec2));
    if (n2 != n || memcmp(rec, rec2, (size_t)n) != 0) {
        fprintf(stderr, "repartition record not stable: %.*s\n", (int)n, rec);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        build_defs();
        ready = 1;
    }
    const char *buf = (const char *)data;
    char why[512];
    if (sl_json_check(buf, size, why, sizeof(why)) != 0) {
        fprintf(stderr, "fuzz_json_scan: %s\ninput (%zu bytes): %.*s\n", why, size,
                (int)(size < 2000 ? size : 2000), buf);
        abort();
    }
    for (int p = 0; p < NPIPES; p++)
        check_ingest(p, buf, size);
    return 0;
}
