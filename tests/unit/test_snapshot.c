/*
 * test_snapshot.c - the little-endian writer/reader and CRC32C.
 *
 * Round trips on randomized structures, byte-exact encodings, truncation at
 * every prefix length (each prefix copied into an exactly sized heap block,
 * so ASan reports any read past the end), impossible blob lengths, and CRC32C
 * against RFC 3720 / iSCSI test vectors, a bitwise reference and the
 * software path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot.h"

uint32_t sl__crc32c_software(uint32_t crc, const void *data, size_t len);

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Bit-at-a-time reference CRC32C, independent of the tables. */
static uint32_t crc32c_ref(uint32_t crc, const uint8_t *p, size_t n)
{
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void test_encoding_is_little_endian(void **state)
{
    (void)state;
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_put_u8(&b, 0xAB);
    sl_buf_put_u32(&b, 0x01020304u);
    sl_buf_put_u64(&b, 0x1112131415161718ull);
    sl_buf_put_i64(&b, -2);
    sl_buf_put_f64(&b, 1.0);
    sl_buf_put_str(&b, "hi");
    sl_buf_put_str(&b, NULL);
    const uint8_t want[] = {0xAB, 0x04, 0x03, 0x02, 0x01, 0x18, 0x17, 0x16, 0x15, 0x14,
                            0x13, 0x12, 0x11, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                            0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, 0x02,
                            0x00, 0x00, 0x00, 'h',  'i',  0x00, 0x00, 0x00, 0x00};
    assert_false(b.failed);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);

    sl_buf_reset(&b);
    assert_int_equal(b.len, 0);
    sl_buf_put_u32(&b, 7);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.data[0], 7);
    sl_buf_free(&b);
    assert_null(b.data);
    sl_buf_free(NULL);
}

enum { N_FIELDS = 200 };

typedef struct rec {
    int kind[N_FIELDS];
    uint64_t v[N_FIELDS];
    double d[N_FIELDS];
    uint8_t bytes[N_FIELDS][40];
    size_t blen[N_FIELDS];
} rec;

static void make_rec(rec *r)
{
    for (int i = 0; i < N_FIELDS; i++) {
        r->kind[i] = (int)(rnd() % 7);
        r->v[i] = rnd();
        uint64_t bits = rnd();
        memcpy(&r->d[i], &bits, sizeof bits);
        if ((bits & 0x7FF0000000000000ull) == 0x7FF0000000000000ull)
            r->d[i] = (double)(int64_t)bits / 3.0; /* avoid NaN compare issues */
        r->blen[i] = rnd() % 41;
        for (size_t k = 0; k < r->blen[i]; k++)
            r->bytes[i][k] = (uint8_t)rnd();
    }
}

static void write_rec(sl_buf *b, const rec *r)
{
    for (int i = 0; i < N_FIELDS; i++) {
        switch (r->kind[i]) {
        case 0:
            sl_buf_put_u8(b, (uint8_t)r->v[i]);
            break;
        case 1:
            sl_buf_put_u32(b, (uint32_t)r->v[i]);
            break;
        case 2:
            sl_buf_put_u64(b, r->v[i]);
            break;
        case 3:
            sl_buf_put_i64(b, (int64_t)r->v[i]);
            break;
        case 4:
            sl_buf_put_f64(b, r->d[i]);
            break;
        case 5:
            sl_buf_put_bytes(b, r->bytes[i], r->blen[i]);
            break;
        default:
            sl_buf_put_blob(b, r->bytes[i], r->blen[i]);
            break;
        }
    }
}

/* Reads a rec back and compares with `r`. Returns 1 when every field
 * matched and the reader did not fail. */
