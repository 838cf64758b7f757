/*
 * json_scan.c - the projection-only JSON scanner (see json_scan.h).
 *
 * Design notes
 * ------------
 * 1. One forward pass, no tokens stored: each member name is scanned,
 *    matched against the wanted names (length + first 8 bytes as one
 *    64-bit compare, then the rest), and its value is either read (type,
 *    span, exact int64) or skipped with full validation.
 * 2. Every read is bounds-checked against `end`; the 16-byte SSE2 string
 *    loop runs only while 16 bytes remain, the tail is scalar.
 * 3. Validation is the same whether a value is wanted or skipped, so the
 *    verdict (well-formed or not) never depends on the projection.
 *    tests/fuzz/fuzz_json_scan.c checks verdicts and values against jansson.
 * 4. Nested objects/arrays are skipped iteratively with a bit stack (no
 *    recursion), up to SL_JSON_MAX_DEPTH levels.
 */
#include "json_scan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct sl_json_fields {
    size_t n;
    struct {
        const char *name;
        uint32_t len;
        uint64_t head; /* first min(8, len) bytes, little-endian, zero padded */
    } f[SL_JSON_MAX_FIELDS];
    char *storage;
};

/* ---- character classes ----------------------------------------------- */

/* 1: JSON whitespace. */
static const uint8_t sl__ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* Bytes that end a run of plain string content: '"', '\\', controls and
 * non-ASCII (validated separately). */
static inline int sl__str_special(uint8_t c)
{
    return c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
}

static inline int sl__hexval(uint8_t c)
{
    if ((unsigned)(c - '0') < 10)
        return c - '0';
    c |= 0x20;
    if ((unsigned)(c - 'a') < 6)
        return c - 'a' + 10;
    return -1;
}

static inline const char *sl__skip_ws(const char *p, const char *end)
{
    while (p < end && sl__ws[(uint8_t)*p])
        p++;
    return p;
}

/* ---- strings ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static int sl__utf8_seq(const uint8_t *p, const uint8_t *end)
{
    unsigned c = p[0], c1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return (end - p >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (end - p < 3)
            return 0;
        c1 = p[1];
        if ((c1 & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (end - p < 4)
            return 0;
        c1 = p[1];
        if ((c1 & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
            return 0; /* overlong, or above U+10FFFF */
        return 4;
    }
    return 0;
}

size_t sl_utf8_valid_prefix(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int k = sl__utf8_seq(p, end);
        if (!k)
            break;
        p += k;
    }
    return (size_t)(p - (const uint8_t *)s);
}

/* Four hex digits at p (4 bytes available), or -1. */
static inline int32_t sl__hex4(const char *p)
{
    int a = sl__hexval((uint8_t)p[0]), b = sl__hexval((uint8_t)p[1]), c = sl__hexval((uint8_t)p[2]),
        d = sl__hexval((uint8_t)p[3]);
    if ((a | b | c | d) < 0)
        return -1;
    return (a << 12) | (b << 8) | (c << 4) | d;
}

/* Validates one escape at p (p[0] == '\\'); returns the byte after it and
 * the code point in *cp (-1 for single-character escapes), or NULL. */
static const char *sl__escape(const char *p, const char *end, int32_t *cp)
{
    if (end - p < 2)
        return NULL;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *cp = -1;
        return p + 2;
    case 'u':
        break;
    default:
        return NULL;
    }
    if (end - p < 6)
        return NULL;
    int32_t u = sl__hex4(p + 2);
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return NULL;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
            return NULL;
        int32_t lo = sl__hex4(p + 8);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
        *cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        return p + 12;
    }
    *cp = u;
    return p + 6;
}

#define SL__INLINE static inline __attribute__((always_inline))

/* Scans string content starting after the opening quote; returns the byte
 * after the closing quote, or NULL if malformed. Sets *escaped if a
 * backslash occurs. */
