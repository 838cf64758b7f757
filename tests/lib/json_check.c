/* json_check.c - see json_check.h. */
#include "json_check.h"

#include "json_scan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sl__names[] = {
    "user", "amount", "ts", "a", "b", "c", "", "\xc3\xa9", "k\"q", "\x7f", "long_field_name_x"};
#define SL__NNAMES (sizeof(sl__names) / sizeof(sl__names[0]))

/* Deepest nesting of [ and { outside strings (approximate on bad input). */
static int sl__depth(const char *s, size_t n)
{
    int d = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++d > max)
                max = d;
        } else if (c == '}' || c == ']') {
            d--;
        }
    }
    return max;
}

static int sl__fail(char *why, size_t why_size, const char *name, const char *what)
{
    snprintf(why, why_size, "field \"%s\": %s", name, what);
    return -1;
}

/* Compares one extracted value with jansson's. */
static int sl__same(const sl_json_val *v, json_t *jv, const char *name, char *why, size_t why_size)
{
    if (v->type == SL_T_MISSING)
        return jv ? sl__fail(why, why_size, name, "scanner missed it") : 0;
    if (!jv)
        return sl__fail(why, why_size, name, "scanner invented it");
    switch (v->type) {
    case SL_T_STRING: {
        if (!json_is_string(jv))
            return sl__fail(why, why_size, name, "not a string in jansson");
        char *d = malloc(v->len + 1);
        size_t n = sl_json_unescape(v->raw, v->len, d);
        int ok = n == json_string_length(jv) && memcmp(d, json_string_value(jv), n) == 0 &&
                 (v->escaped != 0) == (memchr(v->raw, '\\', v->len) != NULL);
        /* canonical re-escape reads back as the same string */
        char *e = malloc(6 * n + 3);
        e[0] = '"';
        size_t en = 1 + sl_json_escape(d, n, e + 1);
        e[en++] = '"';
        json_t *back = json_loadb(e, en, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        ok = ok && back && json_equal(back, jv);
        json_decref(back);
        free(e);
        free(d);
        return ok ? 0 : sl__fail(why, why_size, name, "string differs");
    }
    case SL_T_INT:
        if (!json_is_integer(jv) || json_integer_value(jv) != v->i)
            return sl__fail(why, why_size, name, "integer differs");
        return 0;
    case SL_T_DOUBLE: {
        if (!json_is_real(jv))
            return sl__fail(why, why_size, name, "not a real in jansson");
        double a = sl_json_to_double(v->raw, v->len), b = json_real_value(jv);
        if (memcmp(&a, &b, sizeof(a)) != 0)
            return sl__fail(why, why_size, name, "double differs");
        char txt[32];
        size_t tn = sl_json_format_double(a, txt);
        txt[tn] = '\0';
        if (strtod(txt, NULL) != a)
            return sl__fail(why, why_size, name, "format_double does not round trip");
        return 0;
    }
    case SL_T_BOOL:
        if (!json_is_boolean(jv) || json_is_true(jv) != (v->i != 0))
            return sl__fail(why, why_size, name, "bool differs");
        return 0;
    case SL_T_NULL:
        return json_is_null(jv) ? 0 : sl__fail(why, why_size, name, "not null");
    default: {
        json_t *raw = json_loadb(v->raw, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        char *m = malloc(v->len + 1);
        size_t mn = sl_json_minify(v->raw, v->len, m);
        json_t *min = json_loadb(m, mn, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        int ok = raw && min && json_equal(raw, jv) && json_equal(min, jv) &&
                 (v->raw[0] == '{' || v->raw[0] == '[');
        json_decref(raw);
        json_decref(min);
        free(m);
        return ok ? 0 : sl__fail(why, why_size, name, "nested value differs");
    }
    }
}

int sl_json_check(const char *buf, size_t len, char *why, size_t why_size)
{
    static sl_json_fields *fields;
    if (!fields)
        fields = sl_json_fields_new((const char *const *)sl__names, SL__NNAMES);
    sl_json_val vals[SL__NNAMES];
    int rc = sl_json_scan(fields, buf, len, vals);

    /* the iterator reaches the same verdict */
    sl_json_iter it;
    sl_json_val k, v;
    int ir = sl_json_iter_init(&it, buf, len), members = 0;
    if (ir == 0)
        while ((ir = sl_json_iter_next(&it, &k, &v)) == 1)
            members++;
    if ((ir == 0) != (rc == 0))
        return sl__fail(why, why_size, "-", "iterator and scan disagree");

    json_error_t err;
    json_t *j = json_loadb(buf, len, JSON_ALLOW_NUL, &err);
    int jok = j && json_is_object(j);
    if ((rc == 0) != jok) {
        int excused = !j && (strstr(err.text, "too big") || strstr(err.text, "overflow") ||
                             strstr(err.text, "NUL byte") || strstr(err.text, "depth"));
        excused = excused || sl__depth(buf, len) >= SL_JSON_MAX_DEPTH;
        /* jansson's stream reader skips raw NUL bytes outside strings (its
         * read buffer is NUL-terminated); they are not JSON */
        excused = excused || (jok && memchr(buf, '\0', len) != NULL);
        json_decref(j);
        if (excused)
            return 0;
        snprintf(why, why_size, "verdict differs: scanner %s, jansson %s",
                 rc == 0 ? "accepts" : "rejects",
                 jok ? "accepts"
                 : j ? "rejects (not an object)"
                     : err.text);
        return -1;
    }
    int out = 0;
    if (jok) {
        for (size_t i = 0; i < SL__NNAMES && out == 0; i++)
            out = sl__same(&vals[i], json_object_get(j, sl__names[i]), sl__names[i], why, why_size);
        if (out == 0 && (size_t)members < json_object_size(j))
            out = sl__fail(why, why_size, "-", "iterator saw too few members");
    }
    json_decref(j);
    return out;
}