static int read_rec(sl_reader *rd, const rec *r)
{
    int ok = 1;
    for (int i = 0; i < N_FIELDS; i++) {
        switch (r->kind[i]) {
        case 0:
            ok &= sl_read_u8(rd) == (uint8_t)r->v[i];
            break;
        case 1:
            ok &= sl_read_u32(rd) == (uint32_t)r->v[i];
            break;
        case 2:
            ok &= sl_read_u64(rd) == r->v[i];
            break;
        case 3:
            ok &= sl_read_i64(rd) == (int64_t)r->v[i];
            break;
        case 4:
            ok &= sl_read_f64(rd) == r->d[i];
            break;
        case 5: {
            uint8_t tmp[40];
            memset(tmp, 0xCC, sizeof tmp);
            sl_read_bytes(rd, tmp, r->blen[i]);
            if (rd->failed) {
                for (size_t k = 0; k < r->blen[i]; k++)
                    if (tmp[k] != 0)
                        return -1; /* contract: zero-filled on failure */
            }
            ok &= memcmp(tmp, r->bytes[i], r->blen[i]) == 0;
            break;
        }
        default: {
            uint32_t n = 12345;
            const uint8_t *p = sl_read_blob(rd, &n);
            if (!p) {
                if (n != 0 || !rd->failed)
                    return -1;
                ok = 0;
            } else {
                ok &= n == r->blen[i] && memcmp(p, r->bytes[i], n) == 0;
            }
            break;
        }
        }
    }
    return ok && !rd->failed;
}

static void test_round_trip_random(void **state)
{
    (void)state;
    rec *r = malloc(sizeof *r);
    assert_non_null(r);
    for (int iter = 0; iter < 200; iter++) {
        make_rec(r);
        sl_buf b;
        sl_buf_init(&b);
        write_rec(&b, r);
        assert_false(b.failed);
        sl_reader rd;
        sl_reader_init(&rd, b.data, b.len);
        assert_int_equal(read_rec(&rd, r), 1);
        assert_true(sl_reader_done(&rd));
        sl_buf_free(&b);
    }
    free(r);
}

static void test_truncation_never_overreads(void **state)
{
    (void)state;
    rec *r = malloc(sizeof *r);
    assert_non_null(r);
    for (int iter = 0; iter < 10; iter++) {
        make_rec(r);
        sl_buf b;
        sl_buf_init(&b);
        write_rec(&b, r);
        assert_false(b.failed);
        for (size_t cut = 0; cut < b.len; cut++) {
            /* Exactly sized copy: ASan flags any read beyond `cut`. */
            uint8_t *copy = malloc(cut ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, b.data, cut);
            sl_reader rd;
            sl_reader_init(&rd, copy, cut);
            int res = read_rec(&rd, r);
            assert_int_not_equal(res, -1);
            assert_int_equal(res, 0);
            assert_true(rd.failed);
            assert_false(sl_reader_done(&rd));
            assert_true(rd.pos <= cut);
            /* Sticky: later reads keep failing and return zero. */
            assert_int_equal(sl_read_u64(&rd), 0);
            assert_int_equal(sl_read_u8(&rd), 0);
            assert_true(rd.failed);
            free(copy);
        }
        sl_buf_free(&b);
    }
    free(r);
}

static void test_impossible_blob_length(void **state)
{
    (void)state;
    uint8_t msg[8] = {0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
    sl_reader rd;
    sl_reader_init(&rd, msg, sizeof msg);
    uint32_t n = 99;
    assert_null(sl_read_blob(&rd, &n));
    assert_int_equal(n, 0);
    assert_true(rd.failed);

    /* Blob exactly fits. */
    uint8_t ok[6] = {2, 0, 0, 0, 'a', 'b'};
    sl_reader_init(&rd, ok, sizeof ok);
    const uint8_t *p = sl_read_blob(&rd, &n);
    assert_non_null(p);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "ab", 2);
    assert_true(sl_reader_done(&rd));

    /* Zero-length blob, and a reader over NULL. */
    uint8_t z[4] = {0};
    sl_reader_init(&rd, z, sizeof z);
    p = sl_read_blob(&rd, &n);
    assert_non_null(p);
    assert_int_equal(n, 0);
    assert_true(sl_reader_done(&rd));
    sl_reader_init(&rd, NULL, 100);
    assert_int_equal(rd.len, 0);
    assert_true(sl_reader_done(&rd));
    (void)sl_read_u8(&rd);
    assert_true(rd.failed);

    /* Trailing bytes: not done. */
    sl_reader_init(&rd, ok, sizeof ok);
    (void)sl_read_u32(&rd);
    assert_false(rd.failed);
    assert_false(sl_reader_done(&rd));
}