static __attribute__((noinline)) const char *sl__scan_string_slow(const char *p, const char *end,
                                                                  int *escaped)
{
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                      space = _mm_set1_epi8(0x20);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            /* signed compare: bytes >= 0x80 are negative, so < 0x20 catches
             * controls and non-ASCII at once */
            __m128i m =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            if (mask) {
                p += __builtin_ctz(mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && !sl__str_special((uint8_t)*p))
            p++;
        if (p >= end)
            return NULL;
#if defined(__SSE2__)
    special:
#endif
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            int32_t cp;
            p = sl__escape(p, end, &cp);
            if (!p)
                return NULL;
            *escaped = 1;
            continue;
        }
        if ((uint8_t)*p < 0x20)
            return NULL;
        int n = sl__utf8_seq((const uint8_t *)p, (const uint8_t *)end);
        if (!n)
            return NULL;
        p += n;
    }
}

#if defined(__SSE2__)
/* Bit i set when byte i of the 16 at p is '"', '\\', a control or non-ASCII. */
static inline unsigned sl__special16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The common case inline: the closing quote within the next 16 bytes and
 * nothing special before it. `lo` is the lowest readable address: near the
 * end of the buffer the 16 bytes that end at `end` are examined instead. */
SL__INLINE const char *sl__scan_string(const char *p, const char *end, const char *lo, int *escaped)
{
#if defined(__SSE2__)
    unsigned mask;
    if (SL_LIKELY(end - p >= 16)) {
        mask = sl__special16(p);
        if (SL_UNLIKELY(!mask))
            return sl__scan_string_slow(p + 16, end, escaped);
    } else if (end - lo >= 16 && p < end) {
        mask = sl__special16(end - 16) >> (16 - (end - p));
        if (SL_UNLIKELY(!mask))
            return NULL; /* no closing quote before the end */
    } else {
        return sl__scan_string_slow(p, end, escaped);
    }
    const char *q = p + __builtin_ctz(mask);
    if (SL_LIKELY(*q == '"'))
        return q + 1;
    return sl__scan_string_slow(q, end, escaped);
#else
    (void)lo;
    return sl__scan_string_slow(p, end, escaped);
#endif
}

/* ---- numbers and scalars ------------------------------------------------ */

/* Value of eight ASCII digits loaded little-endian (first digit in the
 * low byte): pairs, then quads, then the octet, by multiply-and-shift. */
static inline uint64_t sl__eight_digits(uint64_t w)
{
    w -= 0x3030303030303030ULL;
    w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFULL;   /* 2-digit pairs */
    w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFULL; /* 4-digit quads */
    return (w * 10000 + (w >> 32)) & 0xFFFFFFFFULL;    /* 8 digits */
}

/* Validates a number at p (p < end, *p is '-' or a digit) and fills v.
 * Returns the byte after it or NULL. */
