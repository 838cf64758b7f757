/*
 * snapshot.c - little-endian writer/reader with sticky failure flags, and
 * CRC32C (Castagnoli).
 *
 * The encoding is explicit byte by byte, so a snapshot written on one host
 * reads back identically on any other regardless of its endianness or
 * alignment rules. Doubles are stored as their IEEE-754 bit pattern.
 *
 * CRC32C: a slicing-by-8 table-driven software implementation (tables built
 * once, under pthread_once), and on x86-64 the SSE4.2 crc32 instruction
 * when the CPU has it (checked once at run time). Both produce the standard
 * reflected CRC-32C with init and final xor 0xFFFFFFFF, so
 * sl_crc32c(0, "123456789", 9) == 0xE3069283, and
 * sl_crc32c(sl_crc32c(0, a, n), b, m) == sl_crc32c(0, a||b, n + m).
 */
#include "snapshot.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL__CRC_HW 1
#include <nmmintrin.h>
#endif

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

void sl_buf_init(sl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void sl_buf_free(sl_buf *b)
{
    if (!b)
        return;
    free(b->data);
    sl_buf_init(b);
}

void sl_buf_reset(sl_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

/* Makes room for `n` more bytes. Returns a pointer to them, or NULL after
 * setting the sticky failure flag (allocation failure or size overflow). */
static uint8_t *sl__buf_reserve(sl_buf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (n > SIZE_MAX - b->len) {
        b->failed = 1;
        return NULL;
    }
    size_t need = b->len + n;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need) {
            if (cap > SIZE_MAX / 2) {
                cap = need;
                break;
            }
            cap *= 2;
        }
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return NULL;
        }
        b->data = d;
        b->cap = cap;
    }
    uint8_t *p = b->data + b->len;
    b->len = need;
    return p;
}

void sl_buf_put_u8(sl_buf *b, uint8_t v)
{
    uint8_t *p = sl__buf_reserve(b, 1);
    if (p)
        p[0] = v;
}

void sl_buf_put_u32(sl_buf *b, uint32_t v)
{
    uint8_t *p = sl__buf_reserve(b, 4);
    if (!p)
        return;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void sl_buf_put_u64(sl_buf *b, uint64_t v)
{
    uint8_t *p = sl__buf_reserve(b, 8);
    if (!p)
        return;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void sl_buf_put_i64(sl_buf *b, int64_t v)
{
    sl_buf_put_u64(b, (uint64_t)v);
}

void sl_buf_put_f64(sl_buf *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    sl_buf_put_u64(b, bits);
}

void sl_buf_put_bytes(sl_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *d = sl__buf_reserve(b, n);
    if (d)
        memcpy(d, p, n);
}

void sl_buf_put_blob(sl_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->failed = 1;
        return;
    }
    sl_buf_put_u32(b, (uint32_t)n);
    sl_buf_put_bytes(b, p, n);
}

void sl_buf_put_str(sl_buf *b, const char *s)
{
    sl_buf_put_blob(b, s, s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

void sl_reader_init(sl_reader *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->pos = 0;
    r->failed = 0;
}

/* Returns a pointer to the next `n` bytes and consumes them, or NULL after
 * setting the sticky failure flag. Never looks past r->len. */
static const uint8_t *sl__reader_take(sl_reader *r, size_t n)
{
    if (r->failed)
        return NULL;
    if (n > r->len - r->pos) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint8_t sl_read_u8(sl_reader *r)
{
    const uint8_t *p = sl__reader_take(r, 1);
    return p ? p[0] : 0;
}

uint32_t sl_read_u32(sl_reader *r)
{
    const uint8_t *p = sl__reader_take(r, 4);
    if (!p)
        return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

uint64_t sl_read_u64(sl_reader *r)
{
    const uint8_t *p = sl__reader_take(r, 8);
    if (!p)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int64_t sl_read_i64(sl_reader *r)
{
    return (int64_t)sl_read_u64(r);
}

double sl_read_f64(sl_reader *r)
{
    uint64_t bits = sl_read_u64(r);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

void sl_read_bytes(sl_reader *r, void *out, size_t n)
{
    const uint8_t *p = sl__reader_take(r, n);
    if (n == 0)
        return;
    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

const uint8_t *sl_read_blob(sl_reader *r, uint32_t *len)
{
    uint32_t n = sl_read_u32(r);
    const uint8_t *p = sl__reader_take(r, n);
    if (!p) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = n;
    return p;
}

/* ------------------------------------------------------------------------ */
/* CRC32C                                                                    */
/* ------------------------------------------------------------------------ */

#define SL__CRC32C_POLY 0x82F63B78u /* reflected 0x1EDC6F41 */

static uint32_t sl__crc_table[8][256];
static pthread_once_t sl__crc_once = PTHREAD_ONCE_INIT;
static int sl__crc_have_hw;

static void sl__crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (SL__CRC32C_POLY & (0u - (c & 1u)));
        sl__crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = sl__crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = (c >> 8) ^ sl__crc_table[0][c & 0xFF];
            sl__crc_table[t][i] = c;
        }
    }
#ifdef SL__CRC_HW
    __builtin_cpu_init();
    sl__crc_have_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
    if (getenv("SL_CRC32C_SOFTWARE"))
        sl__crc_have_hw = 0;
}

/* Slicing-by-8 on the pre-inverted register value `c`. */
static uint32_t sl__crc32c_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ sl__crc_table[0][(c ^ *p++) & 0xFF];
        n--;
    }
    while (n >= 8) {
        /* Explicit little-endian loads: correct on any host. */
        uint32_t lo =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        lo ^= c;
        c = sl__crc_table[7][lo & 0xFF] ^ sl__crc_table[6][(lo >> 8) & 0xFF] ^
            sl__crc_table[5][(lo >> 16) & 0xFF] ^ sl__crc_table[4][lo >> 24] ^
            sl__crc_table[3][hi & 0xFF] ^ sl__crc_table[2][(hi >> 8) & 0xFF] ^
            sl__crc_table[1][(hi >> 16) & 0xFF] ^ sl__crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ sl__crc_table[0][(c ^ *p++) & 0xFF];
    return c;
}

#ifdef SL__CRC_HW
__attribute__((target("sse4.2"))) static uint32_t sl__crc32c_hw(uint32_t c, const uint8_t *p,
                                                                size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8(c, *p++);
        n--;
    }
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t sl_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&sl__crc_once, sl__crc_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    if (len == 0)
        return crc;
#ifdef SL__CRC_HW
    if (sl__crc_have_hw)
        return ~sl__crc32c_hw(c, p, len);
#endif
    return ~sl__crc32c_sw(c, p, len);
}

/* For tests and benchmarks: the portable path regardless of the CPU. Not in
 * snapshot.h on purpose (declared where used). */
uint32_t sl__crc32c_software(uint32_t crc, const void *data, size_t len);
uint32_t sl__crc32c_software(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&sl__crc_once, sl__crc_init);
    if (len == 0)
        return crc;
    return ~sl__crc32c_sw(~crc, data, len);
}

int sl_bytes_printable(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20)
            return 0;
    return 1;
}
