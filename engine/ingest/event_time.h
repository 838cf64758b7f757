/*
 * event_time.h - event time as text: the exact conversions behind the
 * "ms", "s" and "rfc3339" units of event_time (ingest.c) and the
 * generator's rendering of them.
 *
 * All functions are pure and reentrant; none reads past the given length.
 */
#ifndef SL_EVENT_TIME_H
#define SL_EVENT_TIME_H

#include <stddef.h>
#include <stdint.h>

/* floor(x * 10^scale) for the JSON number text raw[0..len) (a validated
 * number: -?int(.frac)?(e[+-]?exp)?), computed on the decimal digits, so
 * "1700000000.123" s is exactly 1700000000123 ms and "-0.0005" s is -1 ms.
 * Returns 0 and *ms, or -1 when the result does not fit in an int64. */
int sl_time_decimal_floor(const char *raw, size_t len, int scale, int64_t *ms);

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" ('t'/'z' and a space
 * for 'T' accepted; any number of fraction digits, truncated to ms, i.e.
 * floored; seconds up to 60 for leap seconds) into epoch ms. Dates are
 * checked (month lengths, leap years). Returns 0 and *ms, or -1. */
int sl_time_parse_rfc3339(const char *s, size_t n, int64_t *ms);

/* Writes epoch ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes, no NUL) for
 * years 0..9999. Returns 24, or 0 if the year is out of range. */
size_t sl_time_format_rfc3339(int64_t ms, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t sl_time_days_from_civil(int64_t y, int m, int d);
void sl_time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
