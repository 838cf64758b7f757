/*
 * checkpoint_store.h - a local directory of task snapshots.
 *
 * One file per (task, checkpoint id): a 104-byte header (magic "SLCK",
 * format version, checkpoint id, task id, payload length, payload CRC32C,
 * origin node id, header CRC32C; all little-endian) followed by the
 * payload, which is opaque bytes built by the engine. The origin is the
 * node that took the checkpoint; a store opened for one origin (its own
 * directory, or replicas/<origin>/ on a peer) refuses files naming another. Files are written to a
 * temporary name, fsynced, renamed into place and the directory fsynced, so a crash leaves either
 * the old set of files or the new one, never a torn snapshot under a final name.
 *
 * A small manifest per checkpoint id lists the tasks a checkpoint contains;
 * writing it (after every snapshot of the checkpoint) marks the checkpoint
 * complete in this directory.
 *
 * Loading verifies everything before returning a byte: a corrupt, truncated
 * or foreign-version file is refused (SL_ECORRUPT / SL_EVERSION) with a
 * message naming the file and the reason. I/O failures (ENOSPC, EACCES, EIO)
 * return SL_EIO with strerror in errstr.
 *
 * A store handle is thread-safe (one mutex; control path only). Several
 * handles may share a directory (e.g. the engine writes, the replication
 * server reads).
 */
#ifndef SL_CHECKPOINT_STORE_H
#define SL_CHECKPOINT_STORE_H

#include "common.h"

#include <sys/types.h>

#define SL_CKPT_MAGIC          "SLCK"
#define SL_CKPT_FORMAT_VERSION 2u
#define SL_CKPT_HEADER_SIZE    104
#define SL_CKPT_ORIGIN_MAX     64 /* bytes of an origin node id */
#define SL_CKPT_MANIFEST_MAGIC "SLCM"

typedef struct sl_ckpt_store sl_ckpt_store;

/* Opens the checkpoint directory `dir`, creating it (and missing parents)
 * if needed. Keeps the newest `keep` (>= 1) checkpoints per task. Returns
 * NULL with errstr filled when the directory cannot be created or is not a
 * writable directory. */
sl_ckpt_store *sl_ckpt_store_open(const char *dir, int keep, char *errstr, size_t errstr_size);
/* Closes the handle; files stay. sl_ckpt_store_close(NULL) is a no-op. */
void sl_ckpt_store_close(sl_ckpt_store *s);

/* Sets the origin node id written into the headers of this store's
 * snapshots and required of every file it loads (a file naming another
 * origin is refused as SL_ECORRUPT). "" or NULL (the default): files name
 * no origin and any is accepted. Call before sharing the handle. */
void sl_ckpt_store_set_origin(sl_ckpt_store *s, const char *origin);

/* Durably stores `len` bytes of `payload` as the snapshot of `task` at
 * checkpoint `ckpt_id` (> 0), replacing an existing file of that name.
 * Returns SL_OK once the file and its directory entry are on disk; then
 * prunes the task's snapshots older than the newest `keep` (except the
 * protected checkpoint). On failure nothing under a final name changed and
 * the temporary file is removed. Borrows `payload`. */
int sl_ckpt_store_put(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id, const void *payload,
                      size_t len, char *errstr, size_t errstr_size);

/* Loads the snapshot of `task` at `ckpt_id`. On SL_OK, *payload is a
 * malloc'd copy (caller frees; non-NULL even when *len is 0). Errors:
 * SL_ENOTFOUND, SL_ECORRUPT, SL_EVERSION, SL_EIO, SL_ENOMEM; on error
 * *payload is NULL. */
int sl_ckpt_store_get(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id, void **payload, size_t *len,
                      char *errstr, size_t errstr_size);

/* Like sl_ckpt_store_get for the task's highest checkpoint id, stored in
 * *ckpt_id. If that newest file is bad it is refused (no silent fallback to
 * an older one: the caller decides). SL_ENOTFOUND when the task has none. */
int sl_ckpt_store_get_latest(sl_ckpt_store *s, int32_t task, uint64_t *ckpt_id, void **payload,
                             size_t *len, char *errstr, size_t errstr_size);

/* Durably stores a complete snapshot file image (header + payload, e.g.
 * received from its origin), verbatim, after verifying it like a load:
 * magic, version, CRCs, lengths, and an origin equal to this store's.
 * Prunes like sl_ckpt_store_put. On success *task and *ckpt_id (may be
 * NULL) name what was stored. Borrows `image`. */
int sl_ckpt_store_put_image(sl_ckpt_store *s, const void *image, size_t len, int32_t *task,
                            uint64_t *ckpt_id, char *errstr, size_t errstr_size);

/* Loads the whole verified file image (header + payload) of `task` at
 * `ckpt_id` (0: the task's newest, whose id is stored in *found_id, may be
 * NULL). *image is malloc'd (caller frees). Errors as sl_ckpt_store_get. */
