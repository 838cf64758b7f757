/*
 * checkpoint_image.c - the snapshot file image: header layout, building
 * and verifying it. Shared by the checkpoint store (files on disk) and the
 * replication channel (the same images travel between nodes, so a copy is
 * verified end to end: built and checksummed by its origin, checked by
 * whoever loads it).
 *
 * Snapshot file (little-endian), format version 2:
 *
 *   off  size  field
 *     0     4  magic "SLCK"
 *     4     4  format version (2)
 *     8     8  checkpoint id
 *    16     4  task id (int32)
 *    20     8  payload length
 *    28     4  CRC32C of the payload
 *    32     1  origin length (0..64)
 *    33    64  origin node id, zero padded
 *    97     3  zero
 *   100     4  CRC32C of bytes 0..99
 *   104     n  payload
 *
 * Format version 1 (written before the origin was recorded) is still read:
 * the same fields up to offset 28, the header CRC at 32 over bytes 0..31,
 * the payload at 36, and no origin (reported as ""). Such a file can be
 * restored from this node's disk, never accepted from the network (a push
 * or fetch must name its origin).
 *
 * Verification order: magic, then version (a foreign version may have
 * another layout, so nothing else is trusted first), then the header CRC,
 * the origin field's shape, the length, then the payload CRC.
 */
#include "checkpoint_store.h"
#include "snapshot.h"

#include <inttypes.h>
#include <string.h>

#define SL__HDR_CRC_AT    100
#define SL__V1_HEADER     36
#define SL__V1_HDR_CRC_AT 32

static void sl__le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void sl__le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void sl_ckpt_header_build(uint8_t h[SL_CKPT_HEADER_SIZE], int32_t task, uint64_t id,
                          const char *origin, const void *payload, size_t len)
{
    memset(h, 0, SL_CKPT_HEADER_SIZE);
    memcpy(h, SL_CKPT_MAGIC, 4);
    sl__le32(h + 4, SL_CKPT_FORMAT_VERSION);
    sl__le64(h + 8, id);
    sl__le32(h + 16, (uint32_t)task);
    sl__le64(h + 20, (uint64_t)len);
    sl__le32(h + 28, sl_crc32c(0, payload, len));
    size_t ol = origin ? strnlen(origin, SL_CKPT_ORIGIN_MAX) : 0;
    h[32] = (uint8_t)ol;
    if (ol)
        memcpy(h + 33, origin, ol);
    sl__le32(h + SL__HDR_CRC_AT, sl_crc32c(0, h, SL__HDR_CRC_AT));
}

/* Checks the header (everything up to the payload; the caller checked
 * that `avail` bytes, at least a version-1 header, are there). Sets *hlen. */
static int sl__check_header(const uint8_t *h, size_t avail, const char *name, int32_t *task,
                            uint64_t *id, char *origin, uint64_t *plen, uint32_t *pcrc,
                            size_t *hlen, char *errstr, size_t errstr_size)
{
    if (memcmp(h, SL_CKPT_MAGIC, 4) != 0)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: not a Sluice snapshot (bad magic)", name);
    sl_reader r;
    sl_reader_init(&r, h + 4, SL__V1_HEADER - 4);
    uint32_t version = sl_read_u32(&r);
    if (version == 1) {
        *id = sl_read_u64(&r);
        *task = (int32_t)sl_read_u32(&r);
        *plen = sl_read_u64(&r);
        *pcrc = sl_read_u32(&r);
        uint32_t hcrc = sl_read_u32(&r);
        if (hcrc != sl_crc32c(0, h, SL__V1_HDR_CRC_AT))
            return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                             "checkpoint %s: header checksum mismatch", name);
        if (origin)
            origin[0] = '\0';
        *hlen = SL__V1_HEADER;
        return SL_OK;
    }
    if (version != SL_CKPT_FORMAT_VERSION)
        return sl_seterr(errstr, errstr_size, SL_EVERSION,
                         "checkpoint %s: format version %" PRIu32 ", this build reads %u", name,
                         version, SL_CKPT_FORMAT_VERSION);
    if (avail < SL_CKPT_HEADER_SIZE)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: truncated (%zu bytes, the header alone is %d)", name,
                         avail, SL_CKPT_HEADER_SIZE);
    *id = sl_read_u64(&r);
    *task = (int32_t)sl_read_u32(&r);
    *plen = sl_read_u64(&r);
    *pcrc = sl_read_u32(&r);
    sl_reader c;
    sl_reader_init(&c, h + SL__HDR_CRC_AT, 4);
    if (sl_read_u32(&c) != sl_crc32c(0, h, SL__HDR_CRC_AT))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: header checksum mismatch", name);
    size_t ol = h[32];
    if (ol > SL_CKPT_ORIGIN_MAX || memchr(h + 33, 0, ol))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: malformed origin in the header", name);
    if (origin) {
        memcpy(origin, h + 33, ol);
        origin[ol] = '\0';
    }
    *hlen = SL_CKPT_HEADER_SIZE;
    return SL_OK;
}

int sl_ckpt_parse(const void *file, size_t file_len, const char *name, int32_t *task,
                  uint64_t *ckpt_id, char *origin, const uint8_t **payload, size_t *len,
                  char *errstr, size_t errstr_size)
{
    const uint8_t *f = file;
    *payload = NULL;
    *len = 0;
    if (origin)
        origin[0] = '\0';
    if (!name)
        name = "(memory)";
    if (file_len < SL__V1_HEADER)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: truncated (%zu bytes, the header alone is %d)", name,
                         file_len, file_len >= 8 ? SL_CKPT_HEADER_SIZE : SL__V1_HEADER);
    uint64_t plen = 0;
    uint32_t pcrc = 0;
    size_t hlen = 0;
    int rc = sl__check_header(f, file_len, name, task, ckpt_id, origin, &plen, &pcrc, &hlen, errstr,
                              errstr_size);
    if (rc != SL_OK)
        return rc;
    if (plen != file_len - hlen)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: %s (payload length %" PRIu64 ", file has %zu)", name,
                         plen > file_len - hlen ? "truncated" : "trailing bytes", plen,
                         file_len - hlen);
    if (sl_crc32c(0, f + hlen, (size_t)plen) != pcrc)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: payload checksum mismatch", name);
    *payload = f + hlen;
    *len = (size_t)plen;
    return SL_OK;
}
