/*
 * map_parse.c - the map stage's definition side:
 *   {"map": {"set": {"name": "SQL"}, "keep": [..], "drop": [..],
 *            "rename": {"old": "new"}}}
 * at least one of the four. keep, drop and rename apply in that order to
 * the fields coming in; then set adds (or replaces) its fields, each
 * expression reading the fields as they came into the map.
 */
#include "op_internal.h"

#include "expr_def.h"
#include "options.h"

#include <stdlib.h>
#include <string.h>

static const sl_opt sl__map_stage_keys[] = {{.name = "map", .type = SL_OPT_OBJECT, .required = 1},
                                            {.name = NULL}};
static const sl_opt sl__map_keys[] = {
    {.name = "set",
     .type = SL_OPT_OBJECT,
     .help = "{\"name\": \"SQL expression\"} computed fields"},
    {.name = "keep", .type = SL_OPT_STRINGS, .help = "fields to keep, all others are removed"},
    {.name = "drop", .type = SL_OPT_STRINGS, .help = "fields to remove"},
    {.name = "rename", .type = SL_OPT_OBJECT, .help = "{\"old\": \"new\"} pairs"},
    {.name = NULL}};

void sl__map_destroy(sl_stage *stage)
{
    sl_map_def *m = &stage->u.map;
    sl_strings_free(m->set_name, m->nset);
    sl_strings_free(m->set_expr, m->nset);
    sl_strings_free(m->keep, m->nkeep);
    sl_strings_free(m->drop, m->ndrop);
    sl_strings_free(m->rename_from, m->nrename);
    sl_strings_free(m->rename_to, m->nrename);
    memset(m, 0, sizeof(*m));
}

static int sl__has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int sl__map_parse_body(const json_t *body, const char *mpath, sl_map_def *m, char *errstr,
                              size_t errstr_size)
{
    char sub[256], repr[80];
    const json_t *keep = json_object_get(body, "keep"), *drop = json_object_get(body, "drop"),
                 *rename = json_object_get(body, "rename"), *set = json_object_get(body, "set");
    int rc;
    if (!keep && !drop && !rename && !set)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: needs at least one of \"set\", \"keep\", \"drop\", \"rename\"",
                         mpath);
    if (set) {
        size_t n = json_object_size(set);
        sl_path_join(sub, sizeof(sub), mpath, "set");
        if (n == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must not be empty", sub);
        m->set_name = sl_xcalloc(n, sizeof(char *));
        m->set_expr = sl_xcalloc(n, sizeof(char *));
        const char *name;
        json_t *text;
        json_object_foreach((json_t *)set, name, text)
        {
            char epath[320];
            sl_path_join(epath, sizeof(epath), sub, name);
            if (name[0] == '\0')
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: a field name must not be empty", sub);
            if (!json_is_string(text))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: must be a SQL expression string, got %s", epath,
                                 sl_json_repr(text, repr, sizeof(repr)));
            if ((rc = sl_xexpr_check_open(json_string_value(text), epath, errstr, errstr_size)) !=
                0)
                return rc;
            m->set_name[m->nset] = sl_xstrdup(name);
            m->set_expr[m->nset] = sl_xstrdup(json_string_value(text));
            m->nset++;
        }
    }
    if (keep) {
        sl_path_join(sub, sizeof(sub), mpath, "keep");
        if ((rc = sl_json_strings(keep, sub, 1, &m->keep, &m->nkeep, errstr, errstr_size)) != 0)
            return rc;
    }
    if (drop) {
        sl_path_join(sub, sizeof(sub), mpath, "drop");
        if ((rc = sl_json_strings(drop, sub, 1, &m->drop, &m->ndrop, errstr, errstr_size)) != 0)
            return rc;
        for (size_t i = 0; i < m->ndrop; i++)
            if (m->nkeep && !sl__has(m->keep, m->nkeep, m->drop[i]))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s.drop[%zu]: \"%s\" is not kept anyway (keep removes every "
                                 "field it does not list)",
                                 mpath, i, m->drop[i]);
    }
    if (rename) {
        size_t n = json_object_size(rename);
        if (n == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s.rename: must not be empty", mpath);
        m->rename_from = sl_xcalloc(n, sizeof(char *));
        m->rename_to = sl_xcalloc(n, sizeof(char *));
        const char *from;
        json_t *to;
        json_object_foreach((json_t *)rename, from, to)
        {
            char rpath[256];
            sl_path_join(rpath, sizeof(rpath), mpath, "rename");
            sl_path_join(sub, sizeof(sub), rpath, from);
            if (!json_is_string(to) || json_string_length(to) == 0)
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: must be the new field name (a non-empty string), got %s", sub,
                                 sl_json_repr(to, repr, sizeof(repr)));
            if (from[0] == '\0')
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s.rename: a field name must not be empty", mpath);
            const char *tos = json_string_value(to);
            if (sl__has(m->rename_to, m->nrename, tos))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: two fields are renamed to \"%s\"", sub, tos);
            if (m->nkeep && !sl__has(m->keep, m->nkeep, from))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: \"%s\" is removed by keep before the rename", sub, from);
            if (sl__has(m->drop, m->ndrop, from))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: \"%s\" is dropped before the rename", sub, from);
            m->rename_from[m->nrename] = sl_xstrdup(from);
            m->rename_to[m->nrename] = sl_xstrdup(tos);
            m->nrename++;
        }
    }
    return 0;
}

int sl__map_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                 size_t errstr_size)
{
    char mpath[256];
    int rc = sl_opts_check(stage_json, sl__map_stage_keys, path, errstr, errstr_size);
    if (rc != 0)
        return rc;
    sl_path_join(mpath, sizeof(mpath), path, "map");
    const json_t *body = json_object_get(stage_json, "map");
    if ((rc = sl_opts_check(body, sl__map_keys, mpath, errstr, errstr_size)) != 0)
        return rc;
    stage->kind = SL_STAGE_MAP;
    memset(&stage->u.map, 0, sizeof(stage->u.map));
    rc = sl__map_parse_body(body, mpath, &stage->u.map, errstr, errstr_size);
    if (rc != 0)
        sl__map_destroy(stage);
    return rc;
}

static void sl__print_list(FILE *out, char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", v[i]);
}

void sl__map_explain(const sl_stage *stage, FILE *out)
{
    const sl_map_def *m = &stage->u.map;
    fputs("  map:", out);
    for (size_t i = 0; i < m->nset; i++)
        fprintf(out, "%s %s = %s", i ? "," : " set", m->set_name[i], m->set_expr[i]);
    if (m->nkeep) {
        fputs(" keep [", out);
        sl__print_list(out, m->keep, m->nkeep);
        fputs("]", out);
    }
    if (m->ndrop) {
        fputs(" drop [", out);
        sl__print_list(out, m->drop, m->ndrop);
        fputs("]", out);
    }
    if (m->nrename) {
        fputs(" rename", out);
        for (size_t i = 0; i < m->nrename; i++)
            fprintf(out, "%s %s -> %s", i ? "," : "", m->rename_from[i], m->rename_to[i]);
    }
    fputs("\n    reads: ", out);
    for (size_t i = 0; i < m->nset; i++) {
        sl_xexpr_print_paths(m->set_expr[i], out);
        fputs(", ", out);
    }
    if (m->nkeep)
        sl__print_list(out, m->keep, m->nkeep);
    else
        fputs("(passes every field through)", out);
    fputs("\n", out);
}