SL__INLINE const char *sl__scan_number(const char *p, const char *end, sl_json_val *v)
{
    const char *start = p;
    int neg = 0, isint = 1;
    uint64_t u = 0;
    unsigned nd = 0;
    if (*p == '-') {
        neg = 1;
        if (++p >= end)
            return NULL;
    }
    if (*p == '0') {
        p++;
    } else if ((unsigned)(*p - '1') < 9) {
        /* eight digits at a time while they fit in the 19 exact ones */
        while (end - p >= 8 && nd <= 11) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (((w & 0xF0F0F0F0F0F0F0F0ULL) |
                 (((w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) !=
                0x3333333333333333ULL)
                break;
            u = u * 100000000ULL + sl__eight_digits(w);
            nd += 8;
            p += 8;
        }
        while (p < end) {
            unsigned d = (unsigned)(uint8_t)*p - '0';
            if (d > 9)
                break;
            if (nd < 19)
                u = u * 10 + d;
            nd++;
            p++;
        }
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || (unsigned)(*p - '0') > 9)
            return NULL;
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
        isint = 0;
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || (unsigned)(*p - '0') > 9)
            return NULL;
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
        isint = 0;
    }
    v->raw = start;
    v->len = (uint32_t)(p - start);
    v->escaped = 0;
    if (isint && nd <= 19 && u <= (neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1)) {
        v->type = SL_T_INT;
        v->i = neg ? (u == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
    } else {
        v->type = SL_T_DOUBLE;
    }
    return p;
}

static const char *sl__skip_nested(const char *p, const char *end);

/* Reads any value at p (p < end) into v. Returns the byte after it, or
 * NULL if malformed. */
SL__INLINE const char *sl__read_value(const char *p, const char *end, const char *lo,
                                      sl_json_val *v)
{
    const char *q;
    int esc = 0;
    switch (*p) {
    case '"':
        q = sl__scan_string(p + 1, end, lo, &esc);
        if (!q)
            return NULL;
        v->type = SL_T_STRING;
        v->raw = p + 1;
        v->len = (uint32_t)(q - 1 - (p + 1));
        v->escaped = (uint8_t)esc;
        return q;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return sl__scan_number(p, end, v);
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return NULL;
        v->type = SL_T_BOOL;
        v->i = 1;
        v->len = 4;
        break;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return NULL;
        v->type = SL_T_BOOL;
        v->i = 0;
        v->len = 5;
        break;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return NULL;
        v->type = SL_T_NULL;
        v->len = 4;
        break;
    case '{':
    case '[':
        q = sl__skip_nested(p, end);
        if (!q)
            return NULL;
        v->type = SL_T_OTHER;
        v->raw = p;
        v->len = (uint32_t)(q - p);
        v->escaped = 0;
        return q;
    default:
        return NULL;
    }
    v->raw = p;
    v->escaped = 0;
    return p + v->len;
}

/* Skips the object or array at p (*p is '{' or '['), validating it.
 * Iterative: a bit per level says object (1) or array (0). */
static const char *sl__skip_nested(const char *p, const char *end)
{
    const char *lo = p;
    uint64_t kinds[SL_JSON_MAX_DEPTH / 64] = {0};
    int depth = 0, is_obj, esc;
    sl_json_val scalar;

open:
    if (depth >= SL_JSON_MAX_DEPTH)
        return NULL;
    is_obj = *p == '{';
    if (is_obj)
        kinds[depth >> 6] |= (uint64_t)1 << (depth & 63);
    else
        kinds[depth >> 6] &= ~((uint64_t)1 << (depth & 63));
    depth++;
    p = sl__skip_ws(p + 1, end);
    if (p >= end)
        return NULL;
    if (*p == (is_obj ? '}' : ']')) {
        p++;
        goto close;
    }
element:
    if (is_obj) {
        if (*p != '"')
            return NULL;
        esc = 0;
        p = sl__scan_string(p + 1, end, lo, &esc);
        if (!p)
            return NULL;
        p = sl__skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = sl__skip_ws(p + 1, end);
        if (p >= end)
            return NULL;
    }
    if (*p == '{' || *p == '[')
        goto open;
    p = sl__read_value(p, end, lo, &scalar);
    if (!p)
        return NULL;
after:
    p = sl__skip_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == ',') {
        p = sl__skip_ws(p + 1, end);
        if (p >= end)
            return NULL;
        goto element;
    }
    if (*p != (is_obj ? '}' : ']'))
        return NULL;
    p++;
close:
    depth--;
    if (depth == 0)
        return p;
    is_obj = (int)((kinds[(depth - 1) >> 6] >> ((depth - 1) & 63)) & 1);
    goto after;
}

/* ---- field matching ------------------------------------------------------ */

