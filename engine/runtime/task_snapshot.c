/*
 * task_snapshot.c - the task snapshot format (task_snapshot.h).
 */
#include "task_snapshot.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

void sl_task_image_free(sl_task_image *img)
{
    free(img->sections);
    free(img->held);
    free(img->marks);
    memset(img, 0, sizeof(*img));
}

static int sl__header(sl_reader *r, sl_task_image *img, char *errstr, size_t errstr_size)
{
    uint32_t magic = sl_read_u32(r), version = sl_read_u32(r);
    if (r->failed || magic != SL_TASK_SNAPSHOT_MAGIC)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "not a task snapshot");
    if (version != SL_TASK_SNAPSHOT_VERSION && version != 2)
        return sl_seterr(errstr, errstr_size, SL_EVERSION,
                         "task snapshot version %u, this build reads 2 and %u", version,
                         SL_TASK_SNAPSHOT_VERSION);
    img->version = version;
    img->task = (int32_t)sl_read_u32(r);
    img->checkpoint_id = sl_read_u64(r);
    img->next_offset = sl_read_i64(r);
    img->next_seq = sl_read_u64(r);
    img->closed = sl_read_u8(r) != 0;
    img->has_chain = sl_read_u8(r) != 0;
    img->source = sl_read_blob(r, &img->source_len);
    if (r->failed || !img->source)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "truncated task snapshot");
    return SL_OK;
}

int sl_task_image_source(const uint8_t *state, size_t len, const uint8_t **source,
                         uint32_t *source_len)
{
    sl_reader r;
    sl_reader_init(&r, state, len);
    sl_task_image img = {0};
    if (sl__header(&r, &img, NULL, 0) != SL_OK)
        return SL_ECORRUPT;
    *source = img.source;
    *source_len = img.source_len;
    return SL_OK;
}

static int sl__sections(sl_reader *r, sl_task_image *img, char *errstr, size_t errstr_size)
{
    if (!img->has_chain)
        return SL_OK;
    size_t n = img->version == 2 ? 1 : sl_read_u8(r);
    img->sections = calloc(n + 1, sizeof(*img->sections));
    if (!img->sections)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        sl_task_section *s = &img->sections[i];
        if (img->version == 2) {
            s->name = "window";
            s->name_len = 6;
        } else {
            s->name = (const char *)sl_read_blob(r, &s->name_len);
        }
        s->data = sl_read_blob(r, &s->len);
        if (r->failed || !s->name || !s->data)
            return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "truncated operator section");
    }
    img->nsections = n;
    return SL_OK;
}

static int sl__tail(sl_reader *r, sl_task_image *img, char *errstr, size_t errstr_size)
{
    uint32_t nheld = sl_read_u32(r);
    if (r->failed || nheld > r->len - r->pos)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "truncated task snapshot");
    img->held = calloc((size_t)nheld + 1, sizeof(*img->held));
    if (!img->held)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < nheld; i++) {
        sl_task_held *h = &img->held[i];
        h->key = (const char *)sl_read_blob(r, &h->key_len);
        h->value = (const char *)sl_read_blob(r, &h->value_len);
        h->ts = sl_read_i64(r);
        h->seq = sl_read_u64(r);
        if (r->failed || !h->key || !h->value)
            return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "truncated held results");
        if (!sl_bytes_printable((const uint8_t *)h->key, h->key_len) ||
            !sl_bytes_printable((const uint8_t *)h->value, h->value_len))
            return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                             "control character in a held result");
    }
    img->nheld = nheld;
    int64_t floor = sl_read_i64(r);
    img->suppress_floor = floor < -1 ? -1 : floor;
    uint32_t nmarks = img->version >= 3 ? sl_read_u32(r) : 0;
    if (r->failed || nmarks > (r->len - r->pos) / 8)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "truncated task snapshot");
    img->marks = calloc((size_t)nmarks + 1, sizeof(*img->marks));
    if (!img->marks)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    for (uint32_t p = 0; p < nmarks; p++)
        img->marks[p] = sl_read_i64(r);
    img->nmarks = nmarks;
    if (r->failed || !sl_reader_done(r))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "trailing bytes in task snapshot");
    return SL_OK;
}

int sl_task_image_parse(const uint8_t *stored, size_t len, sl_task_image *img, char *errstr,
                        size_t errstr_size)
{
    memset(img, 0, sizeof(*img));
    sl_reader w;
    sl_reader_init(&w, stored, len);
    uint32_t tl;
    const uint8_t *tb = sl_read_blob(&w, &tl);
    img->sink_pos = sl_read_blob(&w, &img->sink_pos_len);
    if (!tb || !img->sink_pos || !sl_reader_done(&w))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "malformed checkpoint wrapper");
    sl_reader r;
    sl_reader_init(&r, tb, tl);
    int rc = sl__header(&r, img, errstr, errstr_size);
    if (rc == SL_OK)
        rc = sl__sections(&r, img, errstr, errstr_size);
    if (rc == SL_OK)
        rc = sl__tail(&r, img, errstr, errstr_size);
    if (rc != SL_OK)
        sl_task_image_free(img);
    return rc;
}

void sl_task_image_begin(sl_buf *b, const sl_task_image *hdr)
{
    sl_buf_put_u32(b, SL_TASK_SNAPSHOT_MAGIC);
    sl_buf_put_u32(b, SL_TASK_SNAPSHOT_VERSION);
    sl_buf_put_u32(b, (uint32_t)hdr->task);
    sl_buf_put_u64(b, hdr->checkpoint_id);
    sl_buf_put_i64(b, hdr->next_offset);
    sl_buf_put_u64(b, hdr->next_seq);
    sl_buf_put_u8(b, (uint8_t)(hdr->closed != 0));
    sl_buf_put_u8(b, (uint8_t)(hdr->has_chain != 0));
    sl_buf_put_blob(b, hdr->source, hdr->source_len);
}

void sl_task_image_sections(sl_buf *b, size_t n)
{
    if (n > UINT8_MAX)
        b->failed = 1;
    sl_buf_put_u8(b, (uint8_t)n);
}

void sl_task_image_section(sl_buf *b, const char *name, const uint8_t *data, size_t len)
{
    sl_buf_put_blob(b, name, strlen(name));
    sl_buf_put_blob(b, data, len);
}

void sl_task_image_end(sl_buf *b, const sl_task_image *tail)
{
    sl_buf_put_u32(b, (uint32_t)tail->nheld);
    for (size_t i = 0; i < tail->nheld; i++) {
        const sl_task_held *h = &tail->held[i];
        sl_buf_put_blob(b, h->key, h->key_len);
        sl_buf_put_blob(b, h->value, h->value_len);
        sl_buf_put_i64(b, h->ts);
        sl_buf_put_u64(b, h->seq);
    }
    sl_buf_put_i64(b, tail->suppress_floor);
    sl_buf_put_u32(b, tail->nmarks);
    for (uint32_t p = 0; p < tail->nmarks; p++)
        sl_buf_put_i64(b, tail->marks[p]);
}

void sl_task_image_wrap(sl_buf *b, const uint8_t *state, size_t len, const uint8_t *pos,
                        size_t pos_len)
{
    sl_buf_put_blob(b, state, len);
    sl_buf_put_blob(b, pos, pos_len);
}

void sl_task_loaded_free(void *loaded)
{
    sl_task_loaded *l = loaded;
    if (!l)
        return;
    sl_task_image_free(&l->img);
    free(l->stored);
    free(l);
}
