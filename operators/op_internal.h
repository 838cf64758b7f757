/*
 * op_internal.h - the built-in operators' parts shared between the files of
 * this folder: each operator's definition side (*_parse.c) and its runtime
 * side (window_op.c, result_ops.c), which holds the vtable.
 */
#ifndef SL_OP_INTERNAL_H
#define SL_OP_INTERNAL_H

#include "operator.h"

int sl__window_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                    size_t errstr_size);
void sl__window_explain(const sl_stage *stage, FILE *out);
void sl__window_destroy(sl_stage *stage);

int sl__filter_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                    size_t errstr_size);
void sl__filter_explain(const sl_stage *stage, FILE *out);
void sl__filter_destroy(sl_stage *stage);

int sl__map_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                 size_t errstr_size);
void sl__map_explain(const sl_stage *stage, FILE *out);
void sl__map_destroy(sl_stage *stage);

#endif
