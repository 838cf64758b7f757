/*
 * options.h - the generic option validator and small JSON helpers shared by
 * the definition loader and the operators' parse functions.
 *
 * Messages written to errstr are path-qualified without a file name, e.g.
 *   source.watermark: unknown key "idle_timout", did you mean "idle_timeout"?
 * (sl_def_load prefixes the file). Control path only.
 */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include "common.h"

#include <jansson.h>
#include <stdint.h>

typedef enum sl_opt_type {
    SL_OPT_STRING,
    SL_OPT_INT,    /* JSON integer */
    SL_OPT_NUMBER, /* integer or real */
    SL_OPT_BOOL,
    SL_OPT_DURATION, /* "250ms" or integer ms */
    SL_OPT_STRINGS,  /* array of strings (a lone string is accepted) */
    SL_OPT_OBJECT,   /* any object (e.g. librdkafka "properties") */
    SL_OPT_ANY,
} sl_opt_type;

/* One option of a table checked by sl_opts_check (options.c). The first
 * four members are positional; the rest are optional designated ones:
 *   {"consumer_threads", SL_OPT_INT, 0, "decoding threads", .min = 1,
 *    .max = 64, .def = "1"}
 *   {"start", SL_OPT_STRING, 0, "...", .allowed = "earliest|latest|committed"}
 * min/max bound SL_OPT_INT, SL_OPT_NUMBER and SL_OPT_DURATION (in ms)
 * values when min < max (both 0: unbounded; a duration is always >= 0);
 * `allowed` lists the values an SL_OPT_STRING may take, '|'-separated;
 * `def` is the default as text, for readers of the table only: nothing
 * applies or prints it (create() applies the default itself). `help` is
 * quoted in the "missing required key" message. */
typedef struct sl_opt {
    const char *name;
    sl_opt_type type;
    int required;
    const char *help; /* one line (quoted when a required key is missing) */
    int64_t min, max;
    const char *allowed;
    const char *def;
} sl_opt;

/* Checks that `obj` is a JSON object whose keys are all named in `table`
 * (ended by {.name = NULL}), that every required option is present, and
 * that each value has its declared type (SL_OPT_DURATION must parse with
 * sl_parse_duration and be >= 0, > 0 when min > 0; SL_OPT_STRINGS takes a
 * non-empty array of non-empty strings or one string), lies within
 * [min, max] when the entry has a range, and is one of `allowed` when the
 * entry lists values (with a did-you-mean). `path` names obj ("source").
 * Returns 0, or SL_EINVAL with "path.key: what is wrong" in errstr, e.g.
 *   source.consumer_threads: must be between 1 and 64, got 0
 *   source.start: unknown value "latst", did you mean "latest"? (one of ...)
 * (unknown keys get a did-you-mean when a table name is close). Does not
 * modify obj. */
int sl_opts_check(const json_t *obj, const sl_opt *table, const char *path, char *errstr,
                  size_t errstr_size);

/* "object", "array", "string", "integer", "number", "boolean" or "null". */
const char *sl_json_kind(const json_t *v);

/* Writes a short rendering of `v` for messages (strings quoted, long values
 * cut with "..."). Returns buf. */
const char *sl_json_repr(const json_t *v, char *buf, size_t size);

/* Reads a non-empty array of non-empty strings (or, if allow_single, one
 * string) at `path` into a new array *out of *n copies. Duplicates are an
 * error. Returns 0, or SL_EINVAL with errstr and nothing allocated. */
int sl_json_strings(const json_t *v, const char *path, int allow_single, char ***out, size_t *n,
                    char *errstr, size_t errstr_size);
/* Frees n strings and the array; NULL is a no-op. */
void sl_strings_free(char **v, size_t n);

/* Reads a duration at `path` that must be > 0 (positive != 0) or >= 0.
 * Returns 0, or SL_EINVAL with
 *   "path: must be a positive duration, got \"-1s\"". */
int sl_json_duration(const json_t *v, const char *path, int positive, int64_t *ms, char *errstr,
                     size_t errstr_size);

/* Formats a duration in ms the way a user would write it ("1s", "250ms",
 * "1m30s"). Returns buf. */
const char *sl_format_duration(int64_t ms, char *buf, size_t size);

/* Joins path and key into buf (truncating to size): "pipeline[2].window" +
 * "size" -> "pipeline[2].window.size"; an empty path gives the key alone;
 * a key that is not a plain name is bracketed:
 * properties["bootstrap.servers"]. Returns buf. */
const char *sl_path_join(char *buf, size_t size, const char *path, const char *key);

/* "250ms", "1s", "5m", "1h", "2d" or an integer of milliseconds. Returns 0
 * and *ms, or SL_EINVAL. Negative values parse (the caller checks range).
 * (Also declared in definition.h for the loader's callers.) */
int sl_parse_duration(const json_t *v, int64_t *ms);

#endif
