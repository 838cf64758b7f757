/*
 * expr_time.c - the time functions of the expression language:
 * date_trunc(unit, epoch_ms) in UTC (weeks start on Monday) and
 * ts_ms(x), RFC 3339 text or a number to epoch milliseconds, with the
 * proleptic Gregorian calendar arithmetic behind them.
 */
#include "expr_internal.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static void sl__xset_int(sl_value *out, int64_t i)
{
    out->type = SL_T_INT;
    out->i = i;
}

/* ---- time ------------------------------------------------------------- */

/* Days since 1970-01-01 of the proleptic Gregorian y-m-d. */
static int64_t sl__xdays(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year and month of a day number (inverse of sl__xdays). */
static void sl__xcivil(int64_t z, int64_t *y, int64_t *m)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t sl__xfloordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

const char *const sl__xunits[] = {"second", "minute", "hour", "day", "week", "month", "year", NULL};
static const int sl__xunit_ids[] = {0, 1, 2, 3, 4, 5, 6};

const int *sl__xunit_find(const char *s, size_t n)
{
    for (size_t k = 0; sl__xunits[k]; k++)
        if (strlen(sl__xunits[k]) == n && strncasecmp(sl__xunits[k], s, n) == 0)
            return &sl__xunit_ids[k];
    return NULL;
}

int sl__xf_date_trunc(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s;
    int64_t t;
    if (a[1].type == SL_T_INT)
        t = a[1].i;
    else if (a[1].type == SL_T_DOUBLE) {
        double f = floor(a[1].d);
        if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
            return SL_XERR_OVERFLOW;
        t = (int64_t)f;
    } else
        return SL_XERR_TYPE;
    static const int64_t unit_ms[] = {1000, 60000, 3600000, 86400000};
    int unit = *(const int *)x;
    int64_t r, days = sl__xfloordiv(t, 86400000), y, m;
    if (unit <= 3) {
        if (__builtin_mul_overflow(sl__xfloordiv(t, unit_ms[unit]), unit_ms[unit], &r))
            return SL_XERR_OVERFLOW;
    } else {
        if (unit == 4) /* ISO weeks start on Monday; 1970-01-01 was a Thursday */
            days -= ((days % 7) + 7 + 3) % 7;
        else {
            sl__xcivil(days, &y, &m);
            days = sl__xdays(y, unit == 5 ? m : 1, 1);
        }
        if (__builtin_mul_overflow(days, (int64_t)86400000, &r))
            return SL_XERR_OVERFLOW;
    }
    sl__xset_int(out, r);
    return 0;
}

static int sl__xdigits(const char *s, size_t n, size_t at, int k, int *v)
{
    if (at + (size_t)k > n)
        return -1;
    *v = 0;
    for (int i = 0; i < k; i++) {
        if (!isdigit((unsigned char)s[at + (size_t)i]))
            return -1;
        *v = *v * 10 + (s[at + (size_t)i] - '0');
    }
    return 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" ('t', 'z', ' ' accepted;
 * the fraction floored to ms; seconds up to 60) to epoch ms. */
static int sl__xparse_time(const char *s, size_t n, int64_t *ms)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    if (sl__xdigits(s, n, 0, 4, &y) || n < 19 || s[4] != '-' || sl__xdigits(s, n, 5, 2, &mo) ||
        s[7] != '-' || sl__xdigits(s, n, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || sl__xdigits(s, n, 11, 2, &h) ||
        s[13] != ':' || sl__xdigits(s, n, 14, 2, &mi) || s[16] != ':' ||
        sl__xdigits(s, n, 17, 2, &se))
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        se > 60)
        return -1;
    size_t i = 19;
    int frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (i - f0 < 3)
                frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (i == f0)
            return -1;
        for (size_t k = i - f0; k < 3; k++)
            frac *= 10;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        if (sl__xdigits(s, n, i + 1, 2, &oh) || i + 3 >= n || s[i + 3] != ':' ||
            sl__xdigits(s, n, i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        oh *= sign;
        om *= sign;
        i += 6;
    } else
        return -1;
    if (i != n)
        return -1;
    int64_t secs = sl__xdays(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - oh * 3600 - om * 60;
    *ms = secs * 1000 + frac;
    return 0;
}

int sl__xf_ts_ms(sl_value *out, const sl_value *a, size_t n, sl_xscratch *s, const void *x)
{
    (void)n, (void)s, (void)x;
    int64_t ms;
    if (a[0].type == SL_T_INT) {
        *out = a[0];
        return 0;
    }
    if (a[0].type == SL_T_DOUBLE) {
        double f = floor(a[0].d);
        if (f >= -9223372036854775808.0 && f < 9223372036854775808.0)
            sl__xset_int(out, (int64_t)f);
        else
            out->type = SL_T_NULL;
        return 0;
    }
    if (a[0].type != SL_T_STRING)
        return SL_XERR_TYPE;
    if (sl__xparse_time(a[0].s, a[0].len, &ms) == 0)
        sl__xset_int(out, ms);
    else
        out->type = SL_T_NULL;
    return 0;
}
