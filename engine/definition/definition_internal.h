/*
 * definition_internal.h - shared between definition.c (load and validate),
 * definition_pipeline.c (stages), definition_env.c (substitution,
 * overrides), definition_cluster.c (the cluster section) and
 * definition_explain.c (input fields, explain). Not for use outside the definition module.
 */
#ifndef SL_DEFINITION_INTERNAL_H
#define SL_DEFINITION_INTERNAL_H

#include "definition.h"
#include "operator.h"

#include <jansson.h>

/* Returns `text` with ${VAR} and ${VAR:-default} replaced (caller frees),
 * or NULL with *rc and errstr = "NAME:LINE:COL: msg". Inside a JSON string
 * the value is JSON-escaped; "$${" stands for a literal "${". */
char *sl__def_substitute(const char *text, const char *name, int *rc, char *errstr,
                         size_t errstr_size);

/* Applies SLUICE_NODE_ID, SLUICE_LISTEN, SLUICE_PEERS, SLUICE_CURVE_SECRET_KEY,
 * SLUICE_CURVE_SECRET_KEY_FILE, SLUICE_CHECKPOINT_DIR
 * (only if a "checkpoint" object exists), SLUICE_HTTP_ADDR, SLUICE_HTTP_TOKEN and
 * SLUICE_BOOTSTRAP (kafka source/sink/dead_letter "properties") to `root`,
 * an object. Empty variables are ignored. Never fails. */
void sl__def_apply_overrides(json_t *root);

/* Parses the "cluster" section into def->cluster (definition_cluster.c):
 * defaults first, then the section if present. Returns 0 or SL_EINVAL with
 * the JSON path in msg (1024 bytes). */
int sl__def_parse_cluster(sl_def *def, char *msg);
/* Frees what sl__def_parse_cluster allocated (wiping the secret key). */
void sl__def_free_cluster(sl_def *def);

/* Parses SLUICE_PEERS ("[node_id=]endpoint[@public_key],...") into the
 * JSON value of cluster.peers (a new reference). */
json_t *sl__def_peers_from_env(const char *v);

/* getenv(name) if set and non-empty, else NULL. */
const char *sl__def_env(const char *name);

/* Parses the "pipeline" array into def->stages (definition_pipeline.c).
 * Returns 0 or SL_EINVAL with the JSON path in msg (1024 bytes). */
int sl__def_parse_pipeline(sl_def *def, char *msg);

/* Maps `field` as seen by stage `at` back through the maps before it to
 * the input field it comes from (for a stage after the window: to the
 * result field). Returns that name (borrowed), or NULL if a map removes it
 * (*by: that map) or, after a window, results have no such field (*by: the
 * window stage). */
const char *sl__def_field_origin(const sl_def *def, size_t at, const char *field, size_t *by);
/* As sl__def_field_origin, telling computed fields apart: 1 input field
 * (*origin), 2 computed by set[*set_index] of the map at stage *by, 0
 * removed / not a result (*by). */
/* Calls fn(ctx, input field) for every input field that field path
 * `field` (resp. SQL expression `text`) at stage `at` reads, following
 * fields computed by a map's set to their expressions. */
void sl__def_field_inputs(const sl_def *def, size_t at, const char *field,
                          void (*fn)(void *, const char *), void *ctx);
void sl__def_expr_inputs(const sl_def *def, size_t at, const char *text,
                         void (*fn)(void *, const char *), void *ctx);
int sl__def_field_trace(const sl_def *def, size_t at, const char *field, const char **origin,
                        size_t *by, size_t *set_index);

#endif