static inline uint64_t sl__head(const char *s, size_t len, const char *end)
{
    uint64_t h = 0;
    if (len >= 8) {
        memcpy(&h, s, 8);
    } else if (end - s >= 8) {
        memcpy(&h, s, 8);
        h &= ((uint64_t)1 << (len * 8)) - 1;
    } else {
        memcpy(&h, s, len);
    }
    return h;
}

/* Encodes code point cp as UTF-8 into out; returns the length. */
static inline size_t sl__utf8_put(int32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one unit of validated string content at p: writes 1..4 bytes to
 * out, returns the byte after the unit. */
static inline const char *sl__decode_unit(const char *p, const char *end, char *out, size_t *n)
{
    if (*p != '\\') {
        out[0] = *p;
        *n = 1;
        return p + 1;
    }
    int32_t cp;
    const char *q = sl__escape(p, end, &cp);
    if (cp >= 0) {
        *n = sl__utf8_put(cp, out);
        return q;
    }
    switch (p[1]) {
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    default:
        out[0] = p[1]; /* " \ / */
        break;
    }
    *n = 1;
    return q;
}

/* Whether escaped string content raw[0..len) decodes to name[0..nlen). */
static int sl__escaped_equals(const char *raw, size_t len, const char *name, size_t nlen)
{
    const char *p = raw, *end = raw + len;
    size_t at = 0;
    char u[4];
    while (p < end) {
        size_t n;
        p = sl__decode_unit(p, end, u, &n);
        if (at + n > nlen || memcmp(name + at, u, n) != 0)
            return 0;
        at += n;
    }
    return at == nlen;
}

static inline int sl__match(const sl_json_fields *f, const char *key, size_t klen, int escaped,
                            const char *end)
{
    if (SL_UNLIKELY(escaped)) {
        for (size_t i = 0; i < f->n; i++)
            if (sl__escaped_equals(key, klen, f->f[i].name, f->f[i].len))
                return (int)i;
        return -1;
    }
    uint64_t h = sl__head(key, klen, end);
    for (size_t i = 0; i < f->n; i++) {
        if (f->f[i].len == klen && f->f[i].head == h &&
            (klen <= 8 || memcmp(key + 8, f->f[i].name + 8, klen - 8) == 0))
            return (int)i;
    }
    return -1;
}

sl_json_fields *sl_json_fields_new(const char *const *names, size_t n)
{
    if (n > SL_JSON_MAX_FIELDS)
        return NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += strlen(names[i]) + 8; /* padding so heads can be read */
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return NULL;
    }
    sl_json_fields *f = calloc(1, sizeof(*f));
    char *s = calloc(1, total + 1);
    if (!f || !s) {
        free(f);
        free(s);
        return NULL;
    }
    f->n = n;
    f->storage = s;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        memcpy(s, names[i], len);
        f->f[i].name = s;
        f->f[i].len = (uint32_t)len;
        f->f[i].head = sl__head(s, len, s + len + 8);
        s += len + 8;
    }
    return f;
}

void sl_json_fields_free(sl_json_fields *f)
{
    if (!f)
        return;
    free(f->storage);
    free(f);
}

size_t sl_json_fields_count(const sl_json_fields *f)
{
    return f->n;
}

/* ---- the scan ------------------------------------------------------------ */

