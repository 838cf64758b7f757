/*
 * expr_def.c - SQL expressions in definitions (expr_def.h).
 */
#include "expr_def.h"

#include <stdio.h>
#include <string.h>

int sl_xexpr_text_is_expr(const char *s)
{
    for (const char *p = s; *p; p++)
        if (strchr(" \t\n()*/+%|<>=!',\"", *p))
            return 1;
    return 0;
}

size_t sl_xexpr_path_head(const char *path)
{
    size_t head = strcspn(path, ".["), n = strlen(path);
    if (head == 0 || head == n)
        return n;
    /* the rest must be well formed: (".name" | "[digits]")+ */
    for (const char *p = path + head; *p;) {
        size_t k = 1;
        if (*p == '.') {
            k += strcspn(p + 1, ".[]");
            if (k == 1)
                return n;
        } else if (*p == '[') {
            k += strspn(p + 1, "0123456789");
            if (k == 1 || p[k] != ']')
                return n;
            k++;
        } else {
            return n;
        }
        p += k;
    }
    return head;
}

sl_xexpr *sl_xexpr_compile_at(const char *text, const sl_xenv *env, const char *path, char *errstr,
                              size_t errstr_size)
{
    char err[1024];
    sl_xexpr *x = sl_xexpr_compile(text, env, err, sizeof(err));
    if (!x)
        sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: %s", path, err);
    return x;
}

static int sl__any_field(void *ctx, const char *path, sl_type *type)
{
    int *next = ctx;
    (void)path;
    *type = SL_T_MISSING;
    return (*next)++;
}

int sl_xexpr_check_open(const char *text, const char *path, char *errstr, size_t errstr_size)
{
    int next = 0;
    sl_xenv env = {.resolve = sl__any_field, .ctx = &next};
    sl_xexpr *x = sl_xexpr_compile_at(text, &env, path, errstr, errstr_size);
    if (!x)
        return SL_EINVAL;
    sl_xexpr_free(x);
    return 0;
}

void sl_xexpr_print_paths(const char *text, FILE *out)
{
    int next = 0;
    char err[256];
    sl_xenv env = {.resolve = sl__any_field, .ctx = &next};
    sl_xexpr *x = sl_xexpr_compile(text, &env, err, sizeof(err));
    size_t n = 0;
    const char *const *paths = x ? sl_xexpr_paths(x, &n) : NULL;
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", paths[i]);
    if (n == 0)
        fputs("(no fields)", out);
    sl_xexpr_free(x);
}
