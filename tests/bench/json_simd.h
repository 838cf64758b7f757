/*
 * json_simd.h - the simdjson On-Demand shim (json_simd.cpp), built only for
 * the tests and benchmarks that compare it with sl_json_scan(), and only
 * when simdjson is installed (CMake defines no target otherwise).
 */
#ifndef SL_JSON_SIMD_H
#define SL_JSON_SIMD_H

#include "json_scan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- simdjson On-Demand backend (json_simd.cpp) ------------------
 * The same extraction as sl_json_scan() done with simdjson (the input is
 * copied into a padded buffer; raw pointers are mapped back into buf).
 * Kept as the measured alternative in tests/bench/bench_decode.c. Note that
 * On-Demand does not validate the values it skips (e.g. {"a":12x} passes
 * when "a" is not asked for). The scanner must be used by one thread. */
typedef struct sl_simd_scanner sl_simd_scanner;

/* NULL on failure (as sl_json_fields_new). */
sl_simd_scanner *sl_simd_scanner_new(const char *const *names, size_t n);
void sl_simd_scanner_free(sl_simd_scanner *s);
/* As sl_json_scan(). */
int sl_simd_scan(sl_simd_scanner *s, const char *buf, size_t len, sl_json_val *out);

#ifdef __cplusplus
}
#endif

#endif
