/*
 * json_check.h - differential check of the projection scanner
 * (engine/ingest/json_scan.c) against jansson, shared by tests/unit/test_json_scan.c
 * and tests/fuzz/fuzz_json_scan.c.
 */
#ifndef SL_TEST_JSON_CHECK_H
#define SL_TEST_JSON_CHECK_H

#include <stddef.h>

/* Scans buf[0..len) with sl_json_scan (a fixed set of field names) and the
 * member iterator, parses it with jansson, and compares: the verdict
 * (well-formed object or not) and, when well-formed, every extracted
 * value (type, decoded string, exact integer, double bits, nested value)
 * plus the helpers (unescape/escape round trip, minify). Inputs on which
 * the two disagree by design are not judged: integers beyond int64 and
 * doubles beyond the range (jansson rejects them, the scanner keeps them
 * as doubles), NUL in member names (jansson rejects them), nesting deeper
 * than the scanner's limit.
 * Returns 0 if they agree, or -1 with a description in why. */
int sl_json_check(const char *buf, size_t len, char *why, size_t why_size);

#endif
