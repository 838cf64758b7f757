/*
 * checkpoint_store_read.c - the checkpoint store's reads: a snapshot or
 * manifest is handed out only after its whole image verified (invariant 2
 * in checkpoint_store.c); whole images for replication; manifests.
 */
#include "checkpoint_store.h"
#include "checkpoint_store_internal.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Verified read                                                             */
/* ------------------------------------------------------------------------ */

static int sl__read_all(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 1; /* shorter than expected */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads file `name` wholly into a malloc'd buffer of its fstat size (plus
 * one spare byte to detect growth). */
static int sl__slurp(sl_ckpt_store *s, const char *name, uint8_t **out, size_t *len, char *errstr,
                     size_t errstr_size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return sl_seterr(errstr, errstr_size, SL_ENOTFOUND, "checkpoint store %s: no %s",
                             s->dir, name);
        return sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: opening %s: %s", s->dir,
                         name, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: %s is not a file",
                         s->dir, name);
    }
    if ((uint64_t)st.st_size >= SIZE_MAX / 2) {
        close(fd);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "checkpoint store %s: %s too large",
                         s->dir, name);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM,
                         "checkpoint store %s: no memory for %s (%zu bytes)", s->dir, name, n);
    }
    int rr = sl__read_all(fd, buf, n);
    int saved = errno;
    uint8_t extra;
    ssize_t more = rr == 0 ? read(fd, &extra, 1) : 0;
    close(fd);
    if (rr < 0) {
        free(buf);
        return sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: reading %s: %s", s->dir,
                         name, strerror(saved));
    }
    if (rr > 0 || more != 0) {
        free(buf);
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint store %s: %s changed size while being read", s->dir, name);
    }
    *out = buf;
    *len = n;
    return SL_OK;
}

/* Verifies an image against the name it is stored under (task, id) and
 * this store's origin. Caller holds the lock. */
static int sl__verify_image(sl_ckpt_store *s, const uint8_t *file, size_t flen, const char *name,
                            int32_t *task, uint64_t *id, const uint8_t **p, size_t *plen,
                            char *errstr, size_t errstr_size)
{
    char origin[SL_CKPT_ORIGIN_MAX + 1];
    int rc = sl_ckpt_parse(file, flen, name, task, id, origin, p, plen, errstr, errstr_size);
    /* No origin: a format-1 file from this disk (written before origins were
     * recorded); never accepted from the network (see checkpoint_image.c). */
    if (rc == SL_OK && s->origin[0] && origin[0] && strcmp(origin, s->origin) != 0)
        rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                       "checkpoint %s/%s: header names origin \"%s\", this area holds \"%s\"'s",
                       s->dir, name, origin, s->origin);
    return rc;
}

/* Loads and verifies the file of (task, id). With `whole`, hands out the
 * file image, else the payload alone. Caller holds the lock. */
static int sl__get_locked(sl_ckpt_store *s, int32_t task, uint64_t id, int whole, void **payload,
                          size_t *len, char *errstr, size_t errstr_size)
{
    char name[128];
    sl__snap_name(name, sizeof name, task, id);
    uint8_t *file;
    size_t flen;
    int rc = sl__slurp(s, name, &file, &flen, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    int32_t htask;
    uint64_t hid;
    const uint8_t *p;
    size_t plen;
    rc = sl__verify_image(s, file, flen, name, &htask, &hid, &p, &plen, errstr, errstr_size);
    if (rc == SL_OK && (htask != task || hid != id))
        rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                       "checkpoint %s: header names task %" PRId32 " checkpoint %" PRIu64, name,
                       htask, hid);
    if (rc != SL_OK) {
        free(file);
        return rc;
    }
    if (whole) {
        *payload = file;
        *len = flen;
        return SL_OK;
    }
    /* Hand out the payload alone: move it to the front of the buffer. */
    memmove(file, p, plen);
    *payload = file;
    *len = plen;
    return SL_OK;
}

