/*
 * options.c - the generic option validator (sl_opts_check) and the JSON
 * helpers the definition loader and operator parsers share: durations,
 * string lists, type names and path-qualified messages.
 */
#include "options.h"

#include "didyoumean.h"
#include "redact.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sl_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

const char *sl_json_repr(const json_t *v, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (!v)
        return buf;
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(buf, size, "(%s)", sl_json_kind(v));
        return buf;
    }
    size_t n = strlen(s);
    if (n < size && n <= 60) {
        memcpy(buf, s, n + 1);
    } else {
        size_t keep = size > 64 ? 57 : (size > 4 ? size - 4 : 0);
        snprintf(buf, size, "%.*s...", (int)keep, s);
    }
    free(s);
    return buf;
}

const char *sl_path_join(char *buf, size_t size, const char *path, const char *key)
{
    int plain = key[0] != '\0' && !isdigit((unsigned char)key[0]);
    for (const char *p = key; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || *p == '_' || *p == '-';
    const char *dot = path && path[0] ? "." : "";
    if (plain)
        snprintf(buf, size, "%s%s%s", path ? path : "", dot, key);
    else
        snprintf(buf, size, "%s[\"%s\"]", path ? path : "", key);
    return buf;
}

void sl_strings_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int sl_json_strings(const json_t *v, const char *path, int allow_single, char ***out, size_t *n,
                    char *errstr, size_t errstr_size)
{
    char repr[80];
    *out = NULL;
    *n = 0;
    if (allow_single && json_is_string(v)) {
        if (json_string_length(v) == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must not be empty", path);
        char **arr = sl_xcalloc(1, sizeof(char *));
        arr[0] = sl_xstrdup(json_string_value(v));
        *out = arr;
        *n = 1;
        return 0;
    }
    if (!json_is_array(v))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must be %s, got %s", path,
                         allow_single ? "a string or an array of strings" : "an array of strings",
                         sl_json_repr(v, repr, sizeof(repr)));
    size_t len = json_array_size(v);
    if (len == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must not be an empty array", path);
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s[%zu]: must be a string, got %s",
                             path, i, sl_json_repr(e, repr, sizeof(repr)));
        if (json_string_length(e) == 0)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s[%zu]: must not be empty", path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(v, j)), json_string_value(e)) == 0)
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s[%zu]: \"%s\" is listed twice (also at [%zu])", path, i,
                                 json_string_value(e), j);
    }
    char **arr = sl_xcalloc(len, sizeof(char *));
    for (size_t i = 0; i < len; i++)
        arr[i] = sl_xstrdup(json_string_value(json_array_get(v, i)));
    *out = arr;
    *n = len;
    return 0;
}

/* Looks up a duration unit (ms, s, m, h, d): its length in ms. */
static int sl__duration_unit(const char *u, size_t ulen, int64_t *factor)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < SL_ARRAY_LEN(units); i++) {
        if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0) {
            *factor = units[i].ms;
            return 0;
        }
    }
    return SL_EINVAL;
}

int sl_parse_duration(const json_t *v, int64_t *ms)
{
    if (json_is_integer(v)) {
        *ms = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return SL_EINVAL;
    const char *s = json_string_value(v);
    int neg = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (!isdigit((unsigned char)*s))
        return SL_EINVAL;
    /* One or more <digits><unit> groups: "1s", "1m30s", "1h5m". */
    int64_t total = 0;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return SL_EINVAL;
        int64_t n = 0;
        while (isdigit((unsigned char)*s)) {
            int digit = *s - '0';
            if (n > (INT64_MAX - digit) / 10)
                return SL_EINVAL;
            n = n * 10 + digit;
            s++;
        }
        const char *u = s;
        while (isalpha((unsigned char)*s))
            s++;
        int64_t factor;
        if (sl__duration_unit(u, (size_t)(s - u), &factor) != 0)
            return SL_EINVAL;
        if (n > (INT64_MAX - total) / factor)
            return SL_EINVAL;
        total += n * factor;
    }
    *ms = neg ? -total : total;
    return 0;
}

const char *sl_format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    if (ms == 0) {
        snprintf(buf, size, "0ms");
        return buf;
    }
    size_t len = 0;
    uint64_t rest = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0 && size > 1)
        buf[len++] = '-';
    buf[len] = '\0';
    for (size_t i = 0; i < SL_ARRAY_LEN(units) && rest; i++) {
        uint64_t q = rest / (uint64_t)units[i].ms;
        if (q == 0)
            continue;
        rest -= q * (uint64_t)units[i].ms;
        int w = snprintf(buf + len, size > len ? size - len : 0, "%" PRIu64 "%s", q, units[i].name);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    return buf;
}

int sl_json_duration(const json_t *v, const char *path, int positive, int64_t *ms, char *errstr,
                     size_t errstr_size)
{
    char repr[80];
    int64_t d;
    const char *what = positive ? "a positive duration" : "a duration >= 0";
    if (sl_parse_duration(v, &d) != 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: must be %s, got %s (write \"250ms\", \"1s\", \"5m\", \"1h\", "
                         "\"2d\" or integer milliseconds)",
                         path, what, sl_json_repr(v, repr, sizeof(repr)));
    if (d < 0 || (positive && d == 0))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must be %s, got %s", path, what,
                         sl_json_repr(v, repr, sizeof(repr)));
    *ms = d;
    return 0;
}

