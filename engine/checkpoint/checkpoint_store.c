/*
 * checkpoint_store.c - a local directory of task snapshots.
 *
 * Design notes
 * ------------
 * Files in the directory (all others are ignored, so sub-directories such
 * as replicas/ can live beside them):
 *
 *   task-<task>.ckpt-<id>.slck       snapshot of one task at checkpoint id
 *   manifest.ckpt-<id>.slcm          the tasks of checkpoint id (complete)
 *   .tmp.<final name>.<pid>.<seq>    a write in progress
 *
 * Snapshot file: header + payload, laid out in checkpoint_image.c.
 *
 * Manifest file: "SLCM", version u32, checkpoint id u64, count u32,
 * count x task i32, CRC32C of everything before it.
 *
 * Invariants:
 *   1. A file under a final name is complete: it only ever appears there
 *      through rename() of a fully written and fsynced temporary file, and
 *      the directory is fsynced before put returns SL_OK. So after a crash a
 *      final name holds either the previous complete file or the new one.
 *   2. Load verifies magic, then version (a foreign version may have another
 *      layout, so nothing else is trusted first), then the header CRC, then
 *      that the header's task and id match the file name, that the file
 *      length is exactly header + payload length, then the payload CRC, and
 *      (for a store with an origin) that the header names that origin. Only
 *      then is a byte handed to the caller: never a half-read snapshot.
 *   3. Pruning runs only after a successful put and keeps the newest `keep`
 *      ids, the file just written (even if the caller wrote an old id), the
 *      store-wide protected checkpoint and each task's protected (last
 *      committed) checkpoint; manifests of any protected id stay too.
 *      Protected ids only move forward.
 *   4. Temporary files carry the writer's pid; opening a store removes only
 *      those of processes that no longer exist, so two handles on one
 *      directory never delete each other's writes in progress.
 *
 * Life of one snapshot file:
 *
 *   (none) --put: open tmp, write, fsync, close--> TMP
 *   TMP --rename + fsync(dir)--> FINAL          put returns SL_OK
 *   TMP --any failure: unlink tmp--> (none)      put returns SL_EIO
 *   FINAL --prune (older than newest keep)--> (none)
 *
 * @locality any thread; a handle serialises its calls with one mutex.
 *
 * Files: this one (open, names, protection, durable writes, pruning) and
 * checkpoint_store_read.c (verified reads, images, manifests); shared
 * structures in checkpoint_store_internal.h.
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
/* System call indirection (fault injection)                                 */
/* ------------------------------------------------------------------------ */

static int sl__io_open(sl_ckpt_store *s, const char *path, int flags, int mode)
{
    if (s->io.open)
        return s->io.open(path, flags, mode, s->io.ctx);
    return open(path, flags, mode);
}

static ssize_t sl__io_write(sl_ckpt_store *s, int fd, const void *buf, size_t n)
{
    if (s->io.write)
        return s->io.write(fd, buf, n, s->io.ctx);
    return write(fd, buf, n);
}

static int sl__io_fsync(sl_ckpt_store *s, int fd)
{
    if (s->io.fsync)
        return s->io.fsync(fd, s->io.ctx);
    return fsync(fd);
}

static int sl__io_rename(sl_ckpt_store *s, const char *from, const char *to)
{
    if (s->io.rename)
        return s->io.rename(from, to, s->io.ctx);
    return rename(from, to);
}

