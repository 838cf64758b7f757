/*
 * json_scan.h - a projection-only JSON scanner for event payloads.
 *
 * One event is one JSON object. sl_json_scan() walks it once, validating
 * the whole text (RFC 8259 grammar, string escapes incl. surrogate pairs,
 * UTF-8, nesting up to SL_JSON_MAX_DEPTH, nothing but whitespace after the
 * closing brace), and reports only the top-level members whose names were
 * asked for. Values are not copied: strings are returned as the bytes
 * between their quotes (still escaped, with a flag), numbers as their text
 * plus the exact int64 when they are integers, nested values as raw text.
 *
 * Payloads are NOT NUL-terminated: every read stays inside [buf, buf+len).
 * Nothing here allocates except sl_json_fields_new().
 *
 * Implementation: json_scan.c (scanner, iteration, unescaping) and
 * json_text.c (numbers, escaping, minifying, formatting).
 *
 * Why not simdjson: see tests/bench/bench_decode.c, which measures this
 * scanner, simdjson On-Demand (tests/bench/json_simd.cpp) and jansson on the
 * same events.
 *
 * @locality: all functions are reentrant; a compiled sl_json_fields is
 * immutable and may be shared between threads.
 */
#ifndef SL_JSON_SCAN_H
#define SL_JSON_SCAN_H

#include "definition.h"

#include <stddef.h>
#include <stdint.h>

#define SL_JSON_MAX_FIELDS 64   /* distinct names a scan can extract */
#define SL_JSON_MAX_DEPTH  1024 /* nesting of objects/arrays */
/* Largest event (bytes) the decoder accepts; longer ones are rejected as
 * too_large (the file source passes their first SL_MAX_EVENT_BYTES + 1
 * bytes). */
#define SL_MAX_EVENT_BYTES (1u << 20)

/* One extracted value. `raw`/`len` point into the scanned buffer:
 *   SL_T_STRING  the bytes between the quotes, escapes not decoded
 *                (`escaped` is 1 when a backslash occurs)
 *   SL_T_INT     the number's text; `i` is its exact value
 *   SL_T_DOUBLE  the number's text (a fraction or exponent, or an integer
 *                outside int64); convert with sl_json_to_double()
 *   SL_T_BOOL    "true"/"false", `i` is 1/0
 *   SL_T_NULL    "null"
 *   SL_T_OTHER   the whole object or array text, as written
 *   SL_T_MISSING the member was absent (raw NULL) */
typedef struct sl_json_val {
    const char *raw;
    uint32_t len;
    uint8_t type; /* sl_type */
    uint8_t escaped;
    int64_t i;
} sl_json_val;

/* A compiled set of member names to extract. */
typedef struct sl_json_fields sl_json_fields;

/* Compiles `n` distinct names (copied; n <= SL_JSON_MAX_FIELDS). Returns
 * NULL on allocation failure, n too large, or a duplicate name. */
sl_json_fields *sl_json_fields_new(const char *const *names, size_t n);
/* sl_json_fields_free(NULL) is a no-op. */
void sl_json_fields_free(sl_json_fields *f);
size_t sl_json_fields_count(const sl_json_fields *f);

/* Scans the JSON object in buf[0..len) and fills out[0..count) in the
 * order the names were compiled (absent members get SL_T_MISSING; when a
 * name occurs twice the last member wins). Returns 0, or -1 when the text
 * is not one well-formed JSON object (then out is undefined). */
int sl_json_scan(const sl_json_fields *f, const char *buf, size_t len, sl_json_val *out);

/* Iteration over every top-level member, in order (slow path: mapped
 * output rows, tests). */
typedef struct sl_json_iter {
    const char *p, *end;
    int state; /* 0 before the first member, 1 after a member, 2 done */
} sl_json_iter;

/* Starts iterating the object in buf[0..len). Returns 0, or -1 if the text
 * does not start with an object. */
int sl_json_iter_init(sl_json_iter *it, const char *buf, size_t len);
/* Next member: 1 with *key (an SL_T_STRING) and *val filled; 0 at the end
 * of the object (only whitespace followed it); -1 if malformed. */
int sl_json_iter_next(sl_json_iter *it, sl_json_val *key, sl_json_val *val);

/* Element `index` (0-based) of the array in buf[0..len) into *out
 * (SL_T_MISSING past the end). Returns 0, or -1 if the text is not an
 * array (values returned by a scan are already validated). */
int sl_json_array_at(const char *buf, size_t len, size_t index, sl_json_val *out);

/* ---- value helpers (inputs must be values returned by a scan) -------- */

/* The double nearest to the JSON number text raw[0..len) (correctly
 * rounded; huge magnitudes become +-inf). */
double sl_json_to_double(const char *raw, size_t len);
/* Decodes validated string content raw[0..len) (escapes, surrogate pairs)
 * into out, which must hold `len` bytes (decoding never grows). Returns the
 * decoded length. */
size_t sl_json_unescape(const char *raw, size_t len, char *out);
/* Writes s[0..len) as canonical JSON string content (no quotes): only '"',
 * '\\' and control characters are escaped (\b \f \n \r \t or \u00XX), all
 * else is copied. out must hold 6 * len bytes. Returns the length. */
size_t sl_json_escape(const char *s, size_t len, char *out);

/* Length of the longest prefix of s[0..n) that is well-formed UTF-8 (no
 * overlong forms, surrogates or code points above U+10FFFF). */
size_t sl_utf8_valid_prefix(const char *s, size_t n);

/* Dead-letter payloads: writes the members
 *   ,"payload":"<the bytes as a JSON string>"
 * or, when they are not UTF-8,
 *   ,"payload":"<base64>","payload_encoding":"base64"
 * and, when longer than `max` bytes (cut at a character boundary),
 *   ,"payload_truncated":true,"payload_bytes":<len>
 * into `out`, which must hold sl_json_payload_members_max(max) bytes.
 * Returns the bytes written. The result is always valid JSON text. */
#define SL_DEAD_LETTER_MAX_PAYLOAD 65536 /* bytes of a payload kept in a dead letter */
size_t sl_json_payload_members(const char *payload, size_t len, size_t max, char *out);
size_t sl_json_payload_members_max(size_t max);
/* Copies a validated JSON value without insignificant whitespace. out must
 * hold len bytes. Returns the length. */
size_t sl_json_minify(const char *raw, size_t len, char *out);
/* Writes `d` as the first of %.15g, %.16g, %.17g that reads back as
 * exactly `d` ("1.5", "0.1", "1e+300"); integral values get ".0" so they
 * stay doubles ("100.0"); non-finite values are written as null. This is
 * the canonical form of doubles in key bytes. out must hold 32 bytes.
 * Returns the length. */
size_t sl_json_format_double(double d, char *out);
/* Writes v in decimal. out must hold 20 bytes. Returns the length. */
size_t sl_json_format_int(int64_t v, char *out);

#endif
