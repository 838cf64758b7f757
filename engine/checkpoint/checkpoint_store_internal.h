/*
 * checkpoint_store_internal.h - the store handle and the helpers shared by
 * checkpoint_store.c (writes) and checkpoint_store_read.c (reads).
 */
#ifndef SL_CHECKPOINT_STORE_INTERNAL_H
#define SL_CHECKPOINT_STORE_INTERNAL_H

#include "checkpoint_store.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SL__SNAP_PREFIX        "task-"
#define SL__SNAP_SUFFIX        ".slck"
#define SL__MAN_PREFIX         "manifest.ckpt-"
#define SL__MAN_SUFFIX         ".slcm"
#define SL__TMP_PREFIX         ".tmp."
#define SL__MAX_MANIFEST_TASKS (1u << 20)

typedef struct sl__task_protect {
    int32_t task;
    uint64_t id;
} sl__task_protect;

struct sl_ckpt_store {
    pthread_mutex_t lock;
    char *dir;
    int keep;
    char origin[SL_CKPT_ORIGIN_MAX + 1];
    uint64_t protected_id;
    int defer_prune;         /* prune only in sl_ckpt_store_prune (after success) */
    sl__task_protect *tprot; /* per task, sorted by task */
    size_t ntprot;
    uint64_t tmp_seq;
    sl_ckpt_io io;
};

/* The file name of task's snapshot `id`. */
void sl__snap_name(char *out, size_t n, int32_t task, uint64_t id);

/* The file name of manifest `id`. */
void sl__man_name(char *out, size_t n, uint64_t id);

/* Writes parts[0..nparts) to `name` in the store durably (invariant 1).
 * Caller holds the lock. */
int sl__durable_write(sl_ckpt_store *s, const char *name, const void *const *parts,
                      const size_t *lens, int nparts, char *errstr, size_t errstr_size);

/* Collects ids of snapshot files of `task` (task >= INT32_MIN) or, when
 * `manifests`, of manifest files. *ids malloc'd, sorted newest first. */
int sl__scan(sl_ckpt_store *s, int manifests, int32_t task, uint64_t **ids_out, size_t *n_out);

/* Removes all but the newest `keep` ids, the protected ones and `written`
 * (the id just written, even if old). */
void sl__prune(sl_ckpt_store *s, int manifests, int32_t task, uint64_t written);

#endif
