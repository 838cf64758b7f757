/*
 * definition.h - the parsed, validated pipeline definition.
 *
 * sl_def_load() reads a JSON file (jansson), substitutes ${VAR} and
 * ${VAR:-default}, applies SLUICE_* environment overrides, validates every
 * value, and fills an sl_def. Every error names the file and either
 * line:column (JSON syntax) or the JSON path of the offending value, e.g.
 *   orders.json: pipeline[2].window.size: must be a positive duration, got "-1s"
 * Unknown keys are errors, with a did-you-mean when a close name exists.
 *
 * Connector options are checked by the generic option validator against
 * the connector's option table (sl_opt, connector.h), not by each connector.
 */
#ifndef SL_DEFINITION_H
#define SL_DEFINITION_H

#include "common.h"

#include <jansson.h>
#include <stdio.h>

/* ---- event time and watermarks -------------------------------------- */

typedef enum sl_time_unit {
    SL_TIME_MS = 0,  /* integer (or float) epoch milliseconds */
    SL_TIME_S,       /* integer (or float) epoch seconds */
    SL_TIME_RFC3339, /* "2024-05-01T12:00:00.123Z" / "+02:00" offsets */
    SL_TIME_KAFKA,   /* the Kafka message timestamp ("field" absent) */
} sl_time_unit;

typedef struct sl_event_time_def {
    char *field; /* top-level payload field; NULL for SL_TIME_KAFKA */
    sl_time_unit unit;
} sl_event_time_def;

typedef struct sl_watermark_def {
    int64_t max_out_of_orderness_ms; /* default 0 */
    int64_t idle_timeout_ms;         /* default 0 = never advance when idle */
    int64_t emit_interval_ms;        /* default 200: a source publishing its watermark
                                        to merged tasks does so at least this often */
    int64_t max_future_ms;           /* an event time further ahead of the wall clock is
                                        bad (too_far_ahead); default 1h, -1 = "off" */
} sl_watermark_def;

/* ---- stateless stages: filter, map, key_by -------------------------- */

typedef enum sl_type {
    SL_T_MISSING = 0, /* field absent */
    SL_T_NULL,
    SL_T_BOOL,
    SL_T_INT,
    SL_T_DOUBLE,
    SL_T_STRING,
    SL_T_OTHER, /* object or array (kept as raw JSON text) */
} sl_type;

typedef struct sl_literal {
    sl_type type; /* NULL, BOOL, INT, DOUBLE or STRING */
    int64_t i;    /* INT, BOOL (0/1) */
    double d;     /* DOUBLE, and INT converted */
    char *s;      /* STRING (NUL-terminated) */
    size_t slen;
} sl_literal;

typedef enum sl_cmp_op {
    SL_CMP_EQ,
    SL_CMP_NE,
    SL_CMP_LT,
    SL_CMP_LE,
    SL_CMP_GT,
    SL_CMP_GE
} sl_cmp_op;
typedef enum sl_expr_kind {
    SL_EXPR_CMP,
    SL_EXPR_AND,
    SL_EXPR_OR,
    SL_EXPR_NOT,
    SL_EXPR_SQL /* a SQL expression (operators/expr.h) in `sql` */
} sl_expr_kind;

/* Filter expression. JSON forms:
 *   "amount >= 0 AND country <> home"  (SQL, operators/expr.h: kind SQL;
 *                          three-valued logic, a row passes when TRUE)
 *   {"field": "amount", "op": ">=", "value": 0}
 *   {"and": [expr, ...]}   {"or": [expr, ...]}   {"not": expr}
 * A comparison with a missing field is false; numbers compare as numbers
 * (int vs double by value), strings bytewise, bool/null with = and != only.
 * A comparison between different types is false (and != is true). */
typedef struct sl_expr {
    sl_expr_kind kind;
    sl_cmp_op op;          /* CMP */
    char *field;           /* CMP */
    sl_literal value;      /* CMP */
    struct sl_expr **args; /* AND / OR (n >= 1), NOT (n == 1) */
    size_t nargs;
    char *sql; /* SQL: the expression text */
} sl_expr;

/* map: {"set": {"name": "SQL expression"}} and/or {"keep": [..]} and/or
 * {"drop": [..]} and/or {"rename": {"old": "new"}}. keep, drop, rename
 * apply in that order to the incoming fields; then set adds or replaces
 * its fields, every expression reading the fields as they came in. */
typedef struct sl_map_def {
    char **set_name, **set_expr; /* computed fields */
    size_t nset;
    char **keep;
    size_t nkeep; /* 0 = keep all */
    char **drop;
    size_t ndrop;
    char **rename_from, **rename_to;
    size_t nrename;
} sl_map_def;

/* ---- window and aggregates ------------------------------------------ */