static void test_large_buffer_growth(void **state)
{
    (void)state;
    sl_buf b;
    sl_buf_init(&b);
    for (uint32_t i = 0; i < 300000; i++)
        sl_buf_put_u32(&b, i * 2654435761u);
    assert_false(b.failed);
    assert_int_equal(b.len, 1200000);
    sl_reader rd;
    sl_reader_init(&rd, b.data, b.len);
    for (uint32_t i = 0; i < 300000; i++)
        if (sl_read_u32(&rd) != i * 2654435761u)
            fail_msg("mismatch at %u", i);
    assert_true(sl_reader_done(&rd));
    sl_buf_free(&b);
}

static void test_crc32c_vectors(void **state)
{
    (void)state;
    assert_int_equal(sl_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sl__crc32c_software(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sl_crc32c(0, "", 0), 0);
    assert_int_equal(sl_crc32c(0, "a", 1), 0xC1D04330u);

    /* RFC 3720 B.4 */
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    assert_int_equal(sl_crc32c(0, buf, 32), 0x8A9136AAu);
    assert_int_equal(sl__crc32c_software(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(sl_crc32c(0, buf, 32), 0x62A8AB43u);
    assert_int_equal(sl__crc32c_software(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(sl_crc32c(0, buf, 32), 0x46DD794Eu);
    assert_int_equal(sl__crc32c_software(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(sl_crc32c(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(sl__crc32c_software(0, buf, 32), 0x113FDB5Cu);
}

static void test_crc32c_random_against_reference(void **state)
{
    (void)state;
    enum { MAX = 4096 };
    uint8_t *data = malloc(MAX + 16);
    assert_non_null(data);
    for (int iter = 0; iter < 2000; iter++) {
        size_t off = rnd() % 16; /* exercise every alignment */
        size_t n = rnd() % (iter < 200 ? 40 : MAX);
        for (size_t i = 0; i < n; i++)
            data[off + i] = (uint8_t)rnd();
        uint32_t want = crc32c_ref(0, data + off, n);
        assert_int_equal(sl_crc32c(0, data + off, n), want);
        assert_int_equal(sl__crc32c_software(0, data + off, n), want);
        /* Incremental == one shot, at a random split. */
        size_t split = n ? rnd() % (n + 1) : 0;
        uint32_t c = sl_crc32c(0, data + off, split);
        c = sl_crc32c(c, data + off + split, n - split);
        assert_int_equal(c, want);
        c = sl__crc32c_software(0, data + off, split);
        c = sl__crc32c_software(c, data + off + split, n - split);
        assert_int_equal(c, want);
    }
    free(data);
}

static void test_crc32c_detects_bit_flips(void **state)
{
    (void)state;
    uint8_t data[256];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)rnd();
    uint32_t base = sl_crc32c(0, data, sizeof data);
    for (size_t bit = 0; bit < sizeof data * 8; bit++) {
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(sl_crc32c(0, data, sizeof data), base);
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(sl_crc32c(0, data, sizeof data), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_is_little_endian),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_truncation_never_overreads),
        cmocka_unit_test(test_impossible_blob_length),
        cmocka_unit_test(test_large_buffer_growth),
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_random_against_reference),
        cmocka_unit_test(test_crc32c_detects_bit_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