int sl_ckpt_store_get(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id, void **payload, size_t *len,
                      char *errstr, size_t errstr_size)
{
    *payload = NULL;
    *len = 0;
    pthread_mutex_lock(&s->lock);
    int rc = sl__get_locked(s, task, ckpt_id, 0, payload, len, errstr, errstr_size);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sl_ckpt_store_get_latest(sl_ckpt_store *s, int32_t task, uint64_t *ckpt_id, void **payload,
                             size_t *len, char *errstr, size_t errstr_size)
{
    *payload = NULL;
    *len = 0;
    pthread_mutex_lock(&s->lock);
    uint64_t *ids;
    size_t n;
    int rc = sl__scan(s, 0, task, &ids, &n);
    if (rc != SL_OK) {
        rc = sl_seterr(errstr, errstr_size, rc, "checkpoint store %s: listing: %s", s->dir,
                       strerror(errno));
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    if (n == 0) {
        rc = sl_seterr(errstr, errstr_size, SL_ENOTFOUND,
                       "checkpoint store %s: no snapshot of task %" PRId32, s->dir, task);
    } else {
        rc = sl__get_locked(s, task, ids[0], 0, payload, len, errstr, errstr_size);
        if (rc == SL_OK && ckpt_id)
            *ckpt_id = ids[0];
    }
    free(ids);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sl_ckpt_store_list(sl_ckpt_store *s, int32_t task, uint64_t *ids, size_t max)
{
    pthread_mutex_lock(&s->lock);
    uint64_t *all;
    size_t n;
    int rc = sl__scan(s, 0, task, &all, &n);
    pthread_mutex_unlock(&s->lock);
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < n && i < max; i++)
        ids[i] = all[i];
    free(all);
    return n > INT_MAX ? INT_MAX : (int)n;
}

int sl_ckpt_store_put_image(sl_ckpt_store *s, const void *image, size_t len, int32_t *task,
                            uint64_t *ckpt_id, char *errstr, size_t errstr_size)
{
    int32_t t;
    uint64_t id;
    const uint8_t *p;
    size_t plen;
    char origin[SL_CKPT_ORIGIN_MAX + 1];
    pthread_mutex_lock(&s->lock);
    int rc =
        sl_ckpt_parse(image, len, "(received)", &t, &id, origin, &p, &plen, errstr, errstr_size);
    if (rc == SL_OK && s->origin[0] && strcmp(origin, s->origin) != 0)
        rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                       "checkpoint store %s: received snapshot names origin \"%s\", this area "
                       "holds \"%s\"'s",
                       s->dir, origin, s->origin);
    if (rc == SL_OK && id == 0)
        rc = sl_seterr(errstr, errstr_size, SL_EINVAL, "checkpoint store: checkpoint id 0");
    if (rc == SL_OK) {
        char name[128];
        sl__snap_name(name, sizeof name, t, id);
        const void *parts[1] = {image};
        size_t lens[1] = {len};
        rc = sl__durable_write(s, name, parts, lens, 1, errstr, errstr_size);
        if (rc == SL_OK)
            sl__prune(s, 0, t, id);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc == SL_OK) {
        if (task)
            *task = t;
        if (ckpt_id)
            *ckpt_id = id;
    }
    return rc;
}

int sl_ckpt_store_get_image(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id, uint64_t *found_id,
                            void **image, size_t *len, char *errstr, size_t errstr_size)
{
    *image = NULL;
    *len = 0;
    pthread_mutex_lock(&s->lock);
    int rc = SL_OK;
    if (ckpt_id == 0) {
        uint64_t *ids;
        size_t n;
        rc = sl__scan(s, 0, task, &ids, &n);
        if (rc != SL_OK) {
            rc = sl_seterr(errstr, errstr_size, rc, "checkpoint store %s: listing: %s", s->dir,
                           strerror(errno));
        } else {
            if (n == 0)
                rc = sl_seterr(errstr, errstr_size, SL_ENOTFOUND,
                               "checkpoint store %s: no snapshot of task %" PRId32, s->dir, task);
            else
                ckpt_id = ids[0];
            free(ids);
        }
    }
    if (rc == SL_OK)
        rc = sl__get_locked(s, task, ckpt_id, 1, image, len, errstr, errstr_size);
    pthread_mutex_unlock(&s->lock);
    if (rc == SL_OK && found_id)
        *found_id = ckpt_id;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Manifests                                                                 */
/* ------------------------------------------------------------------------ */

int sl_ckpt_store_put_manifest(sl_ckpt_store *s, uint64_t ckpt_id, const int32_t *tasks,
                               size_t ntasks, char *errstr, size_t errstr_size)
{
    if (ckpt_id == 0 || ntasks > SL__MAX_MANIFEST_TASKS || (!tasks && ntasks))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "checkpoint store: invalid manifest");
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_put_bytes(&b, SL_CKPT_MANIFEST_MAGIC, 4);
    sl_buf_put_u32(&b, SL_CKPT_FORMAT_VERSION);
    sl_buf_put_u64(&b, ckpt_id);
    sl_buf_put_u32(&b, (uint32_t)ntasks);
    for (size_t i = 0; i < ntasks; i++)
        sl_buf_put_u32(&b, (uint32_t)tasks[i]);
    sl_buf_put_u32(&b, b.failed ? 0 : sl_crc32c(0, b.data, b.len));
    if (b.failed) {
        sl_buf_free(&b);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "checkpoint store: manifest");
    }
    char name[128];
    sl__man_name(name, sizeof name, ckpt_id);
    const void *parts[1] = {b.data};
    size_t lens[1] = {b.len};
    pthread_mutex_lock(&s->lock);
    int rc = sl__durable_write(s, name, parts, lens, 1, errstr, errstr_size);
    if (rc == SL_OK && !s->defer_prune)
        sl__prune(s, 1, 0, ckpt_id);
    pthread_mutex_unlock(&s->lock);
    sl_buf_free(&b);
    return rc;
}