typedef enum sl_window_type { SL_WIN_TUMBLING, SL_WIN_HOPPING, SL_WIN_SESSION } sl_window_type;
/* New functions go at the end: the values are part of window snapshots. */
typedef enum sl_agg_fn {
    SL_AGG_COUNT,
    SL_AGG_SUM,
    SL_AGG_MIN,
    SL_AGG_MAX,
    SL_AGG_AVG,
    SL_AGG_FIRST,
    SL_AGG_LAST,
    SL_AGG_STDDEV_POP,
    SL_AGG_STDDEV_SAMP,
    SL_AGG_VAR_POP,
    SL_AGG_VAR_SAMP,
    SL_AGG_COUNT_DISTINCT,
    SL_AGG_APPROX_COUNT_DISTINCT,
    SL_AGG_APPROX_PERCENTILE,
    SL_AGG_MEDIAN,
    SL_AGG_TOP_K
} sl_agg_fn;

/* How the ingest decodes an aggregate's input column (see batch.h, vals). */
typedef enum sl_col_kind {
    SL_COL_NUM = 0, /* a number; missing or another type makes the event bad */
    SL_COL_NUM_OPT, /* a number, or absent (missing or null); another type is bad */
    SL_COL_HASH,    /* any value but null: a 64-bit hash of its canonical text */
    SL_COL_TEXT     /* any value but null: its canonical text in the batch arena */
} sl_col_kind;

#define SL_AGG_TOPK_MAX 1000 /* largest k of top_k */
#define SL_AGG_MAX_Q    64   /* most quantiles of one approx_percentile */

typedef struct sl_agg_def {
    char *name; /* output field name */
    sl_agg_fn fn;
    char *field; /* input field, NULL for count */
    int column;  /* index of the input in sl_batch vals, -1 for count;
                    aggregates over the same field and column kind share a
                    column */
    char *expr;  /* instead of field: a SQL expression ("expr"); its column
                    is named "=" + the text */
} sl_agg_def;

/* The parameters of an aggregate (sl_window_def.agg_params). */
typedef struct sl_agg_params {
    double *q; /* approx_percentile: nq quantiles in [0, 1] (owned) */
    uint32_t nq;
    uint8_t q_list; /* "q" was an array: the result is an array */
    uint32_t k;     /* top_k: counters and items reported */
} sl_agg_params;

typedef struct sl_window_def {
    sl_window_type type;
    int64_t size_ms;  /* tumbling, hopping */
    int64_t slide_ms; /* hopping (size % slide == 0 not required) */
    int64_t gap_ms;   /* session */
    int64_t allowed_lateness_ms;
    sl_agg_def *aggs;
    size_t naggs;              /* in definition order: the output order */
    uint32_t ncolumns;         /* distinct input columns */
    char **columns;            /* their field names, [ncolumns] */
    uint8_t *column_kind;      /* [ncolumns] sl_col_kind; NULL: all SL_COL_NUM */
    sl_agg_params *agg_params; /* [naggs]; NULL: no aggregate has any */
} sl_window_def;

typedef enum sl_stage_kind {
    SL_STAGE_FILTER,
    SL_STAGE_MAP,
    SL_STAGE_KEY_BY,
    SL_STAGE_WINDOW,
    SL_STAGE_CUSTOM /* an operator registered with sl_operator_register() */
} sl_stage_kind;

struct sl_operator_ops;

typedef struct sl_stage {
    sl_stage_kind kind;
    char *path;                        /* "pipeline[1]" */
    const struct sl_operator_ops *ops; /* the operator (operator.h) */
    union {
        sl_expr *filter;
        sl_map_def map;
        struct {
            char **fields; /* result member names (an expression's is its text) */
            char **exprs;  /* NULL, or per field: the SQL expression (NULL: a field) */
            size_t nfields;
        } key_by;
        sl_window_def window;
        void *custom; /* SL_STAGE_CUSTOM: what its init parsed */
    } u;
} sl_stage;

/* ---- connectors, runtime, checkpoints, cluster ----------------------- */

/* A sink's "emit" mode: how a consumer reads the results.
 *   append  every result is a new record (the default; an updated result
 *           of a window, or the result of a session that a merge replaced,
 *           is another record beside the old one)
 *   upsert  a changelog keyed by (key fields, window_start): a result
 *           replaces the record of its key, and a session replaced by a
 *           merge gets a tombstone (a delete of its key). Needs a window. */
typedef enum sl_emit_mode { SL_EMIT_APPEND = 0, SL_EMIT_UPSERT } sl_emit_mode;

typedef struct sl_connector_def {
    char *type;        /* "file", "generator", "kafka", ... */
    json_t *conf;      /* the connector's JSON object (borrowed from sl_def.root) */
    char *path;        /* JSON path: "source", "sink", "dead_letter" */
    sl_emit_mode emit; /* sinks: "emit" (always append for dead_letter) */
} sl_connector_def;

typedef enum sl_guarantee { SL_EXACTLY_ONCE, SL_AT_LEAST_ONCE } sl_guarantee;

/* runtime.mode: what the node trades for what.
 *   throughput  big batches, producer linger, long fetch waits (default)
 *   latency     batches cut by time (<= 1 ms) as well as size, sinks flush
 *               at once, small consumer fetch waits */
typedef enum sl_runtime_mode { SL_MODE_THROUGHPUT = 0, SL_MODE_LATENCY } sl_runtime_mode;

