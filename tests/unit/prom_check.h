/*
 * prom_check.h - a strict parser of the Prometheus text exposition format
 * 0.0.4, for tests (header-only; used by test_metrics.c and test_http.c).
 *
 * Every line must be a comment ("# HELP name text", "# TYPE name type" or
 * another "# ..." comment) or a sample `name{label="value",...} value
 * [timestamp]`. Also checked: TYPE at most once per family and before its
 * samples; each sample belongs to a declared family (histograms: _bucket,
 * _sum, _count, buckets with an `le` label); label names valid and not
 * repeated in a sample; escapes in label values are only \\ \" \n; every
 * line ends with '\n'.
 */
#ifndef SL_TEST_PROM_CHECK_H
#define SL_TEST_PROM_CHECK_H

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_MAX_LABELS   8
#define PROM_MAX_FAMILIES 256

typedef struct prom_sample {
    char name[128];
    int nlabels;
    char lname[PROM_MAX_LABELS][64];
    char lval[PROM_MAX_LABELS][512]; /* unescaped */
    double value;
} prom_sample;

typedef int (*prom_sample_fn)(const prom_sample *s, void *arg);

static int prom__name_char(char c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return 1;
    return !first && c >= '0' && c <= '9';
}

/* Reads a name at *p into out; returns its length (0 = none). */
static size_t prom__name(const char **p, char *out, size_t size, int colon)
{
    size_t n = 0;
    while (prom__name_char((*p)[n], n == 0, colon))
        n++;
    if (n == 0 || n >= size)
        return 0;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return n;
}

static int prom__value(const char *s, size_t n, double *v)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "Inf")) {
        *v = INFINITY;
        return 1;
    }
    if (!strcmp(tmp, "-Inf")) {
        *v = -INFINITY;
        return 1;
    }
    if (!strcmp(tmp, "NaN")) {
        *v = NAN;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", tmp[i]))
            return 0;
    char *end;
    *v = strtod(tmp, &end);
    return *end == '\0';
}

typedef struct prom__family {
    char name[128];
    char type[16];
    int seen_sample;
} prom__family;

/* Parses `text`. Calls fn (if not NULL) for each sample; a non-zero return
 * from fn stops with that value. Returns 0 when valid, else -1 with a
 * message naming the line in err. */
