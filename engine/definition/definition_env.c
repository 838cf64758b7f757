/*
 * definition_env.c - the environment's part in loading a definition:
 * ${VAR} / ${VAR:-default} substitution on the raw text and the SLUICE_*
 * overrides applied to the parsed tree (see definition_internal.h).
 */
#include "definition_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * ${VAR} substitution
 * ====================================================================== */

typedef struct sl__buf {
    char *p;
    size_t len, cap;
} sl__buf;

static void sl__buf_put(sl__buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = sl_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends `s` escaped for the inside of a JSON string. */
static void sl__buf_put_escaped(sl__buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sl__buf_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sl__buf_put(b, esc, 6);
        } else {
            sl__buf_put(b, (const char *)&s[i], 1);
        }
    }
}

/* Returns the substituted text (caller frees) or NULL with errstr set to
 * "NAME:LINE:COL: msg" (line and column of the '$', 1-based). */
char *sl__def_substitute(const char *text, const char *name, int *rc, char *errstr,
                         size_t errstr_size)
{
    sl__buf out = {0};
    int in_string = 0, escaped = 0, line = 1, col = 1;
    sl__buf_put(&out, "", 0);
    for (const char *p = text; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            sl__buf_put(&out, "${", 2);
            p += 3;
            col += 3;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            const char *v = p + 2, *e = v;
            while (isalnum((unsigned char)*e) || *e == '_')
                e++;
            const char *close = strchr(e, '}');
            int bad = e == v || isdigit((unsigned char)*v) || !close ||
                      (*e != '}' && !(e[0] == ':' && e[1] == '-'));
            if (!bad && memchr(e, '\n', (size_t)(close - e)))
                bad = 1;
            if (bad) {
                free(out.p);
                *rc = sl_seterr(
                    errstr, errstr_size, SL_EPARSE,
                    "%s:%d:%d: bad variable reference (write ${NAME} or ${NAME:-default})", name,
                    line, col);
                return NULL;
            }
            char var[256];
            size_t vlen = (size_t)(e - v);
            if (vlen >= sizeof(var))
                vlen = sizeof(var) - 1;
            memcpy(var, v, vlen);
            var[vlen] = '\0';
            const char *val = getenv(var);
            size_t val_len;
            if (*e == ':') {
                if (!val || !*val) {
                    val = e + 2;
                    val_len = (size_t)(close - val);
                } else {
                    val_len = strlen(val);
                }
            } else {
                if (!val) {
                    free(out.p);
                    *rc = sl_seterr(
                        errstr, errstr_size, SL_EINVAL,
                        "%s:%d:%d: environment variable %s is not set (use ${%s:-default} "
                        "for a default)",
                        name, line, col, var, var);
                    return NULL;
                }
                val_len = strlen(val);
            }
            if (in_string)
                sl__buf_put_escaped(&out, val, val_len);
            else
                sl__buf_put(&out, val, val_len);
            col += (int)(close + 1 - p);
            p = close + 1;
            continue;
        }
        char c = *p;
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        }
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        sl__buf_put(&out, p, 1);
        p++;
    }
    return out.p;
}

/* ======================================================================
 * Environment overrides
 * ====================================================================== */

/* root[key] if it is an object; creates it when absent and `create`.
 * NULL if absent (and !create) or not an object (validation reports it). */
static json_t *sl__child_obj(json_t *root, const char *key, int create)
{
    json_t *o = json_object_get(root, key);
    if (!o && create) {
        o = json_object();
        json_object_set_new(root, key, o);
    }
    return json_is_object(o) ? o : NULL;
}

const char *sl__def_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* SLUICE_PEERS: comma-separated [node_id=]endpoint[@public_key]. Plain
 * endpoints become strings (as before), the others peer objects. Z85 has
 * no ',' and endpoints no '@', so the first '@' starts the key. */
json_t *sl__def_peers_from_env(const char *v)
{
    json_t *arr = json_array();
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            const char *at = memchr(a, '@', (size_t)(b - a));
            const char *scheme = NULL;
            for (const char *q = a; q + 2 < (at ? at : b); q++)
                if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
                    scheme = q;
                    break;
                }
            const char *eq = scheme ? memchr(a, '=', (size_t)(scheme - a)) : NULL;
            const char *ep = eq ? eq + 1 : a, *ep_end = at ? at : b;
            if (!at && !eq) {
                json_array_append_new(arr, json_stringn(a, (size_t)(b - a)));
            } else {
                json_t *peer = json_object();
                json_object_set_new(peer, "endpoint", json_stringn(ep, (size_t)(ep_end - ep)));
                if (at)
                    json_object_set_new(peer, "public_key",
                                        json_stringn(at + 1, (size_t)(b - at - 1)));
                if (eq)
                    json_object_set_new(peer, "node_id", json_stringn(a, (size_t)(eq - a)));
                json_array_append_new(arr, peer);
            }
        }
        p = comma ? comma + 1 : end;
    }
    return arr;
}

void sl__def_apply_overrides(json_t *root)
{
    const char *v;
    json_t *o;
    if ((v = sl__def_env("SLUICE_NODE_ID")) && (o = sl__child_obj(root, "cluster", 1)))
        json_object_set_new(o, "node_id", json_string(v));
    if ((v = sl__def_env("SLUICE_LISTEN")) && (o = sl__child_obj(root, "cluster", 1)))
        json_object_set_new(o, "listen", json_string(v));
    if ((v = sl__def_env("SLUICE_PEERS")) && (o = sl__child_obj(root, "cluster", 1)))
        json_object_set_new(o, "peers", sl__def_peers_from_env(v));
    if ((v = sl__def_env("SLUICE_CURVE_SECRET_KEY")) && (o = sl__child_obj(root, "cluster", 1))) {
        json_object_del(o, "secret_key_file");
        json_object_set_new(o, "secret_key", json_string(v));
    }
    if ((v = sl__def_env("SLUICE_CURVE_SECRET_KEY_FILE")) &&
        (o = sl__child_obj(root, "cluster", 1))) {
        json_object_del(o, "secret_key");
        json_object_set_new(o, "secret_key_file", json_string(v));
    }
    /* The checkpoint directory only matters when checkpoints are on; the
     * override never turns them on by itself (see sl__parse_checkpoint). */
    if ((v = sl__def_env("SLUICE_CHECKPOINT_DIR")) && (o = sl__child_obj(root, "checkpoint", 0)))
        json_object_set_new(o, "dir", json_string(v));
    if ((v = sl__def_env("SLUICE_HTTP_ADDR")) && (o = sl__child_obj(root, "http", 1)))
        json_object_set_new(o, "addr", json_string(v));
    if ((v = sl__def_env("SLUICE_HTTP_TOKEN")) && (o = sl__child_obj(root, "http", 1)))
        json_object_set_new(o, "token", json_string(v));
    if ((v = sl__def_env("SLUICE_BOOTSTRAP"))) {
        static const char *const conns[] = {"source", "sink", "dead_letter"};
        for (size_t i = 0; i < SL_ARRAY_LEN(conns); i++) {
            json_t *c = sl__child_obj(root, conns[i], 0);
            const char *type = c ? json_string_value(json_object_get(c, "type")) : NULL;
            if (!type || strcmp(type, "kafka") != 0)
                continue;
            json_t *props = sl__child_obj(c, "properties", 1);
            if (props)
                json_object_set_new(props, "bootstrap.servers", json_string(v));
        }
    }
}
