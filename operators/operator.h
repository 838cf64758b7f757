/*
 * operator.h - operators are registered by name as const vtables; the name
 * is the stage's key in the pipeline JSON ({"filter": ...}, {"window": ...}).
 *
 * Stateless operators (filter, map, key_by) run where events are decoded
 * (the source/consumer threads, see ingest.h) on decoded records; the
 * stateful window operator runs per task on the worker threads (window.h).
 */
#ifndef SL_OPERATOR_H
#define SL_OPERATOR_H

#include "definition.h"

#include <jansson.h>
#include <stdio.h>

typedef struct sl_operator_ops {
    const char *name;
    /* Parses and validates the stage object `stage_json` (the whole object,
     * e.g. {"window": {...}, "aggregates": {...}}) found at JSON path `path`
     * ("pipeline[2]") into `stage`. On error returns SL_EINVAL and writes
     * "pipeline[2].window.size: must be a positive duration, got \"-1s\""
     * (path-qualified, no file name) into errstr; nothing is left allocated. */
    int (*parse)(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                 size_t errstr_size);
    /* Prints the stage's plan lines (indented by two spaces). */
    void (*explain)(const sl_stage *stage, FILE *out);
    /* Frees what parse allocated inside `stage` (not `stage` itself). */
    void (*destroy)(sl_stage *stage);
} sl_operator_ops;

extern const sl_operator_ops sl_op_filter;
extern const sl_operator_ops sl_op_map;
extern const sl_operator_ops sl_op_key_by;
extern const sl_operator_ops sl_op_window;

/* The operator named `name`, or NULL. */
const sl_operator_ops *sl_operator_find(const char *name);
/* NULL-terminated list of all operators (for did-you-mean). */
extern const sl_operator_ops *const sl_operators[];

#endif
