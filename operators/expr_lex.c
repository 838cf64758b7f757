/*
 * expr_lex.c - the lexer of the expression language (tokens, keywords,
 * numbers, 'strings' and "quoted identifiers" with doubled quotes) and
 * the compile-time error messages: "L:C: what", the line, a caret under
 * the column (columns count characters, not bytes).
 */
#include "expr_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const sl__xkw_names[] = {
    "",     "AND",    "OR",   "NOT",  "IN",   "IS",   "NULL", "TRUE", "FALSE", "BETWEEN",
    "LIKE", "ESCAPE", "CASE", "WHEN", "THEN", "ELSE", "END",  "CAST", "AS",
};

/* ---- errors ----------------------------------------------------------- */

int sl__xerror(sl__xtree *t, uint32_t pos, const char *fmt, ...)
{
    if (t->failed)
        return -1;
    t->failed = 1;
    if (!t->err || !t->errsz)
        return -1;
    if (pos > t->textlen)
        pos = (uint32_t)t->textlen;
    size_t line = 1, start = 0;
    for (size_t i = 0; i < pos; i++)
        if (t->text[i] == '\n') {
            line++;
            start = i + 1;
        }
    size_t col = 1; /* in characters: UTF-8 continuation bytes do not count */
    for (size_t i = start; i < pos; i++)
        if (((unsigned char)t->text[i] & 0xC0) != 0x80)
            col++;
    size_t end = start;
    while (end < t->textlen && t->text[end] != '\n')
        end++;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int n = snprintf(t->err, t->errsz, "%zu:%zu: %s\n%.*s\n", line, col, msg, (int)(end - start),
                     t->text + start);
    if (n < 0 || (size_t)n >= t->errsz)
        return -1;
    /* the caret line: tabs kept so the caret lines up */
    size_t o = (size_t)n;
    for (size_t i = start; i < pos && o + 2 < t->errsz; i++)
        if (((unsigned char)t->text[i] & 0xC0) != 0x80)
            t->err[o++] = t->text[i] == '\t' ? '\t' : ' ';
    if (o + 1 < t->errsz)
        t->err[o++] = '^';
    t->err[o] = '\0';
    return -1;
}

void *sl__xown(sl__xtree *t, void *p)
{
    if (!p) {
        sl__xerror(t, 0, "out of memory");
        return NULL;
    }
    if (t->nowned == t->capowned) {
        size_t cap = t->capowned ? 2 * t->capowned : 16;
        void **o = realloc(t->owned, cap * sizeof(*o));
        if (!o) {
            free(p);
            sl__xerror(t, 0, "out of memory");
            return NULL;
        }
        t->owned = o;
        t->capowned = cap;
    }
    t->owned[t->nowned++] = p;
    return p;
}

char *sl__xstrdup(sl__xtree *t, const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return sl__xown(t, p);
}

/* ---- lexer ------------------------------------------------------------ */