typedef struct sl_def {
    char *file; /* where it was read from ("-" for stdin) */
    char *name;
    json_t *root; /* after substitution and overrides; owned */

    sl_connector_def source;
    sl_event_time_def event_time; /* source.event_time */
    sl_watermark_def watermark;   /* source.watermark */

    sl_stage *stages; /* pipeline[], in order */
    size_t nstages;
    /* Shortcuts into stages[]: */
    const sl_stage *key_by;      /* NULL if none */
    const sl_window_def *window; /* NULL if none */
    /* Stages up to the window run fused into the decoder; the window and
     * those after it on the workers (sl_def_runtime_stage). */

    sl_connector_def sink;
    sl_connector_def dead_letter; /* type NULL if absent */

    struct {
        int workers;             /* default: number of online CPUs, max 64 */
        int batch_size;          /* events per batch, default 1024 */
        int ring_capacity;       /* batches per ring, default 64 */
        int tasks;               /* file/generator sources: key-hash partitions
                                    (default 8); kafka: ignored */
        int64_t max_state_bytes; /* window state budget of the node; 0 = none */
        int state_full_drop;     /* on_state_full "drop": refuse new keys
                                    (counted as state_full) instead of failing */
        sl_runtime_mode mode;    /* runtime.mode, default throughput */
    } runtime;

    struct {
        int enabled;            /* a "checkpoint" object, or by default for kafka input */
        int implicit;           /* enabled by default (no "checkpoint" key) */
        int off;                /* "checkpoint": "off" */
        int64_t interval_ms;    /* default 1000 */
        char *dir;              /* "dir", SLUICE_CHECKPOINT_DIR, else /var/lib/sluice
                                   when writable, else $XDG_STATE_HOME/sluice,
                                   ~/.local/state/sluice or ./sluice-state */
        const char *dir_origin; /* static text: where dir came from */
        int keep;               /* default 3 */
        int replicas;           /* default 1 */
        sl_guarantee guarantee;
        int64_t replica_timeout_ms; /* default 5000 */
    } checkpoint;

    struct {
        char *node_id;        /* default: hostname */
        char *listen;         /* ZeroMQ endpoint, NULL if standalone */
        char **peers;         /* endpoints */
        char **peer_keys;     /* [npeers] Curve public keys (Z85), NULL entries: none */
        char **peer_node_ids; /* [npeers] node id each key speaks for, NULL: any one */
        size_t npeers;
        char *secret_key;          /* Z85; NULL: replication unauthenticated */
        int allow_insecure;        /* no keys on a non-loopback listen */
        int64_t max_message_bytes; /* largest replication message */
    } cluster;

    struct {
        char *addr;  /* "127.0.0.1:9464"; NULL disables */
        char *token; /* bearer token for /metrics and /api/; NULL = open */
    } http;
} sl_def;

/* Loads and validates a definition from `path` ("-" = stdin). On success
 * returns 0 and *out owns a new sl_def. On failure returns SL_EPARSE (JSON
 * syntax) or SL_EINVAL (validation), writes "FILE:LINE:COL: msg" or
 * "FILE: json.path: msg" into errstr, and allocates nothing. */
int sl_def_load(const char *path, sl_def **out, char *errstr, size_t errstr_size);
/* Same, from a string; `name` is used in messages as the file name. */
int sl_def_load_string(const char *text, const char *name, sl_def **out, char *errstr,
                       size_t errstr_size);
void sl_def_free(sl_def *def);

/* Prints the plan: stages, threads, rings and capacities, fields each
 * stage reads, window and watermark settings, state memory estimate, and
 * (kafka) whether the input is repartitioned. */
void sl_def_explain(const sl_def *def, FILE *out);

/* Whether a kafka source routes its input through the internal topic
 * "<name>-repartition": the pipeline has a window and the source does not
 * declare "partitioned_by" naming exactly the key_by fields (in any
 * order). A window without key_by gathers every event into one task; no
 * window means per-event stages, which need no repartitioning. The one
 * decision `explain` prints and `run` executes. *why (if not NULL) gets a
 * static sentence. 0 for other sources. */
int sl_def_needs_repartition(const sl_def *def, const char **why);
/* The planner's rule for where stages run: pipeline[0 .. n-1] (filter,
 * map, key_by before a window) are fused into the decoder on the source
 * threads; from the returned index on (the window and what follows it),
 * they run per task on the workers as an operator chain. */
static inline size_t sl_def_runtime_stage(const sl_def *def)
{
    for (size_t i = 0; i < def->nstages; i++)
        if (def->stages[i].kind == SL_STAGE_WINDOW)
            return i;
    return def->nstages;
}

/* "250ms", "1s", "5m", "1h", "2d" or an integer of milliseconds. Returns 0
 * and *ms, or SL_EINVAL. Negative values parse (the caller checks range). */
int sl_parse_duration(const json_t *v, int64_t *ms);

/* All distinct input fields the pipeline reads from a raw event, in a stable
 * order (filter fields, map-kept fields, key fields, aggregate fields and the
 * event time field, mapped back through renames to their input names).
 * Returns a NULL-terminated array owned by the caller (free each, then it). */
char **sl_def_input_fields(const sl_def *def);

#endif
