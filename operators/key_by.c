/*
 * key_by.c - the key_by stage's definition side:
 *   {"key_by": ["user", "region"]}  or  {"key_by": "user"}
 * The key of an event is the JSON members of these fields, in this order.
 */
#include "operator.h"

#include "options.h"

#include <string.h>

static const sl_opt sl__key_by_stage_keys[] = {{.name = "key_by",
                                                .type = SL_OPT_ANY,
                                                .required = 1,
                                                .help = "a field name or an array of field names"},
                                               {.name = NULL}};

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
    stage->kind = SL_STAGE_KEY_BY;
    stage->u.key_by.fields = fields;
    stage->u.key_by.nfields = n;
    return 0;
}

static void key_by_explain(const sl_stage *stage, FILE *out)
{
    fputs("  key_by: ", out);
    for (size_t i = 0; i < stage->u.key_by.nfields; i++)
        fprintf(out, "%s%s", i ? ", " : "", stage->u.key_by.fields[i]);
    fputs("\n    reads: ", out);
    for (size_t i = 0; i < stage->u.key_by.nfields; i++)
        fprintf(out, "%s%s", i ? ", " : "", stage->u.key_by.fields[i]);
    fputs("\n", out);
}

static void key_by_destroy(sl_stage *stage)
{
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