int sl_ckpt_store_get_image(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id, uint64_t *found_id,
                            void **image, size_t *len, char *errstr, size_t errstr_size);

/* Fills ids[0..max) with the task's checkpoint ids, newest first; returns
 * how many exist (may exceed max), or a negative SL_E* error. */
int sl_ckpt_store_list(sl_ckpt_store *s, int32_t task, uint64_t *ids, size_t max);

/* Marks checkpoint `ckpt_id` complete here, listing its tasks (borrowed).
 * Written like a snapshot (temp, fsync, rename, fsync dir). Manifests older
 * than the newest `keep` (except the protected one) are pruned. */
int sl_ckpt_store_put_manifest(sl_ckpt_store *s, uint64_t ckpt_id, const int32_t *tasks,
                               size_t ntasks, char *errstr, size_t errstr_size);
/* Reads checkpoint `ckpt_id`'s manifest; *tasks is malloc'd (caller frees).
 * ckpt_id 0 means the newest manifest, whose id is stored in *found_id
 * (may be NULL). */
int sl_ckpt_store_get_manifest(sl_ckpt_store *s, uint64_t ckpt_id, uint64_t *found_id,
                               int32_t **tasks, size_t *ntasks, char *errstr, size_t errstr_size);

/* Never prune checkpoint `ckpt_id` (e.g. the one named by the last offset
 * commit, which recovery needs even when newer local checkpoints failed to
 * replicate). The protected id only moves forward: a lower id (or 0) than
 * the current one is ignored. */
void sl_ckpt_store_protect(sl_ckpt_store *s, uint64_t ckpt_id);
/* Never prune `task`'s snapshot `ckpt_id` (its last committed checkpoint,
 * which the committed offsets name even while later commits fail), nor the
 * manifest of that id. Per task, the id only moves forward. */
void sl_ckpt_store_protect_task(sl_ckpt_store *s, int32_t task, uint64_t ckpt_id);
/* The protected id of `task` (the larger of its own and the store-wide
 * one); 0 when none. */
uint64_t sl_ckpt_store_protected(sl_ckpt_store *s, int32_t task);

/* With `on`, puts no longer prune older checkpoints: the owner calls
 * sl_ckpt_store_prune once a checkpoint succeeded, so one that fails later
 * (replication, offset commit) never costs an older, good one. */
void sl_ckpt_store_defer_pruning(sl_ckpt_store *s, int on);
/* Prunes the snapshots of `tasks` and the manifests to the newest `keep`
 * (and the protected checkpoint). */
void sl_ckpt_store_prune(sl_ckpt_store *s, const int32_t *tasks, size_t n);

/* Removes the files of failed checkpoint `ckpt_id`: the snapshots of
 * `tasks` (borrowed) and its manifest, so a checkpoint that never became
 * durable neither lingers nor counts toward `keep`. Never removes the
 * protected checkpoint. Missing files are fine. */
void sl_ckpt_store_discard(sl_ckpt_store *s, uint64_t ckpt_id, const int32_t *tasks, size_t n);

/* Fault injection for tests: replaces the system calls the store uses for
 * writing. Each hook behaves like the call it replaces (-1 and errno on
 * failure); NULL members use the real call. Pass NULL to restore all. */
typedef struct sl_ckpt_io {
    int (*open)(const char *path, int flags, int mode, void *ctx);
    ssize_t (*write)(int fd, const void *buf, size_t n, void *ctx);
    int (*fsync)(int fd, void *ctx);
    int (*rename)(const char *from, const char *to, void *ctx);
    void *ctx;
} sl_ckpt_io;
void sl_ckpt_store_set_io(sl_ckpt_store *s, const sl_ckpt_io *io);

/* Parses a snapshot file image (header + payload) already in memory,
 * verifying magic, version, both CRCs and lengths. On SL_OK points
 * *payload into `file` and, when `origin` is not NULL, copies the header's
 * origin node id into origin[SL_CKPT_ORIGIN_MAX + 1] ("" if none). `name`
 * is used in errstr only. This function reads nothing outside `file`. */
int sl_ckpt_parse(const void *file, size_t file_len, const char *name, int32_t *task,
                  uint64_t *ckpt_id, char *origin, const uint8_t **payload, size_t *len,
                  char *errstr, size_t errstr_size);

/* Fills the header of a snapshot file image for `payload` (borrowed).
 * `origin` (NULL: none) must be at most SL_CKPT_ORIGIN_MAX bytes; a longer
 * one is cut (callers validate node ids first). Can't fail. */
void sl_ckpt_header_build(uint8_t header[SL_CKPT_HEADER_SIZE], int32_t task, uint64_t ckpt_id,
                          const char *origin, const void *payload, size_t len);

#endif