int sl_ckpt_store_get_manifest(sl_ckpt_store *s, uint64_t ckpt_id, uint64_t *found_id,
                               int32_t **tasks, size_t *ntasks, char *errstr, size_t errstr_size)
{
    *tasks = NULL;
    *ntasks = 0;
    pthread_mutex_lock(&s->lock);
    if (ckpt_id == 0) {
        uint64_t *ids;
        size_t n;
        if (sl__scan(s, 1, 0, &ids, &n) != SL_OK) {
            pthread_mutex_unlock(&s->lock);
            return sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: listing: %s",
                             s->dir, strerror(errno));
        }
        ckpt_id = n ? ids[0] : 0;
        free(ids);
        if (!ckpt_id) {
            pthread_mutex_unlock(&s->lock);
            return sl_seterr(errstr, errstr_size, SL_ENOTFOUND, "checkpoint store %s: no manifest",
                             s->dir);
        }
    }
    char name[128];
    sl__man_name(name, sizeof name, ckpt_id);
    uint8_t *file;
    size_t flen;
    int rc = sl__slurp(s, name, &file, &flen, errstr, errstr_size);
    pthread_mutex_unlock(&s->lock);
    if (rc != SL_OK)
        return rc;
    if (flen < 24 || memcmp(file, SL_CKPT_MANIFEST_MAGIC, 4) != 0) {
        free(file);
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "checkpoint %s: not a manifest", name);
    }
    sl_reader r;
    sl_reader_init(&r, file + 4, flen - 4);
    uint32_t version = sl_read_u32(&r);
    if (version != SL_CKPT_FORMAT_VERSION) {
        free(file);
        return sl_seterr(errstr, errstr_size, SL_EVERSION,
                         "checkpoint %s: format version %" PRIu32 ", this build reads %u", name,
                         version, SL_CKPT_FORMAT_VERSION);
    }
    sl_reader cr;
    sl_reader_init(&cr, file + flen - 4, 4);
    uint32_t crc = sl_read_u32(&cr);
    if (crc != sl_crc32c(0, file, flen - 4)) {
        free(file);
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: manifest checksum mismatch", name);
    }
    uint64_t id = sl_read_u64(&r);
    uint32_t n = sl_read_u32(&r);
    if (r.failed || id != ckpt_id || (uint64_t)n * 4 + 24 != flen) {
        free(file);
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "checkpoint %s: manifest inconsistent with its name or length", name);
    }
    int32_t *t = sl_xmalloc((n ? n : 1) * sizeof *t);
    for (uint32_t i = 0; i < n; i++)
        t[i] = (int32_t)sl_read_u32(&r);
    free(file);
    *tasks = t;
    *ntasks = n;
    if (found_id)
        *found_id = id;
    return SL_OK;
}