static int prom_parse(const char *text, prom_sample_fn fn, void *arg, char *err, size_t errsz)
{
    prom__family fams[PROM_MAX_FAMILIES];
    int nfams = 0;
    int lineno = 0;
    const char *line = text;
#define PROM_FAIL(...)                                                                             \
    do {                                                                                           \
        char m_[160];                                                                              \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                                     \
        snprintf(err, errsz, "line %d: %s", lineno, m_);                                           \
        return -1;                                                                                 \
    } while (0)
    while (*line) {
        lineno++;
        const char *eol = strchr(line, '\n');
        if (!eol)
            PROM_FAIL("no final newline");
        size_t len = (size_t)(eol - line);
        if (len == 0) {
            line = eol + 1;
            continue;
        }
        if (line[0] == '#') {
            const char *p = line + 1;
            int help = len >= 7 && !strncmp(line, "# HELP ", 7);
            int type = len >= 7 && !strncmp(line, "# TYPE ", 7);
            if (help || type) {
                char name[128];
                p = line + 7;
                if (!prom__name(&p, name, sizeof(name), 1))
                    PROM_FAIL("bad metric name in comment");
                if (help) {
                    if (p < eol && *p != ' ')
                        PROM_FAIL("bad HELP line");
                    for (const char *q = p; q < eol; q++)
                        if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                            PROM_FAIL("bad escape in HELP");
                        else if (*q == '\\')
                            q++;
                } else {
                    if (*p != ' ')
                        PROM_FAIL("bad TYPE line");
                    p++;
                    size_t tl = (size_t)(eol - p);
                    const char *types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
                    int ok = 0;
                    for (size_t i = 0; i < 5; i++)
                        ok |= tl == strlen(types[i]) && !strncmp(p, types[i], tl);
                    if (!ok)
                        PROM_FAIL("unknown type");
                    for (int i = 0; i < nfams; i++)
                        if (!strcmp(fams[i].name, name))
                            PROM_FAIL("second TYPE for %s", name);
                    if (nfams == PROM_MAX_FAMILIES)
                        PROM_FAIL("too many families");
                    snprintf(fams[nfams].name, sizeof(fams[nfams].name), "%s", name);
                    snprintf(fams[nfams].type, sizeof(fams[nfams].type), "%.*s", (int)tl, p);
                    fams[nfams].seen_sample = 0;
                    nfams++;
                }
            }
            (void)p;
            line = eol + 1;
            continue;
        }

        prom_sample s;
        memset(&s, 0, sizeof(s));
        const char *p = line;
        if (!prom__name(&p, s.name, sizeof(s.name), 1))
            PROM_FAIL("bad sample name");
        if (*p == '{') {
            p++;
            while (*p != '}') {
                if (s.nlabels == PROM_MAX_LABELS)
                    PROM_FAIL("too many labels");
                char *ln = s.lname[s.nlabels], *lv = s.lval[s.nlabels];
                if (!prom__name(&p, ln, sizeof(s.lname[0]), 0))
                    PROM_FAIL("bad label name");
                for (int i = 0; i < s.nlabels; i++)
                    if (!strcmp(s.lname[i], ln))
                        PROM_FAIL("repeated label %s", ln);
                if (p[0] != '=' || p[1] != '"')
                    PROM_FAIL("expected =\" after label");
                p += 2;
                size_t n = 0;
                while (*p != '"') {
                    if (p >= eol)
                        PROM_FAIL("unterminated label value");
                    char c = *p++;
                    if (c == '\\') {
                        c = *p++;
                        if (c == 'n')
                            c = '\n';
                        else if (c != '\\' && c != '"')
                            PROM_FAIL("bad escape in label value");
                    }
                    if (n + 1 >= sizeof(s.lval[0]))
                        PROM_FAIL("label value too long");
                    lv[n++] = c;
                }
                lv[n] = '\0';
                p++;
                s.nlabels++;
                if (*p == ',')
                    p++;
                else if (*p != '}')
                    PROM_FAIL("expected , or }");
            }
            p++;
        }
        if (*p != ' ')
            PROM_FAIL("expected a space before the value");
        p++;
        const char *vend = p;
        while (vend < eol && *vend != ' ')
            vend++;
        if (!prom__value(p, (size_t)(vend - p), &s.value))
            PROM_FAIL("bad value \"%.*s\"", (int)(vend - p), p);
        if (vend < eol) { /* optional integer timestamp */
            const char *t = vend + 1;
            if (t < eol && *t == '-')
                t++;
            if (t == eol)
                PROM_FAIL("empty timestamp");
            for (; t < eol; t++)
                if (!isdigit((unsigned char)*t))
                    PROM_FAIL("bad timestamp");
        }
        /* family membership */
        prom__family *fam = NULL;
        for (int i = 0; i < nfams && !fam; i++) {
            size_t fl = strlen(fams[i].name);
            if (!strcmp(fams[i].name, s.name)) {
                fam = &fams[i];
                if (!strcmp(fam->type, "histogram"))
                    PROM_FAIL("bare histogram sample %s", s.name);
            } else if (!strncmp(fams[i].name, s.name, fl) &&
                       (!strcmp(fams[i].type, "histogram") || !strcmp(fams[i].type, "summary"))) {
                const char *suf = s.name + fl;
                if (!strcmp(suf, "_sum") || !strcmp(suf, "_count"))
                    fam = &fams[i];
                else if (!strcmp(suf, "_bucket") && !strcmp(fams[i].type, "histogram")) {
                    fam = &fams[i];
                    int le = 0;
                    for (int j = 0; j < s.nlabels; j++)
                        le |= !strcmp(s.lname[j], "le");
                    if (!le)
                        PROM_FAIL("bucket without le");
                }
            }
        }
        if (!fam)
            PROM_FAIL("sample %s has no TYPE", s.name);
        if (!strcmp(fam->type, "counter") && !(s.value >= 0))
            PROM_FAIL("negative counter %s", s.name);
        fam->seen_sample = 1;
        if (fn) {
            int rc = fn(&s, arg);
            if (rc)
                return rc;
        }
        line = eol + 1;
    }
#undef PROM_FAIL
    return 0;
}

/* Label value by name, or NULL. */
static inline const char *prom_label(const prom_sample *s, const char *name)
{
    for (int i = 0; i < s->nlabels; i++)
        if (!strcmp(s->lname[i], name))
            return s->lval[i];
    return NULL;
}

#endif
