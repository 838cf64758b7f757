/*
 * json_simd.cpp - a one-file C shim over simdjson On-Demand with the same
 * contract as sl_json_scan() (see json_simd.h). It is the library
 * alternative the hand-written scanner is measured against in
 * tests/bench/bench_decode.c.
 */
/* On-Demand is compiled into the caller for the instruction set enabled at
 * compile time; without this the portable "fallback" kernel would be used.
 * sl_simd_scanner_new() refuses to run on a CPU without AVX2. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,bmi,pclmul,lzcnt")
#define SL__SIMD_NEEDS_AVX2             1
#define SIMDJSON_BUILTIN_IMPLEMENTATION haswell
#endif
#include <simdjson.h>
namespace sl_od = simdjson::ondemand;

#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "json_simd.h"
}

struct sl_simd_scanner {
    sl_od::parser *parser; /* by pointer: GCC does not apply the target
                              pragma to implicit constructors */
    std::vector<std::string> names;
    std::vector<char> buf; /* input copy + SIMDJSON_PADDING */
};

extern "C" sl_simd_scanner *sl_simd_scanner_new(const char *const *names, size_t n)
{
    if (n > SL_JSON_MAX_FIELDS)
        return nullptr;
#ifdef SL__SIMD_NEEDS_AVX2
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi2"))
        return nullptr;
#endif
    sl_simd_scanner *s = new (std::nothrow) sl_simd_scanner();
    if (s)
        s->parser = nullptr;
    if (!s)
        return nullptr;
    try {
        for (size_t i = 0; i < n; i++)
            s->names.emplace_back(names[i]);
        s->buf.resize(4096);
        s->parser = new sl_od::parser();
    } catch (...) {
        delete s;
        return nullptr;
    }
    return s;
}

extern "C" void sl_simd_scanner_free(sl_simd_scanner *s)
{
    if (!s)
        return;
    delete s->parser;
    delete s;
}

extern "C" int sl_simd_scan(sl_simd_scanner *s, const char *buf, size_t len, sl_json_val *out)
{
    using namespace simdjson;
    size_t n = s->names.size();
    for (size_t i = 0; i < n; i++) {
        out[i].type = SL_T_MISSING;
        out[i].raw = nullptr;
        out[i].len = 0;
    }
    if (len + SIMDJSON_PADDING > s->buf.size()) {
        try {
            s->buf.resize(len + SIMDJSON_PADDING);
        } catch (...) {
            return -1;
        }
    }
    char *copy = s->buf.data();
    std::memcpy(copy, buf, len);
    sl_od::document doc;
    if (s->parser->iterate(copy, len, s->buf.size()).get(doc))
        return -1;
    sl_od::object obj;
    if (doc.get_object().get(obj))
        return -1;
    for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key))
            return -1;
        size_t idx = n;
        for (size_t i = 0; i < n; i++)
            if (s->names[i] == key) {
                idx = i;
                break;
            }
        sl_od::value v;
        if (field.value().get(v))
            return -1;
        if (idx == n)
            continue; /* skipped by the iterator */
        sl_json_val *o = &out[idx];
        sl_od::json_type t;
        if (v.type().get(t))
            return -1;
        std::string_view tok = v.raw_json_token();
        o->raw = buf + (tok.data() - copy);
        o->len = (uint32_t)tok.size();
        o->escaped = 0;
        switch (t) {
        case sl_od::json_type::string: {
            std::string_view sv;
            if (v.get_string().get(sv))
                return -1;
            /* the token is "…" possibly followed by spaces: find the
             * closing quote, stepping over escapes */
            size_t i = 1;
            int esc = 0;
            while (i < tok.size() && tok[i] != '"') {
                if (tok[i] == '\\') {
                    esc = 1;
                    i++;
                }
                i++;
            }
            o->type = SL_T_STRING;
            o->raw += 1;
            o->len = (uint32_t)(i - 1);
            o->escaped = (uint8_t)esc;
            break;
        }
        case sl_od::json_type::number: {
            while (o->len && (tok[o->len - 1] == ' ' || tok[o->len - 1] == '\t' ||
                              tok[o->len - 1] == '\n' || tok[o->len - 1] == '\r'))
                o->len--; /* the token may include the whitespace after it */
            sl_od::number num;
            if (v.get_number().get(num)) {
                double d; /* integers beyond 64 bits: as doubles */
                if (v.get_double().get(d))
                    return -1;
                o->type = SL_T_DOUBLE;
                break;
            }
            if (num.is_int64()) {
                o->type = SL_T_INT;
                o->i = num.get_int64();
            } else {
                o->type = SL_T_DOUBLE;
            }
            break;
        }
        case sl_od::json_type::boolean: {
            bool b;
            if (v.get_bool().get(b))
                return -1;
            o->type = SL_T_BOOL;
            o->i = b;
            break;
        }
        case sl_od::json_type::null:
            o->type = SL_T_NULL;
            break;
        case sl_od::json_type::object: {
            sl_od::object sub;
            std::string_view raw;
            if (v.get_object().get(sub) || sub.raw_json().get(raw))
                return -1;
            o->type = SL_T_OTHER;
            o->raw = buf + (raw.data() - copy);
            o->len = (uint32_t)raw.size();
            break;
        }
        default: {
            sl_od::array sub;
            std::string_view raw;
            if (v.get_array().get(sub) || sub.raw_json().get(raw))
                return -1;
            o->type = SL_T_OTHER;
            o->raw = buf + (raw.data() - copy);
            o->len = (uint32_t)raw.size();
            break;
        }
        }
    }
    /* trailing content after the object: current_location() still points
     * inside the document (OUT_OF_BOUNDS means the end was reached) */
    const char *loc;
    if (!doc.current_location().get(loc))
        return -1;
    return 0;
}
