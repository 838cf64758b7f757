/* event_time.c - event time as text (see event_time.h). */
#include "event_time.h"

/* Exact floor(x * 10^scale) of a JSON number (event_time.h). */
int sl_time_decimal_floor(const char *raw, size_t len, int scale, int64_t *out)
{
    const char *p = raw, *end = raw + len;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *is = p;
    while (p < end && (unsigned)(*p - '0') <= 9)
        p++;
    const char *ie = p, *fs = p, *fe = p;
    if (p < end && *p == '.') {
        fs = ++p;
        while (p < end && (unsigned)(*p - '0') <= 9)
            p++;
        fe = p;
    }
    long e = 0;
    if (p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        while (p < end && (unsigned)(*p - '0') <= 9) {
            if (e < 100000)
                e = e * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            e = -e;
    }
    long nint = ie - is, nfrac = fe - fs, ndig = nint + nfrac;
    long shift = e - nfrac + scale; /* value = digits * 10^shift */
    long keep = shift >= 0 ? ndig : ndig + shift;
    uint64_t acc = 0;
    int dropped_nonzero = 0;
    for (long k = 0; k < ndig; k++) {
        unsigned d = (unsigned)((k < nint ? is[k] : fs[k - nint]) - '0');
        if (k < keep) {
            if (acc > (UINT64_MAX - 9) / 10)
                return -1;
            acc = acc * 10 + d;
        } else if (d) {
            dropped_nonzero = 1;
        }
    }
    for (long s = 0; s < shift && acc; s++) {
        if (acc > UINT64_MAX / 10)
            return -1;
        acc *= 10;
    }
    if (!neg) {
        if (acc > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)acc;
        return 0;
    }
    acc += (uint64_t)dropped_nonzero; /* floor of a negative value */
    if (acc > (uint64_t)1 << 63)
        return -1;
    *out = acc == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)acc;
    return 0;
}

/* Days since the epoch of a proleptic Gregorian date. */
int64_t sl_time_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static int sl__digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((unsigned)(s[i] - '0') > 9)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* RFC 3339 text -> epoch ms, or -1 (event_time.h). */
int sl_time_parse_rfc3339(const char *s, size_t n, int64_t *out)
{
    int Y, M, D, h, m, sec, ms = 0, off = 0;
    if (n < 20 || sl__digits(s, 4, &Y) || s[4] != '-' || sl__digits(s + 5, 2, &M) || s[7] != '-' ||
        sl__digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        sl__digits(s + 11, 2, &h) || s[13] != ':' || sl__digits(s + 14, 2, &m) || s[16] != ':' ||
        sl__digits(s + 17, 2, &sec))
        return -1;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        int nd = 0;
        while (i < n && (unsigned)(s[i] - '0') <= 9) {
            if (nd < 3)
                ms = ms * 10 + (s[i] - '0');
            nd++;
            i++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (i >= n)
        return -1;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (n - i < 6 || sl__digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            sl__digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap) || h > 23 || m > 59 ||
        sec > 60)
        return -1;
    int64_t secs = sl_time_days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off * 60;
    *out = secs * 1000 + ms;
    return 0;
}

/* The date of a day number (inverse of sl_time_days_from_civil). */
void sl_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static size_t sl__put_digits(char *o, uint64_t v, int n)
{
    for (int k = n - 1; k >= 0; k--) {
        o[k] = (char)('0' + v % 10);
        v /= 10;
    }
    return (size_t)n;
}

/* Epoch ms -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (event_time.h). */
size_t sl_time_format_rfc3339(int64_t ms, char *o)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000, y;
    int mo, d;
    sl_time_civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999)
        return 0;
    size_t n = 0;
    n += sl__put_digits(o + n, (uint64_t)y, 4);
    o[n++] = '-';
    n += sl__put_digits(o + n, (uint64_t)mo, 2);
    o[n++] = '-';
    n += sl__put_digits(o + n, (uint64_t)d, 2);
    o[n++] = 'T';
    n += sl__put_digits(o + n, (uint64_t)(rem / 3600000), 2);
    o[n++] = ':';
    n += sl__put_digits(o + n, (uint64_t)(rem / 60000 % 60), 2);
    o[n++] = ':';
    n += sl__put_digits(o + n, (uint64_t)(rem / 1000 % 60), 2);
    o[n++] = '.';
    n += sl__put_digits(o + n, (uint64_t)(rem % 1000), 3);
    o[n++] = 'Z';
    return n;
}
