/*
 * snapshot.h - endian-explicit binary encoding for checkpoint state, and
 * CRC32C.
 *
 * sl_buf is a growable little-endian writer; sl_reader a bounds-checked
 * reader. Both record failure in a sticky flag instead of returning an
 * error from every call: write or read a whole structure, then check
 * `failed` once. A reader never reads past its end.
 */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include "common.h"

typedef struct sl_buf {
    uint8_t *data;
    size_t len, cap;
    int failed; /* allocation failed: contents are incomplete */
} sl_buf;

void sl_buf_init(sl_buf *b);
void sl_buf_free(sl_buf *b);
void sl_buf_reset(sl_buf *b);
void sl_buf_put_u8(sl_buf *b, uint8_t v);
void sl_buf_put_u32(sl_buf *b, uint32_t v);
void sl_buf_put_u64(sl_buf *b, uint64_t v);
void sl_buf_put_i64(sl_buf *b, int64_t v);
void sl_buf_put_f64(sl_buf *b, double v);
void sl_buf_put_bytes(sl_buf *b, const void *p, size_t n);
/* u32 length, then the bytes. */
void sl_buf_put_blob(sl_buf *b, const void *p, size_t n);
void sl_buf_put_str(sl_buf *b, const char *s); /* blob of strlen(s); NULL as empty */

typedef struct sl_reader {
    const uint8_t *p;
    size_t len, pos;
    int failed; /* read past the end, or a length field was impossible */
} sl_reader;

void sl_reader_init(sl_reader *r, const void *p, size_t len);
uint8_t sl_read_u8(sl_reader *r);
uint32_t sl_read_u32(sl_reader *r);
uint64_t sl_read_u64(sl_reader *r);
int64_t sl_read_i64(sl_reader *r);
double sl_read_f64(sl_reader *r);
/* Copies n bytes out; on failure zero-fills. */
void sl_read_bytes(sl_reader *r, void *out, size_t n);
/* Returns a pointer into the reader's memory to a u32-length-prefixed blob
 * and its length, or NULL (and failed set). */
const uint8_t *sl_read_blob(sl_reader *r, uint32_t *len);
/* True when everything was consumed without failure. */
static inline int sl_reader_done(const sl_reader *r)
{
    return !r->failed && r->pos == r->len;
}

/* CRC32C (Castagnoli). Start with crc = 0. */
uint32_t sl_crc32c(uint32_t crc, const void *data, size_t len);

/* 1 when none of the n bytes is a control character (< 0x20). Restores
 * check keys and results read from a checkpoint with it: those bytes go
 * verbatim into output lines, and the engine never produces a control
 * byte there (JSON escapes them), so one means a forged or broken file. */
int sl_bytes_printable(const void *p, size_t n);

#endif