void sl_ckpt_store_set_io(sl_ckpt_store *s, const sl_ckpt_io *io)
{
    pthread_mutex_lock(&s->lock);
    if (io)
        s->io = *io;
    else
        memset(&s->io, 0, sizeof s->io);
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

void sl__snap_name(char *out, size_t n, int32_t task, uint64_t id)
{
    snprintf(out, n, SL__SNAP_PREFIX "%" PRId32 ".ckpt-%" PRIu64 SL__SNAP_SUFFIX, task, id);
}

void sl__man_name(char *out, size_t n, uint64_t id)
{
    snprintf(out, n, SL__MAN_PREFIX "%" PRIu64 SL__MAN_SUFFIX, id);
}

/* Parses an unsigned decimal of at most 20 digits, no sign, no leading
 * zero (so that each number has one spelling). Advances *p. */
static int sl__parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    if (*s == '0' && s[1] >= '0' && s[1] <= '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
        digits++;
    }
    if (!digits)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

/* "task-<i32>.ckpt-<u64>.slck" -> task, id. Returns 0 on a match. */
static int sl__parse_snap_name(const char *name, int32_t *task, uint64_t *id)
{
    const char *p = name;
    size_t pl = strlen(SL__SNAP_PREFIX);
    if (strncmp(p, SL__SNAP_PREFIX, pl) != 0)
        return -1;
    p += pl;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    uint64_t t;
    if (sl__parse_u64(&p, &t) != 0)
        return -1;
    if ((!neg && t > INT32_MAX) || (neg && (t == 0 || t > (uint64_t)INT32_MAX + 1)))
        return -1;
    if (strncmp(p, ".ckpt-", 6) != 0)
        return -1;
    p += 6;
    if (sl__parse_u64(&p, id) != 0 || strcmp(p, SL__SNAP_SUFFIX) != 0)
        return -1;
    *task = neg ? (int32_t)(-(int64_t)t) : (int32_t)t;
    return 0;
}

static int sl__parse_man_name(const char *name, uint64_t *id)
{
    const char *p = name;
    size_t pl = strlen(SL__MAN_PREFIX);
    if (strncmp(p, SL__MAN_PREFIX, pl) != 0)
        return -1;
    p += pl;
    if (sl__parse_u64(&p, id) != 0 || strcmp(p, SL__MAN_SUFFIX) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Open / close                                                              */
/* ------------------------------------------------------------------------ */

/* mkdir -p. Returns 0 or -1 with errno. */
static int sl__mkdirs(const char *path)
{
    char *tmp = sl_xstrdup(path);
    int rc = 0;
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    free(tmp);
    return rc;
}

/* Removes temporary files left by processes that no longer exist. */
static void sl__clean_stale_tmp(sl_ckpt_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, SL__TMP_PREFIX, strlen(SL__TMP_PREFIX)) != 0)
            continue;
        /* ".tmp.<final>.<pid>.<seq>": pid is the second-last field. */
        const char *last = strrchr(e->d_name, '.');
        if (!last || last == e->d_name)
            continue;
        const char *q = last - 1;
        while (q > e->d_name && *q != '.')
            q--;
        long pid = strtol(q + 1, NULL, 10);
        if (pid <= 0 || (pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char path[PATH_MAX];
            if ((size_t)snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name) < sizeof path)
                unlink(path);
        }
    }
    closedir(d);
}

sl_ckpt_store *sl_ckpt_store_open(const char *dir, int keep, char *errstr, size_t errstr_size)
{
    if (!dir || !*dir || keep < 1) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "checkpoint store: %s",
                  keep < 1 ? "keep must be >= 1" : "no directory given");
        return NULL;
    }
    if (strlen(dir) > PATH_MAX - 128) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "checkpoint store: directory name too long");
        return NULL;
    }
    if (sl__mkdirs(dir) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: cannot create: %s", dir,
                  strerror(errno));
        return NULL;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: not a directory", dir);
        return NULL;
    }
    sl_ckpt_store *s = sl_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->dir = sl_xstrdup(dir);
    size_t l = strlen(s->dir);
    while (l > 1 && s->dir[l - 1] == '/')
        s->dir[--l] = '\0';
    s->keep = keep;
    sl__clean_stale_tmp(s);
    return s;
}

void sl_ckpt_store_close(sl_ckpt_store *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s->tprot);
    free(s);
}

void sl_ckpt_store_set_origin(sl_ckpt_store *s, const char *origin)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->origin, sizeof s->origin, "%s", origin ? origin : "");
    pthread_mutex_unlock(&s->lock);
}