static const char *sl__opt_type_name(sl_opt_type t)
{
    switch (t) {
    case SL_OPT_STRING:
        return "a string";
    case SL_OPT_INT:
        return "an integer";
    case SL_OPT_NUMBER:
        return "a number";
    case SL_OPT_BOOL:
        return "true or false";
    case SL_OPT_DURATION:
        return "a duration";
    case SL_OPT_STRINGS:
        return "an array of strings";
    case SL_OPT_OBJECT:
        return "an object";
    default:
        return "any value";
    }
}

/* Checks `value` against opt->allowed ("a|b|c"). */
static int sl__opt_allowed(const sl_opt *opt, const char *value, const char *kpath, char *errstr,
                           size_t errstr_size)
{
    sl_suggest sug;
    sl_suggest_init(&sug, value);
    char list[256], names[16][48]; /* candidates stay alive until the result */
    size_t ll = 0, k = 0;
    list[0] = '\0';
    for (const char *p = opt->allowed; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(value) == n && memcmp(value, p, n) == 0)
            return 0;
        char *one = names[k < SL_ARRAY_LEN(names) ? k++ : k - 1];
        snprintf(one, sizeof(names[0]), "%.*s", (int)n, p);
        sl_suggest_add(&sug, one);
        int w = snprintf(list + ll, sizeof(list) - ll, "%s\"%s\"", ll ? ", " : "", one);
        if (w > 0 && (size_t)w < sizeof(list) - ll)
            ll += (size_t)w;
        p += n + (bar ? 1 : 0);
    }
    const char *best = sl_suggest_result(&sug);
    if (best)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s: unknown value \"%s\", did you mean \"%s\"? (one of %s)", kpath, value,
                         best, list);
    return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: unknown value \"%s\" (one of %s)", kpath,
                     value, list);
}

int sl_opts_check(const json_t *obj, const sl_opt *table, const char *path, char *errstr,
                  size_t errstr_size)
{
    char repr[80], kpath[256];
    const char *where = path && path[0] ? path : "(top level)";
    if (!json_is_object(obj))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must be an object, got %s", where,
                         sl_json_repr(obj, repr, sizeof(repr)));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        const sl_opt *opt = NULL;
        for (const sl_opt *o = table; o && o->name; o++)
            if (strcmp(o->name, key) == 0)
                opt = o;
        if (!opt) {
            sl_suggest sug;
            sl_suggest_init(&sug, key);
            for (const sl_opt *o = table; o && o->name; o++)
                sl_suggest_add(&sug, o->name);
            const char *best = sl_suggest_result(&sug);
            if (best)
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: unknown key \"%s\", did you mean \"%s\"?", where, key, best);
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: unknown key \"%s\"", where, key);
        }
        sl_path_join(kpath, sizeof(kpath), path, key);
        int ok = 1;
        switch (opt->type) {
        case SL_OPT_STRING:
            ok = json_is_string(val);
            if (ok && opt->allowed) {
                int rc = sl__opt_allowed(opt, json_string_value(val), kpath, errstr, errstr_size);
                if (rc != 0)
                    return rc;
            }
            break;
        case SL_OPT_INT:
            ok = json_is_integer(val);
            if (ok && opt->min < opt->max &&
                (json_integer_value(val) < opt->min || json_integer_value(val) > opt->max))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: must be between %" PRId64 " and %" PRId64 ", got %s", kpath,
                                 opt->min, opt->max, sl_json_repr(val, repr, sizeof(repr)));
            break;
        case SL_OPT_NUMBER:
            ok = json_is_number(val);
            if (ok && opt->min < opt->max &&
                (json_number_value(val) < (double)opt->min ||
                 json_number_value(val) > (double)opt->max))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: must be between %" PRId64 " and %" PRId64 ", got %s", kpath,
                                 opt->min, opt->max, sl_json_repr(val, repr, sizeof(repr)));
            break;
        case SL_OPT_BOOL:
            ok = json_is_boolean(val);
            break;
        case SL_OPT_OBJECT:
            ok = json_is_object(val);
            break;
        case SL_OPT_DURATION: {
            int64_t ms;
            int rc = sl_json_duration(val, kpath, opt->min > 0, &ms, errstr, errstr_size);
            if (rc != 0)
                return rc;
            if (opt->min < opt->max && (ms < opt->min || ms > opt->max)) {
                char lo[32], hi[32];
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "%s: must be between %s and %s, got %s", kpath,
                                 sl_format_duration(opt->min, lo, sizeof(lo)),
                                 sl_format_duration(opt->max, hi, sizeof(hi)),
                                 sl_json_repr(val, repr, sizeof(repr)));
            }
            break;
        }
        case SL_OPT_STRINGS: {
            char **strs;
            size_t n;
            int rc = sl_json_strings(val, kpath, 1, &strs, &n, errstr, errstr_size);
            if (rc != 0)
                return rc;
            sl_strings_free(strs, n);
            break;
        }
        default:
            break;
        }
        if (!ok)
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must be %s, got %s", kpath,
                             sl__opt_type_name(opt->type),
                             sl_redact_repr(key, val, repr, sizeof(repr)));
    }
    for (const sl_opt *o = table; o && o->name; o++)
        if (o->required && !json_object_get(obj, o->name))
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: missing required key \"%s\"%s%s%s", where, o->name,
                             o->help ? " (" : "", o->help ? o->help : "", o->help ? ")" : "");
    return 0;
}
