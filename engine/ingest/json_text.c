/*
 * json_text.c - JSON value text helpers declared in json_scan.h: number
 * text to double (Clinger's fast path, strtod otherwise), canonical string
 * escaping, minifying, and the canonical text of doubles and integers.
 * The scanner itself and string unescaping are in json_scan.c.
 */
#include "json_scan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double sl__pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* JSON number text -> nearest double (json_scan.h). */
double sl_json_to_double(const char *raw, size_t len)
{
    const char *p = raw, *end = raw + len;
    int neg = 0, exact = 1;
    uint64_t m = 0;
    long e10 = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    for (; p < end && (unsigned)(*p - '0') <= 9; p++) {
        if (m > (((uint64_t)1 << 53) - 9) / 10) {
            exact = 0;
            break;
        }
        m = m * 10 + (unsigned)(*p - '0');
    }
    if (exact && p < end && *p == '.') {
        for (p++; p < end && (unsigned)(*p - '0') <= 9; p++) {
            if (m > (((uint64_t)1 << 53) - 9) / 10) {
                exact = 0;
                break;
            }
            m = m * 10 + (unsigned)(*p - '0');
            e10--;
        }
    }
    if (exact && p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        long ev = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; p < end && (unsigned)(*p - '0') <= 9; p++)
            if (ev < 100000)
                ev = ev * 10 + (*p - '0');
        e10 += eneg ? -ev : ev;
    }
    if (exact && p == end && e10 >= -22 && e10 <= 22) {
        /* Clinger's fast path: m and 10^|e| are exact doubles, so one
         * correctly rounded operation gives the correctly rounded result. */
        double d = (double)m;
        d = e10 >= 0 ? d * sl__pow10[e10] : d / sl__pow10[-e10];
        return neg ? -d : d;
    }
    char small[128];
    char *tmp = len < sizeof(small) ? small : malloc(len + 1);
    if (!tmp)
        return NAN;
    memcpy(tmp, raw, len);
    tmp[len] = '\0';
    double d = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    return d;
}

/* Canonical JSON string content (json_scan.h). */
size_t sl_json_escape(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            break;
        }
    }
    return (size_t)(o - out);
}

/* A validated value without insignificant whitespace (json_scan.h). */
size_t sl_json_minify(const char *raw, size_t len, char *out)
{
    char *o = out;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (in_str) {
            *o++ = c;
            if (c == '\\' && i + 1 < len)
                *o++ = raw[++i];
            else if (c == '"')
                in_str = 0;
        } else if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            *o++ = c;
            if (c == '"')
                in_str = 1;
        }
    }
    return (size_t)(o - out);
}

/* Canonical text of a double (json_scan.h). */
size_t sl_json_format_double(double d, char *out)
{
    if (!isfinite(d)) {
        memcpy(out, "null", 4);
        return 4;
    }
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!memchr(out, '.', (size_t)n) && !memchr(out, 'e', (size_t)n)) {
        out[n++] = '.';
        out[n++] = '0';
    }
    return (size_t)n;
}

/* Decimal text of an int64 (json_scan.h). */
size_t sl_json_format_int(int64_t v, char *out)
{
    char tmp[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

size_t sl_json_payload_members_max(size_t max)
{
    /* escaping: at most 6 bytes per input byte; base64: 4 per 3 */
    return 6 * max + 128;
}

size_t sl_json_payload_members(const char *payload, size_t len, size_t max, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = len > max ? max : len;
    size_t valid = sl_utf8_valid_prefix(payload, n);
    int utf8 = valid == n;
    if (!utf8 && len > max && valid + 3 >= n && sl_utf8_valid_prefix(payload, len) >= n) {
        n = valid; /* the cut split a character: cut before it */
        utf8 = 1;
    }
    char *o = out;
    memcpy(o, ",\"payload\":\"", 12);
    o += 12;
    if (utf8) {
        o += sl_json_escape(payload, n, o);
    } else {
        const unsigned char *p = (const unsigned char *)payload;
        size_t i = 0;
        for (; i + 3 <= n; i += 3) {
            uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
            *o++ = b64[v >> 18];
            *o++ = b64[(v >> 12) & 63];
            *o++ = b64[(v >> 6) & 63];
            *o++ = b64[v & 63];
        }
        if (i < n) {
            uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
            *o++ = b64[v >> 18];
            *o++ = b64[(v >> 12) & 63];
            *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
            *o++ = '=';
        }
    }
    *o++ = '"';
    if (!utf8) {
        static const char enc[] = ",\"payload_encoding\":\"base64\"";
        memcpy(o, enc, sizeof(enc) - 1);
        o += sizeof(enc) - 1;
    }
    if (n < len)
        o += sprintf(o, ",\"payload_truncated\":true,\"payload_bytes\":%zu", len);
    return (size_t)(o - out);
}