void sl_ckpt_store_protect(sl_ckpt_store *s, uint64_t ckpt_id)
{
    pthread_mutex_lock(&s->lock);
    if (ckpt_id > s->protected_id)
        s->protected_id = ckpt_id;
    pthread_mutex_unlock(&s->lock);
}

/* Index of `task` in s->tprot, or where it would go. Caller holds the
 * lock. */
static size_t sl__tprot_find(const sl_ckpt_store *s, int32_t task)
{
    size_t lo = 0, hi = s->ntprot;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->tprot[mid].task < task)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void sl_ckpt_store_protect_task(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id)
{
    if (ckpt_id == 0)
        return;
    pthread_mutex_lock(&s->lock);
    size_t i = sl__tprot_find(s, task);
    if (i < s->ntprot && s->tprot[i].task == task) {
        if (ckpt_id > s->tprot[i].id)
            s->tprot[i].id = ckpt_id;
    } else {
        s->tprot = sl_xrealloc(s->tprot, (s->ntprot + 1) * sizeof *s->tprot);
        memmove(s->tprot + i + 1, s->tprot + i, (s->ntprot - i) * sizeof *s->tprot);
        s->tprot[i] = (sl__task_protect){task, ckpt_id};
        s->ntprot++;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Caller holds the lock. */
static uint64_t sl__task_protected(const sl_ckpt_store *s, int32_t task)
{
    size_t i = sl__tprot_find(s, task);
    uint64_t id = i < s->ntprot && s->tprot[i].task == task ? s->tprot[i].id : 0;
    return id > s->protected_id ? id : s->protected_id;
}

uint64_t sl_ckpt_store_protected(sl_ckpt_store *s, int32_t task)
{
    pthread_mutex_lock(&s->lock);
    uint64_t id = sl__task_protected(s, task);
    pthread_mutex_unlock(&s->lock);
    return id;
}

/* True when some task's protection (or the store's) names manifest `id`.
 * Caller holds the lock. */
static int sl__manifest_protected(const sl_ckpt_store *s, uint64_t id)
{
    if (id == s->protected_id)
        return 1;
    for (size_t i = 0; i < s->ntprot; i++)
        if (s->tprot[i].id == id)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Durable write                                                             */
/* ------------------------------------------------------------------------ */

static int sl__write_all(sl_ckpt_store *s, int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = sl__io_write(s, fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sl__fsync_dir(sl_ckpt_store *s)
{
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = sl__io_fsync(s, fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Writes parts[0..nparts) to `name` in the store durably (invariant 1).
 * Caller holds the lock. */
int sl__durable_write(sl_ckpt_store *s, const char *name, const void *const *parts,
                      const size_t *lens, int nparts, char *errstr, size_t errstr_size)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    snprintf(final, sizeof final, "%s/%s", s->dir, name);
    snprintf(tmp, sizeof tmp, "%s/" SL__TMP_PREFIX "%s.%ld.%" PRIu64, s->dir, name, (long)getpid(),
             ++s->tmp_seq);
    const char *step = "creating";
    int fd = sl__io_open(s, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    step = "writing";
    for (int i = 0; i < nparts; i++)
        if (sl__write_all(s, fd, parts[i], lens[i]) != 0)
            goto fail_fd;
    step = "syncing";
    if (sl__io_fsync(s, fd) != 0)
        goto fail_fd;
    step = "closing";
    if (close(fd) != 0) {
        fd = -1;
        goto fail_fd;
    }
    step = "renaming";
    if (sl__io_rename(s, tmp, final) != 0)
        goto fail;
    if (sl__fsync_dir(s) != 0) {
        /* The rename happened; whether it survives a crash is unknown. */
        return sl_seterr(errstr, errstr_size, SL_EIO,
                         "checkpoint store %s: syncing directory after writing %s: %s", s->dir,
                         name, strerror(errno));
    }
    return SL_OK;

fail_fd : {
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
}
fail : {
    int saved = errno;
    unlink(tmp);
    return sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint store %s: %s %s: %s", s->dir, step,
                     name, strerror(saved));
}
}

static int sl__cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Collects ids of snapshot files of `task` (task >= INT32_MIN) or, when
 * `manifests`, of manifest files. *ids malloc'd, sorted newest first. */
int sl__scan(sl_ckpt_store *s, int manifests, int32_t task, uint64_t **ids_out, size_t *n_out)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return SL_EIO;
    size_t n = 0, cap = 16;
    uint64_t *ids = sl_xmalloc(cap * sizeof *ids);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t id;
        int32_t t;
        if (manifests) {
            if (sl__parse_man_name(e->d_name, &id) != 0)
                continue;
        } else if (sl__parse_snap_name(e->d_name, &t, &id) != 0 || t != task) {
            continue;
        }
        if (n == cap) {
            cap *= 2;
            ids = sl_xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = id;
    }
    closedir(d);
    qsort(ids, n, sizeof *ids, sl__cmp_desc);
    *ids_out = ids;
    *n_out = n;
    return SL_OK;
}

/* Removes all but the newest `keep` ids, the protected ones and `written`
 * (the id just written, even if old). */
void sl__prune(sl_ckpt_store *s, int manifests, int32_t task, uint64_t written)
{
    uint64_t *ids;
    size_t n;
    if (sl__scan(s, manifests, task, &ids, &n) != SL_OK)
        return;
    uint64_t prot = manifests ? 0 : sl__task_protected(s, task);
    for (size_t i = (size_t)s->keep; i < n; i++) {
        if (ids[i] == written || (manifests ? sl__manifest_protected(s, ids[i]) : ids[i] == prot))
            continue;
        char name[128], path[PATH_MAX];
        if (manifests)
            sl__man_name(name, sizeof name, ids[i]);
        else
            sl__snap_name(name, sizeof name, task, ids[i]);
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        unlink(path);
    }
    free(ids);
}

int sl_ckpt_store_put(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id, const void *payload,
                      size_t len, char *errstr, size_t errstr_size)
{
    if (ckpt_id == 0 || (!payload && len))
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "checkpoint store: invalid checkpoint id or payload");
    uint8_t hdr[SL_CKPT_HEADER_SIZE];
    char name[128];
    sl__snap_name(name, sizeof name, task, ckpt_id);
    const void *parts[2] = {hdr, payload};
    size_t lens[2] = {sizeof hdr, len};
    pthread_mutex_lock(&s->lock);
    sl_ckpt_header_build(hdr, task, ckpt_id, s->origin, payload, len);
    int rc = sl__durable_write(s, name, parts, lens, len ? 2 : 1, errstr, errstr_size);
    if (rc == SL_OK && !s->defer_prune)
        sl__prune(s, 0, task, ckpt_id);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void sl_ckpt_store_defer_pruning(sl_ckpt_store *s, int on)
{
    pthread_mutex_lock(&s->lock);
    s->defer_prune = on;
    pthread_mutex_unlock(&s->lock);
}

void sl_ckpt_store_prune(sl_ckpt_store *s, const int32_t *tasks, size_t n)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++)
        sl__prune(s, 0, tasks[i], s->protected_id);
    sl__prune(s, 1, 0, s->protected_id);
    pthread_mutex_unlock(&s->lock);
}

void sl_ckpt_store_discard(sl_ckpt_store *s, uint64_t ckpt_id, const int32_t *tasks, size_t n)
{
    pthread_mutex_lock(&s->lock);
    if (ckpt_id != 0 && !sl__manifest_protected(s, ckpt_id)) {
        char name[128], path[PATH_MAX];
        for (size_t i = 0; i < n; i++) {
            sl__snap_name(name, sizeof name, tasks[i], ckpt_id);
            snprintf(path, sizeof path, "%s/%s", s->dir, name);
            unlink(path);
        }
        sl__man_name(name, sizeof name, ckpt_id);
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        unlink(path);
    }
    pthread_mutex_unlock(&s->lock);
}
