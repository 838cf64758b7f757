/*
 * expr_def.h - SQL expressions (expr.h) where a pipeline definition uses
 * them: the rule that tells a field name from an expression, checking an
 * expression's text at validate time, and error messages that carry the
 * JSON path ("pipeline[0].filter: 1:8: unknown function ...").
 *
 * @locality: reentrant.
 */
#ifndef SL_EXPR_DEF_H
#define SL_EXPR_DEF_H

#include "expr.h"

#include <stdio.h>

/* 1 if `s` (a key_by entry) is an expression rather than a field name: it
 * holds a character no field name of a definition uses unquoted (space,
 * parentheses, an operator, a quote, a comma). "user", "user-id",
 * "device.id" and "tags[0]" are field names (the last two nested paths). */
int sl_xexpr_text_is_expr(const char *s);

/* Compiles `text` with `env`; on error returns NULL with errstr
 * "PATH: L:C: message" followed by the caret lines. */
sl_xexpr *sl_xexpr_compile_at(const char *text, const sl_xenv *env, const char *path, char *errstr,
                              size_t errstr_size);

/* Validate-time check of `text` where any field may exist (input events):
 * syntax, functions, and the types of literals. 0 or SL_EINVAL. */
int sl_xexpr_check_open(const char *text, const char *path, char *errstr, size_t errstr_size);

/* Prints the field paths `text` reads, comma-separated, to out (explain). */
void sl_xexpr_print_paths(const char *text, FILE *out);

/* The first segment of a nested path ("device" of "device.id", "a" of
 * "a[2]"): its length in `path`. A name that is not a well-formed path
 * (".x", "a..b", "a[x]") is one top-level member: its whole length. */
size_t sl_xexpr_path_head(const char *path);

#endif
