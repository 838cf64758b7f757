/*
 * key_by.c - the key_by stage's definition side:
 *   {"key_by": ["user", "region"]}  or  {"key_by": "user"}
 *   {"key_by": ["card", "date_trunc('hour', ts)"]}
 * The key of an event is the JSON members of these fields, in this order.
 * An entry that is an expression (expr_def.h: it holds a space, a
 * parenthesis, an operator...) is computed; its member is named by its
 * text, or by NAME when it ends in " AS NAME" ("date_trunc('hour', ts) AS
 * hour"). "device.id" and "tags[0]" are nested fields.
 */
#include "operator.h"

#include "expr_def.h"
#include "options.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include <string.h>

static const sl_opt sl__key_by_stage_keys[] = {{.name = "key_by",
                                                .type = SL_OPT_ANY,
                                                .required = 1,
                                                .help = "a field name or an array of field names"},
                                               {.name = NULL}};

/* "EXPR AS NAME": cuts " AS NAME" off `text` and returns NAME (malloc'ed),
 * or NULL when the text has no such ending. NAME is an identifier. */
static char *sl__alias(char *text)
{
    size_t n = strlen(text), i = n;
    while (i > 0 && (isalnum((unsigned char)text[i - 1]) || text[i - 1] == '_'))
        i--;
    if (i == n || isdigit((unsigned char)text[i]) || i < 5)
        return NULL;
    size_t j = i;
    if (!isspace((unsigned char)text[j - 1]))
        return NULL;
    while (j > 0 && isspace((unsigned char)text[j - 1]))
        j--;
    if (j < 3 || strncasecmp(text + j - 2, "as", 2) != 0 || !isspace((unsigned char)text[j - 3]))
        return NULL;
    char *name = sl_xstrdup(text + i);
    j -= 2;
    while (j > 0 && isspace((unsigned char)text[j - 1]))
        j--;
    text[j] = '\0';
    return name;
}

static int key_by_parse(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                        size_t errstr_size)
{
    char sub[256];
    int rc = sl_opts_check(stage_json, sl__key_by_stage_keys, path, errstr, errstr_size);
    if (rc != 0)
        return rc;
    sl_path_join(sub, sizeof(sub), path, "key_by");
    char **fields;
    size_t n;
    rc = sl_json_strings(json_object_get(stage_json, "key_by"), sub, 1, &fields, &n, errstr,
                         errstr_size);
    if (rc != 0)
        return rc;
    char **exprs = NULL;
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (!sl_xexpr_text_is_expr(fields[k]))
            continue;
        char epath[300];
        snprintf(epath, sizeof(epath), "%s[%zu]", sub, k);
        if (!exprs)
            exprs = sl_xcalloc(n, sizeof(char *));
        exprs[k] = sl_xstrdup(fields[k]);
        char *alias = sl__alias(exprs[k]);
        if (alias) {
            free(fields[k]);
            fields[k] = alias;
        }
        if ((rc = sl_xexpr_check_open(exprs[k], epath, errstr, errstr_size)) != 0)
            break;
    }
    for (size_t k = 0; k < n && rc == 0; k++)
        for (size_t j = 0; j < k; j++)
            if (strcmp(fields[j], fields[k]) == 0) {
                rc = sl_seterr(errstr, errstr_size, SL_EINVAL, "%s[%zu]: \"%s\" is listed twice",
                               sub, k, fields[k]);
                break;
            }
    if (rc != 0) {
        sl_strings_free(fields, n);
        if (exprs)
            sl_strings_free(exprs, n);
        return rc;
    }
    stage->kind = SL_STAGE_KEY_BY;
    stage->u.key_by.fields = fields;
    stage->u.key_by.exprs = exprs;
    stage->u.key_by.nfields = n;
    return 0;
}

static void key_by_explain(const sl_stage *stage, FILE *out)
{
    fputs("  key_by: ", out);
    for (size_t i = 0; i < stage->u.key_by.nfields; i++) {
        fprintf(out, "%s%s", i ? ", " : "", stage->u.key_by.fields[i]);
        if (stage->u.key_by.exprs && stage->u.key_by.exprs[i] &&
            strcmp(stage->u.key_by.exprs[i], stage->u.key_by.fields[i]) != 0)
            fprintf(out, " = %s", stage->u.key_by.exprs[i]);
    }
    fputs("\n    reads: ", out);
    for (size_t i = 0; i < stage->u.key_by.nfields; i++) {
        fputs(i ? ", " : "", out);
        if (stage->u.key_by.exprs && stage->u.key_by.exprs[i])
            sl_xexpr_print_paths(stage->u.key_by.exprs[i], out);
        else
            fputs(stage->u.key_by.fields[i], out);
    }
    fputs("\n", out);
}

static void key_by_destroy(sl_stage *stage)
{
    if (stage->u.key_by.exprs)
        sl_strings_free(stage->u.key_by.exprs, stage->u.key_by.nfields);
    stage->u.key_by.exprs = NULL;
    sl_strings_free(stage->u.key_by.fields, stage->u.key_by.nfields);
    stage->u.key_by.fields = NULL;
    stage->u.key_by.nfields = 0;
}

const sl_operator_ops sl_op_key_by = {
    .name = "key_by",
    .init = key_by_parse,
    .explain = key_by_explain,
    .destroy = key_by_destroy,
};