int sl_json_scan(const sl_json_fields *f, const char *buf, size_t len, sl_json_val *out)
{
    const char *p = buf, *end = buf + len;
    for (size_t i = 0; i < f->n; i++) {
        out[i].type = SL_T_MISSING;
        out[i].raw = NULL;
        out[i].len = 0;
    }
    p = sl__skip_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    p = sl__skip_ws(p + 1, end);
    if (p >= end)
        return -1;
    if (*p == '}') {
        p++;
        goto tail;
    }
    for (;;) {
        if (*p != '"')
            return -1;
        const char *key = p + 1;
        int esc = 0;
        p = sl__scan_string(key, end, buf, &esc);
        if (!p)
            return -1;
        size_t klen = (size_t)(p - 1 - key);
        int idx = sl__match(f, key, klen, esc, end);
        if (SL_LIKELY(p < end && *p == ':'))
            p++;
        else {
            p = sl__skip_ws(p, end);
            if (p >= end || *p != ':')
                return -1;
            p++;
        }
        if (SL_UNLIKELY(p < end && sl__ws[(uint8_t)*p]))
            p = sl__skip_ws(p, end);
        if (p >= end)
            return -1;
        sl_json_val skipped;
        p = sl__read_value(p, end, buf, idx >= 0 ? &out[idx] : &skipped);
        if (!p)
            return -1;
        if (SL_UNLIKELY(p < end && sl__ws[(uint8_t)*p]))
            p = sl__skip_ws(p, end);
        if (p >= end)
            return -1;
        if (*p == ',') {
            p++;
            if (SL_UNLIKELY(p < end && sl__ws[(uint8_t)*p]))
                p = sl__skip_ws(p, end);
            if (p >= end)
                return -1;
            continue;
        }
        if (*p != '}')
            return -1;
        p++;
        break;
    }
tail:
    p = sl__skip_ws(p, end);
    return p == end ? 0 : -1;
}

/* ---- member iteration ---------------------------------------------------- */

int sl_json_iter_init(sl_json_iter *it, const char *buf, size_t len)
{
    const char *end = buf + len;
    const char *p = sl__skip_ws(buf, end);
    it->end = end;
    it->state = 2;
    if (p >= end || *p != '{')
        return -1;
    it->p = p + 1;
    it->state = 0;
    return 0;
}

int sl_json_iter_next(sl_json_iter *it, sl_json_val *key, sl_json_val *val)
{
    const char *p = sl__skip_ws(it->p, it->end), *end = it->end;
    if (it->state == 2 || p >= end)
        return -1;
    if (*p == '}' || it->state == 1) {
        if (*p == '}') {
            p = sl__skip_ws(p + 1, end);
            it->state = 2;
            it->p = p;
            return p == end ? 0 : -1;
        }
        if (*p != ',')
            return -1;
        p = sl__skip_ws(p + 1, end);
        if (p >= end)
            return -1;
    }
    if (*p != '"')
        return -1;
    p = sl__read_value(p, end, p, key);
    if (!p)
        return -1;
    p = sl__skip_ws(p, end);
    if (p >= end || *p != ':')
        return -1;
    p = sl__skip_ws(p + 1, end);
    if (p >= end)
        return -1;
    p = sl__read_value(p, end, p, val);
    if (!p)
        return -1;
    it->p = p;
    it->state = 1;
    return 1;
}

int sl_json_array_at(const char *buf, size_t len, size_t index, sl_json_val *out)
{
    const char *p = buf, *end = buf + len;
    out->type = SL_T_MISSING;
    out->raw = NULL;
    out->len = 0;
    p = sl__skip_ws(p, end);
    if (p >= end || *p != '[')
        return -1;
    p = sl__skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return 0;
    for (size_t i = 0;; i++) {
        sl_json_val v;
        if (p >= end || !(p = sl__read_value(p, end, buf, &v)))
            return -1;
        if (i == index) {
            *out = v;
            return 0;
        }
        p = sl__skip_ws(p, end);
        if (p >= end)
            return -1;
        if (*p == ']')
            return 0;
        if (*p != ',')
            return -1;
        p = sl__skip_ws(p + 1, end);
    }
}

/* ---- string content -------------------------------------------------------- */

/* Decodes validated string content (json_scan.h). */
size_t sl_json_unescape(const char *raw, size_t len, char *out)
{
    const char *p = raw, *end = raw + len;
    char *o = out;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
            break;
        }
        memcpy(o, p, (size_t)(bs - p));
        o += bs - p;
        size_t n;
        p = sl__decode_unit(bs, end, o, &n);
        o += n;
    }
    return (size_t)(o - out);
}