static int sl__xident_char(int c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* Describes the current token for messages. */
void sl__xdescribe(const sl__xlex *l, char *out, size_t n)
{
    if (l->tok == SL__XT_EOF)
        snprintf(out, n, "end of text");
    else
        snprintf(out, n, "\"%.*s\"", (int)(l->len > 40 ? 40 : l->len), l->t->text + l->pos);
}

/* Scans the next token. Returns 0 or -1 (error written). */
int sl__xnext(sl__xlex *l)
{
    const char *s = l->t->text;
    size_t n = l->t->textlen, i = l->at;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    l->pos = i;
    l->kw = SL__XK_NONE;
    l->is_2p63 = 0;
    if (i >= n) {
        l->tok = SL__XT_EOF;
        l->len = 0;
        l->at = i;
        return 0;
    }
    unsigned char c = (unsigned char)s[i];
    if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
        size_t j = i;
        int dbl = 0;
        while (j < n && isdigit((unsigned char)s[j]))
            j++;
        if (j < n && s[j] == '.') {
            dbl = 1;
            j++;
            while (j < n && isdigit((unsigned char)s[j]))
                j++;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (s[k] == '+' || s[k] == '-'))
                k++;
            if (k < n && isdigit((unsigned char)s[k])) {
                dbl = 1;
                j = k;
                while (j < n && isdigit((unsigned char)s[j]))
                    j++;
            }
        }
        l->len = j - i;
        l->at = j;
        if (j < n && (sl__xident_char((unsigned char)s[j]) || s[j] == '.'))
            return sl__xerror(l->t, (uint32_t)i, "invalid number \"%.*s\"",
                              (int)(j - i + 1 > 40 ? 40 : j - i + 1), s + i);
        if (!dbl) {
            uint64_t v = 0;
            int over = 0;
            for (size_t k = i; k < j; k++)
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t)(s[k] - '0'), &v))
                    over = 1;
            if (!over && v <= (uint64_t)INT64_MAX) {
                l->tok = SL__XT_INT;
                l->i = (int64_t)v;
                return 0;
            }
            l->is_2p63 = !over && v == (uint64_t)INT64_MAX + 1;
        }
        char buf[400];
        if (j - i >= sizeof(buf))
            return sl__xerror(l->t, (uint32_t)i, "number too long");
        memcpy(buf, s + i, j - i);
        buf[j - i] = '\0';
        l->tok = SL__XT_DOUBLE;
        l->d = strtod(buf, NULL);
        return 0;
    }
    if (c == '\'' || c == '"') {
        size_t j = i + 1;
        for (;;) {
            if (j >= n)
                return sl__xerror(l->t, (uint32_t)i,
                                  c == '\'' ? "unterminated string"
                                            : "unterminated quoted identifier");
            if ((unsigned char)s[j] == c) {
                if (j + 1 < n && (unsigned char)s[j + 1] == c) {
                    j += 2;
                    continue;
                }
                break;
            }
            j++;
        }
        l->tok = c == '\'' ? SL__XT_STR : SL__XT_QIDENT;
        l->len = j + 1 - i;
        l->at = j + 1;
        if (c == '"' && l->len == 2)
            return sl__xerror(l->t, (uint32_t)i, "empty quoted identifier");
        return 0;
    }
    if (sl__xident_char(c)) {
        size_t j = i;
        while (j < n && sl__xident_char((unsigned char)s[j]))
            j++;
        l->tok = SL__XT_IDENT;
        l->len = j - i;
        l->at = j;
        for (size_t k = 1; k < SL_ARRAY_LEN(sl__xkw_names); k++)
            if (strlen(sl__xkw_names[k]) == l->len &&
                strncasecmp(sl__xkw_names[k], s + i, l->len) == 0)
                l->kw = (sl__xkw)k;
        return 0;
    }
    static const char *const two[] = {"||", "<>", "!=", "<=", ">="};
    for (size_t k = 0; k < SL_ARRAY_LEN(two); k++)
        if (i + 1 < n && s[i] == two[k][0] && s[i + 1] == two[k][1]) {
            l->tok = SL__XT_PUNCT;
            l->len = 2;
            l->at = i + 2;
            return 0;
        }
    if (strchr("()[],.+-*/%=<>", c) && c) {
        l->tok = SL__XT_PUNCT;
        l->len = 1;
        l->at = i + 1;
        return 0;
    }
    if (c < 0x20 || c == 0x7f)
        return sl__xerror(l->t, (uint32_t)i, "unexpected character 0x%02x", c);
    return sl__xerror(l->t, (uint32_t)i, "unexpected character \"%c\"", c);
}

int sl__xpunct(const sl__xlex *l, const char *p)
{
    return l->tok == SL__XT_PUNCT && l->len == strlen(p) &&
           memcmp(l->t->text + l->pos, p, l->len) == 0;
}

int sl__xexpect(sl__xlex *l, const char *p)
{
    if (!sl__xpunct(l, p)) {
        char got[64];
        sl__xdescribe(l, got, sizeof(got));
        return sl__xerror(l->t, (uint32_t)l->pos, "expected \"%s\", got %s", p, got);
    }
    return sl__xnext(l);
}

int sl__xexpect_kw(sl__xlex *l, sl__xkw kw)
{
    if (l->tok != SL__XT_IDENT || l->kw != kw) {
        char got[64];
        sl__xdescribe(l, got, sizeof(got));
        return sl__xerror(l->t, (uint32_t)l->pos, "expected %s, got %s", sl__xkw_names[kw], got);
    }
    return sl__xnext(l);
}

int sl__xat_kw(const sl__xlex *l, sl__xkw kw)
{
    return l->tok == SL__XT_IDENT && l->kw == kw;
}
