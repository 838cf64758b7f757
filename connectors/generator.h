/*
 * generator.h - synthetic events, deterministic for a seed.
 *
 * Event i of a configuration is a pure function of (configuration, i):
 * every random choice comes from a counter-based generator seeded with
 * (seed, i, choice), so any event can be rendered on its own, in any order,
 * by any thread. The "generator" source renders events 0, 1, 2, ... and
 * feeds them through sl_lane_ingest (so decoding is exercised); tests,
 * oracles and `sluice produce` render the same events with sl_gen_render.
 *
 * Event time: event i has base time start_ts + i * ts_step_ms. Its time is
 * base - jitter with jitter uniform in [0, disorder_ms], so an event is at
 * most disorder_ms behind the maximum time seen before it. A fraction
 * late_fraction of the events is instead pushed further back: base -
 * disorder_ms - d with d uniform in [1, late_ms].
 *
 * Field kinds (option "fields": names, or "name:kind"):
 *   key      "u<N>", N uniform in [0, keys)            (default for "user")
 *   int      uniform in [0, 999]                        ("amount")
 *   double   uniform in [0, 999.99], two decimals       ("price")
 *   string   "sku-<5 digits>"                           ("item")
 *   region   one of "eu", "us", "ap", "sa"              ("region")
 *   bool     true/false                                 ("flag")
 *   ts       the event time, ms (integer)               ("ts")
 *   ts_s     the event time, seconds with 3 decimals
 *   ts_rfc3339  "2023-11-14T22:13:20.123Z"
 * The pipeline's event-time field is always generated (added at the end if
 * not listed) in the pipeline's unit.
 */
#ifndef SL_GENERATOR_H
#define SL_GENERATOR_H

#include "connector.h"

#include <jansson.h>
#include <stdint.h>

#define SL_GEN_MAX_FIELDS 32
#define SL_GEN_MAX_NAME   64
/* An event never exceeds this many bytes. */
#define SL_GEN_MAX_EVENT (SL_GEN_MAX_FIELDS * (SL_GEN_MAX_NAME * 6 + 48) + 2)

typedef enum sl_gen_kind {
    SL_GEN_KEY,
    SL_GEN_INT,
    SL_GEN_DOUBLE,
    SL_GEN_STRING,
    SL_GEN_REGION,
    SL_GEN_BOOL,
    SL_GEN_TS_MS,
    SL_GEN_TS_S,
    SL_GEN_TS_RFC3339,
} sl_gen_kind;

typedef struct sl_gen_field {
    char name[SL_GEN_MAX_NAME];
    sl_gen_kind kind;
    uint64_t stream; /* random stream of the field (hash of its name) */
} sl_gen_field;

typedef struct sl_gen_config {
    uint64_t keys;        /* distinct keys, >= 1 (default 1000) */
    uint64_t count;       /* events; 0 = unbounded (default 0) */
    double rate;          /* events/s; 0 = unthrottled (default 0) */
    int64_t start_ts;     /* ms (default 1700000000000) */
    int64_t ts_step_ms;   /* >= 0 (default 1) */
    int64_t disorder_ms;  /* >= 0 (default 0) */
    double late_fraction; /* [0, 1] (default 0) */
    int64_t late_ms;      /* >= 1 (default max(1000, 10 * disorder_ms)) */
    uint64_t seed;        /* default 1 */
    sl_gen_field fields[SL_GEN_MAX_FIELDS];
    size_t nfields; /* default: user, amount, ts */
} sl_gen_config;

/* Fills the defaults above. */
void sl_gen_config_default(sl_gen_config *c);

/* Adds a field from its spec ("price" or "score:double"). Returns 0, or
 * SL_EINVAL with errstr (unknown kind, name too long, duplicate, too many). */
int sl_gen_add_field(sl_gen_config *c, const char *spec, char *errstr, size_t errstr_size);

/* Reads a generator source object (options as in sl_source_generator's
 * table; `path` names it in messages, e.g. "source") over the defaults and
 * makes sure the event-time field of `def` (may be NULL) is generated in
 * its unit. Returns 0, or SL_EINVAL with "path.option: ..." in errstr. */
int sl_gen_config_from_json(sl_gen_config *c, const json_t *conf, const char *path,
                            const sl_def *def, char *errstr, size_t errstr_size);

/* Event time (ms) of event i. */
int64_t sl_gen_event_ts(const sl_gen_config *c, uint64_t i);
/* Key index in [0, keys) of event i (its "key" fields are "u<index>"). */
uint64_t sl_gen_key_index(const sl_gen_config *c, uint64_t i);
/* Value of an "int" field of event i (field index f in c->fields). A
 * field's values depend on its name, not on its position. */
int64_t sl_gen_int_value(const sl_gen_config *c, uint64_t i, size_t f);

/* Renders event i as one JSON object (no newline) into buf. Returns its
 * length, or 0 if cap is too small (cap >= SL_GEN_MAX_EVENT always fits). */
size_t sl_gen_render(const sl_gen_config *c, uint64_t i, char *buf, size_t cap);

#endif
